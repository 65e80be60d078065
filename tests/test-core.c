/*
 * Deterministic unit tests of the lws_threadpool API on a real lws context.
 *
 * Task functions are held on a condition (struct h_task) so each test puts
 * tasks in the exact state it is about, then asserts every transition,
 * return code and cleanup.
 */

#define _GNU_SOURCE
#include "harness.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define RUN	LWS_TP_STATUS_RUNNING
#define STOPPING LWS_TP_STATUS_STOPPING
#define R_CHECK	LWS_TP_RETURN_CHECKING_IN
#define R_SYNC	LWS_TP_RETURN_SYNC
#define R_FIN	LWS_TP_RETURN_FINISHED
#define R_STOP	LWS_TP_RETURN_STOPPED
#define R_OUT	LWS_TP_RETURN_FLAG_OUTLIVE

static struct h H;
static const char *evlib;	/* NULL: lws's own poll loop */

static struct lws_threadpool *
pool(int threads, int depth, unsigned int sync_ms)
{
	struct lwstp_create_args a;
	struct lws_threadpool *tp;

	memset(&a, 0, sizeof(a));
	a.threads = threads;
	a.max_queue_depth = depth;
	a.sync_timeout_ms = sync_ms;
	tp = lwstp_create(H.cx, &a, "test-%d-%d", threads, depth);
	CHECK(tp != NULL);

	return tp;
}

static struct lwstp_stats
stats(struct lws_threadpool *tp)
{
	struct lwstp_stats st;

	CHECK_EQ(lwstp_get_stats(tp, &st), LWSTP_OK);

	return st;
}

static int
enqueue(struct lws_threadpool *tp, struct h_task *t, struct lws *wsi)
{
	struct lws_threadpool_task_args a;

	h_task_args(t, wsi, &a);

	return lwstp_enqueue(tp, &a, &t->handle, "task-%p", (void *)t);
}

/* every worker is parked waiting for work (so max_queue_depth 0 accepts) */
static void
wait_idle(struct lws_threadpool *tp, int n)
{
	struct lwstp_stats st;
	int i;

	for (i = 0; i < 10000000; i++) {
		lwstp_get_stats(tp, &st);
		if (st.idle >= n)
			break;
		sched_yield();
	}
	CHECK_EQ(stats(tp).idle, n);
}

/* --- predicates for h_service_until() --- */

static int want_writables;

static int
writables_at_least(void *arg)
{
	return ((struct h_conn *)arg)->writables >= want_writables;
}

static void
service_writables(struct h_conn *c, int n)
{
	want_writables = n;
	h_service_until(&H, writables_at_least, c);
}

/* generic writable handler: ack every SYNC, reap every ended task */
struct reaper {
	int reaped, acked, other;
	int last_status;
};

static int
reap_one(struct lws_threadpool_task *task, void *user)
{
	struct reaper *r = user;
	void *u;
	int s = lws_threadpool_task_status(task, &u);

	r->last_status = s;
	if (s == LWS_TP_STATUS_SYNCING) {
		r->acked++;
		lws_threadpool_task_sync(task, 0);
	} else if (s == LWS_TP_STATUS_FINISHED || s == LWS_TP_STATUS_STOPPED)
		r->reaped++;
	else
		r->other++;

	return 0;
}

static void
on_writable_reap(struct h_conn *c)
{
	lws_threadpool_foreach_task_wsi(c->wsi, c->priv, reap_one);
}

/* ------------------------------------------------------------------ */

static void
test_create_invalid(void)
{
	struct lws_threadpool_create_args a = { 1, 1 };
	struct lwstp_create_args b;

	CHECK(!lws_threadpool_create(NULL, &a, "x"));
	CHECK(!lws_threadpool_create(H.cx, NULL, "x"));
	a.threads = 0;
	CHECK(!lws_threadpool_create(H.cx, &a, "x"));
	a.threads = -3;
	CHECK(!lws_threadpool_create(H.cx, &a, "x"));
	a.threads = INT_MAX;	/* more than kernel.threads-max */
	CHECK(!lws_threadpool_create(H.cx, &a, "x"));
	a.threads = 1;
	a.max_queue_depth = -1;
	CHECK(!lws_threadpool_create(H.cx, &a, "x"));

	memset(&b, 0, sizeof(b));
	b.threads = 1;
	b.worker_nice = 20;
	CHECK(!lwstp_create(H.cx, &b, "x"));
	b.worker_nice = -1;
	CHECK(!lwstp_create(H.cx, &b, "x"));

	/* NULL handles are refused with a log line, not a crash */
	lws_threadpool_finish(NULL);
	lws_threadpool_destroy(NULL);
	lws_threadpool_dump(NULL);
	lws_threadpool_task_sync(NULL, 0);
	CHECK_EQ(lws_threadpool_dequeue_task(NULL), 0);
	CHECK_EQ(lws_threadpool_task_status(NULL, NULL), LWS_TP_STATUS_STOPPED);
	CHECK_EQ(lws_threadpool_task_status_noreap(NULL),
		 LWS_TP_STATUS_STOPPED);
	CHECK(!lws_threadpool_get_task_wsi(NULL));
	CHECK_EQ(lws_threadpool_foreach_task_wsi(NULL, NULL, reap_one), 0);
	CHECK_EQ(lwstp_get_stats(NULL, NULL), LWSTP_E_INVAL);
	CHECK(strcmp(lwstp_strerror(LWSTP_E_QUEUE_FULL), "queue full") == 0);
}

static void
test_enqueue_invalid(void)
{
	struct lws_threadpool *tp = pool(1, 4, 0);
	struct h_conn *c = h_conn(&H, 1), *p = h_conn(&H, 0);
	struct lws_threadpool_task_args a;
	struct lws_threadpool_task *task = (void *)1;
	struct h_task t;

	h_task_init(&t, R_FIN, 1);
	h_task_args(&t, c->wsi, &a);

	CHECK(!lws_threadpool_enqueue(NULL, &a, "x"));
	CHECK_EQ(lwstp_enqueue(NULL, &a, &task, "x"), LWSTP_E_INVAL);
	CHECK(task == NULL);
	CHECK_EQ(lwstp_enqueue(tp, NULL, NULL, "x"), LWSTP_E_INVAL);
	a.task = NULL;
	CHECK_EQ(lwstp_enqueue(tp, &a, NULL, "x"), LWSTP_E_INVAL);
	h_task_args(&t, NULL, &a);
	CHECK_EQ(lwstp_enqueue(tp, &a, NULL, "x"), LWSTP_E_INVAL);

	/* a vhost whose protocols[0] lacks the hook is refused */
	h_task_args(&t, p->wsi, &a);
	CHECK(!lws_threadpool_enqueue(tp, &a, "x"));
	CHECK_EQ(lwstp_enqueue(tp, &a, NULL, "x"), LWSTP_E_NO_INTEGRATION);

	/* nothing was queued, nothing cleaned up: user still ours */
	CHECK_EQ(stats(tp).enqueued, 0);
	CHECK_EQ(t.cleanups, 0);
	CHECK_EQ(t.calls, 0);

	lws_threadpool_finish(tp);
	lws_threadpool_destroy(tp);
	CHECK_EQ(t.cleanups, 0);
	h_task_fini(&t);
	h_conn_free(c);
	h_conn_free(p);
}

