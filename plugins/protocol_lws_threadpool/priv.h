/*
 * protocol_lws_threadpool: what the protocol's files share
 *
 *   protocol_lws_threadpool.c	the lws callback, per-vhost setup, the export
 *   task.c			a job as a pool task: task function, cleanup,
 *				enqueue and stop
 *   ws.c			WebSocket connections
 *   http.c			http requests (callback:// mounts)
 *   metrics.c			/metrics, in Prometheus's text format
 *   fmt.c			the server -> client messages
 *   job.c, msg.c, opts.c, kept.c  the SHA-256 job, client messages,
 *				per-vhost options, kept outlive results
 *
 * Threads
 * -------
 * Everything runs on the lws service thread except the task function (on
 * a pool worker) and the task's cleanup (on the service thread when the
 * task is reaped or dequeued, or on a worker with wsi == NULL when a task
 * that lost its connection ends), both in task.c.  So:
 *
 *  - struct lwstp_job belongs to its task: created at enqueue, handed to
 *    the pool, freed only by the cleanup.  A connection keeps the task
 *    handle and the job pointer only while the task is bound to it (until
 *    the connection reaps or dequeues it, or closes), which is exactly when
 *    the library guarantees that the task and the job are alive.
 *  - job->out is written by the worker before it returns SYNC or ends, and
 *    read on the service thread only when lws_threadpool_task_status_noreap()
 *    says SYNCING, FINISHED or STOPPED: the pool's lock, taken by both
 *    sides, orders the accesses.  job->stop_req is an atomic that the
 *    service thread sets.
 *  - The token table (kept.c) is only changed on the service thread; the
 *    job publishes into its record under the table's leaf lock (kept.h),
 *    and the cleanup drops the job's reference to the record under that
 *    lock too; it touches nothing else shared and calls no lws API except
 *    lws_cancel_service(), which is thread-safe.
 *  - The per-vhost data outlives every job: PROTOCOL_DESTROY destroys the
 *    pool (joining the workers, running every remaining cleanup) before
 *    lws frees it, and makes the connections still open forget their tasks.
 */

#ifndef LWSTP_PLUGIN_PRIV_H
#define LWSTP_PLUGIN_PRIV_H

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
/*
 * The largest send() lws makes for this protocol, and the largest piece
 * of an HTTP body written at once (http.c).  Without it lws sends at most
 * rx_buffer_size (512) + LWS_PRE + 4 bytes at a time: /metrics (9.5 kB)
 * went out in 532-byte send()s (h2load, TLS h1: 5.5k requests/s).
 */
#define LWSTP_PLUGIN_TX_PACKET	4096
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

extern struct lwstp_plugin_counters lwstp_plugin_ctr;	/* task.c */

/* one more of counter f, process-wide and on the job's vhost */
#define LWSTP_CTR_INC(vhd, f) do { \
		atomic_fetch_add(&lwstp_plugin_ctr.f, 1); \
		atomic_fetch_add(&(vhd)->ctr.f, 1); \
	} while (0)

/* one per vhost */
struct lwstp_pvh {
	struct lws_context	*cx;
	struct lws_vhost	*vh;
	struct lws_threadpool	*tp;
	struct lwstp_plugin_opts opts;
	struct lwstp_kept_table	kt;
	lws_dll2_owner_t	conns;	/* struct lwstp_pss (service thread) */
	uint64_t		next_id; /* (service thread) */
	/* this vhost's jobs (bad_cleanups stays 0: a bad user has no
	 * vhost); logged when its pool is destroyed */
	struct lwstp_plugin_counters ctr;
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
	uint8_t			failed;	/* the hash failed: STOPPED */
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
	HP_ONESHOT_BODY,	/* ... its headers were sent */
	HP_FLUSH,		/* all written, lws still sending it (h2) */
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
	int			resp_sent;	/* of it, written */
	int			resp_code;
	const char		*resp_type;	/* its content-type */
	uint8_t			phase;		/* enum http_phase */
};

/* fmt.c: one message into b (l bytes); token NULL: not a watched job */
int
lwstp_plugin_fmt_started(char *b, size_t l, uint64_t id, uint64_t size,
			 const char *token);
int
lwstp_plugin_fmt_progress(char *b, size_t l, uint64_t id, uint64_t done,
			  uint64_t total, const char *token);
int
lwstp_plugin_fmt_result(char *b, size_t l, uint64_t id, const char *sha,
			unsigned int ms, const char *token);
/* reason: "requested", "sync-timeout", "shutting-down", "server", ... */
int
lwstp_plugin_fmt_stopped(char *b, size_t l, uint64_t id, const char *reason,
			 const char *token);
int
lwstp_plugin_fmt_attached(char *b, size_t l, uint64_t id, const char *token,
			  uint64_t size);
/* id 0: the error is not about a job */
int
lwstp_plugin_fmt_error(char *b, size_t l, const char *code, const char *text,
		       uint64_t id);
/*
 * A job's SYNC output (s == SYNCING) or end (FINISHED, STOPPED).  task: its
 * live handle, asked why it stopped; call before reaping it.
 */
int
lwstp_plugin_fmt_job_out(char *b, size_t l, const struct lwstp_job *job,
			 struct lws_threadpool_task *task,
			 enum lws_threadpool_task_status s);

/* task.c */
const char *
lwstp_plugin_job_start(struct lwstp_pvh *vhd, struct lws *wsi, uint64_t size,
		       int outlive, int http,
		       struct lws_threadpool_task **ptask,
		       struct lwstp_job **pjob, char *err, size_t errlen);
int
lwstp_plugin_job_stop(struct lws_threadpool_task *task, struct lwstp_job *job);

/* ws.c */
void
lwstp_plugin_ws_receive(struct lwstp_pss *pss, const void *in, size_t len);
int
lwstp_plugin_ws_writeable(struct lwstp_pss *pss);
void
lwstp_plugin_ws_forget(struct lwstp_pss *pss, int pool_alive);
void
lwstp_plugin_watch_cb(struct lwstp_kept *rec, lws_dll2_t *link, int gone,
		      void *arg);

/* http.c */
int
lwstp_plugin_http_request(struct lwstp_pss *pss);
/* metrics.c: the Prometheus text of the vhost's pool into b; its length,
 * or -1 */
int
lwstp_plugin_metrics(struct lwstp_pvh *vhd, char *b, size_t size);
int
lwstp_plugin_http_writeable(struct lwstp_pss *pss);
void
lwstp_plugin_http_forget(struct lwstp_pss *pss, int pool_alive);

#endif
