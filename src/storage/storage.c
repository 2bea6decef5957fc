/*
 * storage.c: the backend-neutral half of storage.h: the request queue, the
 * worker thread that owns the database connection, group commit, and the
 * delivery of results back to the event loop.
 *
 * A public call copies its arguments into a request and appends it to a
 * queue (mutex + condition variable). One worker thread takes everything
 * queued at once and runs the whole batch inside one write transaction, each
 * write inside its own savepoint so that a failing request is undone alone.
 * After COMMIT returns, the batch goes on a done list and a uv_async_t wakes
 * the loop thread, which runs the callbacks in request order and frees the
 * requests. Many writes therefore share one fsync, and no write is reported
 * before it is durable. Callbacks never run inside the call that queued them,
 * because they only run from the async handle (or from close, which runs the
 * loop).
 *
 * Threads: the queue, the done list and the stop flag are shared and guarded
 * by the mutex; pending, the async handle's ref state and everything the
 * callbacks see belong to the loop thread; the backend connection belongs to
 * the worker from open until the worker is joined.
 */
#include "canto/storage.h"

#include <stdlib.h>
#include <string.h>

#include "canto/log.h"
#include "storage/storage_internal.h"

struct canto_storage {
    uv_loop_t *loop;                               /* where callbacks run */
    const struct canto__storage_backend *backend;  /* e.g. sqlite */
    void *conn;                                    /* backend connection; worker's */
    uv_async_t async;                              /* worker -> loop wake-up */
    uv_prepare_t kick;                             /* hands this turn's requests over */
    struct canto__storage_req *local_head;         /* loop side: submitted this turn */
    struct canto__storage_req *local_tail;
    uv_thread_t thread;                            /* the worker */
    uv_mutex_t lock;                               /* guards queue, done, stop */
    uv_cond_t wake;                                /* worker waits here for work */
    struct canto__storage_req *queue_head;         /* queued, not yet taken */
    struct canto__storage_req *queue_tail;
    struct canto__storage_req *done_head;          /* executed, callback pending */
    struct canto__storage_req *done_tail;
    bool stop;                                     /* worker should exit when idle */
    size_t pending;                                /* loop side: queued, callback not run */
    bool delivering;                               /* loop side: inside on_async */
    int closed;                                    /* handle close callbacks that ran */
};

static const struct canto__storage_backend *const backends[] = {
    &canto__storage_sqlite,
};

bool canto__storage_op_writes(enum canto__storage_op op)
{
    switch (op) {
    case CANTO__OP_ACCOUNT_CREATE:
    case CANTO__OP_SET_CREDS:
    case CANTO__OP_ACCOUNT_DELETE:
    case CANTO__OP_OFFLINE_STORE:
    case CANTO__OP_OFFLINE_DELETE:
    case CANTO__OP_KV_WRITE:
        return true;
    case CANTO__OP_GET_CREDS:
    case CANTO__OP_ACCOUNT_EXISTS:
    case CANTO__OP_ACCOUNT_LIST:
    case CANTO__OP_OFFLINE_FETCH:
    case CANTO__OP_OFFLINE_COUNT:
    case CANTO__OP_KV_GET:
    case CANTO__OP_KV_LIST:
    case CANTO__OP_BARRIER:
        return false;
    }
    return true;
}

/* Credentials are wiped before release: StoredKey and ServerKey are enough
 * to impersonate the server to a client, so they are treated as secrets. */
static void free_creds(struct canto_scram_cred *creds, size_t n)
{
    if (!creds)
        return;
    canto_wipe(creds, n * sizeof *creds);
    free(creds);
}

