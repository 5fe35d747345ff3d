/*
 * doorman: counted strings.
 *
 * Configuration tokens, header names and values all point into buffers
 * that already hold them, so strings carry a length and are not
 * necessarily NUL-terminated unless a comment says so.
 */
#ifndef DM_STRING_T_H
#define DM_STRING_T_H

typedef struct {
    size_t len;   /* bytes in data, not counting any terminating NUL */
    u_char *data; /* the bytes; may be NULL when len is 0 */
} dm_str_t;

typedef struct {
    dm_str_t key;   /* e.g. a header name */
    dm_str_t value; /* its value, kept as written */
} dm_keyval_t;

#endif /* DM_STRING_T_H */
