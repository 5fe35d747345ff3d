/*
 * doorman: the http { } block, its server { } and location { } blocks.
 *
 * Three levels, as nginx: main (http), srv (server), loc (location, which
 * may nest). A server gets srv and loc structures; a location gets loc
 * structures. After the block is read, each level inherits what it did
 * not set from the one above (merge_srv_conf, then merge_loc_conf down
 * every location tree).
 */
#include <dm_core.h>
#include <dm_http_conf.h>
#include <dm_http_listen.h>
#include <dm_http_log.h>
#include <dm_http_request.h>
#include <dm_http_location.h>

static void *dm_http_create_conf(dm_conf_t *cf);
static char *dm_http_block(dm_conf_t *cf, const dm_command_t *cmd, void *conf);
static char *dm_http_block_hooks(dm_conf_t *cf, dm_conf_ctx_t *ctx);
static char *dm_http_merge_locations(dm_conf_t *cf, dm_array_t *locations,
                                     void **parent);
static void *dm_http_core_create_main_conf(dm_conf_t *cf);
static void *dm_http_core_create_srv_conf(dm_conf_t *cf);
static void *dm_http_core_create_loc_conf(dm_conf_t *cf);
static char *dm_http_core_server(dm_conf_t *cf, const dm_command_t *cmd,
                                 void *conf);
static char *dm_http_core_location(dm_conf_t *cf, const dm_command_t *cmd,
                                   void *conf);

static const dm_command_t dm_http_commands[] = {
    {dm_string("http"), DM_MAIN_CONF, DM_CONF_BLOCK | DM_CONF_NOARGS,
     dm_http_block, DM_CONF_LEVEL_MAIN, 0, NULL},
    dm_null_command,
};

dm_module_t dm_http_module = {
    .name = "http",
    .type = DM_MODULE_CORE,
    .commands = dm_http_commands,
    .create_main_conf = dm_http_create_conf,
};

#define DM_HTTP_SRV(f) DM_CONF_LEVEL_SRV, offsetof(dm_http_core_srv_conf_t, f)
#define DM_HTTP_LOC(f) DM_CONF_LEVEL_LOC, offsetof(dm_http_core_loc_conf_t, f)
#define DM_HTTP_ANY_LEVEL                                                      \
    (DM_HTTP_MAIN_CONF | DM_HTTP_SRV_CONF | DM_HTTP_LOC_CONF)

static const dm_conf_bounds_t dm_http_buf_bounds = {128, 1 << 20};
static const dm_conf_bounds_t dm_http_time_bounds = {1, 7LL * 86400000};
static const dm_conf_bounds_t dm_http_time0_bounds = {0, 7LL * 86400000};
static const dm_conf_bounds_t dm_http_count_bounds = {1, 1 << 30};
static const dm_conf_bounds_t dm_http_body_bounds = {0, INT64_MAX / 2};

static char *dm_http_core_large_buffers(dm_conf_t *cf, const dm_command_t *cmd,
                                        void *conf);
static char *dm_http_core_merge_srv_conf(dm_conf_t *cf, void *parent,
                                         void *child);
static char *dm_http_core_merge_loc_conf(dm_conf_t *cf, void *parent,
                                         void *child);
static dm_int_t dm_http_core_postconfiguration(dm_conf_t *cf);

