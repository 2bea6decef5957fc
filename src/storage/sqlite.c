/*
 * sqlite.c: the SQLite storage backend: the schema and its migrations, the
 * connection settings, and one function per request kind.
 *
 * The database is data_dir/canto.db in WAL mode with synchronous=FULL, so a
 * COMMIT that has returned is on disk (the WAL is fsync'd at every commit),
 * and readers in another process (cantoctl) never block the server nor the
 * other way round for longer than the busy timeout. Foreign keys are on:
 * deleting an account deletes, by cascade, everything hanging off it.
 *
 * The schema is versioned: migrations[] below is an ordered list of SQL
 * scripts, version N being migrations[N - 1]. At open, each missing version
 * is applied in its own transaction together with its row in schema_version,
 * so a crash mid-migration leaves the previous version intact. A database
 * whose version is newer than this code refuses to open. Existing entries of
 * migrations[] are never edited once released; changes go in a new entry.
 *
 * Apart from open, which runs on the caller's thread before the worker
 * exists, everything here runs on the storage worker thread (storage.c),
 * which owns the connection. Statements are prepared once at open and reset
 * after every use so that none holds a read snapshot between requests.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "canto/log.h"
#include "storage/storage_internal.h"

/* How long a statement waits for cantoctl (or another process) to release
 * its lock before failing with SQLITE_BUSY. */
#define BUSY_TIMEOUT_MS 5000

static const char *const migrations[] = {
    /* 1: accounts with SCRAM credentials; offline messages (XEP-0160).
     * accounts.offline_count mirrors count(*) of the account's offline rows,
     * kept by triggers whoever writes, so that the limit check on every store
     * is one row lookup instead of a count that grows with the limit. */
    "CREATE TABLE accounts (\n"
    "  host TEXT NOT NULL,\n"
    "  user TEXT NOT NULL,\n"
    "  created_at INTEGER NOT NULL,\n"
    "  offline_count INTEGER NOT NULL DEFAULT 0,\n"
    "  PRIMARY KEY (host, user)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE credentials (\n"
    "  host TEXT NOT NULL,\n"
    "  user TEXT NOT NULL,\n"
    "  hash INTEGER NOT NULL,\n"
    "  iterations INTEGER NOT NULL,\n"
    "  salt BLOB NOT NULL,\n"
    "  stored_key BLOB NOT NULL,\n"
    "  server_key BLOB NOT NULL,\n"
    "  PRIMARY KEY (host, user, hash),\n"
    "  FOREIGN KEY (host, user) REFERENCES accounts (host, user) ON DELETE CASCADE\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE offline (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  host TEXT NOT NULL,\n"
    "  user TEXT NOT NULL,\n"
    "  stored_at INTEGER NOT NULL,\n"
    "  stanza TEXT NOT NULL,\n"
    "  FOREIGN KEY (host, user) REFERENCES accounts (host, user) ON DELETE CASCADE\n"
    ");\n"
    "CREATE INDEX offline_by_user ON offline (host, user, id);\n"
    "CREATE TRIGGER offline_counted AFTER INSERT ON offline BEGIN\n"
    "  UPDATE accounts SET offline_count = offline_count + 1\n"
    "  WHERE host = NEW.host AND user = NEW.user;\n"
    "END;\n"
    "CREATE TRIGGER offline_uncounted AFTER DELETE ON offline BEGIN\n"
    "  UPDATE accounts SET offline_count = offline_count - 1\n"
    "  WHERE host = OLD.host AND user = OLD.user;\n"
    "END;\n",
    /* 2: per-account key-value stores (roster, vCard, private XML, ...). The
     * primary key serves everything about one account: a key, one store in
     * key order, emptying a store, and the cascade from accounts. The index
     * serves one store across a host in (user, key) order (kv_list with no
     * user) without visiting the other stores of every account. */
    "CREATE TABLE account_data (\n"
    "  host TEXT NOT NULL,\n"
    "  user TEXT NOT NULL,\n"
    "  store TEXT NOT NULL,\n"
    "  key TEXT NOT NULL,\n"
    "  value BLOB NOT NULL,\n"
    "  PRIMARY KEY (host, user, store, key),\n"
    "  FOREIGN KEY (host, user) REFERENCES accounts (host, user) ON DELETE CASCADE\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX account_data_by_store ON account_data (host, store, user, key);\n",
};

