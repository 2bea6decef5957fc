/*
 * scn_presence.c: the `presence` scenario: presence broadcast to rosters.
 *
 * N users whose rosters hold K contacts each (provisioned by the caller,
 * with subscriptions both ways; docs/bench.md says how per server) log in,
 * fetching their roster before initial presence as real clients do, so that
 * every login also costs the server a roster load. Then, at --rate changes
 * per second in total (open loop, round robin over the users), each user
 * alternates between
 *   <presence><show>away</show><status>TIMESTAMP_NS SEQ</status></presence>
 *   <presence><status>TIMESTAMP_NS SEQ</status></presence>
 * and every presence received from someone else is counted (a user's own
 * presence echoed back by its server is not). The result is presence
 * deliveries per second over the measured window, plus the latency from the
 * timestamp in the status.
 *
 * Without rosters there is nothing to measure: a refused roster request or
 * rosters that are all empty stop the run with a message that says so.
 */
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "json.h"

enum { PH_LOGIN, PH_WARMUP, PH_MEASURE, PH_GRACE, PH_DONE };

struct presence_state {
    uv_timer_t phase_timer;
    uv_timer_t pacer;
    uv_timer_t grace_poll;
    int phase;
    size_t n;
    uint64_t t0, t_measure, t_end, t_grace;
    uint64_t scheduled;
    size_t next_user;
    uint32_t *seq;              /* per user */
    uint64_t sent, sent_measured;
    uint64_t received, received_measured, initial, echoed;
    uint64_t roster_sum, roster_min, roster_max, rosters;
    struct bench_hist latency;
};

static void send_change(struct bench *b, struct presence_state *st, size_t u)
{
    struct bench_conn *c = b->conns[u];
    if (!c)
        return;
    char p[256];
    uint32_t seq = st->seq[u]++;
    snprintf(p, sizeof p, "<presence>%s<status>%llu %u</status></presence>",
             seq % 2 == 0 ? "<show>away</show>" : "", (unsigned long long)uv_hrtime(), seq);
    bench_conn_send_str(c, p);
    st->sent++;
    if (st->phase == PH_MEASURE)
        st->sent_measured++;
}

static void on_pacer(uv_timer_t *t)
{
    struct bench *b = t->data;
    struct presence_state *st = b->scn_state;
    double due = b->opt.rate * (double)(uv_hrtime() - st->t0) / 1e9;
    while ((double)st->scheduled < due) {
        st->scheduled++;
        send_change(b, st, st->next_user++ % st->n);
    }
}

/* Deliveries expected per change, when --contacts says it. */
static uint64_t expected(const struct bench *b, const struct presence_state *st)
{
    return b->opt.contacts > 0 ? st->sent * (uint64_t)b->opt.contacts : 0;
}

static void on_grace_poll(uv_timer_t *t)
{
    struct bench *b = t->data;
    struct presence_state *st = b->scn_state;
    uint64_t want = expected(b, st);
    if ((want && st->received >= want) || uv_hrtime() >= st->t_grace) {
        st->phase = PH_DONE;
        uv_timer_stop(&st->grace_poll);
        bench_finish(b);
    }
}

static void on_phase(uv_timer_t *t)
{
    struct bench *b = t->data;
    struct presence_state *st = b->scn_state;
    if (st->phase == PH_WARMUP) {
        st->phase = PH_MEASURE;
        st->t_measure = uv_hrtime();
        st->t_end = UINT64_MAX;
        bench_mark(b, 0);
        bench_progress(b, "presence: measuring for %.1f s", b->opt.duration);
        uv_timer_start(&st->phase_timer, on_phase, (uint64_t)(b->opt.duration * 1000), 0);
    } else if (st->phase == PH_MEASURE) {
        st->phase = PH_GRACE;
        st->t_end = uv_hrtime();
        st->t_grace = st->t_end + (uint64_t)(b->opt.grace * 1e9);
        bench_mark(b, 1);
        uv_timer_stop(&st->pacer);
        uv_timer_start(&st->grace_poll, on_grace_poll, 10, 10);
    }
}

