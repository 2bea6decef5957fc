/*
 * subscription.c: presence subscriptions (RFC 6121 section 3): the four
 * subscription stanzas a user sends (outbound, CANTO_HOOK_PRESENCE_OUT) and
 * receives (inbound, CANTO_HOOK_PRESENCE_IN), the state machine of the
 * roster item on each side (none/to/from/both, pending out = ask, pending
 * in, pre-approval), and the probes that ask for a contact's presence.
 *
 * Local and remote contacts take the same path: outbound processing changes
 * the sender's roster and routes the stanza with the sender's bare JID as
 * from; inbound processing is what the contact's server does with it
 * (contacts.c has already made the receiver's contacts available, and the
 * blocking filter has run).
 *
 * A subscription request that is not answered at once is remembered as
 * pending in on the receiver's item (an unlisted item when the sender is not
 * in the roster) and delivered again at every initial presence until the
 * user answers (presence.c), so requests survive logouts and restarts.
 */
#include <stdlib.h>
#include <string.h>

#include "canto/log.h"
#include "canto/router.h"
#include "canto/server.h"
#include "canto/session.h"
#include "canto/stanza.h"
#include "modules/roster.h"

/* Save the item and push it when the roster shows it (or showed it). */
static void commit(struct contacts *c, struct roster_item *it, bool push)
{
    const char *jid = it->jid;
    char *copy = canto_xstrdup(jid);
    if (roster_item_empty(it))
        contacts_item_remove(c, copy);
    contacts_save(c, copy, NULL, NULL);
    if (push)
        roster_push(c, copy);
    free(copy);
}

/* A subscription stanza from bare to to (both bare JIDs), keeping the
 * children (status) of orig when given. */
static void send_sub(struct canto_server *srv, const char *type, const char *from, const char *to,
                     const struct canto_stanza *orig)
{
    struct canto_stanza *st;
    if (orig) {
        st = canto_stanza_copy(orig);
        canto_xml_set_attr(st, st->root, "id", canto_xml_attr(orig->root, "id"));
    } else {
        st = canto_stanza_new_root("presence", CANTO_NS_CLIENT);
    }
    canto_xml_set_attr(st, st->root, "type", type);
    canto_xml_set_attr(st, st->root, "from", from);
    canto_xml_set_attr(st, st->root, "to", to);
    canto_route(srv, st);
}

/* Deliver st to every available resource of the account (RFC 6121 3.1.3:
 * subscription stanzas go to all of them). */
static void to_available(struct canto_server *srv, const char *bare, struct canto_stanza *st)
{
    struct canto_user *u = canto_user_find(srv, bare);
    for (struct canto_session *s = u ? u->sessions : NULL; s; s = s->next)
        if (s->available)
            canto_session_send(s, st);
}

void roster_remove_item(struct contacts *c, struct roster_item *it)
{
    struct canto_server *srv = c->host->server;
    char *jid = canto_xstrdup(it->jid);
    if (sub_to(it->sub) || it->ask)
        send_sub(srv, "unsubscribe", c->bare, jid, NULL);
    if (sub_from(it->sub) || it->pending_in) {
        if (sub_from(it->sub))
            presence_send_unavailable(srv, c->bare, jid);
        send_sub(srv, "unsubscribed", c->bare, jid, NULL);
    }
    contacts_item_remove(c, jid);
    free(jid);
}

void roster_refuse_request(struct contacts *c, const char *jid)
{
    struct roster_item *it = contacts_item(c, jid);
    if (!it || !it->pending_in)
        return;
    char *copy = canto_xstrdup(jid); /* jid may be it->jid, freed by commit */
    it->pending_in = false;
    commit(c, it, false); /* a request alone is not in the roster a client sees */
    send_sub(c->host->server, "unsubscribed", c->bare, copy, NULL);
    free(copy);
}

/* --- outbound --------------------------------------------------------------- */

