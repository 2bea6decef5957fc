/*
 * register.c: in-band registration (XEP-0077), the way Prosody and ejabberd
 * offer it to clients such as Gajim, Dino, Conversations, Psi and Profanity.
 *
 * Before authentication (the PREAUTH_IQ hook; the stream layer only passes
 * iqs on once TLS is up, or on a listener that allows plaintext) a client
 * asks for the fields and creates an account, when the host allows it
 * (allow_registration, off by default): the username is prepared with
 * Nodeprep, the password must pass the rule of password_problem(), and each
 * address may register only registration_throttle.per_ip accounts per
 * period (register_throttle.c). Credentials are SCRAM keys derived like
 * cantoctl's, with PBKDF2 on the libuv thread pool; the password is never
 * stored, and the answer goes out only once storage says the account is
 * durable.
 *
 * After authentication an account's owner may change its password and
 * remove the account, whether or not new registrations are allowed. After a
 * removal (storage deletes everything the account had) the result is sent
 * and then every session of the account is closed with a not-authorized
 * stream error, as XEP-0077 section 3.2 says.
 *
 * Errors follow XEP-0077's tables; the texts matter to clients, which show
 * them (Conversations reads a not-acceptable whose text mentions the
 * password as "password too weak", and a resource-constraint as "wait").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canto/account_state.h"
#include "canto/log.h"
#include "canto/module.h"
#include "canto/router.h"
#include "canto/scram.h"
#include "canto/server.h"
#include "canto/session.h"
#include "canto/stanza.h"
#include "canto/storage.h"
#include "modules/dataform.h"
#include "modules/register_throttle.h"

#define NS_REGISTER "jabber:iq:register"
#define NS_REGISTER_FEATURE "http://jabber.org/features/iq-register"

/* The password rule (docs/configuration.md, allow_registration): at least
 * this many characters (code points, after SASLprep) ... */
#define PASSWORD_MIN_CHARS 8
/* ... at most this many bytes (what cantoctl accepts), not the username. */

struct reg_state {
    struct canto_reg_throttle *throttle; /* registrations per address */
    struct canto_hashmap changing;       /* localparts with a password change in flight */
};

/* One asynchronous registration or password change: derivation on the
 * thread pool, then storage. */
struct reg_job {
    uv_work_t work;
    struct canto_module_inst *mi;
    struct canto_stanza *iq;          /* the request (a reference), to answer */
    struct canto_session *session;    /* registration: the unauthenticated stream
                                       * (a reference held); NULL: answer by routing */
    char *local;                      /* prepared username of the account */
    bool changing;                    /* a password change: its entry in st->changing */
    char *password;                   /* wiped and freed once derived */
    char addr[64];                    /* registration: the peer's address */
    uint64_t window;                  /* registration: the throttle window counted in */
    int derive_rc;                    /* result of the derivation */
    struct canto_scram_cred creds[CANTO_HASH_COUNT];
};


static bool registration_allowed(struct canto_module_inst *mi)
{
    return canto_module_option_bool(mi, "allow_registration");
}

/* --- answering ------------------------------------------------------------ */

/* Send r (consumed) to whoever asked: on the unauthenticated stream s, or
 * by routing (r's to is the requester's full JID). */
static void reply(struct canto_module_inst *mi, struct canto_session *s, struct canto_stanza *r)
{
    if (!r)
        return;
    if (s) {
        canto_session_send(s, r);
        canto_stanza_unref(r);
    } else {
        canto_route(mi->host->server, r);
    }
}

static void reply_error(struct canto_module_inst *mi, struct canto_session *s,
                        const struct canto_stanza *iq, enum canto_stanza_condition cond,
                        const char *text)
{
    reply(mi, s, canto_stanza_error(iq, cond, text));
}

/* --- reading a request ------------------------------------------------------ */

/* What a jabber:iq:register set carries, from the legacy elements or from a
 * submitted data form (which takes precedence, XEP-0077 section 6). */
struct reg_fields {
    const char *username; /* in the stanza's arena; NULL when absent */
    char *password;       /* a malloc'd copy (the stanza's copies are wiped), or NULL */
    bool remove;          /* <remove/> */
    bool remove_alone;    /* <remove/> is the query's only child */
};

