/*
 * register_throttle.h: how many accounts each network address has
 * registered lately, for in-band registration (register.c).
 *
 * A fixed window per address: the first registration opens a window of
 * `period` seconds in which at most `per_ip` are allowed; the next one
 * after it opens a new window. IPv6 addresses count per /64 network (one
 * customer's usual allocation, so that walking through a prefix does not
 * buy new registrations); an IPv4-mapped IPv6 address counts as its IPv4
 * address. The table is bounded: when it is full, expired windows are
 * dropped first and then the oldest one, so memory never grows with the
 * number of addresses that try.
 */
#ifndef CANTO_MODULES_REGISTER_THROTTLE_H
#define CANTO_MODULES_REGISTER_THROTTLE_H

#include "canto/common.h"

/* Addresses (or /64 networks) one table tracks at most. */
#define CANTO_REG_THROTTLE_CAPACITY 10000

struct canto_reg_throttle;

/* A table of at most capacity addresses; free with canto_reg_throttle_free. */
struct canto_reg_throttle *canto_reg_throttle_new(size_t capacity);
void canto_reg_throttle_free(struct canto_reg_throttle *t);

/* Count one registration from addr (text, as the session's peer_address
 * gives it) at now_ms (monotonic). CANTO_OK: counted, and *window names
 * the window it was counted in (for canto_reg_throttle_give_back).
 * CANTO_LIMIT: per_ip were already counted in the current window; *wait_s
 * is the number of seconds (at least 1) until it ends. */
int canto_reg_throttle_take(struct canto_reg_throttle *t, const char *addr, unsigned per_ip,
                            unsigned period_s, uint64_t now_ms, uint64_t *window,
                            unsigned *wait_s);
/* Undo a take whose registration did not happen (the name was taken, the
 * storage failed): nothing if the window has ended since. */
void canto_reg_throttle_give_back(struct canto_reg_throttle *t, const char *addr,
                                  uint64_t window);
/* Addresses tracked now (for tests and logs). */
size_t canto_reg_throttle_size(const struct canto_reg_throttle *t);

#endif