void canto__storage_req_clear_results(struct canto__storage_req *r)
{
    if (r->op == CANTO__OP_GET_CREDS) {
        free_creds(r->creds, r->n_creds);
        r->creds = NULL;
        r->n_creds = 0;
    }
    if (r->items) {
        for (size_t i = 0; i < r->n; i++)
            free(r->items[i]);
        canto_free_null(&r->items);
    }
    if (r->msgs) {
        for (size_t i = 0; i < r->n; i++)
            free((char *)r->msgs[i].xml);
        canto_free_null(&r->msgs);
    }
    if (r->kv) {
        for (size_t i = 0; i < r->n; i++)
            free((char *)r->kv[i].user); /* the item's one block */
        canto_free_null(&r->kv);
    }
    r->n = 0;
}

static void req_free(struct canto__storage_req *r)
{
    canto__storage_req_clear_results(r);
    free_creds(r->creds, r->n_creds);
    free(r->changes);
    free(r);
}

/* --- worker thread ---------------------------------------------------------- */

/* The transaction holding requests first..last (inclusive) did not commit:
 * none of their effects survive, and reads among them may have seen writes
 * that are now gone, so every one that ran fails. Barriers stay OK: they
 * carry no data and still mark the point after which nothing earlier is
 * pending. */
static void fail_transaction(struct canto__storage_req *first, struct canto__storage_req *last)
{
    for (struct canto__storage_req *r = first; r; r = r->next) {
        if (r->ran) {
            canto__storage_req_clear_results(r);
            r->rc = CANTO_ERROR;
        }
        if (r == last)
            break;
    }
}

/* No transaction could be started (the database stayed locked past the
 * busy timeout, or is unusable): r and everything after it fail at once,
 * rather than each waiting out the timeout again. */
static void fail_unstarted(struct canto__storage_req *r)
{
    for (; r; r = r->next) {
        if (r->rc == CANTO_AGAIN)
            r->rc = r->op == CANTO__OP_BARRIER ? CANTO_OK : CANTO_ERROR;
    }
}

/* Run one batch: one transaction for all of it, a savepoint per write.
 * If the backend loses the transaction in the middle (SQLite rolls back by
 * itself on I/O errors or a full disk), the requests that ran in it fail and
 * the rest of the batch goes on in a fresh transaction. Every request leaves
 * with rc set. */
static void run_batch(struct canto_storage *s, struct canto__storage_req *batch)
{
    const struct canto__storage_backend *b = s->backend;
    struct canto__storage_req *tx_first = NULL, *tx_last = NULL;

    for (struct canto__storage_req *r = batch; r; r = r->next) {
        if (r->rc != CANTO_AGAIN)
            continue; /* refused when queued (invalid input) */
        if (r->op == CANTO__OP_BARRIER) {
            r->rc = CANTO_OK; /* FIFO: everything before it has run */
            continue;
        }
        if (!tx_first) {
            if (b->begin(s->conn) != CANTO_OK) {
                fail_unstarted(r);
                return;
            }
            tx_first = r;
        }
        tx_last = r;
        r->ran = true;
        bool writes = canto__storage_op_writes(r->op);
        if (writes && b->savepoint(s->conn) != CANTO_OK) {
            r->rc = CANTO_ERROR;
        } else {
            r->rc = b->exec(s->conn, r);
            if (writes && b->in_transaction(s->conn)) {
                int step = r->rc == CANTO_OK ? b->release(s->conn) : b->rollback_to(s->conn);
                if (step != CANTO_OK) {
                    canto__storage_req_clear_results(r);
                    r->rc = CANTO_ERROR;
                    b->rollback(s->conn); /* state unknown: give the transaction up */
                }
            }
        }
        if (!b->in_transaction(s->conn)) {
            canto_error("storage: transaction lost; failing its %s",
                        tx_first == r ? "request" : "requests");
            fail_transaction(tx_first, r);
            tx_first = tx_last = NULL;
        }
    }
    if (tx_first && b->commit(s->conn) != CANTO_OK) {
        b->rollback(s->conn);
        fail_transaction(tx_first, tx_last);
    }
}

