/*
 * account_state.c: the per-account state facility (account_state.h): one
 * table of the accounts the server is dealing with, each entry knowing
 * whether its account exists and holding the modules' states of it, loaded
 * part by part from storage, kept while held and, once nobody holds them,
 * in a least-recently-used list bounded by limits.cached_accounts.
 *
 * An entry moves between two places: held (refs > 0, or callers waiting)
 * and unheld (in the LRU list, refs 0). Loads and waiters count as holders,
 * so an entry is never freed while a storage callback will still come to
 * it. A forgotten entry (the account was deleted) is freed rather than
 * cached once unheld; a later session of a new account of the same name
 * (canto_account_seen) makes it an existing account again.
 *
 * Progress is one function, progress(): start the existence read if it is
 * unknown, then the part loads the waiters need, then answer the waiters
 * from the head of the queue for as long as the head is satisfied. It runs
 * whenever something completes, and never re-enters itself for the same
 * entry (draining), so a waiter's callback may freely call
 * canto_account_with again for the same account.
 */
#include "canto/account_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canto/hashmap.h"
#include "canto/log.h"
#include "canto/server.h"
#include "canto/storage.h"

/* How long "this account does not exist" is believed: an account created
 * while the server runs (cantoctl, which does not tell the server) is
 * found after at most this long, while a peer repeating stanzas to made-up
 * names still costs one read per name per period. */
#define MISSING_RECHECK_MS (60 * 1000)

struct canto_account_slot {
    const struct canto_account_kind *kind;
    void *state;
    unsigned loaded;  /* parts in memory (bit mask) */
    unsigned loading; /* parts being read */
    unsigned failed;  /* parts whose read failed, until the waiters know */
};

struct canto_account_waiter {
    struct canto_account_waiter *next;     /* in its account's queue */
    struct canto_account_waiter *all_prev; /* in the server's list of all waiters */
    struct canto_account_waiter *all_next;
    uint64_t seq;                          /* order of the calls, server-wide */
    const struct canto_account_kind *kind; /* NULL: only existence */
    unsigned parts;
    canto_account_fn fn;
    void *ud;
};

/* A canto_accounts_barrier waiting for the waiters up to seq. */
struct accounts_barrier {
    struct accounts_barrier *next;
    uint64_t seq;
    canto_accounts_barrier_fn cb;
    void *ud;
};

struct canto_accounts {
    struct canto_server *server;
    struct canto_account_waiter *all_head; /* every unanswered waiter, oldest first */
    struct canto_account_waiter *all_tail;
    uint64_t next_seq;
    struct accounts_barrier *barriers;     /* in the order they were asked for */
    struct accounts_barrier **barriers_tail;
    struct canto_hashmap table;   /* bare JID -> struct canto_account */
    struct canto_account *lru_head; /* least recently used unheld entry */
    struct canto_account *lru_tail; /* most recently used */
    size_t nunheld;
    size_t max_unheld;
};

struct canto_accounts *canto_accounts_new(struct canto_server *srv, size_t max_unheld)
{
    struct canto_accounts *t = canto_xcalloc(1, sizeof(*t));
    t->server = srv;
    t->max_unheld = max_unheld;
    t->barriers_tail = &t->barriers;
    canto_hashmap_init(&t->table);
    return t;
}

static void waiter_unlink(struct canto_accounts *t, struct canto_account_waiter *w)
{
    if (w->all_prev)
        w->all_prev->all_next = w->all_next;
    else
        t->all_head = w->all_next;
    if (w->all_next)
        w->all_next->all_prev = w->all_prev;
    else
        t->all_tail = w->all_prev;
}

static void entry_free(struct canto_account *a)
{
    for (size_t i = 0; i < a->nslots; i++)
        if (a->slots[i].state)
            a->slots[i].kind->free(a->slots[i].state);
    free(a->slots);
    while (a->waiting) {
        struct canto_account_waiter *w = a->waiting;
        a->waiting = w->next;
        waiter_unlink(a->table, w);
        free(w);
    }
    free(a->local);
    free(a->bare);
    free(a);
}

