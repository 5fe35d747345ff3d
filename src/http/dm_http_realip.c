/*
 * doorman: the real client address of http requests (the POST_READ
 * phase), as nginx's realip module.
 *
 *   set_real_ip_from ADDRESS | CIDR | unix:;   (http, server, location;
 *                                               several)
 *   real_ip_header X-Real-IP | X-Forwarded-For | proxy_protocol | FIELD;
 *                                              (X-Real-IP)
 *   real_ip_recursive on | off;                (off)
 *
 * When the peer that connected is inside set_real_ip_from, the request's
 * client address becomes the one the header names: for X-Forwarded-For
 * the last address of the last such field; with real_ip_recursive the
 * list (all X-Forwarded-For fields, last first) is walked back while the
 * address reached is itself trusted, and the first untrusted one is the
 * client (the leftmost one when all are trusted). X-Real-IP and FIELD
 * read the first field of that name, split at commas the same way. An
 * element is IPv4, IPv6, IPv4:PORT or [IPv6]:PORT; a malformed one stops
 * the walk (logged at info): with nothing found yet the address is left
 * unchanged. `proxy_protocol` takes the source address of the PROXY
 * header the connection came with (`listen ... proxy_protocol`).
 *
 * Only the request's view changes: c->sockaddr and c->addr_text point at
 * the real client (so $remote_addr, $remote_port, allow/deny, limit keys,
 * the access log and error-log context see it) until a cleanup on the
 * request pool puts the peer's back when the request ends or its
 * connection closes; the next request on a kept-alive connection starts
 * from the peer again. The handler runs again in PREACCESS, as nginx, so
 * a location's own set_real_ip_from applies when the server's did not.
 * $realip_remote_addr and $realip_remote_port keep the peer's address.
 */
#include <dm_core.h>
#include <dm_cidr.h>
#include <dm_http_conf.h>
#include <dm_http_request.h>
#include <dm_http_realip.h>
#include <sys/socket.h>
#include <dm_proxy_protocol.h>

#include <arpa/inet.h>

/* What real_ip_header names. */
#define DM_HTTP_REALIP_XREALIP 0 /* X-Real-IP */
#define DM_HTTP_REALIP_XFWD    1 /* X-Forwarded-For (every such field) */
#define DM_HTTP_REALIP_PROXY   2 /* the PROXY header's source address */
#define DM_HTTP_REALIP_HEADER  3 /* another field */

typedef struct {
    dm_array_t *from;    /* dm_cidr_rule_t: trusted peers, or NULL */
    dm_uint_t type;      /* DM_HTTP_REALIP_* */
    dm_str_t header;     /* the field name read (X-Real-IP ...) */
    dm_flag_t recursive; /* real_ip_recursive (off) */
} dm_http_realip_loc_conf_t;

/*
 * A changed request: the peer's address, put back by the request pool
 * cleanup that owns this structure. It is found through that cleanup,
 * not r->ctx, which internal redirects clear: an address is changed once
 * per request.
 */
typedef struct {
    dm_connection_t *connection;
    struct sockaddr *sockaddr; /* the peer's (in the connection's pool) */
    socklen_t socklen;
    dm_str_t addr_text; /* the peer's text */
    unsigned proxy:1;   /* the address came from a PROXY header */
} dm_http_realip_ctx_t;

/* The walk over the header values, last element first. */
typedef struct {
    dm_http_request_t *r;
    dm_http_realip_loc_conf_t *lcf;
    const struct sockaddr *cur; /* the hop the next element sent to */
    dm_inet_addr_t addr;        /* the client found so far */
    unsigned found:1;           /* addr is set */
    unsigned stop:1;            /* the walk is over */
} dm_http_realip_walk_t;

static void *dm_http_realip_create_loc_conf(dm_conf_t *cf);
static char *dm_http_realip_merge_loc_conf(dm_conf_t *cf, void *parent,
                                           void *child);
static char *dm_http_realip_from(dm_conf_t *cf, const dm_command_t *cmd,
                                 void *conf);
static char *dm_http_realip_header(dm_conf_t *cf, const dm_command_t *cmd,
                                   void *conf);
