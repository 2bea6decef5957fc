/*
 * fuzz_scram.c: libFuzzer harness for the server side of SCRAM
 * (canto_scram_server_*) and for canto_saslprep, which see the base64-decoded
 * SASL payloads of every client before it has authenticated.
 *
 * Input layout: one flags byte, then the client-first-message, a 0xFF byte
 * (never part of valid UTF-8, so never of a valid message), then the
 * client-final-message. Without a 0xFF the whole rest is the client-first.
 * Flags:
 *   bits 0-1  hash: 0 SHA-1, 1 SHA-256, 2 SHA-512, 3 SHA-256
 *   bit 2     the client chose the -PLUS mechanism
 *   bit 3     the server offered -PLUS (cb_offered)
 *   bit 4     unknown account (no credential: the fake-salt path)
 *   bit 5     tls-exporter cannot be served (as on TLS 1.2 without EMS)
 *   bit 6     call the final step before server-first (out of order)
 *
 * Each hash has a fixed credential (password "pencil") and a fixed server
 * nonce part, those of the RFC 5802 (SHA-1) and RFC 7677 (SHA-256) examples,
 * so complete, valid exchanges can be seeds (fuzz/corpus/fuzz_scram/) and
 * the fuzzer reaches the success path. The channel-binding callback returns
 * fixed bytes per type: 32 for tls-exporter and tls-server-end-point, the
 * full 64-byte buffer for tls-unique, none for anything else.
 *
 * Beyond "no crash, leak or out-of-bounds access", every outcome is checked
 * against the RFC 5802 rules with an independent computation, and any
 * violation aborts: a parsed client-first obeys the channel-binding policy
 * (-PLUS needs 'p', 'y' is refused when -PLUS was offered); server-first
 * extends the client's nonce with ours and names the credential's salt and
 * count; a success only ever happens for a known account, with c= equal to
 * the gs2 header plus the right binding data, the combined nonce, a proof
 * that verifies against StoredKey, and a v= that is HMAC(ServerKey,
 * AuthMessage). A finished or out-of-order exchange refuses further steps.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "canto/base64.h"
#include "canto/buf.h"
#include "canto/scram.h"
#include "canto/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SEPARATOR 0xFF
#define ITERATIONS 4096

static const char password[] = "pencil";
static const unsigned char fake_secret[] = "fuzz_scram fake-salt secret";

/* Per hash: salt (base64) and server nonce part, from the RFC examples. */
static const struct {
    const char *salt_b64;
    const char *server_nonce;
} fixed[CANTO_HASH_COUNT] = {
    [CANTO_HASH_SHA1] = {"QSXCR+Q6sek8bf92", "3rfcNHYJY1ZVvWVs7j"},
    [CANTO_HASH_SHA256] = {"W22ZaJ0SNY7soEsUEjb6gQ==", "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"},
    [CANTO_HASH_SHA512] = {"c2FsdHktc2FsdC01MTI=", "Q7vZ/x+9Ltc3kEqpwq2s"},
};

static struct canto_scram_cred creds[CANTO_HASH_COUNT];

static void init_creds(void)
{
    static bool done;
    if (done)
        return;
    for (int h = 0; h < CANTO_HASH_COUNT; h++) {
        struct canto_buf salt = {0};
        if (canto_base64_decode(&salt, fixed[h].salt_b64, strlen(fixed[h].salt_b64)) != CANTO_OK ||
            canto_scram_cred_derive((enum canto_hash)h, password, (unsigned char *)salt.data,
                                    salt.len, ITERATIONS, &creds[h]) != CANTO_OK)
            abort();
        canto_buf_free(&salt);
    }
    done = true;
}

/* The binding data the "TLS layer" has for each type. */
struct cb_state {
    bool exporter_unavailable;
    int calls;
};

