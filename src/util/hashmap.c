/*
 * hashmap.c: the string-keyed hash table of hashmap.h. The table doubles
 * when it holds as many entries as buckets, so lookups stay O(1) on average
 * and a session costs the same at 19,000 as at 1,000.
 *
 * Keys often come from peers (JIDs, addresses), so the hash is keyed
 * SipHash (libsodium's crypto_shorthash) with a random key per table: a
 * peer that cannot learn the key cannot aim many keys at one bucket (hash
 * flooding), as it could with an unkeyed hash such as FNV-1a. The key is
 * drawn when the table first allocates buckets and lives right after the
 * bucket array, so an empty table (most accounts' block lists) costs no
 * more than before.
 */
#include "canto/hashmap.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct canto_hashmap_entry {
    struct canto_hashmap_entry *next;
    const char *key;
    uint32_t hash;
    void *value;
};

/* The table's SipHash key: the crypto_shorthash_KEYBYTES after its
 * buckets (only once it has buckets). */
static unsigned char *table_key(const struct canto_hashmap *m)
{
    return (unsigned char *)(m->buckets + m->nbuckets);
}

static uint32_t hash_str(const struct canto_hashmap *m, const char *s)
{
    unsigned char out[crypto_shorthash_BYTES];
    crypto_shorthash(out, (const unsigned char *)s, strlen(s), table_key(m));
    uint32_t h;
    memcpy(&h, out, sizeof(h));
    return h;
}

void canto_hashmap_init(struct canto_hashmap *m)
{
    m->buckets = NULL;
    m->nbuckets = 0;
    m->count = 0;
}

/* A fresh secret key into key (a table's first buckets). sodium_init is
 * idempotent and thread-safe; it fails only if the system has no source of
 * randomness, where nothing secure can run. */
static void choose_key(unsigned char *key)
{
    if (sodium_init() < 0) {
        fprintf(stderr, "canto: libsodium cannot start: no source of randomness\n");
        abort();
    }
    randombytes_buf(key, crypto_shorthash_KEYBYTES);
}

void canto_hashmap_free(struct canto_hashmap *m)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct canto_hashmap_entry *e = m->buckets[i];
        while (e) {
            struct canto_hashmap_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    canto_hashmap_init(m);
}

/* The link holding key's entry, or the empty link ending its chain. The
 * table has buckets. */
static struct canto_hashmap_entry **find_slot(const struct canto_hashmap *m, const char *key,
                                              uint32_t h)
{
    struct canto_hashmap_entry **slot = &m->buckets[h & (m->nbuckets - 1)];
    while (*slot && ((*slot)->hash != h || strcmp((*slot)->key, key) != 0))
        slot = &(*slot)->next;
    return slot;
}

void *canto_hashmap_get(const struct canto_hashmap *m, const char *key)
{
    if (!m->nbuckets)
        return NULL;
    struct canto_hashmap_entry **slot = find_slot(m, key, hash_str(m, key));
    return *slot ? (*slot)->value : NULL;
}

static void grow(struct canto_hashmap *m)
{
    size_t n = m->nbuckets ? m->nbuckets * 2 : 16;
    struct canto_hashmap_entry **b = canto_xcalloc(1, n * sizeof(*b) + crypto_shorthash_KEYBYTES);
    if (m->nbuckets)
        memcpy(b + n, table_key(m), crypto_shorthash_KEYBYTES);
    else
        choose_key((unsigned char *)(b + n));
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct canto_hashmap_entry *e = m->buckets[i];
        while (e) {
            struct canto_hashmap_entry *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

void *canto_hashmap_put(struct canto_hashmap *m, const char *key, void *value)
{
    if (!m->nbuckets)
        grow(m);
    uint32_t h = hash_str(m, key);
    struct canto_hashmap_entry **slot = find_slot(m, key, h);
    if (*slot) {
        void *old = (*slot)->value;
        (*slot)->value = value;
        (*slot)->key = key;
        return old;
    }
    if (m->count >= m->nbuckets)
        grow(m);
    struct canto_hashmap_entry *e = canto_xmalloc(sizeof(*e));
    e->key = key;
    e->hash = h;
    e->value = value;
    e->next = m->buckets[h & (m->nbuckets - 1)];
    m->buckets[h & (m->nbuckets - 1)] = e;
    m->count++;
    return NULL;
}

void *canto_hashmap_remove(struct canto_hashmap *m, const char *key)
{
    if (!m->nbuckets)
        return NULL;
    struct canto_hashmap_entry **slot = find_slot(m, key, hash_str(m, key));
    if (!*slot)
        return NULL;
    struct canto_hashmap_entry *e = *slot;
    void *value = e->value;
    *slot = e->next;
    free(e);
    m->count--;
    return value;
}

void canto_hashmap_foreach(const struct canto_hashmap *m,
                           void (*fn)(void *ud, const char *key, void *value), void *ud)
{
    for (size_t i = 0; i < m->nbuckets; i++)
        for (struct canto_hashmap_entry *e = m->buckets[i]; e; e = e->next)
            fn(ud, e->key, e->value);
}

void **canto_hashmap_values(const struct canto_hashmap *m, size_t *n)
{
    void **out = canto_xmalloc((m->count ? m->count : 1) * sizeof(*out));
    size_t k = 0;
    for (size_t i = 0; i < m->nbuckets; i++)
        for (struct canto_hashmap_entry *e = m->buckets[i]; e; e = e->next)
            out[k++] = e->value;
    *n = k;
    return out;
}

size_t canto_hashmap_longest_chain(const struct canto_hashmap *m)
{
    size_t longest = 0;
    for (size_t i = 0; i < m->nbuckets; i++) {
        size_t len = 0;
        for (struct canto_hashmap_entry *e = m->buckets[i]; e; e = e->next)
            len++;
        if (len > longest)
            longest = len;
    }
    return longest;
}
