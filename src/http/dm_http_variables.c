/*
 * doorman: the request variables of the http engine.
 *
 *   $request_method $request_uri $uri $args $arg_NAME $http_NAME
 *   $cookie_NAME $host $scheme $server_protocol $request $request_length
 *   $request_time $status $body_bytes_sent $request_id $remote_user
 */
#include <dm_core.h>
#include <dm_http_conf.h>
#include <dm_http_parse.h>
#include <dm_http_request.h>

#include <openssl/rand.h>

/* 128 random bits in hex, from OpenSSL's per-process CSPRNG. */
dm_int_t
dm_http_request_id(dm_http_request_t *r)
{
    static const char hex[] = "0123456789abcdef";
    u_char rnd[16];
    dm_uint_t i;

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return DM_ERROR;
    }
    for (i = 0; i < sizeof(rnd); i++) {
        r->request_id[2 * i] = (u_char) hex[rnd[i] >> 4];
        r->request_id[2 * i + 1] = (u_char) hex[rnd[i] & 15];
    }
    return DM_OK;
}

/* A dm_str_t field of the request head. */
static dm_int_t
dm_http_var_head(dm_variable_env_t *env, dm_variable_value_t *v, uintptr_t off)
{
    dm_http_request_t *r = env->obj;
    dm_str_t *s = (dm_str_t *) ((u_char *) &r->head + off);

    if (s->data == NULL) {
        v->not_found = 1;
        return DM_OK;
    }
    return dm_variable_set_str(v, s->data, s->len);
}

/* $request_uri: the target as sent; $request: the request line. */
static dm_int_t
dm_http_var_line(dm_variable_env_t *env, dm_variable_value_t *v,
                 uintptr_t whole)
{
    dm_http_request_t *r = env->obj;
    dm_http_request_head_t *h = &r->head;
    size_t len;
    u_char *p;

    if (!whole) {
        return dm_variable_set_str(v, h->target.data, h->target.len);
    }
    if (h->method.data == NULL) {
        v->not_found = 1;
        return DM_OK;
    }
    len = h->method.len + 1 + h->target.len + 9;
    p = dm_pnalloc(env->pool, len + 1);
    if (p == NULL) {
        return DM_ERROR;
    }
    v->len = (size_t) snprintf((char *) p, len + 1, "%.*s %.*s HTTP/%u.%u",
                               DM_STR_ARG(h->method), DM_STR_ARG(h->target),
                               h->version / 10, h->version % 10);
    v->data = p;
    return DM_OK;
}

static dm_int_t
dm_http_var_host(dm_variable_env_t *env, dm_variable_value_t *v, uintptr_t data)
{
    dm_http_request_t *r = env->obj;
    dm_http_core_srv_conf_t *cscf =
        dm_http_request_srv_conf(r, dm_http_core_module);
    dm_str_t *names = cscf->names.elts;
    u_char *p;

    if (r->head.host_name.len) {
        /* lower case, as nginx */
        p = dm_pnalloc(env->pool, r->head.host_name.len);
        if (p == NULL) {
            return DM_ERROR;
        }
        dm_strlow(p, r->head.host_name.data, r->head.host_name.len);
        return dm_variable_set_str(v, p, r->head.host_name.len);
    }
    if (cscf->names.nelts) {
        return dm_variable_set_str(v, names[0].data, names[0].len);
    }
    return dm_variable_set_str(v, (u_char *) "", 0);
}

static dm_int_t
dm_http_var_fixed(dm_variable_env_t *env, dm_variable_value_t *v,
                  uintptr_t which)
{
    dm_http_request_t *r = env->obj;

    switch (which) {
    case 0:
        return env->connection->ssl
                   ? dm_variable_set_str(v, (u_char *) "https", 5)
                   : dm_variable_set_str(v, (u_char *) "http", 4);
    case 1:
        return r->head.version == 10
                   ? dm_variable_set_str(v, (u_char *) "HTTP/1.0", 8)
                   : dm_variable_set_str(v, (u_char *) "HTTP/1.1", 8);
    case 2:
        /* made when first used: most requests never need one */
        if (r->request_id[0] == '\0' && dm_http_request_id(r) != DM_OK) {
            return DM_ERROR;
        }
        return dm_variable_set_str(v, r->request_id, 32);
    default:
        v->not_found = 1; /* $remote_user: no authentication yet */
        return DM_OK;
    }
}

static dm_int_t
dm_http_var_num(dm_variable_env_t *env, dm_variable_value_t *v, uintptr_t which)
{
    dm_http_request_t *r = env->obj;
    dm_msec_t ms;
    u_char *p;

    switch (which) {
    case 0:
        return dm_variable_set_num(env, v, r->status);
    case 1:
        return dm_variable_set_num(env, v, (uint64_t) r->body_bytes_sent);
    case 2:
        return dm_variable_set_num(env, v, r->head_len + r->body_received);
    default:
        ms = dm_current_msec - r->start_msec;
        p = dm_pnalloc(env->pool, 32);
        if (p == NULL) {
            return DM_ERROR;
        }
        v->len = (size_t) snprintf((char *) p, 32, "%llu.%03u",
                                   (unsigned long long) (ms / 1000),
                                   (unsigned) (ms % 1000));
        v->data = p;
        return DM_OK;
    }
}

