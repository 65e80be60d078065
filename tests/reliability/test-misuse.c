/*
 * Bad input catalogue for the API: every misuse gets a clear error (a
 * return value and a log line, both asserted) and loses nothing (the
 * pool's other tasks carry on, each cleanup runs once, a refused task's
 * user is not touched).
 *
 * Freed handles (a reaped or dequeued task, a destroyed pool) are checked
 * too, as far as the library can see them: reading freed memory is
 * undefined behaviour, which ASan and TSan report, so that case only runs
 * in the plain build.
 */

#include "harness.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define R_FIN	LWS_TP_RETURN_FINISHED
#define R_STOP	LWS_TP_RETURN_STOPPED
#define R_SYNC	LWS_TP_RETURN_SYNC
#define R_CHECK	LWS_TP_RETURN_CHECKING_IN

static struct h H;

/* --- the lws log, captured ----------------------------------------------- */

#define LOG_LINES 64
static char log_ring[LOG_LINES][256];
static int log_n;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void
log_emit(int level, const char *line)
{
	pthread_mutex_lock(&log_lock);
	lws_strncpy(log_ring[log_n++ % LOG_LINES], line,
		    sizeof(log_ring[0]));
	pthread_mutex_unlock(&log_lock);
}

static int
log_mark(void)
{
	int n;

	pthread_mutex_lock(&log_lock);
	n = log_n;
	pthread_mutex_unlock(&log_lock);

	return n;
}

/* a line logged since mark contains every one of the words */
static int
logged(int mark, const char *w1, const char *w2)
{
	int i, found = 0;

	pthread_mutex_lock(&log_lock);
	for (i = mark < log_n - LOG_LINES ? log_n - LOG_LINES : mark;
	     i < log_n && !found; i++)
		found = strstr(log_ring[i % LOG_LINES], w1) &&
			(!w2 || strstr(log_ring[i % LOG_LINES], w2));
	pthread_mutex_unlock(&log_lock);

	return found;
}

#define CHECK_LOG(mark, w1, w2) do { h_checks++; \
	if (!logged(mark, w1, w2)) { h_failures++; \
	fprintf(stderr, "FAIL %s:%d: no log line with \"%s\"%s%s%s\n", \
		__FILE__, __LINE__, w1, w2 ? " and \"" : "", w2 ? w2 : "", \
		w2 ? "\"" : ""); } } while (0)

/* a worker's lines reach the log at the service thread's next wake-up */
struct logwait {
	int mark;
	const char *w1;
};

static int
logwait_seen(void *arg)
{
	struct logwait *lw = arg;

	return logged(lw->mark, lw->w1, NULL);
}

/* --- helpers ------------------------------------------------------------- */

static struct lws_threadpool *
pool(int threads, int depth)
{
	struct lwstp_create_args a;

	memset(&a, 0, sizeof(a));
	a.threads = threads;
	a.max_queue_depth = depth;

	return lwstp_create(H.cx, &a, "misuse-%d", threads);
}

static int
enqueue(struct lws_threadpool *tp, struct h_task *t, struct lws *wsi)
{
	return h_enqueue(tp, t, wsi, "misuse");
}

static void
wait_status(struct lws_threadpool_task *task, int status)
{
	h_wait_status(&H, task, status);
}

static int
cleaned(void *arg)
{
	struct h_task *t = arg;

	return h_task_get(t, &t->cleanups) > 0;
}

static int
reaper(struct lws_threadpool_task *task, void *user)
{
	int s = (int)lws_threadpool_task_status(task, NULL);

	if (s == LWS_TP_STATUS_SYNCING)
		lws_threadpool_task_sync(task, 0);

	return 0;
}

static void
on_writable_reap(struct h_conn *c)
{
	lws_threadpool_foreach_task_wsi(c->wsi, NULL, reaper);
}

/* --- the catalogue ------------------------------------------------------- */

