/*
 * sqlite.c: the SQLite storage backend: the connections and their
 * settings, the schema and its migrations, transactions, and the dispatch
 * of each request to the file that implements its kind (sqlite_kind.h).
 *
 * The database is data_dir/canto.db in WAL mode with synchronous=FULL, so a
 * COMMIT that has returned is on disk (the WAL is fsync'd at every commit),
 * and readers never block the writer nor the other way round: the server's
 * reader connection, and cantoctl in another process, read while the
 * server writes. Foreign keys are on: deleting an account deletes, by
 * cascade or trigger, everything hanging off it.
 *
 * The schema is versioned in two layers. migrations[] below is the base
 * schema's history (version N being migrations[N - 1], in schema_version);
 * it ends at version 3, the shape by kind and owner. From then on each kind
 * versions its own tables (struct canto__sqlite_kind's migrations, in
 * kind_schema), so a new kind brings its tables in its own file. At open,
 * each missing step is applied in its own transaction together with its
 * version row, so a crash mid-migration leaves the previous version intact.
 * A database whose version (or a kind's) is newer than this code refuses
 * to open. Released migrations are never edited; changes go in a new one.
 *
 * Apart from open, which runs on the caller's thread before the workers
 * exist, everything here runs on the worker thread that owns the
 * connection (storage.c). Statements are prepared once per connection and
 * reset after every use so that none holds a read snapshot between
 * requests.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "canto/log.h"
#include "storage/sqlite_kind.h"

/* How long a statement waits for cantoctl (or another process) to release
 * its lock before failing with SQLITE_BUSY. */
#define BUSY_TIMEOUT_MS 5000

/* The kinds this backend implements: a new kind is a new file and a line
 * here. */
static const struct canto__sqlite_kind *const builtin_kinds[] = {
    &canto__sqlite_accounts,
    &canto__sqlite_kv,
    &canto__sqlite_archive,
};

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
    /* 3: storage by kind and owner. The key-value stores (kv) and the
     * archives (archive, which takes the offline messages over as the
     * archive "offline") belong to an owner: owner_kind 0 is an account
     * (host, localpart), 1 a service entity (its domain, its name). An
     * account's rows in both are deleted by triggers when the account is
     * (a service's belong to the service). archive_size counts each
     * archive's items, kept by triggers, so that the limit check of an
     * append is one row lookup. Ids go on from the offline table's, never
     * reused. From this version on, each kind versions its own tables in
     * kind_schema. */
    "CREATE TABLE kv (\n"
    "  owner_kind INTEGER NOT NULL,\n"
    "  host TEXT NOT NULL,\n"
    "  owner TEXT NOT NULL,\n"
    "  store TEXT NOT NULL,\n"
    "  key TEXT NOT NULL,\n"
    "  value BLOB NOT NULL,\n"
    "  PRIMARY KEY (owner_kind, host, owner, store, key)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX kv_by_store ON kv (owner_kind, host, store, owner, key);\n"
    "INSERT INTO kv SELECT 0, host, user, store, key, value FROM account_data;\n"
    "DROP TABLE account_data;\n"
    "CREATE TRIGGER account_kv_deleted AFTER DELETE ON accounts BEGIN\n"
    "  DELETE FROM kv WHERE owner_kind = 0 AND host = OLD.host AND owner = OLD.user;\n"
    "END;\n"
    "CREATE TABLE archive (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  owner_kind INTEGER NOT NULL,\n"
    "  host TEXT NOT NULL,\n"
    "  owner TEXT NOT NULL,\n"
    "  archive TEXT NOT NULL,\n"
    "  stamp INTEGER NOT NULL,\n"
    "  peer TEXT NOT NULL,\n"
    "  xml BLOB NOT NULL\n"
    ");\n"
    "CREATE INDEX archive_by_owner ON archive (owner_kind, host, owner, archive, id);\n"
    "CREATE INDEX archive_by_peer ON archive (owner_kind, host, owner, archive, peer, id);\n"
    "CREATE TABLE archive_size (\n"
    "  owner_kind INTEGER NOT NULL,\n"
    "  host TEXT NOT NULL,\n"
    "  owner TEXT NOT NULL,\n"
    "  archive TEXT NOT NULL,\n"
    "  items INTEGER NOT NULL,\n"
    "  PRIMARY KEY (owner_kind, host, owner, archive)\n"
    ") WITHOUT ROWID;\n"
    "INSERT INTO archive (id, owner_kind, host, owner, archive, stamp, peer, xml)\n"
    "  SELECT id, 0, host, user, 'offline', stored_at * 1000000, '', stanza FROM offline;\n"
    "INSERT INTO archive_size SELECT 0, host, user, 'offline', count(*) FROM offline\n"
    "  GROUP BY host, user;\n"
    "INSERT INTO sqlite_sequence (name, seq) SELECT 'archive', 0\n"
    "  WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'archive');\n"
    "UPDATE sqlite_sequence SET seq = max(seq, coalesce(\n"
    "  (SELECT seq FROM sqlite_sequence WHERE name = 'offline'), 0)) WHERE name = 'archive';\n"
    "DROP TABLE offline;\n"
    "ALTER TABLE accounts DROP COLUMN offline_count;\n"
    "CREATE TRIGGER archive_counted AFTER INSERT ON archive BEGIN\n"
    "  INSERT INTO archive_size VALUES (NEW.owner_kind, NEW.host, NEW.owner, NEW.archive, 1)\n"
    "  ON CONFLICT (owner_kind, host, owner, archive) DO UPDATE SET items = items + 1;\n"
    "END;\n"
    "CREATE TRIGGER archive_uncounted AFTER DELETE ON archive BEGIN\n"
    "  UPDATE archive_size SET items = items - 1 WHERE owner_kind = OLD.owner_kind\n"
    "    AND host = OLD.host AND owner = OLD.owner AND archive = OLD.archive;\n"
    "END;\n"
    "CREATE TRIGGER account_archives_deleted AFTER DELETE ON accounts BEGIN\n"
    "  DELETE FROM archive WHERE owner_kind = 0 AND host = OLD.host AND owner = OLD.user;\n"
    "  DELETE FROM archive_size WHERE owner_kind = 0 AND host = OLD.host AND owner = OLD.user;\n"
    "END;\n"
    "CREATE TABLE kind_schema (\n"
    "  kind TEXT PRIMARY KEY,\n"
    "  version INTEGER NOT NULL\n"
    ") WITHOUT ROWID;\n",
};

