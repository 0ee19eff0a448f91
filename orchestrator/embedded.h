/* The embedded tier: with no database URL configured, orchestratord runs a
 * private PostgreSQL under a directory of its own (database.data_dir,
 * --data-dir, ORCH_DATA_DIR) and stops it when it exits.
 *
 * The layout and settings are deploy/pgdev.sh's, so either can manage the
 * same directory: DIR/data (the cluster: fsync and synchronous_commit on,
 * no TCP listener, trust authentication on the unix socket only), DIR/run
 * (the socket), DIR/postgresql.log, database "orch", user "postgres".
 * The server binaries are the newest /usr/lib/postgresql/N/bin (or
 * ORCH_PG_BINDIR). PostgreSQL refuses to run as root: when we are root,
 * initdb and pg_ctl run as the "postgres" system user (the child drops its
 * privileges before exec) and DIR is made its own.
 *
 * Tools are run with fork and exec, fixed argv, no shell; their output goes
 * to DIR/initdb.log and DIR/pg_ctl.log and its tail into the error. */
#ifndef EMBEDDED_H
#define EMBEDDED_H

#include "config.h"
#include <stddef.h>

typedef struct embedded embedded_t;

/* --check-config: whether orchestratord has a database. Server mode (a URL)
 * passes; else data_dir (NULL: cfg->db_data_dir) must be set, its parent
 * writable and reachable, and the PostgreSQL binaries installed. 0, or
 * ORCH_ECONFIG with err naming what to set or what is missing. */
int embedded_check(const orch_config_t *cfg, const char *data_dir, char *err, size_t errlen);

/* The database of a starting orchestratord. With a URL in cfg: server mode,
 * *out is NULL (a data_dir is ignored with an info line). Else initialises
 * the cluster under data_dir (NULL: cfg->db_data_dir) on first use, starts
 * it, creates database "orch" if missing, and sets cfg->db_url to its
 * conninfo: *out (caller owns) stops it in embedded_stop. Returns 0, or
 * ORCH_ECONFIG / ORCH_EIO / ORCH_EDB with err saying what failed; a server
 * this call started is stopped again before it returns an error. */
int embedded_start(orch_config_t *cfg, const char *data_dir, embedded_t **out, char *err,
                   size_t errlen);

/* The libpq conninfo of the running cluster. Borrowed from e. */
const char *embedded_url(const embedded_t *e);

/* pg_ctl stop -m fast, then frees *ep and nulls it. NULL or *ep NULL: 0.
 * Returns 0, or ORCH_EIO (logged) when the server did not stop. */
int embedded_stop(embedded_t **ep);

#endif
