/*
 * doorman: unit tests for shared memory zones (src/core/dm_shm*.c).
 *
 * Real memfds, real fork(). Covered: declaration errors and references;
 * creation and header; two zones; a second cycle taking a zone over (same
 * fd and address, data kept, init with fresh = 0); a version or size
 * change starting the zone fresh with one notice line; a failed init
 * undoing the whole call; export and import as across exec (the zones are
 * mapped again at other addresses and found through offsets; an imported
 * zone nobody claims is closed); malformed and unsound import lists; the
 * allocator (classes, alignment, double free, exhaustion, no overlap, and
 * 10,000 random operations against a shadow model); locks under two
 * processes; the master releasing a dead child's locks, and a waiter
 * releasing a lock whose owner is a zombie; per-process counters (rows
 * summed, the high-water mark) and zeroing a dead process's row. Run
 * under valgrind too (with --child-silent-after-fork=yes: the children
 * _exit without freeing their copy of the heap).
 */
#include <dm_core.h>
#include <dm_shm.h>

#include <sys/mman.h>
#include <sys/wait.h>
#include <setjmp.h>
#include <sched.h>
#include <signal.h>
#include <cmocka.h>

#define KB 1024

/* What the test zones keep at their root. */
typedef struct {
    uint64_t value;    /* written by a test, read back after a hand-over */
    uint64_t ready;    /* children start together once both are running */
    uint64_t next;     /* offset of another allocation (not a pointer) */
    dm_shm_lock_t lck; /* a registered lock */
    uint64_t counter;  /* incremented under lck by two processes */
} troot_t;

static int tag_a, tag_b;
static int init_calls, init_fresh;
static const char *init_fail;    /* name of a zone whose init fails */
static int fresh_fds[8], nfresh; /* fds of the zones inited fresh */
static dm_log_file_t log_file;
static dm_log_t test_log = {DM_LOG_INFO, &log_file, NULL, NULL, NULL, NULL};

static dm_int_t
t_init(dm_shm_zone_t *z, int fresh)
{
    troot_t *r;

    init_calls++;
    init_fresh = fresh;
    if (fresh && nfresh < (int) dm_nelems(fresh_fds)) {
        fresh_fds[nfresh++] = z->fd;
    }
    if (init_fail && strcmp((char *) z->name.data, init_fail) == 0) {
        return DM_ERROR;
    }
    if (fresh) {
        assert_null(z->data);
        r = dm_shm_calloc(z, sizeof(troot_t));
        assert_non_null(r);
        dm_shm_root_set(z, r);
        assert_int_equal(dm_shm_lock_register(z, &r->lck), DM_OK);
    } else {
        assert_ptr_equal(z->data, dm_shm_root(z));
    }
    z->data = dm_shm_root(z);
    return DM_OK;
}

/* --- helpers ------------------------------------------------------------ */

static void
log_reset(void)
{
    if (log_file.fd <= 0) {
        log_file.fd = memfd_create("testlog", MFD_CLOEXEC);
        assert_true(log_file.fd > 2);
        fcntl(log_file.fd, F_SETFL, O_APPEND);
    }
    assert_int_equal(ftruncate(log_file.fd, 0), 0);
}

