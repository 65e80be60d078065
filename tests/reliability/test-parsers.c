/*
 * Bad input catalogue for the three input parsers, by seeded mutation:
 *
 *   client messages	lwstp_plugin_parse_msg()	(the plugin)
 *   per-vhost options	lwstp_plugin_parse_opts()	(the plugin)
 *   config files	lwstp_conf_parse()		(lwstp-server)
 *
 * Good inputs are mutated (bits flipped, JSON tokens and keys inserted,
 * spans deleted or repeated, truncations) with a fixed seed, and every
 * result is checked against the parser's promises (fuzz/checks.h: a result
 * from its list, a reason on every failure, JSON-safe message errors, the
 * file name in config errors, nothing written past errlen, accepted values
 * within their ranges, consistent structures), plus hand-picked edge cases
 * (sizes at the limits, NULL values, huge numbers, deep nesting).  The
 * example-based tests of each parser are the owners' (plugin-units,
 * server-conf); this one covers the space between them, in every build,
 * and shares its checks with the libFuzzer targets in fuzz/.
 *
 * LWSTP_PARSERS_ROUNDS scales the number of mutants (default 200000
 * messages, a quarter of that options and config files),
 * LWSTP_PARSERS_SEED changes them.  A broken promise prints the input as a
 * C string, ready to become a regression case.
 */

#include "checks.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>

static int passed, failed;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t
rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;

	return n ? (uint32_t)(rng % n) : 0;
}

static void
dump(const char *what, const char *why, const char *buf, size_t len)
{
	size_t i;

	fprintf(stderr, "FAIL %s: %s\n  input (%zu bytes): \"", what, why, len);
	for (i = 0; i < len && i < 600; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c == '"' || c == '\\')
			fprintf(stderr, "\\%c", c);
		else if (c >= 0x20 && c < 0x7f)
			fputc(c, stderr);
		else
			fprintf(stderr, "\\x%02x\"\"", c);
	}
	fprintf(stderr, "%s\"\n", len > 600 ? "..." : "");
}

static void
verdict(const char *what, const char *why, const char *buf, size_t len)
{
	if (!why) {
		passed++;
		return;
	}
	failed++;
	if (failed <= 20)
		dump(what, why, buf, len);
}

/* --- mutation ----------------------------------------------------------- */

static const char * const tokens[] = {
	"{", "}", "[", "]", "\"", ":", ",", "\\", "\\u0000", "\\ud800",
	"\\uffff", "\\\"", "null", "true", "false", "-", "0", "-0", "1.5",
	"1e9", "18446744073709551616", "-9223372036854775808", "4294967296",
	"4294967297", "99999999999999999999999", "#", "\n", "\xff", "\xc3",
	" ", "\t", "\"op\"", "\"size\"", "\"id\"", "\"token\"", "\"job\"",
	"\"outlive\"", "\"start\"", "\"stop\"", "\"attach\"", "\"sha256\"",
	"\"vhosts\"", "\"global\"", "\"mounts\"", "\"port\"", "\"name\"",
	"\"ws-protocols\"", "\"origin\"", "\"mountpoint\"", "\"headers\"",
	"\"plugin-dir\"", "\"interface\"", "\"default\"", "callback://",
	"file://", "http://", ">https://", "/", "\"\"", "{}", "[]",
	"[[[[[[[[[[[[[[[[", "{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":",
};

/* mutate buf[0..*len) in place, at most cap bytes */
static void
mutate(char *buf, size_t *len, size_t cap)
{
	int ops = 1 + (int)rnd(6), i;
	size_t pos, n, t;

	for (i = 0; i < ops; i++) {
		pos = *len ? rnd((uint32_t)*len + 1) : 0;
		switch (rnd(7)) {
		case 0:		/* flip a bit */
			if (*len)
				buf[rnd((uint32_t)*len)] ^=
					(char)(1 << rnd(8));
			break;
		case 1:		/* a random byte */
			if (*len)
				buf[rnd((uint32_t)*len)] = (char)rnd(256);
			break;
		case 2:		/* insert a token */
		case 3:
			t = rnd(LWS_ARRAY_SIZE(tokens));
			n = strlen(tokens[t]);
			if (!n)
				n = 1;	/* "\0" */
			if (*len + n > cap)
				break;
			memmove(buf + pos + n, buf + pos, *len - pos);
			memcpy(buf + pos, tokens[t], n);
			*len += n;
			break;
		case 4:		/* delete a span */
			if (pos >= *len)
				break;
			n = 1 + rnd(16);
			if (pos + n > *len)
				n = *len - pos;
			memmove(buf + pos, buf + pos + n, *len - pos - n);
			*len -= n;
			break;
		case 5:		/* repeat a span */
			if (pos >= *len)
				break;
			n = 1 + rnd(64);
			if (pos + n > *len)
				n = *len - pos;
			if (*len + n > cap)
				break;
			memmove(buf + pos + n, buf + pos, *len - pos);
			*len += n;
			break;
		default:	/* truncate */
			*len = pos;
			break;
		}
	}
}

