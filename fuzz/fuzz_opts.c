/*
 * libFuzzer target: lwstp_plugin_parse_opts(), the plugin's per-vhost
 * option parser.  The input is lines "name=value" (checks.h turns them into
 * a pvo list); the result is checked against the parser's promises.
 */

#include "checks.h"

#include <stdint.h>
#include <stdio.h>

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	lws_set_log_level(0, NULL);

	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lws_protocol_vhost_options pvo[64];
	char *text;
	const char *e;
	int n;

	if (size > 65536)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	n = chk_opts_from_text(text, pvo, (int)LWS_ARRAY_SIZE(pvo));
	e = chk_opts(n ? pvo : NULL);
	free(text);
	if (e) {
		fprintf(stderr, "broken promise: %s\n", e);
		abort();
	}

	return 0;
}