static dm_int_t dm_http_realip_preconfiguration(dm_conf_t *cf);
static dm_int_t dm_http_realip_postconfiguration(dm_conf_t *cf);

static const dm_command_t dm_http_realip_commands[] = {
    {dm_string("set_real_ip_from"),
     DM_HTTP_MAIN_CONF | DM_HTTP_SRV_CONF | DM_HTTP_LOC_CONF, DM_CONF_TAKE1,
     dm_http_realip_from, DM_CONF_LEVEL_LOC, 0, NULL},
    {dm_string("real_ip_header"),
     DM_HTTP_MAIN_CONF | DM_HTTP_SRV_CONF | DM_HTTP_LOC_CONF, DM_CONF_TAKE1,
     dm_http_realip_header, DM_CONF_LEVEL_LOC, 0, NULL},
    {dm_string("real_ip_recursive"),
     DM_HTTP_MAIN_CONF | DM_HTTP_SRV_CONF | DM_HTTP_LOC_CONF, DM_CONF_FLAG,
     dm_conf_set_flag_slot, DM_CONF_LEVEL_LOC,
     offsetof(dm_http_realip_loc_conf_t, recursive), NULL},
    dm_null_command,
};

dm_module_t dm_http_realip_module = {
    .name = "http_realip",
    .type = DM_MODULE_HTTP,
    .commands = dm_http_realip_commands,
    .create_loc_conf = dm_http_realip_create_loc_conf,
    .merge_loc_conf = dm_http_realip_merge_loc_conf,
    .preconfiguration = dm_http_realip_preconfiguration,
    .postconfiguration = dm_http_realip_postconfiguration,
};

static void *
dm_http_realip_create_loc_conf(dm_conf_t *cf)
{
    dm_http_realip_loc_conf_t *conf;

    conf = dm_pcalloc(cf->pool, sizeof(*conf));
    if (conf) {
        conf->type = DM_CONF_UNSET_UINT;
        conf->recursive = DM_CONF_UNSET;
    }
    return conf;
}

static char *
dm_http_realip_merge_loc_conf(dm_conf_t *cf, void *parent, void *child)
{
    dm_http_realip_loc_conf_t *prev = parent, *conf = child;

    /* a level with set_real_ip_from lines replaces the list above */
    if (conf->from == NULL) {
        conf->from = prev->from;
    }
    if (conf->type == DM_CONF_UNSET_UINT) {
        if (prev->type == DM_CONF_UNSET_UINT) {
            conf->type = DM_HTTP_REALIP_XREALIP;
            dm_str_set(&conf->header, "X-Real-IP");
        } else {
            conf->type = prev->type;
            conf->header = prev->header;
        }
    }
    dm_conf_merge_value(conf->recursive, prev->recursive, 0);
    return DM_CONF_OK;
}

/* set_real_ip_from ADDRESS | CIDR | unix: */
static char *
dm_http_realip_from(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_http_realip_loc_conf_t *lcf = conf;
    dm_str_t *value = cf->args->elts;
    dm_cidr_rule_t *rule;

    /* nginx has no "all" here: trusting every peer is 0.0.0.0/0 and ::/0,
       written out */
    if (dm_str_eq(&value[1], "all")) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0, "invalid parameter \"%.*s\"",
                          DM_STR_ARG(value[1]));
        return DM_CONF_ERROR;
    }
    if (lcf->from == NULL) {
        lcf->from = dm_array_create(cf->pool, 4, sizeof(dm_cidr_rule_t));
        if (lcf->from == NULL) {
            return DM_CONF_ERROR;
        }
    }
    rule = dm_array_push(lcf->from);
    if (rule == NULL || dm_cidr_parse(cf, &value[1], rule) != DM_OK) {
        return DM_CONF_ERROR;
    }
    return DM_CONF_OK;
}

