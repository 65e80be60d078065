/*
 * Several lws service threads (lws built with LWS_MAX_SMP > 1).
 *
 * liblwstp keeps one ready list per service thread (hub->pt[tsi]); a
 * worker's SYNC or end puts the task's wsi on the list of the wsi's own tsi,
 * and the service thread of that tsi empties it in
 * LWS_CALLBACK_EVENT_WAIT_CANCELLED (hub_dispatch() for the tsi of the fake
 * wsi of the broadcast).  This test runs a context with count_threads 2 and
 * two threads, each looping on lws_service_tsi() of its own tsi, as lws's
 * minimal-ws-server-threads-smp does, with real wsis on both tsis, and
 * checks, on each thread:
 *
 *  - every SYNC gives exactly one writable callback, on the thread that
 *    services the wsi's tsi; lws_callback_on_writable() is only ever called
 *    (by the library) on that same thread: the test interposes it;
 *  - tasks are reaped by lws_threadpool_task_status() in the writable
 *    callback, where their cleanup runs, once, with the wsi;
 *  - a wsi closed while its task runs, or while it waits in SYNC, has the
 *    task detached: its task function is told STOPPING and its cleanup runs
 *    once, on a worker, with wsi NULL.
 *
 * Connections: raw wsis adopted from socketpairs, on the main thread before
 * the service threads start (lws_adopt_descriptor_vhost() puts each on the
 * least busy tsi, lws_get_idlest_tsi() in lws's adopt.c, so they alternate
 * between tsi 0 and 1; adopting while the threads run would make one thread
 * add a wsi to the other's pt).  Everything else that touches a wsi is done
 * on the wsi's service thread: the tasks are enqueued from each thread's
 * own EVENT_WAIT_CANCELLED, after the main thread's lws_cancel_service();
 * the closes come from the main thread closing the peer socket, which lws
 * sees on the wsi's thread.
 *
 * No sleeps: the main thread waits on a condition, with a deadline whose
 * expiry is a failure.  Built against an lws with LWS_MAX_SMP 1 (Debian's)
 * it exits with 77, which ctest reports as skipped.
 */

#define _GNU_SOURCE
#include <lws_config.h>
#include "harness.h"

#include <stdio.h>

#if LWS_MAX_SMP < 2

int
main(void)
{
	printf("skipped: lws built with LWS_MAX_SMP %d\n", LWS_MAX_SMP);

	return 77;
}

#else

#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NTSI		2	/* service threads */
#define PER_TSI		5	/* connections on each tsi: */
#define N_NORMAL	3	/*  indexes 0..2 run to their end, */
#define I_CLOSE_RUN	3	/*  3 is closed while running, */
#define I_CLOSE_SYNC	4	/*  4 while waiting in SYNC */
#define NCONN		(NTSI * PER_TSI)
#define SYNCS		200	/* SYNC round trips of a task run to its end */
#define SYNCS_CLOSE	20	/* ... of a task whose wsi is closed */

enum { K_NORMAL, K_CLOSE_RUN, K_CLOSE_SYNC };

/* a connection and its one task; every field under g.m */
struct conn {
	int		idx;
	int		kind;		/* K_* */
	int		tsi;		/* lws_wsi_tsi() at adoption */
	struct lws	*wsi;		/* NULL once it is destroyed */
	int		peer_fd;

	/* the task function, on a worker */
	int		target;		/* SYNCs it returns */
	int		produced;	/* SYNCs returned */
	int		calls;
	int		calls_off_worker; /* task function on a service thread */
	int		saw_stopping;	/* calls told STOPPING */
	int		at_gate;	/* K_CLOSE_RUN: held, running */
	int		gate_open;
	int		gate_timeout;
	int		ran_after_close; /* told RUNNING after its wsi closed */

	/* the service thread of its tsi */
	int		enqueued;
	int		writables;	/* RAW_WRITEABLE callbacks */
	int		acks;		/* lws_threadpool_task_sync(t, 0) */
	int		held;		/* K_CLOSE_SYNC: last SYNC not acked */
	int		spurious;	/* writables with nothing to do */
	int		wrong_thread;	/* callbacks off the tsi's thread */
	int		requests;	/* lws_callback_on_writable() calls */
	int		requests_wrong_thread;
	int		reaped;		/* times task_status() reaped it */
	int		reap_status;
	int		destroyed;	/* WSI_DESTROY */
	int		destroy_tsi;

	/* cleanup */
	int		cleanups;
	struct lws	*cleanup_wsi;
	int		cleanup_tsi;	/* service thread it ran on, -1: none */
};

