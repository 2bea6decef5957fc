/*
 * test_xml_parser.c: the XMPP stream parser of xml.h.
 *
 * The heart of it is one realistic stream (XML declaration, a header with
 * xml:lang, stanzas with nested children in several namespaces, escaped and
 * non-ASCII text and attributes, CDATA, whitespace keep-alives, the closing
 * tag) fed whole, split in two at every byte boundary, and one byte at a
 * time: every way must yield the same events and the same stanzas (compared
 * by their serialization). Then each refusal: restricted XML, malformed XML,
 * a wrong stream namespace, every limit (checked while the stanza is still
 * arriving), and the parser's state after an error, a stop, and a reset.
 *
 * Releasing an idle parser (canto_xml_parser_release_idle) must change
 * nothing but memory: the realistic stream, and streams with odd prefixes,
 * limits, errors, stops and resets, give the same transcript whether or not
 * the parser is released after every piece fed, and a parser that is not
 * idle (mid-stanza, mid-tag, in a CDATA section) is left alone.
 */
#include <stdlib.h>
#include <string.h>

#include "canto/xml.h"
#include "check.h"

#define HEADER                                                                           \
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' " \
    "to='example.com' version='1.0'>"

/* What the callbacks saw: a transcript of events, plus the first stanzas. */
struct rec {
    struct canto_buf log;            /* "open ...", "stanza <xml>", "close", one a line */
    struct canto_stanza *keep[8];    /* first stanzas, one reference each */
    int nkeep;                       /* how many are in keep */
    int nstanzas;                    /* stanzas seen */
    int stop_after;                  /* stanza callback returns DECLINED at this count (0: never) */
    int open_rc;                     /* what stream_open returns */
};

static int on_open(void *ud, const struct canto_xml_node *hdr)
{
    struct rec *r = ud;
    const char *lang = canto_xml_attr_ns(hdr, CANTO_NS_XML, "lang");
    canto_buf_appendf(&r->log, "open %s %s to=%s version=%s lang=%s\n", hdr->ns, hdr->name,
                      canto_xml_attr(hdr, "to") ? canto_xml_attr(hdr, "to") : "-",
                      canto_xml_attr(hdr, "version") ? canto_xml_attr(hdr, "version") : "-",
                      lang ? lang : "-");
    return r->open_rc;
}

static int on_stanza(void *ud, struct canto_stanza *st)
{
    struct rec *r = ud;
    r->nstanzas++;
    canto_buf_append_str(&r->log, "stanza ");
    canto_xml_serialize(st->root, CANTO_NS_CLIENT, &r->log);
    canto_buf_append_char(&r->log, '\n');
    if (r->nkeep < (int)CANTO_ARRAY_LEN(r->keep))
        r->keep[r->nkeep++] = st;
    else
        canto_stanza_unref(st);
    return r->stop_after && r->nstanzas >= r->stop_after ? CANTO_DECLINED : CANTO_OK;
}

static void on_close(void *ud)
{
    struct rec *r = ud;
    canto_buf_append_str(&r->log, "close\n");
}

static const struct canto_xml_parser_events events = {
    .stream_open = on_open,
    .stanza = on_stanza,
    .stream_close = on_close,
};

static void rec_init(struct rec *r)
{
    memset(r, 0, sizeof(*r));
    canto_buf_init(&r->log);
    r->open_rc = CANTO_OK;
}

static void rec_free(struct rec *r)
{
    for (int i = 0; i < r->nkeep; i++)
        canto_stanza_unref(r->keep[i]);
    canto_buf_free(&r->log);
}

/* Feed doc in pieces of chunk bytes (0: all at once); returns the error. */
static enum canto_xml_error run(const char *doc, size_t len, const struct canto_xml_limits *lim,
                                size_t chunk, struct rec *r)
{
    struct canto_xml_parser *p = canto_xml_parser_new(lim, &events, r);
    if (!chunk)
        chunk = len ? len : 1;
    int rc = CANTO_OK;
    for (size_t off = 0; off < len && rc == CANTO_OK; off += chunk)
        rc = canto_xml_parser_feed(p, doc + off, len - off < chunk ? len - off : chunk);
    enum canto_xml_error err = canto_xml_parser_error(p);
    CHECK((rc == CANTO_ERROR) == (err != CANTO_XML_ERR_NONE));
    canto_xml_parser_free(p);
    return err;
}

static enum canto_xml_error run_str(const char *doc, const struct canto_xml_limits *lim)
{
    struct rec r;
    rec_init(&r);
    enum canto_xml_error err = run(doc, strlen(doc), lim, 0, &r);
    /* The same verdict whatever the chunking. */
    struct rec r1;
    rec_init(&r1);
    CHECK_INT(run(doc, strlen(doc), lim, 1, &r1), err);
    rec_free(&r1);
    rec_free(&r);
    return err;
}

/* --- the realistic stream --------------------------------------------------- */

static const char stream_doc[] =
    "<?xml version='1.0' encoding='UTF-8'?>\n"
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
    " to='example.com' version='1.0' xml:lang='en'>\n"
    "<message to='juliet@example.com/balcony' from='romeo@example.net/orchard' type='chat'"
    " id='m&amp;1&lt;&#x263A;'>\n"
    "  <body>Art thou &lt;not&gt; Romeo &amp; a Montague? &#x263A; \xc3\xa9 \xe6\x97\xa5 "
    "\xf0\x9f\x98\x80</body>\n"
    "  <thread>e0ffe42b28561960c6b12b944a092794b9683a38</thread>\n"
    "  <x xmlns='jabber:x:data' type='form'><field var='a' label=\"q&quot;uote's\">"
    "<value>1</value></field></x>\n"
    "</message>\n"
    " \n\t \r\n"
    "<iq type='get' id='ping1'><ping xmlns='urn:xmpp:ping'/></iq>"
    "\n\n"
    "<presence xml:lang='fr'><show>away</show><status>line&#10;tab&#9;cr&#13;</status>"
    "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='http://x' ver='ab+c='/>"
    "</presence>"
    "<stream:iq xmlns:p='urn:example:p' xmlns:stream='jabber:client' type='set' id='p'>"
    "<query xmlns='jabber:iq:private'><p:data p:attr='v&#9;w' xml:lang='de'>"
    "<![CDATA[<raw & stuff>]]></p:data></query></stream:iq>"
    "   "
    "</stream:stream>\n";

