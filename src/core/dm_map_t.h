/*
 * doorman: maps (the lookup behind the `map` directive), types.
 *
 * A map turns a string into the index of a value, with nginx's priority:
 * the exact key, then the longest head wildcard ("*.example.com",
 * ".example.com"), then the longest tail wildcard ("mail.*"), then the
 * first regex that matches, in file order. The map knows nothing of the
 * values themselves: the caller keeps them in an array and the map hands
 * back an index into it.
 *
 * Built once at configuration load: exact keys in an open-addressing hash
 * (power-of-two size, FNV-1a over lowercased bytes, at most half full),
 * wildcards in two sorted arrays searched by binary search. A lookup
 * allocates nothing.
 */
#ifndef DM_MAP_T_H
#define DM_MAP_T_H

/* What a key matches (dm_map_key_t.kind). */
#define DM_MAP_EXACT 0 /* the whole string: "example.com" */
#define DM_MAP_HEAD                                                            \
    1                 /* a suffix: ".example.com" (from "*.example.com"
                           or ".example.com") */
#define DM_MAP_TAIL 2 /* a prefix: "mail." (from "mail.*") */

/* One key: a hash bucket, or an element of a sorted wildcard array. */
typedef struct {
    u_char *data;    /* lowercased bytes; NULL marks a free bucket */
    size_t len;      /* their length */
    uint32_t hash;   /* dm_map_hash() of (kind, data) */
    uint32_t kind;   /* DM_MAP_EXACT, DM_MAP_HEAD or DM_MAP_TAIL */
    dm_uint_t value; /* the value index the key maps to */
} dm_map_key_t;

/* One regex key, tried in file order after every other kind. */
typedef struct {
    const dm_regex_t *regex; /* compiled (configuration pool) */
    dm_uint_t value;         /* the value index */
} dm_map_regex_t;

/* A built map (read-only once built; shared by every session). */
typedef struct {
    dm_map_key_t *buckets; /* exact keys, open addressing, or NULL */
    dm_uint_t mask;        /* number of buckets - 1 */
    dm_map_key_t *head;    /* head wildcard suffixes, sorted by bytes */
    dm_uint_t nhead;
    dm_map_key_t *tail; /* tail wildcard prefixes, sorted by bytes */
    dm_uint_t ntail;
    dm_map_regex_t *regex; /* regex keys, in the order they were added */
    dm_uint_t nregex;
    unsigned hostnames:1; /* a trailing dot of the string is ignored */
} dm_map_t;

/*
 * A map being built. Every key (all kinds mixed, tagged by kind) sits in
 * one growing open-addressing table of the temporary pool, which finds
 * duplicates as they are added; dm_map_build copies them out.
 */
typedef struct {
    dm_pool_t *pool;       /* where the built map lives */
    dm_pool_t *temp_pool;  /* the builder's own tables */
    dm_map_key_t *buckets; /* every key so far */
    dm_uint_t mask;        /* number of buckets - 1 */
    dm_uint_t nkeys[3];    /* keys of each kind (DM_MAP_EXACT ...) */
    dm_array_t regex;      /* dm_map_regex_t, in order */
    unsigned hostnames:1;  /* set by the caller: keys added from now on
                               may be wildcards, and the map ignores a
                               trailing dot (nginx's `hostnames`) */
} dm_map_builder_t;

/* What a lookup matched, beyond the value: a regex and its captures. */
typedef struct {
    const dm_regex_t *regex; /* the regex that matched, or NULL */
    dm_uint_t npairs;        /* ovector pairs set by it */
    size_t ovector[2 * DM_VAR_MAX_CAPTURES]; /* offsets into the string,
                                                (size_t) -1 when unset */
} dm_map_match_t;

#endif /* DM_MAP_T_H */
