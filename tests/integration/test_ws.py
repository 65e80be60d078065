#!/usr/bin/python3
"""Integration tests for liblwstp through lwstp-ws-server.

usage: test_ws.py SERVER_BINARY [SERVER_ARGS...]     (or LWSTP_WS_SERVER=...)

Extra arguments (e.g. --uv) are passed to every server started.  The servers
listen on free loopback ports.  Needs websockets (Debian's
python3-websockets, 10.x, asyncio API).  LWSTP_TEST_SEED sets the seed of
the random disconnect test (default 4242).

Server protocol (see test-apps/lwstp-ws-server.c): connect to
ws://127.0.0.1:PORT/?count=N&tasks=T&outlive=0|1&work_us=U&ack=0|1 with
subprotocol "lws-threadpool-test"; each task I sends "tI seq 0" ..
"tI seq N-1", then the server sends "done" ("done stopped=K" if K tasks were
stopped).  With ack=1 each message waits in SYNC for a client "ack" ("stop"
stops the task).  A connection whose task the pool refuses gets
"error: queue full" and is closed with 1013 (on --uv, the distro lws may
send no close frame: 1006).  GET /stats gives counters.

Prints "N passed, N failed" last; exits non-zero on any failure.
"""

import asyncio
import os
import random
import re
import sys
import time

import websockets

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
import lwstptest as R                                   # noqa: E402

PROTO = "lws-threadpool-test"
CLOSE_TRY_AGAIN_LATER = 1013


class Server(R.Server):
    """lwstp-ws-server on a free loopback port; .uv and .no_dequeue say
    how it runs."""

    def __init__(self, binary, args):
        super().__init__(binary, args, name="lwstp-ws-server",
                         health_body=b"ok")
        self.uv = "--uv" in self.args
        # the server leaves closing connections' tasks to the library's
        # WSI_DESTROY handling instead of dequeueing them itself
        self.no_dequeue = "--no-dequeue" in self.args


async def collect(ws, limit):
    """Messages up to and including "done..." / "error..."; bounded."""
    msgs = []
    for _ in range(limit):
        m = await R.recv(ws)
        msgs.append(m)
        if m.startswith("done") or m.startswith("error"):
            return msgs
    raise AssertionError("no done after %d messages: ...%r" %
                         (limit, msgs[-5:]))


def check_streams(msgs, tasks, count, last="done"):
    """Every task's messages complete and in order, then `last`."""
    assert msgs and msgs[-1] == last, "last message %r, want %r" % (
        msgs[-1:] or None, last)
    body = msgs[:-1]
    assert len(body) == tasks * count, "%d messages, want %d" % (
        len(body), tasks * count)
    for t in range(tasks):
        got = [m for m in body if m.startswith("t%d " % t)]
        want = ["t%d seq %d" % (t, n) for n in range(count)]
        assert got == want, "task %d stream wrong: first difference at %s" % (
            t, next((i for i, (a, b) in enumerate(zip(got, want)) if a != b),
                    min(len(got), len(want))))
    others = [m for m in body if not re.match(r"t\d+ seq \d+$", m)]
    assert not others, "unexpected messages %r" % others[:5]


async def run_client(port, count, tasks=1, **params):
    ws = await R.ws_connect(port, count=count, tasks=tasks, **params)
    try:
        return await collect(ws, tasks * count + 2)
    finally:
        await ws.close()


async def hold(port, n, **params):
    """n connections, each with one task held in SYNC (ack mode) after its
    first message: every one of them keeps a worker busy."""
    holders = [await R.ws_connect(port, count=5, ack=1, **params)
               for _ in range(n)]
    firsts = await asyncio.gather(*(R.recv(h) for h in holders))
    assert firsts == ["t0 seq 0"] * n, firsts
    return holders


async def finish_holders(holders, count=5):
    """Ack every held task to its end; each must then get "done"."""
    for h in holders:
        msgs = ["t0 seq 0"]
        for _ in range(count):
            await h.send("ack")
            msgs.append(await R.recv(h))
        check_streams(msgs, 1, count)
        await h.close()


# --- the tests, on a server with --threads 4 --queue 256 --------------------

THREADS = 4