static long
env_long(const char *name, long def)
{
	const char *e = getenv(name);

	return e && atol(e) > 0 ? atol(e) : def;
}

/* --- messages ------------------------------------------------------------ */

static const char * const msg_seeds[] = {
	"{\"op\":\"start\",\"job\":\"sha256\",\"size\":1048576,"
	"\"outlive\":false}",
	"{\"op\":\"start\",\"job\":\"sha256\",\"size\":1,\"outlive\":true}",
	"{\"op\":\"stop\",\"id\":7}",
	"{\"op\":\"attach\",\"token\":\"0123456789abcdef0123456789abcdef\"}",
	"{ \"size\" : 5 , \"job\" : \"sha256\" , \"op\" : \"start\" }",
};

static void
test_msg(long rounds)
{
	char buf[2048], what[64];
	long i, ok = 0;
	size_t len;
	const char *e;

	for (i = 0; i < rounds; i++) {
		const char *s = msg_seeds[rnd(LWS_ARRAY_SIZE(msg_seeds))];

		len = strlen(s);
		memcpy(buf, s, len);
		mutate(buf, &len, sizeof(buf));
		e = chk_msg(buf, len);
		if (!e) {
			struct lwstp_msg m;
			char err[64];

			ok += !lwstp_plugin_parse_msg(buf, len, &m, err,
						      sizeof(err));
		}
		lws_snprintf(what, sizeof(what), "msg mutant %ld", i);
		verdict(what, e, buf, len);
	}

	/* at the size limit, and one past it */
	memset(buf, ' ', sizeof(buf));
	len = strlen(msg_seeds[2]);
	memcpy(buf, msg_seeds[2], len);
	verdict("msg of LWSTP_MSG_MAX bytes", chk_msg(buf, LWSTP_MSG_MAX),
		buf, LWSTP_MSG_MAX);
	verdict("msg of LWSTP_MSG_MAX + 1 bytes",
		chk_msg(buf, LWSTP_MSG_MAX + 1), buf, LWSTP_MSG_MAX + 1);
	verdict("empty msg", chk_msg("", 0), "", 0);
	verdict("NUL msg", chk_msg("\0", 1), "\0", 1);

	printf("messages: %ld mutants, %ld of them accepted\n", rounds, ok);
}

/* --- per-vhost options --------------------------------------------------- */

static const char opts_seed[] =
	"threads=4\nmax-queue-depth=64\nsync-timeout-ms=30000\n"
	"max-tasks-per-connection=4\njob-deadline-ms=5000\nworker-nice=0\n"
	"max-job-size=268435456\nresult-ttl-ms=300000\nmax-results=64\n"
	"progress-interval-ms=250\ndefault=1\n";

static void
test_opts(long rounds)
{
	struct lws_protocol_vhost_options pvo[40];
	char buf[1024], text[1100], what[64];
	long i, ok = 0;
	size_t len;
	const char *e;
	int n;

	for (i = 0; i < rounds; i++) {
		len = strlen(opts_seed);
		memcpy(buf, opts_seed, len);
		mutate(buf, &len, sizeof(buf));
		memcpy(text, buf, len);
		text[len] = '\0';
		n = chk_opts_from_text(text, pvo, (int)LWS_ARRAY_SIZE(pvo));
		e = chk_opts(n ? pvo : NULL);
		if (!e) {
			struct lwstp_plugin_opts o;
			char err[256];

			ok += !lwstp_plugin_parse_opts(n ? pvo : NULL, "v", &o,
						       err, sizeof(err));
		}
		lws_snprintf(what, sizeof(what), "opts mutant %ld", i);
		verdict(what, e, buf, len);
	}

	/* edge cases: a NULL value, a NULL name, a 5000-digit number */
	{
		static char digits[5002];

		memset(pvo, 0, sizeof(pvo));
		pvo[0].name = "threads";
		pvo[0].value = NULL;
		verdict("opts: NULL value", chk_opts(pvo), "threads", 7);
		pvo[0].name = NULL;
		pvo[0].value = "4";
		verdict("opts: NULL name", chk_opts(pvo), "(null)=4", 8);
		memset(digits, '9', sizeof(digits) - 1);
		pvo[0].name = "max-job-size";
		pvo[0].value = digits;
		verdict("opts: 5001 digits", chk_opts(pvo), "max-job-size", 12);
	}

	printf("options: %ld mutants, %ld of them accepted\n", rounds, ok);
}

/* --- config files -------------------------------------------------------- */

