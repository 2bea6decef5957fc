/*
 * c2s.h: client-to-server streams (RFC 6120) over any transport
 * (transport.h): stream header and features, STARTTLS where the transport
 * can, SASL, resource binding, then stanzas to the router. The stream
 * layer is where a client's from is stamped. The core reaches it through
 * the listener table (core/listeners.c), never directly.
 */
#ifndef CANTO_C2S_H
#define CANTO_C2S_H

#include "canto/module.h"

struct canto_server;
struct canto_listener;
struct canto_transport;

/* The XEPs the stream layer itself implements ({0}-terminated). */
extern const struct canto_xep canto_c2s_xeps[];

/* A new connection on listener l: a client stream on transport t. */
void canto_c2s_accept(struct canto_listener *l, struct canto_transport *t);
/* Give back the parser memory of every stream idle since the last call
 * (called periodically by the server). Returns how many were released. */
size_t canto_c2s_release_idle(struct canto_server *srv);
/* Close every c2s stream with a stream error (e.g. "system-shutdown"). */
void canto_c2s_close_all(struct canto_server *srv, const char *condition);

/* Written to a connection the connection caps refuse: a stream error
 * policy-violation after a stream header, RFC 6120 4.9.1.2. */
extern const char canto_c2s_refusal[];

#endif
