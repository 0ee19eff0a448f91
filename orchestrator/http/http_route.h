/* The HTTP API's routes (docs/http-api.md, proto/openapi.yaml): which
 * method and path is which client command of the loop, and how the request
 * (path parameters, query string, JSON body, headers) becomes that
 * command's body. Pure functions, no sockets: unit-tested on their own. */
#ifndef HTTP_ROUTE_H
#define HTTP_ROUTE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum {
    HTTP_R_COMMAND = 0, /* one client command; its REPLY is the answer */
    HTTP_R_HEALTH,      /* GET /healthz: the process answers */
    HTTP_R_READY,       /* GET /readyz: the loop says the database is up */
    HTTP_R_EVENTS,      /* GET /v1/events: Server-Sent Events */
    HTTP_R_BULK,        /* POST /v1/jobs:retry or :cancel: LIST, then one command per job */
    HTTP_R_ASSET,       /* GET / and /ui/NAME: the dashboard's files (http_ui.h) */
    HTTP_R_WHOAMI,      /* GET /v1/whoami: the token's name and role */
    HTTP_R_METRICS,     /* GET /metrics: the loop's METRICS text and the listener's own */
} http_kind_t;

/* What a request needs, found by http_route_find. */
typedef struct {
    http_kind_t kind;
    int cmd;          /* proto_ccmd_t: the command (HTTP_R_BULK: the one per job) */
    const char *name; /* the route's name for logs and metrics, e.g. "POST /v1/jobs/{id}/cancel" */
    bool auth;        /* needs a bearer token when tokens are configured */
    char param[256];  /* the path's {id} or {name} (percent-decoded), "" when none */
    int route;        /* index in the route table (http_route.c) */
} http_match_t;

/* Query string lookup: the value of key, or NULL (the i-th when repeated). */
typedef const char *(*http_query_fn)(void *arg, const char *key, int i);

/* The request as the route builders see it. */
typedef struct {
    const http_match_t *match;
    http_query_fn query;
    void *query_arg;
    const char *body;        /* request body (NULL or empty: none) */
    size_t body_len;
    const char *idempotency_key; /* Idempotency-Key header, or NULL */
} http_request_t;

/* The route of method and path (no query string). 0 and *out filled;
 * 404 when no path matches; 405 when the path exists for other methods
 * (allow lists them, e.g. "GET, POST"). */
int http_route_find(const char *method, const char *path, http_match_t *out, char *allow,
                    size_t allowlen);

/* Builds the command body for a HTTP_R_COMMAND or HTTP_R_BULK request (for
 * bulk: the LIST that selects the jobs). 0 and *out (caller owns), or an
 * HTTP status (400, 413) with err naming the field. */
int http_route_body(const http_request_t *req, json_t **out, char *err, size_t errlen);

/* The loop's REPLY body turned into the HTTP answer: the status to send
 * and the JSON to send (caller frees): for 2xx the reply without "status"
 * and "req" (LIST: "next_before" becomes "next_cursor"); otherwise a
 * problem+json object (RFC 9457) whose detail is the reply's "error".
 * *problem says which. A reply that is not a JSON object gives 502. */
int http_route_answer(const http_match_t *m, const char *reply, size_t len, char **out,
                      bool *problem);

/* A problem+json body (RFC 9457) for status with detail (caller frees). */
char *http_problem(int status, const char *detail);
/* Routes in the table (http_match_t.route is below this) and route i's
 * name ("GET /v1/jobs/{id}"), for metrics. */
int http_route_count(void);
const char *http_route_name(int i);
/* The reason phrase of status ("Not Found"). */
const char *http_reason(int status);

#endif
