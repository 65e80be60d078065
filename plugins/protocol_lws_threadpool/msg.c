/*
 * protocol_lws_threadpool: parse and validate one client message with LEJP.
 *
 * LEJP calls back for each member name and value.  The callback checks, as
 * it goes, that each member is one we know, seen once, of the right type
 * and in range, and stops the parse (returning non-zero) at the first
 * problem, leaving the reason in the error buffer.  Which members an op
 * needs is checked at the end, since "op" may come last.
 */

#include "msg.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	F_OP,
	F_JOB,
	F_SIZE,
	F_OUTLIVE,
	F_ID,
	F_TOKEN,

	F_COUNT
};

#define F(x)	(1u << (x))

/* LEJP paths: index + 1 is ctx->path_match */
static const char * const msg_paths[F_COUNT] = {
	"op", "job", "size", "outlive", "id", "token"
};

static const char * const type_names[F_COUNT] = {
	"a string", "a string", "an integer", "true or false", "an integer",
	"a string"
};

/* what each op requires, and what it may also have */
static const struct {
	const char	*name;
	unsigned int	required;
	unsigned int	allowed;
} ops[] = {
	[LWSTP_OP_START]  = { "start", F(F_OP) | F(F_JOB) | F(F_SIZE),
			      F(F_OP) | F(F_JOB) | F(F_SIZE) | F(F_OUTLIVE) },
	/* exactly one of id and token: checked after the table */
	[LWSTP_OP_STOP]   = { "stop", F(F_OP), F(F_OP) | F(F_ID) | F(F_TOKEN) },
	[LWSTP_OP_ATTACH] = { "attach", F(F_OP) | F(F_TOKEN),
			      F(F_OP) | F(F_TOKEN) },
};

struct msg_parse {
	struct lwstp_msg	*m;
	char			*err;
	size_t			errlen;
	unsigned int		seen;
	int			result;	/* LWSTP_MSG_E_* once it failed */
};

/* longest piece of client text quoted in an error */
#define SAFE_MAX	40

/* client text made safe for the error text (it ends up in a JSON string) */
static void
safe_copy(char *dst, size_t dlen, const char *src, size_t slen)
{
	size_t n, o = 0;

	for (n = 0; n < slen && o + 1 < dlen; n++) {
		if (o == SAFE_MAX) {
			/* long enough to recognise it */
			if (o + 4 < dlen) {
				memcpy(dst + o, "...", 3);
				o += 3;
			}
			break;
		}
		dst[o++] = (src[n] >= 0x20 && src[n] < 0x7f &&
			    src[n] != '"' && src[n] != '\\') ? src[n] : '?';
	}
	if (dlen)
		dst[o] = '\0';
}

static signed char
fail(struct msg_parse *mp, int result, const char *fmt, ...) LWS_FORMAT(3);

static signed char
fail(struct msg_parse *mp, int result, const char *fmt, ...)
{
	va_list ap;

	mp->result = result;
	if (mp->errlen) {
		va_start(ap, fmt);
		vsnprintf(mp->err, mp->errlen, fmt, ap);
		va_end(ap);
	}

	return -1;
}

static signed char
wrong_type(struct msg_parse *mp, int f)
{
	return fail(mp, LWSTP_MSG_E_INVALID, "field '%s' must be %s",
		    msg_paths[f], type_names[f]);
}

/* a decimal integer 1 .. LWSTP_MSG_SIZE_MAX, no sign, no leading zero */
static int
parse_count(const char *s, size_t len, uint64_t *v)
{
	char tmp[24], *end;
	size_t n;

	if (!len || len >= sizeof(tmp) || s[0] < '1' || s[0] > '9')
		return -1;
	for (n = 0; n < len; n++)
		if (s[n] < '0' || s[n] > '9')
			return -1;
	memcpy(tmp, s, len);
	tmp[len] = '\0';

	errno = 0;
	*v = strtoull(tmp, &end, 10);
	if (errno || *end || *v > LWSTP_MSG_SIZE_MAX)
		return -1;

	return 0;
}

