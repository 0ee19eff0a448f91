#include "ctl.h"
#include "clock.h"
#include "ctl_args.h"
#include "ctl_cmd.h"
#include "ctl_export.h"
#include "ctl_format.h"
#include "ctl_admin.h"
#include "ctl_queues.h"
#include "ctl_schedules.h"
#include "ctl_submit.h"
#include "ctl_top.h"
#include "ctl_watch.h"
#include "proto.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void ctl_usage(FILE *out)
{
    fputs("usage: orchctl [global flags] COMMAND [flags]\n"
          "\n"
          "commands:\n"
          "  submit --queue Q --type T [--priority 0..9] [--payload JSON]\n"
          "         [--max-attempts N] [--timeout-ms N]   submit one job, print its id\n"
          "         [--run-at TIME | --delay D]           run it later (TIME: 2026-11-22T10:00:00Z,\n"
          "                                               +HH:MM offset, or @UNIX_SECONDS)\n"
          "         [--depends-on ID[,ID...]]             run it after these jobs succeeded\n"
          "         [--idempotency-key KEY]               at most one live job per queue and key\n"
          "         [--tenant NAME]                       the tenant it is for (default: the key's,\n"
          "                                               or default)\n"
          "  submit --batch FILE|-                        submit JSON lines, print one id per line\n"
          "  get ID [--history]                           show one job [and its audit trail]\n"
          "  list [--state S] [--queue Q] [--limit N]     list jobs, newest first\n"
          "       [--tenant NAME]                         (only this tenant's)\n"
          "  cancel ID                                    cancel a job\n"
          "  retry ID                                     requeue a dead or cancelled job\n"
          "  retry|cancel [--queue Q] [--state S] [--type T] [--error TEXT] [--limit N]\n"
          "               [--tenant NAME] [--dry-run]     every matching job (retry: dead,\n"
          "                                               cancel: queued by default); count first\n"
          "  purge --state succeeded|dead|cancelled [--queue Q] [--type T]\n"
          "        [--tenant NAME] [--older-than D] [--limit N] [--dry-run]\n"
          "                                               delete finished jobs\n"
          "  queues                                       list queues: depth, limits, rates\n"
          "  queues downstreams                           adaptive concurrency per downstream\n"
          "  pause QUEUE | resume QUEUE                   stop or restart dispatching a queue\n"
          "                                               (also: queues pause|resume QUEUE)\n"
          "  queues set QUEUE [--concurrency N] [--rate R] [--burst B] [--priority P]\n"
          "                   [--reset]                   change it live (kept in PostgreSQL)\n"
          "  queues delete QUEUE [--force]                delete a queue without jobs (--force:\n"
          "                                               purge its finished jobs first)\n"
          "  schedules [list]                             list recurring jobs\n"
          "  schedules add NAME --cron EXPR --queue Q --type T [--payload JSON]\n"
          "            [--priority P] [--max-attempts N]  add a recurring job\n"
          "  schedules remove|pause|resume NAME           change a recurring job\n"
          "  watch [--queue Q]... [--events-endpoint E]   print job events as they happen,\n"
          "        [--count N] [--for D]                  until Ctrl-C, N events or D elapsed\n"
          "  workers                                      list connected workers\n"
          "  stats                                        job counts per queue and state\n"
          "  tenants                                      per tenant: jobs, weight, quotas,\n"
          "                                               refusals\n"
          "  top [--interval D] [--count N]               live view of queues and workers, every\n"
          "                                               D (default 1s) until q or Ctrl-C\n"
          "  keygen PREFIX                                write a CURVE key pair: PREFIX.key\n"
          "                                               (secret, mode 0600) and PREFIX.pub\n"
          "  export --database URL [--all] [--file F]     jobs (not finished; --all: every one),\n"
          "                                               schedules and queue settings as JSON\n"
          "                                               lines, read from PostgreSQL directly\n"
          "  import --database URL [--file F]             load an export into another database\n"
          "                                               (no jobs there, orchestratord stopped)\n"
          "  audit verify --database URL [--since T]      recompute the audit chain (all, or\n"
          "         [--expect ID:HASH]                    rows from time T or duration ago) and\n"
          "                                               name the first row that does not match;\n"
          "                                               --expect: a head an earlier verify\n"
          "                                               printed must still be in the chain\n"
          "\n"
          "global flags (before or after the command):\n"
          "  --endpoint E     coordinator client endpoint (env ORCH_ENDPOINT,\n"
          "                   default " CTL_DEFAULT_ENDPOINT ")\n"
          "  --timeout D      wait at most D for each reply (500ms, 10s, 2m; default 10s)\n"
          "  --server-key F   CURVE: the coordinator's public key file (env\n"
          "                   " CTL_SERVER_KEY_ENV ")\n"
          "  --key F          CURVE: this client's secret key file (env " CTL_KEY_ENV ")\n"
          "  --json           print the reply as one line of JSON\n"
          "  -h, --help       show this help\n"
          "\n"
          "watch reads the event endpoint from --events-endpoint, else env\n"
          "ORCH_EVENTS_ENDPOINT, else the client endpoint's port + 1 (tcp) or the\n"
          "events.sock beside clients.sock (ipc).\n"
          "\n"
          "exit status: 0 success, 1 error from or no reply from the coordinator,\n"
          "2 usage error (nothing was sent)\n",
          out);
}

