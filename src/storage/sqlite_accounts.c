/*
 * sqlite_accounts.c: the accounts kind on SQLite. accounts(host, user,
 * created_at) holds one row per account and credentials(host, user, hash,
 * iterations, salt, stored_key, server_key) its SCRAM keys, never a
 * password; both are in the base schema (sqlite.c, versions 1 and 3).
 * Deleting an account's row deletes its credentials by cascade and its rows
 * of every other kind by those kinds' triggers.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "canto/log.h"
#include "storage/kind_accounts.h"
#include "storage/sqlite_kind.h"

#define REQ(r) canto_container_of((r), struct canto__accounts_req, base)

enum {
    ACCOUNT_INSERT,
    ACCOUNT_DELETE,
    ACCOUNT_LIST_HOST,
    ACCOUNT_LIST_ALL,
    CREDS_GET,
    CREDS_DELETE,
    CREDS_INSERT,
    N_SQL
};

/* ?2 host, ?3 user (the owner), then per statement. Bare JIDs are listed in
 * the byte order of the "user@host" string itself (?4 the cursor, ?5 the
 * page size plus one). */
static const char *const sql[N_SQL] = {
    [ACCOUNT_INSERT] = "INSERT INTO accounts (host, user, created_at) VALUES (?2, ?3, ?4) "
                       "ON CONFLICT DO NOTHING",
    [ACCOUNT_DELETE] = "DELETE FROM accounts WHERE host = ?2 AND user = ?3",
    [ACCOUNT_LIST_HOST] = "SELECT user || '@' || host AS jid FROM accounts WHERE host = ?2 "
                          "AND jid > ?4 ORDER BY jid LIMIT ?5",
    [ACCOUNT_LIST_ALL] = "SELECT user || '@' || host AS jid FROM accounts WHERE jid > ?4 "
                         "ORDER BY jid LIMIT ?5",
    [CREDS_GET] = "SELECT hash, iterations, salt, stored_key, server_key FROM credentials "
                  "WHERE host = ?2 AND user = ?3 ORDER BY hash",
    [CREDS_DELETE] = "DELETE FROM credentials WHERE host = ?2 AND user = ?3",
    [CREDS_INSERT] = "INSERT INTO credentials "
                     "(host, user, hash, iterations, salt, stored_key, server_key) "
                     "VALUES (?2, ?3, ?4, ?5, ?6, ?7, ?8)",
};

/* Digest sizes per enum canto_hash, kept here so that storage does not
 * depend on the SCRAM code to check what it reads back. */
static size_t hash_len(int h)
{
    switch (h) {
    case CANTO_HASH_SHA1: return 20;
    case CANTO_HASH_SHA256: return 32;
    case CANTO_HASH_SHA512: return 64;
    default: return 0;
    }
}

static int account_exists(struct canto__sqlite *c, struct canto__storage_req *r, bool *exists)
{
    return canto__sqlite_owner_exists(c, &r->owner, exists);
}

/* Credentials come back ordered by hash. A row that does not describe a
 * valid credential means the database was edited by hand or is damaged:
 * the request fails rather than hand SCRAM something half-right. */
static int exec_get_creds(struct canto__sqlite *c, struct canto__storage_req *r)
{
    sqlite3_stmt *q = canto__sqlite_start(c, CREDS_GET, r);
    struct canto_scram_cred *creds = NULL;
    size_t n = 0;
    int e, rc = CANTO_OK;
    while ((e = sqlite3_step(q)) == SQLITE_ROW) {
        if (!creds)
            creds = canto_xcalloc(CANTO_HASH_COUNT, sizeof *creds);
        int h = sqlite3_column_int(q, 0);
        int64_t iter = sqlite3_column_int64(q, 1);
        size_t hl = hash_len(h);
        const void *salt = sqlite3_column_blob(q, 2);
        size_t salt_len = (size_t)sqlite3_column_bytes(q, 2);
        const void *stored = sqlite3_column_blob(q, 3);
        size_t stored_len = (size_t)sqlite3_column_bytes(q, 3);
        const void *server = sqlite3_column_blob(q, 4);
        size_t server_len = (size_t)sqlite3_column_bytes(q, 4);
        if (n == CANTO_HASH_COUNT || hl == 0 || iter < 1 || iter > UINT32_MAX || !salt ||
            salt_len > sizeof creds->salt || stored_len != hl || server_len != hl) {
            canto_error("storage: damaged credential row for %s@%s (hash %d)", r->owner.name,
                        r->owner.host, h);
            rc = CANTO_ERROR;
            break;
        }
        struct canto_scram_cred *cred = &creds[n++];
        cred->hash = (enum canto_hash)h;
        cred->iterations = (uint32_t)iter;
        memcpy(cred->salt, salt, salt_len);
        cred->salt_len = salt_len;
        memcpy(cred->stored_key, stored, hl);
        memcpy(cred->server_key, server, hl);
    }
    if (rc == CANTO_OK && e != SQLITE_DONE)
        rc = canto__sqlite_fail(c, CREDS_GET);
    canto__sqlite_finish(c, CREDS_GET);

    if (rc == CANTO_OK && n == 0) {
        bool exists;
        rc = account_exists(c, r, &exists);
        if (rc == CANTO_OK && !exists)
            rc = CANTO_NOTFOUND;
    }
    if (rc != CANTO_OK) {
        if (creds) {
            canto_wipe(creds, CANTO_HASH_COUNT * sizeof *creds);
            free(creds);
        }
        return rc;
    }
    REQ(r)->creds = creds;
    REQ(r)->n_creds = n;
    return CANTO_OK;
}

