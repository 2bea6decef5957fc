/*
 * directory.c: the user directory (XEP-0055 Jabber Search), a service on a
 * domain of its own (users.<host> unless user_directory names another or
 * turns it off), listed in the host's disco#items, as JabberFR and others
 * offered it.
 *
 * Nobody is in the directory unless they put themselves there: a user
 * registers an entry with the service (XEP-0077 to users.<host>: nick,
 * first, last, email, any of them), reads it back (get, with <registered/>),
 * changes it by registering again, and removes it with <remove/>. The entry
 * lives in the account's key-value store "directory", one key per field,
 * so deleting the account deletes it too.
 *
 * Users of the host (and only they: a request from another domain is
 * forbidden) search by the same fields, with the legacy elements or a data
 * form, and get the answer in the same style. Every field given must match
 * (AND), as a case-insensitive substring; the fold covers ASCII, Latin-1,
 * Latin Extended-A, Greek and Cyrillic letters. At most MAX_RESULTS entries
 * come back, in the order of the accounts' names. A search reads the
 * directory entries of the host a page at a time on storage's read
 * connection (so that it never delays a write's acknowledgement), until it
 * has MAX_RESULTS matches or has read them all.
 */
#include <stdlib.h>
#include <string.h>

#include "canto/log.h"
#include "canto/module.h"
#include "canto/router.h"
#include "canto/server.h"
#include "canto/stanza.h"
#include "canto/storage.h"
#include "modules/dataform.h"

#define NS_SEARCH "jabber:iq:search"
#define NS_REGISTER "jabber:iq:register"
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"

#define STORE "directory"    /* the account's kv store holding its entry */
#define MAX_RESULTS 50       /* entries one search returns at most */
#define SEARCH_PAGE 256      /* directory items (up to NFIELDS per entry) read at a time */
#define FIELD_MAX_BYTES 256  /* longest value of a field in an entry */
#define SERVICE_NAME "User directory"

/* The fields of an entry, in the order of the XEP's examples. */
static const struct dir_field {
    const char *var;
    const char *label;
} fields[] = {
    {"first", "Given name"},
    {"last", "Family name"},
    {"nick", "Nickname"},
    {"email", "Email address"},
};
#define NFIELDS CANTO_ARRAY_LEN(fields)

/* --- case folding ------------------------------------------------------------ */

/* The lowercase of code point c for the scripts the search folds. */
static uint32_t fold_char(uint32_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c + 32;
    if (c < 0x80)
        return c;
    if ((c >= 0xC0 && c <= 0xDE && c != 0xD7) || (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) ||
        (c >= 0x410 && c <= 0x42F))
        return c + 32;
    if (c >= 0x400 && c <= 0x40F)
        return c + 80;
    if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177))
        return c | 1;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
        return (c & 1) ? c + 1 : c;
    if (c == 0x178)
        return 0xFF;
    if (c == 0x3C2)
        return 0x3C3; /* final sigma matches sigma */
    return c;
}

/* s (len bytes of UTF-8) folded, NUL-terminated, malloc'd. A byte that does
 * not start a well-formed sequence is copied as it is. */
static char *fold(const char *s, size_t len)
{
    struct canto_buf out = {0};
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    canto_buf_reserve(&out, len + 1);
    while (i < len) {
        uint32_t c = p[i];
        size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
                                                     : (c & 0xF8) == 0xF0 ? 4 : 0;
        bool ok = n > 0 && i + n <= len;
        for (size_t k = 1; ok && k < n; k++)
            ok = (p[i + k] & 0xC0) == 0x80;
        if (!ok || n == 1 || n > 2) {
            /* ASCII, or outside the folded scripts (U+0800 and up), or
             * ill-formed: copied, ASCII lowered. */
            size_t m = ok ? n : 1;
            for (size_t k = 0; k < m; k++) {
                unsigned char b = p[i + k];
                canto_buf_append_char(&out, (char)(m == 1 && b >= 'A' && b <= 'Z' ? b + 32 : b));
            }
            i += m;
            continue;
        }
        c = ((c & 0x1F) << 6) | (p[i + 1] & 0x3F);
        c = fold_char(c);
        canto_buf_append_char(&out, (char)(0xC0 | (c >> 6)));
        canto_buf_append_char(&out, (char)(0x80 | (c & 0x3F)));
        i += 2;
    }
    return canto_buf_steal(&out);
}

