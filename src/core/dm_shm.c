/*
 * doorman: shared memory zones: declaration, mapping, hand-over.
 *
 * A zone is declared while a configuration is parsed, and mapped by the
 * master once the whole configuration loaded (dm_shm_zones_init), so that
 * a configuration that fails to load maps nothing. A reload declares the
 * same zones again; each one whose size and version did not change takes
 * over the running cycle's mapping, so the old and the new generations
 * share one state. A binary upgrade passes each zone's memfd through exec
 * (dm_shm_export in the old binary, dm_shm_import in the new one); the new
 * binary maps it wherever the kernel likes, which is why nothing inside a
 * zone is a pointer.
 *
 * The master keeps one rule for the mappings: a cycle's zone either made
 * its mapping (fresh) or shares one with the cycle it replaced or with an
 * import; dm_shm_zones_release() unmaps what nobody shares any more.
 */
#include <dm_core.h>
#include <dm_shm.h>

#include <sys/mman.h>
#include <sys/syscall.h>

static dm_int_t dm_shm_zone_map(dm_shm_zone_t *z, dm_cycle_t *old);
static dm_int_t dm_shm_zone_create(dm_shm_zone_t *z);
static dm_int_t dm_shm_zone_start(dm_shm_zone_t *z, int fresh);
static void dm_shm_zone_reset(dm_shm_zone_t *z, int unmap);
static dm_int_t dm_shm_name_ok(const u_char *name, size_t len);
static const char *dm_shm_tag_name(void *tag);
static dm_shm_import_t *dm_shm_import_find(const dm_str_t *name);
static const char *dm_shm_import_parse(const char *list, dm_uint_t *n);
static void dm_shm_import_map(dm_shm_import_t *e, dm_log_t *log, int *keep);

/* Zones passed by the previous binary, until dm_shm_zones_init. */
static dm_shm_import_t dm_shm_imports[DM_SHM_IMPORT_MAX];
static dm_uint_t dm_shm_nimports;

dm_shm_zone_t *
dm_shm_zone_add(dm_conf_t *cf, const dm_str_t *name, size_t size,
                uint32_t version, void *tag)
{
    dm_cycle_t *cycle = cf->cycle;
    dm_shm_zone_t *z, **zp;

    if (dm_shm_name_ok(name->data, name->len) != DM_OK) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "invalid shared memory zone name \"%.*s\": 1 to %d "
                          "printable characters without space, \":\", \";\" "
                          "or '\"'",
                          (int) dm_min(name->len, 128),
                          name->data ? (char *) name->data : "",
                          DM_SHM_NAME_LEN - 1);
        return NULL;
    }
    if (size != 0
        && (size < DM_SHM_MIN_SIZE || (uint64_t) size > DM_SHM_MAX_SIZE)) {
        dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                          "shared memory zone \"%.*s\" of %zu bytes is too "
                          "%s, it must be between %d and %llu bytes",
                          (int) name->len, name->data, size,
                          size < DM_SHM_MIN_SIZE ? "small" : "large",
                          DM_SHM_MIN_SIZE,
                          (unsigned long long) DM_SHM_MAX_SIZE);
        return NULL;
    }
    size = dm_align(size, (size_t) DM_SHM_PAGE_SIZE);

    if (cycle->shm_zones.elts == NULL
        && dm_array_init(&cycle->shm_zones, cycle->pool, 4,
                         sizeof(dm_shm_zone_t *))
               != DM_OK) {
        return NULL;
    }

    z = dm_shm_zone_find(cycle, name);
    if (z) {
        if (z->tag != tag) {
            dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                              "shared memory zone \"%s\" is already used by "
                              "%s, it cannot be used by %s",
                              z->name.data, dm_shm_tag_name(z->tag),
                              dm_shm_tag_name(tag));
            return NULL;
        }
        if (size == 0) {
            return z;
        }
        if (z->size == 0) {
            z->size = size;
            z->version = version;
            return z;
        }
        if (z->size != size || z->version != version) {
            dm_conf_log_error(DM_LOG_EMERG, cf, 0,
                              "shared memory zone \"%s\" is already declared "
                              "with size %zu (version %u), not %zu "
                              "(version %u)",
                              z->name.data, z->size, z->version, size, version);
            return NULL;
        }
        return z;
    }

    z = dm_pcalloc(cycle->pool, sizeof(dm_shm_zone_t));
    if (z == NULL) {
        return NULL;
    }
    z->name.len = name->len;
    z->name.data = dm_pstrdup(cycle->pool, name);
    zp = z->name.data ? dm_array_push(&cycle->shm_zones) : NULL;
    if (zp == NULL) {
        return NULL;
    }
    z->size = size;
    z->version = version;
    z->tag = tag;
    z->log = cf->log;
    z->fd = -1;
    *zp = z;
    return z;
}

