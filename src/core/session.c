/*
 * session.c: sessions apart from their streams, the one outbound point, and
 * the table of online users.
 *
 * The user table holds one entry per account with at least one bound
 * session; it is what the router consults for local delivery, so a lookup is
 * one hash probe whatever the number of users online.
 *
 * A session hands stanzas to its stream at once when it can. When it
 * cannot, because its bind is not answered yet or because it is detached,
 * they wait in a small queue that exists only then (struct
 * session_waiting), so an idle session pays one pointer for all of this. A
 * detached session also owns a timer there: its time without a stream. The
 * timer is allocated on its own because libuv frees a handle only in a
 * close callback, which may come after the session is gone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canto/log.h"
#include "canto/router.h"
#include "canto/server.h"
#include "canto/session.h"
#include "canto/stanza.h"

struct session_waiting {
    struct canto_stanza **items;  /* oldest first, one reference each */
    size_t n, cap;
    size_t max;                   /* the bound while detached (the stream's choice) */
    uv_timer_t *linger;           /* detached: ends the session when it fires */
};

/* --- lifetime ----------------------------------------------------------------- */

struct canto_session *canto_session_new(struct canto_server *srv, struct canto_host *host,
                                        const struct canto_session_ops *ops, void *stream)
{
    struct canto_session *s = canto_xcalloc(1, sizeof(*s));
    s->server = srv;
    s->host = host;
    s->ops = ops;
    s->stream = stream;
    s->refs = 1;
    return s;
}

struct canto_session *canto_session_ref(struct canto_session *s)
{
    s->refs++;
    return s;
}

static void session_free(struct canto_session *s)
{
    /* Bound sessions are held by the table and waiting stanzas are let go
     * at the end, so only the JID and the presence bookkeeping are left. */
    canto_jid_free(&s->jid);
    canto_stanza_unref(s->presence);
    canto_session_clear_directed(s);
    free(s);
}

bool canto_session_unref(struct canto_session *s)
{
    if (--s->refs == 0) {
        session_free(s);
        return false;
    }
    return !s->ended;
}

static void linger_closed(uv_handle_t *h)
{
    free(h);
}

/* Take the waiting stanzas out of s and free the queue and its timer. The
 * caller owns the returned array (and its references). */
static struct canto_stanza **take_waiting(struct canto_session *s, size_t *n)
{
    struct session_waiting *w = s->waiting;
    *n = 0;
    if (!w)
        return NULL;
    s->waiting = NULL;
    if (w->linger) {
        w->linger->data = NULL;
        uv_close((uv_handle_t *)w->linger, linger_closed);
    }
    struct canto_stanza **items = w->items;
    *n = w->n;
    free(w);
    return items;
}

/* A stanza that waited for a session that ended: what the sender would have
 * seen had the session not existed. A message is routed again (to a full
 * JID that is gone it follows the bare JID rules: another resource or
 * offline storage); a request iq is answered service-unavailable; the rest
 * (presence, results, errors) is dropped. Consumes st. */
static void route_again(struct canto_server *srv, struct canto_stanza *st)
{
    const char *name = st->root->name;
    const char *type = canto_stanza_type(st);
    if (strcmp(name, "message") == 0 && strcmp(type, "error") != 0 &&
        canto_xml_attr(st->root, "to")) {
        canto_route(srv, st);
        return;
    }
    if (strcmp(name, "iq") == 0 && (strcmp(type, "get") == 0 || strcmp(type, "set") == 0))
        canto_route_error(srv, st, CANTO_COND_SERVICE_UNAVAILABLE, NULL);
    canto_stanza_unref(st);
}