struct outbound {
    struct canto_server *server;
    struct canto_stanza *st; /* the user's stanza */
    char *type;
    char *to;                /* contact's bare JID */
};

static void outbound_subscribe(struct contacts *c, struct outbound *o)
{
    struct roster_item *it = contacts_item(c, o->to);
    bool listed = it && it->listed;
    if (!listed && contacts_listed(c) >= ROSTER_MAX_ITEMS) {
        canto_route_error(o->server, o->st, CANTO_COND_NOT_ALLOWED, "The roster is full");
        return;
    }
    it = contacts_item_add(c, o->to);
    if (!listed || (!sub_to(it->sub) && !it->ask)) {
        it->listed = true;
        if (!sub_to(it->sub))
            it->ask = true;
        commit(c, it, true);
    }
    send_sub(o->server, "subscribe", c->bare, o->to, o->st);
}

static void outbound_subscribed(struct contacts *c, struct outbound *o)
{
    struct roster_item *it = contacts_item(c, o->to);
    if (it && sub_from(it->sub))
        return; /* already subscribed: nothing to say again */
    if (it && it->pending_in) {
        it->pending_in = false;
        it->sub = it->sub == SUB_TO ? SUB_BOTH : SUB_FROM;
        it->listed = true;
        commit(c, it, true);
        send_sub(o->server, "subscribed", c->bare, o->to, o->st);
        /* The new subscriber gets our presence at once (RFC 6121 3.1.5). */
        presence_send_current(o->server, c->bare, o->to);
        return;
    }
    /* No request to answer: a pre-approval (RFC 6121 3.4), kept on the
     * item and not sent. */
    if (!it && contacts_listed(c) >= ROSTER_MAX_ITEMS) {
        canto_route_error(o->server, o->st, CANTO_COND_NOT_ALLOWED, "The roster is full");
        return;
    }
    it = contacts_item_add(c, o->to);
    if (!it->approved || !it->listed) {
        it->approved = true;
        it->listed = true;
        commit(c, it, true);
    }
}

static void outbound_unsubscribe(struct contacts *c, struct outbound *o)
{
    struct roster_item *it = contacts_item(c, o->to);
    if (it && (sub_to(it->sub) || it->ask)) {
        it->ask = false;
        it->sub = it->sub == SUB_BOTH ? SUB_FROM : SUB_NONE;
        commit(c, it, it->listed);
    }
    send_sub(o->server, "unsubscribe", c->bare, o->to, o->st);
}

static void outbound_unsubscribed(struct contacts *c, struct outbound *o)
{
    struct roster_item *it = contacts_item(c, o->to);
    if (!it) {
        send_sub(o->server, "unsubscribed", c->bare, o->to, o->st);
        return;
    }
    if (it->approved && !sub_from(it->sub) && !it->pending_in) {
        /* Cancels a pre-approval: nothing to tell the contact. */
        it->approved = false;
        commit(c, it, it->listed);
        return;
    }
    bool was_from = sub_from(it->sub);
    if (was_from || it->pending_in) {
        it->pending_in = false;
        it->approved = false;
        it->sub = it->sub == SUB_BOTH ? SUB_TO : SUB_NONE;
        bool listed = it->listed;
        char *jid = canto_xstrdup(it->jid);
        commit(c, it, listed);
        if (was_from)
            presence_send_unavailable(o->server, c->bare, jid);
        free(jid);
    }
    send_sub(o->server, "unsubscribed", c->bare, o->to, o->st);
}

static void outbound_loaded(struct contacts *c, int rc, void *ud)
{
    struct outbound *o = ud;
    if (!c)
        canto_route_error(o->server, o->st, CANTO_COND_INTERNAL_SERVER_ERROR, NULL);
    else if (strcmp(o->type, "subscribe") == 0)
        outbound_subscribe(c, o);
    else if (strcmp(o->type, "subscribed") == 0)
        outbound_subscribed(c, o);
    else if (strcmp(o->type, "unsubscribe") == 0)
        outbound_unsubscribe(c, o);
    else
        outbound_unsubscribed(c, o);
    canto_stanza_unref(o->st);
    free(o->type);
    free(o->to);
    free(o);
}

