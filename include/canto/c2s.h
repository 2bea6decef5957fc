/*
 * c2s.h: client-to-server streams (RFC 6120) over a TCP connection: stream
 * header and features, STARTTLS, SASL, resource binding, then stanzas to the
 * router. The stream layer is where a client's from is stamped.
 */
#ifndef CANTO_C2S_H
#define CANTO_C2S_H

#include "canto/module.h"

struct canto_server;
struct canto_listener;

/* The XEPs the stream layer itself implements ({0}-terminated). */
extern const struct canto_xep canto_c2s_xeps[];

/* Accept one pending connection on listener l. */
void canto_c2s_accept(struct canto_listener *l);
/* Give back the parser memory of every stream idle since the last call
 * (called periodically by the server). Returns how many were released. */
size_t canto_c2s_release_idle(struct canto_server *srv);
/* Close every c2s stream with a stream error (e.g. "system-shutdown"). */
void canto_c2s_close_all(struct canto_server *srv, const char *condition);

#endif
