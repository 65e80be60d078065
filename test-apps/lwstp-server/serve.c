/*
 * lwstp-server - the server process
 *
 * The configuration takes effect through lws's own loader, as in lwsws
 * (lwsws/main.c, 4.1.6): lwsws_get_config_globals() fills the context's
 * creation info, lwsws_get_config_vhosts() creates every vhost with the
 * protocol list given here:
 *
 *   protocols[0]	lwstp_server_proto_http ("http")
 *   protocols[1..]	every plugin protocol that some vhost names
 *
 * lws's loader gives every vhost the same list, as lwsws gives every vhost
 * every plugin; which protocols get LWS_CALLBACK_PROTOCOL_INIT on a vhost
 * is lws's rule (4.1.6: all; 4.3: those its "ws-protocols" names, or all if
 * it names none).
 *
 * On SIGHUP (from the supervisor) the server drops its listen sockets with
 * lws_context_deprecate(), tells the supervisor, and serves the
 * connections it has until the last one closes.  SIGINT / SIGTERM end it
 * at once: lws_context_destroy() ends every task and runs its cleanup.
 *
 * Threads: with "count-threads" N (an lws built with LWS_MAX_SMP > 1),
 * service threads 1..N-1 run lws_service_tsi() beside this one, and lws
 * calls protocols[0] on all of them.  Shared between them: the set of open
 * connections (conns, count_conns: conns_lock) and service_done (atomic,
 * written once by this thread before it joins the others).  got_stop and
 * got_hup are written by the signal handler and read by this thread only.
 */

#include "server.h"

#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dirent.h>
#include <sys/socket.h>

#include <uthash.h>

static volatile sig_atomic_t got_stop, got_hup;
static struct lws_context *volatile g_context;

/* --- the connections: accepted sockets not yet closed -------------------- */

struct conn {
	UT_hash_handle		hh;
	struct lws		*wsi;	/* the key */
};

static pthread_mutex_t conns_lock = PTHREAD_MUTEX_INITIALIZER;
static struct conn *conns;	/* conns_lock */
static unsigned int count_conns; /* conns_lock */

/*
 * LWS_CALLBACK_WSI_CREATE reaches protocols[0] for every adopted (accepted)
 * socket (core-net/adopt.c); WSI_DESTROY for every wsi freed, h2 streams
 * and listen sockets included (core-net/close.c): so a connection is a wsi
 * seen created.
 */
static void
conns_track(struct lws *wsi, int created)
{
	struct conn *c;

	pthread_mutex_lock(&conns_lock);
	HASH_FIND_PTR(conns, &wsi, c);
	if (created && !c) {
		c = malloc(sizeof(*c));
		if (c) {
			c->wsi = wsi;
			HASH_ADD_PTR(conns, wsi, c);
			count_conns++;
		}
	} else if (!created && c) {
		HASH_DEL(conns, c);
		free(c);
		count_conns--;
	}
	pthread_mutex_unlock(&conns_lock);
}

static unsigned int
conns_open(void)
{
	unsigned int n;

	pthread_mutex_lock(&conns_lock);
	n = count_conns;
	pthread_mutex_unlock(&conns_lock);

	return n;
}

static void
conns_forget(void)
{
	struct conn *c, *t;

	pthread_mutex_lock(&conns_lock);
	HASH_ITER(hh, conns, c, t) {
		HASH_DEL(conns, c);
		free(c);
	}
	count_conns = 0;
	pthread_mutex_unlock(&conns_lock);
}

/*
 * protocols[0]: lwstp_callback_http_dummy, the lwstp integration, plus
 * three things.
 *
 * Client certificates ("client-cert-required"): lws's OpenSSL verify
 * callback hands the verdict to protocols[0] as
 * LWS_CALLBACK_OPENSSL_PERFORM_CLIENT_CERT_VERIFICATION, with OpenSSL's own
 * verdict (preverify_ok) in len, and takes the return value as the answer
 * (lib/tls/openssl/openssl-server.c, 4.1.6 and 4.3): lws's dummy callback
 * returns 0, which accepts a certificate no CA signed.  Here OpenSSL's
 * verdict stands.
 *
 * When a protocol fails LWS_CALLBACK_PROTOCOL_INIT, lws 4.1.6 frees
 * its per-vhost data through vh->protocol_vh_privs without checking that
 * the array exists, and it exists only once a protocol of the vhost has
 * allocated per-vhost data: a plugin refusing its options before allocating
 * anything crashes lws.  protocols[0] is initialised first, so allocating a
 * byte of per-vhost data here makes sure the array is there.
 *
 * And the count of open connections.
 */
