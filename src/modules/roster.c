/*
 * roster.c: roster management (RFC 6121 section 2): get with versioning
 * (section 2.6), set (add/update/remove) with its error cases, and roster
 * pushes to every resource of the account that has asked for the roster.
 *
 * Versions are a counter bumped by every change (contacts.c). A get whose
 * ver is the current one is answered with an empty result: the client's
 * copy is up to date and later changes reach it as pushes. Any other ver
 * gets the whole roster (the RFC's other option, pushes of each change since
 * that version, would need tombstones for removed items; a full roster is
 * never wrong).
 *
 * A set is answered once the change is durable; the pushes go out at the
 * same moment, so no resource learns of a change that a crash could undo.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canto/router.h"
#include "canto/server.h"
#include "canto/session.h"
#include "canto/stanza.h"
#include "modules/contacts.h"
#include "modules/roster.h"

#define NS_ROSTER "jabber:iq:roster"

static void set_ver(struct canto_stanza *st, struct canto_xml_node *query, uint64_t ver)
{
    char v[24];
    snprintf(v, sizeof v, "%" PRIu64, ver);
    canto_xml_set_attr(st, query, "ver", v);
}

void roster_push(struct contacts *c, const char *jid)
{
    struct canto_user *u = canto_user_find(c->host->server, c->bare);
    if (!u)
        return;
    struct roster_item *it = contacts_item(c, jid);
    struct roster_item gone = {.jid = (char *)jid};
    bool removed = !it || !it->listed;
    struct canto_stanza *st = canto_stanza_new_root("iq", CANTO_NS_CLIENT);
    canto_xml_set_attr(st, st->root, "type", "set");
    char id[24];
    canto_server_new_id(c->host->server, id, sizeof id);
    canto_xml_set_attr(st, st->root, "id", id);
    struct canto_xml_node *q = canto_xml_add_child(st, st->root, "query", NS_ROSTER);
    set_ver(st, q, c->ver);
    roster_item_to_xml(st, q, removed ? &gone : it, removed);
    for (struct canto_session *s = u->sessions; s; s = s->next) {
        if (!s->roster_requested)
            continue;
        canto_xml_set_attr(st, st->root, "to", s->jid.full);
        canto_session_send(s, st);
    }
    canto_stanza_unref(st);
}

/* --- get ------------------------------------------------------------------ */

static void roster_get(struct canto_module_inst *mi, struct canto_stanza *iq, struct contacts *c)
{
    struct canto_xml_node *q = canto_xml_first_element(iq->root);
    const char *ver = canto_xml_attr(q, "ver");
    struct canto_session *s = canto_session_sender(mi->host->server, iq);
    if (s)
        s->roster_requested = true;
    struct canto_stanza *r = canto_iq_result(iq);
    char cur[24];
    snprintf(cur, sizeof cur, "%" PRIu64, c->ver);
    if (ver && strcmp(ver, cur) == 0) {
        canto_route(mi->host->server, r); /* up to date: pushes follow */
        return;
    }
    struct canto_xml_node *query = canto_xml_add_child(r, r->root, "query", NS_ROSTER);
    set_ver(r, query, c->ver);
    size_t n = 0;
    void **items = canto_hashmap_values(&c->items, &n);
    for (size_t i = 0; i < n; i++) {
        struct roster_item *it = items[i];
        if (it->listed)
            roster_item_to_xml(r, query, it, false);
    }
    free(items);
    canto_route(mi->host->server, r);
}

/* --- set ------------------------------------------------------------------ */

struct set_req {
    struct canto_server *server;
    struct canto_host *host;
    struct canto_stanza *iq;
    char *bare; /* the account */
    char *jid;  /* the item */
};

