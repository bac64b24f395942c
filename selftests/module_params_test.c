// SPDX-License-Identifier: GPL-2.0
/*
 * module_params_test - the module parameters of contract section 6 do what
 * they say. Each test unloads acl_share, loads it again with one parameter
 * changed, and proves the effect through the library in child processes
 * (the library keeps /dev/acl_share open, which would keep the module
 * busy); the teardown loads it back with the parameters it had. Values
 * outside the documented ranges are refused at load time.
 *
 * Runs as root in the VM, before rmmod_test. The module file is found as
 * module_util.h says.
 */
#include "acl/acl.h"
#include <linux/acl_share.h>

#include "acl_test_util.h"
#include "module_util.h"

FIXTURE(modparams) {
	char params[512];	/* what the module had at setup */
	bool changed;		/* loaded with other parameters since */
};

FIXTURE_SETUP(modparams)
{
	ASSERT_MODULE_IDLE(self->params, sizeof(self->params));
}

FIXTURE_TEARDOWN(modparams)
{
	char now[512];
	int ret;

	if (!self->changed)
		return;
	if (module_live()) {
		ret = delete_module(MODULE_NAME, O_NONBLOCK);
		EXPECT_EQ(0, ret) TH_LOG("unloading after the test: %s", strerror(-ret));
	}
	ret = load_module(self->params);
	EXPECT_EQ(0, ret) TH_LOG("loading %s again with \"%s\": %s", MODULE_NAME, self->params,
				 strerror(-ret));
	EXPECT_EQ(0, module_params_now(now, sizeof(now)));
	EXPECT_STREQ(self->params, now);
}

/* Unloads the module and loads it with @params; 0 or -errno. */
static int reload(FIXTURE_DATA(modparams) *self, const char *params)
{
	int ret = delete_module(MODULE_NAME, O_NONBLOCK);

	if (ret)
		return ret;
	self->changed = true;
	return load_module(params);
}

#define ASSERT_RELOAD(params)                                                      \
	do {                                                                       \
		int __r = reload(self, (params));                                  \
		ASSERT_EQ(0, __r) TH_LOG("reloading with \"%s\": %s", (params),     \
					 strerror(-__r));                          \
	} while (0)

/* Runs @fn in a child (the library opens the device there) and checks it. */
#define ASSERT_IN_CHILD(fn, arg)                                                   \
	do {                                                                       \
		pid_t __pid = fork();                                              \
		ASSERT_LE(0, __pid);                                               \
		if (__pid == 0)                                                    \
			fn(arg);                                                   \
		ASSERT_CHILD_OK(__pid);                                            \
	} while (0)

#define CHILD_ACL(code, call)                                                      \
	do {                                                                       \
		aclError __e = (call);                                             \
		CHILD_CHECK(__e == (code), "%s: %d, expected %d (%s)", #call, __e,   \
			    (code), aclGetRecentErrMsg());                         \
	} while (0)

TEST_F(modparams, load_refuses_values_out_of_range)
{
	static const char *const bad[] = {
		"device_count=0", "device_count=1025", "max_pids_per_handle=0",
		"max_pids_per_handle=65536", "max_exports=0",
	};
	int ret;

	ret = delete_module(MODULE_NAME, O_NONBLOCK);
	ASSERT_EQ(0, ret) TH_LOG("delete_module: %s", strerror(-ret));
	self->changed = true;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ret = load_module(bad[i]);
		EXPECT_EQ(-EINVAL, ret) TH_LOG("loading with %s: %s", bad[i],
					       ret ? strerror(-ret) : "loaded");
		if (!ret)
			EXPECT_EQ(0, delete_module(MODULE_NAME, O_NONBLOCK));
		EXPECT_FALSE(module_live()) TH_LOG("%s left the module loaded", bad[i]);
	}
	/* The edges of the ranges load. */
	ret = load_module("device_count=1024 max_pids_per_handle=65535 max_exports=1");
	EXPECT_EQ(0, ret) TH_LOG("loading with the largest values: %s", strerror(-ret));
}

