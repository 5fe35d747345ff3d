/*
 * doorman: the core module's configuration (top-level directives), types.
 */
#ifndef DM_CORE_MODULE_T_H
#define DM_CORE_MODULE_T_H

#include <pwd.h>
#include <grp.h>

/* worker_processes auto */
#define DM_CORE_WORKERS_AUTO 0
/* worker_cpu_affinity */
#define DM_CORE_AFFINITY_AUTO  0
#define DM_CORE_AFFINITY_OFF   1
#define DM_CORE_AFFINITY_MASKS 2
/* Most workers a master forks. */
#define DM_CORE_MAX_WORKERS 126

typedef struct {
    dm_flag_t daemon;           /* daemon on|off (on) */
    dm_flag_t master;           /* master_process on|off (on) */
    dm_int_t worker_processes;  /* N, or DM_CORE_WORKERS_AUTO */
    dm_msec_t shutdown_timeout; /* worker_shutdown_timeout, 0 = none */
    dm_int_t rlimit_nofile;     /* worker_rlimit_nofile, unset: keep */
    dm_str_t pid;               /* pid file, full path */
    dm_str_t user_name;         /* user NAME: who workers run as */
    dm_str_t group_name;        /* its group (second argument) */
    uid_t user;                 /* resolved at load, -1 when unset */
    gid_t group;                /* resolved at load, -1 when unset */
    dm_str_t working_directory; /* chdir target of workers, or empty */
    dm_uint_t affinity;         /* DM_CORE_AFFINITY_* */
    dm_array_t *affinity_masks; /* uint64_t CPU masks, one per worker */
} dm_core_conf_t;

#endif /* DM_CORE_MODULE_T_H */
