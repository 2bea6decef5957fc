/*
 * dataform.h: the few XEP-0004 data form helpers that in-band registration
 * (register.c) and the user directory (directory.c) share: reading the
 * fields of a submitted form, and writing forms whose fields mirror the
 * legacy elements of jabber:iq:register and jabber:iq:search (XEP-0068
 * FORM_TYPE first, as those XEPs ask).
 */
#ifndef CANTO_MODULES_DATAFORM_H
#define CANTO_MODULES_DATAFORM_H

#include "canto/xml.h"

#define CANTO_NS_XDATA "jabber:x:data"

/* The submitted form among parent's children (<x xmlns='jabber:x:data'
 * type='submit'/>), or NULL. */
struct canto_xml_node *canto_dataform_submitted(const struct canto_xml_node *parent);
/* The <field/> element var of form, or NULL. */
struct canto_xml_node *canto_dataform_field_node(const struct canto_xml_node *form,
                                                 const char *var);
/* The first <value/> of the field var in form, as text in st's arena: ""
 * for a field without a value, NULL when the form has no such field. */
const char *canto_dataform_value(struct canto_stanza *st, const struct canto_xml_node *form,
                                 const char *var);
/* Append <x xmlns='jabber:x:data' type=type> to parent with a title and
 * instructions (either may be NULL) and the hidden FORM_TYPE field; returns
 * the form. */
struct canto_xml_node *canto_dataform_new(struct canto_stanza *st, struct canto_xml_node *parent,
                                          const char *type, const char *form_type,
                                          const char *title, const char *instructions);
/* Append a field (type, label and value may be NULL; value NULL writes no
 * <value/>) to form, which may also be a <reported/> or <item/> element;
 * returns it. */
struct canto_xml_node *canto_dataform_field(struct canto_stanza *st, struct canto_xml_node *form,
                                            const char *type, const char *var,
                                            const char *label, const char *value,
                                            bool required);

#endif
