/*
 * test_config.c: the configuration loader (src/core/config.c).
 *
 * Each case writes a YAML file into a fresh temporary directory (with dummy
 * certificate and key files beside it), loads it, and checks either every
 * field of the result or the exact error text: the "FILE:LINE: key: what"
 * lines are the operator's interface, so they are compared byte for byte.
 * A failed load must leave the struct zeroed.
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "canto/config.h"
#include "canto/module.h"
#include "core/listeners.h"
#include "check.h"

/* The modules whose options these tests read through canto_config_option. */
extern const struct canto_module canto_mod_register;
extern const struct canto_module canto_mod_directory;
extern const struct canto_module canto_mod_offline;

static char tmpdir[PATH_MAX]; /* realpath of the test's directory */

static char *in_tmp(const char *name)
{
    struct canto_buf b = {0};
    canto_buf_appendf(&b, "%s/%s", tmpdir, name);
    return canto_buf_steal(&b);
}

static void write_file(const char *name, const char *content)
{
    char *path = in_tmp(name);
    FILE *fp = fopen(path, "w");
    if (!fp) {
        perror(path);
        exit(1);
    }
    fputs(content, fp);
    fclose(fp);
    free(path);
}

/* Writes FILE (in tmpdir) with content and loads it. The error text, if
 * any, goes to err (reset first). */
static int load(const char *name, const char *content, struct canto_config *cfg,
                struct canto_buf *err)
{
    write_file(name, content);
    char *path = in_tmp(name);
    canto_buf_reset(err);
    int rc = canto_config_load(path, cfg, err);
    free(path);
    return rc;
}

/* The expected error text: each line given is prefixed with the file's path
 * (tmpdir/canto.yaml) and ends with a newline. NULL ends the list. */
static char *expect(const char *first, ...)
{
    struct canto_buf b = {0};
    va_list ap;
    va_start(ap, first);
    for (const char *line = first; line; line = va_arg(ap, const char *))
        canto_buf_appendf(&b, "%s/canto.yaml:%s\n", tmpdir, line);
    va_end(ap);
    return canto_buf_steal(&b);
}

/* Module m's option key for host (NULL: the top level). */
static long num(const struct canto_config *cfg, const char *host, const struct canto_module *m,
                const char *key)
{
    return canto_config_option(cfg, host, m, key)->num;
}

static const char *str(const struct canto_config *cfg, const char *host,
                       const struct canto_module *m, const char *key)
{
    return canto_config_option(cfg, host, m, key)->str;
}

#define ALLOW(cfg, host) num((cfg), (host), &canto_mod_register, "allow_registration")
#define PER_IP(cfg, host) num((cfg), (host), &canto_mod_register, "registration_throttle.per_ip")
#define PERIOD(cfg, host) num((cfg), (host), &canto_mod_register, "registration_throttle.period")
#define DIRECTORY(cfg, host) str((cfg), (host), &canto_mod_directory, "user_directory")
#define OFFLINE(cfg) num((cfg), NULL, &canto_mod_offline, "limits.offline_messages")

static bool is_zeroed(const struct canto_config *cfg)
{
    static const struct canto_config zero;
    return memcmp(cfg, &zero, sizeof zero) == 0;
}

/* Loads content as canto.yaml and checks that it fails with exactly the
 * error lines given (each "LINE: key: what", NULL-terminated). */
#define CHECK_ERRORS(content, ...)                                        \
    do {                                                                  \
        struct canto_config cfg_;                                         \
        struct canto_buf err_ = {0};                                      \
        char *want_ = expect(__VA_ARGS__, NULL);                          \
        CHECK_INT(load("canto.yaml", (content), &cfg_, &err_), CANTO_ERROR); \
        CHECK_STR(err_.data, want_);                                      \
        CHECK(is_zeroed(&cfg_));                                          \
        free(want_);                                                      \
        canto_buf_free(&err_);                                            \
    } while (0)

