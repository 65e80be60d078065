/*
 * Unit tests of lwstp_conf_parse(), the strict check before lws's loader:
 * good configurations keep what the server needs (plugin dirs, who to run
 * as, vhost names, protocol options, callback mounts), bad ones give an
 * error naming the file, the line and the key.
 */

#include "conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;

#define CHECK(cond, ...) do { \
	if (cond) \
		passed++; \
	else { \
		failed++; \
		fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, \
			#cond); \
		fprintf(stderr, __VA_ARGS__); \
		fprintf(stderr, "\n"); \
	} \
} while (0)

static const char good[] =
	"# a comment line\n"
	"{\n"
	"  \"global\": {\n"
	"    \"server-string\": \"test server\",  # trailing comment\n"
	"    \"plugin-dir\": \"/a\",\n"
	"    \"plugin-dir\": \"/b\", \"plugin-dir\": \"/c\",\n"
	"    \"count-threads\": \"1\",\n"
	"    \"timeout-secs\": 7,\n"
	"    \"init-ssl\": \"no\",\n"
	"    \"username\": \"nobody\",\n"
	"    \"uid\": \"65534\", \"gid\": \"65534\", \"groupname\": \"nogroup\",\n"
	"    \"ws-pingpong-secs\": \"200\", \"default-alpn\": \"http/1.1\",\n"
	"    \"reject-service-keywords\": [{ \"bot\": \"404\" }]\n"
	"  },\n"
	"  \"vhosts\": [{\n"
	"    \"name\": \"localhost\",\n"
	"    \"port\": \"7681\",\n"
	"    \"interface\": \"127.0.0.1\",\n"
	"    \"keepalive_timeout\": \"60\",\n"
	"    \"sts\": \"off\", \"ciphers\": \"HIGH\", \"alpn\": \"h2\",\n"
	"    \"redirect-http\": false, \"allow-non-tls\": \"no\",\n"
	"    \"headers\": [{ \"X-A\": \"1\", \"X-B:\": \"2\" },\n"
	"                { \"X-C\": \"3\" }],\n"
	"    \"mounts\": [{\n"
	"      \"mountpoint\": \"/\",\n"
	"      \"origin\": \"file:///var/www\",\n"
	"      \"default\": \"index.html\",\n"
	"      \"cache-max-age\": \"60\",\n"
	"      \"cache-reuse\": \"1\",\n"
	"      \"cache-revalidate\": \"yes\",\n"
	"      \"cache-intermediaries\": \"0\", \"auth-mask\": \"0\",\n"
	"      \"extra-mimetypes\": { \".zip\": \"application/zip\",\n"
	"                           \".md\": \"text/markdown\" }\n"
	"    }, {\n"
	"      \"mountpoint\": \"/status\",\n"
	"      \"origin\": \"callback://lws-threadpool\"\n"
	"    }, {\n"
	"      \"mountpoint\": \"/away\",\n"
	"      \"origin\": \">https://example.invalid/x\"\n"
	"    }],\n"
	"    \"ws-protocols\": [{\n"
	"      \"lws-threadpool\": {\n"
	"        \"status\": \"ok\", \"threads\": \"4\",\n"
	"        \"max-queue-depth\": 64, \"default\": \"1\"\n"
	"      },\n"
	"      \"other\": {}\n"
	"    }, { \"third\": { \"a\": \"\\u00e9\\\"q\" } }],\n"
	"    \"frobnicate\": { \"deep\": [1, 2, { \"x\": null }] }\n"
	"  }, {\n"
	"    \"name\": \"second\", \"port\": 8000\n"
	"  }],\n"
	"  \"unknown-top\": 5\n"
	"}\n"
	"# trailing comment\n";

static const char *
opt(const struct lws_protocol_vhost_options *o, const char *name)
{
	for (; o; o = o->next)
		if (!strcmp(o->name, name))
			return o->value;

	return NULL;
}

