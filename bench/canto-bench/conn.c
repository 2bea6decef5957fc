/*
 * conn.c: one load-generating connection: connect (from a chosen source
 * address), read, write, close.
 *
 * Reads land in one buffer shared by the whole loop (b->rbuf): each read is
 * consumed inside its callback, and only the bytes of an element cut by the
 * end of a read are copied into the connection (c->pending), so an idle
 * connection holds no read buffer. Writes are appended to c->out and flushed
 * once per loop iteration by the flusher (a uv_check handle, run.c) through
 * bench_flush_dirty(): a burst of stanzas becomes one write, tried with
 * uv_try_write first, so a copy is made only for what the socket refuses.
 *
 * Lifetime (libuv style): a connection leaves b->conns the moment it starts
 * closing (bench_conn_close sets c->closing and clears its slot), and its
 * memory is freed only in the close callback, so a handler may close its own
 * connection and callers re-check c->closing after each callback.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "bench.h"
#include "sasl.h"

#define MAX_ELEMENT (1024 * 1024) /* largest top-level element accepted */
#define OUT_KEEP 16384            /* an output buffer larger than this is freed once flushed */

struct write_req {
    uv_write_t req;
    char data[]; /* owned copy of the bytes, freed in on_written */
};

static void on_closed(uv_handle_t *h);

/* Map a libuv connect/bind error to an error kind. */
static enum bench_error connect_error_kind(int status)
{
    switch (status) {
    case UV_ECONNREFUSED: return BENCH_ERR_CONNECT_REFUSED;
    case UV_EADDRNOTAVAIL:
    case UV_EADDRINUSE: return BENCH_ERR_ADDR;
    case UV_EMFILE:
    case UV_ENFILE: return BENCH_ERR_NOFILE;
    default: return BENCH_ERR_CONNECT;
    }
}

/* The next source address (round robin over --sources), host byte order. */
static uint32_t next_source(struct bench *b)
{
    uint64_t k = b->next_source++ % b->opt.nsource_addrs;
    for (size_t i = 0; i < b->opt.nsources; i++) {
        uint64_t span = (uint64_t)b->opt.sources[i].last - b->opt.sources[i].first + 1;
        if (k < span)
            return b->opt.sources[i].first + (uint32_t)k;
        k -= span;
    }
    return b->opt.sources[0].first;
}

/* Bind the socket to a source address, leaving the port to connect() so
 * that one address serves many destinations (IP_BIND_ADDRESS_NO_PORT). */
static int bind_source(struct bench_conn *c)
{
    struct bench *b = c->b;
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) {
        int one = 1;
#ifdef IP_BIND_ADDRESS_NO_PORT
        (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
#else
        (void)one;
#endif
    }
    struct sockaddr_in src;
    memset(&src, 0, sizeof src);
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(next_source(b));
    return uv_tcp_bind(&c->tcp, (const struct sockaddr *)&src, 0);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct bench_conn *c = h->data;
    buf->base = c->b->rbuf;
    buf->len = sizeof c->b->rbuf;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct bench_conn *c = s->data;
    if (c->closing)
        return;
    if (nread > 0) {
        c->b->read_ns = uv_hrtime(); /* arrival time of everything in this read */
        if (c->tls_on)
            bench_tls_input(c, buf->base, (size_t)nread);
        else
            bench_conn_feed(c, buf->base, (size_t)nread);
    } else if (nread == UV_EOF) {
        bench_conn_fail(c, BENCH_ERR_CLOSED, "%s: server closed the connection (state %d)",
                        c->jid ? c->jid : "connection", c->state);
    } else if (nread < 0) {
        bench_conn_fail(c, BENCH_ERR_IO, "read: %s", uv_strerror((int)nread));
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    struct bench_conn *c = req->data;
    free(req);
    if (status == UV_ECANCELED || c->closing)
        return;
    if (status < 0) {
        bench_conn_fail(c, connect_error_kind(status), "connect to %s: %s", c->b->opt.server,
                        uv_strerror(status));
        return;
    }
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc < 0) {
        bench_conn_fail(c, BENCH_ERR_IO, "read start: %s", uv_strerror(rc));
        return;
    }
    bench_xmpp_connected(c);
}

