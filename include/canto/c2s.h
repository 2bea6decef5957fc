/*
 * c2s.h: client-to-server streams (RFC 6120) over any transport
 * (transport.h): stream header and features, STARTTLS where the transport
 * can, SASL, resource binding, then stanzas to the router. The stream
 * layer is where a client's from is stamped.
 *
 * The stream layer sits below the core (DESIGN.md), so it declares here
 * what it needs from above, struct canto_c2s_core_ops, and the core fills
 * it in when it sets up the c2s service (core/c2s_core.c), the way a
 * transport fills struct canto_transport_ops for the stream above it. A
 * session, a host and the server are opaque here: c2s holds pointers to
 * them and hands them back to the ops, never looks inside. The other way,
 * the core's session reaches its stream through the canto_c2s_* functions
 * at the end of this file.
 */
#ifndef CANTO_C2S_H
#define CANTO_C2S_H

#include <uv.h>

#include "canto/buf.h"
#include "canto/transport.h"
#include "canto/xep.h"
#include "canto/xml.h"

struct canto_c2s;
struct canto_host;    /* a served domain (the core's) */
struct canto_session; /* what a client is once bound (the core's) */
struct canto_storage;

/* What a c2s stream asks of the core. core is the service's core pointer. */
struct canto_c2s_core_ops {
    /* The host a client addresses: the one of this prepared domain, or the
     * default host when domain is NULL; NULL if it is not served here. */
    struct canto_host *(*host)(void *core, const char *domain);
    const char *(*host_name)(const struct canto_host *h);
    /* A session for a new stream c (not bound, no host yet; one reference
     * for the stream). */
    struct canto_session *(*session_new)(void *core, struct canto_c2s *c);
    /* The host the session's stream addressed (set once, at its header). */
    void (*session_set_host)(struct canto_session *s, struct canto_host *h);
    /* The session's full JID once bound, else NULL. */
    const char *(*session_jid)(const struct canto_session *s);
    /* Bind local@host/resource (prepared); a session on that full JID is
     * replaced (it gets conflict). */
    void (*session_bind)(struct canto_session *s, const char *local, const char *resource);
    /* Tell the modules the session is bound; canto_c2s_ready follows when
     * the last of them is ready (at once, or later). */
    void (*session_bound)(struct canto_session *s);
    /* The stream is over: the session ends now. */
    void (*session_end)(struct canto_session *s);
    /* The transport is gone: the session is detached from its stream and
     * kept linger_ms with up to max_waiting stanzas (0, 0: it ends now). */
    void (*session_detach)(struct canto_session *s, uint64_t linger_ms, size_t max_waiting);
    /* Drop the stream's reference. */
    void (*session_unref)(struct canto_session *s);
    /* Send through the session's outbound point (borrowed). */
    void (*session_send)(struct canto_session *s, struct canto_stanza *st);
    /* A stanza the bound session sent, from stamped (consumes a reference). */
    void (*route)(struct canto_session *s, struct canto_stanza *st);
    /* An iq before authentication (from removed): true if a module took
     * it (in-band registration). */
    bool (*preauth_iq)(struct canto_session *s, struct canto_stanza *st);
    /* The features of the core and its modules for s's stream, after ours
     * (entity caps, registration ...), before or after authentication. */
    void (*features)(struct canto_session *s, bool authed, struct canto_buf *out);
    /* A fresh random token (hex, out of size >= 17): generated resources. */
    void (*new_id)(void *core, char *out, size_t size);
    /* Run work on the thread pool, then after on the loop (PLAIN checks);
     * 0 or a libuv error (nothing queued). */
    int (*queue_work)(void *core, uv_work_t *w, uv_work_cb work, uv_after_work_cb after);
};

/* The limits every c2s stream of a server keeps. */
struct canto_c2s_limits {
    struct canto_xml_limits xml;  /* stanza size, depth, attributes */
    uint64_t connect_timeout_ms;  /* to authenticate */
    uint64_t idle_timeout_ms;     /* without a byte from the peer, once authenticated */
};

/* The c2s service of one server: what the core gives every c2s stream,
 * and the streams themselves. */
struct canto_c2s_service {
    const struct canto_c2s_core_ops *ops;
    void *core;                          /* handed back to the ops */
    struct canto_c2s_limits limits;
    struct canto_storage *storage;       /* account credentials (SASL) */
    const unsigned char *fake_secret;    /* SCRAM salts for unknown accounts */
    size_t fake_secret_len;
    struct canto_xml_scratch *scratch;   /* serialisation of outgoing stanzas
                                          * (canto_stanza_serialized) */
    struct canto_c2s *streams;           /* every open stream (sweep, shutdown) */
};

/* The XEPs the stream layer itself implements ({0}-terminated). */
extern const struct canto_xep canto_c2s_xeps[];

/* Written to a connection the connection caps refuse: a stream error
 * policy-violation after a stream header, RFC 6120 4.9.1.2. */
extern const char canto_c2s_refusal[];

/* A new connection: a client stream on transport t. tls_required: SASL
 * only once the transport is secure (STARTTLS first where it can). */
void canto_c2s_accept(struct canto_c2s_service *svc, struct canto_transport *t,
                      bool tls_required);
/* Give back the parser memory of every stream idle since the last call
 * (called periodically by the server). Returns how many were released. */
size_t canto_c2s_release_idle(struct canto_c2s_service *svc);
/* Close every c2s stream with a stream error (e.g. "system-shutdown"). */
void canto_c2s_close_all(struct canto_c2s_service *svc, const char *condition);

/* What the session of a c2s stream calls (its session ops, core side). */
/* Write a stanza (borrowed) to the client. */
void canto_c2s_send(struct canto_c2s *c, struct canto_stanza *st);
/* End the stream with a stream error. */
void canto_c2s_close(struct canto_c2s *c, const char *condition, const char *text);
/* Every hold on the just-bound session is released: answer the bind. */
void canto_c2s_ready(struct canto_c2s *c);
/* The client's address (no port) into out. */
void canto_c2s_peer_address(const struct canto_c2s *c, char *out, size_t size);
/* cb(ud, status) once what was written so far reached the system. */
void canto_c2s_when_written(struct canto_c2s *c, canto_written_fn cb, void *ud);

#endif