static int
callback_http(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	      void *in, size_t len)
{
	switch (reason) {
	case LWS_CALLBACK_PROTOCOL_INIT:
		if (!lws_protocol_vh_priv_zalloc(lws_get_vhost(wsi),
						 lws_get_protocol(wsi), 1))
			return -1;
		break;
	case LWS_CALLBACK_OPENSSL_PERFORM_CLIENT_CERT_VERIFICATION:
		if (!len)
			lwsl_notice("lwstp-server: a client certificate that "
				    "host-ssl-ca does not verify: refused\n");
		return !len;	/* 0: accept */
	case LWS_CALLBACK_WSI_CREATE:
	case LWS_CALLBACK_WSI_DESTROY:
		conns_track(wsi, reason == LWS_CALLBACK_WSI_CREATE);
		break;
	default:
		break;
	}

	return lwstp_callback_http_dummy(wsi, reason, user, in, len);
}

const struct lws_protocols lwstp_server_proto_http = {
	.name = "http",
	.callback = callback_http,
};

/* --- starting ------------------------------------------------------------ */

static const struct lws_extension exts[] = {
#if !defined(LWS_WITHOUT_EXTENSIONS)
	{ "permessage-deflate", lws_extension_callback_pm_deflate,
	  "permessage-deflate" },	/* as lwsws offers */
#endif
	{ NULL, NULL, NULL }
};

/* append the loaded protocol called name to list[0..*n), unless there */
static void
add_protocol(const struct lwstp_plugins *pl, struct lws_protocols *list,
	     int *n, const char *name)
{
	const struct lws_protocols *p = lwstp_plugins_find(pl, name);
	int i;

	for (i = 0; p && i < *n; i++)
		if (!strcmp(list[i].name, name))
			return;
	if (p)
		list[(*n)++] = *p;
}

/* every vhost's protocols: [0], then each plugin protocol some vhost names */
static struct lws_protocols *
protocol_list(const struct lwstp_plugins *pl, const struct lwstp_conf *c)
{
	const struct lws_protocol_vhost_options *o;
	const struct lwstp_conf_vhost *vh;
	const struct lwstp_conf_mount *m;
	struct lws_protocols *list;
	int n = 0;

	for (vh = c->vhosts; vh; vh = vh->next) {
		for (o = vh->pvo; o; o = o->next)
			n++;
		for (m = vh->callback_mounts; m; m = m->next)
			n++;
	}
	list = calloc((size_t)n + 2, sizeof(*list));
	if (!list)
		return NULL;
	list[0] = lwstp_server_proto_http;
	n = 1;
	for (vh = c->vhosts; vh; vh = vh->next) {
		for (o = vh->pvo; o; o = o->next)
			add_protocol(pl, list, &n, o->name);
		for (m = vh->callback_mounts; m; m = m->next)
			add_protocol(pl, list, &n, m->protocol);
	}

	return list;
}

/*
 * uid / gid / username / groupname are applied by lws: the first
 * lws_protocol_init() calls lws_finalize_startup(), which drops the
 * privileges (setgid, initgroups, setuid) once every vhost listens.  4.1.6
 * fails the init if that fails; 4.3 ignores the result
 * (lib/core-net/vhost.c): so the result is checked here, on both.
 */
static int
privileges_wrong(const struct lwstp_conf *c)
{
	uid_t uid = c->uid ? (uid_t)c->uid : geteuid();
	gid_t gid = c->gid ? (gid_t)c->gid : getegid();
	struct passwd *pw;
	struct group *gr;

	if (c->username) {
		pw = getpwnam(c->username);
		uid = pw ? pw->pw_uid : (uid_t)-1;
	}
	if (c->groupname) {
		gr = getgrnam(c->groupname);
		gid = gr ? gr->gr_gid : (gid_t)-1;
	}
	if (geteuid() == uid && getuid() == uid && getegid() == gid &&
	    getgid() == gid)
		return 0;

	lwsl_err("lwstp-server: can not run as uid %d gid %d (user %s, "
		 "group %s): running as uid %d gid %d, so not at all\n",
		 (int)uid, (int)gid, c->username ? c->username : "-",
		 c->groupname ? c->groupname : "-", (int)geteuid(),
		 (int)getegid());

	return 1;
}

