/*
 * race_log.c: the log level is set by the loop while other threads (the
 * storage worker, the thread pool) read it on every debug line. Built with
 * ThreadSanitizer (see CMakeLists.txt), this fails with a data-race report
 * if the level is ever a plain variable again.
 */
#include <pthread.h>

#include "canto/log.h"
#include "check.h"

static void *reader(void *arg)
{
    long seen = 0;
    for (int i = 0; i < 20000; i++)
        seen += canto_log_get_level() == CANTO_LOG_ERROR;
    *(long *)arg = seen;
    return NULL;
}

int main(void)
{
    pthread_t t;
    long seen = 0;
    CHECK(pthread_create(&t, NULL, reader, &seen) == 0);
    for (int i = 0; i < 20000; i++)
        canto_log_set_level(i % 2 ? CANTO_LOG_ERROR : CANTO_LOG_WARN);
    pthread_join(t, NULL);
    canto_log_set_level(CANTO_LOG_INFO);
    CHECK_INT(canto_log_get_level(), CANTO_LOG_INFO);
    CHECK(seen >= 0);
    return CHECK_DONE();
}
