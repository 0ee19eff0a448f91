/* The JSON line of the logger: a pure function from one message (the text
 * a LOG_* call formatted) to one JSON object, so tests see exactly what a
 * daemon writes.
 *
 * The message is read the way the text format shows it: free words, then
 * `key=value` fields. A field is a word starting with a key
 * ([A-Za-z_][A-Za-z0-9_.-]*) and '='; its value is either quoted
 * (key="a b": up to the first '"' that ends the line or is followed by a
 * space and the next field, so a quote inside the value survives) or bare
 * (up to the next space). Words that are not fields make up "msg", in
 * order, joined by one space.
 *
 * Members, in order: ts, level, program, pid, msg, then the fields in
 * message order. A bare value that is a decimal integer without leading
 * zeros and within +-2^53 is a JSON number; every other value, and every
 * quoted one, is a string. A field named like a fixed member (ts, level,
 * program, pid, msg, truncated) becomes "field_<key>"; a repeated key gets
 * "_2", "_3", ... Strings are escaped per RFC 8259 (control characters as
 * \n, \t, \u00XX); bytes that are not valid UTF-8 become U+FFFD. A line
 * that would not fit drops its last fields and ends with "truncated":true;
 * it is always one valid JSON object. */
#ifndef LOG_JSON_H
#define LOG_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Room for the longest message (2 KiB) escaped, and its fields. */
#define LOG_JSON_LINE_MAX 8192

/* One field found in a message; pointers into the message. */
typedef struct {
    const char *key;
    size_t keylen;
    const char *val;
    size_t vallen;
    bool quoted;
} log_field_t;

/* One step through msg from *pos: returns true with a field in *f, or
 * with f->key NULL and the free word in f->val; false at the end. */
bool log_json_next(const char *msg, size_t *pos, log_field_t *f);

/* Writes the line (with its final '\n') into buf (len >= 256) and returns
 * its length. ts is "YYYY-MM-DDTHH:MM:SS.mmmZ"; level one of "debug", "info",
 * "warn", "error". */
size_t log_json_render(char *buf, size_t len, const char *ts, const char *level,
                       const char *program, int pid, const char *msg);

#endif
