/*
 * config.c: loading and validating the YAML configuration (config.h).
 *
 * The file is parsed with libyaml's document API, so that every node carries
 * the line it came from, and then walked against a schema: each mapping the
 * server knows is described by a table of keys (name, handler, required),
 * in the manner of nginx's directive tables. A handler checks one value's
 * type and range and stores it into struct canto_config. Anything the tables
 * do not name is an error, never silently ignored, because a misspelt key
 * that is ignored is a setting the operator believes in and does not have.
 *
 * The keys a feature reads are not in these tables but in the feature's
 * module: each declares its options (config.h, struct canto_option: key,
 * type, default, bounds, one line of doc), as ejabberd's mod_options do, and
 * the walker checks them generically wherever they may appear: at the top
 * level, in a section (registration_throttle:, or the core's limits:), and
 * in a host's mapping under hosts: for the options marked per host. The
 * core's limits are options too (CORE_LIMITS), so that one printer lists
 * every option (cantod --print-options, the table in docs/configuration.md).
 * After the walk each host gets every option resolved (its own value, else
 * the top level's), and a module reads it with canto_module_option_*().
 *
 * Validation does not stop at the first problem: every error is collected
 * as "FILE:LINE: dotted.key.path: what is wrong" and handed to the caller
 * sorted by line, so one run shows the operator everything to fix. Only
 * when no error was found is the result handed over; otherwise it is freed
 * and the struct zeroed.
 *
 * Paths in the file (data_dir, certificates, keys) are resolved against the
 * directory of the configuration file and stored absolute, so the server may
 * change its working directory later without their meaning changing.
 *
 * No global state: everything lives in a struct loader on the stack of
 * canto_config_load.
 */
#include "canto/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "canto/jid.h"
#include "canto/module.h"
#include "core/listeners.h"

/* One error found, kept until the end so that all can be sorted by line. */
struct error_line {
    int line;
    size_t seq;  /* discovery order, to keep the sort stable */
    char *text;  /* "FILE:LINE: path: message\n" */
};

/* The state of one load: the document, where errors go, what is built. */
struct loader {
    const char *file;           /* the path as the caller gave it, for messages */
    char *dir;                  /* absolute directory of the file, for relative paths */
    yaml_document_t *doc;       /* the parsed document */
    struct canto_buf *err;      /* where the sorted errors go at the end */
    struct error_line *errors;  /* errors found so far, in discovery order */
    size_t nerrors;             /* how many */
    struct canto_config *cfg;   /* what is being filled */
    bool have_tls;              /* a tls: section was present */
    int listen_line;            /* line of the listen: key, for "tls is required" */
    struct host_tmp *host_tmp;  /* what each host's mapping set, parallel to cfg->hosts */
    struct opt_ref *opts;       /* every option: the core's, then each module's */
    size_t nopts;               /* how many (cfg->noptions) */
};

/* One option of the flat list the loader works on, and whose it is. */
struct opt_ref {
    const struct canto_module *module;
    const struct canto_option *opt;
};

/* What one hosts: entry set, kept until the whole file is read, because the
 * top-level values a host overrides may be written after hosts:. */
struct host_tmp {
    char *name;             /* prepared, once name: (or the plain entry) was read */
    size_t index;           /* position in the hosts: list, for key paths */
    int line;               /* line of the entry */
    struct canto_option_value *options; /* what the entry set (line 0: not set), one per
                                         * option */
};

/* Where a mapping's keys may be options: the dotted prefix of its keys ("" at
 * the top level, "limits", "registration_throttle") and whose values they
 * are (a host's, or NULL for the top level). */
struct opt_scope {
    const char *prefix;
    struct host_tmp *host;
};

struct key_spec;

/* A handler for one key: path is the key's dotted path, key and value its
 * nodes, target what the enclosing walk fills, spec the table entry. */
typedef void (*key_handler)(struct loader *ld, const char *path, const yaml_node_t *key,
                            const yaml_node_t *value, void *target, const struct key_spec *spec);

/* One entry of a mapping's schema. */
struct key_spec {
    const char *name;     /* the key as written in the file */
    key_handler fn;       /* checks and stores the value */
    bool required;        /* missing is an error */
    const void *arg;      /* handler-specific data (limits: the bounds) */
};

static int line_of(const yaml_node_t *node)
{
    return node ? (int)node->start_mark.line + 1 : 1;
}

/* Records one "FILE:LINE: path: message" line (no path part when path is
 * empty). */
static void vfail(struct loader *ld, int line, const char *path, const char *fmt, va_list ap)
{
    struct canto_buf b = {0};
    canto_buf_appendf(&b, "%s:%d: ", ld->file, line);
    if (path && *path)
        canto_buf_appendf(&b, "%s: ", path);
    canto_buf_vappendf(&b, fmt, ap);
    canto_buf_append_char(&b, '\n');
    ld->errors = canto_xrealloc(ld->errors, (ld->nerrors + 1) * sizeof *ld->errors);
    ld->errors[ld->nerrors] = (struct error_line){line, ld->nerrors, canto_buf_steal(&b)};
    ld->nerrors++;
}

/* An error about node; a node of NULL means the document had no node at all
 * (an empty file): line 1. */
static void failf(struct loader *ld, const yaml_node_t *node, const char *path, const char *fmt,
                  ...) CANTO_PRINTF(4, 5);

static void failf(struct loader *ld, const yaml_node_t *node, const char *path, const char *fmt,
                  ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(ld, line_of(node), path, fmt, ap);
    va_end(ap);
}

static void fail_line(struct loader *ld, int line, const char *path, const char *fmt, ...)
    CANTO_PRINTF(4, 5);

static void fail_line(struct loader *ld, int line, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(ld, line, path, fmt, ap);
    va_end(ap);
}

/* Sets b to the dotted path of key under parent ("limits" + "max_depth").
 * Paths are built in a reused buffer, not a fixed array, because a host
 * name under tls.hosts may be up to 1023 bytes long. */
static const char *key_path(struct canto_buf *b, const char *parent, const char *key)
{
    canto_buf_reset(b);
    if (parent && *parent)
        canto_buf_appendf(b, "%s.%s", parent, key);
    else
        canto_buf_append_str(b, key);
    return b->data;
}

/* Sets b to the path of list entry i under parent ("listen[1]"). */
static const char *index_path(struct canto_buf *b, const char *parent, size_t i)
{
    canto_buf_reset(b);
    canto_buf_appendf(b, "%s[%zu]", parent, i);
    return b->data;
}

static const char *scalar(const yaml_node_t *node)
{
    return (const char *)node->data.scalar.value;
}

/* YAML's null: an empty plain scalar (`key:` with nothing after it), "~" or
 * "null". Optional sections accept it as "empty", so that an operator can
 * comment out every entry of a section and keep its heading. */
