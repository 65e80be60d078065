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
 * Threads
 * -------
 * Everything here runs on the lws service thread except job_task() (on a
 * pool worker) and job_cleanup() (on the service thread when the task is
 * reaped or dequeued, or on a worker with wsi == NULL when a task that lost
 * its connection ends).  So:
 *
 *  - struct lwstp_job belongs to its task: created here, handed to the pool
 *    at enqueue, freed only by job_cleanup().  The connection keeps the
 *    task handle and the job pointer only while the task is bound to it
 *    (until it reaps or dequeues it, or the connection closes), which is
 *    exactly when the library guarantees the task and job are alive.
 *  - job->out is written by the worker before it returns SYNC or ends, and
 *    read here only when lws_threadpool_task_status_noreap() says SYNCING,
 *    FINISHED or STOPPED: the pool's lock, taken by both sides, orders the
 *    accesses.  job->stop_req is an atomic the service thread sets.
 *  - The token table (kept.c) is only changed on the service thread; the job
 *    publishes into its record under the table's leaf lock (see kept.h),
 *    and job_cleanup() drops the job's reference to the record under that
 *    lock too; it touches nothing else shared and calls no lws API except
 *    lws_cancel_service(), which is thread-safe.
 *  - The per-vhost data outlives every job: PROTOCOL_DESTROY destroys the
 *    pool (joining the workers, running every remaining cleanup) before
 *    lws frees it.
 */

#include <lwstp.h>

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "kept.h"
#include "msg.h"
#include "opts.h"

#define LWSTP_PLUGIN_PROTOCOL	"lws-threadpool"
#define JOB_MAGIC		0x6c74706au	/* "ltpj" */
#define REPLY_MAX		400	/* longest server -> client message */
#define REPLY_RING		8	/* replies waiting to be written */
#define CLOSE_MESSAGE_TOO_BIG	1009
#define CLOSE_POLICY		1008

/*
 * Process-wide counters, for tests and logs.  Cleanups run on workers too,
 * hence atomics.
 */
struct lwstp_plugin_counters {
	atomic_ullong		jobs_enqueued;	/* tasks the pool accepted */
	atomic_ullong		jobs_cleaned;	/* job_cleanup() calls */
	atomic_ullong		jobs_cleaned_detached; /* ... with wsi NULL */
	atomic_ullong		jobs_finished;	/* digests computed */
	atomic_ullong		bad_cleanups;	/* cleanup of a bad user */
};

static struct lwstp_plugin_counters lwstp_plugin_ctr;

/* one per vhost */
struct lwstp_pvh {
	struct lws_context	*cx;
	struct lws_vhost	*vh;
	struct lws_threadpool	*tp;
	struct lwstp_plugin_opts opts;
	struct lwstp_kept_table	kt;
	lws_dll2_owner_t	conns;	/* struct lwstp_pss (service thread) */
	uint64_t		next_id; /* (service thread) */
	char			inited;
};

enum out_kind {
	OUT_NONE,
	OUT_STARTED,		/* http: a worker picked the job up */
	OUT_PROGRESS,
	OUT_RESULT,
	OUT_STOPPED,
};

/* what the worker hands the service thread at a SYNC or at the end */
struct lwstp_job_out {
	uint8_t			kind;	/* enum out_kind */
	uint64_t		done;
	unsigned int		ms;
	char			sha256[65];
};

struct lwstp_job {
	uint32_t		magic;		/* JOB_MAGIC while alive */
	struct lwstp_pvh	*vhd;		/* const */
	struct lwstp_kept	*rec;		/* const: outliving jobs; the
						 * job's reference */
	uint64_t		id;		/* const */
	uint64_t		size;		/* const */
	lws_usec_t		interval_us;	/* const: progress-interval */
	uint8_t			http;		/* const: SYNC once at start */
	atomic_int		stop_req;	/* set on the service thread */

	/* the worker's, while it runs the task */
	struct lwstp_calc	calc;
	uint64_t		reported;
	lws_usec_t		t_start;
	lws_usec_t		t_reported;
	uint8_t			started;

	/* the handoff: see "Threads" above */
	struct lwstp_job_out	out;
};

/* a job started on this connection (while its task is bound to it) */
struct lwstp_slot {
	struct lws_threadpool_task *task;
	struct lwstp_job	*job;
	uint64_t		id;
};

