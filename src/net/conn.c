/*
 * conn.c: one TCP connection, optionally TLS, on libuv.
 *
 * Reads land in the worker's shared buffer (no per-connection read memory);
 * with TLS, OpenSSL reads that ciphertext directly through a BIO of our own
 * and decrypts into the shared plaintext buffer, and what it encrypts goes
 * straight to the socket through the same BIO. Writes first try
 * uv_try_write, so the common case copies nothing beyond encryption; only
 * what the kernel does not take is copied into a write request.
 *
 * A protocol that must know when its output has really left (offline
 * messages are deleted only then) asks the transport's when_written: a waiter
 * remembers how many bytes had been accepted when it asked and is told once
 * the kernel has taken that many, or that the connection died first.
 *
 * One timer per connection serves both the idle timeout and the end of read
 * throttling. The idle deadline is checked lazily: a read only records the
 * time, and the timer re-arms itself for the remainder when it fires early.
 *
 * Close protocol: close flushes and half-closes (uv_shutdown), abort
 * closes at once; either way the tcp and timer handles are closed, and when
 * both close callbacks have run the stream's closed event is called once
 * and the memory is freed.
 *
 * This file is the TCP transport of transport.h: the streams above reach
 * it only through tcp_ops.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>

#include "canto/log.h"
#include "net/net_internal.h"

#define CLOSE_GRACE_MS 5000 /* how long a closing connection waits for the peer (flush, then its FIN) */

struct canto_conn {
    struct canto_transport base; /* what the stream sees */
    uv_tcp_t tcp;
    uv_timer_t timer;
    struct canto_net_buffers *bufs;
    struct canto_tls *tls;    /* contexts for STARTTLS / direct TLS, or NULL */
    struct canto_conn_slot *slot; /* its count in the connection caps, or NULL */
    SSL *ssl;                 /* NULL until TLS starts */
    const char *tls_in;       /* ciphertext read but not yet taken by OpenSSL */
    size_t tls_in_len;
    struct canto_buf out;     /* output of this loop turn, not yet given to the socket */
    struct canto_conn *dirty_prev, *dirty_next; /* in bufs->dirty while out is non-empty */
    bool dirty;
    size_t queued;            /* bytes in pending uv_write requests */
    size_t max_queue;         /* cut-off for slow readers */
    size_t read_rate;         /* bytes/s, 0 = unlimited */
    int64_t tokens;           /* read budget (token bucket, 1 s burst) */
    uint64_t refill_at;       /* last time tokens were refilled (ms) */
    uint64_t resume_at;       /* when a throttled read resumes (ms), 0 = not throttled */
    uint64_t timeout_ms;      /* idle timeout, 0 = none */
    uint64_t deadline;        /* absolute time (ms) for on_timeout, 0 = none */
    uint64_t last_read;       /* ms of the last byte from the peer */
    uint64_t close_deadline;  /* ms by which a graceful close must be done */
    const char *close_reason; /* static text given to on_close */
    uint8_t open_handles;     /* tcp and timer still to close */
    bool closing;             /* close or abort started */
    bool handles_closing;     /* uv_close called */
    bool reading;             /* uv_read_start active */
    bool tls_ready;           /* handshake complete */
    bool written_due;         /* waiters to tell from the timer (see flush_out) */
    uint64_t accepted;        /* bytes ever taken for the socket (after TLS): those
                               * not in out nor queued are written */
    struct written_waiter *waiters; /* when_written, oldest first */
    char peer[INET6_ADDRSTRLEN + 8];
};

/* Someone waiting for the bytes queued before it to reach the kernel. */
struct written_waiter {
    uint64_t target;              /* c->accepted when it started waiting */
    canto_written_fn cb;
    void *ud;
    struct written_waiter *next;
};

struct write_req {
    uv_write_t req;
    struct canto_conn *conn;
    size_t len;
    char *data; /* owned: the connection's output buffer, handed over */
};

static void close_handles(struct canto_conn *c);
static void schedule_timer(struct canto_conn *c);
static void conn_abort(struct canto_conn *c, const char *reason);

struct canto_transport *canto_conn_transport(struct canto_conn *c)
{
    return &c->base;
}

static struct canto_conn *conn_of(const struct canto_transport *t)
{
    return canto_container_of(t, struct canto_conn, base);
}

