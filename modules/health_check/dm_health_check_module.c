/*
 * doorman: the health_check directive and the module's descriptors.
 *
 *   health_check [interval=TIME] [jitter=TIME] [timeout=TIME] [rise=N]
 *                [fall=N] [port=N] [type=tcp|http|tls] [ssl] [sni=NAME]
 *                [verify=on|off] [trusted_certificate=FILE]
 *                [initial=up|down] [uri=PATH] [method=M] [host=NAME]
 *                [header="Name: value"]... [send="TEXT"]
 *                [proxy_protocol] [proxy_protocol_version=1|2]
 *                [all_down=fail|try_all]
 *                [expect [status=LIST] [body~"REGEX"]
 *                        [header="Name: REGEX"]... | expect~"REGEX"];
 *
 * valid in the upstream blocks of both engines (one per upstream). The
 * module has one descriptor per engine, as the upstream layer does, so
 * that each engine's upstream context holds its per-upstream structure.
 *
 * A quoted value written inside a word (header="X-A: b") reaches us with
 * its quotes and, when it holds a space, split into several words: the
 * words are joined back with one space and the quotes taken off. Writing
 * the whole parameter quoted ("header=X-A: b") works too.
 */
#include <dm_core.h>
#include <dm_event.h>
#include <dm_upstream.h>
#include <openssl/ssl.h>
#include <dm_ssl.h>
#include <dm_worker.h>
#include <dm_health_check.h>

/* What a parameter parser returns for a bad value (logged by the caller
   with the parameter). */
static char dm_health_check_bad[] = "invalid";
/* ... and for a word that is not its parameter (DM_CONF_OK is NULL). */
static char dm_health_check_unknown[] = "unknown";

static void *dm_health_check_create_conf(dm_conf_t *cf);
static char *dm_health_check_directive(dm_conf_t *cf, const dm_command_t *cmd,
                                       void *conf);
static dm_int_t dm_health_check_init_module(dm_cycle_t *cycle);
static dm_int_t dm_health_check_init_process(dm_cycle_t *cycle);

static const dm_command_t dm_stream_health_check_commands[] = {
    {dm_string("health_check"), DM_STREAM_UPS_CONF, DM_CONF_ANY,
     dm_health_check_directive, DM_CONF_LEVEL_SRV, 0, NULL},
    dm_null_command,
};

static const dm_command_t dm_http_health_check_commands[] = {
    {dm_string("health_check"), DM_HTTP_UPS_CONF, DM_CONF_ANY,
     dm_health_check_directive, DM_CONF_LEVEL_SRV, 0, NULL},
    dm_null_command,
};

dm_module_t dm_stream_health_check_module = {
    .name = "stream_health_check",
    .type = DM_MODULE_STREAM,
    .commands = dm_stream_health_check_commands,
    .create_srv_conf = dm_health_check_create_conf,
    .init_module = dm_health_check_init_module,
    .init_process = dm_health_check_init_process,
};

/* The http descriptor has no process hooks: the stream one serves both
   engines, once. */
dm_module_t dm_http_health_check_module = {
    .name = "http_health_check",
    .type = DM_MODULE_HTTP,
    .commands = dm_http_health_check_commands,
    .create_srv_conf = dm_health_check_create_conf,
};

static void *
dm_health_check_create_conf(dm_conf_t *cf)
{
    return dm_pcalloc(cf->pool, sizeof(dm_health_check_conf_t));
}

dm_health_check_conf_t *
dm_health_check_conf(dm_upstream_srv_conf_t *uscf, dm_uint_t engine)
{
    dm_health_check_conf_t *hcf;
    dm_module_t *m = engine == DM_MODULE_HTTP ? &dm_http_health_check_module
                                              : &dm_stream_health_check_module;

    if (uscf->ctx == NULL || uscf->group == NULL) {
        return NULL; /* an implicit group (proxy_pass ADDRESS) */
    }
    hcf = uscf->ctx->srv_conf[m->ctx_index];
    return hcf && hcf->enabled ? hcf : NULL;
}

