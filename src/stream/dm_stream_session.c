/*
 * doorman: stream sessions.
 */
#include <dm_core.h>
#include <dm_event.h>
#include <dm_stream.h>

/* Lingering close of a finished session: at most 30 s, 5 s per read. */
#define DM_STREAM_LINGER_TIMEOUT 5000
#define DM_STREAM_LINGER_TIME    30000

static dm_stream_addr_t *
dm_stream_session_find_addr(dm_connection_t *c)
{
    dm_stream_port_t *port = c->listening->servers;
    dm_uint_t i;

    if (port->naddrs == 1) {
        return &port->addrs[0];
    }
    /* a wildcard socket shared with specific addresses: ask which one */
    if (dm_connection_local_sockaddr(c) != DM_OK) {
        return &port->addrs[port->naddrs - 1];
    }
    for (i = 0; i + 1 < port->naddrs; i++) {
        dm_inet_addr_t *a = &port->addrs[i].addr;

        if (dm_inet_cmp((struct sockaddr *) &a->sa, a->socklen,
                        c->local_sockaddr, c->local_socklen)
            == 0) {
            return &port->addrs[i];
        }
    }
    return &port->addrs[port->naddrs - 1];
}

void
dm_stream_session_init_connection(dm_connection_t *c)
{
    dm_stream_core_main_conf_t *cmcf;
    dm_stream_core_srv_conf_t *cscf;
    dm_stream_addr_t *addr;
    dm_stream_session_t *s;

    addr = dm_stream_session_find_addr(c);
    cscf = addr->server;

    s = dm_pcalloc(c->pool, sizeof(dm_stream_session_t));
    if (s == NULL) {
        dm_connection_close(c);
        return;
    }
    s->ctx =
        dm_pcalloc(c->pool, sizeof(void *) * dm_module_count(DM_MODULE_STREAM));
    if (s->ctx == NULL) {
        dm_connection_close(c);
        return;
    }
    /* a UDP session's state arrives in c->data (dm_stream_udp.c) */
    if (c->type == SOCK_DGRAM) {
        s->udp = c->data;
    }
    s->connection = c;
    s->ssl = addr->ssl;
    s->proxy_protocol = addr->proxy_protocol;
    s->main_conf = cscf->ctx->main_conf;
    s->srv_conf = cscf->ctx->srv_conf;
    cmcf = dm_stream_session_main_conf(s, dm_stream_core_module);
    if (dm_variable_env_init(&s->vars, &cmcf->variables, c->pool, c, s)
        != DM_OK) {
        dm_connection_close(c);
        return;
    }
    s->start_msec = dm_current_msec;
    s->status = DM_STREAM_OK;
    c->data = s;

    /* until a phase takes them over, events only wake the pipeline */
    c->read->handler = dm_event_empty_handler;
    c->write->handler = dm_event_empty_handler;

    dm_stream_session_run(s);
}

void
dm_stream_session_run(dm_stream_session_t *s)
{
    dm_stream_core_main_conf_t *cmcf =
        dm_stream_session_main_conf(s, dm_stream_core_module);
    dm_int_t rc;

    rc = dm_phase_run(&cmcf->phases, &s->phase_index, s);
    switch (rc) {
    case DM_AGAIN:
    case DM_DONE:
        return;
    case DM_OK:
        /* every phase passed and nobody produced content */
        dm_stream_session_finalize(s, DM_STREAM_INTERNAL_ERROR);
        return;
    default:
        dm_stream_session_finalize(s, s->status == DM_STREAM_OK
                                          ? DM_STREAM_INTERNAL_ERROR
                                          : s->status);
    }
}

void
dm_stream_session_finalize(dm_stream_session_t *s, dm_uint_t status)
{
    dm_stream_core_main_conf_t *cmcf;
    dm_connection_t *c = s->connection;

    if (s->finalized) {
        return;
    }
    s->finalized = 1;
    s->status = status;
    if (s->cleanup) {
        s->cleanup(s);
        s->cleanup = NULL;
    }

    cmcf = dm_stream_session_main_conf(s, dm_stream_core_module);
    dm_phase_run_log(&cmcf->phases, s);

    if (s->reset && c->type == SOCK_STREAM) {
        /* the upstream reset the session: the client sees a reset too */
        struct linger l = {1, 0};

        (void) setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        dm_connection_close(c);
        return;
    }
    if (c->error || c->timedout || c->close) {
        dm_connection_close(c);
        return;
    }
    dm_connection_lingering_close(c, DM_STREAM_LINGER_TIMEOUT,
                                  DM_STREAM_LINGER_TIME);
}
