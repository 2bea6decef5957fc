/*
 * test_account_state.c: the per-account state facility (account_state.h)
 * against a real SQLite storage in a temporary directory: existence read
 * once and cached (missing accounts too), parts read only when asked and
 * only once, callers answered in the order they asked, the bound on
 * unheld entries, holds, forgetting a deleted account, and freeing
 * everything at the end (run under ASan to see that nothing leaks).
 *
 * The test kind has two parts; each load is one real storage request whose
 * callback reports the part loaded (or failed, when the test says so).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "canto/account_state.h"
#include "canto/server.h"
#include "canto/storage.h"
#include "check.h"

static char dir[64];

struct test_state {
    int loads[2];  /* reads started, per part */
};

static int frees;          /* states freed */
static bool fail_next;     /* the next load reports failure */

static void *ts_create(struct canto_account *a)
{
    return canto_xcalloc(1, sizeof(struct test_state));
}

static void ts_free(void *state)
{
    frees++;
    free(state);
}

static const struct canto_account_kind test_kind;

struct pending_load {
    struct canto_account *a;
    unsigned part;
    bool fail;
};

static void load_read(void *ud, int rc)
{
    struct pending_load *p = ud;
    canto_account_loaded(p->a, &test_kind, p->part, !p->fail);
    free(p);
}

static void ts_load(struct canto_account *a, void *state, unsigned part)
{
    struct test_state *ts = state;
    ts->loads[part]++;
    struct pending_load *p = canto_xmalloc(sizeof(*p));
    *p = (struct pending_load){a, part, fail_next};
    fail_next = false;
    canto_storage_barrier(a->host->server->storage, load_read, p);
}

static const struct canto_account_kind test_kind = {
    .name = "test",
    .nparts = 2,
    .create = ts_create,
    .load = ts_load,
    .free = ts_free,
};

/* A record of the callbacks: their order and results. */
struct calls {
    int order[16];
    int rc[16];
    size_t n;
};

struct call {
    struct calls *log;
    int id;
};

static void on_account(struct canto_account *a, int rc, void *ud)
{
    struct call *c = ud;
    c->log->order[c->log->n] = c->id;
    c->log->rc[c->log->n] = rc;
    c->log->n++;
}

struct fixture {
    uv_loop_t loop;
    struct canto_server srv;
    struct canto_host host;
};

