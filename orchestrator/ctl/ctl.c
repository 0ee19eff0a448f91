#include "ctl.h"
#include "clock.h"
#include "ctl_args.h"
#include "ctl_batch.h"
#include "ctl_client.h"
#include "ctl_format.h"
#include "orch_error.h"
#include "proto.h"
#include "strbuf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_JOB_ID ((INT64_C(1) << 53) - 1) /* ids fit in 53 bits on the wire */

/* Everything one run needs; the client is created only when a command has
 * passed its local checks, so a usage error never touches the network. */
typedef struct {
    const ctl_args_t *args;
    FILE *in;
    FILE *out;
    FILE *err;
    const char *endpoint;
    int64_t timeout_ms;
    ctl_client_t *client;
} s_ctx_t;

static const char *const s_states[] = {"waiting",   "scheduled", "queued",   "running",
                                       "succeeded", "dead",      "cancelled"};

void ctl_usage(FILE *out)
{
    fputs("usage: orchctl [global flags] COMMAND [flags]\n"
          "\n"
          "commands:\n"
          "  submit --queue Q --type T [--priority 0..9] [--payload JSON]\n"
          "         [--max-attempts N] [--timeout-ms N]    submit one job, print its id\n"
          "  submit --batch FILE|-                        submit JSON lines, print one id per line\n"
          "  get ID                                       show one job\n"
          "  list [--state S] [--queue Q] [--limit N]     list jobs, newest first\n"
          "  cancel ID                                    cancel a job\n"
          "  retry ID                                     requeue a dead or cancelled job\n"
          "  pause QUEUE | resume QUEUE                   stop or restart dispatching a queue\n"
          "  workers                                      list connected workers\n"
          "  stats                                        job counts per queue and state\n"
          "\n"
          "global flags (before or after the command):\n"
          "  --endpoint E     coordinator client endpoint (env ORCH_ENDPOINT,\n"
          "                   default " CTL_DEFAULT_ENDPOINT ")\n"
          "  --timeout D      wait at most D for each reply (500ms, 10s, 2m; default 10s)\n"
          "  --json           print the reply as one line of JSON\n"
          "  -h, --help       show this help\n"
          "\n"
          "exit status: 0 success, 1 error from or no reply from the coordinator,\n"
          "2 usage error (nothing was sent)\n",
          out);
}

/* ---- errors ---- */

