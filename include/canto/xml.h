/*
 * xml.h: stanza trees, the XMPP stream parser and the serializer.
 *
 * A stanza is one top-level child of an XMPP stream (depth 1 below the stream
 * header). Its whole tree lives in one arena owned by a refcounted struct
 * canto_stanza, so it is freed in one go when its last holder lets go.
 *
 * Names are split by namespace: an element has a local name and a namespace
 * URI (never a prefix). Attributes keep their local name and namespace URI too
 * (NULL namespace for ordinary unprefixed attributes; xml:lang has the
 * namespace CANTO_NS_XML). The serializer writes namespaces back as default
 * namespace declarations (xmlns="...") where an element's namespace differs
 * from its parent's, and xml:lang as "xml:lang".
 */
#ifndef CANTO_XML_H
#define CANTO_XML_H

#include "canto/arena.h"
#include "canto/buf.h"
#include "canto/common.h"

#define CANTO_NS_XML "http://www.w3.org/XML/1998/namespace"
#define CANTO_NS_STREAM "http://etherx.jabber.org/streams"
#define CANTO_NS_CLIENT "jabber:client"
#define CANTO_NS_SERVER "jabber:server"
#define CANTO_NS_FRAMING "urn:ietf:params:xml:ns:xmpp-framing" /* RFC 7395 <open/>, <close/> */

enum canto_xml_kind {
    CANTO_XML_ELEMENT,
    CANTO_XML_TEXT,
};

struct canto_xml_attr {
    const char *name;            /* local name */
    const char *ns;              /* namespace URI or NULL */
    const char *value;           /* unescaped value */
    struct canto_xml_attr *next; /* in document order */
};

struct canto_xml_node {
    enum canto_xml_kind kind;
    const char *name;                  /* element: local name; text: NULL */
    const char *ns;                    /* element: namespace URI ("" if none) */
    const char *text;                  /* text: unescaped bytes (NUL-terminated) */
    size_t text_len;                   /* text: length in bytes */
    struct canto_xml_attr *attrs;      /* element: first attribute */
    struct canto_xml_node *parent;     /* NULL for the root */
    struct canto_xml_node *children;   /* first child */
    struct canto_xml_node *last_child; /* O(1) append */
    struct canto_xml_node *next;       /* next sibling */
};

struct canto_xml_scratch;
struct canto_xml_bytes;

struct canto_stanza {
    int refs;                   /* holders; freed when it drops to 0 */
    struct canto_arena arena;   /* owns every node, attribute and string */
    struct canto_xml_node *root;
    /* Its serialisation, kept so that a stanza sent to many sessions is
     * serialised once (see canto_stanza_serialized); every builder
     * function below forgets it. */
    struct canto_xml_bytes *bytes;          /* bytes kept on the stanza, or NULL */
    const struct canto_xml_scratch *scratch;/* a scratch buffer that may hold them */
    uint64_t scratch_serial;                /* ...if its serial is still this one */
};

/* --- stanza lifetime and building ------------------------------------- */

/* A new empty stanza (refs 1, no root). Never NULL. */
struct canto_stanza *canto_stanza_new(void);
/* A new stanza whose root element is name/ns (refs 1). */
struct canto_stanza *canto_stanza_new_root(const char *name, const char *ns);
struct canto_stanza *canto_stanza_ref(struct canto_stanza *st);
/* Drop one reference; frees at zero. NULL is fine. */
void canto_stanza_unref(struct canto_stanza *st);
/* A deep copy into a fresh arena (refs 1), for changing a shared stanza. */
struct canto_stanza *canto_stanza_copy(const struct canto_stanza *st);

/* New element appended to parent (parent NULL: it becomes st->root).
 * ns NULL means "inherit the parent's namespace". Strings are copied. */
struct canto_xml_node *canto_xml_add_child(struct canto_stanza *st, struct canto_xml_node *parent,
                                           const char *name, const char *ns);
/* <name>text</name> appended to parent, in the parent's namespace; text
 * NULL or "" gives an empty element. Returns the new element. */
struct canto_xml_node *canto_xml_add_text_child(struct canto_stanza *st,
                                                struct canto_xml_node *parent, const char *name,
                                                const char *text);
/* Append text to an element (copied). */
struct canto_xml_node *canto_xml_add_text(struct canto_stanza *st, struct canto_xml_node *parent,
                                          const char *text, size_t len);
