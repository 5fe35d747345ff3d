/*
 * doorman: locks and per-process counters in shared memory, and what the
 * master repairs in them when a process dies.
 *
 * A lock is a 32-bit word holding its owner's pid: taking it is one
 * compare-and-swap, releasing it one store. Locks are rare and held for a
 * few instructions, so a waiter spins briefly (only when there is another
 * CPU to release it) and then yields the CPU between attempts. Recording
 * the pid is what lets the master release the locks of a worker that died
 * holding them (dm_shm_force_unlock), as nginx's ngx_shmtx does.
 *
 * Counters avoid locks altogether: each process adds to its own row with
 * relaxed atomics, readers sum the rows, and the row of a dead process is
 * zeroed by the master so its open connections stop counting.
 */
#include <dm_core.h>
#include <dm_shm.h>

#include <pthread.h>
#include <sched.h>
#include <signal.h>

/* Spin rounds before the first sched_yield (doubling pause counts). */
#define DM_SHM_SPIN 11
/* Rounds between two checks that a lock's owner is still alive. */
#define DM_SHM_CHECK_OWNER 256

dm_uint_t dm_shm_row = DM_SHM_ROW_MASTER;

static dm_uint_t dm_shm_lock_steal(dm_shm_lock_t *l, uint32_t pid);

/* getpid() is a system call in current glibc: cache it, reset on fork. */
static uint32_t dm_shm_pid_cache;
static int dm_shm_atfork_set;
static long dm_shm_ncpu;

static void
dm_shm_pid_reset(void)
{
    dm_shm_pid_cache = 0;
}

static uint32_t
dm_shm_pid(void)
{
    if (dm_shm_pid_cache == 0) {
        if (!dm_shm_atfork_set) {
            /* the child of a fork() must not lock with its parent's pid */
            pthread_atfork(NULL, NULL, dm_shm_pid_reset);
            dm_shm_atfork_set = 1;
        }
        dm_shm_pid_cache = (uint32_t) getpid();
    }
    return dm_shm_pid_cache;
}

static void
dm_shm_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

