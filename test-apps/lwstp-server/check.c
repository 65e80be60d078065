/*
 * lwstp-server - the plugins, and --check
 *
 * The distro lws has the plugin API (lws_plugins_init()) but not the
 * LWS_WITH_PLUGINS context option, so the server loads the plugins itself
 * and hands lws's loader an explicit protocol list.
 *
 * --check runs what the server would refuse to start on: the strict config
 * check (conf.h), a provider for every protocol named, and the protocols'
 * own verdict on their options.  For that last one each configured vhost
 * is created on a context of its own with no listen socket, with
 *
 *   protocols[0]	lwstp_server_proto_http
 *   protocols[1..]	the plugin protocols the vhost's "ws-protocols" names
 *   last		"lwstp-server-up": tells that all the others came up
 *
 * and its options, and lws_protocol_init() is run.  lws initialises a
 * vhost's protocols in order and stops at the first that fails, so the
 * last one has per-vhost data if and only if all of them came up (lws
 * 4.1.6's lws_protocol_init() then fails too; 4.3's only warns).  lws 4.3
 * sends LWS_CALLBACK_PROTOCOL_INIT only to protocols the options name, so
 * protocols[0] and "up" get (empty) entries of their own.
 */

#include "server.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int
plugin_each(struct lws_plugin *p, void *user)
{
	const lws_plugin_protocol_t *pp = (const lws_plugin_protocol_t *)p->hdr;
	int n;

	for (n = 0; n < pp->count_protocols; n++)
		lwsl_notice("lwstp-server: plugin %s: protocol \"%s\"\n",
			    pp->hdr.name, pp->protocols[n].name);

	return 0;
}

/* add dir to pl->dirs unless it is there already (the same directory) */
static void
add_dir(struct lwstp_plugins *pl, int *n, const char *dir)
{
	char a[PATH_MAX], b[PATH_MAX];
	struct stat st;
	int i;

	if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
		lwsl_warn("lwstp-server: plugin dir %s: not a directory\n",
			  dir);
		return;
	}
	for (i = 0; i < *n; i++)
		if (realpath(pl->dirs[i], a) && realpath(dir, b) &&
		    !strcmp(a, b))
			return;
	if (*n < LWSTP_SERVER_MAX_PLUGIN_DIRS)
		pl->dirs[(*n)++] = dir;
}

const struct lws_protocols *
lwstp_plugins_find(const struct lwstp_plugins *pl, const char *name)
{
	const struct lws_plugin *p;
	int n;

	for (p = pl->list; p; p = p->list) {
		const lws_plugin_protocol_t *pp =
				(const lws_plugin_protocol_t *)p->hdr;

		for (n = 0; n < pp->count_protocols; n++)
			if (pp->protocols[n].name &&
			    !strcmp(pp->protocols[n].name, name))
				return &pp->protocols[n];
	}

	return NULL;
}

static int
provided(const struct lwstp_plugins *pl, const char *name)
{
	return !strcmp(name, "http") || lwstp_plugins_find(pl, name);
}

int
lwstp_plugins_load(struct lwstp_plugins *pl, const struct lwstp_server_opts *o,
		   const struct lwstp_conf *c, char *err, size_t errlen)
{
	const struct lws_protocol_vhost_options *pv;
	const struct lwstp_conf_vhost *vh;
	const struct lwstp_conf_mount *m;
	int n = 0, i;

	memset(pl, 0, sizeof(*pl));
	for (i = 0; i < o->count_plugin_dirs; i++)
		add_dir(pl, &n, o->plugin_dirs[i]);
	for (i = 0; i < c->count_plugin_dirs; i++)
		add_dir(pl, &n, c->plugin_dirs[i]);
	pl->dirs[n] = NULL;

	/*
	 * Its result says nothing without a filter: lws 4.1.6 always returns
	 * 0, lws 4.3 returns 1 unless a callback stopped the scan, loaded or
	 * not.  What matters is below.
	 */
	if (n)
		lws_plugins_init(&pl->list, pl->dirs, "lws_protocol_plugin",
				 NULL, plugin_each, NULL);

	for (vh = c->vhosts; vh; vh = vh->next) {
		for (pv = vh->pvo; pv; pv = pv->next)
			if (!provided(pl, pv->name))
				goto missing;
		for (m = vh->callback_mounts; m; m = m->next)
			if (!provided(pl, m->protocol)) {
				lws_snprintf(err, errlen, "%s:%d: vhost "
					     "\"%s\": mount \"%s\": no plugin "
					     "provides protocol \"%s\"",
					     vh->file, m->line, vh->name,
					     m->mountpoint, m->protocol);
				return -1;
			}
	}

	return 0;

missing:
	lws_snprintf(err, errlen, "%s:%d: vhost \"%s\": ws-protocols: no "
		     "plugin provides protocol \"%s\" (plugin dirs: %s%s)",
		     vh->file, vh->line, vh->name, pv->name,
		     pl->dirs[0] ? pl->dirs[0] : "none",
		     pl->dirs[0] && pl->dirs[1] ? ", ..." : "");
	return -1;
}