static struct {
	pthread_mutex_t		m;
	pthread_cond_t		c;	/* broadcast at every change */
	struct lws_context	*cx;
	struct lws_vhost	*vh;
	struct lws_threadpool	*tp;
	struct conn		conns[NCONN];
	pthread_t		self[NTSI]; /* pthread_self() of each thread */
	int			started;
	int			go;	/* enqueue now */
	int			enq_done[NTSI];
	int			enqueued;
	int			reaped;
	int			cancels[NTSI]; /* EVENT_WAIT_CANCELLED seen */
	int			cancel_bad_tsi;
	int			writables[NTSI];
	int			svc_err[NTSI];
	int			teardown; /* the main thread is alone */
} g = { .m = PTHREAD_MUTEX_INITIALIZER };

static atomic_int stop;

/*
 * lws 4.1's own locks, under TSan: lws_adopt_descriptor_vhost() takes the
 * context lock then a pt lock, and a service thread takes the context lock
 * holding its pt lock (lws_sul_plat_unix(), lws_vhost_unbind_wsi() on
 * close).  Both inside lws, whose lock order is its own business (here the
 * adoptions are done before the service threads start, so they can not
 * deadlock); TSan's report of it is suppressed.  Every other report stands.
 */
#if defined(__SANITIZE_THREAD__)
#define TSAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSAN_BUILD 1
#endif
#endif
#if defined(TSAN_BUILD)
const char *__tsan_default_suppressions(void);
const char *
__tsan_default_suppressions(void)
{
	return "deadlock:lws_mutex_refcount_lock\n";
}
#endif

/* the tsi this thread services; -1 on the main thread and on workers */
static __thread int my_tsi = -1;

/* CHECK and CHECK_EQ from any thread (h_checks and h_failures are shared) */
static pthread_mutex_t check_m = PTHREAD_MUTEX_INITIALIZER;
#define TCHECK(c) do { pthread_mutex_lock(&check_m); CHECK(c); \
	pthread_mutex_unlock(&check_m); } while (0)
#define TCHECK_EQ(a, b) do { pthread_mutex_lock(&check_m); CHECK_EQ(a, b); \
	pthread_mutex_unlock(&check_m); } while (0)


static void
deadline_ts(struct timespec *ts, clockid_t clk)
{
	clock_gettime(clk, ts);
	ts->tv_sec += H_DEADLINE_MS / 1000;
}

/* g.m held: wait until pred() or the deadline (a failure) */
static int
__wait_for(int (*pred)(void), const char *what)
{
	struct timespec ts;
	int r = 0;

	deadline_ts(&ts, CLOCK_MONOTONIC);
	while (!pred() && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&g.c, &g.m, &ts);
	if (pred())
		return 0;

	TCHECK(!"condition met before the deadline");
	fprintf(stderr, "FAIL: waited %d ms for %s\n", H_DEADLINE_MS, what);

	return -1;
}

static int
wait_for(int (*pred)(void), const char *what)
{
	int r;

	pthread_mutex_lock(&g.m);
	r = __wait_for(pred, what);
	pthread_mutex_unlock(&g.m);

	return r;
}

/* the conn of a wsi of ours (NULL for other wsis and for fake ones) */
static struct conn *
conn_of(struct lws *wsi)
{
	struct conn *c = wsi ? lws_get_opaque_user_data(wsi) : NULL;

	if (c < g.conns || c >= g.conns + NCONN)
		return NULL;

	return c;
}

/*
 * The library must ask for writable callbacks on the wsi's own service
 * thread.  This definition in the executable (exported: ENABLE_EXPORTS)
 * interposes lws's for liblwstp.so; it counts the requests and checks the
 * thread, then calls lws's own.
 */
static int (*real_callback_on_writable)(struct lws *wsi);

int
lws_callback_on_writable(struct lws *wsi)
{
	struct conn *c = conn_of(wsi);

	if (c) {
		pthread_mutex_lock(&g.m);
		if (!g.teardown) {
			c->requests++;
			if (my_tsi != lws_wsi_tsi(wsi) || my_tsi != c->tsi)
				c->requests_wrong_thread++;
		}
		pthread_mutex_unlock(&g.m);
	}

	return real_callback_on_writable(wsi);
}

/* g.m held: is this the service thread of c's tsi? */
static int
__on_own_thread(struct conn *c, struct lws *wsi)
{
	return my_tsi == c->tsi && lws_wsi_tsi(wsi) == c->tsi &&
	       pthread_equal(pthread_self(), g.self[c->tsi]);
}

