/*
 * protocol_lws_threadpool - CPU jobs on a liblwstp pool, over ws and http
 *
 * The lws protocol "lws-threadpool".  Each vhost that has it gets one pool,
 * created at LWS_CALLBACK_PROTOCOL_INIT from the vhost's options (opts.c)
 * and finished and destroyed at LWS_CALLBACK_PROTOCOL_DESTROY.  Clients
 * start SHA-256 jobs (job.c) over WebSocket (JSON messages, msg.c) or with
 * GET /job?size=N, and follow their progress; a job started with
 * "outlive":true keeps running when its client leaves, and its progress and
 * result stay reachable by a random token (kept.c).  README.md has the
 * message and HTTP protocol.
 *
 * This file: the lws callback, the per-vhost setup and teardown, and the
 * plugin export; priv.h lists the other files and the threading rules.
 */

#include "priv.h"

/* the connection is going: forget its jobs and watches */
static void
conn_forget(struct lwstp_pss *pss, int pool_alive)
{
	lwstp_plugin_ws_forget(pss, pool_alive);
	lwstp_plugin_http_forget(pss, pool_alive);
	lws_dll2_remove(&pss->conn_link);
}

static int
vhd_init(struct lws *wsi, const struct lws_protocol_vhost_options *pvo)
{
	struct lws_vhost *vh = lws_get_vhost(wsi);
	struct lwstp_create_args ca;
	struct lwstp_pvh *vhd;
	char err[256];

	vhd = lws_protocol_vh_priv_zalloc(vh, lws_get_protocol(wsi),
					  sizeof(*vhd));
	if (!vhd)
		return 1;

	if (lwstp_plugin_parse_opts(pvo, lws_get_vhost_name(vh), &vhd->opts,
				    err, sizeof(err))) {
		lwsl_err("lws-threadpool: %s: not initialising on this "
			 "vhost\n", err);
		return 1;
	}

	vhd->cx = lws_get_context(wsi);
	vhd->vh = vh;
	if (lwstp_kept_init(&vhd->kt, vhd->cx, vhd->opts.max_results,
			    vhd->opts.result_ttl_ms, lwstp_plugin_watch_cb,
			    vhd))
		return 1;

	memset(&ca, 0, sizeof(ca));
	ca.threads = vhd->opts.threads;
	ca.max_queue_depth = vhd->opts.max_queue_depth;
	ca.sync_timeout_ms = vhd->opts.sync_timeout_ms;
	ca.worker_nice = vhd->opts.worker_nice;
	ca.worker_sched_idle = vhd->opts.worker_sched_idle;
	vhd->tp = lwstp_create(vhd->cx, &ca, "lws-threadpool %s",
			       lws_get_vhost_name(vh));
	if (!vhd->tp) {
		/* liblwstp said why in the line before */
		lwsl_err("lws-threadpool: vhost '%s': no pool of %d threads, "
			 "the protocol is not initialised\n",
			 lws_get_vhost_name(vh), ca.threads);
		lwstp_kept_destroy(&vhd->kt);
		return 1;
	}
	vhd->inited = 1;

	lwsl_notice("lws-threadpool: vhost '%s': %d threads, queue %d, "
		    "max job %llu bytes\n", lws_get_vhost_name(vh),
		    vhd->opts.threads, vhd->opts.max_queue_depth,
		    (unsigned long long)vhd->opts.max_job_size);

	return 0;
}

static void
vhd_destroy(struct lwstp_pvh *vhd)
{
	if (!vhd || !vhd->inited)
		return;

	/* every job ends and is cleaned up; the workers are joined */
	lws_threadpool_finish(vhd->tp);
	lws_threadpool_destroy(vhd->tp);
	vhd->tp = NULL;

	/* so a log tells whether each job got exactly one cleanup, whatever
	 * the server (bad: process-wide, a bad user has no vhost) */
	lwsl_notice("lws-threadpool: vhost '%s': pool destroyed: enqueued=%llu "
		    "cleanups=%llu detached=%llu finished=%llu bad=%llu\n",
		    lws_get_vhost_name(vhd->vh),
		    atomic_load(&vhd->ctr.jobs_enqueued),
		    atomic_load(&vhd->ctr.jobs_cleaned),
		    atomic_load(&vhd->ctr.jobs_cleaned_detached),
		    atomic_load(&vhd->ctr.jobs_finished),
		    atomic_load(&lwstp_plugin_ctr.bad_cleanups));

	/* connections still here lose their (now freed) tasks and watches */
	while (vhd->conns.head)
		conn_forget(lws_container_of(vhd->conns.head,
				struct lwstp_pss, conn_link), 0);

	lwstp_kept_destroy(&vhd->kt);
	vhd->inited = 0;
}

static void
pss_bind(struct lwstp_pss *pss, struct lwstp_pvh *vhd, struct lws *wsi,
	 uint8_t kind)
{
	pss->vhd = vhd;
	pss->wsi = wsi;
	pss->kind = kind;
	if (!pss->conn_link.owner)
		lws_dll2_add_tail(&pss->conn_link, &vhd->conns);
}

