/*
 * lwstp-server - the strict configuration check: driving LEJP
 *
 * LEJP reports a stream of events (key, start / end of an object or array,
 * a scalar value).  The parser keeps its own stack of open containers, each
 * with what it is (the top level, "global", a vhost, a mount, ...), so every
 * value is judged by where it stands, not by matching path strings; what
 * each key may be is conf-keys.c's business.  A value in the wrong place or
 * of the wrong kind stops the parse with "FILE:LINE: KEY: what is wrong";
 * a key lws's loader does not know is logged with lwsl_warn and its value,
 * whatever it holds, skipped.  lwstp_conf_load_dir() reads the files lws's
 * loader reads, in its order.
 *
 * See conf.h for what is checked.
 */

#include "conf-private.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
			q += lws_snprintf(q, (size_t)lws_ptr_diff(end, q),
					  "[%d]", f->count ? f->count - 1 : 0);
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

int LWS_FORMAT(4)
conf_fail(struct parser *p, int line, int with_key, const char *fmt, ...)
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

void
conf_warn_key(struct parser *p, const struct lejp_ctx *ctx, const char *why)
{
	char path[256];

	keypath(p, p->sp, 1, path, sizeof(path));
	lwsl_warn("%s:%u: %s: %s, ignored\n", p->file, ctx->line, path, why);
	p->conf->warnings++;
}

/* --- storage ------------------------------------------------------------- */

void *
conf_zalloc(struct parser *p, size_t size)
{
	return lwsac_use_zero(&p->conf->ac, size, 0);
}

char *
conf_strdup(struct parser *p, const char *s, size_t len)
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
struct lws_protocol_vhost_options *
conf_nv_add(struct parser *p, struct lws_protocol_vhost_options ***tail,
	    const char *name, const char *value)
{
	struct lws_protocol_vhost_options *o = conf_zalloc(p, sizeof(*o));

	if (!o)
		return NULL;
	o->name = conf_strdup(p, name, strlen(name));
	o->value = conf_strdup(p, value, strlen(value));
	if (!o->name || !o->value)
		return NULL;
	**tail = o;
	*tail = (struct lws_protocol_vhost_options **)&o->next;

	return o;
}

/* --- containers ---------------------------------------------------------- */

