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

/* The schedule to add, from the flags (strings borrowed from the command
 * line; *payload owned, the compact --payload text). */
static int s_add_req(ctl_cmd_t *ctx, orch_schedule_t *sched, char **payload)
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
    sched->name = ctx->args->arg2;
    sched->cron = cron;
    sched->queue = queue;
    sched->type = type;
    int64_t prio = -1, attempts = 0;
    rc = ctl_cmd_payload_text(ctx, payload);
    if (rc == 0)
        rc = ctl_cmd_opt_num(ctx, "--priority", 0, PROTO_MAX_PRIORITY, &prio);
    if (rc == 0)
        rc = ctl_cmd_opt_num(ctx, "--max-attempts", 1, PROTO_MAX_ATTEMPTS, &attempts);
    sched->payload = *payload;
    sched->priority = (int)prio;
    sched->max_attempts = (int)attempts;
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
    orch_client_t *cl;
    json_t *schedules = NULL;
    int rc = ctl_cmd_client(ctx, &cl);
    if (rc != 0)
        return rc;
    rc = orch_client_schedules(cl, &schedules);
    return ctl_cmd_print_list(ctx, rc, schedules, ctl_format_schedules);
}

/* The request of action (all but list) through liborch. */
static int s_send(orch_client_t *cl, proto_sched_action_t action, const char *name,
                  const orch_schedule_t *sched, json_t **reply)
{
    switch (action) {
    case PROTO_SCHED_ADD: return orch_client_schedule_add(cl, sched, reply);
    case PROTO_SCHED_REMOVE: return orch_client_schedule_remove(cl, name, reply);
    case PROTO_SCHED_PAUSE: return orch_client_schedule_pause(cl, name, reply);
    default: return orch_client_schedule_resume(cl, name, reply);
    }
}

/* add, remove, pause, resume: done is what the human output says. */
static int s_change(ctl_cmd_t *ctx, proto_sched_action_t action, const char *done)
{
    orch_schedule_t sched;
    orch_schedule_init(&sched);
    char *payload = NULL;
    orch_client_t *cl = NULL;
    int rc = action == PROTO_SCHED_ADD ? s_add_req(ctx, &sched, &payload)
                                       : s_name(ctx, proto_sched_action_name(action));
    json_t *reply = NULL;
    if (rc == 0)
        rc = ctl_cmd_client(ctx, &cl);
    if (rc == 0 && (rc = s_send(cl, action, ctx->args->arg2, &sched, &reply)) != 0)
        rc = ctl_cmd_failed(ctx, rc, NULL);
    free(payload);
    if (rc != 0)
        return rc;
    if (action == PROTO_SCHED_ADD && !ctx->args->json)
        s_print_added(ctx, reply);
    else
        ctl_cmd_print_done(ctx, reply, "schedule", ctx->args->arg2, done);
    json_decref(reply);
    return 0;
}

int ctl_schedules_run(ctl_cmd_t *ctx)
{
    static const struct {
        const char *action;
        proto_sched_action_t code;
        const char *done;
    } actions[] = {{"list", PROTO_SCHED_LIST, NULL},
                   {"add", PROTO_SCHED_ADD, "added"},
                   {"remove", PROTO_SCHED_REMOVE, "removed"},
                   {"pause", PROTO_SCHED_PAUSE, "paused"},
                   {"resume", PROTO_SCHED_RESUME, "resumed"}};
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
    return i == 0 ? s_list(ctx) : s_change(ctx, actions[i].code, actions[i].done);
}
