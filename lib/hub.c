/*
 * lws-threadpool: the service-thread side.
 *
 * One hub per lws_context.  It maps each wsi that has tasks to its conn (its
 * task list), remembers which vhosts run lwstp_hook() in their protocols[0]
 * callback, and keeps one ready list per service thread: conns whose wsi
 * must get a writable callback because one of its tasks SYNCed or ended.
 *
 * Wake-ups are merged: a worker adds a conn to the ready list only if it is
 * not on it already, and calls lws_cancel_service() only when the list goes
 * from empty to non-empty.  On LWS_CALLBACK_EVENT_WAIT_CANCELLED (broadcast
 * to every protocol of every vhost, so the hook may sit in any of them) the
 * service thread empties the list, calling lws_callback_on_writable() once
 * per conn.
 *
 * Which wsis may have tasks
 * -------------------------
 * A task may be bound to a wsi only if the hook will certainly see that wsi
 * go away before lws frees it.  Facts from the lws 4.1.6 and 4.3.5 sources
 * (lib/core-net/adopt.c, close.c, wsi.c; roles/ws, roles/http/server):
 *
 *  - LWS_CALLBACK_WSI_DESTROY of every wsi goes to its vhost's protocols[0]
 *    (__lws_close_free_wsi_final()).  LWS_CALLBACK_WSI_CREATE of a server
 *    wsi (accepted, adopted, h2 stream) goes to protocols[0] too, before the
 *    wsi has a socket; a client wsi's goes to its own protocol, once it is
 *    connected.  So a WSI_CREATE seen with no socket proves that the hook
 *    runs in that vhost's protocols[0]: every wsi of the vhost is covered.
 *    PROTOCOL_INIT proves nothing (4.3 sends it only to protocols with
 *    per-vhost options) and is not used.
 *  - Otherwise the hook may sit in the callback of the wsi's own protocol.
 *    ESTABLISHED, RECEIVE, RECEIVE_PONG, SERVER_WRITEABLE (ws server), HTTP,
 *    HTTP_BODY, HTTP_BODY_COMPLETION, HTTP_WRITEABLE (http server, h1 and
 *    h2 streams), RAW_ADOPT, RAW_RX, RAW_WRITEABLE (raw) are delivered only
 *    to the protocol the wsi is bound to, and only once it is established.
 *    After them, lws tells that protocol before the wsi is freed or moves to
 *    another protocol: a close callback (CLOSED, CLOSED_HTTP, RAW_CLOSE: sent
 *    for an established wsi unless already sent), or the unbind callback
 *    (WS_SERVER_DROP_PROTOCOL, HTTP_DROP_PROTOCOL, RAW_SKT_DROP_PROTOCOL:
 *    lws_bind_protocol() sends it on every rebind, at the end of an HTTP
 *    keep-alive transaction and at a ws upgrade).  The hook remembers, per
 *    service thread, the last wsi it saw such a callback for; enqueue accepts
 *    that wsi and marks its conn watched, and the first close or unbind
 *    callback detaches its tasks.
 *
 * Everything else (a wsi of another protocol, a client wsi, a vhost whose
 * protocols[0] has no hook) is refused with LWSTP_E_NO_INTEGRATION.
 *
 * Lock order and lifetimes: see private.h.
 */

#include "private.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static lws_dll2_owner_t registry;	/* struct lwstp_hub (registry_lock) */

static lws_dll2_owner_t graveyard;	/* orphaned notifiers (registry_lock) */

__thread int lwstp_hash_oom;		/* see private.h */

/*
 * Is the hub's notifier on this (live) context's state manager?  If not,
 * the hub's own context was freed and cx is a new one at its address.
 */
static int
hub_notifier_on(struct lwstp_hub *hub, struct lws_context *cx)
{
	lws_state_manager_t *mgr = lws_system_get_state_manager(cx);

	lws_start_foreach_dll(struct lws_dll2 *, d, mgr->notify_list.head) {
		if (d == &hub->sn->link.list)
			return 1;
	} lws_end_foreach_dll(d);

	return 0;
}

