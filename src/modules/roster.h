/*
 * roster.h: what the roster, subscription, presence and blocking modules
 * call in each other (private to src/modules).
 */
#ifndef CANTO_MODULES_ROSTER_H
#define CANTO_MODULES_ROSTER_H

#include "modules/contacts.h"

/* roster.c */
/* Push the item jid (its current state, or its removal when it is gone or
 * unlisted) to every resource of c's account that has fetched the roster. */
void roster_push(struct contacts *c, const char *jid);

/* subscription.c */
/* The user removes it from the roster (RFC 6121 2.5.2): cancel both
 * directions of the subscription towards the contact, then forget it. The
 * caller saves and pushes. */
void roster_remove_item(struct contacts *c, struct roster_item *it);

/* The user refuses jid's pending subscription request (RFC 6121 3.2): the
 * request is forgotten (saved) and the contact gets unsubscribed. Nothing
 * if there is none. */
void roster_refuse_request(struct contacts *c, const char *jid);

/* presence.c */
/* Every available resource of the account bare (visible to contacts) sends
 * its current presence to to. */
void presence_send_current(struct canto_server *srv, const char *bare, const char *to);
/* st (an available or unavailable presence of s) to every contact with a
 * from or both subscription that s's account has not blocked. */
void presence_to_contacts(struct canto_session *s, struct canto_stanza *st);
/* Every available resource of the account bare sends unavailable to to. */
void presence_send_unavailable(struct canto_server *srv, const char *bare, const char *to);

#endif
