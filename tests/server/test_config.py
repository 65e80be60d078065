#!/usr/bin/env python3
"""lwstp-server on lwsws configuration directories (lws's own loader).

usage: test_config.py LWSTP-SERVER CONFTEST-PLUGIN-DIR

Good configurations: two vhosts from two conf.d files, each with the
conftest plugin and its own options (delivered as per-vhost options at
PROTOCOL_INIT), file and callback mounts, headers, the "default" protocol,
comments, skipped file names, keys lws's loader does not know (a warning
naming file and line).  Bad ones, the options of a plugin included: the
server exits non-zero, with --check or without, and its message names the
file, the line and the key.  Privileges and client certificates."""

import asyncio
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
from lwstptest import (ReadyServer, Tally,  # noqa: E402
                       http_get_sync, http_json, run, start_on_free_ports)

try:
    import websockets
except ImportError:
    websockets = None

BIN, PLUGINS = sys.argv[1], sys.argv[2]
R = Tally(verbose=True)


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def conf_dir(tmp, name, conf, confd):
    d = os.path.join(tmp, name)
    write(os.path.join(d, "conf"), conf)
    for fn, text in confd.items():
        write(os.path.join(d, "conf.d", fn), text)
    return d


GLOBAL = """# global settings
{
  "global": {
    "server-string": "lwstp-test",
    "plugin-dir": "%s",
    "count-threads": "1",
    "init-ssl": "no"
  }
}
""" % PLUGINS


def vhost(name, port, www, opts, extra=""):
    return """{
  # one vhost
  "vhosts": [{
    "name": "%s",
    "port": "%d",
    "interface": "127.0.0.1",
    "keepalive_timeout": "10",
    "headers": [{ "X-Lwstp-Test": "%s" }],
    "mounts": [
      { "mountpoint": "/", "origin": "file://%s", "default": "index.html",
        "cache-max-age": "30", "cache-reuse": "1",
        "extra-mimetypes": { ".lwstp": "text/plain" } },
      { "mountpoint": "/ct", "origin": "callback://lwstp-conftest" }
    ],
    "ws-protocols": [{
      "lwstp-conftest": %s
    }]%s
  }]
}
""" % (name, port, name, www, json.dumps(opts), extra)


def serve(make, args=(), n=1):
    """lwstp-server -c make(port, ...) with n ports free now, started
    (again with other ports if one was taken meanwhile)"""
    def started(ports):
        srv = ReadyServer(BIN, ["-c", make(*ports)] + list(args))
        srv.start()
        return srv
    return start_on_free_ports(started, n)


def server_pid(s):
    """the serving process's pid (lwstp-server's root process forks it)"""
    m = re.search(r"lwstp-server: server pid (\d+)", s.out)
    return int(m.group(1)) if m else None


async def ws_greeting(port, host):
    async with websockets.connect("ws://127.0.0.1:%d/" % port,
                                  extra_headers={"Host": host},
                                  open_timeout=20) as ws:
        return json.loads(await asyncio.wait_for(ws.recv(), 20))


