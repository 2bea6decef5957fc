/*
 * hist.h: a bounded latency histogram (HDR-style logarithmic buckets).
 *
 * Values are nanoseconds. Each power of two is split into 32 linear
 * sub-buckets, so a recorded value is known to within about 3 % whatever its
 * size, and the whole histogram is a fixed array of counters (about 15 KB)
 * however many values are recorded: no growing array of samples.
 */
#ifndef CANTO_BENCH_HIST_H
#define CANTO_BENCH_HIST_H

#include <stdint.h>

#define BENCH_HIST_SUB_BITS 5
#define BENCH_HIST_SUB (1u << BENCH_HIST_SUB_BITS)
#define BENCH_HIST_BUCKETS ((64 - BENCH_HIST_SUB_BITS + 1) * BENCH_HIST_SUB)

struct bench_hist {
    uint64_t count;
    uint64_t min, max;  /* exact */
    double sum;         /* for the mean */
    uint64_t buckets[BENCH_HIST_BUCKETS];
};

void bench_hist_init(struct bench_hist *h);
void bench_hist_record(struct bench_hist *h, uint64_t ns);
/* The value at quantile q (0..1): the upper edge of the bucket holding it,
 * clamped to the exact max. 0 when empty. */
uint64_t bench_hist_quantile(const struct bench_hist *h, double q);
double bench_hist_mean(const struct bench_hist *h);

#endif
