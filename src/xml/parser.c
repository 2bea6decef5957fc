/*
 * parser.c: the XMPP stream parser, an expat push parser that turns a byte
 * stream into a stream header event, one stanza tree per top-level child, and
 * a close event.
 *
 * expat runs with namespace processing, so it resolves prefixes and hands us
 * "uri\x01local" names that we split into ns and name; a stanza without its
 * own xmlns inherits the stream header's default namespace this way. Depth 0
 * must be <stream:stream> in the streams namespace; each element opened at
 * depth 1 starts a stanza with its own arena, and when it closes the stanza
 * (one reference) goes to the stanza callback. Whitespace between stanzas is
 * dropped; any other text there is not-well-formed.
 *
 * What XMPP forbids (RFC 6120 section 11.1) is refused the moment expat sees
 * it: a DOCTYPE (so no entity is ever declared, let alone expanded: the
 * billion laughs never start), an entity declaration, a processing
 * instruction or a comment. The XML declaration is not a processing
 * instruction and is allowed. Input is always read as UTF-8.
 *
 * Limits hold while a stanza is still arriving, not when it is complete:
 * every handler checks the raw bytes from the stanza's '<' to the current
 * event, and feed() gives expat at most one slice at a time and checks the
 * bytes it has buffered without reporting them (a start tag with a huge
 * attribute that never closes). So a peer can make us hold about
 * max_stanza_bytes plus one slice, never more. Text is gathered in a growable
 * buffer and copied into the arena once per text node, which keeps a text
 * node that expat reports in many pieces O(n); the buffer is released after a
 * stanza if it grew beyond a few hundred bytes, so an idle parser stays small.
 * The namespace declarations the serializer will need for a stanza count
 * against the same limit (see build_element), so that what the server writes
 * for a stanza stays linear in what it read.
 *
 * Stopping: a handler that hits an error, or a callback that returns non-OK,
 * calls XML_StopParser and every handler checks for that on entry, so nothing
 * runs after a stop even if expat delivers one more event.
 *
 * Idle streams: an expat parser costs 8 to 11 KiB (its tables, its input
 * buffer, tag and attribute storage), yet between two stanzas the only state
 * that matters is what the stream header declared. So expat is created only
 * when the first byte arrives, and canto_xml_parser_release_idle() frees it
 * (and the text buffer) whenever the stream is between stanzas, outside any
 * CDATA section, and every byte fed so far has been reported in an event:
 * then expat holds nothing but the open header. The header's start tag is
 * kept as the raw bytes received (copied out of expat's input buffer when the
 * header is reported), and the next feed creates a fresh expat and replays
 * those bytes, silently, before the new data: the same namespace bindings,
 * prefixes and limits as before, and byte offsets that restart at the end of
 * the replayed tag.
 *
 * Framed mode (RFC 7395): each feed is a whole document. The parser acts as
 * if a stream header were open (level 1) while it parses the frame with a
 * fresh expat, so the stanza code above serves unchanged; a root <open/> or
 * <close/> in the framing namespace becomes the stream events instead. The
 * expat is freed after each frame: between frames there is nothing to keep.
 */
#include "canto/xml.h"

#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "xml/tree.h"

#if defined(XML_UNICODE) || defined(XML_UNICODE_WCHAR_T)
#error "Canto needs expat built with UTF-8 (char) XML_Char"
#endif

#define NS_SEP '\x01'                   /* cannot occur in an XML name or a namespace URI */
#define DEFAULT_MAX_STANZA_BYTES 262144
#define DEFAULT_MAX_DEPTH 64
#define DEFAULT_MAX_ATTRS 64
#define FEED_SLICE 16384                /* most bytes handed to expat per call */
#define TEXT_KEEP_BYTES 1024            /* text buffer kept between stanzas up to this */

