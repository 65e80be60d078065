/*
 * What the three input parsers promise, as checks on one input each:
 *
 *   lwstp_plugin_parse_msg()	plugins/protocol_lws_threadpool/msg.h
 *   lwstp_plugin_parse_opts()	plugins/protocol_lws_threadpool/opts.h
 *   lwstp_conf_parse()		test-apps/lwstp-server/conf.h
 *
 * Each chk_*() runs the parser on the input and returns NULL, or a short
 * text saying which promise was broken.  The fuzz targets (fuzz/) abort on
 * a non-NULL answer, so a fuzzer finds broken promises as well as crashes;
 * tests/reliability/test-parsers.c runs the same checks on seeded
 * mutations of good inputs, in every build.
 */

#ifndef LWSTP_FUZZ_CHECKS_H
#define LWSTP_FUZZ_CHECKS_H

#include "msg.h"
#include "opts.h"
#include "conf.h"

#include <stdlib.h>
#include <string.h>

/* an error text: terminated inside errlen, not empty */
static inline const char *
chk_reason(const char *err, size_t errlen)
{
	if (!memchr(err, '\0', errlen))
		return "error text not terminated within errlen";
	if (!err[0])
		return "failure without a reason";

	return NULL;
}

/* a parse into a small error buffer must not write past it */
#define CHK_GUARD	"\x5a\x5a\x5a\x5a"

/* --- client messages ------------------------------------------------------ */

static inline int
chk_hex32(const char *t)
{
	int n;

	for (n = 0; n < LWSTP_TOKEN_LEN; n++)
		if (!((t[n] >= '0' && t[n] <= '9') ||
		      (t[n] >= 'a' && t[n] <= 'f')))
			return 0;

	return t[LWSTP_TOKEN_LEN] == '\0';
}

static inline const char *
chk_msg(const char *buf, size_t len)
{
	char err[256], small[5 + 4];
	struct lwstp_msg m;
	const char *e, *p;
	int r, r2;

	memset(err, 'Z', sizeof(err));
	r = lwstp_plugin_parse_msg(buf, len, &m, err, sizeof(err));

	if (r != LWSTP_MSG_OK && r != LWSTP_MSG_E_JSON &&
	    r != LWSTP_MSG_E_INVALID && r != LWSTP_MSG_E_TOO_BIG)
		return "msg: result is not an lwstp_msg_result";
	if (len > LWSTP_MSG_MAX && r != LWSTP_MSG_E_TOO_BIG)
		return "msg: over LWSTP_MSG_MAX bytes but not E_TOO_BIG";
	if (len <= LWSTP_MSG_MAX && r == LWSTP_MSG_E_TOO_BIG)
		return "msg: E_TOO_BIG for a message within LWSTP_MSG_MAX";

	if (r) {
		if ((e = chk_reason(err, sizeof(err))))
			return e;
		/* "safe to embed in a JSON string" */
		for (p = err; *p; p++)
			if (*p == '"' || *p == '\\' ||
			    (unsigned char)*p < 0x20)
				return "msg: error text not JSON-safe";
		p = lwstp_plugin_msg_code(r);
		if (!p || !*p)
			return "msg: no code for a failure";
	} else {
		switch (m.op) {
		case LWSTP_OP_START:
			if (strcmp(m.job, "sha256"))
				return "msg: start accepted with a job other "
				       "than sha256";
			if (m.size < 1 || m.size > LWSTP_MSG_SIZE_MAX)
				return "msg: start accepted with size out of "
				       "range";
			if (m.outlive != 0 && m.outlive != 1)
				return "msg: outlive neither 0 nor 1";
			break;
		case LWSTP_OP_STOP:
			if (m.id > LWSTP_MSG_SIZE_MAX)
				return "msg: stop accepted with id out of "
				       "range";
			break;
		case LWSTP_OP_STOP_TOKEN:
		case LWSTP_OP_ATTACH:
			if (!chk_hex32(m.token))
				return "msg: attach accepted with a token not "
				       "32 lowercase hex digits";
			break;
		default:
			return "msg: accepted without an op";
		}
	}

	/* the same verdict into a 5-byte error buffer, nothing past it */
	memcpy(small + 5, CHK_GUARD, 4);
	r2 = lwstp_plugin_parse_msg(buf, len, &m, small, 5);
	if (r2 != r)
		return "msg: another result with a smaller error buffer";
	if (memcmp(small + 5, CHK_GUARD, 4))
		return "msg: wrote past errlen";
	if (r && !memchr(small, '\0', 5))
		return "msg: short error text not terminated";

	return NULL;
}

/* --- per-vhost options ---------------------------------------------------- */

