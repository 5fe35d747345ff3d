/*
 * doorman: CPUs: how many workers `auto` means, and pinning workers.
 */
#ifndef DM_CPU_H
#define DM_CPU_H

/*
 * The CPUs this process may run on (sched_getaffinity), lowered to the
 * cgroup CPU quota when one is set (cpu.max, rounded up): what
 * `worker_processes auto` starts. At least 1.
 */
dm_uint_t dm_cpu_count(dm_log_t *log);

/*
 * Pins the calling process to the k-th CPU of the set the master was
 * allowed (k modulo its size), for `worker_cpu_affinity auto`. Returns the
 * CPU number, or -1 after logging.
 */
int dm_cpu_pin_auto(dm_uint_t k, dm_log_t *log);

/*
 * Pins the calling process to the CPUs of `mask` (bit n = CPU n).
 * Returns DM_OK or DM_ERROR (logged).
 */
dm_int_t dm_cpu_pin_mask(uint64_t mask, dm_log_t *log);

/* Records the CPU set of the master (call before forking workers). */
void dm_cpu_init(dm_log_t *log);

#endif /* DM_CPU_H */
