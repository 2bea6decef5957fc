/*
 * tls.c: OpenSSL server contexts, one per configured certificate, with SNI
 * choosing among them, ALPN for XEP-0368 and the channel-binding data SCRAM
 * -PLUS needs.
 *
 * Policy (RFC 7590/RFC 9325): TLS 1.2 and 1.3 only, forward-secret AEAD
 * suites for 1.2, X25519 first. Stateless session tickets keep resumption
 * cheap. SSL_MODE_RELEASE_BUFFERS lets OpenSSL drop its read/write buffers
 * while a connection is idle, which is most of a TLS session's memory.
 */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <string.h>
#include <strings.h>

#include "canto/log.h"
#include "canto/net.h"

struct canto_tls_entry {
    char *host;   /* NULL for the default */
    SSL_CTX *ctx;
};

struct canto_tls {
    struct canto_tls_entry *entries; /* [0] is the default */
    size_t n;
    BIO_METHOD *bio_method;          /* connections' socket BIO (conn.c) */
};

static const unsigned char alpn_xmpp_client[] = "xmpp-client";

/* Accept the client's "xmpp-client" if offered; otherwise negotiate no ALPN
 * (a client that offers none is still served). */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    for (unsigned i = 0; i < inlen;) {
        unsigned len = in[i];
        if (i + 1 + len > inlen)
            break;
        if (len == sizeof(alpn_xmpp_client) - 1 &&
            memcmp(in + i + 1, alpn_xmpp_client, len) == 0) {
            *out = in + i + 1;
            *outlen = (unsigned char)len;
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + len;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

/* Certificate by SNI: an exact host match, or a "*.parent" certificate host
 * for a subdomain; the default certificate otherwise. */
static int sni_select(SSL *ssl, int *alert, void *arg)
{
    struct canto_tls *tls = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!name)
        return SSL_TLSEXT_ERR_NOACK;
    /* An exact name wins over a wildcard; "*.parent" covers one label. */
    const char *parent = strchr(name, '.');
    SSL_CTX *wild = NULL;
    for (size_t i = 1; i < tls->n; i++) {
        const char *host = tls->entries[i].host;
        if (strcasecmp(host, name) == 0) {
            SSL_set_SSL_CTX(ssl, tls->entries[i].ctx);
            return SSL_TLSEXT_ERR_OK;
        }
        if (!wild && parent && host[0] == '*' && host[1] == '.' &&
            strcasecmp(host + 1, parent) == 0)
            wild = tls->entries[i].ctx;
    }
    if (wild)
        SSL_set_SSL_CTX(ssl, wild);
    return SSL_TLSEXT_ERR_OK;
}

static void append_ssl_errors(struct canto_buf *err)
{
    unsigned long e;
    char msg[256];
    bool first = true;
    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, msg, sizeof msg);
        canto_buf_appendf(err, "%s%s", first ? "" : "; ", msg);
        first = false;
    }
}

static SSL_CTX *make_ctx(const struct canto_tls_cert *cc,
                         struct canto_tls *tls, struct canto_buf *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        goto fail;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1 ||
        SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") != 1)
        goto fail;
    if (SSL_CTX_use_certificate_chain_file(ctx, cc->certificate) != 1) {
        canto_buf_appendf(err, "%s: tls.certificate: cannot load %s: ", cc->origin,
                          cc->certificate);
        append_ssl_errors(err);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cc->key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        canto_buf_appendf(err, "%s: tls.key: cannot load %s or it does not match the certificate: ",
                          cc->origin, cc->key);
        append_ssl_errors(err);
        SSL_CTX_free(ctx);
        return NULL;
    }
    static const unsigned char sid_ctx[] = "canto-c2s";
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    SSL_CTX_set_tlsext_servername_callback(ctx, sni_select);
    SSL_CTX_set_tlsext_servername_arg(ctx, tls);
    return ctx;
fail:
    canto_buf_appendf(err, "%s: tls: cannot create a TLS context: ", cc->origin);
    append_ssl_errors(err);
    SSL_CTX_free(ctx);
    return NULL;
}