static dm_int_t
dm_health_check_init_module(dm_cycle_t *cycle)
{
    if (dm_health_check_prepare(cycle, DM_MODULE_STREAM) != DM_OK
        || dm_health_check_prepare(cycle, DM_MODULE_HTTP) != DM_OK) {
        return DM_ERROR;
    }
    return DM_OK;
}

static dm_int_t
dm_health_check_init_process(dm_cycle_t *cycle)
{
    /* only the helper probes: N workers must not multiply the traffic */
    if (!dm_worker_is_helper()) {
        return DM_OK;
    }
    if (dm_health_check_start(cycle, DM_MODULE_STREAM) != DM_OK
        || dm_health_check_start(cycle, DM_MODULE_HTTP) != DM_OK) {
        return DM_ERROR;
    }
    return DM_OK;
}

/*
 * The value of parameter value[*i] after its `plen`-byte prefix, quotes
 * taken off; words split by the tokenizer inside a quoted value are
 * joined back (and *i moves past them). Returns DM_OK or DM_ERROR (an
 * unterminated quote).
 */
static dm_int_t
dm_health_check_value(dm_conf_t *cf, dm_uint_t *i, size_t plen, dm_str_t *out)
{
    dm_str_t *value = cf->args->elts, v;
    dm_uint_t k;
    size_t len;
    u_char *p;

    v.data = value[*i].data + plen;
    v.len = value[*i].len - plen;
    if (v.len == 0 || v.data[0] != '"') {
        *out = v;
        return DM_OK;
    }
    if (v.len >= 2 && v.data[v.len - 1] == '"') {
        out->data = v.data + 1;
        out->len = v.len - 2;
        return DM_OK;
    }
    len = v.len - 1;
    for (k = *i + 1; k < cf->args->nelts; k++) {
        len += 1 + value[k].len;
        if (value[k].len && value[k].data[value[k].len - 1] == '"') {
            break;
        }
    }
    if (k == cf->args->nelts) {
        return DM_ERROR;
    }
    p = dm_pnalloc(cf->pool, len + 1);
    if (p == NULL) {
        return DM_ERROR;
    }
    out->data = p;
    memcpy(p, v.data + 1, v.len - 1);
    p += v.len - 1;
    for (*i = *i + 1; *i <= k; (*i)++) {
        *p++ = ' ';
        memcpy(p, value[*i].data, value[*i].len);
        p += value[*i].len;
    }
    (*i)--;
    out->len = len - 1; /* the closing quote */
    out->data[out->len] = '\0';
    return DM_OK;
}

static int
dm_health_check_param(const dm_str_t *v, const char *name)
{
    size_t n = strlen(name);

    return v->len >= n && memcmp(v->data, name, n) == 0;
}

/* Compiles a regex value into memory of the configuration. */
static dm_regex_t *
dm_health_check_regex(dm_conf_t *cf, const dm_str_t *pattern)
{
    dm_regex_t *re = dm_pcalloc(cf->pool, sizeof(dm_regex_t));

    if (re == NULL || pattern->len == 0
        || dm_regex_compile(cf, re, pattern, 0) != DM_OK) {
        return NULL;
    }
    return re;
}

/* status=200-399 | status=200,204,301-302 */
static dm_int_t
dm_health_check_status(dm_health_check_conf_t *hcf, const dm_str_t *v)
{
    const u_char *p = v->data, *end = v->data + v->len, *comma, *dash;
    int64_t lo, hi;

    hcf->nstatus = 0;
    while (p < end) {
        comma = memchr(p, ',', (size_t) (end - p));
        if (comma == NULL) {
            comma = end;
        }
        dash = memchr(p, '-', (size_t) (comma - p));
        lo = dm_parse_int(p, (size_t) ((dash ? dash : comma) - p));
        hi = dash ? dm_parse_int(dash + 1, (size_t) (comma - dash - 1)) : lo;
        if (lo < 100 || hi > 599 || hi < lo
            || hcf->nstatus == DM_HC_STATUS_MAX) {
            return DM_ERROR;
        }
        hcf->status[hcf->nstatus][0] = (dm_uint_t) lo;
        hcf->status[hcf->nstatus][1] = (dm_uint_t) hi;
        hcf->nstatus++;
        p = comma + 1;
    }
    return hcf->nstatus ? DM_OK : DM_ERROR;
}

