// SPDX-License-Identifier: GPL-2.0
/*
 * rmmod_test - the module cannot be unloaded while anything holds it
 * (contract 4.3): delete_module() fails with EWOULDBLOCK/EBUSY while
 * /dev/acl_share is open in this or another process, or while a mapping
 * outlives its descriptor; once nothing holds it, unloading succeeds. The
 * module is then loaded again (finit_module) with the parameters it had, so
 * that this binary can run anywhere in the suite; it runs last anyway.
 *
 * The module file is $ACL_SHARE_KO, else /lib/modules/acl_share.ko, else
 * /lib/modules/$(uname -r)/{extra,updates}/acl_share.ko.
 */
#include <sys/syscall.h>
#include <sys/utsname.h>

#include "acl/acl.h"
#include <linux/acl_share.h>

#include "acl_test_util.h"
#include "module_util.h"

#define ACL_MEM_HUGE_ATTR 13 /* aclrtMemAttr ACL_MEM_HUGE */

/* delete_module() of a busy module: EWOULDBLOCK (a held reference) or EBUSY. */
#define EXPECT_BUSY(why)                                                           \
	do {                                                                       \
		int __r = delete_module(MODULE_NAME, O_NONBLOCK);                  \
		EXPECT_TRUE(__r == -EWOULDBLOCK || __r == -EBUSY)                  \
			TH_LOG("delete_module while %s: %d (%s)", (why), __r,      \
			       __r ? strerror(-__r) : "unloaded!");                \
		EXPECT_TRUE(module_live()) TH_LOG("the module went away while %s", (why)); \
	} while (0)

FIXTURE(rmmod) {
	struct acl_counters start;
	char params[512];
	bool reloaded;
};

FIXTURE_SETUP(rmmod)
{
	ASSERT_TRUE(module_live()) TH_LOG("module %s is not loaded", MODULE_NAME);
	ASSERT_EQ(0, acl_read_counters(&self->start));
	/* The parameters it has now, to load it again the same way. */
	ASSERT_EQ(0, module_params_now(self->params, sizeof(self->params)));
}

FIXTURE_TEARDOWN(rmmod)
{
	struct acl_counters zero;

	if (!module_live()) {
		EXPECT_EQ(0, load_module(self->params)) TH_LOG("reloading %s", MODULE_NAME);
		self->reloaded = true;
	}
	if (self->reloaded) {
		/* A fresh module, and the test let go of everything. */
		memset(&zero, 0, sizeof(zero));
		EXPECT_COUNTERS(zero, ACL_CNT_LIVE);
	} else {
		EXPECT_COUNTERS(self->start, ACL_CNT_LIVE);
	}
}

TEST_F(rmmod, busy_while_open)
{
	struct acl_share_info info;
	int fd;

	fd = open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("open: %s", strerror(errno));
	EXPECT_BUSY("the device is open");
	EXPECT_EQ(0, acl_raw_info(fd, &info)) TH_LOG("the open file stopped working");
	EXPECT_EQ(0, close(fd));
}

TEST_F(rmmod, busy_while_mapped_after_close)
{
	uint64_t off = 0;
	uint32_t h = 0;
	void *p;
	int fd;

	fd = open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, acl_raw_alloc(fd, SZ_2M, ACL_MEM_HUGE_ATTR, ACL_SHARE_LOC_HOST, 0, &h, &off));
	p = mmap(NULL, SZ_2M, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);
	ASSERT_NE(MAP_FAILED, p) TH_LOG("mmap: %s", strerror(errno));
	ASSERT_EQ(0, close(fd));
	EXPECT_BUSY("a mapping exists");
	memset(p, 1, SZ_2M); /* still backed */
	EXPECT_EQ(0, munmap(p, SZ_2M));
}

TEST_F(rmmod, busy_while_another_process_holds_it)
{
	struct acl_chan ch;
	pid_t pid;

	ASSERT_EQ(0, acl_chan_init(&ch));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int fd;

		acl_chan_child(&ch);
		fd = open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC);
		CHILD_CHECK(fd >= 0, "open: %s", strerror(errno));
		CHILD_CHECK(acl_tell(&ch, 'R') == 0, "tell");
		CHILD_CHECK(acl_hear(&ch, 'X') == 0, "hear");
		_exit(0);
	}
	acl_chan_parent(&ch);
	ASSERT_EQ(0, acl_hear(&ch, 'R'));
	EXPECT_BUSY("another process has the device open");
	ASSERT_EQ(0, acl_tell(&ch, 'X'));
	ASSERT_CHILD_OK(pid);
	acl_chan_close(&ch);
}

