/*
 * doorman: the `map` directive, in stream and http.
 *
 *   map SOURCE $VARIABLE {
 *       hostnames;          keys may be wildcards (*.example.com,
 *                           .example.com, mail.*)
 *       volatile;           the result is not cached
 *       default VALUE;      when nothing matches (default: empty)
 *       KEY VALUE;          exact, case-insensitive
 *       ~REGEX VALUE;       case-sensitive regex; ~* caseless
 *       \KEY VALUE;         a plain key that starts with ~ or is a word
 *                           of the block (\default, \include)
 *       include FILE;       more entries
 *   }
 *
 * SOURCE and every VALUE are complex values. $VARIABLE's getter
 * evaluates SOURCE, looks it up (dm_map.c), records a regex's captures
 * ($1 ... $9, and named groups in their own variables) and evaluates the
 * value. A map whose variable nobody uses is never looked at: variables
 * are computed on use only.
 *
 * Both engines share this code; each has its own module descriptor so
 * that the directive is dispatched in that engine's block, and each map
 * declares its variable in that engine's registry (as dm_upstream_conf.c
 * does for upstream blocks).
 */
#include <dm_core.h>
#include <dm_map.h>
#include <dm_stream_conf.h>
#include <dm_http_conf.h>

/* Maps whose values use maps, nested deeper than this, are a loop. */
#define DM_MAP_MAX_DEPTH 32

/* A map's variable: what its getter needs (configuration pool). */
typedef struct {
    dm_map_t map;                      /* the keys */
    dm_complex_value_t source;         /* SOURCE */
    dm_complex_value_t *values;        /* by value index */
    dm_uint_t nvalues;                 /* distinct values */
    dm_complex_value_t *default_value; /* or NULL: the empty string */
    dm_str_t name;                     /* the variable, without '$' */
} dm_map_var_t;

/* The block being read. */
typedef struct {
    dm_map_var_t *mv;            /* what the block fills */
    dm_variable_registry_t *reg; /* the engine's variables */
    dm_map_builder_t builder;    /* the keys so far */
    dm_array_t values;           /* dm_complex_value_t, temporary pool */
    dm_uint_t *slots;            /* values by text: index + 1, 0 free */
    dm_uint_t mask;              /* number of slots - 1 */
    dm_int_t default_index;      /* value index of default, or -1 */
    unsigned no_cacheable:1;     /* volatile */
} dm_map_ctx_t;

static char *dm_map_block(dm_conf_t *cf, const dm_command_t *cmd, void *conf);
static char *dm_map_entry(dm_conf_t *cf, const dm_command_t *dummy, void *conf);
static dm_int_t dm_map_variable(dm_variable_env_t *env, dm_variable_value_t *v,
                                uintptr_t data);

static const dm_command_t dm_stream_map_commands[] = {
    {dm_string("map"), DM_STREAM_MAIN_CONF, DM_CONF_BLOCK | DM_CONF_TAKE2,
     dm_map_block, DM_CONF_LEVEL_MAIN, 0, NULL},
    dm_null_command,
};

dm_module_t dm_stream_map_module = {
    .name = "stream_map",
    .type = DM_MODULE_STREAM,
    .commands = dm_stream_map_commands,
};

static const dm_command_t dm_http_map_commands[] = {
    {dm_string("map"), DM_HTTP_MAIN_CONF, DM_CONF_BLOCK | DM_CONF_TAKE2,
     dm_map_block, DM_CONF_LEVEL_MAIN, 0, NULL},
    dm_null_command,
};

dm_module_t dm_http_map_module = {
    .name = "http_map",
    .type = DM_MODULE_HTTP,
    .commands = dm_http_map_commands,
};

/* How deep map getters are nested right now (one thread per process). */
static dm_uint_t dm_map_depth;

/* The registry of the engine whose block is being read. */
static dm_variable_registry_t *
dm_map_registry(dm_conf_t *cf)
{
    dm_stream_core_main_conf_t *scmcf;
    dm_http_core_main_conf_t *hcmcf;

    if (cf->module_type == DM_MODULE_HTTP) {
        hcmcf = dm_http_conf_get_main(cf->ctx, dm_http_core_module);
        return &hcmcf->variables;
    }
    scmcf = dm_stream_conf_get_main(cf->ctx, dm_stream_core_module);
    return &scmcf->variables;
}

