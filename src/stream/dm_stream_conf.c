/*
 * doorman: the stream { } block and its server { } blocks.
 *
 * The block is parsed in three steps, as nginx's engines are: create every
 * stream module's structures (main, and srv for the main-level defaults),
 * parse, then let each server inherit what it did not set (merge) and let
 * modules register their phase handlers (postconfiguration).
 */
#include <dm_core.h>
#include <dm_event.h>
#include <dm_stream.h>
#include <dm_stream_listen.h>

static void *dm_stream_create_conf(dm_conf_t *cf);
static char *dm_stream_block(dm_conf_t *cf, const dm_command_t *cmd,
                             void *conf);
static void *dm_stream_core_create_main_conf(dm_conf_t *cf);
static void *dm_stream_core_create_srv_conf(dm_conf_t *cf);
static char *dm_stream_core_server(dm_conf_t *cf, const dm_command_t *cmd,
                                   void *conf);
static dm_int_t dm_stream_core_postconfiguration(dm_conf_t *cf);
static dm_int_t dm_stream_core_content_phase(void *obj);
static char *dm_stream_core_finish(dm_conf_t *cf, dm_conf_ctx_t *ctx);
static char *dm_stream_block_hooks(dm_conf_t *cf, dm_conf_ctx_t *ctx);

static const dm_command_t dm_stream_commands[] = {
    {dm_string("stream"), DM_MAIN_CONF, DM_CONF_BLOCK | DM_CONF_NOARGS,
     dm_stream_block, DM_CONF_LEVEL_MAIN, 0, NULL},
    dm_null_command,
};

dm_module_t dm_stream_module = {
    .name = "stream",
    .type = DM_MODULE_CORE,
    .commands = dm_stream_commands,
    .create_main_conf = dm_stream_create_conf,
};

static const dm_command_t dm_stream_core_commands[] = {
    {dm_string("server"), DM_STREAM_MAIN_CONF, DM_CONF_BLOCK | DM_CONF_NOARGS,
     dm_stream_core_server, DM_CONF_LEVEL_MAIN, 0, NULL},
    {dm_string("listen"), DM_STREAM_SRV_CONF, DM_CONF_1MORE,
     dm_stream_listen_set, DM_CONF_LEVEL_SRV, 0, NULL},
    dm_null_command,
};

dm_module_t dm_stream_core_module = {
    .name = "stream_core",
    .type = DM_MODULE_STREAM,
    .commands = dm_stream_core_commands,
    .create_main_conf = dm_stream_core_create_main_conf,
    .create_srv_conf = dm_stream_core_create_srv_conf,
    .postconfiguration = dm_stream_core_postconfiguration,
};

static void *
dm_stream_create_conf(dm_conf_t *cf)
{
    return dm_pcalloc(cf->pool, sizeof(dm_stream_conf_t));
}

dm_conf_ctx_t *
dm_stream_conf_ctx(dm_cycle_t *cycle)
{
    dm_stream_conf_t *scf = dm_cycle_get_core_conf(cycle, dm_stream_module);

    return scf->ctx;
}

static char *
dm_stream_block(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_stream_conf_t *scf = conf;
    dm_conf_ctx_t *ctx, *saved;
    char *rv;

    if (scf->ctx) {
        return "is duplicate";
    }
    ctx = dm_pcalloc(cf->pool, sizeof(dm_conf_ctx_t));
    if (ctx == NULL) {
        return DM_CONF_ERROR;
    }
    scf->ctx = ctx;
    ctx->main_conf = dm_module_create_main_confs(cf, DM_MODULE_STREAM);
    ctx->srv_conf = dm_module_create_srv_confs(cf, DM_MODULE_STREAM);
    if (ctx->main_conf == NULL || ctx->srv_conf == NULL) {
        return DM_CONF_ERROR;
    }

    /* the hooks look at the block's context through cf->ctx */
    saved = cf->ctx;
    cf->ctx = ctx;
    rv = dm_stream_block_hooks(cf, ctx);
    cf->ctx = saved;
    return rv;
}

static char *
dm_stream_block_hooks(dm_conf_t *cf, dm_conf_ctx_t *ctx)
{
    dm_stream_core_main_conf_t *cmcf;
    dm_stream_core_srv_conf_t **servers;
    dm_uint_t i;

    if (dm_module_preconfiguration(cf, DM_MODULE_STREAM) != DM_OK) {
        return DM_CONF_ERROR;
    }
    if (dm_conf_parse_block(cf, ctx, DM_MODULE_STREAM, DM_STREAM_MAIN_CONF)
        != DM_CONF_OK) {
        return DM_CONF_ERROR;
    }
    if (dm_module_init_main_confs(cf, DM_MODULE_STREAM, ctx->main_conf)
        != DM_CONF_OK) {
        return DM_CONF_ERROR;
    }

    cmcf = dm_stream_conf_get_main(ctx, dm_stream_core_module);
    servers = cmcf->servers.elts;
    for (i = 0; i < cmcf->servers.nelts; i++) {
        if (dm_module_merge_srv_confs(cf, DM_MODULE_STREAM, ctx->srv_conf,
                                      servers[i]->ctx->srv_conf)
            != DM_CONF_OK) {
            return DM_CONF_ERROR;
        }
    }

    /* the block's context is in place: handlers may look at it */
    if (dm_module_postconfiguration(cf, DM_MODULE_STREAM) != DM_OK) {
        return DM_CONF_ERROR;
    }
    return dm_stream_core_finish(cf, ctx);
}

