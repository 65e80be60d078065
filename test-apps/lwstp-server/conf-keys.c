/*
 * lwstp-server - the lwsws-format configuration parser: the keys
 *
 * Where each lwsws key may stand, what value it takes, and what a vhost
 * and a mount need to be complete.  conf.c calls in here for every value
 * (conf_scalar), every object or array that opens (conf_container_start)
 * and closes (conf_container_end).
 */

#include "conf-private.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* --- scalar values -------------------------------------------------------- */

static int
parse_int(struct parser *p, int line, const char *s, long min, long max,
	  int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < min || v > max)
		return conf_fail(p, line, 1, "\"%s\" is not a whole number in "
				 "%ld..%ld", s, min, max);
	*out = (int)v;

	return 0;
}

static int
parse_bool(struct parser *p, int line, const char *s, char *out)
{
	static const char * const on[] = { "1", "on", "yes", "true" },
			  * const off[] = { "0", "off", "no", "false" };
	size_t n;

	for (n = 0; n < LWS_ARRAY_SIZE(on); n++) {
		if (!strcasecmp(s, on[n])) {
			*out = 1;
			return 0;
		}
		if (!strcasecmp(s, off[n])) {
			*out = 0;
			return 0;
		}
	}

	return conf_fail(p, line, 1, "\"%s\" is not a boolean (on / off, "
			 "1 / 0, yes / no, true / false)", s);
}

static const char *
keep(struct parser *p, const char *s)
{
	const char *d = conf_strdup(p, s, strlen(s));

	if (!d)
		conf_fail(p, 0, 1, "out of memory");

	return d;
}

/*
 * Keys known from lwsws that lwstp-server does not implement.  Those that
 * matter for security (who the server runs as is applied: uid, gid,
 * username, groupname) are refused: a config relying on them must not run
 * without them.  The others are accepted with a warning, so an lwsws
 * configuration still loads.
 */
static const char * const unsupported_global[] = {
	"ws-pingpong-secs", "default-alpn", "rlimit-nofile",
};

static const char * const refused_global[] = {
	"reject-service-keywords", "ip-limit-ah", "ip-limit-wsi",
};

static const char * const unsupported_vhost[] = {
	"unix-socket", "onlyraw", "alpn", "fo-listen-queue",
	"listen-accept-role", "listen-accept-protocol", "apply-listen-accept",
	"fallback-listen-accept", "disable-no-protocol-ws-upgrades",
	"h2-half-closed-long-poll",
};

/* TLS policy, client certificates, plain http on a TLS port, access
 * control and its record */
static const char * const refused_vhost[] = {
	"unix-socket-perms", "access-log", "enable-client-ssl", "ciphers",
	"ecdh-curve", "ssl-option-set", "ssl-option-clear", "client-ssl-key",
	"client-ssl-cert", "client-ssl-ca", "client-ssl-ciphers",
	"ignore-missing-cert", "ssl-client-option-set",
	"ssl-client-option-clear", "tls13-ciphers", "client-tls13-ciphers",
	"strict-host-check", "allow-non-tls", "redirect-http",
	"allow-http-on-https",
};

static const char * const unsupported_mount[] = {
	"cgi-timeout", "cgi-env", "interpret", "pmo",
};

static const char * const refused_mount[] = {
	"auth-mask",
};

static int
in_list(const char * const *list, size_t n, const char *key)
{
	while (n--)
		if (!strcmp(list[n], key))
			return 1;

	return 0;
}

/* a key we do not implement: refused if it matters for security (0 or
 * -1, as conf_fail()), else skipped with a warning that says why */
