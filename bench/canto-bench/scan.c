/*
 * scan.c: the stream scanner and element helpers of scan.h.
 *
 * Text between tags is skipped with memchr, so a chat stanza costs a handful
 * of memchr calls plus a byte loop over its tags. The state survives between
 * calls, so input may be split anywhere; the caller keeps only the bytes of an
 * unfinished depth-1 element (conn.c).
 */
#include "scan.h"

#include <string.h>

enum { S_TEXT, S_LT, S_TAG, S_QUOTE, S_SKIP, S_BANG, S_CDATA, S_COMMENT };

void bench_scan_reset(struct bench_scan *s, unsigned depth)
{
    memset(s, 0, sizeof *s);
    s->state = S_TEXT;
    s->depth = (uint16_t)depth;
}

/* A tag ended at p[i] == '>': update the depth and say what happened. */
static enum bench_scan_event tag_done(struct bench_scan *s)
{
    s->state = S_TEXT;
    if (s->end_tag) {
        if (s->depth == 0)
            return BENCH_SCAN_ERROR;
        s->depth--;
        if (s->depth == 1 && s->in_elem) {
            s->in_elem = false;
            return BENCH_SCAN_ELEMENT;
        }
        if (s->depth == 0) {
            s->in_elem = false;
            return BENCH_SCAN_END;
        }
        return BENCH_SCAN_NONE;
    }
    if (s->slash) {
        if (s->depth == 0)
            return BENCH_SCAN_END; /* <stream:stream/>: a stream that ends at once */
        if (s->depth == 1 && s->in_elem) {
            s->in_elem = false;
            return BENCH_SCAN_ELEMENT;
        }
        return BENCH_SCAN_NONE;
    }
    if (s->depth >= BENCH_SCAN_MAX_DEPTH)
        return BENCH_SCAN_ERROR;
    s->depth++;
    return s->depth == 1 ? BENCH_SCAN_HEADER : BENCH_SCAN_NONE;
}

size_t bench_scan_run(struct bench_scan *s, const char *p, size_t n, size_t from,
                      enum bench_scan_event *ev)
{
    size_t i = from;
    while (i < n) {
        switch (s->state) {
        case S_TEXT: {
            const char *lt = memchr(p + i, '<', n - i);
            if (!lt) {
                i = n;
                continue;
            }
            i = (size_t)(lt - p);
            s->state = S_LT;
            if (s->depth == 1) {
                s->in_elem = true;
                s->elem_start = i;
            }
            i++;
            break;
        }
        case S_LT:
            s->slash = false;
            if (p[i] == '?' || p[i] == '!') {
                if (s->depth == 1)
                    s->in_elem = false;
                s->state = p[i] == '!' ? S_BANG : S_SKIP;
                s->run = 0;
            } else {
                s->end_tag = p[i] == '/';
                s->state = S_TAG;
                if (p[i] == '>') { /* "<>" */
                    *ev = BENCH_SCAN_ERROR;
                    return i + 1;
                }
            }
            i++;
            break;
        case S_TAG:
            for (; i < n; i++) {
                char ch = p[i];
                if (ch == '>') {
                    enum bench_scan_event e = tag_done(s);
                    if (e != BENCH_SCAN_NONE) {
                        *ev = e;
                        return i + 1;
                    }
                    i++;
                    break;
                }
                if (ch == '"' || ch == '\'') {
                    s->quote = ch;
                    s->state = S_QUOTE;
                    i++;
                    break;
                }
                if (ch == '/')
                    s->slash = true;
                else if (ch != ' ' && ch != '\t' && ch != '\r' && ch != '\n')
                    s->slash = false;
            }
            break;
        case S_QUOTE: {
            const char *q = memchr(p + i, s->quote, n - i);
            if (!q) {
                i = n;
                continue;
            }
            i = (size_t)(q - p) + 1;
            s->state = S_TAG;
            break;
        }
        case S_BANG: /* after "<!": a CDATA section, a comment, or a declaration */
            s->state = p[i] == '[' ? S_CDATA : p[i] == '-' ? S_COMMENT : S_SKIP;
            i++;
            break;
        case S_CDATA:   /* until "]]>" */
        case S_COMMENT: /* until "-->" */
            for (char close = s->state == S_CDATA ? ']' : '-'; i < n; i++) {
                if (p[i] == close) {
                    if (s->run < 2)
                        s->run++;
                } else if (p[i] == '>' && s->run >= 2) {
                    s->state = S_TEXT;
                    i++;
                    break;
                } else {
                    s->run = 0;
                }
            }
            break;
        default: { /* S_SKIP: <?...?> or <!DOCTYPE...> */
            const char *gt = memchr(p + i, '>', n - i);
            if (!gt) {
                i = n;
                continue;
            }
            i = (size_t)(gt - p) + 1;
            s->state = S_TEXT;
            break;
        }
        }
    }
    *ev = BENCH_SCAN_NONE;
    return n;
}