/* In a child, with the module unloaded: the library reports 207004. */
static void __attribute__((noreturn)) child_without_module(void)
{
	aclrtPhysicalMemProp prop = acl_prop(ACL_MEM_NORMAL, ACL_MEM_LOCATION_TYPE_HOST, 0);
	aclrtDrvMemHandle h = NULL;
	const char *m;
	uint32_t n = 0;
	aclError e;

	e = aclrtMallocPhysical(&h, acl_page_size(), &prop, 0);
	CHILD_CHECK(e == ACL_ERROR_RT_NO_DEVICE, "MallocPhysical: %d", e);
	m = aclGetRecentErrMsg();
	CHILD_CHECK(m && acl_msg_names(m, "module|loaded"), "message: %s", m ? m : "(none)");
	e = aclrtGetDeviceCount(&n);
	CHILD_CHECK(e == ACL_ERROR_RT_NO_DEVICE, "GetDeviceCount: %d", e);
	_exit(0);
}

/* Must stay the last test: it unloads the module (the teardown reloads it). */
TEST_F(rmmod, unload_succeeds_when_unused)
{
	char path[512];
	int fd, ret;
	pid_t pid;

	ASSERT_TRUE(ko_path(path, sizeof(path)))
		TH_LOG("no %s.ko to load again afterwards (set ACL_SHARE_KO)", MODULE_NAME);
	ASSERT_EQ(0ULL, self->start.v[ACL_CNT_OPENS]) TH_LOG("someone still has the device open");

	ret = delete_module(MODULE_NAME, O_NONBLOCK);
	ASSERT_EQ(0, ret) TH_LOG("delete_module: %s", strerror(-ret));
	EXPECT_FALSE(module_live());
	/* It went away, so nothing can have been allocated or mapped. */
	EXPECT_EQ(0ULL, self->start.v[ACL_CNT_ALLOCATIONS]) TH_LOG("unloaded with allocations alive");
	EXPECT_EQ(0ULL, self->start.v[ACL_CNT_ALLOCATED_BYTES]);
	EXPECT_EQ(0ULL, self->start.v[ACL_CNT_MAPPINGS]) TH_LOG("unloaded with mappings alive");
	EXPECT_EQ(0ULL, self->start.v[ACL_CNT_HANDLES]);
	EXPECT_EQ(0ULL, self->start.v[ACL_CNT_EXPORTS]);
	EXPECT_EQ(0ULL, self->start.v[ACL_CNT_IMPORTS]);
	EXPECT_NE(0, access(ACL_STATS_DIR, F_OK)) TH_LOG("the counters outlived the module");
	fd = open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC);
	EXPECT_GT(0, fd) TH_LOG("%s still opens after unloading", ACL_DEV_PATH);
	if (fd >= 0)
		close(fd);

	/* The library says the module is not loaded (decisions.md: 207004). */
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		child_without_module();
	ASSERT_CHILD_OK(pid);

	/* Load it again, with the same parameters, and use it. */
	ret = load_module(self->params);
	ASSERT_EQ(0, ret) TH_LOG("loading %s with \"%s\": %s", path, self->params, strerror(-ret));
	self->reloaded = true;
	{
		unsigned long long count = 0;
		struct acl_share_info info;
		uint32_t h = 0;

		fd = open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, fd);
		ASSERT_EQ(0, acl_raw_info(fd, &info));
		ASSERT_EQ(0, acl_read_param("device_count", &count));
		EXPECT_EQ(count, info.out_device_count);
		EXPECT_EQ(0, acl_raw_alloc(fd, SZ_2M, ACL_MEM_HUGE_ATTR, ACL_SHARE_LOC_HOST, 0, &h, NULL));
		EXPECT_EQ(0, close(fd));
	}
}

TEST_HARNESS_MAIN
