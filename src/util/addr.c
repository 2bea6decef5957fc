/*
 * addr.c: IP addresses as text for per-address limits (addr.h): the
 * connection caps of net/ and the registration throttle count by the same
 * key, so an IPv6 host cannot escape either by walking its /64.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "canto/addr.h"

static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

void canto_addr_key(const char *addr, char *out, size_t size)
{
    unsigned char bin[16];
    char text[INET6_ADDRSTRLEN];
    if (inet_pton(AF_INET, addr, bin) == 1) {
        inet_ntop(AF_INET, bin, out, (socklen_t)size);
        return;
    }
    if (inet_pton(AF_INET6, addr, bin) != 1) {
        snprintf(out, size, "%s", addr);
        return;
    }
    if (memcmp(bin, v4_mapped, sizeof v4_mapped) == 0) {
        inet_ntop(AF_INET, bin + 12, out, (socklen_t)size);
        return;
    }
    memset(bin + 8, 0, 8);
    inet_ntop(AF_INET6, bin, text, sizeof text);
    snprintf(out, size, "%s/64", text);
}

bool canto_addr_is_loopback(const char *addr)
{
    unsigned char bin[16];
    if (inet_pton(AF_INET, addr, bin) == 1)
        return bin[0] == 127;
    if (inet_pton(AF_INET6, addr, bin) != 1)
        return false;
    if (memcmp(bin, v4_mapped, sizeof v4_mapped) == 0)
        return bin[12] == 127;
    static const unsigned char v6_loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0,
                                                  0, 0, 0, 0, 0, 0, 0, 1};
    return memcmp(bin, v6_loopback, sizeof bin) == 0;
}
