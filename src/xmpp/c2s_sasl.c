/*
 * c2s_sasl.c: SASL negotiation on a client stream (RFC 6120 section 6).
 *
 * Mechanisms: SCRAM-SHA-1/256/512 and their -PLUS variants (channel binding
 * tls-exporter or tls-server-end-point, advertised per XEP-0440), and PLAIN
 * inside TLS only. The account's credentials come from storage
 * asynchronously; a PLAIN password is checked by a key derivation on the
 * thread pool, never on the loop. Every failure to authenticate is the same
 * not-authorized, whether the account exists or not.
 */
#include <stdlib.h>
#include <string.h>

#include "canto/base64.h"
#include "canto/log.h"
#include "canto/storage.h"
#include "xmpp/c2s_internal.h"

enum sasl_step {
    SASL_WAIT_INITIAL,   /* <auth> without initial response: client-first next */
    SASL_WAIT_CREDS,     /* storage lookup in flight */
    SASL_WAIT_FINAL,     /* SCRAM server-first sent */
    SASL_WAIT_CHECK,     /* PLAIN password being checked on the thread pool */
};

struct c2s_sasl {
    enum sasl_step step;
    bool plain;                      /* PLAIN, else SCRAM */
    enum canto_hash hash;            /* SCRAM hash */
    struct canto_scram_server *scram;
    char *local;                     /* prepared localpart being authenticated */
    char *password;                  /* PLAIN only, wiped */
};

struct plain_check {
    uv_work_t work;
    struct canto_c2s *c;
    struct canto_scram_cred cred;
    char *password;
    bool ok;
};

static const char *const scram_mechs[] = {"SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1"};

void c2s_sasl_features(struct canto_c2s *c, struct canto_buf *out)
{
    bool tls = canto_transport_is_secure(c->stream.transport);
    canto_buf_append_str(out, "<mechanisms xmlns='" CANTO_NS_SASL "'>");
    if (tls)
        for (size_t i = 0; i < CANTO_ARRAY_LEN(scram_mechs); i++)
            canto_buf_appendf(out, "<mechanism>%s-PLUS</mechanism>", scram_mechs[i]);
    for (size_t i = 0; i < CANTO_ARRAY_LEN(scram_mechs); i++)
        canto_buf_appendf(out, "<mechanism>%s</mechanism>", scram_mechs[i]);
    if (tls)
        canto_buf_append_str(out, "<mechanism>PLAIN</mechanism>");
    canto_buf_append_str(out, "</mechanisms>");
    if (tls) {
        static const char *const types[] = {CANTO_CB_TLS_EXPORTER, CANTO_CB_TLS_SERVER_END_POINT,
                                            CANTO_CB_TLS_UNIQUE};
        canto_buf_append_str(out, "<sasl-channel-binding xmlns='" CANTO_NS_SASL_CB "'>");
        for (size_t i = 0; i < CANTO_ARRAY_LEN(types); i++)
            if (canto_transport_has_channel_binding(c->stream.transport, types[i]))
                canto_buf_appendf(out, "<channel-binding type='%s'/>", types[i]);
        canto_buf_append_str(out, "</sasl-channel-binding>");
    }
}

void c2s_sasl_free(struct canto_c2s *c)
{
    struct c2s_sasl *s = c->sasl;
    if (!s)
        return;
    canto_scram_server_free(s->scram);
    free(s->local);
    canto_free_secret(s->password);
    free(s);
    c->sasl = NULL;
}

static void sasl_failure(struct canto_c2s *c, const char *condition)
{
    c2s_sasl_free(c);
    struct canto_buf b = {0};
    canto_buf_appendf(&b, "<failure xmlns='" CANTO_NS_SASL "'><%s/></failure>", condition);
    c2s_send_str(c, b.data);
    canto_buf_free(&b);
    if (++c->sasl_failures >= C2S_MAX_SASL_FAILURES)
        c2s_stream_error(c, "policy-violation", "Too many failed authentication attempts");
}

static void sasl_success(struct canto_c2s *c, const struct canto_buf *additional)
{
    struct canto_buf b = {0};
    canto_buf_append_str(&b, "<success xmlns='" CANTO_NS_SASL "'>");
    if (additional && additional->len)
        canto_base64_encode(&b, additional->data, additional->len);
    canto_buf_append_str(&b, "</success>");
    c2s_send_str(c, b.data);
    canto_buf_free(&b);
    c->authed_local = c->sasl->local;
    c->sasl->local = NULL;
    c2s_sasl_free(c);
    c->state = C2S_AUTHED;
    c2s_restart(c);
    canto_transport_set_deadline(c->stream.transport, 0);
    canto_transport_set_timeout(c->stream.transport, c->svc->limits.idle_timeout_ms);
    canto_info("%s: authenticated as %s@%s", canto_transport_peer(c->stream.transport), c->authed_local,
               c->svc->ops->host_name(c->host));
}

static void send_challenge(struct canto_c2s *c, const char *data, size_t len)
{
    struct canto_buf b = {0};
    canto_buf_append_str(&b, "<challenge xmlns='" CANTO_NS_SASL "'>");
    canto_base64_encode(&b, data, len);
    canto_buf_append_str(&b, "</challenge>");
    c2s_send_str(c, b.data);
    canto_buf_free(&b);
}

