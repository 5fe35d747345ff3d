/*
 * doorman: upstream { } blocks in stream and http.
 *
 * Both engines share this code; each has its own module descriptor so
 * that the directive table is dispatched in that engine's blocks. An
 * upstream block is a context of its own whose srv level holds the
 * engine's modules' upstream structures (balancers, health checks and
 * sticky cookies all write there).
 */
#include <dm_core.h>
#include <dm_upstream_conf.h>

static void *dm_upstream_create_main_conf(dm_conf_t *cf);
static void *dm_upstream_create_srv_conf(dm_conf_t *cf);
static char *dm_upstream_block(dm_conf_t *cf, const dm_command_t *cmd,
                               void *conf);

static const dm_command_t dm_stream_upstream_commands[] = {
    {dm_string("upstream"), DM_STREAM_MAIN_CONF, DM_CONF_BLOCK | DM_CONF_TAKE1,
     dm_upstream_block, DM_CONF_LEVEL_MAIN, 0, NULL},
    dm_null_command,
};

dm_module_t dm_stream_upstream_module = {
    .name = "stream_upstream",
    .type = DM_MODULE_STREAM,
    .commands = dm_stream_upstream_commands,
    .create_main_conf = dm_upstream_create_main_conf,
    .create_srv_conf = dm_upstream_create_srv_conf,
};

static const dm_command_t dm_http_upstream_commands[] = {
    {dm_string("upstream"), DM_HTTP_MAIN_CONF, DM_CONF_BLOCK | DM_CONF_TAKE1,
     dm_upstream_block, DM_CONF_LEVEL_MAIN, 0, NULL},
    dm_null_command,
};

dm_module_t dm_http_upstream_module = {
    .name = "http_upstream",
    .type = DM_MODULE_HTTP,
    .commands = dm_http_upstream_commands,
    .create_main_conf = dm_upstream_create_main_conf,
    .create_srv_conf = dm_upstream_create_srv_conf,
};

static void *
dm_upstream_create_main_conf(dm_conf_t *cf)
{
    dm_upstream_main_conf_t *umcf;

    umcf = dm_pcalloc(cf->pool, sizeof(dm_upstream_main_conf_t));
    if (umcf == NULL
        || dm_array_init(&umcf->upstreams, cf->pool, 4,
                         sizeof(dm_upstream_srv_conf_t *))
               != DM_OK) {
        return NULL;
    }
    return umcf;
}

static void *
dm_upstream_create_srv_conf(dm_conf_t *cf)
{
    return dm_pcalloc(cf->pool, sizeof(dm_upstream_srv_conf_t));
}

dm_upstream_srv_conf_t *
dm_upstream_conf_find(dm_upstream_main_conf_t *umcf, const dm_str_t *name)
{
    dm_upstream_srv_conf_t **u = umcf->upstreams.elts;
    dm_uint_t i;

    for (i = 0; i < umcf->upstreams.nelts; i++) {
        if (u[i]->name.len == name->len
            && memcmp(u[i]->name.data, name->data, name->len) == 0) {
            return u[i];
        }
    }
    return NULL;
}

static char *
dm_upstream_block(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_upstream_main_conf_t *umcf = conf;
    dm_upstream_srv_conf_t *uscf, **slot;
    dm_str_t *value = cf->args->elts;
    dm_uint_t type = cf->module_type, ctx_bit;
    dm_module_t *self;
    dm_conf_ctx_t *ctx;

    if (dm_upstream_conf_find(umcf, &value[1])) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0, "duplicate upstream \"%s\"",
                          value[1].data);
        return DM_CONF_ERROR;
    }

    ctx = dm_pcalloc(cf->pool, sizeof(dm_conf_ctx_t));
    if (ctx == NULL) {
        return DM_CONF_ERROR;
    }
    ctx->main_conf = cf->ctx->main_conf;
    ctx->srv_conf = dm_module_create_srv_confs(cf, type);
    if (ctx->srv_conf == NULL) {
        return DM_CONF_ERROR;
    }
    if (type == DM_MODULE_HTTP) {
        ctx->loc_conf = dm_module_create_loc_confs(cf, type);
        if (ctx->loc_conf == NULL) {
            return DM_CONF_ERROR;
        }
        self = &dm_http_upstream_module;
        ctx_bit = DM_HTTP_UPS_CONF;
    } else {
        self = &dm_stream_upstream_module;
        ctx_bit = DM_STREAM_UPS_CONF;
    }

    uscf = ctx->srv_conf[self->ctx_index];
    uscf->name = value[1];
    uscf->ctx = ctx;
    if (cf->file) {
        uscf->file = cf->file->name;
        uscf->line = cf->file->dir_line;
    }
    slot = dm_array_push(&umcf->upstreams);
    if (slot == NULL) {
        return DM_CONF_ERROR;
    }
    *slot = uscf;

    return dm_conf_parse_block(cf, ctx, type, ctx_bit);
}