/* Leave the user table (the table's reference is dropped by the caller). */
static void unbind(struct canto_session *s)
{
    struct canto_user *u = s->user;
    struct canto_hook_event ev = {.session = s};
    canto_hook_notify(s->host, CANTO_HOOK_SESSION_END, &ev);
    for (struct canto_session **pp = &u->sessions; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    s->user = NULL;
    s->next = NULL;
    s->available = false;
    canto_stanza_unref(s->presence);
    s->presence = NULL;
    canto_session_clear_directed(s);
    if (!u->sessions) {
        canto_hashmap_remove(&s->server->users, u->bare);
        free(u->bare);
        free(u);
    }
}

void canto_session_end(struct canto_session *s)
{
    if (s->ended)
        return;
    s->ended = true;
    canto_session_ref(s);
    bool bound = s->user != NULL;
    if (bound)
        unbind(s);
    size_t n;
    struct canto_stanza **items = take_waiting(s, &n);
    for (size_t i = 0; i < n; i++)
        route_again(s->server, items[i]);
    free(items);
    if (bound)
        canto_session_unref(s); /* the table's */
    canto_session_unref(s);
}

static void linger_expired(uv_timer_t *t)
{
    struct canto_session *s = t->data;
    if (s) {
        canto_debug("%s: detached for too long, ending the session", s->jid.full);
        canto_session_end(s);
    }
}

void canto_session_detach(struct canto_session *s, uint64_t linger_ms, size_t max_waiting)
{
    s->ops = NULL;
    s->stream = NULL;
    if (!s->user || s->ended || linger_ms == 0) {
        canto_session_end(s);
        return;
    }
    if (!s->waiting)
        s->waiting = canto_xcalloc(1, sizeof(*s->waiting));
    struct session_waiting *w = s->waiting;
    w->max = max_waiting;
    if (!w->linger) {
        w->linger = canto_xmalloc(sizeof(*w->linger));
        uv_timer_init(s->server->loop, w->linger);
    }
    w->linger->data = s;
    uv_timer_start(w->linger, linger_expired, linger_ms, 0);
    if (w->n > w->max)
        canto_session_end(s);
}

void canto_session_end_detached(struct canto_server *srv)
{
    size_t n = 0;
    void **users = canto_hashmap_values(&srv->users, &n);
    /* Collected first: ending the last session of an account frees its
     * entry. A session is referenced while it is looked at. */
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        for (struct canto_session *s = ((struct canto_user *)users[i])->sessions; s; s = s->next)
            count++;
    struct canto_session **all = canto_xcalloc(count ? count : 1, sizeof(*all));
    count = 0;
    for (size_t i = 0; i < n; i++)
        for (struct canto_session *s = ((struct canto_user *)users[i])->sessions; s; s = s->next)
            if (!s->ops)
                all[count++] = canto_session_ref(s);
    free(users);
    for (size_t i = 0; i < count; i++) {
        canto_session_end(all[i]);
        canto_session_unref(all[i]);
    }
    free(all);
}

/* Hand what waited to the stream, in order, as long as the session can
 * take it (a stanza may close the stream, or the hook may detach it). */
static void flush_waiting(struct canto_session *s)
{
    struct session_waiting *w = s->waiting;
    if (!w)
        return;
    size_t i = 0;
    canto_session_ref(s);
    while (s->waiting == w && i < w->n && s->ops && !s->ended && s->holds == 0) {
        struct canto_stanza *st = w->items[i++];
        s->ops->send(s, st);
        canto_stanza_unref(st);
    }
    if (s->waiting == w) {
        memmove(w->items, w->items + i, (w->n - i) * sizeof(*w->items));
        w->n -= i;
        if (w->n == 0 && !w->linger) {
            free(w->items);
            free(w);
            s->waiting = NULL;
        }
    }
    canto_session_unref(s);
}

int canto_session_attach(struct canto_session *s, const struct canto_session_ops *ops,
                         void *stream)
{
    if (s->ops || s->ended)
        return CANTO_ERROR;
    s->ops = ops;
    s->stream = stream;
    canto_session_ref(s);
    struct session_waiting *w = s->waiting;
    if (w && w->linger) {
        w->linger->data = NULL;
        uv_close((uv_handle_t *)w->linger, linger_closed);
        w->linger = NULL;
    }
    flush_waiting(s);
    return CANTO_OK;
}

/* --- binding -------------------------------------------------------------------- */

void canto_session_bind(struct canto_session *s, struct canto_host *host, const char *local,
                        const char *resource)
{
    struct canto_server *srv = host->server;
    size_t len = strlen(local) + strlen(host->name) + strlen(resource) + 3;
    char *full = canto_xmalloc(len);
    snprintf(full, len, "%s@%s/%s", local, host->name, resource);
    /* The parts are prepared already; parsing again gives the one JID form. */
    int rc = canto_jid_parse_str(&s->jid, full);
    free(full);
    if (rc != CANTO_OK)
        abort(); /* the stream layer prepared every part */

    struct canto_session *old = canto_session_find(srv, &s->jid);
    if (old) {
        canto_info("%s: resource conflict, closing the older session", s->jid.full);
        canto_session_ref(old);
        canto_session_end(old);
        canto_session_close(old, "conflict", "Replaced by a new connection");
        canto_session_unref(old);
    }
    struct canto_user *u = canto_user_find(srv, s->jid.bare);
    if (!u) {
        u = canto_xcalloc(1, sizeof(*u));
        u->bare = canto_xstrdup(s->jid.bare);
        u->host = host;
        canto_hashmap_put(&srv->users, u->bare, u);
    }
    s->host = host;
    s->user = u;
    s->next = u->sessions;
    u->sessions = s;
    canto_session_ref(s); /* the table's */
}

void canto_session_hold(struct canto_session *s)
{
    s->holds++;
}

void canto_session_release(struct canto_session *s)
{
    if (s->holds == 0 || --s->holds > 0 || !s->user || !s->ops)
        return;
    canto_session_ref(s);
    s->ops->ready(s);
    if (s->ops && !s->ended)
        flush_waiting(s);
    canto_session_unref(s);
}

/* --- the outbound point ----------------------------------------------------------- */

/* st cannot go to the stream now: keep it, within the bound. */
static void keep_waiting(struct canto_session *s, struct canto_stanza *st)
{
    if (!s->waiting)
        s->waiting = canto_xcalloc(1, sizeof(*s->waiting));
    struct session_waiting *w = s->waiting;
    bool detached = s->ops == NULL;
    size_t max = detached ? w->max : CANTO_SESSION_MAX_WAITING;
    if (!detached && w->n >= max) {
        /* Binding takes a few storage reads; a sender that fills the queue
         * meanwhile is told to try again rather than left without answer. */
        const char *type = canto_stanza_type(st);
        bool request = strcmp(st->root->name, "iq") == 0
                           ? (strcmp(type, "get") == 0 || strcmp(type, "set") == 0)
                           : strcmp(st->root->name, "message") == 0;
        if (request)
            canto_route_error(s->server, st, CANTO_COND_RESOURCE_CONSTRAINT,
                              "The recipient is not ready yet");
        return;
    }
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 4;
        w->items = canto_xrealloc(w->items, w->cap * sizeof(*w->items));
    }
    w->items[w->n++] = canto_stanza_ref(st);
    if (detached && w->n > max) {
        canto_debug("%s: too many stanzas for a detached session, ending it", s->jid.full);
        canto_session_end(s);
    }
}

