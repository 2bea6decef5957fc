/*
 * relay.c: canto-relay, the "raw relay" reference of the benchmark.
 *
 * The upper bound of what any chat server can do on a machine is moving the
 * bytes of a message from one socket to another with no parsing, routing,
 * or storage at all. canto-relay does exactly that: it accepts TCP
 * connections and pairs them in accept order (the 2k-th accepted with the
 * 2k+1-th), and every byte read on one connection is written to its partner.
 * canto-bench's `--protocol relay` mode drives it with the same chat pattern
 * it uses against an XMPP server, so Canto's chat rate can be reported as a
 * fraction of this one.
 *
 * Back-pressure: a side stops being read while its partner's write queue
 * holds more than HIGH_WATER bytes, and is read again once that queue has
 * drained below LOW_WATER; a slow reader therefore slows its partner down
 * instead of growing the relay's memory. A connection that closes before it
 * has a partner frees its slot, so the next one accepted takes its place.
 *
 * One thread, one libuv loop; stops on SIGTERM or SIGINT. Prints
 * "canto-relay listening on ADDRESS:PORT" on stdout once it accepts, so a
 * script can wait for that line (and read the port when it asked for 0).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

#include "canto/buf.h"
#include "canto/common.h"

#define READ_BUF_SIZE (64 * 1024)
#define HIGH_WATER (256 * 1024) /* stop reading the partner above this */
#define LOW_WATER (64 * 1024)   /* and resume below this */

struct relay_conn {
    uv_tcp_t tcp;                /* embedded; the handle's data is unused */
    struct relay_conn *partner;  /* NULL until paired, and after it closed */
    bool reading;                /* uv_read_start is in effect */
    bool throttled;              /* reading stopped because partner's queue is full */
    bool eof;                    /* the peer shut down its sending side */
    bool closing;                /* uv_close was called */
    struct canto_buf early;      /* bytes read before a partner existed */
};

/* A pending write: the bytes uv_try_write could not send at once. */
struct relay_write {
    uv_write_t req;
    struct relay_conn *to;
    char data[]; /* the bytes, owned by the request, freed in on_written */
};

struct relay {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_signal_t sigterm, sigint;
    struct relay_conn *waiting; /* accepted, waiting for its partner */
    size_t accepted, pairs;
    char read_buf[READ_BUF_SIZE]; /* one buffer: each read is consumed in its callback */
};

/* The relay's state lives in main and is reached through the loop's data
 * pointer: no global state. */
static struct relay *relay_of(const uv_handle_t *h)
{
    return h->loop->data;
}

static void start_reading(struct relay_conn *c);

static void on_closed(uv_handle_t *h)
{
    struct relay_conn *c = canto_container_of((uv_tcp_t *)h, struct relay_conn, tcp);
    canto_buf_free(&c->early);
    free(c);
}

/* Close c and, since a relay pair is useless with one side gone, its partner.
 * Memory is freed in the close callback only, so callers may still look at
 * c->closing after this returns. */
static void conn_close(struct relay_conn *c)
{
    if (!c || c->closing)
        return;
    c->closing = true;
    struct relay *r = relay_of((uv_handle_t *)&c->tcp);
    if (r->waiting == c)
        r->waiting = NULL;
    struct relay_conn *p = c->partner;
    c->partner = NULL;
    uv_close((uv_handle_t *)&c->tcp, on_closed);
    if (p) {
        p->partner = NULL;
        conn_close(p);
    }
}

static size_t queued(struct relay_conn *c)
{
    return uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
}

static void on_written(uv_write_t *req, int status)
{
    struct relay_write *w = canto_container_of(req, struct relay_write, req);
    struct relay_conn *to = w->to;
    free(w);
    if (status == UV_ECANCELED || to->closing)
        return;
    if (status < 0) {
        conn_close(to);
        return;
    }
    /* The partner was throttled because of to's queue: resume once drained. */
    struct relay_conn *from = to->partner;
    if (from && from->throttled && queued(to) < LOW_WATER) {
        from->throttled = false;
        start_reading(from);
    }
}