static void test_full(void)
{
    struct canto_config cfg;
    struct canto_buf err = {0};
    int rc = load("canto.yaml",
                  "# every key there is\n"
                  "hosts: [example.test, Other.Test.]\n"
                  "data_dir: /var/lib/canto\n"
                  "tls:\n"
                  "  certificate: cert.pem\n"
                  "  key: key.pem\n"
                  "  hosts:\n"
                  "    muc.example.test: { certificate: other-cert.pem, key: other-key.pem }\n"
                  "    \"*.Example.test\":\n"
                  "      certificate: other-cert.pem\n"
                  "      key: other-key.pem\n"
                  "listen:\n"
                  "  - { service: c2s, address: 127.0.0.1, port: 5222 }\n"
                  "  - { service: c2s, address: \"::0\", port: 5223, tls: direct }\n"
                  "  - address: 0.0.0.0\n"
                  "    port: 5224\n"
                  "    tls: optional\n"
                  "log: { level: debug }\n"
                  "storage: { backend: sqlite }\n"
                  "limits:\n"
                  "  c2s_max_stanza_size: 100000\n"
                  "  max_depth: 16\n"
                  "  max_attributes: 32\n"
                  "  offline_messages: 0\n"
                  "  connect_timeout: 20\n"
                  "  idle_timeout: 600\n"
                  "  c2s_rate: 8192\n"
                  "  send_queue: 1048576\n"
                  "  max_connections: 500\n"
                  "  connections_per_address: 20\n"
                  "  loopback_exempt: false\n",
                  &cfg, &err);
    CHECK_INT(rc, CANTO_OK);
    CHECK_STR(err.data ? err.data : "", "");
    if (rc != CANTO_OK)
        return;

    char *path = in_tmp("canto.yaml");
    CHECK_STR(cfg.path, path);
    free(path);
    CHECK_INT(cfg.nhosts, 2);
    CHECK_STR(cfg.hosts[0], "example.test");
    CHECK_STR(cfg.hosts[1], "other.test");
    CHECK(canto_config_has_host(&cfg, "example.test"));
    CHECK(canto_config_has_host(&cfg, "other.test"));
    CHECK(!canto_config_has_host(&cfg, "example"));
    CHECK_STR(cfg.data_dir, "/var/lib/canto");
    CHECK_STR(cfg.storage_backend, "sqlite");

    char *cert = in_tmp("cert.pem"), *key = in_tmp("key.pem");
    char *ocert = in_tmp("other-cert.pem"), *okey = in_tmp("other-key.pem");
    CHECK_INT(cfg.ncerts, 3);
    CHECK(cfg.certs[0].host == NULL);
    CHECK_STR(cfg.certs[0].certificate, cert);
    CHECK_STR(cfg.certs[0].key, key);
    CHECK_INT(cfg.certs[0].line, 5);
    CHECK_STR(cfg.certs[1].host, "muc.example.test");
    CHECK_STR(cfg.certs[1].certificate, ocert);
    CHECK_STR(cfg.certs[1].key, okey);
    CHECK_INT(cfg.certs[1].line, 8);
    CHECK_STR(cfg.certs[2].host, "*.example.test");
    CHECK_STR(cfg.certs[2].certificate, ocert);
    CHECK_STR(cfg.certs[2].key, okey);
    CHECK_INT(cfg.certs[2].line, 10);
    free(cert), free(key), free(ocert), free(okey);

    CHECK_INT(cfg.nlisten, 3);
    CHECK_STR(cfg.listen[0].service->name, "c2s");
    CHECK_STR(cfg.listen[0].address, "127.0.0.1");
    CHECK_INT(cfg.listen[0].port, 5222);
    CHECK_INT(cfg.listen[0].tls, CANTO_TLS_REQUIRED);
    CHECK_INT(cfg.listen[0].line, 13);
    CHECK_STR(cfg.listen[1].address, "::");
    CHECK_INT(cfg.listen[1].port, 5223);
    CHECK_INT(cfg.listen[1].tls, CANTO_TLS_DIRECT);
    CHECK_INT(cfg.listen[1].line, 14);
    CHECK_STR(cfg.listen[2].address, "0.0.0.0");
    CHECK_INT(cfg.listen[2].port, 5224);
    CHECK_INT(cfg.listen[2].tls, CANTO_TLS_OPTIONAL);
    CHECK_STR(cfg.listen[2].service->name, "c2s"); /* the default service */
    CHECK_INT(cfg.listen[2].line, 15);

    CHECK_INT(cfg.log_level, CANTO_LOG_DEBUG);
    CHECK_INT(cfg.limits.c2s_max_stanza_size, 100000);
    CHECK_INT(cfg.limits.max_depth, 16);
    CHECK_INT(cfg.limits.max_attributes, 32);
    CHECK_INT(OFFLINE(&cfg), 0);
    CHECK_INT(cfg.limits.connect_timeout, 20);
    CHECK_INT(cfg.limits.idle_timeout, 600);
    CHECK_INT(cfg.limits.c2s_rate, 8192);
    CHECK_INT(cfg.limits.send_queue, 1048576);
    CHECK_INT(cfg.limits.max_connections, 500);
    CHECK_INT(cfg.limits.connections_per_address, 20);
    CHECK(!cfg.limits.loopback_exempt);

    canto_config_free(&cfg);
    CHECK(is_zeroed(&cfg));
    canto_config_free(&cfg); /* twice is harmless */
    canto_buf_free(&err);
}

static void check_defaults(const struct canto_config *cfg)
{
    CHECK_STR(cfg->storage_backend, "sqlite");
    CHECK_INT(cfg->log_level, CANTO_LOG_INFO);
    CHECK_INT(cfg->nlisten, 0);
    CHECK_INT(cfg->limits.c2s_max_stanza_size, 262144);
    CHECK_INT(cfg->limits.max_depth, 32);
    CHECK_INT(cfg->limits.max_attributes, 64);
    CHECK_INT(OFFLINE(cfg), 1000);
    CHECK_INT(cfg->limits.connect_timeout, 30);
    CHECK_INT(cfg->limits.idle_timeout, 900);
    CHECK_INT(cfg->limits.c2s_rate, 65536);
    CHECK_INT(cfg->limits.send_queue, 4194304);
    CHECK_INT(cfg->limits.max_connections, 100000);
    CHECK_INT(cfg->limits.connections_per_address, 1000);
    CHECK(cfg->limits.loopback_exempt);
    CHECK(!ALLOW(cfg, NULL));
    CHECK_INT(PER_IP(cfg, NULL), 5);
    CHECK_INT(PERIOD(cfg, NULL), 3600);
    CHECK_INT(num(cfg, NULL, &canto_mod_directory, "user_directory"), 1);
    for (size_t i = 0; i < cfg->nhosts; i++) {
        const char *h = cfg->hosts[i];
        const struct canto_host_config *hc = canto_config_host(cfg, h);
        CHECK(hc == &cfg->host_settings[i]);
        CHECK(!ALLOW(cfg, h));
        CHECK_INT(PER_IP(cfg, h), 5);
        CHECK_INT(PERIOD(cfg, h), 3600);
        char want[300];
        snprintf(want, sizeof want, "users.%s", h);
        CHECK_STR(DIRECTORY(cfg, h), want);
    }
}