struct canto_xml_parser {
    XML_Parser xp;                         /* NULL before the first byte and while released */
    struct canto_xml_limits limits;        /* with defaults filled in */
    struct canto_xml_parser_events events; /* copied; absent callbacks are NULL */
    void *ud;                              /* passed to every callback */
    enum canto_xml_error err;              /* first error; sticky until reset */
    bool stopped;                          /* a callback asked to stop; sticky until reset */
    unsigned level;                        /* open elements, the stream header included */
    struct canto_stanza *st;               /* the stanza being built, or NULL */
    struct canto_xml_node *cur;            /* innermost open element of st */
    struct canto_buf text;                 /* text of cur not yet made a node */
    struct canto__xml_strtab names;        /* names and namespaces interned in st */
    char *stream_ns;                       /* default namespace of the header, or NULL */
    uint64_t fed;                          /* bytes given to expat since the stream began */
    uint64_t pos;                          /* end of the furthest event expat reported */
    uint64_t mark;                         /* end of the last event at depth <= 1 */
    uint64_t stanza_start;                 /* offset of the '<' that opened st */
    size_t ns_cost;                        /* bytes of declarations st will serialize with */
    char *hdr;                             /* the header's start tag as received, or NULL */
    size_t hdr_len;                        /* its length in bytes */
    bool replaying;                        /* feeding hdr to a fresh expat: report nothing */
    bool in_cdata;                         /* in a CDATA section: not replayable */
    bool parsing;                          /* inside feed: no release under expat */
    bool framed;                           /* RFC 7395: one document per feed */
    bool framing_elem;                     /* framed: the root is <open/> or <close/> */
    struct canto_stanza *frame_st;         /* framed: the frame's stanza, delivered once the
                                            * whole frame has parsed */
};

/* --- small helpers --------------------------------------------------------- */

static bool halted(const struct canto_xml_parser *p)
{
    return p->err != CANTO_XML_ERR_NONE || p->stopped;
}

/* Record the first error and make expat return as soon as the handler does. */
static void fail(struct canto_xml_parser *p, enum canto_xml_error err)
{
    if (p->err == CANTO_XML_ERR_NONE)
        p->err = err;
    XML_StopParser(p->xp, XML_FALSE);
}

/* A callback declined to go on: stop, but this is not an error. */
static void halt(struct canto_xml_parser *p)
{
    p->stopped = true;
    XML_StopParser(p->xp, XML_FALSE);
}

/* Advance p->pos to the end of the current event and return it. An empty
 * element's end event has a byte count of 0, hence the max. */
static uint64_t event_end(struct canto_xml_parser *p)
{
    XML_Index at = XML_GetCurrentByteIndex(p->xp);
    int count = XML_GetCurrentByteCount(p->xp);
    uint64_t end = (at > 0 ? (uint64_t)at : 0) + (count > 0 ? (uint64_t)count : 0);
    if (end > p->pos)
        p->pos = end;
    return p->pos;
}

static void split_name(const char *full, const char **uri, size_t *uri_len, const char **local)
{
    const char *sep = strchr(full, NS_SEP);
    if (sep) {
        *uri = full;
        *uri_len = (size_t)(sep - full);
        *local = sep + 1;
    } else {
        *uri = "";
        *uri_len = 0;
        *local = full;
    }
}

static size_t count_attrs(const XML_Char **atts)
{
    size_t n = 0;
    while (atts[2 * n])
        n++;
    return n;
}

/* An element node for expat's name and attributes under parent in st, with
 * names interned (a namespace equal to the parent's reuses its pointer
 * without hashing, the common case).
 *
 * *ns_cost grows by the bytes of the namespace declarations the serializer
 * will write for this element: trees keep no prefixes, so <p:y/> under a
 * parent in another namespace comes out as <y xmlns="uri"/>, and a long URI
 * declared once and used through a short prefix on thousands of elements
 * would serialize to a quadratic size. Bounding this cost by the stanza limit
 * keeps a parsed stanza's serialization linear in its raw size. */
