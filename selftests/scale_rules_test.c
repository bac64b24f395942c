// SPDX-License-Identifier: GPL-2.0
/*
 * The rules behind the kernel's scaling work (issue 10, docs/scaling.md),
 * with raw ioctls:
 *  - handle numbers are reused, smallest free first; a number, or the mmap
 *    offset made of it, names a handle of its own file only, and after a
 *    FREE and a new ALLOC it maps the new allocation, never the old pages
 *    nor another file's;
 *  - closing a file that holds tens of thousands of handles frees them in
 *    slices: another process's calls, on the same CPU, are never held up
 *    for long (the figures are printed);
 *  - SetPid calls of several threads at once, each merging with the lock
 *    held for reading and swapping under the write lock, lose no entry;
 *  - read faults of ACL_MEM_NORMAL memory map the neighbouring pages too
 *    (fault-around): far fewer faults than pages, and only pages of the
 *    mapping's own allocation, within the mapping, still there after
 *    drop_caches; an inherited copy (MADV_DOFORK) still SIGBUSes.
 */
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <linux/acl_share.h>

#include "acl_test_util.h"

#define MEM_NORMAL 12	/* ACL_MEM_NORMAL: base pages */

/* A stamp for page @i of allocation @tag. */
static uint64_t stamp(uint32_t tag, size_t i)
{
	return (uint64_t)tag << 32 | (uint32_t)i;
}

static void stamp_pages(void *va, size_t pages, uint32_t tag)
{
	for (size_t i = 0; i < pages; i++)
		*(volatile uint64_t *)((char *)va + i * acl_page_size()) = stamp(tag, i);
}

/* The first page of @va that does not hold its stamp of @tag, or @pages. */
static size_t check_pages(const void *va, size_t pages, uint32_t tag)
{
	for (size_t i = 0; i < pages; i++)
		if (*(const volatile uint64_t *)((const char *)va + i * acl_page_size()) !=
		    stamp(tag, i))
			return i;
	return pages;
}

/* The first page of @va that is not zero, or @pages. */
static size_t check_zero(const void *va, size_t pages)
{
	for (size_t i = 0; i < pages; i++)
		if (*(const volatile uint64_t *)((const char *)va + i * acl_page_size()))
			return i;
	return pages;
}

static void *map_handle(int fd, uint64_t off, size_t len, int prot)
{
	return mmap(NULL, len, prot, MAP_SHARED, fd, (off_t)off);
}

/* A new NORMAL allocation of @pages, mapped read-write and stamped with @tag; NULL on error. */
static void *alloc_stamped(int fd, size_t pages, uint32_t tag, uint32_t *h)
{
	uint64_t off;
	void *p;

	if (acl_raw_alloc(fd, pages * acl_page_size(), MEM_NORMAL, ACL_SHARE_LOC_HOST, 0, h,
			  &off))
		return NULL;
	p = map_handle(fd, off, pages * acl_page_size(), PROT_READ | PROT_WRITE);
	if (p == MAP_FAILED)
		return NULL;
	stamp_pages(p, pages, tag);
	return p;
}

static long minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Is the page at @va present in this process's page tables? -1 on error. */
static int page_present(int pagemap_fd, const void *va)
{
	uint64_t e = 0;

	if (pread(pagemap_fd, &e, sizeof(e),
		  (off_t)((uintptr_t)va / acl_page_size() * sizeof(e))) != (ssize_t)sizeof(e))
		return -1;
	return (int)(e >> 63);
}

/*
 * How many pages one read fault maps at most: fault_around_bytes (debugfs;
 * 64 KiB unless an administrator changed it) in pages, within a page table.
 */
static size_t fault_around_pages(void)
{
	unsigned long long bytes = 65536;

	acl_read_ull("/sys/kernel/debug/fault_around_bytes", &bytes);
	return bytes / acl_page_size() ? bytes / acl_page_size() : 1;
}

FIXTURE(scale) {
	struct acl_counters start;
	int fd;
};

