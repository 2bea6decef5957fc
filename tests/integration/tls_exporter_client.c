/*
 * tls_exporter_client: a minimal XMPP client on OpenSSL alone that logs in
 * with SCRAM-*-PLUS and a channel binding it computes itself, so the tests
 * (test_channel_binding.py, test_sni.py) can check the one binding that no
 * Python or packaged client here computes: tls-exporter (RFC 9266, 32 bytes
 * of SSL_export_keying_material with the label "EXPORTER-Channel-Binding"
 * and no context). tls-server-end-point (RFC 5929) works too.
 *
 *   tls_exporter_client HOST PORT direct|starttls USER PASSWORD MECH CBTYPE
 *                       [1.2|1.3] [corrupt] [noems]
 *
 * USER is a localpart (the domain is then "localhost") or user@domain: the
 * domain goes into the stream's to= and into SNI. MECH is a SCRAM mechanism
 * (SCRAM-SHA-1/256/512, with -PLUS for channel binding); CBTYPE is the
 * binding type named in the gs2 header (ignored without -PLUS, where the
 * header is "n,,"). 1.2 or 1.3 caps the TLS version; "corrupt" flips one bit
 * of the binding data, which the server must refuse; "noems" turns off the
 * extended master secret extension (RFC 7627), without which TLS 1.2 must
 * not offer tls-exporter.
 *
 * The client speaks just enough XMPP, with blocking I/O and a deadline on
 * every wait (CLIENT_TIMEOUT seconds, default 10): stream header, STARTTLS
 * if asked, the SCRAM exchange (the server signature v= is verified), the
 * stream restart, resource binding, one ping to the server, and the closing
 * handshake. The password is used as given (no SASLprep): keep it ASCII.
 *
 * stdout, one fact per line, for the tests to read:
 *   TLS <version> <cipher> EXTMS <0|1>   the negotiated session
 *   PEER-CERT-SHA256 <hex>               hash of the server's certificate
 *   FEATURES <xml>                       the stream features after TLS
 *   MECHANISMS <m> <m> ...               SASL mechanisms offered after TLS
 *   CHANNEL-BINDINGS <t> <t> ...         XEP-0440 binding types offered
 *   CB-DATA <hex>                        the binding data sent (after corrupt)
 *   SASL-FAILURE <condition>             the server refused
 *   authenticated with <MECH> (<CBTYPE>) success and v= verified
 *   BOUND <jid>                          resource bound
 *   PONG                                 the ping was answered
 *   CLOSED                               closing handshake done
 * Diagnostics go to stderr.
 *
 * Exit status: 0 everything above succeeded; 1 SASL failure; 2 any other
 * failure (connection, TLS, protocol, stream error, bad server signature,
 * timeout); 64 usage.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, strndup */
#endif
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define EXIT_SASL 1
#define EXIT_FAIL 2
#define EXIT_USAGE 64

#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define CB_MAX 64

/* A growable byte string, always NUL-terminated. */
struct str {
    char *data;
    size_t len;
    size_t cap;
};

/* The connection: the socket, TLS once it is up, and what was received and
 * not yet consumed. */
struct conn {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    struct str in;      /* received bytes */
    size_t pos;         /* consumed up to here */
    double timeout;     /* seconds per wait */
};

