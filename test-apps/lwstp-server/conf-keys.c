/*
 * lwstp-server - the strict configuration check: the keys
 *
 * The keys of lws's own loader (paths_global[] and paths_vhosts[] of
 * lib/roles/http/server/lejp-conf.c, 4.1.6 and 4.3), each with the value it
 * takes: lws reads numbers with atoi() and booleans with its arg_to_bool()
 * (a non-zero number, or on / yes / true), so "80x" would be port 80 and
 * "enabled" would be off; here both are errors.  A key this libwebsockets
 * was built without the means to apply, and which matters for security,
 * is refused rather than left for lws to ignore.  conf.c calls in here for
 * every value (conf_scalar), every object or array that opens
 * (conf_container_start) and closes (conf_container_end).
 */

#include "conf-private.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum type {
	T_STR,		/* any string */
	T_NAME,		/* a string that is not empty */
	T_INT,		/* decimal digits, in min..max */
	T_BOOL,		/* what arg_to_bool() reads, spelt out */
	T_DEPRECATED,	/* lws reads and ignores it: a warning */
	T_REFUSED,	/* lws would ignore it here: an error, saying why */
	T_NV_OBJ,	/* { "name": "value", ... } */
	T_NV_ARR,	/* [ { "name": "value", ... }, ... ] */
	T_MOUNTS,	/* "mounts" */
	T_PROTOCOLS,	/* "ws-protocols" */
};

/* what the check keeps of a key, besides judging it */
enum id {
	ID_NONE, ID_PLUGIN_DIR, ID_INIT_SSL, ID_UID, ID_GID, ID_USERNAME,
	ID_GROUPNAME, ID_THREADS, ID_NAME, ID_PORT, ID_CERT, ID_CA, ID_CCR,
	ID_ALWAYS_ON, ID_MOUNTPOINT, ID_ORIGIN,
};

struct key {
	const char	*name;
	uint8_t		type;
	uint8_t		id;
	long		min, max;	/* T_INT */
	const char	*why;		/* T_REFUSED, T_DEPRECATED */
};

#define STR(n)		{ n, T_STR, ID_NONE, 0, 0, NULL }
#define NAME(n, i)	{ n, T_NAME, i, 0, 0, NULL }
#define INT(n, i, lo, hi) { n, T_INT, i, lo, hi, NULL }
#define BOOL(n, i)	{ n, T_BOOL, i, 0, 0, NULL }
#define REFUSED(n, w)	{ n, T_REFUSED, ID_NONE, 0, 0, w }
#define OF(n, t)	{ n, t, ID_NONE, 0, 0, NULL }

#define NO(opt, what)	"this libwebsockets is built without " opt ": " what

static const struct key keys_global[] = {
	INT("uid", ID_UID, 0, INT_MAX),
	INT("gid", ID_GID, 0, INT_MAX),
	NAME("username", ID_USERNAME),
	NAME("groupname", ID_GROUPNAME),
	INT("count-threads", ID_THREADS, 1, 64),
	BOOL("init-ssl", ID_INIT_SSL),
	STR("server-string"),
	NAME("plugin-dir", ID_PLUGIN_DIR),
	{ "ws-pingpong-secs", T_DEPRECATED, ID_NONE, 0, 0,
	  "deprecated, lws ignores it" },
	INT("timeout-secs", ID_NONE, 0, 86400),
	OF("reject-service-keywords", T_NV_ARR),
	STR("default-alpn"),
#if defined(LWS_WITH_PEER_LIMITS)
	INT("ip-limit-ah", ID_NONE, 0, INT_MAX),
	INT("ip-limit-wsi", ID_NONE, 0, INT_MAX),
#else
	REFUSED("ip-limit-ah", NO("LWS_WITH_PEER_LIMITS", "no limit would "
				  "be applied")),
	REFUSED("ip-limit-wsi", NO("LWS_WITH_PEER_LIMITS", "no limit would "
				   "be applied")),
#endif
	INT("rlimit-nofile", ID_NONE, 0, INT_MAX),
};

