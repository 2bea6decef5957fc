/*
 * c2s_core.c: the core's side of the c2s seam. The stream layer sits below
 * the core and declares what it needs from it (c2s.h, struct
 * canto_c2s_core_ops); this file fills that in with the session table, the
 * router, the hosts and their modules, and gives the core's sessions their
 * way back to the stream (struct canto_session_ops calling canto_c2s_*).
 * It is also the c2s entry of the listener table: set up once per server
 * (start), then each accepted transport becomes a client stream.
 */
#include "canto/c2s.h"
#include "canto/module.h"
#include "canto/router.h"
#include "canto/server.h"
#include "canto/session.h"
#include "core/c2s_core.h"

#define NS_CAPS "http://jabber.org/protocol/caps"

/* --- the session's way back to its stream -------------------------------- */

static void session_send_to_stream(struct canto_session *s, struct canto_stanza *st)
{
    canto_c2s_send(s->stream, st);
}

static void session_close_stream(struct canto_session *s, const char *condition, const char *text)
{
    canto_c2s_close(s->stream, condition, text);
}

static void session_ready(struct canto_session *s)
{
    canto_c2s_ready(s->stream);
}

static void session_peer_address(struct canto_session *s, char *out, size_t size)
{
    canto_c2s_peer_address(s->stream, out, size);
}

static void session_when_written(struct canto_session *s, canto_session_taken_fn cb, void *ud)
{
    canto_c2s_when_written(s->stream, cb, ud);
}

static const struct canto_session_ops c2s_session_ops = {
    .send = session_send_to_stream,
    .close = session_close_stream,
    .ready = session_ready,
    .peer_address = session_peer_address,
    .when_written = session_when_written,
};

/* --- what a stream asks of the core -------------------------------------- */

static struct canto_host *host(void *core, const char *domain)
{
    struct canto_server *srv = core;
    return domain ? canto_server_host(srv, domain) : &srv->hosts[0];
}

static const char *host_name(const struct canto_host *h)
{
    return h->name;
}

static struct canto_session *session_new(void *core, struct canto_c2s *c)
{
    return canto_session_new(core, NULL, &c2s_session_ops, c);
}

static void session_set_host(struct canto_session *s, struct canto_host *h)
{
    s->host = h;
}

static const char *session_jid(const struct canto_session *s)
{
    return s->jid.full;
}

static void session_bind(struct canto_session *s, const char *local, const char *resource)
{
    canto_session_bind(s, s->host, local, resource);
}

/* SESSION_BOUND, with a hold of our own around it, so that a module that
 * finishes at once does not answer the bind in the middle of the
 * notification; the last release calls the stream's ready. */
static void session_bound(struct canto_session *s)
{
    canto_session_hold(s);
    struct canto_hook_event ev = {.session = s};
    canto_hook_notify(s->host, CANTO_HOOK_SESSION_BOUND, &ev);
    canto_session_release(s);
}

static void session_unref(struct canto_session *s)
{
    canto_session_unref(s);
}

static bool preauth_iq(struct canto_session *s, struct canto_stanza *st)
{
    struct canto_hook_event ev = {.session = s, .stanza = st};
    return canto_hook_run(s->host, CANTO_HOOK_PREAUTH_IQ, &ev) == CANTO_OK;
}

/* Entity caps (XEP-0115) once authenticated, then the modules' features. */
static void features(struct canto_session *s, bool authed, struct canto_buf *out)
{
    if (authed && s->host->caps_ver)
        canto_buf_appendf(out, "<c xmlns='" NS_CAPS "' hash='sha-1' node='" CANTO_CAPS_NODE
                               "' ver='%s'/>",
                          s->host->caps_ver);
    canto_host_stream_features(s->host, s, authed, out);
}

static void new_id(void *core, char *out, size_t size)
{
    canto_server_new_id(core, out, size);
}

static int queue_work(void *core, uv_work_t *w, uv_work_cb work, uv_after_work_cb after)
{
    return canto_server_queue_work(core, w, work, after);
}

static const struct canto_c2s_core_ops core_ops = {
    .host = host,
    .host_name = host_name,
    .session_new = session_new,
    .session_set_host = session_set_host,
    .session_jid = session_jid,
    .session_bind = session_bind,
    .session_bound = session_bound,
    .session_end = canto_session_end,
    .session_detach = canto_session_detach,
    .session_unref = session_unref,
    .session_send = canto_session_send,
    .route = canto_route_from_session,
    .preauth_iq = preauth_iq,
    .features = features,
    .new_id = new_id,
    .queue_work = queue_work,
};

/* --- the listener kind ---------------------------------------------------- */

static void c2s_start(struct canto_server *srv)
{
    const struct canto_limits_config *lim = &srv->cfg->limits;
    srv->c2s = (struct canto_c2s_service){
        .ops = &core_ops,
        .core = srv,
        .limits = {
            .xml = {.max_stanza_bytes = lim->c2s_max_stanza_size,
                    .max_depth = lim->max_depth,
                    .max_attrs = lim->max_attributes},
            .connect_timeout_ms = (uint64_t)lim->connect_timeout * 1000u,
            .idle_timeout_ms = (uint64_t)lim->idle_timeout * 1000u,
        },
        .storage = srv->storage,
        .fake_secret = srv->fake_secret,
        .fake_secret_len = sizeof srv->fake_secret,
        .scratch = &srv->scratch,
    };
}

static void c2s_accept(struct canto_listener *l, struct canto_transport *t)
{
    canto_c2s_accept(&l->server->c2s, t, l->cfg->tls == CANTO_TLS_REQUIRED);
}

static size_t c2s_release_idle(struct canto_server *srv)
{
    return canto_c2s_release_idle(&srv->c2s);
}

static void c2s_close_all(struct canto_server *srv, const char *condition)
{
    canto_c2s_close_all(&srv->c2s, condition);
}

static bool c2s_busy(const struct canto_server *srv)
{
    return srv->c2s.streams != NULL;
}

const struct canto_listener_kind canto_c2s_listener_kind = {
    .name = "c2s",
    .what = "clients",
    .refusal = canto_c2s_refusal,
    .start = c2s_start,
    .accept = c2s_accept,
    .release_idle = c2s_release_idle,
    .close_all = c2s_close_all,
    .busy = c2s_busy,
};