FIXTURE_SETUP(scale)
{
	ASSERT_EQ(0, acl_read_counters(&self->start));
	self->fd = open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd) TH_LOG("open: %s", strerror(errno));
}

FIXTURE_TEARDOWN(scale)
{
	close(self->fd);
	EXPECT_COUNTERS(self->start, ACL_CNT_LIVE);
}

/* ------------------------------------------------------------------ */
/* Handle numbers                                                      */
/* ------------------------------------------------------------------ */

TEST_F(scale, ids_reuse_the_smallest_free_number)
{
	size_t psz = acl_page_size();
	uint32_t h[8], n;
	uint64_t off;

	for (int i = 0; i < 8; i++) {
		ASSERT_EQ(0, acl_raw_alloc(self->fd, psz, MEM_NORMAL, ACL_SHARE_LOC_HOST, 0,
					   &h[i], &off));
		ASSERT_EQ((uint32_t)i + 1, h[i]);
		ASSERT_EQ(acl_handle_mmap_offset(h[i]), off);
	}
	ASSERT_EQ(0, acl_raw_free(self->fd, 6));
	ASSERT_EQ(0, acl_raw_free(self->fd, 3));
	ASSERT_EQ(0, acl_raw_free(self->fd, 5));
	/* 3, 5, 6 free: they come back in that order, then 9. */
	for (uint32_t want = 3; want <= 9; want++) {
		if (want == 4 || (want >= 7 && want < 9))
			continue;
		ASSERT_EQ(0, acl_raw_alloc(self->fd, psz, MEM_NORMAL, ACL_SHARE_LOC_HOST, 0,
					   &n, &off));
		EXPECT_EQ(want, n);
		EXPECT_EQ(acl_handle_mmap_offset(n), off);
	}
	ASSERT_EQ(0, acl_raw_free(self->fd, 1));
	ASSERT_EQ(0, acl_raw_alloc(self->fd, psz, MEM_NORMAL, ACL_SHARE_LOC_HOST, 0, &n, &off));
	EXPECT_EQ(1U, n);
	for (uint32_t i = 1; i <= 9; i++)
		EXPECT_EQ(0, acl_raw_free(self->fd, i));
}

/*
 * After FREE and a new ALLOC that gets the same number, the old offset
 * maps the new allocation; a mapping made before the FREE keeps the old
 * pages; neither ever shows the other's pages.
 */
TEST_F(scale, reused_number_maps_only_the_new_allocation)
{
	size_t psz = acl_page_size(), pages = 64;
	uint64_t off_a, off_b;
	uint32_t a, b;
	void *pa, *pb, *pa2;

	ASSERT_EQ(0, acl_raw_alloc(self->fd, pages * psz, MEM_NORMAL, ACL_SHARE_LOC_HOST, 0,
				   &a, &off_a));
	pa = map_handle(self->fd, off_a, pages * psz, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, pa);
	stamp_pages(pa, pages, 0xa);
	pa2 = map_handle(self->fd, off_a, pages * psz, PROT_READ);
	ASSERT_NE(MAP_FAILED, pa2);
	ASSERT_EQ(0, acl_raw_free(self->fd, a));
	/* Freed: the number maps nothing. */
	EXPECT_EQ(MAP_FAILED, map_handle(self->fd, off_a, pages * psz, PROT_READ));
	EXPECT_EQ(ENOENT, errno);

	ASSERT_EQ(0, acl_raw_alloc(self->fd, pages * psz, MEM_NORMAL, ACL_SHARE_LOC_HOST, 0,
				   &b, &off_b));
	ASSERT_EQ(a, b) TH_LOG("the freed number is the smallest free one");
	ASSERT_EQ(off_a, off_b);
	pb = map_handle(self->fd, off_b, pages * psz, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, pb);
	/* Read first: fault-around maps what it finds, only B's pages. */
	EXPECT_EQ(pages, check_zero(pb, pages));
	stamp_pages(pb, pages, 0xb);
	/* The mapping of the freed handle: A's pages, read for the first time now. */
	EXPECT_EQ(pages, check_pages(pa2, pages, 0xa));
	EXPECT_EQ(pages, check_pages(pa, pages, 0xa));
	EXPECT_EQ(pages, check_pages(pb, pages, 0xb));
	EXPECT_EQ(0, munmap(pa, pages * psz));
	EXPECT_EQ(0, munmap(pa2, pages * psz));
	EXPECT_EQ(0, munmap(pb, pages * psz));
	EXPECT_EQ(0, acl_raw_free(self->fd, b));
}

