/*
 * doorman: the per-worker keep-alive pool of upstream connections.
 *
 * An idle connection is kept per (group settings, peer address): at most
 * `keepalive` of a group per worker, the least recently used closed to
 * make room. Idle connections stay in epoll with a read handler: any byte
 * or a close from the backend removes and closes them at once, so a
 * request never picks a connection the backend already dropped (a backend
 * that closes at the same moment is what the one retry on a fresh
 * connection covers). `keepalive_timeout` closes one idle for longer;
 * `keepalive_requests` retires one that carried that many requests.
 *
 * The pool is a fixed array of slots per worker, allocated once; no
 * allocation per request.
 *
 * A connection to an https upstream is kept with its TLS context and the
 * name it verified and sent (SNI): only a request that would have set up
 * the very same TLS takes it, never a plain one, never one that expects
 * another name or other trusted certificates. While idle, its bytes are
 * looked at through TLS: a TLS 1.3 server sends session tickets after the
 * handshake, which arrive on a perfectly good connection.
 */
#include <dm_core.h>
#include <dm_event.h>
#include <dm_http_conf.h>
#include <dm_http_request.h>
#include <dm_worker.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <dm_ssl.h>
#include <dm_http_proxy.h>

/* Most idle connections of a worker, over all groups. */
#define DM_HTTP_PROXY_POOL_MAX 1024

typedef struct dm_http_proxy_idle_s dm_http_proxy_idle_t;

struct dm_http_proxy_idle_s {
    dm_connection_t *c;            /* NULL: a free slot */
    dm_http_proxy_ups_conf_t *ups; /* whose */
    void *tls_ctx;                 /* its SSL_CTX, NULL: plain */
    size_t tls_name_len;           /* the name it verified and sent */
    u_char tls_name[256];
    dm_connection_t *owner; /* proxy_protocol on: the one client */
    dm_uint_t owner_number;
    void *pp_conf;              /* the location whose header it carried */
    struct sockaddr_storage sa; /* the peer */
    socklen_t socklen;
    dm_uint_t requests; /* carried so far */
    dm_msec_t since;    /* idle since */
    dm_queue_t link;    /* in the LRU queue (most recent at the head) */
};

static dm_http_proxy_idle_t dm_http_proxy_idle[DM_HTTP_PROXY_POOL_MAX];
static dm_queue_t dm_http_proxy_lru;  /* idle slots */
static dm_queue_t dm_http_proxy_free; /* free slots */
static int dm_http_proxy_pool_ready;

static void
dm_http_proxy_pool_init(void)
{
    dm_uint_t i;

    dm_queue_init(&dm_http_proxy_lru);
    dm_queue_init(&dm_http_proxy_free);
    for (i = 0; i < DM_HTTP_PROXY_POOL_MAX; i++) {
        dm_queue_insert_tail(&dm_http_proxy_free, &dm_http_proxy_idle[i].link);
    }
    dm_http_proxy_pool_ready = 1;
}

static dm_int_t
dm_http_proxy_ups_keepalive(dm_http_proxy_ups_conf_t *ups)
{
    return ups->keepalive == DM_CONF_UNSET ? 32 : ups->keepalive;
}

static void
dm_http_proxy_idle_drop(dm_http_proxy_idle_t *it)
{
    dm_connection_t *c = it->c;

    it->c = NULL;
    dm_queue_remove(&it->link);
    dm_queue_insert_tail(&dm_http_proxy_free, &it->link);
    if (c) {
        dm_connection_close(c);
    }
}

