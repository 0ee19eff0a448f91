/* A coordinator driven step by step in the test's own thread, over the
 * store fake: a config file and ipc:// endpoints in a temporary directory,
 * coord_new, then coord_run_once turns interleaved with fake workers and
 * clients (ZeroMQ DEALER sockets speaking proto/PROTOCOL.md).
 *
 * Every wait is "pump the loop until this holds", bounded by a generous
 * deadline that only turns a hang into a failure; the clock is real, so the
 * configured intervals are kept to tens of milliseconds.
 *
 * Usage, in a cmocka test registered with H_TEST (so a failed assertion
 * still frees everything):
 *     harness_t *h = h_start(&(h_opts_t){.max_attempts = 2});
 *     fw_t *w = fw_new(h, "w1", "default", "noop", 1);
 *     ...
 *     h_finish(h);   asserts no invalid transition, no constraint
 *                    violation in the fake, then frees */
#ifndef COORD_HARNESS_H
#define COORD_HARNESS_H

#include "store_fake.h"
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Deadline of every wait: generous; a passing test never waits this long. */
#define H_WAIT_MS 3000

/* Timers run on the monotonic clock in whole milliseconds while run_at is
 * wall-clock microseconds: a timer may fire up to a millisecond before the
 * run_at it stands for. Comparisons of "not before run_at" allow this. */
#define H_CLOCK_SLACK_US 2000

/* Config knobs; 0 / NULL = the harness default (in brackets). */
typedef struct {
    int heartbeat_ms;         /* heartbeat.interval [50] */
    int liveness;             /* heartbeat.liveness [20]: a starved test process must not
                               * lose its fake workers; tests of liveness set 3 */
    const char *backoff_base; /* defaults.backoff_base ["10ms"] */
    const char *backoff_max;  /* defaults.backoff_max ["20ms"] */
    int max_attempts;         /* defaults.max_attempts [3] */
    const char *timeout;      /* defaults.timeout ["10s"] */
    const char *aging;        /* scheduler.priority_aging ["0"] */
    const char *idem_window;  /* scheduler.idempotency_window ["24h"] */
    const char *cancel_grace; /* scheduler.cancel_grace ["30s"] */
    int ready_window;         /* scheduler.ready_window [4096] */
    int refill_batch;         /* scheduler.refill_batch [1024] */
    int waiting_window;       /* scheduler.waiting_window [100000] */
    int max_commit_jobs;      /* scheduler.max_commit_jobs [20000] */
    const char *extra;        /* raw YAML appended: queues:, types:, schedules: */
    bool reject_unknown_types; /* scheduler.accept_unknown_types false (the default of the
                                * daemon; tests submit before workers announce types) */
    bool keep_db;             /* do not reset the store fake (it was filled) */
    bool no_wait_up;          /* return before the coordinator is up */
} h_opts_t;

typedef struct harness harness_t;
typedef struct fw fw_t;
typedef struct fc fc_t;

/* Resets the store fake (unless keep_db), writes the config, creates the
 * coordinator and pumps it until it is up. */
harness_t *h_start(const h_opts_t *opts);
/* Asserts coord_invalid_transitions() == 0 and a clean store fake, then
 * frees everything. */
void h_finish(harness_t *h);
/* Frees what a failed test left (teardown of H_TEST). */
int h_teardown(void **state);
#define H_TEST(f) cmocka_unit_test_teardown(f, h_teardown)

/* Destroys the coordinator and creates a new one over the same database
 * (a restart); fake workers and clients stay connected to the endpoints.
 * Pumps until it is up. */
void h_restart(harness_t *h);
/* The coordinator (coord.h). */
struct coord *h_coord(harness_t *h);

/* One loop turn (poll at most wait_ms), then every fake peer's socket is
 * drained into its inbox and live workers send due heartbeats. */
void h_turn(harness_t *h, int wait_ms);
/* Turns for about ms milliseconds. */
void h_pump_ms(harness_t *h, int ms);
typedef bool (*h_pred_fn)(harness_t *h, void *arg);
/* Turns until pred holds (true) or max_ms passed (false). */
bool h_pump_until(harness_t *h, h_pred_fn pred, void *arg, int max_ms);
/* Turns until no pipeline is in flight or due: nothing was committed for
 * 20 ms. Fails the test if that does not happen within H_WAIT_MS. */
void h_settle(harness_t *h);
/* Turns until the coordinator is up again. */
void h_wait_up(harness_t *h);
/* Turns until a pipeline is in flight (held by store_fake_hold). */
void h_wait_in_flight(harness_t *h);