static void dirty_unlink(struct canto_conn *c)
{
    if (!c->dirty)
        return;
    if (c->dirty_prev)
        c->dirty_prev->dirty_next = c->dirty_next;
    else
        c->bufs->dirty = c->dirty_next;
    if (c->dirty_next)
        c->dirty_next->dirty_prev = c->dirty_prev;
    c->dirty_prev = c->dirty_next = NULL;
    c->dirty = false;
}

/* Tell the waiters whose bytes have all been written. A callback may
 * write to, close or abort c (never free it: that happens only from the
 * close callback), so the list is re-read after each call. */
static void notify_written(struct canto_conn *c)
{
    while (c->waiters && c->waiters->target <= c->accepted - c->queued - c->out.len) {
        struct written_waiter *w = c->waiters;
        c->waiters = w->next;
        w->cb(w->ud, CANTO_OK);
        free(w);
    }
}

/* The connection is gone: whatever was still waiting will never be
 * written. */
static void fail_waiters(struct canto_conn *c)
{
    while (c->waiters) {
        struct written_waiter *w = c->waiters;
        c->waiters = w->next;
        w->cb(w->ud, CANTO_ERROR);
        free(w);
    }
}

static void conn_when_written(struct canto_conn *c, canto_written_fn cb, void *ud)
{
    /* A closing connection drops what it is given, so nothing asked about
     * now can be known to have been written. */
    if (c->closing) {
        cb(ud, CANTO_ERROR);
        return;
    }
    if (c->queued == 0 && c->out.len == 0) {
        cb(ud, CANTO_OK);
        return;
    }
    struct written_waiter *w = canto_xmalloc(sizeof(*w));
    *w = (struct written_waiter){.target = c->accepted, .cb = cb, .ud = ud};
    /* Appended at the end (a walk: a connection has a waiter or two), so
     * that they are told in the order they asked. */
    struct written_waiter **tail = &c->waiters;
    while (*tail)
        tail = &(*tail)->next;
    *tail = w;
}

static void handle_closed(uv_handle_t *h)
{
    struct canto_conn *c = h->data;
    if (--c->open_handles > 0)
        return;
    fail_waiters(c);
    c->base.events->closed(&c->base, c->close_reason ? c->close_reason : "closed");
    canto_conn_caps_release(c->slot);
    dirty_unlink(c);
    canto_buf_free(&c->out);
    SSL_free(c->ssl);
    free(c);
}

static void close_handles(struct canto_conn *c)
{
    if (c->handles_closing)
        return;
    c->handles_closing = true;
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, handle_closed);
    uv_close((uv_handle_t *)&c->timer, handle_closed);
}

static void conn_abort(struct canto_conn *c, const char *reason)
{
    if (!c->close_reason)
        c->close_reason = reason;
    close_handles(c);
}

static void write_done(uv_write_t *req, int status)
{
    struct write_req *w = canto_container_of(req, struct write_req, req);
    struct canto_conn *c = w->conn;
    size_t len = w->len;
    c->queued -= len;
    free(w->data);
    free(w);
    if (status < 0) {
        if (status != UV_ECANCELED)
            conn_abort(c, "write failed");
        return; /* its waiters fail when the connection closes */
    }
    notify_written(c);
}

/* Give this turn's output to the socket: a direct write first, and what
 * the kernel did not take goes into a write request that owns the buffer
 * (no copy). The connection holds no output memory afterwards. */
static void flush_out(struct canto_conn *c)
{
    dirty_unlink(c);
    if (c->handles_closing || c->out.len == 0) {
        canto_buf_free(&c->out);
        return;
    }
    size_t off = 0;
    if (c->queued == 0) {
        uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
        int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (n > 0) {
            off = (size_t)n;
        } else if (n != UV_EAGAIN && n != UV_ENOSYS) {
            canto_buf_free(&c->out);
            conn_abort(c, "write failed");
            return;
        }
    }
    size_t len = c->out.len - off;
    if (len == 0) {
        canto_buf_free(&c->out);
        if (c->waiters) {
            /* Not told from here: this runs in the loop's prepare phase,
             * after other prepare handles (storage hands its requests
             * over in one) may have run, so what the waiters queue could
             * wait for the next wake-up. The timer, due at once, tells
             * them at the start of the next turn instead. */
            c->written_due = true;
            schedule_timer(c);
        }
        return;
    }
    if (c->queued + len > c->max_queue) {
        canto_info("%s: send queue over %zu bytes, disconnecting a peer that does not read",
                   c->peer, c->max_queue);
        canto_buf_free(&c->out);
        conn_abort(c, "send queue full");
        return;
    }
    if (off > 0)
        canto_buf_consume(&c->out, off);
    struct write_req *w = canto_xmalloc(sizeof(*w));
    w->conn = c;
    w->len = len;
    w->data = canto_buf_steal(&c->out);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_done) < 0) {
        free(w->data);
        free(w);
        conn_abort(c, "write failed");
        return;
    }
    c->queued += len;
}