/* an outliving job this connection watches, after an attach */
struct lwstp_watch {
	lws_dll2_t		link;	/* rec->watchers */
	struct lwstp_kept	*rec;	/* NULL once evicted */
	struct lws		*wsi;
	uint32_t		sent_version;
	uint8_t			stage;	/* 0: send attached, 1: progress */
	uint8_t			gone;	/* evicted: say so, then drop */
	uint8_t			used;
};

struct lwstp_reply {
	uint16_t		len;
	char			buf[LWS_PRE + REPLY_MAX];
};

enum pss_kind {
	PSS_NONE,
	PSS_WS,
	PSS_HTTP,
};

enum http_phase {
	HP_IDLE,
	HP_WAIT,		/* job queued, no response yet, deadline on */
	HP_STREAM,		/* response started, job streaming */
	HP_ONESHOT,		/* a complete response waits in resp */
	HP_DONE,
};

struct lwstp_pss {
	lws_dll2_t		conn_link;	/* vhd->conns */
	struct lwstp_pvh	*vhd;
	struct lws		*wsi;
	uint8_t			kind;		/* enum pss_kind */

	/* ws */
	struct lwstp_slot	slots[LWSTP_PLUGIN_MAX_TASKS_PER_CONN];
	struct lwstp_watch	watches[LWSTP_PLUGIN_MAX_TASKS_PER_CONN];
	int			nslots;		/* slots[0 .. nslots-1] used */
	int			nwatches;
	int			rr;		/* slot to serve first */
	struct lwstp_reply	ring[REPLY_RING];
	uint8_t			ring_head;
	uint8_t			ring_count;
	uint8_t			rx_flow_off;
	uint8_t			rx_inmsg;	/* between a message's first
						 * and final fragment */
	uint8_t			rx_skip;	/* rest of an oversize msg */
	uint8_t			rx_binary;
	uint16_t		close_status;	/* close once ring drained */
	size_t			rx_len;
	char			rx[LWSTP_MSG_MAX];

	/* http */
	lws_sorted_usec_list_t	sul;		/* job-deadline-ms */
	struct lws_threadpool_task *task;
	struct lwstp_job	*job;
	char			*resp;		/* HP_ONESHOT body */
	int			resp_len;
	int			resp_code;
	uint8_t			phase;		/* enum http_phase */
};

/* --- messages ------------------------------------------------------------ */

static int
fmt_token(char *b, size_t l, const char *token)
{
	return token ? lws_snprintf(b, l, ",\"token\":\"%s\"", token) : 0;
}

static int
fmt_started(char *b, size_t l, uint64_t id, uint64_t size, const char *token)
{
	return lws_snprintf(b, l, "{\"type\":\"started\",\"id\":%llu,"
			    "\"size\":%llu,\"token\":%s%s%s}",
			    (unsigned long long)id, (unsigned long long)size,
			    token ? "\"" : "", token ? token : "null",
			    token ? "\"" : "");
}

static int
fmt_progress(char *b, size_t l, uint64_t id, uint64_t done, uint64_t total,
	     const char *token)
{
	int n = lws_snprintf(b, l, "{\"type\":\"progress\",\"id\":%llu,"
			     "\"done\":%llu,\"total\":%llu",
			     (unsigned long long)id, (unsigned long long)done,
			     (unsigned long long)total);

	n += fmt_token(b + n, l - (size_t)n, token);

	return n + lws_snprintf(b + n, l - (size_t)n, "}");
}

static int
fmt_result(char *b, size_t l, uint64_t id, const char *sha, unsigned int ms,
	   const char *token)
{
	int n = lws_snprintf(b, l, "{\"type\":\"result\",\"id\":%llu,"
			     "\"sha256\":\"%s\",\"ms\":%u",
			     (unsigned long long)id, sha, ms);

	n += fmt_token(b + n, l - (size_t)n, token);

	return n + lws_snprintf(b + n, l - (size_t)n, "}");
}

static int
fmt_stopped(char *b, size_t l, uint64_t id, int requested, const char *token)
{
	int n = lws_snprintf(b, l, "{\"type\":\"stopped\",\"id\":%llu,"
			     "\"reason\":\"%s\"", (unsigned long long)id,
			     requested ? "requested" : "server");

	n += fmt_token(b + n, l - (size_t)n, token);

	return n + lws_snprintf(b + n, l - (size_t)n, "}");
}

