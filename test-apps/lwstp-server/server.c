/*
 * lwstp-server - an lwsws-compatible server for the distro libwebsockets
 *
 * Serves an lwsws configuration directory (-c DIR: DIR/conf and
 * DIR/conf.d/ *) through lws's own loader, with the protocol plugins of its
 * "plugin-dir"s and the lwstp integration in every vhost's protocols[0];
 * the root process forks the server and reloads it on SIGHUP as lwsws does
 * (supervise.c).  Without -c it runs its built-in configuration, written to
 * a temporary directory: the demo page and the lws-threadpool plugin on
 * http://127.0.0.1:7681/.
 *
 * See README.md here and lwstp-server(1) for the options.
 */

#include "server.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: lwstp-server [-c DIR] [-d N] [-n] [-p DIR]... [--check]\n"
		"       lwstp-server [--port N] [--check]	(the built-in "
		"config)\n"
		"       lwstp-server --write-config DIR | --version | --help\n"
		"  -c, --configdir DIR  lwsws config: DIR/conf and DIR/conf.d/*"
		"\n"
		"                       (default: the built-in demo config)\n"
		"  -d, --debug N        lws log bitmap, 0..%d (default 1031: "
		"err, warn,\n"
		"                       notice, user)\n"
		"  -n, --no-default-plugins\n"
		"                       do not load plugins from %s's own dir\n"
		"  -p, --plugin-dir DIR load plugins from DIR too (up to %d)\n"
		"  --check              check the config, the plugins and their "
		"options,\n"
		"                       then exit: 0 if the server would start\n"
		"  --port N             the built-in config listens on N "
		"(default 7681;\n"
		"                       0: a free port)\n"
		"  --write-config DIR   write the built-in config to DIR, then "
		"exit\n"
		"  --version            versions, and what _lws_ddir_ stands "
		"for\n"
		"Signals: SIGHUP reloads (the old server finishes its "
		"connections),\n"
		"SIGINT and SIGTERM stop.\n", (1 << LLL_COUNT) - 1,
		"lwstp-server", LWSTP_SERVER_MAX_P);
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

/* a port free on 127.0.0.1 now (--port 0: lws's loader needs a number) */
static int
free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
	    !getsockname(fd, (struct sockaddr *)&a, &len))
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);

	return port;
}

/* the built-in config as DIR/conf and DIR/conf.d/localhost */
static int
write_config(const char *dir, int port)
{
	char demo[PATH_MAX], plugins[PATH_MAX], path[PATH_MAX], *c, *cd;
	int r = -1;

	lwstp_default_dirs(demo, sizeof(demo), plugins, sizeof(plugins));
	if (lwstp_conf_default(demo, plugins, port, &c, &cd)) {
		fprintf(stderr, "lwstp-server: out of memory\n");
		return -1;
	}
	lws_snprintf(path, sizeof(path), "%s/conf.d", dir);
	if ((mkdir(dir, 0755) && errno != EEXIST) ||
	    (mkdir(path, 0755) && errno != EEXIST))
		fprintf(stderr, "lwstp-server: %s: %s\n", path,
			strerror(errno));
	else {
		lws_snprintf(path, sizeof(path), "%s/conf", dir);
		r = write_file(path, c);
		lws_snprintf(path, sizeof(path), "%s/conf.d/localhost", dir);
		r = r || write_file(path, cd) ? -1 : 0;
	}
	free(c);
	free(cd);

	return r;
}

static void
remove_config(const char *dir)
{
	char path[PATH_MAX];

	lws_snprintf(path, sizeof(path), "%s/conf.d/localhost", dir);
	unlink(path);
	lws_snprintf(path, sizeof(path), "%s/conf.d", dir);
	rmdir(path);
	lws_snprintf(path, sizeof(path), "%s/conf", dir);
	unlink(path);
	rmdir(dir);
}

static int
is(const char *a, const char *s, const char *l)
{
	return !strcmp(a, s) || (l && !strcmp(a, l));
}