def test_good(tmp):
    www = os.path.join(tmp, "www")
    write(os.path.join(www, "index.html"), "<p>hello lwstp</p>\n")
    write(os.path.join(www, "note.lwstp"), "extra mimetype\n")

    def make(pa, pb):
        return conf_dir(tmp, "good", GLOBAL, {
            "10-a": vhost("alpha", pa, www,
                          {"status": "ok", "default": "1", "threads": "3",
                           "quote": "a \"b\" \\ c"},
                          ',\n    "unknown-vhost-key": "x"'),
            "20-b": vhost("beta", pb, www, {"colour": "blue"}),
            "backup~": "not json: lws skips names with a '~'",
        })

    d = make(1, 2)
    rc, out, err = run(BIN, ["-c", d, "--check"])
    R.check(rc == 0 and "config ok: 2 vhosts, 1 warning" in out,
            "--check accepts the good config", out + err)
    R.check("10-a:" in err and "unknown-vhost-key" in err and
            "not a key of lws's loader" in err,
            "unknown key: warning names file, line and key", err)

    s = serve(make, n=2)
    if not R.check(s.ready, "server starts on the good config",
                   s.out + s.err):
        s.stop()
        return
    pa, pb = s.ports
    R.check(len(s.ports) == 2 and pa != pb,
            "both vhosts listen on their ports", str(s.ports))

    st, hd, body = http_get_sync(pa, "/")
    R.check(st == 200 and b"hello lwstp" in body, "file mount serves /",
            "%s %r" % (st, body[:80]))
    R.check(hd.get("x-lwstp-test") == "alpha", "vhost headers are sent",
            str(hd))
    R.check("max-age=30" in hd.get("cache-control", ""),
            "mount cache settings", str(hd))
    st, hd, body = http_get_sync(pa, "/note.lwstp")
    R.check(st == 200 and hd.get("content-type", "").startswith(
        "text/plain"), "extra-mimetypes", "%s %s" % (st, hd))

    st, j = http_json(pa, "/ct")
    R.check(st == 200 and j["vhost"] == "alpha" and
            j["options"] == {"status": "ok", "default": "1", "threads": "3",
                             "quote": "a \"b\" \\ c"},
            "vhost alpha: its options reach PROTOCOL_INIT, in order",
            json.dumps(j))
    R.check(j and j.get("http_integrated") == 1,
            "protocols[0] is the lwstp integration (enqueue is not "
            "refused with NO_INTEGRATION)", json.dumps(j))
    st, j = http_json(pb, "/ct")
    R.check(st == 200 and j["vhost"] == "beta" and
            j["options"] == {"colour": "blue"},
            "vhost beta: its own options", json.dumps(j))

    if websockets:
        try:
            g = asyncio.run(ws_greeting(pa, "alpha"))
            R.check(g["vhost"] == "alpha",
                    "\"default\": \"1\": ws without a subprotocol gets "
                    "the protocol", json.dumps(g))
        except Exception as e:
            R.check(False, "ws to the default protocol", repr(e))
    else:
        R.check(False, "python3-websockets is needed (apt-get install "
                "python3-websockets)")

    rc = s.stop()
    R.check(rc == 0 and "lwstp-server: stopped" in s.out,
            "SIGTERM: clean exit 0", "rc=%s %s" % (rc, s.err[-500:]))


