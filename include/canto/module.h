/*
 * module.h: the module API. A feature is one file with one const struct
 * canto_module: its name, the XEPs it implements, its disco features, and a
 * table of registrations (iq handlers by type and namespace, hooks with
 * priorities). The core applies the tables per virtual host at start and
 * reverses them at stop; no module registers or unregisters anything by hand.
 *
 * Handlers return CANTO_OK ("handled": the stanza was consumed and answered,
 * possibly later) or CANTO_DECLINED ("not mine": the next handler or the
 * core's default gets it), the nginx/Prosody contract.
 */
#ifndef CANTO_MODULE_H
#define CANTO_MODULE_H

#include "canto/buf.h"
#include "canto/common.h"
#include "canto/config.h"
#include "canto/jid.h"
#include "canto/xep.h"
#include "canto/xml.h"

struct canto_host;
struct canto_session;
struct canto_module_inst;

/* Fixed hook points. Interned as an enum: no string is built per stanza. */
enum canto_hook {
    /* A chat/normal message for a local account that has no resource able to
     * take it. ev->to is the bare JID. Handled = stored or bounced. */
    CANTO_HOOK_MESSAGE_OFFLINE,
    /* A presence stanza a local session sent (ev->session; ev->to NULL for a
     * broadcast, else the target). */
    CANTO_HOOK_PRESENCE_OUT,
    /* A session became available with a non-negative priority for the first
     * time (initial presence). Notification: every handler runs. */
    CANTO_HOOK_SESSION_AVAILABLE,
    /* A bound session is going away (ev->session); notification. */
    CANTO_HOOK_SESSION_END,
    /* A session has just bound its resource (ev->session), before the bind
     * result is sent. Notification: a handler that must finish something
     * first (loading the account's roster) calls canto_session_hold() and
     * later canto_session_release(); the bind result goes out, and the
     * session's stanzas start to flow, when every hold is released. */
    CANTO_HOOK_SESSION_BOUND,
    /* A stanza (message, presence, iq) from anywhere for a local account,
     * before delivery (ev->to prepared, ev->stanza's from trustworthy).
     * Handled = consumed (the handler dropped or bounced it, or holds it to
     * route it again with canto_route() once it can decide). Filters such as
     * blocking. */
    CANTO_HOOK_STANZA_IN,
    /* A stanza a local session sent (ev->session; ev->to prepared or NULL),
     * before the server acts on it. Handled = consumed (refused). */
    CANTO_HOOK_STANZA_OUT,
    /* A presence stanza for a local account (ev->to), after STANZA_IN: the
     * subscription types and probes are the roster's business. Handled =
     * consumed; declined = delivered as addressed. */
    CANTO_HOOK_PRESENCE_IN,
    /* An iq from a stream that has not authenticated (ev->session is not
     * bound: no JID; it has a host and ops). Handled = answered through
     * canto_session_send. Used by in-band registration. */
    CANTO_HOOK_PREAUTH_IQ,
    /* A local account was deleted (ev->to: its bare JID); its sessions are
     * still bound. Notification: what it had with others is undone (its
     * contacts are told the subscriptions are over). */
    CANTO_HOOK_ACCOUNT_REMOVED,
    /* A stanza for the client of a bound session (ev->session; ev->to is
     * the session's full JID), at the one outbound point
     * (canto_session_send), before it goes to the stream or waits in the
     * session. Filter: handled = consumed (the handler dropped it, or keeps
     * it to send later). Where acknowledgement counters, client-state
     * filtering and copies to other resources act. */
    CANTO_HOOK_SESSION_OUT,
    CANTO_HOOK_COUNT
};

struct canto_hook_event {
    struct canto_host *host;
    struct canto_session *session; /* the local session concerned, or NULL */
    struct canto_stanza *stanza;   /* borrowed; take a ref to keep it */
    const struct canto_jid *to;    /* prepared destination, or NULL */
};

typedef int (*canto_hook_fn)(struct canto_module_inst *mi, struct canto_hook_event *ev);

struct canto_hook_reg {
    enum canto_hook hook;
    int priority; /* higher runs first */
    canto_hook_fn fn;
};

/* An iq addressed to the host (or to no one) with this type and the
 * namespace of its payload. iq is borrowed; the handler routes a reply
 * (now, or later holding a ref). */
typedef int (*canto_iq_fn)(struct canto_module_inst *mi, struct canto_stanza *iq);

