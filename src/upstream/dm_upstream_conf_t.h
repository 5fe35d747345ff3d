/*
 * doorman: upstream { } blocks, types. One upstream layer serves both
 * engines (DESIGN.md section 5); only the directive tables differ.
 */
#ifndef DM_UPSTREAM_CONF_T_H
#define DM_UPSTREAM_CONF_T_H

/* One upstream { } block. */
typedef struct {
    dm_str_t name;      /* the group's name */
    dm_conf_ctx_t *ctx; /* its context: srv structures of its engine */
    dm_str_t file;      /* where it is defined, for messages */
    dm_uint_t line;
    dm_array_t *peers;                 /* dm_upstream_peer_t, while parsing */
    dm_array_t *backups;               /* the backup ones, while parsing */
    unsigned balancer_set:1;           /* a balancing method was given */
    struct dm_upstream_group_s *group; /* the built group */
} dm_upstream_srv_conf_t;

/* The upstream module's main structure, one per engine. */
typedef struct {
    dm_array_t upstreams;     /* dm_upstream_srv_conf_t *, in file order */
    dm_inet_addr_t *resolver; /* resolver ADDRESS[:PORT], NULL: none */
    dm_msec_t resolver_valid; /* resolver_valid (30s): the longest a
                                 resolved name is kept without asking */
    unsigned resolves:1;      /* some server line says resolve */
} dm_upstream_main_conf_t;

#endif /* DM_UPSTREAM_CONF_T_H */