void
lwstp_plugins_unload(struct lwstp_plugins *pl)
{
	if (pl->list)
		lws_plugins_destroy(&pl->list, NULL, NULL);
}

/* --- the protocols' verdict on their options ----------------------------- */

static int
callback_up(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	    void *in, size_t len)
{
	if (reason == LWS_CALLBACK_PROTOCOL_INIT &&
	    !lws_protocol_vh_priv_zalloc(lws_get_vhost(wsi),
					 lws_get_protocol(wsi), 1))
		return -1;

	return 0;
}

static const struct lws_protocols proto_up = {
	"lwstp-server-up", callback_up, 0, 0, 0, NULL, 0
};

struct probe_vhost {
	struct lws_protocols		*protocols;
	struct lws_protocol_vhost_options http_pvo, up_pvo;
	struct lws_vhost		*vhost;
};

static int
probe_vhost(struct lws_context *cx, const struct lwstp_plugins *pl,
	    const struct lwstp_conf_vhost *vh, struct probe_vhost *pv)
{
	const struct lws_protocol_vhost_options *o;
	struct lws_context_creation_info info;
	int n = 1, count = 0;

	for (o = vh->pvo; o; o = o->next)
		count++;
	pv->protocols = calloc((size_t)count + 3, sizeof(*pv->protocols));
	if (!pv->protocols)
		return -1;
	pv->protocols[0] = lwstp_server_proto_http;
	for (o = vh->pvo; o; o = o->next)
		if (strcmp(o->name, lwstp_server_proto_http.name))
			pv->protocols[n++] = *lwstp_plugins_find(pl, o->name);
	pv->protocols[n] = proto_up;

	pv->http_pvo.next = vh->pvo;
	pv->http_pvo.name = lwstp_server_proto_http.name;
	pv->http_pvo.value = "";
	pv->up_pvo.next = &pv->http_pvo;
	pv->up_pvo.name = proto_up.name;
	pv->up_pvo.value = "";

	memset(&info, 0, sizeof(info));
	info.vhost_name = vh->name;
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = pv->protocols;
	info.pvo = &pv->up_pvo;
	pv->vhost = lws_create_vhost(cx, &info);

	return pv->vhost ? 0 : -1;
}

/* 0: every vhost's protocols took their options */
static int
probe(const struct lwstp_plugins *pl, const struct lwstp_conf *c)
{
	struct lws_context_creation_info info;
	const struct lwstp_conf_vhost *vh;
	struct probe_vhost *pv;
	struct lws_context *cx;
	int n = 0, r = 0;

	pv = calloc((size_t)c->count_vhosts, sizeof(*pv));
	if (!pv)
		return -1;
	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	info.port = CONTEXT_PORT_NO_LISTEN;
	cx = lws_create_context(&info);
	if (!cx) {
		free(pv);
		return -1;
	}
	for (vh = c->vhosts; vh && !r; vh = vh->next, n++)
		r = probe_vhost(cx, pl, vh, &pv[n]);
	if (!r)
		lws_protocol_init(cx);

	for (vh = c->vhosts, n = 0; vh && !r; vh = vh->next, n++)
		if (!lws_protocol_vh_priv_get(pv[n].vhost,
				lws_vhost_name_to_protocol(pv[n].vhost,
							   proto_up.name))) {
			fprintf(stderr, "lwstp-server: %s:%d: vhost \"%s\": "
				"ws-protocols: a protocol refused its options "
				"(lws and the plugin said why above)\n",
				vh->file, vh->line, vh->name);
			r = -1;
		}

	lws_context_destroy(cx);
	for (n = 0; n < c->count_vhosts; n++)
		free(pv[n].protocols);
	free(pv);

	return r;
}

int
lwstp_server_check(const struct lwstp_server_opts *o, int quiet)
{
	struct lwstp_plugins pl;
	struct lwstp_conf conf;
	char err[512];
	int r = 1;

	memset(&conf, 0, sizeof(conf));
	memset(&pl, 0, sizeof(pl));
	if (lwstp_conf_load_dir(o->dir, &conf, err, sizeof(err)) ||
	    lwstp_plugins_load(&pl, o, &conf, err, sizeof(err))) {
		fprintf(stderr, "lwstp-server: %s\n", err);
		goto out;
	}
	if (probe(&pl, &conf))
		goto out;
	if (!quiet)
		printf("lwstp-server: config ok: %d vhost%s, %d warning%s\n",
		       conf.count_vhosts, conf.count_vhosts == 1 ? "" : "s",
		       conf.warnings, conf.warnings == 1 ? "" : "s");
	r = 0;
out:
	lwstp_plugins_unload(&pl);
	lwstp_conf_destroy(&conf);

	return r;
}
