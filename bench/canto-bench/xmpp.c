/*
 * xmpp.c: the client login of canto-bench, as a state machine over the
 * top-level elements scan.c finds (RFC 6120 sections 4-7).
 *
 *   connect -> [direct TLS] -> stream header -> features
 *     -> [<starttls/> -> <proceed/> -> TLS -> stream header -> features]
 *     -> <auth/> (<challenge/> <response/>)* <success/>
 *     -> stream header -> features -> bind iq -> [session iq] -> [roster get]
 *     -> initial presence: online
 *
 * Only what the next step needs is looked at: the mechanism list, the
 * STARTTLS, bind and session features, the id and type of iq results, the
 * payload of SASL elements. A <stream:error/>, a SASL <failure/> or an error
 * result is counted by kind and by condition and ends the connection. Once
 * online, every element goes to the scenario.
 */
#include <string.h>

#include "bench.h"
#include "sasl.h"

#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"

static bool name_is(const struct bench_elem *e, const char *name)
{
    size_t n = strlen(name);
    return e->name_len == n && memcmp(e->name, name, n) == 0;
}

static bool attr_is(const struct bench_elem *e, const char *attr, const char *value)
{
    const char *v;
    size_t vlen;
    size_t n = strlen(value);
    return bench_elem_attr(e->p, e->n, attr, &v, &vlen) && vlen == n && memcmp(v, value, n) == 0;
}

/* Count the condition of an error element (first child of <error/>, of
 * <failure/> or of <stream:error/>) under kind. */
static void count_condition(struct bench *b, const char *kind, const struct bench_elem *e,
                            bool inside_error_child)
{
    const char *p = e->p;
    size_t n = e->n, from = 0;
    if (inside_error_child) {
        const char *err = memmem(p, n, "<error", 6);
        if (!err) {
            bench_condition(b, kind, "unknown", 7);
            return;
        }
        from = (size_t)(err - p);
    }
    const char *name;
    size_t len;
    if (bench_elem_first_child(p, n, from, &name, &len))
        bench_condition(b, kind, name, len);
    else
        bench_condition(b, kind, "unknown", 7);
}

static void open_stream(struct bench_conn *c)
{
    bench_scan_reset(&c->scan, 0);
    c->state = BENCH_CS_FEATURES;
    bench_conn_send_str(c, c->b->stream_header);
}

void bench_xmpp_connected(struct bench_conn *c)
{
    struct bench *b = c->b;
    if (b->opt.protocol == BENCH_PROTO_RELAY) {
        struct canto_buf j = {0};
        canto_buf_appendf(&j, "%s%u@%s", b->opt.prefix, c->account, b->opt.domain);
        c->jid = canto_buf_steal(&j);
        c->state = BENCH_CS_ONLINE;
        bench_login_succeeded(c);
        return;
    }
    if (b->opt.tls == BENCH_TLS_DIRECT) {
        bench_tls_begin(c);
        return;
    }
    open_stream(c);
}

void bench_xmpp_tls_ready(struct bench_conn *c)
{
    open_stream(c);
}

static void go_online(struct bench_conn *c)
{
    struct bench *b = c->b;
    if (b->opt.priority_set) {
        char p[96];
        snprintf(p, sizeof p, "<presence><priority>%ld</priority></presence>", b->opt.priority);
        bench_conn_send_str(c, p);
    } else {
        bench_conn_send_str(c, "<presence/>");
    }
    c->state = BENCH_CS_ONLINE;
    bench_login_succeeded(c);
}

static void after_session(struct bench_conn *c)
{
    if (c->b->scn->fetch_roster) {
        bench_conn_send_str(c, "<iq type='get' id='roster1'><query xmlns='jabber:iq:roster'/></iq>");
        c->state = BENCH_CS_ROSTER;
        return;
    }
    go_online(c);
}

/* Does the session feature say <optional/>? (RFC 6121 appendix E) */
static bool session_required(const struct bench_elem *e)
{
    const char *s = memmem(e->p, e->n, NS_SESSION, strlen(NS_SESSION));
    if (!s)
        return false;
    size_t rest = e->n - (size_t)(s - e->p);
    const char *gt = memchr(s, '>', rest);
    if (!gt || gt[-1] == '/')
        return true; /* <session xmlns=.../>: required (old servers) */
    const char *end = memmem(s, rest, "session>", 8);
    size_t span = end ? (size_t)(end - s) : rest;
    return memmem(s, span, "<optional", 9) == NULL;
}

