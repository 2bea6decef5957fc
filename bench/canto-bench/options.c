/*
 * options.c: canto-bench's command line.
 *
 * `canto-bench SCENARIO [--option value ...]`. Every option has a default
 * chosen so that a bare `canto-bench idle` measures a local server on the
 * standard port; the full list, with the JSON names of the values, is in
 * docs/bench.md. Numbers are parsed strictly (the whole argument must be a
 * number in range), and a bad value is a usage error, never a silent zero.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

const char *bench_tls_name(enum bench_tls_mode t)
{
    switch (t) {
    case BENCH_TLS_STARTTLS: return "starttls";
    case BENCH_TLS_DIRECT: return "direct";
    default: return "none";
    }
}

const char *bench_mech_name(enum bench_mech m)
{
    switch (m) {
    case BENCH_MECH_SCRAM_SHA1: return "SCRAM-SHA-1";
    case BENCH_MECH_PLAIN: return "PLAIN";
    default: return "SCRAM-SHA-256";
    }
}

void bench_usage(FILE *out)
{
    fprintf(out,
        "usage: canto-bench SCENARIO [options]\n"
        "\n"
        "Scenarios:\n");
    for (size_t i = 0; bench_scenarios[i]; i++)
        fprintf(out, "  %-10s %s\n", bench_scenarios[i]->name, bench_scenarios[i]->help);
    fprintf(out,
        "\n"
        "Target:\n"
        "  --server HOST:PORT      server address, an IP literal (127.0.0.1:5222)\n"
        "  --domain DOMAIN         XMPP domain of the accounts (localhost)\n"
        "  --tls MODE              starttls, direct (XEP-0368) or none (starttls)\n"
        "  --tls-resume yes|no     offer the last TLS session to new connections (yes)\n"
        "  --mech MECH             SCRAM-SHA-256, SCRAM-SHA-1 or PLAIN (SCRAM-SHA-256)\n"
        "  --protocol P            xmpp, or relay: raw TCP to canto-relay (chat only) (xmpp)\n"
        "Accounts (PREFIX<n>@DOMAIN, n from FIRST):\n"
        "  --prefix P              (bench)\n"
        "  --first N               (1)\n"
        "  -n, --users N           connections; total logins for `login` (10)\n"
        "  --accounts M            login: cycle over M accounts (N)\n"
        "  --password PW           the common password (bench)\n"
        "  --resource R            resource to bind (bench)\n"
        "  --priority P            priority in the initial presence (none)\n"
        "  --scram-cache FILE      keep derived SCRAM keys in FILE between runs\n"
        "Load:\n"
        "  --concurrency C         logins in flight (50)\n"
        "  --sources A-B[,C-D]     IPv4 source addresses, round robin (kernel's choice)\n"
        "  --duration S            measured seconds (chat, presence) (10)\n"
        "  --warmup S              unmeasured seconds before (2)\n"
        "  --settle S              idle: seconds between last login and measure (5)\n"
        "  --grace S               seconds to wait for messages in flight at the end (5)\n"
        "  --rate R                chat, presence: total stanzas per second, open loop\n"
        "  --window W              chat: unacknowledged messages per sender (16 without --rate)\n"
        "  --peers pairs|random    chat: who talks to whom (pairs)\n"
        "  --seed N                random peers seed (1)\n"
        "  --pad B                 chat: extra body bytes per message (0)\n"
        "  --contacts K            presence: expected contacts per roster (0 = as found)\n"
        "Measurement and limits:\n"
        "  --server-pid PID        read the server's RSS and CPU time from /proc\n"
        "  --json FILE             write the machine-readable result to FILE\n"
        "  --timeout S             hard overall deadline (computed from the other times)\n"
        "  --login-timeout S       a login slower than this fails (30)\n"
        "  -q, --quiet             no progress lines on stderr\n"
        "  -h, --help\n");
}

static bool parse_seconds(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v >= 0) || v > 1e6)
        return false;
    *out = v;
    return true;
}

/* HOST:PORT with an IPv4 literal (or "localhost"), or [IPv6]:PORT. */
static bool parse_server(const char *s, struct sockaddr_storage *out)
{
    char host[64];
    const char *colon;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof host)
            return false;
        snprintf(host, sizeof host, "%.*s", (int)(close - s - 1), s + 1);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || (size_t)(colon - s) >= sizeof host)
            return false;
        snprintf(host, sizeof host, "%.*s", (int)(colon - s), s);
    }
    long port;
    if (canto_parse_long(colon + 1, 1, 65535, &port) != CANTO_OK)
        return false;
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    memset(out, 0, sizeof *out);
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out) == 0)
        return true;
    return uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)out) == 0;
}

