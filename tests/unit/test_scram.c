/*
 * test_scram.c: the SCRAM server against the exchanges printed in RFC 5802
 * section 5 (SHA-1) and RFC 7677 section 3 (SHA-256), byte for byte, and
 * against a small client written here (straight from the RFC formulas, on
 * OpenSSL) for everything else: wrong passwords, tampered nonces and
 * bindings, unknown users, the gs2 downgrade rule, -PLUS with tls-exporter
 * data, malformed and random messages, calls out of order, SHA-512, and the
 * credential helpers (SASLprep, derive, make, check_password).
 */
#include <stdlib.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "canto/base64.h"
#include "canto/scram.h"
#include "check.h"

/* ---- a minimal SCRAM client for the tests ---- */

static const EVP_MD *md_of(enum canto_hash h)
{
    return h == CANTO_HASH_SHA1 ? EVP_sha1() : h == CANTO_HASH_SHA256 ? EVP_sha256() : EVP_sha512();
}

static void b64_of(struct canto_buf *out, const void *p, size_t n)
{
    canto_base64_encode(out, p, n);
}

/* Value of attribute "k=" in a comma-separated SCRAM message, copied to out. */
static bool attr(const char *msg, char k, char *out, size_t out_size)
{
    const char *p = msg;
    while (p && *p) {
        if (p[0] == k && p[1] == '=') {
            const char *end = strchr(p, ',');
            size_t n = end ? (size_t)(end - p - 2) : strlen(p + 2);
            if (n >= out_size)
                return false;
            memcpy(out, p + 2, n);
            out[n] = '\0';
            return true;
        }
        p = strchr(p, ',');
        if (p)
            p++;
    }
    return false;
}

/* Build client-final-message for server_first and compute the v= value a
 * genuine server would send. gs2 is the client's gs2 header, cb the binding
 * data the client sees (NULL for none); nonce, when not NULL, replaces the
 * nonce the server sent (a client that knows the password but replays or
 * alters the nonce). */
static void client_final(enum canto_hash h, const char *password, const char *gs2,
                         const unsigned char *cb, size_t cb_len, const char *client_first_bare,
                         const char *server_first, const char *nonce_override,
                         struct canto_buf *final, struct canto_buf *expect_v)
{
    size_t hlen = canto_hash_len(h);
    char nonce[512], salt_b64[128], iter[32];
    unsigned char salted[64], client_key[64], stored_key[64], server_key[64], sig[64];
    unsigned char proof[64], server_sig[64];
    unsigned int len;
    struct canto_buf salt, cbind, auth;

    CHECK(attr(server_first, 'r', nonce, sizeof nonce));
    CHECK(attr(server_first, 's', salt_b64, sizeof salt_b64));
    CHECK(attr(server_first, 'i', iter, sizeof iter));
    canto_buf_init(&salt);
    canto_buf_init(&cbind);
    canto_buf_init(&auth);
    long iterations = 0;
    CHECK_INT(canto_base64_decode(&salt, salt_b64, strlen(salt_b64)), CANTO_OK);
    CHECK_INT(canto_parse_long(iter, 1, 1000000, &iterations), CANTO_OK);
    CHECK(PKCS5_PBKDF2_HMAC(password, (int)strlen(password), (unsigned char *)salt.data,
                            (int)salt.len, (int)iterations, md_of(h), (int)hlen, salted) == 1);
    HMAC(md_of(h), salted, (int)hlen, (const unsigned char *)"Client Key", 10, client_key, &len);
    EVP_Digest(client_key, hlen, stored_key, &len, md_of(h), NULL);
    HMAC(md_of(h), salted, (int)hlen, (const unsigned char *)"Server Key", 10, server_key, &len);

    canto_buf_append_str(&cbind, gs2);
    if (cb)
        canto_buf_append(&cbind, cb, cb_len);
    canto_buf_reset(final);
    canto_buf_append_str(final, "c=");
    b64_of(final, cbind.data, cbind.len);
    canto_buf_appendf(final, ",r=%s", nonce_override ? nonce_override : nonce);
    canto_buf_appendf(&auth, "%s,%s,%s", client_first_bare, server_first, final->data);
    HMAC(md_of(h), stored_key, (int)hlen, (unsigned char *)auth.data, auth.len, sig, &len);
    for (size_t i = 0; i < hlen; i++)
        proof[i] = client_key[i] ^ sig[i];
    canto_buf_append_str(final, ",p=");
    b64_of(final, proof, hlen);
    HMAC(md_of(h), server_key, (int)hlen, (unsigned char *)auth.data, auth.len, server_sig, &len);
    canto_buf_reset(expect_v);
    canto_buf_append_str(expect_v, "v=");
    b64_of(expect_v, server_sig, hlen);
    canto_buf_free(&salt);
    canto_buf_free(&cbind);
    canto_buf_free(&auth);
}