void
dm_http_proxy_pool_key(dm_http_proxy_ctx_t *ctx, dm_http_proxy_pool_key_t *key)
{
    dm_connection_t *c = ctx->request->connection;

    /* a connection that carries a client's PROXY header is that
       client's alone (DESIGN.md section 6) */
    key->owner = ctx->conf->pp ? c : NULL;
    key->owner_number = ctx->conf->pp ? c->number : 0;
    key->pp_conf = ctx->conf->pp ? ctx->conf : NULL;
    if (ctx->tls == NULL) {
        key->tls_ctx = NULL;
        key->tls_name.data = NULL;
        key->tls_name.len = 0;
        return;
    }
    key->tls_ctx = ctx->tls->ctx;
    /* proxy_ssl_name, else the proxy_pass host (dm_ssl_client_start_host) */
    key->tls_name = ctx->tls->name.len ? ctx->tls->name : ctx->proxy_host;
}

/*
 * Whether an idle TLS connection is still clean: records that carry no
 * data (tickets, a key update) are taken in by SSL_peek, which then wants
 * more bytes; data or a close_notify makes it unusable.
 */
static int
dm_http_proxy_idle_tls_ok(dm_connection_t *c)
{
    dm_ssl_connection_t *sc = c->ssl;
    u_char b;
    int n, err;

    ERR_clear_error();
    n = SSL_peek(sc->ssl, &b, 1);
    if (n > 0) {
        return 0;
    }
    err = SSL_get_error(sc->ssl, n);
    ERR_clear_error();
    if (err == SSL_ERROR_WANT_READ) {
        return 1;
    }
    /* a close, an alert, a reset */
    sc->no_shutdown = err != SSL_ERROR_ZERO_RETURN;
    return 0;
}

/* The backend spoke or closed while idle, or the idle time is over. */
static void
dm_http_proxy_idle_handler(dm_event_t *ev)
{
    dm_connection_t *c = ev->data;
    dm_http_proxy_idle_t *it = c->data;
    u_char b;

    if (!ev->timedout && !c->close) {
        /* a close (0) or stray bytes: either way it cannot be reused */
        if (c->ssl) {
            if (dm_http_proxy_idle_tls_ok(c)) {
                ev->ready = 0;
                return;
            }
        } else if (recv(c->fd, &b, 1, MSG_PEEK) < 0
                   && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            ev->ready = 0;
            return;
        }
    }
    dm_http_proxy_idle_drop(it);
}

/* Whether an idle connection was set up as a request wants it. */
static int
dm_http_proxy_idle_fits(const dm_http_proxy_idle_t *it,
                        const dm_http_proxy_pool_key_t *key)
{
    return it->tls_ctx == key->tls_ctx && it->owner == key->owner
           && it->owner_number == key->owner_number
           && it->pp_conf == key->pp_conf
           && (key->tls_ctx == NULL
               || (it->tls_name_len == key->tls_name.len
                   && memcmp(it->tls_name, key->tls_name.data,
                             key->tls_name.len)
                          == 0));
}

dm_connection_t *
dm_http_proxy_pool_get(dm_http_proxy_ups_conf_t *ups, struct sockaddr *sa,
                       socklen_t len, const dm_http_proxy_pool_key_t *key,
                       dm_uint_t *requests)
{
    dm_http_proxy_idle_t *it;
    dm_connection_t *c;
    dm_queue_t *q;

    if (!dm_http_proxy_pool_ready) {
        return NULL;
    }
    for (q = dm_queue_head(&dm_http_proxy_lru);
         q != dm_queue_sentinel(&dm_http_proxy_lru); q = dm_queue_next(q)) {
        it = dm_queue_data(q, dm_http_proxy_idle_t, link);
        if (it->ups != ups || it->socklen != len
            || memcmp(&it->sa, sa, len) != 0
            || !dm_http_proxy_idle_fits(it, key)) {
            continue;
        }
        c = it->c;
        it->c = NULL;
        *requests = it->requests;
        dm_queue_remove(&it->link);
        dm_queue_insert_tail(&dm_http_proxy_free, &it->link);
        dm_event_timer_del(c->read);
        dm_connection_reusable(c, 0);
        c->idle = 0;
        c->read->handler = dm_event_empty_handler;
        c->write->handler = dm_event_empty_handler;
        return c;
    }
    return NULL;
}

