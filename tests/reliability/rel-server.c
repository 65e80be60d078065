/*
 * lwstp-rel-server - the server of the reliability tests (chaos.py)
 *
 * The ws protocol of test-apps/lwstp-ws-server ("lws-threadpool-test",
 * "tI seq N" messages, "done", /health, /stats, the exit line), with what
 * the chaos test needs on top, so that a client can put its tasks in an
 * exact state before it vanishes and the server can say in which state each
 * task really was when its connection closed:
 *
 *   ws://127.0.0.1:PORT/?count=N&tasks=T&outlive=0|1&work_us=U&ack=0|1
 *                        &pad=P&hold=0|1
 *
 *   count, tasks (1..8), outlive, work_us, ack, pad: as lwstp-ws-server.
 *   Values are parsed strictly: anything but decimal digits in range gets
 *   "error: bad URL argument NAME" and a close with 1008.
 *   hold	1: a task that ended is announced ("tI fin finished|stopped
 *		N") but not reaped until the client sends "reap", so it sits
 *		on the pool's done list (finished, not reaped) for as long as
 *		the client likes.
 *
 * Server to client:
 *   "tI seq N[ xxx..]"	message N of task I, in order per task
 *   "tI fin S N"	hold=1: task I ended with status S (finished or
 *			stopped) after N messages; not reaped yet
 *   "tI end S N"	task I was reaped: status S, N messages were sent
 *			(S "detached": a "stop" found it just as a worker took
 *			it; it goes on without this connection)
 *   "done" / "done stopped=K"
 *			every task of the connection was reaped
 *   "error: ..."	the connection is refused (then closed)
 *
 * Client to server:
 *   "ack"	ack=1: let the first task whose message was written go on
 *   "stop"	stop every task of the connection now: a queued one is
 *		dequeued, a running or syncing one gets
 *		lws_threadpool_task_sync(task, 1)
 *   "reap"	hold=1: reap the ended tasks (and those that end later)
 *
 * At WS_SERVER_DROP_PROTOCOL the state of every task still bound to the
 * connection is counted (/stats "closed_while": queued, running, syncing,
 * stopping, done) before the tasks are dequeued (or, with --no-dequeue, left
 * to the library's WSI_DESTROY handling).
 *
 * Exit: prints "lwstp-rel-server: enqueued=X cleanups=Y" (and a line with the
 * closed_while counts) and exits non-zero unless every task got exactly one
 * cleanup.
 *
 * Options (tests/testsrv): --port N (7682), --iface ADDR (127.0.0.1), --uv,
 * --threads N (4), --queue N (1024), --sync-timeout-ms N, --no-dequeue,
 * -d LOGLEVEL.
 */

#include "testsrv.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REL_PROTOCOL		"lws-threadpool-test"
#define REL_MAX_TASKS		8
#define REL_MAX_COUNT		1000000
#define REL_MAX_WORK_US		100000
#define REL_MAX_PAD		65536
#define REL_NOTE_LEN		48
#define REL_MAX_NOTES		(2 * REL_MAX_TASKS)

/* (the stream tasks' counters are ts_ctr, tests/testsrv) */
static atomic_ullong ctr_refused, ctr_dequeued,
		     ctr_choked, ctr_stops, ctr_conns, ctr_bad_msgs,
		     ctr_foreign_task;
/* closed_while[status]: tasks still bound to a connection as it closed */
static atomic_ullong ctr_closed_while[LWS_TP_STATUS_STOPPED + 1];

struct vhd {
	struct lws_threadpool	*tp;
	int			dequeue_on_drop;
};

struct params {
	int count, tasks, work_us, pad, outlive, ack, hold;
};

struct pss {
	struct params			p;
	struct lws_threadpool_task	*task[REL_MAX_TASKS];
	struct ts_stream		*priv[REL_MAX_TASKS];
	int				enqueued, reaped, stopped, next;
	int				refuse_err;
	char				why[64];
	char				notes[REL_MAX_NOTES][REL_NOTE_LEN];
	int				note_head, note_count;
	char				refused, error_sent, done_sent, reap_ok;
};

