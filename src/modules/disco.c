/*
 * disco.c: XEP-0030 service discovery for the server itself and for local
 * accounts. The features come from the module descriptors of the host
 * (features for the host, account_features for an account's bare JID), so
 * the lists cannot drift from what is loaded; the host's list also makes
 * the XEP-0115 caps hash.
 */
#include <stdlib.h>
#include <string.h>

#include "canto/module.h"
#include "canto/router.h"
#include "canto/server.h"
#include "canto/stanza.h"

#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"

/* disco#info of a local account's bare JID (XEP-0030 for accounts): the
 * account identity and the features the modules declare for accounts; the
 * server answers it on the account's behalf. */
static int account_info(struct canto_module_inst *mi, struct canto_stanza *iq)
{
    struct canto_xml_node *q = canto_xml_first_element(iq->root);
    if (canto_xml_attr(q, "node")) {
        canto_route_error(mi->host->server, iq, CANTO_COND_ITEM_NOT_FOUND, NULL);
        return CANTO_OK;
    }
    struct canto_stanza *r = canto_iq_result(iq);
    struct canto_xml_node *query = canto_xml_add_child(r, r->root, "query", NS_DISCO_INFO);
    struct canto_xml_node *id = canto_xml_add_child(r, query, "identity", NULL);
    canto_xml_set_attr(r, id, "category", "account");
    canto_xml_set_attr(r, id, "type", "registered");
    size_t n = 0;
    const char **features = canto_host_features(mi->host, CANTO_DISCO_ACCOUNT, &n);
    for (size_t i = 0; i < n; i++) {
        struct canto_xml_node *f = canto_xml_add_child(r, query, "feature", NULL);
        canto_xml_set_attr(r, f, "var", features[i]);
    }
    free(features);
    canto_route(mi->host->server, r);
    return CANTO_OK;
}

static int account_items(struct canto_module_inst *mi, struct canto_stanza *iq)
{
    struct canto_stanza *r = canto_iq_result(iq);
    canto_xml_add_child(r, r->root, "query", NS_DISCO_ITEMS);
    canto_route(mi->host->server, r);
    return CANTO_OK;
}

static int disco_info(struct canto_module_inst *mi, struct canto_stanza *iq)
{
    struct canto_host *h = mi->host;
    struct canto_xml_node *q = canto_xml_first_element(iq->root);
    const char *node = canto_xml_attr(q, "node");
    size_t want = strlen(CANTO_CAPS_NODE) + 1 + (h->caps_ver ? strlen(h->caps_ver) : 0);
    /* The only node we answer is our own caps node#ver. */
    if (node && !(h->caps_ver && strlen(node) == want &&
                  strncmp(node, CANTO_CAPS_NODE "#", strlen(CANTO_CAPS_NODE) + 1) == 0 &&
                  strcmp(node + strlen(CANTO_CAPS_NODE) + 1, h->caps_ver) == 0)) {
        canto_route_error(h->server, iq, CANTO_COND_ITEM_NOT_FOUND, NULL);
        return CANTO_OK;
    }
    struct canto_stanza *r = canto_iq_result(iq);
    struct canto_xml_node *query = canto_xml_add_child(r, r->root, "query", NS_DISCO_INFO);
    if (node)
        canto_xml_set_attr(r, query, "node", node);
    struct canto_xml_node *id = canto_xml_add_child(r, query, "identity", NULL);
    canto_xml_set_attr(r, id, "category", CANTO_IDENTITY_CATEGORY);
    canto_xml_set_attr(r, id, "type", CANTO_IDENTITY_TYPE);
    canto_xml_set_attr(r, id, "name", CANTO_IDENTITY_NAME);
    size_t n = 0;
    const char **features = canto_host_features(h, CANTO_DISCO_HOST, &n);
    for (size_t i = 0; i < n; i++) {
        struct canto_xml_node *f = canto_xml_add_child(r, query, "feature", NULL);
        canto_xml_set_attr(r, f, "var", features[i]);
    }
    free(features);
    canto_route(h->server, r);
    return CANTO_OK;
}

/* The host's items: the services its modules run on their own domains. */
static int disco_items(struct canto_module_inst *mi, struct canto_stanza *iq)
{
    struct canto_server *srv = mi->host->server;
    struct canto_stanza *r = canto_iq_result(iq);
    struct canto_xml_node *q = canto_xml_add_child(r, r->root, "query", NS_DISCO_ITEMS);
    if (!canto_xml_attr(canto_xml_first_element(iq->root), "node")) {
        for (size_t i = 0; i < srv->nservices; i++) {
            if (srv->services[i].host != mi->host)
                continue;
            struct canto_xml_node *item = canto_xml_add_child(r, q, "item", NULL);
            canto_xml_set_attr(r, item, "jid", srv->services[i].domain);
            canto_xml_set_attr(r, item, "name", srv->services[i].name);
        }
    }
    canto_route(srv, r);
    return CANTO_OK;
}

static const char *const disco_features[] = {NS_DISCO_INFO, NS_DISCO_ITEMS, NULL};
static const char *const disco_account_features[] = {NS_DISCO_INFO, NS_DISCO_ITEMS, NULL};
static const struct canto_xep disco_xeps[] = {
    {"XEP-0030", "Service Discovery: server identity and features from the loaded modules, account identity and the features the modules offer on accounts' behalf, the host's services as items"},
    {"XEP-0115", "Entity Capabilities: the server's caps hash in the stream features"},
    {0},
};
static const struct canto_iq_reg disco_iqs[] = {
    {"get", NS_DISCO_INFO, disco_info, CANTO_IQ_SERVER},
    {"get", NS_DISCO_ITEMS, disco_items, CANTO_IQ_SERVER},
    {"get", NS_DISCO_INFO, account_info, CANTO_IQ_ACCOUNT},
    {"get", NS_DISCO_ITEMS, account_items, CANTO_IQ_ACCOUNT},
    {0},
};

const struct canto_module canto_mod_disco = {
    .name = "disco",
    .xeps = disco_xeps,
    .features = disco_features,
    .account_features = disco_account_features,
    .iqs = disco_iqs,
};
