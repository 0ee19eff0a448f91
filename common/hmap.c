/* The hash map behind hmap.h: one slot array and one probe loop for both
 * kinds of key; the kind only decides how a key is hashed, compared,
 * copied and freed. */
#include "hmap.h"
#include "xalloc.h"

#include <assert.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define HMAP_MIN_CAP 16

typedef enum { S_I64, S_STR } s_kind_t;

typedef struct {
    uint64_t hash; /* the key's full hash: home slot = hash & (cap - 1) */
    union {
        int64_t i;
        char *s; /* the map's copy */
    } key;
    void *value; /* NULL marks an empty slot */
} s_slot_t;

struct hmap {
    s_slot_t *slots;
    size_t cap; /* power of two, never full: load stays at most 3/4 */
    size_t count;
    s_kind_t kind;
    unsigned char sipkey[crypto_shorthash_KEYBYTES]; /* S_STR only */
};

/* ---- hashing ---- */

/* murmur3's 64-bit finalizer: a bijection whose low bits depend on every
 * input bit, so sequential ids spread over the table. */
static uint64_t s_mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static uint64_t s_hash_i64(int64_t key)
{
    return s_mix((uint64_t)key);
}

static uint64_t s_hash_str(const hmap_t *m, const char *key)
{
    unsigned char out[crypto_shorthash_BYTES];
    crypto_shorthash(out, (const unsigned char *)key, strlen(key), m->sipkey);
    uint64_t h;
    memcpy(&h, out, sizeof h);
    return h;
}

/* ---- the core: one probe loop for both kinds ---- */

typedef struct {
    uint64_t hash;
    int64_t i;     /* S_I64 */
    const char *s; /* S_STR */
} s_key_t;

static bool s_same(const hmap_t *m, const s_slot_t *slot, const s_key_t *k)
{
    if (m->kind == S_I64)
        return slot->key.i == k->i;
    return slot->hash == k->hash && strcmp(slot->key.s, k->s) == 0;
}

/* The slot holding k, or the empty slot that ends k's probe run. */
static size_t s_find(const hmap_t *m, const s_key_t *k)
{
    size_t mask = m->cap - 1;
    size_t i = (size_t)k->hash & mask;
    while (m->slots[i].value && !s_same(m, &m->slots[i], k))
        i = (i + 1) & mask;
    return i;
}

/* The first empty slot of hash's probe run (for entries known to be new). */
static size_t s_free_slot(const s_slot_t *slots, size_t cap, uint64_t hash)
{
    size_t i = (size_t)hash & (cap - 1);
    while (slots[i].value)
        i = (i + 1) & (cap - 1);
    return i;
}

static void s_grow(hmap_t *m)
{
    size_t cap = m->cap * 2;
    s_slot_t *slots = xcalloc(cap, sizeof *slots);
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].value)
            slots[s_free_slot(slots, cap, m->slots[i].hash)] = m->slots[i];
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
}

static void s_put(hmap_t *m, const s_key_t *k, void *value)
{
    assert(value && "hmap values must not be NULL");
    size_t i = s_find(m, k);
    if (m->slots[i].value) {
        m->slots[i].value = value;
        return;
    }
    if ((m->count + 1) * 4 > m->cap * 3) {
        s_grow(m);
        i = s_free_slot(m->slots, m->cap, k->hash);
    }
    s_slot_t *slot = &m->slots[i];
    slot->hash = k->hash;
    if (m->kind == S_I64)
        slot->key.i = k->i;
    else
        slot->key.s = xstrdup(k->s);
    slot->value = value;
    m->count++;
}

static void *s_get(const hmap_t *m, const s_key_t *k)
{
    return m->slots[s_find(m, k)].value;
}

/* Closes the hole at slot `hole` by pulling back every later entry of the
 * run that may legally sit there: one whose home is not cyclically within
 * (hole, j]. Without tombstones a lookup never walks past removed entries. */
static void s_backward_shift(hmap_t *m, size_t hole)
{
    size_t mask = m->cap - 1;
    for (size_t j = (hole + 1) & mask; m->slots[j].value; j = (j + 1) & mask) {
        size_t home = (size_t)m->slots[j].hash & mask;
        bool movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
        if (movable) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    memset(&m->slots[hole], 0, sizeof m->slots[hole]);
}

static void *s_remove(hmap_t *m, const s_key_t *k)
{
    size_t i = s_find(m, k);
    void *value = m->slots[i].value;
    if (!value)
        return NULL;
    if (m->kind == S_STR)
        free(m->slots[i].key.s);
    s_backward_shift(m, i);
    m->count--;
    return value;
}

/* ---- lifecycle ---- */

static hmap_t *s_new(s_kind_t kind)
{
    hmap_t *m = xcalloc(1, sizeof *m);
    m->kind = kind;
    m->cap = HMAP_MIN_CAP;
    m->slots = xcalloc(m->cap, sizeof *m->slots);
    return m;
}

hmap_t *hmap_new_i64(void)
{
    return s_new(S_I64);
}

hmap_t *hmap_new_str(void)
{
    /* Idempotent and thread-safe; fails only when the system offers no
     * random source, and a map without a secret key is what we must avoid. */
    if (sodium_init() < 0)
        abort();
    hmap_t *m = s_new(S_STR);
    randombytes_buf(m->sipkey, sizeof m->sipkey);
    return m;
}

static void s_free_keys(hmap_t *m)
{
    if (m->kind != S_STR)
        return;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].value)
            free(m->slots[i].key.s);
}

