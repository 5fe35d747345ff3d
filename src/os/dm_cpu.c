/*
 * doorman: CPUs.
 *
 * `auto` counts the CPUs the master may run on, not the CPUs online: in a
 * container or under taskset, the allowed set and the cgroup quota are what
 * the workers will really get.
 */
#include <dm_core.h>
#include <dm_cpu.h>
#include <sched.h>

static cpu_set_t dm_cpu_allowed;
static int dm_cpu_allowed_n;

void
dm_cpu_init(dm_log_t *log)
{
    CPU_ZERO(&dm_cpu_allowed);
    if (sched_getaffinity(0, sizeof(dm_cpu_allowed), &dm_cpu_allowed) == -1) {
        dm_log_error(DM_LOG_ALERT, log, errno, "sched_getaffinity() failed");
        CPU_SET(0, &dm_cpu_allowed);
    }
    dm_cpu_allowed_n = CPU_COUNT(&dm_cpu_allowed);
}

/* The cgroup v2 quota of this process in CPUs (rounded up), 0 if none. */
static dm_uint_t
dm_cpu_cgroup_quota(void)
{
    char line[512], path[600], *p;
    long long quota, period;
    dm_uint_t n = 0;
    FILE *f;

    f = fopen("/proc/self/cgroup", "re");
    if (f == NULL) {
        return 0;
    }
    path[0] = '\0';
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "0::", 3) == 0) {
            p = strchr(line, '\n');
            if (p) {
                *p = '\0';
            }
            snprintf(path, sizeof(path), "/sys/fs/cgroup%s/cpu.max", line + 3);
            break;
        }
    }
    fclose(f);
    if (path[0] == '\0') {
        return 0;
    }
    f = fopen(path, "re");
    if (f == NULL) {
        return 0;
    }
    if (fscanf(f, "%lld %lld", &quota, &period) == 2 && quota > 0
        && period > 0) {
        n = (dm_uint_t) ((quota + period - 1) / period);
    }
    fclose(f);
    return n;
}

dm_uint_t
dm_cpu_count(dm_log_t *log)
{
    dm_uint_t n, quota;

    if (dm_cpu_allowed_n == 0) {
        dm_cpu_init(log);
    }
    n = (dm_uint_t) dm_cpu_allowed_n;
    quota = dm_cpu_cgroup_quota();
    if (quota && quota < n) {
        n = quota;
    }
    return n ? n : 1;
}

int
dm_cpu_pin_auto(dm_uint_t k, dm_log_t *log)
{
    cpu_set_t set;
    int cpu, seen = -1;
    dm_uint_t want;

    if (dm_cpu_allowed_n == 0) {
        dm_cpu_init(log);
    }
    want = k % (dm_uint_t) dm_cpu_allowed_n;
    for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (CPU_ISSET(cpu, &dm_cpu_allowed) && (dm_uint_t) ++seen == want) {
            break;
        }
    }
    if (cpu == CPU_SETSIZE) {
        return -1;
    }
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) == -1) {
        dm_log_error(DM_LOG_ALERT, log, errno,
                     "sched_setaffinity(CPU %d) failed", cpu);
        return -1;
    }
    return cpu;
}

dm_int_t
dm_cpu_pin_mask(uint64_t mask, dm_log_t *log)
{
    cpu_set_t set;
    int cpu;

    CPU_ZERO(&set);
    for (cpu = 0; cpu < 64; cpu++) {
        if (mask & ((uint64_t) 1 << cpu)) {
            CPU_SET(cpu, &set);
        }
    }
    if (sched_setaffinity(0, sizeof(set), &set) == -1) {
        dm_log_error(DM_LOG_ALERT, log, errno,
                     "sched_setaffinity(0x%llx) failed",
                     (unsigned long long) mask);
        return DM_ERROR;
    }
    return DM_OK;
}
