/*
 * vcard.c: vCards (XEP-0054 vcard-temp) and the avatar hash they imply in
 * presence (XEP-0153 vCard-based avatars, with the server-side rules of
 * XEP-0398 section 5).
 *
 * Storage: the account's store "vcard" holds two keys, written together:
 * "vcard", the <vCard xmlns='vcard-temp'/> element as the owner last set it,
 * and "photo", the lowercase hex SHA-1 of the decoded PHOTO/BINVAL ("" when
 * the vCard has no usable photo). Keeping the hash apart means a login reads
 * 40 bytes, not the whole vCard.
 *
 * Reading: anyone may read an account's vCard (iq get to its bare JID; the
 * server answers on the account's behalf, RFC 6120 10.5.3.1). The owner
 * without a vCard gets an empty <vCard/> (allowed by XEP-0054 3.1, and what
 * profile editors expect); anyone else gets item-not-found, or
 * service-unavailable when the account does not exist (XEP-0054 3.3 asks for
 * an error there). Writing: only the owner, and the result is sent once the
 * storage says the write is durable.
 *
 * Presence: while an account with a photo has bound sessions, its photo
 * hash is kept in memory (read when the account's first session binds,
 * which holds the bind until it is known, so that the very first presence
 * carries it; an account without a photo keeps nothing in memory). Every available
 * presence the account's sessions send, broadcast or directed, then gets
 * <x xmlns='vcard-temp:x:update'><photo>HASH</photo></x>, whether or not the
 * client added one, except where the client said <photo/> (no avatar; never
 * overridden) or already sent exactly that hash (left untouched). An account
 * whose vCard has no photo gets nothing added: the client may know of an
 * avatar published another way (XEP-0084). When a vCard set changes the
 * photo, each available resource's last presence is sent again with the new
 * hash (or <photo/> when the photo was removed), as ejabberd does, so that
 * contacts learn it even from clients that do not re-send presence.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/sha.h>

#include "canto/base64.h"
#include "canto/log.h"
#include "canto/module.h"
#include "canto/router.h"
#include "canto/server.h"
#include "canto/session.h"
#include "canto/stanza.h"

#define NS_VCARD "vcard-temp"
#define NS_VCARD_UPDATE "vcard-temp:x:update"
#define STORE "vcard"
#define KEY_VCARD "vcard"
#define KEY_PHOTO "photo"

/* Largest vCard accepted, serialized. Room for a ~95 KB avatar image
 * (XEP-0153 asks for 8 KB, but real clients send larger ones); the stanza
 * size limit (limits.c2s_max_stanza_size) bounds it as well. */
#define VCARD_MAX_BYTES (128 * 1024)
#define HASH_HEX (2 * SHA_DIGEST_LENGTH)

/* The photo hash of an online account: it exists while the account's
 * first session waits for the stored hash, and afterwards as long as the
 * account has a photo and bound sessions. No entry: no photo. */
struct avatar {
    char *bare;                      /* "local@domain": the hash map key */
    bool loading;                    /* the stored hash is being read */
    char hash[HASH_HEX + 1];         /* "" when there is no photo */
    uint64_t gen;                    /* set by every vCard set, to undo */
    struct canto_session **waiting;  /* sessions held until the load ends */
    size_t nwaiting;
};

struct vcard_state {
    struct canto_hashmap avatars;    /* bare JID -> struct avatar */
    uint64_t next_gen;
};

static void avatar_free(struct avatar *a)
{
    free(a->waiting);
    free(a->bare);
    free(a);
}

/* Forget an entry that says nothing (no photo, no load under way). */
static void avatar_drop_if_empty(struct vcard_state *vs, const char *bare)
{
    struct avatar *a = canto_hashmap_get(&vs->avatars, bare);
    if (a && !a->loading && !a->hash[0]) {
        canto_hashmap_remove(&vs->avatars, a->bare);
        avatar_free(a);
    }
}

