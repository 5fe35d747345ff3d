/*
 * doorman: http connections and requests.
 *
 * A connection reads a head into its buffer (client_header_buffer_size,
 * grown once to large_client_header_buffers' size), parses it with the
 * strict parser, and runs the request through the phases. A simple
 * response (return, errors) is queued and sent; a request body is read
 * and dropped first (after "100 Continue" when asked), counted against
 * client_max_body_size. Then the connection either serves the next
 * request (pipelined bytes already in the buffer go first) or waits
 * idle, reclaimable, for keepalive_timeout; otherwise it ends with a
 * lingering close. One deadline covers a whole head: a client sending a
 * byte every few seconds cannot hold a connection past
 * client_header_timeout.
 */
#include <dm_core.h>
#include <dm_event.h>
#include <dm_http_conf.h>
#include <dm_http_listen.h>
#include <dm_http_parse.h>
#include <dm_http_request.h>
#include <dm_http_ssl.h>
#include <dm_http_uri.h>
#include <dm_worker.h>

#define DM_HTTP_LINGER_TIMEOUT 5000
#define DM_HTTP_LINGER_TIME    30000

static void dm_http_wait_head(dm_event_t *rev);
static void dm_http_process(dm_http_conn_t *hc, size_t head_len,
                            dm_http_request_head_t *parsed);
static void dm_http_send(dm_http_request_t *r);
static void dm_http_send_handler(dm_event_t *wev);
static void dm_http_discard(dm_http_request_t *r);
static void dm_http_discard_handler(dm_event_t *rev);
static void dm_http_finish(dm_http_request_t *r);
static void dm_http_continue(dm_http_request_t *r);
static void dm_http_error(dm_http_conn_t *hc, dm_uint_t status,
                          const char *reason);

static const char *
dm_http_status_text(dm_uint_t status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Not Allowed";
    case 408:
        return "Request Time-out";
    case 413:
        return "Request Entity Too Large";
    case 414:
        return "Request-URI Too Large";
    case 421:
        return "Misdirected Request";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Temporarily Unavailable";
    case 504:
        return "Gateway Time-out";
    case 505:
        return "HTTP Version Not Supported";
    }
    return "Unknown";
}

static dm_http_core_srv_conf_t *
dm_http_default_server(dm_connection_t *c)
{
    return dm_http_listen_find_server(c, NULL, NULL);
}

static void
dm_http_close(dm_http_conn_t *hc)
{
    dm_connection_close(hc->connection);
}

/*
 * What a connection holds only while it has a request: its request pool
 * and its head buffer. Both come from per-worker free lists and go back
 * to them when the connection goes idle (keep-alive) or closes, so that
 * an idle connection costs little memory and a connection per request
 * allocates neither.
 */
#define DM_HTTP_FREE_RPOOLS 256
#define DM_HTTP_FREE_BUFS   512

static dm_pool_t *dm_http_free_rpools[DM_HTTP_FREE_RPOOLS];
static dm_uint_t dm_http_nfree_rpools;
static dm_buf_t *dm_http_free_bufs[DM_HTTP_FREE_BUFS];
static dm_uint_t dm_http_nfree_bufs;

/* Gives back the request pool and the head buffer (when it is the
   cached one and holds nothing). */
static void
dm_http_conn_release(dm_http_conn_t *hc, int closing)
{
    dm_buf_t *b = hc->buf;

    if (hc->rpool) {
        dm_pool_recycle(hc->rpool);
        if (dm_http_nfree_rpools < DM_HTTP_FREE_RPOOLS) {
            dm_http_free_rpools[dm_http_nfree_rpools++] = hc->rpool;
        } else {
            dm_pool_destroy(hc->rpool);
        }
        hc->rpool = NULL;
    }
    if (b && hc->buf_cached && (closing || dm_buf_size(b) == 0)) {
        if (dm_http_nfree_bufs < DM_HTTP_FREE_BUFS) {
            dm_http_free_bufs[dm_http_nfree_bufs++] = b;
        } else {
            free(b);
        }
        hc->buf = NULL;
        hc->buf_cached = 0;
    }
}

static void
dm_http_conn_cleanup(void *data)
{
    dm_http_conn_release(data, 1);
}

/* A head buffer of `size` (the usual client_header_buffer_size), from the
   free list when one of that size is there. */
