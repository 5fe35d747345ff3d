/*
 * doorman: ssl_preread, TLS passthrough routed by SNI (the PREREAD phase).
 *
 *   ssl_preread on|off;          (stream, server; off)
 *   preread_buffer_size SIZE;    (stream, server; 16k, 1k to 1m)
 *   preread_timeout TIME;        (stream, server; 30s)
 *
 *   $ssl_preread_server_name     the SNI host name, in lower case
 *   $ssl_preread_alpn_protocols  the ALPN names offered: h2,http/1.1
 *   $ssl_preread_protocol        TLSv1.3, TLSv1.2, TLSv1.1, TLSv1, SSLv3
 *
 * With ssl_preread on, the client's first bytes are read into c->buffer
 * (preread_buffer_size bytes from the connection's pool) until the
 * ClientHello in them is complete (dm_tls_hello.c), over as many TCP
 * segments and TLS records as the client uses, within preread_timeout from
 * the session's start (the timer is not moved by reads). Nothing is
 * consumed: the bytes stay in c->buffer, and proxy_pass sends them to the
 * upstream before anything else, so the TLS session is the client's and
 * the backend's alone; doorman holds no key. With map and proxy_pass $var
 * the name chooses the upstream.
 *
 * Unlike nginx, which lets a connection that is not TLS go on with empty
 * variables, doorman closes it ($status 400) and logs why, as it does a
 * malformed ClientHello, one larger than preread_buffer_size, and a
 * client that does not complete its hello within preread_timeout (or
 * closes first). UDP sessions are not looked at.
 */
#include <dm_core.h>
#include <dm_event.h>
#include <dm_stream.h>
#include <dm_tls_hello.h>

typedef struct {
    dm_flag_t enabled;  /* ssl_preread (off) */
    size_t buffer_size; /* preread_buffer_size (16k) */
    dm_msec_t timeout;  /* preread_timeout (30s) */
} dm_stream_ssl_preread_srv_conf_t;

/* A session's state: the parser, then what the variables show. */
typedef struct {
    dm_tls_hello_t hello; /* the parser and its results */
    u_char *alpn;         /* the ALPN names, comma-separated (own copy) */
    size_t alpn_len;
    unsigned done:1; /* a valid ClientHello was read */
} dm_stream_ssl_preread_ctx_t;

#define DM_SSL_PREREAD_VAR_NAME     0
#define DM_SSL_PREREAD_VAR_ALPN     1
#define DM_SSL_PREREAD_VAR_PROTOCOL 2

static void *dm_stream_ssl_preread_create_srv_conf(dm_conf_t *cf);
static char *dm_stream_ssl_preread_merge_srv_conf(dm_conf_t *cf, void *parent,
                                                  void *child);
static dm_int_t dm_stream_ssl_preread_preconfiguration(dm_conf_t *cf);
static dm_int_t dm_stream_ssl_preread_postconfiguration(dm_conf_t *cf);

static const dm_conf_bounds_t dm_stream_ssl_preread_size_bounds = {1024,
                                                                   1048576};
static const dm_conf_bounds_t dm_stream_ssl_preread_time_bounds = {
    1, 7LL * 86400000};

#define DM_SSL_PREREAD_SRV(f)                                                  \
    DM_CONF_LEVEL_SRV, offsetof(dm_stream_ssl_preread_srv_conf_t, f)

static const dm_command_t dm_stream_ssl_preread_commands[] = {
    {dm_string("ssl_preread"), DM_STREAM_MAIN_CONF | DM_STREAM_SRV_CONF,
     DM_CONF_FLAG, dm_conf_set_flag_slot, DM_SSL_PREREAD_SRV(enabled), NULL},
    {dm_string("preread_buffer_size"), DM_STREAM_MAIN_CONF | DM_STREAM_SRV_CONF,
     DM_CONF_TAKE1, dm_conf_set_size_slot, DM_SSL_PREREAD_SRV(buffer_size),
     &dm_stream_ssl_preread_size_bounds},
    {dm_string("preread_timeout"), DM_STREAM_MAIN_CONF | DM_STREAM_SRV_CONF,
     DM_CONF_TAKE1, dm_conf_set_msec_slot, DM_SSL_PREREAD_SRV(timeout),
     &dm_stream_ssl_preread_time_bounds},
    dm_null_command,
};

dm_module_t dm_stream_ssl_preread_module = {
    .name = "stream_ssl_preread",
    .type = DM_MODULE_STREAM,
    .commands = dm_stream_ssl_preread_commands,
    .create_srv_conf = dm_stream_ssl_preread_create_srv_conf,
    .merge_srv_conf = dm_stream_ssl_preread_merge_srv_conf,
    .preconfiguration = dm_stream_ssl_preread_preconfiguration,
    .postconfiguration = dm_stream_ssl_preread_postconfiguration,
};

