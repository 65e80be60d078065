/*
 * protocol_lwstp_conftest - a protocol plugin for testing lwstp-server's
 * configuration handling
 *
 * Protocol "lwstp-conftest".  At LWS_CALLBACK_PROTOCOL_INIT it keeps the
 * per-vhost options it was given; over HTTP (a callback:// mount) it
 * answers with them as JSON:
 *
 *   {"vhost":"NAME","options":{"name":"value",...},"http_integrated":1}
 *
 * and over ws it sends the same text once connected, so a client that asks
 * for no subprotocol sees whether "default": "1" made this the vhost's
 * default protocol.  The option "fail-init": "1" makes PROTOCOL_INIT fail.
 * "http_integrated" says whether protocols[0] (the lwstp integration) got
 * its PROTOCOL_INIT too: lwstp_enqueue() of a task on this wsi would then
 * not fail with LWSTP_E_NO_INTEGRATION.
 */

#if !defined(LWS_PLUGIN_STATIC)
#define LWS_DLL
#define LWS_INTERNAL
#endif

#include <lwstp.h>

#include <stdio.h>
#include <string.h>

#define CONFTEST_BODY	2048

struct vhd_conftest {
	char		body[CONFTEST_BODY];
	int		len;
};

struct pss_conftest {
	int		sent;
};

static enum lws_threadpool_task_return
task_noop(void *user, enum lws_threadpool_task_status s)
{
	return LWS_TP_RETURN_FINISHED;
}

static void
cleanup_noop(struct lws *wsi, void *user)
{
}

/*
 * Is the vhost integrated?  liblwstp checks the integration before it
 * checks for a finishing pool, so an enqueue on a finished pool says which,
 * and no task ever runs.
 */
static int
integrated(struct lws *wsi)
{
	struct lws_threadpool_create_args ca = { 1, 1 };
	struct lws_threadpool_task_args ta;
	struct lws_threadpool *tp;
	int r;

	tp = lws_threadpool_create(lws_get_context(wsi), &ca, "conftest");
	if (!tp)
		return -1;
	lws_threadpool_finish(tp);
	memset(&ta, 0, sizeof(ta));
	ta.wsi = wsi;
	ta.task = task_noop;
	ta.cleanup = cleanup_noop;
	r = lwstp_enqueue(tp, &ta, NULL, "probe");
	lws_threadpool_destroy(tp);

	return r == LWSTP_E_SHUTTING_DOWN;
}

static void
json_str(char **p, char *end, const char *s)
{
	*p += lws_snprintf(*p, lws_ptr_diff(end, *p), "\"");
	for (; *s && *p < end - 8; s++) {
		if (*s == '"' || *s == '\\')
			*p += lws_snprintf(*p, lws_ptr_diff(end, *p), "\\%c",
					   *s);
		else if ((unsigned char)*s < 0x20)
			*p += lws_snprintf(*p, lws_ptr_diff(end, *p), "\\u%04x",
					   (unsigned char)*s);
		else
			*(*p)++ = *s;
	}
	*p += lws_snprintf(*p, lws_ptr_diff(end, *p), "\"");
}

/* keep the options as JSON: {"vhost":"NAME","options":{...} (unclosed) */
static int
vhd_init(struct lws *wsi, const struct lws_protocol_vhost_options *in)
{
	const struct lws_protocol_vhost_options *o;
	struct vhd_conftest *vhd;
	char *p, *end;

	if (lws_pvo_search(in, "fail-init")) {
		lwsl_err("lwstp-conftest: fail-init asked\n");
		return -1;
	}
	vhd = lws_protocol_vh_priv_zalloc(lws_get_vhost(wsi),
					  lws_get_protocol(wsi), sizeof(*vhd));
	if (!vhd)
		return -1;

	p = vhd->body;
	end = vhd->body + sizeof(vhd->body) - 64;
	p += lws_snprintf(p, lws_ptr_diff(end, p), "{\"vhost\":");
	json_str(&p, end, lws_get_vhost_name(lws_get_vhost(wsi)));
	p += lws_snprintf(p, lws_ptr_diff(end, p), ",\"options\":{");
	for (o = in; o; o = o->next) {
		json_str(&p, end, o->name);
		*p++ = ':';
		json_str(&p, end, o->value);
		if (o->next)
			*p++ = ',';
	}
	p += lws_snprintf(p, lws_ptr_diff(end, p), "}");
	vhd->len = lws_ptr_diff(p, vhd->body);

	return 0;
}

