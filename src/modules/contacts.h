/*
 * contacts.h: an account's contacts in memory: its roster (RFC 6121 section
 * 2, with the subscription states of section 3) and its block list
 * (XEP-0191). Private to src/modules: the roster, presence, blocking and
 * last-activity modules share it.
 *
 * A struct contacts is this module's state of an account in the core's
 * per-account facility (canto/account_state.h), which decides how long it
 * stays in memory: while any session of the account is bound (each takes a
 * hold at CANTO_HOOK_SESSION_BOUND, whose bind waits for the load, and drops
 * it at CANTO_HOOK_SESSION_END), while an operation waits for it
 * (contacts_with), and then in the facility's bounded cache of offline
 * accounts. Its two parts are read separately, when first needed: the
 * block list (every stanza to the account passes the blocking filter) and
 * the roster with its version (subscriptions, the account's own iqs and
 * sessions). A stanza to an account that does not exist reads neither.
 *
 * Changes are made in memory first (so the next stanza sees them) and then
 * written to storage in the same order; contacts_save's callback tells when
 * the change is durable, which is when a client's request is answered.
 */
#ifndef CANTO_MODULES_CONTACTS_H
#define CANTO_MODULES_CONTACTS_H

#include "canto/account_state.h"
#include "canto/hashmap.h"
#include "canto/module.h"
#include "canto/storage.h"

/* Limits on what a client may store in its roster. */
#define ROSTER_MAX_ITEMS 2000
#define ROSTER_MAX_TEXT 1023 /* bytes of a name or a group name */
#define ROSTER_MAX_GROUPS 64 /* groups of one item */
#define BLOCKLIST_MAX_ITEMS 2000

enum subscription { SUB_NONE, SUB_TO, SUB_FROM, SUB_BOTH };

struct roster_item {
    char *jid;           /* the contact's bare JID, prepared (the map key) */
    char *name;          /* NULL if none */
    char **groups;
    size_t ngroups;
    enum subscription sub;
    bool ask;            /* pending out: we asked for their presence */
    bool pending_in;     /* they asked for ours, unanswered */
    bool approved;       /* pre-approved (RFC 6121 3.4) */
    bool listed;         /* in the roster proper; false: only a pending request */
};

/* The parts of struct contacts, read separately (bit masks). */
#define CONTACTS_ROSTER 1u   /* items and ver */
#define CONTACTS_BLOCKED 2u  /* blocked */
#define CONTACTS_ALL (CONTACTS_ROSTER | CONTACTS_BLOCKED)

struct contacts {
    struct canto_account *account;
    struct canto_host *host;
    const char *local;            /* the account's localpart (the account's string) */
    const char *bare;             /* local@host (likewise) */
    struct canto_hashmap items;   /* bare JID -> struct roster_item (CONTACTS_ROSTER) */
    uint64_t ver;                 /* roster version, bumped by every change */
    struct canto_hashmap blocked; /* JID as blocked -> the same string (CONTACTS_BLOCKED) */
    unsigned roster_reads;        /* reads of the roster part not answered yet */
    bool roster_failed;           /* one of them failed */
};

/* fn gets the contacts of an existing account with the parts in need in
 * memory (rc CANTO_OK), or NULL with rc CANTO_NOTFOUND (no such account)
 * or CANTO_ERROR (storage failed): at once if nothing has to be read and
 * nothing waits before, else later, in the order of the calls. c is valid
 * during fn. */
typedef void (*contacts_fn)(struct contacts *c, int rc, void *ud);
void contacts_with(struct canto_host *host, const char *local, unsigned need, contacts_fn fn,
                   void *ud);
/* An iq about the account's own contacts (roster, block list), from a
 * handler registered with CANTO_IQ_OWNER (anyone but the owner got
 * forbidden from the core, RFC 6121 2.1.5): fn runs once the contacts are
 * in memory (internal-server-error if they cannot be read). Returns
 * CANTO_OK: the iq is always answered. */
typedef void (*contacts_iq_fn)(struct canto_module_inst *mi, struct canto_stanza *iq,
                               struct contacts *c);
int contacts_owner_iq(struct canto_module_inst *mi, struct canto_stanza *iq, contacts_iq_fn fn);
/* The contacts of an existing account if the parts in need are in memory
 * and nothing waits for them before, else NULL. Never reads anything.
 * Always non-NULL with CONTACTS_ALL for an account with a bound session. */
struct contacts *contacts_find(struct canto_host *host, const char *bare, unsigned need);

struct roster_item *contacts_item(struct contacts *c, const char *jid);
/* The item for jid, created (unlisted, subscription none) if missing. */
struct roster_item *contacts_item_add(struct contacts *c, const char *jid);
/* Remove and free the item (if present). */
void contacts_item_remove(struct contacts *c, const char *jid);
/* Bump the roster version and write the item jid (or its removal) and the
 * version, atomically. cb(ud, rc) when durable; cb may be NULL. */
void contacts_save(struct contacts *c, const char *jid, canto_storage_done_cb cb, void *ud);
/* Items in the roster proper (not only pending requests). */
size_t contacts_listed(struct contacts *c);
/* Append <item/> for it to query as a client sees it (removed:
 * subscription='remove'). */
void roster_item_to_xml(struct canto_stanza *st, struct canto_xml_node *query,
                        const struct roster_item *it, bool removed);
/* An item that only recorded a pending request and has nothing left. */
bool roster_item_empty(const struct roster_item *it);

/* Block list. contacts_blocks_str: is this exact string blocked;
 * contacts_blocks: does any entry match jid (XEP-0191 rules). */
bool contacts_blocks(const struct contacts *c, const struct canto_jid *jid);
bool contacts_blocks_str(const struct contacts *c, const char *jid);
/* Does any entry match the contact bare (a roster item's JID)? */
bool contacts_blocks_bare(const struct contacts *c, const char *bare);
void contacts_block(struct contacts *c, const char *jid);
void contacts_unblock(struct contacts *c, const char *jid);
/* Write the block list's changes: jids (n of them) added or removed (as
 * their current state in memory says); jids NULL: the whole list was
 * cleared. */
void contacts_save_blocked(struct contacts *c, const char *const *jids, size_t n,
                           canto_storage_done_cb cb, void *ud);

/* True if subscription sub includes presence to the account's contact (the
 * contact receives our presence). */
static inline bool sub_from(enum subscription sub)
{
    return sub == SUB_FROM || sub == SUB_BOTH;
}
/* True if we receive the contact's presence. */
static inline bool sub_to(enum subscription sub)
{
    return sub == SUB_TO || sub == SUB_BOTH;
}

extern const struct canto_module canto_mod_contacts;

#endif
