/*
 * test_session.c: the session layer (include/canto/session.h) on its own.
 *
 * A small server is put together by hand (one host, the user table, a libuv
 * loop; no storage, no modules), and sessions are attached to a test stream
 * that records what it is given, so each rule can be watched directly:
 * binding into the user table and resource conflicts; the one outbound
 * point and its SESSION_OUT filter; stanzas kept while a bind is held and
 * sent, in order, after the bind answer, with wait/resource-constraint past
 * the bound; detaching (ending at once by default, or lingering with a
 * bounded queue and attaching to another stream); and what happens to the
 * stanzas still waiting when a session ends: messages follow the bare JID
 * rules, requests get service-unavailable.
 */
#include <stdlib.h>
#include <string.h>

#include "canto/module.h"
#include "canto/server.h"
#include "canto/session.h"
#include "canto/stanza.h"
#include "check.h"

#define HOST "example.com"

/* A stream that records what its session hands it. */
struct test_stream {
    struct canto_stanza *sent[256];
    size_t nsent;
    char closed[64];      /* the stream error it was closed with, "" if none */
    int ready;            /* times ops->ready ran */
    int written_calls;    /* times ops->when_written ran */
};

static void ts_send(struct canto_session *s, struct canto_stanza *st)
{
    struct test_stream *t = s->stream;
    if (t->nsent < 256)
        t->sent[t->nsent++] = canto_stanza_ref(st);
}

static void ts_close(struct canto_session *s, const char *condition, const char *text)
{
    struct test_stream *t = s->stream;
    (void)text;
    snprintf(t->closed, sizeof t->closed, "%s", condition);
    /* What a real stream does: its session ends with it. */
    canto_session_end(s);
}

static void ts_ready(struct canto_session *s)
{
    struct test_stream *t = s->stream;
    t->ready++;
    /* A real stream answers the bind here, first of all. */
    struct canto_stanza *r = canto_stanza_new_root("iq", CANTO_NS_CLIENT);
    canto_xml_set_attr(r, r->root, "id", "bind-result");
    ts_send(s, r);
    canto_stanza_unref(r);
}

static void ts_peer(struct canto_session *s, char *out, size_t size)
{
    (void)s;
    snprintf(out, size, "192.0.2.1");
}

static void ts_when_written(struct canto_session *s, canto_session_taken_fn cb, void *ud)
{
    struct test_stream *t = s->stream;
    t->written_calls++;
    cb(ud, CANTO_OK);
}

static const struct canto_session_ops test_ops = {
    .send = ts_send,
    .close = ts_close,
    .ready = ts_ready,
    .peer_address = ts_peer,
    .when_written = ts_when_written,
};

static void ts_clear(struct test_stream *t)
{
    for (size_t i = 0; i < t->nsent; i++)
        canto_stanza_unref(t->sent[i]);
    memset(t, 0, sizeof(*t));
}

static const char *sent_id(const struct test_stream *t, size_t i)
{
    return i < t->nsent ? canto_xml_attr(t->sent[i]->root, "id") : NULL;
}

/* --- the little server ------------------------------------------------------------ */

struct fixture {
    uv_loop_t loop;
    struct canto_server srv;
    struct canto_host host;
    struct canto_module_inst mi;
    struct canto_hook_entry out_hook;
    int filtered;         /* stanzas the SESSION_OUT filter saw */
    int filter_drops;     /* ...of which it consumed (id "drop-me") */
};

static int session_out_filter(struct canto_module_inst *mi, struct canto_hook_event *ev)
{
    struct fixture *f = mi->state;
    f->filtered++;
    CHECK(ev->session != NULL && ev->to == &ev->session->jid);
    const char *id = canto_xml_attr(ev->stanza->root, "id");
    if (id && strcmp(id, "drop-me") == 0) {
        f->filter_drops++;
        return CANTO_OK;
    }
    return CANTO_DECLINED;
}