_Noreturn static void die(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("tls_exporter_client: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    ERR_print_errors_fp(stderr);
    fflush(stdout);
    exit(status);
}

static void str_reserve(struct str *s, size_t more)
{
    if (s->len + more + 1 <= s->cap)
        return;
    size_t cap = s->cap ? s->cap : 256;
    while (cap < s->len + more + 1)
        cap *= 2;
    char *p = realloc(s->data, cap);
    if (!p)
        die(EXIT_FAIL, "out of memory");
    s->data = p;
    s->cap = cap;
}

static void str_add(struct str *s, const void *data, size_t len)
{
    str_reserve(s, len);
    memcpy(s->data + s->len, data, len);
    s->len += len;
    s->data[s->len] = '\0';
}

static void str_adds(struct str *s, const char *text)
{
    str_add(s, text, strlen(text));
}

static void str_free(struct str *s)
{
    if (s->data)
        OPENSSL_cleanse(s->data, s->cap);
    free(s->data);
    s->data = NULL;
    s->len = s->cap = 0;
}

static void str_b64(struct str *s, const unsigned char *data, size_t len)
{
    if (len > INT_MAX / 2)
        die(EXIT_FAIL, "base64 input too long");
    size_t out_len = 4 * ((len + 2) / 3);
    str_reserve(s, out_len);
    int n = EVP_EncodeBlock((unsigned char *)s->data + s->len, data, (int)len);
    s->len += (size_t)n;
    s->data[s->len] = '\0';
}

/* Decode standard base64 (padding required); false if it is not. */
static bool b64_decode(const char *text, size_t len, struct str *out)
{
    if (len % 4 != 0)
        return false;
    size_t pad = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (c == '=') {
            if (i + 2 < len)
                return false;
            pad++;
        } else if (pad || !(alnum || c == '+' || c == '/')) {
            return false;
        }
    }
    out->len = 0;
    str_reserve(out, len / 4 * 3);
    if (len == 0) {
        out->data[0] = '\0';
        return true;
    }
    int n = EVP_DecodeBlock((unsigned char *)out->data, (const unsigned char *)text, (int)len);
    if (n < 0 || (size_t)n < pad)
        return false;
    out->len = (size_t)n - pad;
    out->data[out->len] = '\0';
    return true;
}

static void print_hex(const char *label, const unsigned char *data, size_t len)
{
    printf("%s ", label);
    for (size_t i = 0; i < len; i++)
        printf("%02x", data[i]);
    putchar('\n');
}

/* A decimal number in [lo, hi]; false on anything else. */
static bool parse_ulong(const char *s, size_t len, unsigned long lo, unsigned long hi,
                        unsigned long *out)
{
    char buf[32];
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    for (size_t i = 0; i < len; i++)
        if (buf[i] < '0' || buf[i] > '9')
            return false;
    errno = 0;
    char *end = NULL;
    unsigned long v = strtoul(buf, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------------
 * Transport */

static void conn_open(struct conn *c, const char *host, const char *port)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0)
        die(EXIT_FAIL, "cannot resolve %s:%s: %s", host, port, gai_strerror(rc));
    c->fd = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            c->fd = fd;
            break;
        }
        close(fd);
    }
    freeaddrinfo(res);
    if (c->fd < 0)
        die(EXIT_FAIL, "cannot connect to %s:%s: %s", host, port, strerror(errno));
    /* Short socket timeouts; the deadline per wait is kept in read_until. */
    struct timeval tv = {.tv_sec = 1, .tv_usec = 0};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct timeval stv = {.tv_sec = (time_t)c->timeout, .tv_usec = 0};
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &stv, sizeof stv);
}

static void conn_send(struct conn *c, const char *data, size_t len)
{
    fprintf(stderr, "SENT: %.*s\n", (int)len, data);
    while (len > 0) {
        ssize_t n;
        if (c->ssl) {
            int w = SSL_write(c->ssl, data, len > INT_MAX ? INT_MAX : (int)len);
            if (w <= 0)
                die(EXIT_FAIL, "TLS write failed (SSL error %d)", SSL_get_error(c->ssl, w));
            n = w;
        } else {
            n = send(c->fd, data, len, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                die(EXIT_FAIL, "write failed: %s", strerror(errno));
        }
        data += n;
        len -= (size_t)n;
    }
}

static void conn_sends(struct conn *c, const char *text)
{
    conn_send(c, text, strlen(text));
}

/* Read one chunk into c->in. Returns false at EOF; keeps waiting through
 * socket timeouts until the deadline, then fails. */
static bool conn_fill(struct conn *c, double deadline, const char *waiting_for)
{
    char buf[16384];
    for (;;) {
        if (now() > deadline)
            die(EXIT_FAIL, "timed out waiting for /%s/; unread: %s", waiting_for,
                c->in.data ? c->in.data + c->pos : "");
        ssize_t n;
        if (c->ssl) {
            ERR_clear_error();
            errno = 0;
            int r = SSL_read(c->ssl, buf, sizeof buf);
            if (r > 0) {
                n = r;
            } else {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_ZERO_RETURN)
                    return false;
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ||
                    (e == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK ||
                                                errno == EINTR)))
                    continue;
                if (e == SSL_ERROR_SYSCALL && errno == 0)
                    return false; /* EOF without close_notify */
                die(EXIT_FAIL, "TLS read failed (SSL error %d, %s)", e, strerror(errno));
            }
        } else {
            n = recv(c->fd, buf, sizeof buf, 0);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                continue;
            if (n < 0)
                die(EXIT_FAIL, "read failed: %s", strerror(errno));
            if (n == 0)
                return false;
        }
        fprintf(stderr, "RECV: %.*s\n", (int)n, buf);
        str_add(&c->in, buf, (size_t)n);
        return true;
    }
}

