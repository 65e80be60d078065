/*
 * lwstp-ws-server - ws + http test server for liblwstp
 *
 * Serves test-apps/mount at "/", "ok" at "/health", a JSON snapshot of its
 * counters at "/stats", and the ws protocol "lws-threadpool-test".
 *
 * The protocol is shaped like upstream lws's minimal-ws-server-threadpool
 * example: the pool is created at PROTOCOL_INIT and finished / destroyed at
 * PROTOCOL_DESTROY, tasks are queued at ESTABLISHED, dequeued at
 * WS_SERVER_DROP_PROTOCOL, and their output is written and their SYNC
 * acknowledged (or the finished task reaped) in SERVER_WRITEABLE.
 *
 * A client picks what its connection runs with the URL query:
 *
 *   ws://127.0.0.1:7681/?count=50&tasks=2&outlive=0&work_us=0&ack=0
 *
 *   count	messages per task, 0 .. 1000000 (default 10)
 *   tasks	tasks for this connection, 1 .. 8 (default 1)
 *   outlive	1: the tasks are queued with async_task set and return
 *		LWS_TP_RETURN_FLAG_OUTLIVE, so they run to their end even if
 *		the connection goes away
 *   work_us	simulated work before each message, 0 .. 100000 us
 *   ack	1: a SYNC is only acknowledged when the client sends the text
 *		message "ack" (so a client holds its task, and the worker, in
 *		SYNC for as long as it likes, up to --sync-timeout-ms)
 *   pad	append a space and this many 'x' to each message, 0 .. 65536
 *
 * Messages sent to the client:
 *
 *   "tI seq N"
 *	message N (0 .. count - 1) of task I, in order per task (with pad=P:
 *	"tI seq N " and P times 'x')
 *   "done"
 *	all the connection's tasks ended and were reaped
 *   "done stopped=K"
 *	the same, K of them ended STOPPED (sync timeout, or the client sent
 *	"stop", which answers the first unacked SYNC with
 *	lws_threadpool_task_sync(task, 1))
 *   "error: queue full"
 *	the pool refused a task (LWSTP_E_QUEUE_FULL): the tasks already queued
 *	for the connection are dequeued, and after this message the server
 *	closes the connection with status 1013 (Try Again Later), reason
 *	"queue full" (on --uv, the distro lws may drop that close frame).  Any
 *	other refusal sends "error: <reason>" and closes with 1011.
 *
 * At exit it prints "lwstp-ws-server: enqueued=X cleanups=Y" on stdout and
 * exits non-zero if every task it queued did not get exactly one cleanup.
 *
 * Options: --port N (7681), --iface ADDR (127.0.0.1), --uv (libuv event
 * loop), --threads N (4), --queue N (64), --sync-timeout-ms N (0: library
 * default), --no-dequeue (leave the tasks of a closing connection to the
 * library's WSI_DESTROY handling instead of dequeueing them at
 * WS_SERVER_DROP_PROTOCOL), -d LOGLEVEL.
 */

#include "testsrv.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if !defined(LWSTP_TEST_MOUNT_DIR)
#define LWSTP_TEST_MOUNT_DIR "./mount"
#endif

#define TP_TEST_PROTOCOL	"lws-threadpool-test"
#define TP_TEST_MAX_TASKS	8
#define TP_TEST_MAX_COUNT	1000000
#define TP_TEST_MAX_WORK_US	100000
#define TP_TEST_MAX_PAD		65536
#define CLOSE_TRY_AGAIN_LATER	1013	/* IANA close code, not in lws 4.1 */

/*
 * Process-wide counters.  Cleanups of detached tasks run on pool workers,
 * so these are atomics.
 */
/* (the stream tasks' counters are ts_ctr, tests/testsrv) */
static atomic_ullong ctr_refused;	/* connections refused */
static atomic_ullong ctr_dequeued;	/* tasks dequeued at DROP_PROTOCOL */
static atomic_ullong ctr_choked;	/* writables finding the pipe choked */

/* --- the ws protocol "lws-threadpool-test" ------------------------------ */

struct per_vhost_data__tp_test {
	struct lws_threadpool		*tp;
	struct lws_context		*context;
	int				dequeue_on_drop;
};

struct conn_params {
	int		count;
	int		tasks;
	int		work_us;
	int		pad;
	char		outlive;
	char		ack;
};