/* Lines of the captured log that contain every one of the strings. */
static int
log_count(const char *a, const char *b, const char *c)
{
    static char buf[65536];
    ssize_t n = pread(log_file.fd, buf, sizeof(buf) - 1, 0);
    char *line, *save = NULL;
    int count = 0;

    assert_true(n >= 0);
    buf[n] = '\0';
    for (line = strtok_r(buf, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        count += strstr(line, a) && (!b || strstr(line, b))
                 && (!c || strstr(line, c));
    }
    return count;
}

static dm_cycle_t *
new_cycle(void)
{
    dm_pool_t *pool = dm_pool_create(DM_POOL_DEFAULT, &test_log);
    dm_cycle_t *c;

    assert_non_null(pool);
    c = dm_pcalloc(pool, sizeof(dm_cycle_t));
    assert_non_null(c);
    c->pool = pool;
    c->log = &test_log;
    return c;
}

static void
free_cycle(dm_cycle_t *c)
{
    dm_shm_zones_release(c, NULL);
    dm_pool_destroy(c->pool);
}

static dm_shm_zone_t *
add(dm_cycle_t *c, const char *name, size_t size, uint32_t version, void *tag)
{
    dm_conf_t cf;
    dm_str_t n = {strlen(name), (u_char *) name};
    dm_shm_zone_t *z;

    memset(&cf, 0, sizeof(cf));
    cf.cycle = c;
    cf.pool = c->pool;
    cf.log = &test_log;
    z = dm_shm_zone_add(&cf, &n, size, version, tag);
    if (z) {
        z->init = t_init;
    }
    return z;
}

/* One zone "name" in a new, mapped cycle (old may be NULL). */
static dm_cycle_t *
cycle_with(const char *name, size_t size, uint32_t version, dm_cycle_t *old)
{
    dm_cycle_t *c = new_cycle();

    assert_non_null(add(c, name, size, version, &tag_a));
    assert_int_equal(dm_shm_zones_init(c, old), DM_OK);
    return c;
}

static dm_shm_zone_t *
zone0(dm_cycle_t *c)
{
    return ((dm_shm_zone_t **) c->shm_zones.elts)[0];
}

static int
fd_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

/* Waits (bounded) for a child and returns its exit code, -1 if killed. */
static int
reap(pid_t pid)
{
    int i, status;

    for (i = 0; i < 6000; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

static void
check_fill(u_char *p, size_t size, u_char v)
{
    size_t i;

    for (i = 0; i < size; i++) {
        if (p[i] != v) {
            fail_msg("allocation %p byte %zu is %u, not %u", (void *) p, i,
                     p[i], v);
        }
    }
}

/* --- declaration -------------------------------------------------------- */

static void
test_zone_add(void **state)
{
    dm_cycle_t *c = new_cycle();
    dm_shm_zone_t *z, *ref;

    log_reset();
    assert_null(add(c, "", 64 * KB, 1, &tag_a));
    assert_null(add(c, "a:b", 64 * KB, 1, &tag_a));
    assert_null(add(c, "a b", 64 * KB, 1, &tag_a));
    assert_null(add(c,
                    "0123456789012345678901234567890123456789"
                    "012345678901234567890123",
                    64 * KB, 1, &tag_a));
    assert_int_equal(log_count("invalid shared memory zone name", 0, 0), 4);
    assert_null(add(c, "tiny", 4 * KB, 1, &tag_a));
    assert_int_equal(log_count("\"tiny\"", "too small", 0), 1);

    /* a reference first, then the declaration with a size */
    ref = add(c, "z", 0, 0, &tag_a);
    assert_non_null(ref);
    z = add(c, "z", 64 * KB + 1, 2, &tag_a); /* rounded up to pages */
    assert_ptr_equal(z, ref);
    assert_int_equal(z->size, 68 * KB);
    assert_ptr_equal(add(c, "z", 68 * KB, 2, &tag_a), z);
    assert_ptr_equal(add(c, "z", 0, 0, &tag_a), z);
    assert_null(add(c, "z", 128 * KB, 2, &tag_a));
    assert_int_equal(log_count("\"z\"", "69632", "131072"), 1);
    assert_null(add(c, "z", 68 * KB, 3, &tag_a));
    assert_null(add(c, "z", 68 * KB, 2, &tag_b));
    assert_int_equal(log_count("\"z\" is already used by another", 0, 0), 1);
    assert_int_equal(c->shm_zones.nelts, 1);

    /* a zone only referenced cannot be mapped */
    assert_non_null(add(c, "ghost", 0, 0, &tag_a));
    assert_int_equal(dm_shm_zones_init(c, NULL), DM_ERROR);
    assert_int_equal(log_count("\"ghost\"", "never declared", 0), 1);
    assert_null(z->addr); /* undone */
    free_cycle(c);
}

/* --- zones -------------------------------------------------------------- */

static void
test_create_two(void **state)
{
    dm_cycle_t *c = new_cycle();
    dm_shm_zone_t *a, *b;
    dm_shm_stats_t st;
    char path[64], link[128];
    ssize_t n;
    int fd;

    init_calls = 0;
    a = add(c, "one", 64 * KB, 3, &tag_a);
    b = add(c, "two", 1024 * KB, 4, &tag_b);
    assert_int_equal(dm_shm_zones_init(c, NULL), DM_OK);
    assert_int_equal(init_calls, 2);
    assert_int_equal(init_fresh, 1);
    assert_true(a->fresh && !a->inherited && b->fresh);
    assert_true(a->fd > 2 && b->fd > 2 && a->fd != b->fd);
    assert_true(fcntl(a->fd, F_GETFD) & FD_CLOEXEC);
    assert_true(a->addr != b->addr);
    assert_ptr_equal(a->hdr, a->addr);
    assert_true(a->hdr->magic == DM_SHM_MAGIC);
    assert_int_equal(a->hdr->layout, DM_SHM_LAYOUT);
    assert_int_equal(a->hdr->version, 3);
    assert_int_equal(a->hdr->size, 64 * KB);
    assert_string_equal(a->hdr->name, "one");
    assert_int_equal(b->hdr->version, 4);
    assert_int_equal(a->hdr->nlocks, 1);

    snprintf(path, sizeof(path), "/proc/self/fd/%d", a->fd);
    n = readlink(path, link, sizeof(link) - 1);
    assert_true(n > 0);
    link[n] = '\0';
    assert_non_null(strstr(link, "memfd:doorman:one"));

    /* the zones are separate */
    ((troot_t *) a->data)->value = 11;
    ((troot_t *) b->data)->value = 22;
    assert_int_equal(((troot_t *) dm_shm_root(a))->value, 11);
    dm_shm_stats(b, &st);
    assert_true(st.pages >= 250 && st.free_pages == st.pages - 1);

    fd = a->fd;
    free_cycle(c);
    assert_false(fd_open(fd));
}

static void
test_reuse(void **state)
{
    dm_cycle_t *c1 = cycle_with("r", 64 * KB, 1, NULL), *c2;
    dm_shm_zone_t *z1 = zone0(c1), *z2;

    ((troot_t *) z1->data)->value = 42;
    init_calls = 0;
    c2 = cycle_with("r", 64 * KB, 1, c1);
    z2 = zone0(c2);
    assert_int_equal(init_calls, 1);
    assert_int_equal(init_fresh, 0);
    assert_true(!z2->fresh && z2->inherited);
    assert_int_equal(z2->fd, z1->fd);
    assert_ptr_equal(z2->addr, z1->addr);
    assert_int_equal(((troot_t *) z2->data)->value, 42);
    assert_int_equal(z2->hdr->nlocks, 1); /* registered once */

    /* the retired cycle goes; the mapping stays with the new one */
    dm_shm_zones_release(c1, c2);
    assert_null(z1->addr);
    assert_true(fd_open(z2->fd));
    assert_int_equal(((troot_t *) z2->data)->value, 42);
    free_cycle(c1);
    free_cycle(c2);
}

static void
test_change(void **state)
{
    dm_cycle_t *c1 = cycle_with("v", 64 * KB, 1, NULL), *c2, *c3;
    dm_shm_zone_t *z1 = zone0(c1), *z2, *z3;

    ((troot_t *) z1->data)->value = 7;
    log_reset();
    c2 = cycle_with("v", 64 * KB, 2, c1);
    z2 = zone0(c2);
    assert_int_equal(log_count("\"v\"", "version from 1 to 2", "fresh"), 1);
    assert_int_equal(log_count("", 0, 0), 1); /* one line, nothing else */
    assert_true(z2->fresh && init_fresh == 1);
    assert_true(z2->fd != z1->fd && z2->addr != z1->addr);
    assert_int_equal(((troot_t *) z2->data)->value, 0);
    assert_int_equal(((troot_t *) z1->data)->value, 7); /* old one intact */

    log_reset();
    c3 = cycle_with("v", 128 * KB, 2, c2);
    z3 = zone0(c3);
    assert_int_equal(log_count("\"v\"", "size from 65536 to 131072", 0), 1);
    assert_true(z3->fresh && z3->addr != z2->addr);

    dm_shm_zones_release(c1, c2);
    assert_null(z1->addr);
    free_cycle(c1);
    free_cycle(c2);
    free_cycle(c3);
}

static void
test_init_failure(void **state)
{
    dm_cycle_t *c1 = cycle_with("keep", 64 * KB, 1, NULL), *c2 = new_cycle();
    dm_shm_zone_t *k, *n, *bad;

    ((troot_t *) zone0(c1)->data)->value = 5;
    k = add(c2, "keep", 64 * KB, 1, &tag_a);
    n = add(c2, "new", 64 * KB, 1, &tag_a);
    bad = add(c2, "bad", 64 * KB, 1, &tag_a);
    assert_non_null(bad);

    /* the third zone's init fails: the first two are undone */
    init_fail = "bad";
    log_reset();
    nfresh = 0;
    assert_int_equal(dm_shm_zones_init(c2, c1), DM_ERROR);
    init_fail = NULL;
    assert_int_equal(log_count("\"bad\"", "initialization", "failed"), 1);
    assert_true(k->addr == NULL && n->addr == NULL && bad->addr == NULL);
    assert_true(k->fd == -1 && n->fd == -1 && bad->fd == -1);
    assert_int_equal(nfresh, 2); /* "new" and "bad" were made, then closed */
    assert_false(fd_open(fresh_fds[0]));
    assert_false(fd_open(fresh_fds[1]));

    /* the running cycle is untouched, and a retry works */
    assert_true(fd_open(zone0(c1)->fd));
    assert_int_equal(((troot_t *) zone0(c1)->data)->value, 5);
    assert_int_equal(dm_shm_zones_init(c2, c1), DM_OK);
    assert_ptr_equal(k->addr, zone0(c1)->addr);
    dm_shm_zones_release(c2, c1); /* as an abandoned reload does */
    assert_true(fd_open(zone0(c1)->fd));
    assert_int_equal(((troot_t *) zone0(c1)->data)->value, 5);
    free_cycle(c2);
    free_cycle(c1);
}

/* --- binary upgrade ----------------------------------------------------- */

static void
test_export_import(void **state)
{
    dm_cycle_t *c1 = new_cycle(), *c2 = new_cycle();
    dm_shm_zone_t *a1, *b1, *d1, *a2, *n2;
    troot_t *r;
    uint64_t *list;
    char buf[512], expect[512];
    ssize_t len;

    a1 = add(c1, "alpha", 64 * KB, 1, &tag_a);
    b1 = add(c1, "beta", 128 * KB, 9, &tag_a);
    d1 = add(c1, "dropped", 64 * KB, 1, &tag_a);
    assert_int_equal(dm_shm_zones_init(c1, NULL), DM_OK);
    r = a1->data;
    r->value = 1234;
    list = dm_shm_alloc(a1, 3 * sizeof(uint64_t));
    list[0] = 99;
    r->next = dm_shm_offset(a1, list);

    assert_int_equal(dm_shm_export(c1, buf, 20), -1);
    len = dm_shm_export(c1, buf, sizeof(buf));
    snprintf(expect, sizeof(expect),
             "alpha:%d:1:65536;beta:%d:9:131072;dropped:%d:1:65536;", a1->fd,
             b1->fd, d1->fd);
    assert_string_equal(buf, expect);
    assert_int_equal(len, strlen(expect));
    assert_false(fcntl(a1->fd, F_GETFD) & FD_CLOEXEC);

    /* "after exec": same fds, new mappings (c1's still hold the old ones) */
    assert_int_equal(dm_shm_import(buf, &test_log), DM_OK);
    assert_true(fcntl(a1->fd, F_GETFD) & FD_CLOEXEC);
    a2 = add(c2, "alpha", 64 * KB, 1, &tag_b); /* the tag is process-local */
    assert_non_null(add(c2, "beta", 128 * KB, 10, &tag_a));
    n2 = add(c2, "newone", 64 * KB, 1, &tag_a);
    log_reset();
    assert_int_equal(dm_shm_zones_init(c2, NULL), DM_OK);
    assert_int_equal(log_count("\"beta\"", "from 9 to 10", 0), 1);

    assert_int_equal(a2->fd, a1->fd);
    assert_true(a2->inherited && !a2->fresh);
    assert_ptr_not_equal(a2->addr, a1->addr);
    r = a2->data;
    assert_int_equal(r->value, 1234);
    assert_int_equal(((uint64_t *) dm_shm_ptr(a2, r->next))[0], 99);
    r->value = 4321; /* the same memory behind both mappings */
    assert_int_equal(((troot_t *) a1->data)->value, 4321);
    assert_true(n2->fresh);
    assert_false(fd_open(d1->fd)); /* imported, unclaimed: closed */
    assert_false(fd_open(b1->fd)); /* version changed: started fresh */

    /* c1 "was the old process": forget its mappings without closing */
    munmap(a1->addr, a1->size);
    munmap(b1->addr, b1->size);
    munmap(d1->addr, d1->size);
    a1->addr = b1->addr = d1->addr = NULL;
    free_cycle(c1);
    free_cycle(c2);
}

static void
test_import_bad(void **state)
{
    static const char *bad[] = {
        "x",
        "a:1",
        "a:1:2",
        "a:1:2:x;",
        ":3:1:65536;",
        "a:-1:1:65536;",
        "a:3:1:65536;;",
        "a:3:1:65536;a:4:1:65536;",
        "a:3:1:65536;b:3:1:65536",
        "a:99999999999:1:65536;",
        "a b:3:1:65536;",
        "a:3:1:100;",
        "a:3:4294967296:65536;",
        "a:3:1:65536x",
    };
    dm_cycle_t *c = cycle_with("real", 64 * KB, 1, NULL);
    dm_shm_zone_t *z = zone0(c);
    char buf[256];
    int pfd[2], fd2;
    size_t i;

    log_reset();
    for (i = 0; i < dm_nelems(bad); i++) {
        assert_int_equal(dm_shm_import(bad[i], &test_log), DM_ERROR);
    }
    assert_int_equal(log_count("malformed", 0, 0), (int) dm_nelems(bad));
    assert_int_equal(dm_shm_import("", &test_log), DM_OK);

    /* well formed but unsound: a pipe is left open, a bad memfd closed */
    assert_int_equal(pipe(pfd), 0);
    fd2 = dup(z->fd);
    z->hdr->layout++;
    snprintf(buf, sizeof(buf), "p:%d:1:65536;real:%d:1:65536", pfd[0], fd2);
    log_reset();
    assert_int_equal(dm_shm_import(buf, &test_log), DM_OK);
    assert_int_equal(log_count("\"p\"", "not a memfd", 0), 1);
    assert_int_equal(log_count("\"real\"", "layout", "fresh"), 1);
    assert_true(fd_open(pfd[0]));
    assert_false(fd_open(fd2));
    z->hdr->layout--;

    fd2 = dup(z->fd);
    z->hdr->magic++;
    snprintf(buf, sizeof(buf), "real:%d:1:65536;", fd2);
    assert_int_equal(dm_shm_import(buf, &test_log), DM_OK);
    assert_int_equal(log_count("\"real\"", "bad magic", 0), 1);
    assert_false(fd_open(fd2));
    z->hdr->magic--;

    fd2 = dup(z->fd);
    snprintf(buf, sizeof(buf), "real:%d:1:131072;", fd2);
    assert_int_equal(dm_shm_import(buf, &test_log), DM_OK);
    assert_int_equal(log_count("\"real\"", "size differs", 0), 1);
    assert_false(fd_open(fd2));

    dm_shm_import_release(); /* nothing was kept */
    close(pfd[0]);
    close(pfd[1]);
    free_cycle(c);
}

/* --- the allocator ------------------------------------------------------ */

static void
test_slab_basic(void **state)
{
    dm_cycle_t *c = cycle_with("slab", 1024 * KB, 1, NULL);
    dm_shm_zone_t *z = zone0(c);
    static const size_t sizes[] = {0,    1,    15,   16,   17,    100,   1000,
                                   2048, 2049, 4096, 4097, 20000, 100000};
    u_char *p[dm_nelems(sizes)], *q;
    dm_shm_stats_t st0, st;
    size_t i, align;

    dm_shm_stats(z, &st0);
    for (i = 0; i < dm_nelems(sizes); i++) {
        p[i] = dm_shm_alloc(z, sizes[i]);
        assert_non_null(p[i]);
        align = sizes[i] <= 16 ? 16 : sizes[i] > 2048 ? 4096 : 1;
        while (align < sizes[i] && align < 2048) {
            align <<= 1;
        }
        assert_int_equal((uintptr_t) p[i] % align, 0);
        assert_true(p[i] >= z->addr && p[i] + sizes[i] <= z->addr + z->size);
        memset(p[i], (int) i + 1, sizes[i]);
    }
    for (i = 0; i < dm_nelems(sizes); i++) {
        check_fill(p[i], sizes[i], (u_char) (i + 1)); /* no overlap */
        dm_shm_free(z, p[i]);
    }
    dm_shm_stats(z, &st);
    assert_int_equal(st.free_pages, st0.free_pages);

    /* a double free and a foreign pointer are refused and logged */
    log_reset();
    q = dm_shm_calloc(z, 40);
    dm_shm_free(z, q);
    dm_shm_free(z, q);
    dm_shm_free(z, z->addr + 10);
    dm_shm_free(z, (u_char *) &st);
    dm_shm_free(z, NULL);
    assert_int_equal(log_count("not an allocation", "\"slab\"", 0), 3);
    dm_shm_stats(z, &st);
    assert_int_equal(st.free_pages, st0.free_pages);
    free_cycle(c);
}

static void
test_slab_exhaustion(void **state)
{
    dm_cycle_t *c = cycle_with("full", DM_SHM_MIN_SIZE, 1, NULL);
    dm_shm_zone_t *z = zone0(c);
    u_char *p[2048];
    dm_shm_stats_t st0, st;
    int n, i, j;

    dm_shm_stats(z, &st0);
    assert_null(dm_shm_alloc(z, 2 * DM_SHM_MIN_SIZE));
    for (n = 0; n < 2048; n++) {
        p[n] = dm_shm_alloc(z, DM_SHM_PAGE_SIZE);
        if (p[n] == NULL) {
            break;
        }
    }
    assert_int_equal(n, (int) st0.free_pages);
    assert_null(dm_shm_alloc(z, 16));
    dm_shm_stats(z, &st);
    assert_int_equal(st.free_pages, 0);
    assert_true(st.failed >= 3);
    for (i = 0; i < n; i++) {
        dm_shm_free(z, p[i]);
    }

    /* small chunks until full: distinct, inside the zone, no overlap */
    for (n = 0; n < 2048; n++) {
        p[n] = dm_shm_alloc(z, 16);
        if (p[n] == NULL) {
            break;
        }
        assert_true(p[n] >= z->addr && p[n] + 16 <= z->addr + z->size);
        memset(p[n], n & 0xff, 16);
    }
    assert_true(n > 0 && n < 2048);
    assert_int_equal(n, (int) st0.free_pages * (DM_SHM_PAGE_SIZE / 16));
    for (i = 0; i < n; i++) {
        for (j = 0; j < 16; j++) {
            assert_int_equal(p[i][j], i & 0xff);
        }
        dm_shm_free(z, p[i]);
    }
    dm_shm_stats(z, &st);
    assert_int_equal(st.free_pages, st0.free_pages);
    free_cycle(c);
}

/* A tiny deterministic generator, so a failure can be replayed. */
static uint32_t
rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t) (*s >> 33);
}

static void
test_slab_random(void **state)
{
    enum { LIVE = 400, OPS = 10000 };
    dm_cycle_t *c = cycle_with("rand", 2048 * KB, 1, NULL);
    dm_shm_zone_t *z = zone0(c);
    struct {
        u_char *p;
        size_t size;
    } live[LIVE];
    dm_shm_stats_t st0, st;
    uint64_t seed = 20240601;
    int op, k, nulls = 0;
    size_t size;

    memset(live, 0, sizeof(live));
    dm_shm_stats(z, &st0);
    for (op = 0; op < OPS; op++) {
        k = (int) (rnd(&seed) % LIVE);
        if (live[k].p) {
            check_fill(live[k].p, live[k].size, (u_char) k);
            dm_shm_free(z, live[k].p);
            live[k].p = NULL;
            continue;
        }
        size = rnd(&seed) % 16 == 0 ? 1 + rnd(&seed) % 40000
                                    : 1 + rnd(&seed) % 3000;
        live[k].p = dm_shm_alloc(z, size);
        if (live[k].p == NULL) {
            nulls++; /* full is allowed, writing outside is not */
            continue;
        }
        assert_true(live[k].p >= z->addr
                    && live[k].p + size <= z->addr + z->size);
        live[k].size = size;
        memset(live[k].p, k, size);
        if (op % 1000 == 0) {
            for (k = 0; k < LIVE; k++) {
                if (live[k].p) {
                    check_fill(live[k].p, live[k].size, (u_char) k);
                }
            }
        }
    }
    for (k = 0; k < LIVE; k++) {
        if (live[k].p) {
            check_fill(live[k].p, live[k].size, (u_char) k);
            dm_shm_free(z, live[k].p);
        }
    }
    dm_shm_stats(z, &st);
    assert_int_equal(st.free_pages, st0.free_pages);
    assert_int_equal(st.failed, (dm_uint_t) nulls);
    /* everything merged back: the largest run is whole again */
    assert_non_null(dm_shm_alloc(z, st.free_pages * DM_SHM_PAGE_SIZE));
    free_cycle(c);
}

/* --- locks and counters ------------------------------------------------- */

static void
test_lock_two_processes(void **state)
{
    dm_cycle_t *c = cycle_with("lock", 64 * KB, 1, NULL);
    troot_t *r = zone0(c)->data;
    pid_t pid[2];
    uint64_t v;
    int i, k;

    for (k = 0; k < 2; k++) {
        pid[k] = fork();
        assert_true(pid[k] >= 0);
        if (pid[k] == 0) {
            __atomic_add_fetch(&r->ready, 1, __ATOMIC_SEQ_CST);
            for (i = 0; i < 1000000000
                        && __atomic_load_n(&r->ready, __ATOMIC_SEQ_CST) < 2;
                 i++) {
                /* wait for the other one (bounded) */
            }
            for (i = 0; i < 100000; i++) {
                dm_shm_lock(&r->lck);
                v = r->counter;
                if (i % 1000 == 0) {
                    /* let the other one in, if the lock does not stop it */
                    sched_yield();
                }
                r->counter = v + 1;
                dm_shm_unlock(&r->lck);
            }
            _exit(0);
        }
    }
    assert_int_equal(reap(pid[0]), 0);
    assert_int_equal(reap(pid[1]), 0);
    assert_int_equal(r->counter, 200000);
    assert_int_equal(r->lck.pid, 0);
    free_cycle(c);
}

static void
test_force_unlock(void **state)
{
    dm_cycle_t *c = cycle_with("dead", 64 * KB, 1, NULL);
    dm_shm_zone_t *z = zone0(c);
    troot_t *r = z->data;
    dm_shm_lock_t *far;
    siginfo_t info;
    pid_t pid;

    /* registration: idempotent, bounded to the zone */
    assert_int_equal(dm_shm_lock_register(z, &r->lck), DM_OK);
    assert_int_equal(z->hdr->nlocks, 1);
    log_reset();
    assert_int_equal(dm_shm_lock_register(z, (dm_shm_lock_t *) &pid), DM_ERROR);
    far = dm_shm_calloc(z, sizeof(dm_shm_lock_t));
    assert_int_equal(dm_shm_lock_register(z, far), DM_OK);
    assert_int_equal(z->hdr->nlocks, 2);
    dm_shm_free(z, far); /* freed memory is no lock any more */
    assert_int_equal(z->hdr->nlocks, 1);

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dm_shm_lock(&r->lck);
        _exit(0);
    }
    assert_int_equal(reap(pid), 0);
    assert_int_equal(r->lck.pid, (uint32_t) pid);
    assert_int_equal(dm_shm_trylock(&r->lck), DM_BUSY);
    assert_int_equal(dm_shm_lock_wait(&r->lck, 2), DM_BUSY);
    assert_int_equal(dm_shm_force_unlock(c, pid), 1);
    assert_int_equal(dm_shm_force_unlock(c, pid), 0);
    assert_int_equal(dm_shm_trylock(&r->lck), DM_OK);
    assert_int_equal(r->lck.pid, (uint32_t) getpid());
    dm_shm_unlock(&r->lck);

    /* dying with the zone lock and a registered one */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dm_shm_zone_lock(z);
        dm_shm_lock(&r->lck);
        _exit(0);
    }
    assert_int_equal(reap(pid), 0);
    assert_int_equal(dm_shm_force_unlock(c, pid), 2);
    assert_non_null(dm_shm_alloc(z, 16)); /* takes the zone lock */

    /* a waiter does not hang on a dead owner the master has not reaped */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dm_shm_lock(&r->lck);
        _exit(0);
    }
    assert_int_equal(waitid(P_PID, pid, &info, WEXITED | WNOWAIT), 0);
    assert_int_equal(r->lck.pid, (uint32_t) pid); /* held by a zombie */
    dm_shm_lock(&r->lck);
    assert_int_equal(r->lck.pid, (uint32_t) getpid());
    dm_shm_unlock(&r->lck);
    assert_int_equal(reap(pid), 0);
    free_cycle(c);
}

