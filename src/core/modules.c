/*
 * modules.c: applying module descriptors to a virtual host and running what
 * they registered. Each host gets one instance per module; iq handlers go
 * into a hash table keyed "type namespace", hooks into per-host chains sorted
 * by priority. Stopping a host reverses everything in one place.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "canto/base64.h"
#include "canto/log.h"
#include "canto/router.h"
#include "canto/server.h"
#include "canto/stanza.h"
#include "core/modules.h"

struct canto_iq_entry {
    char key[256];                /* "S get urn:xmpp:ping" (the hash key; S or A: scope) */
    const struct canto_iq_reg *reg;
    struct canto_module_inst *mi;
};

static void iq_key(char *out, size_t size, unsigned scope, const char *type, const char *ns)
{
    snprintf(out, size, "%c %s %s", scope == CANTO_IQ_ACCOUNT ? 'A' : 'S', type, ns);
}

static void compute_caps(struct canto_host *h);

static void add_hook(struct canto_host *h, const struct canto_hook_reg *reg,
                     struct canto_module_inst *mi)
{
    struct canto_hook_chain *chain = &h->hooks[reg->hook];
    chain->entries = canto_xrealloc(chain->entries, (chain->n + 1) * sizeof(*chain->entries));
    size_t i = chain->n;
    while (i > 0 && chain->entries[i - 1].priority < reg->priority) {
        chain->entries[i] = chain->entries[i - 1];
        i--;
    }
    chain->entries[i] = (struct canto_hook_entry){reg->priority, reg->fn, mi};
    chain->n++;
}

int canto_host_start_modules(struct canto_host *h)
{
    size_t n = 0;
    while (canto_builtin_modules[n])
        n++;
    h->modules = canto_xcalloc(n, sizeof(*h->modules));
    canto_hashmap_init(&h->iqs);
    for (size_t i = 0; i < n; i++) {
        const struct canto_module *m = canto_builtin_modules[i];
        struct canto_module_inst *mi = &h->modules[i];
        mi->module = m;
        mi->host = h;
        if (m->start && m->start(mi) != CANTO_OK) {
            canto_error("%s: module %s failed to start", h->name, m->name);
            return CANTO_ERROR;
        }
        h->nmodules = i + 1;
        for (const struct canto_iq_reg *r = m->iqs; r && r->fn; r++) {
            unsigned scopes = r->scope ? r->scope : CANTO_IQ_SERVER;
            if (scopes & CANTO_IQ_OWNER)
                scopes |= CANTO_IQ_ACCOUNT; /* the account scope, for its owner only */
            for (unsigned scope = CANTO_IQ_SERVER; scope <= CANTO_IQ_ACCOUNT; scope <<= 1) {
                if (!(scopes & scope))
                    continue;
                struct canto_iq_entry *e = canto_xcalloc(1, sizeof(*e));
                iq_key(e->key, sizeof e->key, scope, r->type, r->ns);
                e->reg = r;
                e->mi = mi;
                struct canto_iq_entry *old = canto_hashmap_put(&h->iqs, e->key, e);
                if (old) {
                    canto_error("%s: modules %s and %s both handle iq %s", h->name,
                                old->mi->module->name, m->name, e->key);
                    free(old);
                    return CANTO_ERROR;
                }
            }
        }
        for (const struct canto_hook_reg *r = m->hooks; r && r->fn; r++)
            add_hook(h, r, mi);
    }
    compute_caps(h);
    return CANTO_OK;
}

static void free_iq_entry(void *ud, const char *key, void *value)
{
    free(value);
}

void canto_host_stop_modules(struct canto_host *h)
{
    for (size_t i = h->nmodules; i-- > 0;) {
        struct canto_module_inst *mi = &h->modules[i];
        if (mi->module->stop)
            mi->module->stop(mi);
    }
    canto_hashmap_foreach(&h->iqs, free_iq_entry, NULL);
    canto_hashmap_free(&h->iqs);
    for (int k = 0; k < CANTO_HOOK_COUNT; k++) {
        free(h->hooks[k].entries);
        h->hooks[k].entries = NULL;
        h->hooks[k].n = 0;
    }
    free(h->modules);
    h->modules = NULL;
    h->nmodules = 0;
}

/* CANTO_IQ_OWNER: the iq is about an account (canto_iq_account) and comes
 * from one of that account's own sessions. Anything else, including an iq to
 * the host itself for a handler that also has the server scope, is the
 * owner's business only and gets forbidden (XEP-0049 and XEP-0054 prefer it
 * to service-unavailable). */
