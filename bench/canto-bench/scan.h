/*
 * scan.h: cut an XMPP byte stream into top-level elements without parsing it.
 *
 * The scanner is a resumable byte-level state machine: it follows tags,
 * quoted attribute values and <?...?> declarations, keeps the nesting depth,
 * and reports three events: the stream header (depth 0 -> 1), a complete
 * depth-1 element (a stanza, <stream:features/>, <success/> ...), and the end
 * of the stream. It builds nothing and allocates nothing; a connection keeps
 * only this small struct plus the bytes of an element split across reads.
 *
 * It trusts the server to send well-formed XML; CDATA sections (and comments,
 * which RFC 6120 forbids) are skipped whole, so a '<' inside them does not
 * count. Malformed input gives BENCH_SCAN_ERROR or a wrong cut, never a crash.
 * The helpers below look into one complete element with string searches.
 */
#ifndef CANTO_BENCH_SCAN_H
#define CANTO_BENCH_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_SCAN_MAX_DEPTH 200

enum bench_scan_event {
    BENCH_SCAN_NONE,    /* ran out of input */
    BENCH_SCAN_HEADER,  /* the stream header's start tag is complete */
    BENCH_SCAN_ELEMENT, /* a depth-1 element is complete: [elem_start, pos) */
    BENCH_SCAN_END,     /* </stream:stream> */
    BENCH_SCAN_ERROR,   /* malformed */
};

struct bench_scan {
    uint8_t state;      /* internal: text, '<', tag, quote, skip, CDATA, comment */
    char quote;         /* the quote character while in a quoted value */
    uint8_t run;        /* CDATA/comment: closing characters seen in a row */
    bool end_tag;       /* the current tag is </...> */
    bool slash;         /* '/' seen just before '>' */
    bool in_elem;       /* a depth-1 element has started */
    uint16_t depth;     /* 0 before the stream header */
    size_t elem_start;  /* offset of the current element's '<' */
};

/* Start of a stream: depth 0 (XMPP) or 1 (relay mode: no header). */
void bench_scan_reset(struct bench_scan *s, unsigned depth);

/* Scan p[from..n) and stop after the first event. Returns the offset just
 * after the event (or n with BENCH_SCAN_NONE); *ev receives the event. For
 * BENCH_SCAN_ELEMENT the element is p[s->elem_start .. return value). */
size_t bench_scan_run(struct bench_scan *s, const char *p, size_t n, size_t from,
                      enum bench_scan_event *ev);

/* --- looking into one complete element (p .. p+n) --- */

/* The local name of the element starting at p ('<' first): prefix stripped. */
void bench_elem_name(const char *p, size_t n, const char **name, size_t *len);
/* Value of attribute `attr` of the start tag (no unescaping). */
bool bench_elem_attr(const char *p, size_t n, const char *attr, const char **v, size_t *vlen);
/* Text right after the first start tag of a child named `child` (local
 * name, matched with or without a prefix) up to the next '<'. */
bool bench_elem_child_text(const char *p, size_t n, const char *child, const char **v,
                           size_t *vlen);
/* Whether the bytes `needle` (e.g. "<optional") appear anywhere inside. */
bool bench_elem_has(const char *p, size_t n, const char *needle);
/* Text content of the element itself (between its start and end tags). */
void bench_elem_content(const char *p, size_t n, const char **v, size_t *vlen);
/* Local name of the first child element after offset `from` of p, e.g. the
 * condition inside <failure/> or <stream:error/>. */
bool bench_elem_first_child(const char *p, size_t n, size_t from, const char **name,
                            size_t *len);
/* Parse decimal digits at *pp (advancing it); false if none. */
bool bench_parse_u64(const char **pp, const char *end, uint64_t *out);

#endif