/* QUEUED -> RUNNING -> SYNCING -> RUNNING -> FINISHED -> reaped */
static int lc_status_in_writable[4], lc_n;

static void
lc_writable(struct h_conn *c)
{
	struct h_task *t = c->priv;
	void *user = NULL;
	int s = lws_threadpool_task_status(t->handle, &user);

	CHECK(user == t);
	if (lc_n < 4)
		lc_status_in_writable[lc_n++] = s;
	if (s == LWS_TP_STATUS_SYNCING)
		lws_threadpool_task_sync(t->handle, 0);
}

static void
test_lifecycle(void)
{
	struct lws_threadpool *tp = pool(1, 1, 0);
	struct h_conn *c = h_conn(&H, 1);
	struct h_task hold, t;

	/* keep the only worker busy so t is seen QUEUED */
	h_task_init(&hold, R_FIN, 0);
	h_task_init(&t, R_FIN, 0);
	h_task_script(&t, 2, R_SYNC, R_FIN);
	CHECK_EQ(enqueue(tp, &hold, c->wsi), LWSTP_OK);
	h_task_wait_calls(&hold, 1);
	CHECK_EQ(enqueue(tp, &t, c->wsi), LWSTP_OK);
	CHECK_EQ(lws_threadpool_task_status_noreap(t.handle),
		 LWS_TP_STATUS_QUEUED);
	CHECK(lws_threadpool_get_task_wsi(c->wsi) == hold.handle);
	CHECK(strcmp(lwstp_task_name(t.handle), "") != 0);
	CHECK_EQ(stats(tp).queued, 1);
	CHECK_EQ(stats(tp).running, 1);

	/* hold finishes; t runs */
	h_task_allow(&hold, 1);
	h_task_wait_calls(&t, 1);
	CHECK_EQ(t.status[0], RUN);
	CHECK_EQ(lws_threadpool_task_status_noreap(t.handle), RUN);

	/* hold is done: its writable reaps it */
	service_writables(c, 1);
	CHECK_EQ(lws_threadpool_task_status(hold.handle, NULL),
		 LWS_TP_STATUS_FINISHED);
	CHECK_EQ(hold.cleanups, 1);
	CHECK(hold.cleanup_wsi == c->wsi);
	CHECK(!hold.cleanup_on_worker);
	CHECK(lws_threadpool_get_task_wsi(c->wsi) == t.handle);

	/* t SYNCs: one writable, where it is SYNCING; the ack resumes it */
	c->priv = &t;
	c->on_writable = lc_writable;
	c->writables = 0;
	h_task_allow(&t, 1);
	service_writables(c, 1);
	CHECK_EQ(lc_status_in_writable[0], LWS_TP_STATUS_SYNCING);
	h_task_wait_calls(&t, 2);
	CHECK_EQ(t.status[1], RUN);

	/* t finishes: one more writable, where it is reaped */
	h_task_allow(&t, 1);
	service_writables(c, 2);
	CHECK_EQ(lc_status_in_writable[1], LWS_TP_STATUS_FINISHED);
	CHECK_EQ(h_task_get(&t, &t.cleanups), 1);
	CHECK(t.cleanup_wsi == c->wsi);
	CHECK(!lws_threadpool_get_task_wsi(c->wsi));
	CHECK_EQ(stats(tp).finished, 2);
	CHECK_EQ(stats(tp).reaped, 2);
	CHECK_EQ(stats(tp).syncs, 1);
	CHECK_EQ(stats(tp).done_waiting, 0);

	lws_threadpool_finish(tp);
	lws_threadpool_destroy(tp);
	CHECK_EQ(t.cleanups, 1);
	CHECK_EQ(hold.cleanups, 1);
	h_task_fini(&t);
	h_task_fini(&hold);
	h_conn_free(c);
}

static int
three_reaped(void *arg)
{
	return ((struct reaper *)arg)->reaped >= 3;
}

static void
test_queue_full(void)
{
	struct lws_threadpool *tp = pool(1, 2, 0), *tp0;
	struct h_conn *c = h_conn(&H, 1);
	struct h_task t[5];
	struct reaper r;
	int i;

	for (i = 0; i < 5; i++)
		h_task_init(&t[i], R_FIN, 0);

	CHECK_EQ(enqueue(tp, &t[0], c->wsi), LWSTP_OK);
	h_task_wait_calls(&t[0], 1);
	CHECK_EQ(enqueue(tp, &t[1], c->wsi), LWSTP_OK);
	CHECK_EQ(enqueue(tp, &t[2], c->wsi), LWSTP_OK);
	CHECK_EQ(enqueue(tp, &t[3], c->wsi), LWSTP_E_QUEUE_FULL);
	CHECK(t[3].handle == NULL);
	CHECK_EQ(stats(tp).rejected_full, 1);
	CHECK_EQ(stats(tp).queued, 2);

	/* the accepted ones all run and are reaped; the refused never */
	memset(&r, 0, sizeof(r));
	c->priv = &r;
	c->on_writable = on_writable_reap;
	for (i = 0; i < 3; i++)
		h_task_allow(&t[i], 1);
	h_service_until(&H, three_reaped, &r);
	CHECK_EQ(r.reaped, 3);
	for (i = 0; i < 3; i++)
		CHECK_EQ(t[i].cleanups, 1);
	CHECK_EQ(t[3].calls, 0);
	CHECK_EQ(t[3].cleanups, 0);
	lws_threadpool_finish(tp);
	lws_threadpool_destroy(tp);

	/* depth 0: accepted only while a worker is idle */
	tp0 = pool(1, 0, 0);
	wait_idle(tp0, 1);
	CHECK_EQ(enqueue(tp0, &t[4], c->wsi), LWSTP_OK);
	CHECK_EQ(enqueue(tp0, &t[3], c->wsi), LWSTP_E_QUEUE_FULL);
	h_task_allow(&t[4], 1);
	lws_threadpool_finish(tp0);
	lws_threadpool_destroy(tp0);
	CHECK_EQ(t[4].cleanups, 1);
	CHECK_EQ(t[3].cleanups, 0);

	for (i = 0; i < 5; i++)
		h_task_fini(&t[i]);
	h_conn_free(c);
}

/*
 * Dequeue, or close the wsi, with tasks in each state.  by_close selects
 * which; the outcome must be the same.
 */