static size_t fixed_cb(const char *type, unsigned char *out, size_t out_size, bool exporter_ok)
{
    if (strcmp(type, "tls-exporter") == 0 && exporter_ok) {
        memset(out, 0xE7, 32);
        return 32;
    }
    if (strcmp(type, "tls-server-end-point") == 0) {
        memset(out, 0x5E, 32);
        return 32;
    }
    if (strcmp(type, "tls-unique") == 0) {
        memset(out, 0x11, out_size);
        return out_size;
    }
    return 0;
}

static int cb_data(void *ud, const char *type, unsigned char *out, size_t out_size)
{
    struct cb_state *st = ud;
    st->calls++;
    if (!type || strlen(type) > 64 || out_size < 32)
        abort();
    size_t n = fixed_cb(type, out, out_size, !st->exporter_unavailable);
    return n ? (int)n : -1;
}

static const EVP_MD *md_of(enum canto_hash h)
{
    return h == CANTO_HASH_SHA1 ? EVP_sha1() : h == CANTO_HASH_SHA256 ? EVP_sha256() : EVP_sha512();
}

/* Value of the attribute starting at *p up to ',' or end; advances *p. */
static bool take_attr(const char **p, const char *end, char name, const char **v, size_t *vlen)
{
    if (end - *p < 2 || (*p)[0] != name || (*p)[1] != '=')
        return false;
    const char *comma = memchr(*p, ',', (size_t)(end - *p));
    const char *stop = comma ? comma : end;
    *v = *p + 2;
    *vlen = (size_t)(stop - *v);
    *p = comma ? comma + 1 : end;
    return true;
}

/* Length of the gs2 header (flag ',' [authzid] ',') of a parsed
 * client-first-message. */
static size_t gs2_length(const char *first, size_t first_len)
{
    const char *c1 = memchr(first, ',', first_len);
    const char *c2 = c1 ? memchr(c1 + 1, ',', first_len - (size_t)(c1 + 1 - first)) : NULL;
    if (!c2)
        abort();
    return (size_t)(c2 + 1 - first);
}

