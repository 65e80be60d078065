#!/usr/bin/python3
"""Tables, targets and a chart from the JSON lines of bench/run.sh.

  report.py table RESULTS.jsonl [--svg OUT.svg] [--doc PERFORMANCE.md]
                                [--smoke]
      print one table per scenario (median [min-max] of the runs) and the
      targets with pass / miss; --svg draws the chart; --doc replaces the
      part of the document between the figures markers with the same
      tables in markdown.  --smoke only checks that every variant printed
      its figures (no target is judged).

  report.py wrk -- wrk ARGS...
      run wrk, print its figures and its CPU time as one JSON line.

Standard library only (Debian's /usr/bin/python3).
"""

import json
import os
import re
import statistics
import subprocess
import sys

# --- wrk ---------------------------------------------------------------------

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def ms(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError("bad wrk time %r" % text)
    return float(m.group(1)) * UNITS[m.group(2)]


def run_wrk(argv):
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        sys.stderr.write(out)
        sys.exit("wrk exited with %d" % proc.returncode)
    res = {}
    for line in out.splitlines():
        f = line.split()
        if line.startswith("    Latency") and len(f) >= 4:
            res["lat_avg_ms"] = ms(f[1])
            res["lat_max_ms"] = ms(f[3])
        elif re.fullmatch(r"\s*(50|75|90|99)%\s+\S+\s*", line):
            res["lat_p%s_ms" % f[0][:-1]] = ms(f[1])
        elif line.startswith("Requests/sec:"):
            res["rps"] = float(f[1])
        elif "requests in" in line:
            res["requests"] = int(f[0])
            res["duration_s"] = ms(f[3].rstrip(",")) / 1e3
        elif line.startswith("  Socket errors") or \
                line.startswith("  Non-2xx"):
            res["errors"] = line.strip()
    for k in ("rps", "lat_p50_ms", "lat_p99_ms", "lat_max_ms"):
        if k not in res:
            sys.stderr.write(out)
            sys.exit("wrk output has no %s" % k)
    cpu = ru.ru_utime + ru.ru_stime
    res["wrk_cpu_pct"] = 100.0 * cpu / res.get("duration_s", 1.0)
    print(json.dumps(res))


# --- loading -----------------------------------------------------------------

def load(path):
    meta, meta_end, rows = {}, {}, []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            o = json.loads(line)
            if "meta" in o:
                meta = o["meta"]
            elif "meta_end" in o:
                meta_end = o["meta_end"]
            else:
                rows.append(o)
    return meta, meta_end, rows


class Figures:
    """The runs of every variant, and a metric's median / min / max."""

    def __init__(self, rows):
        self.runs = {}
        self.order = []
        for r in rows:
            key = (r["scenario"], r["variant"])
            if key not in self.runs:
                self.runs[key] = []
                self.order.append(key)
            self.runs[key].append(r)

    def variants(self, scenario):
        return [v for (s, v) in self.order if s == scenario]

    def values(self, scenario, variant, path):
        out = []
        for r in self.runs.get((scenario, variant), []):
            o = r
            for p in path.split("."):
                o = o.get(p) if isinstance(o, dict) else None
            if isinstance(o, (int, float)):
                out.append(float(o))
        return out

    def stat(self, scenario, variant, path):
        v = self.values(scenario, variant, path)
        if not v:
            return None
        return statistics.median(v), min(v), max(v)


def fmt(x):
    if x is None:
        return "-"
    a = abs(x)
    if a >= 1e6:
        return "%.3gM" % (x / 1e6)
    if a >= 1e4:
        return "%.3gk" % (x / 1e3)
    if a >= 100:
        return "%.0f" % x
    if a >= 10:
        return "%.1f" % x
    return "%.3g" % x


def cell(st):
    if st is None:
        return "-"
    med, lo, hi = st
    if lo == hi:
        return fmt(med)
    return "%s [%s-%s]" % (fmt(med), fmt(lo), fmt(hi))


TABLES = [
    ("dispatch", "dispatch: tasks FINISHED at once (or after work us), "
     "reaped and replaced on the service thread", [
         ("tasks/s", "server.tasks_per_s"),
         ("service CPU us/task", "server.service_cpu_us_per_task"),
         ("service CPU %", "server.service_cpu_pct"),
         ("enqueue-to-reap p50 us", "server.enqueue_to_reap_p50_us"),
         ("p99 us", "server.enqueue_to_reap_p99_us"),
         ("client CPU %", "client.client_cpu_pct"),
     ]),
    ("sync", "sync: one endless SYNC task per connection, 64-byte messages", [
        ("msgs/s (client)", "client.msgs_per_s"),
        ("service CPU us/msg", "server.service_cpu_us_per_msg"),
        ("SYNC-to-writable p50 us", "server.sync_to_writable_p50_us"),
        ("p99 us", "server.sync_to_writable_p99_us"),
        ("max us", "server.sync_to_writable_max_us"),
        ("sync-to-resume p50 us", "server.sync_to_resume_p50_us"),
        ("p99 us", "server.sync_to_resume_p99_us"),
        ("max us", "server.sync_to_resume_max_us"),
        ("service CPU %", "server.service_cpu_pct"),
        ("client CPU %", "client.client_cpu_pct"),
    ]),
    ("saturate", "saturate: wrk on GET /tiny, pool idle or every worker "
     "busy and the queue full", [
         ("requests/s", "wrk.rps"),
         ("p50 ms", "wrk.lat_p50_ms"),
         ("p99 ms", "wrk.lat_p99_ms"),
         ("max ms", "wrk.lat_max_ms"),
         ("service CPU %", "server.service_cpu_pct"),
         ("server CPU %", "server.server_cpu_pct"),
         ("wrk CPU %", "wrk.wrk_cpu_pct"),
     ]),
    ("memory", "memory: bytes per queued task, every worker held busy", [
        ("tasks queued", "server.tasks"),
        ("heap bytes/task (mallinfo2)", "server.heap_bytes_per_task"),
        ("RSS bytes/task", "server.rss_bytes_per_task"),
    ]),
    ("peers", "peers and floor: libuv uv_queue_work, thread ping-pong", [
        ("ops/s", "peer.ops_per_s"),
        ("loop CPU us/op", "peer.loop_cpu_us_per_op"),
        ("enqueue-to-complete p50 us",
         "peer.enqueue_to_complete_p50_us"),
        ("p99 us", "peer.enqueue_to_complete_p99_us"),
        ("round trip p50 us", "peer.rtt_p50_us"),
        ("p99 us", "peer.rtt_p99_us"),
        ("max us", "peer.rtt_max_us"),
    ]),
]


def smoke_keys(scenario, variant):
    """what --smoke requires of a variant: each item is a list of figures
    of which one at least must be there and > 0"""
    if scenario == "dispatch":
        return [["server.tasks_per_s"], ["server.enqueue_to_reap_n"]]
    if scenario == "sync":
        return [["client.msgs_per_s"], ["server.sync_to_writable_n"],
                ["server.sync_to_resume_n"]]
    if scenario == "saturate":
        return [["wrk.rps"], ["wrk.lat_p99_ms"]]
    if scenario == "memory":
        # sanitizers replace malloc, so mallinfo2() may see nothing
        return [["server.tasks"], ["server.heap_bytes_per_task",
                                   "server.rss_bytes_per_task"]]
    if variant.startswith("libuv"):
        return [["peer.ops_per_s"]]
    return [["peer.rtt_n"]]


def table_rows(fig, scenario, cols):
    """header and rows of one table, dropping columns with no figure"""
    vs = fig.variants(scenario)
    cols = [c for c in cols
            if any(fig.values(scenario, v, c[1]) for v in vs)]
    header = ["variant"] + [c[0] for c in cols]
    rows = [[v] + [cell(fig.stat(scenario, v, c[1])) for c in cols]
            for v in vs]
    return header, rows


def print_text_table(header, rows, out):
    w = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w[i]) for i, c in enumerate(r))
    out.write(line(header).rstrip() + "\n")
    out.write("  ".join("-" * x for x in w) + "\n")
    for r in rows:
        out.write(line(r).rstrip() + "\n")


