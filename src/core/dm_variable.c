/*
 * doorman: variables: declarations, indexes, the per-session cache.
 */
#include <dm_core.h>

dm_int_t
dm_variable_registry_init(dm_variable_registry_t *reg, dm_pool_t *pool,
                          const char *engine)
{
    reg->engine = engine;
    if (dm_array_init(&reg->vars, pool, 32, sizeof(dm_variable_t)) != DM_OK
        || dm_array_init(&reg->indexed, pool, 16, sizeof(dm_variable_t))
               != DM_OK) {
        return DM_ERROR;
    }
    return DM_OK;
}

static dm_variable_t *
dm_variable_find(dm_array_t *a, const dm_str_t *name)
{
    dm_variable_t *v = a->elts;
    dm_uint_t i;

    for (i = 0; i < a->nelts; i++) {
        if (v[i].name.len == name->len
            && strncasecmp((const char *) v[i].name.data,
                           (const char *) name->data, name->len)
                   == 0) {
            return &v[i];
        }
    }
    return NULL;
}

dm_variable_t *
dm_variable_add(dm_conf_t *cf, dm_variable_registry_t *reg,
                const dm_str_t *name, dm_uint_t flags)
{
    dm_variable_t *v;

    v = dm_variable_find(&reg->vars, name);
    if (v) {
        if ((v->flags & DM_VAR_CHANGEABLE) && (flags & DM_VAR_CHANGEABLE)) {
            return v;
        }
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "the \"$%.*s\" variable is defined twice",
                          DM_STR_ARG(*name));
        return NULL;
    }
    v = dm_array_push(&reg->vars);
    if (v == NULL) {
        return NULL;
    }
    memset(v, 0, sizeof(*v));
    v->name.len = name->len;
    v->name.data = dm_pstrdup(cf->pool, name);
    if (v->name.data == NULL) {
        return NULL;
    }
    v->flags = flags;
    return v;
}

dm_int_t
dm_variable_index(dm_conf_t *cf, dm_variable_registry_t *reg,
                  const dm_str_t *name)
{
    dm_variable_t *v;

    if (name->len == 0) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0, "invalid variable name");
        return DM_ERROR;
    }
    v = dm_variable_find(&reg->indexed, name);
    if (v) {
        return (dm_int_t) v->index;
    }
    if (reg->indexed.nelts >= DM_VAR_MAX_INDEXED) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0, "too many variables");
        return DM_ERROR;
    }
    v = dm_array_push(&reg->indexed);
    if (v == NULL) {
        return DM_ERROR;
    }
    memset(v, 0, sizeof(*v));
    v->name.len = name->len;
    v->name.data = dm_pstrdup(cf->pool, name);
    if (v->name.data == NULL) {
        return DM_ERROR;
    }
    v->index = reg->indexed.nelts - 1;
    if (cf->file) {
        v->file = cf->file->name;
        v->line = cf->file->dir_line;
    }
    return (dm_int_t) v->index;
}

dm_int_t
dm_variable_finalize(dm_conf_t *cf, dm_variable_registry_t *reg)
{
    dm_variable_t *used = reg->indexed.elts, *decl = reg->vars.elts, *v;
    dm_uint_t i, j;
    dm_str_t *full;

    for (i = 0; i < reg->indexed.nelts; i++) {
        v = dm_variable_find(&reg->vars, &used[i].name);
        if (v && !(v->flags & DM_VAR_PREFIX)) {
            used[i].get = v->get;
            used[i].data = v->data;
            used[i].flags = v->flags;
            continue;
        }
        /* a family: the getter gets the full name to pick its part */
        for (j = 0; j < reg->vars.nelts; j++) {
            if ((decl[j].flags & DM_VAR_PREFIX)
                && used[i].name.len > decl[j].name.len
                && strncasecmp((const char *) used[i].name.data,
                               (const char *) decl[j].name.data,
                               decl[j].name.len)
                       == 0) {
                break;
            }
        }
        if (j == reg->vars.nelts) {
            dm_log_error(DM_LOG_EMERG, cf->log, 0,
                         "unknown \"$%.*s\" variable in %.*s:%lu",
                         DM_STR_ARG(used[i].name), DM_STR_ARG(used[i].file),
                         (unsigned long) used[i].line);
            return DM_ERROR;
        }
        full = dm_palloc(cf->pool, sizeof(dm_str_t));
        if (full == NULL) {
            return DM_ERROR;
        }
        *full = used[i].name;
        used[i].get = decl[j].get;
        used[i].data = (uintptr_t) full;
        used[i].flags = decl[j].flags & ~DM_VAR_PREFIX;
    }
    return DM_OK;
}

dm_int_t
dm_variable_env_init(dm_variable_env_t *env, dm_variable_registry_t *reg,
                     dm_pool_t *pool, dm_connection_t *c, void *obj)
{
    memset(env, 0, sizeof(*env));
    env->pool = pool;
    env->connection = c;
    env->obj = obj;
    env->registry = reg;
    env->start_msec = dm_current_msec;
    if (reg->indexed.nelts) {
        env->values =
            dm_pcalloc(pool, reg->indexed.nelts * sizeof(dm_variable_value_t));
        if (env->values == NULL) {
            return DM_ERROR;
        }
    }
    return DM_OK;
}

dm_variable_value_t *
dm_variable_value(dm_variable_env_t *env, dm_uint_t index)
{
    dm_variable_t *v = env->registry->indexed.elts;
    dm_variable_value_t *val;

    if (index >= env->registry->indexed.nelts) {
        return NULL;
    }
    val = &env->values[index];
    if (val->valid && !val->no_cacheable) {
        return val;
    }
    if (v[index].flags & DM_VAR_MATCH) {
        /* set by a match, or empty */
        if (!val->valid) {
            val->not_found = 1;
            val->valid = 1;
        }
        return val;
    }
    memset(val, 0, sizeof(*val));
    if (v[index].get == NULL
        || v[index].get(env, val, v[index].data) != DM_OK) {
        return NULL;
    }
    val->valid = 1;
    if (v[index].flags & DM_VAR_NOCACHEABLE) {
        val->no_cacheable = 1;
    }
    return val;
}

void
dm_variable_set_captures(dm_variable_env_t *env, u_char *subject,
                         const size_t *ovector, dm_uint_t pairs)
{
    dm_uint_t i;

    if (pairs > DM_VAR_MAX_CAPTURES) {
        pairs = DM_VAR_MAX_CAPTURES;
    }
    env->subject = subject;
    for (i = 0; i < 2 * pairs; i++) {
        env->captures[i] = ovector[i];
    }
    env->ncaptures = pairs;
}

void
dm_variable_set_value(dm_variable_env_t *env, dm_uint_t index, u_char *data,
                      size_t len)
{
    dm_variable_value_t *val;

    if (index >= env->registry->indexed.nelts) {
        return;
    }
    val = &env->values[index];
    memset(val, 0, sizeof(*val));
    val->data = data;
    val->len = len;
    val->valid = 1;
}

dm_int_t
dm_variable_set_str(dm_variable_value_t *v, u_char *data, size_t len)
{
    v->data = data;
    v->len = len;
    v->not_found = 0;
    return DM_OK;
}

dm_int_t
dm_variable_set_num(dm_variable_env_t *env, dm_variable_value_t *v, uint64_t n)
{
    u_char *p = dm_pnalloc(env->pool, 24);

    if (p == NULL) {
        return DM_ERROR;
    }
    v->len = (size_t) snprintf((char *) p, 24, "%llu", (unsigned long long) n);
    v->data = p;
    return DM_OK;
}