static void test_minimal(void)
{
    struct canto_config cfg;
    struct canto_buf err = {0};

    /* hosts, data directory, certificate: the DESIGN.md minimum */
    int rc = load("canto.yaml",
                  "hosts: [localhost]\n"
                  "data_dir: data\n"
                  "tls: { certificate: cert.pem, key: key.pem }\n",
                  &cfg, &err);
    CHECK_INT(rc, CANTO_OK);
    CHECK_STR(err.data ? err.data : "", "");
    if (rc == CANTO_OK) {
        char *data = in_tmp("data");
        CHECK_INT(cfg.nhosts, 1);
        CHECK_STR(cfg.hosts[0], "localhost");
        CHECK_STR(cfg.data_dir, data);
        CHECK_INT(cfg.ncerts, 1);
        CHECK(cfg.certs[0].host == NULL);
        check_defaults(&cfg);
        free(data);
        canto_config_free(&cfg);
    }

    /* no listeners: no tls needed (cantoctl-only use); empty sections are
     * allowed, as are comments-only sections */
    rc = load("canto.yaml",
              "hosts:\n"
              "  - localhost\n"
              "data_dir: /srv/canto\n"
              "listen: []\n"
              "limits:\n"
              "#  max_depth: 10\n"
              "log: {}\n",
              &cfg, &err);
    CHECK_INT(rc, CANTO_OK);
    CHECK_STR(err.data ? err.data : "", "");
    if (rc == CANTO_OK) {
        CHECK_INT(cfg.ncerts, 0);
        check_defaults(&cfg);
        canto_config_free(&cfg);
    }
    canto_buf_free(&err);
}

static const char base[] = "hosts: [example.test]\n"
                           "data_dir: data\n"
                           "tls: { certificate: cert.pem, key: key.pem }\n";

static char *with_base(const char *rest)
{
    struct canto_buf b = {0};
    canto_buf_append_str(&b, base);
    canto_buf_append_str(&b, rest);
    return canto_buf_steal(&b);
}

#define CHECK_BASE_ERRORS(rest, ...)                \
    do {                                            \
        char *content_ = with_base(rest);           \
        CHECK_ERRORS(content_, __VA_ARGS__);        \
        free(content_);                             \
    } while (0)

static void test_unknown_keys(void)
{
    CHECK_BASE_ERRORS("limits:\n"
                      "  max_depth: 10\n"
                      "  bogus: 1\n",
                      "6: limits.bogus: unknown key");
    CHECK_BASE_ERRORS("colour: blue\n", "4: colour: unknown key");
    CHECK_BASE_ERRORS("listen:\n"
                      "  - { service: c2s, address: 127.0.0.1, port: 5222, starttls: yes }\n",
                      "5: listen[0].starttls: unknown key");
    CHECK_ERRORS("hosts: [example.test]\n"
                 "data_dir: data\n"
                 "tls: { certificate: cert.pem, key: key.pem, chain: x.pem }\n",
                 "3: tls.chain: unknown key");
    CHECK_BASE_ERRORS("log: { level: info }\n"
                      "log: { level: debug }\n",
                      "5: log: duplicate key (first at line 4)");
    CHECK_BASE_ERRORS("? [a, b]\n"
                      ": c\n",
                      "4: keys must be plain strings");
}

static void test_wrong_types(void)
{
    CHECK_ERRORS("hosts: example.test\n"
                 "data_dir: data\n",
                 "1: hosts: must be a list of host names");
    CHECK_ERRORS("hosts: []\n"
                 "data_dir: data\n",
                 "1: hosts: must list at least one host");
    CHECK_ERRORS("hosts: [example.test]\n"
                 "data_dir: [a, b]\n",
                 "2: data_dir: must be a string");
    CHECK_ERRORS("hosts: [example.test]\n"
                 "data_dir: \"\"\n",
                 "2: data_dir: must not be empty");
    CHECK_BASE_ERRORS("limits:\n"
                      "  max_depth: abc\n"
                      "  offline_messages: -1\n"
                      "  c2s_rate: 1.5\n"
                      "  idle_timeout: 10000000\n"
                      "  connect_timeout: [1]\n",
                      "5: limits.max_depth: must be an integer between 2 and 1024",
                      "6: limits.offline_messages: must be an integer between 0 and 1000000",
                      "7: limits.c2s_rate: must be an integer between 1024 and 1073741824",
                      "8: limits.idle_timeout: must be a duration from 1 to 604800 seconds (a "
                      "number of seconds, or with a unit: 30s, 5min, 2h, 1d)",
                      "9: limits.connect_timeout: must be a duration from 1 to 3600 seconds (a "
                      "number of seconds, or with a unit: 30s, 5min, 2h, 1d)");
    CHECK_BASE_ERRORS("limits: 5\n", "4: limits: must be a mapping");
    CHECK_BASE_ERRORS("listen: c2s\n", "4: listen: must be a list of listeners");
    CHECK_BASE_ERRORS("listen: [5222]\n", "4: listen[0]: must be a mapping");
    CHECK_BASE_ERRORS("log: { level: verbose }\n",
                      "4: log.level: must be one of debug, info, warn, error");
    CHECK_BASE_ERRORS("storage: { backend: postgres }\n",
                      "4: storage.backend: must be one of sqlite");
    CHECK_BASE_ERRORS("limits:\n"
                      "  c2s_max_stanza_size: 1000000\n"
                      "  send_queue: 500000\n",
                      "6: limits.send_queue: must be at least c2s_max_stanza_size (1000000)");
    CHECK_ERRORS("- hosts\n", "1: the top level must be a mapping of keys to values");
    CHECK_ERRORS("", "1: hosts: required key is missing", "1: data_dir: required key is missing");
}