static bool is_null(const yaml_node_t *node)
{
    if (!node)
        return true;
    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = scalar(node);
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

/* --- paths ------------------------------------------------------------------ */

/* base (absolute) joined with p unless p is absolute, with ".", ".." and
 * repeated slashes removed. Why lexical and not realpath(3): data_dir may not
 * exist yet, and a certificate path is often a symlink that renewal re-points
 * (certbot's live/), which a reload must follow again rather than keep the
 * old target. Returns a malloc'd string. */
static char *path_resolve(const char *base, const char *p)
{
    struct canto_buf full = {0};
    if (p[0] != '/') {
        canto_buf_append_str(&full, base);
        canto_buf_append_char(&full, '/');
    }
    canto_buf_append_str(&full, p);

    char *out = canto_xmalloc(full.len + 2);
    size_t len = 0;
    const char *s = full.data;
    while (*s) {
        while (*s == '/')
            s++;
        const char *end = strchr(s, '/');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        if (n == 0 || (n == 1 && s[0] == '.')) {
            /* nothing to add */
        } else if (n == 2 && s[0] == '.' && s[1] == '.') {
            while (len > 0 && out[len - 1] != '/')
                len--;
            if (len > 0)
                len--;
        } else {
            out[len++] = '/';
            memcpy(out + len, s, n);
            len += n;
        }
        s += n;
    }
    if (len == 0)
        out[len++] = '/';
    out[len] = '\0';
    canto_buf_free(&full);
    return out;
}

/* The absolute directory holding path. CANTO_ERROR if the working directory
 * cannot be determined (it was removed under us). */
static int config_dir(const char *path, char **out)
{
    char *cwd = getcwd(NULL, 0);
    if (!cwd)
        return CANTO_ERROR;
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash) {
        dir = canto_xstrdup(".");
    } else if (slash == path) {
        dir = canto_xstrdup("/");
    } else {
        dir = canto_xstrndup(path, (size_t)(slash - path));
    }
    *out = path_resolve(cwd, dir);
    free(dir);
    free(cwd);
    return CANTO_OK;
}

/* --- typed values ----------------------------------------------------------- */

/* A non-empty string value, or NULL after reporting why not. */
static const char *get_string(struct loader *ld, const char *path, const yaml_node_t *node)
{
    if (node->type != YAML_SCALAR_NODE) {
        failf(ld, node, path, "must be a string");
        return NULL;
    }
    if (is_null(node) || node->data.scalar.length == 0) {
        failf(ld, node, path, "must not be empty");
        return NULL;
    }
    if (strlen(scalar(node)) != node->data.scalar.length) {
        failf(ld, node, path, "must not contain NUL characters");
        return NULL;
    }
    return scalar(node);
}

/* An integer in [min, max], or CANTO_INVALID after reporting it. */
static int get_integer(struct loader *ld, const char *path, const yaml_node_t *node, long min,
                       long max, long *out)
{
    if (node->type != YAML_SCALAR_NODE ||
        canto_parse_long(scalar(node), min, max, out) != CANTO_OK ||
        !(scalar(node)[0] >= '0' && scalar(node)[0] <= '9')) {
        failf(ld, node, path, "must be an integer between %ld and %ld", min, max);
        return CANTO_INVALID;
    }
    return CANTO_OK;
}

/* A duration in whole seconds in [min, max]: a plain integer is seconds (as
 * every timeout has always been written), or an integer with a unit (30s,
 * 5min, 2h, 1d), because "idle_timeout: 15min" says what "900" makes the
 * reader work out. CANTO_INVALID after reporting it with the bounds. */
static int get_duration(struct loader *ld, const char *path, const yaml_node_t *node, long min,
                        long max, long *out)
{
    static const struct {
        const char *name;
        long seconds;
    } units[] = {{"", 1}, {"s", 1}, {"min", 60}, {"h", 3600}, {"d", 86400}};
    const char *s = node->type == YAML_SCALAR_NODE ? scalar(node) : "";
    size_t digits = strspn(s, "0123456789");
    for (size_t i = 0; digits > 0 && digits <= 9 && i < CANTO_ARRAY_LEN(units); i++) {
        if (strcmp(s + digits, units[i].name) != 0)
            continue;
        char num[10];
        memcpy(num, s, digits);
        num[digits] = '\0';
        long n;
        if (canto_parse_long(num, 0, 999999999, &n) == CANTO_OK && n * units[i].seconds >= min &&
            n * units[i].seconds <= max) {
            *out = n * units[i].seconds;
            return CANTO_OK;
        }
        break;
    }
    failf(ld, node, path,
          "must be a duration from %ld to %ld seconds (a number of seconds, or with a unit: 30s, "
          "5min, 2h, 1d)",
          min, max);
    return CANTO_INVALID;
}

/* The index of the value in names, or -1 after reporting "must be one of". */
static int get_choice(struct loader *ld, const char *path, const yaml_node_t *node,
                      const char *const *names, size_t n)
{
    if (node->type == YAML_SCALAR_NODE) {
        for (size_t i = 0; i < n; i++) {
            if (strcmp(scalar(node), names[i]) == 0)
                return (int)i;
        }
    }
    struct canto_buf list = {0};
    for (size_t i = 0; i < n; i++)
        canto_buf_appendf(&list, "%s%s", i ? ", " : "", names[i]);
    failf(ld, node, path, "must be one of %s", list.data);
    canto_buf_free(&list);
    return -1;
}

/* A readable regular file, resolved against the config's directory. The
 * resolved path is returned (malloc'd) even when the file is unusable, so
 * that the caller's struct looks the same either way; the error decides. */
static char *get_file(struct loader *ld, const char *path, const yaml_node_t *node)
{
    const char *s = get_string(ld, path, node);
    if (!s)
        return NULL;
    char *abs = path_resolve(ld->dir, s);
    struct stat st;
    if (access(abs, R_OK) != 0) {
        failf(ld, node, path, "cannot read %s: %s", abs, strerror(errno));
    } else if (stat(abs, &st) != 0) {
        failf(ld, node, path, "cannot read %s: %s", abs, strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
        failf(ld, node, path, "cannot read %s: %s", abs, strerror(EISDIR));
    } else if (!S_ISREG(st.st_mode)) {
        failf(ld, node, path, "cannot read %s: not a regular file", abs);
    }
    return abs;
}

/* A prepared domain name (jid.h), or NULL after reporting it. "*." in front
 * is allowed when wildcard is set (certificate names chosen by SNI). */
static char *get_domain(struct loader *ld, const char *path, const yaml_node_t *node, const char *s,
                        bool wildcard)
{
    bool star = wildcard && strncmp(s, "*.", 2) == 0;
    const char *name = star ? s + 2 : s;
    char *prep = strpbrk(name, "@/* \t") ? NULL : canto_jid_prep_domain(name);
    if (!prep) {
        failf(ld, node, path, "invalid domain name \"%s\"", s);
        return NULL;
    }
    if (!star)
        return prep;
    struct canto_buf b = {0};
    canto_buf_appendf(&b, "*.%s", prep);
    free(prep);
    return canto_buf_steal(&b);
}

/* --- the schema walker -------------------------------------------------------- */

static bool walk_option(struct loader *ld, const char *path, const struct opt_scope *scope,
                        const yaml_node_t *key, const yaml_node_t *value);

/* The key node of an earlier pair of map with the same text as pair p's
 * key, or NULL: YAML says keys are unique, libyaml does not check. */
static const yaml_node_t *earlier_key(struct loader *ld, const yaml_node_t *map,
                                      const yaml_node_pair_t *p, const char *name)
{
    for (const yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
        const yaml_node_t *k = yaml_document_get_node(ld->doc, q->key);
        if (k->type == YAML_SCALAR_NODE && strcmp(scalar(k), name) == 0)
            return k;
    }
    return NULL;
}

static const yaml_node_t *find_value(struct loader *ld, const yaml_node_t *map, const char *name);

/* Checks that node is a mapping (or null, meaning empty), dispatches each key
 * to its handler in specs or, when scope is given, to the module option it
 * names, and reports unknown, duplicate and missing keys. Returns false if
 * node was not a mapping at all (nothing was walked). */
static bool walk_mapping_in(struct loader *ld, const char *path, const yaml_node_t *node,
                            const struct key_spec *specs, size_t nspecs, void *target,
                            const struct opt_scope *scope)
{
    struct canto_buf child = {0};

    if (node && node->type != YAML_MAPPING_NODE && !is_null(node)) {
        if (path && *path)
            failf(ld, node, path, "must be a mapping");
        else
            failf(ld, node, NULL, "the top level must be a mapping of keys to values");
        return false;
    }
    if (node && node->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = node->data.mapping.pairs.start;
             p < node->data.mapping.pairs.top; p++) {
            const yaml_node_t *k = yaml_document_get_node(ld->doc, p->key);
            const yaml_node_t *v = yaml_document_get_node(ld->doc, p->value);
            if (k->type != YAML_SCALAR_NODE) {
                failf(ld, k, path, "keys must be plain strings");
                continue;
            }
            key_path(&child, path, scalar(k));
            const yaml_node_t *first = earlier_key(ld, node, p, scalar(k));
            size_t i = 0;
            while (i < nspecs && strcmp(specs[i].name, scalar(k)) != 0)
                i++;
            if (i < nspecs && first) {
                failf(ld, k, child.data, "duplicate key (first at line %d)", line_of(first));
            } else if (i < nspecs) {
                specs[i].fn(ld, child.data, k, v, target, &specs[i]);
            } else if (!scope || !walk_option(ld, child.data, scope, k, first ? NULL : v)) {
                failf(ld, k, child.data, "unknown key");
            } else if (first) {
                failf(ld, k, child.data, "duplicate key (first at line %d)", line_of(first));
            }
        }
    }
    for (size_t i = 0; i < nspecs; i++) {
        if (specs[i].required && !find_value(ld, node, specs[i].name)) {
            key_path(&child, path, specs[i].name);
            failf(ld, node, child.data, "required key is missing");
        }
    }
    canto_buf_free(&child);
    return true;
}