/* Send n bytes to c: as much as possible at once, the rest queued. Returns
 * false if c failed and was closed. */
static bool forward(struct relay_conn *to, const char *data, size_t n)
{
    size_t off = 0;
    if (queued(to) == 0) {
        uv_buf_t b = uv_buf_init((char *)data, (unsigned)n);
        int r = uv_try_write((uv_stream_t *)&to->tcp, &b, 1);
        if (r >= 0)
            off = (size_t)r;
        else if (r != UV_EAGAIN && r != UV_ENOSYS) {
            conn_close(to);
            return false;
        }
    }
    if (off == n)
        return true;
    struct relay_write *w = canto_xmalloc(sizeof(*w) + (n - off));
    w->to = to;
    memcpy(w->data, data + off, n - off);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)(n - off));
    if (uv_write(&w->req, (uv_stream_t *)&to->tcp, &b, 1, on_written) != 0) {
        free(w);
        conn_close(to);
        return false;
    }
    return true;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct relay *r = relay_of(h);
    *buf = uv_buf_init(r->read_buf, sizeof r->read_buf);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    free(req);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct relay_conn *c = canto_container_of((uv_tcp_t *)s, struct relay_conn, tcp);
    if (nread == 0)
        return;
    if (nread == UV_EOF) {
        /* Half-close: pass the EOF on after the queued bytes; the pair is
         * closed when both sides have finished sending. */
        c->eof = true;
        uv_read_stop(s);
        c->reading = false;
        struct relay_conn *p = c->partner;
        if (!p || p->eof) {
            conn_close(c);
            return;
        }
        uv_shutdown_t *req = canto_xmalloc(sizeof(*req));
        if (uv_shutdown(req, (uv_stream_t *)&p->tcp, on_shutdown) != 0) {
            free(req);
            conn_close(c);
        }
        return;
    }
    if (nread < 0) {
        conn_close(c);
        return;
    }
    struct relay_conn *p = c->partner;
    if (!p) {
        /* Not paired yet: keep the bytes for the partner, up to a bound,
         * then let the kernel hold the rest. */
        canto_buf_append(&c->early, buf->base, (size_t)nread);
        if (c->early.len > HIGH_WATER) {
            c->throttled = true;
            uv_read_stop(s);
            c->reading = false;
        }
        return;
    }
    if (!forward(p, buf->base, (size_t)nread))
        return;
    if (queued(p) > HIGH_WATER) {
        c->throttled = true;
        uv_read_stop(s);
        c->reading = false;
    }
}

static void start_reading(struct relay_conn *c)
{
    if (c->reading || c->eof || c->closing)
        return;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = true;
    else
        conn_close(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0) {
        fprintf(stderr, "canto-relay: accept failed: %s\n", uv_strerror(status));
        return;
    }
    struct relay *r = relay_of((uv_handle_t *)server);
    struct relay_conn *c = canto_xcalloc(1, sizeof(*c));
    uv_tcp_init(server->loop, &c->tcp);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        c->closing = true;
        uv_close((uv_handle_t *)&c->tcp, on_closed);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    r->accepted++;
    if (!r->waiting) {
        /* Read while waiting, so that a connection that goes away before
         * its partner arrives is noticed and never paired. */
        r->waiting = c;
        start_reading(c);
        return;
    }
    struct relay_conn *a = r->waiting;
    r->waiting = NULL;
    a->partner = c;
    c->partner = a;
    r->pairs++;
    if (a->early.len) {
        bool ok = forward(c, a->early.data, a->early.len);
        canto_buf_free(&a->early);
        if (!ok)
            return;
    }
    a->throttled = false;
    start_reading(a);
    start_reading(c);
}

static void close_walk(uv_handle_t *h, void *arg)
{
    if (uv_is_closing(h))
        return;
    if (h->type == UV_TCP && h != (uv_handle_t *)&relay_of(h)->listener) {
        conn_close(canto_container_of((uv_tcp_t *)h, struct relay_conn, tcp));
        return;
    }
    uv_close(h, NULL);
}

