#!/usr/bin/python3
"""Bad input to lwstp-ws-server: malformed URL values, ws protocol abuse,
broken HTTP.  Nothing crashes, nothing is lost, and each case's outcome is
checked against what the server documents.

usage: bad_input.py LWSTP_WS_SERVER

URL values (lwstp-ws-server reads count, tasks, work_us, outlive, ack, pad
with atoi() and clamps them to their ranges with an lwsl_warn line): each
case checks the number of tasks and messages the client gets, and the log
line.  Values atoi() reads without complaint ("abc", "12abc", "0x10") or
misreads (overflow) get neither an error nor a log line: reported as known
gaps (XFAIL), with the behaviour observed asserted so a change shows.

ws protocol abuse on raw sockets, each while the connection has a task
waiting in SYNC: unmasked frames, reserved opcodes and RSV bits, control
frames too long or fragmented, a continuation with nothing to continue, a
bad close payload, a 2^63 length, invalid UTF-8, a 1 MiB message, binary
and unknown messages, a fragmented "ack" (a known gap: ignored); and broken
HTTP: garbage, a header cut short, a 16 KiB header, a wrong or missing
subprotocol.

After every case the server answers /health; at the end a normal client
gets its full stream, every accepted task was cleaned up exactly once,
SIGTERM gives exit 0 with balanced counters and nothing was logged by the
library, ASan or UBSan.  Prints "N passed, N failed" last.
"""

import asyncio
import base64
import os
import re
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
import lwstptest as R                                   # noqa: E402

import websockets                                       # noqa: E402

PROTO = "lws-threadpool-test"


async def stream(port, **params):
    """(tasks seen, messages per task, last message) of one connection."""
    ws = await R.ws_connect(port, **params)
    per = {}
    last = None
    try:
        while True:
            m = await R.recv(ws)
            last = m
            if m.startswith("done") or m.startswith("error"):
                break
            t, _seq, n = m.split(" ")[:3]
            assert int(n) == per.get(t, 0), "out of order: %r" % m
            per[t] = per.get(t, 0) + 1
    finally:
        await ws.close()
    return len(per), sorted(set(per.values())), last


# (params, tasks, messages per task, log line expected, known gap or None)
URL_CASES = [
    ({"count": "3"}, 1, 3, None, None),
    ({"count": "-5"}, 1, 0, r"count=-5 out of range 0\.\.1000000, using 0",
     None),
    ({"count": "1000001"}, 1, 1000000, None, None),     # not run: too long
    ({"tasks": "0", "count": "2"}, 1, 2,
     r"tasks=0 out of range 1\.\.8, using 1", None),
    ({"tasks": "9", "count": "2"}, 8, 2,
     r"tasks=9 out of range 1\.\.8, using 8", None),
    ({"pad": "99999999", "count": "2"}, 1, 2,
     r"pad=99999999 out of range 0\.\.65536, using 65536", None),
    ({"work_us": "-1", "count": "2"}, 1, 2,
     r"work_us=-1 out of range 0\.\.100000, using 0", None),
    ({"outlive": "7", "count": "2"}, 1, 2,
     r"outlive=7 out of range 0\.\.1, using 1", None),
    ({"count": "%32"}, 1, 2, None, None),       # url-decoded: "2"
    ({"count": "2", "zzz": "1"}, 1, 2, None, None),      # unknown: ignored
    ({"count": "abc"}, 1, 0, None,
     "count=abc runs 0 messages: no error, no log line"),
    ({"count": "12abc"}, 1, 12, None,
     "count=12abc runs 12 messages: the junk is ignored silently"),
    ({"count": "0x10"}, 1, 0, None,
     "count=0x10 runs 0 messages: no error, no log line"),
    ({"tasks": "two", "count": "2"}, 1, 2,
     r"tasks=0 out of range 1\.\.8, using 1",
     "tasks=two is logged as \"tasks=0 out of range\": the value is "
     "misreported and the client is not told"),
    ({"count": "4294967295"}, 1, 0,
     r"count=-1 out of range 0\.\.1000000, using 0",
     "count=4294967295 (int overflow) is logged as count=-1"),
    ({"count": "0" * 80 + "2"}, 1, 10, None,
     "an 81-digit count (over the server's 64-byte buffer) silently "
     "becomes the default 10"),
    ({"count": ""}, 1, 10, None, None),         # empty: the default
]


