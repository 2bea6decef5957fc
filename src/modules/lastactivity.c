/*
 * lastactivity.c: last activity, XEP-0012 (jabber:iq:last).
 *
 * Asked of the server (to='domain'): the seconds since it started. Asked of
 * an account's bare JID: 0 while the account has an available resource,
 * else the seconds since its last session ended, with the status of its
 * last unavailable presence as text; only the owner and contacts subscribed
 * to the account's presence may ask (anyone else: forbidden), since last
 * activity discloses presence (XEP-0012 section 7). Queries to a full JID
 * are the client's to answer and are routed to it.
 *
 * The time is written to the account's store "last" (key "last": "UNIX
 * SECONDS\nSTATUS") when its last session ends.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "canto/router.h"
#include "canto/server.h"
#include "canto/session.h"
#include "canto/stanza.h"
#include "modules/contacts.h"

#define NS_LAST "jabber:iq:last"
#define STORE_LAST "last"
/* Bytes of the last status kept. */
#define MAX_STATUS 1024

struct last_state {
    time_t started;
};

static void answer(struct canto_server *srv, struct canto_stanza *iq, long long seconds,
                   const char *status, size_t status_len)
{
    struct canto_stanza *r = canto_iq_result(iq);
    struct canto_xml_node *q = canto_xml_add_child(r, r->root, "query", NS_LAST);
    char v[24];
    snprintf(v, sizeof v, "%lld", seconds < 0 ? 0 : seconds);
    canto_xml_set_attr(r, q, "seconds", v);
    if (status_len)
        canto_xml_add_text(r, q, status, status_len);
    canto_route(srv, r);
}

static int server_last(struct canto_module_inst *mi, struct canto_stanza *iq)
{
    struct last_state *st = mi->state;
    answer(mi->host->server, iq, (long long)(time(NULL) - st->started), NULL, 0);
    return CANTO_OK;
}

struct query {
    struct canto_server *server;
    struct canto_stanza *iq;
};

static void stored(void *ud, int rc, const struct canto_kv_item *items, size_t n, bool more)
{
    struct query *q = ud;
    if (rc == CANTO_OK && n == 1) {
        char *end = NULL;
        long long when = strtoll(items[0].value, &end, 10);
        const char *status = end && *end == '\n' ? end + 1 : "";
        answer(q->server, q->iq, (long long)time(NULL) - when, status,
               strlen(status));
    } else if (rc == CANTO_NOTFOUND) {
        canto_route_error(q->server, q->iq, CANTO_COND_ITEM_NOT_FOUND, NULL);
    } else {
        canto_route_error(q->server, q->iq, CANTO_COND_INTERNAL_SERVER_ERROR, NULL);
    }
    canto_stanza_unref(q->iq);
    free(q);
}

static void with_contacts(struct contacts *c, int rc, void *ud)
{
    struct query *q = ud;
    const char *from = canto_xml_attr(q->iq->root, "from");
    struct canto_jid fj;
    bool allowed = false;
    if (c && from && canto_jid_parse_str(&fj, from) == CANTO_OK) {
        struct roster_item *it = contacts_item(c, fj.bare);
        allowed = strcmp(fj.bare, c->bare) == 0 || (it && sub_from(it->sub));
        canto_jid_free(&fj);
    }
    if (!c && rc != CANTO_NOTFOUND) {
        canto_route_error(q->server, q->iq, CANTO_COND_INTERNAL_SERVER_ERROR, NULL);
    } else if (!allowed) {
        canto_route_error(q->server, q->iq, CANTO_COND_FORBIDDEN, NULL);
    } else {
        struct canto_user *u = canto_user_find(q->server, c->bare);
        bool online = false;
        for (struct canto_session *s = u ? u->sessions : NULL; s; s = s->next)
            online |= s->available && !s->invisible;
        if (online) {
            answer(q->server, q->iq, 0, NULL, 0);
        } else {
            canto_storage_kv_get(q->server->storage, CANTO_ACCOUNT(c->host->name, c->local),
                                 STORE_LAST, "last", stored, q);
            return;
        }
    }
    canto_stanza_unref(q->iq);
    free(q);
}

