/*
 * listeners.c: the listener kinds by service name (listeners.h). This is
 * the one place that knows which stream kinds the server has: add a line
 * here for a new one, and `service: NAME` in a listen: entry reaches it.
 */
#include <string.h>

#include "core/c2s_core.h"
#include "core/listeners.h"

const struct canto_listener_kind *const canto_listener_kinds[] = {
    &canto_c2s_listener_kind, /* core/c2s_core.c */
    NULL,
};

const struct canto_listener_kind *canto_listener_kind_find(const char *name)
{
    for (size_t i = 0; canto_listener_kinds[i]; i++)
        if (strcmp(canto_listener_kinds[i]->name, name) == 0)
            return canto_listener_kinds[i];
    return NULL;
}
