/*
 * lwstp-server - reading configuration files and directories
 *
 * An lwsws configuration directory holds "conf" and "conf.d/"; every
 * regular file of conf.d/ is read, in name order, after conf.
 */

#include "conf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
lwstp_conf_load_file(const char *path, struct lwstp_conf *out, char *err,
		     size_t errlen)
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
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		lws_snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	if (st.st_size > LWSTP_CONF_MAX_FILE) {
		lws_snprintf(err, errlen, "%s:1: (top level): file larger "
			     "than %d bytes", path, LWSTP_CONF_MAX_FILE);
		close(fd);
		return -1;
	}

	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		lws_snprintf(err, errlen, "%s: out of memory", path);
		close(fd);
		return -1;
	}
	while (have < (size_t)st.st_size) {
		got = read(fd, buf + have, (size_t)st.st_size - have);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		have += (size_t)got;
	}
	close(fd);
	if (have != (size_t)st.st_size) {
		lws_snprintf(err, errlen, "%s: read failed", path);
		free(buf);
		return -1;
	}

	r = lwstp_conf_parse(buf, have, path, out, err, errlen);
	free(buf);

	return r;
}

static int
skip_name(const char *name)
{
	size_t l = strlen(name);

	return name[0] == '.' || !l || name[l - 1] == '~';
}

int
lwstp_conf_load_dir(const char *dir, struct lwstp_conf *out, char *err,
		    size_t errlen)
{
	struct dirent **names = NULL;
	char path[PATH_MAX];
	struct stat st;
	int n, count, r = 0;

	lws_snprintf(path, sizeof(path), "%s/conf", dir);
	if (lwstp_conf_load_file(path, out, err, errlen))
		return -1;

	lws_snprintf(path, sizeof(path), "%s/conf.d", dir);
	if (stat(path, &st))
		return 0;	/* no conf.d/: only conf */
	if (!S_ISDIR(st.st_mode)) {
		lws_snprintf(err, errlen, "%s: not a directory", path);
		return -1;
	}

	count = scandir(path, &names, NULL, alphasort);
	if (count < 0) {
		lws_snprintf(err, errlen, "%s: cannot read: %s", path,
			     strerror(errno));
		return -1;
	}

	for (n = 0; n < count; n++) {
		if (!r && !skip_name(names[n]->d_name)) {
			lws_snprintf(path, sizeof(path), "%s/conf.d/%s", dir,
				     names[n]->d_name);
			if (!stat(path, &st) && S_ISREG(st.st_mode))
				r = lwstp_conf_load_file(path, out, err,
							 errlen);
		}
		free(names[n]);
	}
	free(names);

	return r;
}
