#include "ctl_cmd.h"
#include "ctl.h"
#include "ctl_format.h"
#include "orch_error.h"
#include "proto.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors ---- */

int ctl_cmd_usage_error(ctl_cmd_t *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("orchctl: ", ctx->err);
    vfprintf(ctx->err, fmt, ap);
    fputs("\nsee orchctl --help\n", ctx->err);
    va_end(ap);
    return CTL_EXIT_USAGE;
}

int ctl_cmd_error(ctl_cmd_t *ctx, const char *fmt, ...)
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

bool ctl_cmd_int_in(const char *text, int64_t min, int64_t max, int64_t *out)
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

int ctl_cmd_flag_int(ctl_cmd_t *ctx, const char *flag, int64_t min, int64_t max, int64_t *out)
{
    const char *text = ctl_args_opt(ctx->args, flag);
    if (ctl_cmd_int_in(text, min, max, out))
        return 0;
    return ctl_cmd_usage_error(
        ctx, "invalid value '%s' for %s: must be an integer %" PRId64 "..%" PRId64, text, flag, min,
        max);
}

int ctl_cmd_opt_num(ctl_cmd_t *ctx, const char *flag, int64_t min, int64_t max, int64_t *out)
{
    if (!ctl_args_opt(ctx->args, flag))
        return 0;
    return ctl_cmd_flag_int(ctx, flag, min, max, out);
}

int ctl_cmd_opt_int(ctl_cmd_t *ctx, json_t *obj, const char *flag, const char *key, int64_t min,
                    int64_t max)
{
    int64_t v = 0;
    if (!ctl_args_opt(ctx->args, flag))
        return 0;
    int rc = ctl_cmd_flag_int(ctx, flag, min, max, &v);
    if (rc == 0)
        json_object_set_new(obj, key, json_integer(v));
    return rc;
}

/* The --payload object (caller owns), NULL when not given. */
static int s_payload(ctl_cmd_t *ctx, json_t **payload)
{
    const char *text = ctl_args_opt(ctx->args, "--payload");
    *payload = NULL;
    if (!text)
        return 0;
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!v)
        return ctl_cmd_usage_error(ctx, "invalid JSON in --payload at column %d: %s", jerr.column,
                                   jerr.text);
    if (!json_is_object(v)) {
        json_decref(v);
        return ctl_cmd_usage_error(ctx, "--payload must be a JSON object");
    }
    *payload = v;
    return 0;
}

int ctl_cmd_payload(ctl_cmd_t *ctx, json_t *obj)
{
    json_t *payload = NULL;
    int rc = s_payload(ctx, &payload);
    if (payload)
        json_object_set_new(obj, "payload", payload);
    return rc;
}

int ctl_cmd_payload_text(ctl_cmd_t *ctx, char **text)
{
    json_t *payload = NULL;
    int rc = s_payload(ctx, &payload);
    *text = NULL;
    if (payload) {
        *text = json_dumps(payload, JSON_COMPACT);
        if (!*text)
            abort(); /* only out of memory makes jansson fail on a parsed object */
        json_decref(payload);
    }
    return rc;
}

int ctl_cmd_check_name(ctl_cmd_t *ctx, const char *what, const char *name)
{
    if (proto_name_valid(name))
        return 0;
    return ctl_cmd_usage_error(ctx,
                               "invalid %s '%s': must be 1..%d characters of A-Z a-z 0-9 _ . : -",
                               what, name, PROTO_NAME_MAX);
}

/* ---- one request ---- */

int ctl_cmd_curve(ctl_cmd_t *ctx, proto_curve_t *k)
{
    memset(k, 0, sizeof *k);
    if (!ctx->server_key_file && !ctx->key_file)
        return 0;
    if (!ctx->server_key_file || !ctx->key_file)
        return ctl_cmd_usage_error(ctx,
                                   "CURVE needs both --server-key (the coordinator's public key "
                                   "file, env " CTL_SERVER_KEY_ENV ") and --key (this client's "
                                   "secret key file, env " CTL_KEY_ENV ")");
    char why[512];
    if (proto_curve_load(k, ctx->server_key_file, ctx->key_file, why, sizeof why) != 0)
        return ctl_cmd_usage_error(ctx, "%s", why);
    return 0;
}

