/*
 * doorman: one health-check probe: a fresh connection to the peer, the
 * PROXY header (proxy_protocol), the TLS handshake (ssl, type=tls), the
 * request or send= text, then reading the answer until it can be judged:
 * at most DM_HC_READ_MAX bytes, until EOF, a verdict, or the deadline
 * (timeout=, armed on the peer's event by dm_health_check_probe).
 *
 * Nothing blocks; the only memory a probe takes is its connection's pool
 * (the read buffer included), given back when the connection closes.
 */
#include <dm_core.h>
#include <dm_event.h>
#include <dm_upstream.h>
#include <openssl/ssl.h>
#include <dm_ssl.h>
#include <dm_proxy_protocol.h>
#include <dm_health_check.h>

static void dm_health_check_io(dm_event_t *ev);
static void dm_health_check_step(dm_health_check_peer_t *hp);

/* Ends the probe: the connection goes, the verdict is recorded. */
static void
dm_health_check_end(dm_health_check_peer_t *hp, int ok)
{
    if (hp->c) {
        if (hp->c->ssl) {
            ((dm_ssl_connection_t *) hp->c->ssl)->no_shutdown = 1;
        }
        dm_connection_close(hp->c);
        hp->c = NULL;
    }
    hp->buf = NULL;
    hp->len = 0;
    dm_health_check_done(hp, ok);
}

static void
dm_health_check_fail(dm_health_check_peer_t *hp, const char *fmt,
                     const char *arg)
{
    snprintf(hp->reason, sizeof(hp->reason), fmt, arg);
    dm_health_check_end(hp, 0);
}

static void
dm_health_check_errno(dm_health_check_peer_t *hp, const char *what, int err)
{
    snprintf(hp->reason, sizeof(hp->reason), "%s failed (%d: %s)", what, err,
             strerror(err));
    dm_health_check_end(hp, 0);
}

void
dm_health_check_probe(dm_health_check_peer_t *hp)
{
    dm_event_peer_t pc;
    dm_connection_t *c;
    dm_int_t rc;
    int err;

    hp->reason[0] = '\0';
    hp->sent = 0;
    hp->len = 0;
    memset(&pc, 0, sizeof(pc));
    pc.sockaddr = (struct sockaddr *) &hp->sa;
    pc.socklen = hp->socklen;
    pc.name = &hp->addr_text;
    pc.type = SOCK_STREAM;
    pc.log = &hp->log;

    errno = 0;
    rc = dm_event_connect(&pc, 1024);
    if (rc == DM_DECLINED || rc == DM_ERROR) {
        err = errno;
        hp->state = DM_HC_CONNECT;
        if (err) {
            dm_health_check_errno(hp, "connect()", err);
        } else {
            dm_health_check_fail(hp, "%s", "connect() failed");
        }
        return;
    }
    c = pc.connection;
    hp->c = c;
    c->data = hp;
    c->log_obj = hp->log;
    c->log = &c->log_obj;
    c->read->handler = dm_health_check_io;
    c->write->handler = dm_health_check_io;
    hp->state = DM_HC_CONNECT;
    /* the deadline of the whole probe */
    (void) dm_event_timer_add(&hp->ev, hp->conf->timeout);
    if (rc == DM_OK) {
        dm_health_check_step(hp);
    }
}

void
dm_health_check_probe_timeout(dm_health_check_peer_t *hp)
{
    /* an http answer cut by the deadline may already say enough */
    if (hp->state == DM_HC_READ && hp->conf->type == DM_HC_HTTP
        && dm_health_check_match_http(hp, 1) == DM_OK) {
        dm_health_check_end(hp, 1);
        return;
    }
    /* tcp: what came before the deadline did not match (a Redis -ERR
       keeps the connection open) */
    if (hp->state == DM_HC_READ && hp->conf->type == DM_HC_TCP && hp->len) {
        dm_health_check_fail(hp, "%s", "expect does not match");
        return;
    }
    dm_health_check_fail(hp, "%s", "timed out");
}

static void
dm_health_check_io(dm_event_t *ev)
{
    dm_connection_t *c = ev->data;

    dm_health_check_step(c->data);
}

/* CONNECT: the connection is up (or failed); PROXY header, TLS start. */
static dm_int_t
dm_health_check_connected(dm_health_check_peer_t *hp)
{
    dm_health_check_conf_t *hcf = hp->conf;
    dm_connection_t *c = hp->c;
    socklen_t len = sizeof(int);
    int err = 0;

    if (!c->write->ready && !c->write->error && !c->read->error) {
        return DM_AGAIN;
    }
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) {
        err = errno;
    }
    if (err) {
        dm_health_check_errno(hp, "connect()", err);
        return DM_ERROR;
    }
    (void) dm_connection_tcp_nodelay(c);
    if (hcf->pp
        && dm_proxy_protocol_send(c, NULL, (unsigned) hcf->pp_version, NULL, 0)
               != DM_OK) {
        dm_health_check_fail(hp, "%s", "could not send the PROXY header");
        return DM_ERROR;
    }
    if (!hcf->ssl) {
        hp->state = DM_HC_SEND;
        return DM_OK;
    }
    if (dm_ssl_client_start_host(&hcf->tls, c, &hp->host) != DM_OK) {
        dm_health_check_fail(hp, "%s", "SSL setup failed");
        return DM_ERROR;
    }
    hp->state = DM_HC_TLS_HS;
    return DM_OK;
}

