/*
 * stream.c: the stream machinery every stream kind shares (stream.h).
 *
 * What is the same for c2s, s2s and components lives here: the header we
 * send (and its RFC 7395 <open/> twin on a framed transport), the checks of
 * the peer's header that do not depend on the kind (content namespace,
 * version), the features element, stream errors and the closing handshake
 * in both framings, restarts, and the parser: fed from the transport,
 * released when idle, its failures turned into the stream errors RFC 6120
 * names. The kind says only what is its own, through struct
 * canto_stream_ops.
 *
 * On a framed transport every write is exactly one element (one frame), so
 * a stream error and the <close/> after it are two writes there.
 */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "canto/log.h"
#include "canto/stream.h"

#define RELEASES_PER_SECOND 8 /* parser releases after reads, per stream */

static const char framing_close[] = "<close xmlns='" CANTO_NS_FRAMING "'/>";

void canto_stream_send(struct canto_stream *s, const char *data, size_t len)
{
    if (s->transport)
        canto_transport_write(s->transport, data, len);
}

void canto_stream_send_str(struct canto_stream *s, const char *str)
{
    canto_stream_send(s, str, strlen(str));
}

const char *canto_stream_stanza_ns(const struct canto_stream *s)
{
    return s->framed ? "" : s->ops->content_ns;
}

/* A fresh stream id: 16 hex digits of randomness (RFC 6120 4.7.3 wants it
 * unique and unpredictable). */
static void new_id(struct canto_stream *s)
{
    unsigned char r[8];
    static const char hex[] = "0123456789abcdef";
    randombytes_buf(r, sizeof r);
    for (size_t i = 0; i < sizeof r; i++) {
        s->id[2 * i] = hex[r[i] >> 4];
        s->id[2 * i + 1] = hex[r[i] & 15];
    }
    s->id[16] = '\0';
}

/* Our header: <stream:stream> or, framed, <open/>. xml:lang echoes the
 * peer's when it gave a sane one. */
static void send_header(struct canto_stream *s)
{
    struct canto_buf b = {0};
    if (s->framed) {
        canto_buf_append_str(&b, "<open xmlns='" CANTO_NS_FRAMING "' id='");
    } else {
        canto_buf_appendf(&b, "<?xml version='1.0'?><stream:stream xmlns='%s' "
                              "xmlns:stream='" CANTO_NS_STREAM "' id='",
                          s->ops->content_ns);
    }
    canto_buf_append_str(&b, s->id);
    const char *from = s->ops->from(s);
    if (from) {
        canto_buf_append_str(&b, "' from='");
        canto_buf_append_xml_escaped(&b, from, strlen(from), true);
    }
    canto_buf_append_str(&b, "' version='1.0' xml:lang='");
    const char *lang = s->lang ? s->lang : "en";
    canto_buf_append_xml_escaped(&b, lang, strlen(lang), true);
    canto_buf_append_str(&b, s->framed ? "'/>" : "'>");
    canto_stream_send(s, b.data, b.len);
    canto_buf_free(&b);
    s->header_sent = true;
}

void canto_stream_send_features(struct canto_stream *s)
{
    struct canto_buf b = {0};
    canto_buf_append_str(&b, s->framed ? "<stream:features xmlns:stream='" CANTO_NS_STREAM "'>"
                                       : "<stream:features>");
    s->ops->features(s, &b);
    canto_buf_append_str(&b, "</stream:features>");
    canto_stream_send(s, b.data, b.len);
    canto_buf_free(&b);
}

/* Our closing tag is out: the kind hears that nothing more may be sent,
 * then the transport closes once what is queued has gone. */
static void end(struct canto_stream *s, const char *reason)
{
    s->ended = true;
    s->ops->ended(s);
    if (s->transport)
        canto_transport_close(s->transport, reason);
}

void canto_stream_error(struct canto_stream *s, const char *condition, const char *text)
{
    if (s->ended || !s->transport)
        return;
    if (!s->header_sent) {
        new_id(s);
        send_header(s);
    }
    struct canto_buf b = {0};
    canto_buf_appendf(&b, "%s<%s xmlns='" CANTO_NS_STREAMS "'/>",
                      s->framed ? "<stream:error xmlns:stream='" CANTO_NS_STREAM "'>"
                                : "<stream:error>",
                      condition);
    if (text) {
        canto_buf_append_str(&b, "<text xmlns='" CANTO_NS_STREAMS "' xml:lang='en'>");
        canto_buf_append_xml_escaped(&b, text, strlen(text), false);
        canto_buf_append_str(&b, "</text>");
    }
    canto_buf_append_str(&b, "</stream:error>");
    if (s->framed) {
        canto_stream_send(s, b.data, b.len);
        canto_stream_send_str(s, framing_close);
    } else {
        canto_buf_append_str(&b, "</stream:stream>");
        canto_stream_send(s, b.data, b.len);
    }
    canto_buf_free(&b);
    canto_debug("%s: stream error %s%s%s", canto_transport_peer(s->transport), condition,
                text ? ": " : "", text ? text : "");
    end(s, condition);
}

void canto_stream_close(struct canto_stream *s, const char *reason)
{
    if (s->ended || !s->transport)
        return;
    if (!s->header_sent) {
        new_id(s);
        send_header(s);
    }
    canto_stream_send_str(s, s->framed ? framing_close : "</stream:stream>");
    end(s, reason);
}

void canto_stream_restart(struct canto_stream *s)
{
    if (s->in_feed)
        s->restart = true;
    else
        canto_xml_parser_reset(s->parser);
}