/* An `expect` condition: status=, body~, header=, ~ (tcp). */
static char *
dm_health_check_expect(dm_conf_t *cf, dm_health_check_conf_t *hcf, dm_uint_t *i)
{
    dm_str_t *value = cf->args->elts, v;
    dm_health_check_header_t *h;
    u_char *colon;

    if (dm_health_check_param(&value[*i], "status=")) {
        if (dm_health_check_value(cf, i, 7, &v) != DM_OK
            || dm_health_check_status(hcf, &v) != DM_OK) {
            return "has an invalid \"expect status=\"";
        }
        return DM_CONF_OK;
    }
    if (dm_health_check_param(&value[*i], "body~")) {
        if (dm_health_check_value(cf, i, 5, &v) != DM_OK
            || (hcf->body = dm_health_check_regex(cf, &v)) == NULL) {
            return "has an invalid \"expect body~\"";
        }
        return DM_CONF_OK;
    }
    if (dm_health_check_param(&value[*i], "~")) {
        if (dm_health_check_value(cf, i, 1, &v) != DM_OK
            || (hcf->expect = dm_health_check_regex(cf, &v)) == NULL) {
            return "has an invalid \"expect~\"";
        }
        return DM_CONF_OK;
    }
    if (dm_health_check_param(&value[*i], "header=")) {
        if (dm_health_check_value(cf, i, 7, &v) != DM_OK
            || (colon = memchr(v.data, ':', v.len)) == NULL
            || colon == v.data) {
            return "has an invalid \"expect header=\" (\"Name: REGEX\")";
        }
        if (hcf->expect_headers == NULL) {
            hcf->expect_headers =
                dm_array_create(cf->pool, 2, sizeof(dm_health_check_header_t));
        }
        h = hcf->expect_headers ? dm_array_push(hcf->expect_headers) : NULL;
        if (h == NULL) {
            return DM_CONF_ERROR;
        }
        memset(h, 0, sizeof(*h));
        h->name.data = v.data;
        h->name.len = (size_t) (colon - v.data);
        v.len -= h->name.len + 1;
        v.data = colon + 1;
        while (v.len && (*v.data == ' ' || *v.data == '\t')) {
            v.data++;
            v.len--;
        }
        if (v.len == 0) {
            dm_str_set(&v, "^"); /* only that the header is present */
        }
        if (dm_regex_compile(cf, &h->re, &v, 0) != DM_OK) {
            return DM_CONF_ERROR;
        }
        return DM_CONF_OK;
    }
    return dm_health_check_unknown;
}

/* A time parameter; 0 allowed only where `zero` says so. */
static int
dm_health_check_time(const dm_str_t *v, size_t plen, int zero, dm_msec_t *out)
{
    int64_t n = dm_parse_msec(v->data + plen, v->len - plen);

    if (n < 0 || (n == 0 && !zero)) {
        return 0;
    }
    *out = (dm_msec_t) n;
    return 1;
}

static int
dm_health_check_num(const dm_str_t *v, size_t plen, int64_t lo, int64_t hi,
                    dm_uint_t *out)
{
    int64_t n = dm_parse_int(v->data + plen, v->len - plen);

    if (n < lo || n > hi) {
        return 0;
    }
    *out = (dm_uint_t) n;
    return 1;
}

/* The parameters that are not expect conditions: DM_CONF_OK,
   dm_health_check_unknown, dm_health_check_bad, or an error. */