/* Independent check of a successful exchange (RFC 5802 section 3). */
static void check_success(enum canto_hash h, bool plus, const struct cb_state *cbs,
                          const char *first, size_t first_len, const struct canto_buf *server_first,
                          const char *final, size_t final_len, const struct canto_buf *server_final)
{
    const struct canto_scram_cred *cred = &creds[h];
    size_t hlen = canto_hash_len(h);
    struct canto_buf cbind = {0}, expect = {0}, proof = {0}, v = {0}, auth = {0};
    unsigned char sig[EVP_MAX_MD_SIZE], key[EVP_MAX_MD_SIZE], hkey[EVP_MAX_MD_SIZE];
    unsigned char ssig[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    size_t gs2_len = gs2_length(first, first_len);
    const char *c1 = memchr(first, ',', first_len);
    if (plus != (first[0] == 'p'))
        abort();

    /* c= is the gs2 header and, for 'p', the binding data of the named type */
    const char *p = final, *end = final + final_len, *val;
    size_t vlen;
    if (!take_attr(&p, end, 'c', &val, &vlen) || canto_base64_decode(&cbind, val, vlen) != CANTO_OK)
        abort();
    canto_buf_append(&expect, first, gs2_len);
    if (first[0] == 'p') {
        char type[65];
        size_t tlen = (size_t)(c1 - first) - 2; /* "p=" .. first ',' */
        if (tlen == 0 || tlen >= sizeof type)
            abort();
        memcpy(type, first + 2, tlen);
        type[tlen] = '\0';
        unsigned char bytes[64];
        size_t blen = fixed_cb(type, bytes, sizeof bytes, !cbs->exporter_unavailable);
        if (blen == 0)
            abort(); /* succeeded with a binding the TLS layer cannot give */
        canto_buf_append(&expect, bytes, blen);
    }
    if (cbind.len != expect.len || memcmp(cbind.data, expect.data, expect.len) != 0)
        abort();

    /* r= is the nonce of server-first */
    const char *sr = server_first->data + 2;
    const char *sr_end = strchr(sr, ',');
    if (!take_attr(&p, end, 'r', &val, &vlen) || !sr_end || vlen != (size_t)(sr_end - sr) ||
        memcmp(val, sr, vlen) != 0)
        abort();

    /* the proof, over AuthMessage = bare "," server-first "," without-proof */
    const char *last = NULL;
    for (const char *q = end; q > final; q--) {
        if (q[-1] == ',') {
            last = q - 1;
            break;
        }
    }
    if (!last || end - last < 3 || last[1] != 'p' || last[2] != '=' ||
        canto_base64_decode(&proof, last + 3, (size_t)(end - last - 3)) != CANTO_OK ||
        proof.len != hlen)
        abort();
    canto_buf_append(&auth, first + gs2_len, first_len - gs2_len);
    canto_buf_append_char(&auth, ',');
    canto_buf_append(&auth, server_first->data, server_first->len);
    canto_buf_append_char(&auth, ',');
    canto_buf_append(&auth, final, (size_t)(last - final));
    if (!HMAC(md_of(h), cred->stored_key, (int)hlen, (unsigned char *)auth.data, auth.len, sig, &n))
        abort();
    for (size_t i = 0; i < hlen; i++)
        key[i] = (unsigned char)proof.data[i] ^ sig[i];
    if (EVP_Digest(key, hlen, hkey, &n, md_of(h), NULL) != 1 ||
        memcmp(hkey, cred->stored_key, hlen) != 0)
        abort(); /* accepted a proof that does not verify */

    /* v= HMAC(ServerKey, AuthMessage) */
    if (server_final->len < 2 || memcmp(server_final->data, "v=", 2) != 0 ||
        canto_base64_decode(&v, server_final->data + 2, server_final->len - 2) != CANTO_OK ||
        v.len != hlen ||
        !HMAC(md_of(h), cred->server_key, (int)hlen, (unsigned char *)auth.data, auth.len, ssig,
              &n) ||
        memcmp(v.data, ssig, hlen) != 0)
        abort();

    canto_buf_free(&cbind);
    canto_buf_free(&expect);
    canto_buf_free(&proof);
    canto_buf_free(&v);
    canto_buf_free(&auth);
}

/* server-first-message: r=<client nonce><our part>,s=<salt>,i=<count> */
static void check_server_first(enum canto_hash h, bool known, const char *first, size_t first_len,
                               const struct canto_buf *out)
{
    /* The client's nonce: the first ",r=" of the bare message (a username
     * holds no raw ','), up to the next ',' or the end. */
    size_t gs2_len = gs2_length(first, first_len);
    const char *bare = first + gs2_len, *end = first + first_len;
    const char *r = memmem(bare, (size_t)(end - bare), ",r=", 3);
    if (!r || !out->data || out->len < 2 || memcmp(out->data, "r=", 2) != 0)
        abort();
    const char *cn = r + 3;
    const char *cn_end = memchr(cn, ',', (size_t)(end - cn));
    size_t cn_len = (size_t)((cn_end ? cn_end : end) - cn);
    size_t sn_len = strlen(fixed[h].server_nonce);
    if (out->len < 2 + cn_len + sn_len + 3 || memcmp(out->data + 2, cn, cn_len) != 0 ||
        memcmp(out->data + 2 + cn_len, fixed[h].server_nonce, sn_len) != 0)
        abort();
    const char *s = out->data + 2 + cn_len + sn_len;
    if (strncmp(s, ",s=", 3) != 0)
        abort();
    if (known) {
        char tail[64];
        size_t tlen = strlen(fixed[h].salt_b64);
        if (strncmp(s + 3, fixed[h].salt_b64, tlen) != 0)
            abort();
        int k = snprintf(tail, sizeof tail, ",i=%d", ITERATIONS);
        if (strcmp(s + 3 + tlen, tail) != 0 || k <= 0)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    init_creds();
    uint8_t flags = data[0];
    enum canto_hash h = (flags & 3) == 0   ? CANTO_HASH_SHA1
                        : (flags & 3) == 2 ? CANTO_HASH_SHA512
                                           : CANTO_HASH_SHA256;
    bool plus = flags & 4, cb_offered = flags & 8, unknown = flags & 16;
    bool out_of_order = flags & 64;
    struct cb_state cbs = {.exporter_unavailable = (flags & 32) != 0};

    const uint8_t *rest = data + 1;
    size_t rest_len = size - 1;
    const uint8_t *sep = memchr(rest, SEPARATOR, rest_len);
    size_t first_len = sep ? (size_t)(sep - rest) : rest_len;
    const uint8_t *fin = sep ? sep + 1 : NULL;
    size_t fin_len = sep ? rest_len - first_len - 1 : 0;

    /* Exact-size copies, not NUL-terminated: any over-read is caught. */
    char *first = malloc(first_len ? first_len : 1);
    char *final = malloc(fin_len ? fin_len : 1);
    memcpy(first, rest, first_len);
    if (fin_len)
        memcpy(final, fin, fin_len);

    /* SASLprep sees every username and password. */
    char *z = malloc(rest_len + 1);
    memcpy(z, rest, rest_len);
    z[rest_len] = '\0';
    char *prepped = canto_saslprep(z);
    if (prepped && !canto_utf8_valid(prepped, strlen(prepped)))
        abort();
    free(prepped);
    enum canto_hash mh;
    bool mplus;
    if (canto_scram_mech_parse(z, &mh, &mplus) == CANTO_OK && canto_hash_len(mh) == 0)
        abort();
    free(z);

    struct canto_scram_server *s = canto_scram_server_new(h, plus, cb_offered, cb_data, &cbs);
    canto_scram_server_set_nonce_for_test(s, fixed[h].server_nonce);
    struct canto_buf out1 = {0}, out2 = {0};
    const char *user = NULL, *authz = NULL;

    int rc = canto_scram_server_client_first(s, first, first_len, &user, &authz);
    if (rc != CANTO_OK && rc != CANTO_INVALID && rc != CANTO_ERROR)
        abort();
    if (rc != CANTO_OK) {
        if (user || authz)
            abort();
        /* a failed exchange refuses everything after */
        if (canto_scram_server_first(s, &creds[h], fake_secret, sizeof fake_secret, &out1) !=
                CANTO_ERROR ||
            out1.len != 0)
            abort();
        goto done;
    }
    /* Parsed: a username, and the RFC 5802 section 6 policy held. */
    if (!user || !*user || !canto_utf8_valid(user, strlen(user)))
        abort();
    if (authz && (!*authz || !canto_utf8_valid(authz, strlen(authz))))
        abort();
    if (first_len == 0 || (plus && first[0] != 'p') || (!plus && first[0] == 'p') ||
        (cb_offered && first[0] == 'y'))
        abort();
    if (first[0] == 'p' && cbs.calls != 1)
        abort();

    if (out_of_order) {
        if (canto_scram_server_final(s, final, fin_len, &out2) != CANTO_ERROR || out2.len != 0)
            abort();
        goto done;
    }

    rc = canto_scram_server_first(s, unknown ? NULL : &creds[h], fake_secret, sizeof fake_secret,
                                  &out1);
    if (rc != CANTO_OK)
        abort(); /* nothing a client sent can make this fail */
    check_server_first(h, !unknown, first, first_len, &out1);

    if (!fin)
        goto done;
    rc = canto_scram_server_final(s, final, fin_len, &out2);
    if (rc == CANTO_OK) {
        if (unknown)
            abort(); /* an account that does not exist logged in */
        check_success(h, plus, &cbs, first, first_len, &out1, final, fin_len, &out2);
    } else if ((rc != CANTO_ERROR && rc != CANTO_INVALID) || out2.len != 0) {
        abort();
    }
    /* Done either way: a replayed final is refused. */
    canto_buf_reset(&out2);
    if (canto_scram_server_final(s, final, fin_len, &out2) != CANTO_ERROR || out2.len != 0)
        abort();

done:
    canto_scram_server_free(s);
    canto_buf_free(&out1);
    canto_buf_free(&out2);
    free(first);
    free(final);
    return 0;
}
