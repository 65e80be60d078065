/*
 * protocol_lws_threadpool: WebSocket connections (service thread)
 *
 * A connection has up to max-tasks-per-connection jobs (slots: task handle
 * and job, while the task is bound to the connection) and as many watched
 * tokens.  Replies to client messages wait in a small ring; the writable
 * callback writes one message per call: a reply first, then a job's SYNC
 * output or end (the jobs served in turn), then a watched job's news.
 */

#include "priv.h"

static struct lwstp_reply *
reply_new(struct lwstp_pss *pss)
{
	struct lwstp_reply *r;

	if (pss->ring_count == REPLY_RING)
		return NULL;
	r = &pss->ring[(pss->ring_head + pss->ring_count) % REPLY_RING];
	pss->ring_count++;

	/* stop reading while the client does not read our replies */
	if (pss->ring_count >= REPLY_RING - 1 && !pss->rx_flow_off) {
		pss->rx_flow_off = 1;
		lws_rx_flow_control(pss->wsi, 0);
	}
	lws_callback_on_writable(pss->wsi);

	return r;
}

static void
reply_error(struct lwstp_pss *pss, const char *code, const char *text,
	    uint64_t id)
{
	struct lwstp_reply *r = reply_new(pss);

	if (!r) {
		/* can't happen with rx flow control, but never grow */
		lwsl_warn("lws-threadpool: client does not read its "
			  "replies: closing\n");
		pss->close_status = CLOSE_POLICY;
		return;
	}
	r->len = (uint16_t)lwstp_plugin_fmt_error(r->buf + LWS_PRE, REPLY_MAX,
						  code, text, id);
}

static struct lwstp_slot *
slot_find(struct lwstp_pss *pss, uint64_t id)
{
	int n;

	for (n = 0; n < pss->nslots; n++)
		if (pss->slots[n].id == id)
			return &pss->slots[n];

	return NULL;
}

static void
slot_drop(struct lwstp_pss *pss, struct lwstp_slot *slot)
{
	*slot = pss->slots[--pss->nslots];
	memset(&pss->slots[pss->nslots], 0, sizeof(*slot));
}

static void
ws_start(struct lwstp_pss *pss, const struct lwstp_msg *m)
{
	struct lwstp_pvh *vhd = pss->vhd;
	struct lws_threadpool_task *task;
	struct lwstp_reply *r;
	struct lwstp_job *job;
	const char *code;
	char err[128];

	if (pss->nslots >= vhd->opts.max_tasks_per_conn) {
		lws_snprintf(err, sizeof(err), "this connection has %d "
			     "unfinished jobs already "
			     "(max-tasks-per-connection)", pss->nslots);
		reply_error(pss, "too-many-jobs", err, 0);
		return;
	}
	if (m->size > vhd->opts.max_job_size) {
		lws_snprintf(err, sizeof(err), "size %llu is over "
			     "max-job-size %llu", (unsigned long long)m->size,
			     (unsigned long long)vhd->opts.max_job_size);
		reply_error(pss, "bad-message", err, 0);
		return;
	}
	if (pss->ring_count == REPLY_RING) {
		reply_error(pss, "internal", "reply queue full", 0);
		return;
	}

	code = lwstp_plugin_job_start(vhd, pss->wsi, m->size, m->outlive, 0,
				      &task, &job, err, sizeof(err));
	if (code) {
		reply_error(pss, code, err, 0);
		return;
	}

	pss->slots[pss->nslots].task = task;
	pss->slots[pss->nslots].job = job;
	pss->slots[pss->nslots++].id = job->id;

	r = reply_new(pss);	/* room checked above */
	r->len = (uint16_t)lwstp_plugin_fmt_started(r->buf + LWS_PRE,
			REPLY_MAX, job->id, job->size,
			job->rec ? job->rec->token : NULL);
}