/* walk_mapping_in for a mapping that holds no module options. */
static bool walk_mapping(struct loader *ld, const char *path, const yaml_node_t *node,
                         const struct key_spec *specs, size_t nspecs, void *target)
{
    return walk_mapping_in(ld, path, node, specs, nspecs, target, NULL);
}

/* The value of key name in a mapping node, or NULL. */
static const yaml_node_t *find_value(struct loader *ld, const yaml_node_t *map, const char *name)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    const yaml_node_pair_t *end = map->data.mapping.pairs.top;
    for (const yaml_node_pair_t *p = map->data.mapping.pairs.start; p < end; p++) {
        const yaml_node_t *k = yaml_document_get_node(ld->doc, p->key);
        if (k->type == YAML_SCALAR_NODE && strcmp(scalar(k), name) == 0)
            return yaml_document_get_node(ld->doc, p->value);
    }
    return NULL;
}

/* --- booleans ------------------------------------------------------------------ */

/* A YAML boolean: true or false, in the three spellings YAML 1.2 knows
 * (quoting is allowed, as for numbers). Returns CANTO_INVALID without
 * reporting anything when node is not one, so that a caller that also
 * accepts other values can decide what to say. */
static int parse_bool(const yaml_node_t *node, bool *out)
{
    static const char *const yes[] = {"true", "True", "TRUE"};
    static const char *const no[] = {"false", "False", "FALSE"};
    if (node->type != YAML_SCALAR_NODE)
        return CANTO_INVALID;
    for (size_t i = 0; i < CANTO_ARRAY_LEN(yes); i++) {
        if (strcmp(scalar(node), yes[i]) == 0) {
            *out = true;
            return CANTO_OK;
        }
        if (strcmp(scalar(node), no[i]) == 0) {
            *out = false;
            return CANTO_OK;
        }
    }
    return CANTO_INVALID;
}

/* A boolean value, or CANTO_INVALID after reporting it. */
static int get_bool(struct loader *ld, const char *path, const yaml_node_t *node, bool *out)
{
    if (parse_bool(node, out) != CANTO_OK) {
        failf(ld, node, path, "must be true or false");
        return CANTO_INVALID;
    }
    return CANTO_OK;
}

/* --- module options ------------------------------------------------------------ */

/* The index in ld->opts of the option named key (dotted, from the top of
 * its scope) that may be set in scope, or -1. */
static long option_index(const struct loader *ld, const struct opt_scope *scope,
                         const char *key)
{
    for (size_t i = 0; i < ld->nopts; i++) {
        const struct canto_option *o = ld->opts[i].opt;
        if (strcmp(o->key, key) == 0 && (!scope->host || (o->flags & CANTO_OPT_PER_HOST)))
            return (long)i;
    }
    return -1;
}

/* True if some option that may be set in scope lives in the section key
 * ("registration_throttle" for "registration_throttle.per_ip"). */
static bool is_option_section(const struct loader *ld, const struct opt_scope *scope,
                              const char *key)
{
    size_t n = strlen(key);
    for (size_t i = 0; i < ld->nopts; i++) {
        const struct canto_option *o = ld->opts[i].opt;
        if (strncmp(o->key, key, n) == 0 && o->key[n] == '.' &&
            (!scope->host || (o->flags & CANTO_OPT_PER_HOST)))
            return true;
    }
    return false;
}

/* Checks value against option o and returns what it means in out (line
 * set); CANTO_INVALID after reporting why not. in_host: the value is in a
 * host's mapping (where a service may be given its domain). */
static int parse_option(struct loader *ld, const char *path, const struct canto_option *o,
                        bool in_host, const yaml_node_t *value, struct canto_option_value *out)
{
    *out = (struct canto_option_value){.line = line_of(value)};
    bool b;
    switch (o->type) {
    case CANTO_OPT_BOOL:
        if (get_bool(ld, path, value, &b) != CANTO_OK)
            return CANTO_INVALID;
        out->num = b;
        return CANTO_OK;
    case CANTO_OPT_INT:
    case CANTO_OPT_SIZE:
        return get_integer(ld, path, value, o->min, o->max, &out->num);
    case CANTO_OPT_DURATION:
        return get_duration(ld, path, value, o->min, o->max, &out->num);
    case CANTO_OPT_STRING: {
        const char *s = get_string(ld, path, value);
        if (!s)
            return CANTO_INVALID;
        out->str = canto_xstrdup(s);
        return CANTO_OK;
    }
    case CANTO_OPT_ENUM: {
        size_t n = 0;
        while (o->choices[n])
            n++;
        int i = get_choice(ld, path, value, o->choices, n);
        if (i < 0)
            return CANTO_INVALID;
        out->num = i;
        return CANTO_OK;
    }
    case CANTO_OPT_SERVICE:
        if (parse_bool(value, &b) == CANTO_OK) {
            out->num = b;
            return CANTO_OK;
        }
        if (!in_host) {
            failf(ld, value, path,
                  "must be true or false (the domain itself is set per host, in hosts:)");
            return CANTO_INVALID;
        }
        if (value->type != YAML_SCALAR_NODE) {
            failf(ld, value, path, "must be true, false or a domain name");
            return CANTO_INVALID;
        }
        const char *s = get_string(ld, path, value);
        out->str = s ? get_domain(ld, path, value, s, false) : NULL;
        if (!out->str)
            return CANTO_INVALID;
        out->num = 2;
        return CANTO_OK;
    }
    abort(); /* a type the loader does not know: a programming error */
}

/* A key of a mapping that may hold options (walk_mapping_in): the option it
 * names is checked and stored in the scope's values, a section of options is
 * walked. value NULL: only say whether the key is one (a duplicate). Returns
 * false if no option of the scope has that name. */
