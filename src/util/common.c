/*
 * common.c: allocation helpers, secret wiping, strict number parsing, clock.
 * See common.h for the memory policy these implement.
 */
#include "canto/common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>

const char *canto_rc_str(int rc)
{
    switch (rc) {
    case CANTO_OK: return "ok";
    case CANTO_ERROR: return "error";
    case CANTO_AGAIN: return "again";
    case CANTO_DECLINED: return "declined";
    case CANTO_LIMIT: return "limit reached";
    case CANTO_NOTFOUND: return "not found";
    case CANTO_CONFLICT: return "conflict";
    case CANTO_INVALID: return "invalid";
    default: return "unknown";
    }
}

static void oom(size_t n)
{
    fprintf(stderr, "canto: out of memory allocating %zu bytes\n", n);
    abort();
}

void *canto_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *canto_xcalloc(size_t count, size_t n)
{
    void *p = calloc(count ? count : 1, n ? n : 1);
    if (!p)
        oom(count * n);
    return p;
}

void *canto_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *canto_xstrdup(const char *s)
{
    return canto_xstrndup(s, strlen(s));
}

char *canto_xstrndup(const char *s, size_t n)
{
    char *p = canto_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void canto_wipe(void *p, size_t n)
{
    if (p && n)
        OPENSSL_cleanse(p, n);
}

void canto_free_secret(char *s)
{
    if (!s)
        return;
    canto_wipe(s, strlen(s));
    free(s);
}

bool canto_ct_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

int canto_parse_long(const char *s, long min, long max, long *out)
{
    if (!s || !*s)
        return CANTO_INVALID;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end != '\0' || v < min || v > max)
        return CANTO_INVALID;
    *out = v;
    return CANTO_OK;
}

uint64_t canto_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
