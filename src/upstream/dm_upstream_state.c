/*
 * doorman: the upstream layer's shared state.
 *
 * One zone, "doorman_upstream", for both engines. Its root holds a hash
 * table of records: a health record per (engine, group, peer identity)
 * and a group record per (engine, group, set of peers). A configuration
 * takes references on the records of its groups when the master binds it,
 * and gives them back when the master frees it, so a record lives as long
 * as some generation uses it: a peer that stays in the configuration
 * keeps its health across any number of reloads and binary upgrades (both
 * masters share the zone), one that goes is forgotten.
 *
 * Only masters change references (under the zone lock); workers read and
 * update the fields of records that cannot go away under them.
 */
#include <dm_core.h>
#include <dm_upstream.h>
#include <dm_process.h>

/* 2: the health check fields of the peer record */
#define DM_UPSTREAM_STATE_VERSION 3
/* Virtual size: memfd pages are only backed once touched. */
#define DM_UPSTREAM_STATE_SIZE (64 * 1024 * 1024)
#define DM_UPSTREAM_BUCKETS    4096

typedef struct {
    uint64_t peers[DM_UPSTREAM_BUCKETS];  /* offsets of peer records */
    uint64_t groups[DM_UPSTREAM_BUCKETS]; /* offsets of group records */
} dm_upstream_root_t;

static dm_shm_zone_t *dm_upstream_zone;

static dm_int_t
dm_upstream_state_init_zone(dm_shm_zone_t *zone, int fresh)
{
    dm_upstream_root_t *root = fresh ? NULL : dm_shm_root(zone);

    if (root == NULL) {
        root = dm_shm_calloc(zone, sizeof(dm_upstream_root_t));
        if (root == NULL) {
            return DM_ERROR;
        }
        dm_shm_root_set(zone, root);
    }
    zone->data = root;
    dm_upstream_zone = zone;
    return DM_OK;
}

dm_int_t
dm_upstream_state_declare(dm_conf_t *cf)
{
    dm_str_t name = dm_string("doorman_upstream");
    dm_shm_zone_t *zone;

    zone =
        dm_shm_zone_add(cf, &name, DM_UPSTREAM_STATE_SIZE,
                        DM_UPSTREAM_STATE_VERSION, &dm_stream_upstream_module);
    if (zone == NULL) {
        return DM_ERROR;
    }
    zone->init = dm_upstream_state_init_zone;
    return DM_OK;
}

/* FNV-1a over the parts of a key, with a separator between them. */
static uint64_t
dm_upstream_key(uint64_t h, const void *data, size_t len)
{
    const u_char *p = data;

    while (len--) {
        h ^= *p++;
        h *= 0x100000001b3ULL;
    }
    h ^= 0xff;
    return h * 0x100000001b3ULL;
}

static uint64_t
dm_upstream_group_key(dm_upstream_group_t *g)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    h = dm_upstream_key(h, &g->engine, sizeof(g->engine));
    return dm_upstream_key(h, g->name.data, g->name.len);
}

typedef struct {
    dm_upstream_group_t *group;
    dm_shm_zone_t *zone;
} dm_upstream_release_t;

/* The cycle is freed: its references go (in the master that took them). */
static void
dm_upstream_state_release(void *data)
{
    dm_upstream_release_t *r = data;
    dm_upstream_group_t *g = r->group;
    dm_uint_t i;

    /* at exit the zones are unmapped before the last cycle is freed */
    if (dm_upstream_zone != r->zone || r->zone->hdr == NULL
        || dm_process_is_child()) {
        return;
    }
    dm_shm_zone_lock(r->zone);
    for (i = 0; i < g->npeers; i++) {
        if (g->peers[i].state && g->peers[i].state->refs) {
            g->peers[i].state->refs--;
        }
    }
    if (g->state && g->state->refs) {
        g->state->refs--;
    }
    dm_shm_zone_unlock(r->zone);
}

/*
 * Finds or makes a peer record (zone lock held). Records whose refs fell
 * to zero are reused for the same key, or left for the next reload to
 * find; the zone never fills with dead records because a key returns to
 * its own record.
 */
static dm_upstream_peer_state_t *
dm_upstream_peer_record(dm_shm_zone_t *zone, dm_upstream_root_t *root,
                        uint64_t key)
{
    uint64_t *bucket = &root->peers[key % DM_UPSTREAM_BUCKETS];
    dm_upstream_peer_state_t *ps;
    uint64_t off;

    for (off = *bucket; off; off = ps->next) {
        ps = dm_shm_ptr(zone, off);
        if (ps->key == key) {
            return ps;
        }
    }
    ps = dm_shm_alloc_locked(zone, sizeof(dm_upstream_peer_state_t));
    if (ps == NULL) {
        return NULL;
    }
    memset(ps, 0, sizeof(*ps));
    ps->key = key;
    ps->next = *bucket;
    *bucket = dm_shm_offset(zone, ps);
    return ps;
}