/* What an iq handler answers for. The server scope is the host itself
 * (to='domain'); the account scope is a local account's bare JID, where the
 * server answers on the account's behalf (RFC 6120 10.5.3.1): the owner
 * asking about itself (to its own bare JID, or with no to at all) or anyone
 * asking about it (vCards). A handler of the account scope reads the account
 * from canto_iq_account() and decides who may ask. An iq with no to is
 * offered to the account scope first, then to the server scope. */
enum canto_iq_scope {
    CANTO_IQ_SERVER = 1,
    CANTO_IQ_ACCOUNT = 2,
    /* The account scope for data that is the owner's alone (roster, block
     * list, private storage, vCard writes): the core answers forbidden to
     * anyone but the account's own sessions before the handler runs (also
     * for the server scope of the same registration: an iq to the host has
     * no account). The handler reads the account with canto_iq_account(). */
    CANTO_IQ_OWNER = 4,
};

struct canto_iq_reg {
    const char *type; /* "get" or "set" */
    const char *ns;   /* namespace of the payload element */
    canto_iq_fn fn;
    unsigned scope;   /* CANTO_IQ_* bits; 0 means CANTO_IQ_SERVER */
};

struct canto_module {
    const char *name;
    const struct canto_xep *xeps;      /* what it implements; {0}-terminated, may be NULL */
    const char *const *features;       /* disco#info features; NULL-terminated, may be NULL */
    /* disco#info features of every local account's bare JID (XEP-0030: what
     * the server answers on an account's behalf, e.g. vcard-temp);
     * NULL-terminated, may be NULL. */
    const char *const *account_features;
    const struct canto_iq_reg *iqs;    /* terminated by a zeroed entry; may be NULL */
    const struct canto_hook_reg *hooks;/* terminated by a zeroed fn; may be NULL */
    /* The config keys it reads, with defaults and bounds (config.h); the
     * loader validates them and canto_module_option_*() reads them.
     * Terminated by a NULL key; may be NULL. */
    const struct canto_option *options;
    /* Optional: append this module's stream features (XML) for a session's
     * stream, before authentication (authed false) or after it. */
    void (*stream_features)(struct canto_module_inst *mi, struct canto_session *s, bool authed,
                            struct canto_buf *out);
    int (*start)(struct canto_module_inst *mi); /* optional; sets mi->state */
    void (*stop)(struct canto_module_inst *mi); /* optional; frees mi->state */
};

struct canto_module_inst {
    const struct canto_module *module;
    struct canto_host *host;
    void *state; /* the module's own, per host */
};

/* Run a hook chain: CANTO_OK if a handler handled the event, CANTO_DECLINED
 * if every handler passed (or none is registered). */
int canto_hook_run(struct canto_host *host, enum canto_hook hook, struct canto_hook_event *ev);
/* Run every handler of a notification hook, ignoring their results. */
void canto_hook_notify(struct canto_host *host, enum canto_hook hook, struct canto_hook_event *ev);

/* The module instance of m on host (for modules that share state through a
 * private header), or NULL if it is not loaded there. */
struct canto_module_inst *canto_host_module(struct canto_host *host, const struct canto_module *m);

/* This module's option key (declared in its options table) as resolved for
 * its host: numbers, bools and enum indexes; a string or a service's domain
 * (NULL when the service is off). An undeclared key aborts. */
long canto_module_option_int(const struct canto_module_inst *mi, const char *key);
bool canto_module_option_bool(const struct canto_module_inst *mi, const char *key);
const char *canto_module_option_str(const struct canto_module_inst *mi, const char *key);

/* Append every module's stream features for s (see stream_features). */
void canto_host_stream_features(struct canto_host *host, struct canto_session *s, bool authed,
                                struct canto_buf *out);

/* Whose disco#info a feature list is for: the host itself (the modules'
 * features, which also make the caps hash) or a local account's bare JID
 * (their account_features). */
enum canto_disco_target {
    CANTO_DISCO_HOST,
    CANTO_DISCO_ACCOUNT,
};
/* Every disco#info feature the modules on host declare for target, sorted,
 * each once; NULL-terminated malloc'd array (free it; the strings are
 * static). A module adds a feature by declaring it in its descriptor. */
const char **canto_host_features(const struct canto_host *host, enum canto_disco_target target,
                                 size_t *n);
/* The identity every host announces in disco#info and entity caps. */
#define CANTO_IDENTITY_CATEGORY "server"
#define CANTO_IDENTITY_TYPE "im"
#define CANTO_IDENTITY_NAME "Canto"
#define CANTO_CAPS_NODE "https://canto.im"

/* The built-in modules, in load order; NULL-terminated. */
extern const struct canto_module *const canto_builtin_modules[];

#endif
