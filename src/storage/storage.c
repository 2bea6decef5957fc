/*
 * storage.c: the backend-neutral half of storage.h: the request queues, the
 * two worker threads that own the database connections, group commit,
 * the routing of reads, barriers, and the delivery of results back to the
 * event loop. It knows no kind: a request carries its operation's
 * descriptor (storage_internal.h), which says whether it writes and how its
 * result reaches the caller.
 *
 * Two workers, each with its own connection and queue:
 * - the WRITER takes everything queued at once and runs the whole batch in
 *   one write transaction, each write inside its own savepoint so that a
 *   failing request is undone alone; many writes share one fsync, and no
 *   write is reported before it is durable;
 * - the READER runs reads in short read transactions of their own
 *   (WAL: they neither take nor wait for the write lock), so a long read
 *   never delays a durable acknowledgement.
 * A read goes to the reader unless its owner has requests in flight on the
 * writer: then it queues behind them there, and so sees them (the order
 * storage.h promises is per owner). With no reader (the backend declined:
 * no WAL) everything runs on the writer, in one order, as before.
 *
 * Requests submitted during one loop turn are handed to the workers once,
 * just before the loop waits (one lock, one wake-up per worker), and form
 * one group commit. After a batch, the worker appends it to the shared done
 * list and a uv_async_t wakes the loop thread, which runs the callbacks in
 * each worker's order and frees the requests. Callbacks never run inside
 * the call that queued them.
 *
 * A barrier travels on the writer (so every earlier write is durable when
 * it gets there) and then waits, parked, until every read queued on the
 * reader before it has been delivered.
 *
 * Threads: the queues, the done list and the stop flag are shared and
 * guarded by the one mutex; everything else (pending, owners in flight,
 * counters, parked barriers, the handles' ref state, what callbacks see)
 * belongs to the loop thread; each connection belongs to its worker from
 * open until the worker is joined.
 */
#include "canto/storage.h"

#include <stdlib.h>
#include <string.h>

#include "canto/hashmap.h"
#include "canto/log.h"
#include "storage/storage_internal.h"

/* One worker thread with its connection. */
struct worker {
    struct canto_storage *s;
    const char *name;                      /* "writer" / "reader", for logs */
    void *conn;                            /* backend connection; the thread's */
    uv_thread_t thread;
    bool started;                          /* thread created */
    uv_cond_t wake;                        /* waits here for work */
    struct canto__storage_req *queue_head; /* under s->lock: handed over, not taken */
    struct canto__storage_req *queue_tail;
    struct canto__storage_req *local_head; /* loop side: submitted this turn */
    struct canto__storage_req *local_tail;
};

/* An owner with requests in flight on the writer (loop side). */
struct in_flight {
    size_t n;   /* its requests queued on the writer, callback not run */
    char key[]; /* owner_key() */
};

struct canto_storage {
    uv_loop_t *loop;                               /* where callbacks run */
    const struct canto__storage_backend *backend;  /* e.g. sqlite */
    struct worker writer;                          /* writes, and reads behind them */
    struct worker reader;                          /* reads; conn NULL when there is none */
    uv_async_t async;                              /* workers -> loop wake-up */
    uv_prepare_t kick;                             /* hands this turn's requests over */
    uv_mutex_t lock;                               /* guards queues, done, stop */
    struct canto__storage_req *done_head;          /* executed, callback pending */
    struct canto__storage_req *done_tail;
    bool stop;                                     /* workers exit when idle */
    size_t pending;                                /* loop side: queued, callback not run */
    bool delivering;                               /* loop side: inside on_async */
    int closed;                                    /* handle close callbacks that ran */
    struct canto_hashmap in_flight;                /* owner key -> struct in_flight */
    uint64_t reads_queued;                         /* requests ever queued on the reader */
    uint64_t reads_delivered;                      /* ... whose callback has run */
    struct canto__storage_req *parked_head;        /* barriers waiting for reads */
    struct canto__storage_req *parked_tail;
};

static const struct canto__storage_backend *const backends[] = {
    &canto__storage_sqlite,
};

/* --- barrier: the one operation storage.c owns --------------------------------- */