def md_table(header, rows):
    s = "| " + " | ".join(header) + " |\n"
    s += "|" + "|".join("---" for _ in header) + "|\n"
    for r in rows:
        s += "| " + " | ".join(r) + " |\n"
    return s


# --- liblwstp against upstream's pool ----------------------------------------

UP = " · upstream"

# scenario: (figure, what, higher is better)
VERSUS = {
    "dispatch": [("server.tasks_per_s", "tasks/s", True),
                 ("server.service_cpu_us_per_task", "service CPU/task",
                  False),
                 ("server.enqueue_to_reap_p99_us", "enqueue-to-reap p99",
                  False)],
    "sync": [("client.msgs_per_s", "msgs/s", True),
             ("server.service_cpu_us_per_msg", "service CPU/msg", False),
             ("server.sync_to_writable_p99_us", "SYNC-to-writable p99",
              False)],
    "saturate": [("wrk.rps", "requests/s", True),
                 ("wrk.lat_p99_ms", "p99", False)],
    "memory": [("server.heap_bytes_per_task", "heap bytes/task", False)],
}


# dispatch figures and their libuv counterparts (same K, same work, the
# loop thread's CPU for the service thread's)
LIBUV = {"server.tasks_per_s": "peer.ops_per_s",
         "server.service_cpu_us_per_task": "peer.loop_cpu_us_per_op"}


