/*
 * Soak: LWSTP_SOAK_TASKS tasks (default 200000; 100000 under TSan)
 * through a pool on a real lws context with real (socketpair) wsis, mixed:
 *
 *   fin        returns FINISHED
 *   checkin    checks in 1..4 times, then FINISHED
 *   stop       returns STOPPED
 *   sync       SYNCs 1..4 times (each acked in the writable callback),
 *              then FINISHED
 *   sync_stop  SYNCs 1..4 times, the last one answered with
 *              lws_threadpool_task_sync(task, 1): STOPPED
 *   outlive    async_task, checks in 1..8 times with the OUTLIVE flag
 *   dequeue    a task checking in 1..64 times that the service thread
 *              dequeues, at once or a few loop turns later (queued,
 *              running or done by then)
 *
 * LWSTP_SOAK_INFLIGHT (64) at a time, with bursts of as many as the pool
 * accepts (until it refuses one: queue full) every few thousand tasks;
 * and, meanwhile, connections closed with their tasks in whatever state
 * (and replaced) every ~LWSTP_SOAK_DISCONNECT_EVERY tasks, and the whole
 * pool finished and destroyed with tasks in flight (and recreated) at a
 * quarter, half and three quarters of the run.
 *
 * Checks: every task's cleanup ran exactly once (a slot table, never freed,
 * counts them, so a second cleanup is seen, not a use after free); a task
 * nothing disturbed ended with the status its kind returns; no stall (a
 * lost wake-up or writable would leave a task waiting: the run fails if
 * nothing completes for LWSTP_SOAK_STALL_MS); RSS, sampled throughout, is
 * flat after the warm-up (end - warm-up <= max(4 MiB, 10%); asserted in
 * the plain build only: ASan's quarantine holds freed memory by design and
 * TSan keeps the traces of ended threads).  Prints the figures, and
 * "N passed, N failed" last.
 */

#include "harness.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define SAN "asan"
#define DEFAULT_TASKS 200000
#elif defined(__SANITIZE_THREAD__)
#define SAN "tsan"
#define DEFAULT_TASKS 100000
#else
#define SAN ""
#define DEFAULT_TASKS 200000
#endif

#define NSLOTS		512	/* tasks in flight at most */
#define NCONNS		32
#define THREADS		4
#define QUEUE		256
#define NSAMPLES	200

enum kind { K_FIN, K_CHECKIN, K_STOP, K_SYNC, K_SYNC_STOP, K_OUTLIVE,
	    K_DEQUEUE, K_COUNT };
static const char * const kind_names[] = { "fin", "checkin", "stop", "sync",
	"sync_stop", "outlive", "dequeue" };
static const int kind_weight[] = { 25, 15, 10, 20, 10, 10, 10 };

struct rec {
	/* the task's (worker) side */
	int		left;		/* check-ins / SYNCs still to do */
	int		syncs;		/* SYNCs returned so far */
	/* the service thread's side */
	enum kind	kind;
	int		stop_at;	/* sync_stop: answer this SYNC with 1 */
	int		conn;		/* index in conns[] */
	int		disturbed;	/* its outcome is not its kind's */
	int		live;		/* enqueued, cleanup not seen yet */
	unsigned int	gen;		/* +1 each time the slot is used */
	struct lws_threadpool_task *handle;
	/* cleanup (any thread) */
	atomic_int	cleanups;
};

static struct h H;
static struct rec slots[NSLOTS];
static struct h_conn *conns[NCONNS];
static struct lws_threadpool *tp;
static int inflight_max = 64;
static int burst;	/* enqueue until the pool refuses */

/* dequeue kind: tasks to dequeue a few loop turns after their enqueue */
struct dq_entry {
	int		slot;
	unsigned int	gen;
	unsigned long long turn;
};
static struct dq_entry dq[NSLOTS];
static int ndq;

/* slots whose cleanup ran, for the service thread to take back */
static pthread_mutex_t reclaim_lock = PTHREAD_MUTEX_INITIALIZER;
static int reclaim[NSLOTS], nreclaim;
static int free_slots[NSLOTS], nfree;

