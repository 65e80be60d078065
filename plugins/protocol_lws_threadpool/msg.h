/*
 * protocol_lws_threadpool: the client -> server WebSocket messages
 *
 *   {"op":"start","job":"sha256","size":N,"outlive":false}
 *   {"op":"stop","id":N}
 *   {"op":"stop","token":"<32 hex>"}	(parsed as LWSTP_OP_STOP_TOKEN)
 *   {"op":"attach","token":"<32 hex>"}
 *
 * lwstp_plugin_parse_msg() takes one whole message and either fills in a
 * struct lwstp_msg or says, in words, what is wrong with it.  It depends on
 * nothing but LEJP, so a fuzzer can call it directly.
 */

#ifndef LWSTP_PLUGIN_MSG_H
#define LWSTP_PLUGIN_MSG_H

#include <libwebsockets.h>
#include <stdint.h>

/** Largest client message accepted, in bytes. */
#define LWSTP_MSG_MAX		512
/** A token: 128 random bits as 32 lowercase hex digits. */
#define LWSTP_TOKEN_LEN		32
/** Largest size or id the parser accepts; the protocol narrows size to the
 * vhost's max-job-size. */
#define LWSTP_MSG_SIZE_MAX	(4ull << 30)

enum lwstp_msg_op {
	LWSTP_OP_NONE,
	LWSTP_OP_START,
	LWSTP_OP_STOP,
	LWSTP_OP_ATTACH,
	LWSTP_OP_STOP_TOKEN,	/**< "stop" with a token instead of an id */
};

/** lwstp_plugin_parse_msg() results */
enum lwstp_msg_result {
	LWSTP_MSG_OK		=  0,
	LWSTP_MSG_E_JSON	= -1, /**< not JSON, not an object, truncated */
	LWSTP_MSG_E_INVALID	= -2, /**< JSON, but not a valid message */
	LWSTP_MSG_E_TOO_BIG	= -3, /**< over LWSTP_MSG_MAX bytes */
};

struct lwstp_msg {
	enum lwstp_msg_op	op;
	uint64_t		size;		/**< start */
	uint64_t		id;		/**< stop */
	int			outlive;	/**< start; 0 unless given */
	char			job[16];	/**< start: "sha256" */
	char			token[LWSTP_TOKEN_LEN + 1]; /**< attach,
						 * stop by token; lowercased */
};

/**
 * lwstp_plugin_parse_msg() - parse and validate one client message
 *
 * \param buf: the message (need not be NUL-terminated)
 * \param len: its length
 * \param out: filled in on success (zeroed first in any case)
 * \param err: receives a short English reason on failure, safe to embed in
 *	       a JSON string (no quotes, backslashes or control characters)
 * \param errlen: size of err
 *
 * Returns LWSTP_MSG_OK or a negative enum lwstp_msg_result.  Unknown fields,
 * fields of another op, duplicates, wrong types (a string or float for an
 * integer, a number for a boolean, null, objects, arrays), missing fields
 * and out-of-range values are all LWSTP_MSG_E_INVALID.
 */
int
lwstp_plugin_parse_msg(const char *buf, size_t len, struct lwstp_msg *out,
		       char *err, size_t errlen);

/** lwstp_plugin_msg_code() - the "code" of an error message for a result */
const char *
lwstp_plugin_msg_code(int result);

#endif
