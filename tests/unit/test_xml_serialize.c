/*
 * test_xml_serialize.c: the serializer and the stanza tree API of xml.h.
 *
 * Trees are built with the public builder and their exact serialization is
 * checked: escaping of every special character in text and attribute values,
 * default namespace declarations only where the namespace changes, xml:lang,
 * generated prefixes for other namespaced attributes, empty elements, and the
 * replacement of bytes XML cannot carry. Then parse -> serialize -> parse
 * must give back an equal tree, and the reading, editing, copying and
 * refcounting functions are checked on their own, including trees far deeper
 * than any recursion could handle.
 */
#include <stdlib.h>
#include <string.h>

#include "canto/xml.h"
#include "check.h"

/* Serialize node into a fresh string (caller frees). */
static char *ser(const struct canto_xml_node *node, const char *parent_ns)
{
    struct canto_buf b;
    canto_buf_init(&b);
    canto_xml_serialize(node, parent_ns, &b);
    return canto_buf_steal(&b);
}

#define CHECK_SER(node, parent_ns, expected)        \
    do {                                            \
        char *s_ = ser((node), (parent_ns));        \
        CHECK_STR(s_, (expected));                  \
        free(s_);                                   \
    } while (0)

static void test_escaping(void)
{
    struct canto_stanza *st = canto_stanza_new_root("message", CANTO_NS_CLIENT);
    struct canto_xml_node *body = canto_xml_add_child(st, st->root, "body", NULL);
    const char text[] = "a<b>c&d\"e'f\tg\nh\ri]]>j";
    canto_xml_add_text(st, body, text, sizeof(text) - 1);
    canto_xml_set_attr(st, st->root, "x", "<>&\"'\t\n\r!");
    CHECK_SER(st->root, CANTO_NS_CLIENT,
              "<message x=\"&lt;&gt;&amp;&quot;&apos;&#9;&#10;&#13;!\">"
              "<body>a&lt;b&gt;c&amp;d\"e'f\tg\nh&#13;i]]&gt;j</body></message>");
    /* A text node alone. */
    CHECK_SER(body->children, CANTO_NS_CLIENT, "a&lt;b&gt;c&amp;d\"e'f\tg\nh&#13;i]]&gt;j");
    canto_stanza_unref(st);

    /* Bytes XML cannot carry become U+FFFD; valid UTF-8 passes untouched. */
    st = canto_stanza_new_root("m", "");
    const char bad[] = "a\x01" "b\xff" "c\xed\xa0\x80" "d\xef\xbf\xbe" "e\x00" "f\xc3"
                       "\xa9\xf0\x9f\x98\x80\x7f";
    canto_xml_add_text(st, st->root, bad, sizeof(bad) - 1);
    canto_xml_set_attr(st, st->root, "v", "\x02\xc3\x28");
    CHECK_SER(st->root, "",
              "<m v=\"\xef\xbf\xbd\xef\xbf\xbd(\">a\xef\xbf\xbd" "b\xef\xbf\xbd"
              "c\xef\xbf\xbd" "d\xef\xbf\xbd"
              "e\xef\xbf\xbd" "f\xc3\xa9\xf0\x9f\x98\x80\x7f</m>");
    canto_stanza_unref(st);
}