static void
test_create_args(void)
{
	static const struct { int threads, depth, nice; const char *word; }
	bad[] = {
		{ 0, 0, 0, "threads 0" },
		{ -1, 0, 0, "threads -1" },
		{ INT_MIN, 0, 0, "threads" },
		/* more than kernel.threads-max: refused before any starts */
		{ INT_MAX, 0, 0, "threads-max" },
		{ 1, -1, 0, "max_queue_depth -1" },
		{ 1, INT_MIN, 0, "max_queue_depth" },
		{ 1, 0, -1, "worker_nice -1" },
		{ 1, 0, 20, "worker_nice 20" },
		{ 1, 0, INT_MAX, "worker_nice" },
	};
	struct lws_threadpool_create_args ua;
	struct lwstp_create_args a;
	struct lws_threadpool *tp;
	size_t i;
	int m;

	for (i = 0; i < LWS_ARRAY_SIZE(bad); i++) {
		memset(&a, 0, sizeof(a));
		a.threads = bad[i].threads;
		a.max_queue_depth = bad[i].depth;
		a.worker_nice = bad[i].nice;
		m = log_mark();
		tp = lwstp_create(H.cx, &a, "bad-%d", (int)i);
		CHECK(tp == NULL);
		CHECK_LOG(m, bad[i].word, "is not in");
		if (tp)
			lws_threadpool_destroy(tp);
	}

	/* the upstream entry point says the same */
	memset(&ua, 0, sizeof(ua));
	ua.threads = -5;
	m = log_mark();
	CHECK(!lws_threadpool_create(H.cx, &ua, "u"));
	CHECK_LOG(m, "threads -5", "is not in");
	m = log_mark();
	CHECK(!lws_threadpool_create(NULL, &ua, "u"));
	CHECK_LOG(m, "NULL context", NULL);
	m = log_mark();
	CHECK(!lws_threadpool_create(H.cx, NULL, "u"));
	CHECK_LOG(m, "NULL args", NULL);

	/*
	 * As upstream, any positive thread count and any queue depth are
	 * fine (up to 2026-12 liblwstp refused more than 256 threads and a
	 * depth over 2^24), and so is a NULL name
	 */
	memset(&a, 0, sizeof(a));
	a.threads = 300;
	a.max_queue_depth = INT_MAX;
	a.worker_nice = 19;
	tp = lwstp_create(H.cx, &a, NULL);
	CHECK(tp != NULL);
	if (tp) {
		struct lwstp_stats st;

		CHECK_EQ(lwstp_get_stats(tp, &st), LWSTP_OK);
		CHECK_EQ(st.threads, 300);
		lws_threadpool_finish(tp);
		lws_threadpool_destroy(tp);
	}
}

