/*
 * builtin.c: the list of modules compiled into cantod, in load order.
 * Adding a feature is adding its file and one line here.
 */
#include "canto/module.h"

extern const struct canto_module canto_mod_disco;
extern const struct canto_module canto_mod_ping;
extern const struct canto_module canto_mod_version;
extern const struct canto_module canto_mod_time;
extern const struct canto_module canto_mod_contacts;
extern const struct canto_module canto_mod_roster;
extern const struct canto_module canto_mod_subscription;
extern const struct canto_module canto_mod_presence;
extern const struct canto_module canto_mod_blocking;
extern const struct canto_module canto_mod_invisible;
extern const struct canto_module canto_mod_lastactivity;
extern const struct canto_module canto_mod_offline;
extern const struct canto_module canto_mod_vcard;
extern const struct canto_module canto_mod_private;
extern const struct canto_module canto_mod_register;
extern const struct canto_module canto_mod_directory;

const struct canto_module *const canto_builtin_modules[] = {
    &canto_mod_disco,
    &canto_mod_ping,
    &canto_mod_version,
    &canto_mod_time,
    &canto_mod_contacts,
    &canto_mod_roster,
    &canto_mod_subscription,
    &canto_mod_presence,
    &canto_mod_blocking,
    &canto_mod_invisible,
    &canto_mod_lastactivity,
    &canto_mod_offline,
    &canto_mod_vcard,
    &canto_mod_private,
    &canto_mod_register,
    &canto_mod_directory,
    NULL,
};
