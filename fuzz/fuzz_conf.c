/*
 * libFuzzer target: lwstp_conf_parse(), lwstp-server's lwsws config
 * loader, checked against its promises (checks.h).
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
	const char *e = chk_conf((const char *)data, size);

	if (e) {
		fprintf(stderr, "broken promise: %s\n", e);
		abort();
	}

	return 0;
}
