#include "ctl_top.h"
#include "clock.h"
#include "ctl.h"
#include "ctl_format.h"
#include "ctl_time.h"
#include "orch_error.h"
#include "strbuf.h"
#include "xalloc.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define S_DEFAULT_INTERVAL_MS 1000
#define S_MIN_INTERVAL_MS 100
#define S_MAX_COLS 11

static const char *const s_states[] = {"waiting", "scheduled", "queued", "running",
                                       "succeeded", "dead", "cancelled"};

/* ---- tables ---------------------------------------------------------------- */

/* Columns padded to their widest cell, numbers to the right. */
typedef struct {
    size_t ncols;
    const char *const *heads;
    const bool *right;
    char **cells; /* nrows * ncols, owned */
    size_t nrows;
} s_table_t;

static char **s_row(s_table_t *t)
{
    t->cells = xrealloc(t->cells, (t->nrows + 1) * t->ncols * sizeof *t->cells);
    return &t->cells[t->nrows++ * t->ncols];
}

/* Characters on screen: each UTF-8 sequence counts once. */
static size_t s_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xc0) != 0x80;
    return w;
}

static void s_cell(strbuf_t *sb, const char *text, size_t width, bool right, bool last)
{
    size_t pad = width - s_width(text);
    if (right)
        strbuf_printf(sb, "%*s", (int)pad, "");
    strbuf_puts(sb, text);
    if (!right && !last)
        strbuf_printf(sb, "%*s", (int)pad, "");
    if (!last)
        strbuf_puts(sb, "  ");
}

/* Prints the table into sb and frees its cells. */
static void s_table_put(strbuf_t *sb, s_table_t *t)
{
    assert(t->ncols <= S_MAX_COLS);
    size_t width[S_MAX_COLS];
    for (size_t c = 0; c < t->ncols; c++) {
        width[c] = s_width(t->heads[c]);
        for (size_t r = 0; r < t->nrows; r++) {
            size_t w = s_width(t->cells[r * t->ncols + c]);
            width[c] = w > width[c] ? w : width[c];
        }
    }
    for (size_t c = 0; c < t->ncols; c++)
        s_cell(sb, t->heads[c], width[c], t->right[c], c + 1 == t->ncols);
    strbuf_putc(sb, '\n');
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            s_cell(sb, t->cells[r * t->ncols + c], width[c], t->right[c], c + 1 == t->ncols);
            free(t->cells[r * t->ncols + c]);
        }
        strbuf_putc(sb, '\n');
    }
    free(t->cells);
    t->cells = NULL;
    t->nrows = 0;
}

/* ---- cells ----------------------------------------------------------------- */

/* A rate, two decimals. */
static char *s_rate(double v)
{
    strbuf_t sb;
    strbuf_init(&sb);
    strbuf_printf(&sb, "%.2f", v);
    return strbuf_detach(&sb);
}

static char *s_int(json_int_t v)
{
    strbuf_t sb;
    strbuf_init(&sb);
    strbuf_printf(&sb, "%lld", (long long)v);
    return strbuf_detach(&sb);
}

/* Text that did not come as JSON (an endpoint, an error), escaped as the
 * coordinator's strings are. */
static void s_put_text(strbuf_t *sb, const char *text)
{
    json_t *j = text ? json_string_nocheck(text) : NULL;
    char *esc = ctl_format_value(j);
    strbuf_puts(sb, esc);
    free(esc);
    json_decref(j);
}

static char *s_yes_no(const json_t *v)
{
    return json_is_boolean(v) ? xstrdup(json_is_true(v) ? "yes" : "no") : ctl_format_value(v);
}

/* A count sent as a number, or as an array of what is counted. */
static json_int_t s_count(const json_t *v)
{
    return json_is_array(v) ? (json_int_t)json_array_size(v) : json_integer_value(v);
}

/* Jobs finished per second since the previous frame, from finished_total. */
static char *s_done_rate(const ctl_top_view_t *v, const json_t *q)
{
    const json_t *now = json_object_get(q, "finished_total");
    const char *name = json_string_value(json_object_get(q, "name"));
    size_t i;
    json_t *p;
    if (!json_is_integer(now) || !name || v->elapsed_ms <= 0)
        return xstrdup("-");
    json_array_foreach(v->prev_queues, i, p) {
        const json_t *before = json_object_get(p, "finished_total");
        const char *pname = json_string_value(json_object_get(p, "name"));
        if (pname && strcmp(pname, name) == 0 && json_is_integer(before))
            return s_rate((double)(json_integer_value(now) - json_integer_value(before)) *
                          1000.0 / (double)v->elapsed_ms);
    }
    return xstrdup("-");
}

/* ---- the frame ------------------------------------------------------------- */