static int s_usage_error(s_ctx_t *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int s_usage_error(s_ctx_t *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("orchctl: ", ctx->err);
    vfprintf(ctx->err, fmt, ap);
    fputs("\nsee orchctl --help\n", ctx->err);
    va_end(ap);
    return CTL_EXIT_USAGE;
}

static int s_error(s_ctx_t *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int s_error(s_ctx_t *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("orchctl: ", ctx->err);
    vfprintf(ctx->err, fmt, ap);
    fputc('\n', ctx->err);
    va_end(ap);
    return CTL_EXIT_ERROR;
}

/* ---- local validation ---- */

/* Decimal integer in [min, max], nothing else on the line. */
static bool s_int_in(const char *text, int64_t min, int64_t max, int64_t *out)
{
    if (!text || !(text[0] == '-' || (text[0] >= '0' && text[0] <= '9')))
        return false;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* Returns 0, or prints the usage error and returns CTL_EXIT_USAGE. */
static int s_flag_int(s_ctx_t *ctx, const char *flag, int64_t min, int64_t max, int64_t *out)
{
    const char *text = ctl_args_opt(ctx->args, flag);
    if (s_int_in(text, min, max, out))
        return 0;
    return s_usage_error(ctx, "invalid value '%s' for %s: must be an integer %" PRId64 "..%" PRId64,
                         text, flag, min, max);
}

static int s_check_name(s_ctx_t *ctx, const char *what, const char *name)
{
    if (proto_name_valid(name))
        return 0;
    return s_usage_error(ctx, "invalid %s '%s': must be 1..%d characters of A-Z a-z 0-9 _ . : -",
                         what, name, PROTO_NAME_MAX);
}

static int s_job_id(s_ctx_t *ctx, int64_t *id)
{
    if (!ctx->args->arg)
        return s_usage_error(ctx, "missing job id for '%s'", ctx->args->command);
    if (s_int_in(ctx->args->arg, 1, S_MAX_JOB_ID, id))
        return 0;
    return s_usage_error(ctx, "invalid job id '%s': must be a positive integer", ctx->args->arg);
}

/* ---- one request ---- */

/* Sends one request. Returns 0 with the reply (caller owns), whatever its
 * status; otherwise prints why and returns the exit code. */
static int s_request(s_ctx_t *ctx, const char *command, const char *body, size_t len,
                     json_t **reply)
{
    char why[512];
    *reply = NULL;
    if (!ctx->client) {
        ctx->client = ctl_client_new(ctx->timeout_ms, why, sizeof why);
        if (!ctx->client)
            return s_error(ctx, "%s", why);
        if (ctl_client_connect(ctx->client, ctx->endpoint, why, sizeof why) != 0)
            return s_usage_error(ctx, "%s", why);
    }
    int rc = ctl_client_call(ctx->client, command, body, len, reply, why, sizeof why);
    if (rc == ORCH_EPROTO)
        return s_error(ctx, "%s", why);
    if (rc != 0)
        return s_error(ctx, "could not reach coordinator at %s: %s", ctx->endpoint, why);
    return 0;
}

/* 0 for status 200; otherwise prints the coordinator's error, followed by
 * hint when not NULL, frees the reply and returns CTL_EXIT_ERROR. */
static int s_status(s_ctx_t *ctx, json_t **reply, const char *hint)
{
    json_int_t status = json_integer_value(json_object_get(*reply, "status"));
    if (status == PROTO_STATUS_OK)
        return 0;
    const json_t *error = json_object_get(*reply, "error");
    char *text = json_is_string(error) ? ctl_format_value(error) : NULL;
    s_error(ctx, "%s (status %" JSON_INTEGER_FORMAT ")%s", text ? text : "request failed", status,
            hint ? hint : "");
    free(text);
    json_decref(*reply);
    *reply = NULL;
    return CTL_EXIT_ERROR;
}

/* One request whose reply must have status 200: returns 0 with the reply
 * (caller owns) or prints why and returns the exit code. */
static int s_call(s_ctx_t *ctx, const char *command, const char *body, size_t len, json_t **reply)
{
    int rc = s_request(ctx, command, body, len, reply);
    return rc != 0 ? rc : s_status(ctx, reply, NULL);
}

static int s_call_json(s_ctx_t *ctx, const char *command, json_t *body, json_t **reply)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text)
        abort(); /* only out of memory makes jansson fail on a valid object */
    int rc = s_call(ctx, command, text, strlen(text), reply);
    free(text);
    return rc;
}

/* The member of a 200 reply that carries the answer, checked for type. */
static const json_t *s_member(s_ctx_t *ctx, const json_t *reply, const char *key, json_type type)
{
    const json_t *v = json_object_get(reply, key);
    if (v && json_typeof(v) == type)
        return v;
    s_error(ctx, "malformed reply from coordinator: no \"%s\" %s", key,
            type == JSON_ARRAY ? "array" : "object");
    return NULL;
}

static void s_print_json(s_ctx_t *ctx, const json_t *v)
{
    json_dumpf(v, ctx->out, JSON_COMPACT | JSON_ENCODE_ANY);
    fputc('\n', ctx->out);
}

/* ---- submit ---- */

static const char *const s_job_flags[] = {"--queue",        "--type",       "--priority",
                                          "--payload",      "--max-attempts", "--timeout-ms"};

static int s_payload(s_ctx_t *ctx, json_t *job)
{
    const char *text = ctl_args_opt(ctx->args, "--payload");
    if (!text)
        return 0;
    json_error_t jerr;
    json_t *payload = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!payload)
        return s_usage_error(ctx, "invalid JSON in --payload at column %d: %s", jerr.column,
                             jerr.text);
    if (!json_is_object(payload)) {
        json_decref(payload);
        return s_usage_error(ctx, "--payload must be a JSON object");
    }
    json_object_set_new(job, "payload", payload);
    return 0;
}

/* Optional integer flag: checked, then stored under key. */
static int s_job_int(s_ctx_t *ctx, json_t *job, const char *flag, const char *key, int64_t min,
                     int64_t max)
{
    int64_t v;
    if (!ctl_args_opt(ctx->args, flag))
        return 0;
    int rc = s_flag_int(ctx, flag, min, max, &v);
    if (rc == 0)
        json_object_set_new(job, key, json_integer(v));
    return rc;
}

/* The job described by --queue, --type, ... checked flag by flag so the
 * message names the flag the operator typed. */
