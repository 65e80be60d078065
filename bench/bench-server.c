/*
 * lwstp-bench-server - an lws server that drives liblwstp in one benchmark
 * scenario, for lwstp-bench-client (and wrk) to load over loopback.
 *
 *   --scenario dispatch  each ws connection gets --k tasks that return
 *			  FINISHED at once (or after --work-us of spinning);
 *			  the service thread reaps them in SERVER_WRITEABLE
 *			  with lws_threadpool_task_status() and enqueues as
 *			  many new ones, so --k stay in flight per connection
 *   --scenario sync	  one endless task per connection: each call fills a
 *			  64-byte message and returns SYNC; SERVER_WRITEABLE
 *			  writes it and calls lws_threadpool_task_sync()
 *   --scenario saturate  --busy 1: the first connection gets threads +
 *			  --queue tasks that spin and check in every 10 ms
 *			  (every worker busy, the queue full); GET /tiny
 *			  answers "ok\n" for wrk either way
 *			  (--worker-nice N, --sched-idle: the pool's
 *			  worker_nice and worker_sched_idle)
 *   --scenario memory	  the first connection holds every worker on a task
 *			  and then queues --mem-tasks more; bytes per queued
 *			  task from mallinfo2() and RSS growth
 *
 * The client marks the measured window by sending "m" and "e" on one
 * connection; the server exits when "e" was seen and every connection is
 * gone, and prints its figures as one JSON line on stdout.
 *
 * Integration: protocols[0] is this server's http callback, which calls
 * lwstp_hook() first, as the README says.
 *
 * Built with -DLWSTP_BENCH_UPSTREAM against an lws that has its own
 * threadpool (LWS_WITH_THREADPOOL, bench/run.sh builds one from Debian's
 * source), the same source drives upstream's pool through the same
 * lws_threadpool_* calls: the hook line and liblwstp's extensions
 * (lwstp_create()'s nice / SCHED_IDLE, lwstp_get_stats()) compile out,
 * and the JSON says "impl":"upstream".
 */

#if defined(LWSTP_BENCH_UPSTREAM)
#include <libwebsockets.h>
#define BENCH_IMPL	"upstream"
#else
#include <lwstp.h>
#define BENCH_IMPL	"lwstp"
#endif

#include "common.h"

#include <malloc.h>
#include <pthread.h>
#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
/* bench/profile.sh: count instructions in the measured window only (no-ops
 * outside valgrind) */
#include <valgrind/callgrind.h>
#endif
#endif
#if !defined(CALLGRIND_START_INSTRUMENTATION)
#define CALLGRIND_ZERO_STATS
#define CALLGRIND_START_INSTRUMENTATION
#define CALLGRIND_STOP_INSTRUMENTATION
#define CALLGRIND_DUMP_STATS
#endif
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

#define BENCH_PROTOCOL		"lwstp-bench"
#define SYNC_MSG_LEN		64
#define SPIN_CHECKIN_US		10000
#define MAX_POOLS		8
#define BENCH_POOL_THREADS	256	/* sync: a pool per 256 conns */

enum scenario { SC_DISPATCH, SC_SYNC, SC_SATURATE, SC_MEMORY };
static const char * const sc_names[] = {
	"dispatch", "sync", "saturate", "memory"
};

static struct {
	enum scenario	sc;
	int		threads;	/* pool workers (dispatch, saturate,
					 * memory); sync: one per connection */
	int		k;		/* dispatch: tasks in flight per conn */
	int		work_us;	/* dispatch: spin per task */
	int		conns;		/* connections the client will open */
	int		queue;		/* saturate: max_queue_depth */
	int		busy;		/* saturate: fill the pool */
	int		worker_nice;
	int		mem_tasks;	/* memory: tasks queued */
	int		full_scan;	/* dispatch: visit every task of the
					 * wsi at each writable (no FIFO
					 * early stop) */
	int		sched_idle;	/* args.worker_sched_idle */
	int		max_s;		/* watchdog */
	int		port;
	const char	*port_file;
} cfg = {
	.sc = SC_DISPATCH, .threads = 2, .k = 8, .conns = 1, .queue = 64,
	.mem_tasks = 100000, .max_s = 60,
};

static struct lws_context *context;
static struct lws_threadpool *pools[MAX_POOLS];
static int npools;
static int live_conns, seen_conns, got_end;
static volatile sig_atomic_t interrupted;
static atomic_int measuring;

