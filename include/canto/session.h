/*
 * session.h: client sessions and the table of online users.
 *
 * A session is what a client is to the rest of the server: once bound, a
 * full JID with its presence and interests. It is allocated apart from the
 * stream that carries it and is *attached* to that stream through ops (TCP
 * c2s today; WebSocket and BOSH later). It can be detached from its stream
 * and attached to another (Stream Management resumption, the gaps between
 * BOSH requests): while detached it keeps its place in the user table, for
 * a time and a number of waiting stanzas its stream chose, and the stanzas
 * sent to it wait in it.
 *
 * Everything sent to a session goes through one outbound point,
 * canto_session_send: the CANTO_HOOK_SESSION_OUT filters run there
 * (acknowledgement counters, client-state filtering, copies to other
 * resources act at that point), then the stanza goes to the stream, or
 * waits while the session cannot take it yet (binding) or is detached.
 *
 * Every online account has one struct canto_user holding its sessions; the
 * user table maps bare JIDs to them. All of this belongs to the loop thread
 * that owns the accounts (one shard today).
 *
 * Lifetime: a session is reference counted. Its stream holds one reference
 * from canto_session_new until the stream is freed (and may keep reading
 * server and host after detaching), the user table holds one while it is
 * bound, and asynchronous work holds one while it runs (canto_session_ref).
 * A session *ends* once (canto_session_end): it leaves the user table
 * (CANTO_HOOK_SESSION_END), stanzas still waiting in it are routed again as
 * if it had never existed (a message to its full JID then follows the bare
 * JID rules, an iq gets service-unavailable), and nothing more is sent
 * through it. It is freed when the last reference goes.
 */
#ifndef CANTO_SESSION_H
#define CANTO_SESSION_H

#include "canto/jid.h"
#include "canto/xml.h"

struct canto_server;
struct canto_host;
struct canto_session;
struct canto_user;
struct session_waiting;

/* Told once whether the client has taken what was sent to a session:
 * status CANTO_OK or CANTO_ERROR (see canto_session_when_taken). */
typedef void (*canto_session_taken_fn)(void *ud, int status);

/* What the stream a session is attached to does for it; each gets the
 * session, whose s->stream is the stream's own object. */
struct canto_session_ops {
    /* Write a stanza (borrowed) to the client: the stream serialises it. */
    void (*send)(struct canto_session *s, struct canto_stanza *st);
    /* Close the stream with a stream error condition (e.g. "conflict"). */
    void (*close)(struct canto_session *s, const char *condition, const char *text);
    /* The last hold on a just-bound session was released: answer the bind
     * and let the client's stanzas flow (see canto_session_hold). The
     * stanzas that waited for the session go out right after. */
    void (*ready)(struct canto_session *s);
    /* The peer's IP address as text into out (for per-address limits). */
    void (*peer_address)(struct canto_session *s, char *out, size_t size);
    /* cb(ud, status) once everything written so far has left for the
     * client (CANTO_OK) or can no longer (CANTO_ERROR: the connection
     * dropped). May call cb before returning. */
    void (*when_written)(struct canto_session *s, canto_session_taken_fn cb, void *ud);
};

