/*
 * test_storage.c: the storage interface (include/canto/storage.h) on the
 * SQLite backend, driven the way the server drives it: requests queued from
 * the loop thread, results arriving in callbacks while the loop runs.
 *
 * Every test gets its own fresh loop and a directory under one mkdtemp()
 * directory, removed at the end. The storage handle is unreferenced while
 * idle, so uv_run(UV_RUN_DEFAULT) returns exactly when every queued request
 * has completed; that is how the tests wait. Raw SQLite access is used only
 * to look at the file from outside (schema version, injected failures, query
 * plans), the way another process would. No timing is asserted; the
 * group-commit test prints its throughput for information.
 */
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "canto/buf.h"
#include "canto/common.h"
#include "canto/storage.h"
#include "check.h"
#include "storage_test_kind.c"

static char base_dir[64];
static bool in_queue_call; /* true while a storage function is being called */
static int next_seq;       /* completion counter, for order checks */

/* The callback ran exactly once, with this result. */
#define EXPECT(res, want)                 \
    do {                                  \
        CHECK_INT((res).calls, 1);        \
        CHECK_INT((res).rc, (want));      \
    } while (0)

/* Queue a request with the flag up: a callback run inside the call fails. */
#define QUEUE(call)            \
    do {                       \
        in_queue_call = true;  \
        call;                  \
        in_queue_call = false; \
    } while (0)

struct result {
    int calls;                               /* times the callback ran */
    int rc;                                  /* last rc */
    int seq;                                 /* completion order */
    size_t n;                                /* count / items / messages */
    bool more;                               /* a list said more follows */
    struct canto_scram_cred creds[4];        /* get_creds copy */
    struct canto_buf text;                   /* list items or stanzas, joined */
    int64_t ids[8];                          /* first archive ids */
    int64_t last_id;                         /* the last archive id of a page */
};

static void result_reset(struct result *r)
{
    canto_buf_free(&r->text);
    memset(r, 0, sizeof *r);
    r->rc = 1; /* no rc has that value */
}

static void note(struct result *r, int rc)
{
    CHECK(!in_queue_call);
    r->calls++;
    r->rc = rc;
    r->seq = next_seq++;
}

static void on_done(void *ud, int rc)
{
    note(ud, rc);
}

static void on_creds(void *ud, int rc, const struct canto_scram_cred *creds, size_t n)
{
    struct result *r = ud;
    note(r, rc);
    r->n = n;
    CHECK(n <= CANTO_ARRAY_LEN(r->creds));
    if (n && n <= CANTO_ARRAY_LEN(r->creds))
        memcpy(r->creds, creds, n * sizeof *creds);
}

static void on_list(void *ud, int rc, const char *const *items, size_t n, bool more)
{
    struct result *r = ud;
    note(r, rc);
    r->n = n;
    r->more = more;
    canto_buf_reset(&r->text);
    for (size_t i = 0; items && i < n; i++) {
        if (i)
            canto_buf_append_char(&r->text, ' ');
        canto_buf_append_str(&r->text, items[i]);
    }
    canto_buf_append_str(&r->text, ""); /* never NULL */
}

/* Archive items joined with '|'; ids kept, checked to increase (oldest
 * first) or decrease (newest first). */
static void on_archive(void *ud, int rc, const struct canto_archive_item *items, size_t n,
                       bool more)
{
    struct result *r = ud;
    note(r, rc);
    r->n = n;
    r->more = more;
    canto_buf_reset(&r->text);
    for (size_t i = 0; i < n; i++) {
        if (i)
            canto_buf_append_char(&r->text, '|');
        CHECK_INT(strlen(items[i].xml), items[i].len);
        CHECK(items[i].peer != NULL);
        canto_buf_append(&r->text, items[i].xml, items[i].len);
        if (i < CANTO_ARRAY_LEN(r->ids))
            r->ids[i] = items[i].id;
        r->last_id = items[i].id;
        if (i > 0)
            CHECK(items[i].id != items[i - 1].id);
    }
    canto_buf_append_str(&r->text, "");
}

static void on_count(void *ud, int rc, uint64_t count)
{
    struct result *r = ud;
    note(r, rc);
    r->n = (size_t)count;
}

static void on_id(void *ud, int rc, int64_t id)
{
    struct result *r = ud;
    note(r, rc);
    r->ids[0] = id;
}

/* --- the offline messages as the offline module keeps them: the archive
 * "offline" of an account ------------------------------------------------------ */

struct done_tramp {
    canto_storage_done_cb cb;
    void *ud;
};

static void tramp_id(void *ud, int rc, int64_t id)
{
    struct done_tramp *t = ud;
    if (t->cb)
        t->cb(t->ud, rc);
    free(t);
}

static void offline_store(struct canto_storage *s, const char *host, const char *user,
                          const char *xml, size_t len, unsigned limit, canto_storage_done_cb cb,
                          void *ud)
{
    struct done_tramp *t = canto_xmalloc(sizeof *t);
    t->cb = cb;
    t->ud = ud;
    canto_storage_archive_append(s, CANTO_ACCOUNT(host, user), "offline", "peer@example.net",
                                 xml, len, limit, tramp_id, t);
}

static void offline_fetch(struct canto_storage *s, const char *host, const char *user,
                          unsigned limit, struct result *r)
{
    struct canto_archive_query q = {.limit = limit};
    canto_storage_archive_query(s, CANTO_ACCOUNT(host, user), "offline", &q, on_archive, r);
}

static void offline_delete(struct canto_storage *s, const char *host, const char *user,
                           int64_t up_to, canto_storage_done_cb cb, void *ud)
{
    canto_storage_archive_delete(s, CANTO_ACCOUNT(host, user), "offline", up_to, cb, ud);
}

static void offline_count(struct canto_storage *s, const char *host, const char *user,
                          struct result *r)
{
    canto_storage_archive_count(s, CANTO_ACCOUNT(host, user), "offline", on_count, r);
}

/* kv items joined as "user/key=value" with spaces between; values are
 * appended as bytes, so embedded NULs survive (compare with memcmp). */
static void on_kv(void *ud, int rc, const struct canto_kv_item *items, size_t n, bool more)
{
    struct result *r = ud;
    note(r, rc);
    r->n = n;
    r->more = more;
    canto_buf_reset(&r->text);
    for (size_t i = 0; i < n; i++) {
        const struct canto_kv_item *it = &items[i];
        CHECK(it->owner && it->key && it->value);
        if (!it->owner || !it->key || !it->value)
            continue;
        CHECK(it->value[it->len] == '\0');
        if (i)
            canto_buf_append_char(&r->text, ' ');
        canto_buf_appendf(&r->text, "%s/%s=", it->owner, it->key);
        canto_buf_append(&r->text, it->value, it->len);
    }
    canto_buf_append_str(&r->text, "");
}

/* The three kinds of change of canto_storage_kv_write. */
static struct canto_kv_change kv_set(const char *store, const char *key, const char *value)
{
    return (struct canto_kv_change){store, key, value, strlen(value)};
}

static struct canto_kv_change kv_del(const char *store, const char *key)
{
    return (struct canto_kv_change){store, key, NULL, 0};
}

static struct canto_kv_change kv_clear(const char *store)
{
    return (struct canto_kv_change){store, NULL, NULL, 0};
}

#define ACC(host, user) CANTO_ACCOUNT((host), (user))

/* A whole store in one page (these tests keep stores small): one
 * account's, or with user NULL the store of every account of host. */
static void kv_list_all(struct canto_storage *s, const char *host, const char *user,
                        const char *store, canto_storage_kv_cb cb, void *ud)
{
    if (user)
        canto_storage_kv_list(s, ACC(host, user), store, NULL, CANTO_STORAGE_PAGE_MAX, cb, ud);
    else
        canto_storage_kv_list_host(s, CANTO_OWNER_ACCOUNT, host, store, NULL, NULL,
                                   CANTO_STORAGE_PAGE_MAX, cb, ud);
}

static size_t digest_len(enum canto_hash h)
{
    return h == CANTO_HASH_SHA1 ? 20 : h == CANTO_HASH_SHA256 ? 32 : 64;
}

/* A made-up but well-formed credential; seed varies every byte. */
static struct canto_scram_cred make_cred(enum canto_hash h, int seed)
{
    struct canto_scram_cred c;
    memset(&c, 0, sizeof c);
    c.hash = h;
    c.iterations = 4096 + (uint32_t)seed;
    c.salt_len = CANTO_SCRAM_SALT_LEN;
    for (size_t i = 0; i < c.salt_len; i++)
        c.salt[i] = (unsigned char)(seed + i);
    for (size_t i = 0; i < digest_len(h); i++) {
        c.stored_key[i] = (unsigned char)(seed * 7 + i);
        c.server_key[i] = (unsigned char)(seed * 13 + i * 3);
    }
    return c;
}

static bool cred_equal(const struct canto_scram_cred *a, const struct canto_scram_cred *b)
{
    size_t hl = digest_len(a->hash);
    return a->hash == b->hash && a->iterations == b->iterations && a->salt_len == b->salt_len &&
           memcmp(a->salt, b->salt, a->salt_len) == 0 &&
           memcmp(a->stored_key, b->stored_key, hl) == 0 &&
           memcmp(a->server_key, b->server_key, hl) == 0;
}

static void dir_path(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", base_dir, name);
}

static struct canto_storage *open_dir(uv_loop_t *loop, const char *dir)
{
    struct canto_storage_options opts = {.backend = "sqlite", .data_dir = dir};
    struct canto_storage *s = NULL;
    struct canto_buf err = {0};
    int rc = canto_storage_open(loop, &opts, &s, &err);
    if (rc != CANTO_OK)
        fprintf(stderr, "open %s: %s\n", dir, err.data ? err.data : "?");
    CHECK_INT(rc, CANTO_OK);
    CHECK(s != NULL);
    canto_buf_free(&err);
    return s;
}

static void run(uv_loop_t *loop)
{
    uv_run(loop, UV_RUN_DEFAULT);
}

static void loop_done(uv_loop_t *loop)
{
    CHECK_INT(uv_loop_close(loop), 0);
}

