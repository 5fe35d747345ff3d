/*
 * doorman: shared memory zones, types.
 *
 * A zone is a memfd_create() mapping made by the master (DESIGN.md section
 * 1): every worker and the helper inherit it through fork(), and a binary
 * upgrade passes its descriptor through exec(), so the old and the new
 * generations update the *same* state. The new binary may map a zone at
 * another address, hence the rule of this file: nothing inside a zone is
 * a pointer; everything is an offset from the start of the zone.
 *
 * Layout of a zone (offsets from its first byte, which is page-aligned):
 *
 *   0              dm_shm_header_t   magic, versions, name, lock, tables
 *   hdr->slab      dm_shm_slab_t     the allocator's state
 *   slab->descs    dm_shm_page_t[]   one descriptor per page below
 *   slab->pages    pages             DM_SHM_PAGE_SIZE each, to the end
 */
#ifndef DM_SHM_T_H
#define DM_SHM_T_H

/* "DMSHMZON": the first 8 bytes of every zone. */
#define DM_SHM_MAGIC 0x4e4f5a4d48534d44ULL

/*
 * Format of the header and of the slab state. A binary whose layout
 * differs from the one found in an inherited zone starts that zone fresh.
 * Bump it whenever dm_shm_header_t, dm_shm_slab_t, dm_shm_page_t or
 * dm_shm_counters_t change.
 */
#define DM_SHM_LAYOUT 1

/* Longest zone name plus its NUL (names are checked at declaration). */
#define DM_SHM_NAME_LEN 64

/* Locks and counters areas a zone can register for the master. */
#define DM_SHM_MAX_LOCKS    64
#define DM_SHM_MAX_COUNTERS 64

/* Slab pages: fixed, so that the layout does not depend on the host. */
#define DM_SHM_PAGE_SHIFT 12
#define DM_SHM_PAGE_SIZE  (1 << DM_SHM_PAGE_SHIFT)

/* Size classes: 16 bytes to half a page, by powers of two. */
#define DM_SHM_MIN_SHIFT    4
#define DM_SHM_MAX_SHIFT    (DM_SHM_PAGE_SHIFT - 1)
#define DM_SHM_SLAB_CLASSES (DM_SHM_MAX_SHIFT - DM_SHM_MIN_SHIFT + 1)
/* Bitmap words of a page of the smallest class (256 chunks). */
#define DM_SHM_BITMAP_WORDS ((DM_SHM_PAGE_SIZE >> DM_SHM_MIN_SHIFT) / 64)

/* Smallest zone: header, allocator state and a few pages (as nginx). */
#define DM_SHM_MIN_SIZE (8 * DM_SHM_PAGE_SIZE)
/* Largest zone: 1 TiB, far below the allocator's 2^32 pages. */
#define DM_SHM_MAX_SIZE ((uint64_t) 1 << 40)

/*
 * Rows of a counters area: one per process that may write at the same
 * time. The master gives each child its row (dm_shm_row) before fork:
 * 2 x 128 workers (the old and the new generation overlap during a
 * reload) and the helper make 257 rows per master, and two masters share
 * the zones during a binary upgrade. Rows are free again once the master
 * has zeroed them (dm_shm_zero_row). A process that was given no row (the
 * master itself, `master_process off`) writes DM_SHM_ROW_MASTER.
 */
#define DM_SHM_ROWS       514
#define DM_SHM_ROW_MASTER (DM_SHM_ROWS - 1)

/* Zones a binary upgrade can pass to the new binary. */
#define DM_SHM_IMPORT_MAX 256

typedef struct dm_shm_zone_s dm_shm_zone_t;

/*
 * A zone's initializer, called by the master in dm_shm_zones_init() once
 * the zone is mapped: fresh = 1 for a new (zeroed) zone, 0 for a zone
 * taken over from the previous cycle or from the previous binary, whose
 * contents are kept. It sets zone->data (preset to dm_shm_root(zone), NULL
 * in a fresh zone) and returns DM_OK or DM_ERROR (the load fails).
 */
typedef dm_int_t (*dm_shm_init_pt)(dm_shm_zone_t *zone, int fresh);

/*
 * A lock in shared memory: the owner's pid, 0 when free. Only for short
 * critical sections; the master releases the locks of a process it reaps.
 */
typedef struct {
    volatile uint32_t pid; /* owner, or 0 */
    uint32_t spare;        /* keeps the lock 8 bytes; always 0 */
} dm_shm_lock_t;

/* The header at the start of every zone. */
typedef struct {
    uint64_t magic;             /* DM_SHM_MAGIC */
    uint32_t layout;            /* DM_SHM_LAYOUT of the binary that made it */
    uint32_t version;           /* the owning module's version of its data */
    uint64_t size;              /* bytes of the whole zone, header included */
    char name[DM_SHM_NAME_LEN]; /* the zone's name, NUL-terminated */
    dm_shm_lock_t lock;         /* the zone lock: allocator, tables, and
                                    whatever the module protects with it */
    uint64_t slab;              /* offset of the dm_shm_slab_t */
    uint64_t root;              /* offset of the module's root object, or 0
                                    (dm_shm_root_set) */
    uint32_t nlocks;            /* entries in use in locks[] */
    uint32_t ncounters;         /* entries in use in counters[] */
    uint64_t locks[DM_SHM_MAX_LOCKS];       /* offsets of registered locks */
    uint64_t counters[DM_SHM_MAX_COUNTERS]; /* offsets of counters areas */
} dm_shm_header_t;