static struct canto_xml_node *build_element(struct canto_xml_parser *p, struct canto_stanza *st,
                                            struct canto_xml_node *parent, const char *full,
                                            const XML_Char **atts, size_t *ns_cost)
{
    const char *uri, *local;
    size_t uri_len;
    split_name(full, &uri, &uri_len, &local);
    const char *ns;
    if (uri_len == 0)
        ns = "";
    else if (parent && strncmp(parent->ns, uri, uri_len) == 0 && parent->ns[uri_len] == '\0')
        ns = parent->ns;
    else
        ns = canto__xml_intern(&p->names, &st->arena, uri, uri_len);
    const char *around = parent ? parent->ns : (p->stream_ns ? p->stream_ns : "");
    if (ns != around && strcmp(ns, around) != 0 && strcmp(ns, CANTO_NS_XML) != 0)
        *ns_cost += uri_len + sizeof(" xmlns=\"\"");
    struct canto_xml_node *e = canto__xml_element(
        st, parent, canto__xml_intern(&p->names, &st->arena, local, strlen(local)), ns);
    struct canto_xml_attr **tail = &e->attrs;
    for (size_t i = 0; atts[i]; i += 2) {
        split_name(atts[i], &uri, &uri_len, &local);
        const char *ans = uri_len ? canto__xml_intern(&p->names, &st->arena, uri, uri_len) : NULL;
        if (ans && strcmp(ans, CANTO_NS_XML) != 0) {
            /* Declared once per element and namespace (interned strings
             * compare by pointer; a rare miss only overestimates). */
            const struct canto_xml_attr *a = e->attrs;
            while (a && a->ns != ans)
                a = a->next;
            if (!a)
                *ns_cost += uri_len + sizeof(" xmlns:a00=\"\"");
        }
        *tail = canto__xml_attr_new(st, ans,
                                    canto__xml_intern(&p->names, &st->arena, local, strlen(local)),
                                    canto_arena_strdup(&st->arena, atts[i + 1]));
        tail = &(*tail)->next;
    }
    return e;
}

/* Turn the gathered text into one node under the open element. */
static void flush_text(struct canto_xml_parser *p)
{
    if (p->text.len == 0)
        return;
    canto__xml_text(p->st, p->cur, p->text.data, p->text.len);
    canto_buf_reset(&p->text);
}

/* Drop the per-stanza working memory, keeping only a small text buffer. */
static void end_stanza_memory(struct canto_xml_parser *p)
{
    canto__xml_strtab_free(&p->names);
    if (p->text.cap > TEXT_KEEP_BYTES)
        canto_buf_free(&p->text);
    else
        canto_buf_reset(&p->text);
}

static bool stanza_too_big(const struct canto_xml_parser *p)
{
    return p->pos - p->stanza_start > p->limits.max_stanza_bytes;
}

/* --- expat handlers -------------------------------------------------------- */

/* Keep the header's start tag, the current event, as the raw bytes expat
 * holds (a token being reported is always whole in expat's input buffer). An
 * expat built without input context (XML_CONTEXT_BYTES 0) cannot show them:
 * hdr stays NULL and this stream is simply never released. */
static void save_header(struct canto_xml_parser *p)
{
    canto_free_null(&p->hdr);
    p->hdr_len = 0;
    int offset = 0, size = 0;
    const char *buf = XML_GetInputContext(p->xp, &offset, &size);
    int count = XML_GetCurrentByteCount(p->xp);
    if (!buf || offset < 0 || count <= 0 || offset > size || count > size - offset)
        return;
    p->hdr = canto_xmalloc((size_t)count);
    memcpy(p->hdr, buf + offset, (size_t)count);
    p->hdr_len = (size_t)count;
}

/* Depth 0: check and report the stream header. The node handed to the
 * callback lives in a scratch stanza freed when the callback returns. When
 * the header is being replayed into a fresh expat it was checked and
 * reported the first time: only the depth is restored. */
