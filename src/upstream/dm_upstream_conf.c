/*
 * doorman: upstream { } blocks in stream and http.
 *
 * Both engines share this code; each has its own module descriptor so
 * that the directive table is dispatched in that engine's blocks. An
 * upstream block is a context of its own whose srv level holds the
 * engine's modules' upstream structures (balancers, health checks and
 * sticky cookies all write there).
 */
#include <dm_core.h>
#include <dm_upstream.h>
#include <dm_crc32.h>
#include <dm_stream.h>
#include <dm_http_conf.h>
#include <dm_worker.h>
#include <netdb.h>

static void *dm_upstream_create_main_conf(dm_conf_t *cf);
static void *dm_upstream_create_srv_conf(dm_conf_t *cf);
static char *dm_upstream_block(dm_conf_t *cf, const dm_command_t *cmd,
                               void *conf);
static char *dm_upstream_init_main_conf(dm_conf_t *cf, void *conf);
static char *dm_upstream_server(dm_conf_t *cf, const dm_command_t *cmd,
                                void *conf);
static char *dm_upstream_balancer(dm_conf_t *cf, const dm_command_t *cmd,
                                  void *conf);
static dm_int_t dm_upstream_init_module(dm_cycle_t *cycle);
static char *dm_upstream_resolver(dm_conf_t *cf, const dm_command_t *cmd,
                                  void *conf);
static dm_int_t dm_stream_upstream_init_process(dm_cycle_t *cycle);
static dm_int_t dm_http_upstream_init_process(dm_cycle_t *cycle);

static const dm_conf_bounds_t dm_upstream_valid_bounds = {1000, 7LL * 86400000};

static const dm_command_t dm_stream_upstream_commands[] = {
    {dm_string("upstream"), DM_STREAM_MAIN_CONF, DM_CONF_BLOCK | DM_CONF_TAKE1,
     dm_upstream_block, DM_CONF_LEVEL_MAIN, 0, NULL},
    {dm_string("server"), DM_STREAM_UPS_CONF, DM_CONF_1MORE, dm_upstream_server,
     DM_CONF_LEVEL_SRV, 0, NULL},
    {dm_string("least_conn"), DM_STREAM_UPS_CONF, DM_CONF_NOARGS,
     dm_upstream_balancer, DM_CONF_LEVEL_SRV, 0, NULL},
    {dm_string("hash"), DM_STREAM_UPS_CONF, DM_CONF_TAKE12,
     dm_upstream_balancer, DM_CONF_LEVEL_SRV, 0, NULL},
    {dm_string("random"), DM_STREAM_UPS_CONF, DM_CONF_NOARGS | DM_CONF_TAKE12,
     dm_upstream_balancer, DM_CONF_LEVEL_SRV, 0, NULL},
    {dm_string("resolver"), DM_STREAM_MAIN_CONF, DM_CONF_TAKE1,
     dm_upstream_resolver, DM_CONF_LEVEL_MAIN, 0, NULL},
    {dm_string("resolver_valid"), DM_STREAM_MAIN_CONF, DM_CONF_TAKE1,
     dm_conf_set_msec_slot, DM_CONF_LEVEL_MAIN,
     offsetof(dm_upstream_main_conf_t, resolver_valid),
     &dm_upstream_valid_bounds},
    dm_null_command,
};

dm_module_t dm_stream_upstream_module = {
    .name = "stream_upstream",
    .type = DM_MODULE_STREAM,
    .commands = dm_stream_upstream_commands,
    .create_main_conf = dm_upstream_create_main_conf,
    .init_main_conf = dm_upstream_init_main_conf,
    .create_srv_conf = dm_upstream_create_srv_conf,
    .init_module = dm_upstream_init_module,
    .init_process = dm_stream_upstream_init_process,
};

