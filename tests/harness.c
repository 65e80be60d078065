/*
 * Test harness: see harness.h.
 */

#include "harness.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>
#include <ev.h>
#include <glib.h>

int h_failures, h_checks;
static pthread_t main_thread;

static int
cb_raw(struct lws *wsi, enum lws_callback_reasons reason, void *user,
       void *in, size_t len)
{
	struct h_conn *c = lws_get_opaque_user_data(wsi);

	switch (reason) {
	case LWS_CALLBACK_RAW_WRITEABLE:
		if (c) {
			c->writables++;
			if (c->on_writable)
				c->on_writable(c);
		}
		break;
	default:
		break;
	}

	return 0;
}

/* protocols[0] of the plain vhost: notes destruction, but no lwstp hook */
static int
cb_plain0(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	  void *in, size_t len)
{
	if (reason == LWS_CALLBACK_WSI_DESTROY) {
		struct h_conn *c = lws_get_opaque_user_data(wsi);

		if (c)
			c->destroyed = 1;
	}

	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* protocols[0] of the integrated vhost: its own callback, calling the hook */
static int
cb_hooked0(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	   void *in, size_t len)
{
	lwstp_hook(wsi, reason, user, in, len);

	return cb_plain0(wsi, reason, user, in, len);
}

/* a raw protocol that integrates itself: the hook first thing in it */
static int
cb_raw_hooked(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	      void *in, size_t len)
{
	struct h_conn *c = lws_get_opaque_user_data(wsi);

	lwstp_hook(wsi, reason, user, in, len);
	if (reason == LWS_CALLBACK_RAW_CLOSE && c)
		c->closed = 1;

	return cb_raw(wsi, reason, user, in, len);
}

#define P(n, cb) { .name = n, .callback = cb }

static const struct lws_protocols protocols_hooked[] = {
	P("http", cb_hooked0), P("raw-test", cb_raw), { .name = NULL }
};

static const struct lws_protocols protocols_plain[] = {
	P("http", cb_plain0), P("raw-test", cb_raw), { .name = NULL }
};

/* the hook only in protocols[1]: it covers that protocol's wsis alone */
static const struct lws_protocols protocols_own[] = {
	P("http", cb_plain0), P("raw-hooked", cb_raw_hooked),
	P("raw-test", cb_raw), { .name = NULL }
};

static void
tick_cb(lws_sorted_usec_list_t *sul)
{
	struct h *h = lws_container_of(sul, struct h, tick);

	/* keeps lws_service() returning so deadlines are checked */
	lws_sul_schedule(h->cx, 0, &h->tick, tick_cb, 5 * LWS_US_PER_MS);
}

static int
destroyed(void *arg)
{
	return ((struct h_conn *)arg)->destroyed;
}

int
h_init(struct h *h, const char *evlib)
{
	return h_init_vhosts(h, evlib, H_VH_HOOKED | H_VH_PLAIN | H_VH_OWN);
}

int
h_init_vhosts(struct h *h, const char *evlib, int vhosts)
{
	struct lws_context_creation_info info;

	memset(h, 0, sizeof(*h));
	main_thread = pthread_self();
	lws_set_log_level(LLL_ERR | LLL_WARN, NULL);

	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	info.user = h;

	/*
	 * Event libs run on a loop of ours (a "foreign loop" to lws), so the
	 * tests can step it one iteration at a time as they do lws_service().
	 */
	if (evlib && !strcmp(evlib, "uv")) {
		h->evlib = H_EV_UV;
		h->loop = calloc(1, sizeof(uv_loop_t));
		if (!h->loop || uv_loop_init(h->loop))
			return -1;
		info.options |= LWS_SERVER_OPTION_LIBUV;
	} else if (evlib && !strcmp(evlib, "ev")) {
		h->evlib = H_EV_EV;
		h->loop = ev_loop_new(0);
		info.options |= LWS_SERVER_OPTION_LIBEV;
	} else if (evlib && !strcmp(evlib, "glib")) {
		h->evlib = H_EV_GLIB;
		{
			GMainContext *gmc = g_main_context_new();

			h->loop = g_main_loop_new(gmc, 0);
			g_main_context_unref(gmc);
		}
		info.options |= LWS_SERVER_OPTION_GLIB;
	} else if (evlib) {
		fprintf(stderr, "unknown event lib %s\n", evlib);
		return -1;
	}
	if (h->evlib != H_EV_POLL)
		info.foreign_loops = &h->loop;

	h->cx = lws_create_context(&info);
	if (!h->cx)
		return -1;

	if (vhosts & H_VH_HOOKED) {
		info.vhost_name = "hooked";
		info.protocols = protocols_hooked;
		h->vh = lws_create_vhost(h->cx, &info);
		if (!h->vh)
			return -1;
	}
	if (vhosts & H_VH_PLAIN) {
		info.vhost_name = "plain";
		info.protocols = protocols_plain;
		h->vh_plain = lws_create_vhost(h->cx, &info);
		if (!h->vh_plain)
			return -1;
	}
	if (vhosts & H_VH_OWN) {
		info.vhost_name = "own";
		info.protocols = protocols_own;
		h->vh_own = lws_create_vhost(h->cx, &info);
		if (!h->vh_own)
			return -1;
	}

	lws_sul_schedule(h->cx, 0, &h->tick, tick_cb, 5 * LWS_US_PER_MS);
	h_service_some(h);

	return 0;
}

void
h_destroy(struct h *h)
{
	lws_sul_cancel(&h->tick);
	lws_context_destroy(h->cx);
	h->cx = NULL;

	/* a foreign loop runs on until lws has closed all its handles */
	switch (h->evlib) {
	case H_EV_UV:
		uv_run(h->loop, UV_RUN_DEFAULT);
		uv_loop_close(h->loop);
		free(h->loop);
		break;
	case H_EV_EV:
		ev_run(h->loop, 0);
		ev_loop_destroy(h->loop);
		break;
	case H_EV_GLIB:
		while (g_main_context_iteration(
				g_main_loop_get_context(h->loop), 0))
			;
		g_main_loop_unref(h->loop);
		break;
	default:
		break;
	}
	h->loop = NULL;
}

struct h_conn *
h_conn(struct h *h, int kind)
{
	static const char * const prot[] = {
		"raw-test", "raw-test", "raw-hooked", "raw-test"
	};
	struct lws_vhost *vh[] = { h->vh_plain, h->vh, h->vh_own, h->vh_own };
	struct h_conn *c = calloc(1, sizeof(*c));
	lws_sock_file_fd_type fd;
	int sv[2];

	if (!c || socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
		free(c);
		return NULL;
	}
	fd.sockfd = sv[0];
	c->peer_fd = sv[1];
	c->wsi = lws_adopt_descriptor_vhost(vh[kind], LWS_ADOPT_SOCKET, fd,
					    prot[kind], NULL);
	if (!c->wsi) {
		close(sv[1]);
		free(c);
		return NULL;
	}
	lws_set_opaque_user_data(c->wsi, c);
	c->h = h;

	return c;
}

void
h_close(struct h_conn *c)
{
	if (!c->wsi)
		return;
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
	c->wsi = NULL;
	/* synchronous on lws's own loop, a loop turn later on event libs */
	h_service_until(c->h, destroyed, c);
}

void
h_conn_free(struct h_conn *c)
{
	if (c->wsi)
		h_close(c);
	close(c->peer_fd);
	free(c);
}

long long
h_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);

	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