static const struct key keys_vhost[] = {
	NAME("name", ID_NAME),
	INT("port", ID_PORT, 1, 65535),
	NAME("interface", ID_NONE),
#if defined(LWS_UNIX_SOCK)
	BOOL("unix-socket", ID_NONE),
	STR("unix-socket-perms"),
#else
	REFUSED("unix-socket", NO("LWS_UNIX_SOCK", "it would listen on a "
				  "TCP port instead")),
	REFUSED("unix-socket-perms", NO("LWS_UNIX_SOCK", "no unix socket")),
#endif
	BOOL("sts", ID_NONE),
	NAME("host-ssl-key", ID_NONE),
	NAME("host-ssl-cert", ID_CERT),
	NAME("host-ssl-ca", ID_CA),
#if defined(LWS_WITH_ACCESS_LOG)
	NAME("access-log", ID_NONE),
#else
	REFUSED("access-log", NO("LWS_WITH_ACCESS_LOG", "no access log "
				 "would be written")),
#endif
	OF("mounts", T_MOUNTS),
	OF("ws-protocols", T_PROTOCOLS),
	INT("keepalive_timeout", ID_NONE, 1, 86400),
	BOOL("enable-client-ssl", ID_NONE),
	STR("ciphers"),
	STR("ecdh-curve"),
	BOOL("noipv6", ID_NONE),
	BOOL("ipv6only", ID_NONE),
	INT("ssl-option-set", ID_NONE, 0, LONG_MAX),
	INT("ssl-option-clear", ID_NONE, 0, LONG_MAX),
	OF("headers", T_NV_ARR),
	NAME("client-ssl-key", ID_NONE),
	NAME("client-ssl-cert", ID_NONE),
	NAME("client-ssl-ca", ID_NONE),
	STR("client-ssl-ciphers"),
	BOOL("onlyraw", ID_NONE),
	BOOL("client-cert-required", ID_CCR),
	BOOL("ignore-missing-cert", ID_NONE),
	STR("error-document-404"),
	STR("alpn"),
	INT("ssl-client-option-set", ID_NONE, 0, LONG_MAX),
	INT("ssl-client-option-clear", ID_NONE, 0, LONG_MAX),
	STR("tls13-ciphers"),
	STR("client-tls13-ciphers"),
	BOOL("strict-host-check", ID_NONE),
	STR("listen-accept-role"),
	STR("listen-accept-protocol"),
	BOOL("apply-listen-accept", ID_NONE),
	BOOL("fallback-listen-accept", ID_NONE),
	BOOL("allow-non-tls", ID_NONE),
	BOOL("redirect-http", ID_NONE),
	BOOL("allow-http-on-https", ID_NONE),
	BOOL("disable-no-protocol-ws-upgrades", ID_ALWAYS_ON),
	BOOL("h2-half-closed-long-poll", ID_NONE),
#if LWS_LIBRARY_VERSION_NUMBER >= 4003000
	INT("fo-listen-queue", ID_NONE, 0, INT_MAX),
#endif
};

static const struct key keys_mount[] = {
	NAME("mountpoint", ID_MOUNTPOINT),
	NAME("origin", ID_ORIGIN),
	STR("protocol"),
	STR("default"),
	INT("auth-mask", ID_NONE, 0, INT_MAX),
	INT("cgi-timeout", ID_NONE, 0, INT_MAX),
	OF("cgi-env", T_NV_ARR),
	INT("cache-max-age", ID_NONE, 0, INT_MAX),
	BOOL("cache-reuse", ID_NONE),
	BOOL("cache-revalidate", ID_NONE),
#if defined(LWS_WITH_HTTP_BASIC_AUTH)
	NAME("basic-auth", ID_NONE),
#else
	REFUSED("basic-auth", NO("LWS_WITH_HTTP_BASIC_AUTH", "the mount "
				 "would be served without authentication")),
#endif
	BOOL("cache-intermediaries", ID_NONE),
	OF("extra-mimetypes", T_NV_OBJ),
	OF("interpret", T_NV_OBJ),
	OF("pmo", T_NV_ARR),
};