static const dm_command_t dm_http_core_commands[] = {
    {dm_string("server"), DM_HTTP_MAIN_CONF, DM_CONF_BLOCK | DM_CONF_NOARGS,
     dm_http_core_server, DM_CONF_LEVEL_MAIN, 0, NULL},
    {dm_string("location"), DM_HTTP_SRV_CONF | DM_HTTP_LOC_CONF,
     DM_CONF_BLOCK | DM_CONF_TAKE12, dm_http_core_location, DM_CONF_LEVEL_LOC,
     0, NULL},
    {dm_string("listen"), DM_HTTP_SRV_CONF, DM_CONF_1MORE, dm_http_listen_set,
     DM_CONF_LEVEL_SRV, 0, NULL},
    {dm_string("server_name"), DM_HTTP_SRV_CONF, DM_CONF_1MORE,
     dm_http_server_name_set, DM_CONF_LEVEL_SRV, 0, NULL},
    {dm_string("client_header_buffer_size"),
     DM_HTTP_MAIN_CONF | DM_HTTP_SRV_CONF, DM_CONF_TAKE1, dm_conf_set_size_slot,
     DM_HTTP_SRV(header_buffer), &dm_http_buf_bounds},
    {dm_string("large_client_header_buffers"),
     DM_HTTP_MAIN_CONF | DM_HTTP_SRV_CONF, DM_CONF_TAKE2,
     dm_http_core_large_buffers, DM_CONF_LEVEL_SRV, 0, NULL},
    {dm_string("client_header_timeout"), DM_HTTP_MAIN_CONF | DM_HTTP_SRV_CONF,
     DM_CONF_TAKE1, dm_conf_set_msec_slot, DM_HTTP_SRV(header_timeout),
     &dm_http_time_bounds},
    {dm_string("keepalive_timeout"), DM_HTTP_ANY_LEVEL, DM_CONF_TAKE1,
     dm_conf_set_msec_slot, DM_HTTP_LOC(keepalive_timeout),
     &dm_http_time0_bounds},
    {dm_string("keepalive_requests"), DM_HTTP_ANY_LEVEL, DM_CONF_TAKE1,
     dm_conf_set_num_slot, DM_HTTP_LOC(keepalive_requests),
     &dm_http_count_bounds},
    {dm_string("client_body_timeout"), DM_HTTP_ANY_LEVEL, DM_CONF_TAKE1,
     dm_conf_set_msec_slot, DM_HTTP_LOC(body_timeout), &dm_http_time_bounds},
    {dm_string("send_timeout"), DM_HTTP_ANY_LEVEL, DM_CONF_TAKE1,
     dm_conf_set_msec_slot, DM_HTTP_LOC(send_timeout), &dm_http_time_bounds},
    {dm_string("client_max_body_size"), DM_HTTP_ANY_LEVEL, DM_CONF_TAKE1,
     dm_conf_set_size_slot, DM_HTTP_LOC(max_body), &dm_http_body_bounds},
    dm_null_command,
};

dm_module_t dm_http_core_module = {
    .name = "http_core",
    .type = DM_MODULE_HTTP,
    .commands = dm_http_core_commands,
    .create_main_conf = dm_http_core_create_main_conf,
    .create_srv_conf = dm_http_core_create_srv_conf,
    .merge_srv_conf = dm_http_core_merge_srv_conf,
    .create_loc_conf = dm_http_core_create_loc_conf,
    .merge_loc_conf = dm_http_core_merge_loc_conf,
    .postconfiguration = dm_http_core_postconfiguration,
};

static void *
dm_http_create_conf(dm_conf_t *cf)
{
    return dm_pcalloc(cf->pool, sizeof(dm_http_conf_t));
}

dm_conf_ctx_t *
dm_http_conf_ctx(dm_cycle_t *cycle)
{
    dm_http_conf_t *hcf = dm_cycle_get_core_conf(cycle, dm_http_module);

    return hcf->ctx;
}

static char *
dm_http_block(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_http_conf_t *hcf = conf;
    dm_conf_ctx_t *ctx, *saved;
    char *rv;

    if (hcf->ctx) {
        return "is duplicate";
    }
    ctx = dm_pcalloc(cf->pool, sizeof(dm_conf_ctx_t));
    if (ctx == NULL) {
        return DM_CONF_ERROR;
    }
    hcf->ctx = ctx;
    ctx->main_conf = dm_module_create_main_confs(cf, DM_MODULE_HTTP);
    ctx->srv_conf = dm_module_create_srv_confs(cf, DM_MODULE_HTTP);
    ctx->loc_conf = dm_module_create_loc_confs(cf, DM_MODULE_HTTP);
    if (!ctx->main_conf || !ctx->srv_conf || !ctx->loc_conf) {
        return DM_CONF_ERROR;
    }

    /* the hooks look at the block's context through cf->ctx */
    saved = cf->ctx;
    cf->ctx = ctx;
    rv = dm_http_block_hooks(cf, ctx);
    cf->ctx = saved;
    return rv;
}