static bool is_subscription_type(const char *type)
{
    return strcmp(type, "subscribe") == 0 || strcmp(type, "subscribed") == 0 ||
           strcmp(type, "unsubscribe") == 0 || strcmp(type, "unsubscribed") == 0;
}

static int presence_out(struct canto_module_inst *mi, struct canto_hook_event *ev)
{
    const char *type = canto_stanza_type(ev->stanza);
    if (strcmp(type, "probe") == 0)
        return CANTO_OK; /* probes are the server's to send (RFC 6121 4.3) */
    if (!is_subscription_type(type))
        return CANTO_DECLINED;
    if (!ev->to)
        return CANTO_OK; /* a subscription to nobody: dropped */
    if (!ev->to->local && strcmp(ev->to->domain, mi->host->name) == 0)
        return CANTO_OK; /* to our own server: meaningless */
    if (strcmp(ev->to->bare, ev->session->jid.bare) == 0)
        return CANTO_OK; /* to oneself: meaningless */
    struct outbound *o = canto_xmalloc(sizeof(*o));
    o->server = mi->host->server;
    o->st = canto_stanza_ref(ev->stanza);
    o->type = canto_xstrdup(type);
    o->to = canto_xstrdup(ev->to->bare);
    contacts_with(mi->host, ev->session->jid.local, CONTACTS_ALL, outbound_loaded, o);
    return CANTO_OK;
}

/* --- inbound ---------------------------------------------------------------- */

static void inbound_subscribe(struct canto_server *srv, struct contacts *c, const char *from,
                              struct canto_stanza *st)
{
    struct roster_item *it = contacts_item(c, from);
    if (it && sub_from(it->sub)) {
        /* Already subscribed: the user need not be asked (RFC 6121 3.1.3). */
        send_sub(srv, "subscribed", c->bare, from, NULL);
        return;
    }
    if (it && it->approved) {
        it->approved = false;
        it->sub = it->sub == SUB_TO ? SUB_BOTH : SUB_FROM;
        commit(c, it, it->listed);
        send_sub(srv, "subscribed", c->bare, from, NULL);
        presence_send_current(srv, c->bare, from);
        return;
    }
    if (!it && c->items.count >= 2 * ROSTER_MAX_ITEMS)
        return; /* too many pending requests: this one is dropped */
    it = contacts_item_add(c, from);
    if (!it->pending_in) {
        it->pending_in = true;
        commit(c, it, false);
    }
    to_available(srv, c->bare, st);
}

static void inbound_subscribed(struct canto_server *srv, struct contacts *c, const char *from,
                               struct canto_stanza *st)
{
    struct roster_item *it = contacts_item(c, from);
    if (!it || !it->ask)
        return; /* nothing was asked: ignored (RFC 6121 3.1.6) */
    it->ask = false;
    it->sub = it->sub == SUB_FROM ? SUB_BOTH : SUB_TO;
    commit(c, it, it->listed);
    to_available(srv, c->bare, st);
}

static void inbound_unsubscribe(struct canto_server *srv, struct contacts *c, const char *from,
                                struct canto_stanza *st)
{
    struct roster_item *it = contacts_item(c, from);
    if (!it || !(sub_from(it->sub) || it->pending_in))
        return;
    bool was_from = sub_from(it->sub);
    it->pending_in = false;
    it->sub = it->sub == SUB_BOTH ? SUB_TO : SUB_NONE;
    commit(c, it, it->listed);
    to_available(srv, c->bare, st);
    /* The former subscriber sees us go (RFC 6121 3.3.3). */
    if (was_from)
        presence_send_unavailable(srv, c->bare, from);
}

