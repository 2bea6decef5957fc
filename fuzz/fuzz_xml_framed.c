/*
 * fuzz_xml_framed.c: libFuzzer harness for the stream parser's framed mode
 * (RFC 7395, one element per frame: canto_xml_parser_set_framed).
 *
 * The input is cut into frames at every 0xFF byte (a byte that cannot occur
 * in UTF-8, so no valid frame loses anything), and each frame is fed as
 * one. Every stanza that comes out must serialize as a frame would carry it
 * (with its own xmlns), stay within a linear bound of the frame limit, and
 * parse back, as a frame of a fresh framed parser, into one stanza that
 * serializes to the same bytes. Errors stick: after one, every feed fails.
 * A frame is never kept: the parser must hold no expat between frames. Any
 * violation aborts, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canto/xml.h"

static const struct canto_xml_limits fuzz_limits = {
    .max_stanza_bytes = 4096,
    .max_depth = 16,
    .max_attrs = 16,
};

/* For re-parsing a serialization: same shape limits, room for escaping. */
static const struct canto_xml_limits reparse_limits = {
    .max_stanza_bytes = 1 << 20,
    .max_depth = 16,
    .max_attrs = 16,
};

struct reparse {
    struct canto_stanza *st; /* the one stanza expected back */
    int count;               /* stanzas seen */
};

static void die(const char *what, const struct canto_buf *a, const struct canto_buf *b)
{
    fprintf(stderr, "fuzz_xml_framed: %s\nfirst:  %s\nsecond: %s\n", what,
            a && a->data ? a->data : "", b && b->data ? b->data : "");
    abort();
}

static int reparse_stanza(void *ud, struct canto_stanza *st)
{
    struct reparse *r = ud;
    if (r->count++ == 0)
        r->st = st;
    else
        canto_stanza_unref(st);
    return CANTO_OK;
}

static int on_stanza(void *ud, struct canto_stanza *st)
{
    struct canto_buf a, b;
    canto_buf_init(&a);
    canto_buf_init(&b);
    canto_xml_serialize(st->root, "", &a);
    if (a.len > 8 * fuzz_limits.max_stanza_bytes)
        die("serialization out of proportion", &a, NULL);
    const struct canto_xml_parser_events ev = {.stanza = reparse_stanza};
    struct reparse r = {0};
    struct canto_xml_parser *p = canto_xml_parser_new(&reparse_limits, &ev, &r);
    canto_xml_parser_set_framed(p);
    if (canto_xml_parser_feed(p, a.data, a.len) != CANTO_OK || r.count != 1)
        die("serialization does not parse back as a frame", &a, NULL);
    canto_xml_parser_free(p);
    canto_xml_serialize(r.st->root, "", &b);
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
        die("round trip changed the stanza", &a, &b);
    canto_stanza_unref(r.st);
    canto_buf_free(&a);
    canto_buf_free(&b);
    canto_stanza_unref(st);
    return CANTO_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct canto_xml_parser_events ev = {.stanza = on_stanza};
    struct canto_xml_parser *p = canto_xml_parser_new(&fuzz_limits, &ev, NULL);
    canto_xml_parser_set_framed(p);
    const char *in = (const char *)data;
    int rc = CANTO_OK;
    size_t start = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i < size && data[i] != 0xFF)
            continue;
        rc = canto_xml_parser_feed(p, in + start, i - start);
        if (rc != CANTO_OK && rc != CANTO_ERROR)
            abort();
        if (!canto_xml_parser_released(p))
            abort(); /* nothing kept between frames */
        start = i + 1;
    }
    enum canto_xml_error err = canto_xml_parser_error(p);
    if ((rc == CANTO_ERROR) != (err != CANTO_XML_ERR_NONE))
        abort();
    if (err != CANTO_XML_ERR_NONE && canto_xml_parser_feed(p, "<a/>", 4) != CANTO_ERROR)
        abort();
    canto_xml_parser_free(p);
    return 0;
}
