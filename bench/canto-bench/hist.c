/*
 * hist.c: the logarithmic latency histogram of hist.h.
 *
 * Index of a value v: below 2^SUB_BITS the value itself; above, with m the
 * position of the highest set bit and shift = m - SUB_BITS, the bucket is
 * (shift + 1) * SUB + ((v >> shift) - SUB), i.e. the top SUB_BITS+1 bits of
 * v select it. The upper edge of a bucket is the largest value mapping to it.
 */
#include "hist.h"

#include <string.h>

void bench_hist_init(struct bench_hist *h)
{
    memset(h, 0, sizeof *h);
}

static unsigned bucket_of(uint64_t v)
{
    if (v < BENCH_HIST_SUB)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - BENCH_HIST_SUB_BITS; /* v >> shift is in [SUB, 2 SUB) */
    return (shift + 1) * BENCH_HIST_SUB + (unsigned)((v >> shift) - BENCH_HIST_SUB);
}

/* Largest value that maps to bucket i. */
static uint64_t bucket_top(unsigned i)
{
    if (i < BENCH_HIST_SUB)
        return i;
    unsigned shift = i / BENCH_HIST_SUB - 1;
    uint64_t base = (uint64_t)(i % BENCH_HIST_SUB + BENCH_HIST_SUB) << shift;
    return base + ((uint64_t)1 << shift) - 1;
}

void bench_hist_record(struct bench_hist *h, uint64_t ns)
{
    if (h->count == 0 || ns < h->min)
        h->min = ns;
    if (ns > h->max)
        h->max = ns;
    h->count++;
    h->sum += (double)ns;
    h->buckets[bucket_of(ns)]++;
}

uint64_t bench_hist_quantile(const struct bench_hist *h, double q)
{
    if (h->count == 0)
        return 0;
    if (q >= 1.0)
        return h->max;
    /* rank of the wanted value, 1-based: ceil(q * count), at least 1 */
    double r = q * (double)h->count;
    uint64_t rank = (uint64_t)r;
    if ((double)rank < r)
        rank++;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t top = bucket_top(i);
            return top > h->max ? h->max : (top < h->min ? h->min : top);
        }
    }
    return h->max;
}

double bench_hist_mean(const struct bench_hist *h)
{
    return h->count ? h->sum / (double)h->count : 0.0;
}
