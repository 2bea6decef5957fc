/*
 * test_xml_framed.c: the framed mode of the stream parser (xml.h,
 * canto_xml_parser_set_framed), for transports that carry one element per
 * frame (XMPP over WebSocket, RFC 7395).
 *
 * A conversation of frames (<open/>, stanzas, <close/>) gives the same
 * events a byte stream does; a frame that is not exactly one whole element
 * (cut short, two elements, text alone, empty) is not-well-formed; the
 * restrictions (DTD, comments, processing instructions) and limits (frame
 * size, depth, attributes) hold inside a frame; a stop, an error and a
 * reset behave as in the byte-stream mode; and nothing stays allocated
 * between frames.
 */
#include <stdlib.h>
#include <string.h>

#include "canto/xml.h"
#include "check.h"

#define OPEN "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' version='1.0'/>"
#define CLOSE "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"

/* What the callbacks saw: "open ...", "stanza <xml>", "close", one a line. */
struct rec {
    struct canto_buf log;
    int nstanzas;
    int stop_after; /* the stanza callback declines at this count (0: never) */
};

static int on_open(void *ud, const struct canto_xml_node *hdr)
{
    struct rec *r = ud;
    const char *lang = canto_xml_attr_ns(hdr, CANTO_NS_XML, "lang");
    canto_buf_appendf(&r->log, "open %s %s to=%s version=%s lang=%s\n", hdr->ns, hdr->name,
                      canto_xml_attr(hdr, "to") ? canto_xml_attr(hdr, "to") : "-",
                      canto_xml_attr(hdr, "version") ? canto_xml_attr(hdr, "version") : "-",
                      lang ? lang : "-");
    return CANTO_OK;
}