/* Wait until the extended regex `pattern` matches the unread input; consume
 * through the match and return its offsets in *so / *eo (into c->in.data).
 * A stream error fails at once. Used with the simple, predictable XML that
 * cantod writes; this is a test client, not an XML parser. */
static void read_until(struct conn *c, const char *pattern, size_t *so, size_t *eo)
{
    regex_t rx, err_rx;
    if (regcomp(&rx, pattern, REG_EXTENDED) != 0 ||
        regcomp(&err_rx, "<stream:error>.*</stream:error>", REG_EXTENDED) != 0)
        die(EXIT_FAIL, "bad pattern %s", pattern);
    double deadline = now() + c->timeout;
    if (!c->in.data) {
        str_reserve(&c->in, 0);
        c->in.data[0] = '\0';
    }
    for (;;) {
        regmatch_t m[1];
        const char *unread = c->in.data + c->pos;
        if (regexec(&rx, unread, 1, m, 0) == 0) {
            *so = c->pos + (size_t)m[0].rm_so;
            *eo = c->pos + (size_t)m[0].rm_eo;
            c->pos = *eo;
            break;
        }
        if (regexec(&err_rx, unread, 1, m, 0) == 0) {
            printf("STREAM-ERROR %.*s\n", (int)(m[0].rm_eo - m[0].rm_so), unread + m[0].rm_so);
            die(EXIT_FAIL, "stream error while waiting for /%s/", pattern);
        }
        if (!conn_fill(c, deadline, pattern))
            die(EXIT_FAIL, "connection closed while waiting for /%s/; unread: %s", pattern,
                c->in.data + c->pos);
    }
    regfree(&rx);
    regfree(&err_rx);
}

/* Drop everything received so far (a new stream, or TLS starting). */
static void conn_reset_input(struct conn *c)
{
    c->in.len = 0;
    c->pos = 0;
    if (c->in.data)
        c->in.data[0] = '\0';
}

static void tls_start(struct conn *c, const char *sni, const char *tls_max, bool direct,
                      bool no_ems)
{
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (!c->ctx)
        die(EXIT_FAIL, "SSL_CTX_new failed");
    SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
    if (tls_max && strcmp(tls_max, "1.2") == 0)
        SSL_CTX_set_max_proto_version(c->ctx, TLS1_2_VERSION);
    else if (tls_max && strcmp(tls_max, "1.3") == 0)
        SSL_CTX_set_max_proto_version(c->ctx, TLS1_3_VERSION);
    if (no_ems)
        SSL_CTX_set_options(c->ctx, SSL_OP_NO_EXTENDED_MASTER_SECRET);
    /* The test certificate is self-signed: nothing is verified. */
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
    c->ssl = SSL_new(c->ctx);
    if (!c->ssl)
        die(EXIT_FAIL, "SSL_new failed");
    if (sni && *sni && SSL_set_tlsext_host_name(c->ssl, sni) != 1)
        die(EXIT_FAIL, "cannot set SNI %s", sni);
    if (direct) {
        static const unsigned char alpn[] = "\x0bxmpp-client";
        SSL_set_alpn_protos(c->ssl, alpn, sizeof alpn - 1);
    }
    SSL_set_fd(c->ssl, c->fd);
    double deadline = now() + c->timeout;
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int r = SSL_connect(c->ssl);
        if (r == 1)
            break;
        int e = SSL_get_error(c->ssl, r);
        bool again = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ||
                     (e == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK));
        if (!again || now() > deadline)
            die(EXIT_FAIL, "TLS handshake failed (SSL error %d)", e);
    }
    conn_reset_input(c);
    printf("TLS %s %s EXTMS %d\n", SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl),
           SSL_get_extms_support(c->ssl) == 1 ? 1 : 0);
    X509 *cert = SSL_get1_peer_certificate(c->ssl);
    if (!cert)
        die(EXIT_FAIL, "the server sent no certificate");
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (X509_digest(cert, EVP_sha256(), md, &md_len) != 1)
        die(EXIT_FAIL, "cannot hash the server certificate");
    print_hex("PEER-CERT-SHA256", md, md_len);
    X509_free(cert);
}