/*
 * The slot of a value text in the block's table: the one holding it, or
 * the free one where it goes. The table is at most half full.
 */
static dm_uint_t *
dm_map_value_slot(dm_map_ctx_t *ctx, const dm_str_t *text)
{
    dm_complex_value_t *cv = ctx->values.elts, *c;
    dm_uint_t i = dm_map_hash(0, text->data, text->len) & ctx->mask;

    for (;;) {
        if (ctx->slots[i] == 0) {
            return &ctx->slots[i];
        }
        c = &cv[ctx->slots[i] - 1];
        if (c->source.len == text->len
            && memcmp(c->source.data, text->data, text->len) == 0) {
            return &ctx->slots[i];
        }
        i = (i + 1) & ctx->mask;
    }
}

static dm_int_t
dm_map_values_init(dm_conf_t *cf, dm_map_ctx_t *ctx, dm_uint_t n)
{
    dm_complex_value_t *cv = ctx->values.elts;
    dm_uint_t i;

    ctx->slots = dm_pcalloc(cf->temp_pool, n * sizeof(dm_uint_t));
    if (ctx->slots == NULL) {
        return DM_ERROR;
    }
    ctx->mask = n - 1;
    for (i = 0; i < ctx->values.nelts; i++) {
        *dm_map_value_slot(ctx, &cv[i].source) = i + 1;
    }
    return DM_OK;
}

/*
 * The index of a value text: equal texts share one compiled complex
 * value, as nginx's map shares them. Returns the index or DM_ERROR.
 */
static dm_int_t
dm_map_value(dm_conf_t *cf, dm_map_ctx_t *ctx, const dm_str_t *text)
{
    dm_complex_value_t *cv;
    dm_uint_t *slot;

    slot = dm_map_value_slot(ctx, text);
    if (*slot) {
        return (dm_int_t) (*slot - 1);
    }
    if ((ctx->values.nelts + 1) * 2 > ctx->mask + 1) {
        if (dm_map_values_init(cf, ctx, (ctx->mask + 1) * 2) != DM_OK) {
            return DM_ERROR;
        }
        slot = dm_map_value_slot(ctx, text);
    }
    cv = dm_array_push(&ctx->values);
    if (cv == NULL) {
        return DM_ERROR;
    }
    if (dm_complex_compile(cf, ctx->reg, text, cv) != DM_OK) {
        ctx->values.nelts--;
        return DM_ERROR;
    }
    *slot = ctx->values.nelts;
    return (dm_int_t) (ctx->values.nelts - 1);
}

/*
 * ~REGEX or ~*REGEX: compiled now, its named groups declared as
 * variables that a match sets.
 */
static char *
dm_map_regex(dm_conf_t *cf, dm_map_ctx_t *ctx, const dm_str_t *key,
             dm_uint_t index)
{
    dm_str_t pattern = *key;
    dm_regex_t *re;
    int caseless = 0;

    pattern.data++;
    pattern.len--;
    if (pattern.len && pattern.data[0] == '*') {
        caseless = 1;
        pattern.data++;
        pattern.len--;
    }
    re = dm_palloc(cf->pool, sizeof(dm_regex_t));
    if (re == NULL
        || dm_regex_compile_vars(cf, ctx->reg, re, &pattern, caseless)
               != DM_OK) {
        return DM_CONF_ERROR;
    }
    if (dm_map_add_regex(&ctx->builder, re, index) != DM_OK) {
        return DM_CONF_ERROR;
    }
    return DM_CONF_OK;
}