static void deliver_barrier(struct canto__storage_req *r)
{
    if (r->cb)
        ((canto_storage_done_cb)r->cb)(r->ud, r->rc);
}

static const struct canto__storage_kind barrier_kind;
static const struct canto__storage_op barrier_op = {
    .kind = &barrier_kind, .id = 0, .name = "barrier", .writes = false,
    .deliver = deliver_barrier,
};
static const struct canto__storage_kind barrier_kind = {"barrier", &barrier_op, 1};

/* --- requests ------------------------------------------------------------------ */

static void req_free(struct canto__storage_req *r)
{
    if (r->op->clear)
        r->op->clear(r);
    if (r->op->release)
        r->op->release(r);
    free(r);
}

static bool owner_ok(const struct canto_storage_owner *o)
{
    if (!o || !o->host || !*o->host || !o->name)
        return false;
    if (o->kind == CANTO_OWNER_ACCOUNT)
        return *o->name != '\0';
    return o->kind == CANTO_OWNER_SERVICE;
}

const char *canto__storage_put(char **p, const char *src, size_t n)
{
    char *copy = *p;
    if (n)
        memcpy(copy, src, n);
    copy[n] = '\0';
    *p += n + 1;
    return copy;
}

size_t canto__storage_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

bool canto__storage_limit_ok(unsigned limit)
{
    return limit >= 1 && limit <= CANTO_STORAGE_PAGE_MAX;
}

void *canto__storage_req_new(size_t size, const struct canto__storage_op *op,
                             const struct canto_storage_owner *owner, size_t extra, char **tail)
{
    bool ok = owner_ok(owner);
    size_t hl = ok ? strlen(owner->host) + 1 : 0;
    size_t nl = ok ? strlen(owner->name) + 1 : 0;
    char *block = canto_xcalloc(1, size + hl + nl + extra);
    struct canto__storage_req *r = (struct canto__storage_req *)block;
    char *p = block + size;
    r->op = op;
    r->rc = CANTO_AGAIN;
    if (ok) {
        r->has_owner = true;
        r->owner.kind = owner->kind;
        r->owner.host = canto__storage_put(&p, owner->host, hl - 1);
        r->owner.name = canto__storage_put(&p, owner->name, nl - 1);
    } else if (owner) {
        r->rc = CANTO_INVALID;
    }
    *tail = p;
    return r;
}

/* --- owners in flight on the writer (loop side) -------------------------------- */

/* The map key of an owner: kind, host and name, joined with a byte that
 * cannot occur in either (U+001F is not allowed in XML, hence in a JID). buf
 * has size bytes; a longer key is malloc'd (the caller frees it if it is
 * not buf). */
static char *owner_key(const struct canto_storage_owner *o, char *buf, size_t size)
{
    size_t hl = strlen(o->host), nl = strlen(o->name);
    size_t need = 2 + hl + 1 + nl + 1;
    char *k = need <= size ? buf : canto_xmalloc(need);
    k[0] = (char)('0' + (int)o->kind);
    k[1] = '\x1f';
    memcpy(k + 2, o->host, hl);
    k[2 + hl] = '\x1f';
    memcpy(k + 3 + hl, o->name, nl + 1);
    return k;
}

static struct in_flight *flight_get(struct canto_storage *s, const struct canto_storage_owner *o)
{
    if (s->in_flight.count == 0)
        return NULL; /* the common case: nothing written lately */
    char buf[256];
    char *k = owner_key(o, buf, sizeof buf);
    struct in_flight *f = canto_hashmap_get(&s->in_flight, k);
    if (k != buf)
        free(k);
    return f;
}

static void flight_add(struct canto_storage *s, const struct canto_storage_owner *o)
{
    struct in_flight *f = flight_get(s, o);
    if (!f) {
        char buf[256];
        char *k = owner_key(o, buf, sizeof buf);
        size_t kl = strlen(k) + 1;
        f = canto_xmalloc(sizeof *f + kl);
        f->n = 0;
        memcpy(f->key, k, kl);
        if (k != buf)
            free(k);
        canto_hashmap_put(&s->in_flight, f->key, f);
    }
    f->n++;
}

static void flight_done(struct canto_storage *s, const struct canto_storage_owner *o)
{
    struct in_flight *f = flight_get(s, o);
    if (f && --f->n == 0) {
        canto_hashmap_remove(&s->in_flight, f->key);
        free(f);
    }
}

