#!/usr/bin/env python3
"""lwstp-server installed: the man page, the systemd unit (systemd-analyze
verify) and the example config tree (--check, serves) in their places; its
built-in config finds the demo page and the plugin relative to the
installed binary, also after the whole install tree is moved.

usage: test_install.py BUILD-DIR"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
from lwstptest import (ReadyServer, Tally, http_get_sync,  # noqa: E402
                       http_json, start_on_free_ports)

BUILD = sys.argv[1]
R = Tally(verbose=True)


def serve(prefix, what):
    s = ReadyServer(os.path.join(prefix, "bin", "lwstp-server"),
                    ["--port", "0"])
    if not R.check(s.start(), "%s: starts" % what, s.out + s.err[-800:]):
        s.stop()
        return
    R.check(os.path.join(prefix, "bin", "..") in s.err and
            "libprotocol_lws_threadpool.so" in s.err,
            "%s: plugin loaded from the install tree" % what, s.err[-600:])
    st, hd, body = http_get_sync(s.port, "/")
    R.check(st == 200 and b"lws-threadpool demo" in body,
            "%s: serves the installed demo page" % what, str(st))
    st, j = http_json(s.port, "/status")
    R.check(st == 200 and j["threads"] == 4, "%s: /status" % what, str(j))
    R.check(s.stop() == 0, "%s: clean exit 0" % what, s.err[-400:])


def service_files(prefix):
    """the man page, the systemd unit and the example config tree, in the
    conventional places, naming this prefix; the config passes --check and
    serves"""
    binary = os.path.join(prefix, "bin", "lwstp-server")
    etc = os.path.join(prefix, "etc", "lwstp-server")
    unit = os.path.join(prefix, "lib", "systemd", "system",
                        "lwstp-server.service")
    man = os.path.join(prefix, "share", "man", "man1", "lwstp-server.1")
    for f in (unit, man, os.path.join(etc, "conf"),
              os.path.join(etc, "conf.d", "localhost")):
        R.check(os.path.isfile(f), "installed: %s" % os.path.relpath(
            f, prefix))
    with open(unit) as f:
        text = f.read()
    R.check("ExecStart=%s -c %s\n" % (binary, etc) in text and
            "ExecStartPre=%s -c %s --check\n" % (binary, etc) in text,
            "the unit runs the installed binary on the installed config",
            text)
    # C.UTF-8 is always there: a LANG naming a missing locale would make
    # man warn about it
    env = dict(os.environ, MANPATH=os.path.join(prefix, "share", "man"),
               LC_ALL="C.UTF-8", MANWIDTH="80")
    r = subprocess.run(["systemd-analyze", "verify", unit], env=env,
                       capture_output=True, timeout=60)
    R.check(r.returncode == 0, "systemd-analyze verify the unit",
            r.stderr.decode(errors="replace")[-500:])
    r = subprocess.run(["man", "--warnings", "-l", man], env=env,
                       capture_output=True, timeout=60)
    R.check(r.returncode == 0 and b"lwstp-server" in r.stdout and
            not r.stderr, "man renders the page without warnings",
            r.stderr.decode(errors="replace")[-300:])
    r = subprocess.run([binary, "-c", etc, "--check"], capture_output=True,
                       timeout=60)
    R.check(r.returncode == 0 and b"config ok" in r.stdout,
            "the example config passes --check",
            (r.stdout + r.stderr).decode(errors="replace")[-500:])

    def started(ports):     # a copy, on a port free now
        d = os.path.join(os.path.dirname(etc), "etc-copy")
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(etc, d)
        f = os.path.join(d, "conf.d", "localhost")
        with open(f) as fh:
            text = fh.read()
        with open(f, "w") as fh:
            fh.write(re.sub(r'"port": "\d+"', '"port": "%d"' % ports[0],
                            text))
        srv = ReadyServer(binary, ["-c", d])
        srv.start()
        return srv
    s = start_on_free_ports(started, 1)
    if R.check(s.ready, "the example config: starts", s.err[-500:]):
        st, _hd, body = http_get_sync(s.port, "/")
        R.check(st == 200 and b"lws-threadpool demo" in body,
                "the example config serves the demo page", str(st))
        st, j = http_json(s.port, "/status")
        R.check(st == 200 and j["threads"] == 4,
                "the example config: /status", str(j))
    R.check(s.stop() == 0, "the example config: clean exit 0",
            s.err[-400:])


def main():
    with tempfile.TemporaryDirectory(prefix="lwstp-install-") as tmp:
        prefix = os.path.join(tmp, "prefix")
        r = subprocess.run(["cmake", "--install", BUILD, "--prefix",
                            prefix], capture_output=True, timeout=300)
        if not R.check(r.returncode == 0, "cmake --install",
                       r.stderr.decode(errors="replace")[-500:]):
            return R.summary()
        service_files(prefix)
        serve(prefix, "installed")
        moved = os.path.join(tmp, "elsewhere", "opt")
        shutil.move(prefix, moved)
        serve(moved, "moved install")
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
