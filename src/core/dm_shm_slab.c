/*
 * doorman: the allocator inside a shared memory zone.
 *
 * The zone's pages are managed in runs: free runs on one list (first fit,
 * split from their tail, merged with both neighbours on free), allocated
 * runs for requests above half a page. Smaller requests are rounded up to
 * a power of two from 16 bytes and served from slab pages of that class;
 * each slab page keeps a bitmap of its chunks in its descriptor, outside
 * the memory it hands out, so a module writing past its chunk cannot
 * corrupt the allocator's lists, and a double free is detected.
 *
 * Everything is an offset or a page index: the zone may be mapped at
 * another address by the next binary. Every index read from the zone is
 * checked against the page count before it is used, so even a corrupted
 * zone never makes the allocator write outside it.
 */
#include <dm_core.h>
#include <dm_shm.h>

#define dm_shm_slab(z)     ((dm_shm_slab_t *) ((z)->addr + (z)->hdr->slab))
#define dm_shm_descs(z, s) ((dm_shm_page_t *) ((z)->addr + (s)->descs))
#define dm_shm_page_addr(z, s, i)                                              \
    ((z)->addr + (s)->pages + ((uint64_t) (i) << DM_SHM_PAGE_SHIFT))

static void dm_shm_corrupt(dm_shm_zone_t *zone, const char *what);

dm_int_t
dm_shm_slab_init(dm_shm_zone_t *zone)
{
    dm_shm_header_t *hdr = zone->hdr;
    dm_shm_page_t *d;
    dm_shm_slab_t *s;
    uint64_t descs, pages, n, size = zone->size;

    hdr->slab = dm_align((uint64_t) sizeof(dm_shm_header_t), 64);
    descs = dm_align(hdr->slab + sizeof(dm_shm_slab_t), 64);

    /* each page costs its size and a descriptor; round the start up */
    n = (size > descs)
            ? (size - descs) / (DM_SHM_PAGE_SIZE + sizeof(dm_shm_page_t))
            : 0;
    pages = dm_align(descs + n * sizeof(dm_shm_page_t), DM_SHM_PAGE_SIZE);
    if (n > 0 && pages + (n << DM_SHM_PAGE_SHIFT) > size) {
        n--;
    }
    if (n == 0 || n > UINT32_MAX - 1) {
        dm_log_error(DM_LOG_EMERG, zone->log, 0,
                     "shared memory zone \"%s\" of %zu bytes has no room "
                     "for its pages",
                     zone->name.data, zone->size);
        return DM_ERROR;
    }

    s = dm_shm_slab(zone);
    memset(s, 0, sizeof(dm_shm_slab_t));
    s->descs = descs;
    s->pages = pages;
    s->npages = (uint32_t) n;
    s->nfree = (uint32_t) n;

    /* one free run of every page; a fresh memfd is zeroed (FREE_IN) */
    d = dm_shm_descs(zone, s);
    memset(&d[0], 0, sizeof(dm_shm_page_t));
    d[0].type = DM_SHM_PAGE_FREE;
    d[0].npages = (uint32_t) n;
    if (n > 1) {
        memset(&d[n - 1], 0, sizeof(dm_shm_page_t));
        d[n - 1].type = DM_SHM_PAGE_FREE_END;
        d[n - 1].head = 0;
    }
    s->free = 1;
    return DM_OK;
}

dm_int_t
dm_shm_slab_check(dm_shm_header_t *hdr, size_t size)
{
    dm_shm_slab_t *s;
    int i;

    if (hdr->slab < sizeof(dm_shm_header_t)
        || hdr->slab > size - sizeof(dm_shm_slab_t)) {
        return DM_ERROR;
    }
    s = (dm_shm_slab_t *) ((u_char *) hdr + hdr->slab);
    if (s->descs < hdr->slab + sizeof(dm_shm_slab_t) || s->npages == 0
        || s->descs + (uint64_t) s->npages * sizeof(dm_shm_page_t) > s->pages
        || s->pages % DM_SHM_PAGE_SIZE != 0
        || s->pages + ((uint64_t) s->npages << DM_SHM_PAGE_SHIFT) > size
        || s->nfree > s->npages || s->free > s->npages) {
        return DM_ERROR;
    }
    for (i = 0; i < DM_SHM_SLAB_CLASSES; i++) {
        if (s->partial[i] > s->npages) {
            return DM_ERROR;
        }
    }
    return DM_OK;
}