static int s_job_id(ctl_cmd_t *ctx, int64_t *id)
{
    if (!ctx->args->arg)
        return ctl_cmd_usage_error(ctx, "missing job id for '%s'", ctx->args->command);
    if (ctl_cmd_int_in(ctx->args->arg, 1, CTL_CMD_MAX_JOB_ID, id))
        return 0;
    return ctl_cmd_usage_error(ctx, "invalid job id '%s': must be a positive integer",
                               ctx->args->arg);
}

/* ---- get, list, stats, workers ---- */

/* --json of `get --history`: {"job":...,"history":[...]}. */
static void s_print_job_history(ctl_cmd_t *ctx, const json_t *job, const json_t *history)
{
    json_t *doc = json_pack("{s:O, s:O}", "job", job, "history", history);
    ctl_cmd_print_json(ctx, doc);
    json_decref(doc);
}

static int s_cmd_get(ctl_cmd_t *ctx)
{
    int64_t id;
    orch_client_t *cl;
    json_t *job = NULL, *events = NULL;
    bool history = ctl_args_opt(ctx->args, "--history") != NULL;
    int rc = s_job_id(ctx, &id);
    if (rc == 0)
        rc = ctl_cmd_client(ctx, &cl);
    if (rc != 0)
        return rc;
    rc = orch_client_get(cl, id, history, &job, &events);
    if (rc != 0)
        return ctl_cmd_failed(ctx, rc, NULL);
    if (ctx->args->json && history)
        s_print_job_history(ctx, job, events);
    else if (ctx->args->json)
        ctl_cmd_print_json(ctx, job);
    else
        ctl_format_job(ctx->out, job);
    if (history && !ctx->args->json)
        ctl_format_history(ctx->out, events);
    json_decref(job);
    json_decref(events);
    return 0;
}

/* The LIST filter from --state, --queue and --limit (strings borrowed). */
static int s_list_filter(ctl_cmd_t *ctx, orch_list_filter_t *l)
{
    const char *state = ctl_args_opt(ctx->args, "--state");
    const char *queue = ctl_args_opt(ctx->args, "--queue");
    if (state && proto_state_index(state) < 0)
        return ctl_cmd_usage_error(ctx, "invalid state '%s': must be one of waiting, scheduled, "
                                        "queued, running, succeeded, dead, cancelled",
                                   state);
    l->state = state;
    if (queue) {
        int rc = ctl_cmd_check_name(ctx, "queue name", queue);
        if (rc != 0)
            return rc;
        l->queue = queue;
    }
    int64_t limit = 0;
    int rc = ctl_cmd_opt_num(ctx, "--limit", 1, PROTO_LIST_MAX_LIMIT, &limit);
    l->limit = (int)limit;
    return rc;
}