static const struct key *
find_key(enum kind k, const char *name)
{
	const struct key *t;
	size_t n, i;

	switch (k) {
	case K_GLOBAL:
		t = keys_global;
		n = LWS_ARRAY_SIZE(keys_global);
		break;
	case K_VHOST:
		t = keys_vhost;
		n = LWS_ARRAY_SIZE(keys_vhost);
		break;
	case K_MOUNT:
		t = keys_mount;
		n = LWS_ARRAY_SIZE(keys_mount);
		break;
	default:
		return NULL;
	}
	for (i = 0; i < n; i++)
		if (!strcmp(t[i].name, name))
			return &t[i];

	return NULL;
}

/* --- scalar values -------------------------------------------------------- */

static int
parse_int(struct parser *p, int line, const char *s, long min, long max,
	  long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s < '0' || *s > '9' || *end || errno || v < min || v > max)
		return conf_fail(p, line, 1, "\"%s\" is not a whole number in "
				 "%ld..%ld", s, min, max);
	*out = v;

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

/* what the server needs of a key whose value is valid */
static int
keep_value(struct parser *p, int line, enum id id, const char *v, long i,
	   char b)
{
	struct lwstp_conf *c = p->conf;

	switch (id) {
	case ID_PLUGIN_DIR:
		if (c->count_plugin_dirs == LWSTP_CONF_MAX_PLUGIN_DIRS)
			return conf_fail(p, line, 1, "more than %d plugin "
					 "dirs (lws keeps that many)",
					 LWSTP_CONF_MAX_PLUGIN_DIRS);
		c->plugin_dirs[c->count_plugin_dirs++] = keep(p, v);
		break;
	case ID_INIT_SSL:
		c->init_ssl = b;
		break;
	case ID_UID:
		c->uid = (int)i;
		break;
	case ID_GID:
		c->gid = (int)i;
		break;
	case ID_USERNAME:
		c->username = keep(p, v);
		break;
	case ID_GROUPNAME:
		c->groupname = keep(p, v);
		break;
	case ID_THREADS:
		if (i > LWS_MAX_SMP) {
			lwsl_warn("%s:%d: global.count-threads: %ld, but this "
				  "lws has LWS_MAX_SMP %d: %d service thread%s"
				  "\n", p->file, line, i, LWS_MAX_SMP,
				  LWS_MAX_SMP, LWS_MAX_SMP == 1 ? "" : "s");
			c->warnings++;
		}
		break;
	case ID_NAME:
		p->vh->name = keep(p, v);
		break;
	case ID_PORT:
		p->vh->port = (int)i;
		p->port_seen = 1;
		break;
	case ID_CERT:
		p->vh->tls = 1;
		break;
	case ID_CA:
		p->ssl_ca = keep(p, v);
		break;
	case ID_CCR:
		p->client_cert_required = b;
		break;
	case ID_ALWAYS_ON:
		if (!b)
			return conf_fail(p, line, 1, "lws turns it on whatever "
					 "its value: remove the key to keep "
					 "it off");
		break;
	case ID_MOUNTPOINT:
		if (*v != '/' || strlen(v) > 255)
			return conf_fail(p, line, 1, "\"%s\": a mountpoint "
					 "starts with '/' and has at most 255 "
					 "characters", v);
		p->mountpoint = keep(p, v);
		p->mount_line = line;
		break;
	case ID_ORIGIN:
		p->origin = keep(p, v);
		p->origin_line = line;
		break;
	default:
		break;
	}

	return p->failed ? -1 : 0;
}

