/*
 * protocol_lws_threadpool: a job as a liblwstp task
 *
 * job_task() runs on a pool worker, job_cleanup() on whichever thread
 * ends the task (see "Threads" in priv.h); lwstp_plugin_job_start() and
 * lwstp_plugin_job_stop() on the service thread.
 *
 * Nothing here logs from a worker: lws 4.1's lwsl_*() format into one
 * static buffer, so logging from two threads is a data race.  A failure
 * is noted in the job (job->out.failed) and logged by the service thread
 * when it reports the job's end.
 */

#include "priv.h"

struct lwstp_plugin_counters lwstp_plugin_ctr;

static enum lws_threadpool_task_return
job_stopped(struct lwstp_job *job)
{
	job->out.kind = OUT_STOPPED;
	job->out.done = job->calc.pos;
	lwstp_calc_free(&job->calc);
	if (job->rec)
		lwstp_kept_publish(&job->vhd->kt, job->rec, job->calc.pos,
				   LWSTP_KEPT_STOPPED, NULL, 0);

	return LWS_TP_RETURN_STOPPED;
}

static enum lws_threadpool_task_return
job_step(struct lwstp_job *job)
{
	lws_usec_t now;
	int r;

	if (!job->started) {
		if (lwstp_calc_init(&job->calc, job->size)) {
			job->out.failed = 1;
			return job_stopped(job);
		}
		job->started = 1;
		job->t_start = job->t_reported = lws_now_usecs();
		if (job->http) {
			/* the response can start: say so */
			job->out.kind = OUT_STARTED;
			job->out.done = 0;
			return LWS_TP_RETURN_SYNC;
		}
	}

	r = lwstp_calc_step(&job->calc);
	if (r < 0) {
		job->out.failed = 1;
		return job_stopped(job);
	}
	now = lws_now_usecs();

	if (r) {
		job->out.ms = (unsigned int)((now - job->t_start) /
					     LWS_US_PER_MS);
		job->out.done = job->size;
		if (lwstp_calc_final(&job->calc, job->out.sha256)) {
			job->out.failed = 1;
			return job_stopped(job);
		}
		job->out.kind = OUT_RESULT;
		LWSTP_CTR_INC(job->vhd, jobs_finished);
		if (job->rec)
			lwstp_kept_publish(&job->vhd->kt, job->rec, job->size,
					   LWSTP_KEPT_FINISHED,
					   job->out.sha256, job->out.ms);

		return LWS_TP_RETURN_FINISHED;
	}

	/* progress: 1% more than last time, and not too often */
	if ((job->calc.pos - job->reported) * 100 >= job->size &&
	    now - job->t_reported >= job->interval_us) {
		job->reported = job->calc.pos;
		job->t_reported = now;
		job->out.kind = OUT_PROGRESS;
		job->out.done = job->calc.pos;
		if (job->rec)
			lwstp_kept_publish(&job->vhd->kt, job->rec,
					   job->calc.pos, LWSTP_KEPT_RUNNING,
					   NULL, 0);

		return LWS_TP_RETURN_SYNC;
	}

	return LWS_TP_RETURN_CHECKING_IN;
}

static enum lws_threadpool_task_return
job_task(void *user, enum lws_threadpool_task_status s)
{
	struct lwstp_job *job = (struct lwstp_job *)user;
	int flags = job->rec ? LWS_TP_RETURN_FLAG_OUTLIVE : 0;

	if (s == LWS_TP_STATUS_STOPPING || atomic_load(&job->stop_req) ||
	    (job->rec && lwstp_kept_stop_requested(&job->vhd->kt, job->rec)))
		return (enum lws_threadpool_task_return)
				(job_stopped(job) | flags);

	return (enum lws_threadpool_task_return)(job_step(job) | flags);
}

/*
 * The task's cleanup: exactly once per accepted job, on the service thread
 * (wsi set) or on a worker (wsi NULL).  Only the kept record (under its
 * table's lock) and the job itself are touched.
 */