async def url_cases(t, srv):
    for params, tasks, per, log_re, gap in URL_CASES:
        if per > 1000:
            continue
        before = len(srv.stderr())
        got = await stream(srv.port, **params)
        log = srv.stderr()[before:]
        want = (tasks if per else 0, [per] if per else [], "done")
        ok = got == want and (not log_re or re.search(log_re, log))
        desc = "&".join("%s=%s" % kv for kv in params.items())
        if gap:
            t.check(ok, "%s: expected the known behaviour %r, log %r; got "
                    "%r" % (desc, want, log_re, got))
            t.known_gap(False, gap)
        else:
            t.check(ok, "%s: want %r and log %r; got %r, log %r" %
                    (desc, want, log_re, got, log[-300:]))
        t.check((await R.http_get(srv.port, "/health"))[0] == 200,
                "%s: no health after" % desc)


# --- raw ws ------------------------------------------------------------------

def frame(op, payload=b"", fin=True, mask=True, rsv=0, length=None):
    b0 = (0x80 if fin else 0) | (rsv << 4) | op
    n = len(payload) if length is None else length
    if n < 126:
        hdr = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
    if not mask:
        return hdr + payload
    key = b"\x11\x22\x33\x44"
    return hdr + key + bytes(c ^ key[i % 4] for i, c in enumerate(payload))


async def raw_ws(port, query="count=3&ack=1", proto=PROTO):
    """A handshaken raw connection; returns (reader, writer, first
    server frame's payload)."""
    r, w = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    w.write(("GET /?%s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
             "Sec-WebSocket-Version: 13\r\n%s\r\n" %
             (query, key, "Sec-WebSocket-Protocol: %s\r\n" % proto
              if proto else "")).encode())
    await w.drain()
    head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), R.RECV_TIMEOUT)
    assert head.startswith(b"HTTP/1.1 101"), head[:40]
    b = await asyncio.wait_for(r.readexactly(2), R.RECV_TIMEOUT)
    n = b[1] & 0x7f
    if n == 126:
        n = struct.unpack("!H", await r.readexactly(2))[0]
    payload = await asyncio.wait_for(r.readexactly(n), R.RECV_TIMEOUT)
    return r, w, payload


