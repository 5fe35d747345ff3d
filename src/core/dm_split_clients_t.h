/*
 * doorman: split_clients (A/B splits by a hash of a key), types.
 *
 * The key (a complex value) is hashed with MurmurHash2 into [0, 2^32) and
 * that range is cut into consecutive buckets, one per percentage, in the
 * order of the block, exactly as nginx cuts it: a percentage p (in
 * hundredths of a percent) adds p * 0xffffffff / 10000 (rounded down,
 * per bucket) to a running bound; a hash lands in the first bucket whose
 * bound is above it. The `*` bucket takes whatever is left.
 */
#ifndef DM_SPLIT_CLIENTS_T_H
#define DM_SPLIT_CLIENTS_T_H

/* 100% in the unit of the percentages: hundredths of a percent. */
#define DM_SPLIT_CLIENTS_TOTAL 10000

/* One bucket. */
typedef struct {
    dm_uint_t percent; /* hundredths of a percent (from 1), 0 for `*` */
    uint32_t bound;    /* hashes below it land here (cumulative; set by
                         dm_split_clients_layout); unused for `*` */
    dm_str_t value;    /* the variable's value (configuration pool) */
} dm_split_clients_part_t;

/* A split_clients block: what its variable's getter needs. */
typedef struct {
    dm_complex_value_t key;         /* STRING, hashed */
    dm_split_clients_part_t *parts; /* in the block's order */
    dm_uint_t nparts;
    dm_str_t name; /* the variable, without '$' */
} dm_split_clients_t;

#endif /* DM_SPLIT_CLIENTS_T_H */
