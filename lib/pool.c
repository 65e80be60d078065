/*
 * lws-threadpool: pools and their worker threads.
 *
 * A worker takes the oldest pending task, runs its function until it returns
 * FINISHED or STOPPED, and then either puts it on the done list and asks for
 * a writable callback on its wsi (attached task: the service thread reaps it
 * with lws_threadpool_task_status()), or frees it itself (detached task).
 *
 * SYNC: the worker marks the task SYNCING, asks for a writable callback and
 * waits on its own condition variable, under tp->lock, until the service
 * thread's lws_threadpool_task_sync() (or a stop request, or the sync
 * timeout) changes the task's status.  Signaller and waiter use the same
 * mutex and the waiter re-checks the status in a loop, so an acknowledgement
 * can not be lost.
 *
 * Lock order and lifetimes: see private.h.
 */

#include "private.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static const char * const status_names[] = {
	"QUEUED", "RUNNING", "SYNCING", "STOPPING", "FINISHED", "STOPPED"
};

const char *
lwstp_status_name(int status)
{
	if (status < 0 || status >= (int)LWS_ARRAY_SIZE(status_names))
		return "INVALID";

	return status_names[status];
}

void
__lwstp_hist_add(uint64_t *hist, uint64_t *sum, lws_usec_t us)
{
	int b = 0;

	if (us < 0)
		us = 0;
	*sum += (uint64_t)us;
	while (us >= 2 && b < LWSTP_HIST_BUCKETS - 1) {
		us >>= 1;
		b++;
	}
	hist[b]++;
}

uint64_t
lwstp_hist_percentile(const uint64_t *hist, double pct)
{
	uint64_t total = 0, want, acc = 0;
	int b;

	if (!hist)
		return 0;
	for (b = 0; b < LWSTP_HIST_BUCKETS; b++)
		total += hist[b];
	if (!total)
		return 0;
	if (pct < 0)
		pct = 0;
	if (pct > 100)
		pct = 100;
	want = (uint64_t)((double)total * pct / 100.0 + 0.5);
	if (!want)
		want = 1;
	for (b = 0; b < LWSTP_HIST_BUCKETS; b++) {
		acc += hist[b];
		if (acc >= want)
			break;
	}

	return (uint64_t)2 << b;
}

/* why the task is stopped, if nothing said so before; tp->lock held */
void
__lwstp_stop_reason(struct lws_threadpool_task *task, int reason)
{
	if (!task->stop_reason)
		task->stop_reason = (uint8_t)reason;
}

/*
 * Ask a task that is on a worker to stop (enum lwstp_stop_reason says
 * why); tp->lock held.  A task waiting in SYNC is woken.  Queued and done
 * tasks are the callers' business.
 */
void
__lwstp_request_stop(struct lws_threadpool_task *task, int reason)
{
	switch (task->status) {
	case LWS_TP_STATUS_SYNCING:
		task->status = LWS_TP_STATUS_STOPPING;
		__lwstp_stop_reason(task, reason);
		pthread_cond_signal(&task->worker->wake);
		break;
	case LWS_TP_STATUS_RUNNING:
		task->status = LWS_TP_STATUS_STOPPING;
		__lwstp_stop_reason(task, reason);
		break;
	default:
		break;
	}
}

