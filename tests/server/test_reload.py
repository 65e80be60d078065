#!/usr/bin/python3
"""lwstp-server's root process: SIGHUP reloads, SIGINT / SIGTERM stop.

usage: test_reload.py LWSTP-SERVER PLUGIN-DIR

On a config with the lws-threadpool plugin (2 threads), a ws client runs a
job of 4 GiB (seconds of work) and a second client stays connected idle.
The config is changed to 3 threads and the root process gets SIGHUP:

  - a new server starts ("ready" again, another pid) and a new connection
    sees the new config (/status: 3 threads);
  - the accepted connections stay with the old server: the running job
    goes on (its progress still arrives) and is stopped by its client, and
    the idle client runs a job to its end and gets the right digest;
  - when both have closed, the old server exits 0, its pool having
    cleaned up every job it ran.

Then a reload onto a config the server would refuse ("threads": "abc")
leaves the running server alone, and SIGINT (or SIGTERM) with a job
running stops the root and the server, exit 0, every job cleaned up."""

import asyncio
import json
import os
import re
import signal
import sys
import tempfile
import time

import websockets

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
from lwstptest import (ReadyServer, Tally, expected_sha256,  # noqa: E402
                       http_json, pool_lines, start_on_free_ports,
                       write_lwsws_conf)

BIN, PLUGINS = sys.argv[1], sys.argv[2]
R = Tally(verbose=True)
BIG = 4 << 30
TIMEOUT = 60


def config(d, port, threads):
    return write_lwsws_conf(d, {"plugin-dir": PLUGINS}, [{
        "name": "localhost", "port": str(port), "interface": "127.0.0.1",
        "mounts": [{"mountpoint": "/status",
                    "origin": "callback://lws-threadpool"}],
        "ws-protocols": [{"lws-threadpool": {
            "threads": str(threads), "max-job-size": str(BIG),
            "progress-interval-ms": "0"}}]}])


def wait_err(s, text, timeout=TIMEOUT):
    """waits for a line in the server's log (a file: polled)"""
    deadline = time.monotonic() + timeout
    while text not in s.err:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)            # polling a file another process writes
    return True


def pids(s):
    return [int(p) for p in re.findall(r"lwstp-server: server pid (\d+)",
                                       s.out)]


async def recv(ws):
    return json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))


async def until(ws, types):
    while True:
        m = await recv(ws)
        if m["type"] in types:
            return m


async def connect(port):
    return await websockets.connect("ws://127.0.0.1:%d/" % port,
                                    subprotocols=["lws-threadpool"],
                                    open_timeout=TIMEOUT)


async def reload_keeps_connections(s, d, port):
    busy = await connect(port)
    idle = await connect(port)
    await busy.send(json.dumps({"op": "start", "job": "sha256",
                                "size": BIG}))
    job = await until(busy, ("started",))
    await until(busy, ("progress",))        # it runs on a worker

    config(d, port, 3)
    os.kill(s.proc.pid, signal.SIGHUP)
    ok = await asyncio.to_thread(s.read_until, r"lwstp-server: ready\n", 2,
                                 TIMEOUT)
    if not R.check(ok and len(set(pids(s))) == 2,
                   "SIGHUP: a new server (another pid) is ready",
                   s.out + s.err[-600:]):
        return None
    old = pids(s)[0]
    st, j = http_json(port, "/status")
    R.check(st == 200 and j["threads"] == 3,
            "a new connection gets the re-read config (3 threads)",
            str(j)[:200])

    m = await until(busy, ("progress", "result", "stopped", "error"))
    R.check(m["type"] == "progress" and m["id"] == job["id"],
            "the running job goes on in the old server", str(m))
    size = 3 * 1048576 + 1
    await idle.send(json.dumps({"op": "start", "job": "sha256",
                                "size": size}))
    m = await until(idle, ("result", "stopped", "error"))
    R.check(m["type"] == "result" and m["sha256"] == expected_sha256(size),
            "an accepted idle connection still runs jobs to the end", str(m))
    await busy.send(json.dumps({"op": "stop", "id": job["id"]}))
    m = await until(busy, ("result", "stopped", "error"))
    R.check(m["type"] == "stopped", "the old job is stopped by its client",
            str(m))
    R.check(not s.out.count("stopped (pid %d)" % old),
            "the old server waits for its connections", s.out)
    await busy.close()
    await idle.close()
    return old


def main():
    tmp = tempfile.TemporaryDirectory(prefix="lwstp-reload-")
    d = os.path.join(tmp.name, "cfg")

    def started(ports):
        config(d, ports[0], 2)
        srv = ReadyServer(BIN, ["-c", d, "-n"])
        srv.start(TIMEOUT)
        return srv
    s = start_on_free_ports(started, 1)
    if not R.check(s.ready, "starts", s.out + s.err[-600:]):
        s.kill()
        return R.summary()
    port = s.port

    old = asyncio.run(reload_keeps_connections(s, d, port))
    if old:
        ok = wait_err(s, "the old server (pid %d) finished its "
                      "connections, exit 0" % old)
        ok = ok and s.read_until(r"stopped \(pid %d\) after a reload" % old,
                                 1, TIMEOUT)
        R.check(ok,
                "the old server exits 0 once its connections closed",
                s.err[-600:])
        lines = pool_lines(s.err)   # (--check's probes log pools too)
        R.check(any(v == "localhost" and c["enqueued"] == 2 and
                    c["cleanups"] == 2 and not c["bad"] for v, c in lines),
                "its pool ran the two jobs, each cleaned up", str(lines))

    # a config the server would refuse: the running one stays
    with open(os.path.join(d, "conf.d", "localhost")) as f:
        good = f.read()
    with open(os.path.join(d, "conf.d", "localhost"), "w") as f:
        f.write(good.replace('"threads": "3"', '"threads": "abc"'))
    os.kill(s.proc.pid, signal.SIGHUP)
    R.check(wait_err(s, "reload refused"), "a bad config: reload refused",
            s.err[-600:])
    st, j = http_json(port, "/status")
    R.check(st == 200 and j["threads"] == 3 and
            s.out.count("lwstp-server: ready") == 2,
            "and the running server goes on", str(j)[:200])

    # SIGINT with a job running: everything stops, every job cleaned up
    async def running():
        ws = await connect(port)
        await ws.send(json.dumps({"op": "start", "job": "sha256",
                                  "size": BIG}))
        await until(ws, ("progress",))
        return ws
    loop = asyncio.new_event_loop()
    ws = loop.run_until_complete(running())
    s.proc.send_signal(signal.SIGINT)
    rc = s.wait_exit(TIMEOUT)
    cur = pids(s)[-1]
    R.check(rc == 0 and "stopped (pid %d)" % cur in s.out,
            "SIGINT with a job running: the root and the server exit 0",
            "rc %s %s" % (rc, s.err[-600:]))
    lines = pool_lines(s.err)       # (--check's probes log pools too)
    R.check(all(c["enqueued"] == c["cleanups"] and not c["bad"]
                for _v, c in lines) and
            sum(c["enqueued"] for _v, c in lines) == 3,
            "each server's pool cleaned up every job", str(lines))
    try:
        loop.run_until_complete(ws.close())
    except websockets.exceptions.ConnectionClosed:
        pass                        # the server is gone
    loop.close()
    s.cleanup()
    tmp.cleanup()
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
