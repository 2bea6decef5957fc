/*
 * scn_login.c: the `login` scenario: sessions established per second at
 * saturation.
 *
 * N logins in all, --concurrency at a time; each connects, negotiates TLS,
 * authenticates, binds, sends initial presence and closes its stream at
 * once, making room for the next. The rate is successful logins divided by
 * the time from the first connect to the last login's end; the latency of a
 * login runs from connect() to the initial presence. With --accounts M the
 * logins cycle over M accounts (each with its own resource), so that SCRAM
 * key derivation is paid on the bench at most M times.
 */
#include "bench.h"
#include "json.h"

static void login_start(struct bench *b)
{
    bench_progress(b, "login: %ld logins over %ld accounts, %ld in flight", b->opt.users,
                   b->opt.accounts, b->opt.concurrency);
    bench_logins_start(b, (size_t)b->opt.users);
}

static void login_online(struct bench *b, struct bench_conn *c)
{
    bench_conn_close(c, true);
}

static void login_done(struct bench *b)
{
    bench_mark(b, 1);
    bench_finish(b);
}

static double rate(const struct bench *b)
{
    if (!b->login.t_first || b->login.t_last <= b->login.t_first)
        return 0;
    return (double)b->login.ok / ((double)(b->login.t_last - b->login.t_first) / 1e9);
}

static void login_report(struct bench *b, struct bench_json *j)
{
    bench_json_u64(j, "sessions", b->login.ok);
    bench_json_u64(j, "failed", b->login.failed);
    bench_json_double(j, "logins_per_s", rate(b));
    bench_json_latency(j, "latency", &b->login.latency);
    if (b->login.ok + b->login.failed < (size_t)b->opt.users)
        bench_fail(b, "only %zu of %ld logins finished", b->login.ok + b->login.failed,
                   b->opt.users);
    else if (b->login.failed)
        bench_fail(b, "%zu of %ld logins failed", b->login.failed, b->opt.users);
}

static void login_summary(struct bench *b, FILE *out)
{
    fprintf(out, "  %.1f logins/s at concurrency %ld (%zu ok, %zu failed)\n", rate(b),
            b->opt.concurrency, b->login.ok, b->login.failed);
    bench_summary_latency(out, "login latency", &b->login.latency);
}

const struct bench_scenario bench_scn_login = {
    .name = "login",
    .help = "N logins (connect, TLS, SASL, bind, presence, close) at --concurrency; logins/s",
    .start = login_start,
    .online = login_online,
    .logins_done = login_done,
    .report = login_report,
    .summary = login_summary,
};
