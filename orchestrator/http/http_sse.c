/* GET /v1/events: Server-Sent Events, resumable. Each event is
 *   id: <audit row id>\ndata: <event stream body>\n\n
 * With Last-Event-ID (or ?after=) the stream first replays what the client
 * missed from job_events (EVENTS requests to the loop, a page at a time),
 * holding live events meanwhile, then goes live: every committed change
 * after the given id is sent exactly once, in id order.
 *
 * A stream's output is buffered here and handed to libmicrohttpd by a
 * content reader that suspends the connection when the buffer is empty;
 * new output resumes it. A client that falls more than S_MAX_BUFFERED
 * behind is disconnected (it reconnects and resumes from the database
 * instead of making us buffer without bound). */
#include "clock.h"
#include "http_int.h"
#include "log.h"
#include "orch_error.h"
#include "proto.h"
#include "proto_io.h"
#include "xalloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define S_MAX_BUFFERED (4 * 1024 * 1024)
#define S_KEEPALIVE_MS 15000
#define S_MAX_QUEUES 16
#define S_REPLAY_PAGE 1000

typedef struct {
    int64_t id;
    char *frame; /* "id: ...\ndata: ...\n\n" */
} s_held_t;

struct http_sse {
    http_t *h;
    struct MHD_Connection *conn;
    int token;
    uint64_t num;            /* EVENTS requests of the replay */
    strbuf_t out;
    size_t off;              /* sent part of out */
    bool suspended, closed, live;
    char *queues[S_MAX_QUEUES];
    size_t nqueues;
    char *type;
    char *tenant;            /* ?tenant=, or the token's when it is scoped to one */
    int64_t job;
    int64_t last;            /* events up to here were sent (or scanned by the replay) */
    s_held_t *held;          /* live events that arrived during the replay */
    size_t nheld, capheld;
    http_sse_t *prev, *next;
};

/* ---- output ---- */

static void s_wake(http_sse_t *s)
{
    if (s->suspended) {
        s->suspended = false;
        MHD_resume_connection(s->conn);
    }
}

static void s_close(http_sse_t *s, const char *why)
{
    if (s->closed)
        return;
    if (why) {
        strbuf_puts(&s->out, "event: error\ndata: ");
        strbuf_put_json_string(&s->out, why, strlen(why));
        strbuf_puts(&s->out, "\n\n");
    }
    s->closed = true;
    s_wake(s);
}

static void s_emit(http_sse_t *s, const char *frame, size_t len)
{
    if (s->closed)
        return;
    if (s->out.len - s->off + len > S_MAX_BUFFERED) {
        /* drop what the client has not read: it resumes from its last id */
        strbuf_reset(&s->out);
        s->off = 0;
        s_close(s, "the client fell too far behind; reconnect with Last-Event-ID");
        return;
    }
    strbuf_append(&s->out, frame, len);
    s_wake(s);
}

static ssize_t s_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    http_sse_t *s = cls;
    size_t avail = s->out.len - s->off;
    if (avail == 0) {
        if (s->closed)
            return MHD_CONTENT_READER_END_OF_STREAM;
        s->suspended = true;
        MHD_suspend_connection(s->conn);
        return 0;
    }
    size_t n = avail < max ? avail : max;
    memcpy(buf, s->out.data + s->off, n);
    s->off += n;
    if (s->off == s->out.len) {
        strbuf_reset(&s->out);
        s->off = 0;
    }
    return (ssize_t)n;
}

static void s_unsubscribe_if_last(http_t *h)
{
    if (!h->streams)
        zmq_setsockopt(h->sub, ZMQ_UNSUBSCRIBE, "", 0);
}

/* libmicrohttpd is done with the response: the stream goes. */
static void s_free(void *cls)
{
    http_sse_t *s = cls;
    http_t *h = s->h;
    if (s->prev)
        s->prev->next = s->next;
    else if (h->streams == s)
        h->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    h->nstreams--;
    if (s->num)
        hmap_i64_remove(h->replays, (int64_t)s->num);
    for (size_t i = 0; i < s->nqueues; i++)
        free(s->queues[i]);
    free(s->type);
    free(s->tenant);
    for (size_t i = 0; i < s->nheld; i++)
        free(s->held[i].frame);
    free(s->held);
    strbuf_fini(&s->out);
    free(s);
    s_unsubscribe_if_last(h);
}

/* ---- filters ---- */

/* tenant: the event's (NULL: "default"). The replay's pages come filtered
 * by the loop already (s_request_page); checked again all the same. */
