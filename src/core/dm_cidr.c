/*
 * doorman: address rules (allow / deny by CIDR).
 */
#include <dm_core.h>
#include <dm_cidr.h>
#include <arpa/inet.h>

dm_int_t
dm_cidr_parse(dm_conf_t *cf, const dm_str_t *text, dm_cidr_rule_t *rule)
{
    char buf[INET6_ADDRSTRLEN + 8], *slash;
    int64_t bits = -1;
    size_t i, len;
    int maxbits;

    memset(rule, 0, sizeof(*rule));
    if (dm_str_eq(text, "all")) {
        rule->family = AF_UNSPEC;
        return DM_OK;
    }
    if (dm_str_eq(text, "unix:")) {
        rule->family = AF_UNIX;
        return DM_OK;
    }
    if (text->len >= sizeof(buf)) {
        goto invalid;
    }
    memcpy(buf, text->data, text->len);
    buf[text->len] = '\0';
    slash = strchr(buf, '/');
    if (slash) {
        *slash = '\0';
        bits = dm_parse_int((u_char *) slash + 1, strlen(slash + 1));
        if (bits < 0) {
            goto invalid;
        }
    }
    if (inet_pton(AF_INET, buf, rule->addr) == 1) {
        rule->family = AF_INET;
        len = 4;
    } else if (inet_pton(AF_INET6, buf, rule->addr) == 1) {
        rule->family = AF_INET6;
        len = 16;
    } else {
        goto invalid;
    }
    maxbits = (int) len * 8;
    if (bits == -1) {
        bits = maxbits;
    }
    if (bits > maxbits) {
        goto invalid;
    }
    for (i = 0; i < len; i++) {
        int b = (int) bits - (int) i * 8;

        rule->mask[i] = b >= 8 ? 0xff : b <= 0 ? 0 : (u_char) (0xff << (8 - b));
        if (rule->addr[i] & ~rule->mask[i]) {
            dm_conf_log_error(DM_LOG_WARN, cf, 0,
                              "low address bits of %.*s are meaningless",
                              DM_STR_ARG(*text));
            rule->addr[i] &= rule->mask[i];
        }
    }
    return DM_OK;

invalid:
    dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                      "invalid address or network \"%.*s\"", DM_STR_ARG(*text));
    return DM_ERROR;
}

int
dm_cidr_denied(const dm_array_t *rules, const struct sockaddr *sa, int *matched)
{
    const dm_cidr_rule_t *r;
    const u_char *a;
    size_t len, i;
    dm_uint_t k;

    *matched = 0;
    if (rules == NULL || sa == NULL) {
        return 0;
    }
    r = rules->elts;
    for (k = 0; k < rules->nelts; k++) {
        if (r[k].family == AF_UNSPEC
            || (r[k].family == AF_UNIX && sa->sa_family == AF_UNIX)) {
            *matched = 1;
            return r[k].deny;
        }
        if (r[k].family != sa->sa_family) {
            continue;
        }
        if (sa->sa_family == AF_INET) {
            a = (const u_char *) &((const struct sockaddr_in *) sa)->sin_addr;
            len = 4;
        } else if (sa->sa_family == AF_INET6) {
            a = (const u_char *) &((const struct sockaddr_in6 *) sa)->sin6_addr;
            len = 16;
        } else {
            continue;
        }
        for (i = 0; i < len; i++) {
            if ((a[i] & r[k].mask[i]) != r[k].addr[i]) {
                break;
            }
        }
        if (i == len) {
            *matched = 1;
            return r[k].deny;
        }
    }
    return 0;
}

int
dm_cidr_match(const dm_array_t *rules, const struct sockaddr *sa)
{
    int matched;

    /* the first matching rule decides in dm_cidr_denied, so any match
       at all sets `matched` */
    (void) dm_cidr_denied(rules, sa, &matched);
    return matched;
}

char *
dm_cidr_set_rule(dm_conf_t *cf, const dm_command_t *cmd, void *conf)
{
    dm_array_t **ap = (dm_array_t **) ((u_char *) conf + cmd->offset);
    dm_str_t *value = cf->args->elts;
    dm_cidr_rule_t *rule;

    if (*ap == NULL || *ap == DM_CONF_UNSET_PTR) {
        *ap = dm_array_create(cf->pool, 4, sizeof(dm_cidr_rule_t));
        if (*ap == NULL) {
            return DM_CONF_ERROR;
        }
    }
    rule = dm_array_push(*ap);
    if (rule == NULL || dm_cidr_parse(cf, &value[1], rule) != DM_OK) {
        return DM_CONF_ERROR;
    }
    rule->deny = dm_str_eq(&value[0], "deny");
    return DM_CONF_OK;
}
