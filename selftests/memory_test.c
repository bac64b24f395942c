// SPDX-License-Identifier: GPL-2.0
/*
 * memory_test - the memory of contract section 3 behaves as specified:
 * zeroed before anyone sees it, kept across unmap/remap, kept alive by a
 * mapping after FreePhysical (the counters show it), mapped with 2 MiB page
 * table entries and physically contiguous for huge attributes, excluded
 * from core dumps and fork (VmFlags), not growable with mremap, and
 * ordinary memory for the kernel: non-private futexes, process-shared
 * pthread mutexes and condition variables, and process_vm_readv/writev all
 * work on it.
 */
#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>

#include "acl/acl.h"
#include "acl_test_util.h"

#define HOST ACL_MEM_LOCATION_TYPE_HOST
#define DEVICE ACL_MEM_LOCATION_TYPE_DEVICE
#define HOST_NUMA ACL_MEM_LOCATION_TYPE_HOST_NUMA

/* The value a pattern seeded with @seed has at 8-byte word @i. */
static inline uint64_t pattern(uint64_t seed, size_t i)
{
	uint64_t x = seed ^ (i * 0x9e3779b97f4a7c15ULL);

	x ^= x >> 29;
	return x * 0xbf58476d1ce4e5b9ULL;
}

static void fill(void *p, size_t len, uint64_t seed)
{
	uint64_t *w = p;

	for (size_t i = 0; i < len / 8; i++)
		w[i] = pattern(seed, i);
}

/* Byte offset of the first word that differs from the pattern, or @len. */
static size_t check(const void *p, size_t len, uint64_t seed)
{
	const uint64_t *w = p;

	for (size_t i = 0; i < len / 8; i++)
		if (w[i] != pattern(seed, i))
			return i * 8;
	return len;
}

FIXTURE(memory) {
	struct acl_counters start;
	size_t size;		/* of the variant's allocations */
};

FIXTURE_VARIANT(memory) {
	aclrtMemAttr attr;
	aclrtMemLocationType type;
	uint32_t id;
	size_t size;
	size_t extra_pages;	/* base pages on top of size: not a 2 MiB multiple */
};

FIXTURE_VARIANT_ADD(memory, host_normal) {
	.attr = ACL_MEM_NORMAL, .type = HOST, .id = 0, .size = 4 * SZ_2M, .extra_pages = 3,
};

FIXTURE_VARIANT_ADD(memory, numa_normal) {
	.attr = ACL_MEM_P2P_NORMAL, .type = HOST_NUMA, .id = 0, .size = SZ_2M,
};

FIXTURE_VARIANT_ADD(memory, host_huge) {
	.attr = ACL_MEM_HUGE, .type = HOST, .id = 0, .size = 2 * SZ_2M,
};

FIXTURE_VARIANT_ADD(memory, device_huge) {
	.attr = ACL_HBM_MEM_HUGE, .type = DEVICE, .id = 0, .size = 2 * SZ_2M,
};

FIXTURE_VARIANT_ADD(memory, device_default) {
	.attr = ACL_HBM_MEM, .type = DEVICE, .id = 0, .size = SZ_2M,
};

FIXTURE_SETUP(memory)
{
	ASSERT_EQ(0, acl_read_counters(&self->start));
	self->size = variant->size + variant->extra_pages * acl_page_size();
}

FIXTURE_TEARDOWN(memory)
{
	EXPECT_COUNTERS(self->start, ACL_CNT_LIVE_NO_OPENS);
}

#define MAP_VARIANT(m) \
	ASSERT_ACL_OK(acl_map_new((m), self->size, variant->attr, variant->type, variant->id))

TEST_F(memory, new_memory_is_zeroed)
{
	for (int round = 0; round < 3; round++) {
		struct acl_mapping dirty, m;
		size_t at;

		/* Dirty some pages and give them back, then take new ones. */
		MAP_VARIANT(&dirty);
		memset(dirty.va, 0xa5, dirty.size);
		ASSERT_ACL_OK(acl_map_delete(&dirty));

		MAP_VARIANT(&m);
		at = first_diff_byte(m.va, m.size, 0);
		EXPECT_EQ(m.size, at)
			TH_LOG("round %d: byte %zu of a new allocation is 0x%02x", round, at,
			       at < m.size ? ((unsigned char *)m.va)[at] : 0);
		ASSERT_ACL_OK(acl_map_delete(&m));
	}
}