/* --- requests and answers ------------------------------------------------------- */

/* A request waiting for storage. */
struct dir_req {
    struct canto_module_inst *mi;
    struct canto_stanza *iq;      /* the request (a reference) */
    char *local;                  /* the requester's localpart */
    bool form;                    /* search: answer with a data form */
    char *criteria[NFIELDS];      /* search: folded values, NULL when not given */
    bool searching;               /* search: its entry in dir_state.searching */
    struct canto_stanza *res;     /* search: the answer being built, page by page */
    struct canto_xml_node *parent; /* search: where its results go */
    size_t found;                 /* search: results in it so far */
};

/* Per host: the users with a search in flight. A search reads every entry of
 * the host, so each user gets one at a time. */
struct dir_state {
    struct canto_hashmap searching; /* localpart -> its struct dir_req */
};

static struct dir_req *req_new(struct canto_module_inst *mi, struct canto_stanza *iq,
                               const struct canto_jid *user)
{
    struct dir_req *r = canto_xcalloc(1, sizeof(*r));
    r->mi = mi;
    r->iq = canto_stanza_ref(iq);
    r->local = canto_xstrdup(user->local);
    return r;
}

static void req_free(struct dir_req *r)
{
    if (r->searching) {
        struct dir_state *st = r->mi->state;
        canto_hashmap_remove(&st->searching, r->local);
    }
    for (size_t i = 0; i < NFIELDS; i++)
        free(r->criteria[i]);
    if (r->res)
        canto_stanza_unref(r->res);
    canto_stanza_unref(r->iq);
    free(r->local);
    free(r);
}

/* The values of the four fields from a request: a submitted form's, or the
 * legacy elements' (in namespace ns), with surrounding white space removed.
 * Each points into st's arena with its length; NULL when not given. */
static void read_values(struct canto_stanza *st, struct canto_xml_node *q, const char *ns,
                        const char *values[NFIELDS], size_t lens[NFIELDS], bool *form_out)
{
    struct canto_xml_node *form = canto_dataform_submitted(q);
    for (size_t i = 0; i < NFIELDS; i++) {
        const char *v;
        if (form) {
            v = canto_dataform_value(st, form, fields[i].var);
        } else {
            struct canto_xml_node *n = canto_xml_child(q, fields[i].var, ns);
            v = n ? canto_xml_text(st, n) : NULL;
        }
        size_t len = v ? strlen(v) : 0;
        while (len > 0 && strchr(" \t\r\n", v[0])) {
            v++;
            len--;
        }
        while (len > 0 && strchr(" \t\r\n", v[len - 1]))
            len--;
        values[i] = len ? v : NULL;
        lens[i] = len;
    }
    if (form_out)
        *form_out = form != NULL;
}

/* The user of this host who sent iq, into user (free it); CANTO_ERROR after
 * answering forbidden for anyone else. */
static int local_user(struct canto_module_inst *mi, struct canto_stanza *iq,
                      struct canto_jid *user)
{
    const char *from = canto_xml_attr(iq->root, "from");
    struct canto_jid f;
    if (from && canto_jid_parse_str(&f, from) == CANTO_OK) {
        bool ours = f.local && strcmp(f.domain, mi->host->name) == 0;
        if (ours) {
            canto_jid_bare_of(user, &f);
            canto_jid_free(&f);
            return CANTO_OK;
        }
        canto_jid_free(&f);
    }
    struct canto_buf text = {0};
    canto_buf_appendf(&text, "Only users of %s can use this directory", mi->host->name);
    canto_route_error(mi->host->server, iq, CANTO_COND_FORBIDDEN, text.data);
    canto_buf_free(&text);
    return CANTO_ERROR;
}

/* --- disco -------------------------------------------------------------------- */

