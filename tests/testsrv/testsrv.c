/*
 * testsrv - what every test server of this project has in common
 * (see testsrv.h)
 */

#include "testsrv.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --- the command line ---------------------------------------------------- */

int
ts_opt_int(int argc, const char **argv, const char *name, int def)
{
	const char *p = lws_cmdline_option(argc, argv, name);

	return p && *p ? atoi(p) : def;
}

int
ts_pvo_int(const struct lws_protocol_vhost_options *pvo, const char *name,
	   int def)
{
	const char *v;

	if (lws_pvo_get_str((void *)pvo, name, &v))
		return def;

	return atoi(v);
}

void
ts_pool_pvo(struct ts_pool_pvo *p, int argc, const char **argv,
	    const char *protocol, int def_queue)
{
	memset(p, 0, sizeof(*p));
	lws_snprintf(p->threads, sizeof(p->threads), "%d",
		     ts_opt_int(argc, argv, "--threads", 4));
	lws_snprintf(p->queue, sizeof(p->queue), "%d",
		     ts_opt_int(argc, argv, "--queue", def_queue));
	lws_snprintf(p->sync_ms, sizeof(p->sync_ms), "%d",
		     ts_opt_int(argc, argv, "--sync-timeout-ms", 0));

	p->o[0].name = "threads";
	p->o[0].value = p->threads;
	p->o[0].next = &p->o[1];
	p->o[1].name = "queue";
	p->o[1].value = p->queue;
	p->o[1].next = &p->o[2];
	p->o[2].name = "sync-timeout-ms";
	p->o[2].value = p->sync_ms;
	p->o[2].next = &p->o[3];
	p->o[3].name = "dequeue-on-drop";
	p->o[3].value = lws_cmdline_option(argc, argv, "--no-dequeue") ?
								"0" : "1";
	p->pvo.options = p->o;
	p->pvo.name = protocol;
	p->pvo.value = "";
}

int
ts_info(struct lws_context_creation_info *info, int argc, const char **argv,
	int def_port, int def_logs)
{
	const char *p = lws_cmdline_option(argc, argv, "-d");
	int uv = !!lws_cmdline_option(argc, argv, "--uv");

	lws_set_log_level(p ? atoi(p) : def_logs, NULL);

	memset(info, 0, sizeof(*info));
	info->port = ts_opt_int(argc, argv, "--port", def_port);
	info->iface = lws_cmdline_option(argc, argv, "--iface");
	if (!info->iface)
		info->iface = "127.0.0.1";
	if (!strchr(info->iface, ':'))
		info->options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	if (uv)
		info->options |= LWS_SERVER_OPTION_LIBUV;
	info->ssl_cert_filepath = lws_cmdline_option(argc, argv, "--tls-cert");
	info->ssl_private_key_filepath = lws_cmdline_option(argc, argv,
							    "--tls-key");
	if (info->ssl_cert_filepath)
		/* h2 and http/1.1 by ALPN, as lws offers them by default */
		info->options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;

	return uv;
}

/* --- "/health" and "/stats" ---------------------------------------------- */

ts_stats_fn ts_stats_body;

int
ts_stats_tp(struct lws_threadpool *tp, char *p, size_t size)
{
	struct lwstp_stats st;

	memset(&st, 0, sizeof(st));
	if (tp)
		lwstp_get_stats(tp, &st);

	return lws_snprintf(p, size,
		",\"tp\":{\"threads\":%d,\"idle\":%d,\"queued\":%d,"
		"\"running\":%d,\"syncing\":%d,\"done_waiting\":%d,"
		"\"enqueued\":%llu,\"rejected_full\":%llu,\"finished\":%llu,"
		"\"stopped\":%llu,\"syncs\":%llu,\"sync_timeouts\":%llu,"
		"\"detached\":%llu,\"reaped\":%llu}",
		st.threads, st.idle, st.queued, st.running, st.syncing,
		st.done_waiting, (unsigned long long)st.enqueued,
		(unsigned long long)st.rejected_full,
		(unsigned long long)st.finished,
		(unsigned long long)st.stopped, (unsigned long long)st.syncs,
		(unsigned long long)st.sync_timeouts,
		(unsigned long long)st.detached,
		(unsigned long long)st.reaped);
}

