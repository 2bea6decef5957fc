/*
 * run.c: the life of one canto-bench run: set up the loop and the limits,
 * start the scenario, stop by itself, tear down.
 *
 * Every run is bounded: the overall deadline (--timeout) closes everything
 * and stops the loop whatever the scenario is doing, SIGINT/SIGTERM do the
 * same, and the final graceful close of all connections is itself bounded by
 * a short timer, after which the remaining handles are closed abruptly. The
 * report is written after the loop has stopped, from the counters alone.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "sasl.h"

#define FD_SLACK 64        /* descriptors besides the connections (stdio, loop, files) */
#define STOP_GRACE_MS 3000 /* bound on the final graceful close */

const char *const bench_error_names[BENCH_ERR_COUNT] = {
    [BENCH_ERR_CONNECT_REFUSED] = "connect_refused",
    [BENCH_ERR_CONNECT] = "connect_failed",
    [BENCH_ERR_ADDR] = "address_unavailable",
    [BENCH_ERR_NOFILE] = "out_of_files",
    [BENCH_ERR_TLS] = "tls_failed",
    [BENCH_ERR_STARTTLS] = "starttls_unavailable",
    [BENCH_ERR_MECHANISM] = "mechanism_unavailable",
    [BENCH_ERR_AUTH] = "auth_failed",
    [BENCH_ERR_SCRAM] = "scram_invalid",
    [BENCH_ERR_BIND] = "bind_failed",
    [BENCH_ERR_SESSION] = "session_failed",
    [BENCH_ERR_ROSTER] = "roster_failed",
    [BENCH_ERR_STREAM] = "stream_error",
    [BENCH_ERR_CLOSED] = "closed_by_server",
    [BENCH_ERR_IO] = "io_error",
    [BENCH_ERR_PROTOCOL] = "protocol_error",
    [BENCH_ERR_LOGIN_TIMEOUT] = "login_timeout",
    [BENCH_ERR_MESSAGE] = "message_error",
    [BENCH_ERR_BACKLOG] = "send_backlog",
    [BENCH_ERR_DEADLINE] = "deadline",
    [BENCH_ERR_INTERRUPTED] = "interrupted",
};

double bench_elapsed(const struct bench *b)
{
    return (double)(uv_hrtime() - b->t_begin) / 1e9;
}

void bench_progress(struct bench *b, const char *fmt, ...)
{
    if (b->opt.quiet)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "[%7.2f s] %s\n", bench_elapsed(b), line);
}

void bench_error(struct bench *b, enum bench_error kind, const char *fmt, ...)
{
    b->errors[kind]++;
    if (b->error_printed[kind])
        return;
    b->error_printed[kind] = true;
    char line[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "canto-bench: first %s error: %s\n", bench_error_names[kind], line);
}

void bench_condition(struct bench *b, const char *kind, const char *name, size_t len)
{
    char key[sizeof b->conditions[0].name];
    snprintf(key, sizeof key, "%s:%.*s", kind, (int)len, name);
    for (size_t i = 0; i < b->nconditions; i++) {
        if (strcmp(b->conditions[i].name, key) == 0) {
            b->conditions[i].count++;
            return;
        }
    }
    size_t i = b->nconditions;
    if (i == BENCH_MAX_CONDITIONS) {
        i--; /* the last slot collects the overflow */
        snprintf(b->conditions[i].name, sizeof b->conditions[i].name, "other");
    } else {
        snprintf(b->conditions[i].name, sizeof b->conditions[i].name, "%s", key);
        b->nconditions++;
    }
    b->conditions[i].count++;
}

void bench_fail(struct bench *b, const char *fmt, ...)
{
    if (!b->ok)
        return;
    b->ok = false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->message, sizeof b->message, fmt, ap);
    va_end(ap);
}

void bench_mark(struct bench *b, int which)
{
    struct bench_proc *srv = which ? &b->server_mark1 : &b->server_mark0;
    struct bench_proc *self = which ? &b->self_mark1 : &b->self_mark0;
    if (b->opt.server_pid > 0 && !bench_proc_sample(b->opt.server_pid, srv))
        bench_error(b, BENCH_ERR_IO, "cannot read /proc/%ld: the server process is gone",
                    b->opt.server_pid);
    bench_proc_sample(0, self);
    if (which)
        b->have_marks = true;
}

