/*
 * test_base64.c: the RFC 4648 section 10 vectors both ways, binary round
 * trips of every length up to a few chunks, and the strictness rules of the
 * decoder (no whitespace, canonical padding and trailing bits, whole quanta),
 * including that a failed decode leaves the output buffer as it was.
 */
#include <stdlib.h>

#include "canto/base64.h"
#include "check.h"

static void check_encode(const char *in, const char *want)
{
    struct canto_buf b;
    canto_buf_init(&b);
    canto_base64_encode(&b, in, strlen(in));
    CHECK_STR(b.data, want);
    canto_buf_free(&b);
}

static void check_decode(const char *in, const char *want)
{
    struct canto_buf b;
    canto_buf_init(&b);
    CHECK_INT(canto_base64_decode(&b, in, strlen(in)), CANTO_OK);
    CHECK_INT(b.len, strlen(want));
    CHECK_STR(b.data, want);
    canto_buf_free(&b);
}

static void check_bad(const char *in, size_t len)
{
    struct canto_buf b;
    canto_buf_init(&b);
    canto_buf_append_str(&b, "keep");
    CHECK_INT(canto_base64_decode(&b, in, len), CANTO_INVALID);
    CHECK_INT(b.len, 4);
    CHECK_STR(b.data, "keep");
    canto_buf_free(&b);
}

static void test_rfc4648(void)
{
    static const char *vec[][2] = {
        {"", ""},         {"f", "Zg=="},        {"fo", "Zm8="},         {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
    };
    for (size_t i = 0; i < CANTO_ARRAY_LEN(vec); i++) {
        check_encode(vec[i][0], vec[i][1]);
        check_decode(vec[i][1], vec[i][0]);
    }
}

static void test_round_trip(void)
{
    unsigned char data[3 * 4096 * 2 + 7];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 131 + 7);
    static const size_t lens[] = {0, 1, 2, 3, 4, 5, 63, 64, 65, 255, 256, 3 * 4096 - 1,
                                  3 * 4096, 3 * 4096 + 1, sizeof data};
    for (size_t k = 0; k < CANTO_ARRAY_LEN(lens); k++) {
        size_t n = lens[k];
        struct canto_buf enc, dec;
        canto_buf_init(&enc);
        canto_buf_init(&dec);
        canto_base64_encode(&enc, data, n);
        CHECK_INT(enc.len, 4 * ((n + 2) / 3));
        CHECK_INT(canto_base64_decode(&dec, enc.data, enc.len), CANTO_OK);
        CHECK_INT(dec.len, n);
        CHECK(n == 0 || memcmp(dec.data, data, n) == 0);
        canto_buf_free(&enc);
        canto_buf_free(&dec);
    }
}

static void test_append(void)
{
    struct canto_buf b;
    canto_buf_init(&b);
    canto_buf_append_str(&b, "v=");
    canto_base64_encode(&b, "hi", 2);
    CHECK_STR(b.data, "v=aGk=");
    CHECK_INT(canto_base64_decode(&b, "IQ==", 4), CANTO_OK);
    CHECK_STR(b.data, "v=aGk=!");
    /* All 256 byte values, including NUL, survive. */
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    canto_buf_reset(&b);
    canto_base64_encode(&b, all, sizeof all);
    struct canto_buf d;
    canto_buf_init(&d);
    CHECK_INT(canto_base64_decode(&d, b.data, b.len), CANTO_OK);
    CHECK_INT(d.len, 256);
    CHECK(memcmp(d.data, all, 256) == 0);
    canto_buf_free(&d);
    canto_buf_free(&b);
}

static void test_strict(void)
{
    check_bad("Zg=", 3);          /* not a multiple of 4 */
    check_bad("Zg", 2);
    check_bad("Z", 1);
    check_bad("Zm9vYmFy ", 9);
    check_bad(" Zm9v", 5);        /* leading space: OpenSSL would skip it */
    check_bad("Zm9v\n", 5);
    check_bad("Zm9v\nYmFy", 9);
    check_bad("Zm 9", 4);
    check_bad("Zm9v\r\n\r\n", 8);
    check_bad("Z===", 4);         /* three '=' */
    check_bad("====", 4);
    check_bad("=Zm9", 4);
    check_bad("Zg==Zm9v", 8);     /* padding in the middle */
    check_bad("Zm=v", 4);
    check_bad("Zh==", 4);         /* non-zero trailing bits */
    check_bad("Zm9=", 4);
    check_bad("Zm-v", 4);         /* base64url alphabet is not ours */
    check_bad("Zm_v", 4);
    check_bad("Zm9\x80", 4);
    check_bad("Zm\0v", 4);
}

int main(void)
{
    test_rfc4648();
    test_round_trip();
    test_append();
    test_strict();
    return CHECK_DONE();
}
