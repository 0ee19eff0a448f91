/* What every orchctl command shares: the run's context (its command line,
 * streams, endpoint and the client, created on first use) and the helpers
 * that check values, send one request and print errors in one voice. The
 * commands live in ctl.c, ctl_submit.c, ctl_queues.c, ctl_schedules.c and
 * ctl_watch.c; this header is private to them. */
#ifndef CTL_CMD_H
#define CTL_CMD_H

#include "ctl_args.h"
#include "orch_client.h"
#include "proto_curve.h"
#include "strbuf.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define CTL_CMD_MAX_JOB_ID ((INT64_C(1) << 53) - 1) /* ids fit in 53 bits on the wire */

/* One run. The client is created only when a command has passed its local
 * checks, so a usage error never touches the network. */
typedef struct {
    const ctl_args_t *args;
    FILE *in;
    FILE *out;
    FILE *err;
    const char *endpoint; /* the client endpoint, resolved */
    int64_t timeout_ms;
    const char *server_key_file; /* CURVE key files, resolved (flag, else environment); */
    const char *key_file;        /* NULL: CURVE off */
    orch_client_t *client; /* liborch; owned; NULL until the first request */
} ctl_cmd_t;

/* "orchctl: <message>" and the --help hint on err; returns CTL_EXIT_USAGE. */
int ctl_cmd_usage_error(ctl_cmd_t *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "orchctl: <message>" on err; returns CTL_EXIT_ERROR. */
int ctl_cmd_error(ctl_cmd_t *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Decimal integer in [min, max], nothing else in text. */
bool ctl_cmd_int_in(const char *text, int64_t min, int64_t max, int64_t *out);

/* The value of integer flag `flag`, which must be present: 0, or prints the
 * usage error and returns CTL_EXIT_USAGE. */
int ctl_cmd_flag_int(ctl_cmd_t *ctx, const char *flag, int64_t min, int64_t max, int64_t *out);

/* When flag was given: checks it as ctl_cmd_flag_int and stores it in
 * *out (left alone otherwise). Returns 0 or CTL_EXIT_USAGE. */
int ctl_cmd_opt_num(ctl_cmd_t *ctx, const char *flag, int64_t min, int64_t max, int64_t *out);

/* Same, storing the value in obj under key. */
int ctl_cmd_opt_int(ctl_cmd_t *ctx, json_t *obj, const char *flag, const char *key, int64_t min,
                    int64_t max);

/* When --payload was given: checks it is a JSON object and stores it in obj
 * under "payload". Returns 0 or CTL_EXIT_USAGE. */
int ctl_cmd_payload(ctl_cmd_t *ctx, json_t *obj);

/* Same, as compact JSON text in *text (caller frees; NULL when not given). */
int ctl_cmd_payload_text(ctl_cmd_t *ctx, char **text);

/* A protocol name (queue, type, schedule): what says which in the message. */
int ctl_cmd_check_name(ctl_cmd_t *ctx, const char *what, const char *name);

/* Reads the CURVE keys (--server-key and --key, or their variables) into
 * k: all "" when neither is given. Returns 0, or prints why and returns
 * CTL_EXIT_USAGE. The key files are read only by commands that connect. */
int ctl_cmd_curve(ctl_cmd_t *ctx, proto_curve_t *k);

/* The client (liborch), created and connected on first use: 0 with *cl
 * (owned by ctx), or prints why and returns the exit code. */
int ctl_cmd_client(ctl_cmd_t *ctx, orch_client_t **cl);

/* Prints why the liborch call that returned rc failed and returns
 * CTL_EXIT_ERROR: the coordinator's error and status (followed by hint
 * when not NULL), a malformed reply, or no reply in time. */
int ctl_cmd_failed(ctl_cmd_t *ctx, int rc, const char *hint);

/* v as one line of compact JSON on out. */
void ctl_cmd_print_json(ctl_cmd_t *ctx, const json_t *v);

/* Prints what a liborch call that hands out a value returned (v's
 * reference is dropped): the failure when rc is not 0, else v as one line
 * of JSON (--json) or through format. Returns the exit code. */
int ctl_cmd_print_list(ctl_cmd_t *ctx, int rc, json_t *v, void (*format)(FILE *, const json_t *));

/* The reply of an action (liborch leaves "status" out) as one line of JSON
 * (--json), else "<what> <name>: <done>". */
void ctl_cmd_print_done(ctl_cmd_t *ctx, const json_t *reply, const char *what, const char *name,
                        const char *done);

#endif
