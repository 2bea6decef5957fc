/*
 * serialize.c: stanza trees back to XML bytes.
 *
 * Trees carry namespace URIs, never prefixes, so the serializer chooses the
 * prefixes. Elements use default namespace declarations only: an element gets
 * xmlns="..." exactly where its namespace differs from the one in effect
 * (parent_ns for the node passed in, then the enclosing element's), including
 * xmlns="" to leave a namespace. Attributes in the XML namespace are written
 * with the reserved prefix (xml:lang); any other namespaced attribute gets a
 * prefix "a<i>" declared on its own element, i being the position of the
 * first attribute of that element in the same namespace, so prefixes never
 * leak into children and never clash. An element in the XML namespace itself
 * (legal, if odd) is written as xml:name because the default namespace may not
 * be bound to it.
 *
 * The output is always well-formed whatever bytes the tree holds: on top of
 * the five predefined entities, \r in text and \t \n \r in attribute values
 * are written as character references so they survive a parser's
 * normalisation, and anything XML 1.0 cannot carry (control characters,
 * invalid UTF-8, U+FFFE, U+FFFF) is replaced with U+FFFD. Trees from the
 * parser never hold such bytes; trees built by code may. Names are trusted to
 * be valid XML names: they come from the parser or from code.
 *
 * The walk is iterative (trees built by code have no depth limit) and the
 * output is appended to a caller's buffer. canto_stanza_serialized adds the
 * memory that makes one stanza broadcast to many sessions cost one
 * serialization: the scratch buffer numbers what it holds and the stanza
 * remembers its number, so the next session finds the bytes still there;
 * only when other output came in between are the bytes copied onto the
 * stanza itself.
 */
#include "canto/xml.h"

#include <stdlib.h>
#include <string.h>

#define NS_XMLNS "http://www.w3.org/2000/xmlns/"
#define REPLACEMENT_CHAR "\xEF\xBF\xBD"

/* Length of the UTF-8 character at s[0..n) if XML may carry it, else 0 with
 * *bad set to the bytes to replace with one U+FFFD: a whole sequence that is
 * complete but forbidden (overlong form, surrogate, beyond U+10FFFF, the
 * non-characters U+FFFE and U+FFFF), or a single byte that starts no
 * complete sequence. */
static size_t utf8_char_len(const unsigned char *s, size_t n, size_t *bad)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    *bad = 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF) {
        *bad = len;
        return 0;
    }
    return len;
}

/* Append s[0..n) escaped for text (attr false) or for a double-quoted
 * attribute value (attr true). Runs of ordinary bytes go through
 * canto_buf_append_xml_escaped; only what it does not cover is handled
 * here, one byte at a time, so clean ASCII costs one scan. */
static void put_escaped(struct canto_buf *out, const char *str, size_t n, bool attr)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t run = 0; /* start of bytes not yet written */
    size_t i = 0;
    canto_buf_reserve(out, n);
    while (i < n) {
        unsigned char c = s[i];
        /* One pass: printable ASCII that needs no escaping is the common
         * case and costs one test per byte. */
        if (c >= 0x20 && c < 0x80 && c != '&' && c != '<' && c != '>' &&
            (!attr || (c != '"' && c != '\''))) {
            i++;
            continue;
        }
        const char *rep;
        size_t skip = 1;
        if (c >= 0x80) {
            size_t len = utf8_char_len(s + i, n - i, &skip);
            if (len) {
                i += len;
                continue;
            }
            rep = REPLACEMENT_CHAR;
        } else if (c == '&') {
            rep = "&amp;";
        } else if (c == '<') {
            rep = "&lt;";
        } else if (c == '>') {
            rep = "&gt;";
        } else if (c == '"') {
            rep = "&quot;";
        } else if (c == '\'') {
            rep = "&apos;";
        } else if ((c == '\n' || c == '\t') && !attr) {
            i++;
            continue;
        } else if (c == '\t') {
            rep = "&#9;";
        } else if (c == '\n') {
            rep = "&#10;";
        } else if (c == '\r') {
            rep = "&#13;";
        } else {
            rep = REPLACEMENT_CHAR;
        }
        canto_buf_append(out, str + run, i - run);
        canto_buf_append_str(out, rep);
        i += skip;
        run = i;
    }
    canto_buf_append(out, str + run, n - run);
}

static bool is_xml_ns(const char *ns)
{
    return ns && strcmp(ns, CANTO_NS_XML) == 0;
}

static const char *ns_or_empty(const char *ns)
{
    return ns ? ns : "";
}

/* The default namespace in effect inside element e: its own namespace,
 * unless e is written with the xml: prefix, in which case whatever was in
 * effect around it (found by walking up to the serialization's top node). */
static const char *default_inside(const struct canto_xml_node *e, const struct canto_xml_node *top,
                                  const char *parent_ns)
{
    for (;;) {
        if (!is_xml_ns(e->ns))
            return ns_or_empty(e->ns);
        if (e == top)
            return parent_ns;
        e = e->parent;
    }
}

static void put_name(struct canto_buf *out, const struct canto_xml_node *e)
{
    if (is_xml_ns(e->ns))
        canto_buf_append_str(out, "xml:");
    canto_buf_append_str(out, e->name);
}