static void test_listen(void)
{
    CHECK_BASE_ERRORS("listen:\n"
                      "  - { service: c2s, address: 127.0.0.1, port: 0 }\n"
                      "  - { service: c2s, address: 127.0.0.1, port: 65536 }\n"
                      "  - { service: c2s, address: 127.0.0.1, port: http }\n",
                      "5: listen[0].port: must be an integer between 1 and 65535",
                      "6: listen[1].port: must be an integer between 1 and 65535",
                      "7: listen[2].port: must be an integer between 1 and 65535");
    CHECK_BASE_ERRORS("listen:\n"
                      "  - { service: c2s, address: 127.0.0.1, port: 5222 }\n"
                      "  - { service: c2s, address: 127.0.0.1, port: 5223, tls: starttls }\n",
                      "6: listen[1].tls: must be one of required, optional, direct");
    CHECK_BASE_ERRORS("listen:\n"
                      "  - { service: s2s, address: localhost, port: 5269 }\n",
                      "5: listen[0].service: must be one of c2s",
                      "5: listen[0].address: must be an IPv4 or IPv6 address");
    CHECK_BASE_ERRORS("listen:\n"
                      "  - { service: c2s, address: \"::1\", port: 5222 }\n"
                      "  - { service: c2s, address: 127.0.0.1, port: 5222 }\n"
                      "  - service: c2s\n"
                      "    address: 0:0:0:0:0:0:0:1\n"
                      "    port: 5222\n",
                      "7: listen[2]: ::1 port 5222 is configured twice (first at line 5)");
    CHECK_BASE_ERRORS("listen:\n"
                      "  - { service: c2s, port: 5222 }\n",
                      "5: listen[0].address: required key is missing");
    CHECK_ERRORS("hosts: [example.test]\n"
                 "data_dir: data\n"
                 "listen:\n"
                 "  - { service: c2s, address: 127.0.0.1, port: 5222 }\n",
                 "3: tls: required when listeners are configured");
}

static void test_certificates(void)
{
    char *missing = in_tmp("nope.pem");
    char line[PATH_MAX + 100];
    snprintf(line, sizeof line,
             "4: tls.certificate: cannot read %s: No such file or directory", missing);
    CHECK_ERRORS("hosts: [example.test]\n"
                 "data_dir: data\n"
                 "tls:\n"
                 "  certificate: nope.pem\n"
                 "  key: key.pem\n",
                 line);
    free(missing);

    snprintf(line, sizeof line, "2: tls.key: cannot read %s: Is a directory", tmpdir);
    CHECK_ERRORS("hosts: [example.test]\n"
                 "tls: { certificate: /dev/null, key: . }\n"
                 "data_dir: data\n",
                 "2: tls.certificate: cannot read /dev/null: not a regular file", line);

    CHECK_ERRORS("hosts: [example.test]\n"
                 "data_dir: data\n"
                 "tls:\n"
                 "  key: key.pem\n"
                 "  hosts:\n"
                 "    other.test: { certificate: cert.pem }\n"
                 "    bad host: { certificate: cert.pem, key: key.pem }\n"
                 "    Other.Test: { certificate: cert.pem, key: key.pem }\n",
                 "4: tls.certificate: required key is missing",
                 "6: tls.hosts.other.test.key: required key is missing",
                 "7: tls.hosts.bad host: invalid domain name \"bad host\"",
                 "8: tls.hosts.Other.Test: duplicate host other.test (first at line 6)");
}

static void test_hosts(void)
{
    /* a name longer than any fixed buffer survives into the message whole */
    char longname[1101];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    struct canto_buf content = {0}, line = {0};
    canto_buf_appendf(&content,
                      "hosts: [example.test]\n"
                      "data_dir: data\n"
                      "tls:\n"
                      "  certificate: cert.pem\n"
                      "  key: key.pem\n"
                      "  hosts:\n"
                      "    ? %s\n"
                      "    : {}\n",
                      longname);
    canto_buf_appendf(&line, "7: tls.hosts.%s: invalid domain name \"%s\"", longname, longname);
    CHECK_ERRORS(content.data, line.data);
    canto_buf_free(&content);
    canto_buf_free(&line);

    CHECK_ERRORS("hosts:\n"
                 "  - example.test\n"
                 "  - other.test\n"
                 "  - EXAMPLE.test.\n"
                 "data_dir: data\n",
                 "4: hosts[2]: duplicate host example.test (first at line 2)");
    CHECK_ERRORS("hosts: [\"exa mple.test\", user@example.test, a..b, \"\"]\n"
                 "data_dir: data\n",
                 "1: hosts[0]: invalid domain name \"exa mple.test\"",
                 "1: hosts[1]: invalid domain name \"user@example.test\"",
                 "1: hosts[2]: invalid domain name \"a..b\"",
                 "1: hosts[3]: must not be empty");
}

static void test_syntax_errors(void)
{
    CHECK_ERRORS("hosts: [example.test\n"
                 "data_dir: data\n",
                 "2: YAML syntax error: did not find expected ',' or ']' "
                 "(while parsing a flow sequence at line 1)");
    CHECK_ERRORS("hosts: [example.test]\n"
                 "data_dir: data\n"
                 "  log: x\n",
                 "3: YAML syntax error: mapping values are not allowed in this context");
    CHECK_ERRORS("hosts: [example.test]\n"
                 "data_dir: *nowhere\n",
                 "2: YAML syntax error: found undefined alias");
    CHECK_ERRORS("hosts: [example.test]\n"
                 "data_dir: data\n"
                 "---\n"
                 "hosts: [other.test]\n",
                 "3: only one YAML document is allowed");

    struct canto_config cfg;
    struct canto_buf err = {0};
    char *path = in_tmp("absent.yaml");
    char *want = NULL;
    struct canto_buf w = {0};
    canto_buf_appendf(&w, "%s: cannot open: No such file or directory\n", path);
    want = canto_buf_steal(&w);
    CHECK_INT(canto_config_load(path, &cfg, &err), CANTO_ERROR);
    CHECK_STR(err.data, want);
    CHECK(is_zeroed(&cfg));
    free(want);
    free(path);
    canto_buf_free(&err);
}

/* Relative paths are relative to the file, not to the working directory,
 * and the file itself may be named relative to the working directory. */
