/*
 * lws-threadpool private structures and lock rules.
 *
 * Objects
 * -------
 *  hub    one per lws_context that has pools or integrated vhosts (hub.c).
 *         Maps wsi -> conn, knows the integrated vhosts, and holds one
 *         ready list per service thread.
 *  conn   one per wsi that has tasks bound to it: the wsi's task list.
 *  pool   struct lws_threadpool: workers, and the pending / running / done
 *         lists of its tasks (pool.c).
 *  task   struct lws_threadpool_task (task.c).
 *
 * Locks, in the only order they may be nested
 * -------------------------------------------
 *  1. registry_lock  (hub.c)  the list of hubs and their refcounts, the
 *                             notifiers' hub pointers and the graveyard
 *  2. hub->lock               hub->conns, hub->vhosts, every conn's ->tasks
 *                             and ->iters, every task's ->conn_link
 *  3. tp->lock                everything in the pool marked (tp) below, and
 *                             every field of its tasks marked (tp)
 *  4. pt->lock                pt->ready, conn->ready_link, hub->dying, and
 *                             (pt[0] only) the worker log queue; pt[0] is
 *                             held around lws_cancel_service()
 *
 * No lws_cancel_service() and no pthread_cond_signal() is made with tp->lock
 * held where it can be avoided: the woken thread would block on it.
 *
 * Logging: lwsl_*() only on the service thread (lws 4.1 formats log lines
 * in a static buffer); workers use lwstp_worker_log().
 *
 * A function named __name expects the lock(s) it documents to be held; the
 * plain name takes them.  Worker threads only ever take 3 then 4.  No user
 * callback (task function, cleanup, foreach callback) is ever called with
 * any of these locks held.
 *
 * Lifetimes
 * ---------
 *  A task is attached while task->conn != NULL.  conn (and so the wsi) is
 *  only freed on the service thread, after every task was detached from it
 *  (task->conn cleared under its tp->lock) and after it left its ready list
 *  (under pt->lock), so a worker holding tp->lock that reads a non-NULL
 *  task->conn may use it until it drops tp->lock.
 *  A detached task is freed by whoever ends it: the worker when it returns
 *  FINISHED / STOPPED, the service thread when it stops a queued or done one.
 *  An attached task is only freed by the service thread: reaped by
 *  lws_threadpool_task_status(), dequeued, detached at WSI_DESTROY, or at
 *  lws_threadpool_destroy().
 */

#ifndef LWSTP_PRIVATE_H
#define LWSTP_PRIVATE_H

#include <lwstp.h>
#include <pthread.h>
/*
 * uthash's default on an allocation failure is exit(-1).  In its non-fatal
 * mode the add does not happen and uthash_nonfatal_oom() runs: every
 * HASH_ADD here clears lwstp_hash_oom first and checks it after.
 */
#define HASH_NONFATAL_OOM	1
#define uthash_nonfatal_oom(obj) do { (void)(obj); lwstp_hash_oom = 1; } \
				 while (0)
extern __thread int lwstp_hash_oom;
/*
 * Every key hashed here is a pointer (HASH_*_PTR: wsi, vhost): mix its bits
 * with murmur3's 64-bit finaliser instead of running uthash's default
 * Jenkins hash over its bytes.  callgrind, SYNC with 10 connections: the
 * lookup of a wsi's conn cost 95 instructions a message with HASH_JEN.
 */
#define HASH_FUNCTION(keyptr, keylen, hashv) do { \
	uintptr_t _lp; \
	uint64_t _lk; \
	memcpy(&_lp, (keyptr), sizeof(_lp)); \
	_lk = (uint64_t)_lp; \
	_lk ^= _lk >> 33; \
	_lk *= 0xff51afd7ed558ccdull; \
	_lk ^= _lk >> 33; \
	(hashv) = (unsigned int)_lk; \
} while (0)
#include <string.h>
#include <uthash.h>

#define LWSTP_TP_MAGIC		0x6c777470u	/* "lwtp" */
#define LWSTP_TASK_MAGIC	0x6c777474u	/* "lwtt" */
#define LWSTP_NAME_LEN		32

struct lwstp_hub;

/* foreach cursor, so a callback may reap any task of the wsi it iterates */
struct lwstp_iter {
	struct lwstp_iter	*up;	/* next outer cursor on the same conn */
	lws_dll2_t		*next;	/* next task link to visit */
};

