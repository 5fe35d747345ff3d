/*
 * doorman: counted-string helpers.
 */
#ifndef DM_STRING_H
#define DM_STRING_H

#include <dm_string_t.h>

/* A dm_str_t initializer from a string literal. */
#define dm_string(s)                                                           \
    {                                                                          \
        sizeof(s) - 1, (u_char *) (s)                                          \
    }
#define dm_null_string                                                         \
    {                                                                          \
        0, NULL                                                                \
    }
#define dm_str_set(str, text)                                                  \
    (str)->len = sizeof(text) - 1;                                             \
    (str)->data = (u_char *) (text)

/* printf helpers: printf(DM_STR_FMT, DM_STR_ARG(s)) prints a dm_str_t. */
#define DM_STR_FMT    "%.*s"
#define DM_STR_ARG(s) (int) (s).len, (const char *) (s).data

/*
 * Compares a counted string with a NUL-terminated literal, exactly.
 * Returns 1 when equal, 0 otherwise.
 */
int dm_str_eq(const dm_str_t *s, const char *lit);

/*
 * Same as dm_str_eq, ignoring ASCII case.
 */
int dm_str_caseeq(const dm_str_t *s, const char *lit);

/*
 * Copies src into memory from pool p with a terminating NUL, so that the
 * result can be handed to system calls. Returns NULL on allocation failure.
 */
u_char *dm_pstrdup(dm_pool_t *p, const dm_str_t *src);

/*
 * Lower-cases n bytes of src into dst (ASCII only); dst may equal src.
 */
void dm_strlow(u_char *dst, const u_char *src, size_t n);

/*
 * Writes n in decimal at p (at most 20 bytes, no NUL) and returns the
 * end: the hot paths' replacement for snprintf("%llu").
 */
u_char *dm_sprint_uint(u_char *p, uint64_t n);

#endif /* DM_STRING_H */
