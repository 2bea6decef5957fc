/*
 * scn_chat.c: the `chat` scenario: one-to-one messages through the server,
 * throughput, loss and latency.
 *
 * N users (N even) log in; then every user sends
 *   <message type='chat' to='PEER'><body>TIMESTAMP_NS SEQ</body></message>
 * to its partner (pairs: 2k <-> 2k+1) or to a random other user, either
 * open loop at --rate messages per second in total (a 1 ms pacer computes
 * how many are due and deals them round robin over the senders, so a slow
 * server does not slow the offered load), or closed loop as fast as possible
 * with at most --window messages per sender not yet received by their
 * receiver. Receivers live in this process, so a delivery is an
 * acknowledgement without any extra traffic, and the latency is measured on
 * one monotonic clock.
 *
 * Phases: warmup (not measured), --duration measured, then sending stops and
 * up to --grace seconds are given to what is still in flight. Throughput is
 * deliveries inside the measured window divided by its length; latency is
 * recorded for messages sent inside it. Any message not delivered at the end
 * is lost, and a loss fails the run.
 *
 * With --protocol relay the same stanzas go over raw TCP through canto-relay
 * (pairs only), which bounds what any server can do on this machine.
 */
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "json.h"

#define BACKLOG_LIMIT (4u * 1024 * 1024) /* bytes queued to the server before sends are skipped */

enum { PH_LOGIN, PH_WARMUP, PH_MEASURE, PH_GRACE, PH_DONE };

struct chat_state {
    uv_timer_t phase_timer;     /* warmup -> measure -> grace -> done */
    uv_timer_t pacer;           /* rate mode: every millisecond */
    uv_timer_t grace_poll;      /* grace: has everything arrived? */
    int phase;
    uint64_t t0, t_measure, t_end, t_grace; /* uv_hrtime marks */
    uint64_t scheduled;         /* rate mode: messages dealt so far */
    size_t next_sender;
    size_t n;                   /* users */
    uint32_t *outstanding;      /* per sender: sent, not yet received */
    uint32_t *next_seq;         /* per sender */
    uint32_t *expect_seq;       /* per receiver (pairs only) */
    uint32_t *refill;           /* window mode: senders to top up */
    uint8_t *in_refill;
    size_t nrefill;
    uint64_t rng;
    char *pad;                  /* --pad filler, with a leading space */
    uint64_t sent, delivered, sent_measured, delivered_measured;
    uint64_t bounced, out_of_order, unmatched;
    struct bench_hist latency;
};

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

static size_t peer_of(struct chat_state *st, struct bench *b, size_t s)
{
    if (!b->opt.peers_random)
        return s ^ 1u;
    size_t t = (size_t)(xorshift(&st->rng) % (st->n - 1));
    return t >= s ? t + 1 : t;
}

static bool sending(const struct chat_state *st)
{
    return st->phase == PH_WARMUP || st->phase == PH_MEASURE;
}

static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

static char *put_u64(char *p, uint64_t v)
{
    char digits[24];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = digits[--n];
    return p;
}

/* Queue one message from sender s. Returns false if it could not be sent. */
static bool send_one(struct bench *b, struct chat_state *st, size_t s)
{
    struct bench_conn *c = b->conns[s];
    struct bench_conn *to = b->conns[peer_of(st, b, s)];
    if (!c || !to || !to->jid)
        return false;
    if (bench_conn_backlog(c) > BACKLOG_LIMIT) {
        bench_error(b, BENCH_ERR_BACKLOG, "%s: more than %u bytes queued to the server",
                    c->jid ? c->jid : "?", BACKLOG_LIMIT);
        return false;
    }
    /* composed by hand: this is the bench's hottest path, and snprintf
     * cost more than everything else it does per message */
    size_t jlen = strlen(to->jid), plen = strlen(st->pad);
    char stack[1024];
    size_t need = jlen + plen + 96;
    char *msg = need <= sizeof stack ? stack : canto_xmalloc(need);
    char *p = msg;
    p = put(p, "<message type='chat' to='", 25);
    p = put(p, to->jid, jlen);
    p = put(p, "'><body>", 8);
    p = put_u64(p, uv_hrtime());
    *p++ = ' ';
    p = put_u64(p, st->next_seq[s]);
    p = put(p, st->pad, plen);
    p = put(p, "</body></message>", 17);
    bench_conn_send(c, msg, (size_t)(p - msg));
    if (msg != stack)
        free(msg);
    st->next_seq[s]++;
    st->outstanding[s]++;
    st->sent++;
    if (st->phase == PH_MEASURE)
        st->sent_measured++;
    return true;
}

