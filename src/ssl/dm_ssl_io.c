/*
 * doorman: TLS connections: the non-blocking handshake and the I/O hooks.
 *
 * Both events of a connection are always registered, edge-triggered. The
 * hooks keep the plain ones' contract: a read event stays ready until
 * OpenSSL asks for more bytes from the socket (SSL_ERROR_WANT_READ), a
 * write event until the socket refuses bytes (WANT_WRITE). OpenSSL reads
 * no more than the record it needs (read-ahead stays off), so bytes left
 * in the socket still raise the next edge. TLS 1.3 has no renegotiation;
 * a read that needs to write (a key update answer) clears the write
 * event's readiness and the caller's write handler resumes it.
 */
#include <dm_core.h>
#include <dm_event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <dm_ssl.h>

static int dm_ssl_conn_index = -1;

static ssize_t dm_ssl_recv(dm_connection_t *c, u_char *buf, size_t size);
static ssize_t dm_ssl_send(dm_connection_t *c, const u_char *buf, size_t size);
static dm_chain_t *dm_ssl_send_chain(dm_connection_t *c, dm_chain_t *in,
                                     off_t limit);

dm_connection_t *
dm_ssl_get_connection(const SSL *ssl)
{
    return dm_ssl_conn_index == -1 ? NULL
                                   : SSL_get_ex_data(ssl, dm_ssl_conn_index);
}

dm_int_t
dm_ssl_create_connection(SSL_CTX *ctx, dm_connection_t *c, int client,
                         dm_ssl_srv_conf_t *conf)
{
    dm_ssl_connection_t *sc;

    if (dm_ssl_conn_index == -1) {
        dm_ssl_conn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
        if (dm_ssl_conn_index == -1) {
            dm_ssl_error(DM_LOG_ALERT, c->log, 0,
                         "SSL_get_ex_new_index() failed");
            return DM_ERROR;
        }
    }
    sc = dm_pcalloc(c->pool, sizeof(*sc));
    if (sc == NULL) {
        return DM_ERROR;
    }
    sc->ssl = SSL_new(ctx);
    if (sc->ssl == NULL) {
        dm_ssl_error(DM_LOG_ALERT, c->log, 0, "SSL_new() failed");
        return DM_ERROR;
    }
    if (SSL_set_fd(sc->ssl, c->fd) != 1
        || SSL_set_ex_data(sc->ssl, dm_ssl_conn_index, c) != 1) {
        dm_ssl_error(DM_LOG_ALERT, c->log, 0, "SSL_set_fd() failed");
        SSL_free(sc->ssl);
        return DM_ERROR;
    }
    sc->client = client ? 1 : 0;
    sc->conf = conf;
    if (client) {
        SSL_set_connect_state(sc->ssl);
    } else {
        SSL_set_accept_state(sc->ssl);
    }
    c->ssl = sc;
    return DM_OK;
}

/* The level of a failed handshake: what a client does wrong is info
   (scanners, aborted connections), what an upstream does is an error. */
static dm_uint_t
dm_ssl_fail_level(dm_ssl_connection_t *sc)
{
    return sc->client ? DM_LOG_ERR : DM_LOG_INFO;
}

dm_int_t
dm_ssl_handshake(dm_connection_t *c)
{
    dm_ssl_connection_t *sc = c->ssl;
    int n, err;
    dm_err_t e;

    ERR_clear_error();
    n = SSL_do_handshake(sc->ssl);
    if (n == 1) {
        sc->handshaked = 1;
        c->recv = dm_ssl_recv;
        c->send = dm_ssl_send;
        c->send_chain = dm_ssl_send_chain;
        return DM_OK;
    }
    err = SSL_get_error(sc->ssl, n);
    switch (err) {
    case SSL_ERROR_WANT_READ:
        c->read->ready = 0;
        return DM_AGAIN;
    case SSL_ERROR_WANT_WRITE:
        c->write->ready = 0;
        return DM_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
        c->error = 1;
        sc->no_shutdown = 1;
        dm_log_error(dm_ssl_fail_level(sc), c->log, 0,
                     "peer closed connection in SSL handshake");
        return DM_ERROR;
    case SSL_ERROR_SYSCALL:
        e = errno;
        c->error = 1;
        sc->no_shutdown = 1;
        if (ERR_peek_error() == 0 && (n == 0 || e == 0)) {
            ERR_clear_error();
            dm_log_error(dm_ssl_fail_level(sc), c->log, 0,
                         "peer closed connection in SSL handshake");
        } else {
            dm_ssl_error(dm_ssl_fail_level(sc), c->log, e,
                         "SSL_do_handshake() failed");
        }
        return DM_ERROR;
    default:
        c->error = 1;
        sc->no_shutdown = 1;
        dm_ssl_error(dm_ssl_fail_level(sc), c->log, 0,
                     "SSL_do_handshake() failed");
        return DM_ERROR;
    }
}