static enum lws_threadpool_task_return
task_fn(void *user, enum lws_threadpool_task_status s)
{
	struct conn *c = user;
	enum lws_threadpool_task_return r;
	struct timespec ts;
	int e = 0;

	pthread_mutex_lock(&g.m);
	c->calls++;
	if (my_tsi != -1)
		c->calls_off_worker++;

	if (s == LWS_TP_STATUS_STOPPING) {
		c->saw_stopping++;
		r = LWS_TP_RETURN_STOPPED;
	} else if (c->gate_open || c->held) {
		/* its wsi is gone: it should have been told to stop */
		c->ran_after_close++;
		r = LWS_TP_RETURN_FINISHED;
	} else if (c->kind == K_CLOSE_RUN && c->produced == c->target) {
		/* stay running until the test has closed the wsi */
		c->at_gate = 1;
		pthread_cond_broadcast(&g.c);
		deadline_ts(&ts, CLOCK_MONOTONIC);
		while (!c->gate_open && e != ETIMEDOUT)
			e = pthread_cond_timedwait(&g.c, &g.m, &ts);
		if (!c->gate_open)
			c->gate_timeout = 1;
		r = LWS_TP_RETURN_CHECKING_IN;
	} else if (c->produced < c->target) {
		c->produced++;
		r = LWS_TP_RETURN_SYNC;
	} else
		r = LWS_TP_RETURN_FINISHED;
	pthread_mutex_unlock(&g.m);

	return r;
}

static void
cleanup_fn(struct lws *wsi, void *user)
{
	struct conn *c = user;

	pthread_mutex_lock(&g.m);
	c->cleanups++;
	c->cleanup_wsi = wsi;
	c->cleanup_tsi = my_tsi;
	pthread_cond_broadcast(&g.c);
	pthread_mutex_unlock(&g.m);
}

/* on the service thread of tsi: enqueue the task of each of its conns */
static void
enqueue_tsi(int tsi)
{
	struct lws_threadpool_task_args a;
	struct lws_threadpool_task *t;
	int i;

	for (i = 0; i < NCONN; i++) {
		struct conn *c = &g.conns[i];

		if (c->tsi != tsi)	/* const once the threads run */
			continue;

		memset(&a, 0, sizeof(a));
		a.wsi = c->wsi;
		a.user = c;
		a.task = task_fn;
		a.cleanup = cleanup_fn;
		t = lws_threadpool_enqueue(g.tp, &a, "smp-%d-%d", tsi, i);
		TCHECK(t != NULL);

		pthread_mutex_lock(&g.m);
		c->enqueued = !!t;
		g.enqueued++;
		pthread_cond_broadcast(&g.c);
		pthread_mutex_unlock(&g.m);
	}
}