static const char stream_expected[] =
    "open http://etherx.jabber.org/streams stream to=example.com version=1.0 lang=en\n"
    "stanza <message to=\"juliet@example.com/balcony\" from=\"romeo@example.net/orchard\""
    " type=\"chat\" id=\"m&amp;1&lt;\xe2\x98\xba\">\n"
    "  <body>Art thou &lt;not&gt; Romeo &amp; a Montague? \xe2\x98\xba \xc3\xa9 \xe6\x97\xa5 "
    "\xf0\x9f\x98\x80</body>\n"
    "  <thread>e0ffe42b28561960c6b12b944a092794b9683a38</thread>\n"
    "  <x xmlns=\"jabber:x:data\" type=\"form\"><field var=\"a\" label=\"q&quot;uote&apos;s\">"
    "<value>1</value></field></x>\n"
    "</message>\n"
    "stanza <iq type=\"get\" id=\"ping1\"><ping xmlns=\"urn:xmpp:ping\"/></iq>\n"
    "stanza <presence xml:lang=\"fr\"><show>away</show><status>line\ntab\tcr&#13;</status>"
    "<c xmlns=\"http://jabber.org/protocol/caps\" hash=\"sha-1\" node=\"http://x\""
    " ver=\"ab+c=\"/></presence>\n"
    "stanza <iq type=\"set\" id=\"p\"><query xmlns=\"jabber:iq:private\">"
    "<data xmlns=\"urn:example:p\" xmlns:a0=\"urn:example:p\" a0:attr=\"v&#9;w\" xml:lang=\"de\">"
    "&lt;raw &amp; stuff&gt;</data></query></iq>\n"
    "close\n";

static void check_stream_trees(struct rec *r)
{
    CHECK_INT(r->nstanzas, 4);
    if (r->nkeep < 4)
        return;
    struct canto_xml_node *msg = r->keep[0]->root;
    CHECK_STR(msg->name, "message");
    CHECK_STR(msg->ns, CANTO_NS_CLIENT);
    CHECK_STR(canto_xml_attr(msg, "id"), "m&1<\xe2\x98\xba");
    struct canto_xml_node *body = canto_xml_child(msg, "body", CANTO_NS_CLIENT);
    CHECK(body != NULL);
    if (body) {
        /* expat reports this text in many pieces: it must be one node. */
        CHECK(body->children && body->children == body->last_child);
        CHECK_STR(canto_xml_text(r->keep[0], body),
                  "Art thou <not> Romeo & a Montague? \xe2\x98\xba \xc3\xa9 \xe6\x97\xa5 "
                  "\xf0\x9f\x98\x80");
    }
    struct canto_xml_node *x = canto_xml_child(msg, "x", "jabber:x:data");
    CHECK(x != NULL);
    struct canto_xml_node *field = canto_xml_child(x, "field", NULL);
    CHECK_STR(canto_xml_attr(field, "label"), "q\"uote's");
    CHECK_STR(field ? field->ns : NULL, "jabber:x:data");

    struct canto_xml_node *pres = r->keep[2]->root;
    CHECK_STR(canto_xml_attr_ns(pres, CANTO_NS_XML, "lang"), "fr");
    CHECK(canto_xml_attr(pres, "lang") == NULL);
    CHECK_STR(canto_xml_text(r->keep[2], canto_xml_child(pres, "status", NULL)),
              "line\ntab\tcr\r");

    /* A stanza whose prefix is "stream" but bound to jabber:client. */
    struct canto_xml_node *iq = r->keep[3]->root;
    CHECK_STR(iq->name, "iq");
    CHECK_STR(iq->ns, CANTO_NS_CLIENT);
    struct canto_xml_node *data =
        canto_xml_child(canto_xml_child(iq, "query", "jabber:iq:private"), "data", NULL);
    CHECK(data != NULL);
    if (data) {
        CHECK_STR(data->ns, "urn:example:p");
        CHECK_STR(canto_xml_attr_ns(data, "urn:example:p", "attr"), "v\tw");
        CHECK(canto_xml_attr(data, "attr") == NULL);
        CHECK_STR(canto_xml_text(r->keep[3], data), "<raw & stuff>");
    }
}

static void test_stream_splits(void)
{
    size_t n = sizeof(stream_doc) - 1;
    struct rec r;
    rec_init(&r);
    CHECK_INT(run(stream_doc, n, NULL, 0, &r), CANTO_XML_ERR_NONE);
    CHECK_STR(r.log.data, stream_expected);
    check_stream_trees(&r);
    rec_free(&r);

    int bad = 0;
    for (size_t i = 0; i <= n; i++) {
        rec_init(&r);
        struct canto_xml_parser *p = canto_xml_parser_new(NULL, &events, &r);
        CHECK_INT(canto_xml_parser_feed(p, stream_doc, i), CANTO_OK);
        CHECK_INT(canto_xml_parser_feed(p, stream_doc + i, n - i), CANTO_OK);
        if (!r.log.data || strcmp(r.log.data, stream_expected) != 0) {
            if (!bad++)
                fprintf(stderr, "split at %zu gave:\n%s\n", i, r.log.data ? r.log.data : "");
        }
        canto_xml_parser_free(p);
        rec_free(&r);
    }
    CHECK_INT(bad, 0);

    rec_init(&r);
    CHECK_INT(run(stream_doc, n, NULL, 1, &r), CANTO_XML_ERR_NONE);
    CHECK_STR(r.log.data, stream_expected);
    check_stream_trees(&r);
    rec_free(&r);
}

static void test_stream_ns(void)
{
    struct rec r;
    rec_init(&r);
    struct canto_xml_parser *p = canto_xml_parser_new(NULL, &events, &r);
    CHECK(canto_xml_parser_stream_ns(p) == NULL);
    const char *s1 = "<stream:stream xmlns='jabber:server' "
                     "xmlns:stream='http://etherx.jabber.org/streams'><db:result "
                     "xmlns:db='jabber:server:dialback'/>";
    CHECK_INT(canto_xml_parser_feed(p, s1, strlen(s1)), CANTO_OK);
    CHECK_STR(canto_xml_parser_stream_ns(p), CANTO_NS_SERVER);
    CHECK_INT(r.nstanzas, 1);
    if (r.nkeep)
        CHECK_STR(r.keep[0]->root->ns, "jabber:server:dialback");

    /* A header without a default namespace: stanzas have none. */
    canto_xml_parser_reset(p);
    CHECK(canto_xml_parser_stream_ns(p) == NULL);
    const char *s2 = "<s:stream xmlns:s='http://etherx.jabber.org/streams'><message/>";
    CHECK_INT(canto_xml_parser_feed(p, s2, strlen(s2)), CANTO_OK);
    CHECK_STR(canto_xml_parser_stream_ns(p), "");
    CHECK_INT(r.nstanzas, 2);
    if (r.nkeep > 1)
        CHECK_STR(r.keep[1]->root->ns, "");
    canto_xml_parser_free(p);
    rec_free(&r);
}

/* --- refusals ------------------------------------------------------------------ */

