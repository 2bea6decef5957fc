/*
 * buf.h: a growable byte buffer.
 *
 * Used for serialisation, write queues and protocol messages. The data is
 * always NUL-terminated (one spare byte beyond len) so that a buffer holding
 * text can be handed to C string functions. A zeroed struct is an empty buffer.
 */
#ifndef CANTO_BUF_H
#define CANTO_BUF_H

#include <stdarg.h>
#include "canto/common.h"

struct canto_buf {
    char *data; /* NULL until the first append; NUL-terminated after */
    size_t len; /* bytes used, not counting the terminator */
    size_t cap; /* bytes allocated */
};

void canto_buf_init(struct canto_buf *b);
/* Make room for at least n more bytes. */
void canto_buf_reserve(struct canto_buf *b, size_t n);
void canto_buf_append(struct canto_buf *b, const void *data, size_t n);
void canto_buf_append_str(struct canto_buf *b, const char *s);
void canto_buf_append_char(struct canto_buf *b, char c);
void canto_buf_appendf(struct canto_buf *b, const char *fmt, ...) CANTO_PRINTF(2, 3);
void canto_buf_vappendf(struct canto_buf *b, const char *fmt, va_list ap);
/* Append s with the five XML special characters escaped; attr=true also
 * escapes quotes (for attribute values). */
void canto_buf_append_xml_escaped(struct canto_buf *b, const char *s, size_t n, bool attr);
/* Drop the first n bytes (write queues consume from the front). */
void canto_buf_consume(struct canto_buf *b, size_t n);
/* Empty the buffer but keep its memory. */
void canto_buf_reset(struct canto_buf *b);
/* Release the memory; the buffer is empty and reusable afterwards. */
void canto_buf_free(struct canto_buf *b);
/* Wipe and release (buffers that held secrets). */
void canto_buf_free_secret(struct canto_buf *b);
/* Take ownership of the data (NUL-terminated, never NULL); buffer becomes empty. */
char *canto_buf_steal(struct canto_buf *b);

#endif
