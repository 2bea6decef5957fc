/*
 * session.h: bound client sessions and the table of online users.
 *
 * A session is a stream that has bound a resource: the router delivers to it
 * through its ops, whatever the transport (TCP c2s today; WebSocket and BOSH
 * later). Every online account has one struct canto_user holding its
 * sessions; the user table maps bare JIDs to them. All of this belongs to the
 * loop thread that owns the accounts (one shard today).
 */
#ifndef CANTO_SESSION_H
#define CANTO_SESSION_H

#include "canto/jid.h"
#include "canto/xml.h"

struct canto_server;
struct canto_host;
struct canto_session;
struct canto_user;

struct canto_session_ops {
    /* Deliver a stanza (borrowed; the transport serialises it). */
    void (*send)(struct canto_session *s, struct canto_stanza *st);
    /* Close the stream with a stream error condition (e.g. "conflict"). */
    void (*close)(struct canto_session *s, const char *condition, const char *text);
    /* The last hold on a just-bound session was released: answer the bind
     * and let its stanzas flow (see canto_session_hold). */
    void (*ready)(struct canto_session *s);
    /* The peer's IP address as text into out (for per-address limits). */
    void (*peer_address)(struct canto_session *s, char *out, size_t size);
    /* Keep the stream object alive across asynchronous work (for streams
     * that are not bound and so cannot be looked up again); unref returns
     * false when the stream has closed meanwhile (then do not use it). */
    void (*ref)(struct canto_session *s);
    bool (*unref)(struct canto_session *s);
};

struct canto_session {
    const struct canto_session_ops *ops;
    struct canto_server *server;
    struct canto_host *host;
    struct canto_user *user;        /* set while bound */
    struct canto_session *next;     /* in user->sessions */
    struct canto_jid jid;           /* full JID once bound */
    int priority;                   /* -128..127 from the last available presence */
    bool available;                 /* between initial presence and unavailable */
    bool announced;                 /* SESSION_AVAILABLE already fired */
    bool roster_requested;          /* fetched its roster: gets roster pushes */
    bool blocklist_requested;       /* fetched its block list: gets its pushes */
    bool invisible;                 /* XEP-0186: appears offline to contacts */
    bool invisible_probe;           /* ...but its initial presence probes them */
    bool has_contacts;              /* holds its account's contacts in memory */
    unsigned holds;                 /* just bound, waiting for modules (see hold) */
    struct canto_stanza *presence;  /* last available presence sent, or NULL */
    char **directed;                /* full JIDs that got directed presence */
    size_t ndirected;
};

struct canto_user {
    char *bare;                     /* "local@domain" (hash key) */
    struct canto_host *host;
    struct canto_session *sessions; /* bound sessions, newest first */
};

/* Bind s to local@host/resource (all prepared). A session already bound to
 * that full JID is closed with a conflict stream error and unbound first. */
void canto_session_bind(struct canto_session *s, struct canto_host *host, const char *local,
                        const char *resource);
/* While a just-bound session has holds (taken by CANTO_HOOK_SESSION_BOUND
 * handlers), its bind is not answered and its stanzas wait. The release of
 * the last hold calls s->ops->ready. Call release only on a session that is
 * still bound (look it up again after any asynchronous wait). */
void canto_session_hold(struct canto_session *s);
void canto_session_release(struct canto_session *s);
/* Unbind (on close): fires CANTO_HOOK_SESSION_END, leaves the user table. */
void canto_session_unbind(struct canto_session *s);
/* Record that s sent directed presence to full (for unavailable at logout). */
void canto_session_add_directed(struct canto_session *s, const char *full);
void canto_session_clear_directed(struct canto_session *s);

struct canto_user *canto_user_find(struct canto_server *srv, const char *bare);
/* The session bound to this full JID, or NULL. */
struct canto_session *canto_session_find(struct canto_server *srv, const struct canto_jid *full);
/* The local session a stanza came from (its stamped from), or NULL. */
struct canto_session *canto_session_sender(struct canto_server *srv, const struct canto_stanza *st);

#endif
