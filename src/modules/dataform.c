/*
 * dataform.c: XEP-0004 data form helpers for the modules (dataform.h).
 * Reading is lenient in what a form may carry besides the fields asked for
 * (titles, instructions, unknown fields are ignored); writing produces the
 * field order the XEP examples show.
 */
#include <string.h>

#include "modules/dataform.h"

struct canto_xml_node *canto_dataform_submitted(const struct canto_xml_node *parent)
{
    for (struct canto_xml_node *n = canto_xml_first_element(parent); n;
         n = canto_xml_next_element(n)) {
        const char *type = canto_xml_attr(n, "type");
        if (strcmp(n->name, "x") == 0 && strcmp(n->ns, CANTO_NS_XDATA) == 0 && type &&
            strcmp(type, "submit") == 0)
            return n;
    }
    return NULL;
}

struct canto_xml_node *canto_dataform_field_node(const struct canto_xml_node *form,
                                                 const char *var)
{
    for (struct canto_xml_node *f = canto_xml_first_element(form); f;
         f = canto_xml_next_element(f)) {
        const char *v = canto_xml_attr(f, "var");
        if (strcmp(f->name, "field") == 0 && strcmp(f->ns, CANTO_NS_XDATA) == 0 && v &&
            strcmp(v, var) == 0)
            return f;
    }
    return NULL;
}

const char *canto_dataform_value(struct canto_stanza *st, const struct canto_xml_node *form,
                                 const char *var)
{
    struct canto_xml_node *f = canto_dataform_field_node(form, var);
    if (!f)
        return NULL;
    struct canto_xml_node *value = canto_xml_child(f, "value", CANTO_NS_XDATA);
    return value ? canto_xml_text(st, value) : "";
}

/* A child element with text (text may be NULL: an empty element). */
struct canto_xml_node *canto_dataform_new(struct canto_stanza *st, struct canto_xml_node *parent,
                                          const char *type, const char *form_type,
                                          const char *title, const char *instructions)
{
    struct canto_xml_node *x = canto_xml_add_child(st, parent, "x", CANTO_NS_XDATA);
    canto_xml_set_attr(st, x, "type", type);
    if (title)
        canto_xml_add_text_child(st, x, "title", title);
    if (instructions)
        canto_xml_add_text_child(st, x, "instructions", instructions);
    canto_dataform_field(st, x, "hidden", "FORM_TYPE", NULL, form_type, false);
    return x;
}

struct canto_xml_node *canto_dataform_field(struct canto_stanza *st, struct canto_xml_node *form,
                                            const char *type, const char *var,
                                            const char *label, const char *value,
                                            bool required)
{
    struct canto_xml_node *f = canto_xml_add_child(st, form, "field", NULL);
    if (type)
        canto_xml_set_attr(st, f, "type", type);
    canto_xml_set_attr(st, f, "var", var);
    if (label)
        canto_xml_set_attr(st, f, "label", label);
    if (value)
        canto_xml_add_text_child(st, f, "value", value);
    if (required)
        canto_xml_add_child(st, f, "required", NULL);
    return f;
}
