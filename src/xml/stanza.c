/*
 * stanza.c: stanza trees: lifetime, building, reading and deep copies.
 *
 * A stanza owns one arena that holds every node, attribute and string of its
 * tree; the stanza itself is a small malloc'd header with a reference count,
 * so a stanza routed to several sessions is shared, never copied, and freed in
 * one go when the last holder lets go. Nothing in a tree is freed on its own:
 * removing a node only unlinks it, and its memory dies with the arena.
 *
 * Names and namespaces are interned per stanza by the parser and the copier
 * (see tree.h), so several nodes may point to the same string; every string in
 * a tree is therefore read-only. The builder functions below copy what they are
 * given, except that a namespace equal to the parent's reuses the parent's.
 *
 * The reference count is updated atomically so that a stanza may be shared by
 * several worker threads at once; the tree itself is not locked, so a shared
 * stanza must be treated as read-only (canto_stanza_copy it to change it).
 */
#include "canto/xml.h"

#include <stdlib.h>
#include <string.h>

#include "xml/tree.h"

/* --- the intern table ------------------------------------------------------ */

#define STRTAB_FIRST_CAP 32
#define STRTAB_MAX_PROBE 16

struct canto__xml_strtab_slot {
    const char *s; /* arena string, NULL when the slot is free */
    size_t len;    /* its length */
    uint64_t hash; /* its full hash, to skip most comparisons */
};

/* A seeded 64-bit hash, word at a time with a strong final mix. It is not a
 * cryptographic hash; the bounded probe in canto__xml_intern is what keeps
 * crafted collisions harmless, the seed only makes them hard to aim. */
static uint64_t hash_bytes(const char *s, size_t n, uint64_t seed)
{
    uint64_t h = seed ^ ((uint64_t)n * 0x9e3779b97f4a7c15u);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdu;
        h ^= h >> 32;
    }
    if (i < n) {
        uint64_t w = 0;
        memcpy(&w, s + i, n - i);
        h = (h ^ w) * 0xc4ceb9fe1a85ec53u;
        h ^= h >> 29;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdu;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53u;
    h ^= h >> 33;
    return h;
}

void canto__xml_strtab_init(struct canto__xml_strtab *t, uint64_t seed)
{
    t->slots = NULL;
    t->cap = 0;
    t->count = 0;
    t->seed = seed;
}

void canto__xml_strtab_free(struct canto__xml_strtab *t)
{
    canto_free_null(&t->slots);
    t->cap = 0;
    t->count = 0;
}

/* Place an entry known to be absent; false if its probe window is full. */
static bool strtab_place(struct canto__xml_strtab *t, const char *s, size_t len, uint64_t hash)
{
    size_t mask = t->cap - 1;
    for (size_t i = 0; i < STRTAB_MAX_PROBE; i++) {
        struct canto__xml_strtab_slot *slot = &t->slots[(hash + i) & mask];
        if (!slot->s) {
            slot->s = s;
            slot->len = len;
            slot->hash = hash;
            t->count++;
            return true;
        }
    }
    return false;
}

/* Double the table (or create it). Entries that no longer fit their probe
 * window are dropped: they stay valid in the arena, only unshared. */
static void strtab_grow(struct canto__xml_strtab *t)
{
    struct canto__xml_strtab_slot *old = t->slots;
    size_t old_cap = t->cap;
    t->cap = old_cap ? old_cap * 2 : STRTAB_FIRST_CAP;
    t->slots = canto_xcalloc(t->cap, sizeof(*t->slots));
    t->count = 0;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].s)
            strtab_place(t, old[i].s, old[i].len, old[i].hash);
    }
    free(old);
}