static void
detach_matrix(int by_close)
{
	struct lws_threadpool *tp = pool(1, 8, 0);
	struct h_conn *c[5];
	struct h_task run, q, sync, done, out;
	int i;

	for (i = 0; i < 5; i++)
		c[i] = h_conn(&H, 1);
	h_task_init(&run, R_STOP, 0);
	h_task_script(&run, 1, R_CHECK);
	h_task_init(&q, R_FIN, 0);
	h_task_init(&sync, R_STOP, 0);
	h_task_script(&sync, 1, R_SYNC);
	h_task_init(&done, R_FIN, 1);
	h_task_init(&out, R_FIN, 0);
	h_task_script(&out, 2, R_CHECK | R_OUT, R_SYNC);

	/* done: finished, writable seen, never reaped */
	CHECK_EQ(enqueue(tp, &done, c[3]->wsi), LWSTP_OK);
	service_writables(c[3], 1);
	CHECK_EQ(stats(tp).done_waiting, 1);

	/* run: on the worker; q: queued behind it */
	CHECK_EQ(enqueue(tp, &run, c[0]->wsi), LWSTP_OK);
	h_task_wait_calls(&run, 1);
	CHECK_EQ(enqueue(tp, &q, c[1]->wsi), LWSTP_OK);

	/* queued: ends now, cleanup on this thread with the wsi */
	if (by_close)
		h_close(c[1]);
	else
		CHECK_EQ(lws_threadpool_dequeue_task(q.handle), 0);
	CHECK_EQ(q.cleanups, 1);
	CHECK(q.cleanup_wsi != NULL);
	CHECK(!q.cleanup_on_worker);
	CHECK_EQ(q.calls, 0);
	CHECK_EQ(stats(tp).queued, 0);

	/* done: freed now, cleanup with the wsi */
	if (by_close)
		h_close(c[3]);
	else
		CHECK_EQ(lws_threadpool_dequeue_task(done.handle), 0);
	CHECK_EQ(h_task_get(&done, &done.cleanups), 1);
	CHECK(done.cleanup_wsi != NULL);
	CHECK_EQ(stats(tp).done_waiting, 0);

	/* running: asked to stop, worker frees it with cleanup(NULL) */
	if (by_close)
		h_close(c[0]);
	else
		CHECK_EQ(lws_threadpool_dequeue_task(run.handle), 1);
	CHECK(!lws_threadpool_get_task_wsi(by_close ? NULL : c[0]->wsi));
	h_task_allow(&run, 2);		/* CHECKING_IN is not in script */
	h_task_wait_cleanups(&run, 1);
	CHECK_EQ(run.status[0], RUN);
	CHECK_EQ(run.status[1], STOPPING);
	CHECK(run.cleanup_wsi == NULL);
	CHECK(run.cleanup_on_worker);
	CHECK_EQ(run.cleanups, 1);

	/* syncing: woken with STOPPING */
	CHECK_EQ(enqueue(tp, &sync, c[2]->wsi), LWSTP_OK);
	h_task_allow(&sync, 1);
	service_writables(c[2], 1);
	CHECK_EQ(lws_threadpool_task_status_noreap(sync.handle),
		 LWS_TP_STATUS_SYNCING);
	CHECK_EQ(stats(tp).syncing, 1);
	if (by_close)
		h_close(c[2]);
	else
		CHECK_EQ(lws_threadpool_dequeue_task(sync.handle), 1);
	h_task_wait_calls(&sync, 2);
	CHECK_EQ(sync.status[1], STOPPING);
	h_task_allow(&sync, 1);
	h_task_wait_cleanups(&sync, 1);
	CHECK(sync.cleanup_wsi == NULL);

	/* outliving: detached but not stopped; a SYNC without wsi is skipped */
	CHECK_EQ(enqueue(tp, &out, c[4]->wsi), LWSTP_OK);
	h_task_allow(&out, 1);
	h_task_wait_calls(&out, 2);
	if (by_close)
		h_close(c[4]);
	else
		CHECK_EQ(lws_threadpool_dequeue_task(out.handle), 1);
	CHECK_EQ(stats(tp).detached, 3);	/* run, sync, out */
	h_task_allow(&out, 2);
	h_task_wait_calls(&out, 3);
	CHECK_EQ(out.status[1], RUN);
	CHECK_EQ(out.status[2], RUN);
	h_task_allow(&out, 1);
	h_task_wait_cleanups(&out, 1);
	CHECK(out.cleanup_wsi == NULL);
	CHECK_EQ(out.calls, 3);

	lws_threadpool_finish(tp);
	lws_threadpool_destroy(tp);

	CHECK_EQ(run.cleanups + q.cleanups + sync.cleanups + done.cleanups +
		 out.cleanups, 5);
	h_task_fini(&run);
	h_task_fini(&q);
	h_task_fini(&sync);
	h_task_fini(&done);
	h_task_fini(&out);
	for (i = 0; i < 5; i++)
		h_conn_free(c[i]);
}

static void
test_dequeue_each_state(void)
{
	detach_matrix(0);
}

static void
test_close_each_state(void)
{
	detach_matrix(1);
}

/* async_task: a queued task survives its wsi and runs detached */
static void
test_async_task_queued(void)
{
	struct lws_threadpool *tp = pool(1, 4, 0);
	struct h_conn *c = h_conn(&H, 1), *c2 = h_conn(&H, 1);
	struct lws_threadpool_task_args a;
	struct h_task hold, t;

	h_task_init(&hold, R_FIN, 0);
	h_task_init(&t, R_SYNC, 0);
	h_task_script(&t, 2, R_SYNC, R_FIN);
	CHECK_EQ(enqueue(tp, &hold, c2->wsi), LWSTP_OK);
	h_task_wait_calls(&hold, 1);
	h_task_args(&t, c->wsi, &a);
	a.async_task = 1;
	CHECK_EQ(lwstp_enqueue(tp, &a, &t.handle, "async"), LWSTP_OK);
	h_close(c);
	CHECK_EQ(t.cleanups, 0);
	CHECK_EQ(stats(tp).queued, 1);
	h_task_allow(&hold, 1);
	h_task_allow(&t, 2);
	h_task_wait_cleanups(&t, 1);
	CHECK_EQ(t.status[0], RUN);
	CHECK_EQ(t.status[1], RUN);
	CHECK(t.cleanup_wsi == NULL);

	lws_threadpool_finish(tp);
	lws_threadpool_destroy(tp);
	CHECK_EQ(hold.cleanups, 1);
	CHECK_EQ(t.cleanups, 1);
	h_task_fini(&hold);
	h_task_fini(&t);
	h_conn_free(c);
	h_conn_free(c2);
}

