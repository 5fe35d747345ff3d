/*
 * doorman: the HTTP/1.1 parser, types (DESIGN.md section 7).
 *
 * The parser is a pure function over a buffer: it never allocates, never
 * copies (names and values point into the buffer), and answers "need
 * more" until a head is complete, so it is re-run from the start when more
 * bytes arrive (heads are small and bounded; picohttpparser is the model).
 */
#ifndef DM_HTTP_PARSE_T_H
#define DM_HTTP_PARSE_T_H

/* The methods the parser names (dm_http_request_head_t.method_id); any
   other token is accepted as DM_HTTP_METHOD_OTHER. Case-sensitive. */
#define DM_HTTP_METHOD_OTHER   0
#define DM_HTTP_METHOD_GET     1
#define DM_HTTP_METHOD_HEAD    2
#define DM_HTTP_METHOD_POST    3
#define DM_HTTP_METHOD_PUT     4
#define DM_HTTP_METHOD_DELETE  5
#define DM_HTTP_METHOD_OPTIONS 6
#define DM_HTTP_METHOD_CONNECT 7
#define DM_HTTP_METHOD_PATCH   8
#define DM_HTTP_METHOD_TRACE   9

/* The header names the parser recognizes (dm_http_header_t.id), in any
   letter case: the framing and hop-by-hop fields. */
#define DM_HTTP_HDR_OTHER             0
#define DM_HTTP_HDR_HOST              1
#define DM_HTTP_HDR_CONTENT_LENGTH    2
#define DM_HTTP_HDR_TRANSFER_ENCODING 3
#define DM_HTTP_HDR_CONNECTION        4
#define DM_HTTP_HDR_UPGRADE           5
#define DM_HTTP_HDR_EXPECT            6
#define DM_HTTP_HDR_KEEP_ALIVE        7
#define DM_HTTP_HDR_PROXY_CONNECTION  8
#define DM_HTTP_HDR_TE                9

/* One header field as received (after OWS trimming of the value). */
typedef struct {
    dm_str_t name;         /* as sent (case kept): 1*tchar */
    dm_str_t value;        /* without leading/trailing OWS; may be empty */
    unsigned id:8;         /* DM_HTTP_HDR_*, from the name */
    unsigned hop:1;        /* hop-by-hop, not to forward: Connection,
                              Keep-Alive, Proxy-Connection, TE,
                              Transfer-Encoding, Upgrade, and any field
                              a Connection header names (a request's may
                              not name Host, Content-Length or
                              Transfer-Encoding: 400) */
    unsigned underscore:1; /* the name holds a '_' (dropped by default,
                              underscores_in_headers off, as nginx) */
} dm_http_header_t;

/* A parsed request head. Pointers go into the parsed buffer, except path
   "/" of an absolute-form target without a path (a static string). */
typedef struct {
    dm_str_t method;           /* token */
    dm_str_t target;           /* request-target as sent */
    dm_str_t path;             /* origin-form path (absolute-form: its
                                  path, "/" when empty; asterisk-form "*";
                                  authority-form (CONNECT): empty); ends
                                  at '?' or '#' */
    dm_str_t args;             /* query string without '?', up to '#' */
    dm_str_t authority;        /* absolute-form authority, or empty */
    dm_str_t host;             /* the Host to use (authority wins), as
                                  sent, port included; empty when an
                                  HTTP/1.0 request names none */
    dm_str_t host_name;        /* host without its port and trailing dot
                                  (case kept): what server_name matches */
    unsigned version;          /* 10 or 11 (HTTP/1.0, HTTP/1.1) */
    unsigned method_id;        /* DM_HTTP_METHOD_* */
    dm_http_header_t *headers; /* filled up to max_headers */
    size_t nheaders;           /* in: capacity; out: count */
    /* framing, decided by dm_http_parse_request */
    int64_t content_length;     /* -1 when none */
    unsigned chunked:1;         /* Transfer-Encoding: chunked (last) */
    unsigned keep_alive:1;      /* the connection may be reused */
    unsigned expect_continue:1; /* Expect: 100-continue (HTTP/1.1) */
    unsigned upgrade:1;         /* Connection: upgrade with Upgrade (1.1) */
    unsigned absolute_form:1;   /* the target was absolute-form */
    unsigned complex_uri:1;     /* the path holds '%', "//" or "/.": it
                                   needs decoding and normalizing; when
                                   clear, path is already the $uri */
} dm_http_request_head_t;