int canto_tls_new(const struct canto_tls_cert *certs, size_t n, struct canto_tls **out,
                  struct canto_buf *err)
{
    *out = NULL;
    if (n == 0) {
        canto_buf_append_str(err, "tls: no certificate configured");
        return CANTO_ERROR;
    }
    struct canto_tls *tls = canto_xcalloc(1, sizeof(*tls));
    tls->entries = canto_xcalloc(n, sizeof(*tls->entries));
    tls->bio_method = canto_conn_bio_method_new();
    if (!tls->bio_method) {
        canto_buf_append_str(err, "tls: cannot create the connection BIO");
        canto_tls_free(tls);
        return CANTO_ERROR;
    }
    for (size_t i = 0; i < n; i++) {
        SSL_CTX *ctx = make_ctx(&certs[i], tls, err);
        if (!ctx) {
            canto_tls_free(tls);
            return CANTO_ERROR;
        }
        tls->entries[i].ctx = ctx;
        tls->entries[i].host = certs[i].host ? canto_xstrdup(certs[i].host) : NULL;
        tls->n = i + 1;
    }
    *out = tls;
    return CANTO_OK;
}

void canto_tls_free(struct canto_tls *tls)
{
    if (!tls)
        return;
    for (size_t i = 0; i < tls->n; i++) {
        SSL_CTX_free(tls->entries[i].ctx);
        free(tls->entries[i].host);
    }
    free(tls->entries);
    BIO_meth_free(tls->bio_method);
    free(tls);
}

BIO_METHOD *canto_tls_bio_method(struct canto_tls *tls)
{
    return tls->bio_method;
}

SSL_CTX *canto_tls_default_ctx(struct canto_tls *tls)
{
    return tls->entries[0].ctx;
}

bool canto_tls_exporter_available(SSL *ssl)
{
    if (!ssl || !SSL_is_init_finished(ssl))
        return false;
    return SSL_version(ssl) >= TLS1_3_VERSION || SSL_get_extms_support(ssl) == 1;
}

bool canto_tls_unique_available(SSL *ssl)
{
    /* Without extended master secret, TLS 1.2 is open to the triple
     * handshake attack on tls-unique; TLS 1.3 has no renegotiation and its
     * Finished messages cover the whole transcript. */
    if (!ssl || !SSL_is_init_finished(ssl))
        return false;
    return SSL_version(ssl) >= TLS1_3_VERSION || SSL_get_extms_support(ssl) == 1;
}

/* RFC 5929 section 4.1: the hash of the server certificate, with the
 * certificate's own signature hash, except that MD5 and SHA-1 become SHA-256. */
static int server_end_point(SSL *ssl, unsigned char *out, size_t out_size)
{
    X509 *cert = SSL_get_certificate(ssl);
    if (!cert)
        return -1;
    int md_nid = NID_undef;
    if (!OBJ_find_sigid_algs(X509_get_signature_nid(cert), &md_nid, NULL))
        return -1;
    const EVP_MD *md = NULL;
    if (md_nid == NID_md5 || md_nid == NID_sha1 || md_nid == NID_undef)
        md = EVP_sha256();
    else
        md = EVP_get_digestbynid(md_nid);
    if (!md || (size_t)EVP_MD_get_size(md) > out_size)
        return -1;
    unsigned int len = 0;
    if (X509_digest(cert, md, out, &len) != 1)
        return -1;
    return (int)len;
}

int canto_tls_channel_binding(SSL *ssl, const char *type, unsigned char *out, size_t out_size)
{
    if (!ssl || !SSL_is_init_finished(ssl))
        return -1;
    if (strcmp(type, "tls-exporter") == 0) {
        static const char label[] = "EXPORTER-Channel-Binding";
        if (!canto_tls_exporter_available(ssl) || out_size < 32)
            return -1;
        if (SSL_export_keying_material(ssl, out, 32, label, sizeof label - 1, NULL, 0, 0) != 1)
            return -1;
        return 32;
    }
    if (strcmp(type, "tls-server-end-point") == 0)
        return server_end_point(ssl, out, out_size);
    if (strcmp(type, "tls-unique") == 0) {
        /* RFC 5929 section 3: the first Finished message of the handshake:
         * the client's in a full handshake, ours in a resumed one. */
        if (!canto_tls_unique_available(ssl))
            return -1;
        size_t n = SSL_session_reused(ssl) ? SSL_get_finished(ssl, out, out_size)
                                           : SSL_get_peer_finished(ssl, out, out_size);
        return n > 0 && n <= out_size ? (int)n : -1;
    }
    return -1;
}