async def test_sync_streaming(srv):
    """(a) 20 concurrent clients each get their whole stream, in order."""
    before = await srv.stats()
    counts = [30 + 7 * i for i in range(20)]
    results = await asyncio.gather(*(run_client(srv.port, c)
                                     for c in counts))
    for c, msgs in zip(counts, results):
        check_streams(msgs, 1, c)
    st = await srv.wait_settled()
    assert st["enqueued"] - before["enqueued"] == 20, st
    assert st["completed"] - before["completed"] == 20, st
    assert st["tp"]["finished"] - before["tp"]["finished"] == 20, st
    assert st["tp"]["syncs"] - before["tp"]["syncs"] == sum(counts), st
    assert st["cleanups_detached"] == before["cleanups_detached"], \
        "a task lost its wsi although every client stayed"


async def test_several_tasks_per_connection(srv):
    """(b) 3 tasks per connection: each task's stream complete, in order."""
    before = await srv.stats()
    counts = [25, 40, 1, 60, 0]
    results = await asyncio.gather(*(run_client(srv.port, c, tasks=3)
                                     for c in counts))
    for c, msgs in zip(counts, results):
        check_streams(msgs, 3, c)
    st = await srv.wait_settled()
    assert st["enqueued"] - before["enqueued"] == 3 * len(counts), st
    assert st["completed"] - before["completed"] == 3 * len(counts), st


async def test_ack_and_stop(srv):
    """A task waits in SYNC until the client acks; "stop" makes
    lws_threadpool_task_sync(task, 1) end it STOPPED."""
    before = await srv.stats()
    ws = await R.ws_connect(srv.port, count=4, ack=1)
    try:
        assert await R.recv(ws) == "t0 seq 0"
        # nothing more may come before the ack: the task waits in SYNC
        st = await srv.wait_stats(lambda s: s["tp"]["syncing"] >= 1,
                                  "the task to wait in SYNC")
        try:
            m = await asyncio.wait_for(ws.recv(), 0.3)
            raise AssertionError("got %r without an ack" % m)
        except asyncio.TimeoutError:
            pass
        await ws.send("ack")
        assert await R.recv(ws) == "t0 seq 1"
        await ws.send("stop")
        assert await R.recv(ws) == "done stopped=1"
    finally:
        await ws.close()
    st = await srv.wait_settled()
    assert st["tp"]["stopped"] - before["tp"]["stopped"] == 1, st
    assert st["completed"] == before["completed"], st


async def test_disconnect_while_queued(srv):
    """(c) clients that leave while their task waits in the queue: the
    tasks are freed (cleanup runs) without ever running."""
    holders = await hold(srv.port, THREADS)
    try:
        before = await srv.stats()
        assert before["tp"]["running"] == THREADS, before
        queued = [await R.ws_connect(srv.port, count=5, tasks=2)
                  for _ in range(5)]
        await srv.wait_stats(lambda s: s["tp"]["queued"] == 10,
                             "10 queued tasks")
        for i, ws in enumerate(queued):
            await R.abort(ws, "abort" if i % 2 else "close")
        st = await srv.wait_stats(
            lambda s: s["tp"]["queued"] == 0 and
            s["cleanups"] - before["cleanups"] == 10,
            "the queued tasks to be cleaned up")
        assert st["dequeued"] - before["dequeued"] == \
            (0 if srv.no_dequeue else 10), st
        # the holders' tasks were not disturbed
        assert st["tp"]["running"] == THREADS, st
        assert st["tp"]["syncing"] == THREADS, st
        assert st["tp"]["stopped"] - before["tp"]["stopped"] == 10, st
        await finish_holders(holders)
    finally:
        for h in holders:
            await h.close()
    await srv.wait_settled()


async def test_disconnect_while_syncing(srv):
    """(c) clients that leave while their task waits in SYNC for them: the
    task is detached, told to stop, and cleaned up with wsi NULL."""
    before = await srv.stats()
    holders = await hold(srv.port, THREADS)
    for i, ws in enumerate(holders):
        await R.abort(ws, "abort" if i % 2 else "close")
    st = await srv.wait_settled()
    assert st["enqueued"] - before["enqueued"] == THREADS, st
    assert st["cleanups_detached"] - before["cleanups_detached"] == \
        THREADS, st
    assert st["tp"]["detached"] - before["tp"]["detached"] == THREADS, st
    assert st["completed"] == before["completed"], st
    assert st["dequeued"] - before["dequeued"] == \
        (0 if srv.no_dequeue else THREADS), st


