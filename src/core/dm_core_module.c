/*
 * doorman: the core module: top-level directives of the process model.
 *
 * Values are parsed and checked here, at load time, in the master: user
 * names are resolved now (a lookup may block, which only workers must not
 * do), so that a typo fails `doorman -t` instead of a worker at start.
 */
#include <dm_core.h>
#include <dm_core_module.h>

static void *dm_core_create_conf(dm_conf_t *cf);
static char *dm_core_init_conf(dm_conf_t *cf, void *conf);
static char *dm_core_set_worker_processes(dm_conf_t *cf,
                                          const dm_command_t *cmd, void *conf);
static char *dm_core_set_user(dm_conf_t *cf, const dm_command_t *cmd,
                              void *conf);
static char *dm_core_set_affinity(dm_conf_t *cf, const dm_command_t *cmd,
                                  void *conf);

static const dm_conf_bounds_t dm_core_nofile_bounds = {1, 1 << 26};
static const dm_conf_bounds_t dm_core_shutdown_bounds = {0, 24LL * 3600 * 1000};

static const dm_command_t dm_core_commands[] = {
    {dm_string("daemon"), DM_MAIN_CONF, DM_CONF_FLAG, dm_conf_set_flag_slot,
     DM_CONF_LEVEL_MAIN, offsetof(dm_core_conf_t, daemon), NULL},
    {dm_string("master_process"), DM_MAIN_CONF, DM_CONF_FLAG,
     dm_conf_set_flag_slot, DM_CONF_LEVEL_MAIN,
     offsetof(dm_core_conf_t, master), NULL},
    {dm_string("worker_processes"), DM_MAIN_CONF, DM_CONF_TAKE1,
     dm_core_set_worker_processes, DM_CONF_LEVEL_MAIN, 0, NULL},
    {dm_string("worker_shutdown_timeout"), DM_MAIN_CONF, DM_CONF_TAKE1,
     dm_conf_set_msec_slot, DM_CONF_LEVEL_MAIN,
     offsetof(dm_core_conf_t, shutdown_timeout), &dm_core_shutdown_bounds},
    {dm_string("worker_rlimit_nofile"), DM_MAIN_CONF, DM_CONF_TAKE1,
     dm_conf_set_num_slot, DM_CONF_LEVEL_MAIN,
     offsetof(dm_core_conf_t, rlimit_nofile), &dm_core_nofile_bounds},
    {dm_string("pid"), DM_MAIN_CONF, DM_CONF_TAKE1, dm_conf_set_str_slot,
     DM_CONF_LEVEL_MAIN, offsetof(dm_core_conf_t, pid), NULL},
    {dm_string("user"), DM_MAIN_CONF, DM_CONF_TAKE12, dm_core_set_user,
     DM_CONF_LEVEL_MAIN, 0, NULL},
    {dm_string("working_directory"), DM_MAIN_CONF, DM_CONF_TAKE1,
     dm_conf_set_str_slot, DM_CONF_LEVEL_MAIN,
     offsetof(dm_core_conf_t, working_directory), NULL},
    {dm_string("worker_cpu_affinity"), DM_MAIN_CONF, DM_CONF_1MORE,
     dm_core_set_affinity, DM_CONF_LEVEL_MAIN, 0, NULL},
    dm_null_command,
};

dm_module_t dm_core_module = {
    .name = "core",
    .type = DM_MODULE_CORE,
    .commands = dm_core_commands,
    .create_main_conf = dm_core_create_conf,
    .init_main_conf = dm_core_init_conf,
};

static void *
dm_core_create_conf(dm_conf_t *cf)
{
    dm_core_conf_t *ccf;

    ccf = dm_pcalloc(cf->pool, sizeof(dm_core_conf_t));
    if (ccf == NULL) {
        return NULL;
    }
    ccf->daemon = DM_CONF_UNSET;
    ccf->master = DM_CONF_UNSET;
    ccf->worker_processes = DM_CONF_UNSET;
    ccf->shutdown_timeout = DM_CONF_UNSET_MSEC;
    ccf->rlimit_nofile = DM_CONF_UNSET;
    ccf->user = (uid_t) -1;
    ccf->group = (gid_t) -1;
    ccf->affinity = DM_CONF_UNSET_UINT;
    return ccf;
}

