/* sleep: sleeps payload.ms milliseconds in steps of at most 50 ms, checking
 * the cancel flag between steps and reporting progress, then returns
 * {"slept_ms": N}. Used by tests and demos of cancellation, timeouts and
 * draining. */
#include "clock.h"
#include "handler.h"
#include <time.h>

#define SLEEP_MAX_MS 86400000LL /* one day */
#define SLEEP_STEP_MS 50

static void s_nap(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    /* an interrupted nap only shortens one step; the loop re-checks the clock */
    nanosleep(&ts, NULL);
}

static handler_status_t s_run(handler_ctx_t *ctx, const json_t *payload, json_t **result,
                              handler_error_t *err)
{
    json_t *jms = json_object_get(payload, "ms");
    if (!json_is_integer(jms) || json_integer_value(jms) < 0 ||
        json_integer_value(jms) > SLEEP_MAX_MS) {
        handler_error_set(err, "payload.ms: expected an integer 0..%lld", SLEEP_MAX_MS);
        return HANDLER_PERMANENT;
    }
    int64_t ms = json_integer_value(jms);
    int64_t start = clock_mono_ms();
    int64_t end = start + ms;
    for (int64_t now = start; now < end; now = clock_mono_ms()) {
        if (ctx->cancelled && atomic_load_explicit(ctx->cancelled, memory_order_relaxed)) {
            handler_error_set(err, "sleep cancelled after %lld of %lld ms",
                              (long long)(now - start), (long long)ms);
            return HANDLER_CANCELLED;
        }
        handler_progress(ctx, (int)((now - start) * 100 / ms), NULL);
        s_nap(end - now < SLEEP_STEP_MS ? end - now : SLEEP_STEP_MS);
    }
    *result = json_pack("{sI}", "slept_ms", (json_int_t)ms);
    return HANDLER_OK;
}

const handler_t handler_sleep = {
    .name = "sleep",
    .config = {.enabled = true}, /* no keys; on unless `enabled: false` */
    .run = s_run,
};