async def random_client(port, rng, i):
    stage = rng.choice(["connect", "after_k", "after_final"])
    how = rng.choice(["abort", "close"])
    count = rng.randint(2, 40)
    tasks = rng.randint(1, 3)
    work_us = rng.choice([0, 0, 200])
    ws = await R.ws_connect(port, count=count, tasks=tasks, work_us=work_us)
    total = count * tasks
    got = []
    if stage == "after_k":
        for _ in range(rng.randint(1, total - 1)):
            got.append(await R.recv(ws))
    elif stage == "after_final":
        for _ in range(total):
            got.append(await R.recv(ws))
    # what we did get is each task's prefix, in order
    for t in range(tasks):
        mine = [m for m in got if m.startswith("t%d " % t)]
        assert mine == ["t%d seq %d" % (t, n) for n in range(len(mine))], \
            "client %d task %d: %r" % (i, t, mine)
    assert all(re.match(r"t\d seq \d+$", m) for m in got), got
    await R.abort(ws, how)
    return stage


async def test_disconnect_at_random_stages(srv):
    """(c) 40 clients leave abruptly right after connecting, after k
    messages, or after the final message (before "done"); seeded."""
    seed = int(os.environ.get("LWSTP_TEST_SEED", "4242"))
    rng = random.Random(seed)
    before = await srv.stats()
    stages = await asyncio.gather(*(random_client(srv.port, rng, i)
                                    for i in range(40)))
    st = await srv.wait_settled()
    assert st["bad_cleanups"] == 0, st
    assert st["cleanups"] - before["cleanups"] == \
        st["enqueued"] - before["enqueued"], st
    assert {"connect", "after_k", "after_final"} <= set(stages), \
        "seed %d did not cover every stage: %r" % (seed, stages)
    # and the server still serves a well-behaved client
    check_streams(await run_client(srv.port, 20, tasks=2), 2, 20)
    await srv.wait_settled()


async def test_outlive(srv):
    """(d) OUTLIVE tasks run to their end after their client left, and are
    cleaned up with wsi NULL; the same tasks without OUTLIVE are stopped."""
    n = THREADS

    async def leave_early(outlive):
        before = await srv.stats()
        holders = await hold(srv.port, n, outlive=outlive)
        for i, ws in enumerate(holders):
            await R.abort(ws, "abort" if i % 2 else "close")
        st = await srv.wait_settled()
        assert st["cleanups_detached"] - before["cleanups_detached"] == n, st
        return before, st

    before, st = await leave_early(0)
    assert st["completed"] == before["completed"], \
        "a task without OUTLIVE went on after its client left: %s" % st
    assert st["outlive_completed"] == before["outlive_completed"], st

    before, st = await leave_early(1)
    assert st["outlive_completed"] - before["outlive_completed"] == n, st
    assert st["completed"] - before["completed"] == n, st

    # and with real work in flight when the clients leave
    before = await srv.stats()
    clients = [await R.ws_connect(srv.port, count=100, work_us=5000,
                                outlive=1) for _ in range(n)]
    for ws in clients:
        assert await R.recv(ws) == "t0 seq 0"
    for ws in clients:
        await R.abort(ws, "abort")
    st = await srv.wait_settled()
    assert st["outlive_completed"] - before["outlive_completed"] == n, st

    # and still queued when the clients leave: they run later, detached
    holders = await hold(srv.port, THREADS)
    before = await srv.stats()
    clients = [await R.ws_connect(srv.port, count=10, outlive=1)
               for _ in range(n)]
    await srv.wait_stats(lambda s: s["tp"]["queued"] == n, "queued tasks")
    for ws in clients:
        await R.abort(ws, "abort")
    st = await srv.wait_stats(lambda s: s["tp"]["detached"] -
                              before["tp"]["detached"] == n,
                              "the queued tasks detached")
    assert st["tp"]["queued"] == n, "a queued OUTLIVE task was dropped"
    await finish_holders(holders)
    st = await srv.wait_settled()
    assert st["outlive_completed"] - before["outlive_completed"] == n, st
    assert st["cleanups_detached"] - before["cleanups_detached"] == n, st


