/*
 * doorman: the configuration language, types.
 *
 * A directive table entry (dm_command_t) says where a directive may appear
 * (context bits), how many arguments it takes (argument bits), which level
 * of configuration structure it writes (main, srv or loc) and how (a typed
 * setter and a field offset, or a handler of its own).
 */
#ifndef DM_CONF_T_H
#define DM_CONF_T_H

/* Argument counts, OR-able: TAKE12 = TAKE1|TAKE2. */
#define DM_CONF_NOARGS      0x00000001
#define DM_CONF_TAKE1       0x00000002
#define DM_CONF_TAKE2       0x00000004
#define DM_CONF_TAKE3       0x00000008
#define DM_CONF_TAKE4       0x00000010
#define DM_CONF_TAKE5       0x00000020
#define DM_CONF_TAKE6       0x00000040
#define DM_CONF_TAKE7       0x00000080
#define DM_CONF_MAX_ARGS    8
#define DM_CONF_TAKE12      (DM_CONF_TAKE1 | DM_CONF_TAKE2)
#define DM_CONF_TAKE13      (DM_CONF_TAKE1 | DM_CONF_TAKE3)
#define DM_CONF_TAKE23      (DM_CONF_TAKE2 | DM_CONF_TAKE3)
#define DM_CONF_TAKE123     (DM_CONF_TAKE12 | DM_CONF_TAKE3)
#define DM_CONF_TAKE1234    (DM_CONF_TAKE123 | DM_CONF_TAKE4)
#define DM_CONF_ARGS_NUMBER 0x000000ff
#define DM_CONF_BLOCK       0x00000100 /* followed by { ... } instead of ; */
#define DM_CONF_FLAG        0x00000200 /* exactly one argument: on | off */
#define DM_CONF_ANY         0x00000400 /* any number, including none */
#define DM_CONF_1MORE       0x00000800 /* one or more */
#define DM_CONF_2MORE       0x00001000 /* two or more */

/* Contexts, OR-able: where a directive may appear. */
#define DM_MAIN_CONF        0x00010000 /* top level */
#define DM_EVENT_CONF       0x00020000 /* events { } */
#define DM_STREAM_MAIN_CONF 0x00040000 /* stream { } */
#define DM_STREAM_SRV_CONF  0x00080000 /* stream { server { } } */
#define DM_STREAM_UPS_CONF  0x00100000 /* stream { upstream { } } */
#define DM_HTTP_MAIN_CONF   0x00200000 /* http { } */
#define DM_HTTP_SRV_CONF    0x00400000 /* http { server { } } */
#define DM_HTTP_LOC_CONF    0x00800000 /* location { }, nested too */
#define DM_HTTP_UPS_CONF    0x01000000 /* http { upstream { } } */
#define DM_ANY_CONF         0x01ff0000

/* Which structure of the current context a directive writes. */
#define DM_CONF_LEVEL_MAIN 0
#define DM_CONF_LEVEL_SRV  1
#define DM_CONF_LEVEL_LOC  2

/* Setter results: NULL is success, a string is the reason for failure. */
#define DM_CONF_OK    NULL
#define DM_CONF_ERROR ((char *) -1)

/* "Not set at this level" sentinels, resolved by the merge macros. */
#define DM_CONF_UNSET      -1
#define DM_CONF_UNSET_UINT ((dm_uint_t) -1)
#define DM_CONF_UNSET_PTR  ((void *) -1)
#define DM_CONF_UNSET_SIZE ((size_t) -1)
#define DM_CONF_UNSET_MSEC ((dm_msec_t) -1)

/*
 * The configuration structures visible at one point of the file: one
 * array per level, indexed by the ctx_index of the engine's modules. The
 * top level holds the core modules' structures in main_conf; a block
 * directive builds a new context that shares the levels above it.
 */
typedef struct {
    void **main_conf; /* one per module of the engine, shared by servers */
    void **srv_conf;  /* the current server's (or upstream's), or NULL */
    void **loc_conf;  /* the current location's (http only), or NULL */
} dm_conf_ctx_t;

typedef char *(*dm_conf_set_pt)(dm_conf_t *cf, const dm_command_t *cmd,
                                void *conf);

struct dm_command_s {
    dm_str_t name;      /* the directive's name; empty ends a table */
    dm_uint_t contexts; /* DM_*_CONF bits where it may appear */
    dm_uint_t args;     /* DM_CONF_NOARGS ... DM_CONF_2MORE, DM_CONF_BLOCK */
    dm_conf_set_pt set; /* setter, called with the level's structure */
    dm_uint_t level;    /* DM_CONF_LEVEL_MAIN, _SRV or _LOC */
    size_t offset;      /* field offset for the typed setters */
    const void *post;   /* setter data: bounds, an enum table, or NULL */
};

#define dm_null_command                                                        \
    {                                                                          \
        dm_null_string, 0, 0, NULL, 0, 0, NULL                                 \
    }

/* Bounds for the number, size and time setters (inclusive). */
typedef struct {
    int64_t min;
    int64_t max;
} dm_conf_bounds_t;

/* One value of an enum directive; a table ends with an empty name. */
typedef struct {
    dm_str_t name;
    dm_uint_t value;
} dm_conf_enum_t;

/*
 * A block handler: some blocks (map, split_clients, types) hold entries
 * that are not directives; their handler gets every line's tokens.
 */
typedef char *(*dm_conf_handler_pt)(dm_conf_t *cf, const dm_command_t *dummy,
                                    void *conf);

/* One configuration file being read, kept whole in memory. */
typedef struct {
    dm_str_t name;      /* path as opened (NUL-terminated) */
    u_char *start;      /* the contents */
    u_char *pos;        /* the tokenizer's position */
    u_char *end;        /* one past the contents */
    dm_uint_t line;     /* current line, from 1 */
    dm_uint_t dir_line; /* first line of the directive being handled */
} dm_conf_file_t;

struct dm_conf_s {
    dm_cycle_t *cycle;          /* the cycle being configured */
    dm_pool_t *pool;            /* lives as long as the configuration */
    dm_pool_t *temp_pool;       /* freed once the configuration is loaded */
    dm_log_t *log;              /* where errors go */
    dm_conf_file_t *file;       /* the file being read, NULL for -g */
    dm_array_t *args;           /* dm_str_t tokens of the current directive */
    dm_conf_ctx_t *ctx;         /* structures the directives write */
    dm_uint_t module_type;      /* DM_MODULE_* whose directives apply */
    dm_uint_t cmd_type;         /* the context bit (DM_*_CONF) we are in */
    dm_conf_handler_pt handler; /* block handler, or NULL for directives */
    void *handler_conf;         /* its data */
    dm_uint_t include_depth;    /* nesting of include, bounded */
    dm_uint_t block_depth;      /* nesting of blocks, bounded */
};

#endif /* DM_CONF_T_H */