/* Queue raw bytes for the socket. They go out when the loop has handled
 * every read of this turn (canto_net_flush), so that all the stanzas a
 * turn produces for one peer leave in one system call. */
static void send_raw(struct canto_conn *c, const char *data, size_t len)
{
    if (c->handles_closing || len == 0)
        return;
    if (c->queued + c->out.len + len > c->max_queue) {
        canto_info("%s: send queue over %zu bytes, disconnecting a peer that does not read",
                   c->peer, c->max_queue);
        canto_buf_free(&c->out);
        conn_abort(c, "send queue full");
        return;
    }
    canto_buf_append(&c->out, data, len);
    c->accepted += len;
    if (!c->dirty) {
        c->dirty = true;
        c->dirty_prev = NULL;
        c->dirty_next = c->bufs->dirty;
        if (c->dirty_next)
            c->dirty_next->dirty_prev = c;
        c->bufs->dirty = c;
    }
}

static void on_flush(uv_prepare_t *h)
{
    struct canto_net_buffers *bufs = canto_container_of(h, struct canto_net_buffers, flush);
    while (bufs->dirty)
        flush_out(bufs->dirty);
}

void canto_net_buffers_init(struct canto_net_buffers *bufs, uv_loop_t *loop)
{
    bufs->dirty = NULL;
    uv_prepare_init(loop, &bufs->flush);
    /* Before the loop waits for I/O again: every read, timer, wake-up and
     * close callback of the turn has run, so this catches all output. */
    uv_prepare_start(&bufs->flush, on_flush);
    /* It must not keep a loop alive by itself. */
    uv_unref((uv_handle_t *)&bufs->flush);
}

static void free_bufs(uv_handle_t *h)
{
    free(canto_container_of((uv_prepare_t *)h, struct canto_net_buffers, flush));
}

void canto_net_buffers_close(struct canto_net_buffers *bufs)
{
    while (bufs->dirty)
        flush_out(bufs->dirty);
    uv_close((uv_handle_t *)&bufs->flush, free_bufs);
}

/* The BIO between OpenSSL and the socket. Instead of memory BIOs (which
 * keep their high-water buffer per connection and cost a copy each way),
 * OpenSSL reads ciphertext straight from the read buffer being processed
 * and writes it straight to the socket (send_raw copies only what the
 * kernel does not take at once). */
static int bio_read(BIO *b, char *out, int size)
{
    struct canto_conn *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (c->tls_in_len == 0) {
        BIO_set_retry_read(b);
        return -1;
    }
    size_t n = (size_t)size < c->tls_in_len ? (size_t)size : c->tls_in_len;
    memcpy(out, c->tls_in, n);
    c->tls_in += n;
    c->tls_in_len -= n;
    return (int)n;
}

static int bio_write(BIO *b, const char *data, int len)
{
    struct canto_conn *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    send_raw(c, data, (size_t)len);
    return len;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

BIO_METHOD *canto_conn_bio_method_new(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "canto-conn");
    if (!m)
        return NULL;
    BIO_meth_set_read(m, bio_read);
    BIO_meth_set_write(m, bio_write);
    BIO_meth_set_ctrl(m, bio_ctrl);
    BIO_meth_set_create(m, bio_create);
    return m;
}

static void conn_write(struct canto_conn *c, const void *data, size_t len)
{
    if (c->closing || len == 0)
        return;
    if (!c->ssl) {
        send_raw(c, data, len);
        return;
    }
    if (!c->tls_ready)
        return; /* nothing may be written in the clear once TLS started */
    /* Partial writes are on (one record at a time), and our BIO never
     * blocks: loop until every byte is in a record. */
    const char *p = data;
    while (len > 0 && !c->handles_closing) {
        int n = SSL_write(c->ssl, p, len > INT_MAX ? INT_MAX : (int)len);
        if (n <= 0) {
            ERR_clear_error();
            conn_abort(c, "TLS write failed");
            return;
        }
        p += n;
        len -= (size_t)n;
    }
}

