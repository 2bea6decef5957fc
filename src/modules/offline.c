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
 * to it in order, and deleted once it has taken them (see "delivery").
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

/* --- delivery ------------------------------------------------------------------ */

/* One delivery per account at a time: the stored messages go to one
 * session, batch by batch, and a batch is deleted only once that session
 * has taken it (canto_session_when_taken: written to its connection today,
 * acknowledged with Stream Management later). Two resources coming online
 * together therefore get each message once between them; a connection that
 * drops before its batch is written leaves the batch stored, and it goes to
 * another available resource of the account, or to the next login. */
struct offline_state {
    struct canto_hashmap deliveries; /* bare JID -> struct delivery */
};

struct delivery {
    struct offline_state *os;
    struct canto_server *server;
    struct canto_jid jid;  /* the session served: its full JID, looked up again */
    char *bare;            /* the hash key */
    size_t budget;         /* bytes sent before waiting for them to be taken */
    int64_t last;          /* id of the last message of the batch being taken */
    bool more;             /* there may be more after that batch */
};

static void delivery_end(struct delivery *d)
{
    canto_hashmap_remove(&d->os->deliveries, d->bare);
    canto_jid_free(&d->jid);
    free(d->bare);
    free(d);
}

/* A session of the account that can take the messages: available with a
 * non-negative priority (XEP-0160), other than the one that just failed. */
static struct canto_session *eligible_session(struct canto_server *srv, const char *bare,
                                              const struct canto_jid *not)
{
    struct canto_user *u = canto_user_find(srv, bare);
    for (struct canto_session *s = u ? u->sessions : NULL; s; s = s->next)
        if (s->announced && s->available && s->priority >= 0 && !s->ended &&
            (!not || strcmp(s->jid.full, not->full) != 0))
            return s;
    return NULL;
}

static void fetched(void *ud, int rc, const struct canto_archive_item *msgs, size_t n,
                    bool more);

/* The oldest batch of the account's stored messages. */
static void fetch_batch(struct delivery *d)
{
    struct canto_archive_query q = {.limit = FETCH_BATCH};
    canto_storage_archive_query(d->server->storage, CANTO_ACCOUNT(d->jid.domain, d->jid.local),
                                ARCHIVE, &q, fetched, d);
}

/* Serve s from now on (the one served before is gone), or end when there
 * is nobody left to serve. */
static void serve_next(struct delivery *d, const struct canto_jid *failed)
{
    struct canto_session *s = eligible_session(d->server, d->bare, failed);
    if (!s) {
        delivery_end(d);
        return;
    }
    canto_jid_free(&d->jid);
    canto_jid_copy(&d->jid, &s->jid);
    fetch_batch(d);
}

static void batch_taken(void *ud, int status)
{
    struct delivery *d = ud;
    if (status != CANTO_OK) {
        /* Not written: the batch stays stored for someone else. */
        struct canto_jid failed;
        canto_jid_copy(&failed, &d->jid);
        serve_next(d, &failed);
        canto_jid_free(&failed);
        return;
    }
    canto_storage_archive_delete(d->server->storage, CANTO_ACCOUNT(d->jid.domain, d->jid.local),
                                 ARCHIVE, d->last, NULL, NULL);
    if (d->more)
        fetch_batch(d); /* maybe more: read after this deletion (same owner, in order) */
    else
        delivery_end(d);
}

static void fetched(void *ud, int rc, const struct canto_archive_item *msgs, size_t n,
                    bool more)
{
    struct delivery *d = ud;
    if (rc != CANTO_OK || n == 0) {
        if (rc != CANTO_OK)
            canto_warn("%s: cannot read the offline messages (%s)", d->bare, canto_rc_str(rc));
        delivery_end(d);
        return;
    }
    struct canto_session *s = canto_session_find(d->server, &d->jid);
    if (!s || s->ended || !s->available) {
        serve_next(d, &d->jid);
        return;
    }
    /* Up to the byte budget (at least one message): the rest is read again
     * once this part is taken, so that what a login queues for a client
     * stays well under the send queue that would cut it off. */
    size_t i, bytes = 0;
    for (i = 0; i < n && (i == 0 || bytes + msgs[i].len <= d->budget); i++) {
        bytes += msgs[i].len;
        struct canto_stanza *st = canto_stanza_parse(msgs[i].xml, msgs[i].len);
        if (st) {
            canto_session_send(s, st);
            canto_stanza_unref(st);
        } else {
            canto_warn("%s: dropping an unreadable offline message (id %lld)", d->bare,
                       (long long)msgs[i].id);
        }
    }
    d->last = msgs[i - 1].id;
    d->more = i < n || more;
    canto_session_when_taken(s, batch_taken, d);
}

static int deliver_stored(struct canto_module_inst *mi, struct canto_hook_event *ev)
{
    struct offline_state *os = mi->state;
    struct canto_session *s = ev->session;
    /* Another resource is being served already: it gets them all. */
    if (canto_hashmap_get(&os->deliveries, s->jid.bare))
        return CANTO_DECLINED;
    struct delivery *d = canto_xcalloc(1, sizeof(*d));
    d->os = os;
    d->server = mi->host->server;
    d->budget = d->server->cfg->limits.send_queue / 2;
    canto_jid_copy(&d->jid, &s->jid);
    d->bare = canto_xstrdup(s->jid.bare);
    canto_hashmap_put(&os->deliveries, d->bare, d);
    fetch_batch(d);
    return CANTO_DECLINED;
}

static int offline_start(struct canto_module_inst *mi)
{
    struct offline_state *os = canto_xcalloc(1, sizeof(*os));
    canto_hashmap_init(&os->deliveries);
    mi->state = os;
    return CANTO_OK;
}

/* By now storage is closed (its callbacks have run) and every connection
 * is gone (written notifications have run): no delivery can be left. */
static void offline_stop(struct canto_module_inst *mi)
{
    struct offline_state *os = mi->state;
    if (!os)
        return;
    size_t n = 0;
    void **left = canto_hashmap_values(&os->deliveries, &n);
    for (size_t i = 0; i < n; i++)
        delivery_end(left[i]);
    free(left);
    canto_hashmap_free(&os->deliveries);
    free(os);
    mi->state = NULL;
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
    .start = offline_start,
    .stop = offline_stop,
};
