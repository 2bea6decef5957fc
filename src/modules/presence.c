/*
 * presence.c: presence (RFC 6121 section 4) as a user's sessions send it:
 * availability and priority (which steer bare-JID delivery), broadcast to
 * the user's own resources and to every contact subscribed to the user
 * (from or both), probes to the contacts the user is subscribed to at
 * initial presence, subscription requests still unanswered delivered again
 * then, directed presence remembered and undone at logout, and unavailable
 * on disconnect whether clean or abrupt. A session that is invisible
 * (XEP-0186, invisible.c) shows itself to its own resources only.
 *
 * Probes are sent from the full JID of the session that came online, so
 * the answers (the contacts' current presence, subscription.c) reach that
 * session and not every resource again.
 */
#include <stdlib.h>
#include <string.h>

#include "canto/module.h"
#include "canto/router.h"
#include "canto/server.h"
#include "canto/session.h"
#include "canto/stanza.h"
#include "modules/roster.h"

/* Directed presence remembered per session; beyond this, presence is still
 * sent but not undone at logout (bounds the memory a client can make us use). */
#define MAX_DIRECTED 1000
/* Bytes of parsed presence a session keeps for later resources. */
#define MAX_KEPT_PRESENCE 8192

static int parse_priority(struct canto_stanza *st)
{
    struct canto_xml_node *p = canto_xml_child(st->root, "priority", CANTO_NS_CLIENT);
    long v = 0;
    if (p && canto_parse_long(canto_xml_text(st, p), -128, 127, &v) != CANTO_OK)
        v = 0;
    return (int)v;
}

/* Send st to every available session of s's account (s included). */
static void to_own_sessions(struct canto_session *s, struct canto_stanza *st)
{
    for (struct canto_session *t = s->user->sessions; t; t = t->next)
        if (t->available || t == s)
            canto_session_send(t, st);
}

/* A copy of st from from to to, routed. */
static void route_copy(struct canto_server *srv, const struct canto_stanza *st, const char *from,
                       const char *to)
{
    struct canto_stanza *copy = canto_stanza_copy(st);
    if (from)
        canto_xml_set_attr(copy, copy->root, "from", from);
    canto_xml_set_attr(copy, copy->root, "to", to);
    canto_route(srv, copy);
}

void presence_to_contacts(struct canto_session *s, struct canto_stanza *st)
{
    struct contacts *c = contacts_find(s->host, s->jid.bare, CONTACTS_ALL);
    if (!c)
        return;
    size_t n = 0;
    void **items = canto_hashmap_values(&c->items, &n);
    for (size_t i = 0; i < n; i++) {
        struct roster_item *it = items[i];
        if (sub_from(it->sub) && !contacts_blocks_bare(c, it->jid))
            route_copy(s->server, st, NULL, it->jid);
    }
    free(items);
}

/* Probe every contact whose presence s's account receives; deliver the
 * subscription requests still waiting for an answer. */
static void initial_presence(struct canto_session *s)
{
    struct contacts *c = contacts_find(s->host, s->jid.bare, CONTACTS_ALL);
    if (!c)
        return;
    size_t n = 0;
    void **items = canto_hashmap_values(&c->items, &n);
    for (size_t i = 0; i < n; i++) {
        struct roster_item *it = items[i];
        bool probing = !s->invisible || s->invisible_probe;
        if (probing && sub_to(it->sub) && !contacts_blocks_bare(c, it->jid)) {
            struct canto_stanza *probe = canto_stanza_new_root("presence", CANTO_NS_CLIENT);
            canto_xml_set_attr(probe, probe->root, "type", "probe");
            canto_xml_set_attr(probe, probe->root, "from", s->jid.full);
            canto_xml_set_attr(probe, probe->root, "to", it->jid);
            canto_route(s->server, probe);
        }
        /* A blocked contact's request is not shown (blocking refuses it;
         * one stored before that rule stays hidden until answered). */
        if (it->pending_in && !contacts_blocks_bare(c, it->jid)) {
            struct canto_stanza *req = canto_stanza_new_root("presence", CANTO_NS_CLIENT);
            canto_xml_set_attr(req, req->root, "type", "subscribe");
            canto_xml_set_attr(req, req->root, "from", it->jid);
            canto_xml_set_attr(req, req->root, "to", s->jid.bare);
            canto_session_send(s, req);
            canto_stanza_unref(req);
        }
    }
    free(items);
}

