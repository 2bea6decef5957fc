/*
 * test_transport_memory.c: the transport seam, proved with a transport that
 * is nothing but memory.
 *
 * A new transport is one file that fills a struct canto_transport_ops
 * (transport.h); a service hands each new transport to its stream kind by
 * the listener table (core/listeners.c). Here the whole "file" is the
 * struct mem_transport below: it records every write as one frame and
 * tells the stream about input, timeouts and its own end the way TCP does
 * (the end never from inside a call, as libuv's close callback). Through it
 * a real c2s stream, taken from the table by its service name, answers a
 * header with its own and its features, refuses a wrong host and bad XML
 * with stream errors, times out, and does all of that once more in the
 * RFC 7395 framing (<open/>, one element per frame) when the transport is
 * framed. Nothing in the stream knows which transport it is on.
 *
 * The server around it is built by hand (one host, no modules, no storage):
 * enough for everything a client can do before it authenticates.
 */
#include <stdlib.h>
#include <string.h>

#include "canto/server.h"
#include "canto/transport.h"
#include "check.h"
#include "core/listeners.h"

/* --- the transport --------------------------------------------------------- */

struct mem_transport {
    struct canto_transport base;
    struct canto_buf frames;   /* every write, each followed by "|" */
    int nframes;
    bool secure;               /* is_secure answers this */
    bool can_tls;              /* offers start_tls (a byte stream before TLS) */
    bool closing;              /* close or abort was called */
    bool aborted;
    bool gone;                 /* closed was delivered */
    const char *close_reason;
    uint64_t timeout_ms, deadline_ms;
};

static struct mem_transport *mem_of(const struct canto_transport *t)
{
    return canto_container_of(t, struct mem_transport, base);
}

static void mem_write(struct canto_transport *t, const void *data, size_t len)
{
    struct mem_transport *m = mem_of(t);
    CHECK(!m->closing); /* a stream never writes after its close */
    canto_buf_append(&m->frames, data, len);
    canto_buf_append_char(&m->frames, '|');
    m->nframes++;
}

static void mem_close(struct canto_transport *t, const char *reason)
{
    struct mem_transport *m = mem_of(t);
    if (!m->closing)
        m->close_reason = reason;
    m->closing = true;
}

static void mem_abort(struct canto_transport *t, const char *reason)
{
    mem_close(t, reason);
    mem_of(t)->aborted = true;
}

static bool mem_is_secure(const struct canto_transport *t)
{
    return mem_of(t)->secure;
}

static int mem_start_tls(struct canto_transport *t)
{
    mem_of(t)->secure = true;
    return CANTO_OK;
}

static int mem_channel_binding(const struct canto_transport *t, const char *type,
                               unsigned char *out, size_t size)
{
    return -1; /* no TLS below: no binding of any type */
}

static const char *mem_peer(const struct canto_transport *t)
{
    return "memory";
}

static void mem_peer_address(const struct canto_transport *t, char *out, size_t size)
{
    snprintf(out, size, "memory");
}

static void mem_set_timeout(struct canto_transport *t, uint64_t ms)
{
    mem_of(t)->timeout_ms = ms;
}

static void mem_set_deadline(struct canto_transport *t, uint64_t ms)
{
    mem_of(t)->deadline_ms = ms;
}

static size_t mem_queued(const struct canto_transport *t)
{
    return 0; /* everything is "written" at once */
}

static void mem_when_written(struct canto_transport *t, canto_written_fn cb, void *ud)
{
    cb(ud, mem_of(t)->closing ? CANTO_ERROR : CANTO_OK);
}

static const struct canto_transport_ops mem_ops = {
    .name = "memory",
    .write = mem_write,
    .close = mem_close,
    .abort = mem_abort,
    .is_secure = mem_is_secure,
    .start_tls = mem_start_tls,
    .channel_binding = mem_channel_binding,
    .peer = mem_peer,
    .peer_address = mem_peer_address,
    .set_timeout = mem_set_timeout,
    .set_deadline = mem_set_deadline,
    .queued = mem_queued,
    .when_written = mem_when_written,
};

/* The same transport without STARTTLS: a byte stream already secure, or a
 * framed one (WebSocket has no STARTTLS). */
static const struct canto_transport_ops mem_ops_no_tls = {
    .name = "memory",
    .write = mem_write,
    .close = mem_close,
    .abort = mem_abort,
    .is_secure = mem_is_secure,
    .channel_binding = mem_channel_binding,
    .peer = mem_peer,
    .peer_address = mem_peer_address,
    .set_timeout = mem_set_timeout,
    .set_deadline = mem_set_deadline,
    .queued = mem_queued,
    .when_written = mem_when_written,
};