/* ------------------------------------------------------------------------
 * XMPP */

/* Send a stream header and return the features element, [*so, *eo). */
static void open_stream(struct conn *c, const char *domain, size_t *so, size_t *eo)
{
    struct str h = {0};
    str_adds(&h, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                 "xmlns:stream='http://etherx.jabber.org/streams' to='");
    str_adds(&h, domain);
    str_adds(&h, "' version='1.0'>");
    conn_reset_input(c);
    conn_send(c, h.data, h.len);
    str_free(&h);
    size_t a, b;
    read_until(c, "<stream:stream[^>]*>", &a, &b);
    read_until(c, "<stream:features/>|<stream:features>.*</stream:features>", so, eo);
}

/* Print every text of `<tag>TEXT</tag>` in [so, eo) as one line. */
static void print_texts(const char *label, const char *xml, size_t len, const char *pattern)
{
    regex_t rx;
    if (regcomp(&rx, pattern, REG_EXTENDED) != 0)
        die(EXIT_FAIL, "bad pattern %s", pattern);
    char *copy = malloc(len + 1);
    if (!copy)
        die(EXIT_FAIL, "out of memory");
    memcpy(copy, xml, len);
    copy[len] = '\0';
    fputs(label, stdout);
    regmatch_t m[2];
    const char *p = copy;
    while (regexec(&rx, p, 2, m, 0) == 0) {
        printf(" %.*s", (int)(m[1].rm_eo - m[1].rm_so), p + m[1].rm_so);
        p += m[0].rm_eo;
    }
    putchar('\n');
    free(copy);
    regfree(&rx);
}

static void print_features(struct conn *c, size_t so, size_t eo)
{
    const char *f = c->in.data + so;
    size_t len = eo - so;
    printf("FEATURES %.*s\n", (int)len, f);
    print_texts("MECHANISMS", f, len, "<mechanism>([^<]*)</mechanism>");
    print_texts("CHANNEL-BINDINGS", f, len, "<channel-binding type=['\"]([^'\"]*)['\"]");
}

/* The content between the element's start tag and end tag in [so, eo), or
 * empty for a self-closing element. */
static void element_text(const struct conn *c, size_t so, size_t eo, const char **text,
                         size_t *len)
{
    const char *start = c->in.data + so;
    const char *gt = memchr(start, '>', eo - so);
    *text = "";
    *len = 0;
    if (!gt || gt[-1] == '/')
        return;
    const char *end = c->in.data + eo;
    const char *lt = end;
    while (lt > gt && *lt != '<')
        lt--;
    *text = gt + 1;
    *len = (size_t)(lt - (gt + 1));
}

/* ------------------------------------------------------------------------
 * SCRAM (RFC 5802, RFC 7677) */

struct scram {
    const EVP_MD *md;
    size_t hlen;
    struct str gs2;           /* gs2 header */
    struct str first_bare;    /* client-first-message-bare */
    char nonce[33];           /* client nonce */
    unsigned char server_sig[EVP_MAX_MD_SIZE];
};

static bool hmac(const EVP_MD *md, const void *key, size_t key_len, const void *data,
                 size_t len, unsigned char *out)
{
    unsigned int n = 0;
    return HMAC(md, key, (int)key_len, data, len, out, &n) != NULL;
}

