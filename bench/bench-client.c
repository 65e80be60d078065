/*
 * lwstp-bench-client - the load client of the lwstp benchmarks.
 *
 * Opens --conns ws connections (protocol "lwstp-bench") to
 * lwstp-bench-server on 127.0.0.1 with lws's client API, waits until all
 * are established, lets --warmup-ms pass, then marks the measured window by
 * sending "m" on the first connection, and after --measure-ms (or once
 * --stop-file exists) sends "e" and closes every connection.
 *
 * It counts the ws messages it receives in the window and its own CPU time
 * (getrusage(RUSAGE_SELF)), and prints both as one JSON line on stdout, so
 * a run shows whether the client could have been the bottleneck.
 */

#include <libwebsockets.h>

#include "common.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#define BENCH_PROTOCOL	"lwstp-bench"

static struct {
	int		port;
	int		conns;
	int		warmup_ms;
	int		measure_ms;
	int		max_s;
	const char	*ready_file;
	const char	*stop_file;
} cfg = { .conns = 1, .warmup_ms = 1000, .measure_ms = 3000, .max_s = 60 };

enum phase { CONNECTING, WARMUP, MARK_PENDING, MEASURE, END_PENDING,
	     CLOSING };

static struct lws_context *context;
static struct lws **wsis;		/* by connection index */
static char *retry;			/* connect again at the next tick */
static int live, established_total, reconnects;
static enum phase phase;
static int64_t t_start, t_phase, t0, t1, cpu0, cpu1;
static uint64_t msgs, bytes, msgs0, msgs1, bytes0, bytes1;
static volatile sig_atomic_t interrupted;
static int failed;
static lws_sorted_usec_list_t sul_tick;
static int64_t t_connected;

static int
connect_one(int index)
{
	struct lws_client_connect_info i;

	memset(&i, 0, sizeof(i));
	i.context = context;
	i.address = "127.0.0.1";
	i.port = cfg.port;
	i.path = "/";
	i.host = "127.0.0.1";
	i.origin = "127.0.0.1";
	i.protocol = BENCH_PROTOCOL;
	i.pwsi = &wsis[index];
	i.opaque_user_data = (void *)(intptr_t)index;

	return lws_client_connect_via_info(&i) ? 0 : -1;
}

static void
request_write_all(void)
{
	int n;

	for (n = 0; n < cfg.conns; n++)
		if (wsis[n])
			lws_callback_on_writable(wsis[n]);
}

static int
file_exists(const char *path)
{
	struct stat s;

	return !stat(path, &s);
}

static void
tick(lws_sorted_usec_list_t *sul)
{
	int64_t now = bench_now_ns();
	int n;

	for (n = 0; n < cfg.conns; n++)
		if (retry[n] && phase == CONNECTING) {
			retry[n] = 0;
			reconnects++;
			if (connect_one(n))
				retry[n] = 1;
		}

	switch (phase) {
	case CONNECTING:
		if (live == cfg.conns) {
			t_connected = now;
			phase = WARMUP;
			t_phase = now;
		}
		break;
	case WARMUP:
		if (now - t_phase >= (int64_t)cfg.warmup_ms * 1000000) {
			phase = MARK_PENDING;
			lws_callback_on_writable(wsis[0]);
		}
		break;
	case MEASURE:
		if (cfg.stop_file ? file_exists(cfg.stop_file) :
		    now - t0 >= (int64_t)cfg.measure_ms * 1000000) {
			phase = END_PENDING;
			lws_callback_on_writable(wsis[0]);
		}
		break;
	default:
		break;
	}

	if (now - t_start > (int64_t)cfg.max_s * 1000000000LL) {
		fprintf(stderr, "lwstp-bench-client: watchdog: phase %d after "
			"%d s, %d of %d connected\n", phase, cfg.max_s, live,
			cfg.conns);
		failed = 1;
		interrupted = 1;
		return;
	}

	lws_sul_schedule(context, 0, &sul_tick, tick, 10 * LWS_US_PER_MS);
}

static int
write_ctrl(struct lws *wsi, char c)
{
	unsigned char buf[LWS_PRE + 1];

	buf[LWS_PRE] = (unsigned char)c;

	return lws_write(wsi, buf + LWS_PRE, 1, LWS_WRITE_TEXT) == 1 ? 0 : -1;
}