static void s_header(strbuf_t *sb, const ctl_top_view_t *v)
{
    char at[48];
    ctl_time_format_us(v->now_us, 0, at, sizeof at);
    strbuf_printf(sb, "orchctl top  %s  ", at);
    s_put_text(sb, v->endpoint);
    const json_t *db = json_object_get(v->stats, "database");
    if (db) {
        char *text = ctl_format_value(db);
        strbuf_printf(sb, "  database %s", text);
        free(text);
    }
    json_int_t bad = json_integer_value(json_object_get(v->stats, "invalid_transitions"));
    if (bad)
        strbuf_printf(sb, "  invalid_transitions %lld", (long long)bad);
    strbuf_putc(sb, '\n');
    if (v->error) {
        strbuf_puts(sb, "error: ");
        s_put_text(sb, v->error);
        strbuf_putc(sb, '\n');
    }
}

static void s_queues(strbuf_t *sb, const ctl_top_view_t *v)
{
    static const char *const heads[] = {"QUEUE",     "PAUSED", "WAITING",   "SCHEDULED",
                                        "QUEUED",    "RUNNING", "SUCCEEDED", "DEAD",
                                        "CANCELLED", "RATE_1M", "DONE/S"};
    static const bool right[] = {false, false, true, true, true, true,
                                 true,  true,  true, true, true};
    s_table_t t = {.ncols = 11, .heads = heads, .right = right};
    size_t i;
    json_t *q;
    json_array_foreach(v->queues, i, q) {
        char **row = s_row(&t);
        row[0] = ctl_format_value(json_object_get(q, "name"));
        row[1] = s_yes_no(json_object_get(q, "paused"));
        for (size_t s = 0; s < 7; s++)
            row[2 + s] = ctl_format_value(json_object_get(q, s_states[s]));
        const json_t *rate = json_object_get(q, "rate_1m");
        row[9] = json_is_number(rate) ? s_rate(json_number_value(rate)) : ctl_format_value(rate);
        row[10] = s_done_rate(v, q);
    }
    s_table_put(sb, &t);
}

static void s_workers(strbuf_t *sb, const ctl_top_view_t *v)
{
    static const char *const heads[] = {"WORKER", "SLOTS", "RUNNING", "IDLE", "DRAINING", "DONE"};
    static const bool right[] = {false, true, true, true, false, true};
    s_table_t t = {.ncols = 6, .heads = heads, .right = right};
    json_int_t slots = 0, running = 0, draining = 0;
    size_t i;
    json_t *w;
    json_array_foreach(v->workers, i, w) {
        json_int_t ws = json_integer_value(json_object_get(w, "slots"));
        json_int_t wr = s_count(json_object_get(w, "running"));
        char **row = s_row(&t);
        row[0] = ctl_format_value(json_object_get(w, "name"));
        row[1] = s_int(ws);
        row[2] = s_int(wr);
        row[3] = s_int(ws > wr ? ws - wr : 0);
        row[4] = s_yes_no(json_object_get(w, "draining"));
        row[5] = ctl_format_value(json_object_get(w, "jobs_done"));
        slots += ws;
        running += wr;
        draining += json_is_true(json_object_get(w, "draining"));
    }
    s_table_put(sb, &t);
    strbuf_printf(sb, "workers %zu  slots %lld  running %lld  idle %lld  draining %lld\n",
                  json_array_size(v->workers), (long long)slots, (long long)running,
                  (long long)(slots > running ? slots - running : 0), (long long)draining);
}

char *ctl_top_render(const ctl_top_view_t *v)
{
    strbuf_t sb;
    strbuf_init(&sb);
    s_header(&sb, v);
    strbuf_putc(&sb, '\n');
    if (v->queues)
        s_queues(&sb, v);
    strbuf_putc(&sb, '\n');
    if (v->workers)
        s_workers(&sb, v);
    return strbuf_detach(&sb);
}

/* ---- signals and the terminal ---------------------------------------------- */

/* SIGINT and SIGTERM become a byte in a pipe that poll waits on with the
 * keyboard, so no wakeup is lost between a check and the wait. */
static volatile sig_atomic_t s_signal_fd = -1;

static void s_on_signal(int sig)
{
    (void)sig;
    int saved = errno;
    char c = 1;
    ssize_t n = write(s_signal_fd, &c, 1);
    (void)n; /* a full pipe already holds a wakeup */
    errno = saved;
}

typedef struct {
    ctl_cmd_t *ctx;
    int64_t interval_ms;
    int64_t count;       /* frames left; -1: no limit */
    bool screen;         /* out is a terminal: frames replace each other */
    bool keys;           /* stdin is a terminal in raw mode: q quits */
    struct termios saved;
    int pipe[2];
    struct sigaction old_int, old_term;
    json_t *prev_queues;
    int64_t prev_ms;
} s_top_t;

static int s_setup(s_top_t *t)
{
    if (pipe2(t->pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        return ctl_cmd_error(t->ctx, "could not create a pipe: %s", strerror(errno));
    s_signal_fd = t->pipe[1];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &t->old_int);
    sigaction(SIGTERM, &sa, &t->old_term);
    t->screen = isatty(fileno(t->ctx->out));
    if (t->screen && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &t->saved) == 0) {
        struct termios raw = t->saved;
        raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO); /* ISIG stays: Ctrl-C is SIGINT */
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        t->keys = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
    if (t->screen)
        fputs("\x1b[?1049h\x1b[?25l", t->ctx->out); /* alternate screen, cursor hidden */
    return 0;
}

