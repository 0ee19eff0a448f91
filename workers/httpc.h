/* A small libcurl wrapper for the HTTP handlers (embed, index): one request
 * at a time per slot thread, bounded by a timeout and a cancel flag, with the
 * response status and body kept for the caller to classify.
 *
 * Each slot thread reuses one curl easy handle (thread-local, freed at thread
 * exit) so keep-alive connections to Ollama or Meilisearch survive between
 * jobs; no curl handle is ever shared between threads. */
#ifndef HTTPC_H
#define HTTPC_H

#include "strbuf.h"
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *method;       /* "GET", "POST" or "PUT" */
    const char *url;          /* from configuration only, never from a payload */
    const char *content_type; /* sent with the body; NULL: no Content-Type header */
    const char *bearer;       /* Authorization: Bearer value, NULL for none; never logged */
    const char *body;         /* NULL for no body */
    size_t body_len;
    int64_t timeout_ms;       /* whole request, connection included; >= 1 */
    atomic_bool *cancelled;   /* polled during the transfer; NULL: not cancellable */
    size_t max_response_bytes;/* larger bodies fail with ORCH_ETOOBIG; 0: 64 MiB */
    const char *const *headers; /* more "Name: value" lines, NULL-terminated, or NULL; may
                                 * hold secrets: never logged. A Content-Type or Accept
                                 * among them replaces the default one. */
    int64_t connect_timeout_ms; /* 0: min(timeout_ms, 10 s) */
} httpc_request_t;

typedef struct {
    long status;     /* HTTP status, 0 when no response arrived */
    char *body;      /* NUL-terminated response body (caller owns, httpc_response_fini) */
    size_t body_len;
    char error[256]; /* transport failure text when httpc_perform returned non-zero */
    int64_t retry_after_s; /* the response's Retry-After (seconds or an HTTP date), -1: none */
} httpc_response_t;

typedef enum {
    HTTPC_CLASS_OK = 0,    /* 2xx */
    HTTPC_CLASS_RETRY,     /* 408, 425, 429, 5xx: may work later */
    HTTPC_CLASS_PERMANENT, /* any other status: will not change by retrying */
} httpc_class_t;

/* Once per process, before slot threads run (idempotent, thread-safe).
 * Returns 0 or ORCH_EIO. */
int httpc_global_init(void);

/* Performs req. Returns 0 when a response arrived (whatever its status), or
 *   ORCH_EUNAVAIL   could not resolve or connect (retryable)
 *   ORCH_ETIMEOUT   timeout_ms passed
 *   ORCH_ECANCELLED *req->cancelled became true
 *   ORCH_ETOOBIG    response body over max_response_bytes
 *   ORCH_EIO        any other transport failure (retryable)
 * with resp->error describing it. resp is always initialised; call
 * httpc_response_fini afterwards in every case. */
int httpc_perform(const httpc_request_t *req, httpc_response_t *resp);
void httpc_response_fini(httpc_response_t *resp);

/* Pure: how a status should be treated. */
httpc_class_t httpc_classify_status(long status);

/* Appends s percent-encoded (everything but RFC 3986 unreserved characters). */
void httpc_url_escape(strbuf_t *out, const char *s);

/* Copies url into out without any user:password@ part, for messages. */
void httpc_redact_url(const char *url, char *out, size_t outlen);

#endif
