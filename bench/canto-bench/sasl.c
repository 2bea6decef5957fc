/*
 * sasl.c: SCRAM and PLAIN client exchanges and the derived-key cache (see
 * sasl.h for why the cache exists).
 *
 * An exchange keeps only client-first-message-bare and the expected server
 * signature; everything else is computed when the challenge arrives. The
 * password is used as given (no SASLprep): bench passwords are ASCII.
 */
#include "sasl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "canto/base64.h"

#define SCRAM_MAX_ITERATIONS 10000000L

struct scram_entry {
    char *key;                       /* "H:ITER:SALTHEX", owned */
    int hash;                        /* 1 = SHA-1, 256 = SHA-256 */
    uint32_t iterations;
    unsigned char salt[64];
    size_t salt_len;
    size_t len;                      /* digest length */
    unsigned char salted[EVP_MAX_MD_SIZE];
    unsigned char client_key[EVP_MAX_MD_SIZE];
    unsigned char stored_key[EVP_MAX_MD_SIZE];
    unsigned char server_key[EVP_MAX_MD_SIZE];
};

struct bench_sasl {
    enum bench_mech mech;
    int step;                        /* 0: first sent, 1: final sent, 2: verified */
    size_t sig_len;
    unsigned char server_sig[EVP_MAX_MD_SIZE];
    size_t nonce_len;
    char bare[];                     /* client-first-message-bare, NUL-terminated */
};

static const EVP_MD *mech_md(enum bench_mech m)
{
    return m == BENCH_MECH_SCRAM_SHA1 ? EVP_sha1() : EVP_sha256();
}

static int mech_hash_id(enum bench_mech m)
{
    return m == BENCH_MECH_SCRAM_SHA1 ? 1 : 256;
}

struct bench_sasl_ctx *bench_sasl_ctx_new(enum bench_mech mech, const char *password)
{
    struct bench_sasl_ctx *ctx = canto_xcalloc(1, sizeof *ctx);
    ctx->mech = mech;
    ctx->password = password;
    canto_hashmap_init(&ctx->cache);
    static const char label[] = "canto-bench scram cache";
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
        EVP_DigestUpdate(md, label, sizeof label) &&
        EVP_DigestUpdate(md, password, strlen(password)) && EVP_DigestFinal_ex(md, d, &dl))
        memcpy(ctx->pw_tag, d, sizeof ctx->pw_tag);
    EVP_MD_CTX_free(md);
    canto_wipe(d, sizeof d);
    return ctx;
}

static void free_entry(void *ud, const char *key, void *value)
{
    struct scram_entry *e = value;
    free(e->key);
    canto_wipe(e, sizeof *e);
    free(e);
}

void bench_sasl_ctx_free(struct bench_sasl_ctx *ctx)
{
    if (!ctx)
        return;
    canto_hashmap_foreach(&ctx->cache, free_entry, NULL);
    canto_hashmap_free(&ctx->cache);
    free(ctx);
}

static void hex(struct canto_buf *out, const unsigned char *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        canto_buf_append_char(out, digits[p[i] >> 4]);
        canto_buf_append_char(out, digits[p[i] & 15]);
    }
}

static bool unhex(const char *s, size_t n, unsigned char *out, size_t max, size_t *len)
{
    if (n % 2 || n / 2 > max)
        return false;
    for (size_t i = 0; i < n / 2; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char ch = s[2 * i + (size_t)k];
            int d = ch >= '0' && ch <= '9' ? ch - '0'
                  : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
            if (d < 0)
                return false;
            v = v * 16 + d;
        }
        out[i] = (unsigned char)v;
    }
    *len = n / 2;
    return true;
}

static char *entry_key(int hash, uint32_t iterations, const unsigned char *salt, size_t salt_len)
{
    struct canto_buf k = {0};
    canto_buf_appendf(&k, "%d:%u:", hash, iterations);
    hex(&k, salt, salt_len);
    return canto_buf_steal(&k);
}

/* Fill the keys of e from e->salted. */
static bool derive_keys(struct scram_entry *e)
{
    const EVP_MD *md = e->hash == 1 ? EVP_sha1() : EVP_sha256();
    unsigned int l = 0;
    if (!HMAC(md, e->salted, (int)e->len, (const unsigned char *)"Client Key", 10,
              e->client_key, &l))
        return false;
    if (!EVP_Digest(e->client_key, e->len, e->stored_key, &l, md, NULL))
        return false;
    if (!HMAC(md, e->salted, (int)e->len, (const unsigned char *)"Server Key", 10,
              e->server_key, &l))
        return false;
    return true;
}