/* ---- fake worker ---- */

/* A DEALER with routing id = name, connected to the worker endpoint, that
 * sends HELLO at once (queues and types comma separated) and then a
 * heartbeat every heartbeat_ms / 2 while beating. Pumps until WELCOME. */
fw_t *fw_new(harness_t *h, const char *name, const char *queues, const char *types, int slots);
/* Same without the HELLO; fw_hello sends it (running: JSON array text of
 * {"id","attempt"} or NULL). */
fw_t *fw_connect(harness_t *h, const char *name);
/* A connection with its own routing id (a worker process that reconnected
 * through a new socket) for a worker named name. */
fw_t *fw_connect_id(harness_t *h, const char *name, const char *routing_id);
void fw_hello(fw_t *w, const char *queues, const char *types, int slots, const char *running);
/* Whether the worker sends heartbeats (true after fw_new). */
void fw_beat(fw_t *w, bool on);
/* Sends a raw message (body: JSON text). */
void fw_send(fw_t *w, const char *cmd, const char *body);
void fw_sendf(fw_t *w, const char *cmd, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void fw_done(fw_t *w, int64_t id, int attempt, const char *result_json);
void fw_fail(fw_t *w, int64_t id, int attempt, const char *error, bool permanent);
/* Closes the socket (the worker vanishes without a word). */
void fw_close(fw_t *w);

/* Jobs received in JOB messages, in the order they arrived. */
size_t fw_njobs(const fw_t *w);
int64_t fw_job_id(const fw_t *w, size_t i);
int fw_job_attempt(const fw_t *w, size_t i);
/* The job entry as received (borrowed). */
json_t *fw_job(const fw_t *w, size_t i);
/* Pumps until the worker has received at least n jobs in total; fails the
 * test on timeout. */
void fw_wait_jobs(harness_t *h, fw_t *w, size_t n);
/* Messages of a command received so far (not consumed by fw_take). */
size_t fw_count(const fw_t *w, const char *cmd);
/* Takes the first received message of cmd (caller decrefs), or NULL. */
json_t *fw_take(fw_t *w, const char *cmd);
/* Pumps until a message of cmd arrives, and takes it; fails on timeout. */
json_t *fw_expect(harness_t *h, fw_t *w, const char *cmd);

/* ---- fake client ---- */

fc_t *fc_new(harness_t *h);
/* Sends a request; body is JSON text. */
void fc_send(fc_t *c, const char *cmd, const char *body);
void fc_sendf(fc_t *c, const char *cmd, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Sends n raw frames (strings) as one message: for malformed requests. */
void fc_send_frames(fc_t *c, const char *const *frames, size_t n);
/* Replies received and not yet taken. */
size_t fc_nreplies(const fc_t *c);
/* Takes the oldest reply (caller decrefs), or NULL. */
json_t *fc_take(fc_t *c);
/* Pumps until a reply arrives, takes it; fails on timeout. */
json_t *fc_reply(harness_t *h, fc_t *c);
/* Sends STATS and pumps until its reply: every request c sent before has
 * been read by the coordinator (one connection is read in order). The
 * STATS reply is consumed; other replies stay. */
void fc_sync(harness_t *h, fc_t *c);
/* fc_send + fc_reply. */
json_t *fc_call(harness_t *h, fc_t *c, const char *cmd, const char *body);
json_t *fc_callf(harness_t *h, fc_t *c, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* SUBMIT of one job (JSON object text); asserts 200 and returns its id. */
int64_t fc_submit(harness_t *h, fc_t *c, const char *job);
/* The reply's status (asserts it is a JSON object with an integer status). */
int h_status(const json_t *reply);

/* ---- event stream ---- */

/* Subscribes to every queue's events; received events are kept. */
void h_subscribe(harness_t *h);
size_t h_nevents(harness_t *h);
json_t *h_event(harness_t *h, size_t i);

/* ---- helpers ---- */

/* Pumps until the fake's row of job id is in state; fails on timeout. */
void h_wait_state(harness_t *h, int64_t id, int state);
/* Pumps until job id's audit events are exactly `events` (names, comma
 * separated), settles, and asserts they still are (nothing more came). */
void h_expect_events(harness_t *h, int64_t id, const char *events);
/* The "ids" member of a SUBMIT reply, entry i. */
int64_t h_id(const json_t *reply, size_t i);
/* Wall-clock now, microseconds (common/clock.h). */
int64_t h_now_us(void);

#endif
