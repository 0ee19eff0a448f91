#include "ctl_format.h"
#include "clock.h"
#include "ctl_time.h"
#include "strbuf.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- values ---- */

/* Control characters from the server must not drive the terminal. UTF-8
 * above 0x7f passes through unchanged. */
static void s_put_escaped(strbuf_t *sb, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            strbuf_puts(sb, "\\n");
        else if (c == '\t')
            strbuf_puts(sb, "\\t");
        else if (c == '\r')
            strbuf_puts(sb, "\\r");
        else if (c < 0x20 || c == 0x7f)
            strbuf_printf(sb, "\\x%02x", c);
        else
            strbuf_putc(sb, (char)c);
    }
}

char *ctl_format_value(const json_t *v)
{
    strbuf_t sb;
    strbuf_init(&sb);
    if (!v || json_is_null(v)) {
        strbuf_putc(&sb, '-');
    } else if (json_is_string(v)) {
        s_put_escaped(&sb, json_string_value(v), json_string_length(v));
    } else if (json_is_integer(v)) {
        strbuf_put_i64(&sb, (int64_t)json_integer_value(v));
    } else if (json_is_real(v)) {
        strbuf_printf(&sb, "%g", json_real_value(v));
    } else if (json_is_boolean(v)) {
        strbuf_puts(&sb, json_is_true(v) ? "true" : "false");
    } else {
        char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (text)
            s_put_escaped(&sb, text, strlen(text));
        free(text);
    }
    return strbuf_detach(&sb);
}

static char *s_field(const json_t *obj, const char *key)
{
    return ctl_format_value(json_object_get(obj, key));
}

static char *s_yes_no(const json_t *v)
{
    if (json_is_boolean(v))
        return xstrdup(json_is_true(v) ? "yes" : "no");
    return ctl_format_value(v);
}

/* Characters on screen, counting each UTF-8 sequence once. */
static size_t s_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++) {
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    }
    return w;
}

/* Cuts s in place to at most max characters, ending in "..." when cut;
 * never splits a UTF-8 sequence. */
static void s_truncate(char *s, size_t max)
{
    if (s_width(s) <= max || max < 4)
        return;
    size_t chars = 0;
    char *p = s;
    for (; *p; p++) {
        if (((unsigned char)*p & 0xc0) != 0x80 && chars++ == max - 3)
            break;
    }
    strcpy(p, "...");
}

static char *s_time_us(const json_t *v)
{
    if (!json_is_integer(v))
        return ctl_format_value(v);
    time_t secs = (time_t)(json_integer_value(v) / 1000000);
    struct tm tm;
    char buf[32];
    if (!gmtime_r(&secs, &tm) || strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return ctl_format_value(v);
    return xstrdup(buf);
}

/* Last contact: "last_seen_us" per PROTOCOL.md; a coordinator that sends
 * only "idle_ms" (time since then) gets it converted the same way. */
static char *s_last_seen(const json_t *w)
{
    const json_t *seen = json_object_get(w, "last_seen_us");
    const json_t *idle = json_object_get(w, "idle_ms");
    if (!seen && json_is_integer(idle)) {
        json_t *at = json_integer(clock_real_us() - json_integer_value(idle) * 1000);
        char *text = s_time_us(at);
        json_decref(at);
        return text;
    }
    return s_time_us(seen);
}

/* ---- tables ---- */

#define S_TABLE_MAX_COLS 12

typedef struct {
    size_t ncols;
    const char *heads[S_TABLE_MAX_COLS];
    bool right[S_TABLE_MAX_COLS]; /* numbers align right */
    char **cells;                 /* nrows * ncols, owned */
    size_t nrows;
    size_t cap;
} s_table_t;

static void s_table_init(s_table_t *t, const char *const *heads, const bool *right, size_t ncols)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
    for (size_t i = 0; i < ncols; i++) {
        t->heads[i] = heads[i];
        t->right[i] = right[i];
    }
}

/* Appends a row and returns its cells for the caller to fill (ownership
 * of each cell passes to the table). */
