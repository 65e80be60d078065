#!/usr/bin/python3
"""Chaos: hundreds of ws connections that vanish in every task state.

usage: chaos.py REL_SERVER_BINARY [LWSTP_WS_SERVER]

Runs tests/reliability/lwstp-rel-server (the lwstp-ws-server protocol plus
hold / stop / reap and per-state close counters; see rel-server.c) twice:
dequeueing at WS_SERVER_DROP_PROTOCOL, and --no-dequeue (the library's
WSI_DESTROY handling).  A client opens LWSTP_CHAOS_CONNS connections
(default 300 per server), at most LWSTP_CHAOS_PARALLEL (48) at a time, with
1..4 tasks each, with and without OUTLIVE.  Each connection's behaviour is
drawn from a generator seeded with LWSTP_CHAOS_SEED (default 5151) and its
index, so a run is reproducible:

  stay           reads its streams to "done", closes cleanly
  stay_ack       the same, acking each message (ack=1)
  abort_early    transport.abort() right after the handshake (tasks queued
                 or just started)
  abort_running  work_us of several ms, abort after k messages (the task is
                 computing its next one)
  abort_syncing  ack=1, abort with a message unacked (the task waits in SYNC)
  abort_done     hold=1, abort once a task was announced ended but not
                 reaped (on the done list)
  stop           "stop" after k messages, then read to "done"
  stop_ack       ack=1, "stop" instead of the k-th ack, then read to "done"
  stop_abort     "stop" after k messages, then abort at once (the tasks are
                 stopping)

Aborts send no close frame.  Checks: every message of every task arrives in
order without duplicates; every connection that stays gets each task's
stream complete ("tI end finished N" with N == count, then "done"), and a
stopped task's "end" line matches what arrived; the server counted tasks
closed while queued, running, syncing and done (each > 0); every task got
exactly one cleanup (/stats, and the exit line after SIGTERM, exit code 0:
ASan/LSan and UBSan abort or fail the exit code); a separate process GETs
/health every 20 ms throughout: none fails, the slowest is under
LWSTP_HEALTH_BOUND_MS (default 5000; typically tens of ms).

With LWSTP_WS_SERVER, a third run (half as many connections) drives
test-apps/lwstp-ws-server itself with the kinds its protocol allows (stay,
stay_ack, abort_early, abort_running, abort_syncing, and stop_ack with one
task): the same stream, cleanup, health and exit checks, without the
per-state counts it does not keep.

Prints the connections per kind, the server's close-state counts, the
health latencies; "N passed, N failed" last.
"""

import asyncio
import os
import random
import re
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
import lwstptest as R                                   # noqa: E402

import websockets                                       # noqa: E402

CONNS = int(os.environ.get("LWSTP_CHAOS_CONNS", "300"))
PARALLEL = int(os.environ.get("LWSTP_CHAOS_PARALLEL", "48"))
SEED = int(os.environ.get("LWSTP_CHAOS_SEED", "5151"))
# generous, for loaded CI machines; the max seen is printed
HEALTH_BOUND_MS = float(os.environ.get("LWSTP_HEALTH_BOUND_MS", "5000"))
THREADS = 4

KINDS = [("stay", 18), ("stay_ack", 10), ("abort_early", 14),
         ("abort_running", 14), ("abort_syncing", 14), ("abort_done", 12),
         ("stop", 10), ("stop_ack", 8), ("stop_abort", 8)]

# lwstp-ws-server has no hold / end lines / per-state counters: the kinds
# that need none of them, and "stop" only in ack mode (it stops the task
# whose message waits for an ack)
WS_KINDS = [("stay", 20), ("stay_ack", 12), ("abort_early", 18),
            ("abort_running", 18), ("abort_syncing", 18), ("stop_ack", 14)]

SEQ = re.compile(r"t(\d) seq (\d+)( x+)?$")
NOTE = re.compile(r"t(\d) (fin|end) (finished|stopped|detached) (\d+)$")


class StreamError(AssertionError):
    pass


