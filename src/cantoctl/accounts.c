/*
 * accounts.c: cantoctl's account commands: adduser, deluser, passwd, users.
 *
 * They talk to the storage directly, through the same asynchronous API the
 * server uses, on a private libuv loop: a command queues its request, runs
 * the loop until the callback has fired, and closes the storage. SQLite in
 * WAL mode with a busy timeout (the storage's business) lets this work
 * whether or not cantod has the same database open.
 *
 * Accounts hold SCRAM credentials for SHA-1, SHA-256 and SHA-512, derived
 * here from the password, which is wiped as soon as they exist; the
 * password itself is never stored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "canto/jid.h"
#include "canto/scram.h"
#include "canto/storage.h"
#include "cantoctl/cantoctl.h"

/* A private loop with the storage opened on it. */
struct store {
    uv_loop_t loop;
    struct canto_storage *st;
};

/* The result of one request, filled by its callback. */
struct wait {
    bool done;
    int rc;
};

static int store_open(struct cantoctl *ctl, struct store *s)
{
    struct canto_buf err = {0};
    struct canto_storage_options opts = {
        .backend = ctl->cfg.storage_backend,
        .data_dir = ctl->cfg.data_dir,
    };
    int rc = uv_loop_init(&s->loop);
    if (rc != 0)
        return cantoctl_fail("cannot create an event loop: %s (check the system's limits)",
                             uv_strerror(rc));
    if (canto_storage_open(&s->loop, &opts, &s->st, &err) != CANTO_OK) {
        cantoctl_fail("cannot open the storage in %s: %s (check data_dir and its permissions; "
                      "run cantoctl as the user cantod runs as)",
                      ctl->cfg.data_dir, err.data ? err.data : "unknown error");
        canto_buf_free(&err);
        uv_loop_close(&s->loop);
        return CANTOCTL_EXIT_FAIL;
    }
    canto_buf_free(&err);
    return CANTOCTL_EXIT_OK;
}

/* Closing runs the queued requests' callbacks (storage.h), then the loop
 * is run once more so that the storage's handle close callbacks complete
 * before the loop is closed. */
static void store_close(struct store *s)
{
    canto_storage_close(s->st);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&s->loop) != 0)
        fprintf(stderr, "cantoctl: warning: the event loop still had handles at exit\n");
}

/* Runs the loop until w's callback has fired. Why a loop of UV_RUN_ONCE
 * rather than one UV_RUN_DEFAULT: the storage may keep its wake-up handle
 * referenced, so the loop would not end by itself. If the loop has nothing
 * left that could call back, waiting longer is pointless. */
static int store_wait(struct store *s, struct wait *w)
{
    while (!w->done) {
        if (uv_run(&s->loop, UV_RUN_ONCE) == 0 && !w->done)
            return cantoctl_fail("the storage did not answer (this is a bug; please report it)");
    }
    return CANTOCTL_EXIT_OK;
}

static void on_done(void *ud, int rc)
{
    struct wait *w = ud;
    w->rc = rc;
    w->done = true;
}

/* Lists the configured hosts, for error messages that say which exist. */
static void append_hosts(struct canto_buf *b, const struct canto_config *cfg)
{
    for (size_t i = 0; i < cfg->nhosts; i++)
        canto_buf_appendf(b, "%s%s", i ? ", " : "", cfg->hosts[i]);
}

static int unknown_host(struct cantoctl *ctl, const char *host)
{
    struct canto_buf b = {0};
    append_hosts(&b, &ctl->cfg);
    cantoctl_fail("%s is not a host of this server (the hosts in %s are: %s)", host,
                  ctl->config_path, b.data);
    canto_buf_free(&b);
    return CANTOCTL_EXIT_FAIL;
}

/* Parses an account's address: a localpart, one of the configured hosts,
 * no resource. CANTOCTL_EXIT_OK with jid filled, else reported. */