TEST_F(memory, data_survives_unmap_and_remap)
{
	aclrtPhysicalMemProp prop = acl_prop(variant->attr, variant->type, variant->id);
	aclrtDrvMemHandle h = NULL;
	void *r1 = NULL, *r2 = NULL, *base = NULL;
	size_t size = self->size;

	ASSERT_ACL_OK(aclrtMallocPhysical(&h, size, &prop, 0));
	ASSERT_ACL_OK(aclrtReserveMemAddress(&r1, size, 0, NULL, 0));
	ASSERT_ACL_OK(aclrtReserveMemAddress(&r2, size, 0, NULL, 0));

	ASSERT_ACL_OK(aclrtMapMem(r1, size, 0, h, 0));
	fill(r1, size, 0x1234);
	ASSERT_ACL_OK(aclrtUnmapMem(r1));

	/* Unmapped: back to reserved, not accessible. */
	EXPECT_EQ(ACL_ERROR_RT_PARAM_INVALID, aclrtMemGetAddressRange(r1, &base, NULL));
	EXPECT_NE(0, acl_probe(r1, false));

	/* Mapped elsewhere, then at the first place again: same data. */
	ASSERT_ACL_OK(aclrtMapMem(r2, size, 0, h, 0));
	EXPECT_EQ(size, check(r2, size, 0x1234));
	fill(r2, size, 0x5678);
	ASSERT_ACL_OK(aclrtUnmapMem(r2));
	ASSERT_ACL_OK(aclrtMapMem(r1, size, 0, h, 0));
	EXPECT_EQ(size, check(r1, size, 0x5678));
	ASSERT_ACL_OK(aclrtUnmapMem(r1));

	EXPECT_ACL_OK(aclrtReleaseMemAddress(r1));
	EXPECT_ACL_OK(aclrtReleaseMemAddress(r2));
	EXPECT_ACL_OK(aclrtFreePhysical(h));
}

TEST_F(memory, free_while_mapped_keeps_memory_until_unmap)
{
	struct acl_counters mapped;
	aclrtPhysicalMemProp prop;
	struct acl_mapping m;

	MAP_VARIANT(&m);
	fill(m.va, m.size, 42);
	ASSERT_EQ(0, acl_read_counters(&mapped));
	EXPECT_COUNTER_DELTA(self->start, ACL_CNT_ALLOCATIONS, 1);
	EXPECT_COUNTER_DELTA(self->start, ACL_CNT_ALLOCATED_BYTES, m.size);
	EXPECT_COUNTER_DELTA(self->start, ACL_CNT_MAPPINGS, 1);
	EXPECT_COUNTER_DELTA(self->start, ACL_CNT_HANDLES, 1);

	ASSERT_ACL_OK(aclrtFreePhysical(m.handle));
	EXPECT_EQ(ACL_ERROR_RT_INVALID_HANDLE, aclrtMemGetAllocationPropertiesFromHandle(m.handle, &prop));
	/* The handle is gone, the memory is not. */
	EXPECT_COUNTER_DELTA(self->start, ACL_CNT_HANDLES, 0);
	EXPECT_COUNTER_DELTA(self->start, ACL_CNT_ALLOCATIONS, 1);
	EXPECT_COUNTER_DELTA(self->start, ACL_CNT_ALLOCATED_BYTES, m.size);
	EXPECT_COUNTER_DELTA(self->start, ACL_CNT_MAPPINGS, 1);
	EXPECT_EQ(m.size, check(m.va, m.size, 42));
	fill(m.va, m.size, 43);
	EXPECT_EQ(m.size, check(m.va, m.size, 43));

	/* The last mapping goes: so does the memory. */
	ASSERT_ACL_OK(aclrtUnmapMem(m.va));
	EXPECT_COUNTERS(self->start, ACL_CNT_LIVE_NO_OPENS);
	EXPECT_ACL_OK(aclrtReleaseMemAddress(m.va));
}