static void
deadline_after_ms(struct timespec *ts, unsigned int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/*
 * Ask for a writable callback on the task's wsi.  tp->lock held; it is
 * dropped around the wake-up of the service thread, so the caller must
 * re-check anything it read before.
 */
static void
__worker_notify(struct lws_threadpool *tp, struct lws_threadpool_task *task)
{
	if (!__lwstp_conn_mark_ready(tp->hub, task->conn))
		return;

	lwstp_unlock(&tp->lock);
	lwstp_hub_wake(tp->hub);
	lwstp_lock(&tp->lock);
}

/*
 * The task returned SYNC and is attached: wait for the service thread.
 * tp->lock held; released while waiting.
 */
static void
__worker_sync(struct lwstp_worker *w, struct lws_threadpool_task *task)
{
	struct lws_threadpool *tp = w->tp;
	struct timespec deadline;
	lws_usec_t t0 = lws_now_usecs();
	int r;

	task->status = LWS_TP_STATUS_SYNCING;
	tp->syncing++;
	tp->st.syncs++;

	__worker_notify(tp, task);

	deadline_after_ms(&deadline, tp->sync_timeout_ms);
	while (task->status == LWS_TP_STATUS_SYNCING) {
		r = pthread_cond_timedwait(&w->wake, &tp->lock, &deadline);
		if (!r || task->status != LWS_TP_STATUS_SYNCING)
			continue;
		if (r == ETIMEDOUT) {
			tp->st.sync_timeouts++;
			lwstp_worker_log(tp->hub, LLL_WARN,
				"lwstp: %s: task %u (%s): no "
				"lws_threadpool_task_sync() within %u ms, "
				"stopping it\n", tp->name, task->id,
				task->name, tp->sync_timeout_ms);
		} else
			lwstp_worker_log(tp->hub, LLL_ERR,
				"lwstp: %s: task %u: sync wait failed: %d\n",
				tp->name, task->id, r);
		task->status = LWS_TP_STATUS_STOPPING;
		__lwstp_stop_reason(task, LWSTP_STOP_SYNC_TIMEOUT);
	}

	tp->syncing--;
	__lwstp_hist_add(tp->st.sync_wait_us, &tp->st.sync_wait_sum_us,
			 lws_now_usecs() - t0);
}

/*
 * Run one task to its end; tp->lock held on entry and exit.
 *
 * Stop semantics are upstream's: once a stop was asked (dequeue, wsi
 * closed, finish, sync timeout), the task is called at most once more, with
 * LWS_TP_STATUS_STOPPING, and whatever that call returns ends it: FINISHED
 * stays FINISHED, anything else becomes STOPPED.  A call in progress is
 * never interrupted: finish and destroy wait for it.
 */
static void
__worker_run(struct lwstp_worker *w, struct lws_threadpool_task *task)
{
	struct lws_threadpool *tp = w->tp;
	enum lws_threadpool_task_return r;
	lws_usec_t t0 = lws_now_usecs();

	__lwstp_hist_add(tp->st.queue_wait_us, &tp->st.queue_wait_sum_us,
			 t0 - task->t_queued);

	while (task->status == LWS_TP_STATUS_RUNNING ||
	       task->status == LWS_TP_STATUS_STOPPING) {
		enum lws_threadpool_task_status s = task->status;

		lwstp_unlock(&tp->lock);
		r = task->fn(task->user, s);
		lwstp_lock(&tp->lock);

		if (r & LWS_TP_RETURN_FLAG_OUTLIVE)
			task->outlive = 1;
		r &= ~LWS_TP_RETURN_FLAG_OUTLIVE;

		if (s == LWS_TP_STATUS_STOPPING) {
			/* its one call after the stop request: it ends now */
			task->status = r == LWS_TP_RETURN_FINISHED ?
				LWS_TP_STATUS_FINISHED : LWS_TP_STATUS_STOPPED;
			break;
		}

		switch ((int)r) {
		case LWS_TP_RETURN_CHECKING_IN:
			break;
		case LWS_TP_RETURN_SYNC:
			if (task->status != LWS_TP_STATUS_RUNNING)
				break;	/* stopping: no one to sync with */
			if (task->conn) {
				__worker_sync(w, task);
				break;
			}
			/* detached: an outliving task goes on, others stop */
			if (!task->outlive)
				task->status = LWS_TP_STATUS_STOPPING;
			break;
		case LWS_TP_RETURN_FINISHED:
			task->status = LWS_TP_STATUS_FINISHED;
			break;
		case LWS_TP_RETURN_STOPPED:
			task->status = LWS_TP_STATUS_STOPPED;
			__lwstp_stop_reason(task, LWSTP_STOP_TASK);
			break;
		default:
			lwstp_worker_log(tp->hub, LLL_ERR,
				"lwstp: %s: task %u (%s) returned %d, which "
				"is not a lws_threadpool_task_return: "
				"treating it as STOPPED\n", tp->name,
				task->id, task->name, (int)r);
			task->status = LWS_TP_STATUS_STOPPED;
			__lwstp_stop_reason(task, LWSTP_STOP_TASK);
			break;
		}
	}

	__lwstp_hist_add(tp->st.run_us, &tp->st.run_sum_us,
			 lws_now_usecs() - t0);
	if (task->status == LWS_TP_STATUS_FINISHED)
		tp->st.finished++;
	else
		tp->st.stopped++;
}

static void *
worker_main(void *arg)
{
	struct lwstp_worker *w = arg;
	struct lws_threadpool *tp = w->tp;
	struct lws_threadpool_task *task;

	if (tp->worker_nice) {
		/* added to the nice value inherited from the creating thread */
		id_t tid = (id_t)syscall(SYS_gettid);
		int prio;

		errno = 0;
		prio = getpriority(PRIO_PROCESS, tid);
		if (prio == -1 && errno)
			prio = 0;
		prio += tp->worker_nice;
		if (prio > 19)
			prio = 19;
		if (setpriority(PRIO_PROCESS, tid, prio))
			lwstp_worker_log(tp->hub, LLL_WARN,
					 "lwstp: %s: worker %d: setpriority(%d)"
					 ": errno %d\n", tp->name, w->index,
					 prio, errno);
	}
	if (tp->worker_sched_idle) {
		struct sched_param sp = { 0 };
		int r = pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);

		if (r)
			lwstp_worker_log(tp->hub, LLL_WARN,
					 "lwstp: %s: worker %d: SCHED_IDLE: "
					 "error %d\n", tp->name, w->index, r);
	}

	lwstp_lock(&tp->lock);
	for (;;) {
		while (!tp->pending.head && !tp->finishing) {
			tp->idle++;
			pthread_cond_wait(&tp->wake_idle, &tp->lock);
			tp->idle--;
		}
		if (!tp->pending.head)
			break;	/* finishing, and nothing left to run */

		task = lws_container_of(tp->pending.head,
					struct lws_threadpool_task, list);
		lws_dll2_remove(&task->list);
		lws_dll2_add_tail(&task->list, &tp->running);
		task->status = LWS_TP_STATUS_RUNNING;
		task->worker = w;
		w->task = task;

		__worker_run(w, task);

		w->task = NULL;
		task->worker = NULL;
		lws_dll2_remove(&task->list);

		if (task->conn) {
			lws_dll2_add_tail(&task->list, &tp->done);
			__worker_notify(tp, task);
			continue;
		}

		/* detached: nobody will reap it, so we do */
		tp->st.reaped++;
		lwstp_unlock(&tp->lock);
		lwstp_task_free(task, NULL);
		lwstp_lock(&tp->lock);
	}
	tp->live_threads--;
	lwstp_unlock(&tp->lock);

	return NULL;
}