static int s_cmd_list(ctl_cmd_t *ctx)
{
    orch_list_filter_t filter = {0};
    orch_client_t *cl;
    json_t *jobs = NULL;
    int rc = s_list_filter(ctx, &filter);
    const char *tenant = ctl_args_opt(ctx->args, "--tenant");
    if (rc == 0 && tenant)
        rc = ctl_cmd_check_name(ctx, "tenant name", tenant);
    if (rc == 0)
        rc = ctl_cmd_client(ctx, &cl);
    if (rc != 0)
        return rc;
    orch_client_set_tenant(cl, tenant); /* checked above: cannot fail */
    rc = orch_client_list(cl, &filter, &jobs);
    return ctl_cmd_print_list(ctx, rc, jobs, ctl_format_jobs);
}

/* One member of the STATS reply (empty when absent), printed by format;
 * `stats` and `tenants` read the same reply. */
static int s_print_stats(ctl_cmd_t *ctx, const char *member, json_t *(*empty)(void),
                         void (*format)(FILE *, const json_t *))
{
    orch_client_t *cl;
    json_t *stats = NULL;
    int rc = ctl_cmd_client(ctx, &cl);
    if (rc != 0)
        return rc;
    rc = orch_client_stats(cl, &stats);
    json_t *v = rc == 0 ? json_object_get(stats, member) : NULL;
    v = v ? json_incref(v) : rc == 0 ? empty() : NULL;
    const char *db = rc == 0 ? json_string_value(json_object_get(stats, "database")) : NULL;
    if (db && strcmp(db, "up") != 0) /* down, or recovering: the counts lag */
        fprintf(ctx->err, "orchctl: the coordinator's database is %s: these counts are not "
                          "current, and changes are refused until it is up\n",
                db);
    json_decref(stats);
    return ctl_cmd_print_list(ctx, rc, v, format);
}

static int s_cmd_stats(ctl_cmd_t *ctx)
{
    return s_print_stats(ctx, "queues", json_object, ctl_format_stats);
}

/* STATS' tenants: counts, weights, quotas and refusals per tenant. */
static int s_cmd_tenants(ctl_cmd_t *ctx)
{
    return s_print_stats(ctx, "tenants", json_array, ctl_format_tenants);
}

static int s_cmd_workers(ctl_cmd_t *ctx)
{
    orch_client_t *cl;
    json_t *workers = NULL;
    int rc = ctl_cmd_client(ctx, &cl);
    if (rc != 0)
        return rc;
    rc = orch_client_workers(cl, &workers);
    return ctl_cmd_print_list(ctx, rc, workers, ctl_format_workers);
}

/* ---- cancel, retry ---- */

