/*
 * scram.c: the server side of SCRAM (RFC 5802) with SHA-1, SHA-256 (RFC 7677)
 * and SHA-512, with and without channel binding, plus the credentials that
 * accounts store and the PLAIN password check built on them.
 *
 * An account stores, per hash, a salt, an iteration count, StoredKey =
 * H(HMAC(SaltedPassword, "Client Key")) and ServerKey = HMAC(SaltedPassword,
 * "Server Key"); never the password. With these the server can check a
 * client's proof and prove itself in return, but cannot log in as the user.
 *
 * One exchange is three calls in a fixed order: client_first (parse the gs2
 * header and the client's nonce, apply the channel-binding rules), server_first
 * (build the challenge from the account's credential, or from a fake salt for
 * an unknown account), final (check the channel binding echoed in c=, the
 * nonce and the proof; on success produce v=). Any failure, or a call out of
 * order, ends the exchange: later calls return CANTO_ERROR. All of it is pure
 * computation; the stream layer does the I/O and the base64 of the SASL
 * elements around these messages.
 *
 * Unknown accounts: the server answers with a salt derived from a server
 * secret and the username (stable across attempts, like a real salt) and the
 * default iteration count, and the final step does the same HMACs and digest
 * against random keys before failing, so the exchange looks and costs the
 * same as a wrong password.
 *
 * Secrets (keys, signatures, the AuthMessage) are wiped before their memory
 * is released.
 */
#include "canto/scram.h"
#include "canto/utf8.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stringprep.h>

#include "canto/base64.h"

/* Upper bound on one SCRAM message. Real ones are a few hundred bytes; this
 * only stops a peer from making us copy and hash megabytes. */
#define SCRAM_MSG_MAX 8192
/* Random bytes in the server's part of the nonce (32 base64 characters). */
#define SERVER_NONCE_BYTES 24
/* Longest channel-binding type name and binding data we accept. */
#define CB_NAME_MAX 64
#define CB_DATA_MAX 64

enum scram_state {
    ST_CLIENT_FIRST, /* waiting for client-first-message */
    ST_SERVER_FIRST, /* client-first parsed; server-first to build */
    ST_CLIENT_FINAL, /* challenge sent; waiting for client-final-message */
    ST_DONE,         /* succeeded or failed: nothing more to do */
};

struct canto_scram_server {
    enum canto_hash hash;
    enum scram_state state;
    bool plus;                   /* the client chose the -PLUS mechanism */
    bool cb_offered;             /* we advertised -PLUS on this stream */
    bool unknown_user;           /* no credential: the final step must fail */
    int (*cb_data_fn)(void *ud, const char *type, unsigned char *out, size_t out_size);
    void *cb_ud;                 /* passed to cb_data_fn */
    char *gs2_header;            /* the gs2 header as sent, with its final ',' */
    unsigned char cb_data[CB_DATA_MAX]; /* binding data for a 'p' client */
    size_t cb_len;               /* bytes in cb_data; 0 unless 'p' */
    char *username;              /* SASLprep'd authentication identity */
    char *authzid;               /* decoded a= value, or NULL */
    char *client_first_bare;     /* client-first-message minus the gs2 header */
    char *client_nonce;          /* the client's r= value */
    char *nonce;                 /* client nonce + server nonce */
    char *server_first;          /* the server-first-message we sent */
    char *test_nonce;            /* fixed server nonce part (tests only) */
    unsigned char stored_key[CANTO_HASH_MAX_LEN]; /* from the credential */
    unsigned char server_key[CANTO_HASH_MAX_LEN]; /* from the credential */
};

const char *canto_hash_name(enum canto_hash h)
{
    switch (h) {
    case CANTO_HASH_SHA1: return "SHA-1";
    case CANTO_HASH_SHA256: return "SHA-256";
    case CANTO_HASH_SHA512: return "SHA-512";
    }
    return "unknown";
}

size_t canto_hash_len(enum canto_hash h)
{
    switch (h) {
    case CANTO_HASH_SHA1: return 20;
    case CANTO_HASH_SHA256: return 32;
    case CANTO_HASH_SHA512: return 64;
    }
    return 0;
}

static const EVP_MD *hash_md(enum canto_hash h)
{
    switch (h) {
    case CANTO_HASH_SHA1: return EVP_sha1();
    case CANTO_HASH_SHA256: return EVP_sha256();
    case CANTO_HASH_SHA512: return EVP_sha512();
    }
    return NULL;
}

