/*
 * kind_archive.h: the archive kind's requests, shared by its public
 * functions (archive.c) and the backends that implement it
 * (sqlite_archive.c).
 */
#ifndef CANTO_STORAGE_KIND_ARCHIVE_H
#define CANTO_STORAGE_KIND_ARCHIVE_H

#include "storage/storage_internal.h"

/* Operation ids: indexes into canto__kind_archive.ops. */
enum {
    CANTO__ARCHIVE_APPEND,
    CANTO__ARCHIVE_QUERY,
    CANTO__ARCHIVE_DELETE,
    CANTO__ARCHIVE_COUNT,
    CANTO__ARCHIVE_OPS
};

struct canto__archive_req {
    struct canto__storage_req base;   /* owner: whose archive */
    const char *archive;              /* its name: "offline", "mam", ... */
    const char *peer;                 /* append: the peer ("" for none) */
    const char *xml;                  /* append: the stanza */
    size_t len;                       /* its bytes */
    unsigned limit;                   /* append: most items the archive may hold */
    struct canto_archive_query q;     /* query (q.peer points into the request) */
    int64_t up_to_id;                 /* delete: bound, inclusive */
    int64_t id;                       /* out: append: the new item's id */
    uint64_t count;                   /* out: count */
    struct canto_archive_item *items; /* out: query; each item's strings: one block at .peer */
    size_t n;                         /* out: entries in items */
    bool more;                        /* out: another page follows */
};

extern const struct canto__storage_kind canto__kind_archive;

#endif
