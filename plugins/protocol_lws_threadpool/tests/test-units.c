/*
 * Unit tests of the lws-threadpool plugin's parts that need no server:
 * the option (pvo) parser, the client message parser, the job's digest and
 * the kept-results table.
 *
 * Prints one line per failed check, then "N passed, N failed"; exits
 * non-zero on any failure.
 */

#include <lwstp.h>

#include <stdio.h>
#include <string.h>

#include "job.h"
#include "kept.h"
#include "msg.h"
#include "opts.h"

static int passed, failed;

#define CHECK(cond, ...) do { \
	if (cond) \
		passed++; \
	else { \
		failed++; \
		printf("FAIL %s:%d: ", __FILE__, __LINE__); \
		printf(__VA_ARGS__); \
		printf("\n"); \
	} \
} while (0)

/* the last warning lws logged, to see unknown options named */
static char last_warn[512];

static void
log_emit(int level, const char *line)
{
	if (level == LLL_WARN)
		lws_strncpy(last_warn, line, sizeof(last_warn));
}

/* --- options -------------------------------------------------------------- */

static int
parse1(const char *name, const char *value, struct lwstp_plugin_opts *o,
       char *err, size_t errlen)
{
	struct lws_protocol_vhost_options pvo;

	memset(&pvo, 0, sizeof(pvo));
	pvo.name = name;
	pvo.value = value;

	return lwstp_plugin_parse_opts(&pvo, "vh1", o, err, errlen);
}