static void top_up(struct bench *b, struct chat_state *st, size_t s)
{
    while (st->outstanding[s] < (uint32_t)b->opt.window)
        if (!send_one(b, st, s))
            break;
}

static void chat_before_flush(struct bench *b)
{
    struct chat_state *st = b->scn_state;
    if (!st || st->nrefill == 0)
        return;
    for (size_t i = 0; i < st->nrefill; i++) {
        size_t s = st->refill[i];
        st->in_refill[s] = 0;
        if (sending(st))
            top_up(b, st, s);
    }
    st->nrefill = 0;
}

static void on_pacer(uv_timer_t *t)
{
    struct bench *b = t->data;
    struct chat_state *st = b->scn_state;
    if (!sending(st))
        return;
    double due = b->opt.rate * (double)(uv_hrtime() - st->t0) / 1e9;
    while ((double)st->scheduled < due) {
        size_t s = st->next_sender++ % st->n;
        st->scheduled++;
        send_one(b, st, s);
    }
}

static void finish(struct bench *b, struct chat_state *st)
{
    st->phase = PH_DONE;
    uv_timer_stop(&st->grace_poll);
    bench_progress(b, "chat: sent %llu, delivered %llu", (unsigned long long)st->sent,
                   (unsigned long long)st->delivered);
    bench_finish(b);
}

static void on_grace_poll(uv_timer_t *t)
{
    struct bench *b = t->data;
    struct chat_state *st = b->scn_state;
    if (st->delivered + st->bounced >= st->sent || uv_hrtime() >= st->t_grace)
        finish(b, st);
}

static void on_phase(uv_timer_t *t)
{
    struct bench *b = t->data;
    struct chat_state *st = b->scn_state;
    if (st->phase == PH_WARMUP) {
        st->phase = PH_MEASURE;
        st->t_measure = uv_hrtime();
        st->t_end = st->t_measure + (uint64_t)(b->opt.duration * 1e9);
        bench_mark(b, 0);
        bench_progress(b, "chat: measuring for %.1f s", b->opt.duration);
        uv_timer_start(&st->phase_timer, on_phase, (uint64_t)(b->opt.duration * 1000), 0);
    } else if (st->phase == PH_MEASURE) {
        st->phase = PH_GRACE;
        st->t_end = uv_hrtime();
        st->t_grace = st->t_end + (uint64_t)(b->opt.grace * 1e9);
        bench_mark(b, 1);
        uv_timer_stop(&st->pacer);
        bench_progress(b, "chat: measured; waiting up to %.1f s for %llu messages in flight",
                       b->opt.grace, (unsigned long long)(st->sent - st->delivered - st->bounced));
        uv_timer_start(&st->grace_poll, on_grace_poll, 0, 10);
    }
}

static void chat_logins_done(struct bench *b)
{
    struct chat_state *st = b->scn_state;
    if (b->online < st->n) {
        bench_fail(b, "chat needs all %zu users online, %zu are", st->n, b->online);
        st->phase = PH_DONE;
        bench_finish(b);
        return;
    }
    st->phase = PH_WARMUP;
    st->t0 = uv_hrtime();
    st->t_measure = st->t0 + (uint64_t)(b->opt.warmup * 1e9); /* provisional */
    st->t_end = UINT64_MAX;
    bench_progress(b, "chat: %zu users online; warmup %.1f s, %s", st->n, b->opt.warmup,
                   b->opt.rate > 0 ? "open loop" : "closed loop");
    uv_timer_start(&st->phase_timer, on_phase, (uint64_t)(b->opt.warmup * 1000), 0);
    if (b->opt.rate > 0) {
        uv_timer_start(&st->pacer, on_pacer, 1, 1);
    } else {
        for (size_t s = 0; s < st->n; s++)
            top_up(b, st, s);
    }
}

/* Sender of a delivered message: the partner in pairs mode, else the
 * account number in the from address. SIZE_MAX if unknown. */