static void
test_enqueue_args(void)
{
	struct lws_threadpool *tp = pool(1, 4);
	struct h_conn *c = h_conn(&H, 1), *plain = h_conn(&H, 0);
	struct lws_threadpool_task_args a;
	struct lws_threadpool_task *task = (void *)&a;
	struct h_task t, ok;
	char longname[200];
	int m;

	h_task_init(&t, R_FIN, 1);
	h_task_init(&ok, R_FIN, 1);

	h_task_args(&t, c->wsi, &a);
	m = log_mark();
	CHECK_EQ(lwstp_enqueue(NULL, &a, &task, "x"), LWSTP_E_INVAL);
	CHECK(task == NULL);	/* cleared on failure */
	CHECK_LOG(m, "NULL threadpool", NULL);
	m = log_mark();
	CHECK(!lws_threadpool_enqueue(tp, NULL, "x"));
	CHECK_LOG(m, "NULL args", NULL);
	a.task = NULL;
	m = log_mark();
	CHECK_EQ(lwstp_enqueue(tp, &a, NULL, "x"), LWSTP_E_INVAL);
	CHECK_LOG(m, "NULL args->task", NULL);
	h_task_args(&t, NULL, &a);
	m = log_mark();
	CHECK_EQ(lwstp_enqueue(tp, &a, NULL, "x"), LWSTP_E_INVAL);
	CHECK_LOG(m, "NULL args->wsi", NULL);
	h_task_args(&t, plain->wsi, &a);
	m = log_mark();
	CHECK_EQ(lwstp_enqueue(tp, &a, NULL, "x"), LWSTP_E_NO_INTEGRATION);
	CHECK_LOG(m, "no lwstp hook will see this wsi close", "protocols[0]");

	/* a NULL cleanup and a NULL or over-long name are fine */
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	h_task_args(&ok, c->wsi, &a);
	a.cleanup = NULL;
	CHECK_EQ(lwstp_enqueue(tp, &a, &ok.handle, "%s", longname), LWSTP_OK);
	if (ok.handle)
		CHECK_EQ(strlen(lwstp_task_name(ok.handle)), 31);
	wait_status(ok.handle, LWS_TP_STATUS_FINISHED);
	CHECK_EQ(lws_threadpool_task_status(ok.handle, NULL),
		 LWS_TP_STATUS_FINISHED);
	CHECK_EQ(ok.cleanups, 0);
	h_task_args(&ok, c->wsi, &a);
	CHECK_EQ(lwstp_enqueue(tp, &a, &ok.handle, NULL), LWSTP_OK);
	if (ok.handle)
		CHECK(!strcmp(lwstp_task_name(ok.handle), ""));
	wait_status(ok.handle, LWS_TP_STATUS_FINISHED);
	CHECK_EQ(lws_threadpool_task_status(ok.handle, NULL),
		 LWS_TP_STATUS_FINISHED);
	CHECK_EQ(ok.cleanups, 1);

	/* after finish: refused, the user is still ours (no cleanup) */
	lws_threadpool_finish(tp);
	h_task_args(&t, c->wsi, &a);
	m = log_mark();
	CHECK_EQ(lwstp_enqueue(tp, &a, NULL, "late"), LWSTP_E_SHUTTING_DOWN);
	CHECK_LOG(m, "refused", "finishing");
	CHECK(!lws_threadpool_enqueue(tp, &a, "late"));
	{
		struct lwstp_stats st;

		lwstp_get_stats(tp, &st);
		CHECK_EQ(st.rejected_shutdown, 2);
	}
	m = log_mark();
	lws_threadpool_finish(tp);	/* twice: harmless */
	lws_threadpool_destroy(tp);
	CHECK_EQ(t.calls, 0);
	CHECK_EQ(t.cleanups, 0);

	h_task_fini(&t);
	h_task_fini(&ok);
	h_conn_free(c);
	h_conn_free(plain);
}

/* a task function that returns what is not a lws_threadpool_task_return */
static void
test_bad_returns(void)
{
	static const int bad[] = { 42, -7, 3 | 8, INT_MAX };
	struct lws_threadpool *tp = pool(1, 4);
	struct h_conn *c = h_conn(&H, 1);
	struct h_task t;
	size_t i;
	int m;

	for (i = 0; i < LWS_ARRAY_SIZE(bad); i++) {
		h_task_init(&t, bad[i], 1);
		m = log_mark();
		CHECK_EQ(enqueue(tp, &t, c->wsi), LWSTP_OK);
		wait_status(t.handle, LWS_TP_STATUS_STOPPED);
		{
			struct logwait lw = { m,
				"is not a lws_threadpool_task_return" };

			h_service_until(&H, logwait_seen, &lw);
		}
		CHECK_LOG(m, "is not a lws_threadpool_task_return", NULL);
		CHECK_EQ(lws_threadpool_task_status(t.handle, NULL),
			 LWS_TP_STATUS_STOPPED);
		CHECK_EQ(t.cleanups, 1);
		CHECK_EQ(t.calls, 1);
		h_task_fini(&t);
	}
	lws_threadpool_finish(tp);
	lws_threadpool_destroy(tp);
	h_conn_free(c);
}

/* task_sync in every state it does not belong to; dequeue and status on
 * NULL; foreach edge cases */
