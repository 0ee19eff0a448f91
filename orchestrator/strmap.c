#include "strmap.h"
#include "xalloc.h"
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *key; /* NULL marks an empty slot */
    void *value;
} s_slot_t;

struct strmap {
    s_slot_t *slots;
    size_t cap, count;
};

static size_t s_hash(const char *k, size_t cap)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *k; k++) {
        h ^= (unsigned char)*k;
        h *= 1099511628211ULL;
    }
    return (size_t)h & (cap - 1);
}

strmap_t *strmap_new(void)
{
    strmap_t *m = xcalloc(1, sizeof *m);
    m->cap = 64;
    m->slots = xcalloc(m->cap, sizeof *m->slots);
    return m;
}

void strmap_destroy(strmap_t **m)
{
    if (!m || !*m)
        return;
    for (size_t i = 0; i < (*m)->cap; i++)
        free((*m)->slots[i].key);
    free((*m)->slots);
    free(*m);
    *m = NULL;
}

static void s_insert_owned(strmap_t *m, char *key, void *value)
{
    size_t i = s_hash(key, m->cap);
    while (m->slots[i].key)
        i = (i + 1) & (m->cap - 1);
    m->slots[i].key = key;
    m->slots[i].value = value;
    m->count++;
}

static void s_grow(strmap_t *m)
{
    s_slot_t *old = m->slots;
    size_t oldcap = m->cap;
    m->cap *= 2;
    m->slots = xcalloc(m->cap, sizeof *m->slots);
    m->count = 0;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].key)
            s_insert_owned(m, old[i].key, old[i].value);
    free(old);
}

void strmap_put(strmap_t *m, const char *key, void *value)
{
    size_t i = s_hash(key, m->cap);
    while (m->slots[i].key) {
        if (strcmp(m->slots[i].key, key) == 0) {
            m->slots[i].value = value;
            return;
        }
        i = (i + 1) & (m->cap - 1);
    }
    if ((m->count + 1) * 4 > m->cap * 3) {
        s_grow(m);
        strmap_put(m, key, value);
        return;
    }
    s_insert_owned(m, xstrdup(key), value);
}

void *strmap_get(const strmap_t *m, const char *key)
{
    size_t i = s_hash(key, m->cap);
    while (m->slots[i].key) {
        if (strcmp(m->slots[i].key, key) == 0)
            return m->slots[i].value;
        i = (i + 1) & (m->cap - 1);
    }
    return NULL;
}

void *strmap_remove(strmap_t *m, const char *key)
{
    size_t mask = m->cap - 1, i = s_hash(key, m->cap);
    while (m->slots[i].key && strcmp(m->slots[i].key, key) != 0)
        i = (i + 1) & mask;
    if (!m->slots[i].key)
        return NULL;
    void *found = m->slots[i].value;
    free(m->slots[i].key);
    m->slots[i].key = NULL;
    size_t hole = i, j = (i + 1) & mask;
    while (m->slots[j].key) {
        size_t home = s_hash(m->slots[j].key, m->cap);
        bool movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
        if (movable) {
            m->slots[hole] = m->slots[j];
            m->slots[j].key = NULL;
            hole = j;
        }
        j = (j + 1) & mask;
    }
    m->count--;
    return found;
}

size_t strmap_count(const strmap_t *m)
{
    return m->count;
}