static int insert_creds(struct canto__sqlite *c, struct canto__storage_req *r)
{
    const struct canto__accounts_req *a = REQ(r);
    for (size_t i = 0; i < a->n_creds; i++) {
        const struct canto_scram_cred *cred = &a->creds[i];
        size_t hl = hash_len((int)cred->hash);
        sqlite3_stmt *q = canto__sqlite_start(c, CREDS_INSERT, r);
        sqlite3_bind_int(q, 4, (int)cred->hash);
        sqlite3_bind_int64(q, 5, cred->iterations);
        sqlite3_bind_blob(q, 6, cred->salt, (int)cred->salt_len, SQLITE_STATIC);
        sqlite3_bind_blob(q, 7, cred->stored_key, (int)hl, SQLITE_STATIC);
        sqlite3_bind_blob(q, 8, cred->server_key, (int)hl, SQLITE_STATIC);
        if (canto__sqlite_run(c, CREDS_INSERT) != CANTO_OK)
            return CANTO_ERROR;
    }
    return CANTO_OK;
}

static int exec_create(struct canto__sqlite *c, struct canto__storage_req *r)
{
    sqlite3_stmt *q = canto__sqlite_start(c, ACCOUNT_INSERT, r);
    sqlite3_bind_int64(q, 4, (sqlite3_int64)time(NULL));
    if (canto__sqlite_run(c, ACCOUNT_INSERT) != CANTO_OK)
        return CANTO_ERROR;
    if (sqlite3_changes(c->db) == 0)
        return CANTO_CONFLICT;
    return insert_creds(c, r);
}

static int exec_set_creds(struct canto__sqlite *c, struct canto__storage_req *r)
{
    bool exists;
    if (account_exists(c, r, &exists) != CANTO_OK)
        return CANTO_ERROR;
    if (!exists)
        return CANTO_NOTFOUND;
    canto__sqlite_start(c, CREDS_DELETE, r);
    if (canto__sqlite_run(c, CREDS_DELETE) != CANTO_OK)
        return CANTO_ERROR;
    return insert_creds(c, r);
}

static int exec_delete(struct canto__sqlite *c, struct canto__storage_req *r)
{
    canto__sqlite_start(c, ACCOUNT_DELETE, r);
    if (canto__sqlite_run(c, ACCOUNT_DELETE) != CANTO_OK)
        return CANTO_ERROR;
    return sqlite3_changes(c->db) > 0 ? CANTO_OK : CANTO_NOTFOUND;
}

static int exec_exists(struct canto__sqlite *c, struct canto__storage_req *r)
{
    bool exists;
    if (account_exists(c, r, &exists) != CANTO_OK)
        return CANTO_ERROR;
    return exists ? CANTO_OK : CANTO_NOTFOUND;
}

/* One page: one row more than asked for tells whether more follow. */
static int exec_list(struct canto__sqlite *c, struct canto__storage_req *r)
{
    struct canto__accounts_req *a = REQ(r);
    int st = a->host ? ACCOUNT_LIST_HOST : ACCOUNT_LIST_ALL;
    sqlite3_stmt *q = canto__sqlite_start(c, st, r);
    if (a->host)
        sqlite3_bind_text(q, 2, a->host, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, a->after ? a->after : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 5, (sqlite3_int64)a->limit + 1);
    size_t bytes = 0;
    int e;
    while ((e = sqlite3_step(q)) == SQLITE_ROW) {
        if (canto__sqlite_page_full(a->n, a->limit, bytes)) {
            a->more = true;
            break;
        }
        if (!a->jids)
            a->jids = canto_xcalloc(a->limit, sizeof *a->jids);
        const char *jid = (const char *)sqlite3_column_text(q, 0);
        size_t len = (size_t)sqlite3_column_bytes(q, 0);
        a->jids[a->n++] = canto_xstrndup(jid ? jid : "", len);
        bytes += len + 1;
    }
    int rc = e == SQLITE_DONE || e == SQLITE_ROW ? CANTO_OK : canto__sqlite_fail(c, st);
    canto__sqlite_finish(c, st);
    if (rc != CANTO_OK)
        r->op->clear(r);
    return rc;
}

static const canto__sqlite_exec_fn exec[CANTO__ACCOUNTS_OPS] = {
    [CANTO__ACCOUNTS_GET_CREDS] = exec_get_creds, [CANTO__ACCOUNTS_CREATE] = exec_create,
    [CANTO__ACCOUNTS_SET_CREDS] = exec_set_creds, [CANTO__ACCOUNTS_DELETE] = exec_delete,
    [CANTO__ACCOUNTS_EXISTS] = exec_exists,       [CANTO__ACCOUNTS_LIST] = exec_list,
};

const struct canto__sqlite_kind canto__sqlite_accounts = {
    .kind = &canto__kind_accounts,
    .exec = exec,
    .sql = sql,
    .n_sql = N_SQL,
};