/*
 * registry_lock held.  cx is a live context (callers run on its service
 * thread).  A dying hub of the same address whose notifier is not on cx's
 * state manager belongs to a freed context: it leaves the registry (its
 * pools keep it until they are destroyed) and a new hub is due.
 */
static struct lwstp_hub *
__hub_find(struct lws_context *cx)
{
	lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, registry.head) {
		struct lwstp_hub *hub = lws_container_of(d, struct lwstp_hub,
							 link);
		if (hub->cx == cx) {	/* (no "continue" in these loops) */
			if (!hub->dying || hub_notifier_on(hub, cx))
				return hub;
			lws_dll2_remove(&hub->link);
			hub->orphan = 1;
		}
	} lws_end_foreach_dll_safe(d, d1);

	return NULL;
}

struct lwstp_hub *
lwstp_hub_find(struct lws_context *cx)
{
	struct lwstp_hub *hub;

	lwstp_lock(&registry_lock);
	hub = __hub_find(cx);
	lwstp_unlock(&registry_lock);

	return hub;
}

/*
 * Has the context begun to be destroyed?  lws 4.3 says so; 4.1 does not
 * (the state notification below is all it gives).
 */
#if LWS_LIBRARY_VERSION_MAJOR == 4 && LWS_LIBRARY_VERSION_MINOR < 3
#define LWSTP_LWS_4_1	1
#else
#define LWSTP_LWS_4_1	0
#endif

static int
cx_being_destroyed(struct lws_context *cx)
{
#if LWSTP_LWS_4_1
	(void)cx;
	return 0;
#else
	return lws_context_is_being_destroyed(cx);
#endif
}

/*
 * lws_context_destroy() moves the context to LWS_SYSTATE_POLICY_INVALID on
 * the service thread: lws 4.1 does it before closing each service thread's
 * wake-up pipe; 4.3 later (its lws_cancel_service() checks for itself that
 * the pipes are going, and lwstp_hub_wake() asks 4.3 whether the context is
 * being destroyed), and at the end it steps on to CONTEXT_DESTROYING, so on
 * 4.3 any transition made while the context is being destroyed counts.
 * From then on the hub is dying: no wake-up, and nothing of the context
 * touched again, since it may be freed before the pools are.
 *
 * POLICY_INVALID is also a run-time state (user code changing its
 * policies, then back to POLICY_VALID).  4.3 tells the two apart; on 4.1
 * the hub is dying until the next transition, which wakes the service
 * threads to deliver whatever became ready meanwhile: wake-ups wait, none
 * is lost.
 */
static int
hub_state_cb(lws_state_manager_t *mgr, lws_state_notify_link_t *link,
	     int current, int target)
{
	struct lwstp_notifier *ln = lws_container_of(link,
					struct lwstp_notifier, link);
	struct lwstp_hub *hub;
	int n, dying;

	lwstp_lock(&registry_lock);
	hub = ln->hub;
	if (!hub)
		goto out;	/* orphaned: its hub is gone */

#if LWSTP_LWS_4_1
	dying = target == LWS_SYSTATE_POLICY_INVALID;
#else
	/* 4.3 goes on through CONTEXT_DESTROYING: any transition counts */
	dying = cx_being_destroyed(hub->cx);
#endif
	if (dying != hub->dying) {
		for (n = 0; n < LWS_MAX_SMP; n++)
			lwstp_lock(&hub->pt[n].lock);
		hub->dying = (char)dying;
		for (n = 0; n < LWS_MAX_SMP; n++)
			lwstp_unlock(&hub->pt[n].lock);
		if (!dying)
			lwstp_hub_wake(hub);	/* what became ready meanwhile */
	}

out:
	lwstp_unlock(&registry_lock);

	return 0;
}

