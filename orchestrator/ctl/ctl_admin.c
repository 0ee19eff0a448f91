/* Day-2 commands: bulk retry and cancel by filter, purge, and a queue's
 * live settings and deletion (docs/orchctl.md). Each destructive command
 * can run as --dry-run first, which counts and changes nothing. */
#include "ctl_admin.h"
#include "clock.h"
#include "ctl.h"
#include "ctl_format.h"
#include "orch_error.h"
#include "proto.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A request built as JSON; the reply (without status) in *reply. */
static int s_call(ctl_cmd_t *ctx, const char *command, json_t *body, json_t **reply)
{
    orch_client_t *cl;
    int rc = ctl_cmd_client(ctx, &cl);
    if (rc != 0) {
        json_decref(body);
        return rc;
    }
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    rc = orch_client_request(cl, command, text, strlen(text), reply);
    free(text);
    if (rc != 0)
        return ctl_cmd_failed(ctx, rc, NULL);
    json_int_t status = json_integer_value(json_object_get(*reply, "status"));
    if (status != 200) {
        const char *e = json_string_value(json_object_get(*reply, "error"));
        rc = ctl_cmd_error(ctx, "%s (status %lld)", e ? e : "request failed", (long long)status);
        json_decref(*reply);
        *reply = NULL;
        return rc;
    }
    json_object_del(*reply, "status");
    return 0;
}

static int s_opt_name(ctl_cmd_t *ctx, json_t *obj, const char *flag, const char *key)
{
    const char *v = ctl_args_opt(ctx->args, flag);
    if (!v)
        return 0;
    int rc = ctl_cmd_check_name(ctx, key, v);
    if (rc == 0)
        json_object_set_new(obj, key, json_string(v));
    return rc;
}

static bool s_dry(ctl_cmd_t *ctx)
{
    return ctl_args_opt(ctx->args, "--dry-run") != NULL;
}

/* ---- purge ---- */

int ctl_admin_purge(ctl_cmd_t *ctx)
{
    const char *state = ctl_args_opt(ctx->args, "--state");
    if (!state)
        return ctl_cmd_usage_error(ctx, "purge needs --state succeeded|dead|cancelled");
    json_t *body = json_pack("{s:s}", "state", state);
    int rc = s_opt_name(ctx, body, "--queue", "queue");
    if (rc == 0)
        rc = s_opt_name(ctx, body, "--type", "type");
    if (rc == 0)
        rc = s_opt_name(ctx, body, "--tenant", "tenant");
    const char *age = ctl_args_opt(ctx->args, "--older-than");
    int64_t ms = 0;
    if (rc == 0 && age) {
        if (clock_parse_duration_ms(age, &ms) != 0 || ms < 0)
            rc = ctl_cmd_usage_error(ctx, "invalid value '%s' for --older-than: must be a "
                                          "duration such as 30m, 7d",
                                     age);
        else
            json_object_set_new(body, "older_than_ms", json_integer(ms));
    }
    if (rc == 0)
        rc = ctl_cmd_opt_int(ctx, body, "--limit", "limit", 1, 100000);
    if (rc != 0) {
        json_decref(body);
        return rc;
    }
    if (s_dry(ctx))
        json_object_set_new(body, "dry_run", json_true());
    json_t *reply = NULL;
    if ((rc = s_call(ctx, "PURGE", body, &reply)) != 0)
        return rc;
    if (ctx->args->json) {
        ctl_cmd_print_json(ctx, reply);
    } else if (s_dry(ctx)) {
        fprintf(ctx->out, "would purge %" PRId64 " %s jobs%s\n",
                (int64_t)json_integer_value(json_object_get(reply, "matched")), state,
                json_is_true(json_object_get(reply, "more")) ? " (or more: the limit was reached)"
                                                             : "");
    } else {
        fprintf(ctx->out, "purged %" PRId64 " %s jobs%s\n",
                (int64_t)json_integer_value(json_object_get(reply, "deleted")), state,
                json_is_true(json_object_get(reply, "more")) ? " (more remain: run it again)"
                                                             : "");
    }
    json_decref(reply);
    return 0;
}

/* ---- bulk retry and cancel ---- */

