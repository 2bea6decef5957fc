/*
 * net.h: connections (TCP, optionally TLS) and listeners on libuv.
 *
 * A struct canto_conn is the TCP (and TLS over TCP) transport of
 * transport.h: streams above see only struct canto_transport, never this
 * file. TLS uses OpenSSL over a BIO of our own, so libuv stays in charge
 * of the socket. Read buffers are not per connection: each read lands in a
 * buffer owned by the worker (struct canto_net_buffers), so an idle
 * connection holds no read memory; OpenSSL's buffers are released when
 * idle (SSL_MODE_RELEASE_BUFFERS).
 *
 * A struct canto_tcp_listener accepts connections on one socket, counts
 * them against the connection caps (struct canto_conn_caps: per address
 * and in total), refuses the excess before anything else is allocated for
 * them, starts direct TLS where configured, and hands each new transport
 * to its accept callback (the service: c2s, later s2s, components, HTTP).
 *
 * Lifetime: the conn is freed only from its close callback; the transport
 * event closed is the last call the stream gets. A stream may close from
 * inside data: the rest of the data is dropped and no more events follow
 * except closed.
 */
#ifndef CANTO_NET_H
#define CANTO_NET_H

#include <openssl/ssl.h>
#include <uv.h>

#include "canto/buf.h"
#include "canto/common.h"
#include "canto/hashmap.h"
#include "canto/transport.h"

struct canto_conn;

/* What the connections of one loop share: a buffer for ciphertext off the
 * socket, one for the plaintext TLS decrypts into, and the list of
 * connections with output waiting to be written when the loop turn's reads
 * are done. */
struct canto_net_buffers {
    char read_buf[65536];
    char plain_buf[65536];
    uv_prepare_t flush;          /* writes the dirty connections' output */
    struct canto_conn *dirty;  /* connections with output this turn */
};

/* Set up bufs (heap-allocated by the caller) on loop. */
void canto_net_buffers_init(struct canto_net_buffers *bufs, uv_loop_t *loop);
/* Flush what is pending and close; bufs is freed by the close callback, so
 * the loop must run once more. */
void canto_net_buffers_close(struct canto_net_buffers *bufs);

/* --- TLS contexts -------------------------------------------------------- */

struct canto_tls;

/* One certificate to serve, and where it was configured (for errors). */
struct canto_tls_cert {
    const char *host;        /* NULL for the default (the first one) */
    const char *certificate; /* PEM chain file */
    const char *key;         /* PEM key file */
    const char *origin;      /* "FILE:LINE" of its configuration */
};

/* Contexts for every certificate (SNI picks by host; certs[0] is the
 * default). CANTO_ERROR with "FILE:LINE: tls.certificate: ..." in err when a
 * certificate or key cannot be loaded or does not match. */
int canto_tls_new(const struct canto_tls_cert *certs, size_t n, struct canto_tls **out,
                  struct canto_buf *err);
void canto_tls_free(struct canto_tls *tls);
/* The default context (SNI may switch a connection to another). */
SSL_CTX *canto_tls_default_ctx(struct canto_tls *tls);
/* The BIO method connecting OpenSSL to a connection's socket; created with
 * the contexts by canto_conn_bio_method_new (conn.c owns its behaviour). */
BIO_METHOD *canto_tls_bio_method(struct canto_tls *tls);
BIO_METHOD *canto_conn_bio_method_new(void);

/* --- connections ----------------------------------------------------------- */

struct canto_conn_limits {
    size_t read_rate;      /* bytes per second read before throttling; 0 = none */
    size_t max_send_queue; /* bytes queued to a slow reader before it is cut off */
};

/* Accept a new connection from server (a listening uv_tcp_t); tls is used
 * for STARTTLS and direct TLS (may be NULL: no TLS). Returns NULL if accept
 * failed. The transport has no events until canto_transport_attach. */
struct canto_conn *canto_conn_accept(uv_stream_t *server, struct canto_net_buffers *bufs,
                                     const struct canto_conn_limits *limits,
                                     struct canto_tls *tls);
/* The transport of transport.h that c is. */
struct canto_transport *canto_conn_transport(struct canto_conn *c);
/* Start reading (once the stream is attached). */
int canto_conn_start(struct canto_conn *c);
/* Begin a TLS handshake as server: direct TLS right after accept (the
 * transport's start_tls op does the same for STARTTLS). */
int canto_conn_start_tls(struct canto_conn *c);

/* --- connection caps and listeners ---------------------------------------------- */

/* How many connections the listeners of a server hold, per address (IPv4,
 * IPv6 per /64) and in total, against the configured caps. The counts are
 * taken at accept and given back when the connection is freed. */
struct canto_conn_caps {
    size_t total;              /* most connections at once (0: no cap) */
    size_t per_address;        /* most from one address (0: no cap) */
    bool exempt_loopback;      /* loopback addresses have no per-address cap */
    size_t count;              /* connections held now */
    size_t refusing;           /* refused connections still closing */
    uint64_t refusal_logged;   /* when (ms) a refusal was last logged */
    size_t refusals_unlogged;  /* refusals since then, not logged one by one */
    struct canto_hashmap by_address; /* address key -> its count (one entry per address) */
};

void canto_conn_caps_init(struct canto_conn_caps *caps, size_t total, size_t per_address,
                          bool exempt_loopback);
/* Only once every connection is freed. */
void canto_conn_caps_free(struct canto_conn_caps *caps);

struct canto_tcp_listener;

/* A new connection for the service: attach the stream to t (see
 * transport.h); reading starts when this returns. */
typedef void (*canto_accept_fn)(void *ud, struct canto_transport *t);

struct canto_tcp_listener_options {
    const char *address;            /* IPv4 or IPv6 literal */
    int port;
    bool direct_tls;                /* TLS from the first byte */
    struct canto_tls *tls;          /* contexts for direct TLS and STARTTLS, or NULL */
    struct canto_net_buffers *bufs;
    const struct canto_conn_limits *limits;
    struct canto_conn_caps *caps;   /* shared by the server's listeners */
    /* Written to a connection refused by a cap before it is closed (the
     * service's own "go away", a stream error for XMPP); not on direct TLS,
     * where nothing can be said before a handshake we do not want to pay. */
    const char *refusal;
    canto_accept_fn accept;
    void *ud;
};

/* Listen. CANTO_OK, or a libuv error code (negative) with nothing left open. */
int canto_tcp_listener_open(uv_loop_t *loop, const struct canto_tcp_listener_options *opts,
                            struct canto_tcp_listener **out);
/* Stop accepting; done (may be NULL) is called when the socket is closed
 * and the listener freed. */
void canto_tcp_listener_close(struct canto_tcp_listener *l, void (*done)(void *ud), void *ud);

/* Channel binding data for SCRAM-PLUS: "tls-exporter" (RFC 9266),
 * "tls-server-end-point" or "tls-unique" (RFC 5929). Returns the length written to out, or
 * -1 when that type is not available on this connection. */
int canto_tls_channel_binding(SSL *ssl, const char *type, unsigned char *out, size_t out_size);
/* Whether tls-unique (RFC 5929) is offered: TLS 1.3, where it is the
 * client's Finished message that older clients (slixmpp, libstrophe on 1.3)
 * bind to, or TLS 1.2 with extended master secret. */
bool canto_tls_unique_available(SSL *ssl);
/* Whether tls-exporter is safe on this connection (TLS 1.3, or 1.2 with
 * extended master secret). */
bool canto_tls_exporter_available(SSL *ssl);

#endif
