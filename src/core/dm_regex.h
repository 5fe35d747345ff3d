/*
 * doorman: regular expressions (PCRE2, JIT-compiled at load).
 */
#ifndef DM_REGEX_H
#define DM_REGEX_H

/* A compiled regex and what it exposes to variables. */
typedef struct {
    void *code;         /* pcre2_code * */
    dm_str_t pattern;   /* as written */
    dm_uint_t captures; /* capture groups, $1 ... */
    dm_uint_t nnamed;   /* named groups */
    dm_str_t *names;    /* their names, by group number order */
    dm_uint_t *groups;  /* their group numbers */
    dm_int_t *indexes;  /* their variable indexes (set by the user) */
} dm_regex_t;

/*
 * Compiles `pattern` (caseless when asked) and JIT-compiles it when the
 * platform allows. The compiled code is freed with the configuration's
 * pool. Returns DM_OK, or DM_ERROR after logging the PCRE2 error with its
 * offset in FILE:LINE.
 */
dm_int_t dm_regex_compile(dm_conf_t *cf, dm_regex_t *re,
                          const dm_str_t *pattern, int caseless);

/*
 * Matches subject against re. Returns the number of ovector pairs set
 * (>= 1) on a match, 0 when it does not match, DM_ERROR on a matching
 * error (logged). ovector must hold 2 * DM_VAR_MAX_CAPTURES entries.
 * Uses a per-process match-data block: no allocation per match.
 */
dm_int_t dm_regex_exec(const dm_regex_t *re, const u_char *subject, size_t len,
                       size_t *ovector, dm_log_t *log);

/*
 * Compiles `pattern` as dm_regex_compile, and declares each named group
 * as a capture variable of the engine (`(?<name>...)` gives $name), the
 * same way in map, server_name, location and rewrite. Only groups 1 to 9
 * are captured. Returns DM_OK or DM_ERROR (logged with FILE:LINE).
 */
dm_int_t dm_regex_compile_vars(dm_conf_t *cf, dm_variable_registry_t *reg,
                               dm_regex_t *re, const dm_str_t *pattern,
                               int caseless);

/*
 * Records a match of re over subject in env: $0 ... $9 and the named
 * groups. subject must outlive env's values (pool, connection or
 * configuration memory).
 */
void dm_regex_set_vars(dm_variable_env_t *env, const dm_regex_t *re,
                       u_char *subject, const size_t *ovector, dm_uint_t pairs);

/*
 * Matches and, on a match, records it in env (dm_regex_set_vars).
 * Returns 1 on a match, 0 when it does not match, DM_ERROR (logged).
 */
dm_int_t dm_regex_match_vars(dm_variable_env_t *env, const dm_regex_t *re,
                             u_char *subject, size_t len);

#endif /* DM_REGEX_H */