/* "A", "A-B" (B an address or the last octet), comma separated. */
static bool parse_sources(const char *s, struct bench_opts *o)
{
    char item[64];
    o->nsources = 0;
    o->nsource_addrs = 0;
    while (*s) {
        size_t len = strcspn(s, ",");
        if (len == 0 || len >= sizeof item || o->nsources == CANTO_ARRAY_LEN(o->sources))
            return false;
        snprintf(item, sizeof item, "%.*s", (int)len, s);
        s += len + (s[len] == ',');
        char *dash = strchr(item, '-');
        if (dash)
            *dash = '\0';
        struct in_addr a, z;
        if (inet_pton(AF_INET, item, &a) != 1)
            return false;
        uint32_t first = ntohl(a.s_addr), last = first;
        if (dash) {
            long octet;
            if (inet_pton(AF_INET, dash + 1, &z) == 1)
                last = ntohl(z.s_addr);
            else if (canto_parse_long(dash + 1, 0, 255, &octet) == CANTO_OK)
                last = (first & 0xffffff00u) | (uint32_t)octet;
            else
                return false;
        }
        if (last < first)
            return false;
        o->sources[o->nsources].first = first;
        o->sources[o->nsources].last = last;
        o->nsources++;
        o->nsource_addrs += (uint64_t)(last - first) + 1;
    }
    return o->nsources > 0;
}

static void defaults(struct bench_opts *o)
{
    memset(o, 0, sizeof *o);
    o->server = "127.0.0.1:5222";
    o->domain = "localhost";
    o->tls = BENCH_TLS_STARTTLS;
    o->mech = BENCH_MECH_SCRAM_SHA256;
    o->protocol = BENCH_PROTO_XMPP;
    o->tls_resume = true;
    o->prefix = "bench";
    o->first = 1;
    o->users = 10;
    o->password = "bench";
    o->resource = "bench";
    o->concurrency = 50;
    o->duration = 10;
    o->warmup = 2;
    o->settle = 5;
    o->grace = 5;
    o->login_timeout = 30;
    o->seed = 1;
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "canto-bench: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(canto-bench --help lists the options)\n");
    return 2;
}

