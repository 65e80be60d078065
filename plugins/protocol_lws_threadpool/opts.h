/*
 * protocol_lws_threadpool: per-vhost options (pvos)
 *
 * Every option is a string in the vhost's pvo list, parsed strictly into
 * struct lwstp_plugin_opts by lwstp_plugin_parse_opts().
 */

#ifndef LWSTP_PLUGIN_OPTS_H
#define LWSTP_PLUGIN_OPTS_H

#include <libwebsockets.h>
#include <stdint.h>

/** Largest max-tasks-per-connection: the per-connection arrays' size. */
#define LWSTP_PLUGIN_MAX_TASKS_PER_CONN	64
/** Largest max-job-size: 4 GiB. */
#define LWSTP_PLUGIN_MAX_JOB_SIZE	(4ull << 30)

struct lwstp_plugin_opts {
	int		threads;		/**< threads */
	int		max_queue_depth;	/**< max-queue-depth */
	unsigned int	sync_timeout_ms;	/**< sync-timeout-ms */
	int		max_tasks_per_conn;	/**< max-tasks-per-connection */
	unsigned int	job_deadline_ms;	/**< job-deadline-ms */
	int		worker_nice;		/**< worker-nice */
	int		worker_sched_idle;	/**< worker-sched-idle */
	uint64_t	max_job_size;		/**< max-job-size, bytes */
	unsigned int	result_ttl_ms;		/**< result-ttl-ms */
	int		max_results;		/**< max-results */
	unsigned int	progress_interval_ms;	/**< progress-interval-ms */
};

/**
 * lwstp_plugin_opts_default() - fill in every option's default
 *
 * \param o: the options to set
 */
void
lwstp_plugin_opts_default(struct lwstp_plugin_opts *o);

/**
 * lwstp_plugin_parse_opts() - defaults, then the vhost's pvos, strictly
 *
 * \param pvo: the first pvo of the protocol (the `in` of
 *	       LWS_CALLBACK_PROTOCOL_INIT), may be NULL
 * \param vhost: the vhost's name, for the messages
 * \param o: receives the options
 * \param err: receives the reason on failure (NUL-terminated)
 * \param errlen: size of err
 *
 * A value must be decimal digits (optionally after a '-'), with nothing
 * before or after, and within the option's range.  Unknown option names are
 * logged with lwsl_warn and ignored.
 *
 * Returns 0, or -1 with err naming the vhost, the option, the value and the
 * accepted range.
 */
int
lwstp_plugin_parse_opts(const struct lws_protocol_vhost_options *pvo,
			const char *vhost, struct lwstp_plugin_opts *o,
			char *err, size_t errlen);

/**
 * lwstp_plugin_opts_json() - the options as the members of a JSON object
 *
 * \param o: the options
 * \param buf: output, NUL-terminated
 * \param len: size of buf
 *
 * Writes `"threads":2,"max-queue-depth":64,...` (no braces).  Returns the
 * length written (truncated to fit).
 */
int
lwstp_plugin_opts_json(const struct lwstp_plugin_opts *o, char *buf,
		       size_t len);

#endif
