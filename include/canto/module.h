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

#include "canto/common.h"
#include "canto/jid.h"
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

struct canto_iq_reg {
    const char *type; /* "get" or "set" */
    const char *ns;   /* namespace of the payload element */
    canto_iq_fn fn;
};

struct canto_module {
    const char *name;
    const char *const *xeps;           /* "XEP-0199" ...; NULL-terminated, may be NULL */
    const char *const *features;       /* disco#info features; NULL-terminated, may be NULL */
    const struct canto_iq_reg *iqs;    /* terminated by a zeroed entry; may be NULL */
    const struct canto_hook_reg *hooks;/* terminated by a zeroed fn; may be NULL */
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

/* Every disco#info feature of the modules on host, sorted, each once;
 * NULL-terminated malloc'd array (free it; the strings are static). */
const char **canto_host_features(const struct canto_host *host, size_t *n);
/* The identity every host announces in disco#info and entity caps. */
#define CANTO_IDENTITY_CATEGORY "server"
#define CANTO_IDENTITY_TYPE "im"
#define CANTO_IDENTITY_NAME "Canto"
#define CANTO_CAPS_NODE "https://canto.im"

/* The built-in modules, in load order; NULL-terminated. */
extern const struct canto_module *const canto_builtin_modules[];

#endif