static int
dm_shm_cas(dm_shm_lock_t *l, uint32_t pid)
{
    uint32_t expected = 0;

    return __atomic_load_n(&l->pid, __ATOMIC_RELAXED) == 0
           && __atomic_compare_exchange_n(&l->pid, &expected, pid, 0,
                                          __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

/*
 * 1 when process `pid` is gone or a zombie: it will never release what it
 * holds. A zombie matters: if the waiter is the master that has to reap
 * it (a reload handled before the SIGCHLD), waiting would hang it.
 */
static int
dm_shm_owner_dead(uint32_t pid)
{
    char path[32], buf[512], *p;
    ssize_t n;
    int fd;

    if (kill((pid_t) pid, 0) == -1 && errno == ESRCH) {
        return 1;
    }
    snprintf(path, sizeof(path), "/proc/%u/stat", (unsigned) pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return 0;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        return 0;
    }
    buf[n] = '\0';
    /* "PID (COMM) STATE ...": COMM may hold anything, even ')' */
    p = strrchr(buf, ')');
    return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

/*
 * One round of waiting: spin with growing pauses when another CPU can
 * release the lock, then yield; every DM_SHM_CHECK_OWNER rounds, release
 * the lock if its owner died. Returns 1 once the lock is ours.
 */
static int
dm_shm_lock_round(dm_shm_lock_t *l, uint32_t pid, dm_uint_t round)
{
    dm_uint_t n, i;
    uint32_t owner;

    if (dm_shm_cas(l, pid)) {
        return 1;
    }
    if (dm_shm_ncpu == 0) {
        dm_shm_ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    }
    if (dm_shm_ncpu > 1) {
        for (n = 1; n < ((dm_uint_t) 1 << DM_SHM_SPIN); n <<= 1) {
            for (i = 0; i < n; i++) {
                dm_shm_cpu_relax();
            }
            if (dm_shm_cas(l, pid)) {
                return 1;
            }
        }
    }
    if (round % DM_SHM_CHECK_OWNER == DM_SHM_CHECK_OWNER - 1) {
        owner = __atomic_load_n(&l->pid, __ATOMIC_RELAXED);
        if (owner != 0 && owner != pid && dm_shm_owner_dead(owner)) {
            dm_shm_lock_steal(l, owner);
            return dm_shm_cas(l, pid);
        }
    }
    sched_yield();
    return 0;
}

void
dm_shm_lock(dm_shm_lock_t *l)
{
    uint32_t pid = dm_shm_pid();
    dm_uint_t round;

    /*
     * Unbounded by design: the holder is alive (a short section) or dead,
     * and then the lock is released, by the master when it reaps the
     * holder or here once the holder is seen dead.
     */
    for (round = 0; !dm_shm_lock_round(l, pid, round); round++) {
        /* wait */
    }
}

dm_int_t
dm_shm_trylock(dm_shm_lock_t *l)
{
    return dm_shm_cas(l, dm_shm_pid()) ? DM_OK : DM_BUSY;
}

dm_int_t
dm_shm_lock_wait(dm_shm_lock_t *l, dm_uint_t yields)
{
    uint32_t pid = dm_shm_pid();
    dm_uint_t i;

    for (i = 0; i <= yields; i++) {
        if (dm_shm_lock_round(l, pid, i)) {
            return DM_OK;
        }
    }
    return DM_BUSY;
}

void
dm_shm_unlock(dm_shm_lock_t *l)
{
    __atomic_store_n(&l->pid, 0, __ATOMIC_RELEASE);
}

void
dm_shm_zone_lock(dm_shm_zone_t *zone)
{
    dm_shm_lock(&zone->hdr->lock);
}

void
dm_shm_zone_unlock(dm_shm_zone_t *zone)
{
    dm_shm_unlock(&zone->hdr->lock);
}

/* 1 when a registered offset may hold a lock of a zone of `size` bytes. */
static int
dm_shm_lock_offset_ok(uint64_t off, size_t size)
{
    return off >= sizeof(dm_shm_header_t) && off % sizeof(uint32_t) == 0
           && off <= size - sizeof(dm_shm_lock_t);
}

dm_int_t
dm_shm_lock_register(dm_shm_zone_t *zone, dm_shm_lock_t *l)
{
    dm_shm_header_t *hdr = zone->hdr;
    uint64_t off;
    uint32_t i;

    if ((u_char *) l < zone->addr
        || !dm_shm_lock_offset_ok((uint64_t) ((u_char *) l - zone->addr),
                                  zone->size)) {
        dm_log_error(DM_LOG_ALERT, zone->log, 0,
                     "lock %p is not inside shared memory zone \"%s\"",
                     (void *) l, zone->name.data);
        return DM_ERROR;
    }
    off = (uint64_t) ((u_char *) l - zone->addr);

    dm_shm_zone_lock(zone);
    for (i = 0; i < hdr->nlocks && i < DM_SHM_MAX_LOCKS; i++) {
        if (hdr->locks[i] == off) {
            dm_shm_zone_unlock(zone);
            return DM_OK;
        }
    }
    if (hdr->nlocks >= DM_SHM_MAX_LOCKS) {
        dm_shm_zone_unlock(zone);
        dm_log_error(DM_LOG_ALERT, zone->log, 0,
                     "shared memory zone \"%s\" has %d registered locks "
                     "already",
                     zone->name.data, DM_SHM_MAX_LOCKS);
        return DM_ERROR;
    }
    hdr->locks[hdr->nlocks] = off;
    __atomic_store_n(&hdr->nlocks, hdr->nlocks + 1, __ATOMIC_RELEASE);
    dm_shm_zone_unlock(zone);
    return DM_OK;
}

/* Releases l if pid holds it; returns 1 if it did. */
static dm_uint_t
dm_shm_lock_steal(dm_shm_lock_t *l, uint32_t pid)
{
    uint32_t expected = pid;

    return __atomic_compare_exchange_n(&l->pid, &expected, 0, 0,
                                       __ATOMIC_RELEASE, __ATOMIC_RELAXED);
}

dm_uint_t
dm_shm_force_unlock(dm_cycle_t *cycle, pid_t pid)
{
    dm_shm_zone_t **zones;
    dm_shm_header_t *hdr;
    dm_uint_t z, n = 0;
    uint32_t i, nlocks;
    int locked;

    if (cycle == NULL || cycle->shm_zones.elts == NULL || pid <= 0) {
        return 0;
    }
    zones = cycle->shm_zones.elts;
    for (z = 0; z < cycle->shm_zones.nelts; z++) {
        hdr = zones[z]->hdr;
        if (hdr == NULL) {
            continue;
        }
        /* the zone lock first: the dead process may hold it */
        n += dm_shm_lock_steal(&hdr->lock, (uint32_t) pid);

        /*
         * The table is walked under the zone lock so that no offset goes
         * stale under us; if another process keeps the lock too long,
         * walk it anyway: a stale offset is checked, and a word is only
         * changed if it holds the dead pid.
         */
        locked = dm_shm_lock_wait(&hdr->lock, 1000) == DM_OK;
        nlocks = __atomic_load_n(&hdr->nlocks, __ATOMIC_ACQUIRE);
        for (i = 0; i < nlocks && i < DM_SHM_MAX_LOCKS; i++) {
            uint64_t off = hdr->locks[i];

            if (dm_shm_lock_offset_ok(off, zones[z]->size)) {
                n += dm_shm_lock_steal((dm_shm_lock_t *) (zones[z]->addr + off),
                                       (uint32_t) pid);
            }
        }
        if (locked) {
            dm_shm_unlock(&hdr->lock);
        } else {
            dm_log_error(
                DM_LOG_WARN, zones[z]->log, 0,
                "shared memory zone \"%s\" stayed locked by pid %u "
                "while releasing the locks of pid %d",
                zones[z]->name.data,
                (unsigned) __atomic_load_n(&hdr->lock.pid, __ATOMIC_RELAXED),
                (int) pid);
        }
    }
    return n;
}

dm_shm_counters_t *
dm_shm_counters_alloc(dm_shm_zone_t *zone, uint32_t n)
{
    dm_shm_header_t *hdr = zone->hdr;
    dm_shm_counters_t *c;
    uint64_t stride, size;

    /* whole cache lines per row: two processes never share one */
    stride = dm_align((uint64_t) n, 8);
    size = sizeof(dm_shm_counters_t) + stride * DM_SHM_ROWS * sizeof(uint64_t);
    if (n == 0 || size > zone->size) {
        return NULL;
    }

    dm_shm_zone_lock(zone);
    if (hdr->ncounters >= DM_SHM_MAX_COUNTERS) {
        dm_shm_zone_unlock(zone);
        dm_log_error(DM_LOG_ALERT, zone->log, 0,
                     "shared memory zone \"%s\" has %d counters areas already",
                     zone->name.data, DM_SHM_MAX_COUNTERS);
        return NULL;
    }
    c = dm_shm_alloc_locked(zone, (size_t) size);
    if (c == NULL) {
        dm_shm_zone_unlock(zone);
        return NULL;
    }
    memset(c, 0, (size_t) size);
    c->n = n;
    c->rows = DM_SHM_ROWS;
    c->stride = (uint32_t) stride;
    hdr->counters[hdr->ncounters] = dm_shm_offset(zone, c);
    __atomic_store_n(&hdr->ncounters, hdr->ncounters + 1, __ATOMIC_RELEASE);
    dm_shm_zone_unlock(zone);
    return c;
}

uint64_t
dm_shm_counter_sum(const dm_shm_counters_t *c, uint32_t i)
{
    uint64_t sum = 0;
    uint32_t row, used;

    if (i >= c->n) {
        return 0;
    }
    used = dm_min(__atomic_load_n(&c->used, __ATOMIC_RELAXED), c->rows);
    for (row = 0; row < used; row++) {
        sum += __atomic_load_n(&c->v[(uint64_t) row * c->stride + i],
                               __ATOMIC_RELAXED);
    }
    return sum;
}

void
dm_shm_counters_zero_row(dm_shm_counters_t *c, dm_uint_t row)
{
    uint32_t i;

    if (row >= c->rows) {
        return;
    }
    for (i = 0; i < c->n; i++) {
        __atomic_store_n(&c->v[row * c->stride + i], 0, __ATOMIC_RELAXED);
    }
}

/* The counters area at off, or NULL when off cannot hold a sound one. */
static dm_shm_counters_t *
dm_shm_counters_at(dm_shm_zone_t *zone, uint64_t off)
{
    dm_shm_counters_t *c;
    uint64_t end;

    if (off < sizeof(dm_shm_header_t) || off % 64 != 0
        || off > zone->size - sizeof(dm_shm_counters_t)) {
        return NULL;
    }
    c = (dm_shm_counters_t *) (zone->addr + off);
    end = off + sizeof(dm_shm_counters_t)
          + (uint64_t) c->stride * c->rows * sizeof(uint64_t);
    if (c->n == 0 || c->stride < c->n || c->rows != DM_SHM_ROWS
        || c->used > c->rows || end > zone->size) {
        return NULL;
    }
    return c;
}

dm_int_t
dm_shm_zero_row(dm_cycle_t *cycle, dm_uint_t row)
{
    dm_shm_zone_t **zones;
    dm_shm_counters_t *c;
    dm_shm_header_t *hdr;
    dm_int_t rc = DM_OK;
    dm_uint_t z;
    uint32_t i;

    if (cycle == NULL || cycle->shm_zones.elts == NULL) {
        return DM_OK;
    }
    zones = cycle->shm_zones.elts;
    for (z = 0; z < cycle->shm_zones.nelts; z++) {
        hdr = zones[z]->hdr;
        if (hdr == NULL) {
            continue;
        }
        /* bounded: the master must not wait for a child it has to reap */
        if (dm_shm_lock_wait(&hdr->lock, 1000) != DM_OK) {
            dm_log_error(DM_LOG_WARN, zones[z]->log, 0,
                         "shared memory zone \"%s\" is locked by pid %u, "
                         "counters row %lu not zeroed yet",
                         zones[z]->name.data, (unsigned) hdr->lock.pid,
                         (unsigned long) row);
            rc = DM_AGAIN;
            continue;
        }
        for (i = 0; i < hdr->ncounters && i < DM_SHM_MAX_COUNTERS; i++) {
            c = dm_shm_counters_at(zones[z], hdr->counters[i]);
            if (c) {
                dm_shm_counters_zero_row(c, row);
            }
        }
        dm_shm_unlock(&hdr->lock);
    }
    return rc;
}
