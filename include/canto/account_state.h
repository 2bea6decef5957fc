/*
 * account_state.h: per-account state that modules keep in memory (a roster,
 * a block list, ...), held in one core facility with one lifetime rule.
 *
 * The server keeps one entry per account it is dealing with. An entry knows
 * whether the account exists (one storage read, the first time anything
 * asks; an account with a bound session is known to exist without it) and
 * holds the states of the modules that asked for one. A module declares a
 * kind of state as a const struct canto_account_kind; a state is made of up
 * to eight parts, each read from storage once, the first time a caller
 * needs it, so that a stanza makes the server read only what it needs
 * (a message to an offline account: its block list, not its roster).
 *
 * Lifetime: an entry is held while anyone holds it (every bound session of
 * the account, through the module that took the hold, and every operation
 * waiting in canto_account_with). An entry nobody holds stays in memory in
 * a least-recently-used list bounded by limits.cached_accounts, so that
 * repeated stanzas to offline accounts (or to accounts that do not exist)
 * cost no storage reads; past the bound, the least recently used is freed.
 * Everything is freed at stop.
 *
 * Order: callers of canto_account_with for one account are answered in the
 * order they asked (a stanza held while a part loads is never overtaken by
 * a later one), and canto_account_ready says "not ready" while earlier
 * callers still wait.
 *
 * All of it belongs to the loop thread that owns the accounts. See
 * docs/internals/accounts.md.
 */
#ifndef CANTO_ACCOUNT_STATE_H
#define CANTO_ACCOUNT_STATE_H

#include "canto/common.h"

struct canto_server;
struct canto_host;
struct canto_account;
struct canto_accounts;

/* The most parts one kind of state may have. */
#define CANTO_ACCOUNT_MAX_PARTS 8

/* One kind of per-account state, declared by the module that keeps it. */
struct canto_account_kind {
    const char *name;  /* for logs */
    unsigned nparts;   /* parts read separately, 1..CANTO_ACCOUNT_MAX_PARTS */
    /* An empty state for a, before any part is read. Never fails. */
    void *(*create)(struct canto_account *a);
    /* Start reading part (0..nparts-1) of state from storage; when it is
     * done (later, from a storage callback), call canto_account_loaded.
     * The facility holds a meanwhile. */
    void (*load)(struct canto_account *a, void *state, unsigned part);
    /* Free the state (the entry is being freed). */
    void (*free)(void *state);
};

enum canto_account_existence {
    CANTO_ACCOUNT_UNKNOWN, /* not asked yet, or the read failed */
    CANTO_ACCOUNT_EXISTS,
    CANTO_ACCOUNT_MISSING, /* no such account (or it was deleted) */
};

struct canto_account_slot;
struct canto_account_waiter;

struct canto_account {
    struct canto_host *host;
    char *local;                          /* the account's localpart, prepared */
    char *bare;                           /* local@host: the table's key */
    enum canto_account_existence existence;
    /* The facility's own; modules do not touch what follows. */
    struct canto_accounts *table;         /* the server's facility */
    unsigned refs;                        /* holders: sessions, waiters, loads */
    bool checking;                        /* the existence read is under way */
    bool check_failed;                    /* ...and it failed (until the waiters know) */
    bool draining;                        /* answering waiters now (see ready) */
    bool forgotten;                       /* deleted: freed, not cached, once unheld */
    uint64_t checked_at;                  /* loop time (ms) existence was last read */
    struct canto_account_slot *slots;     /* one per kind asked for */
    size_t nslots;
    struct canto_account_waiter *waiting; /* callers waiting, in order */
    struct canto_account_waiter **waiting_tail;
    struct canto_account *lru_prev;       /* in the unheld list, when unheld */
    struct canto_account *lru_next;
    bool in_lru;
};

/* The facility of a server: at most max_unheld entries kept with no holder. */
struct canto_accounts *canto_accounts_new(struct canto_server *srv, size_t max_unheld);
/* Free every entry and state. Call it after storage is closed (no load can
 * complete later) and before the modules whose kinds the states are of are
 * stopped. */
void canto_accounts_free(struct canto_accounts *t);

/* fn(a, rc, ud) once the account's existence is known and, when kind is
 * given, the parts of its state in the bit mask parts are in memory:
 * rc CANTO_OK (canto_account_state(a, kind) has them), CANTO_NOTFOUND (no
 * such account; nothing more was read), CANTO_ERROR (a storage read failed;
 * the next caller tries again). fn runs at once if everything is there and
 * nobody asked before, else later, in the order of the calls; a is held
 * during fn (canto_account_hold to keep it). host and local must be a
 * served host and a prepared localpart. */
typedef void (*canto_account_fn)(struct canto_account *a, int rc, void *ud);
void canto_account_with(struct canto_host *host, const char *local,
                        const struct canto_account_kind *kind, unsigned parts,
                        canto_account_fn fn, void *ud);

/* The entry of an existing account whose parts of kind's state are in
 * memory, with nobody waiting before (so that a caller may act now without
 * overtaking a held stanza); NULL otherwise. Never reads anything. kind
 * NULL and parts 0: only its existence. bare is local@host, prepared. */
struct canto_account *canto_account_ready(struct canto_host *host, const char *bare,
                                          const struct canto_account_kind *kind, unsigned parts);
/* The entry for bare if it is in memory (in whatever state), else NULL. */
struct canto_account *canto_account_find(struct canto_host *host, const char *bare);
/* The state of kind on a (created by canto_account_with), or NULL. */
void *canto_account_state(const struct canto_account *a, const struct canto_account_kind *kind);

/* Keep a in memory (a session of the account is bound, an operation will
 * use it later); every hold is undone by one release, after which a may be
 * freed at once. */
void canto_account_hold(struct canto_account *a);
void canto_account_release(struct canto_account *a);

/* A session of local@host has bound: the account exists, whatever was
 * cached (it may have been created by cantoctl or in-band registration
 * since), and no storage read is needed to know it. */
void canto_account_seen(struct canto_host *host, const char *local);
/* local@host was deleted: it is missing from now on, and its entry is freed
 * (not cached) once its holders are gone. */
void canto_account_forget(struct canto_host *host, const char *bare);

/* cb(ud) once every caller of canto_account_with that was still waiting
 * when this was called has been answered (at once if none was). A ping
 * uses it: a stanza held while an account's state loads is processed, and
 * its writes queued, only when its waiter is answered. */
typedef void (*canto_accounts_barrier_fn)(void *ud);
void canto_accounts_barrier(struct canto_accounts *t, canto_accounts_barrier_fn cb, void *ud);

/* Called by a kind's load when part is read (ok false: the read failed). */
void canto_account_loaded(struct canto_account *a, const struct canto_account_kind *kind,
                          unsigned part, bool ok);

#endif