static struct lwstp_hub *
hub_create(struct lws_context *cx)
{
	struct lwstp_hub *hub = calloc(1, sizeof(*hub));
	int n, r;

	if (!hub) {
		lwsl_err("lwstp: out of memory for the context's hub\n");
		return NULL;
	}

	hub->cx = cx;
	r = pthread_mutex_init(&hub->lock, NULL);
	if (r) {
		lwsl_err("lwstp: hub mutex init failed: %d\n", r);
		free(hub);
		return NULL;
	}
	for (n = 0; n < LWS_MAX_SMP; n++) {
		r = pthread_mutex_init(&hub->pt[n].lock, NULL);
		if (r) {
			lwsl_err("lwstp: hub pt mutex init failed: %d\n", r);
			while (n--)
				pthread_mutex_destroy(&hub->pt[n].lock);
			pthread_mutex_destroy(&hub->lock);
			free(hub);
			return NULL;
		}
	}

	hub->sn = calloc(1, sizeof(*hub->sn));
	if (!hub->sn) {
		lwsl_err("lwstp: out of memory for the context's hub\n");
		for (n = 0; n < LWS_MAX_SMP; n++)
			pthread_mutex_destroy(&hub->pt[n].lock);
		pthread_mutex_destroy(&hub->lock);
		free(hub);
		return NULL;
	}
	hub->sn->hub = hub;
	hub->sn->link.notify_cb = hub_state_cb;
	hub->sn->link.name = "lwstp";
	lws_state_reg_notifier(lws_system_get_state_manager(cx),
			       &hub->sn->link);

	return hub;
}

/* Find or create the context's hub and take a reference on it */
struct lwstp_hub *
lwstp_hub_ref(struct lws_context *cx)
{
	struct lwstp_hub *hub;

	lwstp_lock(&registry_lock);
	hub = __hub_find(cx);
	if (!hub) {
		hub = hub_create(cx);
		if (hub)
			lws_dll2_add_tail(&hub->link, &registry);
	}
	if (hub)
		hub->refs++;
	lwstp_unlock(&registry_lock);

	return hub;
}

void
lwstp_hub_unref(struct lwstp_hub *hub)
{
	int n;

	lwstp_lock(&registry_lock);
	if (--hub->refs) {
		lwstp_unlock(&registry_lock);
		return;
	}
	if (!hub->orphan)
		lws_dll2_remove(&hub->link);
	hub->sn->hub = NULL;
	if (hub->dying)
		/* the context may be freed: leave the link registered */
		lws_dll2_add_tail(&hub->sn->grave, &graveyard);
	lwstp_unlock(&registry_lock);

	if (!hub->dying) {
		/* the context is alive (pools of a live context die first) */
		lws_state_reg_deregister(&hub->sn->link);
		free(hub->sn);
	}

	/*
	 * No pool and no vhost left, so no task: only watched conns of wsis
	 * that never had a task, or whose tasks all ended, may be left.
	 */
	if (hub->vhosts)
		lwsl_err("lwstp: hub freed with vhosts left\n");
	while (hub->conns) {
		struct lwstp_conn *conn = hub->conns;

		if (conn->tasks.count)
			lwsl_err("lwstp: hub freed with tasks left\n");
		HASH_DEL(hub->conns, conn);
		free(conn);
	}

	for (n = 0; n < LWS_MAX_SMP; n++)
		pthread_mutex_destroy(&hub->pt[n].lock);
	pthread_mutex_destroy(&hub->lock);
	free(hub);
}

/*
 * The wsi the hook last saw, on this service thread, in a callback that lws
 * delivers only to the wsi's own protocol once it is established (see the
 * top of this file); NULL once the hook saw it close or unbind.
 */
static __thread struct lws *hook_last_bound;

/*
 * May a task be bound to this wsi (see the top of this file)?  Marks the
 * conn watched when the wsi's own protocol's hook is what covers it.
 * hub->lock held; conn is the wsi's (NULL if it has none yet).
 */
