/*
 * archive.c: the archive kind: its table of operations and the public
 * functions of storage.h that queue them. Every owner has named archives:
 * stanzas appended with a time and a peer, each with an id that increases
 * and is never reused, queried a page at a time by id, time range and peer,
 * oldest or newest first, and deleted up to an id. Offline messages are the
 * archive "offline" of an account (as in Prosody); MAM and room logs are
 * archives too.
 */
#include <stdlib.h>
#include <string.h>

#include "storage/kind_archive.h"

#define REQ(r) canto_container_of((r), struct canto__archive_req, base)

static void deliver_id(struct canto__storage_req *r)
{
    struct canto__archive_req *a = REQ(r);
    if (r->cb)
        ((canto_storage_id_cb)r->cb)(r->ud, r->rc, r->rc == CANTO_OK ? a->id : 0);
}

static void deliver_items(struct canto__storage_req *r)
{
    struct canto__archive_req *a = REQ(r);
    bool ok = r->rc == CANTO_OK;
    if (r->cb)
        ((canto_storage_archive_cb)r->cb)(r->ud, r->rc, ok ? a->items : NULL, ok ? a->n : 0,
                                          ok && a->more);
}

static void deliver_done(struct canto__storage_req *r)
{
    if (r->cb)
        ((canto_storage_done_cb)r->cb)(r->ud, r->rc);
}

static void deliver_count(struct canto__storage_req *r)
{
    struct canto__archive_req *a = REQ(r);
    if (r->cb)
        ((canto_storage_count_cb)r->cb)(r->ud, r->rc, r->rc == CANTO_OK ? a->count : 0);
}

static void clear_items(struct canto__storage_req *r)
{
    struct canto__archive_req *a = REQ(r);
    for (size_t i = 0; i < a->n; i++)
        free((char *)a->items[i].peer); /* the item's one block */
    canto_free_null(&a->items);
    a->n = 0;
    a->more = false;
}

static const struct canto__storage_op ops[CANTO__ARCHIVE_OPS] = {
    [CANTO__ARCHIVE_APPEND] = {&canto__kind_archive, CANTO__ARCHIVE_APPEND, "archive.append", true,
                               deliver_id, NULL, NULL},
    [CANTO__ARCHIVE_QUERY] = {&canto__kind_archive, CANTO__ARCHIVE_QUERY, "archive.query", false,
                              deliver_items, clear_items, NULL},
    [CANTO__ARCHIVE_DELETE] = {&canto__kind_archive, CANTO__ARCHIVE_DELETE, "archive.delete", true,
                               deliver_done, NULL, NULL},
    [CANTO__ARCHIVE_COUNT] = {&canto__kind_archive, CANTO__ARCHIVE_COUNT, "archive.count", false,
                              deliver_count, NULL, NULL},
};

const struct canto__storage_kind canto__kind_archive = {"archive", ops, CANTO__ARCHIVE_OPS};

/* A request for owner's archive, with copies of the archive's name and of
 * peer and xml (either may be NULL; xml is len bytes). A missing owner or
 * name is refused. */
static struct canto__archive_req *req_new(int op, const struct canto_storage_owner *owner,
                                          const char *archive, const char *peer, const char *xml,
                                          size_t len, void (*cb)(void), void *ud)
{
    char *p;
    size_t extra = canto__storage_size(archive) + canto__storage_size(peer) + (xml ? len + 1 : 0);
    struct canto__archive_req *a = canto__storage_req_new(
        sizeof *a, &ops[op], owner ? owner : CANTO_ACCOUNT("", ""), extra, &p);
    a->base.cb = cb;
    a->base.ud = ud;
    if (archive)
        a->archive = canto__storage_put(&p, archive, strlen(archive));
    if (peer)
        a->peer = canto__storage_put(&p, peer, strlen(peer));
    if (xml) {
        a->xml = canto__storage_put(&p, xml, len);
        a->len = len;
    }
    if (!archive || !*archive)
        a->base.rc = CANTO_INVALID;
    return a;
}

void canto_storage_archive_append(struct canto_storage *s,
                                  const struct canto_storage_owner *owner, const char *archive,
                                  const char *peer, const char *xml, size_t len, unsigned limit,
                                  canto_storage_id_cb cb, void *ud)
{
    bool valid = xml && len > 0;
    struct canto__archive_req *a =
        req_new(CANTO__ARCHIVE_APPEND, owner, archive, peer ? peer : "", valid ? xml : NULL,
                valid ? len : 0, (void (*)(void))cb, ud);
    a->limit = limit;
    if (!valid)
        a->base.rc = CANTO_INVALID;
    canto__storage_submit(s, &a->base);
}

void canto_storage_archive_query(struct canto_storage *s,
                                 const struct canto_storage_owner *owner, const char *archive,
                                 const struct canto_archive_query *q,
                                 canto_storage_archive_cb cb, void *ud)
{
    struct canto__archive_req *a = req_new(CANTO__ARCHIVE_QUERY, owner, archive,
                                           q ? q->peer : NULL, NULL, 0, (void (*)(void))cb, ud);
    if (!q || !canto__storage_limit_ok(q->limit) || q->after_id < 0 || q->before_id < 0) {
        a->base.rc = CANTO_INVALID;
    } else {
        a->q = *q;
        a->q.peer = a->peer;
    }
    canto__storage_submit(s, &a->base);
}

void canto_storage_archive_delete(struct canto_storage *s,
                                  const struct canto_storage_owner *owner, const char *archive,
                                  int64_t up_to_id, canto_storage_done_cb cb, void *ud)
{
    struct canto__archive_req *a =
        req_new(CANTO__ARCHIVE_DELETE, owner, archive, NULL, NULL, 0, (void (*)(void))cb, ud);
    a->up_to_id = up_to_id;
    canto__storage_submit(s, &a->base);
}

void canto_storage_archive_count(struct canto_storage *s,
                                 const struct canto_storage_owner *owner, const char *archive,
                                 canto_storage_count_cb cb, void *ud)
{
    struct canto__archive_req *a =
        req_new(CANTO__ARCHIVE_COUNT, owner, archive, NULL, NULL, 0, (void (*)(void))cb, ud);
    canto__storage_submit(s, &a->base);
}