/* 1: absent (def), 0: ok, -1: present and not digits in min..max */
static int
urlarg(struct lws *wsi, const char *name, int *v, int def, int min, int max)
{
	char buf[32];
	const char *p = lws_get_urlarg_by_name(wsi, name, buf, sizeof(buf));
	char *end;
	long l;

	*v = def;
	if (!p)
		return 1;
	if (*p < '0' || *p > '9')
		return -1;
	errno = 0;
	l = strtol(p, &end, 10);
	if (errno || *end || l < min || l > max)
		return -1;
	*v = (int)l;

	return 0;
}

static const char *
get_params(struct lws *wsi, struct params *p)
{
	static const struct {
		const char *name;
		size_t off;
		int def, min, max;
	} a[] = {
		{ "count=", offsetof(struct params, count), 10, 0,
		  REL_MAX_COUNT },
		{ "tasks=", offsetof(struct params, tasks), 1, 1,
		  REL_MAX_TASKS },
		{ "work_us=", offsetof(struct params, work_us), 0, 0,
		  REL_MAX_WORK_US },
		{ "pad=", offsetof(struct params, pad), 0, 0, REL_MAX_PAD },
		{ "outlive=", offsetof(struct params, outlive), 0, 0, 1 },
		{ "ack=", offsetof(struct params, ack), 0, 0, 1 },
		{ "hold=", offsetof(struct params, hold), 0, 0, 1 },
	};
	size_t i;

	for (i = 0; i < LWS_ARRAY_SIZE(a); i++)
		if (urlarg(wsi, a[i].name, (int *)((char *)p + a[i].off),
			   a[i].def, a[i].min, a[i].max) < 0)
			return a[i].name;

	return NULL;
}

static void
note(struct pss *pss, const char *fmt, int index, const char *s, int n)
{
	int slot;

	if (pss->note_count == REL_MAX_NOTES) {
		/* at most one "fin" and one "end" per task: can not happen */
		lwsl_err("note queue full\n");
		return;
	}
	slot = (pss->note_head + pss->note_count++) % REL_MAX_NOTES;
	lws_snprintf(pss->notes[slot], REL_NOTE_LEN, fmt, index, s, n);
}

static int
slot_of(struct pss *pss, struct lws_threadpool_task *task)
{
	int i;

	for (i = 0; i < REL_MAX_TASKS; i++)
		if (pss->task[i] && pss->task[i] == task)
			return i;

	return -1;
}

/* the task is gone from this connection (reaped, dequeued) */
static void
forget(struct pss *pss, int i, int stopped)
{
	pss->task[i] = NULL;
	pss->priv[i] = NULL;
	pss->reaped++;
	pss->stopped += stopped;
}

struct scan {
	struct pss	*pss;
	int		cand[REL_MAX_TASKS];
	int		ncand;
};

static int
scan_cb(struct lws_threadpool_task *task, void *user)
{
	struct scan *sc = user;
	struct pss *pss = sc->pss;
	int i = slot_of(pss, task), s, sent, st;
	struct ts_stream *priv;

	if (i < 0) {
		lwsl_err("a task of this wsi that it did not enqueue\n");
		atomic_fetch_add(&ctr_foreign_task, 1);
		return 0;
	}
	priv = pss->priv[i];
	s = (int)lws_threadpool_task_status_noreap(task);

	switch (s) {
	case LWS_TP_STATUS_FINISHED:
	case LWS_TP_STATUS_STOPPED:
		st = s == LWS_TP_STATUS_STOPPED;
		if (pss->p.hold && !pss->reap_ok) {
			if (!priv->announced)
				note(pss, "t%d fin %s %d", i,
				     st ? "stopped" : "finished", priv->sent);
			priv->announced = 1;
			break;
		}
		sent = priv->sent;
		/* reaps it: its cleanup frees priv */
		if ((int)lws_threadpool_task_status(task, NULL) != s)
			lwsl_err("status changed while reaping\n");
		forget(pss, i, st);
		note(pss, "t%d end %s %d", i, st ? "stopped" : "finished",
		     sent);
		break;
	case LWS_TP_STATUS_SYNCING:
		if (!priv->awaiting_ack)
			sc->cand[sc->ncand++] = i;
		break;
	default:
		break;
	}

	return 0;
}

