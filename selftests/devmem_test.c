// SPDX-License-Identifier: GPL-2.0
/*
 * devmem_test - aclrtMalloc / aclrtMallocAlign32 / aclrtFree, the
 * asynchronous copies on synchronous streams, and peer access (contract
 * section 7).
 *
 * What each policy allocates is read back through the API (the retained
 * handle's properties) and from the module's allocated_bytes counter. Device
 * memory comes in 2 MiB units (contract section 3), base pages or 2 MiB
 * chunks. The fallback of HUGE_FIRST to base pages when no chunk can be had
 * is in devmem_fallback_test (it needs the debug kernel's fault injection).
 */
#include <pthread.h>
#include <sys/wait.h>

#include "acl/acl.h"
#include "acl_test_util.h"

#define SZ_1M 0x100000UL
#define SZ_2M 0x200000UL
#define SZ_1G 0x40000000UL

FIXTURE(devmem) {
	struct acl_counters start;
};

FIXTURE_SETUP(devmem)
{
	ASSERT_EQ(0, acl_read_counters(&self->start));
	ASSERT_ACL_OK(aclrtSetDevice(0));
}

FIXTURE_TEARDOWN(devmem)
{
	EXPECT_COUNTERS(self->start, ACL_CNT_LIVE_NO_OPENS);
}

static unsigned long long allocated_bytes(void)
{
	unsigned long long v = 0;

	acl_read_counter(ACL_CNT_ALLOCATED_BYTES, &v);
	return v;
}

TEST_F(devmem, bad_arguments)
{
	void *p = NULL;

	EXPECT_ACL(ACL_ERROR_INVALID_PARAM, aclrtMalloc(NULL, 4096, ACL_MEM_MALLOC_HUGE_FIRST),
		   "devPtr");
	EXPECT_ACL(ACL_ERROR_INVALID_PARAM, aclrtMalloc(&p, 0, ACL_MEM_MALLOC_HUGE_FIRST), "size");
	EXPECT_ACL(ACL_ERROR_INVALID_PARAM, aclrtMallocAlign32(&p, 0, ACL_MEM_MALLOC_NORMAL_ONLY),
		   "size");
	EXPECT_ACL(ACL_ERROR_INVALID_PARAM, aclrtFree(NULL), "devPtr");
	EXPECT_EQ(NULL, p);
}

struct policy_case {
	const char *name;
	uint32_t policy;
	size_t size;
	bool huge;		/* else base pages */
};

static const struct policy_case policy_cases[] = {
	{ "HUGE_FIRST 4 KiB: normal", ACL_MEM_MALLOC_HUGE_FIRST, 4096, false },
	{ "HUGE_FIRST 1 MiB: normal", ACL_MEM_MALLOC_HUGE_FIRST, SZ_1M, false },
	{ "HUGE_FIRST 1 MiB + 1: huge", ACL_MEM_MALLOC_HUGE_FIRST, SZ_1M + 1, true },
	{ "HUGE_FIRST 5 MiB: huge", ACL_MEM_MALLOC_HUGE_FIRST, 5 * SZ_1M, true },
	{ "HUGE_FIRST_P2P 3 MiB: huge", ACL_MEM_MALLOC_HUGE_FIRST_P2P, 3 * SZ_1M, true },
	{ "HUGE_ONLY 100 B: huge", ACL_MEM_MALLOC_HUGE_ONLY, 100, true },
	{ "HUGE_ONLY_P2P 2 MiB: huge", ACL_MEM_MALLOC_HUGE_ONLY_P2P, SZ_2M, true },
	{ "NORMAL_ONLY 3 MiB + 5: normal", ACL_MEM_MALLOC_NORMAL_ONLY, 3 * SZ_1M + 5, false },
	{ "NORMAL_ONLY_P2P 1 B: normal", ACL_MEM_MALLOC_NORMAL_ONLY_P2P, 1, false },
	/* Not one policy: huge from 2 MiB, normal below (CANN's rule). */
	{ "HUGE_FIRST|HIGH_BAND_WIDTH 2 MiB: huge",
	  ACL_MEM_MALLOC_HUGE_FIRST | ACL_MEM_TYPE_HIGH_BAND_WIDTH, SZ_2M, true },
	{ "HUGE_FIRST|HIGH_BAND_WIDTH 1.5 MiB: normal",
	  ACL_MEM_MALLOC_HUGE_FIRST | ACL_MEM_TYPE_HIGH_BAND_WIDTH, SZ_1M + SZ_1M / 2, false },
	{ "unknown policy 99, 64 KiB: normal", 99, 65536, false },
};