static void test_restricted(void)
{
    CHECK_INT(run_str("<?xml version='1.0'?><!DOCTYPE stream:stream>" HEADER, NULL),
              CANTO_XML_ERR_RESTRICTED);
    CHECK_INT(run_str("<!DOCTYPE s [<!ENTITY e 'x'>]>" HEADER "<message>&e;</message>", NULL),
              CANTO_XML_ERR_RESTRICTED);
    CHECK_INT(run_str("<!DOCTYPE s SYSTEM 'http://example.com/evil.dtd'>" HEADER, NULL),
              CANTO_XML_ERR_RESTRICTED);
    CHECK_INT(run_str(HEADER "<?php echo 1; ?>", NULL), CANTO_XML_ERR_RESTRICTED);
    CHECK_INT(run_str(HEADER "<message><?pi x?></message>", NULL), CANTO_XML_ERR_RESTRICTED);
    CHECK_INT(run_str("<?pi before?>" HEADER, NULL), CANTO_XML_ERR_RESTRICTED);
    CHECK_INT(run_str("<!-- hello -->" HEADER, NULL), CANTO_XML_ERR_RESTRICTED);
    CHECK_INT(run_str(HEADER "<!-- keep-alive? -->", NULL), CANTO_XML_ERR_RESTRICTED);
    CHECK_INT(run_str(HEADER "<message><body>a<!--c-->b</body></message>", NULL),
              CANTO_XML_ERR_RESTRICTED);
    /* The XML declaration is not a processing instruction. */
    CHECK_INT(run_str("<?xml version='1.0'?>" HEADER "<message/>", NULL), CANTO_XML_ERR_NONE);

    /* The billion laughs: refused at the DOCTYPE, before any entity exists.
     * No stanza may come out, and the stanza limit is never approached. */
    const char *lol =
        "<?xml version='1.0'?>\n<!DOCTYPE lolz [\n <!ENTITY lol 'lol'>\n"
        " <!ENTITY lol1 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>\n"
        " <!ENTITY lol2 '&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;'>\n"
        " <!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>\n"
        " <!ENTITY lol4 '&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;'>\n"
        " <!ENTITY lol5 '&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;'>\n"
        " <!ENTITY lol6 '&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;'>\n"
        " <!ENTITY lol7 '&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;'>\n"
        " <!ENTITY lol8 '&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;'>\n"
        " <!ENTITY lol9 '&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;'>\n"
        "]>\n" HEADER "<message><body>&lol9;</body></message></stream:stream>";
    struct rec r;
    rec_init(&r);
    CHECK_INT(run(lol, strlen(lol), NULL, 0, &r), CANTO_XML_ERR_RESTRICTED);
    CHECK_INT(r.nstanzas, 0);
    CHECK(r.log.len == 0);
    rec_free(&r);
}

static void test_not_well_formed(void)
{
    static const char *const docs[] = {
        HEADER "<message></iq>",
        HEADER "<message><body>&nbsp;</body></message>",
        HEADER "<message><body>\xff\xfe</body></message>",
        HEADER "<message><body>\xc0\xaf</body></message>",
        HEADER "<foo:bar/>",
        HEADER "hello<message/>",
        HEADER "<message to='a' to='b'/>",
        HEADER "<message to='a<b'/>",
        HEADER "<?xml version='1.0'?>",
        HEADER "<message>&#1;</message>",
        HEADER "</stream:stream><message/>",
        "garbage ",
        "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'",
    };
    for (size_t i = 0; i < CANTO_ARRAY_LEN(docs); i++) {
        enum canto_xml_error err = run_str(docs[i], NULL);
        /* The last one is merely incomplete: no error yet. */
        if (i == CANTO_ARRAY_LEN(docs) - 1) {
            CHECK_INT(err, CANTO_XML_ERR_NONE);
        } else if (err != CANTO_XML_ERR_NOT_WELL_FORMED) {
            fprintf(stderr, "doc %zu: %s\n", i, canto_xml_error_str(err));
            CHECK_INT(err, CANTO_XML_ERR_NOT_WELL_FORMED);
        }
    }
}

static void test_bad_namespace(void)
{
    CHECK_INT(run_str("<stream:stream xmlns='jabber:client' xmlns:stream='http://wrong'>", NULL),
              CANTO_XML_ERR_BAD_NAMESPACE);
    CHECK_INT(run_str("<stream xmlns='jabber:client'>", NULL), CANTO_XML_ERR_BAD_NAMESPACE);
    CHECK_INT(run_str("<message xmlns='jabber:client'/>", NULL), CANTO_XML_ERR_BAD_NAMESPACE);
    CHECK_INT(run_str("<flux xmlns='http://etherx.jabber.org/streams'>", NULL),
              CANTO_XML_ERR_BAD_NAMESPACE);
}

/* --- limits --------------------------------------------------------------------- */

static const struct canto_xml_limits small = {
    .max_stanza_bytes = 1024,
    .max_depth = 8,
    .max_attrs = 4,
};

static char *repeat(const char *prefix, const char *unit, size_t times, const char *suffix)
{
    struct canto_buf b;
    canto_buf_init(&b);
    canto_buf_append_str(&b, prefix);
    for (size_t i = 0; i < times; i++)
        canto_buf_append_str(&b, unit);
    canto_buf_append_str(&b, suffix);
    return canto_buf_steal(&b);
}

/* Feed doc in chunk-byte pieces and return how many bytes went in before
 * feed failed (or all of them). */
static size_t fed_until_error(const char *doc, size_t chunk, enum canto_xml_error *err)
{
    struct rec r;
    rec_init(&r);
    struct canto_xml_parser *p = canto_xml_parser_new(&small, &events, &r);
    size_t len = strlen(doc), off = 0;
    while (off < len) {
        size_t n = len - off < chunk ? len - off : chunk;
        off += n;
        if (canto_xml_parser_feed(p, doc + off - n, n) != CANTO_OK)
            break;
    }
    *err = canto_xml_parser_error(p);
    canto_xml_parser_free(p);
    rec_free(&r);
    return off;
}