long long
h_now_ms(void)
{
	return h_now_us() / 1000;
}

void
h_service_some(struct h *h)
{
	switch (h->evlib) {
	case H_EV_UV:
		uv_run(h->loop, UV_RUN_ONCE);
		break;
	case H_EV_EV:
		ev_run(h->loop, EVRUN_ONCE);
		break;
	case H_EV_GLIB:
		g_main_context_iteration(g_main_loop_get_context(h->loop), 1);
		break;
	default:
		lws_service(h->cx, 0);
		break;
	}
}

int
h_service_until(struct h *h, int (*pred)(void *), void *arg)
{
	long long deadline = h_now_ms() + H_DEADLINE_MS;

	while (!pred(arg)) {
		if (h_now_ms() > deadline) {
			h_failures++;
			fprintf(stderr, "FAIL: condition not met within %d ms\n",
				H_DEADLINE_MS);
			return -1;
		}
		h_service_some(h);
	}

	return 0;
}

static enum lws_threadpool_task_return
task_fn(void *user, enum lws_threadpool_task_status s)
{
	struct h_task *t = user;
	int n, r;

	pthread_mutex_lock(&t->m);
	n = t->calls++;
	t->stopping_calls += s == LWS_TP_STATUS_STOPPING;
	if (n < H_SCRIPT_MAX)
		t->status[n] = (int)s;
	pthread_cond_broadcast(&t->c);
	while (!t->free_run && t->allowed <= n)
		pthread_cond_wait(&t->c, &t->m);
	r = n < t->nscript ? t->script[n] : t->dflt;
	pthread_mutex_unlock(&t->m);

	return (enum lws_threadpool_task_return)r;
}

