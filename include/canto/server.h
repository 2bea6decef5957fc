/*
 * server.h: struct canto_server, the one owner of all mutable state (no
 * globals), and struct canto_host, a virtual host with its module instances,
 * hook chains and iq handlers.
 */
#ifndef CANTO_SERVER_H
#define CANTO_SERVER_H

#include <uv.h>

#include "canto/c2s.h"
#include "canto/config.h"
#include "canto/hashmap.h"
#include "canto/module.h"
#include "canto/net.h"
#include "canto/storage.h"

struct canto_server;
struct canto_iq_table;

struct canto_hook_entry {
    int priority;
    canto_hook_fn fn;
    struct canto_module_inst *mi;
};

struct canto_hook_chain {
    struct canto_hook_entry *entries; /* sorted, highest priority first */
    size_t n;
};

struct canto_host {
    char *name;                                      /* prepared domain */
    struct canto_server *server;
    struct canto_module_inst *modules;               /* one per loaded module */
    size_t nmodules;
    struct canto_hook_chain hooks[CANTO_HOOK_COUNT];
    struct canto_hashmap iqs;                        /* "get ns" -> struct canto_iq_entry */
    char *caps_ver;                                  /* XEP-0115 verification string */
};

/* A service the server runs on a domain of its own (e.g. the user directory
 * on users.<host>): every stanza to that domain or a JID under it goes to fn
 * (st borrowed; to prepared). Its host lists it in disco#items. */
typedef void (*canto_service_fn)(struct canto_module_inst *mi, struct canto_stanza *st,
                                 const struct canto_jid *to);

struct canto_domain_service {
    char *domain;
    struct canto_host *host;         /* the host whose module runs it */
    struct canto_module_inst *mi;
    canto_service_fn fn;
    const char *name;                /* human name for disco#items */
};

/* One configured socket (a listen: entry) and the kind that serves it. */
struct canto_listener {
    struct canto_tcp_listener *tcp;          /* NULL once closed */
    struct canto_server *server;
    const struct canto_listen_config *cfg;   /* cfg->service: its listener kind */
};

struct canto_server {
    uv_loop_t *loop;
    struct canto_config *cfg;            /* owned */
    struct canto_storage *storage;
    struct canto_tls *tls;
    struct canto_host *hosts;
    size_t nhosts;
    struct canto_domain_service *services;      /* subdomain services of the modules */
    size_t nservices;
    struct canto_listener *listeners;
    size_t nlisteners;
    size_t listeners_open;               /* handles not yet closed at stop */
    struct canto_hashmap users;          /* bare JID -> struct canto_user */
    struct canto_accounts *accounts;     /* per-account module state (account_state.h) */
    struct canto_c2s_service c2s;        /* what c2s streams get from the core; the streams */
    struct canto_net_buffers *netbufs;   /* shared read buffers of this loop */
    struct canto_xml_scratch scratch;    /* serialisation of outgoing stanzas (canto_stanza_serialized) */
    struct canto_conn_limits c2s_limits;
    struct canto_conn_caps conn_caps;    /* connections per address and in total */
    unsigned char fake_secret[32];       /* SCRAM salts for unknown users */
    uint64_t next_stream_id;
    uv_timer_t idle_sweep;               /* releases idle streams' parser memory */
    size_t work_pending;                 /* thread-pool jobs not yet completed */
    struct canto_iq_table *iq_table;     /* the server's own iqs awaiting answers (router.h) */
    bool stopping;
};

/* Set up everything that can fail before listening: storage, TLS, modules.
 * Takes ownership of cfg. CANTO_ERROR with a message in err. */
int canto_server_init(struct canto_server *srv, uv_loop_t *loop, struct canto_config *cfg,
                      struct canto_buf *err);
/* Bind the listeners. CANTO_ERROR with "FILE:LINE: listen[i]: ..." in err. */
int canto_server_listen(struct canto_server *srv, struct canto_buf *err);
/* Stop accepting, close every session with system-shutdown. The loop ends
 * when everything is closed; then call canto_server_free. */
void canto_server_stop(struct canto_server *srv);
/* Whether any stream is still open (canto_server_stop waits for none). */
bool canto_server_has_streams(const struct canto_server *srv);
void canto_server_free(struct canto_server *srv);

/* The served host with this prepared name, or NULL. */
struct canto_host *canto_server_host(struct canto_server *srv, const char *name);

/* Run work on libuv's thread pool (key derivations, password checks), then
 * after on the loop, like uv_queue_work; w->data is the server's. The
 * server counts these jobs and canto_server_free waits for them, so that no
 * completion runs after the modules it belongs to are gone. Returns 0 or a
 * libuv error (then nothing was queued). */
int canto_server_queue_work(struct canto_server *srv, uv_work_t *w, uv_work_cb work,
                            uv_after_work_cb after);

/* Register a service domain (called from a module's start). CANTO_ERROR if
 * the domain is a host or another service already. */
int canto_server_add_service(struct canto_server *srv, const char *domain, const char *name,
                             struct canto_module_inst *mi, canto_service_fn fn);
/* The service on that prepared domain, or NULL. */
struct canto_domain_service *canto_server_service(struct canto_server *srv, const char *domain);

/* A fresh unique stream id / random token (hex, into out of size >= 17). */
void canto_server_new_id(struct canto_server *srv, char *out, size_t size);

#endif