static void
job_cleanup(struct lws *wsi, void *user)
{
	struct lwstp_job *job = (struct lwstp_job *)user;
	struct lwstp_pvh *vhd;

	if (!job || job->magic != JOB_MAGIC) {
		/* counted, not logged: this may be a worker */
		atomic_fetch_add(&lwstp_plugin_ctr.bad_cleanups, 1);
		return;
	}

	lwstp_calc_free(&job->calc);
	if (job->rec) {
		/* never ran, or was stopped before its function saw it */
		lwstp_kept_publish(&job->vhd->kt, job->rec, job->calc.pos,
				   LWSTP_KEPT_STOPPED, NULL, 0);
		lwstp_kept_unref(&job->vhd->kt, job->rec);
	}
	if (!wsi)
		LWSTP_CTR_INC(job->vhd, jobs_cleaned_detached);

	vhd = job->vhd;
	job->magic = 0;
	free(job);
	LWSTP_CTR_INC(vhd, jobs_cleaned);
}

/*
 * Create and queue a job for wsi.  Returns 0 with *ptask / *pjob set, or
 * an error code string (and a text in err) with nothing left behind.
 */
const char *
lwstp_plugin_job_start(struct lwstp_pvh *vhd, struct lws *wsi, uint64_t size,
		       int outlive, int http,
		       struct lws_threadpool_task **ptask,
		       struct lwstp_job **pjob, char *err, size_t errlen)
{
	struct lws_threadpool_task_args args;
	struct lwstp_job *job;
	const char *why = NULL;
	int r;

	job = calloc(1, sizeof(*job));
	if (!job) {
		lws_snprintf(err, errlen, "out of memory");
		return "internal";
	}
	job->magic = JOB_MAGIC;
	job->vhd = vhd;
	job->id = ++vhd->next_id;
	job->size = size;
	job->http = (uint8_t)http;
	job->interval_us = (lws_usec_t)vhd->opts.progress_interval_ms *
			   LWS_US_PER_MS;
	atomic_init(&job->stop_req, 0);

	if (outlive) {
		job->rec = lwstp_kept_new(&vhd->kt, job->id, size, &why);
		if (!job->rec) {
			lws_snprintf(err, errlen, "%s", !strcmp(why,
				     "results-full") ? "every kept result "
				     "belongs to a running job (max-results)" :
				     "no token");
			free(job);
			return why;
		}
	}

	memset(&args, 0, sizeof(args));
	args.wsi = wsi;
	args.user = job;
	args.task = job_task;
	args.cleanup = job_cleanup;
	args.async_task = (char)!!outlive;

	r = lwstp_enqueue(vhd->tp, &args, ptask, "job %llu",
			  (unsigned long long)job->id);
	if (r) {
		/* not queued: the job is still ours */
		if (job->rec)
			lwstp_kept_abandon(&vhd->kt, job->rec);
		job->magic = 0;
		free(job);
		lws_snprintf(err, errlen, "%s", lwstp_strerror(r));

		return r == LWSTP_E_QUEUE_FULL ? "queue-full" :
		       r == LWSTP_E_SHUTTING_DOWN ? "shutting-down" :
						    "internal";
	}
	LWSTP_CTR_INC(vhd, jobs_enqueued);
	*pjob = job;

	return NULL;
}

/*
 * Ask a job bound to this connection to stop.  Returns 1 if it ended (or
 * left the connection) now, so the caller forgets it; 0 if its end will
 * come through a writable callback.
 */
int
lwstp_plugin_job_stop(struct lws_threadpool_task *task, struct lwstp_job *job)
{
	atomic_store(&job->stop_req, 1);

	switch (lws_threadpool_task_status_noreap(task)) {
	case LWS_TP_STATUS_QUEUED:
		/* ends now (cleanup runs), or, if a worker just took it,
		 * leaves the connection and sees stop_req */
		lws_threadpool_dequeue_task(task);
		return 1;
	case LWS_TP_STATUS_SYNCING:
		lws_threadpool_task_sync(task, 1);
		return 0;
	default:
		/* RUNNING: sees stop_req at its next chunk; STOPPING or
		 * ended: on its way */
		return 0;
	}
}
