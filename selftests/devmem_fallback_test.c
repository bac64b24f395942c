// SPDX-License-Identifier: GPL-2.0
/*
 * devmem_fallback_test - aclrtMalloc with ACL_MEM_MALLOC_HUGE_FIRST falls
 * back to base pages when no 2 MiB chunk can be had, and HUGE_ONLY fails
 * instead (contract section 7).
 *
 * "No chunk can be had" is made exact with the debug kernel's fault
 * injection: fail_page_alloc fails every allocation of a 2 MiB chunk's
 * order or more of one task (make-it-fail), and none of a lower order. The
 * module tries a chunk for about 13 s before it gives up (kmod/phys.c), so
 * each refused chunk costs that.
 */
#include <sys/mount.h>
#include <sys/stat.h>

#include "acl/acl.h"
#include "acl_test_util.h"

#define SZ_1M 0x100000UL
#define SZ_2M 0x200000UL
#define DEBUGFS "/sys/kernel/debug"
#define FPA DEBUGFS "/fail_page_alloc/"

static const struct {
	const char *name;
	const char *value;	/* NULL: min-order, computed */
} attrs[] = {
	{ "task-filter", "Y" },	{ "probability", "100" },     { "interval", "1" },
	{ "times", "-1" },	{ "space", "0" },	      { "ignore-gfp-wait", "N" },
	{ "ignore-gfp-highmem", "N" }, { "verbose", "0" },    { "min-order", NULL },
};
#define NR_ATTRS (sizeof(attrs) / sizeof(attrs[0]))

FIXTURE(fallback) {
	struct acl_counters start;
	char saved[NR_ATTRS][64];
	bool restore[NR_ATTRS];
};

FIXTURE_SETUP(fallback)
{
	unsigned int order = 0;
	char path[128], v[16];
	struct stat st;

	ASSERT_EQ(0, acl_read_counters(&self->start));
	while ((acl_page_size() << order) < SZ_2M)
		order++;
	if (stat(FPA, &st))
		mount("debugfs", DEBUGFS, "debugfs", 0, NULL);
	for (size_t i = 0; i < NR_ATTRS; i++) {
		snprintf(path, sizeof(path), FPA "%s", attrs[i].name);
		ASSERT_EQ(0, acl_read_text(path, self->saved[i], sizeof(self->saved[i])))
			TH_LOG("%s (a kernel with CONFIG_FAIL_PAGE_ALLOC and "
			       "CONFIG_FAULT_INJECTION_DEBUG_FS: the debug kernel)", path);
		self->saved[i][strcspn(self->saved[i], "\n")] = '\0';
		snprintf(v, sizeof(v), "%u", order);
		ASSERT_EQ(0, acl_write_text(path, attrs[i].value ? attrs[i].value : v))
			TH_LOG("%s", path);
		self->restore[i] = true;
	}
}

FIXTURE_TEARDOWN(fallback)
{
	char path[128];

	for (size_t i = 0; i < NR_ATTRS; i++) {
		if (!self->restore[i])
			continue;
		snprintf(path, sizeof(path), FPA "%s", attrs[i].name);
		EXPECT_EQ(0, acl_write_text(path, self->saved[i])) TH_LOG("restore %s", path);
	}
	EXPECT_COUNTERS(self->start, ACL_CNT_LIVE_NO_OPENS);
}

static unsigned long long allocated_bytes(void)
{
	unsigned long long v = 0;

	acl_read_counter(ACL_CNT_ALLOCATED_BYTES, &v);
	return v;
}

TEST_F_TIMEOUT(fallback, huge_first_falls_back_huge_only_fails, 600)
{
	pid_t pid = fork();

	ASSERT_LE(0, pid);
	if (pid == 0) {
		aclrtPhysicalMemProp prop = { 0 };
		aclrtDrvMemHandle h = NULL;
		unsigned long long before;
		void *p = NULL;
		aclError e;

		CHILD_CHECK(aclrtSetDevice(0) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
		/* Opens the device before the faults start. */
		CHILD_CHECK(aclrtMalloc(&p, 4096, ACL_MEM_MALLOC_NORMAL_ONLY) == ACL_SUCCESS, "%s",
			    aclGetRecentErrMsg());
		CHILD_CHECK(aclrtFree(p) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
		p = NULL;
		CHILD_CHECK(acl_write_text("/proc/self/make-it-fail", "1") == 0, "make-it-fail");
		before = allocated_bytes();

		e = aclrtMalloc(&p, 3 * SZ_1M, ACL_MEM_MALLOC_HUGE_ONLY);
		CHILD_CHECK(e == ACL_ERROR_RT_MEMORY_ALLOCATION, "HUGE_ONLY gave %d: %s", e,
			    aclGetRecentErrMsg());
		CHILD_CHECK(strstr(aclGetRecentErrMsg(), "aclrtMalloc: ") != NULL, "message: %s",
			    aclGetRecentErrMsg());
		CHILD_CHECK(p == NULL, "devPtr set on failure");

		e = aclrtMalloc(&p, 3 * SZ_1M, ACL_MEM_MALLOC_HUGE_FIRST);
		CHILD_CHECK(e == ACL_SUCCESS, "HUGE_FIRST gave %d: %s", e, aclGetRecentErrMsg());
		CHILD_CHECK(allocated_bytes() == before + 2 * SZ_2M, "HUGE_FIRST allocated %llu bytes",
			    allocated_bytes() - before);
		CHILD_CHECK(aclrtMemRetainAllocationHandle(p, &h) == ACL_SUCCESS, "%s",
			    aclGetRecentErrMsg());
		CHILD_CHECK(aclrtMemGetAllocationPropertiesFromHandle(h, &prop) == ACL_SUCCESS, "%s",
			    aclGetRecentErrMsg());
		CHILD_CHECK(prop.memAttr == ACL_HBM_MEM_NORMAL, "fell back to attribute %d",
			    (int)prop.memAttr);
		CHILD_CHECK(aclrtFreePhysical(h) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
		memset(p, 3, 3 * SZ_1M);
		CHILD_CHECK(acl_write_text("/proc/self/make-it-fail", "0") == 0, "make-it-fail");
		CHILD_CHECK(aclrtFree(p) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
		_exit(0);
	}
	ASSERT_CHILD_OK(pid);
}

TEST_HARNESS_MAIN
