/*
 * Shutdown matrix: lws_threadpool_finish() + _destroy(), and lws context
 * destruction, with tasks in every state at once, including a task that
 * does not return: it computes from before the shutdown until the queued
 * tasks are out of the workers' reach, then 300 ms more.
 *
 * Every shutdown must end within the longest check-in interval still to run
 * plus a bound (LWSTP_SHUTDOWN_BOUND_MS, default 1000 ms, 2000 ms under
 * sanitizers: generous for loaded CI machines; the times measured, printed
 * each run, are a few ms), run every cleanup exactly once, and join every
 * worker (the process's thread count returns to what it was).
 *
 * Tasks are put in their states by waiting for events (the task function
 * reports its calls on a condition, the pool reports states through
 * lws_threadpool_task_status_noreap()), never by sleeping.
 */

#include "harness.h"

#include <dirent.h>
#include <sched.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define R_CHECK	LWS_TP_RETURN_CHECKING_IN
#define R_OUT	LWS_TP_RETURN_FLAG_OUTLIVE

static struct h H;
/*
 * Very generous, so that no load makes it fail: 256 threads joined while two
 * suites and a CPU hog share two cores took 1.8 s.  What a shutdown must do
 * is asserted by events (each task's one STOPPING call, cleanups, joined
 * threads, matrix_check()); tasks that would run for ever unless stopped
 * make a shutdown that does not stop them hang, and the bound turns that
 * into a failure long before ctest's timeout.  The times are printed.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
static long long bound_ms = 20000;	/* thread start / join are slower */
#else
static long long bound_ms = 10000;
#endif

static int
count_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);

	return n;
}

/* --- tasks whose every call and end is observable ----------------------- */

enum rt_kind {
	RT_SPIN,	/* computes chunk_ms, checks in; STOPPING: stops */
	RT_SLEEP,	/* blocks chunk_ms (I/O), checks in; STOPPING: stops */
	RT_LONG,	/* waits for its gate (the test opens it as the shutdown
			 * begins), computes until the test releases it (once
			 * the queued tasks are out of the workers' reach), then
			 * chunk_ms more, without returning, FINISHED.  Events,
			 * not times: valgrind runs one thread at a time and
			 * may give a spinning one hundreds of ms in a row */
	RT_SYNC,	/* returns SYNC; STOPPING: stops */
	RT_FIN,		/* returns FINISHED at once */
	RT_GATE,	/* blocks until the test opens its gate (input
			 * arriving), then checks in; STOPPING: stops */
};

struct rt {
	pthread_mutex_t		m;
	pthread_cond_t		c;
	enum rt_kind		kind;
	int			chunk_ms;
	int			outlive;	/* adds the OUTLIVE flag */
	int			calls, stops_seen, ended, cleanups;
	int			gate_open;
	int			spinning;	/* RT_LONG: past its gate */
	int			released;	/* RT_LONG: computes chunk_ms
						 * more from released_us */
	long long		released_us;
	long long		started_us, ended_us;
	struct lws		*cleanup_wsi;
	struct lws_threadpool_task *handle;
};

static void
rt_init(struct rt *t, enum rt_kind kind, int chunk_ms, int outlive)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->m, NULL);
	pthread_cond_init(&t->c, NULL);
	t->kind = kind;
	t->chunk_ms = chunk_ms;
	t->outlive = outlive;
}

static void
rt_fini(struct rt *t)
{
	pthread_mutex_destroy(&t->m);
	pthread_cond_destroy(&t->c);
}

static void
spin(int ms)
{
	long long end = h_now_us() + ms * 1000LL;
	volatile unsigned long x = 0;

	while (h_now_us() < end)
		x = x * 31 + 7;
}

static void
rt_note(struct rt *t, int *field, long long *when)
{
	pthread_mutex_lock(&t->m);
	(*field)++;
	if (when)
		*when = h_now_us();
	pthread_cond_broadcast(&t->c);
	pthread_mutex_unlock(&t->m);
}

/* until the test opens the gate (bounded) */
static void
rt_gate_wait(struct rt *t)
{
	struct timespec ts;
	int w = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += H_DEADLINE_MS / 1000;
	pthread_mutex_lock(&t->m);
	while (!t->gate_open && !w)
		w = pthread_cond_timedwait(&t->c, &t->m, &ts);
	pthread_mutex_unlock(&t->m);
}

