/*
 * stanza.c: building replies and RFC 6120 section 8.3 stanza errors.
 */
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "canto/stanza.h"

/* A new stanza with the same element name and id as orig and the addresses
 * swapped. */
static struct canto_stanza *reply_skeleton(const struct canto_stanza *orig, const char *type)
{
    const struct canto_xml_node *o = orig->root;
    struct canto_stanza *st = canto_stanza_new_root(o->name, CANTO_NS_CLIENT);
    const char *id = canto_xml_attr(o, "id");
    const char *from = canto_xml_attr(o, "from");
    const char *to = canto_xml_attr(o, "to");
    if (id)
        canto_xml_set_attr(st, st->root, "id", id);
    if (from)
        canto_xml_set_attr(st, st->root, "to", from);
    if (to)
        canto_xml_set_attr(st, st->root, "from", to);
    canto_xml_set_attr(st, st->root, "type", type);
    return st;
}

struct canto_stanza *canto_iq_result(const struct canto_stanza *iq)
{
    return reply_skeleton(iq, "result");
}

struct canto_stanza *canto_stanza_error(const struct canto_stanza *orig, const char *type,
                                        const char *condition, const char *text)
{
    const char *otype = canto_xml_attr(orig->root, "type");
    if (otype && strcmp(otype, "error") == 0)
        return NULL;
    struct canto_stanza *st = reply_skeleton(orig, "error");
    /* Messages keep their payload so that the sender's client can tell
     * which one bounced; iq and presence errors stay small. */
    if (strcmp(orig->root->name, "message") == 0) {
        for (const struct canto_xml_node *n = canto_xml_first_element(orig->root); n;
             n = canto_xml_next_element(n))
            if (strcmp(n->name, "error") != 0)
                canto_xml_add_copy(st, st->root, n);
    }
    struct canto_xml_node *err = canto_xml_add_child(st, st->root, "error", CANTO_NS_CLIENT);
    canto_xml_set_attr(st, err, "type", type);
    canto_xml_add_child(st, err, condition, CANTO_NS_STANZAS);
    if (text) {
        struct canto_xml_node *t = canto_xml_add_child(st, err, "text", CANTO_NS_STANZAS);
        canto_xml_set_attr_ns(st, t, CANTO_NS_XML, "lang", "en");
        canto_xml_add_text(st, t, text, strlen(text));
    }
    return st;
}

const char *canto_stanza_type(const struct canto_stanza *st)
{
    const char *t = canto_xml_attr(st->root, "type");
    if (t)
        return t;
    if (strcmp(st->root->name, "message") == 0)
        return "normal";
    if (strcmp(st->root->name, "presence") == 0)
        return "available";
    return "";
}

void canto_xmpp_timestamp(char *out, size_t size)
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    char base[24];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, size, "%s.%03ldZ", base, (long)(tv.tv_usec / 1000));
}

struct parse_one {
    struct canto_stanza *st;
    int count;
};

static int parse_one_stanza(void *ud, struct canto_stanza *st)
{
    struct parse_one *p = ud;
    if (p->count++ == 0) {
        p->st = st;
        return CANTO_OK;
    }
    canto_stanza_unref(st);
    return CANTO_ERROR;
}

struct canto_stanza *canto_stanza_parse(const char *xml, size_t len)
{
    static const char header[] = "<stream:stream xmlns='jabber:client' "
                                 "xmlns:stream='http://etherx.jabber.org/streams'>";
    static const struct canto_xml_parser_events events = {.stanza = parse_one_stanza};
    /* Stored data was checked on the way in; the limits only guard against
     * a damaged database. The parser counts the stream header too. */
    struct canto_xml_limits limits = {.max_stanza_bytes = sizeof header + len, .max_depth = 256,
                                      .max_attrs = 1024};
    struct parse_one p = {0};
    struct canto_xml_parser *parser = canto_xml_parser_new(&limits, &events, &p);
    int rc = canto_xml_parser_feed(parser, header, sizeof header - 1);
    if (rc == CANTO_OK)
        rc = canto_xml_parser_feed(parser, xml, len);
    canto_xml_parser_free(parser);
    if (rc != CANTO_OK || p.count != 1) {
        canto_stanza_unref(p.st);
        return NULL;
    }
    return p.st;
}

int canto_iq_account(const struct canto_stanza *iq, struct canto_jid *out)
{
    const char *to = canto_xml_attr(iq->root, "to");
    const char *addr = to ? to : canto_xml_attr(iq->root, "from");
    struct canto_jid full;
    if (!addr || canto_jid_parse_str(&full, addr) != CANTO_OK)
        return CANTO_ERROR;
    if (!full.local) {
        canto_jid_free(&full);
        return CANTO_ERROR;
    }
    canto_jid_bare_of(out, &full);
    canto_jid_free(&full);
    return CANTO_OK;
}

bool canto_iq_from_owner(const struct canto_stanza *iq, const struct canto_jid *account)
{
    const char *from = canto_xml_attr(iq->root, "from");
    struct canto_jid f;
    if (!from || canto_jid_parse_str(&f, from) != CANTO_OK)
        return false;
    bool owner = strcmp(f.bare, account->bare) == 0;
    canto_jid_free(&f);
    return owner;
}