static int
pool_init_sync(struct lws_threadpool *tp)
{
	pthread_condattr_t ca;
	int r, n;

	r = pthread_mutex_init(&tp->lock, NULL);
	if (r)
		goto bail;
	r = pthread_cond_init(&tp->wake_idle, NULL);
	if (r)
		goto bail_mutex;

	r = pthread_condattr_init(&ca);
	if (r)
		goto bail_cond;
	r = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	for (n = 0; !r && n < tp->threads; n++) {
		r = pthread_cond_init(&tp->workers[n].wake, &ca);
		if (r)
			while (n--)
				pthread_cond_destroy(&tp->workers[n].wake);
	}
	pthread_condattr_destroy(&ca);
	if (!r)
		return 0;

bail_cond:
	pthread_cond_destroy(&tp->wake_idle);
bail_mutex:
	pthread_mutex_destroy(&tp->lock);
bail:
	lwsl_err("lwstp: %s: mutex / condition init failed: %s\n", tp->name,
		 strerror(r));

	return -1;
}

static void
pool_free_sync(struct lws_threadpool *tp)
{
	int n;

	for (n = 0; n < tp->threads; n++)
		pthread_cond_destroy(&tp->workers[n].wake);
	pthread_cond_destroy(&tp->wake_idle);
	pthread_mutex_destroy(&tp->lock);
}

