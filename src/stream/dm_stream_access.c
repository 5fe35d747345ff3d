/*
 * doorman: allow / deny in stream (the ACCESS phase).
 *
 *   allow ADDRESS | CIDR | unix: | all;   deny ...;   (stream, server)
 *
 * Rules are checked in order, the first match decides; a level that has
 * rules replaces those of the level above. A denied client is closed
 * with $status 403 and a log line, before any byte goes upstream.
 */
#include <dm_core.h>
#include <dm_cidr.h>
#include <dm_stream.h>

typedef struct {
    dm_array_t *rules; /* dm_cidr_rule_t, or unset */
} dm_stream_access_srv_conf_t;

static void *dm_stream_access_create_srv_conf(dm_conf_t *cf);
static char *dm_stream_access_merge_srv_conf(dm_conf_t *cf, void *parent,
                                             void *child);
static dm_int_t dm_stream_access_postconfiguration(dm_conf_t *cf);

static const dm_command_t dm_stream_access_commands[] = {
    {dm_string("allow"), DM_STREAM_MAIN_CONF | DM_STREAM_SRV_CONF,
     DM_CONF_TAKE1, dm_cidr_set_rule, DM_CONF_LEVEL_SRV,
     offsetof(dm_stream_access_srv_conf_t, rules), NULL},
    {dm_string("deny"), DM_STREAM_MAIN_CONF | DM_STREAM_SRV_CONF, DM_CONF_TAKE1,
     dm_cidr_set_rule, DM_CONF_LEVEL_SRV,
     offsetof(dm_stream_access_srv_conf_t, rules), NULL},
    dm_null_command,
};

dm_module_t dm_stream_access_module = {
    .name = "stream_access",
    .type = DM_MODULE_STREAM,
    .commands = dm_stream_access_commands,
    .create_srv_conf = dm_stream_access_create_srv_conf,
    .merge_srv_conf = dm_stream_access_merge_srv_conf,
    .postconfiguration = dm_stream_access_postconfiguration,
};

static void *
dm_stream_access_create_srv_conf(dm_conf_t *cf)
{
    dm_stream_access_srv_conf_t *conf;

    conf = dm_pcalloc(cf->pool, sizeof(*conf));
    if (conf) {
        conf->rules = DM_CONF_UNSET_PTR;
    }
    return conf;
}

static char *
dm_stream_access_merge_srv_conf(dm_conf_t *cf, void *parent, void *child)
{
    dm_stream_access_srv_conf_t *prev = parent, *conf = child;

    dm_conf_merge_ptr_value(conf->rules, prev->rules, NULL);
    return DM_CONF_OK;
}

static dm_int_t
dm_stream_access_handler(void *obj)
{
    dm_stream_session_t *s = obj;
    dm_stream_access_srv_conf_t *acf =
        dm_stream_session_srv_conf(s, dm_stream_access_module);
    int matched;

    if (acf->rules == NULL
        || !dm_cidr_denied(acf->rules, s->connection->sockaddr, &matched)) {
        return DM_DECLINED;
    }
    dm_log_error(DM_LOG_ERR, s->connection->log, 0, "access forbidden by rule");
    dm_stream_session_finalize(s, DM_STREAM_FORBIDDEN);
    return DM_DONE;
}

static dm_int_t
dm_stream_access_postconfiguration(dm_conf_t *cf)
{
    dm_stream_core_main_conf_t *cmcf =
        dm_stream_conf_get_main(cf->ctx, dm_stream_core_module);

    return dm_phase_add(&cmcf->phases, DM_STREAM_ACCESS_PHASE,
                        dm_stream_access_handler);
}
