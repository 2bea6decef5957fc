/*
 * contacts.c: accounts' rosters and block lists in memory (contacts.h),
 * kept in the core's per-account facility (account_state.h), read from and
 * written to the per-account store.
 *
 * Storage layout (stores of the account, see storage.h):
 *   "roster"    key: contact's bare JID; value: <item xmlns='jabber:iq:roster'
 *               jid= name= subscription= ask= approved= pending= listed=>
 *               with <group/> children (the module's own attributes pending
 *               and listed never reach a client)
 *   "rosterver" key "ver": the roster version, decimal
 *   "blocklist" key: a blocked JID as the user wrote it (prepared); value ""
 *
 * The two parts are loaded separately, once each: the roster part is the
 * version and the items a page at a time, the block list a page at a time
 * (one read each for up to LOAD_PAGE entries). The facility
 * reads whether the account exists before either.
 *
 * This module also holds back stanzas for an account whose contacts are not
 * in memory (CANTO_HOOK_STANZA_IN, highest priority), reading only what the
 * stanza needs: the block list for every stanza (the blocking filter looks
 * at it), the roster too for the four subscription types (subscription.c
 * changes it). Probes need no roster here: an account whose roster is not
 * in memory has no session, so there is no presence to answer with. Held
 * stanzas are routed again, in order, once loaded, so that every later
 * filter and handler can look at the contacts synchronously. A stanza to an
 * account that does not exist is answered here as RFC 6121 8.5.1 says,
 * without reading anything more.
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

bool contacts_blocks_bare(const struct contacts *c, const char *bare)
{
    if (c->blocked.count == 0)
        return false;
    struct canto_jid j;
    if (canto_jid_parse_str(&j, bare) != CANTO_OK)
        return true;
    bool hit = contacts_blocks(c, &j);
    canto_jid_free(&j);
    return hit;
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

/* --- the state in the facility ---------------------------------------------- */

static void contacts_free(void *state)
{
    struct contacts *c = state;
    void **items;
    size_t n = 0;
    items = canto_hashmap_values(&c->items, &n);
    for (size_t i = 0; i < n; i++)
        item_free(items[i]);
    free(items);
    canto_hashmap_free(&c->items);
    canto_hashmap_foreach(&c->blocked, free_blocked_entry, NULL);
    canto_hashmap_free(&c->blocked);
    free(c);
}

static void *contacts_create(struct canto_account *a)
{
    struct contacts *c = canto_xcalloc(1, sizeof(*c));
    c->account = a;
    c->host = a->host;
    c->local = a->local;
    c->bare = a->bare;
    canto_hashmap_init(&c->items);
    canto_hashmap_init(&c->blocked);
    return c;
}

static const struct canto_account_kind contacts_kind;

#define LOAD_PAGE 512 /* roster items or blocked JIDs read at a time */

/* The roster part: the version and the items a page at a time; the last
 * read to answer ends the part. */
static void roster_read_done(struct contacts *c)
{
    if (--c->roster_reads == 0)
        canto_account_loaded(c->account, &contacts_kind, 0, !c->roster_failed);
}

static void loaded_items(void *ud, int rc, const struct canto_kv_item *items, size_t n, bool more);

static void roster_page(struct contacts *c, const char *after)
{
    c->roster_reads++;
    canto_storage_kv_list(c->host->server->storage, CANTO_ACCOUNT(c->host->name, c->local),
                          STORE_ROSTER, after, LOAD_PAGE, loaded_items, c);
}

static void loaded_items(void *ud, int rc, const struct canto_kv_item *items, size_t n, bool more)
{
    struct contacts *c = ud;
    if (rc != CANTO_OK)
        c->roster_failed = true;
    for (size_t i = 0; rc == CANTO_OK && i < n; i++) {
        struct roster_item *it = item_parse(items[i].value, items[i].len);
        if (!it || strcmp(it->jid, items[i].key) != 0) {
            canto_warn("%s: skipping an unreadable roster item %s", c->bare, items[i].key);
            item_free(it);
            continue;
        }
        item_free(canto_hashmap_put(&c->items, it->jid, it));
    }
    if (rc == CANTO_OK && more && n > 0)
        roster_page(c, items[n - 1].key);
    roster_read_done(c);
}

