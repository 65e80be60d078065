/*
 * lwstp-server - the strict check of an lwsws configuration
 *
 * lws's own loader (lwsws_get_config_globals() / lwsws_get_config_vhosts(),
 * lib/roles/http/server/lejp-conf.c) gives the configuration its meaning;
 * it ignores what it does not understand and reads bad numbers as 0.  This
 * is the check that runs before it, over the same files (DIR/conf, then
 * every regular file of DIR/conf.d/ that lws_dir() lists): it reports
 *
 *   - bad JSON, a value of the wrong kind, a bad number or boolean, a
 *     vhost without "name" or "port", a mount without "mountpoint" or
 *     "origin", an unknown origin scheme: errors;
 *   - a key that matters for security and that this libwebsockets would
 *     ignore (built without what applies it), or that cannot take effect
 *     ("host-ssl-cert" without "init-ssl", "client-cert-required" without
 *     a CA): errors;
 *   - keys lws does not know (it ignores them) and deprecated ones:
 *     warnings, counted;
 *
 * each as "FILE:LINE: key.path: reason".  It keeps what the server needs
 * besides lws's loader: the plugin dirs, who to run as, and per vhost its
 * name, its "ws-protocols" with their options (to check them with the
 * plugins before anything listens) and its callback:// mounts.
 *
 * Everything is allocated in one lwsac owned by struct lwstp_conf and freed
 * by lwstp_conf_destroy().  Nothing here needs an lws context, so a fuzzer
 * can drive lwstp_conf_parse() on any buffer.
 */

#ifndef LWSTP_SERVER_CONF_H
#define LWSTP_SERVER_CONF_H

#include <libwebsockets.h>

/** Most "plugin-dir" entries kept, over all the files (lws keeps 9) */
#define LWSTP_CONF_MAX_PLUGIN_DIRS	9
/** Largest configuration file read */
#define LWSTP_CONF_MAX_FILE		(1024 * 1024)

/** struct lwstp_conf_mount - a callback:// mount */
struct lwstp_conf_mount {
	struct lwstp_conf_mount		*next;
	const char			*mountpoint;
	const char			*protocol; /**< after "callback://" */
	int				line;
};

/** struct lwstp_conf_vhost - one element of a "vhosts" array */
struct lwstp_conf_vhost {
	struct lwstp_conf_vhost		*next;
	const char			*file;	/**< the file it came from */
	int				line;	/**< ... the line of its '{' */

	const char			*name;	/**< "name", required */
	int				port;	/**< "port", 1..65535 */
	char				tls;	/**< has "host-ssl-cert" */

	/** "ws-protocols": one node per protocol (name = the protocol,
	 *  options = its settings, every value a string), file order */
	struct lws_protocol_vhost_options *pvo;
	struct lwstp_conf_mount		*callback_mounts;
};

/** struct lwstp_conf - everything read from one or more config files */
struct lwstp_conf {
	struct lwsac			*ac;	/**< owns everything below */

	/** "plugin-dir"s, NULL-terminated */
	const char	*plugin_dirs[LWSTP_CONF_MAX_PLUGIN_DIRS + 1];
	int				count_plugin_dirs;
	char				init_ssl;
	/* after the vhosts listen, lws runs as these (0 / NULL: stay) */
	int				uid, gid;
	const char			*username, *groupname;

	/* "vhosts", over all files, in the order read */
	struct lwstp_conf_vhost		*vhosts;
	struct lwstp_conf_vhost		*vhosts_tail;
	int				count_vhosts;
	int				count_tls;	/**< vhosts with TLS */

	int				warnings; /**< so far */
	int				bytes;	/**< read, over all files */
};

/**
 * lwstp_conf_parse() - check one configuration file held in memory
 *
 * \param buf: the file's bytes (need not be NUL-terminated)
 * \param len: their count, at most LWSTP_CONF_MAX_FILE
 * \param filename: named in messages and kept in each vhost
 * \param out: zeroed before the first call; each call adds to it
 * \param err: receives "FILE:LINE: key.path: what is wrong" on failure
 * \param errlen: size of err
 *
 * Warnings go to lwsl_warn, counted in out->warnings.  Returns 0, or -1
 * with err filled in.  Whatever the result, out must be released with
 * lwstp_conf_destroy().
 */
int
lwstp_conf_parse(const char *buf, size_t len, const char *filename,
		 struct lwstp_conf *out, char *err, size_t errlen);

/**
 * lwstp_conf_load_dir() - check an lwsws configuration directory
 *
 * \param dir: holds "conf" (required) and optionally "conf.d/", whose
 *	       files are read as lws reads them (lws_dir(): name order,
 *	       regular files, names with '~' skipped)
 * \param out, err, errlen: as for lwstp_conf_parse()
 *
 * After the files, checks what spans them: at least one vhost, and TLS
 * vhosts only with the global "init-ssl".
 */
int
lwstp_conf_load_dir(const char *dir, struct lwstp_conf *out, char *err,
		    size_t errlen);

/** lwstp_conf_destroy() - free everything a conf holds and zero it */
void
lwstp_conf_destroy(struct lwstp_conf *conf);

#endif
