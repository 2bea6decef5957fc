/*
 * storage_test_kind.c: a storage kind that exists only for the unit test,
 * to prove the seam honest: a new kind is this one file (its operations'
 * table, its public functions, and its SQLite implementation with its own
 * table and migration) plus one line in a kinds table (here the test's
 * own, passed to canto__storage_open; in the server, sqlite.c's
 * builtin_kinds[]). Nothing in src/storage/ knows it.
 *
 * The kind: per-owner named counters. "add" is a write (an upsert), "get"
 * a read. "hold" is a read that blocks its worker until the test releases
 * it, so that a test can prove that a read in progress delays no write.
 * Included by test_storage.c (each unit test is one executable).
 */
#include <stdlib.h>
#include <string.h>

#include "storage/sqlite_kind.h"
#include "storage/storage_internal.h"

/* --- the kind: its requests and its table of operations --------------------- */

enum { COUNTER_ADD, COUNTER_GET, COUNTER_HOLD, COUNTER_OPS };

struct counter_req {
    struct canto__storage_req base; /* owner: whose counter */
    const char *name;               /* the counter */
    int64_t delta;                  /* add */
    int64_t value;                  /* out: get */
};

typedef void (*counter_cb)(void *ud, int rc, int64_t value);

static void counter_deliver(struct canto__storage_req *r)
{
    struct counter_req *c = canto_container_of(r, struct counter_req, base);
    if (r->cb)
        ((counter_cb)r->cb)(r->ud, r->rc, r->rc == CANTO_OK ? c->value : 0);
}

static const struct canto__storage_kind counter_kind;
static const struct canto__storage_op counter_ops[COUNTER_OPS] = {
    [COUNTER_ADD] = {&counter_kind, COUNTER_ADD, "counter.add", true, counter_deliver, NULL,
                     NULL},
    [COUNTER_GET] = {&counter_kind, COUNTER_GET, "counter.get", false, counter_deliver, NULL,
                     NULL},
    [COUNTER_HOLD] = {&counter_kind, COUNTER_HOLD, "counter.hold", false, counter_deliver, NULL,
                      NULL},
};
static const struct canto__storage_kind counter_kind = {"test_counter", counter_ops,
                                                        COUNTER_OPS};

static void counter_submit(struct canto_storage *s, int op,
                           const struct canto_storage_owner *owner, const char *name,
                           int64_t delta, counter_cb cb, void *ud)
{
    char *p;
    struct counter_req *c = canto__storage_req_new(sizeof *c, &counter_ops[op], owner,
                                                   canto__storage_size(name), &p);
    c->base.cb = (void (*)(void))cb;
    c->base.ud = ud;
    c->delta = delta;
    if (name)
        c->name = canto__storage_put(&p, name, strlen(name));
    else
        c->base.rc = CANTO_INVALID;
    canto__storage_submit(s, &c->base);
}

static void counter_add(struct canto_storage *s, const struct canto_storage_owner *owner,
                        const char *name, int64_t delta, counter_cb cb, void *ud)
{
    counter_submit(s, COUNTER_ADD, owner, name, delta, cb, ud);
}

static void counter_get(struct canto_storage *s, const struct canto_storage_owner *owner,
                        const char *name, counter_cb cb, void *ud)
{
    counter_submit(s, COUNTER_GET, owner, name, 0, cb, ud);
}

/* The hold: the worker that runs it waits until counter_release(). */
static uv_mutex_t hold_lock;
static uv_cond_t hold_cond;
static bool hold_entered, hold_released;

static void counter_hold(struct canto_storage *s, const struct canto_storage_owner *owner,
                         counter_cb cb, void *ud)
{
    hold_entered = hold_released = false;
    counter_submit(s, COUNTER_HOLD, owner, "hold", 0, cb, ud);
}

/* Wait until a worker is inside the hold (the loop must have handed it
 * over: run it once first). */