static size_t round_up(size_t n, size_t to)
{
	return (n + to - 1) / to * to;
}

/* The attribute of the allocation mapped at @p (0 on failure), through a retained handle. */
static uint32_t attr_of(void *p)
{
	aclrtPhysicalMemProp prop = { 0 };
	aclrtDrvMemHandle h = NULL;

	if (aclrtMemRetainAllocationHandle(p, &h) != ACL_SUCCESS)
		return 0;
	if (aclrtMemGetAllocationPropertiesFromHandle(h, &prop) != ACL_SUCCESS)
		prop.memAttr = (aclrtMemAttr)0;
	aclrtFreePhysical(h);
	return (uint32_t)prop.memAttr;
}

TEST_F(devmem, every_policy_allocates_what_it_says)
{
	for (size_t i = 0; i < sizeof(policy_cases) / sizeof(policy_cases[0]); i++) {
		const struct policy_case *c = &policy_cases[i];
		size_t want = round_up(c->size, SZ_2M);
		unsigned long long before = allocated_bytes();
		unsigned char *p = NULL;
		char why[256] = "";

		ASSERT_EQ(ACL_SUCCESS,
			  aclrtMalloc((void **)&p, c->size, (aclrtMemMallocPolicy)c->policy))
			TH_LOG("%s: %s", c->name, aclGetRecentErrMsg());
		EXPECT_EQ(0UL, (uintptr_t)p % 64) TH_LOG("%s: %p", c->name, p);
		EXPECT_EQ(before + want, allocated_bytes()) TH_LOG("%s", c->name);
		EXPECT_EQ((uint32_t)(c->huge ? ACL_HBM_MEM_HUGE : ACL_HBM_MEM_NORMAL), attr_of(p))
			TH_LOG("%s", c->name);
		/* Ours is zeroed (CANN's is not initialised), and all of it is usable. */
		EXPECT_EQ(want, first_diff_byte(p, want, 0)) TH_LOG("%s", c->name);
		if (c->huge) {
			EXPECT_EQ(0UL, (uintptr_t)p % SZ_2M) TH_LOG("%s: %p", c->name, p);
			EXPECT_EQ(0, acl_check_2m_chunks(p, want, why, sizeof(why)))
				TH_LOG("%s: %s", c->name, why);
		}
		memset(p, 0xa5, want);
		EXPECT_EQ(want, first_diff_byte(p, want, 0xa5)) TH_LOG("%s", c->name);
		ASSERT_EQ(ACL_SUCCESS, aclrtFree(p)) TH_LOG("%s: %s", c->name, aclGetRecentErrMsg());
		EXPECT_EQ(before, allocated_bytes()) TH_LOG("%s", c->name);
	}
}

TEST_F(devmem, align32_and_huge1g)
{
	unsigned long long before = allocated_bytes();
	void *p = NULL;

	ASSERT_ACL_OK(aclrtMallocAlign32(&p, 33, ACL_MEM_MALLOC_HUGE_FIRST));
	EXPECT_EQ(0UL, (uintptr_t)p % 64);
	EXPECT_EQ(before + SZ_2M, allocated_bytes());
	EXPECT_EQ((uint32_t)ACL_HBM_MEM_NORMAL, attr_of(p));
	ASSERT_ACL_OK(aclrtFree(p));

	ASSERT_ACL_OK(aclrtMalloc(&p, 1, ACL_MEM_MALLOC_HUGE1G_ONLY));
	EXPECT_EQ(before + SZ_1G, allocated_bytes());
	EXPECT_EQ((uint32_t)ACL_HBM_MEM_HUGE1G, attr_of(p));
	memset(p, 1, 4096);
	((unsigned char *)p)[SZ_1G - 1] = 2;
	ASSERT_ACL_OK(aclrtFree(p));
	EXPECT_EQ(before, allocated_bytes());
}

