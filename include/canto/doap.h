/*
 * doap.h: the machine-readable compliance list (XEP-0453).
 */
#ifndef CANTO_DOAP_H
#define CANTO_DOAP_H

#include "canto/buf.h"

/* Append the DOAP document describing what this build implements. */
void canto_doap_write(struct canto_buf *out);

#endif
