/*
 * doorman: http listen and server_name.
 *
 * Name-based virtual servers: every server listening on an address is
 * kept with it; a request picks the one whose server_name is its Host,
 * else the address's default server (default_server, else the first
 * server in the file that listens there), as nginx. The names
 * themselves are matched in dm_http_server_name.c.
 */
#include <dm_core.h>
#include <dm_http_conf.h>
#include <dm_http_listen.h>
#include <dm_http_request.h>
#include <dm_http_ssl.h>

static int dm_http_listen_same(const dm_inet_addr_t *a,
                               const dm_inet_addr_t *b);

char *
dm_http_listen_set(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_http_core_srv_conf_t *cscf = conf;
    dm_http_core_main_conf_t *cmcf =
        dm_http_conf_get_main(cf->ctx, dm_http_core_module);
    dm_str_t *value = cf->args->elts;
    dm_http_listen_t *l;
    const char *err;
    dm_uint_t i;
    dm_int_t rc;

    l = dm_array_push(&cmcf->listen);
    if (l == NULL) {
        return DM_CONF_ERROR;
    }
    memset(l, 0, sizeof(*l));
    l->server = cscf;
    l->file = cf->file->name;
    l->line = cf->file->dir_line;
    dm_listen_opts_init(&l->opts);

    if (dm_inet_parse(value[1].data, value[1].len, 80, &l->addr, &err)
        != DM_OK) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "%s in \"%s\" of the \"listen\" directive", err,
                          value[1].data);
        return DM_CONF_ERROR;
    }
    /* the same address twice in one server is a mistake (as nginx) */
    for (i = 0; i + 1 < cmcf->listen.nelts; i++) {
        dm_http_listen_t *o = (dm_http_listen_t *) cmcf->listen.elts + i;

        if (o->server == cscf && dm_http_listen_same(&o->addr, &l->addr)) {
            dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                              "a duplicate listen \"%s\" in this server",
                              value[1].data);
            return DM_CONF_ERROR;
        }
    }
    for (i = 2; i < cf->args->nelts; i++) {
        rc = dm_listen_opts_param(&value[i], &l->opts);
        if (rc == DM_OK) {
            continue;
        }
        if (rc == DM_DECLINED && dm_str_eq(&value[i], "default_server")) {
            l->default_server = 1;
            continue;
        }
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "invalid parameter \"%s\" of the \"listen\" "
                          "directive",
                          value[i].data);
        return DM_CONF_ERROR;
    }
    return DM_CONF_OK;
}

static int
dm_http_listen_same_port(const dm_inet_addr_t *a, const dm_inet_addr_t *b)
{
    const struct sockaddr *x = (const struct sockaddr *) &a->sa;
    const struct sockaddr *y = (const struct sockaddr *) &b->sa;

    return x->sa_family == y->sa_family && x->sa_family != AF_UNIX
           && dm_inet_get_port(x) == dm_inet_get_port(y);
}

static int
dm_http_listen_same(const dm_inet_addr_t *a, const dm_inet_addr_t *b)
{
    return dm_inet_cmp((const struct sockaddr *) &a->sa, a->socklen,
                       (const struct sockaddr *) &b->sa, b->socklen)
           == 0;
}

/* Adds a server to an address (once), minding default_server. */
static char *
dm_http_listen_addr_server(dm_conf_t *cf, dm_http_addr_t *a,
                           dm_http_listen_t *l)
{
    dm_http_core_srv_conf_t **s = a->servers.elts, **slot;
    dm_uint_t i;

    /* TLS is a property of the address, as nginx: one listen ... ssl
       makes every server on it speak TLS */
    a->ssl |= l->opts.ssl;
    a->proxy_protocol |= l->opts.proxy_protocol;
    if (l->default_server) {
        if (a->explicit_default && a->default_server != l->server) {
            dm_log_error(DM_LOG_EMERG, cf->log, 0,
                         "a duplicate default server in %.*s:%lu",
                         DM_STR_ARG(l->file), (unsigned long) l->line);
            return DM_CONF_ERROR;
        }
        a->default_server = l->server;
        a->explicit_default = 1;
    }
    for (i = 0; i < a->servers.nelts; i++) {
        if (s[i] == l->server) {
            return DM_CONF_OK;
        }
    }
    slot = dm_array_push(&a->servers);
    if (slot == NULL) {
        return DM_CONF_ERROR;
    }
    *slot = l->server;
    if (a->default_server == NULL) {
        a->default_server = l->server;
    }
    return DM_CONF_OK;
}

/* The addresses of every listen line, deduplicated, servers gathered. */
static dm_http_addr_t *
dm_http_listen_addrs(dm_conf_t *cf, dm_http_core_main_conf_t *cmcf,
                     dm_uint_t *naddrs)
{
    dm_http_listen_t *l = cmcf->listen.elts;
    dm_http_addr_t *addrs;
    dm_uint_t i, j, n = 0;

    addrs = dm_pcalloc(cf->pool, (cmcf->listen.nelts ? cmcf->listen.nelts : 1)
                                     * sizeof(dm_http_addr_t));
    if (addrs == NULL) {
        return NULL;
    }
    for (i = 0; i < cmcf->listen.nelts; i++) {
        for (j = 0; j < n; j++) {
            if (dm_http_listen_same(&addrs[j].addr, &l[i].addr)) {
                break;
            }
        }
        if (j == n) {
            addrs[n].addr = l[i].addr;
            if (dm_array_init(&addrs[n].servers, cf->pool, 2,
                              sizeof(dm_http_core_srv_conf_t *))
                != DM_OK) {
                return NULL;
            }
            n++;
        }
        if (dm_http_listen_addr_server(cf, &addrs[j], &l[i]) != DM_CONF_OK) {
            return NULL;
        }
    }
    *naddrs = n;
    return addrs;
}

