/*
 * tls.c: client TLS for canto-bench, OpenSSL over memory BIOs.
 *
 * The socket stays libuv's: ciphertext read from it is written into the
 * connection's read BIO, plaintext comes out of SSL_read into one loop-wide
 * buffer (b->tbuf) and goes to the scanner; plaintext to send is encrypted
 * from c->out and whatever TLS produced is taken from the write BIO and
 * written to the socket. SSL_MODE_RELEASE_BUFFERS lets an idle connection
 * drop its record buffers.
 *
 * The client offers what servers do fastest: X25519 then P-256, ECDSA
 * signatures first, AES-128-GCM first. Certificates are not verified (a
 * benchmark on loopback). With --tls-resume (the default) the newest session
 * the server handed out is offered by every new connection, so servers that
 * support resumption skip the key exchange and signature; the counts of full
 * and resumed handshakes are reported.
 */
#include <string.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "bench.h"

/* A ticket arrived: keep it for a later connection. Tickets may be single
 * use (TLS 1.3 servers with a stateful cache refuse a second use), so each
 * goes into a small pool that connections take from; the newest is also
 * kept as the fallback offered when the pool is empty. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    struct bench *b = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    if (b->tls_session)
        SSL_SESSION_free(b->tls_session);
    b->tls_session = sess;
    SSL_SESSION_up_ref(sess);
    if (b->ntls_pool == BENCH_TLS_POOL) { /* full: drop the oldest */
        SSL_SESSION_free(b->tls_pool[0]);
        memmove(b->tls_pool, b->tls_pool + 1, (BENCH_TLS_POOL - 1) * sizeof b->tls_pool[0]);
        b->ntls_pool--;
    }
    b->tls_pool[b->ntls_pool++] = sess;
    return 1; /* we keep the reference */
}

bool bench_tls_setup(struct bench *b)
{
    if (b->opt.tls == BENCH_TLS_NONE || b->opt.protocol == BENCH_PROTO_RELAY)
        return true;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        goto fail;
    SSL_CTX_set_app_data(ctx, b);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (!SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") ||
        !SSL_CTX_set1_sigalgs_list(ctx, "ECDSA+SHA256:ECDSA+SHA384:ed25519:"
                                        "rsa_pss_rsae_sha256:rsa_pss_rsae_sha384:"
                                        "RSA+SHA256:RSA+SHA384:RSA+SHA512") ||
        !SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:"
                                       "TLS_AES_256_GCM_SHA384") ||
        !SSL_CTX_set_cipher_list(ctx, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                      "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
                                      "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384"))
        goto fail;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (b->opt.tls_resume) {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(ctx, on_new_session);
    } else {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    }
    b->ssl_ctx = ctx;
    return true;
fail:
    snprintf(b->message, sizeof b->message, "cannot set up TLS: %s",
             ERR_reason_error_string(ERR_get_error()));
    SSL_CTX_free(ctx);
    return false;
}

void bench_tls_teardown(struct bench *b)
{
    if (b->tls_session)
        SSL_SESSION_free(b->tls_session);
    b->tls_session = NULL;
    while (b->ntls_pool > 0)
        SSL_SESSION_free(b->tls_pool[--b->ntls_pool]);
    SSL_CTX_free(b->ssl_ctx);
    b->ssl_ctx = NULL;
}

/* Send whatever TLS wrote into the write BIO. */
static void drain(struct bench_conn *c)
{
    BIO *wbio = SSL_get_wbio(c->ssl);
    char *buf = c->b->wbuf;
    size_t pending;
    while ((pending = BIO_ctrl_pending(wbio)) > 0) {
        int n = BIO_read(wbio, buf, (int)(pending < BENCH_READ_BUF ? pending : BENCH_READ_BUF));
        if (n <= 0)
            break;
        bench_conn_write_raw(c, buf, (size_t)n);
        if (uv_is_closing((uv_handle_t *)&c->tcp))
            return;
    }
}

