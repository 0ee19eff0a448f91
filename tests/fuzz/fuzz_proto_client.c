/* fuzz_proto, client protocol: every decoder of an ORCHC1 body (requests
 * and REPLY) and of an event body, their invariants, and the round trip
 * through their encoders. */
#include "fuzz_check.h"

#include <inttypes.h>

/* Reference check, quadratic and obviously right: repeatedly release jobs
 * whose in-batch dependencies are all released. */
static bool s_acyclic(const proto_jobspec_t *s, size_t n)
{
    bool *done = calloc(n, sizeof *done);
    size_t left = n;
    for (bool progress = true; progress && left > 0;) {
        progress = false;
        for (size_t i = 0; i < n; i++) {
            bool ready = !done[i];
            for (size_t j = 0; ready && j < s[i].ndepends; j++)
                if (s[i].depends_on[j] < 0 && !done[(size_t)-s[i].depends_on[j] - 1])
                    ready = false;
            if (ready) {
                done[i] = true;
                left--;
                progress = true;
            }
        }
    }
    free(done);
    return left == 0;
}

/* A batch refused for a cycle must have one: parse the jobs one by one
 * (which skips the batch checks) and run the reference check. */
static void s_check_cycle(const json_t *body, const proto_limits_t *lim)
{
    const json_t *arr = json_object_get(body, "jobs");
    size_t n = json_array_size(arr);
    proto_jobspec_t *s = calloc(n, sizeof *s);
    for (size_t i = 0; i < n; i++)
        CHECK(proto_jobspec_parse(json_array_get(arr, i), lim, &s[i], NULL, 0) == 0);
    CHECK(!s_acyclic(s, n));
    proto_jobspecs_free(s, n);
}

static void s_same_spec(const proto_jobspec_t *a, const proto_jobspec_t *b)
{
    CHECK(strcmp(a->queue, b->queue) == 0 && strcmp(a->type, b->type) == 0);
    CHECK(a->priority == b->priority && a->max_attempts == b->max_attempts);
    CHECK(a->timeout_ms == b->timeout_ms && a->delay_ms == b->delay_ms);
    CHECK(a->delay_ms >= 0 || a->run_at_us == b->run_at_us); /* a delay counts from receipt */
    CHECK(a->payload_len == b->payload_len && strcmp(a->payload, b->payload) == 0);
    CHECK(fuzz_streq(a->idempotency_key, b->idempotency_key));
    CHECK(a->ndepends == b->ndepends);
    for (size_t j = 0; j < a->ndepends; j++)
        CHECK(a->depends_on[j] == b->depends_on[j]);
}

static void s_submit_again(const proto_jobspec_t *s, size_t n, const proto_limits_t *lim)
{
    strbuf_t sb;
    strbuf_init(&sb);
    proto_jobs_open(&sb);
    for (size_t i = 0; i < n; i++)
        proto_submit_add(&sb, &s[i]);
    proto_jobs_close(&sb);
    json_t *again = fuzz_load(&sb, true);
    proto_jobspec_t *g = NULL;
    size_t m = 0;
    char err[FUZZ_ERRLEN] = "";
    CHECK(proto_submit_parse(again, lim, &g, &m, err, sizeof err) == 0 && m == n);
    for (size_t i = 0; i < n; i++)
        s_same_spec(&s[i], &g[i]);
    proto_jobspecs_free(g, m);
    json_decref(again);
    strbuf_fini(&sb);
}

