/*
 * storage.h: the one asynchronous interface for everything that outlives a
 * connection. Features never speak SQL; they call these functions.
 *
 * Every request is queued and answered later by calling its callback on the
 * event loop the storage was opened with (never from inside the call that
 * queued it). Data handed to a callback is valid only during the callback.
 * Requests are executed in the order they were made. Writes are batched into
 * group commits: a write's callback runs only after the transaction holding it
 * is durable on disk, so anything acknowledged from a callback survives a
 * crash or kill -9.
 *
 * The caller guarantees that ud stays valid until its callback has run
 * (sessions hold a reference while a request is pending).
 *
 * Any request may also complete with CANTO_INVALID when its arguments are
 * malformed (a NULL or empty host or user, ill-formed credentials); like
 * every other result, that arrives through the callback, later. All these
 * functions are called on the loop thread. See docs/internals/storage.md.
 *
 * Backends: "sqlite" (embedded default, data_dir/canto.db, WAL).
 */
#ifndef CANTO_STORAGE_H
#define CANTO_STORAGE_H

#include <uv.h>

#include "canto/buf.h"
#include "canto/common.h"
#include "canto/scram.h"

struct canto_storage;

struct canto_storage_options {
    const char *backend;  /* "sqlite"; NULL means the default, "sqlite" */
    const char *data_dir; /* directory for the database; created if missing */
};

/* Open (creating or migrating the schema). Returns CANTO_OK, or CANTO_ERROR
 * with a message in err. */
int canto_storage_open(uv_loop_t *loop, const struct canto_storage_options *opts,
                       struct canto_storage **out, struct canto_buf *err);
/* Finish every queued request (their callbacks run), then close. Must be
 * called on the loop thread while the loop is not inside a storage callback.
 * It runs the loop internally until the queue is empty. */
void canto_storage_close(struct canto_storage *s);

/* Completion with just a result code. */
typedef void (*canto_storage_done_cb)(void *ud, int rc);

/* --- accounts ------------------------------------------------------------- */

/* rc: CANTO_OK with n credentials (one per hash stored), CANTO_NOTFOUND, CANTO_ERROR. */
typedef void (*canto_storage_creds_cb)(void *ud, int rc, const struct canto_scram_cred *creds,
                                       size_t n);
void canto_storage_account_get_creds(struct canto_storage *s, const char *host, const char *user,
                                     canto_storage_creds_cb cb, void *ud);
/* rc: CANTO_OK, CANTO_CONFLICT (exists), CANTO_ERROR. */
void canto_storage_account_create(struct canto_storage *s, const char *host, const char *user,
                                  const struct canto_scram_cred *creds, size_t n,
                                  canto_storage_done_cb cb, void *ud);
/* Replace all credentials. rc: CANTO_OK, CANTO_NOTFOUND, CANTO_ERROR. */
void canto_storage_account_set_creds(struct canto_storage *s, const char *host, const char *user,
                                     const struct canto_scram_cred *creds, size_t n,
                                     canto_storage_done_cb cb, void *ud);
/* Delete the account and everything stored for it. rc: CANTO_OK, CANTO_NOTFOUND. */
void canto_storage_account_delete(struct canto_storage *s, const char *host, const char *user,
                                  canto_storage_done_cb cb, void *ud);
/* rc: CANTO_OK if it exists, CANTO_NOTFOUND if not. */
void canto_storage_account_exists(struct canto_storage *s, const char *host, const char *user,
                                  canto_storage_done_cb cb, void *ud);
/* Bare JIDs of all accounts of host (host NULL: every host), sorted in the
 * byte order of the "user@host" strings. */
typedef void (*canto_storage_list_cb)(void *ud, int rc, const char *const *items, size_t n);
void canto_storage_account_list(struct canto_storage *s, const char *host,
                                canto_storage_list_cb cb, void *ud);

/* --- offline messages (XEP-0160) ------------------------------------------ */