static char *
dm_health_check_option(dm_conf_t *cf, dm_health_check_conf_t *hcf, dm_uint_t *i,
                       int *verify, dm_str_t *trusted)
{
    dm_str_t *value = cf->args->elts, v, *hdr;
    dm_str_t *a = &value[*i];

    if (dm_health_check_param(a, "interval=")) {
        return dm_health_check_time(a, 9, 0, &hcf->interval)
                   ? DM_CONF_OK
                   : dm_health_check_bad;
    }
    if (dm_health_check_param(a, "jitter=")) {
        return dm_health_check_time(a, 7, 1, &hcf->jitter)
                   ? DM_CONF_OK
                   : dm_health_check_bad;
    }
    if (dm_health_check_param(a, "timeout=")) {
        return dm_health_check_time(a, 8, 0, &hcf->timeout)
                   ? DM_CONF_OK
                   : dm_health_check_bad;
    }
    if (dm_health_check_param(a, "rise=")) {
        return dm_health_check_num(a, 5, 1, 1000, &hcf->rise)
                   ? DM_CONF_OK
                   : dm_health_check_bad;
    }
    if (dm_health_check_param(a, "fall=")) {
        return dm_health_check_num(a, 5, 1, 1000, &hcf->fall)
                   ? DM_CONF_OK
                   : dm_health_check_bad;
    }
    if (dm_health_check_param(a, "port=")) {
        return dm_health_check_num(a, 5, 1, 65535, &hcf->port)
                   ? DM_CONF_OK
                   : dm_health_check_bad;
    }
    if (dm_health_check_param(a, "proxy_protocol_version=")) {
        return dm_health_check_num(a, 23, 1, 2, &hcf->pp_version)
                   ? DM_CONF_OK
                   : dm_health_check_bad;
    }
    if (dm_str_eq(a, "type=tcp") || dm_str_eq(a, "type=http")
        || dm_str_eq(a, "type=tls")) {
        hcf->type = a->data[5] == 'h'   ? DM_HC_HTTP
                    : a->data[6] == 'l' ? DM_HC_TLS
                                        : DM_HC_TCP;
        return DM_CONF_OK;
    }
    if (dm_str_eq(a, "ssl")) {
        hcf->ssl = 1;
        return DM_CONF_OK;
    }
    if (dm_str_eq(a, "proxy_protocol")) {
        hcf->pp = 1;
        return DM_CONF_OK;
    }
    if (dm_str_eq(a, "initial=up") || dm_str_eq(a, "initial=down")) {
        hcf->initial_down = a->len == 12;
        return DM_CONF_OK;
    }
    if (dm_str_eq(a, "all_down=fail") || dm_str_eq(a, "all_down=try_all")) {
        hcf->all_down =
            a->len == 13 ? DM_HC_ALL_DOWN_FAIL : DM_HC_ALL_DOWN_TRY_ALL;
        return DM_CONF_OK;
    }
    if (dm_str_eq(a, "verify=on") || dm_str_eq(a, "verify=off")) {
        *verify = a->len == 9;
        return DM_CONF_OK;
    }
    if (dm_health_check_param(a, "trusted_certificate=")) {
        return dm_health_check_value(cf, i, 20, trusted) == DM_OK
                       && trusted->len
                   ? DM_CONF_OK
                   : dm_health_check_bad;
    }
    if (dm_health_check_param(a, "sni=")) {
        return dm_health_check_value(cf, i, 4, &hcf->sni) == DM_OK
                       && hcf->sni.len
                   ? DM_CONF_OK
                   : dm_health_check_bad;
    }
    if (dm_health_check_param(a, "uri=")) {
        return dm_health_check_value(cf, i, 4, &hcf->uri) == DM_OK
                       && hcf->uri.len && hcf->uri.data[0] == '/'
                   ? DM_CONF_OK
                   : dm_health_check_bad;
    }
    if (dm_health_check_param(a, "method=")) {
        return dm_health_check_value(cf, i, 7, &hcf->method) == DM_OK
                       && hcf->method.len
                   ? DM_CONF_OK
                   : dm_health_check_bad;
    }
    if (dm_health_check_param(a, "host=")) {
        return dm_health_check_value(cf, i, 5, &hcf->host) == DM_OK
                       && hcf->host.len
                   ? DM_CONF_OK
                   : dm_health_check_bad;
    }
    if (dm_health_check_param(a, "send=")) {
        return dm_health_check_value(cf, i, 5, &hcf->send) == DM_OK
                       && hcf->send.len
                   ? DM_CONF_OK
                   : dm_health_check_bad;
    }
    if (dm_health_check_param(a, "header=")) {
        if (dm_health_check_value(cf, i, 7, &v) != DM_OK
            || memchr(v.data, ':', v.len) == NULL || memchr(v.data, '\r', v.len)
            || memchr(v.data, '\n', v.len)) {
            return dm_health_check_bad;
        }
        if (hcf->headers == NULL) {
            hcf->headers = dm_array_create(cf->pool, 2, sizeof(dm_str_t));
        }
        hdr = hcf->headers ? dm_array_push(hcf->headers) : NULL;
        if (hdr == NULL) {
            return DM_CONF_ERROR;
        }
        *hdr = v;
        return DM_CONF_OK;
    }
    return dm_health_check_unknown;
}