int
__lwstp_hub_covers(struct lwstp_hub *hub, struct lws *wsi,
		   struct lwstp_conn *conn)
{
	struct lws_vhost *vh = lws_get_vhost(wsi);
	struct lwstp_vh *v;

	HASH_FIND_PTR(hub->vhosts, &vh, v);
	if (v)
		return LWSTP_COVER_VHOST;
	if ((conn && conn->watched) || hook_last_bound == wsi)
		return LWSTP_COVER_WATCH;

	return LWSTP_COVER_NONE;
}

struct lwstp_conn *
__lwstp_conn_find(struct lwstp_hub *hub, struct lws *wsi)
{
	struct lwstp_conn *conn;

	HASH_FIND_PTR(hub->conns, &wsi, conn);

	return conn;
}

/* find, or create, the conn of a wsi; hub->lock held */
struct lwstp_conn *
__lwstp_conn_get(struct lwstp_hub *hub, struct lws *wsi)
{
	struct lwstp_conn *conn = __lwstp_conn_find(hub, wsi);

	if (conn)
		return conn;

	conn = calloc(1, sizeof(*conn));
	if (!conn)
		return NULL;

	conn->wsi = wsi;
	conn->tsi = lws_wsi_tsi(wsi);
	if (conn->tsi < 0 || conn->tsi >= LWS_MAX_SMP)
		conn->tsi = 0;
	lwstp_hash_oom = 0;
	HASH_ADD_PTR(hub->conns, wsi, conn);
	if (lwstp_hash_oom) {
		free(conn);
		return NULL;	/* the caller reports LWSTP_E_NOMEM */
	}

	return conn;
}

/* free the conn if nothing uses it any more; hub->lock held */
void
__lwstp_conn_put(struct lwstp_hub *hub, struct lwstp_conn *conn)
{
	struct lwstp_pt *pt = &hub->pt[conn->tsi];

	if (conn->tasks.count || conn->iters || conn->watched)
		return;

	lwstp_lock(&pt->lock);
	lws_dll2_remove(&conn->ready_link);
	lwstp_unlock(&pt->lock);

	HASH_DEL(hub->conns, conn);
	free(conn);
}

/*
 * Ask for a writable callback on the conn's wsi.  Called by workers (and
 * finish) with tp->lock held, which keeps conn alive.  Returns 1 if the
 * ready list was empty: the caller then wakes the service thread with
 * lwstp_hub_wake(), after dropping tp->lock.
 */
int
__lwstp_conn_mark_ready(struct lwstp_hub *hub, struct lwstp_conn *conn)
{
	struct lwstp_pt *pt = &hub->pt[conn->tsi];
	int kick = 0;

	lwstp_lock(&pt->lock);
	if (lws_dll2_is_detached(&conn->ready_link)) {
		kick = !pt->ready.count;
		lws_dll2_add_tail(&conn->ready_link, &pt->ready);
	}
	lwstp_unlock(&pt->lock);

	return kick;
}

/*
 * Wake the service thread(s).  No tp->lock held.  Under a pt->lock, since
 * hub_state_cb() sets hub->dying holding them all: so this never signals a
 * wake-up pipe the context has begun to close.
 */
void
lwstp_hub_wake(struct lwstp_hub *hub)
{
	lwstp_lock(&hub->pt[0].lock);
	if (!hub->dying && !cx_being_destroyed(hub->cx))
		lws_cancel_service(hub->cx);
	lwstp_unlock(&hub->pt[0].lock);
}

/*
 * A worker's log line: queued for the service thread, which is woken if the
 * queue was empty.  Lines beyond the queue's length are counted, not kept.
 */
