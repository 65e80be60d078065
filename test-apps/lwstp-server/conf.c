/*
 * lwstp-server - the lwsws-format configuration parser
 *
 * LEJP reports a stream of events (key, start / end of an object or array,
 * a scalar value).  The parser keeps its own stack of open containers, each
 * with what it is (the top level, "global", a vhost, a mount, ...), so every
 * value is judged by where it stands, not by matching path strings.  A
 * value in the wrong place or of the wrong kind stops the parse with
 * "FILE:LINE: KEY: what is wrong"; an unknown key is logged with lwsl_warn
 * and its value, whatever it holds, skipped.
 *
 * See conf.h for the format.
 */

#include "conf.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_FRAMES	16	/* LEJP stops at LEJP_MAX_DEPTH (12) anyway */
#define MAX_KEY		64	/* a key as quoted in messages */

/* what an open object or array is */
enum kind {
	K_ROOT,		/* the top-level object */
	K_GLOBAL,	/* "global": { } */
	K_PLUGIN_DIRS,	/* "plugin-dir": [ "dir", ... ] */
	K_VHOSTS,	/* "vhosts": [ ] */
	K_VHOST,	/* { } in "vhosts" */
	K_MOUNTS,	/* "mounts": [ ] */
	K_MOUNT,	/* { } in "mounts" */
	K_PROTOCOLS,	/* "ws-protocols": [ ] */
	K_PROTOCOLS_OBJ, /* { "protocol": { }, ... } in "ws-protocols" */
	K_PROTOCOL,	/* { "option": "value", ... } of one protocol */
	K_NV_ARRAY,	/* [ { "name": "value" }, ... ] ("headers") */
	K_NV_OBJ,	/* { "name": "value", ... } */
	K_SKIP,		/* the value of an ignored key */
};

struct frame {
	enum kind			kind;
	int				is_array;
	int				count;	 /* members / elements so far */
	size_t				pathlen; /* strlen(ctx->path) here */
	int				line;	 /* of its '{' or '[' */
	char				key[MAX_KEY]; /* current member (obj) */
	/* K_NV_*, K_PROTOCOL: where name / value pairs are appended */
	struct lws_protocol_vhost_options **nv_tail;
	char				nv_colon; /* names get a ':' (headers) */
};

struct parser {
	struct lwstp_conf		*conf;
	const char			*file;	/* as given, for messages */
	const char			*file_kept; /* copy in conf->ac */
	char				*err;
	size_t				errlen;
	int				failed;

	struct frame			st[MAX_FRAMES];
	int				sp;	/* frames in use */

	char				*str;	/* the string value being read */
	size_t				str_len, str_alloc;

	struct lwstp_conf_vhost		*vh;	/* the vhost being read */
	struct lws_protocol_vhost_options **pvo_tail;
	struct lws_protocol_vhost_options **hdr_tail;
	struct lws_http_mount		*mount;	/* the mount being read */
	struct lws_http_mount		*mount_tail;
	const char			*origin; /* of the mount being read */
	int				origin_line;
	int				port_seen;
};

/* the kinds of scalar a key takes */
enum vtype {
	V_STR,		/* any string */
	V_INT,		/* a decimal integer, in range */
	V_BOOL,		/* 1 / 0, on / off, yes / no, true / false */
};

/* --- messages ----------------------------------------------------------- */

/* the dotted path of the value being read, like vhosts[0].mounts[1].origin;
 * with_key = 0 leaves out the innermost object's current key */
static void
keypath(struct parser *p, int depth, int with_key, char *buf, size_t len)
{
	char *q = buf, *end = buf + len - 1;
	int i;

	*q = '\0';
	for (i = 0; i < depth && q < end; i++) {
		struct frame *f = &p->st[i];

		if (f->is_array) {
			q += lws_snprintf(q, (size_t)lws_ptr_diff(end, q), "[%d]",
					  f->count ? f->count - 1 : 0);
			continue;
		}
		if (!f->count || (i == depth - 1 && !with_key))
			continue;
		q += lws_snprintf(q, (size_t)lws_ptr_diff(end, q), "%s%s",
				  q == buf ? "" : ".", f->key);
	}
	if (q == buf)
		lws_strncpy(buf, "(top level)", len);
}

