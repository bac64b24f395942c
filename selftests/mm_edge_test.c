// SPDX-License-Identifier: GPL-2.0
/*
 * Edges of the mapping and handle code, with raw ioctls:
 *  - mmap(NULL, ...) of a huge allocation lands 2 MiB aligned, so it gets
 *    2 MiB page-table entries without the library's help;
 *  - a read-only descriptor maps read-only, and nothing more;
 *  - MADV_DOFORK does not make a mapping inheritable: the child's copy
 *    faults (SIGBUS) instead of reaching the pages;
 *  - ALLOC racing a FREE of the number it is about to hand out returns a
 *    handle that names what it allocated (no read of a freed handle).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <linux/acl_share.h>

#include "acl_test_util.h"

FIXTURE(edge) {
	struct acl_counters start;
	int fd;
};

FIXTURE_SETUP(edge)
{
	ASSERT_EQ(0, acl_read_counters(&self->start));
	self->fd = open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd) TH_LOG("open: %s", strerror(errno));
}

FIXTURE_TEARDOWN(edge)
{
	close(self->fd);
	EXPECT_COUNTERS(self->start, ACL_CNT_LIVE);
}

TEST_F(edge, raw_mmap_of_huge_memory_is_pmd_aligned)
{
	struct acl_vma v;
	uint64_t off;
	uint32_t h;
	char *p;

	ASSERT_EQ(0, acl_raw_alloc(self->fd, 2 * SZ_2M, 13 /* ACL_MEM_HUGE */,
				   ACL_SHARE_LOC_HOST, 0, &h, &off));
	for (int i = 0; i < 8; i++) {
		p = mmap(NULL, 2 * SZ_2M, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, (off_t)off);
		ASSERT_NE(MAP_FAILED, p) TH_LOG("mmap: %s", strerror(errno));
		EXPECT_EQ(0UL, (unsigned long)p % SZ_2M) TH_LOG("mapped at %p", p);
		memset(p, 0x5a, 2 * SZ_2M);
		ASSERT_EQ(1, acl_find_vma(0, p, &v));
		if (acl_kernel_maps_pmd_2m()) {
			EXPECT_EQ((long)(2 * SZ_2M / 1024), v.shmem_pmd_kb + v.file_pmd_kb)
				TH_LOG("ShmemPmdMapped %ld kB, FilePmdMapped %ld kB", v.shmem_pmd_kb,
				       v.file_pmd_kb);
		}
		ASSERT_EQ(0, munmap(p, 2 * SZ_2M));
	}
	EXPECT_EQ(0, acl_raw_free(self->fd, h));
}

TEST_F(edge, read_only_descriptor_maps_read_only)
{
	uint64_t off;
	uint32_t h;
	int ro;
	char *p;

	ro = open(ACL_DEV_PATH, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, ro);
	ASSERT_EQ(0, acl_raw_alloc(ro, SZ_2M, 4 /* ACL_HBM_MEM_HUGE */, ACL_SHARE_LOC_DEVICE, 0,
				   &h, &off));
	p = mmap(NULL, SZ_2M, PROT_READ | PROT_WRITE, MAP_SHARED, ro, (off_t)off);
	EXPECT_EQ(MAP_FAILED, p) TH_LOG("a writable shared mapping of an O_RDONLY file");
	EXPECT_EQ(EACCES, errno);
	p = mmap(NULL, SZ_2M, PROT_READ, MAP_SHARED, ro, (off_t)off);
	ASSERT_NE(MAP_FAILED, p) TH_LOG("read-only mapping: %s", strerror(errno));
	EXPECT_EQ(0, p[SZ_2M - 1]);
	EXPECT_EQ(SIGSEGV, acl_probe((unsigned char *)p, true));
	EXPECT_NE(0, mprotect(p, SZ_2M, PROT_READ | PROT_WRITE));
	EXPECT_EQ(0, munmap(p, SZ_2M));
	EXPECT_EQ(0, acl_raw_free(ro, h));
	close(ro);
}

TEST_F(edge, madv_dofork_does_not_share_with_the_child)
{
	uint64_t off;
	uint32_t h;
	pid_t pid;
	char *p;

	ASSERT_EQ(0, acl_raw_alloc(self->fd, SZ_2M, 4 /* ACL_HBM_MEM_HUGE */, ACL_SHARE_LOC_DEVICE,
				   0, &h, &off));
	p = mmap(NULL, SZ_2M, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, (off_t)off);
	ASSERT_NE(MAP_FAILED, p);
	memset(p, 0x77, SZ_2M);
	ASSERT_EQ(0, madvise(p, SZ_2M, MADV_DOFORK));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		CHILD_CHECK(acl_probe((unsigned char *)p, false) == SIGBUS,
			    "the child reached its parent's pages through MADV_DOFORK");
		CHILD_CHECK(acl_probe((unsigned char *)p + SZ_2M - 1, true) == SIGBUS,
			    "the child wrote its parent's pages");
		_exit(0);
	}
	ASSERT_CHILD_OK(pid);
	for (size_t i = 0; i < SZ_2M; i += SZ_4K)
		ASSERT_EQ(0x77, p[i]);
	EXPECT_EQ(0, munmap(p, SZ_2M));
	EXPECT_EQ(0, acl_raw_free(self->fd, h));
}

struct id_race {
	int fd;
	_Atomic uint32_t last;
	_Atomic int stop;
};

static void *free_next_ids(void *arg)
{
	struct id_race *r = arg;

	while (!atomic_load(&r->stop)) {
		uint32_t next = atomic_load(&r->last) + 1;

		acl_raw_free(r->fd, next);
		acl_raw_free(r->fd, next + 1);
	}
	return NULL;
}

/* Handles are numbered cyclically, so the next number is easy to guess. */
TEST_F(edge, alloc_racing_free_of_its_own_number)
{
	struct id_race r = { .fd = self->fd };
	unsigned long allocs = 0, freed_under_us = 0;
	struct timespec t0, now;
	pthread_t thr;

	ASSERT_EQ(0, pthread_create(&thr, NULL, free_next_ids, &r));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		struct acl_share_query q;
		uint64_t off;
		uint32_t h = 0;

		ASSERT_EQ(0, acl_raw_alloc(self->fd, acl_page_size(), 12 /* ACL_MEM_NORMAL */,
					   ACL_SHARE_LOC_HOST, 0, &h, &off));
		allocs++;
		ASSERT_NE(0U, h) TH_LOG("ALLOC %lu returned handle 0", allocs);
		ASSERT_EQ(acl_handle_mmap_offset(h), off) TH_LOG("handle %u, offset %#llx", h,
								 (unsigned long long)off);
		atomic_store(&r.last, h);
		if (acl_raw_query(self->fd, h, &q) == 0) {
			EXPECT_EQ((uint64_t)acl_page_size(), q.out_length);
			acl_raw_free(self->fd, h);
		} else {
			freed_under_us++;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (now.tv_sec - t0.tv_sec < 3);
	atomic_store(&r.stop, 1);
	pthread_join(thr, NULL);
	TH_LOG("%lu allocations, %lu freed by the other thread first", allocs, freed_under_us);
}

TEST_HARNESS_MAIN