dm_shm_zone_t *
dm_shm_zone_find(dm_cycle_t *cycle, const dm_str_t *name)
{
    dm_shm_zone_t **zones;
    dm_uint_t i;

    if (cycle == NULL || cycle->shm_zones.elts == NULL) {
        return NULL;
    }
    zones = cycle->shm_zones.elts;
    for (i = 0; i < cycle->shm_zones.nelts; i++) {
        if (zones[i]->name.len == name->len
            && memcmp(zones[i]->name.data, name->data, name->len) == 0) {
            return zones[i];
        }
    }
    return NULL;
}

dm_int_t
dm_shm_zones_init(dm_cycle_t *cycle, dm_cycle_t *old)
{
    dm_shm_zone_t **zones = cycle->shm_zones.elts;
    dm_uint_t i, j, n;

    n = zones ? cycle->shm_zones.nelts : 0;
    for (i = 0; i < n; i++) {
        zones[i]->log = cycle->log;
        if (dm_shm_zone_map(zones[i], old) != DM_OK) {
            /* undo: what this call made goes, what it took over stays */
            for (j = 0; j < i; j++) {
                dm_shm_zone_reset(zones[j], zones[j]->fresh);
            }
            for (j = 0; j < dm_shm_nimports; j++) {
                dm_shm_imports[j].taken = 0;
            }
            return DM_ERROR;
        }
    }
    dm_shm_import_release();
    return DM_OK;
}

/* Maps one zone: takes over a matching one, or makes a fresh one. */
static dm_int_t
dm_shm_zone_map(dm_shm_zone_t *z, dm_cycle_t *old)
{
    dm_shm_zone_t *oz;
    dm_shm_import_t *imp;
    size_t size;
    uint32_t version;

    if (z->size == 0) {
        dm_log_error(DM_LOG_EMERG, z->log, 0,
                     "shared memory zone \"%s\" is used but never declared "
                     "with a size",
                     z->name.data);
        return DM_ERROR;
    }

    oz = dm_shm_zone_find(old, &z->name);
    imp = (oz == NULL) ? dm_shm_import_find(&z->name) : NULL;
    if (oz && (oz->addr == NULL || oz->tag != z->tag)) {
        oz = NULL; /* not mapped, or another owner's: nothing to keep */
    }
    if (oz == NULL && imp == NULL) {
        return dm_shm_zone_create(z);
    }

    size = oz ? oz->size : imp->size;
    version = oz ? oz->hdr->version : imp->version;
    if (size == z->size && version == z->version) {
        z->fd = oz ? oz->fd : imp->fd;
        z->addr = oz ? oz->addr : imp->addr;
        z->hdr = (dm_shm_header_t *) z->addr;
        if (imp) {
            imp->taken = 1;
        }
        return dm_shm_zone_start(z, 0);
    }

    /* one line, then the zone starts over (the old mapping is untouched) */
    if (version != z->version) {
        dm_log_error(DM_LOG_NOTICE, z->log, 0,
                     "shared memory zone \"%s\" changed version from %u to "
                     "%u, starting it fresh",
                     z->name.data, version, z->version);
    } else {
        dm_log_error(DM_LOG_NOTICE, z->log, 0,
                     "shared memory zone \"%s\" changed size from %zu to "
                     "%zu, starting it fresh",
                     z->name.data, size, z->size);
    }
    return dm_shm_zone_create(z);
}

#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U
#endif

static int
dm_shm_memfd(const char *name)
{
#if DM_HAVE_MEMFD_CREATE
    return memfd_create(name, MFD_CLOEXEC);
#elif defined(SYS_memfd_create)
    return (int) syscall(SYS_memfd_create, name, MFD_CLOEXEC);
#else
    errno = ENOSYS;
    return -1;
#endif
}