static void stream_start(struct canto_xml_parser *p, const XML_Char *name, const XML_Char **atts)
{
    if (p->replaying) {
        p->level = 1;
        p->mark = p->pos;
        return;
    }
    const char *uri, *local;
    size_t uri_len;
    split_name(name, &uri, &uri_len, &local);
    if (uri_len != strlen(CANTO_NS_STREAM) || memcmp(uri, CANTO_NS_STREAM, uri_len) != 0 ||
        strcmp(local, "stream") != 0) {
        canto_free_null(&p->stream_ns);
        fail(p, CANTO_XML_ERR_BAD_NAMESPACE);
        return;
    }
    if (count_attrs(atts) > p->limits.max_attrs || p->pos > p->limits.max_stanza_bytes) {
        canto_free_null(&p->stream_ns);
        fail(p, CANTO_XML_ERR_POLICY);
        return;
    }
    if (!p->stream_ns)
        p->stream_ns = canto_xstrdup("");
    save_header(p);
    struct canto_stanza *hdr = canto_stanza_new();
    size_t unused = 0;
    build_element(p, hdr, NULL, name, atts, &unused);
    canto__xml_strtab_free(&p->names); /* it pointed into hdr's arena */
    p->level = 1;
    p->mark = p->pos;
    int rc = p->events.stream_open ? p->events.stream_open(p->ud, hdr->root) : CANTO_OK;
    canto_stanza_unref(hdr);
    if (rc != CANTO_OK)
        halt(p);
}

/* Framed: a root <open/> or <close/> of RFC 7395 is the stream's header or
 * end, reported like <stream:stream> and </stream:stream>. Returns false
 * for any other root, which is a stanza. */
static bool framing_element(struct canto_xml_parser *p, const XML_Char *name,
                            const XML_Char **atts)
{
    const char *uri, *local;
    size_t uri_len;
    split_name(name, &uri, &uri_len, &local);
    if (uri_len != strlen(CANTO_NS_FRAMING) || memcmp(uri, CANTO_NS_FRAMING, uri_len) != 0 ||
        (strcmp(local, "open") != 0 && strcmp(local, "close") != 0))
        return false;
    p->framing_elem = true;
    p->level = 2; /* its end (and anything inside it) is not a stanza */
    if (strcmp(local, "close") == 0) {
        if (p->events.stream_close)
            p->events.stream_close(p->ud);
        return true;
    }
    if (!p->stream_ns)
        p->stream_ns = canto_xstrdup("");
    struct canto_stanza *hdr = canto_stanza_new();
    size_t unused = 0;
    build_element(p, hdr, NULL, name, atts, &unused);
    canto__xml_strtab_free(&p->names);
    int rc = p->events.stream_open ? p->events.stream_open(p->ud, hdr->root) : CANTO_OK;
    canto_stanza_unref(hdr);
    if (rc != CANTO_OK)
        halt(p);
    return true;
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct canto_xml_parser *p = ud;
    if (halted(p))
        return;
    XML_Index at = XML_GetCurrentByteIndex(p->xp);
    event_end(p);
    if (p->level == 0) {
        stream_start(p, name, atts);
        return;
    }
    if (p->framing_elem) {
        /* <open/> and <close/> are empty (RFC 7395 3.3). */
        fail(p, CANTO_XML_ERR_NOT_WELL_FORMED);
        return;
    }
    /* The new element's depth inside the stanza is p->level (root: 1). */
    if (p->level > p->limits.max_depth || count_attrs(atts) > p->limits.max_attrs) {
        fail(p, CANTO_XML_ERR_POLICY);
        return;
    }
    if (p->level == 1 && p->framed && framing_element(p, name, atts))
        return;
    if (p->level == 1) {
        p->stanza_start = at > 0 ? (uint64_t)at : 0;
        if (stanza_too_big(p)) {
            fail(p, CANTO_XML_ERR_POLICY);
            return;
        }
        p->st = canto_stanza_new();
        p->cur = NULL;
        p->ns_cost = 0;
    } else {
        if (stanza_too_big(p)) {
            fail(p, CANTO_XML_ERR_POLICY);
            return;
        }
        flush_text(p);
    }
    p->cur = build_element(p, p->st, p->cur, name, atts, &p->ns_cost);
    p->level++;
    if (p->ns_cost > p->limits.max_stanza_bytes)
        fail(p, CANTO_XML_ERR_POLICY);
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct canto_xml_parser *p = ud;
    if (halted(p))
        return;
    event_end(p);
    if (p->framing_elem) {
        /* The end of <open/> or <close/> (nothing can be inside one). */
        p->level = 1;
        p->framing_elem = false;
        return;
    }
    if (p->level == 1) {
        p->level = 0;
        p->mark = p->pos;
        if (p->events.stream_close)
            p->events.stream_close(p->ud);
        return;
    }
    if (stanza_too_big(p)) {
        fail(p, CANTO_XML_ERR_POLICY);
        return;
    }
    flush_text(p);
    p->cur = p->cur->parent;
    p->level--;
    if (p->level > 1)
        return;
    /* The stanza is complete: hand it over and forget it. */
    struct canto_stanza *st = p->st;
    p->st = NULL;
    p->cur = NULL;
    p->mark = p->pos;
    end_stanza_memory(p);
    if (p->framed) {
        p->frame_st = st; /* only if the rest of the frame is well-formed too */
        return;
    }
    int rc = CANTO_OK;
    if (p->events.stanza)
        rc = p->events.stanza(p->ud, st);
    else
        canto_stanza_unref(st);
    if (rc != CANTO_OK)
        halt(p);
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    struct canto_xml_parser *p = ud;
    if (halted(p))
        return;
    event_end(p);
    if (p->level <= 1 || p->framing_elem) {
        /* Between stanzas: whitespace keep-alives, nothing else (framed:
         * inside an <open/> or <close/>, which are empty). */
        for (int i = 0; i < len; i++) {
            if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') {
                fail(p, CANTO_XML_ERR_NOT_WELL_FORMED);
                return;
            }
        }
        p->mark = p->pos;
        return;
    }
    if (stanza_too_big(p)) {
        fail(p, CANTO_XML_ERR_POLICY);
        return;
    }
    canto_buf_append(&p->text, s, (size_t)len);
}