void
dm_http_proxy_pool_put(dm_http_proxy_ups_conf_t *ups, dm_connection_t *c,
                       const dm_http_proxy_pool_key_t *key, dm_uint_t requests)
{
    dm_msec_t timeout = ups->keepalive_timeout == DM_CONF_UNSET_MSEC
                            ? 60000
                            : ups->keepalive_timeout;
    dm_int_t maxreq = ups->keepalive_requests == DM_CONF_UNSET
                          ? 1000
                          : ups->keepalive_requests;
    dm_int_t max = dm_http_proxy_ups_keepalive(ups), n = 0;
    dm_http_proxy_idle_t *it, *oldest = NULL;
    dm_queue_t *q;

    if (!dm_http_proxy_pool_ready) {
        dm_http_proxy_pool_init();
    }
    if (max == 0 || (dm_int_t) requests >= maxreq || c->error || c->close
        || dm_worker_exiting || c->sockaddr == NULL
        || c->socklen > sizeof(it->sa)
        || (c->ssl != NULL) != (key->tls_ctx != NULL)
        || key->tls_name.len > sizeof(it->tls_name)) {
        dm_connection_close(c);
        return;
    }
    for (q = dm_queue_head(&dm_http_proxy_lru);
         q != dm_queue_sentinel(&dm_http_proxy_lru); q = dm_queue_next(q)) {
        it = dm_queue_data(q, dm_http_proxy_idle_t, link);
        if (it->ups == ups) {
            n++;
            oldest = it;
        }
    }
    if (n >= max && oldest) {
        dm_http_proxy_idle_drop(oldest);
    }
    if (dm_queue_empty(&dm_http_proxy_free)) {
        /* the worker's pool is full: the least recently used goes */
        q = dm_queue_last(&dm_http_proxy_lru);
        dm_http_proxy_idle_drop(dm_queue_data(q, dm_http_proxy_idle_t, link));
    }
    q = dm_queue_head(&dm_http_proxy_free);
    it = dm_queue_data(q, dm_http_proxy_idle_t, link);
    dm_queue_remove(q);
    it->c = c;
    it->ups = ups;
    it->tls_ctx = key->tls_ctx;
    it->owner = key->owner;
    it->owner_number = key->owner_number;
    it->pp_conf = key->pp_conf;
    it->tls_name_len = key->tls_name.len;
    if (key->tls_name.len) {
        memcpy(it->tls_name, key->tls_name.data, key->tls_name.len);
    }
    memcpy(&it->sa, c->sockaddr, c->socklen);
    it->socklen = c->socklen;
    it->requests = requests;
    it->since = dm_current_msec;
    dm_queue_insert_head(&dm_http_proxy_lru, &it->link);

    c->data = it;
    c->idle = 1;
    /* a graceful exit or a shortage of slots closes it first */
    dm_connection_reusable(c, 1);
    c->read->handler = dm_http_proxy_idle_handler;
    c->write->handler = dm_event_empty_handler;
    if (dm_event_timer_add(c->read, timeout) != DM_OK) {
        dm_http_proxy_idle_drop(it);
        return;
    }
    if (c->read->ready || c->ssl) {
        /* bytes or a close already arrived (TLS: or wait decrypted in
           OpenSSL's buffer, or tickets in the socket) */
        dm_http_proxy_idle_handler(c->read);
    }
}

void
dm_http_proxy_pool_owner_gone(dm_connection_t *owner, dm_uint_t number)
{
    dm_http_proxy_idle_t *it;
    dm_queue_t *q, *next;

    if (!dm_http_proxy_pool_ready) {
        return;
    }
    for (q = dm_queue_head(&dm_http_proxy_lru);
         q != dm_queue_sentinel(&dm_http_proxy_lru); q = next) {
        next = dm_queue_next(q);
        it = dm_queue_data(q, dm_http_proxy_idle_t, link);
        if (it->owner == owner && it->owner_number == number) {
            dm_http_proxy_idle_drop(it);
        }
    }
}
