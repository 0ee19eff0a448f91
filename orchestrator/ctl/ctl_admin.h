/* orchctl's day-2 commands (docs/orchctl.md): `retry`/`cancel` by filter,
 * `purge`, `queues set` and `queues delete`. */
#ifndef CTL_ADMIN_H
#define CTL_ADMIN_H

#include "ctl_cmd.h"
#include <stdbool.h>

/* Whether retry/cancel got filters instead of a job id. */
bool ctl_admin_is_bulk(const ctl_cmd_t *ctx);
/* LIST by --queue/--state/--type/--error (--limit, default 1000), then one
 * RETRY or CANCEL each; --dry-run only counts. */
int ctl_admin_bulk(ctl_cmd_t *ctx, bool retry);
/* PURGE --state S [--queue] [--type] [--older-than D] [--limit N] [--dry-run]. */
int ctl_admin_purge(ctl_cmd_t *ctx);
/* QUEUE_SET from --concurrency --rate --burst --priority --reset. */
int ctl_admin_queue_set(ctl_cmd_t *ctx, const char *queue);
/* QUEUE_DELETE; --force purges the queue's finished jobs first. */
int ctl_admin_queue_delete(ctl_cmd_t *ctx, const char *queue);

#endif
