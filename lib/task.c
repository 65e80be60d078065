/*
 * lws-threadpool: tasks, from the service thread's side.
 *
 * Enqueue, dequeue, status (reap), sync, and the per-wsi lookups.  A task is
 * found from its wsi through the hub's wsi -> conn hash and the conn's task
 * list; from its pool through its own list link: nothing is searched.
 *
 * Lock order and lifetimes: see private.h.
 */

#include "private.h"

#include <string.h>

static const char * const error_names[] = {
	"ok", "invalid argument", "queue full", "pool is finishing",
	"out of memory", "no lwstp hook will see this wsi close"
};

const char *
lwstp_strerror(int err)
{
	if (err > 0 || err < -((int)LWS_ARRAY_SIZE(error_names) - 1))
		return "unknown error";

	return error_names[-err];
}

const char *
lwstp_task_name(const struct lws_threadpool_task *task)
{
	return task ? task->name : "(null)";
}

static const char * const stop_reason_names[] = {
	"none", "task", "dequeued", "closed", "finish", "sync-timeout",
	"sync"
};

const char *
lwstp_stop_reason_name(int reason)
{
	if (reason < 0 || reason >= (int)LWS_ARRAY_SIZE(stop_reason_names))
		return "unknown";

	return stop_reason_names[reason];
}

static int
task_check(const struct lws_threadpool_task *task, const char *fn)
{
	if (!task) {
		lwsl_err("lwstp: %s: NULL task\n", fn);
		return 1;
	}
	if (task->magic != LWSTP_TASK_MAGIC) {
		lwsl_err("lwstp: %s: %p is not a live task (already reaped?)\n",
			 fn, task);
		return 1;
	}

	return 0;
}

/* call the cleanup (no lock held) and free the task */
void
lwstp_task_free(struct lws_threadpool_task *task, struct lws *wsi)
{
	if (task->cleanup)
		task->cleanup(wsi, task->user);
	/* volatile: a plain store just before free() is optimised away */
	*(volatile uint32_t *)&task->magic = 0;
	free(task);
}

void
lwstp_tasks_free_list(lws_dll2_owner_t *list)
{
	while (list->head) {
		struct lws_threadpool_task *task = lws_container_of(list->head,
					struct lws_threadpool_task, list);

		lws_dll2_remove(&task->list);
		lwstp_task_free(task, task->dead_wsi);
	}
}

/* unbind the task from its wsi; hub->lock and tp->lock held */
void
__lwstp_task_unlink_conn(struct lwstp_hub *hub, struct lws_threadpool_task *t)
{
	struct lwstp_conn *conn = t->conn;
	struct lwstp_iter *it;

	if (!conn)
		return;

	/* a foreach about to visit this task goes on with the next one */
	for (it = conn->iters; it; it = it->up)
		if (it->next == &t->conn_link)
			it->next = t->conn_link.next;

	lws_dll2_remove(&t->conn_link);
	t->conn = NULL;
	__lwstp_conn_put(hub, conn);
}

/*
 * The task's wsi is going away, or the user dequeued the task.
 * hub->lock and tp->lock held.
 *
 * Queued or done: it ends now, and goes on to_free (its cleanup gets the
 * wsi).  On a worker: it is unbound from the wsi and asked to stop, unless it
 * asked to outlive the wsi (and the pool is not finishing); the worker frees
 * it when it ends.  Returns 0 if it ended now, 1 if it is still on a worker
 * (or queued, outliving).
 */