static atomic_ullong cleanups_total, cleanups_detached, double_cleanups;
static unsigned long long dq_state[LWS_TP_STATUS_STOPPED + 1];
static unsigned long long enqueued, refused, reaped, bad_status, dequeues,
			  dequeue_running, disconnects, recycles, acks, stops,
			  by_kind[K_COUNT];
static unsigned long long rng_state = 88172645463325252ull;

static unsigned int
rnd(unsigned int n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;

	return (unsigned int)(rng_state % n);
}


static long
rss_kib(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = -1;
	fclose(f);

	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static long
env_long(const char *name, long def)
{
	const char *e = getenv(name);

	return e && atol(e) > 0 ? atol(e) : def;
}

/* --- the task ------------------------------------------------------------ */

static enum lws_threadpool_task_return
soak_task(void *user, enum lws_threadpool_task_status s)
{
	struct rec *r = user;

	if (s == LWS_TP_STATUS_STOPPING)
		return LWS_TP_RETURN_STOPPED;

	switch (r->kind) {
	case K_STOP:
		return LWS_TP_RETURN_STOPPED;
	case K_CHECKIN:
		if (r->left-- > 0)
			return LWS_TP_RETURN_CHECKING_IN;
		return LWS_TP_RETURN_FINISHED;
	case K_DEQUEUE:		/* long enough to be dequeued running */
		if (r->left-- > 0) {
			sched_yield();
			return LWS_TP_RETURN_CHECKING_IN;
		}
		return LWS_TP_RETURN_FINISHED;
	case K_OUTLIVE:
		if (r->left-- > 0) {
			sched_yield();	/* a little longer on the worker */
			return (enum lws_threadpool_task_return)
				(LWS_TP_RETURN_CHECKING_IN |
				 LWS_TP_RETURN_FLAG_OUTLIVE);
		}
		return LWS_TP_RETURN_FINISHED;
	case K_SYNC:
	case K_SYNC_STOP:
		if (r->left-- > 0) {
			r->syncs++;
			return LWS_TP_RETURN_SYNC;
		}
		return LWS_TP_RETURN_FINISHED;
	default:
		return LWS_TP_RETURN_FINISHED;
	}
}

static void
soak_cleanup(struct lws *wsi, void *user)
{
	struct rec *r = user;

	if (atomic_fetch_add(&r->cleanups, 1)) {
		atomic_fetch_add(&double_cleanups, 1);
		return;
	}
	atomic_fetch_add(&cleanups_total, 1);
	if (!wsi)
		atomic_fetch_add(&cleanups_detached, 1);
	pthread_mutex_lock(&reclaim_lock);
	reclaim[nreclaim++] = (int)(r - slots);
	pthread_mutex_unlock(&reclaim_lock);
}

/* --- the service thread's side ------------------------------------------- */

static int
expected_status(enum kind k)
{
	return k == K_STOP || k == K_SYNC_STOP ? LWS_TP_STATUS_STOPPED :
						 LWS_TP_STATUS_FINISHED;
}

static int
reap_cb(struct lws_threadpool_task *task, void *user)
{
	void *u;
	struct rec *r;
	int s = (int)lws_threadpool_task_status(task, &u);

	r = u;
	switch (s) {
	case LWS_TP_STATUS_SYNCING:
		if (r->kind == K_SYNC_STOP && r->syncs == r->stop_at) {
			stops++;
			lws_threadpool_task_sync(task, 1);
		} else {
			acks++;
			lws_threadpool_task_sync(task, 0);
		}
		break;
	case LWS_TP_STATUS_FINISHED:
	case LWS_TP_STATUS_STOPPED:
		/* reaped: its cleanup ran just now; r stays ours until the
		 * slot is taken back below */
		reaped++;
		r->handle = NULL;
		if (!r->disturbed && s != expected_status(r->kind)) {
			bad_status++;
			fprintf(stderr, "task kind %s ended %d, expected %d\n",
				kind_names[r->kind], s,
				expected_status(r->kind));
		}
		break;
	default:
		break;
	}

	return 0;
}

static void
on_writable(struct h_conn *c)
{
	lws_threadpool_foreach_task_wsi(c->wsi, NULL, reap_cb);
}

static void
take_back(void)
{
	int i, n, got[NSLOTS];

	pthread_mutex_lock(&reclaim_lock);
	n = nreclaim;
	memcpy(got, reclaim, sizeof(int) * (size_t)n);
	nreclaim = 0;
	pthread_mutex_unlock(&reclaim_lock);

	for (i = 0; i < n; i++) {
		slots[got[i]].live = 0;
		slots[got[i]].handle = NULL;
		free_slots[nfree++] = got[i];
	}
}

static struct h_conn *
new_conn(int i)
{
	struct h_conn *c = h_conn(&H, 1);

	CHECK(c != NULL);
	if (c) {
		c->on_writable = on_writable;
		c->priv = (void *)(intptr_t)i;
	}

	return c;
}

/* close a connection with its tasks in whatever state, open another */
static void
disconnect(int i)
{
	int n;

	for (n = 0; n < NSLOTS; n++)
		if (slots[n].live && slots[n].conn == i)
			slots[n].disturbed = 1;	/* not ours to touch now */
	/* a detached task's handle may be freed by its worker any time */
	for (n = 0; n < ndq; n++)
		if (slots[dq[n].slot].conn == i)
			dq[n].gen--;
	h_conn_free(conns[i]);
	conns[i] = new_conn(i);
	disconnects++;
}

static struct lws_threadpool *
make_pool(void)
{
	struct lwstp_create_args a;
	struct lws_threadpool *p;

	memset(&a, 0, sizeof(a));
	a.threads = THREADS;
	a.max_queue_depth = QUEUE;
	a.sync_timeout_ms = 600000;	/* a lost writable stalls, visibly */
	p = lwstp_create(H.cx, &a, "soak");
	CHECK(p != NULL);

	return p;
}

/* finish and destroy the pool with its tasks in flight, make a new one */
static void
recycle_pool(void)
{
	int n;

	for (n = 0; n < NSLOTS; n++)
		if (slots[n].live)
			slots[n].disturbed = 1;
	ndq = 0;	/* every handle is gone with the pool */
	lws_threadpool_finish(tp);
	lws_threadpool_destroy(tp);
	tp = make_pool();
	recycles++;
}

/* dequeue a task bound to its wsi, noting the state it was in */
static void
dequeue(struct rec *r)
{
	int st = (int)lws_threadpool_task_status_noreap(r->handle);

	if (st >= 0 && st <= LWS_TP_STATUS_STOPPED)
		dq_state[st]++;
	dequeues++;
	dequeue_running += lws_threadpool_dequeue_task(r->handle);
	r->handle = NULL;
}

static int
start_task(void)
{
	struct lws_threadpool_task_args a;
	unsigned int w = rnd(100), acc = 0;
	struct rec *r;
	int k, slot, ret;

	/* LWSTP_SOAK_INFLIGHT (64): tasks queued, running or not reaped;
	 * in a burst, as many as the pool takes */
	if (!nfree || (!burst && NSLOTS - nfree >= inflight_max))
		return -1;
	slot = free_slots[--nfree];
	r = &slots[slot];

	for (k = 0; k < K_COUNT - 1; k++) {
		acc += (unsigned int)kind_weight[k];
		if (w < acc)
			break;
	}
	r->kind = (enum kind)k;
	r->left = r->kind == K_OUTLIVE ? 1 + (int)rnd(8) :
		  r->kind == K_DEQUEUE ? 1 + (int)rnd(64) : 1 + (int)rnd(4);
	r->syncs = 0;
	r->stop_at = r->left;		/* the last SYNC */
	r->conn = (int)rnd(NCONNS);
	r->disturbed = r->kind == K_DEQUEUE;
	r->gen++;
	atomic_store(&r->cleanups, 0);

	memset(&a, 0, sizeof(a));
	a.wsi = conns[r->conn]->wsi;
	a.user = r;
	a.task = soak_task;
	a.cleanup = soak_cleanup;
	a.async_task = r->kind == K_OUTLIVE;

	ret = lwstp_enqueue(tp, &a, &r->handle, "soak-%d", slot);
	if (ret) {
		CHECK_EQ(ret, LWSTP_E_QUEUE_FULL);
		refused++;
		free_slots[nfree++] = slot;
		return -1;
	}
	r->live = 1;
	enqueued++;
	by_kind[r->kind]++;

	return slot;
}

static int
cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	long total = env_long("LWSTP_SOAK_TASKS", DEFAULT_TASKS);
	long disc_every = env_long("LWSTP_SOAK_DISCONNECT_EVERY", 500);
	long stall_ms = env_long("LWSTP_SOAK_STALL_MS", 20000);
	long samples[NSAMPLES + 2], rss0, rss_warm = 0, rss_peak = 0, rss_end;
	long long t0, t_last_progress, elapsed;
	unsigned long long last_cleanups = 0, turn = 0;
	int nsamples = 0, i, recycled = 0;
	long next_sample = 0, next_disc = disc_every, next_burst = 5000;

	rng_state ^= (unsigned long long)env_long("LWSTP_SOAK_SEED", 1);
	inflight_max = (int)env_long("LWSTP_SOAK_INFLIGHT", 64);
	if (inflight_max > NSLOTS)
		inflight_max = NSLOTS;
	if (h_init(&H, NULL)) {
		fprintf(stderr, "cannot create the lws context\n");
		return 1;
	}
	lws_set_log_level(LLL_ERR, NULL);	/* not each queue-full refusal */
	for (i = 0; i < NCONNS; i++)
		conns[i] = new_conn(i);
	for (i = 0; i < NSLOTS; i++)
		free_slots[nfree++] = NSLOTS - 1 - i;
	tp = make_pool();

	rss0 = rss_kib();
	printf("soak: %ld tasks, %d connections, %d threads, %d in flight at "
	       "most%s%s\n", total, NCONNS, THREADS, inflight_max,
	       *SAN ? ", " : "", SAN);
	fflush(stdout);

	t0 = t_last_progress = h_now_ms();
	while ((long)atomic_load(&cleanups_total) < total ||
	       (long)enqueued < total) {
		unsigned long long done = atomic_load(&cleanups_total);

		take_back();

		/* the dequeue kind, a few loop turns after its enqueue */
		for (i = 0; i < ndq; ) {
			struct rec *r = &slots[dq[i].slot];
			int valid = r->gen == dq[i].gen && r->live &&
				    r->handle;

			/* the same task, still bound to its wsi (a reaped
			 * one's handle was cleared): wait for a worker to
			 * take it, for up to 2000 loop turns */
			if (valid && dq[i].turn > turn &&
			    lws_threadpool_task_status_noreap(r->handle) ==
							LWS_TP_STATUS_QUEUED) {
				i++;
				continue;
			}
			if (valid)
				dequeue(r);
			dq[i] = dq[--ndq];
		}

		if ((long)enqueued >= next_burst) {
			burst = 1;
			next_burst += 2500 + (long)rnd(5000);
		}
		while ((long)enqueued < total) {
			int s = start_task();

			if (s < 0) {
				burst = 0;
				break;
			}
			if (slots[s].kind == K_DEQUEUE) {
				if (rnd(2))	/* at once, likely queued */
					dequeue(&slots[s]);
				else {
					dq[ndq].slot = s;
					dq[ndq].gen = slots[s].gen;
					dq[ndq++].turn = turn + 1 + rnd(2000);
				}
			}
			if ((long)enqueued >= next_disc) {
				next_disc += disc_every / 2 +
					     (long)rnd((unsigned)disc_every);
				disconnect((int)rnd(NCONNS));
			}
			if (recycled < 3 && (long)enqueued >=
					     total / 4 * (recycled + 1)) {
				recycle_pool();
				recycled++;
			}
		}

		if ((long)done >= next_sample && nsamples < NSAMPLES) {
			long r = rss_kib();

			samples[nsamples++] = r;
			if (r > rss_peak)
				rss_peak = r;
			if (!rss_warm && done >= (unsigned long long)total / 10)
				rss_warm = r;
			next_sample += total / NSAMPLES;
		}

		if (done != last_cleanups) {
			last_cleanups = done;
			t_last_progress = h_now_ms();
		} else if (h_now_ms() - t_last_progress > stall_ms) {
			fprintf(stderr, "FAIL: no task completed for %ld ms: "
				"%llu enqueued, %llu cleaned up\n", stall_ms,
				enqueued, done);
			lws_threadpool_dump(tp);
			lwstp_self_check(tp);
			h_failures++;
			break;
		}

		h_service_some(&H);
		turn++;
	}
	elapsed = h_now_ms() - t0;

	lws_threadpool_finish(tp);
	lws_threadpool_destroy(tp);
	take_back();
	for (i = 0; i < NCONNS; i++)
		h_conn_free(conns[i]);
	rss_end = rss_kib();
	if (rss_end > rss_peak)
		rss_peak = rss_end;

	printf("soak: %llu tasks in %.1f s (%.0f tasks/s), %llu refused "
	       "(queue full) and retried\n", enqueued, (double)elapsed / 1000.0,
	       (double)enqueued * 1000.0 / (double)(elapsed ? elapsed : 1),
	       refused);
	printf("kinds:");
	for (i = 0; i < K_COUNT; i++)
		printf(" %s %llu", kind_names[i], by_kind[i]);
	printf("\n");
	printf("disconnects %llu, pool recycles %llu, SYNC acks %llu, SYNC "
	       "stops %llu\n", disconnects, recycles, acks, stops);
	printf("dequeues %llu: queued %llu, running %llu, syncing %llu, "
	       "stopping %llu, done %llu; %llu left running, detached\n",
	       dequeues, dq_state[LWS_TP_STATUS_QUEUED],
	       dq_state[LWS_TP_STATUS_RUNNING],
	       dq_state[LWS_TP_STATUS_SYNCING],
	       dq_state[LWS_TP_STATUS_STOPPING],
	       dq_state[LWS_TP_STATUS_FINISHED] +
	       dq_state[LWS_TP_STATUS_STOPPED], dequeue_running);
	printf("cleanups %llu (%llu detached, on a worker), reaped in "
	       "writable %llu, double cleanups %llu, wrong end status %llu\n",
	       (unsigned long long)atomic_load(&cleanups_total),
	       (unsigned long long)atomic_load(&cleanups_detached), reaped,
	       (unsigned long long)atomic_load(&double_cleanups), bad_status);
	if (nsamples) {
		qsort(samples, (size_t)nsamples, sizeof(long), cmp_long);
		printf("RSS KiB: start %ld, after warm-up (10%%) %ld, peak "
		       "%ld, end %ld (median of %d samples %ld)\n", rss0,
		       rss_warm, rss_peak, rss_end, nsamples,
		       samples[nsamples / 2]);
	}

	CHECK_EQ(atomic_load(&cleanups_total), enqueued);
	CHECK_EQ((long)enqueued, total);
	CHECK_EQ(atomic_load(&double_cleanups), 0);
	CHECK_EQ(bad_status, 0);
	CHECK_EQ(nfree, NSLOTS);	/* every slot came back */
	CHECK(by_kind[K_SYNC] && by_kind[K_OUTLIVE] && disconnects &&
	      dequeues && recycles == 3);
	CHECK(atomic_load(&cleanups_detached) > 0);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
	{
		long slack = rss_warm / 10 > 4096 ? rss_warm / 10 : 4096;

		CHECK(rss_warm > 0);
		CHECK(rss_end - rss_warm <= slack);
		if (rss_end - rss_warm > slack)
			fprintf(stderr, "RSS grew %ld KiB after the warm-up\n",
				rss_end - rss_warm);
	}
#else
	printf("RSS flatness not asserted under %s: ASan's quarantine holds "
	       "freed memory, TSan keeps the traces of ended threads\n", SAN);
#endif

	h_destroy(&H);

	return h_report("soak");
}