char *
dm_http_listen_init(dm_conf_t *cf, dm_http_core_main_conf_t *cmcf)
{
    dm_http_core_srv_conf_t **servers = cmcf->servers.elts;
    dm_http_listen_t *l, *all;
    dm_http_addr_t *addrs;
    dm_http_port_t *port;
    dm_listening_t *ls;
    dm_uint_t i, j, k, naddrs = 0, n, bind;
    const char *err;

    /* a server without listen listens on *:80, as nginx */
    for (i = 0; i < cmcf->servers.nelts; i++) {
        all = cmcf->listen.elts;
        for (j = 0; j < cmcf->listen.nelts; j++) {
            if (all[j].server == servers[i]) {
                break;
            }
        }
        if (j < cmcf->listen.nelts) {
            continue;
        }
        l = dm_array_push(&cmcf->listen);
        if (l == NULL) {
            return DM_CONF_ERROR;
        }
        memset(l, 0, sizeof(*l));
        l->server = servers[i];
        l->file = servers[i]->file;
        l->line = servers[i]->line;
        dm_listen_opts_init(&l->opts);
        (void) dm_inet_parse((u_char *) "80", 2, 80, &l->addr, &err);
    }

    addrs = dm_http_listen_addrs(cf, cmcf, &naddrs);
    if (addrs == NULL) {
        return DM_CONF_ERROR;
    }
    for (i = 0; i < naddrs; i++) {
        if (dm_http_ssl_check_listen(cf, &addrs[i]) != DM_CONF_OK) {
            return DM_CONF_ERROR;
        }
        if (addrs[i].proxy_protocol && dm_http_proxy_protocol_read == NULL) {
            dm_log_error(DM_LOG_EMERG, cf->log, 0,
                         "the \"proxy_protocol\" parameter of \"listen\" "
                         "needs the proxy_protocol module, which this "
                         "binary was built without");
            return DM_CONF_ERROR;
        }
    }
    all = cmcf->listen.elts;

    for (i = 0; i < naddrs; i++) {
        /* the options of the first listen line of the address */
        for (k = 0; !dm_http_listen_same(&all[k].addr, &addrs[i].addr); k++) {
        }
        bind = 0;
        for (j = 0; j < cmcf->listen.nelts; j++) {
            bind |= dm_http_listen_same(&all[j].addr, &addrs[i].addr)
                    && all[j].opts.bind;
        }
        /* a specific address folded into a wildcard of its port */
        if (!addrs[i].addr.wildcard && !bind) {
            for (j = 0; j < naddrs; j++) {
                if (addrs[j].addr.wildcard
                    && dm_http_listen_same_port(&addrs[i].addr,
                                                &addrs[j].addr)) {
                    break;
                }
            }
            if (j < naddrs) {
                continue;
            }
        }

        ls = dm_listening_add(cf->cycle, &addrs[i].addr, SOCK_STREAM);
        port = dm_pcalloc(cf->pool, sizeof(dm_http_port_t));
        if (ls == NULL || port == NULL) {
            return DM_CONF_ERROR;
        }
        port->addrs = dm_pcalloc(cf->pool, naddrs * sizeof(dm_http_addr_t));
        if (port->addrs == NULL) {
            return DM_CONF_ERROR;
        }
        n = 0;
        if (addrs[i].addr.wildcard) {
            for (j = 0; j < naddrs; j++) {
                if (!addrs[j].addr.wildcard
                    && dm_http_listen_same_port(&addrs[i].addr,
                                                &addrs[j].addr)) {
                    port->addrs[n++] = addrs[j];
                }
            }
        }
        port->addrs[n++] = addrs[i];
        port->naddrs = n;
        ls->handler = dm_http_request_init_connection;
        ls->servers = port;
        ls->pool_size = 1024;
        dm_listen_opts_apply(&all[k].opts, ls);
    }
    return DM_CONF_OK;
}

dm_http_addr_t *
dm_http_listen_find_addr(dm_connection_t *c)
{
    dm_http_port_t *port = c->listening->servers;
    dm_uint_t i;

    if (port->naddrs > 1 && dm_connection_local_sockaddr(c) == DM_OK) {
        for (i = 0; i + 1 < port->naddrs; i++) {
            if (dm_inet_cmp((struct sockaddr *) &port->addrs[i].addr.sa,
                            port->addrs[i].addr.socklen, c->local_sockaddr,
                            c->local_socklen)
                == 0) {
                return &port->addrs[i];
            }
        }
    }
    return &port->addrs[port->naddrs - 1];
}

dm_http_core_srv_conf_t *
dm_http_listen_find_server(dm_connection_t *c, const dm_str_t *host,
                           dm_variable_env_t *env)
{
    dm_http_addr_t *a = dm_http_listen_find_addr(c);
    dm_http_core_srv_conf_t *cscf;

    if (host && host->len) {
        cscf = dm_http_server_name_find(&a->servers, host, env);
        if (cscf) {
            return cscf;
        }
    }
    return a->default_server;
}
