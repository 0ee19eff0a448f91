/* SHA-256 through libcrypto, not libsodium: on a CPU with the SHA
 * extensions libcrypto uses them and libsodium does not (one 180-byte row:
 * 0.2 µs against 0.7 µs; docs/benchmarks.md "The audit chain's cost"). The
 * digest is fetched once: a fetch per call (EVP_sha256() in OpenSSL 3)
 * costs more than the hashing. */
#include "audit_hash.h"
#include "xalloc.h"
#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static EVP_MD *s_md;
static pthread_once_t s_md_once = PTHREAD_ONCE_INIT;

static void s_fetch(void)
{
    s_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (!s_md)
        abort(); /* libcrypto without SHA-256: nothing here can go on */
}

void audit_hash(const unsigned char prev[32], const char *const f[AUDIT_NFIELDS],
                unsigned char out[32])
{
    pthread_once(&s_md_once, s_fetch);
    size_t len[AUDIT_NFIELDS], total = 32;
    for (int i = 0; i < AUDIT_NFIELDS; i++) {
        len[i] = f[i] ? strlen(f[i]) : 0;
        total += f[i] ? 5 + len[i] : 1;
    }
    /* the content in one buffer, one digest call: a row without a long
     * detail fits the stack */
    unsigned char stack[512];
    unsigned char *buf = total <= sizeof stack ? stack : xmalloc(total);
    unsigned char *p = buf;
    memcpy(p, prev, 32);
    p += 32;
    for (int i = 0; i < AUDIT_NFIELDS; i++) {
        if (!f[i]) {
            *p++ = 0;
            continue;
        }
        uint32_t n = (uint32_t)len[i];
        *p++ = 1;
        *p++ = (unsigned char)(n >> 24);
        *p++ = (unsigned char)(n >> 16);
        *p++ = (unsigned char)(n >> 8);
        *p++ = (unsigned char)n;
        memcpy(p, f[i], len[i]);
        p += len[i];
    }
    if (!EVP_Digest(buf, total, out, NULL, s_md, NULL))
        abort();
    if (buf != stack)
        free(buf);
}
