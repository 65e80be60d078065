"""Shared helpers of the lwstp-server tests: run the server, talk HTTP to it,
count results.  Loopback only; every wait is bounded."""

import http.client
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time


class Results:
    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0

    def check(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            print("ok   %s" % what)
        else:
            self.failed += 1
            print("FAIL %s %s" % (what, detail))
        sys.stdout.flush()
        return cond

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed))
        return 1 if self.failed else 0


class Server:
    """lwstp-server in a child process; start() returns once it printed
    "ready" (or exited)."""

    def __init__(self, binary, args, env=None):
        self.binary = binary
        self.args = list(args)
        self.env = env
        self.proc = None
        self.out = ""
        self.err = ""
        self.ports = []

    def start(self, timeout=60):
        self.proc = subprocess.Popen([self.binary] + self.args,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE,
                                     env=self.env)
        deadline = time.monotonic() + timeout
        fds = {self.proc.stdout.fileno(): "out",
               self.proc.stderr.fileno(): "err"}
        while time.monotonic() < deadline and fds:
            r, _, _ = select.select(list(fds), [], [],
                                    max(0.01, deadline - time.monotonic()))
            for fd in r:
                data = os.read(fd, 65536).decode(errors="replace")
                if not data:
                    del fds[fd]
                    continue
                if fds[fd] == "out":
                    self.out += data
                else:
                    self.err += data
            if "lwstp-server: ready\n" in self.out:
                self.ports = [int(p) for p in
                              re.findall(r"on http://[^:]+:(\d+)/", self.out)]
                return True
        return False

    @property
    def port(self):
        return self.ports[0]

    def _drain(self, timeout):
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        self.out += out.decode(errors="replace")
        self.err += err.decode(errors="replace")
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


def run(binary, args, timeout=60):
    """Runs the binary to its end: (exit code, stdout, stderr)"""
    p = subprocess.run([binary] + list(args), capture_output=True,
                       timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), \
        p.stderr.decode(errors="replace")


def http_get(port, path, headers=None, timeout=30):
    """(status, headers dict (lower-case names), body bytes)"""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        body = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    finally:
        c.close()


def http_json(port, path, timeout=30):
    st, hd, body = http_get(port, path, timeout=timeout)
    return st, json.loads(body.decode()) if body else None


def free_port():
    """A port free on 127.0.0.1 right now (for configs that need a fixed
    one; the tests pass --port 0 where they can)"""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def expected_sha256(size):
    """The plugin's job: sha256 of size bytes of xorshift64 output seeded
    from the size (plugins/protocol_lws_threadpool/README.md)"""
    import hashlib
    import struct
    m = (1 << 64) - 1
    s = (size ^ 0x9E3779B97F4A7C15) & m or 0x9E3779B97F4A7C15
    h, left = hashlib.sha256(), size
    while left > 0:
        words = []
        for _ in range(min(8192, (left + 7) // 8)):
            s ^= (s << 13) & m
            s ^= s >> 7
            s ^= (s << 17) & m
            words.append(s)
        block = struct.pack("<%dQ" % len(words), *words)[:left]
        h.update(block)
        left -= len(block)
    return h.hexdigest()