/* Our FIN is out. The socket stays open, reading and discarding, until the
 * peer closes too or the grace time ends: closing a socket with unread data
 * makes the kernel send a reset, which can destroy the stream error we just
 * wrote before the peer reads it (a "lingering close"). */
static void shutdown_done(uv_shutdown_t *req, int status)
{
    struct canto_conn *c = req->data;
    free(req);
    if (status < 0 || !c->reading)
        close_handles(c);
}

static void conn_close(struct canto_conn *c, const char *reason)
{
    if (c->closing)
        return;
    c->closing = true;
    c->close_reason = reason;
    if (c->ssl && c->tls_ready) {
        SSL_shutdown(c->ssl);
        ERR_clear_error();
    }
    flush_out(c); /* what is queued goes before the FIN */
    if (c->handles_closing)
        return;
    uv_shutdown_t *req = canto_xmalloc(sizeof(*req));
    req->data = c;
    if (uv_shutdown(req, (uv_stream_t *)&c->tcp, shutdown_done) < 0) {
        free(req);
        close_handles(c);
        return;
    }
    /* A peer that never reads must not keep the connection forever. */
    c->close_deadline = uv_now(c->timer.loop) + CLOSE_GRACE_MS;
    schedule_timer(c);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct canto_conn *c = h->data;
    buf->base = c->bufs->read_buf;
    buf->len = sizeof c->bufs->read_buf;
    /* A rate-limited peer reads no more than its budget at once (at least
     * 1 KiB), so that one read cannot overdraw it by a whole buffer. */
    if (c->read_rate && c->tokens < (int64_t)buf->len)
        buf->len = c->tokens > 1024 ? (size_t)c->tokens : 1024;
}

/* Drive the handshake and hand every decrypted byte up. */
static void tls_input(struct canto_conn *c, const char *data, size_t len)
{
    c->tls_in = data;
    c->tls_in_len = len;
    if (!c->tls_ready) {
        int rc = SSL_do_handshake(c->ssl);
        if (rc != 1) {
            int err = SSL_get_error(c->ssl, rc);
            if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
                goto done;
            unsigned long e = ERR_peek_error();
            canto_info("%s: TLS handshake failed: %s", c->peer,
                       e ? ERR_reason_error_string(e) : "connection error");
            ERR_clear_error();
            conn_abort(c, "TLS handshake failed");
            goto done;
        }
        c->tls_ready = true;
        if (c->base.events->secure)
            c->base.events->secure(&c->base);
        if (c->closing)
            goto done;
    }
    for (;;) {
        int n = SSL_read(c->ssl, c->bufs->plain_buf, (int)sizeof c->bufs->plain_buf);
        if (n > 0) {
            c->base.events->data(&c->base, c->bufs->plain_buf, (size_t)n);
            if (c->closing)
                goto done;
            continue;
        }
        int err = SSL_get_error(c->ssl, n);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
            goto done;
        ERR_clear_error();
        conn_abort(c, err == SSL_ERROR_ZERO_RETURN ? "peer closed TLS" : "TLS error");
        goto done;
    }
done:
    /* The read buffer is reused by the next read: nothing may point into it. */
    c->tls_in = NULL;
    c->tls_in_len = 0;
}

/* Token bucket: stop reading when the peer used more than a second's worth
 * of its rate, and resume when the budget is positive again. */
static void account_read(struct canto_conn *c, size_t n, uint64_t now)
{
    if (!c->read_rate)
        return;
    int64_t rate = (int64_t)c->read_rate;
    c->tokens += (int64_t)((now - c->refill_at) * (uint64_t)rate / 1000u);
    if (c->tokens > rate)
        c->tokens = rate;
    c->refill_at = now;
    c->tokens -= (int64_t)n;
    if (c->tokens >= 0)
        return;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
    c->resume_at = now + (uint64_t)((-c->tokens * 1000) / rate) + 1;
    schedule_timer(c);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct canto_conn *c = s->data;
    if (nread == 0)
        return;
    if (nread < 0) {
        conn_abort(c, nread == UV_EOF ? "peer closed" : "read error");
        return;
    }
    if (c->closing)
        return; /* lingering close: discard */
    uint64_t now = uv_now(s->loop);
    c->last_read = now;
    account_read(c, (size_t)nread, now);
    if (c->ssl)
        tls_input(c, buf->base, (size_t)nread);
    else
        c->base.events->data(&c->base, buf->base, (size_t)nread);
}