#define SCHEMA_VERSION ((int)CANTO_ARRAY_LEN(migrations))

enum stmt {
    STMT_BEGIN,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_SAVEPOINT,
    STMT_RELEASE,
    STMT_ROLLBACK_TO,
    STMT_ACCOUNT_EXISTS,
    STMT_ACCOUNT_INSERT,
    STMT_ACCOUNT_DELETE,
    STMT_ACCOUNT_LIST_HOST,
    STMT_ACCOUNT_LIST_ALL,
    STMT_CREDS_GET,
    STMT_CREDS_DELETE,
    STMT_CREDS_INSERT,
    STMT_OFFLINE_CHECK,
    STMT_OFFLINE_INSERT,
    STMT_OFFLINE_FETCH,
    STMT_OFFLINE_DELETE,
    STMT_OFFLINE_COUNT,
    STMT_KV_GET,
    STMT_KV_LIST_USER,
    STMT_KV_LIST_HOST,
    STMT_KV_SET,
    STMT_KV_DELETE,
    STMT_KV_CLEAR,
    STMT_COUNT
};

/* Parameters are numbered: ?1 host, ?2 user, then per statement (kv: ?3
 * store, ?4 key, ?5 value). Bare JIDs are listed in the byte order of the
 * "user@host" string itself; kv items in the byte order of user, then key
 * (TEXT columns compare with the BINARY collation). */
static const char *const stmt_sql[STMT_COUNT] = {
    [STMT_BEGIN] = "BEGIN IMMEDIATE",
    [STMT_COMMIT] = "COMMIT",
    [STMT_ROLLBACK] = "ROLLBACK",
    [STMT_SAVEPOINT] = "SAVEPOINT req",
    [STMT_RELEASE] = "RELEASE req",
    [STMT_ROLLBACK_TO] = "ROLLBACK TO req",
    [STMT_ACCOUNT_EXISTS] = "SELECT 1 FROM accounts WHERE host = ?1 AND user = ?2",
    [STMT_ACCOUNT_INSERT] = "INSERT INTO accounts (host, user, created_at) VALUES (?1, ?2, ?3) "
                            "ON CONFLICT DO NOTHING",
    [STMT_ACCOUNT_DELETE] = "DELETE FROM accounts WHERE host = ?1 AND user = ?2",
    [STMT_ACCOUNT_LIST_HOST] = "SELECT user || '@' || host AS jid FROM accounts WHERE host = ?1 "
                               "ORDER BY jid",
    [STMT_ACCOUNT_LIST_ALL] = "SELECT user || '@' || host AS jid FROM accounts ORDER BY jid",
    [STMT_CREDS_GET] = "SELECT hash, iterations, salt, stored_key, server_key FROM credentials "
                       "WHERE host = ?1 AND user = ?2 ORDER BY hash",
    [STMT_CREDS_DELETE] = "DELETE FROM credentials WHERE host = ?1 AND user = ?2",
    [STMT_CREDS_INSERT] = "INSERT INTO credentials "
                          "(host, user, hash, iterations, salt, stored_key, server_key) "
                          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [STMT_OFFLINE_CHECK] = "SELECT offline_count FROM accounts WHERE host = ?1 AND user = ?2",
    [STMT_OFFLINE_INSERT] = "INSERT INTO offline (host, user, stored_at, stanza) "
                            "VALUES (?1, ?2, ?3, ?4)",
    [STMT_OFFLINE_FETCH] = "SELECT id, stanza FROM offline WHERE host = ?1 AND user = ?2 "
                           "ORDER BY id LIMIT ?3",
    [STMT_OFFLINE_DELETE] = "DELETE FROM offline WHERE host = ?1 AND user = ?2 AND id <= ?3",
    [STMT_OFFLINE_COUNT] = "SELECT offline_count FROM accounts WHERE host = ?1 AND user = ?2",
    [STMT_KV_GET] = "SELECT user, key, value FROM account_data "
                    "WHERE host = ?1 AND user = ?2 AND store = ?3 AND key = ?4",
    [STMT_KV_LIST_USER] = "SELECT user, key, value FROM account_data "
                          "WHERE host = ?1 AND user = ?2 AND store = ?3 ORDER BY key",
    [STMT_KV_LIST_HOST] = "SELECT user, key, value FROM account_data "
                          "WHERE host = ?1 AND store = ?3 ORDER BY user, key",
    [STMT_KV_SET] = "INSERT INTO account_data (host, user, store, key, value) "
                    "VALUES (?1, ?2, ?3, ?4, ?5) "
                    "ON CONFLICT (host, user, store, key) DO UPDATE SET value = excluded.value",
    [STMT_KV_DELETE] = "DELETE FROM account_data "
                       "WHERE host = ?1 AND user = ?2 AND store = ?3 AND key = ?4",
    [STMT_KV_CLEAR] = "DELETE FROM account_data WHERE host = ?1 AND user = ?2 AND store = ?3",
};

