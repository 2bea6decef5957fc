/*
 * scenarios.c: the table of canto-bench scenarios.
 *
 * Adding a scenario is one file (scn_NAME.c defining a const struct
 * bench_scenario named bench_scn_NAME) and one line in BENCH_SCENARIOS below.
 */
#include <string.h>

#include "bench.h"

#define BENCH_SCENARIOS \
    X(idle)             \
    X(login)            \
    X(chat)             \
    X(presence)

#define X(name) extern const struct bench_scenario bench_scn_##name;
BENCH_SCENARIOS
#undef X

const struct bench_scenario *const bench_scenarios[] = {
#define X(name) &bench_scn_##name,
    BENCH_SCENARIOS
#undef X
    NULL,
};

const struct bench_scenario *bench_scenario_find(const char *name)
{
    for (size_t i = 0; bench_scenarios[i]; i++)
        if (strcmp(bench_scenarios[i]->name, name) == 0)
            return bench_scenarios[i];
    return NULL;
}