# name, files {relative path: text}, fragments the message must hold
def bad_cases(tmp):
    www = os.path.join(tmp, "www")
    p = 1  # never listened on: these all fail before
    good_vh = vhost("v", p, www, {})
    return [
        ("bad JSON", {"conf.d/x": '{\n  "vhosts": [{\n    "name" "v"\n'
                      '  }]\n}\n'},
         ["conf.d/x:3:", "vhosts[0].name", "bad JSON"]),
        ("mounts not an array", {"conf.d/x": '{"vhosts": [{"name": "v",\n'
                                 '"port": "80",\n"mounts": {}}]}'},
         ["conf.d/x:3:", "vhosts[0].mounts", "must be an array"]),
        ("port missing", {"conf.d/x": '{"vhosts": [\n\n  {"name": "v"}]}'},
         ["conf.d/x:3:", "vhosts[0]", "no \"port\""]),
        ("name missing", {"conf.d/x": '{"vhosts": [{"port": "80"}]}'},
         ["conf.d/x:1:", "vhosts[0]", "no \"name\""]),
        ("bad port", {"conf.d/x": '{"vhosts": [{"name": "v",\n'
                      '"port": "http"}]}'},
         ["conf.d/x:2:", "vhosts[0].port", "\"http\""]),
        ("port out of range", {"conf.d/x": '{"vhosts": [{"name": "v",\n'
                               '"port": "65536"}]}'},
         ["conf.d/x:2:", "vhosts[0].port", "1..65535"]),
        ("unknown scheme", {"conf.d/x": '{"vhosts": [{"name": "v", '
                            '"port": "80",\n"mounts": [{"mountpoint": "/",'
                            '\n"origin": "gopher://h"}]}]}'},
         ["conf.d/x:3:", "vhosts[0].mounts[0]", "gopher://h"]),
        ("global not an object", {"conf": '# x\n{"global": "yes"}'},
         ["/conf:2:", "global", "must be an object"]),
        ("wrong type in global", {"conf": '{"global": {\n'
                                  '"count-threads": {"n": 1}}}'},
         ["/conf:2:", "global.count-threads", "must be a number"]),
        ("a dotfile in conf.d is read (as lws reads it)",
         {"conf.d/.hidden": "not json at all"},
         ["conf.d/.hidden:1:", "bad JSON"]),
        ("TLS without init-ssl", {"conf.d/x": '{"vhosts": [{"name": "v",'
                                  ' "port": "80",\n"host-ssl-cert": "/c", '
                                  '"host-ssl-key": "/k"}]}'},
         ["conf.d/x:1:", "\"init-ssl\" is not on", "plain http"]),
        ("a protocol refusing its options",
         {"conf.d/x": vhost("v", p, www, {"fail-init": "1"})},
         ["conf.d/x:3:", "vhost \"v\"", "refused its options"]),
        ("trailing garbage", {"conf.d/x": good_vh + "\n}\n"},
         ["conf.d/x:%d:" % (good_vh.count("\n") + 2), "(top level)",
          "after the top-level object"]),
        ("empty file", {"conf.d/x": ""},
         ["conf.d/x:1:", "end of file"]),
        ("unknown protocol", {"conf.d/x": '{"vhosts": [\n{"name": "v", '
                              '"port": "80", "ws-protocols": '
                              '[{"no-such-protocol": {}}]}]}'},
         ["conf.d/x:2:", "\"v\"", "no-such-protocol"]),
        ("callback mount to a protocol no plugin has",
         {"conf.d/x": '{"vhosts": [{"name": "v", "port": "80", '
          '"mounts": [\n{"mountpoint": "/s", "origin": '
          '"callback://no-such-protocol"}]}]}'},
         ["conf.d/x:2:", "\"/s\"", "no plugin provides protocol "
          "\"no-such-protocol\""]),
    ]


def test_bad(tmp):
    for n, (name, files, frags) in enumerate(bad_cases(tmp)):
        d = os.path.join(tmp, "bad%d" % n)
        if "conf" not in files:
            write(os.path.join(d, "conf"), GLOBAL)
        for fn, text in files.items():
            write(os.path.join(d, fn), text)
        for extra in ([], ["--check"]):
            rc, out, err = run(BIN, ["-c", d] + extra)
            first = err.strip().splitlines()[-1] if err.strip() else ""
            R.check(rc != 0 and all(f in err for f in frags) and
                    d in err,
                    "bad config (%s)%s: exit %d, message names file, line, "
                    "key" % (name, " --check" if extra else "", rc),
                    "missing %r in: %s" % (
                        [f for f in frags if f not in err], first))