struct per_session_data__tp_test {
	struct conn_params	p;
	int			enqueued; /* tasks queued for this wsi */
	int			reaped;	/* of those, reaped (or dequeued) */
	int			stopped; /* of those reaped, ended STOPPED */
	int			next;	/* round robin: next task to serve */
	int			refuse_err; /* enqueue failed with this */
	char			refused;
	char			error_sent;
	char			done_sent;
};

static int
urlarg_int(struct lws *wsi, const char *name, int def, int min, int max)
{
	char buf[64];
	const char *p = lws_get_urlarg_by_name(wsi, name, buf, sizeof(buf));
	int v;

	if (!p || !*p)
		return def;
	v = atoi(p);
	if (v < min || v > max) {
		lwsl_warn("%s: %s%d out of range %d..%d, using %d\n", __func__,
			  name, v, min, max, v < min ? min : max);
		v = v < min ? min : max;
	}

	return v;
}

static void
get_conn_params(struct lws *wsi, struct conn_params *p)
{
	p->count = urlarg_int(wsi, "count=", 10, 0, TP_TEST_MAX_COUNT);
	p->tasks = urlarg_int(wsi, "tasks=", 1, 1, TP_TEST_MAX_TASKS);
	p->work_us = urlarg_int(wsi, "work_us=", 0, 0, TP_TEST_MAX_WORK_US);
	p->outlive = (char)urlarg_int(wsi, "outlive=", 0, 0, 1);
	p->ack = (char)urlarg_int(wsi, "ack=", 0, 0, 1);
	p->pad = urlarg_int(wsi, "pad=", 0, 0, TP_TEST_MAX_PAD);
}

/* drop every task still bound to the wsi; returns how many */
static int
dequeue_all(struct lws *wsi, int bound)
{
	struct lws_threadpool_task *task;
	int n = 0;

	/* each dequeue unbinds the task, so this visits each one once */
	while (n <= bound && (task = lws_threadpool_get_task_wsi(wsi))) {
		lws_threadpool_dequeue_task(task);
		n++;
	}
	if (n > bound)
		lwsl_err("%s: wsi still has tasks after %d dequeues\n",
			 __func__, n);

	return n;
}

struct writable_scan {
	struct per_session_data__tp_test *pss;
	struct lws_threadpool_task	*syncing[TP_TEST_MAX_TASKS];
	struct ts_stream		*priv[TP_TEST_MAX_TASKS];
	int				nsync;
};

/*
 * For each task of the wsi, in the writable callback: reap the ended ones,
 * note the ones waiting in SYNC for us.
 */
static int
writable_task_cb(struct lws_threadpool_task *task, void *user)
{
	struct writable_scan *ws = (struct writable_scan *)user;
	struct ts_stream *priv;
	void *_user;

	/* this frees a task that ended (its cleanup runs here) */
	switch (lws_threadpool_task_status(task, &_user)) {
	case LWS_TP_STATUS_FINISHED:
		ws->pss->reaped++;
		break;
	case LWS_TP_STATUS_STOPPED:
		ws->pss->reaped++;
		ws->pss->stopped++;
		break;
	case LWS_TP_STATUS_SYNCING:
		priv = (struct ts_stream *)_user;
		if (priv->awaiting_ack ||
		    ws->nsync == (int)LWS_ARRAY_SIZE(ws->syncing))
			break;
		ws->priv[ws->nsync] = priv;
		ws->syncing[ws->nsync++] = task;
		break;
	default: /* QUEUED, RUNNING, STOPPING: nothing for us yet */
		break;
	}

	return 0;
}

struct ack_scan {
	struct per_session_data__tp_test *pss;
	int				stop;
	int				found;
	int				ended;
};

/*
 * For each task of the wsi, on "ack" / "stop" from the client: answer the
 * first task whose message was written and waits for the client.  A task
 * found ended (the sync timeout stopped it) is reaped on the way.
 */