static void
test_opts(void)
{
	static const struct {
		const char *name, *min, *max, *below, *above;
	} ranges[] = {
		{ "threads", "1", "2147483647", "0", "2147483648" },
		{ "max-queue-depth", "0", "2147483647", "-1", "2147483648" },
		{ "sync-timeout-ms", "1", "3600000", "0", "3600001" },
		{ "max-tasks-per-connection", "1", "64", "0", "65" },
		{ "job-deadline-ms", "1", "3600000", "0", "3600001" },
		{ "worker-nice", "0", "19", "-1", "20" },
		{ "max-job-size", "1", "4294967296", "0", "4294967297" },
		{ "result-ttl-ms", "1", "86400000", "0", "86400001" },
		{ "max-results", "1", "100000", "0", "100001" },
		{ "progress-interval-ms", "0", "60000", "-1", "60001" },
	};
	static const char * const malformed[] = {
		"", "abc", " 1", "1 ", "+1", "0x10", "1.5", "1e3", "--1", "-",
		"99999999999999999999999", "12abc"
	};
	struct lws_protocol_vhost_options pvos[3];
	struct lwstp_plugin_opts o;
	char err[256], want[64];
	size_t n, k;
	int r;

	/* defaults */
	r = lwstp_plugin_parse_opts(NULL, "vh1", &o, err, sizeof(err));
	CHECK(!r && o.threads == 2 && o.max_queue_depth == 64 &&
	      o.sync_timeout_ms == 30000 && o.max_tasks_per_conn == 4 &&
	      o.job_deadline_ms == 5000 && o.worker_nice == 0 &&
	      o.max_job_size == 256ull << 20 && o.result_ttl_ms == 300000 &&
	      o.max_results == 64 && o.progress_interval_ms == 250,
	      "defaults");

	/* each option at both ends of its range, and just outside */
	for (n = 0; n < LWS_ARRAY_SIZE(ranges); n++) {
		CHECK(!parse1(ranges[n].name, ranges[n].min, &o, err,
			      sizeof(err)), "%s=%s refused: %s", ranges[n].name,
		      ranges[n].min, err);
		CHECK(!parse1(ranges[n].name, ranges[n].max, &o, err,
			      sizeof(err)), "%s=%s refused: %s", ranges[n].name,
		      ranges[n].max, err);
		r = parse1(ranges[n].name, ranges[n].below, &o, err,
			   sizeof(err));
		CHECK(r && strstr(err, ranges[n].name) &&
		      strstr(err, ranges[n].below) && strstr(err, "vh1") &&
		      strstr(err, ranges[n].max),
		      "%s=%s: r %d err '%s'", ranges[n].name,
		      ranges[n].below, r, err);
		r = parse1(ranges[n].name, ranges[n].above, &o, err,
			   sizeof(err));
		lws_snprintf(want, sizeof(want), "'%s'", ranges[n].above);
		CHECK(r && strstr(err, ranges[n].name) && strstr(err, want),
		      "%s=%s: r %d err '%s'", ranges[n].name,
		      ranges[n].above, r, err);
	}

	/* the values are stored where they belong */
	CHECK(!parse1("max-job-size", "4294967296", &o, err, sizeof(err)) &&
	      o.max_job_size == 4294967296ull, "max-job-size 4 GiB");
	CHECK(!parse1("threads", "17", &o, err, sizeof(err)) &&
	      o.threads == 17 && o.max_queue_depth == 64, "threads 17");

	/* malformed numbers, for every option */
	for (n = 0; n < LWS_ARRAY_SIZE(ranges); n++)
		for (k = 0; k < LWS_ARRAY_SIZE(malformed); k++) {
			r = parse1(ranges[n].name, malformed[k], &o, err,
				   sizeof(err));
			lws_snprintf(want, sizeof(want), "value '%s'",
				     malformed[k]);
			CHECK(r && strstr(err, ranges[n].name) &&
			      strstr(err, want), "%s='%s' accepted or "
			      "unnamed: '%s'", ranges[n].name, malformed[k],
			      err);
		}
	r = parse1("threads", NULL, &o, err, sizeof(err));
	CHECK(r && strstr(err, "threads"), "NULL value: '%s'", err);

	/* unknown names: a warning naming them, and no failure */
	last_warn[0] = '\0';
	r = parse1("thraeds", "4", &o, err, sizeof(err));
	CHECK(!r && o.threads == 2 && strstr(last_warn, "thraeds") &&
	      strstr(last_warn, "vh1"), "unknown option: r %d warn '%s'", r,
	      last_warn);
	/* ... but not for the pvos lws itself reads */
	last_warn[0] = '\0';
	r = parse1("default", "1", &o, err, sizeof(err));
	CHECK(!r && !last_warn[0], "'default' warned: '%s'", last_warn);

	/* a list: all applied; the first bad one fails the lot */
	memset(pvos, 0, sizeof(pvos));
	pvos[0].name = "threads";
	pvos[0].value = "3";
	pvos[0].next = &pvos[1];
	pvos[1].name = "max-results";
	pvos[1].value = "7";
	pvos[1].next = &pvos[2];
	pvos[2].name = "worker-nice";
	pvos[2].value = "5";
	r = lwstp_plugin_parse_opts(pvos, "vh2", &o, err, sizeof(err));
	CHECK(!r && o.threads == 3 && o.max_results == 7 &&
	      o.worker_nice == 5, "list");
	pvos[1].value = "seven";
	r = lwstp_plugin_parse_opts(pvos, "vh2", &o, err, sizeof(err));
	CHECK(r && strstr(err, "max-results") && strstr(err, "seven") &&
	      strstr(err, "vh2"), "list with a bad value: '%s'", err);

	/* the JSON view names every option */
	lwstp_plugin_opts_default(&o);
	lwstp_plugin_opts_json(&o, err, sizeof(err));
	for (n = 0; n < LWS_ARRAY_SIZE(ranges); n++) {
		lws_snprintf(want, sizeof(want), "\"%s\":", ranges[n].name);
		CHECK(strstr(err, want), "json lacks %s: %s", want, err);
	}
}

/* --- messages ------------------------------------------------------------- */

static int
msg(const char *s, struct lwstp_msg *m, char *err, size_t errlen)
{
	return lwstp_plugin_parse_msg(s, strlen(s), m, err, errlen);
}

