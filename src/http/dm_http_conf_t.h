/*
 * doorman: the http { } engine's configuration, types.
 */
#ifndef DM_HTTP_CONF_T_H
#define DM_HTTP_CONF_T_H

#include <dm_listen_opts.h>

/* How a location matches (location [= | ^~ | ~ | ~*] URI, @name). */
#define DM_HTTP_LOC_PREFIX  0 /* location /uri */
#define DM_HTTP_LOC_EXACT   1 /* location = /uri */
#define DM_HTTP_LOC_NOREGEX 2 /* location ^~ /uri */
#define DM_HTTP_LOC_REGEX   3 /* location ~ re */
#define DM_HTTP_LOC_IREGEX  4 /* location ~* re */
#define DM_HTTP_LOC_NAMED   5 /* location @name */

/* The http phases, in order (DESIGN.md section 5). */
#define DM_HTTP_POST_ACCEPT_PHASE    0 /* per connection: PROXY, TLS */
#define DM_HTTP_POST_READ_PHASE      1 /* the real client address */
#define DM_HTTP_SERVER_REWRITE_PHASE 2 /* rewrite / return in server */
#define DM_HTTP_FIND_CONFIG_PHASE    3 /* core: the location */
#define DM_HTTP_REWRITE_PHASE        4 /* rewrite / return in location */
#define DM_HTTP_PREACCESS_PHASE      5 /* limit_req, limit_conn */
#define DM_HTTP_ACCESS_PHASE         6 /* allow / deny */
#define DM_HTTP_CONTENT_PHASE        7 /* proxy_pass, return */
#define DM_HTTP_LOG_PHASE            8 /* the access log */
#define DM_HTTP_PHASES               9

/* The http core module's main structure. */
typedef struct {
    dm_array_t servers; /* dm_http_core_srv_conf_t *, in file order */
    dm_variable_registry_t variables; /* the http engine's variables */
    dm_array_t listen;                /* dm_http_listen_t, every line */
    dm_phase_engine_t phases;         /* per request */
} dm_http_core_main_conf_t;

typedef struct dm_http_core_loc_conf_s dm_http_core_loc_conf_t;

/* The http core module's per-server structure. */
typedef struct {
    dm_conf_ctx_t *ctx;   /* the server's context */
    dm_array_t locations; /* dm_http_core_loc_conf_t *, top level */
    dm_array_t names;     /* dm_str_t exact server names, lower case */
    dm_array_t wildcards; /* dm_http_server_name_t: *.a.b, a.b.*, .a.b */
    dm_array_t regexes;   /* dm_regex_t *: ~regex names, in order */
    dm_str_t file;        /* where the server block starts */
    dm_uint_t line;
    size_t header_buffer;     /* client_header_buffer_size (1k) */
    size_t large_buffer;      /* large_client_header_buffers SIZE (8k) */
    dm_int_t large_buffers;   /* ... NUMBER (4): the head's bound */
    dm_msec_t header_timeout; /* client_header_timeout (60s) */
} dm_http_core_srv_conf_t;

/* A wildcard server name (the '*' and the dot before or after it are
   dropped: "*.example.com" is stored as ".example.com"). */
typedef struct {
    dm_str_t name;      /* lower case */
    unsigned leading:1; /* *.example.com or .example.com */
    unsigned bare:1;    /* .example.com: also example.com itself */
} dm_http_server_name_t;

/* One listen line of an http server. */
typedef struct {
    dm_inet_addr_t addr;             /* what to bind */
    dm_http_core_srv_conf_t *server; /* whose it is */
    dm_str_t file;                   /* where the directive is */
    dm_uint_t line;
    dm_listen_opts_t opts;     /* the shared parameters */
    unsigned default_server:1; /* default_server */
} dm_http_listen_t;

/* The servers of one address: chosen by Host, else the default. */
typedef struct {
    dm_inet_addr_t addr;                     /* a specific local address */
    dm_http_core_srv_conf_t *default_server; /* for unknown names */
    dm_array_t servers;                      /* dm_http_core_srv_conf_t * */
    unsigned explicit_default:1;             /* default_server was given */
    unsigned ssl:1;                          /* listen ... ssl */
    unsigned proxy_protocol:1;               /* listen ... proxy_protocol */
} dm_http_addr_t;

typedef struct {
    dm_http_addr_t *addrs; /* specific addresses first, the socket's own
                              address (maybe a wildcard) last */
    dm_uint_t naddrs;
} dm_http_port_t;

/* The http core module's per-location structure. */
struct dm_http_core_loc_conf_s {
    dm_str_t name;         /* the URI, regex or @name */
    dm_uint_t kind;        /* DM_HTTP_LOC_* */
    dm_regex_t *regex;     /* ~ and ~*: the compiled pattern */
    void **loc_conf;       /* this location's structures, per module */
    dm_array_t *locations; /* nested dm_http_core_loc_conf_t *, or NULL */
    dm_http_core_loc_conf_t *parent; /* enclosing location, or NULL */
    dm_msec_t keepalive_timeout;     /* keepalive_timeout (75s; 0: off) */
    dm_int_t keepalive_requests;     /* keepalive_requests (1000) */
    dm_msec_t body_timeout;          /* client_body_timeout (60s) */
    dm_msec_t send_timeout;          /* send_timeout (60s) */
    size_t max_body;                 /* client_max_body_size (1m; 0: none) */
};

/* The http module's structure (top level): the http block's context. */
typedef struct {
    dm_conf_ctx_t *ctx; /* NULL when the file has no http block */
} dm_http_conf_t;

#endif /* DM_HTTP_CONF_T_H */