/* --- the parser's events ------------------------------------------------ */

/* The peer's header (also after each restart): the kind's checks first
 * (host-unknown comes before anything else), then ours. */
static int on_stream_open(void *ud, const struct canto_xml_node *hdr)
{
    struct canto_stream *s = ud;
    const char *lang = canto_xml_attr_ns(hdr, CANTO_NS_XML, "lang");
    if (lang && !s->lang && strlen(lang) <= 35 &&
        strspn(lang, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") ==
            strlen(lang))
        s->lang = canto_xstrdup(lang);
    new_id(s);
    if (s->ops->open(s, hdr) != CANTO_OK)
        return CANTO_ERROR;
    send_header(s);
    /* Framed, each stanza declares its namespace; the <open/> has none. */
    const char *ns = canto_xml_parser_stream_ns(s->parser);
    if (!s->framed && (!ns || strcmp(ns, s->ops->content_ns) != 0)) {
        struct canto_buf text = {0};
        canto_buf_appendf(&text, "The default namespace must be %s", s->ops->content_ns);
        canto_stream_error(s, "invalid-namespace", text.data);
        canto_buf_free(&text);
        return CANTO_ERROR;
    }
    const char *version = canto_xml_attr(hdr, "version");
    if (!version || strtol(version, NULL, 10) < 1) {
        canto_stream_error(s, "unsupported-version", "XMPP 1.0 streams only");
        return CANTO_ERROR;
    }
    canto_stream_send_features(s);
    return s->ended ? CANTO_ERROR : CANTO_OK;
}

static int on_element(void *ud, struct canto_stanza *st)
{
    struct canto_stream *s = ud;
    if (s->ended) {
        canto_stanza_unref(st);
        return CANTO_ERROR;
    }
    int rc = s->ops->element(s, st);
    return rc == CANTO_OK && !s->ended ? CANTO_OK : CANTO_ERROR;
}

/* The peer's closing tag: we answer with ours and close. */
static void on_stream_close(void *ud)
{
    canto_stream_close(ud, "closed by peer");
}

static const struct canto_xml_parser_events parser_events = {
    .stream_open = on_stream_open,
    .stanza = on_element,
    .stream_close = on_stream_close,
};

/* --- the transport's events -------------------------------------------- */

/* Give the expat parser back right after a read that left the stream
 * between stanzas, while that is cheap: at most RELEASES_PER_SECOND times
 * a second per stream, since rebuilding it costs a few microseconds and a
 * chatty stream would pay that on every read. Releasing at once, not only
 * in the idle sweep, keeps the parsers' memory from being left as holes
 * between longer-lived allocations (a login's reads all qualify). */
static void release_parser_if_cheap(struct canto_stream *s)
{
    if (s->ended || canto_xml_parser_released(s->parser))
        return;
    uint64_t now = canto_now_ms();
    if (now - s->release_window >= 1000) {
        s->release_window = now;
        s->releases = 0;
    }
    if (s->releases >= RELEASES_PER_SECOND)
        return;
    canto_xml_parser_release_idle(s->parser);
    s->releases += canto_xml_parser_released(s->parser);
}

bool canto_stream_release_idle(struct canto_stream *s)
{
    if (s->ended || canto_xml_parser_released(s->parser))
        return false;
    canto_xml_parser_release_idle(s->parser);
    return canto_xml_parser_released(s->parser);
}

/* The stream error for a parser failure: the parser's names are RFC 6120
 * conditions (xml.h). */
static const char *xml_error_condition(enum canto_xml_error e)
{
    return e == CANTO_XML_ERR_NONE ? "not-well-formed" : canto_xml_error_str(e);
}

static void transport_data(struct canto_transport *t, const char *data, size_t len)
{
    struct canto_stream *s = canto_transport_ud(t);
    if (s->ended)
        return;
    s->in_feed = true;
    int rc = canto_xml_parser_feed(s->parser, data, len);
    s->in_feed = false;
    if (rc != CANTO_OK) {
        enum canto_xml_error e = canto_xml_parser_error(s->parser);
        canto_stream_error(s, xml_error_condition(e), canto_xml_error_str(e));
        return;
    }
    if (s->restart && !s->ended) {
        s->restart = false;
        canto_xml_parser_reset(s->parser);
    }
    s->active = true;
    release_parser_if_cheap(s);
}

static void transport_timeout(struct canto_transport *t)
{
    struct canto_stream *s = canto_transport_ud(t);
    s->ops->timeout(s);
}

static void transport_closed(struct canto_transport *t, const char *reason)
{
    struct canto_stream *s = canto_transport_ud(t);
    s->transport = NULL;
    s->ops->closed(s, reason);
}

static const struct canto_transport_events transport_events = {
    .data = transport_data,
    .timeout = transport_timeout,
    .closed = transport_closed,
};

void canto_stream_init(struct canto_stream *s, struct canto_transport *t,
                       const struct canto_stream_ops *ops, const struct canto_xml_limits *limits)
{
    /* Idempotent and cheap after the first call: stream ids need it. */
    if (sodium_init() < 0)
        abort();
    s->ops = ops;
    s->transport = t;
    s->framed = t->framed;
    s->parser = canto_xml_parser_new(limits, &parser_events, s);
    if (s->framed)
        canto_xml_parser_set_framed(s->parser);
    canto_transport_attach(t, &transport_events, s);
}

void canto_stream_free(struct canto_stream *s)
{
    canto_xml_parser_free(s->parser);
    s->parser = NULL;
    canto_free_null(&s->lang);
}