/* ---- channel binding callback: serves tls-exporter only ---- */

static const unsigned char exporter_data[32] = "0123456789abcdef0123456789abcdef";

static int cb_data(void *ud, const char *type, unsigned char *out, size_t out_size)
{
    int *calls = ud;
    if (calls)
        (*calls)++;
    if (strcmp(type, "tls-exporter") != 0 || out_size < sizeof exporter_data)
        return -1;
    memcpy(out, exporter_data, sizeof exporter_data);
    return (int)sizeof exporter_data;
}

/* ---- a whole exchange ---- */

struct run {
    enum canto_hash hash;
    bool plus, cb_offered;
    const char *gs2;                  /* client's gs2 header */
    const char *user;                 /* n= as sent */
    const char *cnonce;
    const struct canto_scram_cred *cred; /* NULL: unknown user */
    const char *password;             /* what the client types */
    const unsigned char *client_cb;   /* binding data the client sees */
    size_t client_cb_len;
    const char *final_nonce;          /* NULL: echo the server's nonce */
    int rc_first, rc_server_first, rc_final; /* results */
    char v[256];                      /* server-final on success */
    bool v_ok;                        /* v= is what the client expects */
};

static const unsigned char fake_secret[] = "a server secret of some length";

static void run_exchange(struct run *r)
{
    struct canto_buf first, sfirst, final, expect_v, out;
    const char *user = NULL, *authz = NULL;
    canto_buf_init(&first);
    canto_buf_init(&sfirst);
    canto_buf_init(&final);
    canto_buf_init(&expect_v);
    canto_buf_init(&out);

    struct canto_scram_server *s =
        canto_scram_server_new(r->hash, r->plus, r->cb_offered, cb_data, NULL);
    canto_buf_appendf(&first, "%sn=%s,r=%s", r->gs2, r->user, r->cnonce);
    r->rc_first = canto_scram_server_client_first(s, first.data, first.len, &user, &authz);
    r->rc_server_first = r->rc_final = 1;
    r->v_ok = false;
    r->v[0] = '\0';
    if (r->rc_first != CANTO_OK)
        goto done;
    r->rc_server_first =
        canto_scram_server_first(s, r->cred, fake_secret, sizeof fake_secret - 1, &sfirst);
    if (r->rc_server_first != CANTO_OK)
        goto done;
    client_final(r->hash, r->password, r->gs2, r->client_cb, r->client_cb_len,
                 first.data + strlen(r->gs2), sfirst.data, r->final_nonce, &final, &expect_v);
    r->rc_final = canto_scram_server_final(s, final.data, final.len, &out);
    if (r->rc_final == CANTO_OK) {
        snprintf(r->v, sizeof r->v, "%s", out.data);
        r->v_ok = strcmp(out.data, expect_v.data) == 0;
    } else {
        CHECK_INT(out.len, 0);
    }
done:
    canto_scram_server_free(s);
    canto_buf_free(&first);
    canto_buf_free(&sfirst);
    canto_buf_free(&final);
    canto_buf_free(&expect_v);
    canto_buf_free(&out);
}

static void make_cred(enum canto_hash h, const char *password, struct canto_scram_cred *cred)
{
    CHECK_INT(canto_scram_cred_make(h, password, 4096, cred), CANTO_OK);
}

/* ---- the RFC exchanges ---- */

static void check_b64(const unsigned char *p, size_t n, const char *want)
{
    struct canto_buf b;
    canto_buf_init(&b);
    canto_base64_encode(&b, p, n);
    CHECK_STR(b.data, want);
    canto_buf_free(&b);
}

static void rfc_exchange(enum canto_hash h, const char *salt_b64, const char *cnonce,
                         const char *snonce, const char *stored_b64, const char *server_b64,
                         const char *server_first, const char *client_final_msg,
                         const char *server_final)
{
    struct canto_scram_cred cred;
    struct canto_buf salt, out, first;
    const char *user = NULL, *authz = NULL;
    canto_buf_init(&salt);
    canto_buf_init(&out);
    canto_buf_init(&first);

    CHECK_INT(canto_base64_decode(&salt, salt_b64, strlen(salt_b64)), CANTO_OK);
    CHECK_INT(canto_scram_cred_derive(h, "pencil", (unsigned char *)salt.data, salt.len, 4096,
                                      &cred),
              CANTO_OK);
    CHECK_INT(cred.iterations, 4096);
    CHECK_INT(cred.salt_len, salt.len);
    check_b64(cred.stored_key, canto_hash_len(h), stored_b64);
    check_b64(cred.server_key, canto_hash_len(h), server_b64);

    struct canto_scram_server *s = canto_scram_server_new(h, false, false, NULL, NULL);
    canto_scram_server_set_nonce_for_test(s, snonce);
    canto_buf_appendf(&first, "n,,n=user,r=%s", cnonce);
    CHECK_INT(canto_scram_server_client_first(s, first.data, first.len, &user, &authz), CANTO_OK);
    CHECK_STR(user, "user");
    CHECK(authz == NULL);
    CHECK_INT(canto_scram_server_first(s, &cred, NULL, 0, &out), CANTO_OK);
    CHECK_STR(out.data, server_first);
    canto_buf_reset(&out);
    CHECK_INT(canto_scram_server_final(s, client_final_msg, strlen(client_final_msg), &out),
              CANTO_OK);
    CHECK_STR(out.data, server_final);
    canto_scram_server_free(s);

    CHECK(canto_scram_cred_check_password(&cred, "pencil"));
    CHECK(!canto_scram_cred_check_password(&cred, "pencil "));
    CHECK(!canto_scram_cred_check_password(&cred, "Pencil"));
    canto_buf_free(&salt);
    canto_buf_free(&out);
    canto_buf_free(&first);
}

