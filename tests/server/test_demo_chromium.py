#!/usr/bin/env python3
"""The demo page, end to end, in headless Chromium, over http and https.

usage: test_demo_chromium.py LWSTP-SERVER PLUGIN-DIR SCREENSHOT-DIR

Starts lwstp-server with its built-in config (written out with
--write-config; job-deadline-ms raised so that a queued job waits as long as
the test needs, max-job-size 4 GiB) on a free port, and Debian's chromium
headless, driven over the DevTools protocol (python3-websockets).
The page is loaded; the test checks the gauges' explanations, and that a
/status that fails (blocked by the browser) shows as an error and clears;
clicks "Start job" and waits (polling the DOM, bounded) for the job's
progress bar to move and its result to arrive while the pool gauges show it
running; fills the pool with four jobs, sees a fifth refused next to the
Start button and an HTTP job get a row while it is queued; stops the four
with their Stop buttons and sees the HTTP job (the chunked /job stream)
finish; starts two outliving jobs, reloads the page, waits for the page to
reattach to them by the tokens it kept in localStorage, sees one finish and
stops the other with its Stop button (by token).

Then the same server config with TLS (a certificate made here with
openssl): the page over https, its requests over HTTP/2, the WebSocket,
the gauges and an HTTP job.  Screenshots go to SCREENSHOT-DIR.

If /usr/bin/chromium is missing, the test installs it with apt-get when it
runs as root; it exits 77 (skipped) only if chromium cannot be installed."""

import asyncio
import base64
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
from lwstptest import (ReadyServer, Tally,  # noqa: E402
                       start_on_free_ports)

import websockets

BIN, PLUGINS, SHOTS = sys.argv[1], sys.argv[2], sys.argv[3]
CHROMIUM = "/usr/bin/chromium"
R = Tally(verbose=True)
SKIP = 77
MiB = 1048576


def ensure_chromium():
    if os.access(CHROMIUM, os.X_OK):
        return True
    if os.geteuid() != 0:
        print("SKIP: %s is missing and this is not root to apt-get install "
              "chromium" % CHROMIUM)
        return False
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-q"],
                ["apt-get", "install", "-y", "-q", "--no-install-recommends",
                 "chromium", "fonts-dejavu-core"]):
        r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, timeout=900)
        if r.returncode:
            print("SKIP: cannot install chromium: %s: %s" %
                  (" ".join(cmd), r.stderr.decode(errors="replace")[-400:]))
            return False
    return os.access(CHROMIUM, os.X_OK)


def start_chromium(profile):
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-dev-shm-usage",
            "--ignore-certificate-errors",
            "--user-data-dir=" + profile, "--remote-debugging-port=0",
            "--remote-debugging-address=127.0.0.1",
            "--window-size=1280,1100", "about:blank"]
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    err = ""
    while time.monotonic() < deadline:
        r, _, _ = select.select([p.stderr], [], [],
                                max(0.01, deadline - time.monotonic()))
        if not r:
            continue
        data = os.read(p.stderr.fileno(), 65536).decode(errors="replace")
        if not data:
            break
        err += data
        m = re.search(r"DevTools listening on (ws://\S+)", err)
        if m:
            return p, m.group(1)
    p.kill()
    p.wait()
    raise RuntimeError("chromium did not start: " + err[-1000:])


