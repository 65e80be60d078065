/*
 * protocol_lws_threadpool: /metrics, the Prometheus text exposition format
 * (version 0.0.4) of a vhost's pool
 *
 * From one lwstp_get_stats() snapshot (the pool's lock is held only while
 * it is copied; the formatting runs with no lock held).  Every sample has
 * the label vhost="NAME".  Durations are in seconds; the histograms are
 * the pool's log2 buckets: bucket 0 holds values < 2 us, bucket i values
 * in [2^i, 2^(i+1)) us, so a bucket's upper bound, inclusive as `le` is,
 * is (2^(i+1) - 1) us; the last bucket is +Inf.
 */

#include "priv.h"

struct mbuf {
	char	*b;
	size_t	len, size;
	char	vh[128];	/* the vhost label's value, escaped */
};

static void
put(struct mbuf *m, const char *fmt, ...) LWS_FORMAT(2);

static void
put(struct mbuf *m, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (m->len >= m->size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(m->b + m->len, m->size - m->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= m->size - m->len)
		m->len = m->size;	/* truncated: reported as an error */
	else
		m->len += (size_t)n;
}

/* a label value: \, " and newline escaped, as the format wants */
static void
escape_label(char *d, size_t l, const char *s)
{
	size_t n = 0;

	for (; *s && n + 3 < l; s++) {
		if (*s == '\\' || *s == '"' || *s == '\n') {
			d[n++] = '\\';
			d[n++] = *s == '\n' ? 'n' : *s;
		} else
			d[n++] = *s;
	}
	d[n] = '\0';
}

static void
metric(struct mbuf *m, const char *name, const char *type, const char *help)
{
	put(m, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
gauge(struct mbuf *m, const char *name, const char *help, long long v)
{
	metric(m, name, "gauge", help);
	put(m, "%s{vhost=\"%s\"} %lld\n", name, m->vh, v);
}

static void
counter(struct mbuf *m, const char *name, const char *help, uint64_t v)
{
	metric(m, name, "counter", help);
	put(m, "%s{vhost=\"%s\"} %llu\n", name, m->vh, (unsigned long long)v);
}

static void
histogram(struct mbuf *m, const char *name, const char *help,
	  const uint64_t *h, uint64_t sum_us)
{
	uint64_t acc = 0, le_us;
	int k;

	metric(m, name, "histogram", help);
	for (k = 0; k < LWSTP_HIST_BUCKETS - 1; k++) {
		acc += h[k];
		le_us = (2ull << k) - 1;
		put(m, "%s_bucket{vhost=\"%s\",le=\"%llu.%06llu\"} %llu\n",
		    name, m->vh, (unsigned long long)(le_us / 1000000),
		    (unsigned long long)(le_us % 1000000),
		    (unsigned long long)acc);
	}
	acc += h[k];
	put(m, "%s_bucket{vhost=\"%s\",le=\"+Inf\"} %llu\n", name, m->vh,
	    (unsigned long long)acc);
	put(m, "%s_sum{vhost=\"%s\"} %llu.%06llu\n", name, m->vh,
	    (unsigned long long)(sum_us / 1000000),
	    (unsigned long long)(sum_us % 1000000));
	put(m, "%s_count{vhost=\"%s\"} %llu\n", name, m->vh,
	    (unsigned long long)acc);
}

int
lwstp_plugin_metrics(struct lwstp_pvh *vhd, char *b, size_t size)
{
	struct mbuf m = { b, 0, size, "" };
	struct lwstp_stats st;

	if (lwstp_get_stats(vhd->tp, &st))
		return -1;
	escape_label(m.vh, sizeof(m.vh), lws_get_vhost_name(vhd->vh));

	gauge(&m, "lwstp_threads", "Worker threads of the pool.", st.threads);
	gauge(&m, "lwstp_idle_threads", "Workers waiting for a task.",
	      st.idle);
	gauge(&m, "lwstp_queued_tasks", "Tasks waiting for a worker.",
	      st.queued);
	gauge(&m, "lwstp_running_tasks", "Tasks on a worker (running, "
	      "syncing or stopping).", st.running);
	gauge(&m, "lwstp_syncing_tasks", "Of the running tasks, those "
	      "waiting in SYNC for the service thread.", st.syncing);
	gauge(&m, "lwstp_done_unreaped_tasks", "Tasks that ended and are "
	      "not reaped yet.", st.done_waiting);
	gauge(&m, "lwstp_max_queue_depth", "Tasks allowed to wait for a "
	      "worker.", vhd->opts.max_queue_depth);
	gauge(&m, "lwstp_kept_results", "Results of outliving jobs kept "
	      "for their tokens.", lwstp_kept_count(&vhd->kt));

	counter(&m, "lwstp_tasks_enqueued_total", "Tasks accepted.",
		st.enqueued);
	metric(&m, "lwstp_tasks_rejected_total", "counter",
	       "Tasks refused, by reason.");
	put(&m, "lwstp_tasks_rejected_total{vhost=\"%s\",reason="
	    "\"queue_full\"} %llu\n", m.vh,
	    (unsigned long long)st.rejected_full);
	put(&m, "lwstp_tasks_rejected_total{vhost=\"%s\",reason="
	    "\"shutting_down\"} %llu\n", m.vh,
	    (unsigned long long)st.rejected_shutdown);
	counter(&m, "lwstp_tasks_finished_total", "Tasks that ended "
		"FINISHED.", st.finished);
	counter(&m, "lwstp_tasks_stopped_total", "Tasks that ended STOPPED.",
		st.stopped);
	counter(&m, "lwstp_syncs_total", "SYNC waits.", st.syncs);
	counter(&m, "lwstp_sync_timeouts_total", "SYNC waits ended by the "
		"sync timeout.", st.sync_timeouts);
	counter(&m, "lwstp_tasks_detached_total", "Tasks that lost their "
		"connection before their end.", st.detached);
	counter(&m, "lwstp_tasks_reaped_total", "Tasks freed (cleanup run).",
		st.reaped);

	histogram(&m, "lwstp_queue_wait_seconds", "Time from enqueue to a "
		  "worker taking the task.", st.queue_wait_us,
		  st.queue_wait_sum_us);
	histogram(&m, "lwstp_run_seconds", "Time from a worker taking the "
		  "task to its end.", st.run_us, st.run_sum_us);
	histogram(&m, "lwstp_sync_wait_seconds", "Time a task waited in "
		  "SYNC.", st.sync_wait_us, st.sync_wait_sum_us);

	return m.len >= m.size ? -1 : (int)m.len;
}
