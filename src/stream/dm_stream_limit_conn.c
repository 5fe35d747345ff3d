/*
 * doorman: limit_conn in stream (the PREACCESS phase).
 *
 *   limit_conn_zone KEY zone=NAME:SIZE;     (stream)
 *   limit_conn NAME NUMBER;                 (stream, server; several)
 *   limit_conn_log_level info|notice|warn|error;
 *
 * Connections are counted per key over all workers (dm_limit_conn.c); a
 * connection over the limit is closed with $status 503 and a log line.
 */
#include <dm_core.h>
#include <dm_limit_conn.h>
#include <dm_stream.h>

typedef struct {
    dm_array_t zones; /* dm_limit_conn_zone_t * */
} dm_stream_limit_conn_main_conf_t;

typedef struct {
    dm_array_t *limits;  /* dm_limit_conn_t, or unset */
    dm_uint_t log_level; /* limit_conn_log_level (error) */
} dm_stream_limit_conn_srv_conf_t;

/* One counted connection, released when the connection closes. */
typedef struct {
    dm_limit_conn_zone_t *zone;
    uint64_t hash;
} dm_stream_limit_conn_cleanup_t;

static void *dm_stream_limit_conn_create_main_conf(dm_conf_t *cf);
static void *dm_stream_limit_conn_create_srv_conf(dm_conf_t *cf);
static char *dm_stream_limit_conn_merge_srv_conf(dm_conf_t *cf, void *parent,
                                                 void *child);
static char *dm_stream_limit_conn_zone(dm_conf_t *cf, const dm_command_t *cmd,
                                       void *conf);
static char *dm_stream_limit_conn(dm_conf_t *cf, const dm_command_t *cmd,
                                  void *conf);
static dm_int_t dm_stream_limit_conn_postconfiguration(dm_conf_t *cf);

static const dm_command_t dm_stream_limit_conn_commands[] = {
    {dm_string("limit_conn_zone"), DM_STREAM_MAIN_CONF, DM_CONF_TAKE2,
     dm_stream_limit_conn_zone, DM_CONF_LEVEL_MAIN, 0, NULL},
    {dm_string("limit_conn"), DM_STREAM_MAIN_CONF | DM_STREAM_SRV_CONF,
     DM_CONF_TAKE2, dm_stream_limit_conn, DM_CONF_LEVEL_SRV, 0, NULL},
    {dm_string("limit_conn_log_level"),
     DM_STREAM_MAIN_CONF | DM_STREAM_SRV_CONF, DM_CONF_TAKE1,
     dm_conf_set_enum_slot, DM_CONF_LEVEL_SRV,
     offsetof(dm_stream_limit_conn_srv_conf_t, log_level),
     dm_conf_limit_log_levels},
    dm_null_command,
};

dm_module_t dm_stream_limit_conn_module = {
    .name = "stream_limit_conn",
    .type = DM_MODULE_STREAM,
    .commands = dm_stream_limit_conn_commands,
    .create_main_conf = dm_stream_limit_conn_create_main_conf,
    .create_srv_conf = dm_stream_limit_conn_create_srv_conf,
    .merge_srv_conf = dm_stream_limit_conn_merge_srv_conf,
    .postconfiguration = dm_stream_limit_conn_postconfiguration,
};

static void *
dm_stream_limit_conn_create_main_conf(dm_conf_t *cf)
{
    dm_stream_limit_conn_main_conf_t *conf;

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
dm_stream_limit_conn_create_srv_conf(dm_conf_t *cf)
{
    dm_stream_limit_conn_srv_conf_t *conf;

    conf = dm_pcalloc(cf->pool, sizeof(*conf));
    if (conf) {
        conf->limits = DM_CONF_UNSET_PTR;
        conf->log_level = DM_CONF_UNSET_UINT;
    }
    return conf;
}

static char *
dm_stream_limit_conn_merge_srv_conf(dm_conf_t *cf, void *parent, void *child)
{
    dm_stream_limit_conn_srv_conf_t *prev = parent, *conf = child;

    dm_conf_merge_ptr_value(conf->limits, prev->limits, NULL);
    dm_conf_merge_uint_value(conf->log_level, prev->log_level, DM_LOG_ERR);
    return DM_CONF_OK;
}

static char *
dm_stream_limit_conn_zone(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_stream_limit_conn_main_conf_t *lmcf = conf;
    dm_stream_core_main_conf_t *cmcf =
        dm_stream_conf_get_main(cf->ctx, dm_stream_core_module);

    return dm_limit_conn_zone_directive(cf, &cmcf->variables, &lmcf->zones,
                                        &dm_stream_limit_conn_module);
}

static char *
dm_stream_limit_conn(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_stream_limit_conn_srv_conf_t *lcf = conf;
    dm_stream_limit_conn_main_conf_t *lmcf =
        dm_stream_conf_get_main(cf->ctx, dm_stream_limit_conn_module);

    return dm_limit_conn_directive(cf, &lmcf->zones, &lcf->limits);
}

static void
dm_stream_limit_conn_cleanup(void *data)
{
    dm_stream_limit_conn_cleanup_t *lc = data;

    dm_limit_conn_release(lc->zone, lc->hash);
}

static dm_int_t
dm_stream_limit_conn_handler(void *obj)
{
    dm_stream_session_t *s = obj;
    dm_stream_limit_conn_srv_conf_t *lcf =
        dm_stream_session_srv_conf(s, dm_stream_limit_conn_module);
    dm_connection_t *c = s->connection;
    dm_stream_limit_conn_cleanup_t *lc;
    dm_pool_cleanup_t *cln;
    dm_limit_conn_t *l;
    dm_uint_t i;
    dm_str_t key;
    uint64_t hash;
    dm_int_t rc;

    if (lcf->limits == NULL) {
        return DM_DECLINED;
    }
    l = lcf->limits->elts;
    for (i = 0; i < lcf->limits->nelts; i++) {
        if (dm_complex_eval(&s->vars, &l[i].zone->key, &key) != DM_OK) {
            return DM_ERROR;
        }
        if (key.len == 0) {
            continue; /* an empty key is not counted, as nginx */
        }
        hash = dm_limit_conn_hash(&key);
        /* the cleanup first, so a failure cannot leak a count */
        cln = dm_pool_cleanup_add(c->pool,
                                  sizeof(dm_stream_limit_conn_cleanup_t));
        if (cln == NULL) {
            return DM_ERROR;
        }
        rc = dm_limit_conn_acquire(l[i].zone, hash, l[i].limit);
        if (rc != DM_OK) {
            dm_log_error(lcf->log_level, c->log, 0,
                         "limiting connections%s by zone \"%.*s\"",
                         rc == DM_ERROR ? " (zone full)" : "",
                         DM_STR_ARG(l[i].zone->name));
            dm_stream_session_finalize(s, DM_STREAM_SERVICE_UNAVAILABLE);
            return DM_DONE;
        }
        lc = cln->data;
        lc->zone = l[i].zone;
        lc->hash = hash;
        cln->handler = dm_stream_limit_conn_cleanup;
    }
    return DM_DECLINED;
}

static dm_int_t
dm_stream_limit_conn_postconfiguration(dm_conf_t *cf)
{
    dm_stream_core_main_conf_t *cmcf =
        dm_stream_conf_get_main(cf->ctx, dm_stream_core_module);

    return dm_phase_add(&cmcf->phases, DM_STREAM_PREACCESS_PHASE,
                        dm_stream_limit_conn_handler);
}
