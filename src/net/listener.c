/*
 * listener.c: TCP listeners and the connection caps (net.h).
 *
 * A listener accepts each pending connection into a struct canto_conn,
 * counts it against the server's caps (in total, and per address: IPv4,
 * IPv6 per /64), and hands it to its service as a transport. A connection
 * over a cap is refused before any stream, parser or session exists for
 * it: it gets the service's refusal text (for XMPP a stream error
 * policy-violation) and a graceful close, so that the peer reads why
 * rather than a reset. Refusals that are still lingering are themselves
 * bounded (REFUSING_MAX); past that, excess connections are dropped at
 * once without a word, so a flood cannot hold file descriptors through
 * them either.
 *
 * The caps count connections, not streams: every service's listeners of
 * one server share one struct canto_conn_caps, and a connection gives its
 * count back when it is freed (conn.c), whatever closed it.
 */
#include <stdlib.h>
#include <string.h>

#include "canto/addr.h"
#include "canto/log.h"
#include "net/net_internal.h"

#define REFUSING_MAX 64 /* refused connections allowed to linger at once */

struct canto_tcp_listener {
    uv_tcp_t tcp;
    struct canto_tcp_listener_options opts; /* limits, caps, refusal: borrowed */
    void (*done)(void *ud);
    void *done_ud;
};

void canto_conn_caps_init(struct canto_conn_caps *caps, size_t total, size_t per_address,
                          bool exempt_loopback)
{
    memset(caps, 0, sizeof(*caps));
    caps->total = total;
    caps->per_address = per_address;
    caps->exempt_loopback = exempt_loopback;
    canto_hashmap_init(&caps->by_address);
}

void canto_conn_caps_free(struct canto_conn_caps *caps)
{
    canto_hashmap_free(&caps->by_address);
}

void canto_conn_caps_release(struct canto_conn_slot *slot)
{
    if (!slot)
        return;
    struct canto_conn_caps *caps = slot->caps;
    caps->count--;
    if (--slot->count == 0) {
        canto_hashmap_remove(&caps->by_address, slot->key);
        free(slot);
    }
}

/* Count one more connection from addr, or refuse it (NULL) when a cap is
 * reached. */
static struct canto_conn_slot *caps_take(struct canto_conn_caps *caps, const char *addr)
{
    if (caps->total && caps->count >= caps->total)
        return NULL;
    char key[CANTO_ADDR_KEY_SIZE];
    canto_addr_key(addr, key, sizeof key);
    struct canto_conn_slot *slot = canto_hashmap_get(&caps->by_address, key);
    if (slot && caps->per_address && slot->count >= caps->per_address &&
        !(caps->exempt_loopback && canto_addr_is_loopback(addr)))
        return NULL;
    if (!slot) {
        size_t len = strlen(key) + 1;
        slot = canto_xmalloc(sizeof(*slot) + len);
        slot->caps = caps;
        slot->count = 0;
        memcpy(slot->key, key, len);
        canto_hashmap_put(&caps->by_address, slot->key, slot);
    }
    slot->count++;
    caps->count++;
    return slot;
}

/* A refused connection: whatever it sends is dropped; the listener only
 * learns when it is gone. */
static void refused_data(struct canto_transport *t, const char *data, size_t len)
{
}

static void refused_closed(struct canto_transport *t, const char *reason)
{
    struct canto_conn_caps *caps = canto_transport_ud(t);
    caps->refusing--;
}

static const struct canto_transport_events refused_events = {
    .data = refused_data,
    .closed = refused_closed,
};

/* One log line per second at most: a flood of refused connections must
 * not turn into a flood of log lines. */
static void log_refusal(struct canto_conn_caps *caps, struct canto_transport *t, const char *why)
{
    uint64_t now = canto_now_ms();
    if (caps->refusal_logged && now - caps->refusal_logged < 1000) {
        caps->refusals_unlogged++;
        return;
    }
    if (caps->refusals_unlogged)
        canto_info("%s: connection refused: %s (and %zu more refused since the last report)",
                   canto_transport_peer(t), why, caps->refusals_unlogged);
    else
        canto_info("%s: connection refused: %s", canto_transport_peer(t), why);
    caps->refusal_logged = now;
    caps->refusals_unlogged = 0;
}

static void refuse(struct canto_tcp_listener *l, struct canto_conn *c, const char *why)
{
    struct canto_transport *t = canto_conn_transport(c);
    struct canto_conn_caps *caps = l->opts.caps;
    /* The caps outlive every connection (the listener may not). */
    canto_transport_attach(t, &refused_events, caps);
    if (++caps->refusing > REFUSING_MAX) {
        canto_transport_abort(t, why);
        return;
    }
    log_refusal(caps, t, why);
    /* Reading first: what the peer sends meanwhile is drained, not left
     * unread to turn our close into a reset that destroys the refusal. */
    canto_conn_start(c);
    if (!l->opts.direct_tls && l->opts.refusal)
        canto_transport_write(t, l->opts.refusal, strlen(l->opts.refusal));
    canto_transport_close(t, why);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct canto_tcp_listener *l = server->data;
    if (status < 0) {
        canto_warn("accept on port %d: %s", l->opts.port, uv_strerror(status));
        return;
    }
    struct canto_conn *c = canto_conn_accept(server, l->opts.bufs, l->opts.limits, l->opts.tls);
    if (!c)
        return;
    struct canto_transport *t = canto_conn_transport(c);
    struct canto_conn_caps *caps = l->opts.caps;
    if (caps) {
        char addr[CANTO_ADDR_KEY_SIZE];
        canto_transport_peer_address(t, addr, sizeof addr);
        struct canto_conn_slot *slot = caps_take(caps, addr);
        if (!slot) {
            refuse(l, c,
                   caps->total && caps->count >= caps->total ? "too many connections"
                                                             : "too many connections from its address");
            return;
        }
        canto_conn_set_slot(c, slot);
    }
    l->opts.accept(l->opts.ud, t);
    /* A failed start aborts: the stream just attached hears closed. */
    if (l->opts.direct_tls && canto_conn_start_tls(c) != CANTO_OK)
        return;
    canto_conn_start(c);
}

int canto_tcp_listener_open(uv_loop_t *loop, const struct canto_tcp_listener_options *opts,
                            struct canto_tcp_listener **out)
{
    struct sockaddr_storage addr;
    int rc = strchr(opts->address, ':')
                 ? uv_ip6_addr(opts->address, opts->port, (struct sockaddr_in6 *)&addr)
                 : uv_ip4_addr(opts->address, opts->port, (struct sockaddr_in *)&addr);
    *out = NULL;
    if (rc != 0)
        return rc;
    struct canto_tcp_listener *l = canto_xcalloc(1, sizeof(*l));
    l->opts = *opts;
    uv_tcp_init(loop, &l->tcp);
    l->tcp.data = l;
    rc = uv_tcp_bind(&l->tcp, (struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&l->tcp, 1024, on_connection);
    if (rc != 0) {
        canto_tcp_listener_close(l, NULL, NULL);
        return rc;
    }
    *out = l;
    return 0;
}

static void listener_closed(uv_handle_t *h)
{
    struct canto_tcp_listener *l = h->data;
    if (l->done)
        l->done(l->done_ud);
    free(l);
}

void canto_tcp_listener_close(struct canto_tcp_listener *l, void (*done)(void *ud), void *ud)
{
    l->done = done;
    l->done_ud = ud;
    uv_close((uv_handle_t *)&l->tcp, listener_closed);
}