int
ts_callback_status(struct lws *wsi, enum lws_callback_reasons reason,
		   void *user, void *in, size_t len)
{
	struct ts_pss_status *pss = user;
	uint8_t buf[LWS_PRE + 256], *start = &buf[LWS_PRE], *p = start,
		*end = &buf[sizeof(buf) - 1];
	char path[32];
	int health;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		/* in is the url part after the mountpoint: use the full one */
		if (lws_hdr_copy(wsi, path, sizeof(path),
				 WSI_TOKEN_GET_URI) < 0)
			return -1;
		health = !strcmp(path, "/health") || !ts_stats_body;
		pss->len = health ? lws_snprintf(pss->body + LWS_PRE,
						 TS_STATS_MAX, "ok") :
			   ts_stats_body(wsi, pss->body + LWS_PRE,
					 TS_STATS_MAX);
		if (lws_add_http_common_headers(wsi, HTTP_STATUS_OK,
				health ? "text/plain" : "application/json",
				(lws_filepos_t)pss->len, &p, end))
			return 1;
		if (lws_finalize_write_http_header(wsi, start, &p, end))
			return 1;
		lws_callback_on_writable(wsi);
		return 0;

	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (lws_write(wsi, (uint8_t *)pss->body + LWS_PRE,
			      (size_t)pss->len, LWS_WRITE_HTTP_FINAL) !=
								pss->len)
			return 1;
		if (lws_http_transaction_completed(wsi))
			return -1;
		return 0;

	default:
		break;
	}

	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_http_mount ts_mount_stats = {
	.mountpoint		= "/stats",
	.origin			= TS_PROTOCOL_STATUS_NAME,
	.origin_protocol	= LWSMPRO_CALLBACK,
	.mountpoint_len		= 6,
};

const struct lws_http_mount ts_mount_health = {
	.mount_next		= &ts_mount_stats,
	.mountpoint		= "/health",
	.origin			= TS_PROTOCOL_STATUS_NAME,
	.origin_protocol	= LWSMPRO_CALLBACK,
	.mountpoint_len		= 7,
};

/* --- the stream task ------------------------------------------------------ */

#define TS_STREAM_MAGIC	0x74737472u

struct ts_counters ts_ctr;

static void
stream_cleanup(struct lws *wsi, void *user)
{
	struct ts_stream *s = user;

	if (!s || s->magic != TS_STREAM_MAGIC) {
		lwsl_err("%s: cleanup of a bad task user %p\n", __func__, user);
		atomic_fetch_add(&ts_ctr.bad_cleanups, 1);
		return;
	}
	if (!wsi)
		atomic_fetch_add(&ts_ctr.cleanups_detached, 1);
	if (s->pos == s->count) {
		atomic_fetch_add(&ts_ctr.completed, 1);
		if (!wsi && s->outlive)
			atomic_fetch_add(&ts_ctr.outlive_completed, 1);
	}
	s->magic = 0;
	free(s);
	atomic_fetch_add(&ts_ctr.cleanups, 1);
}

