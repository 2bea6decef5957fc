/*
 * scn_idle.c: the `idle` scenario: what an idle authenticated session costs
 * the server.
 *
 * N accounts log in (TLS, SASL, bind, initial presence) and stay. When every
 * login has finished and --settle seconds have passed, the server's RSS and
 * CPU time are read again (--server-pid); the memory per session is the
 * growth of the server's RSS since before the first connection divided by
 * the sessions online at that moment. Then every connection closes.
 * Allocators keep memory once freed, so this is only meaningful against a
 * freshly started server.
 */
#include <stdlib.h>

#include "bench.h"
#include "json.h"

struct idle_state {
    uv_timer_t settle;  /* from the last login to the measurement */
    size_t sessions;    /* online when measured */
    bool measured;
};

static void on_settled(uv_timer_t *t)
{
    struct bench *b = t->data;
    struct idle_state *st = b->scn_state;
    st->sessions = b->online;
    st->measured = true;
    bench_mark(b, 1);
    bench_progress(b, "idle: %zu sessions online after %.1f s settle; measured", st->sessions,
                   b->opt.settle);
    bench_finish(b);
}

static void idle_start(struct bench *b)
{
    struct idle_state *st = canto_xcalloc(1, sizeof *st);
    b->scn_state = st;
    uv_timer_init(&b->loop, &st->settle);
    st->settle.data = b;
    bench_progress(b, "idle: logging in %ld users, %ld at a time", b->opt.users,
                   b->opt.concurrency);
    bench_logins_start(b, (size_t)b->opt.users);
}

static void idle_logins_done(struct bench *b)
{
    struct idle_state *st = b->scn_state;
    bench_progress(b, "idle: logins done (%zu ok, %zu failed); settling %.1f s", b->login.ok,
                   b->login.failed, b->opt.settle);
    uv_timer_start(&st->settle, on_settled, (uint64_t)(b->opt.settle * 1000), 0);
}

/* Server memory growth per session in KB, or a negative value if unknown. */
static double kb_per_session(const struct bench *b, const struct idle_state *st)
{
    if (b->opt.server_pid <= 0 || !b->server_mark1.valid || st->sessions == 0)
        return -1;
    double grown = (double)b->server_mark1.rss_kb - (double)b->server_start.rss_kb;
    return grown / (double)st->sessions;
}

static void idle_report(struct bench *b, struct bench_json *j)
{
    struct idle_state *st = b->scn_state;
    if (!st)
        return;
    bench_json_u64(j, "sessions", st->sessions);
    bench_json_u64(j, "failed", b->login.failed);
    double kb = kb_per_session(b, st);
    if (kb >= -0.5 && b->opt.server_pid > 0 && st->sessions) {
        bench_json_double(j, "kb_per_session", kb);
        bench_json_double(j, "server_cpu_ms_per_session",
                          1000.0 * (b->server_mark1.cpu_s - b->server_mark0.cpu_s) /
                              (double)st->sessions);
    } else {
        bench_json_null(j, "kb_per_session");
        bench_json_null(j, "server_cpu_ms_per_session");
    }
    if (!st->measured)
        bench_fail(b, "stopped before the measurement");
    else if (st->sessions < (size_t)b->opt.users)
        bench_fail(b, "only %zu of %ld sessions were online at the measurement", st->sessions,
                   b->opt.users);
}

static void idle_summary(struct bench *b, FILE *out)
{
    struct idle_state *st = b->scn_state;
    if (!st)
        return;
    if (!st->measured) {
        fprintf(out, "  stopped before the measurement (%zu logins had succeeded)\n", b->login.ok);
        return;
    }
    fprintf(out, "  sessions: %zu of %ld online after %.1f s settle\n", st->sessions,
            b->opt.users, b->opt.settle);
    double kb = kb_per_session(b, st);
    if (b->opt.server_pid > 0 && st->sessions && b->server_mark1.valid)
        fprintf(out, "  server memory: %.2f KB per session (rss %llu -> %llu KB), cpu %.1f ms per login\n",
                kb, (unsigned long long)b->server_start.rss_kb,
                (unsigned long long)b->server_mark1.rss_kb,
                1000.0 * (b->server_mark1.cpu_s - b->server_mark0.cpu_s) / (double)st->sessions);
}

static void idle_free(struct bench *b)
{
    free(b->scn_state);
    b->scn_state = NULL;
}

const struct bench_scenario bench_scn_idle = {
    .name = "idle",
    .help = "N sessions log in and stay; server KB per session (--server-pid)",
    .start = idle_start,
    .logins_done = idle_logins_done,
    .report = idle_report,
    .summary = idle_summary,
    .free = idle_free,
};
