/*
 * sqlite_archive.c: the archive kind on SQLite. archive(id, owner_kind,
 * host, owner, archive, stamp, peer, xml) (base schema version 3, in
 * sqlite.c): id is an AUTOINCREMENT key, so ids increase and are never
 * reused after a delete (which "delete up to an id" and paging by id rely
 * on); stamp is microseconds since the epoch. The index archive_by_owner
 * (owner_kind, host, owner, archive, id) serves a page in id order either
 * way from a cursor and deleting up to an id; archive_by_peer adds the
 * peer before the id for queries with one peer. A time range filters the
 * rows of that id range (stamps grow with ids, except when the clock is
 * set back). archive_size(owner_kind, host, owner, archive, items) is kept
 * by triggers, so that the limit check of an append is one row lookup.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/kind_archive.h"
#include "storage/sqlite_kind.h"

#define REQ(r) canto_container_of((r), struct canto__archive_req, base)

enum { SIZE, INSERT, OLDEST, NEWEST, PEER_OLDEST, PEER_NEWEST, DELETE, N_SQL };

#define QUERY                                                                          \
    "SELECT id, stamp, peer, xml FROM archive WHERE owner_kind = ?1 AND host = ?2 "    \
    "AND owner = ?3 AND archive = ?4 AND id > ?5 AND id < ?6 AND stamp >= ?7 "         \
    "AND stamp <= ?8 "

/* ?1 owner kind, ?2 host, ?3 owner, ?4 archive, then per statement: for
 * queries ?5 after id, ?6 before id, ?7..?8 the stamp range, ?9 the page
 * size plus one, ?10 the peer. */
static const char *const sql[N_SQL] = {
    [SIZE] = "SELECT items FROM archive_size WHERE owner_kind = ?1 AND host = ?2 "
             "AND owner = ?3 AND archive = ?4",
    [INSERT] = "INSERT INTO archive (owner_kind, host, owner, archive, stamp, peer, xml) "
               "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [OLDEST] = QUERY "ORDER BY id LIMIT ?9",
    [NEWEST] = QUERY "ORDER BY id DESC LIMIT ?9",
    [PEER_OLDEST] = QUERY "AND peer = ?10 ORDER BY id LIMIT ?9",
    [PEER_NEWEST] = QUERY "AND peer = ?10 ORDER BY id DESC LIMIT ?9",
    [DELETE] = "DELETE FROM archive WHERE owner_kind = ?1 AND host = ?2 AND owner = ?3 "
               "AND archive = ?4 AND id <= ?5",
};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static sqlite3_stmt *start(struct canto__sqlite *c, int st, struct canto__storage_req *r)
{
    sqlite3_stmt *q = canto__sqlite_start(c, st, r);
    sqlite3_bind_text(q, 4, REQ(r)->archive, -1, SQLITE_STATIC);
    return q;
}

/* The existence check and the size check run inside the write
 * transaction, so no other writer can slip an item in between them and the
 * insert. */
static int exec_append(struct canto__sqlite *c, struct canto__storage_req *r)
{
    struct canto__archive_req *a = REQ(r);
    bool exists;
    if (canto__sqlite_owner_exists(c, &r->owner, &exists) != CANTO_OK)
        return CANTO_ERROR;
    if (!exists)
        return CANTO_NOTFOUND;
    if (a->limit != CANTO_ARCHIVE_UNLIMITED) {
        int64_t items;
        start(c, SIZE, r);
        if (canto__sqlite_query_int(c, SIZE, &items) != CANTO_OK)
            return CANTO_ERROR;
        if (items >= (int64_t)a->limit)
            return CANTO_LIMIT;
    }
    sqlite3_stmt *q = start(c, INSERT, r);
    sqlite3_bind_int64(q, 5, now_us());
    sqlite3_bind_text(q, 6, a->peer, -1, SQLITE_STATIC);
    sqlite3_bind_blob64(q, 7, a->xml, a->len, SQLITE_STATIC);
    if (canto__sqlite_run(c, INSERT) != CANTO_OK)
        return CANTO_ERROR;
    a->id = sqlite3_last_insert_rowid(c->db);
    return CANTO_OK;
}