static void setup(struct fixture *f, size_t max_unheld)
{
    memset(f, 0, sizeof(*f));
    uv_loop_init(&f->loop);
    struct canto_storage_options opts = {.backend = "sqlite", .data_dir = dir};
    struct canto_buf err = {0};
    CHECK_INT(canto_storage_open(&f->loop, &opts, &f->srv.storage, &err), CANTO_OK);
    canto_buf_free(&err);
    f->srv.loop = &f->loop;
    f->srv.accounts = canto_accounts_new(&f->srv, max_unheld);
    f->host.name = "example.org";
    f->host.server = &f->srv;
    static const char *const users[] = {"alice", "bob", "carol", "dave"};
    for (size_t i = 0; i < 4; i++)
        canto_storage_account_create(f->srv.storage, "example.org", users[i], NULL, 0, NULL,
                                     NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
}

static void teardown(struct fixture *f)
{
    canto_storage_close(f->srv.storage);
    canto_accounts_free(f->srv.accounts);
    uv_loop_close(&f->loop);
    /* A fresh database for the next test. */
    char path[128];
    static const char *const files[] = {"canto.db", "canto.db-wal", "canto.db-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
}

static struct test_state *state_of(struct fixture *f, const char *bare)
{
    struct canto_account *a = canto_account_find(&f->host, bare);
    return a ? canto_account_state(a, &test_kind) : NULL;
}

/* Existence is read once; a missing account is answered from memory the
 * second time and never gets a state. */
static void test_existence(void)
{
    struct fixture f;
    setup(&f, 8);
    struct calls log = {0};
    struct call c1 = {&log, 1}, c2 = {&log, 2}, c3 = {&log, 3};
    canto_account_with(&f.host, "nobody", &test_kind, 3, on_account, &c1);
    CHECK_INT(log.n, 0); /* never inline when storage must answer */
    uv_run(&f.loop, UV_RUN_DEFAULT);
    CHECK_INT(log.n, 1);
    CHECK_INT(log.rc[0], CANTO_NOTFOUND);
    CHECK(state_of(&f, "nobody@example.org") == NULL);
    canto_account_with(&f.host, "nobody", &test_kind, 3, on_account, &c2);
    CHECK_INT(log.n, 2); /* cached: at once */
    CHECK_INT(log.rc[1], CANTO_NOTFOUND);
    /* Existence alone, of an account that exists. */
    canto_account_with(&f.host, "alice", NULL, 0, on_account, &c3);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    CHECK_INT(log.n, 3);
    CHECK_INT(log.rc[2], CANTO_OK);
    CHECK(canto_account_ready(&f.host, "alice@example.org", NULL, 0) != NULL);
    CHECK(canto_account_ready(&f.host, "alice@example.org", &test_kind, 1) == NULL);
    teardown(&f);
}

/* Parts are read when first asked for, once each. */
static void test_parts(void)
{
    struct fixture f;
    setup(&f, 8);
    struct calls log = {0};
    struct call c[3] = {{&log, 1}, {&log, 2}, {&log, 3}};
    canto_account_with(&f.host, "alice", &test_kind, 1, on_account, &c[0]);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    struct test_state *ts = state_of(&f, "alice@example.org");
    CHECK(ts != NULL);
    CHECK_INT(ts->loads[0], 1);
    CHECK_INT(ts->loads[1], 0);
    CHECK(canto_account_ready(&f.host, "alice@example.org", &test_kind, 1) != NULL);
    CHECK(canto_account_ready(&f.host, "alice@example.org", &test_kind, 3) == NULL);
    canto_account_with(&f.host, "alice", &test_kind, 3, on_account, &c[1]);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    CHECK_INT(ts->loads[0], 1);
    CHECK_INT(ts->loads[1], 1);
    canto_account_with(&f.host, "alice", &test_kind, 3, on_account, &c[2]);
    CHECK_INT(log.n, 3); /* everything there: at once */
    for (size_t i = 0; i < 3; i++)
        CHECK_INT(log.rc[i], CANTO_OK);
    teardown(&f);
}

/* A caller that needs less is not answered before an earlier one that
 * needs more, and ready() says no while anyone waits. */
static void test_order(void)
{
    struct fixture f;
    setup(&f, 8);
    struct calls log = {0};
    struct call c[3] = {{&log, 1}, {&log, 2}, {&log, 3}};
    canto_account_with(&f.host, "bob", &test_kind, 1, on_account, &c[0]);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    canto_account_with(&f.host, "bob", &test_kind, 3, on_account, &c[1]); /* reads part 1 */
    canto_account_with(&f.host, "bob", &test_kind, 1, on_account, &c[2]); /* has it already */
    CHECK_INT(log.n, 1);
    CHECK(canto_account_ready(&f.host, "bob@example.org", &test_kind, 1) == NULL);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    CHECK_INT(log.n, 3);
    CHECK_INT(log.order[1], 2);
    CHECK_INT(log.order[2], 3);
    teardown(&f);
}

/* A failed read is told to the callers that needed it; the next caller
 * reads again. */
static void test_failure(void)
{
    struct fixture f;
    setup(&f, 8);
    struct calls log = {0};
    struct call c[2] = {{&log, 1}, {&log, 2}};
    fail_next = true;
    canto_account_with(&f.host, "carol", &test_kind, 1, on_account, &c[0]);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    CHECK_INT(log.n, 1);
    CHECK_INT(log.rc[0], CANTO_ERROR);
    canto_account_with(&f.host, "carol", &test_kind, 1, on_account, &c[1]);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    CHECK_INT(log.n, 2);
    CHECK_INT(log.rc[1], CANTO_OK);
    CHECK_INT(state_of(&f, "carol@example.org")->loads[0], 2);
    teardown(&f);
}

/* At most two unheld entries: the least recently used goes, a held one
 * stays whatever its age, and a released one becomes the most recent. */
static void test_bound_and_holds(void)
{
    struct fixture f;
    setup(&f, 2);
    frees = 0;
    struct calls log = {0};
    struct call c = {&log, 0};
    canto_account_with(&f.host, "alice", &test_kind, 1, on_account, &c);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    struct canto_account *alice = canto_account_find(&f.host, "alice@example.org");
    CHECK(alice != NULL);
    canto_account_hold(alice); /* as a bound session does */
    static const char *const others[] = {"bob", "carol", "dave"};
    for (size_t i = 0; i < 3; i++) {
        canto_account_with(&f.host, others[i], &test_kind, 1, on_account, &c);
        uv_run(&f.loop, UV_RUN_DEFAULT);
    }
    CHECK(canto_account_find(&f.host, "alice@example.org") == alice);
    CHECK(canto_account_find(&f.host, "bob@example.org") == NULL);
    CHECK(canto_account_find(&f.host, "carol@example.org") != NULL);
    CHECK(canto_account_find(&f.host, "dave@example.org") != NULL);
    CHECK_INT(frees, 1);
    canto_account_release(alice); /* the most recent now: carol goes */
    CHECK(canto_account_find(&f.host, "alice@example.org") == alice);
    CHECK(canto_account_find(&f.host, "carol@example.org") == NULL);
    CHECK_INT(frees, 2);
    teardown(&f);
    CHECK_INT(frees, 4); /* the rest at the end */
}

/* A deleted account is missing from then on and freed, not cached, once
 * its holders are gone; a session of a new account of that name makes it
 * exist again. */
static void test_forget_and_seen(void)
{
    struct fixture f;
    setup(&f, 8);
    struct calls log = {0};
    struct call c = {&log, 0};
    canto_account_with(&f.host, "dave", &test_kind, 3, on_account, &c);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    struct canto_account *a = canto_account_find(&f.host, "dave@example.org");
    canto_account_hold(a);
    canto_account_forget(&f.host, "dave@example.org");
    CHECK(canto_account_find(&f.host, "dave@example.org") == a);
    CHECK(canto_account_ready(&f.host, "dave@example.org", NULL, 0) == NULL);
    canto_account_with(&f.host, "dave", &test_kind, 1, on_account, &c);
    CHECK_INT(log.rc[log.n - 1], CANTO_NOTFOUND);
    canto_account_release(a);
    CHECK(canto_account_find(&f.host, "dave@example.org") == NULL);
    /* Unknown to the facility and to storage, yet a session bound. */
    canto_account_seen(&f.host, "erin");
    CHECK(canto_account_ready(&f.host, "erin@example.org", NULL, 0) != NULL);
    teardown(&f);
}

static void on_barrier(void *ud)
{
    struct calls *log = ud;
    log->order[log->n] = 99;
    log->rc[log->n] = CANTO_OK;
    log->n++;
}

/* A barrier is called once every caller waiting when it was asked for has
 * been answered, and not before; with nobody waiting, at once. */
static void test_barrier(void)
{
    struct fixture f;
    setup(&f, 8);
    struct calls log = {0};
    struct call c[2] = {{&log, 1}, {&log, 2}};
    canto_accounts_barrier(f.srv.accounts, on_barrier, &log);
    CHECK_INT(log.n, 1);
    canto_account_with(&f.host, "alice", &test_kind, 3, on_account, &c[0]);
    canto_accounts_barrier(f.srv.accounts, on_barrier, &log);
    canto_account_with(&f.host, "bob", &test_kind, 3, on_account, &c[1]);
    CHECK_INT(log.n, 1);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    CHECK_INT(log.n, 4);
    CHECK_INT(log.order[1], 1);  /* alice's caller, then the barrier, */
    CHECK_INT(log.order[2], 99); /* which did not wait for bob's (asked later) */
    CHECK_INT(log.order[3], 2);
    teardown(&f);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/canto-account-state-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_existence();
    test_parts();
    test_order();
    test_failure();
    test_bound_and_holds();
    test_forget_and_seen();
    test_barrier();
    rmdir(dir);
    return CHECK_DONE();
}
