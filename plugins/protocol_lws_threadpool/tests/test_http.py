#!/usr/bin/python3
"""The plugin's HTTP side over one transport: plain HTTP/1.1, TLS HTTP/1.1
or TLS HTTP/2 (ALPN).

usage: test_http.py TEST_PLUGIN_SERVER h1|tls-h1|tls-h2

Starts test-plugin-server (for TLS with a certificate made here with
openssl) and checks with curl, forced to the transport (--http1.1 /
--http2, the negotiated version checked), and Python clients:

  - /status and /metrics: status, content-type, cache-control, length; the
    metrics parse with prometheus_client's text parser, histograms are
    cumulative, and once the pool is idle every counter equals /status's;
  - /job?size=N: ndjson in order (started, progress with growing "done",
    result) and the SHA-256 of the job's data; chunked on h1 only;
  - errors: 400 / 404 with a JSON error body;
  - stop: a client that leaves in the middle of a 4 GiB job stops it;
  - h1: a connection is reused after a streamed job (keep-alive);
  - h2: on one connection, /status and /metrics are answered while a long
    job streams on another stream, and resetting the job's stream stops
    the job and leaves the connection usable (python3-h2).

Prints "N passed, N failed" last.  Debian 12: curl, python3-h2,
python3-prometheus-client, openssl.
"""

import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "..", "tests"))
import lwstptest as R                                   # noqa: E402

from prometheus_client.parser import \
    text_string_to_metric_families                     # noqa: E402

BIG = 4 << 30           # a job that can not end before its client leaves
TIMEOUT = 60            # one request; generous for sanitizer builds


class Transport:
    def __init__(self, name, port):
        self.name = name
        self.tls = name.startswith("tls")
        self.h2 = name == "tls-h2"
        self.port = port
        self.base = "%s://127.0.0.1:%d" % ("https" if self.tls else "http",
                                          port)
        self.version = "2" if self.h2 else "1.1"

    def curl_args(self):
        return ["curl", "-s", "-k", "--http2" if self.h2 else "--http1.1",
                "--max-time", str(TIMEOUT)]

    def get(self, *paths):
        """[(status, http version, headers, body)] of GETs of paths on one
        connection where curl can reuse it, and its new connections."""
        tmp = tempfile.mkdtemp(prefix="lwstp-http-")
        args = self.curl_args()
        for i, p in enumerate(paths):
            if i:
                args.append("--next")
                args += self.curl_args()[1:]
            args += ["-D", "%s/h%d" % (tmp, i), "-o", "%s/b%d" % (tmp, i),
                     "-w", "%{http_code} %{http_version} %{num_connects}\\n",
                     self.base + p]
        out = subprocess.run(args, capture_output=True, timeout=TIMEOUT * 2,
                             check=False).stdout.decode().split("\n")
        res, connects = [], 0
        for i in range(len(paths)):
            code, ver, nc = out[i].split()
            connects += int(nc)
            hdr, body = {}, b""     # no file: an empty reply
            if os.path.exists("%s/h%d" % (tmp, i)):
                with open("%s/h%d" % (tmp, i), errors="replace") as f:
                    for line in f.read().splitlines()[1:]:
                        if ":" in line:
                            k, v = line.split(":", 1)
                            hdr[k.strip().lower()] = v.strip()
            if os.path.exists("%s/b%d" % (tmp, i)):
                with open("%s/b%d" % (tmp, i), "rb") as f:
                    body = f.read()
            res.append((int(code), ver, hdr, body))
        shutil.rmtree(tmp, ignore_errors=True)
        return res, connects

    def get1(self, path):
        return self.get(path)[0][0]

    def stream(self, path):
        """curl printing the body as it comes (-N)"""
        return subprocess.Popen(self.curl_args() + ["-N", self.base + path],
                                stdout=subprocess.PIPE,
                                stdin=subprocess.DEVNULL)