/* Open the database file directly, as another process would. */
static sqlite3 *raw_open(const char *dir)
{
    char path[256];
    snprintf(path, sizeof path, "%s/canto.db", dir);
    sqlite3 *db = NULL;
    CHECK_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static int64_t raw_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *q = NULL;
    int64_t v = -1;
    CHECK_INT(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    if (q && sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int e = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (e != SQLITE_OK)
        fprintf(stderr, "raw_exec %s: %s\n", sql, msg ? msg : "?");
    CHECK_INT(e, SQLITE_OK);
    sqlite3_free(msg);
}

/* Archives whose cached size disagrees with their rows. */
#define COUNT_MISMATCHES                                                          \
    "SELECT count(*) FROM archive_size z WHERE items != (SELECT count(*) FROM "   \
    "archive a WHERE a.owner_kind = z.owner_kind AND a.host = z.host AND "        \
    "a.owner = z.owner AND a.archive = z.archive)"

/* Every stored message of an account, oldest first, a page at a time
 * (1000, then as many as remain): joined into out as one page would be. */
static void offline_fetch_all(uv_loop_t *loop, struct canto_storage *s, const char *host,
                              const char *user, struct result *out)
{
    struct canto_archive_query q = {.limit = 1000};
    struct result page = {0};
    result_reset(out);
    out->calls = 1;
    out->rc = CANTO_OK;
    do {
        result_reset(&page);
        QUEUE(canto_storage_archive_query(s, CANTO_ACCOUNT(host, user), "offline", &q,
                                          on_archive, &page));
        run(loop);
        CHECK_INT(page.calls, 1);
        CHECK_INT(page.rc, CANTO_OK);
        CHECK(page.n <= q.limit);
        CHECK(page.more == (page.n == q.limit)); /* small messages: pages end by count */
        if (page.n == 0)
            break;
        if (out->n)
            canto_buf_append_char(&out->text, '|');
        canto_buf_append(&out->text, page.text.data, page.text.len);
        out->n += page.n;
        CHECK(page.ids[0] > q.after_id);
        q.after_id = page.last_id;
    } while (page.more);
    canto_buf_append_str(&out->text, "");
    result_reset(&page);
}

/* --- tests ---------------------------------------------------------------------- */

static void test_unknown_backend(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char dir[128];
    dir_path(dir, sizeof dir, "pg");
    struct canto_storage_options opts = {.backend = "postgres", .data_dir = dir};
    struct canto_storage *s = (struct canto_storage *)&loop; /* must be reset */
    struct canto_buf err = {0};
    CHECK_INT(canto_storage_open(&loop, &opts, &s, &err), CANTO_ERROR);
    CHECK(s == NULL);
    CHECK(err.data && strstr(err.data, "postgres"));
    canto_buf_free(&err);

    opts.backend = "sqlite";
    opts.data_dir = "/proc/canto-cannot-be-here";
    CHECK_INT(canto_storage_open(&loop, &opts, &s, &err), CANTO_ERROR);
    CHECK(err.data && strstr(err.data, "canto-cannot-be-here"));
    canto_buf_free(&err);
    loop_done(&loop);
}

static void test_accounts(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char dir[128];
    dir_path(dir, sizeof dir, "accounts/nested");
    struct canto_storage *s = open_dir(&loop, dir);
    struct stat st;
    CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);

    struct canto_scram_cred creds[3] = {
        make_cred(CANTO_HASH_SHA1, 1),
        make_cred(CANTO_HASH_SHA256, 2),
        make_cred(CANTO_HASH_SHA512, 3),
    };
    struct result a = {0}, b = {0}, c = {0}, d = {0}, e = {0}, f = {0};
    result_reset(&a), result_reset(&b), result_reset(&c);
    result_reset(&d), result_reset(&e), result_reset(&f);

    QUEUE(canto_storage_account_create(s, "example.org", "juliet", creds, 3, on_done, &a));
    QUEUE(canto_storage_account_get_creds(s, "example.org", "juliet", on_creds, &b));
    QUEUE(canto_storage_account_create(s, "example.org", "juliet", creds, 1, on_done, &c));
    QUEUE(canto_storage_account_get_creds(s, "example.org", "romeo", on_creds, &d));
    QUEUE(canto_storage_account_exists(s, "example.org", "juliet", on_done, &e));
    QUEUE(canto_storage_account_exists(s, "example.net", "juliet", on_done, &f));
    CHECK_INT(a.calls, 0); /* nothing runs inside the calls */
    run(&loop);
    CHECK_INT(a.calls, 1);
    EXPECT(a, CANTO_OK);
    EXPECT(b, CANTO_OK);
    CHECK_INT(b.n, 3);
    for (size_t i = 0; i < 3 && i < b.n; i++)
        CHECK(cred_equal(&b.creds[i], &creds[i]));
    EXPECT(c, CANTO_CONFLICT);
    EXPECT(d, CANTO_NOTFOUND);
    CHECK_INT(d.n, 0);
    EXPECT(e, CANTO_OK);
    EXPECT(f, CANTO_NOTFOUND);

    /* Replace the credentials: one new SHA-256 entry only. */
    struct canto_scram_cred fresh = make_cred(CANTO_HASH_SHA256, 42);
    result_reset(&a), result_reset(&b), result_reset(&c);
    QUEUE(canto_storage_account_set_creds(s, "example.org", "juliet", &fresh, 1, on_done, &a));
    QUEUE(canto_storage_account_get_creds(s, "example.org", "juliet", on_creds, &b));
    QUEUE(canto_storage_account_set_creds(s, "example.org", "nobody", &fresh, 1, on_done, &c));
    run(&loop);
    EXPECT(a, CANTO_OK);
    EXPECT(b, CANTO_OK);
    CHECK_INT(b.n, 1);
    CHECK(cred_equal(&b.creds[0], &fresh));
    EXPECT(c, CANTO_NOTFOUND);

    /* Malformed input is refused through the callback, never inline. */
    struct canto_scram_cred dup[2] = {make_cred(CANTO_HASH_SHA1, 5), make_cred(CANTO_HASH_SHA1, 6)};
    struct canto_scram_cred bad = make_cred(CANTO_HASH_SHA1, 7);
    bad.salt_len = 0;
    result_reset(&a), result_reset(&b), result_reset(&c), result_reset(&d);
    QUEUE(canto_storage_account_create(s, "example.org", "dup", dup, 2, on_done, &a));
    QUEUE(canto_storage_account_create(s, "example.org", "bad", &bad, 1, on_done, &b));
    QUEUE(canto_storage_account_exists(s, NULL, "juliet", on_done, &c));
    QUEUE(canto_storage_account_get_creds(s, "example.org", "", on_creds, &d));
    run(&loop);
    EXPECT(a, CANTO_INVALID);
    EXPECT(b, CANTO_INVALID);
    EXPECT(c, CANTO_INVALID);
    EXPECT(d, CANTO_INVALID);

    /* An account with no credentials exists and has none. */
    result_reset(&a), result_reset(&b);
    QUEUE(canto_storage_account_create(s, "example.org", "bare", NULL, 0, on_done, &a));
    QUEUE(canto_storage_account_get_creds(s, "example.org", "bare", on_creds, &b));
    run(&loop);
    EXPECT(a, CANTO_OK);
    EXPECT(b, CANTO_OK);
    CHECK_INT(b.n, 0);

    /* Lists: one host, every host; bare JIDs in string order. */
    static const char *const more[][2] = {
        {"example.org", "alice"}, {"example.net", "zed"}, {"example.net", "bob"},
        {"a.example", "mallory"}, {"example.org", "a.b"}, {"example.org", "a"},
    };
    struct result made[CANTO_ARRAY_LEN(more)];
    for (size_t i = 0; i < CANTO_ARRAY_LEN(more); i++) {
        memset(&made[i], 0, sizeof made[i]);
        QUEUE(canto_storage_account_create(s, more[i][0], more[i][1], creds, 1, on_done,
                                           &made[i]));
    }
    run(&loop); /* a list across owners sees the writes whose callbacks ran */
    result_reset(&a), result_reset(&b), result_reset(&c);
    QUEUE(canto_storage_account_list(s, "example.org", NULL, CANTO_STORAGE_PAGE_MAX, on_list,
                                     &a));
    QUEUE(canto_storage_account_list(s, NULL, NULL, CANTO_STORAGE_PAGE_MAX, on_list, &b));
    QUEUE(canto_storage_account_list(s, "empty.example", NULL, CANTO_STORAGE_PAGE_MAX, on_list,
                                     &c));
    run(&loop);
    for (size_t i = 0; i < CANTO_ARRAY_LEN(more); i++)
        EXPECT(made[i], CANTO_OK);
    EXPECT(a, CANTO_OK);
    CHECK_INT(a.n, 5);
    CHECK_STR(a.text.data, "a.b@example.org a@example.org alice@example.org bare@example.org "
                           "juliet@example.org");
    CHECK_INT(b.n, 8);
    CHECK_STR(b.text.data, "a.b@example.org a@example.org alice@example.org bare@example.org "
                           "bob@example.net juliet@example.org mallory@a.example "
                           "zed@example.net");
    EXPECT(c, CANTO_OK);
    CHECK_INT(c.n, 0);
    CHECK_STR(c.text.data, "");

    /* Delete: gone, credentials with it; a second delete finds nothing. */
    result_reset(&a), result_reset(&b), result_reset(&c), result_reset(&d);
    QUEUE(canto_storage_account_delete(s, "example.org", "juliet", on_done, &a));
    QUEUE(canto_storage_account_delete(s, "example.org", "juliet", on_done, &b));
    QUEUE(canto_storage_account_get_creds(s, "example.org", "juliet", on_creds, &c));
    QUEUE(canto_storage_account_exists(s, "example.org", "juliet", on_done, &d));
    run(&loop);
    EXPECT(a, CANTO_OK);
    EXPECT(b, CANTO_NOTFOUND);
    EXPECT(c, CANTO_NOTFOUND);
    EXPECT(d, CANTO_NOTFOUND);

    canto_storage_close(s);
    sqlite3 *db = raw_open(dir);
    CHECK_INT(raw_int(db, "SELECT count(*) FROM credentials WHERE user = 'juliet'"), 0);
    sqlite3_close(db);
    struct result *all[] = {&a, &b, &c, &d, &e, &f};
    for (size_t i = 0; i < CANTO_ARRAY_LEN(all); i++)
        result_reset(all[i]);
    loop_done(&loop);
}

static void test_offline(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char dir[128];
    dir_path(dir, sizeof dir, "offline");
    struct canto_storage *s = open_dir(&loop, dir);
    struct canto_scram_cred cred = make_cred(CANTO_HASH_SHA256, 1);
    struct result a = {0}, b = {0}, c = {0}, d = {0}, e = {0}, f = {0}, g = {0};
    struct result st[3];
    memset(st, 0, sizeof st);
    static const char *const msgs[] = {"<message id='1'/>", "<message id='2'>caf\xc3\xa9</message>",
                                       "<message id='3'/>"};

    QUEUE(canto_storage_account_create(s, "example.org", "juliet", &cred, 1, on_done, &a));
    for (int i = 0; i < 3; i++)
        QUEUE(offline_store(s, "example.org", "juliet", msgs[i], strlen(msgs[i]), 3,
                            on_done, &st[i]));
    QUEUE(offline_store(s, "example.org", "juliet", "<message id='4'/>", 17, 3,
                        on_done, &b));
    QUEUE(offline_store(s, "example.org", "romeo", "<message/>", 10, 3, on_done,
                        &c));
    QUEUE(offline_fetch(s, "example.org", "juliet", 100, &d));
    QUEUE(offline_fetch(s, "example.org", "juliet", 2, &e));
    QUEUE(offline_count(s, "example.org", "juliet", &f));
    QUEUE(offline_store(s, "example.org", "juliet", "<message id='5'/>", 17, 0,
                        on_done, &g));
    run(&loop);
    EXPECT(a, CANTO_OK);
    for (int i = 0; i < 3; i++)
        EXPECT(st[i], CANTO_OK);
    EXPECT(b, CANTO_LIMIT);
    EXPECT(c, CANTO_NOTFOUND);
    EXPECT(d, CANTO_OK);
    CHECK_INT(d.n, 3);
    CHECK_STR(d.text.data,
              "<message id='1'/>|<message id='2'>caf\xc3\xa9</message>|<message id='3'/>");
    CHECK_INT(e.n, 2);
    CHECK_STR(e.text.data, "<message id='1'/>|<message id='2'>caf\xc3\xa9</message>");
    EXPECT(f, CANTO_OK);
    CHECK_INT(f.n, 3);
    EXPECT(g, CANTO_LIMIT); /* a limit of 0 stores nothing */

    /* Delete up to the second id; the third stays; ids never go back. */
    int64_t second = d.ids[1], third = d.ids[2];
    result_reset(&a), result_reset(&b), result_reset(&c), result_reset(&e);
    QUEUE(offline_delete(s, "example.org", "juliet", second, on_done, &a));
    QUEUE(offline_delete(s, "example.org", "juliet", second, NULL, NULL));
    QUEUE(offline_count(s, "example.org", "juliet", &b));
    QUEUE(offline_store(s, "example.org", "juliet", "<message id='6'/>", 17, 3,
                        on_done, &c));
    QUEUE(offline_fetch(s, "example.org", "juliet", 10, &e));
    run(&loop);
    EXPECT(a, CANTO_OK);
    CHECK_INT(b.n, 1);
    EXPECT(c, CANTO_OK);
    CHECK_INT(e.n, 2);
    CHECK_INT(e.ids[0], third);
    CHECK(e.ids[1] > third);
    CHECK_STR(e.text.data, "<message id='3'/>|<message id='6'/>");

    /* Deleting the account deletes its messages; a new account of the same
     * name starts empty. Unknown accounts have no messages. */
    result_reset(&a), result_reset(&b), result_reset(&c), result_reset(&d), result_reset(&e);
    QUEUE(canto_storage_account_delete(s, "example.org", "juliet", on_done, &a));
    QUEUE(offline_count(s, "example.org", "juliet", &b));
    QUEUE(canto_storage_account_create(s, "example.org", "juliet", &cred, 1, on_done, &c));
    QUEUE(offline_fetch(s, "example.org", "juliet", 10, &d));
    QUEUE(offline_count(s, "example.org", "nobody", &e));
    run(&loop);
    EXPECT(a, CANTO_OK);
    EXPECT(b, CANTO_OK);
    CHECK_INT(b.n, 0);
    EXPECT(c, CANTO_OK);
    EXPECT(d, CANTO_OK);
    CHECK_INT(d.n, 0);
    EXPECT(e, CANTO_OK);
    CHECK_INT(e.n, 0);
    canto_storage_close(s);

    sqlite3 *db = raw_open(dir);
    CHECK_INT(raw_int(db, "SELECT count(*) FROM archive"), 0);
    CHECK_INT(raw_int(db, COUNT_MISMATCHES), 0);
    sqlite3_close(db);
    struct result *all[] = {&a, &b, &c, &d, &e, &f, &g};
    for (size_t i = 0; i < CANTO_ARRAY_LEN(all); i++)
        result_reset(all[i]);
    for (int i = 0; i < 3; i++)
        result_reset(&st[i]);
    loop_done(&loop);
}

/* Create each user@host, checking that it worked. */
static void make_accounts(uv_loop_t *loop, struct canto_storage *s, const char *const (*names)[2],
                          size_t n)
{
    struct canto_scram_cred cred = make_cred(CANTO_HASH_SHA256, 51);
    struct result *r = canto_xcalloc(n, sizeof *r);
    for (size_t i = 0; i < n; i++)
        QUEUE(canto_storage_account_create(s, names[i][0], names[i][1], &cred, 1, on_done, &r[i]));
    run(loop);
    for (size_t i = 0; i < n; i++)
        EXPECT(r[i], CANTO_OK);
    free(r);
}

/* Set, get, overwrite, delete, empty a store, list in key order; the
 * changes of one write apply in order; nothing of the caller's is kept. */
static void test_kv(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char dir[128];
    dir_path(dir, sizeof dir, "kv");
    struct canto_storage *s = open_dir(&loop, dir);
    static const char *const users[][2] = {{"example.org", "juliet"}, {"example.org", "romeo"}};
    make_accounts(&loop, s, users, CANTO_ARRAY_LEN(users));

    /* Everything handed over lives in buffers wiped right after the calls. */
    char store[16], k[3][8], v[3][16];
    snprintf(store, sizeof store, "roster");
    snprintf(k[0], sizeof k[0], "b"), snprintf(v[0], sizeof v[0], "2");
    snprintf(k[1], sizeof k[1], "a"), snprintf(v[1], sizeof v[1], "1");
    snprintf(k[2], sizeof k[2], "c"), snprintf(v[2], sizeof v[2], "3");
    struct canto_kv_change ch[4] = {kv_set(store, k[0], v[0]), kv_set(store, k[1], v[1]),
                                    kv_set(store, k[2], v[2]), kv_set("vcard", "v", "<vCard/>")};
    struct result w = {0}, w2 = {0}, a = {0}, b = {0}, c = {0}, d = {0}, e = {0}, f = {0};
    struct result g = {0}, h = {0};
    QUEUE(canto_storage_kv_write(s, ACC("example.org", "juliet"), ch, 4, on_done, &w));
    QUEUE(canto_storage_kv_write(s, ACC("example.org", "romeo"), ch, 1, on_done, &w2));
    QUEUE(canto_storage_kv_get(s, ACC("example.org", "juliet"), store, k[1], on_kv, &a));
    memset(ch, 0xa5, sizeof ch);
    memset(store, 0, sizeof store), memset(k, 0, sizeof k), memset(v, 0, sizeof v);
    QUEUE(canto_storage_kv_get(s, ACC("example.org", "juliet"), "roster", "zz", on_kv, &b));
    QUEUE(canto_storage_kv_get(s, ACC("example.org", "juliet"), "vcard", "a", on_kv, &c));
    QUEUE(canto_storage_kv_get(s, ACC("example.org", "nobody"), "roster", "a", on_kv, &d));
    QUEUE(kv_list_all(s, "example.org", "juliet", "roster", on_kv, &e));
    QUEUE(kv_list_all(s, "example.org", "juliet", "vcard", on_kv, &f));
    QUEUE(kv_list_all(s, "example.org", "nobody", "roster", on_kv, &g));
    QUEUE(kv_list_all(s, "example.org", "juliet", "empty", on_kv, &h));
    CHECK_INT(w.calls, 0);
    run(&loop);
    EXPECT(w, CANTO_OK);
    EXPECT(w2, CANTO_OK);
    EXPECT(a, CANTO_OK);
    CHECK_INT(a.n, 1);
    CHECK_STR(a.text.data, "juliet/a=1");
    EXPECT(b, CANTO_NOTFOUND);
    CHECK_INT(b.n, 0);
    EXPECT(c, CANTO_NOTFOUND); /* stores are separate */
    EXPECT(d, CANTO_NOTFOUND);
    EXPECT(e, CANTO_OK);
    CHECK_INT(e.n, 3);
    CHECK_STR(e.text.data, "juliet/a=1 juliet/b=2 juliet/c=3");
    EXPECT(f, CANTO_OK);
    CHECK_STR(f.text.data, "juliet/v=<vCard/>");
    EXPECT(g, CANTO_OK); /* an unknown account has empty stores */
    CHECK_INT(g.n, 0);
    EXPECT(h, CANTO_OK);
    CHECK_INT(h.n, 0);
    CHECK_STR(h.text.data, "");

    /* One write, applied in order: overwrite, delete, an empty value (a
     * value, not a deletion), set then delete, set twice; cb NULL. Deleting
     * a key that is not there is no error. */
    struct canto_kv_change ch2[] = {
        kv_set("roster", "a", "one"), kv_del("roster", "b"),  kv_set("roster", "d", ""),
        kv_set("roster", "k", "1"),   kv_del("roster", "k"),  kv_set("roster", "m", "x"),
        kv_set("roster", "m", "y"),   kv_del("roster", "no"),
    };
    struct result *all[] = {&w, &w2, &a, &b, &c, &d, &e, &f, &g, &h};
    for (size_t i = 0; i < CANTO_ARRAY_LEN(all); i++)
        result_reset(all[i]);
    QUEUE(canto_storage_kv_write(s, ACC("example.org", "juliet"), ch2, CANTO_ARRAY_LEN(ch2), NULL,
                                 NULL));
    QUEUE(kv_list_all(s, "example.org", "juliet", "roster", on_kv, &a));
    QUEUE(canto_storage_kv_get(s, ACC("example.org", "juliet"), "roster", "d", on_kv, &b));
    QUEUE(canto_storage_kv_get(s, ACC("example.org", "juliet"), "roster", "b", on_kv, &c));
    run(&loop);
    EXPECT(a, CANTO_OK);
    CHECK_STR(a.text.data, "juliet/a=one juliet/c=3 juliet/d= juliet/m=y");
    EXPECT(b, CANTO_OK);
    CHECK_INT(b.n, 1);
    CHECK_STR(b.text.data, "juliet/d=");
    EXPECT(c, CANTO_NOTFOUND);

    /* Emptying a store takes only that store of that account; a set after
     * it in the same write stays. */
    struct canto_kv_change ch3[] = {kv_clear("roster"), kv_set("roster", "new", "n")};
    for (size_t i = 0; i < CANTO_ARRAY_LEN(all); i++)
        result_reset(all[i]);
    QUEUE(canto_storage_kv_write(s, ACC("example.org", "juliet"), ch3, 2, on_done, &w));
    QUEUE(kv_list_all(s, "example.org", "juliet", "roster", on_kv, &a));
    QUEUE(kv_list_all(s, "example.org", "juliet", "vcard", on_kv, &b));
    QUEUE(kv_list_all(s, "example.org", "romeo", "roster", on_kv, &c));
    QUEUE(canto_storage_kv_write(s, ACC("example.org", "juliet"), ch3, 1, on_done, &w2));
    QUEUE(kv_list_all(s, "example.org", "juliet", "roster", on_kv, &d));
    QUEUE(canto_storage_kv_write(s, ACC("example.org", "juliet"), ch3, 1, on_done, &e));
    run(&loop);
    EXPECT(w, CANTO_OK);
    CHECK_STR(a.text.data, "juliet/new=n");
    CHECK_STR(b.text.data, "juliet/v=<vCard/>");
    CHECK_STR(c.text.data, "romeo/b=2");
    EXPECT(w2, CANTO_OK);
    EXPECT(d, CANTO_OK);
    CHECK_INT(d.n, 0);
    EXPECT(e, CANTO_OK); /* emptying an empty store */

    canto_storage_close(s);
    for (size_t i = 0; i < CANTO_ARRAY_LEN(all); i++)
        result_reset(all[i]);
    loop_done(&loop);
}

/* Listing a store with no user: every account of that host, sorted by user
 * and then key (not by the two run together), nothing of another host or
 * store; served by the index, without a sort. */
static void test_kv_host_list(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char dir[128];
    dir_path(dir, sizeof dir, "kv-host");
    struct canto_storage *s = open_dir(&loop, dir);
    static const char *const users[][2] = {{"example.org", "ab"},   {"example.org", "a"},
                                           {"example.org", "bob"},  {"example.org", "carol"},
                                           {"example.net", "dave"}, {"example.net", "a"}};
    make_accounts(&loop, s, users, CANTO_ARRAY_LEN(users));

    struct canto_kv_change a_dir[] = {kv_set("dir", "z", "1"), kv_set("dir", "b", "2"),
                                      kv_set("roster", "x", "r")};
    struct canto_kv_change ab_dir[] = {kv_set("dir", "a", "3")};
    struct canto_kv_change bob_dir[] = {kv_set("dir", "m", "4"), kv_set("dirx", "m", "5")};
    struct canto_kv_change carol_roster[] = {kv_set("roster", "a", "6")};
    struct canto_kv_change dave_dir[] = {kv_set("dir", "a", "7")};
    struct result w[6], a = {0}, b = {0}, c = {0}, d = {0};
    memset(w, 0, sizeof w);
    QUEUE(canto_storage_kv_write(s, ACC("example.org", "a"), a_dir, 3, on_done, &w[0]));
    QUEUE(canto_storage_kv_write(s, ACC("example.org", "ab"), ab_dir, 1, on_done, &w[1]));
    QUEUE(canto_storage_kv_write(s, ACC("example.org", "bob"), bob_dir, 2, on_done, &w[2]));
    QUEUE(canto_storage_kv_write(s, ACC("example.org", "carol"), carol_roster, 1, on_done, &w[3]));
    QUEUE(canto_storage_kv_write(s, ACC("example.net", "dave"), dave_dir, 1, on_done, &w[4]));
    QUEUE(canto_storage_kv_write(s, ACC("example.net", "a"), a_dir, 3, on_done, &w[5]));
    run(&loop); /* a list across owners sees the writes whose callbacks ran */
    QUEUE(kv_list_all(s, "example.org", NULL, "dir", on_kv, &a));
    QUEUE(kv_list_all(s, "example.net", NULL, "dir", on_kv, &b));
    QUEUE(kv_list_all(s, "example.org", NULL, "roster", on_kv, &c));
    QUEUE(kv_list_all(s, "empty.example", NULL, "dir", on_kv, &d));
    run(&loop);
    for (int i = 0; i < 6; i++)
        EXPECT(w[i], CANTO_OK);
    EXPECT(a, CANTO_OK);
    CHECK_INT(a.n, 4);
    CHECK_STR(a.text.data, "a/b=2 a/z=1 ab/a=3 bob/m=4");
    EXPECT(b, CANTO_OK);
    CHECK_STR(b.text.data, "a/b=2 a/z=1 dave/a=7");
    EXPECT(c, CANTO_OK);
    CHECK_STR(c.text.data, "a/x=r carol/a=6");
    EXPECT(d, CANTO_OK);
    CHECK_INT(d.n, 0);
    canto_storage_close(s);

    /* The same query as the backend's, planned by SQLite: an index search
     * on (host, store) that needs no sort for the order. */
    sqlite3 *db = raw_open(dir);
    sqlite3_stmt *q = NULL;
    CHECK_INT(sqlite3_prepare_v2(db,
                                 "EXPLAIN QUERY PLAN SELECT owner, key, value FROM kv "
                                 "WHERE owner_kind = ?1 AND host = ?2 AND store = ?4 "
                                 "AND (owner, key) > (?7, ?5) ORDER BY owner, key LIMIT ?6",
                                 -1, &q, NULL),
              SQLITE_OK);
    struct canto_buf plan = {0};
    while (q && sqlite3_step(q) == SQLITE_ROW) {
        const char *detail = (const char *)sqlite3_column_text(q, 3);
        canto_buf_appendf(&plan, "%s\n", detail ? detail : "");
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    CHECK(plan.data && strstr(plan.data, "INDEX kv_by_store (owner_kind=? AND host=? AND "
                                         "store=? AND (owner,key)>(?,?))"));
    CHECK(plan.data && !strstr(plan.data, "TEMP B-TREE"));
    if (plan.data && !strstr(plan.data, "(owner,key)>(?,?)"))
        fprintf(stderr, "plan: %s", plan.data);
    canto_buf_free(&plan);
    result_reset(&a), result_reset(&b), result_reset(&c), result_reset(&d);
    loop_done(&loop);
}

/* All or none: a write for a missing account, or one whose last change
 * fails with a real SQL error, changes nothing, and only that request
 * fails. Deleting the account takes all its data with it. */
static void test_kv_atomic_and_cascade(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char dir[128];
    dir_path(dir, sizeof dir, "kv-atomic");
    struct canto_storage *s = open_dir(&loop, dir);
    static const char *const users[][2] = {{"example.org", "juliet"}, {"example.org", "romeo"}};
    make_accounts(&loop, s, users, CANTO_ARRAY_LEN(users));

    struct canto_kv_change init[] = {kv_set("roster", "a", "1"), kv_set("roster", "b", "2"),
                                     kv_set("vcard", "v", "card")};
    struct result w = {0}, w2 = {0}, a = {0}, b = {0}, c = {0}, d = {0}, e = {0};
    QUEUE(canto_storage_kv_write(s, ACC("example.org", "juliet"), init, 3, on_done, &w));
    QUEUE(canto_storage_kv_write(s, ACC("example.org", "romeo"), init, 3, on_done, &w2));
    run(&loop);
    EXPECT(w, CANTO_OK);
    EXPECT(w2, CANTO_OK);

    sqlite3 *db = raw_open(dir);
    raw_exec(db, "CREATE TRIGGER poison_kv BEFORE INSERT ON kv "
                 "WHEN NEW.key = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned'); END");
    sqlite3_close(db);

    struct canto_kv_change bad[] = {kv_set("roster", "a", "changed"), kv_del("roster", "b"),
                                    kv_clear("vcard"), kv_set("roster", "c", "3"),
                                    kv_set("roster", "poison", "x")};
    struct canto_kv_change good[] = {kv_set("roster", "c", "3")};
    result_reset(&w), result_reset(&w2);
    QUEUE(canto_storage_kv_write(s, ACC("example.org", "nobody"), init, 3, on_done, &w));
    QUEUE(canto_storage_kv_write(s, ACC("example.org", "juliet"), bad, 5, on_done, &w2));
    QUEUE(canto_storage_kv_write(s, ACC("example.org", "juliet"), good, 1, on_done, &a));
    QUEUE(kv_list_all(s, "example.org", "juliet", "roster", on_kv, &b));
    QUEUE(kv_list_all(s, "example.org", "juliet", "vcard", on_kv, &c));
    QUEUE(kv_list_all(s, "example.org", "nobody", "roster", on_kv, &d));
    QUEUE(canto_storage_account_exists(s, "example.org", "nobody", on_done, &e));
    run(&loop);
    EXPECT(w, CANTO_NOTFOUND);
    EXPECT(w2, CANTO_ERROR);
    EXPECT(a, CANTO_OK); /* the batch went on */
    CHECK_STR(b.text.data, "juliet/a=1 juliet/b=2 juliet/c=3");
    CHECK_STR(c.text.data, "juliet/v=card");
    EXPECT(d, CANTO_OK);
    CHECK_INT(d.n, 0);
    EXPECT(e, CANTO_NOTFOUND); /* no account appeared either */

    /* Delete juliet: her data goes, romeo's stays; a new juliet starts
     * empty. */
    struct result *all[] = {&w, &w2, &a, &b, &c, &d, &e};
    for (size_t i = 0; i < CANTO_ARRAY_LEN(all); i++)
        result_reset(all[i]);
    struct canto_scram_cred cred = make_cred(CANTO_HASH_SHA1, 52);
    QUEUE(canto_storage_account_delete(s, "example.org", "juliet", on_done, &w));
    QUEUE(canto_storage_kv_get(s, ACC("example.org", "juliet"), "roster", "a", on_kv, &a));
    QUEUE(canto_storage_account_create(s, "example.org", "juliet", &cred, 1, on_done, &w2));
    QUEUE(kv_list_all(s, "example.org", "juliet", "roster", on_kv, &b));
    run(&loop);
    QUEUE(kv_list_all(s, "example.org", NULL, "roster", on_kv, &c));
    run(&loop);
    EXPECT(w, CANTO_OK);
    EXPECT(a, CANTO_NOTFOUND);
    EXPECT(w2, CANTO_OK);
    EXPECT(b, CANTO_OK);
    CHECK_INT(b.n, 0);
    CHECK_STR(c.text.data, "romeo/a=1 romeo/b=2");
    canto_storage_close(s);

    db = raw_open(dir);
    CHECK_INT(raw_int(db, "SELECT count(*) FROM kv WHERE owner = 'juliet'"), 0);
    CHECK_INT(raw_int(db, "SELECT count(*) FROM kv WHERE owner = 'romeo'"), 3);
    sqlite3_close(db);
    for (size_t i = 0; i < CANTO_ARRAY_LEN(all); i++)
        result_reset(all[i]);
    loop_done(&loop);
}

/* Malformed requests are refused through the callback, later and in order;
 * a refused write applies none of its changes. A write of no changes only
 * checks the account. */
static void test_kv_invalid(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char dir[128];
    dir_path(dir, sizeof dir, "kv-invalid");
    struct canto_storage *s = open_dir(&loop, dir);
    static const char *const users[][2] = {{"h", "u"}};
    make_accounts(&loop, s, users, 1);

    enum { N = 24 };
    struct result r[N];
    memset(r, 0, sizeof r);
    struct canto_kv_change ok = kv_set("st", "k", "v");
    struct canto_kv_change bad[][2] = {
        {ok, {NULL, "k", "v", 1}},  /* no store */
        {ok, {"", "k", "v", 1}},    /* empty store */
        {ok, {"st", NULL, "v", 1}}, /* a value for no key */
        {ok, {"st", "", "v", 1}},   /* empty key, set */
        {ok, {"st", "", NULL, 0}},  /* empty key, delete */
    };
    int i = 0;
    next_seq = 0;
    QUEUE(canto_storage_kv_get(s, ACC(NULL, "u"), "st", "k", on_kv, &r[i++]));
    QUEUE(canto_storage_kv_get(s, ACC("h", ""), "st", "k", on_kv, &r[i++]));
    QUEUE(canto_storage_kv_get(s, ACC("h", "u"), NULL, "k", on_kv, &r[i++]));
    QUEUE(canto_storage_kv_get(s, ACC("h", "u"), "", "k", on_kv, &r[i++]));
    QUEUE(canto_storage_kv_get(s, ACC("h", "u"), "st", NULL, on_kv, &r[i++]));
    QUEUE(canto_storage_kv_get(s, ACC("h", "u"), "st", "", on_kv, &r[i++]));
    QUEUE(kv_list_all(s, NULL, "u", "st", on_kv, &r[i++]));
    QUEUE(kv_list_all(s, NULL, NULL, "st", on_kv, &r[i++]));
    QUEUE(kv_list_all(s, "", NULL, "st", on_kv, &r[i++]));
    QUEUE(kv_list_all(s, "h", "", "st", on_kv, &r[i++]));
    QUEUE(kv_list_all(s, "h", "u", NULL, on_kv, &r[i++]));
    QUEUE(kv_list_all(s, "h", NULL, "", on_kv, &r[i++]));
    QUEUE(canto_storage_kv_write(s, ACC("", "u"), &ok, 1, on_done, &r[i++]));
    QUEUE(canto_storage_kv_write(s, ACC("h", NULL), &ok, 1, on_done, &r[i++]));
    QUEUE(canto_storage_kv_write(s, ACC("h", "u"), NULL, 1, on_done, &r[i++]));
    for (size_t j = 0; j < CANTO_ARRAY_LEN(bad); j++)
        QUEUE(canto_storage_kv_write(s, ACC("h", "u"), bad[j], 2, on_done, &r[i++]));
    QUEUE(canto_storage_kv_write(s, ACC("h", "u"), bad[0], 2, NULL, NULL)); /* no cb: no crash */
    int n_invalid = i;
    CHECK_INT(r[0].calls, 0);
    run(&loop);
    /* Then, in order (one owner's writes), what the refused ones did not do. */
    QUEUE(canto_storage_kv_get(s, ACC("h", "u"), "st", "k", on_kv, &r[i++]));
    run(&loop);
    QUEUE(canto_storage_kv_write(s, ACC("h", "u"), NULL, 0, on_done, &r[i++]));
    QUEUE(canto_storage_kv_write(s, ACC("h", "nobody"), NULL, 0, on_done, &r[i++]));
    QUEUE(canto_storage_kv_write(s, ACC("h", "u"), &ok, 1, on_done, &r[i++]));
    CHECK(i <= N);
    run(&loop);
    for (int j = 0; j < i; j++) {
        if (j >= n_invalid)
            CHECK_INT(r[j].seq, j);
        if (j < n_invalid) {
            EXPECT(r[j], CANTO_INVALID);
            CHECK_INT(r[j].n, 0);
        }
    }
    EXPECT(r[n_invalid], CANTO_NOTFOUND); /* no refused write set st/k */
    EXPECT(r[n_invalid + 1], CANTO_OK);
    EXPECT(r[n_invalid + 2], CANTO_NOTFOUND);
    EXPECT(r[n_invalid + 3], CANTO_OK);
    canto_storage_close(s);
    for (int j = 0; j < N; j++)
        result_reset(&r[j]);
    loop_done(&loop);
}

/* Values are bytes: embedded NULs and every byte value come back exactly,
 * as does a large value. */
static void test_kv_binary(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char dir[128];
    dir_path(dir, sizeof dir, "kv-binary");
    struct canto_storage *s = open_dir(&loop, dir);
    static const char *const users[][2] = {{"h", "u"}};
    make_accounts(&loop, s, users, 1);

    char bytes[256];
    for (int i = 0; i < 256; i++)
        bytes[i] = (char)(i * 7 + 3); /* every byte value, 0 included */
    static const char nuls[] = "\0a\0\0b\0";
    enum { BIG = 1 << 20 };
    char *big = canto_xmalloc(BIG);
    for (size_t i = 0; i < BIG; i++)
        big[i] = (char)(i % 251);
    struct canto_kv_change ch[] = {{"bin", "nuls", nuls, sizeof nuls - 1},
                                   {"bin", "all", bytes, sizeof bytes},
                                   {"bin", "big", big, BIG}};
    struct result w = {0}, a = {0}, b = {0}, c = {0}, l = {0};
    QUEUE(canto_storage_kv_write(s, ACC("h", "u"), ch, 3, on_done, &w));
    memset(big, 0, BIG);
    QUEUE(canto_storage_kv_get(s, ACC("h", "u"), "bin", "nuls", on_kv, &a));
    QUEUE(canto_storage_kv_get(s, ACC("h", "u"), "bin", "all", on_kv, &b));
    QUEUE(canto_storage_kv_get(s, ACC("h", "u"), "bin", "big", on_kv, &c));
    QUEUE(kv_list_all(s, "h", "u", "bin", on_kv, &l));
    run(&loop);
    EXPECT(w, CANTO_OK);
    EXPECT(a, CANTO_OK);
    CHECK_INT(a.text.len, strlen("u/nuls=") + sizeof nuls - 1);
    CHECK(a.text.data && memcmp(a.text.data, "u/nuls=\0a\0\0b\0", a.text.len) == 0);
    EXPECT(b, CANTO_OK);
    CHECK_INT(b.text.len, strlen("u/all=") + sizeof bytes);
    CHECK(b.text.data && memcmp(b.text.data + strlen("u/all="), bytes, sizeof bytes) == 0);
    EXPECT(c, CANTO_OK);
    CHECK_INT(c.text.len, strlen("u/big=") + BIG);
    bool same = c.text.len == strlen("u/big=") + BIG;
    for (size_t i = 0; same && i < BIG; i++)
        same = c.text.data[strlen("u/big=") + i] == (char)(i % 251);
    CHECK(same);
    EXPECT(l, CANTO_OK);
    CHECK_INT(l.n, 3);
    CHECK(l.text.data && strncmp(l.text.data, "u/all=", 6) == 0); /* all < big < nuls */
    canto_storage_close(s);
    free(big);
    result_reset(&w), result_reset(&a), result_reset(&b), result_reset(&c), result_reset(&l);
    loop_done(&loop);
}

/* The callbacks of one owner's requests run in the order the requests
 * were made, whatever their kind, once a write of it is in flight (the
 * reads queue behind it on the writer), and a barrier comes after
 * everything queued before it. */
static void test_order(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char dir[128];
    dir_path(dir, sizeof dir, "order");
    struct canto_storage *s = open_dir(&loop, dir);
    struct canto_scram_cred cred = make_cred(CANTO_HASH_SHA1, 9);
    enum { N = 12 };
    struct result r[N];
    memset(r, 0, sizeof r);
    next_seq = 0;
    QUEUE(canto_storage_account_create(s, "h", "u", &cred, 1, on_done, &r[0]));
    QUEUE(canto_storage_account_exists(s, "h", "u", on_done, &r[1]));
    QUEUE(offline_store(s, "h", "u", "<m/>", 4, 10, on_done, &r[2]));
    QUEUE(offline_fetch(s, "h", "u", 10, &r[3]));
    QUEUE(canto_storage_barrier(s, on_done, &r[4]));
    QUEUE(canto_storage_kv_get(s, ACC("h", "u"), "st", "k", on_kv, &r[5]));
    QUEUE(offline_count(s, "h", "u", &r[6]));
    QUEUE(canto_storage_account_get_creds(s, "h", "u", on_creds, &r[7]));
    QUEUE(canto_storage_account_create(s, "h", "u", &cred, 1, on_done, &r[8]));
    QUEUE(offline_delete(s, "h", "u", INT64_MAX, on_done, &r[9]));
    QUEUE(canto_storage_account_delete(s, "h", "u", on_done, &r[10]));
    QUEUE(canto_storage_barrier(s, on_done, &r[11]));
    run(&loop);
    for (int i = 0; i < N; i++) {
        CHECK_INT(r[i].calls, 1);
        CHECK_INT(r[i].seq, i);
    }
    CHECK_INT(r[3].n, 1);
    EXPECT(r[8], CANTO_CONFLICT);
    EXPECT(r[11], CANTO_OK);
    canto_storage_close(s);
    for (int i = 0; i < N; i++)
        result_reset(&r[i]);
    loop_done(&loop);
}

/* The chain a feature writes: a callback queues the next request. */
struct chain {
    struct canto_storage *s;
    int step;
    int rc[3];
};

static void chain_next(void *ud, int rc)
{
    struct chain *c = ud;
    CHECK(!in_queue_call);
    c->rc[c->step++] = rc;
    if (c->step == 1)
        QUEUE(offline_store(c->s, "h", "u", "<m/>", 4, 10, chain_next, c));
    else if (c->step == 2)
        QUEUE(canto_storage_account_delete(c->s, "h", "u", chain_next, c));
}

static void test_chain_and_close(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char dir[128];
    dir_path(dir, sizeof dir, "chain");
    struct canto_storage *s = open_dir(&loop, dir);
    struct canto_scram_cred cred = make_cred(CANTO_HASH_SHA512, 3);

    /* Close drains requests queued by callbacks during close as well. */
    struct chain ch = {.s = s};
    QUEUE(canto_storage_account_create(s, "h", "u", &cred, 1, chain_next, &ch));
    canto_storage_close(s);
    CHECK_INT(ch.step, 3);
    CHECK_INT(ch.rc[0], CANTO_OK);
    CHECK_INT(ch.rc[1], CANTO_OK);
    CHECK_INT(ch.rc[2], CANTO_OK);

    /* Close with many requests still queued: every callback runs. */
    s = open_dir(&loop, dir);
    enum { N = 200 };
    struct result *r = canto_xcalloc(N + 2, sizeof *r);
    QUEUE(canto_storage_account_create(s, "h", "v", &cred, 1, on_done, &r[0]));
    for (int i = 1; i <= N; i++)
        QUEUE(offline_store(s, "h", "v", "<m/>", 4, 1000, on_done, &r[i]));
    QUEUE(offline_fetch(s, "h", "v", 1000, &r[N + 1]));
    canto_storage_close(s);
    for (int i = 0; i <= N + 1; i++) {
        CHECK_INT(r[i].calls, 1);
        EXPECT(r[i], CANTO_OK);
    }
    CHECK_INT(r[N + 1].n, N);
    for (int i = 0; i <= N + 1; i++)
        result_reset(&r[i]);
    free(r);

    /* A storage with nothing queued closes at once. */
    s = open_dir(&loop, dir);
    canto_storage_close(s);
    loop_done(&loop);
}

/* 10000 stores queued at once: group commit keeps this fast; correctness is
 * what is checked (every one OK, all stored, in order). Two requests in the
 * middle are made to fail with real SQL errors by triggers installed from
 * outside: only they fail, and a failed create leaves no half account. */
static void test_many(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char dir[128];
    dir_path(dir, sizeof dir, "many");
    struct canto_storage *s = open_dir(&loop, dir);
    struct canto_scram_cred cred = make_cred(CANTO_HASH_SHA256, 4);
    struct result a = {0};
    QUEUE(canto_storage_account_create(s, "example.org", "busy", &cred, 1, on_done, &a));
    run(&loop);
    EXPECT(a, CANTO_OK);

    sqlite3 *db = raw_open(dir);
    raw_exec(db, "CREATE TRIGGER poison_msg BEFORE INSERT ON archive "
                 "WHEN CAST(NEW.xml AS TEXT) = '<poison/>' "
                 "BEGIN SELECT RAISE(ABORT, 'poisoned'); END");
    raw_exec(db, "CREATE TRIGGER poison_cred BEFORE INSERT ON credentials "
                 "WHEN NEW.user = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned'); END");
    sqlite3_close(db);

    enum { N = 10000, BAD1 = 5000, BAD2 = 7000 };
    struct result *r = canto_xcalloc(N, sizeof *r);
    struct result fetched = {0}, count = {0}, exists = {0};
    char xml[64];
    uint64_t t0 = canto_now_ms();
    next_seq = 0;
    for (int i = 0; i < N; i++) {
        if (i == BAD1) {
            QUEUE(offline_store(s, "example.org", "busy", "<poison/>", 9, N + 10,
                                on_done, &r[i]));
        } else if (i == BAD2) {
            QUEUE(canto_storage_account_create(s, "example.org", "poison", &cred, 1, on_done,
                                               &r[i]));
        } else {
            int len = snprintf(xml, sizeof xml, "<message id='m%d'/>", i);
            QUEUE(offline_store(s, "example.org", "busy", xml, (size_t)len, N + 10,
                                on_done, &r[i]));
        }
    }
    run(&loop);
    uint64_t elapsed = canto_now_ms() - t0;
    fprintf(stderr, "test_storage: %d queued requests completed in %llu ms\n", N,
            (unsigned long long)elapsed);

    int ok = 0;
    for (int i = 0; i < N; i++) {
        CHECK_INT(r[i].calls, 1);
        CHECK_INT(r[i].seq, i);
        if (i == BAD1 || i == BAD2)
            EXPECT(r[i], CANTO_ERROR);
        else
            ok += r[i].rc == CANTO_OK;
    }
    CHECK_INT(ok, N - 2);

    QUEUE(offline_count(s, "example.org", "busy", &count));
    QUEUE(canto_storage_account_exists(s, "example.org", "poison", on_done, &exists));
    run(&loop);
    offline_fetch_all(&loop, s, "example.org", "busy", &fetched);
    CHECK_INT(count.n, N - 2);
    CHECK_INT(fetched.n, N - 2);
    EXPECT(exists, CANTO_NOTFOUND);
    db = raw_open(dir);
    CHECK_INT(raw_int(db, COUNT_MISMATCHES), 0);
    sqlite3_close(db);
    /* Spot-check order: the text starts with m0 and ends with the last. */
    CHECK(fetched.text.data && strncmp(fetched.text.data, "<message id='m0'/>|", 19) == 0);
    snprintf(xml, sizeof xml, "|<message id='m%d'/>", N - 1);
    CHECK(fetched.text.len > strlen(xml) &&
          strcmp(fetched.text.data + fetched.text.len - strlen(xml), xml) == 0);
    canto_storage_close(s);

    for (int i = 0; i < N; i++)
        result_reset(&r[i]);
    free(r);
    result_reset(&fetched);
    result_reset(&count);
    result_reset(&exists);
    loop_done(&loop);
}

/* Reopen: data persists; the schema version is recorded; a database from a
 * newer Canto is refused. */
static void test_reopen_and_version(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char dir[128];
    dir_path(dir, sizeof dir, "reopen");
    struct canto_storage *s = open_dir(&loop, dir);
    struct canto_scram_cred cred = make_cred(CANTO_HASH_SHA1, 11);
    struct result a = {0}, b = {0}, c = {0};
    struct canto_kv_change kv = kv_set("roster", "romeo", "both");
    QUEUE(canto_storage_account_create(s, "example.org", "juliet", &cred, 1, on_done, &a));
    QUEUE(offline_store(s, "example.org", "juliet", "<m/>", 4, 5, on_done, &b));
    QUEUE(canto_storage_kv_write(s, ACC("example.org", "juliet"), &kv, 1, on_done, &c));
    canto_storage_close(s);
    EXPECT(a, CANTO_OK);
    EXPECT(b, CANTO_OK);
    EXPECT(c, CANTO_OK);

    sqlite3 *db = raw_open(dir);
    int64_t version = raw_int(db, "SELECT max(version) FROM schema_version");
    CHECK(version >= 3); /* 3: by kind and owner */
    CHECK_INT(raw_int(db, "SELECT count(*) FROM schema_version"), version);
    CHECK_INT(raw_int(db, "SELECT min(version) FROM schema_version"), 1);
    sqlite3_close(db);

    s = open_dir(&loop, dir);
    result_reset(&a), result_reset(&b), result_reset(&c);
    QUEUE(canto_storage_account_get_creds(s, "example.org", "juliet", on_creds, &a));
    QUEUE(offline_fetch(s, "example.org", "juliet", 5, &b));
    QUEUE(canto_storage_kv_get(s, ACC("example.org", "juliet"), "roster", "romeo", on_kv, &c));
    run(&loop);
    EXPECT(a, CANTO_OK);
    CHECK_INT(a.n, 1);
    CHECK(cred_equal(&a.creds[0], &cred));
    CHECK_STR(b.text.data, "<m/>");
    EXPECT(c, CANTO_OK);
    CHECK_STR(c.text.data, "juliet/romeo=both");
    canto_storage_close(s);

    db = raw_open(dir);
    CHECK_INT(raw_int(db, "SELECT max(version) FROM schema_version"), version); /* no re-run */
    raw_exec(db, "INSERT INTO schema_version (version, applied_at) VALUES (999999, 0)");
    sqlite3_close(db);
    struct canto_storage_options opts = {.backend = "sqlite", .data_dir = dir};
    struct canto_buf err = {0};
    CHECK_INT(canto_storage_open(&loop, &opts, &s, &err), CANTO_ERROR);
    CHECK(err.data && strstr(err.data, "999999") && strstr(err.data, "newer"));
    canto_buf_free(&err);
    result_reset(&a), result_reset(&b), result_reset(&c);
    loop_done(&loop);
}

/* The base schema as Canto wrote it before version 3, copied here so that
 * this test keeps making the old databases whatever the code does later:
 * version 1 (accounts, credentials, offline) and version 2 (account_data). */
static const char old_schema_v1[] =
"CREATE TABLE accounts (\n"
    "  host TEXT NOT NULL,\n"
    "  user TEXT NOT NULL,\n"
    "  created_at INTEGER NOT NULL,\n"
    "  offline_count INTEGER NOT NULL DEFAULT 0,\n"
    "  PRIMARY KEY (host, user)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE credentials (\n"
    "  host TEXT NOT NULL,\n"
    "  user TEXT NOT NULL,\n"
    "  hash INTEGER NOT NULL,\n"
    "  iterations INTEGER NOT NULL,\n"
    "  salt BLOB NOT NULL,\n"
    "  stored_key BLOB NOT NULL,\n"
    "  server_key BLOB NOT NULL,\n"
    "  PRIMARY KEY (host, user, hash),\n"
    "  FOREIGN KEY (host, user) REFERENCES accounts (host, user) ON DELETE CASCADE\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE offline (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  host TEXT NOT NULL,\n"
    "  user TEXT NOT NULL,\n"
    "  stored_at INTEGER NOT NULL,\n"
    "  stanza TEXT NOT NULL,\n"
    "  FOREIGN KEY (host, user) REFERENCES accounts (host, user) ON DELETE CASCADE\n"
    ");\n"
    "CREATE INDEX offline_by_user ON offline (host, user, id);\n"
    "CREATE TRIGGER offline_counted AFTER INSERT ON offline BEGIN\n"
    "  UPDATE accounts SET offline_count = offline_count + 1\n"
    "  WHERE host = NEW.host AND user = NEW.user;\n"
    "END;\n"
    "CREATE TRIGGER offline_uncounted AFTER DELETE ON offline BEGIN\n"
    "  UPDATE accounts SET offline_count = offline_count - 1\n"
    "  WHERE host = OLD.host AND user = OLD.user;\n"
    "END;\n";
static const char old_schema_v2[] =
"CREATE TABLE account_data (\n"
    "  host TEXT NOT NULL,\n"
    "  user TEXT NOT NULL,\n"
    "  store TEXT NOT NULL,\n"
    "  key TEXT NOT NULL,\n"
    "  value BLOB NOT NULL,\n"
    "  PRIMARY KEY (host, user, store, key),\n"
    "  FOREIGN KEY (host, user) REFERENCES accounts (host, user) ON DELETE CASCADE\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX account_data_by_store ON account_data (host, store, user, key);\n";

static void raw_insert_cred(sqlite3 *db, const char *host, const char *user,
                            const struct canto_scram_cred *c)
{
    sqlite3_stmt *q = NULL;
    CHECK_INT(sqlite3_prepare_v2(db,
                                 "INSERT INTO credentials (host, user, hash, iterations, salt, "
                                 "stored_key, server_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                                 -1, &q, NULL),
              SQLITE_OK);
    sqlite3_bind_text(q, 1, host, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, user, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 3, (int)c->hash);
    sqlite3_bind_int64(q, 4, c->iterations);
    sqlite3_bind_blob(q, 5, c->salt, (int)c->salt_len, SQLITE_STATIC);
    sqlite3_bind_blob(q, 6, c->stored_key, (int)digest_len(c->hash), SQLITE_STATIC);
    sqlite3_bind_blob(q, 7, c->server_key, (int)digest_len(c->hash), SQLITE_STATIC);
    CHECK_INT(sqlite3_step(q), SQLITE_DONE);
    sqlite3_finalize(q);
}

/* An old database with data, made the old way with raw SQL: schema version
 * 1 or 2, two accounts with credentials, offline messages (ids 5 and 9;
 * the sequence went up to 12 before deletions), and with version 2
 * key-value data. Opening it migrates it to the shape by kind and owner
 * and keeps everything: the messages are the archive "offline" with their
 * ids, the data the accounts' kv stores; new ids go on after 12; deleting
 * an account still deletes all of it. */
static void check_migration_from(int version)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char dir[128], path[256];
    snprintf(dir, sizeof dir, "%s/from-%d", base_dir, version);
    CHECK_INT(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/canto.db", dir);
    sqlite3 *db = NULL;
    CHECK_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
              SQLITE_OK);
    raw_exec(db, "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; BEGIN");
    raw_exec(db, "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, "
                 "applied_at INTEGER NOT NULL)");
    raw_exec(db, old_schema_v1);
    raw_exec(db, "INSERT INTO schema_version VALUES (1, 0)");
    if (version >= 2) {
        raw_exec(db, old_schema_v2);
        raw_exec(db, "INSERT INTO schema_version VALUES (2, 0)");
    }
    struct canto_scram_cred cred = make_cred(CANTO_HASH_SHA256, 53);
    raw_exec(db, "INSERT INTO accounts (host, user, created_at) VALUES "
                 "('example.org', 'juliet', 1), ('example.org', 'romeo', 1)");
    raw_insert_cred(db, "example.org", "juliet", &cred);
    raw_insert_cred(db, "example.org", "romeo", &cred);
    raw_exec(db, "INSERT INTO offline (id, host, user, stored_at, stanza) VALUES "
                 "(5, 'example.org', 'juliet', 1700000000, '<m1/>'), "
                 "(9, 'example.org', 'juliet', 1700000001, '<m2/>'), "
                 "(12, 'example.org', 'romeo', 1700000002, '<m3/>')");
    raw_exec(db, "DELETE FROM offline WHERE id = 12");
    if (version >= 2)
        raw_exec(db, "INSERT INTO account_data VALUES "
                     "('example.org', 'juliet', 'roster', 'romeo@example.org', 'both'), "
                     "('example.org', 'juliet', 'vcard', 'v', 'card'), "
                     "('example.org', 'romeo', 'roster', 'juliet@example.org', 'both')");
    raw_exec(db, "COMMIT");
    CHECK_INT(raw_int(db, "SELECT offline_count FROM accounts WHERE user = 'juliet'"), 2);
    sqlite3_close(db);

    struct canto_storage *s = open_dir(&loop, dir);
    struct result a = {0}, b = {0}, c = {0}, d = {0}, e = {0}, f = {0}, g = {0};
    QUEUE(canto_storage_account_get_creds(s, "example.org", "juliet", on_creds, &a));
    QUEUE(offline_fetch(s, "example.org", "juliet", 10, &b));
    QUEUE(offline_count(s, "example.org", "juliet", &c));
    QUEUE(canto_storage_kv_get(s, ACC("example.org", "juliet"), "vcard", "v", on_kv, &d));
    QUEUE(kv_list_all(s, "example.org", "juliet", "roster", on_kv, &e));
    QUEUE(canto_storage_archive_append(s, ACC("example.org", "romeo"), "offline", "", "<m4/>",
                                       5, 10, on_id, &f));
    run(&loop);
    EXPECT(a, CANTO_OK);
    CHECK(a.n == 1 && cred_equal(&a.creds[0], &cred));
    EXPECT(b, CANTO_OK);
    CHECK_STR(b.text.data, "<m1/>|<m2/>");
    CHECK(b.ids[0] == 5 && b.ids[1] == 9);
    EXPECT(c, CANTO_OK);
    CHECK_INT(c.n, 2);
    EXPECT(f, CANTO_OK);
    CHECK(f.ids[0] > 12); /* ids are never reused */
    if (version >= 2) {
        EXPECT(d, CANTO_OK);
        CHECK_STR(d.text.data, "juliet/v=card");
        CHECK_STR(e.text.data, "juliet/romeo@example.org=both");
    } else {
        EXPECT(d, CANTO_NOTFOUND);
        EXPECT(e, CANTO_OK);
        CHECK_INT(e.n, 0);
    }

    /* Deleting juliet deletes her messages and data, not romeo's. */
    result_reset(&a), result_reset(&b), result_reset(&c);
    QUEUE(canto_storage_account_delete(s, "example.org", "juliet", on_done, &a));
    QUEUE(offline_count(s, "example.org", "juliet", &b));
    QUEUE(offline_count(s, "example.org", "romeo", &c));
    QUEUE(kv_list_all(s, "example.org", "juliet", "roster", on_kv, &g));
    run(&loop);
    EXPECT(a, CANTO_OK);
    CHECK_INT(b.n, 0);
    CHECK_INT(c.n, 1);
    CHECK_INT(g.n, 0);
    canto_storage_close(s);

    db = raw_open(dir);
    CHECK_INT(raw_int(db, "SELECT max(version) FROM schema_version"), 3);
    CHECK_INT(raw_int(db, "SELECT count(*) FROM schema_version"), 3);
    CHECK_INT(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE name IN "
                          "('offline', 'account_data', 'offline_counted')"),
              0);
    CHECK_INT(raw_int(db, "SELECT count(*) FROM pragma_table_info('accounts') "
                          "WHERE name = 'offline_count'"),
              0);
    CHECK_INT(raw_int(db, "SELECT count(*) FROM kv WHERE owner = 'romeo'"), version >= 2);
    CHECK_INT(raw_int(db, COUNT_MISMATCHES), 0);
    sqlite3_close(db);
    struct result *all[] = {&a, &b, &c, &d, &e, &f, &g};
    for (size_t i = 0; i < CANTO_ARRAY_LEN(all); i++)
        result_reset(all[i]);
    loop_done(&loop);
}

static void test_migrate_old_databases(void)
{
    check_migration_from(1);
    check_migration_from(2);
}

/* Two storage objects on one file, as cantod and cantoctl would be: each
 * sees what the other committed. */
static void test_two_writers(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char dir[128];
    dir_path(dir, sizeof dir, "shared");
    struct canto_storage *srv = open_dir(&loop, dir);
    struct canto_storage *ctl = open_dir(&loop, dir);
    struct canto_scram_cred cred = make_cred(CANTO_HASH_SHA256, 21);
    struct result a = {0}, b = {0}, c = {0}, d = {0}, e = {0};

    QUEUE(canto_storage_account_create(ctl, "example.org", "new", &cred, 1, on_done, &a));
    run(&loop);
    EXPECT(a, CANTO_OK);
    QUEUE(canto_storage_account_exists(srv, "example.org", "new", on_done, &b));
    QUEUE(offline_store(srv, "example.org", "new", "<m/>", 4, 5, on_done, &c));
    run(&loop);
    EXPECT(b, CANTO_OK);
    EXPECT(c, CANTO_OK);
    QUEUE(offline_count(ctl, "example.org", "new", &d));
    run(&loop);
    CHECK_INT(d.n, 1);

    /* Both queue writes at the same time: both succeed (busy timeout). */
    enum { N = 300 };
    struct result *r = canto_xcalloc(2 * N, sizeof *r);
    for (int i = 0; i < N; i++) {
        QUEUE(offline_store(srv, "example.org", "new", "<s/>", 4, 10000, on_done,
                            &r[2 * i]));
        QUEUE(offline_store(ctl, "example.org", "new", "<c/>", 4, 10000, on_done,
                            &r[2 * i + 1]));
    }
    run(&loop);
    for (int i = 0; i < 2 * N; i++)
        EXPECT(r[i], CANTO_OK);
    QUEUE(offline_count(srv, "example.org", "new", &e));
    run(&loop);
    CHECK_INT(e.n, 2 * N + 1);
    free(r);
    canto_storage_close(ctl);
    canto_storage_close(srv);
    result_reset(&d), result_reset(&e);
    loop_done(&loop);
}

/* Durability: a child stores a message and, in the callback, tells the
 * parent and waits; the parent kills it with SIGKILL, so nothing after the
 * callback (no close, no checkpoint) runs. The message must be there. */
static int durable_fd;

static void durable_stored(void *ud, int rc)
{
    char byte = rc == CANTO_OK ? 'k' : 'e';
    if (write(durable_fd, &byte, 1) != 1)
        _exit(3);
    for (;;)
        pause();
}

static void test_durability(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char dir[128];
    dir_path(dir, sizeof dir, "durable");
    struct canto_storage *s = open_dir(&loop, dir);
    struct canto_scram_cred cred = make_cred(CANTO_HASH_SHA256, 31);
    struct result a = {0};
    QUEUE(canto_storage_account_create(s, "example.org", "juliet", &cred, 1, on_done, &a));
    canto_storage_close(s); /* no thread of ours exists across the fork */
    EXPECT(a, CANTO_OK);

    int fds[2];
    CHECK_INT(pipe(fds), 0);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        durable_fd = fds[1];
        uv_loop_t child_loop;
        uv_loop_init(&child_loop);
        struct canto_storage_options opts = {.backend = "sqlite", .data_dir = dir};
        struct canto_storage *cs = NULL;
        struct canto_buf err = {0};
        if (canto_storage_open(&child_loop, &opts, &cs, &err) != CANTO_OK)
            _exit(2);
        offline_store(cs, "example.org", "juliet", "<durable/>", 10, 10,
                      durable_stored, NULL);
        uv_run(&child_loop, UV_RUN_DEFAULT);
        _exit(4);
    }
    CHECK(pid > 0);
    close(fds[1]);
    char byte = 0;
    ssize_t got;
    do
        got = read(fds[0], &byte, 1);
    while (got < 0 && errno == EINTR);
    CHECK_INT(got, 1);
    CHECK_INT(byte, 'k');
    kill(pid, SIGKILL);
    int status = 0;
    CHECK_INT(waitpid(pid, &status, 0), pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    close(fds[0]);

    s = open_dir(&loop, dir);
    struct result f = {0};
    QUEUE(offline_fetch(s, "example.org", "juliet", 10, &f));
    run(&loop);
    EXPECT(f, CANTO_OK);
    CHECK_STR(f.text.data, "<durable/>");
    canto_storage_close(s);
    result_reset(&f);
    loop_done(&loop);
}

/* --- paging ------------------------------------------------------------------- */

/* Every list comes a page at a time with a cursor, and says whether more
 * follows; a page also ends once it holds CANTO_STORAGE_PAGE_BYTES. */
static void test_paging(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char dir[128];
    dir_path(dir, sizeof dir, "paging");
    struct canto_storage *s = open_dir(&loop, dir);
    static const char *const users[][2] = {{"example.org", "a"}, {"example.org", "b"},
                                           {"example.org", "c"}, {"example.net", "d"}};
    make_accounts(&loop, s, users, CANTO_ARRAY_LEN(users));
    struct canto_kv_change five[] = {kv_set("st", "k1", "1"), kv_set("st", "k2", "2"),
                                     kv_set("st", "k3", "3"), kv_set("st", "k4", "4"),
                                     kv_set("st", "k5", "5")};
    struct result w[3], a = {0}, b = {0}, c = {0}, d = {0};
    memset(w, 0, sizeof w);
    QUEUE(canto_storage_kv_write(s, ACC("example.org", "a"), five, 5, on_done, &w[0]));
    QUEUE(canto_storage_kv_write(s, ACC("example.org", "b"), five, 2, on_done, &w[1]));
    QUEUE(canto_storage_kv_write(s, ACC("example.org", "c"), five, 3, on_done, &w[2]));
    run(&loop);
    for (int i = 0; i < 3; i++)
        EXPECT(w[i], CANTO_OK);

    /* One owner's store: 2 + 2 + 1, each page after the last key. */
    QUEUE(canto_storage_kv_list(s, ACC("example.org", "a"), "st", NULL, 2, on_kv, &a));
    QUEUE(canto_storage_kv_list(s, ACC("example.org", "a"), "st", "k2", 2, on_kv, &b));
    QUEUE(canto_storage_kv_list(s, ACC("example.org", "a"), "st", "k4", 2, on_kv, &c));
    QUEUE(canto_storage_kv_list(s, ACC("example.org", "a"), "st", "k5", 2, on_kv, &d));
    run(&loop);
    CHECK_STR(a.text.data, "a/k1=1 a/k2=2");
    CHECK(a.more);
    CHECK_STR(b.text.data, "a/k3=3 a/k4=4");
    CHECK(b.more);
    CHECK_STR(c.text.data, "a/k5=5");
    CHECK(!c.more);
    EXPECT(d, CANTO_OK);
    CHECK(d.n == 0 && !d.more);

    /* A host: (owner, key) order; "" restarts at an owner's first key. */
    result_reset(&a), result_reset(&b), result_reset(&c), result_reset(&d);
    QUEUE(canto_storage_kv_list_host(s, CANTO_OWNER_ACCOUNT, "example.org", "st", NULL, NULL, 4,
                                     on_kv, &a));
    QUEUE(canto_storage_kv_list_host(s, CANTO_OWNER_ACCOUNT, "example.org", "st", "a", "k4", 3,
                                     on_kv, &b));
    QUEUE(canto_storage_kv_list_host(s, CANTO_OWNER_ACCOUNT, "example.org", "st", "b", "", 10,
                                     on_kv, &c));
    QUEUE(canto_storage_kv_list_host(s, CANTO_OWNER_SERVICE, "example.org", "st", NULL, NULL, 10,
                                     on_kv, &d));
    run(&loop);
    CHECK_STR(a.text.data, "a/k1=1 a/k2=2 a/k3=3 a/k4=4");
    CHECK(a.more);
    CHECK_STR(b.text.data, "a/k5=5 b/k1=1 b/k2=2");
    CHECK(b.more);
    CHECK_STR(c.text.data, "b/k1=1 b/k2=2 c/k1=1 c/k2=2 c/k3=3");
    CHECK(!c.more);
    EXPECT(d, CANTO_OK); /* services are other owners */
    CHECK_INT(d.n, 0);

    /* Accounts: one host, every host, after a cursor. */
    result_reset(&a), result_reset(&b), result_reset(&c), result_reset(&d);
    QUEUE(canto_storage_account_list(s, "example.org", NULL, 2, on_list, &a));
    QUEUE(canto_storage_account_list(s, "example.org", "b@example.org", 2, on_list, &b));
    QUEUE(canto_storage_account_list(s, NULL, "b@example.org", 1, on_list, &c));
    QUEUE(canto_storage_account_list(s, NULL, NULL, 0, on_list, &d));
    run(&loop);
    CHECK_STR(a.text.data, "a@example.org b@example.org");
    CHECK(a.more);
    CHECK_STR(b.text.data, "c@example.org");
    CHECK(!b.more);
    CHECK_STR(c.text.data, "c@example.org");
    CHECK(c.more);
    EXPECT(d, CANTO_INVALID); /* a page holds at least one */

    /* Pages end at CANTO_STORAGE_PAGE_BYTES: 3 MiB values, two per page. */
    size_t big = 3u << 20;
    char *value = canto_xmalloc(big);
    memset(value, 'v', big);
    struct canto_kv_change bigs[3] = {{"big", "1", value, big}, {"big", "2", value, big},
                                      {"big", "3", value, big}};
    result_reset(&a), result_reset(&b), result_reset(&c), result_reset(&d);
    QUEUE(canto_storage_kv_write(s, ACC("example.org", "a"), bigs, 3, on_done, &a));
    QUEUE(canto_storage_kv_list(s, ACC("example.org", "a"), "big", NULL, 10, on_kv, &b));
    QUEUE(canto_storage_kv_list(s, ACC("example.org", "a"), "big", "2", 10, on_kv, &c));
    QUEUE(canto_storage_kv_list(s, ACC("example.org", "a"), "big", NULL, 1025, on_kv, &d));
    run(&loop);
    free(value);
    EXPECT(a, CANTO_OK);
    CHECK_INT(b.n, 2);
    CHECK(b.more);
    CHECK_INT(c.n, 1);
    CHECK(!c.more);
    EXPECT(d, CANTO_INVALID); /* over CANTO_STORAGE_PAGE_MAX */
    canto_storage_close(s);
    struct result *all[] = {&a, &b, &c, &d};
    for (size_t i = 0; i < CANTO_ARRAY_LEN(all); i++)
        result_reset(all[i]);
    loop_done(&loop);
}

/* Archives: append with a limit, pages by id either way, by peer, by time;
 * a service entity owns archives as an account does. */
static void test_archive_queries(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char dir[128];
    dir_path(dir, sizeof dir, "archive");
    struct canto_storage *s = open_dir(&loop, dir);
    static const char *const users[][2] = {{"example.org", "juliet"}};
    make_accounts(&loop, s, users, CANTO_ARRAY_LEN(users));
    const struct canto_storage_owner *room = CANTO_SERVICE("conference.example.org", "garden");
    static const char *const peers[] = {"romeo@example.org", "nurse@example.org"};
    struct result ap[6];
    memset(ap, 0, sizeof ap);
    char xml[32];
    for (int i = 0; i < 6; i++) {
        int len = snprintf(xml, sizeof xml, "<m%d/>", i);
        QUEUE(canto_storage_archive_append(s, room, "log", peers[i % 2], xml, (size_t)len,
                                           CANTO_ARCHIVE_UNLIMITED, on_id, &ap[i]));
    }
    run(&loop);
    for (int i = 0; i < 6; i++) {
        EXPECT(ap[i], CANTO_OK);
        if (i)
            CHECK(ap[i].ids[0] > ap[i - 1].ids[0]);
    }

    struct result a = {0}, b = {0}, c = {0}, d = {0}, e = {0}, f = {0}, g = {0};
    struct canto_archive_query newest = {.limit = 2, .newest_first = true};
    struct canto_archive_query older = {.limit = 10, .newest_first = true,
                                        .before_id = ap[4].ids[0]};
    struct canto_archive_query nurse = {.limit = 10, .peer = "nurse@example.org"};
    struct canto_archive_query window = {.limit = 10, .after_id = ap[0].ids[0],
                                         .before_id = ap[5].ids[0]};
    struct canto_archive_query future = {.limit = 10, .start_us = INT64_MAX - 1};
    struct canto_archive_query past = {.limit = 10, .end_us = 1};
    QUEUE(canto_storage_archive_query(s, room, "log", &newest, on_archive, &a));
    QUEUE(canto_storage_archive_query(s, room, "log", &older, on_archive, &b));
    QUEUE(canto_storage_archive_query(s, room, "log", &nurse, on_archive, &c));
    QUEUE(canto_storage_archive_query(s, room, "log", &window, on_archive, &d));
    QUEUE(canto_storage_archive_query(s, room, "log", &future, on_archive, &e));
    QUEUE(canto_storage_archive_query(s, room, "log", &past, on_archive, &f));
    QUEUE(canto_storage_archive_count(s, room, "log", on_count, &g));
    run(&loop);
    CHECK_STR(a.text.data, "<m5/>|<m4/>");
    CHECK(a.more);
    CHECK_STR(b.text.data, "<m3/>|<m2/>|<m1/>|<m0/>");
    CHECK(!b.more);
    CHECK_STR(c.text.data, "<m1/>|<m3/>|<m5/>");
    CHECK_STR(d.text.data, "<m1/>|<m2/>|<m3/>|<m4/>");
    EXPECT(e, CANTO_OK);
    CHECK_INT(e.n, 0);
    CHECK_INT(f.n, 0);
    CHECK_INT(g.n, 6);

    /* The room's archive is not juliet's; deleting up to an id; a limit. */
    struct result *all[] = {&a, &b, &c, &d, &e, &f, &g};
    for (size_t i = 0; i < CANTO_ARRAY_LEN(all); i++)
        result_reset(all[i]);
    struct canto_archive_query oldest = {.limit = 10};
    QUEUE(canto_storage_archive_delete(s, room, "log", ap[1].ids[0], on_done, &a));
    QUEUE(canto_storage_archive_query(s, room, "log", &oldest, on_archive, &b));
    QUEUE(canto_storage_archive_count(s, ACC("example.org", "juliet"), "log", on_count, &c));
    QUEUE(canto_storage_archive_append(s, room, "log", NULL, "<x/>", 4, 4, on_id, &d));
    QUEUE(canto_storage_archive_append(s, room, "log", NULL, "<y/>", 4, 5, on_id, &e));
    QUEUE(canto_storage_archive_append(s, ACC("example.org", "nobody"), "log", NULL, "<z/>", 4,
                                       5, on_id, &f));
    QUEUE(canto_storage_archive_query(s, room, "", &oldest, on_archive, &g));
    run(&loop);
    EXPECT(a, CANTO_OK);
    CHECK_STR(b.text.data, "<m2/>|<m3/>|<m4/>|<m5/>");
    EXPECT(c, CANTO_OK);
    CHECK_INT(c.n, 0);
    EXPECT(d, CANTO_LIMIT);
    EXPECT(e, CANTO_OK);
    EXPECT(f, CANTO_NOTFOUND);
    EXPECT(g, CANTO_INVALID);
    canto_storage_close(s);
    for (size_t i = 0; i < CANTO_ARRAY_LEN(all); i++)
        result_reset(all[i]);
    for (int i = 0; i < 6; i++)
        result_reset(&ap[i]);
    loop_done(&loop);
}

/* --- the seam: a new kind is a new file and a line ------------------------------ */

static void on_counter(void *ud, int rc, int64_t value)
{
    struct result *r = ud;
    note(r, rc);
    r->ids[0] = value;
}

static struct canto_storage *open_with_test_kind(uv_loop_t *loop, const char *dir)
{
    struct canto_storage_options opts = {.backend = "sqlite", .data_dir = dir};
    struct canto_storage *s = NULL;
    struct canto_buf err = {0};
    int rc = canto__storage_open(loop, &opts, test_kinds, &s, &err);
    if (rc != CANTO_OK)
        fprintf(stderr, "open %s: %s\n", dir, err.data ? err.data : "?");
    CHECK_INT(rc, CANTO_OK);
    canto_buf_free(&err);
    return s;
}

/* tests/unit/storage_test_kind.c is a whole kind, registered by one line
 * (its table test_kinds): it gets its own table by its own migration,
 * account owners and service owners, and its rows go with the account. */
static void test_kind_is_a_file_and_a_line(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char dir[128];
    dir_path(dir, sizeof dir, "test-kind");
    struct canto_storage *s = open_with_test_kind(&loop, dir);
    static const char *const users[][2] = {{"example.org", "juliet"}};
    make_accounts(&loop, s, users, CANTO_ARRAY_LEN(users));
    struct result a = {0}, b = {0}, c = {0}, d = {0}, e = {0}, f = {0};
    QUEUE(counter_add(s, ACC("example.org", "juliet"), "logins", 1, on_counter, &a));
    QUEUE(counter_add(s, ACC("example.org", "juliet"), "logins", 2, on_counter, &b));
    QUEUE(counter_get(s, ACC("example.org", "juliet"), "logins", on_counter, &c));
    QUEUE(counter_add(s, CANTO_SERVICE("pubsub.example.org", "node"), "items", 5, on_counter, &d));
    QUEUE(counter_add(s, ACC("example.org", "nobody"), "logins", 1, on_counter, &e));
    QUEUE(counter_add(s, ACC("example.org", "juliet"), NULL, 1, on_counter, &f));
    run(&loop);
    EXPECT(a, CANTO_OK);
    CHECK_INT(a.ids[0], 1);
    EXPECT(b, CANTO_OK);
    CHECK_INT(b.ids[0], 3);
    EXPECT(c, CANTO_OK);
    CHECK_INT(c.ids[0], 3);
    EXPECT(d, CANTO_OK);
    CHECK_INT(d.ids[0], 5);
    EXPECT(e, CANTO_NOTFOUND);
    EXPECT(f, CANTO_INVALID);

    struct result *all[] = {&a, &b, &c, &d, &e, &f};
    for (size_t i = 0; i < CANTO_ARRAY_LEN(all); i++)
        result_reset(all[i]);
    QUEUE(canto_storage_account_delete(s, "example.org", "juliet", on_done, &a));
    QUEUE(counter_get(s, ACC("example.org", "juliet"), "logins", on_counter, &b));
    QUEUE(counter_get(s, CANTO_SERVICE("pubsub.example.org", "node"), "items", on_counter, &c));
    run(&loop);
    EXPECT(a, CANTO_OK);
    EXPECT(b, CANTO_NOTFOUND);
    EXPECT(c, CANTO_OK);
    canto_storage_close(s);

    sqlite3 *db = raw_open(dir);
    CHECK_INT(raw_int(db, "SELECT version FROM kind_schema WHERE kind = 'test_counter'"), 1);
    sqlite3_close(db);
    s = open_dir(&loop, dir); /* a Canto without the kind still opens it */
    canto_storage_close(s);
    for (size_t i = 0; i < CANTO_ARRAY_LEN(all); i++)
        result_reset(all[i]);
    loop_done(&loop);
}

/* --- the read connection ----------------------------------------------------------- */

static void guard_fired(uv_timer_t *t)
{
    bool *fired = t->data;
    *fired = true;
    counter_release(); /* a hang becomes a failed check, not a stuck test */
}

/* A read in progress (held in the reader: a directory search reading a
 * big host would be one) delays neither a write's durable acknowledgement
 * nor a read of an owner with writes in flight (those queue behind the
 * writes, on the writer), while reads behind it, and a barrier queued after
 * it, wait for it. Before reads had their own connection, every read ran
 * in the write transaction and the write waited for the read: the write's
 * callback never came while the read was held (the guard timer released it,
 * and the first CHECK failed). */
static void test_reads_do_not_delay_writes(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char dir[128];
    dir_path(dir, sizeof dir, "reader");
    struct canto_storage *s = open_with_test_kind(&loop, dir);
    static const char *const users[][2] = {{"example.org", "a"}, {"example.org", "b"}};
    make_accounts(&loop, s, users, CANTO_ARRAY_LEN(users));
    struct canto_kv_change entry = kv_set("directory", "nick", "Ann");
    struct result hold = {0}, search = {0}, w = {0}, mine = {0}, bar = {0}, other = {0};
    next_seq = 0;

    QUEUE(counter_hold(s, CANTO_SERVICE("test", "hold"), on_counter, &hold));
    uv_run(&loop, UV_RUN_NOWAIT); /* hand it over */
    counter_wait_held();
    QUEUE(canto_storage_kv_list_host(s, CANTO_OWNER_ACCOUNT, "example.org", "directory", NULL,
                                     NULL, 100, on_kv, &search));
    QUEUE(canto_storage_barrier(s, on_done, &bar));
    QUEUE(canto_storage_kv_write(s, ACC("example.org", "a"), &entry, 1, on_done, &w));
    QUEUE(canto_storage_kv_get(s, ACC("example.org", "a"), "directory", "nick", on_kv, &mine));
    QUEUE(canto_storage_kv_get(s, ACC("example.org", "b"), "directory", "nick", on_kv, &other));

    bool fired = false;
    uv_timer_t guard;
    uv_timer_init(&loop, &guard);
    guard.data = &fired;
    uv_timer_start(&guard, guard_fired, 30000, 0);
    while (mine.calls == 0 && !fired)
        uv_run(&loop, UV_RUN_ONCE);
    CHECK(!fired);
    EXPECT(w, CANTO_OK);    /* durable while the read is in progress */
    EXPECT(mine, CANTO_OK); /* and its owner's read saw it, on the writer */
    CHECK_STR(mine.text.data, "a/nick=Ann");
    CHECK_INT(hold.calls, 0);
    CHECK_INT(search.calls, 0);  /* behind the held read */
    CHECK_INT(bar.calls, 0);     /* waits for the reads queued before it */
    CHECK_INT(other.calls, 0);   /* an owner with nothing in flight: the reader */

    counter_release();
    run(&loop);
    uv_timer_stop(&guard);
    uv_close((uv_handle_t *)&guard, NULL);
    run(&loop);
    EXPECT(hold, CANTO_OK);
    EXPECT(search, CANTO_OK);
    EXPECT(bar, CANTO_OK);
    CHECK(bar.seq > hold.seq && bar.seq > search.seq);
    EXPECT(other, CANTO_NOTFOUND);
    canto_storage_close(s);
    struct result *all[] = {&hold, &search, &w, &mine, &bar, &other};
    for (size_t i = 0; i < CANTO_ARRAY_LEN(all); i++)
        result_reset(all[i]);
    loop_done(&loop);
}

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    return remove(path);
}

int main(void)
{
    uv_mutex_init(&hold_lock);
    uv_cond_init(&hold_cond);
    snprintf(base_dir, sizeof base_dir, "/tmp/canto-test-storage-XXXXXX");
    if (!mkdtemp(base_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_unknown_backend();
    test_accounts();
    test_offline();
    test_kv();
    test_kv_host_list();
    test_kv_atomic_and_cascade();
    test_kv_invalid();
    test_kv_binary();
    test_order();
    test_chain_and_close();
    test_many();
    test_reopen_and_version();
    test_migrate_old_databases();
    test_two_writers();
    test_durability();
    test_paging();
    test_archive_queries();
    test_kind_is_a_file_and_a_line();
    test_reads_do_not_delay_writes();
    nftw(base_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return CHECK_DONE();
}