static void
test_finish_destroy_each_state(void)
{
	struct lws_threadpool *tp = pool(2, 8, 0);
	struct h_conn *c = h_conn(&H, 1);
	struct h_task run, sync, done, q[3], late;
	int i;

	h_task_init(&run, R_STOP, 0);
	h_task_script(&run, 1, R_CHECK);
	h_task_init(&sync, R_STOP, 0);
	h_task_script(&sync, 1, R_SYNC);
	h_task_init(&done, R_FIN, 1);
	h_task_init(&late, R_FIN, 1);
	for (i = 0; i < 3; i++)
		h_task_init(&q[i], R_FIN, 0);

	CHECK_EQ(enqueue(tp, &done, c->wsi), LWSTP_OK);
	service_writables(c, 1);
	CHECK_EQ(enqueue(tp, &run, c->wsi), LWSTP_OK);
	CHECK_EQ(enqueue(tp, &sync, c->wsi), LWSTP_OK);
	h_task_wait_calls(&run, 1);
	h_task_allow(&sync, 1);
	h_task_wait_calls(&sync, 1);
	for (i = 0; i < 3; i++)
		CHECK_EQ(enqueue(tp, &q[i], c->wsi), LWSTP_OK);
	c->writables = 0;
	service_writables(c, 1);	/* sync is waiting */
	CHECK_EQ(stats(tp).syncing, 1);
	CHECK_EQ(stats(tp).queued, 3);
	CHECK_EQ(stats(tp).done_waiting, 1);

	lws_threadpool_finish(tp);

	/* every queued task is STOPPED at once, none ran */
	CHECK_EQ(stats(tp).queued, 0);
	CHECK_EQ(stats(tp).done_waiting, 4);
	for (i = 0; i < 3; i++) {
		CHECK_EQ(lws_threadpool_task_status_noreap(q[i].handle),
			 LWS_TP_STATUS_STOPPED);
		CHECK_EQ(q[i].calls, 0);
	}
	/* the syncing task is woken with STOPPING */
	h_task_wait_calls(&sync, 2);
	CHECK_EQ(sync.status[1], STOPPING);
	/* the running one is told to stop when it checks in */
	h_task_allow(&run, 1);
	h_task_wait_calls(&run, 2);
	CHECK_EQ(run.status[1], STOPPING);

	/* no new work; finish twice is harmless */
	CHECK_EQ(enqueue(tp, &late, c->wsi), LWSTP_E_SHUTTING_DOWN);
	CHECK_EQ(stats(tp).rejected_shutdown, 1);
	lws_threadpool_finish(tp);

	/* reaping still works after finish */
	CHECK_EQ(lws_threadpool_task_status(q[0].handle, NULL),
		 LWS_TP_STATUS_STOPPED);
	CHECK_EQ(q[0].cleanups, 1);

	h_task_allow(&run, 1);
	h_task_allow(&sync, 1);
	lws_threadpool_destroy(tp);

	/* destroy ran every remaining cleanup exactly once */
	CHECK_EQ(run.cleanups, 1);
	CHECK_EQ(sync.cleanups, 1);
	CHECK_EQ(done.cleanups, 1);
	for (i = 0; i < 3; i++)
		CHECK_EQ(q[i].cleanups, 1);
	CHECK_EQ(late.cleanups, 0);
	CHECK(!lws_threadpool_get_task_wsi(c->wsi));

	h_task_fini(&run);
	h_task_fini(&sync);
	h_task_fini(&done);
	h_task_fini(&late);
	for (i = 0; i < 3; i++)
		h_task_fini(&q[i]);
	h_conn_free(c);
}

/* reaping from inside foreach: itself, and a later task of the same wsi */
struct fe {
	struct lws_threadpool_task *victim;
	int visited, reaped;
};

static int
fe_cb(struct lws_threadpool_task *task, void *user)
{
	struct fe *f = user;

	f->visited++;
	if (f->victim && task != f->victim) {
		CHECK_EQ(lws_threadpool_dequeue_task(f->victim), 0);
		f->victim = NULL;
	}
	if (lws_threadpool_task_status(task, NULL) == LWS_TP_STATUS_FINISHED)
		f->reaped++;

	return 0;
}

static int
done_waiting_is(void *arg)
{
	void **a = arg;
	struct lwstp_stats st;

	lwstp_get_stats(a[0], &st);

	return st.done_waiting == (int)(intptr_t)a[1];
}

static void
test_foreach_reap(void)
{
	struct lws_threadpool *tp = pool(2, 8, 0);
	struct h_conn *c = h_conn(&H, 1);
	struct h_task t[4];
	struct fe f;
	void *arg[2] = { tp, (void *)(intptr_t)4 };
	int i;

	for (i = 0; i < 4; i++) {
		h_task_init(&t[i], R_FIN, 1);
		CHECK_EQ(enqueue(tp, &t[i], c->wsi), LWSTP_OK);
	}
	h_service_until(&H, done_waiting_is, arg);

	memset(&f, 0, sizeof(f));
	f.victim = t[2].handle;
	CHECK_EQ(lws_threadpool_foreach_task_wsi(c->wsi, &f, fe_cb), 0);
	CHECK_EQ(f.visited, 3);		/* t[2] was dequeued before its turn */
	CHECK_EQ(f.reaped, 3);
	for (i = 0; i < 4; i++)
		CHECK_EQ(t[i].cleanups, 1);
	CHECK(!lws_threadpool_get_task_wsi(c->wsi));
	CHECK_EQ(stats(tp).done_waiting, 0);

	lws_threadpool_finish(tp);
	lws_threadpool_destroy(tp);
	for (i = 0; i < 4; i++) {
		CHECK_EQ(t[i].cleanups, 1);
		h_task_fini(&t[i]);
	}
	h_conn_free(c);
}

static void
test_sync_timeout(void)
{
	struct lws_threadpool *tp = pool(1, 1, 50);
	struct h_conn *c = h_conn(&H, 1);
	void *arg[2] = { tp, (void *)(intptr_t)1 };
	struct h_task t;

	h_task_init(&t, R_STOP, 0);
	h_task_script(&t, 1, R_SYNC);
	CHECK_EQ(enqueue(tp, &t, c->wsi), LWSTP_OK);
	h_task_allow(&t, 1);
	/* nobody calls task_sync: the timeout tells it to stop */
	h_task_wait_calls(&t, 2);
	CHECK_EQ(t.status[1], STOPPING);
	CHECK_EQ(stats(tp).sync_timeouts, 1);
	h_task_allow(&t, 1);
	h_service_until(&H, done_waiting_is, arg);
	CHECK_EQ(lws_threadpool_task_status(t.handle, NULL),
		 LWS_TP_STATUS_STOPPED);
	CHECK_EQ(t.cleanups, 1);

	lws_threadpool_finish(tp);
	lws_threadpool_destroy(tp);
	h_task_fini(&t);
	h_conn_free(c);
}

/* many SYNC round trips: each exactly one writable, no ack lost */
#define ROUNDS 3000
struct pp {
	int n;
	struct lws_threadpool_task *handle;
	int not_syncing, reaped;
};

static enum lws_threadpool_task_return
pp_task(void *user, enum lws_threadpool_task_status s)
{
	struct pp *p = user;

	if (s != LWS_TP_STATUS_RUNNING)
		return LWS_TP_RETURN_STOPPED;

	return ++p->n > ROUNDS ? LWS_TP_RETURN_FINISHED : LWS_TP_RETURN_SYNC;
}

static void
pp_writable(struct h_conn *c)
{
	struct pp *p = c->priv;
	int s;

	if (p->reaped) {
		p->not_syncing++;
		return;
	}
	s = lws_threadpool_task_status(p->handle, NULL);
	if (s == LWS_TP_STATUS_SYNCING)
		lws_threadpool_task_sync(p->handle, 0);
	else if (s == LWS_TP_STATUS_FINISHED)
		p->reaped = 1;
	else
		p->not_syncing++;
}

static int
pp_reaped(void *arg)
{
	return ((struct pp *)arg)->reaped;
}

static void
test_sync_pingpong(void)
{
	struct lws_threadpool *tp = pool(2, 4, 0);
	struct h_conn *c = h_conn(&H, 1);
	struct lws_threadpool_task_args a;
	struct pp p;
	struct lwstp_stats st;

	memset(&p, 0, sizeof(p));
	memset(&a, 0, sizeof(a));
	a.wsi = c->wsi;
	a.user = &p;
	a.task = pp_task;
	c->priv = &p;
	c->on_writable = pp_writable;
	CHECK_EQ(lwstp_enqueue(tp, &a, &p.handle, "pingpong"), LWSTP_OK);
	h_service_until(&H, pp_reaped, &p);
	CHECK_EQ(p.n, ROUNDS + 1);
	CHECK_EQ(c->writables, ROUNDS + 1);
	CHECK_EQ(p.not_syncing, 0);
	st = stats(tp);
	CHECK_EQ(st.syncs, ROUNDS);
	CHECK_EQ(st.sync_timeouts, 0);
	CHECK(lwstp_hist_percentile(st.sync_wait_us, 50) > 0);

	lws_threadpool_finish(tp);
	lws_threadpool_destroy(tp);
	h_conn_free(c);
}