void hmap_destroy(hmap_t **mp)
{
    if (!mp || !*mp)
        return;
    hmap_t *m = *mp;
    s_free_keys(m);
    free(m->slots);
    sodium_memzero(m->sipkey, sizeof m->sipkey);
    free(m);
    *mp = NULL;
}

size_t hmap_count(const hmap_t *m)
{
    return m->count;
}

void hmap_clear(hmap_t *m)
{
    s_free_keys(m);
    memset(m->slots, 0, m->cap * sizeof *m->slots);
    m->count = 0;
}

/* ---- int64 keys ---- */

static s_key_t s_ikey(const hmap_t *m, int64_t key)
{
    assert(m->kind == S_I64 && "hmap_i64_* on a map of string keys");
    (void)m;
    return (s_key_t){.hash = s_hash_i64(key), .i = key};
}

void hmap_i64_put(hmap_t *m, int64_t key, void *value)
{
    s_key_t k = s_ikey(m, key);
    s_put(m, &k, value);
}

void *hmap_i64_get(const hmap_t *m, int64_t key)
{
    s_key_t k = s_ikey(m, key);
    return s_get(m, &k);
}

void *hmap_i64_remove(hmap_t *m, int64_t key)
{
    s_key_t k = s_ikey(m, key);
    return s_remove(m, &k);
}

void hmap_i64_foreach(const hmap_t *m, void (*fn)(int64_t key, void *value, void *arg), void *arg)
{
    assert(m->kind == S_I64);
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].value)
            fn(m->slots[i].key.i, m->slots[i].value, arg);
}

/* ---- string keys ---- */

static s_key_t s_skey(const hmap_t *m, const char *key)
{
    assert(m->kind == S_STR && "hmap_str_* on a map of int64 keys");
    assert(key);
    return (s_key_t){.hash = s_hash_str(m, key), .s = key};
}

void hmap_str_put(hmap_t *m, const char *key, void *value)
{
    s_key_t k = s_skey(m, key);
    s_put(m, &k, value);
}

void *hmap_str_get(const hmap_t *m, const char *key)
{
    s_key_t k = s_skey(m, key);
    return s_get(m, &k);
}

void *hmap_str_remove(hmap_t *m, const char *key)
{
    s_key_t k = s_skey(m, key);
    return s_remove(m, &k);
}

void hmap_str_foreach(const hmap_t *m, void (*fn)(const char *key, void *value, void *arg),
                      void *arg)
{
    assert(m->kind == S_STR);
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].value)
            fn(m->slots[i].key.s, m->slots[i].value, arg);
}

/* ---- introspection ---- */

size_t hmap_capacity(const hmap_t *m)
{
    return m->cap;
}

uint64_t hmap_hash_i64(const hmap_t *m, int64_t key)
{
    return s_ikey(m, key).hash;
}

uint64_t hmap_hash_str(const hmap_t *m, const char *key)
{
    return s_skey(m, key).hash;
}

size_t hmap_longest_run(const hmap_t *m)
{
    /* start right after an empty slot (there always is one) so no run is
     * split by the wrap-around */
    size_t start = 0;
    while (m->slots[start].value)
        start++;
    size_t longest = 0, run = 0;
    for (size_t n = 1; n <= m->cap; n++) {
        size_t i = (start + n) & (m->cap - 1);
        run = m->slots[i].value ? run + 1 : 0;
        if (run > longest)
            longest = run;
    }
    return longest;
}

bool hmap_valid(const hmap_t *m)
{
    size_t used = 0;
    for (size_t i = 0; i < m->cap; i++) {
        const s_slot_t *slot = &m->slots[i];
        if (!slot->value)
            continue;
        used++;
        s_key_t k = m->kind == S_I64 ? s_ikey(m, slot->key.i) : s_skey(m, slot->key.s);
        /* s_find walks from the home slot: it must reach this very slot,
         * which also rules out an equal key earlier in the run */
        if (k.hash != slot->hash || s_find(m, &k) != i)
            return false;
    }
    return used == m->count && m->count * 4 <= m->cap * 3;
}
