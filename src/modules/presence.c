/*
 * presence.c: the presence a user's own sessions send (RFC 6121 section 4),
 * in the minimal form this version needs: availability and priority (which
 * steer bare-JID delivery), broadcast among the user's own resources,
 * directed presence remembered and undone at logout, and unavailable on
 * disconnect whether clean or abrupt. Rosters and subscriptions will hook in
 * here: a broadcast will then also go to the contacts with a from
 * subscription.
 */
#include <stdlib.h>
#include <string.h>

#include "canto/module.h"
#include "canto/router.h"
#include "canto/server.h"
#include "canto/session.h"
#include "canto/stanza.h"

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
            t->ops->send(t, st);
}

static void broadcast_available(struct canto_module_inst *mi, struct canto_session *s,
                                struct canto_stanza *st)
{
    bool initial = !s->available;
    s->priority = parse_priority(st);
    s->available = true;
    canto_stanza_unref(s->presence);
    /* Kept for resources that come online later; a presence bloated past
     * MAX_KEPT_PRESENCE is broadcast but not kept, so that an idle session
     * never holds more than that. */
    s->presence = st->arena.used <= MAX_KEPT_PRESENCE ? canto_stanza_ref(st) : NULL;
    to_own_sessions(s, st);
    if (initial) {
        /* A new resource learns about the account's other resources. */
        for (struct canto_session *t = s->user->sessions; t; t = t->next)
            if (t != s && t->available && t->presence)
                s->ops->send(s, t->presence);
    }
    if (!s->announced && s->priority >= 0) {
        s->announced = true;
        struct canto_hook_event ev = {.session = s, .stanza = st};
        canto_hook_notify(mi->host, CANTO_HOOK_SESSION_AVAILABLE, &ev);
    }
}

static struct canto_stanza *unavailable_from(struct canto_session *s)
{
    struct canto_stanza *st = canto_stanza_new_root("presence", CANTO_NS_CLIENT);
    canto_xml_set_attr(st, st->root, "from", s->jid.full);
    canto_xml_set_attr(st, st->root, "type", "unavailable");
    return st;
}

/* Going unavailable: tell the own resources and everyone who got directed
 * presence, then forget both. */
static void go_unavailable(struct canto_session *s, struct canto_stanza *st)
{
    if (!s->available)
        return;
    s->available = false;
    canto_stanza_unref(s->presence);
    s->presence = NULL;
    to_own_sessions(s, st);
    for (size_t i = 0; i < s->ndirected; i++) {
        struct canto_stanza *copy = canto_stanza_copy(st);
        canto_xml_set_attr(copy, copy->root, "to", s->directed[i]);
        canto_route(s->server, copy);
    }
    canto_session_clear_directed(s);
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
    /* Subscription types without a to are meaningless; dropped. */
    return CANTO_OK;
}

static int session_end(struct canto_module_inst *mi, struct canto_hook_event *ev)
{
    struct canto_session *s = ev->session;
    if (s->available) {
        struct canto_stanza *st = unavailable_from(s);
        /* The leaving session itself is not told. */
        for (struct canto_session *t = s->user->sessions; t; t = t->next)
            if (t != s && t->available)
                t->ops->send(t, st);
        for (size_t i = 0; i < s->ndirected; i++) {
            struct canto_stanza *copy = canto_stanza_copy(st);
            canto_xml_set_attr(copy, copy->root, "to", s->directed[i]);
            canto_route(s->server, copy);
        }
        canto_stanza_unref(st);
    }
    return CANTO_DECLINED;
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
