/*
 * register_throttle.c: the per-address registration counter of
 * register_throttle.h. One hash table entry per address or /64 network,
 * keyed by its normalised text; an entry holds only its window's start and
 * count, so a full table of 10000 entries costs well under a megabyte.
 * Making room is a linear pass, which only happens when the table is full,
 * i.e. when thousands of addresses registered within one period.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canto/addr.h"
#include "canto/hashmap.h"
#include "modules/register_throttle.h"

struct throttle_entry {
    uint64_t start_ms; /* when the current window opened */
    unsigned count;    /* registrations counted in it */
    char key[];        /* normalised address: the hash key */
};

struct canto_reg_throttle {
    struct canto_hashmap map; /* key -> struct throttle_entry */
    size_t capacity;          /* most entries kept */
};

struct canto_reg_throttle *canto_reg_throttle_new(size_t capacity)
{
    struct canto_reg_throttle *t = canto_xcalloc(1, sizeof(*t));
    canto_hashmap_init(&t->map);
    t->capacity = capacity ? capacity : 1;
    return t;
}

static void free_entry(void *ud, const char *key, void *value)
{
    free(value);
}

void canto_reg_throttle_free(struct canto_reg_throttle *t)
{
    if (!t)
        return;
    canto_hashmap_foreach(&t->map, free_entry, NULL);
    canto_hashmap_free(&t->map);
    free(t);
}

size_t canto_reg_throttle_size(const struct canto_reg_throttle *t)
{
    return t->map.count;
}

/* The table is full: drop every window that has ended, and if none had,
 * the one that opened first (its address loses its count, which is the
 * price of a bounded table; see the header). */
static void make_room(struct canto_reg_throttle *t, uint64_t now_ms, uint64_t period_ms)
{
    size_t n = 0;
    void **all = canto_hashmap_values(&t->map, &n);
    struct throttle_entry *oldest = NULL;
    for (size_t i = 0; i < n; i++) {
        struct throttle_entry *e = all[i];
        if (now_ms - e->start_ms >= period_ms) {
            canto_hashmap_remove(&t->map, e->key);
            free(e);
        } else if (!oldest || e->start_ms < oldest->start_ms) {
            oldest = e;
        }
    }
    if (t->map.count >= t->capacity && oldest) {
        canto_hashmap_remove(&t->map, oldest->key);
        free(oldest);
    }
    free(all);
}

int canto_reg_throttle_take(struct canto_reg_throttle *t, const char *addr, unsigned per_ip,
                            unsigned period_s, uint64_t now_ms, uint64_t *window,
                            unsigned *wait_s)
{
    char key[CANTO_ADDR_KEY_SIZE];
    uint64_t period_ms = (uint64_t)period_s * 1000u;
    canto_addr_key(addr, key, sizeof key);
    struct throttle_entry *e = canto_hashmap_get(&t->map, key);
    if (e && now_ms - e->start_ms >= period_ms) {
        e->start_ms = now_ms;
        e->count = 0;
    }
    if (!e) {
        if (t->map.count >= t->capacity)
            make_room(t, now_ms, period_ms);
        size_t len = strlen(key) + 1;
        e = canto_xmalloc(sizeof(*e) + len);
        e->start_ms = now_ms;
        e->count = 0;
        memcpy(e->key, key, len);
        canto_hashmap_put(&t->map, e->key, e);
    }
    if (e->count >= per_ip) {
        uint64_t left = e->start_ms + period_ms - now_ms;
        *wait_s = (unsigned)((left + 999) / 1000);
        if (*wait_s == 0)
            *wait_s = 1;
        return CANTO_LIMIT;
    }
    e->count++;
    *window = e->start_ms;
    return CANTO_OK;
}

void canto_reg_throttle_give_back(struct canto_reg_throttle *t, const char *addr,
                                  uint64_t window)
{
    char key[CANTO_ADDR_KEY_SIZE];
    canto_addr_key(addr, key, sizeof key);
    struct throttle_entry *e = canto_hashmap_get(&t->map, key);
    if (e && e->start_ms == window && e->count > 0)
        e->count--;
}
