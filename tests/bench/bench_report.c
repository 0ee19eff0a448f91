#include "bench_report.h"
#include "orch_error.h"
#include "xalloc.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bench_result_init(bench_result_t *r, const char *mode)
{
    memset(r, 0, sizeof *r);
    r->mode = mode;
    r->rss_mb = r->peak_rss_mb = -1;
    r->params = json_object();
}

void bench_result_fini(bench_result_t *r)
{
    json_decref(r->params);
    r->params = NULL;
    json_decref(r->extra);
    r->extra = NULL;
}

void bench_result_fail(bench_result_t *r, const char *fmt, ...)
{
    r->partial = true;
    if (r->failure[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->failure, sizeof r->failure, fmt, ap);
    va_end(ap);
}

int bench_rss_read(int pid, double *rss_mb, double *hwm_mb)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return ORCH_ENOTFOUND;
    long rss = -1, hwm = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            rss = strtol(line + 6, NULL, 10);
        else if (strncmp(line, "VmHWM:", 6) == 0)
            hwm = strtol(line + 6, NULL, 10);
    }
    fclose(f);
    if (rss < 0 || hwm < 0)
        return ORCH_ENOTFOUND;
    *rss_mb = (double)rss / 1024.0;
    *hwm_mb = (double)hwm / 1024.0;
    return ORCH_OK;
}

int bench_rss_reset_peak(int pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/clear_refs", pid);
    FILE *f = fopen(path, "w");
    if (!f)
        return ORCH_EIO;
    int ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok ? ORCH_OK : ORCH_EIO;
}

int bench_find_coord_pid(void)
{
    FILE *p = popen("pidof orchestratord 2>/dev/null", "r");
    if (!p)
        return 0;
    int pids[2], n = 0;
    while (n < 2 && fscanf(p, "%d", &pids[n]) == 1)
        n++;
    pclose(p);
    if (n == 1)
        return pids[0];
    if (n > 1)
        fprintf(stderr, "orch-bench: several orchestratord processes run; pass --coord-pid "
                        "to report the coordinator's memory\n");
    return 0;
}

double bench_quantile_ms(const int64_t *xs, size_t n, double p)
{
    if (!n)
        return 0;
    size_t i = (size_t)(p * (double)n);
    if (i > n - 1)
        i = n - 1;
    return (double)xs[i] / 1e6;
}

static void s_set_real(json_t *o, const char *key, double v)
{
    json_object_set_new(o, key, json_real(v));
}

static void s_latency_fields(json_t *j, const bench_result_t *r)
{
    s_set_real(j, "rate_target", r->rate_target);
    s_set_real(j, "rate_achieved", r->rate_achieved);
    json_object_set_new(j, "samples", json_integer(r->samples));
    s_set_real(j, "p50_ms", r->p50_ms);
    s_set_real(j, "p99_ms", r->p99_ms);
    s_set_real(j, "max_ms", r->max_ms);
    s_set_real(j, "mean_ms", r->mean_ms);
    s_set_real(j, "ack_p50_ms", r->ack_p50_ms);
    s_set_real(j, "ack_p99_ms", r->ack_p99_ms);
}

static json_t *s_result_json(const bench_opts_t *o, const bench_result_t *r)
{
    json_t *j = json_object();
    json_object_set_new(j, "peer", json_string("orchestrator"));
    json_object_set_new(j, "durability", json_string(o->label));
    json_object_set_new(j, "op", json_string(r->mode));
    json_object_set_new(j, "mode", json_string(r->mode));
    json_object_set_new(j, "variant", json_string(r->variant));
    json_object_set_new(j, "concurrency", json_integer(r->concurrency));
    json_object_set_new(j, "params", json_incref(r->params));
    json_object_set_new(j, "n", json_integer(r->n));
    s_set_real(j, "wall_s", r->wall_s);
    if (strcmp(r->mode, "latency") == 0) {
        s_latency_fields(j, r);
    } else {
        s_set_real(j, "jobs_per_s", r->jobs_per_s);
    }
    if (r->done_wall_s > 0) {
        s_set_real(j, "done_wall_s", r->done_wall_s);
        s_set_real(j, "done_jobs_per_s", r->done_jobs_per_s);
    }
    if (r->produce_wall_s > 0)
        s_set_real(j, "produce_wall_s", r->produce_wall_s);
    if (r->extra)
        json_object_update(j, r->extra);
    json_object_set_new(j, "coordinator_rss_mb", r->rss_mb >= 0 ? json_real(r->rss_mb) : json_null());
    json_object_set_new(j, "coordinator_peak_rss_mb",
                        r->peak_rss_mb >= 0 ? json_real(r->peak_rss_mb) : json_null());
    if (r->partial) {
        json_object_set_new(j, "partial", json_true());
        json_object_set_new(j, "completed", json_integer(r->completed));
        json_object_set_new(j, "failure", json_string(r->failure));
    }
    json_object_set_new(j, "cmd", json_string(o->cmdline));
    return j;
}