static void on_stop_timer(uv_timer_t *t)
{
    struct bench *b = t->data;
    uv_stop(&b->loop);
}

/* Close every connection (gracefully or not) and stop once all are gone. */
static void stop_all(struct bench *b, bool graceful)
{
    bool first = !b->stopping;
    b->stopping = true;
    bench_logins_halt(b);
    for (size_t i = 0; i < b->nconns; i++)
        if (b->conns[i])
            bench_conn_close(b->conns[i], graceful);
    if (!graceful) /* closing abruptly also what a graceful close left waiting */
        uv_stop(&b->loop);
    if (b->open == 0)
        uv_stop(&b->loop);
    else if (first)
        uv_timer_start(&b->stop_timer, on_stop_timer, STOP_GRACE_MS, 0);
}

void bench_finish(struct bench *b)
{
    if (b->stopping)
        return;
    if (!b->have_marks)
        bench_mark(b, 1);
    bench_progress(b, "closing %zu connections", b->online);
    stop_all(b, true);
}

static void on_deadline(uv_timer_t *t)
{
    struct bench *b = t->data;
    bench_error(b, BENCH_ERR_DEADLINE, "the run did not finish within --timeout %.0f s",
                b->opt.timeout);
    bench_fail(b, "stopped by the overall deadline (--timeout %.0f s): %zu of %zu logins "
                  "finished, %zu online",
               b->opt.timeout, b->login.ok + b->login.failed, b->login.total, b->online);
    if (!b->have_marks)
        bench_mark(b, 1);
    stop_all(b, false);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct bench *b = s->data;
    bench_error(b, BENCH_ERR_INTERRUPTED, "signal %d", signum);
    bench_fail(b, "interrupted by signal %d", signum);
    if (!b->have_marks)
        bench_mark(b, 1);
    stop_all(b, false);
}

static void on_sweep(uv_timer_t *t)
{
    struct bench *b = t->data;
    bench_logins_sweep(b);
    static const uint64_t every = 2; /* seconds between progress lines */
    uint64_t s = (uv_hrtime() - b->t_begin) / 1000000000u;
    if (!b->login.done && b->login.total > 0 && s % every == 0)
        bench_progress(b, "logins: %zu ok, %zu failed, %zu in flight, of %zu", b->login.ok,
                       b->login.failed, b->login.in_flight, b->login.total);
}

static void on_check(uv_check_t *h)
{
    bench_flush_dirty(h->data);
}

/* Ports one source address offers to one destination. */
static uint64_t local_ports(void)
{
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    unsigned lo = 32768, hi = 60999;
    if (f) {
        if (fscanf(f, "%u %u", &lo, &hi) != 2) {
            lo = 32768;
            hi = 60999;
        }
        fclose(f);
    }
    return hi >= lo ? (uint64_t)(hi - lo + 1) : 1;
}

/* Can this process (and the server) hold the connections the run needs? */
static bool check_limits(struct bench *b)
{
    const struct bench_opts *o = &b->opt;
    bool login = strcmp(b->scn->name, "login") == 0;
    /* login: in flight plus those still closing; others: all at once */
    uint64_t conns = login ? (uint64_t)o->concurrency * 2 : (uint64_t)o->users;
    if (login && conns > (uint64_t)o->users)
        conns = (uint64_t)o->users;
    uint64_t limit = bench_raise_nofile();
    if (conns + FD_SLACK > limit) {
        snprintf(b->message, sizeof b->message,
                 "%llu connections need about %llu open files, but this process may open at "
                 "most %llu (RLIMIT_NOFILE hard limit, which cannot be raised here): use at "
                 "most %llu %s per canto-bench process",
                 (unsigned long long)conns, (unsigned long long)(conns + FD_SLACK),
                 (unsigned long long)limit,
                 (unsigned long long)(limit > FD_SLACK ? limit - FD_SLACK : 0),
                 login ? "concurrent logins (--concurrency, twice over)" : "users");
        return false;
    }
    uint64_t ports = local_ports() * (o->nsources ? o->nsource_addrs : 1);
    if (conns > ports) {
        snprintf(b->message, sizeof b->message,
                 "%llu connections to one server address need more than the %llu local ports "
                 "available: add source addresses with --sources 127.0.0.1-127.0.0.N",
                 (unsigned long long)conns, (unsigned long long)ports);
        return false;
    }
    if (o->server_pid > 0 && o->protocol == BENCH_PROTO_XMPP) {
        uint64_t srv = bench_proc_nofile(o->server_pid);
        if (srv && !login && (uint64_t)o->users + 16 > srv)
            fprintf(stderr,
                    "canto-bench: warning: the server (pid %ld) may open at most %llu files; "
                    "%ld sessions will not all fit\n",
                    o->server_pid, (unsigned long long)srv, o->users);
    }
    return true;
}