async def test_slow_reader(srv):
    """A client that stops reading: the stream stalls with the task waiting
    in SYNC (the server writes no more than the kernel takes), and resumes
    complete and in order when the client reads again: no writable lost."""
    before = await srv.stats()
    count, pad = 1000, 32768    # 32 MB: much more than the socket buffers
    ws = await R.RawWs.open(srv.port, 65536, PROTO, R.RECV_TIMEOUT,
                            count=count, pad=pad)

    def not_all(st):
        assert st["tp"]["syncs"] - before["tp"]["syncs"] < count, \
            "the server wrote everything to a client that reads nothing"

    try:
        assert await ws.recv() == "t0 seq 0 " + "x" * pad
        # from here the client reads nothing until the server is stalled:
        # once the kernel buffers are full the task (in SYNC) can only
        # wait for a writable that does not come
        st = await srv.wait_stalled(syncing=1, each=not_all)
        assert st["tp"]["syncing"] == 1 and st["tp"]["running"] == 1, st
        for n in range(1, count):
            m = await ws.recv()
            assert m == "t0 seq %d " % n + "x" * pad, \
                "message %d: %r..." % (n, m[:20])
        assert await ws.recv() == "done"
    finally:
        ws.close()
    st = await srv.wait_settled()
    assert st["completed"] - before["completed"] == 1, st


async def stream_until_closed(ws, n):
    """Read "t0 seq n", n + 1, ... until the server closes; bounded."""
    try:
        while n < 10 ** 6:
            m = await R.recv(ws)
            assert m == "t0 seq %d" % n, m
            n += 1
    except websockets.ConnectionClosed:
        pass
    return n


async def test_shutdown_with_live_tasks(srv):
    """(f) SIGTERM with a task held in SYNC, queued tasks (one of them
    detached), clients being streamed to and a detached OUTLIVE task still
    running: clean exit, one cleanup per task."""
    holders = await hold(srv.port, 1)
    long = await R.ws_connect(srv.port, count=10000, work_us=5000, outlive=1)
    assert await R.recv(long) == "t0 seq 0"
    await R.abort(long, "abort")
    # the other THREADS - 2 workers stream; what comes next has to wait
    streamers = [await R.ws_connect(srv.port, count=10 ** 6)
                 for _ in range(THREADS - 2)]
    for ws in streamers:
        assert await R.recv(ws) == "t0 seq 0"
    readers = [asyncio.ensure_future(stream_until_closed(ws, 1))
               for ws in streamers]
    queued = await R.ws_connect(srv.port, count=3, tasks=2)
    # a queued OUTLIVE task whose client left: detached, still queued
    gone = await R.ws_connect(srv.port, count=3, outlive=1)
    st = await srv.wait_stats(lambda s: s["tp"]["queued"] == 3,
                              "3 queued tasks")
    await R.abort(gone, "abort")
    await srv.wait_stats(lambda s: s["tp"]["queued"] == 3 and
                         s["tp"]["detached"] > st["tp"]["detached"] and
                         s["tp"]["syncs"] - st["tp"]["syncs"] >= 50,
                         "a detached queued task, and streaming")
    try:
        await check_exit(srv)
        got = await asyncio.wait_for(asyncio.gather(*readers),
                                     R.RECV_TIMEOUT)
        assert min(got) > 1, got
    finally:
        for r in readers:
            r.cancel()
        for ws in holders + streamers + [queued]:
            await R.abort(ws, "abort")


async def check_exit(srv):
    code, _secs = await srv.signal_exit()
    err = srv.stderr()
    assert code == 0, "exit code %d\n%s" % (code, err[-3000:])
    ex = srv.exit_counts()
    assert ex, "no counters line in %r" % srv.stdout()
    assert ex[0] == ex[1], "enqueued=%d cleanups=%d" % ex
    assert "pool destroyed" in err, "the protocol was not destroyed"
    bad = srv.lib_errors(sanitizers=False)
    assert not bad, "library errors logged: %r" % bad[:5]
    return ex[0]


# --- the tests, on a server with --threads 1 --queue 1 ----------------------

async def check_refused(srv, ws):
    """A refused connection gets "error: queue full", then the server closes
    it with 1013 "queue full".  On the libuv loop the distro lws 4.1.6 may
    drop that close frame (see lwstp-ws-server.c): 1006 is accepted there."""
    assert await R.recv(ws) == "error: queue full"
    try:
        m = await R.recv(ws)
        raise AssertionError("got %r after the error" % m)
    except websockets.ConnectionClosed:
        pass
    if ws.close_code == 1006 and srv.uv:
        return
    assert ws.close_code == CLOSE_TRY_AGAIN_LATER, ws.close_code
    assert ws.close_reason == "queue full", ws.close_reason


