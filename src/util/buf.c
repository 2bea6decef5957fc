/*
 * buf.c: the growable byte buffer of buf.h. Growth is geometric so that
 * appending n bytes one at a time costs O(n) overall.
 */
#include "canto/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void canto_buf_init(struct canto_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void canto_buf_reserve(struct canto_buf *b, size_t n)
{
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    b->data = canto_xrealloc(b->data, cap);
    b->cap = cap;
}

void canto_buf_append(struct canto_buf *b, const void *data, size_t n)
{
    canto_buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void canto_buf_append_str(struct canto_buf *b, const char *s)
{
    canto_buf_append(b, s, strlen(s));
}

void canto_buf_append_char(struct canto_buf *b, char c)
{
    canto_buf_append(b, &c, 1);
}

void canto_buf_vappendf(struct canto_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return;
    canto_buf_reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void canto_buf_appendf(struct canto_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    canto_buf_vappendf(b, fmt, ap);
    va_end(ap);
}

void canto_buf_append_xml_escaped(struct canto_buf *b, const char *s, size_t n, bool attr)
{
    size_t run = 0; /* start of the current run of bytes needing no escape */
    for (size_t i = 0; i < n; i++) {
        const char *rep = NULL;
        switch (s[i]) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = attr ? "&quot;" : NULL; break;
        case '\'': rep = attr ? "&apos;" : NULL; break;
        default: break;
        }
        if (rep) {
            canto_buf_append(b, s + run, i - run);
            canto_buf_append_str(b, rep);
            run = i + 1;
        }
    }
    canto_buf_append(b, s + run, n - run);
}

void canto_buf_consume(struct canto_buf *b, size_t n)
{
    if (n >= b->len) {
        canto_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

void canto_buf_reset(struct canto_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void canto_buf_free(struct canto_buf *b)
{
    free(b->data);
    canto_buf_init(b);
}

void canto_buf_free_secret(struct canto_buf *b)
{
    canto_wipe(b->data, b->cap);
    canto_buf_free(b);
}

char *canto_buf_steal(struct canto_buf *b)
{
    if (!b->data)
        canto_buf_reserve(b, 0), b->data[0] = '\0';
    char *p = b->data;
    canto_buf_init(b);
    return p;
}