/* The worker: sleep until requests are queued, take all of them, run them as
 * one batch, hand the batch to the loop. It allocates nothing itself while
 * idle; it exits once stop is set and the queue is empty. */
static void worker_main(void *arg)
{
    struct canto_storage *s = arg;
    uv_mutex_lock(&s->lock);
    for (;;) {
        while (!s->queue_head && !s->stop)
            uv_cond_wait(&s->wake, &s->lock);
        if (!s->queue_head)
            break;
        struct canto__storage_req *batch = s->queue_head, *tail = s->queue_tail;
        s->queue_head = s->queue_tail = NULL;
        uv_mutex_unlock(&s->lock);

        uint64_t t0 = canto_now_ms();
        run_batch(s, batch);
        if (canto_log_get_level() <= CANTO_LOG_DEBUG) {
            size_t count = 0;
            for (struct canto__storage_req *r = batch; r; r = r->next)
                count++;
            canto_debug("storage: batch of %zu request(s) done in %llu ms", count,
                        (unsigned long long)(canto_now_ms() - t0));
        }

        uv_mutex_lock(&s->lock);
        if (s->done_tail)
            s->done_tail->next = batch;
        else
            s->done_head = batch;
        s->done_tail = tail;
        uv_async_send(&s->async);
    }
    uv_mutex_unlock(&s->lock);
}

/* --- loop thread -------------------------------------------------------------- */

static void deliver(struct canto__storage_req *r)
{
    bool ok = r->rc == CANTO_OK;
    switch (r->op) {
    case CANTO__OP_GET_CREDS:
        if (r->cb.creds)
            r->cb.creds(r->ud, r->rc, ok ? r->creds : NULL, ok ? r->n_creds : 0);
        break;
    case CANTO__OP_ACCOUNT_LIST:
        if (r->cb.list)
            r->cb.list(r->ud, r->rc, ok ? (const char *const *)r->items : NULL, ok ? r->n : 0);
        break;
    case CANTO__OP_OFFLINE_COUNT:
        if (r->cb.list)
            r->cb.list(r->ud, r->rc, NULL, ok ? r->n : 0);
        break;
    case CANTO__OP_OFFLINE_FETCH:
        if (r->cb.offline)
            r->cb.offline(r->ud, r->rc, ok ? r->msgs : NULL, ok ? r->n : 0);
        break;
    case CANTO__OP_KV_GET:
    case CANTO__OP_KV_LIST:
        if (r->cb.kv)
            r->cb.kv(r->ud, r->rc, ok ? r->kv : NULL, ok ? r->n : 0);
        break;
    case CANTO__OP_ACCOUNT_CREATE:
    case CANTO__OP_SET_CREDS:
    case CANTO__OP_ACCOUNT_DELETE:
    case CANTO__OP_ACCOUNT_EXISTS:
    case CANTO__OP_OFFLINE_STORE:
    case CANTO__OP_OFFLINE_DELETE:
    case CANTO__OP_KV_WRITE:
    case CANTO__OP_BARRIER:
        if (r->cb.done)
            r->cb.done(r->ud, r->rc);
        break;
    }
}

/* Runs the callbacks of every completed request, oldest first. The done
 * list is detached under the lock, so the worker can append the next batch
 * while callbacks run (and callbacks may queue new requests). The handle is
 * unreferenced when nothing is pending, so an idle storage does not keep
 * uv_run() from returning. */
static void on_async(uv_async_t *h)
{
    struct canto_storage *s = canto_container_of(h, struct canto_storage, async);
    uv_mutex_lock(&s->lock);
    struct canto__storage_req *list = s->done_head;
    s->done_head = s->done_tail = NULL;
    uv_mutex_unlock(&s->lock);

    s->delivering = true;
    while (list) {
        struct canto__storage_req *r = list;
        list = r->next;
        deliver(r);
        req_free(r);
        s->pending--;
    }
    s->delivering = false;
    if (s->pending == 0)
        uv_unref((uv_handle_t *)&s->async);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct canto_storage *s = h->data;
    s->closed++;
}

