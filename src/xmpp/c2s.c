/*
 * c2s.c: the client stream kind (RFC 6120 sections 4 and 5) on the shared
 * stream machinery of stream.c: which host a client may address, the
 * features of each phase, STARTTLS, what each element means before and
 * after authentication, and the stanzas of a bound session, whose from it
 * stamps before handing them to the router.
 *
 * Lifetime: a c2s is referenced by its connection and by every asynchronous
 * request it has in flight (storage lookups, password checks). It is freed
 * when the connection has gone and the last request has come back; a request
 * that returns to a closed stream just drops its reference.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canto/log.h"
#include "canto/stanza.h"
#include "xmpp/c2s_internal.h"

const struct canto_xep canto_c2s_xeps[] = {
    {"XEP-0368", "Direct TLS: c2s on a TLS port with ALPN xmpp-client"},
    {"XEP-0440", "SASL channel-binding type capability: the bindings offered are announced with the mechanisms"},
    {0},
};

const char canto_c2s_refusal[] =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
    "<stream:error><policy-violation xmlns='" CANTO_NS_STREAMS "'/>"
    "<text xmlns='" CANTO_NS_STREAMS "' xml:lang='en'>Too many connections</text>"
    "</stream:error></stream:stream>";

static void c2s_free(struct canto_c2s *c)
{
    c2s_sasl_free(c);
    c2s_bind_free(c);
    canto_stream_free(&c->stream);
    c->svc->ops->session_unref(c->sess);
    free(c->authed_local);
    free(c);
}

void c2s_ref(struct canto_c2s *c)
{
    c->refs++;
}

bool c2s_unref(struct canto_c2s *c)
{
    if (--c->refs == 0) {
        c2s_free(c);
        return false;
    }
    return c->state != C2S_CLOSED;
}

void c2s_send_str(struct canto_c2s *c, const char *s)
{
    canto_stream_send_str(&c->stream, s);
}

void c2s_send_stanza(struct canto_c2s *c, struct canto_stanza *st)
{
    /* The session keeps what is sent to it before the bind result (see
     * canto_session_release), so whatever gets here may go out. */
    if (!c->stream.transport || c->state == C2S_CLOSED)
        return;
    /* Writing copies the bytes out at once; a stanza for many sessions is
     * serialised once for all of them (canto_stanza_serialized). */
    size_t len;
    const char *bytes = canto_stanza_serialized(st, canto_stream_stanza_ns(&c->stream),
                                                c->svc->scratch, &len);
    canto_stream_send(&c->stream, bytes, len);
}

/* Our </stream:stream> is out: nothing more can be delivered on this
 * stream, so it leaves the session table now, not when TCP is done (which
 * can take a while: see the lingering close in conn.c). */
static void stream_ended(struct canto_stream *s)
{
    struct canto_c2s *c = canto_container_of(s, struct canto_c2s, stream);
    c->state = C2S_CLOSED;
    c->svc->ops->session_end(c->sess);
}

void c2s_stream_error(struct canto_c2s *c, const char *condition, const char *text)
{
    canto_stream_error(&c->stream, condition, text);
}

static void stream_features(struct canto_stream *s, struct canto_buf *b)
{
    struct canto_c2s *c = canto_container_of(s, struct canto_c2s, stream);
    if (c->state == C2S_PREAUTH) {
        bool tls = canto_transport_is_secure(s->transport);
        bool required = c->tls_required;
        if (canto_transport_can_start_tls(s->transport))
            canto_buf_append_str(b, required
                                        ? "<starttls xmlns='" CANTO_NS_TLS "'><required/></starttls>"
                                        : "<starttls xmlns='" CANTO_NS_TLS "'/>");
        if (tls || !required) {
            c2s_sasl_features(c, b);
            c->svc->ops->features(c->sess, false, b);
        }
    } else {
        c2s_bind_features(c, b);
        c->svc->ops->features(c->sess, true, b);
    }
}

/* The client's stream header (also after each restart): the host it
 * addresses, which a restarted stream may not change. The stream layer
 * checks the namespace and version next, then asks for the features. */
static int stream_open(struct canto_stream *s, const struct canto_xml_node *hdr)
{
    struct canto_c2s *c = canto_container_of(s, struct canto_c2s, stream);
    const struct canto_c2s_core_ops *ops = c->svc->ops;
    const char *to = canto_xml_attr(hdr, "to");
    struct canto_host *host = NULL;
    if (to) {
        char *prepared = canto_jid_prep_domain(to);
        host = prepared ? ops->host(c->svc->core, prepared) : NULL;
        free(prepared);
    } else {
        host = ops->host(c->svc->core, NULL);
    }
    if (c->host && host != c->host)
        host = NULL; /* a restarted stream must stay on its host */
    if (!host) {
        c2s_stream_error(c, "host-unknown", "This server does not serve that domain");
        return CANTO_ERROR;
    }
    if (!c->host) {
        c->host = host;
        ops->session_set_host(c->sess, host);
    }
    if (c->state == C2S_WAIT_HEADER)
        c->state = C2S_PREAUTH;
    return CANTO_OK;
}

