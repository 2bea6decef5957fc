/*
 * private.c: private XML storage (XEP-0049, jabber:iq:private), and with it
 * the legacy bookmarks of XEP-0048 (storage:bookmarks), which clients keep
 * there.
 *
 * An account stores any XML element under its (namespace, name) pair, one
 * element per pair; a set replaces the whole element. Only the owner may
 * read or write (anyone else, the server's domain included: forbidden, as
 * XEP-0049 prefers). A set with several elements stores them all or none,
 * in one storage write. Namespaces reserved by XEP-0049 (jabber:...,
 * http://jabber.org/..., vcard-temp) are refused with not-acceptable. A get
 * for something never stored returns the requested element as sent (empty),
 * as other servers do.
 *
 * Storage: the account's store "private", key "{namespace}name", value the
 * serialized element. The limits below keep an account's storage bounded;
 * checking them needs the store's current contents, so the operations of one
 * account run one at a time, in arrival order (which also gives a client
 * that pipelines a set and a get the data it just wrote).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canto/log.h"
#include "canto/module.h"
#include "canto/router.h"
#include "canto/server.h"
#include "canto/stanza.h"

#define NS_PRIVATE "jabber:iq:private"
#define STORE "private"

/* One stored element, serialized (a bookmark is ~100 bytes a room); the
 * stanza size limit bounds a set as a whole. */
#define ITEM_MAX_BYTES (128 * 1024)
/* Per account: distinct elements and their total size. */
#define MAX_ITEMS 128
#define TOTAL_MAX_BYTES (1024 * 1024)
/* Requests of one account in progress or waiting; beyond that the client
 * is told to wait (resource-constraint) instead of queueing more. */
#define MAX_PENDING 16

struct item {
    char *key;              /* "{ns}name" */
    struct canto_buf xml;   /* set: the element to store */
};

struct op {
    struct op *next;
    struct canto_stanza *iq;
    bool set;
    struct item *items;     /* get: one (no xml); set: distinct keys, last wins */
    size_t nitems;
};

/* The operations of one account, run one at a time. */
struct queue {
    char *bare;             /* hash map key */
    struct private_state *ps;
    struct canto_server *server;
    char *domain;
    char *local;
    struct op *head, *tail;
    size_t n;               /* operations queued, the running one included */
};

struct private_state {
    struct canto_hashmap queues; /* bare JID -> struct queue, while busy */
};

static bool reserved_ns(const char *ns)
{
    return !*ns || strncmp(ns, "jabber:", 7) == 0 || strncmp(ns, "http://jabber.org/", 18) == 0 ||
           strncmp(ns, "http://etherx.jabber.org/", 25) == 0 || strcmp(ns, "vcard-temp") == 0 ||
           strncmp(ns, "vcard-temp:", 11) == 0;
}

static char *item_key(const struct canto_xml_node *el)
{
    size_t n = strlen(el->ns) + strlen(el->name) + 3;
    char *key = canto_xmalloc(n);
    snprintf(key, n, "{%s}%s", el->ns, el->name);
    return key;
}

static void op_free(struct op *op)
{
    for (size_t i = 0; i < op->nitems; i++) {
        free(op->items[i].key);
        canto_buf_free(&op->items[i].xml);
    }
    free(op->items);
    canto_stanza_unref(op->iq);
    free(op);
}

static void queue_free(struct queue *q)
{
    while (q->head) {
        struct op *op = q->head;
        q->head = op->next;
        op_free(op);
    }
    free(q->bare);
    free(q->domain);
    free(q->local);
    free(q);
}

static void run_next(struct queue *q);

/* The operation at the head is answered: drop it, run the next one, or
 * forget the queue when it is empty (no storage callback refers to it
 * then). */
static void finish(struct queue *q)
{
    struct op *op = q->head;
    q->head = op->next;
    if (!q->head)
        q->tail = NULL;
    q->n--;
    op_free(op);
    if (q->head) {
        run_next(q);
        return;
    }
    canto_hashmap_remove(&q->ps->queues, q->bare);
    queue_free(q);
}

static void got(void *ud, int rc, const struct canto_kv_item *items, size_t n, bool more)
{
    struct queue *q = ud;
    struct op *op = q->head;
    struct canto_stanza *stored = NULL;
    if (rc == CANTO_OK && n == 1) {
        stored = canto_stanza_parse(items[0].value, items[0].len);
        if (!stored)
            canto_warn("%s: unreadable private data under %s", q->bare, op->items[0].key);
    }
    if ((rc == CANTO_OK && stored) || rc == CANTO_NOTFOUND) {
        struct canto_stanza *res = canto_iq_result(op->iq);
        struct canto_xml_node *query = canto_xml_add_child(res, res->root, "query", NS_PRIVATE);
        if (stored) {
            canto_xml_add_copy(res, query, stored->root);
        } else {
            struct canto_xml_node *asked = canto_xml_first_element(op->iq->root);
            canto_xml_add_copy(res, query, canto_xml_first_element(asked));
        }
        canto_route(q->server, res);
    } else {
        canto_route_error(q->server, op->iq, CANTO_COND_INTERNAL_SERVER_ERROR, NULL);
    }
    canto_stanza_unref(stored);
    finish(q);
}

