/*
 * storage_internal.h: what the backend-neutral request machinery (storage.c)
 * and a storage backend (sqlite.c) share. Nothing outside src/storage/ may
 * include this file; features see only include/canto/storage.h.
 *
 * The split: storage.c owns the queue, the worker thread, the batching into
 * transactions (group commit), the per-request savepoints and the delivery of
 * results to the loop thread. A backend owns its connection and knows how to
 * run one request, plus the handful of transaction verbs storage.c drives.
 * Every backend function below except open runs on the worker thread, which
 * is the only thread touching the connection while the storage is open.
 *
 * Names shared between the two files but private to storage carry the
 * libuv-style double underscore: canto__.
 */
#ifndef CANTO_STORAGE_INTERNAL_H
#define CANTO_STORAGE_INTERNAL_H

#include "canto/buf.h"
#include "canto/common.h"
#include "canto/scram.h"
#include "canto/storage.h"

/* One kind of request per public function. Adding a request: a value here, a
 * public function in storage.c that fills the request, a case in
 * canto__storage_op_writes() and in the delivery switch, and a case in the
 * backend's exec function (see docs/internals/storage.md). */
enum canto__storage_op {
    CANTO__OP_GET_CREDS,
    CANTO__OP_ACCOUNT_CREATE,
    CANTO__OP_SET_CREDS,
    CANTO__OP_ACCOUNT_DELETE,
    CANTO__OP_ACCOUNT_EXISTS,
    CANTO__OP_ACCOUNT_LIST,
    CANTO__OP_OFFLINE_STORE,
    CANTO__OP_OFFLINE_FETCH,
    CANTO__OP_OFFLINE_DELETE,
    CANTO__OP_OFFLINE_COUNT,
    CANTO__OP_KV_GET,
    CANTO__OP_KV_LIST,
    CANTO__OP_KV_WRITE,
    CANTO__OP_BARRIER,
};

/* One queued request: its inputs (copied from the caller when it was
 * queued), its result (filled by the worker) and its completion. Allocated
 * in one piece with the strings at the end; the creds, changes, items, msgs
 * and kv arrays are separate allocations released with the request after
 * its callback. */
struct canto__storage_req {
    struct canto__storage_req *next; /* queue / done list link */
    enum canto__storage_op op;       /* what to do */
    int rc;                          /* result; CANTO_AGAIN until it ran */
    bool ran;                        /* the backend executed it in a transaction */
    const char *host;                /* prepared host; NULL: every host (list) */
    const char *user;                /* prepared localpart; NULL: every user (kv_list) */
    const char *xml;                 /* offline_store: the stanza */
    size_t xml_len;                  /* its length in bytes */
    unsigned limit;                  /* offline store/fetch limit */
    int64_t up_to_id;                /* offline_delete bound */
    const char *store;               /* kv_get, kv_list: the store's name */
    const char *key;                 /* kv_get: the key */
    struct canto_scram_cred *creds;  /* in: create/set_creds; out: get_creds */
    size_t n_creds;                  /* entries in creds */
    struct canto_kv_change *changes; /* in: kv_write; one allocation, bytes after the array */
    size_t n_changes;                /* entries in changes */
    char **items;                    /* out: account_list bare JIDs */
    struct canto_offline_msg *msgs;  /* out: offline_fetch; xml malloc'd */
    struct canto_kv_item *kv;        /* out: kv_get/list; each item's strings: one block at .user */
    size_t n;                        /* out: entries in items/msgs/kv, or the count */
    union {
        canto_storage_done_cb done;
        canto_storage_creds_cb creds;
        canto_storage_list_cb list;
        canto_storage_offline_cb offline;
        canto_storage_kv_cb kv;
    } cb;                            /* completion, by op */
    void *ud;                        /* caller's pointer for cb */
    char strings[];                  /* host, user, then xml or store, key; NUL-terminated */
};

/* True for requests that change data (they run inside a savepoint). */
bool canto__storage_op_writes(enum canto__storage_op op);

/* Release whatever results a request holds (after a failed transaction, or
 * once the callback has run), leaving it with n = 0 and no arrays. Inputs
 * (credentials, kv changes) are left alone. */
void canto__storage_req_clear_results(struct canto__storage_req *r);

/* A storage backend. conn is the backend's connection object. Verbs return
 * CANTO_OK or CANTO_ERROR (already logged). */
struct canto__storage_backend {
    const char *name; /* the name chosen in the config: "sqlite" */
    /* Open data_dir's database, migrate it to the current schema, prepare
     * what requests need. Runs synchronously on the caller's thread. On
     * failure returns CANTO_ERROR with a sentence in err and nothing open. */
    int (*open)(const char *data_dir, void **conn, struct canto_buf *err);
    /* Close what open made. No transaction is in progress. */
    void (*close)(void *conn);
    int (*begin)(void *conn);        /* start a write transaction */
    int (*commit)(void *conn);       /* make it durable */
    void (*rollback)(void *conn);    /* abandon it (if still open) */
    bool (*in_transaction)(void *conn); /* false once the backend lost it */
    int (*savepoint)(void *conn);    /* mark the start of one request */
    int (*release)(void *conn);      /* keep that request's changes */
    int (*rollback_to)(void *conn);  /* undo them (and release the mark) */
    /* Run one request inside the open transaction: returns its rc and fills
     * its results on CANTO_OK (only then). */
    int (*exec)(void *conn, struct canto__storage_req *r);
};

extern const struct canto__storage_backend canto__storage_sqlite;

#endif
