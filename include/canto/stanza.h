/*
 * stanza.h: XMPP-level helpers on stanza trees: replies, errors, addresses.
 */
#ifndef CANTO_STANZA_H
#define CANTO_STANZA_H

#include "canto/jid.h"
#include "canto/xml.h"

#define CANTO_NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"

/* A result iq answering iq (borrowed): to/from swapped, same id. */
struct canto_stanza *canto_iq_result(const struct canto_stanza *iq);
/* The defined stanza error conditions, RFC 6120 section 8.3.3, in its
 * order. Each has the error type the RFC says it SHOULD have
 * (canto_stanza_condition_type); errors are built from these values, never
 * from strings, so the pairs cannot drift. */
enum canto_stanza_condition {
    CANTO_COND_BAD_REQUEST,             /* modify */
    CANTO_COND_CONFLICT,                /* cancel */
    CANTO_COND_FEATURE_NOT_IMPLEMENTED, /* cancel */
    CANTO_COND_FORBIDDEN,               /* auth */
    CANTO_COND_GONE,                    /* cancel */
    CANTO_COND_INTERNAL_SERVER_ERROR,   /* cancel */
    CANTO_COND_ITEM_NOT_FOUND,          /* cancel */
    CANTO_COND_JID_MALFORMED,           /* modify */
    CANTO_COND_NOT_ACCEPTABLE,          /* modify */
    CANTO_COND_NOT_ALLOWED,             /* cancel */
    CANTO_COND_NOT_AUTHORIZED,          /* auth */
    CANTO_COND_POLICY_VIOLATION,        /* modify */
    CANTO_COND_RECIPIENT_UNAVAILABLE,   /* wait */
    CANTO_COND_REDIRECT,                /* modify */
    CANTO_COND_REGISTRATION_REQUIRED,   /* auth */
    CANTO_COND_REMOTE_SERVER_NOT_FOUND, /* cancel */
    CANTO_COND_REMOTE_SERVER_TIMEOUT,   /* wait */
    CANTO_COND_RESOURCE_CONSTRAINT,     /* wait */
    CANTO_COND_SERVICE_UNAVAILABLE,     /* cancel */
    CANTO_COND_SUBSCRIPTION_REQUIRED,   /* auth */
    CANTO_COND_UNDEFINED_CONDITION,     /* cancel (the RFC allows any) */
    CANTO_COND_UNEXPECTED_REQUEST,      /* wait */
    CANTO_COND_COUNT
};

/* The error types (RFC 6120 section 8.3.2). */
enum canto_stanza_error_type {
    CANTO_ERRTYPE_AUTH,
    CANTO_ERRTYPE_CANCEL,
    CANTO_ERRTYPE_CONTINUE,
    CANTO_ERRTYPE_MODIFY,
    CANTO_ERRTYPE_WAIT,
};

/* The element name of a condition ("service-unavailable"). */
const char *canto_stanza_condition_name(enum canto_stanza_condition cond);
/* The type RFC 6120 gives a condition. */
enum canto_stanza_error_type canto_stanza_condition_type(enum canto_stanza_condition cond);
/* The attribute value of a type ("cancel"). */
const char *canto_stanza_error_type_name(enum canto_stanza_error_type type);

/* An error answering orig (borrowed): same element name and id, to/from
 * swapped, type='error', <error type=...><condition/><text/></error> with
 * the condition's default type; text may be NULL. Returns NULL for an orig
 * of type error (never answer errors). */
struct canto_stanza *canto_stanza_error(const struct canto_stanza *orig,
                                        enum canto_stanza_condition cond, const char *text);
/* The same with another type than the condition's default: for the few
 * callers that mean it (say why where you call it). */
struct canto_stanza *canto_stanza_error_typed(const struct canto_stanza *orig,
                                              enum canto_stanza_condition cond,
                                              enum canto_stanza_error_type type,
                                              const char *text);
/* The stanza's type attribute, or the default for its kind ("normal" for
 * message, "available" for presence, "" otherwise). */
const char *canto_stanza_type(const struct canto_stanza *st);
/* The account an iq of the account scope is about: the bare JID of its to,
 * or of its from when it has no to (the owner asking). CANTO_OK with out
 * filled (free it), or CANTO_ERROR. */
int canto_iq_account(const struct canto_stanza *iq, struct canto_jid *out);
/* True if the iq's from is the account's owner (any of its resources). */
bool canto_iq_from_owner(const struct canto_stanza *iq, const struct canto_jid *account);

/* Current time as an XEP-0082 timestamp into out (size >= 32). */
void canto_xmpp_timestamp(char *out, size_t size);

/* Parse one serialized stanza (as canto_xml_serialize wrote it for a
 * jabber:client stream) back into a tree; NULL if it is not exactly one
 * well-formed element. For data the server stored itself. */
struct canto_stanza *canto_stanza_parse(const char *xml, size_t len);

#endif