static void
test_bad_return_and_sync_misuse(void)
{
	struct lws_threadpool *tp = pool(1, 1, 0);
	struct h_conn *c = h_conn(&H, 1);
	struct h_task t;

	h_task_init(&t, 17, 0);	/* not a lws_threadpool_task_return */
	CHECK_EQ(enqueue(tp, &t, c->wsi), LWSTP_OK);
	h_task_wait_calls(&t, 1);
	/* task_sync on a task that is not syncing: warned, ignored */
	lws_threadpool_task_sync(t.handle, 0);
	CHECK_EQ(lws_threadpool_task_status_noreap(t.handle), RUN);
	h_task_allow(&t, 1);
	service_writables(c, 1);
	CHECK_EQ(lws_threadpool_task_status(t.handle, NULL),
		 LWS_TP_STATUS_STOPPED);
	CHECK_EQ(t.calls, 1);
	CHECK_EQ(t.cleanups, 1);

	lws_threadpool_finish(tp);
	lws_threadpool_destroy(tp);
	h_task_fini(&t);
	h_conn_free(c);
}

/* worker_nice and worker_sched_idle reach the worker threads */
static int sched_seen = -1, nice_seen = -100;

static enum lws_threadpool_task_return
sched_task(void *user, enum lws_threadpool_task_status s)
{
	sched_seen = sched_getscheduler(0);
	nice_seen = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));

	return LWS_TP_RETURN_FINISHED;
}

static void
test_worker_priority(void)
{
	struct lws_threadpool_task_args a;
	struct lwstp_create_args ca;
	struct lws_threadpool *tp;
	struct h_conn *c = h_conn(&H, 1);
	int base = getpriority(PRIO_PROCESS, 0);
	void *arg[2];

	memset(&ca, 0, sizeof(ca));
	ca.threads = 1;
	ca.max_queue_depth = 1;
	ca.worker_nice = 5;
	ca.worker_sched_idle = 1;
	tp = lwstp_create(H.cx, &ca, "prio");
	CHECK(tp != NULL);
	arg[0] = tp;
	arg[1] = (void *)(intptr_t)1;
	memset(&a, 0, sizeof(a));
	a.wsi = c->wsi;
	a.task = sched_task;
	CHECK_EQ(lwstp_enqueue(tp, &a, NULL, "prio"), LWSTP_OK);
	h_service_until(&H, done_waiting_is, arg);
	CHECK_EQ(sched_seen, SCHED_IDLE);
	CHECK_EQ(nice_seen, base + 5 > 19 ? 19 : base + 5);
	lws_threadpool_finish(tp);
	lws_threadpool_destroy(tp);

	/*
	 * worker_nice is added to the creating thread's nice value, not set:
	 * from a thread at base + 3 the workers run at base + 8
	 */
	ca.worker_sched_idle = 0;
	CHECK(!setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), base + 3));
	tp = lwstp_create(H.cx, &ca, "prio");
	CHECK(tp != NULL);
	arg[0] = tp;
	CHECK_EQ(lwstp_enqueue(tp, &a, NULL, "prio"), LWSTP_OK);
	h_service_until(&H, done_waiting_is, arg);
	CHECK_EQ(nice_seen, base + 8 > 19 ? 19 : base + 8);
	lws_threadpool_destroy(tp);
	/* back (lowering nice needs root; without it we stay at base + 3) */
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), base);

	ca.worker_sched_idle = 2;
	CHECK(!lwstp_create(H.cx, &ca, "prio"));
	h_conn_free(c);
}

/* the deprecated single-task wsi helpers */
static void
test_deprecated(void)
{
	struct lws_threadpool *tp = pool(1, 2, 0);
	struct h_conn *c = h_conn(&H, 1);
	struct lws_threadpool_task *task = (void *)1;
	struct h_task t, t2;
	void *user;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	CHECK_EQ(lws_threadpool_task_status_wsi(c->wsi, &task, &user),
		 LWS_TP_STATUS_FINISHED);
	CHECK(task == NULL);
	CHECK_EQ(lws_threadpool_dequeue(c->wsi), 0);

	h_task_init(&t, R_FIN, 1);
	h_task_init(&t2, R_FIN, 0);
	CHECK_EQ(enqueue(tp, &t, c->wsi), LWSTP_OK);
	service_writables(c, 1);
	CHECK_EQ(lws_threadpool_task_status_wsi(c->wsi, &task, &user),
		 LWS_TP_STATUS_FINISHED);
	CHECK(task == t.handle);
	CHECK(user == &t);
	CHECK_EQ(t.cleanups, 1);

	CHECK_EQ(enqueue(tp, &t2, c->wsi), LWSTP_OK);
	h_task_wait_calls(&t2, 1);
	CHECK_EQ(lws_threadpool_dequeue(c->wsi), 1);
	h_task_allow(&t2, 2);
	h_task_wait_cleanups(&t2, 1);
#pragma GCC diagnostic pop

	lws_threadpool_finish(tp);
	lws_threadpool_destroy(tp);
	h_task_fini(&t);
	h_task_fini(&t2);
	h_conn_free(c);
}

/*
 * lws_threadpool_diagnose(), as lws main has it; lws_threadpool_dump()
 * logs at INFO only (upstream's example dumps once a second), never with a
 * library lock held: the emit function here takes the pool lock.
 */
static struct lws_threadpool *dump_tp;
static int dump_lines;

static void
dump_emit(int level, const char *line)
{
	struct lwstp_stats st;

	dump_lines++;
	if (dump_tp)
		lwstp_get_stats(dump_tp, &st);	/* deadlocks under tp->lock */
}

static void
test_diagnose_dump(void)
{
	struct lws_threadpool *tp = pool(2, 8, 0);
	struct h_conn *c = h_conn(&H, H_CONN_HOOKED);
	struct h_task run, q;
	int o = -1, p = -1, d = -1;

	h_task_init(&run, R_FIN, 0);
	h_task_init(&q, R_FIN, 0);
	CHECK_EQ(enqueue(tp, &run, c->wsi), LWSTP_OK);
	h_task_wait_calls(&run, 1);
	lws_threadpool_diagnose(tp, &o, &p, &d);
	CHECK_EQ(o, 1);
	CHECK_EQ(p, 2);
	CHECK_EQ(d, 0);
	CHECK_EQ(lwstp_self_check(tp), 0);

	dump_tp = tp;
	lws_set_log_level(LLL_ERR | LLL_WARN | LLL_NOTICE, dump_emit);
	dump_lines = 0;
	lws_threadpool_dump(tp);
	CHECK_EQ(dump_lines, 0);	/* nothing at the default levels */
	lws_set_log_level(LLL_ERR | LLL_WARN | LLL_NOTICE | LLL_INFO,
			  dump_emit);
	lws_threadpool_dump(tp);
	CHECK_EQ(dump_lines, 2);	/* the pool, its one task */
	lws_set_log_level(LLL_ERR | LLL_WARN, lwsl_emit_stderr);
	dump_tp = NULL;

	h_task_allow(&run, 1);
	h_task_allow(&q, 1);
	lws_threadpool_destroy(tp);
	h_task_fini(&run);
	h_task_fini(&q);
	h_conn_free(c);
}

