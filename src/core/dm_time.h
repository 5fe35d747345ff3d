/*
 * doorman: the cached clocks.
 *
 * The event loop refreshes both clocks once per turn, right after
 * epoll_wait returns, so the hot path never calls clock_gettime: timers
 * use the monotonic milliseconds (immune to wall-clock steps), logs use
 * the wall clock, formatted once per second.
 */
#ifndef DM_TIME_H
#define DM_TIME_H

/* Monotonic milliseconds at the last refresh. */
extern volatile dm_msec_t dm_current_msec;
/* Wall-clock seconds and milliseconds at the last refresh. */
extern volatile time_t dm_time_sec;
extern volatile dm_uint_t dm_time_msec;

/* Formatted wall-clock strings of the last refresh (NUL-terminated). */
extern dm_str_t dm_cached_err_log_time;  /* 2026/11/21 23:49:18 */
extern dm_str_t dm_cached_http_log_time; /* 21/Nov/2026:23:49:18 +0000 */
extern dm_str_t dm_cached_iso8601_time;  /* 2026-11-21T23:49:18+00:00 */
extern dm_str_t dm_cached_http_time;     /* Sat, 21 Nov 2026 23:49:18 GMT */

/* Reads both clocks and reformats the strings when the second changed. */
void dm_time_update(void);

#endif /* DM_TIME_H */