/* Our header names the host the client addressed; errors before it said
 * come from the default one. */
static const char *stream_from(struct canto_stream *s)
{
    struct canto_c2s *c = canto_container_of(s, struct canto_c2s, stream);
    const struct canto_c2s_core_ops *ops = c->svc->ops;
    return ops->host_name(c->host ? c->host : ops->host(c->svc->core, NULL));
}

static void handle_starttls(struct canto_c2s *c)
{
    if (!canto_transport_can_start_tls(c->stream.transport)) {
        c2s_stream_error(c, "policy-violation", "TLS is already active");
        return;
    }
    c2s_send_str(c, "<proceed xmlns='" CANTO_NS_TLS "'/>");
    /* Anything after <starttls/> in the same read is dropped by the parser
     * stop: nothing sent in the clear may be taken as sent inside TLS. */
    canto_transport_start_tls(c->stream.transport);
    c2s_restart(c);
}

/* Stamp from, check the stanza, hand it to the router. */
void c2s_handle_bound_stanza(struct canto_c2s *c, struct canto_stanza *st)
{
    struct canto_xml_node *r = st->root;
    bool is_iq = strcmp(r->name, "iq") == 0;
    if (!is_iq && strcmp(r->name, "message") != 0 && strcmp(r->name, "presence") != 0) {
        c2s_stream_error(c, "unsupported-stanza-type", NULL);
        canto_stanza_unref(st);
        return;
    }
    const char *jid = c->svc->ops->session_jid(c->sess);
    canto_xml_set_attr(st, r, "from", jid);
    if (is_iq) {
        const char *type = canto_xml_attr(r, "type");
        const char *id = canto_xml_attr(r, "id");
        bool request = type && (!strcmp(type, "get") || !strcmp(type, "set"));
        bool response = type && (!strcmp(type, "result") || !strcmp(type, "error"));
        if (!id || (!request && !response) ||
            (request && !canto_xml_first_element(r))) {
            canto_xml_set_attr(st, r, "to", NULL);
            struct canto_stanza *err = canto_stanza_error(st, CANTO_COND_BAD_REQUEST, NULL);
            if (err) {
                canto_xml_set_attr(err, err->root, "to", jid);
                c->svc->ops->session_send(c->sess, err);
                canto_stanza_unref(err);
            }
            canto_stanza_unref(st);
            return;
        }
        if (request && c2s_bind_handle(c, st)) {
            canto_stanza_unref(st);
            return;
        }
    }
    c->svc->ops->route(c->sess, st);
}

/* An iq before authentication: only what a module takes (in-band
 * registration) is allowed. False: not taken. */
static bool handle_preauth_iq(struct canto_c2s *c, struct canto_stanza *st)
{
    if (strcmp(st->root->name, "iq") != 0 || !canto_xml_attr(st->root, "id"))
        return false;
    canto_xml_set_attr(st, st->root, "from", NULL);
    return c->svc->ops->preauth_iq(c->sess, st);
}

static int stream_element(struct canto_stream *s, struct canto_stanza *st)
{
    struct canto_c2s *c = canto_container_of(s, struct canto_c2s, stream);
    const char *ns = st->root->ns;
    switch (c->state) {
    case C2S_PREAUTH:
        if (strcmp(ns, CANTO_NS_TLS) == 0 && strcmp(st->root->name, "starttls") == 0) {
            canto_stanza_unref(st);
            handle_starttls(c);
            return CANTO_ERROR; /* stop parsing: the stream restarts */
        }
        bool tls_ok = canto_transport_is_secure(s->transport) || !c->tls_required;
        if (strcmp(ns, CANTO_NS_SASL) == 0) {
            if (!tls_ok) {
                canto_stanza_unref(st);
                c2s_stream_error(c, "policy-violation", "Use STARTTLS first");
                return CANTO_ERROR;
            }
            c2s_sasl_handle(c, st);
            canto_stanza_unref(st);
            return s->restart || c->state == C2S_CLOSED ? CANTO_ERROR : CANTO_OK;
        }
        if (tls_ok && strcmp(ns, CANTO_NS_CLIENT) == 0 && handle_preauth_iq(c, st)) {
            canto_stanza_unref(st);
            return c->state == C2S_CLOSED ? CANTO_ERROR : CANTO_OK;
        }
        canto_stanza_unref(st);
        c2s_stream_error(c, "not-authorized", "Authenticate first");
        return CANTO_ERROR;
    case C2S_AUTHED:
    case C2S_BINDING:
    case C2S_BOUND:
        if (strcmp(ns, CANTO_NS_CLIENT) != 0) {
            canto_stanza_unref(st);
            c2s_stream_error(c, "invalid-namespace", NULL);
            return CANTO_ERROR;
        }
        if (c->state == C2S_AUTHED) {
            bool ok = strcmp(st->root->name, "iq") == 0 && c2s_bind_handle(c, st);
            canto_stanza_unref(st);
            if (!ok)
                c2s_stream_error(c, "not-authorized", "Bind a resource first");
            return c->state == C2S_CLOSED ? CANTO_ERROR : CANTO_OK;
        }
        if (c->state == C2S_BINDING) {
            /* A client that does not wait for the bind result: keep a few
             * stanzas for when the session is ready. */
            if (c->nwaiting >= C2S_MAX_WAITING) {
                canto_stanza_unref(st);
                c2s_stream_error(c, "policy-violation", "Wait for the bind result");
                return CANTO_ERROR;
            }
            c->waiting = canto_xrealloc(c->waiting, (c->nwaiting + 1u) * sizeof(*c->waiting));
            c->waiting[c->nwaiting++] = st;
            return CANTO_OK;
        }
        c2s_handle_bound_stanza(c, st);
        return c->state == C2S_CLOSED ? CANTO_ERROR : CANTO_OK;
    default:
        canto_stanza_unref(st);
        return CANTO_ERROR;
    }
}

