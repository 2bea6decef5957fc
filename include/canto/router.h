/*
 * router.h: where a stanza goes (DESIGN.md, "The life of a stanza", step 4).
 *
 * canto_route() takes a stanza whose from is trustworthy (stamped by the
 * stream layer) and whose to is present, and delivers it: to the server's own
 * handlers, to a local account by the RFC 6121 section 8 rules, or back to
 * the sender as an error (unknown users, remote domains until federation).
 */
#ifndef CANTO_ROUTER_H
#define CANTO_ROUTER_H

#include "canto/jid.h"
#include "canto/xml.h"

struct canto_server;
struct canto_session;

/* Route st (consumes one reference). */
void canto_route(struct canto_server *srv, struct canto_stanza *st);
/* For iq handlers of the account scope whose data is the owner's alone
 * (roster, private storage, vCard writes): true with the account the iq is
 * about (canto_iq_account; free it) if its sender owns it; otherwise iq is
 * answered forbidden (with text, which may be NULL) and false returned. */
bool canto_iq_owner_account(struct canto_server *srv, const struct canto_stanza *iq,
                            const char *text, struct canto_jid *account);
/* Route a stanza a local session sent (consumes one reference): the stream
 * layer stamped from; a missing to means the account or the server. */
void canto_route_from_session(struct canto_session *s, struct canto_stanza *st);
/* Answer orig (borrowed) with a stanza error and route it; nothing is sent
 * for stanzas of type error (no error loops). */
void canto_route_error(struct canto_server *srv, const struct canto_stanza *orig,
                       const char *type, const char *condition, const char *text);

#endif