/* id 0: the error is not about a job */
static int
fmt_error(char *b, size_t l, const char *code, const char *text, uint64_t id)
{
	char esc[256];
	int n;

	lws_json_purify(esc, text, (int)sizeof(esc), NULL);
	n = lws_snprintf(b, l, "{\"type\":\"error\",\"code\":\"%s\","
			 "\"error\":\"%s\"", code, esc);
	if (id)
		n += lws_snprintf(b + n, l - (size_t)n, ",\"id\":%llu",
				  (unsigned long long)id);

	return n + lws_snprintf(b + n, l - (size_t)n, "}");
}

/* the message for a job's SYNC or end, from what the worker handed over */
static int
fmt_job_out(char *b, size_t l, const struct lwstp_job *job,
	    enum lws_threadpool_task_status s)
{
	switch (s) {
	case LWS_TP_STATUS_SYNCING:
		if (job->out.kind == OUT_STARTED)
			return fmt_started(b, l, job->id, job->size, NULL);
		return fmt_progress(b, l, job->id, job->out.done, job->size,
				    NULL);
	case LWS_TP_STATUS_FINISHED:
		if (job->out.kind == OUT_RESULT)
			return fmt_result(b, l, job->id, job->out.sha256,
					  job->out.ms, NULL);
		/* fallthru */
	default:
		return fmt_stopped(b, l, job->id,
				   atomic_load(&job->stop_req), NULL);
	}
}

/* --- the job: runs on a pool worker -------------------------------------- */

static enum lws_threadpool_task_return
job_stopped(struct lwstp_job *job)
{
	job->out.kind = OUT_STOPPED;
	job->out.done = job->calc.pos;
	lwstp_calc_free(&job->calc);
	if (job->rec)
		lwstp_kept_publish(&job->vhd->kt, job->rec, job->calc.pos,
				   LWSTP_KEPT_STOPPED, NULL, 0);

	return LWS_TP_RETURN_STOPPED;
}

static enum lws_threadpool_task_return
job_step(struct lwstp_job *job)
{
	lws_usec_t now;
	int r;

	if (!job->started) {
		if (lwstp_calc_init(&job->calc, job->size)) {
			lwsl_err("lws-threadpool: job %llu: no SHA-256\n",
				 (unsigned long long)job->id);
			return job_stopped(job);
		}
		job->started = 1;
		job->t_start = job->t_reported = lws_now_usecs();
		if (job->http) {
			/* the response can start: say so */
			job->out.kind = OUT_STARTED;
			job->out.done = 0;
			return LWS_TP_RETURN_SYNC;
		}
	}

	r = lwstp_calc_step(&job->calc);
	if (r < 0) {
		lwsl_err("lws-threadpool: job %llu: SHA-256 failed\n",
			 (unsigned long long)job->id);
		return job_stopped(job);
	}
	now = lws_now_usecs();

	if (r) {
		job->out.ms = (unsigned int)((now - job->t_start) /
					     LWS_US_PER_MS);
		job->out.done = job->size;
		if (lwstp_calc_final(&job->calc, job->out.sha256)) {
			lwsl_err("lws-threadpool: job %llu: SHA-256 final "
				 "failed\n", (unsigned long long)job->id);
			return job_stopped(job);
		}
		job->out.kind = OUT_RESULT;
		atomic_fetch_add(&lwstp_plugin_ctr.jobs_finished, 1);
		if (job->rec)
			lwstp_kept_publish(&job->vhd->kt, job->rec, job->size,
					   LWSTP_KEPT_FINISHED,
					   job->out.sha256, job->out.ms);

		return LWS_TP_RETURN_FINISHED;
	}

	/* progress: 1% more than last time, and not too often */
	if ((job->calc.pos - job->reported) * 100 >= job->size &&
	    now - job->t_reported >= job->interval_us) {
		job->reported = job->calc.pos;
		job->t_reported = now;
		job->out.kind = OUT_PROGRESS;
		job->out.done = job->calc.pos;
		if (job->rec)
			lwstp_kept_publish(&job->vhd->kt, job->rec,
					   job->calc.pos, LWSTP_KEPT_RUNNING,
					   NULL, 0);

		return LWS_TP_RETURN_SYNC;
	}

	return LWS_TP_RETURN_CHECKING_IN;
}

