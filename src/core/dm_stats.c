/*
 * doorman: connection counters in the core shared zone.
 *
 * The zone is declared by every configuration with the same name, size
 * and version, so a reload and a binary upgrade keep it: counters keep
 * counting across both, and the master zeroes the row of a process that
 * died (a worker killed with connections open leaves no inflated count).
 */
#include <dm_core.h>
#include <dm_event.h>
#include <dm_stats.h>
#include <dm_shm.h>

#define DM_STATS_VERSION 1
#define DM_STATS_SIZE    (256 * 1024)

/* The zone's root object (offsets only: the zone may move on upgrade). */
typedef struct {
    uint64_t counters;           /* offset of the dm_shm_counters_t */
    volatile uint64_t heartbeat; /* CLOCK_MONOTONIC ms of the helper */
} dm_stats_root_t;

static dm_shm_counters_t *dm_stats_counters;
static dm_stats_root_t *dm_stats_root;

static dm_int_t
dm_stats_init_zone(dm_shm_zone_t *zone, int fresh)
{
    dm_stats_root_t *root = fresh ? NULL : dm_shm_root(zone);

    if (root == NULL) {
        root = dm_shm_calloc(zone, sizeof(dm_stats_root_t));
        if (root == NULL) {
            return DM_ERROR;
        }
        root->counters =
            dm_shm_offset(zone, dm_shm_counters_alloc(zone, DM_STATS));
        if (root->counters == 0) {
            return DM_ERROR;
        }
        dm_shm_root_set(zone, root);
    }
    /* the mapping is inherited by every child forked from now on */
    dm_stats_root = root;
    dm_stats_counters = dm_shm_ptr(zone, root->counters);
    zone->data = root;
    return DM_OK;
}

dm_int_t
dm_stats_declare(dm_conf_t *cf)
{
    dm_str_t name = dm_string("doorman_core");
    dm_shm_zone_t *zone;

    zone = dm_shm_zone_add(cf, &name, DM_STATS_SIZE, DM_STATS_VERSION,
                           &dm_events_module);
    if (zone == NULL) {
        return DM_ERROR;
    }
    zone->init = dm_stats_init_zone;
    return DM_OK;
}

void
dm_stats_add(dm_uint_t stat, int64_t delta)
{
    if (dm_stats_counters) {
        dm_shm_counter_add(dm_stats_counters, dm_shm_row, (uint32_t) stat,
                           delta);
    }
}

uint64_t
dm_stats_get(dm_uint_t stat)
{
    return dm_stats_counters
               ? dm_shm_counter_sum(dm_stats_counters, (uint32_t) stat)
               : 0;
}

void
dm_stats_heartbeat(void)
{
    if (dm_stats_root) {
        dm_stats_root->heartbeat = dm_current_msec;
    }
}

dm_msec_t
dm_stats_last_heartbeat(void)
{
    return dm_stats_root ? dm_stats_root->heartbeat : 0;
}

int
dm_stats_helper_alive(void)
{
    dm_msec_t hb = dm_stats_last_heartbeat();

    /* without the zone (unit tests) the peer records are process-local
       and nobody goes stale: trust them */
    if (dm_stats_root == NULL) {
        return 1;
    }
    /* the helper's cached clock may be a little ahead of ours */
    return hb != 0
           && (hb >= dm_current_msec
               || dm_current_msec - hb <= 3 * DM_STATS_HEARTBEAT);
}
