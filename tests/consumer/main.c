/* Code written for upstream's lws_threadpool API, built against an
 * installed liblwstp through pkg-config or CMake's find_package(lwstp). */
#include <lwstp.h>
#include <stdio.h>

int
main(void)
{
	struct lws_threadpool_create_args a = { 0, 0 };	/* invalid */
	struct lws_context_creation_info info = { 0 };
	struct lws_context *cx;
	int bad;

	lws_set_log_level(0, NULL);
	info.port = CONTEXT_PORT_NO_LISTEN;
	cx = lws_create_context(&info);
	bad = cx && !lws_threadpool_create(cx, &a, "consumer");
	a.threads = 1;
	struct lws_threadpool *tp = lws_threadpool_create(cx, &a, "consumer");
	if (tp) {
		lws_threadpool_finish(tp);
		lws_threadpool_destroy(tp);
	}
	lws_context_destroy(cx);
	printf("consumer: %s\n", bad && tp ? "ok" : "FAILED");

	return !(bad && tp);
}