static enum lws_threadpool_task_return
job_task(void *user, enum lws_threadpool_task_status s)
{
	struct lwstp_job *job = (struct lwstp_job *)user;
	int flags = job->rec ? LWS_TP_RETURN_FLAG_OUTLIVE : 0;

	if (s == LWS_TP_STATUS_STOPPING || atomic_load(&job->stop_req))
		return (enum lws_threadpool_task_return)
				(job_stopped(job) | flags);

	return (enum lws_threadpool_task_return)(job_step(job) | flags);
}

/*
 * The task's cleanup: exactly once per accepted job, on the service thread
 * (wsi set) or on a worker (wsi NULL).  Only the kept record (under its
 * table's lock) and the job itself are touched.
 */
static void
job_cleanup(struct lws *wsi, void *user)
{
	struct lwstp_job *job = (struct lwstp_job *)user;

	if (!job || job->magic != JOB_MAGIC) {
		lwsl_err("lws-threadpool: cleanup of a bad job %p\n", user);
		atomic_fetch_add(&lwstp_plugin_ctr.bad_cleanups, 1);
		return;
	}

	lwstp_calc_free(&job->calc);
	if (job->rec) {
		/* never ran, or was stopped before its function saw it */
		lwstp_kept_publish(&job->vhd->kt, job->rec, job->calc.pos,
				   LWSTP_KEPT_STOPPED, NULL, 0);
		lwstp_kept_unref(&job->vhd->kt, job->rec);
	}
	if (!wsi)
		atomic_fetch_add(&lwstp_plugin_ctr.jobs_cleaned_detached, 1);

	job->magic = 0;
	free(job);
	atomic_fetch_add(&lwstp_plugin_ctr.jobs_cleaned, 1);
}

/*
 * Create and queue a job for wsi.  Returns 0 with *ptask / *pjob set, or
 * an error code string (and a text in err) with nothing left behind.
 */
static const char *
job_start(struct lwstp_pvh *vhd, struct lws *wsi, uint64_t size, int outlive,
	  int http, struct lws_threadpool_task **ptask,
	  struct lwstp_job **pjob, char *err, size_t errlen)
{
	struct lws_threadpool_task_args args;
	struct lwstp_job *job;
	const char *why = NULL;
	int r;

	job = calloc(1, sizeof(*job));
	if (!job) {
		lws_snprintf(err, errlen, "out of memory");
		return "internal";
	}
	job->magic = JOB_MAGIC;
	job->vhd = vhd;
	job->id = ++vhd->next_id;
	job->size = size;
	job->http = (uint8_t)http;
	job->interval_us = (lws_usec_t)vhd->opts.progress_interval_ms *
			   LWS_US_PER_MS;
	atomic_init(&job->stop_req, 0);

	if (outlive) {
		job->rec = lwstp_kept_new(&vhd->kt, job->id, size, &why);
		if (!job->rec) {
			lws_snprintf(err, errlen, "%s", !strcmp(why,
				     "results-full") ? "every kept result "
				     "belongs to a running job (max-results)" :
				     "no token");
			free(job);
			return why;
		}
	}

	memset(&args, 0, sizeof(args));
	args.wsi = wsi;
	args.user = job;
	args.task = job_task;
	args.cleanup = job_cleanup;
	args.async_task = (char)!!outlive;

	r = lwstp_enqueue(vhd->tp, &args, ptask, "job %llu",
			  (unsigned long long)job->id);
	if (r) {
		/* not queued: the job is still ours */
		if (job->rec)
			lwstp_kept_abandon(&vhd->kt, job->rec);
		job->magic = 0;
		free(job);
		lws_snprintf(err, errlen, "%s", lwstp_strerror(r));

		return r == LWSTP_E_QUEUE_FULL ? "queue-full" :
		       r == LWSTP_E_SHUTTING_DOWN ? "shutting-down" :
						    "internal";
	}
	atomic_fetch_add(&lwstp_plugin_ctr.jobs_enqueued, 1);
	*pjob = job;

	return NULL;
}

/*
 * Ask a job bound to this connection to stop.  Returns 1 if it ended (or
 * left the connection) now, so the caller forgets it; 0 if its end will
 * come through a writable callback.
 */