static signed char
on_string(struct msg_parse *mp, int f, const char *s, size_t len)
{
	struct lwstp_msg *m = mp->m;
	char shown[SAFE_MAX + 4];
	size_t n;

	safe_copy(shown, sizeof(shown), s, len);

	switch (f) {
	case F_OP:
		for (n = 1; n < LWS_ARRAY_SIZE(ops); n++)
			if (strlen(ops[n].name) == len &&
			    !memcmp(ops[n].name, s, len)) {
				m->op = (enum lwstp_msg_op)n;
				return 0;
			}
		return fail(mp, LWSTP_MSG_E_INVALID, "unknown op '%s' "
			    "(start, stop or attach)", shown);

	case F_JOB:
		if (len != 6 || memcmp(s, "sha256", 6))
			return fail(mp, LWSTP_MSG_E_INVALID, "unknown job '%s'"
				    " (only sha256)", shown);
		memcpy(m->job, s, len);
		m->job[len] = '\0';
		return 0;

	case F_TOKEN:
		if (len != LWSTP_TOKEN_LEN)
			goto bad_token;
		for (n = 0; n < len; n++) {
			char c = s[n];

			if (c >= 'A' && c <= 'F')
				c = (char)(c - 'A' + 'a');
			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
				goto bad_token;
			m->token[n] = c;
		}
		m->token[len] = '\0';
		return 0;

	default:
		return wrong_type(mp, f);
	}

bad_token:
	return fail(mp, LWSTP_MSG_E_INVALID, "token '%s' is not %d hex "
		    "digits", shown, LWSTP_TOKEN_LEN);
}

static signed char
on_number(struct msg_parse *mp, int f, const char *s, size_t len)
{
	char shown[SAFE_MAX + 4];
	uint64_t v;

	if (f != F_SIZE && f != F_ID)
		return wrong_type(mp, f);

	if (parse_count(s, len, &v)) {
		safe_copy(shown, sizeof(shown), s, len);
		return fail(mp, LWSTP_MSG_E_INVALID, "field '%s' must be an "
			    "integer in 1..%llu, not %s", msg_paths[f],
			    (unsigned long long)LWSTP_MSG_SIZE_MAX, shown);
	}
	if (f == F_SIZE)
		mp->m->size = v;
	else
		mp->m->id = v;

	return 0;
}

