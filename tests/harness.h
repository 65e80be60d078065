/*
 * Test harness: a real lws context with two vhosts, real wsis (raw sockets
 * adopted from socketpairs) and task functions that tests hold at exact
 * points with a mutex and condition, libuv's way.  No sleeps: every wait is
 * for an event, bounded by a deadline whose expiry is a test failure.
 */

#ifndef LWSTP_TEST_HARNESS_H
#define LWSTP_TEST_HARNESS_H

#include <lwstp.h>
#include <pthread.h>
#include <stdio.h>

extern int h_failures, h_checks;

#define CHECK(c) do { h_checks++; if (!(c)) { h_failures++; \
	fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); } \
	} while (0)
#define CHECK_EQ(a, b) do { long long _a = (long long)(a), \
	_b = (long long)(b); h_checks++; if (_a != _b) { h_failures++; \
	fprintf(stderr, "FAIL %s:%d: %s == %lld, expected %s == %lld\n", \
		__FILE__, __LINE__, #a, _a, #b, _b); } } while (0)

/* How long any awaited event may take before the test fails. */
#define H_DEADLINE_MS 20000

/* a connection: a raw wsi adopted from one end of a socketpair */
struct h_conn {
	struct h	*h;
	struct lws	*wsi;
	int		peer_fd;	/* the other end */
	int		writables;	/* RAW_WRITEABLE callbacks seen */
	int		destroyed;	/* WSI_DESTROY seen */
	int		closed;		/* RAW_CLOSE seen (raw-hooked) */
	/* called on the service thread at each writable, if set */
	void		(*on_writable)(struct h_conn *c);
	void		*priv;
};

struct h {
	lws_sorted_usec_list_t	tick;		/* keeps lws_service() ticking */
	struct lws_context	*cx;
	struct lws_vhost	*vh;		/* integrated: hook in protocols[0] */
	struct lws_vhost	*vh_plain;	/* no hook at all */
	struct lws_vhost	*vh_own;	/* hook only in protocols[1] */
	int			evlib;		/* H_EV_* */
	void			*loop;		/* our foreign loop, if evlib */
};

enum { H_EV_POLL, H_EV_UV, H_EV_EV, H_EV_GLIB };
enum { H_VH_HOOKED = 1, H_VH_PLAIN = 2, H_VH_OWN = 4 };

/* evlib: NULL for the default poll loop, or "uv", "ev", "glib" */
int  h_init(struct h *h, const char *evlib);	/* all three vhosts */
int  h_init_vhosts(struct h *h, const char *evlib, int vhosts); /* H_VH_* */
void h_destroy(struct h *h);
/*
 * A raw wsi, kind H_CONN_*: on the plain vhost, the integrated one, or the
 * "own" vhost bound to its hooked protocol or to its unhooked one.
 */
enum { H_CONN_PLAIN, H_CONN_HOOKED, H_CONN_OWN, H_CONN_OWN_PLAIN };
struct h_conn *h_conn(struct h *h, int kind);
/* closes the wsi and services until it is freed (WSI_DESTROY seen) */
void h_close(struct h_conn *c);
void h_conn_free(struct h_conn *c);

/* CLOCK_MONOTONIC, in milliseconds / microseconds */
long long h_now_ms(void);
long long h_now_us(void);

/* service the context until pred(arg) is true; -1 (and a failure) if the
 * deadline passes first */
int  h_service_until(struct h *h, int (*pred)(void *), void *arg);
void h_service_some(struct h *h);	/* one non-blocking pass */

/*
 * A scripted task: each call to the task function records the status it was
 * given, then blocks until the test allows that call to return, then returns
 * script[call] (or dflt when past the script).
 */
#define H_SCRIPT_MAX 16
struct h_task {
	pthread_mutex_t	m;
	pthread_cond_t	c;
	int		calls;		/* times the task function was entered */
	int		stopping_calls;	/* of those, with LWS_TP_STATUS_STOPPING */
	int		allowed;	/* calls allowed to return */
	int		free_run;	/* never block */
	int		status[H_SCRIPT_MAX]; /* status given at each call */
	int		script[H_SCRIPT_MAX];
	int		nscript;
	int		dflt;
	int		cleanups;	/* times cleanup ran */
	struct lws	*cleanup_wsi;
	int		cleanup_on_worker; /* cleanup ran off the main thread */
	struct lws_threadpool_task *handle;
};

void h_task_init(struct h_task *t, int dflt, int free_run);
void h_task_script(struct h_task *t, int n, ...);
void h_task_fini(struct h_task *t);
/* args filled for this task, bound to wsi */
void h_task_args(struct h_task *t, struct lws *wsi,
		 struct lws_threadpool_task_args *a);
int  h_task_wait_calls(struct h_task *t, int n);	/* 0 or -1 */
int  h_task_wait_cleanups(struct h_task *t, int n);	/* 0 or -1 */
void h_task_allow(struct h_task *t, int n);	/* let n more calls return */
int  h_task_get(struct h_task *t, int *field);	/* locked read */

/* lwstp_enqueue() of t, bound to wsi (t->handle set) */
int  h_enqueue(struct lws_threadpool *tp, struct h_task *t, struct lws *wsi,
	       const char *name);

/* services until lws_threadpool_task_status_noreap(task) is status, and
 * CHECKs that it is */
void h_wait_status(struct h *h, struct lws_threadpool_task *task, int status);

/* a test binary's tests: each runs, then "NAME ok" or "NAME FAILED" */
struct h_test {
	const char	*name;
	void		(*fn)(void);
};

void h_run(const struct h_test *tests, size_t count);

/* the end of a test binary: prints the counts, returns the exit code */
int  h_report(const char *name);

#endif
