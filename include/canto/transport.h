/*
 * transport.h: what a stream needs from whatever carries its bytes.
 *
 * DESIGN.md keeps three things apart: a transport moves bytes or frames,
 * a stream is the XML conversation on it, a session is what a client is
 * once bound. This is the seam between the first two. A transport (TCP and
 * TLS over TCP in net/conn.c; WebSocket and BOSH framing later) fills in a
 * const struct canto_transport_ops and embeds a struct canto_transport; a
 * stream (xmpp/c2s.c, later s2s and components) sees only this header and
 * never the socket, OpenSSL or libuv below it.
 *
 * Upward, the transport calls the stream's struct canto_transport_events
 * (data, secure, timeout, closed), set by the service that takes the new
 * transport (canto_transport_attach). Lifetime is libuv's: the transport
 * is freed only after events->closed, which is the last call the stream
 * gets; a stream may close or abort from inside any event, and then gets no
 * more data. Each call through the ops is one indirect call: no copy and no
 * allocation is added per write.
 *
 * A framed transport (WebSocket, RFC 7395) sets framed: each data event is
 * then one whole XML element (an <open/>, a stanza, a <close/>), and the
 * stream parses it in the framed mode of its parser.
 */
#ifndef CANTO_TRANSPORT_H
#define CANTO_TRANSPORT_H

#include "canto/common.h"

struct canto_transport;

/* What a transport tells the stream above it. */
struct canto_transport_events {
    /* Plaintext arrived: bytes of the stream, or one frame when framed. */
    void (*data)(struct canto_transport *t, const char *data, size_t len);
    /* A TLS handshake the stream asked for (start_tls) has finished. */
    void (*secure)(struct canto_transport *t);
    /* The idle timeout or the deadline passed (see set_timeout). */
    void (*timeout)(struct canto_transport *t);
    /* The transport is gone (peer closed, error, or our close finished);
     * reason is a short static text for logs. It is freed right after. */
    void (*closed)(struct canto_transport *t, const char *reason);
};

/* Called once everything queued before canto_transport_when_written was
 * handed to the operating system (status CANTO_OK), or when the transport
 * goes away first or is closing already (CANTO_ERROR). With nothing
 * queued it runs before when_written returns; otherwise from the loop, at
 * most once, and always before events->closed. "Written" means the peer's
 * kernel may still lose it with the connection: it is the transport's part
 * of "the client has taken it" (Stream Management acknowledgements are the
 * rest). */
typedef void (*canto_written_fn)(void *ud, int status);

/* Channel-binding types (RFC 5929, RFC 9266) as SASL names them. */
#define CANTO_CB_TLS_EXPORTER "tls-exporter"
#define CANTO_CB_TLS_SERVER_END_POINT "tls-server-end-point"
#define CANTO_CB_TLS_UNIQUE "tls-unique"

struct canto_transport_ops {
    const char *name; /* "tcp", "websocket": for logs */
    /* Queue data to the peer; never blocks. A peer that lets too much
     * queue up is cut off (the transport closes; closed follows). */
    void (*write)(struct canto_transport *t, const void *data, size_t len);
    /* Write what is queued, then close (TLS close_notify, FIN). */
    void (*close)(struct canto_transport *t, const char *reason);
    /* Close now, dropping what is queued. */
    void (*abort)(struct canto_transport *t, const char *reason);
    /* Whether the bytes travel encrypted (TLS, or wss behind a proxy that
     * the operator trusts). */
    bool (*is_secure)(const struct canto_transport *t);
    /* Begin TLS in the stream (STARTTLS): data queued before is sent in
     * the clear, nothing read in the clear after this call is delivered.
     * NULL where the transport cannot (already secure, or framed). */
    int (*start_tls)(struct canto_transport *t);
    /* Channel-binding data of type (CANTO_CB_*) into out: its length, or
     * -1 when that type is not available on this transport. With out NULL,
     * 0 if available. */
    int (*channel_binding)(const struct canto_transport *t, const char *type, unsigned char *out,
                           size_t size);
    /* The peer for logs ("192.0.2.1:40000") and its address alone
     * ("192.0.2.1", for per-address limits) into out. */
    const char *(*peer)(const struct canto_transport *t);
    void (*peer_address)(const struct canto_transport *t, char *out, size_t size);
    /* events->timeout after ms without data from the peer (0: never);
     * any byte from the peer restarts the clock. */
    void (*set_timeout)(struct canto_transport *t, uint64_t ms);
    /* events->timeout ms from now whatever the peer sends (0 cancels). */
    void (*set_deadline)(struct canto_transport *t, uint64_t ms);
    /* Bytes accepted by write and not yet handed to the system. */
    size_t (*queued)(const struct canto_transport *t);
    /* Call cb(ud, status) once everything written so far has reached the
     * system (see canto_written_fn for when, and from where). */
    void (*when_written)(struct canto_transport *t, canto_written_fn cb, void *ud);
};

struct canto_transport {
    const struct canto_transport_ops *ops;
    const struct canto_transport_events *events; /* the stream's, set by attach */
    void *ud;                                     /* the stream's */
    bool framed;                                  /* one element per data event */
};

/* Hand t to a stream: its events, with ud for canto_transport_ud. */
static inline void canto_transport_attach(struct canto_transport *t,
                                          const struct canto_transport_events *events, void *ud)
{
    t->events = events;
    t->ud = ud;
}

static inline void *canto_transport_ud(const struct canto_transport *t)
{
    return t->ud;
}

/* The calls a stream makes, one per op (see struct canto_transport_ops). */
static inline void canto_transport_write(struct canto_transport *t, const void *data, size_t len)
{
    t->ops->write(t, data, len);
}

static inline void canto_transport_close(struct canto_transport *t, const char *reason)
{
    t->ops->close(t, reason);
}

static inline void canto_transport_abort(struct canto_transport *t, const char *reason)
{
    t->ops->abort(t, reason);
}

static inline bool canto_transport_is_secure(const struct canto_transport *t)
{
    return t->ops->is_secure(t);
}

/* Whether the stream may offer STARTTLS on t. */
static inline bool canto_transport_can_start_tls(const struct canto_transport *t)
{
    return t->ops->start_tls != NULL && !t->ops->is_secure(t);
}

static inline int canto_transport_start_tls(struct canto_transport *t)
{
    return t->ops->start_tls ? t->ops->start_tls(t) : CANTO_ERROR;
}

static inline int canto_transport_channel_binding(const struct canto_transport *t,
                                                  const char *type, unsigned char *out,
                                                  size_t size)
{
    return t->ops->channel_binding ? t->ops->channel_binding(t, type, out, size) : -1;
}

static inline bool canto_transport_has_channel_binding(const struct canto_transport *t,
                                                       const char *type)
{
    return canto_transport_channel_binding(t, type, NULL, 0) >= 0;
}

static inline const char *canto_transport_peer(const struct canto_transport *t)
{
    return t->ops->peer(t);
}

static inline void canto_transport_peer_address(const struct canto_transport *t, char *out,
                                                size_t size)
{
    t->ops->peer_address(t, out, size);
}

static inline void canto_transport_set_timeout(struct canto_transport *t, uint64_t ms)
{
    t->ops->set_timeout(t, ms);
}

static inline void canto_transport_set_deadline(struct canto_transport *t, uint64_t ms)
{
    t->ops->set_deadline(t, ms);
}

static inline size_t canto_transport_queued(const struct canto_transport *t)
{
    return t->ops->queued(t);
}

static inline void canto_transport_when_written(struct canto_transport *t, canto_written_fn cb,
                                                void *ud)
{
    t->ops->when_written(t, cb, ud);
}

#endif