void canto_accounts_free(struct canto_accounts *t)
{
    if (!t)
        return;
    size_t n = 0;
    void **all = canto_hashmap_values(&t->table, &n);
    for (size_t i = 0; i < n; i++)
        entry_free(all[i]);
    free(all);
    canto_hashmap_free(&t->table);
    /* None is left in practice: closing storage completed every load, so
     * every waiter was answered and every barrier called. */
    while (t->barriers) {
        struct accounts_barrier *b = t->barriers;
        t->barriers = b->next;
        free(b);
    }
    free(t);
}

/* --- the unheld list ------------------------------------------------------------ */

static void lru_unlink(struct canto_account *a)
{
    struct canto_accounts *t = a->table;
    if (!a->in_lru)
        return;
    if (a->lru_prev)
        a->lru_prev->lru_next = a->lru_next;
    else
        t->lru_head = a->lru_next;
    if (a->lru_next)
        a->lru_next->lru_prev = a->lru_prev;
    else
        t->lru_tail = a->lru_prev;
    a->lru_prev = a->lru_next = NULL;
    a->in_lru = false;
    t->nunheld--;
}

static void drop(struct canto_account *a)
{
    lru_unlink(a);
    if (canto_hashmap_get(&a->table->table, a->bare) == a)
        canto_hashmap_remove(&a->table->table, a->bare);
    entry_free(a);
}

/* Nobody holds a any more: cache it as the most recently used, or free it
 * (forgotten, or no room), and free the least recently used beyond the
 * bound. */
static void park(struct canto_account *a)
{
    struct canto_accounts *t = a->table;
    if (a->refs > 0 || a->waiting || a->draining || a->in_lru)
        return;
    if (a->forgotten || t->max_unheld == 0) {
        drop(a);
        return;
    }
    a->lru_prev = t->lru_tail;
    a->lru_next = NULL;
    if (t->lru_tail)
        t->lru_tail->lru_next = a;
    else
        t->lru_head = a;
    t->lru_tail = a;
    a->in_lru = true;
    t->nunheld++;
    while (t->nunheld > t->max_unheld)
        drop(t->lru_head);
}

void canto_account_hold(struct canto_account *a)
{
    lru_unlink(a);
    a->refs++;
}

void canto_account_release(struct canto_account *a)
{
    if (--a->refs == 0)
        park(a);
}

/* --- entries ------------------------------------------------------------------------ */

struct canto_account *canto_account_find(struct canto_host *host, const char *bare)
{
    return canto_hashmap_get(&host->server->accounts->table, bare);
}

/* The entry for local@host, created (existence unknown) if missing. Not
 * held: the caller holds it before anything can run. */
static struct canto_account *entry_get(struct canto_host *host, const char *local)
{
    struct canto_accounts *t = host->server->accounts;
    size_t n = strlen(local) + strlen(host->name) + 2;
    char *bare = canto_xmalloc(n);
    snprintf(bare, n, "%s@%s", local, host->name);
    struct canto_account *a = canto_hashmap_get(&t->table, bare);
    if (a) {
        free(bare);
        if (a->existence == CANTO_ACCOUNT_MISSING && !a->forgotten && !a->checking &&
            uv_now(host->server->loop) - a->checked_at > MISSING_RECHECK_MS)
            a->existence = CANTO_ACCOUNT_UNKNOWN; /* ask storage again */
        return a;
    }
    a = canto_xcalloc(1, sizeof(*a));
    a->host = host;
    a->local = canto_xstrdup(local);
    a->bare = bare;
    a->table = t;
    a->waiting_tail = &a->waiting;
    canto_hashmap_put(&t->table, a->bare, a);
    return a;
}

static struct canto_account_slot *slot_of(const struct canto_account *a,
                                          const struct canto_account_kind *kind)
{
    for (size_t i = 0; i < a->nslots; i++)
        if (a->slots[i].kind == kind)
            return &a->slots[i];
    return NULL;
}