def test_runtime_failures(tmp):
    www = os.path.join(tmp, "www")
    # no conf at all
    d = os.path.join(tmp, "empty")
    os.makedirs(d)
    rc, out, err = run(BIN, ["-c", d])
    R.check(rc != 0 and os.path.join(d, "conf") in err and
            "cannot open" in err, "missing conf: named", err)

    # the port is taken
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    d = conf_dir(tmp, "busy", GLOBAL, {"x": vhost("v", port, www, {})})
    rc, out, err = run(BIN, ["-c", d])
    busy.close()
    R.check(rc == 1 and "ERROR on binding" in err and
            "Failed to create vhost v" in err,
            "port in use: exit 1, lws names the vhost", err[-400:])

    # the config's plugin dir is used; -p adds one, -n drops the server's
    d = conf_dir(tmp, "override", GLOBAL.replace(PLUGINS, "/nonexistent"),
                 {"x": vhost("v", 1, www, {"k": "v"})})
    rc, out, err = run(BIN, ["-c", d, "--check"])
    R.check(rc != 0 and "lwstp-conftest" in err and "/nonexistent" in err,
            "plugin dir from the config is used", err[-300:])
    rc, out, err = run(BIN, ["-c", d, "--check", "-n", "-p", PLUGINS])
    R.check(rc == 0, "-p adds a plugin dir", err[-300:])

    def make(port):
        return conf_dir(tmp, "override", GLOBAL.replace(
            PLUGINS, "/nonexistent"), {"x": vhost("v", port, www,
                                                  {"k": "v"})})
    s = serve(make, ["-p", PLUGINS])
    if R.check(s.ready, "served with -p", s.out + s.err[-300:]):
        st, j = http_json(s.port, "/ct")
        R.check(st == 200 and j["options"] == {"k": "v"},
                "the plugin from -p serves", str(j))
    R.check(s.stop() == 0, "clean stop")
    rc, out, err = run(BIN, ["-c", d, "--port", "0"])
    R.check(rc == 1 and "--port is for the built-in config" in err,
            "--port with -c refused: the config's ports stand", err)

    rc, out, err = run(BIN, ["--port", "x"])
    R.check(rc != 0 and "--port" in err, "bad --port refused", err)
    rc, out, err = run(BIN, ["--bogus"])
    R.check(rc != 0 and "unknown option" in err, "unknown option refused",
            err)
    for bad in ("abc", "-1", "4096", "7x", ""):
        rc, out, err = run(BIN, ["-d", bad, "--check"])
        R.check(rc == 1 and "-d %s: not a log level bitmap (0..4095)" %
                bad in err, "bad -d %r refused" % bad, err[-300:])
    rc, out, err = run(BIN, ["--help"])
    R.check(rc == 0 and out.startswith("usage: lwstp-server") and
            "(default 1031: err, warn,\n" in out and "SIGHUP reloads" in out
            and not err,
            "--help: usage and the true defaults on stdout", out + err)


def test_service_threads(tmp):
    """"count-threads": "2": on an lws with LWS_MAX_SMP 1 a warning (one
    thread serves); with LWS_MAX_SMP 2 the second service thread runs
    too, so connections lws puts on it are answered (until 2026-12 only
    thread 0 was serviced: those hung)"""
    www = os.path.join(tmp, "www")
    s = serve(lambda port: conf_dir(tmp, "smp", GLOBAL.replace(
        '"count-threads": "1"', '"count-threads": "2"'),
        {"x": vhost("v", port, www, {"k": "v"})}))
    if not R.check(s.ready, "count-threads 2: starts", s.err[-400:]):
        s.stop()
        return
    one = "this lws has LWS_MAX_SMP 1" in s.err
    conns = [http.client.HTTPConnection("127.0.0.1", s.port, timeout=20)
             for _ in range(6)]
    for c in conns:             # all open at once: lws spreads them
        c.connect()
    answered = 0
    for c in conns:
        c.request("GET", "/ct")
        r = c.getresponse()
        answered += r.status == 200 and b'"k":"v"' in r.read()
        c.close()
    R.check(answered == 6, "count-threads 2 (%s): 6 connections at once, "
            "all answered" % ("LWS_MAX_SMP 1: one thread" if one else
                              "two service threads"), str(answered))
    R.check(s.stop() == 0, "count-threads 2: clean stop", s.err[-300:])


def proc_ids(pid):
    """(real, effective, saved, fs) uids and gids of a process"""
    ids = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Uid", "Gid"):
                ids[k] = [int(x) for x in v.split()]
    return ids["Uid"], ids["Gid"]