/* the measured window: service thread only */
static int64_t w_t0, w_t1, w_svc0, w_svc1, w_proc0, w_proc1;
static uint64_t ops, w_ops0, w_ops1;	/* tasks reaped / messages written */
static uint64_t enqueue_failed;
static struct bench_hist h_svc;		/* dispatch: enqueue to reap;
					 * sync: SYNC to writable */
#if !defined(LWSTP_BENCH_UPSTREAM)
static struct lwstp_stats st_mark;	/* pool 0 at the window start */
#endif
static atomic_int held;			/* memory: workers in hold_task */

/* memory scenario */
static struct {
	long long	tasks, heap_bytes, rss_bytes;
	int		busy_workers;
	size_t		name_len;
} mem;
static pthread_mutex_t hold_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_cond = PTHREAD_COND_INITIALIZER;
static int hold_release;		/* (hold_lock) */

static int saturate_full_checked = -1;

/*
 * Worker-side latency histograms (sync to resume): one per worker thread,
 * written only by it, read after the pools are destroyed.
 */
struct worker_hist {
	struct worker_hist	*next;
	struct bench_hist	h;
};
static pthread_mutex_t wh_lock = PTHREAD_MUTEX_INITIALIZER;
static struct worker_hist *wh_list;	/* (wh_lock) */
static __thread struct worker_hist *tl_wh;

static struct bench_hist *
worker_hist(void)
{
	if (!tl_wh) {
		tl_wh = malloc(sizeof(*tl_wh));
		if (!tl_wh)
			abort();
		hist_init(&tl_wh->h);
		pthread_mutex_lock(&wh_lock);
		tl_wh->next = wh_list;
		wh_list = tl_wh;
		pthread_mutex_unlock(&wh_lock);
	}

	return &tl_wh->h;
}

struct pss {
	int		index;
	int		inflight;	/* dispatch: tasks bound to the wsi */
};

/* --- dispatch ------------------------------------------------------------ */

struct dtask {
	int64_t		t_enq;
	int		work_us;
};

static enum lws_threadpool_task_return
dispatch_task(void *user, enum lws_threadpool_task_status s)
{
	struct dtask *d = user;

	if (s == LWS_TP_STATUS_STOPPING)
		return LWS_TP_RETURN_STOPPED;
	if (d->work_us)
		bench_spin_us(d->work_us);

	return LWS_TP_RETURN_FINISHED;
}

static void
dispatch_cleanup(struct lws *wsi, void *user)
{
	/* with a wsi this runs on the service thread: reaped (or dequeued) */
	if (wsi && atomic_load_explicit(&measuring, memory_order_relaxed))
		hist_add(&h_svc, bench_now_ns() -
				 ((struct dtask *)user)->t_enq);
	free(user);
}

static void
dispatch_enqueue(struct lws *wsi, struct pss *pss, int n)
{
	struct lws_threadpool_task_args a;

	memset(&a, 0, sizeof(a));
	a.wsi = wsi;
	a.task = dispatch_task;
	a.cleanup = dispatch_cleanup;

	while (n-- > 0) {
		struct dtask *d = malloc(sizeof(*d));

		if (!d)
			abort();
		d->work_us = cfg.work_us;
		d->t_enq = bench_now_ns();
		a.user = d;
		if (!lws_threadpool_enqueue(pools[0], &a, "dispatch")) {
			free(d);
			enqueue_failed++;
			return;
		}
		pss->inflight++;
	}
}

/*
 * The tasks that ended are collected in the foreach and reaped after it:
 * upstream's foreach holds its pool lock around the callback and its
 * lws_threadpool_task_status() takes that lock again (and needs a user
 * pointer).  liblwstp allows reaping inside; both run this same code.
 */
struct reap_scan {
	struct lws_threadpool_task	**ended;
	int				n, size;
};