/* protocols[0]: the lwstp hook first, as an integrating server does */
static int
cb0(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct conn *c;
	int tsi, doit = 0;

	lwstp_hook(wsi, reason, user, in, len);

	switch (reason) {
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		/* the fake wsi of a pt's broadcast carries that pt's tsi */
		tsi = lws_wsi_tsi(wsi);
		pthread_mutex_lock(&g.m);
		if (my_tsi < 0 || tsi != my_tsi)
			g.cancel_bad_tsi++;
		if (my_tsi >= 0) {
			g.cancels[my_tsi]++;
			doit = g.go && !g.enq_done[my_tsi];
			if (doit)
				g.enq_done[my_tsi] = 1;
		}
		pthread_mutex_unlock(&g.m);
		if (doit)
			enqueue_tsi(my_tsi);
		break;

	case LWS_CALLBACK_WSI_DESTROY:
		c = conn_of(wsi);
		if (!c)
			break;
		pthread_mutex_lock(&g.m);
		if (!g.teardown) {
			if (!__on_own_thread(c, wsi))
				c->wrong_thread++;
			c->destroyed++;
			c->destroy_tsi = my_tsi;
			c->wsi = NULL;
			pthread_cond_broadcast(&g.c);
		}
		pthread_mutex_unlock(&g.m);
		break;

	default:
		break;
	}

	/* lws_callback_http_dummy answers LWS_CALLBACK_GET_THREAD_ID */
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static void
writable(struct conn *c, struct lws *wsi)
{
	struct lws_threadpool_task *task;
	enum lws_threadpool_task_status s;
	void *u;
	int ack = 0;

	pthread_mutex_lock(&g.m);
	if (g.teardown) {
		pthread_mutex_unlock(&g.m);
		return;
	}
	c->writables++;
	g.writables[c->tsi]++;
	if (!__on_own_thread(c, wsi))
		c->wrong_thread++;
	pthread_mutex_unlock(&g.m);

	task = lws_threadpool_get_task_wsi(wsi);
	if (!task) {
		pthread_mutex_lock(&g.m);
		c->spurious++;
		pthread_mutex_unlock(&g.m);
		return;
	}

	/* may reap it: then its cleanup has run when this returns */
	s = lws_threadpool_task_status(task, &u);

	pthread_mutex_lock(&g.m);
	TCHECK(u == c);
	switch (s) {
	case LWS_TP_STATUS_SYNCING:
		/* one writable per SYNC: this is the one of the last SYNC */
		TCHECK_EQ(c->produced, c->acks + 1);
		if (c->kind == K_CLOSE_SYNC && c->produced == c->target) {
			c->held = 1;	/* left waiting: the test closes it */
			pthread_cond_broadcast(&g.c);
			break;
		}
		c->acks++;
		ack = 1;
		break;

	case LWS_TP_STATUS_FINISHED:
	case LWS_TP_STATUS_STOPPED:
		c->reaped++;
		c->reap_status = s;
		g.reaped++;
		pthread_cond_broadcast(&g.c);
		break;

	default:
		c->spurious++;
		break;
	}
	pthread_mutex_unlock(&g.m);

	if (ack)
		lws_threadpool_task_sync(task, 0);
}

static int
cb_raw(struct lws *wsi, enum lws_callback_reasons reason, void *user,
       void *in, size_t len)
{
	struct conn *c = conn_of(wsi);

	if (reason == LWS_CALLBACK_RAW_WRITEABLE && c)
		writable(c, wsi);

	return 0;
}

static const struct lws_protocols protocols[] = {
	{ .name = "http", .callback = cb0 },
	{ .name = "raw-smp", .callback = cb_raw },
	{ .name = NULL }
};

static void *
service_thread(void *arg)
{
	int tsi = (int)(intptr_t)arg;

	my_tsi = tsi;
	pthread_mutex_lock(&g.m);
	g.self[tsi] = pthread_self();
	g.started++;
	pthread_cond_broadcast(&g.c);
	pthread_mutex_unlock(&g.m);

	/* ends when the main thread sets stop and cancels the service */
	while (!atomic_load(&stop))
		if (lws_service_tsi(g.cx, 0, tsi) < 0) {
			pthread_mutex_lock(&g.m);
			g.svc_err[tsi] = 1;
			pthread_mutex_unlock(&g.m);
			break;
		}

	return NULL;
}

/* conditions waited for, g.m held */
static int
p_started(void)
{
	return g.started == NTSI;
}

static int
p_enqueued(void)
{
	return g.enqueued == NCONN;
}

static int
p_close_ready(void)
{
	int i;

	for (i = 0; i < NCONN; i++) {
		struct conn *c = &g.conns[i];

		if ((c->kind == K_CLOSE_RUN && !c->at_gate) ||
		    (c->kind == K_CLOSE_SYNC && !c->held))
			return 0;
	}

	return 1;
}

static int
p_closed(void)
{
	int i;

	for (i = 0; i < NCONN; i++)
		if (g.conns[i].kind != K_NORMAL && !g.conns[i].destroyed)
			return 0;

	return 1;
}

static int
p_all_ended(void)
{
	int i;

	for (i = 0; i < NCONN; i++)
		if (!g.conns[i].cleanups)
			return 0;

	return 1;
}

int
main(void)
{
	struct lws_context_creation_info info;
	struct lws_threadpool_create_args pa;
	pthread_t threads[NTSI];
	int n, i, per_tsi[NTSI] = { 0 }, nthreads = 0;
	long long t0 = h_now_ms();
	struct lwstp_stats st;
	pthread_condattr_t ca;
	struct timespec ts;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g.c, &ca);
	pthread_condattr_destroy(&ca);

	real_callback_on_writable = (int (*)(struct lws *))
			dlsym(RTLD_NEXT, "lws_callback_on_writable");
	if (!real_callback_on_writable) {
		fprintf(stderr, "FAIL: no lws_callback_on_writable: %s\n",
			dlerror());
		return 1;
	}

	lws_set_log_level(LLL_ERR | LLL_WARN, NULL);

	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	info.count_threads = NTSI;
	g.cx = lws_create_context(&info);
	CHECK(g.cx != NULL);
	if (!g.cx)
		return h_report("smp");
	CHECK_EQ(lws_get_count_threads(g.cx), NTSI);

	info.vhost_name = "smp";
	info.protocols = protocols;
	g.vh = lws_create_vhost(g.cx, &info);
	CHECK(g.vh != NULL);

	memset(&pa, 0, sizeof(pa));
	pa.threads = NCONN;		/* every task on a worker at once */
	pa.max_queue_depth = NCONN;
	g.tp = lws_threadpool_create(g.cx, &pa, "smp");
	CHECK(g.tp != NULL);
	if (!g.vh || !g.tp)
		goto out_cx;

	/* the connections: lws spreads them over the tsis */
	for (i = 0; i < NCONN; i++) {
		struct conn *c = &g.conns[i];
		lws_sock_file_fd_type fd;
		int sv[2];

		c->idx = i;
		c->peer_fd = -1;
		c->cleanup_tsi = -2;
		c->destroy_tsi = -2;
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
			CHECK(!"socketpair");
			goto out_conns;
		}
		fd.sockfd = sv[0];
		c->peer_fd = sv[1];
		c->wsi = lws_adopt_descriptor_vhost(g.vh, LWS_ADOPT_SOCKET, fd,
						    "raw-smp", NULL);
		CHECK(c->wsi != NULL);
		if (!c->wsi) {
			close(sv[0]);
			goto out_conns;
		}
		lws_set_opaque_user_data(c->wsi, c);
		c->tsi = lws_wsi_tsi(c->wsi);
		CHECK(c->tsi >= 0 && c->tsi < NTSI);
		if (c->tsi < 0 || c->tsi >= NTSI)
			goto out_conns;

		n = per_tsi[c->tsi]++;
		c->kind = n == I_CLOSE_RUN ? K_CLOSE_RUN :
			  n == I_CLOSE_SYNC ? K_CLOSE_SYNC : K_NORMAL;
		c->target = c->kind == K_NORMAL ? SYNCS : SYNCS_CLOSE;
	}
	/* both service threads have wsis, the same number each */
	for (n = 0; n < NTSI; n++)
		CHECK_EQ(per_tsi[n], PER_TSI);
	if (h_failures)
		goto out_conns;

	for (n = 0; n < NTSI; n++) {
		if (pthread_create(&threads[n], NULL, service_thread,
				   (void *)(intptr_t)n)) {
			CHECK(!"pthread_create");
			break;
		}
		nthreads++;
	}
	if (nthreads < NTSI || wait_for(p_started, "the service threads"))
		goto out_threads;

	/* each service thread enqueues its own wsis' tasks */
	pthread_mutex_lock(&g.m);
	g.go = 1;
	pthread_mutex_unlock(&g.m);
	lws_cancel_service(g.cx);
	if (wait_for(p_enqueued, "the enqueues on both threads"))
		goto out_threads;

	/* close the wsis of a running task and of a task waiting in SYNC */
	if (wait_for(p_close_ready, "the tasks to close to be in place"))
		goto out_threads;
	pthread_mutex_lock(&g.m);
	for (i = 0; i < NCONN; i++)
		if (g.conns[i].kind != K_NORMAL) {
			close(g.conns[i].peer_fd);
			g.conns[i].peer_fd = -1;
		}
	pthread_mutex_unlock(&g.m);
	wait_for(p_closed, "the closed wsis' WSI_DESTROY");

	/* ... and let the running one go on: it must be told to stop */
	pthread_mutex_lock(&g.m);
	for (i = 0; i < NCONN; i++)
		if (g.conns[i].kind == K_CLOSE_RUN)
			g.conns[i].gate_open = 1;
	pthread_cond_broadcast(&g.c);
	pthread_mutex_unlock(&g.m);

	wait_for(p_all_ended, "every task's cleanup");