static void __attribute__((noreturn)) two_devices(int unused)
{
	aclrtPhysicalMemProp prop = acl_prop(ACL_HBM_MEM_HUGE, ACL_MEM_LOCATION_TYPE_DEVICE, 1);
	aclrtDrvMemHandle h = NULL;
	uint32_t n = 0;

	(void)unused;
	CHILD_ACL(ACL_SUCCESS, aclrtGetDeviceCount(&n));
	CHILD_CHECK(n == 2, "aclrtGetDeviceCount: %u devices, the module has 2", n);
	CHILD_ACL(ACL_SUCCESS, aclrtSetDevice(1));
	CHILD_ACL(ACL_ERROR_RT_INVALID_DEVICEID, aclrtSetDevice(2));
	CHILD_ACL(ACL_SUCCESS, aclrtMallocPhysical(&h, SZ_2M, &prop, 0));
	CHILD_ACL(ACL_SUCCESS, aclrtFreePhysical(h));
	prop.location.id = 2;
	CHILD_ACL(ACL_ERROR_RT_INVALID_DEVICEID, aclrtMallocPhysical(&h, SZ_2M, &prop, 0));
	_exit(0);
}

TEST_F(modparams, device_count)
{
	unsigned long long v = 0;

	ASSERT_RELOAD("device_count=2");
	ASSERT_EQ(0, acl_read_param("device_count", &v));
	EXPECT_EQ(2ULL, v);
	ASSERT_IN_CHILD(two_devices, 0);
}

/* Exports a FABRIC handle; a grandchild imports it and a changed copy. */
static void __attribute__((noreturn)) fabric_server(unsigned int server)
{
	aclrtPhysicalMemProp prop = acl_prop(ACL_MEM_HUGE, ACL_MEM_LOCATION_TYPE_HOST, 0);
	struct acl_share_fabric_handle f;
	aclrtMemFabricHandle fh, other;
	aclrtDrvMemHandle h = NULL, imp = NULL;
	pid_t pid;

	CHILD_ACL(ACL_SUCCESS, aclrtMallocPhysical(&h, SZ_2M, &prop, 0));
	CHILD_ACL(ACL_SUCCESS, aclrtMemExportToShareableHandleV2(
		h, ACL_RT_VMM_EXPORT_FLAG_DISABLE_PID_VALIDATION, ACL_MEM_SHARE_HANDLE_TYPE_FABRIC,
		&fh));
	memcpy(&f, fh.data, sizeof(f));
	CHILD_CHECK(f.server_id == server, "the FABRIC handle names server %u, the module is %u",
		    f.server_id, server);

	pid = fork();
	CHILD_CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		CHILD_ACL(ACL_SUCCESS, aclrtSetDevice(0));
		CHILD_ACL(ACL_SUCCESS, aclrtMemImportFromShareableHandleV2(
			&fh, ACL_MEM_SHARE_HANDLE_TYPE_FABRIC, 0, &imp));
		CHILD_ACL(ACL_SUCCESS, aclrtFreePhysical(imp));
		/* The same handle naming server 0, the default. */
		f.server_id = 0;
		memcpy(other.data, fh.data, sizeof(other.data));
		memcpy(other.data, &f, sizeof(f));
		CHILD_ACL(ACL_ERROR_RT_FEATURE_NOT_SUPPORT, aclrtMemImportFromShareableHandleV2(
			&other, ACL_MEM_SHARE_HANDLE_TYPE_FABRIC, 0, &imp));
		_exit(0);
	}
	CHILD_CHECK(acl_wait(pid) == 0, "the importer failed");
	CHILD_ACL(ACL_SUCCESS, aclrtFreePhysical(h));
	_exit(0);
}

TEST_F(modparams, server_id)
{
	struct acl_share_info info = { 0 };
	unsigned long long v = 0;
	int fd;

	ASSERT_RELOAD("server_id=77");
	ASSERT_EQ(0, acl_read_param("server_id", &v));
	EXPECT_EQ(77ULL, v);
	fd = open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, acl_raw_info(fd, &info));
	EXPECT_EQ(77U, info.out_server_id);
	EXPECT_EQ(0, close(fd));
	ASSERT_IN_CHILD(fabric_server, 77);
}

