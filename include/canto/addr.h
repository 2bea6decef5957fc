/*
 * addr.h: IP addresses as text, the way per-address limits count them.
 */
#ifndef CANTO_ADDR_H
#define CANTO_ADDR_H

#include <stddef.h>
#include <stdbool.h>

/* Room for any key canto_addr_key writes. */
#define CANTO_ADDR_KEY_SIZE 56

/* The counting key of an address: IPv4 as is, IPv4-mapped IPv6 as IPv4,
 * other IPv6 as its /64 network ("2001:db8:1:2::/64"), because one host
 * commonly holds a whole /64. Text that is no address at all is used as
 * given (truncated to size). */
void canto_addr_key(const char *addr, char *out, size_t size);
/* Whether addr is a loopback address (127.0.0.0/8, ::1, or IPv4-mapped
 * 127.x). */
bool canto_addr_is_loopback(const char *addr);

#endif
