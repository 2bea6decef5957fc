/*
 * main.c: canto-bench, the load generator that measures Canto, Prosody and
 * ejabberd the same way (docs/bench.md is its manual).
 *
 * Parse the options, set up, run the scenario until it stops by itself (or
 * the deadline stops it), write the report. Exit status: 0 when the run met
 * its criteria (no errors, every login succeeded, no message lost), 1 when it
 * ran but did not, or could not run, 2 on a usage error.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

int main(int argc, char **argv)
{
    struct bench *b = canto_xcalloc(1, sizeof *b);
    int rc = bench_options_parse(b, argc, argv);
    if (rc != 0) {
        free(b);
        return rc == 1 ? 0 : 2;
    }
    signal(SIGPIPE, SIG_IGN);
    int status;
    if (!bench_setup(b)) {
        b->ok = false;
        status = bench_report(b);
    } else {
        bench_run(b);
        status = bench_report(b);
    }
    bench_teardown(b);
    free(b);
    return status;
}
