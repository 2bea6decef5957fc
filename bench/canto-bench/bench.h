/*
 * bench.h: the shared state of canto-bench, the load generator.
 *
 * canto-bench is one process, one thread, one libuv loop. Everything it knows
 * lives in one `struct bench` (no globals): the options, the connections, the
 * login engine's counters, the error counts and the scenario's own state.
 *
 * A connection (`struct bench_conn`) goes connect -> [TLS] -> stream ->
 * [STARTTLS] -> SASL -> restart -> bind -> [session] -> [roster] -> presence
 * (xmpp.c), or straight to "online" in relay mode. It never builds an XML
 * tree: scan.c cuts the byte stream into top-level elements and the handlers
 * look into each one with a few string searches. Output is appended to a
 * per-connection buffer and flushed once per loop iteration (conn.c), so a
 * burst of messages costs one write.
 *
 * A scenario (idle, login, chat, presence) is one file with one descriptor
 * (`struct bench_scenario`) listed in scenarios.c. It starts the login engine
 * (logins.c), is told when a connection comes online and when every login has
 * finished, receives the stanzas of online connections, and reports its
 * results into the JSON document and the human summary.
 */
#ifndef CANTO_BENCH_H
#define CANTO_BENCH_H

#include <stdio.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <uv.h>

#include "canto/buf.h"
#include "canto/common.h"
#include "hist.h"
#include "scan.h"
#include "sysinfo.h"

struct bench;
struct bench_conn;
struct bench_json;
struct bench_sasl;
struct bench_sasl_ctx;
struct ssl_st;
struct ssl_ctx_st;
struct ssl_session_st;

enum bench_tls_mode { BENCH_TLS_STARTTLS, BENCH_TLS_DIRECT, BENCH_TLS_NONE };
enum bench_mech { BENCH_MECH_SCRAM_SHA256, BENCH_MECH_SCRAM_SHA1, BENCH_MECH_PLAIN };
enum bench_protocol { BENCH_PROTO_XMPP, BENCH_PROTO_RELAY };

/* Error kinds, counted in struct bench and reported under "errors" with the
 * names of bench_error_names[] (stable: docs/bench.md lists them). */
enum bench_error {
    BENCH_ERR_CONNECT_REFUSED,  /* ECONNREFUSED */
    BENCH_ERR_CONNECT,          /* any other connect failure */
    BENCH_ERR_ADDR,             /* EADDRNOTAVAIL/EADDRINUSE: no source port left */
    BENCH_ERR_NOFILE,           /* EMFILE/ENFILE: out of file descriptors */
    BENCH_ERR_TLS,              /* TLS handshake or record failure */
    BENCH_ERR_STARTTLS,         /* STARTTLS wanted, not offered or refused */
    BENCH_ERR_MECHANISM,        /* the SASL mechanism is not offered */
    BENCH_ERR_AUTH,             /* <failure/> from the server */
    BENCH_ERR_SCRAM,            /* bad server-first message or signature */
    BENCH_ERR_BIND,             /* bind refused or no bind feature */
    BENCH_ERR_SESSION,          /* session iq refused */
    BENCH_ERR_ROSTER,           /* roster get refused */
    BENCH_ERR_STREAM,           /* <stream:error/> received */
    BENCH_ERR_CLOSED,           /* server closed the connection unexpectedly */
    BENCH_ERR_IO,               /* read or write error */
    BENCH_ERR_PROTOCOL,         /* malformed or oversized input */
    BENCH_ERR_LOGIN_TIMEOUT,    /* a login exceeded --login-timeout */
    BENCH_ERR_MESSAGE,          /* a message came back with type='error' */
    BENCH_ERR_BACKLOG,          /* a send skipped: the server stopped reading */
    BENCH_ERR_DEADLINE,         /* the run was stopped by --timeout */
    BENCH_ERR_INTERRUPTED,      /* SIGINT or SIGTERM */
    BENCH_ERR_COUNT
};
extern const char *const bench_error_names[BENCH_ERR_COUNT];

/* An IPv4 source address range for --sources. */
struct bench_source {
    uint32_t first, last; /* host byte order, inclusive */
};

