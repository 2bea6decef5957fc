/*
 * kv.c: the key-value kind: its table of operations and the public
 * functions of storage.h that queue them. Every owner has named stores,
 * each a map of non-empty keys to opaque values (what exists now: roster
 * items, a vCard, private XML, a directory entry). Storage never looks
 * inside the values.
 */
#include <stdlib.h>
#include <string.h>

#include "storage/kind_kv.h"

#define REQ(r) canto_container_of((r), struct canto__kv_req, base)

static void deliver_items(struct canto__storage_req *r)
{
    struct canto__kv_req *k = REQ(r);
    bool ok = r->rc == CANTO_OK;
    if (r->cb)
        ((canto_storage_kv_cb)r->cb)(r->ud, r->rc, ok ? k->items : NULL, ok ? k->n : 0,
                                     ok && k->more);
}

static void deliver_done(struct canto__storage_req *r)
{
    if (r->cb)
        ((canto_storage_done_cb)r->cb)(r->ud, r->rc);
}

static void clear_items(struct canto__storage_req *r)
{
    struct canto__kv_req *k = REQ(r);
    for (size_t i = 0; i < k->n; i++)
        free((char *)k->items[i].owner); /* the item's one block */
    canto_free_null(&k->items);
    k->n = 0;
    k->more = false;
}

static void release_changes(struct canto__storage_req *r)
{
    canto_free_null(&REQ(r)->changes);
}

static const struct canto__storage_op ops[CANTO__KV_OPS] = {
    [CANTO__KV_GET] = {&canto__kind_kv, CANTO__KV_GET, "kv.get", false, deliver_items,
                       clear_items, NULL},
    [CANTO__KV_LIST] = {&canto__kind_kv, CANTO__KV_LIST, "kv.list", false, deliver_items,
                        clear_items, NULL},
    [CANTO__KV_LIST_HOST] = {&canto__kind_kv, CANTO__KV_LIST_HOST, "kv.list_host", false,
                             deliver_items, clear_items, NULL},
    [CANTO__KV_WRITE] = {&canto__kind_kv, CANTO__KV_WRITE, "kv.write", true, deliver_done, NULL,
                         release_changes},
};

const struct canto__storage_kind canto__kind_kv = {"kv", ops, CANTO__KV_OPS};

static bool name_ok(const char *s)
{
    return s && *s;
}

/* A request with copies of the given strings (any may be NULL). */
static struct canto__kv_req *req_new(int op, const struct canto_storage_owner *owner,
                                     const char *host, const char *store, const char *key,
                                     const char *after_owner, const char *after_key,
                                     void (*cb)(void), void *ud)
{
    char *p;
    size_t extra = canto__storage_size(host) + canto__storage_size(store) +
                   canto__storage_size(key) + canto__storage_size(after_owner) +
                   canto__storage_size(after_key);
    struct canto__kv_req *k = canto__storage_req_new(sizeof *k, &ops[op], owner, extra, &p);
    k->base.cb = cb;
    k->base.ud = ud;
    const char **dst[] = {&k->host, &k->store, &k->key, &k->after_owner, &k->after_key};
    const char *src[] = {host, store, key, after_owner, after_key};
    for (size_t i = 0; i < CANTO_ARRAY_LEN(src); i++)
        if (src[i])
            *dst[i] = canto__storage_put(&p, src[i], strlen(src[i]));
    return k;
}

void canto_storage_kv_get(struct canto_storage *s, const struct canto_storage_owner *owner,
                          const char *store, const char *key, canto_storage_kv_cb cb, void *ud)
{
    struct canto__kv_req *k = req_new(CANTO__KV_GET, owner ? owner : CANTO_ACCOUNT("", ""), NULL,
                                      store, key, NULL, NULL, (void (*)(void))cb, ud);
    if (!name_ok(store) || !name_ok(key))
        k->base.rc = CANTO_INVALID;
    canto__storage_submit(s, &k->base);
}

