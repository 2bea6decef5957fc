/*
 * kind_kv.h: the key-value kind's requests, shared by its public functions
 * (kv.c) and the backends that implement it (sqlite_kv.c).
 */
#ifndef CANTO_STORAGE_KIND_KV_H
#define CANTO_STORAGE_KIND_KV_H

#include "storage/storage_internal.h"

/* Operation ids: indexes into canto__kind_kv.ops. */
enum {
    CANTO__KV_GET,
    CANTO__KV_LIST,
    CANTO__KV_LIST_HOST,
    CANTO__KV_WRITE,
    CANTO__KV_OPS
};

struct canto__kv_req {
    struct canto__storage_req base;  /* owner: whose store (not for list_host) */
    enum canto_owner_kind kind;      /* list_host: which owners */
    const char *host;                /* list_host: their host */
    const char *store;               /* get, list, list_host */
    const char *key;                 /* get: the key */
    const char *after_owner;         /* list_host: cursor (NULL: from the first) */
    const char *after_key;           /* list, list_host: cursor (NULL or "": from the first) */
    unsigned limit;                  /* list, list_host: page size */
    struct canto_kv_change *changes; /* in: write; one block, bytes after the array */
    size_t n_changes;                /* entries in changes */
    struct canto_kv_item *items;     /* out: each item's strings are one block at .owner */
    size_t n;                        /* out: entries in items */
    bool more;                       /* out: another page follows */
};

extern const struct canto__storage_kind canto__kind_kv;

#endif
