#include "utf8.h"
#include <stdint.h>

/* Length of the valid sequence starting at p (at most n bytes available):
 * 1..4, 0 if invalid, -1 if valid so far but cut off by the end. */
static int s_seq_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    int len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n)
            return -1;
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

size_t utf8_sanitize(char *s, size_t len)
{
    unsigned char *p = (unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        int n = s_seq_len(p + i, len - i);
        if (n > 0) {
            i += (size_t)n;
        } else if (n < 0) {
            return i; /* cut off at the end: drop the partial character */
        } else {
            p[i++] = '?';
        }
    }
    return len;
}