def libuv_cell(fig, sc, v, path):
    m = re.fullmatch(r"k=(\d+) work=(\d+) conns=1", v)
    if sc != "dispatch" or not m or path not in LIBUV:
        return "-"
    return cell(fig.stat("peers", "libuv k=%s work=%s" % m.groups(),
                         LIBUV[path]))


def versus_rows(fig):
    """[variant, figure, upstream, liblwstp, libuv, liblwstp/upstream,
    better] for every variant that ran on both pools"""
    rows = []
    for sc, figs in VERSUS.items():
        for v in fig.variants(sc):
            if v.endswith(UP) or (sc, v + UP) not in fig.runs:
                continue
            for path, what, higher in figs:
                a = fig.stat(sc, v, path)
                b = fig.stat(sc, v + UP, path)
                if not a or not b or not b[0]:
                    continue
                r = a[0] / b[0]
                better = r >= 1.0 if higher else r <= 1.0
                rows.append(["%s %s" % (sc, v), what, cell(b), cell(a),
                             libuv_cell(fig, sc, v, path), "%.2fx" % r,
                             "yes" if better else "NO"])
    return rows


# --- targets -----------------------------------------------------------------

def med(fig, sc, var, path):
    st = fig.stat(sc, var, path)
    return st[0] if st else None


