/*
 * protocol_lws_threadpool: kept results of outliving jobs (see kept.h for
 * the threads, the lock and the lifetimes).
 */

#include "kept.h"

#include <stdlib.h>
#include <string.h>

#define kt_lock(kt)	pthread_mutex_lock(&(kt)->lock)
#define kt_unlock(kt)	pthread_mutex_unlock(&(kt)->lock)

static void
kept_sul_cb(lws_sorted_usec_list_t *sul);

/* the context is closing: its event pipe may go any moment now */
static int
kept_state_cb(lws_state_manager_t *mgr, lws_state_notify_link_t *link,
	      int current, int target)
{
	struct lwstp_kept_table *kt = lws_container_of(link,
					struct lwstp_kept_table, sn);

	if (target == LWS_SYSTATE_POLICY_INVALID) {
		kt_lock(kt);
		kt->dying = 1;
		kt_unlock(kt);
	}

	return 0;
}

int
lwstp_kept_init(struct lwstp_kept_table *kt, struct lws_context *cx, int max,
		unsigned int ttl_ms, lwstp_kept_watch_cb cb, void *arg)
{
	memset(kt, 0, sizeof(*kt));
	if (pthread_mutex_init(&kt->lock, NULL))
		return -1;
	kt->cx = cx;
	kt->max = max;
	kt->ttl_ms = ttl_ms;
	kt->cb = cb;
	kt->cb_arg = arg;
	kt->sn.notify_cb = kept_state_cb;
	kt->sn.name = "lws-threadpool results";
	lws_state_reg_notifier(lws_system_get_state_manager(cx), &kt->sn);
	kt->inited = 1;

	return 0;
}

/* take the record out of the table and drop the table's reference */
static void
kept_evict(struct lwstp_kept_table *kt, struct lwstp_kept *rec)
{
	int last;

	HASH_DEL(kt->by_token, rec);
	lws_dll2_remove(&rec->age_link);

	/* watchers forget it: afterwards nobody but the job points at it */
	while (rec->watchers.head) {
		lws_dll2_t *w = rec->watchers.head;

		lws_dll2_remove(w);
		kt->cb(rec, w, 1, kt->cb_arg);
	}

	kt_lock(kt);
	rec->nwatchers = 0;
	lws_dll2_remove(&rec->dirty_link);
	last = !--rec->refs;
	kt_unlock(kt);

	if (last)
		free(rec);
}

void
lwstp_kept_destroy(struct lwstp_kept_table *kt)
{
	struct lwstp_kept *rec, *tmp;

	if (!kt->inited)
		return;

	lws_sul_cancel(&kt->sul);
	lws_state_reg_deregister(&kt->sn);
	HASH_ITER(hh, kt->by_token, rec, tmp)
		kept_evict(kt, rec);
	pthread_mutex_destroy(&kt->lock);
	kt->inited = 0;
}

static void
kept_schedule(struct lwstp_kept_table *kt)
{
	struct lwstp_kept *rec;
	lws_usec_t now = lws_now_usecs();

	if (!kt->ended.head) {
		lws_sul_cancel(&kt->sul);
		return;
	}
	rec = lws_container_of(kt->ended.head, struct lwstp_kept, age_link);
	lws_sul_schedule(kt->cx, 0, &kt->sul, kept_sul_cb,
			 rec->expires > now ? rec->expires - now : 1);
}

/* the expiry timer: evict every ended record whose time is up */
static void
kept_sul_cb(lws_sorted_usec_list_t *sul)
{
	struct lwstp_kept_table *kt = lws_container_of(sul,
					struct lwstp_kept_table, sul);
	lws_usec_t now = lws_now_usecs();
	struct lwstp_kept *rec;

	while (kt->ended.head) {
		rec = lws_container_of(kt->ended.head, struct lwstp_kept,
				       age_link);
		if (rec->expires > now)
			break;
		lwsl_info("lws-threadpool: result of job %llu expired\n",
			  (unsigned long long)rec->id);
		kept_evict(kt, rec);
	}
	kept_schedule(kt);
}

static int
new_token(struct lws_context *cx, char *token)
{
	uint8_t rnd[LWSTP_TOKEN_LEN / 2];
	size_t n;

	if (lws_get_random(cx, rnd, sizeof(rnd)) != sizeof(rnd))
		return -1;
	for (n = 0; n < sizeof(rnd); n++)
		lws_snprintf(token + 2 * n, 3, "%02x", rnd[n]);

	return 0;
}

struct lwstp_kept *
lwstp_kept_new(struct lwstp_kept_table *kt, uint64_t id, uint64_t total,
	       const char **why)
{
	struct lwstp_kept *rec, *dup;
	int tries = 0;

	if (HASH_COUNT(kt->by_token) >= (unsigned int)kt->max) {
		if (!kt->ended.head) {
			*why = "results-full";
			return NULL;
		}
		/* the one that ended first makes room */
		kept_evict(kt, lws_container_of(kt->ended.head,
				struct lwstp_kept, age_link));
		kept_schedule(kt);
	}

	rec = calloc(1, sizeof(*rec));
	if (!rec) {
		*why = "internal";
		return NULL;
	}
	do {
		if (new_token(kt->cx, rec->token) || ++tries > 4) {
			free(rec);
			lwsl_err("lws-threadpool: no random token\n");
			*why = "internal";
			return NULL;
		}
		HASH_FIND_STR(kt->by_token, rec->token, dup);
	} while (dup);

	rec->id = id;
	rec->total = total;
	rec->refs = 2;		/* the table's and the job's */
	rec->state = LWSTP_KEPT_RUNNING;
	HASH_ADD_STR(kt->by_token, token, rec);
	lws_dll2_add_tail(&rec->age_link, &kt->running);

	return rec;
}