static const dm_command_t dm_http_upstream_commands[] = {
    {dm_string("upstream"), DM_HTTP_MAIN_CONF, DM_CONF_BLOCK | DM_CONF_TAKE1,
     dm_upstream_block, DM_CONF_LEVEL_MAIN, 0, NULL},
    {dm_string("server"), DM_HTTP_UPS_CONF, DM_CONF_1MORE, dm_upstream_server,
     DM_CONF_LEVEL_SRV, 0, NULL},
    {dm_string("least_conn"), DM_HTTP_UPS_CONF, DM_CONF_NOARGS,
     dm_upstream_balancer, DM_CONF_LEVEL_SRV, 0, NULL},
    {dm_string("hash"), DM_HTTP_UPS_CONF, DM_CONF_TAKE12, dm_upstream_balancer,
     DM_CONF_LEVEL_SRV, 0, NULL},
    {dm_string("random"), DM_HTTP_UPS_CONF, DM_CONF_NOARGS | DM_CONF_TAKE12,
     dm_upstream_balancer, DM_CONF_LEVEL_SRV, 0, NULL},
    {dm_string("resolver"), DM_HTTP_MAIN_CONF, DM_CONF_TAKE1,
     dm_upstream_resolver, DM_CONF_LEVEL_MAIN, 0, NULL},
    {dm_string("resolver_valid"), DM_HTTP_MAIN_CONF, DM_CONF_TAKE1,
     dm_conf_set_msec_slot, DM_CONF_LEVEL_MAIN,
     offsetof(dm_upstream_main_conf_t, resolver_valid),
     &dm_upstream_valid_bounds},
    dm_null_command,
};

dm_module_t dm_http_upstream_module = {
    .name = "http_upstream",
    .type = DM_MODULE_HTTP,
    .commands = dm_http_upstream_commands,
    .create_main_conf = dm_upstream_create_main_conf,
    .init_main_conf = dm_upstream_init_main_conf,
    .create_srv_conf = dm_upstream_create_srv_conf,
    .init_process = dm_http_upstream_init_process,
};

static void *
dm_upstream_create_main_conf(dm_conf_t *cf)
{
    dm_upstream_main_conf_t *umcf;

    umcf = dm_pcalloc(cf->pool, sizeof(dm_upstream_main_conf_t));
    if (umcf == NULL
        || dm_array_init(&umcf->upstreams, cf->pool, 4,
                         sizeof(dm_upstream_srv_conf_t *))
               != DM_OK) {
        return NULL;
    }
    umcf->resolver_valid = DM_CONF_UNSET_MSEC;
    return umcf;
}

/* resolver ADDRESS[:PORT]; (port 53) */
static char *
dm_upstream_resolver(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_upstream_main_conf_t *umcf = conf;
    dm_str_t *value = cf->args->elts;
    const char *err;

    if (umcf->resolver) {
        return "is duplicate";
    }
    umcf->resolver = dm_pcalloc(cf->pool, sizeof(dm_inet_addr_t));
    if (umcf->resolver == NULL) {
        return DM_CONF_ERROR;
    }
    if (dm_inet_parse(value[1].data, value[1].len, 53, umcf->resolver, &err)
            != DM_OK
        || umcf->resolver->wildcard
        || umcf->resolver->sa.ss_family == AF_UNIX) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "invalid resolver address \"%s\": an IP address "
                          "and port is needed (host names are not resolved)",
                          value[1].data);
        return DM_CONF_ERROR;
    }
    return DM_CONF_OK;
}

/* The helper re-resolves the `resolve` names (dm_upstream_resolve.c). */
static dm_int_t
dm_upstream_init_process_engine(dm_cycle_t *cycle, dm_conf_ctx_t *ctx,
                                dm_module_t *module)
{
    if (ctx == NULL || !dm_worker_is_helper()) {
        return DM_OK;
    }
    return dm_upstream_resolve_start(cycle, ctx->main_conf[module->ctx_index]);
}

static dm_int_t
dm_stream_upstream_init_process(dm_cycle_t *cycle)
{
    return dm_upstream_init_process_engine(cycle, dm_stream_conf_ctx(cycle),
                                           &dm_stream_upstream_module);
}

static dm_int_t
dm_http_upstream_init_process(dm_cycle_t *cycle)
{
    return dm_upstream_init_process_engine(cycle, dm_http_conf_ctx(cycle),
                                           &dm_http_upstream_module);
}

static void *
dm_upstream_create_srv_conf(dm_conf_t *cf)
{
    return dm_pcalloc(cf->pool, sizeof(dm_upstream_srv_conf_t));
}

dm_upstream_srv_conf_t *
dm_upstream_conf_find(dm_upstream_main_conf_t *umcf, const dm_str_t *name)
{
    dm_upstream_srv_conf_t **u = umcf->upstreams.elts;
    dm_uint_t i;

    for (i = 0; i < umcf->upstreams.nelts; i++) {
        if (u[i]->name.len == name->len
            && memcmp(u[i]->name.data, name->data, name->len) == 0) {
            return u[i];
        }
    }
    return NULL;
}

