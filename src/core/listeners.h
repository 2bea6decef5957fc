/*
 * listeners.h: the table of listener kinds, by the service name a listen:
 * entry gives (DESIGN.md, "Transports, streams and sessions"). The server
 * opens each configured socket, and every connection accepted on it is
 * handed to its kind; nothing else in the core knows which stream kinds
 * exist. A new kind (s2s, component, http, admin) is its stream's files
 * plus one line in core/listeners.c.
 */
#ifndef CANTO_CORE_LISTENERS_H
#define CANTO_CORE_LISTENERS_H

#include <stdbool.h>
#include <stddef.h>

struct canto_server;
struct canto_listener;
struct canto_transport;

struct canto_listener_kind {
    const char *name; /* the service: key in a listen: entry ("c2s") */
    const char *what; /* who connects, for the log ("clients") */
    /* Written to a connection refused by a connection cap before it is
     * closed (in the kind's protocol); NULL to close without a word. */
    const char *refusal;
    /* Once per server, after storage and modules started and before the
     * first connection: set up what the kind's streams share. */
    void (*start)(struct canto_server *srv);
    /* A new connection on l: attach a stream to t (transport.h). */
    void (*accept)(struct canto_listener *l, struct canto_transport *t);
    /* Optional: give back idle streams' memory (the periodic sweep);
     * returns how many released something. */
    size_t (*release_idle)(struct canto_server *srv);
    /* Close every stream of this kind (at stop) with this condition. */
    void (*close_all)(struct canto_server *srv, const char *condition);
    /* Whether any stream of this kind is still open (shutdown waits). */
    bool (*busy)(const struct canto_server *srv);
};

/* Every kind, NULL-terminated; the first is the default service. */
extern const struct canto_listener_kind *const canto_listener_kinds[];

/* The kind with this service name, or NULL. */
const struct canto_listener_kind *canto_listener_kind_find(const char *name);

#endif