static int
reap_cb(struct lws_threadpool_task *task, void *user)
{
	struct reap_scan *rs = user;

	switch (lws_threadpool_task_status_noreap(task)) {
	case LWS_TP_STATUS_FINISHED:
	case LWS_TP_STATUS_STOPPED:
		if (rs->n == rs->size) {
			rs->size = rs->size ? rs->size * 2 : 64;
			rs->ended = realloc(rs->ended, sizeof(*rs->ended) *
						       (size_t)rs->size);
			if (!rs->ended)
				abort();
		}
		rs->ended[rs->n++] = task;
		return 0;
	case LWS_TP_STATUS_QUEUED:
		/*
		 * One pool, FIFO: every task bound to this wsi after a queued
		 * one is queued too, so the scan can stop here.
		 */
		return !cfg.full_scan;
	default:
		return 0;
	}
}

static void
dispatch_writeable(struct lws *wsi, struct pss *pss)
{
	static struct reap_scan rs;	/* service thread only: kept */
	void *user;
	int n;

	rs.n = 0;
	lws_threadpool_foreach_task_wsi(wsi, &rs, reap_cb);
	for (n = 0; n < rs.n; n++)
		lws_threadpool_task_status(rs.ended[n], &user); /* reaps */
	pss->inflight -= rs.n;
	ops += (uint64_t)rs.n;
	dispatch_enqueue(wsi, pss, cfg.k - pss->inflight);
}

/* --- sync ---------------------------------------------------------------- */

struct stask {
	int64_t		t_sync;		/* task: when it returned SYNC */
	int64_t		t_ack;		/* service: when it called task_sync */
	uint32_t	seq;
	unsigned char	buf[LWS_PRE + SYNC_MSG_LEN + 1];
};

static enum lws_threadpool_task_return
sync_task(void *user, enum lws_threadpool_task_status s)
{
	struct stask *st = user;

	if (s == LWS_TP_STATUS_STOPPING)
		return LWS_TP_RETURN_STOPPED;

	if (st->t_ack) {
		if (atomic_load_explicit(&measuring, memory_order_relaxed))
			hist_add(worker_hist(), bench_now_ns() -
						     st->t_ack);
		st->t_ack = 0;
	}
	snprintf((char *)st->buf + LWS_PRE, SYNC_MSG_LEN + 1, "%-*u",
		 SYNC_MSG_LEN, st->seq++);
	st->t_sync = bench_now_ns();

	return LWS_TP_RETURN_SYNC;
}

static void
sync_cleanup(struct lws *wsi, void *user)
{
	free(user);
}

static int
sync_enqueue(struct lws *wsi, struct pss *pss)
{
	struct lws_threadpool_task_args a;
	struct stask *st = calloc(1, sizeof(*st));

	if (!st)
		abort();
	memset(&a, 0, sizeof(a));
	a.wsi = wsi;
	a.task = sync_task;
	a.cleanup = sync_cleanup;
	a.user = st;
	if (!lws_threadpool_enqueue(pools[pss->index % npools], &a, "sync %d",
				    pss->index)) {
		free(st);
		enqueue_failed++;
		return -1;
	}

	return 0;
}

static int
sync_writeable(struct lws *wsi)
{
	struct lws_threadpool_task *task = lws_threadpool_get_task_wsi(wsi);
	struct stask *st;
	void *user;
	int64_t now;

	if (!task)
		return 0;
	switch (lws_threadpool_task_status(task, &user)) {
	case LWS_TP_STATUS_SYNCING:
		break;
	default:
		return 0;	/* ended (reaped just now) or not syncing */
	}
	st = user;
	now = bench_now_ns();
	/*
	 * One 64-byte write per writable callback: lws asked for POLLOUT
	 * first, and keeps whatever the kernel does not take, so no
	 * lws_send_pipe_choked() here (it costs a poll() per message).
	 */
	if (st->t_sync &&
	    atomic_load_explicit(&measuring, memory_order_relaxed))
		hist_add(&h_svc, now - st->t_sync);
	st->t_sync = 0;

	if (lws_write(wsi, st->buf + LWS_PRE, SYNC_MSG_LEN,
		      LWS_WRITE_BINARY) < SYNC_MSG_LEN)
		return -1;
	ops++;
	st->t_ack = bench_now_ns();
	lws_threadpool_task_sync(task, 0);

	return 0;
}

/* --- saturate and memory -------------------------------------------------- */

static enum lws_threadpool_task_return
spin_task(void *user, enum lws_threadpool_task_status s)
{
	if (s == LWS_TP_STATUS_STOPPING)
		return LWS_TP_RETURN_STOPPED;
	bench_spin_us(SPIN_CHECKIN_US);

	return LWS_TP_RETURN_CHECKING_IN;
}