static void
test_msg(void)
{
	static const struct {
		const char	*json;
		int		result;
		const char	*err_has;	/* in the error text */
	} bad[] = {
		/* malformed */
		{ "", LWSTP_MSG_E_JSON, "empty" },
		{ "{", LWSTP_MSG_E_JSON, "truncated" },
		{ "nope", LWSTP_MSG_E_JSON, "JSON" },
		{ "[1,2]", LWSTP_MSG_E_JSON, "object" },
		{ "\"start\"", LWSTP_MSG_E_JSON, "JSON" },
		{ "{}x", LWSTP_MSG_E_JSON, "JSON" },
		{ "{\"op\":\"stop\",\"id\":1}{\"op\":\"stop\",\"id\":2}",
		  LWSTP_MSG_E_JSON, "after" },
		{ "{\"op\":}", LWSTP_MSG_E_JSON, "JSON" },
		{ "{\"op\":\"st\nop\"}", LWSTP_MSG_E_JSON, "JSON" },
		{ "{'op':'stop'}", LWSTP_MSG_E_JSON, "JSON" },
		/* unknown fields */
		{ "{\"op\":\"stop\",\"id\":1,\"x\":1}", LWSTP_MSG_E_INVALID,
		  "unknown field 'x'" },
		{ "{\"Op\":\"stop\"}", LWSTP_MSG_E_INVALID,
		  "unknown field 'Op'" },
		{ "{\"a\\\"b\":1}", LWSTP_MSG_E_INVALID, "unknown field" },
		/* wrong types */
		{ "{\"op\":\"start\",\"job\":\"sha256\",\"size\":\"5\"}",
		  LWSTP_MSG_E_INVALID, "'size' must be an integer" },
		{ "{\"op\":\"start\",\"job\":\"sha256\",\"size\":1.5}",
		  LWSTP_MSG_E_INVALID, "'size' must be an integer" },
		{ "{\"op\":\"start\",\"job\":\"sha256\",\"size\":1e3}",
		  LWSTP_MSG_E_INVALID, "'size' must be an integer" },
		{ "{\"op\":\"start\",\"job\":\"sha256\",\"size\":null}",
		  LWSTP_MSG_E_INVALID, "'size' must be an integer" },
		{ "{\"op\":\"start\",\"job\":\"sha256\",\"size\":[1]}",
		  LWSTP_MSG_E_INVALID, "'size' must be an integer" },
		{ "{\"op\":\"start\",\"job\":\"sha256\",\"size\":{\"a\":1}}",
		  LWSTP_MSG_E_INVALID, "'size' must be an integer" },
		{ "{\"op\":\"start\",\"job\":\"sha256\",\"size\":5,"
		  "\"outlive\":1}", LWSTP_MSG_E_INVALID,
		  "'outlive' must be true or false" },
		{ "{\"op\":\"start\",\"job\":\"sha256\",\"size\":5,"
		  "\"outlive\":\"true\"}", LWSTP_MSG_E_INVALID, "'outlive'" },
		{ "{\"op\":1}", LWSTP_MSG_E_INVALID, "'op' must be a string" },
		{ "{\"op\":true}", LWSTP_MSG_E_INVALID, "'op'" },
		{ "{\"op\":\"stop\",\"id\":\"1\"}", LWSTP_MSG_E_INVALID,
		  "'id' must be an integer" },
		{ "{\"op\":\"attach\",\"token\":12}", LWSTP_MSG_E_INVALID,
		  "'token' must be a string" },
		/* missing, duplicate and misplaced fields */
		{ "{}", LWSTP_MSG_E_INVALID, "missing field 'op'" },
		{ "{\"size\":5}", LWSTP_MSG_E_INVALID, "missing field 'op'" },
		{ "{\"op\":\"start\",\"size\":5}", LWSTP_MSG_E_INVALID,
		  "needs field 'job'" },
		{ "{\"op\":\"start\",\"job\":\"sha256\"}", LWSTP_MSG_E_INVALID,
		  "needs field 'size'" },
		{ "{\"op\":\"stop\"}", LWSTP_MSG_E_INVALID,
		  "needs field 'id' or field 'token'" },
		{ "{\"op\":\"stop\",\"id\":1,\"token\":"
		  "\"0123456789abcdef0123456789abcdef\"}", LWSTP_MSG_E_INVALID,
		  "not both" },
		{ "{\"op\":\"attach\"}", LWSTP_MSG_E_INVALID,
		  "needs field 'token'" },
		{ "{\"op\":\"stop\",\"id\":1,\"id\":2}", LWSTP_MSG_E_INVALID,
		  "duplicate field 'id'" },
		{ "{\"op\":\"stop\",\"op\":\"stop\",\"id\":2}",
		  LWSTP_MSG_E_INVALID, "duplicate field 'op'" },
		{ "{\"op\":\"stop\",\"id\":1,\"size\":5}", LWSTP_MSG_E_INVALID,
		  "'size' is not valid in op 'stop'" },
		{ "{\"op\":\"start\",\"job\":\"sha256\",\"size\":5,\"id\":1}",
		  LWSTP_MSG_E_INVALID, "'id' is not valid in op 'start'" },
		/* bad values */
		{ "{\"op\":\"begin\"}", LWSTP_MSG_E_INVALID,
		  "unknown op 'begin'" },
		{ "{\"op\":\"start\",\"job\":\"md5\",\"size\":5}",
		  LWSTP_MSG_E_INVALID, "unknown job 'md5'" },
		{ "{\"op\":\"start\",\"job\":\"sha256\",\"size\":0}",
		  LWSTP_MSG_E_INVALID, "'size' must be an integer in 1.." },
		{ "{\"op\":\"start\",\"job\":\"sha256\",\"size\":-5}",
		  LWSTP_MSG_E_INVALID, "'size'" },
		{ "{\"op\":\"start\",\"job\":\"sha256\",\"size\":007}",
		  LWSTP_MSG_E_INVALID, "'size'" },
		{ "{\"op\":\"start\",\"job\":\"sha256\",\"size\":4294967297}",
		  LWSTP_MSG_E_INVALID, "'size'" },
		{ "{\"op\":\"stop\",\"id\":0}", LWSTP_MSG_E_INVALID, "'id'" },
		{ "{\"op\":\"attach\",\"token\":\"0123\"}", LWSTP_MSG_E_INVALID,
		  "32 hex" },
		{ "{\"op\":\"attach\",\"token\":"
		  "\"0123456789abcdef0123456789abcdeg\"}", LWSTP_MSG_E_INVALID,
		  "32 hex" },
		{ "{\"op\":\"attach\",\"token\":\"", LWSTP_MSG_E_JSON,
		  "truncated" },
	};
	char err[256], big[LWSTP_MSG_MAX + 2];
	struct lwstp_msg m;
	size_t n;
	int r;

	r = msg("{\"op\":\"start\",\"job\":\"sha256\",\"size\":4096}", &m, err,
		sizeof(err));
	CHECK(!r && m.op == LWSTP_OP_START && m.size == 4096 && !m.outlive &&
	      !strcmp(m.job, "sha256"), "start: %d %s", r, err);
	r = msg(" {\"outlive\": true, \"size\": 4294967296,\n"
		"\"job\":\"sha256\","
		"\"op\":\"start\"} \r\n", &m, err, sizeof(err));
	CHECK(!r && m.op == LWSTP_OP_START && m.size == 4294967296ull &&
	      m.outlive == 1, "start, any order, outlive: %d %s", r, err);
	r = msg("{\"op\":\"start\",\"job\":\"sha256\",\"size\":1,"
		"\"outlive\":false}", &m, err, sizeof(err));
	CHECK(!r && m.size == 1 && !m.outlive, "start outlive false: %s", err);
	r = msg("{\"op\":\"stop\",\"id\":17}", &m, err, sizeof(err));
	CHECK(!r && m.op == LWSTP_OP_STOP && m.id == 17, "stop: %s", err);
	r = msg("{\"op\":\"stop\",\"token\":"
		"\"0123456789ABCDEF0123456789abcdef\"}", &m, err, sizeof(err));
	CHECK(!r && m.op == LWSTP_OP_STOP_TOKEN &&
	      !strcmp(m.token, "0123456789abcdef0123456789abcdef"),
	      "stop by token: %s", err);
	r = msg("{\"op\":\"attach\",\"token\":"
		"\"0123456789ABCDEF0123456789abcdef\"}", &m, err, sizeof(err));
	CHECK(!r && m.op == LWSTP_OP_ATTACH &&
	      !strcmp(m.token, "0123456789abcdef0123456789abcdef"),
	      "attach (lowercased): %s", err);
	r = msg("{\"op\":\"\\u0073top\",\"id\":3}", &m, err, sizeof(err));
	CHECK(!r && m.op == LWSTP_OP_STOP, "escaped op: %s", err);

	for (n = 0; n < LWS_ARRAY_SIZE(bad); n++) {
		memset(&m, 0x55, sizeof(m));
		r = msg(bad[n].json, &m, err, sizeof(err));
		CHECK(r == bad[n].result && strstr(err, bad[n].err_has) &&
		      m.op == LWSTP_OP_NONE && !strchr(err, '"') &&
		      !strchr(err, '\\'),
		      "'%s': got %d '%s', want %d '%s'", bad[n].json, r, err,
		      bad[n].result, bad[n].err_has);
	}

	/* the size limit: 512 bytes is fine, 513 is not */
	memset(big, ' ', sizeof(big));
	memcpy(big, "{\"op\":\"stop\",\"id\":1}", 20);
	r = lwstp_plugin_parse_msg(big, LWSTP_MSG_MAX, &m, err, sizeof(err));
	CHECK(!r && m.id == 1, "512 bytes: %d %s", r, err);
	r = lwstp_plugin_parse_msg(big, LWSTP_MSG_MAX + 1, &m, err,
				   sizeof(err));
	CHECK(r == LWSTP_MSG_E_TOO_BIG && strstr(err, "513"),
	      "513 bytes: %d %s", r, err);
	/* a string longer than LEJP's chunk */
	memset(big, 'a', sizeof(big));
	memcpy(big, "{\"op\":\"", 7);
	memcpy(big + 400, "\"}", 3);
	r = msg(big, &m, err, sizeof(err));
	CHECK(r == LWSTP_MSG_E_INVALID && strstr(err, "'op'"),
	      "long string: %d %s", r, err);
	/* a NUL inside the message */
	r = lwstp_plugin_parse_msg("{\"op\":\"st\0p\"}", 14, &m, err,
				   sizeof(err));
	CHECK(r < 0, "NUL accepted");
	/* a tiny error buffer is not overrun */
	r = msg("{\"x\":1}", &m, err, 4);
	CHECK(r == LWSTP_MSG_E_INVALID && strlen(err) == 3, "errlen 4");

	CHECK(!strcmp(lwstp_plugin_msg_code(LWSTP_MSG_E_JSON), "bad-json") &&
	      !strcmp(lwstp_plugin_msg_code(LWSTP_MSG_E_INVALID),
		      "bad-message") &&
	      !strcmp(lwstp_plugin_msg_code(LWSTP_MSG_E_TOO_BIG), "too-big"),
	      "codes");
}