static bool walk_option(struct loader *ld, const char *path, const struct opt_scope *scope,
                        const yaml_node_t *key, const yaml_node_t *value)
{
    /* "registration_throttle.per_ip: 3" is not the option's path: a dotted
     * key names nothing, as before options were tables */
    if (strchr(scalar(key), '.'))
        return false;
    struct canto_buf full = {0};
    if (*scope->prefix)
        canto_buf_appendf(&full, "%s.%s", scope->prefix, scalar(key));
    else
        canto_buf_append_str(&full, scalar(key));
    long i = option_index(ld, scope, full.data);
    bool known = i >= 0 || is_option_section(ld, scope, full.data);
    if (known && value && i >= 0) {
        struct canto_option_value v;
        struct canto_option_value *slot = scope->host ? &scope->host->options[i]
                                                      : &ld->cfg->options[i];
        if (parse_option(ld, path, ld->opts[i].opt, scope->host != NULL, value, &v) ==
            CANTO_OK) {
            free(slot->str);
            *slot = v;
        }
    } else if (known && value) {
        struct opt_scope inner = {full.data, scope->host};
        walk_mapping_in(ld, path, value, NULL, 0, NULL, &inner);
    }
    canto_buf_free(&full);
    return known;
}

/* Builds the flat list of options: the core's own (core_options), then
 * those of each module, in order. Two declarations of one key are a
 * programming error, reported once at start rather than left to shadow
 * each other. */
static const struct canto_module core_module;

static void collect_options(struct loader *ld, const struct canto_module *const *modules)
{
    size_t n = 0;
    for (const struct canto_option *o = core_module.options; o->key; o++)
        n++;
    for (size_t m = 0; modules[m]; m++)
        for (const struct canto_option *o = modules[m]->options; o && o->key; o++)
            n++;
    ld->opts = canto_xcalloc(n ? n : 1, sizeof *ld->opts);
    for (const struct canto_option *o = core_module.options; o->key; o++)
        ld->opts[ld->nopts++] = (struct opt_ref){&core_module, o};
    for (size_t m = 0; modules[m]; m++)
        for (const struct canto_option *o = modules[m]->options; o && o->key; o++)
            ld->opts[ld->nopts++] = (struct opt_ref){modules[m], o};
    for (size_t i = 0; i < ld->nopts; i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(ld->opts[i].opt->key, ld->opts[j].opt->key) == 0) {
                fprintf(stderr, "option %s is declared by modules %s and %s\n",
                        ld->opts[i].opt->key, ld->opts[j].module->name,
                        ld->opts[i].module->name);
                abort();
            }
        }
    }
}

/* --- hosts ------------------------------------------------------------------------ */

/* The keys of a host given as a mapping (target: struct host_tmp). */
static void on_host_name(struct loader *ld, const char *path, const yaml_node_t *key,
                         const yaml_node_t *value, void *target, const struct key_spec *spec)
{
    struct host_tmp *t = target;
    const char *s = get_string(ld, path, value);
    t->name = s ? get_domain(ld, path, value, s, false) : NULL;
    t->line = line_of(value);
}

/* Beside its name, a host's mapping holds the options marked
 * CANTO_OPT_PER_HOST (walk_option). */
static const struct key_spec host_keys[] = {
    {"name", on_host_name, true, NULL},
};

static void free_option_values(struct canto_option_value *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i].str);
    free(v);
}

/* hosts: a non-empty list of distinct domain names, stored prepared so that
 * every later comparison with a JID's domain is a plain strcmp. An entry is
 * either the name alone or a mapping with the name and the settings in
 * which that host differs from the top level. */
static void on_hosts(struct loader *ld, const char *path, const yaml_node_t *key,
                     const yaml_node_t *value, void *target, const struct key_spec *spec)
{
    struct canto_config *cfg = ld->cfg;
    struct canto_buf item = {0};

    if (value->type != YAML_SEQUENCE_NODE && !is_null(value)) {
        failf(ld, value, path, "must be a list of host names");
        return;
    }
    size_t n = is_null(value) ? 0
                              : (size_t)(value->data.sequence.items.top -
                                         value->data.sequence.items.start);
    if (n == 0) {
        failf(ld, value, path, "must list at least one host");
        return;
    }
    cfg->hosts = canto_xcalloc(n, sizeof *cfg->hosts);
    ld->host_tmp = canto_xcalloc(n, sizeof *ld->host_tmp);
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *v = yaml_document_get_node(ld->doc, value->data.sequence.items.start[i]);
        index_path(&item, path, i);
        struct host_tmp t = {.index = i, .line = line_of(v),
                             .options = canto_xcalloc(ld->nopts ? ld->nopts : 1,
                                                      sizeof *t.options)};
        if (v->type == YAML_MAPPING_NODE) {
            struct opt_scope scope = {"", &t};
            walk_mapping_in(ld, item.data, v, host_keys, CANTO_ARRAY_LEN(host_keys), &t, &scope);
        } else if (v->type == YAML_SEQUENCE_NODE) {
            failf(ld, v, item.data, "must be a host name or a mapping with a name");
        } else {
            const char *s = get_string(ld, item.data, v);
            t.name = s ? get_domain(ld, item.data, v, s, false) : NULL;
        }
        if (!t.name) {
            free_option_values(t.options, ld->nopts);
            continue;
        }
        size_t j = 0;
        while (j < cfg->nhosts && strcmp(cfg->hosts[j], t.name) != 0)
            j++;
        if (j < cfg->nhosts) {
            failf(ld, v, item.data, "duplicate host %s (first at line %d)", t.name,
                  ld->host_tmp[j].line);
            free(t.name);
            free_option_values(t.options, ld->nopts);
            continue;
        }
        ld->host_tmp[cfg->nhosts] = t;
        cfg->hosts[cfg->nhosts++] = t.name;
    }
    canto_buf_free(&item);
}

/* Gives host i's service option k its domain: the default one
 * (def_str.<host>) when it is on, and checks that no host and no other
 * service has it, which would make the router's choice ambiguous. */
static void resolve_service(struct loader *ld, size_t i, size_t k)
{
    struct canto_config *cfg = ld->cfg;
    const struct host_tmp *t = &ld->host_tmp[i];
    struct canto_option_value *v = &cfg->host_settings[i].options[k];
    const char *key = ld->opts[k].opt->key;
    bool named = v->num == 2;
    struct canto_buf path = {0};
    canto_buf_appendf(&path, "hosts[%zu]", t->index);
    if (named)
        canto_buf_appendf(&path, ".%s", key);
    if (v->num == 1) {
        struct canto_buf d = {0};
        canto_buf_appendf(&d, "%s.%s", ld->opts[k].opt->def_str, cfg->hosts[i]);
        v->str = canto_jid_prep_domain(d.data);
        if (!v->str)
            fail_line(ld, t->line, path.data,
                      "%s's domain %s is not a valid domain name (set %s to a shorter one, "
                      "or false)",
                      key, d.data, key);
        canto_buf_free(&d);
    }
    int line = named ? v->line : t->line;
    if (!v->str) {
        /* off, or already reported */
    } else if (canto_config_has_host(cfg, v->str)) {
        if (named)
            fail_line(ld, line, path.data, "%s is one of the hosts (choose another domain)",
                      v->str);
        else
            fail_line(ld, line, path.data,
                      "%s's domain %s is one of the hosts (set %s to another domain, or false)",
                      key, v->str, key);
    } else {
        /* every service option of the hosts before this one, and this
         * host's own before this option */
        for (size_t j = 0; j <= i; j++) {
            for (size_t o = 0; o < (j < i ? ld->nopts : k); o++) {
                const struct canto_option_value *w = &cfg->host_settings[j].options[o];
                if (ld->opts[o].opt->type != CANTO_OPT_SERVICE || !w->str ||
                    strcmp(w->str, v->str) != 0)
                    continue;
                fail_line(ld, line, path.data, "%s is already the %s of %s (line %d)", v->str,
                          ld->opts[o].opt->key, cfg->hosts[j], cfg->host_settings[j].line);
                goto done;
            }
        }
    }
done:
    canto_buf_free(&path);
}