def targets(fig):
    """(target, measured, verdict) rows"""
    out = []

    def add(name, measured, ok):
        verdict = "-" if ok is None else ("pass" if ok else "MISS")
        out.append((name, measured, verdict))

    def ratio_row(name, a, b, want, le=False):
        if a is None or b is None or not b:
            add(name, "no figures", None)
            return
        r = a / b
        ok = r <= want if le else r >= want
        add(name, "%s / %s = %.2fx" % (fmt(a), fmt(b), r), ok)

    for k, want in ((8, 2.0), (4000, 0.3)):
        ratio_row("dispatch 1 conn K=%d: lwstp >= %.1fx libuv ops/s" %
                  (k, want),
                  med(fig, "dispatch", "k=%d work=0 conns=1" % k,
                      "server.tasks_per_s"),
                  med(fig, "peers", "libuv k=%d work=0" % k,
                      "peer.ops_per_s"), want)
    for w in (0, 50):
        ratio_row("flat cost (work=%d us): service CPU/task K=4000 <= "
                  "1.2x K=512" % w,
                  med(fig, "dispatch", "k=4000 work=%d conns=1" % w,
                      "server.service_cpu_us_per_task"),
                  med(fig, "dispatch", "k=512 work=%d conns=1" % w,
                      "server.service_cpu_us_per_task"), 1.2, le=True)

    m = med(fig, "sync", "conns=1", "client.msgs_per_s")
    add("sync 1 conn >= 30,000 messages/s",
        "-" if m is None else "%s msgs/s" % fmt(m),
        None if m is None else m >= 30000)
    st = fig.stat("sync", "conns=1", "server.sync_to_resume_max_us")
    add("sync 1 conn: max sync-to-resume < 5 ms",
        "-" if st is None else "%.2f ms (median of the runs' max; worst "
        "%.2f ms)" % (st[0] / 1e3, st[2] / 1e3),
        None if st is None else st[0] < 5000)
    ratio_row("SYNC-to-writable p99 (1 conn) <= 2x eventfd round trip p99",
              med(fig, "sync", "conns=1", "server.sync_to_writable_p99_us"),
              med(fig, "peers", "eventfd", "peer.rtt_p99_us"), 2.0, le=True)
    idle = med(fig, "saturate", "idle", "wrk.lat_p99_ms")
    for v in fig.variants("saturate"):
        if v == "idle":
            continue
        p99 = med(fig, "saturate", v, "wrk.lat_p99_ms")
        if "spinners" in v:
            # the control, no library involved: shown, not judged
            add("(control, no task) saturate %s: p99 vs idle p99" % v,
                "-" if p99 is None or not idle else "%s / %s = %.2fx" %
                (fmt(p99), fmt(idle), p99 / idle), None)
            continue
        ratio_row("saturate %s: p99 <= 3x idle p99" % v, p99, idle, 3.0,
                  le=True)
    for v in fig.variants("memory"):
        if v.endswith(UP):
            continue
        b = med(fig, "memory", v, "server.heap_bytes_per_task")
        add("memory: <= 160 bytes per queued task",
            "-" if b is None else "%.0f bytes (%s)" % (b, v),
            None if b is None else b <= 160)

    # against upstream's own pool (issue 12)
    if not any(v.endswith(UP) for (_s, v) in fig.order):
        return out
    vs = versus_rows(fig)
    worse = [r for r in vs if r[6] == "NO"]
    add("no figure worse than upstream's (%d compared)" % len(vs),
        "all better or equal" if not worse else "worse: " +
        "; ".join("%s %s %s" % (r[0], r[1], r[5]) for r in worse), not worse)
    for c in (10, 100, 1000):
        v = "conns=%d" % c
        ratio_row("sync %d conns: msgs/s >= 1.5x upstream" % c,
                  med(fig, "sync", v, "client.msgs_per_s"),
                  med(fig, "sync", v + UP, "client.msgs_per_s"), 1.5)
        ratio_row("sync %d conns: service CPU/msg <= 0.8x upstream" % c,
                  med(fig, "sync", v, "server.service_cpu_us_per_msg"),
                  med(fig, "sync", v + UP, "server.service_cpu_us_per_msg"),
                  0.8, le=True)
    ratio_row("sync 10 conns: SYNC-to-writable p99 <= upstream's",
              med(fig, "sync", "conns=10", "server.sync_to_writable_p99_us"),
              med(fig, "sync", "conns=10" + UP,
                  "server.sync_to_writable_p99_us"), 1.0, le=True)
    for w in (0, 50):
        v = "k=8 work=%d conns=1" % w
        ratio_row("dispatch 1 conn, 8 in flight, %d us work: >= 2x "
                  "upstream tasks/s" % w,
                  med(fig, "dispatch", v, "server.tasks_per_s"),
                  med(fig, "dispatch", v + UP, "server.tasks_per_s"), 2.0)
    v = fig.variants("memory")
    lw = [x for x in v if not x.endswith(UP)]
    if lw and (lw[0] + UP) in v:
        ratio_row("memory per queued task <= 0.6x upstream's",
                  med(fig, "memory", lw[0], "server.heap_bytes_per_task"),
                  med(fig, "memory", lw[0] + UP,
                      "server.heap_bytes_per_task"), 0.6, le=True)
    return out


