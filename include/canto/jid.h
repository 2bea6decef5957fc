/*
 * jid.h: JID parsing and preparation (RFC 7622), the one normalisation
 * function used everywhere an address enters the server.
 *
 * Localpart: stringprep Nodeprep (libidn), at most 1023 bytes, none of the
 * characters "&'/:<>@ after preparation. Domainpart: a trailing dot removed,
 * IDNA to Unicode lowercase (libidn2 for the ACE form check; stringprep
 * Nameprep for case folding), at most 1023 bytes, an IP literal accepted as is
 * (IPv6 in brackets). Resourcepart: stringprep Resourceprep, at most 1023
 * bytes. Empty parts where a separator is present are errors ("@d", "l@",
 * "d/"). The prepared forms are UTF-8.
 */
#ifndef CANTO_JID_H
#define CANTO_JID_H

#include "canto/common.h"

#define CANTO_JID_PART_MAX 1023

struct canto_jid {
    char *local;    /* NULL when absent */
    char *domain;   /* never NULL once parsed */
    char *resource; /* NULL when absent */
    char *bare;     /* "local@domain" or "domain" */
    char *full;     /* bare, plus "/resource" when there is one */
    char *mem;      /* one allocation owning all the strings above */
};

/* Parse and prepare s (len bytes, need not be NUL-terminated).
 * Returns CANTO_OK and fills out (free with canto_jid_free), or CANTO_INVALID
 * (out is zeroed) for anything RFC 7622 rejects: the caller answers
 * jid-malformed. */
int canto_jid_parse(struct canto_jid *out, const char *s, size_t len);
/* Same, from a NUL-terminated string. */
int canto_jid_parse_str(struct canto_jid *out, const char *s);
/* Build from already prepared parts is not offered: always parse, so that
 * there is one path. Copy a parsed JID. */
void canto_jid_copy(struct canto_jid *dst, const struct canto_jid *src);
/* A copy of src without its resource. */
void canto_jid_bare_of(struct canto_jid *dst, const struct canto_jid *src);
void canto_jid_free(struct canto_jid *jid);

/* Prepare a single part into a malloc'd string (free it); NULL if invalid. */
char *canto_jid_prep_local(const char *s);
char *canto_jid_prep_domain(const char *s);
char *canto_jid_prep_resource(const char *s);

#endif
