/*
 * doorman: the listen parameters every engine shares.
 */
#include <dm_core.h>
#include <dm_listen_opts.h>

void
dm_listen_opts_init(dm_listen_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->backlog = -1;
    o->rcvbuf = -1;
    o->sndbuf = -1;
    o->ipv6only = 1;
}

static int
dm_listen_opts_prefix(const dm_str_t *v, const char *name, dm_str_t *rest)
{
    size_t n = strlen(name);

    if (v->len <= n || memcmp(v->data, name, n) != 0) {
        return 0;
    }
    rest->data = v->data + n;
    rest->len = v->len - n;
    return 1;
}

/* so_keepalive=on|off|[IDLE]:[INTVL]:[CNT], each part optional. */
static dm_int_t
dm_listen_opts_keepalive(dm_listen_opts_t *o, const dm_str_t *v)
{
    u_char *p = v->data, *end = v->data + v->len, *colon;
    int64_t val;
    int part;

    if (dm_str_eq(v, "on")) {
        o->keepalive = DM_LISTENING_KEEPALIVE_ON;
        return DM_OK;
    }
    if (dm_str_eq(v, "off")) {
        o->keepalive = DM_LISTENING_KEEPALIVE_OFF;
        return DM_OK;
    }
    if (memchr(v->data, ':', v->len) == NULL) {
        return DM_ERROR;
    }
    for (part = 0; part < 3; part++) {
        colon = memchr(p, ':', (size_t) (end - p));
        if (colon == NULL) {
            colon = end;
        }
        if (colon > p) {
            val = (part == 2) ? dm_parse_int(p, (size_t) (colon - p))
                              : dm_parse_sec(p, (size_t) (colon - p));
            if (val <= 0 || val > 32767) {
                return DM_ERROR;
            }
            if (part == 0) {
                o->keepidle = (int) val;
            } else if (part == 1) {
                o->keepintvl = (int) val;
            } else {
                o->keepcnt = (int) val;
            }
        }
        if (colon == end) {
            break;
        }
        p = colon + 1;
    }
    if (p < end && part == 3) {
        return DM_ERROR; /* a fourth part */
    }
    o->keepalive = DM_LISTENING_KEEPALIVE_ON;
    return DM_OK;
}

dm_int_t
dm_listen_opts_param(const dm_str_t *value, dm_listen_opts_t *o)
{
    dm_str_t v;
    int64_t n;

    if (dm_listen_opts_prefix(value, "backlog=", &v)) {
        n = dm_parse_int(v.data, v.len);
        if (n < 1 || n > 65535) {
            return DM_ERROR;
        }
        o->backlog = (int) n;
    } else if (dm_listen_opts_prefix(value, "rcvbuf=", &v)) {
        n = dm_parse_size(v.data, v.len);
        if (n < 1 || n > INT_MAX) {
            return DM_ERROR;
        }
        o->rcvbuf = (int) n;
    } else if (dm_listen_opts_prefix(value, "sndbuf=", &v)) {
        n = dm_parse_size(v.data, v.len);
        if (n < 1 || n > INT_MAX) {
            return DM_ERROR;
        }
        o->sndbuf = (int) n;
    } else if (dm_listen_opts_prefix(value, "so_keepalive=", &v)) {
        return dm_listen_opts_keepalive(o, &v);
    } else if (dm_listen_opts_prefix(value, "ipv6only=", &v)) {
        if (dm_str_eq(&v, "on")) {
            o->ipv6only = 1;
        } else if (dm_str_eq(&v, "off")) {
            o->ipv6only = 0;
        } else {
            return DM_ERROR;
        }
    } else if (dm_str_eq(value, "deferred")) {
        o->deferred = 1;
    } else if (dm_str_eq(value, "bind")) {
        o->bind = 1;
    } else if (dm_str_eq(value, "ssl")) {
        o->ssl = 1;
    } else if (dm_str_eq(value, "proxy_protocol")) {
        o->proxy_protocol = 1;
    } else {
        return DM_DECLINED;
    }
    return DM_OK;
}

void
dm_listen_opts_apply(const dm_listen_opts_t *o, dm_listening_t *ls)
{
    if (o->backlog != -1) {
        ls->backlog = o->backlog;
    }
    ls->rcvbuf = o->rcvbuf;
    ls->sndbuf = o->sndbuf;
    ls->keepalive = o->keepalive;
    ls->keepidle = o->keepidle;
    ls->keepintvl = o->keepintvl;
    ls->keepcnt = o->keepcnt;
    ls->deferred = o->deferred;
    ls->ipv6only = o->ipv6only;
}