static void test_namespaces(void)
{
    struct canto_stanza *st = canto_stanza_new_root("iq", CANTO_NS_CLIENT);
    canto_xml_set_attr(st, st->root, "type", "result");
    struct canto_xml_node *q = canto_xml_add_child(st, st->root, "query", "jabber:iq:roster");
    struct canto_xml_node *item = canto_xml_add_child(st, q, "item", NULL);
    canto_xml_set_attr(st, item, "jid", "a@b");
    canto_xml_add_child(st, item, "group", "jabber:iq:roster");
    canto_xml_add_child(st, q, "none", "");
    canto_xml_add_child(st, st->root, "back", CANTO_NS_CLIENT);

    const char *inner = "<query xmlns=\"jabber:iq:roster\"><item jid=\"a@b\"><group/></item>"
                        "<none xmlns=\"\"/></query><back/></iq>";
    char expect[512];
    snprintf(expect, sizeof(expect), "<iq type=\"result\">%s", inner);
    CHECK_SER(st->root, CANTO_NS_CLIENT, expect);
    snprintf(expect, sizeof(expect), "<iq xmlns=\"jabber:client\" type=\"result\">%s", inner);
    CHECK_SER(st->root, CANTO_NS_SERVER, expect);
    CHECK_SER(st->root, NULL, expect);
    CHECK_SER(st->root, "", expect);
    /* A subtree written on its own, where its parent's namespace is known. */
    CHECK_SER(item, "jabber:iq:roster", "<item jid=\"a@b\"><group/></item>");
    CHECK_SER(item, CANTO_NS_CLIENT,
              "<item xmlns=\"jabber:iq:roster\" jid=\"a@b\"><group/></item>");
    canto_stanza_unref(st);

    /* xml:lang and other namespaced attributes. */
    st = canto_stanza_new_root("message", CANTO_NS_CLIENT);
    canto_xml_set_attr_ns(st, st->root, CANTO_NS_XML, "lang", "en");
    canto_xml_set_attr(st, st->root, "to", "x@y");
    canto_xml_set_attr_ns(st, st->root, "urn:a", "x", "1");
    canto_xml_set_attr_ns(st, st->root, "urn:b", "y", "2");
    canto_xml_set_attr_ns(st, st->root, "urn:a", "z", "3&");
    canto_xml_set_attr_ns(st, st->root, "urn:q\"", "w", "4");
    struct canto_xml_node *c = canto_xml_add_child(st, st->root, "c", NULL);
    canto_xml_set_attr_ns(st, c, "urn:b", "y", "5");
    CHECK_SER(st->root, CANTO_NS_CLIENT,
              "<message xml:lang=\"en\" to=\"x@y\" xmlns:a2=\"urn:a\" a2:x=\"1\""
              " xmlns:a3=\"urn:b\" a3:y=\"2\" a2:z=\"3&amp;\" xmlns:a5=\"urn:q&quot;\" a5:w=\"4\">"
              "<c xmlns:a0=\"urn:b\" a0:y=\"5\"/></message>");
    CHECK_STR(canto_xml_attr_ns(st->root, CANTO_NS_XML, "lang"), "en");
    CHECK_STR(canto_xml_attr_ns(st->root, "urn:a", "z"), "3&");
    CHECK(canto_xml_attr(st->root, "z") == NULL);
    CHECK(canto_xml_attr(st->root, "lang") == NULL);
    canto_stanza_unref(st);

    /* An element in the XML namespace cannot use a default declaration. */
    st = canto_stanza_new_root("message", CANTO_NS_CLIENT);
    struct canto_xml_node *x = canto_xml_add_child(st, st->root, "odd", CANTO_NS_XML);
    canto_xml_add_child(st, x, "inner", CANTO_NS_CLIENT);
    canto_xml_add_child(st, x, "other", "urn:o");
    CHECK_SER(st->root, CANTO_NS_CLIENT,
              "<message><xml:odd><inner/><other xmlns=\"urn:o\"/></xml:odd></message>");
    CHECK_SER(x, "urn:o", "<xml:odd><inner xmlns=\"jabber:client\"/><other/></xml:odd>");
    canto_stanza_unref(st);

    /* Declarations are written by the serializer, never taken from the tree. */
    st = canto_stanza_new_root("m", "urn:m");
    canto_xml_set_attr(st, st->root, "xmlns", "urn:evil");
    canto_xml_set_attr_ns(st, st->root, "http://www.w3.org/2000/xmlns/", "p", "urn:evil");
    CHECK_SER(st->root, "", "<m xmlns=\"urn:m\"/>");
    canto_stanza_unref(st);
}

/* --- parse, serialize, parse -------------------------------------------------- */

struct collect {
    struct canto_stanza *st[32]; /* stanzas received, one reference each */
    int n;                       /* how many */
};

static int collect_stanza(void *ud, struct canto_stanza *st)
{
    struct collect *c = ud;
    if (c->n < (int)CANTO_ARRAY_LEN(c->st))
        c->st[c->n++] = st;
    else
        canto_stanza_unref(st);
    return CANTO_OK;
}