static int account_jid(struct cantoctl *ctl, const char *arg, struct canto_jid *jid)
{
    if (canto_jid_parse_str(jid, arg) != CANTO_OK)
        return cantoctl_fail("\"%s\" is not a valid JID (give an address like user@%s)", arg,
                             ctl->cfg.hosts[0]);
    if (!jid->local) {
        cantoctl_fail("\"%s\" has no user part (give an address like user@%s)", arg,
                      jid->domain);
        goto fail;
    }
    if (jid->resource) {
        cantoctl_fail("\"%s\" has a resource (give the bare address %s)", arg, jid->bare);
        goto fail;
    }
    if (!canto_config_has_host(&ctl->cfg, jid->domain)) {
        unknown_host(ctl, jid->domain);
        goto fail;
    }
    return CANTOCTL_EXIT_OK;
fail:
    canto_jid_free(jid);
    return CANTOCTL_EXIT_FAIL;
}

/* SCRAM credentials for every hash from password (canto_scram_creds_make_all). */
static int make_creds(const char *password, struct canto_scram_cred creds[CANTO_HASH_COUNT])
{
    int rc = canto_scram_creds_make_all(password, creds);
    if (rc == CANTO_INVALID)
        return cantoctl_fail("the password contains characters that SASLprep forbids, "
                             "such as control characters (choose another password)");
    if (rc != CANTO_OK)
        return cantoctl_fail("cannot derive the credentials: %s (this is a bug; please "
                             "report it)",
                             canto_rc_str(rc));
    return CANTOCTL_EXIT_OK;
}

/* Asks whether the account exists; CANTO_OK, CANTO_NOTFOUND or an error
 * already reported (CANTO_ERROR). */
static int account_exists(struct store *s, const struct canto_jid *jid)
{
    struct wait w = {0};
    canto_storage_account_exists(s->st, jid->domain, jid->local, on_done, &w);
    if (store_wait(s, &w) != CANTOCTL_EXIT_OK)
        return CANTO_ERROR;
    if (w.rc != CANTO_OK && w.rc != CANTO_NOTFOUND) {
        cantoctl_fail("cannot look up %s: %s (check the server's log and data_dir)", jid->bare,
                      canto_rc_str(w.rc));
        return CANTO_ERROR;
    }
    return w.rc;
}

/* adduser and passwd differ only in the final request and how its result
 * reads; the rest (checking the account first so that nobody types a
 * password for nothing, reading it, deriving the keys) is shared. */
static int set_password(struct cantoctl *ctl, bool create)
{
    struct canto_jid jid;
    struct store s;
    struct canto_scram_cred creds[CANTO_HASH_COUNT];
    char *password = NULL;
    int rc = CANTOCTL_EXIT_FAIL;

    memset(creds, 0, sizeof creds);
    if (account_jid(ctl, ctl->argv[0], &jid) != CANTOCTL_EXIT_OK) {
        if (ctl->argc > 1)
            canto_wipe(ctl->argv[1], strlen(ctl->argv[1]));
        return CANTOCTL_EXIT_FAIL;
    }
    if (store_open(ctl, &s) != CANTOCTL_EXIT_OK) {
        if (ctl->argc > 1)
            canto_wipe(ctl->argv[1], strlen(ctl->argv[1]));
        canto_jid_free(&jid);
        return CANTOCTL_EXIT_FAIL;
    }

    int exists = account_exists(&s, &jid);
    if (exists == CANTO_ERROR)
        goto done;
    if (create && exists == CANTO_OK) {
        cantoctl_fail("%s exists already", jid.bare);
        goto done;
    }
    if (!create && exists == CANTO_NOTFOUND) {
        cantoctl_fail("there is no user %s (create it with cantoctl adduser)", jid.bare);
        goto done;
    }

    password = cantoctl_password(ctl->argc > 1 ? ctl->argv[1] : NULL, jid.bare);
    if (!password)
        goto done;
    int made = make_creds(password, creds);
    canto_free_secret(password);
    password = NULL;
    if (made != CANTOCTL_EXIT_OK)
        goto done;

    struct wait w = {0};
    if (create)
        canto_storage_account_create(s.st, jid.domain, jid.local, creds, CANTO_HASH_COUNT,
                                     on_done, &w);
    else
        canto_storage_account_set_creds(s.st, jid.domain, jid.local, creds, CANTO_HASH_COUNT,
                                        on_done, &w);
    if (store_wait(&s, &w) != CANTOCTL_EXIT_OK)
        goto done;
    switch (w.rc) {
    case CANTO_OK:
        printf(create ? "created %s\n" : "changed the password of %s\n", jid.bare);
        rc = CANTOCTL_EXIT_OK;
        break;
    case CANTO_CONFLICT:
        cantoctl_fail("%s exists already", jid.bare);
        break;
    case CANTO_NOTFOUND:
        cantoctl_fail("there is no user %s (create it with cantoctl adduser)", jid.bare);
        break;
    default:
        cantoctl_fail("cannot store the account %s: %s (check the server's log and data_dir)",
                      jid.bare, canto_rc_str(w.rc));
        break;
    }
done:
    if (ctl->argc > 1)
        canto_wipe(ctl->argv[1], strlen(ctl->argv[1]));
    canto_wipe(creds, sizeof creds);
    store_close(&s);
    canto_jid_free(&jid);
    return rc;
}

