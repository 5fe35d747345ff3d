/*
 * doorman: the stream listen directive.
 *
 *   listen ADDRESS[:PORT] | PORT [backlog=N] [rcvbuf=SIZE] [sndbuf=SIZE]
 *          [so_keepalive=on|off|[IDLE]:[INTVL]:[CNT]] [deferred] [bind]
 *          [ipv6only=on|off] [udp] [ssl] [proxy_protocol];
 *
 * `ssl` terminates TLS on the address (the SSL phase, dm_stream_ssl.c);
 * `proxy_protocol` reads a PROXY header first (POST_ACCEPT, the
 * proxy_protocol module); neither goes with `udp`.
 */
#include <dm_core.h>
#include <dm_stream.h>
#include <dm_stream_listen.h>
#include <dm_listen_opts.h>

char *
dm_stream_listen_set(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_stream_core_srv_conf_t *cscf = conf;
    dm_stream_core_main_conf_t *cmcf =
        dm_stream_conf_get_main(cf->ctx, dm_stream_core_module);
    dm_str_t *value = cf->args->elts;
    dm_stream_listen_t *ls;
    const char *err;
    dm_uint_t i;
    dm_int_t rc;

    ls = dm_array_push(&cmcf->listen);
    if (ls == NULL) {
        return DM_CONF_ERROR;
    }
    memset(ls, 0, sizeof(*ls));
    ls->server = cscf;
    ls->file = cf->file->name;
    ls->line = cf->file->dir_line;
    dm_listen_opts_init(&ls->opts);

    if (dm_inet_parse(value[1].data, value[1].len, 0, &ls->addr, &err)
        != DM_OK) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "%s in \"%s\" of the \"listen\" "
                          "directive",
                          err, value[1].data);
        return DM_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {
        rc = dm_listen_opts_param(&value[i], &ls->opts);
        if (rc == DM_OK) {
            continue;
        }
        if (rc == DM_ERROR) {
            goto invalid;
        }
        if (dm_str_eq(&value[i], "udp")) {
            if (ls->addr.sa.ss_family == AF_UNIX) {
                goto invalid;
            }
            ls->udp = 1;
        } else {
            goto invalid;
        }
        continue;

    invalid:
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "invalid parameter \"%s\" of the \"listen\" "
                          "directive",
                          value[i].data);
        return DM_CONF_ERROR;
    }
    if (ls->udp && (ls->opts.ssl || ls->opts.proxy_protocol)) {
        /* no DTLS; a PROXY header on each received datagram is not read */
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "the \"%s\" and \"udp\" parameters of "
                          "\"listen\" cannot be used together",
                          ls->opts.ssl ? "ssl" : "proxy_protocol");
        return DM_CONF_ERROR;
    }
    return DM_CONF_OK;
}

/* The same socket address modulo the host part: family and port. */
static int
dm_stream_listen_same_port(const dm_inet_addr_t *a, const dm_inet_addr_t *b)
{
    struct sockaddr *x = (struct sockaddr *) &a->sa;
    struct sockaddr *y = (struct sockaddr *) &b->sa;

    return x->sa_family == y->sa_family && x->sa_family != AF_UNIX
           && dm_inet_get_port(x) == dm_inet_get_port(y);
}

/* Two listen lines of one protocol (TCP or UDP) on one port. */
static int
dm_stream_listen_same(const dm_stream_listen_t *a, const dm_stream_listen_t *b)
{
    return a->udp == b->udp && dm_stream_listen_same_port(&a->addr, &b->addr);
}

static dm_listening_t *
dm_stream_listen_socket(dm_conf_t *cf, dm_stream_listen_t *l, dm_uint_t naddrs)
{
    dm_listening_t *ls;
    dm_stream_port_t *port;

    ls = dm_listening_add(cf->cycle, &l->addr,
                          l->udp ? SOCK_DGRAM : SOCK_STREAM);
    port = dm_pcalloc(cf->pool, sizeof(dm_stream_port_t));
    if (ls == NULL || port == NULL) {
        return NULL;
    }
    port->addrs = dm_pcalloc(cf->pool, naddrs * sizeof(dm_stream_addr_t));
    if (port->addrs == NULL) {
        return NULL;
    }
    ls->handler =
        l->udp ? dm_stream_udp_recv : dm_stream_session_init_connection;
    ls->servers = port;
    dm_listen_opts_apply(&l->opts, ls);
    ls->pool_size = 512;
    return ls;
}