static int
ack_task_cb(struct lws_threadpool_task *task, void *user)
{
	struct ack_scan *as = (struct ack_scan *)user;
	struct ts_stream *priv;
	void *_user;

	switch (lws_threadpool_task_status(task, &_user)) {
	case LWS_TP_STATUS_STOPPED:
		as->pss->stopped++;
		/* fallthru */
	case LWS_TP_STATUS_FINISHED:
		as->pss->reaped++;
		as->ended = 1;
		break;
	case LWS_TP_STATUS_SYNCING:
		/* a task waiting in SYNC is not touching its data */
		priv = (struct ts_stream *)_user;
		if (as->found || !priv->awaiting_ack)
			break;
		priv->awaiting_ack = 0;
		lws_threadpool_task_sync(task, as->stop);
		as->found = 1;
		break;
	default:
		break;
	}

	return 0;
}

static int
tp_test_writeable(struct lws *wsi, struct per_session_data__tp_test *pss)
{
	char buf[LWS_PRE + 64];
	struct writable_scan ws;
	struct ts_stream *priv;
	int n, pick, len;

	if (pss->refused) {
		if (pss->error_sent) {
			const char *why = lwstp_strerror(pss->refuse_err);

			lws_close_reason(wsi, pss->refuse_err ==
					 LWSTP_E_QUEUE_FULL ?
					 (enum lws_close_status)
						CLOSE_TRY_AGAIN_LATER :
					 LWS_CLOSE_STATUS_UNEXPECTED_CONDITION,
					 (unsigned char *)why, strlen(why));
			/*
			 * On the libuv loop, Debian's lws 4.1.6 (built with
			 * _DEBUG) closes a wsi whose callback returned -1 a
			 * second time ("uv repeat test" in lws_service_fd),
			 * which kills it before the close frame goes out: the
			 * client then sees 1006 instead.
			 */
			return -1;
		}
		len = lws_snprintf(buf + LWS_PRE, sizeof(buf) - LWS_PRE,
				   "error: %s",
				   lwstp_strerror(pss->refuse_err));
		if (ts_write_text(wsi, buf + LWS_PRE, (size_t)len))
			return -1;
		pss->error_sent = 1;
		lws_callback_on_writable(wsi);

		return 0;
	}

	if (lws_send_pipe_choked(wsi)) {
		/* come back when the kernel took what we sent already */
		atomic_fetch_add(&ctr_choked, 1);
		lws_callback_on_writable(wsi);
		return 0;
	}

	memset(&ws, 0, sizeof(ws));
	ws.pss = pss;
	lws_threadpool_foreach_task_wsi(wsi, &ws, writable_task_cb);

	if (ws.nsync) {
		/* one write per writable callback: serve tasks in turn */
		pick = 0;
		for (n = 0; n < ws.nsync; n++)
			if (((ws.priv[n]->index - pss->next +
			      TP_TEST_MAX_TASKS) % TP_TEST_MAX_TASKS) <
			    ((ws.priv[pick]->index - pss->next +
			      TP_TEST_MAX_TASKS) % TP_TEST_MAX_TASKS))
				pick = n;
		priv = ws.priv[pick];
		pss->next = (priv->index + 1) % TP_TEST_MAX_TASKS;

		if (ts_write_text(wsi, priv->msg + LWS_PRE, priv->msg_len)) {
			lws_threadpool_task_sync(ws.syncing[pick], 1);
			return -1;
		}

		if (pss->p.ack)
			priv->awaiting_ack = 1;
		else
			/* we are done with its output: let it go on */
			lws_threadpool_task_sync(ws.syncing[pick], 0);

		if (ws.nsync > 1)
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
		lwsl_info("%s: wsi %p: all %d tasks done (%d stopped)\n",
			  __func__, wsi, pss->enqueued, pss->stopped);
	}

	return 0;
}

static int
tp_test_established(struct lws *wsi, struct per_vhost_data__tp_test *vhd,
		    struct per_session_data__tp_test *pss)
{
	struct ts_stream *priv;
	char peer[48];
	int n, r;

	memset(pss, 0, sizeof(*pss));
	get_conn_params(wsi, &pss->p);
	lws_get_peer_simple(wsi, peer, sizeof(peer));

	for (n = 0; n < pss->p.tasks; n++) {
		r = ts_stream_enqueue(vhd->tp, wsi, "ws", n, pss->p.count,
				      pss->p.work_us, pss->p.pad,
				      pss->p.outlive, NULL, &priv);
		if (r)
			goto refuse;
		pss->enqueued++;
	}

	lwsl_info("%s: wsi %p: %d tasks of %d messages%s%s\n", __func__, wsi,
		  pss->p.tasks, pss->p.count, pss->p.outlive ? ", outlive" : "",
		  pss->p.ack ? ", acked" : "");