struct sqlite_conn {
    sqlite3 *db;                     /* the connection; worker-owned while open */
    sqlite3_stmt *stmt[STMT_COUNT];  /* prepared once, reset after each use */
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

/* --- statement helpers -------------------------------------------------------- */

static int sql_fail(struct sqlite_conn *c, enum stmt st)
{
    canto_error("storage: sqlite: %s: %s", stmt_sql[st], sqlite3_errmsg(c->db));
    return CANTO_ERROR;
}

/* Bind ?1 host and ?2 user, which live in the request for the whole run. */
static sqlite3_stmt *start(struct sqlite_conn *c, enum stmt st, const struct canto__storage_req *r)
{
    sqlite3_stmt *q = c->stmt[st];
    if (r->host)
        sqlite3_bind_text(q, 1, r->host, -1, SQLITE_STATIC);
    if (r->user)
        sqlite3_bind_text(q, 2, r->user, -1, SQLITE_STATIC);
    return q;
}

/* Forget bindings and any read snapshot. */
static void finish(struct sqlite_conn *c, enum stmt st)
{
    sqlite3_reset(c->stmt[st]);
    sqlite3_clear_bindings(c->stmt[st]);
}

/* Run a statement that returns no rows. */
static int run(struct sqlite_conn *c, enum stmt st)
{
    int e = sqlite3_step(c->stmt[st]);
    int rc = e == SQLITE_DONE ? CANTO_OK : sql_fail(c, st);
    finish(c, st);
    return rc;
}

/* Run a query of one row whose first column is an integer; no row is 0. */
static int query_int(struct sqlite_conn *c, enum stmt st, int64_t *out)
{
    int e = sqlite3_step(c->stmt[st]);
    int rc = CANTO_OK;
    *out = 0;
    if (e == SQLITE_ROW)
        *out = sqlite3_column_int64(c->stmt[st], 0);
    else if (e != SQLITE_DONE)
        rc = sql_fail(c, st);
    finish(c, st);
    return rc;
}

static int account_exists(struct sqlite_conn *c, const struct canto__storage_req *r, bool *exists)
{
    int64_t one;
    start(c, STMT_ACCOUNT_EXISTS, r);
    int rc = query_int(c, STMT_ACCOUNT_EXISTS, &one);
    *exists = one == 1;
    return rc;
}

/* --- requests -------------------------------------------------------------------- */

/* Credentials come back ordered by hash. A row that does not describe a
 * valid credential means the database was edited by hand or is damaged:
 * the request fails rather than hand SCRAM something half-right. */
static int exec_get_creds(struct sqlite_conn *c, struct canto__storage_req *r)
{
    sqlite3_stmt *q = start(c, STMT_CREDS_GET, r);
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
            canto_error("storage: damaged credential row for %s@%s (hash %d)", r->user, r->host,
                        h);
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
        rc = sql_fail(c, STMT_CREDS_GET);
    finish(c, STMT_CREDS_GET);

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
    r->creds = creds;
    r->n_creds = n;
    return CANTO_OK;
}

static int insert_creds(struct sqlite_conn *c, const struct canto__storage_req *r)
{
    for (size_t i = 0; i < r->n_creds; i++) {
        const struct canto_scram_cred *cred = &r->creds[i];
        size_t hl = hash_len((int)cred->hash);
        sqlite3_stmt *q = start(c, STMT_CREDS_INSERT, r);
        sqlite3_bind_int(q, 3, (int)cred->hash);
        sqlite3_bind_int64(q, 4, cred->iterations);
        sqlite3_bind_blob(q, 5, cred->salt, (int)cred->salt_len, SQLITE_STATIC);
        sqlite3_bind_blob(q, 6, cred->stored_key, (int)hl, SQLITE_STATIC);
        sqlite3_bind_blob(q, 7, cred->server_key, (int)hl, SQLITE_STATIC);
        if (run(c, STMT_CREDS_INSERT) != CANTO_OK)
            return CANTO_ERROR;
    }
    return CANTO_OK;
}

static int exec_account_create(struct sqlite_conn *c, struct canto__storage_req *r)
{
    sqlite3_stmt *q = start(c, STMT_ACCOUNT_INSERT, r);
    sqlite3_bind_int64(q, 3, (sqlite3_int64)time(NULL));
    if (run(c, STMT_ACCOUNT_INSERT) != CANTO_OK)
        return CANTO_ERROR;
    if (sqlite3_changes(c->db) == 0)
        return CANTO_CONFLICT;
    return insert_creds(c, r);
}

static int exec_set_creds(struct sqlite_conn *c, struct canto__storage_req *r)
{
    bool exists;
    if (account_exists(c, r, &exists) != CANTO_OK)
        return CANTO_ERROR;
    if (!exists)
        return CANTO_NOTFOUND;
    start(c, STMT_CREDS_DELETE, r);
    if (run(c, STMT_CREDS_DELETE) != CANTO_OK)
        return CANTO_ERROR;
    return insert_creds(c, r);
}

static int exec_account_delete(struct sqlite_conn *c, struct canto__storage_req *r)
{
    start(c, STMT_ACCOUNT_DELETE, r);
    if (run(c, STMT_ACCOUNT_DELETE) != CANTO_OK)
        return CANTO_ERROR;
    return sqlite3_changes(c->db) > 0 ? CANTO_OK : CANTO_NOTFOUND;
}

static int exec_account_exists(struct sqlite_conn *c, struct canto__storage_req *r)
{
    bool exists;
    if (account_exists(c, r, &exists) != CANTO_OK)
        return CANTO_ERROR;
    return exists ? CANTO_OK : CANTO_NOTFOUND;
}

static int exec_account_list(struct sqlite_conn *c, struct canto__storage_req *r)
{
    enum stmt st = r->host ? STMT_ACCOUNT_LIST_HOST : STMT_ACCOUNT_LIST_ALL;
    sqlite3_stmt *q = start(c, st, r);
    char **items = NULL;
    size_t n = 0, cap = 0;
    int e;
    while ((e = sqlite3_step(q)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            items = canto_xrealloc(items, cap * sizeof *items);
        }
        const char *jid = (const char *)sqlite3_column_text(q, 0);
        items[n++] = canto_xstrndup(jid ? jid : "", (size_t)sqlite3_column_bytes(q, 0));
    }
    int rc = e == SQLITE_DONE ? CANTO_OK : sql_fail(c, st);
    finish(c, st);
    r->items = items;
    r->n = n;
    if (rc != CANTO_OK)
        canto__storage_req_clear_results(r);
    return rc;
}

/* The existence check and the count are one row lookup (the account row
 * and its offline_count) inside the write transaction, so no other writer
 * can slip a message in between the check and the insert. */
static int exec_offline_store(struct sqlite_conn *c, struct canto__storage_req *r)
{
    sqlite3_stmt *q = start(c, STMT_OFFLINE_CHECK, r);
    int e = sqlite3_step(q);
    int rc = CANTO_OK;
    if (e == SQLITE_ROW) {
        if (sqlite3_column_int64(q, 0) >= (sqlite3_int64)r->limit)
            rc = CANTO_LIMIT;
    } else if (e == SQLITE_DONE) {
        rc = CANTO_NOTFOUND;
    } else {
        rc = sql_fail(c, STMT_OFFLINE_CHECK);
    }
    finish(c, STMT_OFFLINE_CHECK);
    if (rc != CANTO_OK)
        return rc;

    q = start(c, STMT_OFFLINE_INSERT, r);
    sqlite3_bind_int64(q, 3, (sqlite3_int64)time(NULL));
    sqlite3_bind_text64(q, 4, r->xml, r->xml_len, SQLITE_STATIC, SQLITE_UTF8);
    return run(c, STMT_OFFLINE_INSERT);
}

static int exec_offline_fetch(struct sqlite_conn *c, struct canto__storage_req *r)
{
    sqlite3_stmt *q = start(c, STMT_OFFLINE_FETCH, r);
    sqlite3_bind_int64(q, 3, r->limit);
    struct canto_offline_msg *msgs = NULL;
    size_t n = 0, cap = 0;
    int e;
    while ((e = sqlite3_step(q)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            msgs = canto_xrealloc(msgs, cap * sizeof *msgs);
        }
        const char *xml = (const char *)sqlite3_column_text(q, 1);
        size_t len = (size_t)sqlite3_column_bytes(q, 1);
        msgs[n].id = sqlite3_column_int64(q, 0);
        msgs[n].xml = canto_xstrndup(xml ? xml : "", len);
        msgs[n].len = len;
        n++;
    }
    int rc = e == SQLITE_DONE ? CANTO_OK : sql_fail(c, STMT_OFFLINE_FETCH);
    finish(c, STMT_OFFLINE_FETCH);
    r->msgs = msgs;
    r->n = n;
    if (rc != CANTO_OK)
        canto__storage_req_clear_results(r);
    return rc;
}

static int exec_offline_delete(struct sqlite_conn *c, struct canto__storage_req *r)
{
    sqlite3_stmt *q = start(c, STMT_OFFLINE_DELETE, r);
    sqlite3_bind_int64(q, 3, r->up_to_id);
    return run(c, STMT_OFFLINE_DELETE);
}

/* An unknown account has no messages: OK with 0, like fetch. */
static int exec_offline_count(struct sqlite_conn *c, struct canto__storage_req *r)
{
    int64_t count;
    start(c, STMT_OFFLINE_COUNT, r);
    if (query_int(c, STMT_OFFLINE_COUNT, &count) != CANTO_OK)
        return CANTO_ERROR;
    r->n = (size_t)count;
    return CANTO_OK;
}

/* Copy n bytes of a column and a NUL to *p; returns the copy and moves *p
 * past it. src may be NULL when n is 0 (SQLite's empty blob). */
static const char *put_column(char **p, const void *src, size_t n)
{
    char *copy = *p;
    if (n)
        memcpy(copy, src, n);
    copy[n] = '\0';
    *p += n + 1;
    return copy;
}

/* Step q (started, parameters bound) and collect its (user, key, value)
 * rows into r->kv, each item one allocation holding the three, each
 * NUL-terminated (a value may also hold NULs of its own; len counts its
 * bytes). On failure nothing is left in r. */
static int read_kv_items(struct sqlite_conn *c, enum stmt st, struct canto__storage_req *r)
{
    sqlite3_stmt *q = c->stmt[st];
    struct canto_kv_item *kv = NULL;
    size_t n = 0, cap = 0;
    int e;
    while ((e = sqlite3_step(q)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            kv = canto_xrealloc(kv, cap * sizeof *kv);
        }
        const void *user = sqlite3_column_text(q, 0);
        size_t ul = (size_t)sqlite3_column_bytes(q, 0);
        const void *key = sqlite3_column_text(q, 1);
        size_t kl = (size_t)sqlite3_column_bytes(q, 1);
        const void *value = sqlite3_column_blob(q, 2);
        size_t vl = (size_t)sqlite3_column_bytes(q, 2);
        char *p = canto_xmalloc(ul + kl + vl + 3);
        struct canto_kv_item *it = &kv[n++];
        it->user = put_column(&p, user, ul);
        it->key = put_column(&p, key, kl);
        it->value = put_column(&p, value, vl);
        it->len = vl;
    }
    int rc = e == SQLITE_DONE ? CANTO_OK : sql_fail(c, st);
    finish(c, st);
    r->kv = kv;
    r->n = n;
    if (rc != CANTO_OK)
        canto__storage_req_clear_results(r);
    return rc;
}

/* A missing key and a missing account look the same: CANTO_NOTFOUND. */
static int exec_kv_get(struct sqlite_conn *c, struct canto__storage_req *r)
{
    sqlite3_stmt *q = start(c, STMT_KV_GET, r);
    sqlite3_bind_text(q, 3, r->store, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, r->key, -1, SQLITE_STATIC);
    int rc = read_kv_items(c, STMT_KV_GET, r);
    if (rc == CANTO_OK && r->n == 0)
        rc = CANTO_NOTFOUND;
    return rc;
}

/* One account's store (an unknown account has an empty one), or with no
 * user the store of every account of the host. */
static int exec_kv_list(struct sqlite_conn *c, struct canto__storage_req *r)
{
    enum stmt st = r->user ? STMT_KV_LIST_USER : STMT_KV_LIST_HOST;
    sqlite3_stmt *q = start(c, st, r);
    sqlite3_bind_text(q, 3, r->store, -1, SQLITE_STATIC);
    return read_kv_items(c, st, r);
}

/* One change of a kv_write: set (value given), delete a key (key given),
 * or empty the store (neither). A value too big for SQLite fails the bind,
 * and with it the whole write. */
static int kv_apply(struct sqlite_conn *c, const struct canto__storage_req *r,
                    const struct canto_kv_change *ch)
{
    enum stmt st = ch->value ? STMT_KV_SET : ch->key ? STMT_KV_DELETE : STMT_KV_CLEAR;
    sqlite3_stmt *q = start(c, st, r);
    sqlite3_bind_text(q, 3, ch->store, -1, SQLITE_STATIC);
    if (ch->key)
        sqlite3_bind_text(q, 4, ch->key, -1, SQLITE_STATIC);
    if (ch->value &&
        sqlite3_bind_blob64(q, 5, ch->value, ch->len, SQLITE_STATIC) != SQLITE_OK) {
        int rc = sql_fail(c, st);
        finish(c, st);
        return rc;
    }
    return run(c, st);
}

/* The account is checked first, so a write for a missing one reports
 * CANTO_NOTFOUND having changed nothing. The changes go in order; the first
 * that fails fails the request, and storage.c's savepoint undoes the ones
 * before it: all or none. */
static int exec_kv_write(struct sqlite_conn *c, struct canto__storage_req *r)
{
    bool exists;
    if (account_exists(c, r, &exists) != CANTO_OK)
        return CANTO_ERROR;
    if (!exists)
        return CANTO_NOTFOUND;
    for (size_t i = 0; i < r->n_changes; i++) {
        if (kv_apply(c, r, &r->changes[i]) != CANTO_OK)
            return CANTO_ERROR;
    }
    return CANTO_OK;
}

static int sqlite_exec(void *conn, struct canto__storage_req *r)
{
    struct sqlite_conn *c = conn;
    switch (r->op) {
    case CANTO__OP_GET_CREDS: return exec_get_creds(c, r);
    case CANTO__OP_ACCOUNT_CREATE: return exec_account_create(c, r);
    case CANTO__OP_SET_CREDS: return exec_set_creds(c, r);
    case CANTO__OP_ACCOUNT_DELETE: return exec_account_delete(c, r);
    case CANTO__OP_ACCOUNT_EXISTS: return exec_account_exists(c, r);
    case CANTO__OP_ACCOUNT_LIST: return exec_account_list(c, r);
    case CANTO__OP_OFFLINE_STORE: return exec_offline_store(c, r);
    case CANTO__OP_OFFLINE_FETCH: return exec_offline_fetch(c, r);
    case CANTO__OP_OFFLINE_DELETE: return exec_offline_delete(c, r);
    case CANTO__OP_OFFLINE_COUNT: return exec_offline_count(c, r);
    case CANTO__OP_KV_GET: return exec_kv_get(c, r);
    case CANTO__OP_KV_LIST: return exec_kv_list(c, r);
    case CANTO__OP_KV_WRITE: return exec_kv_write(c, r);
    case CANTO__OP_BARRIER: return CANTO_OK;
    }
    return CANTO_ERROR;
}

/* --- transactions ------------------------------------------------------------------ */

static int sqlite_begin(void *conn)
{
    return run(conn, STMT_BEGIN);
}

static int sqlite_commit(void *conn)
{
    return run(conn, STMT_COMMIT);
}

/* ROLLBACK with no transaction open is an error in SQLite; skip it then
 * (SQLite may already have rolled back by itself). */
static void sqlite_rollback(void *conn)
{
    struct sqlite_conn *c = conn;
    if (!sqlite3_get_autocommit(c->db))
        run(c, STMT_ROLLBACK);
}

static bool sqlite_in_transaction(void *conn)
{
    struct sqlite_conn *c = conn;
    return !sqlite3_get_autocommit(c->db);
}

static int sqlite_savepoint(void *conn)
{
    return run(conn, STMT_SAVEPOINT);
}

static int sqlite_release(void *conn)
{
    return run(conn, STMT_RELEASE);
}

/* ROLLBACK TO undoes the request's changes but leaves the savepoint on the
 * stack; RELEASE pops it so savepoints do not pile up within a batch. */
static int sqlite_rollback_to(void *conn)
{
    if (run(conn, STMT_ROLLBACK_TO) != CANTO_OK)
        return CANTO_ERROR;
    return run(conn, STMT_RELEASE);
}

/* --- open / close --------------------------------------------------------------------- */

/* mkdir -p with mode 0700 for what it creates: the data directory holds
 * credentials. An existing directory keeps its mode. */
static int make_dirs(const char *dir, struct canto_buf *err)
{
    char *path = canto_xstrdup(dir);
    int rc = CANTO_OK;
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            canto_buf_appendf(err, "storage: cannot create directory %s: %s", path,
                              strerror(errno));
            rc = CANTO_ERROR;
            break;
        }
        *p = saved;
        if (saved == '\0')
            break;
    }
    free(path);
    if (rc != CANTO_OK)
        return rc;
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        canto_buf_appendf(err, "storage: data directory %s is not a directory", dir);
        return CANTO_ERROR;
    }
    return CANTO_OK;
}

