/* UTF-8 hygiene for text that goes on the wire: handler error messages and
 * progress notes may quote external input or be cut mid-character. */
#ifndef UTF8_H
#define UTF8_H
#include <stddef.h>

/* Replaces every byte that is not part of a valid UTF-8 sequence (overlong
 * forms, surrogates and code points above U+10FFFF included) with '?', and
 * drops an incomplete sequence at the end. Works in place on s[0..len);
 * returns the new length (<= len). Does not add a terminator. */
size_t utf8_sanitize(char *s, size_t len);

#endif
