/*
 * doorman: split_clients in the http block.
 *
 *   split_clients "${remote_addr}AAA" $variant {
 *       0.5%  a;
 *       5%    b;
 *       *     c;
 *   }
 *
 * The directive is read and the variable computed by the engine-neutral
 * code (src/core/dm_split_clients.c); this module only places the
 * directive in http's main level and hands over http's variables.
 */
#include <dm_core.h>
#include <dm_split_clients.h>
#include <dm_http_conf.h>

static char *dm_http_split_clients(dm_conf_t *cf, const dm_command_t *cmd,
                                   void *conf);

static const dm_command_t dm_http_split_clients_commands[] = {
    {dm_string("split_clients"), DM_HTTP_MAIN_CONF,
     DM_CONF_BLOCK | DM_CONF_TAKE2, dm_http_split_clients, DM_CONF_LEVEL_MAIN,
     0, NULL},
    dm_null_command,
};

dm_module_t dm_http_split_clients_module = {
    .name = "http_split_clients",
    .type = DM_MODULE_HTTP,
    .commands = dm_http_split_clients_commands,
};

static char *
dm_http_split_clients(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_http_core_main_conf_t *cmcf =
        dm_http_conf_get_main(cf->ctx, dm_http_core_module);

    return dm_split_clients_block(cf, &cmcf->variables);
}