#define SCHEMA_VERSION ((int)CANTO_ARRAY_LEN(migrations))

/* The statements of the connection itself (transactions, owners). */
enum core_stmt {
    CORE_BEGIN,
    CORE_COMMIT,
    CORE_ROLLBACK,
    CORE_SAVEPOINT,
    CORE_RELEASE,
    CORE_ROLLBACK_TO,
    CORE_ACCOUNT_EXISTS,
    CORE_COUNT
};

/* The writer takes the write lock at BEGIN (IMMEDIATE), so that a batch
 * never fails half-way for a lock another process took; the reader's
 * transactions are plain read snapshots. */
static const char *const core_sql[CORE_COUNT] = {
    [CORE_BEGIN] = "BEGIN IMMEDIATE",
    [CORE_COMMIT] = "COMMIT",
    [CORE_ROLLBACK] = "ROLLBACK",
    [CORE_SAVEPOINT] = "SAVEPOINT req",
    [CORE_RELEASE] = "RELEASE req",
    [CORE_ROLLBACK_TO] = "ROLLBACK TO req",
    [CORE_ACCOUNT_EXISTS] = "SELECT 1 FROM accounts WHERE host = ?2 AND user = ?3",
};
#define READER_BEGIN "BEGIN"

struct sqlite_conn {
    sqlite3 *db;                                  /* the connection; its worker's */
    char *path;                                   /* data_dir/canto.db */
    bool reader;                                  /* the read-only second connection */
    sqlite3_stmt *core[CORE_COUNT];               /* prepared once, reset after each use */
    const struct canto__sqlite_kind **kinds;      /* built-in, then extra (tests) */
    size_t n_kinds;
    sqlite3_stmt ***stmts;                        /* per kind: its statements */
};

/* --- helpers for the kinds (sqlite_kind.h) ------------------------------------- */

int canto__sqlite_fail(struct canto__sqlite *c, int st)
{
    canto_error("storage: sqlite: %s: %s", c->sql[st], sqlite3_errmsg(c->db));
    return CANTO_ERROR;
}

sqlite3_stmt *canto__sqlite_start(struct canto__sqlite *c, int st,
                                  const struct canto__storage_req *r)
{
    sqlite3_stmt *q = c->stmt[st];
    if (r->has_owner) {
        sqlite3_bind_int(q, 1, (int)r->owner.kind);
        sqlite3_bind_text(q, 2, r->owner.host, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, r->owner.name, -1, SQLITE_STATIC);
    }
    return q;
}

void canto__sqlite_finish(struct canto__sqlite *c, int st)
{
    sqlite3_reset(c->stmt[st]);
    sqlite3_clear_bindings(c->stmt[st]);
}

