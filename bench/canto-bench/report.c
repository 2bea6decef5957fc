/*
 * report.c: the result of a run, as JSON (--json FILE) and as a few human
 * lines on stdout.
 *
 * The document's layout is fixed and documented in docs/bench.md:
 *   tool, version, scenario, target{}, params{}, results{}, errors{}, ok,
 *   message.
 * "results" holds the scenario's own members followed by the common ones
 * (logins, tls, scram, server, bench). Every error kind is always present
 * in "errors", zero or not, so scripts can read them without guessing.
 */
#include <errno.h>
#include <string.h>

#include "bench.h"
#include "json.h"
#include "sasl.h"

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

void bench_json_latency(struct bench_json *j, const char *key, const struct bench_hist *h)
{
    bench_json_open(j, key);
    bench_json_u64(j, "count", h->count);
    bench_json_double(j, "min_ms", ms(h->count ? h->min : 0));
    bench_json_double(j, "mean_ms", bench_hist_mean(h) / 1e6);
    bench_json_double(j, "p50_ms", ms(bench_hist_quantile(h, 0.50)));
    bench_json_double(j, "p90_ms", ms(bench_hist_quantile(h, 0.90)));
    bench_json_double(j, "p99_ms", ms(bench_hist_quantile(h, 0.99)));
    bench_json_double(j, "p999_ms", ms(bench_hist_quantile(h, 0.999)));
    bench_json_double(j, "max_ms", ms(h->max));
    bench_json_close(j);
}

void bench_summary_latency(FILE *out, const char *label, const struct bench_hist *h)
{
    if (h->count == 0) {
        fprintf(out, "  %s: no samples\n", label);
        return;
    }
    fprintf(out, "  %s: p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.3f ms\n",
            label, ms(bench_hist_quantile(h, 0.5)), ms(bench_hist_quantile(h, 0.9)),
            ms(bench_hist_quantile(h, 0.99)), ms(bench_hist_quantile(h, 0.999)), ms(h->max));
}

static double login_elapsed(const struct bench *b)
{
    if (!b->login.t_first || b->login.t_last <= b->login.t_first)
        return 0;
    return (double)(b->login.t_last - b->login.t_first) / 1e9;
}

static void write_target(struct bench *b, struct bench_json *j)
{
    const struct bench_opts *o = &b->opt;
    bench_json_open(j, "target");
    bench_json_str(j, "server", o->server);
    bench_json_str(j, "protocol", o->protocol == BENCH_PROTO_RELAY ? "relay" : "xmpp");
    bench_json_str(j, "tls", o->protocol == BENCH_PROTO_RELAY ? "none" : bench_tls_name(o->tls));
    bench_json_bool(j, "tls_resume", o->tls_resume);
    bench_json_str(j, "mech", o->protocol == BENCH_PROTO_RELAY ? NULL : bench_mech_name(o->mech));
    bench_json_str(j, "domain", o->domain);
    if (o->server_pid > 0)
        bench_json_i64(j, "server_pid", o->server_pid);
    else
        bench_json_null(j, "server_pid");
    bench_json_close(j);
}

static void write_params(struct bench *b, struct bench_json *j)
{
    const struct bench_opts *o = &b->opt;
    bench_json_open(j, "params");
    bench_json_i64(j, "users", o->users);
    bench_json_i64(j, "accounts", o->accounts);
    bench_json_str(j, "prefix", o->prefix);
    bench_json_i64(j, "first", o->first);
    bench_json_str(j, "resource", o->resource);
    if (o->priority_set)
        bench_json_i64(j, "priority", o->priority);
    else
        bench_json_null(j, "priority");
    bench_json_i64(j, "concurrency", o->concurrency);
    bench_json_u64(j, "sources", o->nsources ? o->nsource_addrs : 0);
    bench_json_double(j, "duration_s", o->duration);
    bench_json_double(j, "warmup_s", o->warmup);
    bench_json_double(j, "settle_s", o->settle);
    bench_json_double(j, "grace_s", o->grace);
    bench_json_double(j, "timeout_s", o->timeout);
    bench_json_double(j, "login_timeout_s", o->login_timeout);
    if (o->rate > 0)
        bench_json_double(j, "rate", o->rate);
    else
        bench_json_null(j, "rate");
    if (o->window > 0)
        bench_json_i64(j, "window", o->window);
    else
        bench_json_null(j, "window");
    bench_json_str(j, "peers", o->peers_random ? "random" : "pairs");
    bench_json_u64(j, "seed", o->seed);
    bench_json_i64(j, "pad", o->pad);
    bench_json_i64(j, "contacts", o->contacts);
    bench_json_close(j);
}

