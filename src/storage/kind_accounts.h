/*
 * kind_accounts.h: the accounts kind's requests, shared by its public
 * functions (accounts.c) and the backends that implement it
 * (sqlite_accounts.c). An account is the owner of its requests (host and
 * localpart); listing spans owners.
 */
#ifndef CANTO_STORAGE_KIND_ACCOUNTS_H
#define CANTO_STORAGE_KIND_ACCOUNTS_H

#include "canto/scram.h"
#include "storage/storage_internal.h"

/* Operation ids: indexes into canto__kind_accounts.ops. */
enum {
    CANTO__ACCOUNTS_GET_CREDS,
    CANTO__ACCOUNTS_CREATE,
    CANTO__ACCOUNTS_SET_CREDS,
    CANTO__ACCOUNTS_DELETE,
    CANTO__ACCOUNTS_EXISTS,
    CANTO__ACCOUNTS_LIST,
    CANTO__ACCOUNTS_OPS
};

struct canto__accounts_req {
    struct canto__storage_req base; /* owner: the account (not for list) */
    const char *host;               /* list: one host, or NULL for every host */
    const char *after;              /* list: cursor, a bare JID or NULL */
    unsigned limit;                 /* list: page size */
    struct canto_scram_cred *creds; /* in: create/set_creds; out: get_creds (wiped when freed) */
    size_t n_creds;                 /* entries in creds */
    char **jids;                    /* out: list, each malloc'd */
    size_t n;                       /* out: entries in jids */
    bool more;                      /* out: list: another page follows */
};

extern const struct canto__storage_kind canto__kind_accounts;

#endif
