/*
 * doorman: limit_req in http (the PREACCESS phase), as nginx writes it.
 *
 *   limit_req_zone KEY zone=NAME:SIZE rate=Nr/s|Nr/m;   (http)
 *   limit_req zone=NAME [burst=N] [nodelay | delay=N];  (http, server,
 *                                                        location; several)
 *   limit_req_status CODE;                  (400-599, default 503)
 *   limit_req_log_level info|notice|warn|error;   (default error)
 *   limit_req_dry_run on|off;               (default off)
 *   $limit_req_status  PASSED DELAYED REJECTED DELAYED_DRY_RUN
 *                      REJECTED_DRY_RUN, empty when no limit applied
 *
 * Requests are counted per key over all workers (dm_limit_req.c, nginx's
 * leaky bucket). A request over a zone's burst is answered with
 * limit_req_status; one within the burst waits (excess - delay) / rate
 * seconds on a timer of its own, then the phases go on. Every limit_req
 * line of the level applies (a level with limit_req lines replaces the
 * inherited ones, as nginx); a request is counted only when it passes
 * them all, and waits for the longest delay. An empty key is not limited.
 * Delays are logged one level below limit_req_log_level. A zone may be
 * declared after the limit_req lines that use it. Unlike nginx: at most
 * DM_HTTP_LIMIT_REQ_MAX limit_req lines per level, and a client that
 * closes during its delay is noticed when the delay ends.
 */
#include <dm_core.h>
#include <dm_event.h>
#include <dm_shm.h>
#include <dm_limit_req.h>
#include <dm_http_conf.h>
#include <dm_http_request.h>

/* limit_req lines one level may have. */
#define DM_HTTP_LIMIT_REQ_MAX 16

/* $limit_req_status values (0: no limit applied). */
#define DM_HTTP_LIMIT_REQ_PASSED           1
#define DM_HTTP_LIMIT_REQ_DELAYED          2
#define DM_HTTP_LIMIT_REQ_REJECTED         3
#define DM_HTTP_LIMIT_REQ_DELAYED_DRY_RUN  4
#define DM_HTTP_LIMIT_REQ_REJECTED_DRY_RUN 5

typedef struct {
    dm_array_t zones;  /* dm_limit_req_zone_t *, every limit_req_zone */
    dm_array_t levels; /* dm_array_t *: each level's limits, resolved by
                          zone name once the block is read */
} dm_http_limit_req_main_conf_t;

typedef struct {
    dm_array_t *limits;        /* dm_limit_req_t, or NULL / unset */
    dm_uint_t log_level;       /* limit_req_log_level (error) */
    dm_uint_t delay_log_level; /* one level lower (info stays info) */
    dm_int_t status;           /* limit_req_status (503) */
    dm_flag_t dry_run;         /* limit_req_dry_run (off) */
} dm_http_limit_req_loc_conf_t;

/*
 * A delayed request's state. What limit_req did to a request is in
 * r->limit_req_status (DM_HTTP_LIMIT_REQ_*), which an internal redirect
 * keeps (it clears r->ctx): a request is limited once, as in nginx.
 */
typedef struct {
    dm_http_request_t *r;
    dm_event_t delay; /* the timer */
} dm_http_limit_req_ctx_t;

static void *dm_http_limit_req_create_main_conf(dm_conf_t *cf);
static void *dm_http_limit_req_create_loc_conf(dm_conf_t *cf);
static char *dm_http_limit_req_merge_loc_conf(dm_conf_t *cf, void *parent,
                                              void *child);
static char *dm_http_limit_req_zone(dm_conf_t *cf, const dm_command_t *cmd,
                                    void *conf);
static char *dm_http_limit_req(dm_conf_t *cf, const dm_command_t *cmd,
                               void *conf);
static dm_int_t dm_http_limit_req_preconfiguration(dm_conf_t *cf);
static dm_int_t dm_http_limit_req_postconfiguration(dm_conf_t *cf);