static void
pool_join(struct lws_threadpool *tp, int started)
{
	int n, r;

	for (n = 0; n < started; n++) {
		r = pthread_join(tp->workers[n].thread, NULL);
		if (r)
			lwsl_err("lwstp: %s: join worker %d: %s\n", tp->name,
				 n, strerror(r));
	}
}

/*
 * The only bound on a pool's size that resources force before its threads
 * are started: no process has more threads than kernel.threads-max.  (A
 * lower RLIMIT_NPROC, or memory for the stacks, makes pthread_create()
 * fail: that is reported, and the pool undone, in pool_create().)
 */
static long
threads_max(void)
{
	long v = INT_MAX;
	FILE *f = fopen("/proc/sys/kernel/threads-max", "r");

	if (f) {
		if (fscanf(f, "%ld", &v) != 1 || v < 1 || v > INT_MAX)
			v = INT_MAX;
		fclose(f);
	}

	return v;
}

static struct lws_threadpool *
pool_create(struct lws_context *context, const struct lwstp_create_args *a,
	    const char *format, va_list ap)
{
	struct lws_threadpool *tp;
	char name[LWSTP_NAME_LEN];
	long max_threads;
	int n, r;

	if (format)
		vsnprintf(name, sizeof(name), format, ap);
	else
		name[0] = '\0';

	if (!context || !a) {
		lwsl_err("lwstp: create %s: NULL %s\n", name,
			 context ? "args" : "context");
		return NULL;
	}
	max_threads = threads_max();
	if (a->threads < 1 || a->threads > max_threads) {
		lwsl_err("lwstp: create %s: threads %d is not in 1..%ld%s\n",
			 name, a->threads, max_threads,
			 max_threads < INT_MAX ? " (kernel.threads-max)" : "");
		return NULL;
	}
	if (a->max_queue_depth < 0) {
		lwsl_err("lwstp: create %s: max_queue_depth %d is not in "
			 "0..%d\n", name, a->max_queue_depth, INT_MAX);
		return NULL;
	}
	if (a->worker_sched_idle < 0 || a->worker_sched_idle > 1) {
		lwsl_err("lwstp: create %s: worker_sched_idle %d is not 0 or "
			 "1\n", name, a->worker_sched_idle);
		return NULL;
	}
	if (a->worker_nice < 0 || a->worker_nice > 19) {
		lwsl_err("lwstp: create %s: worker_nice %d is not in 0..19\n",
			 name, a->worker_nice);
		return NULL;
	}

	tp = calloc(1, sizeof(*tp) + sizeof(tp->workers[0]) *
					(size_t)a->threads);
	if (!tp) {
		lwsl_err("lwstp: create %s: out of memory\n", name);
		return NULL;
	}
	memcpy(tp->name, name, sizeof(name));
	tp->cx = context;
	tp->threads = a->threads;
	tp->max_queue_depth = a->max_queue_depth;
	tp->sync_timeout_ms = a->sync_timeout_ms ? a->sync_timeout_ms :
					LWSTP_DEFAULT_SYNC_TIMEOUT_MS;
	tp->worker_nice = a->worker_nice;
	tp->worker_sched_idle = a->worker_sched_idle;

	if (pool_init_sync(tp)) {
		free(tp);
		return NULL;
	}

	tp->hub = lwstp_hub_ref(context);
	if (!tp->hub) {
		pool_free_sync(tp);
		free(tp);
		return NULL;
	}

	tp->magic = LWSTP_TP_MAGIC;
	for (n = 0; n < tp->threads; n++) {
		tp->workers[n].tp = tp;
		tp->workers[n].index = n;
		lwstp_lock(&tp->lock);
		tp->live_threads++;
		lwstp_unlock(&tp->lock);
		r = pthread_create(&tp->workers[n].thread, NULL, worker_main,
				   &tp->workers[n]);
		if (r) {
			lwsl_err("lwstp: create %s: starting worker %d of %d "
				 "failed: %s\n", tp->name, n, tp->threads,
				 strerror(r));
			lwstp_lock(&tp->lock);
			tp->live_threads--;
			tp->finishing = 1;
			pthread_cond_broadcast(&tp->wake_idle);
			lwstp_unlock(&tp->lock);
			pool_join(tp, n);
			tp->magic = 0;
			lwstp_hub_unref(tp->hub);
			pool_free_sync(tp);
			free(tp);
			return NULL;
		}
#if defined(__GLIBC__)
		{
			char tn[16];

			lws_snprintf(tn, sizeof(tn), "tp-%.9s-%d", tp->name, n);
			pthread_setname_np(tp->workers[n].thread, tn);
		}
#endif
	}

	lwsl_info("lwstp: %s: created, %d threads, queue %d, sync timeout "
		  "%u ms\n", tp->name, tp->threads, tp->max_queue_depth,
		  tp->sync_timeout_ms);

	return tp;
}