TEST_F(memory, mremap_cannot_grow_a_mapping)
{
	aclrtPhysicalMemProp prop = acl_prop(variant->attr, variant->type, variant->id);
	aclrtDrvMemHandle h = NULL;
	size_t size = self->size, got = 0;
	struct acl_counters mapped;
	struct acl_vma v;
	void *r = NULL, *p, *base = NULL;

	ASSERT_ACL_OK(aclrtMallocPhysical(&h, size, &prop, 0));
	ASSERT_ACL_OK(aclrtReserveMemAddress(&r, 2 * size, 0, NULL, 0));
	ASSERT_ACL_OK(aclrtMapMem(r, size, 0, h, 0));
	fill(r, size, 7);
	ASSERT_EQ(0, acl_read_counters(&mapped));

	p = mremap(r, size, 2 * size, 0);
	EXPECT_EQ(MAP_FAILED, p) TH_LOG("in-place growth succeeded");
	p = mremap(r, size, 2 * size, MREMAP_MAYMOVE);
	EXPECT_EQ(MAP_FAILED, p) TH_LOG("growth with MREMAP_MAYMOVE succeeded (at %p)", p);
	p = mremap(r, size, size + acl_page_size(), MREMAP_MAYMOVE);
	EXPECT_EQ(MAP_FAILED, p) TH_LOG("growth by one page succeeded (at %p)", p);

	/* Nothing changed. */
	EXPECT_COUNTERS(mapped, ACL_CNT_LIVE);
	ASSERT_EQ(1, acl_find_vma(0, r, &v));
	EXPECT_EQ((unsigned long)r, v.start);
	EXPECT_EQ((unsigned long)r + size, v.end);
	EXPECT_EQ(size, check(r, size, 7));
	ASSERT_ACL_OK(aclrtMemGetAddressRange((char *)r + size - 1, &base, &got));
	EXPECT_EQ(r, base);
	EXPECT_EQ(size, got);

	EXPECT_ACL_OK(aclrtUnmapMem(r));
	EXPECT_ACL_OK(aclrtReleaseMemAddress(r));
	EXPECT_ACL_OK(aclrtFreePhysical(h));
}

TEST_F(memory, mapping_is_not_dumped_and_not_copied_on_fork)
{
	struct acl_mapping m;
	struct acl_vma v;

	MAP_VARIANT(&m);
	ASSERT_EQ(1, acl_find_vma(0, m.va, &v));
	/* The name the fork checks of other tests look for: they cannot pass by mistake. */
	EXPECT_STREQ(ACL_MAP_PATH, v.path) TH_LOG("VMA at %p maps \"%s\"", m.va, v.path);
	EXPECT_EQ(1, acl_count_vmas_of(ACL_MAP_PATH));
	EXPECT_TRUE(acl_vma_has_flag(&v, "dd")) TH_LOG("VmFlags: %s (no dd: VM_DONTDUMP)", v.vmflags);
	EXPECT_TRUE(acl_vma_has_flag(&v, "dc")) TH_LOG("VmFlags: %s (no dc: VM_DONTCOPY)", v.vmflags);
	EXPECT_TRUE(acl_vma_has_flag(&v, "sh")) TH_LOG("VmFlags: %s (not shared)", v.vmflags);
	ASSERT_ACL_OK(acl_map_delete(&m));
}

static long futex(void *uaddr, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, uaddr, op, val, ts, NULL, 0);
}

struct futex_waiter {
	uint32_t *word;
	long ret;
	int err;
	uint32_t seen;
};

static void *futex_wait_thread(void *arg)
{
	struct futex_waiter *w = arg;
	struct timespec ts = { .tv_sec = 5 };

	w->ret = futex(w->word, FUTEX_WAIT, 0, &ts);
	w->err = w->ret ? errno : 0;
	w->seen = __atomic_load_n(w->word, __ATOMIC_SEQ_CST);
	return NULL;
}

TEST_F(memory, shared_futex_works_on_mapping)
{
	struct timespec short_ts = { .tv_nsec = 20 * 1000 * 1000 };
	const size_t offs[] = { 64, self->size - 64 };
	struct acl_mapping m;

	MAP_VARIANT(&m);
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		uint32_t *word = (uint32_t *)((char *)m.va + offs[i]);
		struct futex_waiter w = { .word = word };
		pthread_t th;
		long woken;

		/* Non-private futex ops need the kernel to key the page. */
		*word = 7;
		errno = 0;
		EXPECT_EQ(0, futex(word, FUTEX_WAKE, 1, NULL)) TH_LOG("FUTEX_WAKE: %s", strerror(errno));
		errno = 0;
		EXPECT_EQ(-1, futex(word, FUTEX_WAIT, 8, &short_ts));
		EXPECT_EQ(EAGAIN, errno) TH_LOG("FUTEX_WAIT (value differs): %s", strerror(errno));
		errno = 0;
		EXPECT_EQ(-1, futex(word, FUTEX_WAIT, 7, &short_ts));
		EXPECT_EQ(ETIMEDOUT, errno) TH_LOG("FUTEX_WAIT (value equal): %s", strerror(errno));

		/* A real wait and wake. */
		*word = 0;
		ASSERT_EQ(0, pthread_create(&th, NULL, futex_wait_thread, &w));
		usleep(200 * 1000);
		__atomic_store_n(word, 1, __ATOMIC_SEQ_CST);
		woken = futex(word, FUTEX_WAKE, 1, NULL);
		EXPECT_LE(0, woken) TH_LOG("FUTEX_WAKE: %s", strerror(errno));
		ASSERT_EQ(0, pthread_join(th, NULL));
		EXPECT_TRUE(w.ret == 0 || w.err == EAGAIN)
			TH_LOG("waiter: ret %ld, %s", w.ret, strerror(w.err));
		EXPECT_EQ(1U, w.seen);
		if (w.ret == 0) {
			EXPECT_EQ(1, woken);
		}
	}
	ASSERT_ACL_OK(acl_map_delete(&m));
}