static dm_buf_t *
dm_http_conn_buf(dm_http_conn_t *hc, size_t size)
{
    dm_buf_t *b;
    dm_uint_t i;

    for (i = dm_http_nfree_bufs; i > 0; i--) {
        b = dm_http_free_bufs[i - 1];
        if ((size_t) (b->end - b->start) == size) {
            dm_http_free_bufs[i - 1] = dm_http_free_bufs[--dm_http_nfree_bufs];
            goto found;
        }
    }
    b = malloc(sizeof(dm_buf_t) + size);
    if (b == NULL) {
        return NULL;
    }
    memset(b, 0, sizeof(dm_buf_t));
    b->start = (u_char *) (b + 1);
    b->end = b->start + size;
found:
    b->pos = b->last = b->start;
    hc->buf = b;
    hc->buf_cached = 1;
    return b;
}

/* The connection's request pool, empty: its own (recycled), or one from
   the free list. NULL on failure. */
static dm_pool_t *
dm_http_rpool(dm_http_conn_t *hc)
{
    dm_connection_t *c = hc->connection;
    dm_pool_t *p;

    if (hc->rpool) {
        dm_pool_recycle(hc->rpool);
        return hc->rpool;
    }
    if (dm_http_nfree_rpools) {
        p = dm_http_free_rpools[--dm_http_nfree_rpools];
        p->log = c->log;
    } else {
        p = dm_pool_create(4096, c->log);
        if (p == NULL) {
            return NULL;
        }
    }
    hc->rpool = p;
    return p;
}

void
dm_http_request_init_connection(dm_connection_t *c)
{
    dm_http_addr_t *addr = dm_http_listen_find_addr(c);
    dm_pool_cleanup_t *cln;
    dm_http_conn_t *hc;

    hc = dm_pcalloc(c->pool, sizeof(dm_http_conn_t));
    if (hc == NULL) {
        dm_connection_close(c);
        return;
    }
    cln = dm_pool_cleanup_add(c->pool, 0);
    if (cln == NULL) {
        dm_connection_close(c);
        return;
    }
    cln->handler = dm_http_conn_cleanup;
    cln->data = hc;
    hc->connection = c;
    c->data = hc;
    if (addr->proxy_protocol) {
        /* the listen check made sure the module is there */
        dm_http_proxy_protocol_read(hc);
        return;
    }
    dm_http_request_accepted(hc);
}

void (*dm_http_proxy_protocol_read)(dm_http_conn_t *hc);

void
dm_http_request_accepted(dm_http_conn_t *hc)
{
    dm_http_addr_t *addr = dm_http_listen_find_addr(hc->connection);

    if (addr->ssl) {
        dm_http_ssl_start(hc, addr->default_server);
        return;
    }
    dm_http_request_wait(hc);
}

void
dm_http_request_wait(dm_http_conn_t *hc)
{
    dm_connection_t *c = hc->connection;
    dm_http_core_srv_conf_t *cscf = dm_http_default_server(c);

    c->log->action = "reading the client request line";
    c->read->handler = dm_http_wait_head;
    c->write->handler = dm_event_empty_handler;
    /* one deadline for the whole head */
    if (dm_event_timer_add(c->read, cscf->header_timeout) != DM_OK) {
        dm_connection_close(c);
        return;
    }
    hc->header_deadline = dm_current_msec + cscf->header_timeout;
    /* nothing sent yet: a graceful exit (or a shortage of connections)
       may close it, as an idle keep-alive connection */
    dm_connection_reusable(c, 1);
    if (c->read->ready) {
        dm_http_wait_head(c->read);
    }
}

/* Grows the head buffer to the large size once, keeping its bytes. */
static dm_int_t
dm_http_grow(dm_http_conn_t *hc, dm_http_core_srv_conf_t *cscf)
{
    dm_buf_t *b = hc->buf, *nb;
    size_t n = dm_buf_size(b);

    if ((size_t) (b->end - b->start) >= cscf->large_buffer) {
        return DM_ERROR;
    }
    nb = dm_buf_create(hc->connection->pool, cscf->large_buffer);
    if (nb == NULL) {
        return DM_ERROR;
    }
    memcpy(nb->last, b->pos, n);
    nb->last += n;
    if (hc->buf_cached) {
        /* the small one goes back; the large one lives in the pool */
        b->pos = b->last = b->start;
        dm_http_conn_release(hc, 0);
    }
    hc->buf = nb;
    return DM_OK;
}