/* One line of the block (the block handler of dm_conf_handler). */
static char *
dm_map_entry(dm_conf_t *cf, const dm_command_t *dummy, void *conf)
{
    dm_map_ctx_t *ctx = conf;
    dm_str_t *value = cf->args->elts, key;
    dm_int_t index, rc;

    if (cf->args->nelts == 1 && dm_str_eq(&value[0], "hostnames")) {
        ctx->builder.hostnames = 1;
        return DM_CONF_OK;
    }
    if (cf->args->nelts == 1 && dm_str_eq(&value[0], "volatile")) {
        ctx->no_cacheable = 1;
        return DM_CONF_OK;
    }
    if (cf->args->nelts != 2) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "invalid number of the map parameters");
        return DM_CONF_ERROR;
    }

    index = dm_map_value(cf, ctx, &value[1]);
    if (index == DM_ERROR) {
        return DM_CONF_ERROR;
    }

    key = value[0];
    if (dm_str_eq(&key, "default")) {
        if (ctx->default_index != -1) {
            dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                              "duplicate default map parameter");
            return DM_CONF_ERROR;
        }
        ctx->default_index = index;
        return DM_CONF_OK;
    }
    if (key.len && key.data[0] == '~') {
        return dm_map_regex(cf, ctx, &key, (dm_uint_t) index);
    }
    if (key.len && key.data[0] == '\\') {
        key.data++;
        key.len--;
    }

    rc = dm_map_add(&ctx->builder, &key, (dm_uint_t) index);
    if (rc == DM_OK) {
        return DM_CONF_OK;
    }
    if (rc == DM_DECLINED) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "invalid hostname or wildcard \"%.*s\"",
                          DM_STR_ARG(key));
    } else if (rc == DM_BUSY) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0, "conflicting parameter \"%.*s\"",
                          DM_STR_ARG(key));
    }
    return DM_CONF_ERROR;
}

/* After the block: the map is built and the variable gets its getter. */
static char *
dm_map_finish(dm_conf_t *cf, dm_map_ctx_t *ctx, dm_variable_t *var)
{
    dm_map_var_t *mv = ctx->mv;
    dm_uint_t i;

    if (dm_map_build(&ctx->builder, &mv->map) != DM_OK) {
        return DM_CONF_ERROR;
    }
    mv->nvalues = ctx->values.nelts;
    if (mv->nvalues) {
        mv->values =
            dm_palloc(cf->pool, mv->nvalues * sizeof(dm_complex_value_t));
        if (mv->values == NULL) {
            return DM_CONF_ERROR;
        }
        memcpy(mv->values, ctx->values.elts,
               mv->nvalues * sizeof(dm_complex_value_t));
    }
    if (ctx->default_index >= 0) {
        mv->default_value = &mv->values[ctx->default_index];
    }

    if (dm_complex_uses(ctx->reg, &mv->source, &mv->name)) {
        goto loop;
    }
    for (i = 0; i < mv->nvalues; i++) {
        if (dm_complex_uses(ctx->reg, &mv->values[i], &mv->name)) {
            goto loop;
        }
    }

    /* a second map of the same variable replaces the first, as nginx */
    var->get = dm_map_variable;
    var->data = (uintptr_t) mv;
    var->flags = DM_VAR_CHANGEABLE;
    if (ctx->no_cacheable) {
        var->flags |= DM_VAR_NOCACHEABLE;
    }
    return DM_CONF_OK;

loop:
    dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                      "the map of \"$%.*s\" uses \"$%.*s\" itself",
                      DM_STR_ARG(mv->name), DM_STR_ARG(mv->name));
    return DM_CONF_ERROR;
}

