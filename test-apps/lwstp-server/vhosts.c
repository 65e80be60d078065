/*
 * lwstp-server - plugins, the lws context and the vhosts
 *
 * The distro lws has the plugin API (lws_plugins_init) but not the
 * LWS_WITH_PLUGINS context option, so the server loads the plugins itself
 * and gives each vhost an explicit protocol list:
 *
 *   protocols[0]	"http", lwstp_callback_http_dummy: the lwstp integration
 *   protocols[1..]	the plugin protocols the vhost's "ws-protocols" names
 *   last		"lwstp-server-up": tells that all the others came up
 *
 * lws gives a protocol LWS_CALLBACK_PROTOCOL_INIT on a vhost with per-vhost
 * options only if the options name it, so protocols[0] gets an (empty)
 * entry "http" of its own: without its PROTOCOL_INIT, liblwstp would not
 * know the vhost is integrated.
 */

#include "server.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/*
 * protocols[0]: lwstp_callback_http_dummy, the lwstp integration, plus two
 * things.
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
 */
static int
callback_http(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	      void *in, size_t len)
{
	if (reason == LWS_CALLBACK_PROTOCOL_INIT &&
	    !lws_protocol_vh_priv_zalloc(lws_get_vhost(wsi),
					 lws_get_protocol(wsi), 1))
		return -1;
	if (reason == LWS_CALLBACK_OPENSSL_PERFORM_CLIENT_CERT_VERIFICATION) {
		if (!len)
			lwsl_notice("lwstp-server: a client certificate that "
				    "host-ssl-ca does not verify: refused\n");
		return !len;	/* 0: accept */
	}

	return lwstp_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols proto_http = {
	"http", callback_http, 0, 0, 0, NULL, 0
};

/*
 * The last protocol of every vhost.  lws initialises a vhost's protocols
 * in order and stops at the first that fails, so this one has per-vhost
 * data if and only if all of them came up.  lws 4.1.6's lws_protocol_init()
 * then returns non-zero; 4.3's only warns ("some protocols did not init")
 * and the vhost would serve half-initialised.
 */
static int
callback_up(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	    void *in, size_t len)
{
	if (reason == LWS_CALLBACK_PROTOCOL_INIT &&
	    !lws_protocol_vh_priv_zalloc(lws_get_vhost(wsi),
					 lws_get_protocol(wsi), 1))
		return -1;

	return 0;
}

static const struct lws_protocols proto_up = {
	"lwstp-server-up", callback_up, 0, 0, 0, NULL, 0
};

static int
plugin_each(struct lws_plugin *p, void *user)
{
	const lws_plugin_protocol_t *pp = (const lws_plugin_protocol_t *)p->hdr;
	int n;

	for (n = 0; n < pp->count_protocols; n++)
		lwsl_notice("lwstp-server: plugin %s: protocol \"%s\"\n",
			    pp->hdr.name, pp->protocols[n].name);

	return 0;
}

int
lwstp_server_plugins_load(struct lwstp_server *s, const struct lwstp_conf *c)
{
	struct stat st;
	int n;

	if (!c->count_plugin_dirs)
		return 0;

	for (n = 0; n < c->count_plugin_dirs; n++)
		if (stat(c->plugin_dirs[n], &st) || !S_ISDIR(st.st_mode))
			lwsl_warn("lwstp-server: plugin dir %s: not a "
				  "directory\n", c->plugin_dirs[n]);

	/*
	 * Its result says nothing without a filter: lws 4.1.6 always returns
	 * 0, lws 4.3 returns 1 unless a callback stopped the scan, loaded or
	 * not.  A protocol that no plugin provides is reported by
	 * check_protocols().
	 */
	lws_plugins_init(&s->plugins, c->plugin_dirs, "lws_protocol_plugin",
			 NULL, plugin_each, NULL);

	return 0;
}

/* the loaded protocol called name, or NULL */
static const struct lws_protocols *
find_protocol(struct lwstp_server *s, const char *name)
{
	const struct lws_plugin *p;
	int n;

	for (p = s->plugins; p; p = p->list) {
		const lws_plugin_protocol_t *pp =
				(const lws_plugin_protocol_t *)p->hdr;

		for (n = 0; n < pp->count_protocols; n++)
			if (pp->protocols[n].name &&
			    !strcmp(pp->protocols[n].name, name))
				return &pp->protocols[n];
	}

	return NULL;
}

static int
vhost_enables(const struct lwstp_conf_vhost *vh, const char *name)
{
	const struct lws_protocol_vhost_options *o;

	for (o = vh->pvo; o; o = o->next)
		if (!strcmp(o->name, name))
			return 1;

	return 0;
}

/* every protocol the vhost names is provided by a loaded plugin */
static int
check_protocols(struct lwstp_server *s, const struct lwstp_conf *c,
		const struct lwstp_conf_vhost *vh, char *err, size_t errlen)
{
	const struct lws_protocol_vhost_options *o;

	for (o = vh->pvo; o; o = o->next) {
		if (!strcmp(o->name, proto_http.name) ||
		    find_protocol(s, o->name))
			continue;
		lws_snprintf(err, errlen, "%s:%d: vhost \"%s\": ws-protocols: "
			     "no plugin provides protocol \"%s\" (plugin dirs: "
			     "%s%s)", vh->file, vh->line, vh->name, o->name,
			     c->plugin_dirs[0] ? c->plugin_dirs[0] : "none",
			     c->count_plugin_dirs > 1 ? ", ..." : "");
		return -1;
	}

	return 0;
}

/* every callback:// mount names a protocol the vhost offers */
static int
check_mounts(const struct lwstp_conf_vhost *vh, char *err, size_t errlen)
{
	const struct lws_http_mount *m;

	for (m = vh->mounts; m; m = m->mount_next) {
		if (m->origin_protocol != LWSMPRO_CALLBACK ||
		    !strcmp(m->origin, proto_http.name) ||
		    vhost_enables(vh, m->origin))
			continue;
		lws_snprintf(err, errlen, "%s:%d: vhost \"%s\": mount \"%s\": "
			     "callback://%s, but protocol \"%s\" is not in "
			     "this vhost's \"ws-protocols\"", vh->file,
			     vh->line, vh->name, m->mountpoint, m->origin,
			     m->origin);
		return -1;
	}

	return 0;
}

int
lwstp_server_check(struct lwstp_server *s, const struct lwstp_conf *c,
		   char *err, size_t errlen)
{
	const struct lwstp_conf_vhost *vh;

	for (vh = c->vhosts; vh; vh = vh->next)
		if (check_protocols(s, c, vh, err, errlen) ||
		    check_mounts(vh, err, errlen))
			return -1;

	return 0;
}

static int
vhost_create(struct lwstp_server *s, struct lwstp_server_vhost *sv,
	     const struct lwstp_conf *c, const struct lwstp_conf_vhost *vh,
	     int port)
{
	struct lws_context_creation_info info;
	const struct lws_protocol_vhost_options *o;
	struct in_addr a4;
	int n = 1;

	/* protocols[0], the enabled plugin protocols, "up", the terminator */
	sv->protocols = calloc((size_t)vh->count_pvo + 3,
			       sizeof(*sv->protocols));
	if (!sv->protocols)
		return -1;
	sv->protocols[0] = proto_http;
	for (o = vh->pvo; o; o = o->next) {
		const struct lws_protocols *pr = find_protocol(s, o->name);

		if (pr)	/* lwstp_server_check() vouched for the others */
			sv->protocols[n++] = *pr;
	}
	sv->protocols[n] = proto_up;

	/*
	 * An options entry of its own gets protocols[0] and "up" their
	 * PROTOCOL_INIT (lws 4.3 sends it only to protocols named there).
	 */
	sv->http_pvo.next = vh->pvo;
	sv->http_pvo.name = proto_http.name;
	sv->http_pvo.value = "";
	sv->up_pvo.next = vhost_enables(vh, proto_http.name) ? vh->pvo :
							      &sv->http_pvo;
	sv->up_pvo.name = proto_up.name;
	sv->up_pvo.value = "";

	memset(&info, 0, sizeof(info));
	info.vhost_name = vh->name;
	info.port = port >= 0 ? port : vh->port;
	info.iface = vh->iface;
	info.protocols = sv->protocols;
	info.pvo = &sv->up_pvo;
	info.mounts = vh->mounts;
	info.headers = vh->headers;
	info.keepalive_timeout = vh->keepalive_timeout;
	info.error_document_404 = vh->error_404;
	if (vh->sts)
		info.options |= LWS_SERVER_OPTION_STS;
	/*
	 * With IPv6 on, lws 4.1 cannot bind its socket to an IPv4 address
	 * and listens on every address instead: an IPv4 "interface" means
	 * an IPv4 socket.
	 */
	if (vh->noipv6 ||
	    (vh->iface && inet_pton(AF_INET, vh->iface, &a4) == 1))
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	if (vh->ipv6only) {
		info.options |= LWS_SERVER_OPTION_IPV6_V6ONLY_MODIFY;
		if (vh->ipv6only > 0)
			info.options |= LWS_SERVER_OPTION_IPV6_V6ONLY_VALUE;
	}
	if (vh->ssl_cert) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = vh->ssl_cert;
		info.ssl_private_key_filepath = vh->ssl_key;
		info.ssl_ca_filepath = vh->ssl_ca;
		if (vh->client_cert_required)
			info.options |=
			    LWS_SERVER_OPTION_REQUIRE_VALID_OPENSSL_CLIENT_CERT;
	}

	sv->vhost = lws_create_vhost(s->context, &info);
	if (!sv->vhost) {
		lwsl_err("lwstp-server: %s:%d: vhost \"%s\": creating it "
			 "failed (port %d in use?)\n", vh->file, vh->line,
			 vh->name, info.port);
		return -1;
	}

	return 0;
}