static int
rt_get(struct rt *t, int *field);

static enum lws_threadpool_task_return
rt_fn(void *user, enum lws_threadpool_task_status s)
{
	struct rt *t = user;
	int r;

	pthread_mutex_lock(&t->m);
	if (!t->calls++)
		t->started_us = h_now_us();
	if (s == LWS_TP_STATUS_STOPPING)
		t->stops_seen++;
	pthread_cond_broadcast(&t->c);
	pthread_mutex_unlock(&t->m);

	if (s == LWS_TP_STATUS_STOPPING && t->kind != RT_LONG) {
		r = LWS_TP_RETURN_STOPPED;
		goto ended;
	}

	switch (t->kind) {
	case RT_SPIN:
		spin(t->chunk_ms);
		return (enum lws_threadpool_task_return)
				(R_CHECK | (t->outlive ? R_OUT : 0));
	case RT_SLEEP:
		usleep((useconds_t)t->chunk_ms * 1000);	/* stands for I/O */
		return (enum lws_threadpool_task_return)
				(R_CHECK | (t->outlive ? R_OUT : 0));
	case RT_LONG:
		rt_gate_wait(t);
		pthread_mutex_lock(&t->m);
		t->started_us = h_now_us();	/* its computation starts */
		t->spinning = 1;
		pthread_cond_broadcast(&t->c);
		pthread_mutex_unlock(&t->m);
		while (!rt_get(t, &t->released))
			spin(1);
		spin(t->chunk_ms);
		r = LWS_TP_RETURN_FINISHED;
		goto ended;
	case RT_SYNC:
		return LWS_TP_RETURN_SYNC;
	case RT_GATE:
		rt_gate_wait(t);
		return R_CHECK;
	default:
		r = LWS_TP_RETURN_FINISHED;
		goto ended;
	}

ended:
	rt_note(t, &t->ended, &t->ended_us);

	return (enum lws_threadpool_task_return)r;
}

static void
rt_cleanup(struct lws *wsi, void *user)
{
	struct rt *t = user;

	pthread_mutex_lock(&t->m);
	t->cleanups++;
	t->cleanup_wsi = wsi;
	pthread_cond_broadcast(&t->c);
	pthread_mutex_unlock(&t->m);
}

static int
rt_wait(struct rt *t, int *field, int n)
{
	struct timespec ts;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += H_DEADLINE_MS / 1000;
	pthread_mutex_lock(&t->m);
	while (*field < n && !r)
		r = pthread_cond_timedwait(&t->c, &t->m, &ts);
	r = *field >= n ? 0 : -1;
	pthread_mutex_unlock(&t->m);
	if (r) {
		h_failures++;
		fprintf(stderr, "FAIL: a task did not get there in %d ms\n",
			H_DEADLINE_MS);
	}

	return r;
}

static void
rt_open(struct rt *t)
{
	pthread_mutex_lock(&t->m);
	t->gate_open = 1;
	pthread_cond_broadcast(&t->c);
	pthread_mutex_unlock(&t->m);
}

static int
rt_get(struct rt *t, int *field)
{
	int v;

	pthread_mutex_lock(&t->m);
	v = *field;
	pthread_mutex_unlock(&t->m);

	return v;
}

static int
rt_enqueue(struct lws_threadpool *tp, struct rt *t, struct lws *wsi,
	   int async)
{
	struct lws_threadpool_task_args a;

	memset(&a, 0, sizeof(a));
	a.wsi = wsi;
	a.user = t;
	a.task = rt_fn;
	a.cleanup = rt_cleanup;
	a.async_task = async;

	return lwstp_enqueue(tp, &a, &t->handle, "rt-%d", (int)t->kind);
}

/* --- waiting for a task's state ------------------------------------------ */

static void
wait_status(struct lws_threadpool_task *task, int status)
{
	h_wait_status(&H, task, status);
}

/* every worker waits for work; a bounded poll of the pool's own gauge */
static void
wait_idle(struct lws_threadpool *tp, int n)
{
	struct lwstp_stats st;
	long long deadline = h_now_us() + H_DEADLINE_MS * 1000LL;

	do {
		lwstp_get_stats(tp, &st);
		if (st.idle >= n)
			return;
		sched_yield();
	} while (h_now_us() < deadline);
	CHECK_EQ(st.idle, n);
}

