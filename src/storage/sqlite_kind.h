/*
 * sqlite_kind.h: how the SQLite backend implements a kind. Each kind is one
 * file (sqlite_accounts.c, sqlite_kv.c, sqlite_archive.c) defining one
 * struct canto__sqlite_kind: its statements, one function per operation of
 * the kind's table, and its own schema migrations; sqlite.c lists them in
 * its kinds table, prepares every kind's statements on every connection,
 * runs the migrations at open and dispatches each request to its kind's
 * function. The helpers below are the only things a kind's file needs from
 * sqlite.c. Private to src/storage/ (and its unit test).
 */
#ifndef CANTO_STORAGE_SQLITE_KIND_H
#define CANTO_STORAGE_SQLITE_KIND_H

#include <sqlite3.h>

#include "storage/storage_internal.h"

/* What a kind's functions work with: one connection and the kind's own
 * statements on it. */
struct canto__sqlite {
    sqlite3 *db;                   /* the connection (the writer's or the reader's) */
    sqlite3_stmt **stmt;           /* the kind's statements, indexed like its sql[] */
    const char *const *sql;        /* their text, for error messages */
    sqlite3_stmt *account_exists;  /* ?2 host, ?3 user: SELECT 1 if the account exists */
};

typedef int (*canto__sqlite_exec_fn)(struct canto__sqlite *c, struct canto__storage_req *r);

struct canto__sqlite_kind {
    const struct canto__storage_kind *kind;  /* the operations implemented */
    const canto__sqlite_exec_fn *exec;       /* one per operation, by op id */
    const char *const *sql;                  /* statements prepared at open */
    size_t n_sql;
    /* The kind's own schema steps, version N being migrations[N - 1], kept
     * in kind_schema(kind, version). Released entries are never edited. */
    const char *const *migrations;
    size_t n_migrations;
};

extern const struct canto__sqlite_kind canto__sqlite_accounts;
extern const struct canto__sqlite_kind canto__sqlite_kv;
extern const struct canto__sqlite_kind canto__sqlite_archive;

/* Statement st of the kind, with ?1 owner kind, ?2 host, ?3 name bound from
 * r's owner when it has one (a statement need not use them). */
sqlite3_stmt *canto__sqlite_start(struct canto__sqlite *c, int st,
                                  const struct canto__storage_req *r);
/* Reset st and clear its bindings (forgets any read snapshot). */
void canto__sqlite_finish(struct canto__sqlite *c, int st);
/* Log st's error; returns CANTO_ERROR. */
int canto__sqlite_fail(struct canto__sqlite *c, int st);
/* Step a statement that returns no rows, then finish it. */
int canto__sqlite_run(struct canto__sqlite *c, int st);
/* Step a query whose first column is an integer, then finish it; no row: 0. */
int canto__sqlite_query_int(struct canto__sqlite *c, int st, int64_t *out);
/* Does the owner exist? An account must have its row; a service entity
 * always exists (its service owns it). */
int canto__sqlite_owner_exists(struct canto__sqlite *c, const struct canto_storage_owner *o,
                               bool *exists);
/* A page that holds n items of bytes bytes is full for limit. */
bool canto__sqlite_page_full(size_t n, unsigned limit, size_t bytes);

#endif