/* Run SQL text (one or more statements) directly, at open only. */
static int exec_sql(sqlite3 *db, const char *sql, const char *what, struct canto_buf *err)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        canto_buf_appendf(err, "storage: %s: %s", what, msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return CANTO_ERROR;
    }
    return CANTO_OK;
}

static int read_version(sqlite3 *db, int *version, struct canto_buf *err)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db, "SELECT coalesce(max(version), 0) FROM schema_version", -1, &q,
                           NULL) != SQLITE_OK) {
        canto_buf_appendf(err, "storage: reading schema version: %s", sqlite3_errmsg(db));
        return CANTO_ERROR;
    }
    int e = sqlite3_step(q);
    if (e == SQLITE_ROW)
        *version = sqlite3_column_int(q, 0);
    else
        canto_buf_appendf(err, "storage: reading schema version: %s", sqlite3_errmsg(db));
    sqlite3_finalize(q);
    return e == SQLITE_ROW ? CANTO_OK : CANTO_ERROR;
}

/* One transaction per missing version. The version is read again inside
 * each write transaction, so two processes opening the same old database at
 * once (cantod and cantoctl) cannot both apply a migration. */
static int migrate(sqlite3 *db, const char *path, struct canto_buf *err)
{
    for (;;) {
        int version = 0;
        if (exec_sql(db, "BEGIN IMMEDIATE", "starting migration", err) != CANTO_OK)
            return CANTO_ERROR;
        if (exec_sql(db,
                     "CREATE TABLE IF NOT EXISTS schema_version ("
                     "version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
                     "creating schema_version", err) != CANTO_OK ||
            read_version(db, &version, err) != CANTO_OK)
            goto fail;
        if (version > SCHEMA_VERSION) {
            canto_buf_appendf(err,
                              "storage: %s has schema version %d, newer than this Canto "
                              "understands (%d); use a newer Canto",
                              path, version, SCHEMA_VERSION);
            goto fail;
        }
        if (version == SCHEMA_VERSION)
            return exec_sql(db, "COMMIT", "committing", err);

        struct canto_buf what = {0};
        canto_buf_appendf(&what, "migration to schema version %d", version + 1);
        char insert[128];
        snprintf(insert, sizeof insert,
                 "INSERT INTO schema_version (version, applied_at) VALUES (%d, %lld)",
                 version + 1, (long long)time(NULL));
        int rc = exec_sql(db, migrations[version], what.data, err);
        if (rc == CANTO_OK)
            rc = exec_sql(db, insert, what.data, err);
        if (rc == CANTO_OK)
            rc = exec_sql(db, "COMMIT", what.data, err);
        canto_buf_free(&what);
        if (rc != CANTO_OK)
            goto fail;
        canto_info("storage: %s migrated to schema version %d", path, version + 1);
    }
fail:
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return CANTO_ERROR;
}