int cantoctl_adduser(struct cantoctl *ctl)
{
    return set_password(ctl, true);
}

int cantoctl_passwd(struct cantoctl *ctl)
{
    return set_password(ctl, false);
}

int cantoctl_deluser(struct cantoctl *ctl)
{
    struct canto_jid jid;
    struct store s;
    struct wait w = {0};
    int rc = CANTOCTL_EXIT_FAIL;

    if (account_jid(ctl, ctl->argv[0], &jid) != CANTOCTL_EXIT_OK)
        return CANTOCTL_EXIT_FAIL;
    if (store_open(ctl, &s) != CANTOCTL_EXIT_OK) {
        canto_jid_free(&jid);
        return CANTOCTL_EXIT_FAIL;
    }
    canto_storage_account_delete(s.st, jid.domain, jid.local, on_done, &w);
    if (store_wait(&s, &w) == CANTOCTL_EXIT_OK) {
        if (w.rc == CANTO_OK) {
            printf("deleted %s\n", jid.bare);
            rc = CANTOCTL_EXIT_OK;
        } else if (w.rc == CANTO_NOTFOUND) {
            cantoctl_fail("there is no user %s (see cantoctl users)", jid.bare);
        } else {
            cantoctl_fail("cannot delete %s: %s (check the server's log and data_dir)",
                          jid.bare, canto_rc_str(w.rc));
        }
    }
    store_close(&s);
    canto_jid_free(&jid);
    return rc;
}

/* The list is printed from inside the callback: its items are only valid
 * there (storage.h). */
/* A page of the listing: printed, with the cursor for the next one. */
struct list_page {
    struct wait w;
    char *last; /* the last JID printed (the next page starts after it) */
    bool more;
};

#define LIST_PAGE 1000 /* accounts read at a time */

static void on_list(void *ud, int rc, const char *const *items, size_t n, bool more)
{
    struct list_page *p = ud;
    p->w.rc = rc;
    p->w.done = true;
    p->more = false;
    if (rc != CANTO_OK)
        return;
    for (size_t i = 0; i < n; i++)
        printf("%s\n", items[i]);
    if (n > 0) {
        free(p->last);
        p->last = canto_xstrdup(items[n - 1]);
    }
    p->more = more;
}

int cantoctl_users(struct cantoctl *ctl)
{
    struct store s;
    struct list_page page = {0};
    char *host = NULL;
    int rc = CANTOCTL_EXIT_FAIL;

    if (ctl->argc > 0) {
        host = canto_jid_prep_domain(ctl->argv[0]);
        if (!host)
            return cantoctl_fail("\"%s\" is not a valid host name (give one of the hosts in %s)",
                                 ctl->argv[0], ctl->config_path);
        if (!canto_config_has_host(&ctl->cfg, host)) {
            unknown_host(ctl, host);
            free(host);
            return CANTOCTL_EXIT_FAIL;
        }
    }
    if (store_open(ctl, &s) != CANTOCTL_EXIT_OK) {
        free(host);
        return CANTOCTL_EXIT_FAIL;
    }
    do {
        page.w.done = false;
        canto_storage_account_list(s.st, host, page.last, LIST_PAGE, on_list, &page);
        if (store_wait(&s, &page.w) != CANTOCTL_EXIT_OK)
            break;
        if (page.w.rc != CANTO_OK)
            cantoctl_fail("cannot list the accounts: %s (check the server's log and data_dir)",
                          canto_rc_str(page.w.rc));
        else if (!page.more)
            rc = CANTOCTL_EXIT_OK;
    } while (page.w.rc == CANTO_OK && page.more);
    store_close(&s);
    free(page.last);
    free(host);
    return rc;
}