static void
ws_stop(struct lwstp_pss *pss, uint64_t id)
{
	struct lwstp_slot *slot = slot_find(pss, id);
	struct lwstp_reply *r;

	if (!slot) {
		reply_error(pss, "unknown-id", "no such job on this "
			    "connection (ended already?)", id);
		return;
	}
	if (!lwstp_plugin_job_stop(slot->task, slot->job))
		return;		/* its end comes through SERVER_WRITEABLE */

	slot_drop(pss, slot);
	r = reply_new(pss);
	if (!r) {
		pss->close_status = CLOSE_POLICY;
		return;
	}
	r->len = (uint16_t)lwstp_plugin_fmt_stopped(r->buf + LWS_PRE,
						    REPLY_MAX, id, "requested",
						    NULL);
}

static void
ws_attach(struct lwstp_pss *pss, const char *token)
{
	struct lwstp_kept *rec = lwstp_kept_find(&pss->vhd->kt, token);
	struct lwstp_watch *w = NULL;
	int n;

	if (!rec) {
		reply_error(pss, "unknown-token", "unknown or expired token",
			    0);
		return;
	}
	for (n = 0; n < pss->vhd->opts.max_tasks_per_conn; n++)
		if (!pss->watches[n].used) {
			w = &pss->watches[n];
			break;
		}
	if (!w) {
		reply_error(pss, "too-many-watches", "this connection watches "
			    "max-tasks-per-connection tokens already", 0);
		return;
	}

	memset(w, 0, sizeof(*w));
	w->used = 1;
	w->rec = rec;
	w->wsi = pss->wsi;
	pss->nwatches++;
	lwstp_kept_watch(&pss->vhd->kt, rec, &w->link);
	lws_callback_on_writable(pss->wsi);
}

/* stop an outliving job this connection watches (after "attach") */
static void
ws_stop_token(struct lwstp_pss *pss, const char *token)
{
	int n;

	for (n = 0; n < LWSTP_PLUGIN_MAX_TASKS_PER_CONN; n++)
		if (pss->watches[n].used && pss->watches[n].rec &&
		    !strcmp(pss->watches[n].rec->token, token))
			break;
	if (n == LWSTP_PLUGIN_MAX_TASKS_PER_CONN) {
		reply_error(pss, "not-attached", "attach to the token before "
			    "stopping its job", 0);
		return;
	}
	/* the job's end, "stopped" with reason "requested", comes through
	 * the watch; if it ended already, its end is on its way */
	lwstp_kept_request_stop(&pss->vhd->kt, pss->watches[n].rec);
}

static void
watch_drop(struct lwstp_pss *pss, struct lwstp_watch *w)
{
	if (w->rec)
		lwstp_kept_unwatch(&pss->vhd->kt, w->rec, &w->link);
	memset(w, 0, sizeof(*w));
	pss->nwatches--;
}

/* kept.c: a watched record changed (or is gone): come and look */
void
lwstp_plugin_watch_cb(struct lwstp_kept *rec, lws_dll2_t *link, int gone,
		      void *arg)
{
	struct lwstp_watch *w = lws_container_of(link, struct lwstp_watch,
						 link);

	if (gone) {
		w->rec = NULL;
		w->gone = 1;
	}
	lws_callback_on_writable(w->wsi);
}

