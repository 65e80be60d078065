#!/usr/bin/python3
"""SIGINT and SIGTERM with work in flight: every server shuts down clean.

usage: shutdown_signals.py --ws LWSTP_WS_SERVER
                           [--plugin-server TEST_PLUGIN_SERVER]
                           [--lwstp-server LWSTP_SERVER]

For each server and each of SIGINT and SIGTERM: start it on a free loopback
port, put work in every state (a task running, one waiting in SYNC, queued
ones, a detached OUTLIVE one still running, streams in progress), wait until
the server's own status page shows that state, send the signal, and check:
exit code 0 within LWSTP_SIGNAL_EXIT_BOUND_S (default 20 s; the time taken is
printed), the exit line's counters balanced (every accepted task got exactly
one cleanup) and at least what was accepted before the signal, no error
from the library or a sanitizer in its log, and no client left hanging.

  lwstp-ws-server     poll loop, and --uv (its signal_cb destroys the
                      context from the loop)
  test-plugin-server  the lws-threadpool plugin compiled in
  lwstp-server        the built-in config, the plugin loaded as a .so; it
                      prints no counters at exit (see docs/RELIABILITY.md),
                      so its /status totals before the signal are printed

Prints "N passed, N failed" last.
"""

import argparse
import asyncio
import json
import os
import re
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
import lwstptest as R                                   # noqa: E402

import websockets                                       # noqa: E402

EXIT_BOUND_S = float(os.environ.get("LWSTP_SIGNAL_EXIT_BOUND_S", "20"))
SIGS = [("SIGINT", signal.SIGINT), ("SIGTERM", signal.SIGTERM)]


async def drain(ws):
    """Read until the server closes; how many messages came."""
    n = 0
    try:
        while n < 10 ** 7:
            await R.recv(ws, 60)
            n += 1
    except websockets.ConnectionClosed:
        pass
    return n


async def check_exit(t, srv, signame, sig, accepted, readers, what,
                     exit_line=True):
    code, secs = await srv.signal_exit(sig, EXIT_BOUND_S * 3)
    ex = srv.exit_counts() if exit_line else None
    print("%s %s: exit %d in %.3f s%s" % (
        what, signame, code, secs,
        ", exit line enqueued=%d cleanups=%d" % ex if ex else ""))
    t.check(code == 0, "%s %s: exit code %d\n%s" % (
        what, signame, code, srv.stderr()[-3000:]))
    t.check(secs < EXIT_BOUND_S, "%s %s: %.1f s to exit" %
            (what, signame, secs))
    if exit_line:
        t.check(ex is not None and ex[0] == ex[1] and ex[0] >= accepted,
                "%s %s: exit line %s, %d accepted before the signal" %
                (what, signame, ex, accepted))
    bad = srv.lib_errors()
    t.check(not bad, "%s %s: errors logged: %r" % (what, signame, bad[:5]))
    # every client sees its connection end: nothing hangs
    got = await asyncio.wait_for(asyncio.gather(*readers), 60)
    t.check(all(n >= 0 for n in got), "readers")


# --- lwstp-ws-server ---------------------------------------------------------

async def ws_server(t, binary, extra, signame, sig):
    srv = await R.Server(binary, ["--threads", "4", "--queue", "64"] +
                         extra, name="lwstp-ws-server").start()
    what = "lwstp-ws-server" + (" " + " ".join(extra) if extra else "")
    try:
        # a task waiting in SYNC for an ack
        held = await R.ws_connect(srv.port, count=5, ack=1)
        assert await R.recv(held) == "t0 seq 0"
        # a detached OUTLIVE task, running on after its client left
        gone = await R.ws_connect(srv.port, count=10000, work_us=5000,
                                  outlive=1)
        assert await R.recv(gone) == "t0 seq 0"
        await R.abort(gone)
        # two streams in progress
        streams = [await R.ws_connect(srv.port, count=10 ** 6)
                   for _ in range(2)]
        for ws in streams:
            assert await R.recv(ws) == "t0 seq 0"
        # and two connections whose tasks wait for a worker
        queued = [await R.ws_connect(srv.port, count=3, tasks=2)
                  for _ in range(2)]
        st = await srv.wait_stats(
            lambda s: s["tp"]["queued"] == 4 and s["tp"]["running"] == 4
            and s["tp"]["syncing"] >= 1 and s["tp"]["detached"] >= 1,
            "4 running (1 detached, 1 syncing), 4 queued")
        readers = [asyncio.ensure_future(drain(ws))
                   for ws in [held] + streams + queued]
        await check_exit(t, srv, signame, sig, st["enqueued"], readers,
                         what)
        t.check("pool destroyed" in srv.stderr(),
                "%s %s: the protocol was not destroyed" % (what, signame))
    finally:
        srv.kill()


