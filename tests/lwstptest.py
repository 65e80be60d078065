"""Helpers shared by the reliability tests (tests/reliability/*.py).

A server process on a free loopback port, HTTP GET, ws connections, /stats
polling, RSS of a process, the /health prober, and the pass / fail tally
whose summary ("N passed, N failed") is each script's last line.

Python: Debian 12's /usr/bin/python3 with python3-websockets 10.4.
"""

import asyncio
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

import websockets

START_TIMEOUT = 30.0    # the server accepting connections
STATS_TIMEOUT = 60.0    # the server settling (sanitizer builds are slow)
EXIT_TIMEOUT = 60.0     # the server exiting after a signal
RECV_TIMEOUT = 30.0     # one ws message


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sanitizer_of(binary):
    """"address", "thread" or "" from the build's CMakeCache.txt (the
    binary lives somewhere under the build directory)."""
    d = os.path.dirname(os.path.abspath(binary))
    while d != os.path.dirname(d):
        cache = os.path.join(d, "CMakeCache.txt")
        if os.path.exists(cache):
            with open(cache, errors="replace") as f:
                m = re.search(r"^LWSTP_SANITIZE:\w+=(\w*)$", f.read(), re.M)
            return m.group(1) if m else ""
        d = os.path.dirname(d)
    return ""


def rss_kb(pid):
    """VmRSS of a process, in KiB (0 if it is gone)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Tally:
    """Counts named checks; prints the summary line last."""

    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.known = []

    def check(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL: %s" % what)
            sys.stdout.flush()
        return cond

    def known_gap(self, cond_fixed, what):
        """A documented shortcoming of the code under test: reported as
        XFAIL while it is there, XPASS (update the test) once fixed."""
        print("%s: %s" % ("XPASS" if cond_fixed else "XFAIL", what))
        self.known.append(what)

    async def run(self, name, coro, timeout):
        t0 = time.monotonic()
        before = self.failed
        try:
            await asyncio.wait_for(coro, timeout)
        except Exception as e:
            self.failed += 1
            print("FAIL %s: %s: %s" % (name, type(e).__name__, e))
            traceback.print_exc(file=sys.stdout)
        print("%s %s (%.2f s)" % ("PASS" if self.failed == before else
                                  "FAILED", name, time.monotonic() - t0))
        sys.stdout.flush()

    def summary(self):
        if self.known:
            print("%d known gap(s) reported as XFAIL above" %
                  len(self.known))
        print("%d passed, %d failed" % (self.passed, self.failed))
        sys.stdout.flush()
        return 1 if self.failed else 0


async def http_get(port, path, timeout=10.0, method="GET", raw=None):
    """(status, body) of one HTTP/1.1 request on a new connection; raw
    sends those bytes instead of a well-formed request."""
    async def get():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(raw if raw is not None else
                         ("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          "Connection: close\r\n\r\n" %
                          (method, path)).encode())
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            if m:
                body = await reader.readexactly(int(m.group(1)))
            else:
                body = await reader.read()
            return status, body
        finally:
            writer.close()
    return await asyncio.wait_for(get(), timeout)


class Server:
    """One server process on a free loopback port.  name is the prefix
    of its exit line "NAME: enqueued=X cleanups=Y"."""

    def __init__(self, binary, args=(), name=None, health="/health",
                 port_args=("--port",), env=None):
        self.binary = binary
        self.env = env
        self.args = list(args)
        self.name = name or os.path.basename(binary)
        self.health = health
        self.port_args = list(port_args)
        self.proc = None
        self.port = None
        self.tmp = tempfile.TemporaryDirectory(prefix="lwstp-rel-")
        self.out_path = os.path.join(self.tmp.name, "stdout")
        self.err_path = os.path.join(self.tmp.name, "stderr")

    async def start(self):
        last = "not started"
        for _attempt in range(3):       # the free port may be taken
            self.port = free_port()
            with open(self.out_path, "wb") as out, \
                    open(self.err_path, "wb") as err:
                self.proc = subprocess.Popen(
                    [self.binary] + self.port_args + [str(self.port)] +
                    self.args, stdin=subprocess.DEVNULL, stdout=out,
                    stderr=err, env=self.env)
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    last = "exited with %d" % self.proc.returncode
                    break
                try:
                    status, _body = await http_get(self.port, self.health,
                                                   timeout=2.0)
                    if status == 200:
                        return self
                    last = "health: %d" % status
                except (OSError, asyncio.TimeoutError,
                        asyncio.IncompleteReadError, ValueError) as e:
                    last = repr(e)
                await asyncio.sleep(0.05)    # polling a starting process
            else:
                self.kill()
                last = "not ready in %.0f s (%s)" % (START_TIMEOUT, last)
        raise RuntimeError("server did not start: %s\n%s" %
                           (last, self.stderr()[-3000:]))

    def stdout(self):
        with open(self.out_path, "r", errors="replace") as f:
            return f.read()

    def stderr(self):
        with open(self.err_path, "r", errors="replace") as f:
            return f.read()

    def alive(self):
        return self.proc.poll() is None

    def rss_kb(self):
        return rss_kb(self.proc.pid)

    async def stats(self, path="/stats"):
        status, body = await http_get(self.port, path)
        assert status == 200, "GET %s: %d" % (path, status)
        return json.loads(body)

    async def wait_stats(self, pred, what, timeout=STATS_TIMEOUT,
                         path="/stats"):
        """Poll /stats until pred(stats) holds; bounded."""
        deadline = time.monotonic() + timeout
        st = await self.stats(path)
        while not pred(st):
            assert time.monotonic() < deadline, \
                "timed out waiting for %s; last stats %s" % (what, st)
            await asyncio.sleep(0.02)
            st = await self.stats(path)
        return st

    async def wait_settled(self, timeout=STATS_TIMEOUT):
        """Every accepted task was cleaned up and the pool is empty."""
        return await self.wait_stats(
            lambda s: s["cleanups"] == s["enqueued"] and
            s["tp"]["queued"] == 0 and s["tp"]["running"] == 0 and
            s["tp"]["done_waiting"] == 0 and
            s["tp"]["reaped"] == s["tp"]["enqueued"],
            "every task cleaned up", timeout)

    async def signal_exit(self, sig=signal.SIGTERM, timeout=EXIT_TIMEOUT):
        """Send sig; (exit code, seconds to exit); kills it past timeout."""
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        while self.proc.poll() is None:
            if time.monotonic() - t0 > timeout:
                self.kill()
                raise AssertionError("server did not exit within %.0f s "
                                     "of signal %d" % (timeout, sig))
            await asyncio.sleep(0.01)   # waiting for a child's exit
        return self.proc.returncode, time.monotonic() - t0

    def exit_counts(self):
        """(enqueued, cleanups) from the exit line, or None."""
        m = re.search(r"%s: enqueued=(\d+) cleanups=(\d+)" %
                      re.escape(self.name), self.stdout())
        return (int(m.group(1)), int(m.group(2))) if m else None

    def lib_errors(self):
        """Error lines of the library or of a task's cleanup."""
        return [ln for ln in self.stderr().splitlines()
                if re.search(r"\] E: (lwstp|cleanup|lws-threadpool)", ln) or
                "ERROR: AddressSanitizer" in ln or
                "ERROR: LeakSanitizer" in ln or
                "WARNING: ThreadSanitizer" in ln or
                "runtime error:" in ln]

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def ws_uri(port, path="/", **params):
    q = "&".join("%s=%s" % (k, v) for k, v in params.items())
    return "ws://127.0.0.1:%d%s%s" % (port, path, "?" + q if q else "")