void
lwstp_kept_abandon(struct lwstp_kept_table *kt, struct lwstp_kept *rec)
{
	kept_evict(kt, rec);		/* the table's reference */
	lwstp_kept_unref(kt, rec);		/* the job's */
}

struct lwstp_kept *
lwstp_kept_find(struct lwstp_kept_table *kt, const char *token)
{
	struct lwstp_kept *rec;

	HASH_FIND_STR(kt->by_token, token, rec);

	return rec;
}

int
lwstp_kept_count(struct lwstp_kept_table *kt)
{
	return (int)HASH_COUNT(kt->by_token);
}

void
lwstp_kept_snapshot(struct lwstp_kept_table *kt, struct lwstp_kept *rec,
		    struct lwstp_kept_snap *snap)
{
	kt_lock(kt);
	snap->version = rec->version;
	snap->done = rec->done;
	snap->state = rec->state;
	snap->stop_req = rec->stop_req;
	snap->ms = rec->ms;
	memcpy(snap->sha256, rec->sha256, sizeof(snap->sha256));
	kt_unlock(kt);
}

int
lwstp_kept_request_stop(struct lwstp_kept_table *kt, struct lwstp_kept *rec)
{
	int r = -1;

	kt_lock(kt);
	if (rec->state == LWSTP_KEPT_RUNNING) {
		rec->stop_req = 1;
		r = 0;
	}
	kt_unlock(kt);

	return r;
}

int
lwstp_kept_stop_requested(struct lwstp_kept_table *kt, struct lwstp_kept *rec)
{
	int r;

	kt_lock(kt);
	r = rec->stop_req;
	kt_unlock(kt);

	return r;
}

void
lwstp_kept_watch(struct lwstp_kept_table *kt, struct lwstp_kept *rec,
		 lws_dll2_t *watch)
{
	lws_dll2_add_tail(watch, &rec->watchers);
	kt_lock(kt);
	rec->nwatchers++;
	kt_unlock(kt);
}

void
lwstp_kept_unwatch(struct lwstp_kept_table *kt, struct lwstp_kept *rec,
		   lws_dll2_t *watch)
{
	lws_dll2_remove(watch);
	kt_lock(kt);
	rec->nwatchers--;
	kt_unlock(kt);
}

void
lwstp_kept_service(struct lwstp_kept_table *kt)
{
	struct lwstp_kept *rec;
	lws_dll2_t *w, *next;
	uint8_t state;

	kt_lock(kt);
	while (kt->dirty.head) {
		rec = lws_container_of(kt->dirty.head, struct lwstp_kept,
				       dirty_link);
		lws_dll2_remove(&rec->dirty_link);
		state = rec->state;
		kt_unlock(kt);

		/* alive: it is in the table (eviction takes it off dirty) */
		if (state != LWSTP_KEPT_RUNNING &&
		    rec->age_link.owner == &kt->running) {
			lws_dll2_remove(&rec->age_link);
			rec->expires = lws_now_usecs() +
				       (lws_usec_t)kt->ttl_ms * LWS_US_PER_MS;
			lws_dll2_add_tail(&rec->age_link, &kt->ended);
			if (kt->ended.head == &rec->age_link)
				kept_schedule(kt);
		}
		for (w = rec->watchers.head; w; w = next) {
			next = w->next;
			kt->cb(rec, w, 0, kt->cb_arg);
		}

		kt_lock(kt);
	}
	kt_unlock(kt);
}

void
lwstp_kept_publish(struct lwstp_kept_table *kt, struct lwstp_kept *rec,
		   uint64_t done, int state, const char *sha256,
		   unsigned int ms)
{
	kt_lock(kt);
	if (rec->state != LWSTP_KEPT_RUNNING) {
		kt_unlock(kt);
		return;		/* the end is recorded once */
	}
	rec->done = done;
	rec->state = (uint8_t)state;
	if (state == LWSTP_KEPT_FINISHED) {
		rec->ms = ms;
		if (sha256)
			lws_strncpy(rec->sha256, sha256, sizeof(rec->sha256));
	}
	rec->version++;
	if ((state != LWSTP_KEPT_RUNNING || rec->nwatchers) &&
	    !rec->dirty_link.owner) {
		/* only the first one wakes the service thread */
		if (!kt->dirty.head && !kt->dying)
			lws_cancel_service(kt->cx);
		lws_dll2_add_tail(&rec->dirty_link, &kt->dirty);
	}
	kt_unlock(kt);
}

void
lwstp_kept_unref(struct lwstp_kept_table *kt, struct lwstp_kept *rec)
{
	int last;

	kt_lock(kt);
	last = !--rec->refs;
	if (last)
		lws_dll2_remove(&rec->dirty_link);
	kt_unlock(kt);

	if (last)
		free(rec);
}