/* Deep-copy node (from any stanza) and append it under parent in st. */
struct canto_xml_node *canto_xml_add_copy(struct canto_stanza *st, struct canto_xml_node *parent,
                                          const struct canto_xml_node *node);
/* Set (replace or add) an attribute without namespace; value NULL removes it. */
void canto_xml_set_attr(struct canto_stanza *st, struct canto_xml_node *node, const char *name,
                        const char *value);
/* Set an attribute with a namespace (e.g. CANTO_NS_XML "lang"). */
void canto_xml_set_attr_ns(struct canto_stanza *st, struct canto_xml_node *node, const char *ns,
                           const char *name, const char *value);
/* Unlink node (of st) from its parent (memory stays in the arena). */
void canto_xml_remove(struct canto_stanza *st, struct canto_xml_node *node);

/* --- reading ------------------------------------------------------------ */

/* Value of the un-namespaced attribute name, or NULL. */
const char *canto_xml_attr(const struct canto_xml_node *node, const char *name);
const char *canto_xml_attr_ns(const struct canto_xml_node *node, const char *ns, const char *name);
/* First child element with this name and namespace (either may be NULL for
 * "any"), or NULL. */
struct canto_xml_node *canto_xml_child(const struct canto_xml_node *node, const char *name,
                                       const char *ns);
/* First child element of any name, or NULL. */
struct canto_xml_node *canto_xml_first_element(const struct canto_xml_node *node);
/* Next sibling element after node, or NULL. */
struct canto_xml_node *canto_xml_next_element(const struct canto_xml_node *node);
/* Concatenated text of node's direct text children, into the stanza arena
 * ("" when none). */
const char *canto_xml_text(struct canto_stanza *st, const struct canto_xml_node *node);

/* --- serializer ----------------------------------------------------------- */

/* Append node (and its subtree) as XML to out. parent_ns is the default
 * namespace in effect where the node is written (e.g. "jabber:client" for a
 * stanza on a c2s stream): an element in that namespace gets no xmlns.
 * Text and attribute values are escaped; output is always well-formed. */
void canto_xml_serialize(const struct canto_xml_node *node, const char *parent_ns,
                         struct canto_buf *out);

/* One loop's buffer for serialising outgoing stanzas: the stream writes
 * the bytes out at once, so one buffer serves every stanza and is never
 * freed and reallocated. It remembers whose bytes it holds. */
struct canto_xml_scratch {
    struct canto_buf buf;
    const char *ns;  /* the default namespace buf was written for */
    uint64_t serial; /* numbers what buf held; 0: nothing yet */
};

void canto_xml_scratch_free(struct canto_xml_scratch *scratch);

/* The bytes of st's root written where the default namespace is ns
 * (CANTO_NS_CLIENT on a c2s stream), *len set; they point into scratch or
 * into st and stay valid until either is used again or st changes. A
 * stanza sent to many sessions is serialised once: the first time into
 * scratch, and later calls find it there as long as nothing else was
 * serialised in between; if something was, the bytes are then kept on the
 * stanza (until it changes or is freed), so no stanza is serialised more
 * than twice however many sessions get it, and a stanza sent once (the
 * usual case, and what idle sessions keep) costs no memory for it.
 * Serialising writes to st: a stanza shared by several threads must be
 * serialised by one of them only (or copied). */
const char *canto_stanza_serialized(struct canto_stanza *st, const char *ns,
                                    struct canto_xml_scratch *scratch, size_t *len);

/* --- the stream parser ---------------------------------------------------- */

struct canto_xml_limits {
    size_t max_stanza_bytes; /* raw bytes of one stanza, e.g. 262144 */
    unsigned max_depth;      /* element depth inside a stanza, e.g. 64 */
    unsigned max_attrs;      /* attributes per element, e.g. 64 */
};

/* Why the parser stopped; maps one to one onto RFC 6120 stream errors. */
enum canto_xml_error {
    CANTO_XML_ERR_NONE = 0,
    CANTO_XML_ERR_NOT_WELL_FORMED,  /* not-well-formed */
    CANTO_XML_ERR_RESTRICTED,       /* restricted-xml: DTD, entity, PI, comment */
    CANTO_XML_ERR_POLICY,           /* policy-violation: size, depth or attribute limit */
    CANTO_XML_ERR_BAD_NAMESPACE,    /* invalid-namespace: stream header not in the streams ns */
    CANTO_XML_ERR_ENCODING,         /* unsupported-encoding: an XML declaration naming other than UTF-8 */
};

