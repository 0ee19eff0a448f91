/* fail: always fails, with payload.message (default "failed on purpose");
 * permanently when payload.permanent is true. Used to test retries and the
 * dead state end to end. */
#include "handler.h"

static handler_status_t s_run(handler_ctx_t *ctx, const json_t *payload, json_t **result,
                              handler_error_t *err)
{
    (void)ctx;
    (void)result;
    json_t *msg = json_object_get(payload, "message");
    json_t *perm = json_object_get(payload, "permanent");
    if (msg && !json_is_string(msg)) {
        handler_error_set(err, "payload.message: expected a string");
        return HANDLER_PERMANENT;
    }
    if (perm && !json_is_boolean(perm)) {
        handler_error_set(err, "payload.permanent: expected true or false");
        return HANDLER_PERMANENT;
    }
    handler_error_set(err, "%s", msg ? json_string_value(msg) : "failed on purpose");
    return json_is_true(perm) ? HANDLER_PERMANENT : HANDLER_RETRY;
}

const handler_t handler_fail = {
    .name = "fail",
    .config = {.enabled = true}, /* no keys; on unless `enabled: false` */
    .run = s_run,
    .runs_inline = true, /* a few JSON calls: less than a hand-off to a slot thread */
};