static int on_stanza(void *ud, struct canto_stanza *st)
{
    struct rec *r = ud;
    r->nstanzas++;
    canto_buf_append_str(&r->log, "stanza ");
    canto_xml_serialize(st->root, CANTO_NS_CLIENT, &r->log);
    canto_buf_append_char(&r->log, '\n');
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

static struct canto_xml_parser *framed(const struct canto_xml_limits *lim, struct rec *r)
{
    memset(r, 0, sizeof(*r));
    canto_buf_init(&r->log);
    struct canto_xml_parser *p = canto_xml_parser_new(lim, &events, r);
    canto_xml_parser_set_framed(p);
    CHECK(canto_xml_parser_framed(p));
    return p;
}

static int feed(struct canto_xml_parser *p, const char *frame)
{
    int rc = canto_xml_parser_feed(p, frame, strlen(frame));
    /* Between frames the parser holds no expat. */
    CHECK(canto_xml_parser_released(p));
    return rc;
}

/* One frame alone on a fresh parser (after an <open/>): its error. */
static enum canto_xml_error one_frame(const char *frame, const struct canto_xml_limits *lim)
{
    struct rec r;
    struct canto_xml_parser *p = framed(lim, &r);
    CHECK_INT(feed(p, OPEN), CANTO_OK);
    int rc = feed(p, frame);
    enum canto_xml_error err = canto_xml_parser_error(p);
    CHECK((rc == CANTO_ERROR) == (err != CANTO_XML_ERR_NONE));
    /* A refused frame delivers nothing, not even a first complete element. */
    CHECK_INT(r.nstanzas, err == CANTO_XML_ERR_NONE ? 1 : 0);
    /* After an error, nothing more is accepted. */
    if (err != CANTO_XML_ERR_NONE)
        CHECK_INT(feed(p, "<message xmlns='jabber:client'/>"), CANTO_ERROR);
    canto_xml_parser_free(p);
    canto_buf_free(&r.log);
    return err;
}

static void test_conversation(void)
{
    struct rec r;
    struct canto_xml_parser *p = framed(NULL, &r);
    CHECK(canto_xml_parser_stream_ns(p) == NULL);
    CHECK_INT(feed(p, "<?xml version='1.0'?>" OPEN), CANTO_OK);
    CHECK_STR(canto_xml_parser_stream_ns(p), "");
    CHECK_INT(feed(p, "<message xmlns='jabber:client' to='a@example.com' type='chat'>"
                      "<body>h\xc3\xa9llo &amp; <![CDATA[<b>]]></body>"
                      "<x xmlns='urn:example' a='1'><y/></x></message>"),
              CANTO_OK);
    /* Whitespace around the element is allowed, as around any document. */
    CHECK_INT(feed(p, "\n <iq xmlns='jabber:client' type='get' id='p'>"
                      "<ping xmlns='urn:xmpp:ping'/></iq>\n"),
              CANTO_OK);
    CHECK_INT(feed(p, "<presence xmlns='jabber:client'/>"), CANTO_OK);
    CHECK_INT(feed(p, CLOSE), CANTO_OK);
    CHECK_STR(r.log.data,
              "open urn:ietf:params:xml:ns:xmpp-framing open to=example.com version=1.0 lang=-\n"
              "stanza <message to=\"a@example.com\" type=\"chat\"><body>h\xc3\xa9llo &amp; "
              "&lt;b&gt;</body><x xmlns=\"urn:example\" a=\"1\"><y/></x></message>\n"
              "stanza <iq type=\"get\" id=\"p\"><ping xmlns=\"urn:xmpp:ping\"/></iq>\n"
              "stanza <presence/>\n"
              "close\n");
    CHECK_INT(canto_xml_parser_error(p), CANTO_XML_ERR_NONE);
    canto_xml_parser_free(p);
    canto_buf_free(&r.log);
}

/* <open/> with xml:lang, and a restart (after SASL) that opens again. */
static void test_restart(void)
{
    struct rec r;
    struct canto_xml_parser *p = framed(NULL, &r);
    CHECK_INT(feed(p, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' "
                      "version='1.0' xml:lang='fr'/>"),
              CANTO_OK);
    canto_xml_parser_reset(p);
    CHECK(canto_xml_parser_framed(p)); /* the mode survives a reset */
    CHECK(canto_xml_parser_stream_ns(p) == NULL);
    CHECK_INT(feed(p, OPEN), CANTO_OK);
    CHECK_STR(r.log.data,
              "open urn:ietf:params:xml:ns:xmpp-framing open to=example.com version=1.0 lang=fr\n"
              "open urn:ietf:params:xml:ns:xmpp-framing open to=example.com version=1.0 lang=-\n");
    canto_xml_parser_free(p);
    canto_buf_free(&r.log);
}

static void test_not_one_element(void)
{
    CHECK_INT(one_frame("<message xmlns='jabber:client'><body>cut", NULL),
              CANTO_XML_ERR_NOT_WELL_FORMED);
    CHECK_INT(one_frame("<message xmlns='jabber:client'/><message xmlns='jabber:client'/>", NULL),
              CANTO_XML_ERR_NOT_WELL_FORMED);
    CHECK_INT(one_frame("just text", NULL), CANTO_XML_ERR_NOT_WELL_FORMED);
    CHECK_INT(one_frame("", NULL), CANTO_XML_ERR_NOT_WELL_FORMED);
    CHECK_INT(one_frame("  ", NULL), CANTO_XML_ERR_NOT_WELL_FORMED);
    CHECK_INT(one_frame("<message xmlns='jabber:client'></presence>", NULL),
              CANTO_XML_ERR_NOT_WELL_FORMED);
    /* A stream header is not a frame: it never ends. */
    CHECK_INT(one_frame("<stream:stream xmlns='jabber:client' "
                        "xmlns:stream='http://etherx.jabber.org/streams'>",
                        NULL),
              CANTO_XML_ERR_NOT_WELL_FORMED);
}

/* <open/> and <close/> are empty: an element or text inside one is refused
 * (whitespace is not). Found by fuzz_xml_framed: a child of <open/> was
 * taken for part of a stanza that did not exist. */
static void test_framing_elements_empty(void)
{
    static const char *const bad[] = {
        "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com'><body>x</body></open>",
        "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'>text</open>",
        "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'><x/></close>",
        "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'><![CDATA[t]]></open>",
    };
    for (size_t i = 0; i < CANTO_ARRAY_LEN(bad); i++) {
        struct rec r;
        struct canto_xml_parser *p = framed(NULL, &r);
        CHECK_INT(feed(p, bad[i]), CANTO_ERROR);
        CHECK_INT(canto_xml_parser_error(p), CANTO_XML_ERR_NOT_WELL_FORMED);
        CHECK_INT(r.nstanzas, 0);
        canto_xml_parser_free(p);
        canto_buf_free(&r.log);
    }
    struct rec r;
    struct canto_xml_parser *p = framed(NULL, &r);
    CHECK_INT(feed(p, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com'>\n "
                      "</open>"),
              CANTO_OK);
    CHECK_INT(feed(p, "<presence xmlns='jabber:client'/>"), CANTO_OK);
    CHECK_INT(r.nstanzas, 1);
    canto_xml_parser_free(p);
    canto_buf_free(&r.log);
}

static void test_restricted(void)
{
    CHECK_INT(one_frame("<!DOCTYPE x [<!ENTITY a 'b'>]><x xmlns='jabber:client'>&a;</x>", NULL),
              CANTO_XML_ERR_RESTRICTED);
    CHECK_INT(one_frame("<message xmlns='jabber:client'><!-- c --></message>", NULL),
              CANTO_XML_ERR_RESTRICTED);
    CHECK_INT(one_frame("<?pi x?><message xmlns='jabber:client'/>", NULL),
              CANTO_XML_ERR_RESTRICTED);
    CHECK_INT(one_frame("<?xml version='1.0' encoding='ISO-8859-1'?><message "
                        "xmlns='jabber:client'/>",
                        NULL),
              CANTO_XML_ERR_ENCODING);
}

static void test_limits(void)
{
    struct canto_xml_limits lim = {.max_stanza_bytes = 100, .max_depth = 3, .max_attrs = 2};
    char big[160];
    memset(big, 'a', sizeof big);
    memcpy(big, "<message xmlns='jabber:client'><body>", 37);
    memcpy(big + sizeof big - 18, "</body></message>", 18); /* with the NUL */
    CHECK_INT(one_frame(big, &lim), CANTO_XML_ERR_POLICY);
    CHECK_INT(one_frame("<a xmlns='jabber:client'><b><c><d/></c></b></a>", &lim),
              CANTO_XML_ERR_POLICY);
    CHECK_INT(one_frame("<a xmlns='jabber:client'><b><c/></b></a>", &lim), CANTO_XML_ERR_NONE);
    CHECK_INT(one_frame("<a xmlns='jabber:client' x='1' y='2' z='3'/>", &lim),
              CANTO_XML_ERR_POLICY);
}

/* A stanza callback that declines stops the parser, without an error; a
 * reset starts it again. */
static void test_stop(void)
{
    struct rec r;
    struct canto_xml_parser *p = framed(NULL, &r);
    r.stop_after = 1;
    CHECK_INT(feed(p, OPEN), CANTO_OK);
    CHECK_INT(feed(p, "<message xmlns='jabber:client'/>"), CANTO_OK);
    CHECK(canto_xml_parser_stopped(p));
    CHECK_INT(feed(p, "<presence xmlns='jabber:client'/>"), CANTO_OK);
    CHECK_INT(r.nstanzas, 1);
    canto_xml_parser_reset(p);
    r.stop_after = 0;
    CHECK_INT(feed(p, OPEN), CANTO_OK);
    CHECK_INT(feed(p, "<presence xmlns='jabber:client'/>"), CANTO_OK);
    CHECK_INT(r.nstanzas, 2);
    canto_xml_parser_free(p);
    canto_buf_free(&r.log);
}

/* A framed parser never frees its parser mid-frame nor keeps one after. */
static void test_release(void)
{
    struct rec r;
    struct canto_xml_parser *p = framed(NULL, &r);
    CHECK(canto_xml_parser_released(p));
    CHECK_INT(feed(p, OPEN), CANTO_OK);
    canto_xml_parser_release_idle(p); /* harmless */
    CHECK_INT(feed(p, "<message xmlns='jabber:client'/>"), CANTO_OK);
    CHECK_INT(r.nstanzas, 1);
    canto_xml_parser_free(p);
    canto_buf_free(&r.log);
}

int main(void)
{
    test_conversation();
    test_restart();
    test_not_one_element();
    test_framing_elements_empty();
    test_restricted();
    test_limits();
    test_stop();
    test_release();
    return CHECK_DONE();
}