/* A copy of the text of node, wiping the copies the stanza holds (the
 * text nodes, and the concatenation canto_xml_text may have made), so that
 * a password does not linger in the stanza's arena. */
static char *take_secret(struct canto_stanza *st, struct canto_xml_node *node)
{
    const char *text = canto_xml_text(st, node);
    char *copy = canto_xstrdup(text);
    canto_wipe((char *)text, strlen(text));
    for (struct canto_xml_node *c = node->children; c; c = c->next)
        if (c->kind == CANTO_XML_TEXT)
            canto_wipe((char *)c->text, c->text_len);
    return copy;
}

static void read_fields(struct canto_stanza *iq, struct canto_xml_node *q, struct reg_fields *f)
{
    memset(f, 0, sizeof *f);
    struct canto_xml_node *form = canto_dataform_submitted(q);
    if (form) {
        f->username = canto_dataform_value(iq, form, "username");
        struct canto_xml_node *pw = canto_dataform_field_node(form, "password");
        if (pw) {
            struct canto_xml_node *value = canto_xml_child(pw, "value", CANTO_NS_XDATA);
            f->password = value ? take_secret(iq, value) : canto_xstrdup("");
        }
        return;
    }
    size_t children = 0;
    for (struct canto_xml_node *n = canto_xml_first_element(q); n; n = canto_xml_next_element(n)) {
        children++;
        if (strcmp(n->ns, NS_REGISTER) != 0)
            continue;
        if (strcmp(n->name, "username") == 0 && !f->username)
            f->username = canto_xml_text(iq, n);
        else if (strcmp(n->name, "password") == 0 && !f->password)
            f->password = take_secret(iq, n);
        else if (strcmp(n->name, "remove") == 0)
            f->remove = true;
    }
    f->remove_alone = f->remove && children == 1;
}

static void fields_free(struct reg_fields *f)
{
    canto_free_secret(f->password);
    f->password = NULL;
}

/* Why password is not acceptable for the account local, or NULL if it is.
 * The rule: SASLprep must accept it (as SCRAM will prepare it), at least
 * PASSWORD_MIN_CHARS characters after that, at most CANTO_PASSWORD_MAX_BYTES
 * bytes, and not the username itself in any case (compared after Nodeprep,
 * which folds case). Every text names the password, for the clients that
 * look for that word. */
static const char *password_problem(const char *password, const char *local)
{
    if (strlen(password) > CANTO_PASSWORD_MAX_BYTES)
        return "The password is too long: at most 1023 bytes";
    char *prep = canto_saslprep(password);
    if (!prep)
        return "The password contains characters that are not allowed "
               "(control characters, for example)";
    size_t chars = 0;
    for (const unsigned char *p = (const unsigned char *)prep; *p; p++)
        chars += (*p & 0xC0) != 0x80;
    canto_free_secret(prep);
    if (chars < PASSWORD_MIN_CHARS)
        return "The password is too short: use at least 8 characters";
    char *as_name = canto_jid_prep_local(password);
    bool same = as_name && strcmp(as_name, local) == 0;
    canto_free_secret(as_name);
    if (same)
        return "The password must not be the same as the username";
    return NULL;
}

/* --- the jobs --------------------------------------------------------------- */

static void job_free(struct reg_job *j)
{
    if (j->changing) {
        struct reg_state *st = j->mi->state;
        canto_hashmap_remove(&st->changing, j->local);
    }
    canto_free_secret(j->password);
    canto_wipe(j->creds, sizeof j->creds);
    canto_stanza_unref(j->iq);
    free(j->local);
    free(j);
}

/* A registration that did not happen gives its throttle slot back. */
static void registration_failed(struct reg_job *j)
{
    struct reg_state *st = j->mi->state;
    canto_reg_throttle_give_back(st->throttle, j->addr, j->window);
}

/* The end of a registration job: true if its stream is still open (then
 * answer on it). The job's reference on the stream is dropped here. */
static bool stream_still_open(struct reg_job *j)
{
    struct canto_session *s = j->session;
    j->session = NULL;
    return canto_session_unref(s);
}

static void derive_work(uv_work_t *w)
{
    struct reg_job *j = canto_container_of(w, struct reg_job, work);
    j->derive_rc = canto_scram_creds_make_all(j->password, j->creds);
    canto_free_secret(j->password);
    j->password = NULL;
}

