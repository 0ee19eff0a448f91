#include "ctl_submit.h"
#include "clock.h"
#include "ctl.h"
#include "ctl_batch.h"
#include "ctl_time.h"
#include "orch_error.h"
#include "proto.h"
#include "strbuf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define S_IDEM_MAX 255 /* bytes of an idempotency key (PROTOCOL.md) */

/* Flags that describe one job; none may accompany --batch. */
static const char *const s_job_flags[] = {
    "--queue",      "--type",   "--priority", "--payload",    "--max-attempts",
    "--timeout-ms", "--run-at", "--delay",    "--depends-on", "--idempotency-key",
    "--tenant",
};

/* ---- scheduling flags ---- */

static int s_run_at(ctl_cmd_t *ctx, json_t *job)
{
    const char *at = ctl_args_opt(ctx->args, "--run-at");
    const char *delay = ctl_args_opt(ctx->args, "--delay");
    if (at && delay)
        return ctl_cmd_usage_error(ctx, "--run-at and --delay cannot be combined");
    if (at) {
        int64_t us = 0;
        if (ctl_time_parse_us(at, &us) != 0 || us <= 0)
            return ctl_cmd_usage_error(ctx,
                                       "invalid value '%s' for --run-at: must be an ISO 8601 "
                                       "time such as 2026-11-22T10:00:00Z (Z or an offset such "
                                       "as +02:00) or @<unix seconds>",
                                       at);
        json_object_set_new(job, "run_at_us", json_integer(us));
    }
    if (delay) {
        int64_t ms = 0;
        if (clock_parse_duration_ms(delay, &ms) != 0)
            return ctl_cmd_usage_error(ctx,
                                       "invalid value '%s' for --delay: must be a duration such "
                                       "as 250ms, 30s, 10m or 1h",
                                       delay);
        json_object_set_new(job, "delay_ms", json_integer(ms));
    }
    return 0;
}

