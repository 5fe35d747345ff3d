/*
 * doorman: the sticky_cookie module: configuration.
 *
 *   sticky cookie NAME [expires=TIME|max] [domain=D] [path=P] [httponly]
 *                      [secure] [samesite=strict|lax|none];   (upstream)
 *   sticky_secret STRING | FILE;                              (http)
 *
 * The directives are parsed and checked strictly here; peer selection and
 * the Set-Cookie filter come with the sticky_cookie issue.
 */
#include <dm_core.h>
#include <dm_http_conf.h>

#define DM_STICKY_SAMESITE_NONE   1
#define DM_STICKY_SAMESITE_LAX    2
#define DM_STICKY_SAMESITE_STRICT 3

/* 'expires=max': the far future nginx uses for "max". */
#define DM_STICKY_EXPIRES_MAX ((time_t) 0x7fffffff)

typedef struct {
    dm_str_t name;   /* cookie name; empty when sticky is not set */
    time_t expires;  /* 0: a session cookie */
    dm_str_t domain; /* Domain attribute, or empty */
    dm_str_t path;   /* Path attribute ("/" by default) */
    unsigned httponly:1;
    unsigned secure:1;
    unsigned samesite:2; /* DM_STICKY_SAMESITE_*, 0 when not sent */
} dm_sticky_cookie_srv_conf_t;

typedef struct {
    dm_str_t secret; /* sticky_secret, or empty (generated at start) */
} dm_sticky_cookie_main_conf_t;

static void *dm_sticky_cookie_create_main_conf(dm_conf_t *cf);
static void *dm_sticky_cookie_create_srv_conf(dm_conf_t *cf);
static char *dm_sticky_cookie_set(dm_conf_t *cf, const dm_command_t *cmd,
                                  void *conf);

static const dm_command_t dm_sticky_cookie_commands[] = {
    {dm_string("sticky"), DM_HTTP_UPS_CONF, DM_CONF_2MORE, dm_sticky_cookie_set,
     DM_CONF_LEVEL_SRV, 0, NULL},
    {dm_string("sticky_secret"), DM_HTTP_MAIN_CONF, DM_CONF_TAKE1,
     dm_conf_set_str_slot, DM_CONF_LEVEL_MAIN,
     offsetof(dm_sticky_cookie_main_conf_t, secret), NULL},
    dm_null_command,
};

dm_module_t dm_sticky_cookie_module = {
    .name = "sticky_cookie",
    .type = DM_MODULE_HTTP,
    .commands = dm_sticky_cookie_commands,
    .create_main_conf = dm_sticky_cookie_create_main_conf,
    .create_srv_conf = dm_sticky_cookie_create_srv_conf,
};

static void *
dm_sticky_cookie_create_main_conf(dm_conf_t *cf)
{
    return dm_pcalloc(cf->pool, sizeof(dm_sticky_cookie_main_conf_t));
}

static void *
dm_sticky_cookie_create_srv_conf(dm_conf_t *cf)
{
    return dm_pcalloc(cf->pool, sizeof(dm_sticky_cookie_srv_conf_t));
}

/* A cookie name is an RFC 6265 token. */
static int
dm_sticky_cookie_valid_name(const dm_str_t *s)
{
    size_t i;

    for (i = 0; i < s->len; i++) {
        u_char c = s->data[i];

        if (c <= 0x20 || c >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", c)) {
            return 0;
        }
    }
    return s->len > 0;
}

static int
dm_sticky_cookie_prefix(const dm_str_t *s, const char *p, dm_str_t *rest)
{
    size_t n = strlen(p);

    if (s->len < n || memcmp(s->data, p, n) != 0) {
        return 0;
    }
    rest->data = s->data + n;
    rest->len = s->len - n;
    return 1;
}

static char *
dm_sticky_cookie_set(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_sticky_cookie_srv_conf_t *scf = conf;
    dm_str_t *value = cf->args->elts, v;
    dm_uint_t i;
    int64_t sec;

    if (scf->name.len) {
        return "is duplicate";
    }
    if (!dm_str_eq(&value[1], "cookie")) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "invalid value \"%s\" in \"%s\" directive, it must "
                          "be \"cookie\"",
                          value[1].data, value[0].data);
        return DM_CONF_ERROR;
    }
    if (!dm_sticky_cookie_valid_name(&value[2])) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "invalid cookie name \"%s\" in \"%s\" directive",
                          value[2].data, value[0].data);
        return DM_CONF_ERROR;
    }
    scf->name = value[2];
    dm_str_set(&scf->path, "/");

    for (i = 3; i < cf->args->nelts; i++) {
        if (dm_sticky_cookie_prefix(&value[i], "expires=", &v)) {
            if (dm_str_eq(&v, "max")) {
                scf->expires = DM_STICKY_EXPIRES_MAX;
                continue;
            }
            sec = dm_parse_sec(v.data, v.len);
            if (sec <= 0) {
                goto invalid;
            }
            scf->expires = (time_t) sec;
        } else if (dm_sticky_cookie_prefix(&value[i], "domain=", &v)) {
            if (v.len == 0 || memchr(v.data, ';', v.len)) {
                goto invalid;
            }
            scf->domain = v;
        } else if (dm_sticky_cookie_prefix(&value[i], "path=", &v)) {
            if (v.len == 0 || v.data[0] != '/' || memchr(v.data, ';', v.len)) {
                goto invalid;
            }
            scf->path = v;
        } else if (dm_str_eq(&value[i], "httponly")) {
            scf->httponly = 1;
        } else if (dm_str_eq(&value[i], "secure")) {
            scf->secure = 1;
        } else if (dm_sticky_cookie_prefix(&value[i], "samesite=", &v)) {
            if (dm_str_caseeq(&v, "strict")) {
                scf->samesite = DM_STICKY_SAMESITE_STRICT;
            } else if (dm_str_caseeq(&v, "lax")) {
                scf->samesite = DM_STICKY_SAMESITE_LAX;
            } else if (dm_str_caseeq(&v, "none")) {
                scf->samesite = DM_STICKY_SAMESITE_NONE;
            } else {
                goto invalid;
            }
        } else {
            goto invalid;
        }
        continue;

    invalid:
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "invalid parameter \"%s\" in \"%s\" directive",
                          value[i].data, value[0].data);
        return DM_CONF_ERROR;
    }
    return DM_CONF_OK;
}
