/*
 * sasl.h: the client side of SASL for canto-bench: SCRAM-SHA-1,
 * SCRAM-SHA-256 (RFC 5802, RFC 7677, without channel binding: gs2 header
 * "n,,") and PLAIN (RFC 4616).
 *
 * The expensive part of SCRAM for a client is PBKDF2 (SaltedPassword). Every
 * bench account has the same password, so the derived keys are cached per
 * (hash, salt, iterations): with a shared salt, or when the same accounts log
 * in again, the bench pays PBKDF2 once instead of once per login and cannot
 * become the bottleneck of a login benchmark. The cache can be kept in a file
 * (--scram-cache) between runs, since servers give each account its own
 * random salt; the file is tagged with a digest of the password so that a
 * different password never reuses stale keys.
 */
#ifndef CANTO_BENCH_SASL_H
#define CANTO_BENCH_SASL_H

#include "bench.h"
#include "canto/hashmap.h"

struct bench_sasl_ctx {
    enum bench_mech mech;
    const char *password;         /* borrowed from the options */
    struct canto_hashmap cache;   /* key "H:ITER:SALTHEX" -> struct scram_entry */
    unsigned char pw_tag[16];     /* digest of the password, tags the cache file */
    uint64_t derivations;         /* PBKDF2 runs */
    uint64_t cache_hits;
    size_t loaded;                /* entries read from the cache file */
    bool cache_dirty;             /* entries added since load */
};

struct bench_sasl_ctx *bench_sasl_ctx_new(enum bench_mech mech, const char *password);
void bench_sasl_ctx_free(struct bench_sasl_ctx *ctx);
/* Read / write the cache file. Returns false with a message on I/O errors;
 * a missing file or one for another password is not an error. */
bool bench_sasl_cache_load(struct bench_sasl_ctx *ctx, const char *path, char *msg, size_t size);
bool bench_sasl_cache_save(struct bench_sasl_ctx *ctx, const char *path, char *msg, size_t size);

/* Begin an exchange for `user`: appends the base64 initial response to out.
 * Returns the exchange (free it with bench_sasl_free). */
struct bench_sasl *bench_sasl_start(struct bench_sasl_ctx *ctx, const char *user,
                                    struct canto_buf *out);
/* A <challenge/> payload (base64). Appends the base64 response to out.
 * CANTO_OK, or CANTO_INVALID with a reason in *why. */
int bench_sasl_challenge(struct bench_sasl_ctx *ctx, struct bench_sasl *s, const char *b64,
                         size_t n, struct canto_buf *out, const char **why);
/* The <success/> payload (base64, may be empty). CANTO_OK if the server
 * proved it knows the password (SCRAM), CANTO_INVALID otherwise. */
int bench_sasl_success(struct bench_sasl *s, const char *b64, size_t n, const char **why);
void bench_sasl_free(struct bench_sasl *s);

#endif