static char *
dm_upstream_block(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_upstream_main_conf_t *umcf = conf;
    dm_upstream_srv_conf_t *uscf, **slot;
    dm_str_t *value = cf->args->elts;
    dm_uint_t type = cf->module_type, ctx_bit;
    dm_module_t *self;
    dm_conf_ctx_t *ctx;

    if (dm_upstream_conf_find(umcf, &value[1])) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0, "duplicate upstream \"%s\"",
                          value[1].data);
        return DM_CONF_ERROR;
    }

    ctx = dm_pcalloc(cf->pool, sizeof(dm_conf_ctx_t));
    if (ctx == NULL) {
        return DM_CONF_ERROR;
    }
    ctx->main_conf = cf->ctx->main_conf;
    ctx->srv_conf = dm_module_create_srv_confs(cf, type);
    if (ctx->srv_conf == NULL) {
        return DM_CONF_ERROR;
    }
    if (type == DM_MODULE_HTTP) {
        ctx->loc_conf = dm_module_create_loc_confs(cf, type);
        if (ctx->loc_conf == NULL) {
            return DM_CONF_ERROR;
        }
        self = &dm_http_upstream_module;
        ctx_bit = DM_HTTP_UPS_CONF;
    } else {
        self = &dm_stream_upstream_module;
        ctx_bit = DM_STREAM_UPS_CONF;
    }

    uscf = ctx->srv_conf[self->ctx_index];
    uscf->name = value[1];
    uscf->ctx = ctx;
    if (cf->file) {
        uscf->file = cf->file->name;
        uscf->line = cf->file->dir_line;
    }
    slot = dm_array_push(&umcf->upstreams);
    if (slot == NULL) {
        return DM_CONF_ERROR;
    }
    *slot = uscf;

    return dm_conf_parse_block(cf, ctx, type, ctx_bit);
}

static dm_upstream_group_t *
dm_upstream_group_get(dm_conf_t *cf, dm_upstream_srv_conf_t *uscf)
{
    if (uscf->group == NULL) {
        uscf->group = dm_pcalloc(cf->pool, sizeof(dm_upstream_group_t));
        if (uscf->group == NULL) {
            return NULL;
        }
        uscf->group->name = uscf->name;
        uscf->group->engine = cf->module_type;
        uscf->group->file = uscf->file;
        uscf->group->line = uscf->line;
    }
    return uscf->group;
}

static int
dm_upstream_param(const dm_str_t *v, const char *name, dm_str_t *rest)
{
    size_t n = strlen(name);

    if (v->len <= n || memcmp(v->data, name, n) != 0) {
        return 0;
    }
    rest->data = v->data + n;
    rest->len = v->len - n;
    return 1;
}

/* Appends a peer for one address of a server line. */
static char *
dm_upstream_push_peer(dm_conf_t *cf, dm_array_t *list,
                      const dm_upstream_peer_t *tmpl, const dm_str_t *name,
                      const struct sockaddr *sa, socklen_t len, int several)
{
    u_char text[DM_INET_ADDRSTRLEN];
    dm_upstream_peer_t *peer;

    peer = dm_array_push(list);
    if (peer == NULL) {
        return DM_CONF_ERROR;
    }
    *peer = *tmpl;
    peer->name = *name;
    peer->sockaddr = dm_palloc(cf->pool, len);
    peer->addr_text.len = dm_inet_ntop(sa, text, sizeof(text), 1);
    peer->addr_text.data = dm_pnalloc(cf->pool, peer->addr_text.len + 1);
    if (peer->sockaddr == NULL || peer->addr_text.data == NULL) {
        return DM_CONF_ERROR;
    }
    memcpy(peer->sockaddr, sa, len);
    peer->socklen = len;
    memcpy(peer->addr_text.data, text, peer->addr_text.len + 1);
    if (peer->id.len == 0) {
        /* the identity a reload (and a sticky cookie) recognizes: the
           name as written, or each address of a name with several */
        peer->id = several ? peer->addr_text : peer->name;
    }
    return DM_CONF_OK;
}

/*
 * server NAME resolve: DM_UPSTREAM_RESOLVE_SLOTS peers, empty until the
 * helper resolves NAME and writes their addresses into the zone; their
 * identities NAME#1 ... stay the same across reloads.
 */