/* Queue the derivation; after_fn continues on the loop. CANTO_ERROR if the
 * thread pool refused (then nothing was queued). */
static int derive(struct reg_job *j, uv_after_work_cb after_fn)
{
    return canto_server_queue_work(j->mi->host->server, &j->work, derive_work, after_fn) == 0
               ? CANTO_OK
               : CANTO_ERROR;
}

/* --- registration (before authentication) ---------------------------------- */

static void account_created(void *ud, int rc)
{
    struct reg_job *j = ud;
    struct canto_session *s = j->session;
    const char *host = j->mi->host->name;
    if (rc == CANTO_OK) {
        canto_info("%s: registered %s@%s in-band", j->addr, j->local, host);
        /* A stanza may have found the name missing a moment ago: from now
         * on it exists, without waiting for that memory to expire. */
        canto_account_seen(j->mi->host, j->local);
    } else
        registration_failed(j);
    if (rc != CANTO_OK && rc != CANTO_CONFLICT)
        canto_warn("%s: cannot create %s@%s: %s", j->addr, j->local, host, canto_rc_str(rc));
    if (stream_still_open(j)) {
        if (rc == CANTO_OK)
            reply(j->mi, s, canto_iq_result(j->iq));
        else if (rc == CANTO_CONFLICT)
            reply_error(j->mi, s, j->iq, CANTO_COND_CONFLICT, "That username is already taken");
        else
            reply_error(j->mi, s, j->iq, CANTO_COND_INTERNAL_SERVER_ERROR,
                        "The account could not be created; try again later");
    }
    job_free(j);
}

static void registration_derived(uv_work_t *w, int status)
{
    struct reg_job *j = canto_container_of(w, struct reg_job, work);
    struct canto_session *s = j->session;
    if (status != 0 || j->derive_rc != CANTO_OK) {
        registration_failed(j);
        if (stream_still_open(j))
            reply_error(j->mi, s, j->iq, CANTO_COND_INTERNAL_SERVER_ERROR, NULL);
        job_free(j);
        return;
    }
    /* Nobody to tell any more: create nothing the client never heard of.
     * (unref returning true means the stream is alive, held by its
     * connection; the job takes its reference again for the next step.) */
    if (!canto_session_unref(s)) {
        j->session = NULL;
        registration_failed(j);
        job_free(j);
        return;
    }
    canto_session_ref(s);
    struct canto_host *h = j->mi->host;
    canto_storage_account_create(h->server->storage, h->name, j->local, j->creds,
                                 CANTO_HASH_COUNT, account_created, j);
}

/* The name is free (checked first, so that taken names cost no key
 * derivation): derive the credentials. */
static void name_checked(void *ud, int rc)
{
    struct reg_job *j = ud;
    struct canto_session *s = j->session;
    if (rc == CANTO_NOTFOUND && derive(j, registration_derived) == CANTO_OK)
        return;
    registration_failed(j);
    if (stream_still_open(j)) {
        if (rc == CANTO_OK)
            reply_error(j->mi, s, j->iq, CANTO_COND_CONFLICT, "That username is already taken");
        else
            reply_error(j->mi, s, j->iq, CANTO_COND_INTERNAL_SERVER_ERROR, NULL);
    }
    job_free(j);
}

/* "Try again in ..." for a throttled address. */
static void wait_text(char *out, size_t size, unsigned wait_s)
{
    if (wait_s < 120)
        snprintf(out, size,
                 "Too many accounts were registered from your address; try again in %u seconds",
                 wait_s);
    else
        snprintf(out, size,
                 "Too many accounts were registered from your address; try again in %u minutes",
                 (wait_s + 59) / 60);
}

/* Check a registration request and start it; every refusal is answered
 * here. Takes f->password when the registration goes ahead. */