void bench_conn_start(struct bench *b, uint32_t index, uint32_t account)
{
    struct bench_conn *c = canto_xcalloc(1, sizeof *c);
    c->b = b;
    c->index = index;
    c->account = account;
    c->state = BENCH_CS_CONNECTING;
    c->t_start = uv_hrtime();
    c->in_login = true;
    bench_scan_reset(&c->scan, b->opt.protocol == BENCH_PROTO_RELAY ? 1 : 0);
    int rc = uv_tcp_init_ex(&b->loop, &c->tcp, b->opt.server_addr.ss_family);
    if (rc < 0) {
        /* no handle exists: nothing to close */
        bench_error(b, connect_error_kind(rc), "socket: %s", uv_strerror(rc));
        free(c);
        b->login.in_flight--;
        bench_login_failed(b);
        return;
    }
    c->tcp.data = c;
    b->conns[index] = c;
    b->open++;
    if (b->opt.nsources > 0 && (rc = bind_source(c)) < 0) {
        bench_conn_fail(c, connect_error_kind(rc), "bind source: %s", uv_strerror(rc));
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_connect_t *req = canto_xmalloc(sizeof *req);
    req->data = c;
    rc = uv_tcp_connect(req, &c->tcp, (const struct sockaddr *)&b->opt.server_addr, on_connect);
    if (rc < 0) {
        free(req);
        bench_conn_fail(c, connect_error_kind(rc), "connect to %s: %s", b->opt.server,
                        uv_strerror(rc));
    }
}

/* --- output --- */

void bench_conn_send(struct bench_conn *c, const char *data, size_t n)
{
    canto_buf_append(&c->out, data, n);
    if (!c->dirty) {
        c->dirty = true;
        c->dirty_next = c->b->dirty;
        c->b->dirty = c;
    }
}

void bench_conn_send_str(struct bench_conn *c, const char *s)
{
    bench_conn_send(c, s, strlen(s));
}

static void on_written(uv_write_t *req, int status)
{
    struct bench_conn *c = req->handle->data;
    free(req);
    if (status < 0 && status != UV_ECANCELED && !c->closing)
        bench_conn_fail(c, BENCH_ERR_IO, "write: %s", uv_strerror(status));
}

void bench_conn_write_raw(struct bench_conn *c, const char *p, size_t n)
{
    uv_stream_t *s = (uv_stream_t *)&c->tcp;
    if (n == 0 || uv_is_closing((uv_handle_t *)s))
        return;
    size_t off = 0;
    if (uv_stream_get_write_queue_size(s) == 0) {
        uv_buf_t buf = uv_buf_init((char *)p, (unsigned)n);
        int r = uv_try_write(s, &buf, 1);
        if (r >= 0) {
            off = (size_t)r;
        } else if (r != UV_EAGAIN) {
            bench_conn_fail(c, BENCH_ERR_IO, "write: %s", uv_strerror(r));
            return;
        }
    }
    if (off == n)
        return;
    struct write_req *w = canto_xmalloc(sizeof *w + (n - off));
    memcpy(w->data, p + off, n - off);
    uv_buf_t buf = uv_buf_init(w->data, (unsigned)(n - off));
    int r = uv_write(&w->req, s, &buf, 1, on_written);
    if (r < 0) {
        free(w);
        bench_conn_fail(c, BENCH_ERR_IO, "write: %s", uv_strerror(r));
    }
}

void bench_conn_flush(struct bench_conn *c)
{
    if (uv_is_closing((uv_handle_t *)&c->tcp))
        return;
    if (c->tls_on) {
        bench_tls_flush(c);
    } else if (c->out.len > 0) {
        bench_conn_write_raw(c, c->out.data, c->out.len);
        c->out.len = 0;
    }
    if (c->out.cap > OUT_KEEP)
        canto_buf_free(&c->out);
    else
        canto_buf_reset(&c->out);
}

void bench_flush_dirty(struct bench *b)
{
    if (b->scn && b->scn->before_flush && !b->stopping)
        b->scn->before_flush(b);
    struct bench_conn *c = b->dirty;
    b->dirty = NULL;
    while (c) {
        struct bench_conn *next = c->dirty_next;
        c->dirty = false;
        c->dirty_next = NULL;
        bench_conn_flush(c);
        c = next;
    }
}

size_t bench_conn_backlog(const struct bench_conn *c)
{
    return uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
}

/* --- input --- */

/* Scan p[from..n), dispatching events. in_pending: p is c->pending.data. */
static void scan_buffer(struct bench_conn *c, const char *p, size_t n, size_t from,
                        bool in_pending)
{
    size_t pos = from;
    for (;;) {
        enum bench_scan_event ev;
        pos = bench_scan_run(&c->scan, p, n, pos, &ev);
        if (ev == BENCH_SCAN_NONE)
            break;
        if (ev == BENCH_SCAN_ERROR) {
            bench_conn_fail(c, BENCH_ERR_PROTOCOL, "malformed XML from the server");
            return;
        }
        if (ev == BENCH_SCAN_ELEMENT)
            bench_xmpp_event(c, ev, p + c->scan.elem_start, pos - c->scan.elem_start);
        else
            bench_xmpp_event(c, ev, p, pos);
        if (c->closing)
            return;
        if (c->stop_feed) { /* STARTTLS: what follows <proceed/> is TLS */
            c->stop_feed = false;
            canto_buf_free(&c->pending);
            return;
        }
    }
    if (c->scan.in_elem) {
        size_t start = c->scan.elem_start;
        if (n - start > MAX_ELEMENT) {
            bench_conn_fail(c, BENCH_ERR_PROTOCOL, "element larger than %d bytes", MAX_ELEMENT);
            return;
        }
        if (in_pending)
            canto_buf_consume(&c->pending, start);
        else
            canto_buf_append(&c->pending, p + start, n - start);
        c->scan.elem_start = 0;
    } else if (in_pending) {
        if (c->pending.cap > OUT_KEEP)
            canto_buf_free(&c->pending);
        else
            canto_buf_reset(&c->pending);
    }
}

void bench_conn_feed(struct bench_conn *c, const char *p, size_t n)
{
    if (c->pending.len == 0) {
        scan_buffer(c, p, n, 0, false);
        return;
    }
    size_t from = c->pending.len;
    canto_buf_append(&c->pending, p, n);
    scan_buffer(c, c->pending.data, c->pending.len, from, true);
}

/* --- closing --- */

static void on_closed(uv_handle_t *h)
{
    struct bench_conn *c = h->data;
    struct bench *b = c->b;
    if (c->dirty) { /* still listed: unlink (rare) */
        struct bench_conn **pp = &b->dirty;
        while (*pp && *pp != c)
            pp = &(*pp)->dirty_next;
        if (*pp)
            *pp = c->dirty_next;
    }
    if (b->conns[c->index] == c)
        b->conns[c->index] = NULL;
    bench_tls_free(c);
    bench_sasl_free(c->sasl);
    canto_buf_free(&c->pending);
    canto_buf_free(&c->out);
    free(c->jid);
    free(c);
    b->open--;
    if (b->stopping && b->open == 0)
        uv_stop(&b->loop);
}

void bench_conn_on_closed(uv_handle_t *h)
{
    on_closed(h);
}

static void close_now(struct bench_conn *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct bench_conn *c = req->handle->data;
    free(req);
    close_now(c);
}

/* Leave the tables: the slot, the online count, the login engine. */
static void detach(struct bench_conn *c)
{
    struct bench *b = c->b;
    c->closing = true;
    if (b->conns[c->index] == c)
        b->conns[c->index] = NULL;
    if (c->online) {
        c->online = false;
        b->online--;
    }
    if (c->in_login) {
        c->in_login = false;
        b->login.in_flight--;
    }
}

void bench_conn_close(struct bench_conn *c, bool graceful)
{
    if (c->closing)
        return;
    detach(c);
    bool connected = c->state != BENCH_CS_CONNECTING;
    if (!graceful || !connected) {
        close_now(c);
        return;
    }
    if (c->b->opt.protocol == BENCH_PROTO_XMPP && c->state != BENCH_CS_TLS)
        bench_conn_send_str(c, "</stream:stream>");
    if (c->tls_on)
        bench_tls_shutdown(c);
    else
        bench_conn_flush(c);
    if (uv_is_closing((uv_handle_t *)&c->tcp))
        return;
    uv_shutdown_t *req = canto_xmalloc(sizeof *req);
    if (uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
        free(req);
        close_now(c);
    }
}

void bench_conn_fail(struct bench_conn *c, enum bench_error kind, const char *fmt, ...)
{
    if (c->closing)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct bench *b = c->b;
    bool was_login = c->in_login;
    if (!b->stopping) /* while stopping, the server closing too is expected */
        bench_error(b, kind, "%s%u: %s", b->opt.prefix, c->account, msg);
    bench_conn_close(c, false);
    if (was_login)
        bench_login_failed(b);
}