# --- chart ----------------------------------------------------------------------

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]
SERIES_COLORS = {"lwstp": "#1f77b4", "libuv": "#d62728",
                 "lwstp 50us": "#2ca02c", "libuv 50us": "#ff7f0e",
                 "lwstp full scan": "#9467bd"}


def esc(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;")
            .replace(">", "&gt;"))


class Panel:
    """One chart panel: log-scale lines with min-max whiskers, or bars."""

    def __init__(self, x, y, w, h, title, ylabel):
        self.x, self.y, self.w, self.h = x, y, w, h
        self.title, self.ylabel = title, ylabel
        self.l, self.r, self.t, self.b = 62, 12, 28, 40

    def frame(self, svg):
        svg.append('<text x="%d" y="%d" font-size="13" font-weight="bold">'
                   '%s</text>' % (self.x + 8, self.y + 16, esc(self.title)))
        svg.append('<text transform="translate(%d,%d) rotate(-90)" '
                   'font-size="11" text-anchor="middle">%s</text>' %
                   (self.x + 12, self.y + self.t + self.ph() / 2,
                    esc(self.ylabel)))

    def pw(self):
        return self.w - self.l - self.r

    def ph(self):
        return self.h - self.t - self.b

    def ox(self):
        return self.x + self.l

    def oy(self):
        return self.y + self.t


def log_ticks(lo, hi):
    import math
    a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    if a == b:
        b += 1
    return a, b


def lines_panel(svg, p, xs_labels, series, ylog=True):
    """series: [(name, [(xi, (med, lo, hi)) ...])]; xs at even spacing"""
    import math
    p.frame(svg)
    vals = [v for _, pts in series for _, st in pts for v in st if v > 0]
    if not vals:
        return
    a, b = log_ticks(min(vals), max(vals))
    ymap = lambda v: p.oy() + p.ph() * (1 - (math.log10(max(v, 10 ** a)) -
                                             a) / (b - a))
    n = len(xs_labels)
    xmap = lambda i: p.ox() + p.pw() * (i + 0.5) / n
    svg.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" '
               'stroke="#999"/>' % (p.ox(), p.oy(), p.pw(), p.ph()))
    for e in range(a, b + 1):
        y = ymap(10 ** e)
        svg.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" '
                   'stroke="#ddd"/>' % (p.ox(), p.ox() + p.pw(), y, y))
        svg.append('<text x="%d" y="%.1f" font-size="10" '
                   'text-anchor="end">%s</text>' %
                   (p.ox() - 4, y + 3, fmt(10 ** e)))
    for i, lab in enumerate(xs_labels):
        svg.append('<text x="%.1f" y="%d" font-size="10" '
                   'text-anchor="middle">%s</text>' %
                   (xmap(i), p.oy() + p.ph() + 14, esc(lab)))
    for si, (name, pts) in enumerate(series):
        c = SERIES_COLORS.get(name, COLORS[si % len(COLORS)])
        path = " ".join("%s%.1f,%.1f" % ("M" if j == 0 else "L", xmap(i),
                                         ymap(st[0]))
                        for j, (i, st) in enumerate(pts))
        svg.append('<path d="%s" fill="none" stroke="%s" '
                   'stroke-width="2"/>' % (path, c))
        for i, (m, lo, hi) in pts:
            svg.append('<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" '
                       'stroke="%s"/>' % (xmap(i), xmap(i), ymap(lo),
                                          ymap(hi), c))
            svg.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>' %
                       (xmap(i), ymap(m), c))
        ly = p.oy() + p.ph() + 28
        lx = p.ox() + si * (p.pw() / max(len(series), 1))
        svg.append('<rect x="%.1f" y="%d" width="10" height="3" '
                   'fill="%s"/>' % (lx, ly - 4, c))
        svg.append('<text x="%.1f" y="%d" font-size="10">%s</text>' %
                   (lx + 13, ly, esc(name)))


