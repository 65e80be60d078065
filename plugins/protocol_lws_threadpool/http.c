/*
 * protocol_lws_threadpool: http requests (service thread)
 *
 * Reached through callback://lws-threadpool mounts; routed on the last
 * path segments of the URI, so any mountpoint prefix works:
 *
 *   .../status[?dump=1]		the pool's status
 *   .../metrics			the same in Prometheus's text format
 *   .../job?size=N			a job, streamed as chunked ndjson
 *   .../job/<token>, .../result?token=	an outliving job's kept state
 *
 * A job's response starts when a worker picks it up (its first SYNC); a
 * lws_sul timer gives up on it after job-deadline-ms if it is still queued
 * then.  Other answers are written whole ("oneshot").
 *
 * Works the same over HTTP/1.1 and HTTP/2, plain or TLS: the headers go out
 * through lws's header helpers in a writable of their own, each writable
 * makes at most one lws_write(), and the last one is LWS_WRITE_HTTP_FINAL
 * (END_STREAM on h2).
 */

#include "priv.h"

static void
http_oneshot_type(struct lwstp_pss *pss, int code, const char *type,
		  const char *body, int len)
{
	free(pss->resp);
	pss->resp = malloc((size_t)len + 1);
	pss->resp_len = pss->resp ? len : 0;
	if (pss->resp) {
		memcpy(pss->resp, body, (size_t)len);
		pss->resp[len] = '\0';
	}
	pss->resp_code = pss->resp ? code : HTTP_STATUS_INTERNAL_SERVER_ERROR;
	pss->resp_type = type;
	pss->phase = HP_ONESHOT;
	lws_callback_on_writable(pss->wsi);
}

static void
http_oneshot(struct lwstp_pss *pss, int code, const char *body, int len)
{
	http_oneshot_type(pss, code, "application/json", body, len);
}

static void
http_error(struct lwstp_pss *pss, int code, const char *ecode,
	   const char *text)
{
	char b[REPLY_MAX];
	int n = lwstp_plugin_fmt_error(b, sizeof(b), ecode, text, 0);

	http_oneshot(pss, code, b, n);
}

/* an h2 stream is a child of the network connection's wsi */
static int
http_is_h2(struct lws *wsi)
{
	return lws_get_network_wsi(wsi) != wsi;
}

/*
 * The status line and headers, in one write of their own: lws's helpers
 * encode them for the connection (HPACK on h2) and
 * lws_finalize_write_http_header() sends them as LWS_WRITE_HTTP_HEADERS.
 * len is the body's length, or LWS_ILLEGAL_HTTP_CONTENT_LEN for a stream:
 * on h1 that is chunked (lws frames chunks only for its compression
 * transform, lib/roles/h1/ops-h1.c, so we do), on h2 the stream's DATA
 * frames end with END_STREAM and carry no framing of ours.
 */
static int
http_write_headers(struct lwstp_pss *pss, int code, const char *type,
		   lws_filepos_t len)
{
	unsigned char buf[LWS_PRE + 512], *start = buf + LWS_PRE, *p = start,
		      *end = buf + sizeof(buf) - 1;
	struct lws *wsi = pss->wsi;

	if (lws_add_http_header_status(wsi, (unsigned int)code, &p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
				(const unsigned char *)type, (int)strlen(type),
				&p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
				(const unsigned char *)"no-store", 8, &p, end))
		return -1;
	if (len != LWS_ILLEGAL_HTTP_CONTENT_LEN) {
		if (lws_add_http_header_content_length(wsi, len, &p, end))
			return -1;
	} else if (!http_is_h2(wsi) &&
		   lws_add_http_header_by_token(wsi,
				WSI_TOKEN_HTTP_TRANSFER_ENCODING,
				(const unsigned char *)"chunked", 7, &p, end))
		return -1;

	return lws_finalize_write_http_header(wsi, start, &p, end) ? -1 : 0;
}

/*
 * The response was written: end the transaction.  lws_issue_raw() sends at
 * most the protocol's rx_buffer_size (or pt_serv_buf_size) + LWS_PRE + 4
 * bytes at a time and keeps the rest on the connection's buflist_out.  On
 * h1, lws_http_transaction_completed() sees that and defers itself until
 * the buflist is flushed (4.1.6 and 4.3 lib/roles/http/server/server.c),
 * so it must be called at once: a keep-alive client's next request may
 * arrive before any writable of ours, and lws would parse it into a
 * transaction it thinks is still open (the connection then hangs until
 * lws's timeout: seen with h2load after a few /metrics).  On h2 the
 * buflist is the network connection's, which that check does not see, and
 * an h2 stream ended while its last bytes wait there loses them (seen on
 * 4.1.6: a 16000-byte final write reached curl as 4107): wait for it.
 */