static int
plugin_callback(struct lws *wsi, enum lws_callback_reasons reason,
		void *user, void *in, size_t len)
{
	struct lwstp_pss *pss = (struct lwstp_pss *)user;
	struct lwstp_pvh *vhd = NULL;

	if (wsi)
		vhd = (struct lwstp_pvh *)lws_protocol_vh_priv_get(
				lws_get_vhost(wsi), lws_get_protocol(wsi));

	switch (reason) {
	case LWS_CALLBACK_PROTOCOL_INIT:
		return vhd_init(wsi,
			(const struct lws_protocol_vhost_options *)in);

	case LWS_CALLBACK_PROTOCOL_DESTROY:
		vhd_destroy(vhd);
		break;

	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		/* a kept result changed; must return 0 (see LWS-NOTES) */
		if (vhd && vhd->inited)
			lwstp_kept_service(&vhd->kt);
		break;

	/* ws */

	case LWS_CALLBACK_ESTABLISHED:
		if (!vhd || !vhd->inited)
			return -1;
		pss_bind(pss, vhd, wsi, PSS_WS);
		break;

	case LWS_CALLBACK_RECEIVE:
		if (pss && pss->kind == PSS_WS)
			lwstp_plugin_ws_receive(pss, in, len);
		break;

	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (pss && pss->kind == PSS_WS)
			return lwstp_plugin_ws_writeable(pss);
		break;

	case LWS_CALLBACK_WS_SERVER_DROP_PROTOCOL:	/* comes first */
	case LWS_CALLBACK_CLOSED:
		if (pss && pss->kind == PSS_WS && pss->conn_link.owner)
			conn_forget(pss, 1);
		break;

	/* http, through a callback://lws-threadpool mount */

	case LWS_CALLBACK_HTTP:
		if (!vhd || !vhd->inited)
			return lws_callback_http_dummy(wsi, reason, user, in,
						       len);
		if (pss->conn_link.owner)
			conn_forget(pss, 1);	/* a keep-alive leftover */
		pss_bind(pss, vhd, wsi, PSS_HTTP);
		return lwstp_plugin_http_request(pss);

	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (pss && pss->kind == PSS_HTTP)
			return lwstp_plugin_http_writeable(pss);
		break;

	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (pss && pss->kind == PSS_HTTP)
			conn_forget(pss, 1);
		break;

	default:
		/* file mounts served while this is the vhost's default
		 * protocol need the dummy's handling (keep-alive, completion) */
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}

	return 0;
}

/*
 * The plugin integrates itself: its wsis are covered by lwstp_hook() in its
 * own callback, so it also runs where protocols[0] is lws's plain dummy (as
 * in lwsws).  The hook runs first, so that an established callback makes
 * its wsi eligible for tasks; but after our own close and unbind handling,
 * which dequeues the task handles the connection keeps: the hook ends or
 * detaches them at the first of these reasons, and so do we.
 */
static int
callback_lws_threadpool(struct lws *wsi, enum lws_callback_reasons reason,
			void *user, void *in, size_t len)
{
	int closing = reason == LWS_CALLBACK_CLOSED ||
		      reason == LWS_CALLBACK_CLOSED_HTTP ||
		      reason == LWS_CALLBACK_WS_SERVER_DROP_PROTOCOL ||
		      reason == LWS_CALLBACK_HTTP_DROP_PROTOCOL;
	int r;

	if (!closing)
		lwstp_hook(wsi, reason, user, in, len);
	r = plugin_callback(wsi, reason, user, in, len);
	if (closing)
		lwstp_hook(wsi, reason, user, in, len);

	return r;
}

/**
 * LWS_PLUGIN_PROTOCOL_LWS_THREADPOOL - the protocol, for a protocols array
 *
 * With LWS_PLUGIN_STATIC defined, #include this file and put this in the
 * vhost's protocols (never as protocols[0], which must be the lwstp hook).
 */
#define LWS_PLUGIN_PROTOCOL_LWS_THREADPOOL \
	{ \
		.name = LWSTP_PLUGIN_PROTOCOL, \
		.callback = callback_lws_threadpool, \
		.per_session_data_size = sizeof(struct lwstp_pss), \
		.rx_buffer_size = LWSTP_MSG_MAX, \
		/* lws sends at most this at once (0: rx_buffer_size) */ \
		.tx_packet_size = LWSTP_PLUGIN_TX_PACKET, \
	}

#if !defined(LWS_PLUGIN_STATIC)

static const struct lws_protocols lwstp_plugin_protocols[] = {
	LWS_PLUGIN_PROTOCOL_LWS_THREADPOOL
};

/*
 * The export lws_plugins_init() looks up: named after the file,
 * libprotocol_lws_threadpool.so -> "lws_threadpool".
 */
LWS_VISIBLE const lws_plugin_protocol_t lws_threadpool = {
	.hdr = {
		.name = "lws threadpool",
		._class = "lws_protocol_plugin",
#if LWS_PLUGIN_API_MAGIC >= 191
		/* 4.3's header has it, and lws_plugins_init() checks it */
		.lws_build_hash = LWS_BUILD_HASH,
#endif
		.api_magic = LWS_PLUGIN_API_MAGIC
	},

	.protocols = lwstp_plugin_protocols,
	.count_protocols = LWS_ARRAY_SIZE(lwstp_plugin_protocols),
	.extensions = NULL,
	.count_extensions = 0,
};

#endif