/* A CDATA section is the one construct of content that spans several
 * events, and a parser inside one is not idle. Between stanzas its text is
 * held to the whitespace rule by on_text like any other. */
static void XMLCALL on_cdata_start(void *ud)
{
    struct canto_xml_parser *p = ud;
    p->in_cdata = true;
}

static void XMLCALL on_cdata_end(void *ud)
{
    struct canto_xml_parser *p = ud;
    p->in_cdata = false;
    if (halted(p))
        return;
    event_end(p);
    if (p->level <= 1)
        p->mark = p->pos;
}

/* Remember the header's default namespace: the namespace of the stream's
 * content (jabber:client, jabber:server ...), which the xmpp layer checks. */
static void XMLCALL on_ns_start(void *ud, const XML_Char *prefix, const XML_Char *uri)
{
    struct canto_xml_parser *p = ud;
    if (halted(p) || p->level != 0 || prefix || p->replaying)
        return;
    free(p->stream_ns);
    p->stream_ns = canto_xstrdup(uri ? uri : "");
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset)
{
    fail(ud, CANTO_XML_ERR_RESTRICTED);
}

static void XMLCALL on_entity_decl(void *ud, const XML_Char *name, int is_pe,
                                   const XML_Char *value, int value_len, const XML_Char *base,
                                   const XML_Char *sysid, const XML_Char *pubid,
                                   const XML_Char *notation)
{
    fail(ud, CANTO_XML_ERR_RESTRICTED);
}

static void XMLCALL on_pi(void *ud, const XML_Char *target, const XML_Char *data)
{
    fail(ud, CANTO_XML_ERR_RESTRICTED);
}

static void XMLCALL on_comment(void *ud, const XML_Char *data)
{
    fail(ud, CANTO_XML_ERR_RESTRICTED);
}

/* RFC 6120 11.6: a stream is UTF-8. expat is told so whatever the document
 * declares (so a declared encoding would otherwise be ignored silently); an
 * XML declaration naming any other encoding is refused with
 * unsupported-encoding (4.9.3.22). No declaration, or one without an
 * encoding, means UTF-8. */
static void XMLCALL on_xml_decl(void *ud, const XML_Char *version, const XML_Char *encoding,
                                int standalone)
{
    (void)version;
    (void)standalone;
    if (encoding && strcasecmp(encoding, "UTF-8") != 0)
        fail(ud, CANTO_XML_ERR_ENCODING);
}

/* expat salts its hash tables with fresh randomness per parser: a getrandom
 * system call (and a getenv) every time one is created, which a released
 * stream does at every read. The parser's own random seed serves as well,
 * mixed so that it differs from the intern table's. */