static int
job_stop(struct lws_threadpool_task *task, struct lwstp_job *job)
{
	atomic_store(&job->stop_req, 1);

	switch (lws_threadpool_task_status_noreap(task)) {
	case LWS_TP_STATUS_QUEUED:
		/* ends now (cleanup runs), or, if a worker just took it,
		 * leaves the connection and sees stop_req */
		lws_threadpool_dequeue_task(task);
		return 1;
	case LWS_TP_STATUS_SYNCING:
		lws_threadpool_task_sync(task, 1);
		return 0;
	default:
		/* RUNNING: sees stop_req at its next chunk; STOPPING or
		 * ended: on its way */
		return 0;
	}
}

/* --- ws connections ------------------------------------------------------- */

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
	r->len = (uint16_t)fmt_error(r->buf + LWS_PRE, REPLY_MAX, code, text,
				     id);
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

	code = job_start(vhd, pss->wsi, m->size, m->outlive, 0, &task, &job,
			 err, sizeof(err));
	if (code) {
		reply_error(pss, code, err, 0);
		return;
	}

	pss->slots[pss->nslots].task = task;
	pss->slots[pss->nslots].job = job;
	pss->slots[pss->nslots++].id = job->id;

	r = reply_new(pss);	/* room checked above */
	r->len = (uint16_t)fmt_started(r->buf + LWS_PRE, REPLY_MAX, job->id,
				       job->size, job->rec ? job->rec->token :
							     NULL);
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
	if (!job_stop(slot->task, slot->job))
		return;		/* its end comes through SERVER_WRITEABLE */

	slot_drop(pss, slot);
	r = reply_new(pss);
	if (r)
		r->len = (uint16_t)fmt_stopped(r->buf + LWS_PRE, REPLY_MAX,
					       id, 1, NULL);
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

static void
watch_drop(struct lwstp_pss *pss, struct lwstp_watch *w)
{
	if (w->rec)
		lwstp_kept_unwatch(&pss->vhd->kt, w->rec, &w->link);
	memset(w, 0, sizeof(*w));
	pss->nwatches--;
}

/* kept.c: a watched record changed (or is gone): come and look */
static void
watch_cb(struct lwstp_kept *rec, lws_dll2_t *link, int gone, void *arg)
{
	struct lwstp_watch *w = lws_container_of(link, struct lwstp_watch,
						 link);

	if (gone) {
		w->rec = NULL;
		w->gone = 1;
	}
	lws_callback_on_writable(w->wsi);
}

