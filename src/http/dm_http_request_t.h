/*
 * doorman: http connections and requests, types.
 */
#ifndef DM_HTTP_REQUEST_T_H
#define DM_HTTP_REQUEST_T_H

#include <dm_http_parse_t.h>

/* Most header fields of a request (more is 431). */
#define DM_HTTP_MAX_HEADERS 100

typedef struct dm_http_request_s dm_http_request_t;

/* Per client connection, kept across its requests. */
typedef struct {
    dm_connection_t *connection;
    dm_buf_t *buf;              /* the head being read, then pipelined
                                   bytes of the next requests */
    dm_pool_t *rpool;           /* the request pool, reset per request */
    dm_http_request_t *request; /* the current request, or NULL */
    dm_uint_t requests;         /* requests served on this connection */
    dm_msec_t header_deadline;  /* client_header_timeout for this head */
    unsigned buf_cached:1;      /* buf comes from the worker's free list */
    unsigned upstream_owned:1;  /* idle upstream connections of its own
                                   (proxy_protocol) close with it */
} dm_http_conn_t;

struct dm_http_request_s {
    dm_connection_t *connection;
    dm_http_conn_t *hc;
    dm_pool_t *pool;             /* hc->rpool */
    void **main_conf;            /* the http block's structures */
    void **srv_conf;             /* the chosen server's */
    void **loc_conf;             /* the chosen location's */
    void **ctx;                  /* per-module request state */
    dm_http_request_head_t head; /* the parsed head */
    size_t head_len;             /* bytes of the head */
    dm_variable_env_t vars;      /* variables of the request */
    dm_uint_t phase_index;       /* where the pipeline resumes */
    dm_uint_t status;            /* $status */
    off_t body_bytes_sent;       /* $body_bytes_sent */
    dm_msec_t start_msec;        /* for $request_time */
    u_char request_id[33];       /* $request_id, hex, NUL-ended */
    dm_uint_t uri_changes;       /* rewrites and internal redirects */
    dm_uint_t err_status;        /* error_page =CODE: the final status */
    dm_uint_t limit_req_status;  /* limit_req applied (1-5, see
                                    $limit_req_status): kept across
                                    internal redirects, so once only */

    /* the request body being read or discarded */
    int64_t body_left;         /* Content-Length bytes to go */
    dm_http_chunked_t chunked; /* chunked decoder state */
    uint64_t body_received;    /* body bytes received */

    /* the response */
    dm_chain_t *out;        /* head and body still to send */
    dm_str_t response_body; /* body of a simple response */
    dm_str_t location;      /* its Location, or empty */

    unsigned keepalive:1;     /* reuse the connection after */
    unsigned body_done:1;     /* the request body is consumed */
    unsigned continue_sent:1; /* "100 Continue" went out */
    unsigned header_sent:1;   /* the response head is queued */
    unsigned finalized:1;     /* the response is complete */
    unsigned logged:1;        /* the log phase ran */
    unsigned error_page:1;    /* an error_page redirect happened */
    unsigned uri_changed:1;   /* a rewrite changed $uri: find again */
    unsigned uri_rewritten:1; /* $uri is no longer the client's path */

    /* last: not zeroed per request (the parser fills what it uses) */
    dm_http_header_t headers[DM_HTTP_MAX_HEADERS];
};

#endif /* DM_HTTP_REQUEST_T_H */