static void presence_online(struct bench *b, struct bench_conn *c)
{
    struct presence_state *st = b->scn_state;
    uint64_t k = c->roster_items;
    if (st->rosters == 0 || k < st->roster_min)
        st->roster_min = k;
    if (k > st->roster_max)
        st->roster_max = k;
    st->roster_sum += k;
    st->rosters++;
}

static void presence_logins_done(struct bench *b)
{
    struct presence_state *st = b->scn_state;
    if (b->errors[BENCH_ERR_ROSTER]) {
        bench_fail(b, "the server refused the roster request (see \"conditions\"): the presence "
                      "scenario needs rosters with contacts, provisioned before the run "
                      "(docs/bench.md)");
    } else if (b->online < st->n) {
        bench_fail(b, "presence needs all %zu users online, %zu are", st->n, b->online);
    } else if (st->roster_sum == 0) {
        bench_fail(b, "every roster is empty: provision %s contacts per user with mutual "
                      "subscriptions before the run (docs/bench.md)",
                   b->opt.contacts > 0 ? "--contacts" : "K");
    }
    if (!b->ok) {
        st->phase = PH_DONE;
        bench_finish(b);
        return;
    }
    st->phase = PH_WARMUP;
    st->t0 = uv_hrtime();
    st->t_measure = UINT64_MAX;
    st->t_end = UINT64_MAX;
    bench_progress(b, "presence: %zu users online, rosters of %.1f contacts on average; warmup",
                   st->n, (double)st->roster_sum / (double)st->rosters);
    uv_timer_start(&st->phase_timer, on_phase, (uint64_t)(b->opt.warmup * 1000), 0);
    uv_timer_start(&st->pacer, on_pacer, 1, 1);
}

/* Is the bare JID in `from` that of c itself? */
static bool from_self(const struct bench_conn *c, const char *from, size_t flen)
{
    if (!c->jid)
        return false;
    const char *slash = strchr(c->jid, '/');
    size_t bare = slash ? (size_t)(slash - c->jid) : strlen(c->jid);
    return flen >= bare && memcmp(from, c->jid, bare) == 0 && (flen == bare || from[bare] == '/');
}

static void presence_stanza(struct bench *b, struct bench_conn *c, const struct bench_elem *e)
{
    struct presence_state *st = b->scn_state;
    if (e->name_len != 8 || memcmp(e->name, "presence", 8) != 0)
        return;
    const char *from;
    size_t flen;
    if (bench_elem_attr(e->p, e->n, "from", &from, &flen) && from_self(c, from, flen)) {
        st->echoed++;
        return;
    }
    const char *status, *end;
    size_t slen;
    uint64_t ts;
    if (st->phase < PH_WARMUP || !bench_elem_child_text(e->p, e->n, "status", &status, &slen)) {
        st->initial++; /* initial presence of contacts, not a change of ours */
        return;
    }
    end = status + slen;
    if (!bench_parse_u64(&status, end, &ts) || ts < st->t0) {
        st->initial++;
        return;
    }
    uint64_t now = uv_hrtime();
    st->received++;
    if (st->phase == PH_MEASURE && now >= st->t_measure)
        st->received_measured++;
    if (ts >= st->t_measure && ts < st->t_end && now >= ts)
        bench_hist_record(&st->latency, now - ts);
}

static bool presence_check(struct bench *b, char *msg, size_t size)
{
    if (b->opt.rate <= 0)
        b->opt.rate = (double)b->opt.users; /* one change per user per second */
    b->opt.window = 0;
    return true;
}

