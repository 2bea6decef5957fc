/*
 * scram.h: SCRAM (RFC 5802, RFC 7677) server side, credentials, PLAIN check.
 *
 * Accounts store only salted SCRAM keys per hash (StoredKey, ServerKey, salt,
 * iteration count), never the password. The server exchange here is pure
 * computation with no I/O: the stream layer feeds it the client's messages
 * and the credentials it looked up, and sends what it returns.
 *
 * Channel binding (RFC 5929, RFC 9266): the stream layer passes the binding
 * type the client chose and the data the TLS layer computed for it; this code
 * checks the gs2 header and the c= attribute against them, and refuses a
 * client that says "y" (it supports binding but thinks we do not) when we do
 * offer -PLUS, which is the downgrade RFC 5802 section 6 describes.
 */
#ifndef CANTO_SCRAM_H
#define CANTO_SCRAM_H

#include "canto/buf.h"
#include "canto/common.h"

enum canto_hash {
    CANTO_HASH_SHA1 = 0,
    CANTO_HASH_SHA256 = 1,
    CANTO_HASH_SHA512 = 2,
};
#define CANTO_HASH_COUNT 3
#define CANTO_HASH_MAX_LEN 64
#define CANTO_SCRAM_SALT_LEN 16
#define CANTO_SCRAM_DEFAULT_ITERATIONS 10000

/* "SHA-1", "SHA-256", "SHA-512" */
const char *canto_hash_name(enum canto_hash h);
size_t canto_hash_len(enum canto_hash h);

struct canto_scram_cred {
    enum canto_hash hash;
    uint32_t iterations;
    unsigned char salt[32];
    size_t salt_len;
    unsigned char stored_key[CANTO_HASH_MAX_LEN]; /* canto_hash_len(hash) bytes */
    unsigned char server_key[CANTO_HASH_MAX_LEN];
};

/* Derive credentials for password with a fresh random salt. The password is
 * SASLprep'd first; CANTO_INVALID if that fails (prohibited characters). */
int canto_scram_cred_make(enum canto_hash h, const char *password, uint32_t iterations,
                          struct canto_scram_cred *out);
/* Longest password accepted anywhere (cantoctl, in-band registration). */
#define CANTO_PASSWORD_MAX_BYTES 1023
/* Credentials for every hash (creds[i] for the i-th of SHA-1, SHA-256,
 * SHA-512), each with the default iteration count. Why all three: a client
 * picks the strongest mechanism it supports and old clients only know
 * SCRAM-SHA-1; an account lacking a hash cannot log in with that one.
 * CANTO_INVALID if SASLprep refuses the password, CANTO_ERROR if the random
 * source fails. Slow (PBKDF2): off the event loop. */
int canto_scram_creds_make_all(const char *password, struct canto_scram_cred creds[]);
/* Same with a given salt (tests, and checking PLAIN logins). */
int canto_scram_cred_derive(enum canto_hash h, const char *password, const unsigned char *salt,
                            size_t salt_len, uint32_t iterations, struct canto_scram_cred *out);
/* True if password matches cred (PBKDF2 again, constant-time compare).
 * Costs one key derivation: call it off the event loop. */
bool canto_scram_cred_check_password(const struct canto_scram_cred *cred, const char *password);

/* "SCRAM-SHA-256-PLUS" -> hash SHA256, plus true. CANTO_INVALID if not SCRAM. */
int canto_scram_mech_parse(const char *mech, enum canto_hash *hash, bool *plus);

struct canto_scram_server;

/* A server exchange for one authentication attempt.
 * plus: the client chose the -PLUS mechanism.
 * cb_offered: the server advertised -PLUS mechanisms on this stream.
 * cb_types: NUL-separated list of binding types we can serve, e.g.
 *   "tls-exporter\0tls-server-end-point\0" (may be NULL when none).
 * cb_data_fn: called with the binding type the client named; fills the
 *   binding data (at most 64 bytes) and returns its length, or -1 if that
 *   type cannot be served. */
struct canto_scram_server *canto_scram_server_new(
    enum canto_hash hash, bool plus, bool cb_offered,
    int (*cb_data_fn)(void *ud, const char *type, unsigned char *out, size_t out_size),
    void *cb_ud);
void canto_scram_server_free(struct canto_scram_server *s);

/* Parse client-first-message (already base64-decoded). On CANTO_OK,
 * *username is the SASLprep'd authentication identity (valid until the
 * exchange is freed) and *authzid the requested authorization identity or
 * NULL. CANTO_INVALID: malformed (SASL failure malformed-request);
 * CANTO_ERROR: channel binding mismatch or downgrade (not-authorized). */
int canto_scram_server_client_first(struct canto_scram_server *s, const char *msg, size_t len,
                                    const char **username, const char **authzid);

/* Append the server-first-message to out. cred is the account's credential
 * for this hash, or NULL when there is none: the exchange then goes on with a
 * salt derived from fake_secret and the username, so an unknown account is
 * indistinguishable until the final step fails. */
int canto_scram_server_first(struct canto_scram_server *s, const struct canto_scram_cred *cred,
                             const unsigned char *fake_secret, size_t fake_secret_len,
                             struct canto_buf *out);

/* Verify client-final-message. CANTO_OK: authenticated, server-final-message
 * ("v=...") appended to out. CANTO_ERROR: wrong proof, nonce or binding
 * (not-authorized). CANTO_INVALID: malformed. */
int canto_scram_server_final(struct canto_scram_server *s, const char *msg, size_t len,
                             struct canto_buf *out);

/* For tests only: use server_nonce_part (printable ASCII without ',', copied)
 * instead of random bytes as the server's part of the nonce, so that the
 * exchanges of RFC 5802 and RFC 7677 can be replayed byte for byte. Call it
 * before canto_scram_server_first. Never call it outside tests: a predictable
 * nonce makes the exchange replayable. */
void canto_scram_server_set_nonce_for_test(struct canto_scram_server *s,
                                           const char *server_nonce_part);

/* SASLprep a string (RFC 4013) into a malloc'd string; NULL if prohibited. */
char *canto_saslprep(const char *s);

#endif
