/*
 * doorman: the http access log.
 *
 *   log_format NAME [escape=default|json|none] STRING ...;        (http)
 *   access_log PATH [FORMAT] [buffer=SIZE] [flush=TIME] [if=COND]
 *            | syslog:server=... [FORMAT] [if=COND] | off;
 *                                            (http, server, location)
 *
 * The directives are read, checked, inherited (a level that sets any
 * replaces its parent's list) and their files opened now; the HTTP
 * engine's LOG phase calls dm_http_log_write for each request. The
 * predefined format `combined` is nginx's; it is compiled when an
 * access_log first uses it (the default format), and its request
 * variables ($remote_user, $request, ...) come with the HTTP engine.
 */
#include <dm_core.h>
#include <dm_http_conf.h>
#include <dm_http_log.h>
#include <dm_access_log.h>

static dm_int_t dm_http_log_preconfiguration(dm_conf_t *cf);
static void dm_http_log_exit_process(dm_cycle_t *cycle);

static const dm_command_t dm_http_log_commands[] = {
    {dm_string("log_format"), DM_HTTP_MAIN_CONF, DM_CONF_2MORE,
     dm_access_log_format_set, DM_CONF_LEVEL_MAIN, 0, &dm_http_log_module},
    {dm_string("access_log"),
     DM_HTTP_MAIN_CONF | DM_HTTP_SRV_CONF | DM_HTTP_LOC_CONF, DM_CONF_1MORE,
     dm_access_log_set, DM_CONF_LEVEL_LOC, 0, &dm_http_log_module},
    dm_null_command,
};

dm_module_t dm_http_log_module = {
    .name = "http_log",
    .type = DM_MODULE_HTTP,
    .commands = dm_http_log_commands,
    .create_main_conf = dm_access_log_create_main_conf,
    .create_loc_conf = dm_access_log_create_conf,
    .merge_loc_conf = dm_access_log_merge_conf,
    .preconfiguration = dm_http_log_preconfiguration,
    .exit_process = dm_http_log_exit_process,
};

/* nginx's predefined format. */
static const char *const dm_http_log_combined[] = {
    "$remote_addr - $remote_user [$time_local] \"$request\" $status "
    "$body_bytes_sent \"$http_referer\" \"$http_user_agent\"",
    NULL,
};

static dm_int_t
dm_http_log_preconfiguration(dm_conf_t *cf)
{
    dm_http_core_main_conf_t *cmcf =
        dm_http_conf_get_main(cf->ctx, dm_http_core_module);
    dm_access_log_main_conf_t *lmcf =
        dm_http_conf_get_main(cf->ctx, dm_http_log_module);

    return dm_access_log_main_init(cf, lmcf, &cmcf->variables, "combined",
                                   dm_http_log_combined);
}

void
dm_http_log_write(dm_variable_env_t *env, void **loc_conf)
{
    dm_access_log_write(env, loc_conf[dm_http_log_module.ctx_index]);
}

static void
dm_http_log_exit_process(dm_cycle_t *cycle)
{
    dm_access_log_exit(cycle);
}
