/*
 * An allocation failure inside uthash is an error code and a log line, not
 * exit(-1) (uthash's default).  Linked with the static library and
 * -Wl,--wrap=malloc, so a chosen malloc() of the library fails.
 */

#include "harness.h"

#include <stdlib.h>
#include <string.h>

void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n);

static int fail_in = -1;	/* fail the fail_in-th malloc from now (1..) */

void *
__wrap_malloc(size_t n)
{
	if (fail_in > 0 && !--fail_in) {
		fail_in = -1;
		return NULL;
	}

	return __real_malloc(n);
}

int
main(void)
{
	struct lwstp_create_args ca = { .threads = 1, .max_queue_depth = 4 };
	struct lws_threadpool_task_args a;
	struct lws_threadpool *tp;
	struct h_conn *c;
	struct h_task t;
	struct h H;

	if (h_init_vhosts(&H, NULL, H_VH_HOOKED))
		return 1;
	tp = lwstp_create(H.cx, &ca, "oom");
	CHECK(tp != NULL);
	c = h_conn(&H, H_CONN_HOOKED);
	CHECK(c != NULL);
	h_task_init(&t, LWS_TP_RETURN_FINISHED, 1);
	h_task_args(&t, c->wsi, &a);

	/*
	 * enqueue mallocs the task, then (its wsi's first task, the hub's
	 * first conn) uthash mallocs the conn table: that one fails
	 */
	fail_in = 2;
	CHECK_EQ(lwstp_enqueue(tp, &a, NULL, "x"), LWSTP_E_NOMEM);
	CHECK_EQ(fail_in, -1);		/* the failure did happen */
	CHECK_EQ(t.cleanups, 0);
	/* and nothing is left half-done: the next one works */
	CHECK_EQ(lwstp_enqueue(tp, &a, NULL, "x"), LWSTP_OK);

	lws_threadpool_destroy(tp);
	CHECK_EQ(t.cleanups, 1);
	h_task_fini(&t);
	h_conn_free(c);
	h_destroy(&H);

	return h_report("test-oom");
}
