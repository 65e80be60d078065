/*
 * test-plugin-server - the lws-threadpool protocol plugin, compiled in
 *
 * Serves the protocol "lws-threadpool" (ws) and, through
 * callback://lws-threadpool mounts, /status, /metrics, /job, /job/<token>
 * and /result over http on 127.0.0.1 (https, h2 and http/1.1 by ALPN, with
 * --tls-cert FILE --tls-key FILE).  protocols[0] is the lwstp integration,
 * here a callback of our own that calls lwstp_hook() first.
 *
 *   --plain-http	protocols[0] without the hook: lws_callback_http_dummy
 *			(as lwsws has it; with --sndbuf, a callback that only
 *			sets SO_SNDBUF first), so the plugin's own hook is the
 *			whole integration
 *   --port N		listen port (default 7682; 0: pick one)
 *   --pvo name=value	a per-vhost option of the protocol, as a config
 *			would give it (repeatable; not checked here: the
 *			protocol's own parser judges them)
 *   --vhosts N		N vhosts (1..4), "plugin-test", "plugin-test-2", ...,
 *			each with its own pool; the others on free ports
 *   --timeout-secs N	lws's info.timeout_secs (its http request timeout)
 *   --sndbuf N		SO_SNDBUF of accepted connections (to make a client
 *			that does not read choke the server quickly)
 *   -d LOGLEVEL	lws log level
 *
 * It prints "test-plugin-server: listening on <port> ..." (one port per
 * vhost) once it serves, and
 * at exit (SIGINT / SIGTERM) "test-plugin-server: enqueued=X cleanups=Y
 * detached=Z finished=W bad=B"; it exits non-zero if not every job it
 * queued got exactly one cleanup, and 2 if the context could not be
 * created (for instance, the protocol refused an option).
 */

#define LWS_PLUGIN_STATIC
#include "protocol_lws_threadpool.c"
#include "testsrv.h"

#include <stdio.h>
#include <sys/socket.h>

#define MAX_PVOS	32
#define MAX_VHOSTS	4

static int sndbuf;

