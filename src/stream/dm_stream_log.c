/*
 * doorman: the stream access log.
 *
 *   log_format NAME [escape=default|json|none] STRING ...;   (stream)
 *   access_log PATH [FORMAT] [buffer=SIZE] [flush=TIME] [if=COND]
 *            | syslog:server=... [FORMAT] [if=COND] | off;  (stream, server)
 *
 * One line per session and access_log of its server, written in the LOG
 * phase (when the session is finalized). The predefined format `basic` is
 * the default. The directives and the writer are shared with http
 * (src/core/dm_access_log*.c).
 */
#include <dm_core.h>
#include <dm_stream.h>
#include <dm_access_log.h>

static dm_int_t dm_stream_log_preconfiguration(dm_conf_t *cf);
static dm_int_t dm_stream_log_postconfiguration(dm_conf_t *cf);
static dm_int_t dm_stream_log_handler(void *obj);
static void dm_stream_log_exit_process(dm_cycle_t *cycle);

extern dm_module_t dm_stream_log_module;

static const dm_command_t dm_stream_log_commands[] = {
    {dm_string("log_format"), DM_STREAM_MAIN_CONF, DM_CONF_2MORE,
     dm_access_log_format_set, DM_CONF_LEVEL_MAIN, 0, &dm_stream_log_module},
    {dm_string("access_log"), DM_STREAM_MAIN_CONF | DM_STREAM_SRV_CONF,
     DM_CONF_1MORE, dm_access_log_set, DM_CONF_LEVEL_SRV, 0,
     &dm_stream_log_module},
    dm_null_command,
};

dm_module_t dm_stream_log_module = {
    .name = "stream_log",
    .type = DM_MODULE_STREAM,
    .commands = dm_stream_log_commands,
    .create_main_conf = dm_access_log_create_main_conf,
    .create_srv_conf = dm_access_log_create_conf,
    .merge_srv_conf = dm_access_log_merge_conf,
    .preconfiguration = dm_stream_log_preconfiguration,
    .postconfiguration = dm_stream_log_postconfiguration,
    .exit_process = dm_stream_log_exit_process,
};

/* The predefined stream format. */
static const char *const dm_stream_log_basic[] = {
    "$remote_addr [$time_local] $protocol $status $bytes_sent "
    "$bytes_received $session_time",
    NULL,
};

static dm_int_t
dm_stream_log_preconfiguration(dm_conf_t *cf)
{
    dm_stream_core_main_conf_t *cmcf =
        dm_stream_conf_get_main(cf->ctx, dm_stream_core_module);
    dm_access_log_main_conf_t *lmcf =
        dm_stream_conf_get_main(cf->ctx, dm_stream_log_module);

    return dm_access_log_main_init(cf, lmcf, &cmcf->variables, "basic",
                                   dm_stream_log_basic);
}

static dm_int_t
dm_stream_log_postconfiguration(dm_conf_t *cf)
{
    dm_stream_core_main_conf_t *cmcf =
        dm_stream_conf_get_main(cf->ctx, dm_stream_core_module);

    return dm_phase_add(&cmcf->phases, DM_STREAM_LOG_PHASE,
                        dm_stream_log_handler);
}

/* LOG: one line per access_log of the session's server. */
static dm_int_t
dm_stream_log_handler(void *obj)
{
    dm_stream_session_t *s = obj;

    dm_access_log_write(&s->vars,
                        dm_stream_session_srv_conf(s, dm_stream_log_module));
    return DM_OK;
}

static void
dm_stream_log_exit_process(dm_cycle_t *cycle)
{
    dm_access_log_exit(cycle);
}