struct bench_opts {
    const char *scenario;
    const char *server;          /* HOST:PORT as given */
    struct sockaddr_storage server_addr;
    const char *domain;
    enum bench_tls_mode tls;
    enum bench_mech mech;
    enum bench_protocol protocol;
    bool tls_resume;             /* reuse one TLS session across connections */
    const char *prefix;          /* account localpart prefix */
    long first;                  /* first account number */
    long users;                  /* N: connections (logins for `login`) */
    long accounts;               /* login: distinct accounts cycled (default N) */
    const char *password;
    const char *resource;
    long priority;               /* initial presence priority */
    bool priority_set;
    long concurrency;            /* logins in flight */
    double duration, warmup, settle, grace, timeout, login_timeout; /* seconds */
    double rate;                 /* chat/presence: total per second, 0 = window mode */
    long window;                 /* chat: outstanding messages per sender */
    bool peers_random;
    uint64_t seed;
    long contacts;               /* presence: expected roster size, 0 = unknown */
    long pad;                    /* chat: filler bytes in each body */
    long server_pid;             /* 0 = none */
    const char *json_path;
    const char *scram_cache;     /* file of derived SCRAM keys, or NULL */
    struct bench_source sources[16];
    size_t nsources;
    uint64_t nsource_addrs;      /* total addresses in sources[] */
    bool quiet;                  /* no progress lines on stderr */
};

enum bench_conn_state {
    BENCH_CS_CONNECTING,
    BENCH_CS_TLS,       /* TLS handshake (direct or after <proceed/>) */
    BENCH_CS_FEATURES,  /* stream header sent, waiting for features */
    BENCH_CS_PROCEED,   /* <starttls/> sent */
    BENCH_CS_SASL,      /* <auth/> sent */
    BENCH_CS_BIND,
    BENCH_CS_SESSION,
    BENCH_CS_ROSTER,
    BENCH_CS_ONLINE,    /* initial presence sent (relay: connected) */
};

struct bench_conn {
    uv_tcp_t tcp;                 /* embedded; memory freed in its close callback */
    struct bench *b;
    uint32_t index;               /* slot in b->conns */
    uint32_t account;             /* account number: PREFIX<account>@DOMAIN */
    uint8_t state;                /* enum bench_conn_state */
    bool closing;                 /* close started; never touch after this */
    bool in_login;                /* counted in the login engine's in-flight */
    bool online;                  /* counted in b->online */
    bool tls_on;                  /* bytes go through ssl */
    bool authed;                  /* SASL succeeded */
    bool dirty;                   /* on b->dirty: out needs flushing */
    bool stop_feed;               /* stop scanning the current read (STARTTLS) */
    bool need_session;            /* the server requires the session iq */
    uint32_t roster_items;        /* items in the roster result */
    struct ssl_st *ssl;           /* NULL without TLS */
    struct bench_scan scan;       /* stream scanner state */
    struct canto_buf pending;     /* a partial top-level element; empty when idle */
    struct canto_buf out;         /* plaintext waiting for the next flush */
    struct bench_sasl *sasl;      /* during authentication only */
    char *jid;                    /* full JID from the bind result (or relay name) */
    uint64_t t_start;             /* uv_hrtime() when the connect began */
    struct bench_conn *dirty_next;
};

/* A complete top-level element handed to handlers (see scan.h helpers). */
struct bench_elem {
    const char *p;      /* '<' of the start tag */
    size_t n;           /* through the final '>' */
    const char *name;   /* local name (prefix stripped) */
    size_t name_len;
};

struct bench_scenario {
    const char *name;
    const char *help;       /* one line for --help */
    bool relay_ok;          /* may run with --protocol relay */
    bool fetch_roster;      /* logins get the roster before initial presence */
    /* Check the options; on error write a sentence into msg and return false. */
    bool (*check)(struct bench *b, char *msg, size_t msg_size);
    /* Allocate b->scn_state and begin (usually bench_logins_start). */
    void (*start)(struct bench *b);
    /* A connection finished its login (presence sent). Optional. */
    void (*online)(struct bench *b, struct bench_conn *c);
    /* Every login finished, successfully or not. */
    void (*logins_done)(struct bench *b);
    /* A top-level element on an online connection. Optional. */
    void (*stanza)(struct bench *b, struct bench_conn *c, const struct bench_elem *e);
    /* Called once per loop iteration before dirty connections are flushed. */
    void (*before_flush)(struct bench *b);
    /* Write the scenario's members of "results"; set b->ok = false on failure. */
    void (*report)(struct bench *b, struct bench_json *j);
    /* A few human lines. */
    void (*summary)(struct bench *b, FILE *out);
    void (*free)(struct bench *b);
};