void
lwstp_worker_log(struct lwstp_hub *hub, int level, const char *format, ...)
{
	struct lwstp_pt *pt = &hub->pt[0];
	struct lwstp_logline *l;
	va_list ap;

	lwstp_lock(&pt->lock);
	if (hub->logq_count == LWSTP_LOGQ_LEN) {
		hub->logq_dropped++;
		lwstp_unlock(&pt->lock);
		return;
	}
	l = &hub->logq[(hub->logq_head + hub->logq_count++) % LWSTP_LOGQ_LEN];
	l->level = level;
	va_start(ap, format);
	vsnprintf(l->text, sizeof(l->text), format, ap);
	va_end(ap);
	if (hub->logq_count == 1 && !hub->dying &&
	    !cx_being_destroyed(hub->cx))
		lws_cancel_service(hub->cx);
	lwstp_unlock(&pt->lock);
}

/* log what the workers queued; service thread */
void
lwstp_hub_flush_log(struct lwstp_hub *hub)
{
	struct lwstp_pt *pt = &hub->pt[0];
	struct lwstp_logline q[LWSTP_LOGQ_LEN];
	unsigned int n, i, dropped;

	lwstp_lock(&pt->lock);
	n = hub->logq_count;
	for (i = 0; i < n; i++)
		q[i] = hub->logq[(hub->logq_head + i) % LWSTP_LOGQ_LEN];
	hub->logq_head = (hub->logq_head + n) % LWSTP_LOGQ_LEN;
	hub->logq_count = 0;
	dropped = hub->logq_dropped;
	hub->logq_dropped = 0;
	lwstp_unlock(&pt->lock);

	for (i = 0; i < n; i++)
		_lws_log(q[i].level, "%s", q[i].text);
	if (dropped)
		lwsl_warn("lwstp: %u worker log lines dropped\n", dropped);
}

/*
 * LWS_CALLBACK_EVENT_WAIT_CANCELLED: empty this service thread's ready list.
 * lws_callback_on_writable() is called without pt->lock (it may call back
 * into user code for foreign loops), in batches taken under the lock.  Any
 * conn a worker adds meanwhile is taken by a later batch of this same loop.
 */
static void
hub_dispatch(struct lwstp_hub *hub, int tsi)
{
	struct lwstp_pt *pt = &hub->pt[tsi];
	struct lws *batch[64];
	int n, i;

	if (!tsi)
		lwstp_hub_flush_log(hub);

	do {
		n = 0;
		lwstp_lock(&pt->lock);
		while (pt->ready.head && n < (int)LWS_ARRAY_SIZE(batch)) {
			struct lwstp_conn *conn = lws_container_of(
				pt->ready.head, struct lwstp_conn, ready_link);

			batch[n++] = conn->wsi;
			lws_dll2_remove(&conn->ready_link);
		}
		lwstp_unlock(&pt->lock);

		/*
		 * The wsis are alive: only this thread frees them, and a wsi
		 * being freed (WSI_DESTROY) takes its conn off the list first.
		 */
		for (i = 0; i < n; i++)
			lws_callback_on_writable(batch[i]);
	} while (n == (int)LWS_ARRAY_SIZE(batch));
}

/*
 * A server wsi's LWS_CALLBACK_WSI_CREATE: we are in protocols[0] of its
 * vhost.  Register the vhost (once; it holds one hub reference).
 */
static void
hook_vhost_register(struct lws *wsi)
{
	struct lws_vhost *vh = lws_get_vhost(wsi);
	struct lwstp_hub *hub;
	struct lwstp_vh *v;
	int added = 0;

	hub = lwstp_hub_find(lws_get_context(wsi));
	if (hub) {
		lwstp_lock(&hub->lock);
		HASH_FIND_PTR(hub->vhosts, &vh, v);
		lwstp_unlock(&hub->lock);
		if (v)
			return;	/* the common case: known already */
	}

	hub = lwstp_hub_ref(lws_get_context(wsi));
	if (!hub)
		return;

	lwstp_lock(&hub->lock);
	HASH_FIND_PTR(hub->vhosts, &vh, v);
	if (!v) {
		v = calloc(1, sizeof(*v));
		if (v) {
			v->vh = vh;
			lwstp_hash_oom = 0;
			HASH_ADD_PTR(hub->vhosts, vh, v);
			if (lwstp_hash_oom) {
				free(v);
				v = NULL;
			} else
				added = 1;
		}
	}
	lwstp_unlock(&hub->lock);

	if (!v)
		lwsl_err("lwstp: vhost %s: out of memory registering it\n",
			 lws_get_vhost_name(vh));
	if (!added) {
		lwstp_hub_unref(hub);
		return;
	}

	lwsl_info("lwstp: vhost %s: hook in protocols[0]\n",
		  lws_get_vhost_name(vh));
}

