/*
 * iq_pending.c: iqs the server sends itself, and their answers.
 *
 * A module (or, later, the s2s layer for dialback) sends an iq get/set with
 * canto_iq_send and gets exactly one callback: with the answer, with a
 * remote-server-timeout error built here when none came in time, or with
 * NULL when the server stops first. The server chooses the id, so that a
 * peer cannot guess or collide with it, and an answer counts only if it
 * comes from the address asked and goes to the address that asked (the
 * router stamps or checks every from, so this cannot be forged by a local
 * client).
 *
 * The table is bounded (CANTO_IQ_PENDING_MAX): what a peer's traffic makes
 * the server ask (push, pubsub notifications) cannot make it remember
 * without limit. Pending iqs are kept in a hash by id and in one list by
 * deadline, served by one timer; an answer that arrives while canto_iq_send
 * is still on the stack (the router answered at once: unknown user, remote
 * domain) is delivered from the timer instead, so a callback never runs
 * inside the call that registered it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canto/log.h"
#include "canto/router.h"
#include "canto/server.h"
#include "canto/stanza.h"
#include "core/router_internal.h"

struct pending {
    char id[40];                /* "canto-iq-<random>" (the hash key) */
    char *asker;                /* prepared from of the iq: the answer's to */
    char *peer;                 /* prepared to of the iq: the answer's from */
    uint64_t deadline;          /* canto_now_ms() when it times out */
    canto_iq_reply_fn cb;
    void *ud;
    struct canto_stanza *early; /* an answer that came inside canto_iq_send */
    struct pending *prev, *next;/* in the table's list, by deadline */
};

struct canto_iq_table {
    struct canto_hashmap by_id;  /* id -> struct pending */
    struct pending *head, *tail; /* earliest deadline first */
    size_t count;
    unsigned sending;            /* depth of canto_iq_send calls on the stack */
    bool closed;                 /* the server stopped: nothing more is sent */
    uv_timer_t timer;            /* fires at head's deadline */
};

static void on_timer(uv_timer_t *timer);

static void unlink_pending(struct canto_iq_table *t, struct pending *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        t->head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        t->tail = p->prev;
    p->prev = p->next = NULL;
}

/* Insert by deadline, from the tail: most iqs use the same timeout, so
 * this is one step in the usual case. */
static void link_pending(struct canto_iq_table *t, struct pending *p)
{
    struct pending *after = t->tail;
    while (after && after->deadline > p->deadline)
        after = after->prev;
    p->prev = after;
    p->next = after ? after->next : t->head;
    if (p->next)
        p->next->prev = p;
    else
        t->tail = p;
    if (after)
        after->next = p;
    else
        t->head = p;
}

static void rearm(struct canto_iq_table *t)
{
    if (!t->head) {
        uv_timer_stop(&t->timer);
        return;
    }
    uint64_t now = canto_now_ms();
    uint64_t wait = t->head->deadline > now ? t->head->deadline - now : 0;
    uv_timer_start(&t->timer, on_timer, wait, 0);
}

/* Take p out of the table (not freed). */
static void forget(struct canto_iq_table *t, struct pending *p)
{
    canto_hashmap_remove(&t->by_id, p->id);
    unlink_pending(t, p);
    t->count--;
}

static void pending_free(struct pending *p)
{
    free(p->asker);
    free(p->peer);
    canto_stanza_unref(p->early);
    free(p);
}

/* The error a timed-out iq gets: from the peer, to the asker, like an answer. */
static struct canto_stanza *timeout_error(const struct pending *p)
{
    struct canto_stanza *st = canto_stanza_new_root("iq", CANTO_NS_CLIENT);
    canto_xml_set_attr(st, st->root, "id", p->id);
    canto_xml_set_attr(st, st->root, "from", p->peer);
    canto_xml_set_attr(st, st->root, "to", p->asker);
    canto_xml_set_attr(st, st->root, "type", "error");
    struct canto_xml_node *err = canto_xml_add_child(st, st->root, "error", CANTO_NS_CLIENT);
    enum canto_stanza_condition cond = CANTO_COND_REMOTE_SERVER_TIMEOUT;
    canto_xml_set_attr(st, err, "type",
                       canto_stanza_error_type_name(canto_stanza_condition_type(cond)));
    canto_xml_add_child(st, err, canto_stanza_condition_name(cond), CANTO_NS_STANZAS);
    return st;
}

/* Fire every entry whose deadline has passed (and early answers, which are
 * linked with deadline 0). Each is out of the table before its callback
 * runs, so a callback may send new iqs. */
static void on_timer(uv_timer_t *timer)
{
    struct canto_iq_table *t = canto_container_of(timer, struct canto_iq_table, timer);
    uint64_t now = canto_now_ms();
    uv_unref((uv_handle_t *)timer); /* early answers (referenced below) are served now */
    while (t->head && t->head->deadline <= now && !t->closed) {
        struct pending *p = t->head;
        forget(t, p);
        struct canto_stanza *reply = p->early ? canto_stanza_ref(p->early) : timeout_error(p);
        if (!p->early)
            canto_debug("iq %s to %s: no answer in time", p->id, p->peer);
        p->cb(p->ud, reply);
        canto_stanza_unref(reply);
        pending_free(p);
    }
    if (!t->closed)
        rearm(t);
}