static int LWS_FORMAT(4)
fail_at(struct parser *p, int line, int with_key, const char *fmt, ...)
{
	char path[256], msg[384];
	va_list ap;

	if (p->failed)	/* keep the first error */
		return -1;
	p->failed = 1;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	keypath(p, p->sp, with_key, path, sizeof(path));
	lws_snprintf(p->err, p->errlen, "%s:%d: %s: %s", p->file, line, path,
		     msg);

	return -1;
}

static void
warn_key(struct parser *p, const struct lejp_ctx *ctx, const char *why)
{
	char path[256];

	keypath(p, p->sp, 1, path, sizeof(path));
	lwsl_warn("%s:%u: %s: %s, ignored\n", p->file, ctx->line, path, why);
	p->conf->warnings++;
}

/* --- storage ------------------------------------------------------------- */

static void *
zalloc(struct parser *p, size_t size)
{
	return lwsac_use_zero(&p->conf->ac, size, 0);
}

static char *
strdup_ac(struct parser *p, const char *s, size_t len)
{
	char *d = lwsac_use(&p->conf->ac, len + 1, 0);

	if (!d)
		return NULL;
	memcpy(d, s, len);
	d[len] = '\0';

	return d;
}

static int
str_append(struct parser *p, const char *s, size_t len)
{
	if (p->str_len + len + 1 > p->str_alloc) {
		size_t n = (p->str_alloc ? p->str_alloc * 2 : 256);
		char *q;

		while (n < p->str_len + len + 1)
			n *= 2;
		if (n > LWSTP_CONF_MAX_FILE + 1)
			return -1;
		q = realloc(p->str, n);
		if (!q)
			return -1;
		p->str = q;
		p->str_alloc = n;
	}
	memcpy(p->str + p->str_len, s, len);
	p->str_len += len;
	p->str[p->str_len] = '\0';

	return 0;
}

/* append a name / value node to a list kept in file order */
static struct lws_protocol_vhost_options *
nv_add(struct parser *p, struct lws_protocol_vhost_options ***tail,
       const char *name, const char *value, int colon)
{
	struct lws_protocol_vhost_options *o = zalloc(p, sizeof(*o));
	size_t nl = strlen(name);
	char *n;

	if (!o)
		return NULL;
	colon = colon && (!nl || name[nl - 1] != ':');
	n = lwsac_use(&p->conf->ac, nl + 2, 0);
	if (!n)
		return NULL;
	memcpy(n, name, nl);
	if (colon)
		n[nl++] = ':';
	n[nl] = '\0';
	o->name = n;
	o->value = strdup_ac(p, value, strlen(value));
	if (!o->value)
		return NULL;
	**tail = o;
	*tail = (struct lws_protocol_vhost_options **)&o->next;

	return o;
}

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
		return fail_at(p, line, 1, "\"%s\" is not a whole number in "
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

	return fail_at(p, line, 1, "\"%s\" is not a boolean (on / off, "
		       "1 / 0, yes / no, true / false)", s);
}

static const char *
keep(struct parser *p, const char *s)
{
	const char *d = strdup_ac(p, s, strlen(s));

	if (!d)
		fail_at(p, 0, 1, "out of memory");

	return d;
}

/*
 * Keys known from lwsws that lwstp-server does not implement: they are
 * accepted with a warning, so an lwsws configuration still loads.
 */
static const char * const unsupported_global[] = {
	"uid", "gid", "username", "groupname", "ws-pingpong-secs",
	"reject-service-keywords", "default-alpn", "ip-limit-ah",
	"ip-limit-wsi", "rlimit-nofile",
};

static const char * const unsupported_vhost[] = {
	"unix-socket", "unix-socket-perms", "access-log", "enable-client-ssl",
	"ciphers", "ecdh-curve", "ssl-option-set", "ssl-option-clear",
	"client-ssl-key", "client-ssl-cert", "client-ssl-ca",
	"client-ssl-ciphers", "onlyraw", "client-cert-required",
	"ignore-missing-cert", "alpn", "fo-listen-queue",
	"ssl-client-option-set", "ssl-client-option-clear", "tls13-ciphers",
	"client-tls13-ciphers", "strict-host-check", "listen-accept-role",
	"listen-accept-protocol", "apply-listen-accept",
	"fallback-listen-accept", "allow-non-tls", "redirect-http",
	"allow-http-on-https", "disable-no-protocol-ws-upgrades",
	"h2-half-closed-long-poll",
};