static void fixture_init(struct fixture *f)
{
    memset(f, 0, sizeof(*f));
    uv_loop_init(&f->loop);
    f->srv.loop = &f->loop;
    canto_hashmap_init(&f->srv.users);
    f->host.name = HOST;
    f->host.server = &f->srv;
    canto_hashmap_init(&f->host.iqs);
    f->srv.hosts = &f->host;
    f->srv.nhosts = 1;
    f->mi.host = &f->host;
    f->mi.state = f;
    f->out_hook = (struct canto_hook_entry){.priority = 0, .fn = session_out_filter, .mi = &f->mi};
    f->host.hooks[CANTO_HOOK_SESSION_OUT] = (struct canto_hook_chain){&f->out_hook, 1};
}

static void fixture_free(struct fixture *f)
{
    canto_session_end_detached(&f->srv);
    CHECK_INT(f->srv.users.count, 0);
    uv_run(&f->loop, UV_RUN_DEFAULT); /* timer close callbacks */
    CHECK_INT(uv_loop_close(&f->loop), 0);
    canto_hashmap_free(&f->srv.users);
    canto_hashmap_free(&f->host.iqs);
}

static struct canto_stanza *message(const char *id, const char *from, const char *to)
{
    struct canto_stanza *st = canto_stanza_new_root("message", CANTO_NS_CLIENT);
    canto_xml_set_attr(st, st->root, "id", id);
    canto_xml_set_attr(st, st->root, "type", "chat");
    canto_xml_set_attr(st, st->root, "from", from);
    canto_xml_set_attr(st, st->root, "to", to);
    canto_xml_add_text_child(st, st->root, "body", id);
    return st;
}

static struct canto_stanza *iq_get(const char *id, const char *from, const char *to)
{
    struct canto_stanza *st = canto_stanza_new_root("iq", CANTO_NS_CLIENT);
    canto_xml_set_attr(st, st->root, "id", id);
    canto_xml_set_attr(st, st->root, "type", "get");
    canto_xml_set_attr(st, st->root, "from", from);
    canto_xml_set_attr(st, st->root, "to", to);
    canto_xml_add_child(st, st->root, "query", "urn:example:q");
    return st;
}

/* A session bound as local@HOST/resource on stream t, ready (no holds). */
static struct canto_session *bound(struct fixture *f, struct test_stream *t, const char *local,
                                   const char *resource)
{
    struct canto_session *s = canto_session_new(&f->srv, &f->host, &test_ops, t);
    canto_session_bind(s, &f->host, local, resource);
    return s;
}

static void send_and_drop(struct canto_session *s, struct canto_stanza *st)
{
    canto_session_send(s, st);
    canto_stanza_unref(st);
}

/* --- the tests ----------------------------------------------------------------------- */

static void test_bind_and_table(void)
{
    struct fixture f;
    fixture_init(&f);
    struct test_stream t = {0};
    struct canto_session *s = canto_session_new(&f.srv, &f.host, &test_ops, &t);
    CHECK_INT(s->refs, 1);
    canto_session_bind(s, &f.host, "alice", "phone");
    CHECK_STR(s->jid.full, "alice@" HOST "/phone");
    CHECK_INT(s->refs, 2); /* the stream's and the table's */
    struct canto_user *u = canto_user_find(&f.srv, "alice@" HOST);
    CHECK(u && u->sessions == s);
    struct canto_jid j;
    CHECK_INT(canto_jid_parse_str(&j, "alice@" HOST "/phone"), CANTO_OK);
    CHECK(canto_session_find(&f.srv, &j) == s);
    canto_jid_free(&j);

    char addr[32];
    canto_session_peer_address(s, addr, sizeof addr);
    CHECK_STR(addr, "192.0.2.1");

    /* The stream goes: with no lingering asked for, the session ends now. */
    canto_session_detach(s, 0, 0);
    CHECK(s->ended);
    CHECK(canto_user_find(&f.srv, "alice@" HOST) == NULL);
    CHECK(s->ops == NULL && s->stream == NULL);
    CHECK(!canto_session_unref(s)); /* the stream's, the last one: freed */
    ts_clear(&t);
    fixture_free(&f);
}