static const dm_conf_bounds_t dm_http_limit_req_status_bounds = {400, 599};

static const dm_command_t dm_http_limit_req_commands[] = {
    {dm_string("limit_req_zone"), DM_HTTP_MAIN_CONF, DM_CONF_2MORE,
     dm_http_limit_req_zone, DM_CONF_LEVEL_MAIN, 0, NULL},
    {dm_string("limit_req"),
     DM_HTTP_MAIN_CONF | DM_HTTP_SRV_CONF | DM_HTTP_LOC_CONF, DM_CONF_TAKE123,
     dm_http_limit_req, DM_CONF_LEVEL_LOC, 0, NULL},
    {dm_string("limit_req_status"),
     DM_HTTP_MAIN_CONF | DM_HTTP_SRV_CONF | DM_HTTP_LOC_CONF, DM_CONF_TAKE1,
     dm_conf_set_num_slot, DM_CONF_LEVEL_LOC,
     offsetof(dm_http_limit_req_loc_conf_t, status),
     &dm_http_limit_req_status_bounds},
    {dm_string("limit_req_log_level"),
     DM_HTTP_MAIN_CONF | DM_HTTP_SRV_CONF | DM_HTTP_LOC_CONF, DM_CONF_TAKE1,
     dm_conf_set_enum_slot, DM_CONF_LEVEL_LOC,
     offsetof(dm_http_limit_req_loc_conf_t, log_level),
     dm_conf_limit_log_levels},
    {dm_string("limit_req_dry_run"),
     DM_HTTP_MAIN_CONF | DM_HTTP_SRV_CONF | DM_HTTP_LOC_CONF, DM_CONF_FLAG,
     dm_conf_set_flag_slot, DM_CONF_LEVEL_LOC,
     offsetof(dm_http_limit_req_loc_conf_t, dry_run), NULL},
    dm_null_command,
};

dm_module_t dm_http_limit_req_module = {
    .name = "http_limit_req",
    .type = DM_MODULE_HTTP,
    .commands = dm_http_limit_req_commands,
    .create_main_conf = dm_http_limit_req_create_main_conf,
    .create_loc_conf = dm_http_limit_req_create_loc_conf,
    .merge_loc_conf = dm_http_limit_req_merge_loc_conf,
    .preconfiguration = dm_http_limit_req_preconfiguration,
    .postconfiguration = dm_http_limit_req_postconfiguration,
};

static const dm_str_t dm_http_limit_req_status_names[] = {
    dm_null_string,
    dm_string("PASSED"),
    dm_string("DELAYED"),
    dm_string("REJECTED"),
    dm_string("DELAYED_DRY_RUN"),
    dm_string("REJECTED_DRY_RUN"),
};

/* --- configuration ------------------------------------------------------ */