/* A number is one file's: another file, or another process, cannot use it. */
TEST_F(scale, numbers_do_not_cross_files)
{
	size_t psz = acl_page_size(), pages = 16;
	struct acl_share_query q;
	uint64_t off, off2;
	uint32_t a, b;
	void *pa, *pb;
	pid_t pid;
	int fd2;

	ASSERT_EQ(0, acl_raw_alloc(self->fd, pages * psz, MEM_NORMAL, ACL_SHARE_LOC_HOST, 0,
				   &a, &off));
	pa = map_handle(self->fd, off, pages * psz, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, pa);
	stamp_pages(pa, pages, 0xa);

	fd2 = open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd2);
	EXPECT_EQ(-ENOENT, acl_raw_query(fd2, a, &q));
	EXPECT_EQ(MAP_FAILED, map_handle(fd2, off, pages * psz, PROT_READ));
	EXPECT_EQ(ENOENT, errno);
	ASSERT_EQ(0, acl_raw_alloc(fd2, pages * psz, MEM_NORMAL, ACL_SHARE_LOC_HOST, 0, &b,
				   &off2));
	EXPECT_EQ(a, b) TH_LOG("each file numbers its own handles from 1");
	pb = map_handle(fd2, off2, pages * psz, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, pb);
	EXPECT_EQ(pages, check_zero(pb, pages));
	stamp_pages(pb, pages, 0xb);
	EXPECT_EQ(pages, check_pages(pa, pages, 0xa));

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int fd = open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC);

		CHILD_CHECK(fd >= 0, "open: %s", strerror(errno));
		/* Its own file has no handle of that number... */
		CHILD_CHECK(map_handle(fd, off, pages * psz, PROT_READ) == MAP_FAILED &&
			    errno == ENOENT, "a new file mapped the parent's number");
		/* ...and the parent's file is not its to use. */
		CHILD_CHECK(map_handle(self->fd, off, pages * psz, PROT_READ) == MAP_FAILED &&
			    errno == EACCES, "mapped through the parent's file");
		_exit(0);
	}
	ASSERT_CHILD_OK(pid);
	EXPECT_EQ(0, munmap(pa, pages * psz));
	EXPECT_EQ(0, munmap(pb, pages * psz));
	EXPECT_EQ(0, acl_raw_free(self->fd, a));
	EXPECT_EQ(0, acl_raw_free(fd2, b));
	close(fd2);
}

/* ------------------------------------------------------------------ */
/* Teardown in slices                                                  */
/* ------------------------------------------------------------------ */

/*
 * Handles of the closing file: imports, the cheapest handle to free and
 * so the longest stretch of work without a sleep in the old teardown. One
 * export each, made through as many files as max_exports requires. A tenth
 * of them on the slow debug kernel, where 100,000 take six minutes.
 */
#define TEARDOWN_HANDLES 100000
/* At most this much memory in them: 100,000 pages of 16 KiB do not fit in the test VM. */
#define TEARDOWN_BYTES (512UL << 20)
#define TEARDOWN_MAX_FILES 8

