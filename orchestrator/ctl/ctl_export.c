/* orchctl export / import and audit verify (ctl_export.h): the command
 * line and the summary; the database work is store_move.c's and
 * store_audit.c's. */
#include "ctl_export.h"
#include "clock.h"
#include "ctl.h"
#include "ctl_time.h"
#include "store_audit.h"
#include "store_tools.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT_DB_ENV "ORCH_DATABASE_URL"

/* --database or ORCH_DATABASE_URL into *url; --file opened with mode (or
 * dflt) into *file, *own when it must be closed. */
static int s_args(ctl_cmd_t *ctx, const char *mode, FILE *dflt, const char **url, FILE **file,
                  bool *own)
{
    *url = ctl_args_opt(ctx->args, "--database");
    const char *env = getenv(EXPORT_DB_ENV);
    if (!*url || !**url)
        *url = env;
    if (!*url || !**url)
        return ctl_cmd_usage_error(ctx, "'%s' needs --database URL (or " EXPORT_DB_ENV ")",
                                   ctx->args->command);
    const char *path = ctl_args_opt(ctx->args, "--file");
    *file = dflt;
    *own = false;
    if (path && *path && strcmp(path, "-") != 0) {
        if (!(*file = fopen(path, mode)))
            return ctl_cmd_error(ctx, "could not open \"%s\": %s", path, strerror(errno));
        *own = true;
    }
    return 0;
}

static void s_summary(ctl_cmd_t *ctx, FILE *file, const store_move_counts_t *n, const char *done)
{
    FILE *out = file == ctx->out ? ctx->err : ctx->out;
    if (ctx->args->json && out == ctx->out) {
        json_t *doc = json_pack("{s:I, s:I, s:I}", "queues", (json_int_t)n->queues, "schedules",
                                (json_int_t)n->schedules, "jobs", (json_int_t)n->jobs);
        ctl_cmd_print_json(ctx, doc);
        json_decref(doc);
        return;
    }
    fprintf(out, "%s %ld jobs, %ld schedules, %ld queues\n", done, n->jobs, n->schedules,
            n->queues);
}

int ctl_export_run(ctl_cmd_t *ctx)
{
    const char *url;
    FILE *file;
    bool own;
    int rc = s_args(ctx, "w", ctx->out, &url, &file, &own);
    if (rc != 0)
        return rc;
    store_move_counts_t n = {0, 0, 0};
    char err[1024];
    if (store_export(url, ctl_args_opt(ctx->args, "--all") != NULL, file, &n, err, sizeof err) != 0)
        rc = ctl_cmd_error(ctx, "%s", err);
    else
        s_summary(ctx, file, &n, "exported");
    if (own)
        fclose(file);
    return rc;
}

int ctl_import_run(ctl_cmd_t *ctx)
{
    const char *url;
    FILE *file;
    bool own;
    int rc = s_args(ctx, "r", ctx->in, &url, &file, &own);
    if (rc != 0)
        return rc;
    store_move_counts_t n = {0, 0, 0};
    char err[1024];
    bool connected = false;
    if (store_import(url, file, &n, &connected, err, sizeof err) != 0) {
        rc = ctl_cmd_error(ctx, "%s", err);
        if (connected)
            fprintf(ctx->err, "orchctl: nothing was imported\n");
    } else {
        s_summary(ctx, file, &n, "imported");
    }
    if (own)
        fclose(file);
    return rc;
}

/* --since: a time (ctl_time) or a duration back from now ("24h"). */
static int s_since(ctl_cmd_t *ctx, int64_t *since_us)
{
    const char *since = ctl_args_opt(ctx->args, "--since");
    *since_us = 0;
    if (!since)
        return 0;
    int64_t ms;
    if (ctl_time_parse_us(since, since_us) == 0)
        return 0;
    if (clock_parse_duration_ms(since, &ms) == 0 && ms > 0) {
        *since_us = clock_real_us() - ms * 1000;
        return 0;
    }
    return ctl_cmd_usage_error(ctx,
                               "invalid value '%s' for --since: must be a time like "
                               "2026-11-22T10:00:00Z or a duration back from now like 24h",
                               since);
}

static void s_audit_print(ctl_cmd_t *ctx, const store_audit_report_t *r)
{
    if (ctx->args->json) {
        json_t *doc = json_pack("{s:b, s:I, s:I, s:I, s:I}", "intact", r->bad == 0, "from_id",
                                (json_int_t)r->from_id, "rows", (json_int_t)r->rows, "unsealed",
                                (json_int_t)r->unsealed, "bad", (json_int_t)r->bad);
        if (r->head_id)
            json_object_set_new(doc, "head",
                                json_pack("{s:I, s:s}", "id", (json_int_t)r->head_id, "hash",
                                          r->head_hash));
        if (r->bad)
            json_object_set_new(doc, "first_bad",
                                json_pack("{s:I, s:I, s:s, s:s}", "id",
                                          (json_int_t)r->first_bad_id, "job",
                                          (json_int_t)r->first_bad_job, "event",
                                          r->first_bad_event, "reason", r->first_bad_what));
        ctl_cmd_print_json(ctx, doc);
        json_decref(doc);
        return;
    }
    if (!r->bad) {
        fprintf(ctx->out,
                "audit chain intact: %lld rows checked after row %lld, %lld newest not sealed "
                "yet\n",
                (long long)r->rows, (long long)r->from_id, (long long)r->unsealed);
        if (r->head_id) /* worth keeping outside the database */
            fprintf(ctx->out, "head: %lld:%s\n", (long long)r->head_id, r->head_hash);
        return;
    }
    if (r->first_bad_job)
        fprintf(ctx->out, "audit chain broken at row %lld (job %lld, %s): %s\n",
                (long long)r->first_bad_id, (long long)r->first_bad_job, r->first_bad_event,
                r->first_bad_what);
    else
        fprintf(ctx->out, "audit chain broken at row %lld: %s\n", (long long)r->first_bad_id,
                r->first_bad_what);
    fprintf(ctx->out, "%lld rows (or hashes) do not match; %lld rows checked after row %lld\n",
            (long long)r->bad, (long long)r->rows, (long long)r->from_id);
}

int ctl_audit_run(ctl_cmd_t *ctx)
{
    const char *action = ctx->args->arg;
    if (!action || strcmp(action, "verify") != 0)
        return ctl_cmd_usage_error(ctx, "unknown action '%s' for 'audit': must be verify",
                                   action ? action : "");
    const char *url = ctl_args_opt(ctx->args, "--database");
    const char *env = getenv(EXPORT_DB_ENV);
    if (!url || !*url)
        url = env;
    if (!url || !*url)
        return ctl_cmd_usage_error(ctx, "'audit verify' needs --database URL (or " EXPORT_DB_ENV
                                        ")");
    int64_t since_us;
    int rc = s_since(ctx, &since_us);
    if (rc != 0)
        return rc;
    store_audit_checkpoint_t expect = {0};
    const char *cp = ctl_args_opt(ctx->args, "--expect");
    if (cp && store_audit_checkpoint_parse(cp, &expect) != 0)
        return ctl_cmd_usage_error(ctx,
                                   "invalid value '%s' for --expect: must be ID:HASH as a "
                                   "verify printed it (head: ...), 64 hex digits",
                                   cp);
    store_audit_report_t rep;
    char err[1024];
    if (store_audit_verify(url, since_us, &expect, &rep, err, sizeof err) != 0)
        return ctl_cmd_error(ctx, "%s", err);
    s_audit_print(ctx, &rep);
    return rep.bad ? CTL_EXIT_ERROR : 0;
}
