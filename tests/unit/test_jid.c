/*
 * test_jid.c: JID parsing and preparation. The examples of RFC 7622 section
 * 3.5 come first; where Canto's stringprep profiles (RFC 6122) give another
 * answer than RFC 7622's PRECIS profiles, the test pins Canto's answer and
 * says so. Then the split rules, limits, domain forms (case, trailing dot,
 * IP literals, A-labels, label separators), hostile bytes, and the copy and
 * bare helpers.
 */
#include <stdlib.h>

#include <stringprep.h>
#include <string.h>

#include "canto/jid.h"
#include "check.h"

/* Parse s and check every field; NULL means "absent". */
static void check_jid(const char *s, const char *local, const char *domain,
                      const char *resource, const char *bare, const char *full)
{
    struct canto_jid j;
    int rc = canto_jid_parse_str(&j, s);
    CHECK_INT(rc, CANTO_OK);
    if (rc != CANTO_OK) {
        fprintf(stderr, "  while parsing \"%s\"\n", s);
        return;
    }
    if (local)
        CHECK_STR(j.local, local);
    else
        CHECK(j.local == NULL);
    CHECK_STR(j.domain, domain);
    if (resource)
        CHECK_STR(j.resource, resource);
    else
        CHECK(j.resource == NULL);
    CHECK_STR(j.bare, bare);
    CHECK_STR(j.full, full);
    canto_jid_free(&j);
    CHECK(j.mem == NULL && j.domain == NULL);
}

static void check_bad_len(const char *s, size_t len)
{
    struct canto_jid j;
    memset(&j, 0xAB, sizeof j);
    int rc = canto_jid_parse(&j, s, len);
    CHECK_INT(rc, CANTO_INVALID);
    if (rc == CANTO_OK) {
        fprintf(stderr, "  accepted \"%.*s\" as \"%s\"\n", (int)len, s, j.full);
        canto_jid_free(&j);
        return;
    }
    /* out is zeroed on failure, so freeing it is harmless */
    CHECK(j.mem == NULL && j.local == NULL && j.domain == NULL && j.resource == NULL &&
          j.bare == NULL && j.full == NULL);
    canto_jid_free(&j);
}

static void check_bad(const char *s)
{
    check_bad_len(s, strlen(s));
}

/* RFC 7622 section 3.5.1: examples of valid JIDs. */
static void test_rfc7622_valid(void)
{
    check_jid("juliet@example.com", "juliet", "example.com", NULL, "juliet@example.com",
              "juliet@example.com");
    check_jid("juliet@example.com/foo", "juliet", "example.com", "foo", "juliet@example.com",
              "juliet@example.com/foo");
    check_jid("juliet@example.com/foo bar", "juliet", "example.com", "foo bar",
              "juliet@example.com", "juliet@example.com/foo bar");
    check_jid("juliet@example.com/foo@bar", "juliet", "example.com", "foo@bar",
              "juliet@example.com", "juliet@example.com/foo@bar");
    /* XEP-0106 escapes are not interpreted by the JID layer. */
    check_jid("foo\\20bar@example.com", "foo\\20bar", "example.com", NULL,
              "foo\\20bar@example.com", "foo\\20bar@example.com");
    check_jid("fussball@example.com", "fussball", "example.com", NULL, "fussball@example.com",
              "fussball@example.com");
    /* Nodeprep case-folds sharp s to "ss" (PRECIS would keep it), so both
     * spellings are the same account. */
    check_jid("fu\xc3\x9f" "ball@example.com", "fussball", "example.com", NULL,
              "fussball@example.com", "fussball@example.com");
    check_jid("\xcf\x80@example.com", "\xcf\x80", "example.com", NULL, "\xcf\x80@example.com",
              "\xcf\x80@example.com");
    /* Capital sigma lowercases; final sigma folds to sigma too (Nodeprep). */
    check_jid("\xce\xa3@example.com", "\xcf\x83", "example.com", NULL, "\xcf\x83@example.com",
              "\xcf\x83@example.com");
    check_jid("\xce\xa3@example.com/foo", "\xcf\x83", "example.com", "foo",
              "\xcf\x83@example.com", "\xcf\x83@example.com/foo");
    check_jid("\xcf\x83@example.com", "\xcf\x83", "example.com", NULL, "\xcf\x83@example.com",
              "\xcf\x83@example.com");
    check_jid("\xcf\x82@example.com", "\xcf\x83", "example.com", NULL, "\xcf\x83@example.com",
              "\xcf\x83@example.com");
    /* U+265A BLACK CHESS KING in the resource. */
    check_jid("king@example.com/\xe2\x99\x9a", "king", "example.com", "\xe2\x99\x9a",
              "king@example.com", "king@example.com/\xe2\x99\x9a");
    check_jid("example.com", NULL, "example.com", NULL, "example.com", "example.com");
    check_jid("example.com/foobar", NULL, "example.com", "foobar", "example.com",
              "example.com/foobar");
    check_jid("a.example.com/b@example.net", NULL, "a.example.com", "b@example.net",
              "a.example.com", "a.example.com/b@example.net");
}