static int
count(const struct lws_protocol_vhost_options *o)
{
	int n = 0;

	for (; o; o = o->next)
		n++;

	return n;
}

static const char second[] =
	"{\"vhosts\":[{\"name\":\"third\",\"port\":\"1\"}],"
	"\"global\":{\"plugin-dir\":\"/d\"}}";

static void
test_good(void)
{
	const struct lws_protocol_vhost_options *pv;
	struct lwstp_conf c;
	struct lwstp_conf_vhost *vh;
	char err[512];
	int r;

	memset(&c, 0, sizeof(c));
	r = lwstp_conf_parse(good, strlen(good), "good.conf", &c, err,
			     sizeof(err));
	CHECK(!r, "parse failed: %s", err);
	if (r)
		return;

	CHECK(c.count_plugin_dirs == 3, "%d", c.count_plugin_dirs);
	CHECK(!strcmp(c.plugin_dirs[0], "/a") && !strcmp(c.plugin_dirs[1], "/b")
	      && !strcmp(c.plugin_dirs[2], "/c") && !c.plugin_dirs[3],
	      "plugin dirs");
	CHECK(!c.init_ssl, "globals");
	/* who it runs as: lws applies it, the server checks it was */
	CHECK(c.uid == 65534 && c.gid == 65534 && c.username &&
	      !strcmp(c.username, "nobody") && c.groupname &&
	      !strcmp(c.groupname, "nogroup"), "uid %d gid %d", c.uid, c.gid);
	/* ws-pingpong-secs (deprecated), frobnicate, unknown-top */
	CHECK(c.warnings == 3, "warnings %d", c.warnings);
	CHECK(c.count_vhosts == 2 && !c.count_tls, "%d vhosts",
	      c.count_vhosts);

	vh = c.vhosts;
	CHECK(!strcmp(vh->name, "localhost") && vh->port == 7681 && !vh->tls,
	      "vhost 0");
	CHECK(!strcmp(vh->file, "good.conf") && vh->line == 15, "line %d",
	      vh->line);
	CHECK(vh->callback_mounts && !vh->callback_mounts->next &&
	      !strcmp(vh->callback_mounts->mountpoint, "/status") &&
	      !strcmp(vh->callback_mounts->protocol, "lws-threadpool") &&
	      vh->callback_mounts->line == 35, "callback mount (line %d)",
	      vh->callback_mounts ? vh->callback_mounts->line : 0);

	pv = vh->pvo;
	CHECK(count(pv) == 3, "%d pvos", count(pv));
	CHECK(!strcmp(pv->name, "lws-threadpool") && !strcmp(pv->value, ""),
	      "pvo 0");
	CHECK(count(pv->options) == 4 &&
	      !strcmp(pv->options->name, "status") &&	/* file order */
	      !strcmp(opt(pv->options, "threads"), "4") &&
	      !strcmp(opt(pv->options, "max-queue-depth"), "64") &&
	      !strcmp(opt(pv->options, "default"), "1"), "pvo 0 options");
	pv = pv->next;
	CHECK(!strcmp(pv->name, "other") && !pv->options, "pvo 1");
	pv = pv->next;
	CHECK(!strcmp(pv->name, "third") &&
	      !strcmp(opt(pv->options, "a"), "\xc3\xa9\"q"), "pvo 2 %s",
	      opt(pv->options, "a"));

	vh = vh->next;
	CHECK(vh && !strcmp(vh->name, "second") && vh->port == 8000 &&
	      !vh->callback_mounts && !vh->pvo && !vh->next, "vhost 1");
	CHECK(c.vhosts_tail == vh, "tail");

	/* a second file adds to the same conf */
	r = lwstp_conf_parse(second, strlen(second), "conf.d/third", &c, err,
			     sizeof(err));
	CHECK(!r, "second file: %s", err);
	CHECK(c.count_vhosts == 3 && !strcmp(c.vhosts_tail->name, "third") &&
	      !strcmp(c.vhosts_tail->file, "conf.d/third") &&
	      c.count_plugin_dirs == 4, "second file adds");

	lwstp_conf_destroy(&c);
	CHECK(!c.ac && !c.vhosts, "destroy zeroes");
}