/* The scenarios, NULL-terminated (scenarios.c). */
extern const struct bench_scenario *const bench_scenarios[];
const struct bench_scenario *bench_scenario_find(const char *name);

#define BENCH_READ_BUF (64 * 1024)
#define BENCH_MAX_CONDITIONS 16
#define BENCH_TLS_POOL 256

struct bench_condition {
    char name[40];   /* e.g. "auth:not-authorized", "stream:host-unknown" */
    uint64_t count;
};

struct bench {
    struct bench_opts opt;
    const struct bench_scenario *scn;
    void *scn_state;

    uv_loop_t loop;
    uv_timer_t deadline;        /* the overall --timeout */
    uv_timer_t sweep;           /* once a second: login timeouts, progress */
    uv_timer_t stop_timer;      /* bounds the final graceful close */
    uv_check_t flusher;         /* flushes dirty connections each iteration */
    uv_signal_t sigint, sigterm;

    struct bench_conn **conns;  /* opt.users slots, NULL when free */
    size_t nconns;
    size_t open;                /* connections not yet freed */
    size_t online;              /* connections online now */
    struct bench_conn *dirty;   /* connections with output to flush */
    uint64_t next_source;

    struct {                    /* the login engine (logins.c) */
        size_t total, started, in_flight, ok, failed;
        size_t concurrency;
        bool pumping;           /* inside pump(): no recursion */
        bool done;
        uint64_t t_first, t_last; /* uv_hrtime of first start, last finish */
        struct bench_hist latency;
    } login;

    struct ssl_ctx_st *ssl_ctx;
    struct ssl_session_st *tls_session; /* newest session, for resumption */
    struct ssl_session_st *tls_pool[BENCH_TLS_POOL]; /* unused tickets, oldest first */
    size_t ntls_pool;
    uint64_t tls_full, tls_resumed;
    struct bench_sasl_ctx *sasl;
    char *stream_header;

    uint64_t errors[BENCH_ERR_COUNT];
    bool error_printed[BENCH_ERR_COUNT];
    struct bench_condition conditions[BENCH_MAX_CONDITIONS];
    size_t nconditions;

    struct bench_proc server_start, server_mark0, server_mark1;
    struct bench_proc self_mark0, self_mark1;
    bool have_marks;

    uint64_t t_begin;           /* uv_hrtime at start */
    uint64_t read_ns;           /* uv_hrtime when the current read arrived */
    bool stopping;
    bool ok;                    /* the run met its own criteria */
    char message[512];          /* why not ok, for JSON and summary */

    char rbuf[BENCH_READ_BUF];  /* one read buffer for all connections */
    char tbuf[BENCH_READ_BUF];  /* TLS plaintext buffer */
    char wbuf[BENCH_READ_BUF];  /* TLS ciphertext on its way out */
};

/* --- options.c --- */
/* Parse argv into b->opt. Returns 0 to run, 1 if help was printed, 2 on a
 * usage error (message printed). */
int bench_options_parse(struct bench *b, int argc, char **argv);
void bench_usage(FILE *out);
const char *bench_tls_name(enum bench_tls_mode t);
const char *bench_mech_name(enum bench_mech m);

/* --- run.c --- */
/* Set up the loop, timers, TLS and SASL contexts. Returns false (and sets
 * b->message) when the run cannot start. */