static void test_limits(void)
{
    enum canto_xml_error err;
    size_t hdr = strlen(HEADER);

    /* One huge text node, arriving in pieces: cut off as soon as the stanza
     * passes the limit, not when (or if) it ends. */
    char *doc = repeat(HEADER "<message><body>", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                       20000, "</body></message>");
    size_t fed = fed_until_error(doc, 100, &err);
    CHECK_INT(err, CANTO_XML_ERR_POLICY);
    CHECK(fed <= hdr + 1024 + 100);
    CHECK_INT(run_str(doc, &small), CANTO_XML_ERR_POLICY);
    free(doc);

    /* Endless small children. */
    doc = repeat(HEADER "<iq type='get'><query xmlns='jabber:iq:roster'>", "<a/>", 100000,
                 "</query></iq>");
    fed = fed_until_error(doc, 64, &err);
    CHECK_INT(err, CANTO_XML_ERR_POLICY);
    CHECK(fed <= hdr + 1024 + 64);
    CHECK_INT(run_str(doc, &small), CANTO_XML_ERR_POLICY);
    free(doc);

    /* A start tag that never ends: expat buffers it without a word, feed()
     * must still notice. Fed whole and in small pieces. */
    doc = repeat(HEADER "<message to='", "x", 200000, "");
    fed = fed_until_error(doc, 100, &err);
    CHECK_INT(err, CANTO_XML_ERR_POLICY);
    CHECK(fed <= hdr + 1024 + 100);
    fed = fed_until_error(doc, strlen(doc), &err);
    CHECK_INT(err, CANTO_XML_ERR_POLICY);
    free(doc);

    /* The stream header is limited too. */
    doc = repeat("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='", "x",
                 5000, "'>");
    CHECK_INT(run_str(doc, &small), CANTO_XML_ERR_POLICY);
    free(doc);

    /* Exactly at the limit passes, one byte more does not. */
    const char *open = "<message><body>", *close = "</body></message>";
    size_t fill = 1024 - strlen(open) - strlen(close);
    char *xs = repeat("", "x", fill, "");
    char *at = repeat(HEADER, open, 1, "");
    char *tmp = repeat(at, xs, 1, close);
    CHECK_INT(run_str(tmp, &small), CANTO_XML_ERR_NONE);
    free(tmp);
    tmp = repeat(at, xs, 1, "y</body></message>");
    CHECK_INT(run_str(tmp, &small), CANTO_XML_ERR_POLICY);
    free(tmp);
    free(at);
    free(xs);

    /* Whitespace keep-alives count for nothing, however many. */
    struct rec r;
    rec_init(&r);
    struct canto_xml_parser *p = canto_xml_parser_new(&small, &events, &r);
    CHECK_INT(canto_xml_parser_feed(p, HEADER, hdr), CANTO_OK);
    char spaces[1000];
    memset(spaces, ' ', sizeof(spaces));
    spaces[500] = '\n';
    for (int i = 0; i < 100; i++)
        CHECK_INT(canto_xml_parser_feed(p, spaces, sizeof(spaces)), CANTO_OK);
    CHECK_INT(canto_xml_parser_feed(p, "<presence/>", 11), CANTO_OK);
    for (int i = 0; i < 10; i++)
        CHECK_INT(canto_xml_parser_feed(p, spaces, sizeof(spaces)), CANTO_OK);
    CHECK_INT(canto_xml_parser_feed(p, "<presence/>", 11), CANTO_OK);
    CHECK_INT(r.nstanzas, 2);
    CHECK_INT(canto_xml_parser_error(p), CANTO_XML_ERR_NONE);
    canto_xml_parser_free(p);
    rec_free(&r);

    /* A large text node (its buffer is released after the stanza), then a
     * small one that must not see any of it. */
    doc = repeat(HEADER "<message><body>", "0123456789", 500, "</body></message>"
                                                              "<message><body>ok</body></message>");
    rec_init(&r);
    CHECK_INT(run(doc, strlen(doc), NULL, 7, &r), CANTO_XML_ERR_NONE);
    CHECK_INT(r.nstanzas, 2);
    if (r.nkeep == 2) {
        const char *big = canto_xml_text(r.keep[0], r.keep[0]->root->children);
        CHECK_INT(strlen(big), 5000);
        CHECK(strncmp(big, "0123456789012", 13) == 0);
        CHECK_STR(canto_xml_text(r.keep[1], r.keep[1]->root->children), "ok");
    }
    rec_free(&r);
    free(doc);

    /* Many stanzas in one feed, together far beyond the limit, are fine. */
    doc = repeat(HEADER, "<message to='a@b'><body>hello</body></message>", 500, "");
    rec_init(&r);
    CHECK_INT(run(doc, strlen(doc), &small, 0, &r), CANTO_XML_ERR_NONE);
    CHECK_INT(r.nstanzas, 500);
    rec_free(&r);
    free(doc);

    /* A long namespace declared once and used through a short prefix: small
     * on the wire, but each use costs a declaration when serialized, and
     * those count against the limit too. */
    char *uri = repeat("", "u", 200, "");
    char *pre = repeat(HEADER "<message xmlns:p='", uri, 1, "'>");
    doc = repeat(pre, "<p:y/>", 3, "</message>");
    CHECK_INT(run_str(doc, &small), CANTO_XML_ERR_NONE);
    free(doc);
    doc = repeat(pre, "<p:y/>", 10, "</message>");
    CHECK(strlen(doc) - hdr < 1024);
    CHECK_INT(run_str(doc, &small), CANTO_XML_ERR_POLICY);
    free(doc);
    doc = repeat(pre, "<y p:a=''/>", 10, "</message>");
    CHECK_INT(run_str(doc, &small), CANTO_XML_ERR_POLICY);
    free(doc);
    /* Several attributes in one namespace on one element are declared once. */
    doc = repeat(pre, "<y p:a='' p:b='' p:c='' p:d=''/>", 3, "</message>");
    CHECK_INT(run_str(doc, &small), CANTO_XML_ERR_NONE);
    free(doc);
    free(pre);
    free(uri);

    /* Depth: the stanza root is depth 1; max_depth 8 allows 8 levels. */
    doc = repeat(HEADER, "<a>", 8, "</a></a></a></a></a></a></a></a>");
    CHECK_INT(run_str(doc, &small), CANTO_XML_ERR_NONE);
    free(doc);
    doc = repeat(HEADER, "<a>", 9, "");
    CHECK_INT(run_str(doc, &small), CANTO_XML_ERR_POLICY);
    free(doc);
    doc = repeat(HEADER, "<a>", 100000, "");
    CHECK_INT(run_str(doc, NULL), CANTO_XML_ERR_POLICY);
    free(doc);

    /* Attributes per element, on stanzas, children and the header. */
    CHECK_INT(run_str(HEADER "<message a='1' b='2' c='3' d='4'/>", &small), CANTO_XML_ERR_NONE);
    CHECK_INT(run_str(HEADER "<message a='1' b='2' c='3' d='4' e='5'/>", &small),
              CANTO_XML_ERR_POLICY);
    CHECK_INT(run_str(HEADER "<message><x a='1' b='2' c='3' d='4' xml:lang='en'/></message>",
                      &small),
              CANTO_XML_ERR_POLICY);
    CHECK_INT(run_str("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' a='1' "
                      "b='2' c='3' d='4' e='5'>",
                      &small),
              CANTO_XML_ERR_POLICY);
    /* Namespace declarations are not attributes. */
    CHECK_INT(run_str(HEADER "<message xmlns:a='a' xmlns:b='b' xmlns:c='c' xmlns:d='d' "
                             "xmlns:e='e' a:x='1'/>",
                      &small),
              CANTO_XML_ERR_NONE);
}

/* --- stopping, errors, reset ---------------------------------------------------- */

static const char three[] = HEADER "<message id='1'/><message id='2'/><message id='3'/>";

static void test_stop(void)
{
    struct rec r;
    rec_init(&r);
    r.stop_after = 1;
    struct canto_xml_parser *p = canto_xml_parser_new(NULL, &events, &r);
    CHECK_INT(canto_xml_parser_feed(p, three, sizeof(three) - 1), CANTO_OK);
    CHECK(canto_xml_parser_stopped(p));
    CHECK_INT(canto_xml_parser_error(p), CANTO_XML_ERR_NONE);
    CHECK_INT(r.nstanzas, 1);
    /* Still stopped: later data is discarded, not parsed. */
    CHECK_INT(canto_xml_parser_feed(p, "<message/>", 10), CANTO_OK);
    CHECK_INT(r.nstanzas, 1);
    CHECK(canto_xml_parser_stopped(p));

    /* A reset starts a new stream (as after STARTTLS). */
    canto_xml_parser_reset(p);
    CHECK(!canto_xml_parser_stopped(p));
    r.stop_after = 0;
    CHECK_INT(canto_xml_parser_feed(p, three, sizeof(three) - 1), CANTO_OK);
    CHECK_INT(r.nstanzas, 4);
    canto_xml_parser_free(p);
    rec_free(&r);

    /* stream_open can stop too. */
    rec_init(&r);
    r.open_rc = CANTO_ERROR;
    p = canto_xml_parser_new(NULL, &events, &r);
    CHECK_INT(canto_xml_parser_feed(p, three, sizeof(three) - 1), CANTO_OK);
    CHECK(canto_xml_parser_stopped(p));
    CHECK_INT(r.nstanzas, 0);
    canto_xml_parser_free(p);
    rec_free(&r);
}