bool ctl_admin_is_bulk(const ctl_cmd_t *ctx)
{
    static const char *const flags[] = {"--queue", "--state", "--type", "--error", "--tenant",
                                        "--limit", "--dry-run", NULL};
    for (size_t i = 0; flags[i]; i++)
        if (ctl_args_opt(ctx->args, flags[i]))
            return true;
    return false;
}

int ctl_admin_bulk(ctl_cmd_t *ctx, bool retry)
{
    const char *verb = retry ? "retry" : "cancel";
    if (ctx->args->arg)
        return ctl_cmd_usage_error(ctx, "give a job id or filters to '%s', not both", verb);
    orch_list_filter_t f = {.state = ctl_args_opt(ctx->args, "--state"),
                            .queue = ctl_args_opt(ctx->args, "--queue"),
                            .type = ctl_args_opt(ctx->args, "--type"),
                            .error = ctl_args_opt(ctx->args, "--error")};
    if (!f.state)
        f.state = retry ? "dead" : "queued";
    int64_t limit = 1000;
    int rc = ctl_cmd_opt_num(ctx, "--limit", 1, 100000, &limit);
    if (rc == 0 && f.queue)
        rc = ctl_cmd_check_name(ctx, "queue", f.queue);
    if (rc == 0 && f.type)
        rc = ctl_cmd_check_name(ctx, "type", f.type);
    const char *tenant = ctl_args_opt(ctx->args, "--tenant");
    if (rc == 0 && tenant)
        rc = ctl_cmd_check_name(ctx, "tenant", tenant);
    orch_client_t *cl;
    if (rc == 0)
        rc = ctl_cmd_client(ctx, &cl);
    if (rc != 0)
        return rc;
    orch_client_set_tenant(cl, tenant); /* checked above: cannot fail */
    /* the jobs first, newest first, a page at a time */
    json_t *ids = json_array();
    int64_t next = 0;
    do {
        json_t *jobs = NULL;
        int64_t want = limit - (int64_t)json_array_size(ids);
        f.limit = want > PROTO_LIST_MAX_LIMIT ? PROTO_LIST_MAX_LIMIT : (int)want;
        f.before = next;
        rc = orch_client_list_page(cl, &f, &jobs, &next);
        if (rc != 0) {
            json_decref(ids);
            return ctl_cmd_failed(ctx, rc, NULL);
        }
        size_t i;
        json_t *j;
        json_array_foreach (jobs, i, j)
            json_array_append(ids, json_object_get(j, "id"));
        json_decref(jobs);
    } while (next && (int64_t)json_array_size(ids) < limit);
    size_t n = json_array_size(ids);
    if (s_dry(ctx)) {
        if (ctx->args->json) {
            json_t *doc = json_pack("{s:I, s:O, s:b}", "matched", (json_int_t)n, "ids", ids,
                                    "dry_run", 1);
            ctl_cmd_print_json(ctx, doc);
            json_decref(doc);
        } else {
            fprintf(ctx->out, "would %s %zu %s jobs\n", verb, n, f.state);
        }
        json_decref(ids);
        return 0;
    }
    size_t done = 0, i;
    json_t *failed = json_array(), *v;
    json_array_foreach (ids, i, v) {
        json_t *reply = NULL;
        int64_t id = (int64_t)json_integer_value(v);
        int r = retry ? orch_client_retry(cl, id, &reply) : orch_client_cancel(cl, id, &reply);
        json_decref(reply);
        if (r == 0) {
            done++;
            continue;
        }
        json_array_append_new(failed, json_pack("{s:I, s:i, s:s}", "id", (json_int_t)id, "status",
                                                orch_client_status(cl), "error",
                                                orch_client_error(cl)));
        if (orch_client_status(cl) == 0 || orch_client_status(cl) == 403)
            break; /* no coordinator, or no right: the rest would fail the same way */
    }
    if (ctx->args->json) {
        json_t *doc = json_pack("{s:I, s:I, s:O}", "matched", (json_int_t)n,
                                retry ? "retried" : "cancelled", (json_int_t)done, "failed",
                                failed);
        ctl_cmd_print_json(ctx, doc);
        json_decref(doc);
    } else {
        fprintf(ctx->out, "%s %zu of %zu %s jobs\n", retry ? "retried" : "cancelled", done, n,
                f.state);
        json_array_foreach (failed, i, v)
            fprintf(ctx->out, "  job %" PRId64 ": %s\n",
                    (int64_t)json_integer_value(json_object_get(v, "id")),
                    json_string_value(json_object_get(v, "error")));
    }
    rc = json_array_size(failed) ? CTL_EXIT_ERROR : 0;
    json_decref(failed);
    json_decref(ids);
    return rc;
}