/* HMAC with hash h; out receives canto_hash_len(h) bytes. The key pointer is
 * never NULL here (OpenSSL's handling of a NULL key has varied). */
static bool hmac(enum canto_hash h, const void *key, size_t key_len, const void *data,
                 size_t data_len, unsigned char *out)
{
    static const unsigned char empty_key[1];
    unsigned int out_len = 0;
    if (key_len > INT_MAX)
        return false;
    if (!HMAC(hash_md(h), key_len ? key : empty_key, (int)key_len, data, data_len, out, &out_len))
        return false;
    return out_len == canto_hash_len(h);
}

static bool digest(enum canto_hash h, const void *data, size_t len, unsigned char *out)
{
    unsigned int out_len = 0;
    if (!EVP_Digest(data, len, out, &out_len, hash_md(h), NULL))
        return false;
    return out_len == canto_hash_len(h);
}


char *canto_saslprep(const char *s)
{
    char *out = NULL;
    if (!s || !canto_utf8_valid(s, strlen(s)))
        return NULL;
    /* Flags 0: unassigned code points (Unicode 3.2 tables) are allowed, so a
     * password with a newer character still works; see docs/internals/auth.md. */
    if (stringprep_profile(s, &out, "SASLprep", 0) != STRINGPREP_OK) {
        free(out);
        return NULL;
    }
    return out;
}

/* SaltedPassword = Hi(password, salt, i), then the two stored keys. The
 * intermediate secrets are wiped whatever happens. */
int canto_scram_cred_derive(enum canto_hash h, const char *password, const unsigned char *salt,
                            size_t salt_len, uint32_t iterations, struct canto_scram_cred *out)
{
    unsigned char salted[CANTO_HASH_MAX_LEN], client_key[CANTO_HASH_MAX_LEN];
    size_t hlen = canto_hash_len(h);
    int rc = CANTO_ERROR;

    if (hlen == 0 || !password || !salt || salt_len == 0 || salt_len > sizeof out->salt ||
        iterations == 0 || iterations > INT_MAX)
        return CANTO_INVALID;
    char *prepped = canto_saslprep(password);
    if (!prepped)
        return CANTO_INVALID;
    size_t plen = strlen(prepped);
    if (plen > INT_MAX)
        goto done;

    memset(out, 0, sizeof *out);
    if (PKCS5_PBKDF2_HMAC(prepped, (int)plen, salt, (int)salt_len, (int)iterations,
                          hash_md(h), (int)hlen, salted) != 1)
        goto done;
    if (!hmac(h, salted, hlen, "Client Key", 10, client_key) ||
        !digest(h, client_key, hlen, out->stored_key) ||
        !hmac(h, salted, hlen, "Server Key", 10, out->server_key))
        goto done;
    out->hash = h;
    out->iterations = iterations;
    memcpy(out->salt, salt, salt_len);
    out->salt_len = salt_len;
    rc = CANTO_OK;
done:
    if (rc != CANTO_OK)
        canto_wipe(out, sizeof *out);
    canto_wipe(salted, sizeof salted);
    canto_wipe(client_key, sizeof client_key);
    canto_free_secret(prepped);
    return rc;
}

int canto_scram_cred_make(enum canto_hash h, const char *password, uint32_t iterations,
                          struct canto_scram_cred *out)
{
    unsigned char salt[CANTO_SCRAM_SALT_LEN];
    if (RAND_bytes(salt, sizeof salt) != 1)
        return CANTO_ERROR;
    return canto_scram_cred_derive(h, password, salt, sizeof salt, iterations, out);
}

int canto_scram_creds_make_all(const char *password, struct canto_scram_cred creds[])
{
    static const enum canto_hash hashes[CANTO_HASH_COUNT] = {CANTO_HASH_SHA1, CANTO_HASH_SHA256,
                                                             CANTO_HASH_SHA512};
    for (size_t i = 0; i < CANTO_HASH_COUNT; i++) {
        int rc = canto_scram_cred_make(hashes[i], password, CANTO_SCRAM_DEFAULT_ITERATIONS,
                                       &creds[i]);
        if (rc != CANTO_OK)
            return rc;
    }
    return CANTO_OK;
}

/* Derive again with the stored salt and count and compare both keys in
 * constant time. A password SASLprep refuses is simply wrong. */
