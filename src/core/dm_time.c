/*
 * doorman: the cached clocks.
 */
#include <dm_core.h>

volatile dm_msec_t dm_current_msec;
volatile time_t dm_time_sec;
volatile dm_uint_t dm_time_msec;

static u_char dm_time_err_buf[sizeof("1970/09/28 12:00:00")];
static u_char dm_time_http_log_buf[sizeof("28/Sep/1970:12:00:00 +0600")];
static u_char dm_time_iso_buf[sizeof("1970-09-28T12:00:00+06:00")];
static u_char dm_time_http_buf[sizeof("Mon, 28 Sep 1970 06:00:00 GMT")];

dm_str_t dm_cached_err_log_time = {0, dm_time_err_buf};
dm_str_t dm_cached_http_log_time = {0, dm_time_http_log_buf};
dm_str_t dm_cached_iso8601_time = {0, dm_time_iso_buf};
dm_str_t dm_cached_http_time = {0, dm_time_http_buf};

static const char *const dm_time_months[] = {"Jan", "Feb", "Mar", "Apr",
                                             "May", "Jun", "Jul", "Aug",
                                             "Sep", "Oct", "Nov", "Dec"};
static const char *const dm_time_wdays[] = {"Sun", "Mon", "Tue", "Wed",
                                            "Thu", "Fri", "Sat"};

void
dm_time_update(void)
{
    struct timespec mono, wall;
    struct tm lt, gmt;
    long off;
    int n;

    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &wall);
    dm_current_msec =
        (dm_msec_t) mono.tv_sec * 1000 + (dm_msec_t) mono.tv_nsec / 1000000;
    dm_time_msec = (dm_uint_t) (wall.tv_nsec / 1000000);

    if (dm_time_sec == wall.tv_sec && dm_cached_err_log_time.len) {
        return;
    }
    dm_time_sec = wall.tv_sec;

    localtime_r(&wall.tv_sec, &lt);
    gmtime_r(&wall.tv_sec, &gmt);
    off = lt.tm_gmtoff / 60;

    n = snprintf((char *) dm_time_err_buf, sizeof(dm_time_err_buf),
                 "%4d/%02d/%02d %02d:%02d:%02d", lt.tm_year + 1900,
                 lt.tm_mon + 1, lt.tm_mday, lt.tm_hour, lt.tm_min, lt.tm_sec);
    dm_cached_err_log_time.len = (size_t) n;

    n = snprintf((char *) dm_time_http_log_buf, sizeof(dm_time_http_log_buf),
                 "%02d/%s/%d:%02d:%02d:%02d %c%02ld%02ld", lt.tm_mday,
                 dm_time_months[lt.tm_mon], lt.tm_year + 1900, lt.tm_hour,
                 lt.tm_min, lt.tm_sec, off < 0 ? '-' : '+', labs(off) / 60,
                 labs(off) % 60);
    dm_cached_http_log_time.len = (size_t) n;

    n = snprintf((char *) dm_time_iso_buf, sizeof(dm_time_iso_buf),
                 "%4d-%02d-%02dT%02d:%02d:%02d%c%02ld:%02ld", lt.tm_year + 1900,
                 lt.tm_mon + 1, lt.tm_mday, lt.tm_hour, lt.tm_min, lt.tm_sec,
                 off < 0 ? '-' : '+', labs(off) / 60, labs(off) % 60);
    dm_cached_iso8601_time.len = (size_t) n;

    n = snprintf((char *) dm_time_http_buf, sizeof(dm_time_http_buf),
                 "%s, %02d %s %4d %02d:%02d:%02d GMT",
                 dm_time_wdays[gmt.tm_wday], gmt.tm_mday,
                 dm_time_months[gmt.tm_mon], gmt.tm_year + 1900, gmt.tm_hour,
                 gmt.tm_min, gmt.tm_sec);
    dm_cached_http_time.len = (size_t) n;
}
