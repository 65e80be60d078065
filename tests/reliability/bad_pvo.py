#!/usr/bin/python3
"""Malformed per-vhost options of the lws-threadpool plugin, end to end:
each is refused with a log line naming the vhost, the option, the value and
the range, and the server does not serve half-configured.

usage: bad_pvo.py TEST_PLUGIN_SERVER [LWSTP_SERVER PLUGIN_DIR]

test-plugin-server --pvo NAME=VALUE: a bad value must make it exit 2 (the
protocol refused to initialise) within LWSTP_PVO_EXIT_BOUND_S (20 s) with
"option 'NAME' value 'VALUE' is invalid" and the accepted range in its log;
the values at each end of a range must start it (it answers /status with
that value in its "config").  An unknown option is a warning, not an error.
lwstp-server with an lwsws config whose "ws-protocols" carry a bad value:
exit 1 and the same line.  Prints "N passed, N failed" last.
"""

import asyncio
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import relutil as R                                     # noqa: E402

EXIT_BOUND_S = float(os.environ.get("LWSTP_PVO_EXIT_BOUND_S", "20"))

BAD = [
    ("threads", "abc", "1..256"), ("threads", "0", "1..256"),
    ("threads", "257", "1..256"), ("threads", "", "1..256"),
    ("threads", " 4", "1..256"), ("threads", "+4", "1..256"),
    ("threads", "4x", "1..256"), ("threads", "0x4", "1..256"),
    ("threads", "99999999999999999999", "1..256"),
    ("max-queue-depth", "-1", "0..100000"),
    ("sync-timeout-ms", "0", "1..3600000"),
    ("max-tasks-per-connection", "65", "1..64"),
    ("max-job-size", "4294967297", "1..4294967296"),
    ("worker-nice", "20", "0..19"),
]
GOOD = [("threads", "256"), ("threads", "1"), ("max-queue-depth", "0"),
        ("max-job-size", "4294967296"), ("worker-nice", "19"),
        ("progress-interval-ms", "0"), ("no-such-option", "1")]


def run_bounded(args):
    t0 = time.monotonic()
    p = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, errors="replace", timeout=EXIT_BOUND_S * 3)
    return p.returncode, p.stdout + p.stderr, time.monotonic() - t0


async def plugin_server(t, binary):
    for name, value, rng in BAD:
        code, out, secs = run_bounded([binary, "--port", "0", "--pvo",
                                       "%s=%s" % (name, value)])
        line = "option '%s' value '%s' is invalid" % (name, value)
        t.check(code == 2 and secs < EXIT_BOUND_S and line in out and
                rng in out and "vhost 'plugin-test'" in out,
                "%s=%r: exit %d after %.1f s, log %r" %
                (name, value, code, secs, out[-400:]))
        t.check("Sanitizer" not in out and "runtime error" not in out,
                "%s=%r: a sanitizer report" % (name, value))
    for name, value in GOOD:
        srv = R.Server(binary, ["--pvo", "%s=%s" % (name, value)],
                       name="test-plugin-server", health="/status")
        try:
            await srv.start()
            st = await srv.stats("/status")
            cfg = st.get("config", {})
            t.check(name not in cfg or str(cfg[name]) == value,
                    "%s=%s: config says %r" % (name, value, cfg.get(name)))
            if name == "no-such-option":
                t.check("unknown option 'no-such-option'" in srv.stderr(),
                        "no warning for an unknown option")
        except Exception as e:
            t.check(False, "%s=%s refused: %s" % (name, value, e))
        finally:
            srv.kill()
    print("test-plugin-server: %d bad values refused, %d edge values "
          "served" % (len(BAD), len(GOOD)))


async def lwstp_server(t, binary, plugin_dir):
    with tempfile.TemporaryDirectory(prefix="lwstp-pvo-") as d:
        os.makedirs(os.path.join(d, "conf.d"))
        with open(os.path.join(d, "conf"), "w") as f:
            f.write('{ "global": { "plugin-dir": "%s" } }\n' % plugin_dir)
        with open(os.path.join(d, "conf.d", "v"), "w") as f:
            f.write('{ "vhosts": [{ "name": "v", "port": "%d", '
                    '"interface": "127.0.0.1", "ws-protocols": [{ '
                    '"lws-threadpool": { "threads": "abc" } }] }] }\n' %
                    R.free_port())
        code, out, secs = run_bounded([binary, "-c", d])
        t.check(code == 1 and secs < EXIT_BOUND_S and
                "option 'threads' value 'abc' is invalid" in out and
                "vhost 'v'" in out,
                "lwstp-server: exit %d after %.1f s, log %r" %
                (code, secs, out[-400:]))
        print("lwstp-server: bad option refused, exit %d in %.2f s" %
              (code, secs))


async def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    t = R.Tally()
    await t.run("test-plugin-server pvos", plugin_server(t, argv[1]), 240)
    if len(argv) > 3:
        await t.run("lwstp-server pvos", lwstp_server(t, argv[2], argv[3]),
                    60)
    return t.summary()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv)))