struct lws_threadpool *
lwstp_create(struct lws_context *context, const struct lwstp_create_args *args,
	     const char *format, ...)
{
	struct lws_threadpool *tp;
	va_list ap;

	va_start(ap, format);
	tp = pool_create(context, args, format, ap);
	va_end(ap);

	return tp;
}

struct lws_threadpool *
lws_threadpool_create(struct lws_context *context,
		      const struct lws_threadpool_create_args *args,
		      const char *format, ...)
{
	struct lwstp_create_args a;
	struct lws_threadpool *tp;
	va_list ap;

	memset(&a, 0, sizeof(a));
	if (args) {
		a.threads = args->threads;
		a.max_queue_depth = args->max_queue_depth;
	}

	va_start(ap, format);
	tp = pool_create(context, args ? &a : NULL, format, ap);
	va_end(ap);

	return tp;
}

static int
pool_check(struct lws_threadpool *tp, const char *fn)
{
	if (!tp) {
		lwsl_err("lwstp: %s: NULL threadpool\n", fn);
		return 1;
	}
	if (tp->magic != LWSTP_TP_MAGIC) {
		lwsl_err("lwstp: %s: %p is not a live threadpool "
			 "(already destroyed?)\n", fn, tp);
		return 1;
	}

	return 0;
}

