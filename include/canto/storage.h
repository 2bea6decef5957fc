/*
 * storage.h: the one asynchronous interface for everything that outlives a
 * connection. Features never speak SQL; they call these functions.
 *
 * Storage is organised by KIND and by OWNER. A kind is a shape of data with
 * its own operations: accounts (credentials), key-value stores (what exists
 * now: rosters, vCards, private XML, directory entries) and archives
 * (append-only histories queried by time, peer and id: offline messages,
 * later MAM and room logs). An owner is whom the data belongs to: an account
 * (user@host) or a service entity (a room, a pubsub node, a component). An
 * account's data is deleted with the account; a service's data belongs to
 * the service, which deletes it itself.
 *
 * Every request is queued and answered later by calling its callback on the
 * event loop the storage was opened with (never from inside the call that
 * queued it). Data handed to a callback is valid only during the callback.
 * Writes are batched into group commits: a write's callback runs only after
 * the transaction holding it is durable on disk, so anything acknowledged
 * from a callback survives a crash or kill -9.
 *
 * ORDER. What is promised, and nothing more:
 *  1. Writes run, and their callbacks run, in the order they were queued
 *     (all writes share one connection and one queue).
 *  2. A read for an owner sees every write for that owner queued before it,
 *     and its callback runs after theirs. (Reads run on a connection of
 *     their own so that they never hold the write lock nor delay a durable
 *     acknowledgement; a read for an owner with writes still in flight is
 *     queued behind those writes instead.) It may also see later writes.
 *  3. Reads for one owner answer in the order queued, unless a write for
 *     that owner was queued between them.
 *  4. A read across owners (kv_list_host, account_list) sees every write
 *     whose callback ran before it was queued; no more is promised.
 *  5. canto_storage_barrier: its callback runs once every request queued
 *     before it, read or write, is complete (its callback has run) and every
 *     write among them is durable.
 * Nothing is promised about the relative order of callbacks of different
 * owners, nor of a read and a write queued after it.
 *
 * PAGES. Nothing is loaded whole: every list takes a page size (limit, 1 to
 * CANTO_STORAGE_PAGE_MAX) and a cursor (the last key or id of the previous
 * page), and says whether more follows. A page also ends early, with more
 * set, once it holds CANTO_STORAGE_PAGE_BYTES (it always holds at least one
 * item). Callers that need everything page through.
 *
 * The caller guarantees that ud stays valid until its callback has run
 * (sessions hold a reference while a request is pending).
 *
 * Any request may also complete with CANTO_INVALID when its arguments are
 * malformed (a NULL or empty host or user, a limit out of range,
 * ill-formed credentials); like every other result, that arrives through the
 * callback, later. All these functions are called on the loop thread. See
 * docs/internals/storage.md.
 *
 * Backends: "sqlite" (embedded default, data_dir/canto.db, WAL).
 */
#ifndef CANTO_STORAGE_H
#define CANTO_STORAGE_H

#include <limits.h>
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

/* --- owners and pages --------------------------------------------------------- */

enum canto_owner_kind {
    CANTO_OWNER_ACCOUNT = 0, /* host: its domain; name: its localpart (non-empty) */
    CANTO_OWNER_SERVICE = 1, /* host: the service's domain; name: the entity ("" = the service) */
};

/* Whose data. Hosts and names come prepared (nameprep/nodeprep) from the
 * caller and are compared as bytes. */
struct canto_storage_owner {
    enum canto_owner_kind kind;
    const char *host;
    const char *name;
};

/* An owner for a call's argument list: CANTO_ACCOUNT(h->name, jid.local). */
#define CANTO_ACCOUNT(host, user) \
    (&(const struct canto_storage_owner){CANTO_OWNER_ACCOUNT, (host), (user)})
#define CANTO_SERVICE(host, name) \
    (&(const struct canto_storage_owner){CANTO_OWNER_SERVICE, (host), (name)})

#define CANTO_STORAGE_PAGE_MAX 1024           /* items in one page at most */
#define CANTO_STORAGE_PAGE_BYTES (4u << 20)   /* a page ends once it holds this much */

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
/* Delete the account and everything of every kind it owns. rc: CANTO_OK,
 * CANTO_NOTFOUND. */
void canto_storage_account_delete(struct canto_storage *s, const char *host, const char *user,
                                  canto_storage_done_cb cb, void *ud);
/* rc: CANTO_OK if it exists, CANTO_NOTFOUND if not. */
void canto_storage_account_exists(struct canto_storage *s, const char *host, const char *user,
                                  canto_storage_done_cb cb, void *ud);
/* One page of the bare JIDs of the accounts of host (host NULL: every
 * host), in the byte order of the "user@host" strings, starting after the
 * JID after (NULL: from the first). */
typedef void (*canto_storage_list_cb)(void *ud, int rc, const char *const *items, size_t n,
                                      bool more);
void canto_storage_account_list(struct canto_storage *s, const char *host, const char *after,
                                unsigned limit, canto_storage_list_cb cb, void *ud);

/* --- key-value stores ----------------------------------------------------------- */

/* Every owner has named stores ("roster", "vcard", "private", ...), each a
 * map of keys to opaque values: what exists now. A feature picks its store
 * name and keeps its own format in the values; storage never looks inside.
 * Keys are non-empty UTF-8 strings; values are bytes (an empty value is a
 * value, not a deletion). The owner features enforce size limits; storage
 * accepts what it is given. */