static void test_relative_paths(void)
{
    char cwd[PATH_MAX];
    char *sub = in_tmp("etc");
    mkdir(sub, 0700);
    free(sub);
    write_file("etc/canto.yaml", "hosts: [example.test]\n"
                                 "data_dir: ../var/./lib//canto/\n"
                                 "tls:\n"
                                 "  certificate: ../cert.pem\n"
                                 "  key: ./../etc/../key.pem\n");
    if (!getcwd(cwd, sizeof cwd) || chdir(tmpdir) != 0) {
        CHECK(!"chdir");
        return;
    }
    struct canto_config cfg;
    struct canto_buf err = {0};
    int rc = canto_config_load("etc/canto.yaml", &cfg, &err);
    CHECK_INT(rc, CANTO_OK);
    CHECK_STR(err.data ? err.data : "", "");
    if (rc == CANTO_OK) {
        char *p = in_tmp("etc/canto.yaml"), *d = in_tmp("var/lib/canto");
        char *c = in_tmp("cert.pem"), *k = in_tmp("key.pem");
        CHECK_STR(cfg.path, p);
        CHECK_STR(cfg.data_dir, d);
        CHECK_STR(cfg.certs[0].certificate, c);
        CHECK_STR(cfg.certs[0].key, k);
        free(p), free(d), free(c), free(k);
        canto_config_free(&cfg);
    }

    /* errors name the file as it was given */
    write_file("etc/bad.yaml", "hosts: [example.test]\ndata_dir: data\nport: 1\n");
    canto_buf_reset(&err);
    CHECK_INT(canto_config_load("etc/bad.yaml", &cfg, &err), CANTO_ERROR);
    CHECK_STR(err.data, "etc/bad.yaml:3: port: unknown key\n");
    canto_buf_free(&err);
    if (chdir(cwd) != 0)
        CHECK(!"chdir back");
}

/* Everything wrong in one file is reported in one run, in file order. */
static void test_many_errors(void)
{
    char *missing = in_tmp("missing-key.pem");
    char keyline[PATH_MAX + 100];
    snprintf(keyline, sizeof keyline,
             "6: tls.key: cannot read %s: No such file or directory", missing);
    CHECK_ERRORS("hosts: [example.test, example.test]\n"
                 "data_dir: data\n"
                 "colour: blue\n"
                 "tls:\n"
                 "  certificate: cert.pem\n"
                 "  key: missing-key.pem\n"
                 "listen:\n"
                 "  - { service: c2s, address: 127.0.0.1, port: 99999 }\n"
                 "  - { service: c2s, address: 127.0.0.1, port: 5223, tls: maybe }\n"
                 "limits:\n"
                 "  max_depth: deep\n"
                 "  bogus: 1\n",
                 "1: hosts[1]: duplicate host example.test (first at line 1)",
                 "3: colour: unknown key", keyline,
                 "8: listen[0].port: must be an integer between 1 and 65535",
                 "9: listen[1].tls: must be one of required, optional, direct",
                 "11: limits.max_depth: must be an integer between 2 and 1024",
                 "12: limits.bogus: unknown key");
    free(missing);
}

/* In-band registration and the user directory: top-level defaults, hosts
 * given as mappings that override them (in any order in the file), and the
 * checks that need every host. */
static void test_registration_and_directory(void)
{
    struct canto_config cfg;
    struct canto_buf err = {0};
    int rc = load("canto.yaml",
                  "hosts:\n"
                  "  - example.test\n"
                  "  - name: Other.Test\n"
                  "    allow_registration: false\n"
                  "    registration_throttle: { period: 60 }\n"
                  "    user_directory: Search.Other.Test\n"
                  "  - { name: third.test, user_directory: false, allow_registration: true }\n"
                  "data_dir: data\n"
                  "allow_registration: true\n"
                  "registration_throttle: { per_ip: 3, period: \"86400\" }\n",
                  &cfg, &err);
    CHECK_INT(rc, CANTO_OK);
    CHECK_STR(err.data ? err.data : "", "");
    if (rc == CANTO_OK) {
        CHECK_INT(cfg.nhosts, 3);
        CHECK_STR(cfg.hosts[1], "other.test");
        CHECK(ALLOW(&cfg, NULL));
        CHECK_INT(PER_IP(&cfg, NULL), 3);
        CHECK_INT(PERIOD(&cfg, NULL), 86400);
        CHECK_INT(num(&cfg, NULL, &canto_mod_directory, "user_directory"), 1);
        const struct canto_host_config *h = cfg.host_settings;
        CHECK(ALLOW(&cfg, "example.test"));
        CHECK_INT(PER_IP(&cfg, "example.test"), 3);
        CHECK_INT(PERIOD(&cfg, "example.test"), 86400);
        CHECK_STR(DIRECTORY(&cfg, "example.test"), "users.example.test");
        CHECK_INT(h[0].line, 2);
        CHECK(!ALLOW(&cfg, "other.test"));
        CHECK_INT(PER_IP(&cfg, "other.test"), 3);
        CHECK_INT(PERIOD(&cfg, "other.test"), 60);
        CHECK_STR(DIRECTORY(&cfg, "other.test"), "search.other.test");
        CHECK_INT(h[1].line, 3);
        CHECK(ALLOW(&cfg, "third.test"));
        CHECK(DIRECTORY(&cfg, "third.test") == NULL);
        CHECK_INT(h[2].line, 7);
        CHECK(canto_config_host(&cfg, "other.test") == &h[1]);
        CHECK(canto_config_host(&cfg, "Other.Test") == NULL); /* names are prepared */
        CHECK(canto_config_host(&cfg, "search.other.test") == NULL);
        canto_config_free(&cfg);
        CHECK(is_zeroed(&cfg));
    }

    /* directories off by default, on for one host */
    rc = load("canto.yaml",
              "hosts: [a.test, { name: b.test, user_directory: true }]\n"
              "data_dir: data\n"
              "user_directory: false\n",
              &cfg, &err);
    CHECK_INT(rc, CANTO_OK);
    CHECK_STR(err.data ? err.data : "", "");
    if (rc == CANTO_OK) {
        CHECK_INT(num(&cfg, NULL, &canto_mod_directory, "user_directory"), 0);
        CHECK(DIRECTORY(&cfg, "a.test") == NULL);
        CHECK_STR(DIRECTORY(&cfg, "b.test"), "users.b.test");
        canto_config_free(&cfg);
    }
    canto_buf_free(&err);

    /* types and ranges at the top level */
    CHECK_BASE_ERRORS("allow_registration: yes\n",
                      "4: allow_registration: must be true or false");
    CHECK_BASE_ERRORS("registration_throttle:\n"
                      "  per_ip: 0\n"
                      "  period: forever\n"
                      "  burst: 2\n",
                      "5: registration_throttle.per_ip: must be an integer between 1 and 1000000",
                      "6: registration_throttle.period: must be a duration from 1 to 31536000 "
                      "seconds (a number of seconds, or with a unit: 30s, 5min, 2h, 1d)",
                      "7: registration_throttle.burst: unknown key");
    CHECK_BASE_ERRORS("registration_throttle: 5\n", "4: registration_throttle: must be a mapping");
    CHECK_BASE_ERRORS("user_directory: users.example.test\n",
                      "4: user_directory: must be true or false (the domain itself is set per "
                      "host, in hosts:)");

    /* host mappings */
    CHECK_ERRORS("hosts:\n"
                 "  - { allow_registration: true }\n"
                 "  - name: b.test\n"
                 "    allow_registration: maybe\n"
                 "    colour: blue\n"
                 "    registration_throttle: { per_ip: -1 }\n"
                 "  - [c.test]\n"
                 "  - { name: d.test, user_directory: [x] }\n"
                 "  - { name: e.test, user_directory: \"bad name\" }\n"
                 "  - { name: B.test }\n"
                 "data_dir: data\n",
                 "2: hosts[0].name: required key is missing",
                 "4: hosts[1].allow_registration: must be true or false",
                 "5: hosts[1].colour: unknown key",
                 "6: hosts[1].registration_throttle.per_ip: must be an integer between 1 and "
                 "1000000",
                 "7: hosts[2]: must be a host name or a mapping with a name",
                 "8: hosts[3].user_directory: must be true, false or a domain name",
                 "9: hosts[4].user_directory: invalid domain name \"bad name\"",
                 "10: hosts[5]: duplicate host b.test (first at line 3)");

    /* a directory's domain is neither a host nor another host's directory */
    CHECK_ERRORS("hosts:\n"
                 "  - example.test\n"
                 "  - users.example.test\n"
                 "  - { name: b.test, user_directory: example.test }\n"
                 "  - { name: c.test, user_directory: dir.test }\n"
                 "  - { name: d.test, user_directory: Dir.Test }\n"
                 "data_dir: data\n",
                 "2: hosts[0]: user_directory's domain users.example.test is one of the "
                 "hosts (set user_directory to another domain, or false)",
                 "4: hosts[2].user_directory: example.test is one of the hosts (choose another "
                 "domain)",
                 "6: hosts[4].user_directory: dir.test is already the user_directory of c.test "
                 "(line 5)");
}