static char *
dm_map_block(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_str_t *value = cf->args->elts, source, name;
    dm_conf_handler_pt handler;
    dm_variable_t *var;
    dm_map_ctx_t ctx;
    dm_uint_t line, vi;
    void *handler_conf;
    char *rv;

    /* the block's lines reuse cf->args: keep the directive's words */
    source = value[1];
    name = value[2];
    if (name.len < 2 || name.data[0] != '$') {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0, "invalid variable name \"%s\"",
                          name.data);
        return DM_CONF_ERROR;
    }
    name.data++;
    name.len--;

    memset(&ctx, 0, sizeof(ctx));
    ctx.reg = dm_map_registry(cf);
    ctx.default_index = -1;
    ctx.mv = dm_pcalloc(cf->pool, sizeof(dm_map_var_t));
    if (ctx.mv == NULL) {
        return DM_CONF_ERROR;
    }
    ctx.mv->name = name;
    if (dm_complex_compile(cf, ctx.reg, &source, &ctx.mv->source) != DM_OK) {
        return DM_CONF_ERROR;
    }
    var = dm_variable_add(cf, ctx.reg, &name, DM_VAR_CHANGEABLE);
    if (var == NULL) {
        return DM_CONF_ERROR;
    }
    if (var->flags & DM_VAR_MATCH) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "the \"$%.*s\" variable is a regex capture",
                          DM_STR_ARG(name));
        return DM_CONF_ERROR;
    }
    /* named groups declare variables: the declarations may move */
    vi = (dm_uint_t) (var - (dm_variable_t *) ctx.reg->vars.elts);
    if (dm_map_builder_init(&ctx.builder, cf->pool, cf->temp_pool) != DM_OK
        || dm_array_init(&ctx.values, cf->temp_pool, 8,
                         sizeof(dm_complex_value_t))
               != DM_OK
        || dm_map_values_init(cf, &ctx, 16) != DM_OK) {
        return DM_CONF_ERROR;
    }

    /* the block's lines go to dm_map_entry (include still works: the
       dispatcher handles it before the block handler) */
    line = cf->file ? cf->file->dir_line : 0;
    handler = cf->handler;
    handler_conf = cf->handler_conf;
    cf->handler = dm_map_entry;
    cf->handler_conf = &ctx;
    rv = dm_conf_parse(cf, NULL);
    cf->handler = handler;
    cf->handler_conf = handler_conf;
    if (rv != DM_CONF_OK) {
        return rv;
    }

    /* what is wrong with the map as a whole is reported at its first line */
    if (cf->file) {
        cf->file->dir_line = line;
    }
    var = (dm_variable_t *) ctx.reg->vars.elts + vi;
    return dm_map_finish(cf, &ctx, var);
}

/*
 * The map lookup proper: SOURCE, the key, the captures, the value.
 */
static dm_int_t
dm_map_eval(dm_variable_env_t *env, dm_map_var_t *mv, dm_str_t *out,
            dm_log_t *log)
{
    const dm_complex_value_t *cv;
    dm_variable_value_t *v;
    const dm_regex_t *re;
    dm_map_match_t m;
    dm_str_t src;
    dm_int_t rc;

    if (mv->source.nparts == 1 && mv->source.parts[0].index >= 0) {
        /* map $remote_addr ...: the variable's own bytes, no copy (they
           stay in the pool or the connection as long as env) */
        v = dm_variable_value(env, (dm_uint_t) mv->source.parts[0].index);
        if (v == NULL) {
            return DM_ERROR;
        }
        src.data = v->not_found ? (u_char *) "" : v->data;
        src.len = v->not_found ? 0 : v->len;
    } else if (dm_complex_eval(env, &mv->source, &src) != DM_OK) {
        return DM_ERROR;
    }
    rc = dm_map_find(&mv->map, src.data, src.len, &m, log);
    /* a regex that failed to run was logged: the default applies, as in
       nginx */
    cv = rc >= 0 ? &mv->values[rc] : mv->default_value;

    re = m.regex;
    if (re) {
        /* src is in the pool, the connection or the configuration: it
           outlives the captures that point into it */
        dm_regex_set_vars(env, re, src.data, m.ovector, m.npairs);
    }

    if (cv == NULL) {
        out->data = (u_char *) "";
        out->len = 0;
        return DM_OK;
    }
    return dm_complex_eval(env, cv, out);
}

/* The getter of a map's variable. */
static dm_int_t
dm_map_variable(dm_variable_env_t *env, dm_variable_value_t *v, uintptr_t data)
{
    dm_map_var_t *mv = (dm_map_var_t *) data;
    dm_log_t *log = env->connection ? env->connection->log : env->pool->log;
    dm_str_t out;
    dm_int_t rc;

    if (dm_map_depth >= DM_MAP_MAX_DEPTH) {
        /* maps that use each other in a circle: no value, no crash */
        dm_log_error(DM_LOG_ERR, log, 0,
                     "the map of \"$%.*s\" is nested deeper than %d "
                     "(maps that use each other?)",
                     DM_STR_ARG(mv->name), DM_MAP_MAX_DEPTH);
        v->not_found = 1;
        return DM_OK;
    }
    dm_map_depth++;
    rc = dm_map_eval(env, mv, &out, log);
    dm_map_depth--;
    if (rc != DM_OK) {
        return DM_ERROR;
    }
    v->data = out.data;
    v->len = out.len;
    return DM_OK;
}
