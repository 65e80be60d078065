/*
 * lwstp-server - an lwsws-style server for the distro libwebsockets
 *
 * Reads an lwsws configuration directory (-c DIR: DIR/conf and
 * DIR/conf.d/ *), loads the protocol plugins of its "plugin-dir"s, creates
 * one lws vhost per configured vhost with the lwstp integration in
 * protocols[0], and serves until SIGINT or SIGTERM.  Without -c it runs its
 * built-in configuration: the demo page and the lws-threadpool plugin on
 * http://127.0.0.1:7681/.
 *
 * See README.md here for the options and the configuration keys.
 */

#include "server.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_CMDLINE_PLUGIN_DIRS	8

static volatile sig_atomic_t interrupted;
static struct lws_context *volatile g_context;

static void
sig_handler(int sig)
{
	interrupted = 1;
	/* only writes to the event pipe: safe in a signal handler */
	if (g_context)
		lws_cancel_service(g_context);
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: lwstp-server [-c DIR] [--port N] [--plugin-dir DIR]... "
		"[--check] [-d LOGLEVEL]\n"
		"       lwstp-server --write-config DIR\n"
		"  -c DIR            lwsws config: DIR/conf and DIR/conf.d/*\n"
		"                    (default: the built-in demo config)\n"
		"  --port N          every vhost listens on N (0: any free "
		"port)\n"
		"  --plugin-dir DIR  load plugins from DIR instead of the "
		"config's\n"
		"  --check           check the config and the plugins, then "
		"exit\n"
		"  --write-config DIR  write the built-in config there, then "
		"exit\n"
		"  -d LOGLEVEL       lws log bitmap, 0..4095 (default 1031: "
		"user, err, warn, notice)\n");
}

static int
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int r;

	if (!f) {
		fprintf(stderr, "lwstp-server: %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	r = fputs(text, f) < 0;
	r |= fclose(f) != 0;
	if (r)
		fprintf(stderr, "lwstp-server: %s: write failed\n", path);

	return r ? -1 : 0;
}

static int
write_config(const char *dir, const char *conf, const char *confd)
{
	char path[PATH_MAX];

	lws_snprintf(path, sizeof(path), "%s/conf.d", dir);
	if ((mkdir(dir, 0755) && errno != EEXIST) ||
	    (mkdir(path, 0755) && errno != EEXIST)) {
		fprintf(stderr, "lwstp-server: %s: %s\n", path,
			strerror(errno));
		return 1;
	}
	lws_snprintf(path, sizeof(path), "%s/conf", dir);
	if (write_file(path, conf))
		return 1;
	lws_snprintf(path, sizeof(path), "%s/conf.d/localhost", dir);
	if (write_file(path, confd))
		return 1;
	printf("lwstp-server: wrote %s/conf and %s/conf.d/localhost\n", dir,
	       dir);

	return 0;
}

static int
load_default(struct lwstp_conf *conf, char *err, size_t errlen,
	     const char *write_dir)
{
	char demo[PATH_MAX], plugins[PATH_MAX], *c, *cd;
	int r;

	lwstp_default_dirs(demo, sizeof(demo), plugins, sizeof(plugins));
	if (lwstp_conf_default(demo, plugins, &c, &cd)) {
		lws_strncpy(err, "out of memory", errlen);
		return -1;
	}
	if (write_dir)
		r = write_config(write_dir, c, cd) ? -1 : 1;
	else
		r = lwstp_conf_parse(c, strlen(c), "(built-in)/conf", conf,
				     err, errlen) ||
		    lwstp_conf_parse(cd, strlen(cd),
				     "(built-in)/conf.d/localhost", conf, err,
				     errlen) ? -1 : 0;
	free(c);
	free(cd);

	return r;
}

static int
takes_value(const char *opt)
{
	static const char * const opts[] = {
		"-c", "--port", "--plugin-dir", "-d", "--write-config"
	};
	size_t n;

	for (n = 0; n < LWS_ARRAY_SIZE(opts); n++)
		if (!strcmp(opt, opts[n]))
			return 1;

	return 0;
}

/* decimal digits only, in min..max */
static int
parse_int(const char *s, int min, int max, int *out)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -1;
	v = strtol(s, &end, 10);
	if (*end || v < min || v > max)
		return -1;
	*out = (int)v;

	return 0;
}