/* Once per loop turn, before the loop waits: the requests submitted during
 * the turn go to the worker with one lock and one wake-up, instead of one
 * of each per request (which, with the worker on the same core, is a pair
 * of context switches per request), and they form one group commit. */
static void on_kick(uv_prepare_t *h)
{
    struct canto_storage *s = h->data;
    if (!s->local_head)
        return;
    uv_mutex_lock(&s->lock);
    if (s->queue_tail)
        s->queue_tail->next = s->local_head;
    else
        s->queue_head = s->local_head;
    s->queue_tail = s->local_tail;
    uv_cond_signal(&s->wake);
    uv_mutex_unlock(&s->lock);
    s->local_head = s->local_tail = NULL;
}

/* Copy n bytes from s and a NUL to *p; returns the copy and moves *p past
 * it. The caller has sized the space. */
static const char *put(char **p, const char *s, size_t n)
{
    char *copy = *p;
    memcpy(copy, s, n);
    copy[n] = '\0';
    *p += n + 1;
    return copy;
}

/* Allocate a request with copies of host and user in its tail, followed by
 * extra bytes that the caller fills from *tail. A NULL host or user stays
 * NULL (lists across hosts or users). */
static struct canto__storage_req *req_alloc(enum canto__storage_op op, const char *host,
                                            const char *user, size_t extra, char **tail)
{
    size_t hl = host ? strlen(host) + 1 : 0;
    size_t ul = user ? strlen(user) + 1 : 0;
    struct canto__storage_req *r = canto_xcalloc(1, sizeof *r + hl + ul + extra);
    char *p = r->strings;
    r->op = op;
    r->rc = CANTO_AGAIN;
    if (host)
        r->host = put(&p, host, hl - 1);
    if (user)
        r->user = put(&p, user, ul - 1);
    *tail = p;
    return r;
}

/* A request with copies of host, user and xml (len bytes) in its tail. */
static struct canto__storage_req *req_new(enum canto__storage_op op, const char *host,
                                          const char *user, const char *xml, size_t xml_len)
{
    char *p;
    struct canto__storage_req *r = req_alloc(op, host, user, xml ? xml_len + 1 : 0, &p);
    if (xml) {
        r->xml = put(&p, xml, xml_len);
        r->xml_len = xml_len;
    }
    return r;
}

/* A kv_get or kv_list request with copies of host, user, store and key in
 * its tail; any of them may be NULL (kv_list has no key). */
static struct canto__storage_req *req_new_kv(enum canto__storage_op op, const char *host,
                                             const char *user, const char *store,
                                             const char *key)
{
    size_t sl = store ? strlen(store) + 1 : 0;
    size_t kl = key ? strlen(key) + 1 : 0;
    char *p;
    struct canto__storage_req *r = req_alloc(op, host, user, sl + kl, &p);
    if (store)
        r->store = put(&p, store, sl - 1);
    if (key)
        r->key = put(&p, key, kl - 1);
    return r;
}

/* Hosts and users come prepared from the caller; all that is checked here
 * is that they are there at all. */
static bool name_ok(const char *s)
{
    return s && *s;
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
 * empty value still has a pointer, and stays a value). The caller frees the
 * block. */
static struct canto_kv_change *changes_copy(const struct canto_kv_change *changes, size_t n,
                                            size_t size)
{
    struct canto_kv_change *copy = canto_xmalloc(size);
    char *p = (char *)(copy + n);
    for (size_t i = 0; i < n; i++) {
        const struct canto_kv_change *ch = &changes[i];
        copy[i].store = put(&p, ch->store, strlen(ch->store));
        copy[i].key = ch->key ? put(&p, ch->key, strlen(ch->key)) : NULL;
        copy[i].value = ch->value ? put(&p, ch->value, ch->len) : NULL;
        copy[i].len = ch->value ? ch->len : 0;
    }
    return copy;
}

