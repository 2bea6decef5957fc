/*
 * jid.c: JID parsing and preparation (RFC 7622 address syntax, with the
 * stringprep profiles of RFC 6122 for the parts), the one place where an
 * address from the network becomes a canonical string.
 *
 * A JID is split as RFC 7622 section 3.1 says: everything after the first
 * '/' is the resourcepart, then everything before the first '@' of what is
 * left is the localpart, and the rest is the domainpart. Each part is then
 * prepared on its own: Nodeprep for the localpart, Resourceprep for the
 * resourcepart (both libidn), and for the domainpart: IP literals are kept
 * (IPv6 in brackets, lowercased), anything else is split at its dots and
 * each label goes through Nameprep (case folding and NFKC, per label as in
 * IDNA, so that its bidi rule applies to one label) and is checked: ASCII
 * labels may hold letters, digits, '-' and '_'; a label in ACE form
 * ("xn--...") is decoded to its Unicode form; a Unicode label must be a
 * valid IDNA2008 U-label, which libidn2 checks (including the 63-octet limit
 * of its ACE form). The stored domain is thus Unicode, lowercase, one
 * canonical spelling per name.
 *
 * Raw bytes are checked before any library sees them: no NUL, valid UTF-8
 * (shortest form, no surrogates), and no part longer than 1023 bytes even
 * before preparation. The last rule is slightly stricter than the RFC (which
 * bounds the prepared form) but only rejects absurd inputs, and it bounds the
 * work stringprep does on hostile input. Stringprep runs with unassigned
 * code points allowed (flags 0), as Prosody and most deployed servers do:
 * libidn's tables are Unicode 3.2, and refusing every newer character would
 * refuse many real resources and nicknames.
 */
#include "canto/jid.h"
#include "canto/utf8.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <idn2.h>
#include <stringprep.h>

#include "canto/buf.h"

/* Longest raw input that can possibly be valid: three full parts and the
 * two separators. Anything longer is refused before any work is done. */
#define JID_INPUT_MAX (3 * CANTO_JID_PART_MAX + 2)

/* DNS limit on one label, in its ACE (ASCII) form. */
#define LABEL_MAX 63


/* Run a stringprep profile over s (len bytes) and return the prepared form,
 * malloc'd, or NULL if the input is not valid UTF-8, is empty, is too long
 * (before or after preparation), is refused by the profile (prohibited
 * characters, bidi rules), or prepares to the empty string (a part made only
 * of characters mapped to nothing is not a part). */
static char *prep_part(const char *s, size_t len, const Stringprep_profile *profile)
{
    char buf[CANTO_JID_PART_MAX + 1];
    if (len == 0 || len > CANTO_JID_PART_MAX || !canto_utf8_valid(s, len))
        return NULL;
    memcpy(buf, s, len);
    buf[len] = '\0';
    /* stringprep() works in place and fails with TOO_SMALL_BUFFER when the
     * prepared form would not fit, which is exactly the length limit. */
    if (stringprep(buf, sizeof buf, 0, profile) != STRINGPREP_OK || buf[0] == '\0')
        return NULL;
    return canto_xstrdup(buf);
}

static bool is_ascii(const char *s, size_t len);

/* The stringprep profiles restricted to ASCII, which is what nearly every
 * address on the wire is: no mapping to nothing, no normalisation and no
 * bidi rules apply, so preparing is folding case (Nodeprep only) and refusing
 * control characters (both) and Nodeprep's prohibited ASCII (space and
 * "&'/:<>@). Routing prepares every to address, and libidn's general path
 * costs a Unicode normalisation each time. Returns false when s is not ASCII
 * (the caller takes the general path); else *out is the result or NULL. */
static bool prep_ascii(const char *s, size_t len, bool node, char **out)
{
    if (!is_ascii(s, len))
        return false;
    *out = NULL;
    if (len == 0 || len > CANTO_JID_PART_MAX)
        return true;
    char *p = canto_xmalloc(len + 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || (node && strchr(" \"&'/:<>@", c))) {
            free(p);
            return true;
        }
        p[i] = (char)(node && c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    }
    p[len] = '\0';
    *out = p;
    return true;
}

