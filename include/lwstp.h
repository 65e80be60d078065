/*
 * lws-threadpool - the lws_threadpool_* API for the stock, distro-built
 * libwebsockets, plus the few additions that API cannot express.
 *
 * Include this instead of (or after) <libwebsockets.h>.  The upstream API
 * (struct lws_threadpool, lws_threadpool_create(), ...) is declared by lws's
 * own <libwebsockets/lws-threadpool.h>; this library provides its symbols.
 * Everything declared here is this project's own and prefixed lwstp_.
 *
 * Threads: every function here and in lws-threadpool.h is called on an lws
 * service thread (the one that owns the wsi involved), except the task
 * function itself, which runs on a pool worker and must not call lws (not
 * even lwsl_*(): lws 4.1 formats log lines in one static buffer).
 *
 * Memory ordering: a task's state is changed under its pool's lock, so when
 * lws_threadpool_task_status() or _noreap() returns SYNCING, FINISHED or
 * STOPPED, everything the task function wrote before returning SYNC,
 * FINISHED or STOPPED is visible to the caller; and what the service thread
 * wrote before lws_threadpool_task_sync() is visible to the task when it
 * resumes.
 */

#ifndef LWSTP_H
#define LWSTP_H

#include <libwebsockets.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Default time a task may wait in LWS_TP_RETURN_SYNC for
 * lws_threadpool_task_sync() before it is told to stop. */
#define LWSTP_DEFAULT_SYNC_TIMEOUT_MS	30000

/** Reasons an operation failed; lwstp_strerror() names them. */
enum lwstp_error {
	LWSTP_OK		=  0,
	LWSTP_E_INVAL		= -1, /**< bad argument (NULL, out of range) */
	LWSTP_E_QUEUE_FULL	= -2, /**< max_queue_depth tasks already wait */
	LWSTP_E_SHUTTING_DOWN	= -3, /**< lws_threadpool_finish() was called */
	LWSTP_E_NOMEM		= -4, /**< out of memory */
	LWSTP_E_NO_INTEGRATION	= -5, /**< no lwstp_hook() will see the wsi go:
				       *  none in its vhost's protocols[0], and
				       *  its own protocol's hook has not seen
				       *  it established (see lwstp_hook()) */
};

/** struct lwstp_create_args - everything lws_threadpool_create_args has,
 * and more.  Zero everything you do not set. */
struct lwstp_create_args {
	int threads;		/**< worker threads, 1 or more, as upstream;
				 * more than kernel.threads-max is refused, and
				 * a pthread_create() failure (RLIMIT_NPROC,
				 * memory) fails the create, pool undone */
	int max_queue_depth;	/**< tasks allowed to wait for a free worker,
				 * 0 .. INT_MAX (a queued task costs only its
				 * own allocation); 0 means a task is
				 * accepted only if a worker is idle */
	unsigned int sync_timeout_ms; /**< how long a task may wait in SYNC
				 * for lws_threadpool_task_sync() before it is
				 * told to STOP; 0 = LWSTP_DEFAULT_SYNC_TIMEOUT_MS */
	int worker_nice;	/**< nice value added for the workers (0 keeps
				 * the creator's; 1..19 lowers their priority so
				 * that the service thread wins the CPU) */
	int worker_sched_idle;	/**< 1: workers run in Linux's SCHED_IDLE
				 * class, so they only get a CPU nothing else
				 * wants: a busy pool then barely delays the
				 * service thread (see docs/PERFORMANCE.md), but
				 * while every core is busy the workers get no
				 * CPU at all.
				 * 0: the creator's scheduling class. */
};

/**
 * lwstp_create() - lws_threadpool_create() with extra options
 *
 * \param context: the lws_context whose wsis the tasks will be bound to
 * \param args: the options; invalid values fail with an lwsl_err line
 * \param format: printf-style name of the pool (used in every log line)
 *
 * Returns the pool, or NULL (and a logged reason) on bad arguments or when
 * a resource (memory, thread, mutex) could not be had; a half-created pool
 * is undone before returning NULL.
 */
LWS_VISIBLE LWS_EXTERN struct lws_threadpool *
lwstp_create(struct lws_context *context, const struct lwstp_create_args *args,
	     const char *format, ...) LWS_FORMAT(3);