static bool s_wanted(const http_sse_t *s, const char *queue, const char *type, int64_t job,
                     const char *tenant)
{
    if (s->job && job != s->job)
        return false;
    if (s->tenant && strcmp(s->tenant, tenant ? tenant : "default") != 0)
        return false;
    if (s->type && (!type || strcmp(type, s->type)))
        return false;
    if (s->nqueues == 0)
        return true;
    for (size_t i = 0; i < s->nqueues; i++)
        if (queue && strcmp(queue, s->queues[i]) == 0)
            return true;
    return false;
}

static void s_frame(strbuf_t *sb, int64_t id, const char *data, size_t len)
{
    strbuf_reset(sb);
    strbuf_printf(sb, "id: %lld\ndata: ", (long long)id);
    strbuf_append(sb, data, len);
    strbuf_puts(sb, "\n\n");
}

/* ---- replay ---- */

static void s_request_page(http_sse_t *s)
{
    json_t *b = json_pack("{s:I, s:i}", "after", (json_int_t)s->last, "limit", S_REPLAY_PAGE);
    if (s->nqueues == 1)
        json_object_set_new(b, "queue", json_string(s->queues[0]));
    if (s->type)
        json_object_set_new(b, "type", json_string(s->type));
    if (s->job)
        json_object_set_new(b, "job", json_integer(s->job));
    if (s->tenant)
        json_object_set_new(b, "tenant", json_string(s->tenant));
    if (http_send_command(s->h, s->num, s->token, PROTO_C_EVENTS, b) != ORCH_OK)
        s_close(s, "could not reach the coordinator's loop");
    json_decref(b);
}

static void s_go_live(http_sse_t *s)
{
    for (size_t i = 0; i < s->nheld; i++) {
        if (s->held[i].id > s->last) {
            s_emit(s, s->held[i].frame, strlen(s->held[i].frame));
            s->last = s->held[i].id;
        }
        free(s->held[i].frame);
    }
    s->nheld = 0;
    s->live = true;
    hmap_i64_remove(s->h->replays, (int64_t)s->num);
    s->num = 0;
}

void http_sse_on_reply(http_sse_t *s, const char *body, size_t len)
{
    json_t *doc = json_loadb(body, len, 0, NULL);
    json_t *st = json_object_get(doc, "status");
    if (!json_is_integer(st) || json_integer_value(st) != 200) {
        const char *e = json_string_value(json_object_get(doc, "error"));
        s_close(s, e ? e : "could not replay the missed events");
        json_decref(doc);
        return;
    }
    strbuf_t sb;
    strbuf_init(&sb);
    size_t i;
    json_t *ev;
    json_array_foreach (json_object_get(doc, "events"), i, ev) {
        int64_t id = json_integer_value(json_object_get(ev, "event_id"));
        if (id <= s->last ||
            !s_wanted(s, json_string_value(json_object_get(ev, "queue")),
                      json_string_value(json_object_get(ev, "type")),
                      json_integer_value(json_object_get(ev, "id")),
                      json_string_value(json_object_get(ev, "tenant"))))
            continue;
        char *text = json_dumps(ev, JSON_COMPACT);
        s_frame(&sb, id, text, strlen(text));
        free(text);
        s_emit(s, sb.data, sb.len);
    }
    strbuf_fini(&sb);
    int64_t last = json_integer_value(json_object_get(doc, "last"));
    if (last > s->last)
        s->last = last;
    bool more = json_is_true(json_object_get(doc, "more"));
    json_decref(doc);
    if (s->closed)
        return;
    if (more)
        s_request_page(s);
    else
        s_go_live(s);
}

/* ---- live events ---- */

void http_sse_on_events(http_t *h)
{
    strbuf_t sb;
    strbuf_init(&sb);
    for (int n = 0; n < 4096; n++) {
        proto_rawmsg_t m;
        if (proto_recv_raw(h->sub, ZMQ_DONTWAIT, false, &m) != ORCH_OK)
            break;
        proto_frame_t frames[PROTO_MAX_PARTS];
        size_t nf = proto_rawmsg_frames(&m, frames, PROTO_MAX_PARTS);
        proto_event_t ev;
        char err[128];
        if (nf == 3 && proto_event_decode(NULL, frames, nf, &ev, err, sizeof err) == ORCH_OK) {
            s_frame(&sb, ev.event_id, frames[2].data, frames[2].size);
            for (http_sse_t *s = h->streams; s; s = s->next) {
                if (s->closed || !s_wanted(s, ev.queue, ev.type, ev.id, ev.tenant))
                    continue;
                if (s->live) {
                    if (ev.event_id > s->last) {
                        s_emit(s, sb.data, sb.len);
                        s->last = ev.event_id;
                    }
                } else if (ev.event_id > s->last) {
                    if (s->nheld == s->capheld) {
                        s->capheld = s->capheld ? 2 * s->capheld : 64;
                        s->held = xrealloc(s->held, s->capheld * sizeof *s->held);
                    }
                    s->held[s->nheld++] = (s_held_t){ev.event_id, xstrdup(sb.data)};
                }
            }
            proto_event_fini(&ev);
        }
        proto_rawmsg_close(&m);
    }
    strbuf_fini(&sb);
}

