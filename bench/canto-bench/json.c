/*
 * json.c: the JSON writer of json.h. Strings are escaped per RFC 8259
 * (quotes, backslash, control characters as \u00XX); bytes >= 0x80 are
 * copied as they are (the bench only writes ASCII and UTF-8).
 */
#include "json.h"

#include <math.h>
#include <string.h>

void bench_json_init(struct bench_json *j)
{
    memset(j, 0, sizeof *j);
    j->first[0] = true;
}

void bench_json_free(struct bench_json *j)
{
    canto_buf_free(&j->out);
}

static void escaped(struct canto_buf *b, const char *s, size_t n)
{
    canto_buf_append_char(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            canto_buf_append_char(b, '\\');
            canto_buf_append_char(b, (char)ch);
        } else if (ch < 0x20) {
            canto_buf_appendf(b, "\\u%04x", ch);
        } else {
            canto_buf_append_char(b, (char)ch);
        }
    }
    canto_buf_append_char(b, '"');
}

/* Separator, newline, indentation and key of the next value. */
static void member(struct bench_json *j, const char *key)
{
    if (!j->first[j->depth])
        canto_buf_append_char(&j->out, ',');
    j->first[j->depth] = false;
    if (j->depth > 0) {
        canto_buf_append_char(&j->out, '\n');
        for (int i = 0; i < j->depth; i++)
            canto_buf_append_str(&j->out, "  ");
    }
    if (key) {
        escaped(&j->out, key, strlen(key));
        canto_buf_append_str(&j->out, ": ");
    }
}

void bench_json_open(struct bench_json *j, const char *key)
{
    member(j, key);
    canto_buf_append_char(&j->out, '{');
    if (j->depth + 1 < BENCH_JSON_MAX_DEPTH)
        j->depth++;
    j->first[j->depth] = true;
}

void bench_json_close(struct bench_json *j)
{
    bool empty = j->first[j->depth];
    if (j->depth > 0)
        j->depth--;
    if (!empty) {
        canto_buf_append_char(&j->out, '\n');
        for (int i = 0; i < j->depth; i++)
            canto_buf_append_str(&j->out, "  ");
    }
    canto_buf_append_char(&j->out, '}');
    if (j->depth == 0)
        canto_buf_append_char(&j->out, '\n');
}

void bench_json_str(struct bench_json *j, const char *key, const char *v)
{
    if (!v) {
        bench_json_null(j, key);
        return;
    }
    bench_json_strn(j, key, v, strlen(v));
}

void bench_json_strn(struct bench_json *j, const char *key, const char *v, size_t n)
{
    member(j, key);
    escaped(&j->out, v, n);
}

void bench_json_u64(struct bench_json *j, const char *key, uint64_t v)
{
    member(j, key);
    canto_buf_appendf(&j->out, "%llu", (unsigned long long)v);
}

void bench_json_i64(struct bench_json *j, const char *key, int64_t v)
{
    member(j, key);
    canto_buf_appendf(&j->out, "%lld", (long long)v);
}

void bench_json_double(struct bench_json *j, const char *key, double v)
{
    member(j, key);
    if (!isfinite(v))
        canto_buf_append_str(&j->out, "null");
    else
        canto_buf_appendf(&j->out, "%.10g", v);
}

void bench_json_bool(struct bench_json *j, const char *key, bool v)
{
    member(j, key);
    canto_buf_append_str(&j->out, v ? "true" : "false");
}

void bench_json_null(struct bench_json *j, const char *key)
{
    member(j, key);
    canto_buf_append_str(&j->out, "null");
}