/**
 * lwstp_enqueue() - lws_threadpool_enqueue() that says why it failed
 *
 * \param tp: the pool
 * \param args: the task, as for lws_threadpool_enqueue()
 * \param ptask: receives the task handle on success (may be NULL)
 * \param format: printf-style task name (kept up to 31 chars)
 *
 * Returns LWSTP_OK or a negative enum lwstp_error.  On failure nothing was
 * queued, cleanup is NOT called and args->user still belongs to the caller.
 */
LWS_VISIBLE LWS_EXTERN int
lwstp_enqueue(struct lws_threadpool *tp,
	      const struct lws_threadpool_task_args *args,
	      struct lws_threadpool_task **ptask, const char *format, ...)
	      LWS_FORMAT(4);

/** lwstp_strerror() - a short English text for an enum lwstp_error */
LWS_VISIBLE LWS_EXTERN const char *
lwstp_strerror(int err);

/**
 * lwstp_hook() - the service-thread integration: one call in a callback
 *
 * The distro lws has no threadpool hooks, so the library learns of worker
 * wake-ups (LWS_CALLBACK_EVENT_WAIT_CANCELLED, broadcast to every protocol)
 * and of connections going away through this function.  Call it first
 * thing, with the same arguments, in one of two places:
 *
 *  - the callback of a vhost's protocols[0]: every wsi of that vhost may
 *    have tasks (lws sends WSI_CREATE of server wsis and WSI_DESTROY of all
 *    wsis there only);
 *  - the callback of the protocol that enqueues: its wsis may have tasks
 *    once the hook saw one of their established callbacks (ESTABLISHED,
 *    RECEIVE, SERVER_WRITEABLE, HTTP, HTTP_BODY, HTTP_WRITEABLE, RAW_ADOPT,
 *    RAW_RX, RAW_WRITEABLE).  At the wsi's close or unbind callback (CLOSED,
 *    CLOSED_HTTP, RAW_CLOSE, *_DROP_PROTOCOL) the hook ends its queued and
 *    done tasks and detaches running ones, so handles kept from before are
 *    invalid after it: if you dequeue kept handles yourself there, call the
 *    hook after doing so for those reasons.
 *
 * Enqueueing for any other wsi fails with LWSTP_E_NO_INTEGRATION.  Always
 * returns 0.
 */
LWS_VISIBLE LWS_EXTERN int
lwstp_hook(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	   void *in, size_t len);

/**
 * lwstp_callback_http_dummy() - drop-in for lws_callback_http_dummy
 *
 * lwstp_hook() followed by lws_callback_http_dummy().  Put it in
 * protocols[0] where you had lws_callback_http_dummy: that one line is the
 * whole integration for that vhost.  Elsewhere it integrates the protocol
 * it stands for (see lwstp_hook()).
 */
LWS_VISIBLE LWS_EXTERN int
lwstp_callback_http_dummy(struct lws *wsi, enum lws_callback_reasons reason,
			  void *user, void *in, size_t len);

/** Number of log2 latency buckets in struct lwstp_stats. Bucket 0 counts
 * values < 2 us, bucket i (i >= 1) values in [2^i, 2^(i+1)) us, the last
 * bucket everything above. */
#define LWSTP_HIST_BUCKETS 32

/** struct lwstp_stats - a consistent snapshot of one pool */
struct lwstp_stats {
	/* gauges, now */
	int threads;		/**< workers running */
	int idle;		/**< workers waiting for a task */
	int queued;		/**< tasks waiting for a worker */
	int running;		/**< tasks on a worker (RUNNING, SYNCING or
				 *   STOPPING) */
	int syncing;		/**< of those, waiting in SYNC */
	int done_waiting;	/**< finished tasks not yet reaped */

	/* counters since creation */
	uint64_t enqueued;	/**< tasks accepted */
	uint64_t rejected_full;	/**< refused: queue full */
	uint64_t rejected_shutdown; /**< refused: pool finishing */
	uint64_t finished;	/**< tasks that ended FINISHED */
	uint64_t stopped;	/**< tasks that ended STOPPED */
	uint64_t syncs;		/**< LWS_TP_RETURN_SYNC waits */
	uint64_t sync_timeouts;	/**< SYNC waits ended by sync_timeout_ms */
	uint64_t detached;	/**< tasks that lost their wsi before the end */
	uint64_t reaped;	/**< tasks freed (cleanup called) */