/* The binding data for `type` on this TLS session; returns its length. */
static size_t channel_binding(SSL *ssl, const char *type, unsigned char *out)
{
    if (strcmp(type, "tls-exporter") == 0) {
        static const char label[] = "EXPORTER-Channel-Binding";
        if (SSL_export_keying_material(ssl, out, 32, label, sizeof label - 1, NULL, 0, 0) != 1)
            die(EXIT_FAIL, "SSL_export_keying_material failed");
        return 32;
    }
    if (strcmp(type, "tls-server-end-point") == 0) {
        /* RFC 5929 4.1: the certificate's signature hash, MD5 and SHA-1
         * replaced by SHA-256. */
        X509 *cert = SSL_get1_peer_certificate(ssl);
        if (!cert)
            die(EXIT_FAIL, "no server certificate");
        int md_nid = NID_undef;
        if (!OBJ_find_sigid_algs(X509_get_signature_nid(cert), &md_nid, NULL))
            die(EXIT_FAIL, "unknown certificate signature algorithm");
        const EVP_MD *md = (md_nid == NID_md5 || md_nid == NID_sha1 || md_nid == NID_undef)
                               ? EVP_sha256()
                               : EVP_get_digestbynid(md_nid);
        unsigned int n = 0;
        if (!md || X509_digest(cert, md, out, &n) != 1 || n > CB_MAX)
            die(EXIT_FAIL, "cannot hash the server certificate");
        X509_free(cert);
        return n;
    }
    die(EXIT_FAIL, "this client cannot compute channel binding %s", type);
}

/* client-first-message: gs2 header + "n=user,r=nonce". */
static void scram_first(struct scram *s, const char *user, bool plus, const char *cbtype,
                        struct str *out)
{
    unsigned char rnd[24];
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        die(EXIT_FAIL, "RAND_bytes failed");
    EVP_EncodeBlock((unsigned char *)s->nonce, rnd, sizeof rnd);
    if (plus) {
        str_adds(&s->gs2, "p=");
        str_adds(&s->gs2, cbtype);
        str_adds(&s->gs2, ",,");
    } else {
        str_adds(&s->gs2, "n,,");
    }
    str_adds(&s->first_bare, "n=");
    for (const char *p = user; *p; p++) {
        if (*p == ',')
            str_adds(&s->first_bare, "=2C");
        else if (*p == '=')
            str_adds(&s->first_bare, "=3D");
        else
            str_add(&s->first_bare, p, 1);
    }
    str_adds(&s->first_bare, ",r=");
    str_adds(&s->first_bare, s->nonce);
    str_add(out, s->gs2.data, s->gs2.len);
    str_add(out, s->first_bare.data, s->first_bare.len);
}

/* Find attribute `name` ("r", "s", "i", "v", "e") in a SCRAM message. */
static bool scram_attr(const char *msg, size_t len, char name, const char **val, size_t *vlen)
{
    const char *p = msg, *end = msg + len;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        if (stop - p >= 2 && p[0] == name && p[1] == '=') {
            *val = p + 2;
            *vlen = (size_t)(stop - p - 2);
            return true;
        }
        p = stop + 1;
    }
    return false;
}

/* client-final-message from the server-first-message; remembers the
 * expected server signature. */
static void scram_final(struct scram *s, const char *password, const char *server_first,
                        size_t sf_len, const unsigned char *cb, size_t cb_len, struct str *out)
{
    const char *r, *salt64, *iter;
    size_t r_len, salt_len, iter_len;
    unsigned long iterations = 0;
    struct str salt = {0}, cbind = {0}, without_proof = {0}, auth = {0};
    unsigned char salted[EVP_MAX_MD_SIZE], client_key[EVP_MAX_MD_SIZE];
    unsigned char stored_key[EVP_MAX_MD_SIZE], client_sig[EVP_MAX_MD_SIZE];
    unsigned char server_key[EVP_MAX_MD_SIZE], proof[EVP_MAX_MD_SIZE];

    if (!scram_attr(server_first, sf_len, 'r', &r, &r_len) ||
        !scram_attr(server_first, sf_len, 's', &salt64, &salt_len) ||
        !scram_attr(server_first, sf_len, 'i', &iter, &iter_len))
        die(EXIT_FAIL, "malformed server-first-message: %.*s", (int)sf_len, server_first);
    size_t cn_len = strlen(s->nonce);
    if (r_len <= cn_len || memcmp(r, s->nonce, cn_len) != 0)
        die(EXIT_FAIL, "server nonce does not extend ours: %.*s", (int)r_len, r);
    if (!b64_decode(salt64, salt_len, &salt) || salt.len == 0)
        die(EXIT_FAIL, "bad salt in server-first-message");
    if (!parse_ulong(iter, iter_len, 1, 100000000, &iterations))
        die(EXIT_FAIL, "bad iteration count in server-first-message");

    str_add(&cbind, s->gs2.data, s->gs2.len);
    str_add(&cbind, cb, cb_len);
    str_adds(&without_proof, "c=");
    str_b64(&without_proof, (const unsigned char *)cbind.data, cbind.len);
    str_adds(&without_proof, ",r=");
    str_add(&without_proof, r, r_len);

    str_add(&auth, s->first_bare.data, s->first_bare.len);
    str_adds(&auth, ",");
    str_add(&auth, server_first, sf_len);
    str_adds(&auth, ",");
    str_add(&auth, without_proof.data, without_proof.len);

    unsigned int n = 0;
    if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), (unsigned char *)salt.data,
                          (int)salt.len, (int)iterations, s->md, (int)s->hlen, salted) != 1 ||
        !hmac(s->md, salted, s->hlen, "Client Key", 10, client_key) ||
        EVP_Digest(client_key, s->hlen, stored_key, &n, s->md, NULL) != 1 ||
        !hmac(s->md, stored_key, s->hlen, auth.data, auth.len, client_sig) ||
        !hmac(s->md, salted, s->hlen, "Server Key", 10, server_key) ||
        !hmac(s->md, server_key, s->hlen, auth.data, auth.len, s->server_sig))
        die(EXIT_FAIL, "SCRAM computation failed");
    for (size_t i = 0; i < s->hlen; i++)
        proof[i] = client_key[i] ^ client_sig[i];

    str_add(out, without_proof.data, without_proof.len);
    str_adds(out, ",p=");
    str_b64(out, proof, s->hlen);

    OPENSSL_cleanse(salted, sizeof salted);
    OPENSSL_cleanse(client_key, sizeof client_key);
    OPENSSL_cleanse(server_key, sizeof server_key);
    str_free(&salt);
    str_free(&cbind);
    str_free(&without_proof);
    str_free(&auth);
}

