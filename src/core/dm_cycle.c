/*
 * doorman: loading a configuration into a cycle.
 */
#include <dm_core.h>

dm_cycle_t *dm_cycle;

dm_cycle_t *
dm_cycle_init(dm_cycle_t *old)
{
    dm_cycle_t *cycle;
    dm_pool_t *pool;
    dm_conf_t conf;
    dm_uint_t i;
    char host[256];

    pool = dm_pool_create(DM_POOL_DEFAULT, old->log);
    if (pool == NULL) {
        return NULL;
    }
    cycle = dm_pcalloc(pool, sizeof(dm_cycle_t));
    if (cycle == NULL) {
        dm_pool_destroy(pool);
        return NULL;
    }
    cycle->pool = pool;
    cycle->log = old->log;
    cycle->old_cycle = old;
    cycle->prefix = old->prefix;
    cycle->conf_prefix = old->conf_prefix;
    cycle->conf_file = old->conf_file;
    cycle->conf_param = old->conf_param;
    cycle->test_config = old->test_config;
    cycle->dump_config = old->dump_config;
    cycle->new_log = *old->log;
    cycle->new_log.next = NULL;

    if (gethostname(host, sizeof(host) - 1) == -1) {
        dm_log_error(DM_LOG_EMERG, old->log, errno, "gethostname() failed");
        goto failed;
    }
    host[sizeof(host) - 1] = '\0';
    cycle->hostname.len = strlen(host);
    cycle->hostname.data = dm_pnalloc(pool, cycle->hostname.len + 1);
    if (cycle->hostname.data == NULL) {
        goto failed;
    }
    dm_strlow(cycle->hostname.data, (u_char *) host, cycle->hostname.len + 1);

    if (dm_array_init(&cycle->config_dump, pool, 1, sizeof(dm_cycle_dump_t))
        != DM_OK) {
        goto failed;
    }

    memset(&conf, 0, sizeof(conf));
    conf.cycle = cycle;
    conf.pool = pool;
    conf.log = old->log;
    conf.module_type = DM_MODULE_CORE;
    conf.cmd_type = DM_MAIN_CONF;
    conf.args = dm_array_create(pool, 10, sizeof(dm_str_t));
    conf.temp_pool = dm_pool_create(DM_POOL_DEFAULT, old->log);
    if (conf.args == NULL || conf.temp_pool == NULL) {
        goto failed;
    }

    cycle->conf_ctx = dm_pcalloc(pool, sizeof(dm_conf_ctx_t));
    if (cycle->conf_ctx == NULL) {
        goto failed_temp;
    }
    conf.ctx = cycle->conf_ctx;
    cycle->conf_ctx->main_conf =
        dm_module_create_main_confs(&conf, DM_MODULE_CORE);
    if (cycle->conf_ctx->main_conf == NULL) {
        goto failed_temp;
    }

    /* -g first, as nginx: the file may not repeat what -g set */
    if (cycle->conf_param.len
        && dm_conf_parse_buffer(&conf, "command line", cycle->conf_param.data,
                                cycle->conf_param.len)
               != DM_CONF_OK) {
        goto failed_temp;
    }
    if (dm_conf_parse(&conf, &cycle->conf_file) != DM_CONF_OK) {
        goto failed_temp;
    }

    for (i = 0; dm_modules[i]; i++) {
        dm_module_t *m = dm_modules[i];

        if (m->type != DM_MODULE_CORE || m->init_main_conf == NULL) {
            continue;
        }
        if (m->init_main_conf(&conf, cycle->conf_ctx->main_conf[m->ctx_index])
            != DM_CONF_OK) {
            goto failed_temp;
        }
    }

    dm_pool_destroy(conf.temp_pool);
    /* from now on this cycle's messages go where error_log says */
    cycle->log = &cycle->new_log;
    return cycle;

failed_temp:
    dm_pool_destroy(conf.temp_pool);
failed:
    dm_cycle_free(cycle);
    return NULL;
}

void
dm_cycle_free(dm_cycle_t *cycle)
{
    dm_log_file_t *f;

    for (f = cycle->log_files; f; f = f->next) {
        if (f->fd > 2) {
            close(f->fd);
        }
    }
    dm_pool_destroy(cycle->pool);
}