static struct lws_threadpool *
pool(int threads, int depth)
{
	struct lwstp_create_args a;
	struct lws_threadpool *tp;

	memset(&a, 0, sizeof(a));
	a.threads = threads;
	a.max_queue_depth = depth;
	tp = lwstp_create(H.cx, &a, "shutdown-%d", threads);
	CHECK(tp != NULL);

	return tp;
}

/* --- the matrix: one task in each state at once -------------------------- */

#define NQ	20	/* queued */
#define NDONE	3	/* done, not reaped */

struct matrix {
	struct rt	lng;	/* RUNNING: 300 ms without returning */
	struct rt	chk;	/* RUNNING: checks in every 10 ms */
	struct rt	syn;	/* SYNCING */
	struct rt	stp;	/* STOPPING: told to stop while blocked */
	struct rt	det;	/* detached (wsi closed), stopping */
	struct rt	out;	/* detached OUTLIVE, running on, 10 ms */
	struct rt	done[NDONE];	/* FINISHED, not reaped */
	struct rt	q[NQ];	/* QUEUED */
	struct rt	qout[2]; /* QUEUED, OUTLIVE, wsi closed: detached */
	struct h_conn	*c, *c_det, *c_out, *c_qout;
	int		threads_before;
};

#define M_THREADS 6	/* lng, chk, syn, stp, det, out */

static struct rt *
m_task(struct matrix *m, int i)
{
	struct rt *single[] = { &m->lng, &m->chk, &m->syn, &m->stp, &m->det,
				&m->out };

	if (i < 6)
		return single[i];
	i -= 6;
	if (i < NDONE)
		return &m->done[i];
	i -= NDONE;
	if (i < NQ)
		return &m->q[i];
	i -= NQ;
	if (i < 2)
		return &m->qout[i];

	return NULL;
}

/*
 * adopt(): where the matrix's connections come from (the harness's
 * integrated vhost, or the vhost of the PROTOCOL_DESTROY case)
 */
static void
matrix_setup(struct matrix *m, struct lws_threadpool *tp,
	     struct h_conn *(*adopt)(void))
{
	int i;

	memset(m, 0, sizeof(*m));
	rt_init(&m->lng, RT_LONG, 300, 0);
	rt_init(&m->chk, RT_SPIN, 10, 0);
	rt_init(&m->syn, RT_SYNC, 0, 0);
	rt_init(&m->stp, RT_GATE, 0, 0);
	rt_init(&m->det, RT_GATE, 0, 0);
	rt_init(&m->out, RT_SPIN, 10, 1);
	for (i = 0; i < NDONE; i++)
		rt_init(&m->done[i], RT_FIN, 0, 0);
	for (i = 0; i < NQ; i++)
		rt_init(&m->q[i], RT_FIN, 0, 0);
	for (i = 0; i < 2; i++)
		rt_init(&m->qout[i], RT_SPIN, 10, 1);

	m->c = adopt();
	m->c_det = adopt();
	m->c_out = adopt();
	m->c_qout = adopt();
	CHECK(m->c && m->c_det && m->c_out && m->c_qout);

	/* done first, while workers are free; nobody reaps them */
	for (i = 0; i < NDONE; i++) {
		CHECK_EQ(rt_enqueue(tp, &m->done[i], m->c->wsi, 0), LWSTP_OK);
		wait_status(m->done[i].handle, LWS_TP_STATUS_FINISHED);
	}

	CHECK_EQ(rt_enqueue(tp, &m->syn, m->c->wsi, 0), LWSTP_OK);
	wait_status(m->syn.handle, LWS_TP_STATUS_SYNCING);

	CHECK_EQ(rt_enqueue(tp, &m->stp, m->c->wsi, 0), LWSTP_OK);
	rt_wait(&m->stp, &m->stp.calls, 1);
	lws_threadpool_task_sync(m->stp.handle, 1);	/* stop a running one */
	CHECK_EQ(lws_threadpool_task_status_noreap(m->stp.handle),
		 LWS_TP_STATUS_STOPPING);

	CHECK_EQ(rt_enqueue(tp, &m->det, m->c_det->wsi, 0), LWSTP_OK);
	rt_wait(&m->det, &m->det.calls, 1);
	h_close(m->c_det);	/* detached, told to stop */