static char *
dm_http_block_hooks(dm_conf_t *cf, dm_conf_ctx_t *ctx)
{
    dm_http_core_main_conf_t *cmcf;
    dm_http_core_srv_conf_t **servers, *cscf;
    dm_uint_t i;

    if (dm_module_preconfiguration(cf, DM_MODULE_HTTP) != DM_OK) {
        return DM_CONF_ERROR;
    }
    if (dm_conf_parse_block(cf, ctx, DM_MODULE_HTTP, DM_HTTP_MAIN_CONF)
        != DM_CONF_OK) {
        return DM_CONF_ERROR;
    }
    if (dm_module_init_main_confs(cf, DM_MODULE_HTTP, ctx->main_conf)
        != DM_CONF_OK) {
        return DM_CONF_ERROR;
    }

    cmcf = dm_http_conf_get_main(ctx, dm_http_core_module);
    servers = cmcf->servers.elts;
    for (i = 0; i < cmcf->servers.nelts; i++) {
        cscf = servers[i];
        if (dm_module_merge_srv_confs(cf, DM_MODULE_HTTP, ctx->srv_conf,
                                      cscf->ctx->srv_conf)
                != DM_CONF_OK
            || dm_module_merge_loc_confs(cf, DM_MODULE_HTTP, ctx->loc_conf,
                                         cscf->ctx->loc_conf)
                   != DM_CONF_OK
            || dm_http_merge_locations(cf, &cscf->locations,
                                       cscf->ctx->loc_conf)
                   != DM_CONF_OK) {
            return DM_CONF_ERROR;
        }
    }

    if (dm_module_postconfiguration(cf, DM_MODULE_HTTP) != DM_OK
        || dm_variable_finalize(cf, &cmcf->variables) != DM_OK
        || dm_phase_flatten(&cmcf->phases, cf->pool) != DM_OK) {
        return DM_CONF_ERROR;
    }
    /* servers listen only when the block has some (nothing to bind for a
       configuration that only declares upstreams) */
    if (cmcf->servers.nelts == 0) {
        return DM_CONF_OK;
    }
    return dm_http_listen_init(cf, cmcf);
}

/* Each location inherits from its enclosing level, down the tree. */
static char *
dm_http_merge_locations(dm_conf_t *cf, dm_array_t *locations, void **parent)
{
    dm_http_core_loc_conf_t **locs;
    dm_uint_t i;

    if (locations == NULL) {
        return DM_CONF_OK;
    }
    locs = locations->elts;
    for (i = 0; i < locations->nelts; i++) {
        if (dm_module_merge_loc_confs(cf, DM_MODULE_HTTP, parent,
                                      locs[i]->loc_conf)
                != DM_CONF_OK
            || dm_http_merge_locations(cf, locs[i]->locations,
                                       locs[i]->loc_conf)
                   != DM_CONF_OK) {
            return DM_CONF_ERROR;
        }
    }
    return DM_CONF_OK;
}

static void *
dm_http_core_create_main_conf(dm_conf_t *cf)
{
    dm_http_core_main_conf_t *cmcf;

    cmcf = dm_pcalloc(cf->pool, sizeof(dm_http_core_main_conf_t));
    if (cmcf == NULL
        || dm_array_init(&cmcf->servers, cf->pool, 4,
                         sizeof(dm_http_core_srv_conf_t *))
               != DM_OK
        || dm_variable_registry_init(&cmcf->variables, cf->pool, "http")
               != DM_OK
        || dm_variable_add_common(cf, &cmcf->variables) != DM_OK
        || dm_http_variables_add(cf, &cmcf->variables) != DM_OK
        || dm_array_init(&cmcf->listen, cf->pool, 4, sizeof(dm_http_listen_t))
               != DM_OK
        || dm_phase_init(&cmcf->phases, cf->pool, DM_HTTP_PHASES,
                         DM_HTTP_LOG_PHASE)
               != DM_OK) {
        return NULL;
    }
    return cmcf;
}

static void *
dm_http_core_create_srv_conf(dm_conf_t *cf)
{
    dm_http_core_srv_conf_t *cscf;

    cscf = dm_pcalloc(cf->pool, sizeof(dm_http_core_srv_conf_t));
    if (cscf == NULL
        || dm_array_init(&cscf->locations, cf->pool, 4,
                         sizeof(dm_http_core_loc_conf_t *))
               != DM_OK
        || dm_array_init(&cscf->names, cf->pool, 2, sizeof(dm_str_t)) != DM_OK
        || dm_array_init(&cscf->wildcards, cf->pool, 1,
                         sizeof(dm_http_server_name_t))
               != DM_OK
        || dm_array_init(&cscf->regexes, cf->pool, 1, sizeof(dm_regex_t *))
               != DM_OK) {
        return NULL;
    }
    cscf->header_buffer = DM_CONF_UNSET_SIZE;
    cscf->large_buffer = DM_CONF_UNSET_SIZE;
    cscf->large_buffers = DM_CONF_UNSET;
    cscf->header_timeout = DM_CONF_UNSET_MSEC;
    if (cf->file) {
        cscf->file = cf->file->name;
        cscf->line = cf->file->dir_line;
    }
    return cscf;
}