static void on_features(struct bench_conn *c, const struct bench_elem *e)
{
    struct bench *b = c->b;
    if (!c->tls_on && b->opt.tls == BENCH_TLS_STARTTLS) {
        if (!bench_elem_has(e->p, e->n, "<starttls")) {
            bench_conn_fail(c, BENCH_ERR_STARTTLS, "STARTTLS is not offered");
            return;
        }
        bench_conn_send_str(c, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
        c->state = BENCH_CS_PROCEED;
        return;
    }
    if (!c->authed) {
        const char *mech = bench_mech_name(b->opt.mech);
        char want[64];
        snprintf(want, sizeof want, ">%s</", mech);
        if (!bench_elem_has(e->p, e->n, want)) {
            bench_conn_fail(c, BENCH_ERR_MECHANISM, "mechanism %s not offered: %.*s", mech,
                            (int)(e->n > 300 ? 300 : e->n), e->p);
            return;
        }
        char user[128];
        snprintf(user, sizeof user, "%s%u", b->opt.prefix, c->account);
        struct canto_buf out = {0};
        canto_buf_appendf(&out, "<auth xmlns='" NS_SASL "' mechanism='%s'>", mech);
        c->sasl = bench_sasl_start(b->sasl, user, &out);
        canto_buf_append_str(&out, "</auth>");
        bench_conn_send(c, out.data, out.len);
        canto_buf_free_secret(&out);
        c->state = BENCH_CS_SASL;
        return;
    }
    if (!bench_elem_has(e->p, e->n, NS_BIND)) {
        bench_conn_fail(c, BENCH_ERR_BIND, "no bind feature after authentication");
        return;
    }
    c->need_session = session_required(e);
    struct canto_buf out = {0};
    canto_buf_append_str(&out, "<iq type='set' id='bind1'><bind xmlns='" NS_BIND "'><resource>");
    canto_buf_append_xml_escaped(&out, b->opt.resource, strlen(b->opt.resource), false);
    if (b->opt.accounts < b->opt.users) /* an account logs in more than once: no conflicts */
        canto_buf_appendf(&out, "-%u", c->index);
    canto_buf_append_str(&out, "</resource></bind></iq>");
    bench_conn_send(c, out.data, out.len);
    canto_buf_free(&out);
    c->state = BENCH_CS_BIND;
}

static void on_sasl(struct bench_conn *c, const struct bench_elem *e)
{
    struct bench *b = c->b;
    const char *payload, *why = "?";
    size_t plen;
    bench_elem_content(e->p, e->n, &payload, &plen);
    if (name_is(e, "challenge")) {
        struct canto_buf out = {0};
        canto_buf_append_str(&out, "<response xmlns='" NS_SASL "'>");
        if (bench_sasl_challenge(b->sasl, c->sasl, payload, plen, &out, &why) != CANTO_OK) {
            canto_buf_free(&out);
            bench_conn_fail(c, BENCH_ERR_SCRAM, "SCRAM: %s", why);
            return;
        }
        canto_buf_append_str(&out, "</response>");
        bench_conn_send(c, out.data, out.len);
        canto_buf_free_secret(&out);
    } else if (name_is(e, "success")) {
        if (bench_sasl_success(c->sasl, payload, plen, &why) != CANTO_OK) {
            bench_conn_fail(c, BENCH_ERR_SCRAM, "SCRAM: %s", why);
            return;
        }
        bench_sasl_free(c->sasl);
        c->sasl = NULL;
        c->authed = true;
        open_stream(c); /* stream restart (RFC 6120 6.4.6) */
    } else if (name_is(e, "failure")) {
        count_condition(b, "auth", e, false);
        bench_conn_fail(c, BENCH_ERR_AUTH, "SASL failure: %.*s", (int)(e->n > 300 ? 300 : e->n),
                        e->p);
    }
}

/* An iq result or error for the login step waiting on `id`. Returns 1 for
 * a result, -1 for an error (already counted and failed), 0 if not ours. */
static int iq_answer(struct bench_conn *c, const struct bench_elem *e, const char *id,
                     const char *kind, enum bench_error err)
{
    if (!name_is(e, "iq") || !attr_is(e, "id", id))
        return 0;
    if (attr_is(e, "type", "result"))
        return 1;
    count_condition(c->b, kind, e, true);
    bench_conn_fail(c, err, "%s refused: %.*s", kind, (int)(e->n > 300 ? 300 : e->n), e->p);
    return -1;
}

static void on_login_element(struct bench_conn *c, const struct bench_elem *e)
{
    switch (c->state) {
    case BENCH_CS_FEATURES:
        if (name_is(e, "features"))
            on_features(c, e);
        break;
    case BENCH_CS_PROCEED:
        if (name_is(e, "proceed")) {
            c->stop_feed = true;
            bench_tls_begin(c);
        } else if (name_is(e, "failure")) {
            bench_conn_fail(c, BENCH_ERR_STARTTLS, "STARTTLS refused");
        }
        break;
    case BENCH_CS_SASL:
        on_sasl(c, e);
        break;
    case BENCH_CS_BIND:
        if (iq_answer(c, e, "bind1", "bind", BENCH_ERR_BIND) == 1) {
            const char *jid;
            size_t len;
            if (!bench_elem_child_text(e->p, e->n, "jid", &jid, &len) || len == 0) {
                bench_conn_fail(c, BENCH_ERR_BIND, "bind result without a JID");
                return;
            }
            c->jid = canto_xstrndup(jid, len);
            if (c->need_session) {
                bench_conn_send_str(c, "<iq type='set' id='sess1'><session xmlns='" NS_SESSION
                                       "'/></iq>");
                c->state = BENCH_CS_SESSION;
            } else {
                after_session(c);
            }
        }
        break;
    case BENCH_CS_SESSION:
        if (iq_answer(c, e, "sess1", "session", BENCH_ERR_SESSION) == 1)
            after_session(c);
        break;
    case BENCH_CS_ROSTER:
        if (iq_answer(c, e, "roster1", "roster", BENCH_ERR_ROSTER) == 1) {
            uint32_t items = 0;
            const char *p = e->p, *end = e->p + e->n;
            while ((p = memmem(p, (size_t)(end - p), "<item", 5)) != NULL) {
                items++;
                p += 5;
            }
            c->roster_items = items;
            go_online(c);
        }
        break;
    default:
        break;
    }
}

/* RFC 6120 8.2.3: an iq get or set must be answered. The bench answers a
 * ping (XEP-0199, which some servers send to idle clients) with a result
 * and anything else with service-unavailable. Attribute values are copied
 * as they came, escaped, inside the quote character they came in. */
static void answer_iq(struct bench_conn *c, const struct bench_elem *e)
{
    if (!attr_is(e, "type", "get") && !attr_is(e, "type", "set"))
        return;
    const char *id, *from;
    size_t idlen, fromlen;
    if (!bench_elem_attr(e->p, e->n, "id", &id, &idlen))
        return;
    struct canto_buf out = {0};
    canto_buf_appendf(&out, "<iq type='%s' id=%c%.*s%c",
                      bench_elem_has(e->p, e->n, "urn:xmpp:ping") ? "result" : "error", id[-1],
                      (int)idlen, id, id[-1]);
    if (bench_elem_attr(e->p, e->n, "from", &from, &fromlen))
        canto_buf_appendf(&out, " to=%c%.*s%c", from[-1], (int)fromlen, from, from[-1]);
    if (bench_elem_has(e->p, e->n, "urn:xmpp:ping"))
        canto_buf_append_str(&out, "/>");
    else
        canto_buf_append_str(&out, "><error type='cancel'><service-unavailable "
                                   "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
    bench_conn_send(c, out.data, out.len);
    canto_buf_free(&out);
}

void bench_xmpp_event(struct bench_conn *c, enum bench_scan_event ev, const char *p, size_t n)
{
    struct bench *b = c->b;
    if (ev == BENCH_SCAN_HEADER)
        return;
    if (ev == BENCH_SCAN_END) {
        bench_conn_fail(c, BENCH_ERR_CLOSED, "server closed the stream (state %d)", c->state);
        return;
    }
    struct bench_elem e = {.p = p, .n = n};
    bench_elem_name(p, n, &e.name, &e.name_len);
    if (name_is(&e, "error")) { /* only <stream:error/> is a top-level "error" */
        count_condition(b, "stream", &e, false);
        bench_conn_fail(c, BENCH_ERR_STREAM, "stream error: %.*s", (int)(n > 300 ? 300 : n), p);
        return;
    }
    if (c->state == BENCH_CS_ONLINE) {
        if (name_is(&e, "iq"))
            answer_iq(c, &e);
        if (b->scn->stanza)
            b->scn->stanza(b, c, &e);
        return;
    }
    on_login_element(c, &e);
}