int canto__sqlite_run(struct canto__sqlite *c, int st)
{
    int e = sqlite3_step(c->stmt[st]);
    int rc = e == SQLITE_DONE ? CANTO_OK : canto__sqlite_fail(c, st);
    canto__sqlite_finish(c, st);
    return rc;
}

int canto__sqlite_query_int(struct canto__sqlite *c, int st, int64_t *out)
{
    int e = sqlite3_step(c->stmt[st]);
    int rc = CANTO_OK;
    *out = 0;
    if (e == SQLITE_ROW)
        *out = sqlite3_column_int64(c->stmt[st], 0);
    else if (e != SQLITE_DONE)
        rc = canto__sqlite_fail(c, st);
    canto__sqlite_finish(c, st);
    return rc;
}

int canto__sqlite_owner_exists(struct canto__sqlite *c, const struct canto_storage_owner *o,
                               bool *exists)
{
    if (o->kind != CANTO_OWNER_ACCOUNT) {
        *exists = true;
        return CANTO_OK;
    }
    sqlite3_stmt *q = c->account_exists;
    sqlite3_bind_text(q, 2, o->host, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, o->name, -1, SQLITE_STATIC);
    int e = sqlite3_step(q);
    *exists = e == SQLITE_ROW;
    int rc = CANTO_OK;
    if (e != SQLITE_ROW && e != SQLITE_DONE) {
        canto_error("storage: sqlite: %s: %s", core_sql[CORE_ACCOUNT_EXISTS],
                    sqlite3_errmsg(c->db));
        rc = CANTO_ERROR;
    }
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return rc;
}

bool canto__sqlite_page_full(size_t n, unsigned limit, size_t bytes)
{
    return n >= limit || (n > 0 && bytes >= CANTO_STORAGE_PAGE_BYTES);
}

/* --- dispatch and transactions ------------------------------------------------- */

static int core_run(struct sqlite_conn *c, enum core_stmt st)
{
    int e = sqlite3_step(c->core[st]);
    int rc = CANTO_OK;
    if (e != SQLITE_DONE) {
        canto_error("storage: sqlite: %s: %s", sqlite3_sql(c->core[st]), sqlite3_errmsg(c->db));
        rc = CANTO_ERROR;
    }
    sqlite3_reset(c->core[st]);
    return rc;
}

/* The request's kind, found among this connection's (a handful: a scan). */
static int sqlite_exec(void *conn, struct canto__storage_req *r)
{
    struct sqlite_conn *c = conn;
    for (size_t i = 0; i < c->n_kinds; i++) {
        const struct canto__sqlite_kind *k = c->kinds[i];
        if (k->kind != r->op->kind)
            continue;
        struct canto__sqlite ctx = {c->db, c->stmts[i], k->sql, c->core[CORE_ACCOUNT_EXISTS]};
        return k->exec[r->op->id](&ctx, r);
    }
    canto_error("storage: sqlite: no implementation of %s", r->op->name);
    return CANTO_ERROR;
}

static int sqlite_begin(void *conn)
{
    return core_run(conn, CORE_BEGIN);
}

static int sqlite_commit(void *conn)
{
    return core_run(conn, CORE_COMMIT);
}

/* ROLLBACK with no transaction open is an error in SQLite; skip it then
 * (SQLite may already have rolled back by itself). */
static void sqlite_rollback(void *conn)
{
    struct sqlite_conn *c = conn;
    if (!sqlite3_get_autocommit(c->db))
        core_run(c, CORE_ROLLBACK);
}

static bool sqlite_in_transaction(void *conn)
{
    struct sqlite_conn *c = conn;
    return !sqlite3_get_autocommit(c->db);
}

static int sqlite_savepoint(void *conn)
{
    return core_run(conn, CORE_SAVEPOINT);
}

static int sqlite_release(void *conn)
{
    return core_run(conn, CORE_RELEASE);
}

/* ROLLBACK TO undoes the request's changes but leaves the savepoint on the
 * stack; RELEASE pops it so savepoints do not pile up within a batch. */