static void cache_put(struct bench_sasl_ctx *ctx, struct scram_entry *e)
{
    struct scram_entry *old = canto_hashmap_put(&ctx->cache, e->key, e);
    if (old && old != e)
        free_entry(NULL, NULL, old);
}

/* The keys for (hash, salt, iterations): from the cache, or PBKDF2 now. */
static struct scram_entry *keys_for(struct bench_sasl_ctx *ctx, const unsigned char *salt,
                                    size_t salt_len, uint32_t iterations)
{
    int hash = mech_hash_id(ctx->mech);
    char *key = entry_key(hash, iterations, salt, salt_len);
    struct scram_entry *e = canto_hashmap_get(&ctx->cache, key);
    if (e) {
        free(key);
        ctx->cache_hits++;
        return e;
    }
    e = canto_xcalloc(1, sizeof *e);
    e->key = key;
    e->hash = hash;
    e->iterations = iterations;
    memcpy(e->salt, salt, salt_len);
    e->salt_len = salt_len;
    const EVP_MD *md = mech_md(ctx->mech);
    e->len = (size_t)EVP_MD_get_size(md);
    if (!PKCS5_PBKDF2_HMAC(ctx->password, (int)strlen(ctx->password), salt, (int)salt_len,
                           (int)iterations, md, (int)e->len, e->salted) ||
        !derive_keys(e)) {
        free_entry(NULL, NULL, e);
        return NULL;
    }
    ctx->derivations++;
    ctx->cache_dirty = true;
    cache_put(ctx, e);
    return e;
}

bool bench_sasl_cache_load(struct bench_sasl_ctx *ctx, const char *path, char *msg, size_t size)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            return true;
        snprintf(msg, size, "cannot read --scram-cache %s: %s", path, strerror(errno));
        return false;
    }
    char line[512];
    struct canto_buf tag = {0};
    hex(&tag, ctx->pw_tag, sizeof ctx->pw_tag);
    bool header_ok = false;
    if (fgets(line, sizeof line, f)) {
        char expect[128];
        snprintf(expect, sizeof expect, "canto-bench-scram-cache 1 %s\n", tag.data);
        header_ok = strcmp(line, expect) == 0;
    }
    canto_buf_free(&tag);
    while (header_ok && fgets(line, sizeof line, f)) {
        /* HASH ITERATIONS SALTHEX SALTEDHEX */
        char *save = NULL;
        char *h = strtok_r(line, " \n", &save);
        char *it = strtok_r(NULL, " \n", &save);
        char *salt = strtok_r(NULL, " \n", &save);
        char *salted = strtok_r(NULL, " \n", &save);
        long hash, iter;
        if (!salted || canto_parse_long(h, 1, 256, &hash) != CANTO_OK ||
            (hash != 1 && hash != 256) ||
            canto_parse_long(it, 1, SCRAM_MAX_ITERATIONS, &iter) != CANTO_OK)
            continue;
        struct scram_entry *e = canto_xcalloc(1, sizeof *e);
        e->hash = (int)hash;
        e->iterations = (uint32_t)iter;
        if (!unhex(salt, strlen(salt), e->salt, sizeof e->salt, &e->salt_len) ||
            !unhex(salted, strlen(salted), e->salted, sizeof e->salted, &e->len) ||
            e->len != (hash == 1 ? 20u : 32u) || !derive_keys(e)) {
            free_entry(NULL, NULL, e);
            continue;
        }
        e->key = entry_key(e->hash, e->iterations, e->salt, e->salt_len);
        cache_put(ctx, e);
        ctx->loaded++;
    }
    fclose(f);
    return true;
}

struct save_ctx {
    FILE *f;
};

static void save_entry(void *ud, const char *key, void *value)
{
    struct save_ctx *s = ud;
    struct scram_entry *e = value;
    struct canto_buf b = {0};
    canto_buf_appendf(&b, "%d %u ", e->hash, e->iterations);
    hex(&b, e->salt, e->salt_len);
    canto_buf_append_char(&b, ' ');
    hex(&b, e->salted, e->len);
    canto_buf_append_char(&b, '\n');
    fwrite(b.data, 1, b.len, s->f);
    canto_buf_free_secret(&b);
}