static int
one_reaped(void *arg)
{
	return ((struct reaper *)arg)->reaped >= 1;
}

/* two contexts, each with its own pool: each wsi is served by its own */
static void
test_two_contexts(void)
{
	struct lws_threadpool *tp1 = pool(1, 2, 0), *tp2;
	struct lws_threadpool_task_args a;
	struct lwstp_create_args ca;
	struct h_conn *c1, *c2;
	struct reaper r1, r2;
	struct h_task t1, t2;
	struct h H2;

	CHECK_EQ(h_init(&H2, evlib), 0);
	memset(&ca, 0, sizeof(ca));
	ca.threads = 1;
	ca.max_queue_depth = 2;
	tp2 = lwstp_create(H2.cx, &ca, "second");
	CHECK(tp2 != NULL);
	c1 = h_conn(&H, 1);
	c2 = h_conn(&H2, 1);

	h_task_init(&t1, R_FIN, 0);
	h_task_script(&t1, 1, R_SYNC);
	h_task_init(&t2, R_FIN, 0);
	h_task_script(&t2, 1, R_SYNC);

	/* a wsi of one context can not go to the other's pool */
	h_task_args(&t2, c2->wsi, &a);
	CHECK_EQ(lwstp_enqueue(tp1, &a, NULL, "cross"), LWSTP_E_INVAL);

	CHECK_EQ(enqueue(tp1, &t1, c1->wsi), LWSTP_OK);
	CHECK_EQ(enqueue(tp2, &t2, c2->wsi), LWSTP_OK);
	memset(&r1, 0, sizeof(r1));
	memset(&r2, 0, sizeof(r2));
	c1->priv = &r1;
	c1->on_writable = on_writable_reap;
	c2->priv = &r2;
	c2->on_writable = on_writable_reap;
	h_task_allow(&t1, 2);
	h_task_allow(&t2, 2);

	/* each context's service loop sees only its own wsi's writables */
	h_service_until(&H, one_reaped, &r1);
	CHECK_EQ(r1.acked, 1);
	CHECK_EQ(r2.acked + r2.reaped, 0);
	h_service_until(&H2, one_reaped, &r2);
	CHECK_EQ(r2.acked, 1);
	CHECK_EQ(t1.cleanups, 1);
	CHECK_EQ(t2.cleanups, 1);

	lws_threadpool_finish(tp2);
	lws_threadpool_destroy(tp2);
	h_conn_free(c2);
	h_destroy(&H2);

	/* the first context and its pool are untouched */
	CHECK_EQ(stats(tp1).threads, 1);
	lws_threadpool_finish(tp1);
	lws_threadpool_destroy(tp1);
	h_conn_free(c1);
	h_task_fini(&t1);
	h_task_fini(&t2);
}

/* a pool still holding tasks when the lws_context goes away */
static void
test_context_destroy(void)
{
	struct h *h2 = &H;
	struct lws_threadpool *tp;
	struct h_conn *c;
	struct h_task run, q;

	h_task_init(&run, R_STOP, 0);
	h_task_init(&q, R_FIN, 0);
	tp = pool(1, 4, 0);
	c = h_conn(&H, 1);
	CHECK_EQ(enqueue(tp, &run, c->wsi), LWSTP_OK);
	h_task_wait_calls(&run, 1);
	CHECK_EQ(enqueue(tp, &q, c->wsi), LWSTP_OK);

	/* context destroy closes the wsi: q ends now, run is told to stop */
	h_destroy(h2);
	CHECK_EQ(q.cleanups, 1);
	h_task_allow(&run, 2);
	lws_threadpool_finish(tp);
	lws_threadpool_destroy(tp);
	CHECK_EQ(run.cleanups, 1);
	CHECK_EQ(q.calls, 0);
	c->wsi = NULL;
	h_conn_free(c);
	h_task_fini(&run);
	h_task_fini(&q);
}

/*
 * LWS_SYSTATE_POLICY_INVALID is a run-time state too (lws-system.h): after
 * a policy change and back, tasks still get their writables.  (On lws 4.1
 * wake-ups wait while the state is POLICY_INVALID; none is lost.)
 */
static void
test_policy_change(void)
{
	lws_state_manager_t *mgr = lws_system_get_state_manager(H.cx);
	struct lws_threadpool *tp = pool(1, 8, 0);
	struct h_conn *c = h_conn(&H, H_CONN_HOOKED);
	struct reaper r = { 0 };
	struct h_task t, t2;
	int was = mgr->state;

	c->priv = &r;
	c->on_writable = on_writable_reap;
	h_task_init(&t, R_FIN, 1);
	h_task_init(&t2, R_FIN, 1);

	lws_state_transition(mgr, LWS_SYSTATE_POLICY_INVALID);
	CHECK_EQ(enqueue(tp, &t, c->wsi), LWSTP_OK);
	h_task_wait_calls(&t, 1);
	lws_state_transition(mgr, was);
	service_writables(c, 1);
	CHECK_EQ(r.reaped, 1);

	/* and later ones as well */
	CHECK_EQ(enqueue(tp, &t2, c->wsi), LWSTP_OK);
	service_writables(c, 2);
	CHECK_EQ(r.reaped, 2);
	CHECK_EQ(t2.cleanups, 1);

	lws_threadpool_destroy(tp);
	c->on_writable = NULL;
	h_task_fini(&t);
	h_task_fini(&t2);
	h_conn_free(c);
}

/*
 * A pool may outlive its context: destroying it afterwards touches nothing
 * of the freed context (the memory checker run of this test is the proof),
 * and a new context, usually at the same address, starts with a hub of its
 * own, not the dead context's dying one: its tasks get their writables.
 */
static void
test_context_reuse(void)
{
	struct lwstp_create_args ca = { .threads = 1, .max_queue_depth = 4 };
	struct lws_threadpool_task_args a;
	struct lws_threadpool *old_tp, *tp;
	struct lws_context *old_cx;
	struct reaper r = { 0 };
	struct h_conn *c;
	struct h_task t;
	struct h A, B;

	CHECK(!h_init_vhosts(&A, evlib, H_VH_HOOKED));
	old_cx = A.cx;
	old_tp = lwstp_create(A.cx, &ca, "old");
	CHECK(old_tp != NULL);
	c = h_conn(&A, H_CONN_HOOKED);	/* registers the hooked vhost */
	h_conn_free(c);
	h_destroy(&A);			/* the context goes first */

	CHECK(!h_init_vhosts(&B, evlib, H_VH_HOOKED));
	if (B.cx != old_cx)
		printf("  (the new context is not at the old one's address)\n");
	tp = lwstp_create(B.cx, &ca, "new");
	CHECK(tp != NULL);
	c = h_conn(&B, H_CONN_HOOKED);
	c->priv = &r;
	c->on_writable = on_writable_reap;
	h_task_init(&t, R_FIN, 1);
	h_task_args(&t, c->wsi, &a);
	CHECK_EQ(lwstp_enqueue(tp, &a, NULL, "x"), LWSTP_OK);
	want_writables = 1;
	h_service_until(&B, writables_at_least, c);
	CHECK_EQ(r.reaped, 1);

	lws_threadpool_destroy(old_tp);	/* after its context was freed */
	lws_threadpool_destroy(tp);
	c->on_writable = NULL;
	h_conn_free(c);
	h_task_fini(&t);
	h_destroy(&B);
}