/* on a pool worker */
static enum lws_threadpool_task_return
stream_task(void *user, enum lws_threadpool_task_status st)
{
	struct ts_stream *s = user;
	int flags = s->outlive ? LWS_TP_RETURN_FLAG_OUTLIVE : 0;
	char *p = s->msg + LWS_PRE;
	int n;

	if (st == LWS_TP_STATUS_STOPPING)
		return LWS_TP_RETURN_STOPPED;
	if (s->pos == s->count)
		return LWS_TP_RETURN_FINISHED;

	/* stands in for the real work that produces a result */
	if (s->work_us)
		usleep((useconds_t)s->work_us);

	n = lws_snprintf(p, TS_MSG_HDR_LEN, "t%d seq %d", s->index, s->pos++);
	if (s->pad) {
		p[n++] = ' ';
		memset(p + n, 'x', (size_t)s->pad);
		n += s->pad;
	}
	s->msg_len = (size_t)n;

	return (enum lws_threadpool_task_return)(LWS_TP_RETURN_SYNC | flags);
}

int
ts_stream_enqueue(struct lws_threadpool *tp, struct lws *wsi, const char *tag,
		  int index, int count, int work_us, int pad, int outlive,
		  struct lws_threadpool_task **task, struct ts_stream **sp)
{
	struct lws_threadpool_task_args args;
	struct ts_stream *s;
	char peer[48];
	int r;

	s = malloc(sizeof(*s) + LWS_PRE + TS_MSG_HDR_LEN + (size_t)pad);
	if (!s)
		return LWSTP_E_NOMEM;
	memset(s, 0, sizeof(*s));
	s->magic = TS_STREAM_MAGIC;
	s->index = index;
	s->count = count;
	s->work_us = work_us;
	s->pad = pad;
	s->outlive = (char)outlive;

	memset(&args, 0, sizeof(args));
	args.wsi = wsi;
	args.user = s;
	args.task = stream_task;
	args.cleanup = stream_cleanup;
	/* outlive from the start, even if it never ran (the task also says
	 * so with LWS_TP_RETURN_FLAG_OUTLIVE each time) */
	args.async_task = outlive;

	lws_get_peer_simple(wsi, peer, sizeof(peer));
	/* from here on the task owns s, and frees it in its cleanup */
	r = lwstp_enqueue(tp, &args, task, "%s %s t%d", tag, peer, index);
	if (r) {
		/* not queued: s is still ours */
		s->magic = 0;
		free(s);
		return r;
	}
	atomic_fetch_add(&ts_ctr.enqueued, 1);
	*sp = s;

	return 0;
}

/* --- running --------------------------------------------------------------- */

static struct lws_context *context;
static volatile sig_atomic_t interrupted;

/* poll loop: ask the loop to stop; lws_cancel_service() only writes to the
 * event pipe, so it can be called from a signal handler */
static void
sig_handler(int sig)
{
	interrupted = 1;
	if (context)
		lws_cancel_service(context);
}

/* libuv loop: lws catches the signals on the loop and calls us there */
static void
ts_uv_signal(void *handle, int signum)
{
	lwsl_notice("%s: signal %d, shutting down\n", __func__, signum);
	interrupted = 1;
	lws_context_destroy(context);
}

struct lws_context *
ts_create(struct lws_context_creation_info *info, int uv)
{
	info->pcontext = &context;
	if (uv)
		info->signal_cb = ts_uv_signal;
	else {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = sig_handler;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}

	context = lws_create_context(info);
	if (!context)
		lwsl_err("lws init failed\n");

	return context;
}

void
ts_serve(struct lws_context *cx)
{
	int n = 0;

	while (n >= 0 && !interrupted)
		n = lws_service(cx, 0);

	lws_context_destroy(cx);
}

int
ts_exit_line(const char *name, unsigned long long enqueued,
	     unsigned long long cleanups)
{
	printf("%s: enqueued=%llu cleanups=%llu\n", name, enqueued, cleanups);
	fflush(stdout);

	return enqueued != cleanups;
}

int
ts_write_text(struct lws *wsi, char *buf_after_pre, size_t len)
{
	int m = lws_write(wsi, (unsigned char *)buf_after_pre, len,
			  LWS_WRITE_TEXT);

	if (m < (int)len) {
		lwsl_warn("ws write failed: %d\n", m);
		return -1;
	}

	return 0;
}