static int
writeable(struct lws *wsi, struct pss *pss)
{
	char buf[LWS_PRE + 128];
	struct ts_stream *priv;
	struct scan sc;
	int n, pick, len;

	if (pss->refused) {
		if (pss->error_sent) {
			lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
					 (unsigned char *)"refused", 7);
			return -1;
		}
		len = lws_snprintf(buf + LWS_PRE, sizeof(buf) - LWS_PRE,
				   "error: %s", pss->why);
		if (ts_write_text(wsi, buf + LWS_PRE, (size_t)len))
			return -1;
		pss->error_sent = 1;
		lws_callback_on_writable(wsi);
		return 0;
	}

	if (lws_send_pipe_choked(wsi)) {
		atomic_fetch_add(&ctr_choked, 1);
		lws_callback_on_writable(wsi);
		return 0;
	}

	memset(&sc, 0, sizeof(sc));
	sc.pss = pss;
	lws_threadpool_foreach_task_wsi(wsi, &sc, scan_cb);

	if (pss->note_count) {
		len = lws_snprintf(buf + LWS_PRE, sizeof(buf) - LWS_PRE, "%s",
				   pss->notes[pss->note_head]);
		pss->note_head = (pss->note_head + 1) % REL_MAX_NOTES;
		pss->note_count--;
		if (ts_write_text(wsi, buf + LWS_PRE, (size_t)len))
			return -1;
		lws_callback_on_writable(wsi);	/* the rest, or "done" */
		return 0;
	}

	if (sc.ncand) {
		pick = 0;	/* round robin over the task indexes */
		for (n = 1; n < sc.ncand; n++)
			if ((sc.cand[n] - pss->next + REL_MAX_TASKS) %
			    REL_MAX_TASKS < (sc.cand[pick] - pss->next +
					     REL_MAX_TASKS) % REL_MAX_TASKS)
				pick = n;
		n = sc.cand[pick];
		priv = pss->priv[n];
		pss->next = (n + 1) % REL_MAX_TASKS;
		if (ts_write_text(wsi, priv->msg + LWS_PRE, priv->msg_len)) {
			lws_threadpool_task_sync(pss->task[n], 1);
			return -1;
		}
		priv->sent++;
		if (pss->p.ack)
			priv->awaiting_ack = 1;
		else
			lws_threadpool_task_sync(pss->task[n], 0);
		if (sc.ncand > 1)
			lws_callback_on_writable(wsi);
		return 0;
	}

	if (pss->reaped == pss->enqueued && !pss->done_sent) {
		if (pss->stopped)
			len = lws_snprintf(buf + LWS_PRE, sizeof(buf) - LWS_PRE,
					   "done stopped=%d", pss->stopped);
		else
			len = lws_snprintf(buf + LWS_PRE, sizeof(buf) - LWS_PRE,
					   "done");
		if (ts_write_text(wsi, buf + LWS_PRE, (size_t)len))
			return -1;
		pss->done_sent = 1;
	}

	return 0;
}

/* dequeue task i; returns 1 if a worker had it (it goes on, detached) */
static int
drop_task(struct pss *pss, int i)
{
	int r = lws_threadpool_dequeue_task(pss->task[i]);

	atomic_fetch_add(&ctr_dequeued, 1);
	forget(pss, i, 1);

	return r;
}

static int
established(struct lws *wsi, struct vhd *vhd, struct pss *pss)
{
	const char *bad;
	char peer[48];
	int n, r = 0;

	memset(pss, 0, sizeof(*pss));
	atomic_fetch_add(&ctr_conns, 1);
	lws_get_peer_simple(wsi, peer, sizeof(peer));

	bad = get_params(wsi, &pss->p);
	if (bad) {
		lws_snprintf(pss->why, sizeof(pss->why),
			     "bad URL argument %.*s", (int)strlen(bad) - 1, bad);
		lwsl_warn("%s: %s\n", peer, pss->why);
		goto refuse;
	}

	for (n = 0; n < pss->p.tasks; n++) {
		r = ts_stream_enqueue(vhd->tp, wsi, "rel", n, pss->p.count,
				      pss->p.work_us, pss->p.pad,
				      pss->p.outlive, &pss->task[n],
				      &pss->priv[n]);
		if (r)
			goto refused;
		pss->enqueued++;
	}

	return 0;

refused:
	lws_snprintf(pss->why, sizeof(pss->why), "%s", lwstp_strerror(r));
	lwsl_user("%s: refusing connection: %s\n", peer, pss->why);
	for (n = 0; n < REL_MAX_TASKS; n++)
		if (pss->task[n])
			drop_task(pss, n);
refuse:
	atomic_fetch_add(&ctr_refused, 1);
	pss->refused = 1;
	pss->refuse_err = r;
	lws_callback_on_writable(wsi);

	return 0;
}