/* Queue r (already filled). A request whose rc is no longer CANTO_AGAIN was
 * refused and only travels through the queue so that its callback, like
 * every other, runs later and in order. */
static void submit(struct canto_storage *s, struct canto__storage_req *r)
{
    if (s->pending++ == 0)
        uv_ref((uv_handle_t *)&s->async);
    if (s->local_tail)
        s->local_tail->next = r;
    else
        s->local_head = r;
    s->local_tail = r;
}

/* --- open / close ------------------------------------------------------------ */

int canto_storage_open(uv_loop_t *loop, const struct canto_storage_options *opts,
                       struct canto_storage **out, struct canto_buf *err)
{
    const char *name = opts && opts->backend ? opts->backend : "sqlite";
    const struct canto__storage_backend *backend = NULL;
    *out = NULL;
    for (size_t i = 0; i < CANTO_ARRAY_LEN(backends); i++) {
        if (strcmp(backends[i]->name, name) == 0)
            backend = backends[i];
    }
    if (!backend) {
        canto_buf_appendf(err, "storage backend \"%s\" is not available (this build has: sqlite)",
                          name);
        return CANTO_ERROR;
    }
    if (!opts || !opts->data_dir || !*opts->data_dir) {
        canto_buf_append_str(err, "storage: no data directory given");
        return CANTO_ERROR;
    }

    struct canto_storage *s = canto_xcalloc(1, sizeof *s);
    s->loop = loop;
    s->backend = backend;
    if (backend->open(opts->data_dir, &s->conn, err) != CANTO_OK) {
        free(s);
        return CANTO_ERROR;
    }
    int e;
    if ((e = uv_mutex_init(&s->lock)) != 0)
        goto fail_backend;
    if ((e = uv_cond_init(&s->wake)) != 0)
        goto fail_mutex;
    if ((e = uv_async_init(loop, &s->async, on_async)) != 0)
        goto fail_cond;
    s->async.data = s;
    uv_unref((uv_handle_t *)&s->async);
    uv_prepare_init(loop, &s->kick);
    s->kick.data = s;
    uv_prepare_start(&s->kick, on_kick);
    uv_unref((uv_handle_t *)&s->kick);
    if ((e = uv_thread_create(&s->thread, worker_main, s)) != 0)
        goto fail_async;
    *out = s;
    return CANTO_OK;

fail_async:
    uv_close((uv_handle_t *)&s->async, on_handle_closed);
    uv_close((uv_handle_t *)&s->kick, on_handle_closed);
    while (s->closed < 2)
        uv_run(loop, UV_RUN_ONCE);
fail_cond:
    uv_cond_destroy(&s->wake);
fail_mutex:
    uv_mutex_destroy(&s->lock);
fail_backend:
    backend->close(s->conn);
    free(s);
    canto_buf_appendf(err, "storage: cannot start the storage thread: %s", uv_strerror(e));
    return CANTO_ERROR;
}

/* Drain first (the worker may still be executing or delivering, and
 * callbacks may queue more), then stop the worker, then close the handle.
 * pending > 0 keeps the async handle referenced, so UV_RUN_ONCE blocks until
 * the worker has something to report instead of spinning. */
void canto_storage_close(struct canto_storage *s)
{
    if (!s)
        return;
    if (s->delivering) {
        canto_error("storage: canto_storage_close called from a storage callback");
        abort();
    }
    while (s->pending > 0)
        uv_run(s->loop, UV_RUN_ONCE);

    uv_mutex_lock(&s->lock);
    s->stop = true;
    uv_cond_signal(&s->wake);
    uv_mutex_unlock(&s->lock);
    uv_thread_join(&s->thread);
    s->backend->close(s->conn);

    uv_close((uv_handle_t *)&s->async, on_handle_closed);
    uv_close((uv_handle_t *)&s->kick, on_handle_closed);
    while (s->closed < 2)
        uv_run(s->loop, UV_RUN_ONCE);
    uv_cond_destroy(&s->wake);
    uv_mutex_destroy(&s->lock);
    free(s);
}