class CDP:
    """A minimal DevTools protocol client: commands and events of one
    page session"""

    def __init__(self, ws):
        self.ws = ws
        self.seq = 0
        self.waiting = {}
        self.events = []
        self.event_cond = asyncio.Condition()
        self.session = None
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self):
        async for raw in self.ws:
            m = json.loads(raw)
            if "id" in m and m["id"] in self.waiting:
                self.waiting.pop(m["id"]).set_result(m)
            elif "method" in m:
                async with self.event_cond:
                    self.events.append(m)
                    self.event_cond.notify_all()

    async def send(self, method, params=None, session=True, timeout=60):
        self.seq += 1
        msg = {"id": self.seq, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        fut = asyncio.get_running_loop().create_future()
        self.waiting[self.seq] = fut
        await self.ws.send(json.dumps(msg))
        m = await asyncio.wait_for(fut, timeout)
        if "error" in m:
            raise RuntimeError("%s: %s" % (method, m["error"]))
        return m.get("result", {})

    async def wait_event(self, method, timeout=60, since=0):
        """the first event called method at or after index since"""
        async def find():
            async with self.event_cond:
                while True:
                    for e in self.events[since:]:
                        if e["method"] == method:
                            return e
                    await self.event_cond.wait()
        return await asyncio.wait_for(find(), timeout)

    async def eval(self, expr):
        r = await self.send("Runtime.evaluate",
                            {"expression": expr, "returnByValue": True,
                             "awaitPromise": True})
        if "exceptionDetails" in r:
            raise RuntimeError("JS: %s" % r["exceptionDetails"])
        return r["result"].get("value")

    async def wait_for(self, expr, timeout=60, every=0.1, also=None):
        """polls expr in the page until it is truthy (bounded); also() is
        called at each poll"""
        deadline = time.monotonic() + timeout
        while True:
            v = await self.eval(expr)
            if also:
                await also()
            if v:
                return v
            if time.monotonic() > deadline:
                return v
            await asyncio.sleep(every)

    async def click(self, selector):
        """a real mouse click in the middle of the element"""
        box = await self.eval(
            "(() => { const e = document.querySelector(%s);"
            " if (!e) return null; e.scrollIntoView({block: 'center'});"
            " const r = e.getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()" %
            json.dumps(selector))
        if not box:
            raise RuntimeError("no element " + selector)
        for t in ("mousePressed", "mouseReleased"):
            await self.send("Input.dispatchMouseEvent",
                            {"type": t, "x": box[0], "y": box[1],
                             "button": "left", "clickCount": 1})

    async def screenshot(self, path):
        r = await self.send("Page.captureScreenshot", {"format": "png"})
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))
        print("screenshot: %s" % path)


async def navigate(cdp, url, reload=False):
    since = len(cdp.events)
    if reload:
        await cdp.send("Page.reload", {"ignoreCache": True})
    else:
        await cdp.send("Page.navigate", {"url": url})
    await cdp.wait_event("Page.loadEventFired", 60, since)


async def page_session(cdp):
    t = await cdp.send("Target.createTarget", {"url": "about:blank"},
                       session=False)
    a = await cdp.send("Target.attachToTarget",
                       {"targetId": t["targetId"], "flatten": True},
                       session=False)
    cdp.session = a["sessionId"]
    await cdp.send("Page.enable")
    await cdp.send("Runtime.enable")
    await cdp.send("Network.enable")
    await cdp.send("Emulation.setDeviceMetricsOverride",
                   {"width": 1280, "height": 1100,
                    "deviceScaleFactor": 1, "mobile": False})


def page_errors(cdp):
    errors = [e for e in cdp.events
              if e["method"] == "Runtime.exceptionThrown"]
    R.check(not errors, "no JavaScript exceptions",
            json.dumps(errors)[:500])
    # a reload cancels a /status fetch in flight: ERR_ABORTED is fine, and
    # the test blocks /status on purpose for a while
    failed = [e["params"] for e in cdp.events
              if e["method"] == "Network.loadingFailed" and
              "ABORTED" not in e["params"].get("errorText", "") and
              e["params"].get("blockedReason") != "inspector"]
    R.check(not failed, "no failed loads", json.dumps(failed)[:500])


def http_job(state, also=""):
    """the page's HTTP job is in state (and the JS condition also)"""
    return ("(() => { const j = document.querySelector("
            "'.job[data-kind=http]'); return j && j.dataset.state === %s%s;"
            " })()" % (json.dumps(state), " && " + also if also else ""))


SHA_SHOWN = "/^[0-9a-f]{64}$/.test(j.querySelector('.sha').textContent)"


async def run_http(cdp, mib):
    await cdp.eval("document.getElementById('size-mib').value = '%d'" % mib)
    await cdp.click("#start-http")


def running_ws(n):
    return ("document.querySelectorAll('.job[data-kind=ws]"
            "[data-state=running]').length === %d" % n)


async def in_page(browser_url, base, drive):
    """a page of the browser at base, driven by drive(cdp, base); then no
    exceptions and no failed loads"""
    async with websockets.connect(browser_url, max_size=None,
                                  open_timeout=30) as ws:
        cdp = CDP(ws)
        await page_session(cdp)
        await navigate(cdp, base)
        await drive(cdp, base)
        page_errors(cdp)
        await cdp.send("Browser.close", session=False)
        cdp.reader.cancel()