static void
test_wrong_state_calls(void)
{
	struct lws_threadpool *tp = pool(1, 4);
	struct h_conn *c = h_conn(&H, 1), *empty = h_conn(&H, 1);
	struct h_task run, q;
	void *u = (void *)&u;
	int m;

	h_task_init(&run, R_FIN, 0);	/* held on its first call */
	h_task_init(&q, R_FIN, 1);
	CHECK_EQ(enqueue(tp, &run, c->wsi), LWSTP_OK);
	h_task_wait_calls(&run, 1);
	CHECK_EQ(enqueue(tp, &q, c->wsi), LWSTP_OK);

	/* queued: sync(0) and sync(1) are ignored, with a warning */
	m = log_mark();
	lws_threadpool_task_sync(q.handle, 0);
	CHECK_LOG(m, "is QUEUED", "ignored");
	m = log_mark();
	lws_threadpool_task_sync(q.handle, 1);
	CHECK_LOG(m, "is QUEUED", "ignored");
	CHECK_EQ(lws_threadpool_task_status_noreap(q.handle),
		 LWS_TP_STATUS_QUEUED);
	/* running: sync(0) ignored */
	m = log_mark();
	lws_threadpool_task_sync(run.handle, 0);
	CHECK_LOG(m, "is RUNNING", "ignored");
	CHECK_EQ(lws_threadpool_task_status_noreap(run.handle),
		 LWS_TP_STATUS_RUNNING);

	/* NULLs */
	m = log_mark();
	lws_threadpool_task_sync(NULL, 0);
	CHECK_LOG(m, "NULL task", NULL);
	CHECK_EQ(lws_threadpool_dequeue_task(NULL), 0);
	CHECK_EQ(lws_threadpool_task_status(NULL, &u), LWS_TP_STATUS_STOPPED);
	CHECK(u == NULL);
	CHECK_EQ(lws_threadpool_task_status_noreap(NULL),
		 LWS_TP_STATUS_STOPPED);
	CHECK(!lws_threadpool_get_task_wsi(NULL));
	m = log_mark();
	CHECK_EQ(lws_threadpool_foreach_task_wsi(NULL, NULL, reaper), 0);
	CHECK_LOG(m, "NULL wsi", NULL);
	m = log_mark();
	CHECK_EQ(lws_threadpool_foreach_task_wsi(c->wsi, NULL, NULL), 0);
	CHECK_LOG(m, "NULL cb", NULL);
	CHECK_EQ(lwstp_get_stats(tp, NULL), LWSTP_E_INVAL);
	CHECK_EQ(lwstp_get_stats(NULL, NULL), LWSTP_E_INVAL);
	CHECK_EQ(lwstp_hist_percentile(NULL, 50), 0);
	CHECK(!strcmp(lwstp_task_name(NULL), "(null)"));
	m = log_mark();
	lws_threadpool_dump(NULL);
	{
		int o = -1, p = -1, q = -1;

		lws_threadpool_diagnose(NULL, &o, &p, &q);
		CHECK(!o && !p && !q);
		lws_threadpool_diagnose(NULL, NULL, NULL, NULL);
	}
	CHECK_EQ(lwstp_self_check(NULL), LWSTP_E_INVAL);
	lws_threadpool_finish(NULL);
	lws_threadpool_destroy(NULL);
	CHECK_LOG(m, "lws_threadpool_destroy", "NULL threadpool");

	/* a wsi without tasks (the deprecated calls too) */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	CHECK(!lws_threadpool_get_task_wsi(empty->wsi));
	CHECK_EQ(lws_threadpool_dequeue(empty->wsi), 0);
	{
		struct lws_threadpool_task *tk = (void *)&u;

		CHECK_EQ(lws_threadpool_task_status_wsi(empty->wsi, &tk, &u),
			 LWS_TP_STATUS_FINISHED);
		CHECK(tk == NULL && u == NULL);
	}
#pragma GCC diagnostic pop
	CHECK_EQ(lws_threadpool_foreach_task_wsi(empty->wsi, NULL, reaper),
		 0);

	/* nothing was lost: both run to their end, one cleanup each */
	c->on_writable = on_writable_reap;
	h_task_allow(&run, 1);
	h_service_until(&H, cleaned, &run);
	h_service_until(&H, cleaned, &q);
	CHECK_EQ(run.calls, 1);
	CHECK_EQ(q.calls, 1);

	lws_threadpool_finish(tp);
	lws_threadpool_destroy(tp);
	CHECK_EQ(run.cleanups, 1);
	CHECK_EQ(q.cleanups, 1);
	h_task_fini(&run);
	h_task_fini(&q);
	h_conn_free(c);
	h_conn_free(empty);
}

