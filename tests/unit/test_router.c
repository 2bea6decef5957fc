/*
 * test_router.c: the router's rules (RFC 6121 section 8, the destination
 * table) and the server's own iqs (canto_iq_send), on a whole server built
 * in-process: canto_server_init with a real configuration, SQLite storage in
 * a temporary directory and every built-in module, but no listener. Clients
 * are test sessions: struct canto_session with ops that record what the
 * server delivers, bound and made available the way c2s does it (bind, the
 * SESSION_BOUND holds, initial presence), sending through
 * canto_route_from_session like a stream after stamping from.
 *
 * Waiting: storage is unreferenced while idle, and the server's iq timer does
 * not keep the loop alive either, so uv_run(UV_RUN_DEFAULT) returns exactly
 * when everything the server started has finished, except iqs waiting for
 * an answer; that is the barrier. No time is asserted: the timeout test
 * keeps the loop alive with a timer of its own that is due after the iq's
 * (libuv runs timers in the order they are due).
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "canto/config.h"
#include "canto/module.h"
#include "canto/router.h"
#include "canto/scram.h"
#include "canto/server.h"
#include "canto/session.h"
#include "canto/stanza.h"
#include "canto/storage.h"
#include "check.h"
#include "core/router_internal.h"

#define HOST "example.test"
#define MAX_GOT 64

static char dir[64];
static uv_loop_t loop;
static struct canto_server srv;

/* --- a client: a session whose transport is this struct ------------------- */

struct client {
    struct canto_session *s;           /* attached to this client */
    struct canto_stanza *got[MAX_GOT]; /* what the server delivered, in order */
    size_t ngot;
    bool ready;
    bool closed;
};

static void c_send(struct canto_session *s, struct canto_stanza *st)
{
    struct client *c = s->stream;
    if (c->ngot < MAX_GOT)
        c->got[c->ngot++] = canto_stanza_ref(st);
}
static void c_close(struct canto_session *s, const char *condition, const char *text)
{
    struct client *c = s->stream;
    c->closed = true;
    canto_session_end(s); /* what a real stream does */
}
static void c_ready(struct canto_session *s)
{
    struct client *c = s->stream;
    c->ready = true;
}
static void c_peer(struct canto_session *s, char *out, size_t size)
{
    snprintf(out, size, "127.0.0.1");
}
static void c_when_written(struct canto_session *s, canto_session_taken_fn cb, void *ud)
{
    cb(ud, CANTO_OK);
}
static const struct canto_session_ops client_ops = {
    .send = c_send,
    .close = c_close,
    .ready = c_ready,
    .peer_address = c_peer,
    .when_written = c_when_written,
};

static void drain(void)
{
    uv_run(&loop, UV_RUN_DEFAULT);
}

static void forget_got(struct client *c)
{
    for (size_t i = 0; i < c->ngot; i++)
        canto_stanza_unref(c->got[i]);
    c->ngot = 0;
}

/* Bind local@HOST/resource like c2s_bind.c does, and wait for the holds. */
static struct client *client_bind(const char *local, const char *resource)
{
    struct client *c = canto_xcalloc(1, sizeof(*c));
    struct canto_host *h = canto_server_host(&srv, HOST);
    c->s = canto_session_new(&srv, h, &client_ops, c);
    canto_session_bind(c->s, h, local, resource);
    canto_session_hold(c->s);
    struct canto_hook_event ev = {.session = c->s};
    canto_hook_notify(h, CANTO_HOOK_SESSION_BOUND, &ev);
    canto_session_release(c->s);
    drain();
    CHECK(c->ready);
    return c;
}

static void client_free(struct client *c)
{
    canto_session_end(c->s);
    canto_session_unref(c->s); /* the stream's reference */
    drain();
    forget_got(c);
    free(c);
}

