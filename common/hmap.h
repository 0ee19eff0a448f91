/* One hash map for the whole code base: int64 keys (job ids, dependency
 * ids) or string keys (idempotency keys, interned names), pointer values.
 *
 * Open addressing with linear probing and backward-shift deletion (no
 * tombstones), so lookups stay short under heavy churn; grows by doubling
 * past 3/4 full and never shrinks (hmap_clear keeps the capacity). Each
 * slot keeps its key's full 64-bit hash, so growing and deleting never hash
 * a key again and a string is compared only when the hashes are equal.
 *
 * Hashing. String keys can be chosen by a client (idempotency keys), who
 * could otherwise craft keys that all probe into one run and turn every
 * lookup into a scan: they are hashed with SipHash-2-4 (libsodium's
 * crypto_shorthash) under a random 128-bit key drawn from randombytes_buf
 * for each map. Integer keys are ids the coordinator allocates: a fast
 * fixed mixer (murmur3's finalizer), so iteration order is reproducible.
 *
 * A map holds one kind of key, chosen at creation; calling a function of
 * the other kind is a programmer error and asserts. Not thread-safe: one
 * owner (the coordinator's loop). */
#ifndef HMAP_H
#define HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hmap hmap_t;

/* An empty map of int64 keys. Never NULL (out of memory aborts). */
hmap_t *hmap_new_i64(void);
/* An empty map of string keys, with its own random SipHash key. Keys are
 * copied on insert and freed by the map. Never NULL. */
hmap_t *hmap_new_str(void);
/* Frees the map and its copies of string keys, never the values; accepts
 * NULL and nulls the caller's pointer. */
void hmap_destroy(hmap_t **m);

size_t hmap_count(const hmap_t *m);
/* Removes every entry (frees string keys, not values); keeps the capacity. */
void hmap_clear(hmap_t *m);

/* ---- int64 keys ---- */

/* Inserts key or replaces its value. value must not be NULL (NULL is what
 * a lookup returns for "absent"); the map borrows it. */
void hmap_i64_put(hmap_t *m, int64_t key, void *value);
/* The value of key, or NULL. */
void *hmap_i64_get(const hmap_t *m, int64_t key);
/* Removes key; returns the value it had, or NULL when absent. */
void *hmap_i64_remove(hmap_t *m, int64_t key);
/* Calls fn for every entry, in slot order; fn must not modify the map. */
void hmap_i64_foreach(const hmap_t *m, void (*fn)(int64_t key, void *value, void *arg),
                      void *arg);

/* ---- string keys ---- */

/* Inserts a copy of key, or replaces the value of an equal key (the stored
 * copy is kept). value must not be NULL; the map borrows it. */
void hmap_str_put(hmap_t *m, const char *key, void *value);
/* The value of key, or NULL. */
void *hmap_str_get(const hmap_t *m, const char *key);
/* Removes key (freeing the map's copy); returns its value, or NULL. */
void *hmap_str_remove(hmap_t *m, const char *key);
/* Calls fn for every entry, in slot order; key is the map's copy, valid
 * until the entry is removed; fn must not modify the map. */
void hmap_str_foreach(const hmap_t *m, void (*fn)(const char *key, void *value, void *arg),
                      void *arg);

/* ---- introspection, for tests and diagnostics ---- */

/* Number of slots (a power of two); an entry's home slot is
 * hash & (capacity - 1). */
size_t hmap_capacity(const hmap_t *m);
/* The hash this map gives key. */
uint64_t hmap_hash_i64(const hmap_t *m, int64_t key);
uint64_t hmap_hash_str(const hmap_t *m, const char *key);
/* Length of the longest probe run (consecutive occupied slots). */
size_t hmap_longest_run(const hmap_t *m);
/* Checks the invariants: count matches the occupied slots, every entry's
 * stored hash is its key's hash, and every entry is reachable from its home
 * slot without crossing an empty slot (what backward-shift deletion keeps). */
bool hmap_valid(const hmap_t *m);

#endif