/* real_ip_header X-Real-IP | X-Forwarded-For | proxy_protocol | FIELD */
static char *
dm_http_realip_header(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_http_realip_loc_conf_t *lcf = conf;
    dm_str_t *value = cf->args->elts;

    if (lcf->type != DM_CONF_UNSET_UINT) {
        return "is duplicate";
    }
    if (value[1].len == 0) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0, "empty real_ip_header");
        return DM_CONF_ERROR;
    }
    lcf->header = value[1];
    if (dm_str_caseeq(&value[1], "X-Real-IP")) {
        lcf->type = DM_HTTP_REALIP_XREALIP;
    } else if (dm_str_caseeq(&value[1], "X-Forwarded-For")) {
        lcf->type = DM_HTTP_REALIP_XFWD;
    } else if (dm_str_eq(&value[1], "proxy_protocol")) {
        lcf->type = DM_HTTP_REALIP_PROXY;
    } else {
        lcf->type = DM_HTTP_REALIP_HEADER;
    }
    return DM_CONF_OK;
}

static void
dm_http_realip_cleanup(void *data)
{
    dm_http_realip_ctx_t *ctx = data;
    dm_connection_t *c = ctx->connection;

    c->sockaddr = ctx->sockaddr;
    c->socklen = ctx->socklen;
    c->addr_text = ctx->addr_text;
}

/* The request's change (its pool cleanup), or NULL when there is none. */
static dm_http_realip_ctx_t *
dm_http_realip_ctx(dm_http_request_t *r)
{
    dm_pool_cleanup_t *cln;

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == dm_http_realip_cleanup) {
            return cln->data;
        }
    }
    return NULL;
}

/*
 * An address as a header gives it: IPv4, IPv6, IPv4:PORT, [IPv6]:PORT.
 * The port is 0 when there is none. Returns DM_OK or DM_ERROR.
 */
static dm_int_t
dm_http_realip_parse(const u_char *p, size_t len, dm_inet_addr_t *a)
{
    struct sockaddr_in *sin = (struct sockaddr_in *) &a->sa;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &a->sa;
    char host[INET6_ADDRSTRLEN];
    const char *err;

    memset(a, 0, sizeof(*a));
    if (len == 0) {
        return DM_ERROR;
    }
    if (len < sizeof(host)) {
        memcpy(host, p, len);
        host[len] = '\0';
        if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
            sin->sin_family = AF_INET;
            a->socklen = sizeof(*sin);
            return DM_OK;
        }
        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
            sin6->sin6_family = AF_INET6;
            a->socklen = sizeof(*sin6);
            return DM_OK;
        }
    }
    /*
     * With a port. dm_inet_parse also reads what a listen directive may
     * say and a header must not: a bare port, "*:PORT" and "unix:".
     */
    if ((p[0] != '[' && (p[0] < '0' || p[0] > '9'))
        || memchr(p, ':', len) == NULL) {
        return DM_ERROR;
    }
    if (dm_inet_parse(p, len, 0, a, &err) != DM_OK) {
        return DM_ERROR;
    }
    return a->sa.ss_family == AF_INET || a->sa.ss_family == AF_INET6 ? DM_OK
                                                                     : DM_ERROR;
}

static int
dm_http_realip_sep(u_char ch)
{
    return ch == ' ' || ch == ',' || ch == '\t';
}

/*
 * Walks one field's value from its last element back: while the hop
 * reached is trusted, the element before it is who connected to it.
 * Non-recursive, one element is taken at most.
 */
static void
dm_http_realip_walk(dm_http_realip_walk_t *w, const dm_http_header_t *h)
{
    const u_char *start = h->value.data, *end = start + h->value.len, *e;
    dm_inet_addr_t next;

    for (;;) {
        while (end > start && dm_http_realip_sep(end[-1])) {
            end--;
        }
        if (end == start) {
            /* this field is used up: go on with the one before */
            return;
        }
        e = end;
        while (e > start && !dm_http_realip_sep(e[-1])) {
            e--;
        }
        if (!dm_cidr_match(w->lcf->from, w->cur)) {
            /* an untrusted hop: it is the client */
            w->stop = 1;
            return;
        }
        if (dm_http_realip_parse(e, (size_t) (end - e), &next) != DM_OK) {
            dm_log_error(DM_LOG_INFO, w->r->connection->log, 0,
                         "realip: invalid address \"%.*s\" in \"%.*s\"",
                         (int) (end - e), (const char *) e,
                         DM_STR_ARG(h->name));
            w->stop = 1;
            return;
        }
        w->addr = next;
        w->cur = (const struct sockaddr *) &w->addr.sa;
        w->found = 1;
        if (!w->lcf->recursive) {
            w->stop = 1;
            return;
        }
        end = e;
    }
}

