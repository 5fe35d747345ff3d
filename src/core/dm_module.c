/*
 * doorman: module descriptors.
 */
#include <dm_core.h>

dm_uint_t dm_modules_n;

void
dm_module_init(void)
{
    dm_uint_t i, counts[8] = {0};

    for (i = 0; dm_modules[i]; i++) {
        dm_modules[i]->index = i;
        dm_modules[i]->ctx_index = counts[dm_modules[i]->type & 7]++;
    }
    dm_modules_n = i;
}

dm_uint_t
dm_module_count(dm_uint_t type)
{
    /* the table is fixed at build time: counted once per type (requests
       size their context arrays with it) */
    static dm_uint_t counted[8], known[8];
    dm_uint_t i, n = 0;

    if (type < 8 && known[type]) {
        return counted[type];
    }
    for (i = 0; dm_modules[i]; i++) {
        n += (dm_modules[i]->type == type);
    }
    if (type < 8) {
        counted[type] = n;
        known[type] = 1;
    }
    return n;
}

int
dm_module_compiled(const char *name)
{
    dm_uint_t i;

    for (i = 0; dm_module_names[i]; i++) {
        if (strcmp(dm_module_names[i], name) == 0) {
            return 1;
        }
    }
    return 0;
}

/*
 * The three creators differ only in which hook they call; the offset of
 * the hook in the descriptor says which.
 */
typedef void *(*dm_module_create_pt)(dm_conf_t *cf);

static void **
dm_module_create_confs(dm_conf_t *cf, dm_uint_t type, size_t hook)
{
    dm_module_create_pt create;
    dm_uint_t i, n = dm_module_count(type);
    void **confs;

    confs = dm_pcalloc(cf->pool, (n ? n : 1) * sizeof(void *));
    if (confs == NULL) {
        return NULL;
    }
    for (i = 0; dm_modules[i]; i++) {
        if (dm_modules[i]->type != type) {
            continue;
        }
        memcpy(&create, (u_char *) dm_modules[i] + hook, sizeof(create));
        if (create == NULL) {
            continue;
        }
        confs[dm_modules[i]->ctx_index] = create(cf);
        if (confs[dm_modules[i]->ctx_index] == NULL) {
            return NULL;
        }
    }
    return confs;
}

void **
dm_module_create_main_confs(dm_conf_t *cf, dm_uint_t type)
{
    return dm_module_create_confs(cf, type,
                                  offsetof(dm_module_t, create_main_conf));
}

void **
dm_module_create_srv_confs(dm_conf_t *cf, dm_uint_t type)
{
    return dm_module_create_confs(cf, type,
                                  offsetof(dm_module_t, create_srv_conf));
}

void **
dm_module_create_loc_confs(dm_conf_t *cf, dm_uint_t type)
{
    return dm_module_create_confs(cf, type,
                                  offsetof(dm_module_t, create_loc_conf));
}

char *
dm_module_init_main_confs(dm_conf_t *cf, dm_uint_t type, void **main_conf)
{
    dm_uint_t i;

    for (i = 0; dm_modules[i]; i++) {
        dm_module_t *m = dm_modules[i];

        if (m->type == type && m->init_main_conf
            && m->init_main_conf(cf, main_conf[m->ctx_index]) != DM_CONF_OK) {
            return DM_CONF_ERROR;
        }
    }
    return DM_CONF_OK;
}

typedef char *(*dm_module_merge_pt)(dm_conf_t *cf, void *parent, void *child);

static char *
dm_module_merge(dm_conf_t *cf, dm_uint_t type, void **parent, void **child,
                size_t hook)
{
    dm_module_merge_pt merge;
    dm_uint_t i;
    char *rv;

    for (i = 0; dm_modules[i]; i++) {
        dm_module_t *m = dm_modules[i];

        if (m->type != type) {
            continue;
        }
        memcpy(&merge, (u_char *) m + hook, sizeof(merge));
        if (merge == NULL) {
            continue;
        }
        rv = merge(cf, parent[m->ctx_index], child[m->ctx_index]);
        if (rv != DM_CONF_OK) {
            if (rv != DM_CONF_ERROR) {
                dm_conf_log_error(DM_LOG_EMERG, cf, 0, "%s", rv);
            }
            return DM_CONF_ERROR;
        }
    }
    return DM_CONF_OK;
}

char *
dm_module_merge_srv_confs(dm_conf_t *cf, dm_uint_t type, void **parent,
                          void **child)
{
    return dm_module_merge(cf, type, parent, child,
                           offsetof(dm_module_t, merge_srv_conf));
}

char *
dm_module_merge_loc_confs(dm_conf_t *cf, dm_uint_t type, void **parent,
                          void **child)
{
    return dm_module_merge(cf, type, parent, child,
                           offsetof(dm_module_t, merge_loc_conf));
}

typedef dm_int_t (*dm_module_conf_hook_pt)(dm_conf_t *cf);

static dm_int_t
dm_module_run_hooks(dm_conf_t *cf, dm_uint_t type, size_t hook)
{
    dm_module_conf_hook_pt fn;
    dm_uint_t i;

    for (i = 0; dm_modules[i]; i++) {
        if (dm_modules[i]->type != type) {
            continue;
        }
        memcpy(&fn, (u_char *) dm_modules[i] + hook, sizeof(fn));
        if (fn && fn(cf) != DM_OK) {
            /* never fail silently, even if the module said nothing */
            dm_log_error(DM_LOG_EMERG, cf->log, 0,
                         "the \"%s\" module failed to configure",
                         dm_modules[i]->name);
            return DM_ERROR;
        }
    }
    return DM_OK;
}

dm_int_t
dm_module_preconfiguration(dm_conf_t *cf, dm_uint_t type)
{
    return dm_module_run_hooks(cf, type,
                               offsetof(dm_module_t, preconfiguration));
}

dm_int_t
dm_module_postconfiguration(dm_conf_t *cf, dm_uint_t type)
{
    return dm_module_run_hooks(cf, type,
                               offsetof(dm_module_t, postconfiguration));
}

dm_int_t
dm_module_init_modules(dm_cycle_t *cycle)
{
    dm_uint_t i;

    for (i = 0; dm_modules[i]; i++) {
        if (dm_modules[i]->init_module
            && dm_modules[i]->init_module(cycle) != DM_OK) {
            dm_log_error(DM_LOG_EMERG, cycle->log, 0,
                         "the \"%s\" module failed to start",
                         dm_modules[i]->name);
            return DM_ERROR;
        }
    }
    return DM_OK;
}