static void
test_long_string(void)
{
	struct lwstp_conf c;
	size_t n, len = 5000;
	char *buf = malloc(2 * len + 200), err[512], *p;
	int r;

	/* LEJP hands long strings over in chunks; lws's loader keeps only
	 * the last one (but for headers) */
	p = buf + sprintf(buf, "{\"vhosts\":[{\"name\":\"");
	for (n = 0; n < len; n++)
		*p++ = (char)('a' + n % 26);
	p += sprintf(p, "\",\"port\":\"80\",\"headers\":[{\"x\":\"");
	for (n = 0; n < len; n++)
		*p++ = 'h';
	p += sprintf(p, "\"}]}]}");
	memset(&c, 0, sizeof(c));
	r = lwstp_conf_parse(buf, (size_t)(p - buf), "long", &c, err,
			     sizeof(err));
	CHECK(r && strstr(err, "vhosts[0].name") &&
	      strstr(err, "keep only its last part"), "long string: %s",
	      r ? err : "accepted");
	lwstp_conf_destroy(&c);
	free(buf);
}

/* bad configurations: the message must hold each of the fragments */
static const struct bad {
	const char	*text;
	const char	*frag[3];
} bads[] = {
	/* a client certificate requirement that can not be enforced */
	{ "{\"vhosts\": [{\"name\": \"a\", \"port\": \"1\",\n"
	  "\"client-cert-required\": \"1\"}]}",
	  { "bad.conf:1:", "\"client-cert-required\" needs",
	    "\"host-ssl-ca\"" } },
	/* a security setting this lws would ignore is refused */
#if !defined(LWS_WITH_ACCESS_LOG)
	{ "{\"vhosts\": [{\"name\": \"a\", \"port\": \"1\",\n"
	  "\"access-log\": \"/var/log/x\"}]}",
	  { "bad.conf:2:", "vhosts[0].access-log",
	    "refused: this libwebsockets is built without "
	    "LWS_WITH_ACCESS_LOG" } },
#endif
#if !defined(LWS_WITH_PEER_LIMITS)
	{ "{\"global\": {\n\"ip-limit-wsi\": \"10\"}}",
	  { "bad.conf:2:", "global.ip-limit-wsi", "LWS_WITH_PEER_LIMITS" } },
#endif
	/* lws turns it on whatever its value */
	{ "{\"vhosts\": [{\"name\": \"a\", \"port\": \"1\",\n"
	  "\"disable-no-protocol-ws-upgrades\": \"0\"}]}",
	  { "bad.conf:2:", "disable-no-protocol-ws-upgrades",
	    "whatever its value" } },
	/* lws's atoi() would read 443 */
	{ "{\"vhosts\": [{\"name\": \"a\", \"port\": \"443x\"}]}",
	  { "bad.conf:1:", "vhosts[0].port", "not a whole number" } },
	{ "{\"vhosts\": [{\"name\": \"a\", \"port\": \"1\",\n"
	  "\"redirect-http\": \"enabled\"}]}",
	  { "bad.conf:2:", "vhosts[0].redirect-http", "not a boolean" } },
	{ "{\"vhosts\": [{\"name\": \"a\", \"port\": \"1\",\n"
	  "\"ws-protocols\": [{\"p\": {\"x\": \"1\",\n\"x\": \"2\"}}]}]}",
	  { "bad.conf:3:", "ws-protocols[0].p.x", "given twice" } },
	{ "{\"global\": {\n\"uid\": \"-5\"}}",
	  { "bad.conf:2:", "global.uid", "0.." } },
	{ "{\"global\": {\n\"gid\": \"x\"}}",
	  { "bad.conf:2:", "global.gid", "not a whole number" } },
	{ "{\"vhosts\": [{\"name\": \"a\",\n\"port\": \"x7\"}]}",
	  { "bad.conf:2:", "vhosts[0].port", "not a whole number" } },
	{ "{\"vhosts\": [{\"name\": \"a\",\n\"port\": \"70000\"}]}",
	  { "bad.conf:2:", "vhosts[0].port", "1..65535" } },
	{ "{\"vhosts\": [{\"name\": \"a\", \"port\": \"0\"}]}",
	  { "bad.conf:1:", "vhosts[0].port", "1..65535" } },
	{ "{\"vhosts\": [\n{\"name\": \"a\"\n}]}",
	  { "bad.conf:2:", "vhosts[0]:", "has no \"port\"" } },
	{ "{\"vhosts\": [{\"port\": \"1\"}, {\n\"port\": \"2\"}]}",
	  { "bad.conf:1:", "vhosts[0]:", "has no \"name\"" } },
	{ "{\"vhosts\": {\"name\": \"a\"}}",
	  { "bad.conf:1:", "vhosts:", "must be an array" } },
	{ "{\"vhosts\": \"x\"}",
	  { "bad.conf:1:", "vhosts:", "must be an array" } },
	{ "{\"global\": [1]}",
	  { "bad.conf:1:", "global:", "must be an object" } },
	{ "{\"vhosts\": [{\"name\": [\"a\"], \"port\": \"1\"}]}",
	  { "bad.conf:1:", "vhosts[0].name", "must be a string" } },
	{ "{\"vhosts\": [\"a\"]}",
	  { "bad.conf:1:", "vhosts[0]", "must be an object" } },
	{ "{\"vhosts\": [{\"name\": \"a\", \"port\": \"1\",\n\"mounts\": "
	  "[{\"mountpoint\": \"/\"}]}]}",
	  { "bad.conf:2:", "vhosts[0].mounts[0]", "no \"origin\"" } },
	{ "{\"vhosts\": [{\"name\": \"a\", \"port\": \"1\", \"mounts\": [\n"
	  "{\"mountpoint\": \"/\",\n\"origin\": \"ftp://x\"}]}]}",
	  { "bad.conf:3:", "vhosts[0].mounts[0]", "unknown scheme" } },
	{ "{\"vhosts\": [{\"name\": \"a\", \"port\": \"1\", \"mounts\": [\n"
	  "{\"mountpoint\": \"x\", \"origin\": \"file:///\"}]}]}",
	  { "bad.conf:2:", "vhosts[0].mounts[0].mountpoint",
	    "starts with '/'" } },
	{ "{\"vhosts\": [{\"name\": \"a\", \"port\": \"1\", \"mounts\": [\n"
	  "{\"mountpoint\": \"/\", \"origin\": \"file://\"}]}]}",
	  { "bad.conf:2:", "vhosts[0].mounts[0]", "nothing after" } },
	{ "{\"vhosts\": [{\"name\": \"a\", \"port\": \"1\", \"mounts\": [\n"
	  "{\"mountpoint\": \"/\", \"origin\": \"http://h/\"}]}]}",
	  { "bad.conf:2:", "vhosts[0].mounts[0]", "proxy" } },
	{ "{\"vhosts\": [{\"name\": \"a\", \"port\": \"1\",\n"
	  "\"ws-protocols\": [{\"p\": \"ok\"}]}]}",
	  { "bad.conf:2:", "vhosts[0].ws-protocols[0].p",
	    "must be an object" } },
	{ "{\"vhosts\": [{\"name\": \"a\", \"port\": \"1\",\n"
	  "\"ws-protocols\": [{\"p\": {\"threads\": {\"n\": 1}}}]}]}",
	  { "bad.conf:2:", "ws-protocols[0].p.threads", "must be a string" } },
	{ "{\"vhosts\": [{\"name\": \"a\", \"port\": \"1\",\n"
	  "\"ws-protocols\": [{\"p\": {}}, {\"p\": {}}]}]}",
	  { "bad.conf:2:", "ws-protocols[1]", "listed twice" } },
	{ "{\"vhosts\": [{\"name\": \"a\", \"port\": \"1\",\n"
	  "\"keepalive_timeout\": \"soon\"}]}",
	  { "bad.conf:2:", "vhosts[0].keepalive_timeout", "whole number" } },
	{ "{\"global\": {\"init-ssl\": \"maybe\"}}",
	  { "bad.conf:1:", "global.init-ssl", "not a boolean" } },
	{ "{\"global\": {\"server-string\": null}}",
	  { "bad.conf:1:", "global.server-string", "null" } },
	{ "{\"global\": {\"plugin-dir\": [\"/a\"]}}",
	  { "bad.conf:1:", "global.plugin-dir", "must be a string" } },
	{ "{\"vhosts\": [{\"name\": \"a\",\n\n \"port\" \"1\"}]}",
	  { "bad.conf:3:", "bad JSON", "" } },
	{ "{\"vhosts\": [{\"name\": \"a\", \"port\": \"1\"}]",
	  { "bad.conf:1:", "end of file", "" } },
	{ "", { "bad.conf:1:", "end of file", "" } },
	{ "# only a comment\n", { "bad.conf:", "end of file", "" } },
	{ "[1, 2]", { "bad.conf:1:", "(top level)", "must be an object" } },
	{ "{\"a\": 1}\n\n{\"b\": 2}",
	  { "bad.conf:3:", "(top level)", "after the top-level object" } },
	{ "{\"vhosts\": [{\"name\": \"a\", \"port\": \"1\"}]} x",
	  { "bad.conf:1:", "after the top-level object", "" } },
	{ "{\"vhosts\": [{\"name\": \"a\\u0000b\", \"port\": \"1\"}]}",
	  { "bad.conf:1:", "vhosts[0].name", "NUL" } },
	{ "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":{\"i\":"
	  "{\"j\":{\"k\":{\"l\":{\"m\":1}}}}}}}}}}}}}",
	  { "bad.conf:1:", "", "" } },
	{ "{\"vhosts\": [{\"name\": \"a\", \"port\": \"1\", \"ws-protocols\": "
	  "[{\"pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
	  "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp\": "
	  "{\"oooooooooooooooooooo\": \"1\"}}]}]}",
	  { "bad.conf:1:", "too long", "" } },
};

static void
test_bad(void)
{
	size_t n, f;

	for (n = 0; n < LWS_ARRAY_SIZE(bads); n++) {
		struct lwstp_conf c;
		char err[512];
		int r;

		memset(&c, 0, sizeof(c));
		r = lwstp_conf_parse(bads[n].text, strlen(bads[n].text),
				     "bad.conf", &c, err, sizeof(err));
		CHECK(r == -1, "bad case %zu accepted", n);
		for (f = 0; !r ? 0 : f < 3; f++)
			CHECK(strstr(err, bads[n].frag[f]) != NULL,
			      "bad case %zu: \"%s\" not in: %s", n,
			      bads[n].frag[f], err);
		lwstp_conf_destroy(&c);
	}
}

/* every prefix of a good file fails cleanly (no crash, no leak) */
static void
test_truncations(void)
{
	size_t len = strlen(good), n;
	int bad = 0;

	for (n = 0; n < len; n++) {
		struct lwstp_conf c;
		char err[512];

		memset(&c, 0, sizeof(c));
		if (!lwstp_conf_parse(good, n, "t", &c, err, sizeof(err)) &&
		    n < len - 20)
			bad++;
		else if (strncmp(err, "t:", 2) && n < len - 20)
			bad++;
		lwstp_conf_destroy(&c);
	}
	CHECK(!bad, "%d truncations misjudged", bad);
}

int
main(void)
{
	lws_set_log_level(LLL_ERR, NULL);	/* the warnings are expected */

	test_good();
	test_long_string();
	test_bad();
	test_truncations();

	printf("%d passed, %d failed\n", passed, failed);

	return !!failed;
}