/*
 * What the other process sees, on the same CPU, while the file closes: the
 * time from the end of one of its rounds of calls (QUERY, then ALLOC and
 * FREE of a page) to the end of the next, and how many handles the
 * teardown freed meanwhile (the module's "handles" counter).
 *
 * The old code freed them all in one stretch that never offered the CPU:
 * one round of the other process spanned all 100,000 handles. Now the
 * teardown offers the CPU after every handle once the scheduler asks for
 * it: the other process's rounds interleave with it (35-52 times measured
 * under TCG). The test bounds that count, not the times: under TCG on a
 * loaded host the vCPU itself stalls for hundreds of ms now and then,
 * which the guest's scheduler charges to whichever task ran and then
 * repays to the other (rounds of 1.3 s spanning 30 % of the handles were
 * seen). The times and counts are printed; docs/scaling.md has figures.
 */
#define TEARDOWN_MIN_INTERLEAVINGS 4

struct teardown_shared {
	_Atomic int closing;	/* the importer is in close() */
	_Atomic int done;	/* it has returned */
	double close_ms;
	double worst_ms;	/* the probe's longest round */
	double worst_before_ms;	/* ... before the close began */
	long long worst_freed;	/* the most handles freed during one round */
	long calls;
	long progressed;	/* rounds during which the teardown went on */
	uint64_t keys[TEARDOWN_HANDLES];
};

static int pin_cpu0(void)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

static int import_key(int fd, uint64_t *key, uint32_t *handle)
{
	struct acl_share_import imp = {
		.size = sizeof(imp),
		.share_type = ACL_SHARE_HANDLE_DEFAULT,
		.shareable_len = ACL_SHARE_DEFAULT_HANDLE_LEN,
		.shareable_uptr = (uintptr_t)key,
	};
	int ret = acl_ioctl(fd, ACL_SHARE_IOC_IMPORT, &imp);

	*handle = imp.out_handle;
	return ret;
}

/* Exports the first @length bytes (0: all) for any process to import. */
static int export_handle(int fd, uint32_t handle, uint64_t *key, uint64_t length)
{
	struct acl_share_export e = {
		.size = sizeof(e),
		.flags = ACL_SHARE_EXPORT_NO_PID_CHECK,
		.handle = handle,
		.share_type = ACL_SHARE_HANDLE_DEFAULT,
		.shareable_uptr = (uintptr_t)key,
		.shareable_len = ACL_SHARE_DEFAULT_HANDLE_LEN,
		.length = length,
	};

	return acl_ioctl(fd, ACL_SHARE_IOC_EXPORT, &e);
}

/* The probe: calls on its own file until the importer's close() returned. */
static void teardown_probe(struct teardown_shared *sh, struct acl_chan *ch)
{
	size_t psz = acl_page_size();
	unsigned long long c, prev_c;
	struct acl_share_query q;
	double t, prev, d;
	uint32_t h, tmp;
	int fd;

	CHILD_CHECK(pin_cpu0() == 0, "sched_setaffinity: %s", strerror(errno));
	fd = open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC);
	CHILD_CHECK(fd >= 0, "open: %s", strerror(errno));
	CHILD_CHECK(acl_raw_alloc(fd, psz, MEM_NORMAL, ACL_SHARE_LOC_HOST, 0, &h, NULL) == 0,
		    "probe alloc");
	CHILD_CHECK(acl_read_counter(ACL_CNT_HANDLES, &prev_c) == 0, "handles counter");
	CHILD_CHECK(acl_tell(ch, 'r') == 0, "tell");
	prev = now_ms();
	while (!sh->done) {
		CHILD_CHECK(acl_raw_query(fd, h, &q) == 0, "query");
		CHILD_CHECK(acl_raw_alloc(fd, psz, MEM_NORMAL, ACL_SHARE_LOC_HOST, 0, &tmp,
					  NULL) == 0, "alloc");
		CHILD_CHECK(acl_raw_free(fd, tmp) == 0, "free");
		CHILD_CHECK(acl_read_counter(ACL_CNT_HANDLES, &c) == 0, "handles counter");
		/* From one round's end to the next's: also a wait for the CPU in between. */
		t = now_ms();
		d = t - prev;
		prev = t;
		if (sh->closing) {
			sh->calls++;
			sh->progressed += prev_c != c;
			if (d > sh->worst_ms)
				sh->worst_ms = d;
			if ((long long)(prev_c - c) > sh->worst_freed)
				sh->worst_freed = (long long)(prev_c - c);
		} else if (!sh->closing && d > sh->worst_before_ms) {
			sh->worst_before_ms = d;
		}
		prev_c = c;
	}
	close(fd);
	_exit(0);
}