static ssize_t
dm_ssl_recv(dm_connection_t *c, u_char *buf, size_t size)
{
    dm_ssl_connection_t *sc = c->ssl;
    size_t got;
    int err, n;
    dm_err_t e;

    ERR_clear_error();
    n = SSL_read_ex(sc->ssl, buf, size, &got);
    if (n == 1) {
        c->received += (off_t) got;
        return (ssize_t) got;
    }
    err = SSL_get_error(sc->ssl, 0);
    switch (err) {
    case SSL_ERROR_WANT_READ:
        c->read->ready = 0;
        return DM_AGAIN;
    case SSL_ERROR_WANT_WRITE:
        /* the write handler resumes: both are the connection's owner's */
        c->write->ready = 0;
        return DM_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
        /* close_notify: a clean end of the stream */
        c->read->ready = 0;
        c->read->eof = 1;
        return 0;
    case SSL_ERROR_SYSCALL:
        e = errno;
        c->read->ready = 0;
        if (ERR_peek_error() == 0 && e == 0) {
            /* EOF without close_notify: most clients do it; bodies are
               framed by HTTP, so treat it as an end, not an attack */
            c->read->eof = 1;
            sc->no_shutdown = 1;
            return 0;
        }
        c->read->error = 1;
        c->error = 1;
        sc->no_shutdown = 1;
        if (e == 0) {
            dm_ssl_error(DM_LOG_INFO, c->log, 0, "SSL_read() failed");
        } else {
            ERR_clear_error();
            dm_connection_error(c, e, "SSL_read() failed");
        }
        return DM_ERROR;
    default:
        c->read->ready = 0;
        c->read->error = 1;
        c->error = 1;
        sc->no_shutdown = 1;
        dm_ssl_error(DM_LOG_INFO, c->log, 0, "SSL_read() failed");
        return DM_ERROR;
    }
}

static ssize_t
dm_ssl_send(dm_connection_t *c, const u_char *buf, size_t size)
{
    dm_ssl_connection_t *sc = c->ssl;
    size_t put;
    int err, n;
    dm_err_t e;

    if (size == 0) {
        return 0;
    }
    ERR_clear_error();
    n = SSL_write_ex(sc->ssl, buf, size, &put);
    if (n == 1) {
        c->sent += (off_t) put;
        return (ssize_t) put;
    }
    err = SSL_get_error(sc->ssl, 0);
    switch (err) {
    case SSL_ERROR_WANT_WRITE:
        c->write->ready = 0;
        return DM_AGAIN;
    case SSL_ERROR_WANT_READ:
        c->read->ready = 0;
        return DM_AGAIN;
    default:
        e = (err == SSL_ERROR_SYSCALL) ? errno : 0;
        c->write->ready = 0;
        c->write->error = 1;
        c->error = 1;
        sc->no_shutdown = 1;
        if (e) {
            ERR_clear_error();
            dm_connection_error(c, e, "SSL_write() failed");
        } else {
            dm_ssl_error(DM_LOG_INFO, c->log, 0, "SSL_write() failed");
        }
        return DM_ERROR;
    }
}

/*
 * A chain through TLS. Small buffers are gathered into one record (a
 * response head and a short body in one packet, not two); a large
 * buffer goes out directly. The scratch buffer is per process: OpenSSL
 * copies bytes into its record before SSL_write returns, and a retry
 * after WANT_WRITE gathers the same unsent bytes again (the chain only
 * moves forward by what was written), which ACCEPT_MOVING_WRITE_BUFFER
 * allows.
 */
#define DM_SSL_GATHER 16384

static dm_chain_t *
dm_ssl_send_chain(dm_connection_t *c, dm_chain_t *in, off_t limit)
{
    static u_char gather[DM_SSL_GATHER];
    off_t budget = limit ? limit : (off_t) SSIZE_MAX;
    const u_char *p;
    dm_chain_t *cl;
    size_t len, sz;
    ssize_t n;

    while (in && budget > 0) {
        while (in && dm_buf_size(in->buf) == 0) {
            in = in->next;
        }
        if (in == NULL) {
            return NULL;
        }
        sz = dm_buf_size(in->buf);
        if (sz >= DM_SSL_GATHER / 2 || in->next == NULL) {
            p = in->buf->pos;
            len = sz;
        } else {
            len = 0;
            for (cl = in; cl && len < DM_SSL_GATHER; cl = cl->next) {
                sz = dm_buf_size(cl->buf);
                if (sz > DM_SSL_GATHER - len) {
                    sz = DM_SSL_GATHER - len;
                }
                memcpy(gather + len, cl->buf->pos, sz);
                len += sz;
            }
            p = gather;
        }
        if ((off_t) len > budget) {
            len = (size_t) budget;
        }
        n = dm_ssl_send(c, p, len);
        if (n == DM_AGAIN) {
            return in;
        }
        if (n == DM_ERROR) {
            return DM_CHAIN_ERROR;
        }
        budget -= n;
        in = dm_chain_consume(in, (size_t) n);
    }
    return in;
}

void
dm_ssl_shutdown(dm_connection_t *c)
{
    dm_ssl_connection_t *sc = c->ssl;

    if (sc == NULL || sc->shut || sc->no_shutdown || !sc->handshaked || c->error
        || c->timedout) {
        return;
    }
    sc->shut = 1;
    /* one attempt: close_notify goes into the socket buffer or not at
       all; doorman never waits for the peer's */
    ERR_clear_error();
    SSL_set_quiet_shutdown(sc->ssl, 0);
    (void) SSL_shutdown(sc->ssl);
    ERR_clear_error();
}

void
dm_ssl_free(dm_connection_t *c)
{
    dm_ssl_connection_t *sc = c->ssl;

    if (sc == NULL) {
        return;
    }
    dm_ssl_shutdown(c);
    SSL_free(sc->ssl);
    c->ssl = NULL;
}
