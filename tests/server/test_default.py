#!/usr/bin/env python3
"""lwstp-server with its built-in configuration and the real plugin.

usage: test_default.py LWSTP-SERVER PLUGIN-DIR

Starts the server with no -c on a free port (--port 0): it must find
libprotocol_lws_threadpool.so in the build tree by itself (lws_plugins_init
on its compiled-in plugin dir), serve the demo page at / and the pool's
/status, run jobs over ws and HTTP, and stop cleanly on SIGTERM.  Then the
same with --plugin-dir, and the built-in config written out with
--write-config and loaded back with -c (lws's loader reads it either way:
without -c the server writes it to a temporary directory)."""

import asyncio
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
from lwstptest import (ReadyServer, Tally, expected_sha256,  # noqa: E402
                       http_get_sync, http_json, run, start_on_free_ports)

import websockets

BIN, PLUGINS = sys.argv[1], sys.argv[2]
R = Tally(verbose=True)
SIZE = 3 * 1048576 + 5


async def ws_jobs(port):
    async with websockets.connect("ws://127.0.0.1:%d/" % port,
                                  subprotocols=["lws-threadpool"],
                                  open_timeout=20) as ws:
        async def recv():
            return json.loads(await asyncio.wait_for(ws.recv(), 60))

        await ws.send(json.dumps({"op": "start", "job": "sha256",
                                  "size": SIZE, "outlive": False}))
        m = await recv()
        R.check(m["type"] == "started" and m["size"] == SIZE and
                m["token"] is None, "ws: started", json.dumps(m))
        jid = m["id"]
        while m["type"] != "result":
            m = await recv()
            if m["type"] not in ("progress", "result"):
                break
        R.check(m["type"] == "result" and m["id"] == jid and
                m["sha256"] == expected_sha256(SIZE),
                "ws: result with the right sha256", json.dumps(m))

        # an outliving job: token, then reattach from another connection
        await ws.send(json.dumps({"op": "start", "job": "sha256",
                                  "size": 4096, "outlive": True}))
        m = await recv()
        token = m.get("token")
        R.check(m["type"] == "started" and isinstance(token, str) and
                len(token) == 32, "ws: outliving job has a token",
                json.dumps(m))
        while m["type"] != "result":
            m = await recv()
    async with websockets.connect("ws://127.0.0.1:%d/" % port,
                                  subprotocols=["lws-threadpool"],
                                  open_timeout=20) as ws2:
        await ws2.send(json.dumps({"op": "attach", "token": token}))
        seen = []
        while True:
            m = json.loads(await asyncio.wait_for(ws2.recv(), 60))
            seen.append(m["type"])
            if m["type"] in ("result", "stopped", "error"):
                break
        R.check(seen[0] == "attached" and seen[-1] == "result" and
                m["sha256"] == expected_sha256(4096),
                "ws: attach by token on a new connection", str(seen))


def started(args):
    s = ReadyServer(BIN, args)
    s.start()
    return s


def check_server(s, what):
    """s: a ReadyServer, started"""
    if not R.check(s.ready, "%s: starts" % what, s.out + s.err[-800:]):
        s.stop()
        return
    port = s.port
    R.check(port > 0, "%s: listens on a free port (%d)" % (what, port))
    R.check("libprotocol_lws_threadpool.so" in s.err,
            "%s: the plugin was loaded by lws_plugins_init" % what,
            s.err[-500:])

    st, hd, body = http_get_sync(port, "/")
    R.check(st == 200 and b"lws-threadpool demo" in body and
            hd.get("content-type", "").startswith("text/html"),
            "%s: / serves the demo page" % what, "%s %s" % (st, hd))
    for f, ct in (("/demo.js", "javascript"), ("/demo.css", "text/css")):
        st, hd, body = http_get_sync(port, f)
        R.check(st == 200 and len(body) > 1000 and
                ct in hd.get("content-type", ""),
                "%s: %s served" % (what, f), "%s %s" % (st, hd))

    st, j = http_json(port, "/status")
    R.check(st == 200 and j["vhost"] == "localhost" and j["threads"] == 4
            and j["config"]["max-queue-depth"] == 64 and
            j["config"]["max-job-size"] == 1073741824,
            "%s: /status shows the built-in options" % what, str(j)[:300])

    st, hd, body = http_get_sync(port, "/job?size=%d" % SIZE)
    lines = [json.loads(x) for x in body.decode().splitlines() if x]
    R.check(st == 200 and lines and lines[0]["type"] == "started" and
            lines[-1]["type"] == "result" and
            lines[-1]["sha256"] == expected_sha256(SIZE),
            "%s: HTTP /job streams a job" % what, body[:300])

    asyncio.run(ws_jobs(port))

    st, j = http_json(port, "/status")
    R.check(st == 200 and j["totals"]["finished"] >= 3,
            "%s: /status counts the jobs" % what, str(j.get("totals")))

    rc = s.stop()
    R.check(rc == 0 and "lwstp-server: stopped" in s.out,
            "%s: SIGTERM: clean exit 0" % what, "rc=%s %s" %
            (rc, s.err[-500:]))


def main():
    if not PLUGINS or not os.path.isdir(PLUGINS):
        print("the lws-threadpool plugin was not built (plugin dir %r)" %
              PLUGINS)
        R.check(False, "plugin present")
        return R.summary()

    check_server(started(["--port", "0"]), "built-in config")
    check_server(started(["--port", "0", "--plugin-dir", PLUGINS]),
                 "built-in config, --plugin-dir")

    with tempfile.TemporaryDirectory(prefix="lwstp-default-") as tmp:
        d = os.path.join(tmp, "cfg")
        rc, out, err = run(BIN, ["--write-config", d])
        R.check(rc == 0 and os.path.isfile(os.path.join(d, "conf")) and
                os.path.isfile(os.path.join(d, "conf.d", "localhost")),
                "--write-config writes conf and conf.d/localhost",
                out + err)
        rc, out, err = run(BIN, ["-c", d, "--check"])
        R.check(rc == 0 and "config ok: 1 vhost, 0 warnings" in out,
                "the written config checks clean", out + err)

        def written(ports):     # the same, on a port free now
            run(BIN, ["--write-config", d, "--port", str(ports[0])])
            return started(["-c", d])
        check_server(start_on_free_ports(written, 1), "written config")
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
