/*
 * offline.c: XEP-0160 offline messages with XEP-0203 delay stamps.
 *
 * A chat or normal message for an account with no available resource is
 * stamped with <delay/> and appended to the account's archive "offline"
 * (the router calls this through the MESSAGE_OFFLINE hook), with the
 * sender's bare JID as its peer. The storage request also tells whether
 * the account exists and whether its store is full, so an unknown user or
 * a full store bounces with service-unavailable. When a session of the account becomes
 * available with a non-negative priority, the stored messages are delivered
 * in order and then deleted; a session that vanishes before the fetch
 * returns leaves them stored for the next one.
 */
#include <stdlib.h>
#include <string.h>

#include "canto/log.h"
#include "canto/module.h"
#include "canto/router.h"
#include "canto/server.h"
#include "canto/session.h"
#include "canto/stanza.h"

#define NS_DELAY "urn:xmpp:delay"

/* Stored messages are fetched this many at a time: a store can hold
 * offline_messages stanzas of up to c2s_max_stanza_size each, and loading
 * them all at once would let a sender make the server allocate
 * hundreds of megabytes at the recipient's next login. */
#define FETCH_BATCH 50
#define ARCHIVE "offline" /* the account's archive that holds them */

struct store_req {
    struct canto_server *server;
    struct canto_stanza *orig; /* to bounce when it cannot be stored */
};

static void stored(void *ud, int rc, int64_t id)
{
    struct store_req *r = ud;
    if (rc == CANTO_LIMIT)
        canto_route_error(r->server, r->orig, CANTO_COND_SERVICE_UNAVAILABLE,
                          "The recipient's offline storage is full");
    else if (rc == CANTO_NOTFOUND)
        canto_route_error(r->server, r->orig, CANTO_COND_SERVICE_UNAVAILABLE, NULL);
    else if (rc != CANTO_OK)
        canto_route_error(r->server, r->orig, CANTO_COND_INTERNAL_SERVER_ERROR, NULL);
    canto_stanza_unref(r->orig);
    free(r);
}

static int store(struct canto_module_inst *mi, struct canto_hook_event *ev)
{
    struct canto_host *h = mi->host;
    struct canto_stanza *copy = canto_stanza_copy(ev->stanza);
    char stamp[32];
    canto_xmpp_timestamp(stamp, sizeof stamp);
    struct canto_xml_node *d = canto_xml_add_child(copy, copy->root, "delay", NS_DELAY);
    canto_xml_set_attr(copy, d, "from", h->name);
    canto_xml_set_attr(copy, d, "stamp", stamp);
    struct canto_buf xml = {0};
    canto_xml_serialize(copy->root, CANTO_NS_CLIENT, &xml);
    canto_stanza_unref(copy);

    struct store_req *r = canto_xmalloc(sizeof(*r));
    r->server = h->server;
    r->orig = canto_stanza_ref(ev->stanza);
    unsigned limit = (unsigned)canto_module_option_int(mi, "limits.offline_messages");
    const char *from = canto_xml_attr(ev->stanza->root, "from");
    struct canto_jid sender;
    bool known = from && canto_jid_parse_str(&sender, from) == CANTO_OK;
    canto_storage_archive_append(h->server->storage, CANTO_ACCOUNT(h->name, ev->to->local),
                                 ARCHIVE, known ? sender.bare : "", xml.data, xml.len, limit,
                                 stored, r);
    if (known)
        canto_jid_free(&sender);
    canto_buf_free(&xml);
    return CANTO_OK;
}

struct fetch_req {
    struct canto_server *server;
    struct canto_jid jid; /* the session to deliver to */
};

static void fetch(struct fetch_req *r);

static void fetched(void *ud, int rc, const struct canto_archive_item *msgs, size_t n, bool more)
{
    struct fetch_req *r = ud;
    struct canto_session *s = rc == CANTO_OK ? canto_session_find(r->server, &r->jid) : NULL;
    if (s && s->available && n > 0) {
        int64_t last = 0;
        for (size_t i = 0; i < n; i++) {
            struct canto_stanza *st = canto_stanza_parse(msgs[i].xml, msgs[i].len);
            if (st) {
                canto_session_send(s, st);
                canto_stanza_unref(st);
            } else {
                canto_warn("%s: dropping an unreadable offline message (id %lld)", r->jid.bare,
                           (long long)msgs[i].id);
            }
            last = msgs[i].id;
        }
        canto_storage_archive_delete(r->server->storage,
                                     CANTO_ACCOUNT(r->jid.domain, r->jid.local), ARCHIVE, last,
                                     NULL, NULL);
        if (more) {
            /* The next batch, after this one's deletion. */
            fetch(r);
            return;
        }
    }
    canto_jid_free(&r->jid);
    free(r);
}

/* The oldest batch of the account's stored messages. */
static void fetch(struct fetch_req *r)
{
    struct canto_archive_query q = {.limit = FETCH_BATCH};
    canto_storage_archive_query(r->server->storage, CANTO_ACCOUNT(r->jid.domain, r->jid.local),
                                ARCHIVE, &q, fetched, r);
}

static int deliver_stored(struct canto_module_inst *mi, struct canto_hook_event *ev)
{
    struct canto_session *s = ev->session;
    struct fetch_req *r = canto_xmalloc(sizeof(*r));
    r->server = mi->host->server;
    canto_jid_copy(&r->jid, &s->jid);
    fetch(r);
    return CANTO_DECLINED;
}

static const char *const offline_features[] = {"msgoffline", NULL};
static const struct canto_xep offline_xeps[] = {
    {"XEP-0160", "Best Practices for Handling Offline Messages: stored per account (limit configurable) and delivered at the next available presence"},
    {"XEP-0203", "Delayed Delivery: stamps on stored messages"},
    {0},
};
static const struct canto_hook_reg offline_hooks[] = {
    {CANTO_HOOK_MESSAGE_OFFLINE, 0, store},
    {CANTO_HOOK_SESSION_AVAILABLE, 0, deliver_stored},
    {0},
};

static const struct canto_option offline_options[] = {
    {.key = "limits.offline_messages", .type = CANTO_OPT_INT, .def = 1000, .min = 0,
     .max = 1000000, .doc = "messages stored per user while offline; 0 stores none"},
    {0},
};

const struct canto_module canto_mod_offline = {
    .name = "offline",
    .xeps = offline_xeps,
    .features = offline_features,
    .hooks = offline_hooks,
    .options = offline_options,
};