struct lwstp_conn {
	UT_hash_handle		hh;	/* hub->conns, key wsi (hub->lock) */
	struct lws		*wsi;	/* const */
	lws_dll2_owner_t	tasks;	/* task->conn_link (hub->lock) */
	struct lwstp_iter	*iters;	/* active foreach cursors (hub->lock) */
	lws_dll2_t		ready_link; /* on pt->ready (pt->lock) */
	int			tsi;	/* const: wsi's service thread */
	char			watched; /* its protocol's hook will see it
					  * close or unbind (hub->lock) */
};

/*
 * A vhost whose protocols[0] callback runs lwstp_hook(): the hook has seen
 * a server wsi's LWS_CALLBACK_WSI_CREATE there, which lws sends to
 * protocols[0] only.  From then on LWS_CALLBACK_WSI_DESTROY of every wsi of
 * the vhost reaches the hook.  Forgotten at LWS_CALLBACK_PROTOCOL_DESTROY,
 * which lws sends to every protocol of a vhost whose protocols were
 * initialised; a vhost created with LWS_SERVER_OPTION_SKIP_PROTOCOL_INIT
 * gets none, so its entry would outlive it (not handled).
 */
struct lwstp_vh {
	UT_hash_handle		hh;	/* hub->vhosts, key vh (hub->lock) */
	struct lws_vhost	*vh;
};

/* per service thread: conns whose wsi needs a writable callback */
struct lwstp_pt {
	pthread_mutex_t		lock;
	lws_dll2_owner_t	ready;	/* conn->ready_link (pt->lock) */
};

/*
 * lws 4.1 formats every log line in one static buffer, so lwsl_*() may only
 * be called on the service thread.  Workers queue their lines here and the
 * service thread logs them at its next wake-up (hub_dispatch()).
 */
#define LWSTP_LOGQ_LEN		32
struct lwstp_logline {
	int			level;	/* LLL_* */
	char			text[200];
};

struct lwstp_hub {
	lws_dll2_t		link;	/* registry list (registry_lock) */
	struct lws_context	*cx;	/* const */
	int			refs;	/* pools + vhosts (registry_lock) */

	pthread_mutex_t		lock;
	struct lwstp_conn	*conns;	/* (hub->lock) */
	struct lwstp_vh		*vhosts; /* (hub->lock) */

	struct lwstp_pt		pt[LWS_MAX_SMP];

	struct lwstp_logline	logq[LWSTP_LOGQ_LEN]; /* ring (pt[0].lock) */
	unsigned int		logq_head, logq_count, logq_dropped;
					/* (pt[0].lock) */

	struct lwstp_notifier	*sn;	/* tells us the context is closing */
	char			dying;	/* the context is being destroyed (or,
					 * on lws 4.1, its state is
					 * POLICY_INVALID): its wake-up pipe
					 * may be closed, so no more
					 * lws_cancel_service(), and once the
					 * context is freed nothing of it may be
					 * touched (written holding every
					 * pt->lock and registry_lock) */
	char			orphan;	/* off the registry: its context was
					 * freed (registry_lock) */
};

/*
 * The hub's link on its context's state manager.  Separate from the hub:
 * a hub whose context may already be freed cannot deregister it (that
 * writes into the context), so the link is left where it is, pointing at no
 * hub, on a graveyard list that keeps it reachable (hub.c).
 */
struct lwstp_notifier {
	lws_state_notify_link_t	link;	/* on the context's state manager */
	struct lwstp_hub	*hub;	/* NULL once orphaned (registry_lock) */
	lws_dll2_t		grave;	/* on the graveyard (registry_lock) */
};

struct lwstp_worker {
	struct lws_threadpool	*tp;	/* const */
	pthread_t		thread;	/* const once started */
	pthread_cond_t		wake;	/* ends this worker's SYNC wait
					 * (waited on with tp->lock) */
	struct lws_threadpool_task *task; /* being run (tp) */
	int			index;	/* const */
};

struct lws_threadpool {
	uint32_t		magic;	/* LWSTP_TP_MAGIC while alive */
	struct lwstp_hub	*hub;	/* const */
	struct lws_context	*cx;	/* const */

	pthread_mutex_t		lock;
	pthread_cond_t		wake_idle; /* idle workers wait here (tp) */

	lws_dll2_owner_t	pending; /* QUEUED tasks, FIFO (tp) */
	lws_dll2_owner_t	running; /* RUNNING/SYNCING/STOPPING (tp) */
	lws_dll2_owner_t	done;	/* attached FINISHED/STOPPED (tp) */

	int			idle;	/* workers in wake_idle (tp) */
	int			syncing; /* tasks in SYNC (tp) */
	int			live_threads; /* workers not exited (tp) */
	uint32_t		next_id; /* (tp) */
	char			finishing; /* finish() called (tp) */