static void
dm_http_wait_head(dm_event_t *rev)
{
    dm_connection_t *c = rev->data;
    dm_http_conn_t *hc = c->data;
    dm_http_core_srv_conf_t *cscf = dm_http_default_server(c);
    dm_http_parse_limits_t limits;
    dm_http_parse_error_t err;
    dm_http_request_head_t head;
    dm_http_header_t headers[DM_HTTP_MAX_HEADERS];
    dm_buf_t *b;
    ssize_t n, rc;

    if (rev->timedout || c->close) {
        if (rev->timedout && hc->buf && dm_buf_size(hc->buf)) {
            dm_log_error(DM_LOG_INFO, c->log, ETIMEDOUT,
                         "client timed out (client_header_timeout)");
        }
        dm_http_close(hc);
        return;
    }
    if (hc->buf == NULL) {
        if (dm_http_conn_buf(hc, cscf->header_buffer) == NULL) {
            dm_http_close(hc);
            return;
        }
    }

    for (;;) {
        b = hc->buf;
        if (dm_buf_size(b)) {
            memset(&limits, 0, sizeof(limits));
            /* a request line that fills the largest buffer leaves no
               room for the rest of the head: 414, not 431 */
            limits.max_line = cscf->large_buffer - 1;
            limits.max_head = cscf->large_buffer;
            limits.max_headers = DM_HTTP_MAX_HEADERS;
            limits.bare_lf = 1;
            memset(&head, 0, sizeof(head));
            head.headers = headers;
            head.nheaders = DM_HTTP_MAX_HEADERS;
            rc = dm_http_parse_request(b->pos, dm_buf_size(b), &limits, &head,
                                       &err);
            if (rc > 0) {
                dm_connection_reusable(c, 0);
                dm_http_process(hc, (size_t) rc, &head);
                return;
            }
            if (rc == DM_HTTP_PARSE_ERROR) {
                dm_http_error(hc, err.status, err.reason);
                return;
            }
        }
        if (!rev->ready) {
            break;
        }
        if (b->last == b->end) {
            if (b->pos > b->start) {
                /* pipelined leftovers: move them to the front */
                size_t k = dm_buf_size(b);

                memmove(b->start, b->pos, k);
                b->pos = b->start;
                b->last = b->start + k;
                continue;
            }
            if (dm_http_grow(hc, cscf) != DM_OK) {
                dm_http_error(hc, 431, "request head too large");
                return;
            }
            continue;
        }
        n = c->recv(c, b->last, (size_t) (b->end - b->last));
        if (n == DM_AGAIN) {
            break;
        }
        if (n == DM_ERROR || n == 0) {
            dm_http_close(hc);
            return;
        }
        if (dm_buf_size(b) == 0 && b->last == b->start && c->reusable) {
            /* the first byte after a keep-alive wait: the head deadline
               starts (a new connection's runs from the accept) */
            dm_connection_reusable(c, 0);
            if (hc->requests) {
                if (dm_event_timer_add(rev, cscf->header_timeout) != DM_OK) {
                    dm_http_close(hc);
                    return;
                }
                hc->header_deadline = dm_current_msec + cscf->header_timeout;
            }
        }
        b->last += n;
    }
}

/*
 * Request structures (over 4 KB with their header array: too large for a
 * pool's small allocations) come from a per-worker free list and go back
 * to it when the request pool's cleanups run (the response is out, or
 * the connection closed): no allocation per request once warm. The
 * structure stays readable until the next request takes it.
 */
#define DM_HTTP_FREE_REQUESTS 512

static dm_http_request_t *dm_http_free_requests[DM_HTTP_FREE_REQUESTS];
static dm_uint_t dm_http_nfree_requests;

static void
dm_http_request_put(void *data)
{
    if (dm_http_nfree_requests < DM_HTTP_FREE_REQUESTS) {
        dm_http_free_requests[dm_http_nfree_requests++] = data;
    } else {
        free(data);
    }
}

static dm_http_request_t *
dm_http_request_get(dm_pool_t *pool)
{
    dm_pool_cleanup_t *cln;
    dm_http_request_t *r;

    cln = dm_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NULL;
    }
    if (dm_http_nfree_requests) {
        r = dm_http_free_requests[--dm_http_nfree_requests];
    } else {
        r = malloc(sizeof(dm_http_request_t));
        if (r == NULL) {
            return NULL;
        }
    }
    cln->handler = dm_http_request_put;
    cln->data = r;
    return r;
}

