/*
 * doorman: allow / deny in http (the ACCESS phase).
 *
 *   allow ADDRESS | CIDR | unix: | all;   deny ...;   (http, server,
 *                                                      location)
 *
 * Rules are checked in order, the first match decides; a level that has
 * rules replaces those of the level above, as nginx. A denied request is
 * answered 403 with a log line. As in nginx, a `return` runs earlier (the
 * REWRITE phases), so it answers without these rules being checked.
 */
#include <dm_core.h>
#include <dm_cidr.h>
#include <dm_http_conf.h>
#include <dm_http_request.h>

typedef struct {
    dm_array_t *rules; /* dm_cidr_rule_t, or unset */
} dm_http_access_loc_conf_t;

static void *dm_http_access_create_loc_conf(dm_conf_t *cf);
static char *dm_http_access_merge_loc_conf(dm_conf_t *cf, void *parent,
                                           void *child);
static dm_int_t dm_http_access_postconfiguration(dm_conf_t *cf);

static const dm_command_t dm_http_access_commands[] = {
    {dm_string("allow"),
     DM_HTTP_MAIN_CONF | DM_HTTP_SRV_CONF | DM_HTTP_LOC_CONF, DM_CONF_TAKE1,
     dm_cidr_set_rule, DM_CONF_LEVEL_LOC,
     offsetof(dm_http_access_loc_conf_t, rules), NULL},
    {dm_string("deny"), DM_HTTP_MAIN_CONF | DM_HTTP_SRV_CONF | DM_HTTP_LOC_CONF,
     DM_CONF_TAKE1, dm_cidr_set_rule, DM_CONF_LEVEL_LOC,
     offsetof(dm_http_access_loc_conf_t, rules), NULL},
    dm_null_command,
};

dm_module_t dm_http_access_module = {
    .name = "http_access",
    .type = DM_MODULE_HTTP,
    .commands = dm_http_access_commands,
    .create_loc_conf = dm_http_access_create_loc_conf,
    .merge_loc_conf = dm_http_access_merge_loc_conf,
    .postconfiguration = dm_http_access_postconfiguration,
};

static void *
dm_http_access_create_loc_conf(dm_conf_t *cf)
{
    dm_http_access_loc_conf_t *conf;

    conf = dm_pcalloc(cf->pool, sizeof(*conf));
    if (conf) {
        conf->rules = DM_CONF_UNSET_PTR;
    }
    return conf;
}

static char *
dm_http_access_merge_loc_conf(dm_conf_t *cf, void *parent, void *child)
{
    dm_http_access_loc_conf_t *prev = parent, *conf = child;

    /* the whole list or nothing: rules of two levels never mix */
    dm_conf_merge_ptr_value(conf->rules, prev->rules, NULL);
    return DM_CONF_OK;
}

static dm_int_t
dm_http_access_handler(void *obj)
{
    dm_http_request_t *r = obj;
    dm_http_access_loc_conf_t *acf =
        dm_http_request_loc_conf(r, dm_http_access_module);
    int matched;

    if (acf->rules == NULL
        || !dm_cidr_denied(acf->rules, r->connection->sockaddr, &matched)) {
        return DM_DECLINED;
    }
    dm_log_error(DM_LOG_ERR, r->connection->log, 0, "access forbidden by rule");
    return dm_http_request_respond(r, 403, NULL, NULL);
}

static dm_int_t
dm_http_access_postconfiguration(dm_conf_t *cf)
{
    dm_http_core_main_conf_t *cmcf =
        dm_http_conf_get_main(cf->ctx, dm_http_core_module);

    return dm_phase_add(&cmcf->phases, DM_HTTP_ACCESS_PHASE,
                        dm_http_access_handler);
}
