/*
 * tree.h: tree-building helpers shared by the files of src/xml only.
 *
 * The public builder in xml.h copies every string it is given, which is right
 * for code that builds a reply but wasteful for the parser: expat hands us
 * "uri<sep>local" for every element, and a stanza whose children all sit in
 * one long namespace would otherwise pay for a copy of that URI per child, so
 * a small stanza could cost many times its size in memory. Here strings are
 * interned per stanza instead: each distinct name or namespace is stored once
 * in the stanza arena, and nodes are made from strings the arena owns already.
 *
 * The intern table is an open-addressing set with a seeded hash and a bounded
 * probe: a string that cannot be placed within a few slots is simply copied,
 * so hostile input can neither make lookups quadratic nor grow the table
 * beyond a constant factor of the strings it indexes.
 */
#ifndef CANTO_XML_TREE_H
#define CANTO_XML_TREE_H

#include "canto/xml.h"

struct canto__xml_strtab_slot;

struct canto__xml_strtab {
    struct canto__xml_strtab_slot *slots; /* NULL until the first insert */
    size_t cap;                           /* slots allocated, 0 or a power of two */
    size_t count;                         /* slots in use */
    uint64_t seed;                        /* hash seed, chosen by the owner */
};

/* An empty table hashing with seed (choose it unpredictably when the strings
 * come from the network). Nothing is allocated yet. */
void canto__xml_strtab_init(struct canto__xml_strtab *t, uint64_t seed);
/* The arena copy of s[0..len) (NUL-terminated): an existing one if the table
 * knows it, else a new copy in a that is remembered. The table only points
 * into a, so clear it whenever a is freed. */
const char *canto__xml_intern(struct canto__xml_strtab *t, struct canto_arena *a, const char *s,
                              size_t len);
/* Forget every string and release the slots (the table stays usable). */
void canto__xml_strtab_free(struct canto__xml_strtab *t);

/* A new element appended under parent (or made st->root when parent is NULL)
 * whose name and ns are used as given: they must live in st's arena already
 * (or be static). ns must not be NULL. */
struct canto_xml_node *canto__xml_element(struct canto_stanza *st, struct canto_xml_node *parent,
                                          const char *name, const char *ns);
/* A new text node under parent holding text[0..len) (copied into the arena). */
struct canto_xml_node *canto__xml_text(struct canto_stanza *st, struct canto_xml_node *parent,
                                       const char *text, size_t len);
/* A new unlinked attribute (next NULL) whose strings are used as given; the
 * caller links it, which lets the parser and the copier keep document order
 * in O(1) per attribute. ns is NULL for an un-namespaced attribute. */
struct canto_xml_attr *canto__xml_attr_new(struct canto_stanza *st, const char *ns,
                                           const char *name, const char *value);

#endif