/* --- the option tables: a test module declaring one option of each type --- */

static const char *const colours[] = {"red", "green", "blue", NULL};

static const struct canto_option test_options[] = {
    {.key = "flag", .type = CANTO_OPT_BOOL, .flags = CANTO_OPT_PER_HOST, .def = 1,
     .doc = "a flag"},
    {.key = "count", .type = CANTO_OPT_INT, .def = 7, .min = 0, .max = 10, .doc = "a count"},
    {.key = "section.size", .type = CANTO_OPT_SIZE, .flags = CANTO_OPT_PER_HOST, .def = 4096,
     .min = 1024, .max = 1048576, .doc = "a size"},
    {.key = "section.wait", .type = CANTO_OPT_DURATION, .def = 30, .min = 1, .max = 3600,
     .doc = "a wait"},
    {.key = "label", .type = CANTO_OPT_STRING, .flags = CANTO_OPT_PER_HOST, .def_str = "canto",
     .doc = "a label"},
    {.key = "colour", .type = CANTO_OPT_ENUM, .flags = CANTO_OPT_PER_HOST, .def = 1,
     .choices = colours, .doc = "a colour"},
    {.key = "limits.widgets", .type = CANTO_OPT_INT, .def = 3, .min = 0, .max = 100,
     .doc = "a module's key in the core's limits: section"},
    {.key = "service", .type = CANTO_OPT_SERVICE, .flags = CANTO_OPT_PER_HOST, .def = 0,
     .def_str = "svc", .doc = "a service, off by default"},
    {0},
};

static const struct canto_module test_module = {.name = "test", .options = test_options};
static const struct canto_module *const test_modules[] = {&test_module, NULL};

/* Loads content with test_module's options (and no built-in module's). */
static int load_test(const char *content, struct canto_config *cfg, struct canto_buf *err)
{
    write_file("canto.yaml", content);
    char *path = in_tmp("canto.yaml");
    canto_buf_reset(err);
    int rc = canto_config_load_modules(path, test_modules, cfg, err);
    free(path);
    return rc;
}

#define T_NUM(cfg, host, key) num((cfg), (host), &test_module, (key))
#define T_STR(cfg, host, key) str((cfg), (host), &test_module, (key))

/* Loads content with test_module and checks that it fails with exactly the
 * error lines given. */
#define CHECK_TEST_ERRORS(content, ...)                                   \
    do {                                                                  \
        struct canto_config cfg_;                                         \
        struct canto_buf err_ = {0};                                      \
        char *want_ = expect(__VA_ARGS__, NULL);                          \
        CHECK_INT(load_test((content), &cfg_, &err_), CANTO_ERROR);       \
        CHECK_STR(err_.data, want_);                                      \
        CHECK(is_zeroed(&cfg_));                                          \
        free(want_);                                                      \
        canto_buf_free(&err_);                                            \
    } while (0)

/* Nothing set: every option has its declared default, at the top level and
 * for each host; the core's limits are still there; built-in modules'
 * keys are unknown to a loader that was not given them. */