static void write_common_results(struct bench *b, struct bench_json *j)
{
    double el = login_elapsed(b);
    bench_json_open(j, "logins");
    bench_json_u64(j, "ok", b->login.ok);
    bench_json_u64(j, "failed", b->login.failed);
    bench_json_double(j, "elapsed_s", el);
    bench_json_double(j, "per_s", el > 0 ? (double)b->login.ok / el : 0);
    bench_json_latency(j, "latency", &b->login.latency);
    bench_json_close(j);

    bench_json_open(j, "tls");
    bench_json_u64(j, "full_handshakes", b->tls_full);
    bench_json_u64(j, "resumed", b->tls_resumed);
    bench_json_close(j);

    bench_json_open(j, "scram");
    bench_json_u64(j, "derivations", b->sasl ? b->sasl->derivations : 0);
    bench_json_u64(j, "cache_hits", b->sasl ? b->sasl->cache_hits : 0);
    bench_json_u64(j, "cache_loaded", b->sasl ? b->sasl->loaded : 0);
    bench_json_close(j);

    double window = (double)(b->self_mark1.t_ns - b->self_mark0.t_ns) / 1e9;
    if (b->opt.server_pid > 0 && b->server_start.valid && b->server_mark1.valid) {
        double cpu = b->server_mark1.cpu_s - b->server_mark0.cpu_s;
        bench_json_open(j, "server");
        bench_json_i64(j, "pid", b->opt.server_pid);
        bench_json_u64(j, "rss_start_kb", b->server_start.rss_kb);
        bench_json_u64(j, "rss_before_kb", b->server_mark0.rss_kb);
        bench_json_u64(j, "rss_after_kb", b->server_mark1.rss_kb);
        bench_json_u64(j, "rss_peak_kb", b->server_mark1.hwm_kb);
        bench_json_double(j, "cpu_s", cpu);
        bench_json_double(j, "cpu_percent", window > 0 ? 100.0 * cpu / window : 0);
        bench_json_close(j);
    } else {
        bench_json_null(j, "server");
    }
    double cpu = b->self_mark1.cpu_s - b->self_mark0.cpu_s;
    bench_json_open(j, "bench");
    bench_json_double(j, "wall_s", bench_elapsed(b));
    bench_json_double(j, "window_s", window);
    bench_json_double(j, "cpu_s", cpu);
    bench_json_double(j, "cpu_percent", window > 0 ? 100.0 * cpu / window : 0);
    bench_json_u64(j, "rss_peak_kb", b->self_mark1.hwm_kb);
    bench_json_close(j);
}

static uint64_t error_total(const struct bench *b)
{
    uint64_t t = 0;
    for (int k = 0; k < BENCH_ERR_COUNT; k++)
        t += b->errors[k];
    return t;
}

static void write_errors(struct bench *b, struct bench_json *j)
{
    bench_json_open(j, "errors");
    bench_json_u64(j, "total", error_total(b));
    for (int k = 0; k < BENCH_ERR_COUNT; k++)
        bench_json_u64(j, bench_error_names[k], b->errors[k]);
    bench_json_open(j, "conditions");
    for (size_t i = 0; i < b->nconditions; i++)
        bench_json_u64(j, b->conditions[i].name, b->conditions[i].count);
    bench_json_close(j);
    bench_json_close(j);
}