static const struct canto_xml_parser_events collect_events = {.stanza = collect_stanza};

static void collect_free(struct collect *c)
{
    for (int i = 0; i < c->n; i++)
        canto_stanza_unref(c->st[i]);
    c->n = 0;
}

static int parse_into(const char *doc, size_t len, struct collect *c)
{
    struct canto_xml_parser *p = canto_xml_parser_new(NULL, &collect_events, c);
    int rc = canto_xml_parser_feed(p, doc, len);
    canto_xml_parser_free(p);
    return rc;
}

static bool str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* Structural equality (recursive: test trees are shallow). */
static bool tree_equal(const struct canto_xml_node *a, const struct canto_xml_node *b)
{
    if (!a || !b)
        return a == b;
    if (a->kind != b->kind)
        return false;
    if (a->kind == CANTO_XML_TEXT)
        return a->text_len == b->text_len && memcmp(a->text, b->text, a->text_len) == 0;
    if (!str_eq(a->name, b->name) || !str_eq(a->ns, b->ns))
        return false;
    const struct canto_xml_attr *x = a->attrs, *y = b->attrs;
    for (; x && y; x = x->next, y = y->next) {
        if (!str_eq(x->name, y->name) || !str_eq(x->ns, y->ns) || !str_eq(x->value, y->value))
            return false;
    }
    if (x || y)
        return false;
    const struct canto_xml_node *m = a->children, *n = b->children;
    for (; m && n; m = m->next, n = n->next) {
        if (!tree_equal(m, n))
            return false;
    }
    return !m && !n;
}

#define RT_HEADER                                                                  \
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"

static void test_round_trip(void)
{
    const char doc[] =
        RT_HEADER
        "<message to='a@b/c' type='chat' xml:lang='en' id='&lt;&amp;&gt;&quot;&apos;'>"
        "<body>Hi &amp; bye &lt;3 \xe2\x98\xba\n\t&#13;</body>"
        "<active xmlns='http://jabber.org/protocol/chatstates'/>"
        "<x xmlns='jabber:x:data' type='submit'><field var='f&#9;&#10;&#13;'><value> a  b "
        "</value></field></x>"
        "<p:ext xmlns:p='urn:p' xmlns:q='urn:q' p:a='1' q:b='2' p:c='3' d='4'>"
        "<p:in q:x='y'>t<![CDATA[]]>u</p:in><plain xmlns=''><deeper/></plain></p:ext>"
        "</message>"
        "<presence><show>dnd</show><status xml:lang='de'>weg</status>"
        "<xml:odd xmlns:xml='http://www.w3.org/XML/1998/namespace'/></presence>"
        "<iq type='get' id='1'><query xmlns='jabber:iq:version'/></iq>";
    struct collect first = {0}, second = {0};
    CHECK_INT(parse_into(doc, sizeof(doc) - 1, &first), CANTO_OK);
    CHECK_INT(first.n, 3);

    struct canto_buf again;
    canto_buf_init(&again);
    canto_buf_append_str(&again, RT_HEADER);
    for (int i = 0; i < first.n; i++)
        canto_xml_serialize(first.st[i]->root, CANTO_NS_CLIENT, &again);
    CHECK_INT(parse_into(again.data, again.len, &second), CANTO_OK);
    CHECK_INT(second.n, first.n);
    for (int i = 0; i < first.n && i < second.n; i++) {
        CHECK(tree_equal(first.st[i]->root, second.st[i]->root));
        char *a = ser(first.st[i]->root, CANTO_NS_CLIENT);
        char *b = ser(second.st[i]->root, CANTO_NS_CLIENT);
        CHECK_STR(a, b);
        free(a);
        free(b);
    }
    /* A few things the trip must keep. */
    if (second.n == 3) {
        struct canto_xml_node *m = second.st[0]->root;
        CHECK_STR(canto_xml_attr(m, "id"), "<&>\"'");
        CHECK_STR(canto_xml_text(second.st[0], canto_xml_child(m, "body", NULL)),
                  "Hi & bye <3 \xe2\x98\xba\n\t\r");
        struct canto_xml_node *f =
            canto_xml_child(canto_xml_child(m, "x", "jabber:x:data"), "field", NULL);
        CHECK_STR(canto_xml_attr(f, "var"), "f\t\n\r");
        struct canto_xml_node *ext = canto_xml_child(m, "ext", "urn:p");
        CHECK_STR(canto_xml_attr_ns(ext, "urn:q", "b"), "2");
        CHECK_STR(canto_xml_attr(ext, "d"), "4");
        CHECK_STR(canto_xml_child(ext, "plain", "")->ns, "");
        CHECK_STR(canto_xml_child(canto_xml_child(ext, "plain", ""), "deeper", NULL)->ns, "");
        CHECK_STR(canto_xml_child(second.st[1]->root, "odd", CANTO_NS_XML)->name, "odd");
    }
    canto_buf_free(&again);
    collect_free(&first);
    collect_free(&second);
}