/* Check the server-final-message "v=..." against what we computed. */
static void scram_verify(const struct scram *s, const char *msg, size_t len)
{
    const char *v;
    size_t vlen;
    struct str sig = {0};
    if (scram_attr(msg, len, 'e', &v, &vlen)) {
        printf("SERVER-ERROR %.*s\n", (int)vlen, v);
        die(EXIT_FAIL, "server-final-message carries an error");
    }
    if (!scram_attr(msg, len, 'v', &v, &vlen) || !b64_decode(v, vlen, &sig))
        die(EXIT_FAIL, "server-final-message without a valid v=: %.*s", (int)len, msg);
    if (sig.len != s->hlen || CRYPTO_memcmp(sig.data, s->server_sig, s->hlen) != 0) {
        puts("SERVER-SIGNATURE-MISMATCH");
        die(EXIT_FAIL, "the server signature does not verify");
    }
    str_free(&sig);
}

#define SASL_REPLY                                                                        \
    "<challenge[^>]*/>|<challenge[^>]*>[^<]*</challenge>|<success[^>]*/>|"                 \
    "<success[^>]*>[^<]*</success>|<failure[^>]*/>|<failure[^>]*>.*</failure>"

/* Wait for a SASL reply; on <failure/> print its condition and exit 1.
 * Returns true for <success/>, false for <challenge/>; *data is the
 * decoded payload. */
static bool sasl_reply(struct conn *c, struct str *data)
{
    size_t so, eo;
    read_until(c, SASL_REPLY, &so, &eo);
    const char *el = c->in.data + so;
    const char *text;
    size_t len;
    element_text(c, so, eo, &text, &len);
    if (strncmp(el, "<failure", 8) == 0) {
        regex_t rx;
        regmatch_t m[2];
        char *copy = strndup(text, len);
        if (!copy || regcomp(&rx, "<([a-z-]+)", REG_EXTENDED) != 0)
            die(EXIT_FAIL, "out of memory");
        if (regexec(&rx, copy, 2, m, 0) == 0)
            printf("SASL-FAILURE %.*s\n", (int)(m[1].rm_eo - m[1].rm_so), copy + m[1].rm_so);
        else
            puts("SASL-FAILURE");
        regfree(&rx);
        free(copy);
        die(EXIT_SASL, "authentication failed");
    }
    if (!(len == 1 && text[0] == '=') && !b64_decode(text, len, data))
        die(EXIT_FAIL, "undecodable SASL payload");
    return strncmp(el, "<success", 8) == 0;
}