TEST_F_TIMEOUT(scale, teardown_of_many_handles_does_not_block_others, 600)
{
	unsigned long long max_exports = 65536;
	int efd[TEARDOWN_MAX_FILES], nfiles;
	unsigned int n = acl_slow_kernel() ? TEARDOWN_HANDLES / 10 : TEARDOWN_HANDLES, i;
	struct acl_chan ich, pch;
	struct teardown_shared *sh;
	size_t psz = acl_page_size();
	pid_t importer, probe;
	double t0;
	uint32_t h;

	if (n > TEARDOWN_BYTES / psz)
		n = (unsigned int)(TEARDOWN_BYTES / psz);
	acl_read_param("max_exports", &max_exports);
	nfiles = (int)((n + max_exports - 1) / max_exports);
	if (nfiles > TEARDOWN_MAX_FILES)
		nfiles = TEARDOWN_MAX_FILES;
	if (n > nfiles * max_exports)
		n = (unsigned int)(nfiles * max_exports);
	efd[0] = self->fd;
	for (int f = 1; f < nfiles; f++) {
		efd[f] = open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, efd[f]);
	}
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, sh);

	t0 = now_ms();
	for (i = 0; i < n; i++) {
		int fd = efd[i / max_exports];

		ASSERT_EQ(0, acl_raw_alloc(fd, psz, MEM_NORMAL, ACL_SHARE_LOC_HOST, 0, &h, NULL))
			TH_LOG("allocation %u", i);
		ASSERT_EQ(0, export_handle(fd, h, &sh->keys[i], 0)) TH_LOG("export %u", i);
	}
	TH_LOG("%u allocations exported through %d files in %.0f ms", n, nfiles, now_ms() - t0);

	ASSERT_EQ(0, acl_chan_init(&ich));
	importer = fork();
	ASSERT_LE(0, importer);
	if (importer == 0) {
		int fd;

		acl_chan_child(&ich);
		CHILD_CHECK(pin_cpu0() == 0, "sched_setaffinity: %s", strerror(errno));
		fd = open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC);
		CHILD_CHECK(fd >= 0, "open: %s", strerror(errno));
		for (i = 0; i < n; i++)
			CHILD_CHECK(import_key(fd, &sh->keys[i], &h) == 0, "import %u", i);
		CHILD_CHECK(acl_tell(&ich, 'i') == 0, "tell");
		CHILD_CHECK(acl_hear_within(&ich, 'c', 600000) == 0, "no word to close");
		sh->closing = 1;
		t0 = now_ms();
		close(fd);	/* the last reference: the teardown runs before close() returns */
		sh->close_ms = now_ms() - t0;
		sh->done = 1;
		_exit(0);
	}
	acl_chan_parent(&ich);
	t0 = now_ms();
	ASSERT_EQ(0, acl_hear_within(&ich, 'i', 600000));
	TH_LOG("%u imports in one file in %.0f ms", n, now_ms() - t0);

	ASSERT_EQ(0, acl_chan_init(&pch));
	probe = fork();
	ASSERT_LE(0, probe);
	if (probe == 0) {
		acl_chan_child(&pch);
		teardown_probe(sh, &pch);
	}
	acl_chan_parent(&pch);
	ASSERT_EQ(0, acl_hear(&pch, 'r'));
	usleep(200 * 1000);	/* the probe's calls before the close: its baseline */
	ASSERT_EQ(0, acl_tell(&ich, 'c'));
	ASSERT_CHILD_OK(importer);
	ASSERT_CHILD_OK(probe);
	acl_chan_close(&ich);
	acl_chan_close(&pch);

	TH_LOG("close() of a file of %u imports took %.0f ms; meanwhile another process on "
	       "the same CPU made %ld QUERY+ALLOC+FREE rounds, the longest %.1f ms (%.1f ms "
	       "before the close); the teardown went on during %ld of them, at most %lld handles "
	       "during one", n, sh->close_ms, sh->calls, sh->worst_ms, sh->worst_before_ms,
	       sh->progressed, sh->worst_freed);
	EXPECT_LE(TEARDOWN_MIN_INTERLEAVINGS, sh->progressed)
		TH_LOG("the teardown never let the other process in");
	EXPECT_GT((long long)n, sh->worst_freed)
		TH_LOG("one round of the other process spanned the whole teardown");

	/* The exporter's own teardown: its handles and exports go with its files. */
	t0 = now_ms();
	for (int f = 0; f < nfiles; f++)
		close(efd[f]);
	TH_LOG("close() of the exporter's files (%u exported allocations) took %.0f ms", n,
	       now_ms() - t0);
	self->fd = open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd);
	munmap(sh, sizeof(*sh));
}