static void timer_cb(uv_timer_t *t)
{
    struct canto_conn *c = t->data;
    uint64_t now = uv_now(t->loop);
    if (c->written_due) {
        c->written_due = false;
        notify_written(c); /* may write, close or abort c */
        if (c->handles_closing)
            return;
    }
    if (c->closing) {
        if (c->close_deadline && now >= c->close_deadline)
            close_handles(c);
        else
            schedule_timer(c);
        return;
    }
    if (c->resume_at && now >= c->resume_at) {
        c->resume_at = 0;
        if (!c->reading && uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) == 0)
            c->reading = true;
    }
    if ((c->timeout_ms && now >= c->last_read + c->timeout_ms) ||
        (c->deadline && now >= c->deadline)) {
        c->timeout_ms = 0;
        c->deadline = 0;
        if (c->base.events->timeout)
            c->base.events->timeout(&c->base);
        else
            conn_close(c, "idle timeout");
        if (c->closing)
            return;
    }
    schedule_timer(c);
}

/* Arm the timer for the earliest of: written waiters to tell (now),
 * throttle end, idle deadline, close deadline. */
static void schedule_timer(struct canto_conn *c)
{
    if (c->handles_closing)
        return;
    uint64_t next = UINT64_MAX;
    if (c->written_due) {
        next = 0;
    } else if (c->closing) {
        next = c->close_deadline;
    } else {
        if (c->resume_at)
            next = c->resume_at;
        if (c->timeout_ms && c->last_read + c->timeout_ms < next)
            next = c->last_read + c->timeout_ms;
        if (c->deadline && c->deadline < next)
            next = c->deadline;
    }
    if (next == UINT64_MAX) {
        uv_timer_stop(&c->timer);
        return;
    }
    uint64_t now = uv_now(c->timer.loop);
    uv_timer_start(&c->timer, timer_cb, next > now ? next - now : 0, 0);
}

static void conn_set_timeout(struct canto_transport *t, uint64_t ms)
{
    struct canto_conn *c = conn_of(t);
    c->timeout_ms = ms;
    c->last_read = uv_now(c->timer.loop);
    schedule_timer(c);
}

static void conn_set_deadline(struct canto_transport *t, uint64_t ms)
{
    struct canto_conn *c = conn_of(t);
    c->deadline = ms ? uv_now(c->timer.loop) + ms : 0;
    schedule_timer(c);
}

/* --- the transport interface ------------------------------------------------------ */

static void t_write(struct canto_transport *t, const void *data, size_t len)
{
    conn_write(conn_of(t), data, len);
}

static void t_close(struct canto_transport *t, const char *reason)
{
    conn_close(conn_of(t), reason);
}

static void t_abort(struct canto_transport *t, const char *reason)
{
    conn_abort(conn_of(t), reason);
}

static bool t_is_secure(const struct canto_transport *t)
{
    return conn_of(t)->ssl != NULL;
}

static int t_start_tls(struct canto_transport *t)
{
    return canto_conn_start_tls(conn_of(t));
}

/* Channel binding needs a finished handshake; with out NULL, whether the
 * type can be had at all. */
static int t_channel_binding(const struct canto_transport *t, const char *type,
                             unsigned char *out, size_t size)
{
    const struct canto_conn *c = conn_of(t);
    SSL *ssl = c->tls_ready ? c->ssl : NULL;
    if (!ssl)
        return -1;
    if (out)
        return canto_tls_channel_binding(ssl, type, out, size);
    if (strcmp(type, CANTO_CB_TLS_EXPORTER) == 0)
        return canto_tls_exporter_available(ssl) ? 0 : -1;
    if (strcmp(type, CANTO_CB_TLS_UNIQUE) == 0)
        return canto_tls_unique_available(ssl) ? 0 : -1;
    return strcmp(type, CANTO_CB_TLS_SERVER_END_POINT) == 0 ? 0 : -1;
}