static void register_account(struct canto_module_inst *mi, struct canto_session *s,
                             struct canto_stanza *iq, struct reg_fields *f)
{
    struct reg_state *st = mi->state;
    if (f->remove) {
        /* auth, not the default wait: the client must log in, then retry. */
        reply(mi, s, canto_stanza_error_typed(iq, CANTO_COND_UNEXPECTED_REQUEST, CANTO_ERRTYPE_AUTH,
                                              "Log in to remove an account"));
        return;
    }
    if (!f->username || !*f->username || !f->password || !*f->password) {
        reply_error(mi, s, iq, CANTO_COND_NOT_ACCEPTABLE, "Choose a username and a password");
        return;
    }
    char *local = canto_jid_prep_local(f->username);
    if (!local) {
        reply_error(mi, s, iq, CANTO_COND_JID_MALFORMED,
                    "That username cannot be used: no spaces and none of \" & ' / : < > @");
        return;
    }
    const char *problem = password_problem(f->password, local);
    if (problem) {
        reply_error(mi, s, iq, CANTO_COND_NOT_ACCEPTABLE, problem);
        free(local);
        return;
    }
    struct reg_job *j = canto_xcalloc(1, sizeof(*j));
    canto_session_peer_address(s, j->addr, sizeof j->addr);
    unsigned wait_s = 0;
    unsigned per_ip = (unsigned)canto_module_option_int(mi, "registration_throttle.per_ip");
    unsigned period = (unsigned)canto_module_option_int(mi, "registration_throttle.period");
    if (canto_reg_throttle_take(st->throttle, j->addr, per_ip, period, canto_now_ms(),
                                &j->window, &wait_s) != CANTO_OK) {
        char text[160];
        wait_text(text, sizeof text, wait_s);
        canto_info("%s: registration of %s@%s refused: too many from this address", j->addr,
                   local, mi->host->name);
        reply_error(mi, s, iq, CANTO_COND_RESOURCE_CONSTRAINT, text);
        free(local);
        free(j);
        return;
    }
    j->mi = mi;
    j->iq = canto_stanza_ref(iq);
    j->session = s;
    canto_session_ref(s);
    j->local = local;
    j->password = f->password;
    f->password = NULL;
    canto_storage_account_exists(mi->host->server->storage, mi->host->name, local, name_checked,
                                 j);
}

/* The registration form (the legacy fields and the same as a data form). */
static void registration_form(struct canto_module_inst *mi, struct canto_session *s,
                              struct canto_stanza *iq)
{
    static const char instructions[] = "Choose a username and password for use with this "
                                       "service.";
    struct canto_stanza *r = canto_iq_result(iq);
    struct canto_xml_node *q = canto_xml_add_child(r, r->root, "query", NS_REGISTER);
    canto_xml_add_text_child(r, q, "instructions", instructions);
    canto_xml_add_child(r, q, "username", NULL);
    canto_xml_add_child(r, q, "password", NULL);
    struct canto_xml_node *x = canto_dataform_new(r, q, "form", NS_REGISTER, "Account registration",
                                                  instructions);
    canto_dataform_field(r, x, "text-single", "username", "Username", NULL, true);
    canto_dataform_field(r, x, "text-private", "password", "Password", NULL, true);
    reply(mi, s, r);
}

/* A request from a stream that has not authenticated: only registration
 * with this host. Declined (the stream layer then closes the stream) for
 * anything else. */
static int preauth_iq(struct canto_module_inst *mi, struct canto_hook_event *ev)
{
    struct canto_stanza *iq = ev->stanza;
    struct canto_xml_node *q = canto_xml_first_element(iq->root);
    const char *type = canto_stanza_type(iq);
    if (!q || strcmp(q->name, "query") != 0 || strcmp(q->ns, NS_REGISTER) != 0)
        return CANTO_DECLINED;
    if (strcmp(type, "get") != 0 && strcmp(type, "set") != 0)
        return CANTO_DECLINED;
    const char *to = canto_xml_attr(iq->root, "to");
    if (to) {
        struct canto_jid j;
        if (canto_jid_parse_str(&j, to) != CANTO_OK)
            return CANTO_DECLINED;
        bool host = !j.local && !j.resource && strcmp(j.domain, mi->host->name) == 0;
        canto_jid_free(&j);
        if (!host)
            return CANTO_DECLINED;
    }
    if (!registration_allowed(mi)) {
        /* XEP-0077 section 3.1: a host without in-band registration. */
        reply_error(mi, ev->session, iq, CANTO_COND_SERVICE_UNAVAILABLE,
                    "In-band registration is not available on this server");
        return CANTO_OK;
    }
    if (strcmp(type, "get") == 0) {
        registration_form(mi, ev->session, iq);
    } else {
        struct reg_fields f;
        read_fields(iq, q, &f);
        register_account(mi, ev->session, iq, &f);
        fields_free(&f);
    }
    return CANTO_OK;
}