/* RFC 7622 section 3.5.2: examples of invalid JIDs. */
static void test_rfc7622_invalid(void)
{
    check_bad("\"juliet\"@example.com"); /* quotes are prohibited in a localpart */
    check_bad("foo bar@example.com");    /* so is space */
    check_bad("juliet@example.com/");    /* empty resource */
    check_bad("@example.com/");          /* empty localpart and resource */
    check_bad("juliet@");                /* empty domain */
    check_bad("/foobar");                /* empty domain */
    /* Two of RFC 7622's invalid examples are valid under Nodeprep, which the
     * project uses: U+2163 ROMAN NUMERAL FOUR is NFKC-mapped to "iv" rather
     * than refused, and U+265A is not prohibited in a localpart. */
    check_jid("henry\xe2\x85\xa3@example.com", "henryiv", "example.com", NULL,
              "henryiv@example.com", "henryiv@example.com");
    check_jid("\xe2\x99\x9a@example.com", "\xe2\x99\x9a", "example.com", NULL,
              "\xe2\x99\x9a@example.com", "\xe2\x99\x9a@example.com");
}

/* RFC 7622 section 3.1: first '/' first, then the first '@' before it. */
static void test_split(void)
{
    check_jid("a/b@c", NULL, "a", "b@c", "a", "a/b@c");
    check_jid("a@b/c/d", "a", "b", "c/d", "a@b", "a@b/c/d");
    check_jid("a@b/c@d/e", "a", "b", "c@d/e", "a@b", "a@b/c@d/e");
    check_bad("a@b@c");      /* second '@' lands in the domain */
    check_bad("@example.com");
    check_bad("user@/res");
    check_bad("user@example.com/");
    check_bad("example.com/");
    check_bad("/");
    check_bad("@");
    check_bad("@/");
    check_bad("");
    check_bad_len("x", 0);
    /* Each part prepared on its own: the resource keeps its case. */
    check_jid("Juliet@Example.COM/Balcony", "juliet", "example.com", "Balcony",
              "juliet@example.com", "juliet@example.com/Balcony");
    /* Characters mapped to nothing leave an empty part. */
    check_bad("\xc2\xad@example.com");      /* U+00AD SOFT HYPHEN only */
    check_bad("user@example.com/\xc2\xad");
    check_bad("a:b@example.com");
    check_bad("a<b@example.com");
    check_bad("a>b@example.com");
    check_bad("a&b@example.com");
    check_bad("a'b@example.com");
}

