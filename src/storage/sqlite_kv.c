/*
 * sqlite_kv.c: the key-value kind on SQLite. kv(owner_kind, host, owner,
 * store, key, value) (base schema version 3, in sqlite.c), WITHOUT ROWID:
 * the primary key serves everything about one owner (a key, one store in
 * key order from a cursor, emptying a store, deleting an account's rows);
 * the index kv_by_store (owner_kind, host, store, owner, key) serves one
 * store across a host in (owner, key) order from a cursor, without a sort
 * and without visiting the other stores of every owner. Keys are TEXT and
 * sort in byte order (BINARY); values are BLOBs and may hold any bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "storage/kind_kv.h"
#include "storage/sqlite_kind.h"

#define REQ(r) canto_container_of((r), struct canto__kv_req, base)

enum { KV_GET, KV_LIST, KV_LIST_HOST, KV_SET, KV_DELETE, KV_CLEAR, N_SQL };

/* ?1 owner kind, ?2 host, ?3 owner, ?4 store, then per statement: ?5 key
 * or the key cursor, ?6 value or the page size plus one, ?7 the owner
 * cursor. (owner, key) > (?7, ?5) is a row-value comparison the index
 * serves as a range. */
static const char *const sql[N_SQL] = {
    [KV_GET] = "SELECT owner, key, value FROM kv WHERE owner_kind = ?1 AND host = ?2 "
               "AND owner = ?3 AND store = ?4 AND key = ?5",
    [KV_LIST] = "SELECT owner, key, value FROM kv WHERE owner_kind = ?1 AND host = ?2 "
                "AND owner = ?3 AND store = ?4 AND key > ?5 ORDER BY key LIMIT ?6",
    [KV_LIST_HOST] = "SELECT owner, key, value FROM kv WHERE owner_kind = ?1 AND host = ?2 "
                     "AND store = ?4 AND (owner, key) > (?7, ?5) ORDER BY owner, key LIMIT ?6",
    [KV_SET] = "INSERT INTO kv (owner_kind, host, owner, store, key, value) "
               "VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
               "ON CONFLICT (owner_kind, host, owner, store, key) "
               "DO UPDATE SET value = excluded.value",
    [KV_DELETE] = "DELETE FROM kv WHERE owner_kind = ?1 AND host = ?2 AND owner = ?3 "
                  "AND store = ?4 AND key = ?5",
    [KV_CLEAR] = "DELETE FROM kv WHERE owner_kind = ?1 AND host = ?2 AND owner = ?3 "
                 "AND store = ?4",
};

/* Step statement st (started, parameters bound) and collect its (owner,
 * key, value) rows into r's items, each item one allocation holding the
 * three, each NUL-terminated (a value may also hold NULs of its own; len
 * counts its bytes), until the page is full (then more is set). On failure
 * nothing is left in r. */
static int read_items(struct canto__sqlite *c, int st, struct canto__storage_req *r,
                      unsigned limit)
{
    struct canto__kv_req *k = REQ(r);
    sqlite3_stmt *q = c->stmt[st];
    size_t cap = 0, bytes = 0;
    int e;
    while ((e = sqlite3_step(q)) == SQLITE_ROW) {
        if (canto__sqlite_page_full(k->n, limit, bytes)) {
            k->more = true;
            break;
        }
        if (k->n == cap) {
            cap = cap ? cap * 2 : 8;
            k->items = canto_xrealloc(k->items, cap * sizeof *k->items);
        }
        const char *owner = (const char *)sqlite3_column_text(q, 0);
        size_t ol = (size_t)sqlite3_column_bytes(q, 0);
        const char *key = (const char *)sqlite3_column_text(q, 1);
        size_t kl = (size_t)sqlite3_column_bytes(q, 1);
        const char *value = sqlite3_column_blob(q, 2);
        size_t vl = (size_t)sqlite3_column_bytes(q, 2);
        char *p = canto_xmalloc(ol + kl + vl + 3);
        struct canto_kv_item *it = &k->items[k->n++];
        it->owner = canto__storage_put(&p, owner, ol);
        it->key = canto__storage_put(&p, key, kl);
        it->value = canto__storage_put(&p, value, vl);
        it->len = vl;
        bytes += ol + kl + vl + 3;
    }
    int rc = e == SQLITE_DONE || e == SQLITE_ROW ? CANTO_OK : canto__sqlite_fail(c, st);
    canto__sqlite_finish(c, st);
    if (rc != CANTO_OK)
        r->op->clear(r);
    return rc;
}