static void on_stop_signal(uv_signal_t *h, int signum)
{
    uv_walk(h->loop, close_walk, NULL);
}

/* Raise the open-files limit to the hard limit: each connection is a file. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            fprintf(stderr, "canto-relay: cannot raise the open-files limit: %s\n",
                    strerror(errno));
    }
}

static void usage(FILE *out)
{
    fprintf(out, "usage: canto-relay --listen ADDRESS:PORT [--pid-file FILE]\n"
                 "Pairs TCP connections in accept order and forwards every byte of one to\n"
                 "its partner (the raw-relay reference of bench/compare). PORT 0 picks a free\n"
                 "port; the line \"canto-relay listening on ADDRESS:PORT\" says which.\n"
                 "Stops on SIGTERM or SIGINT.\n");
}

/* Split "ADDRESS:PORT" (IPv4, or [IPv6]:PORT) into a socket address. */
static int parse_listen(const char *spec, struct sockaddr_storage *ss)
{
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec)
        return -1;
    long port;
    if (canto_parse_long(colon + 1, 0, 65535, &port) != CANTO_OK)
        return -1;
    char host[64];
    const char *h = spec;
    size_t hl = (size_t)(colon - spec);
    if (hl >= 2 && spec[0] == '[' && spec[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl >= sizeof host)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) == 0)
        return 0;
    if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) == 0)
        return 0;
    return -1;
}

int main(int argc, char **argv)
{
    const char *listen_spec = NULL, *pid_file = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
            listen_spec = argv[++i];
        } else if (strcmp(argv[i], "--pid-file") == 0 && i + 1 < argc) {
            pid_file = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "canto-relay: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    struct sockaddr_storage ss;
    if (!listen_spec || parse_listen(listen_spec, &ss) != 0) {
        fprintf(stderr, "canto-relay: give --listen ADDRESS:PORT (for example 127.0.0.1:0)\n");
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();

    uv_loop_t loop;
    uv_loop_init(&loop);
    struct relay *relay = canto_xcalloc(1, sizeof(*relay));
    relay->loop = &loop;
    loop.data = relay;
    uv_tcp_init(&loop, &relay->listener);
    int r = uv_tcp_bind(&relay->listener, (const struct sockaddr *)&ss, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&relay->listener, 4096, on_connection);
    if (r != 0) {
        fprintf(stderr, "canto-relay: cannot listen on %s: %s\n", listen_spec, uv_strerror(r));
        return 1;
    }
    struct sockaddr_storage bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&relay->listener, (struct sockaddr *)&bound, &len);
    char addr[64] = "?";
    int port = 0;
    if (bound.ss_family == AF_INET6) {
        uv_ip6_name((struct sockaddr_in6 *)&bound, addr, sizeof addr);
        port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
    } else {
        uv_ip4_name((struct sockaddr_in *)&bound, addr, sizeof addr);
        port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    }
    if (pid_file) {
        FILE *f = fopen(pid_file, "w");
        if (!f || fprintf(f, "%ld\n", (long)uv_os_getpid()) < 0 || fclose(f) != 0) {
            fprintf(stderr, "canto-relay: cannot write %s: %s\n", pid_file, strerror(errno));
            return 1;
        }
    }
    uv_signal_init(&loop, &relay->sigterm);
    uv_signal_init(&loop, &relay->sigint);
    uv_signal_start(&relay->sigterm, on_stop_signal, SIGTERM);
    uv_signal_start(&relay->sigint, on_stop_signal, SIGINT);
    printf(bound.ss_family == AF_INET6 ? "canto-relay listening on [%s]:%d\n"
                                       : "canto-relay listening on %s:%d\n",
           addr, port);
    fflush(stdout);

    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    if (pid_file)
        remove(pid_file);
    fprintf(stderr, "canto-relay: stopped after %zu connections (%zu pairs)\n", relay->accepted,
            relay->pairs);
    free(relay);
    return 0;
}
