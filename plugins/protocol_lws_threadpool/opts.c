/*
 * protocol_lws_threadpool: per-vhost options (pvos), parsed strictly.
 *
 * One table says each option's name, where it goes, its range and default;
 * parsing, defaults and the JSON view all walk that table.
 */

#include "opts.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum opt_type { OT_INT, OT_UINT, OT_U64 };

struct opt_desc {
	const char	*name;
	size_t		ofs;
	enum opt_type	type;
	long long	min;
	long long	max;
	long long	def;
};

#define O(_n, _m, _t, _min, _max, _def) \
	{ _n, offsetof(struct lwstp_plugin_opts, _m), _t, _min, _max, _def }

static const struct opt_desc opt_table[] = {
	/* as liblwstp: threads beyond kernel.threads-max fail the create */
	O("threads", threads, OT_INT, 1, INT_MAX, 2),
	O("max-queue-depth", max_queue_depth, OT_INT, 0, INT_MAX, 64),
	O("sync-timeout-ms", sync_timeout_ms, OT_UINT, 1, 3600000, 30000),
	O("max-tasks-per-connection", max_tasks_per_conn, OT_INT, 1,
	  LWSTP_PLUGIN_MAX_TASKS_PER_CONN, 4),
	O("job-deadline-ms", job_deadline_ms, OT_UINT, 1, 3600000, 5000),
	O("worker-nice", worker_nice, OT_INT, 0, 19, 0),
	O("worker-sched-idle", worker_sched_idle, OT_INT, 0, 1, 0),
	O("max-job-size", max_job_size, OT_U64, 1,
	  (long long)LWSTP_PLUGIN_MAX_JOB_SIZE, 256ll << 20),
	O("result-ttl-ms", result_ttl_ms, OT_UINT, 1, 86400000, 300000),
	O("max-results", max_results, OT_INT, 1, 100000, 64),
	O("progress-interval-ms", progress_interval_ms, OT_UINT, 0, 60000,
	  250),
};

/* pvo names lws itself gives meaning to in a protocol's option list */
static const char * const lws_own_pvos[] = { "default", "raw" };

static void
opt_store(struct lwstp_plugin_opts *o, const struct opt_desc *d, long long v)
{
	void *p = (char *)o + d->ofs;

	switch (d->type) {
	case OT_INT:
		*(int *)p = (int)v;
		break;
	case OT_UINT:
		*(unsigned int *)p = (unsigned int)v;
		break;
	case OT_U64:
		*(uint64_t *)p = (uint64_t)v;
		break;
	}
}

static long long
opt_load(const struct lwstp_plugin_opts *o, const struct opt_desc *d)
{
	const void *p = (const char *)o + d->ofs;

	switch (d->type) {
	case OT_INT:
		return *(const int *)p;
	case OT_UINT:
		return *(const unsigned int *)p;
	default:
		return (long long)*(const uint64_t *)p;
	}
}

void
lwstp_plugin_opts_default(struct lwstp_plugin_opts *o)
{
	size_t n;

	memset(o, 0, sizeof(*o));
	for (n = 0; n < LWS_ARRAY_SIZE(opt_table); n++)
		opt_store(o, &opt_table[n], opt_table[n].def);
}

/* digits only, optionally after one '-'; the whole string; no overflow */
static int
parse_strict(const char *s, long long *v)
{
	const char *p = s;
	char *end;

	if (!s)
		return -1;
	if (*p == '-')
		p++;
	if (*p < '0' || *p > '9')
		return -1;	/* empty, "+1", " 1", "-", "0x..." */

	errno = 0;
	*v = strtoll(s, &end, 10);
	if (errno || *end)
		return -1;

	return 0;
}

int
lwstp_plugin_parse_opts(const struct lws_protocol_vhost_options *pvo,
			const char *vhost, struct lwstp_plugin_opts *o,
			char *err, size_t errlen)
{
	const struct opt_desc *d;
	long long v;
	size_t n;

	lwstp_plugin_opts_default(o);
	if (errlen)
		err[0] = '\0';
	if (!vhost)
		vhost = "(unnamed)";

	for (; pvo; pvo = pvo->next) {
		d = NULL;
		for (n = 0; n < LWS_ARRAY_SIZE(opt_table); n++)
			if (pvo->name && !strcmp(pvo->name, opt_table[n].name))
				d = &opt_table[n];
		if (!d) {
			for (n = 0; n < LWS_ARRAY_SIZE(lws_own_pvos); n++)
				if (pvo->name &&
				    !strcmp(pvo->name, lws_own_pvos[n]))
					break;
			if (n == LWS_ARRAY_SIZE(lws_own_pvos))
				lwsl_warn("lws-threadpool: vhost '%s': unknown "
					  "option '%s' ignored\n", vhost,
					  pvo->name ? pvo->name : "(null)");
			continue;
		}

		if (parse_strict(pvo->value, &v) || v < d->min || v > d->max) {
			lws_snprintf(err, errlen, "vhost '%s': option '%s' "
				     "value '%s' is invalid: expected an "
				     "integer in %lld..%lld", vhost, d->name,
				     pvo->value ? pvo->value : "(null)",
				     d->min, d->max);
			return -1;
		}
		opt_store(o, d, v);
	}

	return 0;
}

int
lwstp_plugin_opts_json(const struct lwstp_plugin_opts *o, char *buf,
		       size_t len)
{
	size_t n, used = 0;

	if (len)
		buf[0] = '\0';
	for (n = 0; n < LWS_ARRAY_SIZE(opt_table) && used + 1 < len; n++)
		used += (size_t)lws_snprintf(buf + used, len - used,
					     "%s\"%s\":%lld", n ? "," : "",
					     opt_table[n].name,
					     opt_load(o, &opt_table[n]));

	return (int)used;
}
