/*
 * server.c: bringing a server up and down. Everything that can fail (storage,
 * certificates, modules, sockets) is set up before the first client is
 * accepted, so a server that starts is a complete one; stopping closes every
 * stream with system-shutdown and lets the loop drain.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/rand.h>

#include "canto/account_state.h"
#include "canto/log.h"
#include "canto/server.h"
#include "canto/session.h"
#include "core/listeners.h"
#include "core/modules.h"
#include "core/router_internal.h"

/* The secret that derives SCRAM salts for unknown accounts. It is kept in
 * data_dir so that an unknown account gets the same salt after a restart,
 * exactly like a real one (a changing salt would tell them apart). */
static int load_fake_secret(struct canto_server *srv, struct canto_buf *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/sasl-secret", srv->cfg->data_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, srv->fake_secret, sizeof srv->fake_secret);
        close(fd);
        if (n == (ssize_t)sizeof srv->fake_secret)
            return CANTO_OK;
        canto_buf_appendf(err, "%s: damaged (remove it and restart)", path);
        return CANTO_ERROR;
    }
    if (RAND_bytes(srv->fake_secret, sizeof srv->fake_secret) != 1) {
        canto_buf_append_str(err, "cannot get random bytes from OpenSSL");
        return CANTO_ERROR;
    }
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, srv->fake_secret, sizeof srv->fake_secret) !=
                      (ssize_t)sizeof srv->fake_secret || fsync(fd) != 0 || close(fd) != 0 ||
        rename(tmp, path) != 0) {
        canto_buf_appendf(err, "%s: cannot write: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return CANTO_ERROR;
    }
    return CANTO_OK;
}

/* TLS contexts for the configured certificates. */
static int start_tls(struct canto_server *srv, struct canto_buf *err)
{
    const struct canto_config *cfg = srv->cfg;
    struct canto_tls_cert *certs = canto_xcalloc(cfg->ncerts ? cfg->ncerts : 1, sizeof(*certs));
    char (*origins)[512] = canto_xcalloc(cfg->ncerts ? cfg->ncerts : 1, sizeof(*origins));
    for (size_t i = 0; i < cfg->ncerts; i++) {
        snprintf(origins[i], sizeof origins[i], "%s:%d", cfg->path, cfg->certs[i].line);
        certs[i] = (struct canto_tls_cert){cfg->certs[i].host, cfg->certs[i].certificate,
                                           cfg->certs[i].key, origins[i]};
    }
    int rc = canto_tls_new(certs, cfg->ncerts, &srv->tls, err);
    free(certs);
    free(origins);
    return rc;
}

int canto_server_init(struct canto_server *srv, uv_loop_t *loop, struct canto_config *cfg,
                      struct canto_buf *err)
{
    memset(srv, 0, sizeof(*srv));
    srv->loop = loop;
    srv->cfg = cfg;
    canto_hashmap_init(&srv->users);
    canto_iq_table_init(srv);
    srv->accounts = canto_accounts_new(srv, cfg->limits.cached_accounts);
    srv->netbufs = canto_xcalloc(1, sizeof(*srv->netbufs));
    canto_net_buffers_init(srv->netbufs, loop);
    srv->c2s_limits.read_rate = cfg->limits.c2s_rate;
    srv->c2s_limits.max_send_queue = cfg->limits.send_queue;
    canto_conn_caps_init(&srv->conn_caps, cfg->limits.max_connections,
                         cfg->limits.connections_per_address, cfg->limits.loopback_exempt);
    if (start_tls(srv, err) != CANTO_OK)
        return CANTO_ERROR;
    struct canto_storage_options so = {.backend = cfg->storage_backend, .data_dir = cfg->data_dir};
    if (canto_storage_open(loop, &so, &srv->storage, err) != CANTO_OK)
        return CANTO_ERROR;
    if (load_fake_secret(srv, err) != CANTO_OK)
        return CANTO_ERROR;
    srv->hosts = canto_xcalloc(cfg->nhosts, sizeof(*srv->hosts));
    for (size_t i = 0; i < cfg->nhosts; i++) {
        struct canto_host *h = &srv->hosts[i];
        h->name = canto_xstrdup(cfg->hosts[i]);
        h->server = srv;
        srv->nhosts = i + 1;
        if (canto_host_start_modules(h) != CANTO_OK) {
            canto_buf_appendf(err, "host %s: modules failed to start", h->name);
            return CANTO_ERROR;
        }
    }
    for (size_t i = 0; canto_listener_kinds[i]; i++)
        if (canto_listener_kinds[i]->start)
            canto_listener_kinds[i]->start(srv);
    return CANTO_OK;
}

