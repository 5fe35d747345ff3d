/*
 * doorman: module descriptors, types.
 *
 * Every feature is a module: a static descriptor written with designated
 * initializers, listed in the ordered table that ./configure generates
 * (objs/dm_modules.c). Unused hooks are left NULL.
 */
#ifndef DM_MODULE_T_H
#define DM_MODULE_T_H

/* Engines a module belongs to; its directives apply in that engine. */
#define DM_MODULE_CORE   1 /* top-level directives (and engine blocks) */
#define DM_MODULE_EVENT  2 /* directives inside events { } */
#define DM_MODULE_STREAM 3 /* directives inside stream { } */
#define DM_MODULE_HTTP   4 /* directives inside http { } */

struct dm_module_s {
    const char *name;             /* short name, e.g. "tcp_stream" */
    dm_uint_t type;               /* DM_MODULE_* */
    dm_uint_t index;              /* position in dm_modules[], set at start */
    dm_uint_t ctx_index;          /* position among modules of its type */
    const dm_command_t *commands; /* directive table, or NULL */

    /* Configuration levels. Core modules use main only. */
    void *(*create_main_conf)(dm_conf_t *cf);
    char *(*init_main_conf)(dm_conf_t *cf, void *conf);
    void *(*create_srv_conf)(dm_conf_t *cf);
    char *(*merge_srv_conf)(dm_conf_t *cf, void *parent, void *child);
    void *(*create_loc_conf)(dm_conf_t *cf);
    char *(*merge_loc_conf)(dm_conf_t *cf, void *parent, void *child);

    /* Engine hooks, run once per configuration load. */
    dm_int_t (*preconfiguration)(dm_conf_t *cf);  /* before the block */
    dm_int_t (*postconfiguration)(dm_conf_t *cf); /* registers handlers */

    /* Process hooks. */
    dm_int_t (*init_module)(dm_cycle_t *cycle);  /* master, after load */
    dm_int_t (*init_process)(dm_cycle_t *cycle); /* each worker, helper */
    void (*exit_process)(dm_cycle_t *cycle);     /* each worker, helper */
};

#endif /* DM_MODULE_T_H */
