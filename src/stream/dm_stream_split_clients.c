/*
 * doorman: split_clients in the stream block.
 *
 *   split_clients "$remote_addr" $pool {
 *       20%  canary;
 *       *    main;
 *   }
 *
 * The directive is read and the variable computed by the engine-neutral
 * code (src/core/dm_split_clients.c); this module only places the
 * directive in stream's main level and hands over stream's variables.
 */
#include <dm_core.h>
#include <dm_split_clients.h>
#include <dm_stream_conf.h>

static char *dm_stream_split_clients(dm_conf_t *cf, const dm_command_t *cmd,
                                     void *conf);

static const dm_command_t dm_stream_split_clients_commands[] = {
    {dm_string("split_clients"), DM_STREAM_MAIN_CONF,
     DM_CONF_BLOCK | DM_CONF_TAKE2, dm_stream_split_clients, DM_CONF_LEVEL_MAIN,
     0, NULL},
    dm_null_command,
};

dm_module_t dm_stream_split_clients_module = {
    .name = "stream_split_clients",
    .type = DM_MODULE_STREAM,
    .commands = dm_stream_split_clients_commands,
};

static char *
dm_stream_split_clients(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_stream_core_main_conf_t *cmcf =
        dm_stream_conf_get_main(cf->ctx, dm_stream_core_module);

    return dm_split_clients_block(cf, &cmcf->variables);
}
