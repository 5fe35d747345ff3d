/*
 * doorman: counted-string helpers.
 */
#include <dm_core.h>

int
dm_str_eq(const dm_str_t *s, const char *lit)
{
    size_t n = strlen(lit);

    return s->len == n && memcmp(s->data, lit, n) == 0;
}

int
dm_str_caseeq(const dm_str_t *s, const char *lit)
{
    size_t n = strlen(lit);

    return s->len == n && strncasecmp((const char *) s->data, lit, n) == 0;
}

u_char *
dm_pstrdup(dm_pool_t *p, const dm_str_t *src)
{
    u_char *dst;

    dst = dm_pnalloc(p, src->len + 1);
    if (dst == NULL) {
        return NULL;
    }
    if (src->len) {
        memcpy(dst, src->data, src->len);
    }
    dst[src->len] = '\0';
    return dst;
}

void
dm_strlow(u_char *dst, const u_char *src, size_t n)
{
    while (n--) {
        u_char c = *src++;
        *dst++ = (c >= 'A' && c <= 'Z') ? (u_char) (c | 0x20) : c;
    }
}

u_char *
dm_sprint_uint(u_char *p, uint64_t n)
{
    u_char tmp[20], *t = tmp + sizeof(tmp);
    size_t len;

    do {
        *--t = (u_char) ('0' + n % 10);
        n /= 10;
    } while (n);
    len = (size_t) (tmp + sizeof(tmp) - t);
    memcpy(p, t, len);
    return p + len;
}