/* The client sends xml (one stanza, jabber:client), from stamped. */
static void client_send(struct client *c, const char *xml)
{
    struct canto_stanza *st = canto_stanza_parse(xml, strlen(xml));
    CHECK(st != NULL);
    if (!st)
        return;
    canto_xml_set_attr(st, st->root, "from", c->s->jid.full);
    canto_route_from_session(c->s, st);
    drain();
}

/* Initial presence with a priority; what it brings is forgotten. */
static void client_available(struct client *c, int priority)
{
    char xml[128];
    snprintf(xml, sizeof xml, "<presence><priority>%d</priority></presence>", priority);
    client_send(c, xml);
}

/* How many stanzas named name (and with this id, unless NULL) c got. */
static size_t count(const struct client *c, const char *name, const char *id)
{
    size_t n = 0;
    for (size_t i = 0; i < c->ngot; i++) {
        const struct canto_xml_node *r = c->got[i]->root;
        const char *gid = canto_xml_attr(r, "id");
        if (strcmp(r->name, name) == 0 && (!id || (gid && strcmp(gid, id) == 0)))
            n++;
    }
    return n;
}

/* The last stanza with this id that c got, or NULL. */
static struct canto_stanza *got_id(const struct client *c, const char *id)
{
    for (size_t i = c->ngot; i-- > 0;) {
        const char *gid = canto_xml_attr(c->got[i]->root, "id");
        if (gid && strcmp(gid, id) == 0)
            return c->got[i];
    }
    return NULL;
}

/* "type condition" of an error stanza, into out. */
static const char *error_of(const struct canto_stanza *st, char *out, size_t size)
{
    const struct canto_xml_node *e = st ? canto_xml_child(st->root, "error", CANTO_NS_CLIENT) : NULL;
    const struct canto_xml_node *cond = e ? canto_xml_first_element(e) : NULL;
    snprintf(out, size, "%s %s", e ? canto_xml_attr(e, "type") : "-", cond ? cond->name : "-");
    return out;
}

/* --- the server ------------------------------------------------------------ */

static void write_cert(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)HOST, -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509_sign(x, key, EVP_sha256());
    char path[128];
    snprintf(path, sizeof path, "%s/cert.pem", dir);
    FILE *f = fopen(path, "w");
    PEM_write_X509(f, x);
    fclose(f);
    snprintf(path, sizeof path, "%s/key.pem", dir);
    f = fopen(path, "w");
    PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(key);
}

static void on_created(void *ud, int rc)
{
    CHECK_INT(rc, CANTO_OK);
}

