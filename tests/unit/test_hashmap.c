/*
 * test_hashmap.c: the string-keyed hash table: put/get/replace/remove,
 * growth, iteration; and resistance to hash flooding. A peer chooses many of
 * the keys (JIDs, addresses): with an unkeyed hash it can compute, offline,
 * thousands of keys that land in one bucket and make every lookup a long
 * list walk. The flooding test builds such a set for FNV-1a (the hash the
 * table used before) and checks the table still spreads it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "canto/hashmap.h"
#include "check.h"

#define NKEYS 2000

static void test_basics(void)
{
    struct canto_hashmap m;
    canto_hashmap_init(&m);
    CHECK(canto_hashmap_get(&m, "absent") == NULL);
    CHECK(canto_hashmap_remove(&m, "absent") == NULL);

    static char keys[NKEYS][16];
    static int values[NKEYS];
    for (int i = 0; i < NKEYS; i++) {
        snprintf(keys[i], sizeof keys[i], "user%d", i);
        values[i] = i;
        CHECK(canto_hashmap_put(&m, keys[i], &values[i]) == NULL);
    }
    CHECK_INT(m.count, NKEYS);
    for (int i = 0; i < NKEYS; i++)
        CHECK(canto_hashmap_get(&m, keys[i]) == &values[i]);
    int other = -1;
    CHECK(canto_hashmap_put(&m, keys[7], &other) == &values[7]);
    CHECK(canto_hashmap_get(&m, keys[7]) == &other);
    CHECK_INT(m.count, NKEYS);
    for (int i = 0; i < NKEYS; i += 2)
        CHECK(canto_hashmap_remove(&m, keys[i]) != NULL);
    CHECK_INT(m.count, NKEYS / 2);
    for (int i = 0; i < NKEYS; i++)
        CHECK((canto_hashmap_get(&m, keys[i]) != NULL) == (i % 2 == 1));
    size_t n;
    void **all = canto_hashmap_values(&m, &n);
    CHECK_INT(n, NKEYS / 2);
    free(all);
    canto_hashmap_free(&m);
    CHECK_INT(m.count, 0);
}

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

/* NKEYS keys whose FNV-1a hashes agree in their low 12 bits: with an unkeyed
 * FNV-1a table of up to 4096 buckets they would all share one chain. */
static void test_flooding(void)
{
    static char keys[NKEYS][24];
    int found = 0;
    for (uint32_t i = 0; found < NKEYS; i++) {
        char k[24];
        snprintf(k, sizeof k, "u%u@example.org", i);
        if ((fnv1a(k) & 0xfff) == 0) {
            memcpy(keys[found], k, sizeof k);
            found++;
        }
    }
    struct canto_hashmap m;
    canto_hashmap_init(&m);
    for (int i = 0; i < NKEYS; i++)
        canto_hashmap_put(&m, keys[i], keys[i]);
    /* 2000 keys in 2048 buckets of a random hash: the longest chain is
     * around 6; 32 would already be astronomically unlikely. */
    size_t longest = canto_hashmap_longest_chain(&m);
    CHECK(longest < 32);
    if (longest >= 32)
        fprintf(stderr, "longest chain %zu for keys aimed at one bucket\n", longest);
    for (int i = 0; i < NKEYS; i++)
        CHECK(canto_hashmap_get(&m, keys[i]) == keys[i]);
    canto_hashmap_free(&m);
}

/* Two tables hash differently (each has its own key), so what a peer might
 * learn of one table's order says nothing about another's: the same keys
 * come out of two tables in different orders. */
static void test_tables_differ(void)
{
    static char keys[64][8];
    struct canto_hashmap a, b;
    canto_hashmap_init(&a);
    canto_hashmap_init(&b);
    for (int i = 0; i < 64; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        canto_hashmap_put(&a, keys[i], keys[i]);
        canto_hashmap_put(&b, keys[i], keys[i]);
    }
    size_t na, nb;
    void **va = canto_hashmap_values(&a, &na), **vb = canto_hashmap_values(&b, &nb);
    CHECK_INT(na, 64);
    CHECK_INT(nb, 64);
    CHECK(memcmp(va, vb, 64 * sizeof(*va)) != 0);
    free(va);
    free(vb);
    canto_hashmap_free(&a);
    canto_hashmap_free(&b);
}

int main(void)
{
    test_basics();
    test_flooding();
    test_tables_differ();
    return CHECK_DONE();
}
