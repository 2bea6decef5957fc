/*
 * strophe_client: a small libstrophe client that the integration tests
 * (test_libstrophe.py) drive against a test cantod.
 *
 *   strophe_client JID PASSWORD HOST PORT starttls|direct [TO BODY [wait]]
 *
 * It connects to HOST:PORT (STARTTLS, mandatory; or direct TLS), trusts the
 * self-signed test certificate, logs in with whatever SASL mechanism
 * libstrophe picks, binds, and sends initial presence. With TO and BODY it
 * sends a chat message to TO, then pings the server: the server answers that
 * ping only once everything sent before it has been handled, so the pong
 * means the message was accepted. With "wait" it then waits for a chat
 * message carrying a body and prints it. Then it closes the stream.
 *
 * stdout, one fact per line, for the test to read:
 *   AUTH-ATTEMPT <mechanism>     each <auth mechanism=.../> sent
 *   SASL-FAILURE <condition>     each SASL <failure/> received
 *   MECHANISM <mechanism>        the mechanism that authenticated
 *   CONNECTED <bound jid>        session established
 *   SECURED <0|1>                TLS in use
 *   DELIVERED                    the ping after the message came back
 *   MESSAGE-ERROR <xml>          a message of type error came back
 *   RECEIVED <from> <body>       a message arrived (with "wait")
 * libstrophe's own debug log goes to stderr.
 *
 * Exit status: 0 everything asked for was done; 1 usage; 2 could not log
 * in (connection, TLS or authentication failed); 3 logged in but a message
 * bounced or the stream ended early; 4 timed out (STROPHE_TIMEOUT seconds,
 * default 20).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <strophe.h>

struct state {
    xmpp_ctx_t *ctx;
    const char *to;          /* recipient, or NULL */
    const char *body;        /* message text, or NULL */
    int wait_reply;          /* wait for an incoming message */
    int connected;           /* session established */
    int delivered;           /* the ping after the message came back */
    int received;            /* a message arrived */
    int bounced;             /* a message of type error arrived */
    int done;                /* closing: stop at the next disconnect */
    int stopped;             /* the event loop should stop */
    char mechanism[64];      /* last mechanism tried */
};

/* Logger: everything to stderr; the SASL exchange is also summarised on
 * stdout, since libstrophe offers no API that names the mechanism used. */
static void log_handler(void *userdata, xmpp_log_level_t level,
                        const char *area, const char *msg)
{
    struct state *st = userdata;
    static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    fprintf(stderr, "%s %s %s\n", names[level], area, msg);

    const char *auth = strstr(msg, "<auth ");
    if (strncmp(msg, "SENT:", 5) == 0 && auth
        && strstr(auth, "urn:ietf:params:xml:ns:xmpp-sasl")) {
        const char *m = strstr(auth, "mechanism=");
        if (m) {
            m += strlen("mechanism=");
            char quote = *m++;
            const char *end = strchr(m, quote);
            if (end && (size_t)(end - m) < sizeof(st->mechanism)) {
                memcpy(st->mechanism, m, (size_t)(end - m));
                st->mechanism[end - m] = '\0';
                printf("AUTH-ATTEMPT %s\n", st->mechanism);
            }
        }
    }
    const char *fail = strstr(msg, "<failure");
    if (strncmp(msg, "RECV:", 5) == 0 && fail
        && strstr(fail, "urn:ietf:params:xml:ns:xmpp-sasl")) {
        const char *c = strchr(fail, '>');
        if (c && c[1] == '<') {
            const char *name = c + 2;
            size_t n = strcspn(name, " />");
            printf("SASL-FAILURE %.*s\n", (int)n, name);
        } else {
            printf("SASL-FAILURE ?\n");
        }
    }
    if (strstr(msg, "auth successful") && strncmp(msg, "SASL ", 5) == 0) {
        /* "SASL <MECH> auth successful" */
        const char *m = msg + 5;
        printf("MECHANISM %.*s\n", (int)strcspn(m, " "), m);
    }
    fflush(stdout);
}

static void finish(xmpp_conn_t *conn, struct state *st)
{
    if (st->done)
        return;
    st->done = 1;
    xmpp_disconnect(conn);
}

static int message_handler(xmpp_conn_t *conn, xmpp_stanza_t *stanza,
                           void *userdata)
{
    struct state *st = userdata;
    const char *type = xmpp_stanza_get_type(stanza);
    if (type && strcmp(type, "error") == 0) {
        char *buf = NULL;
        size_t len = 0;
        if (xmpp_stanza_to_text(stanza, &buf, &len) == 0) {
            printf("MESSAGE-ERROR %s\n", buf);
            xmpp_free(st->ctx, buf);
        }
        fflush(stdout);
        st->bounced = 1;
        finish(conn, st);
        return 1;
    }
    char *body = xmpp_message_get_body(stanza);
    if (!body)
        return 1;
    const char *from = xmpp_stanza_get_from(stanza);
    printf("RECEIVED %s %s\n", from ? from : "-", body);
    fflush(stdout);
    xmpp_free(st->ctx, body);
    st->received = 1;
    if (st->wait_reply && st->delivered)
        finish(conn, st);
    return 1;
}