static char **s_table_row(s_table_t *t)
{
    if (t->nrows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->cells = xrealloc(t->cells, t->cap * t->ncols * sizeof *t->cells);
    }
    char **row = t->cells + t->nrows * t->ncols;
    memset(row, 0, t->ncols * sizeof *row);
    t->nrows++;
    return row;
}

static void s_put_cell(FILE *out, const char *text, size_t width, bool right, bool last)
{
    size_t pad = width - s_width(text);
    if (right)
        fprintf(out, "%*s", (int)pad, "");
    fputs(text, out);
    if (!right && !last)
        fprintf(out, "%*s", (int)pad, "");
    if (!last)
        fputs("  ", out);
}

/* indent: spaces before every line (a table nested under a heading). */
static void s_table_print(FILE *out, s_table_t *t, int indent)
{
    size_t width[S_TABLE_MAX_COLS];
    for (size_t c = 0; c < t->ncols; c++) {
        width[c] = s_width(t->heads[c]);
        for (size_t r = 0; r < t->nrows; r++) {
            size_t w = s_width(t->cells[r * t->ncols + c]);
            width[c] = w > width[c] ? w : width[c];
        }
    }
    fprintf(out, "%*s", indent, "");
    for (size_t c = 0; c < t->ncols; c++)
        s_put_cell(out, t->heads[c], width[c], t->right[c], c + 1 == t->ncols);
    fputc('\n', out);
    for (size_t r = 0; r < t->nrows; r++) {
        fprintf(out, "%*s", indent, "");
        for (size_t c = 0; c < t->ncols; c++)
            s_put_cell(out, t->cells[r * t->ncols + c], width[c], t->right[c],
                       c + 1 == t->ncols);
        fputc('\n', out);
    }
}

static void s_table_fini(s_table_t *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    t->nrows = t->cap = 0;
}

/* ---- commands ---- */

static const char *const s_job_fields[] = {
    "id",         "queue",           "type",       "priority", "state",      "attempt",
    "max_attempts", "payload",       "result",     "error",    "worker",     "progress",
    "timeout_ms", "idempotency_key", "depends_on", "run_at",   "created_at", "started_at",
    "finished_at", "updated_at",
};

static bool s_is_job_field(const char *key)
{
    for (size_t i = 0; i < sizeof s_job_fields / sizeof *s_job_fields; i++) {
        if (strcmp(key, s_job_fields[i]) == 0)
            return true;
    }
    return false;
}

static void s_put_key_value(FILE *out, const char *key, const json_t *v)
{
    strbuf_t k;
    strbuf_init(&k);
    s_put_escaped(&k, key, strlen(key));
    char *text = ctl_format_value(v);
    fprintf(out, "%s: %s\n", k.data, text);
    free(text);
    strbuf_fini(&k);
}

void ctl_format_job(FILE *out, const json_t *job)
{
    for (size_t i = 0; i < sizeof s_job_fields / sizeof *s_job_fields; i++)
        s_put_key_value(out, s_job_fields[i], json_object_get(job, s_job_fields[i]));
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)job, key, v) {
        if (!s_is_job_field(key))
            s_put_key_value(out, key, v);
    }
}

static char *s_attempts(const json_t *job)
{
    char *a = s_field(job, "attempt");
    char *m = s_field(job, "max_attempts");
    strbuf_t sb;
    strbuf_init(&sb);
    strbuf_printf(&sb, "%s/%s", a, m);
    free(a);
    free(m);
    return strbuf_detach(&sb);
}

void ctl_format_jobs(FILE *out, const json_t *jobs)
{
    static const char *const heads[] = {"ID",      "QUEUE",   "TYPE", "PRIO",
                                        "STATE",   "ATTEMPT", "CREATED", "ERROR"};
    static const bool right[] = {true, false, false, true, false, true, false, false};
    s_table_t t;
    s_table_init(&t, heads, right, 8);
    size_t i;
    json_t *job;
    json_array_foreach(jobs, i, job) {
        char **row = s_table_row(&t);
        row[0] = s_field(job, "id");
        row[1] = s_field(job, "queue");
        row[2] = s_field(job, "type");
        row[3] = s_field(job, "priority");
        row[4] = s_field(job, "state");
        row[5] = s_attempts(job);
        row[6] = s_field(job, "created_at");
        row[7] = s_field(job, "error");
        s_truncate(row[7], CTL_FORMAT_ERROR_WIDTH);
    }
    s_table_print(out, &t, 0);
    s_table_fini(&t);
}