static void written(void *ud, int rc)
{
    struct queue *q = ud;
    struct op *op = q->head;
    if (rc == CANTO_OK)
        canto_route(q->server, canto_iq_result(op->iq));
    else if (rc == CANTO_NOTFOUND)
        canto_route_error(q->server, op->iq, CANTO_COND_SERVICE_UNAVAILABLE, NULL);
    else
        canto_route_error(q->server, op->iq, CANTO_COND_INTERNAL_SERVER_ERROR, NULL);
    finish(q);
}

/* The store as it is now: check that the set keeps the account within its
 * limits, then write every element in one go. */
static void listed(void *ud, int rc, const struct canto_kv_item *items, size_t n, bool more)
{
    struct queue *q = ud;
    struct op *op = q->head;
    if (rc != CANTO_OK) {
        canto_route_error(q->server, op->iq, CANTO_COND_INTERNAL_SERVER_ERROR, NULL);
        finish(q);
        return;
    }
    size_t count = n, total = 0;
    for (size_t i = 0; i < n; i++)
        total += items[i].len;
    for (size_t k = 0; k < op->nitems; k++) {
        size_t i = 0;
        while (i < n && strcmp(items[i].key, op->items[k].key) != 0)
            i++;
        if (i < n)
            total -= items[i].len;
        else
            count++;
        total += op->items[k].xml.len;
    }
    /* more: the store holds more than MAX_ITEMS already. */
    if (more || count > MAX_ITEMS || total > TOTAL_MAX_BYTES) {
        canto_route_error(q->server, op->iq, CANTO_COND_NOT_ACCEPTABLE,
                          "Private storage is full (at most 128 elements and 1 MiB per account)");
        finish(q);
        return;
    }
    struct canto_kv_change *changes = canto_xcalloc(op->nitems, sizeof(*changes));
    for (size_t k = 0; k < op->nitems; k++)
        changes[k] = (struct canto_kv_change){STORE, op->items[k].key, op->items[k].xml.data,
                                              op->items[k].xml.len};
    canto_storage_kv_write(q->server->storage, CANTO_ACCOUNT(q->domain, q->local), changes,
                           op->nitems, written, q);
    free(changes);
}

static void run_next(struct queue *q)
{
    struct op *op = q->head;
    if (op->set)
        canto_storage_kv_list(q->server->storage, CANTO_ACCOUNT(q->domain, q->local), STORE, NULL,
                              MAX_ITEMS, listed, q);
    else
        canto_storage_kv_get(q->server->storage, CANTO_ACCOUNT(q->domain, q->local), STORE,
                             op->items[0].key, got, q);
}

/* Queue op for account (takes op); answers resource-constraint instead
 * when the account already has MAX_PENDING requests. */
static void enqueue(struct canto_module_inst *mi, const struct canto_jid *account, struct op *op)
{
    struct private_state *ps = mi->state;
    struct queue *q = canto_hashmap_get(&ps->queues, account->bare);
    if (q && q->n >= MAX_PENDING) {
        canto_route_error(mi->host->server, op->iq, CANTO_COND_RESOURCE_CONSTRAINT,
                          "Too many private storage requests at once");
        op_free(op);
        return;
    }
    if (!q) {
        q = canto_xcalloc(1, sizeof(*q));
        q->bare = canto_xstrdup(account->bare);
        q->ps = ps;
        q->server = mi->host->server;
        q->domain = canto_xstrdup(account->domain);
        q->local = canto_xstrdup(account->local);
        canto_hashmap_put(&ps->queues, q->bare, q);
    }
    if (q->tail)
        q->tail->next = op;
    else
        q->head = op;
    q->tail = op;
    if (q->n++ == 0)
        run_next(q);
}

/* Only the owner reads or writes its private data; anyone else (the
 * server's own domain included) gets forbidden from the core, which XEP-0049
 * prefers to service-unavailable (CANTO_IQ_OWNER). */