/*
 * After every module registered its handlers: each server must have
 * content, the pipeline is flattened, and the listen lines become
 * sockets.
 */
static char *
dm_stream_core_finish(dm_conf_t *cf, dm_conf_ctx_t *ctx)
{
    dm_stream_core_main_conf_t *cmcf;
    dm_stream_core_srv_conf_t **servers;
    dm_uint_t i;

    cmcf = dm_stream_conf_get_main(ctx, dm_stream_core_module);
    servers = cmcf->servers.elts;
    for (i = 0; i < cmcf->servers.nelts; i++) {
        if (servers[i]->handler == NULL) {
            dm_log_error(DM_LOG_EMERG, cf->log, 0,
                         "no handler for server (add \"proxy_pass\" or "
                         "\"return\") in %.*s:%lu",
                         DM_STR_ARG(servers[i]->file),
                         (unsigned long) servers[i]->line);
            return DM_CONF_ERROR;
        }
    }
    if (dm_variable_finalize(cf, &cmcf->variables) != DM_OK
        || dm_phase_flatten(&cmcf->phases, cf->pool) != DM_OK) {
        return DM_CONF_ERROR;
    }
    return dm_stream_listen_init(cf, cmcf);
}

static dm_int_t
dm_stream_core_postconfiguration(dm_conf_t *cf)
{
    dm_stream_core_main_conf_t *cmcf =
        dm_stream_conf_get_main(cf->ctx, dm_stream_core_module);

    return dm_phase_add(&cmcf->phases, DM_STREAM_CONTENT_PHASE,
                        dm_stream_core_content_phase);
}

/* CONTENT: hand the session to its server's content handler. */
static dm_int_t
dm_stream_core_content_phase(void *obj)
{
    dm_stream_session_t *s = obj;
    dm_stream_core_srv_conf_t *cscf =
        dm_stream_session_srv_conf(s, dm_stream_core_module);

    if (cscf->handler(s) == DM_ERROR) {
        dm_stream_session_finalize(s, DM_STREAM_INTERNAL_ERROR);
    }
    return DM_DONE;
}

static void *
dm_stream_core_create_main_conf(dm_conf_t *cf)
{
    dm_stream_core_main_conf_t *cmcf;

    cmcf = dm_pcalloc(cf->pool, sizeof(dm_stream_core_main_conf_t));
    if (cmcf == NULL
        || dm_array_init(&cmcf->servers, cf->pool, 4,
                         sizeof(dm_stream_core_srv_conf_t *))
               != DM_OK
        || dm_array_init(&cmcf->listen, cf->pool, 4, sizeof(dm_stream_listen_t))
               != DM_OK
        || dm_phase_init(&cmcf->phases, cf->pool, DM_STREAM_PHASES,
                         DM_STREAM_LOG_PHASE)
               != DM_OK
        || dm_variable_registry_init(&cmcf->variables, cf->pool, "stream")
               != DM_OK
        || dm_variable_add_common(cf, &cmcf->variables) != DM_OK
        || dm_stream_variables_add(cf, &cmcf->variables) != DM_OK) {
        return NULL;
    }
    return cmcf;
}

static void *
dm_stream_core_create_srv_conf(dm_conf_t *cf)
{
    dm_stream_core_srv_conf_t *cscf;

    cscf = dm_pcalloc(cf->pool, sizeof(dm_stream_core_srv_conf_t));
    if (cscf == NULL) {
        return NULL;
    }
    if (cf->file) {
        cscf->file = cf->file->name;
        cscf->line = cf->file->dir_line;
    }
    return cscf;
}

static char *
dm_stream_core_server(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_stream_core_main_conf_t *cmcf = conf;
    dm_stream_core_srv_conf_t *cscf, **slot;
    dm_conf_ctx_t *ctx;

    ctx = dm_pcalloc(cf->pool, sizeof(dm_conf_ctx_t));
    if (ctx == NULL) {
        return DM_CONF_ERROR;
    }
    ctx->main_conf = cf->ctx->main_conf;
    ctx->srv_conf = dm_module_create_srv_confs(cf, DM_MODULE_STREAM);
    if (ctx->srv_conf == NULL) {
        return DM_CONF_ERROR;
    }
    cscf = dm_stream_conf_get_srv(ctx, dm_stream_core_module);
    cscf->ctx = ctx;

    slot = dm_array_push(&cmcf->servers);
    if (slot == NULL) {
        return DM_CONF_ERROR;
    }
    *slot = cscf;

    return dm_conf_parse_block(cf, ctx, DM_MODULE_STREAM, DM_STREAM_SRV_CONF);
}
