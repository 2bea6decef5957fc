/*
 * version.c: XEP-0092 software version of the server. The operating system
 * is given by name only (no kernel release), which tells an attacker little.
 */
#include <string.h>
#include <sys/utsname.h>

#include "canto/module.h"
#include "canto/router.h"
#include "canto/server.h"
#include "canto/stanza.h"

#define NS_VERSION "jabber:iq:version"

static int version(struct canto_module_inst *mi, struct canto_stanza *iq)
{
    struct canto_stanza *r = canto_iq_result(iq);
    struct canto_xml_node *q = canto_xml_add_child(r, r->root, "query", NS_VERSION);
    canto_xml_add_text_child(r, q, "name", CANTO_IDENTITY_NAME);
    canto_xml_add_text_child(r, q, "version", CANTO_VERSION);
    struct utsname u;
    if (uname(&u) == 0)
        canto_xml_add_text_child(r, q, "os", u.sysname);
    canto_route(mi->host->server, r);
    return CANTO_OK;
}

static const char *const version_features[] = {NS_VERSION, NULL};
static const struct canto_xep version_xeps[] = {
    {"XEP-0092", "Software Version"},
    {0},
};
static const struct canto_iq_reg version_iqs[] = {
    {"get", NS_VERSION, version, CANTO_IQ_SERVER},
    {0},
};

const struct canto_module canto_mod_version = {
    .name = "version",
    .xeps = version_xeps,
    .features = version_features,
    .iqs = version_iqs,
};
