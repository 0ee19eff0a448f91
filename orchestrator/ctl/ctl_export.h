/* orchctl export / import: moves jobs, schedules and queue settings from one
 * database to another as JSON lines (docs/orchctl.md, "export, import:
 * moving to another database"). Both talk to PostgreSQL directly with
 * libpq (--database URL, or ORCH_DATABASE_URL), not to a coordinator.
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
#ifndef CTL_EXPORT_H
#define CTL_EXPORT_H

#include "ctl_cmd.h"

/* orchctl export --database URL [--all] [--file F]: the lines on F (default
 * stdout). Without --all, only jobs not yet finished. */
int ctl_export_run(ctl_cmd_t *ctx);

/* orchctl import --database URL [--file F]: reads the lines from F (default
 * stdin) into the database. */
int ctl_import_run(ctl_cmd_t *ctx);

#endif