/* --- the photo hash ---------------------------------------------------------- */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The hex SHA-1 of vcard's decoded PHOTO/BINVAL into out, or "" when there
 * is none or it is not base64 (whitespace is ignored, XEP-0153 4.6). */
static void photo_hash(struct canto_stanza *st, const struct canto_xml_node *vcard,
                       char out[HASH_HEX + 1])
{
    out[0] = '\0';
    struct canto_xml_node *photo = canto_xml_child(vcard, "PHOTO", NS_VCARD);
    struct canto_xml_node *binval = photo ? canto_xml_child(photo, "BINVAL", NS_VCARD) : NULL;
    if (!binval)
        return;
    const char *text = canto_xml_text(st, binval);
    size_t len = strlen(text);
    char *b64 = canto_xmalloc(len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (!is_space(text[i]))
            b64[n++] = text[i];
    struct canto_buf image = {0};
    if (n > 0 && canto_base64_decode(&image, b64, n) == CANTO_OK && image.len > 0) {
        unsigned char md[SHA_DIGEST_LENGTH];
        SHA1((const unsigned char *)image.data, image.len, md);
        static const char hex[] = "0123456789abcdef";
        for (size_t i = 0; i < SHA_DIGEST_LENGTH; i++) {
            out[2 * i] = hex[md[i] >> 4];
            out[2 * i + 1] = hex[md[i] & 15];
        }
        out[HASH_HEX] = '\0';
    }
    canto_buf_free(&image);
    free(b64);
}

/* A stored "photo" value is trusted only if it looks like one we wrote. */
static bool valid_hash(const char *s, size_t len)
{
    if (len != 0 && len != HASH_HEX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* Text of a <photo/> with surrounding whitespace ignored: *len bytes from
 * the returned pointer. */
static const char *photo_text(struct canto_stanza *st, const struct canto_xml_node *photo,
                              size_t *len)
{
    const char *t = canto_xml_text(st, photo);
    while (is_space(*t))
        t++;
    size_t n = strlen(t);
    while (n > 0 && is_space(t[n - 1]))
        n--;
    *len = n;
    return t;
}

static bool is_update(const struct canto_xml_node *c)
{
    return strcmp(c->name, "x") == 0 && strcmp(c->ns, NS_VCARD_UPDATE) == 0;
}

/* Make the available presence st carry hash (XEP-0398 section 5): an
 * update element with an empty <photo/> is the client saying "no avatar"
 * and stays; a single one that already says hash (in any case) stays;
 * anything else (no update element, an empty one, another hash, several)
 * is replaced by ours. With hash "" the replacement is an empty <photo/>
 * (used only when the owner has just removed the photo). Returns true if
 * st changed. */
static bool put_hash(struct canto_stanza *st, const char *hash)
{
    size_t updates = 0, matching = 0;
    for (struct canto_xml_node *c = canto_xml_first_element(st->root); c;
         c = canto_xml_next_element(c)) {
        if (!is_update(c))
            continue;
        updates++;
        struct canto_xml_node *photo = canto_xml_child(c, "photo", NS_VCARD_UPDATE);
        if (!photo)
            continue;
        size_t len;
        const char *t = photo_text(st, photo, &len);
        if (len == 0)
            return false;
        if (len == strlen(hash) && strncasecmp(t, hash, len) == 0)
            matching++;
    }
    if (updates == 1 && matching == 1)
        return false;
    struct canto_xml_node *c = canto_xml_first_element(st->root);
    while (c) {
        struct canto_xml_node *next = canto_xml_next_element(c);
        if (is_update(c))
            canto_xml_remove(st, c);
        c = next;
    }
    struct canto_xml_node *x = canto_xml_add_child(st, st->root, "x", NS_VCARD_UPDATE);
    struct canto_xml_node *photo = canto_xml_add_child(st, x, "photo", NS_VCARD_UPDATE);
    if (*hash)
        canto_xml_add_text(st, photo, hash, strlen(hash));
    return true;
}

/* --- per-account hashes: loaded at bind, dropped with the last session ----- */

struct load_req {
    struct vcard_state *vs;
    struct canto_server *server;
    char *bare;
};

static bool only_session(const struct canto_session *s)
{
    return s->user && s->user->sessions == s && !s->next;
}

/* The stored hash is here (or could not be read: then, as without a
 * photo, presence is left alone). The sessions that waited go on; the
 * list is detached and the entry settled first, because a released
 * session runs the stanzas it queued meanwhile, which may end sessions
 * and so free the entry. */
static void hash_loaded(void *ud, int rc, const struct canto_kv_item *items, size_t n,
                        bool more)
{
    struct load_req *r = ud;
    struct avatar *a = canto_hashmap_get(&r->vs->avatars, r->bare);
    if (a && a->loading) {
        a->loading = false;
        /* No vCard set can have come meanwhile: only the owner sets, and
         * its sessions are all held until this load ends. */
        if (rc == CANTO_OK && n == 1 && valid_hash(items[0].value, items[0].len)) {
            memcpy(a->hash, items[0].value, items[0].len);
            a->hash[items[0].len] = '\0';
        } else if (rc != CANTO_NOTFOUND) {
            canto_warn("%s: cannot read the vCard photo hash (%s)", r->bare, canto_rc_str(rc));
        }
        struct canto_session **waiting = a->waiting;
        size_t nwaiting = a->nwaiting;
        a->waiting = NULL;
        a->nwaiting = 0;
        avatar_drop_if_empty(r->vs, r->bare);
        for (size_t i = 0; i < nwaiting; i++)
            if (canto_session_find(r->server, &waiting[i]->jid) == waiting[i])
                canto_session_release(waiting[i]);
        free(waiting);
    }
    free(r->bare);
    free(r);
}

/* The account's first session reads the stored hash and waits for it, as
 * do the sessions that bind before it is there. A later session finds
 * the entry, or none because there is no photo. */
static int session_bound(struct canto_module_inst *mi, struct canto_hook_event *ev)
{
    struct vcard_state *vs = mi->state;
    struct canto_session *s = ev->session;
    struct avatar *a = canto_hashmap_get(&vs->avatars, s->jid.bare);
    if (!a) {
        if (!only_session(s))
            return CANTO_DECLINED;
        a = canto_xcalloc(1, sizeof(*a));
        a->bare = canto_xstrdup(s->jid.bare);
        a->loading = true;
        canto_hashmap_put(&vs->avatars, a->bare, a);
        struct load_req *r = canto_xmalloc(sizeof(*r));
        r->vs = vs;
        r->server = s->server;
        r->bare = canto_xstrdup(s->jid.bare);
        canto_storage_kv_get(s->server->storage, CANTO_ACCOUNT(s->jid.domain, s->jid.local), STORE,
                             KEY_PHOTO, hash_loaded, r);
    }
    if (a->loading) {
        canto_session_hold(s);
        a->waiting = canto_xrealloc(a->waiting, (a->nwaiting + 1) * sizeof(*a->waiting));
        a->waiting[a->nwaiting++] = s;
    }
    return CANTO_DECLINED;
}

static int session_end(struct canto_module_inst *mi, struct canto_hook_event *ev)
{
    struct vcard_state *vs = mi->state;
    struct canto_session *s = ev->session;
    struct avatar *a = canto_hashmap_get(&vs->avatars, s->jid.bare);
    if (!a)
        return CANTO_DECLINED;
    for (size_t i = 0; i < a->nwaiting; i++) {
        if (a->waiting[i] == s) {
            a->waiting[i] = a->waiting[--a->nwaiting];
            break;
        }
    }
    if (only_session(s)) {
        canto_hashmap_remove(&vs->avatars, a->bare);
        avatar_free(a);
    }
    return CANTO_DECLINED;
}

/* Available presence from one of the account's sessions, broadcast or
 * directed (XEP-0398: MUC joins too): it leaves with the current hash.
 * Runs before the modules that send the presence on, which then send the
 * changed stanza. */
static int presence_out(struct canto_module_inst *mi, struct canto_hook_event *ev)
{
    struct vcard_state *vs = mi->state;
    if (strcmp(canto_stanza_type(ev->stanza), "available") != 0)
        return CANTO_DECLINED;
    struct avatar *a = canto_hashmap_get(&vs->avatars, ev->session->jid.bare);
    if (a && !a->loading && a->hash[0])
        put_hash(ev->stanza, a->hash);
    return CANTO_DECLINED;
}

/* The photo changed: every available resource of the account sends its
 * last presence again, with the new hash (or <photo/> when the photo was
 * removed), through the same path as a presence the client sends.
 * Resources whose presence would not change are left alone. */
static void rebroadcast(struct canto_server *srv, const char *bare, const char *hash)
{
    struct canto_user *u = canto_user_find(srv, bare);
    if (!u)
        return;
    size_t n = 0;
    for (struct canto_session *t = u->sessions; t; t = t->next)
        n++;
    /* By JID, looked up again before each: routing one presence may end
     * another session. */
    struct canto_jid *jids = canto_xcalloc(n ? n : 1, sizeof(*jids));
    size_t k = 0;
    for (struct canto_session *t = u->sessions; t && k < n; t = t->next)
        if (t->available && t->presence)
            canto_jid_copy(&jids[k++], &t->jid);
    for (size_t i = 0; i < k; i++) {
        struct canto_session *t = canto_session_find(srv, &jids[i]);
        if (t && t->available && t->presence) {
            struct canto_stanza *copy = canto_stanza_copy(t->presence);
            if (put_hash(copy, hash))
                canto_route_from_session(t, copy);
            else
                canto_stanza_unref(copy);
        }
        canto_jid_free(&jids[i]);
    }
    free(jids);
}

/* --- iq handlers ---------------------------------------------------------------- */

struct get_req {
    struct canto_server *server;
    struct canto_stanza *iq;
    bool owner;
};

static void exists_done(void *ud, int rc)
{
    struct get_req *r = ud;
    if (rc == CANTO_OK)
        canto_route_error(r->server, r->iq, CANTO_COND_ITEM_NOT_FOUND, NULL);
    else if (rc == CANTO_NOTFOUND)
        canto_route_error(r->server, r->iq, CANTO_COND_SERVICE_UNAVAILABLE, NULL);
    else
        canto_route_error(r->server, r->iq, CANTO_COND_INTERNAL_SERVER_ERROR, NULL);
    canto_stanza_unref(r->iq);
    free(r);
}

static void vcard_loaded(void *ud, int rc, const struct canto_kv_item *items, size_t n,
                         bool more)
{
    struct get_req *r = ud;
    struct canto_stanza *vcard = NULL;
    if (rc == CANTO_OK && n == 1) {
        vcard = canto_stanza_parse(items[0].value, items[0].len);
        if (!vcard)
            canto_warn("%s: the stored vCard is unreadable", items[0].owner);
    }
    if (vcard) {
        struct canto_stanza *res = canto_iq_result(r->iq);
        canto_xml_add_copy(res, res->root, vcard->root);
        canto_route(r->server, res);
        canto_stanza_unref(vcard);
    } else if (rc == CANTO_NOTFOUND && r->owner) {
        struct canto_stanza *res = canto_iq_result(r->iq);
        canto_xml_add_child(res, res->root, "vCard", NS_VCARD);
        canto_route(r->server, res);
    } else if (rc == CANTO_NOTFOUND) {
        /* Tell "no vCard" from "no such account" (RFC 6121 8.5.1). */
        struct canto_jid account;
        if (canto_iq_account(r->iq, &account) == CANTO_OK) {
            canto_storage_account_exists(r->server->storage, account.domain, account.local,
                                         exists_done, r);
            canto_jid_free(&account);
            return;
        }
        canto_route_error(r->server, r->iq, CANTO_COND_SERVICE_UNAVAILABLE, NULL);
    } else {
        canto_route_error(r->server, r->iq, CANTO_COND_INTERNAL_SERVER_ERROR, NULL);
    }
    canto_stanza_unref(r->iq);
    free(r);
}

/* iq get vCard: to an account's bare JID (anyone), or with no to (the
 * owner's own). To the server's domain: it publishes no vCard. */
static int vcard_get(struct canto_module_inst *mi, struct canto_stanza *iq)
{
    struct canto_server *srv = mi->host->server;
    struct canto_xml_node *payload = canto_xml_first_element(iq->root);
    if (strcmp(payload->name, "vCard") != 0) {
        canto_route_error(srv, iq, CANTO_COND_BAD_REQUEST, NULL);
        return CANTO_OK;
    }
    struct canto_jid account;
    if (canto_iq_account(iq, &account) != CANTO_OK) {
        canto_route_error(srv, iq, CANTO_COND_ITEM_NOT_FOUND, NULL);
        return CANTO_OK;
    }
    struct get_req *r = canto_xmalloc(sizeof(*r));
    r->server = srv;
    r->iq = canto_stanza_ref(iq);
    r->owner = canto_iq_from_owner(iq, &account);
    canto_storage_kv_get(srv->storage, CANTO_ACCOUNT(account.domain, account.local), STORE,
                         KEY_VCARD, vcard_loaded, r);
    canto_jid_free(&account);
    return CANTO_OK;
}

struct set_req {
    struct vcard_state *vs;
    struct canto_server *server;
    struct canto_stanza *iq;
    char *bare;
    uint64_t gen;                  /* the avatar's gen this set gave it (0: none) */
    char old_hash[HASH_HEX + 1];
    char new_hash[HASH_HEX + 1];
};

static void vcard_stored(void *ud, int rc)
{
    struct set_req *r = ud;
    struct avatar *a = canto_hashmap_get(&r->vs->avatars, r->bare);
    bool mine = a && r->gen != 0 && a->gen == r->gen;
    if (rc == CANTO_OK) {
        canto_route(r->server, canto_iq_result(r->iq));
        /* Contacts learn a new photo once it is durable, unless a later set
         * has changed it again (that one will tell them). */
        if (a && strcmp(r->old_hash, r->new_hash) != 0 && strcmp(a->hash, r->new_hash) == 0)
            rebroadcast(r->server, r->bare, r->new_hash);
        avatar_drop_if_empty(r->vs, r->bare);
    } else {
        /* Nothing was stored: presence goes back to the old hash unless
         * a later set changed it again. */
        if (mine) {
            memcpy(a->hash, r->old_hash, sizeof a->hash);
            avatar_drop_if_empty(r->vs, r->bare);
        }
        if (rc == CANTO_NOTFOUND)
            canto_route_error(r->server, r->iq, CANTO_COND_SERVICE_UNAVAILABLE, NULL);
        else
            canto_route_error(r->server, r->iq, CANTO_COND_INTERNAL_SERVER_ERROR, NULL);
    }
    canto_stanza_unref(r->iq);
    free(r->bare);
    free(r);
}

/* iq set vCard: only the owner, to its own bare JID or with no to. Anyone
 * else gets forbidden from the core (CANTO_IQ_OWNER; XEP-0054 3.2 says
 * forbidden or not-allowed): the
 * request is understood and refused for who sent it, and nothing is hidden
 * by it since the vCard is public anyway; service-unavailable would wrongly
 * say that vCards are not served here. */
static int vcard_set(struct canto_module_inst *mi, struct canto_stanza *iq)
{
    struct vcard_state *vs = mi->state;
    struct canto_server *srv = mi->host->server;
    struct canto_xml_node *payload = canto_xml_first_element(iq->root);
    struct canto_jid account;
    if (canto_iq_account(iq, &account) != CANTO_OK)
        return CANTO_DECLINED; /* cannot happen: the core checked the owner */
    if (strcmp(payload->name, "vCard") != 0) {
        canto_route_error(srv, iq, CANTO_COND_BAD_REQUEST, NULL);
        canto_jid_free(&account);
        return CANTO_OK;
    }
    struct canto_buf xml = {0};
    canto_xml_serialize(payload, CANTO_NS_CLIENT, &xml);
    if (xml.len > VCARD_MAX_BYTES) {
        canto_route_error(srv, iq, CANTO_COND_NOT_ACCEPTABLE, "The vCard is larger than 128 KiB");
        canto_buf_free(&xml);
        canto_jid_free(&account);
        return CANTO_OK;
    }
    struct set_req *r = canto_xcalloc(1, sizeof(*r));
    r->vs = vs;
    r->server = srv;
    r->iq = canto_stanza_ref(iq);
    r->bare = canto_xstrdup(account.bare);
    photo_hash(iq, payload, r->new_hash);

    /* The hash applies at once to the presence that follows this set on
     * the stream (a client may send it before the result comes back);
     * vcard_stored undoes it if the write fails. */
    struct avatar *a = canto_hashmap_get(&vs->avatars, account.bare);
    if (!a && r->new_hash[0] && canto_user_find(srv, account.bare)) {
        a = canto_xcalloc(1, sizeof(*a));
        a->bare = canto_xstrdup(account.bare);
        canto_hashmap_put(&vs->avatars, a->bare, a);
    }
    if (a) {
        memcpy(r->old_hash, a->hash, sizeof r->old_hash);
        memcpy(a->hash, r->new_hash, sizeof a->hash);
        a->gen = r->gen = ++vs->next_gen;
    }
    struct canto_kv_change changes[] = {
        {STORE, KEY_VCARD, xml.data, xml.len},
        {STORE, KEY_PHOTO, r->new_hash, strlen(r->new_hash)},
    };
    canto_storage_kv_write(srv->storage, CANTO_ACCOUNT(account.domain, account.local), changes,
                           CANTO_ARRAY_LEN(changes), vcard_stored, r);
    canto_buf_free(&xml);
    canto_jid_free(&account);
    return CANTO_OK;
}

/* --- module ---------------------------------------------------------------------- */

static int vcard_start(struct canto_module_inst *mi)
{
    struct vcard_state *vs = canto_xcalloc(1, sizeof(*vs));
    canto_hashmap_init(&vs->avatars);
    mi->state = vs;
    return CANTO_OK;
}

static void vcard_stop(struct canto_module_inst *mi)
{
    struct vcard_state *vs = mi->state;
    if (!vs)
        return;
    size_t n = 0;
    void **all = canto_hashmap_values(&vs->avatars, &n);
    for (size_t i = 0; i < n; i++)
        avatar_free(all[i]);
    free(all);
    canto_hashmap_free(&vs->avatars);
    free(vs);
    mi->state = NULL;
}

static const char *const vcard_features[] = {NS_VCARD, NULL};
static const struct canto_xep vcard_xeps[] = {
    {"XEP-0054", "vcard-temp: anyone reads an account's vCard, only the owner writes it (128 KiB limit)"},
    {"XEP-0153", "vCard-Based Avatars: the photo hash added to every available presence"},
    {0},
};
static const struct canto_iq_reg vcard_iqs[] = {
    {"get", NS_VCARD, vcard_get, CANTO_IQ_ACCOUNT | CANTO_IQ_SERVER},
    {"set", NS_VCARD, vcard_set, CANTO_IQ_OWNER | CANTO_IQ_SERVER},
    {0},
};
static const struct canto_hook_reg vcard_hooks[] = {
    /* Before any module that sends the presence on (presence, roster). */
    {CANTO_HOOK_PRESENCE_OUT, 500, presence_out},
    {CANTO_HOOK_SESSION_BOUND, 0, session_bound},
    {CANTO_HOOK_SESSION_END, 0, session_end},
    {0},
};

const struct canto_module canto_mod_vcard = {
    .name = "vcard",
    .xeps = vcard_xeps,
    .features = vcard_features,
    .account_features = vcard_features, /* anyone may read an account's vCard */
    .iqs = vcard_iqs,
    .hooks = vcard_hooks,
    .start = vcard_start,
    .stop = vcard_stop,
};