void canto_iq_table_init(struct canto_server *srv)
{
    struct canto_iq_table *t = canto_xcalloc(1, sizeof(*t));
    canto_hashmap_init(&t->by_id);
    uv_timer_init(srv->loop, &t->timer);
    /* Waiting iqs alone do not keep the loop alive: the listeners do while
     * the server runs, and stopping answers every waiting iq. */
    uv_unref((uv_handle_t *)&t->timer);
    srv->iq_table = t;
}

static void table_closed(uv_handle_t *h)
{
    struct canto_iq_table *t = canto_container_of((uv_timer_t *)h, struct canto_iq_table, timer);
    canto_hashmap_free(&t->by_id);
    free(t);
}

void canto_iq_table_close(struct canto_server *srv)
{
    struct canto_iq_table *t = srv->iq_table;
    if (!t)
        return;
    srv->iq_table = NULL;
    t->closed = true;
    /* Every waiting module hears "no answer will come" while it still
     * exists (modules stop after this), and frees what it kept. */
    while (t->head) {
        struct pending *p = t->head;
        forget(t, p);
        p->cb(p->ud, NULL);
        pending_free(p);
    }
    uv_close((uv_handle_t *)&t->timer, table_closed);
}

size_t canto_iq_pending_count(const struct canto_server *srv)
{
    return srv->iq_table ? srv->iq_table->count : 0;
}

int canto_iq_send(struct canto_server *srv, struct canto_stanza *iq, uint32_t timeout_ms,
                  canto_iq_reply_fn cb, void *ud)
{
    struct canto_iq_table *t = srv->iq_table;
    const char *type = canto_xml_attr(iq->root, "type");
    const char *from = canto_xml_attr(iq->root, "from");
    const char *to = canto_xml_attr(iq->root, "to");
    struct canto_jid f = {0}, d = {0};
    int rc = CANTO_OK;
    if (!t || t->closed)
        rc = CANTO_ERROR;
    else if (strcmp(iq->root->name, "iq") != 0 || !type ||
             (strcmp(type, "get") != 0 && strcmp(type, "set") != 0) || !from || !to ||
             canto_jid_parse_str(&f, from) != CANTO_OK || canto_jid_parse_str(&d, to) != CANTO_OK)
        rc = CANTO_INVALID;
    else if (t->count >= CANTO_IQ_PENDING_MAX)
        rc = CANTO_LIMIT;
    if (rc != CANTO_OK) {
        canto_jid_free(&f);
        canto_jid_free(&d);
        canto_stanza_unref(iq);
        return rc;
    }
    if (timeout_ms == 0 || timeout_ms > CANTO_IQ_TIMEOUT_MAX_MS)
        timeout_ms = CANTO_IQ_TIMEOUT_MAX_MS;

    struct pending *p = canto_xcalloc(1, sizeof(*p));
    char rnd[17];
    do {
        canto_server_new_id(srv, rnd, sizeof rnd);
        snprintf(p->id, sizeof p->id, "canto-iq-%s", rnd);
    } while (canto_hashmap_get(&t->by_id, p->id));
    p->asker = canto_xstrdup(f.full);
    p->peer = canto_xstrdup(d.full);
    p->deadline = canto_now_ms() + timeout_ms;
    p->cb = cb;
    p->ud = ud;
    canto_jid_free(&f);
    canto_jid_free(&d);
    /* The prepared forms go on the wire, so that the answer's addresses
     * compare equal whoever builds it. */
    canto_xml_set_attr(iq, iq->root, "id", p->id);
    canto_xml_set_attr(iq, iq->root, "from", p->asker);
    canto_xml_set_attr(iq, iq->root, "to", p->peer);
    canto_hashmap_put(&t->by_id, p->id, p);
    link_pending(t, p);
    t->count++;
    rearm(t);

    t->sending++;
    canto_route(srv, iq);
    t->sending--;
    return CANTO_OK;
}

bool canto_iq_pending_answer(struct canto_server *srv, struct canto_stanza *st,
                             const struct canto_jid *to)
{
    struct canto_iq_table *t = srv->iq_table;
    if (!t || t->count == 0 || strcmp(st->root->name, "iq") != 0)
        return false;
    const char *type = canto_xml_attr(st->root, "type");
    if (!type || (strcmp(type, "result") != 0 && strcmp(type, "error") != 0))
        return false;
    const char *id = canto_xml_attr(st->root, "id");
    struct pending *p = id ? canto_hashmap_get(&t->by_id, id) : NULL;
    if (!p || p->early || strcmp(to->full, p->asker) != 0)
        return false;
    const char *from = canto_xml_attr(st->root, "from");
    struct canto_jid f;
    if (!from || canto_jid_parse_str(&f, from) != CANTO_OK)
        return false;
    bool same_peer = strcmp(f.full, p->peer) == 0;
    canto_jid_free(&f);
    if (!same_peer)
        return false; /* someone else's answer with a guessed id: route it as usual */
    if (t->sending) {
        /* Answered before canto_iq_send returned: call back from the timer. */
        p->early = canto_stanza_ref(st);
        unlink_pending(t, p);
        p->deadline = 0;
        link_pending(t, p);
        rearm(t);
        /* An answer in hand keeps the loop alive until it is delivered, as
         * an answer still to come through storage or a socket would. */
        uv_ref((uv_handle_t *)&t->timer);
        return true;
    }
    forget(t, p);
    p->cb(p->ud, st);
    pending_free(p);
    return true;
}