bool bench_setup(struct bench *b)
{
    b->ok = true;
    bench_hist_init(&b->login.latency);
    if (!check_limits(b))
        return false;
    if (b->opt.server_pid > 0 && !bench_proc_sample(b->opt.server_pid, &b->server_start)) {
        snprintf(b->message, sizeof b->message, "--server-pid %ld: no such process",
                 b->opt.server_pid);
        return false;
    }
    struct canto_buf h = {0};
    canto_buf_append_str(&h, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                             "xmlns:stream='http://etherx.jabber.org/streams' to='");
    canto_buf_append_xml_escaped(&h, b->opt.domain, strlen(b->opt.domain), true);
    canto_buf_append_str(&h, "' version='1.0' xml:lang='en'>");
    b->stream_header = canto_buf_steal(&h);
    if (!bench_tls_setup(b))
        return false;
    b->sasl = bench_sasl_ctx_new(b->opt.mech, b->opt.password);
    if (b->opt.scram_cache &&
        !bench_sasl_cache_load(b->sasl, b->opt.scram_cache, b->message, sizeof b->message))
        return false;
    b->nconns = (size_t)b->opt.users;
    b->conns = canto_xcalloc(b->nconns, sizeof *b->conns);
    uv_loop_init(&b->loop);
    uv_timer_init(&b->loop, &b->deadline);
    uv_timer_init(&b->loop, &b->sweep);
    uv_timer_init(&b->loop, &b->stop_timer);
    uv_check_init(&b->loop, &b->flusher);
    uv_signal_init(&b->loop, &b->sigint);
    uv_signal_init(&b->loop, &b->sigterm);
    b->deadline.data = b->sweep.data = b->stop_timer.data = b->flusher.data = b;
    b->sigint.data = b->sigterm.data = b;
    return true;
}

void bench_run(struct bench *b)
{
    b->t_begin = uv_hrtime();
    bench_mark(b, 0);
    uv_timer_start(&b->deadline, on_deadline, (uint64_t)(b->opt.timeout * 1000), 0);
    uv_timer_start(&b->sweep, on_sweep, 1000, 1000);
    uv_check_start(&b->flusher, on_check);
    uv_signal_start(&b->sigint, on_signal, SIGINT);
    uv_signal_start(&b->sigterm, on_signal, SIGTERM);
    b->scn->start(b);
    uv_run(&b->loop, UV_RUN_DEFAULT);
    if (!b->have_marks)
        bench_mark(b, 1);
}

static void close_any(uv_handle_t *h, void *arg)
{
    if (uv_is_closing(h))
        return;
    if (h->type == UV_TCP)
        uv_close(h, bench_conn_on_closed);
    else
        uv_close(h, NULL);
}

void bench_teardown(struct bench *b)
{
    if (b->conns) { /* the loop was set up */
        b->stopping = true;
        uv_walk(&b->loop, close_any, NULL);
        uv_run(&b->loop, UV_RUN_DEFAULT);
        uv_loop_close(&b->loop);
    }
    if (b->scn && b->scn->free)
        b->scn->free(b);
    if (b->sasl && b->opt.scram_cache) {
        char msg[256];
        if (!bench_sasl_cache_save(b->sasl, b->opt.scram_cache, msg, sizeof msg))
            fprintf(stderr, "canto-bench: %s\n", msg);
    }
    bench_sasl_ctx_free(b->sasl);
    bench_tls_teardown(b);
    free(b->conns);
    free(b->stream_header);
}