static int
dm_http_realip_name_is(const dm_http_header_t *h, const dm_str_t *name)
{
    return h->name.len == name->len
           && strncasecmp((const char *) h->name.data,
                          (const char *) name->data, name->len)
                  == 0;
}

/* The client address the header names (1, in *addr), or 0: no change. */
static int
dm_http_realip_find(dm_http_request_t *r, dm_http_realip_loc_conf_t *lcf,
                    dm_inet_addr_t *addr)
{
    dm_http_header_t *h = r->head.headers;
    dm_http_realip_walk_t w;
    size_t k;

    memset(&w, 0, sizeof(w));
    w.r = r;
    w.lcf = lcf;
    w.cur = r->connection->sockaddr;
    if (lcf->type == DM_HTTP_REALIP_XFWD) {
        /* one list over every field, the last field last: read from
           the end; non-recursive, only the last field counts */
        for (k = r->head.nheaders; k-- > 0 && !w.stop;) {
            if (dm_http_realip_name_is(&h[k], &lcf->header)) {
                dm_http_realip_walk(&w, &h[k]);
                if (!lcf->recursive) {
                    break;
                }
            }
        }
    } else {
        for (k = 0; k < r->head.nheaders; k++) {
            if (dm_http_realip_name_is(&h[k], &lcf->header)) {
                dm_http_realip_walk(&w, &h[k]);
                break;
            }
        }
    }
    if (w.found) {
        *addr = w.addr;
    }
    return w.found;
}

/*
 * Points the connection at the real client for the rest of the request;
 * the cleanup on r's pool puts the peer back. Returns DM_DECLINED (the
 * next handler), or DM_ERROR.
 */
static dm_int_t
dm_http_realip_set(dm_http_request_t *r, const dm_inet_addr_t *addr)
{
    dm_connection_t *c = r->connection;
    u_char text[DM_INET_ADDRSTRLEN], *p;
    dm_http_realip_ctx_t *ctx;
    dm_pool_cleanup_t *cln;
    struct sockaddr *sa;
    size_t len;

    cln = dm_pool_cleanup_add(r->pool, sizeof(dm_http_realip_ctx_t));
    if (cln == NULL) {
        return DM_ERROR;
    }
    len = dm_inet_ntop((const struct sockaddr *) &addr->sa, text, sizeof(text),
                       0);
    sa = dm_palloc(r->pool, addr->socklen);
    p = dm_pnalloc(r->pool, len + 1);
    if (len == 0 || sa == NULL || p == NULL) {
        return DM_ERROR;
    }
    memcpy(sa, &addr->sa, addr->socklen);
    memcpy(p, text, len + 1);

    ctx = cln->data;
    ctx->proxy = 0;
    ctx->connection = c;
    ctx->sockaddr = c->sockaddr;
    ctx->socklen = c->socklen;
    ctx->addr_text = c->addr_text;
    /* from here on the cleanup owns the restore */
    cln->handler = dm_http_realip_cleanup;

    c->sockaddr = sa;
    c->socklen = addr->socklen;
    c->addr_text.data = p;
    c->addr_text.len = len;
    return DM_DECLINED;
}

/*
 * real_ip_header proxy_protocol: the source address of the PROXY header
 * the connection came with, when the balancer that sent it is trusted (a
 * LOCAL header, or none, changes nothing).
 */
static dm_int_t
dm_http_realip_proxy(dm_http_request_t *r, dm_http_realip_loc_conf_t *lcf)
{
    const dm_proxy_protocol_t *pp = r->connection->proxy_protocol;
    dm_inet_addr_t addr;

    if (pp == NULL || pp->local
        || (pp->src.ss_family != AF_INET && pp->src.ss_family != AF_INET6)
        || !dm_cidr_match(lcf->from, r->connection->sockaddr)) {
        return DM_DECLINED;
    }
    memset(&addr, 0, sizeof(addr));
    memcpy(&addr.sa, &pp->src, pp->src_len);
    addr.socklen = pp->src_len;
    if (dm_http_realip_set(r, &addr) == DM_ERROR) {
        return DM_ERROR;
    }
    dm_http_realip_ctx(r)->proxy = 1;
    return DM_DECLINED;
}

