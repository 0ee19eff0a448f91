/* orchctl export / import (ctl_export.h): the command line and the
 * summary; the database work is store_move.c's. */
#include "ctl_export.h"
#include "ctl.h"
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
