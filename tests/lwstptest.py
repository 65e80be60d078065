"""Helpers shared by the Python tests (tests/integration, tests/reliability,
tests/server, plugins/protocol_lws_threadpool/tests).

Asynchronous, for the ws servers (lwstp-ws-server, lwstp-rel-server,
test-plugin-server): a Server process on a free loopback port that is ready
once it answers its health page, HTTP GET, ws connections, /stats polling,
RSS of a process, the /health prober.  Synchronous, for lwstp-server: a
ReadyServer that is ready once it says so on stdout, run() to its end,
http_get_sync() and http_json().  And for all: the pass / fail Tally whose
summary ("N passed, N failed") is each script's last line, and the plugin's
expected_sha256().

A script imports this with tests/ on sys.path:

    sys.path.insert(0, os.path.join(os.path.dirname(
        os.path.abspath(__file__)), ".."))
    import lwstptest as R

Python: Debian 12's /usr/bin/python3 with python3-websockets 10.4.
"""

import asyncio
import functools
import hashlib
import http.client
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback

try:
    import websockets
except ImportError:     # the synchronous helpers work without it
    websockets = None

from rawws import RawWs                                 # noqa: F401

START_TIMEOUT = 30.0    # the server accepting connections
STATS_TIMEOUT = 60.0    # the server settling (sanitizer builds are slow)
EXIT_TIMEOUT = 60.0     # the server exiting after a signal
RECV_TIMEOUT = 30.0     # one ws message


def free_port():
    """A port free on 127.0.0.1 right now (it may be taken before it is
    used: Server.start() retries; lwstp-server tests pass --port 0 where
    they can)."""
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


