/* A reader over JSON text that builds no tree; part of the proto library,
 * not of its API. The hot decoders (SUBMIT) use it where jansson would turn
 * every job into objects and serialise its payload back into text.
 *
 * It accepts a subset of JSON: the texts whose compact form it can give
 * byte for byte as jansson's compact dump of the parsed value would read.
 * Strings may use the escapes \" \\ \b \f \n \r \t (not \u or \/), numbers
 * are integers of at most 18 digits (no fraction, exponent or -0), an
 * object holds at most PROTO_SCAN_KEYS keys, none twice, and values nest at
 * most PROTO_SCAN_DEPTH deep. On anything else, valid JSON or not, a reader
 * gives up (returns false) and its caller hands the whole text to jansson,
 * whose verdict and error message stand: this reader never rejects input
 * on its own. */
#ifndef PROTO_SCAN_H
#define PROTO_SCAN_H

#include "proto.h"
#include "strbuf.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_SCAN_KEYS 64
#define PROTO_SCAN_DEPTH 32

typedef struct {
    const unsigned char *p;   /* next byte */
    const unsigned char *end;
} proto_scan_t;

/* A string as it appears between its quotes (valid UTF-8, escapes
 * undecoded): borrowed from the scanned text. */
typedef struct {
    const char *s;
    size_t len;
    bool escaped; /* holds at least one backslash escape */
} proto_scan_str_t;

void proto_scan_init(proto_scan_t *sc, const void *data, size_t len);

/* Skips white space; consumes c and returns true when it comes next. */
bool proto_scan_take(proto_scan_t *sc, char c);

/* Skips white space; true when c comes next (not consumed). */
bool proto_scan_peek(proto_scan_t *sc, char c);

/* True when only white space is left. */
bool proto_scan_end(proto_scan_t *sc);

/* Members of an object whose '{' was taken, or items of an array whose '['
 * was taken: returns 1 before the next member or item (for an object after
 * its key and colon, the key in *key), 0 after the closing bracket, -1 when
 * the reader gives up. *first starts true. */
int proto_scan_member(proto_scan_t *sc, bool *first, proto_scan_str_t *key);
int proto_scan_item(proto_scan_t *sc, bool *first);

bool proto_scan_string(proto_scan_t *sc, proto_scan_str_t *out);
/* An integer of the subset in min..max. */
bool proto_scan_int(proto_scan_t *sc, int64_t min, int64_t max, int64_t *out);
/* A name (proto_name_valid) written without escapes, copied into *out
 * (caller frees); gives up when *out is set already (the field twice). */
bool proto_scan_name(proto_scan_t *sc, char **out);

/* Any value of the subset, its compact text appended to out. */
bool proto_scan_value(proto_scan_t *sc, strbuf_t *out);

/* Any value of the subset, passed over: its text as it stands (white space
 * included, borrowed from the scanned text) in *start and *len. */
bool proto_scan_span(proto_scan_t *sc, const char **start, size_t *len);

/* The text s stands for, as a C string (caller frees). */
char *proto_scan_unescape(const proto_scan_str_t *s);

/* True when s is the bytes of the C string lit, with no escapes. */
bool proto_scan_is(const proto_scan_str_t *s, const char *lit);

/* Reads one entry of a "jobs" list into item (elem bytes, zeroed). */
typedef bool (*proto_scan_entry_fn)(proto_scan_t *sc, void *item, const proto_limits_t *lim);

/* A list body, {"jobs":[entry, ...]} with an optional "req" (any order),
 * the shape of SUBMIT, DONE and FAIL: 1..lim->max_batch_jobs entries, each
 * read by fn into a growing array of elem-byte items, within
 * lim->max_body_bytes. Returns true with *items (caller frees), *n and,
 * when req is not NULL, the compact text of "req" (NULL when absent;
 * caller frees). On false *items and *n hold the entries begun, which the
 * caller frees as it would the result. */
bool proto_scan_jobs(const void *body, size_t len, const proto_limits_t *lim, size_t elem,
                     proto_scan_entry_fn fn, void **items, size_t *n, char **req);

#endif