async def ws_connect(port, proto="lws-threadpool-test", rcvbuf=None,
                     path="/", **params):
    """A ws client; rcvbuf sets SO_RCVBUF before connecting (a slow
    reader with a tiny window)."""
    sock = None
    if rcvbuf:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock,
                                                      ("127.0.0.1", port))
    return await websockets.connect(
        ws_uri(port, path, **params), subprotocols=[proto] if proto else
        None, open_timeout=30, close_timeout=5, ping_interval=None,
        max_queue=None, max_size=None, sock=sock)


async def recv(ws, timeout=RECV_TIMEOUT):
    return await asyncio.wait_for(ws.recv(), timeout)


async def abort(ws):
    """Drop the TCP connection: no close frame."""
    ws.transport.abort()
    try:
        await asyncio.wait_for(ws.wait_closed(), 10)
    except asyncio.TimeoutError:
        pass


# --- the /health prober, run as a separate process ---------------------------

class Prober:
    """`python3 relutil.py probe PORT INTERVAL_MS` in a process of its own,
    so the latency it sees is the server's, not this event loop's.  It
    GETs /health every INTERVAL_MS until its stdin closes, then prints its
    figures as JSON."""

    def __init__(self, port, interval_ms=20, path="/health"):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "probe", str(port),
             str(interval_ms), path], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE)

    def stop(self):
        out, _ = self.proc.communicate(b"", timeout=60)
        return json.loads(out)


def probe_main(port, interval_ms, path):
    lat, fails, errs = [], 0, []
    max_connect = max_answer = 0.0
    req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
           % path).encode()
    while True:
        # paced by the interval; ends when the parent closes our stdin
        r, _, _ = select.select([sys.stdin], [], [], interval_ms / 1000.0)
        if r and not os.read(sys.stdin.fileno(), 64):
            break
        t0 = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", port),
                                          timeout=30) as s:
                # the kernel completes the handshake; the answer needs the
                # server's service thread
                t1 = time.monotonic()
                s.sendall(req)
                data = b""
                while b"\r\n\r\n" not in data or not data.endswith(b"ok"):
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            if not data.startswith(b"HTTP/1.1 200") or \
                    not data.endswith(b"ok"):
                raise ValueError("bad answer %r" % data[:80])
            t2 = time.monotonic()
            lat.append((t2 - t0) * 1000.0)
            max_connect = max(max_connect, (t1 - t0) * 1000.0)
            max_answer = max(max_answer, (t2 - t1) * 1000.0)
        except Exception as e:          # counted, and reported below
            fails += 1
            if len(errs) < 5:
                errs.append(repr(e))
    lat.sort()
    pct = (lambda p: lat[min(len(lat) - 1, int(len(lat) * p))]
           if lat else 0.0)
    print(json.dumps({"probes": len(lat), "fails": fails, "errors": errs,
                      "max_ms": lat[-1] if lat else 0.0,
                      "max_connect_ms": max_connect,
                      "max_answer_ms": max_answer,
                      "p50_ms": pct(0.5), "p99_ms": pct(0.99)}))


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "probe":
    probe_main(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