@functools.lru_cache(maxsize=None)
def expected_sha256(size):
    """The plugin's job: sha256 of size bytes of xorshift64 output seeded
    from the size (plugins/protocol_lws_threadpool/README.md)."""
    M = (1 << 64) - 1
    s = (size ^ 0x9E3779B97F4A7C15) & M or 0x9E3779B97F4A7C15
    h, left = hashlib.sha256(), size
    while left > 0:
        words = []
        for _ in range(min(8192, (left + 7) // 8)):
            s ^= (s << 13) & M
            s ^= s >> 7
            s ^= (s << 17) & M
            words.append(s)
        block = struct.pack("<%dQ" % len(words), *words)[:left]
        h.update(block)
        left -= len(block)
    return h.hexdigest()


COUNTERS_RE = r"(enqueued=\d+(?: \w+=\d+)*)"


def _counters(kvs):
    return {k: int(v) for k, v in (kv.split("=") for kv in kvs.split())}


def exit_line(text, name):
    """{counter: value} of the exit line "NAME: enqueued=X cleanups=Y ..."
    in text, or None."""
    m = re.search(r"%s: %s" % (re.escape(name), COUNTERS_RE), text)
    return _counters(m.group(1)) if m else None


def pool_lines(text):
    """[(vhost, {counter: value})] of the lws-threadpool plugin's lines at
    the destruction of each vhost's pool (its PROTOCOL_DESTROY), "lws-
    threadpool: vhost 'NAME': pool destroyed: enqueued=X cleanups=Y
    detached=Z finished=W bad=B", in text (a server's log), in order: a
    server that creates a vhost more than once (a check before it serves,
    a reload) has a line for each."""
    return [(m.group(1), _counters(m.group(2))) for m in re.finditer(
        r"lws-threadpool: vhost '([^']*)': pool destroyed: " + COUNTERS_RE,
        text)]


def pool_totals(text):
    """{vhost: {counter: value}} of the last of pool_lines(text) of each
    vhost"""
    return dict(pool_lines(text))


def write_lwsws_conf(d, glob, vhosts):
    """An lwsws config tree in directory d: d/conf with {"global": glob}
    and, for each vhost (a dict with its "name"), d/conf.d/NAME with
    {"vhosts": [vhost]}.  Returns d."""
    os.makedirs(os.path.join(d, "conf.d"), exist_ok=True)
    with open(os.path.join(d, "conf"), "w") as f:
        json.dump({"global": glob}, f, indent=1)
    for vh in vhosts:
        with open(os.path.join(d, "conf.d", vh["name"]), "w") as f:
            json.dump({"vhosts": [vh]}, f, indent=1)
    return d


def bind_failed(err):
    """lws could not bind a listen socket (its lwsl_err, lib/core-net/
    network.c): the port picked was taken meanwhile"""
    return "ERROR on binding" in err


def start_on_free_ports(make, n, attempts=3):
    """make(ports) with n ports free now: a server, started (its .ready
    True if it serves); again with new ports, at most attempts times, while
    it failed because a port was taken before it bound it.  Returns the
    last server."""
    for _ in range(attempts):
        srv = make([free_port() for _ in range(n)])
        if srv.ready or not bind_failed(srv.err):
            return srv
        srv.kill()
        srv.cleanup()
    return srv


# --- the tally ---------------------------------------------------------------

class Tally:
    """Counts named checks; prints the summary line last.  verbose prints
    "ok   what" for every check that passed, and a failed one as
    "FAIL what detail" (the lwstp-server tests' style); otherwise only a
    failed one is printed, "FAIL: what"."""

    def __init__(self, verbose=False):
        self.verbose = verbose
        self.passed = 0
        self.failed = 0
        self.known = []

    def check(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            if self.verbose:
                print("ok   %s" % what)
        else:
            self.failed += 1
            if self.verbose:
                print("FAIL %s %s" % (what, detail))
            else:
                print("FAIL: %s%s" % (what, " " + detail if detail else ""))
        sys.stdout.flush()
        return cond

    def known_gap(self, cond_fixed, what):
        """A documented shortcoming of the code under test: reported as
        XFAIL while it is there, XPASS (update the test) once fixed."""
        print("%s: %s" % ("XPASS" if cond_fixed else "XFAIL", what))
        self.known.append(what)

    async def run(self, name, coro, timeout, count=False, on_fail=None):
        """Runs one part, bounded; an exception in it is a failure (and
        on_fail() is called to show more).  With count, a part that
        passed counts as one check passed (for parts that assert instead
        of calling check())."""
        t0 = time.monotonic()
        before = self.failed
        try:
            await asyncio.wait_for(coro, timeout)
        except Exception as e:
            self.failed += 1
            print("FAIL %s: %s: %s" % (name, type(e).__name__, e))
            traceback.print_exc(file=sys.stdout)
            if on_fail:
                on_fail()
        ok = self.failed == before
        if ok and count:
            self.passed += 1
        print("%s %s (%.2f s)" % ("PASS" if ok else "FAILED", name,
                                  time.monotonic() - t0))
        sys.stdout.flush()

    def summary(self):
        if self.known:
            print("%d known gap(s) reported as XFAIL above" %
                  len(self.known))
        print("%d passed, %d failed" % (self.passed, self.failed))
        sys.stdout.flush()
        return 1 if self.failed else 0


def run_script(body, doc, min_args=2):
    """A script's end: its usage (doc) and exit 2 if sys.argv has fewer
    than min_args items; else await body(tally, sys.argv) and exit with
    the tally's summary (or with what body returned, if not None)."""
    async def main():
        if len(sys.argv) < min_args:
            print(doc, file=sys.stderr)
            return 2
        t = Tally()
        rc = await body(t, sys.argv)
        return rc if rc is not None else t.summary()
    sys.exit(asyncio.run(main()))


# --- asynchronous: HTTP, the server, ws clients ------------------------------

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
    """One server process on a free loopback port, ready once GET health
    answers 200 (and health_body, if given).  name is the prefix of its
    exit line "NAME: enqueued=X cleanups=Y"."""

    def __init__(self, binary, args=(), name=None, health="/health",
                 port_args=("--port",), env=None, health_body=None):
        self.binary = binary
        self.env = env
        self.args = list(args)
        self.name = name or os.path.basename(binary)
        self.health = health
        self.health_body = health_body
        self.port_args = list(port_args)
        self.proc = None
        self.port = None
        self.tmp = tempfile.TemporaryDirectory(prefix="lwstp-test-")
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
                    status, body = await http_get(self.port, self.health,
                                                  timeout=2.0)
                    if status == 200 and self.health_body in (None, body):
                        return self
                    last = "health: %d %r" % (status, body[:80])
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

    async def wait_stalled(self, what="the stream", polls=5,
                           timeout=STATS_TIMEOUT, syncing=None, each=None):
        """Until /stats tp.syncs stays the same over `polls` readings (only
        readings with tp.syncing == syncing count, if given): a stream to
        a client that reads nothing stalled.  each(stats) is called on
        every reading (an assertion on the way).  Bounded."""
        deadline = time.monotonic() + timeout
        last, same = None, 0
        while same < polls:
            assert time.monotonic() < deadline, "%s never stalled" % what
            await asyncio.sleep(0.05)       # spacing the readings
            st = await self.stats()
            if each:
                each(st)
            v = st["tp"]["syncs"] if syncing in (None, st["tp"]["syncing"]) \
                else None
            same = same + 1 if v is not None and v == last else 0
            last = v
        return st

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
        c = exit_line(self.stdout(), self.name)
        return (c["enqueued"], c["cleanups"]) if c and "cleanups" in c \
            else None

    def lib_errors(self, sanitizers=True):
        """Error lines of the library or of a task's cleanup (and, with
        sanitizers, ASan / LSan / TSan / UBSan reports)."""
        return [ln for ln in self.stderr().splitlines()
                if re.search(r"\] E: (lwstp|cleanup|lws-threadpool)", ln) or
                sanitizers and ("ERROR: AddressSanitizer" in ln or
                                "ERROR: LeakSanitizer" in ln or
                                "WARNING: ThreadSanitizer" in ln or
                                "runtime error:" in ln)]

    async def check_clean_exit(self, t, what, enqueued=None,
                               sig=signal.SIGTERM):
        """sig, then two checks: exit code 0 with the exit line's counters
        balanced (and equal to enqueued, if given), and no lib_errors()."""
        code, _secs = await self.signal_exit(sig)
        ex = self.exit_counts()
        t.check(code == 0 and ex and ex[0] == ex[1] and
                enqueued in (None, ex[0]),
                "%s: exit %d, exit line %s%s" %
                (what, code, ex, "" if enqueued is None else
                 ", enqueued %d" % enqueued))
        bad = self.lib_errors()
        t.check(not bad, "%s: errors %r" % (what, bad[:5]))
        return code, ex

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def ws_uri(port, path="/", **params):
    q = "&".join("%s=%s" % (k, v) for k, v in params.items())
    return "ws://127.0.0.1:%d%s%s" % (port, path, "?" + q if q else "")


# websockets.connect() options of ws_connect(); opts= overrides some
WS_OPTS = {"open_timeout": 30, "close_timeout": 5, "ping_interval": None,
           "max_queue": None, "max_size": None}


async def ws_connect(port, proto="lws-threadpool-test", rcvbuf=None,
                     path="/", opts=None, **params):
    """A ws client; params go in the URL's query.  rcvbuf sets SO_RCVBUF
    before connecting (a slow reader with a tiny window); opts overrides
    WS_OPTS."""
    sock = None
    if rcvbuf:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock,
                                                      ("127.0.0.1", port))
    return await websockets.connect(
        ws_uri(port, path, **params), subprotocols=[proto] if proto else
        None, sock=sock, **dict(WS_OPTS, **(opts or {})))


async def recv(ws, timeout=RECV_TIMEOUT):
    return await asyncio.wait_for(ws.recv(), timeout)


async def abort(ws, how="abort"):
    """Drop the TCP connection: no close frame.  how "abort" resets it,
    "close" closes it (a FIN)."""
    if how == "abort":
        ws.transport.abort()
    else:
        ws.transport.close()
    try:
        await asyncio.wait_for(ws.wait_closed(), 10)
    except asyncio.TimeoutError:
        pass


# --- the /health prober, run as a separate process ---------------------------

class Prober:
    """`python3 lwstptest.py probe PORT INTERVAL_MS PATH` in a process of
    its own, so the latency it sees is the server's, not this event
    loop's.  It GETs PATH every INTERVAL_MS until its stdin closes, then
    prints its figures as JSON."""

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


# --- synchronous: a server that says it is ready, HTTP -----------------------

class ReadyServer:
    """A server in a child process that says on stdout when it is ready:
    start() returns True once stdout matched the regex ready (by default
    lwstp-server's "lwstp-server: ready"), False if the process exited or
    timeout passed first.  ports: the numbers in the matches of the regex
    ports (by default lwstp-server's "on http[s]://HOST:PORT/" lines).
    stdout is a pipe, read by start() and at the end (.out); stderr goes
    to a file, so a chatty server never blocks on a full pipe (.err reads
    it)."""

    def __init__(self, binary, args, env=None, ready=r"lwstp-server: ready\n",
                 ports=r"on https?://[^:]+:(\d+)/"):
        self.binary = binary
        self.args = list(args)
        self.env = env
        self.ready_re = ready
        self.ports_re = ports
        self.proc = None
        self.out = ""
        self.ports = []
        self.tmp = tempfile.TemporaryDirectory(prefix="lwstp-srv-")
        self.err_path = os.path.join(self.tmp.name, "stderr")

    def start(self, timeout=60):
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen([self.binary] + self.args,
                                         stdout=subprocess.PIPE, stderr=err,
                                         env=self.env)
        if not self.read_until(self.ready_re, 1, timeout):
            return False
        self.ports = [int(p) for g in re.findall(self.ports_re, self.out)
                      for p in g.split()]
        return True

    def read_until(self, regex, count=1, timeout=60):
        """reads stdout into .out until regex matched count times in it;
        False if the process closed stdout or timeout passed first"""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while len(re.findall(regex, self.out)) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                continue
            data = os.read(fd, 65536).decode(errors="replace")
            if not data:
                return False            # it exited
            self.out += data
        return True

    @property
    def port(self):
        return self.ports[0] if self.ports else None

    @property
    def ready(self):
        """start() saw it say it is ready"""
        return bool(re.search(self.ready_re, self.out))

    @property
    def err(self):
        try:
            with open(self.err_path, "r", errors="replace") as f:
                return f.read()
        except OSError:                 # cleaned up
            return ""

    def _drain(self, timeout):
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        self.out += out.decode(errors="replace")
        return self.proc.returncode

    def stop(self, timeout=60):
        """SIGTERM; returns the exit code (or None if it had to be killed)"""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self._drain(10)
            return None
        return self._drain(10)

    def wait_exit(self, timeout=60):
        return self._drain(timeout)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def cleanup(self):
        """Removes the stderr file (.err is "" after this)."""
        self.tmp.cleanup()


PR_SET_CHILD_SUBREAPER = 36     # <linux/prctl.h>


def become_subreaper():
    """Orphans of our children become our children (and ours to reap):
    lwsws's serving process, whose parent exits first."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0):
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def children_of(pid):
    """pids whose parent is pid (from /proc/*/stat)"""
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        if int(st[st.rindex(")") + 2:].split()[1]) == pid:
            kids.append(int(d))
    return kids


class LwswsServer(ReadyServer):
    """Upstream's lwsws (lwsws/main.c of lws 4.1.6) on a config directory
    (write_lwsws_conf()), with -n (no default plugin dir) and args.

    lwsws forks: the root process stays and a child serves.  It prints
    nothing when ready: start() returns True once a GET of probe is
    answered (any status) on every port in ports, False if the serving
    process failed ("Context creation failed": the root stays up, so that
    line is what tells) or timeout passed.  The signals: the child destroys
    its context cleanly on SIGINT; the root, on SIGINT, sleeps 2 s, SIGTERMs
    the children and exits 0; SIGTERM kills the root at once.  So stop()
    sends SIGINT to the process group (lwsws runs in a session of its own)
    and returns the serving child's exit status, which this process can
    collect as a subreaper (become_subreaper()) once the root is gone.
    env: e.g. LD_LIBRARY_PATH for the lws that lwsws was built with (its
    binary has no RUNPATH)."""

    def __init__(self, binary, confdir, ports, args=(), env=None,
                 probe="/status"):
        super().__init__(binary, ["-n", "-c", confdir] + list(args), env=env)
        self.ports = list(ports)
        self.probe = probe
        self.child = None

    @property
    def ready(self):
        """start() saw it serve (and stop() has not reaped it yet)"""
        return self.child is not None

    def start(self, timeout=60):
        become_subreaper()
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                [self.binary] + self.args, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=err, env=self.env,
                start_new_session=True)
        deadline = time.monotonic() + timeout
        left = list(self.ports)
        while left and time.monotonic() < deadline:
            if self.proc.poll() is not None or \
                    "Context creation failed" in self.err:
                return False
            try:
                http_get_sync(left[0], self.probe, timeout=2)
                left.pop(0)
                continue
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.05)        # polling a starting process
        kids = children_of(self.proc.pid)
        if left or len(kids) != 1:
            return False
        self.child = kids[0]
        return True

    def _reap_child(self, timeout):
        """the child's exit status (-N: killed by signal N); past timeout
        it is killed and None returned"""
        deadline = time.monotonic() + timeout
        killed = False
        while True:
            try:
                pid, st = os.waitpid(self.child, os.WNOHANG)
            except ChildProcessError:   # not ours: the root still runs
                pid, st, killed = self.child, 0, True
            if pid:
                self.child = None
                return None if killed else os.waitstatus_to_exitcode(st)
            if not killed and time.monotonic() > deadline:
                os.kill(self.child, signal.SIGKILL)
                killed = True
            time.sleep(0.02)        # waiting for a process's exit

    def stop(self, timeout=60):
        """SIGINT to lwsws's process group; the serving process's exit
        status (None if a process had to be killed)"""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
        root = self._drain(timeout)
        if self.child is None:
            return None
        rc = self._reap_child(timeout)
        return rc if root == 0 else None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if self.child is not None:
            self._reap_child(10)


def run(binary, args, timeout=60):
    """Runs the binary to its end: (exit code, stdout, stderr)"""
    p = subprocess.run([binary] + list(args), stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), \
        p.stderr.decode(errors="replace")


def http_get_sync(port, path, headers=None, timeout=30,
                  first_line_only=False):
    """(status, headers dict (lower-case names), body bytes); with
    first_line_only, only the body's first line is read before the
    connection is dropped."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        body = r.readline() if first_line_only else r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    finally:
        c.close()


def http_json(port, path, timeout=30):
    st, _hd, body = http_get_sync(port, path, timeout=timeout)
    return st, json.loads(body.decode()) if body else None


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "probe":
    probe_main(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