/* One --depends-on value: "101" or "101,102". */
static int s_depends_value(ctl_cmd_t *ctx, const char *value, json_t *deps)
{
    const char *p = value;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char word[32];
        int64_t id;
        bool ok = len < sizeof word;
        if (ok) {
            memcpy(word, p, len);
            word[len] = '\0';
            ok = ctl_cmd_int_in(word, 1, CTL_CMD_MAX_JOB_ID, &id);
        }
        if (!ok)
            return ctl_cmd_usage_error(ctx,
                                       "invalid value '%s' for --depends-on: must be job ids "
                                       "separated by commas, such as 101,102",
                                       value);
        json_array_append_new(deps, json_integer(id));
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

/* --depends-on may be given several times; the ids add up in order. */
static int s_depends_on(ctl_cmd_t *ctx, json_t *job)
{
    const char *values[CTL_ARGS_MAX_OPTS];
    size_t n = ctl_args_opt_all(ctx->args, "--depends-on", values, CTL_ARGS_MAX_OPTS);
    if (n == 0)
        return 0;
    json_t *deps = json_array();
    for (size_t i = 0; i < n; i++) {
        int rc = s_depends_value(ctx, values[i], deps);
        if (rc != 0) {
            json_decref(deps);
            return rc;
        }
    }
    json_object_set_new(job, "depends_on", deps);
    return 0;
}

static int s_idempotency_key(ctl_cmd_t *ctx, json_t *job)
{
    const char *key = ctl_args_opt(ctx->args, "--idempotency-key");
    if (!key)
        return 0;
    size_t len = strlen(key);
    if (len == 0 || len > S_IDEM_MAX)
        return ctl_cmd_usage_error(ctx,
                                   "invalid value '%s' for --idempotency-key: must be 1..%d "
                                   "bytes",
                                   key, S_IDEM_MAX);
    json_object_set_new(job, "idempotency_key", json_string(key));
    return 0;
}

/* ---- the jobs ---- */

/* The job described by --queue, --type, ... checked flag by flag so the
 * message names the flag the operator typed. */
static int s_job_from_flags(ctl_cmd_t *ctx, ctl_batch_t *batch)
{
    const char *queue = ctl_args_opt(ctx->args, "--queue");
    const char *type = ctl_args_opt(ctx->args, "--type");
    if (!queue)
        return ctl_cmd_usage_error(ctx, "missing --queue for 'submit'");
    if (!type)
        return ctl_cmd_usage_error(ctx, "missing --type for 'submit'");
    int rc = ctl_cmd_check_name(ctx, "queue name", queue);
    if (rc == 0)
        rc = ctl_cmd_check_name(ctx, "job type", type);
    if (rc != 0)
        return rc;
    json_t *job = json_pack("{s:s, s:s}", "queue", queue, "type", type);
    rc = ctl_cmd_opt_int(ctx, job, "--priority", "priority", 0, PROTO_MAX_PRIORITY);
    if (rc == 0)
        rc = ctl_cmd_opt_int(ctx, job, "--max-attempts", "max_attempts", 1, 1000);
    if (rc == 0)
        rc = ctl_cmd_opt_int(ctx, job, "--timeout-ms", "timeout_ms", 1, INT32_MAX);
    if (rc == 0)
        rc = ctl_cmd_payload(ctx, job);
    if (rc == 0)
        rc = s_run_at(ctx, job);
    if (rc == 0)
        rc = s_depends_on(ctx, job);
    if (rc == 0)
        rc = s_idempotency_key(ctx, job);
    const char *tenant = ctl_args_opt(ctx->args, "--tenant");
    if (rc == 0 && tenant && (rc = ctl_cmd_check_name(ctx, "tenant name", tenant)) == 0)
        json_object_set_new(job, "tenant", json_string(tenant));
    char why[512];
    if (rc == 0 && ctl_batch_add(batch, job, why, sizeof why) != 0)
        rc = ctl_cmd_usage_error(ctx, "invalid job: %s", why);
    json_decref(job);
    return rc;
}

static int s_job_from_batch(ctl_cmd_t *ctx, ctl_batch_t *batch, const char *path)
{
    for (size_t i = 0; i < sizeof s_job_flags / sizeof *s_job_flags; i++) {
        if (ctl_args_opt(ctx->args, s_job_flags[i]))
            return ctl_cmd_usage_error(ctx, "--batch cannot be combined with %s", s_job_flags[i]);
    }
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? ctx->in : fopen(path, "r");
    if (!f)
        return ctl_cmd_usage_error(ctx, "could not open batch file '%s': %s", path,
                                   strerror(errno));
    strbuf_t name;
    strbuf_init(&name);
    strbuf_printf(&name, is_stdin ? "batch on stdin" : "batch file '%s'", path);
    char why[1024];
    int rc = ctl_batch_read(batch, f, name.data, why, sizeof why);
    if (rc != 0)
        rc = ctl_cmd_usage_error(ctx, "%s", why);
    else if (ctl_batch_count(batch) == 0)
        rc = ctl_cmd_usage_error(ctx, "%s holds no jobs", name.data);
    if (!is_stdin)
        fclose(f);
    strbuf_fini(&name);
    return rc;
}

/* ---- the requests ---- */

/* What all acknowledged requests returned, in input order. */
typedef struct {
    json_t *ids;
    json_t *existing;  /* one boolean per id: false where a reply had no "existing" */
    bool any_existing; /* some reply had "existing": --json then prints it */
} s_acked_t;

/* Appends the ids of one acknowledged SUBMIT, printing them at once in
 * human mode so that a later failure still shows what was accepted. An id
 * that the coordinator found under the job's idempotency key, rather than
 * created, prints as "<id> (existing)". */
static int s_take_ids(ctl_cmd_t *ctx, const orch_ids_t *ids, size_t expected, s_acked_t *acked)
{
    if (ids->n != expected)
        return ctl_cmd_error(ctx, "malformed reply from coordinator: %zu ids for %zu jobs", ids->n,
                             expected);
    acked->any_existing = acked->any_existing || ids->existing;
    for (size_t i = 0; i < ids->n; i++) {
        bool found = ids->existing && ids->existing[i];
        json_array_append_new(acked->ids, json_integer(ids->ids[i]));
        json_array_append_new(acked->existing, json_boolean(found));
        if (!ctx->args->json)
            fprintf(ctx->out, "%" PRId64 "%s\n", ids->ids[i], found ? " (existing)" : "");
    }
    fflush(ctx->out);
    return 0;
}

/* The coordinator names a rejected job by its index in the request
 * ("jobs[3].priority: ..."); say which input line that is. */
static void s_job_hint(const ctl_batch_t *batch, size_t start, const char *error, char *hint,
                       size_t len)
{
    size_t idx;
    int used = 0;
    hint[0] = '\0';
    if (!error || sscanf(error, "jobs[%zu]%n", &idx, &used) != 1 || used == 0)
        return;
    size_t line = ctl_batch_line(batch, start + idx);
    if (line > 0)
        snprintf(hint, len, "; jobs[%zu] is line %zu of the batch", idx, line);
}

/* Sends the request for the jobs [start, start + n) of batch. */
static int s_submit_one(ctl_cmd_t *ctx, const ctl_batch_t *batch, size_t start, size_t n,
                        const strbuf_t *body, s_acked_t *acked)
{
    orch_client_t *cl;
    int rc = ctl_cmd_client(ctx, &cl);
    if (rc != 0)
        return rc;
    orch_ids_t ids;
    rc = orch_client_submit_json(cl, body->data, body->len, &ids);
    if (rc != 0) {
        char hint[96] = "";
        int status = orch_client_status(cl);
        if (status != 0 && status != 200)
            s_job_hint(batch, start, orch_client_error(cl), hint, sizeof hint);
        return ctl_cmd_failed(ctx, rc, hint);
    }
    rc = s_take_ids(ctx, &ids, n, acked);
    orch_ids_fini(&ids);
    return rc;
}

static void s_print_acked(ctl_cmd_t *ctx, const s_acked_t *acked)
{
    json_t *doc = json_pack("{s:O}", "ids", acked->ids);
    if (acked->any_existing)
        json_object_set(doc, "existing", acked->existing);
    ctl_cmd_print_json(ctx, doc);
    json_decref(doc);
}

/* The batch goes in as few SUBMIT requests as the limits allow, in order;
 * each is all-or-nothing on the coordinator's side. */
static int s_send_batch(ctl_cmd_t *ctx, const ctl_batch_t *batch)
{
    s_acked_t acked = {.ids = json_array(), .existing = json_array()};
    strbuf_t body;
    strbuf_init(&body);
    int rc = 0;
    size_t n;
    for (size_t start = 0; rc == 0 && (n = ctl_batch_body(batch, start, &body)) > 0; start += n)
        rc = s_submit_one(ctx, batch, start, n, &body, &acked);
    if (ctx->args->json && json_array_size(acked.ids) > 0)
        s_print_acked(ctx, &acked);
    strbuf_fini(&body);
    json_decref(acked.ids);
    json_decref(acked.existing);
    return rc;
}

int ctl_submit_run(ctl_cmd_t *ctx)
{
    proto_limits_t lim;
    proto_limits_default(&lim);
    ctl_batch_t *batch = ctl_batch_new(&lim);
    const char *path = ctl_args_opt(ctx->args, "--batch");
    int rc = path ? s_job_from_batch(ctx, batch, path) : s_job_from_flags(ctx, batch);
    if (rc == 0)
        rc = s_send_batch(ctx, batch);
    ctl_batch_destroy(&batch);
    return rc;
}