/* Connection settings that must hold for every connection, cantoctl's
 * included: they are per connection in SQLite, not stored in the file
 * (except journal_mode=WAL, which sticks once set). */
static int configure(sqlite3 *db, const char *path, struct canto_buf *err)
{
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);

    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &q, NULL) != SQLITE_OK) {
        canto_buf_appendf(err, "storage: %s: %s", path, sqlite3_errmsg(db));
        return CANTO_ERROR;
    }
    int e = sqlite3_step(q);
    const char *mode = e == SQLITE_ROW ? (const char *)sqlite3_column_text(q, 0) : NULL;
    bool wal = mode && strcmp(mode, "wal") == 0;
    if (e != SQLITE_ROW)
        canto_buf_appendf(err, "storage: %s: setting WAL mode: %s", path, sqlite3_errmsg(db));
    sqlite3_finalize(q);
    if (e != SQLITE_ROW)
        return CANTO_ERROR;
    if (!wal)
        canto_warn("storage: %s: WAL mode unavailable on this file system; writers will block "
                   "readers",
                   path);
    return exec_sql(db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON", path, err);
}

static void sqlite_close(void *conn)
{
    struct sqlite_conn *c = conn;
    if (!c)
        return;
    for (int i = 0; i < STMT_COUNT; i++)
        sqlite3_finalize(c->stmt[i]);
    if (sqlite3_close(c->db) != SQLITE_OK)
        canto_error("storage: sqlite close: %s", sqlite3_errmsg(c->db));
    free(c);
}