def make_cert(d):
    key, crt = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", key, "-out", crt, "-days", "2",
                    "-subj", "/CN=127.0.0.1"], check=True,
                   capture_output=True)
    return crt, key


def status(tr):
    code, _v, _h, body = tr.get1("/status")
    assert code == 200, "GET /status: %d" % code
    return json.loads(body)


def wait_status(tr, pred, what):
    deadline = time.monotonic() + TIMEOUT
    st = status(tr)
    while not pred(st):
        assert time.monotonic() < deadline, "%s: %s" % (what, st)
        time.sleep(0.02)        # polling another process's state
        st = status(tr)
    return st


def idle(st):
    return st["running"] == 0 and st["queued"] == 0 and \
        st["done_waiting"] == 0


def test_status_metrics(t, tr):
    code, ver, hdr, body = tr.get1("/status")
    t.check(code == 200 and ver == tr.version, "/status: %d over %s" %
            (code, ver))
    t.check(hdr.get("content-type") == "application/json" and
            hdr.get("cache-control") == "no-store" and
            hdr.get("content-length") == str(len(body)),
            "/status headers %r (%d bytes)" % (hdr, len(body)))
    st = json.loads(body)
    t.check(st["threads"] == 2, "/status threads %r" % st.get("threads"))

    code, ver, hdr, body = tr.get1("/metrics")
    t.check(code == 200 and ver == tr.version and
            hdr.get("content-type", "").startswith(
                "text/plain; version=0.0.4") and
            hdr.get("content-length") == str(len(body)),
            "/metrics: %d over %s, %r, %d bytes" % (code, ver, hdr,
                                                   len(body)))
    fams = {f.name: f for f in text_string_to_metric_families(
        body.decode())}
    t.check(fams["lwstp_threads"].type == "gauge" and
            fams["lwstp_threads"].samples[0].value == 2 and
            fams["lwstp_threads"].samples[0].labels ==
            {"vhost": "plugin-test"}, "lwstp_threads %r" %
            (fams["lwstp_threads"].samples,))
    # the parser drops "_total" from a counter family's name
    t.check(fams["lwstp_tasks_enqueued"].type == "counter",
            "lwstp_tasks_enqueued_total is a counter")
    for h in ("lwstp_queue_wait_seconds", "lwstp_run_seconds",
              "lwstp_sync_wait_seconds"):
        f = fams[h]
        buckets = [s for s in f.samples if s.name == h + "_bucket"]
        counts = [s.value for s in buckets]
        count = [s.value for s in f.samples if s.name == h + "_count"][0]
        t.check(f.type == "histogram" and len(buckets) == 32 and
                buckets[-1].labels["le"] == "+Inf" and
                counts == sorted(counts) and counts[-1] == count,
                "%s: %d buckets, cumulative %r, count %r" %
                (h, len(buckets), counts, count))


def metrics_match_status(t, tr, what):
    """Once the pool is idle, every counter and gauge of /metrics equals
    /status's."""
    st = wait_status(tr, idle, "pool idle")
    _c, _v, _h, body = tr.get1("/metrics")
    m = {}
    for f in text_string_to_metric_families(body.decode()):
        for s in f.samples:
            key = s.name + ("{%s}" % s.labels["reason"]
                            if "reason" in s.labels else "")
            m[key] = s.value
    tot = st["totals"]
    want = {
        "lwstp_threads": st["threads"], "lwstp_idle_threads": st["idle"],
        "lwstp_queued_tasks": st["queued"],
        "lwstp_running_tasks": st["running"],
        "lwstp_syncing_tasks": st["syncing"],
        "lwstp_done_unreaped_tasks": st["done_waiting"],
        "lwstp_kept_results": st["kept_results"],
        "lwstp_tasks_enqueued_total": tot["enqueued"],
        "lwstp_tasks_finished_total": tot["finished"],
        "lwstp_tasks_stopped_total": tot["stopped"],
        "lwstp_tasks_detached_total": tot["detached"],
        "lwstp_tasks_reaped_total": tot["reaped"],
        "lwstp_syncs_total": tot["syncs"],
        "lwstp_sync_timeouts_total": tot["sync_timeouts"],
        "lwstp_tasks_rejected_total{queue_full}": tot["rejected_full"],
        "lwstp_tasks_rejected_total{shutting_down}":
            tot["rejected_shutdown"],
        "lwstp_run_seconds_count": tot["finished"] + tot["stopped"],
        "lwstp_sync_wait_seconds_count": tot["syncs"],
    }
    bad = {k: (m.get(k), v) for k, v in want.items() if m.get(k) != v}
    t.check(not bad, "%s: /metrics differs from /status: %r" % (what, bad))


