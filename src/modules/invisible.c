/*
 * invisible.c: invisible command, XEP-0186 (urn:xmpp:invisible:1, and the
 * :0 of earlier versions that some clients still send). A session that goes
 * invisible stays online for its own resources and keeps receiving
 * everything, but its contacts see it go offline and get no presence from it
 * (broadcasts, probe answers). With probe='true' its next initial presence
 * still probes the contacts, so the user sees them. Directed presence still
 * works: it is the user's explicit choice, and is all that its unavailable
 * presence takes back. <visible/> puts the session back to before its
 * initial presence (section 3.2): the server announces nothing, and the
 * client's next presence is a new initial presence, seen by everyone.
 *
 * The state is the session's, not the account's: other resources of the
 * same account are not affected, as the XEP says.
 */
#include <string.h>

#include "canto/router.h"
#include "canto/server.h"
#include "canto/session.h"
#include "canto/stanza.h"
#include "modules/roster.h"

#define NS_INVISIBLE "urn:xmpp:invisible:1"
#define NS_INVISIBLE_0 "urn:xmpp:invisible:0"

static int invisible_iq(struct canto_module_inst *mi, struct canto_stanza *iq)
{
    struct canto_server *srv = mi->host->server;
    /* Only a session's own command, about itself (no to, or its bare JID). */
    struct canto_session *s = canto_session_sender(srv, iq);
    struct canto_jid account;
    if (s && canto_iq_account(iq, &account) == CANTO_OK) {
        if (strcmp(account.bare, s->jid.bare) != 0)
            s = NULL;
        canto_jid_free(&account);
    } else {
        s = NULL;
    }
    if (!s) {
        canto_route_error(srv, iq, CANTO_COND_FORBIDDEN, NULL);
        return CANTO_OK;
    }
    const char *what = canto_xml_first_element(iq->root)->name;
    bool go_invisible = strcmp(what, "invisible") == 0;
    if (!go_invisible && strcmp(what, "visible") != 0) {
        canto_route_error(srv, iq, CANTO_COND_BAD_REQUEST, NULL);
        return CANTO_OK;
    }
    canto_route(srv, canto_iq_result(iq));
    if (go_invisible) {
        const char *probe = canto_xml_attr(canto_xml_first_element(iq->root), "probe");
        s->invisible_probe = probe && (strcmp(probe, "true") == 0 || strcmp(probe, "1") == 0);
    }
    if (go_invisible == s->invisible)
        return CANTO_OK;
    if (go_invisible && s->available) {
        struct canto_stanza *st = canto_stanza_new_root("presence", CANTO_NS_CLIENT);
        canto_xml_set_attr(st, st->root, "from", s->jid.full);
        canto_xml_set_attr(st, st->root, "type", "unavailable");
        presence_to_contacts(s, st);
        canto_stanza_unref(st);
    }
    s->invisible = go_invisible;
    if (!go_invisible) {
        /* Back to before initial presence; the own resources are told, as
         * they would be of an unavailable presence. */
        if (s->available) {
            struct canto_stanza *st = canto_stanza_new_root("presence", CANTO_NS_CLIENT);
            canto_xml_set_attr(st, st->root, "from", s->jid.full);
            canto_xml_set_attr(st, st->root, "type", "unavailable");
            for (struct canto_session *t = s->user->sessions; t; t = t->next)
                if (t != s && t->available)
                    canto_session_send(t, st);
            canto_stanza_unref(st);
        }
        s->available = false;
        canto_stanza_unref(s->presence);
        s->presence = NULL;
        canto_session_clear_directed(s);
    }
    return CANTO_OK;
}

static const char *const invisible_features[] = {NS_INVISIBLE, NS_INVISIBLE_0, NULL};
static const struct canto_xep invisible_xeps[] = {
    {"XEP-0186", "Invisible Command: per session, urn:xmpp:invisible:1 (and :0), with the probe attribute"},
    {0},
};
static const struct canto_iq_reg invisible_iqs[] = {
    {"set", NS_INVISIBLE, invisible_iq, CANTO_IQ_ACCOUNT},
    {"set", NS_INVISIBLE_0, invisible_iq, CANTO_IQ_ACCOUNT},
    {0},
};

const struct canto_module canto_mod_invisible = {
    .name = "invisible",
    .xeps = invisible_xeps,
    .features = invisible_features,
    .iqs = invisible_iqs,
};