class Conn:
    """One connection's plan and what it received."""

    def __init__(self, i, ws=False):
        rng = random.Random("%d-%d" % (SEED, i))
        kinds = WS_KINDS if ws else KINDS
        self.i = i
        self.ws = ws
        self.rng = rng
        self.kind = rng.choices([k for k, _ in kinds],
                                [w for _, w in kinds])[0]
        self.tasks = rng.randint(1, 4)
        if ws and self.kind == "stop_ack":
            self.tasks = 1
        self.outlive = int(rng.random() < 0.35)
        self.pad = rng.choice([0, 0, 0, 16, 1000])
        self.params = {"tasks": self.tasks, "outlive": self.outlive,
                       "pad": self.pad}
        k = self.kind
        if k in ("stay", "stay_ack"):
            self.count = rng.randint(0, 25)
            self.params["work_us"] = rng.choice([0, 0, 300])
        elif k == "abort_early":
            self.count = rng.randint(5, 30)
            self.params["work_us"] = rng.choice([0, 1000])
        elif k == "abort_running":
            self.count = rng.randint(5, 30)
            self.params["work_us"] = rng.randint(3000, 10000)
        elif k == "abort_syncing":
            self.count = rng.randint(2, 20)
        elif k == "abort_done":
            self.count = rng.randint(1, 8)
            self.params["hold"] = 1
            self.params["work_us"] = rng.choice([0, 0, 2000])
            self.stop_first = rng.random() < 0.4
        elif k == "stop":
            self.count = rng.randint(20, 60)
            self.params["work_us"] = rng.randint(500, 3000)
        elif k == "stop_abort":
            self.count = rng.randint(10, 30)
            self.params["work_us"] = rng.randint(3000, 10000)
        else:   # stop_ack
            self.count = rng.randint(5, 30)
        if k in ("stay_ack", "abort_syncing", "stop_ack"):
            self.params["ack"] = 1
        self.params["count"] = self.count
        self.total = self.tasks * self.count
        self.got = [0] * self.tasks             # next seq expected
        self.notes = {}                          # (task, fin|end) -> (s, n)
        self.done = None
        self.msgs = 0

    def fail(self, what):
        raise StreamError("conn %d (%s, %s): %s" %
                          (self.i, self.kind, self.params, what))

    def take(self, m):
        """Check one message against everything received so far."""
        self.msgs += 1
        if self.done is not None:
            self.fail("%r after %r" % (m, self.done))
        s = SEQ.match(m)
        if s:
            t, n = int(s.group(1)), int(s.group(2))
            if t >= self.tasks:
                self.fail("message of task %d: %r" % (t, m))
            if n != self.got[t]:
                self.fail("task %d: seq %d, expected %d (lost, repeated "
                          "or out of order)" % (t, n, self.got[t]))
            if self.pad and len(s.group(3) or "") != self.pad + 1:
                self.fail("task %d seq %d: wrong padding" % (t, n))
            if ("end", t) in self.notes:
                self.fail("task %d: %r after its end" % (t, m))
            self.got[t] += 1
            return "seq"
        s = NOTE.match(m)
        if s:
            t, what, st, n = (int(s.group(1)), s.group(2), s.group(3),
                              int(s.group(4)))
            if t >= self.tasks or (what, t) in self.notes:
                self.fail("unexpected or repeated %r" % m)
            self.notes[(what, t)] = (st, n)
            return what
        if m.startswith("done"):
            self.done = m
            return "done"
        self.fail("unexpected message %r" % m)

    def check_complete(self, stopped_at=None):
        """A connection that read to "done": every task's end line
        matches what arrived; a task that was not stopped sent all."""
        if self.ws:     # no end lines: whole streams, or the one stopped
            if stopped_at is None:
                want, counts = "done", [self.count] * self.tasks
            else:
                want, counts = "done stopped=1", [stopped_at]
            if self.done != want or self.got != counts:
                self.fail("ended %r after %r messages, want %r after %r" %
                          (self.done, self.got, want, counts))
            return
        stopped = 0
        for t in range(self.tasks):
            if ("end", t) not in self.notes:
                self.fail("no end line for task %d" % t)
            st, n = self.notes[("end", t)]
            if st != "detached" and n != self.got[t]:
                self.fail("task %d: end says %d messages, %d arrived" %
                          (t, n, self.got[t]))
            if st == "finished" and n != self.count:
                self.fail("task %d finished after %d of %d messages" %
                          (t, n, self.count))
            if st != "finished":
                stopped += 1
                if not self.kind.startswith("stop"):
                    self.fail("task %d %s, but nothing stopped it" %
                              (t, st))
        want = "done stopped=%d" % stopped if stopped else "done"
        if self.done != want:
            self.fail("last message %r, want %r" % (self.done, want))