static void
cleanup_fn(struct lws *wsi, void *user)
{
	struct h_task *t = user;

	pthread_mutex_lock(&t->m);
	t->cleanups++;
	t->cleanup_wsi = wsi;
	t->cleanup_on_worker = !pthread_equal(pthread_self(), main_thread);
	pthread_cond_broadcast(&t->c);
	pthread_mutex_unlock(&t->m);
}

void
h_task_init(struct h_task *t, int dflt, int free_run)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->m, NULL);
	pthread_cond_init(&t->c, NULL);
	t->dflt = dflt;
	t->free_run = free_run;
}

void
h_task_script(struct h_task *t, int n, ...)
{
	va_list ap;
	int i;

	va_start(ap, n);
	pthread_mutex_lock(&t->m);
	for (i = 0; i < n && i < H_SCRIPT_MAX; i++)
		t->script[i] = va_arg(ap, int);
	t->nscript = i;
	pthread_mutex_unlock(&t->m);
	va_end(ap);
}

void
h_task_fini(struct h_task *t)
{
	pthread_mutex_destroy(&t->m);
	pthread_cond_destroy(&t->c);
}

void
h_task_args(struct h_task *t, struct lws *wsi,
	    struct lws_threadpool_task_args *a)
{
	memset(a, 0, sizeof(*a));
	a->wsi = wsi;
	a->user = t;
	a->task = task_fn;
	a->cleanup = cleanup_fn;
}

static int
wait_field(struct h_task *t, int *field, int n, const char *what)
{
	struct timespec ts;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += H_DEADLINE_MS / 1000;

	pthread_mutex_lock(&t->m);
	while (*field < n && r == 0)
		r = pthread_cond_timedwait(&t->c, &t->m, &ts);
	r = *field >= n ? 0 : -1;
	pthread_mutex_unlock(&t->m);

	if (r) {
		h_failures++;
		fprintf(stderr, "FAIL: waited %d ms for %s to reach %d\n",
			H_DEADLINE_MS, what, n);
	}

	return r;
}

int
h_task_wait_calls(struct h_task *t, int n)
{
	return wait_field(t, &t->calls, n, "task calls");
}

int
h_task_wait_cleanups(struct h_task *t, int n)
{
	return wait_field(t, &t->cleanups, n, "task cleanups");
}

void
h_task_allow(struct h_task *t, int n)
{
	pthread_mutex_lock(&t->m);
	t->allowed += n;
	pthread_cond_broadcast(&t->c);
	pthread_mutex_unlock(&t->m);
}

int
h_task_get(struct h_task *t, int *field)
{
	int v;

	pthread_mutex_lock(&t->m);
	v = *field;
	pthread_mutex_unlock(&t->m);

	return v;
}

int
h_report(const char *name)
{
	printf("%s: %d checks\n", name, h_checks);
	printf("%d passed, %d failed\n", h_checks - h_failures, h_failures);

	return h_failures ? 1 : 0;
}

int
h_enqueue(struct lws_threadpool *tp, struct h_task *t, struct lws *wsi,
	  const char *name)
{
	struct lws_threadpool_task_args a;

	h_task_args(t, wsi, &a);

	return lwstp_enqueue(tp, &a, &t->handle, "%s", name);
}

struct want_status {
	struct lws_threadpool_task	*task;
	int				status;
};

static int
status_is(void *arg)
{
	struct want_status *w = arg;

	return (int)lws_threadpool_task_status_noreap(w->task) == w->status;
}

void
h_wait_status(struct h *h, struct lws_threadpool_task *task, int status)
{
	struct want_status w = { task, status };

	h_service_until(h, status_is, &w);
	CHECK_EQ(lws_threadpool_task_status_noreap(task), status);
}

void
h_run(const struct h_test *tests, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++) {
		int before = h_failures;

		tests[i].fn();
		printf("%-28s %s\n", tests[i].name,
		       h_failures == before ? "ok" : "FAILED");
		fflush(stdout);
	}
}
