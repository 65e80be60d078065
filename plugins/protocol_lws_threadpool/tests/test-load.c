/*
 * Load libprotocol_lws_threadpool.so the way lws does it for protocol
 * plugins, lws_plugins_init(..., "lws_protocol_plugin", ...), check what it
 * exports, and run its protocol on a context: the protocol initialises its
 * pool on a vhost with good options, and refuses a vhost with a bad one.
 *
 *   test-plugin-load <directory holding the plugin>
 *
 * Prints "N passed, N failed"; exits non-zero on any failure.
 */

#include <lwstp.h>

#include <stdio.h>
#include <string.h>

static int passed, failed, loaded;
static const lws_plugin_protocol_t *plugin;
static char last_err[512];

#define CHECK(cond, ...) do { \
	if (cond) \
		passed++; \
	else { \
		failed++; \
		printf("FAIL %s:%d: ", __FILE__, __LINE__); \
		printf(__VA_ARGS__); \
		printf("\n"); \
	} \
} while (0)

static void
log_emit(int level, const char *line)
{
	if (level == LLL_ERR && strstr(line, "lws-threadpool: vhost"))
		lws_strncpy(last_err, line, sizeof(last_err));
	fputs(line, stderr);
}

static int
each_plugin(struct lws_plugin *p, void *user)
{
	loaded++;
	plugin = (const lws_plugin_protocol_t *)p->hdr;

	return 0;
}

/* the plugin's callback, through which it has seen PROTOCOL_INIT or not */
static lws_callback_function *plugin_cb;
static int init_seen;

static int
plugin_cb_seen(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	       void *in, size_t len)
{
	if (reason == LWS_CALLBACK_PROTOCOL_INIT)
		init_seen = 1;

	return plugin_cb(wsi, reason, user, in, len);
}

/*
 * A context whose one vhost has protocols[0] = the lwstp hook and the
 * plugin's protocol, with one option.  Returns 1 if the protocol came up
 * (its per-vhost data exists), 0 if not, -1 if no context.
 */
static int
run_context(const char *opt, const char *value)
{
	struct lws_protocol_vhost_options pvo_opt, pvo;
	struct lws_context_creation_info info;
	struct lws_protocols protocols[3];
	struct lws_context *cx;
	struct lws_vhost *vh;
	lws_usec_t deadline;
	int up;

	memset(protocols, 0, sizeof(protocols));
	protocols[0].name = "http";
	protocols[0].callback = lwstp_callback_http_dummy;
	protocols[1] = plugin->protocols[0];
	plugin_cb = protocols[1].callback;
	protocols[1].callback = plugin_cb_seen;
	init_seen = 0;

	memset(&pvo_opt, 0, sizeof(pvo_opt));
	pvo_opt.name = opt;
	pvo_opt.value = value;
	memset(&pvo, 0, sizeof(pvo));
	pvo.name = "lws-threadpool";
	pvo.value = "";
	pvo.options = &pvo_opt;

	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.protocols = protocols;
	info.pvo = &pvo;
	info.vhost_name = "load-test";

	cx = lws_create_context(&info);
	if (!cx)
		return -1;
	/*
	 * lws initialises the protocols from a timer it sets at context
	 * creation, 1 us ahead: the first service may come before it.
	 */
	deadline = lws_now_usecs() + LWS_US_PER_SEC;
	while (!init_seen && lws_now_usecs() < deadline)
		if (lws_service(cx, -1) < 0)	/* -1: do not wait */
			break;
	vh = lws_get_vhost_by_name(cx, "load-test");
	up = vh && lws_protocol_vh_priv_get(vh,
			lws_vhost_name_to_protocol(vh, "lws-threadpool"));
	lws_context_destroy(cx);

	return up;
}

int
main(int argc, const char **argv)
{
	const char *dirs[2] = { argc > 1 ? argv[1] : ".", NULL };
	struct lws_plugin *list = NULL;
	int r;

	lws_set_log_level(LLL_ERR | LLL_WARN | LLL_NOTICE, log_emit);

	r = lws_plugins_init(&list, dirs, "lws_protocol_plugin", NULL,
			     each_plugin, NULL);
	/* without a filter, 4.3 returns 1 even if it loaded (4.1.6: 0) */
	CHECK(loaded == 1 && plugin, "lws_plugins_init: r %d, %d "
	      "loaded from %s", r, loaded, dirs[0]);
	if (!plugin)
		goto out;

	CHECK(plugin->hdr.api_magic == LWS_PLUGIN_API_MAGIC, "api magic %u",
	      plugin->hdr.api_magic);
	CHECK(!strcmp(plugin->hdr._class, "lws_protocol_plugin"), "class %s",
	      plugin->hdr._class);
	CHECK(plugin->count_protocols == 1 && plugin->protocols &&
	      !strcmp(plugin->protocols[0].name, "lws-threadpool") &&
	      plugin->protocols[0].callback &&
	      plugin->protocols[0].per_session_data_size > 0,
	      "the protocol");
	CHECK(!plugin->count_extensions && !plugin->extensions, "extensions");

	/* with a filter, only a matching base name loads */
	lws_plugins_destroy(&list, NULL, NULL);
	loaded = 0;
	plugin = NULL;
	r = lws_plugins_init(&list, dirs, "lws_protocol_plugin",
			     "lws_threadpool", each_plugin, NULL);
	CHECK(!r && loaded == 1, "filter lws_threadpool: %d", loaded);
	if (!plugin)
		goto out;

	/* the loaded protocol runs */
	CHECK(run_context("threads", "3") == 1, "good options: not up");
	last_err[0] = '\0';
	CHECK(run_context("max-queue-depth", "lots") == 0 &&
	      strstr(last_err, "load-test") &&
	      strstr(last_err, "max-queue-depth") &&
	      strstr(last_err, "lots") && strstr(last_err, "0..2147483647"),
	      "bad option: '%s'", last_err);

out:
	lws_plugins_destroy(&list, NULL, NULL);
	printf("%d passed, %d failed\n", passed, failed);

	return !!failed;
}