/* The head is complete: a request. */
static void
dm_http_process(dm_http_conn_t *hc, size_t head_len,
                dm_http_request_head_t *parsed)
{
    dm_connection_t *c = hc->connection;
    dm_http_core_main_conf_t *cmcf;
    dm_http_core_srv_conf_t *cscf;
    dm_http_core_loc_conf_t *clcf;
    dm_http_parse_limits_t limits;
    dm_http_parse_error_t err;
    dm_http_request_t *r;
    u_char *head;

    if (dm_http_rpool(hc) == NULL) {
        dm_http_close(hc);
        return;
    }
    /* everything but the header array (the parser fills what it uses) */
    r = dm_http_request_get(hc->rpool);
    if (r == NULL) {
        dm_http_close(hc);
        return;
    }
    memset(r, 0, offsetof(dm_http_request_t, headers));
    r->connection = c;
    r->hc = hc;
    r->pool = hc->rpool;
    r->start_msec = dm_current_msec;
    r->status = 200;
    hc->request = r;
    hc->requests++;

    /*
     * Parse again into the request's own header array (cheap, bounded).
     * A request with a body keeps a copy of its head: the body is read
     * through the connection's buffer, over the head's bytes, and the
     * log phase still needs them.
     */
    if (parsed->content_length > 0 || parsed->chunked) {
        head = dm_pnalloc(r->pool, head_len);
        if (head == NULL) {
            dm_http_close(hc);
            return;
        }
        memcpy(head, hc->buf->pos, head_len);
        memset(&limits, 0, sizeof(limits));
        limits.bare_lf = 1;
        limits.max_headers = DM_HTTP_MAX_HEADERS;
        r->head.headers = r->headers;
        r->head.nheaders = DM_HTTP_MAX_HEADERS;
        (void) dm_http_parse_request(head, head_len, &limits, &r->head, &err);
    } else {
        /* the head stays where it is until the next request */
        r->head = *parsed;
        memcpy(r->headers, parsed->headers,
               parsed->nheaders * sizeof(dm_http_header_t));
        r->head.headers = r->headers;
    }
    r->head_len = head_len;
    hc->buf->pos += head_len;

    /* every server shares the http block's main structures: the
       variables exist before the server is chosen (a regex server_name
       sets captures) */
    cscf = dm_http_default_server(c);
    r->main_conf = cscf->ctx->main_conf;
    cmcf = dm_http_request_main_conf(r, dm_http_core_module);
    r->ctx =
        dm_pcalloc(r->pool, sizeof(void *) * dm_module_count(DM_MODULE_HTTP));
    if (r->ctx == NULL
        || dm_variable_env_init(&r->vars, &cmcf->variables, r->pool, c, r)
               != DM_OK) {
        dm_http_close(hc);
        return;
    }
    cscf = dm_http_listen_find_server(c, &r->head.host_name, &r->vars);
    r->srv_conf = cscf->ctx->srv_conf;
    r->loc_conf = cscf->ctx->loc_conf;
    clcf = dm_http_request_loc_conf(r, dm_http_core_module);
    dm_event_timer_del(c->read);
    c->log->action = "processing the request";

    r->keepalive = r->head.keep_alive && !dm_worker_exiting
                   && clcf->keepalive_timeout > 0
                   && (dm_int_t) hc->requests < clcf->keepalive_requests;
    if (r->head.content_length > 0) {
        r->body_left = r->head.content_length;
    } else if (r->head.chunked) {
        dm_http_chunked_init(&r->chunked);
    } else {
        r->body_done = 1;
    }

    if (c->ssl) {
        dm_uint_t st = dm_http_ssl_check(r, cscf);

        if (st) {
            if (st != 421) {
                r->keepalive = 0;
            }
            (void) dm_http_request_respond(r, st, NULL, NULL);
            return;
        }
    }
    if (r->head.method_id == DM_HTTP_METHOD_CONNECT) {
        /* no tunnels: CONNECT is refused before any phase, as nginx */
        (void) dm_http_request_respond(r, 405, NULL, NULL);
        return;
    }
    if (r->head.complex_uri) {
        /* locations match the decoded, normalized path ($uri) */
        u_char *uri = dm_pnalloc(r->pool, r->head.path.len);
        ssize_t n;

        n = uri ? dm_http_uri_normalize(uri, r->head.path.data,
                                        r->head.path.len)
                : -1;
        if (n < 0) {
            dm_log_error(DM_LOG_INFO, c->log, 0,
                         "client sent an invalid path \"%.*s\"",
                         (int) r->head.path.len, r->head.path.data);
            r->keepalive = 0;
            (void) dm_http_request_respond(r, 400, NULL, NULL);
            return;
        }
        r->head.path.data = uri;
        r->head.path.len = (size_t) n;
    }
    dm_http_request_run_phases(r);
}