static void inbound_unsubscribed(struct canto_server *srv, struct contacts *c, const char *from,
                                 struct canto_stanza *st)
{
    struct roster_item *it = contacts_item(c, from);
    if (!it || !(sub_to(it->sub) || it->ask))
        return;
    it->ask = false;
    it->sub = it->sub == SUB_BOTH ? SUB_FROM : SUB_NONE;
    commit(c, it, it->listed);
    to_available(srv, c->bare, st);
}

/* A probe: the prober gets our presence only if subscribed (RFC 6121
 * 4.3.2); otherwise nothing, so that presence is never disclosed. */
static void inbound_probe(struct canto_server *srv, struct contacts *c, const char *from_bare,
                          const char *from_full)
{
    struct roster_item *it = contacts_item(c, from_bare);
    if (it && sub_from(it->sub))
        presence_send_current(srv, c->bare, from_full);
}

static int presence_in(struct canto_module_inst *mi, struct canto_hook_event *ev)
{
    struct canto_stanza *st = ev->stanza;
    const char *type = canto_stanza_type(st);
    bool probe = strcmp(type, "probe") == 0;
    if (!probe && !is_subscription_type(type))
        return CANTO_DECLINED;
    struct contacts *c = contacts_find(mi->host, ev->to->bare, CONTACTS_ALL);
    const char *from_attr = canto_xml_attr(st->root, "from");
    struct canto_jid from;
    if (!c || !from_attr || canto_jid_parse_str(&from, from_attr) != CANTO_OK)
        return CANTO_OK;
    struct canto_server *srv = mi->host->server;
    if (probe) {
        inbound_probe(srv, c, from.bare, from.full);
        canto_jid_free(&from);
        return CANTO_OK;
    }
    /* Delivered with the sender's bare JID, to the user's bare JID. */
    struct canto_stanza *copy = canto_stanza_copy(st);
    canto_xml_set_attr(copy, copy->root, "from", from.bare);
    canto_xml_set_attr(copy, copy->root, "to", c->bare);
    if (strcmp(type, "subscribe") == 0)
        inbound_subscribe(srv, c, from.bare, copy);
    else if (strcmp(type, "subscribed") == 0)
        inbound_subscribed(srv, c, from.bare, copy);
    else if (strcmp(type, "unsubscribe") == 0)
        inbound_unsubscribe(srv, c, from.bare, copy);
    else
        inbound_unsubscribed(srv, c, from.bare, copy);
    canto_stanza_unref(copy);
    canto_jid_free(&from);
    return CANTO_OK;
}

/* The account is gone (XEP-0077 3.2): every contact learns that both
 * directions of the subscription are over, and the roster in memory is
 * emptied so that nothing more is sent on its behalf. */
static int account_removed(struct canto_module_inst *mi, struct canto_hook_event *ev)
{
    struct contacts *c = contacts_find(mi->host, ev->to->bare, CONTACTS_ALL);
    if (!c)
        return CANTO_DECLINED;
    size_t n = 0;
    void **items = canto_hashmap_values(&c->items, &n);
    for (size_t i = 0; i < n; i++) {
        struct roster_item *it = items[i];
        if (sub_to(it->sub) || it->ask)
            send_sub(mi->host->server, "unsubscribe", c->bare, it->jid, NULL);
        if (sub_from(it->sub))
            presence_send_unavailable(mi->host->server, c->bare, it->jid);
        if (sub_from(it->sub) || it->pending_in)
            send_sub(mi->host->server, "unsubscribed", c->bare, it->jid, NULL);
        contacts_item_remove(c, it->jid);
    }
    free(items);
    return CANTO_DECLINED;
}

static const struct canto_hook_reg subscription_hooks[] = {
    {CANTO_HOOK_ACCOUNT_REMOVED, 0, account_removed},
    {CANTO_HOOK_PRESENCE_OUT, 100, presence_out},
    {CANTO_HOOK_PRESENCE_IN, 100, presence_in},
    {0},
};

const struct canto_module canto_mod_subscription = {
    .name = "subscription",
    .hooks = subscription_hooks,
};