struct canto_session {
    const struct canto_session_ops *ops; /* the attached stream's; NULL while detached */
    void *stream;                   /* the attached stream's object; NULL while detached */
    struct canto_server *server;
    struct canto_host *host;
    struct canto_user *user;        /* set while bound */
    struct canto_session *next;     /* in user->sessions */
    struct session_waiting *waiting;/* stanzas waiting to go out, and the linger timer;
                                     * NULL when there are none (session.c) */
    struct canto_jid jid;           /* full JID once bound */
    int refs;                       /* holders (see the lifetime note above) */
    int priority;                   /* -128..127 from the last available presence */
    bool ended;                     /* canto_session_end ran: nothing goes out any more */
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

/* Stanzas a bound session keeps for the client while it cannot take them
 * yet (its bind is not answered yet); beyond this an iq or message gets
 * wait/resource-constraint. */
#define CANTO_SESSION_MAX_WAITING 64

/* --- lifetime and streams ------------------------------------------------------ */

/* A new session on host (NULL until the stream knows it), attached to
 * stream through ops; one reference, the stream's. Never NULL. */
struct canto_session *canto_session_new(struct canto_server *srv, struct canto_host *host,
                                        const struct canto_session_ops *ops, void *stream);
struct canto_session *canto_session_ref(struct canto_session *s);
/* Drop a reference (frees at zero). Returns true if s is still alive and
 * has not ended (then it may be used), false otherwise: the answer to
 * "is the session I kept across asynchronous work still worth talking to?". */
bool canto_session_unref(struct canto_session *s);
/* The stream lets go of s (its connection dropped). An unbound or ended
 * session, or linger_ms 0, ends at once. Otherwise s stays bound without a
 * stream for up to linger_ms, keeping up to max_waiting stanzas for the
 * next stream; when the time is up or one more stanza comes, it ends. The
 * stream keeps its reference (to drop when it is freed). */
void canto_session_detach(struct canto_session *s, uint64_t linger_ms, size_t max_waiting);
/* Attach a detached session that has not ended to stream (ops); the
 * stanzas that waited go to it now, in order. CANTO_ERROR if s is attached
 * or has ended. The new stream takes a reference of its own. */
int canto_session_attach(struct canto_session *s, const struct canto_session_ops *ops,
                         void *stream);
/* End s (see above); a no-op when it has ended already. s stays attached
 * (its stream is closing), and must still be referenced by the caller. */
void canto_session_end(struct canto_session *s);

/* End every detached session (the server stops: nobody can come back). */
void canto_session_end_detached(struct canto_server *srv);

/* --- binding ------------------------------------------------------------------- */

/* Bind s to local@host/resource (all prepared). A session already bound to
 * that full JID ends and is closed with a conflict stream error first. */
void canto_session_bind(struct canto_session *s, struct canto_host *host, const char *local,
                        const char *resource);
/* While a just-bound session has holds (taken by CANTO_HOOK_SESSION_BOUND
 * handlers), its bind is not answered and what is sent to it waits. The
 * release of the last hold calls s->ops->ready, then sends what waited.
 * Call release only on a session that is still bound (look it up again
 * after any asynchronous wait). */
void canto_session_hold(struct canto_session *s);
void canto_session_release(struct canto_session *s);

/* --- the outbound point -------------------------------------------------------- */

/* Send st (borrowed) to the client of s. For a bound session the
 * CANTO_HOOK_SESSION_OUT filters run first (one that handles it consumes
 * it); then it goes to the stream, or waits in s while s is binding or
 * detached. A session that has not bound (an iq answered before
 * authentication) gets it straight on its stream; an ended one, not at all. */
void canto_session_send(struct canto_session *s, struct canto_stanza *st);
/* cb(ud, CANTO_OK) once the client has taken everything sent to s so far
 * (today: the bytes were written to its connection; with Stream Management:
 * acknowledged), or cb(ud, CANTO_ERROR) if that cannot be known any more
 * (the connection dropped; s is detached, ended or still has stanzas
 * waiting). cb may run before this returns. */
void canto_session_when_taken(struct canto_session *s, canto_session_taken_fn cb, void *ud);
/* Close the stream of s with a stream error; a detached session ends. */
void canto_session_close(struct canto_session *s, const char *condition, const char *text);
/* The client's IP address as text ("?" when detached). */
void canto_session_peer_address(struct canto_session *s, char *out, size_t size);

/* --- presence bookkeeping ------------------------------------------------------ */

/* Record that s sent directed presence to full (for unavailable at logout). */
void canto_session_add_directed(struct canto_session *s, const char *full);
void canto_session_clear_directed(struct canto_session *s);

/* --- the user table ------------------------------------------------------------ */

struct canto_user *canto_user_find(struct canto_server *srv, const char *bare);
/* The session bound to this full JID, or NULL. */
struct canto_session *canto_session_find(struct canto_server *srv, const struct canto_jid *full);
/* The local session a stanza came from (its stamped from), or NULL. */
struct canto_session *canto_session_sender(struct canto_server *srv, const struct canto_stanza *st);

#endif