int
__lwstp_task_detach(struct lws_threadpool_task *task,
		    lws_dll2_owner_t *to_free, int reason)
{
	struct lws_threadpool *tp = task->tp;
	struct lws *wsi = task->conn ? task->conn->wsi : NULL;
	int outlive = task->outlive && !tp->finishing;

	switch (task->status) {
	case LWS_TP_STATUS_QUEUED:
		if (outlive)
			goto goes_on;
		task->status = LWS_TP_STATUS_STOPPED;
		__lwstp_stop_reason(task, reason);
		tp->st.stopped++;
		break;

	case LWS_TP_STATUS_RUNNING:
	case LWS_TP_STATUS_SYNCING:
	case LWS_TP_STATUS_STOPPING:
		if (!outlive)
			__lwstp_request_stop(task, reason);
		else if (task->status == LWS_TP_STATUS_SYNCING) {
			/* nobody will consume its output: let it go on */
			task->status = LWS_TP_STATUS_RUNNING;
			pthread_cond_signal(&task->worker->wake);
		}
		goto goes_on;

	default: /* FINISHED, STOPPED: on the done list */
		break;
	}

	lws_dll2_remove(&task->list);
	__lwstp_task_unlink_conn(tp->hub, task);
	task->dead_wsi = wsi;
	tp->st.reaped++;
	lws_dll2_add_tail(&task->list, to_free);

	return 0;

goes_on:
	if (task->conn)
		tp->st.detached++;
	__lwstp_task_unlink_conn(tp->hub, task);

	return 1;
}

/*
 * LWS_CALLBACK_WSI_DESTROY (watched_only 0), or the wsi's close or unbind
 * callback reached its protocol's hook (watched_only 1: only a watched conn
 * is affected, see hub.c): no task may keep the wsi.
 *
 * Two passes: first the tasks that end now (queued, done), then the ones on
 * workers.  Stopping a running task first would free its worker, which could
 * then start a queued task of this very wsi before the loop reached it.
 */
void
lwstp_detach_wsi(struct lwstp_hub *hub, struct lws *wsi, int watched_only)
{
	struct lws_threadpool_task *task;
	lws_dll2_owner_t to_free;
	struct lwstp_conn *conn;
	struct lwstp_iter it;
	int pass, s;

	lws_dll2_owner_clear(&to_free);

	lwstp_lock(&hub->lock);
	conn = __lwstp_conn_find(hub, wsi);
	if (!conn || (watched_only && !conn->watched)) {
		lwstp_unlock(&hub->lock);
		return;
	}
	conn->watched = 0;
	it.up = conn->iters;	/* keeps conn while we walk it */
	conn->iters = &it;

	for (pass = 0; pass < 2; pass++) {
		it.next = conn->tasks.head;
		while (it.next) {
			task = lws_container_of(it.next,
					struct lws_threadpool_task, conn_link);
			it.next = it.next->next;
			lwstp_lock(&task->tp->lock);
			s = task->status;
			if (pass || s == LWS_TP_STATUS_QUEUED ||
			    s == LWS_TP_STATUS_FINISHED ||
			    s == LWS_TP_STATUS_STOPPED)
				__lwstp_task_detach(task, &to_free,
						    LWSTP_STOP_CLOSED);
			lwstp_unlock(&task->tp->lock);
		}
	}

	conn->iters = it.up;
	__lwstp_conn_put(hub, conn);
	lwstp_unlock(&hub->lock);

	lwstp_tasks_free_list(&to_free);
}

static int
enqueue_va(struct lws_threadpool *tp, const struct lws_threadpool_task_args *a,
	   struct lws_threadpool_task **ptask, const char *format, va_list ap)
{
	struct lws_threadpool_task *task;
	struct lwstp_conn *conn = NULL;
	char name[LWSTP_NAME_LEN];
	size_t nlen;
	int err, cover;

	if (ptask)
		*ptask = NULL;
	if (!tp || tp->magic != LWSTP_TP_MAGIC || !a || !a->task || !a->wsi) {
		lwsl_err("lwstp: enqueue: %s\n",
			 !tp ? "NULL threadpool" :
			 tp->magic != LWSTP_TP_MAGIC ? "not a live threadpool" :
			 !a ? "NULL args" : !a->task ? "NULL args->task" :
			 "NULL args->wsi");
		return LWSTP_E_INVAL;
	}
	if (lws_get_context(a->wsi) != tp->cx) {
		lwsl_err("lwstp: %s: enqueue: wsi belongs to another "
			 "lws_context than the pool\n", tp->name);
		return LWSTP_E_INVAL;
	}

