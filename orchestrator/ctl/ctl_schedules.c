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

/* The SCHEDULES add request from the flags (strings borrowed from the
 * command line; payload owned). */
static int s_add_req(ctl_cmd_t *ctx, proto_sched_req_t *req)
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
    /* the codec's struct holds char *: these are only read by the encoder */
    req->cron = (char *)cron;
    req->queue = (char *)queue;
    req->type = (char *)type;
    int64_t prio = -1, attempts = 0;
    rc = ctl_cmd_payload_text(ctx, &req->payload);
    if (rc == 0)
        rc = ctl_cmd_opt_num(ctx, "--priority", 0, PROTO_MAX_PRIORITY, &prio);
    if (rc == 0)
        rc = ctl_cmd_opt_num(ctx, "--max-attempts", 1, PROTO_MAX_ATTEMPTS, &attempts);
    req->priority = (int)prio;
    req->max_attempts = (int)attempts;
    return rc;
}

/* One SCHEDULES request whose reply must be 200. */
static int s_call(ctl_cmd_t *ctx, const proto_sched_req_t *req, json_t **reply)
{
    strbuf_t body;
    strbuf_init(&body);
    proto_sched_req_encode(&body, req);
    int rc = ctl_cmd_call(ctx, "SCHEDULES", &body, reply);
    strbuf_fini(&body);
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
    proto_sched_req_t req = {.action = PROTO_SCHED_LIST, .priority = -1};
    int rc = s_call(ctx, &req, &reply);
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
static int s_change(ctl_cmd_t *ctx, proto_sched_action_t action, const char *done)
{
    /* name borrowed from the command line, only read by the encoder */
    proto_sched_req_t req = {.action = action, .priority = -1, .name = (char *)ctx->args->arg2};
    int rc = action == PROTO_SCHED_ADD ? s_add_req(ctx, &req)
                                       : s_name(ctx, proto_sched_action_name(action));
    json_t *reply = NULL;
    if (rc == 0)
        rc = s_call(ctx, &req, &reply);
    free(req.payload);
    if (rc != 0)
        return rc;
    if (ctx->args->json)
        ctl_cmd_print_reply(ctx, reply);
    else if (action == PROTO_SCHED_ADD)
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