/* <register/> among the features of a stream that may register. */
static void register_features(struct canto_module_inst *mi, struct canto_session *s, bool authed,
                              struct canto_buf *out)
{
    if (!authed && registration_allowed(mi))
        canto_buf_append_str(out, "<register xmlns='" NS_REGISTER_FEATURE "'/>");
}

/* --- the account's owner (after authentication) ---------------------------- */

/* The account an authenticated request is about: its sender's, who must
 * be an account of this host, and, when it is addressed to an account, that
 * same one. CANTO_OK with acct filled (free it), or CANTO_ERROR after
 * answering. */
static int owner_account(struct canto_module_inst *mi, struct canto_stanza *iq,
                         struct canto_jid *acct)
{
    const char *from = canto_xml_attr(iq->root, "from");
    struct canto_jid f;
    if (!from || canto_jid_parse_str(&f, from) != CANTO_OK) {
        reply_error(mi, NULL, iq, CANTO_COND_BAD_REQUEST, NULL);
        return CANTO_ERROR;
    }
    if (!f.local || strcmp(f.domain, mi->host->name) != 0) {
        canto_jid_free(&f);
        reply_error(mi, NULL, iq, CANTO_COND_NOT_ALLOWED,
                    "Register with this server over a client connection");
        return CANTO_ERROR;
    }
    canto_jid_bare_of(acct, &f);
    canto_jid_free(&f);
    struct canto_jid target;
    if (canto_iq_account(iq, &target) == CANTO_OK) {
        bool same = strcmp(target.bare, acct->bare) == 0;
        canto_jid_free(&target);
        if (!same) {
            canto_jid_free(acct);
            reply_error(mi, NULL, iq, CANTO_COND_FORBIDDEN, "This is not your account");
            return CANTO_ERROR;
        }
    }
    return CANTO_OK;
}

/* get: the account is registered; XEP-0077 section 3.1 shows what is on
 * file (the username; never a password). */
static int account_get(struct canto_module_inst *mi, struct canto_stanza *iq)
{
    struct canto_jid acct;
    if (owner_account(mi, iq, &acct) != CANTO_OK)
        return CANTO_OK;
    static const char instructions[] = "You are registered. Send a new password to change it, "
                                       "or remove to delete the account.";
    struct canto_stanza *r = canto_iq_result(iq);
    struct canto_xml_node *q = canto_xml_add_child(r, r->root, "query", NS_REGISTER);
    canto_xml_add_text_child(r, q, "instructions", instructions);
    canto_xml_add_child(r, q, "registered", NULL);
    canto_xml_add_text_child(r, q, "username", acct.local);
    canto_xml_add_child(r, q, "password", NULL);
    canto_jid_free(&acct);
    reply(mi, NULL, r);
    return CANTO_OK;
}

/* Close every session of the removed account bare: XEP-0077 section 3.2,
 * a not-authorized stream error. The sessions are collected first, since
 * closing one unbinds it (and the last one frees the user entry). */
static void close_sessions(struct canto_server *srv, const char *bare)
{
    struct canto_user *u = canto_user_find(srv, bare);
    if (!u)
        return;
    size_t n = 0;
    for (struct canto_session *s = u->sessions; s; s = s->next)
        n++;
    struct canto_session **all = canto_xcalloc(n, sizeof(*all));
    n = 0;
    for (struct canto_session *s = u->sessions; s; s = s->next)
        all[n++] = s;
    for (size_t i = 0; i < n; i++)
        canto_session_close(all[i], "not-authorized", "The account has been removed");
    free(all);
}

struct removal {
    struct canto_module_inst *mi;
    struct canto_stanza *iq; /* the request (a reference) */
    struct canto_jid account;
};