/* After the parameters: defaults, consistency, the TLS context. */
static char *
dm_health_check_finish(dm_conf_t *cf, dm_health_check_conf_t *hcf, int type_set,
                       int verify, const dm_str_t *trusted)
{
    dm_ssl_client_conf_t prev;

    if (!type_set) {
        hcf->type = cf->module_type == DM_MODULE_HTTP ? DM_HC_HTTP : DM_HC_TCP;
    }
    if (hcf->interval == 0) {
        hcf->interval = 5000;
    }
    if (hcf->timeout == 0) {
        hcf->timeout = hcf->interval;
    }
    if (hcf->rise == 0) {
        hcf->rise = 2;
    }
    if (hcf->fall == 0) {
        hcf->fall = 3;
    }
    if (hcf->pp_version == 0) {
        hcf->pp_version = 1;
    }
    if (hcf->uri.len == 0) {
        dm_str_set(&hcf->uri, "/");
    }
    if (hcf->method.len == 0) {
        dm_str_set(&hcf->method, "GET");
    }
    if (hcf->nstatus == 0) {
        hcf->status[0][0] = 200;
        hcf->status[0][1] = 399;
        hcf->nstatus = 1;
    }
    if (hcf->type == DM_HC_TLS) {
        hcf->ssl = 1;
    }
    if (hcf->type != DM_HC_TCP && (hcf->send.len || hcf->expect)) {
        return "takes \"send=\" and \"expect~\" with \"type=tcp\" only";
    }
    if (hcf->type != DM_HC_HTTP
        && (hcf->body || hcf->expect_headers || hcf->headers)) {
        return "takes \"header=\", \"expect body~\" and \"expect header=\" "
               "with \"type=http\" only";
    }
    if (!hcf->ssl) {
        return DM_CONF_OK;
    }

    /* each probe is a full handshake: no session reuse */
    dm_ssl_client_conf_init(&prev);
    dm_ssl_client_conf_init(&hcf->tls);
    hcf->tls.enable = 1;
    hcf->tls.verify = verify;
    hcf->tls.session_reuse = 0;
    if (trusted->len) {
        hcf->tls.trusted_certificate = *trusted;
    }
    if (hcf->sni.len) {
        hcf->tls.server_name = 1;
        hcf->tls.name = hcf->sni;
    }
    return dm_ssl_client_conf_merge(cf, &prev, &hcf->tls, 1, NULL);
}

static char *
dm_health_check_directive(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_health_check_conf_t *hcf = conf;
    dm_str_t *value = cf->args->elts, trusted = dm_null_string;
    dm_uint_t i;
    int in_expect = 0, type_set = 0, verify = 0;
    char *rv;

    if (hcf->enabled) {
        return "is duplicate";
    }
    hcf->enabled = 1;

    for (i = 1; i < cf->args->nelts; i++) {
        if (dm_str_eq(&value[i], "expect")) {
            in_expect = 1;
            continue;
        }
        if (dm_health_check_param(&value[i], "expect~")) {
            value[i].data += 6;
            value[i].len -= 6;
            rv = dm_health_check_expect(cf, hcf, &i);
        } else {
            rv = in_expect ? dm_health_check_expect(cf, hcf, &i)
                           : dm_health_check_unknown;
        }
        if (rv == dm_health_check_unknown) {
            type_set |= dm_health_check_param(&value[i], "type=");
            rv = dm_health_check_option(cf, hcf, &i, &verify, &trusted);
        }
        if (rv == dm_health_check_unknown || rv == dm_health_check_bad) {
            dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                              "invalid parameter \"%s\" of \"health_check\"",
                              value[i].data);
            return DM_CONF_ERROR;
        }
        if (rv != DM_CONF_OK) {
            return rv;
        }
    }
    return dm_health_check_finish(cf, hcf, type_set, verify, &trusted);
}
