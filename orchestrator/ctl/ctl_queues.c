#include "ctl_queues.h"
#include "ctl_admin.h"
#include "ctl.h"
#include "ctl_format.h"
#include "proto.h"

#include <string.h>

/* PAUSE or RESUME of queue; label is the command as typed ("pause",
 * "queues pause") for messages. */
static int s_queue_action(ctl_cmd_t *ctx, const char *label, const char *queue,
                          int (*action)(orch_client_t *, const char *, json_t **), const char *done)
{
    if (!queue)
        return ctl_cmd_usage_error(ctx, "missing queue name for '%s'", label);
    orch_client_t *cl;
    int rc = ctl_cmd_check_name(ctx, "queue name", queue);
    if (rc == 0)
        rc = ctl_cmd_client(ctx, &cl);
    if (rc != 0)
        return rc;
    json_t *reply = NULL;
    rc = action(cl, queue, &reply);
    if (rc != 0)
        return ctl_cmd_failed(ctx, rc, NULL);
    ctl_cmd_print_done(ctx, reply, "queue", queue, done);
    json_decref(reply);
    return 0;
}

int ctl_queues_pause(ctl_cmd_t *ctx)
{
    return s_queue_action(ctx, "pause", ctx->args->arg, orch_client_pause, "paused");
}

int ctl_queues_resume(ctl_cmd_t *ctx)
{
    return s_queue_action(ctx, "resume", ctx->args->arg, orch_client_resume, "resumed");
}

/* The QUEUES reply's queues and downstreams, for 'queues ACTION' (no
 * argument); a usage or connection problem is answered and returned. */
static int s_fetch(ctl_cmd_t *ctx, const char *action, json_t **queues, json_t **downstreams,
                   int *rc)
{
    if (ctx->args->arg2)
        return ctl_cmd_usage_error(ctx, "unexpected argument '%s' for 'queues %s'",
                                   ctx->args->arg2, action);
    orch_client_t *cl;
    int crc = ctl_cmd_client(ctx, &cl);
    if (crc != 0)
        return crc;
    *rc = orch_client_queues_downstreams(cl, queues, downstreams);
    return 0;
}

static int s_list(ctl_cmd_t *ctx)
{
    json_t *queues = NULL, *downstreams = NULL;
    int rc = 0, urc = s_fetch(ctx, "list", &queues, &downstreams, &rc);
    if (urc != 0)
        return urc;
    if (rc != 0 || ctx->args->json) { /* --json: the queues array, as before */
        json_decref(downstreams);
        return ctl_cmd_print_list(ctx, rc, queues, ctl_format_queues);
    }
    ctl_format_queues(ctx->out, queues);
    if (json_array_size(downstreams)) {
        fputc('\n', ctx->out);
        ctl_format_downstreams(ctx->out, downstreams);
    }
    json_decref(queues);
    json_decref(downstreams);
    return 0;
}

/* queues downstreams: the adaptive concurrency limits alone (--json: the array). */
static int s_downstreams(ctl_cmd_t *ctx)
{
    json_t *queues = NULL, *downstreams = NULL;
    int rc = 0, urc = s_fetch(ctx, "downstreams", &queues, &downstreams, &rc);
    if (urc != 0)
        return urc;
    json_decref(queues);
    return ctl_cmd_print_list(ctx, rc, downstreams, ctl_format_downstreams);
}

int ctl_queues_run(ctl_cmd_t *ctx)
{
    const char *action = ctx->args->arg ? ctx->args->arg : "list";
    if (strcmp(action, "list") == 0)
        return s_list(ctx);
    if (strcmp(action, "downstreams") == 0)
        return s_downstreams(ctx);
    if (strcmp(action, "pause") == 0)
        return s_queue_action(ctx, "queues pause", ctx->args->arg2, orch_client_pause, "paused");
    if (strcmp(action, "resume") == 0)
        return s_queue_action(ctx, "queues resume", ctx->args->arg2, orch_client_resume, "resumed");
    if (strcmp(action, "set") == 0)
        return ctl_admin_queue_set(ctx, ctx->args->arg2);
    if (strcmp(action, "delete") == 0)
        return ctl_admin_queue_delete(ctx, ctx->args->arg2);
    return ctl_cmd_usage_error(ctx,
                               "unknown action '%s' for 'queues': must be list, downstreams, "
                               "pause, resume, set or delete",
                               action);
}