static dm_upstream_group_state_t *
dm_upstream_group_record(dm_shm_zone_t *zone, dm_upstream_root_t *root,
                         uint64_t key, dm_uint_t npeers)
{
    uint64_t *bucket = &root->groups[key % DM_UPSTREAM_BUCKETS];
    dm_upstream_group_state_t *gs;
    int64_t *w;
    uint64_t off;

    for (off = *bucket; off; off = gs->next) {
        gs = dm_shm_ptr(zone, off);
        if (gs->key == key && gs->npeers == npeers) {
            return gs;
        }
    }
    gs = dm_shm_alloc_locked(zone, sizeof(dm_upstream_group_state_t));
    w = dm_shm_alloc_locked(zone, npeers * sizeof(int64_t));
    if (gs == NULL || w == NULL) {
        return NULL;
    }
    memset(gs, 0, sizeof(*gs));
    memset(w, 0, npeers * sizeof(int64_t));
    gs->key = key;
    gs->npeers = (uint32_t) npeers;
    gs->weights = dm_shm_offset(zone, w);
    gs->next = *bucket;
    *bucket = dm_shm_offset(zone, gs);
    /* the counters area is allocated outside the zone lock (below) */
    return gs;
}

dm_int_t
dm_upstream_state_bind(dm_cycle_t *cycle, dm_upstream_group_t *g)
{
    dm_shm_zone_t *zone = dm_upstream_zone;
    dm_upstream_root_t *root;
    dm_upstream_release_t *r;
    dm_pool_cleanup_t *cln;
    dm_shm_counters_t *cnt;
    uint64_t gkey, key, setkey;
    dm_uint_t i;

    if (zone == NULL || (root = zone->data) == NULL) {
        return dm_upstream_state_local(cycle->pool, g);
    }
    gkey = dm_upstream_group_key(g);
    setkey = gkey;
    for (i = 0; i < g->npeers; i++) {
        setkey =
            dm_upstream_key(setkey, g->peers[i].id.data, g->peers[i].id.len);
        setkey = dm_upstream_key(setkey, &g->peers[i].weight,
                                 sizeof(g->peers[i].weight));
    }

    dm_shm_zone_lock(zone);
    for (i = 0; i < g->npeers; i++) {
        key = dm_upstream_key(gkey, g->peers[i].id.data, g->peers[i].id.len);
        g->peers[i].state = dm_upstream_peer_record(zone, root, key);
        if (g->peers[i].state == NULL) {
            dm_shm_zone_unlock(zone);
            goto full;
        }
        g->peers[i].state->refs++;
    }
    g->state = dm_upstream_group_record(zone, root, setkey, g->npeers);
    if (g->state == NULL) {
        dm_shm_zone_unlock(zone);
        goto full;
    }
    g->state->refs++;
    dm_shm_zone_unlock(zone);

    if (g->state->counters == 0) {
        /* per-process rows: least_conn sums them, the master zeroes a
           dead worker's row */
        cnt = dm_shm_counters_alloc(
            zone, (uint32_t) (g->npeers * DM_UPSTREAM_COUNTERS));
        if (cnt == NULL) {
            goto full;
        }
        g->state->counters = dm_shm_offset(zone, cnt);
        /* a dead holder is also detected by the lock itself */
        (void) dm_shm_lock_register(zone, &g->state->lock);
    }
    g->counters = dm_shm_ptr(zone, g->state->counters);
    g->weights = dm_shm_ptr(zone, g->state->weights);

    r = NULL;
    cln = dm_pool_cleanup_add(cycle->pool, sizeof(dm_upstream_release_t));
    if (cln == NULL) {
        return DM_ERROR;
    }
    r = cln->data;
    r->group = g;
    r->zone = zone;
    cln->handler = dm_upstream_state_release;
    return DM_OK;

full:
    dm_log_error(DM_LOG_EMERG, cycle->log, 0,
                 "the \"doorman_upstream\" zone is full (upstream \"%.*s\")",
                 DM_STR_ARG(g->name));
    return DM_ERROR;
}

/*
 * Without the zone (unit tests, `-t`): the same records in process
 * memory, so the balancers run unchanged.
 */
dm_int_t
dm_upstream_state_local(dm_pool_t *pool, dm_upstream_group_t *g)
{
    dm_uint_t i, n = g->npeers * DM_UPSTREAM_COUNTERS;
    dm_shm_counters_t *cnt;
    size_t stride;

    for (i = 0; i < g->npeers; i++) {
        g->peers[i].state = dm_pcalloc(pool, sizeof(dm_upstream_peer_state_t));
        if (g->peers[i].state == NULL) {
            return DM_ERROR;
        }
    }
    g->state = dm_pcalloc(pool, sizeof(dm_upstream_group_state_t));
    g->weights = dm_pcalloc(pool, g->npeers * sizeof(int64_t));
    stride = n;
    cnt = dm_pcalloc(pool, sizeof(dm_shm_counters_t)
                               + stride * DM_SHM_ROWS * sizeof(uint64_t));
    if (g->state == NULL || g->weights == NULL || cnt == NULL) {
        return DM_ERROR;
    }
    cnt->n = (uint32_t) n;
    cnt->rows = DM_SHM_ROWS;
    cnt->stride = (uint32_t) stride;
    cnt->used = DM_SHM_ROWS;
    g->counters = cnt;
    g->state->npeers = (uint32_t) g->npeers;
    return DM_OK;
}
