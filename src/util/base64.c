/*
 * base64.c: standard base64 with padding (RFC 4648 section 4) for SASL.
 *
 * Encoding and decoding are done by OpenSSL's EVP_EncodeBlock and
 * EVP_DecodeBlock; this file adds the strictness those lack. SASL payloads
 * must be canonical base64: no whitespace or line breaks, a length that is a
 * multiple of four, '=' only as one or two final padding characters, and zero
 * bits in the unused low bits of the last symbol (RFC 4648 section 3.5), so
 * that one byte string has exactly one accepted encoding. EVP_DecodeBlock
 * itself skips surrounding whitespace and returns a length that counts the
 * padding as zero bytes, which is why the input is validated first and the
 * padding is subtracted after.
 */
#include "canto/base64.h"

#include <limits.h>
#include <string.h>

#include <openssl/evp.h>

/* Input bytes per EVP_EncodeBlock call: a multiple of 3 so that only the
 * final chunk is padded, and small enough for OpenSSL's int lengths. */
#define ENCODE_CHUNK (3 * 4096)

void canto_base64_encode(struct canto_buf *out, const void *data, size_t len)
{
    const unsigned char *p = data;
    while (len > 0) {
        size_t n = len < ENCODE_CHUNK ? len : ENCODE_CHUNK;
        size_t enc = 4 * ((n + 2) / 3);
        canto_buf_reserve(out, enc); /* plus the terminator buf keeps spare */
        int w = EVP_EncodeBlock((unsigned char *)out->data + out->len, p, (int)n);
        out->len += (size_t)w;
        out->data[out->len] = '\0';
        p += n;
        len -= n;
    }
    if (!out->data)
        canto_buf_reserve(out, 0), out->data[0] = '\0';
}

/* Value of a base64 alphabet character, or -1. */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Check that s is canonical base64 and return the number of '=' at its end
 * (0, 1 or 2), or -1 if it is not. */
static int b64_check(const char *s, size_t len)
{
    if (len % 4 != 0)
        return -1;
    if (len == 0)
        return 0;
    int pad = 0;
    if (s[len - 1] == '=')
        pad = s[len - 2] == '=' ? 2 : 1;
    for (size_t i = 0; i < len - (size_t)pad; i++)
        if (b64_value((unsigned char)s[i]) < 0)
            return -1;
    /* The last data symbol's unused bits must be zero: 4 bits with "==",
     * 2 bits with "=". */
    if (pad) {
        int last = b64_value((unsigned char)s[len - (size_t)pad - 1]);
        int mask = pad == 2 ? 0x0F : 0x03;
        if (last & mask)
            return -1;
    }
    return pad;
}

int canto_base64_decode(struct canto_buf *out, const char *s, size_t len)
{
    int pad = b64_check(s, len);
    if (pad < 0 || len > INT_MAX)
        return CANTO_INVALID;
    if (len == 0) {
        if (!out->data)
            canto_buf_reserve(out, 0), out->data[0] = '\0';
        return CANTO_OK;
    }
    canto_buf_reserve(out, len / 4 * 3);
    int n = EVP_DecodeBlock((unsigned char *)out->data + out->len, (const unsigned char *)s,
                            (int)len);
    if (n < pad) { /* cannot happen after b64_check; keep out as it was */
        out->data[out->len] = '\0';
        return CANTO_INVALID;
    }
    out->len += (size_t)(n - pad);
    out->data[out->len] = '\0';
    return CANTO_OK;
}