static void s_human(const bench_result_t *r)
{
    fprintf(stderr, "# %s %s conc=%d n=%lld: ", r->mode, r->variant, r->concurrency,
            (long long)r->n);
    if (strcmp(r->mode, "latency") == 0)
        fprintf(stderr, "offered %.0f/s achieved %.0f/s, submit->start p50 %.3f ms p99 %.3f ms "
                        "max %.3f ms (%lld samples), submit->ack p50 %.3f ms p99 %.3f ms",
                r->rate_target, r->rate_achieved, r->p50_ms, r->p99_ms, r->max_ms,
                (long long)r->samples, r->ack_p50_ms, r->ack_p99_ms);
    else
        fprintf(stderr, "%.0f jobs/s (%.3f s)", r->jobs_per_s, r->wall_s);
    if (r->done_wall_s > 0)
        fprintf(stderr, "; handed to coordinator %.0f jobs/s (%.3f s)", r->done_jobs_per_s,
                r->done_wall_s);
    if (r->extra) {
        const char *key;
        json_t *v;
        fputc(';', stderr);
        json_object_foreach(r->extra, key, v) {
            if (json_is_real(v))
                fprintf(stderr, " %s=%.3g", key, json_real_value(v));
            else if (json_is_integer(v))
                fprintf(stderr, " %s=%lld", key, (long long)json_integer_value(v));
            else if (json_is_null(v))
                fprintf(stderr, " %s=?", key);
        }
    }
    if (r->peak_rss_mb >= 0)
        fprintf(stderr, "; coordinator RSS %.1f MB, peak %.1f MB", r->rss_mb, r->peak_rss_mb);
    if (r->partial)
        fprintf(stderr, "; PARTIAL (%lld of %lld): %s", (long long)r->completed, (long long)r->n,
                r->failure);
    fputc('\n', stderr);
}

void bench_report_run(const bench_opts_t *o, const bench_result_t *r)
{
    json_t *j = s_result_json(o, r);
    char *line = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    printf("%s\n", line);
    fflush(stdout);
    if (o->out_path) {
        FILE *f = fopen(o->out_path, "a");
        if (f) {
            fprintf(f, "%s\n", line);
            fclose(f);
        } else {
            fprintf(stderr, "orch-bench: could not append to \"%s\"\n", o->out_path);
        }
    }
    free(line);
    json_decref(j);
    s_human(r);
}

/* ---- the matrix table ---- */

static bool s_same_point(const bench_result_t *a, const bench_result_t *b)
{
    return strcmp(a->mode, b->mode) == 0 && strcmp(a->variant, b->variant) == 0 &&
           a->concurrency == b->concurrency && a->n == b->n && a->rate_target == b->rate_target;
}

static int s_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double s_median(double *xs, size_t n)
{
    qsort(xs, n, sizeof *xs, s_cmp_double);
    return n % 2 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2;
}

/* Median of one field over the runs of a point; also min and max. */
typedef double (*s_field_fn)(const bench_result_t *);
static double s_f_rate(const bench_result_t *r) { return r->jobs_per_s; }
static double s_f_done(const bench_result_t *r) { return r->done_jobs_per_s; }
static double s_f_wall(const bench_result_t *r) { return r->wall_s; }
static double s_f_p50(const bench_result_t *r) { return r->p50_ms; }
static double s_f_p99(const bench_result_t *r) { return r->p99_ms; }
static double s_f_ach(const bench_result_t *r) { return r->rate_achieved; }
static double s_f_peak(const bench_result_t *r) { return r->peak_rss_mb; }