static void *
dm_http_core_create_loc_conf(dm_conf_t *cf)
{
    dm_http_core_loc_conf_t *clcf;

    clcf = dm_pcalloc(cf->pool, sizeof(dm_http_core_loc_conf_t));
    if (clcf == NULL) {
        return NULL;
    }
    clcf->keepalive_timeout = DM_CONF_UNSET_MSEC;
    clcf->keepalive_requests = DM_CONF_UNSET;
    clcf->body_timeout = DM_CONF_UNSET_MSEC;
    clcf->send_timeout = DM_CONF_UNSET_MSEC;
    clcf->max_body = DM_CONF_UNSET_SIZE;
    return clcf;
}

static char *
dm_http_core_merge_srv_conf(dm_conf_t *cf, void *parent, void *child)
{
    dm_http_core_srv_conf_t *prev = parent, *conf = child;

    dm_conf_merge_size_value(conf->header_buffer, prev->header_buffer, 1024);
    dm_conf_merge_size_value(conf->large_buffer, prev->large_buffer, 8192);
    dm_conf_merge_value(conf->large_buffers, prev->large_buffers, 4);
    dm_conf_merge_msec_value(conf->header_timeout, prev->header_timeout, 60000);
    if (conf->large_buffer < conf->header_buffer) {
        conf->large_buffer = conf->header_buffer;
    }
    return DM_CONF_OK;
}

static char *
dm_http_core_merge_loc_conf(dm_conf_t *cf, void *parent, void *child)
{
    dm_http_core_loc_conf_t *prev = parent, *conf = child;

    dm_conf_merge_msec_value(conf->keepalive_timeout, prev->keepalive_timeout,
                             75000);
    dm_conf_merge_value(conf->keepalive_requests, prev->keepalive_requests,
                        1000);
    dm_conf_merge_msec_value(conf->body_timeout, prev->body_timeout, 60000);
    dm_conf_merge_msec_value(conf->send_timeout, prev->send_timeout, 60000);
    dm_conf_merge_size_value(conf->max_body, prev->max_body, 1024 * 1024);
    return DM_CONF_OK;
}

/* large_client_header_buffers NUMBER SIZE: the bound of a request head. */
static char *
dm_http_core_large_buffers(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_http_core_srv_conf_t *cscf = conf;
    dm_str_t *value = cf->args->elts;
    int64_t n, size;

    if (cscf->large_buffers != DM_CONF_UNSET) {
        return "is duplicate";
    }
    n = dm_parse_int(value[1].data, value[1].len);
    size = dm_parse_size(value[2].data, value[2].len);
    if (n < 1 || n > 64 || size < 128 || size > (1 << 20)) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "invalid value in \"large_client_header_buffers "
                          "%s %s\", it must be 1-64 buffers of 128 to 1m",
                          value[1].data, value[2].data);
        return DM_CONF_ERROR;
    }
    cscf->large_buffers = (dm_int_t) n;
    cscf->large_buffer = (size_t) size;
    return DM_CONF_OK;
}

/* FIND_CONFIG: the request takes its location's configuration. */
static dm_int_t
dm_http_core_find_config(void *obj)
{
    dm_http_request_t *r = obj;
    dm_http_core_srv_conf_t *cscf =
        dm_http_request_srv_conf(r, dm_http_core_module);
    dm_http_core_loc_conf_t *clcf;

    clcf = dm_http_location_find(r, &cscf->locations);
    r->loc_conf = clcf ? clcf->loc_conf : cscf->ctx->loc_conf;
    return DM_OK;
}

/* LOG: the access log lines of the request's location. */
static dm_int_t
dm_http_core_log(void *obj)
{
    dm_http_request_t *r = obj;

    dm_http_log_write(&r->vars, r->loc_conf);
    return DM_OK;
}