static void set_hash_salt(struct canto_xml_parser *p)
{
    uint64_t x = p->names.seed ^ 0x9e3779b97f4a7c15u;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    x ^= x >> 31;
#if XML_MAJOR_VERSION > 2 || (XML_MAJOR_VERSION == 2 && XML_MINOR_VERSION >= 8)
    uint8_t entropy[16];
    uint64_t y = (x ^ (x >> 29)) * 0xbf58476d1ce4e5b9u;
    memcpy(entropy, &x, 8);
    memcpy(entropy + 8, &y, 8);
    XML_SetHashSalt16Bytes(p->xp, entropy);
#else
    XML_SetHashSalt(p->xp, (unsigned long)(x | 1)); /* 0 would mean "choose one" */
#endif
}

/* Create expat and install our handlers. No external entity handler is ever
 * set and parameter entities are never parsed, so nothing outside the stream
 * is ever read. Out of memory here aborts, as for any small allocation. */
static void create_expat(struct canto_xml_parser *p)
{
    p->xp = XML_ParserCreateNS("UTF-8", NS_SEP);
    if (!p->xp) {
        fprintf(stderr, "canto: out of memory creating an XML parser\n");
        abort();
    }
    set_hash_salt(p);
    XML_SetUserData(p->xp, p);
    XML_SetElementHandler(p->xp, on_start, on_end);
    XML_SetCharacterDataHandler(p->xp, on_text);
    XML_SetStartNamespaceDeclHandler(p->xp, on_ns_start);
    XML_SetStartDoctypeDeclHandler(p->xp, on_doctype);
    XML_SetEntityDeclHandler(p->xp, on_entity_decl);
    XML_SetProcessingInstructionHandler(p->xp, on_pi);
    XML_SetCommentHandler(p->xp, on_comment);
    XML_SetXmlDeclHandler(p->xp, on_xml_decl);
    XML_SetCdataSectionHandler(p->xp, on_cdata_start, on_cdata_end);
    XML_SetParamEntityParsing(p->xp, XML_PARAM_ENTITY_PARSING_NEVER);
#if XML_MAJOR_VERSION > 2 || (XML_MAJOR_VERSION == 2 && XML_MINOR_VERSION >= 6)
    /* A stream must see each stanza as soon as its last byte arrives. */
    XML_SetReparseDeferralEnabled(p->xp, XML_FALSE);
#endif
}

static void free_expat(struct canto_xml_parser *p)
{
    if (p->xp)
        XML_ParserFree(p->xp);
    p->xp = NULL;
}

/* Forget the stream: partial stanza, working memory, saved header, counters,
 * state. expat is left alone. */
static void clear_stream(struct canto_xml_parser *p)
{
    canto_stanza_unref(p->st);
    p->st = NULL;
    p->cur = NULL;
    canto_buf_free(&p->text);
    canto__xml_strtab_free(&p->names);
    canto_free_null(&p->stream_ns);
    canto_free_null(&p->hdr);
    p->hdr_len = 0;
    p->in_cdata = false;
    p->err = CANTO_XML_ERR_NONE;
    p->stopped = false;
    p->level = 0;
    p->fed = 0;
    p->pos = 0;
    p->mark = 0;
    p->stanza_start = 0;
    p->ns_cost = 0;
}

/* --- public API ------------------------------------------------------------ */

struct canto_xml_parser *canto_xml_parser_new(const struct canto_xml_limits *limits,
                                              const struct canto_xml_parser_events *events,
                                              void *ud)
{
    struct canto_xml_parser *p = canto_xcalloc(1, sizeof(*p));
    if (limits)
        p->limits = *limits;
    if (!p->limits.max_stanza_bytes)
        p->limits.max_stanza_bytes = DEFAULT_MAX_STANZA_BYTES;
    if (!p->limits.max_depth)
        p->limits.max_depth = DEFAULT_MAX_DEPTH;
    if (!p->limits.max_attrs)
        p->limits.max_attrs = DEFAULT_MAX_ATTRS;
    if (events)
        p->events = *events;
    p->ud = ud;
    /* expat is created by the first feed (see create_expat). */
    /* The intern table's seed: unpredictable, so a peer cannot aim names at
     * one probe window (the bounded probe makes a miss harmless anyway). */
    uint64_t seed;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
        seed = (uint64_t)(uintptr_t)p ^ canto_now_ms();
    canto__xml_strtab_init(&p->names, seed);
    canto_buf_init(&p->text);
    return p;
}

