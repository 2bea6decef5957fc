/*
 * blocking.c: XEP-0191 blocking command: the block list (get, block,
 * unblock, unblock all; owner only), its pushes to every resource that has
 * fetched it, and the filters that stop communication both ways:
 *
 *   from a blocked entity (CANTO_HOOK_STANZA_IN, section 3.4): presence is
 *   dropped, messages and iq requests are answered service-unavailable (as if
 *   the user did not exist), anything else is dropped;
 *   to a blocked entity (CANTO_HOOK_STANZA_OUT, section 3.5): presence is
 *   dropped, messages and iq requests are refused with not-acceptable and
 *   <blocked xmlns='urn:xmpp:blocking:errors'/>.
 *
 * Blocking a contact that can see the user's presence sends it unavailable
 * from every resource (section 3.3); unblocking a subscriber sends the
 * current presence again. Blocking a contact whose subscription request is
 * pending refuses the request (the contact gets unsubscribed, as with
 * Prosody), and the user's own refusal or cancellation towards a blocked
 * contact is not filtered, so that no request stays pending forever.
 */
#include <stdlib.h>
#include <string.h>

#include "canto/router.h"
#include "canto/server.h"
#include "canto/session.h"
#include "canto/stanza.h"
#include "modules/roster.h"

#define NS_BLOCKING "urn:xmpp:blocking"
#define NS_BLOCKING_ERRORS "urn:xmpp:blocking:errors"

/* --- filters -------------------------------------------------------------- */

static int stanza_in(struct canto_module_inst *mi, struct canto_hook_event *ev)
{
    struct contacts *c = contacts_find(mi->host, ev->to->bare, CONTACTS_BLOCKED);
    if (!c || c->blocked.count == 0)
        return CANTO_DECLINED;
    const char *from = canto_xml_attr(ev->stanza->root, "from");
    struct canto_jid j;
    if (!from || canto_jid_parse_str(&j, from) != CANTO_OK)
        return CANTO_DECLINED;
    /* A user's own resources are never blocked from each other (section 6). */
    bool blocked = strcmp(j.bare, c->bare) != 0 && contacts_blocks(c, &j);
    canto_jid_free(&j);
    if (!blocked)
        return CANTO_DECLINED;
    const char *name = ev->stanza->root->name;
    const char *type = canto_stanza_type(ev->stanza);
    bool request = strcmp(name, "message") == 0
                       ? strcmp(type, "error") != 0 && strcmp(type, "groupchat") != 0
                       : strcmp(name, "iq") == 0 &&
                             (strcmp(type, "get") == 0 || strcmp(type, "set") == 0);
    if (request)
        canto_route_error(mi->host->server, ev->stanza, CANTO_COND_SERVICE_UNAVAILABLE, NULL);
    return CANTO_OK;
}

static int stanza_out(struct canto_module_inst *mi, struct canto_hook_event *ev)
{
    if (!ev->to)
        return CANTO_DECLINED;
    struct contacts *c = contacts_find(mi->host, ev->session->jid.bare, CONTACTS_ALL);
    if (!c || c->blocked.count == 0 || strcmp(ev->to->bare, c->bare) == 0 ||
        !contacts_blocks(c, ev->to))
        return CANTO_DECLINED;
    struct canto_stanza *st = ev->stanza;
    const char *name = st->root->name;
    const char *type = canto_stanza_type(st);
    /* Undoing a subscription (a refusal, a cancellation) is not
     * communication the block is about: it goes on to subscription.c,
     * which updates the roster and tells the contact, as blocking itself
     * does. Dropping it would leave a blocked contact's request pending
     * forever. */
    if (strcmp(name, "presence") == 0 &&
        (strcmp(type, "unsubscribed") == 0 || strcmp(type, "unsubscribe") == 0))
        return CANTO_DECLINED;
    bool answerable = strcmp(name, "message") == 0 ||
                      (strcmp(name, "iq") == 0 &&
                       (strcmp(type, "get") == 0 || strcmp(type, "set") == 0));
    if (!answerable)
        return CANTO_OK;
    /* cancel, not the default modify: XEP-0191 section 3.5 says so. */
    struct canto_stanza *err =
        canto_stanza_error_typed(st, CANTO_COND_NOT_ACCEPTABLE, CANTO_ERRTYPE_CANCEL, NULL);
    if (!err)
        return CANTO_OK;
    struct canto_xml_node *e = canto_xml_child(err->root, "error", CANTO_NS_CLIENT);
    if (e)
        canto_xml_add_child(err, e, "blocked", NS_BLOCKING_ERRORS);
    /* The error comes from the blocked address, to the sender. */
    canto_xml_set_attr(err, err->root, "from", ev->to->full);
    canto_xml_set_attr(err, err->root, "to", ev->session->jid.full);
    canto_session_send(ev->session, err);
    canto_stanza_unref(err);
    return CANTO_OK;
}

