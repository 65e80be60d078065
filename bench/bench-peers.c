/*
 * lwstp-bench-peers - what liblwstp is measured against, in the same run.
 *
 *   lwstp-bench-peers uv --k K [--work-us N] [--warmup-ms N] [--measure-ms N]
 *	libuv's uv_queue_work(): a uv loop keeps K work items in flight (the
 *	work is trivial, or spins --work-us), counts completions per second,
 *	the loop thread's CPU per completion and the queue-to-completion
 *	latency.  The pool size is libuv's UV_THREADPOOL_SIZE (run.sh sets it
 *	to the lwstp pool's thread count).
 *
 *   lwstp-bench-peers eventfd|condvar|futex [--measure-ms N]
 *	the floor: two threads ping-pong a token through two eventfds, a
 *	mutex + two condition variables, or a raw futex; round trip p50 / p99
 *	/ max.
 *
 *   lwstp-bench-peers spin [--measure-ms N]
 *	burn one CPU for N ms (run.sh starts nproc of them at nice 19 beside
 *	an idle pool: the control for the saturate scenario).
 *
 * Prints one JSON line.
 */

#include "common.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <uv.h>

static struct {
	int	k;
	int	work_us;
	int	warmup_ms;
	int	measure_ms;
} cfg = { .k = 8, .warmup_ms = 500, .measure_ms = 2000 };

/* --- libuv ----------------------------------------------------------------- */

struct uv_item {
	uv_work_t	req;
	int64_t		t_enq;
};

static struct {
	uv_loop_t	*loop;
	uv_timer_t	timer;
	int		stopping, measuring;
	uint64_t	done, done0, done1;
	int64_t		t0, t1, cpu0, cpu1;
	struct bench_hist lat;
} u;

static void
uv_work(uv_work_t *req)
{
	if (cfg.work_us)
		bench_spin_us(cfg.work_us);
}

static void
uv_after(uv_work_t *req, int status)
{
	struct uv_item *it = (struct uv_item *)req;

	u.done++;
	if (u.measuring)
		hist_add(&u.lat, bench_now_ns() - it->t_enq);
	if (u.stopping)
		return;
	it->t_enq = bench_now_ns();
	if (uv_queue_work(u.loop, &it->req, uv_work, uv_after))
		abort();
}

static void
uv_on_timer(uv_timer_t *t)
{
	if (!u.measuring) {
		u.t0 = bench_now_ns();
		u.cpu0 = bench_thread_cpu_us();
		u.done0 = u.done;
		u.measuring = 1;
		uv_timer_start(&u.timer, uv_on_timer,
			       (uint64_t)cfg.measure_ms, 0);
		return;
	}
	u.t1 = bench_now_ns();
	u.cpu1 = bench_thread_cpu_us();
	u.done1 = u.done;
	u.measuring = 0;
	u.stopping = 1;
	uv_close((uv_handle_t *)&u.timer, NULL);
}

static int
run_uv(void)
{
	struct uv_item *items = calloc((size_t)cfg.k, sizeof(*items));
	const char *ts = getenv("UV_THREADPOOL_SIZE");
	struct bench_json j;
	double secs, n;
	int i;

	if (!items)
		return 1;
	hist_init(&u.lat);
	u.loop = uv_default_loop();
	uv_timer_init(u.loop, &u.timer);
	uv_timer_start(&u.timer, uv_on_timer, (uint64_t)cfg.warmup_ms, 0);
	for (i = 0; i < cfg.k; i++) {
		items[i].t_enq = bench_now_ns();
		if (uv_queue_work(u.loop, &items[i].req, uv_work, uv_after))
			return 1;
	}
	uv_run(u.loop, UV_RUN_DEFAULT);	/* ends when the last item is in */
	uv_loop_close(u.loop);
	free(items);

	secs = (double)(u.t1 - u.t0) / 1e9;
	n = (double)(u.done1 - u.done0);
	json_begin(&j);
	json_str(&j, "peer", "libuv");
	json_int(&j, "k", cfg.k);
	json_int(&j, "work_us", cfg.work_us);
	json_int(&j, "threads", ts ? atoi(ts) : 4);
	json_num(&j, "window_s", secs);
	json_num(&j, "ops_per_s", secs > 0 ? n / secs : 0);
	json_num(&j, "loop_cpu_us_per_op",
		 n > 0 ? (double)(u.cpu1 - u.cpu0) / n : 0);
	json_num(&j, "loop_cpu_pct",
		 secs > 0 ? (double)(u.cpu1 - u.cpu0) / 1e4 / secs : 0);
	json_hist_us(&j, "enqueue_to_complete", &u.lat);
	json_end(&j, stdout);

	return 0;
}

/* --- ping-pong ------------------------------------------------------------ */

enum pp_kind { PP_EVENTFD, PP_CONDVAR, PP_FUTEX };

static struct {
	enum pp_kind	kind;
	atomic_int	stop;
	int		efd_ping, efd_pong;
	pthread_mutex_t	lock;
	pthread_cond_t	c_ping, c_pong;
	int		turn;		/* (lock) 1: the ponger's turn */
	atomic_int	word;		/* futex: 1: the ponger's turn */
} pp;

static void
efd_wait(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) != sizeof(v))
		if (errno != EINTR)
			abort();
}

static void
efd_post(int fd)
{
	uint64_t v = 1;

	if (write(fd, &v, sizeof(v)) != sizeof(v))
		abort();
}

static long
futex(atomic_int *addr, int op, int val)
{
	return syscall(SYS_futex, addr, op, val, NULL, NULL, 0);
}