static char *prep_local(const char *s, size_t len)
{
    char *out;
    if (prep_ascii(s, len, true, &out))
        return out;
    out = prep_part(s, len, stringprep_xmpp_nodeprep);
    /* Nodeprep prohibits these already; checking again costs nothing and
     * keeps the rule true whatever the library version does. */
    if (out && strpbrk(out, "\"&'/:<>@")) {
        free(out);
        return NULL;
    }
    return out;
}

static char *prep_resource(const char *s, size_t len)
{
    char *out;
    if (prep_ascii(s, len, false, &out))
        return out;
    return prep_part(s, len, stringprep_xmpp_resourceprep);
}

/* Copy s to out, mapping the three non-ASCII label separators of RFC 3490
 * (U+3002, U+FF0E, U+FF61) to '.', as RFC 6122 section 2.2 asks. Nameprep
 * maps U+FF0E itself but not the other two. Returns the new length, which is
 * never more than len. */
static size_t map_dots(const char *s, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (i + 2 < len) {
            const unsigned char *p = (const unsigned char *)s + i;
            if ((p[0] == 0xE3 && p[1] == 0x80 && p[2] == 0x82) ||
                (p[0] == 0xEF && p[1] == 0xBC && p[2] == 0x8E) ||
                (p[0] == 0xEF && p[1] == 0xBD && p[2] == 0xA1)) {
                out[o++] = '.';
                i += 2;
                continue;
            }
        }
        out[o++] = s[i];
    }
    return o;
}

/* "[v6 address]": checked with inet_pton, returned lowercased (hex digits
 * are the only letters) so that one address has one spelling for the case.
 * Zone identifiers are refused by inet_pton, which is what we want. */
static char *ip6_literal(const char *s, size_t len)
{
    char inner[INET6_ADDRSTRLEN + 1];
    struct in6_addr a6;
    if (len < 3 || s[len - 1] != ']' || len - 2 >= sizeof inner)
        return NULL;
    memcpy(inner, s + 1, len - 2);
    inner[len - 2] = '\0';
    if (inet_pton(AF_INET6, inner, &a6) != 1)
        return NULL;
    char *out = canto_xstrndup(s, len);
    for (char *p = out; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return out;
}

static bool is_ascii(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] >= 0x80)
            return false;
    return true;
}

/* An ASCII label after Nameprep (so already lowercase): letters, digits,
 * hyphen, and underscore, which some deployments use for internal component
 * names. Stricter STD3 rules (no leading or trailing hyphen) are not applied:
 * they belong to host names in DNS, and XMPP domains need not be in DNS. */
