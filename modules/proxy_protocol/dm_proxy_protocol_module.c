/*
 * doorman: the proxy_protocol module's descriptor.
 *
 * The module is compiled in by default (modules/proxy_protocol/config); its
 * directives and handlers arrive with the issue that builds it. Until then
 * it only shows in `doorman -V`.
 */
#include <dm_core.h>

dm_module_t dm_proxy_protocol_module = {
    .name = "proxy_protocol",
    .type = DM_MODULE_CORE,
};
