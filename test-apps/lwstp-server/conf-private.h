/*
 * lwstp-server - what the two halves of the configuration parser share
 *
 * conf.c drives LEJP: the stack of open objects and arrays, string values,
 * messages, storage, the directory.  conf-keys.c knows the keys of lws's
 * loader: where each may stand, what value it takes, what a vhost and a
 * mount need.
 */

#ifndef LWSTP_SERVER_CONF_PRIVATE_H
#define LWSTP_SERVER_CONF_PRIVATE_H

#include "conf.h"

#define MAX_FRAMES	16	/* LEJP stops at LEJP_MAX_DEPTH (12) anyway */
#define MAX_KEY		64	/* a key as quoted in messages */

/* what an open object or array is */
enum kind {
	K_ROOT,		/* the top-level object */
	K_GLOBAL,	/* "global": { } */
	K_VHOSTS,	/* "vhosts": [ ] */
	K_VHOST,	/* { } in "vhosts" */
	K_MOUNTS,	/* "mounts": [ ] */
	K_MOUNT,	/* { } in "mounts" */
	K_PROTOCOLS,	/* "ws-protocols": [ ] */
	K_PROTOCOLS_OBJ, /* { "protocol": { }, ... } in "ws-protocols" */
	K_PROTOCOL,	/* { "option": "value", ... } of one protocol */
	K_NV_ARRAY,	/* [ { "name": "value" }, ... ] ("headers") */
	K_NV_OBJ,	/* { "name": "value", ... }: strings */
	K_SKIP,		/* the value of an ignored key */
};

struct frame {
	enum kind			kind;
	int				is_array;
	int				count;	 /* members / elements so far */
	size_t				pathlen; /* strlen(ctx->path) here */
	int				line;	 /* of its '{' or '[' */
	char				key[MAX_KEY]; /* current member (obj) */
	/* K_PROTOCOL: where its options are appended */
	struct lws_protocol_vhost_options **nv_tail;
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

	char				*str;	/* the string being read */
	size_t				str_len, str_alloc;

	struct lwstp_conf_vhost		*vh;	/* the vhost being read */
	struct lws_protocol_vhost_options **pvo_tail;
	struct lws_protocol_vhost_options *proto; /* the protocol being read */
	/* the vhost being read */
	const char			*ssl_ca;
	char				client_cert_required;
	int				port_seen;
	/* the mount being read */
	int				mount_line, origin_line;
	const char			*mountpoint, *origin;
};

/* conf.c */

int LWS_FORMAT(4)
conf_fail(struct parser *p, int line, int with_key, const char *fmt, ...);
void
conf_warn_key(struct parser *p, const struct lejp_ctx *ctx, const char *why);
void *
conf_zalloc(struct parser *p, size_t size);
char *
conf_strdup(struct parser *p, const char *s, size_t len);
struct lws_protocol_vhost_options *
conf_nv_add(struct parser *p, struct lws_protocol_vhost_options ***tail,
	    const char *name, const char *value);
struct frame *
conf_push(struct parser *p, struct lejp_ctx *ctx, enum kind kind,
	  int is_array);

/* conf-keys.c */

int
conf_scalar(struct parser *p, struct lejp_ctx *ctx, const char *v,
	    int is_null);
int
conf_container_start(struct parser *p, struct lejp_ctx *ctx, int is_array);
int
conf_container_end(struct parser *p);

#endif