int
main(int argc, const char **argv)
{
	char demo[PATH_MAX], plugins[PATH_MAX], tmp[] = "/tmp/lwstp-server-XXXXXX";
	const char *write_dir = NULL;
	struct lwstp_server_opts o;
	int port = 7681, port_given = 0, check = 0, no_default = 0, n, r;
	const char *p_dirs[LWSTP_SERVER_MAX_P];
	int count_p = 0;

	memset(&o, 0, sizeof(o));
	o.logs = LLL_USER | LLL_ERR | LLL_WARN | LLL_NOTICE;

	for (n = 1; n < argc; n++) {
		const char *a = argv[n], *v = n + 1 < argc ? argv[n + 1] : NULL;
		int takes = is(a, "-c", "--configdir") ||
			    is(a, "-d", "--debug") ||
			    is(a, "-p", "--plugin-dir") ||
			    is(a, "--port", NULL) ||
			    is(a, "--write-config", NULL);

		if (is(a, "-h", "--help")) {
			usage(stdout);
			return 0;
		}
		if (is(a, "--version", NULL)) {
			printf("lwstp-server %s, libwebsockets %s, _lws_ddir_ "
			       "is %s\n", LWSTP_VERSION,
			       lws_get_library_version(), LWS_INSTALL_DATADIR);
			return 0;
		}
		if (is(a, "--check", NULL)) {
			check = 1;
			continue;
		}
		if (is(a, "-n", "--no-default-plugins")) {
			no_default = 1;
			continue;
		}
		if (!takes || !v) {
			fprintf(stderr, "lwstp-server: %s: %s\n", a,
				takes ? "needs a value" : "unknown option");
			usage(stderr);
			return 1;
		}
		n++;
		if (is(a, "-c", "--configdir"))
			o.dir = v;
		else if (is(a, "--write-config", NULL))
			write_dir = v;
		else if (is(a, "-d", "--debug")) {
			if (parse_int(v, 0, (1 << LLL_COUNT) - 1, &o.logs)) {
				fprintf(stderr, "lwstp-server: -d %s: not a "
					"log level bitmap (0..%d)\n", v,
					(1 << LLL_COUNT) - 1);
				return 1;
			}
		} else if (is(a, "--port", NULL)) {
			if (parse_int(v, 0, 65535, &port)) {
				fprintf(stderr, "lwstp-server: --port %s: not "
					"a port (0..65535)\n", v);
				return 1;
			}
			port_given = 1;
		} else {
			if (count_p == LWSTP_SERVER_MAX_P) {
				fprintf(stderr, "lwstp-server: more than %d "
					"-p\n", LWSTP_SERVER_MAX_P);
				return 1;
			}
			p_dirs[count_p++] = v;
		}
	}
	lws_set_log_level(o.logs, NULL);

	if (write_dir)
		return write_config(write_dir, port) ? 1 : 0;
	if (o.dir && port_given) {
		fprintf(stderr, "lwstp-server: --port is for the built-in "
			"config; with -c, the config's \"port\"s stand\n");
		return 1;
	}

	lwstp_default_dirs(demo, sizeof(demo), plugins, sizeof(plugins));
	if (!no_default)
		o.plugin_dirs[o.count_plugin_dirs++] = plugins;
	for (n = 0; n < count_p; n++)
		o.plugin_dirs[o.count_plugin_dirs++] = p_dirs[n];

	if (!o.dir) {
		if (!port && (port = free_port()) < 0) {
			fprintf(stderr, "lwstp-server: no free port\n");
			return 1;
		}
		if (!mkdtemp(tmp) || write_config(tmp, port)) {
			fprintf(stderr, "lwstp-server: %s: %s\n", tmp,
				strerror(errno));
			return 1;
		}
		o.dir = tmp;
	}

	r = check ? lwstp_server_check(&o, 0) : lwstp_supervise(&o);

	if (o.dir == tmp)
		remove_config(tmp);

	return r;
}