void
dm_http_request_run_phases(dm_http_request_t *r)
{
    dm_http_core_main_conf_t *cmcf =
        dm_http_request_main_conf(r, dm_http_core_module);
    dm_int_t rc;

    /* a paused request reads nothing: pipelined bytes wait their turn */
    r->connection->read->handler = dm_event_empty_handler;
    rc = dm_phase_run(&cmcf->phases, &r->phase_index, r);
    if (rc == DM_OK) {
        /* no content handler answered */
        (void) dm_http_request_respond(r, 404, NULL, NULL);
    } else if (rc == DM_ERROR) {
        (void) dm_http_request_respond(r, 500, NULL, NULL);
    }
}

/*
 * A Location given as a path becomes absolute, as nginx's defaults
 * (absolute_redirect on, server_name_in_redirect off, port_in_redirect
 * on): the request's Host, else the server's first name, else the local
 * address; the local port unless it is the scheme's (80, 443 on TLS).
 */
static dm_str_t *
dm_http_absolute_location(dm_http_request_t *r, const dm_str_t *path)
{
    dm_connection_t *c = r->connection;
    dm_http_core_srv_conf_t *cscf =
        dm_http_request_srv_conf(r, dm_http_core_module);
    u_char addr[DM_INET_ADDRSTRLEN];
    dm_str_t host, *out;
    in_port_t port = 0;
    size_t len;

    host = r->head.host_name;
    if (dm_connection_local_sockaddr(c) == DM_OK) {
        port = dm_inet_get_port(c->local_sockaddr);
    }
    if (host.len == 0 && cscf->names.nelts
        && ((dm_str_t *) cscf->names.elts)[0].len) {
        host = ((dm_str_t *) cscf->names.elts)[0];
    }
    if (host.len == 0 && c->local_sockaddr) {
        host.len = dm_inet_ntop(c->local_sockaddr, addr, sizeof(addr), 0);
        host.data = addr;
    }
    len = sizeof("https://:65535") + host.len + path->len;
    out = dm_palloc(r->pool, sizeof(dm_str_t));
    if (out == NULL || (out->data = dm_pnalloc(r->pool, len)) == NULL) {
        return NULL;
    }
    out->len = (size_t) snprintf((char *) out->data, len, "%s://%.*s",
                                 c->ssl ? "https" : "http", DM_STR_ARG(host));
    /* the host as $host: lower case */
    dm_strlow(out->data + out->len - host.len, out->data + out->len - host.len,
              host.len);
    if (port && port != (c->ssl ? 443 : 80)) {
        out->len += (size_t) snprintf((char *) out->data + out->len,
                                      len - out->len, ":%u", (unsigned) port);
    }
    memcpy(out->data + out->len, path->data, path->len);
    out->len += path->len;
    return out;
}