int ctl_cmd_client(ctl_cmd_t *ctx, orch_client_t **cl)
{
    char why[512];
    if (!ctx->client) {
        proto_curve_t k;
        int rc = ctl_cmd_curve(ctx, &k);
        if (rc != 0)
            return rc;
        /* "A,B": several coordinators (high availability); the client
         * fails over from an unreachable one or a standby */
        char list[2048];
        const char *eps[ORCH_CLIENT_MAX_ENDPOINTS];
        size_t neps = 0;
        snprintf(list, sizeof list, "%s", ctx->endpoint);
        for (char *save = NULL, *e = strtok_r(list, ",", &save);
             e && neps < ORCH_CLIENT_MAX_ENDPOINTS; e = strtok_r(NULL, ",", &save))
            eps[neps++] = e;
        if (neps == 0)
            eps[neps++] = ctx->endpoint;
        orch_client_opts_t opts;
        orch_client_opts_init(&opts);
        opts.endpoints = eps;
        opts.nendpoints = neps;
        opts.timeout_ms = ctx->timeout_ms;
        if (proto_curve_on(&k)) {
            opts.keys.server_key = k.server;
            opts.keys.secret_key = k.secret;
        }
        rc = orch_client_new(&ctx->client, &opts, why, sizeof why);
        sodium_memzero(&k, sizeof k);
        if (rc == ORCH_EINVAL)
            return ctl_cmd_usage_error(ctx, "%s", why);
        if (rc != 0)
            return ctl_cmd_error(ctx, "%s", why);
    }
    *cl = ctx->client;
    return 0;
}

int ctl_cmd_failed(ctl_cmd_t *ctx, int rc, const char *hint)
{
    const char *why = orch_client_error(ctx->client);
    int status = orch_client_status(ctx->client);
    if (status != 0 && status != PROTO_STATUS_OK) {
        json_t *error = json_string(why);
        char *text = error ? ctl_format_value(error) : NULL;
        ctl_cmd_error(ctx, "%s (status %d)%s", text ? text : "request failed", status,
                      hint ? hint : "");
        free(text);
        json_decref(error);
        return CTL_EXIT_ERROR;
    }
    if (rc == ORCH_ETIMEOUT && ctx->key_file)
        /* a refused CURVE handshake is silent: the request just waits */
        return ctl_cmd_error(ctx,
                             "could not reach coordinator at %s: %s (with CURVE, also check "
                             "--server-key and that the coordinator lists this key)",
                             ctx->endpoint, why);
    if (rc == ORCH_EPROTO || rc == ORCH_EINVAL) /* malformed reply; refused locally */
        return ctl_cmd_error(ctx, "%s", why);
    return ctl_cmd_error(ctx, "could not reach coordinator at %s: %s", ctx->endpoint, why);
}

void ctl_cmd_print_json(ctl_cmd_t *ctx, const json_t *v)
{
    json_dumpf(v, ctx->out, JSON_COMPACT | JSON_ENCODE_ANY);
    fputc('\n', ctx->out);
}

int ctl_cmd_print_list(ctl_cmd_t *ctx, int rc, json_t *v, void (*format)(FILE *, const json_t *))
{
    if (rc != 0)
        return ctl_cmd_failed(ctx, rc, NULL);
    if (ctx->args->json)
        ctl_cmd_print_json(ctx, v);
    else
        format(ctx->out, v);
    json_decref(v);
    return 0;
}

void ctl_cmd_print_done(ctl_cmd_t *ctx, const json_t *reply, const char *what, const char *name,
                        const char *done)
{
    if (ctx->args->json)
        ctl_cmd_print_json(ctx, reply);
    else
        fprintf(ctx->out, "%s %s: %s\n", what, name, done);
}