bool canto_scram_cred_check_password(const struct canto_scram_cred *cred, const char *password)
{
    struct canto_scram_cred tmp;
    bool ok = false;
    if (!cred || !password)
        return false;
    size_t hlen = canto_hash_len(cred->hash);
    if (hlen == 0)
        return false;
    if (canto_scram_cred_derive(cred->hash, password, cred->salt, cred->salt_len,
                                cred->iterations, &tmp) == CANTO_OK) {
        bool a = canto_ct_equal(tmp.stored_key, cred->stored_key, hlen);
        bool b = canto_ct_equal(tmp.server_key, cred->server_key, hlen);
        ok = a && b;
    }
    canto_wipe(&tmp, sizeof tmp);
    return ok;
}

int canto_scram_mech_parse(const char *mech, enum canto_hash *hash, bool *plus)
{
    static const struct {
        const char *name;
        enum canto_hash hash;
        bool plus;
    } mechs[] = {
        {"SCRAM-SHA-1", CANTO_HASH_SHA1, false},
        {"SCRAM-SHA-1-PLUS", CANTO_HASH_SHA1, true},
        {"SCRAM-SHA-256", CANTO_HASH_SHA256, false},
        {"SCRAM-SHA-256-PLUS", CANTO_HASH_SHA256, true},
        {"SCRAM-SHA-512", CANTO_HASH_SHA512, false},
        {"SCRAM-SHA-512-PLUS", CANTO_HASH_SHA512, true},
    };
    if (!mech)
        return CANTO_INVALID;
    for (size_t i = 0; i < CANTO_ARRAY_LEN(mechs); i++) {
        if (strcmp(mech, mechs[i].name) == 0) {
            if (hash)
                *hash = mechs[i].hash;
            if (plus)
                *plus = mechs[i].plus;
            return CANTO_OK;
        }
    }
    return CANTO_INVALID;
}

struct canto_scram_server *canto_scram_server_new(
    enum canto_hash hash, bool plus, bool cb_offered,
    int (*cb_data_fn)(void *ud, const char *type, unsigned char *out, size_t out_size),
    void *cb_ud)
{
    struct canto_scram_server *s = canto_xcalloc(1, sizeof *s);
    s->hash = hash;
    s->state = canto_hash_len(hash) ? ST_CLIENT_FIRST : ST_DONE;
    s->plus = plus;
    s->cb_offered = cb_offered;
    s->cb_data_fn = cb_data_fn;
    s->cb_ud = cb_ud;
    return s;
}

void canto_scram_server_free(struct canto_scram_server *s)
{
    if (!s)
        return;
    canto_free_secret(s->gs2_header);
    canto_free_secret(s->username);
    canto_free_secret(s->authzid);
    canto_free_secret(s->client_first_bare);
    canto_free_secret(s->client_nonce);
    canto_free_secret(s->nonce);
    canto_free_secret(s->server_first);
    canto_free_secret(s->test_nonce);
    canto_wipe(s, sizeof *s);
    free(s);
}

void canto_scram_server_set_nonce_for_test(struct canto_scram_server *s,
                                           const char *server_nonce_part)
{
    free(s->test_nonce);
    s->test_nonce = server_nonce_part ? canto_xstrdup(server_nonce_part) : NULL;
}

/* A view of the message being parsed: attributes are taken one at a time up
 * to the next ','. */
struct cursor {
    const char *p;   /* next unread byte */
    const char *end; /* one past the last byte */
};

/* Take the next attribute (up to ',' or the end) and step past its ','.
 * *has_more tells whether a ',' followed. False at the end of input. */
static bool next_attr(struct cursor *c, const char **val, size_t *len, bool *has_more)
{
    if (c->p > c->end)
        return false;
    const char *comma = memchr(c->p, ',', (size_t)(c->end - c->p));
    const char *stop = comma ? comma : c->end;
    *val = c->p;
    *len = (size_t)(stop - c->p);
    *has_more = comma != NULL;
    c->p = comma ? comma + 1 : c->end + 1;
    return true;
}

/* Decode a saslname (RFC 5802: "=2C" is ',', "=3D" is '='; any other '=' is
 * an error) into a malloc'd string, or NULL if it is empty or malformed. The
 * caller has already checked UTF-8 and the absence of NUL and ','. */