static int private_get(struct canto_module_inst *mi, struct canto_stanza *iq)
{
    struct canto_server *srv = mi->host->server;
    struct canto_jid account;
    if (canto_iq_account(iq, &account) != CANTO_OK)
        return CANTO_DECLINED; /* cannot happen: the core checked the owner */
    struct canto_xml_node *query = canto_xml_first_element(iq->root);
    struct canto_xml_node *el = canto_xml_first_element(query);
    if (strcmp(query->name, "query") != 0 || !el || canto_xml_next_element(el)) {
        /* XEP-0049: a get names exactly one element ("Bad Format"). */
        canto_route_error(srv, iq, CANTO_COND_BAD_REQUEST, "Ask for exactly one element");
    } else if (reserved_ns(el->ns)) {
        canto_route_error(srv, iq, CANTO_COND_NOT_ACCEPTABLE, "Reserved namespace");
    } else {
        struct op *op = canto_xcalloc(1, sizeof(*op));
        op->iq = canto_stanza_ref(iq);
        op->items = canto_xcalloc(1, sizeof(*op->items));
        op->items[0].key = item_key(el);
        op->nitems = 1;
        enqueue(mi, &account, op);
    }
    canto_jid_free(&account);
    return CANTO_OK;
}

/* Check and serialize every element of a set; NULL after answering the
 * error when one is not acceptable. */
static struct op *prepare_set(struct canto_server *srv, struct canto_stanza *iq,
                              const struct canto_xml_node *query)
{
    struct op *op = canto_xcalloc(1, sizeof(*op));
    op->iq = canto_stanza_ref(iq);
    op->set = true;
    const char *problem = NULL;
    for (struct canto_xml_node *el = canto_xml_first_element(query); el && !problem;
         el = canto_xml_next_element(el)) {
        if (reserved_ns(el->ns)) {
            problem = "Reserved namespace";
            break;
        }
        char *key = item_key(el);
        size_t k = 0;
        while (k < op->nitems && strcmp(op->items[k].key, key) != 0)
            k++;
        if (k == op->nitems) {
            if (op->nitems == MAX_ITEMS) {
                free(key);
                problem = "Too many elements (at most 128 per account)";
                break;
            }
            op->items = canto_xrealloc(op->items, (op->nitems + 1) * sizeof(*op->items));
            op->items[k] = (struct item){.key = key};
            op->nitems++;
        } else {
            free(key); /* the same element twice: the last one is kept */
            canto_buf_reset(&op->items[k].xml);
        }
        canto_xml_serialize(el, CANTO_NS_CLIENT, &op->items[k].xml);
        if (op->items[k].xml.len > ITEM_MAX_BYTES)
            problem = "An element is larger than 128 KiB";
    }
    if (!problem && op->nitems == 0)
        problem = "Nothing to store"; /* XEP-0049: not-acceptable */
    if (problem) {
        canto_route_error(srv, iq, CANTO_COND_NOT_ACCEPTABLE, problem);
        op_free(op);
        return NULL;
    }
    return op;
}

static int private_set(struct canto_module_inst *mi, struct canto_stanza *iq)
{
    struct canto_jid account;
    if (canto_iq_account(iq, &account) != CANTO_OK)
        return CANTO_DECLINED; /* cannot happen: the core checked the owner */
    struct canto_xml_node *query = canto_xml_first_element(iq->root);
    if (strcmp(query->name, "query") != 0) {
        canto_route_error(mi->host->server, iq, CANTO_COND_BAD_REQUEST, NULL);
    } else {
        struct op *op = prepare_set(mi->host->server, iq, query);
        if (op)
            enqueue(mi, &account, op);
    }
    canto_jid_free(&account);
    return CANTO_OK;
}

static int private_start(struct canto_module_inst *mi)
{
    struct private_state *ps = canto_xcalloc(1, sizeof(*ps));
    canto_hashmap_init(&ps->queues);
    mi->state = ps;
    return CANTO_OK;
}

/* Storage is closed before modules stop, so every queue has drained; any
 * left (a callback that never came) is freed here. */
static void private_stop(struct canto_module_inst *mi)
{
    struct private_state *ps = mi->state;
    if (!ps)
        return;
    size_t n = 0;
    void **all = canto_hashmap_values(&ps->queues, &n);
    for (size_t i = 0; i < n; i++)
        queue_free(all[i]);
    free(all);
    canto_hashmap_free(&ps->queues);
    free(ps);
    mi->state = NULL;
}

static const char *const private_features[] = {NS_PRIVATE, NULL};
static const struct canto_xep private_xeps[] = {
    {"XEP-0049", "Private XML Storage: per account, owner only, size and count limits"},
    {"XEP-0048", "Bookmarks: legacy bookmarks kept in private storage"},
    {0},
};
static const struct canto_iq_reg private_iqs[] = {
    {"get", NS_PRIVATE, private_get, CANTO_IQ_OWNER | CANTO_IQ_SERVER},
    {"set", NS_PRIVATE, private_set, CANTO_IQ_OWNER | CANTO_IQ_SERVER},
    {0},
};

const struct canto_module canto_mod_private = {
    .name = "private",
    .xeps = private_xeps,
    .features = private_features,
    .iqs = private_iqs,
    .start = private_start,
    .stop = private_stop,
};
