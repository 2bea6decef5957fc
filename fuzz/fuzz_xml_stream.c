/*
 * fuzz_xml_stream.c: libFuzzer harness for the XMPP stream parser, the
 * serializer and the tree copier (src/xml/).
 *
 * The first input byte chooses how the rest is fed: its low four bits give
 * the number of chunks (1 to 16, so tokens get split at arbitrary places),
 * or with bit 7 the size of each chunk (1 to 16 bytes); bit 4 makes the
 * stanza callback stop the parser at the second stanza, and bit 5 resets the
 * parser half-way (a stream restart with a stanza perhaps half-built). With
 * bit 6 the input is run twice, once calling canto_xml_parser_release_idle
 * after every chunk and once not, and the two transcripts (headers, stanzas,
 * close, final error and stop) must be identical: releasing an idle parser
 * may change its memory, nothing else. The parser runs with small limits so
 * that they are hit often.
 *
 * Every stanza that comes out is checked, not just serialized: its
 * serialization must be equal to that of its deep copy, must stay within a
 * linear bound of the stanza limit, and must parse back (inside a fresh
 * stream header) into exactly one stanza that serializes to the same bytes.
 * Any violation aborts, which libFuzzer reports as a crash. After the input
 * is consumed the parser's error state is checked for consistency.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canto/xml.h"

#define WRAP_HEADER                                                               \
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"

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

struct fuzz_run {
    int stanzas;          /* stanzas received */
    bool stop_2nd;        /* return DECLINED on the second stanza */
    struct canto_buf log; /* transcript, to compare a released run with a plain one */
};

struct reparse {
    struct canto_stanza *st; /* the one stanza expected back */
    int count;               /* stanzas seen */
};

static void die(const char *what, const struct canto_buf *a, const struct canto_buf *b)
{
    fprintf(stderr, "fuzz_xml_stream: %s\nfirst:  %s\nsecond: %s\n", what,
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

/* The checks every parsed stanza must pass (see the top of the file). */
static void check_stanza(struct canto_stanza *st)
{
    struct canto_buf a, b;
    canto_buf_init(&a);
    canto_buf_init(&b);
    canto_xml_serialize(st->root, CANTO_NS_CLIENT, &a);
    if (a.len > 8 * fuzz_limits.max_stanza_bytes)
        die("serialization out of proportion", &a, NULL);

    struct canto_stanza *cp = canto_stanza_copy(st);
    canto_xml_serialize(cp->root, CANTO_NS_CLIENT, &b);
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
        die("copy serializes differently", &a, &b);
    canto_stanza_unref(cp);

    /* Reading functions, for their own sake. */
    (void)canto_xml_text(st, st->root);
    for (struct canto_xml_node *c = canto_xml_first_element(st->root); c;
         c = canto_xml_next_element(c))
        (void)canto_xml_child(c, c->name, c->ns);

    canto_buf_reset(&b);
    canto_buf_append_str(&b, WRAP_HEADER);
    canto_buf_append(&b, a.data, a.len);
    const struct canto_xml_parser_events ev = {.stanza = reparse_stanza};
    struct reparse r = {0};
    struct canto_xml_parser *p = canto_xml_parser_new(&reparse_limits, &ev, &r);
    if (canto_xml_parser_feed(p, b.data, b.len) != CANTO_OK || r.count != 1)
        die("serialization does not parse back", &a, NULL);
    canto_xml_parser_free(p);
    canto_buf_reset(&b);
    canto_xml_serialize(r.st->root, CANTO_NS_CLIENT, &b);
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
        die("round trip changed the stanza", &a, &b);
    canto_stanza_unref(r.st);
    canto_buf_free(&a);
    canto_buf_free(&b);
}

static int on_open(void *ud, const struct canto_xml_node *hdr)
{
    struct fuzz_run *run = ud;
    canto_buf_append_str(&run->log, "open ");
    canto_xml_serialize(hdr, NULL, &run->log);
    canto_buf_append_char(&run->log, '\n');
    return CANTO_OK;
}

static int on_stanza(void *ud, struct canto_stanza *st)
{
    struct fuzz_run *run = ud;
    run->stanzas++;
    check_stanza(st);
    canto_buf_append_str(&run->log, "stanza ");
    canto_xml_serialize(st->root, CANTO_NS_CLIENT, &run->log);
    canto_buf_append_char(&run->log, '\n');
    canto_stanza_unref(st);
    return run->stop_2nd && run->stanzas == 2 ? CANTO_DECLINED : CANTO_OK;
}

static void on_close(void *ud)
{
    struct fuzz_run *run = ud;
    canto_buf_append_str(&run->log, "close\n");
}

/* Feed in[0..len) as mode says, releasing the parser after every chunk when
 * release is set; the transcript ends up in run->log. */
static void run_stream(uint8_t mode, const char *in, size_t len, bool release,
                       struct fuzz_run *run)
{
    size_t chunk, nchunks;
    if (mode & 0x80) {
        chunk = 1 + (mode & 0x0F);
        nchunks = (len + chunk - 1) / chunk;
    } else {
        nchunks = 1 + (mode & 0x0F);
        chunk = len / nchunks + 1;
    }
    const struct canto_xml_parser_events ev = {
        .stream_open = on_open,
        .stanza = on_stanza,
        .stream_close = on_close,
    };
    struct canto_xml_parser *p = canto_xml_parser_new(&fuzz_limits, &ev, run);
    int rc = CANTO_OK;
    size_t i = 0;
    for (size_t off = 0; off < len; off += chunk, i++) {
        if ((mode & 0x20) && i == nchunks / 2) {
            canto_xml_parser_reset(p);
            canto_buf_append_str(&run->log, "reset\n");
            rc = CANTO_OK;
        }
        size_t n = len - off < chunk ? len - off : chunk;
        rc = canto_xml_parser_feed(p, in + off, n);
        if (rc != CANTO_OK && rc != CANTO_ERROR)
            abort();
        if (release)
            canto_xml_parser_release_idle(p);
    }
    /* Errors stick and are reported consistently. */
    enum canto_xml_error err = canto_xml_parser_error(p);
    if ((rc == CANTO_ERROR) != (err != CANTO_XML_ERR_NONE))
        abort();
    if (err != CANTO_XML_ERR_NONE && canto_xml_parser_feed(p, "<a/>", 4) != CANTO_ERROR)
        abort();
    canto_buf_appendf(&run->log, "end %s stopped=%d ns=%s\n", canto_xml_error_str(err),
                      (int)canto_xml_parser_stopped(p),
                      canto_xml_parser_stream_ns(p) ? canto_xml_parser_stream_ns(p) : "(none)");
    canto_xml_parser_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    const char *in = (const char *)data + 1;
    size_t len = size - 1;

    struct fuzz_run plain = {.stop_2nd = (mode & 0x10) != 0};
    canto_buf_init(&plain.log);
    run_stream(mode, in, len, false, &plain);
    if (mode & 0x40) {
        struct fuzz_run released = {.stop_2nd = plain.stop_2nd};
        canto_buf_init(&released.log);
        run_stream(mode, in, len, true, &released);
        if (plain.log.len != released.log.len ||
            memcmp(plain.log.data, released.log.data, plain.log.len) != 0)
            die("releasing the idle parser changed the stream", &plain.log, &released.log);
        canto_buf_free(&released.log);
    }
    canto_buf_free(&plain.log);
    return 0;
}