void
lws_threadpool_finish(struct lws_threadpool *tp)
{
	lws_dll2_owner_t to_free;
	int kick = 0;

	if (pool_check(tp, __func__))
		return;

	lws_dll2_owner_clear(&to_free);

	lwstp_lock(&tp->lock);

	if (tp->finishing) {
		lwstp_unlock(&tp->lock);
		lwsl_info("lwstp: %s: finish called again\n", tp->name);
		return;
	}
	tp->finishing = 1;

	/* every queued task ends STOPPED without running */
	while (tp->pending.head) {
		struct lws_threadpool_task *task = lws_container_of(
			tp->pending.head, struct lws_threadpool_task, list);

		lws_dll2_remove(&task->list);
		task->status = LWS_TP_STATUS_STOPPED;
		__lwstp_stop_reason(task, LWSTP_STOP_FINISH);
		tp->st.stopped++;
		if (task->conn) {
			lws_dll2_add_tail(&task->list, &tp->done);
			kick |= __lwstp_conn_mark_ready(tp->hub, task->conn);
		} else {
			tp->st.reaped++;
			lws_dll2_add_tail(&task->list, &to_free);
		}
	}

	/* every running task, outliving or not, is asked to stop */
	lws_start_foreach_dll(struct lws_dll2 *, d, tp->running.head) {
		__lwstp_request_stop(lws_container_of(d,
					struct lws_threadpool_task, list),
				     LWSTP_STOP_FINISH);
	} lws_end_foreach_dll(d);

	pthread_cond_broadcast(&tp->wake_idle);
	lwstp_unlock(&tp->lock);

	if (kick)
		lwstp_hub_wake(tp->hub);
	lwstp_tasks_free_list(&to_free);
	lwsl_info("lwstp: %s: finishing\n", tp->name);
}

void
lws_threadpool_destroy(struct lws_threadpool *tp)
{
	lws_dll2_owner_t to_free;

	if (pool_check(tp, __func__))
		return;

	lws_threadpool_finish(tp);
	pool_join(tp, tp->threads);
	lwstp_hub_flush_log(tp->hub);

	/* only attached, done tasks are left: free them with their wsi */
	lws_dll2_owner_clear(&to_free);
	lwstp_lock(&tp->hub->lock);
	lwstp_lock(&tp->lock);
	while (tp->done.head) {
		struct lws_threadpool_task *task = lws_container_of(
			tp->done.head, struct lws_threadpool_task, list);

		__lwstp_task_detach(task, &to_free, LWSTP_STOP_FINISH);
	}
	if (tp->pending.count || tp->running.count || tp->live_threads)
		lwsl_err("lwstp: %s: destroy: %d pending, %d running, %d "
			 "threads left\n", tp->name, (int)tp->pending.count,
			 (int)tp->running.count, tp->live_threads);
	*(volatile uint32_t *)&tp->magic = 0;
	lwstp_unlock(&tp->lock);
	lwstp_unlock(&tp->hub->lock);

	lwstp_tasks_free_list(&to_free);

	lwsl_info("lwstp: %s: destroyed\n", tp->name);
	lwstp_hub_unref(tp->hub);
	pool_free_sync(tp);
	free(tp);
}

int
lwstp_get_stats(struct lws_threadpool *tp, struct lwstp_stats *st)
{
	if (pool_check(tp, __func__) || !st)
		return LWSTP_E_INVAL;

	lwstp_lock(&tp->lock);
	*st = tp->st;
	st->threads = tp->live_threads;
	st->idle = tp->idle;
	st->queued = (int)tp->pending.count;
	st->running = (int)tp->running.count;
	st->syncing = tp->syncing;
	st->done_waiting = (int)tp->done.count;
	lwstp_unlock(&tp->lock);

	return LWSTP_OK;
}

/*
 * lws_threadpool_dump(): a snapshot taken under tp->lock and logged after
 * it is dropped (the log emit function is user code), at LLL_INFO, so that
 * a dump once a second, as upstream's example does, stays out of the
 * default log level.  At most LWSTP_DUMP_TASKS tasks are listed.
 */
#define LWSTP_DUMP_TASKS	32

struct dump_task {
	const char	*where;
	uint32_t	id;
	uint8_t		status;
	char		detached;
	lws_usec_t	age_us;
	char		name[LWSTP_NAME_LEN];
};