/* Gives every host its settings: each option's top-level value, replaced
 * by what the host's own mapping set. Then the checks that need the whole
 * file (service domains). */
static void resolve_hosts(struct loader *ld)
{
    struct canto_config *cfg = ld->cfg;

    if (cfg->nhosts == 0)
        return;
    cfg->host_settings = canto_xcalloc(cfg->nhosts, sizeof *cfg->host_settings);
    for (size_t i = 0; i < cfg->nhosts; i++) {
        const struct host_tmp *t = &ld->host_tmp[i];
        struct canto_host_config *hc = &cfg->host_settings[i];
        hc->line = t->line;
        hc->options = canto_xcalloc(ld->nopts ? ld->nopts : 1, sizeof *hc->options);
        for (size_t k = 0; k < ld->nopts; k++) {
            const struct canto_option_value *src =
                t->options[k].line ? &t->options[k] : &cfg->options[k];
            hc->options[k] = *src;
            if (src->str)
                hc->options[k].str = canto_xstrdup(src->str);
        }
    }
    for (size_t i = 0; i < cfg->nhosts; i++)
        for (size_t k = 0; k < ld->nopts; k++)
            if (ld->opts[k].opt->type == CANTO_OPT_SERVICE)
                resolve_service(ld, i, k);
}

/* --- data_dir ------------------------------------------------------------------ */

static void on_data_dir(struct loader *ld, const char *path, const yaml_node_t *key,
                        const yaml_node_t *value, void *target, const struct key_spec *spec)
{
    const char *s = get_string(ld, path, value);
    if (s)
        ld->cfg->data_dir = path_resolve(ld->dir, s);
}

/* --- tls ------------------------------------------------------------------------ */

static void on_cert_file(struct loader *ld, const char *path, const yaml_node_t *key,
                         const yaml_node_t *value, void *target, const struct key_spec *spec)
{
    struct canto_cert_config *cert = &ld->cfg->certs[*(const size_t *)target];
    cert->line = line_of(key);
    free(cert->certificate);
    cert->certificate = get_file(ld, path, value);
}

static void on_key_file(struct loader *ld, const char *path, const yaml_node_t *key,
                        const yaml_node_t *value, void *target, const struct key_spec *spec)
{
    struct canto_cert_config *cert = &ld->cfg->certs[*(const size_t *)target];
    free(cert->key);
    cert->key = get_file(ld, path, value);
}

static const struct key_spec cert_keys[] = {
    {"certificate", on_cert_file, true, NULL},
    {"key", on_key_file, true, NULL},
};

/* tls.hosts: name -> {certificate, key}. Names are free keys (not a fixed
 * schema), prepared like hosts, and must be distinct after preparation. */
static void on_tls_hosts(struct loader *ld, const char *path, const yaml_node_t *key,
                         const yaml_node_t *value, void *target, const struct key_spec *spec)
{
    struct canto_config *cfg = ld->cfg;
    struct canto_buf child = {0};

    if (is_null(value))
        return;
    if (value->type != YAML_MAPPING_NODE) {
        failf(ld, value, path, "must be a mapping of host names to certificates");
        return;
    }
    size_t n = (size_t)(value->data.mapping.pairs.top - value->data.mapping.pairs.start);
    cfg->certs = canto_xrealloc(cfg->certs, (cfg->ncerts + n) * sizeof *cfg->certs);
    for (yaml_node_pair_t *p = value->data.mapping.pairs.start; p < value->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = yaml_document_get_node(ld->doc, p->key);
        const yaml_node_t *v = yaml_document_get_node(ld->doc, p->value);
        if (k->type != YAML_SCALAR_NODE) {
            failf(ld, k, path, "keys must be plain strings");
            continue;
        }
        key_path(&child, path, scalar(k));
        const char *name = get_string(ld, child.data, k);
        char *prep = name ? get_domain(ld, child.data, k, name, true) : NULL;
        if (!prep)
            continue;
        size_t j = 1;
        while (j < cfg->ncerts && strcmp(cfg->certs[j].host, prep) != 0)
            j++;
        if (j < cfg->ncerts) {
            failf(ld, k, child.data, "duplicate host %s (first at line %d)", prep,
                  cfg->certs[j].line);
            free(prep);
            continue;
        }
        size_t idx = cfg->ncerts++;
        memset(&cfg->certs[idx], 0, sizeof cfg->certs[idx]);
        cfg->certs[idx].host = prep;
        cfg->certs[idx].line = line_of(k);
        walk_mapping(ld, child.data, v, cert_keys, CANTO_ARRAY_LEN(cert_keys), &idx);
    }
    canto_buf_free(&child);
}

static const struct key_spec tls_keys[] = {
    {"certificate", on_cert_file, true, NULL},
    {"key", on_key_file, true, NULL},
    {"hosts", on_tls_hosts, false, NULL},
};

/* tls: certs[0] is the default certificate; it is allocated before the walk
 * so that it stays first whatever order the keys are written in. The
 * certificate handlers get an index rather than a pointer because tls.hosts
 * grows the array, possibly before tls.certificate is read. */
static void on_tls(struct loader *ld, const char *path, const yaml_node_t *key,
                   const yaml_node_t *value, void *target, const struct key_spec *spec)
{
    struct canto_config *cfg = ld->cfg;
    ld->have_tls = true;
    cfg->certs = canto_xcalloc(1, sizeof *cfg->certs);
    cfg->ncerts = 1;
    cfg->certs[0].line = line_of(key);
    size_t idx = 0;
    walk_mapping(ld, path, value, tls_keys, CANTO_ARRAY_LEN(tls_keys), &idx);
}

/* --- listen ------------------------------------------------------------------------ */

/* A listener being read, with the parsed address for duplicate detection. */
struct listen_tmp {
    struct canto_listen_config lc;
    bool ok;                   /* every field valid so far */
};

/* service: a name from the listener table (core/listeners.c), so that a
 * new kind needs no edit here. */
static void on_service(struct loader *ld, const char *path, const yaml_node_t *key,
                       const yaml_node_t *value, void *target, const struct key_spec *spec)
{
    const char *names[16];
    size_t n = 0;
    while (n < CANTO_ARRAY_LEN(names) && canto_listener_kinds[n]) {
        names[n] = canto_listener_kinds[n]->name;
        n++;
    }
    struct listen_tmp *t = target;
    int i = get_choice(ld, path, value, names, n);
    if (i < 0)
        t->ok = false;
    else
        t->lc.service = canto_listener_kinds[i];
}

/* address: kept in inet_ntop's canonical form, so that "::0" and "::" are
 * recognised as the same socket by the duplicate check. */
static void on_address(struct loader *ld, const char *path, const yaml_node_t *key,
                       const yaml_node_t *value, void *target, const struct key_spec *spec)
{
    struct listen_tmp *t = target;
    const char *s = get_string(ld, path, value);
    unsigned char bin[sizeof(struct in6_addr)];
    char canon[INET6_ADDRSTRLEN];
    int af = AF_INET;
    if (s && inet_pton(AF_INET, s, bin) != 1) {
        af = AF_INET6;
        if (inet_pton(AF_INET6, s, bin) != 1) {
            failf(ld, value, path, "must be an IPv4 or IPv6 address");
            s = NULL;
        }
    }
    if (!s || !inet_ntop(af, bin, canon, sizeof canon)) {
        t->ok = false;
        return;
    }
    t->lc.address = canto_xstrdup(canon);
}

