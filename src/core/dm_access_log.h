/*
 * doorman: the access log, built once for both engines (DESIGN.md
 * sections 2 and 5).
 *
 *   log_format NAME [escape=default|json|none] STRING ...;   (main level)
 *   access_log PATH [FORMAT] [buffer=SIZE] [flush=TIME] [if=CONDITION];
 *   access_log syslog:server=ADDR[,...] [FORMAT] [if=CONDITION];
 *   access_log off;
 *
 * The engines own the module descriptors (dm_stream_log_module,
 * dm_http_log_module) and their levels; the directives, the inheritance
 * and the writer are here. A command's `post` is the engine's log module,
 * whose main structure (dm_access_log_main_conf_t) holds the formats.
 *
 * Writing never blocks the event loop on a full or failing disk: a file
 * gets one write() per line, or with buffer= one write() per flush (when
 * the buffer is full, when flush= expires, before a reopen, at exit); a
 * failed or short write drops what it carried, counts the lines, and says
 * so in the error log at most once a second.
 */
#ifndef DM_ACCESS_LOG_H
#define DM_ACCESS_LOG_H

#include <dm_access_log_t.h>

/* Configuration (dm_access_log_conf.c). */

/* create_main_conf of an engine's log module. NULL on allocation failure. */
void *dm_access_log_create_main_conf(dm_conf_t *cf);

/*
 * Completes an engine's main structure before its block is parsed (from
 * the log module's preconfiguration): the variables formats compile
 * against, the predefined format `name` (NULL-terminated `strings`,
 * static, escape=default, compiled when an access_log first uses it) and
 * the format an access_log without FORMAT uses. DM_OK or DM_ERROR.
 */
dm_int_t dm_access_log_main_init(dm_conf_t *cf, dm_access_log_main_conf_t *lmcf,
                                 dm_variable_registry_t *reg, const char *name,
                                 const char *const *strings);

/* create_srv_conf / create_loc_conf: a level that says nothing yet. */
void *dm_access_log_create_conf(dm_conf_t *cf);

/* merge_srv_conf / merge_loc_conf: a level without access_log inherits. */
char *dm_access_log_merge_conf(dm_conf_t *cf, void *parent, void *child);

/* The log_format directive (main level; cmd->post: the log module). */
char *dm_access_log_format_set(dm_conf_t *cf, const dm_command_t *cmd,
                               void *conf);

/* The access_log directive (any level; cmd->post: the log module). */
char *dm_access_log_set(dm_conf_t *cf, const dm_command_t *cmd, void *conf);

/* Writing (dm_access_log.c). */

/*
 * The writer of log file f, created on first request (the file's flush
 * handler is then the access log's). Returns NULL on allocation failure.
 */
dm_access_log_writer_t *dm_access_log_writer(dm_conf_t *cf, dm_log_file_t *f);

/*
 * Writes one line per access log of `alcf` (none when it is off or
 * unset) for the session or request whose variables are `env`. Lines are
 * formatted in env->pool. Never fails the caller: a line that cannot be
 * formatted or written is dropped (and counted when it is a write).
 */
void dm_access_log_write(dm_variable_env_t *env,
                         const dm_access_log_conf_t *alcf);

/*
 * At process exit (a module's exit_process): flushes every writer of the
 * cycle, reports lines still counted as dropped, frees the buffers and
 * disarms the timers. Safe to call more than once.
 */
void dm_access_log_exit(dm_cycle_t *cycle);

#endif /* DM_ACCESS_LOG_H */