# --- the lws-threadpool plugin ------------------------------------------------

PLUGIN_PROTO = "lws-threadpool"


async def pl_connect(port):
    return await R.ws_connect(port, proto=PLUGIN_PROTO)


async def pl_start(ws, size, outlive=False):
    await ws.send(json.dumps({"op": "start", "job": "sha256", "size": size,
                              "outlive": outlive}))
    while True:
        m = json.loads(await R.recv(ws, 60))
        if m["type"] in ("started", "error"):
            return m


async def plugin_work(srv, threads, big):
    """threads jobs running (one of them OUTLIVE with its client gone),
    2 queued; returns the clients and the /status seen."""
    clients = []
    running = [await pl_connect(srv.port) for _ in range(threads - 1)]
    for ws in running:
        m = await pl_start(ws, big)
        assert m["type"] == "started", m
    clients += running
    gone = await pl_connect(srv.port)
    m = await pl_start(gone, big, outlive=True)
    assert m["type"] == "started" and m["token"], m
    await R.abort(gone)
    q = await pl_connect(srv.port)
    for _ in range(2):
        m = await pl_start(q, big)
        assert m["type"] == "started", m
    clients.append(q)
    st = await srv.wait_stats(
        lambda s: s["running"] == threads and s["queued"] == 2 and
        s["totals"]["detached"] >= 1,
        "%d running jobs (1 detached), 2 queued" % threads, path="/status")
    return clients, st


async def plugin_server(t, binary, signame, sig):
    big = 4 << 30
    srv = R.Server(binary, ["--pvo", "threads=2", "--pvo",
                            "max-job-size=%d" % big],
                   name="test-plugin-server", health="/status")
    await srv.start()
    try:
        clients, st = await plugin_work(srv, 2, big)
        readers = [asyncio.ensure_future(drain(ws)) for ws in clients]
        await check_exit(t, srv, signame, sig, st["totals"]["enqueued"],
                         readers, "test-plugin-server")
    finally:
        srv.kill()


async def lwstp_server(t, binary, signame, sig):
    big = 1 << 30       # the built-in config's max-job-size
    srv = R.Server(binary, [], name="lwstp-server", health="/status")
    await srv.start()
    try:
        clients, st = await plugin_work(srv, 4, big)
        print("lwstp-server %s: /status totals before the signal: %s" %
              (signame, st["totals"]))
        readers = [asyncio.ensure_future(drain(ws)) for ws in clients]
        await check_exit(t, srv, signame, sig, st["totals"]["enqueued"],
                         readers, "lwstp-server", exit_line=False)
        t.check(re.search(r"lwstp-server: stopped", srv.stdout()),
                "lwstp-server %s: no 'stopped' line" % signame)
    finally:
        srv.kill()


async def main(t, argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--ws", required=True)
    ap.add_argument("--plugin-server")
    ap.add_argument("--lwstp-server")
    a = ap.parse_args(argv[1:])
    for signame, sig in SIGS:
        for extra in ([], ["--uv"]):
            await t.run(" ".join(["lwstp-ws-server"] + extra + [signame]),
                        ws_server(t, a.ws, extra, signame, sig), 120)
        if a.plugin_server:
            await t.run("test-plugin-server %s" % signame,
                        plugin_server(t, a.plugin_server, signame, sig), 120)
        if a.lwstp_server:
            await t.run("lwstp-server %s" % signame,
                        lwstp_server(t, a.lwstp_server, signame, sig), 120)


if __name__ == "__main__":
    R.run_script(main, __doc__, min_args=1)