	CHECK_EQ(rt_enqueue(tp, &m->out, m->c_out->wsi, 1), LWSTP_OK);
	rt_wait(&m->out, &m->out.calls, 1);
	h_close(m->c_out);	/* detached, runs on */

	CHECK_EQ(rt_enqueue(tp, &m->chk, m->c->wsi, 0), LWSTP_OK);
	rt_wait(&m->chk, &m->chk.calls, 1);

	/* the last worker: 300 ms from now on */
	CHECK_EQ(rt_enqueue(tp, &m->lng, m->c->wsi, 0), LWSTP_OK);
	rt_wait(&m->lng, &m->lng.calls, 1);

	/* every worker is busy: these wait */
	for (i = 0; i < NQ; i++)
		CHECK_EQ(rt_enqueue(tp, &m->q[i], m->c->wsi, 0), LWSTP_OK);
	for (i = 0; i < 2; i++)
		CHECK_EQ(rt_enqueue(tp, &m->qout[i], m->c_qout->wsi, 1),
			 LWSTP_OK);
	h_close(m->c_qout);	/* queued, detached, will outlive */

	{
		struct lwstp_stats st;

		lwstp_get_stats(tp, &st);
		CHECK_EQ(st.queued, NQ + 2);
		CHECK_EQ(st.running, M_THREADS);
		CHECK_EQ(st.syncing, 1);
		CHECK_EQ(st.done_waiting, NDONE);
		CHECK_EQ(st.detached, 4);
	}
	CHECK_EQ(rt_get(&m->lng, &m->lng.ended), 0);
}

/*
 * The stopping ones get their input and check in.  Called once the queued
 * tasks are out of the workers' reach (finish, or the wsis closed), so that
 * the freed workers can not run them.
 */
static void
matrix_open(struct matrix *m)
{
	rt_open(&m->stp);
	rt_open(&m->det);
}

/* when each task ended, relative to the start of the shutdown */
static void
matrix_dump(struct matrix *m, long long t0)
{
	struct rt *t;
	int i;

	for (i = 0; (t = m_task(m, i)); i++)
		if (t->calls)
			fprintf(stderr, "  task %d kind %d: %d calls, started "
				"%+.1f ms, ended %+.1f ms\n", i, t->kind,
				t->calls, (double)(t->started_us - t0) / 1000.0,
				t->ended ? (double)(t->ended_us - t0) / 1000.0 :
					   0.0);
}

/* after the shutdown: every task cleaned up exactly once, threads joined */
static void
matrix_check(struct matrix *m, const char *what)
{
	struct rt *t;
	int i, bad = 0, ran = 0;

	for (i = 0; (t = m_task(m, i)); i++)
		if (rt_get(t, &t->cleanups) != 1) {
			fprintf(stderr, "FAIL %s: task %d (kind %d): %d "
				"cleanups\n", what, i, t->kind, t->cleanups);
			bad++;
		}
	CHECK_EQ(bad, 0);
	/* the ones that were queued never ran (test-known-bugs.c, 1.) */
	for (i = 0; i < NQ; i++)
		ran += m->q[i].calls > 0;
	CHECK_EQ(ran, 0);
	/* the long one ran to its end before the pool was gone */
	CHECK_EQ(m->lng.ended, 1);
	CHECK_EQ(m->lng.calls, 1);
	/* the syncing one was woken with STOPPING */
	CHECK_EQ(m->syn.stops_seen, 1);
	CHECK_EQ(count_threads(), m->threads_before);
}

static void
matrix_fini(struct matrix *m)
{
	struct rt *t;
	int i;

	for (i = 0; (t = m_task(m, i)); i++)
		rt_fini(t);
}

static struct h_conn *
adopt_h(void)
{
	return h_conn(&H, 1);
}

static void
free_conns(struct matrix *m, int context_gone)
{
	struct h_conn *cs[] = { m->c, m->c_det, m->c_out, m->c_qout };
	unsigned int i;

	for (i = 0; i < LWS_ARRAY_SIZE(cs); i++) {
		if (!cs[i])
			continue;
		if (context_gone)
			cs[i]->wsi = NULL;
		h_conn_free(cs[i]);
	}
}