void canto_session_send(struct canto_session *s, struct canto_stanza *st)
{
    if (s->ended)
        return;
    if (!s->user) {
        /* Not bound: the stream answering its own client (registration). */
        if (s->ops)
            s->ops->send(s, st);
        return;
    }
    struct canto_hook_event ev = {.session = s, .stanza = st, .to = &s->jid};
    if (canto_hook_run(s->host, CANTO_HOOK_SESSION_OUT, &ev) == CANTO_OK)
        return; /* a filter took it */
    if (s->ended)
        return;
    if (s->ops && s->holds == 0 && !s->waiting)
        s->ops->send(s, st);
    else
        keep_waiting(s, st);
}

void canto_session_when_taken(struct canto_session *s, canto_session_taken_fn cb, void *ud)
{
    if (s->ended || !s->ops || s->waiting) {
        cb(ud, CANTO_ERROR);
        return;
    }
    s->ops->when_written(s, cb, ud);
}

void canto_session_close(struct canto_session *s, const char *condition, const char *text)
{
    if (s->ops)
        s->ops->close(s, condition, text);
    else
        canto_session_end(s);
}

void canto_session_peer_address(struct canto_session *s, char *out, size_t size)
{
    if (s->ops)
        s->ops->peer_address(s, out, size);
    else if (size > 0)
        snprintf(out, size, "?");
}

/* --- presence bookkeeping ----------------------------------------------------------- */

void canto_session_add_directed(struct canto_session *s, const char *full)
{
    for (size_t i = 0; i < s->ndirected; i++)
        if (strcmp(s->directed[i], full) == 0)
            return;
    s->directed = canto_xrealloc(s->directed, (s->ndirected + 1) * sizeof(*s->directed));
    s->directed[s->ndirected++] = canto_xstrdup(full);
}

void canto_session_clear_directed(struct canto_session *s)
{
    for (size_t i = 0; i < s->ndirected; i++)
        free(s->directed[i]);
    free(s->directed);
    s->directed = NULL;
    s->ndirected = 0;
}

/* --- the user table ------------------------------------------------------------------ */

struct canto_user *canto_user_find(struct canto_server *srv, const char *bare)
{
    return canto_hashmap_get(&srv->users, bare);
}

struct canto_session *canto_session_find(struct canto_server *srv, const struct canto_jid *full)
{
    if (!full->resource)
        return NULL;
    struct canto_user *u = canto_user_find(srv, full->bare);
    if (!u)
        return NULL;
    for (struct canto_session *s = u->sessions; s; s = s->next)
        if (strcmp(s->jid.resource, full->resource) == 0)
            return s;
    return NULL;
}

struct canto_session *canto_session_sender(struct canto_server *srv, const struct canto_stanza *st)
{
    const char *from = canto_xml_attr(st->root, "from");
    struct canto_jid j;
    if (!from || canto_jid_parse_str(&j, from) != CANTO_OK)
        return NULL;
    struct canto_session *s = canto_session_find(srv, &j);
    canto_jid_free(&j);
    return s;
}
