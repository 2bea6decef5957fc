/*
 * accounts.c: the accounts kind: its table of operations and the public
 * functions of storage.h that queue them (credentials, create, delete,
 * exists, list). An account is also the owner of its data in every other
 * kind; deleting it deletes that data (each backend sees to it).
 *
 * Credentials are treated as secrets: StoredKey and ServerKey are enough to
 * impersonate the server to a client, so every copy is wiped before it is
 * freed.
 */
#include <stdlib.h>
#include <string.h>

#include "storage/kind_accounts.h"

#define REQ(r) canto_container_of((r), struct canto__accounts_req, base)

static void free_creds(struct canto_scram_cred *creds, size_t n)
{
    if (!creds)
        return;
    canto_wipe(creds, n * sizeof *creds);
    free(creds);
}

/* --- the operations ------------------------------------------------------------- */

static void deliver_done(struct canto__storage_req *r)
{
    if (r->cb)
        ((canto_storage_done_cb)r->cb)(r->ud, r->rc);
}

static void deliver_creds(struct canto__storage_req *r)
{
    struct canto__accounts_req *a = REQ(r);
    bool ok = r->rc == CANTO_OK;
    if (r->cb)
        ((canto_storage_creds_cb)r->cb)(r->ud, r->rc, ok ? a->creds : NULL, ok ? a->n_creds : 0);
}

static void deliver_list(struct canto__storage_req *r)
{
    struct canto__accounts_req *a = REQ(r);
    bool ok = r->rc == CANTO_OK;
    if (r->cb)
        ((canto_storage_list_cb)r->cb)(r->ud, r->rc, ok ? (const char *const *)a->jids : NULL,
                                       ok ? a->n : 0, ok && a->more);
}

/* get_creds' result: the credentials read. */
static void clear_creds(struct canto__storage_req *r)
{
    struct canto__accounts_req *a = REQ(r);
    free_creds(a->creds, a->n_creds);
    a->creds = NULL;
    a->n_creds = 0;
}

static void clear_list(struct canto__storage_req *r)
{
    struct canto__accounts_req *a = REQ(r);
    for (size_t i = 0; i < a->n; i++)
        free(a->jids[i]);
    canto_free_null(&a->jids);
    a->n = 0;
    a->more = false;
}

/* create/set_creds' input: the credentials given. */
static void release_creds(struct canto__storage_req *r)
{
    clear_creds(r);
}

static const struct canto__storage_op ops[CANTO__ACCOUNTS_OPS] = {
    [CANTO__ACCOUNTS_GET_CREDS] = {&canto__kind_accounts, CANTO__ACCOUNTS_GET_CREDS,
                                   "accounts.get_creds", false, deliver_creds, clear_creds, NULL},
    [CANTO__ACCOUNTS_CREATE] = {&canto__kind_accounts, CANTO__ACCOUNTS_CREATE, "accounts.create",
                                true, deliver_done, NULL, release_creds},
    [CANTO__ACCOUNTS_SET_CREDS] = {&canto__kind_accounts, CANTO__ACCOUNTS_SET_CREDS,
                                   "accounts.set_creds", true, deliver_done, NULL, release_creds},
    [CANTO__ACCOUNTS_DELETE] = {&canto__kind_accounts, CANTO__ACCOUNTS_DELETE, "accounts.delete",
                                true, deliver_done, NULL, NULL},
    [CANTO__ACCOUNTS_EXISTS] = {&canto__kind_accounts, CANTO__ACCOUNTS_EXISTS, "accounts.exists",
                                false, deliver_done, NULL, NULL},
    [CANTO__ACCOUNTS_LIST] = {&canto__kind_accounts, CANTO__ACCOUNTS_LIST, "accounts.list", false,
                              deliver_list, clear_list, NULL},
};

const struct canto__storage_kind canto__kind_accounts = {"accounts", ops, CANTO__ACCOUNTS_OPS};

/* --- the public functions ------------------------------------------------------- */

/* A request about one account. A NULL or empty host or user is refused. */
static struct canto__accounts_req *req_new(int op, const char *host, const char *user,
                                           void (*cb)(void), void *ud)
{
    char *tail;
    struct canto__accounts_req *a = canto__storage_req_new(
        sizeof *a, &ops[op], CANTO_ACCOUNT(host ? host : "", user ? user : ""), 0, &tail);
    a->base.cb = cb;
    a->base.ud = ud;
    return a;
}