/* --- iq ------------------------------------------------------------------- */

static void push(struct contacts *c, const char *what, char **jids, size_t n)
{
    struct canto_user *u = canto_user_find(c->host->server, c->bare);
    if (!u)
        return;
    struct canto_stanza *st = canto_stanza_new_root("iq", CANTO_NS_CLIENT);
    char id[24];
    canto_server_new_id(c->host->server, id, sizeof id);
    canto_xml_set_attr(st, st->root, "type", "set");
    canto_xml_set_attr(st, st->root, "id", id);
    struct canto_xml_node *q = canto_xml_add_child(st, st->root, what, NS_BLOCKING);
    for (size_t i = 0; i < n; i++) {
        struct canto_xml_node *it = canto_xml_add_child(st, q, "item", NULL);
        canto_xml_set_attr(st, it, "jid", jids[i]);
    }
    for (struct canto_session *s = u->sessions; s; s = s->next) {
        if (!s->blocklist_requested)
            continue;
        canto_xml_set_attr(st, st->root, "to", s->jid.full);
        canto_session_send(s, st);
    }
    canto_stanza_unref(st);
}

static void collect(void *ud, const char *key, void *value)
{
    struct canto_stanza *r = ud;
    struct canto_xml_node *q = canto_xml_first_element(r->root);
    struct canto_xml_node *it = canto_xml_add_child(r, q, "item", NULL);
    canto_xml_set_attr(r, it, "jid", key);
}

static void blocklist_get(struct canto_module_inst *mi, struct canto_stanza *iq, struct contacts *c)
{
    struct canto_session *s = canto_session_sender(mi->host->server, iq);
    if (s)
        s->blocklist_requested = true;
    struct canto_stanza *r = canto_iq_result(iq);
    canto_xml_add_child(r, r->root, "blocklist", NS_BLOCKING);
    canto_hashmap_foreach(&c->blocked, collect, r);
    canto_route(mi->host->server, r);
}

struct change {
    struct canto_server *server;
    struct canto_host *host;
    struct canto_stanza *iq;
    char *bare;
    bool block;
    char **jids; /* NULL with n 0 for unblock-all */
    size_t n;
};

static void change_free(struct change *ch)
{
    for (size_t i = 0; i < ch->n; i++)
        free(ch->jids[i]);
    free(ch->jids);
    free(ch->bare);
    canto_stanza_unref(ch->iq);
    free(ch);
}

static void changed(void *ud, int rc)
{
    struct change *ch = ud;
    if (rc != CANTO_OK) {
        canto_route_error(ch->server, ch->iq, CANTO_COND_INTERNAL_SERVER_ERROR, NULL);
    } else {
        canto_route(ch->server, canto_iq_result(ch->iq));
        struct contacts *c = contacts_find(ch->host, ch->bare, CONTACTS_ALL);
        if (c)
            push(c, ch->block ? "block" : "unblock", ch->jids, ch->n);
    }
    change_free(ch);
}

/* Blocking refuses the pending subscription requests of whoever is now
 * blocked (as Prosody does): they get unsubscribed, and the request is
 * never shown again. */
static void refuse_blocked_requests(struct contacts *c)
{
    size_t n = 0;
    void **items = canto_hashmap_values(&c->items, &n);
    for (size_t i = 0; i < n; i++) {
        struct roster_item *it = items[i];
        if (it->pending_in && contacts_blocks_bare(c, it->jid))
            roster_refuse_request(c, it->jid);
    }
    free(items);
}

/* Presence consequences of a block or unblock of jid (section 3.3). */
static void presence_after(struct contacts *c, const char *jid, bool block)
{
    struct canto_jid j;
    if (canto_jid_parse_str(&j, jid) != CANTO_OK)
        return;
    struct roster_item *it = j.local ? contacts_item(c, j.bare) : NULL;
    if (it && sub_from(it->sub)) {
        if (block)
            presence_send_unavailable(c->host->server, c->bare, jid);
        else
            presence_send_current(c->host->server, c->bare, jid);
    }
    canto_jid_free(&j);
}