static size_t sender_of(struct bench *b, struct chat_state *st, struct bench_conn *c,
                        const struct bench_elem *e)
{
    if (!b->opt.peers_random)
        return c->index ^ 1u;
    const char *from;
    size_t flen, plen = strlen(b->opt.prefix);
    if (!bench_elem_attr(e->p, e->n, "from", &from, &flen) || flen <= plen ||
        memcmp(from, b->opt.prefix, plen) != 0)
        return SIZE_MAX;
    const char *p = from + plen;
    uint64_t acct;
    if (!bench_parse_u64(&p, from + flen, &acct) || acct < (uint64_t)b->opt.first)
        return SIZE_MAX;
    uint64_t s = acct - (uint64_t)b->opt.first;
    return s < st->n ? (size_t)s : SIZE_MAX;
}

static void chat_stanza(struct bench *b, struct bench_conn *c, const struct bench_elem *e)
{
    struct chat_state *st = b->scn_state;
    if (e->name_len != 7 || memcmp(e->name, "message", 7) != 0)
        return;
    const char *type;
    size_t tlen;
    const char *gt = memchr(e->p, '>', e->n); /* a cheap filter before the exact test */
    if (gt && memmem(e->p, (size_t)(gt - e->p), "error", 5) &&
        bench_elem_attr(e->p, e->n, "type", &type, &tlen) && tlen == 5 &&
        memcmp(type, "error", 5) == 0) {
        /* bounced back to its sender, c */
        st->bounced++;
        if (st->outstanding[c->index])
            st->outstanding[c->index]--;
        bench_error(b, BENCH_ERR_MESSAGE, "message bounced: %.*s", (int)(e->n > 300 ? 300 : e->n),
                    e->p);
        return;
    }
    const char *body, *end;
    size_t blen;
    uint64_t ts, seq;
    if (!bench_elem_child_text(e->p, e->n, "body", &body, &blen)) {
        st->unmatched++;
        return;
    }
    end = body + blen;
    if (!bench_parse_u64(&body, end, &ts) || body >= end || *body++ != ' ' ||
        !bench_parse_u64(&body, end, &seq)) {
        st->unmatched++;
        return;
    }
    uint64_t now = b->read_ns;
    size_t s = sender_of(b, st, c, e);
    if (s == SIZE_MAX) {
        st->unmatched++;
        return;
    }
    st->delivered++;
    if (st->phase == PH_MEASURE && now >= st->t_measure)
        st->delivered_measured++;
    if (ts >= st->t_measure && ts < st->t_end && now >= ts)
        bench_hist_record(&st->latency, now - ts);
    if (!b->opt.peers_random) {
        if (seq != st->expect_seq[c->index])
            st->out_of_order++;
        st->expect_seq[c->index] = (uint32_t)seq + 1;
    }
    if (st->outstanding[s])
        st->outstanding[s]--;
    if (b->opt.window > 0 && sending(st) && !st->in_refill[s]) {
        st->in_refill[s] = 1;
        st->refill[st->nrefill++] = (uint32_t)s;
    }
}

static bool chat_check(struct bench *b, char *msg, size_t size)
{
    if (b->opt.users < 2 || b->opt.users % 2) {
        snprintf(msg, size, "chat needs an even number of users (at least 2), not %ld",
                 b->opt.users);
        return false;
    }
    if (b->opt.protocol == BENCH_PROTO_RELAY && b->opt.peers_random) {
        snprintf(msg, size, "the relay pairs connections: --peers random needs --protocol xmpp");
        return false;
    }
    return true;
}