static char *
dm_upstream_add_slots(dm_conf_t *cf, dm_array_t *list,
                      const dm_upstream_peer_t *tmpl, const dm_str_t *addr,
                      u_char *host, size_t hlen, in_port_t port)
{
    dm_upstream_peer_t *peer;
    dm_uint_t k;
    u_char *id;

    for (k = 0; k < DM_UPSTREAM_RESOLVE_SLOTS; k++) {
        peer = dm_array_push(list);
        id = dm_pnalloc(cf->pool, addr->len + 8);
        if (peer == NULL || id == NULL) {
            return DM_CONF_ERROR;
        }
        *peer = *tmpl;
        peer->name = *addr;
        peer->host.data = host;
        peer->host.len = hlen;
        peer->port = port;
        peer->id.data = id;
        peer->id.len =
            (size_t) snprintf((char *) id, addr->len + 8, "%.*s#%lu",
                              DM_STR_ARG(*addr), (unsigned long) k + 1);
        /* filled from the zone by dm_upstream_peer_refresh */
        peer->sockaddr = dm_pcalloc(cf->pool, sizeof(struct sockaddr_storage));
        peer->addr_text.data = dm_pnalloc(cf->pool, DM_INET_ADDRSTRLEN);
        if (peer->sockaddr == NULL || peer->addr_text.data == NULL) {
            return DM_CONF_ERROR;
        }
        peer->socklen = 0;
        peer->addr_text.len = 0;
    }
    return DM_CONF_OK;
}

/*
 * server NAME service=SVC resolve: the slots follow the SRV records of
 * _SVC._tcp.NAME (SVC as written when it starts with '_'), their ports
 * included; NAME takes no port.
 */
static char *
dm_upstream_add_srv(dm_conf_t *cf, dm_upstream_srv_conf_t *uscf,
                    dm_array_t *list, const dm_upstream_peer_t *tmpl,
                    const dm_str_t *addr)
{
    dm_upstream_peer_t *p;
    char *rv;
    u_char *q;
    size_t n;
    dm_uint_t k;

    if (!tmpl->resolve || memchr(addr->data, ':', addr->len)) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "\"service=\" needs \"resolve\" and a name "
                          "without a port in upstream \"%.*s\"",
                          DM_STR_ARG(uscf->name));
        return DM_CONF_ERROR;
    }
    n = tmpl->service.len + addr->len + 8;
    q = dm_pnalloc(cf->pool, n);
    if (q == NULL) {
        return DM_CONF_ERROR;
    }
    n = tmpl->service.data[0] == '_'
            ? (size_t) snprintf((char *) q, n, "%.*s.%.*s",
                                DM_STR_ARG(tmpl->service), DM_STR_ARG(*addr))
            : (size_t) snprintf((char *) q, n, "_%.*s._tcp.%.*s",
                                DM_STR_ARG(tmpl->service), DM_STR_ARG(*addr));
    rv = dm_upstream_add_slots(cf, list, tmpl, addr, q, n, 0);
    if (rv != DM_CONF_OK) {
        return rv;
    }
    p = list->elts;
    for (k = list->nelts - DM_UPSTREAM_RESOLVE_SLOTS; k < list->nelts; k++) {
        p[k].srv = 1;
    }
    return DM_CONF_OK;
}

/* Adds one peer per address of a server line (host names resolved now,
   in the master, at load). */