static void test_domain(void)
{
    check_jid("EXAMPLE.com", NULL, "example.com", NULL, "example.com", "example.com");
    check_jid("Juliet@EXAMPLE.Com", "juliet", "example.com", NULL, "juliet@example.com",
              "juliet@example.com");
    /* one trailing dot is stripped, not two */
    check_jid("juliet@example.com./r", "juliet", "example.com", "r", "juliet@example.com",
              "juliet@example.com/r");
    check_bad("example.com..");
    check_bad(".");
    check_bad("user@.");
    check_bad("..");
    check_bad(".example.com");
    check_bad("example..com");
    /* IP literals */
    check_jid("[::1]", NULL, "[::1]", NULL, "[::1]", "[::1]");
    check_jid("u@[2001:DB8::1]/r", "u", "[2001:db8::1]", "r", "u@[2001:db8::1]",
              "u@[2001:db8::1]/r");
    check_jid("127.0.0.1", NULL, "127.0.0.1", NULL, "127.0.0.1", "127.0.0.1");
    check_bad("[::1");
    check_bad("[]");
    check_bad("[127.0.0.1]");
    check_bad("[fe80::1%eth0]");
    check_bad("[::1]x");
    check_bad("[[::1]]");
    /* Unicode domains: lowercase U-labels, A-labels decoded. */
    check_jid("B\xc3\x9c" "CHER.example", NULL, "b\xc3\xbc" "cher.example", NULL,
              "b\xc3\xbc" "cher.example", "b\xc3\xbc" "cher.example");
    check_jid("xn--bcher-kva.example", NULL, "b\xc3\xbc" "cher.example", NULL,
              "b\xc3\xbc" "cher.example", "b\xc3\xbc" "cher.example");
    check_jid("XN--BCHER-KVA.example", NULL, "b\xc3\xbc" "cher.example", NULL,
              "b\xc3\xbc" "cher.example", "b\xc3\xbc" "cher.example");
    check_bad("xn--.example");
    check_bad("xn--zzzz.example");      /* bad punycode */
    check_bad("xn--ls8h.example");      /* an emoji: not IDNA2008 */
    check_bad("xn--zca.example");       /* sharp s: Nameprep would change it */
    check_bad("\xe2\x99\x9a.example");  /* symbols are not IDNA2008 */
    check_bad("\xf0\x9f\x92\xa9.example");
    /* U+3002 IDEOGRAPHIC FULL STOP and U+FF0E FULLWIDTH FULL STOP are dots. */
    check_jid("a\xe3\x80\x82" "example", NULL, "a.example", NULL, "a.example", "a.example");
    check_jid("a\xef\xbc\x8e" "example\xef\xbd\xa1", NULL, "a.example", NULL, "a.example",
              "a.example");
    /* Nameprep's bidi rule is per label: a right-to-left label next to a
     * left-to-right one is fine (found by the fuzzer), in both spellings. */
    check_jid("\xda\xa8\xda\xad\xda\xb4\xda\xb4.example", NULL,
              "\xda\xa8\xda\xad\xda\xb4\xda\xb4.example", NULL,
              "\xda\xa8\xda\xad\xda\xb4\xda\xb4.example",
              "\xda\xa8\xda\xad\xda\xb4\xda\xb4.example");
    check_jid("xn--bkbkva.example", NULL, "\xda\xa8\xda\xad\xda\xb4\xda\xb4.example", NULL,
              "\xda\xa8\xda\xad\xda\xb4\xda\xb4.example",
              "\xda\xa8\xda\xad\xda\xb4\xda\xb4.example");
    check_bad("\xda\xa8" "a.example");      /* mixed directions in one label */
    /* U+2024 ONE DOT LEADER becomes '.' under NFKC: not a separator */
    check_bad("a\xe2\x80\xa4" "b.example");
    /* ASCII labels: letters, digits, '-', '_' */
    check_jid("_xmpp-client.example", NULL, "_xmpp-client.example", NULL,
              "_xmpp-client.example", "_xmpp-client.example");
    check_bad("foo bar.example");
    check_bad("foo!bar.example");
    check_bad("foo\tbar.example");
    check_bad("foo:5222");
    check_bad("foo\\bar");
}