/* ------------------------------------------------------------------ */
/* Whitelist                                                           */
/* ------------------------------------------------------------------ */

#define WL_THREADS 4
#define WL_PER_THREAD 16
/*
 * Processes listed first, so that every merge copies this many entries and
 * the threads' merges overlap: without the generation check a swap would
 * drop another thread's pid (seen failing with the check removed).
 */
#define WL_FILL 2048

struct wl_thread {
	int fd;
	uint64_t *key;
	int32_t pids[WL_PER_THREAD];
	int failed;
};

static int set_pid(int fd, uint64_t *key, int32_t *pids, uint32_t n)
{
	struct acl_share_set_pid sp = {
		.size = sizeof(sp),
		.share_type = ACL_SHARE_HANDLE_DEFAULT,
		.shareable_len = ACL_SHARE_DEFAULT_HANDLE_LEN,
		.shareable_uptr = (uintptr_t)key,
		.pids_uptr = (uintptr_t)pids,
		.num_pids = n,
	};

	return acl_ioctl(fd, ACL_SHARE_IOC_SET_PID, &sp);
}

/* One SetPid per pid, so that the threads' swaps interleave. */
static void *wl_thread_fn(void *arg)
{
	struct wl_thread *t = arg;

	for (int i = 0; i < WL_PER_THREAD; i++)
		if (set_pid(t->fd, t->key, &t->pids[i], 1))
			t->failed++;
	return NULL;
}