static void authenticate(struct conn *c, const char *user, const char *password,
                         const char *mech, const char *cbtype, bool corrupt)
{
    struct scram s = {0};
    size_t mlen = strlen(mech);
    bool plus = mlen > 5 && strcmp(mech + mlen - 5, "-PLUS") == 0;
    if (strncmp(mech, "SCRAM-SHA-1", 11) == 0 && (mech[11] == '\0' || mech[11] == '-'))
        s.md = EVP_sha1();
    else if (strncmp(mech, "SCRAM-SHA-256", 13) == 0 && (mech[13] == '\0' || mech[13] == '-'))
        s.md = EVP_sha256();
    else if (strncmp(mech, "SCRAM-SHA-512", 13) == 0 && (mech[13] == '\0' || mech[13] == '-'))
        s.md = EVP_sha512();
    else
        die(EXIT_USAGE, "unsupported mechanism %s", mech);
    s.hlen = (size_t)EVP_MD_get_size(s.md);

    unsigned char cb[CB_MAX];
    size_t cb_len = 0;
    if (plus) {
        cb_len = channel_binding(c->ssl, cbtype, cb);
        if (corrupt)
            cb[cb_len / 2] ^= 0x01;
        print_hex("CB-DATA", cb, cb_len);
    }

    struct str msg = {0}, xml = {0}, reply = {0};
    scram_first(&s, user, plus, cbtype, &msg);
    str_adds(&xml, "<auth xmlns='" NS_SASL "' mechanism='");
    str_adds(&xml, mech);
    str_adds(&xml, "'>");
    str_b64(&xml, (const unsigned char *)msg.data, msg.len);
    str_adds(&xml, "</auth>");
    conn_send(c, xml.data, xml.len);

    if (sasl_reply(c, &reply))
        die(EXIT_FAIL, "<success/> before the SCRAM exchange ended");
    msg.len = 0;
    scram_final(&s, password, reply.data ? reply.data : "", reply.len, cb, cb_len, &msg);
    xml.len = 0;
    str_adds(&xml, "<response xmlns='" NS_SASL "'>");
    str_b64(&xml, (const unsigned char *)msg.data, msg.len);
    str_adds(&xml, "</response>");
    conn_send(c, xml.data, xml.len);

    reply.len = 0;
    if (!sasl_reply(c, &reply)) {
        /* server-final-message as a challenge (RFC 6120 6.3.10 allows it) */
        scram_verify(&s, reply.data ? reply.data : "", reply.len);
        conn_sends(c, "<response xmlns='" NS_SASL "'/>");
        struct str empty = {0};
        if (!sasl_reply(c, &empty))
            die(EXIT_FAIL, "a challenge after server-final-message");
        str_free(&empty);
    } else {
        scram_verify(&s, reply.data ? reply.data : "", reply.len);
    }
    printf("authenticated with %s (%s)\n", mech, plus ? cbtype : "none");
    OPENSSL_cleanse(s.server_sig, sizeof s.server_sig);
    str_free(&s.gs2);
    str_free(&s.first_bare);
    str_free(&msg);
    str_free(&xml);
    str_free(&reply);
}

/* Send an iq and wait for its answer (matched by id); returns [so, eo). */
static void iq(struct conn *c, const char *id, const char *xml, size_t *so, size_t *eo)
{
    conn_sends(c, xml);
    struct str rx = {0};
    str_adds(&rx, "<iq [^>]*id=['\"]");
    str_adds(&rx, id);
    str_adds(&rx, "['\"][^>]*/>|<iq [^>]*id=['\"]");
    str_adds(&rx, id);
    str_adds(&rx, "['\"]([^>]*[^/])?>.*</iq>");
    read_until(c, rx.data, so, eo);
    str_free(&rx);
}

static bool has_type(const char *el, size_t len, const char *type)
{
    const char *gt = memchr(el, '>', len);
    size_t tag_len = gt ? (size_t)(gt - el) : len;
    char a[32], b[32];
    snprintf(a, sizeof a, "type='%s'", type);
    snprintf(b, sizeof b, "type=\"%s\"", type);
    return memmem(el, tag_len, a, strlen(a)) || memmem(el, tag_len, b, strlen(b));
}

static void usage(void)
{
    fputs("usage: tls_exporter_client HOST PORT direct|starttls USER[@DOMAIN] PASSWORD MECH "
          "CBTYPE [1.2|1.3] [corrupt] [noems]\n",
          stderr);
    exit(EXIT_USAGE);
}