dm_int_t
dm_http_request_respond(dm_http_request_t *r, dm_uint_t status,
                        const dm_str_t *body, const dm_str_t *location)
{
    dm_http_core_loc_conf_t *clcf =
        dm_http_request_loc_conf(r, dm_http_core_module);
    dm_str_t text, extra;
    dm_chain_t *cl, *bl;
    dm_buf_t *b;
    int has_body, n;
    size_t len;

    if (r->err_status) {
        /* error_page: the answer keeps the original (or =CODE) status */
        status = r->err_status;
    }
    r->status = status;
    /* a body larger than allowed is refused before it is read */
    if (clcf->max_body && r->head.content_length > (int64_t) clcf->max_body
        && status < 400) {
        r->status = status = 413;
        r->keepalive = 0;
        body = NULL;
        location = NULL;
    }
    if (body == NULL && status >= 300 && !r->error_page
        && dm_http_error_page_run(r, status) == DM_DONE) {
        return DM_DONE;
    }
    if (status == 495 || status == 496) {
        /* nginx's codes for client certificates, for error_page; the
           client and the log see 400 with nginx's texts */
        static const dm_str_t bad =
            dm_string("400 The SSL certificate error\n");
        static const dm_str_t none =
            dm_string("400 No required SSL certificate was sent\n");

        if (body == NULL) {
            body = status == 495 ? &bad : &none;
        }
        r->status = status = 400;
    }
    if (body == NULL && status >= 300) {
        /* a short default page, as nginx */
        len = (size_t) snprintf(NULL, 0, "%u %s\n", (unsigned) status,
                                dm_http_status_text(status));
        text.data = dm_pnalloc(r->pool, len + 1);
        if (text.data == NULL) {
            dm_http_close(r->hc);
            return DM_DONE;
        }
        text.len =
            (size_t) snprintf((char *) text.data, len + 1, "%u %s\n",
                              (unsigned) status, dm_http_status_text(status));
        body = &text;
    }
    has_body = !(status < 200 || status == 204 || status == 304);
    r->response_body = (body && has_body) ? *body : (dm_str_t) dm_null_string;

    /* the request body goes first: its bytes must not be read as the next
       request, and a client waiting for "100 Continue" sends nothing */
    if (!r->body_done && status != 413) {
        if (location && location != &r->location) {
            r->location = *location;
        }
        dm_http_discard(r);
        return DM_DONE;
    }
    if (!r->body_done) {
        r->keepalive = 0;
    }

    if (location && location->len && location->data[0] == '/') {
        location = dm_http_absolute_location(r, location);
        if (location == NULL) {
            dm_http_close(r->hc);
            return DM_DONE;
        }
    }
    if (dm_http_headers_eval(r, status, &extra) != DM_OK) {
        dm_http_close(r->hc);
        return DM_DONE;
    }
    len = 256 + dm_cached_http_time.len + (location ? location->len : 0)
          + extra.len;
    b = dm_buf_create(r->pool, len);
    cl = dm_chain_alloc(r->pool);
    if (b == NULL || cl == NULL) {
        dm_http_close(r->hc);
        return DM_DONE;
    }
    n = snprintf((char *) b->last, len,
                 "HTTP/1.1 %u %s\r\nServer: doorman\r\nDate: %.*s\r\n",
                 (unsigned) status, dm_http_status_text(status),
                 DM_STR_ARG(dm_cached_http_time));
    b->last += n;
    if (has_body) {
        n = snprintf((char *) b->last, (size_t) (b->end - b->last),
                     "Content-Type: text/plain\r\nContent-Length: %zu\r\n",
                     r->response_body.len);
        b->last += n;
    }
    if (location && location->len) {
        n = snprintf((char *) b->last, (size_t) (b->end - b->last),
                     "Location: %.*s\r\n", DM_STR_ARG(*location));
        b->last += n;
    }
    if (extra.len) {
        b->last = (u_char *) memcpy(b->last, extra.data, extra.len) + extra.len;
    }
    n = snprintf((char *) b->last, (size_t) (b->end - b->last),
                 "Connection: %s\r\n\r\n",
                 dm_http_request_keepalive(r) ? "keep-alive" : "close");
    b->last += n;
    cl->buf = b;
    r->out = cl;

    if (r->response_body.len && r->head.method_id != DM_HTTP_METHOD_HEAD) {
        bl = dm_chain_alloc(r->pool);
        b = dm_pcalloc(r->pool, sizeof(dm_buf_t));
        if (bl == NULL || b == NULL) {
            dm_http_close(r->hc);
            return DM_DONE;
        }
        b->pos = b->start = r->response_body.data;
        b->last = b->end = r->response_body.data + r->response_body.len;
        b->memory = 1;
        bl->buf = b;
        cl->next = bl;
        r->body_bytes_sent = (off_t) r->response_body.len;
    }
    r->header_sent = 1;
    dm_http_send(r);
    return DM_DONE;
}

static void
dm_http_send(dm_http_request_t *r)
{
    dm_connection_t *c = r->connection;
    dm_http_core_loc_conf_t *clcf =
        dm_http_request_loc_conf(r, dm_http_core_module);

    c->write->handler = dm_http_send_handler;
    r->out = c->send_chain(c, r->out, 0);
    if (r->out == DM_CHAIN_ERROR) {
        r->keepalive = 0;
        c->error = 1;
        r->out = NULL;
        dm_http_finish(r);
        return;
    }
    if (r->out) {
        if (dm_event_timer_add(c->write, clcf->send_timeout) != DM_OK) {
            dm_http_close(r->hc);
        }
        return;
    }
    dm_event_timer_del(c->write);
    c->write->handler = dm_event_empty_handler;
    dm_http_finish(r);
}