	/* the workers let us know the next step with SERVER_WRITEABLE */

	return 0;

refuse:
	lwsl_user("%s: %s: refusing connection: %s\n", __func__, peer,
		  lwstp_strerror(r));
	atomic_fetch_add(&ctr_refused, 1);
	pss->refused = 1;
	pss->refuse_err = r;
	/* the connection gets none of its tasks run */
	dequeue_all(wsi, pss->enqueued);
	pss->reaped = pss->enqueued;
	lws_callback_on_writable(wsi);

	return 0;
}

static int
callback_tp_test(struct lws *wsi, enum lws_callback_reasons reason,
		 void *user, void *in, size_t len)
{
	struct per_session_data__tp_test *pss =
			(struct per_session_data__tp_test *)user;
	struct per_vhost_data__tp_test *vhd =
			(struct per_vhost_data__tp_test *)
			lws_protocol_vh_priv_get(lws_get_vhost(wsi),
						 lws_get_protocol(wsi));
	const struct lws_protocol_vhost_options *pvo =
			(const struct lws_protocol_vhost_options *)in;
	struct lws_threadpool_create_args cargs;
	struct lwstp_create_args xargs;
	struct ack_scan as;

	switch (reason) {
	case LWS_CALLBACK_PROTOCOL_INIT:
		vhd = lws_protocol_vh_priv_zalloc(lws_get_vhost(wsi),
				lws_get_protocol(wsi),
				sizeof(struct per_vhost_data__tp_test));
		if (!vhd)
			return 1;
		vhd->context = lws_get_context(wsi);
		vhd->dequeue_on_drop = ts_pvo_int(pvo, "dequeue-on-drop", 1);

		if (ts_pvo_int(pvo, "sync-timeout-ms", 0) > 0) {
			/* only lwstp_create() knows the sync timeout */
			memset(&xargs, 0, sizeof(xargs));
			xargs.threads = ts_pvo_int(pvo, "threads", 4);
			xargs.max_queue_depth = ts_pvo_int(pvo, "queue", 64);
			xargs.sync_timeout_ms = (unsigned int)
					ts_pvo_int(pvo, "sync-timeout-ms", 0);
			vhd->tp = lwstp_create(vhd->context, &xargs, "%s",
					lws_get_vhost_name(lws_get_vhost(wsi)));
		} else {
			memset(&cargs, 0, sizeof(cargs));
			cargs.threads = ts_pvo_int(pvo, "threads", 4);
			cargs.max_queue_depth = ts_pvo_int(pvo, "queue", 64);
			vhd->tp = lws_threadpool_create(vhd->context, &cargs,
					"%s",
					lws_get_vhost_name(lws_get_vhost(wsi)));
		}
		if (!vhd->tp)
			return 1;
		break;

	case LWS_CALLBACK_PROTOCOL_DESTROY:
		if (!vhd || !vhd->tp)
			break;
		lws_threadpool_finish(vhd->tp);
		lws_threadpool_destroy(vhd->tp);
		vhd->tp = NULL;
		lwsl_user("%s: pool destroyed\n", __func__);
		break;

	case LWS_CALLBACK_ESTABLISHED:
		return tp_test_established(wsi, vhd, pss);

	case LWS_CALLBACK_RECEIVE:
		if (!pss->p.ack || len < 3 || len > 4)
			break;
		memset(&as, 0, sizeof(as));
		if (len == 3 && !memcmp(in, "ack", 3))
			as.stop = 0;
		else if (len == 4 && !memcmp(in, "stop", 4))
			as.stop = 1;
		else
			break;
		as.pss = pss;
		lws_threadpool_foreach_task_wsi(wsi, &as, ack_task_cb);
		if (!as.found)
			lwsl_info("%s: wsi %p: nothing awaits an ack\n",
				  __func__, wsi);
		if (as.ended)
			/* "done" may be due now */
			lws_callback_on_writable(wsi);
		break;

	case LWS_CALLBACK_WS_SERVER_DROP_PROTOCOL:
		/* queued or done tasks end now, running ones are told to
		 * stop (or, if outliving, go on without us) */
		lwsl_debug("%s: DROP_PROTOCOL wsi %p\n", __func__, wsi);
		if (pss && vhd && vhd->dequeue_on_drop)
			atomic_fetch_add(&ctr_dequeued, (unsigned long long)
					 dequeue_all(wsi, pss->enqueued));
		break;

	case LWS_CALLBACK_SERVER_WRITEABLE:
		return tp_test_writeable(wsi, pss);

	default:
		break;
	}

	return 0;
}