/* TLS_HS: drives the handshake, then checks the certificate. */
static dm_int_t
dm_health_check_handshake(dm_health_check_peer_t *hp)
{
    dm_int_t rc = dm_ssl_handshake(hp->c);

    if (rc == DM_AGAIN) {
        return DM_AGAIN;
    }
    if (rc != DM_OK) {
        dm_health_check_fail(hp, "%s", "SSL handshake failed");
        return DM_ERROR;
    }
    if (dm_ssl_client_verify(&hp->conf->tls, hp->c) != DM_OK) {
        dm_health_check_fail(hp, "%s", "SSL certificate verify error");
        return DM_ERROR;
    }
    if (hp->conf->type == DM_HC_TLS) {
        dm_health_check_end(hp, 1); /* the handshake was the check */
        return DM_DONE;
    }
    hp->state = DM_HC_SEND;
    return DM_OK;
}

/* SEND: the request (http) or send= text (tcp), maybe in pieces. */
static dm_int_t
dm_health_check_send(dm_health_check_peer_t *hp)
{
    dm_connection_t *c = hp->c;
    ssize_t n;

    while (hp->sent < hp->request.len) {
        n = c->send(c, hp->request.data + hp->sent, hp->request.len - hp->sent);
        if (n == DM_AGAIN) {
            return DM_AGAIN;
        }
        if (n < 0) {
            dm_health_check_fail(hp, "%s", "send() failed");
            return DM_ERROR;
        }
        hp->sent += (size_t) n;
    }
    if (hp->conf->type == DM_HC_TCP && hp->conf->expect == NULL) {
        /* connect (and send=) was the check */
        dm_health_check_end(hp, 1);
        return DM_DONE;
    }
    hp->buf = dm_palloc(c->pool, DM_HC_READ_MAX);
    if (hp->buf == NULL) {
        dm_health_check_fail(hp, "%s", "out of memory");
        return DM_ERROR;
    }
    hp->state = DM_HC_READ;
    return DM_OK;
}

/* Asks the matcher; ends the probe unless it wants more bytes. */
static dm_int_t
dm_health_check_judge(dm_health_check_peer_t *hp, int final)
{
    dm_int_t rc = hp->conf->type == DM_HC_HTTP
                      ? dm_health_check_match_http(hp, final)
                      : dm_health_check_match_tcp(hp, final);

    if (rc == DM_AGAIN && !final) {
        return DM_AGAIN;
    }
    if (rc == DM_AGAIN) {
        dm_health_check_fail(hp, "%s",
                             hp->conf->type == DM_HC_HTTP
                                 ? "incomplete HTTP response"
                                 : "expect does not match");
        return DM_DONE;
    }
    dm_health_check_end(hp, rc == DM_OK);
    return DM_DONE;
}

/* READ: what the peer answers, bounded. */
static dm_int_t
dm_health_check_read(dm_health_check_peer_t *hp)
{
    dm_connection_t *c = hp->c;
    ssize_t n;

    while (c->read->ready || c->read->pending_eof || c->ssl) {
        n = c->recv(c, hp->buf + hp->len, DM_HC_READ_MAX - hp->len);
        if (n == DM_AGAIN) {
            return DM_AGAIN;
        }
        if (n == DM_ERROR) {
            /* a reset after the answer still lets it be judged */
            if (hp->len) {
                return dm_health_check_judge(hp, 1);
            }
            dm_health_check_fail(hp, "%s", "recv() failed");
            return DM_DONE;
        }
        if (n == 0) {
            return dm_health_check_judge(hp, 1);
        }
        hp->len += (size_t) n;
        if (dm_health_check_judge(hp, hp->len == DM_HC_READ_MAX) == DM_DONE) {
            return DM_DONE;
        }
    }
    return DM_AGAIN;
}

static void
dm_health_check_step(dm_health_check_peer_t *hp)
{
    dm_int_t rc = DM_OK;

    while (rc == DM_OK && hp->c) {
        switch (hp->state) {
        case DM_HC_CONNECT:
            rc = dm_health_check_connected(hp);
            break;
        case DM_HC_TLS_HS:
            rc = dm_health_check_handshake(hp);
            break;
        case DM_HC_SEND:
            rc = dm_health_check_send(hp);
            break;
        case DM_HC_READ:
            rc = dm_health_check_read(hp);
            if (rc == DM_OK) {
                rc = DM_AGAIN;
            }
            break;
        default:
            return;
        }
    }
}