static int account_last(struct canto_module_inst *mi, struct canto_stanza *iq)
{
    struct canto_jid account;
    if (canto_iq_account(iq, &account) != CANTO_OK) {
        canto_route_error(mi->host->server, iq, CANTO_COND_BAD_REQUEST, NULL);
        return CANTO_OK;
    }
    struct query *q = canto_xmalloc(sizeof(*q));
    q->server = mi->host->server;
    q->iq = canto_stanza_ref(iq);
    contacts_with(mi->host, account.local, CONTACTS_ROSTER, with_contacts, q);
    canto_jid_free(&account);
    return CANTO_OK;
}

/* The status of an unavailable presence, kept on the session until it
 * ends: s->presence is gone by then. */
static void record(struct canto_session *s, const char *status)
{
    time_t now = time(NULL);
    char head[32];
    snprintf(head, sizeof head, "%lld\n", (long long)now);
    size_t full = status ? strlen(status) : 0;
    size_t slen = full > MAX_STATUS ? MAX_STATUS : full;
    /* Never cut inside a UTF-8 sequence. */
    while (slen > 0 && slen < full && ((unsigned char)status[slen] & 0xC0) == 0x80)
        slen--;
    struct canto_buf v = {0};
    canto_buf_append_str(&v, head);
    if (slen)
        canto_buf_append(&v, status, slen);
    struct canto_kv_change ch = {STORE_LAST, "last", v.data, v.len};
    canto_storage_kv_write(s->server->storage, CANTO_ACCOUNT(s->host->name, s->jid.local), &ch, 1,
                           NULL, NULL);
    canto_buf_free(&v);
}

static bool last_session(const struct canto_session *s)
{
    for (struct canto_session *t = s->user->sessions; t; t = t->next)
        if (t != s)
            return false;
    return true;
}

/* An explicit unavailable from the last session carries the status the
 * account will be remembered with. */
static int presence_out(struct canto_module_inst *mi, struct canto_hook_event *ev)
{
    struct canto_session *s = ev->session;
    if (ev->to || !s->available || strcmp(canto_stanza_type(ev->stanza), "unavailable") != 0)
        return CANTO_DECLINED;
    for (struct canto_session *t = s->user->sessions; t; t = t->next)
        if (t != s && t->available)
            return CANTO_DECLINED;
    struct canto_xml_node *st = canto_xml_child(ev->stanza->root, "status", CANTO_NS_CLIENT);
    record(s, st ? canto_xml_text(ev->stanza, st) : NULL);
    return CANTO_DECLINED;
}

static int session_end(struct canto_module_inst *mi, struct canto_hook_event *ev)
{
    struct canto_session *s = ev->session;
    /* A session that said unavailable itself was recorded then. */
    if (last_session(s) && (s->available || !s->announced))
        record(s, NULL);
    return CANTO_DECLINED;
}

static int last_start(struct canto_module_inst *mi)
{
    struct last_state *st = canto_xcalloc(1, sizeof(*st));
    st->started = time(NULL);
    mi->state = st;
    return CANTO_OK;
}

static void last_stop(struct canto_module_inst *mi)
{
    free(mi->state);
    mi->state = NULL;
}

static const char *const last_features[] = {NS_LAST, NULL};
static const struct canto_xep last_xeps[] = {
    {"XEP-0012", "Last Activity: server uptime; an account's last logout and status, for its subscribers only"},
    {0},
};
static const struct canto_iq_reg last_iqs[] = {
    {"get", NS_LAST, server_last, CANTO_IQ_SERVER},
    {"get", NS_LAST, account_last, CANTO_IQ_ACCOUNT},
    {0},
};
static const struct canto_hook_reg last_hooks[] = {
    {CANTO_HOOK_PRESENCE_OUT, 50, presence_out},
    {CANTO_HOOK_SESSION_END, 10, session_end},
    {0},
};

const struct canto_module canto_mod_lastactivity = {
    .name = "lastactivity",
    .xeps = last_xeps,
    .features = last_features,
    .account_features = last_features, /* an account's last activity, for its subscribers */
    .iqs = last_iqs,
    .hooks = last_hooks,
    .start = last_start,
    .stop = last_stop,
};