static void s_restore(s_top_t *t)
{
    if (t->screen) {
        fputs("\x1b[?25h\x1b[?1049l", t->ctx->out);
        fflush(t->ctx->out);
    }
    if (t->keys)
        tcsetattr(STDIN_FILENO, TCSANOW, &t->saved);
    sigaction(SIGINT, &t->old_int, NULL);
    sigaction(SIGTERM, &t->old_term, NULL);
    s_signal_fd = -1;
    close(t->pipe[0]);
    close(t->pipe[1]);
}

/* ---- the loop -------------------------------------------------------------- */

static int s_options(s_top_t *t)
{
    ctl_cmd_t *ctx = t->ctx;
    if (ctx->args->json)
        return ctl_cmd_usage_error(ctx, "'top' has no --json output: use 'queues', 'workers' or "
                                        "'stats' with --json");
    t->interval_ms = S_DEFAULT_INTERVAL_MS;
    const char *d = ctl_args_opt(ctx->args, "--interval");
    if (d && (clock_parse_duration_ms(d, &t->interval_ms) != 0 ||
              t->interval_ms < S_MIN_INTERVAL_MS))
        return ctl_cmd_usage_error(ctx,
                                   "invalid value '%s' for --interval: must be a duration of "
                                   "at least 100ms such as 500ms, 1s or 5s",
                                   d);
    t->count = -1;
    if (ctl_args_opt(ctx->args, "--count"))
        return ctl_cmd_flag_int(ctx, "--count", 1, INT32_MAX, &t->count);
    return 0;
}

/* One frame: the three requests, then the text. Returns 0, or the exit
 * code when a request failed and there is no screen to show it on. */
static int s_frame(s_top_t *t, orch_client_t *cl)
{
    json_t *queues = NULL, *workers = NULL, *stats = NULL;
    int rc = orch_client_queues(cl, &queues);
    if (rc == 0)
        rc = orch_client_workers(cl, &workers);
    if (rc == 0)
        rc = orch_client_stats(cl, &stats);
    if (rc != 0 && !t->screen)
        rc = ctl_cmd_failed(t->ctx, rc, NULL);
    else {
        int64_t now = clock_mono_ms();
        ctl_top_view_t v = {.endpoint = t->ctx->endpoint, .now_us = clock_real_us(),
                            .queues = queues, .workers = workers, .stats = stats,
                            .prev_queues = t->prev_queues, .elapsed_ms = now - t->prev_ms,
                            .error = rc != 0 ? orch_client_error(cl) : NULL};
        char *text = ctl_top_render(&v);
        if (t->screen) {
            fputs("\x1b[H", t->ctx->out); /* home, each line cleared to its end */
            for (char *line = text, *nl; (nl = strchr(line, '\n')); line = nl + 1)
                fprintf(t->ctx->out, "%.*s\x1b[K\n", (int)(nl - line), line);
            fputs("\x1b[J", t->ctx->out); /* and below the frame */
        } else {
            fprintf(t->ctx->out, "%s\n", text);
        }
        free(text);
        if (queues) {
            json_decref(t->prev_queues);
            t->prev_queues = json_incref(queues);
            t->prev_ms = now;
        }
        rc = 0;
    }
    json_decref(queues);
    json_decref(workers);
    json_decref(stats);
    if (rc == 0 && (fflush(t->ctx->out) != 0 || ferror(t->ctx->out)))
        rc = ctl_cmd_error(t->ctx, "could not write the output: %s", strerror(errno));
    return rc;
}

/* Waits until the next frame is due. false: q, Ctrl-C or SIGTERM. */
static bool s_wait(s_top_t *t, int64_t due_ms)
{
    for (bool first = true;; first = false) {
        int64_t left = due_ms - clock_mono_ms();
        if (left <= 0 && !first)
            return true;
        /* looked at once even when the frame took the whole interval */
        struct pollfd fds[] = {{.fd = t->pipe[0], .events = POLLIN},
                               {.fd = t->keys ? STDIN_FILENO : -1, .events = POLLIN}};
        int n = poll(fds, 2, left > 0 ? (int)left : 0);
        if (n < 0 && errno != EINTR)
            return false;
        if (n > 0 && (fds[0].revents & POLLIN))
            return false;
        char c;
        while (n > 0 && (fds[1].revents & POLLIN) && read(STDIN_FILENO, &c, 1) == 1) {
            if (c == 'q' || c == 'Q')
                return false;
        }
    }
}

int ctl_top_run(ctl_cmd_t *ctx)
{
    s_top_t t = {.ctx = ctx};
    orch_client_t *cl;
    int rc = s_options(&t);
    if (rc == 0)
        rc = ctl_cmd_client(ctx, &cl);
    if (rc == 0)
        rc = s_setup(&t);
    if (rc != 0)
        return rc;
    t.prev_ms = clock_mono_ms();
    for (;;) {
        int64_t due = clock_mono_ms() + t.interval_ms;
        rc = s_frame(&t, cl);
        if (rc != 0 || (t.count > 0 && --t.count == 0) || !s_wait(&t, due))
            break;
    }
    s_restore(&t);
    json_decref(t.prev_queues);
    return rc;
}