def metrics_values(body):
    m = {}
    for f in text_string_to_metric_families(body.decode()):
        for s in f.samples:
            m[s.name] = m.get(s.name, 0) + s.value
    return m


def test_metrics_under_load(t, tr):
    """While jobs stream, every /metrics is a consistent snapshot: counters
    never go back, nor below a /status taken before, and the gauges add
    up."""
    jobs = [tr.stream("/job?size=%d" % BIG) for _ in range(2)]
    try:
        for p in jobs:
            p.stdout.readline()         # "started": it runs
        last, bad = {}, []
        for i in range(30):
            st = status(tr)
            _c, _v, _h, body = tr.get1("/metrics")
            m = metrics_values(body)
            if m["lwstp_tasks_enqueued_total"] < st["totals"]["enqueued"] \
                    or m["lwstp_syncs_total"] < st["totals"]["syncs"]:
                bad.append(("behind /status", i, st["totals"], m))
            for k, v in m.items():
                if k.endswith("_total") and v < last.get(k, 0):
                    bad.append(("went back", i, k, v, last[k]))
            if not (m["lwstp_running_tasks"] + m["lwstp_idle_threads"] <=
                    m["lwstp_threads"] and m["lwstp_syncing_tasks"] <=
                    m["lwstp_running_tasks"]):
                bad.append(("gauges", i, m))
            last = m
        t.check(not bad and last["lwstp_running_tasks"] == 2,
                "30 /metrics while 2 jobs stream: %r" % (bad[:2] or last))
    finally:
        for p in jobs:
            p.kill()
            p.wait()
    wait_status(tr, idle, "jobs of the load test stopped")


def check_job_lines(t, lines, size, what):
    msgs = [json.loads(x) for x in lines if x.strip()]
    prog = [m["done"] for m in msgs[1:-1]]
    t.check(msgs and msgs[0]["type"] == "started" and
            msgs[0]["size"] == size and
            all(m["type"] == "progress" for m in msgs[1:-1]) and
            prog == sorted(set(prog)) and msgs[-1]["type"] == "result" and
            msgs[-1]["sha256"] == R.expected_sha256(size),
            "%s: %d messages, first %r, last %r" %
            (what, len(msgs), msgs[:1], msgs[-1:]))


def test_job(t, tr):
    size = 5 << 20
    (code, ver, hdr, body), = tr.get("/job?size=%d" % size)[0]
    t.check(code == 200 and ver == tr.version and
            hdr.get("content-type") == "application/x-ndjson",
            "/job: %d over %s %r" % (code, ver, hdr))
    if tr.h2:
        t.check("transfer-encoding" not in hdr and
                "connection" not in hdr, "h2 job headers %r" % hdr)
    else:
        t.check(hdr.get("transfer-encoding") == "chunked",
                "h1 job: chunked, %r" % hdr)
    check_job_lines(t, body.decode().split("\n"), size, "/job")