bool bench_sasl_cache_save(struct bench_sasl_ctx *ctx, const char *path, char *msg, size_t size)
{
    if (!ctx->cache_dirty)
        return true;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    mode_t old = umask(077);
    FILE *f = fopen(tmp, "w");
    umask(old);
    if (!f) {
        snprintf(msg, size, "cannot write %s: %s", tmp, strerror(errno));
        return false;
    }
    struct canto_buf tag = {0};
    hex(&tag, ctx->pw_tag, sizeof ctx->pw_tag);
    fprintf(f, "canto-bench-scram-cache 1 %s\n", tag.data);
    canto_buf_free(&tag);
    struct save_ctx s = {f};
    canto_hashmap_foreach(&ctx->cache, save_entry, &s);
    bool ok = !ferror(f);
    if (fclose(f) != 0)
        ok = false;
    if (!ok || rename(tmp, path) != 0) {
        snprintf(msg, size, "cannot write %s: %s", path, strerror(errno));
        remove(tmp);
        return false;
    }
    return true;
}

/* --- exchanges --- */

struct bench_sasl *bench_sasl_start(struct bench_sasl_ctx *ctx, const char *user,
                                    struct canto_buf *out)
{
    struct canto_buf msg = {0};
    if (ctx->mech == BENCH_MECH_PLAIN) {
        canto_buf_append_char(&msg, '\0');
        canto_buf_append_str(&msg, user);
        canto_buf_append_char(&msg, '\0');
        canto_buf_append_str(&msg, ctx->password);
        canto_base64_encode(out, msg.data, msg.len);
        canto_buf_free_secret(&msg);
        struct bench_sasl *s = canto_xcalloc(1, sizeof *s + 1);
        s->mech = ctx->mech;
        s->step = 2;
        return s;
    }
    /* client-first-message-bare: n=USER,r=NONCE with ',' and '=' escaped */
    struct canto_buf bare = {0};
    canto_buf_append_str(&bare, "n=");
    for (const char *p = user; *p; p++) {
        if (*p == ',')
            canto_buf_append_str(&bare, "=2C");
        else if (*p == '=')
            canto_buf_append_str(&bare, "=3D");
        else
            canto_buf_append_char(&bare, *p);
    }
    canto_buf_append_str(&bare, ",r=");
    unsigned char rnd[18];
    if (RAND_bytes(rnd, sizeof rnd) != 1) {
        for (size_t i = 0; i < sizeof rnd; i++)
            rnd[i] = (unsigned char)(uv_hrtime() >> (i % 8));
    }
    size_t before = bare.len;
    canto_base64_encode(&bare, rnd, sizeof rnd); /* 24 chars, no '=' or ',' */
    struct bench_sasl *s = canto_xcalloc(1, sizeof *s + bare.len + 1);
    s->mech = ctx->mech;
    s->nonce_len = bare.len - before;
    memcpy(s->bare, bare.data, bare.len + 1);
    canto_buf_append_str(&msg, "n,,");
    canto_buf_append(&msg, bare.data, bare.len);
    canto_base64_encode(out, msg.data, msg.len);
    canto_buf_free(&msg);
    canto_buf_free(&bare);
    return s;
}

/* Find "X=" attribute `attr` in a SCRAM message: value and length. */
static bool scram_attr(const char *m, size_t n, char attr, const char **v, size_t *vlen)
{
    size_t i = 0;
    while (i < n) {
        const char *comma = memchr(m + i, ',', n - i);
        size_t end = comma ? (size_t)(comma - m) : n;
        if (end - i >= 2 && m[i] == attr && m[i + 1] == '=') {
            *v = m + i + 2;
            *vlen = end - i - 2;
            return true;
        }
        i = end + 1;
    }
    return false;
}

/* server-final-message "v=..." against the expected signature. */
static int verify_final(struct bench_sasl *s, const char *m, size_t n, const char **why)
{
    const char *v;
    size_t vlen;
    if (scram_attr(m, n, 'e', &v, &vlen)) {
        *why = "server-final-message carries an error";
        return CANTO_INVALID;
    }
    struct canto_buf sig = {0};
    if (!scram_attr(m, n, 'v', &v, &vlen) || canto_base64_decode(&sig, v, vlen) != CANTO_OK ||
        sig.len != s->sig_len || !canto_ct_equal(sig.data, s->server_sig, s->sig_len)) {
        canto_buf_free(&sig);
        *why = "wrong server signature";
        return CANTO_INVALID;
    }
    canto_buf_free(&sig);
    s->step = 2;
    return CANTO_OK;
}