static int s_job_action(ctl_cmd_t *ctx, int (*action)(orch_client_t *, int64_t, json_t **))
{
    int64_t id;
    orch_client_t *cl;
    json_t *reply = NULL;
    int rc = s_job_id(ctx, &id);
    if (rc == 0)
        rc = ctl_cmd_client(ctx, &cl);
    if (rc != 0)
        return rc;
    rc = action(cl, id, &reply);
    if (rc != 0)
        return ctl_cmd_failed(ctx, rc, NULL);
    if (ctx->args->json) {
        ctl_cmd_print_json(ctx, reply);
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

static int s_cmd_cancel(ctl_cmd_t *ctx)
{
    return ctl_admin_is_bulk(ctx) ? ctl_admin_bulk(ctx, false) : s_job_action(ctx, orch_client_cancel);
}

static int s_cmd_retry(ctl_cmd_t *ctx)
{
    return ctl_admin_is_bulk(ctx) ? ctl_admin_bulk(ctx, true) : s_job_action(ctx, orch_client_retry);
}

/* ---- keygen ---- */

/* Local only: a key pair for a worker, a client or the coordinator. The
 * secret never leaves the machine it was made on; the public key is what
 * goes into orchestrator.yaml (security.keys) or to the peers. */
static int s_cmd_keygen(ctl_cmd_t *ctx)
{
    const char *prefix = ctx->args->arg;
    if (!prefix || !*prefix)
        return ctl_cmd_usage_error(ctx, "missing file prefix for 'keygen'");
    char pub[PROTO_CURVE_KEY_LEN + 1], why[600];
    if (proto_curve_keygen(prefix, pub, why, sizeof why) != 0)
        return ctl_cmd_error(ctx, "%s", why);
    if (ctx->args->json) {
        json_t *doc = json_pack("{s:s, s:s+, s:s+}", "public_key", pub, "public_key_file",
                                prefix, ".pub", "secret_key_file", prefix, ".key");
        ctl_cmd_print_json(ctx, doc);
        json_decref(doc);
    } else {
        fprintf(ctx->out, "public key %s\nwrote %s.pub and %s.key (secret, mode 0600)\n", pub,
                prefix, prefix);
    }
    return 0;
}

/* ---- entry point ---- */

static const struct {
    const char *name;
    int (*run)(ctl_cmd_t *ctx);
} s_handlers[] = {
    {"submit", ctl_submit_run},       {"get", s_cmd_get},
    {"list", s_cmd_list},             {"cancel", s_cmd_cancel},
    {"retry", s_cmd_retry},           {"pause", ctl_queues_pause},
    {"purge", ctl_admin_purge},
    {"resume", ctl_queues_resume},    {"queues", ctl_queues_run},
    {"schedules", ctl_schedules_run}, {"watch", ctl_watch_run},
    {"workers", s_cmd_workers},       {"stats", s_cmd_stats},
    {"tenants", s_cmd_tenants},
    {"keygen", s_cmd_keygen},         {"top", ctl_top_run},
    {"export", ctl_export_run},       {"import", ctl_import_run},
    {"audit", ctl_audit_run},
};

static int s_globals(ctl_cmd_t *ctx)
{
    const char *env = getenv(CTL_ENDPOINT_ENV);
    ctx->endpoint = ctx->args->endpoint ? ctx->args->endpoint
                    : env && *env       ? env
                                        : CTL_DEFAULT_ENDPOINT;
    if (ctx->args->endpoint && !*ctx->args->endpoint)
        return ctl_cmd_usage_error(ctx, "--endpoint must not be empty");
    const char *server_key = getenv(CTL_SERVER_KEY_ENV), *key = getenv(CTL_KEY_ENV);
    ctx->server_key_file = ctx->args->server_key ? ctx->args->server_key
                           : server_key && *server_key ? server_key
                                                       : NULL;
    ctx->key_file = ctx->args->key ? ctx->args->key : key && *key ? key : NULL;
    if ((ctx->args->server_key && !*ctx->args->server_key) || (ctx->args->key && !*ctx->args->key))
        return ctl_cmd_usage_error(ctx, "--server-key and --key must not be empty");
    ctx->timeout_ms = CTL_DEFAULT_TIMEOUT_MS;
    const char *t = ctx->args->timeout;
    if (t && (clock_parse_duration_ms(t, &ctx->timeout_ms) != 0 || ctx->timeout_ms <= 0))
        return ctl_cmd_usage_error(ctx, "invalid value '%s' for --timeout: must be a positive "
                                  "duration such as 500ms, 10s or 2m",
                             t);
    return 0;
}

static int s_dispatch(ctl_cmd_t *ctx)
{
    if (ctx->args->help) {
        ctl_usage(ctx->out);
        return CTL_EXIT_OK;
    }
    if (!ctx->args->command)
        return ctl_cmd_usage_error(ctx, "missing command");
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
    ctl_cmd_t ctx = {.args = &args, .in = in, .out = out, .err = err};
    int rc = ctl_args_parse(argc, argv, &args, why, sizeof why) != 0
                 ? ctl_cmd_usage_error(&ctx, "%s", why)
                 : s_dispatch(&ctx);
    orch_client_destroy(&ctx.client);
    /* Ids that never reached the terminal or file were not reported: a
     * script must not take a silent write failure for success. */
    if ((fflush(out) != 0 || ferror(out)) && rc == CTL_EXIT_OK)
        rc = ctl_cmd_error(&ctx, "could not write the output: %s", strerror(errno));
    return rc;
}