/* the shutdown begins: the long task computes from now on */
static void
long_go(struct matrix *m)
{
	rt_open(&m->lng);
	rt_wait(&m->lng, &m->lng.spinning, 1);
}

/* the queued tasks are out of the workers' reach: 300 ms more */
static void
long_release(struct matrix *m)
{
	m->lng.released_us = h_now_us();
	rt_note(&m->lng, &m->lng.released, NULL);
}

/* the time the long task had left at at (after its release), in ms */
static double
long_left_ms(struct matrix *m, long long at)
{
	long long end = m->lng.released_us + 300 * 1000LL;

	return end > at ? (double)(end - at) / 1000.0 : 0.0;
}

/* S1: an idle pool, and a pool whose tasks all check in every 10 ms */
static void
test_idle_and_checkin(void)
{
	struct lws_threadpool *tp;
	struct rt t[8], s[4];
	struct h_conn *c;
	long long t0, t1;
	int before = count_threads(), i;

	tp = pool(4, 0);
	t0 = h_now_us();
	lws_threadpool_finish(tp);
	lws_threadpool_destroy(tp);
	t1 = h_now_us();
	printf("shutdown idle pool (4 threads): %.2f ms\n",
	       (double)(t1 - t0) / 1000.0);
	CHECK((t1 - t0) / 1000 <= bound_ms);
	CHECK_EQ(count_threads(), before);

	/* 4 computing in 10 ms chunks, 4 blocking 10 ms, 50 queued */
	tp = pool(8, 64);
	c = h_conn(&H, 1);
	for (i = 0; i < 8; i++) {
		rt_init(&t[i], i < 4 ? RT_SPIN : RT_SLEEP, 10, 0);
		CHECK_EQ(rt_enqueue(tp, &t[i], c->wsi, 0), LWSTP_OK);
		rt_wait(&t[i], &t[i].calls, 1);
	}
	for (i = 0; i < 4; i++) {
		rt_init(&s[i], RT_FIN, 0, 0);
		CHECK_EQ(rt_enqueue(tp, &s[i], c->wsi, 0), LWSTP_OK);
	}
	CHECK_EQ(count_threads(), before + 8);

	t0 = h_now_us();
	lws_threadpool_finish(tp);
	t1 = h_now_us();
	lws_threadpool_destroy(tp);
	printf("shutdown 8 tasks checking in every 10 ms + 4 queued: finish "
	       "%.2f ms, destroy %.2f ms\n", (double)(t1 - t0) / 1000.0,
	       (double)(h_now_us() - t1) / 1000.0);
	CHECK((h_now_us() - t0) / 1000 <= 10 + bound_ms);
	for (i = 0; i < 8; i++) {
		CHECK_EQ(t[i].cleanups, 1);
		CHECK_EQ(t[i].stops_seen, 1);
		rt_fini(&t[i]);
	}
	for (i = 0; i < 4; i++) {
		CHECK_EQ(s[i].cleanups, 1);
		CHECK_EQ(s[i].calls, 0);
		rt_fini(&s[i]);
	}
	CHECK_EQ(count_threads(), before);
	h_conn_free(c);
}

/* S2: every state at once; finish + destroy with the context alive */
static void
test_matrix_destroy(void)
{
	struct lws_threadpool *tp;
	struct matrix m;
	long long t0, t1, t2;
	double left;
	int before = count_threads();

	tp = pool(M_THREADS, 64);
	matrix_setup(&m, tp, adopt_h);
	m.threads_before = before;

	long_go(&m);
	t0 = h_now_us();
	lws_threadpool_finish(tp);
	t1 = h_now_us();
	long_release(&m);
	left = long_left_ms(&m, t0);
	matrix_open(&m);
	lws_threadpool_destroy(tp);
	t2 = h_now_us();

	printf("shutdown matrix, finish + destroy: finish %.2f ms, destroy "
	       "%.2f ms (the 300 ms task had %.1f ms left)\n",
	       (double)(t1 - t0) / 1000.0, (double)(t2 - t1) / 1000.0, left);
	CHECK((t1 - t0) / 1000 <= bound_ms);	/* finish does not wait */
	CHECK((double)(t2 - t0) / 1000.0 <= left + (double)bound_ms);
	CHECK(t2 >= m.lng.ended_us);		/* ... destroy does */
	if ((double)(t2 - t0) / 1000.0 > left + (double)bound_ms)
		matrix_dump(&m, t0);
	matrix_check(&m, "finish + destroy");
	free_conns(&m, 0);
	matrix_fini(&m);
}

