/* libFuzzer driver for the encoders: whatever bytes they are handed (text
 * that is not UTF-8, control characters, quotes, NUL), every encoder must
 * write a body that parses as JSON, and when the inputs are valid for the
 * message, its decoder must give them back.
 *
 * Input layout: byte 0 seeds the numbers (status, lengths, flags); the
 * rest is the raw text (used whole, NUL bytes included, by
 * proto_put_string) and, split at NUL bytes, up to six strings s[0..5]. */
#include "fuzz_check.h"

#include <stdint.h>

#define NSTR 6

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    uint8_t seed;
    const char *raw;
    size_t rawlen;
    char *s[NSTR]; /* NUL-terminated copies; "" when missing */
} s_in_t;

static bool s_utf8_clean(const char *s, size_t n)
{
    json_t *v = json_stringn(s, n); /* NULL for invalid UTF-8 */
    bool ok = v && strlen(json_string_value(v)) == n;
    json_decref(v);
    return ok;
}

static void s_strings(const s_in_t *in)
{
    strbuf_t sb;
    strbuf_init(&sb);
    proto_put_string(&sb, in->raw, in->rawlen);
    json_t *v = fuzz_load(&sb, false);
    CHECK(json_is_string(v));
    if (s_utf8_clean(in->raw, in->rawlen))
        CHECK(json_string_length(v) == in->rawlen &&
              memcmp(json_string_value(v), in->raw, in->rawlen) == 0);
    json_decref(v);

    size_t max = in->seed % 64;
    strbuf_reset(&sb);
    proto_put_message(&sb, in->s[0], max);
    v = fuzz_load(&sb, false);
    const char *m = json_string_value(v);
    CHECK(m != NULL);
    size_t n = strlen(m);
    CHECK(n <= max); /* decoded bytes, a U+FFFD counted as its three */
    for (size_t i = 0; i < n; i++)
        CHECK((unsigned char)m[i] >= 0x20);
    CHECK(n == 0 || m[n - 1] != ' ');
    json_decref(v);
    strbuf_fini(&sb);
}

static void s_replies(const s_in_t *in)
{
    char err[FUZZ_ERRLEN] = "";
    strbuf_t sb;
    strbuf_init(&sb);
    int status = 100 + in->seed;
    proto_reply_error(&sb, status, in->s[0], in->seed & 1 ? "{\"k\":[1,\"x\"]}" : NULL);
    json_t *v = fuzz_load(&sb, true);
    proto_reply_t r;
    CHECK(proto_reply_parse(v, &r, err, sizeof err) == 0);
    CHECK(r.status == status && r.error && strlen(r.error) <= PROTO_ERROR_MAX);
    CHECK((in->seed & 1) == (json_object_get(v, "req") != NULL));
    proto_reply_fini(&r);
    json_decref(v);

    proto_reply_open(&sb, 200);
    proto_reply_str(&sb, "state", in->s[1]);
    proto_reply_str(&sb, "name", in->s[2]);
    proto_reply_raw(&sb, "job", "{\"a\":1}", 7);
    proto_reply_close(&sb, NULL);
    json_decref(fuzz_load(&sb, true));

    proto_queue_counts_t c = {.counts = {in->seed, 1, 2, 3, 4, 5, 6}, .paused = in->seed & 2};
    const char *name = in->s[3];
    proto_reply_stats(&sb, &name, &c, 1, in->seed & 4, "7");
    v = fuzz_load(&sb, true);
    proto_queue_counts_t g;
    if (s_utf8_clean(name, strlen(name))) {
        CHECK(proto_reply_stats_queue(v, name, &g, err, sizeof err) == 1);
        for (int k = 0; k < PROTO_NSTATES; k++)
            CHECK(g.counts[k] == c.counts[k]);
        CHECK(g.paused == c.paused);
    }
    json_decref(v);
    strbuf_fini(&sb);
}

