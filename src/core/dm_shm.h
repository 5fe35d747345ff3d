/*
 * doorman: shared memory zones.
 *
 * The life of a zone:
 *
 *   configuration   a directive or a postconfiguration hook declares it
 *                   with dm_shm_zone_add() and sets zone->init;
 *   master          dm_shm_zones_init() maps every zone of the new cycle,
 *                   taking over the same-named zone of the running cycle
 *                   (reload) or of the previous binary (dm_shm_import,
 *                   binary upgrade) when size and version match, and
 *                   calls init(zone, fresh);
 *   children        inherit the mappings through fork();
 *   master          dm_shm_zones_release() unmaps what the retired cycle
 *                   held and the current one does not; after reaping a
 *                   child, dm_shm_force_unlock() and dm_shm_zero_row()
 *                   repair what it left behind.
 *
 * Inside a zone, memory comes from dm_shm_alloc() and references are
 * offsets (dm_shm_offset / dm_shm_ptr), never pointers: a binary upgrade
 * may map the zone at another address.
 */
#ifndef DM_SHM_H
#define DM_SHM_H

#include <dm_shm_t.h>

/* The counters row of this process (the master sets it before fork). */
extern dm_uint_t dm_shm_row;

/* --- zones (dm_shm.c) --------------------------------------------------- */

/*
 * Declares a zone of the cycle being configured. The name is 1 to 63
 * bytes of printable ASCII without space, ':', ';' or '"'. The size is
 * rounded up to whole pages and must be at least DM_SHM_MIN_SIZE, or 0
 * for a reference to a zone that another directive declares with a size
 * (as nginx's zone=NAME without :SIZE). Declaring a name again returns
 * the same zone when the tag is the same and the sizes and versions agree
 * (or one size is 0); another tag, size or version is an error naming
 * both. Returns the zone, whose init and data the caller sets, or NULL
 * after dm_conf_log_error.
 */
dm_shm_zone_t *dm_shm_zone_add(dm_conf_t *cf, const dm_str_t *name, size_t size,
                               uint32_t version, void *tag);

/*
 * Master, after a configuration loaded: maps every zone of `cycle`. A
 * zone of `old` (may be NULL) or an imported zone with the same name,
 * size and version is taken over as it is (same descriptor; for `old`
 * the same address), data kept, and init(zone, 0) is called; any other
 * zone is created fresh (memfd_create "doorman:NAME", header, allocator)
 * and init(zone, 1) is called. A size or version change starts the zone
 * fresh with one notice line naming both values. On success the imported
 * zones no zone claimed are closed. Returns DM_OK, or DM_ERROR after
 * logging, with every mapping made by this call undone (`old` and the
 * imports untouched).
 */
dm_int_t dm_shm_zones_init(dm_cycle_t *cycle, dm_cycle_t *old);

/*
 * Master: unmaps and closes every zone of `old` whose mapping `cycle`
 * does not share (cycle == NULL: every zone of `old`). Works both ways:
 * (retired cycle, current) after the old generation is gone, and (failed
 * new cycle, running one) when a reload is abandoned.
 */
void dm_shm_zones_release(dm_cycle_t *old, dm_cycle_t *cycle);

/*
 * Binary upgrade, before execve(): writes "NAME:FD:VERSION:SIZE;" for
 * every mapped zone of the cycle into buf, NUL-terminated, and clears
 * FD_CLOEXEC on each descriptor (called in the parent, set FD_CLOEXEC
 * again once the child has exec'ed; called in the child, nothing to undo).
 * Returns the length written (without the NUL), or -1 (logged) when buf
 * is too small, and then no descriptor was changed, or an fcntl() failed.
 */
ssize_t dm_shm_export(dm_cycle_t *cycle, char *buf, size_t len);

/*
 * New binary, before its first dm_shm_zones_init: parses a list written by
 * dm_shm_export (the last ";" may be omitted, "" is no zone). A malformed
 * list is refused as a whole (DM_ERROR, logged; no descriptor is touched,
 * since its numbers cannot be trusted). Each entry's descriptor is
 * fstat()ed and mapped, and kept aside when its header is sound (magic,
 * layout, name, size and version as listed); otherwise it is closed with
 * one log line and that zone will start fresh. Kept descriptors get
 * FD_CLOEXEC back. Returns DM_OK or DM_ERROR.
 */
dm_int_t dm_shm_import(const char *list, dm_log_t *log);

/* Unmaps and closes the imported zones no dm_shm_zones_init claimed. */
void dm_shm_import_release(void);

/* The zone named `name` of the cycle, or NULL. */
dm_shm_zone_t *dm_shm_zone_find(dm_cycle_t *cycle, const dm_str_t *name);

/* Offset of p inside the zone (0 for NULL), and back. */
static inline uint64_t
dm_shm_offset(const dm_shm_zone_t *zone, const void *p)
{
    return p ? (uint64_t) ((const u_char *) p - zone->addr) : 0;
}

static inline void *
dm_shm_ptr(const dm_shm_zone_t *zone, uint64_t off)
{
    return off ? (void *) (zone->addr + off) : NULL;
}

/* --- the allocator (dm_shm_slab.c) -------------------------------------- */

/*
 * Sets up the allocator of a fresh zone behind its header (used by
 * dm_shm_zones_init). Returns DM_OK, or DM_ERROR when the zone is too
 * small to hold a page.
 */
dm_int_t dm_shm_slab_init(dm_shm_zone_t *zone);

/*
 * Checks that an inherited zone's allocator state fits its size. Returns
 * DM_OK or DM_ERROR.
 */
dm_int_t dm_shm_slab_check(dm_shm_header_t *hdr, size_t size);