static void counter_wait_held(void)
{
    uv_mutex_lock(&hold_lock);
    while (!hold_entered)
        uv_cond_wait(&hold_cond, &hold_lock);
    uv_mutex_unlock(&hold_lock);
}

static void counter_release(void)
{
    uv_mutex_lock(&hold_lock);
    hold_released = true;
    uv_cond_broadcast(&hold_cond);
    uv_mutex_unlock(&hold_lock);
}

/* --- its SQLite implementation ---------------------------------------------- */

enum { SQL_ADD, SQL_GET, N_SQL };

static const char *const counter_sql[N_SQL] = {
    [SQL_ADD] = "INSERT INTO test_counter (owner_kind, host, owner, name, value) "
                "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (owner_kind, host, owner, name) "
                "DO UPDATE SET value = value + excluded.value RETURNING value",
    [SQL_GET] = "SELECT value FROM test_counter WHERE owner_kind = ?1 AND host = ?2 "
                "AND owner = ?3 AND name = ?4",
};

/* Its own table, versioned in kind_schema, with the trigger that deletes an
 * account's counters with the account. */
static const char *const counter_migrations[] = {
    "CREATE TABLE test_counter (owner_kind INTEGER NOT NULL, host TEXT NOT NULL, "
    "owner TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL, "
    "PRIMARY KEY (owner_kind, host, owner, name)) WITHOUT ROWID;\n"
    "CREATE TRIGGER account_test_counter_deleted AFTER DELETE ON accounts BEGIN\n"
    "  DELETE FROM test_counter WHERE owner_kind = 0 AND host = OLD.host "
    "AND owner = OLD.user;\n"
    "END;\n",
};

static int counter_exec_value(struct canto__sqlite *c, struct canto__storage_req *r, int st)
{
    struct counter_req *cr = canto_container_of(r, struct counter_req, base);
    sqlite3_stmt *q = canto__sqlite_start(c, st, r);
    sqlite3_bind_text(q, 4, cr->name, -1, SQLITE_STATIC);
    if (st == SQL_ADD)
        sqlite3_bind_int64(q, 5, cr->delta);
    int e = sqlite3_step(q);
    int rc = CANTO_OK;
    if (e == SQLITE_ROW)
        cr->value = sqlite3_column_int64(q, 0);
    else if (e == SQLITE_DONE)
        rc = CANTO_NOTFOUND;
    else
        rc = canto__sqlite_fail(c, st);
    canto__sqlite_finish(c, st);
    return rc;
}

static int counter_exec_add(struct canto__sqlite *c, struct canto__storage_req *r)
{
    bool exists;
    if (canto__sqlite_owner_exists(c, &r->owner, &exists) != CANTO_OK)
        return CANTO_ERROR;
    return exists ? counter_exec_value(c, r, SQL_ADD) : CANTO_NOTFOUND;
}

static int counter_exec_get(struct canto__sqlite *c, struct canto__storage_req *r)
{
    return counter_exec_value(c, r, SQL_GET);
}

static int counter_exec_hold(struct canto__sqlite *c, struct canto__storage_req *r)
{
    uv_mutex_lock(&hold_lock);
    hold_entered = true;
    uv_cond_broadcast(&hold_cond);
    while (!hold_released)
        uv_cond_wait(&hold_cond, &hold_lock);
    uv_mutex_unlock(&hold_lock);
    return CANTO_OK;
}

static const canto__sqlite_exec_fn counter_exec[COUNTER_OPS] = {
    [COUNTER_ADD] = counter_exec_add,
    [COUNTER_GET] = counter_exec_get,
    [COUNTER_HOLD] = counter_exec_hold,
};

static const struct canto__sqlite_kind sqlite_counter_kind = {
    .kind = &counter_kind,
    .exec = counter_exec,
    .sql = counter_sql,
    .n_sql = N_SQL,
    .migrations = counter_migrations,
    .n_migrations = CANTO_ARRAY_LEN(counter_migrations),
};

/* The one line: the test's kinds table. */
static const struct canto__sqlite_kind *const test_kinds[] = {&sqlite_counter_kind, NULL};
