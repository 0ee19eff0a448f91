/* Job id -> job_t* index of every job resident in the coordinator.
 * Open addressing with linear probing and backward-shift deletion (no
 * tombstones), so lookups stay short under heavy churn. */
#ifndef JOBMAP_H
#define JOBMAP_H
#include "job.h"
#include <stddef.h>
#include <stdint.h>

typedef struct jobmap jobmap_t;

jobmap_t *jobmap_new(void);
void jobmap_destroy(jobmap_t **map);
/* Inserts or replaces; the map borrows job. */
void jobmap_put(jobmap_t *map, job_t *job);
job_t *jobmap_get(const jobmap_t *map, int64_t id);
/* Removes id if present; returns the job that was there or NULL. */
job_t *jobmap_remove(jobmap_t *map, int64_t id);
size_t jobmap_count(const jobmap_t *map);
/* Calls fn for every job; fn must not modify the map. */
void jobmap_foreach(const jobmap_t *map, void (*fn)(job_t *job, void *arg), void *arg);
/* Removes every entry (does not free jobs). */
void jobmap_clear(jobmap_t *map);

#endif
