/* UTF-8 as RFC 3629 has it: no overlong forms, no surrogates, nothing past
 * U+10FFFF, which is exactly what jansson accepts. One definition for the
 * protocol's encoders and scanner, the JSON log and the workers' messages. */
#ifndef UTF8_H
#define UTF8_H
#include <stddef.h>

/* Length (2..4) of the well-formed multi-byte sequence at p (n bytes left),
 * 0 when there is none: an ASCII byte, an invalid sequence, or one cut off
 * by the end. */
size_t utf8_seq(const unsigned char *p, size_t n);

/* Replaces every byte that is not part of a valid UTF-8 sequence with '?',
 * and drops an incomplete sequence at the end (text cut mid-character).
 * Works in place on s[0..len); returns the new length (<= len). Does not
 * add a terminator. */
size_t utf8_sanitize(char *s, size_t len);

#endif
