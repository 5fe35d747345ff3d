/*
 * doorman: complex values.
 */
#include <dm_core.h>

static int
dm_complex_name_char(u_char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '_';
}

dm_int_t
dm_complex_compile(dm_conf_t *cf, dm_variable_registry_t *reg,
                   const dm_str_t *src, dm_complex_value_t *cv)
{
    u_char *p = src->data, *end = src->data + src->len, *start;
    dm_complex_part_t *part;
    dm_array_t parts;
    dm_str_t name;
    dm_int_t index;

    memset(cv, 0, sizeof(*cv));
    cv->source = *src;
    if (memchr(src->data, '$', src->len) == NULL) {
        cv->constant = 1;
        return DM_OK;
    }
    if (dm_array_init(&parts, cf->pool, 4, sizeof(dm_complex_part_t))
        != DM_OK) {
        return DM_ERROR;
    }

    while (p < end) {
        if (*p != '$') {
            start = p;
            while (p < end && *p != '$') {
                p++;
            }
            part = dm_array_push(&parts);
            if (part == NULL) {
                return DM_ERROR;
            }
            part->literal.data = start;
            part->literal.len = (size_t) (p - start);
            part->index = -1;
            continue;
        }

        p++; /* the '$' */
        if (p < end && *p == '{') {
            start = ++p;
            while (p < end && *p != '}') {
                if (!dm_complex_name_char(*p)) {
                    goto invalid;
                }
                p++;
            }
            if (p == end || p == start) {
                goto invalid;
            }
            name.data = start;
            name.len = (size_t) (p - start);
            p++; /* the '}' */
        } else if (p < end && *p >= '0' && *p <= '9') {
            name.data = p++;
            name.len = 1; /* $12 is $1 followed by "2", as nginx reads it */
        } else {
            start = p;
            while (p < end && dm_complex_name_char(*p)) {
                p++;
            }
            if (p == start) {
                goto invalid;
            }
            name.data = start;
            name.len = (size_t) (p - start);
        }
        index = dm_variable_index(cf, reg, &name);
        if (index == DM_ERROR) {
            return DM_ERROR;
        }
        part = dm_array_push(&parts);
        if (part == NULL) {
            return DM_ERROR;
        }
        part->literal.data = NULL;
        part->literal.len = 0;
        part->index = index;
    }
    cv->parts = parts.elts;
    cv->nparts = parts.nelts;
    return DM_OK;

invalid:
    dm_conf_log_error(DM_LOG_EMERG, cf, 0, "invalid variable name in \"%.*s\"",
                      DM_STR_ARG(*src));
    return DM_ERROR;
}

dm_int_t
dm_complex_eval(dm_variable_env_t *env, const dm_complex_value_t *cv,
                dm_str_t *out)
{
    dm_variable_value_t *v;
    size_t len = 0;
    dm_uint_t i;
    u_char *p;

    if (cv->constant) {
        *out = cv->source;
        return DM_OK;
    }
    /* first the length, so that one allocation holds the result */
    for (i = 0; i < cv->nparts; i++) {
        if (cv->parts[i].index < 0) {
            len += cv->parts[i].literal.len;
            continue;
        }
        v = dm_variable_value(env, (dm_uint_t) cv->parts[i].index);
        if (v == NULL) {
            return DM_ERROR;
        }
        if (!v->not_found) {
            len += v->len;
        }
    }
    p = dm_pnalloc(env->pool, len ? len : 1);
    if (p == NULL) {
        return DM_ERROR;
    }
    out->data = p;
    out->len = len;
    for (i = 0; i < cv->nparts; i++) {
        if (cv->parts[i].index < 0) {
            memcpy(p, cv->parts[i].literal.data, cv->parts[i].literal.len);
            p += cv->parts[i].literal.len;
            continue;
        }
        /* cached by the first pass (or recomputed: no_cacheable values
           such as $msec may differ, so copy at most what was counted) */
        v = dm_variable_value(env, (dm_uint_t) cv->parts[i].index);
        if (v == NULL) {
            return DM_ERROR;
        }
        if (!v->not_found && v->len) {
            size_t n = dm_min(v->len, (size_t) (out->data + len - p));

            memcpy(p, v->data, n);
            p += n;
        }
    }
    out->len = (size_t) (p - out->data);
    return DM_OK;
}

int
dm_complex_uses(dm_variable_registry_t *reg, const dm_complex_value_t *cv,
                const dm_str_t *name)
{
    dm_variable_t *used = reg->indexed.elts;
    dm_uint_t i;
    dm_str_t *n;

    for (i = 0; i < cv->nparts; i++) {
        if (cv->parts[i].index < 0) {
            continue;
        }
        n = &used[cv->parts[i].index].name;
        if (n->len == name->len
            && strncasecmp((const char *) n->data, (const char *) name->data,
                           name->len)
                   == 0) {
            return 1;
        }
    }
    return 0;
}