static void *
dm_stream_ssl_preread_create_srv_conf(dm_conf_t *cf)
{
    dm_stream_ssl_preread_srv_conf_t *conf;

    conf = dm_pcalloc(cf->pool, sizeof(*conf));
    if (conf) {
        conf->enabled = DM_CONF_UNSET;
        conf->buffer_size = DM_CONF_UNSET_SIZE;
        conf->timeout = DM_CONF_UNSET_MSEC;
    }
    return conf;
}

static char *
dm_stream_ssl_preread_merge_srv_conf(dm_conf_t *cf, void *parent, void *child)
{
    dm_stream_ssl_preread_srv_conf_t *prev = parent, *conf = child;

    dm_conf_merge_value(conf->enabled, prev->enabled, 0);
    dm_conf_merge_size_value(conf->buffer_size, prev->buffer_size, 16384);
    dm_conf_merge_msec_value(conf->timeout, prev->timeout, 30000);
    return DM_CONF_OK;
}

/* The ClientHello is read: keep what the variables show, stop reading. */
static dm_int_t
dm_stream_ssl_preread_done(dm_stream_session_t *s,
                           dm_stream_ssl_preread_ctx_t *ctx)
{
    dm_connection_t *c = s->connection;
    dm_tls_hello_t *h = &ctx->hello;

    /* ALPN points into bytes proxy_pass may reuse: copy it, joined */
    if (h->alpn_len) {
        ctx->alpn = dm_pnalloc(c->pool, h->alpn_len);
        if (ctx->alpn == NULL) {
            return DM_ERROR;
        }
        ctx->alpn_len = dm_tls_hello_alpn_text(h, ctx->alpn);
    }
    ctx->done = 1;
    if (c->read->timer_set) {
        dm_event_timer_del(c->read);
    }
    c->read->handler = dm_event_empty_handler;
    c->log->action = NULL;
    dm_log_debug(c->log, 0, "ssl_preread: %zu bytes, server name \"%.*s\", %s",
                 h->length, (int) h->server_name_len, h->server_name,
                 dm_tls_hello_protocol(h) ? dm_tls_hello_protocol(h) : "?");
    return DM_DECLINED;
}

/* Ends the session: the client sent no usable ClientHello. */
static dm_int_t
dm_stream_ssl_preread_refuse(dm_stream_session_t *s, dm_uint_t level,
                             const char *why)
{
    dm_connection_t *c = s->connection;

    c->log->action = NULL;
    dm_log_error(level, c->log, 0, "ssl_preread: %s, closing", why);
    c->close = 1;
    dm_stream_session_finalize(s, DM_STREAM_BAD_REQUEST);
    return DM_DONE;
}

static void
dm_stream_ssl_preread_read_event(dm_event_t *ev)
{
    dm_connection_t *c = ev->data;

    dm_stream_session_run(c->data);
}

/*
 * Reads what the socket has and parses it, until the hello is complete,
 * invalid, or the socket is drained (DM_AGAIN).
 */
static dm_int_t
dm_stream_ssl_preread_read(dm_stream_session_t *s,
                           dm_stream_ssl_preread_ctx_t *ctx)
{
    dm_connection_t *c = s->connection;
    dm_tls_hello_t *h = &ctx->hello;
    dm_buf_t *b = c->buffer;
    dm_int_t rc;
    ssize_t n;

    for (;;) {
        rc = dm_tls_hello_parse(h, b->pos, dm_buf_size(b));
        if (rc == DM_DECLINED) {
            /* split over records: joined in memory of its own */
            h->scratch = dm_pnalloc(c->pool, h->need);
            if (h->scratch == NULL) {
                return DM_ERROR;
            }
            h->scratch_size = h->need;
            continue;
        }
        if (rc == DM_OK) {
            return dm_stream_ssl_preread_done(s, ctx);
        }
        if (rc == DM_ERROR) {
            return dm_stream_ssl_preread_refuse(s, DM_LOG_ERR, h->error);
        }
        if (b->last == b->end) {
            return dm_stream_ssl_preread_refuse(
                s, DM_LOG_ERR, "ClientHello larger than preread_buffer_size");
        }
        if (!c->read->ready) {
            return DM_AGAIN;
        }
        n = c->recv(c, b->last, (size_t) (b->end - b->last));
        if (n == DM_AGAIN) {
            return DM_AGAIN;
        }
        if (n == DM_ERROR) {
            /* recv logged the error */
            dm_stream_session_finalize(s, DM_STREAM_BAD_REQUEST);
            return DM_DONE;
        }
        if (n == 0) {
            return dm_stream_ssl_preread_refuse(
                s, DM_LOG_INFO,
                "client closed the connection before its ClientHello was "
                "complete");
        }
        b->last += n;
    }
}