async def drive(cdp, base):
    R.check(await cdp.eval("document.title") == "lws-threadpool demo",
            "the page loads from the server")
    R.check(await cdp.eval(
        "getComputedStyle(document.body).backgroundColor") ==
        "rgb(244, 245, 247)", "its stylesheet is applied")
    R.check(await cdp.wait_for("document.body.dataset.ws === 'open'"),
            "the page's WebSocket connects")
    R.check(await cdp.wait_for(
        "Number(document.getElementById('chart').dataset.samples) >= 4"
        " && document.getElementById('g-threads').textContent === '4'"),
        "the pool gauges fill from /status (4 threads)")
    R.check(await cdp.eval(
        "Array.from(document.querySelectorAll('#pool .gauges > div'))"
        ".every((d) => d.title.length > 15) && document.querySelector("
        "'#g-syncing').parentNode.querySelector('.cap') !== null &&"
        " document.querySelector('#g-done').parentNode.querySelector("
        "'.cap') !== null"),
        "each gauge says what it means (tooltip; syncing and done "
        "have a caption)")

    # /status failing shows as an error, and clears when it answers
    await cdp.send("Network.setBlockedURLs", {"urls": ["*/status*"]})
    R.check(await cdp.wait_for(
        "!document.getElementById('pool-error').hidden &&"
        " document.getElementById('pool').dataset.status === 'error' &&"
        " document.getElementById('pool-error').textContent"
        ".includes('unavailable')"),
        "a failed /status shows as an error next to the gauges")
    await cdp.send("Network.setBlockedURLs", {"urls": []})
    R.check(await cdp.wait_for(
        "document.getElementById('pool-error').hidden &&"
        " document.getElementById('pool').dataset.status === 'ok'"),
        "the error clears when /status answers again")

    # a job: progress, then its result, with the gauges moving
    seen_running = [0]

    async def gauge():
        v = await cdp.eval(
            "Number(document.getElementById('g-running').textContent)"
            " || 0")
        seen_running[0] = max(seen_running[0], v)

    await cdp.eval("document.getElementById('size-mib').value = '512'")
    await cdp.click("#start")
    job = ".job[data-kind=ws]"
    R.check(await cdp.wait_for(
        "(() => { const j = document.querySelector('%s');"
        " return j && Number(j.dataset.progressCount) >= 1 &&"
        " parseFloat(j.querySelector('.fill').style.width) > 0; })()" %
        job, 120, also=gauge),
        "clicking Start: the job's progress bar moves")
    R.check(await cdp.wait_for(
        "document.querySelector('%s').dataset.state === 'done'" % job,
        300, also=gauge), "the job's result arrives")
    sha = await cdp.eval("document.querySelector('%s .sha')"
                         ".textContent" % job)
    R.check(bool(re.fullmatch(r"[0-9a-f]{64}", sha or "")),
            "the page shows the sha256", sha)
    charted = await cdp.eval(
        "Number(document.getElementById('chart').dataset.maxRunning)")
    R.check(seen_running[0] >= 1 or charted >= 1,
            "the gauges showed the job running (gauge seen %d, "
            "charted %s)" % (seen_running[0], charted))
    R.check(await cdp.wait_for(
        "Number(document.getElementById('g-running').textContent)"
        " === 0"), "the running gauge goes back to 0")
    os.makedirs(SHOTS, exist_ok=True)
    await cdp.screenshot(os.path.join(SHOTS, "demo-job-done.png"))

    # fill the pool (4 threads, 4 jobs a connection): a fifth job is
    # refused next to the Start button, an HTTP job waits in the
    # queue with a row of its own
    await cdp.eval("document.getElementById('size-mib').value = '4096'")
    for i in range(4):
        await cdp.click("#start")
        R.check(await cdp.wait_for(running_ws(i + 1), 60),
                "job %d of 4 runs" % (i + 1))
    R.check(await cdp.wait_for(
        "Number(document.getElementById('g-running').textContent)"
        " === 4 && Number(document.getElementById('g-idle')"
        ".textContent) === 0", 60), "the gauges show the pool full")
    await cdp.click("#start")
    R.check(await cdp.wait_for(
        "(() => { const e = document.getElementById('start-error');"
        " return !e.hidden && e.textContent.includes('too-many-jobs')"
        " && e.closest('#controls') !== null; })()", 60),
        "a fifth job's refusal shows next to the Start button")
    await run_http(cdp, 64)
    R.check(await cdp.wait_for(http_job(
        "queued", "j.querySelector('.state').textContent"
        ".includes('queued')"), 60), "a queued HTTP job gets a row")
    R.check(await cdp.wait_for(
        "Number(document.getElementById('g-queued').textContent)"
        " === 1", 60), "the queued gauge counts it")
    R.check(await cdp.eval(
        "document.getElementById('start-error').hidden"),
        "a new start clears the old error")
    await cdp.screenshot(os.path.join(SHOTS, "demo-pool-full.png"))

    # stop the four with their Stop buttons: the HTTP job runs
    for i in range(4):
        await cdp.click(".job[data-kind=ws][data-state=running] .stop")
        R.check(await cdp.wait_for(running_ws(3 - i), 120),
                "Stop button %d stops its job" % (i + 1))
    R.check(await cdp.eval(
        "document.querySelectorAll('.job[data-kind=ws]"
        "[data-state=stopped]').length") == 4, "four jobs stopped")
    R.check(await cdp.wait_for(http_job(
        "done", SHA_SHOWN + " && /^#[0-9]+/.test(j.querySelector('.name')"
        ".textContent)"), 300),
        "Run over HTTP: the streamed job's result, under its id")

    # two outliving jobs, their tokens kept; reload, reattach
    await cdp.eval("document.getElementById('size-mib').value = '4096'")
    await cdp.click("#start-outlive")
    long_token = await cdp.wait_for(
        "(() => { const t = JSON.parse(localStorage.getItem("
        "'lwstp-demo-tokens') || '[]'); return t.length ?"
        " t[t.length - 1].token : null; })()", 60)
    await cdp.eval("document.getElementById('size-mib').value = '256'")
    await cdp.click("#start-outlive")
    token = await cdp.wait_for(
        "(() => { const t = JSON.parse(localStorage.getItem("
        "'lwstp-demo-tokens') || '[]'); return t.length == 2 ?"
        " t[t.length - 1].token : null; })()", 60)
    R.check(bool(re.fullmatch(r"[0-9a-f]{32}", token or "")),
            "an outliving job's token is kept in localStorage", token)
    R.check(await cdp.wait_for(
        "document.querySelector('.job[data-kind=outliving] .token')"
        ".textContent.includes(%s)" % json.dumps(token)),
        "the page shows the token")

    await navigate(cdp, base, reload=True)
    R.check(await cdp.wait_for(
        "(() => { const j = document.querySelector("
        "'.job[data-kind=reattached]'); return j &&"
        " j.querySelector('.token').textContent.includes(%s); })()" %
        json.dumps(token), 60),
        "after a reload the page reattaches by its token")
    R.check(await cdp.wait_for(
        "(() => { const j = Array.from(document.querySelectorAll("
        "'.job[data-kind=reattached]')).find((e) => e.querySelector("
        "'.token').textContent.includes(%s)); return j &&"
        " j.dataset.state === 'done'; })()" % json.dumps(token), 300),
        "the reattached job's result arrives")
    long_job = ("Array.from(document.querySelectorAll("
                "'.job[data-kind=reattached]')).find((e) => e"
                ".querySelector('.token').textContent.includes(%s))" %
                json.dumps(long_token))
    R.check(await cdp.wait_for(
        "(() => { const j = %s; return j &&"
        " j.dataset.state !== 'done' && !j.querySelector('.stop')"
        ".hidden; })()" % long_job, 60),
        "the other reattached job is running and has Stop")
    await cdp.eval("%s.setAttribute('id', 'long-job')" % long_job)
    await cdp.click("#long-job .stop")
    R.check(await cdp.wait_for(
        "(() => { const j = document.getElementById('long-job');"
        " return j.dataset.state === 'stopped' &&"
        " j.querySelector('.state').textContent.includes('requested');"
        " })()", 120), "its Stop button stops it (by token)")
    await cdp.wait_for(
        "Number(document.getElementById('g-running').textContent)"
        " === 0")
    R.check(await cdp.eval(
        "document.querySelector('#tokens li') !== null &&"
        " Array.from(document.querySelectorAll('#tokens li')).some("
        "(li) => li.dataset.token === %s)" %
        json.dumps(token)), "the token is listed after the reload")
    await cdp.screenshot(os.path.join(SHOTS, "demo-reattached.png"))