static bool ascii_label_ok(const char *s, size_t len)
{
    if (len == 0 || len > LABEL_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
    return true;
}

/* A Unicode label (NUL-terminated, already Nameprep'd) must be a valid
 * IDNA2008 U-label. IDN2_NO_TR46 asks for the strict rules without UTS #46
 * mapping, since Nameprep already mapped; libidn2 also refuses a label whose
 * ACE form exceeds 63 octets. */
static bool unicode_label_ok(const char *label)
{
    uint8_t *ace = NULL;
    int rc = idn2_lookup_u8((const uint8_t *)label, &ace, IDN2_NO_TR46);
    idn2_free(ace);
    return rc == IDN2_OK;
}

/* Decode an A-label ("xn--...", NUL-terminated, lowercase) to its Unicode
 * form, malloc'd, or NULL if it is not a valid A-label. libidn2's lookup of
 * the A-label checks the punycode and the round trip; the decoded form must
 * then be one Nameprep leaves alone and a valid U-label, so that both
 * spellings of a name end up as the same string. */
static char *alabel_decode(const char *label)
{
    uint8_t *ace = NULL;
    char *u = NULL;
    char buf[CANTO_JID_PART_MAX + 1];
    int rc = idn2_lookup_u8((const uint8_t *)label, &ace, 0);
    idn2_free(ace);
    if (rc != IDN2_OK)
        return NULL;
    if (idn2_to_unicode_8z8z(label, &u, 0) != IDN2_OK || !u)
        goto fail;
    size_t n = strlen(u);
    if (n == 0 || n >= sizeof buf || !canto_utf8_valid(u, n))
        goto fail;
    memcpy(buf, u, n + 1);
    if (stringprep(buf, sizeof buf, 0, stringprep_nameprep) != STRINGPREP_OK)
        goto fail;
    /* A U-label that Nameprep changes holds an IDNA2003/2008 deviation
     * (sharp s, final sigma, joiners): "xn--zca" is not "ss" in DNS, so it is
     * refused rather than silently turned into another name. */
    if (strcmp(buf, u) != 0 || strchr(buf, '.') || !unicode_label_ok(buf))
        goto fail;
    idn2_free(u);
    return canto_xstrdup(buf);
fail:
    idn2_free(u);
    return NULL;
}

/* Prepare one label (raw, as split at the dots) and append its canonical
 * form. Nameprep runs per label, as IDNA does: its bidi rule speaks of one
 * label, and applied to a whole name it would refuse any right-to-left label
 * next to a left-to-right one ("\u06a8\u06ad.example"). */
static bool append_label(struct canto_buf *out, const char *s, size_t len)
{
    char label[CANTO_JID_PART_MAX + 1];
    if (len == 0 || len >= sizeof label)
        return false;
    memcpy(label, s, len);
    label[len] = '\0';
    if (is_ascii(label, len)) {
        /* Nameprep on ASCII is case folding (see prep_ascii). */
        for (size_t i = 0; i < len; i++)
            if (label[i] >= 'A' && label[i] <= 'Z')
                label[i] = (char)(label[i] + ('a' - 'A'));
    } else if (stringprep(label, sizeof label, 0, stringprep_nameprep) != STRINGPREP_OK) {
        return false;
    }
    len = strlen(label);
    /* Empty after mapping, or a dot made by NFKC (U+2024 ONE DOT LEADER):
     * the label structure must be the one the sender wrote. */
    if (len == 0 || memchr(label, '.', len))
        return false;
    if (!is_ascii(label, len)) {
        if (!unicode_label_ok(label))
            return false;
        canto_buf_append(out, label, len);
        return true;
    }
    if (len >= 4 && memcmp(label, "xn--", 4) == 0) {
        char *u = alabel_decode(label);
        if (!u)
            return false;
        canto_buf_append_str(out, u);
        free(u);
        return true;
    }
    if (!ascii_label_ok(label, len))
        return false;
    canto_buf_append(out, label, len);
    return true;
}

/* Prepare a domainpart; see the file comment for the rules. */
static char *prep_domain(const char *s, size_t len)
{
    char raw[CANTO_JID_PART_MAX + 1];
    struct in_addr a4;
    struct canto_buf out;

    if (len == 0 || len > CANTO_JID_PART_MAX || !canto_utf8_valid(s, len))
        return NULL;
    size_t n = map_dots(s, len, raw);
    if (n > 0 && raw[n - 1] == '.') /* one trailing dot: RFC 7622 3.2 */
        n--;
    if (n == 0)
        return NULL;
    raw[n] = '\0';
    if (raw[0] == '[')
        return ip6_literal(raw, n);
    if (inet_pton(AF_INET, raw, &a4) == 1)
        return canto_xstrdup(raw);

    canto_buf_init(&out);
    const char *p = raw;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t ll = dot ? (size_t)(dot - p) : strlen(p);
        if (!append_label(&out, p, ll))
            goto fail;
        if (!dot)
            break;
        canto_buf_append_char(&out, '.');
        p = dot + 1;
    }
    /* Nameprep and A-label decoding can make the name longer in bytes. */
    if (out.len == 0 || out.len > CANTO_JID_PART_MAX)
        goto fail;
    return canto_buf_steal(&out);
fail:
    canto_buf_free(&out);
    return NULL;
}

/* Copy s into the block at *p, advance *p past its NUL, return the copy. */
static char *put(char **p, const char *s, size_t n)
{
    char *start = *p;
    memcpy(start, s, n);
    start[n] = '\0';
    *p = start + n + 1;
    return start;
}