static void tls_fail(struct bench_conn *c, const char *what, int err)
{
    unsigned long e = ERR_get_error();
    char reason[256];
    if (e)
        ERR_error_string_n(e, reason, sizeof reason);
    else
        snprintf(reason, sizeof reason, "SSL error %d", err);
    ERR_clear_error();
    bench_conn_fail(c, BENCH_ERR_TLS, "TLS %s: %s", what, reason);
}

/* One handshake step; on completion hand over to the XMPP layer. */
static void handshake(struct bench_conn *c)
{
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        if (SSL_session_reused(c->ssl))
            c->b->tls_resumed++;
        else
            c->b->tls_full++;
        drain(c);
        if (!c->closing)
            bench_xmpp_tls_ready(c);
        return;
    }
    int err = SSL_get_error(c->ssl, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        drain(c);
        return;
    }
    tls_fail(c, "handshake", err);
}

bool bench_tls_begin(struct bench_conn *c)
{
    struct bench *b = c->b;
    SSL *ssl = SSL_new(b->ssl_ctx);
    BIO *rbio = BIO_new(BIO_s_mem()), *wbio = BIO_new(BIO_s_mem());
    if (!ssl || !rbio || !wbio) {
        SSL_free(ssl);
        BIO_free(rbio);
        BIO_free(wbio);
        bench_conn_fail(c, BENCH_ERR_TLS, "TLS: out of memory");
        return false;
    }
    BIO_set_mem_eof_return(rbio, -1); /* empty means "want more", not EOF */
    SSL_set_bio(ssl, rbio, wbio);
    SSL_set_connect_state(ssl);
    SSL_set_tlsext_host_name(ssl, b->opt.domain);
    if (b->opt.tls == BENCH_TLS_DIRECT) {
        static const unsigned char alpn[] = "\x0bxmpp-client";
        SSL_set_alpn_protos(ssl, alpn, sizeof alpn - 1);
    }
    if (b->opt.tls_resume && b->ntls_pool > 0) {
        SSL_SESSION *sess = b->tls_pool[--b->ntls_pool]; /* newest first */
        SSL_set_session(ssl, sess);
        SSL_SESSION_free(sess);
    } else if (b->opt.tls_resume && b->tls_session) {
        SSL_set_session(ssl, b->tls_session);
    }
    c->ssl = ssl;
    c->tls_on = true;
    c->state = BENCH_CS_TLS;
    handshake(c);
    return !c->closing;
}

void bench_tls_input(struct bench_conn *c, const char *p, size_t n)
{
    BIO_write(SSL_get_rbio(c->ssl), p, (int)n);
    if (!SSL_is_init_finished(c->ssl)) {
        handshake(c);
        if (c->closing || !SSL_is_init_finished(c->ssl))
            return;
    }
    for (;;) {
        int r = SSL_read(c->ssl, c->b->tbuf, (int)sizeof c->b->tbuf);
        if (r > 0) {
            bench_conn_feed(c, c->b->tbuf, (size_t)r);
            if (c->closing)
                return;
            continue;
        }
        int err = SSL_get_error(c->ssl, r);
        if (err == SSL_ERROR_WANT_READ)
            break;
        if (err == SSL_ERROR_ZERO_RETURN) {
            bench_conn_fail(c, BENCH_ERR_CLOSED, "server closed TLS (close_notify)");
            return;
        }
        tls_fail(c, "read", err);
        return;
    }
    drain(c); /* post-handshake messages */
}

void bench_tls_flush(struct bench_conn *c)
{
    if (c->out.len > 0 && SSL_is_init_finished(c->ssl)) {
        int r = SSL_write(c->ssl, c->out.data, (int)c->out.len);
        c->out.len = 0;
        if (r <= 0) {
            tls_fail(c, "write", SSL_get_error(c->ssl, r));
            return;
        }
    }
    drain(c);
}

void bench_tls_shutdown(struct bench_conn *c)
{
    bench_tls_flush(c);
    if (uv_is_closing((uv_handle_t *)&c->tcp) || !SSL_is_init_finished(c->ssl))
        return;
    (void)SSL_shutdown(c->ssl);
    ERR_clear_error();
    drain(c);
}

void bench_tls_free(struct bench_conn *c)
{
    if (c->ssl) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
}