static struct canto_account_slot *slot_get(struct canto_account *a,
                                           const struct canto_account_kind *kind)
{
    struct canto_account_slot *sl = slot_of(a, kind);
    if (sl)
        return sl;
    a->slots = canto_xrealloc(a->slots, (a->nslots + 1) * sizeof(*a->slots));
    sl = &a->slots[a->nslots++];
    *sl = (struct canto_account_slot){.kind = kind};
    sl->state = kind->create(a);
    return sl;
}

void *canto_account_state(const struct canto_account *a, const struct canto_account_kind *kind)
{
    struct canto_account_slot *sl = slot_of(a, kind);
    return sl ? sl->state : NULL;
}

static unsigned all_parts(const struct canto_account_kind *kind)
{
    return kind ? (1u << kind->nparts) - 1 : 0;
}

struct canto_account *canto_account_ready(struct canto_host *host, const char *bare,
                                          const struct canto_account_kind *kind, unsigned parts)
{
    struct canto_account *a = canto_account_find(host, bare);
    if (!a || a->existence != CANTO_ACCOUNT_EXISTS || (a->waiting && !a->draining))
        return NULL;
    if (!kind)
        return a;
    struct canto_account_slot *sl = slot_of(a, kind);
    parts &= all_parts(kind);
    return sl && (sl->loaded & parts) == parts ? a : NULL;
}

/* --- barriers ------------------------------------------------------------------------ */

/* Call the barriers that no unanswered waiter is older than, in order. */
static void run_barriers(struct canto_accounts *t)
{
    while (t->barriers && (!t->all_head || t->all_head->seq > t->barriers->seq)) {
        struct accounts_barrier *b = t->barriers;
        t->barriers = b->next;
        if (!t->barriers)
            t->barriers_tail = &t->barriers;
        b->cb(b->ud);
        free(b);
    }
}

void canto_accounts_barrier(struct canto_accounts *t, canto_accounts_barrier_fn cb, void *ud)
{
    struct accounts_barrier *b = canto_xcalloc(1, sizeof(*b));
    *b = (struct accounts_barrier){.seq = t->next_seq, .cb = cb, .ud = ud};
    *t->barriers_tail = b;
    t->barriers_tail = &b->next;
    run_barriers(t);
}

/* --- progress ------------------------------------------------------------------------ */

static void progress(struct canto_account *a);

static void existence_read(void *ud, int rc)
{
    struct canto_account *a = ud;
    a->checking = false;
    if (rc == CANTO_OK || rc == CANTO_NOTFOUND) {
        /* A session may have bound meanwhile: it knows better. */
        if (a->existence == CANTO_ACCOUNT_UNKNOWN)
            a->existence = rc == CANTO_OK ? CANTO_ACCOUNT_EXISTS : CANTO_ACCOUNT_MISSING;
        a->checked_at = uv_now(a->host->server->loop);
    } else {
        canto_error("%s: could not read whether the account exists", a->bare);
        a->check_failed = true;
    }
    progress(a);
    canto_account_release(a); /* the read's */
}

void canto_account_loaded(struct canto_account *a, const struct canto_account_kind *kind,
                          unsigned part, bool ok)
{
    struct canto_account_slot *sl = slot_of(a, kind);
    unsigned bit = 1u << part;
    sl->loading &= ~bit;
    if (ok) {
        sl->loaded |= bit;
    } else {
        canto_error("%s: could not read part %u of its %s", a->bare, part, kind->name);
        sl->failed |= bit;
    }
    progress(a);
    canto_account_release(a); /* the load's */
}

/* Start the reads the waiters need and that are neither done nor under
 * way (nor failed during this round: their waiters get the error first). */
static void start_loads(struct canto_account *a)
{
    for (struct canto_account_waiter *w = a->waiting; w; w = w->next) {
        if (!w->kind)
            continue;
        struct canto_account_slot *sl = slot_get(a, w->kind);
        unsigned missing = w->parts & ~(sl->loaded | sl->loading | sl->failed);
        for (unsigned p = 0; missing; p++) {
            if (!(missing & (1u << p)))
                continue;
            missing &= ~(1u << p);
            sl->loading |= 1u << p;
            canto_account_hold(a); /* the load's, until canto_account_loaded */
            w->kind->load(a, sl->state, p);
        }
    }
}

