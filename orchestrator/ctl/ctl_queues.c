#include "ctl_queues.h"
#include "ctl.h"
#include "ctl_format.h"
#include "proto.h"

#include <string.h>

/* PAUSE or RESUME of queue; label is the command as typed ("pause",
 * "queues pause") for messages. */
static int s_queue_action(ctl_cmd_t *ctx, const char *label, const char *queue, const char *command,
                          const char *done)
{
    if (!queue)
        return ctl_cmd_usage_error(ctx, "missing queue name for '%s'", label);
    int rc = ctl_cmd_check_name(ctx, "queue name", queue);
    json_t *reply = NULL;
    if (rc != 0)
        return rc;
    strbuf_t body;
    strbuf_init(&body);
    proto_queue_encode(&body, queue);
    rc = ctl_cmd_call(ctx, command, &body, &reply);
    strbuf_fini(&body);
    if (rc != 0)
        return rc;
    if (ctx->args->json)
        ctl_cmd_print_reply(ctx, reply);
    else
        fprintf(ctx->out, "queue %s: %s\n", queue, done);
    json_decref(reply);
    return 0;
}

int ctl_queues_pause(ctl_cmd_t *ctx)
{
    return s_queue_action(ctx, "pause", ctx->args->arg, "PAUSE", "paused");
}

int ctl_queues_resume(ctl_cmd_t *ctx)
{
    return s_queue_action(ctx, "resume", ctx->args->arg, "RESUME", "resumed");
}

static int s_list(ctl_cmd_t *ctx)
{
    if (ctx->args->arg2)
        return ctl_cmd_usage_error(ctx, "unexpected argument '%s' for 'queues list'",
                                   ctx->args->arg2);
    json_t *reply = NULL;
    int rc = ctl_cmd_call_empty(ctx, "QUEUES", &reply);
    if (rc != 0)
        return rc;
    const json_t *queues = ctl_cmd_member(ctx, reply, "queues", JSON_ARRAY);
    if (!queues)
        rc = CTL_EXIT_ERROR;
    else if (ctx->args->json)
        ctl_cmd_print_json(ctx, queues);
    else
        ctl_format_queues(ctx->out, queues);
    json_decref(reply);
    return rc;
}

int ctl_queues_run(ctl_cmd_t *ctx)
{
    const char *action = ctx->args->arg ? ctx->args->arg : "list";
    if (strcmp(action, "list") == 0)
        return s_list(ctx);
    if (strcmp(action, "pause") == 0)
        return s_queue_action(ctx, "queues pause", ctx->args->arg2, "PAUSE", "paused");
    if (strcmp(action, "resume") == 0)
        return s_queue_action(ctx, "queues resume", ctx->args->arg2, "RESUME", "resumed");
    return ctl_cmd_usage_error(ctx,
                               "unknown action '%s' for 'queues': must be list, pause or "
                               "resume",
                               action);
}