static const char *const s_states[] = {"waiting",   "scheduled", "queued",   "running",
                                       "succeeded", "dead",      "cancelled"};

static int s_cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void ctl_format_stats(FILE *out, const json_t *queues)
{
    static const char *const heads[] = {"QUEUE",   "PAUSED",    "WAITING", "SCHEDULED", "QUEUED",
                                        "RUNNING", "SUCCEEDED", "DEAD",    "CANCELLED"};
    static const bool right[] = {false, false, true, true, true, true, true, true, true};
    size_t n = json_object_size(queues);
    const char **names = xcalloc(n ? n : 1, sizeof *names);
    size_t k = 0;
    const char *name;
    json_t *q;
    json_object_foreach((json_t *)queues, name, q) names[k++] = name;
    qsort(names, n, sizeof *names, s_cmp_str);
    s_table_t t;
    s_table_init(&t, heads, right, 9);
    for (size_t i = 0; i < n; i++) {
        q = json_object_get(queues, names[i]);
        char **row = s_table_row(&t);
        strbuf_t sb;
        strbuf_init(&sb);
        s_put_escaped(&sb, names[i], strlen(names[i]));
        row[0] = strbuf_detach(&sb);
        row[1] = s_yes_no(json_object_get(q, "paused"));
        for (size_t s = 0; s < sizeof s_states / sizeof *s_states; s++)
            row[2 + s] = s_field(q, s_states[s]);
    }
    s_table_print(out, &t, 0);
    s_table_fini(&t);
    free(names);
}

void ctl_format_tenants(FILE *out, const json_t *tenants)
{
    static const char *const heads[] = {"TENANT",  "WEIGHT",     "WAITING",     "SCHEDULED",
                                        "QUEUED",  "RUNNING",    "STARTED",     "MAX_QUEUED",
                                        "RATE",    "MAX_RUNNING", "REFUSED"};
    static const bool right[] = {false, true, true, true, true, true, true, true, true, true, true};
    static const char *const keys[] = {"weight",  "waiting",    "scheduled", "queued", "running",
                                       "started_total", "max_queued", "rate", "max_running"};
    s_table_t t;
    s_table_init(&t, heads, right, 11);
    size_t i;
    json_t *o;
    json_array_foreach((json_t *)tenants, i, o) {
        char **row = s_table_row(&t);
        const char *name = json_string_value(json_object_get(o, "name"));
        strbuf_t sb;
        strbuf_init(&sb);
        s_put_escaped(&sb, name ? name : "", name ? strlen(name) : 0);
        row[0] = strbuf_detach(&sb);
        for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
            row[1 + k] = s_field(o, keys[k]);
        strbuf_init(&sb);
        strbuf_printf(&sb, "%lld",
                      (long long)(json_integer_value(json_object_get(o, "refused_max_queued")) +
                                  json_integer_value(json_object_get(o, "refused_rate"))));
        row[10] = strbuf_detach(&sb);
    }
    s_table_print(out, &t, 0);
    s_table_fini(&t);
}

/* "default,bulk" from ["default","bulk"]. */
static char *s_join(const json_t *list)
{
    if (!json_is_array(list))
        return ctl_format_value(list);
    strbuf_t sb;
    strbuf_init(&sb);
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) {
        char *text = ctl_format_value(v);
        if (i > 0)
            strbuf_putc(&sb, ',');
        strbuf_puts(&sb, text);
        free(text);
    }
    if (sb.len == 0)
        strbuf_putc(&sb, '-');
    return strbuf_detach(&sb);
}