/* --- the tree API ------------------------------------------------------------------ */

static void test_tree_api(void)
{
    struct canto_stanza *st = canto_stanza_new();
    CHECK(st->root == NULL);
    CHECK_INT(st->refs, 1);
    struct canto_xml_node *root = canto_xml_add_child(st, NULL, "presence", NULL);
    CHECK(st->root == root);
    CHECK_STR(root->ns, "");

    /* Attributes: replaced in place, removed, added at the end. */
    canto_xml_set_attr(st, root, "a", "1");
    canto_xml_set_attr(st, root, "b", "2");
    canto_xml_set_attr(st, root, "c", "3");
    canto_xml_set_attr(st, root, "b", "two");
    canto_xml_set_attr(st, root, "a", NULL);
    canto_xml_set_attr(st, root, "missing", NULL);
    canto_xml_set_attr(st, root, "a", "one");
    CHECK_SER(root, "", "<presence b=\"two\" c=\"3\" a=\"one\"/>");
    CHECK_STR(canto_xml_attr(root, "b"), "two");
    CHECK(canto_xml_attr(root, "nope") == NULL);

    /* Children, text, lookups. */
    canto_xml_add_text(st, root, "x", 1);
    struct canto_xml_node *show = canto_xml_add_child(st, root, "show", NULL);
    canto_xml_add_text(st, show, "chat", 4);
    canto_xml_add_text(st, root, "y", 1);
    struct canto_xml_node *status = canto_xml_add_child(st, root, "status", "urn:s");
    canto_xml_add_text(st, root, "z", 1);
    CHECK_STR(canto_xml_text(st, root), "xyz");
    CHECK_STR(canto_xml_text(st, show), "chat");
    CHECK_STR(canto_xml_text(st, status), "");
    CHECK(canto_xml_first_element(root) == show);
    CHECK(canto_xml_next_element(show) == status);
    CHECK(canto_xml_next_element(status) == NULL);
    CHECK(canto_xml_child(root, "status", NULL) == status);
    CHECK(canto_xml_child(root, NULL, "urn:s") == status);
    CHECK(canto_xml_child(root, "status", "") == NULL);
    CHECK(canto_xml_child(root, "show", "") == show);
    CHECK(canto_xml_child(root, "x", NULL) == NULL);

    /* Removal keeps the list and last_child right. */
    struct canto_xml_node *last = root->last_child;
    canto_xml_remove(st, last);
    CHECK(last->parent == NULL);
    CHECK_SER(root, "", "<presence b=\"two\" c=\"3\" a=\"one\">x<show>chat</show>y"
                        "<status xmlns=\"urn:s\"/></presence>");
    canto_xml_remove(st, show);
    canto_xml_remove(st, root->children);
    CHECK_SER(root, "", "<presence b=\"two\" c=\"3\" a=\"one\">y<status xmlns=\"urn:s\"/>"
                        "</presence>");
    canto_xml_add_child(st, root, "priority", NULL);
    CHECK_SER(root, "", "<presence b=\"two\" c=\"3\" a=\"one\">y<status xmlns=\"urn:s\"/>"
                        "<priority/></presence>");
    canto_xml_remove(st, root); /* the root has no parent: nothing happens */
    CHECK(st->root == root);

    /* Deep copies are equal and independent. */
    struct canto_stanza *cp = canto_stanza_copy(st);
    CHECK_INT(cp->refs, 1);
    CHECK(tree_equal(cp->root, st->root));
    CHECK(cp->root != st->root);
    char *before = ser(st->root, "");
    canto_xml_set_attr(cp, cp->root, "b", "changed");
    CHECK_STR(canto_xml_attr(st->root, "b"), "two");

    struct canto_stanza *other = canto_stanza_new_root("wrapper", "urn:w");
    struct canto_xml_node *added = canto_xml_add_copy(other, other->root, status);
    CHECK(added->parent == other->root);
    CHECK_STR(added->ns, "urn:s");
    struct canto_xml_node *whole = canto_xml_add_copy(other, other->root, st->root);
    CHECK(tree_equal(whole, st->root));

    /* Reference counting: the original dies, the copies live on. */
    CHECK(canto_stanza_ref(st) == st);
    CHECK_INT(st->refs, 2);
    canto_stanza_unref(st);
    canto_stanza_unref(st);
    CHECK_SER(other->root, "",
              "<wrapper xmlns=\"urn:w\"><status xmlns=\"urn:s\"/><presence xmlns=\"\" b=\"two\""
              " c=\"3\" a=\"one\">y<status xmlns=\"urn:s\"/><priority/></presence></wrapper>");
    char *after = ser(cp->root, "");
    CHECK(strcmp(before, after) != 0);
    free(before);
    free(after);
    canto_stanza_unref(cp);
    canto_stanza_unref(other);
    canto_stanza_unref(NULL);

    /* An empty stanza copies to an empty stanza; NULL serializes to nothing. */
    st = canto_stanza_new();
    cp = canto_stanza_copy(st);
    CHECK(cp->root == NULL);
    CHECK_SER(NULL, "", "");
    canto_stanza_unref(cp);
    canto_stanza_unref(st);
}