static void
receive(struct lws *wsi, struct pss *pss, const char *in, size_t len)
{
	struct ts_stream *priv;
	int i, s, sent;

	if (len == 3 && !memcmp(in, "ack", 3)) {
		for (i = 0; i < REL_MAX_TASKS; i++) {
			if (!pss->task[i] || !pss->priv[i]->awaiting_ack)
				continue;
			pss->priv[i]->awaiting_ack = 0;
			/* ignored (with a warning) if it ended meanwhile */
			if (lws_threadpool_task_status_noreap(pss->task[i]) ==
			    LWS_TP_STATUS_SYNCING)
				lws_threadpool_task_sync(pss->task[i], 0);
			break;
		}
		lws_callback_on_writable(wsi);
		return;
	}

	if (len == 4 && !memcmp(in, "reap", 4)) {
		pss->reap_ok = 1;
		lws_callback_on_writable(wsi);
		return;
	}

	if (len == 4 && !memcmp(in, "stop", 4)) {
		atomic_fetch_add(&ctr_stops, 1);
		for (i = 0; i < REL_MAX_TASKS; i++) {
			if (!pss->task[i])
				continue;
			priv = pss->priv[i];
			s = (int)lws_threadpool_task_status_noreap(
								pss->task[i]);
			switch (s) {
			case LWS_TP_STATUS_QUEUED:
				sent = priv->sent;
				/* priv is freed (or a worker's) after this */
				note(pss, "t%d end %s %d", i, drop_task(pss, i) ?
				     "detached" : "stopped", sent);
				break;
			case LWS_TP_STATUS_RUNNING:
			case LWS_TP_STATUS_SYNCING:
				priv->awaiting_ack = 0;
				lws_threadpool_task_sync(pss->task[i], 1);
				break;
			default:
				break;
			}
		}
		lws_callback_on_writable(wsi);
		return;
	}

	atomic_fetch_add(&ctr_bad_msgs, 1);
	lwsl_info("ignoring a message of %d bytes\n", (int)len);
}

static void
drop_protocol(struct vhd *vhd, struct pss *pss)
{
	int i, s;

	for (i = 0; i < REL_MAX_TASKS; i++) {
		if (!pss->task[i])
			continue;
		s = (int)lws_threadpool_task_status_noreap(pss->task[i]);
		if (s >= 0 && s <= LWS_TP_STATUS_STOPPED)
			atomic_fetch_add(&ctr_closed_while[s], 1);
		if (vhd->dequeue_on_drop)
			drop_task(pss, i);
	}
}

static int
callback_rel(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	     void *in, size_t len)
{
	struct pss *pss = user;
	struct vhd *vhd = lws_protocol_vh_priv_get(lws_get_vhost(wsi),
						   lws_get_protocol(wsi));
	const struct lws_protocol_vhost_options *pvo = in;
	struct lwstp_create_args a;

	switch (reason) {
	case LWS_CALLBACK_PROTOCOL_INIT:
		vhd = lws_protocol_vh_priv_zalloc(lws_get_vhost(wsi),
				lws_get_protocol(wsi), sizeof(*vhd));
		if (!vhd)
			return 1;
		memset(&a, 0, sizeof(a));
		a.threads = ts_pvo_int(pvo, "threads", 4);
		a.max_queue_depth = ts_pvo_int(pvo, "queue", 1024);
		a.sync_timeout_ms = (unsigned int)ts_pvo_int(pvo,
						"sync-timeout-ms", 0);
		vhd->dequeue_on_drop = ts_pvo_int(pvo, "dequeue-on-drop", 1);
		vhd->tp = lwstp_create(lws_get_context(wsi), &a, "rel");
		return !vhd->tp;

	case LWS_CALLBACK_PROTOCOL_DESTROY:
		if (!vhd || !vhd->tp)
			break;
		lws_threadpool_finish(vhd->tp);
		lws_threadpool_destroy(vhd->tp);
		vhd->tp = NULL;
		lwsl_user("pool destroyed\n");
		break;

	case LWS_CALLBACK_ESTABLISHED:
		return established(wsi, vhd, pss);

	case LWS_CALLBACK_RECEIVE:
		if (pss && !pss->refused)
			receive(wsi, pss, in, len);
		break;

	case LWS_CALLBACK_WS_SERVER_DROP_PROTOCOL:
		if (pss && vhd)
			drop_protocol(vhd, pss);
		break;

	case LWS_CALLBACK_SERVER_WRITEABLE:
		return writeable(wsi, pss);

	default:
		break;
	}

	return 0;
}

