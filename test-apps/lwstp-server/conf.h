/*
 * lwstp-server - the lwsws-format configuration loader
 *
 * The configuration is what lwsws reads: a global file DIR/conf and one
 * file per vhost (or per group of vhosts) in DIR/conf.d/, each a JSON object
 * with "global": { ... } and / or "vhosts": [ ... ], '#' starting a comment
 * that runs to the end of the line.  It is parsed with lws's own LEJP, and
 * the result is ready-made lws structures: each vhost's mounts as a list of
 * struct lws_http_mount, its "ws-protocols" as the struct
 * lws_protocol_vhost_options list lws hands each protocol at
 * LWS_CALLBACK_PROTOCOL_INIT, its "headers" likewise.
 *
 * Everything is allocated in one lwsac owned by struct lwstp_conf and freed
 * by lwstp_conf_destroy(); the lws context that uses the structures must be
 * destroyed first, since lws keeps pointers to them.
 *
 * Nothing here needs an lws context, so a fuzzer can drive
 * lwstp_conf_parse() on any buffer.
 */

#ifndef LWSTP_SERVER_CONF_H
#define LWSTP_SERVER_CONF_H

#include <libwebsockets.h>

/** Most "plugin-dir" entries kept, over all the files */
#define LWSTP_CONF_MAX_PLUGIN_DIRS	16
/** Largest configuration file read */
#define LWSTP_CONF_MAX_FILE		(1024 * 1024)

/** struct lwstp_conf_vhost - one element of a "vhosts" array */
struct lwstp_conf_vhost {
	struct lwstp_conf_vhost		*next;
	const char			*file;	/**< the file it came from */
	int				line;	/**< ... the line of its '{' */

	const char			*name;	/**< "name", required */
	const char			*iface;	/**< "interface", or NULL */
	int				port;	/**< "port", 1..65535 */
	int				keepalive_timeout; /**< s, 0: lws's 5 */
	const char			*ssl_cert; /**< "host-ssl-cert" */
	const char			*ssl_key;  /**< "host-ssl-key" */
	const char			*ssl_ca;   /**< "host-ssl-ca" */
	const char			*error_404; /**< "error-document-404" */
	char				sts;	   /**< "sts" */
	char				client_cert_required; /**< TLS clients
					   * without a certificate signed by
					   * host-ssl-ca are refused */
	char				ipv6only;  /**< 1 on, -1 off */
	char				noipv6;    /**< "noipv6" */

	/** "mounts", in file order, linked by mount_next */
	struct lws_http_mount		*mounts;
	/** "ws-protocols": one node per protocol (name = the protocol,
	 *  options = its settings, every value a string), file order */
	struct lws_protocol_vhost_options *pvo;
	int				count_pvo;
	/** "headers": added to every http response of the vhost */
	struct lws_protocol_vhost_options *headers;
};

/** struct lwstp_conf - everything read from one or more config files */
struct lwstp_conf {
	struct lwsac			*ac;	/**< owns everything below */

	/* "global" */
	const char			*server_string;
	/** "plugin-dir"s, NULL-terminated */
	const char	*plugin_dirs[LWSTP_CONF_MAX_PLUGIN_DIRS + 1];
	int				count_plugin_dirs;
	int				count_threads;	/**< 0: not given */
	int				timeout_secs;	/**< 0: lws default */
	char				init_ssl;
	/* after the vhosts listen, run as these (0 / NULL: stay) */
	int				uid, gid;
	const char			*username, *groupname;

	/* "vhosts", over all files, in the order read */
	struct lwstp_conf_vhost		*vhosts;
	struct lwstp_conf_vhost		*vhosts_tail;
	int				count_vhosts;

	int				warnings; /**< keys ignored, so far */
};

/**
 * lwstp_conf_parse() - parse one configuration file held in memory
 *
 * \param buf: the file's bytes (need not be NUL-terminated)
 * \param len: their count, at most LWSTP_CONF_MAX_FILE
 * \param filename: named in messages and kept in each vhost
 * \param out: zeroed before the first call; each call adds to it
 * \param err: receives "FILE:LINE: KEY: what is wrong" on failure
 * \param errlen: size of err
 *
 * Keys lwstp-server does not know, or knows but does not support, are
 * logged with lwsl_warn and counted in out->warnings.  Returns 0, or -1
 * with err filled in: bad JSON, a value of the wrong kind (an object where
 * a string belongs, ...), a missing "name" or "port", a bad number, an
 * unknown mount origin scheme.  Whatever the result, out must be released
 * with lwstp_conf_destroy().
 */
int
lwstp_conf_parse(const char *buf, size_t len, const char *filename,
		 struct lwstp_conf *out, char *err, size_t errlen);

/**
 * lwstp_conf_load_file() - read a file and lwstp_conf_parse() it
 *
 * \param path: the file
 * \param out, err, errlen: as for lwstp_conf_parse()
 */
int
lwstp_conf_load_file(const char *path, struct lwstp_conf *out, char *err,
		     size_t errlen);

/**
 * lwstp_conf_load_dir() - read an lwsws configuration directory
 *
 * \param dir: holds "conf" (required) and optionally "conf.d/", whose
 *	       regular files are read in name order (names starting with '.'
 *	       or ending in '~' are skipped)
 * \param out, err, errlen: as for lwstp_conf_parse()
 */
int
lwstp_conf_load_dir(const char *dir, struct lwstp_conf *out, char *err,
		    size_t errlen);

/** lwstp_conf_destroy() - free everything a conf holds and zero it */
void
lwstp_conf_destroy(struct lwstp_conf *conf);

#endif
