/*
 * doorman: address rules (allow / deny by CIDR), shared by both engines.
 */
#ifndef DM_CIDR_H
#define DM_CIDR_H

/* One rule: an address and mask of a family, or every unix client. */
typedef struct {
    int family;      /* AF_INET, AF_INET6, AF_UNIX, or AF_UNSPEC: all */
    u_char addr[16]; /* network address (masked) */
    u_char mask[16]; /* the mask */
    unsigned deny:1; /* deny (1) or allow (0) */
} dm_cidr_rule_t;

/*
 * Parses "all", "unix:", an address, or ADDRESS/BITS into rule. A CIDR
 * with host bits set is accepted with a warning, as nginx does. Returns
 * DM_OK or DM_ERROR (logged with FILE:LINE).
 */
dm_int_t dm_cidr_parse(dm_conf_t *cf, const dm_str_t *text,
                       dm_cidr_rule_t *rule);

/*
 * The first rule that matches the address decides: returns 1 for deny, 0
 * for allow or when no rule matches (and *matched = 0).
 */
int dm_cidr_denied(const dm_array_t *rules, const struct sockaddr *sa,
                   int *matched);

/*
 * 1 when the address is inside one of the rules (allow or deny alike,
 * "all" and "unix:" included), 0 otherwise or when rules is NULL. For
 * lists of trusted networks such as set_real_ip_from.
 */
int dm_cidr_match(const dm_array_t *rules, const struct sockaddr *sa);

/* The allow/deny setter (an array of dm_cidr_rule_t at cmd->offset). */
char *dm_cidr_set_rule(dm_conf_t *cf, const dm_command_t *cmd, void *conf);

#endif /* DM_CIDR_H */