void http_sse_tick(http_t *h)
{
    int64_t now = clock_mono_ms();
    if (now < h->next_keepalive_ms)
        return;
    h->next_keepalive_ms = now + S_KEEPALIVE_MS;
    /* a comment line: keeps proxies from closing an idle stream, and a
     * write is how a vanished client is noticed */
    for (http_sse_t *s = h->streams; s; s = s->next)
        s_emit(s, ":\n\n", 3);
}

void http_sse_close_all(http_t *h)
{
    for (http_sse_t *s = h->streams; s; s = s->next)
        s_close(s, NULL);
}

/* ---- start ---- */

typedef struct {
    http_sse_t *s;
    char *err;
    size_t errlen;
    const char *scope; /* the token's tenant, NULL when it has none */
} s_args_t;

static enum MHD_Result s_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                             const char *value)
{
    (void)kind;
    s_args_t *a = cls;
    http_sse_t *s = a->s;
    if (a->err[0])
        return MHD_NO;
    if (!value)
        value = "";
    if (strcmp(key, "queue") == 0) {
        if (!proto_name_valid(value) || s->nqueues == S_MAX_QUEUES)
            snprintf(a->err, a->errlen,
                     "queue: must be a name of 1..64 characters [A-Za-z0-9_.:-], at most %d",
                     S_MAX_QUEUES);
        else
            s->queues[s->nqueues++] = xstrdup(value);
    } else if (strcmp(key, "type") == 0) {
        if (!proto_name_valid(value) || s->type)
            snprintf(a->err, a->errlen, "type: must be one name of 1..64 characters");
        else
            s->type = xstrdup(value);
    } else if (strcmp(key, "tenant") == 0) {
        if (!proto_name_valid(value) || s->tenant)
            snprintf(a->err, a->errlen, "tenant: must be one name of 1..64 characters");
        else if (a->scope && strcmp(a->scope, value) != 0)
            snprintf(a->err, a->errlen, "tenant: this token acts for tenant \"%s\" only",
                     a->scope);
        else
            s->tenant = xstrdup(value);
    } else if (strcmp(key, "job") == 0) {
        char *end = NULL;
        long long v = strtoll(value, &end, 10);
        if (!*value || *end || v < 1)
            snprintf(a->err, a->errlen, "job: must be a job id >= 1");
        else
            s->job = v;
    } else if (strcmp(key, "after") != 0) {
        snprintf(a->err, a->errlen,
                 "unknown query parameter \"%.64s\" (the filters are queue, type, job, tenant "
                 "and after)",
                 key);
    }
    return MHD_YES;
}

enum MHD_Result http_sse_start(http_t *h, struct MHD_Connection *conn, int token,
                               int64_t after, char *err, size_t errlen)
{
    http_sse_t *s = xcalloc(1, sizeof *s);
    s->h = h;
    s->conn = conn;
    s->token = token;
    strbuf_init(&s->out);
    /* a token scoped to a tenant sees that tenant's events only */
    const char *scope = token >= 0 && (size_t)token < h->cfg->ntokens
                            ? h->cfg->tokens[token].tenant
                            : NULL;
    s_args_t a = {s, err, errlen, scope};
    err[0] = '\0';
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, s_arg, &a);
    if (!err[0] && scope && !s->tenant)
        s->tenant = xstrdup(scope);
    if (err[0]) {
        s->h = h;
        for (size_t i = 0; i < s->nqueues; i++)
            free(s->queues[i]);
        free(s->type);
        free(s->tenant);
        strbuf_fini(&s->out);
        free(s);
        return MHD_YES;
    }
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, s_read, s, s_free);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    /* subscribe before asking for the replay: every event committed after
     * this either arrives live or is in the replay's snapshot */
    if (!h->streams)
        zmq_setsockopt(h->sub, ZMQ_SUBSCRIBE, "", 0);
    s->next = h->streams;
    if (h->streams)
        h->streams->prev = s;
    h->streams = s;
    h->nstreams++;
    strbuf_puts(&s->out, "retry: 2000\n\n");
    s->last = after > 0 ? after : 0;
    if (after >= 0) {
        s->num = h->next_num++;
        hmap_i64_put(h->replays, (int64_t)s->num, s);
        s_request_page(s);
    } else {
        s->live = true;
    }
    enum MHD_Result rc = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return rc;
}