/* ---- queues set / delete ---- */

int ctl_admin_queue_set(ctl_cmd_t *ctx, const char *queue)
{
    if (!queue)
        return ctl_cmd_usage_error(ctx, "missing queue name for 'queues set'");
    int rc = ctl_cmd_check_name(ctx, "queue name", queue);
    if (rc != 0)
        return rc;
    json_t *body = json_pack("{s:s}", "queue", queue);
    if ((rc = ctl_cmd_opt_int(ctx, body, "--concurrency", "concurrency", 0, 1000000)) == 0 &&
        (rc = ctl_cmd_opt_int(ctx, body, "--burst", "rate_burst", 1, 1000000)) == 0 &&
        (rc = ctl_cmd_opt_int(ctx, body, "--priority", "priority", 0, 9)) == 0) {
        const char *rate = ctl_args_opt(ctx->args, "--rate");
        if (rate) {
            char *end = NULL;
            double r = strtod(rate, &end);
            if (!*rate || *end || r < 0 || r > 1e6)
                rc = ctl_cmd_usage_error(ctx, "invalid value '%s' for --rate: must be a number "
                                              "0..1000000 (jobs per second, 0: no limit)",
                                         rate);
            else
                json_object_set_new(body, "rate_limit", json_real(r));
        }
    }
    if (rc == 0 && ctl_args_opt(ctx->args, "--reset"))
        json_object_set_new(body, "reset", json_true());
    if (rc == 0 && json_object_size(body) == 1)
        rc = ctl_cmd_usage_error(ctx, "queues set needs --concurrency, --rate, --burst, "
                                      "--priority or --reset");
    if (rc != 0) {
        json_decref(body);
        return rc;
    }
    json_t *reply = NULL;
    if ((rc = s_call(ctx, "QUEUE_SET", body, &reply)) != 0)
        return rc;
    if (ctx->args->json)
        ctl_cmd_print_json(ctx, reply);
    else
        fprintf(ctx->out, "queue %s: concurrency %" PRId64 ", rate %g/s, burst %" PRId64
                          ", priority %" PRId64 "\n",
                queue, (int64_t)json_integer_value(json_object_get(reply, "concurrency")),
                json_number_value(json_object_get(reply, "rate_limit")),
                (int64_t)json_integer_value(json_object_get(reply, "rate_burst")),
                (int64_t)json_integer_value(json_object_get(reply, "priority")));
    json_decref(reply);
    return 0;
}

int ctl_admin_queue_delete(ctl_cmd_t *ctx, const char *queue)
{
    if (!queue)
        return ctl_cmd_usage_error(ctx, "missing queue name for 'queues delete'");
    int rc = ctl_cmd_check_name(ctx, "queue name", queue);
    if (rc != 0)
        return rc;
    if (ctl_args_opt(ctx->args, "--force")) {
        /* its finished jobs go first; live ones still block the delete */
        static const char *const states[] = {"succeeded", "dead", "cancelled"};
        for (size_t i = 0; i < 3; i++) {
            bool more = true;
            while (more) {
                json_t *reply = NULL;
                rc = s_call(ctx, "PURGE", json_pack("{s:s, s:s}", "state", states[i], "queue", queue),
                            &reply);
                if (rc != 0)
                    return rc;
                more = json_is_true(json_object_get(reply, "more"));
                json_decref(reply);
            }
        }
    }
    json_t *reply = NULL;
    if ((rc = s_call(ctx, "QUEUE_DELETE", json_pack("{s:s}", "queue", queue), &reply)) != 0)
        return rc;
    if (ctx->args->json)
        ctl_cmd_print_json(ctx, reply);
    else
        fprintf(ctx->out, "queue %s: deleted\n", queue);
    json_decref(reply);
    return 0;
}