static void test_conflict_replaces(void)
{
    struct fixture f;
    fixture_init(&f);
    struct test_stream t1 = {0}, t2 = {0};
    struct canto_session *old = bound(&f, &t1, "alice", "phone");
    struct canto_session *new = bound(&f, &t2, "alice", "phone");
    CHECK_STR(t1.closed, "conflict");
    CHECK(old->ended);
    struct canto_user *u = canto_user_find(&f.srv, "alice@" HOST);
    CHECK(u && u->sessions == new && new->next == NULL);
    CHECK(!canto_session_unref(old));
    canto_session_end(new);
    CHECK(!canto_session_unref(new));
    ts_clear(&t1);
    ts_clear(&t2);
    fixture_free(&f);
}

static void test_outbound_point_and_filter(void)
{
    struct fixture f;
    fixture_init(&f);
    struct test_stream t = {0};
    /* Before binding, the stream's own answers go straight out, unfiltered. */
    struct canto_session *s = canto_session_new(&f.srv, &f.host, &test_ops, &t);
    send_and_drop(s, iq_get("preauth", NULL, NULL));
    CHECK_INT(t.nsent, 1);
    CHECK_INT(f.filtered, 0);
    canto_session_bind(s, &f.host, "alice", "phone");
    send_and_drop(s, message("m1", "bob@" HOST "/x", "alice@" HOST "/phone"));
    send_and_drop(s, message("drop-me", "bob@" HOST "/x", "alice@" HOST "/phone"));
    send_and_drop(s, message("m2", "bob@" HOST "/x", "alice@" HOST "/phone"));
    CHECK_INT(f.filtered, 3);
    CHECK_INT(f.filter_drops, 1);
    CHECK_INT(t.nsent, 3);
    CHECK_STR(sent_id(&t, 1), "m1");
    CHECK_STR(sent_id(&t, 2), "m2");
    /* Ended: nothing goes out any more, not even to the filter. */
    canto_session_end(s);
    send_and_drop(s, message("late", "bob@" HOST "/x", "alice@" HOST "/phone"));
    CHECK_INT(t.nsent, 3);
    CHECK_INT(f.filtered, 3);
    CHECK(!canto_session_unref(s));
    ts_clear(&t);
    fixture_free(&f);
}

static void test_held_bind_keeps_stanzas_in_order(void)
{
    struct fixture f;
    fixture_init(&f);
    struct test_stream ta = {0}, tb = {0};
    struct canto_session *b = bound(&f, &tb, "bob", "desk");
    struct canto_session *a = canto_session_new(&f.srv, &f.host, &test_ops, &ta);
    canto_session_bind(a, &f.host, "alice", "phone");
    canto_session_hold(a);
    canto_session_hold(a);
    send_and_drop(a, message("early-1", b->jid.full, a->jid.full));
    send_and_drop(a, iq_get("early-2", b->jid.full, a->jid.full));
    CHECK_INT(ta.nsent, 0);
    canto_session_release(a);
    CHECK_INT(ta.nsent, 0); /* one hold left */
    CHECK_INT(ta.ready, 0);
    canto_session_release(a);
    CHECK_INT(ta.ready, 1);
    CHECK_INT(ta.nsent, 3);
    CHECK_STR(sent_id(&ta, 0), "bind-result");
    CHECK_STR(sent_id(&ta, 1), "early-1");
    CHECK_STR(sent_id(&ta, 2), "early-2");
    CHECK(a->waiting == NULL);
    /* Then straight through again. */
    send_and_drop(a, message("later", b->jid.full, a->jid.full));
    CHECK_STR(sent_id(&ta, 3), "later");
    CHECK_INT(tb.nsent, 0);

    canto_session_end(a);
    canto_session_end(b);
    CHECK(!canto_session_unref(a));
    CHECK(!canto_session_unref(b));
    ts_clear(&ta);
    ts_clear(&tb);
    fixture_free(&f);
}