static void disco_info(struct canto_module_inst *mi, struct canto_stanza *iq,
                       struct canto_xml_node *q)
{
    if (canto_xml_attr(q, "node")) {
        canto_route_error(mi->host->server, iq, CANTO_COND_ITEM_NOT_FOUND, NULL);
        return;
    }
    struct canto_stanza *r = canto_iq_result(iq);
    struct canto_xml_node *query = canto_xml_add_child(r, r->root, "query", NS_DISCO_INFO);
    struct canto_xml_node *id = canto_xml_add_child(r, query, "identity", NULL);
    canto_xml_set_attr(r, id, "category", "directory");
    canto_xml_set_attr(r, id, "type", "user");
    canto_xml_set_attr(r, id, "name", SERVICE_NAME);
    static const char *const features[] = {NS_DISCO_INFO, NS_DISCO_ITEMS, NS_REGISTER, NS_SEARCH};
    for (size_t i = 0; i < CANTO_ARRAY_LEN(features); i++) {
        struct canto_xml_node *f = canto_xml_add_child(r, query, "feature", NULL);
        canto_xml_set_attr(r, f, "var", features[i]);
    }
    canto_route(mi->host->server, r);
}

static void disco_items(struct canto_module_inst *mi, struct canto_stanza *iq)
{
    struct canto_stanza *r = canto_iq_result(iq);
    canto_xml_add_child(r, r->root, "query", NS_DISCO_ITEMS);
    canto_route(mi->host->server, r);
}

/* --- the user's own entry (jabber:iq:register) ---------------------------------- */

static const char register_instructions[] =
    "Fill in any of these fields to be found in the directory of this server; "
    "users of the server can then search for you by them. Remove the registration "
    "to leave the directory.";

static void entry_read(void *ud, int rc, const struct canto_kv_item *items, size_t n,
                       bool more)
{
    struct dir_req *r = ud;
    if (rc != CANTO_OK) {
        canto_route_error(r->mi->host->server, r->iq, CANTO_COND_INTERNAL_SERVER_ERROR, NULL);
        req_free(r);
        return;
    }
    const struct canto_kv_item *by_field[NFIELDS] = {0};
    for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < NFIELDS; i++)
            if (strcmp(items[k].key, fields[i].var) == 0)
                by_field[i] = &items[k];
    struct canto_stanza *res = canto_iq_result(r->iq);
    struct canto_xml_node *q = canto_xml_add_child(res, res->root, "query", NS_REGISTER);
    canto_xml_add_text_child(res, q, "instructions", register_instructions);
    if (n > 0)
        canto_xml_add_child(res, q, "registered", NULL);
    for (size_t i = 0; i < NFIELDS; i++)
        canto_xml_add_text_child(res, q, fields[i].var, by_field[i] ? by_field[i]->value : NULL);
    struct canto_xml_node *x = canto_dataform_new(res, q, "form", NS_REGISTER,
                                                  "Directory entry", register_instructions);
    for (size_t i = 0; i < NFIELDS; i++) {
        char *value = by_field[i] ? canto_xstrndup(by_field[i]->value, by_field[i]->len) : NULL;
        canto_dataform_field(res, x, "text-single", fields[i].var, fields[i].label, value, false);
        free(value);
    }
    canto_route(r->mi->host->server, res);
    req_free(r);
}

static void entry_written(void *ud, int rc)
{
    struct dir_req *r = ud;
    if (rc == CANTO_OK)
        canto_route(r->mi->host->server, canto_iq_result(r->iq));
    else if (rc == CANTO_NOTFOUND)
        canto_route_error(r->mi->host->server, r->iq, CANTO_COND_REGISTRATION_REQUIRED,
                          "Your account does not exist");
    else
        canto_route_error(r->mi->host->server, r->iq, CANTO_COND_INTERNAL_SERVER_ERROR, NULL);
    req_free(r);
}

/* Removal: only an entry that exists (XEP-0077's registration-required
 * otherwise), emptied in one write. */
static void entry_checked_for_removal(void *ud, int rc, const struct canto_kv_item *items,
                                      size_t n, bool more)
{
    struct dir_req *r = ud;
    if (rc != CANTO_OK) {
        canto_route_error(r->mi->host->server, r->iq, CANTO_COND_INTERNAL_SERVER_ERROR, NULL);
        req_free(r);
        return;
    }
    if (n == 0) {
        canto_route_error(r->mi->host->server, r->iq, CANTO_COND_REGISTRATION_REQUIRED,
                          "You are not in the directory");
        req_free(r);
        return;
    }
    const struct canto_kv_change clear = {.store = STORE};
    struct canto_host *h = r->mi->host;
    canto_storage_kv_write(h->server->storage, CANTO_ACCOUNT(h->name, r->local), &clear, 1,
                           entry_written, r);
}