#define LWS_PLUGIN_PROTOCOL_TP_TEST \
	{ \
		TP_TEST_PROTOCOL, \
		callback_tp_test, \
		sizeof(struct per_session_data__tp_test), \
		128, \
		0, NULL, 0 \
	}

/* --- "/health" and "/stats" (tests/testsrv) ------------------------------ */

static int
stats_body(struct lws *wsi, char *p, size_t size)
{
	struct lws_vhost *vh = lws_get_vhost(wsi);
	struct per_vhost_data__tp_test *vhd = (struct per_vhost_data__tp_test *)
		lws_protocol_vh_priv_get(vh,
			lws_vhost_name_to_protocol(vh, TP_TEST_PROTOCOL));
	int n;

	n = lws_snprintf(p, size,
		"{\"enqueued\":%llu,\"cleanups\":%llu,"
		"\"cleanups_detached\":%llu,\"completed\":%llu,"
		"\"outlive_completed\":%llu,\"refused\":%llu,"
		"\"bad_cleanups\":%llu,\"dequeued\":%llu,\"choked\":%llu",
		(unsigned long long)atomic_load(&ts_ctr.enqueued),
		(unsigned long long)atomic_load(&ts_ctr.cleanups),
		(unsigned long long)atomic_load(&ts_ctr.cleanups_detached),
		(unsigned long long)atomic_load(&ts_ctr.completed),
		(unsigned long long)atomic_load(&ts_ctr.outlive_completed),
		(unsigned long long)atomic_load(&ctr_refused),
		(unsigned long long)atomic_load(&ts_ctr.bad_cleanups),
		(unsigned long long)atomic_load(&ctr_dequeued),
		(unsigned long long)atomic_load(&ctr_choked));
	n += ts_stats_tp(vhd ? vhd->tp : NULL, p + n, size - (size_t)n);

	return n + lws_snprintf(p + n, size - (size_t)n, "}");
}

/* --- the server ---------------------------------------------------------- */

static struct lws_protocols protocols[] = {
	/* protocols[0]: the lwstp integration (see lwstp_hook()) */
	{ "http", lwstp_callback_http_dummy, 0, 0, 0, NULL, 0 },
	TS_PROTOCOL_STATUS,
	LWS_PLUGIN_PROTOCOL_TP_TEST,
	{ NULL, NULL, 0, 0, 0, NULL, 0 } /* terminator */
};

static const struct lws_http_mount mount = {
	.mount_next		= &ts_mount_health,
	.mountpoint		= "/",
	.origin			= LWSTP_TEST_MOUNT_DIR,
	.def			= "index.html",
	.origin_protocol	= LWSMPRO_FILE,
	.mountpoint_len		= 1,
};

int
main(int argc, const char **argv)
{
	struct lws_context_creation_info info;
	struct lws_context *cx;
	struct ts_pool_pvo pp;
	int uv;

	uv = ts_info(&info, argc, argv, 7681,
		     LLL_USER | LLL_ERR | LLL_WARN | LLL_NOTICE);
	/* the pool's configuration reaches the protocol as per-vhost options */
	ts_pool_pvo(&pp, argc, argv, TP_TEST_PROTOCOL, 64);
	info.mounts = &mount;
	info.protocols = protocols;
	info.pvo = &pp.pvo;
	ts_stats_body = stats_body;

	lwsl_user("lwstp-ws-server: http://%s:%d/ (%s loop, %s threads, "
		  "queue %s, sync timeout %s ms)\n", info.iface, info.port,
		  uv ? "libuv" : "poll", pp.threads, pp.queue, pp.sync_ms);

	cx = ts_create(&info, uv);
	if (!cx)
		return 1;
	ts_serve(cx);

	return ts_exit_line("lwstp-ws-server", atomic_load(&ts_ctr.enqueued),
			    atomic_load(&ts_ctr.cleanups)) ||
	       atomic_load(&ts_ctr.bad_cleanups);
}