static void broadcast_available(struct canto_module_inst *mi, struct canto_session *s,
                                struct canto_stanza *st)
{
    bool initial = !s->available;
    s->priority = parse_priority(st);
    s->available = true;
    canto_stanza_unref(s->presence);
    /* Kept for resources that come online later and for probes; a presence
     * bloated past MAX_KEPT_PRESENCE is broadcast but not kept, so that an
     * idle session never holds more than that. */
    s->presence = st->arena.used <= MAX_KEPT_PRESENCE ? canto_stanza_ref(st) : NULL;
    to_own_sessions(s, st);
    if (!s->invisible)
        presence_to_contacts(s, st);
    if (initial) {
        /* A new resource learns about the account's other resources. */
        for (struct canto_session *t = s->user->sessions; t; t = t->next)
            if (t != s && t->available && t->presence)
                canto_session_send(s, t->presence);
        initial_presence(s);
    }
    if (!s->announced && s->priority >= 0) {
        s->announced = true;
        struct canto_hook_event ev = {.session = s, .stanza = st};
        canto_hook_notify(mi->host, CANTO_HOOK_SESSION_AVAILABLE, &ev);
    }
}

static struct canto_stanza *unavailable_from(const char *from)
{
    struct canto_stanza *st = canto_stanza_new_root("presence", CANTO_NS_CLIENT);
    canto_xml_set_attr(st, st->root, "from", from);
    canto_xml_set_attr(st, st->root, "type", "unavailable");
    return st;
}

/* st (unavailable) to the contacts and everyone who got directed presence;
 * forget the directed presence. */
static void unavailable_to_others(struct canto_session *s, struct canto_stanza *st)
{
    if (!s->invisible)
        presence_to_contacts(s, st);
    for (size_t i = 0; i < s->ndirected; i++)
        route_copy(s->server, st, NULL, s->directed[i]);
    canto_session_clear_directed(s);
}

/* Going unavailable: tell the own resources, the contacts and everyone who
 * got directed presence. */
static void go_unavailable(struct canto_session *s, struct canto_stanza *st)
{
    if (!s->available)
        return;
    s->available = false;
    canto_stanza_unref(s->presence);
    s->presence = NULL;
    to_own_sessions(s, st);
    unavailable_to_others(s, st);
}

static int presence_out(struct canto_module_inst *mi, struct canto_hook_event *ev)
{
    struct canto_session *s = ev->session;
    struct canto_stanza *st = ev->stanza;
    const char *type = canto_stanza_type(st);
    bool available = strcmp(type, "available") == 0;
    bool unavailable = strcmp(type, "unavailable") == 0;
    if (ev->to) {
        /* Directed presence: remember it so that logout can undo it; the
         * router delivers it. */
        if (available && s->ndirected < MAX_DIRECTED)
            canto_session_add_directed(s, ev->to->full);
        return CANTO_DECLINED;
    }
    if (available)
        broadcast_available(mi, s, st);
    else if (unavailable)
        go_unavailable(s, st);
    /* Errors and subscription types without a to are meaningless; dropped. */
    return CANTO_OK;
}

static int session_end(struct canto_module_inst *mi, struct canto_hook_event *ev)
{
    struct canto_session *s = ev->session;
    if (s->available) {
        struct canto_stanza *st = unavailable_from(s->jid.full);
        /* The leaving session itself is not told. */
        for (struct canto_session *t = s->user->sessions; t; t = t->next)
            if (t != s && t->available)
                canto_session_send(t, st);
        unavailable_to_others(s, st);
        canto_stanza_unref(st);
    }
    return CANTO_DECLINED;
}

void presence_send_current(struct canto_server *srv, const char *bare, const char *to)
{
    struct canto_user *u = canto_user_find(srv, bare);
    for (struct canto_session *s = u ? u->sessions : NULL; s; s = s->next) {
        if (!s->available || s->invisible)
            continue;
        if (s->presence) {
            route_copy(srv, s->presence, s->jid.full, to);
        } else {
            /* Its presence was too big to keep: plain availability. */
            struct canto_stanza *st = canto_stanza_new_root("presence", CANTO_NS_CLIENT);
            canto_xml_set_attr(st, st->root, "from", s->jid.full);
            canto_xml_set_attr(st, st->root, "to", to);
            canto_route(srv, st);
        }
    }
}

void presence_send_unavailable(struct canto_server *srv, const char *bare, const char *to)
{
    struct canto_user *u = canto_user_find(srv, bare);
    for (struct canto_session *s = u ? u->sessions : NULL; s; s = s->next) {
        if (!s->available || s->invisible)
            continue;
        struct canto_stanza *st = unavailable_from(s->jid.full);
        canto_xml_set_attr(st, st->root, "to", to);
        canto_route(srv, st);
    }
}

static const struct canto_hook_reg presence_hooks[] = {
    {CANTO_HOOK_PRESENCE_OUT, 0, presence_out},
    {CANTO_HOOK_SESSION_END, 0, session_end},
    {0},
};

const struct canto_module canto_mod_presence = {
    .name = "presence",
    .hooks = presence_hooks,
};
