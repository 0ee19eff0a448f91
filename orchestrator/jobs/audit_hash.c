#include "audit_hash.h"
#include <sodium.h>
#include <stdint.h>
#include <string.h>

void audit_hash(const unsigned char prev[32], const char *const f[AUDIT_NFIELDS],
                unsigned char out[32])
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, prev, 32);
    for (int i = 0; i < AUDIT_NFIELDS; i++) {
        if (!f[i]) {
            unsigned char none = 0;
            crypto_hash_sha256_update(&st, &none, 1);
            continue;
        }
        uint32_t n = (uint32_t)strlen(f[i]);
        unsigned char hdr[5] = {1, (unsigned char)(n >> 24), (unsigned char)(n >> 16),
                                (unsigned char)(n >> 8), (unsigned char)n};
        crypto_hash_sha256_update(&st, hdr, sizeof hdr);
        crypto_hash_sha256_update(&st, (const unsigned char *)f[i], n);
    }
    crypto_hash_sha256_final(&st, out);
}
