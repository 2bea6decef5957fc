/*
 * c2s_internal.h: the client stream's state, shared by the files of the c2s
 * stream machinery (c2s.c: connection, stream and stanzas; c2s_sasl.c:
 * authentication; c2s_bind.c: resource binding). Nothing outside src/xmpp
 * includes it.
 */
#ifndef CANTO_XMPP_C2S_INTERNAL_H
#define CANTO_XMPP_C2S_INTERNAL_H

#include "canto/c2s.h"
#include "canto/jid.h"
#include "canto/scram.h"
#include "canto/stream.h"
#include "canto/xml.h"

#define CANTO_NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define CANTO_NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define CANTO_NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define CANTO_NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"
#define CANTO_NS_SASL_CB "urn:xmpp:sasl-cb:0"

#define C2S_MAX_SASL_FAILURES 5
#define C2S_MAX_WAITING 32        /* stanzas sent before the bind result, kept */

enum c2s_state {
    C2S_WAIT_HEADER, /* waiting for the client's stream header */
    C2S_PREAUTH,     /* features sent; STARTTLS and SASL allowed */
    C2S_AUTHED,      /* SASL done; bind expected */
    C2S_BINDING,     /* bound, modules still preparing (holds): stanzas wait */
    C2S_BOUND,       /* a resource is bound: stanzas flow */
    C2S_CLOSED,      /* stream closed; waiting for the connection to go */
};

struct c2s_sasl; /* an authentication in progress (c2s_sasl.c) */

struct canto_c2s {
    struct canto_session *sess;       /* the client's session (one reference; the core's) */
    struct canto_stream stream;       /* the XML stream and its transport */
    struct canto_c2s_service *svc;    /* the core's services, the list of streams */
    struct canto_host *host;          /* the host addressed (the core's), once known */
    struct canto_c2s *prev, *next;    /* svc->streams */
    struct c2s_sasl *sasl;            /* only during SASL */
    struct canto_stanza *bind_result; /* C2S_BINDING: the answer to send when ready */
    struct canto_stanza **waiting;    /* C2S_BINDING: stanzas that came meanwhile */
    uint8_t nwaiting;
    char *authed_local;               /* localpart after SASL success */
    enum c2s_state state;
    int refs;                         /* pending async work + 1 for the connection */
    unsigned sasl_failures;
    bool tls_required;                /* SASL only on a secure transport */
};

/* c2s.c */
/* A stanza of a bound session: stamp from, check, route. */
void c2s_handle_bound_stanza(struct canto_c2s *c, struct canto_stanza *st);
void c2s_send_str(struct canto_c2s *c, const char *s);
void c2s_send_stanza(struct canto_c2s *c, struct canto_stanza *st);
/* Stream error, closing tag, close: the end of this stream. */
void c2s_stream_error(struct canto_c2s *c, const char *condition, const char *text);
/* The stream restarts (after STARTTLS or SASL success): the parser starts
 * over, at once or, from inside a parser callback, when the feed returns. */
void c2s_restart(struct canto_c2s *c);
void c2s_ref(struct canto_c2s *c);
/* Drop a reference; returns true if c is still usable (not closed). */
bool c2s_unref(struct canto_c2s *c);

/* c2s_sasl.c */
void c2s_sasl_features(struct canto_c2s *c, struct canto_buf *out);
void c2s_sasl_handle(struct canto_c2s *c, struct canto_stanza *st);
void c2s_sasl_free(struct canto_c2s *c);

/* c2s_bind.c */
void c2s_bind_features(struct canto_c2s *c, struct canto_buf *out);
/* An iq before or at binding; returns true if it was bind or session. */
bool c2s_bind_handle(struct canto_c2s *c, struct canto_stanza *st);
/* Every hold is released: answer the bind, run the stanzas that waited. */
void c2s_bind_ready(struct canto_c2s *c);
/* Drop what a binding in progress keeps (on close). */
void c2s_bind_free(struct canto_c2s *c);

#endif
