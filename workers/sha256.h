/* SHA-256 (FIPS 180-4), self-contained so the worker needs no crypto library
 * just to notice that an entity's text has not changed. Not constant time:
 * it hashes public data, never secrets. */
#ifndef SHA256_H
#define SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_BYTES 32
#define SHA256_HEX_BYTES 65 /* 64 hex digits and the NUL */

/* Embedded state (x_init style): no allocation. */
typedef struct {
    uint32_t h[8];
    uint64_t total;    /* bytes hashed so far */
    uint8_t block[64];
    size_t used;       /* bytes waiting in block */
} sha256_t;

void sha256_init(sha256_t *s);
void sha256_update(sha256_t *s, const void *data, size_t n);
void sha256_final(sha256_t *s, uint8_t out[SHA256_DIGEST_BYTES]);
/* One call: lowercase hex digest of data into out (NUL-terminated). */
void sha256_hex(const void *data, size_t n, char out[SHA256_HEX_BYTES]);

#endif
