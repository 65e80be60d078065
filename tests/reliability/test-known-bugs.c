/*
 * Reproducers of library bugs found by the reliability tests, each failing
 * while the bug is there.  Registered in ctest as rel-known-bugs, DISABLED
 * until lib/ is fixed (then enable it: it must pass for good).
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
 */

#include "harness.h"

#include <stdlib.h>
#include <string.h>

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
	printf("queued task of a closing wsi ran in %d of %d rounds\n", ran,
	       ROUNDS);

	return ran;
}

int
main(int argc, char **argv)
{
	if (h_init(&H, NULL)) {
		fprintf(stderr, "cannot create the lws context\n");
		return 1;
	}
	CHECK_EQ(queued_task_of_closing_wsi_runs(), 0);
	h_destroy(&H);

	return h_report("test-known-bugs");
}