static signed char
msg_cb(struct lejp_ctx *ctx, char reason)
{
	struct msg_parse *mp = (struct msg_parse *)ctx->user;
	int f = ctx->path_match - 1;
	char shown[SAFE_MAX + 4];

	switch (reason) {
	case LEJPCB_CONSTRUCTED:
	case LEJPCB_DESTRUCTED:
	case LEJPCB_START:
	case LEJPCB_COMPLETE:
	case LEJPCB_FAILED:
	case LEJPCB_OBJECT_END:
	case LEJPCB_ARRAY_END:
	case LEJPCB_VAL_STR_START:
		return 0;

	case LEJPCB_OBJECT_START:
		if (!ctx->path[0])
			return 0;	/* the message itself */
		break;

	case LEJPCB_ARRAY_START:
		if (!strcmp(ctx->path, "[]"))
			return fail(mp, LWSTP_MSG_E_JSON, "the message must be "
				    "a JSON object");
		break;

	case LEJPCB_PAIR_NAME:
		if (f < 0) {
			safe_copy(shown, sizeof(shown), ctx->path,
				  strlen(ctx->path));
			return fail(mp, LWSTP_MSG_E_INVALID, "unknown field "
				    "'%s'", shown);
		}
		if (mp->seen & F(f))
			return fail(mp, LWSTP_MSG_E_INVALID, "duplicate field "
				    "'%s'", msg_paths[f]);
		mp->seen |= F(f);
		return 0;

	case LEJPCB_VAL_STR_END:
		return on_string(mp, f, ctx->buf, ctx->npos);

	case LEJPCB_VAL_STR_CHUNK:
		if (f < 0)
			break;
		return fail(mp, LWSTP_MSG_E_INVALID, "field '%s' is too "
			    "long", msg_paths[f]);

	case LEJPCB_VAL_NUM_INT:
		return on_number(mp, f, ctx->buf, ctx->npos);

	case LEJPCB_VAL_TRUE:
	case LEJPCB_VAL_FALSE:
		if (f != F_OUTLIVE)
			break;
		mp->m->outlive = reason == LEJPCB_VAL_TRUE;
		return 0;

	default: /* null, float */
		break;
	}

	/* a value (or an object / array) of the wrong type for field f */
	if (f < 0)	/* can't happen: unknown names fail above */
		return fail(mp, LWSTP_MSG_E_INVALID, "unexpected value");

	return wrong_type(mp, f);
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* LEJP refuses "{}"; it is valid JSON, just not a valid message */
static int
is_empty_object(const char *buf, size_t len)
{
	size_t n = 0;

	while (n < len && is_space(buf[n]))
		n++;
	if (n == len || buf[n++] != '{')
		return 0;
	while (n < len && is_space(buf[n]))
		n++;
	if (n == len || buf[n++] != '}')
		return 0;
	while (n < len && is_space(buf[n]))
		n++;

	return n == len;
}

int
lwstp_plugin_parse_msg(const char *buf, size_t len, struct lwstp_msg *out,
		       char *err, size_t errlen)
{
	const char *why;
	struct lejp_ctx ctx;
	struct msg_parse mp;
	unsigned int extra, missing;
	size_t n;
	int r, f;

	memset(out, 0, sizeof(*out));
	memset(&mp, 0, sizeof(mp));
	mp.m = out;
	mp.err = err;
	mp.errlen = errlen;
	if (errlen)
		err[0] = '\0';

	if (len > LWSTP_MSG_MAX) {
		lws_snprintf(err, errlen, "message of %llu bytes is over the "
			     "%d byte limit", (unsigned long long)len,
			     LWSTP_MSG_MAX);
		return LWSTP_MSG_E_TOO_BIG;
	}
	if (!buf || !len) {
		lws_snprintf(err, errlen, "empty message");
		return LWSTP_MSG_E_JSON;
	}

	lejp_construct(&ctx, msg_cb, &mp, msg_paths, F_COUNT);
	r = lejp_parse(&ctx, (const unsigned char *)buf, (int)len);
	lejp_destruct(&ctx);

	if (mp.result) {
		memset(out, 0, sizeof(*out));
		return mp.result;
	}
	if (r < 0 && r != LEJP_CONTINUE && is_empty_object(buf, len)) {
		memset(out, 0, sizeof(*out));
		r = 0;
	}
	if (r < 0) {
		memset(out, 0, sizeof(*out));
		if (r == LEJP_CONTINUE) {
			lws_snprintf(err, errlen, "truncated JSON");
			return LWSTP_MSG_E_JSON;
		}
		why = lejp_error_to_string(r);
		lws_snprintf(err, errlen, "bad JSON: ");
		n = strlen(err);
		if (n < errlen)
			safe_copy(err + n, errlen - n, why, strlen(why));
		return LWSTP_MSG_E_JSON;
	}
	/* r: bytes left after the object; only whitespace may follow it */
	for (n = len - (size_t)r; n < len; n++)
		if (!is_space(buf[n])) {
			memset(out, 0, sizeof(*out));
			lws_snprintf(err, errlen, "bad JSON: data after the "
				     "object");
			return LWSTP_MSG_E_JSON;
		}

	if (out->op == LWSTP_OP_NONE) {
		lws_snprintf(err, errlen, "missing field 'op'");
		return LWSTP_MSG_E_INVALID;
	}

	missing = ops[out->op].required & ~mp.seen;
	extra = mp.seen & ~ops[out->op].allowed;
	for (f = 0; f < F_COUNT; f++) {
		if (missing & F(f)) {
			lws_snprintf(err, errlen, "op '%s' needs field '%s'",
				     ops[out->op].name, msg_paths[f]);
			break;
		}
		if (extra & F(f)) {
			lws_snprintf(err, errlen, "field '%s' is not valid in "
				     "op '%s'", msg_paths[f],
				     ops[out->op].name);
			break;
		}
	}
	if (f == F_COUNT && out->op == LWSTP_OP_STOP &&
	    !(mp.seen & F(F_ID)) == !(mp.seen & F(F_TOKEN))) {
		lws_snprintf(err, errlen, "op 'stop' needs field 'id' or "
			     "field 'token', not both");
		f = 0;
	}
	if (f < F_COUNT) {
		memset(out, 0, sizeof(*out));
		return LWSTP_MSG_E_INVALID;
	}
	if (out->op == LWSTP_OP_STOP && (mp.seen & F(F_TOKEN)))
		out->op = LWSTP_OP_STOP_TOKEN;

	return LWSTP_MSG_OK;
}

const char *
lwstp_plugin_msg_code(int result)
{
	switch (result) {
	case LWSTP_MSG_E_JSON:
		return "bad-json";
	case LWSTP_MSG_E_TOO_BIG:
		return "too-big";
	default:
		return "bad-message";
	}
}
