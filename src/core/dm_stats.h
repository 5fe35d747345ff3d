/*
 * doorman: connection counters in the core shared zone ("doorman_core"),
 * one row per process, summed on read; and the helper's heartbeat.
 */
#ifndef DM_STATS_H
#define DM_STATS_H

#define DM_STAT_ACTIVE   0 /* client connections open now */
#define DM_STAT_ACCEPTED 1 /* accepted since the zone was made */
#define DM_STAT_HANDLED  2 /* closed since the zone was made */
#define DM_STATS         3

/*
 * Declares the zone in the configuration being loaded (from the events
 * module's init hook). Returns DM_OK or DM_ERROR.
 */
dm_int_t dm_stats_declare(dm_conf_t *cf);

/* Counts one event for this process (no-op before the zone exists). */
void dm_stats_add(dm_uint_t stat, int64_t delta);

/* The sum over every process. */
uint64_t dm_stats_get(dm_uint_t stat);

/* The helper writes the time of its last turn; others read it. */
void dm_stats_heartbeat(void);
dm_msec_t dm_stats_last_heartbeat(void);

/* How often the helper beats (src/os/dm_worker.c), in ms. */
#define DM_STATS_HEARTBEAT 1000

/*
 * Whether the helper's results may be trusted now: its last heartbeat is
 * at most three beats old (DESIGN.md section 1). False with no helper
 * (master_process off) or before its first beat.
 */
int dm_stats_helper_alive(void);

#endif /* DM_STATS_H */
