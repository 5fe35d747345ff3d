/*
 * doorman: http_proxy variables.
 *
 *   $upstream_addr $upstream_status $upstream_connect_time
 *   $upstream_header_time $upstream_response_time
 *   $upstream_bytes_received      every attempt, "a, b" as nginx
 *   $proxy_host                   the Host sent by default
 *   $proxy_add_x_forwarded_for    the client's X-Forwarded-For, then
 *                                 $remote_addr (for nginx configurations)
 */
#include <dm_core.h>
#include <dm_http_conf.h>
#include <dm_http_parse.h>
#include <dm_http_request.h>
#include <openssl/ssl.h>
#include <dm_ssl.h>
#include <dm_http_proxy.h>

#define DM_PXV_ADDR     0
#define DM_PXV_STATUS   1
#define DM_PXV_CONNECT  2
#define DM_PXV_HEADER   3
#define DM_PXV_RESPONSE 4
#define DM_PXV_BYTES    5

static dm_http_proxy_ctx_t *
dm_http_proxy_var_ctx(dm_variable_env_t *env)
{
    dm_http_request_t *r = env->obj;

    return r->ctx ? r->ctx[dm_http_proxy_module.ctx_index] : NULL;
}

static u_char *
dm_http_proxy_var_ms(u_char *p, dm_msec_t ms, int known)
{
    if (!known) {
        *p++ = '-';
        return p;
    }
    return p
           + sprintf((char *) p, "%llu.%03u", (unsigned long long) (ms / 1000),
                     (unsigned) (ms % 1000));
}

static dm_int_t
dm_http_proxy_var_upstream(dm_variable_env_t *env, dm_variable_value_t *v,
                           uintptr_t which)
{
    dm_http_proxy_ctx_t *ctx = dm_http_proxy_var_ctx(env);
    dm_http_proxy_attempt_t *a;
    dm_uint_t i;
    size_t len = 0;
    u_char *p;

    if (ctx == NULL || ctx->nattempts == 0) {
        v->not_found = 1;
        return DM_OK;
    }
    for (i = 0; i < ctx->nattempts; i++) {
        len += ctx->attempts[i].addr.len + 32;
    }
    p = dm_pnalloc(env->pool, len);
    if (p == NULL) {
        return DM_ERROR;
    }
    v->data = p;
    for (i = 0; i < ctx->nattempts; i++) {
        a = &ctx->attempts[i];
        if (i) {
            *p++ = ',';
            *p++ = ' ';
        }
        switch (which) {
        case DM_PXV_ADDR:
            p = (u_char *) memcpy(p, a->addr.data, a->addr.len) + a->addr.len;
            break;
        case DM_PXV_STATUS:
            if (a->status) {
                p += sprintf((char *) p, "%u", (unsigned) a->status);
            } else {
                /* no answer: what the client was told, as nginx */
                p += sprintf((char *) p, "%u",
                             (unsigned) (i + 1 == ctx->nattempts
                                                 && ctx->request->status >= 500
                                             ? ctx->request->status
                                             : 502));
            }
            break;
        case DM_PXV_CONNECT:
            p = dm_http_proxy_var_ms(p, a->connect, a->connected);
            break;
        case DM_PXV_HEADER:
            p = dm_http_proxy_var_ms(p, a->header, a->has_header);
            break;
        case DM_PXV_RESPONSE:
            p = dm_http_proxy_var_ms(p, a->response, 1);
            break;
        default:
            p += sprintf((char *) p, "%llu", (unsigned long long) a->received);
            break;
        }
    }
    v->len = (size_t) (p - v->data);
    return DM_OK;
}

static dm_int_t
dm_http_proxy_var_host(dm_variable_env_t *env, dm_variable_value_t *v,
                       uintptr_t data)
{
    dm_http_proxy_ctx_t *ctx = dm_http_proxy_var_ctx(env);
    dm_http_request_t *r = env->obj;
    dm_http_proxy_loc_conf_t *plcf;

    if (ctx && ctx->proxy_host.len) {
        return dm_variable_set_str(v, ctx->proxy_host.data,
                                   ctx->proxy_host.len);
    }
    plcf =
        r->loc_conf ? dm_http_request_loc_conf(r, dm_http_proxy_module) : NULL;
    if (plcf && plcf->host.len) {
        return dm_variable_set_str(v, plcf->host.data, plcf->host.len);
    }
    v->not_found = 1;
    return DM_OK;
}

static dm_int_t
dm_http_proxy_var_xff(dm_variable_env_t *env, dm_variable_value_t *v,
                      uintptr_t data)
{
    dm_http_request_t *r = env->obj;
    dm_http_header_t *h = r->head.headers;
    dm_str_t *addr = &env->connection->addr_text;
    size_t len = addr->len;
    dm_uint_t i;
    u_char *p;

    for (i = 0; i < r->head.nheaders; i++) {
        if (!h[i].hop && dm_http_header_is(&h[i], "x-forwarded-for")) {
            len += h[i].value.len + 2;
        }
    }
    p = dm_pnalloc(env->pool, len);
    if (p == NULL) {
        return DM_ERROR;
    }
    v->data = p;
    for (i = 0; i < r->head.nheaders; i++) {
        if (!h[i].hop && dm_http_header_is(&h[i], "x-forwarded-for")) {
            p = (u_char *) memcpy(p, h[i].value.data, h[i].value.len)
                + h[i].value.len;
            *p++ = ',';
            *p++ = ' ';
        }
    }
    p = (u_char *) memcpy(p, addr->data, addr->len) + addr->len;
    v->len = (size_t) (p - v->data);
    return DM_OK;
}

dm_int_t
dm_http_proxy_variables_add(dm_conf_t *cf)
{
#define DM_PXV(name, get, data)                                                \
    {                                                                          \
        name, get, data, DM_VAR_NOCACHEABLE                                    \
    }
    static const dm_variable_decl_t vars[] = {
        DM_PXV("upstream_addr", dm_http_proxy_var_upstream, DM_PXV_ADDR),
        DM_PXV("upstream_status", dm_http_proxy_var_upstream, DM_PXV_STATUS),
        DM_PXV("upstream_connect_time", dm_http_proxy_var_upstream,
               DM_PXV_CONNECT),
        DM_PXV("upstream_header_time", dm_http_proxy_var_upstream,
               DM_PXV_HEADER),
        DM_PXV("upstream_response_time", dm_http_proxy_var_upstream,
               DM_PXV_RESPONSE),
        DM_PXV("upstream_bytes_received", dm_http_proxy_var_upstream,
               DM_PXV_BYTES),
        DM_PXV("proxy_host", dm_http_proxy_var_host, 0),
        DM_PXV("proxy_add_x_forwarded_for", dm_http_proxy_var_xff, 0),
    };
#undef DM_PXV
    dm_http_core_main_conf_t *cmcf =
        dm_http_conf_get_main(cf->ctx, dm_http_core_module);

    return dm_variable_add_table(cf, &cmcf->variables, vars, dm_nelems(vars));
}
