/* liborch's private side (orch_int_*: shared between its files, not
 * exported from liborch.so): the connection and its table of requests
 * (orch_client.c), shared with the typed calls (orch_client_calls.c). */
#ifndef ORCH_CLIENT_INT_H
#define ORCH_CLIENT_INT_H

#include "orch_error.h"
#include "orch_client.h"
#include "proto_curve.h"
#include "strbuf.h"

#include <stdarg.h>

#define S_ERR_MAX 1024

/* What kind of answer a request expects, for the checks done on it. */
typedef enum {
    ORCH_REQ_ANY = 0, /* any well-formed REPLY, whatever its status */
    ORCH_REQ_OK,      /* status 200 */
    ORCH_REQ_SUBMIT,  /* status 200 with "ids" (njobs of them when njobs > 0) */
} orch_req_kind_t;

/* One request to make: the command, its body (JSON object text, borrowed),
 * whether repeating it on another coordinator is harmless (reads,
 * pause/resume, a SUBMIT whose every job has an idempotency key). */
typedef struct {
    const char *command;
    const char *body;
    size_t len;
    orch_req_kind_t kind;
    size_t njobs;
    bool retry_safe;
} orch_req_t;

/* A synchronous request: 0 with *reply (caller owns; may be NULL: not
 * wanted), or the code with orch_client_error / orch_client_status set. */
int orch_int_call(orch_client_t *cl, const orch_req_t *rq, json_t **reply);

/* Queues an asynchronous request (the body is copied). */
int orch_int_call_async(orch_client_t *cl, const orch_req_t *rq, orch_callback_fn *cb,
                           void *userdata);

/* Records a local failure (code returned) as the last error; no status. */
int orch_int_fail(orch_client_t *cl, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The CURVE keys of keys (texts, else files) into k: all "" when none is
 * given. 0, or ORCH_EINVAL / ORCH_EIO with why in err. */
int orch_int_keys(proto_curve_t *k, const orch_keys_t *keys, char *err, size_t errlen);

/* The tenant set with orch_client_set_tenant, NULL when none. */
const char *orch_int_tenant(const orch_client_t *cl);

/* The code a non-200 status maps to (see orch_client.h). */
int orch_int_status_code(int status);

#endif
