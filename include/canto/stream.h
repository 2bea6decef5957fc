/*
 * stream.h: the XML stream machinery every stream kind shares (RFC 6120
 * section 4): the peer's header and ours, features, stream errors, the
 * closing handshake, restarts, the parser and its limits, and the framed
 * variant of RFC 7395 (XMPP over WebSocket: <open/> and <close/>, one
 * element per frame). A kind (c2s today; s2s and components later) embeds a
 * struct canto_stream, fills a const struct canto_stream_ops with what is
 * its own (who may connect, which features, what each element means), and
 * reaches its transport (transport.h) only through the stream.
 *
 * The stream attaches itself to the transport's events: bytes go to the
 * parser (framed transports: one frame per feed), the parser's events go
 * to the kind's ops. A kind may end the stream (canto_stream_error,
 * canto_stream_close) from inside any op; parsing of that read stops.
 */
#ifndef CANTO_STREAM_H
#define CANTO_STREAM_H

#include "canto/buf.h"
#include "canto/transport.h"
#include "canto/xml.h"

#define CANTO_NS_STREAMS "urn:ietf:params:xml:ns:xmpp-streams"

struct canto_stream;

struct canto_stream_ops {
    /* The default namespace of the stream's content: "jabber:client",
     * "jabber:server", "jabber:component:accept". */
    const char *content_ns;
    /* The peer's stream header (framed: its <open/>), before ours goes
     * out: check it (to, from). Return CANTO_OK, or end the stream
     * (canto_stream_error) and return CANTO_ERROR. */
    int (*open)(struct canto_stream *s, const struct canto_xml_node *hdr);
    /* The domain our header names (the one the peer addressed, or the
     * default one before it said), or NULL for none. */
    const char *(*from)(struct canto_stream *s);
    /* Append the features of the stream's current phase to out (the
     * children of <stream:features>). */
    void (*features)(struct canto_stream *s, struct canto_buf *out);
    /* A top-level element (one reference passes to the callee). Return
     * CANTO_OK to go on, anything else to stop parsing what is left of this
     * read (the stream restarts or ended). */
    int (*element)(struct canto_stream *s, struct canto_stanza *st);
    /* The stream ended: our closing tag is out (a stream error, the peer's
     * closing tag, a shutdown) and nothing more may be sent on it. */
    void (*ended)(struct canto_stream *s);
    /* The transport's idle timeout or deadline passed. */
    void (*timeout)(struct canto_stream *s);
    /* The transport is gone: the last call the stream makes. */
    void (*closed)(struct canto_stream *s, const char *reason);
};

struct canto_stream {
    const struct canto_stream_ops *ops;
    struct canto_transport *transport; /* NULL once the transport is gone */
    struct canto_xml_parser *parser;
    char *lang;                        /* the peer's xml:lang, when it gave a sane one */
    char id[17];                       /* stream id of our last header */
    bool framed;                       /* RFC 7395 framing (the transport is framed) */
    bool header_sent;                  /* our header (or <open/>) went out */
    bool ended;                        /* our closing tag went out */
    bool restart;                      /* reset the parser after this feed */
    bool in_feed;                      /* inside canto_xml_parser_feed */
    bool active;                       /* read something since the last idle sweep */
    uint8_t releases;                  /* parser releases in the current window */
    uint64_t release_window;           /* start (ms) of that one-second window */
};

/* Set up s on transport t (attaching to its events; framed if t is) for
 * the kind's ops, with the parser's limits. */
void canto_stream_init(struct canto_stream *s, struct canto_transport *t,
                       const struct canto_stream_ops *ops, const struct canto_xml_limits *limits);
/* Release what s holds (the parser, lang); not s itself. */
void canto_stream_free(struct canto_stream *s);

/* Write one complete element (or several, unframed) as is. */
void canto_stream_send(struct canto_stream *s, const char *data, size_t len);
void canto_stream_send_str(struct canto_stream *s, const char *str);
/* The default namespace in force where a stanza is written: content_ns
 * on a byte stream (stanzas carry no xmlns), none when framed (each frame
 * declares its own). For canto_xml_serialize. */
const char *canto_stream_stanza_ns(const struct canto_stream *s);
/* Send <stream:features> with what ops->features gives. */
void canto_stream_send_features(struct canto_stream *s);
/* A stream error (RFC 6120 4.9; condition such as "host-unknown", text
 * optional), our header first if it was not sent, our closing tag, then
 * ops->ended and a graceful close of the transport. Nothing if ended. */
void canto_stream_error(struct canto_stream *s, const char *condition, const char *text);
/* Our closing tag, ops->ended, and a graceful close of the transport (the
 * answer to the peer's, or a close of our own). Nothing if ended. */
void canto_stream_close(struct canto_stream *s, const char *reason);
/* The stream restarts (after STARTTLS or SASL success): the parser starts
 * over, at once or, from inside an op, when the current feed returns. */
void canto_stream_restart(struct canto_stream *s);
/* Give the parser's memory back if the stream is between elements: true
 * if it released something. The idle sweep of a kind calls this. */
bool canto_stream_release_idle(struct canto_stream *s);

#endif