static void
saturate_fill(struct lws *wsi)
{
	struct lws_threadpool_task_args a;
	int n, r;

	memset(&a, 0, sizeof(a));
	a.wsi = wsi;
	a.task = spin_task;
	for (n = 0; n < cfg.threads + cfg.queue; n++)
		if (!lws_threadpool_enqueue(pools[0], &a, "spin %d", n))
			enqueue_failed++;
	/* the queue is full now: one more must be refused */
	lws_set_log_level(LLL_ERR, NULL);
#if defined(LWSTP_BENCH_UPSTREAM)
	r = !lws_threadpool_enqueue(pools[0], &a, "one too many");
#else
	r = lwstp_enqueue(pools[0], &a, NULL, "one too many") ==
							LWSTP_E_QUEUE_FULL;
#endif
	lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
	saturate_full_checked = r;
}

static enum lws_threadpool_task_return
hold_task(void *user, enum lws_threadpool_task_status s)
{
	atomic_fetch_add(&held, 1);
	pthread_mutex_lock(&hold_lock);
	while (!hold_release)
		pthread_cond_wait(&hold_cond, &hold_lock);
	pthread_mutex_unlock(&hold_lock);

	return s == LWS_TP_STATUS_STOPPING ? LWS_TP_RETURN_STOPPED :
					     LWS_TP_RETURN_FINISHED;
}

static enum lws_threadpool_task_return
trivial_task(void *user, enum lws_threadpool_task_status s)
{
	return s == LWS_TP_STATUS_STOPPING ? LWS_TP_RETURN_STOPPED :
					     LWS_TP_RETURN_FINISHED;
}

static void
hold_release_all(void)
{
	pthread_mutex_lock(&hold_lock);
	hold_release = 1;
	pthread_cond_broadcast(&hold_cond);
	pthread_mutex_unlock(&hold_lock);
}

static long long
rss_bytes(void)
{
	long long pages = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return 0;
	if (fscanf(f, "%lld %lld", &pages, &res) != 2)
		res = 0;
	fclose(f);

	return res * sysconf(_SC_PAGESIZE);
}

static void
memory_measure(struct lws *wsi)
{
	struct lws_threadpool_task_args a;
	struct mallinfo2 m0, m1;
	long long rss0, rss1, queued = 0;
	char name[32];
	int n, tries;

	memset(&a, 0, sizeof(a));
	a.wsi = wsi;
	a.task = hold_task;
	for (n = 0; n < cfg.threads; n++)
		if (!lws_threadpool_enqueue(pools[0], &a, "hold %d", n))
			enqueue_failed++;
	/* wait (briefly, on the service thread) until all are on workers */
	for (tries = 0; tries < 2000; tries++) {
		if (atomic_load(&held) == cfg.threads)
			break;
		usleep(1000);
	}
	mem.busy_workers = atomic_load(&held);

	/* the name upstream's minimal-ws-server-threadpool gives its tasks */
	a.task = trivial_task;
	m0 = mallinfo2();
	rss0 = rss_bytes();
	for (n = 0; n < cfg.mem_tasks; n++)
		if (!lws_threadpool_enqueue(pools[0], &a, "ws %4s", "abcd"))
			enqueue_failed++;
		else
			queued++;
	m1 = mallinfo2();
	rss1 = rss_bytes();

	snprintf(name, sizeof(name), "ws %4s", "abcd");
	mem.name_len = strlen(name);
	mem.tasks = queued;
	mem.heap_bytes = (long long)(m1.uordblks - m0.uordblks);
	mem.rss_bytes = rss1 - rss0;

	/* the queued tasks now run and wait on the done list until the
	 * connection goes (WSI_DESTROY frees them) */
	hold_release_all();
}

/* --- window marks ---------------------------------------------------------- */

static void
window_mark(int end)
{
	if (!end) {
		w_t0 = bench_now_ns();
		w_svc0 = bench_thread_cpu_us();
		w_proc0 = bench_process_cpu_us();
		w_ops0 = ops;
#if !defined(LWSTP_BENCH_UPSTREAM)
		if (npools)
			lwstp_get_stats(pools[0], &st_mark);
#endif
		atomic_store(&measuring, 1);
		CALLGRIND_ZERO_STATS;
		CALLGRIND_START_INSTRUMENTATION;
		return;
	}
	CALLGRIND_STOP_INSTRUMENTATION;
	CALLGRIND_DUMP_STATS;
	atomic_store(&measuring, 0);
	w_t1 = bench_now_ns();
	w_svc1 = bench_thread_cpu_us();
	w_proc1 = bench_process_cpu_us();
	w_ops1 = ops;
	got_end = 1;
}