static bool from_owner(const struct canto_stanza *iq)
{
    struct canto_jid account;
    if (canto_iq_account(iq, &account) != CANTO_OK)
        return false;
    bool owner = canto_iq_from_owner(iq, &account);
    canto_jid_free(&account);
    return owner;
}

int canto_host_dispatch_iq(struct canto_host *h, struct canto_stanza *iq, unsigned scope)
{
    const char *type = canto_xml_attr(iq->root, "type");
    struct canto_xml_node *payload = canto_xml_first_element(iq->root);
    if (!type || !payload)
        return CANTO_DECLINED;
    char key[256];
    iq_key(key, sizeof key, scope, type, payload->ns);
    struct canto_iq_entry *e = canto_hashmap_get(&h->iqs, key);
    if (!e)
        return CANTO_DECLINED;
    if ((e->reg->scope & CANTO_IQ_OWNER) && !from_owner(iq)) {
        canto_route_error(h->server, iq, CANTO_COND_FORBIDDEN,
                          "Only the account's owner may do this");
        return CANTO_OK;
    }
    return e->reg->fn(e->mi, iq);
}

struct canto_module_inst *canto_host_module(struct canto_host *h, const struct canto_module *m)
{
    for (size_t i = 0; i < h->nmodules; i++)
        if (h->modules[i].module == m)
            return &h->modules[i];
    return NULL;
}

void canto_host_stream_features(struct canto_host *h, struct canto_session *s, bool authed,
                                struct canto_buf *out)
{
    for (size_t i = 0; i < h->nmodules; i++)
        if (h->modules[i].module->stream_features)
            h->modules[i].module->stream_features(&h->modules[i], s, authed, out);
}

int canto_hook_run(struct canto_host *host, enum canto_hook hook, struct canto_hook_event *ev)
{
    struct canto_hook_chain *chain = &host->hooks[hook];
    ev->host = host;
    for (size_t i = 0; i < chain->n; i++)
        if (chain->entries[i].fn(chain->entries[i].mi, ev) == CANTO_OK)
            return CANTO_OK;
    return CANTO_DECLINED;
}

void canto_hook_notify(struct canto_host *host, enum canto_hook hook, struct canto_hook_event *ev)
{
    struct canto_hook_chain *chain = &host->hooks[hook];
    ev->host = host;
    for (size_t i = 0; i < chain->n; i++)
        chain->entries[i].fn(chain->entries[i].mi, ev);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static const char *const *features_of(const struct canto_module *m,
                                      enum canto_disco_target target)
{
    return target == CANTO_DISCO_ACCOUNT ? m->account_features : m->features;
}

const char **canto_host_features(const struct canto_host *h, enum canto_disco_target target,
                                 size_t *n)
{
    size_t count = 0;
    for (size_t i = 0; i < h->nmodules; i++)
        for (const char *const *f = features_of(h->modules[i].module, target); f && *f; f++)
            count++;
    const char **out = canto_xmalloc((count + 1) * sizeof(*out));
    size_t k = 0;
    for (size_t i = 0; i < h->nmodules; i++)
        for (const char *const *f = features_of(h->modules[i].module, target); f && *f; f++)
            out[k++] = *f;
    qsort(out, k, sizeof(*out), cmp_str);
    /* Two modules may name the same feature; list it once. */
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (u == 0 || strcmp(out[u - 1], out[i]) != 0)
            out[u++] = out[i];
    out[u] = NULL;
    *n = u;
    return out;
}

/* XEP-0115 section 5.1: S = identity "category/type/lang/name<" then each
 * feature followed by "<"; ver = base64(SHA-1(S)). */
static void compute_caps(struct canto_host *h)
{
    struct canto_buf s = {0};
    canto_buf_append_str(&s, CANTO_IDENTITY_CATEGORY "/" CANTO_IDENTITY_TYPE "//" CANTO_IDENTITY_NAME "<");
    size_t n = 0;
    const char **features = canto_host_features(h, CANTO_DISCO_HOST, &n);
    for (size_t i = 0; i < n; i++) {
        canto_buf_append_str(&s, features[i]);
        canto_buf_append_char(&s, '<');
    }
    free(features);
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)s.data, s.len, md);
    canto_buf_free(&s);
    struct canto_buf ver = {0};
    canto_base64_encode(&ver, md, sizeof md);
    free(h->caps_ver);
    h->caps_ver = canto_buf_steal(&ver);
}
