/*
 * lwstp-server - the built-in configuration, and where its paths point
 *
 * With no -c, the server runs this lwsws configuration: the demo page at
 * "/" and the lws-threadpool plugin on http://127.0.0.1:7681/.  The two
 * paths in it come from where the binary is:
 *
 *   in the build tree	the source demo/ and the build's plugin output dir
 *   installed		PREFIX/share/lwstp/demo and PREFIX/LIBDIR/lwstp/plugins,
 *			found relative to the binary (so the install can
 *			be moved)
 *
 * CMake passes those paths in (see CMakeLists.txt here).
 */

#include "server.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if !defined(LWSTP_SERVER_BUILD_BINDIR)
#define LWSTP_SERVER_BUILD_BINDIR	""
#define LWSTP_SERVER_BUILD_DEMO_DIR	"./demo"
#define LWSTP_SERVER_BUILD_PLUGIN_DIR	"./plugins"
#define LWSTP_SERVER_REL_DEMO_DIR	"../share/lwstp/demo"
#define LWSTP_SERVER_REL_PLUGIN_DIR	"../lib/lwstp/plugins"
#endif

static const char default_conf[] =
	"# lwstp-server built-in configuration: DIR/conf\n"
	"{\n"
	"\t\"global\": {\n"
	"\t\t\"server-string\": \"lwstp-server\",\n"
	"\t\t\"plugin-dir\": \"%s\",\n"
	"\t\t\"count-threads\": \"1\",\n"
	"\t\t\"init-ssl\": \"no\"\n"
	"\t}\n"
	"}\n";

static const char default_confd[] =
	"# lwstp-server built-in configuration: DIR/conf.d/localhost\n"
	"{\n"
	"\t\"vhosts\": [{\n"
	"\t\t\"name\": \"localhost\",\n"
	"\t\t\"port\": \"%d\",\n"
	"\t\t\"interface\": \"127.0.0.1\",\n"
	"\t\t\"mounts\": [\n"
	"\t\t\t{ \"mountpoint\": \"/\", \"origin\": \"file://%s\",\n"
	"\t\t\t  \"default\": \"index.html\" },\n"
	"\t\t\t{ \"mountpoint\": \"/status\",\n"
	"\t\t\t  \"origin\": \"callback://lws-threadpool\" },\n"
	"\t\t\t{ \"mountpoint\": \"/metrics\",\n"
	"\t\t\t  \"origin\": \"callback://lws-threadpool\" },\n"
	"\t\t\t{ \"mountpoint\": \"/job\",\n"
	"\t\t\t  \"origin\": \"callback://lws-threadpool\" },\n"
	"\t\t\t{ \"mountpoint\": \"/result\",\n"
	"\t\t\t  \"origin\": \"callback://lws-threadpool\" }\n"
	"\t\t],\n"
	"\t\t\"ws-protocols\": [{\n"
	"\t\t\t\"lws-threadpool\": {\n"
	"\t\t\t\t\"threads\": \"4\",\n"
	"\t\t\t\t\"max-queue-depth\": \"64\",\n"
	"\t\t\t\t\"max-job-size\": \"1073741824\"\n"
	"\t\t\t}\n"
	"\t\t}]\n"
	"\t}]\n"
	"}\n";

/* a path as the inside of a JSON string */
static char *
json_escaped(const char *s)
{
	char *d = malloc(strlen(s) * 6 + 1), *q = d;

	if (!d)
		return NULL;
	for (; *s; s++) {
		if (*s == '"' || *s == '\\') {
			*q++ = '\\';
			*q++ = *s;
		} else if ((unsigned char)*s < 0x20)
			q += sprintf(q, "\\u%04x", (unsigned char)*s);
		else
			*q++ = *s;
	}
	*q = '\0';

	return d;
}

/* fmt holds a %d (the port, if port >= 0) and then a %s (path) */
static char *
fill(const char *fmt, int port, const char *path)
{
	char *e = json_escaped(path), *r;
	size_t len;

	if (!e)
		return NULL;
	len = strlen(fmt) + strlen(e) + 16;
	r = malloc(len);
	if (r && port >= 0)
		lws_snprintf(r, len, fmt, port, e);
	else if (r)
		lws_snprintf(r, len, fmt, e);
	free(e);

	return r;
}

int
lwstp_conf_default(const char *demo_dir, const char *plugin_dir, int port,
		   char **conf, char **confd)
{
	*conf = fill(default_conf, -1, plugin_dir);
	*confd = fill(default_confd, port, demo_dir);
	if (*conf && *confd)
		return 0;

	free(*conf);
	free(*confd);
	*conf = *confd = NULL;

	return -1;
}

void
lwstp_default_dirs(char *demo, size_t demo_len, char *plugins,
		   size_t plugins_len)
{
	char exe[PATH_MAX], build[PATH_MAX], *slash;
	ssize_t n;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		n = 0;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';

	if (!*LWSTP_SERVER_BUILD_BINDIR || !realpath(LWSTP_SERVER_BUILD_BINDIR,
						      build))
		build[0] = '\0';

	if (!n || (build[0] && !strcmp(exe, build))) {
		lws_strncpy(demo, LWSTP_SERVER_BUILD_DEMO_DIR, demo_len);
		lws_strncpy(plugins, LWSTP_SERVER_BUILD_PLUGIN_DIR,
			    plugins_len);
		return;
	}

	lws_snprintf(demo, demo_len, "%s/%s", exe, LWSTP_SERVER_REL_DEMO_DIR);
	lws_snprintf(plugins, plugins_len, "%s/%s", exe,
		     LWSTP_SERVER_REL_PLUGIN_DIR);
}
