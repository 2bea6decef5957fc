/*
 * arena.h: a bump allocator whose memory dies all at once.
 *
 * Every stanza tree lives in one arena, so a stanza is freed with one call
 * however many nodes it has. Blocks grow geometrically from a small first
 * block; a request larger than a block gets a block of its own.
 */
#ifndef CANTO_ARENA_H
#define CANTO_ARENA_H

#include "canto/common.h"

struct canto_arena_block;

struct canto_arena {
    struct canto_arena_block *head; /* current block, newest first */
    size_t used;                    /* total bytes handed out (for limits) */
};

void canto_arena_init(struct canto_arena *a);
/* Memory aligned for any type; aborts on OOM. */
void *canto_arena_alloc(struct canto_arena *a, size_t n);
void *canto_arena_calloc(struct canto_arena *a, size_t n);
char *canto_arena_strdup(struct canto_arena *a, const char *s);
char *canto_arena_strndup(struct canto_arena *a, const char *s, size_t n);
/* Release every block; the arena is empty and reusable. */
void canto_arena_free(struct canto_arena *a);

#endif