def chart(fig, meta, path):
    W, H = 960, 640
    svg = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif">' % (W, H),
           '<rect width="100%" height="100%" fill="white"/>']
    svg.append('<text x="%d" y="18" font-size="12" text-anchor="middle">'
               'lws-threadpool benchmarks: median of %s runs, whiskers min-'
               'max; %s cores, %s, kernel %s</text>' %
               (W / 2, meta.get("runs", "?"), meta.get("nproc", "?"),
                esc(meta.get("cpu", "?")), esc(meta.get("kernel", "?"))))
    pw, ph, top = W / 2, (H - 24) / 2, 24

    ks = [8, 64, 512, 4000]
    kl = ["K=%d" % k for k in ks]

    def pts(sc, fmt_var, path, keys):
        out = []
        for i, k in enumerate(keys):
            st = fig.stat(sc, fmt_var % k, path)
            if st:
                out.append((i, st))
        return out

    lines_panel(svg, Panel(0, top, pw, ph, "dispatch, 1 connection: "
                           "tasks per second", "tasks/s"), kl, [
        ("lwstp", pts("dispatch", "k=%d work=0 conns=1",
                      "server.tasks_per_s", ks)),
        ("libuv", pts("peers", "libuv k=%d work=0", "peer.ops_per_s", ks)),
        ("lwstp 50us", pts("dispatch", "k=%d work=50 conns=1",
                           "server.tasks_per_s", ks)),
        ("libuv 50us", pts("peers", "libuv k=%d work=50", "peer.ops_per_s",
                           ks)),
    ])
    lines_panel(svg, Panel(pw, top, pw, ph, "service (loop) thread CPU "
                           "per task", "CPU us/task"), kl, [
        ("lwstp", pts("dispatch", "k=%d work=0 conns=1",
                      "server.service_cpu_us_per_task", ks)),
        ("libuv", pts("peers", "libuv k=%d work=0",
                      "peer.loop_cpu_us_per_op", ks)),
        ("lwstp 50us", pts("dispatch", "k=%d work=50 conns=1",
                           "server.service_cpu_us_per_task", ks)),
        ("libuv 50us", pts("peers", "libuv k=%d work=50",
                           "peer.loop_cpu_us_per_op", ks)),
        ("lwstp full scan", pts("dispatch", "k=%d work=0 conns=1 full-scan",
                                "server.service_cpu_us_per_task", ks)),
    ])
    cs = [1, 10, 100, 1000]
    cl = ["%d conn" % c for c in cs]
    lines_panel(svg, Panel(0, top + ph, pw, ph, "by connections: dispatch "
                           "tasks/s (K=8 each), sync msgs/s", "per second"),
                cl, [
        ("dispatch tasks/s", pts("dispatch", "k=8 work=0 conns=%d",
                                 "server.tasks_per_s", cs)),
        ("sync msgs/s", pts("sync", "conns=%d", "client.msgs_per_s", cs)),
    ])
    sv = fig.variants("saturate")
    short = [v.replace("busy ", "").replace("nice=", "nice ")
             .replace("sched_idle", "SCHED_IDLE")
             .replace("idle + nice-19 spinners", "control") for v in sv]
    lines_panel(svg, Panel(pw, top + ph, pw, ph, "saturate: wrk latency "
                           "on /tiny (busy: workers spin)", "ms"), short, [
        ("p50", [(i, fig.stat("saturate", v, "wrk.lat_p50_ms"))
                 for i, v in enumerate(sv)
                 if fig.stat("saturate", v, "wrk.lat_p50_ms")]),
        ("p99", [(i, fig.stat("saturate", v, "wrk.lat_p99_ms"))
                 for i, v in enumerate(sv)
                 if fig.stat("saturate", v, "wrk.lat_p99_ms")]),
        ("max", [(i, fig.stat("saturate", v, "wrk.lat_max_ms"))
                 for i, v in enumerate(sv)
                 if fig.stat("saturate", v, "wrk.lat_max_ms")]),
    ])
    svg.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(svg) + "\n")


# --- table command -----------------------------------------------------------------