static int
http_finish(struct lwstp_pss *pss)
{
	if (http_is_h2(pss->wsi) && lws_send_pipe_choked(pss->wsi)) {
		pss->phase = HP_FLUSH;
		lws_callback_on_writable(pss->wsi);
		return 0;
	}
	pss->phase = HP_DONE;

	return lws_http_transaction_completed(pss->wsi) ? -1 : 0;
}

/*
 * HP_ONESHOT: the headers, then the body in pieces, one a writable: an h2
 * DATA frame may not exceed the peer's SETTINGS_MAX_FRAME_SIZE (16384 at
 * least) nor its send window (lws_get_peer_write_allowance()), and lws
 * 4.1.6 and 4.3 write whatever they are given as one frame; 4096 is also
 * what lws sends on the socket at once by default.
 */
#define HTTP_PIECE	LWSTP_PLUGIN_TX_PACKET

static int
http_write_oneshot(struct lwstp_pss *pss)
{
	unsigned char buf[LWS_PRE + HTTP_PIECE];
	lws_fileofs_t allow;
	int n, last;

	if (pss->phase == HP_ONESHOT) {
		if (http_write_headers(pss, pss->resp_code, pss->resp_type,
				       (lws_filepos_t)pss->resp_len))
			return -1;
		pss->resp_sent = 0;
		pss->phase = HP_ONESHOT_BODY;
		lws_callback_on_writable(pss->wsi);
		return 0;
	}

	n = pss->resp_len - pss->resp_sent;
	if (n > HTTP_PIECE)
		n = HTTP_PIECE;
	allow = lws_get_peer_write_allowance(pss->wsi);
	if (allow >= 0 && allow < n)
		n = (int)allow;
	if (!n) {	/* no send window: lws calls back when there is */
		lws_callback_on_writable(pss->wsi);
		return 0;
	}
	last = pss->resp_sent + n == pss->resp_len;
	memcpy(buf + LWS_PRE, pss->resp + pss->resp_sent, (size_t)n);
	if (lws_write(pss->wsi, buf + LWS_PRE, (size_t)n, last ?
		      LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != n)
		return -1;
	pss->resp_sent += n;
	if (!last) {
		lws_callback_on_writable(pss->wsi);
		return 0;
	}

	free(pss->resp);
	pss->resp = NULL;

	return http_finish(pss);
}

/*
 * lws gives an http request timeout_secs (5 s by default) to be answered;
 * a job may take longer.  Instead, allow it ms (plus a margin) until the
 * next thing we write: a dead client, whose socket stays choked, is
 * dropped once its job stopped in SYNC (sync-timeout-ms) and the end
 * could not be written either.
 */
static void
http_arm_timeout(struct lwstp_pss *pss, unsigned int ms)
{
	lws_set_timeout(pss->wsi, PENDING_TIMEOUT_THREADPOOL_TASK,
			(int)(ms / 1000) + 5);
}

/* one ndjson line of the job's stream; last: the end of the response */
static int
http_write_line(struct lwstp_pss *pss, const char *line, int len, int last)
{
	unsigned char buf[LWS_PRE + REPLY_MAX + 32], *start = buf + LWS_PRE;
	int n;

	if (http_is_h2(pss->wsi))
		n = lws_snprintf((char *)start, sizeof(buf) - LWS_PRE,
				 "%.*s\n", len, line);
	else	/* one chunk: the line and its newline (and the last chunk) */
		n = lws_snprintf((char *)start, sizeof(buf) - LWS_PRE,
				 "%x\r\n%.*s\n\r\n%s", len + 1, len, line,
				 last ? "0\r\n\r\n" : "");

	return lws_write(pss->wsi, start, (size_t)n, last ?
			 LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != n;
}

int
lwstp_plugin_http_writeable(struct lwstp_pss *pss)
{
	char line[REPLY_MAX];
	enum lws_threadpool_task_status s;
	void *user;
	int len;

	if (pss->phase == HP_ONESHOT || pss->phase == HP_ONESHOT_BODY)
		return http_write_oneshot(pss);
	if (pss->phase == HP_FLUSH)
		return http_finish(pss);

	if ((pss->phase != HP_WAIT && pss->phase != HP_STREAM) || !pss->task)
		return 0;

	if (lws_send_pipe_choked(pss->wsi)) {
		lws_callback_on_writable(pss->wsi);
		return 0;
	}

	s = lws_threadpool_task_status_noreap(pss->task);
	switch (s) {
	case LWS_TP_STATUS_SYNCING:
		if (atomic_load(&pss->job->stop_req)) {
			lws_threadpool_task_sync(pss->task, 1);
			return 0;
		}
		lws_sul_cancel(&pss->sul);	/* it started: no deadline */
		if (pss->phase == HP_WAIT) {
			/* the headers take this writable; the line the next */
			if (http_write_headers(pss, HTTP_STATUS_OK,
					       "application/x-ndjson",
					       LWS_ILLEGAL_HTTP_CONTENT_LEN)) {
				lws_threadpool_task_sync(pss->task, 1);
				return -1;
			}
			pss->phase = HP_STREAM;
			lws_callback_on_writable(pss->wsi);
			return 0;
		}
		len = lwstp_plugin_fmt_job_out(line, sizeof(line), pss->job,
					       pss->task, s);
		if (http_write_line(pss, line, len, 0)) {
			lws_threadpool_task_sync(pss->task, 1);
			return -1;
		}
		lws_threadpool_task_sync(pss->task, 0);
		http_arm_timeout(pss, pss->vhd->opts.sync_timeout_ms +
				      pss->vhd->opts.progress_interval_ms);
		return 0;

	case LWS_TP_STATUS_FINISHED:
	case LWS_TP_STATUS_STOPPED:
		len = lwstp_plugin_fmt_job_out(line, sizeof(line), pss->job,
					       pss->task, s);
		lws_threadpool_task_status(pss->task, &user);	/* reap */
		pss->task = NULL;
		pss->job = NULL;
		lws_sul_cancel(&pss->sul);
		if (pss->phase == HP_WAIT) {
			/* it never started: the pool is going away */
			http_error(pss, HTTP_STATUS_SERVICE_UNAVAILABLE,
				   "shutting-down", "the job was stopped "
				   "before it started");
			return 0;
		}
		if (http_write_line(pss, line, len, 1))
			return -1;
		return http_finish(pss);

	default:
		return 0;
	}
}

/* job-deadline-ms passed: if no worker took the job yet, give up on it */
static void
http_deadline_cb(lws_sorted_usec_list_t *sul)
{
	struct lwstp_pss *pss = lws_container_of(sul, struct lwstp_pss, sul);
	char text[128];

	if (pss->phase != HP_WAIT || !pss->task ||
	    lws_threadpool_task_status_noreap(pss->task) !=
						LWS_TP_STATUS_QUEUED)
		return;		/* it started: the response is coming */

	atomic_store(&pss->job->stop_req, 1);
	lws_threadpool_dequeue_task(pss->task);
	pss->task = NULL;
	pss->job = NULL;

	lws_snprintf(text, sizeof(text), "no worker was free within "
		     "job-deadline-ms (%u ms)", pss->vhd->opts.job_deadline_ms);
	http_error(pss, HTTP_STATUS_SERVICE_UNAVAILABLE, "deadline", text);
}

/* the value of the one "name=" url argument; NULL if absent or repeated */
static const char *
urlarg_once(struct lws *wsi, const char *name, char *buf, int len)
{
	int n, fl, nl = (int)strlen(name), seen = 0;
	const char *v = NULL;
	char frag[256];

	for (n = 0; (fl = lws_hdr_fragment_length(wsi,
					WSI_TOKEN_HTTP_URI_ARGS, n)) > 0; n++)
		if (fl < (int)sizeof(frag) &&
		    lws_hdr_copy_fragment(wsi, frag, sizeof(frag),
					  WSI_TOKEN_HTTP_URI_ARGS, n) >= 0 &&
		    !strncmp(frag, name, (size_t)nl))
			seen++;
	if (seen == 1)
		v = lws_get_urlarg_by_name(wsi, name, buf, len);

	return v;
}

/* a decimal integer 1..max, nothing else */
static int
parse_size(const char *s, uint64_t max, uint64_t *v)
{
	uint64_t x = 0;

	if (!s || *s < '1' || *s > '9')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || x > max / 10)
			return -1;
		x = x * 10 + (uint64_t)(*s - '0');
	}
	if (x > max)
		return -1;
	*v = x;

	return 0;
}

