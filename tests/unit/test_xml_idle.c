/*
 * test_xml_idle.c: what an idle stream parser costs, before and after
 * canto_xml_parser_release_idle.
 *
 * A thousand parsers each read what a client sends to get to a bound
 * session's idle state (declaration, header, a bind request, initial
 * presence); heap in use (glibc's mallinfo2) is measured after creating
 * them, with expat alive, after releasing, after one more stanza (expat
 * rebuilt) and after releasing again. The numbers are printed, not asserted:
 * they depend on the expat and libc at hand, and under the sanitizers malloc
 * is not glibc's at all. What is asserted is the behaviour: every parser is
 * released, every stanza arrives, and freeing gives the memory back.
 */
#include <expat.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canto/xml.h"
#include "check.h"

#define NPARSERS 1000

static const char client_start[] =
    "<?xml version='1.0'?>"
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
    "to='example.com' version='1.0' xml:lang='en'>"
    "<iq type='set' id='bind_1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
    "<resource>phone</resource></bind></iq>"
    "<presence><show>chat</show><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' "
    "node='https://example.org/client' ver='QgayPKawpkPSDYmwT/WM94uAlu0='/></presence>";

static const char later[] =
    "<message to='juliet@example.com' type='chat' id='m1'><body>Wherefore art thou?</body>"
    "<active xmlns='http://jabber.org/protocol/chatstates'/></message>";

static int on_stanza(void *ud, struct canto_stanza *st)
{
    int *count = ud;
    (*count)++;
    canto_stanza_unref(st);
    return CANTO_OK;
}

static const struct canto_xml_parser_events events = {.stanza = on_stanza};

static long long heap_in_use(void)
{
    return (long long)mallinfo2().uordblks;
}

static void report(const char *what, long long bytes)
{
    printf("  %-48s %8lld bytes per parser\n", what, bytes / NPARSERS);
}

int main(void)
{
    static struct canto_xml_parser *parsers[NPARSERS];
    int stanzas = 0, released = 0;
#if defined(__SANITIZE_ADDRESS__)
    printf("(built with a sanitizer: the numbers below are not glibc's heap)\n");
#endif
    long long base = heap_in_use();
    for (int i = 0; i < NPARSERS; i++)
        parsers[i] = canto_xml_parser_new(NULL, &events, &stanzas);
    long long created = heap_in_use();

    for (int i = 0; i < NPARSERS; i++)
        CHECK_INT(canto_xml_parser_feed(parsers[i], client_start, sizeof(client_start) - 1),
                  CANTO_OK);
    long long alive = heap_in_use();
    for (int i = 0; i < NPARSERS; i++) {
        canto_xml_parser_release_idle(parsers[i]);
        released += canto_xml_parser_released(parsers[i]);
    }
    long long idle = heap_in_use();

    for (int i = 0; i < NPARSERS; i++)
        CHECK_INT(canto_xml_parser_feed(parsers[i], later, sizeof(later) - 1), CANTO_OK);
    long long rebuilt = heap_in_use();
    for (int i = 0; i < NPARSERS; i++) {
        canto_xml_parser_release_idle(parsers[i]);
        released += canto_xml_parser_released(parsers[i]);
    }
    long long idle2 = heap_in_use();

    for (int i = 0; i < NPARSERS; i++)
        canto_xml_parser_free(parsers[i]);
    long long freed = heap_in_use();

    printf("heap in use for %d stream parsers (%s):\n", NPARSERS,
           XML_ExpatVersion());
    report("created, no byte yet", created - base);
    report("header and two stanzas read, expat alive", alive - base);
    report("released between stanzas", idle - base);
    report("one more stanza (expat rebuilt)", rebuilt - base);
    report("released again", idle2 - base);
    report("all freed", freed - base);

    CHECK_INT(stanzas, 3 * NPARSERS);
    CHECK_INT(released, 2 * NPARSERS);
#if !defined(__SANITIZE_ADDRESS__)
    /* Nothing is left behind: glibc's per-thread cache keeps a few freed
     * chunks that mallinfo2 counts as in use, far less than 64 bytes a
     * parser. */
    CHECK(freed - base < 64 * NPARSERS);
#endif
    return CHECK_DONE();
}