static int
http_reply(struct lws *wsi, struct vhd_conftest *vhd)
{
	uint8_t hdr[LWS_PRE + 512], *start = &hdr[LWS_PRE], *hp = start,
		*hend = &hdr[sizeof(hdr) - 1];
	uint8_t out[LWS_PRE + CONFTEST_BODY + 64];
	int n;

	n = lws_snprintf((char *)out + LWS_PRE, sizeof(out) - LWS_PRE,
			 "%.*s,\"http_integrated\":%d}\n", vhd->len, vhd->body,
			 integrated(wsi));
	if (lws_add_http_common_headers(wsi, HTTP_STATUS_OK,
					"application/json", (lws_filepos_t)n,
					&hp, hend) ||
	    lws_finalize_write_http_header(wsi, start, &hp, hend))
		return 1;
	if (lws_write(wsi, out + LWS_PRE, (size_t)n, LWS_WRITE_HTTP_FINAL) != n)
		return 1;

	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int
ws_greet(struct lws *wsi, struct vhd_conftest *vhd)
{
	uint8_t out[LWS_PRE + CONFTEST_BODY + 64];
	int n;

	n = lws_snprintf((char *)out + LWS_PRE, sizeof(out) - LWS_PRE,
			 "%.*s}", vhd->len, vhd->body);

	return lws_write(wsi, out + LWS_PRE, (size_t)n, LWS_WRITE_TEXT) != n ?
									-1 : 0;
}

static int
callback_conftest(struct lws *wsi, enum lws_callback_reasons reason,
		  void *user, void *in, size_t len)
{
	struct vhd_conftest *vhd = (struct vhd_conftest *)
		lws_protocol_vh_priv_get(lws_get_vhost(wsi),
					 lws_get_protocol(wsi));
	struct pss_conftest *pss = (struct pss_conftest *)user;

	switch (reason) {
	case LWS_CALLBACK_PROTOCOL_INIT:
		return vhd_init(wsi,
				(const struct lws_protocol_vhost_options *)in);

	case LWS_CALLBACK_HTTP:
		return vhd ? http_reply(wsi, vhd) : -1;

	case LWS_CALLBACK_ESTABLISHED:
		lws_callback_on_writable(wsi);
		return 0;

	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (!vhd || pss->sent)
			return 0;
		pss->sent = 1;
		return ws_greet(wsi, vhd);

	default:
		break;
	}

	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

#define LWS_PLUGIN_PROTOCOL_LWSTP_CONFTEST \
	{ "lwstp-conftest", callback_conftest, sizeof(struct pss_conftest), \
	  1024, 0, NULL, 0 }

#if !defined(LWS_PLUGIN_STATIC)

static const struct lws_protocols conftest_protocols[] = {
	LWS_PLUGIN_PROTOCOL_LWSTP_CONFTEST
};

LWS_VISIBLE const lws_plugin_protocol_t lwstp_conftest = {
	.hdr = {
		.name = "lwstp conftest",
		._class = "lws_protocol_plugin",
#if LWS_PLUGIN_API_MAGIC >= 191
		/* 4.3's header has it, and lws_plugins_init() checks it */
		.lws_build_hash = LWS_BUILD_HASH,
#endif
		.api_magic = LWS_PLUGIN_API_MAGIC
	},

	.protocols = conftest_protocols,
	.count_protocols = LWS_ARRAY_SIZE(conftest_protocols),
	.extensions = NULL,
	.count_extensions = 0,
};

#endif