/* --- /health and /stats (tests/testsrv) ---------------------------------- */

#define U(x) ((unsigned long long)atomic_load(&(x)))

static int
stats_body(struct lws *wsi, char *p, size_t size)
{
	struct lws_vhost *vh = lws_get_vhost(wsi);
	struct vhd *vhd = lws_protocol_vh_priv_get(vh,
			lws_vhost_name_to_protocol(vh, REL_PROTOCOL));
	int n;

	n = lws_snprintf(p, size,
		"{\"enqueued\":%llu,\"cleanups\":%llu,"
		"\"cleanups_detached\":%llu,\"completed\":%llu,"
		"\"refused\":%llu,\"bad_cleanups\":%llu,\"dequeued\":%llu,"
		"\"choked\":%llu,\"stops\":%llu,\"conns\":%llu,"
		"\"bad_msgs\":%llu,\"foreign_tasks\":%llu,"
		"\"closed_while\":{\"queued\":%llu,\"running\":%llu,"
		"\"syncing\":%llu,\"stopping\":%llu,\"finished\":%llu,"
		"\"stopped\":%llu}",
		U(ts_ctr.enqueued), U(ts_ctr.cleanups), U(ts_ctr.cleanups_detached),
		U(ts_ctr.completed), U(ctr_refused), U(ts_ctr.bad_cleanups),
		U(ctr_dequeued), U(ctr_choked), U(ctr_stops), U(ctr_conns),
		U(ctr_bad_msgs), U(ctr_foreign_task),
		U(ctr_closed_while[LWS_TP_STATUS_QUEUED]),
		U(ctr_closed_while[LWS_TP_STATUS_RUNNING]),
		U(ctr_closed_while[LWS_TP_STATUS_SYNCING]),
		U(ctr_closed_while[LWS_TP_STATUS_STOPPING]),
		U(ctr_closed_while[LWS_TP_STATUS_FINISHED]),
		U(ctr_closed_while[LWS_TP_STATUS_STOPPED]));
	n += ts_stats_tp(vhd ? vhd->tp : NULL, p + n, size - (size_t)n);

	return n + lws_snprintf(p + n, size - (size_t)n, "}");
}

static struct lws_protocols protocols[] = {
	{ "http", lwstp_callback_http_dummy, 0, 0, 0, NULL, 0 },
	TS_PROTOCOL_STATUS,
	{ REL_PROTOCOL, callback_rel, sizeof(struct pss), 128, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

int
main(int argc, const char **argv)
{
	struct lws_context_creation_info info;
	struct lws_context *cx;
	struct ts_pool_pvo pp;
	int bad, uv;

	uv = ts_info(&info, argc, argv, 7682, LLL_USER | LLL_ERR | LLL_WARN);
	ts_pool_pvo(&pp, argc, argv, REL_PROTOCOL, 1024);
	info.mounts = &ts_mount_health;
	info.protocols = protocols;
	info.pvo = &pp.pvo;
	ts_stats_body = stats_body;

	cx = ts_create(&info, uv);
	if (!cx)
		return 1;
	lwsl_user("lwstp-rel-server: http://%s:%d/ (%s threads, queue %s)\n",
		  info.iface, info.port, pp.threads, pp.queue);
	ts_serve(cx);

	bad = ts_exit_line("lwstp-rel-server", U(ts_ctr.enqueued),
			   U(ts_ctr.cleanups));
	printf("lwstp-rel-server: closed_while queued=%llu running=%llu "
	       "syncing=%llu stopping=%llu finished=%llu stopped=%llu\n",
	       U(ctr_closed_while[LWS_TP_STATUS_QUEUED]),
	       U(ctr_closed_while[LWS_TP_STATUS_RUNNING]),
	       U(ctr_closed_while[LWS_TP_STATUS_SYNCING]),
	       U(ctr_closed_while[LWS_TP_STATUS_STOPPING]),
	       U(ctr_closed_while[LWS_TP_STATUS_FINISHED]),
	       U(ctr_closed_while[LWS_TP_STATUS_STOPPED]));
	fflush(stdout);

	return bad || U(ts_ctr.bad_cleanups) || U(ctr_foreign_task);
}