static void summary(struct bench *b, FILE *out)
{
    const struct bench_opts *o = &b->opt;
    if (o->protocol == BENCH_PROTO_RELAY)
        fprintf(out, "canto-bench %s: %ld users, raw relay at %s\n", b->scn->name, o->users,
                o->server);
    else
        fprintf(out, "canto-bench %s: %ld users, %s at %s (%s, %s)\n", b->scn->name, o->users,
                o->domain, o->server, bench_tls_name(o->tls), bench_mech_name(o->mech));
    if (b->scn->summary)
        b->scn->summary(b, out);
    double el = login_elapsed(b);
    fprintf(out, "  logins: %zu ok, %zu failed in %.2f s (%.0f/s)", b->login.ok,
            b->login.failed, el, el > 0 ? (double)b->login.ok / el : 0.0);
    if (b->login.latency.count)
        fprintf(out, "; latency p50 %.2f ms, p99 %.2f ms",
                ms(bench_hist_quantile(&b->login.latency, 0.5)),
                ms(bench_hist_quantile(&b->login.latency, 0.99)));
    if (b->tls_full + b->tls_resumed)
        fprintf(out, "; TLS %llu full, %llu resumed", (unsigned long long)b->tls_full,
                (unsigned long long)b->tls_resumed);
    if (b->sasl && b->sasl->derivations)
        fprintf(out, "; %llu PBKDF2 on the bench", (unsigned long long)b->sasl->derivations);
    fprintf(out, "\n");
    double window = (double)(b->self_mark1.t_ns - b->self_mark0.t_ns) / 1e9;
    if (o->server_pid > 0 && b->server_mark1.valid) {
        double cpu = b->server_mark1.cpu_s - b->server_mark0.cpu_s;
        fprintf(out, "  server: cpu %.2f s over %.2f s (%.0f%%), rss %llu KB at start, %llu -> %llu KB\n",
                cpu, window, window > 0 ? 100 * cpu / window : 0.0,
                (unsigned long long)b->server_start.rss_kb,
                (unsigned long long)b->server_mark0.rss_kb,
                (unsigned long long)b->server_mark1.rss_kb);
    }
    double cpu = b->self_mark1.cpu_s - b->self_mark0.cpu_s;
    fprintf(out, "  bench: cpu %.2f s over %.2f s (%.0f%%), peak rss %llu KB\n", cpu, window,
            window > 0 ? 100 * cpu / window : 0.0, (unsigned long long)b->self_mark1.hwm_kb);
    if (error_total(b) == 0) {
        fprintf(out, "  errors: none\n");
    } else {
        fprintf(out, "  errors:");
        const char *sep = " ";
        for (int k = 0; k < BENCH_ERR_COUNT; k++) {
            if (b->errors[k]) {
                fprintf(out, "%s%s %llu", sep, bench_error_names[k],
                        (unsigned long long)b->errors[k]);
                sep = ", ";
            }
        }
        for (size_t i = 0; i < b->nconditions; i++)
            fprintf(out, "%s%s %llu", sep, b->conditions[i].name,
                    (unsigned long long)b->conditions[i].count);
        fprintf(out, "\n");
    }
    if (b->ok)
        fprintf(out, "  result: ok\n");
    else
        fprintf(out, "  result: FAILED: %s\n", b->message);
}

int bench_report(struct bench *b)
{
    struct bench_json j;
    bench_json_init(&j);
    bench_json_open(&j, NULL);
    bench_json_str(&j, "tool", "canto-bench");
    bench_json_i64(&j, "version", 1);
    bench_json_str(&j, "scenario", b->scn->name);
    write_target(b, &j);
    write_params(b, &j);
    bench_json_open(&j, "results");
    if (b->scn->report && b->conns)
        b->scn->report(b, &j);
    if (b->conns)
        write_common_results(b, &j);
    bench_json_close(&j);
    uint64_t errors = error_total(b);
    if (errors)
        bench_fail(b, "%llu errors during the run (see \"errors\")", (unsigned long long)errors);
    write_errors(b, &j);
    bench_json_bool(&j, "ok", b->ok);
    bench_json_str(&j, "message", b->ok ? NULL : b->message);
    bench_json_close(&j);

    int status = b->ok ? 0 : 1;
    if (b->opt.json_path) {
        FILE *f = strcmp(b->opt.json_path, "-") == 0 ? stdout : fopen(b->opt.json_path, "w");
        if (!f) {
            fprintf(stderr, "canto-bench: cannot write %s: %s\n", b->opt.json_path,
                    strerror(errno));
            status = 1;
        } else {
            fwrite(j.out.data, 1, j.out.len, f);
            if (f != stdout && fclose(f) != 0) {
                fprintf(stderr, "canto-bench: cannot write %s\n", b->opt.json_path);
                status = 1;
            }
        }
    }
    bench_json_free(&j);
    /* with --json - the document owns stdout and the summary goes to stderr */
    FILE *out = b->opt.json_path && strcmp(b->opt.json_path, "-") == 0 ? stderr : stdout;
    if (b->conns)
        summary(b, out);
    else
        fprintf(out, "canto-bench %s: cannot run: %s\n", b->scn->name, b->message);
    fflush(out);
    return status;
}