/* $http_NAME: the first header NAME (dashes written as underscores). */
static dm_int_t
dm_http_var_header(dm_variable_env_t *env, dm_variable_value_t *v,
                   uintptr_t data)
{
    dm_http_request_t *r = env->obj;
    dm_str_t *full = (dm_str_t *) data;
    const u_char *want = full->data + 5;
    size_t wlen = full->len - 5, i, k;
    dm_http_header_t *h;

    for (k = 0; k < r->head.nheaders; k++) {
        h = &r->head.headers[k];
        if (h->name.len != wlen) {
            continue;
        }
        for (i = 0; i < wlen; i++) {
            u_char a = h->name.data[i] | 0x20, b = want[i] | 0x20;

            if (a != b && !(h->name.data[i] == '-' && want[i] == '_')) {
                break;
            }
        }
        if (i == wlen) {
            return dm_variable_set_str(v, h->value.data, h->value.len);
        }
    }
    v->not_found = 1;
    return DM_OK;
}

/* $arg_NAME in the query string; $cookie_NAME in Cookie headers. */
static int
dm_http_var_find_pair(const u_char *p, const u_char *end, u_char sep,
                      const u_char *name, size_t nlen, dm_str_t *out)
{
    const u_char *k, *eq, *next;

    while (p < end) {
        while (p < end && (*p == ' ' || *p == sep)) {
            p++;
        }
        next = memchr(p, sep, (size_t) (end - p));
        if (next == NULL) {
            next = end;
        }
        k = p;
        eq = memchr(k, '=', (size_t) (next - k));
        if (eq && (size_t) (eq - k) == nlen
            && strncasecmp((const char *) k, (const char *) name, nlen) == 0) {
            out->data = (u_char *) eq + 1;
            out->len = (size_t) (next - eq - 1);
            return 1;
        }
        p = next;
    }
    return 0;
}

static dm_int_t
dm_http_var_arg(dm_variable_env_t *env, dm_variable_value_t *v, uintptr_t data)
{
    dm_http_request_t *r = env->obj;
    dm_str_t *full = (dm_str_t *) data, out;

    if (r->head.args.len
        && dm_http_var_find_pair(r->head.args.data,
                                 r->head.args.data + r->head.args.len, '&',
                                 full->data + 4, full->len - 4, &out)) {
        return dm_variable_set_str(v, out.data, out.len);
    }
    v->not_found = 1;
    return DM_OK;
}

static dm_int_t
dm_http_var_cookie(dm_variable_env_t *env, dm_variable_value_t *v,
                   uintptr_t data)
{
    dm_http_request_t *r = env->obj;
    dm_str_t *full = (dm_str_t *) data, out;
    dm_http_header_t *h;
    size_t k;

    for (k = 0; k < r->head.nheaders; k++) {
        h = &r->head.headers[k];
        if (dm_http_header_is(h, "cookie")
            && dm_http_var_find_pair(h->value.data,
                                     h->value.data + h->value.len, ';',
                                     full->data + 7, full->len - 7, &out)) {
            return dm_variable_set_str(v, out.data, out.len);
        }
    }
    v->not_found = 1;
    return DM_OK;
}

dm_int_t
dm_http_variables_add(dm_conf_t *cf, dm_variable_registry_t *reg)
{
    static const struct {
        const char *name;
        dm_variable_get_pt get;
        uintptr_t data;
        dm_uint_t flags;
    } vars[] = {
        /* a rewrite or an internal redirect changes these: not cached */
        {"request_method", dm_http_var_head,
         offsetof(dm_http_request_head_t, method), DM_VAR_NOCACHEABLE},
        {"uri", dm_http_var_head, offsetof(dm_http_request_head_t, path),
         DM_VAR_NOCACHEABLE},
        {"args", dm_http_var_head, offsetof(dm_http_request_head_t, args),
         DM_VAR_NOCACHEABLE},
        {"query_string", dm_http_var_head,
         offsetof(dm_http_request_head_t, args), DM_VAR_NOCACHEABLE},
        {"request_uri", dm_http_var_line, 0, 0},
        {"request", dm_http_var_line, 1, 0},
        {"host", dm_http_var_host, 0, 0},
        {"scheme", dm_http_var_fixed, 0, 0},
        {"server_protocol", dm_http_var_fixed, 1, 0},
        {"request_id", dm_http_var_fixed, 2, 0},
        {"remote_user", dm_http_var_fixed, 3, 0},
        {"status", dm_http_var_num, 0, DM_VAR_NOCACHEABLE},
        {"body_bytes_sent", dm_http_var_num, 1, DM_VAR_NOCACHEABLE},
        {"request_length", dm_http_var_num, 2, DM_VAR_NOCACHEABLE},
        {"request_time", dm_http_var_num, 3, DM_VAR_NOCACHEABLE},
        {"http_", dm_http_var_header, 0, DM_VAR_PREFIX},
        {"arg_", dm_http_var_arg, 0, DM_VAR_PREFIX | DM_VAR_NOCACHEABLE},
        {"cookie_", dm_http_var_cookie, 0, DM_VAR_PREFIX},
    };
    dm_variable_t *v;
    dm_str_t name;
    dm_uint_t i;

    for (i = 0; i < dm_nelems(vars); i++) {
        name.data = (u_char *) vars[i].name;
        name.len = strlen(vars[i].name);
        v = dm_variable_add(cf, reg, &name, vars[i].flags);
        if (v == NULL) {
            return DM_ERROR;
        }
        v->get = vars[i].get;
        v->data = vars[i].data;
    }
    return DM_OK;
}