static void
http_job(struct lwstp_pss *pss)
{
	struct lwstp_pvh *vhd = pss->vhd;
	char arg[32], err[160];
	const char *code;
	uint64_t size;

	if (parse_size(urlarg_once(pss->wsi, "size=", arg, sizeof(arg)),
		       vhd->opts.max_job_size, &size)) {
		lws_snprintf(err, sizeof(err), "size must be an integer in "
			     "1..%llu",
			     (unsigned long long)vhd->opts.max_job_size);
		http_error(pss, HTTP_STATUS_BAD_REQUEST, "bad-message", err);
		return;
	}

	code = lwstp_plugin_job_start(vhd, pss->wsi, size, 0, 1, &pss->task,
				      &pss->job, err, sizeof(err));
	if (code) {
		http_error(pss, !strcmp(code, "internal") ?
				HTTP_STATUS_INTERNAL_SERVER_ERROR :
				HTTP_STATUS_SERVICE_UNAVAILABLE, code, err);
		return;
	}

	/* nothing is sent until a worker picks it up, or the deadline */
	pss->phase = HP_WAIT;
	http_arm_timeout(pss, vhd->opts.job_deadline_ms +
			      vhd->opts.sync_timeout_ms);
	lws_sul_schedule(vhd->cx, 0, &pss->sul, http_deadline_cb,
			 (lws_usec_t)vhd->opts.job_deadline_ms *
				LWS_US_PER_MS);
}

