/*
 * protocol_lws_threadpool: kept results of outliving jobs, by token
 *
 * Threads and locks
 * -----------------
 * A record (struct lwstp_kept) is shared by
 *  - the per-vhost table (struct lwstp_kept_table), which is only ever
 *    read or changed on the lws service thread: the token hash, the
 *    running / ended lists, each record's watchers, the expiry timer;
 *  - its job, whose task function (on a pool worker) publishes progress and
 *    the end into it, and whose cleanup (on a worker with wsi == NULL, or
 *    on the service thread) drops the job's reference.
 *
 * kt->lock guards every record field marked (lock), kt->dirty and
 * kt->dying.  It is a leaf lock: nothing is called while holding it but
 * memory and lws_dll2 list operations and lws_cancel_service() (which only
 * writes to the service thread's event pipe and takes no lock); no lwstp
 * API, no callbacks.  So it can not take part in a deadlock with the pool's
 * or lws's locks.
 *
 * Lifetime: a record has one reference for the table (dropped when it is
 * evicted, on the service thread) and one for its job (dropped by the job's
 * cleanup, on any thread).  Whoever drops the last one frees it; as the
 * table's reference goes only when the record leaves the table, a record
 * reachable from the table (or from a watcher, which the eviction detaches)
 * is always alive.  The job keeps its pointer only while it holds its
 * reference, so nothing points at a freed record.
 *
 * Waking the service thread: publishing a change that someone must act on
 * (the end, always: its expiry starts; progress, when the record has
 * watchers) puts the record on kt->dirty and, when the list was empty,
 * calls lws_cancel_service(), the one lws call that is thread-safe.  The
 * protocol then calls lwstp_kept_service() from LWS_CALLBACK_EVENT_WAIT_
 * CANCELLED, on the service thread.  lws_context_destroy() closes the
 * event pipe before it destroys the protocols (and so the pool), so a
 * state notifier sets kt->dying when the context starts closing
 * (LWS_SYSTATE_POLICY_INVALID) and from then on nobody is woken: the call
 * is made under kt->lock, so it can not race the flag.
 */

#ifndef LWSTP_PLUGIN_KEPT_H
#define LWSTP_PLUGIN_KEPT_H

#include <libwebsockets.h>
#include <pthread.h>
#include <stdint.h>
#include <uthash.h>

#include "msg.h"

enum lwstp_kept_state {
	LWSTP_KEPT_RUNNING,
	LWSTP_KEPT_FINISHED,
	LWSTP_KEPT_STOPPED,
};

struct lwstp_kept {
	UT_hash_handle		hh;	  /* kt->by_token (service thread) */
	lws_dll2_t		age_link; /* kt->running or kt->ended
					   * (service thread) */
	lws_dll2_owner_t	watchers; /* protocol's watch links (service
					   * thread) */
	lws_usec_t		expires;  /* once on kt->ended (service
					   * thread) */
	char			token[LWSTP_TOKEN_LEN + 1]; /* const */
	uint64_t		id;	  /* const */
	uint64_t		total;	  /* const */

	lws_dll2_t		dirty_link; /* kt->dirty (lock) */
	int			refs;	  /* (lock) */
	int			nwatchers; /* (lock), mirrors watchers */
	uint32_t		version;  /* (lock) bumped on each change */
	uint64_t		done;	  /* (lock) */
	uint8_t			state;	  /* (lock) enum lwstp_kept_state */
	uint8_t			stop_req; /* (lock) a watcher asked it to stop */
	unsigned int		ms;	  /* (lock) when FINISHED */
	char			sha256[65]; /* (lock) when FINISHED */
};

/** a consistent copy of a record's (lock) fields */
struct lwstp_kept_snap {
	uint32_t		version;
	uint64_t		done;
	uint8_t			state;
	uint8_t			stop_req;
	unsigned int		ms;
	char			sha256[65];
};

/** called for each watcher of a record that changed, or is evicted (then
 * gone == 1: the watcher must forget the record) */