/* --- requests ----------------------------------------------------------------- */

void canto_storage_account_get_creds(struct canto_storage *s, const char *host, const char *user,
                                     canto_storage_creds_cb cb, void *ud)
{
    struct canto__storage_req *r = req_new(CANTO__OP_GET_CREDS, host, user, NULL, 0);
    r->cb.creds = cb;
    r->ud = ud;
    if (!name_ok(host) || !name_ok(user))
        r->rc = CANTO_INVALID;
    submit(s, r);
}

/* create and set_creds share this: both carry a copy of the credentials. */
static void submit_with_creds(struct canto_storage *s, enum canto__storage_op op, const char *host,
                              const char *user, const struct canto_scram_cred *creds, size_t n,
                              canto_storage_done_cb cb, void *ud)
{
    struct canto__storage_req *r = req_new(op, host, user, NULL, 0);
    r->cb.done = cb;
    r->ud = ud;
    if (!name_ok(host) || !name_ok(user) || !creds_ok(creds, n)) {
        r->rc = CANTO_INVALID;
    } else if (n) {
        r->creds = canto_xmalloc(n * sizeof *creds);
        memcpy(r->creds, creds, n * sizeof *creds);
        r->n_creds = n;
    }
    submit(s, r);
}

void canto_storage_account_create(struct canto_storage *s, const char *host, const char *user,
                                  const struct canto_scram_cred *creds, size_t n,
                                  canto_storage_done_cb cb, void *ud)
{
    submit_with_creds(s, CANTO__OP_ACCOUNT_CREATE, host, user, creds, n, cb, ud);
}

void canto_storage_account_set_creds(struct canto_storage *s, const char *host, const char *user,
                                     const struct canto_scram_cred *creds, size_t n,
                                     canto_storage_done_cb cb, void *ud)
{
    submit_with_creds(s, CANTO__OP_SET_CREDS, host, user, creds, n, cb, ud);
}

/* The requests that name one account and report only a result code. */
static void submit_simple(struct canto_storage *s, enum canto__storage_op op, const char *host,
                          const char *user, canto_storage_done_cb cb, void *ud)
{
    struct canto__storage_req *r = req_new(op, host, user, NULL, 0);
    r->cb.done = cb;
    r->ud = ud;
    if (!name_ok(host) || !name_ok(user))
        r->rc = CANTO_INVALID;
    submit(s, r);
}

void canto_storage_account_delete(struct canto_storage *s, const char *host, const char *user,
                                  canto_storage_done_cb cb, void *ud)
{
    submit_simple(s, CANTO__OP_ACCOUNT_DELETE, host, user, cb, ud);
}

void canto_storage_account_exists(struct canto_storage *s, const char *host, const char *user,
                                  canto_storage_done_cb cb, void *ud)
{
    submit_simple(s, CANTO__OP_ACCOUNT_EXISTS, host, user, cb, ud);
}

void canto_storage_account_list(struct canto_storage *s, const char *host,
                                canto_storage_list_cb cb, void *ud)
{
    struct canto__storage_req *r = req_new(CANTO__OP_ACCOUNT_LIST, host, NULL, NULL, 0);
    r->cb.list = cb;
    r->ud = ud;
    if (host && !*host)
        r->rc = CANTO_INVALID;
    submit(s, r);
}

void canto_storage_offline_store(struct canto_storage *s, const char *host, const char *user,
                                 const char *xml, size_t len, unsigned limit,
                                 canto_storage_done_cb cb, void *ud)
{
    bool valid = name_ok(host) && name_ok(user) && xml && len > 0;
    struct canto__storage_req *r =
        req_new(CANTO__OP_OFFLINE_STORE, host, user, valid ? xml : NULL, valid ? len : 0);
    r->cb.done = cb;
    r->ud = ud;
    r->limit = limit;
    if (!valid)
        r->rc = CANTO_INVALID;
    submit(s, r);
}