static void set_done(void *ud, int rc)
{
    struct set_req *r = ud;
    if (rc != CANTO_OK) {
        canto_route_error(r->server, r->iq, CANTO_COND_INTERNAL_SERVER_ERROR, NULL);
    } else {
        canto_route(r->server, canto_iq_result(r->iq));
        struct contacts *c = contacts_find(r->host, r->bare, CONTACTS_ALL);
        if (c)
            roster_push(c, r->jid);
    }
    canto_stanza_unref(r->iq);
    free(r->bare);
    free(r->jid);
    free(r);
}

/* Durably write the item, then answer iq and push. */
static void save_and_answer(struct canto_module_inst *mi, struct contacts *c,
                            struct canto_stanza *iq, const char *jid)
{
    struct set_req *r = canto_xcalloc(1, sizeof(*r));
    r->server = mi->host->server;
    r->host = mi->host;
    r->iq = canto_stanza_ref(iq);
    r->bare = canto_xstrdup(c->bare);
    r->jid = canto_xstrdup(jid);
    contacts_save(c, jid, set_done, r);
}

/* Check the item's name and groups: true if fine, else false with the
 * error condition in *cond and its text in *text. */
static bool check_item(struct canto_stanza *iq, struct canto_xml_node *item,
                       enum canto_stanza_condition *cond, const char **text)
{
    const char *name = canto_xml_attr(item, "name");
    if (name && strlen(name) > ROSTER_MAX_TEXT) {
        *text = "The name is too long";
        *cond = CANTO_COND_NOT_ACCEPTABLE;
        return false;
    }
    size_t ngroups = 0;
    for (struct canto_xml_node *g = canto_xml_first_element(item); g;
         g = canto_xml_next_element(g)) {
        if (strcmp(g->name, "group") != 0 || strcmp(g->ns, NS_ROSTER) != 0)
            continue;
        const char *gt = canto_xml_text(iq, g);
        if (!*gt) {
            *text = "A group name cannot be empty";
            *cond = CANTO_COND_NOT_ACCEPTABLE;
            return false;
        }
        if (strlen(gt) > ROSTER_MAX_TEXT) {
            *text = "A group name is too long";
            *cond = CANTO_COND_NOT_ACCEPTABLE;
            return false;
        }
        if (++ngroups > ROSTER_MAX_GROUPS) {
            *text = "Too many groups";
            *cond = CANTO_COND_NOT_ACCEPTABLE;
            return false;
        }
        for (struct canto_xml_node *h = canto_xml_first_element(item); h != g;
             h = canto_xml_next_element(h))
            if (strcmp(h->name, "group") == 0 && strcmp(h->ns, NS_ROSTER) == 0 &&
                strcmp(canto_xml_text(iq, h), gt) == 0) {
                *text = "The same group is named twice";
                *cond = CANTO_COND_BAD_REQUEST;
                return false;
            }
    }
    return true;
}

static void update_item(struct canto_stanza *iq, struct canto_xml_node *item,
                        struct roster_item *it)
{
    const char *name = canto_xml_attr(item, "name");
    free(it->name);
    it->name = name && *name ? canto_xstrdup(name) : NULL;
    for (size_t i = 0; i < it->ngroups; i++)
        free(it->groups[i]);
    free(it->groups);
    it->groups = NULL;
    it->ngroups = 0;
    for (struct canto_xml_node *g = canto_xml_first_element(item); g;
         g = canto_xml_next_element(g)) {
        if (strcmp(g->name, "group") != 0 || strcmp(g->ns, NS_ROSTER) != 0)
            continue;
        it->groups = canto_xrealloc(it->groups, (it->ngroups + 1) * sizeof(*it->groups));
        it->groups[it->ngroups++] = canto_xstrdup(canto_xml_text(iq, g));
    }
    it->listed = true;
}