/* Fill out from prepared parts (local and resource may be NULL) as one
 * allocation: "local\0domain\0resource\0bare\0full\0". One block keeps a
 * JID cheap to copy and to free, and the struct needs one free. */
static void assemble(struct canto_jid *out, const char *local, const char *domain,
                     const char *resource)
{
    size_t ll = local ? strlen(local) : 0;
    size_t dl = strlen(domain);
    size_t rl = resource ? strlen(resource) : 0;
    size_t bare_len = (local ? ll + 1 : 0) + dl;
    size_t full_len = bare_len + (resource ? rl + 1 : 0);
    size_t total = (local ? ll + 1 : 0) + dl + 1 + (resource ? rl + 1 : 0) + bare_len + 1 +
                   full_len + 1;
    char *p = canto_xmalloc(total);

    memset(out, 0, sizeof *out);
    out->mem = p;
    if (local)
        out->local = put(&p, local, ll);
    out->domain = put(&p, domain, dl);
    if (resource)
        out->resource = put(&p, resource, rl);

    out->bare = p;
    if (local) {
        memcpy(p, local, ll);
        p[ll] = '@';
        p += ll + 1;
    }
    memcpy(p, domain, dl);
    p[dl] = '\0';
    p += dl + 1;

    out->full = p;
    memcpy(p, out->bare, bare_len);
    p += bare_len;
    if (resource) {
        *p++ = '/';
        memcpy(p, resource, rl);
        p += rl;
    }
    *p = '\0';
}

int canto_jid_parse(struct canto_jid *out, const char *s, size_t len)
{
    char *local = NULL, *domain = NULL, *resource = NULL;

    memset(out, 0, sizeof *out);
    if (!s || len == 0 || len > JID_INPUT_MAX || memchr(s, '\0', len))
        return CANTO_INVALID;

    /* RFC 7622 section 3.1: the first '/' starts the resource, and only an
     * '@' before it can end a localpart ("a/b@c" is domain a, resource b@c). */
    const char *slash = memchr(s, '/', len);
    size_t head = slash ? (size_t)(slash - s) : len;
    const char *at = memchr(s, '@', head);
    const char *dstart = at ? at + 1 : s;
    size_t dlen = head - (size_t)(dstart - s);

    if (at && !(local = prep_local(s, (size_t)(at - s))))
        goto fail;
    if (!(domain = prep_domain(dstart, dlen)))
        goto fail;
    if (slash && !(resource = prep_resource(slash + 1, len - head - 1)))
        goto fail;

    assemble(out, local, domain, resource);
    free(local);
    free(domain);
    free(resource);
    return CANTO_OK;
fail:
    free(local);
    free(domain);
    free(resource);
    return CANTO_INVALID;
}

int canto_jid_parse_str(struct canto_jid *out, const char *s)
{
    if (!s) {
        memset(out, 0, sizeof *out);
        return CANTO_INVALID;
    }
    return canto_jid_parse(out, s, strlen(s));
}

void canto_jid_copy(struct canto_jid *dst, const struct canto_jid *src)
{
    if (!src->domain) {
        memset(dst, 0, sizeof *dst);
        return;
    }
    assemble(dst, src->local, src->domain, src->resource);
}

void canto_jid_bare_of(struct canto_jid *dst, const struct canto_jid *src)
{
    if (!src->domain) {
        memset(dst, 0, sizeof *dst);
        return;
    }
    assemble(dst, src->local, src->domain, NULL);
}

void canto_jid_free(struct canto_jid *jid)
{
    if (!jid)
        return;
    free(jid->mem);
    memset(jid, 0, sizeof *jid);
}

char *canto_jid_prep_local(const char *s)
{
    return s ? prep_local(s, strlen(s)) : NULL;
}

char *canto_jid_prep_domain(const char *s)
{
    return s ? prep_domain(s, strlen(s)) : NULL;
}

char *canto_jid_prep_resource(const char *s)
{
    return s ? prep_resource(s, strlen(s)) : NULL;
}
