/*
 * c2s_core.h: the c2s listener kind, with what the core gives the c2s
 * streams (core/c2s_core.c). Only the listener table includes it.
 */
#ifndef CANTO_CORE_C2S_CORE_H
#define CANTO_CORE_C2S_CORE_H

#include "core/listeners.h"

extern const struct canto_listener_kind canto_c2s_listener_kind;

#endif