static void loaded_ver(void *ud, int rc, const struct canto_kv_item *items, size_t n, bool more)
{
    struct contacts *c = ud;
    (void)more;
    if (rc == CANTO_OK && n == 1)
        c->ver = strtoull(items[0].value, NULL, 10);
    else if (rc != CANTO_NOTFOUND)
        c->roster_failed = true;
    roster_read_done(c);
}

/* The block list part, a page at a time. */
static void loaded_blocked(void *ud, int rc, const struct canto_kv_item *items, size_t n,
                           bool more)
{
    struct contacts *c = ud;
    for (size_t i = 0; rc == CANTO_OK && i < n; i++)
        contacts_block(c, items[i].key);
    if (rc == CANTO_OK && more && n > 0) {
        canto_storage_kv_list(c->host->server->storage, CANTO_ACCOUNT(c->host->name, c->local),
                              STORE_BLOCKED, items[n - 1].key, LOAD_PAGE, loaded_blocked, c);
        return;
    }
    canto_account_loaded(c->account, &contacts_kind, 1, rc == CANTO_OK);
}

/* Part 0 is the roster (CONTACTS_ROSTER), part 1 the block list. */
static void contacts_load(struct canto_account *a, void *state, unsigned part)
{
    struct contacts *c = state;
    struct canto_storage *s = a->host->server->storage;
    if (part == 0) {
        c->roster_failed = false;
        c->roster_reads = 1; /* the version's */
        canto_storage_kv_get(s, CANTO_ACCOUNT(a->host->name, a->local), STORE_VER, "ver",
                             loaded_ver, c);
        roster_page(c, NULL);
    } else {
        canto_storage_kv_list(s, CANTO_ACCOUNT(a->host->name, a->local), STORE_BLOCKED, NULL,
                              LOAD_PAGE, loaded_blocked, c);
    }
}

static const struct canto_account_kind contacts_kind = {
    .name = "contacts",
    .nparts = 2,
    .create = contacts_create,
    .load = contacts_load,
    .free = contacts_free,
};

struct contacts *contacts_find(struct canto_host *host, const char *bare, unsigned need)
{
    struct canto_account *a = canto_account_ready(host, bare, &contacts_kind, need);
    return a ? canto_account_state(a, &contacts_kind) : NULL;
}

struct with {
    contacts_fn fn;
    void *ud;
};

static void with_account(struct canto_account *a, int rc, void *ud)
{
    struct with w = *(struct with *)ud;
    free(ud);
    w.fn(rc == CANTO_OK ? canto_account_state(a, &contacts_kind) : NULL, rc, w.ud);
}

void contacts_with(struct canto_host *host, const char *local, unsigned need, contacts_fn fn,
                   void *ud)
{
    struct with *w = canto_xmalloc(sizeof(*w));
    *w = (struct with){fn, ud};
    canto_account_with(host, local, &contacts_kind, need, with_account, w);
}

struct owner_iq {
    struct canto_module_inst *mi;
    struct canto_stanza *iq;
    contacts_iq_fn fn;
};

static void owner_iq_loaded(struct contacts *c, int rc, void *ud)
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
    contacts_with(mi->host, account.local, CONTACTS_ALL, owner_iq_loaded, r);
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