static enum canto_xml_error map_expat_error(enum XML_Error code)
{
    switch (code) {
    case XML_ERROR_NO_MEMORY:
        return CANTO_XML_ERR_POLICY;
    default:
        return CANTO_XML_ERR_NOT_WELL_FORMED;
    }
}

/* Give expat a fresh start for a released parser: a new expat, then the
 * saved header start tag, reported to nobody (see stream_start), so that
 * expat is back in the header's content with its namespace bindings. Byte
 * offsets restart with it: the replayed tag is bytes [0, hdr_len) and the
 * stream goes on from there, which keeps every limit (all measured between
 * two offsets) exactly as before. Only the header's own limit is measured
 * from the stream's start, and the replay skips that check. */
static int rebuild(struct canto_xml_parser *p)
{
    create_expat(p);
    p->level = 0;
    p->fed = p->hdr_len;
    p->pos = 0;
    p->mark = 0;
    p->replaying = true;
    enum XML_Status status = XML_Parse(p->xp, p->hdr, (int)p->hdr_len, XML_FALSE);
    p->replaying = false;
    if (status == XML_STATUS_OK && !halted(p) && p->level == 1 && p->mark == p->fed)
        return CANTO_OK;
    /* Bytes that parsed once parse again; only expat running out of memory
     * can end up here. */
    if (p->err == CANTO_XML_ERR_NONE)
        p->err = status == XML_STATUS_OK ? CANTO_XML_ERR_NOT_WELL_FORMED
                                         : map_expat_error(XML_GetErrorCode(p->xp));
    return CANTO_ERROR;
}

/* Feed in slices so that bytes expat buffers without reporting them (an
 * unfinished tag) are checked against the stanza limit at least every
 * slice: everything from the start of the unfinished stanza, or from the end
 * of the last thing at depth <= 1, belongs to the next stanza or header. */
static int feed_slices(struct canto_xml_parser *p, const char *data, size_t len)
{
    size_t slice = p->limits.max_stanza_bytes < FEED_SLICE ? p->limits.max_stanza_bytes
                                                           : FEED_SLICE;
    size_t off = 0;
    while (off < len) {
        size_t n = len - off < slice ? len - off : slice;
        p->fed += n;
        enum XML_Status status = XML_Parse(p->xp, data + off, (int)n, XML_FALSE);
        off += n;
        if (p->err != CANTO_XML_ERR_NONE)
            return CANTO_ERROR;
        if (p->stopped)
            return CANTO_OK;
        if (status != XML_STATUS_OK) {
            p->err = map_expat_error(XML_GetErrorCode(p->xp));
            return CANTO_ERROR;
        }
        uint64_t from = p->st ? p->stanza_start : p->mark;
        if (p->fed - from > p->limits.max_stanza_bytes) {
            p->err = CANTO_XML_ERR_POLICY;
            return CANTO_ERROR;
        }
    }
    return CANTO_OK;
}

/* One frame: one document, parsed whole by an expat of its own, as if a
 * stream header were open around it (level 1). */
