/* Growable byte buffer used to build wire messages and SQL array literals
 * without a parse/serialise round trip through jansson on the hot path. */
#ifndef STRBUF_H
#define STRBUF_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *data; /* always NUL-terminated when len > 0 or after strbuf_init */
    size_t len;
    size_t cap;
} strbuf_t;

void strbuf_init(strbuf_t *sb);
void strbuf_fini(strbuf_t *sb);
void strbuf_reset(strbuf_t *sb);
void strbuf_reserve(strbuf_t *sb, size_t extra);
void strbuf_append(strbuf_t *sb, const char *s, size_t n);
void strbuf_puts(strbuf_t *sb, const char *s);
void strbuf_putc(strbuf_t *sb, char c);
void strbuf_printf(strbuf_t *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_put_i64(strbuf_t *sb, int64_t v);
/* Appends s as a JSON string literal, quotes included. */
void strbuf_put_json_string(strbuf_t *sb, const char *s, size_t n);
/* Appends s as one element of a PostgreSQL array literal: quoted, with
 * backslash and double quote escaped. NULL appends the NULL keyword. */
void strbuf_put_pg_array_elem(strbuf_t *sb, const char *s);
/* Detaches the buffer: caller owns the returned string. */
char *strbuf_detach(strbuf_t *sb);

#endif