static int sqlite_rollback_to(void *conn)
{
    if (core_run(conn, CORE_ROLLBACK_TO) != CANTO_OK)
        return CANTO_ERROR;
    return core_run(conn, CORE_RELEASE);
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

/* A kind's own migrations, each in its own transaction with its version in
 * kind_schema, read again inside it (cantod and cantoctl may open at once). */
static int migrate_kind(sqlite3 *db, const char *path, const struct canto__sqlite_kind *k,
                        struct canto_buf *err)
{
    for (;;) {
        if (exec_sql(db, "BEGIN IMMEDIATE", "starting migration", err) != CANTO_OK)
            return CANTO_ERROR;
        sqlite3_stmt *q;
        int version = 0;
        if (sqlite3_prepare_v2(db, "SELECT version FROM kind_schema WHERE kind = ?1", -1, &q,
                               NULL) != SQLITE_OK) {
            canto_buf_appendf(err, "storage: reading the schema of %s: %s", k->kind->name,
                              sqlite3_errmsg(db));
            goto fail;
        }
        sqlite3_bind_text(q, 1, k->kind->name, -1, SQLITE_STATIC);
        int e = sqlite3_step(q);
        if (e == SQLITE_ROW)
            version = sqlite3_column_int(q, 0);
        sqlite3_finalize(q);
        if (e != SQLITE_ROW && e != SQLITE_DONE) {
            canto_buf_appendf(err, "storage: reading the schema of %s: %s", k->kind->name,
                              sqlite3_errmsg(db));
            goto fail;
        }
        if (version > (int)k->n_migrations) {
            canto_buf_appendf(err,
                              "storage: %s has version %d of the %s tables, newer than this "
                              "Canto understands (%zu); use a newer Canto",
                              path, version, k->kind->name, k->n_migrations);
            goto fail;
        }
        if (version == (int)k->n_migrations)
            return exec_sql(db, "COMMIT", "committing", err);

        struct canto_buf what = {0};
        canto_buf_appendf(&what, "migration of %s to version %d", k->kind->name, version + 1);
        int rc = exec_sql(db, k->migrations[version], what.data, err);
        if (rc == CANTO_OK) {
            if (sqlite3_prepare_v2(db,
                                   "INSERT INTO kind_schema (kind, version) VALUES (?1, ?2) "
                                   "ON CONFLICT (kind) DO UPDATE SET version = excluded.version",
                                   -1, &q, NULL) == SQLITE_OK) {
                sqlite3_bind_text(q, 1, k->kind->name, -1, SQLITE_STATIC);
                sqlite3_bind_int(q, 2, version + 1);
                if (sqlite3_step(q) != SQLITE_DONE)
                    rc = CANTO_ERROR;
                sqlite3_finalize(q);
            } else {
                rc = CANTO_ERROR;
            }
            if (rc != CANTO_OK)
                canto_buf_appendf(err, "storage: %s: %s", what.data, sqlite3_errmsg(db));
        }
        if (rc == CANTO_OK)
            rc = exec_sql(db, "COMMIT", what.data, err);
        canto_buf_free(&what);
        if (rc != CANTO_OK)
            goto fail;
        canto_info("storage: %s: %s tables migrated to version %d", path, k->kind->name,
                   version + 1);
    }
fail:
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return CANTO_ERROR;
}

static void sqlite_close(void *conn)
{
    struct sqlite_conn *c = conn;
    if (!c)
        return;
    for (int i = 0; i < CORE_COUNT; i++)
        sqlite3_finalize(c->core[i]);
    for (size_t k = 0; c->stmts && k < c->n_kinds; k++) {
        for (size_t i = 0; c->stmts[k] && i < c->kinds[k]->n_sql; i++)
            sqlite3_finalize(c->stmts[k][i]);
        free(c->stmts[k]);
    }
    free(c->stmts);
    free(c->kinds);
    if (c->db && sqlite3_close(c->db) != SQLITE_OK)
        canto_error("storage: sqlite close: %s", sqlite3_errmsg(c->db));
    free(c->path);
    free(c);
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out, struct canto_buf *err)
{
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL) == SQLITE_OK)
        return CANTO_OK;
    canto_buf_appendf(err, "storage: preparing \"%s\": %s", sql, sqlite3_errmsg(db));
    return CANTO_ERROR;
}

/* Prepare the connection's own statements and every kind's. */
static int prepare_all(struct sqlite_conn *c, struct canto_buf *err)
{
    for (int i = 0; i < CORE_COUNT; i++) {
        const char *sql = i == CORE_BEGIN && c->reader ? READER_BEGIN : core_sql[i];
        if (prepare(c->db, sql, &c->core[i], err) != CANTO_OK)
            return CANTO_ERROR;
    }
    c->stmts = canto_xcalloc(c->n_kinds, sizeof *c->stmts);
    for (size_t k = 0; k < c->n_kinds; k++) {
        const struct canto__sqlite_kind *kind = c->kinds[k];
        c->stmts[k] = canto_xcalloc(kind->n_sql ? kind->n_sql : 1, sizeof *c->stmts[k]);
        for (size_t i = 0; i < kind->n_sql; i++)
            if (prepare(c->db, kind->sql[i], &c->stmts[k][i], err) != CANTO_OK)
                return CANTO_ERROR;
    }
    return CANTO_OK;
}