static void s_worker_bodies(const s_in_t *in)
{
    char err[FUZZ_ERRLEN] = "";
    strbuf_t sb;
    strbuf_init(&sb);
    char *names[1] = {in->s[2]};
    char *types[1] = {in->s[3]};
    proto_jobref_t run = {in->seed + 1, 1};
    proto_hello_t h = {.name = in->s[1], .version = in->s[4], .queues = names, .nqueues = 1,
                       .types = types, .ntypes = 1, .slots = 1 + in->seed % 8, .running = &run,
                       .nrunning = in->seed & 1};
    proto_hello_encode(&sb, &h);
    json_t *v = fuzz_load(&sb, true);
    proto_hello_t g;
    bool valid = proto_name_valid(h.name) && proto_name_valid(names[0]) &&
                 proto_name_valid(types[0]) && strlen(h.version) <= PROTO_VERSION_MAX &&
                 fuzz_utf8_ok(h.version);
    int rc = proto_hello_parse(v, &g, err, sizeof err);
    CHECK(!valid || rc == 0);
    if (rc == 0 && valid)
        CHECK(strcmp(g.name, h.name) == 0 && strcmp(g.version, h.version) == 0 &&
              g.nrunning == h.nrunning);
    proto_hello_fini(&g);
    json_decref(v);

    proto_jobs_open(&sb);
    proto_fail_add(&sb, 1, 1, in->s[0], in->seed & 1, in->seed & 2);
    proto_done_add(&sb, 2, 1, "[1,{}]", 6);
    proto_jobs_close(&sb);
    json_decref(fuzz_load(&sb, true));

    strbuf_reset(&sb);
    proto_cancel_encode(&sb, 5, 2, in->s[0]);
    v = fuzz_load(&sb, true);
    proto_cancel_t cc;
    CHECK(proto_cancel_parse(v, &cc, err, sizeof err) == 0 && cc.id == 5 && cc.reason);
    proto_cancel_fini(&cc);
    json_decref(v);

    strbuf_reset(&sb);
    proto_error_encode(&sb, in->s[1], in->s[0]);
    json_decref(fuzz_load(&sb, true));

    strbuf_reset(&sb);
    proto_progress_t p = {.id = 1, .attempt = 1, .percent = in->seed % 101, .message = in->s[0]};
    proto_progress_encode(&sb, &p);
    v = fuzz_load(&sb, true);
    proto_progress_t pg;
    CHECK(proto_progress_parse(v, &pg, err, sizeof err) == 0);
    proto_progress_fini(&pg);
    json_decref(v);

    proto_jobs_open(&sb);
    proto_job_add(&sb, 9, 1, in->s[2], in->s[3], in->seed & 1 ? NULL : "{\"x\":[]}", in->seed);
    proto_jobs_close(&sb);
    v = fuzz_load(&sb, true);
    proto_job_t *j = NULL;
    size_t n = 0;
    CHECK(proto_jobs_parse(v, NULL, &j, &n, err, sizeof err) == 0 && n == 1 && j[0].id == 9);
    CHECK(!proto_name_valid(in->s[3]) || !proto_name_valid(in->s[2]) || j[0].error == NULL);
    proto_jobs_free(j, n);
    json_decref(v);
    strbuf_fini(&sb);
}

static void s_client_bodies(const s_in_t *in)
{
    strbuf_t sb;
    strbuf_init(&sb);
    int64_t deps[2] = {-1, 42};
    proto_jobspec_t s = {.queue = in->s[2], .type = in->s[3], .priority = in->seed % 10,
                         .payload = "{\"p\":\"\\u00e9\"}", .payload_len = 14,
                         .idempotency_key = in->s[4], .delay_ms = -1, .run_at_us = in->seed,
                         .depends_on = deps, .ndepends = in->seed & 1 ? 2 : 0};
    proto_jobs_open(&sb);
    proto_submit_add(&sb, &s);
    proto_submit_add(&sb, &s);
    proto_jobs_close(&sb);
    json_decref(fuzz_load(&sb, true));

    proto_sched_req_t q = {.action = 1 + in->seed % 5, .name = in->s[1], .cron = in->s[0],
                           .queue = in->s[2], .type = in->s[3], .payload = NULL,
                           .priority = -1, .paused = in->seed & 1};
    strbuf_reset(&sb);
    proto_sched_req_encode(&sb, &q);
    json_decref(fuzz_load(&sb, true));

    proto_list_t l = {.state = in->seed % 9 - 1, .queue = in->s[2], .limit = in->seed};
    strbuf_reset(&sb);
    proto_list_encode(&sb, &l);
    proto_put_req(&sb, "\"r\"");
    json_decref(fuzz_load(&sb, true));

    strbuf_reset(&sb);
    proto_queue_encode(&sb, in->s[5]);
    json_decref(fuzz_load(&sb, true));

    proto_event_t e = {.id = 1, .queue = in->s[2], .type = in->s[3], .event = in->s[4],
                       .state = in->s[5], .attempt = in->seed, .at_us = in->seed,
                       .worker = in->seed & 1 ? in->s[1] : NULL};
    strbuf_reset(&sb);
    proto_event_encode(&sb, &e);
    json_decref(fuzz_load(&sb, true));
    strbuf_fini(&sb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    s_in_t in = {.seed = data[0], .raw = (const char *)data + 1, .rawlen = size - 1};
    const char *p = in.raw, *end = in.raw + in.rawlen;
    for (int i = 0; i < NSTR; i++) {
        const char *z = p < end ? memchr(p, 0, (size_t)(end - p)) : NULL;
        const char *stop = z ? z : end;
        size_t len = p < end ? (size_t)(stop - p) : 0;
        in.s[i] = malloc(len + 1);
        memcpy(in.s[i], p < end ? p : "", len);
        in.s[i][len] = '\0';
        p = z ? z + 1 : end;
    }
    s_strings(&in);
    s_replies(&in);
    s_worker_bodies(&in);
    s_client_bodies(&in);
    for (int i = 0; i < NSTR; i++)
        free(in.s[i]);
    return 0;
}
