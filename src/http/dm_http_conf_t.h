/*
 * doorman: the http { } engine's configuration, types.
 */
#ifndef DM_HTTP_CONF_T_H
#define DM_HTTP_CONF_T_H

/* How a location matches (location [= | ^~ | ~ | ~*] URI, @name). */
#define DM_HTTP_LOC_PREFIX  0 /* location /uri */
#define DM_HTTP_LOC_EXACT   1 /* location = /uri */
#define DM_HTTP_LOC_NOREGEX 2 /* location ^~ /uri */
#define DM_HTTP_LOC_REGEX   3 /* location ~ re */
#define DM_HTTP_LOC_IREGEX  4 /* location ~* re */
#define DM_HTTP_LOC_NAMED   5 /* location @name */

/* The http core module's main structure. */
typedef struct {
    dm_array_t servers; /* dm_http_core_srv_conf_t *, in file order */
    dm_variable_registry_t variables; /* the http engine's variables */
} dm_http_core_main_conf_t;

typedef struct dm_http_core_loc_conf_s dm_http_core_loc_conf_t;

/* The http core module's per-server structure. */
typedef struct {
    dm_conf_ctx_t *ctx;   /* the server's context */
    dm_array_t locations; /* dm_http_core_loc_conf_t *, top level */
    dm_str_t file;        /* where the server block starts */
    dm_uint_t line;
} dm_http_core_srv_conf_t;

/* The http core module's per-location structure. */
struct dm_http_core_loc_conf_s {
    dm_str_t name;         /* the URI, regex or @name */
    dm_uint_t kind;        /* DM_HTTP_LOC_* */
    void **loc_conf;       /* this location's structures, per module */
    dm_array_t *locations; /* nested dm_http_core_loc_conf_t *, or NULL */
    dm_http_core_loc_conf_t *parent; /* enclosing location, or NULL */
};

/* The http module's structure (top level): the http block's context. */
typedef struct {
    dm_conf_ctx_t *ctx; /* NULL when the file has no http block */
} dm_http_conf_t;

#endif /* DM_HTTP_CONF_T_H */
