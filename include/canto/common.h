/*
 * common.h: the few definitions every Canto file shares.
 *
 * One return-code enum for C-level results, used the same way everywhere:
 * CANTO_OK (0) is success, negative values are failures. XMPP errors are never
 * expressed with these codes; they are stanza or stream error values built by
 * the xmpp layer.
 *
 * Memory policy (written once, here): small fixed-size allocations go through
 * canto_xmalloc() and friends, which abort the process on OOM, because a server
 * that cannot allocate 100 bytes cannot do anything useful. Allocations whose
 * size is driven by input are bounded by explicit limits before they are made;
 * exceeding a limit is an XMPP error (policy-violation), not an allocation
 * failure.
 */
#ifndef CANTO_COMMON_H
#define CANTO_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

enum canto_rc {
    CANTO_OK = 0,
    CANTO_ERROR = -1,    /* generic failure; details were logged or returned */
    CANTO_AGAIN = -2,    /* not finished yet; a callback will follow */
    CANTO_DECLINED = -3, /* "not mine": a hook passes the stanza on */
    CANTO_LIMIT = -4,    /* a configured limit was reached */
    CANTO_NOTFOUND = -5, /* the thing asked for does not exist */
    CANTO_CONFLICT = -6, /* the thing to create exists already */
    CANTO_INVALID = -7,  /* malformed input */
};

/* Human-readable name of a return code, for logs. */
const char *canto_rc_str(int rc);

#define CANTO_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The enclosing struct of an embedded member (libuv style handles). */
#define canto_container_of(ptr, type, member) \
    ((type *)((char *)(ptr)-offsetof(type, member)))

#if defined(__GNUC__)
#define CANTO_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define CANTO_UNUSED __attribute__((unused))
#else
#define CANTO_PRINTF(fmt, args)
#define CANTO_UNUSED
#endif

/* Allocation helpers: abort on OOM (see the policy above). */
void *canto_xmalloc(size_t n);
void *canto_xcalloc(size_t count, size_t n);
void *canto_xrealloc(void *p, size_t n);
char *canto_xstrdup(const char *s);
char *canto_xstrndup(const char *s, size_t n);

/* Free *pp and set it to NULL. */
#define canto_free_null(pp) \
    do { free(*(pp)); *(pp) = NULL; } while (0)

/* Overwrite a secret before its memory is released (not optimised away). */
void canto_wipe(void *p, size_t n);

/* Free a string holding a secret, wiping it first. NULL is fine. */
void canto_free_secret(char *s);

/* Constant-time comparison of two equal-length byte strings: true if equal. */
bool canto_ct_equal(const void *a, const void *b, size_t n);

/* Parse a decimal integer in [min, max]; the whole string must be a number.
 * Returns CANTO_OK or CANTO_INVALID (out untouched). */
int canto_parse_long(const char *s, long min, long max, long *out);

/* Monotonic milliseconds, for timers and rate limits. */
uint64_t canto_now_ms(void);

#endif
