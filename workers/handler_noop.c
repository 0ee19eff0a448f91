/* noop: does nothing and succeeds. Benchmarks put a numeric "t" (their send
 * time) into the payload and get it back in the result to measure latency. */
#include "handler.h"

static handler_status_t s_run(handler_ctx_t *ctx, const json_t *payload, json_t **result,
                              handler_error_t *err)
{
    (void)ctx;
    if (!json_is_object(payload)) {
        handler_error_set(err, "payload: expected a JSON object");
        return HANDLER_PERMANENT;
    }
    json_t *out = json_object();
    json_t *t = json_object_get(payload, "t");
    if (json_is_number(t))
        json_object_set(out, "t", t);
    *result = out;
    return HANDLER_OK;
}

const handler_t handler_noop = {
    .name = "noop",
    .config = {.enabled = true}, /* no keys; on unless `enabled: false` */
    .run = s_run,
    .runs_inline = true, /* a few JSON calls: less than a hand-off to a slot thread */
};