/* A new memfd of z->size bytes, mapped, with its header and allocator. */
static dm_int_t
dm_shm_zone_create(dm_shm_zone_t *z)
{
    char mname[DM_SHM_NAME_LEN + 16];
    dm_shm_header_t *hdr;
    void *addr;
    int fd;

    snprintf(mname, sizeof(mname), DM_NAME ":%s", z->name.data);
    fd = dm_shm_memfd(mname);
    if (fd == -1) {
        dm_log_error(DM_LOG_EMERG, z->log, errno, "memfd_create(\"%s\") failed",
                     mname);
        return DM_ERROR;
    }
    if (ftruncate(fd, (off_t) z->size) == -1) {
        dm_log_error(DM_LOG_EMERG, z->log, errno,
                     "ftruncate() of shared memory zone \"%s\" to %zu bytes "
                     "failed",
                     z->name.data, z->size);
        close(fd);
        return DM_ERROR;
    }
    addr = mmap(NULL, z->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (addr == MAP_FAILED) {
        dm_log_error(DM_LOG_EMERG, z->log, errno,
                     "mmap() of shared memory zone \"%s\" (%zu bytes) failed",
                     z->name.data, z->size);
        close(fd);
        return DM_ERROR;
    }

    z->fd = fd;
    z->addr = addr;
    z->hdr = hdr = addr;
    hdr->magic = DM_SHM_MAGIC;
    hdr->layout = DM_SHM_LAYOUT;
    hdr->version = z->version;
    hdr->size = z->size;
    memcpy(hdr->name, z->name.data,
           dm_min(z->name.len, (size_t) DM_SHM_NAME_LEN - 1));
    if (dm_shm_slab_init(z) != DM_OK) {
        dm_shm_zone_reset(z, 1);
        return DM_ERROR;
    }
    return dm_shm_zone_start(z, 1);
}

/* Runs the owner's init; on failure the zone is left unmapped. */
static dm_int_t
dm_shm_zone_start(dm_shm_zone_t *z, int fresh)
{
    z->fresh = fresh ? 1 : 0;
    z->inherited = fresh ? 0 : 1;
    z->data = fresh ? NULL : dm_shm_root(z);
    if (z->init && z->init(z, fresh) != DM_OK) {
        dm_log_error(DM_LOG_EMERG, z->log, 0,
                     "initialization of shared memory zone \"%s\" failed",
                     z->name.data);
        dm_shm_zone_reset(z, fresh);
        return DM_ERROR;
    }
    return DM_OK;
}

/* Forgets a zone's mapping; unmaps and closes it first when unmap != 0. */
static void
dm_shm_zone_reset(dm_shm_zone_t *z, int unmap)
{
    if (unmap && z->addr) {
        munmap(z->addr, z->size);
        close(z->fd);
    }
    z->fd = -1;
    z->addr = NULL;
    z->hdr = NULL;
    z->data = NULL;
    z->fresh = 0;
    z->inherited = 0;
}

void
dm_shm_zones_release(dm_cycle_t *old, dm_cycle_t *cycle)
{
    dm_shm_zone_t **oz, **nz;
    dm_uint_t i, j;
    int shared;

    if (old == NULL || old->shm_zones.elts == NULL) {
        return;
    }
    oz = old->shm_zones.elts;
    for (i = 0; i < old->shm_zones.nelts; i++) {
        if (oz[i]->addr == NULL) {
            continue;
        }
        shared = 0;
        if (cycle && cycle->shm_zones.elts) {
            nz = cycle->shm_zones.elts;
            for (j = 0; j < cycle->shm_zones.nelts && !shared; j++) {
                shared = (nz[j]->addr == oz[i]->addr);
            }
        }
        dm_shm_zone_reset(oz[i], !shared);
    }
}

/* --- binary upgrade ----------------------------------------------------- */

ssize_t
dm_shm_export(dm_cycle_t *cycle, char *buf, size_t len)
{
    dm_shm_zone_t **zones = cycle->shm_zones.elts;
    dm_uint_t i, n = zones ? cycle->shm_zones.nelts : 0;
    size_t used = 0;
    int w, flags;

    if (len == 0) {
        return -1;
    }
    buf[0] = '\0';
    for (i = 0; i < n; i++) {
        if (zones[i]->addr == NULL) {
            continue;
        }
        w = snprintf(buf + used, len - used, "%s:%d:%u:%zu;",
                     zones[i]->name.data, zones[i]->fd, zones[i]->version,
                     zones[i]->size);
        if (w < 0 || (size_t) w >= len - used) {
            dm_log_error(DM_LOG_ALERT, cycle->log, 0,
                         "the list of shared memory zones does not fit in "
                         "%zu bytes",
                         len);
            return -1;
        }
        used += (size_t) w;
    }

    /* only once the whole list fits: the descriptors survive exec */
    for (i = 0; i < n; i++) {
        if (zones[i]->addr == NULL) {
            continue;
        }
        flags = fcntl(zones[i]->fd, F_GETFD);
        if (flags == -1
            || fcntl(zones[i]->fd, F_SETFD, flags & ~FD_CLOEXEC) == -1) {
            dm_log_error(DM_LOG_ALERT, cycle->log, errno,
                         "fcntl(FD_CLOEXEC) of shared memory zone \"%s\" "
                         "failed",
                         zones[i]->name.data);
            return -1;
        }
    }
    return (ssize_t) used;
}

dm_int_t
dm_shm_import(const char *list, dm_log_t *log)
{
    const char *bad;
    dm_uint_t i, n, kept;
    int keep;

    n = dm_shm_nimports;
    bad = dm_shm_import_parse(list, &n);
    if (bad) {
        dm_log_error(DM_LOG_ALERT, log, 0,
                     "malformed list of inherited shared memory zones at "
                     "byte %ld: \"%.256s\"",
                     (long) (bad - list), list);
        return DM_ERROR;
    }

    /* the list is sound: check each zone, keep the good ones */
    kept = dm_shm_nimports;
    for (i = dm_shm_nimports; i < n; i++) {
        dm_shm_import_map(&dm_shm_imports[i], log, &keep);
        if (keep) {
            dm_shm_imports[kept++] = dm_shm_imports[i];
        }
    }
    dm_shm_nimports = kept;
    return DM_OK;
}

/* Parses an unsigned decimal up to `max`; returns the end or NULL. */
static const char *
dm_shm_parse_num(const char *p, uint64_t max, uint64_t *v)
{
    const char *start = p;

    *v = 0;
    while (*p >= '0' && *p <= '9') {
        if (*v > (max - (uint64_t) (*p - '0')) / 10 || p - start >= 20) {
            return NULL;
        }
        *v = *v * 10 + (uint64_t) (*p - '0');
        p++;
    }
    return (p == start) ? NULL : p;
}

/*
 * Reads the entries of `list` into dm_shm_imports from *n on. Returns NULL
 * when the whole list is well formed (*n is then the new count), or where
 * it went wrong (the table is then left as it was).
 */
static const char *
dm_shm_import_parse(const char *list, dm_uint_t *n)
{
    const char *p = list, *name, *q;
    dm_shm_import_t *e;
    uint64_t fd, version, size;
    dm_uint_t i, k = *n;
    size_t nlen;

    while (*p) {
        name = p;
        while (*p && *p != ':') {
            p++;
        }
        nlen = (size_t) (p - name);
        if (*p != ':' || dm_shm_name_ok((const u_char *) name, nlen) != DM_OK) {
            return name;
        }
        q = dm_shm_parse_num(p + 1, INT_MAX, &fd);
        if (q == NULL || *q != ':' || fd <= 2) {
            return p + 1;
        }
        p = dm_shm_parse_num(q + 1, UINT32_MAX, &version);
        if (p == NULL || *p != ':') {
            return q + 1;
        }
        q = dm_shm_parse_num(p + 1, DM_SHM_MAX_SIZE, &size);
        if (q == NULL || (*q != ';' && *q != '\0') || size < DM_SHM_MIN_SIZE
            || size % DM_SHM_PAGE_SIZE != 0) {
            return p + 1;
        }
        for (i = 0; i < k; i++) {
            e = &dm_shm_imports[i];
            if (e->fd == (int) fd
                || (strlen(e->name) == nlen
                    && memcmp(e->name, name, nlen) == 0)) {
                return name; /* the same zone or descriptor twice */
            }
        }
        if (k == DM_SHM_IMPORT_MAX) {
            return name;
        }
        e = &dm_shm_imports[k++];
        memset(e, 0, sizeof(*e));
        memcpy(e->name, name, nlen);
        e->fd = (int) fd;
        e->version = (uint32_t) version;
        e->size = (size_t) size;
        p = (*q == ';') ? q + 1 : q;
    }
    *n = k;
    return NULL;
}

/*
 * Maps an inherited zone and checks its header; *keep says whether it
 * stays. What is not a memfd is left alone (it is not ours to close); a
 * memfd with a bad header is closed and its zone starts fresh.
 */
static void
dm_shm_import_map(dm_shm_import_t *e, dm_log_t *log, int *keep)
{
    dm_shm_header_t *hdr;
    const char *why;
    struct stat st;
    void *addr;

    *keep = 0;
    if (fstat(e->fd, &st) == -1) {
        dm_log_error(DM_LOG_ALERT, log, errno,
                     "fstat() of inherited shared memory zone \"%s\" "
                     "(fd %d) failed, starting it fresh",
                     e->name, e->fd);
        return;
    }
#ifdef F_GET_SEALS
    if (!S_ISREG(st.st_mode) || fcntl(e->fd, F_GET_SEALS) == -1) {
#else
    if (!S_ISREG(st.st_mode)) {
#endif
        dm_log_error(DM_LOG_ALERT, log, 0,
                     "inherited shared memory zone \"%s\" (fd %d) is not a "
                     "memfd, starting it fresh",
                     e->name, e->fd);
        return;
    }

    addr = MAP_FAILED;
    if ((uint64_t) st.st_size != e->size) {
        why = "its size differs from the list";
    } else if ((addr = mmap(NULL, e->size, PROT_READ | PROT_WRITE, MAP_SHARED,
                            e->fd, 0))
               == MAP_FAILED) {
        why = "mmap() failed";
    } else {
        hdr = addr;
        why = NULL;
        if (hdr->magic != DM_SHM_MAGIC) {
            why = "bad magic";
        } else if (hdr->layout != DM_SHM_LAYOUT) {
            dm_log_error(DM_LOG_NOTICE, log, 0,
                         "shared memory zone \"%s\" has layout %u, this "
                         "binary uses %u, starting it fresh",
                         e->name, hdr->layout, (unsigned) DM_SHM_LAYOUT);
        } else if (hdr->size != e->size || hdr->version != e->version
                   || memchr(hdr->name, '\0', DM_SHM_NAME_LEN) == NULL
                   || strcmp(hdr->name, e->name) != 0) {
            why = "its header does not match the list";
        } else if (dm_shm_slab_check(hdr, e->size) != DM_OK) {
            why = "its allocator state is out of bounds";
        } else {
            e->addr = addr;
            fcntl(e->fd, F_SETFD, FD_CLOEXEC);
            *keep = 1;
            return;
        }
    }
    if (why) {
        dm_log_error(DM_LOG_ALERT, log, 0,
                     "inherited shared memory zone \"%s\" (fd %d) is not "
                     "valid: %s, starting it fresh",
                     e->name, e->fd, why);
    }
    if (addr != MAP_FAILED) {
        munmap(addr, e->size);
    }
    close(e->fd);
}

static dm_shm_import_t *
dm_shm_import_find(const dm_str_t *name)
{
    dm_uint_t i;

    for (i = 0; i < dm_shm_nimports; i++) {
        if (!dm_shm_imports[i].taken
            && strlen(dm_shm_imports[i].name) == name->len
            && memcmp(dm_shm_imports[i].name, name->data, name->len) == 0) {
            return &dm_shm_imports[i];
        }
    }
    return NULL;
}

void
dm_shm_import_release(void)
{
    dm_uint_t i;

    for (i = 0; i < dm_shm_nimports; i++) {
        if (!dm_shm_imports[i].taken) {
            munmap(dm_shm_imports[i].addr, dm_shm_imports[i].size);
            close(dm_shm_imports[i].fd);
        }
    }
    dm_shm_nimports = 0;
}

/* --- helpers ------------------------------------------------------------ */

static dm_int_t
dm_shm_name_ok(const u_char *name, size_t len)
{
    size_t i;

    if (len == 0 || len >= DM_SHM_NAME_LEN) {
        return DM_ERROR;
    }
    for (i = 0; i < len; i++) {
        if (name[i] <= ' ' || name[i] >= 0x7f || name[i] == ':'
            || name[i] == ';' || name[i] == '"') {
            return DM_ERROR;
        }
    }
    return DM_OK;
}

/* The name of the module a tag points to, for error messages. */
static const char *
dm_shm_tag_name(void *tag)
{
    dm_uint_t i;

    for (i = 0; dm_modules[i]; i++) {
        if ((void *) dm_modules[i] == tag) {
            return dm_modules[i]->name;
        }
    }
    return "another module";
}
