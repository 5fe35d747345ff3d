/*
 * doorman: the stream engine's own variables.
 */
#include <dm_core.h>
#include <dm_stream.h>

static dm_int_t
dm_stream_var_bytes(dm_variable_env_t *env, dm_variable_value_t *v,
                    uintptr_t received)
{
    dm_connection_t *c = env->connection;

    return dm_variable_set_num(env, v,
                               (uint64_t) (received ? c->received : c->sent));
}

static dm_int_t
dm_stream_var_session_time(dm_variable_env_t *env, dm_variable_value_t *v,
                           uintptr_t data)
{
    dm_msec_t ms = dm_current_msec - env->start_msec;
    u_char *p = dm_pnalloc(env->pool, 32);

    if (p == NULL) {
        return DM_ERROR;
    }
    v->len = (size_t) snprintf((char *) p, 32, "%llu.%03u",
                               (unsigned long long) (ms / 1000),
                               (unsigned) (ms % 1000));
    v->data = p;
    return DM_OK;
}

static dm_int_t
dm_stream_var_status(dm_variable_env_t *env, dm_variable_value_t *v,
                     uintptr_t data)
{
    dm_stream_session_t *s = env->obj;

    return dm_variable_set_num(env, v, s->status);
}

static dm_int_t
dm_stream_var_protocol(dm_variable_env_t *env, dm_variable_value_t *v,
                       uintptr_t data)
{
    return env->connection->type == SOCK_DGRAM
               ? dm_variable_set_str(v, (u_char *) "UDP", 3)
               : dm_variable_set_str(v, (u_char *) "TCP", 3);
}

static dm_int_t
dm_stream_var_upstream_addr(dm_variable_env_t *env, dm_variable_value_t *v,
                            uintptr_t data)
{
    dm_stream_session_t *s = env->obj;

    if (s->upstream_addr.len == 0) {
        v->not_found = 1;
        return DM_OK;
    }
    return dm_variable_set_str(v, s->upstream_addr.data, s->upstream_addr.len);
}

dm_int_t
dm_stream_variables_add(dm_conf_t *cf, dm_variable_registry_t *reg)
{
    /* values that change while a session runs are not cached: the log
       phase must see the final byte counts */
    static const struct {
        const char *name;
        dm_variable_get_pt get;
        uintptr_t data;
    } vars[] = {
        {"bytes_sent", dm_stream_var_bytes, 0},
        {"bytes_received", dm_stream_var_bytes, 1},
        {"session_time", dm_stream_var_session_time, 0},
        {"status", dm_stream_var_status, 0},
        {"protocol", dm_stream_var_protocol, 0},
        {"upstream_addr", dm_stream_var_upstream_addr, 0},
    };
    dm_variable_t *v;
    dm_str_t name;
    dm_uint_t i;

    for (i = 0; i < dm_nelems(vars); i++) {
        name.data = (u_char *) vars[i].name;
        name.len = strlen(vars[i].name);
        v = dm_variable_add(cf, reg, &name, DM_VAR_NOCACHEABLE);
        if (v == NULL) {
            return DM_ERROR;
        }
        v->get = vars[i].get;
        v->data = vars[i].data;
    }
    return DM_OK;
}