/* "running" is a count; a list of job references is shown by its length. */
static char *s_count(const json_t *v)
{
    if (json_is_array(v)) {
        strbuf_t sb;
        strbuf_init(&sb);
        strbuf_printf(&sb, "%zu", json_array_size(v));
        return strbuf_detach(&sb);
    }
    return ctl_format_value(v);
}

void ctl_format_workers(FILE *out, const json_t *workers)
{
    static const char *const heads[] = {"NAME",   "SLOTS", "RUNNING",   "DRAINING",
                                        "QUEUES", "TYPES", "CONNECTED", "LAST_SEEN"};
    static const bool right[] = {false, true, true, false, false, false, false, false};
    s_table_t t;
    s_table_init(&t, heads, right, 8);
    size_t i;
    json_t *w;
    json_array_foreach(workers, i, w) {
        char **row = s_table_row(&t);
        row[0] = s_field(w, "name");
        row[1] = s_field(w, "slots");
        row[2] = s_count(json_object_get(w, "running"));
        row[3] = s_yes_no(json_object_get(w, "draining"));
        row[4] = s_join(json_object_get(w, "queues"));
        row[5] = s_join(json_object_get(w, "types"));
        row[6] = s_time_us(json_object_get(w, "connected_at_us"));
        row[7] = s_last_seen(w);
    }
    s_table_print(out, &t, 0);
    s_table_fini(&t);
}

/* ---- scheduling: history, queues, schedules, events ---- */

/* A time the coordinator sends either as a PostgreSQL ISO string (shown as
 * it is) or as integer microseconds (shown in UTC with digits fractional
 * digits). */
static char *s_time_any(const json_t *v, int digits)
{
    if (!json_is_integer(v))
        return ctl_format_value(v);
    char buf[48];
    ctl_time_format_us((int64_t)json_integer_value(v), digits, buf, sizeof buf);
    return xstrdup(buf);
}

void ctl_format_history(FILE *out, const json_t *history)
{
    static const char *const heads[] = {"AT", "EVENT", "ATTEMPT", "WORKER", "DETAIL"};
    static const bool right[] = {false, false, true, false, false};
    s_table_t t;
    s_table_init(&t, heads, right, 5);
    size_t i;
    json_t *e;
    json_array_foreach(history, i, e) {
        char **row = s_table_row(&t);
        row[0] = s_time_any(json_object_get(e, "at"), 3);
        row[1] = s_field(e, "event");
        row[2] = s_field(e, "attempt");
        row[3] = s_field(e, "worker");
        row[4] = s_field(e, "detail");
    }
    fputs("history:\n", out);
    s_table_print(out, &t, 2);
    s_table_fini(&t);
}

static bool s_is_zero(const json_t *v)
{
    return (json_is_integer(v) && json_integer_value(v) == 0)
           || (json_is_real(v) && json_real_value(v) == 0.0);
}

/* A limit where 0 means none: "-". */
static char *s_limit(const json_t *v)
{
    return s_is_zero(v) ? xstrdup("-") : ctl_format_value(v);
}

/* A measured rate in jobs per second, to two decimals. */
static char *s_rate(const json_t *v)
{
    if (!json_is_number(v))
        return ctl_format_value(v);
    strbuf_t sb;
    strbuf_init(&sb);
    strbuf_printf(&sb, "%.2f", json_number_value(v));
    return strbuf_detach(&sb);
}

void ctl_format_queues(FILE *out, const json_t *queues)
{
    static const char *const heads[] = {
        "NAME",      "PAUSED", "WAITING",   "SCHEDULED",   "QUEUED",     "RUNNING",
        "SUCCEEDED", "DEAD",   "CANCELLED", "CONCURRENCY", "RATE_LIMIT", "RATE_1M"};
    static const bool right[] = {false, false, true, true, true, true,
                                 true,  true,  true, true, true, true};
    s_table_t t;
    s_table_init(&t, heads, right, 12);
    size_t i;
    json_t *q;
    json_array_foreach(queues, i, q) {
        char **row = s_table_row(&t);
        row[0] = s_field(q, "name");
        row[1] = s_yes_no(json_object_get(q, "paused"));
        for (size_t s = 0; s < sizeof s_states / sizeof *s_states; s++)
            row[2 + s] = s_field(q, s_states[s]);
        row[9] = s_limit(json_object_get(q, "concurrency"));
        row[10] = s_limit(json_object_get(q, "rate_limit"));
        row[11] = s_rate(json_object_get(q, "rate_1m"));
    }
    s_table_print(out, &t, 0);
    s_table_fini(&t);
}