static double s_stat(const bench_result_t **rs, size_t n, s_field_fn f, double *mn, double *mx)
{
    double *xs = xmalloc(n * sizeof *xs);
    for (size_t i = 0; i < n; i++)
        xs[i] = f(rs[i]);
    double med = s_median(xs, n);
    if (mn)
        *mn = xs[0];
    if (mx)
        *mx = xs[n - 1];
    free(xs);
    return med;
}

static void s_fmt_rate(char *buf, size_t len, double x)
{
    if (x >= 100) {
        /* thousands separators, as the peers' table prints them */
        char digits[32];
        snprintf(digits, sizeof digits, "%.0f", x);
        size_t nd = strlen(digits), k = 0;
        for (size_t i = 0; i < nd && k + 2 < len; i++) {
            if (i && (nd - i) % 3 == 0)
                buf[k++] = ',';
            buf[k++] = digits[i];
        }
        buf[k] = '\0';
    } else {
        snprintf(buf, len, "%.1f", x);
    }
}

static void s_table_row(const bench_opts_t *o, const bench_result_t **rs, size_t k)
{
    const bench_result_t *r = rs[0];
    char a[32], b[32], c[32], rate[160] = "", extra[96] = "", p50[32] = "", p99[32] = "";
    double mn, mx;
    if (strcmp(r->mode, "latency") == 0) {
        double ach = s_stat(rs, k, s_f_ach, &mn, NULL);
        (void)ach;
        s_fmt_rate(a, sizeof a, r->rate_target);
        s_fmt_rate(b, sizeof b, mn);
        snprintf(rate, sizeof rate, "offered %s/s (achieved >= %s)", a, b);
        snprintf(p50, sizeof p50, "%.3f", s_stat(rs, k, s_f_p50, NULL, NULL));
        snprintf(p99, sizeof p99, "%.3f", s_stat(rs, k, s_f_p99, NULL, NULL));
    } else {
        s_fmt_rate(a, sizeof a, s_stat(rs, k, s_f_rate, &mn, &mx));
        s_fmt_rate(b, sizeof b, mn);
        s_fmt_rate(c, sizeof c, mx);
        snprintf(rate, sizeof rate, "**%s** (%s..%s)", a, b, c);
        if (r->done_wall_s > 0) {
            s_fmt_rate(a, sizeof a, s_stat(rs, k, s_f_done, NULL, NULL));
            snprintf(extra, sizeof extra, "%s", a);
        }
    }
    size_t partial = 0;
    for (size_t i = 0; i < k; i++)
        partial += rs[i]->partial;
    if (partial)
        snprintf(rate + strlen(rate), sizeof rate - strlen(rate), " PARTIAL in %zu run(s)", partial);
    double peak = s_stat(rs, k, s_f_peak, NULL, NULL);
    char peak_s[32] = "";
    if (peak >= 0)
        snprintf(peak_s, sizeof peak_s, "%.0f", peak);
    char n_s[32];
    if (r->n >= 100)
        s_fmt_rate(n_s, sizeof n_s, (double)r->n);
    else
        snprintf(n_s, sizeof n_s, "%lld", (long long)r->n);
    printf("| orchestrator | %s | %s | %s | %d | %s | %zu | %.2f | %s | %s | %s | %s | %s |\n",
           o->label, r->mode, r->variant, r->concurrency, n_s, k,
           s_stat(rs, k, s_f_wall, NULL, NULL), rate, extra, p50, p99, peak_s);
}

void bench_report_table(const bench_opts_t *o, const bench_result_t *runs, size_t n)
{
    printf("\n| system | durability | operation | variant | concurrency | jobs/run | runs | "
           "wall s median | jobs/s median (min..max) | handed to coordinator jobs/s | p50 ms | "
           "p99 ms | coordinator peak RSS MB |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    bool *seen = xcalloc(n ? n : 1, sizeof *seen);
    const bench_result_t **group = xmalloc((n ? n : 1) * sizeof *group);
    for (size_t i = 0; i < n; i++) {
        if (seen[i])
            continue;
        size_t k = 0;
        for (size_t j = i; j < n; j++) {
            if (!seen[j] && s_same_point(&runs[i], &runs[j])) {
                seen[j] = true;
                group[k++] = &runs[j];
            }
        }
        s_table_row(o, group, k);
    }
    free(group);
    free(seen);
    fflush(stdout);
}
