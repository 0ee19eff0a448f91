/* string -> pointer hash map (keys copied). Used for idempotency keys:
 * "queue\x1fkey" -> job. */
#ifndef STRMAP_H
#define STRMAP_H
#include <stddef.h>

typedef struct strmap strmap_t;

strmap_t *strmap_new(void);
void strmap_destroy(strmap_t **m);
void strmap_put(strmap_t *m, const char *key, void *value);
void *strmap_get(const strmap_t *m, const char *key);
void *strmap_remove(strmap_t *m, const char *key);
size_t strmap_count(const strmap_t *m);

#endif