static void on_port(struct loader *ld, const char *path, const yaml_node_t *key,
                    const yaml_node_t *value, void *target, const struct key_spec *spec)
{
    struct listen_tmp *t = target;
    long port;
    if (get_integer(ld, path, value, 1, 65535, &port) != CANTO_OK)
        t->ok = false;
    else
        t->lc.port = (int)port;
}

static void on_listen_tls(struct loader *ld, const char *path, const yaml_node_t *key,
                          const yaml_node_t *value, void *target, const struct key_spec *spec)
{
    static const char *const names[] = {"required", "optional", "direct"};
    static const enum canto_tls_mode modes[] = {CANTO_TLS_REQUIRED, CANTO_TLS_OPTIONAL,
                                                CANTO_TLS_DIRECT};
    struct listen_tmp *t = target;
    int i = get_choice(ld, path, value, names, CANTO_ARRAY_LEN(names));
    if (i < 0)
        t->ok = false;
    else
        t->lc.tls = modes[i];
}

static const struct key_spec listen_keys[] = {
    {"service", on_service, false, NULL},
    {"address", on_address, true, NULL},
    {"port", on_port, true, NULL},
    {"tls", on_listen_tls, false, NULL},
};

/* listen: a list of sockets. Two entries with the same address and port
 * could never both bind, so that is reported here with both lines rather
 * than as an EADDRINUSE at start-up. */
static void on_listen(struct loader *ld, const char *path, const yaml_node_t *key,
                      const yaml_node_t *value, void *target, const struct key_spec *spec)
{
    struct canto_config *cfg = ld->cfg;
    struct canto_buf item = {0};

    ld->listen_line = line_of(key);
    if (is_null(value))
        return;
    if (value->type != YAML_SEQUENCE_NODE) {
        failf(ld, value, path, "must be a list of listeners");
        return;
    }
    size_t n = (size_t)(value->data.sequence.items.top - value->data.sequence.items.start);
    cfg->listen = canto_xcalloc(n ? n : 1, sizeof *cfg->listen);
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *v = yaml_document_get_node(ld->doc, value->data.sequence.items.start[i]);
        index_path(&item, path, i);
        struct listen_tmp t = {.lc = {.service = canto_listener_kinds[0], .tls = CANTO_TLS_REQUIRED,
                                      .line = line_of(v)},
                               .ok = true};
        if (!walk_mapping(ld, item.data, v, listen_keys, CANTO_ARRAY_LEN(listen_keys), &t) ||
            is_null(v)) {
            t.ok = false;
        }
        if (t.ok && t.lc.address && t.lc.port) {
            for (size_t j = 0; j < cfg->nlisten; j++) {
                const struct canto_listen_config *o = &cfg->listen[j];
                if (o->address && strcmp(o->address, t.lc.address) == 0 && o->port == t.lc.port) {
                    failf(ld, v, item.data, "%s port %d is configured twice (first at line %d)",
                          t.lc.address, t.lc.port, o->line);
                    break;
                }
            }
        }
        cfg->listen[cfg->nlisten++] = t.lc;
    }
    canto_buf_free(&item);
}

/* --- log, storage, limits (the core's options) ----------------------------------------------------------- */

/* log.level: parsed by log.h, so the config accepts exactly what the rest
 * of the server calls a level (case-insensitive, "warning" for "warn"). */
static void on_log_level(struct loader *ld, const char *path, const yaml_node_t *key,
                         const yaml_node_t *value, void *target, const struct key_spec *spec)
{
    enum canto_log_level level;
    if (value->type != YAML_SCALAR_NODE || canto_log_level_parse(scalar(value), &level) != CANTO_OK)
        failf(ld, value, path, "must be one of debug, info, warn, error");
    else
        ld->cfg->log_level = level;
}

static const struct key_spec log_keys[] = {
    {"level", on_log_level, false, NULL},
};

static void on_log(struct loader *ld, const char *path, const yaml_node_t *key,
                   const yaml_node_t *value, void *target, const struct key_spec *spec)
{
    walk_mapping(ld, path, value, log_keys, CANTO_ARRAY_LEN(log_keys), NULL);
}

static void on_storage_backend(struct loader *ld, const char *path, const yaml_node_t *key,
                               const yaml_node_t *value, void *target,
                               const struct key_spec *spec)
{
    static const char *const names[] = {"sqlite"};
    int i = get_choice(ld, path, value, names, CANTO_ARRAY_LEN(names));
    if (i >= 0) {
        free(ld->cfg->storage_backend);
        ld->cfg->storage_backend = canto_xstrdup(names[i]);
    }
}

static const struct key_spec storage_keys[] = {
    {"backend", on_storage_backend, false, NULL},
};

static void on_storage(struct loader *ld, const char *path, const yaml_node_t *key,
                       const yaml_node_t *value, void *target, const struct key_spec *spec)
{
    walk_mapping(ld, path, value, storage_keys, CANTO_ARRAY_LEN(storage_keys), NULL);
}

/* The core's own options, the limits: each line is a key under limits:, its
 * type, bounds, default and meaning, and the key is also the name of the
 * struct canto_limits_config field the value lands in once the file is read
 * (apply_limits). RFC 6120 section 13.12 says a server must accept stanzas of
 * at least 10000 bytes; the upper bounds only keep a typo from meaning
 * "unlimited", and the lower bounds of the timeouts let tests wait one
 * second rather than thirty. */
#define CORE_LIMITS(X)                                                                         \
    X(c2s_max_stanza_size, CANTO_OPT_SIZE, 10000, 67108864, 262144,                            \
      "largest stanza a client may send (RFC 6120 requires at least 10000)")                   \
    X(max_depth, CANTO_OPT_INT, 2, 1024, 32, "deepest element nesting inside a stanza")        \
    X(max_attributes, CANTO_OPT_INT, 8, 4096, 64, "most attributes on one element")            \
    X(connect_timeout, CANTO_OPT_DURATION, 1, 3600, 30,                                        \
      "time a new connection has to authenticate")                                             \
    X(idle_timeout, CANTO_OPT_DURATION, 1, 604800, 900,                                        \
      "time without a byte from the peer before it is disconnected")                           \
    X(c2s_rate, CANTO_OPT_SIZE, 1024, 1073741824, 65536,                                       \
      "bytes read per second from one client connection")                                      \
    X(send_queue, CANTO_OPT_SIZE, 65536, 1073741824, 4194304,                                  \
      "what may be queued to a peer that does not read before it is disconnected; at "         \
      "least `c2s_max_stanza_size`")                                                           \
    X(max_connections, CANTO_OPT_INT, 1, 10000000, 100000,                                     \
      "connections held at once, on all listeners together")                                   \
    X(connections_per_address, CANTO_OPT_INT, 1, 10000000, 1000,                               \
      "connections held at once from one address (IPv6: its /64)")                             \
    X(loopback_exempt, CANTO_OPT_BOOL, 0, 1, 1,                                                \
      "whether loopback addresses are free of the per-address cap (`max_connections` "         \
      "still applies)")                                                                        \
    X(cached_accounts, CANTO_OPT_INT, 0, 1000000, 1000,                                        \
      "accounts with no session whose state (existence, block list, roster) stays in memory "  \
      "after a stanza needed it, least recently used out first; 0 keeps none")