static void test_limits(void)
{
    char buf[4000];

    /* a 63-byte label is fine, 64 is not */
    memset(buf, 'a', 63);
    memcpy(buf + 63, ".example", 9);
    struct canto_jid j;
    CHECK_INT(canto_jid_parse_str(&j, buf), CANTO_OK);
    canto_jid_free(&j);
    memset(buf, 'a', 64);
    memcpy(buf + 64, ".example", 9);
    check_bad(buf);

    /* a Unicode label is measured by its ACE form */
    for (int i = 0; i < 40; i++) /* U+00FC x 40: 80 bytes, short ACE */
        memcpy(buf + 2 * i, "\xc3\xbc", 2);
    memcpy(buf + 80, ".example", 9);
    CHECK_INT(canto_jid_parse_str(&j, buf), CANTO_OK);
    canto_jid_free(&j);

    /* a 1023-byte domain of 63-byte labels, then one byte more */
    size_t n = 0;
    while (n + 64 <= 1023) {
        memset(buf + n, 'd', 63);
        buf[n + 63] = '.';
        n += 64;
    }
    memset(buf + n, 'e', 1023 - n);
    n = 1023;
    buf[n] = '\0';
    CHECK_INT(canto_jid_parse_str(&j, buf), CANTO_OK);
    CHECK_INT(j.domain ? strlen(j.domain) : 0, 1023);
    canto_jid_free(&j);
    buf[n] = 'e';
    buf[n + 1] = '\0';
    check_bad(buf);

    /* localpart and resource: 1023 bytes fine, 1024 not */
    memset(buf, 'l', 1023);
    memcpy(buf + 1023, "@example.com/", 13);
    memset(buf + 1036, 'r', 1023);
    buf[1036 + 1023] = '\0';
    CHECK_INT(canto_jid_parse_str(&j, buf), CANTO_OK);
    CHECK_INT(j.local ? strlen(j.local) : 0, 1023);
    CHECK_INT(j.resource ? strlen(j.resource) : 0, 1023);
    canto_jid_free(&j);
    memset(buf, 'l', 1024);
    memcpy(buf + 1024, "@example.com", 13);
    check_bad(buf);
    memcpy(buf, "u@example.com/", 14);
    memset(buf + 14, 'r', 1024);
    buf[14 + 1024] = '\0';
    check_bad(buf);

    /* a part whose preparation grows past the limit: U+FDFA (3 bytes)
     * expands to 18 characters under NFKC */
    n = 0;
    for (int i = 0; i < 100; i++, n += 3)
        memcpy(buf + n, "\xef\xb7\xba", 3);
    memcpy(buf + n, "@example.com", 13);
    check_bad(buf);
}

static void test_hostile(void)
{
    check_bad_len("juliet@example.com\0evil", 23);
    check_bad_len("\0", 1);
    check_bad_len("a\0@example.com", 14);
    check_bad_len("u@example.com/r\0", 16);
    check_bad("\xff@example.com");
    check_bad("\xc3@example.com");                /* truncated sequence */
    check_bad("\xc0\xaf@example.com");            /* overlong '/' */
    check_bad("u@\xe0\x80\xaf.example");          /* overlong */
    check_bad("u@example.com/\xed\xa0\x80");      /* surrogate */
    check_bad("u@example.com/\xf4\x90\x80\x80");  /* above U+10FFFF */
    check_bad("u@example.com/\x80");
    check_bad("u@example.com/r\xe2\x99");         /* truncated at the end */
    check_bad("u@example.com/\x07");              /* control character */
    check_bad("\xd8\xa7" "1@example.com");        /* bidi: RTL must also end RTL */
    /* NULL is refused, not dereferenced */
    struct canto_jid j;
    CHECK_INT(canto_jid_parse_str(&j, NULL), CANTO_INVALID);
    CHECK_INT(canto_jid_parse(&j, NULL, 5), CANTO_INVALID);
    CHECK(canto_jid_prep_local(NULL) == NULL);
}

static void test_prep_parts(void)
{
    char *s;
    CHECK_STR(s = canto_jid_prep_local("Juliet"), "juliet");
    free(s);
    CHECK(canto_jid_prep_local("a@b") == NULL);
    CHECK(canto_jid_prep_local("") == NULL);
    CHECK_STR(s = canto_jid_prep_domain("Example.COM."), "example.com");
    free(s);
    CHECK(canto_jid_prep_domain("") == NULL);
    CHECK(canto_jid_prep_domain(".") == NULL);
    CHECK_STR(s = canto_jid_prep_resource("Foo Bar"), "Foo Bar");
    free(s);
    CHECK(canto_jid_prep_resource("") == NULL);
}