static void bound_loaded(struct contacts *c, int rc, void *ud)
{
    struct binding *b = ud;
    struct canto_session *s = canto_session_find(b->server, &b->jid);
    if (s && s->holds && !s->has_contacts) {
        if (c) {
            canto_account_hold(c->account); /* the session's, dropped at SESSION_END */
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
    /* The account has just authenticated: no need to ask storage whether
     * it exists. */
    canto_account_seen(mi->host, s->jid.local);
    contacts_with(mi->host, s->jid.local, CONTACTS_ALL, bound_loaded, b);
    return CANTO_DECLINED;
}

static int session_end(struct canto_module_inst *mi, struct canto_hook_event *ev)
{
    struct canto_session *s = ev->session;
    if (s->has_contacts) {
        s->has_contacts = false;
        struct canto_account *a = canto_account_find(mi->host, s->jid.bare);
        if (a)
            canto_account_release(a);
    }
    return CANTO_DECLINED;
}

/* A stanza for an account that does not exist (RFC 6121 8.5.1): an iq
 * request or a message gets service-unavailable (the answer that discloses
 * nothing more than an existing account's would), anything else is
 * dropped: presence of every type, errors, results, headlines. */
static void refuse_for_missing_account(struct canto_server *srv, struct canto_stanza *st)
{
    const char *name = st->root->name;
    const char *type = canto_stanza_type(st);
    bool answer = strcmp(name, "message") == 0
                      ? strcmp(type, "error") != 0 && strcmp(type, "headline") != 0
                      : strcmp(name, "iq") == 0 &&
                            (strcmp(type, "get") == 0 || strcmp(type, "set") == 0);
    if (answer)
        canto_route_error(srv, st, CANTO_COND_SERVICE_UNAVAILABLE, NULL);
}

struct held_stanza {
    struct canto_server *server;
    struct canto_stanza *st;
};

static void held_loaded(struct contacts *c, int rc, void *ud)
{
    struct held_stanza *h = ud;
    if (c) {
        canto_route(h->server, h->st); /* again: now every filter can look */
    } else {
        if (rc == CANTO_NOTFOUND)
            refuse_for_missing_account(h->server, h->st);
        else
            canto_route_error(h->server, h->st, CANTO_COND_INTERNAL_SERVER_ERROR, NULL);
        canto_stanza_unref(h->st);
    }
    free(h);
}

/* What of the recipient's contacts the filters and handlers after this
 * one need for st: the block list always, the roster for the subscription
 * types, which change it. */
static unsigned needed_for(struct canto_stanza *st)
{
    if (strcmp(st->root->name, "presence") != 0)
        return CONTACTS_BLOCKED;
    const char *type = canto_stanza_type(st);
    bool subscription = strcmp(type, "subscribe") == 0 || strcmp(type, "subscribed") == 0 ||
                        strcmp(type, "unsubscribe") == 0 || strcmp(type, "unsubscribed") == 0;
    return subscription ? CONTACTS_ALL : CONTACTS_BLOCKED;
}

static int stanza_in(struct canto_module_inst *mi, struct canto_hook_event *ev)
{
    unsigned need = needed_for(ev->stanza);
    if (contacts_find(mi->host, ev->to->bare, need))
        return CANTO_DECLINED;
    struct held_stanza *h = canto_xmalloc(sizeof(*h));
    h->server = mi->host->server;
    h->st = canto_stanza_ref(ev->stanza);
    contacts_with(mi->host, ev->to->local, need, held_loaded, h);
    return CANTO_OK;
}

/* After every other handler of the removal (subscription.c tells the
 * contacts, using the roster): the account is gone from now on. */
static int account_removed(struct canto_module_inst *mi, struct canto_hook_event *ev)
{
    canto_account_forget(mi->host, ev->to->bare);
    return CANTO_DECLINED;
}

static const struct canto_hook_reg contacts_hooks[] = {
    {CANTO_HOOK_ACCOUNT_REMOVED, -1000, account_removed},
    {CANTO_HOOK_SESSION_BOUND, 0, session_bound},
    {CANTO_HOOK_SESSION_END, -100, session_end},
    {CANTO_HOOK_STANZA_IN, 1000, stanza_in},
    {0},
};

const struct canto_module canto_mod_contacts = {
    .name = "contacts",
    .hooks = contacts_hooks,
};
