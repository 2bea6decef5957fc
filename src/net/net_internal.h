/*
 * net_internal.h: what the files of net/ share and nothing above sees:
 * the connection's place in the connection caps (listener.c counts,
 * conn.c gives the count back when the connection is freed).
 */
#ifndef CANTO_NET_INTERNAL_H
#define CANTO_NET_INTERNAL_H

#include "canto/net.h"

/* One address's count in a struct canto_conn_caps (hash key: key). */
struct canto_conn_slot {
    struct canto_conn_caps *caps;
    size_t count;       /* connections from this address now */
    char key[];         /* normalised address (canto_addr_key) */
};

/* c counts in slot from now on, until it is freed. */
void canto_conn_set_slot(struct canto_conn *c, struct canto_conn_slot *slot);
/* Give back one connection of slot (NULL: nothing to do). */
void canto_conn_caps_release(struct canto_conn_slot *slot);

#endif