def test_privileges(tmp):
    """Started as root with uid / gid in the config, the server listens and
    then runs as that user and group (all four ids, from /proc): until
    2026-12 the keys were only warned about and it stayed root"""
    if os.geteuid() != 0:
        print("SKIP privilege drop: not root")
        return
    www = os.path.join(tmp, "www")
    s = serve(lambda port: conf_dir(tmp, "privs", GLOBAL.replace(
        '"init-ssl": "no"', '"init-ssl": "no", "uid": "65534", '
        '"gid": "65534"'), {"x": vhost("v", port, www, {})}))
    if R.check(s.ready and server_pid(s), "uid/gid config: starts as root",
               s.err[-400:]):
        uids, gids = proc_ids(server_pid(s))
        R.check(uids == [65534] * 4 and gids == [65534] * 4,
                "then the server runs as uid 65534, gid 65534",
                "uids %r gids %r" % (uids, gids))
        uids, gids = proc_ids(s.proc.pid)
        R.check(uids == [0] * 4, "its root process stays root (to fork "
                "the next server at a reload, as lwsws)", str(uids))
        st, j = http_json(s.port, "/ct")
        R.check(st == 200, "and still serves", str(st))
    R.check(s.stop() == 0, "clean stop as the unprivileged user",
            s.err[-300:])
    d = conf_dir(tmp, "privs-bad", GLOBAL.replace(
        '"init-ssl": "no"', '"init-ssl": "no", "username": '
        '"no-such-user-lwstp"'), {"x": vhost("v", 1, www, {})})
    rc, out, err = run(BIN, ["-c", d])
    R.check(rc == 1 and "unknown username no-such-user-lwstp" in err,
            "an unknown username: refused to start, lws says why",
            err[-400:])


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True,
                   capture_output=True)


def make_pki(d):
    """a CA, a server certificate for 127.0.0.1 and a client certificate
    signed by it, and a client certificate the CA did not sign"""
    os.makedirs(d)
    p = lambda n: os.path.join(d, n)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=lwstp test CA", "-keyout", p("ca.key"),
            "-out", p("ca.pem"))
    for who in ("server", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj",
                "/CN=127.0.0.1" if who == "server" else "/CN=client",
                "-keyout", p(who + ".key"), "-out", p(who + ".csr"))
        openssl("x509", "-req", "-in", p(who + ".csr"), "-CA", p("ca.pem"),
                "-CAkey", p("ca.key"), "-CAcreateserial", "-days", "2",
                "-out", p(who + ".pem"))
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=stranger", "-keyout", p("stranger.key"),
            "-out", p("stranger.pem"))
    return p


def test_client_cert(tmp):
    """client-cert-required: a TLS client without a certificate signed by
    host-ssl-ca gets no answer; one with it gets the page (until 2026-12
    the key was warned about and ignored: every client got 200)"""
    www = os.path.join(tmp, "www")
    p = make_pki(os.path.join(tmp, "pki"))
    extra = (',\n    "host-ssl-cert": "%s", "host-ssl-key": "%s",\n'
             '    "host-ssl-ca": "%s", "client-cert-required": "1"' %
             (p("server.pem"), p("server.key"), p("ca.pem")))
    s = serve(lambda port: conf_dir(
        tmp, "ccert", GLOBAL.replace('"init-ssl": "no"', '"init-ssl": "yes"'),
        {"x": vhost("v", port, www, {}, extra)}))
    if R.check(s.ready, "client-cert-required: starts", s.err[-400:]):
        url = "https://127.0.0.1:%d/" % s.port

        def curl(*args):
            r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w",
                                "%{http_code}", "--cacert", p("ca.pem"),
                                "--max-time", "30"] + list(args) + [url],
                               capture_output=True, timeout=60)
            return r.returncode, r.stdout.decode()
        rc, code = curl()
        R.check(rc != 0 and code == "000",
                "no client certificate: refused in the handshake",
                "curl %d, http %s" % (rc, code))
        rc, code = curl("--cert", p("stranger.pem"), "--key",
                        p("stranger.key"))
        R.check(rc != 0 and code == "000",
                "a certificate the CA did not sign: refused",
                "curl %d, http %s" % (rc, code))
        rc, code = curl("--cert", p("client.pem"), "--key",
                        p("client.key"))
        R.check(rc == 0 and code == "200",
                "a certificate signed by host-ssl-ca: served",
                "curl %d, http %s" % (rc, code))
    R.check(s.stop() == 0, "client-cert-required: clean stop",
            s.err[-300:])


def main():
    with tempfile.TemporaryDirectory(prefix="lwstp-conf-") as tmp:
        test_good(tmp)
        test_bad(tmp)
        test_runtime_failures(tmp)
        test_service_threads(tmp)
        test_privileges(tmp)
        test_client_cert(tmp)
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