static void chat_start(struct bench *b)
{
    struct chat_state *st = canto_xcalloc(1, sizeof *st);
    b->scn_state = st;
    st->n = (size_t)b->opt.users;
    st->outstanding = canto_xcalloc(st->n, sizeof *st->outstanding);
    st->next_seq = canto_xcalloc(st->n, sizeof *st->next_seq);
    st->expect_seq = canto_xcalloc(st->n, sizeof *st->expect_seq);
    st->refill = canto_xcalloc(st->n, sizeof *st->refill);
    st->in_refill = canto_xcalloc(st->n, 1);
    st->rng = b->opt.seed * 0x9e3779b97f4a7c15ULL + 1;
    st->pad = canto_xmalloc((size_t)b->opt.pad + 2);
    st->pad[0] = '\0';
    if (b->opt.pad > 0) {
        st->pad[0] = ' ';
        memset(st->pad + 1, 'x', (size_t)b->opt.pad);
        st->pad[b->opt.pad + 1] = '\0';
    }
    bench_hist_init(&st->latency);
    uv_timer_init(&b->loop, &st->phase_timer);
    uv_timer_init(&b->loop, &st->pacer);
    uv_timer_init(&b->loop, &st->grace_poll);
    st->phase_timer.data = st->pacer.data = st->grace_poll.data = b;
    bench_progress(b, "chat: logging in %zu users", st->n);
    bench_logins_start(b, st->n);
}

static double measured_s(const struct chat_state *st)
{
    if (st->t_end == UINT64_MAX || st->t_end <= st->t_measure || st->phase < PH_GRACE)
        return 0;
    return (double)(st->t_end - st->t_measure) / 1e9;
}

static void chat_report(struct bench *b, struct bench_json *j)
{
    struct chat_state *st = b->scn_state;
    if (!st)
        return;
    double secs = measured_s(st);
    uint64_t lost = st->sent > st->delivered ? st->sent - st->delivered : 0;
    bench_json_str(j, "mode", b->opt.rate > 0 ? "rate" : "window");
    bench_json_u64(j, "sent", st->sent);
    bench_json_u64(j, "delivered", st->delivered);
    bench_json_u64(j, "lost", lost);
    bench_json_u64(j, "bounced", st->bounced);
    bench_json_u64(j, "out_of_order", st->out_of_order);
    bench_json_u64(j, "unmatched", st->unmatched);
    bench_json_double(j, "measured_s", secs);
    bench_json_u64(j, "sent_measured", st->sent_measured);
    bench_json_u64(j, "delivered_measured", st->delivered_measured);
    bench_json_double(j, "sent_per_s", secs > 0 ? (double)st->sent_measured / secs : 0);
    bench_json_double(j, "delivered_per_s", secs > 0 ? (double)st->delivered_measured / secs : 0);
    bench_json_latency(j, "latency", &st->latency);
    if (st->phase < PH_GRACE)
        bench_fail(b, "the chat run did not reach the end of its measurement");
    else if (lost)
        bench_fail(b, "%llu of %llu messages lost", (unsigned long long)lost,
                   (unsigned long long)st->sent);
    else if (st->out_of_order)
        bench_fail(b, "%llu messages out of order", (unsigned long long)st->out_of_order);
}

static void chat_summary(struct bench *b, FILE *out)
{
    struct chat_state *st = b->scn_state;
    if (!st)
        return;
    double secs = measured_s(st);
    if (b->opt.rate > 0)
        fprintf(out, "  %s, open loop at %.0f msg/s\n",
                b->opt.peers_random ? "random peers" : "pairs", b->opt.rate);
    else
        fprintf(out, "  %s, closed loop with window %ld per sender\n",
                b->opt.peers_random ? "random peers" : "pairs", b->opt.window);
    fprintf(out, "  sent %llu, delivered %llu, lost %llu; %.0f msg/s delivered over %.2f s\n",
            (unsigned long long)st->sent, (unsigned long long)st->delivered,
            (unsigned long long)(st->sent > st->delivered ? st->sent - st->delivered : 0),
            secs > 0 ? (double)st->delivered_measured / secs : 0.0, secs);
    bench_summary_latency(out, "latency", &st->latency);
}

static void chat_free(struct bench *b)
{
    struct chat_state *st = b->scn_state;
    if (!st)
        return;
    free(st->outstanding);
    free(st->next_seq);
    free(st->expect_seq);
    free(st->refill);
    free(st->in_refill);
    free(st->pad);
    free(st);
    b->scn_state = NULL;
}

const struct bench_scenario bench_scn_chat = {
    .name = "chat",
    .help = "N users send messages (--rate R or --window W); msg/s, loss, latency",
    .relay_ok = true,
    .check = chat_check,
    .start = chat_start,
    .logins_done = chat_logins_done,
    .stanza = chat_stanza,
    .before_flush = chat_before_flush,
    .report = chat_report,
    .summary = chat_summary,
    .free = chat_free,
};