static void test_held_bind_is_bounded(void)
{
    struct fixture f;
    fixture_init(&f);
    struct test_stream ta = {0}, tb = {0};
    struct canto_session *b = bound(&f, &tb, "bob", "desk");
    struct canto_session *a = canto_session_new(&f.srv, &f.host, &test_ops, &ta);
    canto_session_bind(a, &f.host, "alice", "phone");
    canto_session_hold(a);
    for (int i = 0; i < CANTO_SESSION_MAX_WAITING; i++) {
        char id[16];
        snprintf(id, sizeof id, "w%d", i);
        send_and_drop(a, message(id, b->jid.full, a->jid.full));
    }
    CHECK_INT(tb.nsent, 0);
    /* Past the bound: the sender is told to wait, for requests and messages
     * alike; a presence is just not kept. */
    send_and_drop(a, iq_get("too-many-iq", b->jid.full, a->jid.full));
    send_and_drop(a, message("too-many-msg", b->jid.full, a->jid.full));
    struct canto_stanza *p = canto_stanza_new_root("presence", CANTO_NS_CLIENT);
    canto_xml_set_attr(p, p->root, "from", b->jid.full);
    canto_xml_set_attr(p, p->root, "to", a->jid.full);
    send_and_drop(a, p);
    CHECK_INT(tb.nsent, 2);
    for (size_t i = 0; i < tb.nsent && i < 2; i++) {
        CHECK_STR(canto_xml_attr(tb.sent[i]->root, "type"), "error");
        struct canto_xml_node *err = canto_xml_child(tb.sent[i]->root, "error", NULL);
        CHECK_STR(canto_xml_attr(err, "type"), "wait");
        CHECK(canto_xml_child(err, "resource-constraint", CANTO_NS_STANZAS) != NULL);
    }
    CHECK_STR(sent_id(&tb, 0), "too-many-iq");
    CHECK_STR(sent_id(&tb, 1), "too-many-msg");
    canto_session_release(a);
    CHECK_INT(ta.nsent, 1 + CANTO_SESSION_MAX_WAITING);
    CHECK_STR(sent_id(&ta, CANTO_SESSION_MAX_WAITING), "w63");

    canto_session_end(a);
    canto_session_end(b);
    canto_session_unref(a);
    canto_session_unref(b);
    ts_clear(&ta);
    ts_clear(&tb);
    fixture_free(&f);
}

static void test_detach_and_attach(void)
{
    struct fixture f;
    fixture_init(&f);
    struct test_stream t1 = {0}, t2 = {0}, tb = {0};
    struct canto_session *b = bound(&f, &tb, "bob", "desk");
    struct canto_session *a = bound(&f, &t1, "alice", "phone");
    canto_session_detach(a, 60000, 10);
    CHECK(!a->ended);
    CHECK(canto_user_find(&f.srv, "alice@" HOST) != NULL);
    canto_session_unref(a); /* the first stream is gone */
    send_and_drop(a, message("while-away-1", b->jid.full, a->jid.full));
    send_and_drop(a, message("while-away-2", b->jid.full, a->jid.full));
    CHECK_INT(t1.nsent, 0);
    /* Another stream takes it over and gets what waited, in order. */
    CHECK_INT(canto_session_attach(a, &test_ops, &t2), CANTO_OK);
    CHECK_INT(canto_session_attach(a, &test_ops, &t2), CANTO_ERROR); /* attached already */
    CHECK_INT(t2.nsent, 2);
    CHECK_STR(sent_id(&t2, 0), "while-away-1");
    CHECK_STR(sent_id(&t2, 1), "while-away-2");
    send_and_drop(a, message("now", b->jid.full, a->jid.full));
    CHECK_STR(sent_id(&t2, 2), "now");
    /* The linger timer was stopped: running the loop ends nothing. */
    uv_run(&f.loop, UV_RUN_NOWAIT);
    CHECK(!a->ended);

    canto_session_end(a);
    CHECK_INT(canto_session_attach(a, &test_ops, &t1), CANTO_ERROR); /* ended */
    canto_session_end(b);
    CHECK(!canto_session_unref(a));
    canto_session_unref(b);
    ts_clear(&t1);
    ts_clear(&t2);
    ts_clear(&tb);
    fixture_free(&f);
}

static int taken_status;
static int taken_calls;

static void record_taken(void *ud, int status)
{
    (void)ud;
    taken_status = status;
    taken_calls++;
}