static void
test_counters(void **state)
{
    dm_cycle_t *c = cycle_with("cnt", 256 * KB, 1, NULL);
    dm_shm_zone_t *z = zone0(c);
    dm_shm_counters_t *k;
    dm_uint_t rows[2] = {5, 300};
    pid_t pid[2];
    int i, j;

    k = dm_shm_counters_alloc(z, 3);
    assert_non_null(k);
    assert_int_equal(k->rows, DM_SHM_ROWS);
    assert_int_equal(k->stride, 8);
    assert_int_equal((uintptr_t) k->v % 64, 0);
    assert_int_equal(z->hdr->ncounters, 1);

    for (j = 0; j < 2; j++) {
        pid[j] = fork();
        assert_true(pid[j] >= 0);
        if (pid[j] == 0) {
            dm_shm_row = rows[j];
            for (i = 0; i < 10000; i++) {
                dm_shm_counter_add(k, dm_shm_row, 0, 1);
                dm_shm_counter_add(k, dm_shm_row, 1, j ? 3 : 2);
            }
            dm_shm_counter_add(k, dm_shm_row, 2, -5);
            dm_shm_counter_add(k, DM_SHM_ROWS, 0, 1000); /* ignored */
            _exit(0);
        }
    }
    assert_int_equal(reap(pid[0]), 0);
    assert_int_equal(reap(pid[1]), 0);
    assert_int_equal(k->used, 301); /* sums read rows 0 to 300 only */
    assert_int_equal(dm_shm_counter_sum(k, 0), 20000);
    assert_int_equal(dm_shm_counter_sum(k, 1), 50000);
    assert_true(dm_shm_counter_sum(k, 2) == (uint64_t) -10);
    assert_int_equal(dm_shm_counter_sum(k, 3), 0);

    /* the master zeroes the share of the process that died */
    assert_int_equal(dm_shm_zero_row(c, rows[1]), DM_OK);
    assert_int_equal(dm_shm_counter_sum(k, 0), 10000);
    assert_int_equal(dm_shm_counter_sum(k, 1), 20000);
    assert_true(dm_shm_counter_sum(k, 2) == (uint64_t) -5);
    dm_shm_counters_zero_row(k, rows[0]);
    assert_int_equal(dm_shm_counter_sum(k, 1), 0);

    /* a busy zone is skipped, not waited for */
    z->hdr->lock.pid = 1;
    dm_shm_counter_add(k, 7, 0, 1);
    assert_int_equal(dm_shm_zero_row(c, 7), DM_AGAIN);
    assert_int_equal(dm_shm_counter_sum(k, 0), 1);
    z->hdr->lock.pid = 0;

    dm_shm_counter_add(k, DM_SHM_ROW_MASTER, 0, 4); /* the last row */
    assert_int_equal(k->used, DM_SHM_ROWS);
    assert_int_equal(dm_shm_counter_sum(k, 0), 5);

    dm_shm_free(z, k);
    assert_int_equal(z->hdr->ncounters, 0);
    free_cycle(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zone_add),
        cmocka_unit_test(test_create_two),
        cmocka_unit_test(test_reuse),
        cmocka_unit_test(test_change),
        cmocka_unit_test(test_init_failure),
        cmocka_unit_test(test_export_import),
        cmocka_unit_test(test_import_bad),
        cmocka_unit_test(test_slab_basic),
        cmocka_unit_test(test_slab_exhaustion),
        cmocka_unit_test(test_slab_random),
        cmocka_unit_test(test_lock_two_processes),
        cmocka_unit_test(test_force_unlock),
        cmocka_unit_test(test_counters),
    };

    log_reset();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
