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
#include "orch_error.h"
#include "proto.h"
#include "strbuf.h"

#include <jansson.h>
#include <pthread.h>
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
    char *argv[64];
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