static char *saslname_decode(const char *s, size_t len)
{
    if (len == 0)
        return NULL;
    char *out = canto_xmalloc(len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '=') {
            out[o++] = s[i];
        } else if (len - i >= 3 && s[i + 1] == '2' && s[i + 2] == 'C') {
            out[o++] = ',';
            i += 2;
        } else if (len - i >= 3 && s[i + 1] == '3' && s[i + 2] == 'D') {
            out[o++] = '=';
            i += 2;
        } else {
            free(out);
            return NULL;
        }
    }
    out[o] = '\0';
    return out;
}

/* printable = %x21-2B / %x2D-7E: the nonce alphabet. */
static bool printable(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x21 || s[i] > 0x7E || s[i] == ',')
            return false;
    return true;
}

/* An extension attribute: one letter, '=', then a non-empty value. */
static bool ext_attr_ok(const char *s, size_t len)
{
    if (len < 3 || s[1] != '=')
        return false;
    return (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z');
}

/* cb-name = 1*(ALPHA / DIGIT / "." / "-") */
static bool cb_name_ok(const char *s, size_t len)
{
    if (len == 0 || len > CB_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-'))
            return false;
    }
    return true;
}

/* Checks every message gets before parsing. */
static bool msg_ok(const char *msg, size_t len)
{
    return msg && len > 0 && len <= SCRAM_MSG_MAX && canto_utf8_valid(msg, len);
}

/* Parse client-first-message:
 *   gs2-header = ("n" / "y" / "p=" cb-name) "," ["a=" saslname] ","
 *   bare       = ["m=" ... ","] "n=" saslname "," "r=" nonce ["," extensions]
 * then apply the channel-binding rules of RFC 5802 section 6 against what
 * the stream offered. Syntax is checked fully before any policy, so a
 * malformed message is always CANTO_INVALID. */
int canto_scram_server_client_first(struct canto_scram_server *s, const char *msg, size_t len,
                                    const char **username, const char **authzid)
{
    struct cursor c = {msg, msg + len};
    const char *v;
    size_t vlen;
    bool more;
    char flag;
    char cb_name[CB_NAME_MAX + 1] = "";
    char *user_raw = NULL, *user = NULL, *authz = NULL;
    int rc = CANTO_INVALID;

    if (username)
        *username = NULL;
    if (authzid)
        *authzid = NULL;
    if (s->state != ST_CLIENT_FIRST) {
        s->state = ST_DONE;
        return CANTO_ERROR;
    }
    s->state = ST_DONE; /* until proven otherwise */
    if (!msg_ok(msg, len))
        return CANTO_INVALID;

    /* gs2-cbind-flag */
    if (!next_attr(&c, &v, &vlen, &more) || !more)
        goto fail;
    if (vlen == 1 && (v[0] == 'n' || v[0] == 'y')) {
        flag = v[0];
    } else if (vlen > 2 && v[0] == 'p' && v[1] == '=' && cb_name_ok(v + 2, vlen - 2)) {
        flag = 'p';
        memcpy(cb_name, v + 2, vlen - 2);
        cb_name[vlen - 2] = '\0';
    } else {
        goto fail;
    }
    /* [authzid] */
    if (!next_attr(&c, &v, &vlen, &more) || !more)
        goto fail;
    if (vlen > 0) {
        if (vlen < 3 || v[0] != 'a' || v[1] != '=' || !(authz = saslname_decode(v + 2, vlen - 2)))
            goto fail;
    }
    size_t gs2_len = (size_t)(c.p - msg);
    const char *bare = c.p;
    size_t bare_len = len - gs2_len;

    /* username; a leading m= is a mandatory extension we do not support */
    if (!next_attr(&c, &v, &vlen, &more) || !more)
        goto fail;
    if (vlen < 3 || v[0] != 'n' || v[1] != '=')
        goto fail;
    if (!(user_raw = saslname_decode(v + 2, vlen - 2)))
        goto fail;
    /* nonce */
    if (!next_attr(&c, &v, &vlen, &more))
        goto fail;
    if (vlen < 3 || v[0] != 'r' || v[1] != '=' || !printable(v + 2, vlen - 2))
        goto fail;
    const char *cnonce = v + 2;
    size_t cnonce_len = vlen - 2;
    /* optional extensions, ignored */
    while (more) {
        if (!next_attr(&c, &v, &vlen, &more) || !ext_attr_ok(v, vlen) || v[0] == 'm')
            goto fail;
    }
    user = canto_saslprep(user_raw);
    if (!user || !*user)
        goto fail;

    /* Channel-binding policy (RFC 5802 section 6). */
    if (flag == 'p' && !s->plus)
        goto fail; /* binding data on a mechanism without it: malformed */
    rc = CANTO_ERROR;
    if (s->plus && flag != 'p')
        goto fail; /* chose -PLUS but did not bind */
    if (flag == 'y' && s->cb_offered)
        goto fail; /* downgrade: we did offer binding */
    if (flag == 'p') {
        if (!s->cb_data_fn)
            goto fail;
        int n = s->cb_data_fn(s->cb_ud, cb_name, s->cb_data, sizeof s->cb_data);
        if (n <= 0 || (size_t)n > sizeof s->cb_data)
            goto fail; /* a type we cannot serve */
        s->cb_len = (size_t)n;
    }

    s->gs2_header = canto_xstrndup(msg, gs2_len);
    s->client_first_bare = canto_xstrndup(bare, bare_len);
    s->client_nonce = canto_xstrndup(cnonce, cnonce_len);
    s->username = user;
    s->authzid = authz;
    canto_free_secret(user_raw);
    s->state = ST_SERVER_FIRST;
    if (username)
        *username = s->username;
    if (authzid)
        *authzid = s->authzid;
    return CANTO_OK;
fail:
    canto_wipe(s->cb_data, sizeof s->cb_data);
    s->cb_len = 0;
    canto_free_secret(user_raw);
    canto_free_secret(user);
    canto_free_secret(authz);
    return rc;
}

int canto_scram_server_first(struct canto_scram_server *s, const struct canto_scram_cred *cred,
                             const unsigned char *fake_secret, size_t fake_secret_len,
                             struct canto_buf *out)
{
    size_t hlen = canto_hash_len(s->hash);
    unsigned char fake_salt[CANTO_HASH_MAX_LEN];
    const unsigned char *salt;
    size_t salt_len;
    uint32_t iterations;
    struct canto_buf msg;

    if (s->state != ST_SERVER_FIRST) {
        s->state = ST_DONE;
        return CANTO_ERROR;
    }
    s->state = ST_DONE;
    if (cred) {
        if (cred->hash != s->hash || cred->salt_len == 0 || cred->salt_len > sizeof cred->salt ||
            cred->iterations == 0)
            return CANTO_ERROR;
        memcpy(s->stored_key, cred->stored_key, hlen);
        memcpy(s->server_key, cred->server_key, hlen);
        salt = cred->salt;
        salt_len = cred->salt_len;
        iterations = cred->iterations;
    } else {
        /* A salt that is stable per username and unguessable without the
         * server's secret, so probing cannot tell real from fake. */
        if (!hmac(CANTO_HASH_SHA256, fake_secret, fake_secret ? fake_secret_len : 0,
                  s->username, strlen(s->username), fake_salt))
            return CANTO_ERROR;
        if (RAND_bytes(s->stored_key, (int)hlen) != 1 || RAND_bytes(s->server_key, (int)hlen) != 1)
            return CANTO_ERROR;
        salt = fake_salt;
        salt_len = CANTO_SCRAM_SALT_LEN;
        iterations = CANTO_SCRAM_DEFAULT_ITERATIONS;
        s->unknown_user = true;
    }

    canto_buf_init(&msg);
    canto_buf_append_str(&msg, "r=");
    canto_buf_append_str(&msg, s->client_nonce);
    if (s->test_nonce) {
        canto_buf_append_str(&msg, s->test_nonce);
    } else {
        unsigned char rnd[SERVER_NONCE_BYTES];
        if (RAND_bytes(rnd, sizeof rnd) != 1) {
            canto_buf_free(&msg);
            return CANTO_ERROR;
        }
        canto_base64_encode(&msg, rnd, sizeof rnd);
    }
    s->nonce = canto_xstrndup(msg.data + 2, msg.len - 2);
    canto_buf_append_str(&msg, ",s=");
    canto_base64_encode(&msg, salt, salt_len);
    canto_buf_appendf(&msg, ",i=%lu", (unsigned long)iterations);

    canto_buf_append(out, msg.data, msg.len);
    s->server_first = canto_buf_steal(&msg);
    s->state = ST_CLIENT_FINAL;
    return CANTO_OK;
}

/* Verify client-final-message:
 *   c=base64(gs2-header [cb-data]),r=nonce[,extensions],p=base64(proof)
 * ClientSignature = HMAC(StoredKey, AuthMessage), ClientKey = proof XOR
 * ClientSignature, and the client knew the password iff H(ClientKey) ==
 * StoredKey. The same work is done for an unknown user, which then fails. */
int canto_scram_server_final(struct canto_scram_server *s, const char *msg, size_t len,
                             struct canto_buf *out)
{
    size_t hlen = canto_hash_len(s->hash);
    struct cursor c;
    const char *v;
    size_t vlen;
    bool more;
    struct canto_buf cbind, proof, expect, auth;
    unsigned char client_sig[CANTO_HASH_MAX_LEN], client_key[CANTO_HASH_MAX_LEN];
    unsigned char h_client_key[CANTO_HASH_MAX_LEN], server_sig[CANTO_HASH_MAX_LEN];
    int rc = CANTO_INVALID;

    if (s->state != ST_CLIENT_FINAL) {
        s->state = ST_DONE;
        return CANTO_ERROR;
    }
    s->state = ST_DONE;
    if (!msg_ok(msg, len))
        return CANTO_INVALID;
    canto_buf_init(&cbind);
    canto_buf_init(&proof);
    canto_buf_init(&expect);
    canto_buf_init(&auth);

    /* The proof is the last attribute; everything before its ',' is the
     * client-final-message-without-proof that the AuthMessage covers. */
    const char *last_comma = NULL;
    for (const char *p = msg + len; p > msg; p--) {
        if (p[-1] == ',') {
            last_comma = p - 1;
            break;
        }
    }
    if (!last_comma)
        goto fail;
    size_t wo_len = (size_t)(last_comma - msg);
    const char *pv = last_comma + 1;
    size_t pv_len = len - wo_len - 1;
    if (pv_len < 3 || pv[0] != 'p' || pv[1] != '=' ||
        canto_base64_decode(&proof, pv + 2, pv_len - 2) != CANTO_OK || proof.len != hlen)
        goto fail;

    c.p = msg;
    c.end = last_comma;
    if (!next_attr(&c, &v, &vlen, &more) || !more || vlen < 2 || v[0] != 'c' || v[1] != '=' ||
        canto_base64_decode(&cbind, v + 2, vlen - 2) != CANTO_OK)
        goto fail;
    if (!next_attr(&c, &v, &vlen, &more) || vlen < 3 || v[0] != 'r' || v[1] != '=' ||
        !printable(v + 2, vlen - 2))
        goto fail;
    const char *nonce = v + 2;
    size_t nonce_len = vlen - 2;
    while (more) {
        if (!next_attr(&c, &v, &vlen, &more) || !ext_attr_ok(v, vlen))
            goto fail;
    }

    /* From here the message is well formed: any mismatch is not-authorized. */
    rc = CANTO_ERROR;
    canto_buf_append_str(&expect, s->gs2_header);
    canto_buf_append(&expect, s->cb_data, s->cb_len);
    if (cbind.len != expect.len || !canto_ct_equal(cbind.data, expect.data, expect.len))
        goto fail;
    if (nonce_len != strlen(s->nonce) || memcmp(nonce, s->nonce, nonce_len) != 0)
        goto fail;

    canto_buf_append_str(&auth, s->client_first_bare);
    canto_buf_append_char(&auth, ',');
    canto_buf_append_str(&auth, s->server_first);
    canto_buf_append_char(&auth, ',');
    canto_buf_append(&auth, msg, wo_len);

    if (!hmac(s->hash, s->stored_key, hlen, auth.data, auth.len, client_sig) ||
        !hmac(s->hash, s->server_key, hlen, auth.data, auth.len, server_sig))
        goto fail;
    for (size_t i = 0; i < hlen; i++)
        client_key[i] = (unsigned char)proof.data[i] ^ client_sig[i];
    if (!digest(s->hash, client_key, hlen, h_client_key))
        goto fail;
    bool match = canto_ct_equal(h_client_key, s->stored_key, hlen);
    if (!match || s->unknown_user)
        goto fail;

    canto_buf_append_str(out, "v=");
    canto_base64_encode(out, server_sig, hlen);
    rc = CANTO_OK;
fail:
    canto_wipe(client_sig, sizeof client_sig);
    canto_wipe(client_key, sizeof client_key);
    canto_wipe(h_client_key, sizeof h_client_key);
    canto_wipe(server_sig, sizeof server_sig);
    canto_buf_free_secret(&proof);
    canto_buf_free_secret(&auth);
    canto_buf_free(&cbind);
    canto_buf_free(&expect);
    return rc;
}
