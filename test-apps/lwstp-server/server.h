/*
 * lwstp-server - what the parts of the server share
 *
 *   server.c	 the command line, the built-in config tree
 *   supervise.c the root process: forks the server, reloads it on SIGHUP,
 *		 stops it on SIGINT / SIGTERM (as lwsws does)
 *   check.c	 --check: the config (conf*.c), the plugins, and each
 *		 vhost's protocol options tried on the plugins
 *   serve.c	 the server process: lws's own loader, serving, draining
 *   conf*.c	 the strict check of the config files (conf.h)
 */

#ifndef LWSTP_SERVER_H
#define LWSTP_SERVER_H

#include <lwstp.h>

#include "conf.h"

/** Most -p DIR */
#define LWSTP_SERVER_MAX_P		8
/** Most plugin dirs: the default one, -p's and the config's */
#define LWSTP_SERVER_MAX_PLUGIN_DIRS	(1 + LWSTP_SERVER_MAX_P + \
					 LWSTP_CONF_MAX_PLUGIN_DIRS)

/** struct lwstp_server_opts - what the command line says */
struct lwstp_server_opts {
	const char	*dir;		/**< the config dir */
	/** lwstp-server's own plugin dir (unless -n) and -p's, NULL-ended */
	const char	*plugin_dirs[1 + LWSTP_SERVER_MAX_P + 1];
	int		count_plugin_dirs;
	int		logs;		/**< lws log level bitmap */
};

/** struct lwstp_plugins - the plugins loaded for one config */
struct lwstp_plugins {
	struct lws_plugin		*list;	/**< lws_plugins_init()'s */
	/** what lws_plugins_init() scanned: opts', then the config's */
	const char *dirs[LWSTP_SERVER_MAX_PLUGIN_DIRS + 1];
};

/**
 * lwstp_plugins_load() - load the plugins of the options' and conf's dirs
 *
 * A dir that does not exist is a warning; a dir given twice is scanned
 * once.  Returns 0, or -1 if a protocol conf names (in "ws-protocols" or a
 * callback:// mount) is provided by no plugin, with err filled in.
 */
int
lwstp_plugins_load(struct lwstp_plugins *pl, const struct lwstp_server_opts *o,
		   const struct lwstp_conf *c, char *err, size_t errlen);

/** lwstp_plugins_find() - the loaded protocol called name, or NULL */
const struct lws_protocols *
lwstp_plugins_find(const struct lwstp_plugins *pl, const char *name);

/** lwstp_plugins_unload() - lws_plugins_destroy() */
void
lwstp_plugins_unload(struct lwstp_plugins *pl);

/**
 * lwstp_server_proto_http - every vhost's protocols[0], "http"
 *
 * lwstp_callback_http_dummy (the lwstp integration) with OpenSSL's own
 * verdict on client certificates kept, and the server's count of open
 * connections (for draining after a reload).
 */
extern const struct lws_protocols lwstp_server_proto_http;

/**
 * lwstp_server_check() - --check: what the server would refuse to start on
 *
 * The strict config check, the plugins, and every vhost's "ws-protocols"
 * options handed to the plugins' LWS_CALLBACK_PROTOCOL_INIT on vhosts that
 * do not listen.  Prints "config ok: ..." and returns 0, or says what is
 * wrong on stderr and returns 1.
 */
int
lwstp_server_check(const struct lwstp_server_opts *o, int quiet);

/**
 * lwstp_server_serve() - the server process: serve o->dir until stopped
 *
 * \param notify_fd: -1, or where one byte is written once a SIGHUP made
 *		     the server drop its listen sockets (the supervisor then
 *		     starts the new server)
 *
 * Runs until SIGINT / SIGTERM, or after a SIGHUP until its last
 * connection closed.  Returns the exit code.
 */
int
lwstp_server_serve(const struct lwstp_server_opts *o, int notify_fd);

/**
 * lwstp_supervise() - the root process (see supervise.c)
 *
 * Returns the exit code.
 */
int
lwstp_supervise(const struct lwstp_server_opts *o);

/**
 * lwstp_conf_default() - the built-in configuration
 *
 * \param demo_dir: served at "/"
 * \param plugin_dir: where libprotocol_lws_threadpool.so is
 * \param port: the vhost's port
 * \param conf, confd: receive the texts of DIR/conf and DIR/conf.d/localhost
 *		       (malloc'd, for the caller to free)
 */
int
lwstp_conf_default(const char *demo_dir, const char *plugin_dir, int port,
		   char **conf, char **confd);

/**
 * lwstp_default_dirs() - the demo and plugin dirs of this binary's layout
 *
 * Run from the build tree, the source demo/ and the build's plugin dir;
 * installed, the same relative to the installed binary.
 */
void
lwstp_default_dirs(char *demo, size_t demo_len, char *plugins,
		   size_t plugins_len);

#endif
