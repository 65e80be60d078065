/*
 * lws-threadpool benchmarks: helpers shared by the bench programs.
 *
 * - clocks (CLOCK_MONOTONIC in ns) and thread / process CPU time
 * - a log-linear latency histogram: values below 32 ns are exact, above
 *   that each power of two is split in 32 buckets (error < 3.2 %); the exact
 *   minimum and maximum are kept as well
 * - JSON output on one line
 *
 * Header-only so that each program is a single C file plus this.
 */

#ifndef LWSTP_BENCH_COMMON_H
#define LWSTP_BENCH_COMMON_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static inline int64_t
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);

	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline int64_t
bench_rusage_us(int who)
{
	struct rusage ru;

	if (getrusage(who, &ru))
		return 0;

	return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL +
	       ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

/* CPU time of the calling thread / of the whole process, in us */
#define bench_thread_cpu_us()	bench_rusage_us(RUSAGE_THREAD)
#define bench_process_cpu_us()	bench_rusage_us(RUSAGE_SELF)

/* burn the CPU for us microseconds of wall time */
static inline void
bench_spin_us(int us)
{
	int64_t end = bench_now_ns() + (int64_t)us * 1000;

	while (bench_now_ns() < end)
		;
}

#define HIST_SUB_BITS	5
#define HIST_SUB	(1 << HIST_SUB_BITS)
#define HIST_BUCKETS	((64 - HIST_SUB_BITS + 1) * HIST_SUB)

struct bench_hist {
	uint64_t	n;
	uint64_t	min;
	uint64_t	max;
	uint64_t	c[HIST_BUCKETS];
};

static inline void
hist_init(struct bench_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

static inline int
hist_index(uint64_t v)
{
	int e;

	if (v < HIST_SUB)
		return (int)v;
	e = 63 - __builtin_clzll(v);	/* >= HIST_SUB_BITS */

	return (e - HIST_SUB_BITS + 1) * HIST_SUB +
	       (int)((v >> (e - HIST_SUB_BITS)) - HIST_SUB);
}

/* the middle of a bucket's range */
static inline uint64_t
hist_value(int idx)
{
	int e, shift;
	uint64_t lo;

	if (idx < HIST_SUB)
		return (uint64_t)idx;
	e = idx / HIST_SUB + HIST_SUB_BITS - 1;
	shift = e - HIST_SUB_BITS;
	lo = (uint64_t)(idx % HIST_SUB + HIST_SUB) << shift;

	return lo + (((uint64_t)1 << shift) >> 1);
}

static inline void
hist_add(struct bench_hist *h, int64_t v)
{
	uint64_t u = v < 0 ? 0 : (uint64_t)v;

	h->c[hist_index(u)]++;
	h->n++;
	if (u < h->min)
		h->min = u;
	if (u > h->max)
		h->max = u;
}

static inline void
hist_merge(struct bench_hist *to, const struct bench_hist *from)
{
	int i;

	for (i = 0; i < HIST_BUCKETS; i++)
		to->c[i] += from->c[i];
	to->n += from->n;
	if (from->min < to->min)
		to->min = from->min;
	if (from->max > to->max)
		to->max = from->max;
}

/* percentile 0..100; the exact max for 100, 0 for an empty histogram */
static inline uint64_t
hist_pct(const struct bench_hist *h, double pct)
{
	uint64_t want, acc = 0;
	int i;

	if (!h->n)
		return 0;
	if (pct >= 100)
		return h->max;
	want = (uint64_t)((double)h->n * pct / 100.0);
	if (want < 1)
		want = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		acc += h->c[i];
		if (acc >= want) {
			uint64_t v = hist_value(i);

			return v > h->max ? h->max : v < h->min ? h->min : v;
		}
	}

	return h->max;
}

/*
 * One JSON object on one line, built up with json_*() and printed by
 * json_end().  Keys are plain identifiers, so nothing needs escaping but
 * string values, which the programs only fill with identifiers too.
 */
struct bench_json {
	char	buf[8192];
	size_t	len;
};

static inline void
json_raw(struct bench_json *j, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (j->len >= sizeof(j->buf) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(j->buf + j->len, sizeof(j->buf) - j->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		j->len += (size_t)n;
	if (j->len >= sizeof(j->buf))
		j->len = sizeof(j->buf) - 1;
}

static inline void
json_begin(struct bench_json *j)
{
	j->len = 0;
	json_raw(j, "{");
}

static inline void
json_sep(struct bench_json *j)
{
	if (j->len > 1)
		json_raw(j, ",");
}

static inline void
json_str(struct bench_json *j, const char *k, const char *v)
{
	json_sep(j);
	json_raw(j, "\"%s\":\"%s\"", k, v);
}

static inline void
json_int(struct bench_json *j, const char *k, long long v)
{
	json_sep(j);
	json_raw(j, "\"%s\":%lld", k, v);
}

static inline void
json_num(struct bench_json *j, const char *k, double v)
{
	json_sep(j);
	json_raw(j, "\"%s\":%.4g", k, v);
}

/* p50, p99 and max of a histogram of ns, as <prefix>_p50_us ... */
static inline void
json_hist_us(struct bench_json *j, const char *prefix,
	     const struct bench_hist *h)
{
	char k[96];

	snprintf(k, sizeof(k), "%s_p50_us", prefix);
	json_num(j, k, (double)hist_pct(h, 50) / 1000.0);
	snprintf(k, sizeof(k), "%s_p99_us", prefix);
	json_num(j, k, (double)hist_pct(h, 99) / 1000.0);
	snprintf(k, sizeof(k), "%s_max_us", prefix);
	json_num(j, k, (double)hist_pct(h, 100) / 1000.0);
	snprintf(k, sizeof(k), "%s_n", prefix);
	json_int(j, k, (long long)h->n);
}

static inline void
json_end(struct bench_json *j, FILE *f)
{
	json_raw(j, "}");
	fprintf(f, "%s\n", j->buf);
	fflush(f);
}

#endif
