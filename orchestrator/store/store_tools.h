/* Database tools that run outside the coordinator. Moving an orchestrator
 * database to another (orchctl export / import,
 * docs/orchctl.md "export, import: moving to another database"): jobs,
 * schedules and queue settings as JSON lines, read from and written to
 * PostgreSQL directly, not through a coordinator.
 *
 * The stream: a header {"kind":"header","format":1,"schema_version":N},
 * then {"kind":"queue"|"schedule"|"job","row":{...}} lines (a job also has
 * "depends_on": [ids]), then {"kind":"end","queues":N,"schedules":N,
 * "jobs":N}, which import requires (a truncated file is refused). A row is
 * the table's row as row_to_json gives it, so every column travels.
 *
 * Import keeps the job ids (depends_on and schedules' last_job_id stay
 * right) and so needs a target without jobs; it runs in one transaction
 * and refuses while a coordinator is connected to the target or holds its
 * leader lease. Queues and schedules of the same name are replaced. */
#ifndef STORE_TOOLS_H
#define STORE_TOOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct {
    long queues, schedules, jobs;
} store_move_counts_t;

/* Writes the lines of conninfo's database to out: one snapshot; without
 * all, only jobs not yet finished. 0, or ORCH_EDB with the reason in err.
 * *n: what was written. */
int store_export(const char *conninfo, bool all, FILE *out, store_move_counts_t *n, char *err,
                 size_t errlen);
/* Reads the lines from in into conninfo's database, all or nothing. 0, or
 * ORCH_EDB with the reason in err; *connected says whether the database
 * was reached (then nothing was imported). */
int store_import(const char *conninfo, FILE *in, store_move_counts_t *n, bool *connected,
                 char *err, size_t errlen);

/* Creates database name through the server conninfo reaches (any database
 * of it), unless it exists. 0, or ORCH_EDB with the reason in err. */
int store_ensure_database(const char *conninfo, const char *name, char *err, size_t errlen);

#endif
