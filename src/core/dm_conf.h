/*
 * doorman: the configuration language.
 *
 * nginx's syntax: `directive args;`, `block { ... }`, `#` comments, single
 * and double quotes with \" \' \\ \t \r \n escapes, `$variables` and
 * `${variables}` kept inside tokens, `include` with globs. Every error
 * names the file and line: `unknown directive "x" in FILE:LINE`.
 */
#ifndef DM_CONF_H
#define DM_CONF_H

#include <dm_conf_t.h>

/* Most tokens a directive line may have; more is "too many arguments". */
#define DM_CONF_MAX_TOKENS 256
/* Largest configuration file read (bytes). */
#define DM_CONF_MAX_FILE (16 * 1024 * 1024)
/* Deepest include nesting. */
#define DM_CONF_MAX_INCLUDE 32
/* Deepest block nesting (the parser recurses once per block). */
#define DM_CONF_MAX_BLOCK_DEPTH 64

/*
 * Parses a file (filename != NULL), or the rest of the current block
 * (filename == NULL: the call a block directive makes after setting up its
 * context). Directives are dispatched to the modules of cf->module_type
 * whose tables allow them in cf->cmd_type. Returns DM_CONF_OK, or
 * DM_CONF_ERROR after logging the reason with its file and line.
 */
char *dm_conf_parse(dm_conf_t *cf, const dm_str_t *filename);

/*
 * Parses an in-memory buffer as if it were the file `name` (the buffer
 * must stay valid while the configuration is used: tokens point into it).
 * Used for -g directives and by the fuzz target.
 */
char *dm_conf_parse_buffer(dm_conf_t *cf, const char *name, u_char *data,
                           size_t len);

/*
 * Parses the block that follows the current directive in context `ctx`,
 * dispatching to the modules of `module_type` with context bit `cmd_type`
 * (e.g. DM_STREAM_SRV_CONF), then restores cf. For block directives.
 */
char *dm_conf_parse_block(dm_conf_t *cf, dm_conf_ctx_t *ctx,
                          dm_uint_t module_type, dm_uint_t cmd_type);

/*
 * Logs a configuration error: the message, then " in FILE:LINE" of the
 * directive being processed.
 */
void dm_conf_log_error(dm_uint_t level, dm_conf_t *cf, dm_err_t err,
                       const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Resolves a configured path: absolute paths are kept, relative ones are
 * joined to the prefix (conf_prefix != 0: the directory of the main
 * configuration file, as include uses). The result is NUL-terminated and
 * allocated from the configuration pool. Returns DM_OK or DM_ERROR.
 */
dm_int_t dm_conf_full_name(dm_cycle_t *cycle, dm_str_t *name, int conf_prefix);

/* Typed setters: each writes the field at cmd->offset of conf. */
char *dm_conf_set_flag_slot(dm_conf_t *cf, const dm_command_t *cmd,
                            void *conf); /* dm_flag_t, on|off */
char *dm_conf_set_num_slot(dm_conf_t *cf, const dm_command_t *cmd,
                           void *conf); /* dm_int_t, post: bounds */
char *dm_conf_set_size_slot(dm_conf_t *cf, const dm_command_t *cmd,
                            void *conf); /* size_t, post: bounds */
char *dm_conf_set_msec_slot(dm_conf_t *cf, const dm_command_t *cmd,
                            void *conf); /* dm_msec_t, post: bounds */
char *dm_conf_set_sec_slot(dm_conf_t *cf, const dm_command_t *cmd,
                           void *conf); /* time_t, post: bounds */
char *dm_conf_set_str_slot(dm_conf_t *cf, const dm_command_t *cmd,
                           void *conf); /* dm_str_t */
/* The levels of limit_conn_log_level and limit_req_log_level (as
   nginx's): info, notice, warn, error. For dm_conf_set_enum_slot. */
extern const dm_conf_enum_t dm_conf_limit_log_levels[];

char *dm_conf_set_enum_slot(dm_conf_t *cf, const dm_command_t *cmd,
                            void *conf); /* dm_uint_t, post: enum table */
char *dm_conf_set_str_array_slot(dm_conf_t *cf, const dm_command_t *cmd,
                                 void *conf); /* dm_array_t * of dm_str_t */
char *dm_conf_set_keyval_slot(dm_conf_t *cf, const dm_command_t *cmd,
                              void *conf); /* dm_array_t * of dm_keyval_t */

/*
 * Merge helpers for create/merge hooks: a child level that did not set a
 * value inherits the parent's, and the default applies when neither did.
 * An array directive set at a child level replaces the parent's list.
 */
#define dm_conf_init_value(conf, default)                                      \
    if (conf == DM_CONF_UNSET) {                                               \
        conf = default;                                                        \
    }
#define dm_conf_init_uint_value(conf, default)                                 \
    if (conf == DM_CONF_UNSET_UINT) {                                          \
        conf = default;                                                        \
    }
#define dm_conf_init_size_value(conf, default)                                 \
    if (conf == DM_CONF_UNSET_SIZE) {                                          \
        conf = default;                                                        \
    }
#define dm_conf_init_msec_value(conf, default)                                 \
    if (conf == DM_CONF_UNSET_MSEC) {                                          \
        conf = default;                                                        \
    }
#define dm_conf_init_ptr_value(conf, default)                                  \
    if (conf == DM_CONF_UNSET_PTR) {                                           \
        conf = default;                                                        \
    }

#define dm_conf_merge_value(conf, prev, default)                               \
    if (conf == DM_CONF_UNSET) {                                               \
        conf = (prev == DM_CONF_UNSET) ? default : prev;                       \
    }
#define dm_conf_merge_uint_value(conf, prev, default)                          \
    if (conf == DM_CONF_UNSET_UINT) {                                          \
        conf = (prev == DM_CONF_UNSET_UINT) ? default : prev;                  \
    }
#define dm_conf_merge_size_value(conf, prev, default)                          \
    if (conf == DM_CONF_UNSET_SIZE) {                                          \
        conf = (prev == DM_CONF_UNSET_SIZE) ? default : prev;                  \
    }
#define dm_conf_merge_msec_value(conf, prev, default)                          \
    if (conf == DM_CONF_UNSET_MSEC) {                                          \
        conf = (prev == DM_CONF_UNSET_MSEC) ? default : prev;                  \
    }
#define dm_conf_merge_ptr_value(conf, prev, default)                           \
    if (conf == DM_CONF_UNSET_PTR) {                                           \
        conf = (prev == DM_CONF_UNSET_PTR) ? default : prev;                   \
    }
#define dm_conf_merge_str_value(conf, prev, default)                           \
    if (conf.data == NULL) {                                                   \
        if (prev.data) {                                                       \
            conf = prev;                                                       \
        } else {                                                               \
            dm_str_set(&conf, default);                                        \
        }                                                                      \
    }

#endif /* DM_CONF_H */
