/*
 * doorman: the events { } block and its core directives.
 *
 * `events` is a core directive whose block holds the event modules'
 * directives; its context is created even when the file has no events
 * block, so every event module always has a structure with defaults.
 */
#include <dm_core.h>
#include <dm_event_conf.h>
#include <dm_core_module.h>
#include <sys/resource.h>
#include <dm_stats.h>

static void *dm_events_create_conf(dm_conf_t *cf);
static char *dm_events_init_conf(dm_conf_t *cf, void *conf);
static char *dm_events_block(dm_conf_t *cf, const dm_command_t *cmd,
                             void *conf);
static void *dm_event_core_create_conf(dm_conf_t *cf);
static char *dm_event_core_init_conf(dm_conf_t *cf, void *conf);

static const dm_command_t dm_events_commands[] = {
    {dm_string("events"), DM_MAIN_CONF, DM_CONF_BLOCK | DM_CONF_NOARGS,
     dm_events_block, DM_CONF_LEVEL_MAIN, 0, NULL},
    dm_null_command,
};

dm_module_t dm_events_module = {
    .name = "events",
    .type = DM_MODULE_CORE,
    .commands = dm_events_commands,
    .create_main_conf = dm_events_create_conf,
    .init_main_conf = dm_events_init_conf,
};

static const dm_conf_bounds_t dm_event_connections_bounds = {
    1, DM_EVENT_MAX_CONNECTIONS};

static const dm_command_t dm_event_core_commands[] = {
    {dm_string("worker_connections"), DM_EVENT_CONF, DM_CONF_TAKE1,
     dm_conf_set_num_slot, DM_CONF_LEVEL_MAIN,
     offsetof(dm_event_core_conf_t, connections), &dm_event_connections_bounds},
    dm_null_command,
};

dm_module_t dm_event_core_module = {
    .name = "event_core",
    .type = DM_MODULE_EVENT,
    .commands = dm_event_core_commands,
    .create_main_conf = dm_event_core_create_conf,
    .init_main_conf = dm_event_core_init_conf,
};

/* The events module's structure: the events block's context. */
typedef struct {
    dm_conf_ctx_t ctx; /* main_conf: one structure per event module */
    dm_uint_t seen;    /* the block appeared (a second one is duplicate) */
} dm_events_conf_t;

static void *
dm_events_create_conf(dm_conf_t *cf)
{
    dm_events_conf_t *ecf;

    ecf = dm_pcalloc(cf->pool, sizeof(dm_events_conf_t));
    if (ecf == NULL) {
        return NULL;
    }
    ecf->ctx.main_conf = dm_module_create_main_confs(cf, DM_MODULE_EVENT);
    return ecf->ctx.main_conf ? ecf : NULL;
}

static char *
dm_events_block(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_events_conf_t *ecf = conf;

    if (ecf->seen++) {
        return "is duplicate";
    }
    return dm_conf_parse_block(cf, &ecf->ctx, DM_MODULE_EVENT, DM_EVENT_CONF);
}

static char *
dm_events_init_conf(dm_conf_t *cf, void *conf)
{
    dm_events_conf_t *ecf = conf;

    if (dm_stats_declare(cf) != DM_OK) {
        return DM_CONF_ERROR;
    }
    return dm_module_init_main_confs(cf, DM_MODULE_EVENT, ecf->ctx.main_conf);
}

void *
dm_event_get_conf(dm_cycle_t *cycle, dm_module_t *module)
{
    dm_events_conf_t *ecf = dm_cycle_get_core_conf(cycle, dm_events_module);

    return ecf->ctx.main_conf[module->ctx_index];
}

static void *
dm_event_core_create_conf(dm_conf_t *cf)
{
    dm_event_core_conf_t *ecf;

    ecf = dm_pcalloc(cf->pool, sizeof(dm_event_core_conf_t));
    if (ecf == NULL) {
        return NULL;
    }
    ecf->connections = DM_CONF_UNSET;
    return ecf;
}

/*
 * A proxied connection takes two descriptors (client and upstream); warn
 * when worker_connections cannot fit under the descriptor limit workers
 * will have (worker_rlimit_nofile, or the limit we run with now).
 */
static void
dm_event_core_check_nofile(dm_conf_t *cf, dm_event_core_conf_t *ecf)
{
    dm_core_conf_t *ccf = dm_core_conf(cf->cycle);
    struct rlimit rl;
    uint64_t limit;

    if (ccf->rlimit_nofile != DM_CONF_UNSET) {
        limit = (uint64_t) ccf->rlimit_nofile;
    } else if (getrlimit(RLIMIT_NOFILE, &rl) == 0
               && rl.rlim_cur != RLIM_INFINITY) {
        limit = (uint64_t) rl.rlim_cur;
    } else {
        return;
    }
    if ((uint64_t) ecf->connections * 2 > limit) {
        dm_log_error(DM_LOG_WARN, cf->log, 0,
                     "%ld worker_connections need up to %ld descriptors "
                     "when proxying, more than the limit of %llu: raise "
                     "worker_rlimit_nofile",
                     (long) ecf->connections, (long) ecf->connections * 2,
                     (unsigned long long) limit);
    }
}

static char *
dm_event_core_init_conf(dm_conf_t *cf, void *conf)
{
    dm_event_core_conf_t *ecf = conf;

    dm_conf_init_value(ecf->connections, 512);
    dm_event_core_check_nofile(cf, ecf);
    return DM_CONF_OK;
}