/* percentiles of odd inputs: clamped, never out of the histogram */
static void
test_percentile_inputs(void)
{
	uint64_t hist[LWSTP_HIST_BUCKETS];

	memset(hist, 0, sizeof(hist));
	CHECK_EQ(lwstp_hist_percentile(hist, 50), 0);	/* empty */
	hist[3] = 10;
	CHECK_EQ(lwstp_hist_percentile(hist, -5), 16);
	CHECK_EQ(lwstp_hist_percentile(hist, 1e9), 16);
	CHECK_EQ(lwstp_hist_percentile(hist, INFINITY), 16);
	CHECK_EQ(lwstp_hist_percentile(hist, -INFINITY), 16);
	hist[LWSTP_HIST_BUCKETS - 1] = UINT64_MAX / 2;
	CHECK_EQ(lwstp_hist_percentile(hist, 100),
		 (uint64_t)2 << (LWSTP_HIST_BUCKETS - 1));
}

/* lwstp_strerror() of every code, and of codes that are none */
static void
test_strerror(void)
{
	static const int none[] = { 1, 2, -6, -1000, INT_MAX, INT_MIN + 1 };
	size_t i;
	int e;

	for (e = LWSTP_OK; e >= LWSTP_E_NO_INTEGRATION; e--)
		CHECK(strcmp(lwstp_strerror(e), "unknown error") != 0);
	for (i = 0; i < LWS_ARRAY_SIZE(none); i++)
		CHECK(!strcmp(lwstp_strerror(none[i]), "unknown error"));
}

/*
 * A cleanup that enqueues again (chaining work) while the pool is being
 * finished or destroyed: refused with an error, nothing leaks, no hang.
 */
struct chain {
	struct h_task		t;
	struct lws_threadpool	*tp;
	struct lws		*wsi;
	int			tried, result;
};

static enum lws_threadpool_task_return
chain_task(void *user, enum lws_threadpool_task_status s)
{
	return s == LWS_TP_STATUS_STOPPING ? LWS_TP_RETURN_STOPPED :
					     LWS_TP_RETURN_CHECKING_IN;
}

static void
chain_cleanup(struct lws *wsi, void *user)
{
	struct chain *ch = user;
	struct lws_threadpool_task_args a;

	if (ch->tried++)
		return;
	memset(&a, 0, sizeof(a));
	a.wsi = ch->wsi;
	a.user = ch;
	a.task = chain_task;
	a.cleanup = chain_cleanup;
	ch->result = lwstp_enqueue(ch->tp, &a, NULL, "chained");
}

static void
test_enqueue_from_cleanup(void)
{
	struct lws_threadpool *tp = pool(1, 4);
	struct h_conn *c = h_conn(&H, 1);
	struct lws_threadpool_task_args a;
	struct chain ch;
	int m;

	memset(&ch, 0, sizeof(ch));
	ch.tp = tp;
	ch.wsi = c->wsi;
	memset(&a, 0, sizeof(a));
	a.wsi = c->wsi;
	a.user = &ch;
	a.task = chain_task;
	a.cleanup = chain_cleanup;
	CHECK_EQ(lwstp_enqueue(tp, &a, NULL, "first"), LWSTP_OK);

	/* the task ends at finish; destroy reaps it and its cleanup tries to
	 * enqueue on the pool being destroyed */
	m = log_mark();
	lws_threadpool_finish(tp);
	lws_threadpool_destroy(tp);
	CHECK_EQ(ch.tried, 1);
	CHECK(ch.result == LWSTP_E_SHUTTING_DOWN ||
	      ch.result == LWSTP_E_INVAL);
	CHECK(logged(m, "finishing", NULL) ||
	      logged(m, "not a live threadpool", NULL));
	h_conn_free(c);
}

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
/*
 * Freed handles: a reaped task, a task dequeued twice, a destroyed pool.
 * Undefined behaviour in C (the memory is freed); the library clears a
 * magic field before freeing, which catches it as long as the memory was
 * not reused: nothing is allocated between the free and the misuse here.
 */
