/*
 * hashmap.h: a string-keyed hash table (separate chaining, power-of-two
 * buckets, grows at load factor 1). Keys are borrowed: the caller keeps each
 * key alive while its entry exists (usually the key is a field of the value).
 * The hash is keyed with a secret chosen per table (hash flooding: see
 * hashmap.c), so iteration order differs from table to table.
 */
#ifndef CANTO_HASHMAP_H
#define CANTO_HASHMAP_H

#include "canto/common.h"

struct canto_hashmap_entry;

struct canto_hashmap {
    struct canto_hashmap_entry **buckets;
    size_t nbuckets; /* 0 or a power of two */
    size_t count;
};

void canto_hashmap_init(struct canto_hashmap *m);
/* Release the table (not the keys or values). */
void canto_hashmap_free(struct canto_hashmap *m);
void *canto_hashmap_get(const struct canto_hashmap *m, const char *key);
/* Insert or replace; returns the previous value or NULL. */
void *canto_hashmap_put(struct canto_hashmap *m, const char *key, void *value);
/* Remove; returns the removed value or NULL. */
void *canto_hashmap_remove(struct canto_hashmap *m, const char *key);
/* Call fn for each entry; fn must not change the map. */
void canto_hashmap_foreach(const struct canto_hashmap *m,
                           void (*fn)(void *ud, const char *key, void *value), void *ud);
/* Values into a malloc'd array (free it); *n gets the count. For iterating
 * while changing the map (shutdown). */
void **canto_hashmap_values(const struct canto_hashmap *m, size_t *n);
/* The length of the longest bucket chain (for tests and diagnostics). */
size_t canto_hashmap_longest_chain(const struct canto_hashmap *m);

#endif