static int sqlite_open(const char *data_dir, void **out, struct canto_buf *err)
{
    *out = NULL;
    if (!sqlite3_threadsafe()) {
        canto_buf_append_str(err, "storage: this SQLite library was built without thread support");
        return CANTO_ERROR;
    }
    if (make_dirs(data_dir, err) != CANTO_OK)
        return CANTO_ERROR;

    struct canto_buf path = {0};
    canto_buf_appendf(&path, "%s/canto.db", data_dir);
    struct sqlite_conn *c = canto_xcalloc(1, sizeof *c);
    /* NOMUTEX: one thread at a time uses the connection (open here, then the
     * worker, then close after the worker is joined). */
    int e = sqlite3_open_v2(path.data, &c->db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                            NULL);
    if (e != SQLITE_OK) {
        canto_buf_appendf(err, "storage: cannot open %s: %s", path.data,
                          c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(e));
        goto fail;
    }
    if (configure(c->db, path.data, err) != CANTO_OK || migrate(c->db, path.data, err) != CANTO_OK)
        goto fail;
    for (int i = 0; i < STMT_COUNT; i++) {
        if (sqlite3_prepare_v3(c->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &c->stmt[i],
                               NULL) != SQLITE_OK) {
            canto_buf_appendf(err, "storage: preparing \"%s\": %s", stmt_sql[i],
                              sqlite3_errmsg(c->db));
            goto fail;
        }
    }
    canto_buf_free(&path);
    *out = c;
    return CANTO_OK;

fail:
    canto_buf_free(&path);
    sqlite_close(c);
    return CANTO_ERROR;
}

const struct canto__storage_backend canto__storage_sqlite = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .in_transaction = sqlite_in_transaction,
    .savepoint = sqlite_savepoint,
    .release = sqlite_release,
    .rollback_to = sqlite_rollback_to,
    .exec = sqlite_exec,
};
