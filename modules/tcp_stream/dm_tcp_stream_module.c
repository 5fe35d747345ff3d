/*
 * doorman: the tcp_stream module's descriptor.
 *
 * The module is compiled in by default (modules/tcp_stream/config); its
 * directives and handlers arrive with the issue that builds it. Until then
 * it only shows in `doorman -V`.
 */
#include <dm_core.h>

dm_module_t dm_tcp_stream_module = {
    .name = "tcp_stream",
    .type = DM_MODULE_STREAM,
};