static char *
dm_upstream_add_peers(dm_conf_t *cf, dm_upstream_srv_conf_t *uscf,
                      const dm_upstream_peer_t *tmpl, const dm_str_t *addr)
{
    in_port_t port = (cf->module_type == DM_MODULE_HTTP) ? 80 : 0;
    dm_array_t **list = tmpl->backup ? &uscf->backups : &uscf->peers;
    struct addrinfo hints, *res = NULL, *ai;
    u_char *colon, *host;
    dm_inet_addr_t ia;
    const char *err;
    char portbuf[8], *rv = DM_CONF_OK;
    size_t n;
    int rc;

    if (*list == NULL) {
        *list = dm_array_create(cf->pool, 4, sizeof(dm_upstream_peer_t));
        if (*list == NULL) {
            return DM_CONF_ERROR;
        }
    }
    if (tmpl->service.len) {
        return dm_upstream_add_srv(cf, uscf, *list, tmpl, addr);
    }
    if (dm_inet_parse(addr->data, addr->len, port, &ia, &err) == DM_OK) {
        return dm_upstream_push_peer(cf, *list, tmpl, addr,
                                     (struct sockaddr *) &ia.sa, ia.socklen, 0);
    }

    colon = (u_char *) memrchr(addr->data, ':', addr->len);
    if (colon) {
        int64_t p = dm_parse_int(colon + 1,
                                 (size_t) (addr->data + addr->len - colon - 1));
        if (p < 1 || p > 65535) {
            dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                              "invalid port in upstream \"%.*s\"",
                              DM_STR_ARG(*addr));
            return DM_CONF_ERROR;
        }
        port = (in_port_t) p;
    } else if (port == 0) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0, "no port in upstream \"%.*s\"",
                          DM_STR_ARG(*addr));
        return DM_CONF_ERROR;
    }
    n = colon ? (size_t) (colon - addr->data) : addr->len;
    host = dm_pnalloc(cf->pool, n + 1);
    if (host == NULL) {
        return DM_CONF_ERROR;
    }
    memcpy(host, addr->data, n);
    host[n] = '\0';
    if (tmpl->resolve) {
        return dm_upstream_add_slots(cf, *list, tmpl, addr, host, n, port);
    }
    snprintf(portbuf, sizeof(portbuf), "%u", (unsigned) port);
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo((const char *) host, portbuf, &hints, &res);
    if (rc != 0) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "host not found in upstream \"%.*s\": %s",
                          DM_STR_ARG(*addr), gai_strerror(rc));
        return DM_CONF_ERROR;
    }
    for (ai = res; ai && rv == DM_CONF_OK; ai = ai->ai_next) {
        rv = dm_upstream_push_peer(cf, *list, tmpl, addr, ai->ai_addr,
                                   ai->ai_addrlen, res->ai_next != NULL);
    }
    freeaddrinfo(res);
    return rv;
}

/*
 * server ADDRESS [weight=N] [max_fails=N] [fail_timeout=TIME] [backup]
 *        [down] [drain] [max_conns=N] [slow_start=TIME] [route=ID]
 *        [resolve];
 */
static char *
dm_upstream_server(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_upstream_srv_conf_t *uscf = conf;
    dm_str_t *value = cf->args->elts, v;
    dm_upstream_peer_t tmpl;
    dm_uint_t i;
    int64_t n;

    memset(&tmpl, 0, sizeof(tmpl));
    tmpl.weight = 1;
    tmpl.max_fails = 1;
    tmpl.fail_timeout = 10000;

    for (i = 2; i < cf->args->nelts; i++) {
        if (dm_upstream_param(&value[i], "weight=", &v)) {
            n = dm_parse_int(v.data, v.len);
            if (n < 1 || n > 1000) {
                goto invalid;
            }
            tmpl.weight = (dm_uint_t) n;
        } else if (dm_upstream_param(&value[i], "max_fails=", &v)) {
            n = dm_parse_int(v.data, v.len);
            if (n < 0 || n > 1000000) {
                goto invalid;
            }
            tmpl.max_fails = (dm_uint_t) n;
        } else if (dm_upstream_param(&value[i], "fail_timeout=", &v)) {
            n = dm_parse_msec(v.data, v.len);
            if (n < 0) {
                goto invalid;
            }
            tmpl.fail_timeout = (dm_msec_t) n;
        } else if (dm_upstream_param(&value[i], "max_conns=", &v)) {
            n = dm_parse_int(v.data, v.len);
            if (n < 0 || n > 10000000) {
                goto invalid;
            }
            tmpl.max_conns = (dm_uint_t) n;
        } else if (dm_upstream_param(&value[i], "slow_start=", &v)) {
            n = dm_parse_msec(v.data, v.len);
            if (n < 0) {
                goto invalid;
            }
            tmpl.slow_start = (dm_msec_t) n;
        } else if (dm_upstream_param(&value[i], "route=", &v)) {
            if (v.len > 64) {
                goto invalid;
            }
            tmpl.id = v;
        } else if (dm_str_eq(&value[i], "backup")) {
            tmpl.backup = 1;
        } else if (dm_str_eq(&value[i], "down")) {
            tmpl.down = 1;
        } else if (dm_str_eq(&value[i], "drain")) {
            tmpl.drain = 1;
        } else if (dm_str_eq(&value[i], "resolve")) {
            tmpl.resolve = 1;
        } else if (dm_upstream_param(&value[i], "service=", &v)) {
            if (v.len > 62) {
                goto invalid;
            }
            tmpl.service = v;
        } else {
            goto invalid;
        }
        continue;

    invalid:
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "invalid parameter \"%s\" of \"server\" in "
                          "upstream \"%.*s\"",
                          value[i].data, DM_STR_ARG(uscf->name));
        return DM_CONF_ERROR;
    }
    return dm_upstream_add_peers(cf, uscf, &tmpl, &value[1]);
}