static void test_error_sticks(void)
{
    struct rec r;
    rec_init(&r);
    struct canto_xml_parser *p = canto_xml_parser_new(NULL, &events, &r);
    const char *bad = HEADER "<message></iq><message/>";
    CHECK_INT(canto_xml_parser_feed(p, bad, strlen(bad)), CANTO_ERROR);
    CHECK_INT(canto_xml_parser_error(p), CANTO_XML_ERR_NOT_WELL_FORMED);
    for (int i = 0; i < 3; i++) {
        CHECK_INT(canto_xml_parser_feed(p, "<message/>", 10), CANTO_ERROR);
        CHECK_INT(canto_xml_parser_feed(p, "", 0), CANTO_ERROR);
    }
    CHECK_INT(canto_xml_parser_error(p), CANTO_XML_ERR_NOT_WELL_FORMED);
    CHECK_INT(r.nstanzas, 0);
    CHECK(!canto_xml_parser_stopped(p));
    CHECK_STR(canto_xml_error_str(canto_xml_parser_error(p)), "not-well-formed");
    canto_xml_parser_free(p);
    rec_free(&r);
}

static void test_reset(void)
{
    struct rec r;
    rec_init(&r);
    struct canto_xml_parser *p = canto_xml_parser_new(NULL, &events, &r);
    /* A stanza, then half of another when the stream restarts. */
    const char *first = "<?xml version='1.0'?>" HEADER
                        "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><message><body>ha";
    CHECK_INT(canto_xml_parser_feed(p, first, strlen(first)), CANTO_OK);
    CHECK_INT(r.nstanzas, 1);
    canto_xml_parser_reset(p);
    const char *second = "<?xml version='1.0'?>"
                         "<stream:stream xmlns='jabber:client' "
                         "xmlns:stream='http://etherx.jabber.org/streams' to='other.example' "
                         "version='1.0' xml:lang='de'><iq type='get' id='1'/></stream:stream>";
    CHECK_INT(canto_xml_parser_feed(p, second, strlen(second)), CANTO_OK);
    CHECK_STR(r.log.data,
              "open http://etherx.jabber.org/streams stream to=example.com version=1.0 lang=-\n"
              "stanza <starttls xmlns=\"urn:ietf:params:xml:ns:xmpp-tls\"/>\n"
              "open http://etherx.jabber.org/streams stream to=other.example version=1.0 "
              "lang=de\n"
              "stanza <iq type=\"get\" id=\"1\"/>\n"
              "close\n");
    /* Reset clears an error too: it is a new stream. */
    CHECK_INT(canto_xml_parser_feed(p, "junk", 4), CANTO_ERROR);
    canto_xml_parser_reset(p);
    CHECK_INT(canto_xml_parser_error(p), CANTO_XML_ERR_NONE);
    CHECK_INT(canto_xml_parser_feed(p, three, sizeof(three) - 1), CANTO_OK);
    CHECK_INT(r.nstanzas, 5);

    /* Freed with a stanza half-built (ASan checks nothing leaks). */
    const char *partial = "<message><body>unfinished <b>deep";
    CHECK_INT(canto_xml_parser_feed(p, partial, strlen(partial)), CANTO_OK);
    canto_xml_parser_free(p);
    rec_free(&r);

    /* No callbacks and no limits at all are fine. */
    p = canto_xml_parser_new(NULL, NULL, NULL);
    CHECK_INT(canto_xml_parser_feed(p, three, sizeof(three) - 1), CANTO_OK);
    canto_xml_parser_free(p);
    canto_xml_parser_free(NULL);
}

/* --- releasing idle parsers --------------------------------------------------- */

/* Feed doc in pieces of chunk bytes (0: all at once), calling release_idle
 * after every piece when release is set; *released (if not NULL) counts the
 * pieces after which the parser held no expat. Returns the error. */
static enum canto_xml_error run_release(const char *doc, size_t len,
                                        const struct canto_xml_limits *lim, size_t chunk,
                                        bool release, struct rec *r, int *released)
{
    struct canto_xml_parser *p = canto_xml_parser_new(lim, &events, r);
    if (!chunk)
        chunk = len ? len : 1;
    int rc = CANTO_OK, n = 0;
    for (size_t off = 0; off < len && rc == CANTO_OK; off += chunk) {
        rc = canto_xml_parser_feed(p, doc + off, len - off < chunk ? len - off : chunk);
        if (release) {
            canto_xml_parser_release_idle(p);
            n += canto_xml_parser_released(p);
        }
    }
    enum canto_xml_error err = canto_xml_parser_error(p);
    CHECK((rc == CANTO_ERROR) == (err != CANTO_XML_ERR_NONE));
    canto_xml_parser_free(p);
    if (released)
        *released = n;
    return err;
}

/* doc must give the same transcript and verdict with and without release,
 * whole and in pieces of 1, 2, 3 and 7 bytes. Returns the verdict; *log
 * (if not NULL) gets the transcript of the byte-by-byte released run, and
 * *released how often that run was released. */
static enum canto_xml_error same_released(const char *doc, const struct canto_xml_limits *lim,
                                          char **log, int *released)
{
    static const size_t chunks[] = {0, 1, 2, 3, 7};
    size_t len = strlen(doc);
    struct rec plain;
    rec_init(&plain);
    enum canto_xml_error err = run_release(doc, len, lim, 0, false, &plain, NULL);
    for (size_t i = 0; i < CANTO_ARRAY_LEN(chunks); i++) {
        struct rec r;
        rec_init(&r);
        int n = 0;
        enum canto_xml_error e = run_release(doc, len, lim, chunks[i], true, &r, &n);
        const char *a = plain.log.data ? plain.log.data : "", *b = r.log.data ? r.log.data : "";
        if (e != err || strcmp(a, b) != 0) {
            fprintf(stderr, "released in %zu-byte pieces: %s vs %s\n%s---\n%s\n", chunks[i],
                    canto_xml_error_str(e), canto_xml_error_str(err), b, a);
            CHECK(false);
        }
        if (chunks[i] == 1) {
            if (log)
                *log = canto_xstrdup(b);
            if (released)
                *released = n;
        }
        rec_free(&r);
    }
    rec_free(&plain);
    return err;
}

