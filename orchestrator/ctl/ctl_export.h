/* orchctl export / import: moves jobs, schedules and queue settings from one
 * database to another as JSON lines (docs/orchctl.md, "export, import:
 * moving to another database"), straight to PostgreSQL (--database URL, or
 * ORCH_DATABASE_URL), not to a coordinator. The stream and the rules of
 * import: store/store_tools.h. */
#ifndef CTL_EXPORT_H
#define CTL_EXPORT_H

#include "ctl_cmd.h"

/* orchctl export --database URL [--all] [--file F]: the lines on F (default
 * stdout). Without --all, only jobs not yet finished. */
int ctl_export_run(ctl_cmd_t *ctx);

/* orchctl import --database URL [--file F]: reads the lines from F (default
 * stdin) into the database. */
int ctl_import_run(ctl_cmd_t *ctx);

/* orchctl audit verify --database URL [--since TIME|DURATION]: recomputes
 * the audit chain (store/store_audit.h) and names the first row that does
 * not match; exit 1 when one does not. */
int ctl_audit_run(ctl_cmd_t *ctx);

#endif