/* --- the job's digest ----------------------------------------------------- */

static void
test_calc(void)
{
	/* computed with expected_sha256() of README.md */
	static const struct {
		uint64_t	size;
		const char	*sha;
	} known[] = {
		{ 1, "45f83d17e10b34fca01eb8f4454dac34a777d9404a464e732cf4abf2"
		     "c0da94c4" },
		{ 7, "fa15e0f44281b9df8812ff11bdcc09058c22772bdaad1fed8d0e0a3b"
		     "1c123155" },
		{ 8, "b963016b7f76fee077cc16d30a3a1aa02c68be313b99fa9906e9a0f5"
		     "bbe63e8b" },
		{ 9, "5de5c00f0ff1bde20f9596fa96038da4ced96ecc56fcc51ab7188288"
		     "62cb3fc3" },
		{ 262144, "f131459e0170766c78cb49c681640d55d3d412cdcd9f7aa8c6a3"
			  "cc5fba09900f" },
		{ 262145, "c29ea033e68b24bd39e4eefb19811b54803a5f74ed2ffc4da9c4"
			  "1d0783fe8ef6" },
		{ 1000000, "f75db4ae2d9167d6d519a9668e7b22f6bc0bec521cbaa02c717"
			   "7304dc1447369" },
	};
	struct lwstp_calc c;
	char hex[65];
	size_t n;
	int r, steps;

	for (n = 0; n < LWS_ARRAY_SIZE(known); n++) {
		CHECK(!lwstp_calc_init(&c, known[n].size), "init");
		steps = 0;
		do {
			r = lwstp_calc_step(&c);
			steps++;
		} while (!r && steps < 100);
		CHECK(r == 1 && c.pos == known[n].size &&
		      steps == (int)((known[n].size + LWSTP_CALC_CHUNK - 1) /
				     LWSTP_CALC_CHUNK),
		      "size %llu: r %d steps %d",
		      (unsigned long long)known[n].size, r, steps);
		CHECK(!lwstp_calc_final(&c, hex) && !strcmp(hex, known[n].sha),
		      "size %llu: %s", (unsigned long long)known[n].size, hex);
		lwstp_calc_free(&c);	/* no-op after final */
	}

	/* stopped half way: freeing is enough */
	CHECK(!lwstp_calc_init(&c, 10 * LWSTP_CALC_CHUNK), "init");
	CHECK(lwstp_calc_step(&c) == 0 && c.pos == LWSTP_CALC_CHUNK, "step");
	lwstp_calc_free(&c);
	CHECK(lwstp_calc_step(&c) == -1, "step after free");
}