static const char * const unsupported_mount[] = {
	"auth-mask", "cgi-timeout", "cgi-env", "interpret", "pmo",
};

static int
in_list(const char * const *list, size_t n, const char *key)
{
	while (n--)
		if (!strcmp(list[n], key))
			return 1;

	return 0;
}

/* a key we skip: say why */
static void
ignore_key(struct parser *p, const struct lejp_ctx *ctx,
	   const char * const *unsup, size_t n, const char *key)
{
	warn_key(p, ctx, in_list(unsup, n, key) ?
		 "lwsws key not supported by lwstp-server" : "unknown key");
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
			return fail_at(p, line, 1, "more than %d plugin dirs",
				       LWSTP_CONF_MAX_PLUGIN_DIRS);
		if (!*v)
			return fail_at(p, line, 1, "empty plugin dir");
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

	ignore_key(p, ctx, unsupported_global,
		   LWS_ARRAY_SIZE(unsupported_global), key);

	return 0;
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
			return fail_at(p, line, 1, "empty vhost name");
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
	if (!strcmp(key, "noipv6"))
		return parse_bool(p, line, v, &vh->noipv6);
	if (!strcmp(key, "ipv6only")) {
		if (parse_bool(p, line, v, &c))
			return -1;
		vh->ipv6only = c ? 1 : -1;
		return 0;
	}

	ignore_key(p, ctx, unsupported_vhost,
		   LWS_ARRAY_SIZE(unsupported_vhost), key);

	return 0;
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
			return fail_at(p, line, 1, "\"%s\" does not start "
				       "with '/'", v);
		if (strlen(v) > 255)
			return fail_at(p, line, 1, "longer than 255 characters");
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

	ignore_key(p, ctx, unsupported_mount,
		   LWS_ARRAY_SIZE(unsupported_mount), key);

	return 0;
}

/* a string, number, true or false; null is never valid */
static int
scalar(struct parser *p, struct lejp_ctx *ctx, const char *v, int is_null)
{
	struct frame *f = &p->st[p->sp - 1];
	int line = (int)ctx->line;

	if (f->is_array)
		f->count++;

	if (f->kind == K_SKIP)
		return 0;
	if (is_null)
		return fail_at(p, line, 1, "null is not a valid value here");

	switch (f->kind) {
	case K_ROOT:
		if (!strcmp(f->key, "global") || !strcmp(f->key, "vhosts"))
			return fail_at(p, line, 1, "must be %s, not a single "
				       "value", f->key[0] == 'g' ?
				       "an object" : "an array");
		warn_key(p, ctx, "unknown key");
		return 0;

	case K_GLOBAL:
		return global_scalar(p, ctx, f->key, v);

	case K_PLUGIN_DIRS:
		return global_scalar(p, ctx, "plugin-dir", v);

	case K_VHOST:
		if (!strcmp(f->key, "mounts") ||
		    !strcmp(f->key, "ws-protocols") ||
		    !strcmp(f->key, "headers"))
			return fail_at(p, line, 1, "must be an array, not a "
				       "single value");
		return vhost_scalar(p, ctx, f->key, v);

	case K_MOUNT:
		if (!strcmp(f->key, "extra-mimetypes"))
			return fail_at(p, line, 1, "must be an object of "
				       "\".suffix\": \"mime/type\" pairs");
		return mount_scalar(p, ctx, f->key, v);

	case K_PROTOCOLS_OBJ:
		return fail_at(p, line, 1, "a protocol's settings must be an "
			       "object, like { \"status\": \"ok\" }");

	case K_PROTOCOL:
	case K_NV_OBJ:
		if (!nv_add(p, &f->nv_tail, f->key, v, f->nv_colon))
			return fail_at(p, line, 1, "out of memory");
		return 0;

	case K_VHOSTS:
		return fail_at(p, line, 1, "each vhost must be an object");
	case K_MOUNTS:
		return fail_at(p, line, 1, "each mount must be an object");
	case K_PROTOCOLS:
		return fail_at(p, line, 1, "each element must be an object "
			       "like { \"protocol-name\": { ... } }");
	case K_NV_ARRAY:
		return fail_at(p, line, 1, "each element must be an object "
			       "of \"name\": \"value\" pairs");
	default:
		break;
	}

	return 0;
}