/*
 * The config's uid / gid / username / groupname are set by lws: the first
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

int
lwstp_server_create(struct lwstp_server *s, const struct lwstp_conf *c,
		    int port)
{
	struct lws_context_creation_info info;
	const struct lwstp_conf_vhost *vh;
	int i = 0;

	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	for (vh = c->vhosts; vh; vh = vh->next)
		if (vh->ssl_cert)
			info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	if (c->init_ssl)
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.server_string = c->server_string ? c->server_string :
						"lwstp-server";
	info.timeout_secs = (unsigned int)c->timeout_secs;
	info.count_threads = c->count_threads > 0 ?
				(unsigned int)c->count_threads : 1;
	info.port = CONTEXT_PORT_NO_LISTEN;
	/* applied by lws_finalize_startup() below, once every vhost listens */
	info.uid = c->uid ? c->uid : -1;
	info.gid = c->gid ? c->gid : -1;
	info.username = c->username;
	info.groupname = c->groupname;
	if (c->count_threads > LWS_MAX_SMP)
		lwsl_warn("lwstp-server: count-threads %d: this lws has "
			  "LWS_MAX_SMP %d, using %d\n", c->count_threads,
			  LWS_MAX_SMP, LWS_MAX_SMP);

	s->context = lws_create_context(&info);
	if (!s->context) {
		lwsl_err("lwstp-server: creating the lws context failed\n");
		return -1;
	}

	s->vhosts = calloc((size_t)c->count_vhosts + 1, sizeof(*s->vhosts));
	if (!s->vhosts)
		return -1;
	s->count_vhosts = c->count_vhosts;

	for (vh = c->vhosts; vh; vh = vh->next, i++)
		if (vhost_create(s, &s->vhosts[i], c, vh, port))
			return -1;

	/*
	 * Initialise the protocols now rather than at the first service, so
	 * that a protocol refusing its options (lws logs which) stops the
	 * server here.
	 */
	if (lws_protocol_init(s->context))
		goto failed;
	for (i = 0; i < s->count_vhosts; i++)
		if (!lws_protocol_vh_priv_get(s->vhosts[i].vhost,
				lws_vhost_name_to_protocol(s->vhosts[i].vhost,
							   proto_up.name)))
			goto failed;

	if (privileges_wrong(c))
		return -1;

	return 0;

failed:
	if (privileges_wrong(c))
		return -1;
	lwsl_err("lwstp-server: a protocol failed to initialise "
		 "(its options?)\n");
	return -1;
}

void
lwstp_server_destroy(struct lwstp_server *s)
{
	int n;

	if (s->context)
		lws_context_destroy(s->context);
	s->context = NULL;
	if (s->plugins)
		lws_plugins_destroy(&s->plugins, NULL, NULL);
	if (s->vhosts)
		for (n = 0; n < s->count_vhosts; n++)
			free(s->vhosts[n].protocols);
	free(s->vhosts);
	s->vhosts = NULL;
}