static void test_release_stream(void)
{
    size_t n = sizeof(stream_doc) - 1;
    /* Split in two at every byte, released after each half. */
    int bad = 0, released = 0;
    for (size_t i = 0; i <= n; i++) {
        struct rec r;
        rec_init(&r);
        struct canto_xml_parser *p = canto_xml_parser_new(NULL, &events, &r);
        CHECK(canto_xml_parser_released(p)); /* no expat before the first byte */
        canto_xml_parser_release_idle(p);
        CHECK_INT(canto_xml_parser_feed(p, stream_doc, i), CANTO_OK);
        canto_xml_parser_release_idle(p);
        if (canto_xml_parser_released(p)) {
            released++;
            if (i > 0)
                CHECK_STR(canto_xml_parser_stream_ns(p), CANTO_NS_CLIENT);
        }
        CHECK_INT(canto_xml_parser_feed(p, stream_doc + i, n - i), CANTO_OK);
        canto_xml_parser_release_idle(p);
        CHECK(!canto_xml_parser_released(p)); /* the stream is closed: level 0 */
        if (!r.log.data || strcmp(r.log.data, stream_expected) != 0) {
            if (!bad++)
                fprintf(stderr, "release at %zu gave:\n%s\n", i, r.log.data ? r.log.data : "");
        }
        if (r.nkeep == 4 && i == n / 2)
            check_stream_trees(&r);
        canto_xml_parser_free(p);
        rec_free(&r);
    }
    CHECK_INT(bad, 0);
    /* Idle points: i = 0 (nothing fed yet), after the header, its newline,
     * each whitespace byte between stanzas and after each stanza. */
    CHECK(released > 10);

    /* Byte by byte and in other pieces, released wherever possible. */
    char *log = NULL;
    CHECK_INT(same_released(stream_doc, NULL, &log, &released), CANTO_XML_ERR_NONE);
    CHECK_STR(log, stream_expected);
    CHECK(released > 10);
    free(log);
    struct rec r;
    rec_init(&r);
    CHECK_INT(run_release(stream_doc, n, NULL, 1, true, &r, NULL), CANTO_XML_ERR_NONE);
    check_stream_trees(&r);
    rec_free(&r);
}

/* The prefix the client bound to the streams namespace, and the default
 * namespace, must survive: they exist only in the replayed header. */
static void test_release_prefixes(void)
{
    const char *hdr_s = "<s:stream xmlns:s='http://etherx.jabber.org/streams' "
                        "xmlns='jabber:client' to='example.com' version='1.0'>";
    struct rec r;
    rec_init(&r);
    struct canto_xml_parser *p = canto_xml_parser_new(NULL, &events, &r);
    CHECK_INT(canto_xml_parser_feed(p, hdr_s, strlen(hdr_s)), CANTO_OK);
    canto_xml_parser_release_idle(p);
    CHECK(canto_xml_parser_released(p));
    CHECK_STR(canto_xml_parser_stream_ns(p), CANTO_NS_CLIENT);
    const char *st1 = "<message to='a@b'><body>hi</body></message>";
    CHECK_INT(canto_xml_parser_feed(p, st1, strlen(st1)), CANTO_OK);
    CHECK(!canto_xml_parser_released(p));
    canto_xml_parser_release_idle(p);
    CHECK(canto_xml_parser_released(p));
    const char *st2 = "<s:features><x:y xmlns:x='urn:x' x:a='1'/></s:features>";
    CHECK_INT(canto_xml_parser_feed(p, st2, strlen(st2)), CANTO_OK);
    canto_xml_parser_release_idle(p);
    const char *st3 = "<iq xmlns='jabber:iq:other' type='get'/>";
    CHECK_INT(canto_xml_parser_feed(p, st3, strlen(st3)), CANTO_OK);
    canto_xml_parser_release_idle(p);
    CHECK_INT(canto_xml_parser_feed(p, "</s:stream>", 11), CANTO_OK);
    CHECK_INT(canto_xml_parser_error(p), CANTO_XML_ERR_NONE);
    CHECK_INT(r.nstanzas, 3);
    if (r.nkeep == 3) {
        CHECK_STR(r.keep[0]->root->ns, CANTO_NS_CLIENT);
        CHECK_STR(r.keep[1]->root->ns, CANTO_NS_STREAM);
        CHECK_STR(r.keep[1]->root->name, "features");
        CHECK_STR(r.keep[1]->root->children->ns, "urn:x");
        CHECK_STR(canto_xml_attr_ns(r.keep[1]->root->children, "urn:x", "a"), "1");
        CHECK_STR(r.keep[2]->root->ns, "jabber:iq:other");
    }
    /* One stream_open only: the replay reports nothing. */
    CHECK_STR(r.log.data, "open http://etherx.jabber.org/streams stream to=example.com "
                          "version=1.0 lang=-\n"
                          "stanza <message to=\"a@b\"><body>hi</body></message>\n"
                          "stanza <features xmlns=\"http://etherx.jabber.org/streams\">"
                          "<y xmlns=\"urn:x\" xmlns:a0=\"urn:x\" a0:a=\"1\"/></features>\n"
                          "stanza <iq xmlns=\"jabber:iq:other\" type=\"get\"/>\n"
                          "close\n");
    canto_xml_parser_free(p);
    rec_free(&r);

    /* The same streams, and their mistakes, whichever way they are fed. */
    static const char *const docs[] = {
        "<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:client'>\n"
        "<message><body>a</body></message> <s:error/>\n<presence/></s:stream>",
        /* the usual prefix is unbound here */
        "<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:client'>"
        "<message/><stream:features/>",
        /* and the header must be closed with its own prefix */
        "<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:client'>"
        "<message/></stream:stream>",
        /* no default namespace at all */
        "<s:stream xmlns:s='http://etherx.jabber.org/streams'><message/> <iq/></s:stream>",
        /* the default namespace and prefixes declared the other way round,
         * xml:lang, an entity in an attribute */
        "<?xml version='1.0'?>\n<x:stream xml:lang='en' to='a&amp;b' "
        "xmlns='jabber:server' xmlns:x='http://etherx.jabber.org/streams' "
        "xmlns:db='jabber:server:dialback'>\r\n<db:result to='a'>key</db:result>"
        "\t<x:features/></x:stream>",
    };
    for (size_t i = 0; i < CANTO_ARRAY_LEN(docs); i++) {
        int released = 0;
        enum canto_xml_error err = same_released(docs[i], NULL, NULL, &released);
        CHECK_INT(err, i == 1 || i == 2 ? CANTO_XML_ERR_NOT_WELL_FORMED : CANTO_XML_ERR_NONE);
        CHECK(released > 0);
    }
}