#define ignore_key(p, ctx, kind, key) \
	_ignore_key(p, ctx, refused_##kind, LWS_ARRAY_SIZE(refused_##kind), \
		    unsupported_##kind, LWS_ARRAY_SIZE(unsupported_##kind), key)

static int
_ignore_key(struct parser *p, const struct lejp_ctx *ctx,
	    const char * const *refused, size_t nr,
	    const char * const *unsup, size_t n, const char *key)
{
	if (in_list(refused, nr, key))
		return conf_fail(p, (int)ctx->line, 1, "lwsws key that matters "
				 "for security, not applied by lwstp-server: "
				 "refused (remove it, or run lwsws)");
	conf_warn_key(p, ctx, in_list(unsup, n, key) ?
		      "lwsws key not supported by lwstp-server" :
		      "unknown key");

	return 0;
}

static int
global_scalar(struct parser *p, struct lejp_ctx *ctx, const char *key,
	      const char *v)
{
	int line = (int)ctx->line;

	if (!strcmp(key, "server-string")) {
		p->conf->server_string = keep(p, v);
		return p->failed ? -1 : 0;
	}
	if (!strcmp(key, "plugin-dir")) {
		if (p->conf->count_plugin_dirs == LWSTP_CONF_MAX_PLUGIN_DIRS)
			return conf_fail(p, line, 1, "more than %d plugin dirs",
					 LWSTP_CONF_MAX_PLUGIN_DIRS);
		if (!*v)
			return conf_fail(p, line, 1, "empty plugin dir");
		p->conf->plugin_dirs[p->conf->count_plugin_dirs++] =
								keep(p, v);
		return p->failed ? -1 : 0;
	}
	if (!strcmp(key, "count-threads"))
		return parse_int(p, line, v, 1, 64, &p->conf->count_threads);
	if (!strcmp(key, "timeout-secs"))
		return parse_int(p, line, v, 1, 3600, &p->conf->timeout_secs);
	if (!strcmp(key, "init-ssl"))
		return parse_bool(p, line, v, &p->conf->init_ssl);
	/* who the server runs as once it listens (lws_finalize_startup()) */
	if (!strcmp(key, "uid"))
		return parse_int(p, line, v, 0, INT_MAX, &p->conf->uid);
	if (!strcmp(key, "gid"))
		return parse_int(p, line, v, 0, INT_MAX, &p->conf->gid);
	if (!strcmp(key, "username") || !strcmp(key, "groupname")) {
		if (!*v)
			return conf_fail(p, line, 1, "empty name");
		*(!strcmp(key, "username") ? &p->conf->username :
					     &p->conf->groupname) = keep(p, v);
		return p->failed ? -1 : 0;
	}

	return ignore_key(p, ctx, global, key);
}

static int
vhost_scalar(struct parser *p, struct lejp_ctx *ctx, const char *key,
	     const char *v)
{
	struct lwstp_conf_vhost *vh = p->vh;
	int line = (int)ctx->line;
	const char **ps = NULL;
	char c;

	if (!strcmp(key, "name")) {
		if (!*v)
			return conf_fail(p, line, 1, "empty vhost name");
		ps = &vh->name;
	} else if (!strcmp(key, "interface"))
		ps = &vh->iface;
	else if (!strcmp(key, "host-ssl-cert"))
		ps = &vh->ssl_cert;
	else if (!strcmp(key, "host-ssl-key"))
		ps = &vh->ssl_key;
	else if (!strcmp(key, "host-ssl-ca"))
		ps = &vh->ssl_ca;
	else if (!strcmp(key, "error-document-404"))
		ps = &vh->error_404;
	if (ps) {
		*ps = keep(p, v);
		return p->failed ? -1 : 0;
	}

	if (!strcmp(key, "port")) {
		p->port_seen = 1;
		return parse_int(p, line, v, 1, 65535, &vh->port);
	}
	if (!strcmp(key, "keepalive_timeout") ||
	    !strcmp(key, "keepalive-timeout"))
		return parse_int(p, line, v, 1, 86400, &vh->keepalive_timeout);
	if (!strcmp(key, "sts"))
		return parse_bool(p, line, v, &vh->sts);
	if (!strcmp(key, "client-cert-required"))
		return parse_bool(p, line, v, &vh->client_cert_required);
	if (!strcmp(key, "noipv6"))
		return parse_bool(p, line, v, &vh->noipv6);
	if (!strcmp(key, "ipv6only")) {
		if (parse_bool(p, line, v, &c))
			return -1;
		vh->ipv6only = c ? 1 : -1;
		return 0;
	}

	return ignore_key(p, ctx, vhost, key);
}

static int
mount_scalar(struct parser *p, struct lejp_ctx *ctx, const char *key,
	     const char *v)
{
	struct lws_http_mount *m = p->mount;
	int line = (int)ctx->line, n;
	char c;

	if (!strcmp(key, "mountpoint")) {
		if (*v != '/')
			return conf_fail(p, line, 1, "\"%s\" does not start "
					 "with '/'", v);
		if (strlen(v) > 255)
			return conf_fail(p, line, 1, "longer than 255 "
					 "characters");
		m->mountpoint = keep(p, v);
		m->mountpoint_len = (unsigned char)strlen(v);
		return p->failed ? -1 : 0;
	}
	if (!strcmp(key, "origin")) {
		p->origin = keep(p, v);
		p->origin_line = line;
		return p->failed ? -1 : 0;
	}
	if (!strcmp(key, "default")) {
		m->def = keep(p, v);
		return p->failed ? -1 : 0;
	}
	if (!strcmp(key, "protocol")) {
		m->protocol = keep(p, v);
		return p->failed ? -1 : 0;
	}
	if (!strcmp(key, "basic-auth")) {
		m->basic_auth_login_file = keep(p, v);
		return p->failed ? -1 : 0;
	}
	if (!strcmp(key, "cache-max-age")) {
		if (parse_int(p, line, v, 0, INT_MAX, &n))
			return -1;
		m->cache_max_age = n;
		return 0;
	}
	if (!strcmp(key, "cache-reuse")) {
		if (parse_bool(p, line, v, &c))
			return -1;
		m->cache_reusable = !!c;
		return 0;
	}
	if (!strcmp(key, "cache-revalidate")) {
		if (parse_bool(p, line, v, &c))
			return -1;
		m->cache_revalidate = !!c;
		return 0;
	}
	if (!strcmp(key, "cache-intermediaries")) {
		if (parse_bool(p, line, v, &c))
			return -1;
		m->cache_intermediaries = !!c;
		return 0;
	}

	return ignore_key(p, ctx, mount, key);
}

/* a string, number, true or false; null is never valid */
int
conf_scalar(struct parser *p, struct lejp_ctx *ctx, const char *v, int is_null)
{
	struct frame *f = &p->st[p->sp - 1];
	int line = (int)ctx->line;

	if (f->is_array)
		f->count++;

	if (f->kind == K_SKIP)
		return 0;
	if (is_null)
		return conf_fail(p, line, 1, "null is not a valid value here");

	switch (f->kind) {
	case K_ROOT:
		if (!strcmp(f->key, "global") || !strcmp(f->key, "vhosts"))
			return conf_fail(p, line, 1, "must be %s, not a single "
					 "value", f->key[0] == 'g' ?
					 "an object" : "an array");
		conf_warn_key(p, ctx, "unknown key");
		return 0;

	case K_GLOBAL:
		return global_scalar(p, ctx, f->key, v);

	case K_PLUGIN_DIRS:
		return global_scalar(p, ctx, "plugin-dir", v);

	case K_VHOST:
		if (!strcmp(f->key, "mounts") ||
		    !strcmp(f->key, "ws-protocols") ||
		    !strcmp(f->key, "headers"))
			return conf_fail(p, line, 1, "must be an array, not a "
					 "single value");
		return vhost_scalar(p, ctx, f->key, v);

	case K_MOUNT:
		if (!strcmp(f->key, "extra-mimetypes"))
			return conf_fail(p, line, 1, "must be an object of "
					 "\".suffix\": \"mime/type\" pairs");
		return mount_scalar(p, ctx, f->key, v);

	case K_PROTOCOLS_OBJ:
		return conf_fail(p, line, 1, "a protocol's settings must be an "
				 "object, like { \"status\": \"ok\" }");

	case K_PROTOCOL:
	case K_NV_OBJ:
		if (!conf_nv_add(p, &f->nv_tail, f->key, v, f->nv_colon))
			return conf_fail(p, line, 1, "out of memory");
		return 0;

	case K_VHOSTS:
		return conf_fail(p, line, 1, "each vhost must be an object");
	case K_MOUNTS:
		return conf_fail(p, line, 1, "each mount must be an object");
	case K_PROTOCOLS:
		return conf_fail(p, line, 1, "each element must be an object "
				 "like { \"protocol-name\": { ... } }");
	case K_NV_ARRAY:
		return conf_fail(p, line, 1, "each element must be an object "
				 "of \"name\": \"value\" pairs");
	default:
		break;
	}

	return 0;
}

/* --- containers ---------------------------------------------------------- */

static int
vhost_start(struct parser *p, struct lejp_ctx *ctx)
{
	struct lwstp_conf_vhost *vh = conf_zalloc(p, sizeof(*vh));

	if (!vh)
		return conf_fail(p, (int)ctx->line, 0, "out of memory");
	vh->file = p->file_kept;
	vh->line = (int)ctx->line;
	p->vh = vh;
	p->pvo_tail = &vh->pvo;
	p->hdr_tail = &vh->headers;
	p->mount_tail = NULL;
	p->port_seen = 0;

	return 0;
}

static int
vhost_end(struct parser *p, struct frame *f)
{
	struct lwstp_conf_vhost *vh = p->vh;
	struct lwstp_conf *c = p->conf;

	if (!vh->name)
		return conf_fail(p, f->line, 0, "vhost has no \"name\"");
	if (!p->port_seen)
		return conf_fail(p, f->line, 0, "vhost \"%s\" has no \"port\"",
				 vh->name);
	/* a requirement that can not be enforced is refused */
	if (vh->client_cert_required && (!vh->ssl_cert || !vh->ssl_ca))
		return conf_fail(p, f->line, 0, "vhost \"%s\": "
				 "\"client-cert-required\" needs "
				 "\"host-ssl-cert\" and \"host-ssl-ca\" (the CA "
				 "that signs the clients' certificates)",
				 vh->name);

	if (c->vhosts_tail)
		c->vhosts_tail->next = vh;
	else
		c->vhosts = vh;
	c->vhosts_tail = vh;
	c->count_vhosts++;
	p->vh = NULL;

	return 0;
}

static const struct {
	const char	*scheme;
	uint8_t		proto;
} schemes[] = {
	{ "file://",		LWSMPRO_FILE },
	{ "callback://",	LWSMPRO_CALLBACK },
	{ ">http://",		LWSMPRO_REDIR_HTTP },
	{ ">https://",		LWSMPRO_REDIR_HTTPS },
	{ "http://",		LWSMPRO_HTTP },
	{ "https://",		LWSMPRO_HTTPS },
	{ "cgi://",		LWSMPRO_CGI },
};

static int
mount_end(struct parser *p, struct frame *f)
{
	struct lws_http_mount *m = p->mount;
	size_t n, l;

	if (!m->mountpoint)
		return conf_fail(p, f->line, 0, "mount has no \"mountpoint\"");
	if (!p->origin)
		return conf_fail(p, f->line, 0, "mount \"%s\" has no "
				 "\"origin\"", m->mountpoint);

	for (n = 0; n < LWS_ARRAY_SIZE(schemes); n++) {
		l = strlen(schemes[n].scheme);
		if (!strncmp(p->origin, schemes[n].scheme, l))
			break;
	}
	if (n == LWS_ARRAY_SIZE(schemes))
		return conf_fail(p, p->origin_line, 0, "\"origin\": \"%s\": "
				 "unknown scheme (file://, callback://, "
				 "http(s)://, >http(s)://, cgi://)", p->origin);
#if !defined(LWS_WITH_HTTP_PROXY)
	if (schemes[n].proto == LWSMPRO_HTTP ||
	    schemes[n].proto == LWSMPRO_HTTPS)
		return conf_fail(p, p->origin_line, 0, "\"origin\": \"%s\": "
				 "reverse proxy mounts need an lws built with "
				 "LWS_WITH_HTTP_PROXY, this one is not",
				 p->origin);
#endif
#if !defined(LWS_ROLE_CGI)
	if (schemes[n].proto == LWSMPRO_CGI)
		return conf_fail(p, p->origin_line, 0, "\"origin\": \"%s\": "
				 "cgi mounts need an lws built with "
				 "LWS_WITH_CGI, this one is not", p->origin);
#endif
	m->origin_protocol = schemes[n].proto;
	m->origin = p->origin + l;
	if (!*m->origin)
		return conf_fail(p, p->origin_line, 0, "\"origin\": \"%s\" "
				 "names nothing after the scheme", p->origin);

	if (p->mount_tail)
		p->mount_tail->mount_next = m;
	else
		p->vh->mounts = m;
	p->mount_tail = m;
	p->mount = NULL;
	p->origin = NULL;

	return 0;
}

/* an object or array starts: decide what it is from where it stands */
int
conf_container_start(struct parser *p, struct lejp_ctx *ctx, int is_array)
{
	struct frame *f = p->sp ? &p->st[p->sp - 1] : NULL, *nf;
	int line = (int)ctx->line;
	enum kind k = K_SKIP;
	const char *key;
	int want_array = -1;	/* -1: either is fine (skipped) */

	if (!f) {
		if (is_array)
			return conf_fail(p, line, 0, "the top level must be "
					 "an object, like { \"vhosts\": "
					 "[ ... ] }");
		return conf_push(p, ctx, K_ROOT, 0) ? 0 : -1;
	}

	if (f->is_array)
		f->count++;
	key = f->key;

	switch (f->kind) {
	case K_ROOT:
		if (!strcmp(key, "global")) {
			k = K_GLOBAL;
			want_array = 0;
		} else if (!strcmp(key, "vhosts")) {
			k = K_VHOSTS;
			want_array = 1;
		} else
			conf_warn_key(p, ctx, "unknown key");
		break;

	case K_GLOBAL:
		if (!strcmp(key, "plugin-dir") && is_array) {
			k = K_PLUGIN_DIRS;
			want_array = 1;
		} else if (!strcmp(key, "server-string") ||
			   !strcmp(key, "plugin-dir") ||
			   !strcmp(key, "count-threads") ||
			   !strcmp(key, "timeout-secs") ||
			   !strcmp(key, "init-ssl") || !strcmp(key, "uid") ||
			   !strcmp(key, "gid") || !strcmp(key, "username") ||
			   !strcmp(key, "groupname"))
			return conf_fail(p, line, 1, "must be a string, not %s",
					 is_array ? "an array" : "an object");
		else if (ignore_key(p, ctx, global, key))
			return -1;
		break;

	case K_PLUGIN_DIRS:
		return conf_fail(p, line, 1, "each plugin dir must be a "
				 "string");

	case K_VHOSTS:
		if (is_array)
			return conf_fail(p, line, 1, "each vhost must be an "
					 "object");
		if (vhost_start(p, ctx))
			return -1;
		k = K_VHOST;
		want_array = 0;
		break;

	case K_VHOST:
		if (!strcmp(key, "mounts")) {
			k = K_MOUNTS;
			want_array = 1;
		} else if (!strcmp(key, "ws-protocols")) {
			k = K_PROTOCOLS;
			want_array = 1;
		} else if (!strcmp(key, "headers")) {
			k = K_NV_ARRAY;
			want_array = 1;
		} else if (!strcmp(key, "name") || !strcmp(key, "port") ||
			   !strcmp(key, "interface") ||
			   !strcmp(key, "keepalive_timeout") ||
			   !strcmp(key, "keepalive-timeout") ||
			   !strncmp(key, "host-ssl-", 9) ||
			   !strcmp(key, "error-document-404") ||
			   !strcmp(key, "sts") || !strcmp(key, "noipv6") ||
			   !strcmp(key, "ipv6only"))
			return conf_fail(p, line, 1, "must be a string, not %s",
					 is_array ? "an array" : "an object");
		else if (ignore_key(p, ctx, vhost, key))
			return -1;
		break;

	case K_MOUNTS:
		if (is_array)
			return conf_fail(p, line, 1, "each mount must be an "
					 "object");
		p->mount = conf_zalloc(p, sizeof(*p->mount));
		if (!p->mount)
			return conf_fail(p, line, 0, "out of memory");
		p->origin = NULL;
		k = K_MOUNT;
		want_array = 0;
		break;

	case K_MOUNT:
		if (!strcmp(key, "extra-mimetypes")) {
			k = K_NV_OBJ;
			want_array = 0;
		} else if (!strcmp(key, "mountpoint") ||
			   !strcmp(key, "origin") || !strcmp(key, "default") ||
			   !strcmp(key, "protocol") ||
			   !strcmp(key, "basic-auth") ||
			   !strncmp(key, "cache-", 6))
			return conf_fail(p, line, 1, "must be a string, not %s",
					 is_array ? "an array" : "an object");
		else if (ignore_key(p, ctx, mount, key))
			return -1;
		break;

	case K_PROTOCOLS:
		if (is_array)
			return conf_fail(p, line, 1, "each element must be an "
					 "object like { \"protocol-name\": "
					 "{ ... } }");
		k = K_PROTOCOLS_OBJ;
		want_array = 0;
		break;

	case K_PROTOCOLS_OBJ:
		if (is_array)
			return conf_fail(p, line, 1, "a protocol's settings "
					 "must be an object, like "
					 "{ \"status\": \"ok\" }");
		k = K_PROTOCOL;
		want_array = 0;
		break;

	case K_PROTOCOL:
		return conf_fail(p, line, 1, "a protocol option must be a "
				 "string, not %s", is_array ? "an array" :
						 "an object");

	case K_NV_ARRAY:
		if (is_array)
			return conf_fail(p, line, 1, "each element must be an "
					 "object of \"name\": \"value\" pairs");
		k = K_NV_OBJ;
		want_array = 0;
		break;

	case K_NV_OBJ:
		return conf_fail(p, line, 1, "a value here must be a string, "
				 "not %s", is_array ? "an array" :
						      "an object");

	case K_SKIP:
		break;
	}

	if (want_array >= 0 && want_array != is_array)
		return conf_fail(p, line, 1, "must be %s, not %s",
				 want_array ? "an array" : "an object",
				 is_array ? "an array" : "an object");

	nf = conf_push(p, ctx, k, is_array);
	if (!nf)
		return -1;

	switch (k) {
	case K_PROTOCOL: {
		struct lws_protocol_vhost_options *o;

		for (o = p->vh->pvo; o; o = (void *)o->next)
			if (!strcmp(o->name, key))
				return conf_fail(p, line, 0, "protocol \"%s\" "
						 "is listed twice", key);
		o = conf_nv_add(p, &p->pvo_tail, key, "", 0);
		if (!o)
			return conf_fail(p, line, 0, "out of memory");
		p->vh->count_pvo++;
		nf->nv_tail = (struct lws_protocol_vhost_options **)
								&o->options;
		break;
	}
	case K_NV_ARRAY:
		nf->nv_colon = 1;	/* "headers" */
		nf->nv_tail = p->hdr_tail;
		break;
	case K_NV_OBJ:
		if (f->kind == K_NV_ARRAY) {
			nf->nv_colon = f->nv_colon;
			nf->nv_tail = f->nv_tail;
		} else	/* extra-mimetypes */
			nf->nv_tail = (struct lws_protocol_vhost_options **)
					&p->mount->extra_mimetypes;
		break;
	default:
		break;
	}

	return 0;
}

int
conf_container_end(struct parser *p)
{
	struct frame *f = &p->st[p->sp - 1];
	int r = 0;

	switch (f->kind) {
	case K_VHOST:
		r = vhost_end(p, f);
		break;
	case K_MOUNT:
		r = mount_end(p, f);
		break;
	case K_NV_OBJ:
		/* a name / value object inside an array: pass its tail on */
		if (p->sp > 1 && p->st[p->sp - 2].kind == K_NV_ARRAY) {
			p->st[p->sp - 2].nv_tail = f->nv_tail;
			if (p->st[p->sp - 2].nv_colon)
				p->hdr_tail = f->nv_tail;
		}
		break;
	default:
		break;
	}
	p->sp--;

	return r;
}
