/*
 * router.c: delivery of stanzas (RFC 6120 section 10, RFC 6121 section 8).
 *
 * Three kinds of destination exist today: the server itself (a served host
 * with no localpart), a local account, and anything else, which gets
 * remote-server-not-found until federation arrives. Local delivery follows
 * RFC 6121 section 8.5: full JIDs go to that resource when it is online and
 * otherwise are treated like the bare JID (messages) or refused (iq); bare
 * JIDs go to the available resources with the highest non-negative priority
 * (chat, normal), to all of them (headline, presence), or, when none can take
 * a message, to the MESSAGE_OFFLINE hook (offline storage).
 */
#include <string.h>

#include "canto/log.h"
#include "canto/router.h"
#include "canto/server.h"
#include "canto/session.h"
#include "canto/stanza.h"
#include "core/modules.h"

void canto_route_error(struct canto_server *srv, const struct canto_stanza *orig,
                       const char *type, const char *condition, const char *text)
{
    struct canto_stanza *err = canto_stanza_error(orig, type, condition, text);
    if (!err)
        return;
    if (!canto_xml_attr(err->root, "to")) {
        canto_stanza_unref(err); /* nobody to answer */
        return;
    }
    canto_route(srv, err);
}

static void deliver(struct canto_session *s, struct canto_stanza *st)
{
    canto_session_send(s, st);
}

/* Iq, message or presence for the server itself. */
static void to_host(struct canto_host *h, struct canto_stanza *st)
{
    if (strcmp(st->root->name, "iq") != 0)
        return; /* messages and presence to the server have no handler yet */
    const char *type = canto_stanza_type(st);
    if (strcmp(type, "get") != 0 && strcmp(type, "set") != 0)
        return;
    if (canto_host_dispatch_iq(h, st, CANTO_IQ_SERVER) != CANTO_OK)
        canto_route_error(h->server, st, "cancel", "service-unavailable", NULL);
}

/* An iq get/set the server answers on behalf of an account (its bare JID);
 * from_owner: the account's own session asked with no to or its own bare
 * JID, which may also mean the server itself (ping, version, disco). */
static void to_account_iq(struct canto_host *h, struct canto_stanza *st, bool from_owner)
{
    const char *type = canto_stanza_type(st);
    if (strcmp(type, "get") != 0 && strcmp(type, "set") != 0)
        return;
    if (canto_host_dispatch_iq(h, st, CANTO_IQ_ACCOUNT) == CANTO_OK)
        return;
    if (from_owner && canto_host_dispatch_iq(h, st, CANTO_IQ_SERVER) == CANTO_OK)
        return;
    canto_route_error(h->server, st, "cancel", "service-unavailable", NULL);
}

static void message_to_bare(struct canto_host *h, struct canto_stanza *st,
                            const struct canto_jid *to, const char *type)
{
    struct canto_user *u = canto_user_find(h->server, to->bare);
    if (strcmp(type, "error") == 0)
        return;
    if (strcmp(type, "groupchat") == 0) {
        canto_route_error(h->server, st, "cancel", "service-unavailable", NULL);
        return;
    }
    bool headline = strcmp(type, "headline") == 0;
    int best = -1;
    for (struct canto_session *s = u ? u->sessions : NULL; s; s = s->next)
        if (s->available && s->priority >= 0 && s->priority > best)
            best = s->priority;
    if (best >= 0) {
        for (struct canto_session *s = u->sessions; s; s = s->next)
            if (s->available && s->priority >= 0 && (headline || s->priority == best))
                deliver(s, st);
        return;
    }
    if (headline)
        return; /* headlines are not stored (RFC 6121 8.5.2.2.1) */
    struct canto_hook_event ev = {.stanza = st, .to = to};
    if (canto_hook_run(h, CANTO_HOOK_MESSAGE_OFFLINE, &ev) != CANTO_OK)
        canto_route_error(h->server, st, "cancel", "service-unavailable", NULL);
}

/* Delivery to a local account, once the STANZA_IN filters have let st
 * through. */