void canto_storage_offline_fetch(struct canto_storage *s, const char *host, const char *user,
                                 unsigned limit, canto_storage_offline_cb cb, void *ud)
{
    struct canto__storage_req *r = req_new(CANTO__OP_OFFLINE_FETCH, host, user, NULL, 0);
    r->cb.offline = cb;
    r->ud = ud;
    r->limit = limit;
    if (!name_ok(host) || !name_ok(user))
        r->rc = CANTO_INVALID;
    submit(s, r);
}

void canto_storage_offline_delete(struct canto_storage *s, const char *host, const char *user,
                                  int64_t up_to_id, canto_storage_done_cb cb, void *ud)
{
    struct canto__storage_req *r = req_new(CANTO__OP_OFFLINE_DELETE, host, user, NULL, 0);
    r->cb.done = cb;
    r->ud = ud;
    r->up_to_id = up_to_id;
    if (!name_ok(host) || !name_ok(user))
        r->rc = CANTO_INVALID;
    submit(s, r);
}

void canto_storage_offline_count(struct canto_storage *s, const char *host, const char *user,
                                 canto_storage_list_cb cb, void *ud)
{
    struct canto__storage_req *r = req_new(CANTO__OP_OFFLINE_COUNT, host, user, NULL, 0);
    r->cb.list = cb;
    r->ud = ud;
    if (!name_ok(host) || !name_ok(user))
        r->rc = CANTO_INVALID;
    submit(s, r);
}

void canto_storage_kv_get(struct canto_storage *s, const char *host, const char *user,
                          const char *store, const char *key, canto_storage_kv_cb cb, void *ud)
{
    struct canto__storage_req *r = req_new_kv(CANTO__OP_KV_GET, host, user, store, key);
    r->cb.kv = cb;
    r->ud = ud;
    if (!name_ok(host) || !name_ok(user) || !name_ok(store) || !name_ok(key))
        r->rc = CANTO_INVALID;
    submit(s, r);
}

void canto_storage_kv_list(struct canto_storage *s, const char *host, const char *user,
                           const char *store, canto_storage_kv_cb cb, void *ud)
{
    struct canto__storage_req *r = req_new_kv(CANTO__OP_KV_LIST, host, user, store, NULL);
    r->cb.kv = cb;
    r->ud = ud;
    if (!name_ok(host) || (user && !*user) || !name_ok(store))
        r->rc = CANTO_INVALID;
    submit(s, r);
}

/* The changes are copied now (the caller's array and buffers may go away
 * when this returns) and applied by the worker in order, all inside the
 * request's savepoint. A write of no changes only checks the account. */
void canto_storage_kv_write(struct canto_storage *s, const char *host, const char *user,
                            const struct canto_kv_change *changes, size_t n,
                            canto_storage_done_cb cb, void *ud)
{
    struct canto__storage_req *r = req_new(CANTO__OP_KV_WRITE, host, user, NULL, 0);
    size_t size = 0;
    r->cb.done = cb;
    r->ud = ud;
    if (!name_ok(host) || !name_ok(user) || !changes_ok(changes, n, &size)) {
        r->rc = CANTO_INVALID;
    } else if (n) {
        r->changes = changes_copy(changes, n, size);
        r->n_changes = n;
    }
    submit(s, r);
}

void canto_storage_barrier(struct canto_storage *s, canto_storage_done_cb cb, void *ud)
{
    struct canto__storage_req *r = req_new(CANTO__OP_BARRIER, NULL, NULL, NULL, 0);
    r->cb.done = cb;
    r->ud = ud;
    submit(s, r);
}