def test_errors(t, tr):
    for path, want, ecode in (("/job?size=abc", 400, "bad-message"),
                              ("/job?size=0", 400, "bad-message"),
                              ("/job/xyz", 400, "bad-message"),
                              ("/job/" + "0" * 32, 404, "unknown-token"),
                              ("/result?token=" + "a" * 32, 404,
                               "unknown-token"),
                              ("/job/a/b", 404, "bad-message")):
        code, ver, hdr, body = tr.get1(path)
        try:
            j = json.loads(body)
        except ValueError:
            j = {}
        t.check(code == want and ver == tr.version and
                hdr.get("content-type") == "application/json" and
                j.get("type") == "error" and j.get("code") == ecode,
                "%s: %d over %s, %r" % (path, code, ver, body[:120]))


def test_stop(t, tr):
    before = status(tr)["totals"]["stopped"]
    p = tr.stream("/job?size=%d" % BIG)
    first = p.stdout.readline()
    t.check(json.loads(first)["type"] == "started", "stop: %r" % first)
    p.kill()                    # the client leaves mid-job
    p.wait()
    st = wait_status(tr, lambda s: s["totals"]["stopped"] == before + 1 and
                     idle(s), "the left job stopped")
    t.check(st["totals"]["stopped"] == before + 1, "stop: %r" % st)


def test_keepalive(t, tr):
    res, connects = tr.get("/job?size=1000", "/status", "/metrics")
    t.check([r[0] for r in res] == [200, 200, 200] and connects == 1,
            "three requests after a job on %d connection(s): %r" %
            (connects, [r[0] for r in res]))
    # many in a row on one connection, each asked for as soon as the last
    # answer is in: /metrics is larger than lws sends at once, so its end
    # waits in lws's buffer when the next request arrives (h2load found
    # the connection stuck after a few)
    if tr.tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        c = http.client.HTTPSConnection("127.0.0.1", tr.port,
                                        timeout=TIMEOUT, context=ctx)
    else:
        c = http.client.HTTPConnection("127.0.0.1", tr.port,
                                       timeout=TIMEOUT)
    codes, sizes = [], set()
    try:
        for i in range(200):
            c.request("GET", "/metrics" if i % 2 else "/status")
            r = c.getresponse()
            body = r.read()
            codes.append(r.status)
            if i % 2:
                sizes.add(len(body) > 8192)
    except (OSError, http.client.HTTPException) as e:
        codes.append(repr(e))
    finally:
        c.close()
    t.check(codes == [200] * 200 and sizes == {True},
            "200 requests on one keep-alive connection: %d answered, "
            "last %r" % (len(codes), codes[-1:]))