/* --- kept results --------------------------------------------------------- */

static int watch_calls, watch_gone;

static void
watch_cb(struct lwstp_kept *rec, lws_dll2_t *watch, int gone, void *arg)
{
	watch_calls++;
	watch_gone += gone;
}

static void
test_kept(void)
{
	struct lws_context_creation_info info;
	struct lwstp_kept *a, *b, *c, *d;
	struct lwstp_kept_table kt;
	char tok_a[LWSTP_TOKEN_LEN + 1], tok_b[LWSTP_TOKEN_LEN + 1];
	struct lwstp_kept_snap snap;
	struct lws_context *cx;
	lws_dll2_t wa, wb;
	const char *why;
	lws_usec_t t0;

	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	cx = lws_create_context(&info);
	CHECK(cx, "context");
	if (!cx)
		return;

	CHECK(!lwstp_kept_init(&kt, cx, 2, 50, watch_cb, NULL), "init");

	a = lwstp_kept_new(&kt, 1, 100, &why);
	b = lwstp_kept_new(&kt, 2, 200, &why);
	CHECK(a && b && strlen(a->token) == LWSTP_TOKEN_LEN &&
	      strcmp(a->token, b->token), "two records, distinct tokens");
	if (!a || !b)
		goto out;
	lws_strncpy(tok_a, a->token, sizeof(tok_a));
	lws_strncpy(tok_b, b->token, sizeof(tok_b));
	CHECK(lwstp_kept_find(&kt, a->token) == a &&
	      lwstp_kept_find(&kt, b->token) == b &&
	      !lwstp_kept_find(&kt, "00000000000000000000000000000000"),
	      "find");

	/* full of running jobs: refused */
	why = NULL;
	c = lwstp_kept_new(&kt, 3, 300, &why);
	CHECK(!c && why && !strcmp(why, "results-full"), "full: %s",
	      why ? why : "(null)");

	/* progress reaches watchers only; the end is always serviced */
	memset(&wa, 0, sizeof(wa));
	memset(&wb, 0, sizeof(wb));
	lwstp_kept_watch(&kt, a, &wa);
	lwstp_kept_publish(&kt, a, 10, LWSTP_KEPT_RUNNING, NULL, 0);
	lwstp_kept_publish(&kt, b, 20, LWSTP_KEPT_RUNNING, NULL, 0);
	CHECK(kt.dirty.count == 1, "dirty %d", (int)kt.dirty.count);
	lwstp_kept_service(&kt);
	CHECK(watch_calls == 1 && !watch_gone && !kt.dirty.count,
	      "serviced: calls %d", watch_calls);
	lwstp_kept_snapshot(&kt, a, &snap);
	CHECK(snap.done == 10 && snap.state == LWSTP_KEPT_RUNNING &&
	      snap.version == 1, "snapshot");

	/* a ends; its job lets go; the table keeps the result */
	lwstp_kept_publish(&kt, a, 100, LWSTP_KEPT_FINISHED, "ab12", 7);
	lwstp_kept_publish(&kt, a, 100, LWSTP_KEPT_STOPPED, NULL, 0);
	lwstp_kept_unref(&kt, a);
	lwstp_kept_service(&kt);
	lwstp_kept_snapshot(&kt, a, &snap);
	CHECK(snap.state == LWSTP_KEPT_FINISHED && snap.ms == 7 &&
	      !strcmp(snap.sha256, "ab12") && kt.ended.count == 1 &&
	      watch_calls == 2, "ended once: state %d", snap.state);

	/* full again: the ended one makes room; its watcher is told */
	c = lwstp_kept_new(&kt, 3, 300, &why);
	CHECK(c && !lwstp_kept_find(&kt, tok_a) &&
	      lwstp_kept_count(&kt) == 2 && watch_gone == 1,
	      "evicted for room: gone %d", watch_gone);

	/* b: a watcher that leaves; stopped; expires after the ttl */
	lwstp_kept_watch(&kt, b, &wb);
	lwstp_kept_unwatch(&kt, b, &wb);
	lwstp_kept_publish(&kt, b, 20, LWSTP_KEPT_STOPPED, NULL, 0);
	lwstp_kept_service(&kt);
	lwstp_kept_unref(&kt, b);
	t0 = lws_now_usecs();
	while (lwstp_kept_find(&kt, tok_b) &&
	       lws_now_usecs() - t0 < 5 * LWS_US_PER_SEC)
		lws_service(cx, -1);	/* no wait: the loop is bounded */
	CHECK(!lwstp_kept_find(&kt, tok_b) && lwstp_kept_count(&kt) == 1 &&
	      lws_now_usecs() - t0 >= 40 * LWS_US_PER_MS,
	      "expired after the ttl: %d left", lwstp_kept_count(&kt));

	/* a job that was never queued */
	d = lwstp_kept_new(&kt, 4, 400, &why);
	CHECK(d && lwstp_kept_count(&kt) == 2, "new");
	if (d)
		lwstp_kept_abandon(&kt, d);
	CHECK(lwstp_kept_count(&kt) == 1, "abandoned");

	/* c's job lets go, then the table goes with c */
	if (c)
		lwstp_kept_unref(&kt, c);
out:
	lwstp_kept_destroy(&kt);
	lws_context_destroy(cx);
}

int
main(void)
{
	lws_set_log_level(LLL_ERR | LLL_WARN, log_emit);

	test_opts();
	test_msg();
	test_calc();
	test_kept();

	printf("%d passed, %d failed\n", passed, failed);

	return !!failed;
}