/*
 * Allocates size bytes from the zone, under the zone lock: 16 to 2048
 * bytes come from power-of-two chunks (aligned to their size), more from
 * whole pages (page-aligned). Returns NULL when the zone is full (counted
 * in dm_shm_stats), never aborts. The memory is not zeroed.
 */
void *dm_shm_alloc(dm_shm_zone_t *zone, size_t size);

/* As dm_shm_alloc, zero-filled. */
void *dm_shm_calloc(dm_shm_zone_t *zone, size_t size);

/*
 * Returns memory to the zone, under the zone lock. NULL is ignored; a
 * pointer the allocator did not return, or freed twice, is logged
 * (alert) and ignored. Registered locks and counters areas inside the
 * freed memory are unregistered.
 */
void dm_shm_free(dm_shm_zone_t *zone, void *p);

/* The same, for a caller that holds the zone lock. */
void *dm_shm_alloc_locked(dm_shm_zone_t *zone, size_t size);
void dm_shm_free_locked(dm_shm_zone_t *zone, void *p);

/*
 * The module's root object, found again after a reload or an upgrade:
 * dm_shm_root_set records p (inside the zone, or NULL) in the header;
 * dm_shm_root returns it at this process's address, or NULL.
 */
void dm_shm_root_set(dm_shm_zone_t *zone, void *p);
void *dm_shm_root(dm_shm_zone_t *zone);

/* Fills *st with the allocator's state (under the zone lock). */
void dm_shm_stats(dm_shm_zone_t *zone, dm_shm_stats_t *st);

/* --- locks and counters (dm_shm_lock.c) --------------------------------- */

/*
 * Takes the lock: a compare-and-swap of 0 to this process's pid, a short
 * spin on several CPUs, then sched_yield() between attempts; a lock whose
 * owner is seen dead (gone, or a zombie not reaped yet) is released after
 * a few hundred attempts. Not recursive: a process that takes a lock it
 * holds waits forever.
 */
void dm_shm_lock(dm_shm_lock_t *l);

/* Takes the lock if it is free: DM_OK, or DM_BUSY. */
dm_int_t dm_shm_trylock(dm_shm_lock_t *l);

/*
 * Takes the lock, giving up after about `yields` sched_yield() calls:
 * DM_OK or DM_BUSY. For the master, which must not wait long.
 */
dm_int_t dm_shm_lock_wait(dm_shm_lock_t *l, dm_uint_t yields);

/* Releases a lock this process holds. */
void dm_shm_unlock(dm_shm_lock_t *l);

/* The zone lock (hdr->lock), which also guards the allocator. */
void dm_shm_zone_lock(dm_shm_zone_t *zone);
void dm_shm_zone_unlock(dm_shm_zone_t *zone);

/*
 * Records a lock that lives inside the zone so that the master can
 * release it when its owner dies; takes the zone lock, so the caller must
 * not hold it. Registering a lock twice is harmless (a reused zone's init
 * may do it again). Returns DM_OK, or DM_ERROR (logged) when l is outside
 * the zone or DM_SHM_MAX_LOCKS are registered.
 */
dm_int_t dm_shm_lock_register(dm_shm_zone_t *zone, dm_shm_lock_t *l);

/*
 * Master, after reaping `pid`: releases every lock of every zone of the
 * cycle held by pid (zone locks and registered ones). Returns how many.
 * Call it for each cycle whose zones the dead process could use.
 */
dm_uint_t dm_shm_force_unlock(dm_cycle_t *cycle, pid_t pid);

/*
 * Allocates (zeroed) and registers a counters area of n counters by
 * DM_SHM_ROWS rows. Returns NULL when the zone is full or
 * DM_SHM_MAX_COUNTERS areas are registered (logged). dm_shm_free releases
 * it.
 */
dm_shm_counters_t *dm_shm_counters_alloc(dm_shm_zone_t *zone, uint32_t n);

/*
 * Adds d to counter i of `row` (normally dm_shm_row): a relaxed atomic
 * add, no lock. Out-of-range rows and counters are ignored. The first add
 * to a row above the high-water mark raises it (once per process).
 */
static inline void
dm_shm_counter_add(dm_shm_counters_t *c, dm_uint_t row, uint32_t i, int64_t d)
{
    uint32_t used;

    if (row >= c->rows || i >= c->n) {
        return;
    }
    used = __atomic_load_n(&c->used, __ATOMIC_RELAXED);
    while (used <= row
           && !__atomic_compare_exchange_n(&c->used, &used, (uint32_t) row + 1,
                                           1, __ATOMIC_RELAXED,
                                           __ATOMIC_RELAXED)) {
        /* another process raised it meanwhile: `used` was reloaded */
    }
    __atomic_fetch_add(&c->v[row * c->stride + i], (uint64_t) d,
                       __ATOMIC_RELAXED);
}

/*
 * Counter i summed over the rows written so far (modulo 2^64: -1 and +1
 * cancel). An add racing with the sum may or may not be counted.
 */
uint64_t dm_shm_counter_sum(const dm_shm_counters_t *c, uint32_t i);

/* Zeroes every counter of one row (its process is dead). */
void dm_shm_counters_zero_row(dm_shm_counters_t *c, dm_uint_t row);

/*
 * Master, after reaping the process of `row`: zeroes that row in every
 * registered counters area of every zone of the cycle. Each zone's lock
 * is taken with a bounded wait (dm_shm_lock_wait); call
 * dm_shm_force_unlock for the dead pid first. Returns DM_OK, or DM_AGAIN
 * when a zone was busy and was skipped (call again later).
 */
dm_int_t dm_shm_zero_row(dm_cycle_t *cycle, dm_uint_t row);

#endif /* DM_SHM_H */