struct frame *
conf_push(struct parser *p, struct lejp_ctx *ctx, enum kind kind,
	  int is_array)
{
	struct frame *f;

	if (p->sp == MAX_FRAMES) {
		conf_fail(p, (int)ctx->line, 1, "nested too deeply");
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
			return (signed char)conf_fail(p, (int)ctx->line, 1,
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
		return (signed char)conf_container_start(p, ctx, 0);
	case LEJPCB_ARRAY_START:
		return (signed char)conf_container_start(p, ctx, 1);

	case LEJPCB_OBJECT_END:
	case LEJPCB_ARRAY_END:
		if (!f)
			return -1;
		return (signed char)conf_container_end(p);

	case LEJPCB_VAL_STR_START:
		p->str_len = 0;
		if (str_append(p, "", 0))
			return (signed char)conf_fail(p, (int)ctx->line, 1,
						      "out of memory");
		return 0;

	case LEJPCB_VAL_STR_CHUNK:
	case LEJPCB_VAL_STR_END:
		if (str_append(p, ctx->buf, ctx->npos))
			return (signed char)conf_fail(p, (int)ctx->line, 1,
						      "string too long");
		if (reason == LEJPCB_VAL_STR_CHUNK)
			return 0;
		if (strlen(p->str) != p->str_len)
			return (signed char)conf_fail(p, (int)ctx->line, 1,
					"a string holds a NUL character");
		if (!f)
			return -1;
		/* lws's loader reassembles the pieces of headers only */
		if (p->str_len > LEJP_STRING_CHUNK && f->kind != K_NV_OBJ)
			return (signed char)conf_fail(p, (int)ctx->line, 1,
				"longer than %d characters: lws's loader would "
				"keep only its last part", LEJP_STRING_CHUNK);
		return (signed char)conf_scalar(p, ctx, p->str, 0);

	case LEJPCB_VAL_TRUE:
	case LEJPCB_VAL_FALSE:
	case LEJPCB_VAL_NUM_INT:
	case LEJPCB_VAL_NUM_FLOAT:
		if (!f)
			return -1;
		/* as lws's loader: the text LEJP leaves, "1" / "0" for
		 * true / false */
		return (signed char)conf_scalar(p, ctx, ctx->buf, 0);

	case LEJPCB_VAL_NULL:
		if (!f)
			return -1;
		return (signed char)conf_scalar(p, ctx, "", 1);

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
		return conf_fail(p, line, 0, "unexpected text after the "
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
		return conf_fail(&p, 1, 0, "file larger than %d bytes",
				 LWSTP_CONF_MAX_FILE);

	p.file_kept = conf_strdup(&p, p.file, strlen(p.file));
	if (!p.file_kept)
		return conf_fail(&p, 1, 0, "out of memory");

	lejp_construct(&ctx, conf_cb, &p, NULL, 0);
	m = lejp_parse(&ctx, (const unsigned char *)buf, (int)len);
	line = (int)ctx.line;
	lejp_destruct(&ctx);

	if (!p.failed) {
		if (m == LEJP_CONTINUE)
			conf_fail(&p, line, 1, "unexpected end of file%s",
				  p.sp ? " (an object or array is not closed)" :
				       " (expected a JSON object)");
		else if (m < 0)
			conf_fail(&p, line, 1, "bad JSON: %s",
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

/* --- files and the directory --------------------------------------------- */

static int
load_file(const char *path, struct lwstp_conf *out, char *err, size_t errlen)
{
	struct stat st;
	ssize_t got;
	size_t have = 0;
	char *buf;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		lws_snprintf(err, errlen, "%s: cannot open: %s", path,
			     strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) ||
	    st.st_size > LWSTP_CONF_MAX_FILE) {
		lws_snprintf(err, errlen, "%s:1: (top level): %s", path,
			     S_ISREG(st.st_mode) ? "larger than 1 MiB" :
						   "not a regular file");
		close(fd);
		return -1;
	}
	buf = malloc((size_t)st.st_size + 1);
	while (buf && have < (size_t)st.st_size) {
		got = read(fd, buf + have, (size_t)st.st_size - have);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		have += (size_t)got;
	}
	close(fd);
	if (!buf || have != (size_t)st.st_size) {
		lws_snprintf(err, errlen, "%s: %s", path,
			     buf ? "read failed" : "out of memory");
		free(buf);
		return -1;
	}
	out->bytes += (int)have;
	r = lwstp_conf_parse(buf, have, path, out, err, errlen);
	free(buf);

	return r;
}

struct dir_walk {
	struct lwstp_conf	*out;
	char			*err;
	size_t			errlen;
	int			failed;
};

/* the files lws's loader reads (lwsws_get_config_d_cb()): what lws_dir()
 * lists as a regular file, or as unknown (ZFS) */
static int
dir_cb(const char *dirpath, void *user, struct lws_dir_entry *lde)
{
	struct dir_walk *w = (struct dir_walk *)user;
	char path[PATH_MAX];

	if (lde->type != LDOT_FILE && lde->type != LDOT_UNKNOWN)
		return 0;
	lws_snprintf(path, sizeof(path), "%s/%s", dirpath, lde->name);
	w->failed = load_file(path, w->out, w->err, w->errlen);

	return w->failed;	/* non-zero stops the walk */
}

int
lwstp_conf_load_dir(const char *dir, struct lwstp_conf *out, char *err,
		    size_t errlen)
{
	struct dir_walk w = { out, err, errlen, 0 };
	const struct lwstp_conf_vhost *vh;
	char path[PATH_MAX];
	struct stat st;

	/* lws's loader builds "DIR/conf.d" and its files' paths in 128 and
	 * 256 bytes, cutting longer ones */
	if (strlen(dir) > 100) {
		lws_snprintf(err, errlen, "%s: a config dir path longer than "
			     "100 characters: lws's loader would cut it", dir);
		return -1;
	}
	lws_snprintf(path, sizeof(path), "%s/conf", dir);
	if (load_file(path, out, err, errlen))
		return -1;

	lws_snprintf(path, sizeof(path), "%s/conf.d", dir);
	if (!stat(path, &st)) {
		if (!S_ISDIR(st.st_mode)) {
			lws_snprintf(err, errlen, "%s: not a directory", path);
			return -1;
		}
		lws_dir(path, &w, dir_cb);
		if (w.failed)
			return -1;
	}

	if (!out->count_vhosts) {
		lws_snprintf(err, errlen, "%s: no vhost configured", dir);
		return -1;
	}
	/* lws sets TLS up only with LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT:
	 * without it the vhost would serve plain http */
	for (vh = out->vhosts; vh && !out->init_ssl; vh = vh->next)
		if (vh->tls) {
			lws_snprintf(err, errlen, "%s:%d: vhosts[]: vhost "
				     "\"%s\" has \"host-ssl-cert\", but the "
				     "global \"init-ssl\" is not on: lws would "
				     "serve it as plain http", vh->file,
				     vh->line, vh->name);
			return -1;
		}

	return 0;
}