static void test_rfc5802(void)
{
    rfc_exchange(CANTO_HASH_SHA1, "QSXCR+Q6sek8bf92", "fyko+d2lbbFgONRv9qkxdawL",
                 "3rfcNHYJY1ZVvWVs7j", "6dlGYMOdZcOPutkcNY8U2g7vK9Y=",
                 "D+CSWLOshSulAsxiupA+qs2/fTE=",
                 "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
                 "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
                 "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
                 "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
}

static void test_rfc7677(void)
{
    rfc_exchange(CANTO_HASH_SHA256, "W22ZaJ0SNY7soEsUEjb6gQ==", "rOprNGfwEbeRWgbNEkqO",
                 "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
                 "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=",
                 "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
                 "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                 "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
                 "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                 "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
                 "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
}

/* The RFC 5802 exchange with one thing changed in the client's final
 * message: every change must be refused with CANTO_ERROR (not-authorized)
 * or CANTO_INVALID (malformed), never accepted. */
static void rfc5802_final_variant(const char *final, int want)
{
    struct canto_scram_cred cred;
    struct canto_buf salt, out;
    canto_buf_init(&salt);
    canto_buf_init(&out);
    canto_base64_decode(&salt, "QSXCR+Q6sek8bf92", 16);
    canto_scram_cred_derive(CANTO_HASH_SHA1, "pencil", (unsigned char *)salt.data, salt.len,
                            4096, &cred);
    struct canto_scram_server *s = canto_scram_server_new(CANTO_HASH_SHA1, false, false, NULL,
                                                          NULL);
    canto_scram_server_set_nonce_for_test(s, "3rfcNHYJY1ZVvWVs7j");
    const char *first = "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL";
    CHECK_INT(canto_scram_server_client_first(s, first, strlen(first), NULL, NULL), CANTO_OK);
    CHECK_INT(canto_scram_server_first(s, &cred, NULL, 0, &out), CANTO_OK);
    canto_buf_reset(&out);
    int rc = canto_scram_server_final(s, final, strlen(final), &out);
    CHECK_INT(rc, want);
    if (rc != want)
        fprintf(stderr, "  final: \"%s\"\n", final);
    CHECK_INT(out.len, 0);
    /* the exchange is over whatever happened */
    CHECK_INT(canto_scram_server_final(s, final, strlen(final), &out), CANTO_ERROR);
    canto_scram_server_free(s);
    canto_buf_free(&salt);
    canto_buf_free(&out);
}

static void test_tampering(void)
{
#define R "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j"
#define P "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
    /* nonce changed (client or server part), shortened, lengthened */
    rfc5802_final_variant("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7k," P, CANTO_ERROR);
    rfc5802_final_variant("c=biws,r=fyko+d2lbbFgONRv9qkxdawL," P, CANTO_ERROR);
    rfc5802_final_variant("c=biws," R "x," P, CANTO_ERROR);
    /* proof changed by one bit */
    rfc5802_final_variant("c=biws," R ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4Tc=", CANTO_ERROR);
    /* binding changed: "y,," and "n,a=user,," */
    rfc5802_final_variant("c=eSws," R "," P, CANTO_ERROR);
    rfc5802_final_variant("c=bixhPXVzZXIsLA==," R "," P, CANTO_ERROR);
    /* an extension the proof did not cover */
    rfc5802_final_variant("c=biws," R ",x=1," P, CANTO_ERROR);
    /* malformed */
    rfc5802_final_variant("", CANTO_INVALID);
    rfc5802_final_variant(",", CANTO_INVALID);
    rfc5802_final_variant("c=biws", CANTO_INVALID);
    rfc5802_final_variant("c=biws," R, CANTO_INVALID);
    rfc5802_final_variant("c=biws," R ",", CANTO_INVALID);
    rfc5802_final_variant(P ",c=biws," R, CANTO_INVALID);
    rfc5802_final_variant(R ",c=biws," P, CANTO_INVALID);
    rfc5802_final_variant("c=bi ws," R "," P, CANTO_INVALID);
    rfc5802_final_variant("c=biws," R ",p=", CANTO_INVALID);
    rfc5802_final_variant("c=biws," R ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4T", CANTO_INVALID);
    rfc5802_final_variant("c=biws," R ",p=dGVzdA==", CANTO_INVALID); /* wrong length */
    rfc5802_final_variant("c=biws," R ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=,x=1", CANTO_INVALID);
    rfc5802_final_variant("c=biws,r=," P, CANTO_INVALID);
    rfc5802_final_variant("c=biws," R ",1=2," P, CANTO_INVALID);
    rfc5802_final_variant("c=biws,,," P, CANTO_INVALID);
#undef R
#undef P
}

static void test_wrong_password(void)
{
    struct canto_scram_cred cred;
    make_cred(CANTO_HASH_SHA256, "correct horse", &cred);
    struct run r = {.hash = CANTO_HASH_SHA256, .gs2 = "n,,", .user = "alice",
                    .cnonce = "abcdefghijkl", .cred = &cred, .password = "correct horse"};
    run_exchange(&r);
    CHECK_INT(r.rc_final, CANTO_OK);
    CHECK(r.v_ok);
    r.password = "correct horsE";
    run_exchange(&r);
    CHECK_INT(r.rc_first, CANTO_OK);
    CHECK_INT(r.rc_server_first, CANTO_OK);
    CHECK_INT(r.rc_final, CANTO_ERROR);
    /* The right password over the wrong nonce: the proof covers whatever the
     * client sent, so only the nonce check stops a replayed final message. */
    r.password = "correct horse";
    r.final_nonce = "abcdefghijklREPLAYEDSERVERNONCE";
    run_exchange(&r);
    CHECK_INT(r.rc_final, CANTO_ERROR);
    r.final_nonce = "abcdefghijkl";
    run_exchange(&r);
    CHECK_INT(r.rc_final, CANTO_ERROR);
}

static void test_unknown_user(void)
{
    struct canto_buf out1, out2, out3;
    canto_buf_init(&out1);
    canto_buf_init(&out2);
    canto_buf_init(&out3);
    const char *msgs[3] = {"n,,n=ghost,r=nonce1", "n,,n=ghost,r=nonce1", "n,,n=ghost2,r=nonce1"};
    struct canto_buf *outs[3] = {&out1, &out2, &out3};
    for (int i = 0; i < 3; i++) {
        struct canto_scram_server *s =
            canto_scram_server_new(CANTO_HASH_SHA256, false, false, NULL, NULL);
        canto_scram_server_set_nonce_for_test(s, "SERVER");
        CHECK_INT(canto_scram_server_client_first(s, msgs[i], strlen(msgs[i]), NULL, NULL),
                  CANTO_OK);
        CHECK_INT(canto_scram_server_first(s, NULL, fake_secret, sizeof fake_secret - 1, outs[i]),
                  CANTO_OK);
        canto_scram_server_free(s);
    }
    /* salt = first 16 bytes of HMAC-SHA256(secret, username), default count */
    unsigned char mac[32];
    unsigned int len;
    HMAC(EVP_sha256(), fake_secret, (int)sizeof fake_secret - 1, (const unsigned char *)"ghost",
         5, mac, &len);
    struct canto_buf want;
    canto_buf_init(&want);
    canto_buf_append_str(&want, "r=nonce1SERVER,s=");
    canto_base64_encode(&want, mac, CANTO_SCRAM_SALT_LEN);
    canto_buf_appendf(&want, ",i=%d", CANTO_SCRAM_DEFAULT_ITERATIONS);
    CHECK_STR(out1.data, want.data);
    CHECK_STR(out1.data, out2.data); /* stable, like a real salt */
    CHECK(strcmp(out1.data, out3.data) != 0);
    canto_buf_free(&want);
    canto_buf_free(&out1);
    canto_buf_free(&out2);
    canto_buf_free(&out3);

    /* whatever the client sends, the final step fails */
    struct run r = {.hash = CANTO_HASH_SHA1, .gs2 = "n,,", .user = "ghost",
                    .cnonce = "0123456789", .cred = NULL, .password = ""};
    run_exchange(&r);
    CHECK_INT(r.rc_server_first, CANTO_OK);
    CHECK_INT(r.rc_final, CANTO_ERROR);
    r.password = "pencil";
    run_exchange(&r);
    CHECK_INT(r.rc_final, CANTO_ERROR);
}

static void test_round_trips(void)
{
    static const enum canto_hash hashes[] = {CANTO_HASH_SHA1, CANTO_HASH_SHA256,
                                             CANTO_HASH_SHA512};
    for (size_t i = 0; i < CANTO_ARRAY_LEN(hashes); i++) {
        struct canto_scram_cred cred;
        make_cred(hashes[i], "s3cr\xc3\xa9t p\xc3\xa0ss", &cred);
        CHECK_INT(cred.salt_len, CANTO_SCRAM_SALT_LEN);
        CHECK_INT(cred.hash, hashes[i]);
        struct run r = {.hash = hashes[i], .gs2 = "n,,", .user = "bob",
                        .cnonce = "x/y+z!~", .cred = &cred,
                        .password = "s3cr\xc3\xa9t p\xc3\xa0ss"};
        run_exchange(&r);
        CHECK_INT(r.rc_final, CANTO_OK);
        CHECK(r.v_ok);
        CHECK(strncmp(r.v, "v=", 2) == 0);
        /* each attempt has its own server nonce, so v= differs */
        char v1[256];
        snprintf(v1, sizeof v1, "%s", r.v);
        run_exchange(&r);
        CHECK_INT(r.rc_final, CANTO_OK);
        CHECK(strcmp(v1, r.v) != 0);
        /* the same password with another hash's credential is refused */
        struct canto_scram_cred other;
        make_cred(hashes[(i + 1) % 3], "s3cr\xc3\xa9t p\xc3\xa0ss", &other);
        r.cred = &other;
        run_exchange(&r);
        CHECK_INT(r.rc_server_first, CANTO_ERROR);
    }
}

static void test_gs2_and_binding(void)
{
    struct canto_scram_cred cred;
    make_cred(CANTO_HASH_SHA256, "pw", &cred);
    struct run r = {.hash = CANTO_HASH_SHA256, .user = "carol", .cnonce = "cn0nce",
                    .cred = &cred, .password = "pw"};

    /* 'y' when we offered -PLUS: downgrade */
    r.gs2 = "y,,";
    r.cb_offered = true;
    run_exchange(&r);
    CHECK_INT(r.rc_first, CANTO_ERROR);
    /* 'y' when we did not: fine */
    r.cb_offered = false;
    run_exchange(&r);
    CHECK_INT(r.rc_final, CANTO_OK);
    CHECK(r.v_ok);
    /* 'n' while we offered: the client cannot bind, fine */
    r.gs2 = "n,,";
    r.cb_offered = true;
    run_exchange(&r);
    CHECK_INT(r.rc_final, CANTO_OK);

    /* -PLUS with tls-exporter */
    r.plus = true;
    r.gs2 = "p=tls-exporter,,";
    r.client_cb = exporter_data;
    r.client_cb_len = sizeof exporter_data;
    run_exchange(&r);
    CHECK_INT(r.rc_final, CANTO_OK);
    CHECK(r.v_ok);
    /* with an authzid in the gs2 header, which c= covers too */
    r.gs2 = "p=tls-exporter,a=carol@example.com,";
    run_exchange(&r);
    CHECK_INT(r.rc_final, CANTO_OK);
    /* the client sees other binding data: a man in the middle */
    static const unsigned char other[32] = "0123456789abcdef0123456789abcdeF";
    r.gs2 = "p=tls-exporter,,";
    r.client_cb = other;
    run_exchange(&r);
    CHECK_INT(r.rc_final, CANTO_ERROR);
    /* the client omits the data from c= */
    r.client_cb = NULL;
    r.client_cb_len = 0;
    run_exchange(&r);
    CHECK_INT(r.rc_final, CANTO_ERROR);
    /* a type we cannot serve */
    r.gs2 = "p=tls-unique,,";
    run_exchange(&r);
    CHECK_INT(r.rc_first, CANTO_ERROR);
    /* -PLUS without binding */
    r.gs2 = "n,,";
    run_exchange(&r);
    CHECK_INT(r.rc_first, CANTO_ERROR);
    r.gs2 = "y,,";
    run_exchange(&r);
    CHECK_INT(r.rc_first, CANTO_ERROR);
    /* binding on a mechanism without -PLUS: malformed */
    r.plus = false;
    r.gs2 = "p=tls-exporter,,";
    r.client_cb = exporter_data;
    r.client_cb_len = sizeof exporter_data;
    run_exchange(&r);
    CHECK_INT(r.rc_first, CANTO_INVALID);

    /* -PLUS but no callback at all */
    struct canto_scram_server *s = canto_scram_server_new(CANTO_HASH_SHA256, true, true, NULL,
                                                          NULL);
    const char *m = "p=tls-exporter,,n=carol,r=abc";
    CHECK_INT(canto_scram_server_client_first(s, m, strlen(m), NULL, NULL), CANTO_ERROR);
    canto_scram_server_free(s);
    /* the callback gets the type the client named */
    int calls = 0;
    s = canto_scram_server_new(CANTO_HASH_SHA256, true, true, cb_data, &calls);
    CHECK_INT(canto_scram_server_client_first(s, m, strlen(m), NULL, NULL), CANTO_OK);
    CHECK_INT(calls, 1);
    canto_scram_server_free(s);
}

/* client-first messages that must be CANTO_INVALID */
static void check_first_invalid(const char *msg, size_t len)
{
    const char *user = "x", *authz = "x";
    struct canto_scram_server *s = canto_scram_server_new(CANTO_HASH_SHA256, false, false, NULL,
                                                          NULL);
    int rc = canto_scram_server_client_first(s, msg, len, &user, &authz);
    CHECK_INT(rc, CANTO_INVALID);
    if (rc != CANTO_INVALID)
        fprintf(stderr, "  client-first: \"%.*s\"\n", (int)len, msg);
    CHECK(user == NULL && authz == NULL);
    canto_scram_server_free(s);
}

static void first_ok(const char *msg, const char *want_user, const char *want_authz)
{
    const char *user = NULL, *authz = NULL;
    struct canto_scram_server *s = canto_scram_server_new(CANTO_HASH_SHA256, false, false, NULL,
                                                          NULL);
    CHECK_INT(canto_scram_server_client_first(s, msg, strlen(msg), &user, &authz), CANTO_OK);
    CHECK_STR(user, want_user);
    if (want_authz)
        CHECK_STR(authz, want_authz);
    else
        CHECK(authz == NULL);
    canto_scram_server_free(s);
}

static void test_client_first_parsing(void)
{
    first_ok("n,,n=user,r=abc", "user", NULL);
    first_ok("n,a=juliet@example.com,n=user,r=abc", "user", "juliet@example.com");
    first_ok("n,,n=a=2Cb=3Dc,r=abc", "a,b=c", NULL);
    first_ok("n,a=x=2Cy=3D,n=u,r=abc", "u", "x,y=");
    first_ok("n,,n=user,r=abc,x=ext,y=1", "user", NULL);
    first_ok("n,,n=I\xc2\xad" "X,r=abc", "IX", NULL);   /* SASLprep: soft hyphen dropped */
    first_ok("n,,n=\xe2\x85\xa8,r=abc", "IX", NULL);    /* U+2168 ROMAN NUMERAL NINE */
    first_ok("y,,n=user,r=abc", "user", NULL);

#define BAD(s) check_first_invalid(s, sizeof(s) - 1)
    BAD("");
    BAD("n");
    BAD("n,");
    BAD("n,,");
    BAD("n,,n=user");
    BAD("n,,n=user,");
    BAD("n,,r=abc,n=user");
    BAD("n,,r=abc");
    BAD("x,,n=user,r=abc");
    BAD("N,,n=user,r=abc");
    BAD("nn,,n=user,r=abc");
    BAD(",,n=user,r=abc");
    BAD("n,,n=,r=abc");
    BAD("n,,n=user=,r=abc");         /* '=' not followed by an escape */
    BAD("n,,n=us=41er,r=abc");       /* "=41" is not one of the two escapes */
    BAD("n,,n=us=2cer,r=abc");       /* escapes are upper case */
    BAD("n,,n=us=2,r=abc");
    BAD("n,,m=foo,n=user,r=abc");    /* mandatory extension */
    BAD("n,,n=user,r=abc,m=foo");
    BAD("n,,n=user,r=");
    BAD("n,,n=user,r=ab c");
    BAD("n,,n=user,r=ab\x7f");
    BAD("n,,n=user,r=abc,");
    BAD("n,,n=user,r=abc,x");
    BAD("n,,n=user,r=abc,x=");
    BAD("n,,n=user,r=abc,1=2");
    BAD("n,,n=user,x=1,r=abc");
    BAD("n,a=,n=user,r=abc");
    BAD("n,a=x=,n=user,r=abc");
    BAD("n,b=x,n=user,r=abc");
    BAD("n,a=x,y,n=user,r=abc");
    BAD("p=,,n=user,r=abc");
    BAD("p,,n=user,r=abc");
    BAD("p=tls exporter,,n=user,r=abc");
    BAD("p=tls_exporter,,n=user,r=abc");
    BAD("n,,n=us\0er,r=abc");
    BAD("n,,n=user,r=abc\0");
    BAD("n,,n=\xff\xfe,r=abc");       /* not UTF-8 */
    BAD("n,,n=\xc0\xaf,r=abc");       /* overlong */
    BAD("n,,n=user\x07,r=abc");       /* SASLprep: control character */
    BAD("n,,n=\xc2\xad,r=abc");       /* SASLprep: empty result */
    BAD("n,,n=\xd8\xa7" "1,r=abc");   /* SASLprep: bidi */
#undef BAD
    /* a cb-name of 65 characters, and an oversized message */
    char big[10000];
    memcpy(big, "p=", 2);
    memset(big + 2, 'a', 65);
    memcpy(big + 67, ",,n=u,r=abc", 11);
    check_first_invalid(big, 78);
    memcpy(big, "n,,n=u,r=", 9);
    memset(big + 9, 'x', sizeof big - 9);
    check_first_invalid(big, sizeof big);
}

/* Deterministic random bytes for the garbage tests (xorshift). */
static uint32_t rng_state = 2463534242u;
static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

/* Random bytes, and random mixes of the interesting characters, must never
 * crash or be accepted as a final message. */
static void test_garbage(void)
{
    static const char alphabet[] = "nyp=,ar0123456789+/cmxAZ\x80\xc3\xa9\0";
    char msg[200];
    int accepted_final = 0;
    for (int iter = 0; iter < 20000; iter++) {
        size_t len = rng() % sizeof msg;
        bool any = iter % 2;
        for (size_t i = 0; i < len; i++)
            msg[i] = any ? (char)rng() : alphabet[rng() % (sizeof alphabet - 1)];
        const char *user = NULL, *authz = NULL;
        struct canto_scram_server *s =
            canto_scram_server_new(CANTO_HASH_SHA1, iter % 3 == 0, iter % 5 == 0, cb_data, NULL);
        int rc = canto_scram_server_client_first(s, msg, len, &user, &authz);
        CHECK(rc == CANTO_OK || rc == CANTO_INVALID || rc == CANTO_ERROR);
        canto_scram_server_free(s);

        s = canto_scram_server_new(CANTO_HASH_SHA1, false, false, NULL, NULL);
        const char *first = "n,,n=user,r=abc";
        struct canto_buf out;
        canto_buf_init(&out);
        canto_scram_server_client_first(s, first, strlen(first), NULL, NULL);
        canto_scram_server_first(s, NULL, NULL, 0, &out);
        canto_buf_reset(&out);
        if (canto_scram_server_final(s, msg, len, &out) == CANTO_OK)
            accepted_final++;
        canto_buf_free(&out);
        canto_scram_server_free(s);
    }
    CHECK_INT(accepted_final, 0);
}

static void test_order(void)
{
    struct canto_buf out;
    canto_buf_init(&out);
    struct canto_scram_cred cred;
    make_cred(CANTO_HASH_SHA1, "pw", &cred);
    const char *first = "n,,n=user,r=abc";

    struct canto_scram_server *s = canto_scram_server_new(CANTO_HASH_SHA1, false, false, NULL,
                                                          NULL);
    CHECK_INT(canto_scram_server_first(s, &cred, NULL, 0, &out), CANTO_ERROR);
    CHECK_INT(canto_scram_server_client_first(s, first, strlen(first), NULL, NULL), CANTO_ERROR);
    canto_scram_server_free(s);

    s = canto_scram_server_new(CANTO_HASH_SHA1, false, false, NULL, NULL);
    CHECK_INT(canto_scram_server_final(s, "c=biws,r=abc,p=AAAA", 19, &out), CANTO_ERROR);
    canto_scram_server_free(s);

    s = canto_scram_server_new(CANTO_HASH_SHA1, false, false, NULL, NULL);
    CHECK_INT(canto_scram_server_client_first(s, first, strlen(first), NULL, NULL), CANTO_OK);
    CHECK_INT(canto_scram_server_client_first(s, first, strlen(first), NULL, NULL), CANTO_ERROR);
    CHECK_INT(canto_scram_server_first(s, &cred, NULL, 0, &out), CANTO_ERROR);
    canto_scram_server_free(s);

    /* an unknown hash fails cleanly */
    s = canto_scram_server_new((enum canto_hash)7, false, false, NULL, NULL);
    CHECK_INT(canto_scram_server_client_first(s, first, strlen(first), NULL, NULL), CANTO_ERROR);
    canto_scram_server_free(s);
    canto_scram_server_free(NULL);
    CHECK_INT(out.len, 0);
    canto_buf_free(&out);
}

static void test_mech_and_hash(void)
{
    enum canto_hash h = CANTO_HASH_SHA1;
    bool plus = true;
    CHECK_INT(canto_scram_mech_parse("SCRAM-SHA-1", &h, &plus), CANTO_OK);
    CHECK(h == CANTO_HASH_SHA1 && !plus);
    CHECK_INT(canto_scram_mech_parse("SCRAM-SHA-256-PLUS", &h, &plus), CANTO_OK);
    CHECK(h == CANTO_HASH_SHA256 && plus);
    CHECK_INT(canto_scram_mech_parse("SCRAM-SHA-512", &h, &plus), CANTO_OK);
    CHECK(h == CANTO_HASH_SHA512 && !plus);
    CHECK_INT(canto_scram_mech_parse("SCRAM-SHA-512-PLUS", &h, &plus), CANTO_OK);
    CHECK(h == CANTO_HASH_SHA512 && plus);
    CHECK_INT(canto_scram_mech_parse("SCRAM-SHA-1-PLUS", &h, &plus), CANTO_OK);
    CHECK(h == CANTO_HASH_SHA1 && plus);
    CHECK_INT(canto_scram_mech_parse("SCRAM-SHA-256", &h, &plus), CANTO_OK);
    CHECK_INT(canto_scram_mech_parse("PLAIN", &h, &plus), CANTO_INVALID);
    CHECK_INT(canto_scram_mech_parse("scram-sha-1", &h, &plus), CANTO_INVALID);
    CHECK_INT(canto_scram_mech_parse("SCRAM-SHA-384", &h, &plus), CANTO_INVALID);
    CHECK_INT(canto_scram_mech_parse("SCRAM-SHA-1-PLUS ", &h, &plus), CANTO_INVALID);
    CHECK_INT(canto_scram_mech_parse("", &h, &plus), CANTO_INVALID);
    CHECK_INT(canto_scram_mech_parse(NULL, &h, &plus), CANTO_INVALID);
    CHECK_STR(canto_hash_name(CANTO_HASH_SHA1), "SHA-1");
    CHECK_STR(canto_hash_name(CANTO_HASH_SHA256), "SHA-256");
    CHECK_STR(canto_hash_name(CANTO_HASH_SHA512), "SHA-512");
    CHECK_INT(canto_hash_len(CANTO_HASH_SHA1), 20);
    CHECK_INT(canto_hash_len(CANTO_HASH_SHA256), 32);
    CHECK_INT(canto_hash_len(CANTO_HASH_SHA512), 64);
}

/* RFC 4013 section 3 examples, plus what the credential helpers do with
 * passwords SASLprep changes or refuses. */
static void test_saslprep_and_creds(void)
{
    char *p;
    CHECK_STR(p = canto_saslprep("I\xc2\xad" "X"), "IX");
    free(p);
    CHECK_STR(p = canto_saslprep("user"), "user");
    free(p);
    CHECK_STR(p = canto_saslprep("USER"), "USER");
    free(p);
    CHECK_STR(p = canto_saslprep("\xc2\xaa"), "a");
    free(p);
    CHECK_STR(p = canto_saslprep("\xe2\x85\xa8"), "IX");
    free(p);
    CHECK_STR(p = canto_saslprep("a\xc2\xa0" "b"), "a b"); /* NBSP maps to space */
    free(p);
    CHECK(canto_saslprep("\x07") == NULL);
    CHECK(canto_saslprep("\xd8\xa7" "1") == NULL);
    CHECK(canto_saslprep("\xff") == NULL);
    CHECK(canto_saslprep(NULL) == NULL);

    struct canto_scram_cred cred;
    make_cred(CANTO_HASH_SHA512, "I\xc2\xad" "X", &cred);
    CHECK_INT(cred.iterations, 4096);
    CHECK(canto_scram_cred_check_password(&cred, "IX"));
    CHECK(canto_scram_cred_check_password(&cred, "\xe2\x85\xa8"));
    CHECK(!canto_scram_cred_check_password(&cred, "ix"));
    CHECK(!canto_scram_cred_check_password(&cred, "\x07"));
    CHECK(!canto_scram_cred_check_password(&cred, NULL));
    CHECK(!canto_scram_cred_check_password(NULL, "IX"));

    /* fresh salts */
    struct canto_scram_cred a, b;
    make_cred(CANTO_HASH_SHA1, "same", &a);
    make_cred(CANTO_HASH_SHA1, "same", &b);
    CHECK(memcmp(a.salt, b.salt, CANTO_SCRAM_SALT_LEN) != 0);
    CHECK(memcmp(a.stored_key, b.stored_key, 20) != 0);

    CHECK_INT(canto_scram_cred_make(CANTO_HASH_SHA256, "bad\x07", 4096, &a), CANTO_INVALID);
    CHECK_INT(canto_scram_cred_make(CANTO_HASH_SHA256, "pw", 0, &a), CANTO_INVALID);
    CHECK_INT(canto_scram_cred_make((enum canto_hash)9, "pw", 4096, &a), CANTO_INVALID);
    unsigned char salt[33] = {0};
    CHECK_INT(canto_scram_cred_derive(CANTO_HASH_SHA1, "pw", salt, 33, 1, &a), CANTO_INVALID);
    CHECK_INT(canto_scram_cred_derive(CANTO_HASH_SHA1, "pw", salt, 0, 1, &a), CANTO_INVALID);
    CHECK_INT(canto_scram_cred_derive(CANTO_HASH_SHA1, "pw", salt, 32, 1, &a), CANTO_OK);
}

int main(void)
{
    test_mech_and_hash();
    test_rfc5802();
    test_rfc7677();
    test_tampering();
    test_wrong_password();
    test_unknown_user();
    test_round_trips();
    test_gs2_and_binding();
    test_client_first_parsing();
    test_garbage();
    test_order();
    test_saslprep_and_creds();
    return CHECK_DONE();
}
