/*
 * xep.h: one XEP a part of the server implements, for the DOAP file
 * (XEP-0453) and the human page generated from it (docs/xeps.md). Modules
 * list theirs in their descriptor (module.h), the stream layer its own
 * (c2s.h); cantod --doap gathers them.
 */
#ifndef CANTO_XEP_H
#define CANTO_XEP_H

struct canto_xep {
    const char *id;   /* "XEP-0199" */
    const char *note; /* "Title: what is supported, and how", for users */
};

#endif