static void
dm_http_send_handler(dm_event_t *wev)
{
    dm_connection_t *c = wev->data;
    dm_http_conn_t *hc = c->data;

    if (wev->timedout) {
        dm_log_error(DM_LOG_INFO, c->log, ETIMEDOUT,
                     "client timed out (send_timeout)");
        c->timedout = 1;
        dm_http_close(hc);
        return;
    }
    if (hc->request && hc->request->out) {
        dm_http_send(hc->request);
    }
}

int
dm_http_request_keepalive(dm_http_request_t *r)
{
    if (dm_worker_exiting) {
        /* a graceful exit (a reload) began while this request was in
           progress: its answer says so before the connection closes */
        r->keepalive = 0;
    }
    return r->keepalive;
}

void
dm_http_request_finalize(dm_http_request_t *r)
{
    dm_http_finish(r);
}

void
dm_http_request_continue(dm_http_request_t *r)
{
    if (r->head.expect_continue && !r->continue_sent) {
        dm_http_continue(r);
    }
}

void
dm_http_request_abort(dm_http_request_t *r)
{
    dm_http_core_main_conf_t *cmcf =
        dm_http_request_main_conf(r, dm_http_core_module);

    if (!r->logged) {
        r->logged = 1;
        dm_phase_run_log(&cmcf->phases, r);
    }
    r->hc->request = NULL;
    dm_http_close(r->hc);
}

/* "HTTP/1.1 100 Continue", once, written at once (it is tiny). */
static void
dm_http_continue(dm_http_request_t *r)
{
    static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
    dm_connection_t *c = r->connection;

    r->continue_sent = 1;
    (void) c->send(c, (const u_char *) line, sizeof(line) - 1);
}

/*
 * Reads and drops the request body (Content-Length or chunked), counted
 * against client_max_body_size, then sends the queued response.
 */
static void
dm_http_discard(dm_http_request_t *r)
{
    dm_connection_t *c = r->connection;
    dm_http_core_loc_conf_t *clcf =
        dm_http_request_loc_conf(r, dm_http_core_module);
    dm_http_parse_error_t err;
    dm_buf_t *b = r->hc->buf;
    const u_char *data;
    size_t used, dlen;
    dm_int_t rc;
    ssize_t n;

    if (r->head.expect_continue && !r->continue_sent && dm_buf_size(b) == 0) {
        dm_http_continue(r);
    }
    c->log->action = "reading the client request body";
    c->read->handler = dm_http_discard_handler;

    /* the body is read through the head buffer: what remains after it is
       the next (pipelined) request, already in place */
    while (!r->body_done) {
        if (dm_buf_size(b) == 0) {
            b->pos = b->last = b->start;
            if (!c->read->ready) {
                if (dm_event_timer_add(c->read, clcf->body_timeout) != DM_OK) {
                    dm_http_close(r->hc);
                }
                return;
            }
            n = c->recv(c, b->last, (size_t) (b->end - b->last));
            if (n == DM_AGAIN) {
                continue;
            }
            if (n == DM_ERROR || n == 0) {
                dm_http_close(r->hc);
                return;
            }
            b->last += n;
        }

        if (r->head.chunked) {
            rc = dm_http_chunked_parse(&r->chunked, b->pos, dm_buf_size(b),
                                       clcf->max_body, &used, &data, &dlen,
                                       &err);
            b->pos += used;
            if (rc == DM_ERROR) {
                r->body_done = 1;
                r->keepalive = 0;
                b->pos = b->last;
                dm_log_error(DM_LOG_INFO, c->log, 0,
                             "client sent an invalid body: %s", err.reason);
                r->response_body.len = 0;
                (void) dm_http_request_respond(r, err.status, NULL, NULL);
                return;
            }
            r->body_received += dlen;
            if (rc == DM_DONE) {
                r->body_done = 1;
            }
        } else {
            used = (size_t) dm_min((int64_t) dm_buf_size(b), r->body_left);
            b->pos += used;
            r->body_left -= (int64_t) used;
            r->body_received += used;
            if (r->body_left == 0) {
                r->body_done = 1;
            }
        }
    }

    dm_event_timer_del(c->read);
    c->read->handler = dm_event_empty_handler;
    c->log->action = "sending the response";
    (void) dm_http_request_respond(
        r, r->status, r->response_body.len ? &r->response_body : NULL,
        r->location.len ? &r->location : NULL);
}