static char *
dm_core_init_conf(dm_conf_t *cf, void *conf)
{
    dm_core_conf_t *ccf = conf;

    dm_conf_init_value(ccf->daemon, 1);
    dm_conf_init_value(ccf->master, 1);
    dm_conf_init_value(ccf->worker_processes, DM_CORE_WORKERS_AUTO);
    dm_conf_init_msec_value(ccf->shutdown_timeout, 0);
    dm_conf_init_uint_value(ccf->affinity, DM_CORE_AFFINITY_AUTO);

    if (ccf->pid.data == NULL) {
        dm_str_set(&ccf->pid, DM_PID_PATH);
    }
    if (dm_conf_full_name(cf->cycle, &ccf->pid, 0) != DM_OK) {
        return DM_CONF_ERROR;
    }
    if (ccf->working_directory.len
        && dm_conf_full_name(cf->cycle, &ccf->working_directory, 0) != DM_OK) {
        return DM_CONF_ERROR;
    }

    /*
     * Workers run as `nobody` by default when the master is root, as
     * nginx does; a user directive given to a non-root master is ignored
     * with a warning when the workers start.
     */
    if (ccf->user == (uid_t) -1 && geteuid() == 0) {
        struct passwd *pw = getpwnam("nobody");

        if (pw == NULL) {
            dm_log_error(DM_LOG_EMERG, cf->log, errno,
                         "getpwnam(\"nobody\") failed: set \"user\"");
            return DM_CONF_ERROR;
        }
        dm_str_set(&ccf->user_name, "nobody");
        ccf->user = pw->pw_uid;
        ccf->group = pw->pw_gid;
    }
    return DM_CONF_OK;
}

static char *
dm_core_set_worker_processes(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_core_conf_t *ccf = conf;
    dm_str_t *value = cf->args->elts;
    int64_t n;

    if (ccf->worker_processes != DM_CONF_UNSET) {
        return "is duplicate";
    }
    if (dm_str_eq(&value[1], "auto")) {
        ccf->worker_processes = DM_CORE_WORKERS_AUTO;
        return DM_CONF_OK;
    }
    n = dm_parse_int(value[1].data, value[1].len);
    if (n < 1 || n > DM_CORE_MAX_WORKERS) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "invalid value \"%s\" in \"%s\" directive, it must "
                          "be \"auto\" or a number from 1 to %d",
                          value[1].data, value[0].data, DM_CORE_MAX_WORKERS);
        return DM_CONF_ERROR;
    }
    ccf->worker_processes = (dm_int_t) n;
    return DM_CONF_OK;
}

static char *
dm_core_set_user(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_core_conf_t *ccf = conf;
    dm_str_t *value = cf->args->elts;
    struct passwd *pw;
    struct group *gr;

    if (ccf->user_name.data) {
        return "is duplicate";
    }
    ccf->user_name = value[1];
    errno = 0;
    pw = getpwnam((const char *) value[1].data);
    if (pw == NULL) {
        dm_conf_log_error(DM_LOG_EMERG, cf, errno,
                          "getpwnam(\"%s\") failed: no such user",
                          value[1].data);
        return DM_CONF_ERROR;
    }
    ccf->user = pw->pw_uid;
    ccf->group = pw->pw_gid;

    if (cf->args->nelts == 3) {
        ccf->group_name = value[2];
        errno = 0;
        gr = getgrnam((const char *) value[2].data);
        if (gr == NULL) {
            dm_conf_log_error(DM_LOG_EMERG, cf, errno,
                              "getgrnam(\"%s\") failed: no such group",
                              value[2].data);
            return DM_CONF_ERROR;
        }
        ccf->group = gr->gr_gid;
    }
    return DM_CONF_OK;
}

/*
 * worker_cpu_affinity auto | off | MASK...: a mask is a string of 0 and 1
 * with CPU 0 rightmost, as nginx writes them ("0001 0010").
 */
static char *
dm_core_set_affinity(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_core_conf_t *ccf = conf;
    dm_str_t *value = cf->args->elts;
    dm_uint_t i;
    size_t k;

    if (ccf->affinity != DM_CONF_UNSET_UINT) {
        return "is duplicate";
    }
    if (cf->args->nelts == 2 && dm_str_eq(&value[1], "auto")) {
        ccf->affinity = DM_CORE_AFFINITY_AUTO;
        return DM_CONF_OK;
    }
    if (cf->args->nelts == 2 && dm_str_eq(&value[1], "off")) {
        ccf->affinity = DM_CORE_AFFINITY_OFF;
        return DM_CONF_OK;
    }

    ccf->affinity = DM_CORE_AFFINITY_MASKS;
    ccf->affinity_masks =
        dm_array_create(cf->pool, cf->args->nelts - 1, sizeof(uint64_t));
    if (ccf->affinity_masks == NULL) {
        return DM_CONF_ERROR;
    }
    for (i = 1; i < cf->args->nelts; i++) {
        uint64_t mask = 0, *mp;

        if (value[i].len == 0 || value[i].len > 64) {
            goto invalid;
        }
        for (k = 0; k < value[i].len; k++) {
            if (value[i].data[k] != '0' && value[i].data[k] != '1') {
                goto invalid;
            }
            mask = (mask << 1) | (uint64_t) (value[i].data[k] - '0');
        }
        if (mask == 0) {
            goto invalid;
        }
        mp = dm_array_push(ccf->affinity_masks);
        if (mp == NULL) {
            return DM_CONF_ERROR;
        }
        *mp = mask;
        continue;

    invalid:
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "invalid value \"%s\" in \"%s\" directive, it must "
                          "be \"auto\", \"off\" or CPU masks of 0 and 1",
                          value[i].data, value[0].data);
        return DM_CONF_ERROR;
    }
    return DM_CONF_OK;
}