const char *canto__xml_intern(struct canto__xml_strtab *t, struct canto_arena *a, const char *s,
                              size_t len)
{
    uint64_t hash = hash_bytes(s, len, t->seed);
    if (t->cap) {
        size_t mask = t->cap - 1;
        for (size_t i = 0; i < STRTAB_MAX_PROBE; i++) {
            const struct canto__xml_strtab_slot *slot = &t->slots[(hash + i) & mask];
            if (!slot->s)
                break;
            if (slot->hash == hash && slot->len == len && memcmp(slot->s, s, len) == 0)
                return slot->s;
        }
    }
    char *copy = canto_arena_strndup(a, s, len);
    if ((t->count + 1) * 2 > t->cap)
        strtab_grow(t);
    strtab_place(t, copy, len, hash);
    return copy;
}

/* --- lifetime --------------------------------------------------------------- */

struct canto_stanza *canto_stanza_new(void)
{
    struct canto_stanza *st = canto_xcalloc(1, sizeof(*st));
    st->refs = 1;
    canto_arena_init(&st->arena);
    st->root = NULL;
    return st;
}

struct canto_stanza *canto_stanza_new_root(const char *name, const char *ns)
{
    struct canto_stanza *st = canto_stanza_new();
    canto_xml_add_child(st, NULL, name, ns);
    return st;
}

struct canto_stanza *canto_stanza_ref(struct canto_stanza *st)
{
    __atomic_add_fetch(&st->refs, 1, __ATOMIC_RELAXED);
    return st;
}

