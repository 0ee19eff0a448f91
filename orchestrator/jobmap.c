#include "jobmap.h"
#include <stdbool.h>
#include "xalloc.h"
#include <stdlib.h>
#include <string.h>

struct jobmap {
    job_t **slots;
    size_t cap; /* power of two */
    size_t count;
};

static size_t s_hash(int64_t id, size_t cap)
{
    uint64_t x = (uint64_t)id;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x & (cap - 1);
}

jobmap_t *jobmap_new(void)
{
    jobmap_t *m = xcalloc(1, sizeof *m);
    m->cap = 1024;
    m->slots = xcalloc(m->cap, sizeof *m->slots);
    return m;
}

void jobmap_destroy(jobmap_t **map)
{
    if (!map || !*map)
        return;
    free((*map)->slots);
    free(*map);
    *map = NULL;
}

static void s_grow(jobmap_t *m)
{
    job_t **old = m->slots;
    size_t oldcap = m->cap;
    m->cap *= 2;
    m->slots = xcalloc(m->cap, sizeof *m->slots);
    m->count = 0;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i])
            jobmap_put(m, old[i]);
    free(old);
}

void jobmap_put(jobmap_t *m, job_t *job)
{
    if ((m->count + 1) * 4 > m->cap * 3)
        s_grow(m);
    size_t i = s_hash(job->id, m->cap);
    while (m->slots[i]) {
        if (m->slots[i]->id == job->id) {
            m->slots[i] = job;
            return;
        }
        i = (i + 1) & (m->cap - 1);
    }
    m->slots[i] = job;
    m->count++;
}

job_t *jobmap_get(const jobmap_t *m, int64_t id)
{
    size_t i = s_hash(id, m->cap);
    while (m->slots[i]) {
        if (m->slots[i]->id == id)
            return m->slots[i];
        i = (i + 1) & (m->cap - 1);
    }
    return NULL;
}

job_t *jobmap_remove(jobmap_t *m, int64_t id)
{
    size_t mask = m->cap - 1;
    size_t i = s_hash(id, m->cap);
    while (m->slots[i] && m->slots[i]->id != id)
        i = (i + 1) & mask;
    job_t *found = m->slots[i];
    if (!found)
        return NULL;
    /* backward-shift: pull later entries of the probe run into the hole */
    size_t hole = i;
    size_t j = (i + 1) & mask;
    while (m->slots[j]) {
        size_t home = s_hash(m->slots[j]->id, m->cap);
        bool movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
        if (movable) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
        j = (j + 1) & mask;
    }
    m->slots[hole] = NULL;
    m->count--;
    return found;
}

size_t jobmap_count(const jobmap_t *m)
{
    return m->count;
}

void jobmap_foreach(const jobmap_t *m, void (*fn)(job_t *job, void *arg), void *arg)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i])
            fn(m->slots[i], arg);
}

void jobmap_clear(jobmap_t *m)
{
    memset(m->slots, 0, m->cap * sizeof *m->slots);
    m->count = 0;
}