static dm_int_t
dm_stream_ssl_preread_handler(void *obj)
{
    dm_stream_session_t *s = obj;
    dm_stream_ssl_preread_srv_conf_t *conf =
        dm_stream_session_srv_conf(s, dm_stream_ssl_preread_module);
    dm_stream_ssl_preread_ctx_t *ctx;
    dm_connection_t *c = s->connection;
    dm_int_t rc;

    if (!conf->enabled || c->type != SOCK_STREAM) {
        return DM_DECLINED;
    }
    ctx = s->ctx[dm_stream_ssl_preread_module.ctx_index];
    if (ctx == NULL) {
        ctx = dm_pcalloc(c->pool, sizeof(*ctx));
        if (ctx == NULL) {
            return DM_ERROR;
        }
        s->ctx[dm_stream_ssl_preread_module.ctx_index] = ctx;
        /* an earlier phase may have read ahead already: go on from it */
        if (c->buffer == NULL) {
            c->buffer = dm_buf_create(c->pool, conf->buffer_size);
            if (c->buffer == NULL) {
                return DM_ERROR;
            }
        }
        dm_tls_hello_init(&ctx->hello,
                          (size_t) (c->buffer->end - c->buffer->pos));
        c->log->action = "reading the ClientHello";
    }
    if (c->read->timedout) {
        c->timedout = 1;
        return dm_stream_ssl_preread_refuse(
            s, DM_LOG_INFO,
            "client timed out before its ClientHello was complete "
            "(preread_timeout)");
    }

    rc = dm_stream_ssl_preread_read(s, ctx);
    if (rc != DM_AGAIN) {
        return rc;
    }
    c->read->handler = dm_stream_ssl_preread_read_event;
    /* set once: reads do not move it, the whole hello has this long */
    if (!c->read->timer_set
        && dm_event_timer_add(c->read, conf->timeout) != DM_OK) {
        return DM_ERROR;
    }
    return DM_AGAIN;
}

static dm_int_t
dm_stream_ssl_preread_var(dm_variable_env_t *env, dm_variable_value_t *v,
                          uintptr_t which)
{
    dm_stream_session_t *s = env->obj;
    dm_stream_ssl_preread_ctx_t *ctx =
        s->ctx[dm_stream_ssl_preread_module.ctx_index];
    const char *proto;

    if (ctx == NULL || !ctx->done) {
        v->not_found = 1;
        return DM_OK;
    }
    switch (which) {
    case DM_SSL_PREREAD_VAR_NAME:
        if (ctx->hello.server_name_len == 0) {
            v->not_found = 1;
            return DM_OK;
        }
        return dm_variable_set_str(v, ctx->hello.server_name,
                                   ctx->hello.server_name_len);
    case DM_SSL_PREREAD_VAR_ALPN:
        if (ctx->alpn_len == 0) {
            v->not_found = 1;
            return DM_OK;
        }
        return dm_variable_set_str(v, ctx->alpn, ctx->alpn_len);
    default:
        proto = dm_tls_hello_protocol(&ctx->hello);
        if (proto == NULL) {
            v->not_found = 1;
            return DM_OK;
        }
        return dm_variable_set_str(v, (u_char *) proto, strlen(proto));
    }
}

static dm_int_t
dm_stream_ssl_preread_preconfiguration(dm_conf_t *cf)
{
    static const char *names[] = {
        [DM_SSL_PREREAD_VAR_NAME] = "ssl_preread_server_name",
        [DM_SSL_PREREAD_VAR_ALPN] = "ssl_preread_alpn_protocols",
        [DM_SSL_PREREAD_VAR_PROTOCOL] = "ssl_preread_protocol",
    };
    dm_stream_core_main_conf_t *cmcf =
        dm_stream_conf_get_main(cf->ctx, dm_stream_core_module);
    dm_variable_t *v;
    dm_str_t name;
    dm_uint_t i;

    for (i = 0; i < dm_nelems(names); i++) {
        name.data = (u_char *) names[i];
        name.len = strlen(names[i]);
        /* not cached: a use before the PREREAD phase must not stick */
        v = dm_variable_add(cf, &cmcf->variables, &name, DM_VAR_NOCACHEABLE);
        if (v == NULL) {
            return DM_ERROR;
        }
        v->get = dm_stream_ssl_preread_var;
        v->data = i;
    }
    return DM_OK;
}

static dm_int_t
dm_stream_ssl_preread_postconfiguration(dm_conf_t *cf)
{
    dm_stream_core_main_conf_t *cmcf =
        dm_stream_conf_get_main(cf->ctx, dm_stream_core_module);

    return dm_phase_add(&cmcf->phases, DM_STREAM_PREREAD_PHASE,
                        dm_stream_ssl_preread_handler);
}
