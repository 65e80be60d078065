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

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
import lwstptest as R                                   # noqa: E402

EXIT_BOUND_S = float(os.environ.get("LWSTP_PVO_EXIT_BOUND_S", "20"))

T = "1..2147483647"
BAD = [
    ("threads", "abc", T), ("threads", "0", T),
    ("threads", "2147483648", T), ("threads", "", T),
    ("threads", " 4", T), ("threads", "+4", T),
    ("threads", "4x", T), ("threads", "0x4", T),
    ("threads", "99999999999999999999", T),
    ("max-queue-depth", "-1", "0..2147483647"),
    ("sync-timeout-ms", "0", "1..3600000"),
    ("max-tasks-per-connection", "65", "1..64"),
    ("max-job-size", "4294967297", "1..4294967296"),
    ("worker-nice", "20", "0..19"),
]
# as upstream, more than 256 threads and any queue depth (refused before
# 2026-12)
GOOD = [("threads", "300"), ("threads", "1"), ("max-queue-depth", "0"),
        ("max-queue-depth", "2147483647"),
        ("max-job-size", "4294967296"), ("worker-nice", "19"),
        ("progress-interval-ms", "0"), ("no-such-option", "1")]


def run_bounded(args):
    t0 = time.monotonic()
    code, out, err = R.run(args[0], args[1:], timeout=EXIT_BOUND_S * 3)
    return code, out + err, time.monotonic() - t0


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
    # a valid number the kernel can not give: liblwstp says why, the
    # plugin says the vhost has no pool, and the server does not start
    code, out, secs = run_bounded([binary, "--port", "0", "--pvo",
                                   "threads=2147483647"])
    t.check(code == 2 and secs < EXIT_BOUND_S and
            "kernel.threads-max" in out and "threads 2147483647 is not in"
            in out and "vhost 'plugin-test': no pool of 2147483647 threads"
            in out, "threads=2147483647: exit %d after %.1f s, log %r" %
            (code, secs, out[-600:]))
    print("test-plugin-server: %d bad values refused, %d edge values "
          "served" % (len(BAD) + 1, len(GOOD)))


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


async def main(t, argv):
    await t.run("test-plugin-server pvos", plugin_server(t, argv[1]), 240)
    if len(argv) > 3:
        await t.run("lwstp-server pvos", lwstp_server(t, argv[2], argv[3]),
                    60)


if __name__ == "__main__":
    R.run_script(main, __doc__)