/* Trees built by code may be deeper than any stack: serialize and copy walk
 * them without recursion. */
static void test_deep_tree(void)
{
    enum { DEPTH = 200000 };
    struct canto_stanza *st = canto_stanza_new_root("d", "urn:d");
    struct canto_xml_node *n = st->root;
    for (int i = 1; i < DEPTH; i++)
        n = canto_xml_add_child(st, n, "d", NULL);
    canto_xml_add_text(st, n, "bottom", 6);
    canto_xml_add_child(st, st->root, "tail", NULL);
    struct canto_buf b;
    canto_buf_init(&b);
    canto_xml_serialize(st->root, "urn:d", &b);
    CHECK_INT(b.len, (size_t)DEPTH * 7 + 6 + 7);
    CHECK(strncmp(b.data, "<d><d><d>", 9) == 0);
    CHECK_STR(b.data + b.len - 15, "</d><tail/></d>");

    struct canto_stanza *cp = canto_stanza_copy(st);
    struct canto_buf c;
    canto_buf_init(&c);
    canto_xml_serialize(cp->root, "urn:d", &c);
    CHECK(b.len == c.len && memcmp(b.data, c.data, b.len) == 0);
    canto_buf_free(&b);
    canto_buf_free(&c);
    canto_stanza_unref(cp);
    canto_stanza_unref(st);
}


/* Serialise st through the scratch buffer and check the bytes. */
#define CHECK_BYTES(st, ns, scratch, expected)                                  \
    do {                                                                        \
        size_t len_;                                                            \
        const char *b_ = canto_stanza_serialized((st), (ns), (scratch), &len_); \
        CHECK_INT(len_, strlen(expected));                                      \
        CHECK(len_ == strlen(expected) && memcmp(b_, (expected), len_) == 0);   \
    } while (0)

/* A stanza for many sessions is serialised once; any change through the
 * builder functions is seen at the next serialisation. The scratch's serial
 * counts serialisations. */