/* why each task stopped: read before reaping */
static int
wait_done(struct lws_threadpool *tp, int n)
{
	void *arg[2] = { tp, (void *)(intptr_t)n };

	return h_service_until(&H, done_waiting_is, arg);
}

static int
reason_then_reap(struct h_task *t)
{
	int r;

	CHECK_EQ(lws_threadpool_task_status_noreap(t->handle) >=
		 LWS_TP_STATUS_FINISHED, 1);
	r = lwstp_task_stop_reason(t->handle);
	lws_threadpool_task_status(t->handle, NULL);

	return r;
}

static void
test_stop_reason(void)
{
	struct lws_threadpool *tp = pool(1, 8, 50);
	struct h_conn *c = h_conn(&H, H_CONN_HOOKED);
	struct h_task tmo, self, fin, sync, queued;

	h_task_init(&tmo, R_STOP, 1);
	h_task_script(&tmo, 1, R_SYNC);		/* nobody acks: timeout */
	CHECK_EQ(enqueue(tp, &tmo, c->wsi), LWSTP_OK);
	wait_done(tp, 1);
	CHECK_EQ(reason_then_reap(&tmo), LWSTP_STOP_SYNC_TIMEOUT);

	h_task_init(&self, R_STOP, 1);
	CHECK_EQ(enqueue(tp, &self, c->wsi), LWSTP_OK);
	wait_done(tp, 1);
	CHECK_EQ(reason_then_reap(&self), LWSTP_STOP_TASK);

	h_task_init(&fin, R_FIN, 1);
	CHECK_EQ(enqueue(tp, &fin, c->wsi), LWSTP_OK);
	wait_done(tp, 1);
	CHECK_EQ(reason_then_reap(&fin), LWSTP_STOP_NONE);

	h_task_init(&sync, R_CHECK, 0);
	h_task_init(&queued, R_FIN, 0);
	CHECK_EQ(enqueue(tp, &sync, c->wsi), LWSTP_OK);
	h_task_wait_calls(&sync, 1);
	CHECK_EQ(enqueue(tp, &queued, c->wsi), LWSTP_OK);
	lws_threadpool_task_sync(sync.handle, 1);
	lws_threadpool_finish(tp);	/* queued: stopped by finish */
	CHECK_EQ(lwstp_task_stop_reason(sync.handle), LWSTP_STOP_SYNC);
	h_task_allow(&sync, 2);
	wait_done(tp, 2);
	CHECK_EQ(reason_then_reap(&sync), LWSTP_STOP_SYNC);
	CHECK_EQ(reason_then_reap(&queued), LWSTP_STOP_FINISH);
	CHECK(!strcmp(lwstp_stop_reason_name(LWSTP_STOP_SYNC_TIMEOUT),
		      "sync-timeout"));
	CHECK(!strcmp(lwstp_stop_reason_name(99), "unknown"));

	lws_threadpool_destroy(tp);
	h_task_fini(&tmo);
	h_task_fini(&self);
	h_task_fini(&fin);
	h_task_fini(&sync);
	h_task_fini(&queued);
	h_conn_free(c);
}

/*
 * Upstream's stop semantics: after a stop request a task is called at most
 * once more, with STOPPING, and that call's return ends it (FINISHED stays
 * FINISHED, anything else is STOPPED).  A task that ignores its status and
 * always checks in (upstream's own example does) must not run on, and must
 * not keep lws_threadpool_destroy() waiting.
 */
static void
test_stop_ignored(void)
{
	struct lws_threadpool *tp = pool(2, 8, 0);
	struct h_conn *c = h_conn(&H, H_CONN_HOOKED);
	struct h_task deaf, fin, spin;
	struct reaper r = { 0 };

	/* dequeued while running: one STOPPING call, then it is over */
	h_task_init(&deaf, R_CHECK, 0);
	CHECK_EQ(enqueue(tp, &deaf, c->wsi), LWSTP_OK);
	h_task_wait_calls(&deaf, 1);
	CHECK_EQ(lws_threadpool_dequeue_task(deaf.handle), 1);
	h_task_allow(&deaf, 2);
	h_task_wait_cleanups(&deaf, 1);
	CHECK_EQ(deaf.calls, 2);
	CHECK_EQ(deaf.status[1], STOPPING);
	CHECK_EQ(deaf.stopping_calls, 1);

	/* asked to stop, it returns FINISHED from its STOPPING call: kept */
	h_task_init(&fin, R_FIN, 0);
	h_task_script(&fin, 1, R_CHECK);
	CHECK_EQ(enqueue(tp, &fin, c->wsi), LWSTP_OK);
	h_task_wait_calls(&fin, 1);
	lws_threadpool_task_sync(fin.handle, 1);	/* stop a running task */
	c->priv = &r;
	c->on_writable = on_writable_reap;
	c->writables = 0;
	h_task_allow(&fin, 2);
	service_writables(c, 1);
	CHECK_EQ(r.reaped, 1);
	CHECK_EQ(r.last_status, LWS_TP_STATUS_FINISHED);
	CHECK_EQ(fin.stopping_calls, 1);
	CHECK_EQ(fin.calls, 2);

	/* spinning on CHECKING_IN forever: destroy still returns */
	h_task_init(&spin, R_CHECK, 1);
	CHECK_EQ(enqueue(tp, &spin, c->wsi), LWSTP_OK);
	h_task_wait_calls(&spin, 3);
	lws_threadpool_destroy(tp);
	CHECK_EQ(h_task_get(&spin, &spin.stopping_calls), 1);
	CHECK_EQ(spin.cleanups, 1);

	c->on_writable = NULL;
	h_task_fini(&deaf);
	h_task_fini(&fin);
	h_task_fini(&spin);
	h_conn_free(c);
}

/*
 * The hook only in the wsi's own protocol (vhost "own": protocols[0] is
 * plain lws_callback_http_dummy, protocols[1] calls lwstp_hook() first).
 * Its wsis may have tasks, get writables and have their tasks detached at
 * RAW_CLOSE, before lws frees them; a wsi of the unhooked protocols[2] of
 * the same vhost is refused.
 */
static int
closed_is_set(void *arg)
{
	return ((struct h_conn *)arg)->closed;
}