static int
dm_http_limit_req_same(const dm_str_t *a, const dm_str_t *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

static void *
dm_http_limit_req_create_main_conf(dm_conf_t *cf)
{
    dm_http_limit_req_main_conf_t *conf;

    conf = dm_pcalloc(cf->pool, sizeof(*conf));
    if (conf == NULL
        || dm_array_init(&conf->zones, cf->pool, 2,
                         sizeof(dm_limit_req_zone_t *))
               != DM_OK
        || dm_array_init(&conf->levels, cf->pool, 4, sizeof(dm_array_t *))
               != DM_OK) {
        return NULL;
    }
    return conf;
}

static void *
dm_http_limit_req_create_loc_conf(dm_conf_t *cf)
{
    dm_http_limit_req_loc_conf_t *conf;

    conf = dm_pcalloc(cf->pool, sizeof(*conf));
    if (conf) {
        conf->limits = DM_CONF_UNSET_PTR;
        conf->log_level = DM_CONF_UNSET_UINT;
        conf->status = DM_CONF_UNSET;
        conf->dry_run = DM_CONF_UNSET;
    }
    return conf;
}

static char *
dm_http_limit_req_merge_loc_conf(dm_conf_t *cf, void *parent, void *child)
{
    dm_http_limit_req_loc_conf_t *prev = parent, *conf = child;

    /* a level with limit_req lines replaces the inherited ones */
    dm_conf_merge_ptr_value(conf->limits, prev->limits, NULL);
    dm_conf_merge_uint_value(conf->log_level, prev->log_level, DM_LOG_ERR);
    conf->delay_log_level =
        conf->log_level == DM_LOG_INFO ? DM_LOG_INFO : conf->log_level + 1;
    dm_conf_merge_value(conf->status, prev->status, 503);
    dm_conf_merge_value(conf->dry_run, prev->dry_run, 0);
    return DM_CONF_OK;
}

static char *
dm_http_limit_req_zone(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_http_limit_req_main_conf_t *lmcf = conf;
    dm_http_core_main_conf_t *cmcf =
        dm_http_conf_get_main(cf->ctx, dm_http_core_module);
    dm_limit_req_zone_t **slot, *lz, **z = lmcf->zones.elts;
    dm_uint_t i;

    lz = dm_limit_req_zone_add(cf, &cmcf->variables);
    if (lz == NULL) {
        return DM_CONF_ERROR;
    }
    for (i = 0; i < lmcf->zones.nelts; i++) {
        if (dm_http_limit_req_same(&z[i]->name, &lz->name)) {
            return "is duplicate: the zone is defined already";
        }
    }
    slot = dm_array_push(&lmcf->zones);
    if (slot == NULL) {
        return DM_CONF_ERROR;
    }
    *slot = lz;
    return DM_CONF_OK;
}

static char *
dm_http_limit_req(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_http_limit_req_loc_conf_t *lcf = conf;
    dm_http_limit_req_main_conf_t *lmcf =
        dm_http_conf_get_main(cf->ctx, dm_http_limit_req_module);
    dm_limit_req_t l, *p;
    dm_array_t **level;
    dm_uint_t i;

    if (dm_limit_req_parse(cf, &l) != DM_OK) {
        return DM_CONF_ERROR;
    }
    if (lcf->limits == DM_CONF_UNSET_PTR || lcf->limits == NULL) {
        lcf->limits = dm_array_create(cf->pool, 2, sizeof(dm_limit_req_t));
        level = lcf->limits ? dm_array_push(&lmcf->levels) : NULL;
        if (level == NULL) {
            return DM_CONF_ERROR;
        }
        *level = lcf->limits;
    }
    p = lcf->limits->elts;
    for (i = 0; i < lcf->limits->nelts; i++) {
        if (dm_http_limit_req_same(&p[i].zone_name, &l.zone_name)) {
            return "is duplicate: this zone is used already at this level";
        }
    }
    if (lcf->limits->nelts == DM_HTTP_LIMIT_REQ_MAX) {
        return "is used too many times at this level";
    }
    p = dm_array_push(lcf->limits);
    if (p == NULL) {
        return DM_CONF_ERROR;
    }
    *p = l;
    return DM_CONF_OK;
}

/* --- $limit_req_status -------------------------------------------------- */

static dm_int_t
dm_http_limit_req_status_var(dm_variable_env_t *env, dm_variable_value_t *v,
                             uintptr_t data)
{
    dm_http_request_t *r = env->obj;
    const dm_str_t *name;

    (void) data;
    if (r->limit_req_status == 0
        || r->limit_req_status >= dm_nelems(dm_http_limit_req_status_names)) {
        v->not_found = 1;
        return DM_OK;
    }
    name = &dm_http_limit_req_status_names[r->limit_req_status];
    return dm_variable_set_str(v, name->data, name->len);
}

static dm_int_t
dm_http_limit_req_preconfiguration(dm_conf_t *cf)
{
    dm_http_core_main_conf_t *cmcf =
        dm_http_conf_get_main(cf->ctx, dm_http_core_module);
    dm_str_t name = dm_string("limit_req_status");
    dm_variable_t *v;

    /* not cached: a use before the PREACCESS phase must not stick */
    v = dm_variable_add(cf, &cmcf->variables, &name, DM_VAR_NOCACHEABLE);
    if (v == NULL) {
        return DM_ERROR;
    }
    v->get = dm_http_limit_req_status_var;
    return DM_OK;
}

/* --- the phase handler -------------------------------------------------- */

static void
dm_http_limit_req_cleanup(void *data)
{
    dm_http_limit_req_ctx_t *ctx = data;

    dm_event_timer_del(&ctx->delay);
}

/* The delay is over: the phases go on from this module's handler, which
   lets the request through. */
static void
dm_http_limit_req_delay_handler(dm_event_t *ev)
{
    dm_http_limit_req_ctx_t *ctx = ev->data;

    ev->timedout = 0;
    ev->delayed = 0;
    dm_http_request_run_phases(ctx->r);
}

/* Puts the request off for `delay` ms. Returns DM_AGAIN or DM_ERROR. */
static dm_int_t
dm_http_limit_req_wait(dm_http_request_t *r, dm_msec_t delay)
{
    dm_http_limit_req_ctx_t *ctx;
    dm_pool_cleanup_t *cln;

    ctx = dm_pcalloc(r->pool, sizeof(*ctx));
    /* the cleanup first: the timer must not outlive the request */
    cln = ctx ? dm_pool_cleanup_add(r->pool, 0) : NULL;
    if (cln == NULL) {
        return DM_ERROR;
    }
    ctx->r = r;
    r->ctx[dm_http_limit_req_module.ctx_index] = ctx;
    cln->handler = dm_http_limit_req_cleanup;
    cln->data = ctx;
    ctx->delay.handler = dm_http_limit_req_delay_handler;
    ctx->delay.data = ctx;
    ctx->delay.log = r->connection->log;
    ctx->delay.delayed = 1;
    if (dm_event_timer_add(&ctx->delay, delay) != DM_OK) {
        return DM_ERROR;
    }
    return DM_AGAIN;
}

static dm_int_t
dm_http_limit_req_handler(void *obj)
{
    dm_http_request_t *r = obj;
    dm_http_limit_req_loc_conf_t *lcf =
        dm_http_request_loc_conf(r, dm_http_limit_req_module);
    dm_limit_req_t *l, *lim = NULL;
    uint64_t hashes[DM_HTTP_LIMIT_REQ_MAX], excess = 0, x;
    unsigned pending = 0; /* bit i: limit i passed, not counted yet */
    dm_msec_t delay, d;
    dm_uint_t i, n;
    dm_int_t rc = DM_DECLINED;
    dm_str_t key;

    if (r->limit_req_status || lcf->limits == NULL) {
        /* limited once already: resumed after its delay, or redirected */
        return DM_DECLINED;
    }
    l = lcf->limits->elts;
    n = lcf->limits->nelts;
    for (i = 0; i < n; i++) {
        if (dm_complex_eval(&r->vars, &l[i].zone->key, &key) != DM_OK) {
            return DM_ERROR;
        }
        if (key.len == 0) {
            continue; /* an empty key is not limited, as nginx */
        }
        if (key.len > 65535) {
            dm_log_error(DM_LOG_ERR, r->connection->log, 0,
                         "the value of the \"%.*s\" key is more than 65535 "
                         "bytes",
                         DM_STR_ARG(l[i].zone->key.source));
            continue;
        }
        lim = &l[i];
        hashes[i] = dm_limit_req_hash(&key);
        /* only the last line counts at once; the others once all passed */
        rc = dm_limit_req_lookup(lim->zone, hashes[i], lim->burst, i == n - 1,
                                 dm_current_msec, &excess);
        if (rc != DM_OK) {
            break;
        }
        if (i < n - 1) {
            pending |= 1u << i;
            excess = 0;
        }
    }
    if (lim == NULL) {
        return DM_DECLINED; /* every key was empty */
    }

    if (rc == DM_BUSY) {
        dm_log_error(lcf->log_level, r->connection->log, 0,
                     "limiting requests%s, excess: %llu.%03llu by zone "
                     "\"%.*s\"",
                     lcf->dry_run ? ", dry run" : "",
                     (unsigned long long) (excess / 1000),
                     (unsigned long long) (excess % 1000),
                     DM_STR_ARG(lim->zone->name));
        if (lcf->dry_run) {
            r->limit_req_status = DM_HTTP_LIMIT_REQ_REJECTED_DRY_RUN;
            return DM_DECLINED;
        }
        r->limit_req_status = DM_HTTP_LIMIT_REQ_REJECTED;
        return dm_http_request_respond(r, (dm_uint_t) lcf->status, NULL, NULL);
    }

    /* passed them all: count the others, wait for the longest delay */
    delay = dm_limit_req_delay(excess, lim->delay, lim->zone->rate);
    for (i = 0; i < n; i++) {
        if (!(pending & (1u << i))) {
            continue;
        }
        dm_limit_req_account(l[i].zone, hashes[i], dm_current_msec, &x);
        d = dm_limit_req_delay(x, l[i].delay, l[i].zone->rate);
        if (d > delay) {
            delay = d;
            excess = x;
            lim = &l[i];
        }
    }
    if (delay == 0) {
        r->limit_req_status = DM_HTTP_LIMIT_REQ_PASSED;
        return DM_DECLINED;
    }
    dm_log_error(
        lcf->delay_log_level, r->connection->log, 0,
        "delaying request%s, excess: %llu.%03llu, by zone \"%.*s\"",
        lcf->dry_run ? ", dry run" : "", (unsigned long long) (excess / 1000),
        (unsigned long long) (excess % 1000), DM_STR_ARG(lim->zone->name));
    if (lcf->dry_run) {
        r->limit_req_status = DM_HTTP_LIMIT_REQ_DELAYED_DRY_RUN;
        return DM_DECLINED;
    }
    r->limit_req_status = DM_HTTP_LIMIT_REQ_DELAYED;
    return dm_http_limit_req_wait(r, delay);
}

/* Every limit_req line gets its zone, wherever the zone was declared. */
static dm_int_t
dm_http_limit_req_resolve(dm_conf_t *cf, dm_http_limit_req_main_conf_t *lmcf)
{
    dm_limit_req_zone_t **z = lmcf->zones.elts;
    dm_array_t **levels = lmcf->levels.elts;
    dm_limit_req_t *l;
    dm_uint_t i, j, k;

    for (i = 0; i < lmcf->levels.nelts; i++) {
        l = levels[i]->elts;
        for (j = 0; j < levels[i]->nelts; j++) {
            for (k = 0; k < lmcf->zones.nelts; k++) {
                if (dm_http_limit_req_same(&z[k]->name, &l[j].zone_name)) {
                    l[j].zone = z[k];
                    break;
                }
            }
            if (l[j].zone == NULL) {
                dm_log_error(DM_LOG_EMERG, cf->log, 0,
                             "unknown limit_req_zone \"%.*s\" in %.*s:%u",
                             DM_STR_ARG(l[j].zone_name), DM_STR_ARG(l[j].file),
                             (unsigned) l[j].line);
                return DM_ERROR;
            }
        }
    }
    return DM_OK;
}

static dm_int_t
dm_http_limit_req_postconfiguration(dm_conf_t *cf)
{
    dm_http_core_main_conf_t *cmcf =
        dm_http_conf_get_main(cf->ctx, dm_http_core_module);
    dm_http_limit_req_main_conf_t *lmcf =
        dm_http_conf_get_main(cf->ctx, dm_http_limit_req_module);

    if (dm_http_limit_req_resolve(cf, lmcf) != DM_OK) {
        return DM_ERROR;
    }
    return dm_phase_add(&cmcf->phases, DM_HTTP_PREACCESS_PHASE,
                        dm_http_limit_req_handler);
}
