/*
 * core/modules.h: the core's side of the module registry (private to core).
 */
#ifndef CANTO_CORE_MODULES_H
#define CANTO_CORE_MODULES_H

#include "canto/server.h"

/* Instantiate every built-in module on h and apply their registrations. */
int canto_host_start_modules(struct canto_host *h);
/* Reverse canto_host_start_modules. */
void canto_host_stop_modules(struct canto_host *h);
/* Hand an iq to the handler of its type and namespace in one scope
 * (CANTO_IQ_SERVER or CANTO_IQ_ACCOUNT): CANTO_OK if handled, CANTO_DECLINED
 * if no module handles it there. */
int canto_host_dispatch_iq(struct canto_host *h, struct canto_stanza *iq, unsigned scope);

#endif