async def run_conn(port, c, counts):
    ws = await R.ws_connect(port, **c.params)
    k = c.kind
    try:
        if k == "abort_early":
            await R.abort(ws)
            return
        if k == "abort_running":
            goal = c.rng.randint(1, c.total - 1)
            while c.msgs < goal:
                c.take(await R.recv(ws))
            await R.abort(ws)
            return
        if k == "abort_syncing":
            goal = c.rng.randint(1, c.total)
            while c.msgs < goal:
                c.take(await R.recv(ws))
                if c.msgs < goal:
                    await ws.send("ack")
            await R.abort(ws)
            return
        if k == "abort_done":
            want_all = c.rng.random() < 0.5
            fins = 0
            if c.stop_first:    # some end STOPPED, if still running
                c.take(await R.recv(ws))
                await ws.send("stop")
            # "fin": ended, held unreaped; "end": a queued task the stop
            # dequeued
            while fins < (c.tasks if want_all else 1) and c.done is None:
                if c.take(await R.recv(ws)) in ("fin", "end"):
                    fins += 1
            await R.abort(ws)
            return
        if k == "stop_abort":     # vanish right after asking to stop
            goal = c.rng.randint(1, c.total - 1)
            while c.msgs < goal:
                c.take(await R.recv(ws))
            await ws.send("stop")
            await R.abort(ws)
            return
        # the kinds that stay to "done"
        stop_at = c.rng.randint(1, 10) if k.startswith("stop") else -1
        stopped = None
        while c.done is None:
            if c.msgs > 10 * (c.total + 2 * c.tasks + 1):
                c.fail("no done after %d messages" % c.msgs)
            what = c.take(await R.recv(ws))
            if what != "seq":
                continue
            if stopped is None and c.msgs >= stop_at > 0:
                await ws.send("stop")
                stopped = c.msgs
            elif k in ("stay_ack", "stop_ack") and stopped is None:
                await ws.send("ack")
        c.check_complete(stopped)
        await ws.close()
    finally:
        if ws.open and "abort" in k:
            await R.abort(ws)


