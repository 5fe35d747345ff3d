/*
 * doorman: limit_conn in http (the PREACCESS phase).
 *
 *   limit_conn_zone KEY zone=NAME:SIZE;          (http)
 *   limit_conn NAME NUMBER;                      (http, server, location;
 *                                                 several)
 *   limit_conn_status CODE;                      (503)
 *   limit_conn_log_level info|notice|warn|error; (error)
 *   limit_conn_dry_run on|off;                   (off)
 *
 * As nginx, what is counted is requests in progress per key, over all
 * workers (the shared table of dm_limit_conn.c): a count is taken when a
 * request passes this phase and given back when its response is finished
 * or its connection closes (a cleanup on the request pool). A request
 * over a limit is answered limit_conn_status with a log line; in dry run
 * it is only logged. The limit_conn lines of a level replace those of
 * the level above. $limit_conn_status says PASSED, REJECTED or
 * REJECTED_DRY_RUN (empty where no limit applies).
 */
#include <dm_core.h>
#include <dm_limit_conn.h>
#include <dm_http_conf.h>
#include <dm_http_request.h>

typedef struct {
    dm_array_t zones; /* dm_limit_conn_zone_t * */
} dm_http_limit_conn_main_conf_t;

typedef struct {
    dm_array_t *limits;  /* dm_limit_conn_t, or unset */
    dm_uint_t log_level; /* limit_conn_log_level (error) */
    dm_int_t status;     /* limit_conn_status (503) */
    dm_flag_t dry_run;   /* limit_conn_dry_run (off) */
} dm_http_limit_conn_loc_conf_t;

/* One counted key of a request. */
typedef struct {
    dm_limit_conn_zone_t *zone;
    uint64_t hash;
} dm_http_limit_conn_count_t;

/* $limit_conn_status values. */
#define DM_HTTP_LIMIT_CONN_PASSED           1
#define DM_HTTP_LIMIT_CONN_REJECTED         2
#define DM_HTTP_LIMIT_CONN_REJECTED_DRY_RUN 3

/*
 * The counts a request holds, released by one request pool cleanup. It
 * is found through that cleanup, not r->ctx: an internal redirect
 * (error_page, rewrite) clears r->ctx and runs the phases again, and a
 * request is counted once, as nginx (r->main->limit_conn_status).
 */
typedef struct {
    dm_http_limit_conn_count_t *counts; /* one per limit at most */
    dm_uint_t n;                        /* how many are held */
    dm_uint_t status;                   /* DM_HTTP_LIMIT_CONN_* */
} dm_http_limit_conn_ctx_t;

static void *dm_http_limit_conn_create_main_conf(dm_conf_t *cf);
static void *dm_http_limit_conn_create_loc_conf(dm_conf_t *cf);
static char *dm_http_limit_conn_merge_loc_conf(dm_conf_t *cf, void *parent,
                                               void *child);
static char *dm_http_limit_conn_zone(dm_conf_t *cf, const dm_command_t *cmd,
                                     void *conf);
static char *dm_http_limit_conn(dm_conf_t *cf, const dm_command_t *cmd,
                                void *conf);
static dm_int_t dm_http_limit_conn_preconfiguration(dm_conf_t *cf);
static dm_int_t dm_http_limit_conn_postconfiguration(dm_conf_t *cf);

/* What nginx accepts for limit_conn_status. */
static const dm_conf_bounds_t dm_http_limit_conn_status_bounds = {400, 599};

#define DM_HTTP_LIMIT_CONN_CONF                                                \
    (DM_HTTP_MAIN_CONF | DM_HTTP_SRV_CONF | DM_HTTP_LOC_CONF)

static const dm_command_t dm_http_limit_conn_commands[] = {
    {dm_string("limit_conn_zone"), DM_HTTP_MAIN_CONF, DM_CONF_TAKE2,
     dm_http_limit_conn_zone, DM_CONF_LEVEL_MAIN, 0, NULL},
    {dm_string("limit_conn"), DM_HTTP_LIMIT_CONN_CONF, DM_CONF_TAKE2,
     dm_http_limit_conn, DM_CONF_LEVEL_LOC, 0, NULL},
    {dm_string("limit_conn_log_level"), DM_HTTP_LIMIT_CONN_CONF, DM_CONF_TAKE1,
     dm_conf_set_enum_slot, DM_CONF_LEVEL_LOC,
     offsetof(dm_http_limit_conn_loc_conf_t, log_level),
     dm_conf_limit_log_levels},
    {dm_string("limit_conn_status"), DM_HTTP_LIMIT_CONN_CONF, DM_CONF_TAKE1,
     dm_conf_set_num_slot, DM_CONF_LEVEL_LOC,
     offsetof(dm_http_limit_conn_loc_conf_t, status),
     &dm_http_limit_conn_status_bounds},
    {dm_string("limit_conn_dry_run"), DM_HTTP_LIMIT_CONN_CONF, DM_CONF_FLAG,
     dm_conf_set_flag_slot, DM_CONF_LEVEL_LOC,
     offsetof(dm_http_limit_conn_loc_conf_t, dry_run), NULL},
    dm_null_command,
};