/* Page descriptor types (0 is what a fresh, zeroed zone holds). */
#define DM_SHM_PAGE_FREE_IN  0 /* inside a free run, neither end */
#define DM_SHM_PAGE_FREE     1 /* first page of a free run */
#define DM_SHM_PAGE_FREE_END 2 /* last page of a free run of 2+ pages */
#define DM_SHM_PAGE_RUN      3 /* first page of an allocated run */
#define DM_SHM_PAGE_RUN_IN   4 /* other pages of an allocated run */
#define DM_SHM_PAGE_SLAB     5 /* a page cut into chunks of one class */

/* One page's descriptor. Links are page index + 1, 0 for none. */
typedef struct {
    uint32_t next;   /* next in the free list or the class's partial list */
    uint32_t prev;   /* previous in the same list */
    uint32_t npages; /* FREE and RUN: pages of the run */
    uint32_t head;   /* FREE_END: index of the run's first page */
    uint16_t type;   /* DM_SHM_PAGE_* */
    uint16_t cls;    /* SLAB: size class (chunk = 16 << cls) */
    uint32_t nused;  /* SLAB: chunks in use */
    uint64_t bitmap[DM_SHM_BITMAP_WORDS]; /* SLAB: 1 bit per chunk in use */
} dm_shm_page_t;

/* The allocator's state, at hdr->slab. */
typedef struct {
    uint64_t descs;  /* offset of the page descriptors */
    uint64_t pages;  /* offset of the first page (page-aligned) */
    uint32_t npages; /* pages the allocator manages */
    uint32_t nfree;  /* of which free (not in a run nor a slab page) */
    uint32_t free;   /* free runs list: first page index + 1, or 0 */
    uint32_t spare;  /* alignment; 0 */
    uint32_t partial[DM_SHM_SLAB_CLASSES]; /* slab pages of each class with
                                              a free chunk: index + 1 */
    uint64_t failed; /* allocations refused for lack of room */
} dm_shm_slab_t;

/* What dm_shm_stats() reports about a zone's allocator. */
typedef struct {
    dm_uint_t pages;      /* pages managed */
    dm_uint_t free_pages; /* pages not used by any allocation */
    dm_uint_t failed;     /* allocations refused since the zone was made */
} dm_shm_stats_t;

/*
 * Per-process counters summed on read: `rows` rows of `n` counters, each
 * row padded to whole cache lines (`stride` counters) so that two
 * processes never write the same line. A process writes only its own row
 * (dm_shm_row); the master zeroes the row of a process it reaps. Readers
 * sum only the rows below `used`, the high-water mark of the rows written,
 * so a sum costs a few rows, not DM_SHM_ROWS, when processes take the low
 * rows.
 */
typedef struct {
    uint32_t n;      /* counters per row */
    uint32_t rows;   /* DM_SHM_ROWS */
    uint32_t stride; /* counters from one row to the next (n rounded up) */
    uint32_t used;   /* 1 + the highest row ever written (only grows) */
    uint64_t v[] __attribute__((aligned(64))); /* v[row * stride + i] */
} dm_shm_counters_t;

/* A zone, as one cycle of one process sees it. */
struct dm_shm_zone_s {
    dm_str_t name;        /* the zone's name (NUL-terminated) */
    size_t size;          /* bytes, a multiple of DM_SHM_PAGE_SIZE; 0 while
                              only referenced (dm_shm_zone_add with 0) */
    uint32_t version;     /* the owning module's data format */
    void *tag;            /* the owner, usually its dm_module_t */
    dm_shm_init_pt init;  /* set by the owner, may be NULL */
    void *data;           /* the owner's, set in init */
    dm_log_t *log;        /* the cycle's log, for the allocator's alerts */
    int fd;               /* the memfd, or -1 before dm_shm_zones_init */
    u_char *addr;         /* its mapping, or NULL */
    dm_shm_header_t *hdr; /* at addr */
    unsigned fresh:1;     /* made by this cycle (contents are new) */
    unsigned inherited:1; /* taken over from the previous cycle or an
                               import (contents kept) */
};

/* A zone passed by the previous binary, waiting for dm_shm_zones_init. */
typedef struct {
    char name[DM_SHM_NAME_LEN]; /* as in the DOORMAN list */
    int fd;                     /* the memfd, inherited through exec */
    uint32_t version;           /* the module version in its header */
    size_t size;                /* bytes */
    u_char *addr;               /* where this process mapped it */
    unsigned taken:1;           /* claimed by a zone of the cycle */
} dm_shm_import_t;

#endif /* DM_SHM_T_H */
