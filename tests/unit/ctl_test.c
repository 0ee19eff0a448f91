/* orchctl: command line parsing, batch files, output formatting and error
 * handling, driven through ctl_run() against a fake coordinator: a ROUTER
 * socket on ipc:// in a thread that records each request and answers with
 * canned REPLY bodies.
 *
 * Built by orchestrator/ctl/CMakeLists.txt (target test_ctl): it needs
 * orch_ctllib, which the generic unit test link set does not include. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ctl.h"
#include "ctl_batch.h"
#include "clock.h"
#include "ctl_format.h"
#include "ctl_time.h"
#include "ctl_watch.h"
#include "orch_error.h"
#include "proto.h"
#include "strbuf.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

/* ---------------------------------------------------------------------- */
/* fake coordinator                                                        */

#define FAKE_MAX_REQ 16
/* Reply scripts: a JSON body to send as is, or one of these. */
#define FAKE_SILENT NULL             /* receive, never answer */
#define FAKE_IDS "@ids"              /* status 200 with one id per submitted job */
#define FAKE_BAD_PROTO "@bad-proto"  /* answer with a wrong protocol frame */

typedef struct {
    void *ctx;
    void *sock;
    char endpoint[128];
    char path[96];
    pthread_t thread;
    atomic_bool stop;
    const char *replies[FAKE_MAX_REQ];
    size_t nreplies;
    /* recorded by the thread, read by the test after the join */
    atomic_size_t nreq;
    char *cmd[FAKE_MAX_REQ];
    json_t *body[FAKE_MAX_REQ];
    char *raw[FAKE_MAX_REQ]; /* the body frame's bytes */
    int bad_frames; /* requests that were not [identity][ORCHC1][CMD][body] */
    int64_t next_id;
} fake_t;

static int s_fake_counter;

static void fake_send(void *sock, zmq_msg_t *identity, const char *proto, const char *body)
{
    zmq_msg_send(identity, sock, ZMQ_SNDMORE);
    zmq_send(sock, proto, strlen(proto), ZMQ_SNDMORE);
    zmq_send(sock, "REPLY", 5, ZMQ_SNDMORE);
    zmq_send(sock, body, strlen(body), 0);
}

/* status 200 with ids next_id.. for every job of the SUBMIT body */
static char *fake_ids_reply(fake_t *f, const json_t *body)
{
    json_t *ids = json_array();
    size_t n = json_array_size(json_object_get(body, "jobs"));
    for (size_t i = 0; i < n; i++)
        json_array_append_new(ids, json_integer(f->next_id++));
    json_t *reply = json_pack("{s:i, s:o}", "status", 200, "ids", ids);
    char *text = json_dumps(reply, JSON_COMPACT);
    json_decref(reply);
    return text;
}

static void fake_handle(fake_t *f)
{
    zmq_msg_t parts[6];
    size_t n = 0;
    for (;;) {
        zmq_msg_t tmp;
        zmq_msg_t *m = n < 6 ? &parts[n] : &tmp;
        zmq_msg_init(m);
        zmq_msg_recv(m, f->sock, 0);
        bool more = zmq_msg_more(m);
        if (m == &tmp)
            zmq_msg_close(m);
        else
            n++;
        if (!more)
            break;
    }
    size_t idx = f->nreq;
    if (n != 4 || zmq_msg_size(&parts[1]) != 6 || memcmp(zmq_msg_data(&parts[1]), "ORCHC1", 6))
        f->bad_frames++;
    if (n == 4 && idx < FAKE_MAX_REQ) {
        f->cmd[idx] = strndup(zmq_msg_data(&parts[2]), zmq_msg_size(&parts[2]));
        f->body[idx] = json_loadb(zmq_msg_data(&parts[3]), zmq_msg_size(&parts[3]), 0, NULL);
        f->raw[idx] = strndup(zmq_msg_data(&parts[3]), zmq_msg_size(&parts[3]));
        f->nreq++;
        const char *reply = idx < f->nreplies ? f->replies[idx] : FAKE_SILENT;
        if (reply == FAKE_SILENT) {
            /* the request stays unanswered */
        } else if (strcmp(reply, FAKE_IDS) == 0) {
            char *text = fake_ids_reply(f, f->body[idx]);
            fake_send(f->sock, &parts[0], "ORCHC1", text);
            free(text);
        } else if (strcmp(reply, FAKE_BAD_PROTO) == 0) {
            fake_send(f->sock, &parts[0], "ORCHX9", "{\"status\":200}");
        } else {
            fake_send(f->sock, &parts[0], "ORCHC1", reply);
        }
    }
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&parts[i]);
}

static void *fake_main(void *arg)
{
    fake_t *f = arg;
    while (!atomic_load(&f->stop)) {
        zmq_pollitem_t item = {.socket = f->sock, .events = ZMQ_POLLIN};
        if (zmq_poll(&item, 1, 20) > 0)
            fake_handle(f);
    }
    return NULL;
}

/* Binds before the thread starts, so a client never races the listener.
 * replies: NULL-terminated list is not possible (FAKE_SILENT is NULL), so
 * the count is explicit. */
static fake_t *fake_start(size_t nreplies, const char *const *replies)
{
    fake_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->path, sizeof f->path, "/tmp/orchctl-test-%d-%d.sock", (int)getpid(),
             s_fake_counter++);
    snprintf(f->endpoint, sizeof f->endpoint, "ipc://%s", f->path);
    unlink(f->path);
    f->next_id = 1;
    assert_true(nreplies <= FAKE_MAX_REQ);
    for (size_t i = 0; i < nreplies; i++)
        f->replies[i] = replies[i];
    f->nreplies = nreplies;
    f->ctx = zmq_ctx_new();
    f->sock = zmq_socket(f->ctx, ZMQ_ROUTER);
    int zero = 0;
    zmq_setsockopt(f->sock, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_bind(f->sock, f->endpoint), 0);
    assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
    return f;
}

/* Stops the thread; what it recorded can be read safely afterwards. */
static void fake_halt(fake_t *f)
{
    if (atomic_exchange(&f->stop, true))
        return;
    pthread_join(f->thread, NULL);
}

static void fake_stop(fake_t **fp)
{
    fake_t *f = *fp;
    fake_halt(f);
    zmq_close(f->sock);
    zmq_ctx_term(f->ctx);
    unlink(f->path);
    for (size_t i = 0; i < f->nreq; i++) {
        free(f->cmd[i]);
        free(f->raw[i]);
        json_decref(f->body[i]);
    }
    free(f);
    *fp = NULL;
}

/* The fake answers only after the client's request arrived, so once
 * ctl_run returned every request it sent has been recorded, except for a
 * request the fake never answers: wait (bounded) for that one. */
static void fake_wait_requests(fake_t *f, size_t n)
{
    for (int i = 0; i < 250 && atomic_load(&f->nreq) < n; i++)
        usleep(20 * 1000);
}

/* ---------------------------------------------------------------------- */
/* running orchctl in-process                                              */

typedef struct {
    int rc;
    char *out;
    char *err;
} result_t;

static void result_free(result_t *r)
{
    free(r->out);
    free(r->err);
}

/* Runs orchctl [--endpoint E] args... with input as stdin. */
static result_t run_v(const char *endpoint, const char *input, const char *const *args)
{
    char *argv[128];
    int argc = 0;
    argv[argc++] = "orchctl";
    if (endpoint) {
        argv[argc++] = "--endpoint";
        argv[argc++] = (char *)endpoint;
    }
    for (size_t i = 0; args[i]; i++)
        argv[argc++] = (char *)args[i];
    argv[argc] = NULL;
    result_t r = {0};
    size_t outlen = 0, errlen = 0;
    FILE *out = open_memstream(&r.out, &outlen);
    FILE *err = open_memstream(&r.err, &errlen);
    /* fmemopen refuses size 0: empty input is an empty temporary file */
    FILE *in = input && *input ? fmemopen((void *)input, strlen(input), "r") : tmpfile();
    assert_non_null(out);
    assert_non_null(err);
    assert_non_null(in);
    r.rc = ctl_run(argc, argv, in, out, err);
    fclose(in);
    fclose(out);
    fclose(err);
    return r;
}

#define RUN(endpoint, input, ...) run_v((endpoint), (input), (const char *const[]){__VA_ARGS__, NULL})

static void assert_contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle))
        fail_msg("expected \"%s\" in \"%s\"", needle, haystack);
}