/* --- lists of pages: index + 1 links, 0 ends ---------------------------- */

static void
dm_shm_list_push(dm_shm_slab_t *s, dm_shm_page_t *d, uint32_t *head, uint32_t i)
{
    if (*head > s->npages) {
        *head = 0; /* corrupted: drop the list rather than write anywhere */
    }
    d[i].prev = 0;
    d[i].next = *head;
    if (*head) {
        d[*head - 1].prev = i + 1;
    }
    *head = i + 1;
}

static void
dm_shm_list_remove(dm_shm_slab_t *s, dm_shm_page_t *d, uint32_t *head,
                   uint32_t i)
{
    uint32_t next = d[i].next, prev = d[i].prev;

    if (prev && prev <= s->npages) {
        d[prev - 1].next = next;
    } else {
        *head = next;
    }
    if (next && next <= s->npages) {
        d[next - 1].prev = prev;
    }
    d[i].next = 0;
    d[i].prev = 0;
}

/* --- runs of pages ------------------------------------------------------ */

/*
 * Takes n pages from the first free run that holds them (from its tail,
 * so the run stays where it is on the list). Returns the first page's
 * index, or -1.
 */
static int64_t
dm_shm_run_alloc(dm_shm_zone_t *zone, dm_shm_slab_t *s, uint32_t n)
{
    dm_shm_page_t *d = dm_shm_descs(zone, s);
    uint32_t link, h = 0, len, start, i, steps;

    if (n == 0 || n > s->nfree) {
        return -1;
    }
    for (link = s->free, steps = 0; link; link = d[h].next) {
        h = link - 1;
        if (link > s->npages || ++steps > s->npages
            || d[h].type != DM_SHM_PAGE_FREE || d[h].npages == 0
            || d[h].npages > s->npages - h) {
            dm_shm_corrupt(zone, "free list");
            return -1;
        }
        len = d[h].npages;
        if (len < n) {
            continue;
        }
        if (len == n) {
            dm_shm_list_remove(s, d, &s->free, h);
        } else {
            d[h].npages = len - n;
            if (len - n > 1) {
                d[h + len - n - 1].type = DM_SHM_PAGE_FREE_END;
                d[h + len - n - 1].head = h;
            }
        }
        start = h + len - n;
        for (i = 1; i < n; i++) {
            d[start + i].type = DM_SHM_PAGE_RUN_IN;
        }
        d[start].type = DM_SHM_PAGE_RUN;
        d[start].npages = n;
        d[start].next = 0;
        d[start].prev = 0;
        s->nfree -= n;
        return start;
    }
    return -1;
}

/* Returns the n pages at i to the free runs, merging with neighbours. */
static void
dm_shm_run_free(dm_shm_zone_t *zone, dm_shm_slab_t *s, uint32_t i, uint32_t n)
{
    dm_shm_page_t *d = dm_shm_descs(zone, s);
    uint32_t j, h, m;

    for (j = 0; j < n; j++) {
        d[i + j].type = DM_SHM_PAGE_FREE_IN;
    }
    s->nfree += n;

    /* the run after ours, if free, joins it */
    j = i + n;
    if (j < s->npages && d[j].type == DM_SHM_PAGE_FREE) {
        m = d[j].npages;
        if (m == 0 || m > s->npages - j) {
            dm_shm_corrupt(zone, "free run");
        } else {
            dm_shm_list_remove(s, d, &s->free, j);
            d[j].type = DM_SHM_PAGE_FREE_IN;
            n += m;
        }
    }

    /* the run before ours, if free, takes ours in */
    if (i > 0
        && (d[i - 1].type == DM_SHM_PAGE_FREE
            || d[i - 1].type == DM_SHM_PAGE_FREE_END)) {
        h = (d[i - 1].type == DM_SHM_PAGE_FREE) ? i - 1 : d[i - 1].head;
        if (h >= i || d[h].type != DM_SHM_PAGE_FREE || d[h].npages != i - h) {
            dm_shm_corrupt(zone, "free run");
        } else {
            dm_shm_list_remove(s, d, &s->free, h);
            d[i - 1].type = DM_SHM_PAGE_FREE_IN;
            n += i - h;
            i = h;
        }
    }

    d[i].type = DM_SHM_PAGE_FREE;
    d[i].npages = n;
    if (n > 1) {
        d[i + n - 1].type = DM_SHM_PAGE_FREE_END;
        d[i + n - 1].head = i;
    }
    dm_shm_list_push(s, d, &s->free, i);
}