#define LIMIT_OPTION(field, type_, min_, max_, def_, doc_)                                     \
    {.key = "limits." #field, .type = (type_), .def = (def_), .min = (min_), .max = (max_),    \
     .doc = (doc_)},
#define LIMIT_FIELD(field, type_, min_, max_, def_, doc_)                                      \
    {offsetof(struct canto_limits_config, field),                                              \
     _Generic(((struct canto_limits_config *)0)->field, size_t: FIELD_SIZE, bool: FIELD_BOOL,  \
              default: FIELD_UNSIGNED)},

static const struct canto_option core_options[] = {CORE_LIMITS(LIMIT_OPTION){0}};

/* Where each of core_options is stored, in the same order. */
enum field_kind { FIELD_UNSIGNED, FIELD_SIZE, FIELD_BOOL };
static const struct limit_field {
    size_t offset;        /* offsetof in struct canto_limits_config */
    enum field_kind kind; /* the field's C type */
} limit_fields[] = {CORE_LIMITS(LIMIT_FIELD)};

/* The core is not a module, but its options are listed, walked and printed
 * with the modules'; they come first in every list (collect_options). */
static const struct canto_module core_module = {.name = "core", .options = core_options};

/* Copies the limits from their option values (the first entries of
 * cfg->options) into cfg->limits, then checks that the send queue can hold
 * at least one stanza of the maximum size, or every large stanza would cut
 * the peer off. */
static void apply_limits(struct loader *ld)
{
    struct canto_config *cfg = ld->cfg;
    struct canto_limits_config *l = &cfg->limits;
    for (size_t i = 0; i < CANTO_ARRAY_LEN(limit_fields); i++) {
        char *field = (char *)l + limit_fields[i].offset;
        long v = cfg->options[i].num;
        switch (limit_fields[i].kind) {
        case FIELD_UNSIGNED:
            *(unsigned *)(void *)field = (unsigned)v;
            break;
        case FIELD_SIZE:
            *(size_t *)(void *)field = (size_t)v;
            break;
        case FIELD_BOOL:
            *(bool *)(void *)field = v != 0;
            break;
        }
    }
    if (l->send_queue < l->c2s_max_stanza_size) {
        const struct canto_option_value *queue =
            canto_config_option(cfg, NULL, &core_module, "limits.send_queue");
        const struct canto_option_value *stanza =
            canto_config_option(cfg, NULL, &core_module, "limits.c2s_max_stanza_size");
        fail_line(ld, queue->line ? queue->line : stanza->line, "limits.send_queue",
                  "must be at least c2s_max_stanza_size (%zu)", l->c2s_max_stanza_size);
    }
}

static const struct key_spec top_keys[] = {
    {"hosts", on_hosts, true, NULL},
    {"data_dir", on_data_dir, true, NULL},
    {"tls", on_tls, false, NULL},
    {"listen", on_listen, false, NULL},
    {"log", on_log, false, NULL},
    {"storage", on_storage, false, NULL},
};
/* limits: and the modules' keys are options (walk_option). */

/* An option the walker could never reach is a programming error, found at
 * the first load rather than by an operator whose key "does nothing": one
 * whose first part is a key of the core's own (but limits:, a section of
 * options), or a per-host option called name (a host's mapping's own). */
static void check_option_names(const struct loader *ld)
{
    for (size_t i = 0; i < ld->nopts; i++) {
        const struct canto_option *o = ld->opts[i].opt;
        size_t n = strcspn(o->key, ".");
        bool shadowed = (o->flags & CANTO_OPT_PER_HOST) && strcmp(o->key, "name") == 0;
        for (size_t k = 0; k < CANTO_ARRAY_LEN(top_keys); k++)
            if (strlen(top_keys[k].name) == n && strncmp(top_keys[k].name, o->key, n) == 0)
                shadowed = true;
        if (shadowed) {
            fprintf(stderr, "module %s declares option %s, a key the core reads itself\n",
                    ld->opts[i].module->name, o->key);
            abort();
        }
    }
}

/* --- loading ------------------------------------------------------------------ */

/* Every value a file may leave out: the core's, and each option's default
 * (a service's domain is worked out per host, in resolve_service). */
static void set_defaults(struct loader *ld)
{
    struct canto_config *cfg = ld->cfg;
    cfg->storage_backend = canto_xstrdup("sqlite");
    cfg->log_level = CANTO_LOG_INFO;
    cfg->noptions = ld->nopts;
    cfg->options = canto_xcalloc(ld->nopts ? ld->nopts : 1, sizeof *cfg->options);
    for (size_t i = 0; i < ld->nopts; i++) {
        const struct canto_option *o = ld->opts[i].opt;
        cfg->options[i].num = o->def;
        if (o->type == CANTO_OPT_STRING && o->def_str)
            cfg->options[i].str = canto_xstrdup(o->def_str);
    }
}

/* Reports libyaml's parse failure with the line it points at and, when
 * libyaml gives one, the construct it was inside ("while parsing a block
 * mapping"), which is usually where the real mistake is. */
static void yaml_fail(struct loader *ld, const yaml_parser_t *parser)
{
    const yaml_mark_t *mark = &parser->problem_mark;
    if (parser->error == YAML_READER_ERROR || parser->error == YAML_MEMORY_ERROR)
        mark = &parser->mark;
    if (parser->context)
        fail_line(ld, (int)mark->line + 1, NULL, "YAML syntax error: %s (%s at line %zu)",
                  parser->problem ? parser->problem : "cannot parse", parser->context,
                  parser->context_mark.line + 1);
    else
        fail_line(ld, (int)mark->line + 1, NULL, "YAML syntax error: %s",
                  parser->problem ? parser->problem : "cannot parse");
}