/* Credentials must be well-formed before they are stored: a known hash,
 * each hash at most once, iterations and salt present. */
static bool creds_ok(const struct canto_scram_cred *creds, size_t n)
{
    if (n && !creds)
        return false;
    bool seen[CANTO_HASH_COUNT] = {false};
    for (size_t i = 0; i < n; i++) {
        const struct canto_scram_cred *c = &creds[i];
        if ((int)c->hash < 0 || (int)c->hash >= CANTO_HASH_COUNT || seen[c->hash])
            return false;
        if (c->iterations == 0 || c->salt_len == 0 || c->salt_len > sizeof c->salt)
            return false;
        seen[c->hash] = true;
    }
    return true;
}

void canto_storage_account_get_creds(struct canto_storage *s, const char *host, const char *user,
                                     canto_storage_creds_cb cb, void *ud)
{
    struct canto__accounts_req *a =
        req_new(CANTO__ACCOUNTS_GET_CREDS, host, user, (void (*)(void))cb, ud);
    canto__storage_submit(s, &a->base);
}

/* create and set_creds share this: both carry a copy of the credentials. */
static void submit_with_creds(struct canto_storage *s, int op, const char *host,
                              const char *user, const struct canto_scram_cred *creds, size_t n,
                              canto_storage_done_cb cb, void *ud)
{
    struct canto__accounts_req *a = req_new(op, host, user, (void (*)(void))cb, ud);
    if (!creds_ok(creds, n)) {
        a->base.rc = CANTO_INVALID;
    } else if (n) {
        a->creds = canto_xmalloc(n * sizeof *creds);
        memcpy(a->creds, creds, n * sizeof *creds);
        a->n_creds = n;
    }
    canto__storage_submit(s, &a->base);
}

void canto_storage_account_create(struct canto_storage *s, const char *host, const char *user,
                                  const struct canto_scram_cred *creds, size_t n,
                                  canto_storage_done_cb cb, void *ud)
{
    submit_with_creds(s, CANTO__ACCOUNTS_CREATE, host, user, creds, n, cb, ud);
}

void canto_storage_account_set_creds(struct canto_storage *s, const char *host, const char *user,
                                     const struct canto_scram_cred *creds, size_t n,
                                     canto_storage_done_cb cb, void *ud)
{
    submit_with_creds(s, CANTO__ACCOUNTS_SET_CREDS, host, user, creds, n, cb, ud);
}

void canto_storage_account_delete(struct canto_storage *s, const char *host, const char *user,
                                  canto_storage_done_cb cb, void *ud)
{
    struct canto__accounts_req *a =
        req_new(CANTO__ACCOUNTS_DELETE, host, user, (void (*)(void))cb, ud);
    canto__storage_submit(s, &a->base);
}

void canto_storage_account_exists(struct canto_storage *s, const char *host, const char *user,
                                  canto_storage_done_cb cb, void *ud)
{
    struct canto__accounts_req *a =
        req_new(CANTO__ACCOUNTS_EXISTS, host, user, (void (*)(void))cb, ud);
    canto__storage_submit(s, &a->base);
}

/* A list spans owners: it has none, and reads on the reader. */
void canto_storage_account_list(struct canto_storage *s, const char *host, const char *after,
                                unsigned limit, canto_storage_list_cb cb, void *ud)
{
    char *p;
    struct canto__accounts_req *a =
        canto__storage_req_new(sizeof *a, &ops[CANTO__ACCOUNTS_LIST], NULL,
                               canto__storage_size(host) + canto__storage_size(after), &p);
    a->base.cb = (void (*)(void))cb;
    a->base.ud = ud;
    a->limit = limit;
    if (host)
        a->host = canto__storage_put(&p, host, strlen(host));
    if (after)
        a->after = canto__storage_put(&p, after, strlen(after));
    if ((host && !*host) || !canto__storage_limit_ok(limit))
        a->base.rc = CANTO_INVALID;
    canto__storage_submit(s, &a->base);
}
