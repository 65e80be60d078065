/*
 * An allocation failure inside uthash is an error code and a log line, not
 * exit(-1) (uthash's default).  Linked with the static library and
 * -Wl,--wrap=malloc,--wrap=calloc, so a chosen allocation fails.
 */

#include "harness.h"

#include <stdlib.h>
#include <string.h>
#include <uthash.h>

void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__wrap_calloc(size_t n, size_t m);

/*
 * While armed, the first allocation of a uthash table fails (by its size:
 * the compiler may turn uthash's malloc + memset into calloc).
 */
static int armed, failed;

static int
fails(size_t n)
{
	if (!armed || n != sizeof(UT_hash_table))
		return 0;
	armed = 0;
	failed = 1;

	return 1;
}

void *
__wrap_malloc(size_t n)
{
	return fails(n) ? NULL : __real_malloc(n);
}

void *
__wrap_calloc(size_t n, size_t m)
{
	return fails(n * m) ? NULL : __real_calloc(n, m);
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

	/* the hub's first conn: uthash allocates the conn table, and fails */
	armed = 1;
	CHECK_EQ(lwstp_enqueue(tp, &a, NULL, "x"), LWSTP_E_NOMEM);
	CHECK_EQ(failed, 1);		/* the failure did happen */
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