/* A connection object for path with the kinds (built-in, then extra: a
 * NULL-terminated array or NULL), its database not yet open. */
static struct sqlite_conn *conn_new(const char *path, const struct canto__sqlite_kind *const *kinds,
                                    size_t n_kinds, bool reader)
{
    struct sqlite_conn *c = canto_xcalloc(1, sizeof *c);
    c->path = canto_xstrdup(path);
    c->reader = reader;
    c->kinds = canto_xcalloc(n_kinds, sizeof *c->kinds);
    memcpy(c->kinds, kinds, n_kinds * sizeof *kinds);
    c->n_kinds = n_kinds;
    return c;
}

static int sqlite_open(const char *data_dir, const void *extra, void **out,
                       struct canto_buf *err)
{
    *out = NULL;
    if (!sqlite3_threadsafe()) {
        canto_buf_append_str(err, "storage: this SQLite library was built without thread support");
        return CANTO_ERROR;
    }
    if (make_dirs(data_dir, err) != CANTO_OK)
        return CANTO_ERROR;

    const struct canto__sqlite_kind *const *more = extra;
    size_t n_more = 0;
    while (more && more[n_more])
        n_more++;
    size_t n_kinds = CANTO_ARRAY_LEN(builtin_kinds) + n_more;
    const struct canto__sqlite_kind **kinds = canto_xcalloc(n_kinds, sizeof *kinds);
    memcpy(kinds, builtin_kinds, sizeof builtin_kinds);
    if (n_more)
        memcpy(kinds + CANTO_ARRAY_LEN(builtin_kinds), more, n_more * sizeof *kinds);

    struct canto_buf path = {0};
    canto_buf_appendf(&path, "%s/canto.db", data_dir);
    struct sqlite_conn *c = conn_new(path.data, kinds, n_kinds, false);
    free(kinds);
    canto_buf_free(&path);
    /* NOMUTEX: one thread at a time uses the connection (open here, then the
     * writer, then close after the writer is joined). */
    int e = sqlite3_open_v2(c->path, &c->db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                            NULL);
    if (e != SQLITE_OK) {
        canto_buf_appendf(err, "storage: cannot open %s: %s", c->path,
                          c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(e));
        goto fail;
    }
    if (configure(c->db, c->path, err) != CANTO_OK || migrate(c->db, c->path, err) != CANTO_OK)
        goto fail;
    for (size_t k = 0; k < c->n_kinds; k++)
        if (migrate_kind(c->db, c->path, c->kinds[k], err) != CANTO_OK)
            goto fail;
    if (prepare_all(c, err) != CANTO_OK)
        goto fail;
    *out = c;
    return CANTO_OK;

fail:
    sqlite_close(c);
    return CANTO_ERROR;
}

/* The reader: the same file, the same kinds, query_only. Without WAL a
 * reader would wait for the writer's lock (and make it wait), so there is
 * none then and reads stay on the writer. */
static int sqlite_open_reader(void *writer, void **out, struct canto_buf *err)
{
    struct sqlite_conn *w = writer;
    *out = NULL;
    sqlite3_stmt *q;
    bool wal = false;
    if (sqlite3_prepare_v2(w->db, "PRAGMA journal_mode", -1, &q, NULL) == SQLITE_OK) {
        if (sqlite3_step(q) == SQLITE_ROW) {
            const char *mode = (const char *)sqlite3_column_text(q, 0);
            wal = mode && strcmp(mode, "wal") == 0;
        }
        sqlite3_finalize(q);
    }
    if (!wal)
        return CANTO_DECLINED;
    struct sqlite_conn *c = conn_new(w->path, w->kinds, w->n_kinds, true);
    int e = sqlite3_open_v2(c->path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (e != SQLITE_OK) {
        canto_buf_appendf(err, "storage: cannot open %s for reading: %s", c->path,
                          c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(e));
        goto fail;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
    if (exec_sql(c->db, "PRAGMA query_only=ON", c->path, err) != CANTO_OK ||
        prepare_all(c, err) != CANTO_OK)
        goto fail;
    *out = c;
    return CANTO_OK;

fail:
    sqlite_close(c);
    return CANTO_ERROR;
}

const struct canto__storage_backend canto__storage_sqlite = {
    .name = "sqlite",
    .open = sqlite_open,
    .open_reader = sqlite_open_reader,
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