static void account_deleted(void *ud, int rc)
{
    struct removal *r = ud;
    struct canto_server *srv = r->mi->host->server;
    /* NOTFOUND: removed meanwhile (cantoctl deluser, another session): what
     * the owner asked for is done either way. */
    if (rc == CANTO_OK || rc == CANTO_NOTFOUND) {
        canto_info("%s: account removed in-band", r->account.bare);
        reply(r->mi, NULL, canto_iq_result(r->iq));
        struct canto_hook_event ev = {.to = &r->account};
        canto_hook_notify(r->mi->host, CANTO_HOOK_ACCOUNT_REMOVED, &ev);
        close_sessions(srv, r->account.bare);
    } else {
        canto_warn("%s: cannot remove the account: %s", r->account.bare, canto_rc_str(rc));
        reply_error(r->mi, NULL, r->iq, CANTO_COND_INTERNAL_SERVER_ERROR, NULL);
    }
    canto_stanza_unref(r->iq);
    canto_jid_free(&r->account);
    free(r);
}

static void remove_account(struct canto_module_inst *mi, struct canto_stanza *iq,
                           const struct canto_jid *acct)
{
    struct removal *r = canto_xmalloc(sizeof(*r));
    r->mi = mi;
    r->iq = canto_stanza_ref(iq);
    canto_jid_copy(&r->account, acct);
    canto_storage_account_delete(mi->host->server->storage, mi->host->name, acct->local,
                                 account_deleted, r);
}

static void password_stored(void *ud, int rc)
{
    struct reg_job *j = ud;
    if (rc == CANTO_OK) {
        canto_info("%s@%s: password changed in-band", j->local, j->mi->host->name);
        reply(j->mi, NULL, canto_iq_result(j->iq));
    } else if (rc == CANTO_NOTFOUND) {
        reply_error(j->mi, NULL, j->iq, CANTO_COND_REGISTRATION_REQUIRED,
                    "The account does not exist any more");
    } else {
        canto_warn("%s@%s: cannot change the password: %s", j->local, j->mi->host->name,
                   canto_rc_str(rc));
        reply_error(j->mi, NULL, j->iq, CANTO_COND_INTERNAL_SERVER_ERROR, NULL);
    }
    job_free(j);
}

static void password_derived(uv_work_t *w, int status)
{
    struct reg_job *j = canto_container_of(w, struct reg_job, work);
    if (status != 0 || j->derive_rc != CANTO_OK) {
        reply_error(j->mi, NULL, j->iq, CANTO_COND_INTERNAL_SERVER_ERROR, NULL);
        job_free(j);
        return;
    }
    struct canto_host *h = j->mi->host;
    canto_storage_account_set_creds(h->server->storage, h->name, j->local, j->creds,
                                    CANTO_HASH_COUNT, password_stored, j);
}

/* username, when given, must name the account: its localpart, or its bare
 * JID as the XEP's data form example writes it. */
static bool names_account(const char *username, const struct canto_jid *acct)
{
    if (strchr(username, '@')) {
        struct canto_jid j;
        if (canto_jid_parse_str(&j, username) != CANTO_OK)
            return false;
        bool same = !j.resource && strcmp(j.bare, acct->bare) == 0;
        canto_jid_free(&j);
        return same;
    }
    char *local = canto_jid_prep_local(username);
    bool same = local && strcmp(local, acct->local) == 0;
    free(local);
    return same;
}

static void change_password(struct canto_module_inst *mi, struct canto_stanza *iq,
                            const struct canto_jid *acct, struct reg_fields *f)
{
    if (f->username && *f->username && !names_account(f->username, acct)) {
        reply_error(mi, NULL, iq, CANTO_COND_FORBIDDEN, "You can only change your own password");
        return;
    }
    if (!f->password || !*f->password) {
        /* XEP-0077 section 3.3: an empty password keeps the old one. */
        reply_error(mi, NULL, iq, CANTO_COND_BAD_REQUEST, "The new password is missing");
        return;
    }
    const char *problem = password_problem(f->password, acct->local);
    if (problem) {
        reply_error(mi, NULL, iq, CANTO_COND_NOT_ACCEPTABLE, problem);
        return;
    }
    /* One change at a time per account: each costs three key derivations
     * on the thread pool that PLAIN logins share. */
    struct reg_state *st = mi->state;
    if (canto_hashmap_get(&st->changing, acct->local)) {
        reply_error(mi, NULL, iq, CANTO_COND_RESOURCE_CONSTRAINT,
                    "A password change is already in progress");
        return;
    }
    struct reg_job *j = canto_xcalloc(1, sizeof(*j));
    j->mi = mi;
    j->iq = canto_stanza_ref(iq);
    j->local = canto_xstrdup(acct->local);
    j->changing = true;
    canto_hashmap_put(&st->changing, j->local, j);
    j->password = f->password;
    f->password = NULL;
    if (derive(j, password_derived) != CANTO_OK) {
        reply_error(mi, NULL, iq, CANTO_COND_INTERNAL_SERVER_ERROR, NULL);
        job_free(j);
    }
}