static int error_cmp(const void *a, const void *b)
{
    const struct error_line *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Hands the errors to the caller in file order: the walk reports a missing
 * key only after its mapping, and cross-checks at the very end, but an
 * operator reads the file (and the list) from the top. */
static void flush_errors(struct loader *ld)
{
    if (ld->nerrors > 1)
        qsort(ld->errors, ld->nerrors, sizeof *ld->errors, error_cmp);
    for (size_t i = 0; i < ld->nerrors; i++) {
        canto_buf_append_str(ld->err, ld->errors[i].text);
        free(ld->errors[i].text);
    }
    free(ld->errors);
}

int canto_config_load(const char *path, struct canto_config *cfg, struct canto_buf *err)
{
    return canto_config_load_modules(path, canto_builtin_modules, cfg, err);
}

int canto_config_load_modules(const char *path, const struct canto_module *const *modules,
                              struct canto_config *cfg, struct canto_buf *err)
{
    struct loader ld = {.file = path, .err = err, .cfg = cfg};
    yaml_parser_t parser;
    yaml_document_t doc, extra;
    bool have_doc = false;
    FILE *fp = NULL;

    memset(cfg, 0, sizeof *cfg);
    if (config_dir(path, &ld.dir) != CANTO_OK) {
        canto_buf_appendf(err, "%s: cannot determine the working directory: %s\n", path,
                          strerror(errno));
        return CANTO_ERROR;
    }
    struct stat st;
    fp = fopen(path, "rb");
    if (fp && fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(fp);
        fp = NULL;
        errno = EISDIR;
    }
    if (!fp) {
        canto_buf_appendf(err, "%s: cannot open: %s\n", path, strerror(errno));
        free(ld.dir);
        return CANTO_ERROR;
    }
    if (!yaml_parser_initialize(&parser))
        abort(); /* only fails on OOM; see the policy in common.h */
    yaml_parser_set_input_file(&parser, fp);

    if (!yaml_parser_load(&parser, &doc)) {
        yaml_fail(&ld, &parser);
        goto done;
    }
    have_doc = true;
    ld.doc = &doc;
    /* A second document ("---" again) would be silently ignored by a
     * load-once reader; say so instead. */
    if (!yaml_parser_load(&parser, &extra)) {
        yaml_fail(&ld, &parser);
    } else {
        if (yaml_document_get_root_node(&extra))
            fail_line(&ld, (int)extra.start_mark.line + 1, NULL,
                      "only one YAML document is allowed");
        yaml_document_delete(&extra);
    }

    cfg->path = path_resolve(ld.dir, strrchr(path, '/') ? strrchr(path, '/') + 1 : path);
    cfg->modules = modules;
    collect_options(&ld, modules);
    check_option_names(&ld);
    set_defaults(&ld);
    const yaml_node_t *root = yaml_document_get_root_node(&doc);
    struct opt_scope top = {"", NULL};
    walk_mapping_in(&ld, "", root, top_keys, CANTO_ARRAY_LEN(top_keys), NULL, &top);
    apply_limits(&ld);
    resolve_hosts(&ld);
    if (cfg->nlisten > 0 && !ld.have_tls)
        fail_line(&ld, ld.listen_line, "tls", "required when listeners are configured");

done:
    if (have_doc)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(fp);
    free(ld.dir);
    for (size_t i = 0; ld.host_tmp && i < cfg->nhosts; i++)
        free_option_values(ld.host_tmp[i].options, ld.nopts); /* names: now cfg->hosts' */
    free(ld.host_tmp);
    free(ld.opts);
    flush_errors(&ld);
    if (ld.nerrors > 0) {
        canto_config_free(cfg);
        return CANTO_ERROR;
    }
    return CANTO_OK;
}

void canto_config_free(struct canto_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->path);
    for (size_t i = 0; i < cfg->nhosts; i++) {
        free(cfg->hosts[i]);
        if (cfg->host_settings)
            free_option_values(cfg->host_settings[i].options, cfg->noptions);
    }
    free_option_values(cfg->options, cfg->noptions);
    free(cfg->hosts);
    free(cfg->host_settings);
    free(cfg->data_dir);
    free(cfg->storage_backend);
    for (size_t i = 0; i < cfg->ncerts; i++) {
        free(cfg->certs[i].host);
        free(cfg->certs[i].certificate);
        free(cfg->certs[i].key);
    }
    free(cfg->certs);
    for (size_t i = 0; i < cfg->nlisten; i++)
        free(cfg->listen[i].address);
    free(cfg->listen);
    memset(cfg, 0, sizeof *cfg);
}

const struct canto_host_config *canto_config_host(const struct canto_config *cfg,
                                                  const char *host)
{
    for (size_t i = 0; cfg->host_settings && i < cfg->nhosts; i++) {
        if (strcmp(cfg->hosts[i], host) == 0)
            return &cfg->host_settings[i];
    }
    return NULL;
}

bool canto_config_has_host(const struct canto_config *cfg, const char *host)
{
    for (size_t i = 0; i < cfg->nhosts; i++) {
        if (strcmp(cfg->hosts[i], host) == 0)
            return true;
    }
    return false;
}

/* The index of m's option key in cfg->options, or aborts: asking for an
 * option nobody declared is a programming error, and a silent default would
 * hide it. */
static size_t option_slot(const struct canto_config *cfg, const struct canto_module *m,
                          const char *key)
{
    size_t base = 0;
    if (m != &core_module) {
        for (const struct canto_option *o = core_module.options; o->key; o++)
            base++;
        size_t i = 0;
        for (; cfg->modules && cfg->modules[i] && cfg->modules[i] != m; i++)
            for (const struct canto_option *o = cfg->modules[i]->options; o && o->key; o++)
                base++;
        if (!cfg->modules || !cfg->modules[i]) {
            fprintf(stderr, "module %s reads option %s from a configuration not loaded with "
                            "its options (canto_config_load_modules)\n",
                    m->name, key);
            abort();
        }
    }
    for (const struct canto_option *o = m->options; o && o->key; o++, base++)
        if (strcmp(o->key, key) == 0 && base < cfg->noptions)
            return base;
    fprintf(stderr, "module %s reads option %s, which it does not declare\n", m->name, key);
    abort();
}

const struct canto_option_value *canto_config_option(const struct canto_config *cfg,
                                                     const char *host,
                                                     const struct canto_module *m,
                                                     const char *key)
{
    size_t slot = option_slot(cfg, m, key);
    if (!host)
        return &cfg->options[slot];
    const struct canto_host_config *hc = canto_config_host(cfg, host);
    if (!hc) {
        fprintf(stderr, "option %s asked for %s, which is not a host\n", key, host);
        abort();
    }
    return &hc->options[slot];
}

/* --- the reference ------------------------------------------------------------ */

/* What values o accepts, for the reference. */
static void print_allowed(const struct canto_option *o, struct canto_buf *out)
{
    switch (o->type) {
    case CANTO_OPT_BOOL:
        canto_buf_append_str(out, "`true`, `false`");
        return;
    case CANTO_OPT_INT:
        canto_buf_appendf(out, "%ld to %ld", o->min, o->max);
        return;
    case CANTO_OPT_SIZE:
        canto_buf_appendf(out, "%ld to %ld bytes", o->min, o->max);
        return;
    case CANTO_OPT_DURATION:
        canto_buf_appendf(out, "%ld to %ld seconds", o->min, o->max);
        return;
    case CANTO_OPT_STRING:
        canto_buf_append_str(out, "a string");
        return;
    case CANTO_OPT_ENUM:
        for (size_t i = 0; o->choices[i]; i++)
            canto_buf_appendf(out, "%s`%s`", i ? ", " : "", o->choices[i]);
        return;
    case CANTO_OPT_SERVICE:
        canto_buf_append_str(out, "`true`, `false`; per host also a domain name");
        return;
    }
}

static void print_default(const struct canto_option *o, struct canto_buf *out)
{
    switch (o->type) {
    case CANTO_OPT_BOOL:
        canto_buf_appendf(out, "`%s`", o->def ? "true" : "false");
        return;
    case CANTO_OPT_INT:
    case CANTO_OPT_SIZE:
    case CANTO_OPT_DURATION:
        canto_buf_appendf(out, "%ld", o->def);
        return;
    case CANTO_OPT_STRING:
        if (o->def_str)
            canto_buf_appendf(out, "`%s`", o->def_str);
        else
            canto_buf_append_str(out, "none");
        return;
    case CANTO_OPT_ENUM:
        canto_buf_appendf(out, "`%s`", o->choices[o->def]);
        return;
    case CANTO_OPT_SERVICE:
        if (o->def)
            canto_buf_appendf(out, "`true` (`%s.<host>`)", o->def_str);
        else
            canto_buf_append_str(out, "`false`");
        return;
    }
}

void canto_config_print_options(const struct canto_module *const *modules, struct canto_buf *out)
{
    struct loader ld = {0};
    collect_options(&ld, modules);
    canto_buf_append_str(out, "| key | default | values | per host | read by | meaning |\n"
                              "|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < ld.nopts; i++) {
        const struct canto_option *o = ld.opts[i].opt;
        canto_buf_appendf(out, "| `%s` | ", o->key);
        print_default(o, out);
        canto_buf_append_str(out, " | ");
        print_allowed(o, out);
        canto_buf_appendf(out, " | %s | %s | %s |\n", o->flags & CANTO_OPT_PER_HOST ? "yes" : "no",
                          ld.opts[i].module->name, o->doc ? o->doc : "");
    }
    free(ld.opts);
}