static void register_set(struct canto_module_inst *mi, struct canto_stanza *iq,
                         struct canto_xml_node *q, const struct canto_jid *user)
{
    struct canto_host *h = mi->host;
    struct canto_xml_node *remove = canto_xml_child(q, "remove", NS_REGISTER);
    if (remove) {
        if (canto_xml_first_element(q) != remove || canto_xml_next_element(remove)) {
            canto_route_error(mi->host->server, iq, CANTO_COND_BAD_REQUEST,
                  "<remove/> must be the only element of the request");
            return;
        }
        canto_storage_kv_list(h->server->storage, CANTO_ACCOUNT(h->name, user->local), STORE,
                              NULL, NFIELDS, entry_checked_for_removal, req_new(mi, iq, user));
        return;
    }
    const char *values[NFIELDS];
    size_t lens[NFIELDS];
    read_values(iq, q, NS_REGISTER, values, lens, NULL);
    struct canto_kv_change changes[NFIELDS + 1] = {{.store = STORE}}; /* first: empty it */
    size_t n = 1;
    for (size_t i = 0; i < NFIELDS; i++) {
        if (!values[i])
            continue;
        if (lens[i] > FIELD_MAX_BYTES) {
            struct canto_buf text = {0};
            canto_buf_appendf(&text, "The field %s is too long (at most %d bytes)", fields[i].var,
                              FIELD_MAX_BYTES);
            canto_route_error(mi->host->server, iq, CANTO_COND_NOT_ACCEPTABLE, text.data);
            canto_buf_free(&text);
            return;
        }
        changes[n++] = (struct canto_kv_change){STORE, fields[i].var, values[i], lens[i]};
    }
    if (n == 1) {
        canto_route_error(mi->host->server, iq, CANTO_COND_NOT_ACCEPTABLE,
              "Fill in at least one of the fields first, last, nick and email");
        return;
    }
    canto_storage_kv_write(h->server->storage, CANTO_ACCOUNT(h->name, user->local), changes, n,
                           entry_written, req_new(mi, iq, user));
}

/* --- searching (jabber:iq:search) ------------------------------------------------ */

static const char search_instructions[] =
    "Fill in one or more fields to search for users of this server who are in its "
    "directory (case does not matter; part of a word is enough).";

static void search_form(struct canto_module_inst *mi, struct canto_stanza *iq)
{
    struct canto_stanza *r = canto_iq_result(iq);
    struct canto_xml_node *q = canto_xml_add_child(r, r->root, "query", NS_SEARCH);
    canto_xml_add_text_child(r, q, "instructions", search_instructions);
    for (size_t i = 0; i < NFIELDS; i++)
        canto_xml_add_child(r, q, fields[i].var, NULL);
    struct canto_xml_node *x = canto_dataform_new(r, q, "form", NS_SEARCH, "User directory search",
                                                  search_instructions);
    for (size_t i = 0; i < NFIELDS; i++)
        canto_dataform_field(r, x, "text-single", fields[i].var, fields[i].label, NULL, false);
    canto_route(mi->host->server, r);
}

/* One account's entry, gathered from its consecutive kv items. */
struct entry {
    const char *user;
    const struct canto_kv_item *field[NFIELDS];
};

static bool entry_matches(const struct dir_req *r, const struct entry *e)
{
    for (size_t i = 0; i < NFIELDS; i++) {
        if (!r->criteria[i])
            continue;
        if (!e->field[i])
            return false;
        char *value = fold(e->field[i]->value, e->field[i]->len);
        bool found = strstr(value, r->criteria[i]) != NULL;
        free(value);
        if (!found)
            return false;
    }
    return true;
}

/* Append one result, as a legacy <item/> or a data form <item/>. */
static void add_result(struct canto_stanza *res, struct canto_xml_node *parent, bool form,
                       const struct entry *e, const char *host)
{
    struct canto_buf jid = {0};
    canto_buf_appendf(&jid, "%s@%s", e->user, host);
    if (!form) {
        struct canto_xml_node *item = canto_xml_add_child(res, parent, "item", NULL);
        canto_xml_set_attr(res, item, "jid", jid.data);
        for (size_t i = 0; i < NFIELDS; i++)
            canto_xml_add_text_child(res, item, fields[i].var,
                                     e->field[i] ? e->field[i]->value : NULL);
    } else {
        struct canto_xml_node *item = canto_xml_add_child(res, parent, "item", NULL);
        canto_dataform_field(res, item, NULL, "jid", NULL, jid.data, false);
        for (size_t i = 0; i < NFIELDS; i++) {
            char *value = e->field[i] ? canto_xstrndup(e->field[i]->value, e->field[i]->len)
                                      : canto_xstrdup("");
            struct canto_xml_node *f =
                canto_dataform_field(res, item, NULL, fields[i].var, NULL, NULL, false);
            canto_xml_add_text_child(res, f, "value", value);
            free(value);
        }
    }
    canto_buf_free(&jid);
}

