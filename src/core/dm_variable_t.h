/*
 * doorman: variables, types (shared by both engines, DESIGN.md section 5).
 *
 * A variable is declared once per engine with a getter; configuration
 * strings that use it are compiled to its index, so a request never looks
 * a variable up by name. Values are computed on first use and cached in
 * the session's (request's) value array, unless the variable says not to.
 */
#ifndef DM_VARIABLE_T_H
#define DM_VARIABLE_T_H

/* Variable flags. */
#define DM_VAR_CHANGEABLE  0x01 /* may be defined again (map, set) */
#define DM_VAR_NOCACHEABLE 0x02 /* recomputed at every use */
#define DM_VAR_PREFIX      0x04 /* a family: "http_" serves $http_NAME */
#define DM_VAR_MATCH       0x08 /* set by a regex match (named capture) */

/* Most variables used by one engine's configuration. */
#define DM_VAR_MAX_INDEXED 4096
/* Positional captures $1 ... $9 and the whole match $0. */
#define DM_VAR_MAX_CAPTURES 10

typedef struct {
    u_char *data;            /* the bytes (pool or static memory) */
    size_t len;              /* their length */
    unsigned valid:1;        /* computed (cached) */
    unsigned not_found:1;    /* the variable has no value here: empty */
    unsigned no_cacheable:1; /* recompute next time */
} dm_variable_value_t;

typedef struct dm_variable_env_s dm_variable_env_t;
typedef struct dm_variable_s dm_variable_t;

/*
 * A getter fills v (data from env->pool or static memory) and returns
 * DM_OK, or DM_ERROR on allocation failure. A variable without a value
 * sets v->not_found.
 */
typedef dm_int_t (*dm_variable_get_pt)(dm_variable_env_t *env,
                                       dm_variable_value_t *v, uintptr_t data);

/* One entry of a module's table of variables (dm_variable_add_table). */
typedef struct {
    const char *name;       /* without the '$' */
    dm_variable_get_pt get; /* its getter */
    uintptr_t data;         /* the getter's argument */
    dm_uint_t flags;        /* DM_VAR_* */
} dm_variable_decl_t;

struct dm_variable_s {
    dm_str_t name;          /* without the '$', as declared */
    dm_variable_get_pt get; /* the getter */
    uintptr_t data;         /* the getter's argument */
    dm_uint_t flags;        /* DM_VAR_* */
    dm_uint_t index;        /* position in the engine's indexed list */
    dm_str_t file;          /* where a used variable first appears */
    dm_uint_t line;
};

/* An engine's variables: declared ones, and those the config uses. */
typedef struct {
    dm_array_t vars;    /* dm_variable_t, declared (and prefixes) */
    dm_array_t indexed; /* dm_variable_t, used by the configuration */
    const char *engine; /* "stream" or "http", for messages */
} dm_variable_registry_t;

/*
 * What a getter sees: the session or request, its connection and pool,
 * the cache, and the captures of the last regex match.
 */
struct dm_variable_env_s {
    dm_pool_t *pool;                  /* the session's or request's pool */
    dm_connection_t *connection;      /* the client connection */
    void *obj;                        /* the session or request */
    dm_variable_registry_t *registry; /* its engine's variables */
    dm_variable_value_t *values;      /* cache, by index */
    dm_msec_t start_msec;             /* when the session/request began */
    u_char *subject;                  /* what the last match ran on */
    size_t captures[2 * DM_VAR_MAX_CAPTURES]; /* its offsets */
    dm_uint_t ncaptures;                      /* pairs set in captures */
};

#endif /* DM_VARIABLE_T_H */