static int pong_handler(xmpp_conn_t *conn, xmpp_stanza_t *stanza,
                        void *userdata)
{
    struct state *st = userdata;
    const char *type = xmpp_stanza_get_type(stanza);
    if (type && strcmp(type, "result") == 0) {
        st->delivered = 1;
        printf("DELIVERED\n");
    } else {
        printf("PING-ERROR %s\n", type ? type : "-");
    }
    fflush(stdout);
    if (!st->wait_reply || st->received || !st->delivered)
        finish(conn, st);
    return 0;
}

static void send_message_and_ping(xmpp_conn_t *conn, struct state *st)
{
    xmpp_ctx_t *ctx = st->ctx;
    xmpp_stanza_t *msg = xmpp_message_new(ctx, "chat", st->to, "strophe-m1");
    xmpp_message_set_body(msg, st->body);
    xmpp_send(conn, msg);
    xmpp_stanza_release(msg);

    char *domain = xmpp_jid_domain(ctx, xmpp_conn_get_bound_jid(conn));
    xmpp_stanza_t *iq = xmpp_iq_new(ctx, "get", "strophe-ping1");
    xmpp_stanza_set_to(iq, domain);
    xmpp_stanza_t *ping = xmpp_stanza_new(ctx);
    xmpp_stanza_set_name(ping, "ping");
    xmpp_stanza_set_ns(ping, "urn:xmpp:ping");
    xmpp_stanza_add_child(iq, ping);
    xmpp_stanza_release(ping);
    xmpp_id_handler_add(conn, pong_handler, "strophe-ping1", st);
    xmpp_send(conn, iq);
    xmpp_stanza_release(iq);
    xmpp_free(ctx, domain);
}

static void conn_handler(xmpp_conn_t *conn, xmpp_conn_event_t status,
                         int error, xmpp_stream_error_t *stream_error,
                         void *userdata)
{
    struct state *st = userdata;
    if (status == XMPP_CONN_CONNECT) {
        st->connected = 1;
        printf("CONNECTED %s\n", xmpp_conn_get_bound_jid(conn));
        printf("SECURED %d\n", xmpp_conn_is_secured(conn));
        fflush(stdout);
        xmpp_handler_add(conn, message_handler, NULL, "message", NULL, st);
        xmpp_stanza_t *pres = xmpp_presence_new(st->ctx);
        xmpp_send(conn, pres);
        xmpp_stanza_release(pres);
        if (st->to)
            send_message_and_ping(conn, st);
        else if (!st->wait_reply)
            finish(conn, st);
        return;
    }
    printf("DISCONNECTED error=%d stream_error=%d\n", error,
           stream_error ? (int)stream_error->type : -1);
    fflush(stdout);
    st->stopped = 1;
    xmpp_stop(st->ctx);
}

int main(int argc, char **argv)
{
    if (argc < 6 || argc == 7 || argc > 9
        || (strcmp(argv[5], "starttls") != 0 && strcmp(argv[5], "direct") != 0)) {
        fprintf(stderr, "usage: %s JID PASSWORD HOST PORT starttls|direct "
                        "[TO BODY [wait]]\n", argv[0]);
        return 1;
    }
    struct state st;
    memset(&st, 0, sizeof st);
    if (argc >= 8) {
        st.to = argv[6];
        st.body = argv[7];
    }
    st.wait_reply = argc == 9 && strcmp(argv[8], "wait") == 0;
    const char *t = getenv("STROPHE_TIMEOUT");
    double timeout = t ? atof(t) : 20.0;

    xmpp_initialize();
    xmpp_log_t log = {log_handler, &st};
    st.ctx = xmpp_ctx_new(NULL, &log);
    xmpp_conn_t *conn = xmpp_conn_new(st.ctx);
    long flags = XMPP_CONN_FLAG_TRUST_TLS | XMPP_CONN_FLAG_DISABLE_SM;
    if (strcmp(argv[5], "direct") == 0)
        flags |= XMPP_CONN_FLAG_LEGACY_SSL;
    else
        flags |= XMPP_CONN_FLAG_MANDATORY_TLS;
    xmpp_conn_set_flags(conn, flags);
    xmpp_conn_set_jid(conn, argv[1]);
    xmpp_conn_set_pass(conn, argv[2]);

    int status = 0;
    if (xmpp_connect_client(conn, argv[3], (unsigned short)atoi(argv[4]),
                            conn_handler, &st) != XMPP_EOK) {
        printf("CONNECT-FAILED\n");
        status = 2;
    } else {
        struct timespec t0, now;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
            xmpp_run_once(st.ctx, 100);
            if (st.stopped)
                break;
            clock_gettime(CLOCK_MONOTONIC, &now);
            double elapsed = (double)(now.tv_sec - t0.tv_sec)
                             + (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
            if (elapsed > timeout) {
                printf("TIMEOUT\n");
                status = 4;
                break;
            }
        }
        if (status == 0) {
            if (!st.connected)
                status = 2;
            else if (st.bounced || (st.to && !st.delivered)
                     || (st.wait_reply && !st.received) || !st.done)
                status = 3;
        }
    }
    fflush(stdout);
    xmpp_conn_release(conn);
    xmpp_ctx_free(st.ctx);
    xmpp_shutdown();
    return status;
}
