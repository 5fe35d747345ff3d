/*
 * doorman: the umbrella header every source file includes first.
 *
 * It pulls in the build's feature macros (objs/dm_auto_config.h, written
 * by ./configure), the system headers the whole tree relies on, the base
 * types and return codes, and then every core header in dependency order,
 * so that a file needs one include line for the core and one per engine.
 */
#ifndef DM_CORE_H
#define DM_CORE_H

#include <dm_auto_config.h>

#include <sys/types.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <limits.h>
#include <unistd.h>
#include <fcntl.h>
#include <time.h>

/* Base integer types: pointer-sized, as configuration slots store them. */
typedef intptr_t dm_int_t;
typedef uintptr_t dm_uint_t;
typedef intptr_t dm_flag_t;
typedef int dm_err_t;
/* Milliseconds of the cached monotonic clock, or a duration. */
typedef uint64_t dm_msec_t;

/*
 * Return codes shared by every layer. Phase handlers use OK, DECLINED,
 * AGAIN, DONE and ERROR (DESIGN.md section 5); I/O helpers use AGAIN for
 * "would block".
 */
#define DM_OK       0
#define DM_ERROR    -1
#define DM_AGAIN    -2
#define DM_BUSY     -3
#define DM_DONE     -4
#define DM_DECLINED -5
#define DM_ABORT    -6

#define DM_NAME "doorman"

/* Forward declarations of the core's central types. */
typedef struct dm_pool_s dm_pool_t;
typedef struct dm_log_s dm_log_t;
typedef struct dm_conf_s dm_conf_t;
typedef struct dm_command_s dm_command_t;
typedef struct dm_module_s dm_module_t;
typedef struct dm_cycle_s dm_cycle_t;
typedef struct dm_event_s dm_event_t;
typedef struct dm_connection_s dm_connection_t;
typedef struct dm_listening_s dm_listening_t;

#define dm_align(d, a)     (((d) + ((a) -1)) & ~((a) -1))
#define dm_align_ptr(p, a) (u_char *) dm_align((uintptr_t) (p), (uintptr_t) (a))
#define dm_nelems(a)       (sizeof(a) / sizeof((a)[0]))
#define dm_min(a, b)       ((a) < (b) ? (a) : (b))
#define dm_max(a, b)       ((a) > (b) ? (a) : (b))

#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <dm_version.h>
#include <dm_queue.h>
#include <dm_string.h>
#include <dm_palloc.h>
#include <dm_array.h>
#include <dm_log.h>
#include <dm_time.h>
#include <dm_buf.h>
#include <dm_inet.h>
#include <dm_parse.h>
#include <dm_conf.h>
#include <dm_module.h>
#include <dm_cycle.h>
#include <dm_listening.h>
#include <dm_connection.h>
#include <dm_phase.h>
#include <dm_variable.h>
#include <dm_complex.h>
#include <dm_regex.h>

#endif /* DM_CORE_H */