bool bench_setup(struct bench *b);
void bench_run(struct bench *b);
void bench_teardown(struct bench *b);
/* Count an error (and print the first of each kind on stderr). */
void bench_error(struct bench *b, enum bench_error kind, const char *fmt, ...) CANTO_PRINTF(3, 4);
/* Count a named condition (SASL failure, stream error) under "conditions". */
void bench_condition(struct bench *b, const char *kind, const char *name, size_t len);
/* The scenario is finished: close every connection gracefully and stop. */
void bench_finish(struct bench *b);
/* Mark the run as failed with a reason (first reason wins). */
void bench_fail(struct bench *b, const char *fmt, ...) CANTO_PRINTF(2, 3);
/* Sample the server (if --server-pid) and this process: mark 0 or 1. */
void bench_mark(struct bench *b, int which);
/* Seconds since the run began. */
double bench_elapsed(const struct bench *b);
void bench_progress(struct bench *b, const char *fmt, ...) CANTO_PRINTF(2, 3);

/* --- conn.c --- */
/* Open connection slot `index` for account `account`. */
void bench_conn_start(struct bench *b, uint32_t index, uint32_t account);
/* Queue bytes (plaintext) for the next flush. */
void bench_conn_send(struct bench_conn *c, const char *data, size_t n);
void bench_conn_send_str(struct bench_conn *c, const char *s);
/* Flush now (normally done once per loop iteration by the flusher). */
void bench_conn_flush(struct bench_conn *c);
/* Close: graceful sends </stream:stream> (XMPP) and waits for the writes. */
void bench_conn_close(struct bench_conn *c, bool graceful);
/* Count an error against c and close it abruptly. */
void bench_conn_fail(struct bench_conn *c, enum bench_error kind, const char *fmt, ...)
    CANTO_PRINTF(3, 4);
/* Bytes of c waiting in libuv's write queue. */
size_t bench_conn_backlog(const struct bench_conn *c);
/* Plaintext arrived: cut it into elements and dispatch them. */
void bench_conn_feed(struct bench_conn *c, const char *p, size_t n);
void bench_flush_dirty(struct bench *b);
/* Close callback for connection handles closed by the final walk (run.c). */
void bench_conn_on_closed(uv_handle_t *h);

/* --- tls.c --- */
bool bench_tls_setup(struct bench *b);
void bench_tls_teardown(struct bench *b);
/* Start a client handshake on c (direct TLS or after <proceed/>). */
bool bench_tls_begin(struct bench_conn *c);
/* Ciphertext arrived from the socket. */
void bench_tls_input(struct bench_conn *c, const char *p, size_t n);
/* Encrypt c->out (if the handshake is done) and write what TLS produced. */
void bench_tls_flush(struct bench_conn *c);
/* Queue a close_notify. */
void bench_tls_shutdown(struct bench_conn *c);
void bench_tls_free(struct bench_conn *c);
/* Write raw bytes to the socket (used by tls.c and conn.c). */
void bench_conn_write_raw(struct bench_conn *c, const char *p, size_t n);

/* --- xmpp.c --- */
/* TCP (and direct TLS) are up: open the stream, or go online in relay mode. */
void bench_xmpp_connected(struct bench_conn *c);
/* TLS handshake finished. */
void bench_xmpp_tls_ready(struct bench_conn *c);
/* A scanner event on c. */
void bench_xmpp_event(struct bench_conn *c, enum bench_scan_event ev, const char *p, size_t n);

/* --- logins.c --- */
/* Log `total` connections in with b->opt.concurrency in flight (one at a
 * time in relay mode, so that accept order is connect order); slot i uses
 * account first + (i % accounts). */
void bench_logins_start(struct bench *b, size_t total);
/* Called by xmpp.c / conn.c when a login ends. */
void bench_login_succeeded(struct bench_conn *c);
void bench_login_failed(struct bench *b);
/* Stop starting new logins (deadline, stop). */
void bench_logins_halt(struct bench *b);
/* Once a second: fail logins older than --login-timeout. */
void bench_logins_sweep(struct bench *b);

/* --- report.c --- */
/* Write the JSON document and the summary; returns the exit status. */
int bench_report(struct bench *b);
/* A latency object {count, min_ms, mean_ms, p50_ms, p90_ms, p99_ms,
 * p999_ms, max_ms} under key, and its one-line human form. */
void bench_json_latency(struct bench_json *j, const char *key, const struct bench_hist *h);
void bench_summary_latency(FILE *out, const char *label, const struct bench_hist *h);

#endif