TEST_F(devmem, free_refuses_what_is_not_a_live_allocation)
{
	unsigned char *p = NULL;
	int on_stack;

	ASSERT_ACL_OK(aclrtMalloc((void **)&p, 3 * SZ_1M, ACL_MEM_MALLOC_HUGE_ONLY));
	EXPECT_ACL(ACL_ERROR_INVALID_PARAM, aclrtFree(p + 64), "not its start");
	EXPECT_ACL(ACL_ERROR_INVALID_PARAM, aclrtFree(&on_stack), "not a live");
	ASSERT_ACL_OK(aclrtFree(p));
	EXPECT_ACL(ACL_ERROR_INVALID_PARAM, aclrtFree(p), "not a live");
}

TEST_F(devmem, async_copies_on_streams)
{
	const size_t n = 3 * SZ_1M;
	unsigned char *a = NULL, *b = NULL;
	aclrtStream s = NULL;
	int not_a_stream;

	ASSERT_ACL_OK(aclrtMalloc((void **)&a, n, ACL_MEM_MALLOC_HUGE_FIRST));
	ASSERT_ACL_OK(aclrtMalloc((void **)&b, n, ACL_MEM_MALLOC_NORMAL_ONLY));
	ASSERT_ACL_OK(aclrtCreateStream(&s));

	EXPECT_ACL_OK(aclrtMemsetAsync(a, n, 0x5a, n, s));
	EXPECT_ACL_OK(aclrtMemcpyAsync(b, n, a, n, ACL_MEMCPY_DEVICE_TO_DEVICE, s));
	EXPECT_ACL_OK(aclrtSynchronizeStream(s));
	EXPECT_EQ(n, first_diff_byte(b, n, 0x5a));
	/* The default stream. */
	EXPECT_ACL_OK(aclrtMemsetAsync(b, n, 0x11, n / 2, NULL));
	EXPECT_EQ(n / 2, first_diff_byte(b, n, 0x11));
	EXPECT_ACL_OK(aclrtMemcpyAsync(a, n, b, n, ACL_MEMCPY_DEVICE_TO_DEVICE, NULL));
	EXPECT_EQ(n / 2, first_diff_byte(a, n, 0x11));

	EXPECT_ACL(ACL_ERROR_RT_PARAM_INVALID,
		   aclrtMemsetAsync(a, n, 0, n, (aclrtStream)&not_a_stream), "stream");
	EXPECT_ACL(ACL_ERROR_RT_PARAM_INVALID,
		   aclrtMemcpyAsync(a, n, b, n, ACL_MEMCPY_DEVICE_TO_DEVICE,
				    (aclrtStream)&not_a_stream), "stream");
	EXPECT_ACL(ACL_ERROR_INVALID_PARAM, aclrtMemcpyAsync(a, n, b, n + 1,
							      ACL_MEMCPY_DEVICE_TO_DEVICE, s),
		   "destMax");

	ASSERT_ACL_OK(aclrtDestroyStream(s));
	ASSERT_ACL_OK(aclrtFree(a));
	ASSERT_ACL_OK(aclrtFree(b));
}

static void *enable_without_device(void *arg)
{
	aclError *e = arg;

	*e = aclrtDeviceEnablePeerAccess(1, 0);
	return NULL;
}

TEST_F(devmem, peer_access)
{
	unsigned long long count = 0;
	int32_t can = -1, status = -1;
	aclError from_thread = ACL_SUCCESS;
	pthread_t t;

	ASSERT_EQ(0, acl_read_param("device_count", &count));
	ASSERT_LE(2ULL, count);

	EXPECT_ACL(ACL_ERROR_INVALID_PARAM, aclrtDeviceCanAccessPeer(NULL, 0, 1), "canAccessPeer");
	EXPECT_ACL(ACL_ERROR_RT_PARAM_INVALID, aclrtDeviceCanAccessPeer(&can, 1, 1), "peer");
	EXPECT_ACL(ACL_ERROR_RT_INVALID_DEVICEID,
		   aclrtDeviceCanAccessPeer(&can, 0, (int32_t)count), "peerDeviceId");
	EXPECT_ACL(ACL_ERROR_RT_INVALID_DEVICEID, aclrtDeviceCanAccessPeer(&can, -1, 0),
		   "deviceId");
	EXPECT_ACL_OK(aclrtDeviceCanAccessPeer(&can, 0, (int32_t)count - 1));
	EXPECT_EQ(1, can);

	/* Enable and Disable act for the thread's current device. */
	ASSERT_EQ(0, pthread_create(&t, NULL, enable_without_device, &from_thread));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(ACL_ERROR_RT_CONTEXT_NULL, from_thread);
	EXPECT_ACL(ACL_ERROR_RT_PARAM_INVALID, aclrtDeviceEnablePeerAccess(1, 1), "flags");
	EXPECT_ACL(ACL_ERROR_RT_PARAM_INVALID, aclrtDeviceEnablePeerAccess(0, 0), "peer");
	EXPECT_ACL(ACL_ERROR_RT_INVALID_DEVICEID,
		   aclrtDeviceEnablePeerAccess((int32_t)count, 0), "peerDeviceId");

	EXPECT_ACL_OK(aclrtDevicePeerAccessStatus(0, 1, &status));
	EXPECT_EQ(0, status);
	EXPECT_ACL_OK(aclrtDeviceEnablePeerAccess(1, 0));
	EXPECT_ACL_OK(aclrtDevicePeerAccessStatus(0, 1, &status));
	EXPECT_EQ(1, status);
	/* One direction only. */
	EXPECT_ACL_OK(aclrtDevicePeerAccessStatus(1, 0, &status));
	EXPECT_EQ(0, status);
	EXPECT_ACL_OK(aclrtDeviceDisablePeerAccess(1));
	EXPECT_ACL_OK(aclrtDevicePeerAccessStatus(0, 1, &status));
	EXPECT_EQ(0, status);
	EXPECT_ACL(ACL_ERROR_INVALID_PARAM, aclrtDevicePeerAccessStatus(0, 1, NULL), "status");
}