/*
 * The ponger's side of one round trip.  Returns the stop flag as read after
 * the ping arrived: the pinger sets it before its last ping, so that ping is
 * still answered and no earlier one sees it.
 */
static int
pong_once(void)
{
	int stop = 0;

	switch (pp.kind) {
	case PP_EVENTFD:
		efd_wait(pp.efd_ping);
		stop = atomic_load(&pp.stop);
		efd_post(pp.efd_pong);
		break;
	case PP_CONDVAR:
		pthread_mutex_lock(&pp.lock);
		while (pp.turn != 1)
			pthread_cond_wait(&pp.c_ping, &pp.lock);
		stop = atomic_load(&pp.stop);
		pp.turn = 0;
		pthread_cond_signal(&pp.c_pong);
		pthread_mutex_unlock(&pp.lock);
		break;
	case PP_FUTEX:
		while (atomic_load(&pp.word) != 1)
			futex(&pp.word, FUTEX_WAIT_PRIVATE, 0);
		stop = atomic_load(&pp.stop);
		atomic_store(&pp.word, 0);
		futex(&pp.word, FUTEX_WAKE_PRIVATE, 1);
		break;
	}

	return stop;
}

static void
ping_once(void)
{
	switch (pp.kind) {
	case PP_EVENTFD:
		efd_post(pp.efd_ping);
		efd_wait(pp.efd_pong);
		break;
	case PP_CONDVAR:
		pthread_mutex_lock(&pp.lock);
		pp.turn = 1;
		pthread_cond_signal(&pp.c_ping);
		while (pp.turn != 0)
			pthread_cond_wait(&pp.c_pong, &pp.lock);
		pthread_mutex_unlock(&pp.lock);
		break;
	case PP_FUTEX:
		atomic_store(&pp.word, 1);
		futex(&pp.word, FUTEX_WAKE_PRIVATE, 1);
		while (atomic_load(&pp.word) != 0)
			futex(&pp.word, FUTEX_WAIT_PRIVATE, 1);
		break;
	}
}

static void *
ponger(void *arg)
{
	while (!pong_once())
		;

	return NULL;
}

static int
run_pingpong(enum pp_kind kind, const char *name)
{
	struct bench_hist h;
	struct bench_json j;
	pthread_t t;
	int64_t t_warm, t_end, t_start, now;
	uint64_t trips = 0;

	pp.kind = kind;
	pp.efd_ping = eventfd(0, EFD_CLOEXEC);
	pp.efd_pong = eventfd(0, EFD_CLOEXEC);
	if (pp.efd_ping < 0 || pp.efd_pong < 0)
		return 1;
	pthread_mutex_init(&pp.lock, NULL);
	pthread_cond_init(&pp.c_ping, NULL);
	pthread_cond_init(&pp.c_pong, NULL);
	hist_init(&h);

	if (pthread_create(&t, NULL, ponger, NULL))
		return 1;

	t_start = bench_now_ns();
	t_warm = t_start + (int64_t)cfg.warmup_ms * 1000000;
	t_end = t_warm + (int64_t)cfg.measure_ms * 1000000;
	do {
		int64_t a = bench_now_ns();

		ping_once();
		now = bench_now_ns();
		if (a >= t_warm) {
			hist_add(&h, now - a);
			trips++;
		}
	} while (now < t_end);

	atomic_store(&pp.stop, 1);
	ping_once();
	pthread_join(t, NULL);
	close(pp.efd_ping);
	close(pp.efd_pong);
	pthread_cond_destroy(&pp.c_ping);
	pthread_cond_destroy(&pp.c_pong);
	pthread_mutex_destroy(&pp.lock);

	json_begin(&j);
	json_str(&j, "peer", name);
	json_num(&j, "window_s", (double)(now - t_warm) / 1e9);
	json_num(&j, "round_trips_per_s",
		 (double)trips / ((double)(now - t_warm) / 1e9));
	json_hist_us(&j, "rtt", &h);
	json_end(&j, stdout);

	return 0;
}

static int
run_spin(void)
{
	int64_t end = bench_now_ns() + (int64_t)cfg.measure_ms * 1000000;
	struct bench_json j;
	uint64_t loops = 0;

	while (bench_now_ns() < end)
		loops++;
	json_begin(&j);
	json_str(&j, "peer", "spin");
	json_int(&j, "loops", (long long)loops);
	json_end(&j, stdout);

	return 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: lwstp-bench-peers uv|eventfd|condvar|futex|spin "
		"[--k N] [--work-us N] [--warmup-ms N] [--measure-ms N]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	int i;

	if (argc < 2)
		usage();
	for (i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--k"))
			cfg.k = atoi(v);
		else if (!strcmp(a, "--work-us"))
			cfg.work_us = atoi(v);
		else if (!strcmp(a, "--warmup-ms"))
			cfg.warmup_ms = atoi(v);
		else if (!strcmp(a, "--measure-ms"))
			cfg.measure_ms = atoi(v);
		else
			usage();
	}
	if (cfg.k < 1)
		usage();

	if (!strcmp(argv[1], "uv"))
		return run_uv();
	if (!strcmp(argv[1], "eventfd"))
		return run_pingpong(PP_EVENTFD, "eventfd");
	if (!strcmp(argv[1], "condvar"))
		return run_pingpong(PP_CONDVAR, "condvar");
	if (!strcmp(argv[1], "futex"))
		return run_pingpong(PP_FUTEX, "futex");
	if (!strcmp(argv[1], "spin"))
		return run_spin();
	usage();

	return 2;
}
