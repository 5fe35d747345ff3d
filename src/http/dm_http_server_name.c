/*
 * doorman: server_name: which virtual server a Host names.
 *
 * As nginx: exact names first, then the longest leading wildcard
 * (*.example.com, and .example.com which also names example.com), then
 * the longest trailing wildcard (www.example.*), then regexes in file
 * order. Names are stored lower-cased without a trailing dot; the Host
 * is compared case-insensitively and, for regexes, lower-cased first.
 * A server has few names: a linear scan is shorter than the hash nginx
 * builds and as fast for the tens of names a real address carries.
 */
#include <dm_core.h>
#include <dm_http_conf.h>
#include <dm_http_listen.h>

/* The characters a server name may have (a regex is checked by PCRE2). */
static int
dm_http_server_name_valid(const dm_str_t *n)
{
    dm_uint_t i;

    for (i = 0; i < n->len; i++) {
        if (n->data[i] <= ' ' || n->data[i] == '/' || n->data[i] == 0x7f) {
            return 0;
        }
    }
    return 1;
}

static char *
dm_http_server_name_regex(dm_conf_t *cf, dm_http_core_srv_conf_t *cscf,
                          const dm_str_t *value)
{
    dm_http_core_main_conf_t *cmcf =
        dm_http_conf_get_main(cf->ctx, dm_http_core_module);
    dm_str_t pattern = {value->len - 1, value->data + 1};
    dm_regex_t **slot;

    if (pattern.len == 0) {
        return "has an empty regex";
    }
    slot = dm_array_push(&cscf->regexes);
    if (slot == NULL) {
        return DM_CONF_ERROR;
    }
    /* Host is lower-cased before matching, as nginx: caseless anyway so
       that a pattern written with capitals still matches */
    *slot = dm_palloc(cf->pool, sizeof(dm_regex_t));
    if (*slot == NULL
        || dm_regex_compile_vars(cf, &cmcf->variables, *slot, &pattern, 1)
               != DM_OK) {
        return DM_CONF_ERROR;
    }
    return DM_CONF_OK;
}

static char *
dm_http_server_name_wildcard(dm_conf_t *cf, dm_http_core_srv_conf_t *cscf,
                             const dm_str_t *value)
{
    dm_http_server_name_t *w;
    dm_str_t n = *value;
    u_char *star;
    int leading, bare = 0;

    star = memchr(n.data, '*', n.len);
    if (star == NULL) {
        /* ".example.com" */
        leading = 1;
        bare = 1;
    } else if (n.len > 2 && star == n.data && n.data[1] == '.'
               && memchr(n.data + 1, '*', n.len - 1) == NULL) {
        /* "*.example.com": kept as ".example.com" */
        leading = 1;
        n.data++;
        n.len--;
    } else if (n.len > 2 && star == n.data + n.len - 1
               && n.data[n.len - 2] == '.'
               && memchr(n.data, '*', n.len - 1) == NULL) {
        /* "www.example.*": kept as "www.example." */
        leading = 0;
        n.len--;
    } else {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "invalid server name or wildcard \"%s\"",
                          value->data);
        return DM_CONF_ERROR;
    }
    if (n.len < 2) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "invalid server name or wildcard \"%s\"",
                          value->data);
        return DM_CONF_ERROR;
    }
    w = dm_array_push(&cscf->wildcards);
    if (w == NULL) {
        return DM_CONF_ERROR;
    }
    w->name.len = n.len;
    w->name.data = dm_pnalloc(cf->pool, n.len);
    if (w->name.data == NULL) {
        return DM_CONF_ERROR;
    }
    dm_strlow(w->name.data, n.data, n.len);
    w->leading = leading;
    w->bare = bare;
    return DM_CONF_OK;
}

