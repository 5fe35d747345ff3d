/*
 * doorman: the health_check module's descriptor.
 *
 * The module is compiled in by default (modules/health_check/config); its
 * directives and handlers arrive with the issue that builds it. Until then
 * it only shows in `doorman -V`.
 */
#include <dm_core.h>

dm_module_t dm_health_check_module = {
    .name = "health_check",
    .type = DM_MODULE_CORE,
};