static int
token_ok(const char *s, char *token)
{
	int n;

	for (n = 0; n < LWSTP_TOKEN_LEN; n++) {
		char c = s[n];

		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return 0;
		token[n] = c;
	}
	token[n] = '\0';

	return !s[n];
}

static void
http_token(struct lwstp_pss *pss, const char *t)
{
	char token[LWSTP_TOKEN_LEN + 1], b[REPLY_MAX];
	struct lwstp_kept_snap snap;
	struct lwstp_kept *rec;
	int n;

	if (!t || !token_ok(t, token)) {
		http_error(pss, HTTP_STATUS_BAD_REQUEST, "bad-message",
			   "a token is 32 hex digits");
		return;
	}
	rec = lwstp_kept_find(&pss->vhd->kt, token);
	if (!rec) {
		http_error(pss, HTTP_STATUS_NOT_FOUND, "unknown-token",
			   "unknown or expired token");
		return;
	}
	lwstp_kept_snapshot(&pss->vhd->kt, rec, &snap);

	n = lws_snprintf(b, sizeof(b), "{\"id\":%llu,\"token\":\"%s\","
			 "\"state\":\"%s\",\"done\":%llu,\"total\":%llu",
			 (unsigned long long)rec->id, rec->token,
			 snap.state == LWSTP_KEPT_RUNNING ? "running" :
			 snap.state == LWSTP_KEPT_FINISHED ? "finished" :
							     "stopped",
			 (unsigned long long)snap.done,
			 (unsigned long long)rec->total);
	if (snap.state == LWSTP_KEPT_FINISHED)
		n += lws_snprintf(b + n, sizeof(b) - (size_t)n,
				  ",\"sha256\":\"%s\",\"ms\":%u", snap.sha256,
				  snap.ms);
	n += lws_snprintf(b + n, sizeof(b) - (size_t)n, "}");

	http_oneshot(pss, HTTP_STATUS_OK, b, n);
}

static int
fmt_hist(char *b, size_t l, const char *name, const uint64_t *h)
{
	int n, k;

	n = lws_snprintf(b, l, "\"%s\":{\"p50\":%llu,\"p90\":%llu,"
			 "\"p99\":%llu,\"hist\":[", name,
			 (unsigned long long)lwstp_hist_percentile(h, 50),
			 (unsigned long long)lwstp_hist_percentile(h, 90),
			 (unsigned long long)lwstp_hist_percentile(h, 99));
	for (k = 0; k < LWSTP_HIST_BUCKETS; k++)
		n += lws_snprintf(b + n, l - (size_t)n, "%s%llu", k ? "," : "",
				  (unsigned long long)h[k]);

	return n + lws_snprintf(b + n, l - (size_t)n, "]}");
}