/* least_conn; | hash KEY [consistent]; | random [two [least_conn]]; */
static char *
dm_upstream_balancer(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_upstream_srv_conf_t *uscf = conf;
    dm_str_t *value = cf->args->elts;
    dm_variable_registry_t *reg;
    dm_upstream_group_t *g;

    if (uscf->balancer_set) {
        return "is duplicate: load balancing method redefined";
    }
    uscf->balancer_set = 1;
    g = dm_upstream_group_get(cf, uscf);
    if (g == NULL) {
        return DM_CONF_ERROR;
    }

    if (dm_str_eq(&value[0], "least_conn")) {
        g->balancer = DM_UPSTREAM_LEAST_CONN;
        return DM_CONF_OK;
    }
    if (dm_str_eq(&value[0], "random")) {
        g->balancer = DM_UPSTREAM_RANDOM;
        if (cf->args->nelts >= 2) {
            if (!dm_str_eq(&value[1], "two")
                || (cf->args->nelts == 3
                    && !dm_str_eq(&value[2], "least_conn"))) {
                return "takes \"two\" and \"least_conn\" only";
            }
            g->balancer = DM_UPSTREAM_RANDOM_TWO;
            g->two_least_conn = 1;
        }
        return DM_CONF_OK;
    }

    /* hash KEY [consistent] */
    if (cf->args->nelts == 3 && !dm_str_eq(&value[2], "consistent")) {
        return "takes \"consistent\" only after the key";
    }
    g->balancer = cf->args->nelts == 3 ? DM_UPSTREAM_CHASH : DM_UPSTREAM_HASH;
    reg = cf->module_type == DM_MODULE_HTTP
              ? &((dm_http_core_main_conf_t *) dm_http_conf_get_main(
                      cf->ctx, dm_http_core_module))
                     ->variables
              : &((dm_stream_core_main_conf_t *) dm_stream_conf_get_main(
                      cf->ctx, dm_stream_core_module))
                     ->variables;
    if (dm_complex_compile(cf, reg, &value[1], &g->hash_key) != DM_OK) {
        return DM_CONF_ERROR;
    }
    return DM_CONF_OK;
}