def report(path, svg_path=None, doc=None, smoke=False):
    meta, meta_end, rows = load(path)
    if not rows:
        sys.exit("report.py: no results in %s" % path)
    fig = Figures(rows)
    out = sys.stdout
    out.write("\nlws-threadpool benchmarks, %s: %s cores, %s, kernel %s; "
              "load before %s, after %s\nmedian [min-max] of %s run(s)\n" %
              (meta.get("when", "?"), meta.get("nproc", "?"),
               meta.get("cpu", "?"), meta.get("kernel", "?"),
               meta.get("loadavg_before", "?"),
               meta_end.get("loadavg_after", "?"), meta.get("runs", "?")))
    md = []
    for sc, title, cols in TABLES:
        if not fig.variants(sc):
            continue
        header, trows = table_rows(fig, sc, cols)
        out.write("\n%s\n" % title)
        print_text_table(header, trows, out)
        md.append("**%s**\n\n%s" % (title, md_table(header, trows)))

    if smoke:
        # every variant printed its main figure: that is all the smoke
        # asks (no timing is judged)
        missing = ["%s %s: %s" % (sc, v, " or ".join(alts))
                   for (sc, v) in fig.order
                   for alts in smoke_keys(sc, v)
                   if not any(x > 0 for path in alts
                              for x in fig.values(sc, v, path))]
        for m in missing:
            print("smoke: no figure for %s" % m)
        print("\nsmoke: %d variants ran, %d without their figures" %
              (len(fig.order), len(missing)))
        return 1 if missing else 0

    vs = versus_rows(fig)
    if vs:
        vh = ["variant", "figure", "upstream", "liblwstp", "libuv",
              "liblwstp / upstream", "liblwstp better or equal"]
        out.write("\nliblwstp against upstream's own pool (lws 4.1.6, "
                  "LWS_WITH_THREADPOOL), same server source\n")
        print_text_table(vh, vs, out)
        md.insert(0, "**liblwstp against upstream's own pool (lws 4.1.6 "
                  "built with LWS_WITH_THREADPOOL), same server source**"
                  "\n\n" + md_table(vh, vs))
    trows = targets(fig)
    header = ["target", "measured (medians)", "verdict"]
    out.write("\ntargets\n")
    print_text_table(header, [list(r) for r in trows], out)
    md.insert(0, "**targets**\n\n" + md_table(header,
                                               [list(r) for r in trows]))
    if svg_path:
        chart(fig, meta, svg_path)
        out.write("\nchart: %s\n" % svg_path)
    if doc:
        update_doc(doc, meta, meta_end, md)
        out.write("updated: %s\n" % doc)
    return 0


BEGIN = "<!-- figures:begin (bench/report.py writes this part) -->"
END = "<!-- figures:end -->"


def update_doc(doc, meta, meta_end, md):
    with open(doc) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        sys.exit("report.py: %s has no figures markers" % doc)
    head = ("Run %s (`%s`), %s runs of each variant, git %s.  Machine: "
            "%s cores (`nproc`), %s, kernel %s.  Load average before: "
            "%s; after: %s.\n\n" %
            (meta.get("when", "?"), meta.get("suite", "?"),
             meta.get("runs", "?"), meta.get("git", "?"),
             meta.get("nproc", "?"), meta.get("cpu", "?"),
             meta.get("kernel", "?"), meta.get("loadavg_before", "?"),
             meta_end.get("loadavg_after", "?")))
    body = head + "\n".join(md)
    a = text.index(BEGIN) + len(BEGIN)
    b = text.index(END)
    with open(doc, "w") as f:
        f.write(text[:a] + "\n" + body + "\n" + text[b:])


def main(argv):
    if len(argv) >= 2 and argv[1] == "wrk":
        args = argv[2:]
        if args and args[0] == "--":
            args = args[1:]
        run_wrk(args)
        return 0
    if len(argv) >= 3 and argv[1] == "table":
        path, svg_path, doc, smoke = argv[2], None, None, False
        i = 3
        while i < len(argv):
            if argv[i] == "--svg":
                svg_path = argv[i + 1]
                i += 1
            elif argv[i] == "--doc":
                doc = argv[i + 1]
                i += 1
            elif argv[i] == "--smoke":
                smoke = True
            else:
                sys.exit("report.py: unknown option %s" % argv[i])
            i += 1
        return report(path, svg_path, doc, smoke)
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
