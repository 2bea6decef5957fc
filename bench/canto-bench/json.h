/*
 * json.h: a tiny streaming JSON writer for canto-bench's result document.
 *
 * Calls nest like the document: bench_json_open(j, "results") ... close.
 * Inside an object every value takes a key; at the top level and in arrays
 * the key is NULL. Output is pretty-printed (two spaces) into a canto_buf.
 * Doubles that are not finite become null.
 */
#ifndef CANTO_BENCH_JSON_H
#define CANTO_BENCH_JSON_H

#include <stdint.h>

#include "canto/buf.h"

#define BENCH_JSON_MAX_DEPTH 16

struct bench_json {
    struct canto_buf out;
    int depth;
    bool first[BENCH_JSON_MAX_DEPTH]; /* no member written yet at this depth */
};

void bench_json_init(struct bench_json *j);
void bench_json_free(struct bench_json *j);
void bench_json_open(struct bench_json *j, const char *key);  /* { */
void bench_json_close(struct bench_json *j);                  /* } */
void bench_json_str(struct bench_json *j, const char *key, const char *v); /* NULL -> null */
void bench_json_strn(struct bench_json *j, const char *key, const char *v, size_t n);
void bench_json_u64(struct bench_json *j, const char *key, uint64_t v);
void bench_json_i64(struct bench_json *j, const char *key, int64_t v);
void bench_json_double(struct bench_json *j, const char *key, double v);
void bench_json_bool(struct bench_json *j, const char *key, bool v);
void bench_json_null(struct bench_json *j, const char *key);

#endif