/* After the engine block: peers ordered, weights summed, the ring built. */
static char *
dm_upstream_init_main_conf(dm_conf_t *cf, void *conf)
{
    dm_upstream_main_conf_t *umcf = conf;
    dm_upstream_srv_conf_t **u = umcf->upstreams.elts;
    dm_upstream_group_t *g;
    dm_uint_t i, k, np, nb;

    dm_conf_init_msec_value(umcf->resolver_valid, 30000);
    if (umcf->upstreams.nelts && dm_upstream_state_declare(cf) != DM_OK) {
        return DM_CONF_ERROR;
    }
    for (i = 0; i < umcf->upstreams.nelts; i++) {
        dm_array_t *lists[2] = {u[i]->peers, u[i]->backups};
        dm_upstream_peer_t *p;

        for (k = 0; k < 2; k++) {
            p = lists[k] ? lists[k]->elts : NULL;
            for (np = 0; lists[k] && np < lists[k]->nelts; np++) {
                if (p[np].resolve && umcf->resolver == NULL) {
                    dm_log_error(DM_LOG_EMERG, cf->log, 0,
                                 "no resolver defined to resolve \"%.*s\" in "
                                 "upstream \"%.*s\" in %.*s:%lu",
                                 DM_STR_ARG(p[np].host), DM_STR_ARG(u[i]->name),
                                 DM_STR_ARG(u[i]->file),
                                 (unsigned long) u[i]->line);
                    return DM_CONF_ERROR;
                }
                umcf->resolves |= p[np].resolve;
            }
        }
    }
    for (i = 0; i < umcf->upstreams.nelts; i++) {
        g = dm_upstream_group_get(cf, u[i]);
        if (g == NULL) {
            return DM_CONF_ERROR;
        }
        np = u[i]->peers ? u[i]->peers->nelts : 0;
        nb = u[i]->backups ? u[i]->backups->nelts : 0;
        if (np == 0) {
            dm_log_error(DM_LOG_EMERG, cf->log, 0,
                         "no servers are inside upstream in %.*s:%lu",
                         DM_STR_ARG(u[i]->file), (unsigned long) u[i]->line);
            return DM_CONF_ERROR;
        }
        if (np + nb > DM_UPSTREAM_MAX_PEERS) {
            dm_log_error(DM_LOG_EMERG, cf->log, 0,
                         "more than %d servers in upstream in %.*s:%lu",
                         DM_UPSTREAM_MAX_PEERS, DM_STR_ARG(u[i]->file),
                         (unsigned long) u[i]->line);
            return DM_CONF_ERROR;
        }
        if (nb
            && (g->balancer == DM_UPSTREAM_HASH
                || g->balancer == DM_UPSTREAM_CHASH)) {
            dm_log_error(DM_LOG_EMERG, cf->log, 0,
                         "\"backup\" cannot be used with \"hash\" in "
                         "%.*s:%lu",
                         DM_STR_ARG(u[i]->file), (unsigned long) u[i]->line);
            return DM_CONF_ERROR;
        }
        g->peers = dm_pcalloc(cf->pool, (np + nb) * sizeof(dm_upstream_peer_t));
        if (g->peers == NULL) {
            return DM_CONF_ERROR;
        }
        memcpy(g->peers, u[i]->peers->elts, np * sizeof(dm_upstream_peer_t));
        if (nb) {
            memcpy(g->peers + np, u[i]->backups->elts,
                   nb * sizeof(dm_upstream_peer_t));
        }
        g->npeers = np + nb;
        g->nprimary = np;
        g->total_weight = 0;
        for (k = 0; k < g->npeers; k++) {
            g->peers[k].index = k;
            if (k < np) {
                g->total_weight += g->peers[k].weight;
            }
        }
        if (g->balancer == DM_UPSTREAM_CHASH
            && dm_upstream_chash_init(cf->pool, g) != DM_OK) {
            return DM_CONF_ERROR;
        }
    }
    return DM_CONF_OK;
}

/* Master, after the zones are mapped: every group gets its records. */
static dm_int_t
dm_upstream_init_module(dm_cycle_t *cycle)
{
    dm_conf_ctx_t *ctx;
    dm_upstream_main_conf_t *umcf;
    dm_upstream_srv_conf_t **u;
    dm_uint_t i, e;

    for (e = 0; e < 2; e++) {
        ctx = e ? dm_http_conf_ctx(cycle) : dm_stream_conf_ctx(cycle);
        if (ctx == NULL) {
            continue;
        }
        umcf = ctx->main_conf[e ? dm_http_upstream_module.ctx_index
                                : dm_stream_upstream_module.ctx_index];
        u = umcf->upstreams.elts;
        for (i = 0; i < umcf->upstreams.nelts; i++) {
            if (dm_upstream_state_bind(cycle, u[i]->group) != DM_OK) {
                return DM_ERROR;
            }
        }
    }
    return DM_OK;
}

dm_upstream_srv_conf_t *
dm_upstream_conf_implicit(dm_conf_t *cf, const dm_str_t *addr)
{
    dm_module_t *m = cf->module_type == DM_MODULE_HTTP
                         ? &dm_http_upstream_module
                         : &dm_stream_upstream_module;
    dm_upstream_main_conf_t *umcf = cf->ctx->main_conf[m->ctx_index];
    dm_upstream_srv_conf_t *uscf, **slot;
    dm_upstream_peer_t tmpl;

    uscf = dm_upstream_conf_find(umcf, addr);
    if (uscf) {
        return uscf;
    }
    uscf = dm_pcalloc(cf->pool, sizeof(dm_upstream_srv_conf_t));
    slot = dm_array_push(&umcf->upstreams);
    if (uscf == NULL || slot == NULL) {
        return NULL;
    }
    uscf->name = *addr;
    if (cf->file) {
        uscf->file = cf->file->name;
        uscf->line = cf->file->dir_line;
    }
    *slot = uscf;

    memset(&tmpl, 0, sizeof(tmpl));
    tmpl.weight = 1;
    tmpl.max_fails = 1;
    tmpl.fail_timeout = 10000;
    if (dm_upstream_add_peers(cf, uscf, &tmpl, addr) != DM_CONF_OK) {
        return NULL;
    }
    return uscf;
}