void canto_stanza_unref(struct canto_stanza *st)
{
    if (!st)
        return;
    if (__atomic_sub_fetch(&st->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    free(st->bytes);
    canto_arena_free(&st->arena);
    free(st);
}

/* st is about to change: its serialisation is no longer its own. */
static void changed(struct canto_stanza *st)
{
    canto_free_null(&st->bytes);
    st->scratch = NULL;
}

/* --- building --------------------------------------------------------------- */

/* NULL and "" both mean "no namespace". */
static bool ns_equal(const char *a, const char *b)
{
    if (!a)
        a = "";
    if (!b)
        b = "";
    return a == b || strcmp(a, b) == 0;
}

static void append_node(struct canto_xml_node *parent, struct canto_xml_node *n)
{
    n->parent = parent;
    if (parent->last_child)
        parent->last_child->next = n;
    else
        parent->children = n;
    parent->last_child = n;
}

struct canto_xml_node *canto__xml_element(struct canto_stanza *st, struct canto_xml_node *parent,
                                          const char *name, const char *ns)
{
    struct canto_xml_node *n = canto_arena_calloc(&st->arena, sizeof(*n));
    n->kind = CANTO_XML_ELEMENT;
    n->name = name;
    n->ns = ns;
    if (parent)
        append_node(parent, n);
    else
        st->root = n;
    return n;
}

struct canto_xml_node *canto__xml_text(struct canto_stanza *st, struct canto_xml_node *parent,
                                       const char *text, size_t len)
{
    struct canto_xml_node *n = canto_arena_calloc(&st->arena, sizeof(*n));
    n->kind = CANTO_XML_TEXT;
    n->text = canto_arena_strndup(&st->arena, text, len);
    n->text_len = len;
    if (parent)
        append_node(parent, n);
    return n;
}

struct canto_xml_attr *canto__xml_attr_new(struct canto_stanza *st, const char *ns,
                                           const char *name, const char *value)
{
    struct canto_xml_attr *at = canto_arena_alloc(&st->arena, sizeof(*at));
    at->name = name;
    at->ns = ns;
    at->value = value;
    at->next = NULL;
    return at;
}

struct canto_xml_node *canto_xml_add_child(struct canto_stanza *st, struct canto_xml_node *parent,
                                           const char *name, const char *ns)
{
    changed(st);
    const char *ns_copy;
    if (!ns)
        ns_copy = parent ? parent->ns : "";
    else if (parent && ns_equal(ns, parent->ns))
        ns_copy = parent->ns;
    else
        ns_copy = canto_arena_strdup(&st->arena, ns);
    return canto__xml_element(st, parent, canto_arena_strdup(&st->arena, name), ns_copy);
}

struct canto_xml_node *canto_xml_add_text(struct canto_stanza *st, struct canto_xml_node *parent,
                                          const char *text, size_t len)
{
    changed(st);
    return canto__xml_text(st, parent, text, len);
}

struct canto_xml_node *canto_xml_add_text_child(struct canto_stanza *st,
                                                struct canto_xml_node *parent, const char *name,
                                                const char *text)
{
    struct canto_xml_node *n = canto_xml_add_child(st, parent, name, NULL);
    if (text && *text)
        canto_xml_add_text(st, n, text, strlen(text));
    return n;
}

void canto_xml_set_attr(struct canto_stanza *st, struct canto_xml_node *node, const char *name,
                        const char *value)
{
    canto_xml_set_attr_ns(st, node, NULL, name, value);
}

/* Replace in place so that attribute order (and so the serialization) stays
 * stable; removal unlinks, addition goes at the end. */
void canto_xml_set_attr_ns(struct canto_stanza *st, struct canto_xml_node *node, const char *ns,
                           const char *name, const char *value)
{
    changed(st);
    struct canto_xml_attr **link = &node->attrs;
    while (*link) {
        struct canto_xml_attr *at = *link;
        if (strcmp(at->name, name) == 0 && ns_equal(at->ns, ns)) {
            if (value)
                at->value = canto_arena_strdup(&st->arena, value);
            else
                *link = at->next;
            return;
        }
        link = &at->next;
    }
    if (!value)
        return;
    const char *ns_copy = (ns && *ns) ? canto_arena_strdup(&st->arena, ns) : NULL;
    *link = canto__xml_attr_new(st, ns_copy, canto_arena_strdup(&st->arena, name),
                                canto_arena_strdup(&st->arena, value));
}

/* Children are singly linked, so unlinking walks the siblings: O(siblings),
 * which is fine for the rare edits stanzas get. */
void canto_xml_remove(struct canto_stanza *st, struct canto_xml_node *node)
{
    changed(st);
    struct canto_xml_node *parent = node->parent;
    if (!parent)
        return;
    struct canto_xml_node *prev = NULL;
    for (struct canto_xml_node *c = parent->children; c; prev = c, c = c->next) {
        if (c != node)
            continue;
        if (prev)
            prev->next = c->next;
        else
            parent->children = c->next;
        if (parent->last_child == c)
            parent->last_child = prev;
        break;
    }
    node->parent = NULL;
    node->next = NULL;
}

/* --- copying ---------------------------------------------------------------- */

/* Copy one node (not its children) under dst_parent, interning names. */
static struct canto_xml_node *copy_node(struct canto_stanza *st, struct canto_xml_node *dst_parent,
                                        const struct canto_xml_node *src,
                                        struct canto__xml_strtab *tab)
{
    if (src->kind == CANTO_XML_TEXT) {
        struct canto_xml_node *t = canto__xml_text(st, dst_parent, src->text, src->text_len);
        if (!dst_parent && !st->root)
            st->root = t;
        return t;
    }
    const char *src_ns = src->ns ? src->ns : "";
    const char *ns;
    if (dst_parent && ns_equal(src_ns, dst_parent->ns))
        ns = dst_parent->ns;
    else
        ns = canto__xml_intern(tab, &st->arena, src_ns, strlen(src_ns));
    struct canto_xml_node *d =
        canto__xml_element(st, dst_parent, canto__xml_intern(tab, &st->arena, src->name,
                                                             strlen(src->name)), ns);
    struct canto_xml_attr **tail = &d->attrs;
    for (const struct canto_xml_attr *a = src->attrs; a; a = a->next) {
        const char *ans = (a->ns && *a->ns) ? canto__xml_intern(tab, &st->arena, a->ns,
                                                                strlen(a->ns))
                                            : NULL;
        *tail = canto__xml_attr_new(st, ans, canto__xml_intern(tab, &st->arena, a->name,
                                                               strlen(a->name)),
                                    canto_arena_strdup(&st->arena, a->value));
        tail = &(*tail)->next;
    }
    return d;
}

/* Iterative deep copy of src under dst_parent (NULL: as st's root). Trees
 * built by code have no depth limit, so no recursion: the walk follows
 * parent links in the source and mirrors them in the copy. */
static struct canto_xml_node *copy_tree(struct canto_stanza *st, struct canto_xml_node *dst_parent,
                                        const struct canto_xml_node *src)
{
    struct canto__xml_strtab tab;
    canto__xml_strtab_init(&tab, (uint64_t)(uintptr_t)st * 0x9e3779b97f4a7c15u);
    const struct canto_xml_node *s = src;
    struct canto_xml_node *d_parent = dst_parent; /* copy of s->parent */
    struct canto_xml_node *top = NULL;
    for (;;) {
        struct canto_xml_node *d = copy_node(st, d_parent, s, &tab);
        if (!top)
            top = d;
        if (s->kind == CANTO_XML_ELEMENT && s->children) {
            s = s->children;
            d_parent = d;
            continue;
        }
        while (s != src && !s->next) {
            s = s->parent;
            d_parent = d_parent->parent;
        }
        if (s == src)
            break;
        s = s->next;
    }
    canto__xml_strtab_free(&tab);
    return top;
}

struct canto_stanza *canto_stanza_copy(const struct canto_stanza *st)
{
    struct canto_stanza *cp = canto_stanza_new();
    if (st->root)
        copy_tree(cp, NULL, st->root);
    return cp;
}

struct canto_xml_node *canto_xml_add_copy(struct canto_stanza *st, struct canto_xml_node *parent,
                                          const struct canto_xml_node *node)
{
    changed(st);
    return copy_tree(st, parent, node);
}

/* --- reading ---------------------------------------------------------------- */

const char *canto_xml_attr(const struct canto_xml_node *node, const char *name)
{
    return canto_xml_attr_ns(node, NULL, name);
}

const char *canto_xml_attr_ns(const struct canto_xml_node *node, const char *ns, const char *name)
{
    if (!node)
        return NULL;
    for (const struct canto_xml_attr *a = node->attrs; a; a = a->next) {
        if (strcmp(a->name, name) == 0 && ns_equal(a->ns, ns))
            return a->value;
    }
    return NULL;
}

struct canto_xml_node *canto_xml_child(const struct canto_xml_node *node, const char *name,
                                       const char *ns)
{
    if (!node)
        return NULL;
    for (struct canto_xml_node *c = node->children; c; c = c->next) {
        if (c->kind != CANTO_XML_ELEMENT)
            continue;
        if (name && strcmp(c->name, name) != 0)
            continue;
        if (ns && !ns_equal(c->ns, ns))
            continue;
        return c;
    }
    return NULL;
}

struct canto_xml_node *canto_xml_first_element(const struct canto_xml_node *node)
{
    return canto_xml_child(node, NULL, NULL);
}

struct canto_xml_node *canto_xml_next_element(const struct canto_xml_node *node)
{
    if (!node)
        return NULL;
    for (struct canto_xml_node *c = node->next; c; c = c->next) {
        if (c->kind == CANTO_XML_ELEMENT)
            return c;
    }
    return NULL;
}

/* The parser merges adjacent text, so the usual case is a single text child,
 * returned as is; only built trees with several text children pay a copy. */
const char *canto_xml_text(struct canto_stanza *st, const struct canto_xml_node *node)
{
    if (!node)
        return "";
    if (node->kind == CANTO_XML_TEXT)
        return node->text;
    const struct canto_xml_node *only = NULL;
    size_t total = 0, count = 0;
    for (const struct canto_xml_node *c = node->children; c; c = c->next) {
        if (c->kind != CANTO_XML_TEXT)
            continue;
        only = c;
        total += c->text_len;
        count++;
    }
    if (count == 0)
        return "";
    if (count == 1)
        return only->text;
    char *out = canto_arena_alloc(&st->arena, total + 1);
    size_t off = 0;
    for (const struct canto_xml_node *c = node->children; c; c = c->next) {
        if (c->kind != CANTO_XML_TEXT)
            continue;
        memcpy(out + off, c->text, c->text_len);
        off += c->text_len;
    }
    out[off] = '\0';
    return out;
}