static void
test_own_protocol_hook(void)
{
	struct lws_threadpool *tp = pool(1, 8, 0);
	struct h_conn *c = h_conn(&H, H_CONN_OWN), *o, *c2;
	struct h_task run, queued, other, fin;
	struct reaper r = { 0 };

	h_task_init(&run, R_STOP, 0);
	h_task_script(&run, 1, R_CHECK);
	h_task_init(&queued, R_FIN, 0);
	h_task_init(&other, R_FIN, 1);
	h_task_init(&fin, R_FIN, 1);

	/* adopted into the hooked protocol: RAW_ADOPT passed the hook */
	CHECK_EQ(enqueue(tp, &run, c->wsi), LWSTP_OK);
	h_task_wait_calls(&run, 1);

	/* a wsi of the unhooked protocol: refused, nothing queued */
	o = h_conn(&H, H_CONN_OWN_PLAIN);
	CHECK_EQ(enqueue(tp, &other, o->wsi), LWSTP_E_NO_INTEGRATION);
	CHECK_EQ(other.cleanups, 0);

	/* another hooked wsi came since; c, watched now, still takes tasks */
	c2 = h_conn(&H, H_CONN_OWN);
	CHECK_EQ(enqueue(tp, &queued, c->wsi), LWSTP_OK);
	CHECK_EQ(stats(tp).queued, 1);

	/* and c2's task ends with a writable on c2, reaped there */
	c2->priv = &r;
	c2->on_writable = on_writable_reap;
	lws_threadpool_task_sync(run.handle, 0);	/* misuse: ignored */
	CHECK_EQ(enqueue(tp, &fin, c2->wsi), LWSTP_OK);

	/*
	 * Close c with one task running and one queued: at RAW_CLOSE the
	 * queued one ends with the wsi, the running one is detached and asked
	 * to stop.  Without the detach, lws would free a wsi the pool still
	 * holds.
	 */
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
	h_service_until(&H, closed_is_set, c);
	CHECK_EQ(queued.cleanups, 1);
	CHECK(queued.cleanup_wsi != NULL);
	CHECK_EQ(queued.calls, 0);
	CHECK_EQ(stats(tp).detached, 1);
	h_task_allow(&run, 1);
	h_task_wait_calls(&run, 2);
	CHECK_EQ(run.status[1], STOPPING);
	h_task_allow(&run, 1);
	h_task_wait_cleanups(&run, 1);
	CHECK(run.cleanup_wsi == NULL);
	CHECK(run.cleanup_on_worker);
	c->wsi = NULL;

	/* the worker is free again: c2's task runs, c2 gets its writable */
	service_writables(c2, 1);
	CHECK_EQ(r.reaped, 1);
	CHECK_EQ(fin.cleanups, 1);
	CHECK(fin.cleanup_wsi != NULL);

	lws_threadpool_destroy(tp);
	CHECK_EQ(other.cleanups, 0);
	h_task_fini(&run);
	h_task_fini(&queued);
	h_task_fini(&other);
	h_task_fini(&fin);
	h_conn_free(c);
	h_conn_free(c2);
	h_conn_free(o);
}

/*
 * A vhost whose protocols[0] has the hook but whose later protocol fails
 * LWS_CALLBACK_PROTOCOL_INIT is freed by lws without PROTOCOL_DESTROY.  An
 * unhooked vhost created next, usually at the same address, must not pass
 * for integrated: its wsis are refused.
 */
static struct lws_vhost *failed_vh;

static int
cb_fail0(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	 void *in, size_t len)
{
	if (reason == LWS_CALLBACK_PROTOCOL_INIT)
		failed_vh = lws_get_vhost(wsi);

	return lwstp_callback_http_dummy(wsi, reason, user, in, len);
}

/* fails its init as a plugin with bad options does: after its vh priv
 * exists (lws 4.1.6 dereferences the vh priv array of a failing protocol) */
static int
cb_fail_init(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	     void *in, size_t len)
{
	if (reason != LWS_CALLBACK_PROTOCOL_INIT)
		return 0;
	lws_protocol_vh_priv_zalloc(lws_get_vhost(wsi), lws_get_protocol(wsi),
				    16);

	return -1;
}

static void
test_failed_protocol_init(void)
{
	static const struct lws_protocols failing[] = {
		{ .name = "http", .callback = cb_fail0 },
		{ .name = "fails", .callback = cb_fail_init },
		{ .name = NULL }
	};
	static const struct lws_protocols unhooked[] = {
		{ .name = "http", .callback = lws_callback_http_dummy },
		{ .name = "raw-test", .callback = lws_callback_http_dummy },
		{ .name = NULL }
	};
	struct lws_context_creation_info info;
	struct lws_threadpool *tp = pool(1, 8, 0);
	struct h_task t;
	struct lws_vhost *vh;
	lws_sock_file_fd_type fd;
	struct lws *wsi;
	int sv[2];

	h_task_init(&t, R_FIN, 1);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.vhost_name = "fails";
	info.protocols = failing;
	lws_set_log_level(0, NULL);	/* lws logs the failed init */
	vh = lws_create_vhost(H.cx, &info);
	lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
	/*
	 * lws 4.1 frees the vhost and returns NULL; 4.3 returns it, half
	 * initialised: destroying it sends no PROTOCOL_DESTROY either.
	 */
	if (vh) {
		CHECK(failed_vh == vh);
		lws_vhost_destroy(vh);
		h_service_some(&H);
	}
	CHECK(failed_vh != NULL);

	info.vhost_name = "unhooked";
	info.protocols = unhooked;
	vh = lws_create_vhost(H.cx, &info);
	CHECK(vh != NULL);
	if (failed_vh && vh != failed_vh)
		printf("  (the new vhost is not at the failed one's address)\n");

	CHECK(!socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	fd.sockfd = sv[0];
	wsi = lws_adopt_descriptor_vhost(vh, LWS_ADOPT_SOCKET, fd, "raw-test",
					 NULL);
	CHECK(wsi != NULL);
	if (wsi) {
		CHECK_EQ(enqueue(tp, &t, wsi), LWSTP_E_NO_INTEGRATION);
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK,
				LWS_TO_KILL_SYNC);
		h_service_some(&H);
	}
	close(sv[1]);
	lws_threadpool_destroy(tp);
	CHECK_EQ(t.cleanups, 0);
	h_task_fini(&t);
	lws_vhost_destroy(vh);
	h_service_some(&H);
}

int
main(int argc, char **argv)
{
	static const struct h_test tests[] = {
		{ "create_invalid", test_create_invalid },
		{ "enqueue_invalid", test_enqueue_invalid },
		{ "lifecycle", test_lifecycle },
		{ "queue_full", test_queue_full },
		{ "dequeue_each_state", test_dequeue_each_state },
		{ "close_each_state", test_close_each_state },
		{ "async_task_queued", test_async_task_queued },
		{ "finish_destroy_each_state", test_finish_destroy_each_state },
		{ "foreach_reap", test_foreach_reap },
		{ "sync_timeout", test_sync_timeout },
		{ "sync_pingpong", test_sync_pingpong },
		{ "bad_return_and_sync_misuse", test_bad_return_and_sync_misuse },
		{ "deprecated", test_deprecated },
		{ "two_contexts", test_two_contexts },
		{ "worker_priority", test_worker_priority },
		{ "diagnose_dump", test_diagnose_dump },
		{ "stop_ignored", test_stop_ignored },
		{ "stop_reason", test_stop_reason },
		{ "policy_change", test_policy_change },
		{ "context_reuse", test_context_reuse },
		{ "own_protocol_hook", test_own_protocol_hook },
		{ "failed_protocol_init", test_failed_protocol_init },
		{ "context_destroy", test_context_destroy },
	};

	/* argv[1]: event lib ("uv", "ev", "glib"), default lws's poll loop */
	evlib = argc > 1 ? argv[1] : NULL;
	if (h_init(&H, evlib)) {
		fprintf(stderr, "cannot create the lws context\n");
		return 1;
	}
	h_run(tests, LWS_ARRAY_SIZE(tests));

	return h_report("test-core");
}