/* S3: the lws context destroyed first, then the pool (as test-core) */
static void
test_matrix_context_first(void)
{
	struct lws_threadpool *tp;
	struct matrix m;
	long long t0, t1, t2;
	double left;
	int before = count_threads(), i;

	tp = pool(M_THREADS, 64);
	matrix_setup(&m, tp, adopt_h);
	m.threads_before = before;

	long_go(&m);
	t0 = h_now_us();
	h_destroy(&H);
	t1 = h_now_us();
	long_release(&m);
	left = long_left_ms(&m, t0);
	matrix_open(&m);
	/* closing the wsis ended every queued and done task at once */
	for (i = 0; i < NQ; i++)
		CHECK_EQ(rt_get(&m.q[i], &m.q[i].cleanups), 1);
	for (i = 0; i < NDONE; i++)
		CHECK_EQ(rt_get(&m.done[i], &m.done[i].cleanups), 1);
	lws_threadpool_finish(tp);
	lws_threadpool_destroy(tp);
	t2 = h_now_us();

	printf("shutdown matrix, context destroy then pool: context %.2f ms, "
	       "pool %.2f ms (the 300 ms task had %.1f ms left)\n",
	       (double)(t1 - t0) / 1000.0, (double)(t2 - t1) / 1000.0, left);
	CHECK((t1 - t0) / 1000 <= bound_ms);	/* no wait for workers */
	CHECK((double)(t2 - t0) / 1000.0 <= left + (double)bound_ms);
	if ((double)(t2 - t0) / 1000.0 > left + (double)bound_ms)
		matrix_dump(&m, t0);
	matrix_check(&m, "context destroy first");
	free_conns(&m, 1);
	matrix_fini(&m);

	CHECK_EQ(h_init(&H, NULL), 0);
}

/*
 * S4: as servers do it: the pool lives in a protocol of its own vhost and is
 * finished and destroyed in that protocol's LWS_CALLBACK_PROTOCOL_DESTROY,
 * which lws_context_destroy() runs.
 */
static struct lws_threadpool *pd_tp;
static struct matrix *pd_m;
static struct lws_vhost *pd_vh;
static int pd_inited;
static long long pd_destroy_us;