/* Limits after a rebuild: the same byte offsets, the same verdicts. */
static void test_release_limits(void)
{
    const char *open = "<message><body>", *close = "</body></message>";
    size_t fill = 1024 - strlen(open) - strlen(close);
    char *xs = repeat("", "x", fill, "");
    char *pre = repeat(HEADER "<presence/>\n", open, 1, "");
    char *doc = repeat(pre, xs, 1, close);
    CHECK_INT(same_released(doc, &small, NULL, NULL), CANTO_XML_ERR_NONE);
    free(doc);
    doc = repeat(pre, xs, 1, "y</body></message>");
    CHECK_INT(same_released(doc, &small, NULL, NULL), CANTO_XML_ERR_POLICY);
    free(doc);
    free(pre);
    free(xs);

    /* A header of almost the whole limit (with the declaration before it):
     * its replay is not held to the header limit again, the stanzas after
     * it only to theirs. */
    doc = repeat("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                 "xmlns:stream='http://etherx.jabber.org/streams' to='",
                 "h", 850, "'><message><body>0123456789</body></message> <presence/>");
    CHECK_INT(same_released(doc, &small, NULL, NULL), CANTO_XML_ERR_NONE);
    free(doc);

    /* A header far longer than the input context expat keeps (1 KiB by
     * default), arriving in pieces: still saved whole, still released. */
    doc = repeat("<stream:stream xmlns='jabber:client' "
                 "xmlns:stream='http://etherx.jabber.org/streams' to='",
                 "long.example.", 400, "'> <message><body>x</body></message> <presence/>");
    int released = 0;
    char *log = NULL;
    CHECK_INT(same_released(doc, NULL, &log, &released), CANTO_XML_ERR_NONE);
    CHECK(released > 0);
    CHECK(log && strstr(log, "stanza <presence/>") != NULL);
    free(log);
    free(doc);

    /* Depth and attributes. */
    doc = repeat(HEADER "<presence/>", "<a>", 8, "</a></a></a></a></a></a></a></a>");
    CHECK_INT(same_released(doc, &small, NULL, NULL), CANTO_XML_ERR_NONE);
    free(doc);
    doc = repeat(HEADER "<presence/>", "<a>", 9, "");
    CHECK_INT(same_released(doc, &small, NULL, NULL), CANTO_XML_ERR_POLICY);
    free(doc);
    CHECK_INT(same_released(HEADER "<presence/><message a='1' b='2' c='3' d='4' e='5'/>", &small,
                            NULL, NULL),
              CANTO_XML_ERR_POLICY);

    /* Right after a release: a huge stanza, and a tag that never ends, are
     * cut off within the limit plus one feed. */
    struct rec r;
    rec_init(&r);
    struct canto_xml_parser *p = canto_xml_parser_new(&small, &events, &r);
    CHECK_INT(canto_xml_parser_feed(p, HEADER "<presence/>", strlen(HEADER) + 11), CANTO_OK);
    canto_xml_parser_release_idle(p);
    CHECK(canto_xml_parser_released(p));
    char chunk[100];
    memset(chunk, 'x', sizeof(chunk));
    CHECK_INT(canto_xml_parser_feed(p, "<message to='", 13), CANTO_OK);
    size_t fed = 13;
    while (canto_xml_parser_feed(p, chunk, sizeof(chunk)) == CANTO_OK && fed < 100000) {
        canto_xml_parser_release_idle(p); /* never idle: a no-op */
        CHECK(!canto_xml_parser_released(p));
        fed += sizeof(chunk);
    }
    CHECK_INT(canto_xml_parser_error(p), CANTO_XML_ERR_POLICY);
    CHECK(fed <= 1024 + sizeof(chunk));
    canto_xml_parser_free(p);
    rec_free(&r);

    /* Keep-alives between releases cost nothing, however many. */
    rec_init(&r);
    p = canto_xml_parser_new(&small, &events, &r);
    CHECK_INT(canto_xml_parser_feed(p, HEADER, strlen(HEADER)), CANTO_OK);
    for (int i = 0; i < 3000; i++) {
        CHECK_INT(canto_xml_parser_feed(p, " ", 1), CANTO_OK);
        canto_xml_parser_release_idle(p);
        CHECK(canto_xml_parser_released(p));
    }
    CHECK_INT(canto_xml_parser_feed(p, "<presence/>", 11), CANTO_OK);
    CHECK_INT(r.nstanzas, 1);
    canto_xml_parser_free(p);
    rec_free(&r);
}

/* Errors after a rebuild are the errors a parser never released gives. */
static void test_release_errors(void)
{
    static const struct {
        const char *doc;
        enum canto_xml_error err;
    } cases[] = {
        {HEADER "<presence/> <message></iq>", CANTO_XML_ERR_NOT_WELL_FORMED},
        {HEADER "<presence/> hello", CANTO_XML_ERR_NOT_WELL_FORMED},
        {HEADER "<presence/> <foo:bar/>", CANTO_XML_ERR_NOT_WELL_FORMED},
        {HEADER "<presence/> <message><body>&nbsp;</body></message>",
         CANTO_XML_ERR_NOT_WELL_FORMED},
        {HEADER "<presence/> <message>\xc3</message>", CANTO_XML_ERR_NOT_WELL_FORMED},
        {HEADER "<presence/> <?xml version='1.0'?>", CANTO_XML_ERR_NOT_WELL_FORMED},
        {HEADER "<presence/> </stream:stream><message/>", CANTO_XML_ERR_NOT_WELL_FORMED},
        {HEADER "<presence/> <!-- ping -->", CANTO_XML_ERR_RESTRICTED},
        {HEADER "<presence/> <?pi x?>", CANTO_XML_ERR_RESTRICTED},
        {HEADER "<presence/> <!DOCTYPE x>", CANTO_XML_ERR_NOT_WELL_FORMED},
        {HEADER "<presence/> <![CDATA[ \r\n ]]> <presence/>", CANTO_XML_ERR_NONE},
        {HEADER "<presence/> <![CDATA[ x ]]>", CANTO_XML_ERR_NOT_WELL_FORMED},
        {HEADER "<presence/> &#32;&#x9; <presence/>", CANTO_XML_ERR_NONE},
        {HEADER "<presence/> &amp;", CANTO_XML_ERR_NOT_WELL_FORMED},
        {HEADER "<presence/>\r\n\r <presence/>\r", CANTO_XML_ERR_NONE},
    };
    for (size_t i = 0; i < CANTO_ARRAY_LEN(cases); i++) {
        enum canto_xml_error err = same_released(cases[i].doc, NULL, NULL, NULL);
        if (err != cases[i].err) {
            fprintf(stderr, "case %zu: %s\n", i, canto_xml_error_str(err));
            CHECK_INT(err, cases[i].err);
        }
    }

    /* Errors stick across release attempts. */
    struct rec r;
    rec_init(&r);
    struct canto_xml_parser *p = canto_xml_parser_new(NULL, &events, &r);
    CHECK_INT(canto_xml_parser_feed(p, HEADER, strlen(HEADER)), CANTO_OK);
    canto_xml_parser_release_idle(p);
    CHECK(canto_xml_parser_released(p));
    CHECK_INT(canto_xml_parser_feed(p, "junk", 4), CANTO_ERROR);
    canto_xml_parser_release_idle(p);
    CHECK(!canto_xml_parser_released(p));
    CHECK_INT(canto_xml_parser_feed(p, "<presence/>", 11), CANTO_ERROR);
    CHECK_INT(canto_xml_parser_error(p), CANTO_XML_ERR_NOT_WELL_FORMED);
    canto_xml_parser_free(p);
    rec_free(&r);
}