static char *write_temp(const char *content)
{
    char *path = strdup("/tmp/orchctl-test-batch-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(content);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    close(fd);
    return path;
}

static void assert_json_equal_text(const json_t *v, const char *expected)
{
    json_t *want = json_loads(expected, 0, NULL);
    assert_non_null(want);
    if (!json_equal(v, want)) {
        char *got = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        fail_msg("got %s, expected %s", got ? got : "NULL", expected);
    }
    json_decref(want);
}

/* ---------------------------------------------------------------------- */
/* usage errors: exit 2, one line naming the problem, nothing sent         */

typedef struct {
    const char *args[12];
    const char *message;
} usage_case_t;

static const usage_case_t s_usage_cases[] = {
    {{NULL}, "orchctl: missing command\n"},
    {{"bogus"}, "orchctl: unknown command 'bogus'\n"},
    {{"bench", "--jobs", "10"}, "orchctl: unknown command 'bench'\n"},
    {{"--bogus", "stats"}, "orchctl: unknown flag '--bogus'\n"},
    {{"stats", "--bogus"}, "orchctl: unknown flag '--bogus' for 'stats'\n"},
    {{"get", "1", "--queue", "q"}, "orchctl: unknown flag '--queue' for 'get'\n"},
    {{"--queue", "q", "submit"}, "orchctl: flag --queue must follow its command\n"},
    {{"stats", "extra"}, "orchctl: unexpected argument 'extra' for 'stats'\n"},
    {{"get", "1", "2"}, "orchctl: unexpected argument '2' for 'get'\n"},
    {{"--json=yes", "stats"}, "orchctl: --json takes no value\n"},
    {{"stats", "--timeout"}, "orchctl: missing value for --timeout\n"},
    {{"submit", "--type", "t", "--queue"}, "orchctl: missing value for --queue\n"},
    {{"--timeout", "soon", "stats"},
     "orchctl: invalid value 'soon' for --timeout: must be a positive duration such as 500ms, "
     "10s or 2m\n"},
    {{"--timeout", "0", "stats"},
     "orchctl: invalid value '0' for --timeout: must be a positive duration such as 500ms, 10s "
     "or 2m\n"},
    {{"--endpoint=", "stats"}, "orchctl: --endpoint must not be empty\n"},
    {{"--endpoint", "nowhere", "stats"},
     "orchctl: invalid endpoint 'nowhere': expected tcp://HOST:PORT or ipc://PATH\n"},
    {{"submit", "--type", "t"}, "orchctl: missing --queue for 'submit'\n"},
    {{"submit", "--queue", "q"}, "orchctl: missing --type for 'submit'\n"},
    {{"submit", "--queue", "my queue", "--type", "t"},
     "orchctl: invalid queue name 'my queue': must be 1..64 characters of A-Z a-z 0-9 _ . : -\n"},
    {{"submit", "--queue", "q", "--type", "a/b"},
     "orchctl: invalid job type 'a/b': must be 1..64 characters of A-Z a-z 0-9 _ . : -\n"},
    {{"submit", "--queue", "q", "--type", "t", "--priority", "10"},
     "orchctl: invalid value '10' for --priority: must be an integer 0..9\n"},
    {{"submit", "--queue", "q", "--type", "t", "--priority", "-1"},
     "orchctl: invalid value '-1' for --priority: must be an integer 0..9\n"},
    {{"submit", "--queue", "q", "--type", "t", "--priority=high"},
     "orchctl: invalid value 'high' for --priority: must be an integer 0..9\n"},
    {{"submit", "--queue", "q", "--type", "t", "--priority", "5x"},
     "orchctl: invalid value '5x' for --priority: must be an integer 0..9\n"},
    {{"submit", "--queue", "q", "--type", "t", "--priority", " 5"},
     "orchctl: invalid value ' 5' for --priority: must be an integer 0..9\n"},
    {{"submit", "--queue", "q", "--type", "t", "--max-attempts", "0"},
     "orchctl: invalid value '0' for --max-attempts: must be an integer 1..1000\n"},
    {{"submit", "--queue", "q", "--type", "t", "--timeout-ms", "2147483648"},
     "orchctl: invalid value '2147483648' for --timeout-ms: must be an integer 1..2147483647\n"},
    {{"submit", "--queue", "q", "--type", "t", "--payload", "{\"a\":"},
     "orchctl: invalid JSON in --payload at column 5: unexpected token near end of file\n"},
    {{"submit", "--queue", "q", "--type", "t", "--payload", "[1,2]"},
     "orchctl: --payload must be a JSON object\n"},
    {{"submit", "--queue", "q", "--type", "t", "--payload", "42"},
     "orchctl: --payload must be a JSON object\n"},
    {{"submit", "--batch", "-", "--queue", "q"},
     "orchctl: --batch cannot be combined with --queue\n"},
    {{"submit", "--batch", "/nonexistent/jobs.jsonl"},
     "orchctl: could not open batch file '/nonexistent/jobs.jsonl': No such file or directory\n"},
    {{"submit", "--batch", "-"}, "orchctl: batch on stdin holds no jobs\n"},
    {{"get"}, "orchctl: missing job id for 'get'\n"},
    {{"get", "abc"}, "orchctl: invalid job id 'abc': must be a positive integer\n"},
    {{"cancel", "0"}, "orchctl: invalid job id '0': must be a positive integer\n"},
    {{"retry", "9007199254740992"},
     "orchctl: invalid job id '9007199254740992': must be a positive integer\n"},
    {{"cancel", "-5"}, "orchctl: unknown flag '-5' for 'cancel'\n"},
    {{"pause"}, "orchctl: missing queue name for 'pause'\n"},
    {{"resume", "a,b"},
     "orchctl: invalid queue name 'a,b': must be 1..64 characters of A-Z a-z 0-9 _ . : -\n"},
    {{"list", "--state", "done"},
     "orchctl: invalid state 'done': must be one of waiting, scheduled, queued, running, "
     "succeeded, dead, cancelled\n"},
    {{"list", "--limit", "0"}, "orchctl: invalid value '0' for --limit: must be an integer 1..10000\n"},
    {{"list", "--limit", "10001"},
     "orchctl: invalid value '10001' for --limit: must be an integer 1..10000\n"},
    {{"list", "--queue", ""},
     "orchctl: invalid queue name '': must be 1..64 characters of A-Z a-z 0-9 _ . : -\n"},
    /* submit: scheduling flags */
    {{"submit", "--queue", "q", "--type", "t", "--run-at", "2026-11-22T10:00:00Z", "--delay",
      "5s"},
     "orchctl: --run-at and --delay cannot be combined\n"},
    {{"submit", "--queue", "q", "--type", "t", "--run-at", "tomorrow"},
     "orchctl: invalid value 'tomorrow' for --run-at: must be an ISO 8601 time such as "
     "2026-11-22T10:00:00Z (Z or an offset such as +02:00) or @<unix seconds>\n"},
    {{"submit", "--queue", "q", "--type", "t", "--run-at", "2026-11-22T10:00:00"},
     "orchctl: invalid value '2026-11-22T10:00:00' for --run-at: must be an ISO 8601 time such "
     "as 2026-11-22T10:00:00Z (Z or an offset such as +02:00) or @<unix seconds>\n"},
    {{"submit", "--queue", "q", "--type", "t", "--run-at", "@0"},
     "orchctl: invalid value '@0' for --run-at: must be an ISO 8601 time such as "
     "2026-11-22T10:00:00Z (Z or an offset such as +02:00) or @<unix seconds>\n"},
    {{"submit", "--queue", "q", "--type", "t", "--delay", "5x"},
     "orchctl: invalid value '5x' for --delay: must be a duration such as 250ms, 30s, 10m or "
     "1h\n"},
    {{"submit", "--queue", "q", "--type", "t", "--delay", "-5s"},
     "orchctl: invalid value '-5s' for --delay: must be a duration such as 250ms, 30s, 10m or "
     "1h\n"},
    {{"submit", "--queue", "q", "--type", "t", "--delay", "300000d"},
     "orchctl: invalid job: delay_ms: must be an integer 0..9007199254740\n"},
    {{"submit", "--queue", "q", "--type", "t", "--depends-on", "1,,2"},
     "orchctl: invalid value '1,,2' for --depends-on: must be job ids separated by commas, such "
     "as 101,102\n"},
    {{"submit", "--queue", "q", "--type", "t", "--depends-on", "7", "--depends-on", "-1"},
     "orchctl: invalid value '-1' for --depends-on: must be job ids separated by commas, such "
     "as 101,102\n"},
    {{"submit", "--queue", "q", "--type", "t", "--depends-on=0"},
     "orchctl: invalid value '0' for --depends-on: must be job ids separated by commas, such as "
     "101,102\n"},
    {{"submit", "--queue", "q", "--type", "t", "--depends-on", "5,"},
     "orchctl: invalid value '5,' for --depends-on: must be job ids separated by commas, such as "
     "101,102\n"},
    {{"submit", "--queue", "q", "--type", "t", "--idempotency-key="},
     "orchctl: invalid value '' for --idempotency-key: must be 1..255 bytes\n"},
    {{"submit", "--batch", "-", "--run-at", "@5"}, "orchctl: --batch cannot be combined with --run-at\n"},
    {{"submit", "--batch", "-", "--depends-on", "5"},
     "orchctl: --batch cannot be combined with --depends-on\n"},
    /* get --history */
    {{"get", "1", "--history=yes"}, "orchctl: --history takes no value\n"},
    {{"list", "--history"}, "orchctl: unknown flag '--history' for 'list'\n"},
    /* queues */
    {{"queues", "bogus"},
     "orchctl: unknown action 'bogus' for 'queues': must be list, downstreams, pause, resume, set or delete\n"},
    {{"queues", "pause"}, "orchctl: missing queue name for 'queues pause'\n"},
    {{"queues", "resume", "a b"},
     "orchctl: invalid queue name 'a b': must be 1..64 characters of A-Z a-z 0-9 _ . : -\n"},
    {{"queues", "list", "x"}, "orchctl: unexpected argument 'x' for 'queues list'\n"},
    {{"queues", "pause", "a", "b"}, "orchctl: unexpected argument 'b' for 'queues'\n"},
    {{"pause", "a", "b"}, "orchctl: unexpected argument 'b' for 'pause'\n"},
    /* schedules */
    {{"schedules", "bogus"},
     "orchctl: unknown action 'bogus' for 'schedules': must be list, add, remove, pause or "
     "resume\n"},
    {{"schedules", "list", "x"}, "orchctl: unexpected argument 'x' for 'schedules list'\n"},
    {{"schedules", "add"}, "orchctl: missing schedule name for 'schedules add'\n"},
    {{"schedules", "add", "bad name", "--cron", "@daily", "--queue", "q", "--type", "t"},
     "orchctl: invalid schedule name 'bad name': must be 1..64 characters of A-Z a-z 0-9 _ . : "
     "-\n"},
    {{"schedules", "add", "n", "--queue", "q", "--type", "t"},
     "orchctl: missing --cron for 'schedules add'\n"},
    {{"schedules", "add", "n", "--cron", "", "--queue", "q", "--type", "t"},
     "orchctl: invalid value '' for --cron: must not be empty\n"},
    {{"schedules", "add", "n", "--cron", "@daily", "--type", "t"},
     "orchctl: missing --queue for 'schedules add'\n"},
    {{"schedules", "add", "n", "--cron", "@daily", "--queue", "q"},
     "orchctl: missing --type for 'schedules add'\n"},
    {{"schedules", "add", "n", "--cron", "@daily", "--queue", "q/1", "--type", "t"},
     "orchctl: invalid queue name 'q/1': must be 1..64 characters of A-Z a-z 0-9 _ . : -\n"},
    {{"schedules", "add", "n", "--cron", "@daily", "--queue", "q", "--type", "t", "--priority",
      "10"},
     "orchctl: invalid value '10' for --priority: must be an integer 0..9\n"},
    {{"schedules", "add", "n", "--cron", "@daily", "--queue", "q", "--type", "t",
      "--max-attempts", "1001"},
     "orchctl: invalid value '1001' for --max-attempts: must be an integer 1..1000\n"},
    {{"schedules", "add", "n", "--cron", "@daily", "--queue", "q", "--type", "t", "--payload",
      "[]"},
     "orchctl: --payload must be a JSON object\n"},
    {{"schedules", "remove"}, "orchctl: missing schedule name for 'schedules remove'\n"},
    {{"schedules", "pause", "n", "--cron", "@daily"},
     "orchctl: --cron is only for 'schedules add'\n"},
    {{"schedules", "--queue", "q"}, "orchctl: --queue is only for 'schedules add'\n"},
    {{"schedules", "resume", "n", "extra"}, "orchctl: unexpected argument 'extra' for 'schedules'\n"},
    {{"schedules", "add", "n", "--timeout-ms", "5"},
     "orchctl: unknown flag '--timeout-ms' for 'schedules'\n"},
    /* watch */
    {{"watch", "--count", "0"},
     "orchctl: invalid value '0' for --count: must be an integer 1..2147483647\n"},
    {{"watch", "--for", "0"},
     "orchctl: invalid value '0' for --for: must be a positive duration such as 500ms, 10s or "
     "2m\n"},
    {{"watch", "--for", "soon"},
     "orchctl: invalid value 'soon' for --for: must be a positive duration such as 500ms, 10s or "
     "2m\n"},
    {{"watch", "--queue", "ok", "--queue", "not ok"},
     "orchctl: invalid queue name 'not ok': must be 1..64 characters of A-Z a-z 0-9 _ . : -\n"},
    {{"watch", "--events-endpoint="}, "orchctl: --events-endpoint must not be empty\n"},
    {{"watch", "--events-endpoint", "nowhere"},
     "orchctl: invalid events endpoint 'nowhere': expected tcp://HOST:PORT or ipc://PATH\n"},
    {{"--endpoint", "ipc:///tmp/orchctl-x.sock", "watch"},
     "orchctl: cannot derive the events endpoint from 'ipc:///tmp/orchctl-x.sock': use "
     "--events-endpoint or set ORCH_EVENTS_ENDPOINT\n"},
    {{"watch", "extra"}, "orchctl: unexpected argument 'extra' for 'watch'\n"},
};

static void test_usage_errors(void **state)
{
    (void)state;
    fake_t *f = fake_start(0, NULL);
    for (size_t i = 0; i < sizeof s_usage_cases / sizeof *s_usage_cases; i++) {
        const usage_case_t *c = &s_usage_cases[i];
        /* the endpoint flag comes first so it never hides the case's own flags */
        const char *args[16];
        size_t n = 0;
        bool own_endpoint = false;
        for (size_t k = 0; c->args[k]; k++)
            own_endpoint = own_endpoint || strncmp(c->args[k], "--endpoint", 10) == 0;
        for (size_t k = 0; c->args[k]; k++)
            args[n++] = c->args[k];
        args[n] = NULL;
        result_t r = run_v(own_endpoint ? NULL : f->endpoint, "\n\n", args);
        char expected[512];
        snprintf(expected, sizeof expected, "%ssee orchctl --help\n", c->message);
        if (r.rc != CTL_EXIT_USAGE || strcmp(r.err, expected) != 0)
            fail_msg("case %zu: rc %d, stderr \"%s\", expected \"%s\"", i, r.rc, r.err, expected);
        assert_string_equal(r.out, "");
        result_free(&r);
    }
    fake_halt(f);
    assert_int_equal(f->nreq, 0);
    fake_stop(&f);
}

static void test_payload_too_large(void **state)
{
    (void)state;
    size_t big = 1024 * 1024 + 16;
    char *payload = malloc(big + 16);
    strcpy(payload, "{\"s\":\"");
    memset(payload + 6, 'x', big);
    strcpy(payload + 6 + big, "\"}");
    result_t r = RUN("ipc:///nonexistent/orchctl.sock", NULL, "submit", "--queue", "q", "--type",
                     "t", "--payload", payload);
    assert_int_equal(r.rc, CTL_EXIT_USAGE);
    assert_contains(r.err, "orchctl: invalid job: payload: serialised size exceeds the limit of "
                           "1048576 bytes\n");
    result_free(&r);
    free(payload);
}

static void test_help(void **state)
{
    (void)state;
    const char *const *cases[] = {
        (const char *const[]){"--help", NULL},
        (const char *const[]){"-h", NULL},
        (const char *const[]){"help", NULL},
        (const char *const[]){"submit", "--help", NULL},
        /* --help ends parsing: what follows is not checked */
        (const char *const[]){"get", "--help", "--bogus", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        result_t r = run_v(NULL, NULL, cases[i]);
        assert_int_equal(r.rc, CTL_EXIT_OK);
        assert_contains(r.out, "usage: orchctl [global flags] COMMAND [flags]\n");
        assert_contains(r.out, "submit --batch FILE|-");
        assert_string_equal(r.err, "");
        result_free(&r);
    }
}

/* Output that could not be written is a failure, not a silent success. */
static void test_output_write_error(void **state)
{
    (void)state;
    FILE *full = fopen("/dev/full", "w");
    if (!full)
        skip();
    char *errtext = NULL;
    size_t errlen = 0;
    FILE *err = open_memstream(&errtext, &errlen);
    char *argv[] = {"orchctl", "--help", NULL};
    int rc = ctl_run(2, argv, stdin, full, err);
    fclose(err);
    fclose(full);
    assert_int_equal(rc, CTL_EXIT_ERROR);
    assert_string_equal(errtext, "orchctl: could not write the output: No space left on device\n");
    free(errtext);
}

/* ---------------------------------------------------------------------- */
/* requests: what goes on the wire                                         */

static void test_submit_single_request(void **state)
{
    (void)state;
    const char *replies[] = {"{\"status\":200,\"ids\":[101]}"};
    fake_t *f = fake_start(1, replies);
    /* global flags after the command, flag=value form */
    result_t r = RUN(NULL, NULL, "submit", "--queue", "default", "--type=embed", "--priority", "0",
                     "--payload", "{\"text\":\"car\",\"n\":[1,2]}", "--max-attempts", "3",
                     "--timeout-ms", "60000", "--endpoint", f->endpoint, "--timeout", "5s");
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_string_equal(r.out, "101\n");
    assert_string_equal(r.err, "");
    fake_halt(f);
    assert_int_equal(f->nreq, 1);
    assert_int_equal(f->bad_frames, 0);
    assert_string_equal(f->cmd[0], "SUBMIT");
    assert_json_equal_text(f->body[0],
                           "{\"jobs\":[{\"queue\":\"default\",\"type\":\"embed\",\"priority\":0,"
                           "\"max_attempts\":3,\"timeout_ms\":60000,"
                           "\"payload\":{\"text\":\"car\",\"n\":[1,2]}}]}");
    result_free(&r);
    fake_stop(&f);
}

static void test_submit_minimal_request(void **state)
{
    (void)state;
    const char *replies[] = {"{\"status\":200,\"ids\":[7]}"};
    fake_t *f = fake_start(1, replies);
    result_t r = RUN(f->endpoint, NULL, "--json", "submit", "--queue", "q", "--type", "noop");
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_string_equal(r.out, "{\"ids\":[7]}\n");
    fake_halt(f);
    assert_json_equal_text(f->body[0], "{\"jobs\":[{\"queue\":\"q\",\"type\":\"noop\"}]}");
    result_free(&r);
    fake_stop(&f);
}

static void test_endpoint_from_environment(void **state)
{
    (void)state;
    const char *replies[] = {"{\"status\":200,\"queues\":{}}"};
    fake_t *f = fake_start(1, replies);
    setenv(CTL_ENDPOINT_ENV, f->endpoint, 1);
    result_t r = RUN(NULL, NULL, "stats");
    unsetenv(CTL_ENDPOINT_ENV);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    fake_halt(f);
    assert_int_equal(f->nreq, 1);
    assert_string_equal(f->cmd[0], "STATS");
    assert_json_equal_text(f->body[0], "{}");
    result_free(&r);
    fake_stop(&f);
}

static void test_requests_per_command(void **state)
{
    (void)state;
    const char *replies[] = {
        "{\"status\":200,\"job\":{\"id\":42}}",
        "{\"status\":200,\"jobs\":[]}",
        "{\"status\":200,\"jobs\":[]}",
        "{\"status\":200,\"state\":\"cancelled\"}",
        "{\"status\":200,\"state\":\"queued\"}",
        "{\"status\":200}",
        "{\"status\":200}",
        "{\"status\":200,\"workers\":[]}",
    };
    fake_t *f = fake_start(8, replies);
    const char *const *cases[] = {
        (const char *const[]){"get", "42", NULL},
        (const char *const[]){"list", NULL},
        (const char *const[]){"list", "--state", "dead", "--queue", "bulk", "--limit", "5", NULL},
        (const char *const[]){"cancel", "43", NULL},
        (const char *const[]){"retry", "44", NULL},
        (const char *const[]){"pause", "default", NULL},
        (const char *const[]){"resume", "default", NULL},
        (const char *const[]){"workers", NULL},
    };
    const char *cmds[] = {"GET", "LIST", "LIST", "CANCEL", "RETRY", "PAUSE", "RESUME", "WORKERS"};
    const char *bodies[] = {
        "{\"id\":42}",   "{}", "{\"state\":\"dead\",\"queue\":\"bulk\",\"limit\":5}",
        "{\"id\":43}",   "{\"id\":44}", "{\"queue\":\"default\"}", "{\"queue\":\"default\"}",
        "{}",
    };
    for (size_t i = 0; i < 8; i++) {
        result_t r = run_v(f->endpoint, NULL, cases[i]);
        if (r.rc != CTL_EXIT_OK)
            fail_msg("case %zu: rc %d stderr %s", i, r.rc, r.err);
        result_free(&r);
    }
    fake_halt(f);
    assert_int_equal(f->nreq, 8);
    assert_int_equal(f->bad_frames, 0);
    for (size_t i = 0; i < 8; i++) {
        assert_string_equal(f->cmd[i], cmds[i]);
        assert_json_equal_text(f->body[i], bodies[i]);
    }
    fake_stop(&f);
}

/* ---------------------------------------------------------------------- */
/* batch files                                                             */

static void test_batch_file_one_request(void **state)
{
    (void)state;
    const char *replies[] = {FAKE_IDS};
    fake_t *f = fake_start(1, replies);
    char *path = write_temp("{\"queue\":\"q\",\"type\":\"embed\",\"payload\":{\"id\":1}}\n"
                            "\n"
                            "   \t\n"
                            "{\"queue\":\"q\",\"type\":\"index\",\"priority\":1,\"max_attempts\":2}\r\n"
                            "{\"queue\":\"r\",\"type\":\"noop\",\"timeout_ms\":5}");
    result_t r = RUN(f->endpoint, NULL, "submit", "--batch", path);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_string_equal(r.out, "1\n2\n3\n");
    assert_string_equal(r.err, "");
    fake_halt(f);
    assert_int_equal(f->nreq, 1);
    assert_string_equal(f->cmd[0], "SUBMIT");
    assert_json_equal_text(f->body[0],
                           "{\"jobs\":[{\"queue\":\"q\",\"type\":\"embed\",\"payload\":{\"id\":1}},"
                           "{\"queue\":\"q\",\"type\":\"index\",\"priority\":1,\"max_attempts\":2},"
                           "{\"queue\":\"r\",\"type\":\"noop\",\"timeout_ms\":5}]}");
    result_free(&r);
    unlink(path);
    free(path);
    fake_stop(&f);
}

static void test_batch_stdin_json(void **state)
{
    (void)state;
    const char *replies[] = {FAKE_IDS};
    fake_t *f = fake_start(1, replies);
    result_t r = RUN(f->endpoint, "{\"queue\":\"q\",\"type\":\"t\"}\n{\"queue\":\"q\",\"type\":\"t\"}\n",
                     "submit", "--batch", "-", "--json");
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_string_equal(r.out, "{\"ids\":[1,2]}\n");
    fake_halt(f);
    assert_int_equal(f->nreq, 1);
    result_free(&r);
    fake_stop(&f);
}

typedef struct {
    const char *content;
    const char *message; /* after "orchctl: batch file '<path>' " */
} batch_case_t;

static const batch_case_t s_batch_cases[] = {
    {"{\"queue\":\"q\",\"type\":\"t\"}\n\n{\"queue\":\"q\",\"type\":\"t\"\n",
     "line 3: invalid JSON at column 23: '}' expected near end of file"},
    {"{\"queue\":\"q\",\"type\":\"t\"}\n\n\n[1,2]\n", "line 4: not a JSON object"},
    {"\n{\"queue\":\"q\",\"type\":\"t\",\"priority\":12}\n",
     "line 2: priority: must be an integer 0..9"},
    {"{\"queue\":\"q q\",\"type\":\"t\"}\n", "line 1: queue: "},
    {"{\"type\":\"t\"}\n", "line 1: queue: "},
    {"{\"queue\":\"q\",\"type\":\"t\",\"payload\":[]}\n", "line 1: payload: must be a json object"},
    {"{\"queue\":\"q\",\"type\":\"t\",\"colour\":\"red\"}\n", "line 1: "},
    {"{\"queue\":\"q\",\"type\":\"t\",\"queue\":\"r\"}\n", "line 1: invalid JSON at column"},
    {"{\"queue\":\"q\",\"type\":\"t\"} {}\n", "line 1: invalid JSON at column"},
    {"{\"queue\":\"q\",\"type\":\"t\"}\n{\"queue\":\"q\",\"type\":\"t\",\"depends_on\":[-3]}\n",
     "line 2: depends_on[0]: refers to job 3 of a batch of 2"},
    {"{\"queue\":\"q\",\"type\":\"t\",\"depends_on\":[-1]}\n",
     "line 1: depends_on[0]: a job cannot depend on itself"},
    {"\n\n", "holds no jobs"},
    {"", "holds no jobs"},
};

static void test_batch_file_errors(void **state)
{
    (void)state;
    fake_t *f = fake_start(0, NULL);
    for (size_t i = 0; i < sizeof s_batch_cases / sizeof *s_batch_cases; i++) {
        char *path = write_temp(s_batch_cases[i].content);
        result_t r = RUN(f->endpoint, NULL, "submit", "--batch", path);
        char expected[512];
        snprintf(expected, sizeof expected, "orchctl: batch file '%s' %s", path,
                 s_batch_cases[i].message);
        if (r.rc != CTL_EXIT_USAGE || strncmp(r.err, expected, strlen(expected)) != 0)
            fail_msg("case %zu: rc %d, stderr \"%s\", expected \"%s...\"", i, r.rc, r.err,
                     expected);
        assert_contains(r.err, "\nsee orchctl --help\n");
        /* one line, then the hint */
        assert_ptr_equal(strchr(r.err, '\n'), strstr(r.err, "\nsee orchctl --help\n"));
        assert_string_equal(r.out, "");
        result_free(&r);
        unlink(path);
        free(path);
    }
    fake_wait_requests(f, 0);
    fake_halt(f);
    assert_int_equal(f->nreq, 0); /* nothing was sent for any bad batch */
    fake_stop(&f);
}

static void test_batch_stdin_line_number(void **state)
{
    (void)state;
    result_t r = RUN("ipc:///nonexistent/orchctl.sock",
                     "{\"queue\":\"q\",\"type\":\"t\"}\n{\"queue\":\"q\",\"type\":\"t\",\"max_attempts\":0}\n",
                     "submit", "--batch", "-");
    assert_int_equal(r.rc, CTL_EXIT_USAGE);
    assert_string_equal(r.err, "orchctl: batch on stdin line 2: max_attempts: must be an integer "
                               "1..1000\nsee orchctl --help\n");
    result_free(&r);
}

/* 25,001 jobs go in three requests of 10,000, 10,000 and 5,001, in order. */
static void test_batch_split_by_count(void **state)
{
    (void)state;
    const char *replies[] = {FAKE_IDS, FAKE_IDS, FAKE_IDS};
    fake_t *f = fake_start(3, replies);
    strbuf_t in;
    strbuf_init(&in);
    for (int i = 0; i < 25001; i++)
        strbuf_printf(&in, "{\"queue\":\"q\",\"type\":\"t\",\"payload\":{\"n\":%d}}\n", i);
    result_t r = RUN(f->endpoint, in.data, "submit", "--batch", "-");
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_string_equal(r.err, "");
    fake_halt(f);
    assert_int_equal(f->nreq, 3);
    size_t sizes[] = {10000, 10000, 5001};
    int n = 0;
    for (size_t k = 0; k < 3; k++) {
        const json_t *jobs = json_object_get(f->body[k], "jobs");
        assert_int_equal(json_array_size(jobs), sizes[k]);
        for (size_t j = 0; j < sizes[k]; j++, n++) {
            const json_t *p = json_object_get(json_array_get(jobs, j), "payload");
            assert_int_equal(json_integer_value(json_object_get(p, "n")), n);
        }
    }
    /* ids in input order, one per line */
    strbuf_t want;
    strbuf_init(&want);
    for (int i = 1; i <= 25001; i++)
        strbuf_printf(&want, "%d\n", i);
    assert_string_equal(r.out, want.data);
    strbuf_fini(&want);
    strbuf_fini(&in);
    result_free(&r);
    fake_stop(&f);
}

/* The second of two requests is refused: the first one's ids were printed,
 * the exit code says it failed, and the line of the refused job is named. */
static void test_batch_partial_failure(void **state)
{
    (void)state;
    const char *replies[] = {
        FAKE_IDS,
        "{\"status\":400,\"error\":\"jobs[1].type: no handler serves this type\"}",
    };
    fake_t *f = fake_start(2, replies);
    strbuf_t in;
    strbuf_init(&in);
    for (int i = 0; i < 10002; i++)
        strbuf_printf(&in, "{\"queue\":\"q\",\"type\":\"t\"}\n%s", i == 0 ? "\n" : "");
    result_t r = RUN(f->endpoint, in.data, "submit", "--batch", "-");
    assert_int_equal(r.rc, CTL_EXIT_ERROR);
    fake_halt(f);
    assert_int_equal(f->nreq, 2);
    /* job 10002 of the input (index 1 of the second request) is on line 10003 */
    assert_string_equal(r.err, "orchctl: jobs[1].type: no handler serves this type (status 400); "
                               "jobs[1] is line 10003 of the batch\n");
    size_t lines = 0;
    for (const char *p = r.out; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 10000);
    strbuf_fini(&in);
    result_free(&r);
    fake_stop(&f);
}

static ctl_batch_t *batch_from(const proto_limits_t *lim, const char *text)
{
    ctl_batch_t *b = ctl_batch_new(lim);
    FILE *in = fmemopen((void *)text, strlen(text), "r");
    char err[256] = "";
    int rc = ctl_batch_read(b, in, "batch", err, sizeof err);
    fclose(in);
    if (rc != 0)
        fail_msg("ctl_batch_read: %s", err);
    return b;
}

/* In-batch references count jobs of the whole input; a request that does
 * not start at the first job gets them renumbered. */
static void test_batch_refs_renumbered(void **state)
{
    (void)state;
    proto_limits_t lim;
    proto_limits_default(&lim);
    lim.max_batch_jobs = 2;
    ctl_batch_t *b = batch_from(&lim, "{\"queue\":\"q\",\"type\":\"a\"}\n"
                                      "{\"queue\":\"q\",\"type\":\"b\",\"depends_on\":[-1,7]}\n"
                                      "\n"
                                      "{\"queue\":\"q\",\"type\":\"c\"}\n"
                                      "{\"queue\":\"q\",\"type\":\"d\",\"depends_on\":[-3,9]}\n");
    assert_int_equal(ctl_batch_count(b), 4);
    assert_int_equal(ctl_batch_line(b, 2), 4);
    strbuf_t body;
    strbuf_init(&body);
    assert_int_equal(ctl_batch_body(b, 0, &body), 2);
    assert_string_equal(body.data, "{\"jobs\":[{\"queue\":\"q\",\"type\":\"a\"},"
                                   "{\"queue\":\"q\",\"type\":\"b\",\"depends_on\":[-1,7]}]}");
    assert_int_equal(ctl_batch_body(b, 2, &body), 2);
    assert_string_equal(body.data, "{\"jobs\":[{\"queue\":\"q\",\"type\":\"c\"},"
                                   "{\"queue\":\"q\",\"type\":\"d\",\"depends_on\":[-1,9]}]}");
    assert_int_equal(ctl_batch_body(b, 4, &body), 0);
    strbuf_fini(&body);
    ctl_batch_destroy(&b);
    assert_null(b);
}

static void test_batch_ref_across_requests(void **state)
{
    (void)state;
    proto_limits_t lim;
    proto_limits_default(&lim);
    lim.max_batch_jobs = 2;
    const char *text = "{\"queue\":\"q\",\"type\":\"a\"}\n"
                       "{\"queue\":\"q\",\"type\":\"b\"}\n"
                       "{\"queue\":\"q\",\"type\":\"c\",\"depends_on\":[-1]}\n";
    ctl_batch_t *b = ctl_batch_new(&lim);
    FILE *in = fmemopen((void *)text, strlen(text), "r");
    char err[256] = "";
    assert_int_equal(ctl_batch_read(b, in, "batch file 'x'", err, sizeof err), ORCH_EINVAL);
    fclose(in);
    assert_string_equal(err, "batch file 'x' line 3: depends_on[0]: job 1 goes in another "
                             "request (one request holds jobs 3..3 of this batch)");
    assert_int_equal(ctl_batch_count(b), 0); /* all or nothing */
    ctl_batch_destroy(&b);
}

static void test_batch_split_by_size(void **state)
{
    (void)state;
    proto_limits_t lim;
    proto_limits_default(&lim);
    /* {"jobs":[ + 2 jobs of 24 bytes + comma + ]} = 60 bytes */
    lim.max_body_bytes = 60;
    ctl_batch_t *b = batch_from(&lim, "{\"queue\":\"q\",\"type\":\"a\"}\n"
                                      "{\"queue\":\"q\",\"type\":\"b\"}\n"
                                      "{\"queue\":\"q\",\"type\":\"c\"}\n");
    strbuf_t body;
    strbuf_init(&body);
    assert_int_equal(ctl_batch_body(b, 0, &body), 2);
    assert_int_equal(body.len, 60);
    assert_int_equal(ctl_batch_body(b, 2, &body), 1);
    assert_string_equal(body.data, "{\"jobs\":[{\"queue\":\"q\",\"type\":\"c\"}]}");
    strbuf_fini(&body);
    ctl_batch_destroy(&b);
}

/* ---------------------------------------------------------------------- */
/* output                                                                  */

static const char s_job_json[] =
    "{\"id\":101,\"queue\":\"default\",\"type\":\"embed\",\"priority\":5,\"state\":\"dead\","
    "\"attempt\":3,\"max_attempts\":3,\"payload\":{\"text\":\"car\"},\"result\":null,"
    "\"error\":\"connection refused\\nretry later\",\"worker\":\"host-1\",\"progress\":null,"
    "\"timeout_ms\":300000,\"created_at\":\"2024-05-01T12:00:00Z\","
    "\"started_at\":\"2024-05-01T12:00:01Z\",\"finished_at\":null,\"extra\":true}";

/* Runs one command against a fake that answers reply once. */
static result_t run_with_reply(const char *reply, const char *const *args)
{
    const char *replies[] = {reply};
    fake_t *f = fake_start(1, replies);
    result_t r = run_v(f->endpoint, NULL, args);
    fake_stop(&f);
    return r;
}

static void test_get_output(void **state)
{
    (void)state;
    char reply[1024];
    snprintf(reply, sizeof reply, "{\"status\":200,\"job\":%s}", s_job_json);
    result_t r = run_with_reply(reply, (const char *const[]){"get", "101", NULL});
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_string_equal(r.out, "id: 101\n"
                               "queue: default\n"
                               "type: embed\n"
                               "priority: 5\n"
                               "state: dead\n"
                               "attempt: 3\n"
                               "max_attempts: 3\n"
                               "payload: {\"text\":\"car\"}\n"
                               "result: -\n"
                               "error: connection refused\\nretry later\n"
                               "worker: host-1\n"
                               "progress: -\n"
                               "timeout_ms: 300000\n"
                               "idempotency_key: -\n"
                               "depends_on: -\n"
                               "run_at: -\n"
                               "created_at: 2024-05-01T12:00:00Z\n"
                               "started_at: 2024-05-01T12:00:01Z\n"
                               "finished_at: -\n"
                               "updated_at: -\n"
                               "extra: true\n");
    result_free(&r);

    r = run_with_reply(reply, (const char *const[]){"get", "101", "--json", NULL});
    assert_int_equal(r.rc, CTL_EXIT_OK);
    char want[1024];
    snprintf(want, sizeof want, "%s\n", s_job_json);
    assert_string_equal(r.out, want);
    result_free(&r);
}

static void test_list_output(void **state)
{
    (void)state;
    const char *reply =
        "{\"status\":200,\"jobs\":["
        "{\"id\":1002,\"queue\":\"bulk\",\"type\":\"index\",\"priority\":9,\"state\":\"dead\","
        "\"attempt\":5,\"max_attempts\":5,\"created_at\":\"2024-05-01T12:00:02Z\","
        "\"error\":\"meilisearch answered 400: invalid document id \\u001b[31m and more text\"},"
        "{\"id\":7,\"queue\":\"default\",\"type\":\"embed\",\"priority\":0,\"state\":\"queued\","
        "\"attempt\":0,\"max_attempts\":3,\"created_at\":\"2024-05-01T12:00:01Z\","
        "\"error\":null}]}";
    result_t r = run_with_reply(reply, (const char *const[]){"list", NULL});
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_string_equal(
        r.out,
        "  ID  QUEUE    TYPE   PRIO  STATE   ATTEMPT  CREATED               ERROR\n"
        "1002  bulk     index     9  dead        5/5  2024-05-01T12:00:02Z  "
        "meilisearch answered 400: invalid doc...\n"
        "   7  default  embed     0  queued      0/3  2024-05-01T12:00:01Z  -\n");
    result_free(&r);

    r = run_with_reply("{\"status\":200,\"jobs\":[]}", (const char *const[]){"list", NULL});
    assert_string_equal(r.out, "ID  QUEUE  TYPE  PRIO  STATE  ATTEMPT  CREATED  ERROR\n");
    result_free(&r);

    r = run_with_reply("{\"status\":200,\"jobs\":[{\"id\":7}]}",
                       (const char *const[]){"--json", "list", NULL});
    assert_string_equal(r.out, "[{\"id\":7}]\n");
    result_free(&r);
}

static void test_stats_output(void **state)
{
    (void)state;
    const char *reply =
        "{\"status\":200,\"queues\":{"
        "\"default\":{\"queued\":3,\"running\":1,\"succeeded\":10,\"dead\":0,\"scheduled\":0,"
        "\"waiting\":0,\"cancelled\":0,\"paused\":false},"
        "\"bulk\":{\"queued\":120000,\"running\":12,\"succeeded\":5,\"dead\":2,\"scheduled\":1,"
        "\"waiting\":4,\"cancelled\":6,\"paused\":true}}}";
    result_t r = run_with_reply(reply, (const char *const[]){"stats", NULL});
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_string_equal(r.out,
                        "QUEUE    PAUSED  WAITING  SCHEDULED  QUEUED  RUNNING  SUCCEEDED  DEAD  "
                        "CANCELLED\n"
                        "bulk     yes           4          1  120000       12          5     2  "
                        "        6\n"
                        "default  no            0          0       3        1         10     0  "
                        "        0\n");
    result_free(&r);

    r = run_with_reply(reply, (const char *const[]){"stats", "--json", NULL});
    json_t *got = json_loads(r.out, 0, NULL);
    json_t *full = json_loads(reply, 0, NULL);
    assert_non_null(got);
    assert_true(json_equal(got, json_object_get(full, "queues")));
    assert_non_null(strchr(r.out, '\n'));
    assert_string_equal(strchr(r.out, '\n'), "\n"); /* one line */
    json_decref(got);
    json_decref(full);
    result_free(&r);
}

static void test_workers_output(void **state)
{
    (void)state;
    const char *reply =
        "{\"status\":200,\"workers\":["
        "{\"name\":\"host-1234\",\"queues\":[\"default\",\"bulk\"],\"types\":[\"embed\"],"
        "\"slots\":4,\"running\":2,\"connected_at_us\":1714564800000000,"
        "\"last_seen_us\":1714564861500000,\"draining\":false},"
        "{\"name\":\"w2\",\"queues\":[\"q\"],\"types\":[\"noop\",\"sleep\"],"
        "\"slots\":16,\"running\":[{\"id\":1,\"attempt\":1}],\"connected_at_us\":0,"
        "\"last_seen_us\":null,\"draining\":true}]}";
    result_t r = run_with_reply(reply, (const char *const[]){"workers", NULL});
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_string_equal(r.out,
                        "NAME       SLOTS  RUNNING  DRAINING  QUEUES        TYPES       "
                        "CONNECTED             LAST_SEEN\n"
                        "host-1234      4        2  no        default,bulk  embed       "
                        "2024-05-01T12:00:00Z  2024-05-01T12:01:01Z\n"
                        "w2            16        1  yes       q             noop,sleep  "
                        "1970-01-01T00:00:00Z  -\n");
    result_free(&r);

    r = run_with_reply(reply, (const char *const[]){"workers", "--json", NULL});
    json_t *got = json_loads(r.out, 0, NULL);
    json_t *full = json_loads(reply, 0, NULL);
    assert_true(json_equal(got, json_object_get(full, "workers")));
    json_decref(got);
    json_decref(full);
    result_free(&r);
}

static void s_utc(int64_t us, char *buf, size_t len)
{
    time_t secs = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A coordinator that sends idle_ms instead of last_seen_us: the last
 * contact is now minus idle, shown like any other time. */
static void test_workers_idle_ms(void **state)
{
    (void)state;
    json_t *workers = json_loads("[{\"name\":\"w\",\"queues\":[],\"types\":[\"t\"],\"slots\":1,"
                                 "\"running\":0,\"connected_at_us\":0,\"idle_ms\":86400000,"
                                 "\"draining\":false}]",
                                 0, NULL);
    assert_non_null(workers);
    char *text = NULL;
    size_t len = 0;
    int64_t before = clock_real_us() - INT64_C(86400000) * 1000;
    FILE *out = open_memstream(&text, &len);
    ctl_format_workers(out, workers);
    fclose(out);
    int64_t after = clock_real_us() - INT64_C(86400000) * 1000;
    char t0[32], t1[32], row0[160], row1[160];
    s_utc(before, t0, sizeof t0);
    s_utc(after, t1, sizeof t1);
    snprintf(row0, sizeof row0, "w         1        0  no        -       t      1970-01-01T00:00:00Z  %s\n", t0);
    snprintf(row1, sizeof row1, "w         1        0  no        -       t      1970-01-01T00:00:00Z  %s\n", t1);
    const char *row = strchr(text, '\n') + 1;
    if (strcmp(row, row0) != 0 && strcmp(row, row1) != 0)
        fail_msg("got \"%s\", expected \"%s\"", row, row0);
    free(text);
    json_decref(workers);
}

static void test_action_output(void **state)
{
    (void)state;
    const char *cancelled = "{\"status\":200,\"state\":\"cancelled\"}";
    const char *running = "{\"status\":200,\"state\":\"running\",\"cancel_requested\":true}";
    result_t r = run_with_reply(cancelled, (const char *const[]){"cancel", "5", NULL});
    assert_string_equal(r.out, "job 5: cancelled\n");
    result_free(&r);
    r = run_with_reply(running, (const char *const[]){"cancel", "6", NULL});
    assert_string_equal(r.out, "job 6: cancel requested (running)\n");
    result_free(&r);
    r = run_with_reply(running, (const char *const[]){"cancel", "6", "--json", NULL});
    assert_string_equal(r.out, "{\"state\":\"running\",\"cancel_requested\":true}\n");
    result_free(&r);
    r = run_with_reply("{\"status\":200,\"state\":\"queued\"}",
                       (const char *const[]){"retry", "7", NULL});
    assert_string_equal(r.out, "job 7: queued\n");
    result_free(&r);
    r = run_with_reply("{\"status\":200}", (const char *const[]){"pause", "bulk", NULL});
    assert_string_equal(r.out, "queue bulk: paused\n");
    result_free(&r);
    r = run_with_reply("{\"status\":200}", (const char *const[]){"resume", "bulk", NULL});
    assert_string_equal(r.out, "queue bulk: resumed\n");
    result_free(&r);
    r = run_with_reply("{\"status\":200}", (const char *const[]){"--json", "pause", "bulk", NULL});
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_string_equal(r.out, "{}\n");
    result_free(&r);
}

static void test_format_value(void **state)
{
    (void)state;
    json_t *v = json_string("a\tb\x01z\xc3\xa9");
    char *text = ctl_format_value(v);
    assert_string_equal(text, "a\\tb\\x01z\xc3\xa9");
    free(text);
    json_decref(v);
    text = ctl_format_value(NULL);
    assert_string_equal(text, "-");
    free(text);
    v = json_real(0.5);
    text = ctl_format_value(v);
    assert_string_equal(text, "0.5");
    free(text);
    json_decref(v);
}

/* ---------------------------------------------------------------------- */
/* errors from or about the coordinator: exit 1                            */

static void test_server_error(void **state)
{
    (void)state;
    result_t r = run_with_reply("{\"status\":404,\"error\":\"no such job 101\"}",
                                (const char *const[]){"get", "101", NULL});
    assert_int_equal(r.rc, CTL_EXIT_ERROR);
    assert_string_equal(r.err, "orchctl: no such job 101 (status 404)\n");
    assert_string_equal(r.out, "");
    result_free(&r);

    r = run_with_reply("{\"status\":409,\"error\":\"job 9 is succeeded\"}",
                       (const char *const[]){"--json", "retry", "9", NULL});
    assert_int_equal(r.rc, CTL_EXIT_ERROR);
    assert_string_equal(r.err, "orchctl: job 9 is succeeded (status 409)\n");
    assert_string_equal(r.out, "");
    result_free(&r);

    r = run_with_reply("{\"status\":503}", (const char *const[]){"stats", NULL});
    assert_int_equal(r.rc, CTL_EXIT_ERROR);
    assert_string_equal(r.err, "orchctl: request failed (status 503)\n");
    result_free(&r);
}

static void test_malformed_reply(void **state)
{
    (void)state;
    result_t r = run_with_reply("{\"ok\":true}", (const char *const[]){"stats", NULL});
    assert_int_equal(r.rc, CTL_EXIT_ERROR);
    assert_string_equal(r.err, "orchctl: malformed reply from coordinator: no integer \"status\"\n");
    result_free(&r);

    r = run_with_reply("{\"status\":200}", (const char *const[]){"get", "1", NULL});
    assert_int_equal(r.rc, CTL_EXIT_ERROR);
    assert_string_equal(r.err, "orchctl: malformed reply from coordinator: no \"job\" object\n");
    result_free(&r);

    r = run_with_reply("{\"status\":200,\"ids\":[1,2]}",
                       (const char *const[]){"submit", "--queue", "q", "--type", "t", NULL});
    assert_int_equal(r.rc, CTL_EXIT_ERROR);
    assert_string_equal(r.err, "orchctl: malformed reply from coordinator: 2 ids for 1 jobs\n");
    result_free(&r);

    r = run_with_reply("not json", (const char *const[]){"stats", NULL});
    assert_int_equal(r.rc, CTL_EXIT_ERROR);
    assert_contains(r.err, "orchctl: malformed reply from coordinator: body is not valid json");
    result_free(&r);

    r = run_with_reply(FAKE_BAD_PROTO, (const char *const[]){"stats", NULL});
    assert_int_equal(r.rc, CTL_EXIT_ERROR);
    assert_contains(r.err, "orchctl: malformed reply from coordinator: unknown protocol");
    result_free(&r);
}

/* Nobody listens: the request waits in zeromq's queue and the reply never
 * comes; the wait ends at the timeout. */
static void test_timeout_nobody_listening(void **state)
{
    (void)state;
    char endpoint[128];
    snprintf(endpoint, sizeof endpoint, "ipc:///tmp/orchctl-test-%d-nobody.sock", (int)getpid());
    result_t r = RUN(endpoint, NULL, "--timeout", "200ms", "stats");
    assert_int_equal(r.rc, CTL_EXIT_ERROR);
    char want[256];
    snprintf(want, sizeof want, "orchctl: could not reach coordinator at %s: no reply within 200ms\n",
             endpoint);
    assert_string_equal(r.err, want);
    assert_string_equal(r.out, "");
    result_free(&r);
}

/* Somebody listens but never answers. */
static void test_timeout_no_answer(void **state)
{
    (void)state;
    const char *replies[] = {FAKE_SILENT};
    fake_t *f = fake_start(1, replies);
    result_t r = RUN(f->endpoint, NULL, "list", "--timeout=1s");
    assert_int_equal(r.rc, CTL_EXIT_ERROR);
    char want[256];
    snprintf(want, sizeof want, "orchctl: could not reach coordinator at %s: no reply within 1s\n",
             f->endpoint);
    assert_string_equal(r.err, want);
    fake_wait_requests(f, 1);
    fake_stop(&f);
    result_free(&r);
}

/* ---------------------------------------------------------------------- */
/* scheduling: submit flags, existing jobs, history, queues, schedules     */

/* Runs one command against a fake answering reply; returns the fake
 * halted, for the caller to read what was sent and then stop. */
static fake_t *run_recorded(const char *reply, const char *const *args, result_t *r)
{
    const char *replies[] = {reply};
    fake_t *f = fake_start(1, replies);
    *r = run_v(f->endpoint, NULL, args);
    fake_halt(f);
    return f;
}

typedef struct {
    const char *args[12];
    const char *body; /* exact bytes of the SUBMIT body */
} submit_case_t;

static const submit_case_t s_submit_cases[] = {
    {{"--run-at", "2026-11-22T10:00:00Z"},
     "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"run_at_us\":1795341600000000}]}"},
    {{"--run-at", "2026-11-22T12:00:00.25+02:00"},
     "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"run_at_us\":1795341600250000}]}"},
    {{"--run-at=@1795341600"},
     "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"run_at_us\":1795341600000000}]}"},
    {{"--delay", "30s"}, "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"delay_ms\":30000}]}"},
    {{"--delay", "10m"}, "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"delay_ms\":600000}]}"},
    {{"--delay", "1h"}, "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"delay_ms\":3600000}]}"},
    {{"--delay", "250ms"}, "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"delay_ms\":250}]}"},
    {{"--delay", "0"}, "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"delay_ms\":0}]}"},
    {{"--depends-on", "101"}, "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"depends_on\":[101]}]}"},
    /* repeated: the ids add up in order */
    {{"--depends-on", "5,6", "--depends-on=7"},
     "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"depends_on\":[5,6,7]}]}"},
    {{"--idempotency-key", "order-17 \xc3\xa9"},
     "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"idempotency_key\":\"order-17 \xc3\xa9\"}]}"},
    /* everything at once, in the documented order */
    {{"--idempotency-key", "k", "--depends-on", "9", "--priority", "1", "--delay", "1s",
      "--payload", "{\"a\":1}"},
     "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"priority\":1,\"payload\":{\"a\":1},"
     "\"delay_ms\":1000,\"depends_on\":[9],\"idempotency_key\":\"k\"}]}"},
};

static void test_submit_scheduling_requests(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_submit_cases / sizeof *s_submit_cases; i++) {
        const char *args[16] = {"submit", "--queue", "q", "--type", "t"};
        size_t n = 5;
        for (size_t k = 0; s_submit_cases[i].args[k]; k++)
            args[n++] = s_submit_cases[i].args[k];
        args[n] = NULL;
        result_t r;
        fake_t *f = run_recorded("{\"status\":200,\"ids\":[11]}", args, &r);
        if (r.rc != CTL_EXIT_OK || f->nreq != 1)
            fail_msg("case %zu: rc %d, %zu requests, stderr %s", i, r.rc, (size_t)f->nreq, r.err);
        assert_string_equal(f->cmd[0], "SUBMIT");
        if (strcmp(f->raw[0], s_submit_cases[i].body) != 0)
            fail_msg("case %zu: sent %s, expected %s", i, f->raw[0], s_submit_cases[i].body);
        assert_string_equal(r.out, "11\n");
        result_free(&r);
        fake_stop(&f);
    }
}

/* A batch passes the scheduling fields as they are, in-batch references
 * included. */
static void test_batch_scheduling_fields(void **state)
{
    (void)state;
    const char *lines =
        "{\"queue\":\"q\",\"type\":\"a\",\"run_at_us\":1795341600000000,\"idempotency_key\":\"x\"}\n"
        "{\"queue\":\"q\",\"type\":\"b\",\"delay_ms\":5000,\"depends_on\":[-1,42]}\n";
    const char *replies[] = {FAKE_IDS};
    fake_t *f = fake_start(1, replies);
    result_t r = RUN(f->endpoint, lines, "submit", "--batch", "-");
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_string_equal(r.out, "1\n2\n");
    fake_halt(f);
    assert_int_equal(f->nreq, 1);
    assert_string_equal(f->raw[0],
                        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"a\",\"run_at_us\":1795341600000000,"
                        "\"idempotency_key\":\"x\"},{\"queue\":\"q\",\"type\":\"b\","
                        "\"delay_ms\":5000,\"depends_on\":[-1,42]}]}");
    result_free(&r);
    fake_stop(&f);

    /* both times on one line: refused locally with the protocol's words */
    r = RUN("ipc:///nonexistent/orchctl.sock",
            "{\"queue\":\"q\",\"type\":\"a\",\"run_at_us\":5,\"delay_ms\":5}\n", "submit",
            "--batch", "-");
    assert_int_equal(r.rc, CTL_EXIT_USAGE);
    assert_contains(r.err, "batch on stdin line 1: ");
    assert_contains(r.err, "run_at_us and delay_ms cannot both be set");
    result_free(&r);
}

/* An idempotency hit: the reply's "existing" marks ids that were found,
 * not created. */
static void test_submit_existing(void **state)
{
    (void)state;
    const char *const one[] = {"submit", "--queue", "q", "--type", "t", "--idempotency-key",
                               "k", NULL};
    const char *reply = "{\"status\":200,\"ids\":[7],\"existing\":[true]}";
    result_t r = run_with_reply(reply, one);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_string_equal(r.out, "7 (existing)\n");
    assert_string_equal(r.err, "");
    result_free(&r);

    const char *const one_json[] = {"--json", "submit", "--queue", "q", "--type", "t", NULL};
    r = run_with_reply(reply, one_json);
    assert_string_equal(r.out, "{\"ids\":[7],\"existing\":[true]}\n");
    result_free(&r);

    r = run_with_reply("{\"status\":200,\"ids\":[8],\"existing\":[false]}", one);
    assert_string_equal(r.out, "8\n");
    result_free(&r);

    r = run_with_reply("{\"status\":200,\"ids\":[8],\"existing\":[false]}", one_json);
    assert_string_equal(r.out, "{\"ids\":[8],\"existing\":[false]}\n");
    result_free(&r);

    const char *batch = "{\"queue\":\"q\",\"type\":\"t\",\"idempotency_key\":\"a\"}\n"
                        "{\"queue\":\"q\",\"type\":\"t\",\"idempotency_key\":\"b\"}\n";
    const char *replies[] = {"{\"status\":200,\"ids\":[3,4],\"existing\":[false,true]}"};
    fake_t *f = fake_start(1, replies);
    r = RUN(f->endpoint, batch, "submit", "--batch", "-");
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_string_equal(r.out, "3\n4 (existing)\n");
    result_free(&r);
    fake_stop(&f);

    const char *bad[] = {"{\"status\":200,\"ids\":[7],\"existing\":[1]}",
                         "{\"status\":200,\"ids\":[7],\"existing\":[true,false]}",
                         "{\"status\":200,\"ids\":[7],\"existing\":true}"};
    for (size_t i = 0; i < 3; i++) {
        r = run_with_reply(bad[i], one);
        assert_int_equal(r.rc, CTL_EXIT_ERROR);
        assert_string_equal(r.err, "orchctl: malformed reply from coordinator: \"existing\" is "
                                   "not one boolean per id\n");
        assert_string_equal(r.out, "");
        result_free(&r);
    }
}

static const char s_history_reply[] =
    "{\"status\":200,\"job\":{\"id\":101,\"queue\":\"default\",\"type\":\"embed\",\"state\":"
    "\"succeeded\",\"attempt\":2,\"max_attempts\":3},\"history\":["
    "{\"at\":\"2026-11-22T10:00:00.1+00:00\",\"event\":\"submitted\",\"attempt\":0,"
    "\"worker\":null,\"detail\":{\"schedule\":\"nightly\"}},"
    "{\"at\":\"2026-11-22T10:00:01.2+00:00\",\"event\":\"started\",\"attempt\":1,"
    "\"worker\":\"host-1\",\"detail\":null},"
    "{\"at\":\"2026-11-22T10:00:03.9+00:00\",\"event\":\"failed\",\"attempt\":1,"
    "\"worker\":\"host-1\",\"detail\":{\"cause\":\"error\",\"error\":\"refused\\nagain\","
    "\"retry_in_ms\":1000}},"
    "{\"at\":1795341605000000,\"event\":\"succeeded\",\"attempt\":2,\"worker\":\"host-2\","
    "\"detail\":{}}]}";

static void test_get_history(void **state)
{
    (void)state;
    result_t r;
    fake_t *f = run_recorded(s_history_reply,
                             (const char *const[]){"get", "101", "--history", NULL}, &r);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_string_equal(f->cmd[0], "GET");
    assert_string_equal(f->raw[0], "{\"id\":101,\"history\":true}");
    fake_stop(&f);
    assert_string_equal(
        r.out,
        "id: 101\n"
        "queue: default\n"
        "type: embed\n"
        "priority: -\n"
        "state: succeeded\n"
        "attempt: 2\n"
        "max_attempts: 3\n"
        "payload: -\n"
        "result: -\n"
        "error: -\n"
        "worker: -\n"
        "progress: -\n"
        "timeout_ms: -\n"
        "idempotency_key: -\n"
        "depends_on: -\n"
        "run_at: -\n"
        "created_at: -\n"
        "started_at: -\n"
        "finished_at: -\n"
        "updated_at: -\n"
        "history:\n"
        "  AT                           EVENT      ATTEMPT  WORKER  DETAIL\n"
        "  2026-11-22T10:00:00.1+00:00  submitted        0  -       {\"schedule\":\"nightly\"}\n"
        "  2026-11-22T10:00:01.2+00:00  started          1  host-1  -\n"
        "  2026-11-22T10:00:03.9+00:00  failed           1  host-1  "
        "{\"cause\":\"error\",\"error\":\"refused\\nagain\",\"retry_in_ms\":1000}\n"
        "  2026-11-22T10:00:05.000Z     succeeded        2  host-2  {}\n");
    result_free(&r);

    f = run_recorded(s_history_reply,
                     (const char *const[]){"--json", "get", "101", "--history", NULL}, &r);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    fake_stop(&f);
    json_t *full = json_loads(s_history_reply, 0, NULL);
    json_object_del(full, "status");
    json_t *got = json_loads(r.out, 0, NULL);
    assert_non_null(got);
    assert_true(json_equal(got, full));
    assert_string_equal(strchr(r.out, '\n'), "\n");
    assert_int_equal(strncmp(r.out, "{\"job\":{\"id\":101,", 17), 0); /* job first */
    json_decref(got);
    json_decref(full);
    result_free(&r);

    /* without --history nothing extra is asked for or printed */
    f = run_recorded(s_history_reply, (const char *const[]){"get", "101", NULL}, &r);
    assert_string_equal(f->raw[0], "{\"id\":101}");
    fake_stop(&f);
    assert_null(strstr(r.out, "history"));
    result_free(&r);

    /* an empty trail prints the header only */
    r = run_with_reply("{\"status\":200,\"job\":{\"id\":5},\"history\":[]}",
                       (const char *const[]){"get", "5", "--history", NULL});
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_contains(r.out, "updated_at: -\nhistory:\n  AT  EVENT  ATTEMPT  WORKER  DETAIL\n");
    result_free(&r);

    r = run_with_reply("{\"status\":200,\"job\":{\"id\":5}}",
                       (const char *const[]){"get", "5", "--history", NULL});
    assert_int_equal(r.rc, CTL_EXIT_ERROR);
    assert_string_equal(r.err, "orchctl: malformed reply from coordinator: no \"history\" array\n");
    assert_string_equal(r.out, "");
    result_free(&r);
}

static const char s_queues_reply[] =
    "{\"status\":200,\"queues\":["
    "{\"name\":\"default\",\"paused\":false,\"waiting\":0,\"scheduled\":2,\"queued\":3,"
    "\"running\":1,\"succeeded\":10,\"dead\":0,\"cancelled\":1,\"concurrency\":0,"
    "\"rate_limit\":0,\"rate_1m\":12.5,\"started_total\":120,\"finished_total\":118},"
    "{\"name\":\"bulk\",\"paused\":true,\"waiting\":4,\"scheduled\":0,\"queued\":120000,"
    "\"running\":12,\"succeeded\":5,\"dead\":2,\"cancelled\":0,\"concurrency\":16,"
    "\"rate_limit\":2.5,\"rate_1m\":0}]}";

static void test_queues(void **state)
{
    (void)state;
    result_t r;
    fake_t *f = run_recorded(s_queues_reply, (const char *const[]){"queues", NULL}, &r);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_string_equal(f->cmd[0], "QUEUES");
    assert_string_equal(f->raw[0], "{}");
    fake_stop(&f);
    assert_string_equal(r.out,
                        "NAME     PAUSED  WAITING  SCHEDULED  QUEUED  RUNNING  SUCCEEDED  DEAD  "
                        "CANCELLED  CONCURRENCY  RATE_LIMIT  RATE_1M\n"
                        "default  no            0          2       3        1         10     0  "
                        "        1            -           -    12.50\n"
                        "bulk     yes           4          0  120000       12          5     2  "
                        "        0           16         2.5     0.00\n");
    result_free(&r);

    f = run_recorded(s_queues_reply, (const char *const[]){"queues", "list", "--json", NULL}, &r);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    fake_stop(&f);
    json_t *full = json_loads(s_queues_reply, 0, NULL);
    json_t *got = json_loads(r.out, 0, NULL);
    assert_true(json_equal(got, json_object_get(full, "queues")));
    json_decref(got);
    json_decref(full);
    result_free(&r);

    r = run_with_reply("{\"status\":200,\"queues\":{}}", (const char *const[]){"queues", NULL});
    assert_int_equal(r.rc, CTL_EXIT_ERROR);
    assert_string_equal(r.err, "orchctl: malformed reply from coordinator: no \"queues\" array\n");
    result_free(&r);

    /* the aliases send what pause and resume send */
    const char *const *cases[] = {
        (const char *const[]){"queues", "pause", "bulk", NULL},
        (const char *const[]){"queues", "resume", "bulk", NULL},
        (const char *const[]){"queues", "pause", "bulk", "--json", NULL},
    };
    const char *cmds[] = {"PAUSE", "RESUME", "PAUSE"};
    const char *outs[] = {"queue bulk: paused\n", "queue bulk: resumed\n", "{}\n"};
    for (size_t i = 0; i < 3; i++) {
        f = run_recorded("{\"status\":200}", cases[i], &r);
        assert_int_equal(r.rc, CTL_EXIT_OK);
        assert_string_equal(f->cmd[0], cmds[i]);
        assert_string_equal(f->raw[0], "{\"queue\":\"bulk\"}");
        assert_string_equal(r.out, outs[i]);
        fake_stop(&f);
        result_free(&r);
    }
    r = run_with_reply("{\"status\":404,\"error\":\"no such queue \\\"nope\\\"\"}",
                       (const char *const[]){"queues", "pause", "nope", NULL});
    assert_int_equal(r.rc, CTL_EXIT_ERROR);
    assert_string_equal(r.err, "orchctl: no such queue \"nope\" (status 404)\n");
    result_free(&r);
}

static const char s_schedules_reply[] =
    "{\"status\":200,\"schedules\":["
    "{\"name\":\"compact-hourly\",\"cron\":\"@hourly\",\"queue\":\"maintenance\",\"type\":"
    "\"compact\",\"payload\":{},\"priority\":5,\"max_attempts\":3,\"paused\":false,"
    "\"source\":\"config\",\"next_run_at\":\"2026-11-22T11:00:00+00:00\","
    "\"last_run_at\":\"2026-11-22T10:00:00+00:00\",\"last_job_id\":4711},"
    "{\"name\":\"nightly\",\"cron\":\"0 3 * * *\",\"queue\":\"maintenance\",\"type\":"
    "\"backup_verify\",\"payload\":{},\"priority\":5,\"max_attempts\":3,\"paused\":true,"
    "\"source\":\"api\",\"next_run_at\":1795402800000000,\"last_run_at\":null,"
    "\"last_job_id\":null}]}";

static void test_schedules_list(void **state)
{
    (void)state;
    result_t r;
    fake_t *f = run_recorded(s_schedules_reply, (const char *const[]){"schedules", NULL}, &r);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_string_equal(f->cmd[0], "SCHEDULES");
    assert_string_equal(f->raw[0], "{\"action\":\"list\"}");
    fake_stop(&f);
    assert_string_equal(r.out,
                        "NAME            CRON       QUEUE        TYPE           PAUSED  SOURCE  "
                        "NEXT_RUN                   LAST_RUN                   LAST_JOB\n"
                        "compact-hourly  @hourly    maintenance  compact        no      config  "
                        "2026-11-22T11:00:00+00:00  2026-11-22T10:00:00+00:00      4711\n"
                        "nightly         0 3 * * *  maintenance  backup_verify  yes     api     "
                        "2026-11-23T03:00:00Z       -                                 -\n");
    result_free(&r);

    f = run_recorded(s_schedules_reply,
                     (const char *const[]){"--json", "schedules", "list", NULL}, &r);
    assert_string_equal(f->raw[0], "{\"action\":\"list\"}");
    fake_stop(&f);
    json_t *full = json_loads(s_schedules_reply, 0, NULL);
    json_t *got = json_loads(r.out, 0, NULL);
    assert_true(json_equal(got, json_object_get(full, "schedules")));
    json_decref(got);
    json_decref(full);
    result_free(&r);

    r = run_with_reply("{\"status\":200}", (const char *const[]){"schedules", NULL});
    assert_int_equal(r.rc, CTL_EXIT_ERROR);
    assert_string_equal(r.err,
                        "orchctl: malformed reply from coordinator: no \"schedules\" array\n");
    result_free(&r);
}

static void test_schedules_change(void **state)
{
    (void)state;
    const char *added = "{\"status\":200,\"schedule\":{\"name\":\"nightly\",\"cron\":\"0 3 * * *\","
                        "\"next_run_at\":\"2026-11-23T03:00:00+00:00\"}}";
    result_t r;
    fake_t *f = run_recorded(
        added,
        (const char *const[]){"schedules", "add", "nightly", "--cron", "0 3 * * *", "--queue",
                              "maintenance", "--type", "compact", "--payload",
                              "{\"older_than\":\"1h\"}", "--priority", "7", "--max-attempts",
                              "2", NULL},
        &r);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_string_equal(f->cmd[0], "SCHEDULES");
    assert_string_equal(f->raw[0], "{\"action\":\"add\",\"name\":\"nightly\",\"cron\":\"0 3 * * *\","
                                   "\"queue\":\"maintenance\",\"type\":\"compact\",\"payload\":"
                                   "{\"older_than\":\"1h\"},\"priority\":7,\"max_attempts\":2}");
    fake_stop(&f);
    assert_string_equal(r.out, "schedule nightly: added (next run 2026-11-23T03:00:00+00:00)\n");
    result_free(&r);

    const char *const minimal[] = {"schedules", "add",   "tick",  "--cron", "@every 10m",
                                   "--queue",   "q",     "--type", "noop",  NULL};
    f = run_recorded("{\"status\":200}", minimal, &r);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_string_equal(f->raw[0], "{\"action\":\"add\",\"name\":\"tick\",\"cron\":\"@every 10m\","
                                   "\"queue\":\"q\",\"type\":\"noop\"}");
    fake_stop(&f);
    assert_string_equal(r.out, "schedule tick: added\n");
    result_free(&r);

    r = run_with_reply(added, (const char *const[]){"--json", "schedules", "add", "nightly",
                                                    "--cron", "0 3 * * *", "--queue", "q",
                                                    "--type", "t", NULL});
    assert_string_equal(r.out, "{\"schedule\":{\"name\":\"nightly\",\"cron\":\"0 3 * * *\","
                               "\"next_run_at\":\"2026-11-23T03:00:00+00:00\"}}\n");
    result_free(&r);

    /* the cron syntax is the coordinator's to judge */
    r = run_with_reply("{\"status\":400,\"error\":\"cron: field 2 (hour): 25 is out of range "
                       "0..23\"}",
                       (const char *const[]){"schedules", "add", "bad", "--cron", "0 25 * * *",
                                             "--queue", "q", "--type", "t", NULL});
    assert_int_equal(r.rc, CTL_EXIT_ERROR);
    assert_string_equal(r.err, "orchctl: cron: field 2 (hour): 25 is out of range 0..23 (status "
                               "400)\n");
    assert_string_equal(r.out, "");
    result_free(&r);

    const char *actions[] = {"remove", "pause", "resume"};
    const char *outs[] = {"schedule nightly: removed\n", "schedule nightly: paused\n",
                          "schedule nightly: resumed\n"};
    for (size_t i = 0; i < 3; i++) {
        f = run_recorded("{\"status\":200}",
                         (const char *const[]){"schedules", actions[i], "nightly", NULL}, &r);
        assert_int_equal(r.rc, CTL_EXIT_OK);
        char want[96];
        snprintf(want, sizeof want, "{\"action\":\"%s\",\"name\":\"nightly\"}", actions[i]);
        assert_string_equal(f->raw[0], want);
        assert_string_equal(r.out, outs[i]);
        fake_stop(&f);
        result_free(&r);
    }
    r = run_with_reply("{\"status\":200}",
                       (const char *const[]){"schedules", "pause", "nightly", "--json", NULL});
    assert_string_equal(r.out, "{}\n");
    result_free(&r);
    r = run_with_reply("{\"status\":404,\"error\":\"no such schedule \\\"x\\\"\"}",
                       (const char *const[]){"schedules", "remove", "x", NULL});
    assert_int_equal(r.rc, CTL_EXIT_ERROR);
    assert_string_equal(r.err, "orchctl: no such schedule \"x\" (status 404)\n");
    result_free(&r);
}

typedef struct {
    const char *text;
    int64_t us; /* -1: must be refused */
} time_case_t;

static const time_case_t s_time_cases[] = {
    {"2026-11-22T10:00:00Z", INT64_C(1795341600000000)},
    {"2026-11-22t10:00:00z", INT64_C(1795341600000000)},
    {"2026-11-22T10:00Z", INT64_C(1795341600000000)},
    {"2026-11-22T10:00:00.5Z", INT64_C(1795341600500000)},
    {"2026-11-22T10:00:00.123456789Z", INT64_C(1795341600123456)},
    {"2026-11-22T12:00:00+02:00", INT64_C(1795341600000000)},
    {"2026-11-22T12:00:00+0200", INT64_C(1795341600000000)},
    {"2026-11-22T12:00:00+02", INT64_C(1795341600000000)},
    {"2026-11-22T05:30:00-04:30", INT64_C(1795341600000000)},
    {"2024-02-29T23:59:59Z", INT64_C(1709251199000000)},
    {"2000-01-01T00:00:00Z", INT64_C(946684800000000)},
    {"1970-01-01T00:00:00Z", 0},
    {"@1795341600", INT64_C(1795341600000000)},
    {"@1795341600.25", INT64_C(1795341600250000)},
    {"@0", 0},
    {"2026-11-22T10:00:00", -1},    /* no zone */
    {"2026-11-22 10:00:00Z", -1},
    {"2026-11-22", -1},
    {"2023-02-29T00:00:00Z", -1},   /* not a leap year */
    {"2026-13-01T00:00:00Z", -1},
    {"2026-11-31T00:00:00Z", -1},
    {"2026-11-22T24:00:00Z", -1},
    {"2026-11-22T10:60:00Z", -1},
    {"2026-11-22T10:00:60Z", -1},
    {"2026-11-22T10:00:00.Z", -1},
    {"2026-11-22T10:00:00.1234567890Z", -1},
    {"2026-11-22T10:00:00+24:00", -1},
    {"2026-11-22T10:00:00+02:0", -1},
    {"2026-11-22T10:00:00Zjunk", -1},
    {"1969-12-31T23:59:59Z", -1},
    {"1970-01-01T00:30:00+01:00", -1}, /* before the epoch */
    {"@", -1},
    {"@-5", -1},
    {"@12x", -1},
    {"@123456789012", -1},
    {"", -1},
};

static void test_time_parse(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_time_cases / sizeof *s_time_cases; i++) {
        int64_t us = -7;
        int rc = ctl_time_parse_us(s_time_cases[i].text, &us);
        if (s_time_cases[i].us < 0 && rc == 0)
            fail_msg("case %zu '%s': accepted as %lld", i, s_time_cases[i].text, (long long)us);
        if (s_time_cases[i].us >= 0 && (rc != 0 || us != s_time_cases[i].us))
            fail_msg("case %zu '%s': rc %d us %lld, expected %lld", i, s_time_cases[i].text, rc,
                     (long long)us, (long long)s_time_cases[i].us);
    }
    assert_int_equal(ctl_time_parse_us(NULL, &(int64_t){0}), ORCH_EINVAL);
}

static void test_time_format(void **state)
{
    (void)state;
    char buf[40];
    ctl_time_format_us(INT64_C(1795341600123456), 0, buf, sizeof buf);
    assert_string_equal(buf, "2026-11-22T10:00:00Z");
    ctl_time_format_us(INT64_C(1795341600123456), 3, buf, sizeof buf);
    assert_string_equal(buf, "2026-11-22T10:00:00.123Z");
    ctl_time_format_us(INT64_C(1795341600123456), 6, buf, sizeof buf);
    assert_string_equal(buf, "2026-11-22T10:00:00.123456Z");
    ctl_time_format_us(INT64_C(1709251199000000), 0, buf, sizeof buf);
    assert_string_equal(buf, "2024-02-29T23:59:59Z");
    ctl_time_format_us(0, 3, buf, sizeof buf);
    assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
    ctl_time_format_us(-1, 6, buf, sizeof buf);
    assert_string_equal(buf, "1969-12-31T23:59:59.999999Z");
    ctl_time_format_us(0, 0, buf, 10);
    assert_string_equal(buf, "");
    /* parse and format agree over many days, leap years included */
    for (int64_t day = 0; day < 200 * 366; day += 37) {
        int64_t us = day * 86400 * INT64_C(1000000) + INT64_C(45296789000); /* 12:34:56.789 */
        int64_t back = -1;
        ctl_time_format_us(us, 3, buf, sizeof buf);
        assert_int_equal(ctl_time_parse_us(buf, &back), 0);
        assert_int_equal(back, us);
    }
}

/* ---------------------------------------------------------------------- */
/* watch: a fake coordinator event socket                                  */

typedef struct {
    const char *topic;
    const char *proto; /* NULL: ORCHE1 */
    const char *body;  /* NULL: only two frames are sent */
} pub_event_t;

typedef struct {
    void *ctx;
    void *sock;
    char endpoint[160];
    char path[128];
    pthread_t thread;
    size_t subs_wanted; /* subscriptions to wait for before publishing */
    char subs[8][80];   /* what was subscribed to, in order */
    atomic_size_t nsubs;
    const pub_event_t *events;
    size_t nevents;
    int signal;         /* sent to target after publishing; 0: none */
    pthread_t target;
    bool joined;
} pub_t;

static void *pub_main(void *arg)
{
    pub_t *p = arg;
    /* bounded: a client that never subscribes fails its test, not the run */
    for (int i = 0; i < 500 && p->nsubs < p->subs_wanted; i++) {
        zmq_pollitem_t item = {.socket = p->sock, .events = ZMQ_POLLIN};
        if (zmq_poll(&item, 1, 20) <= 0)
            continue;
        char buf[81];
        int n = zmq_recv(p->sock, buf, sizeof buf - 1, 0);
        if (n >= 1 && buf[0] == 1 && p->nsubs < 8) {
            buf[n] = '\0';
            strcpy(p->subs[p->nsubs], buf + 1);
            p->nsubs++;
        }
    }
    for (size_t i = 0; i < p->nevents; i++) {
        const pub_event_t *e = &p->events[i];
        const char *proto = e->proto ? e->proto : "ORCHE1";
        zmq_send(p->sock, e->topic, strlen(e->topic), ZMQ_SNDMORE);
        zmq_send(p->sock, proto, strlen(proto), e->body ? ZMQ_SNDMORE : 0);
        if (e->body)
            zmq_send(p->sock, e->body, strlen(e->body), 0);
    }
    if (p->signal)
        pthread_kill(p->target, p->signal);
    return NULL;
}

/* Binds an XPUB (it reports subscriptions, so events go out only once the
 * client listens: no sleeps) at path, or at a fresh path when NULL. */
static pub_t *pub_start(const char *path, size_t subs_wanted, const pub_event_t *events,
                        size_t nevents, int signal)
{
    pub_t *p = calloc(1, sizeof *p);
    assert_non_null(p);
    if (path)
        snprintf(p->path, sizeof p->path, "%s", path);
    else
        snprintf(p->path, sizeof p->path, "/tmp/orchctl-test-%d-%d-events.sock", (int)getpid(),
                 s_fake_counter++);
    snprintf(p->endpoint, sizeof p->endpoint, "ipc://%s", p->path);
    unlink(p->path);
    p->subs_wanted = subs_wanted;
    p->events = events;
    p->nevents = nevents;
    p->signal = signal;
    p->target = pthread_self();
    p->ctx = zmq_ctx_new();
    p->sock = zmq_socket(p->ctx, ZMQ_XPUB);
    int zero = 0, one = 1;
    zmq_setsockopt(p->sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(p->sock, ZMQ_XPUB_VERBOSE, &one, sizeof one);
    assert_int_equal(zmq_bind(p->sock, p->endpoint), 0);
    assert_int_equal(pthread_create(&p->thread, NULL, pub_main, p), 0);
    return p;
}

/* Waits for the thread: what it recorded can be read safely afterwards. */
static void pub_halt(pub_t *p)
{
    if (!p->joined)
        pthread_join(p->thread, NULL);
    p->joined = true;
}

static void pub_stop(pub_t **pp)
{
    pub_t *p = *pp;
    pub_halt(p);
    zmq_close(p->sock);
    zmq_ctx_term(p->ctx);
    unlink(p->path);
    free(p);
    *pp = NULL;
}

#define EV_STARTED                                                                              \
    "{\"id\":42,\"queue\":\"bulk\",\"type\":\"index\",\"event\":\"started\",\"state\":"        \
    "\"running\",\"attempt\":1,\"worker\":\"host-1\",\"at_us\":1795341600123456}"
#define EV_SUBMITTED                                                                            \
    "{\"id\":43,\"queue\":\"default\",\"type\":\"embed\",\"event\":\"submitted\",\"state\":"   \
    "\"queued\",\"attempt\":0,\"at_us\":1795341600200000}"
#define EV_SUCCEEDED                                                                            \
    "{\"id\":42,\"queue\":\"bulk\",\"type\":\"index\",\"event\":\"succeeded\",\"state\":"      \
    "\"succeeded\",\"attempt\":1,\"worker\":\"host\\u001b1\",\"at_us\":1795341601000000}"

static const pub_event_t s_events[] = {
    {"bulk2", NULL, "{\"id\":1,\"queue\":\"bulk2\"}"}, /* a prefix match, not asked for */
    {"bulk", "ORCHX9", "{}"},
    {"bulk", NULL, NULL},
    {"bulk", NULL, EV_STARTED},
    {"default", NULL, EV_SUBMITTED},
    {"bulk", NULL, "[1]"},
    {"bulk", NULL, EV_SUCCEEDED},
    {"default", NULL, EV_SUBMITTED}, /* past --count 3 */
};
#define N_EVENTS (sizeof s_events / sizeof *s_events)

static void test_watch_lines(void **state)
{
    (void)state;
    pub_t *p = pub_start(NULL, 2, s_events, N_EVENTS, 0);
    result_t r = RUN(NULL, NULL, "watch", "--queue", "bulk", "--queue=default",
                     "--events-endpoint", p->endpoint, "--count", "3");
    pub_stop(&p);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_string_equal(r.out, "2026-11-22T10:00:00.123Z bulk job=42 started state=running "
                               "attempt=1 worker=host-1\n"
                               "2026-11-22T10:00:00.200Z default job=43 submitted state=queued "
                               "attempt=0 worker=-\n"
                               "2026-11-22T10:00:01.000Z bulk job=42 succeeded state=succeeded "
                               "attempt=1 worker=host\\x1b1\n");
    assert_string_equal(r.err, "orchctl: ignored a malformed event: unknown protocol frame\n"
                               "orchctl: ignored a malformed event: not 3 frames\n"
                               "orchctl: ignored a malformed event: body is not a JSON object\n");
    result_free(&r);
}

static void test_watch_json(void **state)
{
    (void)state;
    pub_t *p = pub_start(NULL, 1, s_events + 3, 2, 0);
    result_t r = RUN(NULL, NULL, "--json", "watch", "--events-endpoint", p->endpoint, "--count",
                     "2");
    pub_halt(p);
    assert_string_equal(p->subs[0], ""); /* no --queue: every queue */
    assert_int_equal(p->nsubs, 1);
    pub_stop(&p);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_string_equal(r.out, EV_STARTED "\n" EV_SUBMITTED "\n");
    assert_string_equal(r.err, "");
    result_free(&r);
}

/* One subscription per --queue, exactly the names given. */
static void test_watch_subscriptions(void **state)
{
    (void)state;
    pub_t *p = pub_start(NULL, 3, s_events + 4, 1, 0);
    result_t r = RUN(NULL, NULL, "watch", "--queue", "a", "--queue", "bulk", "--queue", "default",
                     "--events-endpoint", p->endpoint, "--count", "1");
    pub_halt(p);
    assert_int_equal(p->nsubs, 3);
    assert_string_equal(p->subs[0], "a");
    assert_string_equal(p->subs[1], "bulk");
    assert_string_equal(p->subs[2], "default");
    pub_stop(&p);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_string_equal(r.out, "2026-11-22T10:00:00.200Z default job=43 submitted state=queued "
                               "attempt=0 worker=-\n");
    result_free(&r);
}

/* The endpoint: --events-endpoint wins over ORCH_EVENTS_ENDPOINT, which
 * wins over the one derived from the client endpoint. */
static void test_watch_endpoint_choice(void **state)
{
    (void)state;
    pub_t *p = pub_start(NULL, 1, s_events + 4, 1, 0);
    setenv(CTL_WATCH_ENDPOINT_ENV, p->endpoint, 1);
    result_t r = RUN("tcp://127.0.0.1:1", NULL, "watch", "--count", "1");
    pub_stop(&p);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_contains(r.out, "job=43 submitted");
    result_free(&r);

    setenv(CTL_WATCH_ENDPOINT_ENV, "ipc:///nonexistent/events.sock", 1);
    p = pub_start(NULL, 1, s_events + 4, 1, 0);
    r = RUN(NULL, NULL, "watch", "--count", "1", "--events-endpoint", p->endpoint);
    pub_stop(&p);
    unsetenv(CTL_WATCH_ENDPOINT_ENV);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_contains(r.out, "job=43 submitted");
    result_free(&r);

    /* derived: the events.sock beside the client's clients.sock */
    char dir[96], events[128], clients[160];
    snprintf(dir, sizeof dir, "/tmp/orchctl-test-%d-dir", (int)getpid());
    mkdir(dir, 0700);
    snprintf(events, sizeof events, "%s/events.sock", dir);
    snprintf(clients, sizeof clients, "ipc://%s/clients.sock", dir);
    p = pub_start(events, 1, s_events + 4, 1, 0);
    r = RUN(clients, NULL, "watch", "--count", "1");
    pub_stop(&p);
    rmdir(dir);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_contains(r.out, "job=43 submitted");
    result_free(&r);
}

static void test_watch_events_endpoint_rule(void **state)
{
    (void)state;
    static const struct {
        const char *client;
        const char *events; /* NULL: no rule applies */
    } cases[] = {
        {"tcp://127.0.0.1:5556", "tcp://127.0.0.1:5557"},
        {"tcp://coord.example:9", "tcp://coord.example:10"},
        {"tcp://[::1]:5556", "tcp://[::1]:5557"},
        {"tcp://host:65534", "tcp://host:65535"},
        {"ipc:///run/orch/clients.sock", "ipc:///run/orch/events.sock"},
        {"ipc://clients.sock", "ipc://events.sock"},
        {"tcp://host:65535", NULL},
        {"tcp://host:0", NULL},
        {"tcp://host", NULL},
        {"tcp://:5556", NULL},
        {"tcp://host:55x", NULL},
        {"ipc:///run/orch/other.sock", NULL},
        {"ipc:///run/orch/clients.sock.bak", NULL},
        {"inproc://clients.sock", NULL},
        {"", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char out[128] = "unchanged";
        int rc = ctl_watch_events_endpoint(cases[i].client, out, sizeof out);
        if (cases[i].events && (rc != 0 || strcmp(out, cases[i].events) != 0))
            fail_msg("case %zu '%s': rc %d '%s'", i, cases[i].client, rc, out);
        if (!cases[i].events && rc == 0)
            fail_msg("case %zu '%s': derived '%s'", i, cases[i].client, out);
    }
    char small[8];
    assert_int_equal(ctl_watch_events_endpoint("tcp://127.0.0.1:5556", small, sizeof small),
                     ORCH_EINVAL);
}

/* --for ends a quiet watch with success. */
static void test_watch_for(void **state)
{
    (void)state;
    pub_t *p = pub_start(NULL, 1, NULL, 0, 0);
    result_t r = RUN(NULL, NULL, "watch", "--events-endpoint", p->endpoint, "--for", "200ms");
    pub_stop(&p);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_string_equal(r.out, "");
    assert_string_equal(r.err, "");
    result_free(&r);
}

/* SIGINT and SIGTERM end the watch with 0; the handlers in place before
 * are back afterwards. */
static void test_watch_signals(void **state)
{
    (void)state;
    int sigs[] = {SIGINT, SIGTERM};
    for (size_t i = 0; i < 2; i++) {
        struct sigaction before, after;
        sigaction(sigs[i], NULL, &before);
        pub_t *p = pub_start(NULL, 1, NULL, 0, sigs[i]);
        result_t r = RUN(NULL, NULL, "watch", "--events-endpoint", p->endpoint);
        pub_stop(&p);
        assert_int_equal(r.rc, CTL_EXIT_OK);
        assert_string_equal(r.out, "");
        assert_string_equal(r.err, "");
        result_free(&r);
        sigaction(sigs[i], NULL, &after);
        assert_ptr_equal(after.sa_handler, before.sa_handler);
    }
}

/* Each occurrence of a repeatable flag takes a slot; past the limit the
 * command line is refused. */
static void test_too_many_flags(void **state)
{
    (void)state;
    const char *args[80] = {"watch"};
    size_t n = 1;
    for (int i = 0; i < 33; i++) {
        args[n++] = "--queue";
        args[n++] = "q";
    }
    args[n] = NULL;
    result_t r = run_v(NULL, NULL, args);
    assert_int_equal(r.rc, CTL_EXIT_USAGE);
    assert_string_equal(r.err, "orchctl: too many flags (at most 32)\nsee orchctl --help\n");
    result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_payload_too_large),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_output_write_error),
        cmocka_unit_test(test_submit_single_request),
        cmocka_unit_test(test_submit_minimal_request),
        cmocka_unit_test(test_endpoint_from_environment),
        cmocka_unit_test(test_requests_per_command),
        cmocka_unit_test(test_batch_file_one_request),
        cmocka_unit_test(test_batch_stdin_json),
        cmocka_unit_test(test_batch_file_errors),
        cmocka_unit_test(test_batch_stdin_line_number),
        cmocka_unit_test(test_batch_split_by_count),
        cmocka_unit_test(test_batch_partial_failure),
        cmocka_unit_test(test_batch_refs_renumbered),
        cmocka_unit_test(test_batch_ref_across_requests),
        cmocka_unit_test(test_batch_split_by_size),
        cmocka_unit_test(test_get_output),
        cmocka_unit_test(test_list_output),
        cmocka_unit_test(test_stats_output),
        cmocka_unit_test(test_workers_output),
        cmocka_unit_test(test_workers_idle_ms),
        cmocka_unit_test(test_action_output),
        cmocka_unit_test(test_format_value),
        cmocka_unit_test(test_server_error),
        cmocka_unit_test(test_malformed_reply),
        cmocka_unit_test(test_timeout_nobody_listening),
        cmocka_unit_test(test_timeout_no_answer),
        cmocka_unit_test(test_submit_scheduling_requests),
        cmocka_unit_test(test_batch_scheduling_fields),
        cmocka_unit_test(test_submit_existing),
        cmocka_unit_test(test_get_history),
        cmocka_unit_test(test_queues),
        cmocka_unit_test(test_schedules_list),
        cmocka_unit_test(test_schedules_change),
        cmocka_unit_test(test_time_parse),
        cmocka_unit_test(test_time_format),
        cmocka_unit_test(test_watch_lines),
        cmocka_unit_test(test_watch_json),
        cmocka_unit_test(test_watch_subscriptions),
        cmocka_unit_test(test_watch_endpoint_choice),
        cmocka_unit_test(test_watch_events_endpoint_rule),
        cmocka_unit_test(test_watch_for),
        cmocka_unit_test(test_watch_signals),
        cmocka_unit_test(test_too_many_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
