/*
 * doorman: the variables every engine has.
 */
#include <dm_core.h>

static dm_int_t
dm_variable_remote_addr(dm_variable_env_t *env, dm_variable_value_t *v,
                        uintptr_t data)
{
    return dm_variable_set_str(v, env->connection->addr_text.data,
                               env->connection->addr_text.len);
}

static dm_int_t
dm_variable_remote_port(dm_variable_env_t *env, dm_variable_value_t *v,
                        uintptr_t data)
{
    dm_connection_t *c = env->connection;

    /* none for a unix socket, nor for a client address that a header
       gave without its port (set_real_ip_from), as nginx */
    if (c->sockaddr == NULL || c->sockaddr->sa_family == AF_UNIX
        || dm_inet_get_port(c->sockaddr) == 0) {
        v->not_found = 1;
        return DM_OK;
    }
    return dm_variable_set_num(env, v, dm_inet_get_port(c->sockaddr));
}

static dm_int_t
dm_variable_server_addr(dm_variable_env_t *env, dm_variable_value_t *v,
                        uintptr_t data)
{
    dm_connection_t *c = env->connection;
    u_char *p;

    if (dm_connection_local_sockaddr(c) != DM_OK) {
        return DM_ERROR;
    }
    p = dm_pnalloc(env->pool, DM_INET_ADDRSTRLEN);
    if (p == NULL) {
        return DM_ERROR;
    }
    v->len = dm_inet_ntop(c->local_sockaddr, p, DM_INET_ADDRSTRLEN, 0);
    v->data = p;
    return DM_OK;
}

static dm_int_t
dm_variable_server_port(dm_variable_env_t *env, dm_variable_value_t *v,
                        uintptr_t data)
{
    dm_connection_t *c = env->connection;

    if (dm_connection_local_sockaddr(c) != DM_OK) {
        return DM_ERROR;
    }
    if (c->local_sockaddr->sa_family == AF_UNIX) {
        v->not_found = 1;
        return DM_OK;
    }
    return dm_variable_set_num(env, v, dm_inet_get_port(c->local_sockaddr));
}

static dm_int_t
dm_variable_connection(dm_variable_env_t *env, dm_variable_value_t *v,
                       uintptr_t data)
{
    return dm_variable_set_num(env, v, env->connection->number);
}

static dm_int_t
dm_variable_pid(dm_variable_env_t *env, dm_variable_value_t *v, uintptr_t data)
{
    return dm_variable_set_num(env, v, (uint64_t) getpid());
}

static dm_int_t
dm_variable_msec(dm_variable_env_t *env, dm_variable_value_t *v, uintptr_t data)
{
    u_char *p = dm_pnalloc(env->pool, 32);

    if (p == NULL) {
        return DM_ERROR;
    }
    v->len =
        (size_t) snprintf((char *) p, 32, "%lld.%03u", (long long) dm_time_sec,
                          (unsigned) dm_time_msec);
    v->data = p;
    return DM_OK;
}

/* A cached time string: data points at the dm_str_t to copy. */
static dm_int_t
dm_variable_time(dm_variable_env_t *env, dm_variable_value_t *v, uintptr_t data)
{
    dm_str_t *t = (dm_str_t *) data;
    u_char *p = dm_pnalloc(env->pool, t->len);

    if (p == NULL) {
        return DM_ERROR;
    }
    memcpy(p, t->data, t->len);
    v->data = p;
    v->len = t->len;
    return DM_OK;
}

static dm_int_t
dm_variable_hostname(dm_variable_env_t *env, dm_variable_value_t *v,
                     uintptr_t data)
{
    return dm_variable_set_str(v, dm_cycle->hostname.data,
                               dm_cycle->hostname.len);
}

/* $0 ... $9: the captures of the last regex match. */
static dm_int_t
dm_variable_capture(dm_variable_env_t *env, dm_variable_value_t *v, uintptr_t n)
{
    if (n >= env->ncaptures || env->captures[2 * n] == (size_t) -1) {
        v->not_found = 1;
        return DM_OK;
    }
    v->data = env->subject + env->captures[2 * n];
    v->len = env->captures[2 * n + 1] - env->captures[2 * n];
    return DM_OK;
}


dm_int_t
dm_variable_add_table(dm_conf_t *cf, dm_variable_registry_t *reg,
                      const dm_variable_decl_t *t, dm_uint_t n)
{
    dm_variable_t *v;
    dm_str_t name;
    dm_uint_t i;

    for (i = 0; i < n; i++) {
        name.data = (u_char *) t[i].name;
        name.len = strlen(t[i].name);
        v = dm_variable_add(cf, reg, &name, t[i].flags);
        if (v == NULL) {
            return DM_ERROR;
        }
        v->get = t[i].get;
        v->data = t[i].data;
    }
    return DM_OK;
}

dm_int_t
dm_variable_add_common(dm_conf_t *cf, dm_variable_registry_t *reg)
{
    const dm_variable_decl_t common[] = {
        {"remote_addr", dm_variable_remote_addr, 0, 0},
        {"remote_port", dm_variable_remote_port, 0, 0},
        {"server_addr", dm_variable_server_addr, 0, 0},
        {"server_port", dm_variable_server_port, 0, 0},
        {"connection", dm_variable_connection, 0, 0},
        {"pid", dm_variable_pid, 0, 0},
        {"msec", dm_variable_msec, 0, DM_VAR_NOCACHEABLE},
        {"time_iso8601", dm_variable_time, (uintptr_t) &dm_cached_iso8601_time,
         DM_VAR_NOCACHEABLE},
        {"time_local", dm_variable_time, (uintptr_t) &dm_cached_http_log_time,
         DM_VAR_NOCACHEABLE},
        {"hostname", dm_variable_hostname, 0, 0},
    };
    static const char *const digits[] = {"0", "1", "2", "3", "4",
                                         "5", "6", "7", "8", "9"};
    dm_variable_t *v;
    dm_str_t name;
    dm_uint_t i;

    if (dm_variable_add_table(cf, reg, common, dm_nelems(common)) != DM_OK) {
        return DM_ERROR;
    }
    for (i = 0; i < dm_nelems(digits); i++) {
        name.data = (u_char *) digits[i];
        name.len = 1;
        v = dm_variable_add(cf, reg, &name, DM_VAR_NOCACHEABLE);
        if (v == NULL) {
            return DM_ERROR;
        }
        v->get = dm_variable_capture;
        v->data = i;
    }
    return DM_OK;
}