static void s_submit(const json_t *body, const proto_limits_t *lim)
{
    char err[FUZZ_ERRLEN] = "";
    proto_jobspec_t *s = NULL;
    size_t n = 0;
    int rc = proto_submit_parse(body, lim, &s, &n, err, sizeof err);
    if (rc != 0) {
        fuzz_check_err(rc, err);
        CHECK(s == NULL && n == 0);
        static const char cyc[] = ".depends_on: dependency cycle within the batch";
        size_t len = strlen(err);
        if (len >= sizeof cyc - 1 && strcmp(err + len - (sizeof cyc - 1), cyc) == 0)
            s_check_cycle(body, lim);
        return;
    }
    CHECK(n >= 1 && n <= lim->max_batch_jobs);
    for (size_t i = 0; i < n; i++) {
        CHECK(proto_name_valid(s[i].queue) && proto_name_valid(s[i].type));
        CHECK(s[i].priority >= -1 && s[i].priority <= PROTO_MAX_PRIORITY);
        CHECK(s[i].max_attempts >= 0 && s[i].max_attempts <= PROTO_MAX_ATTEMPTS);
        CHECK(s[i].timeout_ms >= 0 && s[i].timeout_ms <= INT32_MAX);
        CHECK(s[i].run_at_us >= 0 && s[i].delay_ms >= -1);
        CHECK(s[i].payload && strlen(s[i].payload) == s[i].payload_len);
        CHECK(s[i].payload_len <= lim->max_payload_bytes);
        CHECK(!s[i].idempotency_key || (strlen(s[i].idempotency_key) >= 1 &&
                                        strlen(s[i].idempotency_key) <= PROTO_IDEMPOTENCY_KEY_MAX));
        CHECK(s[i].ndepends <= PROTO_MAX_DEPENDS &&
              (s[i].ndepends == 0) == (s[i].depends_on == NULL));
        for (size_t j = 0; j < s[i].ndepends; j++) {
            int64_t d = s[i].depends_on[j];
            CHECK(d != 0);
            CHECK(d > 0 || ((uint64_t)-d <= n && (size_t)-d != i + 1));
        }
    }
    CHECK(s_acyclic(s, n));
    /* proto_jobspec_parse on the same job objects must agree */
    const json_t *arr = json_object_get(body, "jobs");
    proto_jobspec_t one;
    CHECK(proto_jobspec_parse(json_array_get(arr, 0), lim, &one, err, sizeof err) == 0);
    CHECK(strcmp(one.queue, s[0].queue) == 0 && strcmp(one.payload, s[0].payload) == 0);
    proto_jobspec_fini(&one);
    s_submit_again(s, n, lim);
    proto_jobspecs_free(s, n);
}

/* SUBMIT's tree-free path takes only bodies the jansson path accepts, and
 * reads them as it does (body: that path's tree, NULL when it refused). */
void fuzz_submit_scan(const proto_frame_t *f, const json_t *body, const proto_limits_t *lim)
{
    proto_jobspec_t *s = NULL, *r = NULL;
    size_t n = 0, m = 0;
    char *req = NULL;
    if (!proto_submit_scan(f->data, f->size, lim, &s, &n, &req)) {
        CHECK(s == NULL && n == 0 && req == NULL);
        return;
    }
    char err[FUZZ_ERRLEN] = "";
    CHECK(body != NULL);
    CHECK(proto_submit_parse(body, lim, &r, &m, err, sizeof err) == 0 && m == n);
    for (size_t i = 0; i < n; i++) {
        s_same_spec(&s[i], &r[i]);
        CHECK(fuzz_streq(s[i].tenant, r[i].tenant));
    }
    char *want = proto_req_dump(body);
    CHECK(fuzz_streq(req, want));
    free(want);
    free(req);
    proto_jobspecs_free(s, n);
    proto_jobspecs_free(r, m);
}

/* ---- GET, LIST, CANCEL/RETRY, PAUSE/RESUME ---- */

static void s_small_requests(const json_t *body)
{
    char err[FUZZ_ERRLEN] = "";
    strbuf_t sb;
    strbuf_init(&sb);
    proto_get_t g, g2;
    int rc = proto_get_parse(body, &g, err, sizeof err);
    if (rc != 0) {
        fuzz_check_err(rc, err);
    } else {
        CHECK(g.id >= 1);
        proto_get_encode(&sb, &g);
        json_t *again = fuzz_load(&sb, true);
        CHECK(proto_get_parse(again, &g2, err, sizeof err) == 0);
        CHECK(g2.id == g.id && g2.history == g.history);
        json_decref(again);
    }
    err[0] = '\0';
    int64_t id = 0, id2 = 0;
    rc = proto_jobid_parse(body, &id, err, sizeof err);
    if (rc != 0) {
        fuzz_check_err(rc, err);
    } else {
        CHECK(id >= 1);
        strbuf_reset(&sb);
        proto_jobid_encode(&sb, id);
        json_t *again = fuzz_load(&sb, true);
        CHECK(proto_jobid_parse(again, &id2, err, sizeof err) == 0 && id2 == id);
        json_decref(again);
    }
    err[0] = '\0';
    char *q = NULL, *q2 = NULL;
    rc = proto_queue_parse(body, &q, err, sizeof err);
    if (rc != 0) {
        fuzz_check_err(rc, err);
        CHECK(q == NULL);
    } else {
        CHECK(proto_name_valid(q));
        strbuf_reset(&sb);
        proto_queue_encode(&sb, q);
        json_t *again = fuzz_load(&sb, true);
        CHECK(proto_queue_parse(again, &q2, err, sizeof err) == 0 && strcmp(q, q2) == 0);
        json_decref(again);
    }
    free(q);
    free(q2);
    strbuf_fini(&sb);
}

