/*
 * lws-threadpool demo page: starts sha256 jobs over the lws-threadpool
 * WebSocket protocol (plugins/protocol_lws_threadpool/README.md), shows
 * their progress, keeps the tokens of outliving jobs in localStorage and
 * reattaches to them after a reload, and charts the pool from /status.
 * Plain JS, no libraries, nothing fetched from elsewhere.
 */
"use strict";

(function () {
	const MiB = 1048576;
	const TOKENS_KEY = "lwstp-demo-tokens";
	const POLL_MS = 250;		/* /status about 4 times a second */
	const SAMPLES = 240;		/* one minute of them */
	const LOG_MAX = 100;

	const $ = (id) => document.getElementById(id);

	let ws = null;
	let wsOpen = false;
	let retryMs = 500;
	/* requests answered in order ("started" / "attached" / an error
	 * without "id"), oldest first */
	const pending = [];
	const jobs = new Map();		/* id -> job */
	const samples = [];		/* { queued, running, threads } */
	let polling = false;
	let httpSeq = 0;		/* local keys of HTTP jobs not started */

	/* --- messages log ---------------------------------------------- */

	function log(text, isErr) {
		const li = document.createElement("li");
		const t = new Date().toLocaleTimeString();

		li.textContent = t + "  " + text;
		if (isErr)
			li.className = "err";
		const ol = $("log");
		ol.appendChild(li);
		while (ol.children.length > LOG_MAX)
			ol.removeChild(ol.firstChild);
		ol.scrollTop = ol.scrollHeight;
	}

	/* an error caused by a control, shown next to it (and logged) */
	function showError(el, text) {
		el.textContent = text;
		el.hidden = false;
		log(text, true);
	}

	function clearError(el) {
		el.textContent = "";
		el.hidden = true;
	}

	/* --- tokens of outliving jobs, kept in localStorage ------------- */

	function loadTokens() {
		try {
			const v = JSON.parse(localStorage.getItem(TOKENS_KEY));
			return Array.isArray(v) ? v : [];
		} catch (e) {
			return [];
		}
	}

	function saveTokens(list) {
		localStorage.setItem(TOKENS_KEY, JSON.stringify(list));
		renderTokens();
	}

	function addToken(token, id, size) {
		const list = loadTokens().filter((t) => t.token !== token);

		list.push({ token: token, id: id, size: size, at: Date.now() });
		saveTokens(list);
	}

	function removeToken(token) {
		saveTokens(loadTokens().filter((t) => t.token !== token));
	}

	function renderTokens() {
		const ul = $("tokens");
		const list = loadTokens();

		ul.textContent = "";
		$("no-tokens").hidden = list.length > 0;
		for (const t of list) {
			const li = document.createElement("li");
			const code = document.createElement("code");
			const info = document.createElement("span");
			const forget = document.createElement("button");
			const job = findJobByToken(t.token);

			li.dataset.token = t.token;
			code.textContent = t.token;
			info.textContent = fmtSize(t.size) + " · " +
				(job ? job.el.dataset.state : "not attached") +
				" ";
			forget.type = "button";
			forget.textContent = "forget";
			forget.addEventListener("click", () => {
				removeToken(t.token);
			});
			li.append(code, info, forget);
			ul.appendChild(li);
		}
	}

	function findJobByToken(token) {
		for (const j of jobs.values())
			if (j.token === token)
				return j;
		return null;
	}

	/* --- job rows --------------------------------------------------- */

	function fmtSize(n) {
		if (n >= MiB)
			return (n / MiB).toFixed(n % MiB ? 1 : 0) + " MiB";
		if (n >= 1024)
			return (n / 1024).toFixed(1) + " KiB";
		return n + " B";
	}

	function jobRow(id, size, kind, token) {
		let job = jobs.get(id);

		if (job)
			return job;

		const el = document.createElement("div");
		el.className = "job";
		el.dataset.id = id;
		el.dataset.kind = kind;
		el.dataset.state = "running";
		el.dataset.progressCount = "0";
		el.innerHTML =
			'<div class="name"></div>' +
			'<div><div class="bar"><div class="fill"></div></div>' +
			'<div class="token"></div></div>' +
			'<div class="state"></div>' +
			'<div><button type="button" class="stop">Stop</button>' +
			'</div>';
		el.querySelector(".name").textContent = "#" + id;
		const small = document.createElement("small");
		small.textContent = kind + " · " + fmtSize(size);
		el.querySelector(".name").appendChild(small);
		el.querySelector(".token").textContent =
			token ? "token " + token : "";
		el.querySelector(".state").textContent = "started";

		job = { id: id, size: size, kind: kind, token: token || null,
			el: el, abort: null };
		const stop = el.querySelector(".stop");
		/* an HTTP job stops when its request is aborted; a reattached
		 * one by its token (this connection watches it); the others
		 * by their id on the connection that started them */
		stop.addEventListener("click", () => {
			stop.disabled = true;
			if (job.abort)
				job.abort.abort();
			else if (job.kind === "reattached")
				send({ op: "stop", token: job.token });
			else
				send({ op: "stop", id: job.id });
		});

		jobs.set(id, job);
		$("jobs").prepend(el);
		$("no-jobs").hidden = true;

		return job;
	}

	/* an HTTP job got its server id when it started */
	function rekey(job, id) {
		jobs.delete(job.id);
		job.id = id;
		jobs.set(id, job);
		job.el.dataset.id = id;
		job.el.querySelector(".name").firstChild.textContent = "#" + id;
	}

	function setProgress(job, done, total) {
		const pct = total ? Math.min(100, 100 * done / total) : 0;

		job.el.querySelector(".fill").style.width = pct.toFixed(1) + "%";
		job.el.querySelector(".state").textContent =
			fmtSize(done) + " of " + fmtSize(total) + " · " +
			pct.toFixed(0) + "%";
	}

	function finish(job, state, text, sha) {
		const st = job.el.querySelector(".state");

		job.el.dataset.state = state;
		job.el.querySelector(".stop").hidden = true;
		if (state === "done")
			job.el.querySelector(".fill").style.width = "100%";
		st.textContent = text;
		if (sha) {
			const s = document.createElement("div");
			s.className = "sha";
			s.textContent = sha;
			st.appendChild(s);
		}
		if (job.token)
			renderTokens();
	}

	/* the messages about one job, from ws or from an HTTP stream */
	function jobMessage(m) {
		const job = jobs.get(m.id);

		if (!job)
			return;
		switch (m.type) {
		case "progress":
			job.el.dataset.progressCount =
				String(Number(job.el.dataset.progressCount) + 1);
			setProgress(job, m.done, m.total);
			break;
		case "result":
			finish(job, "done", "done in " + m.ms + " ms", m.sha256);
			break;
		case "stopped":
			finish(job, "stopped", "stopped (" +
			       (m.reason || "requested") + ")");
			break;
		case "error":
			if (m.code === "unknown-id") {
				/* a stop that came too late: said at the row */
				const e = document.createElement("div");
				e.className = "err";
				e.textContent = "stop: " + m.error;
				job.el.querySelector(".state").appendChild(e);
				job.el.querySelector(".stop").disabled = false;
				break;
			}
			finish(job, "error", "error: " + m.code);
			break;
		}
	}

	/* --- the WebSocket ---------------------------------------------- */

	function setWsState(open) {
		wsOpen = open;
		const pill = $("ws-state");
		pill.textContent = open ? "connected" : "disconnected";
		pill.className = "pill " + (open ? "on" : "off");
		document.body.dataset.ws = open ? "open" : "closed";
		$("start").disabled = !open;
		$("start-outlive").disabled = !open;
	}

	function send(obj, expectReply) {
		if (!wsOpen)
			return false;
		if (expectReply)
			pending.push(obj);
		ws.send(JSON.stringify(obj));
		return true;
	}

	function onMessage(ev) {
		let m;

		try {
			m = JSON.parse(ev.data);
		} catch (e) {
			log("not JSON: " + ev.data, true);
			return;
		}

		switch (m.type) {
		case "started": {
			const req = pending.shift();
			const out = !!(req && req.outlive);
			const job = jobRow(m.id, m.size, out ? "outliving" : "ws",
					   m.token);
			if (m.token)
				addToken(m.token, m.id, m.size);
			job.el.querySelector(".state").textContent = "running";
			log("started #" + m.id + " (" + fmtSize(m.size) + ")" +
			    (m.token ? ", token " + m.token : ""));
			break;
		}
		case "attached": {
			pending.shift();
			const job = jobRow(m.id, m.size, "reattached", m.token);
			job.el.querySelector(".state").textContent = "attached";
			log("reattached to #" + m.id + " by its token");
			renderTokens();
			break;
		}
		case "error":
			if (m.id !== undefined) {
				log("error #" + m.id + ": " + m.code + ": " +
				    m.error, true);
				jobMessage(m);
				break;
			}
			if (m.code === "not-attached") {
				/* a stop by token whose watch just ended */
				log("stop: " + m.error, true);
				break;
			}
			{
				const req = pending.shift();

				if (req && req.op === "start")
					/* next to the button that asked */
					showError($("start-error"), "could not "
						  + "start the job: " + m.code
						  + ": " + m.error);
				else
					log("error: " + m.code + ": " +
					    m.error, true);
				/* an expired or unknown token is forgotten */
				if (req && req.op === "attach" &&
				    m.code === "unknown-token")
					removeToken(req.token);
			}
			break;
		default:
			jobMessage(m);
			break;
		}
	}

	function connect() {
		const url = (location.protocol === "https:" ? "wss://" :
			     "ws://") + location.host + "/";

		ws = new WebSocket(url, "lws-threadpool");
		ws.onopen = () => {
			retryMs = 500;
			pending.length = 0;
			setWsState(true);
			log("connected to " + url);
			for (const t of loadTokens())
				send({ op: "attach", token: t.token }, true);
		};
		ws.onmessage = onMessage;
		ws.onclose = () => {
			const was = wsOpen;

			setWsState(false);
			pending.length = 0;
			for (const j of jobs.values())
				if (j.kind !== "http" &&
				    j.el.dataset.state === "running")
					finish(j, "error", j.kind === "ws" ?
					       "connection lost (job stopped)" :
					       "connection lost (still running: " +
					       "reload to reattach)");
			if (was)
				log("disconnected; retrying", true);
			setTimeout(connect, retryMs);
			retryMs = Math.min(retryMs * 2, 5000);
		};
	}

	/* --- starting jobs ---------------------------------------------- */

	function chosenSize() {
		const mib = Number($("size-mib").value);

		if (!(mib > 0)) {
			showError($("start-error"), "choose a size in MiB");
			return 0;
		}
		return Math.max(1, Math.round(mib * MiB));
	}

	function startWs(outlive) {
		clearError($("start-error"));
		const size = chosenSize();

		if (size)
			send({ op: "start", job: "sha256", size: size,
			       outlive: outlive }, true);
	}

	async function startHttp() {
		clearError($("start-error"));
		const size = chosenSize();
		const ctl = new AbortController();
		let job = null, buf = "";

		if (!size)
			return;
		/* a row at once: the response (and the job's id) only comes
		 * when a worker takes the job */
		job = jobRow("http-" + (++httpSeq), size, "http");
		job.el.querySelector(".name").firstChild.textContent =
			"HTTP job";
		job.abort = ctl;
		job.el.dataset.state = "queued";
		job.el.querySelector(".state").textContent =
			"queued: waiting for a worker";
		try {
			const r = await fetch("/job?size=" + size,
					      { signal: ctl.signal,
						cache: "no-store" });
			if (!r.ok) {
				const j = await r.json().catch(() => null);
				const why = "HTTP " + r.status +
					    (j ? " " + j.code + ": " + j.error :
						 "");
				finish(job, "error", "error: " + why);
				showError($("start-error"), "could not run " +
					  "the job over HTTP: " + why);
				return;
			}
			const reader = r.body.getReader();
			const dec = new TextDecoder();

			for (;;) {
				const { value, done } = await reader.read();
				if (done)
					break;
				buf += dec.decode(value, { stream: true });
				let nl;
				while ((nl = buf.indexOf("\n")) >= 0) {
					const line = buf.slice(0, nl).trim();

					buf = buf.slice(nl + 1);
					if (!line)
						continue;
					const m = JSON.parse(line);
					if (m.type === "started") {
						rekey(job, m.id);
						job.el.dataset.state =
							"running";
						job.el.querySelector(".state")
							.textContent = "running";
					} else
						jobMessage(m);
				}
			}
		} catch (e) {
			if (e.name === "AbortError")
				finish(job, "stopped", "stopped (request " +
				       "aborted)");
			else {
				finish(job, "error", "error: " + e.message);
				log("HTTP job: " + e, true);
			}
		}
	}

	/* --- the pool: /status gauges and chart ------------------------- */

	function setGauge(id, v) {
		$(id).textContent = v === undefined || v === null ? "–" :
								     String(v);
	}

	async function poll() {
		if (polling)
			return;
		polling = true;
		try {
			const r = await fetch("/status", { cache: "no-store" });
			if (!r.ok)
				throw new Error("HTTP " + r.status);
			const s = await r.json();

			if ($("pool").dataset.status === "error")
				log("pool status is back");
			$("pool").dataset.status = "ok";
			$("pool-error").hidden = true;

			setGauge("g-threads", s.threads);
			setGauge("g-idle", s.idle);
			setGauge("g-running", s.running);
			setGauge("g-queued", s.queued);
			setGauge("g-syncing", s.syncing);
			setGauge("g-done", s.done_waiting);
			if (s.totals)
				$("totals").textContent =
					"enqueued " + s.totals.enqueued +
					" · finished " + s.totals.finished +
					" · stopped " + s.totals.stopped +
					" · refused " +
					(s.totals.rejected_full +
					 s.totals.rejected_shutdown);
			samples.push({ queued: s.queued, running: s.running,
				       threads: s.threads });
			if (samples.length > SAMPLES)
				samples.shift();
			$("chart").dataset.samples = String(samples.length);
			$("chart").dataset.maxRunning = String(Math.max(
				Number($("chart").dataset.maxRunning || 0),
				s.running));
			draw();
		} catch (e) {
			/* say so: the gauges are stale, not empty */
			const was = $("pool").dataset.status === "error";

			$("pool").dataset.status = "error";
			$("pool-error").textContent = "pool status unavailable ("
				+ (e.message || e) + "): the figures above are "
				+ "from the last answer";
			$("pool-error").hidden = false;
			if (!was)
				log("GET /status failed: " + (e.message || e),
				    true);
		} finally {
			polling = false;
		}
	}

	function niceMax(v) {
		const steps = [4, 5, 8, 10, 16, 20, 32, 50, 64, 100, 128, 256,
			       512, 1024];

		for (const s of steps)
			if (v <= s)
				return s;
		return Math.ceil(v / 1000) * 1000;
	}

	function draw() {
		const cv = $("chart");
		const dpr = window.devicePixelRatio || 1;
		const w = Math.max(100, cv.clientWidth);
		const h = Math.max(60, cv.clientHeight);

		if (cv.width !== Math.round(w * dpr) ||
		    cv.height !== Math.round(h * dpr)) {
			cv.width = Math.round(w * dpr);
			cv.height = Math.round(h * dpr);
		}
		const g = cv.getContext("2d");
		g.setTransform(dpr, 0, 0, dpr, 0, 0);
		g.clearRect(0, 0, w, h);

		const left = 34, right = 8, top = 8, bottom = 20;
		const pw = w - left - right, ph = h - top - bottom;
		let max = 0;
		for (const s of samples)
			max = Math.max(max, s.queued, s.running, s.threads);
		max = niceMax(max);

		const x = (i) => left + pw * (i + SAMPLES - samples.length) /
					(SAMPLES - 1);
		const y = (v) => top + ph - ph * v / max;

		/* grid and labels */
		const css = getComputedStyle(document.documentElement);
		g.font = "11px system-ui, sans-serif";
		g.fillStyle = "#6b7280";
		g.strokeStyle = "#e3e6ea";
		g.lineWidth = 1;
		for (let k = 0; k <= 4; k++) {
			const v = max * k / 4;
			g.beginPath();
			g.moveTo(left, Math.round(y(v)) + 0.5);
			g.lineTo(left + pw, Math.round(y(v)) + 0.5);
			g.stroke();
			g.fillText(String(Math.round(v)), 4, y(v) + 4);
		}
		g.fillText("-60 s", left, h - 5);
		g.fillText("now", left + pw - 22, h - 5);

		if (!samples.length)
			return;

		/* threads: dashed */
		g.setLineDash([4, 4]);
		g.strokeStyle = "#9aa3ae";
		g.beginPath();
		samples.forEach((s, i) => {
			if (i)
				g.lineTo(x(i), y(s.threads));
			else
				g.moveTo(x(i), y(s.threads));
		});
		g.stroke();
		g.setLineDash([]);

		for (const [key, colour] of
		     [["queued", css.getPropertyValue("--queue").trim()],
		      ["running", css.getPropertyValue("--run").trim()]]) {
			g.strokeStyle = colour || "#333";
			g.lineWidth = 2;
			g.beginPath();
			samples.forEach((s, i) => {
				if (i)
					g.lineTo(x(i), y(s[key]));
				else
					g.moveTo(x(i), y(s[key]));
			});
			g.stroke();
		}
	}

	/* --- start ------------------------------------------------------ */

	$("start").addEventListener("click", () => startWs(false));
	$("start-outlive").addEventListener("click", () => startWs(true));
	$("start-http").addEventListener("click", startHttp);
	window.addEventListener("resize", draw);

	setWsState(false);
	renderTokens();
	draw();
	connect();
	poll();
	setInterval(poll, POLL_MS);
}());