static int feed_frame(struct canto_xml_parser *p, const char *data, size_t len)
{
    if (len > p->limits.max_stanza_bytes) {
        p->err = CANTO_XML_ERR_POLICY;
        return CANTO_ERROR;
    }
    create_expat(p);
    p->level = 1;
    p->fed = len;
    p->pos = 0;
    p->mark = 0;
    p->framing_elem = false;
    p->parsing = true;
    enum XML_Status status = XML_Parse(p->xp, data, (int)len, XML_TRUE);
    enum XML_Error code = status == XML_STATUS_OK ? XML_ERROR_NONE : XML_GetErrorCode(p->xp);
    p->parsing = false;
    free_expat(p);
    /* Nothing of a frame outlives it, not even a stanza cut short. */
    canto_stanza_unref(p->st);
    p->st = NULL;
    p->cur = NULL;
    end_stanza_memory(p);
    struct canto_stanza *st = p->frame_st;
    p->frame_st = NULL;
    /* Expat refused it (cut short, two roots, no element at all). */
    if (p->err == CANTO_XML_ERR_NONE && !p->stopped && (status != XML_STATUS_OK || p->level != 1))
        p->err = code != XML_ERROR_NONE ? map_expat_error(code) : CANTO_XML_ERR_NOT_WELL_FORMED;
    if (p->err != CANTO_XML_ERR_NONE || p->stopped) {
        canto_stanza_unref(st);
        return p->err != CANTO_XML_ERR_NONE ? CANTO_ERROR : CANTO_OK;
    }
    if (st && !p->events.stanza)
        canto_stanza_unref(st);
    else if (st && p->events.stanza(p->ud, st) != CANTO_OK)
        p->stopped = true;
    return CANTO_OK;
}

void canto_xml_parser_set_framed(struct canto_xml_parser *p)
{
    p->framed = true;
}

bool canto_xml_parser_framed(const struct canto_xml_parser *p)
{
    return p->framed;
}

int canto_xml_parser_feed(struct canto_xml_parser *p, const char *data, size_t len)
{
    if (p->err != CANTO_XML_ERR_NONE)
        return CANTO_ERROR;
    if (p->framed && !p->stopped)
        return feed_frame(p, data, len);
    if (p->stopped || len == 0)
        return CANTO_OK;
    p->parsing = true;
    int rc = CANTO_OK;
    if (!p->xp) {
        if (p->level == 0)
            create_expat(p); /* the stream's first bytes */
        else
            rc = rebuild(p); /* released between stanzas */
    }
    if (rc == CANTO_OK)
        rc = feed_slices(p, data, len);
    p->parsing = false;
    return rc;
}

enum canto_xml_error canto_xml_parser_error(const struct canto_xml_parser *p)
{
    return p->err;
}

bool canto_xml_parser_stopped(const struct canto_xml_parser *p)
{
    return p->stopped;
}

const char *canto_xml_parser_stream_ns(const struct canto_xml_parser *p)
{
    return p->stream_ns;
}

/* The new stream's expat is created by its first bytes, like the first
 * stream's: a restarted stream costs nothing until the peer speaks. */
void canto_xml_parser_reset(struct canto_xml_parser *p)
{
    free_expat(p);
    clear_stream(p);
}

/* Idle means expat holds nothing that the saved header cannot rebuild: the
 * header is open (level 1), no stanza has begun, no CDATA section is open,
 * and the last event reported ended at the last byte fed, so no partial
 * token, trailing CR or half character sits unreported in expat's buffer.
 * The checks are a handful of compares, so callers may try after every
 * read. */
void canto_xml_parser_release_idle(struct canto_xml_parser *p)
{
    if (!p->xp || p->parsing || halted(p) || !p->hdr || p->level != 1 || p->st || p->in_cdata ||
        p->mark != p->fed)
        return;
    free_expat(p);
    canto_buf_free(&p->text);
    canto__xml_strtab_free(&p->names);
}

bool canto_xml_parser_released(const struct canto_xml_parser *p)
{
    return p->xp == NULL;
}

void canto_xml_parser_free(struct canto_xml_parser *p)
{
    if (!p)
        return;
    clear_stream(p);
    free_expat(p);
    free(p);
}

const char *canto_xml_error_str(enum canto_xml_error err)
{
    switch (err) {
    case CANTO_XML_ERR_NONE: return "none";
    case CANTO_XML_ERR_NOT_WELL_FORMED: return "not-well-formed";
    case CANTO_XML_ERR_RESTRICTED: return "restricted-xml";
    case CANTO_XML_ERR_POLICY: return "policy-violation";
    case CANTO_XML_ERR_BAD_NAMESPACE: return "invalid-namespace";
    case CANTO_XML_ERR_ENCODING: return "unsupported-encoding";
    }
    return "unknown";
}
