/*
 * contacts.c: the in-memory cache of accounts' rosters and block lists
 * (contacts.h), loaded from and written to the per-account store.
 *
 * Storage layout (stores of the account, see storage.h):
 *   "roster"    key: contact's bare JID; value: <item xmlns='jabber:iq:roster'
 *               jid= name= subscription= ask= approved= pending= listed=>
 *               with <group/> children (the module's own attributes pending
 *               and listed never reach a client)
 *   "rosterver" key "ver": the roster version, decimal
 *   "blocklist" key: a blocked JID as the user wrote it (prepared); value ""
 *
 * Loading is four reads queued together (the account's existence, the items,
 * the version, the block list); storage runs them in order, so the last
 * callback finds the others done. While loading, every contacts_with waits
 * in a queue and runs, in order, when the load completes.
 *
 * This module also holds back stanzas for an account whose contacts are not
 * in memory (CANTO_HOOK_STANZA_IN, highest priority): they are routed again
 * once loaded, so every later filter (blocking) and handler (subscriptions)
 * can look at the contacts synchronously.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canto/log.h"
#include "canto/router.h"
#include "canto/server.h"
#include "canto/session.h"
#include "canto/stanza.h"
#include "modules/contacts.h"

#define NS_ROSTER "jabber:iq:roster"
#define STORE_ROSTER "roster"
#define STORE_VER "rosterver"
#define STORE_BLOCKED "blocklist"

struct contacts_waiter {
    struct contacts_waiter *next;
    contacts_fn fn;
    void *ud;
};

/* Per host: bare JID -> struct contacts. */
struct contacts_state {
    struct canto_hashmap cache;
};

static struct contacts_state *state_of(struct canto_host *host)
{
    struct canto_module_inst *mi = canto_host_module(host, &canto_mod_contacts);
    return mi ? mi->state : NULL;
}

/* --- items -------------------------------------------------------------- */

static void item_free(struct roster_item *it)
{
    if (!it)
        return;
    free(it->jid);
    free(it->name);
    for (size_t i = 0; i < it->ngroups; i++)
        free(it->groups[i]);
    free(it->groups);
    free(it);
}

struct roster_item *contacts_item(struct contacts *c, const char *jid)
{
    return canto_hashmap_get(&c->items, jid);
}

struct roster_item *contacts_item_add(struct contacts *c, const char *jid)
{
    struct roster_item *it = contacts_item(c, jid);
    if (it)
        return it;
    it = canto_xcalloc(1, sizeof(*it));
    it->jid = canto_xstrdup(jid);
    canto_hashmap_put(&c->items, it->jid, it);
    return it;
}

void contacts_item_remove(struct contacts *c, const char *jid)
{
    item_free(canto_hashmap_remove(&c->items, jid));
}

size_t contacts_listed(struct contacts *c)
{
    size_t n = 0, listed = 0;
    void **items = canto_hashmap_values(&c->items, &n);
    for (size_t i = 0; i < n; i++)
        listed += ((struct roster_item *)items[i])->listed;
    free(items);
    return listed;
}

bool roster_item_empty(const struct roster_item *it)
{
    return !it->listed && it->sub == SUB_NONE && !it->ask && !it->pending_in && !it->approved;
}

static const char *const sub_names[] = {"none", "to", "from", "both"};

void roster_item_to_xml(struct canto_stanza *st, struct canto_xml_node *query,
                        const struct roster_item *it, bool removed)
{
    struct canto_xml_node *n = canto_xml_add_child(st, query, "item", NULL);
    canto_xml_set_attr(st, n, "jid", it->jid);
    if (removed) {
        canto_xml_set_attr(st, n, "subscription", "remove");
        return;
    }
    if (it->name)
        canto_xml_set_attr(st, n, "name", it->name);
    canto_xml_set_attr(st, n, "subscription", sub_names[it->sub]);
    if (it->ask)
        canto_xml_set_attr(st, n, "ask", "subscribe");
    if (it->approved)
        canto_xml_set_attr(st, n, "approved", "true");
    for (size_t i = 0; i < it->ngroups; i++) {
        struct canto_xml_node *g = canto_xml_add_child(st, n, "group", NULL);
        canto_xml_add_text(st, g, it->groups[i], strlen(it->groups[i]));
    }
}