static void
ws_receive(struct lwstp_pss *pss, const void *in, size_t len)
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
			len = fmt_job_out(buf + LWS_PRE, REPLY_MAX, slot->job,
					  s);
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
			len = fmt_job_out(buf + LWS_PRE, REPLY_MAX, slot->job,
					  s);
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
			len = fmt_error(p, REPLY_MAX, "unknown-token",
					"the watched result expired", 0);
			end = 1;
			break;
		}
		lwstp_kept_snapshot(&pss->vhd->kt, w->rec, &snap);

		if (!w->stage) {
			len = lws_snprintf(p, REPLY_MAX, "{\"type\":\"attached\","
					   "\"id\":%llu,\"token\":\"%s\","
					   "\"size\":%llu}",
					   (unsigned long long)w->rec->id,
					   w->rec->token,
					   (unsigned long long)w->rec->total);
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
			len = fmt_progress(p, REPLY_MAX, w->rec->id, snap.done,
					   w->rec->total, w->rec->token);
			break;
		case LWSTP_KEPT_FINISHED:
			len = fmt_result(p, REPLY_MAX, w->rec->id, snap.sha256,
					 snap.ms, w->rec->token);
			end = 1;
			break;
		default:
			len = fmt_stopped(p, REPLY_MAX, w->rec->id, 0,
					  w->rec->token);
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

static int
ws_writeable(struct lwstp_pss *pss)
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

/* the connection is going: its jobs stop (or outlive it), watches end */
static void
conn_forget(struct lwstp_pss *pss, int pool_alive)
{
	int n;

	for (n = 0; n < pss->nslots; n++) {
		if (pool_alive) {
			if (!pss->slots[n].job->rec)
				atomic_store(&pss->slots[n].job->stop_req, 1);
			lws_threadpool_dequeue_task(pss->slots[n].task);
		}
		memset(&pss->slots[n], 0, sizeof(pss->slots[n]));
	}
	pss->nslots = 0;

	for (n = 0; n < LWSTP_PLUGIN_MAX_TASKS_PER_CONN; n++)
		if (pss->watches[n].used)
			watch_drop(pss, &pss->watches[n]);

	if (pss->task) {
		if (pool_alive) {
			atomic_store(&pss->job->stop_req, 1);
			lws_threadpool_dequeue_task(pss->task);
		}
		pss->task = NULL;
		pss->job = NULL;
	}
	lws_sul_cancel(&pss->sul);
	lws_dll2_remove(&pss->conn_link);
}

/* --- http ------------------------------------------------------------------ */

static void
http_oneshot(struct lwstp_pss *pss, int code, const char *body, int len)
{
	free(pss->resp);
	pss->resp = malloc((size_t)len + 1);
	pss->resp_len = pss->resp ? len : 0;
	if (pss->resp)
		memcpy(pss->resp, body, (size_t)len + 1);
	pss->resp_code = pss->resp ? code : HTTP_STATUS_INTERNAL_SERVER_ERROR;
	pss->phase = HP_ONESHOT;
	lws_callback_on_writable(pss->wsi);
}

static void
http_error(struct lwstp_pss *pss, int code, const char *ecode,
	   const char *text)
{
	char b[REPLY_MAX];
	int n = fmt_error(b, sizeof(b), ecode, text, 0);

	http_oneshot(pss, code, b, n);
}

static int
http_write_oneshot(struct lwstp_pss *pss)
{
	size_t size = LWS_PRE + 512 + (size_t)pss->resp_len;
	unsigned char *buf = malloc(size), *start, *p, *end;
	char slen[24];
	int n, r = -1;

	if (!buf)
		return -1;
	start = p = buf + LWS_PRE;
	end = buf + size;

	n = lws_snprintf(slen, sizeof(slen), "%d", pss->resp_len);
	if (lws_add_http_header_status(pss->wsi, (unsigned int)pss->resp_code,
				       &p, end) ||
	    lws_add_http_header_by_token(pss->wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
				(unsigned char *)"application/json", 16,
				&p, end) ||
	    lws_add_http_header_by_token(pss->wsi,
				WSI_TOKEN_HTTP_CACHE_CONTROL,
				(unsigned char *)"no-store", 8, &p, end) ||
	    lws_add_http_header_by_token(pss->wsi,
				WSI_TOKEN_HTTP_CONTENT_LENGTH,
				(unsigned char *)slen, n, &p, end) ||
	    lws_finalize_http_header(pss->wsi, &p, end))
		goto out;

	memcpy(p, pss->resp, (size_t)pss->resp_len);
	p += pss->resp_len;
	n = lws_ptr_diff(p, start);
	if (lws_write(pss->wsi, start, (size_t)n, LWS_WRITE_HTTP) != n)
		goto out;

	free(pss->resp);
	pss->resp = NULL;
	pss->phase = HP_DONE;
	r = lws_http_transaction_completed(pss->wsi) ? -1 : 0;
out:
	free(buf);

	return r;
}

/* the job's first bytes: headers and the first chunk, in one write */
static int
http_write_chunk(struct lwstp_pss *pss, const char *line, int len, int last)
{
	unsigned char buf[LWS_PRE + 1024], *start = buf + LWS_PRE, *p = start,
		      *end = buf + sizeof(buf);
	int n;

	if (pss->phase == HP_WAIT) {
		if (lws_add_http_header_status(pss->wsi, HTTP_STATUS_OK, &p,
					       end) ||
		    lws_add_http_header_by_token(pss->wsi,
				WSI_TOKEN_HTTP_CONTENT_TYPE,
				(unsigned char *)"application/x-ndjson", 20,
				&p, end) ||
		    lws_add_http_header_by_token(pss->wsi,
				WSI_TOKEN_HTTP_CACHE_CONTROL,
				(unsigned char *)"no-store", 8, &p, end) ||
		    lws_add_http_header_by_token(pss->wsi,
				WSI_TOKEN_HTTP_TRANSFER_ENCODING,
				(unsigned char *)"chunked", 7, &p, end) ||
		    lws_finalize_http_header(pss->wsi, &p, end))
			return -1;
		pss->phase = HP_STREAM;
	}

	/* one chunk: the line and its newline */
	p += lws_snprintf((char *)p, (size_t)lws_ptr_diff(end, p),
			  "%x\r\n%.*s\n\r\n%s", len + 1, len, line,
			  last ? "0\r\n\r\n" : "");
	n = lws_ptr_diff(p, start);

	return lws_write(pss->wsi, start, (size_t)n, LWS_WRITE_HTTP) != n;
}

static int
http_writeable(struct lwstp_pss *pss)
{
	char line[REPLY_MAX];
	enum lws_threadpool_task_status s;
	void *user;
	int len, r;

	if (pss->phase == HP_ONESHOT)
		return http_write_oneshot(pss);

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
		len = fmt_job_out(line, sizeof(line), pss->job, s);
		if (http_write_chunk(pss, line, len, 0)) {
			lws_threadpool_task_sync(pss->task, 1);
			return -1;
		}
		lws_threadpool_task_sync(pss->task, 0);
		return 0;

	case LWS_TP_STATUS_FINISHED:
	case LWS_TP_STATUS_STOPPED:
		len = fmt_job_out(line, sizeof(line), pss->job, s);
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
		r = http_write_chunk(pss, line, len, 1);
		pss->phase = HP_DONE;
		if (r || lws_http_transaction_completed(pss->wsi))
			return -1;
		return 0;

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

	code = job_start(vhd, pss->wsi, size, 0, 1, &pss->task, &pss->job,
			 err, sizeof(err));
	if (code) {
		http_error(pss, !strcmp(code, "internal") ?
				HTTP_STATUS_INTERNAL_SERVER_ERROR :
				HTTP_STATUS_SERVICE_UNAVAILABLE, code, err);
		return;
	}

	/* nothing is sent until a worker picks it up, or the deadline */
	pss->phase = HP_WAIT;
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

/* route on the last path segments, so any mountpoint prefix works */
static int
http_request(struct lwstp_pss *pss)
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

/* --- the protocol ------------------------------------------------------------ */

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
			    vhd->opts.result_ttl_ms, watch_cb, vhd))
		return 1;

	memset(&ca, 0, sizeof(ca));
	ca.threads = vhd->opts.threads;
	ca.max_queue_depth = vhd->opts.max_queue_depth;
	ca.sync_timeout_ms = vhd->opts.sync_timeout_ms;
	ca.worker_nice = vhd->opts.worker_nice;
	vhd->tp = lwstp_create(vhd->cx, &ca, "lws-threadpool %s",
			       lws_get_vhost_name(vh));
	if (!vhd->tp) {
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
callback_lws_threadpool(struct lws *wsi, enum lws_callback_reasons reason,
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
			ws_receive(pss, in, len);
		break;

	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (pss && pss->kind == PSS_WS)
			return ws_writeable(pss);
		break;

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
		free(pss->resp);
		pss->resp = NULL;
		pss->phase = HP_IDLE;
		pss_bind(pss, vhd, wsi, PSS_HTTP);
		return http_request(pss);

	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (pss && pss->kind == PSS_HTTP)
			return http_writeable(pss);
		break;

	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (pss && pss->kind == PSS_HTTP) {
			if (pss->conn_link.owner)
				conn_forget(pss, 1);
			free(pss->resp);
			pss->resp = NULL;
			pss->phase = HP_IDLE;
		}
		break;

	default:
		break;
	}

	return 0;
}

/**
 * LWS_PLUGIN_PROTOCOL_LWS_THREADPOOL - the protocol, for a protocols array
 *
 * With LWS_PLUGIN_STATIC defined, #include this file and put this in the
 * vhost's protocols (never as protocols[0], which must be the lwstp hook).
 */
#define LWS_PLUGIN_PROTOCOL_LWS_THREADPOOL \
	{ \
		LWSTP_PLUGIN_PROTOCOL, \
		callback_lws_threadpool, \
		sizeof(struct lwstp_pss), \
		LWSTP_MSG_MAX, \
		0, NULL, 0 \
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
		"lws threadpool",
		"lws_protocol_plugin",
		LWS_PLUGIN_API_MAGIC
	},

	.protocols = lwstp_plugin_protocols,
	.count_protocols = LWS_ARRAY_SIZE(lwstp_plugin_protocols),
	.extensions = NULL,
	.count_extensions = 0,
};

#endif
