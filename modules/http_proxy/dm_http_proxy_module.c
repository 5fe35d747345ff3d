/*
 * doorman: the http_proxy module's descriptor.
 *
 * The module is compiled in by default (modules/http_proxy/config); its
 * directives and handlers arrive with the issue that builds it. Until then
 * it only shows in `doorman -V`.
 */
#include <dm_core.h>

dm_module_t dm_http_proxy_module = {
    .name = "http_proxy",
    .type = DM_MODULE_HTTP,
};
