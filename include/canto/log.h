/*
 * log.h: logging to stderr.
 *
 * The level is the one piece of process-wide state outside struct
 * canto_server: set by the main program at start-up (and on reload), read
 * by every thread that logs (the loop, the storage worker, the thread
 * pool). It is an atomic, so setting it while others log is safe.
 */
#ifndef CANTO_LOG_H
#define CANTO_LOG_H

#include "canto/common.h"

enum canto_log_level {
    CANTO_LOG_DEBUG = 0,
    CANTO_LOG_INFO = 1,
    CANTO_LOG_WARN = 2,
    CANTO_LOG_ERROR = 3,
};

void canto_log_set_level(enum canto_log_level level);
enum canto_log_level canto_log_get_level(void);
/* Parse "debug", "info", "warn"/"warning", "error"; CANTO_INVALID otherwise. */
int canto_log_level_parse(const char *s, enum canto_log_level *out);

void canto_log(enum canto_log_level level, const char *fmt, ...) CANTO_PRINTF(2, 3);

#define canto_debug(...) \
    do { if (canto_log_get_level() <= CANTO_LOG_DEBUG) canto_log(CANTO_LOG_DEBUG, __VA_ARGS__); } while (0)
#define canto_info(...) canto_log(CANTO_LOG_INFO, __VA_ARGS__)
#define canto_warn(...) canto_log(CANTO_LOG_WARN, __VA_ARGS__)
#define canto_error(...) canto_log(CANTO_LOG_ERROR, __VA_ARGS__)

#endif