/* The answer's start: the query, and for a form the result form with its
 * reported fields. */
static void search_answer_start(struct dir_req *r)
{
    struct canto_stanza *res = canto_iq_result(r->iq);
    struct canto_xml_node *q = canto_xml_add_child(res, res->root, "query", NS_SEARCH);
    r->res = res;
    r->parent = q;
    if (r->form) {
        r->parent = canto_dataform_new(res, q, "result", NS_SEARCH, NULL, NULL);
        struct canto_xml_node *rep = canto_xml_add_child(res, r->parent, "reported", NULL);
        canto_dataform_field(res, rep, "jid-single", "jid", "JID", NULL, false);
        for (size_t i = 0; i < NFIELDS; i++)
            canto_dataform_field(res, rep, "text-single", fields[i].var, fields[i].label, NULL,
                                 false);
    }
}

static void search_page(struct dir_req *r, const char *after_owner, const char *after_key);

/* One page of the host's entries: match them, then read the next page or
 * answer. */
static void searched(void *ud, int rc, const struct canto_kv_item *items, size_t n, bool more)
{
    struct dir_req *r = ud;
    struct canto_host *h = r->mi->host;
    if (rc != CANTO_OK) {
        canto_route_error(r->mi->host->server, r->iq, CANTO_COND_INTERNAL_SERVER_ERROR, NULL);
        req_free(r);
        return;
    }
    if (!r->res)
        search_answer_start(r);
    /* Items come sorted by user, then key: one entry per run of a user.
     * When more follow, the last user's run may go on in the next page: it
     * is left out here and read again there, whole. */
    size_t end = n;
    while (more && end > 0 && strcmp(items[end - 1].owner, items[n - 1].owner) == 0)
        end--;
    if (end == 0)
        end = n; /* one user fills a page (never, with NFIELDS keys each) */
    for (size_t k = 0; k < end && r->found < MAX_RESULTS;) {
        struct entry e = {.user = items[k].owner};
        for (; k < end && strcmp(items[k].owner, e.user) == 0; k++)
            for (size_t i = 0; i < NFIELDS; i++)
                if (strcmp(items[k].key, fields[i].var) == 0)
                    e.field[i] = &items[k];
        if (entry_matches(r, &e)) {
            add_result(r->res, r->parent, r->form, &e, h->name);
            r->found++;
        }
    }
    if (more && r->found < MAX_RESULTS) {
        if (end < n)
            search_page(r, items[end].owner, "");
        else
            search_page(r, items[n - 1].owner, items[n - 1].key);
        return;
    }
    canto_debug("%s@%s: directory search, %zu result%s", r->local, h->name, r->found,
                r->found == 1 ? "" : "s");
    canto_route(h->server, r->res);
    r->res = NULL;
    req_free(r);
}

/* The page of the host's entries after (after_owner, after_key). */
static void search_page(struct dir_req *r, const char *after_owner, const char *after_key)
{
    struct canto_host *h = r->mi->host;
    canto_storage_kv_list_host(h->server->storage, CANTO_OWNER_ACCOUNT, h->name, STORE,
                               after_owner, after_key, SEARCH_PAGE, searched, r);
}

static void search_set(struct canto_module_inst *mi, struct canto_stanza *iq,
                       struct canto_xml_node *q, const struct canto_jid *user)
{
    const char *values[NFIELDS];
    size_t lens[NFIELDS];
    bool form = false;
    read_values(iq, q, NS_SEARCH, values, lens, &form);
    struct dir_req *r = req_new(mi, iq, user);
    r->form = form;
    bool any = false;
    for (size_t i = 0; i < NFIELDS; i++) {
        if (values[i]) {
            r->criteria[i] = fold(values[i], lens[i]);
            any = true;
        }
    }
    if (!any) {
        canto_route_error(mi->host->server, iq, CANTO_COND_NOT_ACCEPTABLE,
                          "Fill in at least one field to search by");
        req_free(r);
        return;
    }
    struct dir_state *st = mi->state;
    if (canto_hashmap_get(&st->searching, r->local)) {
        canto_route_error(mi->host->server, iq, CANTO_COND_RESOURCE_CONSTRAINT,
                          "Wait for your previous search to finish");
        req_free(r);
        return;
    }
    r->searching = true;
    canto_hashmap_put(&st->searching, r->local, r);
    search_page(r, NULL, NULL);
}