async def until_closed(r):
    """Read frames until the server sends a close frame or drops the
    connection (bounded)."""
    async def frames():
        while True:
            b = await r.readexactly(2)
            n = b[1] & 0x7f
            if n == 126:
                n = struct.unpack("!H", await r.readexactly(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", await r.readexactly(8))[0]
            await r.readexactly(n)
            if b[0] & 0x0f == 8:
                return
    try:
        await asyncio.wait_for(frames(), R.RECV_TIMEOUT)
        return True
    except (ConnectionError, asyncio.IncompleteReadError):
        return True
    except asyncio.TimeoutError:
        return False


RAW_CASES = [
    # (name, bytes to send, the server must close the connection)
    # lws 4.1 takes an unmasked client frame (RFC 6455 5.1 says to close)
    ("unmasked frame", frame(1, b"ack", mask=False), None),
    ("reserved opcode 3", frame(3, b"x"), True),
    ("RSV1 set, no extension", frame(1, b"ack", rsv=4), True),
    ("ping of 200 bytes", frame(9, b"p" * 200), True),
    ("fragmented ping", frame(9, b"p", fin=False), True),
    ("continuation without a start", frame(0, b"ack"), True),
    ("close with a 1-byte payload", frame(8, b"\x03"), True),
    ("length 2^63 - 1, then nothing", frame(2, b"abc", length=2 ** 63 - 1),
     None),
    ("invalid UTF-8 text", frame(1, b"\xff\xfe\xc3\x28"), None),
    ("1 MiB text message", frame(1, b"a" * (1 << 20)), None),
    ("binary message", frame(2, b"\x00\x01garbage"), None),
    ("unknown text message", frame(1, b"hello, server"), None),
]


async def raw_cases(t, srv):
    for name, data, must_close in RAW_CASES:
        t0 = time.monotonic()
        r, w, first = await raw_ws(srv.port)
        ok = first == b"t0 seq 0"
        w.write(data)
        try:
            await w.drain()
        except ConnectionError:
            pass
        if must_close:
            ok &= await until_closed(r)
        w.transport.abort()
        t.check(ok, "%s: first %r%s" % (name, first, ", not closed by "
                                         "the server" if must_close else ""))
        t.check((await R.http_get(srv.port, "/health"))[0] == 200,
                "%s: no health after" % name)
        await srv.wait_settled()
        print("  %-34s %.2f s" % (name, time.monotonic() - t0))

    # a fragmented "ack" (RFC 6455 allows it): the server reads each
    # fragment as a message, so it is ignored and the task stays in SYNC
    ws = await R.ws_connect(srv.port, count=3, ack=1)
    assert await R.recv(ws) == "t0 seq 0"
    await ws.send(["a", "ck"])
    try:
        m = await R.recv(ws, 2.0)       # a bound for what must not come
    except asyncio.TimeoutError:
        m = None
    t.known_gap(m == "t0 seq 1", "a fragmented \"ack\" (frames \"a\" + "
                "\"ck\") is not taken as an ack: lwstp-ws-server compares "
                "each fragment")
    await ws.send("ack")                # nothing is lost: it goes on
    if m is None:
        m = await R.recv(ws)
    t.check(m == "t0 seq 1", "after a plain ack: %r" % m)
    await ws.close()


async def http_cases(t, srv):
    async def raw_http(data, abort_early=False):
        r, w = await asyncio.open_connection("127.0.0.1", srv.port)
        w.write(data)
        await w.drain()
        if abort_early:
            w.transport.abort()
            return None
        try:
            out = await asyncio.wait_for(r.read(4096), R.RECV_TIMEOUT)
        except (ConnectionError, asyncio.TimeoutError):
            out = b""
        w.transport.abort()
        return out

    cases = [
        ("garbage", b"\x00\x01GARBAGE\xff\r\n\r\n", False),
        ("header cut short", b"GET /health HTTP/1.1\r\nHost: 1", True),
        ("16 KiB header", b"GET /health HTTP/1.1\r\nX-Big: " + b"b" * 16384 +
         b"\r\n\r\n", False),
        ("bad method", b"BREW /health HTTP/1.1\r\n\r\n", False),
        ("HTTP/9.9", b"GET /health HTTP/9.9\r\n\r\n", False),
    ]
    for name, data, cut in cases:
        out = await raw_http(data, cut)
        t.check(out is None or not out.startswith(b"HTTP/1.1 200"),
                "%s: answered 200: %r" % (name, out and out[:60]))
        t.check((await R.http_get(srv.port, "/health"))[0] == 200,
                "%s: no health after" % name)

    # a wrong subprotocol: lws refuses the upgrade
    try:
        ws = await R.ws_connect(srv.port, proto="nope", count=2)
        await ws.close()
        refused = False
    except (websockets.InvalidHandshake, OSError):
        refused = True
    t.check(refused, "a wrong subprotocol was accepted")
    # no subprotocol: lws binds the connection to protocols[0]; it is
    # open, and nothing will ever come
    r, w, = await asyncio.open_connection("127.0.0.1", srv.port)
    w.write(b"GET /?count=2 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: "
            b"dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    await w.drain()
    head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), R.RECV_TIMEOUT)
    st = await srv.stats()
    w.transport.abort()
    t.known_gap(not head.startswith(b"HTTP/1.1 101"),
                "a ws upgrade without the subprotocol is accepted (bound "
                "to protocols[0]) and then never answered: no task, no "
                "message, no close")
    t.check(st["tp"]["queued"] + st["tp"]["running"] == 0,
            "a task runs for a connection without the subprotocol")


async def test(t, binary):
    srv = await R.Server(binary, ["--threads", "2", "--queue", "64"],
                         name="lwstp-ws-server").start()
    try:
        await t.run("url values", url_cases(t, srv), 120)
        await t.run("ws frames", raw_cases(t, srv), 120)
        await t.run("http", http_cases(t, srv), 120)
        got = await stream(srv.port, count=20, tasks=3)
        t.check(got == (3, [20], "done"), "a normal client after all "
                "that: %r" % (got,))
        st = await srv.wait_settled()
        t.check(st["bad_cleanups"] == 0 and st["cleanups"] ==
                st["enqueued"], "counters %s" % st)
        await srv.check_clean_exit(t, "SIGTERM", st["enqueued"])
        print("server: %d tasks, %d cleanups, %d connections refused" %
              (st["enqueued"], st["cleanups"], st["refused"]))
    finally:
        srv.kill()


async def main(t, argv):
    await t.run("bad input", test(t, argv[1]), 400)


if __name__ == "__main__":
    R.run_script(main, __doc__)