char *
dm_http_server_name_set(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_http_core_srv_conf_t *cscf = conf;
    dm_str_t *value = cf->args->elts, *name;
    dm_uint_t i;
    char *rv;

    for (i = 1; i < cf->args->nelts; i++) {
        if (value[i].len && value[i].data[0] == '~') {
            rv = dm_http_server_name_regex(cf, cscf, &value[i]);
            if (rv != DM_CONF_OK) {
                return rv;
            }
            continue;
        }
        if (!dm_http_server_name_valid(&value[i])) {
            dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                              "server name \"%s\" has invalid characters",
                              value[i].data);
            return DM_CONF_ERROR;
        }
        if (memchr(value[i].data, '*', value[i].len)
            || (value[i].len > 1 && value[i].data[0] == '.')) {
            rv = dm_http_server_name_wildcard(cf, cscf, &value[i]);
            if (rv != DM_CONF_OK) {
                return rv;
            }
            continue;
        }
        name = dm_array_push(&cscf->names);
        if (name == NULL) {
            return DM_CONF_ERROR;
        }
        name->len = value[i].len;
        /* a trailing dot names the same host */
        if (name->len > 1 && value[i].data[name->len - 1] == '.') {
            name->len--;
        }
        name->data = dm_pnalloc(cf->pool, name->len + 1);
        if (name->data == NULL) {
            return DM_CONF_ERROR;
        }
        dm_strlow(name->data, value[i].data, name->len);
        name->data[name->len] = '\0';
    }
    return DM_CONF_OK;
}

/* How many bytes of host a wildcard covers, or 0 when it does not. */
static size_t
dm_http_server_name_wild_match(const dm_http_server_name_t *w,
                               const dm_str_t *host)
{
    const u_char *h = host->data;
    size_t n = w->name.len;

    if (w->leading) {
        /* ".example.com": "a.example.com", and "example.com" when bare */
        if (w->bare && host->len == n - 1
            && strncasecmp((const char *) h, (const char *) w->name.data + 1,
                           n - 1)
                   == 0) {
            return n;
        }
        if (host->len > n
            && strncasecmp((const char *) h + host->len - n,
                           (const char *) w->name.data, n)
                   == 0) {
            return n;
        }
        return 0;
    }
    /* "www.example.": "www.example.org" */
    if (host->len > n
        && strncasecmp((const char *) h, (const char *) w->name.data, n) == 0) {
        return n;
    }
    return 0;
}

dm_http_core_srv_conf_t *
dm_http_server_name_find(dm_array_t *servers, const dm_str_t *host,
                         dm_variable_env_t *env)
{
    dm_http_core_srv_conf_t **s = servers->elts, *lead = NULL, *trail = NULL;
    dm_http_server_name_t *w;
    dm_regex_t **re;
    dm_str_t *names;
    size_t lead_len = 0, trail_len = 0, m;
    dm_uint_t i, k;
    u_char *low;
    dm_int_t rc;

    for (i = 0; i < servers->nelts; i++) {
        names = s[i]->names.elts;
        for (k = 0; k < s[i]->names.nelts; k++) {
            if (names[k].len == host->len
                && strncasecmp((const char *) names[k].data,
                               (const char *) host->data, host->len)
                       == 0) {
                return s[i];
            }
        }
    }
    for (i = 0; i < servers->nelts; i++) {
        w = s[i]->wildcards.elts;
        for (k = 0; k < s[i]->wildcards.nelts; k++) {
            m = dm_http_server_name_wild_match(&w[k], host);
            if (m == 0) {
                continue;
            }
            if (w[k].leading && m > lead_len) {
                lead = s[i];
                lead_len = m;
            } else if (!w[k].leading && m > trail_len) {
                trail = s[i];
                trail_len = m;
            }
        }
    }
    if (lead || trail) {
        return lead ? lead : trail;
    }
    if (env == NULL) {
        return NULL;
    }
    low = NULL;
    for (i = 0; i < servers->nelts; i++) {
        re = s[i]->regexes.elts;
        for (k = 0; k < s[i]->regexes.nelts; k++) {
            if (low == NULL) {
                /* the captures point into it: the request's pool */
                low = dm_pnalloc(env->pool, host->len);
                if (low == NULL) {
                    return NULL;
                }
                dm_strlow(low, host->data, host->len);
            }
            rc = dm_regex_match_vars(env, re[k], low, host->len);
            if (rc == 1) {
                return s[i];
            }
        }
    }
    return NULL;
}
