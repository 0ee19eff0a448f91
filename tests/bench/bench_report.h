/* Output of orch-bench: one JSON line per run (stdout and --out, fields
 * compatible with ../shared/peers/summarize.py), a human line (stderr), a
 * markdown table for the matrix; and the coordinator's memory. */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include "bench.h"

void bench_result_init(bench_result_t *r, const char *mode);
void bench_result_fini(bench_result_t *r);
/* Marks the run partial with a reason (first reason wins). */
void bench_result_fail(bench_result_t *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Reads VmRSS and VmHWM of pid in MB. 0 or ORCH_ENOTFOUND. */
int bench_rss_read(int pid, double *rss_mb, double *hwm_mb);
/* Resets VmHWM of pid to its current RSS (/proc/<pid>/clear_refs "5"). */
int bench_rss_reset_peak(int pid);
/* The pid of the only running orchestratord, or 0 (none, or several). */
int bench_find_coord_pid(void);

/* xs sorted ascending; the same estimator as qbench.py: xs[min(n-1, p*n)]. */
double bench_quantile_ms(const int64_t *xs, size_t n, double p);

/* Prints the JSON line (stdout, and appended to o->out_path) and a human
 * line (stderr). */
void bench_report_run(const bench_opts_t *o, const bench_result_t *r);
/* Markdown table over runs: one row per point, median (min..max) over
 * repetitions, the peers' column layout. */
void bench_report_table(const bench_opts_t *o, const bench_result_t *runs, size_t n);

#endif