/* A parser that is not idle is left alone, whatever it holds. */
static void test_release_not_idle(void)
{
    static const struct {
        const char *fed;  /* then release_idle */
        const char *rest; /* must complete the stream as if no release was tried */
    } cases[] = {
        {"<?xml version='1.0'?>", HEADER "<presence/>"},        /* no header yet */
        {"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'", "><presence/>"},
        {HEADER "<message><body>hi", "</body></message>"},       /* mid-stanza */
        {HEADER "<mess", "age/>"},                               /* mid-tag */
        {HEADER "<message/><", "presence/>"},                    /* a lone '<' */
        {HEADER "<message/></stream", ":stream>"},               /* a partial end tag */
        {HEADER "<message/>\r", "\n<presence/>"},                /* a CR held back */
        {HEADER "<message/>&#3", "2;<presence/>"},                /* a partial reference */
        {HEADER "<message/><![CDATA[ ", " ]]><presence/>"},      /* in a CDATA section */
        {HEADER "<message/><![CDA", "TA[]]><presence/>"},        /* mid CDATA opener */
        {HEADER "<message/></stream:stream>", ""},               /* closed */
    };
    for (size_t i = 0; i < CANTO_ARRAY_LEN(cases); i++) {
        struct rec a, b;
        rec_init(&a);
        rec_init(&b);
        struct canto_xml_parser *p = canto_xml_parser_new(NULL, &events, &a);
        struct canto_xml_parser *q = canto_xml_parser_new(NULL, &events, &b);
        CHECK_INT(canto_xml_parser_feed(p, cases[i].fed, strlen(cases[i].fed)), CANTO_OK);
        CHECK_INT(canto_xml_parser_feed(q, cases[i].fed, strlen(cases[i].fed)), CANTO_OK);
        canto_xml_parser_release_idle(p);
        if (canto_xml_parser_released(p)) {
            fprintf(stderr, "case %zu was released\n", i);
            CHECK(false);
        }
        canto_xml_parser_release_idle(p); /* twice is the same */
        CHECK_INT(canto_xml_parser_feed(p, cases[i].rest, strlen(cases[i].rest)), CANTO_OK);
        CHECK_INT(canto_xml_parser_feed(q, cases[i].rest, strlen(cases[i].rest)), CANTO_OK);
        CHECK_INT(canto_xml_parser_error(p), CANTO_XML_ERR_NONE);
        CHECK_STR(a.log.data ? a.log.data : "", b.log.data ? b.log.data : "");
        canto_xml_parser_free(p);
        canto_xml_parser_free(q);
        rec_free(&a);
        rec_free(&b);
    }

    /* Stopped by a callback: not idle, and still stopped afterwards. */
    struct rec r;
    rec_init(&r);
    r.stop_after = 1;
    struct canto_xml_parser *p = canto_xml_parser_new(NULL, &events, &r);
    CHECK_INT(canto_xml_parser_feed(p, HEADER "<message/>", strlen(HEADER) + 10), CANTO_OK);
    CHECK(canto_xml_parser_stopped(p));
    canto_xml_parser_release_idle(p);
    CHECK(!canto_xml_parser_released(p));
    CHECK_INT(canto_xml_parser_feed(p, "<message/>", 10), CANTO_OK);
    CHECK(canto_xml_parser_stopped(p));
    CHECK_INT(r.nstanzas, 1);
    canto_xml_parser_free(p);
    rec_free(&r);
}

/* Stop, reset and free on a released parser. */
static void test_release_lifecycle(void)
{
    struct rec r;
    rec_init(&r);
    r.stop_after = 2;
    struct canto_xml_parser *p = canto_xml_parser_new(NULL, &events, &r);
    size_t first = strlen(HEADER) + strlen("<message id='1'/>");
    CHECK_INT(canto_xml_parser_feed(p, three, first), CANTO_OK);
    canto_xml_parser_release_idle(p);
    CHECK(canto_xml_parser_released(p));
    /* A stop in the first feed after a rebuild drops the rest of it. */
    CHECK_INT(canto_xml_parser_feed(p, three + first, sizeof(three) - 1 - first), CANTO_OK);
    CHECK(canto_xml_parser_stopped(p));
    CHECK_INT(r.nstanzas, 2);

    /* Reset of a released parser: a new stream, with its own stream_open. */
    r.stop_after = 0;
    canto_xml_parser_reset(p);
    CHECK(!canto_xml_parser_stopped(p));
    CHECK(canto_xml_parser_stream_ns(p) == NULL);
    CHECK_INT(canto_xml_parser_feed(p, three, sizeof(three) - 1), CANTO_OK);
    CHECK_INT(r.nstanzas, 5);
    canto_xml_parser_release_idle(p);
    CHECK(canto_xml_parser_released(p));
    canto_xml_parser_reset(p);
    /* A stanza without a header is refused after a reset, released or not. */
    CHECK_INT(canto_xml_parser_feed(p, "<message/>", 10), CANTO_ERROR);
    CHECK_INT(canto_xml_parser_error(p), CANTO_XML_ERR_BAD_NAMESPACE);
    canto_xml_parser_reset(p);
    const char *s2 = "<stream:stream xmlns='jabber:server' "
                     "xmlns:stream='http://etherx.jabber.org/streams'>";
    CHECK_INT(canto_xml_parser_feed(p, s2, strlen(s2)), CANTO_OK);
    canto_xml_parser_release_idle(p);
    CHECK(canto_xml_parser_released(p));
    CHECK_STR(canto_xml_parser_stream_ns(p), CANTO_NS_SERVER);
    CHECK_INT(canto_xml_parser_feed(p, "<message/>", 10), CANTO_OK);
    CHECK_INT(r.nstanzas, 6);
    if (r.nkeep > 5)
        CHECK_STR(r.keep[5]->root->ns, CANTO_NS_SERVER);
    CHECK_INT(canto_xml_parser_feed(p, "</stream:stream>", 16), CANTO_OK);
    /* Three stream_opens in all: the first stream, and the two resets. */
    int opens = 0;
    for (const char *l = r.log.data; (l = strstr(l, "open ")) != NULL; l++)
        opens++;
    CHECK_INT(opens, 3);

    /* Freed while released, and freed never having seen a byte. */
    canto_xml_parser_reset(p);
    CHECK_INT(canto_xml_parser_feed(p, three, sizeof(three) - 1), CANTO_OK);
    canto_xml_parser_release_idle(p);
    CHECK(canto_xml_parser_released(p));
    canto_xml_parser_free(p);
    canto_xml_parser_free(canto_xml_parser_new(NULL, NULL, NULL));
    rec_free(&r);
}

int main(void)
{
    test_stream_splits();
    test_stream_ns();
    test_restricted();
    test_not_well_formed();
    test_bad_namespace();
    test_limits();
    test_stop();
    test_error_sticks();
    test_reset();
    test_release_stream();
    test_release_prefixes();
    test_release_limits();
    test_release_errors();
    test_release_not_idle();
    test_release_lifecycle();
    return CHECK_DONE();
}