/* Stored form: the client's view plus what only the server knows. */
static void item_serialize(const struct roster_item *it, struct canto_buf *out)
{
    struct canto_stanza *st = canto_stanza_new_root("query", NS_ROSTER);
    roster_item_to_xml(st, st->root, it, false);
    struct canto_xml_node *r = canto_xml_first_element(st->root);
    if (it->pending_in)
        canto_xml_set_attr(st, r, "pending", "true");
    canto_xml_set_attr(st, r, "listed", it->listed ? "true" : "false");
    canto_xml_serialize(r, CANTO_NS_CLIENT, out);
    canto_stanza_unref(st);
}

static bool attr_true(const struct canto_xml_node *n, const char *name)
{
    const char *v = canto_xml_attr(n, name);
    return v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

static struct roster_item *item_parse(const char *xml, size_t len)
{
    struct canto_stanza *st = canto_stanza_parse(xml, len);
    if (!st)
        return NULL;
    struct canto_xml_node *r = st->root;
    const char *jid = canto_xml_attr(r, "jid");
    if (!jid || strcmp(r->name, "item") != 0) {
        canto_stanza_unref(st);
        return NULL;
    }
    struct roster_item *it = canto_xcalloc(1, sizeof(*it));
    it->jid = canto_xstrdup(jid);
    const char *name = canto_xml_attr(r, "name");
    it->name = name ? canto_xstrdup(name) : NULL;
    const char *sub = canto_xml_attr(r, "subscription");
    for (int i = 0; sub && i < 4; i++)
        if (strcmp(sub, sub_names[i]) == 0)
            it->sub = (enum subscription)i;
    it->ask = canto_xml_attr(r, "ask") != NULL;
    it->approved = attr_true(r, "approved");
    it->pending_in = attr_true(r, "pending");
    it->listed = attr_true(r, "listed");
    for (struct canto_xml_node *g = canto_xml_first_element(r); g; g = canto_xml_next_element(g)) {
        if (strcmp(g->name, "group") != 0)
            continue;
        it->groups = canto_xrealloc(it->groups, (it->ngroups + 1) * sizeof(*it->groups));
        it->groups[it->ngroups++] = canto_xstrdup(canto_xml_text(st, g));
    }
    canto_stanza_unref(st);
    return it;
}

/* --- block list ----------------------------------------------------------- */

bool contacts_blocks_str(const struct contacts *c, const char *jid)
{
    return canto_hashmap_get(&c->blocked, jid) != NULL;
}

/* XEP-0191 matching (the privacy-list rules of XEP-0016 section 2.1): a
 * blocked full JID matches that resource only, a bare JID every resource of
 * it, a domain every JID at it, and domain/resource that one. */
bool contacts_blocks(const struct contacts *c, const struct canto_jid *jid)
{
    if (c->blocked.count == 0)
        return false;
    if (contacts_blocks_str(c, jid->full) || contacts_blocks_str(c, jid->bare) ||
        contacts_blocks_str(c, jid->domain))
        return true;
    if (jid->local && jid->resource) {
        size_t n = strlen(jid->domain) + strlen(jid->resource) + 2;
        char *dr = canto_xmalloc(n);
        snprintf(dr, n, "%s/%s", jid->domain, jid->resource);
        bool hit = contacts_blocks_str(c, dr);
        free(dr);
        return hit;
    }
    return false;
}

void contacts_block(struct contacts *c, const char *jid)
{
    if (!contacts_blocks_str(c, jid)) {
        char *copy = canto_xstrdup(jid);
        canto_hashmap_put(&c->blocked, copy, copy);
    }
}

void contacts_unblock(struct contacts *c, const char *jid)
{
    free(canto_hashmap_remove(&c->blocked, jid));
}

static void free_blocked_entry(void *ud, const char *key, void *value)
{
    free(value);
}

/* --- writing ---------------------------------------------------------------- */

void contacts_save(struct contacts *c, const char *jid, canto_storage_done_cb cb, void *ud)
{
    c->ver++;
    char ver[24];
    snprintf(ver, sizeof ver, "%" PRIu64, c->ver);
    struct roster_item *it = contacts_item(c, jid);
    struct canto_buf xml = {0};
    if (it)
        item_serialize(it, &xml);
    struct canto_kv_change ch[2] = {
        {STORE_ROSTER, jid, it ? xml.data : NULL, xml.len},
        {STORE_VER, "ver", ver, strlen(ver)},
    };
    canto_storage_kv_write(c->host->server->storage, CANTO_ACCOUNT(c->host->name, c->local), ch, 2,
                           cb, ud);
    canto_buf_free(&xml);
}

void contacts_save_blocked(struct contacts *c, const char *const *jids, size_t n,
                           canto_storage_done_cb cb, void *ud)
{
    struct canto_storage *s = c->host->server->storage;
    if (!jids) {
        struct canto_kv_change clear = {STORE_BLOCKED, NULL, NULL, 0};
        canto_storage_kv_write(s, CANTO_ACCOUNT(c->host->name, c->local), &clear, 1, cb, ud);
        return;
    }
    struct canto_kv_change *ch = canto_xcalloc(n ? n : 1, sizeof(*ch));
    for (size_t i = 0; i < n; i++)
        ch[i] = (struct canto_kv_change){STORE_BLOCKED, jids[i],
                                         contacts_blocks_str(c, jids[i]) ? "" : NULL, 0};
    canto_storage_kv_write(s, CANTO_ACCOUNT(c->host->name, c->local), ch, n, cb, ud);
    free(ch);
}

/* --- the cache ---------------------------------------------------------------- */

static void contacts_free(struct contacts *c)
{
    void **items;
    size_t n = 0;
    items = canto_hashmap_values(&c->items, &n);
    for (size_t i = 0; i < n; i++)
        item_free(items[i]);
    free(items);
    canto_hashmap_free(&c->items);
    canto_hashmap_foreach(&c->blocked, free_blocked_entry, NULL);
    canto_hashmap_free(&c->blocked);
    free(c->local);
    free(c->bare);
    free(c);
}

void contacts_ref(struct contacts *c)
{
    c->refs++;
}

void contacts_unref(struct contacts *c)
{
    if (--c->refs > 0)
        return;
    struct contacts_state *st = state_of(c->host);
    if (st && canto_hashmap_get(&st->cache, c->bare) == c)
        canto_hashmap_remove(&st->cache, c->bare);
    contacts_free(c);
}

struct contacts *contacts_find(struct canto_host *host, const char *bare)
{
    struct contacts_state *st = state_of(host);
    struct contacts *c = st ? canto_hashmap_get(&st->cache, bare) : NULL;
    return c && c->loaded ? c : NULL;
}

/* The load's last step has run (ok false: a read failed): run the waiters
 * in order, then drop the load's reference. */
static void load_done(struct contacts *c, bool ok)
{
    struct contacts_state *st = state_of(c->host);
    if (ok) {
        c->loaded = true;
    } else if (st) {
        /* Forget it, so that the next use tries storage again. */
        canto_hashmap_remove(&st->cache, c->bare);
    }
    while (c->waiting) {
        struct contacts_waiter *w = c->waiting;
        c->waiting = w->next;
        if (!c->waiting)
            c->waiting_tail = &c->waiting;
        w->fn(ok ? c : NULL, w->ud);
        free(w);
        contacts_unref(c); /* the waiter's */
    }
    contacts_unref(c); /* the load's */
}

/* The reads of a load (existence, the roster and the block list a page at
 * a time, the roster version); the last to answer ends it. */
struct load {
    struct contacts *c;
    bool failed;
    unsigned reads; /* queued, not answered yet */
};

#define LOAD_PAGE 512 /* roster items or blocked JIDs read at a time */

/* One read of the load has answered; after the last, the waiters run. */
static void load_step(struct load *l)
{
    if (--l->reads > 0)
        return;
    if (l->failed)
        canto_error("%s: could not read the roster or block list", l->c->bare);
    struct contacts *c = l->c;
    bool ok = !l->failed;
    free(l);
    load_done(c, ok);
}

/* The page of store after key after, answered to cb. */
static void load_page(struct load *l, const char *store, const char *after,
                      canto_storage_kv_cb cb)
{
    l->reads++;
    canto_storage_kv_list(l->c->host->server->storage, CANTO_ACCOUNT(l->c->host->name, l->c->local),
                          store, after, LOAD_PAGE, cb, l);
}

static void loaded_exists(void *ud, int rc)
{
    struct load *l = ud;
    l->c->exists = rc == CANTO_OK;
    if (rc != CANTO_OK && rc != CANTO_NOTFOUND)
        l->failed = true;
    load_step(l);
}

static void loaded_items(void *ud, int rc, const struct canto_kv_item *items, size_t n, bool more)
{
    struct load *l = ud;
    if (rc != CANTO_OK) {
        l->failed = true;
        load_step(l);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct roster_item *it = item_parse(items[i].value, items[i].len);
        if (!it || strcmp(it->jid, items[i].key) != 0) {
            canto_warn("%s: skipping an unreadable roster item %s", l->c->bare, items[i].key);
            item_free(it);
            continue;
        }
        item_free(canto_hashmap_put(&l->c->items, it->jid, it));
    }
    if (more)
        load_page(l, STORE_ROSTER, items[n - 1].key, loaded_items);
    load_step(l);
}

static void loaded_ver(void *ud, int rc, const struct canto_kv_item *items, size_t n, bool more)
{
    struct load *l = ud;
    (void)more;
    if (rc == CANTO_OK && n == 1)
        l->c->ver = strtoull(items[0].value, NULL, 10);
    else if (rc != CANTO_NOTFOUND)
        l->failed = true;
    load_step(l);
}

static void loaded_blocked(void *ud, int rc, const struct canto_kv_item *items, size_t n,
                           bool more)
{
    struct load *l = ud;
    if (rc != CANTO_OK)
        l->failed = true;
    for (size_t i = 0; rc == CANTO_OK && i < n; i++)
        contacts_block(l->c, items[i].key);
    if (rc == CANTO_OK && more)
        load_page(l, STORE_BLOCKED, items[n - 1].key, loaded_blocked);
    load_step(l);
}

void contacts_with(struct canto_host *host, const char *local, contacts_fn fn, void *ud)
{
    struct contacts_state *st = state_of(host);
    size_t n = strlen(local) + strlen(host->name) + 2;
    char *bare = canto_xmalloc(n);
    snprintf(bare, n, "%s@%s", local, host->name);
    struct contacts *c = st ? canto_hashmap_get(&st->cache, bare) : NULL;
    if (c && c->loaded) {
        free(bare);
        contacts_ref(c);
        fn(c, ud);
        contacts_unref(c);
        return;
    }
    if (!st) {
        free(bare);
        fn(NULL, ud);
        return;
    }
    if (!c) {
        c = canto_xcalloc(1, sizeof(*c));
        c->host = host;
        c->local = canto_xstrdup(local);
        c->bare = bare;
        bare = NULL;
        canto_hashmap_init(&c->items);
        canto_hashmap_init(&c->blocked);
        c->waiting_tail = &c->waiting;
        c->refs = 1; /* the load's */
        canto_hashmap_put(&st->cache, c->bare, c);
        struct canto_storage *s = host->server->storage;
        struct load *l = canto_xcalloc(1, sizeof(*l));
        l->c = c;
        l->reads = 2;
        canto_storage_account_exists(s, host->name, local, loaded_exists, l);
        canto_storage_kv_get(s, CANTO_ACCOUNT(host->name, local), STORE_VER, "ver", loaded_ver, l);
        load_page(l, STORE_ROSTER, NULL, loaded_items);
        load_page(l, STORE_BLOCKED, NULL, loaded_blocked);
    }
    free(bare);
    struct contacts_waiter *w = canto_xcalloc(1, sizeof(*w));
    w->fn = fn;
    w->ud = ud;
    *c->waiting_tail = w;
    c->waiting_tail = &w->next;
    contacts_ref(c);
}

struct owner_iq {
    struct canto_module_inst *mi;
    struct canto_stanza *iq;
    contacts_iq_fn fn;
};

static void owner_iq_loaded(struct contacts *c, void *ud)
{
    struct owner_iq *r = ud;
    if (c)
        r->fn(r->mi, r->iq, c);
    else
        canto_route_error(r->mi->host->server, r->iq, CANTO_COND_INTERNAL_SERVER_ERROR, NULL);
    canto_stanza_unref(r->iq);
    free(r);
}

int contacts_owner_iq(struct canto_module_inst *mi, struct canto_stanza *iq, contacts_iq_fn fn)
{
    struct canto_jid account;
    if (canto_iq_account(iq, &account) != CANTO_OK)
        return CANTO_DECLINED; /* cannot happen: the core checked the owner */
    struct owner_iq *r = canto_xmalloc(sizeof(*r));
    *r = (struct owner_iq){mi, canto_stanza_ref(iq), fn};
    contacts_with(mi->host, account.local, owner_iq_loaded, r);
    canto_jid_free(&account);
    return CANTO_OK;
}

/* --- hooks -------------------------------------------------------------------- */

/* A session's bind waits until its account's contacts are in memory; the
 * session then holds them until it ends. */
struct binding {
    struct canto_server *server;
    struct canto_jid jid; /* the session, looked up again when loaded */
};

static void bound_loaded(struct contacts *c, void *ud)
{
    struct binding *b = ud;
    struct canto_session *s = canto_session_find(b->server, &b->jid);
    if (s && s->holds && !s->has_contacts) {
        if (c) {
            contacts_ref(c); /* the session's, dropped at SESSION_END */
            s->has_contacts = true;
            canto_session_release(s);
        } else {
            canto_session_close(s, "internal-server-error", "Your roster could not be read");
        }
    }
    canto_jid_free(&b->jid);
    free(b);
}

static int session_bound(struct canto_module_inst *mi, struct canto_hook_event *ev)
{
    struct canto_session *s = ev->session;
    struct binding *b = canto_xmalloc(sizeof(*b));
    b->server = mi->host->server;
    canto_jid_copy(&b->jid, &s->jid);
    canto_session_hold(s);
    contacts_with(mi->host, s->jid.local, bound_loaded, b);
    return CANTO_DECLINED;
}

static int session_end(struct canto_module_inst *mi, struct canto_hook_event *ev)
{
    struct canto_session *s = ev->session;
    if (s->has_contacts) {
        s->has_contacts = false;
        struct contacts *c = contacts_find(mi->host, s->jid.bare);
        if (c)
            contacts_unref(c);
    }
    return CANTO_DECLINED;
}

struct held_stanza {
    struct canto_server *server;
    struct canto_stanza *st;
};

static void held_loaded(struct contacts *c, void *ud)
{
    struct held_stanza *h = ud;
    if (c)
        canto_route(h->server, h->st); /* again: now every filter can look */
    else {
        canto_route_error(h->server, h->st, CANTO_COND_INTERNAL_SERVER_ERROR, NULL);
        canto_stanza_unref(h->st);
    }
    free(h);
}

static int stanza_in(struct canto_module_inst *mi, struct canto_hook_event *ev)
{
    if (contacts_find(mi->host, ev->to->bare))
        return CANTO_DECLINED;
    struct held_stanza *h = canto_xmalloc(sizeof(*h));
    h->server = mi->host->server;
    h->st = canto_stanza_ref(ev->stanza);
    contacts_with(mi->host, ev->to->local, held_loaded, h);
    return CANTO_OK;
}

static int contacts_start(struct canto_module_inst *mi)
{
    struct contacts_state *st = canto_xcalloc(1, sizeof(*st));
    canto_hashmap_init(&st->cache);
    mi->state = st;
    return CANTO_OK;
}

static void contacts_stop(struct canto_module_inst *mi)
{
    struct contacts_state *st = mi->state;
    size_t n = 0;
    void **all = canto_hashmap_values(&st->cache, &n);
    for (size_t i = 0; i < n; i++) {
        struct contacts *c = all[i];
        while (c->waiting) {
            struct contacts_waiter *w = c->waiting;
            c->waiting = w->next;
            free(w);
        }
        contacts_free(c);
    }
    free(all);
    canto_hashmap_free(&st->cache);
    free(st);
    mi->state = NULL;
}

static const struct canto_hook_reg contacts_hooks[] = {
    {CANTO_HOOK_SESSION_BOUND, 0, session_bound},
    {CANTO_HOOK_SESSION_END, -100, session_end},
    {CANTO_HOOK_STANZA_IN, 1000, stanza_in},
    {0},
};

const struct canto_module canto_mod_contacts = {
    .name = "contacts",
    .hooks = contacts_hooks,
    .start = contacts_start,
    .stop = contacts_stop,
};