/* --- containers ---------------------------------------------------------- */

static struct frame *
push(struct parser *p, struct lejp_ctx *ctx, enum kind kind, int is_array)
{
	struct frame *f;

	if (p->sp == MAX_FRAMES) {
		fail_at(p, (int)ctx->line, 1, "nested too deeply");
		return NULL;
	}
	f = &p->st[p->sp++];
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	f->is_array = is_array;
	f->pathlen = strlen(ctx->path);
	f->line = (int)ctx->line;

	return f;
}

static int
vhost_start(struct parser *p, struct lejp_ctx *ctx)
{
	struct lwstp_conf_vhost *vh = zalloc(p, sizeof(*vh));

	if (!vh)
		return fail_at(p, (int)ctx->line, 0, "out of memory");
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
		return fail_at(p, f->line, 0, "vhost has no \"name\"");
	if (!p->port_seen)
		return fail_at(p, f->line, 0, "vhost \"%s\" has no \"port\"",
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
		return fail_at(p, f->line, 0, "mount has no \"mountpoint\"");
	if (!p->origin)
		return fail_at(p, f->line, 0, "mount \"%s\" has no \"origin\"",
			       m->mountpoint);

	for (n = 0; n < LWS_ARRAY_SIZE(schemes); n++) {
		l = strlen(schemes[n].scheme);
		if (!strncmp(p->origin, schemes[n].scheme, l))
			break;
	}
	if (n == LWS_ARRAY_SIZE(schemes))
		return fail_at(p, p->origin_line, 0, "\"origin\": \"%s\": "
			       "unknown scheme (file://, callback://, "
			       "http(s)://, >http(s)://, cgi://)", p->origin);
#if !defined(LWS_WITH_HTTP_PROXY)
	if (schemes[n].proto == LWSMPRO_HTTP ||
	    schemes[n].proto == LWSMPRO_HTTPS)
		return fail_at(p, p->origin_line, 0, "\"origin\": \"%s\": "
			       "reverse proxy mounts need an lws built with "
			       "LWS_WITH_HTTP_PROXY, this one is not",
			       p->origin);
#endif
#if !defined(LWS_ROLE_CGI)
	if (schemes[n].proto == LWSMPRO_CGI)
		return fail_at(p, p->origin_line, 0, "\"origin\": \"%s\": "
			       "cgi mounts need an lws built with LWS_WITH_CGI, "
			       "this one is not", p->origin);
#endif
	m->origin_protocol = schemes[n].proto;
	m->origin = p->origin + l;
	if (!*m->origin)
		return fail_at(p, p->origin_line, 0, "\"origin\": \"%s\" "
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
static int
container_start(struct parser *p, struct lejp_ctx *ctx, int is_array)
{
	struct frame *f = p->sp ? &p->st[p->sp - 1] : NULL, *nf;
	int line = (int)ctx->line;
	enum kind k = K_SKIP;
	const char *key;
	int want_array = -1;	/* -1: either is fine (skipped) */

	if (!f) {
		if (is_array)
			return fail_at(p, line, 0, "the top level must be an "
				       "object, like { \"vhosts\": [ ... ] }");
		return push(p, ctx, K_ROOT, 0) ? 0 : -1;
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
			warn_key(p, ctx, "unknown key");
		break;

	case K_GLOBAL:
		if (!strcmp(key, "plugin-dir") && is_array) {
			k = K_PLUGIN_DIRS;
			want_array = 1;
		} else if (!strcmp(key, "server-string") ||
			   !strcmp(key, "plugin-dir") ||
			   !strcmp(key, "count-threads") ||
			   !strcmp(key, "timeout-secs") ||
			   !strcmp(key, "init-ssl"))
			return fail_at(p, line, 1, "must be a string, not %s",
				       is_array ? "an array" : "an object");
		else
			ignore_key(p, ctx, unsupported_global,
				   LWS_ARRAY_SIZE(unsupported_global), key);
		break;

	case K_PLUGIN_DIRS:
		return fail_at(p, line, 1, "each plugin dir must be a string");

	case K_VHOSTS:
		if (is_array)
			return fail_at(p, line, 1, "each vhost must be an "
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
			return fail_at(p, line, 1, "must be a string, not %s",
				       is_array ? "an array" : "an object");
		else
			ignore_key(p, ctx, unsupported_vhost,
				   LWS_ARRAY_SIZE(unsupported_vhost), key);
		break;

	case K_MOUNTS:
		if (is_array)
			return fail_at(p, line, 1, "each mount must be an "
				       "object");
		p->mount = zalloc(p, sizeof(*p->mount));
		if (!p->mount)
			return fail_at(p, line, 0, "out of memory");
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
			return fail_at(p, line, 1, "must be a string, not %s",
				       is_array ? "an array" : "an object");
		else
			ignore_key(p, ctx, unsupported_mount,
				   LWS_ARRAY_SIZE(unsupported_mount), key);
		break;

	case K_PROTOCOLS:
		if (is_array)
			return fail_at(p, line, 1, "each element must be an "
				       "object like { \"protocol-name\": "
				       "{ ... } }");
		k = K_PROTOCOLS_OBJ;
		want_array = 0;
		break;

	case K_PROTOCOLS_OBJ:
		if (is_array)
			return fail_at(p, line, 1, "a protocol's settings must "
				       "be an object, like { \"status\": "
				       "\"ok\" }");
		k = K_PROTOCOL;
		want_array = 0;
		break;

	case K_PROTOCOL:
		return fail_at(p, line, 1, "a protocol option must be a "
			       "string, not %s", is_array ? "an array" :
						 "an object");

	case K_NV_ARRAY:
		if (is_array)
			return fail_at(p, line, 1, "each element must be an "
				       "object of \"name\": \"value\" pairs");
		k = K_NV_OBJ;
		want_array = 0;
		break;

	case K_NV_OBJ:
		return fail_at(p, line, 1, "a value here must be a string, not "
			       "%s", is_array ? "an array" : "an object");

	case K_SKIP:
		break;
	}

	if (want_array >= 0 && want_array != is_array)
		return fail_at(p, line, 1, "must be %s, not %s",
			       want_array ? "an array" : "an object",
			       is_array ? "an array" : "an object");

	nf = push(p, ctx, k, is_array);
	if (!nf)
		return -1;

	switch (k) {
	case K_PROTOCOL: {
		struct lws_protocol_vhost_options *o;

		for (o = p->vh->pvo; o; o = (void *)o->next)
			if (!strcmp(o->name, key))
				return fail_at(p, line, 0, "protocol \"%s\" is "
					       "listed twice", key);
		o = nv_add(p, &p->pvo_tail, key, "", 0);
		if (!o)
			return fail_at(p, line, 0, "out of memory");
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

static int
container_end(struct parser *p)
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

/* --- the LEJP callback --------------------------------------------------- */

static signed char
conf_cb(struct lejp_ctx *ctx, char reason)
{
	struct parser *p = (struct parser *)ctx->user;
	struct frame *f = p->sp ? &p->st[p->sp - 1] : NULL;
	size_t pl;

	if (p->failed)
		return -1;

	switch (reason) {
	case LEJPCB_PAIR_NAME:
		if (!f || f->is_array)
			return -1;
		pl = strlen(ctx->path);
		if (pl >= sizeof(ctx->path) - 2 ||
		    pl < f->pathlen + (f->pathlen ? 1 : 0)) {
			lws_strncpy(f->key, "...", sizeof(f->key));
			f->count++;
			return (signed char)fail_at(p, (int)ctx->line, 1,
				"key too long, or nested too deeply "
				"(LEJP keeps %d characters of path)",
				(int)sizeof(ctx->path) - 1);
		}
		lws_strncpy(f->key, ctx->path + f->pathlen +
				    (f->pathlen ? 1 : 0), sizeof(f->key));
		f->count++;
		return 0;

	case LEJPCB_FAILED:
		/*
		 * Bad JSON: LEJP may have read a key it had no chance to
		 * report (say the ':' is missing); name it in the message.
		 */
		pl = strlen(ctx->path);
		if (f && !f->is_array && pl < sizeof(ctx->path) - 2 &&
		    pl > f->pathlen + (f->pathlen ? 1 : 0)) {
			lws_strncpy(f->key, ctx->path + f->pathlen +
				    (f->pathlen ? 1 : 0), sizeof(f->key));
			if (!f->count)
				f->count++;
		}
		return 0;

	case LEJPCB_OBJECT_START:
		return (signed char)container_start(p, ctx, 0);
	case LEJPCB_ARRAY_START:
		return (signed char)container_start(p, ctx, 1);

	case LEJPCB_OBJECT_END:
	case LEJPCB_ARRAY_END:
		if (!f)
			return -1;
		return (signed char)container_end(p);

	case LEJPCB_VAL_STR_START:
		p->str_len = 0;
		if (str_append(p, "", 0))
			return (signed char)fail_at(p, (int)ctx->line, 1,
						    "out of memory");
		return 0;

	case LEJPCB_VAL_STR_CHUNK:
	case LEJPCB_VAL_STR_END:
		if (str_append(p, ctx->buf, ctx->npos))
			return (signed char)fail_at(p, (int)ctx->line, 1,
						    "string too long");
		if (reason == LEJPCB_VAL_STR_CHUNK)
			return 0;
		if (strlen(p->str) != p->str_len)
			return (signed char)fail_at(p, (int)ctx->line, 1,
					"a string holds a NUL character");
		if (!f)
			return -1;
		return (signed char)scalar(p, ctx, p->str, 0);

	case LEJPCB_VAL_TRUE:
	case LEJPCB_VAL_FALSE:
	case LEJPCB_VAL_NUM_INT:
	case LEJPCB_VAL_NUM_FLOAT:
		if (!f)
			return -1;
		/* as lwsws: a number or true / false is taken as its text */
		return (signed char)scalar(p, ctx,
			reason == LEJPCB_VAL_TRUE ? "true" :
			reason == LEJPCB_VAL_FALSE ? "false" : ctx->buf, 0);

	case LEJPCB_VAL_NULL:
		if (!f)
			return -1;
		return (signed char)scalar(p, ctx, "", 1);

	default:
		return 0;
	}
}

/* after the top-level object: only blanks and comments may follow */
static int
check_trailer(struct parser *p, const char *s, size_t len, int line)
{
	size_t n;

	for (n = 0; n < len; n++) {
		if (s[n] == '\n') {
			line++;
			continue;
		}
		if (s[n] == ' ' || s[n] == '\t' || s[n] == '\r')
			continue;
		if (s[n] == '#') {
			while (n + 1 < len && s[n + 1] != '\n')
				n++;
			continue;
		}
		p->sp = 0;
		return fail_at(p, line, 0, "unexpected text after the "
			       "top-level object");
	}

	return 0;
}

int
lwstp_conf_parse(const char *buf, size_t len, const char *filename,
		 struct lwstp_conf *out, char *err, size_t errlen)
{
	struct lejp_ctx ctx;
	struct parser p;
	int m, line;

	memset(&p, 0, sizeof(p));
	p.conf = out;
	p.file = filename ? filename : "(config)";
	p.err = err;
	p.errlen = errlen;
	if (errlen)
		*err = '\0';

	if (len > LWSTP_CONF_MAX_FILE)
		return fail_at(&p, 1, 0, "file larger than %d bytes",
			       LWSTP_CONF_MAX_FILE);

	p.file_kept = strdup_ac(&p, p.file, strlen(p.file));
	if (!p.file_kept)
		return fail_at(&p, 1, 0, "out of memory");

	lejp_construct(&ctx, conf_cb, &p, NULL, 0);
	m = lejp_parse(&ctx, (const unsigned char *)buf, (int)len);
	line = (int)ctx.line;
	lejp_destruct(&ctx);

	if (!p.failed) {
		if (m == LEJP_CONTINUE)
			fail_at(&p, line, 1, "unexpected end of file%s",
				p.sp ? " (an object or array is not closed)" :
				       " (expected a JSON object)");
		else if (m < 0)
			fail_at(&p, line, 1, "bad JSON: %s",
				lejp_error_to_string(m));
		else
			check_trailer(&p, buf + len - m, (size_t)m, line);
	}

	free(p.str);

	return p.failed ? -1 : 0;
}

void
lwstp_conf_destroy(struct lwstp_conf *conf)
{
	lwsac_free(&conf->ac);
	memset(conf, 0, sizeof(*conf));
}