out_threads:
	/* a held task must not outlive the test's deadline either */
	pthread_mutex_lock(&g.m);
	for (i = 0; i < NCONN; i++)
		g.conns[i].gate_open = 1;
	pthread_cond_broadcast(&g.c);
	pthread_mutex_unlock(&g.m);

	atomic_store(&stop, 1);
	lws_cancel_service(g.cx);
	for (n = 0; n < nthreads; n++) {
		deadline_ts(&ts, CLOCK_REALTIME);
		if (pthread_timedjoin_np(threads[n], NULL, &ts)) {
			fprintf(stderr, "FAIL: service thread %d did not end "
				"within %d ms\n", n, H_DEADLINE_MS);
			_exit(1);
		}
	}
	for (n = 0; n < nthreads; n++) {
		CHECK(pthread_equal(threads[n], g.self[n]));
		CHECK_EQ(g.svc_err[n], 0);
	}

	/* the main thread is alone with lws from here */
	g.teardown = 1;

	for (n = 0; n < NTSI; n++) {
		CHECK(g.cancels[n] > 0);
		CHECK(g.writables[n] > 0);
		printf("tsi %d: %d wake-ups, %d writables\n", n, g.cancels[n],
		       g.writables[n]);
	}
	CHECK_EQ(g.cancel_bad_tsi, 0);

	for (i = 0; i < NCONN; i++) {
		struct conn *c = &g.conns[i];
		int failures = h_failures;

		CHECK_EQ(c->enqueued, 1);
		CHECK_EQ(c->wrong_thread, 0);
		CHECK_EQ(c->requests_wrong_thread, 0);
		CHECK_EQ(c->spurious, 0);
		CHECK_EQ(c->calls_off_worker, 0);
		CHECK_EQ(c->produced, c->target);
		CHECK_EQ(c->cleanups, 1);
		CHECK_EQ(c->gate_timeout, 0);
		CHECK_EQ(c->ran_after_close, 0);

		switch (c->kind) {
		case K_NORMAL:
			/* a writable for each SYNC and one for the end */
			CHECK_EQ(c->acks, c->target);
			CHECK_EQ(c->writables, c->target + 1);
			CHECK_EQ(c->requests, c->writables);
			CHECK_EQ(c->reaped, 1);
			CHECK_EQ(c->reap_status, LWS_TP_STATUS_FINISHED);
			CHECK_EQ(c->saw_stopping, 0);
			/* reaped in its writable: with the wsi, on its tsi */
			CHECK(c->cleanup_wsi == c->wsi && c->wsi);
			CHECK_EQ(c->cleanup_tsi, c->tsi);
			CHECK_EQ(c->destroyed, 0);
			break;
		default:
			/* detached when its wsi went: the worker ended it */
			CHECK_EQ(c->writables, c->target);
			CHECK_EQ(c->acks, c->target -
				 (c->kind == K_CLOSE_SYNC));
			CHECK_EQ(c->requests, c->writables);
			CHECK_EQ(c->reaped, 0);
			CHECK_EQ(c->saw_stopping, 1);
			CHECK(c->cleanup_wsi == NULL);
			CHECK_EQ(c->cleanup_tsi, -1);
			CHECK_EQ(c->destroyed, 1);
			CHECK_EQ(c->destroy_tsi, c->tsi);
			break;
		}
		if (h_failures != failures)
			fprintf(stderr, "  (conn %d: tsi %d, kind %d: %d syncs, "
				"%d writables, %d requests, cleanup with wsi "
				"%p on tsi %d)\n", i, c->tsi, c->kind,
				c->produced, c->writables, c->requests,
				(void *)c->cleanup_wsi, c->cleanup_tsi);
	}

	CHECK_EQ(lwstp_get_stats(g.tp, &st), LWSTP_OK);
	CHECK_EQ(st.enqueued, NCONN);
	CHECK_EQ(st.finished, NTSI * N_NORMAL);
	CHECK_EQ(st.stopped, NTSI * (PER_TSI - N_NORMAL));
	CHECK_EQ(st.detached, NTSI * (PER_TSI - N_NORMAL));
	CHECK_EQ(st.reaped, NCONN);
	CHECK_EQ(st.syncs, NTSI * (N_NORMAL * SYNCS +
				   (PER_TSI - N_NORMAL) * SYNCS_CLOSE));
	CHECK_EQ(st.sync_timeouts, 0);
	CHECK_EQ(st.running + st.queued + st.done_waiting, 0);

out_conns:
	/* the service threads are not running (or never ran) here */
	g.teardown = 1;
	if (g.tp)
		lws_threadpool_destroy(g.tp);
	/* nothing is cleaned up twice, or late */
	for (i = 0; i < NCONN; i++)
		if (g.conns[i].wsi || g.conns[i].destroyed)
			CHECK(g.conns[i].cleanups <= 1);
out_cx:
	lws_context_destroy(g.cx);
	for (i = 0; i < NCONN; i++)
		if (g.conns[i].peer_fd >= 0)
			close(g.conns[i].peer_fd);

	printf("smp: %d service threads, %d connections, %lld ms\n", NTSI,
	       NCONN, h_now_ms() - t0);

	return h_report("smp");
}

#endif
