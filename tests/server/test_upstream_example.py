#!/usr/bin/python3
"""lwstp-server on upstream's example lwsws config tree.

usage: test_upstream_example.py LWSTP-SERVER PLUGIN-DIR LWS-SOURCE-DIR

LWS-SOURCE-DIR is a libwebsockets source tree (Debian's source package, as
scripts/lws-build.sh unpacks it) with lwsws/etc-lwsws-conf-EXAMPLE and
lwsws/etc-lwsws-conf.d-localhost-EXAMPLE.  They are used as they are but
for what this machine and project lack, each edit said below:

  - its cgi mount and the mount and ws-protocols of plugins this project
    does not ship are removed; the lws-threadpool protocol is added;
  - "uid" / "gid" 48 (Fedora's apache) become 65534 (nobody / nogroup)
    when run as root, and go when not (a user cannot drop to another) or
    when nobody could not read the pages;
  - the port is one free now, the access log a file here.

Then --check passes (its warnings: the global "interface" and the
deprecated "ws-pingpong-secs", which lws's loader ignores), the server
starts, serves the file mount from _lws_ddir_ as lws substitutes it (the
page compared with the file), writes the access log, and stops cleanly."""

import os
import re
import stat
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
from lwstptest import (ReadyServer, Tally, http_get_sync,  # noqa: E402
                       run, start_on_free_ports)

BIN, PLUGINS, SRC = sys.argv[1], sys.argv[2], sys.argv[3]
R = Tally(verbose=True)


def read(path):
    with open(path) as f:
        return f.read()


def edit(text, pattern, repl, what):
    new, n = re.subn(pattern, repl, text, flags=re.S)
    if n != 1:      # upstream's files are not what this test knows
        R.check(False, "edit: %s" % what, pattern)
        raise SystemExit(R.summary())
    return new


def vhost_text(port, log):
    t = read(os.path.join(SRC, "lwsws", "etc-lwsws-conf.d-localhost-EXAMPLE"))
    t = edit(t, r'"port": "7681"', '"port": "%d"' % port, "the port")
    t = edit(t, r'"access-log": "[^"]*"', '"access-log": "%s"' % log,
             "the access log")
    t = edit(t, r'\}, \{\s*"mountpoint": "/testcgi",.*?"origin": "cgi://'
             r'[^"]*"\s*', "", "no cgi mount")
    t = edit(t, r'\}, \{\s*"mountpoint": "/formtest",\s*"origin": '
             r'"callback://protocol-post-demo"\s*', "",
             "no mount of an unshipped plugin")
    return edit(t, r'"ws-protocols": \[\{.*?\}\]', '"ws-protocols": [{\n'
                '       "lws-threadpool": { "status": "ok" }\n     }]',
                "the protocols: lws-threadpool for the unshipped ones")


def others_may_read(path):
    """every directory above path lets others through, and path is
    readable by others (what the server needs once it runs as nobody)"""
    d = os.path.dirname(os.path.abspath(path))
    while True:
        if not os.stat(d).st_mode & stat.S_IXOTH:
            return False
        if d == "/":
            break
        d = os.path.dirname(d)
    return bool(os.stat(path).st_mode & stat.S_IROTH)


DROP = []       # [True]: the server is to drop to nobody


def global_text():
    t = read(os.path.join(SRC, "lwsws", "etc-lwsws-conf-EXAMPLE"))
    if DROP[0]:
        return edit(t, r'"uid": "48",\s*"gid": "48",',
                    '"uid": "65534", "gid": "65534",', "uid/gid: nobody")
    return edit(t, r'"uid": "48",\s*"gid": "48",', "", "no uid/gid")


def main():
    rc, out, err = run(BIN, ["--version"])
    m = re.search(r"_lws_ddir_ is (\S+)", out)
    if not R.check(rc == 0 and m, "--version says what _lws_ddir_ is", out):
        return R.summary()
    ddir = os.path.join(m.group(1), "libwebsockets-test-server")
    pages = [f for f in (os.path.join(ddir, "test.html"), os.path.join(
        ddir, "server-status", "server-status.html")) if os.path.exists(f)]
    # as root, to nobody: unless nobody could not read the pages (an lws
    # built under a private directory: CI's clone is in a mktemp -d)
    DROP.append(os.geteuid() == 0 and all(others_may_read(f)
                                          for f in pages))
    if os.geteuid() == 0 and not DROP[0]:
        print("note: %s is not readable by others: the server stays root"
              % ddir)
    tmp = tempfile.TemporaryDirectory(prefix="lwstp-upstream-")
    os.chmod(tmp.name, 0o755)       # the server drops to nobody
    d, log = os.path.join(tmp.name, "etc"), os.path.join(tmp.name, "log")
    os.makedirs(os.path.join(d, "conf.d"))

    no_log = []                     # this lws has no access log

    def write(port):
        with open(os.path.join(d, "conf"), "w") as f:
            f.write(global_text())
        t = vhost_text(port, log)
        if no_log:
            t = edit(t, r'"access-log": "[^"]*",', "", "no access log")
        with open(os.path.join(d, "conf.d", "localhost"), "w") as f:
            f.write(t)

    write(1)
    rc, out, err = run(BIN, ["-c", d, "--check", "-p", PLUGINS])
    if rc and "built without LWS_WITH_ACCESS_LOG" in err:
        R.check("vhosts[0].access-log: refused" in err, "an lws without "
                "access logs: the access log refused, not ignored", err)
        no_log.append(1)
        write(1)
        rc, out, err = run(BIN, ["-c", d, "--check", "-p", PLUGINS])
    R.check(rc == 0 and "config ok: 1 vhost, 2 warnings" in out and
            "global.interface" in err and "global.ws-pingpong-secs" in err,
            "the example passes --check, warning of the two keys lws "
            "ignores", out + err[-800:])

    def started(ports):
        write(ports[0])
        srv = ReadyServer(BIN, ["-c", d, "-p", PLUGINS])
        srv.start()
        return srv
    s = start_on_free_ports(started, 1)
    if R.check(s.ready, "the example serves", s.out + s.err[-800:]):
        served = 0
        for path, f in (("/", "test.html"), ("/server-status/",
                        os.path.join("server-status", "server-status.html"))):
            f = os.path.join(ddir, f)
            st, hd, body = http_get_sync(s.port, path)
            if os.path.exists(f):
                served += R.check(st == 200 and body == read(f).encode(),
                                  "%s is %s (_lws_ddir_ substituted, the "
                                  "mount's default)" % (path, f),
                                  "%s %r" % (st, body[:100]))
            else:
                R.check(st == 404, "%s: 404, no %s here" % (path, f), str(st))
        R.check(served, "a file mount served a page of _lws_ddir_")
        st, _hd, _body = http_get_sync(s.port, "/no-such-file")
        R.check(st == 404, "an unknown path: 404", str(st))
    rc = s.stop()
    R.check(rc == 0 and "lwstp-server: stopped" in s.out,
            "the example: clean exit 0", s.err[-400:])
    if not no_log:
        R.check(os.path.exists(log) and "GET / " in read(log),
                "the access log is written", read(log)[-300:]
                if os.path.exists(log) else "no " + log)
    tmp.cleanup()
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