/* --- protocols -------------------------------------------------------------- */

static int
pools_create(void)
{
#if defined(LWSTP_BENCH_UPSTREAM)
	struct lws_threadpool_create_args a;
#else
	struct lwstp_create_args a;
#endif
	int n, per;

	memset(&a, 0, sizeof(a));
#if defined(LWSTP_BENCH_UPSTREAM)
	if (cfg.worker_nice || cfg.sched_idle) {
		lwsl_err("bench: upstream's pool has no worker nice / "
			 "SCHED_IDLE\n");
		return -1;
	}
#else
	a.worker_nice = cfg.worker_nice;
	a.worker_sched_idle = cfg.sched_idle;
#endif
	switch (cfg.sc) {
	case SC_DISPATCH:
		npools = 1;
		a.threads = cfg.threads;
		/* every task in flight may wait */
		a.max_queue_depth = cfg.k * cfg.conns;
		break;
	case SC_SYNC:
		/* a task waiting in SYNC holds its worker: one per conn */
		npools = (cfg.conns + BENCH_POOL_THREADS - 1) /
			 BENCH_POOL_THREADS;
		per = (cfg.conns + npools - 1) / npools;
		a.threads = per;
		a.max_queue_depth = 4;
		break;
	case SC_SATURATE:
		npools = 1;
		a.threads = cfg.threads;
		a.max_queue_depth = cfg.queue;
		break;
	case SC_MEMORY:
		npools = 1;
		a.threads = cfg.threads;
		a.max_queue_depth = cfg.mem_tasks;
		break;
	}
	if (npools > MAX_POOLS)
		return -1;
	for (n = 0; n < npools; n++) {
#if defined(LWSTP_BENCH_UPSTREAM)
		pools[n] = lws_threadpool_create(context, &a, "bench%d", n);
#else
		pools[n] = lwstp_create(context, &a, "bench%d", n);
#endif
		if (!pools[n])
			return -1;
	}

	return 0;
}

static void
pools_destroy(void)
{
	int n;

	hold_release_all();
	for (n = 0; n < npools; n++) {
		if (!pools[n])
			continue;
		lws_threadpool_finish(pools[n]);
		lws_threadpool_destroy(pools[n]);
		pools[n] = NULL;
	}
}

static int
callback_bench(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	       void *in, size_t len)
{
	struct lws_threadpool_task *task;
	struct pss *pss = user;

	switch (reason) {
	case LWS_CALLBACK_PROTOCOL_INIT:
		if (pools_create()) {
			lwsl_err("bench: pool creation failed\n");
			return -1;
		}
		break;

	case LWS_CALLBACK_PROTOCOL_DESTROY:
		pools_destroy();
		break;

	case LWS_CALLBACK_ESTABLISHED:
		pss->index = seen_conns++;
		pss->inflight = 0;
		live_conns++;
		switch (cfg.sc) {
		case SC_DISPATCH:
			dispatch_enqueue(wsi, pss, cfg.k);
			break;
		case SC_SYNC:
			sync_enqueue(wsi, pss);
			break;
		case SC_SATURATE:
			if (!pss->index && cfg.busy)
				saturate_fill(wsi);
			break;
		case SC_MEMORY:
			if (!pss->index)
				memory_measure(wsi);
			break;
		}
		break;

	case LWS_CALLBACK_SERVER_WRITEABLE:
		switch (cfg.sc) {
		case SC_DISPATCH:
			dispatch_writeable(wsi, pss);
			break;
		case SC_SYNC:
			return sync_writeable(wsi);
		default:
			break;	/* done tasks wait for WSI_DESTROY */
		}
		break;

	case LWS_CALLBACK_RECEIVE:
		if (len == 1 && (*(char *)in == 'm' || *(char *)in == 'e'))
			window_mark(*(char *)in == 'e');
		break;

	case LWS_CALLBACK_WS_SERVER_DROP_PROTOCOL:
		/*
		 * As upstream's minimal-ws-server-threadpool does: the wsi's
		 * tasks are dequeued as it leaves the protocol.  liblwstp
		 * would detach them itself; upstream 4.1.6 does not, and its
		 * worker then touches the freed wsi of a task in SYNC (seen
		 * as a crash in lws_cancel_service() at the end of the sync
		 * scenario).
		 */
		while ((task = lws_threadpool_get_task_wsi(wsi)))
			if (lws_threadpool_dequeue_task(task))
				break;
		break;

	case LWS_CALLBACK_CLOSED:
		live_conns--;
		if (got_end && !live_conns)
			interrupted = 1;
		break;

	default:
		break;
	}

	return 0;
}

