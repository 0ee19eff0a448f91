/* int64 -> pointer hash map (open addressing, linear probing, backward
 * shift deletion). Used for the dependency index: dependency id -> the
 * waiting jobs it holds back. */
#ifndef I64MAP_H
#define I64MAP_H
#include <stddef.h>
#include <stdint.h>

typedef struct i64map i64map_t;

i64map_t *i64map_new(void);
/* Frees the map; values are not freed. */
void i64map_destroy(i64map_t **m);
void i64map_put(i64map_t *m, int64_t key, void *value);
void *i64map_get(const i64map_t *m, int64_t key);
/* Removes key; returns its value or NULL. */
void *i64map_remove(i64map_t *m, int64_t key);
size_t i64map_count(const i64map_t *m);
/* Calls fn for each entry; fn must not modify the map. */
void i64map_foreach(const i64map_t *m, void (*fn)(int64_t key, void *value, void *arg), void *arg);

#endif