static void test_when_taken(void)
{
    struct fixture f;
    fixture_init(&f);
    struct test_stream t = {0};
    struct canto_session *s = bound(&f, &t, "alice", "phone");
    taken_calls = 0;
    canto_session_when_taken(s, record_taken, NULL);
    CHECK_INT(t.written_calls, 1);
    CHECK_INT(taken_calls, 1);
    CHECK_INT(taken_status, CANTO_OK);
    /* Held: stanzas wait in the session, not on the stream. */
    canto_session_hold(s);
    send_and_drop(s, message("held", "bob@" HOST "/x", s->jid.full));
    canto_session_when_taken(s, record_taken, NULL);
    CHECK_INT(taken_calls, 2);
    CHECK_INT(taken_status, CANTO_ERROR);
    canto_session_release(s);
    /* Detached: nobody can say. */
    canto_session_detach(s, 60000, 10);
    canto_session_when_taken(s, record_taken, NULL);
    CHECK_INT(taken_calls, 3);
    CHECK_INT(taken_status, CANTO_ERROR);
    CHECK_INT(t.written_calls, 1);
    canto_session_unref(s);
    ts_clear(&t);
    fixture_free(&f); /* ends the detached session */
}

static void test_linger_ends_and_routes_again(void)
{
    struct fixture f;
    fixture_init(&f);
    struct test_stream ta = {0}, ta2 = {0}, tb = {0};
    struct canto_session *b = bound(&f, &tb, "bob", "desk");
    struct canto_session *a = bound(&f, &ta, "alice", "phone");
    struct canto_session *a2 = bound(&f, &ta2, "alice", "laptop");
    a2->available = true; /* can take messages to the bare JID */
    canto_session_detach(a, 1, 10);
    canto_session_unref(a);
    send_and_drop(a, message("to-phone", b->jid.full, "alice@" HOST "/phone"));
    send_and_drop(a, iq_get("iq-to-phone", b->jid.full, "alice@" HOST "/phone"));
    CHECK_INT(ta2.nsent, 0);
    CHECK_INT(tb.nsent, 0);
    uv_run(&f.loop, UV_RUN_DEFAULT); /* the linger time ends */
    struct canto_jid j;
    canto_jid_parse_str(&j, "alice@" HOST "/phone");
    CHECK(canto_session_find(&f.srv, &j) == NULL);
    canto_jid_free(&j);
    /* The message goes where one to a resource that is gone goes: the
     * other resource; the iq is answered service-unavailable. */
    CHECK_INT(ta2.nsent, 1);
    CHECK_STR(sent_id(&ta2, 0), "to-phone");
    CHECK_INT(tb.nsent, 1);
    CHECK_STR(sent_id(&tb, 0), "iq-to-phone");
    CHECK_STR(canto_xml_attr(tb.sent[0]->root, "type"), "error");
    struct canto_xml_node *err = canto_xml_child(tb.sent[0]->root, "error", NULL);
    CHECK(canto_xml_child(err, "service-unavailable", CANTO_NS_STANZAS) != NULL);

    canto_session_end(a2);
    canto_session_end(b);
    canto_session_unref(a2);
    canto_session_unref(b);
    ts_clear(&ta);
    ts_clear(&ta2);
    ts_clear(&tb);
    fixture_free(&f);
}

static void test_detached_queue_is_bounded(void)
{
    struct fixture f;
    fixture_init(&f);
    struct test_stream ta = {0};
    struct canto_session *a = bound(&f, &ta, "alice", "phone");
    canto_session_ref(a); /* watch it past its end */
    canto_session_detach(a, 60000, 3);
    canto_session_unref(a); /* the stream's */
    for (int i = 0; i < 3; i++)
        send_and_drop(a, iq_get("q", "nobody@elsewhere.example/x", a->jid.full));
    CHECK(!a->ended);
    /* One more than the stream allowed: the session ends. */
    send_and_drop(a, iq_get("q", "nobody@elsewhere.example/x", a->jid.full));
    CHECK(a->ended);
    CHECK(canto_user_find(&f.srv, "alice@" HOST) == NULL);
    CHECK(!canto_session_unref(a));
    ts_clear(&ta);
    fixture_free(&f);
}

int main(void)
{
    test_bind_and_table();
    test_conflict_replaces();
    test_outbound_point_and_filter();
    test_held_bind_keeps_stanzas_in_order();
    test_held_bind_is_bounded();
    test_detach_and_attach();
    test_when_taken();
    test_linger_ends_and_routes_again();
    test_detached_queue_is_bounded();
    return CHECK_DONE();
}