	if (format)
		vsnprintf(name, sizeof(name), format, ap);
	else
		name[0] = '\0';
	nlen = strlen(name) + 1;

	task = malloc(sizeof(*task) + nlen);
	if (!task) {
		lwsl_err("lwstp: %s: enqueue %s: out of memory\n", tp->name,
			 name);
		return LWSTP_E_NOMEM;
	}
	memset(task, 0, sizeof(*task));
	memcpy(task->name, name, nlen);
	task->tp = tp;
	task->user = a->user;
	task->fn = a->task;
	task->cleanup = a->cleanup;
	task->outlive = !!a->async_task;

	lwstp_lock(&tp->hub->lock);

	conn = __lwstp_conn_find(tp->hub, a->wsi);
	cover = __lwstp_hub_covers(tp->hub, a->wsi, conn);
	if (cover == LWSTP_COVER_NONE) {
		const struct lws_protocols *p = lws_get_protocol(a->wsi);

		conn = NULL;
		err = LWSTP_E_NO_INTEGRATION;
		lwsl_err("lwstp: %s: enqueue %s: no lwstp hook will see this "
			 "wsi close: vhost '%s' has none in its protocols[0] "
			 "callback (lwstp_callback_http_dummy, or lwstp_hook() "
			 "first thing in it), and the wsi's protocol '%s' has "
			 "not passed an established callback of this wsi "
			 "through lwstp_hook()\n", tp->name, name,
			 lws_get_vhost_name(lws_get_vhost(a->wsi)),
			 p && p->name ? p->name : "(none)");
		goto bail;
	}

	if (!conn)
		conn = __lwstp_conn_get(tp->hub, a->wsi);
	if (!conn) {
		err = LWSTP_E_NOMEM;
		lwsl_err("lwstp: %s: enqueue %s: out of memory\n", tp->name,
			 name);
		goto bail;
	}
	if (cover == LWSTP_COVER_WATCH)
		conn->watched = 1;

	lwstp_lock(&tp->lock);
	if (tp->finishing) {
		tp->st.rejected_shutdown++;
		lwstp_unlock(&tp->lock);
		err = LWSTP_E_SHUTTING_DOWN;
		lwsl_warn("lwstp: %s: enqueue %s refused: pool is finishing\n",
			  tp->name, name);
		goto bail;
	}
	/* tasks that will have to wait: those no idle worker can take now */
	if ((int)tp->pending.count - tp->idle >= tp->max_queue_depth) {
		tp->st.rejected_full++;
		lwstp_unlock(&tp->lock);
		err = LWSTP_E_QUEUE_FULL;
		lwsl_warn("lwstp: %s: enqueue %s refused: queue full (%d "
			  "waiting, max_queue_depth %d)\n", tp->name, name,
			  (int)tp->pending.count, tp->max_queue_depth);
		goto bail;
	}

	task->id = ++tp->next_id;
	task->status = LWS_TP_STATUS_QUEUED;
	task->t_queued = lws_now_usecs();
	task->magic = LWSTP_TASK_MAGIC;
	task->conn = conn;
	lws_dll2_add_tail(&task->conn_link, &conn->tasks);
	lws_dll2_add_tail(&task->list, &tp->pending);
	tp->st.enqueued++;
	/*
	 * Signalled under the lock: outside it, a burst of enqueues with idle
	 * workers costs glibc extra futex calls each (bench: -30% tasks/s at
	 * K=64, docs/PERFORMANCE.md)
	 */
	if (tp->idle)
		pthread_cond_signal(&tp->wake_idle);
	lwstp_unlock(&tp->lock);
	lwstp_unlock(&tp->hub->lock);

	if (ptask)
		*ptask = task;