static void test_option_defaults(void)
{
    struct canto_config cfg;
    struct canto_buf err = {0};
    int rc = load_test("hosts: [a.test, b.test]\ndata_dir: data\n", &cfg, &err);
    CHECK_INT(rc, CANTO_OK);
    CHECK_STR(err.data ? err.data : "", "");
    if (rc != CANTO_OK)
        return;
    const char *where[] = {NULL, "a.test", "b.test"};
    for (size_t i = 0; i < CANTO_ARRAY_LEN(where); i++) {
        CHECK_INT(T_NUM(&cfg, where[i], "flag"), 1);
        CHECK_INT(T_NUM(&cfg, where[i], "count"), 7);
        CHECK_INT(T_NUM(&cfg, where[i], "section.size"), 4096);
        CHECK_INT(T_NUM(&cfg, where[i], "section.wait"), 30);
        CHECK_STR(T_STR(&cfg, where[i], "label"), "canto");
        CHECK_INT(T_NUM(&cfg, where[i], "colour"), 1);
        CHECK_INT(T_NUM(&cfg, where[i], "limits.widgets"), 3);
        CHECK(T_STR(&cfg, where[i], "service") == NULL);
        CHECK_INT(canto_config_option(&cfg, where[i], &test_module, "count")->line, 0);
    }
    CHECK_INT(cfg.limits.max_depth, 32);
    CHECK_INT(cfg.limits.connect_timeout, 30);
    canto_config_free(&cfg);
    CHECK(is_zeroed(&cfg));

    CHECK_TEST_ERRORS("hosts: [a.test]\ndata_dir: data\nallow_registration: true\n",
                      "3: allow_registration: unknown key");
    canto_buf_free(&err);
}

/* Top-level values are every host's; a host's mapping overrides the options
 * marked per host, and only those, whatever the order in the file. */
static void test_option_values_and_hosts(void)
{
    struct canto_config cfg;
    struct canto_buf err = {0};
    int rc = load_test("hosts:\n"
                       "  - a.test\n"
                       "  - name: b.test\n"
                       "    flag: false\n"
                       "    section: { size: 2048 }\n"
                       "    label: bee\n"
                       "    colour: red\n"
                       "    service: true\n"
                       "  - { name: c.test, service: Svc.Elsewhere.Test }\n"
                       "data_dir: data\n"
                       "flag: true\n"
                       "count: \"10\"\n"
                       "section:\n"
                       "  size: 1048576\n"
                       "  wait: 1\n"
                       "label: top\n"
                       "colour: blue\n"
                       "limits: { widgets: 0, max_depth: 8 }\n",
                       &cfg, &err);
    CHECK_INT(rc, CANTO_OK);
    CHECK_STR(err.data ? err.data : "", "");
    if (rc != CANTO_OK)
        return;
    CHECK_INT(T_NUM(&cfg, NULL, "flag"), 1);
    CHECK_INT(T_NUM(&cfg, NULL, "count"), 10);
    CHECK_INT(T_NUM(&cfg, NULL, "section.size"), 1048576);
    CHECK_INT(T_NUM(&cfg, NULL, "section.wait"), 1);
    CHECK_STR(T_STR(&cfg, NULL, "label"), "top");
    CHECK_INT(T_NUM(&cfg, NULL, "colour"), 2);
    CHECK_INT(T_NUM(&cfg, NULL, "limits.widgets"), 0);
    CHECK_INT(canto_config_option(&cfg, NULL, &test_module, "limits.widgets")->line, 18);
    CHECK_INT(cfg.limits.max_depth, 8);

    /* a.test: everything from the top level */
    CHECK_INT(T_NUM(&cfg, "a.test", "flag"), 1);
    CHECK_INT(T_NUM(&cfg, "a.test", "section.size"), 1048576);
    CHECK_STR(T_STR(&cfg, "a.test", "label"), "top");
    CHECK_INT(T_NUM(&cfg, "a.test", "colour"), 2);
    CHECK(T_STR(&cfg, "a.test", "service") == NULL);
    /* b.test: its own values; count and section.wait are not per host */
    CHECK_INT(T_NUM(&cfg, "b.test", "flag"), 0);
    CHECK_INT(canto_config_option(&cfg, "b.test", &test_module, "flag")->line, 4);
    CHECK_INT(T_NUM(&cfg, "b.test", "count"), 10);
    CHECK_INT(T_NUM(&cfg, "b.test", "section.size"), 2048);
    CHECK_INT(T_NUM(&cfg, "b.test", "section.wait"), 1);
    CHECK_STR(T_STR(&cfg, "b.test", "label"), "bee");
    CHECK_INT(T_NUM(&cfg, "b.test", "colour"), 0);
    CHECK_STR(T_STR(&cfg, "b.test", "service"), "svc.b.test");
    /* c.test: a service's domain, prepared */
    CHECK_STR(T_STR(&cfg, "c.test", "service"), "svc.elsewhere.test");
    CHECK_INT(T_NUM(&cfg, "c.test", "flag"), 1);
    canto_config_free(&cfg);
    CHECK(is_zeroed(&cfg));
    canto_buf_free(&err);
}

/* A duration is seconds, or a number with a unit. */
static void test_option_durations(void)
{
    static const struct {
        const char *text;
        long seconds;
    } cases[] = {{"1", 1}, {"\"45\"", 45}, {"45s", 45}, {"2min", 120}, {"1h", 3600},
                 {"60min", 3600}, {"0001s", 1}};
    for (size_t i = 0; i < CANTO_ARRAY_LEN(cases); i++) {
        struct canto_config cfg;
        struct canto_buf err = {0}, content = {0};
        canto_buf_appendf(&content, "hosts: [a.test]\ndata_dir: data\nsection: { wait: %s }\n",
                          cases[i].text);
        int rc = load_test(content.data, &cfg, &err);
        CHECK_INT(rc, CANTO_OK);
        CHECK_STR(err.data ? err.data : "", "");
        if (rc == CANTO_OK) {
            CHECK_INT(T_NUM(&cfg, NULL, "section.wait"), cases[i].seconds);
            canto_config_free(&cfg);
        }
        canto_buf_free(&content);
        canto_buf_free(&err);
    }
    /* the core's timeouts are durations too */
    struct canto_config cfg;
    struct canto_buf err = {0};
    int rc = load("canto.yaml",
                  "hosts: [a.test]\ndata_dir: data\n"
                  "limits: { connect_timeout: 1min, idle_timeout: 1d }\n"
                  "registration_throttle: { period: 1d }\n",
                  &cfg, &err);
    CHECK_INT(rc, CANTO_OK);
    CHECK_STR(err.data ? err.data : "", "");
    if (rc == CANTO_OK) {
        CHECK_INT(cfg.limits.connect_timeout, 60);
        CHECK_INT(cfg.limits.idle_timeout, 86400);
        CHECK_INT(PERIOD(&cfg, "a.test"), 86400);
        canto_config_free(&cfg);
    }
    canto_buf_free(&err);
}