dm_module_t dm_http_limit_conn_module = {
    .name = "http_limit_conn",
    .type = DM_MODULE_HTTP,
    .commands = dm_http_limit_conn_commands,
    .create_main_conf = dm_http_limit_conn_create_main_conf,
    .create_loc_conf = dm_http_limit_conn_create_loc_conf,
    .merge_loc_conf = dm_http_limit_conn_merge_loc_conf,
    .preconfiguration = dm_http_limit_conn_preconfiguration,
    .postconfiguration = dm_http_limit_conn_postconfiguration,
};

static void *
dm_http_limit_conn_create_main_conf(dm_conf_t *cf)
{
    dm_http_limit_conn_main_conf_t *conf;

    conf = dm_pcalloc(cf->pool, sizeof(*conf));
    if (conf == NULL
        || dm_array_init(&conf->zones, cf->pool, 2,
                         sizeof(dm_limit_conn_zone_t *))
               != DM_OK) {
        return NULL;
    }
    return conf;
}

static void *
dm_http_limit_conn_create_loc_conf(dm_conf_t *cf)
{
    dm_http_limit_conn_loc_conf_t *conf;

    conf = dm_pcalloc(cf->pool, sizeof(*conf));
    if (conf) {
        conf->limits = DM_CONF_UNSET_PTR;
        conf->log_level = DM_CONF_UNSET_UINT;
        conf->status = DM_CONF_UNSET;
        conf->dry_run = DM_CONF_UNSET;
    }
    return conf;
}

static char *
dm_http_limit_conn_merge_loc_conf(dm_conf_t *cf, void *parent, void *child)
{
    dm_http_limit_conn_loc_conf_t *prev = parent, *conf = child;

    dm_conf_merge_ptr_value(conf->limits, prev->limits, NULL);
    dm_conf_merge_uint_value(conf->log_level, prev->log_level, DM_LOG_ERR);
    dm_conf_merge_value(conf->status, prev->status, 503);
    dm_conf_merge_value(conf->dry_run, prev->dry_run, 0);
    return DM_CONF_OK;
}

static char *
dm_http_limit_conn_zone(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_http_limit_conn_main_conf_t *lmcf = conf;
    dm_http_core_main_conf_t *cmcf =
        dm_http_conf_get_main(cf->ctx, dm_http_core_module);

    return dm_limit_conn_zone_directive(cf, &cmcf->variables, &lmcf->zones,
                                        &dm_http_limit_conn_module);
}

/* limit_conn NAME NUMBER: the zone must be declared above, as nginx. */
static char *
dm_http_limit_conn(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_http_limit_conn_loc_conf_t *lcf = conf;
    dm_http_limit_conn_main_conf_t *lmcf =
        dm_http_conf_get_main(cf->ctx, dm_http_limit_conn_module);

    return dm_limit_conn_directive(cf, &lmcf->zones, &lcf->limits);
}

/* Gives back every count the request holds (once). */
static void
dm_http_limit_conn_release(void *data)
{
    dm_http_limit_conn_ctx_t *ctx = data;

    while (ctx->n) {
        ctx->n--;
        dm_limit_conn_release(ctx->counts[ctx->n].zone,
                              ctx->counts[ctx->n].hash);
    }
}

/* The request's counts (its pool cleanup), or NULL before this phase. */
static dm_http_limit_conn_ctx_t *
dm_http_limit_conn_ctx(dm_http_request_t *r)
{
    dm_pool_cleanup_t *cln;

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == dm_http_limit_conn_release) {
            return cln->data;
        }
    }
    return NULL;
}