int bench_sasl_challenge(struct bench_sasl_ctx *ctx, struct bench_sasl *s, const char *b64,
                         size_t n, struct canto_buf *out, const char **why)
{
    int rc = CANTO_INVALID;
    struct canto_buf sf = {0}, cfwp = {0}, auth = {0}, msg = {0};
    if (s->mech == BENCH_MECH_PLAIN || s->step == 2) {
        *why = "unexpected challenge";
        return CANTO_INVALID;
    }
    if (canto_base64_decode(&sf, b64, n) != CANTO_OK || sf.len == 0) {
        *why = "challenge is not base64";
        return CANTO_INVALID;
    }
    if (s->step == 1) { /* server-final-message sent as a challenge */
        rc = verify_final(s, sf.data, sf.len, why);
        canto_buf_free(&sf);
        return rc; /* the caller answers with an empty <response/> */
    }
    const char *r, *salt64, *it;
    size_t rlen, saltlen, itlen;
    if (sf.data[0] == 'm' || !scram_attr(sf.data, sf.len, 'r', &r, &rlen) ||
        !scram_attr(sf.data, sf.len, 's', &salt64, &saltlen) ||
        !scram_attr(sf.data, sf.len, 'i', &it, &itlen)) {
        *why = "malformed server-first-message";
        goto done;
    }
    const char *cnonce = s->bare + strlen(s->bare) - s->nonce_len;
    if (rlen <= s->nonce_len || memcmp(r, cnonce, s->nonce_len) != 0) {
        *why = "server nonce does not extend ours";
        goto done;
    }
    char itbuf[16];
    long iterations;
    if (itlen == 0 || itlen >= sizeof itbuf) {
        *why = "bad iteration count";
        goto done;
    }
    memcpy(itbuf, it, itlen);
    itbuf[itlen] = '\0';
    if (canto_parse_long(itbuf, 1, SCRAM_MAX_ITERATIONS, &iterations) != CANTO_OK) {
        *why = "bad iteration count";
        goto done;
    }
    struct canto_buf salt = {0};
    if (canto_base64_decode(&salt, salt64, saltlen) != CANTO_OK || salt.len == 0 ||
        salt.len > 64) {
        canto_buf_free(&salt);
        *why = "bad salt";
        goto done;
    }
    struct scram_entry *e = keys_for(ctx, (unsigned char *)salt.data, salt.len,
                                     (uint32_t)iterations);
    canto_buf_free(&salt);
    if (!e) {
        *why = "key derivation failed";
        goto done;
    }
    canto_buf_append_str(&cfwp, "c=biws,r=");
    canto_buf_append(&cfwp, r, rlen);
    canto_buf_append_str(&auth, s->bare);
    canto_buf_append_char(&auth, ',');
    canto_buf_append(&auth, sf.data, sf.len);
    canto_buf_append_char(&auth, ',');
    canto_buf_append(&auth, cfwp.data, cfwp.len);
    const EVP_MD *md = mech_md(s->mech);
    unsigned char csig[EVP_MAX_MD_SIZE], proof[EVP_MAX_MD_SIZE];
    unsigned int l = 0;
    if (!HMAC(md, e->stored_key, (int)e->len, (unsigned char *)auth.data, auth.len, csig, &l) ||
        !HMAC(md, e->server_key, (int)e->len, (unsigned char *)auth.data, auth.len,
              s->server_sig, &l)) {
        *why = "HMAC failed";
        goto done;
    }
    s->sig_len = e->len;
    for (size_t i = 0; i < e->len; i++)
        proof[i] = e->client_key[i] ^ csig[i];
    canto_buf_append(&msg, cfwp.data, cfwp.len);
    canto_buf_append_str(&msg, ",p=");
    canto_base64_encode(&msg, proof, e->len);
    canto_base64_encode(out, msg.data, msg.len);
    canto_wipe(proof, sizeof proof);
    s->step = 1;
    rc = CANTO_OK;
done:
    canto_buf_free(&sf);
    canto_buf_free(&cfwp);
    canto_buf_free(&auth);
    canto_buf_free(&msg);
    return rc;
}

int bench_sasl_success(struct bench_sasl *s, const char *b64, size_t n, const char **why)
{
    if (s->mech == BENCH_MECH_PLAIN || s->step == 2) {
        return CANTO_OK; /* PLAIN; or SCRAM whose final message came as a challenge */
    }
    if (s->step != 1 || n == 0 || (n == 1 && b64[0] == '=')) {
        *why = "success without the server's proof";
        return CANTO_INVALID;
    }
    struct canto_buf m = {0};
    if (canto_base64_decode(&m, b64, n) != CANTO_OK) {
        canto_buf_free(&m);
        *why = "success payload is not base64";
        return CANTO_INVALID;
    }
    int rc = verify_final(s, m.data ? m.data : "", m.len, why);
    canto_buf_free(&m);
    return rc;
}

void bench_sasl_free(struct bench_sasl *s)
{
    free(s);
}