/* Every bad value is reported with file, line and dotted key, numbers with
 * their bounds; unknown keys stay errors, also an option that is not per
 * host written in a host's mapping; a key given twice is reported once. */
static void test_option_errors(void)
{
    CHECK_TEST_ERRORS("hosts: [a.test]\n"
                      "data_dir: data\n"
                      "flag: yes\n"
                      "count: 11\n"
                      "section:\n"
                      "  size: 1023\n"
                      "  wait: 0\n"
                      "  bogus: 1\n"
                      "label: \"\"\n"
                      "colour: purple\n"
                      "limits: { widgets: many, bogus: 1 }\n"
                      "service: svc.a.test\n",
                      "3: flag: must be true or false",
                      "4: count: must be an integer between 0 and 10",
                      "6: section.size: must be an integer between 1024 and 1048576",
                      "7: section.wait: must be a duration from 1 to 3600 seconds (a number of "
                      "seconds, or with a unit: 30s, 5min, 2h, 1d)",
                      "8: section.bogus: unknown key",
                      "9: label: must not be empty",
                      "10: colour: must be one of red, green, blue",
                      "11: limits.widgets: must be an integer between 0 and 100",
                      "11: limits.bogus: unknown key",
                      "12: service: must be true or false (the domain itself is set per host, "
                      "in hosts:)");
    CHECK_TEST_ERRORS("hosts: [a.test]\n"
                      "data_dir: data\n"
                      "count: 1\n"
                      "section: 5\n"
                      "count: 2\n"
                      "section: { size: 2048 }\n"
                      "section.size: 2048\n",
                      "4: section: must be a mapping",
                      "5: count: duplicate key (first at line 3)",
                      "6: section: duplicate key (first at line 4)",
                      "7: section.size: unknown key");
    CHECK_TEST_ERRORS("hosts:\n"
                      "  - name: a.test\n"
                      "    count: 1\n"
                      "    section: { size: 2048, wait: 5 }\n"
                      "    limits: { widgets: 1 }\n"
                      "    flag: maybe\n"
                      "    flag: true\n"
                      "    service: [x]\n"
                      "data_dir: data\n",
                      "3: hosts[0].count: unknown key",
                      "4: hosts[0].section.wait: unknown key",
                      "5: hosts[0].limits: unknown key",
                      "6: hosts[0].flag: must be true or false",
                      "7: hosts[0].flag: duplicate key (first at line 6)",
                      "8: hosts[0].service: must be true, false or a domain name");
    /* durations: seconds, or a number with a unit, within the bounds once
     * converted */
    CHECK_TEST_ERRORS("hosts: [a.test]\n"
                      "data_dir: data\n"
                      "section: { wait: 2h }\n",
                      "3: section.wait: must be a duration from 1 to 3600 seconds (a number of "
                      "seconds, or with a unit: 30s, 5min, 2h, 1d)");
    static const char *const bad_durations[] = {"0s", "5 min", "5m", "1.5h", "-1s", "s", "1hour",
                                                "[1]", "10000000000s"};
    for (size_t i = 0; i < CANTO_ARRAY_LEN(bad_durations); i++) {
        struct canto_buf content = {0};
        canto_buf_appendf(&content, "hosts: [a.test]\ndata_dir: data\nsection: { wait: %s }\n",
                          bad_durations[i]);
        CHECK_TEST_ERRORS(content.data,
                          "3: section.wait: must be a duration from 1 to 3600 seconds (a number "
                          "of seconds, or with a unit: 30s, 5min, 2h, 1d)");
        canto_buf_free(&content);
    }

    /* a service's domain is neither a host nor another host's service */
    CHECK_TEST_ERRORS("hosts:\n"
                      "  - { name: a.test, service: b.test }\n"
                      "  - { name: b.test, service: true }\n"
                      "  - { name: c.test, service: svc.b.test }\n"
                      "  - svc.d.test\n"
                      "  - d.test\n"
                      "  - { name: c.test, service: false }\n"
                      "data_dir: data\n"
                      "service: true\n",
                      "2: hosts[0].service: b.test is one of the hosts (choose another domain)",
                      "4: hosts[2].service: svc.b.test is already the service of b.test (line 3)",
                      "6: hosts[4]: service's domain svc.d.test is one of the hosts (set "
                      "service to another domain, or false)",
                      "7: hosts[5]: duplicate host c.test (first at line 4)");
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

int main(void)
{
    char tmpl[] = "/tmp/canto-test-config-XXXXXX";
    if (!mkdtemp(tmpl) || !realpath(tmpl, tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    write_file("cert.pem", "-----BEGIN CERTIFICATE-----\n");
    write_file("key.pem", "-----BEGIN PRIVATE KEY-----\n");
    write_file("other-cert.pem", "-----BEGIN CERTIFICATE-----\n");
    write_file("other-key.pem", "-----BEGIN PRIVATE KEY-----\n");

    test_full();
    test_minimal();
    test_unknown_keys();
    test_wrong_types();
    test_listen();
    test_certificates();
    test_hosts();
    test_syntax_errors();
    test_relative_paths();
    test_many_errors();
    test_registration_and_directory();
    test_option_defaults();
    test_option_values_and_hosts();
    test_option_durations();
    test_option_errors();

    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return CHECK_DONE();
}
