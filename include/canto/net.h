/*
 * net.h: connections (TCP, optionally TLS) and listeners on libuv.
 *
 * A struct canto_conn is a transport: bytes in, bytes out, TLS below, a
 * protocol (c2s stream, later s2s, WebSocket...) above through the ops
 * callbacks. TLS uses OpenSSL over a BIO of our own, so libuv stays in charge
 * of the socket. Read buffers are not per connection: each read lands in a buffer
 * owned by the worker (struct canto_net_buffers), so an idle connection holds
 * no read memory; OpenSSL's buffers are released when idle
 * (SSL_MODE_RELEASE_BUFFERS).
 *
 * Lifetime: the conn is freed only from its close callback; ops->on_close is
 * the last call the protocol gets. A protocol may call canto_conn_close()
 * from inside on_data: the rest of the data is dropped and no more callbacks
 * follow except on_close. Callers that call out and then touch the conn again
 * re-check canto_conn_is_closing().
 */
#ifndef CANTO_NET_H
#define CANTO_NET_H

#include <openssl/ssl.h>
#include <uv.h>

#include "canto/buf.h"
#include "canto/common.h"

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

struct canto_conn_ops {
    /* Plaintext arrived. */
    void (*on_data)(struct canto_conn *c, const char *data, size_t len);
    /* The TLS handshake finished (STARTTLS or direct). */
    void (*on_tls_ready)(struct canto_conn *c);
    /* The peer sent nothing for the idle timeout (see canto_conn_set_timeout). */
    void (*on_timeout)(struct canto_conn *c);
    /* The connection is gone (peer closed, error, or our close finished).
     * reason is a short text for logs. The conn is freed right after. */
    void (*on_close)(struct canto_conn *c, const char *reason);
};

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

/* Accept a new connection from server (a listening uv_tcp_t). Returns NULL if
 * accept failed. ops/ud belong to the protocol above. */
struct canto_conn *canto_conn_accept(uv_stream_t *server, struct canto_net_buffers *bufs,
                                     const struct canto_conn_limits *limits,
                                     const struct canto_conn_ops *ops, void *ud);
void *canto_conn_ud(const struct canto_conn *c);
/* Start reading (after the protocol is ready for on_data). */
int canto_conn_start(struct canto_conn *c);
/* Begin a TLS handshake as server: STARTTLS, or direct TLS right after accept.
 * Plaintext already buffered is discarded. */
int canto_conn_start_tls(struct canto_conn *c, struct canto_tls *tls);
bool canto_conn_is_tls(const struct canto_conn *c);
/* The SSL object once TLS is up (channel binding, version), else NULL. */
SSL *canto_conn_ssl(const struct canto_conn *c);
/* Queue data to the peer (encrypted if TLS is up). Never blocks; it is
 * written when the loop has handled this turn's reads, together with
 * everything else queued for this peer in the same turn. If the queue grows
 * past max_send_queue the connection is closed ("send queue full"). */
void canto_conn_write(struct canto_conn *c, const void *data, size_t len);
/* Call cb(ud, CANTO_OK) once every byte queued on c so far has been handed
 * to the kernel (the uv_write of it completed), or cb(ud, CANTO_ERROR) if
 * the connection closes before that (dropped, aborted, send queue full) or
 * is closing already. With nothing waiting, cb runs before this returns;
 * otherwise from the loop, at most once, and always before ops->on_close.
 * "Written" means the peer's kernel may still lose it with the connection:
 * it is the transport's part of "the client has taken it" (Stream
 * Management acknowledgements are the rest). */
typedef void (*canto_conn_written_fn)(void *ud, int status);
void canto_conn_when_written(struct canto_conn *c, canto_conn_written_fn cb, void *ud);
/* Write what is queued, then close (TLS close_notify, TCP FIN). */
void canto_conn_close(struct canto_conn *c, const char *reason);
/* Close now, dropping what is queued. */
void canto_conn_abort(struct canto_conn *c, const char *reason);
bool canto_conn_is_closing(const struct canto_conn *c);
/* Call ops->on_timeout after ms without data from the peer (0 disables).
 * Any received byte restarts the clock. */
void canto_conn_set_timeout(struct canto_conn *c, uint64_t ms);
/* Call ops->on_timeout ms from now whatever the peer sends (0 cancels):
 * the time allowed to authenticate. */
void canto_conn_set_deadline(struct canto_conn *c, uint64_t ms);
/* Peer address as text ("127.0.0.1:40000"), for logs and per-IP limits. */
const char *canto_conn_peer(const struct canto_conn *c);
/* Bytes waiting to be written. */
size_t canto_conn_queued(const struct canto_conn *c);

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