struct pshared {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int ready;
	int ack;
	int err;
};

static int deadline_wait(struct pshared *s, int *flag)
{
	struct timespec ts;
	int ret = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	while (!*flag && ret == 0)
		ret = pthread_cond_timedwait(&s->cv, &s->mu, &ts);
	return ret;
}

static void *pshared_thread(void *arg)
{
	struct pshared *s = arg;
	int ret;

	/* Blocks on the contended mutex (a shared FUTEX_WAIT) ... */
	ret = pthread_mutex_lock(&s->mu);
	if (ret) {
		s->err = ret;
		return NULL;
	}
	/* ... and on the condition variable. */
	s->err = deadline_wait(s, &s->ready);
	s->ack = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

TEST_F(memory, process_shared_mutex_and_condvar)
{
	pthread_mutexattr_t ma;
	pthread_condattr_t ca;
	struct acl_mapping m;
	struct pshared *s;
	pthread_t th;

	MAP_VARIANT(&m);
	s = (struct pshared *)((char *)m.va + m.size / 2);
	ASSERT_EQ(0, pthread_mutexattr_init(&ma));
	ASSERT_EQ(0, pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED));
	ASSERT_EQ(0, pthread_mutex_init(&s->mu, &ma));
	ASSERT_EQ(0, pthread_condattr_init(&ca));
	ASSERT_EQ(0, pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED));
	ASSERT_EQ(0, pthread_cond_init(&s->cv, &ca));

	ASSERT_EQ(0, pthread_mutex_lock(&s->mu));
	ASSERT_EQ(0, pthread_create(&th, NULL, pshared_thread, s));
	usleep(200 * 1000);
	s->ready = 1;
	pthread_cond_broadcast(&s->cv);
	EXPECT_EQ(0, deadline_wait(s, &s->ack));
	EXPECT_EQ(1, s->ack);
	ASSERT_EQ(0, pthread_mutex_unlock(&s->mu));
	ASSERT_EQ(0, pthread_join(th, NULL));
	EXPECT_EQ(0, s->err) TH_LOG("thread: %s", strerror(s->err));

	EXPECT_EQ(0, pthread_cond_destroy(&s->cv));
	EXPECT_EQ(0, pthread_mutex_destroy(&s->mu));
	ASSERT_ACL_OK(acl_map_delete(&m));
}

TEST_F(memory, process_vm_readv_and_writev_from_child)
{
	struct acl_mapping m;
	pid_t pid;

	MAP_VARIANT(&m);
	fill(m.va, m.size, 0xfeed);

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		size_t size = m.size, half = (size / 2) & ~7UL;
		struct iovec local = { .iov_len = size };
		struct iovec remote = { .iov_base = m.va, .iov_len = size };
		char *buf;
		ssize_t n;

		/*
		 * The child has no mapping of its own there (probed before
		 * malloc(), whose mmap() could land in the hole) ...
		 */
		CHILD_CHECK(acl_probe(m.va, false) != 0, "the child can read the parent's mapping");
		buf = malloc(size);
		CHILD_CHECK(buf != NULL, "malloc");
		local.iov_base = buf;
		/* ... but reads the parent's through the kernel. */
		n = process_vm_readv(getppid(), &local, 1, &remote, 1, 0);
		CHILD_CHECK(n == (ssize_t)size, "process_vm_readv: %zd (%s)", n, strerror(errno));
		CHILD_CHECK(check(buf, size, 0xfeed) == size, "wrong data at %zu", check(buf, size, 0xfeed));

		fill(buf, size - half, 0xbeef);
		local.iov_len = remote.iov_len = size - half;
		remote.iov_base = (char *)m.va + half;
		n = process_vm_writev(getppid(), &local, 1, &remote, 1, 0);
		CHILD_CHECK(n == (ssize_t)(size - half), "process_vm_writev: %zd (%s)", n, strerror(errno));
		_exit(0);
	}
	ASSERT_CHILD_OK(pid);
	{
		size_t half = (m.size / 2) & ~7UL;

		EXPECT_EQ(half, check(m.va, half, 0xfeed));
		EXPECT_EQ(m.size - half, check((char *)m.va + half, m.size - half, 0xbeef));
	}
	ASSERT_ACL_OK(acl_map_delete(&m));
}

