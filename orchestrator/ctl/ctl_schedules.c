#include "ctl_schedules.h"
#include "ctl.h"
#include "ctl_format.h"
#include "proto.h"

#include <stdlib.h>
#include <string.h>

/* Flags that describe a new schedule: for `add` only. */
static const char *const s_add_flags[] = {"--cron",    "--queue",    "--type",
                                          "--payload", "--priority", "--max-attempts"};

static int s_name(ctl_cmd_t *ctx, const char *action)
{
    if (!ctx->args->arg2)
        return ctl_cmd_usage_error(ctx, "missing schedule name for 'schedules %s'", action);
    return ctl_cmd_check_name(ctx, "schedule name", ctx->args->arg2);
}

/* The SCHEDULES add body, its fields in the protocol's order. */
static int s_add_body(ctl_cmd_t *ctx, json_t *body)
{
    const char *cron = ctl_args_opt(ctx->args, "--cron");
    const char *queue = ctl_args_opt(ctx->args, "--queue");
    const char *type = ctl_args_opt(ctx->args, "--type");
    int rc = s_name(ctx, "add");
    if (rc != 0)
        return rc;
    if (!cron)
        return ctl_cmd_usage_error(ctx, "missing --cron for 'schedules add'");
    if (!*cron)
        return ctl_cmd_usage_error(ctx, "invalid value '' for --cron: must not be empty");
    if (!queue)
        return ctl_cmd_usage_error(ctx, "missing --queue for 'schedules add'");
    if (!type)
        return ctl_cmd_usage_error(ctx, "missing --type for 'schedules add'");
    if ((rc = ctl_cmd_check_name(ctx, "queue name", queue)) != 0 ||
        (rc = ctl_cmd_check_name(ctx, "job type", type)) != 0)
        return rc;
    json_object_set_new(body, "name", json_string(ctx->args->arg2));
    json_object_set_new(body, "cron", json_string(cron));
    json_object_set_new(body, "queue", json_string(queue));
    json_object_set_new(body, "type", json_string(type));
    rc = ctl_cmd_payload(ctx, body);
    if (rc == 0)
        rc = ctl_cmd_opt_int(ctx, body, "--priority", "priority", 0, PROTO_MAX_PRIORITY);
    if (rc == 0)
        rc = ctl_cmd_opt_int(ctx, body, "--max-attempts", "max_attempts", 1, 1000);
    return rc;
}

/* "schedule nightly: added (next run 2026-11-23T03:00:00Z)". */
static void s_print_added(ctl_cmd_t *ctx, const json_t *reply)
{
    const json_t *next = json_object_get(json_object_get(reply, "schedule"), "next_run_at");
    fprintf(ctx->out, "schedule %s: added", ctx->args->arg2);
    if (next && !json_is_null(next)) {
        char *text = ctl_format_time(next);
        fprintf(ctx->out, " (next run %s)", text);
        free(text);
    }
    fputc('\n', ctx->out);
}

static int s_list(ctl_cmd_t *ctx)
{
    if (ctx->args->arg2)
        return ctl_cmd_usage_error(ctx, "unexpected argument '%s' for 'schedules list'",
                                   ctx->args->arg2);
    json_t *reply = NULL;
    int rc = ctl_cmd_call_json(ctx, "SCHEDULES", json_pack("{s:s}", "action", "list"), &reply);
    if (rc != 0)
        return rc;
    const json_t *schedules = ctl_cmd_member(ctx, reply, "schedules", JSON_ARRAY);
    if (!schedules)
        rc = CTL_EXIT_ERROR;
    else if (ctx->args->json)
        ctl_cmd_print_json(ctx, schedules);
    else
        ctl_format_schedules(ctx->out, schedules);
    json_decref(reply);
    return rc;
}

/* add, remove, pause, resume: done is what the human output says. */
static int s_change(ctl_cmd_t *ctx, const char *action, const char *done)
{
    json_t *body = json_pack("{s:s}", "action", action);
    bool add = strcmp(action, "add") == 0;
    int rc = add ? s_add_body(ctx, body) : s_name(ctx, action);
    if (rc != 0) {
        json_decref(body);
        return rc;
    }
    if (!add)
        json_object_set_new(body, "name", json_string(ctx->args->arg2));
    json_t *reply = NULL;
    rc = ctl_cmd_call_json(ctx, "SCHEDULES", body, &reply);
    if (rc != 0)
        return rc;
    if (ctx->args->json)
        ctl_cmd_print_reply(ctx, reply);
    else if (add)
        s_print_added(ctx, reply);
    else
        fprintf(ctx->out, "schedule %s: %s\n", ctx->args->arg2, done);
    json_decref(reply);
    return 0;
}

int ctl_schedules_run(ctl_cmd_t *ctx)
{
    static const struct {
        const char *action;
        const char *done;
    } actions[] = {{"list", NULL},
                   {"add", "added"},
                   {"remove", "removed"},
                   {"pause", "paused"},
                   {"resume", "resumed"}};
    const char *action = ctx->args->arg ? ctx->args->arg : "list";
    size_t i = 0;
    while (i < sizeof actions / sizeof *actions && strcmp(actions[i].action, action) != 0)
        i++;
    if (i == sizeof actions / sizeof *actions)
        return ctl_cmd_usage_error(ctx,
                                   "unknown action '%s' for 'schedules': must be list, add, "
                                   "remove, pause or resume",
                                   action);
    bool add = strcmp(action, "add") == 0;
    for (size_t f = 0; !add && f < sizeof s_add_flags / sizeof *s_add_flags; f++) {
        if (ctl_args_opt(ctx->args, s_add_flags[f]))
            return ctl_cmd_usage_error(ctx, "%s is only for 'schedules add'", s_add_flags[f]);
    }
    return i == 0 ? s_list(ctx) : s_change(ctx, action, actions[i].done);
}
