/*
 * doorman: the `split_clients` directive, in stream and http.
 *
 *   split_clients STRING $VARIABLE {
 *       0.5%    a;          hundredths of a percent at most
 *       5%      b;
 *       *       c;          the rest (optional, last)
 *   }
 *
 * STRING is a complex value; $VARIABLE's getter evaluates it, hashes it
 * with MurmurHash2 and picks the bucket the hash falls in, as nginx does,
 * so that a key lands in the same bucket under nginx and doorman. The
 * values are plain strings (nginx's are not complex values either). When
 * the percentages leave a part of the range uncovered and there is no
 * `*`, a key that falls there gets the empty string. The value is
 * computed on first use and cached for the session or request.
 *
 * This file is engine-neutral: the engines' modules (dm_http_split_
 * clients.c, dm_stream_split_clients.c) hand it their variable registry.
 */
#include <dm_core.h>
#include <dm_murmurhash.h>
#include <dm_split_clients.h>

/*
 * split_clients whose keys use each other's variables, nested deeper
 * than this, are a loop: the variable gets no value instead of the stack
 * overflowing.
 */
#define DM_SPLIT_CLIENTS_MAX_DEPTH 32

/* The block being read. */
typedef struct {
    dm_array_t parts; /* dm_split_clients_part_t, temporary pool */
    unsigned rest:1;  /* a `*` was seen */
} dm_split_clients_ctx_t;

static char *dm_split_clients_entry(dm_conf_t *cf, const dm_command_t *dummy,
                                    void *conf);
static dm_int_t dm_split_clients_variable(dm_variable_env_t *env,
                                          dm_variable_value_t *v,
                                          uintptr_t data);

/* How deep split_clients getters are nested now (one thread per process). */
static dm_uint_t dm_split_clients_depth;

dm_int_t
dm_split_clients_percent(const u_char *data, size_t len)
{
    dm_int_t value = 0;
    dm_uint_t decimals = 0;
    int dot = 0;
    size_t i;

    if (len == 0) {
        return DM_ERROR;
    }
    for (i = 0; i < len; i++) {
        if (data[i] == '.') {
            if (dot) {
                return DM_ERROR;
            }
            dot = 1;
            continue;
        }
        if (data[i] < '0' || data[i] > '9') {
            return DM_ERROR;
        }
        /* a third decimal is refused, not rounded, as nginx */
        if (dot && ++decimals > 2) {
            return DM_ERROR;
        }
        if (value > (INTPTR_MAX - (data[i] - '0')) / 10) {
            return DM_ERROR;
        }
        value = value * 10 + (data[i] - '0');
    }
    /* "5" and "5." are 500, "0.5" is 50: scale to two decimals */
    for (; decimals < 2; decimals++) {
        if (value > INTPTR_MAX / 10) {
            return DM_ERROR;
        }
        value *= 10;
    }
    return value;
}

dm_int_t
dm_split_clients_layout(dm_split_clients_part_t *parts, dm_uint_t nparts)
{
    dm_uint_t i, sum = 0;
    uint64_t last = 0;

    for (i = 0; i < nparts; i++) {
        /* `*` takes the rest: whatever follows it is over 100% */
        if (parts[i].percent == 0) {
            sum = DM_SPLIT_CLIENTS_TOTAL;
            continue;
        }
        /* percent is at most INTPTR_MAX and sum at most 10000 here: the
           addition cannot wrap */
        sum += parts[i].percent;
        if (sum > DM_SPLIT_CLIENTS_TOTAL) {
            return DM_DECLINED;
        }
        /*
         * nginx's arithmetic, to the bit: each bucket's width is rounded
         * down on its own and the widths are summed, so that 100% ends a
         * little below 0xffffffff and the last few hashes get no bucket.
         */
        last +=
            (uint64_t) parts[i].percent * 0xffffffffu / DM_SPLIT_CLIENTS_TOTAL;
        parts[i].bound = (uint32_t) last;
    }
    return DM_OK;
}

const dm_split_clients_part_t *
dm_split_clients_find(const dm_split_clients_t *sc, uint32_t hash)
{
    dm_uint_t i;

    for (i = 0; i < sc->nparts; i++) {
        if (sc->parts[i].percent == 0 || hash < sc->parts[i].bound) {
            return &sc->parts[i];
        }
    }
    return NULL;
}

/* One line of the block: PERCENT% VALUE or * VALUE. */
static char *
dm_split_clients_entry(dm_conf_t *cf, const dm_command_t *dummy, void *conf)
{
    dm_split_clients_ctx_t *ctx = conf;
    dm_str_t *value = cf->args->elts;
    dm_split_clients_part_t *part;
    dm_int_t n;

    if (cf->args->nelts != 2) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "invalid number of the split_clients parameters");
        return DM_CONF_ERROR;
    }

    if (dm_str_eq(&value[0], "*")) {
        if (ctx->rest) {
            /* nginx accepts a second `*` that can never match: refuse
               what is certainly a mistake */
            dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                              "duplicate \"*\" split_clients parameter");
            return DM_CONF_ERROR;
        }
        ctx->rest = 1;
        n = 0;
    } else {
        if (value[0].len < 2 || value[0].data[value[0].len - 1] != '%') {
            goto invalid;
        }
        n = dm_split_clients_percent(value[0].data, value[0].len - 1);
        if (n == DM_ERROR || n == 0) {
            goto invalid;
        }
    }

    part = dm_array_push(&ctx->parts);
    if (part == NULL) {
        return DM_CONF_ERROR;
    }
    part->percent = (dm_uint_t) n;
    part->bound = 0;
    part->value.len = value[1].len;
    part->value.data = dm_pstrdup(cf->pool, &value[1]);
    if (part->value.data == NULL) {
        return DM_CONF_ERROR;
    }
    return DM_CONF_OK;

