#!/usr/bin/env python3
"""lwstp-server installed: its built-in config finds the demo page and the
plugin relative to the installed binary, also after the whole install tree
is moved.

usage: test_install.py BUILD-DIR"""

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
from lwstptest import (ReadyServer, Tally, http_get_sync,  # noqa: E402
                       http_json)

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


def main():
    with tempfile.TemporaryDirectory(prefix="lwstp-install-") as tmp:
        prefix = os.path.join(tmp, "prefix")
        r = subprocess.run(["cmake", "--install", BUILD, "--prefix",
                            prefix], capture_output=True, timeout=300)
        if not R.check(r.returncode == 0, "cmake --install",
                       r.stderr.decode(errors="replace")[-500:]):
            return R.summary()
        serve(prefix, "installed")
        moved = os.path.join(tmp, "elsewhere", "opt")
        shutil.move(prefix, moved)
        serve(moved, "moved install")
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