static void
http_status(struct lwstp_pss *pss)
{
	struct lwstp_pvh *vhd = pss->vhd;
	size_t l = 8192;
	char *b = malloc(l), arg[16];
	struct lwstp_stats st;
	const char *dump;
	int n;

	if (!b || lwstp_get_stats(vhd->tp, &st)) {
		free(b);
		http_error(pss, HTTP_STATUS_INTERNAL_SERVER_ERROR, "internal",
			   "no stats");
		return;
	}

	dump = lws_get_urlarg_by_name(pss->wsi, "dump=", arg, sizeof(arg));
	if (dump && !strcmp(dump, "1"))
		lws_threadpool_dump(vhd->tp);

	n = lws_snprintf(b, l, "{\"vhost\":\"%s\",\"threads\":%d,\"idle\":%d,"
		"\"running\":%d,\"syncing\":%d,\"queued\":%d,"
		"\"done_waiting\":%d,\"totals\":{\"enqueued\":%llu,"
		"\"finished\":%llu,\"stopped\":%llu,\"rejected_full\":%llu,"
		"\"rejected_shutdown\":%llu,\"syncs\":%llu,"
		"\"sync_timeouts\":%llu,\"detached\":%llu,\"reaped\":%llu},"
		"\"latency_us\":{", lws_get_vhost_name(vhd->vh), st.threads,
		st.idle, st.running, st.syncing, st.queued, st.done_waiting,
		(unsigned long long)st.enqueued,
		(unsigned long long)st.finished,
		(unsigned long long)st.stopped,
		(unsigned long long)st.rejected_full,
		(unsigned long long)st.rejected_shutdown,
		(unsigned long long)st.syncs,
		(unsigned long long)st.sync_timeouts,
		(unsigned long long)st.detached,
		(unsigned long long)st.reaped);
	n += fmt_hist(b + n, l - (size_t)n, "queue_wait", st.queue_wait_us);
	n += lws_snprintf(b + n, l - (size_t)n, ",");
	n += fmt_hist(b + n, l - (size_t)n, "run", st.run_us);
	n += lws_snprintf(b + n, l - (size_t)n, ",");
	n += fmt_hist(b + n, l - (size_t)n, "sync_wait", st.sync_wait_us);
	n += lws_snprintf(b + n, l - (size_t)n, "},\"kept_results\":%d,"
			  "\"max_results\":%d,\"config\":{",
			  lwstp_kept_count(&vhd->kt), vhd->opts.max_results);
	n += lwstp_plugin_opts_json(&vhd->opts, b + n, l - (size_t)n);
	n += lws_snprintf(b + n, l - (size_t)n, "}}");

	http_oneshot(pss, HTTP_STATUS_OK, b, n);
	free(b);
}

static void
http_metrics(struct lwstp_pss *pss)
{
	size_t l = 32768;
	char *b = malloc(l);
	int n = b ? lwstp_plugin_metrics(pss->vhd, b, l) : -1;

	if (n < 0)
		http_error(pss, HTTP_STATUS_INTERNAL_SERVER_ERROR, "internal",
			   "no metrics");
	else
		http_oneshot_type(pss, HTTP_STATUS_OK,
				  "text/plain; version=0.0.4; charset=utf-8",
				  b, n);
	free(b);
}

/* route on the last path segments, so any mountpoint prefix works */
int
lwstp_plugin_http_request(struct lwstp_pss *pss)
{
	char uri[128], arg[48];
	const char *last, *prev = NULL;
	size_t len;

	if (lws_hdr_copy(pss->wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0) {
		http_error(pss, HTTP_STATUS_METHOD_NOT_ALLOWED, "bad-message",
			   "only GET is served here");
		return 0;
	}
	len = strlen(uri);
	while (len > 1 && uri[len - 1] == '/')
		uri[--len] = '\0';
	last = strrchr(uri, '/');
	last = last ? last + 1 : uri;
	if (last > uri + 1) {
		/* the segment before the last one */
		for (prev = last - 2; prev > uri && *prev != '/'; prev--)
			;
		prev++;
	}

	if (!strcmp(last, "status"))
		http_status(pss);
	else if (!strcmp(last, "metrics"))
		http_metrics(pss);
	else if (!strcmp(last, "job"))
		http_job(pss);
	else if (prev && !strncmp(prev, "job/", 4))
		http_token(pss, last);
	else if (!strcmp(last, "result"))
		http_token(pss, urlarg_once(pss->wsi, "token=", arg,
					    sizeof(arg)));
	else
		http_error(pss, HTTP_STATUS_NOT_FOUND, "bad-message",
			   "not found");

	return 0;
}

/* the request is over or the connection going: the job stops */
void
lwstp_plugin_http_forget(struct lwstp_pss *pss, int pool_alive)
{
	if (pss->task && pool_alive) {
		atomic_store(&pss->job->stop_req, 1);
		lws_threadpool_dequeue_task(pss->task);
	}
	pss->task = NULL;
	pss->job = NULL;
	lws_sul_cancel(&pss->sul);
	free(pss->resp);
	pss->resp = NULL;
	pss->phase = HP_IDLE;
}
