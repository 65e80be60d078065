/*
 * protocol_lws_threadpool: the job's computation
 *
 * SHA-256 of `size` bytes of xorshift64 output seeded from the size, done a
 * chunk at a time so that the task can check in between chunks.  Nothing
 * here knows about lws or the pool: it runs on whichever thread calls it.
 */

#ifndef LWSTP_PLUGIN_JOB_H
#define LWSTP_PLUGIN_JOB_H

#include <stddef.h>
#include <stdint.h>

/** Bytes hashed per lwstp_calc_step(): the stop latency of a job. */
#define LWSTP_CALC_CHUNK	(256 * 1024)
/** The generator's seed is size ^ this (or this, if that is 0). */
#define LWSTP_CALC_SEED		0x9E3779B97F4A7C15ull

struct lwstp_calc {
	void		*md;	/* EVP_MD_CTX */
	uint64_t	state;	/* xorshift64 */
	uint64_t	size;
	uint64_t	pos;	/* bytes hashed so far */
};

/**
 * lwstp_calc_init() - start the computation for size bytes
 *
 * Returns 0, or -1 if the hash could not be set up.
 */
int
lwstp_calc_init(struct lwstp_calc *c, uint64_t size);

/**
 * lwstp_calc_step() - hash the next chunk (LWSTP_CALC_CHUNK bytes or less)
 *
 * Returns 1 when the whole input was hashed, 0 if there is more, -1 on a
 * hash failure.
 */
int
lwstp_calc_step(struct lwstp_calc *c);

/**
 * lwstp_calc_final() - the digest as 64 lowercase hex digits
 *
 * \param hex: receives 65 bytes, NUL-terminated
 *
 * Returns 0 or -1.  Frees the hash state (lwstp_calc_free() is then a no-op).
 */
int
lwstp_calc_final(struct lwstp_calc *c, char *hex);

/** lwstp_calc_free() - drop the hash state, finished or not */
void
lwstp_calc_free(struct lwstp_calc *c);

/**
 * lwstp_calc_generate() - the next len bytes of the input stream
 *
 * \param state: the xorshift64 state, advanced by one step per 8 bytes
 * \param buf: receives the bytes
 * \param len: a multiple of 8, except for the last piece of the input
 */
void
lwstp_calc_generate(uint64_t *state, uint8_t *buf, size_t len);

#endif