/* --- the service ------------------------------------------------------------------ */

/* Every stanza for the directory's domain. */
static void directory_service(struct canto_module_inst *mi, struct canto_stanza *st,
                              const struct canto_jid *to)
{
    const char *name = st->root->name;
    if (strcmp(name, "iq") != 0) {
        if (strcmp(name, "message") == 0)
            canto_route_error(mi->host->server, st, CANTO_COND_SERVICE_UNAVAILABLE, NULL);
        return; /* presence: nothing to say */
    }
    const char *type = canto_stanza_type(st);
    bool get = strcmp(type, "get") == 0;
    if (!get && strcmp(type, "set") != 0)
        return;
    struct canto_xml_node *q = canto_xml_first_element(st->root);
    if (!q || to->local || to->resource || strcmp(q->name, "query") != 0) {
        canto_route_error(mi->host->server, st, CANTO_COND_SERVICE_UNAVAILABLE, NULL);
        return;
    }
    if (strcmp(q->ns, NS_DISCO_INFO) == 0 && get) {
        disco_info(mi, st, q);
        return;
    }
    if (strcmp(q->ns, NS_DISCO_ITEMS) == 0 && get) {
        disco_items(mi, st);
        return;
    }
    bool reg = strcmp(q->ns, NS_REGISTER) == 0, search = strcmp(q->ns, NS_SEARCH) == 0;
    if (!reg && !search) {
        canto_route_error(mi->host->server, st, CANTO_COND_SERVICE_UNAVAILABLE, NULL);
        return;
    }
    struct canto_jid user;
    if (local_user(mi, st, &user) != CANTO_OK)
        return;
    struct canto_host *h = mi->host;
    if (reg && get)
        canto_storage_kv_list(h->server->storage, CANTO_ACCOUNT(h->name, user.local), STORE, NULL,
                              NFIELDS, entry_read, req_new(mi, st, &user));
    else if (reg)
        register_set(mi, st, q, &user);
    else if (get)
        search_form(mi, st);
    else
        search_set(mi, st, q, &user);
    canto_jid_free(&user);
}

static void directory_stop(struct canto_module_inst *mi);

static int directory_start(struct canto_module_inst *mi)
{
    struct dir_state *st = canto_xcalloc(1, sizeof(*st));
    canto_hashmap_init(&st->searching);
    mi->state = st;
    const char *domain = canto_module_option_str(mi, "user_directory");
    if (!domain)
        return CANTO_OK;
    if (canto_server_add_service(mi->host->server, domain, SERVICE_NAME, mi,
                                 directory_service) != CANTO_OK) {
        directory_stop(mi); /* a module that fails to start is not stopped */
        return CANTO_ERROR;
    }
    canto_debug("%s: user directory on %s", mi->host->name, domain);
    return CANTO_OK;
}

static const struct canto_xep directory_xeps[] = {
    {"XEP-0055", "Jabber Search: the user directory on users.<host>; users opt in with an entry (nick, first, last, email) and anyone on the host searches it (legacy fields or data form)"},
    {0},
};

static void directory_stop(struct canto_module_inst *mi)
{
    struct dir_state *st = mi->state;
    if (!st)
        return;
    canto_hashmap_free(&st->searching); /* empty: storage is drained first */
    free(st);
    mi->state = NULL;
}

static const struct canto_option directory_options[] = {
    {.key = "user_directory", .type = CANTO_OPT_SERVICE, .flags = CANTO_OPT_PER_HOST, .def = 1,
     .def_str = "users",
     .doc = "the XEP-0055 user directory: `true` (on `users.<host>`), `false` (none) or, per "
            "host, its domain"},
    {0},
};

const struct canto_module canto_mod_directory = {
    .name = "directory",
    .xeps = directory_xeps,
    .options = directory_options,
    .start = directory_start,
    .stop = directory_stop,
};
