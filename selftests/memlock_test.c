// SPDX-License-Identifier: GPL-2.0
/*
 * memlock_test - an unprivileged process cannot pin more memory than its
 * RLIMIT_MEMLOCK, whatever the kernel's shmem THP setting.
 *
 * With /sys/kernel/mm/transparent_hugepage/shmem_enabled at "always" or
 * "force", shmem backs even a 4 KiB allocation with a 2 MiB folio; a module
 * that kept its pages in shmem and charged 4 KiB let uid 65534 with a
 * 512 KiB limit pin hundreds of MiB. The test measures the memory the
 * kernel really holds (MemFree in /proc/meminfo), not the module's counters:
 * a child of uid 65534 with RLIMIT_MEMLOCK 512 KiB allocates base-page
 * NORMAL memory until it is refused; it must get exactly 512 KiB, be refused
 * with ACL_ERROR_RT_MEMORY_ALLOCATION naming RLIMIT_MEMLOCK, and MemFree
 * must not drop by more than 512 KiB and the allocations' own bookkeeping.
 * A kernel without shmem THP (PREEMPT_RT) has no such file: the variants
 * that would set it check the same thing with the kernel as it is.
 */
#include <sys/resource.h>

#include "acl/acl.h"
#include "acl_test_util.h"

#define NOBODY 65534
#define LIMIT (512 * 1024)
#define SHMEM_ENABLED "/sys/kernel/mm/transparent_hugepage/shmem_enabled"
/* What MemFree may drop by besides the pinned memory: an inode, a file and a dentry per
 * allocation (128 of them), the child's page tables and stack, per-CPU lists. */
#define SLACK_KB 8192LL
#define MAX_ALLOCS 4096

FIXTURE(memlock) {
	struct acl_counters start;
	struct acl_chan ch;
	char saved[64];		/* shmem_enabled's setting before the test, or "" */
	pid_t child;
};

FIXTURE_VARIANT(memlock) {
	const char *shmem_enabled;	/* NULL: leave it as it is */
};

FIXTURE_VARIANT_ADD(memlock, shmem_thp_as_booted) { .shmem_enabled = NULL };
FIXTURE_VARIANT_ADD(memlock, shmem_thp_always) { .shmem_enabled = "always" };
FIXTURE_VARIANT_ADD(memlock, shmem_thp_force) { .shmem_enabled = "force" };

FIXTURE_SETUP(memlock)
{
	char buf[256], *sel, *end;

	self->saved[0] = '\0';
	self->child = -1;
	ASSERT_EQ(0, acl_read_counters(&self->start));
	ASSERT_EQ(0, acl_chan_init(&self->ch));
	if (variant->shmem_enabled && acl_read_text(SHMEM_ENABLED, buf, sizeof(buf)) == 0) {
		/* "always within_size advise [never] deny force": the bracketed one is set. */
		sel = strchr(buf, '[');
		end = sel ? strchr(sel, ']') : NULL;
		ASSERT_NE(NULL, end) TH_LOG(SHMEM_ENABLED ": %s", buf);
		snprintf(self->saved, sizeof(self->saved), "%.*s", (int)(end - sel - 1), sel + 1);
		ASSERT_EQ(0, acl_write_text(SHMEM_ENABLED, variant->shmem_enabled))
			TH_LOG("cannot set " SHMEM_ENABLED " to %s", variant->shmem_enabled);
	} else if (variant->shmem_enabled) {
		ASSERT_NE(0, access("/sys/kernel/mm/transparent_hugepage", F_OK))
			TH_LOG("THP exists but " SHMEM_ENABLED " cannot be read");
		TH_LOG("no THP in this kernel: %s cannot be set; checking the kernel as it is",
		       variant->shmem_enabled);
	}
}

FIXTURE_TEARDOWN(memlock)
{
	if (self->child > 0) {
		kill(self->child, SIGKILL);
		acl_wait(self->child);
	}
	acl_chan_close(&self->ch);
	if (self->saved[0])
		EXPECT_EQ(0, acl_write_text(SHMEM_ENABLED, self->saved));
	EXPECT_COUNTERS(self->start, ACL_CNT_LIVE);
}

/* The child: uid 65534, RLIMIT_MEMLOCK 512 KiB; allocates base pages until refused. */
static void pin_all_it_can(struct acl_chan *ch)
{
	static aclrtDrvMemHandle h[MAX_ALLOCS];
	struct rlimit rl = { LIMIT, LIMIT };
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	aclrtPhysicalMemProp prop = acl_prop(ACL_MEM_NORMAL, ACL_MEM_LOCATION_TYPE_HOST, 0);
	uint32_t n = 0;
	aclError e = ACL_SUCCESS;

	CHILD_CHECK(setrlimit(RLIMIT_MEMLOCK, &rl) == 0, "setrlimit: %s", strerror(errno));
	CHILD_CHECK(setresgid(NOBODY, NOBODY, NOBODY) == 0, "setresgid: %s", strerror(errno));
	CHILD_CHECK(setresuid(NOBODY, NOBODY, NOBODY) == 0, "setresuid: %s", strerror(errno));
	CHILD_CHECK(aclrtSetDevice(0) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
	CHILD_CHECK(acl_tell(ch, 'r') == 0, "tell");
	CHILD_CHECK(acl_hear(ch, 'g') == 0, "no go");
	while (n < MAX_ALLOCS) {
		e = aclrtMallocPhysical(&h[n], page, &prop, 0);
		if (e != ACL_SUCCESS)
			break;
		n++;
	}
	CHILD_CHECK(e == ACL_ERROR_RT_MEMORY_ALLOCATION, "allocation %u gave %d: %s", n, e,
		    aclGetRecentErrMsg());
	CHILD_CHECK(strstr(aclGetRecentErrMsg(), "RLIMIT_MEMLOCK") != NULL, "message: %s",
		    aclGetRecentErrMsg());
	CHILD_CHECK(acl_send_val(ch, &n, sizeof(n)) == 0, "send");
	CHILD_CHECK(acl_hear(ch, 'q') == 0, "no quit");
	for (uint32_t i = 0; i < n; i++)
		CHILD_CHECK(aclrtFreePhysical(h[i]) == ACL_SUCCESS, "free %u", i);
	_exit(0);
}

TEST_F(memlock, unprivileged_pins_at_most_its_limit)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	long long before, held;
	uint32_t n = 0;

	self->child = fork();
	ASSERT_LE(0, self->child);
	if (self->child == 0) {
		acl_chan_child(&self->ch);
		pin_all_it_can(&self->ch);
	}
	acl_chan_parent(&self->ch);
	ASSERT_EQ(0, acl_hear(&self->ch, 'r'));
	before = acl_meminfo_kb("MemFree");
	ASSERT_LT(0, before);
	ASSERT_EQ(0, acl_tell(&self->ch, 'g'));
	ASSERT_EQ(0, acl_recv_val(&self->ch, &n, sizeof(n)));
	held = before - acl_meminfo_kb("MemFree");

	/* Charged exactly: neither less (a leak of the limit) nor more (a wrong charge). */
	EXPECT_EQ(LIMIT / page, n) TH_LOG("%u allocations of %zu bytes under a %d-byte limit",
					  n, page, LIMIT);
	EXPECT_GE(LIMIT / 1024 + SLACK_KB, held)
		TH_LOG("%u allocations of %zu bytes hold %lld kB of memory (limit %d kB)", n, page,
		       held, LIMIT / 1024);
	ASSERT_EQ(0, acl_tell(&self->ch, 'q'));
	ASSERT_CHILD_OK(self->child);
	self->child = -1;
}

TEST_HARNESS_MAIN