static void deliver_to_account(struct canto_host *h, struct canto_stanza *st,
                               const struct canto_jid *to)
{
    struct canto_server *srv = h->server;
    const char *name = st->root->name;
    const char *type = canto_stanza_type(st);
    struct canto_session *s = to->resource ? canto_session_find(srv, to) : NULL;

    if (strcmp(name, "message") == 0) {
        if (s) {
            deliver(s, st);
            return;
        }
        if (to->resource && strcmp(type, "groupchat") == 0) {
            canto_route_error(srv, st, "cancel", "service-unavailable", NULL);
            return;
        }
        message_to_bare(h, st, to, type);
        return;
    }
    if (strcmp(name, "presence") == 0) {
        struct canto_hook_event ev = {.stanza = st, .to = to};
        if (canto_hook_run(h, CANTO_HOOK_PRESENCE_IN, &ev) == CANTO_OK)
            return;
        if (to->resource) {
            if (s)
                deliver(s, st);
            return;
        }
        struct canto_user *u = canto_user_find(srv, to->bare);
        for (struct canto_session *t = u ? u->sessions : NULL; t; t = t->next)
            if (t->available)
                deliver(t, st);
        return;
    }
    /* iq */
    if (s) {
        deliver(s, st);
        return;
    }
    if (!to->resource) {
        to_account_iq(h, st, false);
        return;
    }
    if (strcmp(type, "get") == 0 || strcmp(type, "set") == 0)
        canto_route_error(srv, st, "cancel", "service-unavailable", NULL);
}

static void to_account(struct canto_host *h, struct canto_stanza *st, const struct canto_jid *to)
{
    struct canto_hook_event ev = {.stanza = st, .to = to};
    if (canto_hook_run(h, CANTO_HOOK_STANZA_IN, &ev) == CANTO_OK)
        return;
    deliver_to_account(h, st, to);
}

/* Deliver st (borrowed) to its prepared destination. */
static void route_to(struct canto_server *srv, struct canto_stanza *st, const struct canto_jid *to)
{
    struct canto_host *h = canto_server_host(srv, to->domain);
    if (!h) {
        struct canto_domain_service *svc = canto_server_service(srv, to->domain);
        if (svc)
            svc->fn(svc->mi, st, to);
        else
            canto_route_error(srv, st, "cancel", "remote-server-not-found", NULL);
    } else if (!to->local)
        to_host(h, st);
    else
        to_account(h, st, to);
}

void canto_route(struct canto_server *srv, struct canto_stanza *st)
{
    const char *to_attr = canto_xml_attr(st->root, "to");
    struct canto_jid to;
    if (!to_attr || canto_jid_parse_str(&to, to_attr) != CANTO_OK) {
        canto_route_error(srv, st, "modify", "jid-malformed", NULL);
        canto_stanza_unref(st);
        return;
    }
    route_to(srv, st, &to);
    canto_jid_free(&to);
    canto_stanza_unref(st);
}

bool canto_iq_owner_account(struct canto_server *srv, const struct canto_stanza *iq,
                            const char *text, struct canto_jid *account)
{
    if (canto_iq_account(iq, account) != CANTO_OK) {
        canto_route_error(srv, iq, "auth", "forbidden", text);
        return false;
    }
    if (!canto_iq_from_owner(iq, account)) {
        canto_route_error(srv, iq, "auth", "forbidden", text);
        canto_jid_free(account);
        return false;
    }
    return true;
}

void canto_route_from_session(struct canto_session *s, struct canto_stanza *st)
{
    const char *name = st->root->name;
    const char *to_attr = canto_xml_attr(st->root, "to");
    struct canto_jid to = {0};
    bool has_to = to_attr != NULL;
    if (has_to && canto_jid_parse_str(&to, to_attr) != CANTO_OK) {
        canto_route_error(s->server, st, "modify", "jid-malformed", NULL);
        canto_stanza_unref(st);
        return;
    }
    struct canto_hook_event out = {.session = s, .stanza = st, .to = has_to ? &to : NULL};
    if (canto_hook_run(s->host, CANTO_HOOK_STANZA_OUT, &out) == CANTO_OK) {
        /* refused (e.g. to a blocked contact); the filter answered */
    } else if (strcmp(name, "presence") == 0) {
        struct canto_hook_event ev = {.session = s, .stanza = st, .to = has_to ? &to : NULL};
        if (canto_hook_run(s->host, CANTO_HOOK_PRESENCE_OUT, &ev) != CANTO_OK && has_to)
            route_to(s->server, st, &to);
    } else if (strcmp(name, "iq") == 0 &&
               (!has_to || (!to.resource && strcmp(to.bare, s->jid.bare) == 0))) {
        /* An iq without to, or to the account itself, is for the server
         * acting on behalf of the account (RFC 6120 section 10.3.3). */
        to_account_iq(s->host, st, true);
    } else if (has_to) {
        route_to(s->server, st, &to);
    } else {
        /* A message without to is for the sender's own account. */
        struct canto_jid bare;
        canto_jid_bare_of(&bare, &s->jid);
        canto_xml_set_attr(st, st->root, "to", bare.bare);
        route_to(s->server, st, &bare);
        canto_jid_free(&bare);
    }
    canto_jid_free(&to);
    canto_stanza_unref(st);
}