static void test_copy(void)
{
    struct canto_jid a, b, c, d;
    CHECK_INT(canto_jid_parse_str(&a, "Juliet@Example.com/Balcony"), CANTO_OK);
    canto_jid_copy(&b, &a);
    CHECK(b.mem != a.mem);
    CHECK_STR(b.local, "juliet");
    CHECK_STR(b.domain, "example.com");
    CHECK_STR(b.resource, "Balcony");
    CHECK_STR(b.bare, "juliet@example.com");
    CHECK_STR(b.full, "juliet@example.com/Balcony");
    canto_jid_bare_of(&c, &a);
    CHECK_STR(c.local, "juliet");
    CHECK_STR(c.domain, "example.com");
    CHECK(c.resource == NULL);
    CHECK_STR(c.bare, "juliet@example.com");
    CHECK_STR(c.full, "juliet@example.com");
    canto_jid_free(&a);
    /* the copies own their memory */
    CHECK_STR(b.full, "juliet@example.com/Balcony");
    CHECK_STR(c.full, "juliet@example.com");
    canto_jid_free(&b);
    canto_jid_free(&c);

    CHECK_INT(canto_jid_parse_str(&a, "example.com/r"), CANTO_OK);
    canto_jid_bare_of(&d, &a);
    CHECK(d.local == NULL && d.resource == NULL);
    CHECK_STR(d.bare, "example.com");
    CHECK_STR(d.full, "example.com");
    canto_jid_copy(&b, &d);
    CHECK_STR(b.full, "example.com");
    canto_jid_free(&a);
    canto_jid_free(&b);
    canto_jid_free(&d);
    /* freeing twice, or a zeroed JID, is harmless */
    canto_jid_free(&d);
    struct canto_jid z = {0};
    canto_jid_copy(&b, &z);
    CHECK(b.mem == NULL && b.domain == NULL);
    canto_jid_free(&z);
    canto_jid_free(NULL);
}

/* libidn's general path on s, as canto_jid_prep_* would do without the
 * ASCII fast path. */
static char *reference_prep(const char *s, const Stringprep_profile *profile)
{
    char buf[64];
    if (strlen(s) >= sizeof buf)
        return NULL;
    memcpy(buf, s, strlen(s) + 1);
    if (stringprep(buf, sizeof buf, 0, profile) != STRINGPREP_OK || !buf[0])
        return NULL;
    if (profile == stringprep_xmpp_nodeprep && strpbrk(buf, "\"&'/:<>@"))
        return NULL;
    return strdup(buf);
}

static void check_same(const char *what, char *fast, char *ref, const char *in)
{
    if ((fast == NULL) != (ref == NULL) || (fast && strcmp(fast, ref) != 0)) {
        fprintf(stderr, "%s(\"%s\"): fast path gives %s, libidn %s\n", what, in,
                fast ? fast : "(invalid)", ref ? ref : "(invalid)");
        check_failures++;
    }
    free(fast);
    free(ref);
}

/* The ASCII fast path must agree with libidn on every ASCII input: all
 * one- and two-character strings over bytes 1..127, and a few longer ones. */
static void test_ascii_fast_path_matches_libidn(void)
{
    char in[3] = {0};
    for (int a = 1; a < 128; a++) {
        for (int b = 0; b < 128; b++) {
            in[0] = (char)a;
            in[1] = (char)b;
            check_same("local", canto_jid_prep_local(in), reference_prep(in, stringprep_xmpp_nodeprep), in);
            check_same("resource", canto_jid_prep_resource(in),
                       reference_prep(in, stringprep_xmpp_resourceprep), in);
        }
    }
    const char *longer[] = {"Juliet", "ROMEO.Montague", "foo bar", "a\tb", "x~y_z-1", "Orchard Balcony"};
    for (size_t i = 0; i < sizeof longer / sizeof *longer; i++) {
        check_same("local", canto_jid_prep_local(longer[i]),
                   reference_prep(longer[i], stringprep_xmpp_nodeprep), longer[i]);
        check_same("resource", canto_jid_prep_resource(longer[i]),
                   reference_prep(longer[i], stringprep_xmpp_resourceprep), longer[i]);
    }
}

int main(void)
{
    test_ascii_fast_path_matches_libidn();
    test_rfc7622_valid();
    test_rfc7622_invalid();
    test_split();
    test_domain();
    test_limits();
    test_hostile();
    test_prep_parts();
    test_copy();
    return CHECK_DONE();
}
