/*
 * ping.c: XEP-0199 XMPP Ping, answered by the server.
 *
 * The answer waits for storage: a pong means that everything the client
 * sent before its ping and that the server stored (offline messages,
 * subscription changes) is on disk. Clients that need an acknowledgement of
 * durability (and the kill -9 tests) rely on that.
 *
 * First it waits for the per-account facility (account_state.h): a stanza
 * for an account whose state is not in memory is held until what it needs
 * is read (one or two storage trips: whether the account exists, then the
 * parts), and is only then processed and its writes queued. Then two
 * storage barriers, one after the other: a write queued by the callback of
 * a read queued before the first barrier comes before the second, since a
 * barrier's callback runs only after the callbacks of everything queued
 * before it (storage.h). Group commit keeps the trips cheap.
 */
#include <stdlib.h>

#include "canto/account_state.h"
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

static void accounts_done(void *ud)
{
    struct pending_ping *p = ud;
    canto_storage_barrier(p->server->storage, barrier_done, p);
}

static int ping(struct canto_module_inst *mi, struct canto_stanza *iq)
{
    struct pending_ping *p = canto_xcalloc(1, sizeof(*p));
    p->server = mi->host->server;
    p->iq = canto_stanza_ref(iq);
    canto_accounts_barrier(p->server->accounts, accounts_done, p);
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