/*
 * Huge allocations: 2 MiB physically contiguous chunks, mapped with 2 MiB
 * page-table entries where the kernel has them.
 */
FIXTURE(huge) {
	struct acl_counters start;
};

FIXTURE_VARIANT(huge) {
	aclrtMemAttr attr;
	aclrtMemLocationType type;
	size_t size;
};

FIXTURE_VARIANT_ADD(huge, host_2m) { .attr = ACL_MEM_HUGE, .type = HOST, .size = SZ_2M };
FIXTURE_VARIANT_ADD(huge, device_4m) { .attr = ACL_HBM_MEM_HUGE, .type = DEVICE, .size = 2 * SZ_2M };
FIXTURE_VARIANT_ADD(huge, device_default_2m) { .attr = ACL_HBM_MEM, .type = DEVICE, .size = SZ_2M };
FIXTURE_VARIANT_ADD(huge, ddr_p2p_4m) { .attr = ACL_DDR_MEM_P2P_HUGE, .type = HOST, .size = 2 * SZ_2M };

FIXTURE_SETUP(huge)
{
	ASSERT_EQ(0, acl_read_counters(&self->start));
}

FIXTURE_TEARDOWN(huge)
{
	EXPECT_COUNTERS(self->start, ACL_CNT_LIVE_NO_OPENS);
}

/*
 * Where the kernel can (THP, 4 KiB pages), each chunk is mapped with one
 * PMD: smaps counts a PMD-mapped page of a file as FilePmdMapped (or
 * ShmemPmdMapped for a swap-backed one). Elsewhere (PREEMPT_RT, 16 KiB
 * pages) it must still be 2 MiB of physically contiguous memory, mapped
 * whole; huge.chunks_are_physically_contiguous checks that everywhere.
 */
TEST_F(huge, mapped_with_pmd_entries_where_the_kernel_can)
{
	struct acl_mapping m;
	struct acl_vma v;
	char why[160];

	ASSERT_ACL_OK(acl_map_new(&m, variant->size, variant->attr, variant->type, 0));
	ASSERT_EQ(0UL, (uintptr_t)m.va & (SZ_2M - 1));
	for (size_t off = 0; off < m.size; off += SZ_4K)
		((volatile char *)m.va)[off] = 1;

	ASSERT_EQ(1, acl_find_vma(0, m.va, &v));
	ASSERT_LE(0, v.file_pmd_kb) TH_LOG("no FilePmdMapped line in smaps");
	ASSERT_LE(0, v.shmem_pmd_kb) TH_LOG("no ShmemPmdMapped line in smaps");
	if (acl_kernel_maps_pmd_2m()) {
		EXPECT_EQ((long)(m.size / 1024), v.file_pmd_kb + v.shmem_pmd_kb)
			TH_LOG("%lx-%lx %s: Rss %ld kB, FilePmdMapped %ld kB, ShmemPmdMapped %ld kB, "
			       "AnonHugePages %ld kB, VmFlags %s", v.start, v.end, v.path, v.rss_kb,
			       v.file_pmd_kb, v.shmem_pmd_kb, v.anon_huge_kb, v.vmflags);
	} else {
		EXPECT_EQ((long)(m.size / 1024), v.rss_kb) TH_LOG("not all mapped: Rss %ld kB", v.rss_kb);
		EXPECT_EQ(0, acl_check_2m_chunks(m.va, m.size, why, sizeof(why))) TH_LOG("%s", why);
	}
	ASSERT_ACL_OK(acl_map_delete(&m));
}

TEST_F(huge, chunks_are_physically_contiguous)
{
	struct acl_mapping m;
	char why[160];

	ASSERT_ACL_OK(acl_map_new(&m, variant->size, variant->attr, variant->type, 0));
	for (size_t off = 0; off < m.size; off += SZ_4K)
		((volatile char *)m.va)[off] = 1;
	EXPECT_EQ(0, acl_check_2m_chunks(m.va, m.size, why, sizeof(why))) TH_LOG("%s", why);
	ASSERT_ACL_OK(acl_map_delete(&m));
}

TEST_HARNESS_MAIN
