/*
 * Regression tests of the library bugs the reliability suite found (fixed
 * in 7e17048).  Each failed while its bug was there; they must pass for
 * good.
 *
 * 1. A queued task of a closing connection can start running.
 *
 *    lib/task.c lwstp_detach_wsi() (LWS_CALLBACK_WSI_DESTROY) detaches the
 *    wsi's tasks one by one in list order, taking and dropping tp->lock for
 *    each.  Detaching a task that waits in SYNC wakes its worker with
 *    STOPPING; the task returns STOPPED and the worker, back under tp->lock,
 *    takes the next pending task, which can be a later, queued task of the
 *    same wsi that the loop has not reached yet.  That task is then called
 *    with LWS_TP_STATUS_RUNNING for a connection already being destroyed,
 *    instead of ending STOPPED without running as README says ("a queued or
 *    done task ends now").  Not a crash, and its cleanup still runs once:
 *    wasted work, and a broken promise.
 *
 *    Repro: one worker; task A waits in SYNC, task B is queued behind it,
 *    both on one wsi; close the wsi.  B must never have been called.  The
 *    race is lost in some of the rounds only, so it runs ROUNDS rounds.
 *    Fixed: WSI_DESTROY ends the wsi's queued and done tasks before it
 *    stops the running ones.
 *
 * 2. A reaped or dequeued task handle is not recognised as dead.
 *
 *    lib/task.c:57 lwstp_task_free() does "task->magic = 0; free(task);":
 *    the compiler drops that store, since the object dies at free() (dead
 *    store elimination; objdump of the -O2 liblwstp.so shows no store
 *    before the jump to free).  So task_check() finds the magic still set
 *    on a handle already freed and not reused yet, and the call goes on
 *    with freed memory: a second lws_threadpool_task_status() on a reaped
 *    handle, or a second lws_threadpool_dequeue_task(), frees it again
 *    ("double free or corruption", abort).  README promises an error for
 *    "a handle already destroyed or reaped as far as that can be seen".
 *    Fixed: the store is volatile.
 *
 *    Repro (not under ASan or TSan, which report the read of freed
 *    memory; TSan as heap-use-after-free): reap
 *    a task, then lws_threadpool_task_status_noreap() on its handle (a
 *    read only, so the repro does not crash) must say STOPPED and log
 *    "not a live task".
 *
 * 3. lwstp_strerror(INT_MIN) reads far outside its table.
 *
 *    lib/task.c:23: "-err >= (int)LWS_ARRAY_SIZE(error_names)" negates
 *    INT_MIN, which overflows (UBSan: "negation of -2147483648 cannot be
 *    represented").  Debian's gcc 12 happens to fold "-err >= 6" into
 *    "err <= -6" at -O0 and -O2 alike, so this build returns "unknown
 *    error"; clang (-O0, or -O2 with UBSan) keeps the negation, the test
 *    passes and error_names[-err] indexes 2^31 entries away: SIGSEGV.
 *    Fixed: the comparison no longer negates.
 *
 *    Repro: in a child process (a crash must not end the test),
 *    lwstp_strerror(INT_MIN) must be "unknown error".
 */

#include "harness.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROUNDS 1000

static struct h H;

static int
syncing(void *arg)
{
	struct lwstp_stats st;

	lwstp_get_stats(arg, &st);

	return st.syncing == 1;
}