/* An authorization identity is accepted only when it names the same account. */
static bool authzid_ok(struct canto_c2s *c, const char *authzid)
{
    if (!authzid || !*authzid)
        return true;
    struct canto_jid j;
    if (canto_jid_parse_str(&j, authzid) != CANTO_OK)
        return false;
    bool ok = j.local && !j.resource && strcmp(j.domain, c->svc->ops->host_name(c->host)) == 0 &&
              c->sasl->local && strcmp(j.local, c->sasl->local) == 0;
    canto_jid_free(&j);
    return ok;
}

static void plain_work(uv_work_t *w)
{
    struct plain_check *pc = canto_container_of(w, struct plain_check, work);
    pc->ok = canto_scram_cred_check_password(&pc->cred, pc->password);
}

static void plain_done(uv_work_t *w, int status)
{
    struct plain_check *pc = canto_container_of(w, struct plain_check, work);
    struct canto_c2s *c = pc->c;
    bool ok = status == 0 && pc->ok;
    canto_free_secret(pc->password);
    canto_wipe(&pc->cred, sizeof pc->cred);
    free(pc);
    if (!c2s_unref(c) || !c->sasl)
        return;
    if (ok)
        sasl_success(c, NULL);
    else
        sasl_failure(c, "not-authorized");
}

static int cb_data(void *ud, const char *type, unsigned char *out, size_t size)
{
    struct canto_c2s *c = ud;
    return c->stream.transport ? canto_transport_channel_binding(c->stream.transport, type, out, size) : -1;
}

static void creds_found(void *ud, int rc, const struct canto_scram_cred *creds, size_t n)
{
    struct canto_c2s *c = ud;
    if (!c2s_unref(c) || !c->sasl)
        return;
    struct c2s_sasl *s = c->sasl;
    const struct canto_scram_cred *cred = NULL;
    for (size_t i = 0; rc == CANTO_OK && i < n; i++) {
        if (s->plain ? (!cred || creds[i].hash == CANTO_HASH_SHA256) : creds[i].hash == s->hash)
            cred = &creds[i];
    }
    if (rc != CANTO_OK && rc != CANTO_NOTFOUND)
        canto_warn("credentials lookup failed for %s: %s", s->local, canto_rc_str(rc));
    if (s->plain) {
        struct plain_check *pc = canto_xcalloc(1, sizeof(*pc));
        pc->c = c;
        if (cred) {
            pc->cred = *cred;
        } else {
            /* No such account: check against a credential no password
             * matches, at the same cost, so timing does not tell. */
            pc->cred.hash = CANTO_HASH_SHA256;
            pc->cred.iterations = CANTO_SCRAM_DEFAULT_ITERATIONS;
            pc->cred.salt_len = CANTO_SCRAM_SALT_LEN;
        }
        pc->password = s->password;
        s->password = NULL;
        s->step = SASL_WAIT_CHECK;
        c2s_ref(c);
        if (c->svc->ops->queue_work(c->svc->core, &pc->work, plain_work, plain_done) != 0) {
            c2s_unref(c);
            canto_free_secret(pc->password);
            free(pc);
            sasl_failure(c, "temporary-auth-failure");
        }
        return;
    }
    struct canto_buf out = {0};
    if (canto_scram_server_first(s->scram, cred, c->svc->fake_secret, c->svc->fake_secret_len,
                                 &out) != CANTO_OK) {
        canto_buf_free(&out);
        sasl_failure(c, "temporary-auth-failure");
        return;
    }
    s->step = SASL_WAIT_FINAL;
    send_challenge(c, out.data, out.len);
    canto_buf_free(&out);
}

static void lookup_creds(struct canto_c2s *c)
{
    struct c2s_sasl *s = c->sasl;
    s->step = SASL_WAIT_CREDS;
    c2s_ref(c);
    /* A name that is not a valid localpart cannot have an account; the
     * lookup still happens so that it answers like any unknown account. */
    canto_storage_account_get_creds(c->svc->storage, c->svc->ops->host_name(c->host),
                                    s->local ? s->local : "", creds_found, c);
}

/* PLAIN (RFC 4616): [authzid] NUL authcid NUL password. */
static void plain_start(struct canto_c2s *c, const char *msg, size_t len)
{
    const char *nul1 = memchr(msg, '\0', len);
    const char *nul2 = nul1 ? memchr(nul1 + 1, '\0', len - (size_t)(nul1 + 1 - msg)) : NULL;
    if (!nul2 || memchr(nul2 + 1, '\0', len - (size_t)(nul2 + 1 - msg))) {
        sasl_failure(c, "malformed-request");
        return;
    }
    char *authcid = canto_xstrndup(nul1 + 1, (size_t)(nul2 - nul1 - 1));
    char *authzid = canto_xstrndup(msg, (size_t)(nul1 - msg));
    c->sasl->local = canto_jid_prep_local(authcid);
    c->sasl->password = canto_xstrndup(nul2 + 1, len - (size_t)(nul2 + 1 - msg));
    free(authcid);
    bool ok = authzid_ok(c, authzid);
    free(authzid);
    if (!ok) {
        sasl_failure(c, "invalid-authzid");
        return;
    }
    lookup_creds(c);
}