static dm_int_t
dm_http_limit_conn_handler(void *obj)
{
    dm_http_request_t *r = obj;
    dm_http_limit_conn_loc_conf_t *lcf =
        dm_http_request_loc_conf(r, dm_http_limit_conn_module);
    dm_connection_t *c = r->connection;
    dm_http_limit_conn_ctx_t *ctx;
    dm_pool_cleanup_t *cln;
    dm_limit_conn_t *l;
    dm_uint_t i;
    dm_str_t key;
    uint64_t hash;
    dm_int_t rc;

    if (lcf->limits == NULL || dm_http_limit_conn_ctx(r) != NULL) {
        /* no limit here, or this request was counted already */
        return DM_DECLINED;
    }
    /* the cleanup first, so a failure cannot leak a count */
    cln = dm_pool_cleanup_add(r->pool, sizeof(dm_http_limit_conn_ctx_t));
    if (cln == NULL) {
        return DM_ERROR;
    }
    ctx = cln->data;
    ctx->n = 0;
    ctx->status = DM_HTTP_LIMIT_CONN_PASSED;
    ctx->counts = dm_palloc(r->pool, lcf->limits->nelts
                                         * sizeof(dm_http_limit_conn_count_t));
    if (ctx->counts == NULL) {
        return DM_ERROR;
    }
    cln->handler = dm_http_limit_conn_release;

    l = lcf->limits->elts;
    for (i = 0; i < lcf->limits->nelts; i++) {
        if (dm_complex_eval(&r->vars, &l[i].zone->key, &key) != DM_OK) {
            return DM_ERROR;
        }
        if (key.len == 0) {
            continue; /* an empty key is not counted, as nginx */
        }
        hash = dm_limit_conn_hash(&key);
        rc = dm_limit_conn_acquire(l[i].zone, hash, l[i].limit);
        if (rc == DM_OK) {
            ctx->counts[ctx->n].zone = l[i].zone;
            ctx->counts[ctx->n].hash = hash;
            ctx->n++;
            continue;
        }
        dm_log_error(lcf->log_level, c->log, 0,
                     "limiting connections%s%s by zone \"%.*s\"",
                     lcf->dry_run ? ", dry run," : "",
                     rc == DM_ERROR ? " (zone full)" : "",
                     DM_STR_ARG(l[i].zone->name));
        /* as nginx: a refused request holds nothing, even in dry run */
        dm_http_limit_conn_release(ctx);
        if (lcf->dry_run) {
            ctx->status = DM_HTTP_LIMIT_CONN_REJECTED_DRY_RUN;
            return DM_DECLINED;
        }
        ctx->status = DM_HTTP_LIMIT_CONN_REJECTED;
        return dm_http_request_respond(r, (dm_uint_t) lcf->status, NULL, NULL);
    }
    return DM_DECLINED;
}

/* $limit_conn_status: what the PREACCESS phase decided, if it ran. */
static dm_int_t
dm_http_limit_conn_status_var(dm_variable_env_t *env, dm_variable_value_t *v,
                              uintptr_t data)
{
    static const char *texts[] = {
        [DM_HTTP_LIMIT_CONN_PASSED] = "PASSED",
        [DM_HTTP_LIMIT_CONN_REJECTED] = "REJECTED",
        [DM_HTTP_LIMIT_CONN_REJECTED_DRY_RUN] = "REJECTED_DRY_RUN",
    };
    dm_http_request_t *r = env->obj;
    dm_http_limit_conn_ctx_t *ctx = r ? dm_http_limit_conn_ctx(r) : NULL;

    if (ctx == NULL || ctx->status == 0) {
        v->not_found = 1;
        return DM_OK;
    }
    return dm_variable_set_str(v, (u_char *) texts[ctx->status],
                               strlen(texts[ctx->status]));
}

static dm_int_t
dm_http_limit_conn_preconfiguration(dm_conf_t *cf)
{
    static const dm_str_t name = dm_string("limit_conn_status");
    dm_http_core_main_conf_t *cmcf =
        dm_http_conf_get_main(cf->ctx, dm_http_core_module);
    dm_variable_t *v;

    /* not cached: a use before the PREACCESS phase must not stick */
    v = dm_variable_add(cf, &cmcf->variables, &name, DM_VAR_NOCACHEABLE);
    if (v == NULL) {
        return DM_ERROR;
    }
    v->get = dm_http_limit_conn_status_var;
    return DM_OK;
}

static dm_int_t
dm_http_limit_conn_postconfiguration(dm_conf_t *cf)
{
    dm_http_core_main_conf_t *cmcf =
        dm_http_conf_get_main(cf->ctx, dm_http_core_module);

    return dm_phase_add(&cmcf->phases, DM_HTTP_PREACCESS_PHASE,
                        dm_http_limit_conn_handler);
}
