/*
 * listeners.c: the listener kinds by service name (listeners.h). This is
 * the one place that knows which stream kinds the server has: add a line
 * here for a new one, and `service: NAME` in a listen: entry reaches it.
 */
#include <string.h>

#include "canto/c2s.h"
#include "core/listeners.h"

static const struct canto_listener_kind c2s_kind = {
    .name = "c2s",
    .what = "clients",
    .refusal = canto_c2s_refusal,
    .accept = canto_c2s_accept,
    .release_idle = canto_c2s_release_idle,
    .close_all = canto_c2s_close_all,
};

const struct canto_listener_kind *const canto_listener_kinds[] = {
    &c2s_kind,
    NULL,
};

const struct canto_listener_kind *canto_listener_kind_find(const char *name)
{
    for (size_t i = 0; canto_listener_kinds[i]; i++)
        if (strcmp(canto_listener_kinds[i]->name, name) == 0)
            return canto_listener_kinds[i];
    return NULL;
}