async def chaos_run(t, binary, extra, ws=False):
    name = "lwstp-ws-server" if ws else "lwstp-rel-server"
    srv = await R.Server(binary, ["--threads", str(THREADS), "--queue",
                                  "1024"] + extra, name=name).start()
    tag = " ".join(extra) or "dequeue at DROP_PROTOCOL"
    print("# %s: %d threads, %s" % (name, THREADS, tag))
    prober = R.Prober(srv.port, 20)
    conns = [Conn(i, ws) for i in range(CONNS // 2 if ws else CONNS)]
    sem = asyncio.Semaphore(PARALLEL)
    errors, counts = [], {}
    t0 = time.monotonic()

    async def one(c):
        async with sem:
            try:
                await run_conn(srv.port, c, counts)
            except (StreamError, AssertionError, asyncio.TimeoutError,
                    websockets.ConnectionClosed, OSError) as e:
                errors.append("conn %d (%s): %s: %s" %
                              (c.i, c.kind, type(e).__name__, e))

    try:
        await asyncio.gather(*(one(c) for c in conns))
        elapsed = time.monotonic() - t0
        st = await srv.wait_settled()
    finally:
        health = prober.stop()

    kinds = {}
    for c in conns:
        key = c.kind + (" outlive" if c.outlive else "")
        kinds[key] = kinds.get(key, 0) + 1
    print("connections: %d in %.1f s, %d tasks accepted" %
          (len(conns), elapsed, st["enqueued"]))
    for k, _ in (WS_KINDS if ws else KINDS):
        print("  %-14s %4d (%d with OUTLIVE)" %
              (k, kinds.get(k, 0) + kinds.get(k + " outlive", 0),
               kinds.get(k + " outlive", 0)))
    aborted = sum(n for k, n in kinds.items() if "abort" in k)
    print("disconnects without close frame: %d; stop requests: %s" %
          (aborted, st.get("stops", sum(n for k, n in kinds.items()
                                        if "stop" in k))))
    cw = st.get("closed_while")
    if cw:
        print("tasks bound to a connection as it closed: queued %d, "
              "running %d, syncing %d, stopping %d, done (finished %d, "
              "stopped %d)" % (cw["queued"], cw["running"], cw["syncing"],
                               cw["stopping"], cw["finished"],
                               cw["stopped"]))
    print("tasks: completed %d, detached cleanups %d, pool: finished %d, "
          "stopped %d, detached %d, syncs %d" %
          (st["completed"], st["cleanups_detached"], st["tp"]["finished"],
           st["tp"]["stopped"], st["tp"]["detached"], st["tp"]["syncs"]))
    print("health: %d probes, %d failed, max %.1f ms, p99 %.1f ms, "
          "p50 %.1f ms (slowest TCP connect %.1f ms, slowest answer "
          "after it %.1f ms)" % (health["probes"], health["fails"],
                                  health["max_ms"], health["p99_ms"],
                                  health["p50_ms"],
                                  health["max_connect_ms"],
                                  health["max_answer_ms"]))

    for e in errors[:10]:
        print("  " + e)
    t.check(not errors, "%d connections saw a wrong stream or error"
            % len(errors))
    t.check(st["bad_cleanups"] == 0 and st.get("foreign_tasks", 0) == 0,
            "bad cleanups / foreign tasks: %s" % st)
    t.check(st["cleanups"] == st["enqueued"] > 0,
            "cleanups %d != enqueued %d" % (st["cleanups"], st["enqueued"]))
    t.check(st["refused"] == 0, "connections refused: %d" % st["refused"])
    if cw:
        for state in ("queued", "running", "syncing", "stopping"):
            t.check(cw[state] > 0, "no task was %s when its connection "
                    "closed (the test lost its reach)" % state)
        t.check(cw["finished"] + cw["stopped"] > 0,
                "no task was done-not-reaped when its connection closed")
    t.check(st["tp"]["detached"] > 0 and st["cleanups_detached"] > 0,
            "no task was detached")
    t.check(health["probes"] > 0 and health["fails"] == 0,
            "health probes failed: %s" % health)
    t.check(health["max_ms"] < HEALTH_BOUND_MS,
            "slowest /health %.0f ms >= %.0f ms" %
            (health["max_ms"], HEALTH_BOUND_MS))

    # the server still serves, then shuts down clean
    ws = await R.ws_connect(srv.port, count=5, tasks=2)
    c = Conn(-1, ws)
    c.kind, c.tasks, c.count, c.pad = "stay", 2, 5, 0
    c.got, c.notes = [0, 0], {}
    while c.done is None:
        c.take(await R.recv(ws))
    c.check_complete()
    await ws.close()
    st = await srv.wait_settled()

    code, secs = await srv.signal_exit(signal.SIGTERM)
    ex = srv.exit_counts()
    print("SIGTERM: exit %d in %.2f s, exit line %s" % (code, secs, ex))
    t.check(code == 0, "exit code %d\n%s" % (code, srv.stderr()[-3000:]))
    t.check(ex is not None and ex[0] == ex[1] == st["enqueued"],
            "exit line %s, /stats enqueued %d" % (ex, st["enqueued"]))
    bad = srv.lib_errors()
    t.check(not bad, "errors logged: %r" % bad[:5])


async def reads_while_streaming(t, binary):
    """A connection kept writable by its task still has its reads served
    (the bench-smoke question of issue 12: an endless SYNC stream, the
    client's one message must get through): 4 tasks stream without
    pause, acks off; the client's "stop" must end them all, far short of
    their million messages."""
    srv = await R.Server(binary, ["--threads", "4"],
                         name="lwstp-rel-server").start()
    try:
        ws = await R.ws_connect(srv.port, count=10 ** 6, tasks=4)
        got = 0
        while got < 400:
            await R.recv(ws)
            got += 1
        await ws.send("stop")
        while True:
            m = await R.recv(ws)
            got += 1
            if m.startswith("done"):
                break
        t.check(m == "done stopped=4" and got < 4 * 10 ** 6,
                "stop read while 4 tasks stream: %r after %d messages" %
                (m, got))
        print("# stop read while 4 tasks stream: %r after %d messages" %
              (m, got))
        await ws.close()
        await srv.wait_settled()
    finally:
        srv.kill()


async def main(t, argv):
    print("# chaos: %d connections per server, %d at a time, seed %d" %
          (CONNS, PARALLEL, SEED))
    await t.run("reads while streaming", reads_while_streaming(t, argv[1]),
                300)
    await t.run("chaos", chaos_run(t, argv[1], []), 600)
    await t.run("chaos --no-dequeue",
                chaos_run(t, argv[1], ["--no-dequeue"]), 600)
    if len(argv) > 2:
        await t.run("chaos lwstp-ws-server",
                    chaos_run(t, argv[2], [], ws=True), 600)


if __name__ == "__main__":
    R.run_script(main, __doc__)