/* What the head waiter gets now: CANTO_AGAIN if it must wait longer. */
static int answer_for(struct canto_account *a, const struct canto_account_waiter *w)
{
    if (a->check_failed)
        return CANTO_ERROR;
    if (a->existence == CANTO_ACCOUNT_UNKNOWN)
        return CANTO_AGAIN;
    if (a->existence == CANTO_ACCOUNT_MISSING)
        return CANTO_NOTFOUND;
    if (!w->kind)
        return CANTO_OK;
    struct canto_account_slot *sl = slot_of(a, w->kind);
    if (sl && (sl->failed & w->parts))
        return CANTO_ERROR;
    if (sl && (sl->loaded & w->parts) == w->parts)
        return CANTO_OK;
    return CANTO_AGAIN;
}

static void progress(struct canto_account *a)
{
    if (a->draining)
        return; /* the outer call goes on with whatever changed */
    a->draining = true;
    canto_account_hold(a);
    for (;;) {
        if (a->existence == CANTO_ACCOUNT_UNKNOWN && !a->checking && !a->check_failed &&
            a->waiting) {
            a->checking = true;
            canto_account_hold(a); /* the read's */
            struct canto_host *h = a->host;
            canto_storage_account_exists(h->server->storage, h->name, a->local,
                                         existence_read, a);
        }
        if (a->existence == CANTO_ACCOUNT_EXISTS)
            start_loads(a);
        struct canto_account_waiter *w = a->waiting;
        if (!w)
            break;
        int rc = answer_for(a, w);
        if (rc == CANTO_AGAIN)
            break;
        a->waiting = w->next;
        if (!a->waiting)
            a->waiting_tail = &a->waiting;
        w->fn(a, rc, w->ud);
        waiter_unlink(a->table, w);
        free(w);
        a->refs--; /* the waiter's (parked below, once the round is over) */
        run_barriers(a->table);
    }
    /* Failures are told once: the next caller tries storage again. */
    a->check_failed = false;
    for (size_t i = 0; i < a->nslots; i++)
        a->slots[i].failed = 0;
    a->draining = false;
    canto_account_release(a);
}

void canto_account_with(struct canto_host *host, const char *local,
                        const struct canto_account_kind *kind, unsigned parts,
                        canto_account_fn fn, void *ud)
{
    struct canto_account *a = entry_get(host, local);
    parts &= all_parts(kind);
    canto_account_hold(a); /* the waiter's */
    struct canto_accounts *t = a->table;
    struct canto_account_waiter *w = canto_xcalloc(1, sizeof(*w));
    *w = (struct canto_account_waiter){.kind = kind, .parts = parts, .fn = fn, .ud = ud,
                                       .seq = ++t->next_seq, .all_prev = t->all_tail};
    if (t->all_tail)
        t->all_tail->all_next = w;
    else
        t->all_head = w;
    t->all_tail = w;
    *a->waiting_tail = w;
    a->waiting_tail = &w->next;
    progress(a);
}

void canto_account_seen(struct canto_host *host, const char *local)
{
    struct canto_account *a = entry_get(host, local);
    a->forgotten = false;
    if (a->existence != CANTO_ACCOUNT_EXISTS) {
        a->existence = CANTO_ACCOUNT_EXISTS;
        canto_account_hold(a);
        progress(a); /* waiters behind the existence read may go on */
        canto_account_release(a);
    }
}

void canto_account_forget(struct canto_host *host, const char *bare)
{
    struct canto_account *a = canto_account_find(host, bare);
    if (!a)
        return;
    a->existence = CANTO_ACCOUNT_MISSING;
    /* Kept in the table, so that its holders (the account's sessions, which
     * are closing) find it to release it, and callers meanwhile learn that
     * the account is gone; freed, not cached, once they are done. */
    a->forgotten = true;
    canto_account_hold(a);
    canto_account_release(a);
}