TEST_F_TIMEOUT(scale, concurrent_set_pid_loses_no_entry, 600)
{
	static int32_t fill[WL_FILL];
	struct wl_thread t[WL_THREADS];
	pthread_t thr[WL_THREADS];
	pid_t kids[WL_THREADS * WL_PER_THREAD];
	int go[2], hold[2], nkids = 0;
	uint64_t key = 0;
	uint32_t h;

	ASSERT_EQ(0, acl_raw_alloc(self->fd, acl_page_size(), MEM_NORMAL, ACL_SHARE_LOC_HOST, 0,
				   &h, NULL));
	{
		struct acl_share_export e = {
			.size = sizeof(e),
			.handle = h,
			.share_type = ACL_SHARE_HANDLE_DEFAULT,
			.shareable_uptr = (uintptr_t)&key,
			.shareable_len = ACL_SHARE_DEFAULT_HANDLE_LEN,
		};

		ASSERT_EQ(0, acl_ioctl(self->fd, ACL_SHARE_IOC_EXPORT, &e));
	}
	/* Listed processes that wait for the end of the test (EOF on hold). */
	ASSERT_EQ(0, pipe2(hold, O_CLOEXEC));
	for (int i = 0; i < WL_FILL; i++) {
		pid_t pid = fork();

		ASSERT_LE(0, pid);
		if (pid == 0) {
			char c;

			close(hold[1]);
			_exit(read(hold[0], &c, 1) == 0 ? 0 : 1);
		}
		fill[i] = pid;
	}
	close(hold[0]);
	ASSERT_EQ(0, set_pid(self->fd, &key, fill, WL_FILL));

	ASSERT_EQ(0, pipe2(go, O_CLOEXEC));
	for (int i = 0; i < WL_THREADS * WL_PER_THREAD; i++) {
		pid_t pid = fork();

		ASSERT_LE(0, pid);
		if (pid == 0) {
			uint32_t ih;
			char c;
			int fd;

			close(go[1]);
			close(hold[1]);
			CHILD_CHECK(read(go[0], &c, 1) == 1, "no word to import");
			fd = open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC);
			CHILD_CHECK(fd >= 0, "open: %s", strerror(errno));
			CHILD_CHECK(import_key(fd, &key, &ih) == 0, "import refused: %s (whitelist "
				    "lost this process)", strerror(errno));
			_exit(0);
		}
		kids[nkids++] = pid;
	}
	close(go[0]);
	for (int i = 0; i < WL_THREADS; i++) {
		t[i] = (struct wl_thread){ .fd = self->fd, .key = &key };
		for (int j = 0; j < WL_PER_THREAD; j++)
			t[i].pids[j] = kids[i * WL_PER_THREAD + j];
	}
	for (int i = 0; i < WL_THREADS; i++)
		ASSERT_EQ(0, pthread_create(&thr[i], NULL, wl_thread_fn, &t[i]));
	for (int i = 0; i < WL_THREADS; i++) {
		pthread_join(thr[i], NULL);
		EXPECT_EQ(0, t[i].failed);
	}
	for (int i = 0; i < nkids; i++)
		ASSERT_EQ(1, write(go[1], "g", 1));
	close(go[1]);
	for (int i = 0; i < nkids; i++)
		ASSERT_CHILD_OK(kids[i]);
	/* All listed already (the fillers): changes nothing, fails nothing. */
	EXPECT_EQ(0, set_pid(self->fd, &key, fill, WL_FILL));
	close(hold[1]);
	for (int i = 0; i < WL_FILL; i++)
		ASSERT_CHILD_OK(fill[i]);
	EXPECT_EQ(0, acl_raw_free(self->fd, h));
}

/* ------------------------------------------------------------------ */
/* Fault-around                                                        */
/* ------------------------------------------------------------------ */

/* Reading 64 MiB of NORMAL memory takes about one fault per fault-around window. */
TEST_F(scale, fault_around_reads_with_few_faults)
{
	size_t psz = acl_page_size(), len = 64UL << 20, pages = len / psz;
	size_t per = fault_around_pages(), want;
	uint64_t off;
	long before, faults;
	uint32_t h;
	void *w, *r;

	ASSERT_LT(1UL, per) TH_LOG("fault-around is off (fault_around_bytes)");
	ASSERT_EQ(0, acl_raw_alloc(self->fd, len, MEM_NORMAL, ACL_SHARE_LOC_HOST, 0, &h, &off));
	w = map_handle(self->fd, off, len, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, w);
	stamp_pages(w, pages, 0x64);
	ASSERT_EQ(0, munmap(w, len));
	/*
	 * Unmapped, the pages are still in their inode's index: invalidation
	 * must find them in use and leave them (the index holds a reference).
	 */
	EXPECT_EQ(0, acl_write_text("/proc/sys/vm/drop_caches", "3"));

	r = map_handle(self->fd, off, len, PROT_READ);
	ASSERT_NE(MAP_FAILED, r);
	before = minflt();
	EXPECT_EQ(pages, check_pages(r, pages, 0x64));
	faults = minflt() - before;
	/* Windows are aligned: a mapping 2 MiB aligned needs exactly pages / per. */
	want = pages / per;
	TH_LOG("reading %zu pages took %ld faults (fault-around window %zu pages: %zu)",
	       pages, faults, per, want);
	EXPECT_GE((long)(want + want / 8 + 16), faults);
	EXPECT_LE((long)want, faults) TH_LOG("more than the window mapped by one fault?");
	EXPECT_EQ(0, munmap(r, len));
	EXPECT_EQ(0, acl_raw_free(self->fd, h));
}

