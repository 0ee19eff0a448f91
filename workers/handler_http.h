/* http: job types served by an HTTP service. Each type is a URL named in
 * worker.yaml (`handlers: http: types: <name>:`), never in a payload; a
 * job POSTs (or PUTs) its payload as JSON there. 2xx: the response body is
 * the result (JSON, or {"body": "<text>"} when it is not JSON); 408, 425,
 * 429 and 5xx, timeouts and connection failures: retryable (Retry-After is
 * reported in the error); any other status: permanent. See
 * docs/handlers.md. */
#ifndef HANDLER_HTTP_H
#define HANDLER_HTTP_H

#include "cfgsection.h"
#include "handler.h"
#include "strbuf.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_TYPES 256
#define HTTP_MAX_HEADERS 64

extern const handler_t handler_http;

/* One type (`handlers: http: types: <name>:`). */
typedef struct {
    char *url;                  /* http:// or https:// (required) */
    char *method;               /* POST (default) or PUT */
    char **headers;             /* name, value, ...: ${VAR} in a value is replaced by the
                                 * variable at load time; values are never logged */
    size_t nheaders;            /* pairs */
    int64_t connect_timeout_ms; /* default 5s */
    int64_t timeout_ms;         /* the whole request, default 30s (and the job's deadline) */
    size_t max_response;        /* bytes, default 1MiB; larger: permanent failure */
    /* filled by the check, not keys */
    char name[72]; /* the job type */
} http_type_config_t;

typedef struct {
    cfgsection_entries_t types; /* http_type_config_t each */
} http_config_t;

/* ---- pure pieces, unit tested ---- */

/* Replaces every ${NAME} in value with getenv(NAME) into out. Returns 0,
 * or ORCH_ENOTFOUND with *missing set to the first unset (or empty)
 * variable (caller owns *missing), or ORCH_EINVAL for a "${" without a
 * valid name and "}". A '$' not followed by '{' is kept as is. */
int http_expand_env(const char *value, strbuf_t *out, char **missing);

/* The result of a 2xx response body: its JSON (empty: null), or
 * {"body": text} (text made valid UTF-8) when it is not JSON. New ref. */
json_t *http_result_of(const char *body, size_t len);

/* "<status>: <first bytes of body, printable, valid UTF-8>" into buf, for
 * error messages. */
void http_describe_status(long status, const char *body, size_t len, char *buf, size_t buflen);

#endif
