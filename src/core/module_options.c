/*
 * module_options.c: how a module reads the config keys it declared
 * (canto_module.options, module.h). The loader (config.c) has already
 * checked every value and resolved it for each host; these only look up
 * the module's own key for the host its instance runs on.
 */
#include "canto/config.h"
#include "canto/module.h"
#include "canto/server.h"

static const struct canto_option_value *value_of(const struct canto_module_inst *mi,
                                                 const char *key)
{
    return canto_config_option(mi->host->server->cfg, mi->host->name, mi->module, key);
}

long canto_module_option_int(const struct canto_module_inst *mi, const char *key)
{
    return value_of(mi, key)->num;
}

bool canto_module_option_bool(const struct canto_module_inst *mi, const char *key)
{
    return value_of(mi, key)->num != 0;
}

const char *canto_module_option_str(const struct canto_module_inst *mi, const char *key)
{
    return value_of(mi, key)->str;
}