static int
callback_http(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	      void *in, size_t len)
{
	uint8_t buf[LWS_PRE + 256], *start = &buf[LWS_PRE], *p = start,
		*end = &buf[sizeof(buf) - 1];
	static const char body[] = "ok\n";

#if !defined(LWSTP_BENCH_UPSTREAM)
	lwstp_hook(wsi, reason, user, in, len);
#endif

	if (reason != LWS_CALLBACK_HTTP || strcmp((const char *)in, "/tiny"))
		return lws_callback_http_dummy(wsi, reason, user, in, len);

	if (lws_add_http_common_headers(wsi, HTTP_STATUS_OK, "text/plain",
					sizeof(body) - 1, &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return 1;
	memcpy(start, body, sizeof(body) - 1);
	if (lws_write(wsi, start, sizeof(body) - 1, LWS_WRITE_HTTP_FINAL) !=
	    (int)sizeof(body) - 1)
		return 1;

	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static const struct lws_protocols protocols[] = {
	{ "http", callback_http, 0, 0, 0, NULL, 0 },
	{ BENCH_PROTOCOL, callback_bench, sizeof(struct pss), 1024, 0, NULL,
	  0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* --- main --------------------------------------------------------------- */

static void
sigint_handler(int sig)
{
	interrupted = 1;
}

static void
print_results(void)
{
	struct bench_hist resume;
	struct worker_hist *w;
	struct bench_json j;
	double secs = (double)(w_t1 - w_t0) / 1e9;
	double n = (double)(w_ops1 - w_ops0);

	hist_init(&resume);
	for (w = wh_list; w; w = w->next)
		hist_merge(&resume, &w->h);

	json_begin(&j);
	json_str(&j, "impl", BENCH_IMPL);
	json_str(&j, "scenario", sc_names[cfg.sc]);
	json_int(&j, "conns", cfg.conns);
	json_int(&j, "threads", cfg.threads);
	json_int(&j, "worker_nice", cfg.worker_nice);
	json_num(&j, "window_s", secs);
	json_num(&j, "service_cpu_pct",
		 secs > 0 ? (double)(w_svc1 - w_svc0) / 1e4 / secs : 0);
	json_num(&j, "server_cpu_pct",
		 secs > 0 ? (double)(w_proc1 - w_proc0) / 1e4 / secs : 0);
	json_int(&j, "enqueue_failed", (long long)enqueue_failed);

	switch (cfg.sc) {
	case SC_DISPATCH:
		json_int(&j, "k", cfg.k);
		json_int(&j, "work_us", cfg.work_us);
		json_int(&j, "full_scan", cfg.full_scan);
		json_num(&j, "tasks_per_s", secs > 0 ? n / secs : 0);
		json_num(&j, "service_cpu_us_per_task",
			 n > 0 ? (double)(w_svc1 - w_svc0) / n : 0);
		json_hist_us(&j, "enqueue_to_reap", &h_svc);
		break;
	case SC_SYNC:
		json_int(&j, "pools", npools);
		json_num(&j, "server_msgs_per_s", secs > 0 ? n / secs : 0);
		json_num(&j, "service_cpu_us_per_msg",
			 n > 0 ? (double)(w_svc1 - w_svc0) / n : 0);
		json_hist_us(&j, "sync_to_writable", &h_svc);
		json_hist_us(&j, "sync_to_resume", &resume);
		break;
	case SC_SATURATE:
		json_int(&j, "busy", cfg.busy);
		json_int(&j, "sched_idle", cfg.sched_idle);
		json_int(&j, "queue", cfg.queue);
#if !defined(LWSTP_BENCH_UPSTREAM)
		json_int(&j, "running_at_start", st_mark.running);
		json_int(&j, "queued_at_start", st_mark.queued);
#endif
		json_int(&j, "queue_full_checked", saturate_full_checked);
		break;
	case SC_MEMORY:
		json_int(&j, "tasks", mem.tasks);
		json_int(&j, "busy_workers", mem.busy_workers);
		json_int(&j, "task_name_len", (long long)mem.name_len);
		json_num(&j, "heap_bytes_per_task",
			 mem.tasks ? (double)mem.heap_bytes / mem.tasks : 0);
		json_num(&j, "rss_bytes_per_task",
			 mem.tasks ? (double)mem.rss_bytes / mem.tasks : 0);
		break;
	}
	json_end(&j, stdout);
}

static void
usage(void)
{
	fprintf(stderr, "usage: lwstp-bench-server --scenario dispatch|sync|"
		"saturate|memory [--port N] [--port-file F] [--threads N] "
		"[--k N] [--work-us N] [--conns N] [--queue N] [--busy 0|1] "
		"[--worker-nice N] [--mem-tasks N] [--full-scan] [--sched-idle] "
		"[--max-s N]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct lws_context_creation_info info;
	int64_t deadline;
	int n, i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--full-scan")) {
			cfg.full_scan = 1;
			continue;
		}
		if (!strcmp(a, "--sched-idle")) {
			cfg.sched_idle = 1;
			continue;
		}
		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--scenario")) {
			for (n = 0; n < (int)LWS_ARRAY_SIZE(sc_names); n++)
				if (!strcmp(v, sc_names[n]))
					break;
			if (n == (int)LWS_ARRAY_SIZE(sc_names))
				usage();
			cfg.sc = (enum scenario)n;
		} else if (!strcmp(a, "--port"))
			cfg.port = atoi(v);
		else if (!strcmp(a, "--port-file"))
			cfg.port_file = v;
		else if (!strcmp(a, "--threads"))
			cfg.threads = atoi(v);
		else if (!strcmp(a, "--k"))
			cfg.k = atoi(v);
		else if (!strcmp(a, "--work-us"))
			cfg.work_us = atoi(v);
		else if (!strcmp(a, "--conns"))
			cfg.conns = atoi(v);
		else if (!strcmp(a, "--queue"))
			cfg.queue = atoi(v);
		else if (!strcmp(a, "--busy"))
			cfg.busy = atoi(v);
		else if (!strcmp(a, "--worker-nice"))
			cfg.worker_nice = atoi(v);
		else if (!strcmp(a, "--mem-tasks"))
			cfg.mem_tasks = atoi(v);
		else if (!strcmp(a, "--max-s"))
			cfg.max_s = atoi(v);
		else
			usage();
	}
	if (cfg.conns < 1 || cfg.k < 1 || cfg.threads < 1)
		usage();

	signal(SIGINT, sigint_handler);
	signal(SIGTERM, sigint_handler);
	lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
	hist_init(&h_svc);

	memset(&info, 0, sizeof(info));
	info.port = cfg.port;
	info.iface = "127.0.0.1";
	info.protocols = protocols;
	info.fd_limit_per_thread = (unsigned int)cfg.conns + 256;

	context = lws_create_context(&info);
	if (!context) {
		fprintf(stderr, "lwstp-bench-server: lws init failed\n");
		return 1;
	}
	if (cfg.port_file) {
		FILE *f = fopen(cfg.port_file, "w");

		if (!f)
			return 1;
		fprintf(f, "%d\n", lws_get_vhost_listen_port(
				lws_get_vhost_by_name(context, "default")));
		fclose(f);
	}

	deadline = bench_now_ns() + (int64_t)cfg.max_s * 1000000000LL;
	n = 0;
	while (n >= 0 && !interrupted) {
		n = lws_service(context, 0);
		if (bench_now_ns() > deadline) {
			fprintf(stderr, "lwstp-bench-server: watchdog: no end "
				"after %d s\n", cfg.max_s);
			break;
		}
	}

	lws_context_destroy(context);	/* PROTOCOL_DESTROY: pools go */

	if (!got_end) {
		fprintf(stderr, "lwstp-bench-server: no measured window\n");
		return 1;
	}
	print_results();

	while (wh_list) {
		struct worker_hist *w = wh_list;

		wh_list = w->next;
		free(w);
	}

	return 0;
}
