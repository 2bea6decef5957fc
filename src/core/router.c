/*
 * router.c: where a stanza goes (RFC 6120 section 10; DESIGN.md "Routing").
 *
 * A stanza with a prepared destination is classified by its domain and
 * localpart into one entry of a small table of destinations, each one
 * function:
 *
 *   account  a local account's bare or full JID: handed over at the one
 *            hand-off point, canto_route_to_account (route_account.c), where
 *            the RFC 6121 section 8 rules apply
 *   host     a served host itself: iqs for the server
 *   service  a domain a module runs (the user directory; later external
 *            components, XEP-0114, register their domains the same way)
 *   remote   any other domain: remote-server-not-found until federation
 *            exists; s2s replaces that entry's function (one line below)
 *
 * Replies to the server's own iqs (canto_iq_send, iq_pending.c) are taken
 * out before classification, whatever the address they answer.
 */
#include <string.h>

#include "canto/router.h"
#include "canto/server.h"
#include "canto/session.h"
#include "canto/stanza.h"
#include "core/modules.h"
#include "core/router_internal.h"

void canto_route_error(struct canto_server *srv, const struct canto_stanza *orig,
                       enum canto_stanza_condition cond, const char *text)
{
    canto_route_error_typed(srv, orig, cond, canto_stanza_condition_type(cond), text);
}

void canto_route_error_typed(struct canto_server *srv, const struct canto_stanza *orig,
                             enum canto_stanza_condition cond, enum canto_stanza_error_type type,
                             const char *text)
{
    struct canto_stanza *err = canto_stanza_error_typed(orig, cond, type, text);
    if (!err)
        return;
    if (!canto_xml_attr(err->root, "to")) {
        canto_stanza_unref(err); /* nobody to answer */
        return;
    }
    canto_route(srv, err);
}

/* The host destination: an iq, message or presence for the server itself. */
static void to_host(struct canto_server *srv, struct canto_stanza *st,
                    const struct canto_route_target *t)
{
    if (strcmp(st->root->name, "iq") != 0)
        return; /* messages and presence to the server have no handler yet */
    const char *type = canto_stanza_type(st);
    if (strcmp(type, "get") != 0 && strcmp(type, "set") != 0)
        return; /* a result or error nobody waits for (any more) */
    if (canto_host_dispatch_iq(t->host, st, CANTO_IQ_SERVER) != CANTO_OK)
        canto_route_error(srv, st, CANTO_COND_SERVICE_UNAVAILABLE, NULL);
}

/* The service destination: the module (or component) that runs the domain
 * takes everything addressed to it or to a JID under it. */
static void to_service(struct canto_server *srv, struct canto_stanza *st,
                       const struct canto_route_target *t)
{
    t->service->fn(t->service->mi, st, t->to);
}

/* The remote destination, until federation exists: no route to any other
 * domain. The s2s layer replaces this function in the table. */
static void to_remote(struct canto_server *srv, struct canto_stanza *st,
                      const struct canto_route_target *t)
{
    canto_route_error(srv, st, CANTO_COND_REMOTE_SERVER_NOT_FOUND, NULL);
}

/* The account destination: everything else happens after the hand-off. */
static void to_account(struct canto_server *srv, struct canto_stanza *st,
                       const struct canto_route_target *t)
{
    canto_route_to_account(t->host, st, t->to);
}

/* The destination table, indexed by enum canto_destination. */
static const struct {
    const char *name; /* for logs and docs */
    void (*route)(struct canto_server *srv, struct canto_stanza *st,
                  const struct canto_route_target *t);
} destinations[CANTO_DEST_COUNT] = {
    [CANTO_DEST_ACCOUNT] = {"account", to_account},
    [CANTO_DEST_HOST] = {"host", to_host},
    [CANTO_DEST_SERVICE] = {"service", to_service},
    [CANTO_DEST_REMOTE] = {"remote", to_remote},
};

void canto_route_classify(struct canto_server *srv, const struct canto_jid *to,
                          struct canto_route_target *t)
{
    *t = (struct canto_route_target){.to = to};
    t->host = canto_server_host(srv, to->domain);
    if (t->host) {
        t->kind = to->local ? CANTO_DEST_ACCOUNT : CANTO_DEST_HOST;
        return;
    }
    t->service = canto_server_service(srv, to->domain);
    t->kind = t->service ? CANTO_DEST_SERVICE : CANTO_DEST_REMOTE;
}

/* Deliver st (borrowed) to its prepared destination. */
static void route_to(struct canto_server *srv, struct canto_stanza *st, const struct canto_jid *to)
{
    if (canto_iq_pending_answer(srv, st, to))
        return;
    struct canto_route_target t;
    canto_route_classify(srv, to, &t);
    destinations[t.kind].route(srv, st, &t);
}

const char *canto_destination_name(enum canto_destination kind)
{
    return kind < CANTO_DEST_COUNT ? destinations[kind].name : "?";
}

void canto_route(struct canto_server *srv, struct canto_stanza *st)
{
    const char *to_attr = canto_xml_attr(st->root, "to");
    struct canto_jid to;
    if (!to_attr || canto_jid_parse_str(&to, to_attr) != CANTO_OK) {
        canto_route_error(srv, st, CANTO_COND_JID_MALFORMED, NULL);
        canto_stanza_unref(st);
        return;
    }
    route_to(srv, st, &to);
    canto_jid_free(&to);
    canto_stanza_unref(st);
}

void canto_route_from_session(struct canto_session *s, struct canto_stanza *st)
{
    const char *name = st->root->name;
    const char *to_attr = canto_xml_attr(st->root, "to");
    struct canto_jid to = {0};
    bool has_to = to_attr != NULL;
    if (has_to && canto_jid_parse_str(&to, to_attr) != CANTO_OK) {
        canto_route_error(s->server, st, CANTO_COND_JID_MALFORMED, NULL);
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
         * acting on behalf of the account (RFC 6120 section 10.3.3). The
         * session lives where its account does: no hand-off. */
        canto_account_iq(s->host, st, true);
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