void
lwstp_plugin_ws_receive(struct lwstp_pss *pss, const void *in, size_t len)
{
	struct lws *wsi = pss->wsi;
	struct lwstp_msg m;
	char err[128];
	int r;

	if (pss->close_status)
		return;		/* closing: ignore the rest */

	if (!pss->rx_inmsg) {
		pss->rx_inmsg = 1;
		pss->rx_len = 0;
		pss->rx_skip = 0;
		pss->rx_binary = (uint8_t)!!lws_frame_is_binary(wsi);
	}
	if (lws_is_final_fragment(wsi))
		pss->rx_inmsg = 0;
	if (pss->rx_skip)
		return;

	if (pss->rx_len + len > LWSTP_MSG_MAX) {
		lws_snprintf(err, sizeof(err), "message over the %d byte "
			     "limit", LWSTP_MSG_MAX);
		reply_error(pss, "too-big", err, 0);
		pss->close_status = CLOSE_MESSAGE_TOO_BIG;
		pss->rx_skip = 1;
		return;
	}
	/* with permessage-deflate, lws may deliver an empty piece as NULL */
	if (len)
		memcpy(pss->rx + pss->rx_len, in, len);
	pss->rx_len += len;

	if (pss->rx_inmsg)
		return;		/* more to come */

	if (pss->rx_binary) {
		reply_error(pss, "bad-message", "binary messages are not "
			    "accepted", 0);
		return;
	}

	r = lwstp_plugin_parse_msg(pss->rx, pss->rx_len, &m, err, sizeof(err));
	if (r) {
		reply_error(pss, lwstp_plugin_msg_code(r), err, 0);
		return;
	}

	switch (m.op) {
	case LWSTP_OP_START:
		ws_start(pss, &m);
		break;
	case LWSTP_OP_STOP:
		ws_stop(pss, m.id);
		break;
	case LWSTP_OP_ATTACH:
		ws_attach(pss, m.token);
		break;
	case LWSTP_OP_STOP_TOKEN:
		ws_stop_token(pss, m.token);
		break;
	default:
		break;
	}
}

static int
ws_write(struct lws *wsi, char *buf, int len)
{
	if (lws_write(wsi, (unsigned char *)buf, (size_t)len, LWS_WRITE_TEXT) <
									len) {
		lwsl_notice("lws-threadpool: ws write failed\n");
		return -1;
	}

	return 0;
}

/* one job's SYNC or end, if one is waiting; 1 if it wrote */
static int
ws_serve_jobs(struct lwstp_pss *pss, int *err)
{
	char buf[LWS_PRE + REPLY_MAX];
	enum lws_threadpool_task_status s;
	struct lwstp_slot *slot;
	void *user;
	int n, i, len;

	for (i = 0; i < pss->nslots; i++) {
		n = (pss->rr + i) % pss->nslots;
		slot = &pss->slots[n];
		s = lws_threadpool_task_status_noreap(slot->task);

		switch (s) {
		case LWS_TP_STATUS_SYNCING:
			if (atomic_load(&slot->job->stop_req)) {
				lws_threadpool_task_sync(slot->task, 1);
				continue;
			}
			len = lwstp_plugin_fmt_job_out(buf + LWS_PRE,
						REPLY_MAX, slot->job,
						slot->task, s);
			pss->rr = n + 1;
			if (ws_write(pss->wsi, buf + LWS_PRE, len)) {
				lws_threadpool_task_sync(slot->task, 1);
				*err = 1;
				return 1;
			}
			/* we are done with its output: let it go on */
			lws_threadpool_task_sync(slot->task, 0);
			return 1;

		case LWS_TP_STATUS_FINISHED:
		case LWS_TP_STATUS_STOPPED:
			len = lwstp_plugin_fmt_job_out(buf + LWS_PRE,
						REPLY_MAX, slot->job,
						slot->task, s);
			/* reap it: its cleanup runs now, job is gone */
			lws_threadpool_task_status(slot->task, &user);
			slot_drop(pss, slot);
			pss->rr = n;
			if (ws_write(pss->wsi, buf + LWS_PRE, len))
				*err = 1;
			return 1;

		default: /* QUEUED, RUNNING, STOPPING: nothing for us yet */
			break;
		}
	}

	return 0;
}