static void presence_start(struct bench *b)
{
    struct presence_state *st = canto_xcalloc(1, sizeof *st);
    b->scn_state = st;
    st->n = (size_t)b->opt.users;
    st->seq = canto_xcalloc(st->n, sizeof *st->seq);
    bench_hist_init(&st->latency);
    uv_timer_init(&b->loop, &st->phase_timer);
    uv_timer_init(&b->loop, &st->pacer);
    uv_timer_init(&b->loop, &st->grace_poll);
    st->phase_timer.data = st->pacer.data = st->grace_poll.data = b;
    bench_progress(b, "presence: logging in %zu users (with roster)", st->n);
    bench_logins_start(b, st->n);
}

static double measured_s(const struct presence_state *st)
{
    if (st->phase < PH_GRACE || st->t_end <= st->t_measure)
        return 0;
    return (double)(st->t_end - st->t_measure) / 1e9;
}

static void presence_report(struct bench *b, struct bench_json *j)
{
    struct presence_state *st = b->scn_state;
    if (!st)
        return;
    double secs = measured_s(st);
    bench_json_u64(j, "sent", st->sent);
    bench_json_u64(j, "received", st->received);
    uint64_t want = expected(b, st);
    bench_json_u64(j, "expected", want);
    /* not a failure: offered above capacity, the rest is the server's backlog */
    bench_json_u64(j, "missing", want > st->received ? want - st->received : 0);
    bench_json_u64(j, "initial", st->initial);
    bench_json_u64(j, "echoed", st->echoed);
    bench_json_double(j, "measured_s", secs);
    bench_json_u64(j, "sent_measured", st->sent_measured);
    bench_json_u64(j, "received_measured", st->received_measured);
    bench_json_double(j, "changes_per_s", secs > 0 ? (double)st->sent_measured / secs : 0);
    bench_json_double(j, "deliveries_per_s", secs > 0 ? (double)st->received_measured / secs : 0);
    bench_json_open(j, "roster_items");
    bench_json_u64(j, "min", st->roster_min);
    bench_json_u64(j, "max", st->roster_max);
    bench_json_double(j, "mean", st->rosters ? (double)st->roster_sum / (double)st->rosters : 0);
    bench_json_close(j);
    bench_json_latency(j, "latency", &st->latency);
    if (b->ok && st->phase < PH_GRACE)
        bench_fail(b, "the presence run did not reach the end of its measurement");
}

static void presence_summary(struct bench *b, FILE *out)
{
    struct presence_state *st = b->scn_state;
    if (!st)
        return;
    double secs = measured_s(st);
    fprintf(out, "  rosters: %.1f contacts on average (min %llu, max %llu)\n",
            st->rosters ? (double)st->roster_sum / (double)st->rosters : 0.0,
            (unsigned long long)st->roster_min, (unsigned long long)st->roster_max);
    fprintf(out, "  %llu changes sent, %llu presence deliveries; %.0f deliveries/s over %.2f s\n",
            (unsigned long long)st->sent, (unsigned long long)st->received,
            secs > 0 ? (double)st->received_measured / secs : 0.0, secs);
    uint64_t want = expected(b, st);
    if (want > st->received)
        fprintf(out, "  %llu of %llu expected deliveries did not arrive within the grace period "
                     "(the server's backlog at this rate)\n",
                (unsigned long long)(want - st->received), (unsigned long long)want);
    bench_summary_latency(out, "latency", &st->latency);
}

static void presence_free(struct bench *b)
{
    struct presence_state *st = b->scn_state;
    if (!st)
        return;
    free(st->seq);
    free(st);
    b->scn_state = NULL;
}

const struct bench_scenario bench_scn_presence = {
    .name = "presence",
    .help = "users with rosters of K contacts change presence at --rate; deliveries/s",
    .fetch_roster = true,
    .check = presence_check,
    .start = presence_start,
    .online = presence_online,
    .logins_done = presence_logins_done,
    .stanza = presence_stanza,
    .report = presence_report,
    .summary = presence_summary,
    .free = presence_free,
};