static void blocklist_set(struct canto_module_inst *mi, struct canto_stanza *iq, struct contacts *c)
{
    struct canto_server *srv = mi->host->server;
    struct canto_xml_node *q = canto_xml_first_element(iq->root);
    bool block = strcmp(q->name, "block") == 0;
    if (!block && strcmp(q->name, "unblock") != 0) {
        canto_route_error(srv, iq, CANTO_COND_BAD_REQUEST, NULL);
        return;
    }
    struct change *ch = canto_xcalloc(1, sizeof(*ch));
    ch->server = srv;
    ch->host = mi->host;
    ch->iq = canto_stanza_ref(iq);
    ch->bare = canto_xstrdup(c->bare);
    ch->block = block;
    for (struct canto_xml_node *n = canto_xml_first_element(q); n; n = canto_xml_next_element(n)) {
        if (strcmp(n->name, "item") != 0 || strcmp(n->ns, NS_BLOCKING) != 0)
            continue;
        const char *attr = canto_xml_attr(n, "jid");
        struct canto_jid j;
        if (!attr || canto_jid_parse_str(&j, attr) != CANTO_OK) {
            canto_route_error(srv, iq, CANTO_COND_JID_MALFORMED, NULL);
            change_free(ch);
            return;
        }
        ch->jids = canto_xrealloc(ch->jids, (ch->n + 1) * sizeof(*ch->jids));
        ch->jids[ch->n++] = canto_xstrdup(j.full);
        canto_jid_free(&j);
    }
    if (block && ch->n == 0) {
        canto_route_error(srv, iq, CANTO_COND_BAD_REQUEST, "Name at least one JID to block");
        change_free(ch);
        return;
    }
    if (block) {
        size_t adding = 0;
        for (size_t i = 0; i < ch->n; i++)
            adding += !contacts_blocks_str(c, ch->jids[i]);
        if (c->blocked.count + adding > BLOCKLIST_MAX_ITEMS) {
            /* cancel, not the default wait: a full list does not empty
             * itself, only the user's unblocking does. */
            canto_route_error_typed(srv, iq, CANTO_COND_RESOURCE_CONSTRAINT, CANTO_ERRTYPE_CANCEL,
                                    "The block list is full");
            change_free(ch);
            return;
        }
        for (size_t i = 0; i < ch->n; i++) {
            presence_after(c, ch->jids[i], true);
            contacts_block(c, ch->jids[i]);
        }
        refuse_blocked_requests(c);
        contacts_save_blocked(c, (const char *const *)ch->jids, ch->n, changed, ch);
    } else if (ch->n == 0) {
        /* Unblock everything (section 3.6). */
        size_t n = 0;
        void **all = canto_hashmap_values(&c->blocked, &n);
        for (size_t i = 0; i < n; i++) {
            presence_after(c, all[i], false);
            contacts_unblock(c, all[i]);
        }
        free(all);
        contacts_save_blocked(c, NULL, 0, changed, ch);
    } else {
        for (size_t i = 0; i < ch->n; i++) {
            if (contacts_blocks_str(c, ch->jids[i])) {
                contacts_unblock(c, ch->jids[i]);
                presence_after(c, ch->jids[i], false);
            }
        }
        contacts_save_blocked(c, (const char *const *)ch->jids, ch->n, changed, ch);
    }
}

static int iq_get(struct canto_module_inst *mi, struct canto_stanza *iq)
{
    if (strcmp(canto_xml_first_element(iq->root)->name, "blocklist") != 0) {
        canto_route_error(mi->host->server, iq, CANTO_COND_BAD_REQUEST, NULL);
        return CANTO_OK;
    }
    return contacts_owner_iq(mi, iq, blocklist_get);
}

static int iq_set(struct canto_module_inst *mi, struct canto_stanza *iq)
{
    return contacts_owner_iq(mi, iq, blocklist_set);
}

static const char *const blocking_features[] = {NS_BLOCKING, NULL};
static const struct canto_xep blocking_xeps[] = {
    {"XEP-0191", "Blocking Command: block, unblock, unblock all, pushes to every resource that read the list; blocked JIDs get no presence, their messages and iqs are refused"},
    {0},
};
static const struct canto_iq_reg blocking_iqs[] = {
    {"get", NS_BLOCKING, iq_get, CANTO_IQ_OWNER},
    {"set", NS_BLOCKING, iq_set, CANTO_IQ_OWNER},
    {0},
};
static const struct canto_hook_reg blocking_hooks[] = {
    {CANTO_HOOK_STANZA_IN, 500, stanza_in},
    {CANTO_HOOK_STANZA_OUT, 500, stanza_out},
    {0},
};

const struct canto_module canto_mod_blocking = {
    .name = "blocking",
    .xeps = blocking_xeps,
    .features = blocking_features,
    .iqs = blocking_iqs,
    .hooks = blocking_hooks,
};