struct canto_xml_parser_events {
    /* The stream header <stream:stream ...> was read (framed: an <open/> in
     * CANTO_NS_FRAMING). hdr is an element node valid only during the call
     * (attributes: to, from, version, id, xml:lang). Return CANTO_OK to go
     * on, anything else to stop parsing. */
    int (*stream_open)(void *ud, const struct canto_xml_node *hdr);
    /* A complete stanza. Ownership of one reference passes to the callee.
     * Return CANTO_OK to go on, anything else to stop parsing (the rest of
     * the fed data is discarded). */
    int (*stanza)(void *ud, struct canto_stanza *st);
    /* </stream:stream> was read (framed: a <close/>). */
    void (*stream_close)(void *ud);
};

struct canto_xml_parser;

/* A parser that expects an XMPP stream: the first element must be the stream
 * header, each complete depth-1 element is a stanza. */
struct canto_xml_parser *canto_xml_parser_new(const struct canto_xml_limits *limits,
                                              const struct canto_xml_parser_events *events,
                                              void *ud);
/* The framed mode of RFC 7395 (XMPP over WebSocket), for transports that
 * carry one element per frame: each feed is one frame holding exactly one
 * complete XML document, whose root is an <open/> (stream_open), a
 * <close/> (stream_close), both in CANTO_NS_FRAMING, or a stanza. A frame
 * that is not one whole element is not-well-formed; one bigger than
 * max_stanza_bytes is policy-violation; the same restrictions and limits
 * hold inside it. No expat is kept between frames, so an idle framed
 * stream holds no parser memory at all. Call before the first feed. */
void canto_xml_parser_set_framed(struct canto_xml_parser *p);
bool canto_xml_parser_framed(const struct canto_xml_parser *p);
/* Feed bytes (framed: one frame). Returns CANTO_OK (all consumed, or a callback asked to stop:
 * see canto_xml_parser_stopped) or CANTO_ERROR with the reason in
 * canto_xml_parser_error(). After an error the parser accepts no more data. */
int canto_xml_parser_feed(struct canto_xml_parser *p, const char *data, size_t len);
enum canto_xml_error canto_xml_parser_error(const struct canto_xml_parser *p);
/* True if a callback returned non-OK during the last feed. */
bool canto_xml_parser_stopped(const struct canto_xml_parser *p);
/* The default namespace declared on the stream header (the content
 * namespace: "jabber:client", "jabber:server" ...; "" if it declared none),
 * or NULL before the header was read (framed: "" once <open/> was read;
 * each stanza frame declares its own). Valid until reset or free; the xmpp
 * layer checks it to answer invalid-namespace. */
const char *canto_xml_parser_stream_ns(const struct canto_xml_parser *p);
/* Start over for a new stream (after STARTTLS or SASL success). Must not be
 * called from inside a parser callback; call it after feed returns. */
void canto_xml_parser_reset(struct canto_xml_parser *p);
/* Give back the memory of an idle stream. When the parser is between
 * stanzas (the header read, no stanza begun, every byte fed so far parsed:
 * no partial tag or character held back, not stopped, no error), this frees
 * the expat parser and every working buffer, keeping only the header's start
 * tag as received (bounded by max_stanza_bytes, typically ~200 bytes) and
 * the header's namespace. The next feed rebuilds expat from that tag without
 * calling stream_open again and parsing goes on exactly as if nothing had
 * happened: same namespaces and prefixes, limits, errors, stop and reset.
 * When the parser is not idle this does nothing, cheaply, so it may be
 * called after every feed. Not from inside a parser callback (it then does
 * nothing). The parser needs expat to keep input context (XML_CONTEXT_BYTES,
 * on by default); without it streams are never released. */
void canto_xml_parser_release_idle(struct canto_xml_parser *p);
/* True while the parser holds no expat parser: before the first byte of a
 * stream (a new or reset parser creates expat lazily) or after
 * canto_xml_parser_release_idle released it. For tests and statistics. */
bool canto_xml_parser_released(const struct canto_xml_parser *p);
/* Free the parser and any partial stanza. NULL is fine. Not from inside a
 * parser callback either. A released parser may be freed like any other. */
void canto_xml_parser_free(struct canto_xml_parser *p);
/* Name of an error for logs. */
const char *canto_xml_error_str(enum canto_xml_error err);

#endif
