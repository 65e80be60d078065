/*
 * testsrv - what every test server of this project has in common
 *
 * lwstp-ws-server (test-apps/), lwstp-rel-server (tests/reliability/) and
 * test-plugin-server (plugins/protocol_lws_threadpool/) differ in their ws
 * protocol and share the rest, which lives here once:
 *
 *  - the command line: --port, --iface, --uv, -d, --threads, --queue,
 *    --sync-timeout-ms, --no-dequeue, turned into the per-vhost options a
 *    config would give the protocol ("threads", "queue", ...);
 *  - the "lwstp-status" protocol: "ok" at /health, and at /stats the JSON
 *    the server's own ts_stats_fn writes, to which ts_stats_tp() adds the
 *    pool's counters as "tp":{...};
 *  - signals and the service loop: SIGINT / SIGTERM end the loop (on the
 *    libuv loop lws catches them and calls us there), then the context is
 *    destroyed.
 *
 * Everything runs on the service thread, except where said.
 */

#ifndef LWSTP_TESTSRV_H
#define LWSTP_TESTSRV_H

#include <lwstp.h>

#include <stdatomic.h>
#include <stdint.h>

/* --- the command line ---------------------------------------------------- */

/* the integer after name on the command line, or def */
int ts_opt_int(int argc, const char **argv, const char *name, int def);

/* an integer per-vhost option of a protocol, or def */
int ts_pvo_int(const struct lws_protocol_vhost_options *pvo, const char *name,
	       int def);

/*
 * The pool options of the command line (--threads N, --queue N,
 * --sync-timeout-ms N, --no-dequeue) as the per-vhost options "threads",
 * "queue", "sync-timeout-ms" and "dequeue-on-drop" of protocol; point
 * info.pvo at &p->pvo.  def_queue is the queue depth without --queue.
 */
struct ts_pool_pvo {
	struct lws_protocol_vhost_options	pvo, o[4];
	char					threads[16], queue[16],
						sync_ms[16];
};

void ts_pool_pvo(struct ts_pool_pvo *p, int argc, const char **argv,
		 const char *protocol, int def_queue);

/*
 * Zeroes info and sets it up for a server on --iface (default 127.0.0.1)
 * --port (def_port), with --uv the libuv event loop; sets the log level
 * from -d (def_logs without).  An IPv4 interface gets an IPv4-only socket
 * (lws 4.1.6 with IPv6 otherwise listens on every address).  --tls-cert
 * FILE --tls-key FILE make it a TLS server (HTTP/2 and HTTP/1.1 by ALPN).
 * Returns 1 for --uv, else 0.
 */
int ts_info(struct lws_context_creation_info *info, int argc,
	    const char **argv, int def_port, int def_logs);

/* --- "/health" and "/stats" ---------------------------------------------- */

/* the /stats body: JSON into p, at most size bytes; returns its length */
typedef int (*ts_stats_fn)(struct lws *wsi, char *p, size_t size);

/* the server's /stats writer; set it before the context serves */
extern ts_stats_fn ts_stats_body;

/* ',"tp":{...}' with the counters of tp (all 0 for NULL) */
int ts_stats_tp(struct lws_threadpool *tp, char *p, size_t size);

#define TS_STATS_MAX	2048

struct ts_pss_status {
	char	body[LWS_PRE + TS_STATS_MAX];
	int	len;
};

int ts_callback_status(struct lws *wsi, enum lws_callback_reasons reason,
		       void *user, void *in, size_t len);

#define TS_PROTOCOL_STATUS_NAME "lwstp-status"
#define TS_PROTOCOL_STATUS \
	{ TS_PROTOCOL_STATUS_NAME, ts_callback_status, \
	  sizeof(struct ts_pss_status), 0, 0, NULL, 0 }

/* /health, then /stats: a server's mounts end with these */
extern const struct lws_http_mount ts_mount_health;

/* --- the stream task ------------------------------------------------------ */

/*
 * A task that produces "tI seq N" (N = 0 .. count - 1; with pad P a space
 * and P times 'x' after it), one message per call, each returned with
 * LWS_TP_RETURN_SYNC (| OUTLIVE if outlive), sleeping work_us before each;
 * then FINISHED.  Called with STOPPING it returns STOPPED.  Its data
 * belongs to the task: only its cleanup frees it.
 */
struct ts_stream {
	uint32_t	magic;
	int		index, count, work_us, pad;	/* const */
	char		outlive;			/* const */
	/* the server's, on the service thread */
	char		awaiting_ack, announced;
	int		sent;
	/* written by the worker; read by the service thread only while the
	 * task waits in SYNC, or after it ended */
	int		pos;
	size_t		msg_len;
	char		msg[];	/* LWS_PRE + TS_MSG_HDR_LEN + pad */
};

#define TS_MSG_HDR_LEN	32

/* process-wide; cleanups of detached tasks run on workers */
struct ts_counters {
	atomic_ullong	enqueued;	/* stream tasks the pool accepted */
	atomic_ullong	cleanups;	/* their cleanups */
	atomic_ullong	cleanups_detached; /* ... with wsi NULL */
	atomic_ullong	completed;	/* tasks that made every message */
	atomic_ullong	outlive_completed; /* ... of them outliving, after
					    * their wsi went away */
	atomic_ullong	bad_cleanups;	/* cleanup of a bad / dead user */
};

extern struct ts_counters ts_ctr;

/*
 * Queues stream task index of wsi on tp, named "TAG PEER tINDEX", with
 * async_task = outlive.  Returns 0 (the stream in *sp, the handle in *task
 * if task is not NULL) or the LWSTP_E_* of the refusal.
 */
int ts_stream_enqueue(struct lws_threadpool *tp, struct lws *wsi,
		      const char *tag, int index, int count, int work_us,
		      int pad, int outlive, struct lws_threadpool_task **task,
		      struct ts_stream **sp);

/* --- running --------------------------------------------------------------- */

/*
 * Creates the context with the signals handled (uv: ts_info's result), and
 * returns it, or NULL after an error line.
 */
struct lws_context *ts_create(struct lws_context_creation_info *info, int uv);

/* services until a signal (or an lws error), then destroys the context */
void ts_serve(struct lws_context *cx);

/* "NAME: enqueued=X cleanups=Y" on stdout; 1 unless they are equal */
int ts_exit_line(const char *name, unsigned long long enqueued,
		 unsigned long long cleanups);

/* a text ws message from buf_after_pre (LWS_PRE in front); 0 or -1 */
int ts_write_text(struct lws *wsi, char *buf_after_pre, size_t len);

#endif
