/*
 * doorman: complex values: configuration strings with $var and ${var}
 * inside, compiled once at load into literal and variable pieces.
 */
#ifndef DM_COMPLEX_H
#define DM_COMPLEX_H

typedef struct {
    dm_str_t literal; /* text, or empty for a variable piece */
    dm_int_t index;   /* variable index, or -1 for a literal piece */
} dm_complex_part_t;

typedef struct {
    dm_str_t source;          /* as written */
    dm_complex_part_t *parts; /* in order */
    dm_uint_t nparts;
    unsigned constant:1; /* no variable: `source` is the value */
} dm_complex_value_t;

/*
 * Compiles src ("$name", "${name}" for a name followed by letters, "$1"
 * ... "$9" single digits; "$" before anything else is an error) against
 * an engine's registry. Returns DM_OK or DM_ERROR (logged with FILE:LINE).
 */
dm_int_t dm_complex_compile(dm_conf_t *cf, dm_variable_registry_t *reg,
                            const dm_str_t *src, dm_complex_value_t *cv);

/*
 * Evaluates cv for a session or request: one allocation from env->pool
 * (none for a constant). A variable without value contributes nothing.
 * Returns DM_OK or DM_ERROR (allocation failure).
 */
dm_int_t dm_complex_eval(dm_variable_env_t *env, const dm_complex_value_t *cv,
                         dm_str_t *out);

/*
 * 1 when cv uses the variable `name` of reg (compared without case): a
 * map or split_clients whose own variable would feed its key or values.
 */
int dm_complex_uses(dm_variable_registry_t *reg, const dm_complex_value_t *cv,
                    const dm_str_t *name);

#endif /* DM_COMPLEX_H */