static int
queued_task_of_closing_wsi_runs(void)
{
	struct lws_threadpool_task_args a;
	struct lwstp_create_args ca;
	struct lws_threadpool *tp;
	struct h_task ta, tb;
	struct h_conn *c;
	int round, ran = 0;

	memset(&ca, 0, sizeof(ca));
	ca.threads = 1;
	ca.max_queue_depth = 4;
	tp = lwstp_create(H.cx, &ca, "known-1");
	CHECK(tp != NULL);
	if (!tp)
		return -1;

	for (round = 0; round < ROUNDS; round++) {
		c = h_conn(&H, 1);
		h_task_init(&ta, LWS_TP_RETURN_STOPPED, 1);
		h_task_script(&ta, 1, LWS_TP_RETURN_SYNC);
		h_task_init(&tb, LWS_TP_RETURN_FINISHED, 1);

		h_task_args(&ta, c->wsi, &a);
		CHECK_EQ(lwstp_enqueue(tp, &a, &ta.handle, "A"), LWSTP_OK);
		h_service_until(&H, syncing, tp);
		h_task_args(&tb, c->wsi, &a);
		CHECK_EQ(lwstp_enqueue(tp, &a, &tb.handle, "B"), LWSTP_OK);

		h_close(c);
		h_task_wait_cleanups(&ta, 1);
		h_task_wait_cleanups(&tb, 1);
		ran += h_task_get(&tb, &tb.calls) > 0;

		h_task_fini(&ta);
		h_task_fini(&tb);
		h_conn_free(c);
	}

	lws_threadpool_finish(tp);
	lws_threadpool_destroy(tp);
	printf("1. queued task of a closing wsi ran in %d of %d rounds\n",
	       ran, ROUNDS);

	return ran;
}

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
static char last_log[256];

static void
log_emit(int level, const char *line)
{
	lws_strncpy(last_log, line, sizeof(last_log));
}

static int
finished(void *arg)
{
	return lws_threadpool_task_status_noreap(arg) ==
						LWS_TP_STATUS_FINISHED;
}
#endif

static void
reaped_handle_not_seen_dead(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	printf("2. skipped under ASan and TSan (the repro reads freed "
	       "memory)\n");
#else
	struct lws_threadpool_task_args a;
	struct lwstp_create_args ca;
	struct lws_threadpool *tp;
	struct h_task t;
	struct h_conn *c;
	int s;

	memset(&ca, 0, sizeof(ca));
	ca.threads = 1;
	ca.max_queue_depth = 4;
	tp = lwstp_create(H.cx, &ca, "known-2");
	c = h_conn(&H, 1);
	h_task_init(&t, LWS_TP_RETURN_FINISHED, 1);
	h_task_args(&t, c->wsi, &a);
	CHECK_EQ(lwstp_enqueue(tp, &a, &t.handle, "reaped"), LWSTP_OK);
	h_service_until(&H, finished, t.handle);
	CHECK_EQ(lws_threadpool_task_status(t.handle, NULL),
		 LWS_TP_STATUS_FINISHED);		/* reaped, freed */

	last_log[0] = '\0';
	lws_set_log_level(LLL_ERR | LLL_WARN, log_emit);
	s = (int)lws_threadpool_task_status_noreap(t.handle);
	lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
	printf("2. noreap on a reaped handle: status %d (want %d), log "
	       "\"%.60s\"\n", s, LWS_TP_STATUS_STOPPED, last_log);
	CHECK_EQ(s, LWS_TP_STATUS_STOPPED);
	CHECK(strstr(last_log, "not a live task") != NULL);

	lws_threadpool_finish(tp);
	lws_threadpool_destroy(tp);
	h_task_fini(&t);
	h_conn_free(c);
#endif
}

static void
strerror_int_min(void)
{
	int status = 0;
	pid_t pid = fork();

	if (!pid)
		_exit(strcmp(lwstp_strerror(INT_MIN), "unknown error") ? 1 : 0);
	CHECK(pid > 0);
	if (pid > 0)
		waitpid(pid, &status, 0);
	printf("3. lwstp_strerror(INT_MIN) in a child: %s %d\n",
	       WIFSIGNALED(status) ? "killed by signal" : "exit",
	       WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int
main(int argc, char **argv)
{
	if (h_init(&H, NULL)) {
		fprintf(stderr, "cannot create the lws context\n");
		return 1;
	}
	CHECK_EQ(queued_task_of_closing_wsi_runs(), 0);
	reaped_handle_not_seen_dead();
	strerror_int_min();
	h_destroy(&H);

	return h_report("test-known-bugs");
}