static const char conf_seed[] =
	"# lwstp-server config\n"
	"{\n"
	"  \"global\": {\n"
	"    \"server-string\": \"srv\", \"plugin-dir\": [\"/a\", \"/b\"],\n"
	"    \"count-threads\": \"1\", \"timeout-secs\": 7,\n"
	"    \"init-ssl\": \"no\"\n"
	"  },\n"
	"  \"vhosts\": [{\n"
	"    \"name\": \"localhost\", \"port\": \"7681\",\n"
	"    \"interface\": \"127.0.0.1\", \"keepalive_timeout\": \"60\",\n"
	"    \"headers\": [{ \"X-A\": \"1\" }],\n"
	"    \"mounts\": [{\n"
	"      \"mountpoint\": \"/\", \"origin\": \"file:///var/www\",\n"
	"      \"default\": \"index.html\", \"cache-max-age\": \"60\",\n"
	"      \"extra-mimetypes\": { \".md\": \"text/markdown\" }\n"
	"    }, {\n"
	"      \"mountpoint\": \"/status\",\n"
	"      \"origin\": \"callback://lws-threadpool\"\n"
	"    }],\n"
	"    \"ws-protocols\": [{\n"
	"      \"lws-threadpool\": { \"threads\": \"4\", \"default\": \"1\" }\n"
	"    }]\n"
	"  }, { \"name\": \"second\", \"port\": 8000 }]\n"
	"}\n";

static void
test_conf(long rounds)
{
	static char buf[16384];
	char what[64];
	long i, ok = 0;
	size_t len;
	const char *e;

	for (i = 0; i < rounds; i++) {
		len = strlen(conf_seed);
		memcpy(buf, conf_seed, len);
		mutate(buf, &len, sizeof(buf));
		e = chk_conf(buf, len);
		if (!e) {
			struct lwstp_conf c;
			char err[256];

			memset(&c, 0, sizeof(c));
			ok += !lwstp_conf_parse(buf, len, "x", &c, err,
						sizeof(err));
			lwstp_conf_destroy(&c);
		}
		lws_snprintf(what, sizeof(what), "conf mutant %ld", i);
		verdict(what, e, buf, len);
	}

	/* edge cases: too big, deeply nested, a NUL, an empty file */
	{
		size_t big = LWSTP_CONF_MAX_FILE + 1, d;
		char *p = malloc(big);

		if (p) {
			memset(p, ' ', big);
			p[0] = '{';
			p[big - 1] = '}';
			verdict("conf: one byte over the limit",
				chk_conf(p, big), "{ ... }", 7);
			for (d = 0; d < 4000; d++)
				p[d] = '[';
			verdict("conf: 4000 nested arrays", chk_conf(p, 4000),
				"[[[...", 6);
			free(p);
		}
		verdict("conf: empty", chk_conf("", 0), "", 0);
		verdict("conf: NUL", chk_conf("{\0}", 3), "{\0}", 3);
	}

	printf("config files: %ld mutants, %ld of them accepted\n", rounds, ok);
}

/*
 * fuzz/regressions/{msg,opts,conf}/: inputs that once broke a promise, so
 * that every build replays them, not only the clang fuzz build
 */
static void
replay(const char *dir)
{
	static const char * const kinds[] = { "msg", "opts", "conf" };
	struct lws_protocol_vhost_options pvo[64];
	char path[1024], *buf;
	struct dirent *de;
	size_t k, len;
	int count = 0;
	long sz;
	FILE *f;
	DIR *d;

	for (k = 0; k < LWS_ARRAY_SIZE(kinds); k++) {
		lws_snprintf(path, sizeof(path), "%s/%s", dir, kinds[k]);
		d = opendir(path);
		if (!d)
			continue;
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			lws_snprintf(path, sizeof(path), "%s/%s/%s", dir,
				     kinds[k], de->d_name);
			f = fopen(path, "rb");
			if (!f)
				continue;
			fseek(f, 0, SEEK_END);
			sz = ftell(f);
			fseek(f, 0, SEEK_SET);
			buf = malloc((size_t)(sz > 0 ? sz : 0) + 1);
			len = buf ? fread(buf, 1, (size_t)(sz > 0 ? sz : 0), f) :
				    0;
			fclose(f);
			if (!buf)
				continue;
			buf[len] = '\0';
			if (k == 0)
				verdict(path, chk_msg(buf, len), buf, len);
			else if (k == 2)
				verdict(path, chk_conf(buf, len), buf, len);
			else {
				char *text = strdup(buf);
				int n = text ? chk_opts_from_text(text, pvo,
					(int)LWS_ARRAY_SIZE(pvo)) : 0;

				verdict(path, chk_opts(n ? pvo : NULL), buf,
					len);
				free(text);
			}
			free(buf);
			count++;
		}
		closedir(d);
	}
	printf("regressions: %d inputs from %s\n", count, dir);
}

int
main(int argc, char **argv)
{
	long rounds = env_long("LWSTP_PARSERS_ROUNDS", 200000);

	rng ^= (uint64_t)env_long("LWSTP_PARSERS_SEED", 1) * 0x2545f4914f6cdd1dull;
	lws_set_log_level(LLL_ERR, NULL);	/* warnings are expected */

	if (argc > 1)
		replay(argv[1]);
	test_msg(rounds);
	test_opts(rounds / 4);
	test_conf(rounds / 4);

	printf("%d passed, %d failed\n", passed, failed);

	return !!failed;
}