static void
test_freed_handles(void)
{
	struct lws_threadpool *tp = pool(1, 4);
	struct h_conn *c = h_conn(&H, 1);
	struct lws_threadpool_task_args a;
	struct h_task t, hold, q;
	struct lwstp_stats st;
	int m;

	/* reaped */
	h_task_init(&t, R_FIN, 1);
	CHECK_EQ(enqueue(tp, &t, c->wsi), LWSTP_OK);
	wait_status(t.handle, LWS_TP_STATUS_FINISHED);
	CHECK_EQ(lws_threadpool_task_status(t.handle, NULL),
		 LWS_TP_STATUS_FINISHED);
	m = log_mark();
	CHECK_EQ(lws_threadpool_task_status(t.handle, NULL),
		 LWS_TP_STATUS_STOPPED);
	CHECK_LOG(m, "lws_threadpool_task_status", "not a live task");
	m = log_mark();
	lws_threadpool_task_sync(t.handle, 0);
	CHECK_LOG(m, "lws_threadpool_task_sync", "not a live task");
	m = log_mark();
	CHECK_EQ(lws_threadpool_dequeue_task(t.handle), 0);
	CHECK_LOG(m, "lws_threadpool_dequeue_task", "not a live task");
	CHECK_EQ(t.cleanups, 1);
	h_task_fini(&t);

	/* dequeued twice: the second sees a dead handle */
	h_task_init(&hold, R_FIN, 0);
	h_task_init(&q, R_FIN, 1);
	CHECK_EQ(enqueue(tp, &hold, c->wsi), LWSTP_OK);
	h_task_wait_calls(&hold, 1);
	CHECK_EQ(enqueue(tp, &q, c->wsi), LWSTP_OK);
	CHECK_EQ(lws_threadpool_dequeue_task(q.handle), 0);	/* queued */
	CHECK_EQ(q.cleanups, 1);
	m = log_mark();
	CHECK_EQ(lws_threadpool_dequeue_task(q.handle), 0);
	CHECK_LOG(m, "not a live task", NULL);
	CHECK_EQ(q.cleanups, 1);
	CHECK_EQ(q.calls, 0);
	h_task_allow(&hold, 1);

	lws_threadpool_finish(tp);
	lws_threadpool_destroy(tp);
	CHECK_EQ(hold.cleanups, 1);

	/* a destroyed pool */
	m = log_mark();
	lws_threadpool_destroy(tp);
	CHECK_LOG(m, "lws_threadpool_destroy", "not a live threadpool");
	m = log_mark();
	lws_threadpool_finish(tp);
	CHECK_LOG(m, "lws_threadpool_finish", "not a live threadpool");
	CHECK_EQ(lwstp_get_stats(tp, &st), LWSTP_E_INVAL);
	h_task_init(&t, R_FIN, 1);
	h_task_args(&t, c->wsi, &a);
	m = log_mark();
	CHECK_EQ(lwstp_enqueue(tp, &a, NULL, "late"), LWSTP_E_INVAL);
	CHECK_LOG(m, "not a live threadpool", NULL);
	CHECK_EQ(t.cleanups, 0);

	h_task_fini(&t);
	h_task_fini(&hold);
	h_task_fini(&q);
	h_conn_free(c);
}
#endif

int
main(int argc, char **argv)
{
	static const struct h_test tests[] = {
		{ "create_args", test_create_args },
		{ "enqueue_args", test_enqueue_args },
		{ "bad_returns", test_bad_returns },
		{ "wrong_state_calls", test_wrong_state_calls },
		{ "percentile_inputs", test_percentile_inputs },
		{ "strerror", test_strerror },
		{ "enqueue_from_cleanup", test_enqueue_from_cleanup },
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
		{ "freed_handles", test_freed_handles },
#endif
	};

	if (h_init(&H, NULL)) {
		fprintf(stderr, "cannot create the lws context\n");
		return 1;
	}
	lws_set_log_level(LLL_ERR | LLL_WARN | LLL_NOTICE | LLL_INFO,
			  log_emit);
	h_run(tests, LWS_ARRAY_SIZE(tests));
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	printf("freed_handles                skipped under ASan / TSan "
	       "(reading freed memory)\n");
#endif
	lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
	h_destroy(&H);

	return h_report("test-misuse");
}