/* POST_READ (the server's settings), and PREACCESS (the location's). */
static dm_int_t
dm_http_realip_handler(void *obj)
{
    dm_http_request_t *r = obj;
    dm_http_realip_loc_conf_t *lcf =
        dm_http_request_loc_conf(r, dm_http_realip_module);
    dm_inet_addr_t addr;

    if (lcf->from == NULL || dm_http_realip_ctx(r) != NULL) {
        /* nothing to trust, or changed already */
        return DM_DECLINED;
    }
    if (lcf->type == DM_HTTP_REALIP_PROXY) {
        return dm_http_realip_proxy(r, lcf);
    }
    if (!dm_http_realip_find(r, lcf, &addr)) {
        return DM_DECLINED;
    }
    return dm_http_realip_set(r, &addr);
}

int
dm_http_realip_trusted(dm_http_request_t *r)
{
    dm_http_realip_loc_conf_t *lcf =
        dm_http_request_loc_conf(r, dm_http_realip_module);
    dm_http_realip_ctx_t *ctx = dm_http_realip_ctx(r);

    return dm_cidr_match(lcf->from,
                         ctx ? ctx->sockaddr : r->connection->sockaddr);
}

int
dm_http_realip_transparent(dm_http_request_t *r)
{
    dm_http_realip_ctx_t *ctx = dm_http_realip_ctx(r);

    return ctx && ctx->proxy;
}

const dm_str_t *
dm_http_realip_peer(dm_http_request_t *r)
{
    dm_http_realip_ctx_t *ctx = dm_http_realip_ctx(r);

    return ctx ? &ctx->addr_text : &r->connection->addr_text;
}

/* $realip_remote_addr (data 0) and $realip_remote_port (data 1). */
static dm_int_t
dm_http_realip_var(dm_variable_env_t *env, dm_variable_value_t *v,
                   uintptr_t port)
{
    dm_http_request_t *r = env->obj;
    dm_http_realip_ctx_t *ctx = r ? dm_http_realip_ctx(r) : NULL;
    dm_connection_t *c = env->connection;
    const struct sockaddr *sa = ctx ? ctx->sockaddr : c->sockaddr;
    const dm_str_t *text = ctx ? &ctx->addr_text : &c->addr_text;

    if (!port) {
        return dm_variable_set_str(v, text->data, text->len);
    }
    if (sa == NULL || sa->sa_family == AF_UNIX) {
        v->not_found = 1;
        return DM_OK;
    }
    return dm_variable_set_num(env, v, dm_inet_get_port(sa));
}

static dm_int_t
dm_http_realip_preconfiguration(dm_conf_t *cf)
{
    static const dm_str_t names[] = {dm_string("realip_remote_addr"),
                                     dm_string("realip_remote_port")};
    dm_http_core_main_conf_t *cmcf =
        dm_http_conf_get_main(cf->ctx, dm_http_core_module);
    dm_variable_t *v;
    dm_uint_t i;

    for (i = 0; i < 2; i++) {
        /* the peer never changes within a request: cacheable */
        v = dm_variable_add(cf, &cmcf->variables, &names[i], 0);
        if (v == NULL) {
            return DM_ERROR;
        }
        v->get = dm_http_realip_var;
        v->data = i;
    }
    return DM_OK;
}

static dm_int_t
dm_http_realip_postconfiguration(dm_conf_t *cf)
{
    dm_http_core_main_conf_t *cmcf =
        dm_http_conf_get_main(cf->ctx, dm_http_core_module);

    /* PREACCESS too, before limit_req / limit_conn (module order), so a
       location's set_real_ip_from applies to them and to allow / deny */
    if (dm_phase_add(&cmcf->phases, DM_HTTP_POST_READ_PHASE,
                     dm_http_realip_handler)
        != DM_OK) {
        return DM_ERROR;
    }
    return dm_phase_add(&cmcf->phases, DM_HTTP_PREACCESS_PHASE,
                        dm_http_realip_handler);
}
