#include "i64map.h"
#include "xalloc.h"
#include <stdbool.h>
#include <stdlib.h>

typedef struct {
    int64_t key;
    void *value; /* NULL marks an empty slot */
} s_slot_t;

struct i64map {
    s_slot_t *slots;
    size_t cap, count;
};

static size_t s_hash(int64_t k, size_t cap)
{
    uint64_t x = (uint64_t)k * 0x9e3779b97f4a7c15ULL;
    return (size_t)(x ^ (x >> 29)) & (cap - 1);
}

i64map_t *i64map_new(void)
{
    i64map_t *m = xcalloc(1, sizeof *m);
    m->cap = 64;
    m->slots = xcalloc(m->cap, sizeof *m->slots);
    return m;
}

void i64map_destroy(i64map_t **m)
{
    if (!m || !*m)
        return;
    free((*m)->slots);
    free(*m);
    *m = NULL;
}

static void s_grow(i64map_t *m)
{
    s_slot_t *old = m->slots;
    size_t oldcap = m->cap;
    m->cap *= 2;
    m->slots = xcalloc(m->cap, sizeof *m->slots);
    m->count = 0;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].value)
            i64map_put(m, old[i].key, old[i].value);
    free(old);
}

void i64map_put(i64map_t *m, int64_t key, void *value)
{
    if (!value)
        return;
    if ((m->count + 1) * 4 > m->cap * 3)
        s_grow(m);
    size_t i = s_hash(key, m->cap);
    while (m->slots[i].value && m->slots[i].key != key)
        i = (i + 1) & (m->cap - 1);
    if (!m->slots[i].value)
        m->count++;
    m->slots[i].key = key;
    m->slots[i].value = value;
}

void *i64map_get(const i64map_t *m, int64_t key)
{
    size_t i = s_hash(key, m->cap);
    while (m->slots[i].value) {
        if (m->slots[i].key == key)
            return m->slots[i].value;
        i = (i + 1) & (m->cap - 1);
    }
    return NULL;
}

void *i64map_remove(i64map_t *m, int64_t key)
{
    size_t mask = m->cap - 1, i = s_hash(key, m->cap);
    while (m->slots[i].value && m->slots[i].key != key)
        i = (i + 1) & mask;
    void *found = m->slots[i].value;
    if (!found)
        return NULL;
    size_t hole = i, j = (i + 1) & mask;
    while (m->slots[j].value) {
        size_t home = s_hash(m->slots[j].key, m->cap);
        bool movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
        if (movable) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
        j = (j + 1) & mask;
    }
    m->slots[hole].value = NULL;
    m->count--;
    return found;
}

size_t i64map_count(const i64map_t *m)
{
    return m->count;
}

void i64map_foreach(const i64map_t *m, void (*fn)(int64_t key, void *value, void *arg), void *arg)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].value)
            fn(m->slots[i].key, m->slots[i].value, arg);
}