invalid:
    dm_conf_log_error(DM_LOG_EMERG, cf, 0, "invalid percent value \"%.*s\"",
                      DM_STR_ARG(value[0]));
    return DM_CONF_ERROR;
}

char *
dm_split_clients_block(dm_conf_t *cf, dm_variable_registry_t *reg)
{
    dm_str_t *value = cf->args->elts, key, name;
    dm_split_clients_ctx_t ctx;
    dm_conf_handler_pt handler;
    dm_split_clients_t *sc;
    dm_variable_t *var;
    void *handler_conf;
    dm_uint_t line, vi;
    char *rv;

    /* the block's lines reuse cf->args: keep the directive's words */
    key = value[1];
    name = value[2];
    if (name.len < 2 || name.data[0] != '$') {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0, "invalid variable name \"%.*s\"",
                          DM_STR_ARG(name));
        return DM_CONF_ERROR;
    }
    name.data++;
    name.len--;

    sc = dm_pcalloc(cf->pool, sizeof(dm_split_clients_t));
    if (sc == NULL) {
        return DM_CONF_ERROR;
    }
    sc->name = name;
    if (dm_complex_compile(cf, reg, &key, &sc->key) != DM_OK) {
        return DM_CONF_ERROR;
    }
    var = dm_variable_add(cf, reg, &name, DM_VAR_CHANGEABLE);
    if (var == NULL) {
        return DM_CONF_ERROR;
    }
    if (var->flags & DM_VAR_MATCH) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "the \"$%.*s\" variable is a regex capture",
                          DM_STR_ARG(name));
        return DM_CONF_ERROR;
    }
    /* an include in the block may declare variables: keep the position,
       not the pointer */
    vi = (dm_uint_t) (var - (dm_variable_t *) reg->vars.elts);

    memset(&ctx, 0, sizeof(ctx));
    if (dm_array_init(&ctx.parts, cf->temp_pool, 4,
                      sizeof(dm_split_clients_part_t))
        != DM_OK) {
        return DM_CONF_ERROR;
    }

    /* the block's lines go to dm_split_clients_entry (include still
       works: the dispatcher handles it before the block handler) */
    line = cf->file ? cf->file->dir_line : 0;
    handler = cf->handler;
    handler_conf = cf->handler_conf;
    cf->handler = dm_split_clients_entry;
    cf->handler_conf = &ctx;
    rv = dm_conf_parse(cf, NULL);
    cf->handler = handler;
    cf->handler_conf = handler_conf;
    if (rv != DM_CONF_OK) {
        return rv;
    }

    /* what is wrong with the block as a whole is reported at its first
       line */
    if (cf->file) {
        cf->file->dir_line = line;
    }
    if (dm_split_clients_layout(ctx.parts.elts, ctx.parts.nelts) != DM_OK) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "percent total is greater than 100%%");
        return DM_CONF_ERROR;
    }
    if (dm_complex_uses(reg, &sc->key, &name)) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "the split_clients of \"$%.*s\" uses \"$%.*s\" "
                          "itself",
                          DM_STR_ARG(name), DM_STR_ARG(name));
        return DM_CONF_ERROR;
    }

    sc->nparts = ctx.parts.nelts;
    if (sc->nparts) {
        sc->parts =
            dm_palloc(cf->pool, sc->nparts * sizeof(dm_split_clients_part_t));
        if (sc->parts == NULL) {
            return DM_CONF_ERROR;
        }
        memcpy(sc->parts, ctx.parts.elts,
               sc->nparts * sizeof(dm_split_clients_part_t));
    }

    /* a second block (or map) of the same variable replaces the first,
       as nginx */
    var = (dm_variable_t *) reg->vars.elts + vi;
    var->get = dm_split_clients_variable;
    var->data = (uintptr_t) sc;
    var->flags = DM_VAR_CHANGEABLE;
    return DM_CONF_OK;
}

/* The getter of a split_clients variable. */
static dm_int_t
dm_split_clients_variable(dm_variable_env_t *env, dm_variable_value_t *v,
                          uintptr_t data)
{
    dm_split_clients_t *sc = (dm_split_clients_t *) data;
    dm_log_t *log = env->connection ? env->connection->log : env->pool->log;
    const dm_split_clients_part_t *part;
    dm_str_t key;
    dm_int_t rc;

    if (dm_split_clients_depth >= DM_SPLIT_CLIENTS_MAX_DEPTH) {
        dm_log_error(DM_LOG_ERR, log, 0,
                     "the split_clients of \"$%.*s\" is nested deeper "
                     "than %d (keys that use each other?)",
                     DM_STR_ARG(sc->name), DM_SPLIT_CLIENTS_MAX_DEPTH);
        v->not_found = 1;
        return DM_OK;
    }
    dm_split_clients_depth++;
    rc = dm_complex_eval(env, &sc->key, &key);
    dm_split_clients_depth--;
    if (rc != DM_OK) {
        return DM_ERROR;
    }

    part = dm_split_clients_find(sc, dm_murmurhash2(key.data, key.len));
    if (part == NULL) {
        /* no bucket and no `*`: the empty string, as nginx */
        v->data = (u_char *) "";
        v->len = 0;
        return DM_OK;
    }
    v->data = part->value.data;
    v->len = part->value.len;
    return DM_OK;
}