/* --- chunks ------------------------------------------------------------- */

static void *
dm_shm_chunk_alloc(dm_shm_zone_t *zone, dm_shm_slab_t *s, uint32_t cls)
{
    dm_shm_page_t *d = dm_shm_descs(zone, s);
    uint32_t shift = DM_SHM_MIN_SHIFT + cls, nchunks, words, w, bit;
    uint64_t free_bits = 0, mask;
    int64_t p;

    nchunks = DM_SHM_PAGE_SIZE >> shift;
    words = (nchunks + 63) / 64;
    mask = (nchunks >= 64) ? ~(uint64_t) 0 : ((uint64_t) 1 << nchunks) - 1;

    if (s->partial[cls] == 0) {
        p = dm_shm_run_alloc(zone, s, 1);
        if (p < 0) {
            return NULL;
        }
        memset(&d[p], 0, sizeof(dm_shm_page_t));
        d[p].type = DM_SHM_PAGE_SLAB;
        d[p].cls = (uint16_t) cls;
        dm_shm_list_push(s, d, &s->partial[cls], (uint32_t) p);
    }
    p = s->partial[cls] - 1;
    if (p >= s->npages || d[p].type != DM_SHM_PAGE_SLAB || d[p].cls != cls
        || d[p].nused >= nchunks) {
        dm_shm_corrupt(zone, "partial list");
        return NULL;
    }

    for (w = 0; w < words; w++) {
        free_bits = ~d[p].bitmap[w] & mask;
        if (free_bits) {
            break;
        }
    }
    if (w == words) {
        dm_shm_corrupt(zone, "slab page bitmap");
        return NULL;
    }
    bit = (uint32_t) __builtin_ctzll(free_bits);
    d[p].bitmap[w] |= (uint64_t) 1 << bit;
    if (++d[p].nused == nchunks) {
        dm_shm_list_remove(s, d, &s->partial[cls], (uint32_t) p);
    }
    return dm_shm_page_addr(zone, s, p) + ((uint64_t) (w * 64 + bit) << shift);
}

void *
dm_shm_alloc_locked(dm_shm_zone_t *zone, size_t size)
{
    dm_shm_slab_t *s = dm_shm_slab(zone);
    uint32_t cls;
    int64_t p;

    if (size > DM_SHM_PAGE_SIZE / 2) {
        if (size > (uint64_t) s->npages << DM_SHM_PAGE_SHIFT) {
            s->failed++;
            return NULL;
        }
        p = dm_shm_run_alloc(
            zone, s,
            (uint32_t) ((size + DM_SHM_PAGE_SIZE - 1) >> DM_SHM_PAGE_SHIFT));
        if (p < 0) {
            s->failed++;
            return NULL;
        }
        return dm_shm_page_addr(zone, s, p);
    }

    for (cls = 0; ((size_t) 1 << (DM_SHM_MIN_SHIFT + cls)) < size; cls++) {
        /* the smallest class that holds size */
    }
    {
        void *r = dm_shm_chunk_alloc(zone, s, cls);

        if (r == NULL) {
            s->failed++;
        }
        return r;
    }
}

void *
dm_shm_alloc(dm_shm_zone_t *zone, size_t size)
{
    void *p;

    dm_shm_zone_lock(zone);
    p = dm_shm_alloc_locked(zone, size);
    dm_shm_zone_unlock(zone);
    return p;
}

void *
dm_shm_calloc(dm_shm_zone_t *zone, size_t size)
{
    void *p = dm_shm_alloc(zone, size);

    if (p) {
        memset(p, 0, size);
    }
    return p;
}

/*
 * Forgets the registered locks and counters areas in [lo, hi): their
 * memory goes back to the allocator and may become anything.
 */
