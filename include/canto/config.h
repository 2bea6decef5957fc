/*
 * config.h: the server configuration, loaded from one YAML file.
 *
 * Loading validates everything: unknown keys, wrong types, out-of-range
 * numbers, missing certificate or key files. Every error names the file, the
 * line and the key ("canto.yaml:7: tls.certificate: cannot read
 * /x/cert.pem: No such file or directory"). A configuration that loads is a
 * complete one; the server never starts half-configured.
 *
 * Defaults are secure: TLS required on c2s, no plaintext PLAIN.
 */
#ifndef CANTO_CONFIG_H
#define CANTO_CONFIG_H

#include "canto/buf.h"
#include "canto/common.h"
#include "canto/log.h"

struct canto_listener_kind; /* core/listeners.h */

enum canto_tls_mode {
    CANTO_TLS_REQUIRED, /* STARTTLS offered and required before SASL (default) */
    CANTO_TLS_OPTIONAL, /* STARTTLS offered; SCRAM allowed in plaintext, PLAIN never */
    CANTO_TLS_DIRECT,   /* TLS from the first byte (XEP-0368), ALPN xmpp-client */
};

struct canto_listen_config {
    const struct canto_listener_kind *service; /* service: what listens (default c2s) */
    char *address;         /* IPv4 or IPv6 literal */
    int port;
    enum canto_tls_mode tls;
    int line;              /* where it was configured, for later errors */
};

struct canto_cert_config {
    char *host;        /* NULL for the default certificate */
    char *certificate; /* PEM file (chain) */
    char *key;         /* PEM private key */
    int line;          /* line of the certificate key, for later errors */
};

struct canto_limits_config {
    size_t c2s_max_stanza_size;   /* bytes; default 262144 */
    unsigned max_depth;           /* element depth in a stanza; default 32 */
    unsigned max_attributes;      /* per element; default 64 */
    unsigned offline_messages;    /* per user; default 1000 */
    unsigned connect_timeout;     /* s to authenticate; default 30 */
    unsigned idle_timeout;        /* s without any byte from the peer; default 900 */
    size_t c2s_rate;              /* bytes/s read per connection; default 65536 */
    size_t send_queue;            /* bytes queued to a peer before it is cut off; default 4 MiB */
    size_t max_connections;       /* connections held at once, all listeners; default 100000 */
    size_t connections_per_address; /* from one address (IPv6: /64); default 1000 */
    bool loopback_exempt;         /* loopback addresses have no per-address cap; default true */
};

/* In-band registration (XEP-0077) settings, at the top level (defaults for
 * every host) and resolved per host. */
struct canto_registration_config {
    bool allow;                   /* allow_registration: new accounts in-band; default false */
    unsigned per_ip;              /* registration_throttle.per_ip: accounts per address
                                   * (IPv6: per /64) per period; default 5 */
    unsigned period;              /* registration_throttle.period: seconds; default 3600 */
};

/* What one host does beyond the defaults: the top-level values with the
 * host's own overrides applied (a hosts: entry may be a mapping). */
struct canto_host_config {
    struct canto_registration_config registration;
    char *directory;              /* user_directory: domain of the XEP-0055 user
                                   * directory (prepared), NULL when disabled;
                                   * default "users.<host>" */
    int line;                     /* where the host is listed, for later errors */
};

struct canto_config {
    char *path;                            /* the file this came from */
    char **hosts;                          /* prepared domain names */
    struct canto_host_config *host_settings; /* one per hosts[i], same order */
    size_t nhosts;
    char *data_dir;
    char *storage_backend;                 /* "sqlite" */
    struct canto_cert_config *certs;       /* certs[0] is the default */
    size_t ncerts;
    struct canto_listen_config *listen;
    size_t nlisten;
    enum canto_log_level log_level;
    struct canto_limits_config limits;
    struct canto_registration_config registration; /* top level: every host's default */
    bool user_directory;                   /* top level: users.<host> directories; default true */
};

/* Load and validate path into cfg. CANTO_OK, or CANTO_ERROR with every
 * problem found appended to err, one per line, each naming file:line: key. */
int canto_config_load(const char *path, struct canto_config *cfg, struct canto_buf *err);
void canto_config_free(struct canto_config *cfg);
/* True if host (prepared) is one of cfg's hosts. */
bool canto_config_has_host(const struct canto_config *cfg, const char *host);
/* The settings of host (prepared), or NULL if it is not one of cfg's hosts. */
const struct canto_host_config *canto_config_host(const struct canto_config *cfg,
                                                  const char *host);

#endif