static const char *t_peer(const struct canto_transport *t)
{
    return conn_of(t)->peer;
}

/* The peer text is "address:port" (IPv6 without brackets): the address is
 * what comes before the last colon. */
static void t_peer_address(const struct canto_transport *t, char *out, size_t size)
{
    const char *peer = conn_of(t)->peer;
    const char *colon = strrchr(peer, ':');
    size_t n = colon ? (size_t)(colon - peer) : strlen(peer);
    if (size == 0)
        return;
    if (n >= size)
        n = size - 1;
    memcpy(out, peer, n);
    out[n] = '\0';
}

static size_t t_queued(const struct canto_transport *t)
{
    const struct canto_conn *c = conn_of(t);
    return c->queued + c->out.len;
}

/* The waiter counts the bytes ahead of it; an empty queue answers at the
 * next flush, never from inside this call. */
static void t_when_written(struct canto_transport *t, canto_written_fn cb, void *ud)
{
    conn_when_written(conn_of(t), cb, ud);
}

static const struct canto_transport_ops tcp_ops = {
    .name = "tcp",
    .write = t_write,
    .close = t_close,
    .abort = t_abort,
    .is_secure = t_is_secure,
    .start_tls = t_start_tls,
    .channel_binding = t_channel_binding,
    .peer = t_peer,
    .peer_address = t_peer_address,
    .set_timeout = conn_set_timeout,
    .set_deadline = conn_set_deadline,
    .queued = t_queued,
    .when_written = t_when_written,
};

static void free_unaccepted(uv_handle_t *h)
{
    free(h->data);
}

struct canto_conn *canto_conn_accept(uv_stream_t *server, struct canto_net_buffers *bufs,
                                     const struct canto_conn_limits *limits,
                                     struct canto_tls *tls)
{
    struct canto_conn *c = canto_xcalloc(1, sizeof(*c));
    uv_loop_t *loop = server->loop;
    uv_tcp_init(loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        /* Only the tcp handle exists: close it alone and free in its callback. */
        uv_close((uv_handle_t *)&c->tcp, free_unaccepted);
        return NULL;
    }
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    c->open_handles = 2;
    c->base.ops = &tcp_ops;
    c->tls = tls;
    c->bufs = bufs;
    c->max_queue = limits->max_send_queue ? limits->max_send_queue : SIZE_MAX;
    c->read_rate = limits->read_rate;
    c->tokens = (int64_t)limits->read_rate;
    c->refill_at = uv_now(loop);
    c->last_read = c->refill_at;
    uv_tcp_nodelay(&c->tcp, 1);

    struct sockaddr_storage ss;
    int sslen = sizeof ss;
    snprintf(c->peer, sizeof c->peer, "?");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sslen) == 0) {
        char ip[INET6_ADDRSTRLEN] = "?";
        int port = 0;
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
            uv_ip4_name(sin, ip, sizeof ip);
            port = ntohs(sin->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
            uv_ip6_name(sin6, ip, sizeof ip);
            port = ntohs(sin6->sin6_port);
        }
        snprintf(c->peer, sizeof c->peer, "%s:%d", ip, port);
    }
    return c;
}

void canto_conn_set_slot(struct canto_conn *c, struct canto_conn_slot *slot)
{
    c->slot = slot;
}

int canto_conn_start(struct canto_conn *c)
{
    if (c->reading || c->closing)
        return CANTO_OK;
    if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) != 0) {
        conn_abort(c, "cannot read");
        return CANTO_ERROR;
    }
    c->reading = true;
    return CANTO_OK;
}

int canto_conn_start_tls(struct canto_conn *c)
{
    struct canto_tls *tls = c->tls;
    if (c->ssl || !tls)
        return CANTO_ERROR;
    c->ssl = SSL_new(canto_tls_default_ctx(tls));
    if (!c->ssl)
        goto fail;
    BIO *bio = BIO_new(canto_tls_bio_method(tls));
    if (!bio)
        goto fail;
    BIO_set_data(bio, c);
    SSL_set_bio(c->ssl, bio, bio);
    SSL_set_accept_state(c->ssl);
    return CANTO_OK;
fail:
    ERR_clear_error();
    conn_abort(c, "cannot start TLS");
    return CANTO_ERROR;
}