static void test_serialized_once(void)
{
    struct canto_xml_scratch scratch = {0};
    struct canto_stanza *st = canto_stanza_new_root("message", CANTO_NS_CLIENT);
    canto_xml_set_attr(st, st->root, "to", "a@b");
    struct canto_xml_node *body = canto_xml_add_text_child(st, st->root, "body", "hi");
    const char *want = "<message to=\"a@b\"><body>hi</body></message>";
    for (int i = 0; i < 5; i++)
        CHECK_BYTES(st, CANTO_NS_CLIENT, &scratch, want);
    CHECK_INT(scratch.serial, 1);
    CHECK(st->bytes == NULL); /* sent back to back: nothing kept */

    /* Another stanza in between: st is serialised a second time and its
     * bytes are kept on it from then on. */
    struct canto_stanza *other = canto_stanza_new_root("presence", CANTO_NS_CLIENT);
    CHECK_BYTES(other, CANTO_NS_CLIENT, &scratch, "<presence/>");
    CHECK_BYTES(st, CANTO_NS_CLIENT, &scratch, want);
    CHECK_INT(scratch.serial, 3);
    CHECK(st->bytes != NULL);
    CHECK_BYTES(other, CANTO_NS_CLIENT, &scratch, "<presence/>"); /* the last one now */
    CHECK_INT(scratch.serial, 4);
    for (int i = 0; i < 5; i++)
        CHECK_BYTES(st, CANTO_NS_CLIENT, &scratch, want);
    CHECK_INT(scratch.serial, 4);

    /* Keyed by the default namespace around it. */
    CHECK_BYTES(st, CANTO_NS_SERVER, &scratch,
                "<message xmlns=\"jabber:client\" to=\"a@b\"><body>hi</body></message>");
    CHECK_BYTES(st, CANTO_NS_CLIENT, &scratch, want);

    /* Every builder function forgets the bytes. */
    canto_xml_set_attr(st, st->root, "id", "1");
    want = "<message to=\"a@b\" id=\"1\"><body>hi</body></message>";
    CHECK(st->bytes == NULL);
    CHECK_BYTES(st, CANTO_NS_CLIENT, &scratch, want);
    canto_xml_add_text(st, body, "!", 1);
    CHECK_BYTES(st, CANTO_NS_CLIENT, &scratch, "<message to=\"a@b\" id=\"1\"><body>hi!</body></message>");
    canto_xml_add_child(st, st->root, "x", "urn:x");
    CHECK_BYTES(st, CANTO_NS_CLIENT, &scratch,
                "<message to=\"a@b\" id=\"1\"><body>hi!</body><x xmlns=\"urn:x\"/></message>");
    canto_xml_remove(st, body);
    CHECK_BYTES(st, CANTO_NS_CLIENT, &scratch, "<message to=\"a@b\" id=\"1\"><x xmlns=\"urn:x\"/></message>");
    canto_xml_add_copy(st, st->root, other->root);
    CHECK_BYTES(st, CANTO_NS_CLIENT, &scratch,
                "<message to=\"a@b\" id=\"1\"><x xmlns=\"urn:x\"/><presence/></message>");
    canto_xml_set_attr_ns(st, st->root, CANTO_NS_XML, "lang", "en");
    CHECK_BYTES(st, CANTO_NS_CLIENT, &scratch,
                "<message to=\"a@b\" id=\"1\" xml:lang=\"en\"><x xmlns=\"urn:x\"/><presence/></message>");
    canto_xml_set_attr(st, st->root, "to", NULL);
    CHECK_BYTES(st, CANTO_NS_CLIENT, &scratch,
                "<message id=\"1\" xml:lang=\"en\"><x xmlns=\"urn:x\"/><presence/></message>");
    /* A copy starts with nothing remembered. */
    struct canto_stanza *cp = canto_stanza_copy(st);
    CHECK(cp->bytes == NULL && cp->scratch == NULL);
    canto_stanza_unref(cp);
    canto_stanza_unref(other);
    canto_stanza_unref(st);
    canto_xml_scratch_free(&scratch);
}

int main(void)
{
    test_escaping();
    test_namespaces();
    test_round_trip();
    test_tree_api();
    test_deep_tree();
    test_serialized_once();
    return CHECK_DONE();
}