static void roster_set(struct canto_module_inst *mi, struct canto_stanza *iq, struct contacts *c)
{
    struct canto_server *srv = mi->host->server;
    struct canto_xml_node *q = canto_xml_first_element(iq->root);
    struct canto_xml_node *item = NULL;
    size_t nitems = 0;
    for (struct canto_xml_node *n = canto_xml_first_element(q); n; n = canto_xml_next_element(n))
        if (strcmp(n->name, "item") == 0 && strcmp(n->ns, NS_ROSTER) == 0) {
            item = n;
            nitems++;
        }
    if (nitems != 1) {
        canto_route_error(srv, iq, CANTO_COND_BAD_REQUEST, "A roster set holds exactly one item");
        return;
    }
    const char *jid_attr = canto_xml_attr(item, "jid");
    struct canto_jid jid;
    if (!jid_attr || canto_jid_parse_str(&jid, jid_attr) != CANTO_OK) {
        canto_route_error(srv, iq, CANTO_COND_JID_MALFORMED, "The item's JID is not valid");
        return;
    }
    if (jid.resource) {
        canto_jid_free(&jid);
        canto_route_error(srv, iq, CANTO_COND_BAD_REQUEST, "Roster items are bare JIDs");
        return;
    }
    const char *sub = canto_xml_attr(item, "subscription");
    struct roster_item *it = contacts_item(c, jid.bare);
    if (sub && strcmp(sub, "remove") == 0) {
        /* An unlisted item is a pending request: removing the requester
         * refuses it (roster_remove_item sends unsubscribed), which is how
         * a client that shows requests outside the roster clears one. */
        if (!it || (!it->listed && !it->pending_in)) {
            canto_route_error(srv, iq, CANTO_COND_ITEM_NOT_FOUND, NULL);
        } else {
            roster_remove_item(c, it);
            save_and_answer(mi, c, iq, jid.bare);
        }
        canto_jid_free(&jid);
        return;
    }
    /* Any other subscription value is the server's business: ignored. */
    if (strcmp(jid.bare, c->bare) == 0) {
        canto_route_error(srv, iq, CANTO_COND_NOT_ALLOWED, "You cannot add yourself");
        canto_jid_free(&jid);
        return;
    }
    const char *text = NULL;
    enum canto_stanza_condition cond;
    if (!check_item(iq, item, &cond, &text)) {
        canto_route_error(srv, iq, cond, text);
        canto_jid_free(&jid);
        return;
    }
    if ((!it || !it->listed) && contacts_listed(c) >= ROSTER_MAX_ITEMS) {
        canto_route_error(srv, iq, CANTO_COND_NOT_ALLOWED, "The roster is full");
        canto_jid_free(&jid);
        return;
    }
    it = contacts_item_add(c, jid.bare);
    update_item(iq, item, it);
    save_and_answer(mi, c, iq, jid.bare);
    canto_jid_free(&jid);
}

/* --- dispatch --------------------------------------------------------------- */

static int iq_get(struct canto_module_inst *mi, struct canto_stanza *iq)
{
    return contacts_owner_iq(mi, iq, roster_get);
}

static int iq_set(struct canto_module_inst *mi, struct canto_stanza *iq)
{
    return contacts_owner_iq(mi, iq, roster_set);
}

static void stream_features(struct canto_module_inst *mi, struct canto_session *s, bool authed,
                            struct canto_buf *out)
{
    if (authed)
        canto_buf_append_str(out, "<ver xmlns='urn:xmpp:features:rosterver'/>"
                                  "<sub xmlns='urn:xmpp:features:pre-approval'/>");
}

static const struct canto_xep roster_xeps[] = {
    {"XEP-0237", "Roster Versioning: an up-to-date client gets an empty result and then pushes"},
    {0},
};
static const struct canto_iq_reg roster_iqs[] = {
    {"get", NS_ROSTER, iq_get, CANTO_IQ_OWNER},
    {"set", NS_ROSTER, iq_set, CANTO_IQ_OWNER},
    {0},
};

const struct canto_module canto_mod_roster = {
    .name = "roster",
    .xeps = roster_xeps,
    .iqs = roster_iqs,
    .stream_features = stream_features,
};