/* --- helpers on one complete element --- */

static bool is_name_end(char ch)
{
    return ch == ' ' || ch == '>' || ch == '/' || ch == '\t' || ch == '\r' || ch == '\n';
}

void bench_elem_name(const char *p, size_t n, const char **name, size_t *len)
{
    size_t i = 1, start = 1;
    while (i < n && !is_name_end(p[i])) {
        if (p[i] == ':')
            start = i + 1;
        i++;
    }
    *name = p + start;
    *len = i > start ? i - start : 0;
}

/* End of the start tag: offset of its '>' (quotes respected), or n. */
static size_t start_tag_end(const char *p, size_t n)
{
    char quote = 0;
    for (size_t i = 0; i < n; i++) {
        if (quote) {
            if (p[i] == quote)
                quote = 0;
        } else if (p[i] == '"' || p[i] == '\'') {
            quote = p[i];
        } else if (p[i] == '>') {
            return i;
        }
    }
    return n;
}

bool bench_elem_attr(const char *p, size_t n, const char *attr, const char **v, size_t *vlen)
{
    size_t end = start_tag_end(p, n);
    size_t alen = strlen(attr);
    char quote = 0;
    for (size_t i = 1; i + alen + 2 < end; i++) {
        char ch = p[i];
        if (quote) {
            if (ch == quote)
                quote = 0;
            continue;
        }
        if (ch == '"' || ch == '\'') {
            quote = ch;
            continue;
        }
        if ((ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') &&
            memcmp(p + i + 1, attr, alen) == 0 && p[i + 1 + alen] == '=') {
            size_t q = i + 2 + alen;
            char qc = p[q];
            if (qc != '\'' && qc != '"')
                return false;
            const char *close = memchr(p + q + 1, qc, end - q - 1);
            if (!close)
                return false;
            *v = p + q + 1;
            *vlen = (size_t)(close - *v);
            return true;
        }
    }
    return false;
}

bool bench_elem_child_text(const char *p, size_t n, const char *child, const char **v,
                           size_t *vlen)
{
    size_t clen = strlen(child);
    size_t i = start_tag_end(p, n);
    while (i < n) {
        const char *lt = memchr(p + i, '<', n - i);
        if (!lt)
            return false;
        i = (size_t)(lt - p) + 1;
        if (i >= n || p[i] == '/')
            continue;
        const char *name;
        size_t len;
        bench_elem_name(lt, n - (size_t)(lt - p), &name, &len);
        if (len == clen && memcmp(name, child, clen) == 0) {
            size_t end = (size_t)(lt - p) + start_tag_end(lt, n - (size_t)(lt - p));
            if (end >= n || p[end - 1] == '/') {
                *v = p + end;
                *vlen = 0;
                return true;
            }
            const char *text = p + end + 1;
            const char *stop = memchr(text, '<', n - (end + 1));
            *v = text;
            *vlen = stop ? (size_t)(stop - text) : 0;
            return true;
        }
    }
    return false;
}

bool bench_elem_has(const char *p, size_t n, const char *needle)
{
    return memmem(p, n, needle, strlen(needle)) != NULL;
}

void bench_elem_content(const char *p, size_t n, const char **v, size_t *vlen)
{
    size_t end = start_tag_end(p, n);
    *v = p + n;
    *vlen = 0;
    if (end >= n || (end > 0 && p[end - 1] == '/'))
        return;
    const char *text = p + end + 1;
    const char *stop = memchr(text, '<', n - (end + 1));
    *v = text;
    *vlen = stop ? (size_t)(stop - text) : n - (end + 1);
}

bool bench_elem_first_child(const char *p, size_t n, size_t from, const char **name,
                            size_t *len)
{
    size_t i = from + start_tag_end(p + from, n - from);
    while (i < n) {
        const char *lt = memchr(p + i, '<', n - i);
        if (!lt || (size_t)(lt - p) + 1 >= n)
            return false;
        i = (size_t)(lt - p) + 1;
        if (p[i] == '/' || p[i] == '?' || p[i] == '!')
            continue;
        bench_elem_name(lt, n - (size_t)(lt - p), name, len);
        return *len > 0;
    }
    return false;
}

bool bench_parse_u64(const char **pp, const char *end, uint64_t *out)
{
    const char *p = *pp;
    uint64_t v = 0;
    if (p >= end || *p < '0' || *p > '9')
        return false;
    while (p < end && *p >= '0' && *p <= '9') {
        v = v * 10 + (uint64_t)(*p - '0');
        p++;
    }
    *pp = p;
    *out = v;
    return true;
}
