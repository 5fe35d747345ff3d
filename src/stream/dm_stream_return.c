/*
 * doorman: the stream `return` content handler.
 *
 *   return "TEXT";     (stream server)
 *
 * Sends the text (variables allowed: return "$remote_addr\n";) and closes
 * the connection: the smallest content handler, used by the process-model
 * tests and as a health endpoint. On a UDP listener the text is one
 * datagram answering the first one, and the session ends.
 */
#include <dm_core.h>
#include <dm_event.h>
#include <dm_stream.h>

/* How long a client may take to accept the text. */
#define DM_STREAM_RETURN_TIMEOUT 60000

typedef struct {
    dm_complex_value_t text; /* what to send */
} dm_stream_return_srv_conf_t;

static void *dm_stream_return_create_srv_conf(dm_conf_t *cf);
static char *dm_stream_return_set(dm_conf_t *cf, const dm_command_t *cmd,
                                  void *conf);
static dm_int_t dm_stream_return_handler(dm_stream_session_t *s);
static void dm_stream_return_write(dm_event_t *wev);

static const dm_command_t dm_stream_return_commands[] = {
    {dm_string("return"), DM_STREAM_SRV_CONF, DM_CONF_TAKE1,
     dm_stream_return_set, DM_CONF_LEVEL_SRV, 0, NULL},
    dm_null_command,
};

dm_module_t dm_stream_return_module = {
    .name = "stream_return",
    .type = DM_MODULE_STREAM,
    .commands = dm_stream_return_commands,
    .create_srv_conf = dm_stream_return_create_srv_conf,
};

static void *
dm_stream_return_create_srv_conf(dm_conf_t *cf)
{
    return dm_pcalloc(cf->pool, sizeof(dm_stream_return_srv_conf_t));
}

static char *
dm_stream_return_set(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_stream_return_srv_conf_t *rcf = conf;
    dm_stream_core_srv_conf_t *cscf =
        dm_stream_conf_get_srv(cf->ctx, dm_stream_core_module);
    dm_stream_core_main_conf_t *cmcf =
        dm_stream_conf_get_main(cf->ctx, dm_stream_core_module);
    dm_str_t *value = cf->args->elts;

    if (cscf->handler) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "\"return\" conflicts with \"%s\" in the same "
                          "server",
                          cscf->handler_name);
        return DM_CONF_ERROR;
    }
    if (dm_complex_compile(cf, &cmcf->variables, &value[1], &rcf->text)
        != DM_OK) {
        return DM_CONF_ERROR;
    }
    cscf->handler = dm_stream_return_handler;
    cscf->handler_name = "return";
    return DM_CONF_OK;
}

static dm_int_t
dm_stream_return_handler(dm_stream_session_t *s)
{
    dm_stream_return_srv_conf_t *rcf =
        dm_stream_session_srv_conf(s, dm_stream_return_module);
    dm_connection_t *c = s->connection;
    dm_str_t *text;

    /* evaluated once; the write handler sends from the session's copy */
    text = dm_palloc(c->pool, sizeof(dm_str_t));
    if (text == NULL || dm_complex_eval(&s->vars, &rcf->text, text) != DM_OK) {
        return DM_ERROR;
    }
    s->ctx[dm_stream_return_module.ctx_index] = text;

    if (c->type == SOCK_DGRAM) {
        /* UDP: one datagram answers the one that started the session (the
           shared listener socket is never writable as an event) */
        (void) dm_stream_udp_send(s, text->data, text->len);
        dm_stream_session_finalize(s, DM_STREAM_OK);
        return DM_DONE;
    }

    c->log->action = "sending the return text to the client";
    c->write->handler = dm_stream_return_write;
    dm_stream_return_write(c->write);
    return DM_DONE;
}

static void
dm_stream_return_write(dm_event_t *wev)
{
    dm_connection_t *c = wev->data;
    dm_stream_session_t *s = c->data;
    dm_str_t *text = s->ctx[dm_stream_return_module.ctx_index];
    size_t off;
    ssize_t n;

    if (wev->timedout) {
        dm_log_error(DM_LOG_INFO, c->log, ETIMEDOUT, "client timed out");
        c->timedout = 1;
        dm_stream_session_finalize(s, DM_STREAM_OK);
        return;
    }

    /* c->sent counts what already went out of this text */
    while ((off = (size_t) c->sent) < text->len) {
        if (!wev->ready) {
            if (dm_event_timer_add(wev, DM_STREAM_RETURN_TIMEOUT) != DM_OK) {
                dm_stream_session_finalize(s, DM_STREAM_INTERNAL_ERROR);
            }
            return;
        }
        n = c->send(c, text->data + off, text->len - off);
        if (n == DM_ERROR) {
            dm_stream_session_finalize(s, DM_STREAM_OK);
            return;
        }
        if (n == DM_AGAIN) {
            continue; /* ready is now 0: arm the timer and wait */
        }
    }
    dm_event_timer_del(wev);
    wev->handler = dm_event_empty_handler;
    dm_stream_session_finalize(s, DM_STREAM_OK);
}