async def drive_tls(cdp, base):
    """The page over https: HTTP/2, wss, the gauges, an HTTP job"""
    R.check(await cdp.eval("document.title") == "lws-threadpool demo",
            "https: the page loads")
    R.check(await cdp.wait_for("document.body.dataset.ws === 'open'"),
            "https: the page's WebSocket (wss) connects")
    R.check(await cdp.wait_for(
        "Number(document.getElementById('chart').dataset.samples) >= 4"
        " && document.getElementById('g-threads').textContent === '4'"
        " && document.getElementById('pool').dataset.status === 'ok'"),
        "https: the gauges fill from /status")
    await run_http(cdp, 64)
    R.check(await cdp.wait_for(http_job("done", SHA_SHOWN), 300),
            "https: an HTTP job's streamed result")
    protos = {}
    for e in cdp.events:
        if e["method"] == "Network.responseReceived":
            r = e["params"]["response"]
            path = re.sub(r"^https://[^/]+", "", r["url"]).split("?")[0]
            protos.setdefault(path, set()).add(r.get("protocol"))
    R.check(all(protos.get(p) == {"h2"} for p in
                ("/", "/status", "/job", "/demo.js")),
            "https: the page, /status and /job over HTTP/2", protos)
    await cdp.screenshot(os.path.join(SHOTS, "demo-https.png"))