static void scram_client_first(struct canto_c2s *c, const char *msg, size_t len)
{
    const char *username = NULL, *authzid = NULL;
    int rc = canto_scram_server_client_first(c->sasl->scram, msg, len, &username, &authzid);
    if (rc == CANTO_INVALID) {
        sasl_failure(c, "malformed-request");
        return;
    }
    if (rc != CANTO_OK) {
        sasl_failure(c, "not-authorized");
        return;
    }
    c->sasl->local = canto_jid_prep_local(username);
    if (!authzid_ok(c, authzid)) {
        sasl_failure(c, "invalid-authzid");
        return;
    }
    lookup_creds(c);
}

static void initial_response(struct canto_c2s *c, const char *msg, size_t len)
{
    if (c->sasl->plain)
        plain_start(c, msg, len);
    else
        scram_client_first(c, msg, len);
}

/* Decode the base64 payload; "=" is an empty response (RFC 6120 6.4.2). */
static int decode_payload(struct canto_stanza *st, struct canto_buf *out)
{
    const char *text = canto_xml_text(st, st->root);
    size_t len = strlen(text);
    if (len == 1 && text[0] == '=')
        return CANTO_OK;
    return canto_base64_decode(out, text, len);
}

static void handle_auth(struct canto_c2s *c, struct canto_stanza *st)
{
    if (c->sasl) {
        sasl_failure(c, "aborted"); /* a new <auth> aborts the old attempt */
        return;
    }
    const char *mech = canto_xml_attr(st->root, "mechanism");
    bool tls = canto_transport_is_secure(c->stream.transport);
    enum canto_hash hash = CANTO_HASH_SHA256;
    bool plus = false, plain = false;
    if (mech && strcmp(mech, "PLAIN") == 0) {
        if (!tls) {
            c->sasl_failures--; /* not a guess at a password */
            sasl_failure(c, "encryption-required");
            return;
        }
        plain = true;
    } else if (!mech || canto_scram_mech_parse(mech, &hash, &plus) != CANTO_OK || (plus && !tls)) {
        sasl_failure(c, "invalid-mechanism");
        return;
    }
    c->sasl = canto_xcalloc(1, sizeof(*c->sasl));
    c->sasl->plain = plain;
    c->sasl->hash = hash;
    if (!plain)
        c->sasl->scram = canto_scram_server_new(hash, plus, tls, cb_data, c);
    struct canto_buf payload = {0};
    const char *text = canto_xml_text(st, st->root);
    if (!*text) {
        c->sasl->step = SASL_WAIT_INITIAL;
        c2s_send_str(c, "<challenge xmlns='" CANTO_NS_SASL "'/>");
        return;
    }
    if (decode_payload(st, &payload) != CANTO_OK) {
        canto_buf_free(&payload);
        sasl_failure(c, "malformed-request");
        return;
    }
    initial_response(c, payload.data ? payload.data : "", payload.len);
    canto_buf_free_secret(&payload);
}

static void handle_response(struct canto_c2s *c, struct canto_stanza *st)
{
    struct c2s_sasl *s = c->sasl;
    if (!s || (s->step != SASL_WAIT_INITIAL && s->step != SASL_WAIT_FINAL)) {
        sasl_failure(c, "malformed-request");
        return;
    }
    struct canto_buf payload = {0};
    if (decode_payload(st, &payload) != CANTO_OK) {
        canto_buf_free(&payload);
        sasl_failure(c, "malformed-request");
        return;
    }
    const char *data = payload.data ? payload.data : "";
    if (s->step == SASL_WAIT_INITIAL) {
        initial_response(c, data, payload.len);
        canto_buf_free_secret(&payload);
        return;
    }
    struct canto_buf out = {0};
    int rc = canto_scram_server_final(s->scram, data, payload.len, &out);
    canto_buf_free_secret(&payload);
    if (rc == CANTO_OK)
        sasl_success(c, &out);
    else
        sasl_failure(c, rc == CANTO_INVALID ? "malformed-request" : "not-authorized");
    canto_buf_free(&out);
}

void c2s_sasl_handle(struct canto_c2s *c, struct canto_stanza *st)
{
    const char *name = st->root->name;
    if (c->sasl && (c->sasl->step == SASL_WAIT_CREDS || c->sasl->step == SASL_WAIT_CHECK)) {
        /* The client must wait for our answer (RFC 6120 6.4). */
        c2s_stream_error(c, "policy-violation", "SASL element out of order");
        return;
    }
    if (strcmp(name, "auth") == 0) {
        handle_auth(c, st);
    } else if (strcmp(name, "response") == 0) {
        handle_response(c, st);
    } else if (strcmp(name, "abort") == 0) {
        c->sasl_failures--; /* aborting is not a failed guess */
        sasl_failure(c, "aborted");
    } else {
        sasl_failure(c, "malformed-request");
    }
}
