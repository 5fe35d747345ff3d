/*
 * doorman: regular expressions (PCRE2).
 *
 * Patterns are compiled and JIT-compiled once, at configuration load.
 * Matching uses one match-data block per process, sized for the largest
 * capture count doorman exposes, so a match allocates nothing.
 */
#include <dm_core.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

static pcre2_match_data *dm_regex_md;

static void
dm_regex_cleanup(void *data)
{
    pcre2_code_free(data);
}

dm_int_t
dm_regex_compile(dm_conf_t *cf, dm_regex_t *re, const dm_str_t *pattern,
                 int caseless)
{
    PCRE2_UCHAR msg[256];
    PCRE2_SIZE erroff;
    PCRE2_SPTR table;
    dm_pool_cleanup_t *cln;
    pcre2_code *code;
    uint32_t n, size, i;
    int err;

    memset(re, 0, sizeof(*re));
    re->pattern = *pattern;
    code = pcre2_compile((PCRE2_SPTR) pattern->data, pattern->len,
                         caseless ? PCRE2_CASELESS : 0, &err, &erroff, NULL);
    if (code == NULL) {
        pcre2_get_error_message(err, msg, sizeof(msg));
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "invalid regex \"%.*s\": %s at offset %zu",
                          DM_STR_ARG(*pattern), (char *) msg, (size_t) erroff);
        return DM_ERROR;
    }
    cln = dm_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        pcre2_code_free(code);
        return DM_ERROR;
    }
    cln->handler = dm_regex_cleanup;
    cln->data = code;
    re->code = code;

    /* JIT where it exists; the interpreter is the fallback, not an error */
    (void) pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);

    pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &n);
    re->captures = n;
    pcre2_pattern_info(code, PCRE2_INFO_NAMECOUNT, &n);
    re->nnamed = n;
    if (n == 0) {
        return DM_OK;
    }
    pcre2_pattern_info(code, PCRE2_INFO_NAMEENTRYSIZE, &size);
    pcre2_pattern_info(code, PCRE2_INFO_NAMETABLE, &table);
    re->names = dm_pcalloc(cf->pool, n * sizeof(dm_str_t));
    re->groups = dm_pcalloc(cf->pool, n * sizeof(dm_uint_t));
    re->indexes = dm_pcalloc(cf->pool, n * sizeof(dm_int_t));
    if (!re->names || !re->groups || !re->indexes) {
        return DM_ERROR;
    }
    for (i = 0; i < n; i++) {
        const u_char *entry = table + i * size;

        /* two bytes of group number, then the NUL-terminated name */
        re->groups[i] = (dm_uint_t) (entry[0] << 8 | entry[1]);
        re->names[i].data = (u_char *) entry + 2;
        re->names[i].len = strlen((const char *) entry + 2);
        re->indexes[i] = DM_ERROR;
    }
    return DM_OK;
}

dm_int_t
dm_regex_exec(const dm_regex_t *re, const u_char *subject, size_t len,
              size_t *ovector, dm_log_t *log)
{
    PCRE2_SIZE *ov;
    int rc, i;

    if (dm_regex_md == NULL) {
        dm_regex_md = pcre2_match_data_create(DM_VAR_MAX_CAPTURES, NULL);
        if (dm_regex_md == NULL) {
            return DM_ERROR;
        }
    }
    rc = pcre2_match(re->code, (PCRE2_SPTR) subject, len, 0, 0, dm_regex_md,
                     NULL);
    if (rc == PCRE2_ERROR_NOMATCH) {
        return 0;
    }
    if (rc < 0) {
        dm_log_error(DM_LOG_ALERT, log, 0, "regex \"%.*s\" failed: %d",
                     DM_STR_ARG(re->pattern), rc);
        return DM_ERROR;
    }
    if (rc == 0) {
        /* more groups than the match data holds: the first ones are set */
        rc = DM_VAR_MAX_CAPTURES;
    }
    ov = pcre2_get_ovector_pointer(dm_regex_md);
    for (i = 0; i < 2 * rc; i++) {
        ovector[i] = ov[i] == PCRE2_UNSET ? (size_t) -1 : (size_t) ov[i];
    }
    return rc;
}

dm_int_t
dm_regex_compile_vars(dm_conf_t *cf, dm_variable_registry_t *reg,
                      dm_regex_t *re, const dm_str_t *pattern, int caseless)
{
    dm_variable_t *v;
    dm_uint_t i;

    if (dm_regex_compile(cf, re, pattern, caseless) != DM_OK) {
        return DM_ERROR;
    }
    for (i = 0; i < re->nnamed; i++) {
        if (re->groups[i] >= DM_VAR_MAX_CAPTURES) {
            dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                              "the named group \"%.*s\" is group %lu, "
                              "only groups 1 to %d are captured",
                              DM_STR_ARG(re->names[i]),
                              (unsigned long) re->groups[i],
                              DM_VAR_MAX_CAPTURES - 1);
            return DM_ERROR;
        }
        v = dm_variable_add(cf, reg, &re->names[i],
                            DM_VAR_CHANGEABLE | DM_VAR_MATCH);
        if (v == NULL) {
            return DM_ERROR;
        }
        if (!(v->flags & DM_VAR_MATCH)) {
            dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                              "the named group \"%.*s\" has the name of a "
                              "variable that is not a capture",
                              DM_STR_ARG(re->names[i]));
            return DM_ERROR;
        }
        re->indexes[i] = dm_variable_index(cf, reg, &re->names[i]);
        if (re->indexes[i] == DM_ERROR) {
            return DM_ERROR;
        }
    }
    return DM_OK;
}

void
dm_regex_set_vars(dm_variable_env_t *env, const dm_regex_t *re, u_char *subject,
                  const size_t *ovector, dm_uint_t pairs)
{
    dm_uint_t i, g;

    dm_variable_set_captures(env, subject, ovector, pairs);
    for (i = 0; i < re->nnamed; i++) {
        g = re->groups[i];
        if (g < pairs && ovector[2 * g] != (size_t) -1) {
            dm_variable_set_value(env, (dm_uint_t) re->indexes[i],
                                  subject + ovector[2 * g],
                                  ovector[2 * g + 1] - ovector[2 * g]);
        } else {
            dm_variable_set_value(env, (dm_uint_t) re->indexes[i], subject, 0);
        }
    }
}

dm_int_t
dm_regex_match_vars(dm_variable_env_t *env, const dm_regex_t *re,
                    u_char *subject, size_t len)
{
    size_t ovector[2 * DM_VAR_MAX_CAPTURES];
    dm_int_t rc;

    rc = dm_regex_exec(re, subject, len, ovector, env->connection->log);
    if (rc <= 0) {
        return rc;
    }
    dm_regex_set_vars(env, re, subject, ovector, (dm_uint_t) rc);
    return 1;
}