/* Counts the results of a batch of account creations. */
struct bulk {
    size_t pending;
    size_t created, existed, failed;
};

static void on_bulk_created(void *ud, int rc)
{
    struct bulk *b = ud;
    b->pending--;
    if (rc == CANTO_OK)
        b->created++;
    else if (rc == CANTO_CONFLICT)
        b->existed++;
    else
        b->failed++;
}

/* adduser-bulk PREFIX FIRST COUNT [HOST]: accounts PREFIX<FIRST> ..
 * PREFIX<FIRST+COUNT-1>, all with the password read once. Why one key
 * derivation for the whole batch: provisioning thousands of test or load
 * accounts would otherwise take minutes of PBKDF2; the accounts then share
 * a salt, which is only acceptable because they share the password too.
 * Every creation is queued at once, so the storage writes them in a few
 * group commits. Existing accounts are left alone and counted. */
int cantoctl_adduser_bulk(struct cantoctl *ctl)
{
    const char *prefix = ctl->argv[0];
    long first = 0, count = 0;
    if (canto_parse_long(ctl->argv[1], 0, 1000000000L, &first) != CANTO_OK ||
        canto_parse_long(ctl->argv[2], 1, 1000000L, &count) != CANTO_OK)
        return cantoctl_fail("FIRST must be a number from 0 and COUNT one from 1 to 1000000 "
                             "(for example: adduser-bulk bench 1 20000)");
    char *host = canto_jid_prep_domain(ctl->argc > 3 ? ctl->argv[3] : ctl->cfg.hosts[0]);
    if (!host || !canto_config_has_host(&ctl->cfg, host)) {
        int rc = unknown_host(ctl, ctl->argc > 3 ? ctl->argv[3] : "?");
        free(host);
        return rc;
    }
    char **locals = canto_xcalloc((size_t)count, sizeof(*locals));
    int rc = CANTOCTL_EXIT_FAIL;
    for (long i = 0; i < count; i++) {
        char name[CANTO_JID_PART_MAX + 1];
        int n = snprintf(name, sizeof name, "%s%ld", prefix, first + i);
        locals[i] = n > 0 && (size_t)n < sizeof name ? canto_jid_prep_local(name) : NULL;
        if (!locals[i]) {
            cantoctl_fail("\"%s%ld\" is not a valid user name (choose another PREFIX)", prefix,
                          first + i);
            goto done_names;
        }
    }
    char *password = cantoctl_password(NULL, prefix);
    if (!password)
        goto done_names;
    struct canto_scram_cred creds[CANTO_HASH_COUNT];
    memset(creds, 0, sizeof creds);
    int made = make_creds(password, creds);
    canto_free_secret(password);
    if (made != CANTOCTL_EXIT_OK)
        goto done_creds;

    struct store s;
    if (store_open(ctl, &s) != CANTOCTL_EXIT_OK)
        goto done_creds;
    struct bulk b = {.pending = (size_t)count};
    for (long i = 0; i < count; i++)
        canto_storage_account_create(s.st, host, locals[i], creds, CANTO_HASH_COUNT,
                                     on_bulk_created, &b);
    while (b.pending > 0 && uv_run(&s.loop, UV_RUN_ONCE) != 0)
        ;
    store_close(&s);
    printf("created %zu accounts %s%ld..%s%ld@%s", b.created, prefix, first, prefix,
           first + count - 1, host);
    if (b.existed)
        printf(" (%zu existed already)", b.existed);
    putchar('\n');
    if (b.failed || b.pending)
        cantoctl_fail("%zu accounts could not be created (check the server's log and data_dir)",
                      b.failed + b.pending);
    else
        rc = CANTOCTL_EXIT_OK;
done_creds:
    canto_wipe(creds, sizeof creds);
done_names:
    for (long i = 0; i < count; i++)
        free(locals[i]);
    free(locals);
    free(host);
    return rc;
}
