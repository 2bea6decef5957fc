/*
 * router.h: where a stanza goes (DESIGN.md, "The life of a stanza", step 4).
 *
 * canto_route() takes a stanza whose from is trustworthy (stamped by the
 * stream layer) and whose to is present, and delivers it through the
 * destination table (router.c): to a local account by the RFC 6121 section 8
 * rules, to the server's own handlers, to a service domain, or back to the
 * sender as an error (remote domains until federation). canto_iq_send lets
 * the server ask something itself and get the answer back.
 * docs/internals/routing.md tells the whole story.
 */
#ifndef CANTO_ROUTER_H
#define CANTO_ROUTER_H

#include <stdint.h>

#include "canto/jid.h"
#include "canto/stanza.h"
#include "canto/xml.h"

struct canto_server;
struct canto_session;

/* Route st (consumes one reference). */
void canto_route(struct canto_server *srv, struct canto_stanza *st);
/* Route a stanza a local session sent (consumes one reference): the stream
 * layer stamped from; a missing to means the account or the server. */
void canto_route_from_session(struct canto_session *s, struct canto_stanza *st);
/* Answer orig (borrowed) with a stanza error of the condition's default
 * type (text optional) and route it; nothing is sent for stanzas of type
 * error (no error loops) or without a from. The one way to answer with an
 * error. */
void canto_route_error(struct canto_server *srv, const struct canto_stanza *orig,
                       enum canto_stanza_condition cond, const char *text);
/* The same with another type than the default, for callers that mean it:
 * say why in a comment where you call it. */
void canto_route_error_typed(struct canto_server *srv, const struct canto_stanza *orig,
                             enum canto_stanza_condition cond, enum canto_stanza_error_type type,
                             const char *text);

/* The server's own iqs (push, pubsub, MUC, dialback need them): at most this
 * many wait for an answer at once, each at most this long. */
#define CANTO_IQ_PENDING_MAX 4096
#define CANTO_IQ_TIMEOUT_MAX_MS 300000u

/* Called exactly once per iq sent with canto_iq_send, never from inside
 * that call: reply is the answer (type result or error; borrowed: take a
 * ref to keep it), or an error built by the server, remote-server-timeout of
 * type wait, when no answer came in time; or NULL when the server is
 * stopping (then free ud and send nothing). */
typedef void (*canto_iq_reply_fn)(void *ud, struct canto_stanza *reply);

/* Send an iq get/set the server asks (consumes one reference). iq names the
 * address asking in from (a host, a service domain, or a local account on
 * whose behalf the server asks) and the address asked in to; the server sets
 * its id and writes both addresses in their prepared form. The answer is
 * taken out of routing (it reaches no module) and given to cb.
 * timeout_ms 0 or above CANTO_IQ_TIMEOUT_MAX_MS means that maximum.
 * Returns CANTO_OK; or CANTO_INVALID (not an iq get/set with valid from and
 * to), CANTO_LIMIT (CANTO_IQ_PENDING_MAX are waiting) or CANTO_ERROR (the
 * server is stopping), and then nothing was sent and cb will not run. */
int canto_iq_send(struct canto_server *srv, struct canto_stanza *iq, uint32_t timeout_ms,
                  canto_iq_reply_fn cb, void *ud);
/* How many of the server's iqs wait for an answer (tests, metrics). */
size_t canto_iq_pending_count(const struct canto_server *srv);

#endif
