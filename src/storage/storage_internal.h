/*
 * storage_internal.h: what the backend-neutral request machinery
 * (storage.c), the kinds (accounts.c, kv.c, archive.c: the public functions
 * of storage.h) and a storage backend (sqlite*.c) share. Nothing outside
 * src/storage/ and its unit test may include this file; features see only
 * include/canto/storage.h.
 *
 * The split:
 * - storage.c owns the queues, the two worker threads (writer and reader),
 *   the batching into transactions (group commit), per-request savepoints,
 *   the routing of reads (reader, or behind an owner's writes in flight),
 *   barriers and the delivery of results to the loop thread. It knows no
 *   kind.
 * - A kind describes its operations once, in a table of struct
 *   canto__storage_op: name, read or write, how to deliver the result to
 *   the caller's callback, how to free it. Its public functions allocate a
 *   request (its own struct, starting with struct canto__storage_req),
 *   check the arguments and submit it.
 * - A backend owns its connections and implements, per kind, one function
 *   per operation (for SQLite: one file per kind, listed in sqlite.c's
 *   kinds table).
 *
 * Names shared between these files but private to storage carry the
 * libuv-style double underscore: canto__.
 */
#ifndef CANTO_STORAGE_INTERNAL_H
#define CANTO_STORAGE_INTERNAL_H

#include "canto/buf.h"
#include "canto/common.h"
#include "canto/storage.h"

struct canto__storage_req;
struct canto__storage_kind;

/* One operation of a kind, described once. */
struct canto__storage_op {
    const struct canto__storage_kind *kind; /* whose operation */
    unsigned id;                            /* index in kind->ops; backends dispatch on it */
    const char *name;                       /* "kv.get", for logs */
    bool writes;                            /* changes data: write connection, own savepoint */
    /* Call the request's callback with its result (rc, and results only
     * when rc is CANTO_OK). Runs on the loop thread. */
    void (*deliver)(struct canto__storage_req *r);
    /* Free the results the backend attached (NULL: it attaches none), leaving
     * the request as before it ran. Also called after a failed transaction. */
    void (*clear)(struct canto__storage_req *r);
    /* Free inputs held outside the request's own block (NULL: none). */
    void (*release)(struct canto__storage_req *r);
};

/* A kind: a name and its table of operations. */
struct canto__storage_kind {
    const char *name;                     /* "kv", "archive", "accounts" */
    const struct canto__storage_op *ops;  /* ops[i].id == i */
    size_t n_ops;
};

/* The head of every request. A kind's request struct starts with it and
 * adds its inputs and results; the owner's strings and the kind's own
 * strings follow in the same allocation (canto__storage_req_new). */
struct canto__storage_req {
    struct canto__storage_req *next;      /* queue / done list link */
    const struct canto__storage_op *op;   /* what to do */
    int rc;                               /* result; CANTO_AGAIN until it ran */
    bool ran;                             /* the backend executed it in a transaction */
    bool on_writer;                       /* queued on the write connection */
    bool has_owner;                       /* owner is set (not a list across owners) */
    struct canto_storage_owner owner;     /* copies; host NULL for a barrier */
    uint64_t reads_before;                /* barrier: reader requests queued before it */
    void (*cb)(void);                     /* the caller's callback, cast back by deliver */
    void *ud;                             /* its pointer */
};

/* Allocate a request of size bytes (a kind's struct) for op, with copies of
 * owner's strings (owner may be NULL) and extra bytes after them, zeroed;
 * *tail points at those extra bytes. rc starts as CANTO_AGAIN, or
 * CANTO_INVALID when owner is given but malformed. */
void *canto__storage_req_new(size_t size, const struct canto__storage_op *op,
                             const struct canto_storage_owner *owner, size_t extra, char **tail);
/* Copy n bytes of src and a NUL to *p; returns the copy, moves *p past it. */
const char *canto__storage_put(char **p, const char *src, size_t n);
/* Bytes a copy of s takes with canto__storage_put (0 for NULL). */
size_t canto__storage_size(const char *s);
/* Queue r (filled, rc CANTO_AGAIN or the refusal). Its callback will run. */
void canto__storage_submit(struct canto_storage *s, struct canto__storage_req *r);
/* A page size a caller may ask for. */
bool canto__storage_limit_ok(unsigned limit);

/* A storage backend. conn is one of the backend's connections. Verbs
 * return CANTO_OK or CANTO_ERROR (already logged). */
struct canto__storage_backend {
    const char *name; /* the name chosen in the config: "sqlite" */
    /* Open data_dir's database, migrate it to the current schema (every
     * kind's), prepare what requests need: the write connection. extra:
     * more kinds for this backend (tests; NULL). Runs synchronously on the
     * caller's thread. On failure returns CANTO_ERROR with a sentence in
     * err and nothing open. */
    int (*open)(const char *data_dir, const void *extra, void **conn, struct canto_buf *err);
    /* A second connection for reads only, on the same database. Returns
     * CANTO_DECLINED when reads cannot run beside the writer (no WAL), and
     * then every read goes to the writer. */
    int (*open_reader)(void *writer, void **conn, struct canto_buf *err);
    /* Close what open or open_reader made. No transaction is in progress. */
    void (*close)(void *conn);
    int (*begin)(void *conn);        /* start a transaction (the writer's takes the write lock) */
    int (*commit)(void *conn);       /* end it; for the writer: make it durable */
    void (*rollback)(void *conn);    /* abandon it (if still open) */
    bool (*in_transaction)(void *conn); /* false once the backend lost it */
    int (*savepoint)(void *conn);    /* mark the start of one write request */
    int (*release)(void *conn);      /* keep that request's changes */
    int (*rollback_to)(void *conn);  /* undo them (and release the mark) */
    /* Run one request inside the open transaction: returns its rc and fills
     * its results on CANTO_OK (only then). */
    int (*exec)(void *conn, struct canto__storage_req *r);
};

extern const struct canto__storage_backend canto__storage_sqlite;

/* storage.c's open with extra kinds for the backend (tests register a
 * test-only kind this way; canto_storage_open passes NULL). */
int canto__storage_open(uv_loop_t *loop, const struct canto_storage_options *opts,
                        const void *extra_kinds, struct canto_storage **out,
                        struct canto_buf *err);

#endif
