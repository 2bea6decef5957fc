/*
 * sysinfo.h: what canto-bench reads about processes and limits.
 *
 * The server's resident memory and CPU time come from /proc/PID/status
 * (VmRSS) and /proc/PID/stat (utime + stime); this process's own from
 * getrusage. The open-files limit is raised to the hard limit, and the
 * server's limit is read from /proc/PID/limits so that a run which cannot
 * fit says so before it starts.
 */
#ifndef CANTO_BENCH_SYSINFO_H
#define CANTO_BENCH_SYSINFO_H

#include <stdbool.h>
#include <stdint.h>

struct bench_proc {
    bool valid;
    uint64_t rss_kb;     /* resident set size */
    uint64_t hwm_kb;     /* peak resident set size */
    double cpu_s;        /* user + system CPU seconds */
    uint64_t t_ns;       /* uv_hrtime when sampled */
};

/* Sample process pid (0: this process, via getrusage and /proc/self). */
bool bench_proc_sample(long pid, struct bench_proc *out);
/* Raise RLIMIT_NOFILE's soft limit to the hard one; returns the new soft
 * limit (or the old one when raising failed). */
uint64_t bench_raise_nofile(void);
/* Soft open-files limit of process pid from /proc/PID/limits, 0 if unknown. */
uint64_t bench_proc_nofile(long pid);

#endif