/* The peer sends one read (framed: one frame). */
static void mem_input(struct mem_transport *m, const char *data)
{
    if (!m->closing)
        m->base.events->data(&m->base, data, strlen(data));
}

/* The transport is gone: its last event, as a close callback would give it. */
static void mem_finish(struct mem_transport *m)
{
    CHECK(!m->gone);
    m->gone = true;
    m->base.events->closed(&m->base, m->close_reason ? m->close_reason : "peer closed");
}

/* --- a server with one host and nothing else ------------------------------- */

struct fixture {
    struct canto_server srv;
    struct canto_config cfg;
    struct canto_host host;
    struct canto_listen_config lc;
    struct canto_listener l;
};

static void fixture_init(struct fixture *f, enum canto_tls_mode tls)
{
    memset(f, 0, sizeof(*f));
    f->cfg.limits.c2s_max_stanza_size = 10000;
    f->cfg.limits.max_depth = 8;
    f->cfg.limits.max_attributes = 16;
    f->cfg.limits.connect_timeout = 30;
    f->cfg.limits.idle_timeout = 900;
    f->host.name = "example.com";
    f->host.server = &f->srv;
    f->srv.cfg = &f->cfg;
    f->srv.hosts = &f->host;
    f->srv.nhosts = 1;
    f->lc.service = canto_listener_kind_find("c2s");
    f->lc.tls = tls;
    f->l.server = &f->srv;
    f->l.cfg = &f->lc;
    f->lc.service->start(&f->srv); /* as the server does once */
}

static void fixture_free(struct fixture *f)
{
    CHECK(f->srv.c2s.streams == NULL); /* every stream went with its transport */
    canto_xml_scratch_free(&f->srv.scratch);
}

/* A new connection, handed to the c2s kind exactly as a listener would. */
static void open_transport(struct fixture *f, struct mem_transport *m,
                           const struct canto_transport_ops *ops, bool framed, bool secure)
{
    memset(m, 0, sizeof(*m));
    m->base.ops = ops;
    m->base.framed = framed;
    m->secure = secure;
    CHECK(f->lc.service != NULL);
    f->lc.service->accept(&f->l, &m->base);
    CHECK(m->base.events != NULL);
    CHECK_INT(m->deadline_ms, 30000); /* the time to authenticate */
}

static bool has(const struct mem_transport *m, const char *s)
{
    return m->frames.data && strstr(m->frames.data, s) != NULL;
}

static bool starts(const struct mem_transport *m, const char *s)
{
    return m->frames.data && strncmp(m->frames.data, s, strlen(s)) == 0;
}

#define HEADER(to)                                                                          \
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "                            \
    "xmlns:stream='http://etherx.jabber.org/streams' to='" to "' version='1.0'>"
#define OPEN(to) "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='" to "' version='1.0'/>"

/* --- a byte stream ---------------------------------------------------------- */

