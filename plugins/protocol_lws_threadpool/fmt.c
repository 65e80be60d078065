/*
 * protocol_lws_threadpool: the server -> client messages (README.md), one
 * JSON object each, the same over WebSocket and in an HTTP job's stream.
 */

#include "priv.h"

static int
fmt_token(char *b, size_t l, const char *token)
{
	return token ? lws_snprintf(b, l, ",\"token\":\"%s\"", token) : 0;
}

int
lwstp_plugin_fmt_started(char *b, size_t l, uint64_t id, uint64_t size,
			 const char *token)
{
	return lws_snprintf(b, l, "{\"type\":\"started\",\"id\":%llu,"
			    "\"size\":%llu,\"token\":%s%s%s}",
			    (unsigned long long)id, (unsigned long long)size,
			    token ? "\"" : "", token ? token : "null",
			    token ? "\"" : "");
}

int
lwstp_plugin_fmt_progress(char *b, size_t l, uint64_t id, uint64_t done,
			  uint64_t total, const char *token)
{
	int n = lws_snprintf(b, l, "{\"type\":\"progress\",\"id\":%llu,"
			     "\"done\":%llu,\"total\":%llu",
			     (unsigned long long)id, (unsigned long long)done,
			     (unsigned long long)total);

	n += fmt_token(b + n, l - (size_t)n, token);

	return n + lws_snprintf(b + n, l - (size_t)n, "}");
}

int
lwstp_plugin_fmt_result(char *b, size_t l, uint64_t id, const char *sha,
			unsigned int ms, const char *token)
{
	int n = lws_snprintf(b, l, "{\"type\":\"result\",\"id\":%llu,"
			     "\"sha256\":\"%s\",\"ms\":%u",
			     (unsigned long long)id, sha, ms);

	n += fmt_token(b + n, l - (size_t)n, token);

	return n + lws_snprintf(b + n, l - (size_t)n, "}");
}

int
lwstp_plugin_fmt_stopped(char *b, size_t l, uint64_t id, const char *reason,
			 const char *token)
{
	int n = lws_snprintf(b, l, "{\"type\":\"stopped\",\"id\":%llu,"
			     "\"reason\":\"%s\"", (unsigned long long)id,
			     reason);

	n += fmt_token(b + n, l - (size_t)n, token);

	return n + lws_snprintf(b + n, l - (size_t)n, "}");
}

int
lwstp_plugin_fmt_error(char *b, size_t l, const char *code, const char *text,
		       uint64_t id)
{
	char esc[256];
	int n;

	lws_json_purify(esc, text, (int)sizeof(esc), NULL);
	n = lws_snprintf(b, l, "{\"type\":\"error\",\"code\":\"%s\","
			 "\"error\":\"%s\"", code, esc);
	if (id)
		n += lws_snprintf(b + n, l - (size_t)n, ",\"id\":%llu",
				  (unsigned long long)id);

	return n + lws_snprintf(b + n, l - (size_t)n, "}");
}

int
lwstp_plugin_fmt_attached(char *b, size_t l, uint64_t id, const char *token,
			  uint64_t size)
{
	return lws_snprintf(b, l, "{\"type\":\"attached\",\"id\":%llu,"
			    "\"token\":\"%s\",\"size\":%llu}",
			    (unsigned long long)id, token,
			    (unsigned long long)size);
}

/* the message for a job's SYNC or end, from what the worker handed over */
/* the client's word for why the pool stopped a job */
static const char *
stop_why(const struct lwstp_job *job, struct lws_threadpool_task *task)
{
	if (atomic_load(&job->stop_req))
		return "requested";

	switch (task ? lwstp_task_stop_reason(task) : LWSTP_STOP_NONE) {
	case LWSTP_STOP_SYNC_TIMEOUT:
		return "sync-timeout";
	case LWSTP_STOP_FINISH:
		return "shutting-down";
	case LWSTP_STOP_TASK:
		return "failed";
	default:	/* the plugin itself (a write failed, ...) */
		return "server";
	}
}

int
lwstp_plugin_fmt_job_out(char *b, size_t l, const struct lwstp_job *job,
			 struct lws_threadpool_task *task,
			 enum lws_threadpool_task_status s)
{
	switch (s) {
	case LWS_TP_STATUS_SYNCING:
		if (job->out.kind == OUT_STARTED)
			return lwstp_plugin_fmt_started(b, l, job->id,
							job->size, NULL);
		return lwstp_plugin_fmt_progress(b, l, job->id, job->out.done,
						 job->size, NULL);
	case LWS_TP_STATUS_FINISHED:
		if (job->out.kind == OUT_RESULT)
			return lwstp_plugin_fmt_result(b, l, job->id,
						       job->out.sha256,
						       job->out.ms, NULL);
		/* fallthru */
	default:
		if (job->out.failed)	/* logged here, not on the worker */
			lwsl_err("lws-threadpool: job %llu: SHA-256 failed\n",
				 (unsigned long long)job->id);
		return lwstp_plugin_fmt_stopped(b, l, job->id,
						stop_why(job, task), NULL);
	}
}
