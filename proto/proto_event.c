/* Event stream bodies (ORCHE1). The coordinator encodes one per committed
 * state change, only while someone subscribes; watchers decode them. */
#include "orch_error.h"
#include "proto.h"
#include "proto_field.h"

#include <string.h>

static const char *const s_keys[] = {"id",     "queue",    "type",   "event", "state", "attempt",
                                     "at_us", "worker",  "event_id", "tenant", NULL};

static bool s_plain(const json_t *v)
{
    return json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v);
}

/* A string member checked by ok(); borrowed from the body. */
static int s_str(const proto_fctx_t *c, const json_t *body, const char *key, bool required,
                 bool (*ok)(const char *), const char *what, const char **out)
{
    const json_t *v = json_object_get(body, key);
    *out = NULL;
    if (!v)
        return required ? proto_ffail(c, ORCH_EPROTO, key, "is required") : 0;
    if (!s_plain(v) || !ok(json_string_value(v)))
        return proto_ffail(c, ORCH_EPROTO, key, "must be %s", what);
    *out = json_string_value(v);
    return 1;
}

static bool s_event_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > PROTO_EVENT_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_'))
            return false;
    return true;
}

static bool s_state(const char *s)
{
    return proto_state_index(s) >= 0;
}

static bool s_worker(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= PROTO_NAME_MAX;
}

static int s_fields(const proto_fctx_t *c, const json_t *body, proto_event_t *out)
{
    static const char name[] = "a name of 1..64 characters from [A-Za-z0-9_.:-]";
    int64_t attempt = 0;
    int rc;
    if ((rc = proto_fint(c, body, "id", 1, INT64_MAX, true, &out->id)) < 0 ||
        (rc = s_str(c, body, "queue", true, proto_name_valid, name, &out->queue)) < 0 ||
        (rc = s_str(c, body, "type", true, proto_name_valid, name, &out->type)) < 0 ||
        (rc = s_str(c, body, "event", true, s_event_name, "1..32 characters of [a-z_]",
                    &out->event)) < 0 ||
        (rc = s_str(c, body, "state", true, s_state, "a job state", &out->state)) < 0 ||
        (rc = proto_fint(c, body, "attempt", 0, INT32_MAX, true, &attempt)) < 0 ||
        (rc = proto_fint(c, body, "at_us", 0, INT64_MAX, true, &out->at_us)) < 0 ||
        (rc = s_str(c, body, "worker", false, s_worker, "a string of 1..64 bytes", &out->worker)) <
            0 ||
        (rc = proto_fint(c, body, "event_id", 1, INT64_MAX, false, &out->event_id)) < 0 ||
        (rc = s_str(c, body, "tenant", false, proto_name_valid, name, &out->tenant)) < 0)
        return rc;
    out->attempt = (int)attempt;
    return 0;
}

int proto_event_parse(const json_t *body, proto_event_t *out, char *err, size_t errlen)
{
    proto_fctx_t c = {.err = err, .errlen = errlen};
    memset(out, 0, sizeof *out);
    if (!json_is_object(body)) {
        proto_errf(err, errlen, "body is not a JSON object");
        return ORCH_EPROTO;
    }
    int rc = proto_fkeys(&c, body, s_keys, false);
    if (rc == 0)
        rc = s_fields(&c, body, out);
    if (rc < 0) {
        memset(out, 0, sizeof *out);
        return rc;
    }
    out->body = json_incref((json_t *)body);
    return 0;
}

static bool s_frame_is(const proto_frame_t *f, const char *s)
{
    return f->size == strlen(s) && memcmp(f->data, s, f->size) == 0;
}

static int s_load(const proto_limits_t *lim, const proto_frame_t *f, json_t **body, char *err,
                  size_t errlen)
{
    if (f->size > lim->max_body_bytes) {
        proto_errf(err, errlen, "body is %zu bytes, limit %zu", f->size, lim->max_body_bytes);
        return ORCH_ETOOBIG;
    }
    json_error_t jerr;
    *body = json_loadb(f->data, f->size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!*body) {
        char text[sizeof jerr.text * 4];
        proto_printable(text, sizeof text, jerr.text);
        proto_errf(err, errlen, "body is not valid json: %s", text);
        return ORCH_EPROTO;
    }
    return 0;
}

int proto_event_decode(const proto_limits_t *lim, const proto_frame_t *frames, size_t nframes,
                       proto_event_t *out, char *err, size_t errlen)
{
    proto_limits_t def;
    json_t *body = NULL;

    memset(out, 0, sizeof *out);
    if (!lim) {
        proto_limits_default(&def);
        lim = &def;
    }
    if (!frames || nframes != 3) {
        proto_errf(err, errlen, "not 3 frames");
        return ORCH_EPROTO;
    }
    if (!s_frame_is(&frames[1], PROTO_EVENT_V1)) {
        proto_errf(err, errlen, "unknown protocol frame");
        return ORCH_EPROTO;
    }
    int rc = s_load(lim, &frames[2], &body, err, errlen);
    if (rc == 0)
        rc = proto_event_parse(body, out, err, errlen);
    json_decref(body); /* out holds its own reference */
    if (rc == 0 && !s_frame_is(&frames[0], out->queue)) {
        char q[PROTO_QUOTE_BUF];
        proto_quote(q, sizeof q, frames[0].data, frames[0].size);
        proto_errf(err, errlen, "topic \"%s\" is not the event's queue", q);
        proto_event_fini(out);
        rc = ORCH_EPROTO;
    }
    return rc;
}

void proto_event_fini(proto_event_t *e)
{
    if (!e)
        return;
    json_decref(e->body);
    memset(e, 0, sizeof *e);
}

void proto_event_encode(strbuf_t *sb, const proto_event_t *e)
{
    strbuf_append(sb, "{\"id\":", 6);
    strbuf_put_i64(sb, e->id);
    strbuf_append(sb, ",\"queue\":", 9);
    proto_put_string(sb, e->queue, strlen(e->queue));
    strbuf_append(sb, ",\"type\":", 8);
    proto_put_string(sb, e->type, strlen(e->type));
    strbuf_append(sb, ",\"event\":", 9);
    proto_put_string(sb, e->event, strlen(e->event));
    strbuf_append(sb, ",\"state\":", 9);
    proto_put_string(sb, e->state, strlen(e->state));
    strbuf_append(sb, ",\"attempt\":", 11);
    strbuf_put_i64(sb, e->attempt);
    strbuf_append(sb, ",\"at_us\":", 9);
    strbuf_put_i64(sb, e->at_us);
    if (e->worker) {
        strbuf_append(sb, ",\"worker\":", 10);
        proto_put_string(sb, e->worker, strlen(e->worker));
    }
    if (e->event_id > 0) {
        strbuf_append(sb, ",\"event_id\":", 12);
        strbuf_put_i64(sb, e->event_id);
    }
    if (e->tenant) {
        strbuf_append(sb, ",\"tenant\":", 10);
        proto_put_string(sb, e->tenant, strlen(e->tenant));
    }
    strbuf_putc(sb, '}');
}