static void test_stream_header_and_features(void)
{
    struct fixture f;
    fixture_init(&f, CANTO_TLS_REQUIRED);
    struct mem_transport m;
    open_transport(&f, &m, &mem_ops, false, false);
    CHECK_INT(m.nframes, 0); /* nothing before the client speaks */
    mem_input(&m, HEADER("example.com"));
    /* Our header, then the features: STARTTLS required, nothing else yet. */
    CHECK_INT(m.nframes, 2);
    CHECK(starts(&m, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                     "xmlns:stream='http://etherx.jabber.org/streams' id='"));
    CHECK(has(&m, "from='example.com' version='1.0' xml:lang='en'>|"));
    CHECK(has(&m, "|<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>"
                  "<required/></starttls></stream:features>|"));
    CHECK(!has(&m, "mechanism"));
    /* STARTTLS: proceed, the transport starts TLS, the stream restarts and
     * then offers SASL (no channel binding on this transport). */
    mem_input(&m, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    CHECK(has(&m, "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>|"));
    CHECK(m.secure);
    canto_buf_reset(&m.frames);
    mem_input(&m, HEADER("example.com"));
    CHECK(has(&m, "<mechanism>SCRAM-SHA-256</mechanism>"));
    CHECK(has(&m, "<mechanism>PLAIN</mechanism>"));
    CHECK(!has(&m, "starttls"));
    CHECK(!has(&m, "<channel-binding "));
    /* A stanza before authentication ends the stream. */
    mem_input(&m, "<message to='a@example.com'><body>hi</body></message>");
    CHECK(has(&m, "<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"));
    CHECK(has(&m, "</stream:error></stream:stream>|"));
    CHECK(m.closing && !m.aborted);
    /* Nothing more is read or written once the stream ended. */
    int n = m.nframes;
    m.closing = false;
    mem_input(&m, "<presence/>");
    m.closing = true;
    CHECK_INT(m.nframes, n);
    mem_finish(&m);
    canto_buf_free(&m.frames);
    fixture_free(&f);
}

static void test_stream_errors(void)
{
    struct fixture f;
    fixture_init(&f, CANTO_TLS_REQUIRED);
    struct mem_transport m;

    /* A host this server does not serve: our header (from the first host),
     * then host-unknown. */
    open_transport(&f, &m, &mem_ops, false, false);
    mem_input(&m, HEADER("elsewhere.example"));
    CHECK(has(&m, "from='example.com'"));
    CHECK(has(&m, "<host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"));
    CHECK(m.closing);
    mem_finish(&m);
    canto_buf_free(&m.frames);

    /* Bad XML before any header: a header first, then the error. */
    open_transport(&f, &m, &mem_ops, false, false);
    mem_input(&m, "<<<");
    CHECK(has(&m, "<stream:stream "));
    CHECK(has(&m, "<not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"));
    mem_finish(&m);
    canto_buf_free(&m.frames);

    /* The deadline passes: connection-timeout. */
    open_transport(&f, &m, &mem_ops, false, false);
    mem_input(&m, HEADER("example.com"));
    m.base.events->timeout(&m.base);
    CHECK(has(&m, "<connection-timeout xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"));
    mem_finish(&m);
    canto_buf_free(&m.frames);

    /* The peer closes: we answer with our closing tag. */
    open_transport(&f, &m, &mem_ops, false, false);
    mem_input(&m, HEADER("example.com"));
    mem_input(&m, "</stream:stream>");
    CHECK(has(&m, "|</stream:stream>|"));
    CHECK(m.closing);
    mem_finish(&m);
    canto_buf_free(&m.frames);

    /* The transport drops without a word: the stream just goes. */
    open_transport(&f, &m, &mem_ops, false, false);
    mem_input(&m, HEADER("example.com"));
    mem_finish(&m);
    canto_buf_free(&m.frames);
    fixture_free(&f);
}

/* --- the same stream, framed (RFC 7395) ------------------------------------- */

static void test_framed(void)
{
    struct fixture f;
    fixture_init(&f, CANTO_TLS_REQUIRED);
    struct mem_transport m;
    open_transport(&f, &m, &mem_ops_no_tls, true, true);
    mem_input(&m, OPEN("example.com"));
    /* <open/> answers <open/>; features declare the stream prefix; no
     * STARTTLS on a framed transport. Each element is one frame. */
    CHECK_INT(m.nframes, 2);
    CHECK(starts(&m, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' id='"));
    CHECK(has(&m, "from='example.com' version='1.0' xml:lang='en'/>|"));
    CHECK(has(&m, "|<stream:features xmlns:stream='http://etherx.jabber.org/streams'>"
                  "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"));
    CHECK(!has(&m, "starttls"));
    /* A frame that is not one whole element: the error, then <close/>, as
     * two frames. */
    canto_buf_reset(&m.frames);
    m.nframes = 0;
    mem_input(&m, "<message xmlns='jabber:client'><body>cut");
    CHECK_INT(m.nframes, 2);
    CHECK_STR(m.frames.data,
              "<stream:error xmlns:stream='http://etherx.jabber.org/streams'>"
              "<not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
              "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>not-well-formed</text>"
              "</stream:error>|<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>|");
    CHECK(m.closing);
    mem_finish(&m);
    canto_buf_free(&m.frames);

    /* The client's <close/> gets ours. */
    open_transport(&f, &m, &mem_ops_no_tls, true, true);
    mem_input(&m, OPEN("example.com"));
    mem_input(&m, "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>");
    CHECK(has(&m, "|<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>|"));
    CHECK(m.closing);
    mem_finish(&m);
    canto_buf_free(&m.frames);

    /* A wrong host, framed. */
    open_transport(&f, &m, &mem_ops_no_tls, true, true);
    mem_input(&m, OPEN("elsewhere.example"));
    CHECK(has(&m, "<host-unknown "));
    CHECK(has(&m, "|<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>|"));
    mem_finish(&m);
    canto_buf_free(&m.frames);
    fixture_free(&f);
}

int main(void)
{
    test_stream_header_and_features();
    test_stream_errors();
    test_framed();
    return CHECK_DONE();
}
