/*
 * logins.c: the login engine shared by every scenario.
 *
 * It keeps --concurrency logins in flight (connect to presence sent) until
 * `total` have been started, and tells the scenario about each success
 * (scn->online) and, once, that every login has finished (scn->logins_done).
 * A login that fails frees its place for the next; nothing is retried, so the
 * counts say exactly what the server did. In relay mode one connection at a
 * time is opened, because the relay pairs connections in accept order.
 *
 * Latency of a login: from the start of connect() to the initial presence
 * being queued after the bind (and session/roster) result, in a bounded
 * histogram.
 */
#include "bench.h"

static void check_done(struct bench *b)
{
    if (b->login.done || b->stopping)
        return;
    if (b->login.started == b->login.total && b->login.in_flight == 0) {
        b->login.done = true;
        if (b->scn->logins_done)
            b->scn->logins_done(b);
    }
}

/* Start logins until the in-flight budget is used. Failures that happen
 * synchronously inside bench_conn_start come back through
 * bench_login_failed, which must not recurse into this loop. */
static void pump(struct bench *b)
{
    if (b->login.pumping)
        return;
    b->login.pumping = true;
    while (!b->stopping && b->login.started < b->login.total &&
           b->login.in_flight < b->login.concurrency) {
        size_t i = b->login.started++;
        uint64_t account = (uint64_t)b->opt.first + (uint64_t)(i % (size_t)b->opt.accounts);
        b->login.in_flight++;
        if (b->login.t_first == 0)
            b->login.t_first = uv_hrtime();
        bench_conn_start(b, (uint32_t)i, (uint32_t)account);
    }
    b->login.pumping = false;
    check_done(b);
}

void bench_logins_start(struct bench *b, size_t total)
{
    b->login.total = total;
    b->login.concurrency = b->opt.protocol == BENCH_PROTO_RELAY ? 1 : (size_t)b->opt.concurrency;
    bench_hist_init(&b->login.latency);
    pump(b);
}

void bench_login_succeeded(struct bench_conn *c)
{
    struct bench *b = c->b;
    uint64_t now = uv_hrtime();
    c->in_login = false;
    b->login.in_flight--;
    b->login.ok++;
    b->login.t_last = now;
    bench_hist_record(&b->login.latency, now - c->t_start);
    c->online = true;
    b->online++;
    if (b->scn->online)
        b->scn->online(b, c);
    pump(b);
}

void bench_login_failed(struct bench *b)
{
    b->login.failed++;
    b->login.t_last = uv_hrtime();
    pump(b);
}

void bench_logins_halt(struct bench *b)
{
    b->login.total = b->login.started;
}

void bench_logins_sweep(struct bench *b)
{
    if (b->login.in_flight == 0)
        return;
    uint64_t now = uv_hrtime();
    uint64_t limit = (uint64_t)(b->opt.login_timeout * 1e9);
    for (size_t i = 0; i < b->login.started && i < b->nconns; i++) {
        struct bench_conn *c = b->conns[i];
        if (c && c->in_login && now - c->t_start > limit)
            bench_conn_fail(c, BENCH_ERR_LOGIN_TIMEOUT, "login not finished after %.0f s (state %d)",
                            b->opt.login_timeout, c->state);
    }
}