/* protocols[0]: the lwstp integration first, then our own business */
static int
callback_http(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	      void *in, size_t len)
{
	lwstp_hook(wsi, reason, user, in, len);

	if (reason == LWS_CALLBACK_FILTER_NETWORK_CONNECTION && sndbuf &&
	    setsockopt((int)(lws_intptr_t)in, SOL_SOCKET, SO_SNDBUF, &sndbuf,
		       sizeof(sndbuf)))
		lwsl_warn("SO_SNDBUF %d failed\n", sndbuf);

	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* --plain-http with --sndbuf: no lwstp hook, only SO_SNDBUF */
static int
callback_http_plain(struct lws *wsi, enum lws_callback_reasons reason,
		    void *user, void *in, size_t len)
{
	if (reason == LWS_CALLBACK_FILTER_NETWORK_CONNECTION &&
	    setsockopt((int)(lws_intptr_t)in, SOL_SOCKET, SO_SNDBUF, &sndbuf,
		       sizeof(sndbuf)))
		lwsl_warn("SO_SNDBUF %d failed\n", sndbuf);

	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static struct lws_protocols protocols[] = {
	{ "http", callback_http, 0, 0, 0, NULL, 0 },
	LWS_PLUGIN_PROTOCOL_LWS_THREADPOOL,
	{ NULL, NULL, 0, 0, 0, NULL, 0 } /* terminator */
};

static const struct lws_http_mount mount_result = {
	.mountpoint		= "/result",
	.origin			= LWSTP_PLUGIN_PROTOCOL,
	.origin_protocol	= LWSMPRO_CALLBACK,
	.mountpoint_len		= 7,
};

static const struct lws_http_mount mount_job_slash = {
	.mount_next		= &mount_result,
	.mountpoint		= "/job/",
	.origin			= LWSTP_PLUGIN_PROTOCOL,
	.origin_protocol	= LWSMPRO_CALLBACK,
	.mountpoint_len		= 5,
};

static const struct lws_http_mount mount_job = {
	.mount_next		= &mount_job_slash,
	.mountpoint		= "/job",
	.origin			= LWSTP_PLUGIN_PROTOCOL,
	.origin_protocol	= LWSMPRO_CALLBACK,
	.mountpoint_len		= 4,
};

static const struct lws_http_mount mount_metrics = {
	.mount_next		= &mount_job,
	.mountpoint		= "/metrics",
	.origin			= LWSTP_PLUGIN_PROTOCOL,
	.origin_protocol	= LWSMPRO_CALLBACK,
	.mountpoint_len		= 8,
};

static const struct lws_http_mount mount_status = {
	.mount_next		= &mount_metrics,
	.mountpoint		= "/status",
	.origin			= LWSTP_PLUGIN_PROTOCOL,
	.origin_protocol	= LWSMPRO_CALLBACK,
	.mountpoint_len		= 7,
};

/* the protocol's per-vhost data exists once its PROTOCOL_INIT succeeded */
static int
protocol_up(struct lws_vhost *vh)
{
	return !!lws_protocol_vh_priv_get(vh,
			lws_vhost_name_to_protocol(vh, LWSTP_PLUGIN_PROTOCOL));
}

int
main(int argc, const char **argv)
{
	struct lws_protocol_vhost_options pvos[MAX_PVOS], pvo;
	struct lws_context_creation_info info;
	unsigned long long enq, cln, det, fin, bad;
	char names[MAX_PVOS][64], vhname[MAX_VHOSTS][32];
	struct lws_vhost *vh[MAX_VHOSTS];
	int n, npvo = 0, port, nvh;
	struct lws_context *context;
	const char *p;
	char *eq;

	/* -d, --port; the vhosts get iface, mounts, protocols and pvos */
	ts_info(&info, argc, argv, 7682,
		LLL_USER | LLL_ERR | LLL_WARN | LLL_NOTICE);
	port = info.port;
	nvh = ts_opt_int(argc, argv, "--vhosts", 1);
	sndbuf = ts_opt_int(argc, argv, "--sndbuf", 0);
	if (lws_cmdline_option(argc, argv, "--plain-http"))
		protocols[0].callback = sndbuf ? callback_http_plain :
						 lws_callback_http_dummy;
	if (nvh < 1 || nvh > MAX_VHOSTS) {
		fprintf(stderr, "--vhosts takes 1..%d\n", MAX_VHOSTS);
		return 2;
	}

	memset(pvos, 0, sizeof(pvos));
	for (n = 1; n < argc - 1; n++) {
		if (strcmp(argv[n], "--pvo"))
			continue;
		if (npvo == MAX_PVOS) {
			fprintf(stderr, "too many --pvo\n");
			return 2;
		}
		lws_strncpy(names[npvo], argv[++n], sizeof(names[npvo]));
		eq = strchr(names[npvo], '=');
		p = strchr(argv[n], '=');
		if (!eq || !p) {
			fprintf(stderr, "--pvo takes name=value\n");
			return 2;
		}
		*eq = '\0';
		pvos[npvo].name = names[npvo];
		pvos[npvo].value = p + 1;
		if (npvo)
			pvos[npvo - 1].next = &pvos[npvo];
		npvo++;
	}
	memset(&pvo, 0, sizeof(pvo));
	pvo.name = LWSTP_PLUGIN_PROTOCOL;
	pvo.value = "";
	pvo.options = npvo ? pvos : NULL;

	info.options |= LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	info.timeout_secs = (unsigned int)ts_opt_int(argc, argv,
						     "--timeout-secs", 0);
	context = ts_create(&info, 0);
	if (!context)
		return 2;

	info.mounts = &mount_status;
	info.protocols = protocols;
	info.pvo = &pvo;
	for (n = 0; n < nvh; n++) {
		if (n)
			lws_snprintf(vhname[n], sizeof(vhname[n]),
				     "plugin-test-%d", n + 1);
		else
			lws_strncpy(vhname[n], "plugin-test",
				    sizeof(vhname[n]));
		info.vhost_name = vhname[n];
		info.port = n ? 0 : port;
		vh[n] = lws_create_vhost(context, &info);
		if (!vh[n]) {
			lwsl_err("vhost %s failed\n", vhname[n]);
			lws_context_destroy(context);
			return 2;
		}
	}

	/* lws initialises the protocols on the first service */
	if (lws_service(context, 0) < 0)
		nvh = 0;
	for (n = 0; n < nvh; n++)
		if (!protocol_up(vh[n])) {
			lwsl_err("the protocol did not initialise on %s\n",
				 vhname[n]);
			nvh = 0;
		}
	if (!nvh) {
		lws_context_destroy(context);
		return 2;
	}
	printf("test-plugin-server: listening on");
	for (n = 0; n < nvh; n++)
		printf(" %d", lws_get_vhost_port(vh[n]));
	printf("\n");
	fflush(stdout);

	ts_serve(context);

	enq = atomic_load(&lwstp_plugin_ctr.jobs_enqueued);
	cln = atomic_load(&lwstp_plugin_ctr.jobs_cleaned);
	det = atomic_load(&lwstp_plugin_ctr.jobs_cleaned_detached);
	fin = atomic_load(&lwstp_plugin_ctr.jobs_finished);
	bad = atomic_load(&lwstp_plugin_ctr.bad_cleanups);
	printf("test-plugin-server: enqueued=%llu cleanups=%llu detached=%llu "
	       "finished=%llu bad=%llu\n", enq, cln, det, fin, bad);
	fflush(stdout);

	return enq != cln || bad;
}