/* --- worker threads -------------------------------------------------------------- */

/* The transaction holding requests first..last (inclusive) did not commit:
 * none of their effects survive, and reads among them may have seen writes
 * that are now gone, so every one that ran fails. Barriers stay OK: they
 * carry no data and still mark the point after which nothing earlier is
 * pending. */
static void fail_transaction(struct canto__storage_req *first, struct canto__storage_req *last)
{
    for (struct canto__storage_req *r = first; r; r = r->next) {
        if (r->ran) {
            if (r->op->clear)
                r->op->clear(r);
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
            r->rc = r->op == &barrier_op ? CANTO_OK : CANTO_ERROR;
    }
}

/* Run one batch on w's connection: one transaction for all of it, a
 * savepoint per write. If the backend loses the transaction in the middle
 * (SQLite rolls back by itself on I/O errors or a full disk), the requests
 * that ran in it fail and the rest of the batch goes on in a fresh
 * transaction. Every request leaves with rc set. */
static void run_batch(struct worker *w, struct canto__storage_req *batch)
{
    const struct canto__storage_backend *b = w->s->backend;
    struct canto__storage_req *tx_first = NULL, *tx_last = NULL;

    for (struct canto__storage_req *r = batch; r; r = r->next) {
        if (r->rc != CANTO_AGAIN)
            continue; /* refused when queued (invalid input) */
        if (r->op == &barrier_op) {
            r->rc = CANTO_OK; /* FIFO: everything before it has run */
            continue;
        }
        if (!tx_first) {
            if (b->begin(w->conn) != CANTO_OK) {
                fail_unstarted(r);
                return;
            }
            tx_first = r;
        }
        tx_last = r;
        r->ran = true;
        bool writes = r->op->writes;
        if (writes && b->savepoint(w->conn) != CANTO_OK) {
            r->rc = CANTO_ERROR;
        } else {
            r->rc = b->exec(w->conn, r);
            if (writes && b->in_transaction(w->conn)) {
                int step = r->rc == CANTO_OK ? b->release(w->conn) : b->rollback_to(w->conn);
                if (step != CANTO_OK) {
                    if (r->op->clear)
                        r->op->clear(r);
                    r->rc = CANTO_ERROR;
                    b->rollback(w->conn); /* state unknown: give the transaction up */
                }
            }
        }
        if (!b->in_transaction(w->conn)) {
            canto_error("storage: %s: transaction lost; failing its %s", w->name,
                        tx_first == r ? "request" : "requests");
            fail_transaction(tx_first, r);
            tx_first = tx_last = NULL;
        }
    }
    if (tx_first && b->commit(w->conn) != CANTO_OK) {
        b->rollback(w->conn);
        fail_transaction(tx_first, tx_last);
    }
}

/* A worker: sleep until requests are queued, take all of them, run them as
 * one batch, hand the batch to the loop. It allocates nothing itself while
 * idle; it exits once stop is set and its queue is empty. */
static void worker_main(void *arg)
{
    struct worker *w = arg;
    struct canto_storage *s = w->s;
    uv_mutex_lock(&s->lock);
    for (;;) {
        while (!w->queue_head && !s->stop)
            uv_cond_wait(&w->wake, &s->lock);
        if (!w->queue_head)
            break;
        struct canto__storage_req *batch = w->queue_head, *tail = w->queue_tail;
        w->queue_head = w->queue_tail = NULL;
        uv_mutex_unlock(&s->lock);

        uint64_t t0 = canto_now_ms();
        run_batch(w, batch);
        if (canto_log_get_level() <= CANTO_LOG_DEBUG) {
            size_t count = 0;
            for (struct canto__storage_req *r = batch; r; r = r->next)
                count++;
            canto_debug("storage: %s: batch of %zu request(s) done in %llu ms", w->name, count,
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

/* Run r's callback and forget it. */
static void complete(struct canto_storage *s, struct canto__storage_req *r)
{
    r->op->deliver(r);
    if (r->on_writer && r->has_owner)
        flight_done(s, &r->owner);
    if (!r->on_writer)
        s->reads_delivered++;
    req_free(r);
    s->pending--;
}

/* Barriers parked until the reads queued before them were delivered. They
 * were parked in the order they were queued, so the first is the one to
 * wait for. */
static void release_parked(struct canto_storage *s)
{
    while (s->parked_head && s->parked_head->reads_before <= s->reads_delivered) {
        struct canto__storage_req *r = s->parked_head;
        s->parked_head = r->next;
        if (!s->parked_head)
            s->parked_tail = NULL;
        complete(s, r);
    }
}

/* Runs the callbacks of every completed request, each worker's in its
 * order. The done list is detached under the lock, so the workers can
 * append the next batch while callbacks run (and callbacks may queue new
 * requests). The handle is unreferenced when nothing is pending, so an idle
 * storage does not keep uv_run() from returning. */
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
        r->next = NULL;
        if (r->op == &barrier_op && (s->parked_head || r->reads_before > s->reads_delivered)) {
            if (s->parked_tail)
                s->parked_tail->next = r;
            else
                s->parked_head = r;
            s->parked_tail = r;
            continue;
        }
        bool read = !r->on_writer;
        complete(s, r);
        if (read)
            release_parked(s);
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

/* Move w's requests of this turn to its queue (lock held); true if any. */
static bool hand_over(struct worker *w)
{
    if (!w->local_head)
        return false;
    if (w->queue_tail)
        w->queue_tail->next = w->local_head;
    else
        w->queue_head = w->local_head;
    w->queue_tail = w->local_tail;
    w->local_head = w->local_tail = NULL;
    uv_cond_signal(&w->wake);
    return true;
}

/* Once per loop turn, before the loop waits: the requests submitted during
 * the turn go to the workers with one lock and one wake-up each, instead of
 * one of each per request (which, with the worker on the same core, is a
 * pair of context switches per request), and the writes form one group
 * commit. */
static void on_kick(uv_prepare_t *h)
{
    struct canto_storage *s = h->data;
    if (!s->writer.local_head && !s->reader.local_head)
        return;
    uv_mutex_lock(&s->lock);
    hand_over(&s->writer);
    hand_over(&s->reader);
    uv_mutex_unlock(&s->lock);
}

/* Route and queue r. Writes, barriers, and reads of an owner with requests
 * in flight on the writer go to the writer; other reads to the reader
 * when there is one. A request refused when it was made (rc no longer
 * CANTO_AGAIN) travels the same way, so that its callback, like every
 * other, runs later and in order. */
void canto__storage_submit(struct canto_storage *s, struct canto__storage_req *r)
{
    /* At debug level every request is logged with its operation and owner
     * (never keys or values), so that what a stanza really costs in storage
     * can be counted from the log (tests/integration/test_storage_load.py
     * does). */
    canto_debug("storage: request %s %s/%s", r->op->name, r->has_owner ? r->owner.host : "-",
                r->has_owner ? r->owner.name : "-");
    if (s->pending++ == 0)
        uv_ref((uv_handle_t *)&s->async);
    bool on_writer = r->op->writes || r->op == &barrier_op || !s->reader.conn ||
                     (r->has_owner && flight_get(s, &r->owner));
    r->on_writer = on_writer;
    struct worker *w = on_writer ? &s->writer : &s->reader;
    if (on_writer && r->has_owner && s->reader.conn)
        flight_add(s, &r->owner);
    if (!on_writer)
        s->reads_queued++;
    if (r->op == &barrier_op)
        r->reads_before = s->reads_queued;
    if (w->local_tail)
        w->local_tail->next = r;
    else
        w->local_head = r;
    w->local_tail = r;
}

/* --- open / close ------------------------------------------------------------ */

static int worker_start(struct canto_storage *s, struct worker *w, const char *name)
{
    w->s = s;
    w->name = name;
    int e = uv_cond_init(&w->wake);
    if (e != 0)
        return e;
    e = uv_thread_create(&w->thread, worker_main, w);
    if (e != 0) {
        uv_cond_destroy(&w->wake);
        return e;
    }
    w->started = true;
    return 0;
}

static void worker_join(struct worker *w)
{
    if (!w->started)
        return;
    uv_thread_join(&w->thread);
    uv_cond_destroy(&w->wake);
    w->started = false;
}

/* Stop both workers (their queues are empty) and close the connections. */
static void workers_stop(struct canto_storage *s)
{
    uv_mutex_lock(&s->lock);
    s->stop = true;
    if (s->writer.started)
        uv_cond_signal(&s->writer.wake);
    if (s->reader.started)
        uv_cond_signal(&s->reader.wake);
    uv_mutex_unlock(&s->lock);
    worker_join(&s->writer);
    worker_join(&s->reader);
    if (s->reader.conn)
        s->backend->close(s->reader.conn);
    s->backend->close(s->writer.conn);
}

int canto__storage_open(uv_loop_t *loop, const struct canto_storage_options *opts,
                        const void *extra_kinds, struct canto_storage **out,
                        struct canto_buf *err)
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
    canto_hashmap_init(&s->in_flight);
    if (backend->open(opts->data_dir, extra_kinds, &s->writer.conn, err) != CANTO_OK) {
        free(s);
        return CANTO_ERROR;
    }
    int rc = backend->open_reader(s->writer.conn, &s->reader.conn, err);
    if (rc == CANTO_ERROR) {
        backend->close(s->writer.conn);
        free(s);
        return CANTO_ERROR;
    }
    if (rc != CANTO_OK)
        s->reader.conn = NULL; /* declined: reads run on the writer */
    int e;
    if ((e = uv_mutex_init(&s->lock)) != 0)
        goto fail_conns;
    if ((e = uv_async_init(loop, &s->async, on_async)) != 0)
        goto fail_mutex;
    s->async.data = s;
    uv_unref((uv_handle_t *)&s->async);
    uv_prepare_init(loop, &s->kick);
    s->kick.data = s;
    uv_prepare_start(&s->kick, on_kick);
    uv_unref((uv_handle_t *)&s->kick);
    if ((e = worker_start(s, &s->writer, "writer")) != 0 ||
        (s->reader.conn && (e = worker_start(s, &s->reader, "reader")) != 0))
        goto fail_workers;
    *out = s;
    return CANTO_OK;

fail_workers:
    workers_stop(s);
    uv_close((uv_handle_t *)&s->async, on_handle_closed);
    uv_close((uv_handle_t *)&s->kick, on_handle_closed);
    while (s->closed < 2)
        uv_run(loop, UV_RUN_ONCE);
    uv_mutex_destroy(&s->lock);
    canto_hashmap_free(&s->in_flight);
    free(s);
    canto_buf_appendf(err, "storage: cannot start the storage threads: %s", uv_strerror(e));
    return CANTO_ERROR;
fail_mutex:
    uv_mutex_destroy(&s->lock);
fail_conns:
    if (s->reader.conn)
        backend->close(s->reader.conn);
    backend->close(s->writer.conn);
    canto_hashmap_free(&s->in_flight);
    free(s);
    canto_buf_appendf(err, "storage: cannot start: %s", uv_strerror(e));
    return CANTO_ERROR;
}

int canto_storage_open(uv_loop_t *loop, const struct canto_storage_options *opts,
                       struct canto_storage **out, struct canto_buf *err)
{
    return canto__storage_open(loop, opts, NULL, out, err);
}

/* Drain first (the workers may still be executing or delivering, and
 * callbacks may queue more), then stop the workers, then close the handles.
 * pending > 0 keeps the async handle referenced, so UV_RUN_ONCE blocks
 * until a worker has something to report instead of spinning. */
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

    workers_stop(s);
    uv_close((uv_handle_t *)&s->async, on_handle_closed);
    uv_close((uv_handle_t *)&s->kick, on_handle_closed);
    while (s->closed < 2)
        uv_run(s->loop, UV_RUN_ONCE);
    uv_mutex_destroy(&s->lock);
    canto_hashmap_free(&s->in_flight); /* empty: nothing is pending */
    free(s);
}

void canto_storage_barrier(struct canto_storage *s, canto_storage_done_cb cb, void *ud)
{
    char *tail;
    struct canto__storage_req *r = canto__storage_req_new(sizeof *r, &barrier_op, NULL, 0, &tail);
    r->cb = (void (*)(void))cb;
    r->ud = ud;
    canto__storage_submit(s, r);
}