	return LWSTP_OK;

bail:
	if (conn)
		__lwstp_conn_put(tp->hub, conn);
	lwstp_unlock(&tp->hub->lock);
	free(task);

	return err;
}

int
lwstp_enqueue(struct lws_threadpool *tp,
	      const struct lws_threadpool_task_args *args,
	      struct lws_threadpool_task **ptask, const char *format, ...)
{
	va_list ap;
	int r;

	va_start(ap, format);
	r = enqueue_va(tp, args, ptask, format, ap);
	va_end(ap);

	return r;
}

struct lws_threadpool_task *
lws_threadpool_enqueue(struct lws_threadpool *tp,
		       const struct lws_threadpool_task_args *args,
		       const char *format, ...)
{
	struct lws_threadpool_task *task;
	va_list ap;

	va_start(ap, format);
	enqueue_va(tp, args, &task, format, ap);
	va_end(ap);

	return task;
}

int
lws_threadpool_dequeue_task(struct lws_threadpool_task *task)
{
	struct lws_threadpool *tp;
	lws_dll2_owner_t to_free;
	int r;

	if (task_check(task, __func__))
		return 0;

	tp = task->tp;
	lws_dll2_owner_clear(&to_free);

	lwstp_lock(&tp->hub->lock);
	lwstp_lock(&tp->lock);
	r = __lwstp_task_detach(task, &to_free, LWSTP_STOP_DEQUEUED);
	lwstp_unlock(&tp->lock);
	lwstp_unlock(&tp->hub->lock);

	lwstp_tasks_free_list(&to_free);

	return r;
}

int
lws_threadpool_dequeue(struct lws *wsi)
{
	struct lws_threadpool_task *task = lws_threadpool_get_task_wsi(wsi);

	return task ? lws_threadpool_dequeue_task(task) : 0;
}

enum lws_threadpool_task_status
lws_threadpool_task_status(struct lws_threadpool_task *task, void **user)
{
	enum lws_threadpool_task_status s;
	struct lws_threadpool *tp;
	struct lws *wsi = NULL;
	int reap;

	if (user)
		*user = NULL;
	if (task_check(task, __func__))
		return LWS_TP_STATUS_STOPPED;

	tp = task->tp;
	lwstp_lock(&tp->hub->lock);
	lwstp_lock(&tp->lock);
	s = (enum lws_threadpool_task_status)task->status;
	if (user)
		*user = task->user;
	/* ended tasks still in reach of a handle are attached and done */
	reap = s == LWS_TP_STATUS_FINISHED || s == LWS_TP_STATUS_STOPPED;
	if (reap) {
		wsi = task->conn ? task->conn->wsi : NULL;
		lws_dll2_remove(&task->list);
		__lwstp_task_unlink_conn(tp->hub, task);
		tp->st.reaped++;
	}
	lwstp_unlock(&tp->lock);
	lwstp_unlock(&tp->hub->lock);

	if (reap)
		lwstp_task_free(task, wsi);

	return s;
}

int
lwstp_task_stop_reason(struct lws_threadpool_task *task)
{
	int r;

	if (task_check(task, __func__))
		return LWSTP_E_INVAL;

	lwstp_lock(&task->tp->lock);
	r = task->stop_reason;
	lwstp_unlock(&task->tp->lock);

	return r;
}

enum lws_threadpool_task_status
lws_threadpool_task_status_noreap(struct lws_threadpool_task *task)
{
	enum lws_threadpool_task_status s;

	if (task_check(task, __func__))
		return LWS_TP_STATUS_STOPPED;

	lwstp_lock(&task->tp->lock);
	s = (enum lws_threadpool_task_status)task->status;
	lwstp_unlock(&task->tp->lock);

	return s;
}

enum lws_threadpool_task_status
lws_threadpool_task_status_wsi(struct lws *wsi,
			       struct lws_threadpool_task **task, void **user)
{
	struct lws_threadpool_task *t = lws_threadpool_get_task_wsi(wsi);