def write_config(d, tls, port):
    """the built-in config on port, with a long job deadline and 4 GiB
    jobs, and for tls a certificate made here"""
    rc = subprocess.run([BIN, "--write-config", d, "--port", str(port)],
                        capture_output=True)
    if rc.returncode:
        raise RuntimeError("--write-config: %r" % rc)
    vh = os.path.join(d, "conf.d", "localhost")
    with open(vh) as f:
        text = f.read()
    text = text.replace('"max-job-size": "1073741824"',
                        '"max-job-size": "4294967296",\n'
                        '\t\t\t\t"job-deadline-ms": "600000"')
    if tls:
        key, crt = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                        "-nodes", "-keyout", key, "-out", crt, "-days",
                        "2", "-subj", "/CN=127.0.0.1"], check=True,
                       capture_output=True)
        text = text.replace('"interface": "127.0.0.1",',
                            '"interface": "127.0.0.1",\n'
                            '\t\t"host-ssl-cert": "%s",\n'
                            '\t\t"host-ssl-key": "%s",' % (crt, key))
        with open(os.path.join(d, "conf")) as f:
            conf = f.read()
        with open(os.path.join(d, "conf"), "w") as f:
            f.write(conf.replace('"init-ssl": "no"', '"init-ssl": "yes"'))
    with open(vh, "w") as f:
        f.write(text)


def run_one(tls):
    cfg = tempfile.mkdtemp(prefix="lwstp-demo-conf-")

    def started(ports):     # on a port free now (again if it was taken)
        write_config(cfg, tls, ports[0])
        srv = ReadyServer(BIN, ["-c", cfg])
        srv.start()
        return srv
    server = start_on_free_ports(started, 1)
    if not R.check(server.ready, "server starts (%s)" %
                   ("https" if tls else "http"),
                   server.out + server.err[-500:]):
        server.stop()
        shutil.rmtree(cfg, ignore_errors=True)
        return
    if tls:
        R.check("on https://127.0.0.1:%d/" % server.port in server.out,
                "the startup line says https", server.out)
    profile = tempfile.mkdtemp(prefix="lwstp-chromium-")
    browser = None
    try:
        browser, url = start_chromium(profile)
        base = "%s://127.0.0.1:%d/" % ("https" if tls else "http",
                                       server.port)
        asyncio.run(asyncio.wait_for(in_page(
            url, base, drive_tls if tls else drive), 900))
    except Exception as e:
        R.check(False, "driving chromium", repr(e))
    finally:
        if browser:
            try:
                browser.wait(timeout=30)
            except subprocess.TimeoutExpired:
                browser.kill()
                browser.wait()
        shutil.rmtree(profile, ignore_errors=True)
        rc = server.stop()
        R.check(rc == 0, "server: clean exit 0 after the browser left",
                "rc=%s %s" % (rc, server.err[-500:]))
        shutil.rmtree(cfg, ignore_errors=True)


def main():
    if not ensure_chromium():
        print("0 passed, 0 failed, 1 skipped")
        return SKIP
    if not PLUGINS or not os.path.isdir(PLUGINS):
        R.check(False, "the lws-threadpool plugin was built", PLUGINS)
        return R.summary()

    run_one(False)
    run_one(True)
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