typedef void (*lwstp_kept_watch_cb)(struct lwstp_kept *rec, lws_dll2_t *watch,
				    int gone, void *arg);

struct lwstp_kept_table {
	pthread_mutex_t		lock;
	lws_dll2_owner_t	dirty;	  /* (lock) */
	struct lws_context	*cx;	  /* const */
	int			max;	  /* const: max-results */
	unsigned int		ttl_ms;	  /* const: result-ttl-ms */

	/* service thread only */
	struct lwstp_kept	*by_token;
	lws_dll2_owner_t	running;  /* not seen ended yet, by age */
	lws_dll2_owner_t	ended;	  /* by end (so by expiry) */
	lws_sorted_usec_list_t	sul;	  /* expiry of ended.head */
	lwstp_kept_watch_cb	cb;	  /* const */
	void			*cb_arg;  /* const */
	lws_state_notify_link_t	sn;	  /* sets dying */
	char			dying;	  /* (lock) context closing */
	char			inited;
};


/* everything below is service thread only, unless it says otherwise */

/* cb is called for the watchers of changed and of evicted records */
int
lwstp_kept_init(struct lwstp_kept_table *kt, struct lws_context *cx, int max,
		unsigned int ttl_ms, lwstp_kept_watch_cb cb, void *arg);
/* frees every record; call after the pool was destroyed (no job left) */
void
lwstp_kept_destroy(struct lwstp_kept_table *kt);

/**
 * lwstp_kept_new() - a new record, in the table, with a new random token
 *
 * Returns the record with two references (table and job), or NULL with
 * *why set to "results-full" (every kept record is still running) or
 * "internal".  When the table is full the record that ended first is
 * evicted to make room.
 */
struct lwstp_kept *
lwstp_kept_new(struct lwstp_kept_table *kt, uint64_t id, uint64_t total,
	       const char **why);

/* undo lwstp_kept_new() for a job that was never queued */
void
lwstp_kept_abandon(struct lwstp_kept_table *kt, struct lwstp_kept *rec);

struct lwstp_kept *
lwstp_kept_find(struct lwstp_kept_table *kt, const char *token);

int
lwstp_kept_count(struct lwstp_kept_table *kt);

void
lwstp_kept_snapshot(struct lwstp_kept_table *kt, struct lwstp_kept *rec,
		    struct lwstp_kept_snap *snap);

void
lwstp_kept_watch(struct lwstp_kept_table *kt, struct lwstp_kept *rec,
		 lws_dll2_t *watch);
void
lwstp_kept_unwatch(struct lwstp_kept_table *kt, struct lwstp_kept *rec,
		   lws_dll2_t *watch);

/*
 * lwstp_kept_request_stop() - ask the running job of rec to stop (a client
 * that holds its token and watches it); its task sees it at its next chunk
 * (lwstp_kept_stop_requested()) and ends STOPPED, which its watchers get.
 * Returns 0, or -1 if the job ended already.
 */
int
lwstp_kept_request_stop(struct lwstp_kept_table *kt, struct lwstp_kept *rec);

/* EVENT_WAIT_CANCELLED: handle the changed records, calling cb for each of
 * their watchers */
void
lwstp_kept_service(struct lwstp_kept_table *kt);

/* --- any thread (the job's side) --- */

/**
 * lwstp_kept_publish() - the job's progress or end, from any thread
 *
 * \param state: LWSTP_KEPT_RUNNING with done, or the end; an end is only
 *		 recorded once (a later one is ignored)
 * \param sha256: the digest when FINISHED, else NULL
 */
void
lwstp_kept_publish(struct lwstp_kept_table *kt, struct lwstp_kept *rec,
		   uint64_t done, int state, const char *sha256,
		   unsigned int ms);

/* whether lwstp_kept_request_stop() was called, from any thread */
int
lwstp_kept_stop_requested(struct lwstp_kept_table *kt, struct lwstp_kept *rec);

/* drop the job's reference, from any thread */
void
lwstp_kept_unref(struct lwstp_kept_table *kt, struct lwstp_kept *rec);

#endif
