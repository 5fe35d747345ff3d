/*
 * doorman: typed setters for directive tables.
 *
 * Each setter writes the field at cmd->offset of the level's structure,
 * refuses a second occurrence at the same level ("is duplicate"), and
 * checks the value against the bounds or table in cmd->post, naming the
 * offending value in its message.
 */
#include <dm_core.h>

#define dm_conf_field(conf, cmd, type)                                         \
    ((type *) ((u_char *) (conf) + (cmd)->offset))

static char *
dm_conf_bad_value(dm_conf_t *cf, const char *hint)
{
    dm_str_t *v = cf->args->elts;

    dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                      "invalid value \"%s\" in \"%s\" directive%s%s", v[1].data,
                      v[0].data, hint ? ", " : "", hint ? hint : "");
    return DM_CONF_ERROR;
}

static char *
dm_conf_check_bounds(dm_conf_t *cf, const dm_command_t *cmd, int64_t v)
{
    const dm_conf_bounds_t *b = cmd->post;
    dm_str_t *value = cf->args->elts;

    if (b == NULL || (v >= b->min && v <= b->max)) {
        return DM_CONF_OK;
    }
    dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                      "value \"%s\" in \"%s\" directive is out of bounds, "
                      "it must be between %lld and %lld",
                      value[1].data, value[0].data, (long long) b->min,
                      (long long) b->max);
    return DM_CONF_ERROR;
}

char *
dm_conf_set_flag_slot(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_flag_t *fp = dm_conf_field(conf, cmd, dm_flag_t);
    dm_str_t *value = cf->args->elts;

    if (*fp != DM_CONF_UNSET) {
        return "is duplicate";
    }
    if (dm_str_caseeq(&value[1], "on")) {
        *fp = 1;
    } else if (dm_str_caseeq(&value[1], "off")) {
        *fp = 0;
    } else {
        return dm_conf_bad_value(cf, "it must be \"on\" or \"off\"");
    }
    return DM_CONF_OK;
}

char *
dm_conf_set_num_slot(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_int_t *np = dm_conf_field(conf, cmd, dm_int_t);
    dm_str_t *value = cf->args->elts;
    int64_t v;

    if (*np != DM_CONF_UNSET) {
        return "is duplicate";
    }
    v = dm_parse_int(value[1].data, value[1].len);
    if (v < 0) {
        return dm_conf_bad_value(cf, "it must be a number");
    }
    if (dm_conf_check_bounds(cf, cmd, v) != DM_CONF_OK) {
        return DM_CONF_ERROR;
    }
    *np = (dm_int_t) v;
    return DM_CONF_OK;
}

char *
dm_conf_set_size_slot(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    size_t *sp = dm_conf_field(conf, cmd, size_t);
    dm_str_t *value = cf->args->elts;
    int64_t v;

    if (*sp != DM_CONF_UNSET_SIZE) {
        return "is duplicate";
    }
    v = dm_parse_size(value[1].data, value[1].len);
    if (v < 0) {
        return dm_conf_bad_value(cf, "it must be a size (16k, 1m)");
    }
    if (dm_conf_check_bounds(cf, cmd, v) != DM_CONF_OK) {
        return DM_CONF_ERROR;
    }
    *sp = (size_t) v;
    return DM_CONF_OK;
}

char *
dm_conf_set_msec_slot(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_msec_t *mp = dm_conf_field(conf, cmd, dm_msec_t);
    dm_str_t *value = cf->args->elts;
    int64_t v;

    if (*mp != DM_CONF_UNSET_MSEC) {
        return "is duplicate";
    }
    v = dm_parse_msec(value[1].data, value[1].len);
    if (v < 0) {
        return dm_conf_bad_value(cf, "it must be a time (500ms, 10s, 1h)");
    }
    if (dm_conf_check_bounds(cf, cmd, v) != DM_CONF_OK) {
        return DM_CONF_ERROR;
    }
    *mp = (dm_msec_t) v;
    return DM_CONF_OK;
}

char *
dm_conf_set_sec_slot(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    time_t *tp = dm_conf_field(conf, cmd, time_t);
    dm_str_t *value = cf->args->elts;
    int64_t v;

    if (*tp != DM_CONF_UNSET) {
        return "is duplicate";
    }
    v = dm_parse_sec(value[1].data, value[1].len);
    if (v < 0) {
        return dm_conf_bad_value(cf, "it must be a time in seconds (10s, 1h)");
    }
    if (dm_conf_check_bounds(cf, cmd, v) != DM_CONF_OK) {
        return DM_CONF_ERROR;
    }
    *tp = (time_t) v;
    return DM_CONF_OK;
}

char *
dm_conf_set_str_slot(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_str_t *sp = dm_conf_field(conf, cmd, dm_str_t);
    dm_str_t *value = cf->args->elts;

    if (sp->data) {
        return "is duplicate";
    }
    *sp = value[1];
    return DM_CONF_OK;
}

const dm_conf_enum_t dm_conf_limit_log_levels[] = {
    {dm_string("info"), DM_LOG_INFO},
    {dm_string("notice"), DM_LOG_NOTICE},
    {dm_string("warn"), DM_LOG_WARN},
    {dm_string("error"), DM_LOG_ERR},
    {dm_null_string, 0},
};

char *
dm_conf_set_enum_slot(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_uint_t *ep = dm_conf_field(conf, cmd, dm_uint_t);
    const dm_conf_enum_t *e;
    dm_str_t *value = cf->args->elts;
    char hint[512];
    size_t n = 0;

    if (*ep != DM_CONF_UNSET_UINT) {
        return "is duplicate";
    }
    for (e = cmd->post; e->name.len; e++) {
        if (value[1].len == e->name.len
            && strncasecmp((const char *) value[1].data,
                           (const char *) e->name.data, e->name.len)
                   == 0) {
            *ep = e->value;
            return DM_CONF_OK;
        }
    }

    n = (size_t) snprintf(hint, sizeof(hint), "it must be one of");
    for (e = cmd->post; e->name.len && n < sizeof(hint); e++) {
        n += (size_t) snprintf(hint + n, sizeof(hint) - n, "%s \"%.*s\"",
                               e == cmd->post ? "" : ",", DM_STR_ARG(e->name));
    }
    return dm_conf_bad_value(cf, hint);
}

char *
dm_conf_set_str_array_slot(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_array_t **ap = dm_conf_field(conf, cmd, dm_array_t *);
    dm_str_t *value = cf->args->elts, *s;

    if (*ap == DM_CONF_UNSET_PTR || *ap == NULL) {
        *ap = dm_array_create(cf->pool, 4, sizeof(dm_str_t));
        if (*ap == NULL) {
            return DM_CONF_ERROR;
        }
    }
    s = dm_array_push(*ap);
    if (s == NULL) {
        return DM_CONF_ERROR;
    }
    *s = value[1];
    return DM_CONF_OK;
}

char *
dm_conf_set_keyval_slot(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_array_t **ap = dm_conf_field(conf, cmd, dm_array_t *);
    dm_str_t *value = cf->args->elts;
    dm_keyval_t *kv;

    if (*ap == DM_CONF_UNSET_PTR || *ap == NULL) {
        *ap = dm_array_create(cf->pool, 4, sizeof(dm_keyval_t));
        if (*ap == NULL) {
            return DM_CONF_ERROR;
        }
    }
    kv = dm_array_push(*ap);
    if (kv == NULL) {
        return DM_CONF_ERROR;
    }
    kv->key = value[1];
    kv->value = value[2];
    return DM_CONF_OK;
}