static void
hook_vhost_destroy(struct lws *wsi)
{
	struct lws_vhost *vh = lws_get_vhost(wsi);
	struct lwstp_hub *hub = lwstp_hub_find(lws_get_context(wsi));
	struct lwstp_vh *v = NULL;

	if (!hub)
		return;

	lwstp_lock(&hub->lock);
	HASH_FIND_PTR(hub->vhosts, &vh, v);
	if (v)
		HASH_DEL(hub->vhosts, v);
	lwstp_unlock(&hub->lock);

	if (!v)
		return;

	free(v);
	lwstp_hub_unref(hub);
}

/* the wsi is freed (watched_only 0), or leaves its protocol (1) */
static void
hook_wsi_gone(struct lws *wsi, int watched_only)
{
	struct lwstp_hub *hub;

	if (hook_last_bound == wsi)
		hook_last_bound = NULL;

	hub = lwstp_hub_find(lws_get_context(wsi));
	if (hub)
		lwstp_detach_wsi(hub, wsi, watched_only);
}

int
lwstp_hook(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	   void *in, size_t len)
{
	struct lwstp_hub *hub;

	(void)user;
	(void)in;
	(void)len;

	switch (reason) {
	case LWS_CALLBACK_WSI_CREATE:
		/* a server wsi (no socket yet): only protocols[0] gets it */
		if (lws_get_socket_fd(wsi) < 0)
			hook_vhost_register(wsi);
		break;

	case LWS_CALLBACK_PROTOCOL_DESTROY:
		hook_vhost_destroy(wsi);
		break;

	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		/* broadcast to every protocol of every vhost: the first call
		 * empties the list, the others find it empty */
		hub = lwstp_hub_find(lws_get_context(wsi));
		if (hub) {
			int tsi = lws_wsi_tsi(wsi);

			hub_dispatch(hub, tsi >= 0 && tsi < LWS_MAX_SMP ?
					  tsi : 0);
		}
		break;

	/* delivered only to the established wsi's own protocol */
	case LWS_CALLBACK_ESTABLISHED:
	case LWS_CALLBACK_RECEIVE:
	case LWS_CALLBACK_RECEIVE_PONG:
	case LWS_CALLBACK_SERVER_WRITEABLE:
	case LWS_CALLBACK_HTTP:
	case LWS_CALLBACK_HTTP_BODY:
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
	case LWS_CALLBACK_HTTP_WRITEABLE:
	case LWS_CALLBACK_RAW_ADOPT:
	case LWS_CALLBACK_RAW_RX:
	case LWS_CALLBACK_RAW_WRITEABLE:
		hook_last_bound = wsi;
		break;

	/* ... and that protocol is told before the wsi goes or moves on */
	case LWS_CALLBACK_CLOSED:
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_RAW_CLOSE:
	case LWS_CALLBACK_WS_SERVER_DROP_PROTOCOL:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
	case LWS_CALLBACK_RAW_SKT_DROP_PROTOCOL:
		hook_wsi_gone(wsi, 1);
		break;

	case LWS_CALLBACK_WSI_DESTROY:
		hook_wsi_gone(wsi, 0);
		break;

	default:
		break;
	}

	return 0;
}

int
lwstp_callback_http_dummy(struct lws *wsi, enum lws_callback_reasons reason,
			  void *user, void *in, size_t len)
{
	lwstp_hook(wsi, reason, user, in, len);

	return lws_callback_http_dummy(wsi, reason, user, in, len);
}
