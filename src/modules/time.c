/*
 * time.c: XEP-0202 entity time of the server: UTC and the server's offset.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "canto/module.h"
#include "canto/router.h"
#include "canto/server.h"
#include "canto/stanza.h"

#define NS_TIME "urn:xmpp:time"

static int entity_time(struct canto_module_inst *mi, struct canto_stanza *iq)
{
    char utc[32], tzo[40];
    canto_xmpp_timestamp(utc, sizeof utc);
    time_t now = time(NULL);
    struct tm local;
    localtime_r(&now, &local);
    long off = local.tm_gmtoff / 60;
    snprintf(tzo, sizeof tzo, "%c%02ld:%02ld", off < 0 ? '-' : '+', (off < 0 ? -off : off) / 60,
             (off < 0 ? -off : off) % 60);
    struct canto_stanza *r = canto_iq_result(iq);
    struct canto_xml_node *t = canto_xml_add_child(r, r->root, "time", NS_TIME);
    struct canto_xml_node *n = canto_xml_add_child(r, t, "tzo", NULL);
    canto_xml_add_text(r, n, tzo, strlen(tzo));
    n = canto_xml_add_child(r, t, "utc", NULL);
    canto_xml_add_text(r, n, utc, strlen(utc));
    canto_route(mi->host->server, r);
    return CANTO_OK;
}

static const char *const time_features[] = {NS_TIME, NULL};
static const struct canto_xep time_xeps[] = {
    {"XEP-0202", "Entity Time"},
    {0},
};
static const struct canto_iq_reg time_iqs[] = {
    {"get", NS_TIME, entity_time, CANTO_IQ_SERVER},
    {0},
};

const struct canto_module canto_mod_time = {
    .name = "time",
    .xeps = time_xeps,
    .features = time_features,
    .iqs = time_iqs,
};