	/* latency histograms (see LWSTP_HIST_BUCKETS), in microseconds */
	uint64_t queue_wait_us[LWSTP_HIST_BUCKETS]; /**< enqueue to start */
	uint64_t run_us[LWSTP_HIST_BUCKETS];	/**< start to end, on a worker */
	uint64_t sync_wait_us[LWSTP_HIST_BUCKETS]; /**< SYNC to resume */
	/* the sums of what those histograms counted, in microseconds */
	uint64_t queue_wait_sum_us;
	uint64_t run_sum_us;
	uint64_t sync_wait_sum_us;
};

/**
 * lwstp_get_stats() - snapshot a pool's gauges and counters
 *
 * \param tp: the pool
 * \param st: filled in under the pool lock
 *
 * Returns LWSTP_OK or LWSTP_E_INVAL.
 */
LWS_VISIBLE LWS_EXTERN int
lwstp_get_stats(struct lws_threadpool *tp, struct lwstp_stats *st);

/**
 * lwstp_hist_percentile() - approximate percentile of a stats histogram
 *
 * \param hist: one of the LWSTP_HIST_BUCKETS arrays of struct lwstp_stats
 * \param pct: 0 .. 100
 *
 * Returns the upper bound in microseconds of the bucket holding the
 * percentile (so within a factor of 2), or 0 if the histogram is empty.
 */
LWS_VISIBLE LWS_EXTERN uint64_t
lwstp_hist_percentile(const uint64_t *hist, double pct);

/** Why a task was stopped: lwstp_task_stop_reason() */
enum lwstp_stop_reason {
	LWSTP_STOP_NONE,	/**< not stopped (running, or FINISHED unasked) */
	LWSTP_STOP_TASK,	/**< the task returned STOPPED by itself */
	LWSTP_STOP_DEQUEUED,	/**< lws_threadpool_dequeue_task() */
	LWSTP_STOP_CLOSED,	/**< its wsi closed (or left its protocol) */
	LWSTP_STOP_FINISH,	/**< lws_threadpool_finish() / _destroy() */
	LWSTP_STOP_SYNC_TIMEOUT, /**< no lws_threadpool_task_sync() in
				  *  sync_timeout_ms */
	LWSTP_STOP_SYNC,	/**< lws_threadpool_task_sync(task, 1) */
};

/**
 * lwstp_task_stop_reason() - why the task was asked to stop, if it was
 *
 * \param task: a live handle
 *
 * Returns an enum lwstp_stop_reason: the first stop request made (a task
 * asked to stop can still end FINISHED from its last call).  Read it
 * before lws_threadpool_task_status() reaps the task, for instance when
 * lws_threadpool_task_status_noreap() says STOPPED.  Service thread.
 */
LWS_VISIBLE LWS_EXTERN int
lwstp_task_stop_reason(struct lws_threadpool_task *task);

/** lwstp_stop_reason_name() - "none", "task", "dequeued", "closed",
 * "finish", "sync-timeout", "sync" (or "unknown") */
LWS_VISIBLE LWS_EXTERN const char *
lwstp_stop_reason_name(int reason);

/**
 * lwstp_task_name() - the name given to lws_threadpool_enqueue()
 *
 * For logs.  Valid as long as the task handle is.
 */
LWS_VISIBLE LWS_EXTERN const char *
lwstp_task_name(const struct lws_threadpool_task *task);

/**
 * lws_threadpool_diagnose() - the pool's instantaneous state
 *
 * \param tp: the pool
 * \param ongoing: if non-NULL, receives the number of tasks on a worker
 * \param possible: if non-NULL, receives the number of worker threads
 * \param queue_depth: if non-NULL, receives the number of queued tasks
 *
 * As lws main declares it (January 2026; not in lws 4.1 or 4.3, so
 * declared here): read under the pool lock.  An invalid pool gives zeros
 * and an lwsl_err line.
 */
LWS_VISIBLE LWS_EXTERN void
lws_threadpool_diagnose(struct lws_threadpool *tp, int *ongoing, int *possible,
			int *queue_depth);

/**
 * lwstp_self_check() - cross-check a pool's counters against its workers
 *
 * Logs an lwsl_err line for each inconsistency (after dropping the pool
 * lock) and returns how many there were, or LWSTP_E_INVAL.  For tests and
 * soak runs.
 */
LWS_VISIBLE LWS_EXTERN int
lwstp_self_check(struct lws_threadpool *tp);

#ifdef __cplusplus
}
#endif

#endif