static void s_list(const json_t *body)
{
    char err[FUZZ_ERRLEN] = "";
    proto_list_t l, l2;
    int rc = proto_list_parse(body, &l, err, sizeof err);
    if (rc != 0) {
        fuzz_check_err(rc, err);
        CHECK(l.queue == NULL);
        return;
    }
    CHECK(l.state >= -1 && l.state < PROTO_NSTATES);
    CHECK(!l.queue || proto_name_valid(l.queue));
    CHECK(l.limit >= 0 && l.limit <= PROTO_LIST_MAX_LIMIT);
    strbuf_t sb;
    strbuf_init(&sb);
    proto_list_encode(&sb, &l);
    json_t *again = fuzz_load(&sb, true);
    CHECK(proto_list_parse(again, &l2, err, sizeof err) == 0);
    CHECK(l2.state == l.state && l2.limit == l.limit && fuzz_streq(l2.queue, l.queue));
    proto_list_fini(&l2);
    json_decref(again);
    strbuf_fini(&sb);
    proto_list_fini(&l);
}

static void s_schedules(const json_t *body, const proto_limits_t *lim)
{
    char err[FUZZ_ERRLEN] = "";
    proto_sched_req_t s, g;
    int rc = proto_sched_req_parse(body, lim, &s, err, sizeof err);
    if (rc != 0) {
        fuzz_check_err(rc, err);
        CHECK(s.name == NULL && s.cron == NULL && s.payload == NULL);
        return;
    }
    CHECK(proto_sched_action_name(s.action) != NULL);
    CHECK((s.action == PROTO_SCHED_LIST) == (s.name == NULL));
    CHECK(!s.name || proto_name_valid(s.name));
    if (s.action == PROTO_SCHED_ADD) {
        CHECK(s.cron && strlen(s.cron) <= PROTO_CRON_MAX && fuzz_utf8_ok(s.cron));
        CHECK(proto_name_valid(s.queue) && proto_name_valid(s.type));
        CHECK(s.payload && strlen(s.payload) <= lim->max_payload_bytes);
        CHECK(s.priority >= -1 && s.priority <= PROTO_MAX_PRIORITY);
        CHECK(s.max_attempts >= 0 && s.max_attempts <= PROTO_MAX_ATTEMPTS);
    } else {
        CHECK(!s.cron && !s.queue && !s.type && !s.payload && !s.paused);
    }
    strbuf_t sb;
    strbuf_init(&sb);
    proto_sched_req_encode(&sb, &s);
    json_t *again = fuzz_load(&sb, true);
    CHECK(proto_sched_req_parse(again, lim, &g, err, sizeof err) == 0);
    CHECK(g.action == s.action && fuzz_streq(g.name, s.name) && fuzz_streq(g.cron, s.cron));
    CHECK(fuzz_streq(g.queue, s.queue) && fuzz_streq(g.type, s.type));
    CHECK(fuzz_streq(g.payload, s.payload) && g.priority == s.priority);
    CHECK(g.max_attempts == s.max_attempts && g.paused == s.paused);
    proto_sched_req_fini(&g);
    json_decref(again);
    strbuf_fini(&sb);
    proto_sched_req_fini(&s);
}

/* ---- REPLY ---- */