void c2s_restart(struct canto_c2s *c)
{
    canto_stream_restart(&c->stream);
}

static void stream_timeout(struct canto_stream *s)
{
    struct canto_c2s *c = canto_container_of(s, struct canto_c2s, stream);
    c2s_stream_error(c, "connection-timeout",
                     c->state == C2S_BOUND ? "Idle for too long" : "Authenticate in time");
}

static void stream_closed(struct canto_stream *s, const char *reason)
{
    struct canto_c2s *c = canto_container_of(s, struct canto_c2s, stream);
    struct canto_c2s_service *svc = c->svc;
    const char *jid = svc->ops->session_jid(c->sess);
    canto_debug("%s: connection closed (%s)", jid ? jid : "client", reason);
    c->state = C2S_CLOSED;
    /* Nothing can resume a c2s session yet (Stream Management will pass
     * its resumption time here): it ends now. */
    svc->ops->session_detach(c->sess, 0, 0);
    if (c->prev)
        c->prev->next = c->next;
    else
        svc->streams = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c2s_unref(c);
}

static const struct canto_stream_ops stream_ops = {
    .content_ns = CANTO_NS_CLIENT,
    .open = stream_open,
    .from = stream_from,
    .features = stream_features,
    .element = stream_element,
    .ended = stream_ended,
    .timeout = stream_timeout,
    .closed = stream_closed,
};

void canto_c2s_send(struct canto_c2s *c, struct canto_stanza *st)
{
    c2s_send_stanza(c, st);
}

void canto_c2s_close(struct canto_c2s *c, const char *condition, const char *text)
{
    c2s_stream_error(c, condition, text);
}

void canto_c2s_ready(struct canto_c2s *c)
{
    c2s_bind_ready(c);
}

void canto_c2s_when_written(struct canto_c2s *c, canto_written_fn cb, void *ud)
{
    if (c->stream.transport)
        canto_transport_when_written(c->stream.transport, cb, ud);
    else
        cb(ud, CANTO_ERROR);
}

void canto_c2s_peer_address(const struct canto_c2s *c, char *out, size_t size)
{
    if (c->stream.transport)
        canto_transport_peer_address(c->stream.transport, out, size);
    else if (size > 0)
        snprintf(out, size, "?");
}

void canto_c2s_accept(struct canto_c2s_service *svc, struct canto_transport *t, bool tls_required)
{
    struct canto_c2s *c = canto_xcalloc(1, sizeof(*c));
    c->svc = svc;
    c->tls_required = tls_required;
    c->sess = svc->ops->session_new(svc->core, c);
    c->refs = 1;
    canto_stream_init(&c->stream, t, &stream_ops, &svc->limits.xml);
    c->next = svc->streams;
    if (c->next)
        c->next->prev = c;
    svc->streams = c;
    canto_transport_set_deadline(t, svc->limits.connect_timeout_ms);
}

size_t canto_c2s_release_idle(struct canto_c2s_service *svc)
{
    size_t released = 0;
    /* A stream that read nothing since the last sweep gives back its expat
     * parser until its next read (a no-op mid-stanza). Chatty streams keep
     * theirs: rebuilding it costs a few microseconds per read. */
    for (struct canto_c2s *c = svc->streams; c; c = c->next) {
        if (c->state == C2S_BOUND && !c->stream.active)
            released += canto_stream_release_idle(&c->stream);
        c->stream.active = false;
    }
    return released;
}

void canto_c2s_close_all(struct canto_c2s_service *svc, const char *condition)
{
    for (struct canto_c2s *c = svc->streams; c; c = c->next)
        c2s_stream_error(c, condition, NULL);
}