/* One page in the order asked for. An unknown owner has an empty archive. */
static int exec_query(struct canto__sqlite *c, struct canto__storage_req *r)
{
    struct canto__archive_req *a = REQ(r);
    const struct canto_archive_query *qu = &a->q;
    int st = qu->peer ? (qu->newest_first ? PEER_NEWEST : PEER_OLDEST)
                      : (qu->newest_first ? NEWEST : OLDEST);
    sqlite3_stmt *q = start(c, st, r);
    sqlite3_bind_int64(q, 5, qu->after_id);
    sqlite3_bind_int64(q, 6, qu->before_id ? qu->before_id : INT64_MAX);
    sqlite3_bind_int64(q, 7, qu->start_us ? qu->start_us : INT64_MIN);
    sqlite3_bind_int64(q, 8, qu->end_us ? qu->end_us : INT64_MAX);
    sqlite3_bind_int64(q, 9, (sqlite3_int64)qu->limit + 1);
    if (qu->peer)
        sqlite3_bind_text(q, 10, qu->peer, -1, SQLITE_STATIC);
    size_t cap = 0, bytes = 0;
    int e;
    while ((e = sqlite3_step(q)) == SQLITE_ROW) {
        if (canto__sqlite_page_full(a->n, qu->limit, bytes)) {
            a->more = true;
            break;
        }
        if (a->n == cap) {
            cap = cap ? cap * 2 : 8;
            a->items = canto_xrealloc(a->items, cap * sizeof *a->items);
        }
        const char *peer = (const char *)sqlite3_column_text(q, 2);
        size_t pl = (size_t)sqlite3_column_bytes(q, 2);
        const char *xml = sqlite3_column_blob(q, 3);
        size_t xl = (size_t)sqlite3_column_bytes(q, 3);
        char *p = canto_xmalloc(pl + xl + 2);
        struct canto_archive_item *it = &a->items[a->n++];
        it->id = sqlite3_column_int64(q, 0);
        it->stamp_us = sqlite3_column_int64(q, 1);
        it->peer = canto__storage_put(&p, peer, pl);
        it->xml = canto__storage_put(&p, xml, xl);
        it->len = xl;
        bytes += pl + xl + 2;
    }
    int rc = e == SQLITE_DONE || e == SQLITE_ROW ? CANTO_OK : canto__sqlite_fail(c, st);
    canto__sqlite_finish(c, st);
    if (rc != CANTO_OK)
        r->op->clear(r);
    return rc;
}

static int exec_delete(struct canto__sqlite *c, struct canto__storage_req *r)
{
    sqlite3_stmt *q = start(c, DELETE, r);
    sqlite3_bind_int64(q, 5, REQ(r)->up_to_id);
    return canto__sqlite_run(c, DELETE);
}

/* An unknown owner or archive has none: OK with 0. */
static int exec_count(struct canto__sqlite *c, struct canto__storage_req *r)
{
    int64_t items;
    start(c, SIZE, r);
    if (canto__sqlite_query_int(c, SIZE, &items) != CANTO_OK)
        return CANTO_ERROR;
    REQ(r)->count = items > 0 ? (uint64_t)items : 0;
    return CANTO_OK;
}

static const canto__sqlite_exec_fn exec[CANTO__ARCHIVE_OPS] = {
    [CANTO__ARCHIVE_APPEND] = exec_append,
    [CANTO__ARCHIVE_QUERY] = exec_query,
    [CANTO__ARCHIVE_DELETE] = exec_delete,
    [CANTO__ARCHIVE_COUNT] = exec_count,
};

const struct canto__sqlite_kind canto__sqlite_archive = {
    .kind = &canto__kind_archive,
    .exec = exec,
    .sql = sql,
    .n_sql = N_SQL,
};
