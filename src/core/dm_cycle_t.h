/*
 * doorman: the cycle, types.
 *
 * A cycle is one loaded configuration and everything built from it. A
 * reload builds a new cycle beside the running one and switches only when
 * the new one is complete (DESIGN.md section 1).
 */
#ifndef DM_CYCLE_T_H
#define DM_CYCLE_T_H

/* One configuration file as read, for `doorman -T`. */
typedef struct {
    dm_str_t name; /* path */
    dm_str_t data; /* contents as read */
} dm_cycle_dump_t;

struct dm_cycle_s {
    dm_pool_t *pool;          /* lives as long as the cycle */
    dm_log_t *log;            /* error log in force */
    dm_log_t new_log;         /* the log being configured (error_log) */
    dm_log_file_t *log_files; /* every opened log file, for USR1 */
    dm_conf_ctx_t *conf_ctx;  /* top level: the core modules' structures */
    dm_cycle_t *old_cycle;    /* the cycle this one replaces, or NULL */

    dm_str_t prefix;      /* -p or the configured prefix, ends in '/' */
    dm_str_t conf_prefix; /* directory of conf_file, ends in '/' */
    dm_str_t conf_file;   /* absolute path of the main file */
    dm_str_t conf_param;  /* -g directives, or empty */
    dm_str_t hostname;    /* gethostname(), lower case */

    dm_array_t listening;   /* dm_listening_t, every socket */
    dm_array_t shm_zones;   /* dm_shm_zone_t *, every shared zone */
    dm_array_t config_dump; /* dm_cycle_dump_t, when dump_config */
    unsigned test_config:1; /* -t or -T: load, report, exit */
    unsigned dump_config:1; /* -T: also print every file read */
};

#endif /* DM_CYCLE_T_H */