static dm_int_t
dm_http_core_postconfiguration(dm_conf_t *cf)
{
    dm_http_core_main_conf_t *cmcf =
        dm_http_conf_get_main(cf->ctx, dm_http_core_module);

    if (dm_phase_add(&cmcf->phases, DM_HTTP_FIND_CONFIG_PHASE,
                     dm_http_core_find_config)
        != DM_OK) {
        return DM_ERROR;
    }
    return dm_phase_add(&cmcf->phases, DM_HTTP_LOG_PHASE, dm_http_core_log);
}

static char *
dm_http_core_server(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_http_core_main_conf_t *cmcf = conf;
    dm_http_core_srv_conf_t *cscf, **slot;
    dm_conf_ctx_t *ctx;

    ctx = dm_pcalloc(cf->pool, sizeof(dm_conf_ctx_t));
    if (ctx == NULL) {
        return DM_CONF_ERROR;
    }
    ctx->main_conf = cf->ctx->main_conf;
    ctx->srv_conf = dm_module_create_srv_confs(cf, DM_MODULE_HTTP);
    ctx->loc_conf = dm_module_create_loc_confs(cf, DM_MODULE_HTTP);
    if (ctx->srv_conf == NULL || ctx->loc_conf == NULL) {
        return DM_CONF_ERROR;
    }
    cscf = dm_http_conf_get_srv(ctx, dm_http_core_module);
    cscf->ctx = ctx;

    slot = dm_array_push(&cmcf->servers);
    if (slot == NULL) {
        return DM_CONF_ERROR;
    }
    *slot = cscf;

    return dm_conf_parse_block(cf, ctx, DM_MODULE_HTTP, DM_HTTP_SRV_CONF);
}

/* A location of the same kind and name at the same level (as nginx, a
   prefix and a ^~ of one URI are the same location). */
static int
dm_http_core_location_duplicate(dm_array_t *list, dm_uint_t kind,
                                const dm_str_t *name)
{
    dm_http_core_loc_conf_t **l;
    dm_uint_t i, a, b;

    if (list == NULL) {
        return 0;
    }
    l = list->elts;
    a = kind == DM_HTTP_LOC_NOREGEX ? DM_HTTP_LOC_PREFIX : kind;
    for (i = 0; i < list->nelts; i++) {
        b = l[i]->kind == DM_HTTP_LOC_NOREGEX ? DM_HTTP_LOC_PREFIX : l[i]->kind;
        if (a == b && l[i]->name.len == name->len
            && memcmp(l[i]->name.data, name->data, name->len) == 0) {
            return 1;
        }
    }
    return 0;
}

/*
 * location [= | ^~ | ~ | ~*] URI { } and location @name { }, with nginx's
 * structural rules: named locations only at server level and without
 * nested locations, nothing nested in an exact location, and a nested
 * prefix location must lie inside its parent's prefix.
 */
