/*
 * protocol_lws_threadpool: the job's computation (see job.h).
 *
 * The input stream, which clients reproduce to check the digest:
 *
 *   s = size ^ 0x9E3779B97F4A7C15  (if 0, 0x9E3779B97F4A7C15)
 *   per 8 bytes:  s ^= s << 13; s ^= s >> 7; s ^= s << 17;  emit s as
 *                 8 little-endian bytes
 *   the input is the first `size` bytes of that.
 *
 * The digest is OpenSSL's SHA-256 (libcrypto, which the distro
 * libwebsockets links already).
 */

#include "job.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

/* generated and hashed this much at a time, on the worker's stack */
#define GEN_BUF		(16 * 1024)

void
lwstp_calc_generate(uint64_t *state, uint8_t *buf, size_t len)
{
	uint64_t s = *state;
	size_t n, k;

	for (n = 0; n < len; n += 8) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		for (k = 0; k < 8 && n + k < len; k++)
			buf[n + k] = (uint8_t)(s >> (8 * k));
	}
	*state = s;
}

int
lwstp_calc_init(struct lwstp_calc *c, uint64_t size)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	memset(c, 0, sizeof(*c));
	if (!md)
		return -1;
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		return -1;
	}
	c->md = md;
	c->size = size;
	c->state = size ^ LWSTP_CALC_SEED;
	if (!c->state)
		c->state = LWSTP_CALC_SEED;

	return 0;
}

int
lwstp_calc_step(struct lwstp_calc *c)
{
	uint8_t buf[GEN_BUF];
	uint64_t left = c->size - c->pos;
	size_t chunk = left < LWSTP_CALC_CHUNK ? (size_t)left :
						 LWSTP_CALC_CHUNK, n;

	if (!c->md)
		return -1;

	while (chunk) {
		n = chunk < sizeof(buf) ? chunk : sizeof(buf);
		lwstp_calc_generate(&c->state, buf, n);
		if (EVP_DigestUpdate(c->md, buf, n) != 1)
			return -1;
		c->pos += n;
		chunk -= n;
	}

	return c->pos == c->size;
}

int
lwstp_calc_final(struct lwstp_calc *c, char *hex)
{
	unsigned char dig[EVP_MAX_MD_SIZE];
	unsigned int len = 0, n;
	int r = -1;

	hex[0] = '\0';
	if (c->md && EVP_DigestFinal_ex(c->md, dig, &len) == 1 && len == 32) {
		for (n = 0; n < len; n++)
			snprintf(hex + 2 * n, 3, "%02x", dig[n]);
		r = 0;
	}
	lwstp_calc_free(c);

	return r;
}

void
lwstp_calc_free(struct lwstp_calc *c)
{
	if (c->md)
		EVP_MD_CTX_free(c->md);
	c->md = NULL;
}