/* How often idle streams give back their parser memory: a stream that read
 * nothing for one to two periods holds only its session state. */
#define IDLE_SWEEP_MS 5000

static void on_idle_sweep(uv_timer_t *t)
{
    size_t released = 0;
    struct canto_server *srv = canto_container_of(t, struct canto_server, idle_sweep);
    for (size_t i = 0; canto_listener_kinds[i]; i++)
        if (canto_listener_kinds[i]->release_idle)
            released += canto_listener_kinds[i]->release_idle(srv);
#ifdef __GLIBC__
    /* glibc keeps freed memory inside its heap; give the pages those parsers
     * used back to the system, so that idle sessions cost what they hold. */
    if (released > 0)
        malloc_trim(0);
#endif
    if (released > 0)
        canto_debug("idle sweep: released the parsers of %zu idle streams", released);
}

/* A connection accepted on a listener goes to the listener's kind. */
static void on_accept(void *ud, struct canto_transport *t)
{
    struct canto_listener *l = ud;
    l->cfg->service->accept(l, t);
}

int canto_server_listen(struct canto_server *srv, struct canto_buf *err)
{
    const struct canto_config *cfg = srv->cfg;
    srv->listeners = canto_xcalloc(cfg->nlisten ? cfg->nlisten : 1, sizeof(*srv->listeners));
    for (size_t i = 0; i < cfg->nlisten; i++) {
        const struct canto_listen_config *lc = &cfg->listen[i];
        struct canto_listener *l = &srv->listeners[i];
        l->server = srv;
        l->cfg = lc;
        srv->nlisteners = i + 1;
        struct canto_tcp_listener_options opts = {
            .address = lc->address,
            .port = lc->port,
            .direct_tls = lc->tls == CANTO_TLS_DIRECT,
            .tls = srv->tls,
            .bufs = srv->netbufs,
            .limits = &srv->c2s_limits,
            .caps = &srv->conn_caps,
            .refusal = lc->service->refusal,
            .accept = on_accept,
            .ud = l,
        };
        int rc = canto_tcp_listener_open(srv->loop, &opts, &l->tcp);
        if (rc != 0) {
            canto_buf_appendf(err, "%s:%d: listen[%zu]: cannot listen on %s port %d: %s",
                              cfg->path, lc->line, i, lc->address, lc->port, uv_strerror(rc));
            return CANTO_ERROR;
        }
        srv->listeners_open++;
        static const char *const modes[] = {"STARTTLS required", "STARTTLS optional",
                                             "direct TLS"};
        canto_info("listening for %s on %s port %d (%s)", lc->service->what, lc->address,
                   lc->port, modes[lc->tls]);
    }
    uv_timer_init(srv->loop, &srv->idle_sweep);
    uv_timer_start(&srv->idle_sweep, on_idle_sweep, IDLE_SWEEP_MS, IDLE_SWEEP_MS);
    srv->listeners_open++; /* the sweep timer closes with the listeners */
    return CANTO_OK;
}

static void listener_closed(void *ud)
{
    struct canto_server *srv = ud;
    srv->listeners_open--;
}

static void sweep_closed(uv_handle_t *h)
{
    canto_container_of((uv_timer_t *)h, struct canto_server, idle_sweep)->listeners_open--;
}

void canto_server_stop(struct canto_server *srv)
{
    if (srv->stopping)
        return;
    srv->stopping = true;
    canto_iq_table_close(srv);
    for (size_t i = 0; i < srv->nlisteners; i++) {
        if (srv->listeners[i].tcp)
            canto_tcp_listener_close(srv->listeners[i].tcp, listener_closed, srv);
        srv->listeners[i].tcp = NULL;
    }
    if (srv->idle_sweep.loop) /* started by canto_server_listen */
        uv_close((uv_handle_t *)&srv->idle_sweep, sweep_closed);
    for (size_t i = 0; canto_listener_kinds[i]; i++)
        canto_listener_kinds[i]->close_all(srv, "system-shutdown");
    canto_session_end_detached(srv);
}