static void s_reply_again(const proto_reply_t *r)
{
    char err[FUZZ_ERRLEN] = "";
    strbuf_t sb;
    strbuf_init(&sb);
    proto_reply_t g;
    if (r->has_ids) {
        proto_reply_ids(&sb, r->ids, r->existing, r->nids, "[\"req\",1]");
        json_t *again = fuzz_load(&sb, true);
        CHECK(proto_reply_parse(again, &g, err, sizeof err) == 0);
        CHECK(g.status == PROTO_STATUS_OK && g.has_ids && g.nids == r->nids);
        CHECK((g.existing == NULL) == (r->existing == NULL));
        for (size_t i = 0; i < r->nids; i++)
            CHECK(g.ids[i] == r->ids[i] && (!g.existing || g.existing[i] == r->existing[i]));
        CHECK(json_is_array(json_object_get(again, "req")));
        proto_reply_fini(&g);
        json_decref(again);
    }
    if (r->error) {
        proto_reply_error(&sb, r->status, r->error, NULL);
        json_t *again = fuzz_load(&sb, true);
        CHECK(proto_reply_parse(again, &g, err, sizeof err) == 0);
        CHECK(g.status == r->status && g.error && strlen(g.error) <= PROTO_ERROR_MAX);
        proto_reply_fini(&g);
        json_decref(again);
    }
    strbuf_fini(&sb);
}

static void s_reply(const json_t *body)
{
    char err[FUZZ_ERRLEN] = "";
    proto_reply_t r;
    int rc = proto_reply_parse(body, &r, err, sizeof err);
    if (rc != 0) {
        fuzz_check_err(rc, err);
        CHECK(r.error == NULL && r.ids == NULL && r.existing == NULL);
        return;
    }
    CHECK(r.status >= 100 && r.status <= 599);
    CHECK(!r.error || fuzz_utf8_ok(r.error));
    CHECK(r.has_ids || (r.nids == 0 && !r.existing));
    for (size_t i = 0; i < r.nids; i++)
        CHECK(r.ids[i] >= 1);
    s_reply_again(&r);
    proto_reply_fini(&r);

    /* STATS: every queue the body lists */
    const json_t *queues = json_object_get(body, "queues");
    const char *name;
    const json_t *v;
    json_object_foreach ((json_t *)queues, name, v) {
        proto_queue_counts_t c;
        err[0] = '\0';
        rc = proto_reply_stats_queue(body, name, &c, err, sizeof err);
        if (rc < 0) {
            fuzz_check_err(rc, err);
            continue;
        }
        CHECK(rc == 1);
        for (int s = 0; s < PROTO_NSTATES; s++)
            CHECK(c.counts[s] >= 0);
        strbuf_t sb;
        strbuf_init(&sb);
        proto_reply_stats(&sb, &name, &c, 1, true, NULL);
        json_t *again = fuzz_load(&sb, true);
        proto_queue_counts_t c2;
        CHECK(proto_reply_stats_queue(again, name, &c2, err, sizeof err) == 1);
        CHECK(memcmp(&c, &c2, sizeof c) == 0);
        json_decref(again);
        strbuf_fini(&sb);
    }
}

/* ---- event bodies ---- */

static void s_event(const json_t *body)
{
    char err[FUZZ_ERRLEN] = "";
    proto_event_t e, g;
    int rc = proto_event_parse(body, &e, err, sizeof err);
    if (rc != 0) {
        fuzz_check_err(rc, err);
        CHECK(e.body == NULL);
        return;
    }
    CHECK(e.id >= 1 && e.attempt >= 0 && e.at_us >= 0);
    CHECK(proto_name_valid(e.queue) && proto_name_valid(e.type));
    CHECK(proto_state_index(e.state) >= 0 && e.event[0] != '\0');
    strbuf_t sb;
    strbuf_init(&sb);
    proto_event_encode(&sb, &e);
    json_t *again = fuzz_load(&sb, true);
    CHECK(proto_event_parse(again, &g, err, sizeof err) == 0);
    CHECK(json_equal(again, body));
    proto_event_fini(&g);
    json_decref(again);
    strbuf_fini(&sb);
    proto_event_fini(&e);
}

void fuzz_client_bodies(const json_t *body, const proto_limits_t *lim)
{
    s_submit(body, lim);
    s_small_requests(body);
    s_list(body);
    s_schedules(body, lim);
    s_reply(body);
    s_event(body);
}