	if (task)
		*task = t;
	if (!t) {
		if (user)
			*user = NULL;
		return LWS_TP_STATUS_FINISHED;	/* as upstream: no task */
	}

	return lws_threadpool_task_status(t, user);
}

void
lws_threadpool_task_sync(struct lws_threadpool_task *task, int stop)
{
	struct lwstp_worker *wake = NULL;
	struct lws_threadpool *tp;

	if (task_check(task, __func__))
		return;

	tp = task->tp;
	lwstp_lock(&tp->lock);
	switch (task->status) {
	case LWS_TP_STATUS_SYNCING:
		task->status = stop ? LWS_TP_STATUS_STOPPING :
				      LWS_TP_STATUS_RUNNING;
		if (stop)
			__lwstp_stop_reason(task, LWSTP_STOP_SYNC);
		wake = task->worker;
		break;
	case LWS_TP_STATUS_RUNNING:
		if (stop) {
			__lwstp_request_stop(task, LWSTP_STOP_SYNC);
			break;
		}
		/* fallthru */
	default:
		lwsl_warn("lwstp: %s: task_sync(stop=%d): task %u (%s) is %s,"
			  " not waiting in SYNC: ignored\n", tp->name, stop,
			  task->id, task->name,
			  lwstp_status_name(task->status));
		break;
	}
	lwstp_unlock(&tp->lock);

	/*
	 * After unlocking: the worker re-checks its task's status under
	 * tp->lock, and its condition lives as long as the pool, so a signal
	 * arriving after it stopped waiting is harmless.
	 */
	if (wake)
		pthread_cond_signal(&wake->wake);
}

struct lws_threadpool_task *
lws_threadpool_get_task_wsi(struct lws *wsi)
{
	struct lws_threadpool_task *task = NULL;
	struct lwstp_conn *conn;
	struct lwstp_hub *hub;

	if (!wsi)
		return NULL;
	hub = lwstp_hub_find(lws_get_context(wsi));
	if (!hub)
		return NULL;

	lwstp_lock(&hub->lock);
	conn = __lwstp_conn_find(hub, wsi);
	if (conn && conn->tasks.head)
		task = lws_container_of(conn->tasks.head,
					struct lws_threadpool_task, conn_link);
	lwstp_unlock(&hub->lock);

	return task;
}

/*
 * The callback runs with no lock held, so it may call any API on any task,
 * including reaping or dequeueing this or another task of the same wsi: a
 * cursor registered on the conn is moved on when the task it points to is
 * unlinked, and the conn is kept while a cursor is registered.
 */
int
lws_threadpool_foreach_task_wsi(struct lws *wsi, void *user,
				int (*cb)(struct lws_threadpool_task *task,
					  void *user))
{
	struct lws_threadpool_task *task;
	struct lwstp_iter it;
	struct lwstp_conn *conn;
	struct lwstp_hub *hub;
	int r = 0;

	if (!wsi || !cb) {
		lwsl_err("lwstp: %s: NULL %s\n", __func__, wsi ? "cb" : "wsi");
		return 0;
	}
	hub = lwstp_hub_find(lws_get_context(wsi));
	if (!hub)
		return 0;

	lwstp_lock(&hub->lock);
	conn = __lwstp_conn_find(hub, wsi);
	if (!conn) {
		lwstp_unlock(&hub->lock);
		return 0;
	}
	it.up = conn->iters;
	it.next = conn->tasks.head;
	conn->iters = &it;

	while (it.next && !r) {
		task = lws_container_of(it.next, struct lws_threadpool_task,
					conn_link);
		it.next = it.next->next;
		lwstp_unlock(&hub->lock);
		r = cb(task, user);
		lwstp_lock(&hub->lock);
	}

	/* cursors nest, so ours is the innermost one */
	conn->iters = it.up;
	__lwstp_conn_put(hub, conn);
	lwstp_unlock(&hub->lock);

	return !!r;
}