/* A missing key and a missing owner look the same: CANTO_NOTFOUND. */
static int exec_get(struct canto__sqlite *c, struct canto__storage_req *r)
{
    struct canto__kv_req *k = REQ(r);
    sqlite3_stmt *q = canto__sqlite_start(c, KV_GET, r);
    sqlite3_bind_text(q, 4, k->store, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 5, k->key, -1, SQLITE_STATIC);
    int rc = read_items(c, KV_GET, r, 1);
    if (rc == CANTO_OK && k->n == 0)
        rc = CANTO_NOTFOUND;
    return rc;
}

/* One page of one owner's store (an unknown owner has an empty one). */
static int exec_list(struct canto__sqlite *c, struct canto__storage_req *r)
{
    struct canto__kv_req *k = REQ(r);
    sqlite3_stmt *q = canto__sqlite_start(c, KV_LIST, r);
    sqlite3_bind_text(q, 4, k->store, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 5, k->after_key ? k->after_key : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 6, (sqlite3_int64)k->limit + 1);
    return read_items(c, KV_LIST, r, k->limit);
}

/* One page of the store of every owner of a kind on a host. With no
 * cursor, (owner, key) > ("", "") is every row: keys are never empty (an
 * owner's name may be, for a service itself). */
static int exec_list_host(struct canto__sqlite *c, struct canto__storage_req *r)
{
    struct canto__kv_req *k = REQ(r);
    sqlite3_stmt *q = c->stmt[KV_LIST_HOST];
    sqlite3_bind_int(q, 1, (int)k->kind);
    sqlite3_bind_text(q, 2, k->host, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, k->store, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 5, k->after_key ? k->after_key : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 6, (sqlite3_int64)k->limit + 1);
    sqlite3_bind_text(q, 7, k->after_owner ? k->after_owner : "", -1, SQLITE_STATIC);
    return read_items(c, KV_LIST_HOST, r, k->limit);
}

/* One change of a write: set (value given), delete a key (key given), or
 * empty the store (neither). A value too big for SQLite fails the bind,
 * and with it the whole write. */
static int apply(struct canto__sqlite *c, struct canto__storage_req *r,
                 const struct canto_kv_change *ch)
{
    int st = ch->value ? KV_SET : ch->key ? KV_DELETE : KV_CLEAR;
    sqlite3_stmt *q = canto__sqlite_start(c, st, r);
    sqlite3_bind_text(q, 4, ch->store, -1, SQLITE_STATIC);
    if (ch->key)
        sqlite3_bind_text(q, 5, ch->key, -1, SQLITE_STATIC);
    if (ch->value && sqlite3_bind_blob64(q, 6, ch->value, ch->len, SQLITE_STATIC) != SQLITE_OK) {
        int rc = canto__sqlite_fail(c, st);
        canto__sqlite_finish(c, st);
        return rc;
    }
    return canto__sqlite_run(c, st);
}

/* The owner is checked first, so a write for a missing account reports
 * CANTO_NOTFOUND having changed nothing. The changes go in order; the first
 * that fails fails the request, and the request's savepoint undoes the
 * ones before it: all or none. */
static int exec_write(struct canto__sqlite *c, struct canto__storage_req *r)
{
    struct canto__kv_req *k = REQ(r);
    bool exists;
    if (canto__sqlite_owner_exists(c, &r->owner, &exists) != CANTO_OK)
        return CANTO_ERROR;
    if (!exists)
        return CANTO_NOTFOUND;
    for (size_t i = 0; i < k->n_changes; i++) {
        if (apply(c, r, &k->changes[i]) != CANTO_OK)
            return CANTO_ERROR;
    }
    return CANTO_OK;
}

static const canto__sqlite_exec_fn exec[CANTO__KV_OPS] = {
    [CANTO__KV_GET] = exec_get,
    [CANTO__KV_LIST] = exec_list,
    [CANTO__KV_LIST_HOST] = exec_list_host,
    [CANTO__KV_WRITE] = exec_write,
};

const struct canto__sqlite_kind canto__sqlite_kv = {
    .kind = &canto__kind_kv,
    .exec = exec,
    .sql = sql,
    .n_sql = N_SQL,
};
