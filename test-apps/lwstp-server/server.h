/*
 * lwstp-server - what the parts of the server share
 */

#ifndef LWSTP_SERVER_H
#define LWSTP_SERVER_H

#include <lwstp.h>

#include "conf.h"

/** struct lwstp_server - a running configuration */
struct lwstp_server {
	struct lws_context		*context;
	struct lws_plugin		*plugins;	/**< loaded .so files */
	struct lwstp_server_vhost	*vhosts;	/**< one per vhost */
	int				count_vhosts;
};

/* per vhost: what lws keeps pointers to, so it lives until the end */
struct lwstp_server_vhost {
	struct lws_protocols		*protocols;	/**< [0] is "http" */
	struct lws_protocol_vhost_options http_pvo;	/**< enables [0] */
	struct lws_protocol_vhost_options up_pvo;	/**< enables the last */
	struct lws_vhost		*vhost;
};

/**
 * lwstp_server_plugins_load() - load the protocol plugins of conf's dirs
 *
 * Logs each plugin found; a plugin dir that does not exist is a warning.
 */
int
lwstp_server_plugins_load(struct lwstp_server *s, const struct lwstp_conf *c);

/**
 * lwstp_server_check() - every protocol and callback mount has a provider
 *
 * \param err: receives "FILE:LINE: vhosts[i]: ..." for the first problem
 */
int
lwstp_server_check(struct lwstp_server *s, const struct lwstp_conf *c,
		   char *err, size_t errlen);

/**
 * lwstp_server_create() - the lws context and one lws vhost per conf vhost
 *
 * \param port: -1, or the port every vhost listens on instead (0: any)
 *
 * Each vhost gets protocols[0] = the lwstp integration
 * (lwstp_callback_http_dummy), then the plugin protocols its "ws-protocols"
 * names, with their options as per-vhost options.
 */
int
lwstp_server_create(struct lwstp_server *s, const struct lwstp_conf *c,
		    int port);

/**
 * lwstp_server_destroy() - context, then plugins, then what lws pointed at
 */
void
lwstp_server_destroy(struct lwstp_server *s);

/**
 * lwstp_conf_default() - the built-in configuration
 *
 * \param demo_dir: served at "/"
 * \param plugin_dir: where libprotocol_lws_threadpool.so is
 * \param conf, confd: receive the texts of DIR/conf and DIR/conf.d/localhost
 *		       (malloc'd, for the caller to free)
 */
int
lwstp_conf_default(const char *demo_dir, const char *plugin_dir, char **conf,
		   char **confd);

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
