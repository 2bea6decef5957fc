/*
 * route_account.c: delivery to a local account (RFC 6121 section 8.5).
 *
 * canto_route_to_account is the one hand-off point for "deliver to this
 * account": everything after it touches the account's live state (its
 * sessions, its cached roster and block list), which DESIGN.md gives to one
 * owner. Today that owner is the only loop and the hand-off is a plain call;
 * with several worker threads it becomes a message to the account's shard,
 * and in a cluster a message to the node that holds the account. Nothing
 * before it may read account state, nothing after it needs to know where it
 * runs.
 *
 * After the STANZA_IN filters (blocking, the contacts hold): full JIDs go to
 * that resource when it is online and otherwise are treated like the bare
 * JID (messages) or refused (iq); bare JIDs go to the available resources
 * with the highest non-negative priority (chat, normal), to all of them
 * (headline, presence), or, when none can take a message, to the
 * MESSAGE_OFFLINE hook (offline storage). Iqs to the bare JID are answered
 * by the server on the account's behalf.
 */
#include <string.h>

#include "canto/router.h"
#include "canto/server.h"
#include "canto/session.h"
#include "canto/stanza.h"
#include "core/modules.h"
#include "core/router_internal.h"

static void deliver(struct canto_session *s, struct canto_stanza *st)
{
    canto_session_send(s, st);
}

void canto_account_iq(struct canto_host *h, struct canto_stanza *st, bool from_owner)
{
    const char *type = canto_stanza_type(st);
    if (strcmp(type, "get") != 0 && strcmp(type, "set") != 0)
        return;
    if (canto_host_dispatch_iq(h, st, CANTO_IQ_ACCOUNT) == CANTO_OK)
        return;
    if (from_owner && canto_host_dispatch_iq(h, st, CANTO_IQ_SERVER) == CANTO_OK)
        return;
    canto_route_error(h->server, st, CANTO_COND_SERVICE_UNAVAILABLE, NULL);
}

static void message_to_bare(struct canto_host *h, struct canto_stanza *st,
                            const struct canto_jid *to, const char *type)
{
    struct canto_user *u = canto_user_find(h->server, to->bare);
    if (strcmp(type, "error") == 0)
        return;
    if (strcmp(type, "groupchat") == 0) {
        canto_route_error(h->server, st, CANTO_COND_SERVICE_UNAVAILABLE, NULL);
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
        canto_route_error(h->server, st, CANTO_COND_SERVICE_UNAVAILABLE, NULL);
}

static void presence_to_account(struct canto_host *h, struct canto_stanza *st,
                                const struct canto_jid *to, struct canto_session *s)
{
    struct canto_hook_event ev = {.stanza = st, .to = to};
    if (canto_hook_run(h, CANTO_HOOK_PRESENCE_IN, &ev) == CANTO_OK)
        return;
    if (to->resource) {
        if (s)
            deliver(s, st);
        return;
    }
    struct canto_user *u = canto_user_find(h->server, to->bare);
    for (struct canto_session *t = u ? u->sessions : NULL; t; t = t->next)
        if (t->available)
            deliver(t, st);
}

/* Delivery once the STANZA_IN filters have let st through. */
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
            canto_route_error(srv, st, CANTO_COND_SERVICE_UNAVAILABLE, NULL);
            return;
        }
        message_to_bare(h, st, to, type);
        return;
    }
    if (strcmp(name, "presence") == 0) {
        presence_to_account(h, st, to, s);
        return;
    }
    /* iq */
    if (s) {
        deliver(s, st);
        return;
    }
    if (!to->resource) {
        canto_account_iq(h, st, false);
        return;
    }
    if (strcmp(type, "get") == 0 || strcmp(type, "set") == 0)
        canto_route_error(srv, st, CANTO_COND_SERVICE_UNAVAILABLE, NULL);
}

void canto_route_to_account(struct canto_host *h, struct canto_stanza *st,
                            const struct canto_jid *to)
{
    struct canto_hook_event ev = {.stanza = st, .to = to};
    if (canto_hook_run(h, CANTO_HOOK_STANZA_IN, &ev) == CANTO_OK)
        return;
    deliver_to_account(h, st, to);
}
