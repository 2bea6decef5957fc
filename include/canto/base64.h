/*
 * base64.h: standard base64 (RFC 4648 section 4, with padding), as SASL and
 * SCRAM use it. Thin wrappers over OpenSSL's encoder with strict decoding.
 */
#ifndef CANTO_BASE64_H
#define CANTO_BASE64_H

#include "canto/buf.h"

/* Append the encoding of data to out. */
void canto_base64_encode(struct canto_buf *out, const void *data, size_t len);
/* Append the decoded bytes of s (len chars) to out. Returns CANTO_OK or
 * CANTO_INVALID (bad characters, bad padding, bad length); on error out is
 * left as it was. The empty string decodes to nothing. */
int canto_base64_decode(struct canto_buf *out, const char *s, size_t len);

#endif
