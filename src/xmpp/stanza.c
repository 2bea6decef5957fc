/*
 * stanza.c: building replies and RFC 6120 section 8.3 stanza errors. The
 * conditions and their default types live in one table here, so that every
 * error the server sends names a defined condition with the type the RFC
 * gives it, unless a caller deliberately says otherwise.
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

static const struct {
    const char *name;
    enum canto_stanza_error_type type;
} conditions[CANTO_COND_COUNT] = {
    [CANTO_COND_BAD_REQUEST] = {"bad-request", CANTO_ERRTYPE_MODIFY},
    [CANTO_COND_CONFLICT] = {"conflict", CANTO_ERRTYPE_CANCEL},
    [CANTO_COND_FEATURE_NOT_IMPLEMENTED] = {"feature-not-implemented", CANTO_ERRTYPE_CANCEL},
    [CANTO_COND_FORBIDDEN] = {"forbidden", CANTO_ERRTYPE_AUTH},
    [CANTO_COND_GONE] = {"gone", CANTO_ERRTYPE_CANCEL},
    [CANTO_COND_INTERNAL_SERVER_ERROR] = {"internal-server-error", CANTO_ERRTYPE_CANCEL},
    [CANTO_COND_ITEM_NOT_FOUND] = {"item-not-found", CANTO_ERRTYPE_CANCEL},
    [CANTO_COND_JID_MALFORMED] = {"jid-malformed", CANTO_ERRTYPE_MODIFY},
    [CANTO_COND_NOT_ACCEPTABLE] = {"not-acceptable", CANTO_ERRTYPE_MODIFY},
    [CANTO_COND_NOT_ALLOWED] = {"not-allowed", CANTO_ERRTYPE_CANCEL},
    [CANTO_COND_NOT_AUTHORIZED] = {"not-authorized", CANTO_ERRTYPE_AUTH},
    [CANTO_COND_POLICY_VIOLATION] = {"policy-violation", CANTO_ERRTYPE_MODIFY},
    [CANTO_COND_RECIPIENT_UNAVAILABLE] = {"recipient-unavailable", CANTO_ERRTYPE_WAIT},
    [CANTO_COND_REDIRECT] = {"redirect", CANTO_ERRTYPE_MODIFY},
    [CANTO_COND_REGISTRATION_REQUIRED] = {"registration-required", CANTO_ERRTYPE_AUTH},
    [CANTO_COND_REMOTE_SERVER_NOT_FOUND] = {"remote-server-not-found", CANTO_ERRTYPE_CANCEL},
    [CANTO_COND_REMOTE_SERVER_TIMEOUT] = {"remote-server-timeout", CANTO_ERRTYPE_WAIT},
    [CANTO_COND_RESOURCE_CONSTRAINT] = {"resource-constraint", CANTO_ERRTYPE_WAIT},
    [CANTO_COND_SERVICE_UNAVAILABLE] = {"service-unavailable", CANTO_ERRTYPE_CANCEL},
    [CANTO_COND_SUBSCRIPTION_REQUIRED] = {"subscription-required", CANTO_ERRTYPE_AUTH},
    [CANTO_COND_UNDEFINED_CONDITION] = {"undefined-condition", CANTO_ERRTYPE_CANCEL},
    [CANTO_COND_UNEXPECTED_REQUEST] = {"unexpected-request", CANTO_ERRTYPE_WAIT},
};

static const char *const error_types[] = {
    [CANTO_ERRTYPE_AUTH] = "auth",
    [CANTO_ERRTYPE_CANCEL] = "cancel",
    [CANTO_ERRTYPE_CONTINUE] = "continue",
    [CANTO_ERRTYPE_MODIFY] = "modify",
    [CANTO_ERRTYPE_WAIT] = "wait",
};

const char *canto_stanza_condition_name(enum canto_stanza_condition cond)
{
    return cond < CANTO_COND_COUNT ? conditions[cond].name : "undefined-condition";
}

enum canto_stanza_error_type canto_stanza_condition_type(enum canto_stanza_condition cond)
{
    return cond < CANTO_COND_COUNT ? conditions[cond].type : CANTO_ERRTYPE_CANCEL;
}

const char *canto_stanza_error_type_name(enum canto_stanza_error_type type)
{
    return (size_t)type < CANTO_ARRAY_LEN(error_types) ? error_types[type] : "cancel";
}

struct canto_stanza *canto_stanza_error(const struct canto_stanza *orig,
                                        enum canto_stanza_condition cond, const char *text)
{
    return canto_stanza_error_typed(orig, cond, canto_stanza_condition_type(cond), text);
}

struct canto_stanza *canto_stanza_error_typed(const struct canto_stanza *orig,
                                              enum canto_stanza_condition cond,
                                              enum canto_stanza_error_type type,
                                              const char *text)
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
    canto_xml_set_attr(st, err, "type", canto_stanza_error_type_name(type));
    canto_xml_add_child(st, err, canto_stanza_condition_name(cond), CANTO_NS_STANZAS);
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
