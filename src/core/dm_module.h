/*
 * doorman: module descriptors.
 */
#ifndef DM_MODULE_H
#define DM_MODULE_H

#include <dm_module_t.h>

/* The ordered module table and the named modules, from objs/dm_modules.c. */
extern dm_module_t *dm_modules[];
extern const char *const dm_module_names[];

/* Number of modules in dm_modules[], valid after dm_module_init(). */
extern dm_uint_t dm_modules_n;

/*
 * Numbers the modules (index, and ctx_index within each type). Idempotent;
 * called once at start before any configuration is read.
 */
void dm_module_init(void);

/* Number of modules of the given DM_MODULE_* type. */
dm_uint_t dm_module_count(dm_uint_t type);

/*
 * Returns 1 when a named module (tcp_stream, ...) was compiled in, 0
 * otherwise.
 */
int dm_module_compiled(const char *name);

/*
 * Calls create_main_conf of every module of `type` into a new array of
 * dm_module_count(type) slots (a module without the hook gets NULL).
 * Returns the array, or NULL on failure (already reported).
 */
void **dm_module_create_main_confs(dm_conf_t *cf, dm_uint_t type);

/* Same for create_srv_conf and create_loc_conf. */
void **dm_module_create_srv_confs(dm_conf_t *cf, dm_uint_t type);
void **dm_module_create_loc_confs(dm_conf_t *cf, dm_uint_t type);

/*
 * Runs init_main_conf of every module of `type` on its structure in
 * main_conf. Returns DM_CONF_OK or DM_CONF_ERROR (reported).
 */
char *dm_module_init_main_confs(dm_conf_t *cf, dm_uint_t type,
                                void **main_conf);

/*
 * Runs merge_srv_conf (merge_loc_conf) of every module of `type`: each
 * child structure inherits what it did not set from its parent.
 */
char *dm_module_merge_srv_confs(dm_conf_t *cf, dm_uint_t type, void **parent,
                                void **child);
char *dm_module_merge_loc_confs(dm_conf_t *cf, dm_uint_t type, void **parent,
                                void **child);

/*
 * Runs preconfiguration (postconfiguration) of every module of `type`, in
 * table order. Returns DM_OK or DM_ERROR.
 */
dm_int_t dm_module_preconfiguration(dm_conf_t *cf, dm_uint_t type);
dm_int_t dm_module_postconfiguration(dm_conf_t *cf, dm_uint_t type);

/*
 * Runs every module's init_module hook (master, once a configuration is
 * loaded and its shared zones are mapped). Returns DM_OK or DM_ERROR.
 */
dm_int_t dm_module_init_modules(dm_cycle_t *cycle);

#endif /* DM_MODULE_H */