/* Write one attribute. The prefix scheme needs the attribute's position and
 * a look back at the earlier attributes of the same element: O(attrs^2) in
 * the worst case, and the parser bounds attrs per element. */
static void put_attr(struct canto_buf *out, const struct canto_xml_node *e,
                     const struct canto_xml_attr *a, size_t pos)
{
    const char *ns = ns_or_empty(a->ns);
    if (strcmp(ns, NS_XMLNS) == 0 || (!*ns && strcmp(a->name, "xmlns") == 0))
        return; /* declarations are the serializer's business, not the tree's */
    canto_buf_append_char(out, ' ');
    if (is_xml_ns(ns)) {
        canto_buf_append_str(out, "xml:");
    } else if (*ns) {
        size_t first = pos;
        size_t j = 0;
        for (const struct canto_xml_attr *b = e->attrs; b != a; b = b->next, j++) {
            if (strcmp(ns_or_empty(b->ns), ns) == 0) {
                first = j;
                break;
            }
        }
        if (first == pos) {
            canto_buf_appendf(out, "xmlns:a%zu=\"", pos);
            put_escaped(out, ns, strlen(ns), true);
            canto_buf_append_str(out, "\" ");
        }
        canto_buf_appendf(out, "a%zu:", first);
    }
    canto_buf_append_str(out, a->name);
    canto_buf_append_str(out, "=\"");
    put_escaped(out, a->value, strlen(a->value), true);
    canto_buf_append_char(out, '"');
}

/* The start tag of e, given the default namespace around it; "/>" if e has
 * no children. */
static void put_start(struct canto_buf *out, const struct canto_xml_node *e, const char *around)
{
    canto_buf_append_char(out, '<');
    put_name(out, e);
    const char *ns = ns_or_empty(e->ns);
    if (!is_xml_ns(ns) && strcmp(ns, around) != 0) {
        canto_buf_append_str(out, " xmlns=\"");
        put_escaped(out, ns, strlen(ns), true);
        canto_buf_append_char(out, '"');
    }
    size_t pos = 0;
    for (const struct canto_xml_attr *a = e->attrs; a; a = a->next, pos++)
        put_attr(out, e, a, pos);
    canto_buf_append_str(out, e->children ? ">" : "/>");
}

static void put_end(struct canto_buf *out, const struct canto_xml_node *e)
{
    canto_buf_append_str(out, "</");
    put_name(out, e);
    canto_buf_append_char(out, '>');
}

void canto_xml_serialize(const struct canto_xml_node *node, const char *parent_ns,
                         struct canto_buf *out)
{
    if (!node)
        return;
    parent_ns = ns_or_empty(parent_ns);
    const struct canto_xml_node *n = node;
    for (;;) {
        if (n->kind == CANTO_XML_TEXT) {
            put_escaped(out, n->text, n->text_len, false);
        } else {
            const char *around =
                n == node ? parent_ns : default_inside(n->parent, node, parent_ns);
            put_start(out, n, around);
            if (n->children) {
                n = n->children;
                continue;
            }
        }
        /* n is finished: move to its next sibling, closing parents whose
         * last child it was. */
        while (n != node && !n->next) {
            n = n->parent;
            put_end(out, n);
        }
        if (n == node)
            return;
        n = n->next;
    }
}

/* Serialisation kept on a stanza: the bytes, then the namespace's name. */
struct canto_xml_bytes {
    size_t len;
    const char *ns; /* points after data */
    char data[];
};

static bool same_ns(const char *a, const char *b)
{
    return a == b || strcmp(a, b) == 0;
}

void canto_xml_scratch_free(struct canto_xml_scratch *scratch)
{
    canto_buf_free(&scratch->buf);
    scratch->ns = NULL;
}

const char *canto_stanza_serialized(struct canto_stanza *st, const char *ns,
                                    struct canto_xml_scratch *scratch, size_t *len)
{
    ns = ns_or_empty(ns);
    struct canto_xml_bytes *kept = st->bytes;
    if (kept && same_ns(kept->ns, ns)) {
        *len = kept->len;
        return kept->data;
    }
    if (st->scratch == scratch && st->scratch_serial == scratch->serial && same_ns(scratch->ns, ns)) {
        *len = scratch->buf.len;
        return scratch->buf.data;
    }
    /* Serialised before (so sent to several sessions) but lost from the
     * scratch buffer: this time keep the bytes. */
    bool again = st->scratch != NULL;
    canto_buf_reset(&scratch->buf);
    canto_xml_serialize(st->root, ns, &scratch->buf);
    scratch->ns = ns;
    st->scratch = scratch;
    st->scratch_serial = ++scratch->serial;
    *len = scratch->buf.len;
    if (!again)
        return scratch->buf.data;
    size_t ns_len = strlen(ns);
    kept = canto_xmalloc(sizeof(*kept) + scratch->buf.len + ns_len + 1);
    kept->len = scratch->buf.len;
    memcpy(kept->data, scratch->buf.data, kept->len);
    char *ns_copy = kept->data + kept->len;
    memcpy(ns_copy, ns, ns_len + 1);
    kept->ns = ns_copy;
    free(st->bytes);
    st->bytes = kept;
    return kept->data;
}
