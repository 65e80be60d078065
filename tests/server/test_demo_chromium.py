#!/usr/bin/env python3
"""The demo page, end to end, in headless Chromium.

usage: test_demo_chromium.py LWSTP-SERVER PLUGIN-DIR SCREENSHOT-DIR

Starts lwstp-server with its built-in config on a free port, and Debian's
chromium headless, driven over the DevTools protocol (python3-websockets).
The page is loaded; the test clicks "Start job" and waits (polling the DOM,
bounded) for the job's progress bar to move and its result to arrive while
the pool gauges show it running; stops a second job with its Stop button;
runs a job over HTTP (the chunked /job stream); starts an outliving job,
reloads the page and waits for the page to reattach to it by the token it
kept in localStorage.  Screenshots go to SCREENSHOT-DIR.

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
from lwstptest import ReadyServer, Tally  # noqa: E402

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


async def drive(browser_url, port):
    base = "http://127.0.0.1:%d/" % port
    async with websockets.connect(browser_url, max_size=None,
                                  open_timeout=30) as ws:
        cdp = CDP(ws)
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

        await navigate(cdp, base)
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

        # stop a job with its Stop button
        await cdp.eval("document.getElementById('size-mib').value = '1024'")
        await cdp.click("#start")
        stop_job = ".job[data-kind=ws]:not([data-state=done])"
        R.check(await cdp.wait_for(
            "(() => { const j = document.querySelector('%s');"
            " return j && Number(j.dataset.progressCount) >= 1; })()" %
            stop_job, 120), "a second job runs")
        await cdp.click(stop_job + " .stop")
        R.check(await cdp.wait_for(
            "(() => { const j = document.querySelector("
            "'.job[data-kind=ws]:not([data-state=done])');"
            " return j && j.dataset.state === 'stopped'; })()", 120),
            "its Stop button stops it")

        # a job over HTTP: GET /job?size=N, an ndjson stream
        await cdp.eval("document.getElementById('size-mib').value = '64'")
        await cdp.click("#start-http")
        R.check(await cdp.wait_for(
            "(() => { const j = document.querySelector("
            "'.job[data-kind=http]'); return j &&"
            " j.dataset.state === 'done' &&"
            " /^[0-9a-f]{64}$/.test(j.querySelector('.sha').textContent);"
            " })()", 300), "Run over HTTP: the streamed job's result")

        # an outliving job, its token kept; reload, reattach
        await cdp.eval("document.getElementById('size-mib').value = '256'")
        await cdp.click("#start-outlive")
        token = await cdp.wait_for(
            "(() => { const t = JSON.parse(localStorage.getItem("
            "'lwstp-demo-tokens') || '[]'); return t.length ?"
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
            "document.querySelector('.job[data-kind=reattached]')"
            ".dataset.state === 'done'", 300),
            "the reattached job's result arrives")
        await cdp.wait_for(
            "Number(document.getElementById('g-running').textContent)"
            " === 0")
        R.check(await cdp.eval(
            "document.querySelector('#tokens li') !== null &&"
            " document.querySelector('#tokens li').dataset.token === %s" %
            json.dumps(token)), "the token is listed after the reload")
        await cdp.screenshot(os.path.join(SHOTS, "demo-reattached.png"))

        errors = [e for e in cdp.events
                  if e["method"] == "Runtime.exceptionThrown"]
        R.check(not errors, "no JavaScript exceptions",
                json.dumps(errors)[:500])
        # a reload cancels a /status fetch in flight: ERR_ABORTED is fine
        failed = [e["params"] for e in cdp.events
                  if e["method"] == "Network.loadingFailed" and
                  "ABORTED" not in e["params"].get("errorText", "")]
        R.check(not failed, "no failed loads", json.dumps(failed)[:500])

        await cdp.send("Browser.close", session=False)
        cdp.reader.cancel()


def main():
    if not ensure_chromium():
        print("0 passed, 0 failed, 1 skipped")
        return SKIP
    if not PLUGINS or not os.path.isdir(PLUGINS):
        R.check(False, "the lws-threadpool plugin was built", PLUGINS)
        return R.summary()

    server = ReadyServer(BIN, ["--port", "0"])
    if not R.check(server.start(), "server starts",
                   server.out + server.err[-500:]):
        server.stop()
        return R.summary()

    profile = tempfile.mkdtemp(prefix="lwstp-chromium-")
    browser = None
    try:
        browser, url = start_chromium(profile)
        asyncio.run(asyncio.wait_for(drive(url, server.port), 900))
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
    return R.summary()


if __name__ == "__main__":
    sys.exit(main())
