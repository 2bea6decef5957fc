/*
 * sysinfo.c: /proc and rlimit readers of sysinfo.h.
 *
 * /proc/PID/stat is parsed after the last ')' because the command name in
 * parentheses may itself hold spaces or parentheses.
 */
#include "sysinfo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

static bool read_small_file(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, size - 1, f);
    fclose(f);
    buf[n] = '\0';
    return n > 0;
}

/* Value in kB of a "Key:   123 kB" line of /proc/PID/status. */
static uint64_t status_kb(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    if (!p)
        return 0;
    p += strlen(key);
    while (*p == ' ' || *p == '\t')
        p++;
    return strtoull(p, NULL, 10);
}

bool bench_proc_sample(long pid, struct bench_proc *out)
{
    char path[64], buf[4096];
    memset(out, 0, sizeof *out);
    out->t_ns = uv_hrtime();
    if (pid <= 0) {
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) != 0)
            return false;
        out->cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                     (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
        out->hwm_kb = (uint64_t)ru.ru_maxrss;
        if (read_small_file("/proc/self/status", buf, sizeof buf))
            out->rss_kb = status_kb(buf, "VmRSS:");
        out->valid = true;
        return true;
    }
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    if (!read_small_file(path, buf, sizeof buf))
        return false;
    out->rss_kb = status_kb(buf, "VmRSS:");
    out->hwm_kb = status_kb(buf, "VmHWM:");
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    if (!read_small_file(path, buf, sizeof buf))
        return false;
    const char *p = strrchr(buf, ')');
    if (!p)
        return false;
    /* after ") ": field 3 (state) ... utime is field 14, stime field 15 */
    p += 2;
    for (int field = 3; field < 14 && p; field++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    if (!p)
        return false;
    char *end;
    unsigned long long ut = strtoull(p, &end, 10);
    unsigned long long st = strtoull(end, NULL, 10);
    long tck = sysconf(_SC_CLK_TCK);
    out->cpu_s = (double)(ut + st) / (double)(tck > 0 ? tck : 100);
    out->valid = true;
    return true;
}

uint64_t bench_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t old = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            return old;
    }
    return rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
}

uint64_t bench_proc_nofile(long pid)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%ld/limits", pid);
    if (!read_small_file(path, buf, sizeof buf))
        return 0;
    const char *p = strstr(buf, "Max open files");
    if (!p)
        return 0;
    p += strlen("Max open files");
    while (*p == ' ')
        p++;
    if (strncmp(p, "unlimited", 9) == 0)
        return UINT64_MAX;
    return strtoull(p, NULL, 10);
}