static void server_start(void)
{
    snprintf(dir, sizeof dir, "/tmp/canto-router-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    write_cert();
    char path[128];
    snprintf(path, sizeof path, "%s/canto.yaml", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "hosts: [" HOST ", other.test]\n"
               "data_dir: %s\n"
               "tls: { certificate: cert.pem, key: key.pem }\n"
               "listen:\n  - { service: c2s, address: 127.0.0.1, port: 5222 }\n",
            dir);
    fclose(f);
    struct canto_config *cfg = canto_xcalloc(1, sizeof(*cfg));
    struct canto_buf err = {0};
    uv_loop_init(&loop);
    if (canto_config_load(path, cfg, &err) != CANTO_OK ||
        canto_server_init(&srv, &loop, cfg, &err) != CANTO_OK) {
        fprintf(stderr, "cannot start a server: %s\n", err.data ? err.data : "?");
        exit(1);
    }
    canto_buf_free(&err);
    struct canto_scram_cred creds[CANTO_HASH_COUNT];
    CHECK_INT(canto_scram_creds_make_all("secret password", creds), CANTO_OK);
    static const char *const users[] = {"alice", "bob"};
    for (size_t i = 0; i < CANTO_ARRAY_LEN(users); i++)
        canto_storage_account_create(srv.storage, HOST, users[i], creds, CANTO_HASH_COUNT,
                                     on_created, NULL);
    drain();
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void server_stop(void)
{
    canto_server_stop(&srv);
    drain();
    canto_server_free(&srv);
    drain();
    CHECK_INT(uv_loop_close(&loop), 0);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* --- RFC 6121 section 8 ---------------------------------------------------- */

/* 8.5.2.1.1: a chat message to the bare JID goes to the available resources
 * with the highest non-negative priority (all of them on a tie), never to a
 * negative one; 8.5.2.1.2: a headline goes to every non-negative one. */
static void test_bare_message_priorities(void)
{
    struct client *a = client_bind("alice", "desk");
    struct client *b1 = client_bind("bob", "one"), *b2 = client_bind("bob", "two");
    struct client *b3 = client_bind("bob", "three"), *b4 = client_bind("bob", "away");
    client_available(a, 0);
    client_available(b1, 5);
    client_available(b2, 1);
    client_available(b3, 5);
    client_available(b4, -1);
    forget_got(b1), forget_got(b2), forget_got(b3), forget_got(b4);

    client_send(a, "<message to='bob@" HOST "' type='chat' id='c1'><body>hi</body></message>");
    CHECK_INT(count(b1, "message", "c1"), 1);
    CHECK_INT(count(b2, "message", "c1"), 0);
    CHECK_INT(count(b3, "message", "c1"), 1);
    CHECK_INT(count(b4, "message", "c1"), 0);

    client_send(a, "<message to='bob@" HOST "' id='n1'><body>normal</body></message>");
    CHECK_INT(count(b1, "message", "n1") + count(b3, "message", "n1"), 2);
    CHECK_INT(count(b2, "message", "n1") + count(b4, "message", "n1"), 0);

    client_send(a, "<message to='bob@" HOST "' type='headline' id='h1'><body>news</body></message>");
    CHECK_INT(count(b1, "message", "h1"), 1);
    CHECK_INT(count(b2, "message", "h1"), 1);
    CHECK_INT(count(b3, "message", "h1"), 1);
    CHECK_INT(count(b4, "message", "h1"), 0);
    CHECK_INT(count(a, "message", NULL), 0); /* no error came back */

    client_free(a), client_free(b1), client_free(b2), client_free(b3), client_free(b4);
}

/* 8.5.2.1.1 and 8.5.1: with no resource of non-negative priority, a chat
 * message goes to offline storage (no error), never to a negative-priority
 * resource; a headline is dropped; an account that does not exist answers
 * service-unavailable, for messages and iqs alike. */
static void test_no_resource_to_take_it(void)
{
    char e[64];
    struct client *a = client_bind("alice", "desk"), *b = client_bind("bob", "shy");
    client_available(a, 0);
    client_available(b, -1);
    forget_got(b);
    client_send(a, "<message to='bob@" HOST "' type='chat' id='s1'><body>later</body></message>");
    client_send(a, "<message to='bob@" HOST "' type='headline' id='s2'><body>news</body></message>");
    CHECK_INT(count(b, "message", NULL), 0);
    CHECK(got_id(a, "s1") == NULL); /* stored, not bounced */
    CHECK(got_id(a, "s2") == NULL);

    client_send(a, "<message to='nobody@" HOST "' type='chat' id='s3'><body>x</body></message>");
    CHECK_STR(error_of(got_id(a, "s3"), e, sizeof e), "cancel service-unavailable");
    client_send(a, "<iq to='nobody@" HOST "' type='get' id='s4'><ping xmlns='urn:xmpp:ping'/></iq>");
    CHECK_STR(error_of(got_id(a, "s4"), e, sizeof e), "cancel service-unavailable");
    client_free(a), client_free(b);
}

/* 8.5.3.1: a full JID that is online gets the stanza itself, whatever its
 * priority; 8.5.3.2.1: a message to an offline resource is treated as if
 * sent to the bare JID. */
static void test_full_jid_messages(void)
{
    struct client *a = client_bind("alice", "desk");
    struct client *b1 = client_bind("bob", "one"), *b2 = client_bind("bob", "low");
    client_available(a, 0);
    client_available(b1, 2);
    client_available(b2, -5);
    forget_got(b1), forget_got(b2);

    client_send(a, "<message to='bob@" HOST "/low' type='chat' id='f1'><body>x</body></message>");
    CHECK_INT(count(b2, "message", "f1"), 1);
    CHECK_INT(count(b1, "message", "f1"), 0);

    client_send(a, "<message to='bob@" HOST "/gone' type='chat' id='f2'><body>x</body></message>");
    CHECK_INT(count(b1, "message", "f2"), 1);
    CHECK_INT(count(b2, "message", "f2"), 0);
    CHECK_INT(count(a, "message", NULL), 0);

    client_free(a), client_free(b1), client_free(b2);
}

/* groupchat to a user is refused (8.5.2.1.1, 8.5.3.2.1); error stanzas are
 * dropped rather than answered or delivered to an offline resource's
 * account (8.5.2.1.1, RFC 6120 8.3.1: never answer an error). */
static void test_groupchat_and_errors(void)
{
    char e[64];
    struct client *a = client_bind("alice", "desk"), *b = client_bind("bob", "one");
    client_available(a, 0);
    client_available(b, 0);
    forget_got(b);

    client_send(a, "<message to='bob@" HOST "' type='groupchat' id='g1'><body>x</body></message>");
    CHECK_INT(count(b, "message", "g1"), 0);
    CHECK_STR(error_of(got_id(a, "g1"), e, sizeof e), "cancel service-unavailable");

    client_send(a, "<message to='bob@" HOST "/gone' type='groupchat' id='g2'><body>x</body></message>");
    CHECK_INT(count(b, "message", "g2"), 0);
    CHECK_STR(error_of(got_id(a, "g2"), e, sizeof e), "cancel service-unavailable");

    client_send(a, "<message to='bob@" HOST "/gone' type='error' id='e1'>"
                   "<error type='cancel'><item-not-found "
                   "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>");
    CHECK_INT(count(b, "message", "e1"), 0);
    CHECK(got_id(a, "e1") == NULL);

    client_free(a), client_free(b);
}

/* 8.5.3.2.2 and RFC 6120 10.5.3.2: an iq get/set to a resource that is not
 * online is answered service-unavailable; an iq result there is dropped. */
static void test_iq_to_unavailable_resource(void)
{
    char e[64];
    struct client *a = client_bind("alice", "desk"), *b = client_bind("bob", "one");
    client_send(a, "<iq to='bob@" HOST "/gone' type='get' id='q1'>"
                   "<ping xmlns='urn:xmpp:ping'/></iq>");
    CHECK_STR(error_of(got_id(a, "q1"), e, sizeof e), "cancel service-unavailable");
    CHECK_INT(count(b, "iq", NULL), 0);

    client_send(a, "<iq to='bob@" HOST "/gone' type='result' id='q2'/>");
    CHECK(got_id(a, "q2") == NULL);
    CHECK_INT(count(b, "iq", NULL), 0);

    /* A bound resource gets the iq itself, available or not. */
    client_send(a, "<iq to='bob@" HOST "/one' type='get' id='q3'>"
                   "<ping xmlns='urn:xmpp:ping'/></iq>");
    CHECK_INT(count(b, "iq", "q3"), 1);
    client_free(a), client_free(b);
}

/* Presence to the bare JID goes to every available resource. */
static void test_presence_to_bare(void)
{
    struct client *a = client_bind("alice", "desk");
    struct client *b1 = client_bind("bob", "one"), *b2 = client_bind("bob", "neg");
    struct client *b3 = client_bind("bob", "unavailable");
    client_available(b1, 3);
    client_available(b2, -1);
    forget_got(b1), forget_got(b2), forget_got(b3);
    client_send(a, "<presence to='bob@" HOST "' id='p1'/>");
    CHECK_INT(count(b1, "presence", "p1"), 1);
    CHECK_INT(count(b2, "presence", "p1"), 1);
    CHECK_INT(count(b3, "presence", "p1"), 0);
    client_free(a), client_free(b1), client_free(b2), client_free(b3);
}

/* --- the destination table ------------------------------------------------- */

static enum canto_destination kind_of(const char *addr)
{
    struct canto_jid j;
    struct canto_route_target t;
    if (canto_jid_parse_str(&j, addr) != CANTO_OK)
        return CANTO_DEST_COUNT;
    canto_route_classify(&srv, &j, &t);
    canto_jid_free(&j);
    return t.kind;
}

static void test_destinations(void)
{
    char e[64];
    CHECK_INT(kind_of("bob@" HOST), CANTO_DEST_ACCOUNT);
    CHECK_INT(kind_of("nobody@other.test/r"), CANTO_DEST_ACCOUNT);
    CHECK_INT(kind_of(HOST), CANTO_DEST_HOST);
    CHECK_INT(kind_of("Example.Test/resource"), CANTO_DEST_HOST);
    CHECK_INT(kind_of("users." HOST), CANTO_DEST_SERVICE); /* the user directory */
    CHECK_INT(kind_of("someone@users." HOST), CANTO_DEST_SERVICE);
    CHECK_INT(kind_of("juliet@example.org"), CANTO_DEST_REMOTE);
    CHECK_STR(canto_destination_name(CANTO_DEST_REMOTE), "remote");

    struct client *a = client_bind("alice", "desk");
    client_send(a, "<message to='juliet@example.org' id='r1'><body>x</body></message>");
    CHECK_STR(error_of(got_id(a, "r1"), e, sizeof e), "cancel remote-server-not-found");
    client_send(a, "<iq to='" HOST "' type='get' id='h1'><nothing xmlns='urn:x:none'/></iq>");
    CHECK_STR(error_of(got_id(a, "h1"), e, sizeof e), "cancel service-unavailable");
    client_free(a);
}

/* --- stanza errors and the owner-only scope ------------------------------- */

/* Every RFC 6120 8.3.3 condition, its name and the type the RFC gives it. */
static void test_error_conditions(void)
{
    static const struct {
        enum canto_stanza_condition cond;
        const char *name, *type;
    } rfc[] = {
        {CANTO_COND_BAD_REQUEST, "bad-request", "modify"},
        {CANTO_COND_CONFLICT, "conflict", "cancel"},
        {CANTO_COND_FEATURE_NOT_IMPLEMENTED, "feature-not-implemented", "cancel"},
        {CANTO_COND_FORBIDDEN, "forbidden", "auth"},
        {CANTO_COND_GONE, "gone", "cancel"},
        {CANTO_COND_INTERNAL_SERVER_ERROR, "internal-server-error", "cancel"},
        {CANTO_COND_ITEM_NOT_FOUND, "item-not-found", "cancel"},
        {CANTO_COND_JID_MALFORMED, "jid-malformed", "modify"},
        {CANTO_COND_NOT_ACCEPTABLE, "not-acceptable", "modify"},
        {CANTO_COND_NOT_ALLOWED, "not-allowed", "cancel"},
        {CANTO_COND_NOT_AUTHORIZED, "not-authorized", "auth"},
        {CANTO_COND_POLICY_VIOLATION, "policy-violation", "modify"},
        {CANTO_COND_RECIPIENT_UNAVAILABLE, "recipient-unavailable", "wait"},
        {CANTO_COND_REDIRECT, "redirect", "modify"},
        {CANTO_COND_REGISTRATION_REQUIRED, "registration-required", "auth"},
        {CANTO_COND_REMOTE_SERVER_NOT_FOUND, "remote-server-not-found", "cancel"},
        {CANTO_COND_REMOTE_SERVER_TIMEOUT, "remote-server-timeout", "wait"},
        {CANTO_COND_RESOURCE_CONSTRAINT, "resource-constraint", "wait"},
        {CANTO_COND_SERVICE_UNAVAILABLE, "service-unavailable", "cancel"},
        {CANTO_COND_SUBSCRIPTION_REQUIRED, "subscription-required", "auth"},
        {CANTO_COND_UNDEFINED_CONDITION, "undefined-condition", "cancel"},
        {CANTO_COND_UNEXPECTED_REQUEST, "unexpected-request", "wait"},
    };
    CHECK_INT(CANTO_ARRAY_LEN(rfc), CANTO_COND_COUNT);
    static const char xml[] = "<iq type='get' id='x' from='a@b/c' to='b'><q xmlns='urn:x'/></iq>";
    struct canto_stanza *iq = canto_stanza_parse(xml, sizeof xml - 1);
    CHECK(iq != NULL);
    for (size_t i = 0; iq && i < CANTO_ARRAY_LEN(rfc); i++) {
        CHECK_STR(canto_stanza_condition_name(rfc[i].cond), rfc[i].name);
        CHECK_STR(canto_stanza_error_type_name(canto_stanza_condition_type(rfc[i].cond)),
                  rfc[i].type);
        char e[64], want[64];
        struct canto_stanza *err = canto_stanza_error(iq, rfc[i].cond, NULL);
        snprintf(want, sizeof want, "%s %s", rfc[i].type, rfc[i].name);
        CHECK_STR(error_of(err, e, sizeof e), want);
        CHECK_STR(canto_xml_attr(err->root, "to"), "a@b/c");
        CHECK_STR(canto_xml_attr(err->root, "from"), "b");
        canto_stanza_unref(err);
    }
    struct canto_stanza *err =
        canto_stanza_error_typed(iq, CANTO_COND_NOT_ACCEPTABLE, CANTO_ERRTYPE_CANCEL, "why");
    char e[64];
    CHECK_STR(error_of(err, e, sizeof e), "cancel not-acceptable");
    canto_stanza_unref(err);
    canto_stanza_unref(iq);
}

/* CANTO_IQ_OWNER (roster, private storage, vCard writes): the core answers
 * forbidden to anyone but the account's own sessions. */
static void test_owner_only_iqs(void)
{
    char e[64];
    struct client *a = client_bind("alice", "desk"), *b = client_bind("bob", "one");
    client_send(a, "<iq type='get' id='o1'><query xmlns='jabber:iq:roster'/></iq>");
    CHECK_STR(canto_xml_attr(got_id(a, "o1")->root, "type"), "result");
    client_send(a, "<iq type='get' id='o2' to='alice@" HOST "'>"
                   "<query xmlns='jabber:iq:private'><x xmlns='urn:x'/></query></iq>");
    CHECK_STR(canto_xml_attr(got_id(a, "o2")->root, "type"), "result");
    client_send(b, "<iq type='get' id='o3' to='alice@" HOST "'>"
                   "<query xmlns='jabber:iq:roster'/></iq>");
    CHECK_STR(error_of(got_id(b, "o3"), e, sizeof e), "auth forbidden");
    client_send(b, "<iq type='set' id='o4' to='alice@" HOST "'>"
                   "<query xmlns='jabber:iq:private'><x xmlns='urn:x'/></query></iq>");
    CHECK_STR(error_of(got_id(b, "o4"), e, sizeof e), "auth forbidden");
    client_send(b, "<iq type='set' id='o5' to='alice@" HOST "'>"
                   "<vCard xmlns='vcard-temp'><FN>Not Alice</FN></vCard></iq>");
    CHECK_STR(error_of(got_id(b, "o5"), e, sizeof e), "auth forbidden");
    client_send(b, "<iq type='get' id='o6' to='" HOST "'>"
                   "<query xmlns='jabber:iq:private'><x xmlns='urn:x'/></query></iq>");
    CHECK_STR(error_of(got_id(b, "o6"), e, sizeof e), "auth forbidden");
    /* Reading a vCard stays open to anyone (the account scope). */
    client_send(b, "<iq type='get' id='o7' to='alice@" HOST "'><vCard xmlns='vcard-temp'/></iq>");
    CHECK(got_id(b, "o7") != NULL);
    CHECK(strcmp(error_of(got_id(b, "o7"), e, sizeof e), "auth forbidden") != 0);
    client_free(a), client_free(b);
}

/* --- the server's own iqs -------------------------------------------------- */

struct answer {
    int calls;
    char type[16];      /* "result", "error", or "NULL" */
    char error[64];
    bool during_send;   /* the callback ran inside canto_iq_send */
};

static bool in_send;

static void on_answer(void *ud, struct canto_stanza *reply)
{
    struct answer *a = ud;
    a->calls++;
    a->during_send = in_send;
    snprintf(a->type, sizeof a->type, "%s", reply ? canto_xml_attr(reply->root, "type") : "NULL");
    if (reply)
        error_of(reply, a->error, sizeof a->error);
}

static int send_ping(const char *from, const char *to, uint32_t timeout_ms, struct answer *a)
{
    struct canto_stanza *iq = canto_stanza_new_root("iq", CANTO_NS_CLIENT);
    canto_xml_set_attr(iq, iq->root, "type", "get");
    canto_xml_set_attr(iq, iq->root, "from", from);
    canto_xml_set_attr(iq, iq->root, "to", to);
    canto_xml_add_child(iq, iq->root, "ping", "urn:xmpp:ping");
    in_send = true;
    int rc = canto_iq_send(&srv, iq, timeout_ms, on_answer, a);
    in_send = false;
    return rc;
}

/* The client answers the server's iq (the last it got) with a result. */
static void answer_last_iq(struct client *c, const char *from_override)
{
    CHECK(c->ngot > 0);
    if (c->ngot == 0)
        return;
    struct canto_stanza *iq = c->got[c->ngot - 1];
    struct canto_stanza *r = canto_iq_result(iq);
    canto_xml_set_attr(r, r->root, "from", from_override ? from_override : c->s->jid.full);
    canto_route_from_session(c->s, r);
    drain();
}

static void test_server_iq_answered(void)
{
    struct client *b = client_bind("bob", "phone");
    struct answer ans = {0};
    CHECK_INT(send_ping(HOST, "Bob@" HOST "/phone", 60000, &ans), CANTO_OK);
    CHECK_INT(count(b, "iq", NULL), 1);
    CHECK_INT(canto_iq_pending_count(&srv), 1);
    const struct canto_xml_node *got = b->got[0]->root;
    CHECK_STR(canto_xml_attr(got, "to"), "bob@" HOST "/phone"); /* prepared */
    CHECK_STR(canto_xml_attr(got, "from"), HOST);
    CHECK(strncmp(canto_xml_attr(got, "id"), "canto-iq-", 9) == 0);
    CHECK_INT(ans.calls, 0);
    answer_last_iq(b, NULL);
    CHECK_INT(ans.calls, 1);
    CHECK_STR(ans.type, "result");
    CHECK(!ans.during_send);
    CHECK_INT(canto_iq_pending_count(&srv), 0);
    /* The same answer again is nobody's: dropped by the host, no callback. */
    answer_last_iq(b, NULL);
    CHECK_INT(ans.calls, 1);
    client_free(b);
}

/* An answer with the right id from another entity is not taken. */
static void test_server_iq_forged_answer(void)
{
    struct client *b = client_bind("bob", "phone"), *a = client_bind("alice", "desk");
    struct answer ans = {0};
    CHECK_INT(send_ping(HOST, "bob@" HOST "/phone", 60000, &ans), CANTO_OK);
    CHECK_INT(count(b, "iq", NULL), 1);
    struct canto_stanza *r = canto_iq_result(b->got[0]);
    canto_xml_set_attr(r, r->root, "from", a->s->jid.full);
    canto_route_from_session(a->s, r);
    drain();
    CHECK_INT(ans.calls, 0);
    CHECK_INT(canto_iq_pending_count(&srv), 1);
    answer_last_iq(b, NULL);
    CHECK_INT(ans.calls, 1);
    CHECK_STR(ans.type, "result");
    client_free(a), client_free(b);
}

static void on_later(uv_timer_t *t)
{
}

/* No answer: the callback gets remote-server-timeout (type wait). */
static void test_server_iq_timeout(void)
{
    struct client *b = client_bind("bob", "silent");
    struct answer ans = {0};
    CHECK_INT(send_ping(HOST, "bob@" HOST "/silent", 20, &ans), CANTO_OK);
    CHECK_INT(count(b, "iq", NULL), 1);
    uv_timer_t later;
    uv_timer_init(&loop, &later);
    uv_timer_start(&later, on_later, 200, 0);
    drain(); /* returns once our timer has fired, after the iq's */
    uv_close((uv_handle_t *)&later, NULL);
    drain();
    CHECK_INT(ans.calls, 1);
    CHECK_STR(ans.type, "error");
    CHECK_STR(ans.error, "wait remote-server-timeout");
    CHECK_INT(canto_iq_pending_count(&srv), 0);
    /* A late answer is nobody's. */
    answer_last_iq(b, NULL);
    CHECK_INT(ans.calls, 1);
    client_free(b);
}

/* Errors the router answers at once (a resource that is not online, a
 * remote domain) reach the callback too, but never inside canto_iq_send. */
static void test_server_iq_routing_errors(void)
{
    struct answer offline = {0}, remote = {0}, bad = {0};
    CHECK_INT(send_ping(HOST, "bob@" HOST "/nowhere", 60000, &offline), CANTO_OK);
    CHECK_INT(send_ping("bob@" HOST, "juliet@example.org/balcony", 60000, &remote), CANTO_OK);
    CHECK_INT(offline.calls + remote.calls, 0);
    drain();
    CHECK_INT(offline.calls, 1);
    CHECK(!offline.during_send);
    CHECK_STR(offline.error, "cancel service-unavailable");
    CHECK_INT(remote.calls, 1);
    CHECK_STR(remote.error, "cancel remote-server-not-found");
    CHECK_INT(send_ping(HOST, "not a jid@@", 1000, &bad), CANTO_INVALID);
    CHECK_INT(send_ping(NULL, "bob@" HOST, 1000, &bad), CANTO_INVALID);
    CHECK_INT(bad.calls, 0);
    CHECK_INT(canto_iq_pending_count(&srv), 0);
}

/* The table is bounded; what is pending when the server stops is called
 * back with NULL before the modules go (and nothing leaks: ASan). */
static void test_server_iq_limit_and_stop(void)
{
    struct client *b = client_bind("bob", "many");
    static struct answer ans[CANTO_IQ_PENDING_MAX + 1];
    for (size_t i = 0; i < CANTO_IQ_PENDING_MAX; i++)
        CHECK_INT(send_ping(HOST, "bob@" HOST "/many", 0, &ans[i]), CANTO_OK);
    CHECK_INT(canto_iq_pending_count(&srv), CANTO_IQ_PENDING_MAX);
    CHECK_INT(send_ping(HOST, "bob@" HOST "/many", 0, &ans[CANTO_IQ_PENDING_MAX]), CANTO_LIMIT);
    forget_got(b);
    client_free(b);
    server_stop();
    size_t nulls = 0;
    for (size_t i = 0; i <= CANTO_IQ_PENDING_MAX; i++)
        nulls += ans[i].calls == 1 && strcmp(ans[i].type, "NULL") == 0;
    CHECK_INT(nulls, CANTO_IQ_PENDING_MAX);
    CHECK_INT(ans[CANTO_IQ_PENDING_MAX].calls, 0);
}

int main(void)
{
    server_start();
    test_bare_message_priorities();
    test_full_jid_messages();
    test_no_resource_to_take_it();
    test_groupchat_and_errors();
    test_iq_to_unavailable_resource();
    test_presence_to_bare();
    test_destinations();
    test_error_conditions();
    test_owner_only_iqs();
    test_server_iq_answered();
    test_server_iq_forged_answer();
    test_server_iq_timeout();
    test_server_iq_routing_errors();
    test_server_iq_limit_and_stop(); /* stops the server */
    return CHECK_DONE();
}