int main(int argc, char **argv)
{
    if (argc < 8)
        usage();
    const char *host = argv[1], *port = argv[2], *mode = argv[3], *jid = argv[4];
    const char *password = argv[5], *mech = argv[6], *cbtype = argv[7];
    const char *tls_max = NULL;
    bool corrupt = false, no_ems = false;
    for (int i = 8; i < argc; i++) {
        if (strcmp(argv[i], "1.2") == 0 || strcmp(argv[i], "1.3") == 0)
            tls_max = argv[i];
        else if (strcmp(argv[i], "corrupt") == 0)
            corrupt = true;
        else if (strcmp(argv[i], "noems") == 0)
            no_ems = true;
        else
            usage();
    }
    bool direct = strcmp(mode, "direct") == 0;
    if (!direct && strcmp(mode, "starttls") != 0)
        usage();

    /* user@domain, or a bare localpart on "localhost" */
    char user[256], domain[256];
    const char *at = strchr(jid, '@');
    size_t ulen = at ? (size_t)(at - jid) : strlen(jid);
    const char *dom = at ? at + 1 : "localhost";
    if (ulen == 0 || ulen >= sizeof user || strlen(dom) == 0 || strlen(dom) >= sizeof domain)
        usage();
    memcpy(user, jid, ulen);
    user[ulen] = '\0';
    memcpy(domain, dom, strlen(dom) + 1);

    struct conn c = {0};
    c.timeout = 10;
    const char *t = getenv("CLIENT_TIMEOUT");
    unsigned long tv;
    if (t && parse_ulong(t, strlen(t), 1, 3600, &tv))
        c.timeout = (double)tv;

    size_t so, eo;
    conn_open(&c, host, port);
    if (direct) {
        tls_start(&c, domain, tls_max, true, no_ems);
    } else {
        open_stream(&c, domain, &so, &eo);
        if (!strstr(c.in.data + so, "<starttls"))
            die(EXIT_FAIL, "no <starttls/> offered");
        conn_sends(&c, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
        read_until(&c, "<proceed[^>]*/>|<proceed[^>]*>[^<]*</proceed>|<failure[^>]*/>", &so, &eo);
        if (strncmp(c.in.data + so, "<proceed", 8) != 0)
            die(EXIT_FAIL, "STARTTLS refused");
        tls_start(&c, domain, tls_max, false, no_ems);
    }
    open_stream(&c, domain, &so, &eo);
    print_features(&c, so, eo);
    fflush(stdout);

    authenticate(&c, user, password, mech, cbtype, corrupt);
    fflush(stdout);

    open_stream(&c, domain, &so, &eo);
    if (!strstr(c.in.data + so, "urn:ietf:params:xml:ns:xmpp-bind"))
        die(EXIT_FAIL, "no <bind/> offered after authentication");
    iq(&c, "bind1",
       "<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
       "<resource>cb</resource></bind></iq>",
       &so, &eo);
    if (!has_type(c.in.data + so, eo - so, "result"))
        die(EXIT_FAIL, "bind failed: %.*s", (int)(eo - so), c.in.data + so);
    {
        const char *b = strstr(c.in.data + so, "<jid>");
        const char *e = b ? strstr(b, "</jid>") : NULL;
        if (!b || !e || e > c.in.data + eo)
            die(EXIT_FAIL, "bind result without <jid/>");
        printf("BOUND %.*s\n", (int)(e - b - 5), b + 5);
    }

    struct str ping = {0};
    str_adds(&ping, "<iq type='get' id='ping1' to='");
    str_adds(&ping, domain);
    str_adds(&ping, "'><ping xmlns='urn:xmpp:ping'/></iq>");
    iq(&c, "ping1", ping.data, &so, &eo);
    str_free(&ping);
    if (!has_type(c.in.data + so, eo - so, "result"))
        die(EXIT_FAIL, "ping failed: %.*s", (int)(eo - so), c.in.data + so);
    puts("PONG");

    conn_sends(&c, "</stream:stream>");
    read_until(&c, "</stream:stream>", &so, &eo);
    puts("CLOSED");
    SSL_shutdown(c.ssl);
    SSL_free(c.ssl);
    SSL_CTX_free(c.ctx);
    close(c.fd);
    str_free(&c.in);
    return 0;
}