static void
dm_shm_unregister(dm_shm_header_t *hdr, uint64_t lo, uint64_t hi)
{
    uint32_t i;

    for (i = 0; i < hdr->nlocks && i < DM_SHM_MAX_LOCKS;) {
        if (hdr->locks[i] >= lo && hdr->locks[i] < hi) {
            hdr->locks[i] = hdr->locks[--hdr->nlocks];
        } else {
            i++;
        }
    }
    for (i = 0; i < hdr->ncounters && i < DM_SHM_MAX_COUNTERS;) {
        if (hdr->counters[i] >= lo && hdr->counters[i] < hi) {
            hdr->counters[i] = hdr->counters[--hdr->ncounters];
        } else {
            i++;
        }
    }
}

void
dm_shm_free_locked(dm_shm_zone_t *zone, void *ptr)
{
    dm_shm_slab_t *s = dm_shm_slab(zone);
    dm_shm_page_t *d = dm_shm_descs(zone, s);
    uint64_t off, in, bitv;
    uint32_t i, shift, nchunks, bit;
    u_char *p = ptr;

    if (p == NULL) {
        return;
    }
    if (p < zone->addr + s->pages
        || (uint64_t) (p - zone->addr - s->pages)
               >= ((uint64_t) s->npages << DM_SHM_PAGE_SHIFT)) {
        goto bad;
    }
    off = (uint64_t) (p - zone->addr - s->pages);
    i = (uint32_t) (off >> DM_SHM_PAGE_SHIFT);
    in = off & (DM_SHM_PAGE_SIZE - 1);

    if (d[i].type == DM_SHM_PAGE_RUN) {
        if (in != 0 || d[i].npages == 0 || d[i].npages > s->npages - i) {
            goto bad;
        }
        dm_shm_unregister(zone->hdr, s->pages + off,
                          s->pages + off
                              + ((uint64_t) d[i].npages << DM_SHM_PAGE_SHIFT));
        dm_shm_run_free(zone, s, i, d[i].npages);
        return;
    }
    if (d[i].type != DM_SHM_PAGE_SLAB || d[i].cls >= DM_SHM_SLAB_CLASSES) {
        goto bad;
    }
    shift = DM_SHM_MIN_SHIFT + d[i].cls;
    nchunks = DM_SHM_PAGE_SIZE >> shift;
    bit = (uint32_t) (in >> shift);
    bitv = (uint64_t) 1 << (bit % 64);
    if ((in & (((uint64_t) 1 << shift) - 1)) != 0
        || !(d[i].bitmap[bit / 64] & bitv) || d[i].nused == 0) {
        goto bad;
    }
    dm_shm_unregister(zone->hdr, s->pages + off,
                      s->pages + off + ((uint64_t) 1 << shift));
    d[i].bitmap[bit / 64] &= ~bitv;
    if (d[i].nused-- == nchunks) {
        dm_shm_list_push(s, d, &s->partial[d[i].cls], i);
    }
    if (d[i].nused == 0) {
        dm_shm_list_remove(s, d, &s->partial[d[i].cls], i);
        dm_shm_run_free(zone, s, i, 1);
    }
    return;

bad:
    dm_log_error(DM_LOG_ALERT, zone->log, 0,
                 "dm_shm_free(): %p is not an allocation of shared memory "
                 "zone \"%s\" (or was freed already)",
                 ptr, zone->name.data);
}

void
dm_shm_free(dm_shm_zone_t *zone, void *p)
{
    if (p == NULL) {
        return;
    }
    dm_shm_zone_lock(zone);
    dm_shm_free_locked(zone, p);
    dm_shm_zone_unlock(zone);
}

void
dm_shm_root_set(dm_shm_zone_t *zone, void *p)
{
    zone->hdr->root = dm_shm_offset(zone, p);
}

void *
dm_shm_root(dm_shm_zone_t *zone)
{
    uint64_t off = zone->hdr->root;

    return (off == 0 || off >= zone->size) ? NULL : zone->addr + off;
}

void
dm_shm_stats(dm_shm_zone_t *zone, dm_shm_stats_t *st)
{
    dm_shm_slab_t *s = dm_shm_slab(zone);

    dm_shm_zone_lock(zone);
    st->pages = s->npages;
    st->free_pages = s->nfree;
    st->failed = (dm_uint_t) s->failed;
    dm_shm_zone_unlock(zone);
}

static void
dm_shm_corrupt(dm_shm_zone_t *zone, const char *what)
{
    dm_log_error(DM_LOG_ALERT, zone->log, 0,
                 "shared memory zone \"%s\": corrupted %s, allocation refused",
                 zone->name.data, what);
}
