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
/* An error answering orig (borrowed): same element name and id, to/from
 * swapped, type='error', <error type=...><condition/><text/></error>.
 * Returns NULL for an orig of type error (never answer errors). */
struct canto_stanza *canto_stanza_error(const struct canto_stanza *orig, const char *type,
                                        const char *condition, const char *text);
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