void canto_storage_kv_list(struct canto_storage *s, const struct canto_storage_owner *owner,
                           const char *store, const char *after, unsigned limit,
                           canto_storage_kv_cb cb, void *ud)
{
    struct canto__kv_req *k = req_new(CANTO__KV_LIST, owner ? owner : CANTO_ACCOUNT("", ""), NULL,
                                      store, NULL, NULL, after, (void (*)(void))cb, ud);
    k->limit = limit;
    if (!name_ok(store) || !canto__storage_limit_ok(limit))
        k->base.rc = CANTO_INVALID;
    canto__storage_submit(s, &k->base);
}

/* Spans owners: it has none, and reads on the reader. */
void canto_storage_kv_list_host(struct canto_storage *s, enum canto_owner_kind kind,
                                const char *host, const char *store, const char *after_owner,
                                const char *after_key, unsigned limit, canto_storage_kv_cb cb,
                                void *ud)
{
    struct canto__kv_req *k = req_new(CANTO__KV_LIST_HOST, NULL, host, store, NULL, after_owner,
                                      after_key, (void (*)(void))cb, ud);
    k->kind = kind;
    k->limit = limit;
    if (!name_ok(host) || !name_ok(store) || !canto__storage_limit_ok(limit) ||
        (kind != CANTO_OWNER_ACCOUNT && kind != CANTO_OWNER_SERVICE) ||
        (after_key && !after_owner))
        k->base.rc = CANTO_INVALID;
    canto__storage_submit(s, &k->base);
}

/* The changes of one kv_write must each name a store; a key, when given, is
 * non-empty; a value needs a key (a value for a whole store means nothing).
 * On success *size is what changes_copy() needs for them; sizes that would
 * overflow are refused like any other malformed input. */
static bool changes_ok(const struct canto_kv_change *changes, size_t n, size_t *size)
{
    if (n && !changes)
        return false;
    if (n > SIZE_MAX / sizeof *changes)
        return false;
    size_t total = n * sizeof *changes;
    for (size_t i = 0; i < n; i++) {
        const struct canto_kv_change *ch = &changes[i];
        if (!name_ok(ch->store) || (ch->key ? !*ch->key : ch->value != NULL))
            return false;
        size_t more = strlen(ch->store) + 1 + (ch->key ? strlen(ch->key) + 1 : 0);
        if (ch->value) {
            if (ch->len > SIZE_MAX - more - 1)
                return false;
            more += ch->len + 1;
        }
        if (more > SIZE_MAX - total)
            return false;
        total += more;
    }
    *size = total;
    return true;
}

/* Copy n (> 0) checked changes into one block of size bytes: the array,
 * then each change's store, key and value, every one NUL-terminated (so an
 * empty value still has a pointer, and stays a value). */
static struct canto_kv_change *changes_copy(const struct canto_kv_change *changes, size_t n,
                                            size_t size)
{
    struct canto_kv_change *copy = canto_xmalloc(size);
    char *p = (char *)(copy + n);
    for (size_t i = 0; i < n; i++) {
        const struct canto_kv_change *ch = &changes[i];
        copy[i].store = canto__storage_put(&p, ch->store, strlen(ch->store));
        copy[i].key = ch->key ? canto__storage_put(&p, ch->key, strlen(ch->key)) : NULL;
        copy[i].value = ch->value ? canto__storage_put(&p, ch->value, ch->len) : NULL;
        copy[i].len = ch->value ? ch->len : 0;
    }
    return copy;
}

/* The changes are copied now (the caller's array and buffers may go away
 * when this returns) and applied by the writer in order, all inside the
 * request's savepoint. A write of no changes only checks the owner. */
void canto_storage_kv_write(struct canto_storage *s, const struct canto_storage_owner *owner,
                            const struct canto_kv_change *changes, size_t n,
                            canto_storage_done_cb cb, void *ud)
{
    struct canto__kv_req *k = req_new(CANTO__KV_WRITE, owner ? owner : CANTO_ACCOUNT("", ""),
                                      NULL, NULL, NULL, NULL, NULL, (void (*)(void))cb, ud);
    size_t size = 0;
    if (!changes_ok(changes, n, &size)) {
        k->base.rc = CANTO_INVALID;
    } else if (n && k->base.rc == CANTO_AGAIN) {
        k->changes = changes_copy(changes, n, size);
        k->n_changes = n;
    }
    canto__storage_submit(s, &k->base);
}
