/*
 * ping.c: XEP-0199 XMPP Ping, answered by the server.
 *
 * The answer waits for storage: a pong means that everything the client
 * sent before its ping and that the server stored (offline messages,
 * subscription changes) is on disk. Clients that need an acknowledgement of
 * durability (and the kill -9 tests) rely on that.
 *
 * It takes two barriers, one after the other. A stanza for an account whose
 * contacts are not in memory waits for them to be read (contacts.c) and is
 * only then stored: its write is queued by the callback of a read queued
 * before the first barrier, and a barrier's callback runs only after the
 * callbacks of everything queued before it (storage.h), so the second
 * barrier comes after that write. Group commit keeps both trips cheap.
 */
#include <stdlib.h>

#include "canto/module.h"
#include "canto/router.h"
#include "canto/server.h"
#include "canto/stanza.h"

struct pending_ping {
    struct canto_server *server;
    struct canto_stanza *iq;
    bool second;
};

static void barrier_done(void *ud, int rc)
{
    struct pending_ping *p = ud;
    if (!p->second) {
        p->second = true;
        canto_storage_barrier(p->server->storage, barrier_done, p);
        return;
    }
    canto_route(p->server, canto_iq_result(p->iq));
    canto_stanza_unref(p->iq);
    free(p);
}

static int ping(struct canto_module_inst *mi, struct canto_stanza *iq)
{
    struct pending_ping *p = canto_xcalloc(1, sizeof(*p));
    p->server = mi->host->server;
    p->iq = canto_stanza_ref(iq);
    canto_storage_barrier(p->server->storage, barrier_done, p);
    return CANTO_OK;
}

static const char *const ping_features[] = {"urn:xmpp:ping", NULL};
static const struct canto_xep ping_xeps[] = {
    {"XEP-0199", "XMPP Ping: answered once what the client sent before it is durable"},
    {0},
};
static const struct canto_iq_reg ping_iqs[] = {
    {"get", "urn:xmpp:ping", ping, CANTO_IQ_SERVER},
    {0},
};

const struct canto_module canto_mod_ping = {
    .name = "ping",
    .xeps = ping_xeps,
    .features = ping_features,
    .iqs = ping_iqs,
};