def test_h2_streams(t, tr):
    """One h2 connection: a long job streams on stream 1 while /status
    and /metrics are answered on streams 3 and 5; resetting stream 1
    stops the job and the connection still serves."""
    import h2.config
    import h2.connection
    import h2.events
    import h2.errors

    before = status(tr)["totals"]["stopped"]
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", tr.port),
                                                    timeout=TIMEOUT))
    t.check(sock.selected_alpn_protocol() == "h2", "ALPN %r" %
            sock.selected_alpn_protocol())
    conn = h2.connection.H2Connection(h2.config.H2Configuration(
        client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()

    def req(path):
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, [(":method", "GET"), (":path", path),
                                (":scheme", "https"),
                                (":authority", "127.0.0.1")],
                          end_stream=True)
        sock.sendall(conn.data_to_send())
        return sid

    data, ended, status_of = {}, set(), {}

    def pump(until):
        deadline = time.monotonic() + TIMEOUT
        while not until():
            assert time.monotonic() < deadline, "h2: no progress: %r" % (
                {k: v[:80] for k, v in data.items()},)
            chunk = sock.recv(65536)
            assert chunk, "h2: connection closed"
            for ev in conn.receive_data(chunk):
                if isinstance(ev, h2.events.ResponseReceived):
                    status_of[ev.stream_id] = dict(ev.headers)[":status"]
                elif isinstance(ev, h2.events.DataReceived):
                    data[ev.stream_id] = data.get(ev.stream_id, b"") + \
                        ev.data
                    conn.acknowledge_received_data(
                        ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, (h2.events.StreamEnded,
                                     h2.events.StreamReset)):
                    ended.add(ev.stream_id)
            sock.sendall(conn.data_to_send())

    job = req("/job?size=%d" % BIG)
    pump(lambda: b"\n" in data.get(job, b""))
    s1, s2 = req("/status"), req("/metrics")
    pump(lambda: s1 in ended and s2 in ended)
    t.check(job not in ended and status_of.get(s1) == "200" and
            status_of.get(s2) == "200" and
            json.loads(data[s1])["running"] == 1 and
            b"lwstp_running_tasks{vhost=\"plugin-test\"} 1" in data[s2],
            "h2: /status and /metrics answered while the job streams: "
            "%r %r" % (status_of, data.get(s1, b"")[:100]))
    t.check(data[job].split(b"\n")[0].startswith(b'{"type":"started"'),
            "h2 job: %r" % data[job][:100])

    conn.reset_stream(job, error_code=h2.errors.ErrorCodes.CANCEL)
    sock.sendall(conn.data_to_send())
    s3 = req("/status")
    pump(lambda: s3 in ended)
    t.check(status_of.get(s3) == "200", "h2: the connection serves after "
            "the reset: %r" % status_of)
    sock.close()
    st = wait_status(tr, lambda s: s["totals"]["stopped"] == before + 1 and
                     idle(s), "the reset job stopped")
    t.check(st["totals"]["stopped"] == before + 1, "h2 reset: %r" % st)


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in ("h1", "tls-h1", "tls-h2"):
        print(__doc__, file=sys.stderr)
        return 2
    binary, mode = sys.argv[1], sys.argv[2]
    t = R.Tally()
    tmp = tempfile.TemporaryDirectory(prefix="lwstp-http-")
    args = ["--port", "0", "--pvo", "max-job-size=%d" % BIG,
            "--pvo", "progress-interval-ms=0"]
    if mode != "h1":
        crt, key = make_cert(tmp.name)
        args += ["--tls-cert", crt, "--tls-key", key]
    srv = R.ReadyServer(binary, args,
                        ready=r"test-plugin-server: listening on [\d ]+\n",
                        ports=r"listening on ([\d ]+)\n")
    if not srv.start():
        print("FAIL: server did not start:\n%s" % srv.err[-3000:])
        return 1
    tr = Transport(mode, srv.port)
    tests = [test_status_metrics, test_job, test_errors, test_stop,
             test_metrics_under_load]
    tests.append(test_h2_streams if tr.h2 else test_keepalive)
    try:
        for fn in tests:
            t0, before = time.monotonic(), t.failed
            try:
                fn(t, tr)
            except Exception as e:      # counted as a failure
                t.check(False, "%s: %s: %s" % (fn.__name__,
                                               type(e).__name__, e))
            print("%s %s (%.2f s)" % ("PASS" if t.failed == before else
                                      "FAILED", fn.__name__,
                                      time.monotonic() - t0))
            sys.stdout.flush()
        metrics_match_status(t, tr, "at the end")
    finally:
        code = srv.stop()
    # lws 4.3.5 itself logs "E: lws_hdr_copy: WSI_TOKEN_HTTP_URI_ARGS
    # toklen N" for every h2 request with a query: a debugging lwsl_err
    # left in lib/roles/http/parsers.c, reached from the header dump in
    # lib/roles/h2/http2.c that runs at any log level
    errs = [ln for ln in srv.err.splitlines() if ("] E: " in ln and
            "lws_hdr_copy: WSI_TOKEN_HTTP_URI_ARGS toklen" not in ln) or
            "Sanitizer" in ln or "runtime error" in ln or "GOAWAY" in ln]
    t.check(code == 0 and not errs, "server exit %r, errors %r" %
            (code, errs[:5]))
    if t.failed:
        print(srv.err[-3000:])
    return t.summary()


if __name__ == "__main__":
    sys.exit(main())