static struct lws_context *
start(const struct lwstp_server_opts *o, const struct lwstp_conf *c,
      const struct lws_protocols *list)
{
	struct lws_context_creation_info info;
	struct lws_context *cx;
	int len = 65536 + 4 * c->bytes;
	char *cs = malloc((size_t)len), *cs0 = cs;

	if (!cs)
		return NULL;
	memset(&info, 0, sizeof(info));
	/* what lwsws sets before its loader runs, but for LIBUV */
	info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 |
		       LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	info.pt_serv_buf_size = 8192;
	info.server_string = "lwstp-server";
	if (lwsws_get_config_globals(&info, o->dir, &cs, &len)) {
		lwsl_err("lwstp-server: %s: lws's loader refused the global "
			 "settings\n", o->dir);
		free(cs0);
		return NULL;
	}
	info.external_baggage_free_on_destroy = cs0;
#if defined(LWS_WITH_PLUGINS)
	/*
	 * The loader handed lws the plugin dirs too: lws would load the
	 * plugins itself and add each of their protocols to every vhost after
	 * the list given here, so a protocol would be there, and initialised,
	 * twice (lws_create_vhost(), lib/core-net/vhost.c)
	 */
	info.plugin_dirs = NULL;
#endif
	cx = lws_create_context(&info);
	if (!cx) {
		lwsl_err("lwstp-server: creating the lws context failed\n");
		free(cs0);
		return NULL;
	}

	info.protocols = list;
	info.extensions = exts;
	if (lwsws_get_config_vhosts(cx, &info, o->dir, &cs, &len)) {
		lwsl_err("lwstp-server: %s: a vhost could not be created (lws "
			 "said why above: a port in use?)\n", o->dir);
		goto bail;
	}
	/*
	 * Initialise the protocols now rather than at the first service, so
	 * that a protocol failing (lws logs which) stops the server here.
	 */
	if (lws_protocol_init(cx)) {
		privileges_wrong(c);
		lwsl_err("lwstp-server: a protocol failed to initialise\n");
		goto bail;
	}
	if (privileges_wrong(c))
		goto bail;

	return cx;

bail:
	lws_context_destroy(cx);
	return NULL;
}

/* --- serving ------------------------------------------------------------- */

#if LWS_LIBRARY_VERSION_NUMBER < 4002000
/*
 * lws 4.1's lws_context_deprecate() uses each listen wsi after freeing it
 * (lib/core-net/vhost.c: "wsi->a.context->deprecation_pending_listen_
 * close_count++" after lws_close_free_wsi()); lwsws gets away with it on
 * libuv, which frees later, but on lws's own poll loop it crashes.  So on
 * 4.1 the listen sockets are shut down here instead: the kernel stops
 * listening and frees the port for the new server at once, and lws closes
 * each listen wsi itself when poll() reports it.
 */
static void
stop_listening(struct lws_context *cx)
{
	struct dirent *de;
	int fd, on;
	socklen_t l;
	DIR *d;

	(void)cx;
	d = opendir("/proc/self/fd");
	if (!d)
		return;
	while ((de = readdir(d))) {
		fd = atoi(de->d_name);
		l = sizeof(on);
		if (fd > 2 && fd != dirfd(d) &&
		    !getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &l) && on)
			shutdown(fd, SHUT_RDWR);
	}
	closedir(d);
}
#else
static void
stop_listening(struct lws_context *cx)
{
	lws_context_deprecate(cx, NULL);
}
#endif

static void
sig_handler(int sig)
{
	if (sig == SIGHUP)
		got_hup = 1;
	else
		got_stop = 1;
	/* only writes to the event pipe: safe in a signal handler */
	if (g_context)
		lws_cancel_service(g_context);
}

/*
 * Service threads beyond the first ("count-threads", lws built with
 * LWS_MAX_SMP > 1): each services its own tsi until the server ends;
 * lws_cancel_service() wakes them all.
 */
struct service_thread {
	pthread_t		thread;
	struct lws_context	*cx;
	int			tsi;
};