static char *
dm_http_core_location(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_http_core_loc_conf_t *parent = conf, *clcf, **slot;
    dm_http_core_main_conf_t *cmcf;
    dm_http_core_srv_conf_t *cscf;
    dm_str_t *value = cf->args->elts, mod, name;
    dm_conf_ctx_t *ctx;
    dm_array_t **list;
    dm_uint_t kind;

    if (cf->args->nelts == 3) {
        mod = value[1];
        name = value[2];
        if (dm_str_eq(&mod, "=")) {
            kind = DM_HTTP_LOC_EXACT;
        } else if (dm_str_eq(&mod, "^~")) {
            kind = DM_HTTP_LOC_NOREGEX;
        } else if (dm_str_eq(&mod, "~")) {
            kind = DM_HTTP_LOC_REGEX;
        } else if (dm_str_eq(&mod, "~*")) {
            kind = DM_HTTP_LOC_IREGEX;
        } else {
            dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                              "invalid location modifier \"%s\"", mod.data);
            return DM_CONF_ERROR;
        }
    } else {
        name = value[1];
        kind = DM_HTTP_LOC_PREFIX;
        if (name.len > 1 && name.data[0] == '=') {
            kind = DM_HTTP_LOC_EXACT;
            name.data++;
            name.len--;
        } else if (name.len > 2 && name.data[0] == '^' && name.data[1] == '~') {
            kind = DM_HTTP_LOC_NOREGEX;
            name.data += 2;
            name.len -= 2;
        } else if (name.len > 2 && name.data[0] == '~' && name.data[1] == '*') {
            kind = DM_HTTP_LOC_IREGEX;
            name.data += 2;
            name.len -= 2;
        } else if (name.len > 1 && name.data[0] == '~') {
            kind = DM_HTTP_LOC_REGEX;
            name.data++;
            name.len--;
        } else if (name.len > 1 && name.data[0] == '@') {
            kind = DM_HTTP_LOC_NAMED;
        }
    }
    if (name.len == 0 || dm_str_eq(&name, "=") || dm_str_eq(&name, "~")
        || dm_str_eq(&name, "~*") || dm_str_eq(&name, "^~")
        || dm_str_eq(&name, "@")) {
        return "needs a URI";
    }

    /* a location at server level has no parent location */
    if (cf->cmd_type == DM_HTTP_SRV_CONF) {
        parent = NULL;
    }
    if (parent) {
        if (parent->kind == DM_HTTP_LOC_EXACT) {
            dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                              "location \"%s\" cannot be inside the exact "
                              "location \"%.*s\"",
                              name.data, DM_STR_ARG(parent->name));
            return DM_CONF_ERROR;
        }
        if (parent->kind == DM_HTTP_LOC_NAMED) {
            dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                              "location \"%s\" cannot be inside the named "
                              "location \"%.*s\"",
                              name.data, DM_STR_ARG(parent->name));
            return DM_CONF_ERROR;
        }
        if (kind == DM_HTTP_LOC_NAMED) {
            dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                              "named location \"%s\" can be on the server "
                              "level only",
                              name.data);
            return DM_CONF_ERROR;
        }
        if (kind != DM_HTTP_LOC_REGEX && kind != DM_HTTP_LOC_IREGEX
            && (parent->kind == DM_HTTP_LOC_PREFIX
                || parent->kind == DM_HTTP_LOC_NOREGEX)
            && (name.len < parent->name.len
                || memcmp(name.data, parent->name.data, parent->name.len))) {
            dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                              "location \"%s\" is outside location \"%.*s\"",
                              name.data, DM_STR_ARG(parent->name));
            return DM_CONF_ERROR;
        }
    }

    cscf = dm_http_conf_get_srv(cf->ctx, dm_http_core_module);
    if (dm_http_core_location_duplicate(
            parent ? parent->locations : &cscf->locations, kind, &name)) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0, "duplicate location \"%s\"",
                          name.data);
        return DM_CONF_ERROR;
    }

    ctx = dm_pcalloc(cf->pool, sizeof(dm_conf_ctx_t));
    if (ctx == NULL) {
        return DM_CONF_ERROR;
    }
    ctx->main_conf = cf->ctx->main_conf;
    ctx->srv_conf = cf->ctx->srv_conf;
    ctx->loc_conf = dm_module_create_loc_confs(cf, DM_MODULE_HTTP);
    if (ctx->loc_conf == NULL) {
        return DM_CONF_ERROR;
    }
    clcf = dm_http_conf_get_loc(ctx, dm_http_core_module);
    clcf->name = name;
    clcf->kind = kind;
    clcf->loc_conf = ctx->loc_conf;
    clcf->parent = parent;
    if (kind == DM_HTTP_LOC_REGEX || kind == DM_HTTP_LOC_IREGEX) {
        cmcf = dm_http_conf_get_main(cf->ctx, dm_http_core_module);
        clcf->regex = dm_palloc(cf->pool, sizeof(dm_regex_t));
        if (clcf->regex == NULL
            || dm_regex_compile_vars(cf, &cmcf->variables, clcf->regex, &name,
                                     kind == DM_HTTP_LOC_IREGEX)
                   != DM_OK) {
            return DM_CONF_ERROR;
        }
    }

    if (parent) {
        list = &parent->locations;
        if (*list == NULL) {
            *list =
                dm_array_create(cf->pool, 4, sizeof(dm_http_core_loc_conf_t *));
            if (*list == NULL) {
                return DM_CONF_ERROR;
            }
        }
    } else {
        list = NULL;
        slot = dm_array_push(&cscf->locations);
        if (slot == NULL) {
            return DM_CONF_ERROR;
        }
        *slot = clcf;
    }
    if (list) {
        slot = dm_array_push(*list);
        if (slot == NULL) {
            return DM_CONF_ERROR;
        }
        *slot = clcf;
    }

    return dm_conf_parse_block(cf, ctx, DM_MODULE_HTTP, DM_HTTP_LOC_CONF);
}