struct canto_offline_msg {
    int64_t id;      /* increasing per store */
    const char *xml; /* the stanza as stored (with its delay stamp) */
    size_t len;
};

/* Store one message for user@host unless it already has limit messages.
 * rc: CANTO_OK (durable), CANTO_LIMIT (full), CANTO_NOTFOUND (no such
 * account), CANTO_ERROR. */
void canto_storage_offline_store(struct canto_storage *s, const char *host, const char *user,
                                 const char *xml, size_t len, unsigned limit,
                                 canto_storage_done_cb cb, void *ud);
/* All stored messages, oldest first (at most limit of them). An unknown
 * account has none: CANTO_OK with n 0. */
typedef void (*canto_storage_offline_cb)(void *ud, int rc, const struct canto_offline_msg *msgs,
                                         size_t n);
void canto_storage_offline_fetch(struct canto_storage *s, const char *host, const char *user,
                                 unsigned limit, canto_storage_offline_cb cb, void *ud);
/* Delete messages with id <= up_to_id. cb may be NULL. */
void canto_storage_offline_delete(struct canto_storage *s, const char *host, const char *user,
                                  int64_t up_to_id, canto_storage_done_cb cb, void *ud);
/* Number of stored messages (rc OK, count in *count during the callback via
 * the list cb's n; items is NULL). An unknown account has 0. */
void canto_storage_offline_count(struct canto_storage *s, const char *host, const char *user,
                                 canto_storage_list_cb cb, void *ud);

/* --- per-account data ------------------------------------------------------ */

/* Every account has named stores ("roster", "vcard", "private", ...), each a
 * map of keys to opaque values. A feature picks its store name and keeps its
 * own format in the values; storage never looks inside. Deleting the account
 * deletes all of it. Keys are non-empty UTF-8 strings; values are bytes
 * (an empty value is a value, not a deletion). The owner features enforce
 * size limits; storage accepts what it is given. */

struct canto_kv_item {
    const char *user;  /* the account's localpart (useful when listing a host) */
    const char *key;
    const char *value; /* len bytes, NUL-terminated after them for convenience */
    size_t len;
};

/* rc: CANTO_OK with n items, CANTO_NOTFOUND (get: no such key), CANTO_ERROR. */
typedef void (*canto_storage_kv_cb)(void *ud, int rc, const struct canto_kv_item *items,
                                    size_t n);
/* One value: CANTO_OK with n 1, or CANTO_NOTFOUND. */
void canto_storage_kv_get(struct canto_storage *s, const char *host, const char *user,
                          const char *store, const char *key, canto_storage_kv_cb cb, void *ud);
/* Every item of a store, sorted by key (CANTO_OK, maybe with n 0). With user
 * NULL: that store of every account of host, sorted by user then key (for a
 * search across a host, e.g. the user directory). */
void canto_storage_kv_list(struct canto_storage *s, const char *host, const char *user,
                           const char *store, canto_storage_kv_cb cb, void *ud);

/* One change of canto_storage_kv_write: set store/key to value (len bytes);
 * value NULL deletes the key; key NULL (and value NULL) empties the store. */
struct canto_kv_change {
    const char *store;
    const char *key;
    const char *value;
    size_t len;
};

/* Apply the changes in order, all or none (one savepoint), so that e.g. a
 * roster item and the roster version move together. rc: CANTO_OK (durable),
 * CANTO_NOTFOUND (no such account: nothing changed), CANTO_ERROR. cb may be
 * NULL. */
void canto_storage_kv_write(struct canto_storage *s, const char *host, const char *user,
                            const struct canto_kv_change *changes, size_t n,
                            canto_storage_done_cb cb, void *ud);

/* --- ordering --------------------------------------------------------------- */

/* cb runs once every request queued before it is complete and durable. */
void canto_storage_barrier(struct canto_storage *s, canto_storage_done_cb cb, void *ud);

#endif
