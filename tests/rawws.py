"""RawWs: a WebSocket client on a bare non-blocking socket, for the tests
that need a client which really reads nothing (tests/integration/test_ws.py,
tests/reliability/slow_consumer.py)."""

import asyncio
import base64
import os
import socket
import struct


class RawWs:
    """A ws client on a bare non-blocking socket: it reads only when asked.

    A library client reads on its own: websockets' StreamReader resumes a
    transport that the test paused whenever its own flow control had paused
    it first, so a "paused" websockets client went on reading (issue 13:
    the whole 32 MB stream arrived while the test believed it stalled)."""

    def __init__(self, sock, rest, timeout):
        self.sock = sock
        self.buf = rest
        self.timeout = timeout

    @classmethod
    async def open(cls, port, rcvbuf, proto, timeout, **params):
        loop = asyncio.get_running_loop()
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # a small fixed receive buffer: no autotuning, so the stall comes
        # after at most a few hundred KiB of a stream of many MiB
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.setblocking(False)
        await asyncio.wait_for(loop.sock_connect(s, ("127.0.0.1", port)),
                               timeout)
        q = "&".join("%s=%s" % kv for kv in params.items())
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET /?%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Protocol: %s\r\n\r\n" % (q, port, key, proto))
        await loop.sock_sendall(s, req.encode())
        ws = cls(s, b"", timeout)
        while b"\r\n\r\n" not in ws.buf:
            await ws._more()
        head, ws.buf = ws.buf.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head
        return ws

    async def _more(self):
        data = await asyncio.wait_for(
            asyncio.get_running_loop().sock_recv(self.sock, 65536),
            self.timeout)
        assert data, "connection closed by the server"
        self.buf += data

    async def _take(self, n):
        while len(self.buf) < n:
            await self._more()
        b, self.buf = self.buf[:n], self.buf[n:]
        return b

    async def recv(self):
        """The next text message (server frames are unmasked)."""
        msg = b""
        while True:
            b0, b1 = await self._take(2)
            n = b1 & 0x7f
            if n == 126:
                n = struct.unpack("!H", await self._take(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", await self._take(8))[0]
            msg += await self._take(n)
            if b0 & 0x80:
                return msg.decode()

    def close(self):
        self.sock.close()
