/*
 * c2s_bind.c: resource binding (RFC 6120 section 7) and the optional RFC 3921
 * session establishment that old clients still send.
 *
 * A client-chosen resource is kept when it is valid; a bind with no resource
 * gets a random one. Binding a resource that is already in use replaces the
 * old session (RFC 6120 7.7.2.2, "override"), which receives a conflict
 * stream error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canto/log.h"
#include "canto/stanza.h"
#include "xmpp/c2s_internal.h"

/* Bind and the RFC 3921 session; the core adds entity caps (XEP-0115)
 * and the modules' features after these. */
void c2s_bind_features(struct canto_c2s *c, struct canto_buf *out)
{
    canto_buf_append_str(out, "<bind xmlns='" CANTO_NS_BIND "'/>"
                              "<session xmlns='" CANTO_NS_SESSION "'><optional/></session>");
}

/* Answer an iq of the stream itself (before or at binding): the reply goes
 * straight to this stream, whose full JID may not exist yet. */
static void reply(struct canto_c2s *c, struct canto_stanza *r)
{
    canto_xml_set_attr(r, r->root, "from", NULL);
    canto_xml_set_attr(r, r->root, "to",
                       c->state == C2S_BOUND ? c->svc->ops->session_jid(c->sess) : NULL);
    c2s_send_stanza(c, r);
    canto_stanza_unref(r);
}

static void reply_error(struct canto_c2s *c, struct canto_stanza *iq,
                        enum canto_stanza_condition cond, const char *text)
{
    struct canto_stanza *r = canto_stanza_error(iq, cond, text);
    if (r)
        reply(c, r);
}

static void do_bind(struct canto_c2s *c, struct canto_stanza *iq, struct canto_xml_node *bind)
{
    if (c->state == C2S_BOUND || c->state == C2S_BINDING) {
        reply_error(c, iq, CANTO_COND_NOT_ALLOWED, "A resource is bound already");
        return;
    }
    struct canto_xml_node *res = canto_xml_child(bind, "resource", CANTO_NS_BIND);
    const char *wanted = res ? canto_xml_text(iq, res) : "";
    char *resource = NULL;
    if (*wanted) {
        resource = canto_jid_prep_resource(wanted);
        if (!resource) {
            reply_error(c, iq, CANTO_COND_BAD_REQUEST, "Invalid resource");
            return;
        }
    } else {
        char id[17];
        c->svc->ops->new_id(c->svc->core, id, sizeof id);
        size_t n = strlen(id) + 7;
        resource = canto_xmalloc(n);
        snprintf(resource, n, "canto-%s", id);
    }
    c->svc->ops->session_bind(c->sess, c->authed_local, resource);
    free(resource);
    c->state = C2S_BINDING;
    struct canto_stanza *r = canto_iq_result(iq);
    struct canto_xml_node *b = canto_xml_add_child(r, r->root, "bind", CANTO_NS_BIND);
    struct canto_xml_node *j = canto_xml_add_child(r, b, "jid", CANTO_NS_BIND);
    const char *jid = c->svc->ops->session_jid(c->sess);
    canto_xml_add_text(r, j, jid, strlen(jid));
    c->bind_result = r;
    /* Modules may hold the session (loading the account's roster): the
     * answer goes out from c2s_bind_ready, now or when they are done. */
    c->svc->ops->session_bound(c->sess);
}

void c2s_bind_ready(struct canto_c2s *c)
{
    if (c->state != C2S_BINDING)
        return;
    c->state = C2S_BOUND;
    struct canto_stanza *r = c->bind_result;
    c->bind_result = NULL;
    reply(c, r);
    canto_info("%s: bound %s", c->stream.transport ? canto_transport_peer(c->stream.transport) : "?",
               c->svc->ops->session_jid(c->sess));
    /* The stanzas that came meanwhile, in order; any of them may close us. */
    struct canto_stanza **waiting = c->waiting;
    uint8_t n = c->nwaiting;
    c->waiting = NULL;
    c->nwaiting = 0;
    c2s_ref(c);
    for (uint8_t i = 0; i < n; i++) {
        if (c->state == C2S_BOUND)
            c2s_handle_bound_stanza(c, waiting[i]);
        else
            canto_stanza_unref(waiting[i]);
    }
    free(waiting);
    c2s_unref(c);
}

void c2s_bind_free(struct canto_c2s *c)
{
    canto_stanza_unref(c->bind_result);
    c->bind_result = NULL;
    for (uint8_t i = 0; i < c->nwaiting; i++)
        canto_stanza_unref(c->waiting[i]);
    free(c->waiting);
    c->waiting = NULL;
    c->nwaiting = 0;
}

bool c2s_bind_handle(struct canto_c2s *c, struct canto_stanza *iq)
{
    const char *type = canto_xml_attr(iq->root, "type");
    if (!type || strcmp(type, "set") != 0)
        return false;
    struct canto_xml_node *payload = canto_xml_first_element(iq->root);
    if (!payload)
        return false;
    if (strcmp(payload->ns, CANTO_NS_BIND) == 0 && strcmp(payload->name, "bind") == 0) {
        do_bind(c, iq, payload);
        return true;
    }
    if (strcmp(payload->ns, CANTO_NS_SESSION) == 0 && strcmp(payload->name, "session") == 0) {
        if (c->state != C2S_BOUND)
            /* wait, not the default cancel: it is allowed once bound. */
            reply(c, canto_stanza_error_typed(iq, CANTO_COND_NOT_ALLOWED, CANTO_ERRTYPE_WAIT,
                                              "Bind a resource first"));
        else
            reply(c, canto_iq_result(iq));
        return true;
    }
    return false;
}