/* set: remove the account, or change its password. */
static int account_set(struct canto_module_inst *mi, struct canto_stanza *iq)
{
    struct canto_xml_node *q = canto_xml_first_element(iq->root);
    struct reg_fields f;
    read_fields(iq, q, &f);
    struct canto_jid acct;
    if (owner_account(mi, iq, &acct) != CANTO_OK) {
        fields_free(&f);
        return CANTO_OK;
    }
    if (f.remove) {
        if (f.remove_alone)
            remove_account(mi, iq, &acct);
        else
            reply_error(mi, NULL, iq, CANTO_COND_BAD_REQUEST,
                        "<remove/> must be the only element of the request");
    } else if (f.username || f.password) {
        change_password(mi, iq, &acct, &f);
    } else {
        reply_error(mi, NULL, iq, CANTO_COND_BAD_REQUEST,
                    "Send a new password, or remove to delete the account");
    }
    canto_jid_free(&acct);
    fields_free(&f);
    return CANTO_OK;
}

/* --- the module ------------------------------------------------------------- */

static int register_start(struct canto_module_inst *mi)
{
    struct reg_state *st = canto_xcalloc(1, sizeof(*st));
    st->throttle = canto_reg_throttle_new(CANTO_REG_THROTTLE_CAPACITY);
    canto_hashmap_init(&st->changing);
    mi->state = st;
    return CANTO_OK;
}

static void register_stop(struct canto_module_inst *mi)
{
    struct reg_state *st = mi->state;
    if (!st)
        return;
    canto_reg_throttle_free(st->throttle);
    canto_hashmap_free(&st->changing); /* empty: the server waits for thread-pool jobs */
    free(st);
    mi->state = NULL;
}

static const char *const register_disco_features[] = {NS_REGISTER, NULL};
static const struct canto_xep register_xeps[] = {
    {"XEP-0077", "In-Band Registration: off by default, per host, throttled per address; password change and account removal"},
    {0},
};
static const struct canto_iq_reg register_iqs[] = {
    {"get", NS_REGISTER, account_get, CANTO_IQ_SERVER | CANTO_IQ_ACCOUNT},
    {"set", NS_REGISTER, account_set, CANTO_IQ_SERVER | CANTO_IQ_ACCOUNT},
    {0},
};
static const struct canto_hook_reg register_hooks[] = {
    {CANTO_HOOK_PREAUTH_IQ, 0, preauth_iq},
    {0},
};

static const struct canto_option register_options[] = {
    {.key = "allow_registration", .type = CANTO_OPT_BOOL, .flags = CANTO_OPT_PER_HOST, .def = 0,
     .doc = "whether clients may create accounts in-band (XEP-0077)"},
    {.key = "registration_throttle.per_ip", .type = CANTO_OPT_INT, .flags = CANTO_OPT_PER_HOST,
     .def = 5, .min = 1, .max = 1000000,
     .doc = "accounts one address (IPv6: one /64) may register per period"},
    {.key = "registration_throttle.period", .type = CANTO_OPT_DURATION,
     .flags = CANTO_OPT_PER_HOST, .def = 3600, .min = 1, .max = 31536000, /* up to a year */
     .doc = "the period of `registration_throttle.per_ip`"},
    {0},
};

const struct canto_module canto_mod_register = {
    .name = "register",
    .xeps = register_xeps,
    .options = register_options,
    .features = register_disco_features,
    .iqs = register_iqs,
    .hooks = register_hooks,
    .stream_features = register_features,
    .start = register_start,
    .stop = register_stop,
};
