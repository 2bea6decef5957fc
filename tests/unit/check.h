/*
 * check.h: the unit tests' assertion macros. A failed check prints where and
 * what, counts, and the test keeps going so one run shows every failure;
 * CHECK_DONE() returns the exit status for main.
 */
#ifndef CANTO_TEST_CHECK_H
#define CANTO_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            check_failures++;                                                    \
        }                                                                        \
    } while (0)

#define CHECK_STR(a, b)                                                          \
    do {                                                                         \
        const char *check_a_ = (a), *check_b_ = (b);                             \
        if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_) != 0) {         \
            fprintf(stderr, "%s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__,  \
                    __LINE__, #a, check_a_ ? check_a_ : "(null)",                \
                    check_b_ ? check_b_ : "(null)");                             \
            check_failures++;                                                    \
        }                                                                        \
    } while (0)

#define CHECK_INT(a, b)                                                          \
    do {                                                                         \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);          \
        if (check_a_ != check_b_) {                                              \
            fprintf(stderr, "%s:%d: %s == %lld, expected %lld\n", __FILE__,      \
                    __LINE__, #a, check_a_, check_b_);                           \
            check_failures++;                                                    \
        }                                                                        \
    } while (0)

#define CHECK_DONE()                                                             \
    (check_failures ? (fprintf(stderr, "%d check(s) failed\n", check_failures), 1) : 0)

#endif
