/* The Prometheus text exposition format (version 0.0.4) of a metrics
 * snapshot: HELP and TYPE lines per family, label values escaped,
 * histograms as cumulative _bucket lines ending in le="+Inf", then _sum
 * and _count. A pure function, so its output is tested byte for byte. */
#ifndef WORKER_METRICS_RENDER_H
#define WORKER_METRICS_RENDER_H

#include "strbuf.h"
#include "worker_metrics.h"

#define WORKER_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Appends the exposition of s to out. */
void worker_metrics_render(const worker_metrics_snapshot_t *s, strbuf_t *out);

/* Appends v as a label value: backslash, double quote and newline escaped
 * (\\, \", \n); every other byte as it is. */
void worker_metrics_render_label(strbuf_t *out, const char *v);

/* Appends v as a sample value: the shortest text that reads back as v,
 * +Inf, -Inf or NaN. */
void worker_metrics_render_double(strbuf_t *out, double v);

#endif
