/*
 * arena.c: the bump allocator of arena.h.
 *
 * The first block is small (most stanzas are a few hundred bytes); each new
 * block doubles, up to a cap, so a large stanza costs O(log n) mallocs.
 */
#include "canto/arena.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_FIRST_BLOCK 512
#define ARENA_MAX_BLOCK (64 * 1024)
#define ARENA_ALIGN 16

struct canto_arena_block {
    struct canto_arena_block *next; /* older block */
    size_t size;                    /* usable bytes in data */
    size_t off;                     /* next free byte in data */
    _Alignas(ARENA_ALIGN) unsigned char data[];
};

void canto_arena_init(struct canto_arena *a)
{
    a->head = NULL;
    a->used = 0;
}

void *canto_arena_alloc(struct canto_arena *a, size_t n)
{
    size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    struct canto_arena_block *b = a->head;
    if (!b || b->size - b->off < need) {
        size_t size = b ? b->size * 2 : ARENA_FIRST_BLOCK;
        if (size > ARENA_MAX_BLOCK)
            size = ARENA_MAX_BLOCK;
        if (size < need)
            size = need;
        struct canto_arena_block *nb = canto_xmalloc(sizeof(*nb) + size);
        nb->size = size;
        nb->off = 0;
        /* A block sized for one big request goes behind the current one so
         * the current block's free space is not wasted. */
        if (b && size == need && b->size - b->off > 64) {
            nb->next = b->next;
            b->next = nb;
            nb->off = need;
            a->used += need;
            return nb->data;
        }
        nb->next = b;
        a->head = nb;
        b = nb;
    }
    void *p = b->data + b->off;
    b->off += need;
    a->used += need;
    return p;
}

void *canto_arena_calloc(struct canto_arena *a, size_t n)
{
    void *p = canto_arena_alloc(a, n);
    memset(p, 0, n);
    return p;
}

char *canto_arena_strndup(struct canto_arena *a, const char *s, size_t n)
{
    char *p = canto_arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *canto_arena_strdup(struct canto_arena *a, const char *s)
{
    return canto_arena_strndup(a, s, strlen(s));
}

void canto_arena_free(struct canto_arena *a)
{
    struct canto_arena_block *b = a->head;
    while (b) {
        struct canto_arena_block *next = b->next;
        free(b);
        b = next;
    }
    canto_arena_init(a);
}