	struct lwstp_stats	st;	/* counters and histograms (tp) */

	/* const after create */
	int			threads;
	int			max_queue_depth;
	unsigned int		sync_timeout_ms;
	int			worker_nice;
	int			worker_sched_idle;
	char			name[LWSTP_NAME_LEN];

	struct lwstp_worker	workers[];
};

typedef enum lws_threadpool_task_return (*lwstp_task_fn)(void *user,
					enum lws_threadpool_task_status s);
typedef void (*lwstp_cleanup_fn)(struct lws *wsi, void *user);

struct lws_threadpool_task {
	lws_dll2_t		list;	/* tp pending/running/done (tp) */
	lws_dll2_t		conn_link; /* conn->tasks (hub->lock) */
	struct lws_threadpool	*tp;	/* const */
	struct lwstp_conn	*conn;	/* attached to; written holding
					 * hub->lock and tp->lock (tp) */
	void			*user;	/* const */
	lwstp_task_fn		fn;	/* const */
	lwstp_cleanup_fn	cleanup; /* const */
	union {
		struct lwstp_worker *worker; /* running it (tp) */
		struct lws	*dead_wsi; /* for cleanup, once ended and
					    * unlinked (owned by the freer) */
	};
	lws_usec_t		t_queued; /* when enqueued (tp) */
	uint32_t		magic;	/* LWSTP_TASK_MAGIC while alive */
	uint32_t		id;	/* const */
	uint8_t			status;	/* enum lws_threadpool_task_status (tp) */
	uint8_t			outlive; /* may outlive its wsi (tp) */
	uint8_t			stop_reason; /* enum lwstp_stop_reason, set
					  * at the first stop request (tp) */
	char			name[];	/* const */
};

/* hub.c */
struct lwstp_hub *
lwstp_hub_ref(struct lws_context *cx);
void
lwstp_hub_unref(struct lwstp_hub *hub);
struct lwstp_hub *
lwstp_hub_find(struct lws_context *cx);
/* how a wsi's death will reach the hook, if at all (hub.c) */
enum {
	LWSTP_COVER_NONE,	/* it will not: no task may be bound to it */
	LWSTP_COVER_VHOST,	/* WSI_DESTROY, via its vhost's protocols[0] */
	LWSTP_COVER_WATCH,	/* close / unbind, via its own protocol */
};
int
__lwstp_hub_covers(struct lwstp_hub *hub, struct lws *wsi,
		   struct lwstp_conn *conn);
struct lwstp_conn *
__lwstp_conn_find(struct lwstp_hub *hub, struct lws *wsi);
struct lwstp_conn *
__lwstp_conn_get(struct lwstp_hub *hub, struct lws *wsi);
void
__lwstp_conn_put(struct lwstp_hub *hub, struct lwstp_conn *conn);
int
__lwstp_conn_mark_ready(struct lwstp_hub *hub, struct lwstp_conn *conn);
void
lwstp_hub_wake(struct lwstp_hub *hub);

void
lwstp_worker_log(struct lwstp_hub *hub, int level, const char *format, ...)
	LWS_FORMAT(3);
void
lwstp_hub_flush_log(struct lwstp_hub *hub);

/* task.c */
void
__lwstp_task_unlink_conn(struct lwstp_hub *hub, struct lws_threadpool_task *t);
void
lwstp_task_free(struct lws_threadpool_task *task, struct lws *wsi);
int
__lwstp_task_detach(struct lws_threadpool_task *task,
		    lws_dll2_owner_t *to_free, int reason);
void
lwstp_tasks_free_list(lws_dll2_owner_t *list);
void
lwstp_detach_wsi(struct lwstp_hub *hub, struct lws *wsi, int watched_only);

/* pool.c */
void
__lwstp_request_stop(struct lws_threadpool_task *task, int reason);
void
__lwstp_stop_reason(struct lws_threadpool_task *task, int reason);
void
__lwstp_hist_add(uint64_t *hist, uint64_t *sum, lws_usec_t us);
const char *
lwstp_status_name(int status);

#define lwstp_lock(m)	lwstp_mutex_op(pthread_mutex_lock(m), #m, __func__)
#define lwstp_unlock(m)	lwstp_mutex_op(pthread_mutex_unlock(m), #m, __func__)

static inline void
lwstp_mutex_op(int r, const char *what, const char *fn)
{
	/* a failing lock/unlock on our own initialised mutex is a bug */
	if (r) {
		lwsl_err("lwstp: %s: %s failed: %d\n", fn, what, r);
		abort();
	}
}

#endif