static void
dm_http_discard_handler(dm_event_t *rev)
{
    dm_connection_t *c = rev->data;
    dm_http_conn_t *hc = c->data;

    if (rev->timedout) {
        dm_log_error(DM_LOG_INFO, c->log, ETIMEDOUT,
                     "client timed out (client_body_timeout)");
        dm_http_close(hc);
        return;
    }
    if (hc->request) {
        dm_http_discard(hc->request);
    }
}

/* The response is out: log, then the next request or the end. */
static void
dm_http_finish(dm_http_request_t *r)
{
    dm_http_conn_t *hc = r->hc;
    dm_connection_t *c = r->connection;
    dm_http_core_main_conf_t *cmcf =
        dm_http_request_main_conf(r, dm_http_core_module);
    dm_http_core_loc_conf_t *clcf =
        dm_http_request_loc_conf(r, dm_http_core_module);
    dm_http_core_srv_conf_t *cscf;

    if (!r->logged) {
        r->logged = 1;
        dm_phase_run_log(&cmcf->phases, r);
    }
    /* what the request held (limit_conn, timers) ends with it */
    dm_pool_run_cleanups(r->pool);
    hc->request = NULL;
    if (c->error) {
        dm_http_close(hc);
        return;
    }
    if (!r->keepalive || dm_worker_exiting) {
        /* as nginx's lingering_close on: only when the client may still
           be sending (a body not read whole, pipelined bytes), since a
           close with unread input sends a RST that can destroy the
           answer in flight; otherwise a plain close */
        if (r->body_done && dm_buf_size(hc->buf) == 0 && !c->read->ready) {
            dm_http_close(hc);
            return;
        }
        dm_connection_lingering_close(c, DM_HTTP_LINGER_TIMEOUT,
                                      DM_HTTP_LINGER_TIME);
        return;
    }

    c->log->action = "keepalive";
    c->read->handler = dm_http_wait_head;
    if (dm_buf_size(hc->buf)) {
        /* a pipelined request is waiting: serve it next turn */
        cscf = dm_http_default_server(c);
        if (dm_event_timer_add(c->read, cscf->header_timeout) != DM_OK) {
            dm_http_close(hc);
            return;
        }
        c->read->ready = 1;
        dm_event_post(c->read, &dm_event_posted);
        return;
    }
    hc->buf->pos = hc->buf->last = hc->buf->start;
    /* idle: the request pool and the head buffer go back until the next
       request's first byte */
    dm_http_conn_release(hc, 0);
    if (dm_event_timer_add(c->read, clcf->keepalive_timeout) != DM_OK) {
        dm_http_close(hc);
        return;
    }
    /* idle: a graceful exit or a shortage of slots may close it */
    dm_connection_reusable(c, 1);
    if (c->read->ready) {
        dm_http_wait_head(c->read);
    }
}

/* A head that could not be parsed: an answer and the end. */
static void
dm_http_error(dm_http_conn_t *hc, dm_uint_t status, const char *reason)
{
    dm_connection_t *c = hc->connection;
    dm_http_core_srv_conf_t *cscf = dm_http_default_server(c);
    dm_http_core_main_conf_t *cmcf;
    dm_http_request_t *r;

    dm_log_error(DM_LOG_INFO, c->log, 0, "client sent an invalid request: %s",
                 reason ? reason : "");
    if (dm_http_rpool(hc) == NULL) {
        dm_http_close(hc);
        return;
    }
    r = dm_pcalloc(hc->rpool, sizeof(dm_http_request_t));
    if (r == NULL) {
        dm_http_close(hc);
        return;
    }
    r->connection = c;
    r->hc = hc;
    r->pool = hc->rpool;
    r->main_conf = cscf->ctx->main_conf;
    r->srv_conf = cscf->ctx->srv_conf;
    r->loc_conf = cscf->ctx->loc_conf;
    r->start_msec = dm_current_msec;
    r->body_done = 1;
    r->keepalive = 0;
    cmcf = dm_http_request_main_conf(r, dm_http_core_module);
    r->head.content_length = -1;
    if (dm_variable_env_init(&r->vars, &cmcf->variables, r->pool, c, r)
        != DM_OK) {
        dm_http_close(hc);
        return;
    }
    hc->request = r;
    dm_event_timer_del(c->read);
    /* what follows the bad head is never read as a request */
    hc->buf->pos = hc->buf->last;
    (void) dm_http_request_respond(r, status ? status : 400, NULL, NULL);
}