int
main(int argc, const char **argv)
{
	const char *dir = NULL, *write_dir = NULL;
	const char *plugin_dirs[MAX_CMDLINE_PLUGIN_DIRS + 1];
	int logs = LLL_USER | LLL_ERR | LLL_WARN | LLL_NOTICE;
	int port = -1, check = 0, n_pd = 0, n, r;
	struct lwstp_server server;
	struct lwstp_conf conf;
	struct sigaction sa;
	char err[512];

	for (n = 1; n < argc; n++) {
		const char *a = argv[n], *v = n + 1 < argc ? argv[n + 1] : NULL;

		if (!strcmp(a, "--check")) {
			check = 1;
			continue;
		}
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		}
		if (!takes_value(a) || !v) {
			fprintf(stderr, "lwstp-server: %s: %s\n", a,
				takes_value(a) ? "needs a value" :
						 "unknown option");
			usage(stderr);
			return 1;
		}
		n++;
		if (!strcmp(a, "-c"))
			dir = v;
		else if (!strcmp(a, "--write-config"))
			write_dir = v;
		else if (!strcmp(a, "-d")) {
			if (parse_int(v, 0, (1 << LLL_COUNT) - 1, &logs)) {
				fprintf(stderr, "lwstp-server: -d %s: not a "
					"log level bitmap (0..%d)\n", v,
					(1 << LLL_COUNT) - 1);
				return 1;
			}
		}
		else if (!strcmp(a, "--port")) {
			if (parse_int(v, 0, 65535, &port)) {
				fprintf(stderr, "lwstp-server: --port %s: not "
					"a port (0..65535)\n", v);
				return 1;
			}
		} else {
			if (n_pd == MAX_CMDLINE_PLUGIN_DIRS) {
				fprintf(stderr, "lwstp-server: more than %d "
					"--plugin-dir\n",
					MAX_CMDLINE_PLUGIN_DIRS);
				return 1;
			}
			plugin_dirs[n_pd++] = v;
		}
	}
	lws_set_log_level(logs, NULL);

	memset(&conf, 0, sizeof(conf));
	memset(&server, 0, sizeof(server));

	if (write_dir)
		return load_default(&conf, err, sizeof(err), write_dir) > 0 ?
									0 : 1;

	r = dir ? lwstp_conf_load_dir(dir, &conf, err, sizeof(err)) :
		  load_default(&conf, err, sizeof(err), NULL);
	if (r) {
		fprintf(stderr, "lwstp-server: %s\n", err);
		goto bail;
	}
	if (!conf.count_vhosts) {
		fprintf(stderr, "lwstp-server: %s: no vhost configured\n",
			dir ? dir : "(built-in)");
		goto bail;
	}

	if (n_pd) {	/* --plugin-dir replaces the config's dirs */
		for (n = 0; n < n_pd; n++)
			conf.plugin_dirs[n] = plugin_dirs[n];
		conf.plugin_dirs[n_pd] = NULL;
		conf.count_plugin_dirs = n_pd;
	}

	if (lwstp_server_plugins_load(&server, &conf))
		goto bail;
	if (lwstp_server_check(&server, &conf, err, sizeof(err))) {
		fprintf(stderr, "lwstp-server: %s\n", err);
		goto bail;
	}
	if (check) {
		printf("lwstp-server: config ok: %d vhost%s, %d warning%s\n",
		       conf.count_vhosts, conf.count_vhosts == 1 ? "" : "s",
		       conf.warnings, conf.warnings == 1 ? "" : "s");
		lwstp_server_destroy(&server);
		lwstp_conf_destroy(&conf);
		return 0;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sig_handler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (lwstp_server_create(&server, &conf, port))
		goto bail;
	g_context = server.context;

	for (n = 0; n < server.count_vhosts; n++) {
		const struct lwstp_conf_vhost *vh = conf.vhosts;
		int i;

		for (i = 0; i < n; i++)
			vh = vh->next;
		printf("lwstp-server: vhost \"%s\" on %s://%s:%d/\n",
		       vh->name, vh->ssl_cert ? "https" : "http",
		       vh->iface ? vh->iface : "*",
		       lws_get_vhost_listen_port(server.vhosts[n].vhost));
	}
	printf("lwstp-server: ready\n");
	fflush(stdout);

	n = 0;
	while (n >= 0 && !interrupted)
		n = lws_service(server.context, 0);

	g_context = NULL;
	lwstp_server_destroy(&server);
	lwstp_conf_destroy(&conf);
	printf("lwstp-server: stopped\n");

	return 0;

bail:
	g_context = NULL;
	lwstp_server_destroy(&server);
	lwstp_conf_destroy(&conf);

	return 1;
}