static int
__dump_take(lws_dll2_owner_t *owner, const char *where, struct dump_task *dt,
	    int n, lws_usec_t now)
{
	lws_start_foreach_dll(struct lws_dll2 *, d, owner->head) {
		struct lws_threadpool_task *t = lws_container_of(d,
					struct lws_threadpool_task, list);

		if (n == LWSTP_DUMP_TASKS)
			break;
		dt[n].where = where;
		dt[n].id = t->id;
		dt[n].status = t->status;
		dt[n].detached = !t->conn;
		dt[n].age_us = now - t->t_queued;
		lws_strncpy(dt[n].name, t->name, sizeof(dt[n].name));
		n++;
	} lws_end_foreach_dll(d);

	return n;
}

void
lws_threadpool_dump(struct lws_threadpool *tp)
{
	struct dump_task dt[LWSTP_DUMP_TASKS];
	int threads, idle, queued, running, syncing, done, n = 0, i;
	lws_usec_t now = lws_now_usecs();
	struct lwstp_stats st;

	/* _lws_log(): lwsl_info() is compiled in only with _DEBUG */
	if (pool_check(tp, __func__) || !lwsl_visible(LLL_INFO))
		return;

	lwstp_lock(&tp->lock);
	threads = tp->live_threads;
	idle = tp->idle;
	queued = (int)tp->pending.count;
	running = (int)tp->running.count;
	syncing = tp->syncing;
	done = (int)tp->done.count;
	st = tp->st;
	n = __dump_take(&tp->pending, "queued ", dt, n, now);
	n = __dump_take(&tp->running, "running", dt, n, now);
	n = __dump_take(&tp->done, "done   ", dt, n, now);
	lwstp_unlock(&tp->lock);

	_lws_log(LLL_INFO, "lwstp: %s: %d threads (%d idle), %d queued, %d running (%d "
		  "syncing), %d done; totals: %llu enqueued, %llu finished, "
		  "%llu stopped, %llu rejected\n", tp->name, threads, idle,
		  queued, running, syncing, done,
		  (unsigned long long)st.enqueued,
		  (unsigned long long)st.finished,
		  (unsigned long long)st.stopped,
		  (unsigned long long)(st.rejected_full +
				       st.rejected_shutdown));
	for (i = 0; i < n; i++)
		_lws_log(LLL_INFO, "lwstp: %s:   %s task %u (%s) %s%s, age %llu ms\n",
			  tp->name, dt[i].where, dt[i].id, dt[i].name,
			  lwstp_status_name(dt[i].status),
			  dt[i].detached ? " detached" : "",
			  (unsigned long long)dt[i].age_us / 1000);
	if (queued + running + done > n)
		_lws_log(LLL_INFO, "lwstp: %s:   and %d more tasks\n", tp->name,
			  queued + running + done - n);
}

void
lws_threadpool_diagnose(struct lws_threadpool *tp, int *ongoing,
			int *possible, int *queue_depth)
{
	int o = 0, p = 0, q = 0;

	if (!pool_check(tp, __func__)) {
		lwstp_lock(&tp->lock);
		o = (int)tp->running.count;
		p = tp->threads;
		q = (int)tp->pending.count;
		lwstp_unlock(&tp->lock);
	}
	if (ongoing)
		*ongoing = o;
	if (possible)
		*possible = p;
	if (queue_depth)
		*queue_depth = q;
}

int
lwstp_self_check(struct lws_threadpool *tp)
{
	int busy = 0, running, idle, live, n, bad = 0;

	if (pool_check(tp, __func__))
		return LWSTP_E_INVAL;

	lwstp_lock(&tp->lock);
	for (n = 0; n < tp->threads; n++)
		busy += !!tp->workers[n].task;
	running = (int)tp->running.count;
	idle = tp->idle;
	live = tp->live_threads;
	lwstp_unlock(&tp->lock);

	if (busy != running) {
		lwsl_err("lwstp: %s: %d workers busy but %d tasks running\n",
			 tp->name, busy, running);
		bad++;
	}
	if (idle + busy > live) {
		lwsl_err("lwstp: %s: %d idle + %d busy > %d threads\n",
			 tp->name, idle, busy, live);
		bad++;
	}

	return bad;
}