static int s_job_from_flags(s_ctx_t *ctx, ctl_batch_t *batch)
{
    const char *queue = ctl_args_opt(ctx->args, "--queue");
    const char *type = ctl_args_opt(ctx->args, "--type");
    if (!queue)
        return s_usage_error(ctx, "missing --queue for 'submit'");
    if (!type)
        return s_usage_error(ctx, "missing --type for 'submit'");
    int rc = s_check_name(ctx, "queue name", queue);
    if (rc == 0)
        rc = s_check_name(ctx, "job type", type);
    if (rc != 0)
        return rc;
    json_t *job = json_pack("{s:s, s:s}", "queue", queue, "type", type);
    rc = s_job_int(ctx, job, "--priority", "priority", 0, PROTO_MAX_PRIORITY);
    if (rc == 0)
        rc = s_job_int(ctx, job, "--max-attempts", "max_attempts", 1, 1000);
    if (rc == 0)
        rc = s_job_int(ctx, job, "--timeout-ms", "timeout_ms", 1, INT32_MAX);
    if (rc == 0)
        rc = s_payload(ctx, job);
    char why[512];
    if (rc == 0 && ctl_batch_add(batch, job, why, sizeof why) != 0)
        rc = s_usage_error(ctx, "invalid job: %s", why);
    json_decref(job);
    return rc;
}

static int s_job_from_batch(s_ctx_t *ctx, ctl_batch_t *batch, const char *path)
{
    for (size_t i = 0; i < sizeof s_job_flags / sizeof *s_job_flags; i++) {
        if (ctl_args_opt(ctx->args, s_job_flags[i]))
            return s_usage_error(ctx, "--batch cannot be combined with %s", s_job_flags[i]);
    }
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? ctx->in : fopen(path, "r");
    if (!f)
        return s_usage_error(ctx, "could not open batch file '%s': %s", path, strerror(errno));
    strbuf_t name;
    strbuf_init(&name);
    strbuf_printf(&name, is_stdin ? "batch on stdin" : "batch file '%s'", path);
    char why[1024];
    int rc = ctl_batch_read(batch, f, name.data, why, sizeof why);
    if (rc != 0)
        rc = s_usage_error(ctx, "%s", why);
    else if (ctl_batch_count(batch) == 0)
        rc = s_usage_error(ctx, "%s holds no jobs", name.data);
    if (!is_stdin)
        fclose(f);
    strbuf_fini(&name);
    return rc;
}

/* Appends the ids of one acknowledged SUBMIT to all, printing them at once
 * in human mode so that a later failure still shows what was accepted. */
static int s_take_ids(s_ctx_t *ctx, const json_t *reply, size_t expected, json_t *all)
{
    const json_t *ids = s_member(ctx, reply, "ids", JSON_ARRAY);
    if (!ids)
        return CTL_EXIT_ERROR;
    if (json_array_size(ids) != expected)
        return s_error(ctx, "malformed reply from coordinator: %zu ids for %zu jobs",
                       json_array_size(ids), expected);
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id) {
        if (!json_is_integer(id))
            return s_error(ctx, "malformed reply from coordinator: an id is not an integer");
        json_array_append(all, id);
        if (!ctx->args->json)
            fprintf(ctx->out, "%" JSON_INTEGER_FORMAT "\n", json_integer_value(id));
    }
    fflush(ctx->out);
    return 0;
}

/* The coordinator names a rejected job by its index in the request
 * ("jobs[3].priority: ..."); say which input line that is. */
