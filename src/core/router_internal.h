/*
 * core/router_internal.h: the router's pieces shared inside core (the
 * destination table in router.c, account delivery in route_account.c, the
 * server's own iqs in iq_pending.c). Not for modules.
 */
#ifndef CANTO_CORE_ROUTER_INTERNAL_H
#define CANTO_CORE_ROUTER_INTERNAL_H

#include "canto/jid.h"
#include "canto/server.h"
#include "canto/xml.h"

/* The kinds of destination; each has one function in router.c's table. */
enum canto_destination {
    CANTO_DEST_ACCOUNT, /* a local account, bare or full JID */
    CANTO_DEST_HOST,    /* a served host itself */
    CANTO_DEST_SERVICE, /* a domain run by a module or component */
    CANTO_DEST_REMOTE,  /* any other domain */
    CANTO_DEST_COUNT
};

/* Where one prepared address goes. */
struct canto_route_target {
    enum canto_destination kind;
    const struct canto_jid *to;               /* the prepared address (borrowed) */
    struct canto_host *host;                  /* ACCOUNT, HOST: the served host */
    struct canto_domain_service *service;     /* SERVICE */
};

/* Classify a prepared address (to stays borrowed by t). */
void canto_route_classify(struct canto_server *srv, const struct canto_jid *to,
                          struct canto_route_target *t);
/* The table's name for a kind ("account", "host", ...). */
const char *canto_destination_name(enum canto_destination kind);

/* The hand-off point: deliver st (borrowed) to the local account of h that
 * to names (bare or full), by the RFC 6121 section 8 rules, after the
 * STANZA_IN filters. Later the account's shard or cluster node runs it. */
void canto_route_to_account(struct canto_host *h, struct canto_stanza *st,
                            const struct canto_jid *to);
/* An iq get/set the server answers on behalf of an account (its bare JID);
 * from_owner: the account's own session asked with no to or its own bare
 * JID, which may also mean the server itself (ping, version, disco). */
void canto_account_iq(struct canto_host *h, struct canto_stanza *st, bool from_owner);

/* If st is the answer to one of the server's own pending iqs (an iq result
 * or error with its id, from the address asked and to the address that
 * asked), hand it to the waiting callback and return true (st stays
 * borrowed). Otherwise false. */
bool canto_iq_pending_answer(struct canto_server *srv, struct canto_stanza *st,
                             const struct canto_jid *to);

/* The server's table of pending iqs (iq_pending.c): made in
 * canto_server_init; closed at stop (every waiting callback gets NULL, while
 * the modules still exist; later sends fail). Close is idempotent; the
 * memory goes when the loop runs the timer's close callback. */
void canto_iq_table_init(struct canto_server *srv);
void canto_iq_table_close(struct canto_server *srv);

#endif