/*
 * An import of a partial export maps the first pages of a larger
 * allocation: fault-around maps those and nothing after them, and the
 * pages past the mapping stay out of reach.
 */
TEST_F(scale, fault_around_stays_inside_the_mapping)
{
	size_t psz = acl_page_size(), pages = 64, part = 3;
	uint64_t key = 0;
	uint32_t h;
	pid_t pid;
	void *p;

	p = alloc_stamped(self->fd, pages, 0x5, &h);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, export_handle(self->fd, h, &key, part * psz));

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct acl_share_query q;
		unsigned char *region, *m;
		uint32_t ih;
		int fd, pm;

		fd = open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC);
		CHILD_CHECK(fd >= 0, "open: %s", strerror(errno));
		CHILD_CHECK(import_key(fd, &key, &ih) == 0, "import: %s", strerror(errno));
		CHILD_CHECK(acl_raw_query(fd, ih, &q) == 0 && q.out_length == part * psz,
			    "the import is %llu bytes", (unsigned long long)q.out_length);
		/* The mapping at the start of a window of 16 pages, inaccessible after it. */
		region = mmap(NULL, 32 * psz, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		CHILD_CHECK(region != MAP_FAILED, "mmap: %s", strerror(errno));
		region = (unsigned char *)(((uintptr_t)region + 16 * psz - 1) & ~(16 * psz - 1));
		m = mmap(region, part * psz, PROT_READ, MAP_SHARED | MAP_FIXED, fd,
			 (off_t)q.out_mmap_offset);
		CHILD_CHECK(m == region, "mmap: %s", strerror(errno));
		CHILD_CHECK(check_pages(m, 1, 0x5) == 1, "page 0 is not the exporter's");
		pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
		CHILD_CHECK(pm >= 0, "pagemap: %s", strerror(errno));
		/* A window is at least 4 pages (64 KiB of 16 KiB pages). */
		for (size_t i = 1; i < part; i++)
			CHILD_CHECK(page_present(pm, m + i * psz) == 1,
				    "page %zu was not mapped around page 0", i);
		for (size_t i = part; i < 16; i++)
			CHILD_CHECK(page_present(pm, m + i * psz) == 0,
				    "page %zu past the mapping is present", i);
		CHILD_CHECK(check_pages(m, part, 0x5) == part, "not the exporter's pages");
		CHILD_CHECK(acl_probe(m + part * psz, false) == SIGSEGV,
			    "read past the mapping did not SIGSEGV");
		close(pm);
		_exit(0);
	}
	ASSERT_CHILD_OK(pid);
	EXPECT_EQ(0, munmap(p, pages * psz));
	EXPECT_EQ(0, acl_raw_free(self->fd, h));
}

/* A copy that fork() made (MADV_DOFORK) maps nothing, resident pages or not. */
TEST_F(scale, fault_around_leaves_an_inherited_copy_empty)
{
	size_t psz = acl_page_size(), pages = 64;
	uint32_t h;
	pid_t pid;
	void *p;

	p = alloc_stamped(self->fd, pages, 0x7, &h);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, madvise(p, pages * psz, MADV_DOFORK));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

		CHILD_CHECK(pm >= 0, "pagemap: %s", strerror(errno));
		for (size_t i = 0; i < pages; i += 3)
			CHILD_CHECK(acl_probe((unsigned char *)p + i * psz, false) == SIGBUS,
				    "the child read its parent's page %zu", i);
		for (size_t i = 0; i < pages; i++)
			CHILD_CHECK(page_present(pm, (char *)p + i * psz) == 0,
				    "page %zu is mapped in the child", i);
		_exit(0);
	}
	ASSERT_CHILD_OK(pid);
	EXPECT_EQ(pages, check_pages(p, pages, 0x7));
	EXPECT_EQ(0, munmap(p, pages * psz));
	EXPECT_EQ(0, acl_raw_free(self->fd, h));
}

TEST_HARNESS_MAIN
