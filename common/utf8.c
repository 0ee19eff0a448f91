#include "utf8.h"

/* Length of the sequence lead byte c starts, 0 when it cannot lead one. */
static size_t s_lead_len(unsigned char c)
{
    return c < 0xc2 ? 0 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : c < 0xf5 ? 4 : 0;
}

size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t len = s_lead_len(c);
    if (len == 0 || len > n)
        return 0;
    unsigned char lo = 0x80, hi = 0xbf; /* the second byte's range */
    if (c == 0xe0)
        lo = 0xa0; /* overlong */
    else if (c == 0xed)
        hi = 0x9f; /* surrogates */
    else if (c == 0xf0)
        lo = 0x90; /* overlong */
    else if (c == 0xf4)
        hi = 0x8f; /* past U+10FFFF */
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return len;
}

/* A lead byte followed by continuation bytes up to the end, fewer than it
 * needs: a character cut off. */
static int s_cut_off(const unsigned char *p, size_t n)
{
    size_t len = s_lead_len(p[0]);
    if (len == 0 || n >= len)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return 1;
}

size_t utf8_sanitize(char *s, size_t len)
{
    unsigned char *p = (unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = utf8_seq(p + i, len - i);
        if (n > 0)
            i += n;
        else if (s_cut_off(p + i, len - i))
            return i; /* drop the partial character */
        else
            p[i++] = '?';
    }
    return len;
}