static int
callback_bench(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	       void *in, size_t len)
{
	int index = (int)(intptr_t)lws_get_opaque_user_data(wsi);

	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		lwsl_info("connection %d: %s\n", index,
			  in ? (char *)in : "(null)");
		wsis[index] = NULL;
		if (phase == CONNECTING)
			retry[index] = 1;	/* the server is starting */
		else
			failed = 1;
		break;

	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		live++;
		established_total++;
		break;

	case LWS_CALLBACK_CLIENT_RECEIVE:
		bytes += len;
		if (lws_is_final_fragment(wsi))
			msgs++;
		break;

	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (phase == CLOSING)
			return -1;
		if (index)
			break;
		if (phase == MARK_PENDING) {
			if (write_ctrl(wsi, 'm'))
				return -1;
			t0 = bench_now_ns();
			cpu0 = bench_process_cpu_us();
			msgs0 = msgs;
			bytes0 = bytes;
			phase = MEASURE;
			if (cfg.ready_file) {
				FILE *f = fopen(cfg.ready_file, "w");

				if (f)
					fclose(f);
			}
		} else if (phase == END_PENDING) {
			if (write_ctrl(wsi, 'e'))
				return -1;
			t1 = bench_now_ns();
			cpu1 = bench_process_cpu_us();
			msgs1 = msgs;
			bytes1 = bytes;
			phase = CLOSING;
			request_write_all();
		}
		break;

	case LWS_CALLBACK_CLIENT_CLOSED:
		live--;
		wsis[index] = NULL;
		if (phase != CLOSING) {
			fprintf(stderr, "lwstp-bench-client: connection %d "
				"closed by the server\n", index);
			failed = 1;
			interrupted = 1;
		}
		if (phase == CLOSING && !live)
			interrupted = 1;
		break;

	default:
		break;
	}

	return 0;
}

static const struct lws_protocols protocols[] = {
	{ BENCH_PROTOCOL, callback_bench, 0, 4096, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void
sigint_handler(int sig)
{
	interrupted = 1;
}

static void
usage(void)
{
	fprintf(stderr, "usage: lwstp-bench-client --port N [--conns N] "
		"[--warmup-ms N] [--measure-ms N] [--ready-file F] "
		"[--stop-file F] [--max-s N]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct lws_context_creation_info info;
	struct bench_json j;
	double secs;
	int n, i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--port"))
			cfg.port = atoi(v);
		else if (!strcmp(a, "--conns"))
			cfg.conns = atoi(v);
		else if (!strcmp(a, "--warmup-ms"))
			cfg.warmup_ms = atoi(v);
		else if (!strcmp(a, "--measure-ms"))
			cfg.measure_ms = atoi(v);
		else if (!strcmp(a, "--ready-file"))
			cfg.ready_file = v;
		else if (!strcmp(a, "--stop-file"))
			cfg.stop_file = v;
		else if (!strcmp(a, "--max-s"))
			cfg.max_s = atoi(v);
		else
			usage();
	}
	if (cfg.port <= 0 || cfg.conns < 1)
		usage();

	signal(SIGINT, sigint_handler);
	signal(SIGTERM, sigint_handler);
	lws_set_log_level(LLL_ERR | LLL_WARN, NULL);

	wsis = calloc((size_t)cfg.conns, sizeof(*wsis));
	retry = calloc((size_t)cfg.conns, 1);
	if (!wsis || !retry)
		return 1;

	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.fd_limit_per_thread = (unsigned int)cfg.conns + 256;

	context = lws_create_context(&info);
	if (!context) {
		fprintf(stderr, "lwstp-bench-client: lws init failed\n");
		return 1;
	}

	t_start = bench_now_ns();
	for (n = 0; n < cfg.conns; n++)
		if (connect_one(n))
			retry[n] = 1;
	lws_sul_schedule(context, 0, &sul_tick, tick, 10 * LWS_US_PER_MS);

	n = 0;
	while (n >= 0 && !interrupted)
		n = lws_service(context, 0);

	lws_sul_cancel(&sul_tick);
	lws_context_destroy(context);
	free(wsis);
	free(retry);

	if (failed || phase != CLOSING) {
		fprintf(stderr, "lwstp-bench-client: failed (phase %d)\n",
			phase);
		return 1;
	}

	secs = (double)(t1 - t0) / 1e9;
	json_begin(&j);
	json_int(&j, "conns", cfg.conns);
	json_num(&j, "window_s", secs);
	json_num(&j, "connect_ms", (double)(t_connected - t_start) / 1e6);
	json_int(&j, "reconnects", reconnects);
	json_num(&j, "msgs_per_s", secs > 0 ? (double)(msgs1 - msgs0) / secs :
					      0);
	json_num(&j, "bytes_per_s", secs > 0 ?
			(double)(bytes1 - bytes0) / secs : 0);
	json_num(&j, "client_cpu_pct", secs > 0 ?
			(double)(cpu1 - cpu0) / 1e4 / secs : 0);
	json_end(&j, stdout);

	return 0;
}
