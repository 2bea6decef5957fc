/*
 * log.c: timestamped log lines on stderr. See log.h for why the level is the
 * one process-wide variable. Every thread reads it (the storage worker and
 * the thread pool log too) while the loop may set it (start-up, reload), so
 * it is atomic; relaxed order is enough, since a thread that sees the new
 * level a moment late logs one line more or less, nothing worse.
 */
#include "canto/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static _Atomic int log_level = CANTO_LOG_INFO;

void canto_log_set_level(enum canto_log_level level)
{
    atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

enum canto_log_level canto_log_get_level(void)
{
    return (enum canto_log_level)atomic_load_explicit(&log_level, memory_order_relaxed);
}

int canto_log_level_parse(const char *s, enum canto_log_level *out)
{
    static const struct { const char *name; enum canto_log_level level; } names[] = {
        {"debug", CANTO_LOG_DEBUG}, {"info", CANTO_LOG_INFO}, {"warn", CANTO_LOG_WARN},
        {"warning", CANTO_LOG_WARN}, {"error", CANTO_LOG_ERROR},
    };
    for (size_t i = 0; i < CANTO_ARRAY_LEN(names); i++) {
        if (strcasecmp(s, names[i].name) == 0) {
            *out = names[i].level;
            return CANTO_OK;
        }
    }
    return CANTO_INVALID;
}

void canto_log(enum canto_log_level level, const char *fmt, ...)
{
    static const char *const tags[] = {"debug", "info", "warn", "error"};
    if (level < canto_log_get_level())
        return;
    char stamp[32];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s.%03ldZ %-5s %s\n", stamp, ts.tv_nsec / 1000000L, tags[level], line);
}