int bench_options_parse(struct bench *b, int argc, char **argv)
{
    struct bench_opts *o = &b->opt;
    defaults(o);
    bool rate_set = false, window_set = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            bench_usage(stdout);
            return 1;
        }
        if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            o->quiet = true;
            continue;
        }
        if (a[0] != '-') {
            if (o->scenario)
                return usage_error("unexpected argument '%s'", a);
            o->scenario = a;
            continue;
        }
        if (i + 1 >= argc)
            return usage_error("option %s needs a value", a);
        const char *v = argv[++i];
        long n;
        if (strcmp(a, "--server") == 0) {
            o->server = v;
        } else if (strcmp(a, "--domain") == 0) {
            o->domain = v;
        } else if (strcmp(a, "--tls") == 0) {
            if (strcmp(v, "starttls") == 0) o->tls = BENCH_TLS_STARTTLS;
            else if (strcmp(v, "direct") == 0) o->tls = BENCH_TLS_DIRECT;
            else if (strcmp(v, "none") == 0) o->tls = BENCH_TLS_NONE;
            else return usage_error("--tls: starttls, direct or none, not '%s'", v);
        } else if (strcmp(a, "--tls-resume") == 0) {
            if (strcmp(v, "yes") == 0) o->tls_resume = true;
            else if (strcmp(v, "no") == 0) o->tls_resume = false;
            else return usage_error("--tls-resume: yes or no, not '%s'", v);
        } else if (strcmp(a, "--mech") == 0) {
            if (strcmp(v, "SCRAM-SHA-256") == 0) o->mech = BENCH_MECH_SCRAM_SHA256;
            else if (strcmp(v, "SCRAM-SHA-1") == 0) o->mech = BENCH_MECH_SCRAM_SHA1;
            else if (strcmp(v, "PLAIN") == 0) o->mech = BENCH_MECH_PLAIN;
            else return usage_error("--mech: SCRAM-SHA-256, SCRAM-SHA-1 or PLAIN, not '%s'", v);
        } else if (strcmp(a, "--protocol") == 0) {
            if (strcmp(v, "xmpp") == 0) o->protocol = BENCH_PROTO_XMPP;
            else if (strcmp(v, "relay") == 0) o->protocol = BENCH_PROTO_RELAY;
            else return usage_error("--protocol: xmpp or relay, not '%s'", v);
        } else if (strcmp(a, "--prefix") == 0) {
            o->prefix = v;
        } else if (strcmp(a, "--first") == 0) {
            if (canto_parse_long(v, 0, 1000000000L, &o->first) != CANTO_OK)
                return usage_error("--first: a number from 0, not '%s'", v);
        } else if (strcmp(a, "-n") == 0 || strcmp(a, "--users") == 0) {
            if (canto_parse_long(v, 1, 100000000L, &o->users) != CANTO_OK)
                return usage_error("--users: a number from 1, not '%s'", v);
        } else if (strcmp(a, "--accounts") == 0) {
            if (canto_parse_long(v, 1, 100000000L, &o->accounts) != CANTO_OK)
                return usage_error("--accounts: a number from 1, not '%s'", v);
        } else if (strcmp(a, "--password") == 0) {
            o->password = v;
        } else if (strcmp(a, "--resource") == 0) {
            o->resource = v;
        } else if (strcmp(a, "--priority") == 0) {
            if (canto_parse_long(v, -128, 127, &o->priority) != CANTO_OK)
                return usage_error("--priority: -128 to 127, not '%s'", v);
            o->priority_set = true;
        } else if (strcmp(a, "--scram-cache") == 0) {
            o->scram_cache = v;
        } else if (strcmp(a, "--concurrency") == 0) {
            if (canto_parse_long(v, 1, 1000000L, &o->concurrency) != CANTO_OK)
                return usage_error("--concurrency: a number from 1, not '%s'", v);
        } else if (strcmp(a, "--sources") == 0) {
            if (!parse_sources(v, o))
                return usage_error("--sources: IPv4 ranges like 127.0.0.1-127.0.0.20, not '%s'", v);
        } else if (strcmp(a, "--duration") == 0) {
            if (!parse_seconds(v, &o->duration))
                return usage_error("--duration: seconds, not '%s'", v);
        } else if (strcmp(a, "--warmup") == 0) {
            if (!parse_seconds(v, &o->warmup))
                return usage_error("--warmup: seconds, not '%s'", v);
        } else if (strcmp(a, "--settle") == 0) {
            if (!parse_seconds(v, &o->settle))
                return usage_error("--settle: seconds, not '%s'", v);
        } else if (strcmp(a, "--grace") == 0) {
            if (!parse_seconds(v, &o->grace))
                return usage_error("--grace: seconds, not '%s'", v);
        } else if (strcmp(a, "--timeout") == 0) {
            if (!parse_seconds(v, &o->timeout) || o->timeout < 1)
                return usage_error("--timeout: seconds (at least 1), not '%s'", v);
        } else if (strcmp(a, "--login-timeout") == 0) {
            if (!parse_seconds(v, &o->login_timeout) || o->login_timeout < 0.1)
                return usage_error("--login-timeout: seconds, not '%s'", v);
        } else if (strcmp(a, "--rate") == 0) {
            if (!parse_seconds(v, &o->rate) || o->rate <= 0)
                return usage_error("--rate: a positive number per second, not '%s'", v);
            rate_set = true;
        } else if (strcmp(a, "--window") == 0) {
            if (canto_parse_long(v, 1, 1000000L, &o->window) != CANTO_OK)
                return usage_error("--window: a number from 1, not '%s'", v);
            window_set = true;
        } else if (strcmp(a, "--peers") == 0) {
            if (strcmp(v, "pairs") == 0) o->peers_random = false;
            else if (strcmp(v, "random") == 0) o->peers_random = true;
            else return usage_error("--peers: pairs or random, not '%s'", v);
        } else if (strcmp(a, "--seed") == 0) {
            if (canto_parse_long(v, 0, 2147483647L, &n) != CANTO_OK)
                return usage_error("--seed: a number, not '%s'", v);
            o->seed = (uint64_t)n;
        } else if (strcmp(a, "--pad") == 0) {
            if (canto_parse_long(v, 0, 65536, &o->pad) != CANTO_OK)
                return usage_error("--pad: 0 to 65536 bytes, not '%s'", v);
        } else if (strcmp(a, "--contacts") == 0) {
            if (canto_parse_long(v, 0, 100000, &o->contacts) != CANTO_OK)
                return usage_error("--contacts: a number, not '%s'", v);
        } else if (strcmp(a, "--server-pid") == 0) {
            if (canto_parse_long(v, 1, 4194304L, &o->server_pid) != CANTO_OK)
                return usage_error("--server-pid: a process id, not '%s'", v);
        } else if (strcmp(a, "--json") == 0) {
            o->json_path = v;
        } else {
            return usage_error("unknown option '%s'", a);
        }
    }
    if (!o->scenario)
        return usage_error("%s", "name a scenario (idle, login, chat, presence)");
    b->scn = bench_scenario_find(o->scenario);
    if (!b->scn)
        return usage_error("unknown scenario '%s'", o->scenario);
    if (!parse_server(o->server, &o->server_addr))
        return usage_error("--server: HOST:PORT with an IP address, not '%s'", o->server);
    if (o->nsources && o->server_addr.ss_family != AF_INET)
        return usage_error("%s", "--sources are IPv4 addresses: give an IPv4 --server");
    if (rate_set && window_set)
        return usage_error("%s", "give --rate (open loop) or --window (closed loop), not both");
    if (!rate_set && !window_set)
        o->window = 16;
    if (rate_set)
        o->window = 0;
    if (o->accounts == 0 || o->accounts > o->users || strcmp(b->scn->name, "login") != 0)
        o->accounts = o->users;
    if (o->protocol == BENCH_PROTO_RELAY && !b->scn->relay_ok)
        return usage_error("--protocol relay works with the chat scenario only, not '%s'",
                           o->scenario);
    if (o->mech == BENCH_MECH_PLAIN && o->tls == BENCH_TLS_NONE)
        fprintf(stderr, "canto-bench: warning: PLAIN without TLS sends the password in clear; "
                        "most servers refuse it\n");
    if ((uint64_t)o->first + (uint64_t)o->users > 4000000000ULL)
        return usage_error("%s", "--first + --users is too large");
    char msg[256] = "";
    if (b->scn->check && !b->scn->check(b, msg, sizeof msg))
        return usage_error("%s", msg);
    if (o->timeout == 0)
        o->timeout = 60 + o->warmup + o->duration + o->settle + o->grace + o->login_timeout +
                     (double)o->users / 50.0;
    return 0;
}