dm_uint_t dm_stream_proxy_protocol_enabled;

char *
dm_stream_listen_init(dm_conf_t *cf, dm_stream_core_main_conf_t *cmcf)
{
    dm_stream_listen_t *l = cmcf->listen.elts;
    dm_uint_t i, j, n = cmcf->listen.nelts, k;
    dm_listening_t *ls;
    dm_stream_port_t *port;
    u_char text[DM_INET_ADDRSTRLEN];

    for (i = 0; i < n; i++) {
        for (j = i + 1; j < n; j++) {
            if (l[i].udp == l[j].udp
                && dm_inet_cmp(
                       (struct sockaddr *) &l[i].addr.sa, l[i].addr.socklen,
                       (struct sockaddr *) &l[j].addr.sa, l[j].addr.socklen)
                       == 0) {
                dm_inet_ntop((struct sockaddr *) &l[i].addr.sa, text,
                             sizeof(text), 1);
                dm_log_error(DM_LOG_EMERG, cf->log, 0,
                             "duplicate \"%s\" address and port pair in "
                             "%.*s:%lu",
                             text, DM_STR_ARG(l[j].file),
                             (unsigned long) l[j].line);
                return DM_CONF_ERROR;
            }
        }
    }

    for (i = 0; i < n; i++) {
        if (l[i].opts.ssl
            && dm_stream_ssl_check_listen(cf, l[i].server) != DM_CONF_OK) {
            return DM_CONF_ERROR;
        }
        if (l[i].opts.proxy_protocol && !dm_stream_proxy_protocol_enabled) {
            dm_log_error(DM_LOG_EMERG, cf->log, 0,
                         "the \"proxy_protocol\" parameter of \"listen\" "
                         "needs the proxy_protocol module, which this "
                         "binary was built without");
            return DM_CONF_ERROR;
        }
    }

    for (i = 0; i < n; i++) {
        dm_uint_t shared = 0;

        /* a specific address folded into a wildcard of its port */
        if (!l[i].addr.wildcard && !l[i].opts.bind) {
            for (j = 0; j < n; j++) {
                if (l[j].addr.wildcard && dm_stream_listen_same(&l[i], &l[j])) {
                    break;
                }
            }
            if (j < n) {
                continue;
            }
        }

        /* count the specific addresses this socket will serve */
        if (l[i].addr.wildcard) {
            for (j = 0; j < n; j++) {
                shared += (!l[j].addr.wildcard && !l[j].opts.bind
                           && dm_stream_listen_same(&l[i], &l[j]));
            }
        }

        ls = dm_stream_listen_socket(cf, &l[i], shared + 1);
        if (ls == NULL) {
            return DM_CONF_ERROR;
        }
        port = ls->servers;
        k = 0;
        if (l[i].addr.wildcard) {
            for (j = 0; j < n; j++) {
                if (!l[j].addr.wildcard && !l[j].opts.bind
                    && dm_stream_listen_same(&l[i], &l[j])) {
                    port->addrs[k].addr = l[j].addr;
                    port->addrs[k].server = l[j].server;
                    port->addrs[k].ssl = l[j].opts.ssl;
                    port->addrs[k].proxy_protocol = l[j].opts.proxy_protocol;
                    k++;
                }
            }
        }
        port->addrs[k].addr = l[i].addr;
        port->addrs[k].server = l[i].server;
        port->addrs[k].ssl = l[i].opts.ssl;
        port->addrs[k].proxy_protocol = l[i].opts.proxy_protocol;
        port->naddrs = k + 1;
    }
    return DM_CONF_OK;
}
