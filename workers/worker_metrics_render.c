/* Text exposition of orch-worker's metrics (worker_metrics_render.h). */
#include "worker_metrics_render.h"
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

void worker_metrics_render_label(strbuf_t *out, const char *v)
{
    strbuf_putc(out, '"');
    for (const char *p = v; *p; p++) {
        if (*p == '\\')
            strbuf_puts(out, "\\\\");
        else if (*p == '"')
            strbuf_puts(out, "\\\"");
        else if (*p == '\n')
            strbuf_puts(out, "\\n");
        else
            strbuf_putc(out, *p);
    }
    strbuf_putc(out, '"');
}

/* The shortest text that reads back as v (Prometheus parses it with strtod). */
static void s_double_text(double v, char buf[40])
{
    if (isnan(v)) {
        snprintf(buf, 40, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, 40, "%s", v > 0 ? "+Inf" : "-Inf");
        return;
    }
    int prec = 1;
    for (; prec < 17; prec++) {
        snprintf(buf, 40, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    /* as Go's FormatFloat(v, 'g', -1) (Prometheus's own clients): at least
     * 6 digits decide on the exponent, so 300 is "300" and not "3e+02";
     * %g drops the zeros this adds */
    snprintf(buf, 40, "%.*g", prec < 6 ? 6 : prec, v);
}

void worker_metrics_render_double(strbuf_t *out, double v)
{
    char buf[40];
    s_double_text(v, buf);
    strbuf_puts(out, buf);
}

static void s_family(strbuf_t *out, const char *name, const char *type, const char *help)
{
    strbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void s_u64(strbuf_t *out, const char *name, uint64_t v)
{
    strbuf_printf(out, "%s %" PRIu64 "\n", name, v);
}

/* name{label="value"...} with the optional le label last. */
static void s_series(strbuf_t *out, const char *name, const char *suffix, const char *label,
                     const char *value, const char *le)
{
    strbuf_printf(out, "%s%s", name, suffix);
    if (!label && !le)
        return;
    strbuf_putc(out, '{');
    if (label) {
        strbuf_printf(out, "%s=", label);
        worker_metrics_render_label(out, value);
    }
    if (le)
        strbuf_printf(out, "%sle=\"%s\"", label ? "," : "", le);
    strbuf_putc(out, '}');
}

static void s_histogram(strbuf_t *out, const char *name, const char *label, const char *value,
                        const worker_metrics_hist_t *h)
{
    uint64_t cum = 0;
    for (size_t b = 0; b <= WORKER_METRICS_NBUCKETS; b++) {
        char le[40];
        s_double_text(b < WORKER_METRICS_NBUCKETS ? worker_metrics_bounds[b] : INFINITY, le);
        cum += h->buckets[b];
        s_series(out, name, "_bucket", label, value, le);
        strbuf_printf(out, " %" PRIu64 "\n", cum);
    }
    s_series(out, name, "_sum", label, value, NULL);
    strbuf_putc(out, ' ');
    worker_metrics_render_double(out, h->sum);
    strbuf_putc(out, '\n');
    s_series(out, name, "_count", label, value, NULL);
    strbuf_printf(out, " %" PRIu64 "\n", cum);
}

static void s_jobs(const worker_metrics_snapshot_t *s, strbuf_t *out)
{
    const char *name = "orch_worker_jobs_total";
    s_family(out, name, "counter", "Jobs this worker ran to an end, by job type and outcome.");
    for (size_t i = 0; i < s->ntypes; i++) {
        for (size_t o = 0; o < WORKER_METRICS_NOUTCOMES; o++) {
            strbuf_printf(out, "%s{type=", name);
            worker_metrics_render_label(out, s->types[i].name);
            strbuf_printf(out, ",outcome=\"%s\"} %" PRIu64 "\n",
                          worker_metrics_outcome_name((worker_metrics_outcome_t)o),
                          s->types[i].jobs[o]);
        }
    }
    name = "orch_worker_handler_duration_seconds";
    s_family(out, name, "histogram", "How long the handler ran, per job attempt, by job type.");
    for (size_t i = 0; i < s->ntypes; i++)
        s_histogram(out, name, "type", s->types[i].name, &s->types[i].duration);
}

static void s_external(const worker_metrics_snapshot_t *s, strbuf_t *out)
{
    const char *name = "orch_worker_external_request_duration_seconds";
    s_family(out, name, "histogram",
             "Duration of HTTP requests handlers made to downstream services.");
    for (size_t d = 0; d < WORKER_METRICS_NDOWNSTREAMS; d++)
        s_histogram(out, name, "downstream",
                    worker_metrics_downstream_name((worker_metrics_downstream_t)d),
                    &s->external[d]);
    name = "orch_worker_external_errors_total";
    s_family(out, name, "counter",
             "Failed HTTP requests to downstream services, by downstream and reason.");
    for (size_t d = 0; d < WORKER_METRICS_NDOWNSTREAMS; d++)
        for (size_t r = 0; r < WORKER_METRICS_NREASONS; r++)
            strbuf_printf(out, "%s{downstream=\"%s\",reason=\"%s\"} %" PRIu64 "\n", name,
                          worker_metrics_downstream_name((worker_metrics_downstream_t)d),
                          worker_metrics_reason_name((worker_metrics_reason_t)r),
                          s->external_errors[d][r]);
}

static void s_connection(const worker_metrics_snapshot_t *s, strbuf_t *out)
{
    s_family(out, "orch_worker_results_unacked", "gauge",
             "Job results held until the coordinator acknowledges them.");
    s_u64(out, "orch_worker_results_unacked", s->results_unacked);
    s_family(out, "orch_worker_connected", "gauge",
             "1 while the worker is registered with a coordinator, else 0.");
    s_u64(out, "orch_worker_connected", s->connected ? 1 : 0);
    s_family(out, "orch_worker_reconnects_total", "counter",
             "Registrations with a coordinator after the first one.");
    s_u64(out, "orch_worker_reconnects_total", s->reconnects);
}

static void s_process(const worker_metrics_snapshot_t *s, strbuf_t *out)
{
    if (s->resident_bytes > 0) {
        s_family(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
        s_u64(out, "process_resident_memory_bytes", s->resident_bytes);
    }
    if (s->start_time_seconds > 0) {
        s_family(out, "process_start_time_seconds", "gauge",
                 "Start time of the process since unix epoch in seconds.");
        strbuf_puts(out, "process_start_time_seconds ");
        worker_metrics_render_double(out, s->start_time_seconds);
        strbuf_putc(out, '\n');
    }
}

void worker_metrics_render(const worker_metrics_snapshot_t *s, strbuf_t *out)
{
    s_family(out, "orch_worker_slots", "gauge", "Jobs this worker runs at once (worker.slots).");
    s_u64(out, "orch_worker_slots", (uint64_t)(s->slots > 0 ? s->slots : 0));
    s_family(out, "orch_worker_slots_busy", "gauge",
             "Slots holding a job, running or waiting for its type's limit.");
    s_u64(out, "orch_worker_slots_busy", (uint64_t)(s->slots_busy > 0 ? s->slots_busy : 0));
    s_jobs(s, out);
    s_external(s, out);
    s_connection(s, out);
    s_process(s, out);
}