/* A fork() child has none of its parent's allocations, and makes its own. */
TEST_F(devmem, fork_child_starts_empty)
{
	void *p = NULL;
	pid_t pid;

	ASSERT_ACL_OK(aclrtMalloc(&p, SZ_2M, ACL_MEM_MALLOC_HUGE_ONLY));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		void *q = NULL;

		CHILD_CHECK(aclrtFree(p) == ACL_ERROR_INVALID_PARAM, "freed the parent's: %s",
			    aclGetRecentErrMsg());
		CHILD_CHECK(aclrtMalloc(&q, SZ_2M, ACL_MEM_MALLOC_HUGE_ONLY) == ACL_SUCCESS, "%s",
			    aclGetRecentErrMsg());
		memset(q, 7, SZ_2M);
		CHILD_CHECK(aclrtFree(q) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
		_exit(0);
	}
	ASSERT_CHILD_OK(pid);
	memset(p, 9, SZ_2M);
	ASSERT_ACL_OK(aclrtFree(p));
}

/* A process that exits holding allocations leaves nothing behind. */
TEST_F(devmem, exit_without_free)
{
	pid_t pid = fork();

	ASSERT_LE(0, pid);
	if (pid == 0) {
		void *p = NULL, *q = NULL;

		CHILD_CHECK(aclrtMalloc(&p, 3 * SZ_1M, ACL_MEM_MALLOC_HUGE_FIRST) == ACL_SUCCESS,
			    "%s", aclGetRecentErrMsg());
		CHILD_CHECK(aclrtMalloc(&q, 4096, ACL_MEM_MALLOC_NORMAL_ONLY) == ACL_SUCCESS, "%s",
			    aclGetRecentErrMsg());
		_exit(0);
	}
	ASSERT_CHILD_OK(pid);
}

#define THREADS 4
#define ROUNDS 64

static void *malloc_free_loop(void *arg)
{
	uintptr_t seed = (uintptr_t)arg;

	for (int i = 0; i < ROUNDS; i++) {
		size_t size = ((seed + (uintptr_t)i) % 3 + 1) * SZ_1M;
		unsigned char *p = NULL;

		if (aclrtMalloc((void **)&p, size, ACL_MEM_MALLOC_HUGE_FIRST) != ACL_SUCCESS)
			return (void *)1;
		p[0] = (unsigned char)i;
		p[size - 1] = (unsigned char)i;
		if (aclrtFree(p) != ACL_SUCCESS)
			return (void *)2;
	}
	return NULL;
}

TEST_F(devmem, threads_malloc_and_free)
{
	pthread_t t[THREADS];

	for (uintptr_t i = 0; i < THREADS; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL, malloc_free_loop, (void *)i));
	for (int i = 0; i < THREADS; i++) {
		void *ret = (void *)-1;

		ASSERT_EQ(0, pthread_join(t[i], &ret));
		EXPECT_EQ(NULL, ret) TH_LOG("thread %d: %s", i, aclGetRecentErrMsg());
	}
}

TEST_HARNESS_MAIN