static int
member_scalar(struct parser *p, struct lejp_ctx *ctx, enum kind kind,
	      const char *key, const char *v)
{
	const struct key *k = find_key(kind, key);
	int line = (int)ctx->line;
	char b = 0;
	long i = 0;

	if (!k) {
		conf_warn_key(p, ctx, "not a key of lws's loader");
		return 0;
	}

	switch (k->type) {
	case T_STR:
		break;
	case T_NAME:
		if (!*v)
			return conf_fail(p, line, 1, "empty");
		break;
	case T_INT:
		if (parse_int(p, line, v, k->min, k->max, &i))
			return -1;
		break;
	case T_BOOL:
		if (parse_bool(p, line, v, &b))
			return -1;
		break;
	case T_DEPRECATED:
		conf_warn_key(p, ctx, k->why);
		return 0;
	case T_REFUSED:
		return conf_fail(p, line, 1, "refused: %s", k->why);
	default:
		return conf_fail(p, line, 1, "must be %s, not a single value",
				 k->type == T_NV_OBJ ? "an object" :
						       "an array");
	}

	return keep_value(p, line, k->id, v, i, b);
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
		conf_warn_key(p, ctx, "not a key of lws's loader");
		return 0;

	case K_GLOBAL:
	case K_VHOST:
	case K_MOUNT:
		return member_scalar(p, ctx, f->kind, f->key, v);

	case K_PROTOCOLS_OBJ:
		return conf_fail(p, line, 1, "a protocol's settings must be an "
				 "object, like { \"status\": \"ok\" }");

	case K_PROTOCOL:
		/* lws's list would be in reverse order: the last one wins */
		if (lws_pvo_search(p->proto->options, f->key))
			return conf_fail(p, line, 1, "given twice");
		if (!conf_nv_add(p, &f->nv_tail, f->key, v))
			return conf_fail(p, line, 1, "out of memory");
		return 0;

	case K_NV_OBJ:
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
	p->port_seen = 0;
	p->ssl_ca = NULL;
	p->client_cert_required = 0;

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
	if (p->client_cert_required && (!vh->tls || !p->ssl_ca))
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
	c->count_tls += vh->tls;
	p->vh = NULL;

	return 0;
}

/* the schemes of lws's loader, and whether this lws serves each */
static const struct {
	const char	*scheme;
	const char	*refused;
} schemes[] = {
	{ "file://",		NULL },
	{ "callback://",	NULL },
	{ ">http://",		NULL },
	{ ">https://",		NULL },
	{ "gzip://",		NULL },
#if defined(LWS_WITH_HTTP_PROXY)
	{ "http://",		NULL },
	{ "https://",		NULL },
#else
	{ "http://",	NO("LWS_WITH_HTTP_PROXY", "no reverse proxy") },
	{ "https://",	NO("LWS_WITH_HTTP_PROXY", "no reverse proxy") },
#endif
#if defined(LWS_ROLE_CGI)
	{ "cgi://",		NULL },
#else
	{ "cgi://",		NO("LWS_WITH_CGI", "no cgi") },
#endif
};

static int
mount_end(struct parser *p, struct frame *f)
{
	struct lwstp_conf_mount *m;
	size_t n, l = 0;

	if (!p->mountpoint)
		return conf_fail(p, f->line, 0, "mount has no \"mountpoint\"");
	if (!p->origin)
		return conf_fail(p, f->line, 0, "mount \"%s\" has no "
				 "\"origin\"", p->mountpoint);

	for (n = 0; n < LWS_ARRAY_SIZE(schemes); n++) {
		l = strlen(schemes[n].scheme);
		if (!strncmp(p->origin, schemes[n].scheme, l))
			break;
	}
	if (n == LWS_ARRAY_SIZE(schemes))
		return conf_fail(p, p->origin_line, 0, "\"origin\": \"%s\": "
				 "unknown scheme (file://, callback://, "
				 "http(s)://, >http(s)://, cgi://, gzip://)",
				 p->origin);
	if (schemes[n].refused)
		return conf_fail(p, p->origin_line, 0, "\"origin\": \"%s\": "
				 "refused: %s", p->origin, schemes[n].refused);
	if (!p->origin[l])
		return conf_fail(p, p->origin_line, 0, "\"origin\": \"%s\" "
				 "names nothing after the scheme", p->origin);

	if (!strcmp(schemes[n].scheme, "callback://")) {
		m = conf_zalloc(p, sizeof(*m));
		if (!m)
			return conf_fail(p, f->line, 0, "out of memory");
		m->mountpoint = p->mountpoint;
		m->protocol = p->origin + l;
		m->line = p->mount_line;
		m->next = p->vh->callback_mounts;
		p->vh->callback_mounts = m;
	}
	p->mountpoint = p->origin = NULL;

	return 0;
}

