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
    unsigned connect_timeout;     /* s to authenticate; default 30 */
    unsigned idle_timeout;        /* s without any byte from the peer; default 900 */
    size_t c2s_rate;              /* bytes/s read per connection; default 65536 */
    size_t send_queue;            /* bytes queued to a peer before it is cut off; default 4 MiB */
    size_t max_connections;       /* connections held at once, all listeners; default 100000 */
    size_t connections_per_address; /* from one address (IPv6: /64); default 1000 */
    bool loopback_exempt;         /* loopback addresses have no per-address cap; default true */
    unsigned cached_accounts;     /* accounts with no session whose state stays in
                                   * memory (account_state.h); default 1000 */
};

/* --- options declared by modules ------------------------------------------
 *
 * A module declares the keys it reads in a table of struct canto_option
 * (module.h: canto_module.options), as ejabberd's mod_options and Prosody's
 * module:get_option do: the key as written in the file, its type, default,
 * bounds and a line of documentation. The loader validates every table
 * generically (types, bounds, unknown and duplicate keys, with file, line and
 * key), resolves each option for every host (a host's mapping in hosts:
 * overrides the top level for the options marked CANTO_OPT_PER_HOST), and
 * the module reads the result with canto_module_option_*() (module.h). The
 * reference (cantod --print-options) is printed from the same tables. */

enum canto_option_type {
    CANTO_OPT_BOOL,     /* true or false */
    CANTO_OPT_INT,      /* an integer in [min, max] */
    CANTO_OPT_SIZE,     /* a number of bytes in [min, max] */
    CANTO_OPT_DURATION, /* a number of seconds in [min, max]; written as seconds or
                         * with a unit (30s, 5min, 2h, 1d) */
    CANTO_OPT_STRING,   /* a non-empty string */
    CANTO_OPT_ENUM,     /* one of choices; the value is its index */
    CANTO_OPT_SERVICE,  /* the domain of a service a host runs (the user directory):
                         * true (the default domain: def_str + "." + host), false (no
                         * service), or, in a host's mapping, the domain itself. No two
                         * services and no host may share a domain. */
};

#define CANTO_OPT_PER_HOST 1u /* may also be set in a host's mapping (hosts:) */

struct canto_option {
    const char *key;             /* as written, sections dotted: "registration_throttle.per_ip";
                                  * NULL ends a table */
    enum canto_option_type type;
    unsigned flags;              /* CANTO_OPT_* */
    long def;                    /* default: bool 0/1, number, enum index, service on (1)/off (0) */
    long min, max;               /* bounds of a number; not negative (numbers in the file are
                                  * plain decimal digits) */
    const char *def_str;         /* default of a string; a service's first label ("users") */
    const char *const *choices;  /* enum: the names, NULL-terminated */
    const char *doc;             /* one line for the reference (cantod --print-options) */
};

/* One option's value, at the top level or resolved for one host. */
struct canto_option_value {
    long num;  /* bool (0/1), number, enum index; a service: 0 off, 1 default, 2 named */
    char *str; /* a string; a service's domain (prepared; NULL when off) */
    int line;  /* where it was set; 0 for the default */
};

/* What one host does beyond the defaults: the top-level values with the
 * host's own overrides applied (a hosts: entry may be a mapping). */
struct canto_host_config {
    struct canto_option_value *options; /* resolved, one per option (canto_config_option) */
    int line;                     /* where the host is listed, for later errors */
};

struct canto_module;

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
    const struct canto_module *const *modules; /* whose options were read; NULL-terminated */
    struct canto_option_value *options;    /* top-level values: every option of every module,
                                            * in module then table order */
    size_t noptions;
};

/* Load and validate path into cfg, with the options of the built-in modules
 * (canto_builtin_modules). CANTO_OK, or CANTO_ERROR with every problem found
 * appended to err, one per line, each naming file:line: key. */
int canto_config_load(const char *path, struct canto_config *cfg, struct canto_buf *err);
/* The same with the options of modules (NULL-terminated; it must outlive
 * cfg), for tests of the option machinery. */
int canto_config_load_modules(const char *path, const struct canto_module *const *modules,
                              struct canto_config *cfg, struct canto_buf *err);
void canto_config_free(struct canto_config *cfg);
/* True if host (prepared) is one of cfg's hosts. */
bool canto_config_has_host(const struct canto_config *cfg, const char *host);
/* The settings of host (prepared), or NULL if it is not one of cfg's hosts. */
const struct canto_host_config *canto_config_host(const struct canto_config *cfg,
                                                  const char *host);
/* Module m's option key, resolved for host (prepared), or its top-level
 * value when host is NULL. A key that m does not declare, or a host that is
 * not configured, is a programming error: it aborts, naming them. */
const struct canto_option_value *canto_config_option(const struct canto_config *cfg,
                                                     const char *host,
                                                     const struct canto_module *m,
                                                     const char *key);
/* The reference of every option: the core's limits, then each module's
 * options, one Markdown table row each (key, default, bounds, per host,
 * meaning). */
void canto_config_print_options(const struct canto_module *const *modules, struct canto_buf *out);

#endif
