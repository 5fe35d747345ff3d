/*
 * doorman: parsers for the numbers written in configuration files.
 *
 * Each is strict (no sign, no trailing garbage, overflow detected) and
 * returns -1 for anything that is not a valid value.
 */
#ifndef DM_PARSE_H
#define DM_PARSE_H

/* A non-negative decimal integer: "0" ... up to INT64_MAX. */
int64_t dm_parse_int(const u_char *p, size_t n);

/* A size: digits with an optional k/K, m/M or g/G suffix ("16k", "1m"). */
int64_t dm_parse_size(const u_char *p, size_t n);

/*
 * A time as nginx writes it: one or more number-unit groups, optionally
 * separated by spaces, units ms s m h d w M y, "s" assumed for a bare
 * number ("500ms", "10s", "1h 30m", "30"). Returns milliseconds.
 */
int64_t dm_parse_msec(const u_char *p, size_t n);

/* Same as dm_parse_msec, in whole seconds (sub-second units rejected). */
int64_t dm_parse_sec(const u_char *p, size_t n);

#endif /* DM_PARSE_H */
