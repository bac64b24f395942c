// SPDX-License-Identifier: GPL-2.0
/*
 * fragmentation_test - a HUGE allocation succeeds when free memory is
 * fragmented, because the module allocates its 2 MiB chunks with direct
 * reclaim and compaction, as hugetlb fills its pool (a module that asked
 * shmem for huge folios got the THP fault mask: no direct compaction
 * unless /sys/kernel/mm/transparent_hugepage/defrag says "always").
 *
 * A helper process takes nearly all free memory in anonymous base pages,
 * then gives back every other page: half of that memory is free again, but
 * in single pages, none of them part of a free 2 MiB block. Then a HUGE
 * allocation of half the free memory must succeed (the kernel has to
 * migrate the helper's pages to assemble the chunks), be zeroed, and go
 * away cleanly.
 */
#include <sys/mman.h>

#include "acl/acl.h"
#include "acl_test_util.h"

#define SZ_1M 0x100000UL
/*
 * Left free when the helper takes memory, so that the kernel itself is not
 * starved: 96 MiB, or twice the kernel's reserve (vm.min_free_kbytes) where
 * that is more. THP sizes the reserve by the pageblock (the PMD size): in
 * the 2 GiB test VM it is 44 MiB with 4 KiB pages, but 95 MiB (5% of
 * memory) with 16 KiB pages.
 */
#define MIN_MARGIN (96 * SZ_1M)

FIXTURE(frag) {
	struct acl_counters start;
	struct acl_chan ch;
	pid_t helper;
};

FIXTURE_SETUP(frag)
{
	self->helper = -1;
	ASSERT_EQ(0, acl_read_counters(&self->start));
	ASSERT_EQ(0, acl_chan_init(&self->ch));
}

FIXTURE_TEARDOWN(frag)
{
	if (self->helper > 0) {
		kill(self->helper, SIGKILL);
		acl_wait(self->helper);
	}
	acl_chan_close(&self->ch);
	EXPECT_COUNTERS(self->start, ACL_CNT_LIVE_NO_OPENS);
}

/* Takes @size bytes of anonymous base pages, frees every other page, holds the rest. */
static void fragmenter(struct acl_chan *ch, size_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	char *p;

	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHILD_CHECK(p != MAP_FAILED, "mmap %zu: %s", size, strerror(errno));
	/* Base pages only: a THP would come back as a whole free 2 MiB block. */
	CHILD_CHECK(madvise(p, size, MADV_NOHUGEPAGE) == 0 || errno == EINVAL, "madvise: %s",
		    strerror(errno));
	for (size_t off = 0; off < size; off += page)
		p[off] = 1;
	for (size_t off = 0; off < size; off += 2 * page)
		CHILD_CHECK(madvise(p + off, page, MADV_DONTNEED) == 0, "MADV_DONTNEED: %s",
			    strerror(errno));
	CHILD_CHECK(acl_tell(ch, 'f') == 0, "tell");
	CHILD_CHECK(acl_hear_within(ch, 'q', 500 * 1000) == 0, "no quit");
	_exit(0);
}

TEST_F_TIMEOUT(frag, huge_allocation_after_fragmenting_free_memory, 900)
{
	long long free_kb, avail_kb;
	aclrtPhysicalMemProp prop = acl_prop(ACL_MEM_HUGE, ACL_MEM_LOCATION_TYPE_HOST, 0);
	aclrtDrvMemHandle h = NULL;
	unsigned long long reserve_kb = 0;
	struct acl_mapping m;
	size_t left, take, want;
	aclError e;

	ASSERT_EQ(0, acl_read_ull("/proc/sys/vm/min_free_kbytes", &reserve_kb));
	left = 2 * reserve_kb * 1024 > MIN_MARGIN ? 2 * reserve_kb * 1024 : MIN_MARGIN;
	free_kb = acl_meminfo_kb("MemFree");
	ASSERT_LT(0, free_kb);
	ASSERT_LT((long long)(2 * left / 1024), free_kb) TH_LOG("only %lld kB free", free_kb);
	take = ((size_t)free_kb * 1024 - left) & ~(SZ_2M - 1);

	self->helper = fork();
	ASSERT_LE(0, self->helper);
	if (self->helper == 0) {
		acl_chan_child(&self->ch);
		fragmenter(&self->ch, take);
	}
	acl_chan_parent(&self->ch);
	/* Touching and punching GiBs page by page takes minutes under KASAN or arm64 TCG. */
	ASSERT_EQ(0, acl_hear_within(&self->ch, 'f', 400 * 1000))
		TH_LOG("the helper could not fragment memory");

	free_kb = acl_meminfo_kb("MemFree");
	avail_kb = acl_meminfo_kb("MemAvailable");
	/* Half the free memory: far more than the untouched margin holds in 2 MiB blocks. */
	want = ((size_t)free_kb * 1024 / 2) & ~(SZ_2M - 1);
	TH_LOG("helper holds %zu MiB in every other page; MemFree %lld kB, MemAvailable %lld kB; "
	       "allocating %zu MiB HUGE", take / 2 / SZ_1M, free_kb, avail_kb, want / SZ_1M);
	ASSERT_LT(left * 2, want);

	e = aclrtMallocPhysical(&h, want, &prop, 0);
	ASSERT_EQ(ACL_SUCCESS, e) TH_LOG("%zu MiB HUGE with fragmented free memory: %s",
					 want / SZ_1M, aclGetRecentErrMsg());
	ASSERT_ACL_OK(aclrtFreePhysical(h));

	/* And through the usual path: mapped, zeroed, released. */
	ASSERT_ACL_OK(acl_map_new(&m, SZ_2M * 8, ACL_MEM_HUGE, ACL_MEM_LOCATION_TYPE_HOST, 0));
	EXPECT_EQ(m.size, first_diff_byte(m.va, m.size, 0));
	ASSERT_ACL_OK(acl_map_delete(&m));

	ASSERT_EQ(0, acl_tell(&self->ch, 'q'));
	ASSERT_CHILD_OK(self->helper);
	self->helper = -1;
}

TEST_HARNESS_MAIN