static void __attribute__((noreturn)) three_exports(int limit)
{
	aclrtPhysicalMemProp prop = acl_prop(ACL_MEM_NORMAL, ACL_MEM_LOCATION_TYPE_HOST, 0);
	aclrtDrvMemHandle h[3] = { NULL };
	uint64_t sh[3] = { 0 };
	const char *m;

	for (int i = 0; i < 3; i++)
		CHILD_ACL(ACL_SUCCESS, aclrtMallocPhysical(&h[i], acl_page_size(), &prop, 0));
	for (int i = 0; i < limit; i++)
		CHILD_ACL(ACL_SUCCESS, aclrtMemExportToShareableHandle(h[i], ACL_MEM_HANDLE_TYPE_NONE,
								       0, &sh[i]));
	CHILD_ACL(ACL_ERROR_RT_OVER_LIMIT,
		  aclrtMemExportToShareableHandle(h[2], ACL_MEM_HANDLE_TYPE_NONE, 0, &sh[2]));
	m = aclGetRecentErrMsg();
	CHILD_CHECK(m && acl_msg_names(m, "max_exports"), "message: %s", m ? m : "(none)");
	/* Freeing an exported handle gives its place back. */
	CHILD_ACL(ACL_SUCCESS, aclrtFreePhysical(h[0]));
	CHILD_ACL(ACL_SUCCESS,
		  aclrtMemExportToShareableHandle(h[2], ACL_MEM_HANDLE_TYPE_NONE, 0, &sh[2]));
	CHILD_ACL(ACL_SUCCESS, aclrtFreePhysical(h[1]));
	CHILD_ACL(ACL_SUCCESS, aclrtFreePhysical(h[2]));
	_exit(0);
}

TEST_F(modparams, max_exports)
{
	ASSERT_RELOAD("max_exports=2");
	ASSERT_IN_CHILD(three_exports, 2);
}

/* Processes that wait until their pipe closes: live pids to whitelist. */
static int sleepers(pid_t *pids, int n, int *wr)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC))
		return -errno;
	for (int i = 0; i < n; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			return -errno;
		if (pids[i] == 0) {
			char c;

			close(p[1]);
			while (read(p[0], &c, 1) < 0 && errno == EINTR)
				;
			_exit(0);
		}
	}
	close(p[0]);
	*wr = p[1];
	return 0;
}

static void __attribute__((noreturn)) three_pids(int unused)
{
	aclrtPhysicalMemProp prop = acl_prop(ACL_MEM_NORMAL, ACL_MEM_LOCATION_TYPE_HOST, 0);
	aclrtDrvMemHandle h = NULL;
	uint64_t sh = 0;
	pid_t pids[4];
	int32_t bare[4];
	int wr = -1;

	(void)unused;
	CHILD_CHECK(sleepers(pids, 4, &wr) == 0, "fork: %s", strerror(errno));
	for (int i = 0; i < 4; i++)
		bare[i] = pids[i]; /* the VM runs in the initial pid namespace */
	CHILD_ACL(ACL_SUCCESS, aclrtMallocPhysical(&h, acl_page_size(), &prop, 0));
	CHILD_ACL(ACL_SUCCESS, aclrtMemExportToShareableHandle(h, ACL_MEM_HANDLE_TYPE_NONE, 0, &sh));
	CHILD_ACL(ACL_ERROR_RT_PARAM_INVALID, aclrtMemSetPidToShareableHandle(sh, bare, 4));
	/* Nothing of the refused call was added: three still fit. */
	CHILD_ACL(ACL_SUCCESS, aclrtMemSetPidToShareableHandle(sh, bare, 3));
	CHILD_ACL(ACL_SUCCESS, aclrtMemSetPidToShareableHandle(sh, bare, 3));
	CHILD_ACL(ACL_ERROR_RT_PARAM_INVALID, aclrtMemSetPidToShareableHandle(sh, &bare[3], 1));
	/* An entry whose process has gone makes room (docs/decisions.md). */
	kill(pids[0], SIGKILL);
	CHILD_CHECK(waitpid(pids[0], NULL, 0) == pids[0], "waitpid: %s", strerror(errno));
	CHILD_ACL(ACL_SUCCESS, aclrtMemSetPidToShareableHandle(sh, &bare[3], 1));
	CHILD_ACL(ACL_SUCCESS, aclrtFreePhysical(h));
	close(wr);
	for (int i = 1; i < 4; i++)
		CHILD_CHECK(acl_wait(pids[i]) == 0, "sleeper %d", i);
	_exit(0);
}

TEST_F(modparams, max_pids_per_handle)
{
	ASSERT_RELOAD("max_pids_per_handle=3");
	ASSERT_IN_CHILD(three_pids, 0);
}

TEST_HARNESS_MAIN