/*
 * A parsed response head (from an upstream). What follows the head:
 * nothing when no_body, else a chunked body, else content_length bytes,
 * else everything up to the close (close_delimited).
 */
typedef struct {
    unsigned version; /* 10 or 11 */
    unsigned status;  /* 100 ... 999 */
    dm_str_t reason;  /* may be empty */
    dm_http_header_t *headers;
    size_t nheaders;            /* in: capacity; out: count */
    int64_t content_length;     /* the Content-Length field, -1 when none
                                   (kept with no_body: a HEAD response
                                   forwards it) */
    unsigned chunked:1;         /* Transfer-Encoding: chunked */
    unsigned keep_alive:1;      /* the upstream connection may be reused */
    unsigned close_delimited:1; /* no length: the body ends at close */
    unsigned no_body:1;         /* 1xx, 204, 304, or a response to HEAD:
                                   nothing follows the head, whatever the
                                   fields say */
} dm_http_response_head_t;

/* Why a head was refused: the status to answer and a short reason. */
typedef struct {
    unsigned status;    /* 400, 413, 414, 431, 501, 505, or 502 for
                           responses */
    const char *reason; /* for the error log, static */
} dm_http_parse_error_t;

/* Limits the parser enforces; 0 means no limit. */
typedef struct {
    size_t max_line;    /* request line with its line end (414 beyond),
                           e.g. 8k */
    size_t max_head;    /* whole head, empty line included (431 beyond) */
    size_t max_headers; /* header count (431 beyond); the headers array
                           capacity (nheaders in) bounds it too */
    unsigned bare_lf:1; /* accept LF without CR as a line end in a head
                           (doorman's default: on); never in chunked
                           framing */
} dm_http_parse_limits_t;

/* The resumable chunked-body decoder. */
typedef struct {
    unsigned state;     /* internal */
    uint64_t size;      /* bytes left in the current chunk */
    size_t ext_len;     /* chunk-extension bytes seen (bounded) */
    size_t trailer_len; /* trailer bytes seen (bounded) */
    uint64_t total;     /* body bytes decoded so far */
} dm_http_chunked_t;

/*
 * What the framing fields of a head said, gathered field by field; shared
 * by the request and the response parsers (dm_http_parse_framing()), not
 * for other callers.
 */
typedef struct {
    int64_t content_length;        /* -1: no Content-Length yet */
    unsigned content_length_bad:1; /* malformed, or differing repeats */
    unsigned te:1;                 /* a Transfer-Encoding field was seen */
    unsigned te_bad:1;             /* an empty element or parameters */
    unsigned te_chunked:2;         /* times chunked was listed (max 2) */
    unsigned te_chunked_last:1;    /* the last coding so far is chunked */
    unsigned te_other:1;           /* a coding other than chunked */
    unsigned conn_close:1;         /* Connection: close */
    unsigned conn_keep_alive:1;    /* Connection: keep-alive */
    unsigned conn_upgrade:1;       /* Connection: upgrade */
    unsigned conn_names:1;         /* Connection names another field */
    unsigned conn_framing:1;       /* ... names a framing field */
    unsigned hosts:2;              /* Host fields seen (request parser) */
    unsigned upgrade:1;            /* an Upgrade field was seen */
    unsigned expect_continue:1;    /* Expect: 100-continue */
} dm_http_parse_framing_t;

#endif /* DM_HTTP_PARSE_T_H */