static void s_job_hint(const ctl_batch_t *batch, size_t start, const json_t *reply, char *hint,
                       size_t len)
{
    const char *error = json_string_value(json_object_get(reply, "error"));
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
static int s_submit_one(s_ctx_t *ctx, const ctl_batch_t *batch, size_t start, size_t n,
                        const strbuf_t *body, json_t *all)
{
    json_t *reply = NULL;
    int rc = s_request(ctx, "SUBMIT", body->data, body->len, &reply);
    if (rc != 0)
        return rc;
    char hint[96];
    s_job_hint(batch, start, reply, hint, sizeof hint);
    rc = s_status(ctx, &reply, hint);
    if (rc == 0)
        rc = s_take_ids(ctx, reply, n, all);
    json_decref(reply);
    return rc;
}

/* The batch goes in as few SUBMIT requests as the limits allow, in order;
 * each is all-or-nothing on the coordinator's side. */
static int s_send_batch(s_ctx_t *ctx, const ctl_batch_t *batch)
{
    json_t *all = json_array();
    strbuf_t body;
    strbuf_init(&body);
    int rc = 0;
    size_t n;
    for (size_t start = 0; rc == 0 && (n = ctl_batch_body(batch, start, &body)) > 0; start += n)
        rc = s_submit_one(ctx, batch, start, n, &body, all);
    if (ctx->args->json && json_array_size(all) > 0) {
        json_t *doc = json_pack("{s:O}", "ids", all);
        s_print_json(ctx, doc);
        json_decref(doc);
    }
    strbuf_fini(&body);
    json_decref(all);
    return rc;
}

static int s_cmd_submit(s_ctx_t *ctx)
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

/* ---- get, list, stats, workers ---- */

static int s_cmd_get(s_ctx_t *ctx)
{
    int64_t id;
    json_t *reply = NULL;
    int rc = s_job_id(ctx, &id);
    if (rc == 0)
        rc = s_call_json(ctx, "GET", json_pack("{s:I}", "id", (json_int_t)id), &reply);
    if (rc != 0)
        return rc;
    const json_t *job = s_member(ctx, reply, "job", JSON_OBJECT);
    if (!job)
        rc = CTL_EXIT_ERROR;
    else if (ctx->args->json)
        s_print_json(ctx, job);
    else
        ctl_format_job(ctx->out, job);
    json_decref(reply);
    return rc;
}

static int s_list_body(s_ctx_t *ctx, json_t *body)
{
    const char *state = ctl_args_opt(ctx->args, "--state");
    const char *queue = ctl_args_opt(ctx->args, "--queue");
    if (state) {
        bool known = false;
        for (size_t i = 0; i < sizeof s_states / sizeof *s_states; i++)
            known = known || strcmp(state, s_states[i]) == 0;
        if (!known)
            return s_usage_error(ctx, "invalid state '%s': must be one of waiting, scheduled, "
                                      "queued, running, succeeded, dead, cancelled",
                                 state);
        json_object_set_new(body, "state", json_string(state));
    }
    if (queue) {
        int rc = s_check_name(ctx, "queue name", queue);
        if (rc != 0)
            return rc;
        json_object_set_new(body, "queue", json_string(queue));
    }
    if (ctl_args_opt(ctx->args, "--limit")) {
        int64_t limit;
        int rc = s_flag_int(ctx, "--limit", 1, 10000, &limit);
        if (rc != 0)
            return rc;
        json_object_set_new(body, "limit", json_integer(limit));
    }
    return 0;
}

static int s_cmd_list(s_ctx_t *ctx)
{
    json_t *body = json_object();
    json_t *reply = NULL;
    int rc = s_list_body(ctx, body);
    if (rc != 0) {
        json_decref(body);
        return rc;
    }
    rc = s_call_json(ctx, "LIST", body, &reply);
    if (rc != 0)
        return rc;
    const json_t *jobs = s_member(ctx, reply, "jobs", JSON_ARRAY);
    if (!jobs)
        rc = CTL_EXIT_ERROR;
    else if (ctx->args->json)
        s_print_json(ctx, jobs);
    else
        ctl_format_jobs(ctx->out, jobs);
    json_decref(reply);
    return rc;
}

static int s_cmd_stats(s_ctx_t *ctx)
{
    json_t *reply = NULL;
    int rc = s_call_json(ctx, "STATS", json_object(), &reply);
    if (rc != 0)
        return rc;
    const json_t *queues = s_member(ctx, reply, "queues", JSON_OBJECT);
    if (!queues)
        rc = CTL_EXIT_ERROR;
    else if (ctx->args->json)
        s_print_json(ctx, queues);
    else
        ctl_format_stats(ctx->out, queues);
    json_decref(reply);
    return rc;
}

static int s_cmd_workers(s_ctx_t *ctx)
{
    json_t *reply = NULL;
    int rc = s_call_json(ctx, "WORKERS", json_object(), &reply);
    if (rc != 0)
        return rc;
    const json_t *workers = s_member(ctx, reply, "workers", JSON_ARRAY);
    if (!workers)
        rc = CTL_EXIT_ERROR;
    else if (ctx->args->json)
        s_print_json(ctx, workers);
    else
        ctl_format_workers(ctx->out, workers);
    json_decref(reply);
    return rc;
}

/* ---- cancel, retry, pause, resume ---- */

/* --json prints the reply as the coordinator sent it, minus "status"
 * (always 200 here: errors go to stderr). */
static void s_print_reply(s_ctx_t *ctx, json_t *reply)
{
    json_object_del(reply, "status");
    s_print_json(ctx, reply);
}

static int s_job_action(s_ctx_t *ctx, const char *command)
{
    int64_t id;
    json_t *reply = NULL;
    int rc = s_job_id(ctx, &id);
    if (rc == 0)
        rc = s_call_json(ctx, command, json_pack("{s:I}", "id", (json_int_t)id), &reply);
    if (rc != 0)
        return rc;
    if (ctx->args->json) {
        s_print_reply(ctx, reply);
    } else {
        char *state = ctl_format_value(json_object_get(reply, "state"));
        if (json_is_true(json_object_get(reply, "cancel_requested")))
            fprintf(ctx->out, "job %" PRId64 ": cancel requested (%s)\n", id, state);
        else
            fprintf(ctx->out, "job %" PRId64 ": %s\n", id, state);
        free(state);
    }
    json_decref(reply);
    return 0;
}

static int s_cmd_cancel(s_ctx_t *ctx)
{
    return s_job_action(ctx, "CANCEL");
}

static int s_cmd_retry(s_ctx_t *ctx)
{
    return s_job_action(ctx, "RETRY");
}

static int s_queue_action(s_ctx_t *ctx, const char *command, const char *done)
{
    const char *queue = ctx->args->arg;
    if (!queue)
        return s_usage_error(ctx, "missing queue name for '%s'", ctx->args->command);
    int rc = s_check_name(ctx, "queue name", queue);
    json_t *reply = NULL;
    if (rc == 0)
        rc = s_call_json(ctx, command, json_pack("{s:s}", "queue", queue), &reply);
    if (rc != 0)
        return rc;
    if (ctx->args->json)
        s_print_reply(ctx, reply);
    else
        fprintf(ctx->out, "queue %s: %s\n", queue, done);
    json_decref(reply);
    return 0;
}

static int s_cmd_pause(s_ctx_t *ctx)
{
    return s_queue_action(ctx, "PAUSE", "paused");
}

static int s_cmd_resume(s_ctx_t *ctx)
{
    return s_queue_action(ctx, "RESUME", "resumed");
}

/* ---- entry point ---- */

static const struct {
    const char *name;
    int (*run)(s_ctx_t *ctx);
} s_handlers[] = {
    {"submit", s_cmd_submit}, {"get", s_cmd_get},         {"list", s_cmd_list},
    {"cancel", s_cmd_cancel}, {"retry", s_cmd_retry},     {"pause", s_cmd_pause},
    {"resume", s_cmd_resume}, {"workers", s_cmd_workers}, {"stats", s_cmd_stats},
};

static int s_globals(s_ctx_t *ctx)
{
    const char *env = getenv(CTL_ENDPOINT_ENV);
    ctx->endpoint = ctx->args->endpoint ? ctx->args->endpoint
                    : env && *env       ? env
                                        : CTL_DEFAULT_ENDPOINT;
    if (ctx->args->endpoint && !*ctx->args->endpoint)
        return s_usage_error(ctx, "--endpoint must not be empty");
    ctx->timeout_ms = CTL_DEFAULT_TIMEOUT_MS;
    const char *t = ctx->args->timeout;
    if (t && (clock_parse_duration_ms(t, &ctx->timeout_ms) != 0 || ctx->timeout_ms <= 0))
        return s_usage_error(ctx, "invalid value '%s' for --timeout: must be a positive "
                                  "duration such as 500ms, 10s or 2m",
                             t);
    return 0;
}

static int s_dispatch(s_ctx_t *ctx)
{
    if (ctx->args->help) {
        ctl_usage(ctx->out);
        return CTL_EXIT_OK;
    }
    if (!ctx->args->command)
        return s_usage_error(ctx, "missing command");
    int rc = s_globals(ctx);
    for (size_t i = 0; rc == 0 && i < sizeof s_handlers / sizeof *s_handlers; i++) {
        if (strcmp(s_handlers[i].name, ctx->args->command) == 0)
            return s_handlers[i].run(ctx);
    }
    return rc;
}

int ctl_run(int argc, char **argv, FILE *in, FILE *out, FILE *err)
{
    ctl_args_t args;
    char why[512];
    s_ctx_t ctx = {.args = &args, .in = in, .out = out, .err = err};
    int rc = ctl_args_parse(argc, argv, &args, why, sizeof why) != 0
                 ? s_usage_error(&ctx, "%s", why)
                 : s_dispatch(&ctx);
    ctl_client_destroy(&ctx.client);
    /* Ids that never reached the terminal or file were not reported: a
     * script must not take a silent write failure for success. */
    if ((fflush(out) != 0 || ferror(out)) && rc == CTL_EXIT_OK)
        rc = s_error(&ctx, "could not write the output: %s", strerror(errno));
    return rc;
}
