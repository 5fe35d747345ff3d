/*
 * doorman: escaping of logged values (access log formats, both engines).
 *
 * Two escapers, each as a pair: _len gives the exact size of the escaped
 * form, the writer fills a buffer of at least that size. Neither
 * allocates; both accept any bytes.
 *
 *   default  nginx's access log escaping: `"`, `\` and every byte below
 *            0x20 or from 0x7f up is written as \xXX (upper-case hex).
 *   json     the inside of a JSON string: \" \\ \n \r \t \b \f, every
 *            other byte below 0x20 and 0x7f as \u00XX; well-formed UTF-8
 *            (RFC 3629: no overlong forms, no surrogates, nothing above
 *            U+10FFFF) is kept as it is, and every byte of an ill-formed
 *            sequence is written as \u00XX (lower-case hex), so the result
 *            is always valid JSON and valid UTF-8.
 */
#ifndef DM_LOG_ESCAPE_H
#define DM_LOG_ESCAPE_H

/* Most output bytes per input byte: \xXX and \u00XX. */
#define DM_LOG_ESCAPE_DEFAULT_MAX 4
#define DM_LOG_ESCAPE_JSON_MAX    6

/* Size of the default escaping of len bytes (len <= size <= 4 * len). */
size_t dm_log_escape_default_len(const u_char *src, size_t len);

/*
 * Writes the default escaping of src to dst, which must hold
 * dm_log_escape_default_len(src, len) bytes. Returns the end of the output.
 */
u_char *dm_log_escape_default(u_char *dst, const u_char *src, size_t len);

/* Size of the JSON escaping of len bytes (len <= size <= 6 * len). */
size_t dm_log_escape_json_len(const u_char *src, size_t len);

/*
 * Writes the JSON escaping of src to dst, which must hold
 * dm_log_escape_json_len(src, len) bytes. Returns the end of the output.
 */
u_char *dm_log_escape_json(u_char *dst, const u_char *src, size_t len);

#endif /* DM_LOG_ESCAPE_H */