/* the next message for a watcher, if one is due; 1 if it wrote */
static int
ws_serve_watches(struct lwstp_pss *pss, int *err)
{
	char buf[LWS_PRE + REPLY_MAX], *p = buf + LWS_PRE;
	struct lwstp_kept_snap snap;
	struct lwstp_watch *w;
	int n, len = 0, end = 0;

	for (n = 0; n < LWSTP_PLUGIN_MAX_TASKS_PER_CONN && !len; n++) {
		w = &pss->watches[n];
		if (!w->used)
			continue;
		if (w->gone) {
			len = lwstp_plugin_fmt_error(p, REPLY_MAX,
					"unknown-token",
					"the watched result expired", 0);
			end = 1;
			break;
		}
		lwstp_kept_snapshot(&pss->vhd->kt, w->rec, &snap);

		if (!w->stage) {
			len = lwstp_plugin_fmt_attached(p, REPLY_MAX,
					w->rec->id, w->rec->token,
					w->rec->total);
			w->stage = 1;
			/* and the current state comes next */
			w->sent_version = snap.version - 1;
			break;
		}
		if (snap.version == w->sent_version)
			continue;
		w->sent_version = snap.version;

		switch (snap.state) {
		case LWSTP_KEPT_RUNNING:
			len = lwstp_plugin_fmt_progress(p, REPLY_MAX,
					w->rec->id, snap.done, w->rec->total,
					w->rec->token);
			break;
		case LWSTP_KEPT_FINISHED:
			len = lwstp_plugin_fmt_result(p, REPLY_MAX,
					w->rec->id, snap.sha256, snap.ms,
					w->rec->token);
			end = 1;
			break;
		default:
			len = lwstp_plugin_fmt_stopped(p, REPLY_MAX,
					w->rec->id, snap.stop_req ? "requested" :
					"server", w->rec->token);
			end = 1;
			break;
		}
	}
	if (!len)
		return 0;

	if (end)
		watch_drop(pss, w);	/* its last message */
	if (ws_write(pss->wsi, p, len))
		*err = 1;

	return 1;
}

int
lwstp_plugin_ws_writeable(struct lwstp_pss *pss)
{
	struct lws *wsi = pss->wsi;
	struct lwstp_reply *r;
	int err = 0;

	if (lws_send_pipe_choked(wsi)) {
		/* come back when the kernel took what we sent already */
		lws_callback_on_writable(wsi);
		return 0;
	}

	if (pss->ring_count) {
		r = &pss->ring[pss->ring_head];
		pss->ring_head = (uint8_t)((pss->ring_head + 1) % REPLY_RING);
		pss->ring_count--;
		if (pss->rx_flow_off && pss->ring_count <= REPLY_RING / 2) {
			pss->rx_flow_off = 0;
			lws_rx_flow_control(wsi, 1);
		}
		if (ws_write(wsi, r->buf + LWS_PRE, r->len))
			return -1;
		/* one write per callback; more may be waiting */
		lws_callback_on_writable(wsi);
		return 0;
	}

	if (pss->close_status) {
		const char *why = pss->close_status == CLOSE_MESSAGE_TOO_BIG ?
				  "message too big" : "replies not read";

		lws_close_reason(wsi, (enum lws_close_status)pss->close_status,
				 (unsigned char *)why, strlen(why));
		return -1;
	}

	if (ws_serve_jobs(pss, &err) || ws_serve_watches(pss, &err)) {
		if (err)
			return -1;
		lws_callback_on_writable(wsi);
	}

	return 0;
}

/* the connection is going (or the pool went): jobs stop or outlive it */
void
lwstp_plugin_ws_forget(struct lwstp_pss *pss, int pool_alive)
{
	int n;

	for (n = 0; n < pss->nslots; n++) {
		if (pool_alive) {
			if (!pss->slots[n].job->rec)
				atomic_store(&pss->slots[n].job->stop_req, 1);
			/* queued or done: ends now; running: detached, and
			 * stopped unless it outlives the connection */
			lws_threadpool_dequeue_task(pss->slots[n].task);
		}
		memset(&pss->slots[n], 0, sizeof(pss->slots[n]));
	}
	pss->nslots = 0;

	for (n = 0; n < LWSTP_PLUGIN_MAX_TASKS_PER_CONN; n++)
		if (pss->watches[n].used)
			watch_drop(pss, &pss->watches[n]);
}