static int
pd_cb0(struct lws *wsi, enum lws_callback_reasons reason, void *user,
       void *in, size_t len)
{
	lwstp_hook(wsi, reason, user, in, len);
	if (reason == LWS_CALLBACK_PROTOCOL_INIT)
		pd_inited = 1;
	if (reason == LWS_CALLBACK_WSI_DESTROY) {
		struct h_conn *c = lws_get_opaque_user_data(wsi);

		if (c)
			c->destroyed = 1;	/* for h_close() */
	}

	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static int
pd_cb_pool(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	   void *in, size_t len)
{
	long long t0;

	if (reason == LWS_CALLBACK_PROTOCOL_DESTROY && pd_tp) {
		t0 = h_now_us();
		lws_threadpool_finish(pd_tp);
		long_release(pd_m);
		matrix_open(pd_m);
		lws_threadpool_destroy(pd_tp);
		pd_destroy_us = h_now_us() - t0;
		pd_tp = NULL;
	}

	return 0;
}

static const struct lws_protocols pd_protocols[] = {
	{ "http", pd_cb0, 0, 0, 0, NULL, 0 },
	{ "pd-raw", pd_cb_pool, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static int
pd_is_inited(void *arg)
{
	return pd_inited;
}

static struct h_conn *
adopt_pd(void)
{
	struct h_conn *c = calloc(1, sizeof(*c));
	lws_sock_file_fd_type fd;
	int sv[2];

	if (!c || socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
		free(c);
		return NULL;
	}
	fd.sockfd = sv[0];
	c->peer_fd = sv[1];
	c->h = &H;
	c->wsi = lws_adopt_descriptor_vhost(pd_vh, LWS_ADOPT_SOCKET, fd,
					    "pd-raw", NULL);
	if (!c->wsi) {
		close(sv[0]);
		close(sv[1]);
		free(c);
		return NULL;
	}
	lws_set_opaque_user_data(c->wsi, c);

	return c;
}

static void
test_matrix_protocol_destroy(void)
{
	struct lws_context_creation_info info;
	struct matrix m;
	long long t0, t1;
	double left;
	int before = count_threads();

	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.vhost_name = "pd";
	info.protocols = pd_protocols;
	pd_vh = lws_create_vhost(H.cx, &info);
	CHECK(pd_vh != NULL);
	if (!pd_vh)
		return;
	h_service_until(&H, pd_is_inited, NULL);

	pd_tp = pool(M_THREADS, 64);
	pd_m = &m;
	matrix_setup(&m, pd_tp, adopt_pd);
	m.threads_before = before;

	long_go(&m);
	t0 = h_now_us();
	h_destroy(&H);
	t1 = h_now_us();
	left = long_left_ms(&m, t0);

	printf("shutdown matrix, pool destroyed in PROTOCOL_DESTROY during "
	       "context destroy: %.2f ms, of which the pool %.2f ms (the "
	       "300 ms task had %.1f ms left)\n", (double)(t1 - t0) / 1000.0,
	       (double)pd_destroy_us / 1000.0, left);
	CHECK(pd_tp == NULL);
	CHECK((double)(t1 - t0) / 1000.0 <= left + (double)bound_ms);
	if ((double)(t1 - t0) / 1000.0 > left + (double)bound_ms)
		matrix_dump(&m, t0);
	matrix_check(&m, "PROTOCOL_DESTROY");
	free_conns(&m, 1);
	matrix_fini(&m);

	CHECK_EQ(h_init(&H, NULL), 0);
}

/* S5: a large pool (more than the 256 threads liblwstp allowed before
 * 2026-12), every worker blocked in 10 ms check-ins */
static void
test_many_threads(void)
{
	struct lws_threadpool *tp;
	struct rt *t;
	struct h_conn *c;
	long long t0, t1;
	int n = 300, before = count_threads(), i, bad = 0;

	t = calloc((size_t)n + 100, sizeof(*t));
	tp = pool(n, 100);
	c = h_conn(&H, 1);
	/* a worker that has not reached its idle wait yet can not take a
	 * task at once: the first n would count against the queue */
	wait_idle(tp, n);
	for (i = 0; i < n + 100; i++) {
		rt_init(&t[i], RT_SLEEP, 10, 0);
		CHECK_EQ(rt_enqueue(tp, &t[i], c->wsi, 0), LWSTP_OK);
		if (i < n)
			rt_wait(&t[i], &t[i].calls, 1);
	}
	CHECK_EQ(count_threads(), before + n);

	t0 = h_now_us();
	lws_threadpool_finish(tp);
	lws_threadpool_destroy(tp);
	t1 = h_now_us();
	printf("shutdown %d threads blocked in 10 ms check-ins + 100 queued: "
	       "%.2f ms\n", n, (double)(t1 - t0) / 1000.0);
	CHECK((t1 - t0) / 1000 <= 10 + bound_ms);
	for (i = 0; i < n + 100; i++) {
		bad += t[i].cleanups != 1;
		rt_fini(&t[i]);
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(count_threads(), before);
	free(t);
	h_conn_free(c);
}

int
main(int argc, char **argv)
{
	static const struct h_test tests[] = {
		{ "idle_and_checkin", test_idle_and_checkin },
		{ "matrix_destroy", test_matrix_destroy },
		{ "matrix_context_first", test_matrix_context_first },
		{ "matrix_protocol_destroy", test_matrix_protocol_destroy },
		{ "many_threads", test_many_threads },
	};
	const char *e = getenv("LWSTP_SHUTDOWN_BOUND_MS");

	if (e && atoi(e) > 0)
		bound_ms = atoi(e);
	printf("bound: longest check-in left + %lld ms\n", bound_ms);
	if (h_init(&H, NULL)) {
		fprintf(stderr, "cannot create the lws context\n");
		return 1;
	}
	/* TSan starts a thread of its own with the first pthread_create():
	 * have that happen before any thread count is taken */
	lws_threadpool_destroy(pool(1, 0));
	h_run(tests, LWS_ARRAY_SIZE(tests));
	h_destroy(&H);

	return h_report("test-shutdown");
}