bool canto_server_has_streams(const struct canto_server *srv)
{
    for (size_t i = 0; canto_listener_kinds[i]; i++)
        if (canto_listener_kinds[i]->busy && canto_listener_kinds[i]->busy(srv))
            return true;
    return false;
}

struct queued_work {
    struct canto_server *srv;
    uv_after_work_cb after;
};

static void work_done(uv_work_t *w, int status)
{
    struct queued_work q = *(struct queued_work *)w->data;
    free(w->data);
    w->data = NULL;
    q.srv->work_pending--;
    q.after(w, status);
}

int canto_server_queue_work(struct canto_server *srv, uv_work_t *w, uv_work_cb work,
                            uv_after_work_cb after)
{
    struct queued_work *q = canto_xmalloc(sizeof(*q));
    *q = (struct queued_work){srv, after};
    w->data = q;
    int rc = uv_queue_work(srv->loop, w, work, work_done);
    if (rc != 0) {
        free(q);
        w->data = NULL;
        return rc;
    }
    srv->work_pending++;
    return 0;
}

void canto_server_free(struct canto_server *srv)
{
    canto_iq_table_close(srv); /* its callbacks need the modules: before they stop */
    /* Thread-pool jobs first, then storage: their completions may still
     * use module state (and queue storage requests). */
    while (srv->work_pending > 0)
        uv_run(srv->loop, UV_RUN_ONCE);
    if (srv->storage)
        canto_storage_close(srv->storage);
    /* After storage (no load can complete later), before the modules whose
     * states these are. */
    canto_accounts_free(srv->accounts);
    for (size_t i = 0; i < srv->nhosts; i++) {
        canto_host_stop_modules(&srv->hosts[i]);
        free(srv->hosts[i].name);
        free(srv->hosts[i].caps_ver);
    }
    free(srv->hosts);
    for (size_t i = 0; i < srv->nservices; i++)
        free(srv->services[i].domain);
    free(srv->services);
    canto_tls_free(srv->tls);
    free(srv->listeners);
    if (srv->netbufs)
        canto_net_buffers_close(srv->netbufs); /* freed when the loop runs its close */
    canto_hashmap_free(&srv->users);
    canto_conn_caps_free(&srv->conn_caps);
    canto_xml_scratch_free(&srv->scratch);
    canto_config_free(srv->cfg);
    free(srv->cfg);
    canto_wipe(srv->fake_secret, sizeof srv->fake_secret);
    memset(srv, 0, sizeof(*srv));
}

int canto_server_add_service(struct canto_server *srv, const char *domain, const char *name,
                             struct canto_module_inst *mi, canto_service_fn fn)
{
    if (canto_server_host(srv, domain) || canto_server_service(srv, domain)) {
        canto_error("%s: the domain of the %s service is already served", domain, name);
        return CANTO_ERROR;
    }
    srv->services = canto_xrealloc(srv->services, (srv->nservices + 1) * sizeof(*srv->services));
    srv->services[srv->nservices++] = (struct canto_domain_service){
        .domain = canto_xstrdup(domain), .host = mi->host, .mi = mi, .fn = fn, .name = name};
    return CANTO_OK;
}

struct canto_domain_service *canto_server_service(struct canto_server *srv, const char *domain)
{
    for (size_t i = 0; i < srv->nservices; i++)
        if (strcmp(srv->services[i].domain, domain) == 0)
            return &srv->services[i];
    return NULL;
}

struct canto_host *canto_server_host(struct canto_server *srv, const char *name)
{
    for (size_t i = 0; i < srv->nhosts; i++)
        if (strcmp(srv->hosts[i].name, name) == 0)
            return &srv->hosts[i];
    return NULL;
}

void canto_server_new_id(struct canto_server *srv, char *out, size_t size)
{
    unsigned char r[8];
    if (RAND_bytes(r, sizeof r) != 1) {
        /* Fall back to a counter: ids must be unique, not secret. */
        uint64_t n = ++srv->next_stream_id;
        memcpy(r, &n, sizeof r);
    }
    snprintf(out, size, "%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5],
             r[6], r[7]);
}
