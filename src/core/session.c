/*
 * session.c: binding sessions to resources and the table of online users.
 *
 * The user table holds one entry per account with at least one bound
 * session; it is what the router consults for local delivery, so a lookup is
 * one hash probe whatever the number of users online.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canto/log.h"
#include "canto/server.h"
#include "canto/session.h"

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
        canto_session_unbind(old);
        old->ops->close(old, "conflict", "Replaced by a new connection");
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
}

void canto_session_hold(struct canto_session *s)
{
    s->holds++;
}

void canto_session_release(struct canto_session *s)
{
    if (s->holds > 0 && --s->holds == 0 && s->user)
        s->ops->ready(s);
}

void canto_session_unbind(struct canto_session *s)
{
    struct canto_user *u = s->user;
    if (!u)
        return;
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