struct canto_kv_item {
    const char *owner; /* the owner's name (useful when listing a host) */
    const char *key;
    const char *value; /* len bytes, NUL-terminated after them for convenience */
    size_t len;
};

/* rc: CANTO_OK with n items, CANTO_NOTFOUND (get: no such key), CANTO_ERROR.
 * more: another page follows (lists only). */
typedef void (*canto_storage_kv_cb)(void *ud, int rc, const struct canto_kv_item *items,
                                    size_t n, bool more);
/* One value: CANTO_OK with n 1, or CANTO_NOTFOUND. */
void canto_storage_kv_get(struct canto_storage *s, const struct canto_storage_owner *owner,
                          const char *store, const char *key, canto_storage_kv_cb cb, void *ud);
/* One page of a store, in key order, starting after the key after (NULL:
 * from the first). CANTO_OK, maybe with n 0. */
void canto_storage_kv_list(struct canto_storage *s, const struct canto_storage_owner *owner,
                           const char *store, const char *after, unsigned limit,
                           canto_storage_kv_cb cb, void *ud);
/* One page of that store of every owner of this kind on host (a search
 * across a host, e.g. the user directory), in (owner, key) order, starting
 * after (after_owner, after_key) (after_owner NULL: from the first; an
 * empty after_key: from after_owner's first key). */
void canto_storage_kv_list_host(struct canto_storage *s, enum canto_owner_kind kind,
                                const char *host, const char *store, const char *after_owner,
                                const char *after_key, unsigned limit, canto_storage_kv_cb cb,
                                void *ud);

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
 * CANTO_NOTFOUND (an account owner that does not exist: nothing changed),
 * CANTO_ERROR. cb may be NULL. */
void canto_storage_kv_write(struct canto_storage *s, const struct canto_storage_owner *owner,
                            const struct canto_kv_change *changes, size_t n,
                            canto_storage_done_cb cb, void *ud);

/* --- archives ------------------------------------------------------------------ */

/* Every owner has named archives ("offline"; later "mam", a room's log):
 * stanzas appended with the time and the peer (the other party's bare JID)
 * and an id that increases and is never reused, queried by id, time range
 * and peer, a page at a time. */

struct canto_archive_item {
    int64_t id;       /* increasing, never reused */
    int64_t stamp_us; /* when it was appended, microseconds since the epoch */
    const char *peer; /* as appended ("" when none) */
    const char *xml;  /* the stanza as appended, len bytes, NUL-terminated after them */
    size_t len;
};

/* What to fetch. Zero values mean "no bound" (a zeroed query with a limit
 * is the oldest page). */
struct canto_archive_query {
    int64_t after_id;  /* only ids > after_id */
    int64_t before_id; /* only ids < before_id (0: none) */
    int64_t start_us;  /* only stamps >= start_us (0: none) */
    int64_t end_us;    /* only stamps <= end_us (0: none) */
    const char *peer;  /* only this peer (NULL: every peer) */
    unsigned limit;    /* page size: 1..CANTO_STORAGE_PAGE_MAX */
    bool newest_first; /* order of the page (and where it starts) */
};

/* rc: CANTO_OK with the new item's id; CANTO_LIMIT (the archive holds limit
 * items already: with limit 0 nothing is appended), CANTO_NOTFOUND (an
 * account owner that does not exist), CANTO_ERROR. cb may be NULL. */
typedef void (*canto_storage_id_cb)(void *ud, int rc, int64_t id);
#define CANTO_ARCHIVE_UNLIMITED UINT_MAX /* a limit that is none */
void canto_storage_archive_append(struct canto_storage *s,
                                  const struct canto_storage_owner *owner, const char *archive,
                                  const char *peer, const char *xml, size_t len, unsigned limit,
                                  canto_storage_id_cb cb, void *ud);
/* One page: CANTO_OK with n items in the order asked for (an unknown owner
 * has an empty archive); more: another page follows in that order. */
typedef void (*canto_storage_archive_cb)(void *ud, int rc, const struct canto_archive_item *items,
                                         size_t n, bool more);
void canto_storage_archive_query(struct canto_storage *s,
                                 const struct canto_storage_owner *owner, const char *archive,
                                 const struct canto_archive_query *q,
                                 canto_storage_archive_cb cb, void *ud);
/* Delete the items with id <= up_to_id. cb may be NULL. */
void canto_storage_archive_delete(struct canto_storage *s,
                                  const struct canto_storage_owner *owner, const char *archive,
                                  int64_t up_to_id, canto_storage_done_cb cb, void *ud);
/* How many items the archive holds (an unknown owner: 0). */
typedef void (*canto_storage_count_cb)(void *ud, int rc, uint64_t count);
void canto_storage_archive_count(struct canto_storage *s,
                                 const struct canto_storage_owner *owner, const char *archive,
                                 canto_storage_count_cb cb, void *ud);

/* --- ordering --------------------------------------------------------------- */

/* cb runs once every request queued before it is complete (its callback
 * has run) and durable. */
void canto_storage_barrier(struct canto_storage *s, canto_storage_done_cb cb, void *ud);

#endif