/* The downstreams: table of `queues` (the QUEUES reply's "downstreams"). */
void ctl_format_downstreams(FILE *out, const json_t *downstreams)
{
    static const char *const heads[] = {"DOWNSTREAM", "TYPES",    "LIMIT",     "RUNNING",
                                        "MIN",        "MAX",      "PAUSED_MS", "OK",
                                        "THROTTLED",  "ERRORS",   "TIMEOUTS",  "URL"};
    static const bool right[] = {false, false, true, true, true, true,
                                 true,  true,  true, true, true, false};
    s_table_t t;
    s_table_init(&t, heads, right, 12);
    size_t i;
    json_t *d;
    json_array_foreach(downstreams, i, d) {
        char **row = s_table_row(&t);
        strbuf_t types;
        strbuf_init(&types);
        size_t k;
        json_t *ty;
        json_array_foreach(json_object_get(d, "types"), k, ty) {
            if (k)
                strbuf_putc(&types, ',');
            strbuf_puts(&types, json_string_value(ty) ? json_string_value(ty) : "?");
        }
        json_t *calls = json_object_get(d, "calls");
        row[0] = s_field(d, "name");
        row[1] = strbuf_detach(&types);
        row[2] = s_field(d, "limit");
        row[3] = s_field(d, "running");
        row[4] = s_field(d, "min");
        row[5] = s_field(d, "max");
        row[6] = s_field(d, "paused_ms");
        row[7] = s_field(calls, "ok");
        row[8] = s_field(calls, "throttled");
        row[9] = s_field(calls, "error");
        row[10] = s_field(calls, "timeout");
        row[11] = s_field(d, "url");
    }
    s_table_print(out, &t, 0);
    s_table_fini(&t);
}

void ctl_format_schedules(FILE *out, const json_t *schedules)
{
    static const char *const heads[] = {"NAME",   "CRON",     "QUEUE",    "TYPE",    "PAUSED",
                                        "SOURCE", "NEXT_RUN", "LAST_RUN", "LAST_JOB"};
    static const bool right[] = {false, false, false, false, false, false, false, false, true};
    s_table_t t;
    s_table_init(&t, heads, right, 9);
    size_t i;
    json_t *s;
    json_array_foreach(schedules, i, s) {
        char **row = s_table_row(&t);
        row[0] = s_field(s, "name");
        row[1] = s_field(s, "cron");
        row[2] = s_field(s, "queue");
        row[3] = s_field(s, "type");
        row[4] = s_yes_no(json_object_get(s, "paused"));
        row[5] = s_field(s, "source");
        row[6] = s_time_any(json_object_get(s, "next_run_at"), 0);
        row[7] = s_time_any(json_object_get(s, "last_run_at"), 0);
        row[8] = s_field(s, "last_job_id");
    }
    s_table_print(out, &t, 0);
    s_table_fini(&t);
}

char *ctl_format_time(const json_t *v)
{
    return s_time_any(v, 0);
}

void ctl_format_event(FILE *out, const json_t *event)
{
    char *at = s_time_any(json_object_get(event, "at_us"), 3);
    char *queue = s_field(event, "queue");
    char *id = s_field(event, "id");
    char *name = s_field(event, "event");
    char *state = s_field(event, "state");
    char *attempt = s_field(event, "attempt");
    char *worker = s_field(event, "worker");
    fprintf(out, "%s %s job=%s %s state=%s attempt=%s worker=%s\n", at, queue, id, name, state,
            attempt, worker);
    free(at);
    free(queue);
    free(id);
    free(name);
    free(state);
    free(attempt);
    free(worker);
}