static inline const char *
chk_opts(const struct lws_protocol_vhost_options *pvo)
{
	struct lwstp_plugin_opts o;
	char err[512], small[6 + 4];
	const char *e;
	int r, r2;

	memset(err, 'Z', sizeof(err));
	r = lwstp_plugin_parse_opts(pvo, "fuzzvh", &o, err, sizeof(err));
	if (r != 0 && r != -1)
		return "opts: result neither 0 nor -1";
	if (r) {
		if ((e = chk_reason(err, sizeof(err))))
			return e;
		if (!strstr(err, "fuzzvh"))
			return "opts: error does not name the vhost";
	} else if (o.threads < 1 || o.max_queue_depth < 0 ||
		   o.sync_timeout_ms < 1 || o.sync_timeout_ms > 3600000 ||
		   o.max_tasks_per_conn < 1 ||
		   o.max_tasks_per_conn > LWSTP_PLUGIN_MAX_TASKS_PER_CONN ||
		   o.job_deadline_ms < 1 || o.job_deadline_ms > 3600000 ||
		   o.worker_nice < 0 || o.worker_nice > 19 ||
		   o.max_job_size < 1 ||
		   o.max_job_size > LWSTP_PLUGIN_MAX_JOB_SIZE ||
		   o.result_ttl_ms < 1 || o.result_ttl_ms > 86400000 ||
		   o.max_results < 1 || o.max_results > 100000 ||
		   o.progress_interval_ms > 60000)
		return "opts: accepted a value out of its range";

	memcpy(small + 6, CHK_GUARD, 4);
	r2 = lwstp_plugin_parse_opts(pvo, "fuzzvh", &o, small, 6);
	if (r2 != r)
		return "opts: another result with a smaller error buffer";
	if (memcmp(small + 6, CHK_GUARD, 4))
		return "opts: wrote past errlen";

	return NULL;
}

/*
 * The fuzzer's bytes as a pvo list: lines "name=value" (a line without
 * '=' is a name with a NULL value).  Returns the count, at most max.
 */
static inline int
chk_opts_from_text(char *text, struct lws_protocol_vhost_options *pvo,
		   int max)
{
	char *line = text, *nl, *eq;
	int n = 0;

	while (line && *line && n < max) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		memset(&pvo[n], 0, sizeof(pvo[n]));
		eq = strchr(line, '=');
		if (eq)
			*eq = '\0';
		pvo[n].name = line;
		pvo[n].value = eq ? eq + 1 : NULL;
		if (n)
			pvo[n - 1].next = &pvo[n];
		n++;
		line = nl ? nl + 1 : NULL;
	}

	return n;
}

/* --- configuration files -------------------------------------------------- */

static inline const char *
chk_conf_result(const struct lwstp_conf *c)
{
	const struct lwstp_conf_vhost *v;
	const struct lwstp_conf_mount *mt;
	const struct lws_protocol_vhost_options *pv, *o;
	int n = 0, i;

	for (v = c->vhosts; v; v = v->next) {
		n++;
		if (!v->name)
			return "conf: a vhost without a name";
		if (v->port < 1 || v->port > 65535)
			return "conf: a vhost port out of 1..65535";
		if (!v->file || v->line < 1)
			return "conf: a vhost without its file and line";
		for (mt = v->callback_mounts; mt; mt = mt->next) {
			if (!mt->mountpoint || mt->mountpoint[0] != '/')
				return "conf: a mountpoint not starting "
				       "with '/'";
			if (!mt->protocol || !*mt->protocol)
				return "conf: a callback mount without its "
				       "protocol";
		}
		for (pv = v->pvo; pv; pv = pv->next) {
			if (!pv->name)
				return "conf: a protocol without a name";
			for (o = pv->options; o; o = o->next)
				if (!o->name || !o->value)
					return "conf: a protocol option "
					       "without name or value";
		}
	}
	if (n != c->count_vhosts)
		return "conf: count_vhosts is not the length of the list";
	if (c->count_plugin_dirs < 0 ||
	    c->count_plugin_dirs > LWSTP_CONF_MAX_PLUGIN_DIRS)
		return "conf: count_plugin_dirs out of range";
	for (i = 0; i < c->count_plugin_dirs; i++)
		if (!c->plugin_dirs[i])
			return "conf: a NULL plugin dir";
	if (c->plugin_dirs[c->count_plugin_dirs])
		return "conf: plugin_dirs not NULL-terminated";

	return NULL;
}

static inline const char *
chk_conf(const char *buf, size_t len)
{
	char err[512], small[7 + 4];
	struct lwstp_conf c;
	const char *e = NULL;
	int r, r2;

	memset(&c, 0, sizeof(c));
	memset(err, 'Z', sizeof(err));
	r = lwstp_conf_parse(buf, len, "fuzz.conf", &c, err, sizeof(err));
	if (r != 0 && r != -1)
		e = "conf: result neither 0 nor -1";
	else if (r) {
		e = chk_reason(err, sizeof(err));
		if (!e && strncmp(err, "fuzz.conf:", 10))
			e = "conf: error does not start with the file name";
	} else
		e = chk_conf_result(&c);
	lwstp_conf_destroy(&c);
	if (e)
		return e;

	memset(&c, 0, sizeof(c));
	memcpy(small + 7, CHK_GUARD, 4);
	r2 = lwstp_conf_parse(buf, len, "fuzz.conf", &c, small, 7);
	lwstp_conf_destroy(&c);
	if (r2 != r)
		return "conf: another result with a smaller error buffer";
	if (memcmp(small + 7, CHK_GUARD, 4))
		return "conf: wrote past errlen";

	return NULL;
}

#endif