/* the kind of container a member of a global / vhost / mount must be */
static int
member_container(struct parser *p, struct lejp_ctx *ctx, enum kind kind,
		 const char *key, int is_array, enum kind *k, int *want_array)
{
	const struct key *t = find_key(kind, key);
	int line = (int)ctx->line;

	if (!t) {
		conf_warn_key(p, ctx, "not a key of lws's loader");
		return 0;	/* K_SKIP */
	}
	switch (t->type) {
	case T_NV_OBJ:
		*k = K_NV_OBJ;
		*want_array = 0;
		return 0;
	case T_NV_ARR:
		*k = K_NV_ARRAY;
		*want_array = 1;
		return 0;
	case T_MOUNTS:
		*k = K_MOUNTS;
		*want_array = 1;
		return 0;
	case T_PROTOCOLS:
		*k = K_PROTOCOLS;
		*want_array = 1;
		return 0;
	case T_REFUSED:
		return conf_fail(p, line, 1, "refused: %s", t->why);
	default:
		return conf_fail(p, line, 1, "must be %s, not %s",
				 t->type == T_INT ? "a number" :
				 t->type == T_BOOL ? "a boolean" : "a string",
				 is_array ? "an array" : "an object");
	}
}

/* an object or array starts: decide what it is from where it stands */
int
conf_container_start(struct parser *p, struct lejp_ctx *ctx, int is_array)
{
	struct frame *f = p->sp ? &p->st[p->sp - 1] : NULL, *nf;
	int line = (int)ctx->line;
	enum kind k = K_SKIP;
	int want_array = -1;	/* -1: either is fine (skipped) */
	const char *key;

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
			conf_warn_key(p, ctx, "not a key of lws's loader");
		break;

	case K_GLOBAL:
	case K_VHOST:
	case K_MOUNT:
		if (member_container(p, ctx, f->kind, key, is_array, &k,
				     &want_array))
			return -1;
		break;

	case K_VHOSTS:
		k = K_VHOST;
		want_array = 0;
		break;
	case K_MOUNTS:
		k = K_MOUNT;
		want_array = 0;
		break;
	case K_PROTOCOLS:
		k = K_PROTOCOLS_OBJ;
		want_array = 0;
		break;
	case K_PROTOCOLS_OBJ:
		k = K_PROTOCOL;
		want_array = 0;
		break;
	case K_NV_ARRAY:
		k = K_NV_OBJ;
		want_array = 0;
		break;

	case K_PROTOCOL:
		return conf_fail(p, line, 1, "a protocol option must be a "
				 "string, not %s", is_array ? "an array" :
						 "an object");
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
	if (k == K_VHOST && vhost_start(p, ctx))
		return -1;
	if (k == K_MOUNT)
		p->mountpoint = p->origin = NULL;

	nf = conf_push(p, ctx, k, is_array);
	if (!nf)
		return -1;

	if (k == K_PROTOCOL) {
		struct lws_protocol_vhost_options *o;

		for (o = p->vh->pvo; o; o = (void *)o->next)
			if (!strcmp(o->name, key))
				return conf_fail(p, line, 0, "protocol \"%s\" "
						 "is listed twice", key);
		o = conf_nv_add(p, &p->pvo_tail, key, "");
		if (!o)
			return conf_fail(p, line, 0, "out of memory");
		nf->nv_tail = (struct lws_protocol_vhost_options **)
								&o->options;
		p->proto = o;
	}

	return 0;
}

int
conf_container_end(struct parser *p)
{
	struct frame *f = &p->st[p->sp - 1];
	int r = 0;

	if (f->kind == K_VHOST)
		r = vhost_end(p, f);
	else if (f->kind == K_MOUNT)
		r = mount_end(p, f);
	p->sp--;

	return r;
}