async def test_queue_full(srv):
    """(e) 1 thread, queue 1: one task runs, one waits, the next connection
    gets "error: queue full" and is closed with 1013; the others go on."""
    before = await srv.stats()
    a = (await hold(srv.port, 1))[0]
    b = await R.ws_connect(srv.port, count=3)
    await srv.wait_stats(lambda s: s["tp"]["queued"] == 1, "b queued")

    c = await R.ws_connect(srv.port, count=3)
    await check_refused(srv, c)

    # three tasks on one connection can never fit: refused as a whole
    d = await R.ws_connect(srv.port, count=3, tasks=3)
    await check_refused(srv, d)

    st = await srv.stats()
    assert st["refused"] - before["refused"] == 2, st
    assert st["tp"]["rejected_full"] - before["tp"]["rejected_full"] == 2, st
    assert st["tp"]["queued"] == 1 and st["tp"]["running"] == 1, st

    # b's task only runs once a's is over
    await finish_holders([a])
    check_streams(await collect(b, 10), 1, 3)
    await b.close()
    st = await srv.wait_settled()
    assert st["cleanups"] - before["cleanups"] == \
        st["enqueued"] - before["enqueued"], st

    # and a new client is served again
    check_streams(await run_client(srv.port, 5), 1, 5)


async def test_sync_timeout(srv):
    """A task whose SYNC is never answered is stopped after
    --sync-timeout-ms, reaped, and the client told "done stopped=1"."""
    before = await srv.stats()
    ws = await R.ws_connect(srv.port, count=5, ack=1)
    try:
        assert await R.recv(ws) == "t0 seq 0"
        t0 = time.monotonic()
        assert await R.recv(ws) == "done stopped=1"
        waited = time.monotonic() - t0
    finally:
        await ws.close()
    assert waited > SYNC_TIMEOUT_MS / 1000.0 * 0.5, waited
    st = await srv.wait_settled()
    assert st["tp"]["sync_timeouts"] - before["tp"]["sync_timeouts"] == 1, st


async def test_shutdown_small_pool(srv):
    """(f) SIGTERM with one task waiting in SYNC and one queued."""
    a = (await hold(srv.port, 1))[0]
    b = await R.ws_connect(srv.port, count=3)
    await srv.wait_stats(lambda s: s["tp"]["queued"] == 1, "b queued")
    await check_exit(srv)
    for ws in (a, b):
        await R.abort(ws, "abort")


SYNC_TIMEOUT_MS = 3000


async def main(t, argv):
    binary = argv[1] if len(argv) > 1 else os.environ.get("LWSTP_WS_SERVER")
    if not binary:
        print(__doc__, file=sys.stderr)
        return 2
    extra = argv[2:]

    plans = [
        (["--threads", str(THREADS), "--queue", "256"], [
            test_sync_streaming,
            test_several_tasks_per_connection,
            test_ack_and_stop,
            test_disconnect_while_queued,
            test_disconnect_while_syncing,
            test_disconnect_at_random_stages,
            test_outlive,
            test_slow_reader,
            test_shutdown_with_live_tasks,
        ]),
        (["--threads", str(THREADS), "--queue", "256", "--no-dequeue"], [
            test_disconnect_while_queued,
            test_disconnect_while_syncing,
            test_disconnect_at_random_stages,
            test_outlive,
            test_shutdown_with_live_tasks,
        ]),
        (["--threads", "1", "--queue", "1",
          "--sync-timeout-ms", str(SYNC_TIMEOUT_MS)], [
            test_queue_full,
            test_sync_timeout,
            test_shutdown_small_pool,
        ]),
    ]

    for args, tests in plans:
        srv = Server(binary, args + extra)
        print("# server %s" % " ".join(args + extra))
        try:
            await srv.start()
        except Exception as e:
            for fn in tests:
                t.check(False, "%s: %s" % (fn.__name__, e))
            continue

        def show_server():
            if srv.proc.poll() is not None:
                print("server exited %d" % srv.proc.returncode)
            print("server stderr tail:\n%s" % srv.stderr()[-6000:])

        try:
            tag = " [no-dequeue]" if srv.no_dequeue else ""
            for fn in tests:
                await t.run(fn.__name__ + tag, fn(srv), 90, count=True,
                            on_fail=show_server)
        finally:
            srv.kill()


if __name__ == "__main__":
    R.run_script(main, __doc__, min_args=1)