static int service_done;	/* __atomic: set by the main thread */

static void *
service_thread(void *arg)
{
	struct service_thread *st = (struct service_thread *)arg;

	while (!__atomic_load_n(&service_done, __ATOMIC_ACQUIRE) &&
	       lws_service_tsi(st->cx, 0, st->tsi) >= 0)
		;

	return NULL;
}

static struct service_thread *
service_threads_start(struct lws_context *cx, int *count)
{
	int n = lws_get_count_threads(cx), i;
	struct service_thread *st;

	*count = 0;
	if (n < 2)
		return NULL;
	st = calloc((size_t)n, sizeof(*st));
	if (!st)
		return NULL;
	for (i = 1; i < n; i++) {
		st[i].cx = cx;
		st[i].tsi = i;
		if (pthread_create(&st[i].thread, NULL, service_thread,
				   &st[i])) {
			lwsl_err("lwstp-server: service thread %d: not "
				 "started\n", i);
			break;
		}
		*count = i;
	}

	return st;
}

static void
service_threads_join(struct lws_context *cx, struct service_thread *st,
		     int count)
{
	int i;

	__atomic_store_n(&service_done, 1, __ATOMIC_RELEASE);
	lws_cancel_service(cx);		/* wakes every service thread */
	for (i = 1; i <= count; i++)
		pthread_join(st[i].thread, NULL);
	free(st);
}

static void
announce(struct lws_context *cx, const struct lwstp_conf *c)
{
	const struct lwstp_conf_vhost *vh;
	struct lws_vhost *v;

	for (vh = c->vhosts; vh; vh = vh->next) {
		v = lws_get_vhost_by_name(cx, vh->name);
		printf("lwstp-server: vhost \"%s\" on %s://%s:%d/\n", vh->name,
		       vh->tls ? "https" : "http",
		       v && lws_get_vhost_iface(v) ? lws_get_vhost_iface(v) :
						     "*",
		       v ? lws_get_vhost_listen_port(v) : vh->port);
	}
	printf("lwstp-server: server pid %d\nlwstp-server: ready\n",
	       (int)getpid());
	fflush(stdout);
}

int
lwstp_server_serve(const struct lwstp_server_opts *o, int notify_fd)
{
	struct lws_protocols *list = NULL;
	struct service_thread *sts = NULL;
	struct lws_context *cx = NULL;
	struct lwstp_plugins pl;
	struct lwstp_conf conf;
	struct sigaction sa;
	int n = 0, r = 1, deprecated = 0, count_sts = 0;
	char err[512];

	memset(&conf, 0, sizeof(conf));
	memset(&pl, 0, sizeof(pl));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sig_handler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	if (lwstp_conf_load_dir(o->dir, &conf, err, sizeof(err)) ||
	    lwstp_plugins_load(&pl, o, &conf, err, sizeof(err))) {
		fprintf(stderr, "lwstp-server: %s\n", err);
		goto out;
	}
	list = protocol_list(&pl, &conf);
	if (!list)
		goto out;
	cx = start(o, &conf, list);
	if (!cx)
		goto out;
	g_context = cx;
	sts = service_threads_start(cx, &count_sts);
	announce(cx, &conf);

	while (n >= 0 && !got_stop) {
		if (got_hup && !deprecated) {
			unsigned int open;

			stop_listening(cx);
			deprecated = 1;
			open = conns_open();
			lwsl_notice("lwstp-server: reload: listen sockets "
				    "closed, %u connection%s to finish\n",
				    open, open == 1 ? "" : "s");
			if (notify_fd >= 0 && write(notify_fd, "d", 1) != 1)
				lwsl_warn("lwstp-server: telling the "
					  "supervisor failed\n");
		}
		if (deprecated && !conns_open())
			break;
		n = lws_service(cx, 0);
	}
	r = 0;
	if (sts)
		service_threads_join(cx, sts, count_sts);

out:
	g_context = NULL;
	if (cx)
		lws_context_destroy(cx);
	conns_forget();
	free(list);
	lwstp_plugins_unload(&pl);
	lwstp_conf_destroy(&conf);
	printf("lwstp-server: stopped (pid %d)%s\n", (int)getpid(),
	       deprecated ? " after a reload" : "");
	fflush(stdout);

	return r;
}
