// SPDX-License-Identifier: GPL-2.0
/*
 * lifetime_test - what a process holds dies with it, and nothing of it
 * passes to a fork() child (contract 4.3, docs/decisions.md "Handles and
 * the device file"):
 *  - a child that allocated and mapped, then exits without cleaning up or
 *    is SIGKILLed (also at random instants of its work): every counter
 *    returns to its start;
 *  - a fork() child cannot use the parent's handles, through the library
 *    (107017) or through the inherited descriptor (-EACCES), and gets no
 *    mapping of the parent's allocations;
 *  - closing the device releases its allocations; a mapping keeps its
 *    allocation alive after the close until munmap;
 *  - the exit of one thread (with a files table of its own) is not the
 *    exit of the process.
 */
#include <pthread.h>
#include <sched.h>

#include "acl/acl.h"
#include <linux/acl_share.h>

#include "acl_test_util.h"

#define HOST ACL_MEM_LOCATION_TYPE_HOST
#define DEVICE ACL_MEM_LOCATION_TYPE_DEVICE
#define HOST_NUMA ACL_MEM_LOCATION_TYPE_HOST_NUMA

FIXTURE(lifetime) {
	struct acl_counters start;
	/* What the teardown compares: ACL_CNT_LIVE when the test process
	 * itself never used the library, else ACL_CNT_LIVE_NO_OPENS. */
	unsigned int mask;
	/* A child that waits for the parent; killed if an ASSERT left it. */
	pid_t child;
};

FIXTURE_SETUP(lifetime)
{
	ASSERT_EQ(0, acl_read_counters(&self->start));
	self->mask = ACL_CNT_LIVE;
}

FIXTURE_TEARDOWN(lifetime)
{
	if (self->child > 0) {
		kill(self->child, SIGKILL);
		acl_wait(self->child);
	}
	EXPECT_COUNTERS(self->start, self->mask);
}

/*
 * In a child: allocates and maps a mix of everything, then says 'R' and
 * waits for 'X' (or a signal). Holds 3 allocations (10 MiB), 2 mappings,
 * 2 handles and 1 open file.
 */
#define HELD_ALLOCATIONS 3
#define HELD_BYTES (4 * SZ_2M + 2 * SZ_2M + SZ_2M)
#define HELD_MAPPINGS 2
#define HELD_HANDLES 2

static void __attribute__((noreturn)) child_hold_everything(struct acl_chan *ch, bool cleanup_exit)
{
	aclrtPhysicalMemProp prop = acl_prop(ACL_MEM_NORMAL, HOST_NUMA, 0);
	struct acl_mapping a, b;
	aclrtDrvMemHandle c = NULL;
	void *r = NULL;

	acl_chan_child(ch);
	CHILD_CHECK(acl_map_new(&a, 4 * SZ_2M, ACL_MEM_NORMAL, HOST, 0) == ACL_SUCCESS, "map a");
	CHILD_CHECK(acl_map_new(&b, 2 * SZ_2M, ACL_HBM_MEM_HUGE, DEVICE, 0) == ACL_SUCCESS, "map b");
	CHILD_CHECK(aclrtFreePhysical(b.handle) == ACL_SUCCESS, "free b while mapped");
	CHILD_CHECK(aclrtMallocPhysical(&c, SZ_2M, &prop, 0) == ACL_SUCCESS, "malloc c");
	CHILD_CHECK(aclrtReserveMemAddress(&r, 4 * SZ_2M, 0, NULL, 0) == ACL_SUCCESS, "reserve");
	memset(a.va, 1, a.size);
	memset(b.va, 2, b.size);
	CHILD_CHECK(acl_tell(ch, 'R') == 0, "tell");
	while (acl_hear(ch, 'X'))
		;
	if (cleanup_exit)
		exit(0);
	_exit(0);
}

static void expect_held(struct __test_metadata *_metadata, const struct acl_counters *start)
{
	EXPECT_COUNTER_DELTA(*start, ACL_CNT_ALLOCATIONS, HELD_ALLOCATIONS);
	EXPECT_COUNTER_DELTA(*start, ACL_CNT_ALLOCATED_BYTES, HELD_BYTES);
	EXPECT_COUNTER_DELTA(*start, ACL_CNT_MAPPINGS, HELD_MAPPINGS);
	EXPECT_COUNTER_DELTA(*start, ACL_CNT_HANDLES, HELD_HANDLES);
	EXPECT_COUNTER_DELTA(*start, ACL_CNT_OPENS, 1);
}

TEST_F(lifetime, exit_without_cleanup_releases_everything)
{
	for (int how = 0; how < 2; how++) {
		struct acl_chan ch;
		pid_t pid;

		ASSERT_EQ(0, acl_chan_init(&ch));
		pid = fork();
		ASSERT_LE(0, pid);
		if (pid == 0)
			child_hold_everything(&ch, how == 1);
		self->child = pid;
		acl_chan_parent(&ch);
		ASSERT_EQ(0, acl_hear(&ch, 'R')) TH_LOG("the child did not get ready");
		expect_held(_metadata, &self->start);
		ASSERT_EQ(0, acl_tell(&ch, 'X'));
		self->child = 0;
		ASSERT_CHILD_OK(pid);
		acl_chan_close(&ch);
		ASSERT_COUNTERS(self->start, ACL_CNT_LIVE) TH_LOG("after %s", how ? "exit()" : "_exit()");
	}
}

TEST_F(lifetime, sigkill_releases_everything)
{
	struct acl_chan ch;
	pid_t pid;

	ASSERT_EQ(0, acl_chan_init(&ch));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		child_hold_everything(&ch, false);
	self->child = pid;
	acl_chan_parent(&ch);
	ASSERT_EQ(0, acl_hear(&ch, 'R')) TH_LOG("the child did not get ready");
	expect_held(_metadata, &self->start);
	self->child = 0;
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_CHILD_SIGNALED(pid, SIGKILL);
	acl_chan_close(&ch);
	ASSERT_COUNTERS(self->start, ACL_CNT_LIVE);
}

/* A child that allocates, maps, frees and unmaps in a loop until killed. */
static void __attribute__((noreturn)) child_churn(void)
{
	for (unsigned int i = 0;; i++) {
		struct acl_mapping m;
		size_t size = (i % 3 + 1) * SZ_2M;

		if (acl_map_new(&m, size, i & 1 ? ACL_MEM_HUGE : ACL_MEM_NORMAL, HOST, 0))
			_exit(1);
		memset(m.va, (int)i, size);
		if (i % 2)
			aclrtFreePhysical(m.handle);
		aclrtUnmapMem(m.va);
		aclrtReleaseMemAddress(m.va);
		if (!(i % 2))
			aclrtFreePhysical(m.handle);
	}
}

TEST_F(lifetime, sigkill_at_any_instant_releases_everything)
{
	for (int i = 0; i < 30; i++) {
		useconds_t delay = (useconds_t)((i * 7919) % 4000);
		pid_t pid = fork();

		ASSERT_LE(0, pid);
		if (pid == 0)
			child_churn();
		usleep(delay);
		ASSERT_EQ(0, kill(pid, SIGKILL));
		ASSERT_CHILD_SIGNALED(pid, SIGKILL);
		ASSERT_COUNTERS(self->start, ACL_CNT_LIVE) TH_LOG("killed after %u us (round %d)", delay, i);
	}
}

TEST_F(lifetime, fork_child_cannot_use_parent_handles)
{
	aclrtPhysicalMemProp prop;
	struct acl_counters before;
	struct acl_mapping m;
	pid_t pid;

	self->mask = ACL_CNT_LIVE_NO_OPENS;
	ASSERT_ACL_OK(acl_map_new(&m, SZ_2M, ACL_HBM_MEM_HUGE, DEVICE, 0));
	memset(m.va, 0x5a, m.size);
	ASSERT_EQ(0, acl_read_counters(&before));

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		aclrtDrvMemHandle h = NULL;
		void *r = NULL, *base = NULL;
		aclError e;

		/* Before the child allocates anything: its handles are its own. */
		e = aclrtMemGetAllocationPropertiesFromHandle(m.handle, &prop);
		CHILD_CHECK(e == ACL_ERROR_RT_INVALID_HANDLE, "GetAllocationProperties: %d", e);
		CHILD_CHECK(aclrtReserveMemAddress(&r, SZ_2M, 0, NULL, 0) == ACL_SUCCESS, "reserve");
		e = aclrtMapMem(r, SZ_2M, 0, m.handle, 0);
		CHILD_CHECK(e == ACL_ERROR_RT_INVALID_HANDLE, "MapMem: %d", e);
		e = aclrtFreePhysical(m.handle);
		CHILD_CHECK(e == ACL_ERROR_RT_INVALID_HANDLE, "FreePhysical: %d", e);
		/* Nor are the parent's mappings. */
		e = aclrtMemGetAddressRange(m.va, &base, NULL);
		CHILD_CHECK(e == ACL_ERROR_RT_PARAM_INVALID, "GetAddressRange: %d", e);
		e = aclrtMemRetainAllocationHandle(m.va, &h);
		CHILD_CHECK(e == ACL_ERROR_RT_PARAM_INVALID, "RetainAllocationHandle: %d", e);
		e = aclrtUnmapMem(m.va);
		CHILD_CHECK(e == ACL_ERROR_RT_PARAM_INVALID, "UnmapMem: %d", e);
		CHILD_CHECK(aclrtReleaseMemAddress(r) == ACL_SUCCESS, "release");
		_exit(0);
	}
	ASSERT_CHILD_OK(pid);

	/* The parent's allocation is untouched. */
	ASSERT_COUNTERS(before, ACL_CNT_LIVE);
	ASSERT_ACL_OK(aclrtMemGetAllocationPropertiesFromHandle(m.handle, &prop));
	EXPECT_EQ(m.size, first_diff_byte(m.va, m.size, 0x5a));
	ASSERT_ACL_OK(acl_map_delete(&m));
}

TEST_F(lifetime, fork_child_gets_no_mapping)
{
	struct acl_mapping m;
	pid_t pid;

	self->mask = ACL_CNT_LIVE_NO_OPENS;
	ASSERT_ACL_OK(acl_map_new(&m, 2 * SZ_2M, ACL_HBM_MEM_HUGE, DEVICE, 0));
	memset(m.va, 0x77, m.size);

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct acl_mapping mine;
		struct acl_vma v;
		int n;

		CHILD_CHECK(acl_probe(m.va, false) != 0, "the child can read the parent's mapping");
		CHILD_CHECK(acl_probe((unsigned char *)m.va + m.size - 1, false) != 0,
			    "the child can read the parent's mapping");
		n = acl_find_vma(0, m.va, &v);
		CHILD_CHECK(n == 0 || !strstr(v.path, "acl_share"),
			    "the child has a VMA of the device at %p: %lx-%lx %s", m.va, v.start,
			    v.end, v.path);
		n = acl_count_vmas_of(ACL_MAP_PATH);
		CHILD_CHECK(n == 0, "%d VMAs of %s in the child", n, ACL_MAP_PATH);

		/* The child works like a fresh process. */
		CHILD_CHECK(acl_map_new(&mine, SZ_2M, ACL_HBM_MEM_HUGE, DEVICE, 0) == ACL_SUCCESS,
			    "map in the child: %s", aclGetRecentErrMsg());
		CHILD_CHECK(first_diff_byte(mine.va, mine.size, 0) == mine.size, "not zeroed");
		CHILD_CHECK(acl_map_delete(&mine) == ACL_SUCCESS, "unmap in the child");
		_exit(0);
	}
	ASSERT_CHILD_OK(pid);
	EXPECT_EQ(m.size, first_diff_byte(m.va, m.size, 0x77));
	ASSERT_ACL_OK(acl_map_delete(&m));
}

TEST_F(lifetime, fork_child_keeps_runtime_state)
{
	unsigned long long n = 0;
	aclrtStream s = NULL;
	unsigned char *host = NULL;
	pid_t pid;

	/* decisions.md: a child keeps its thread's device, the streams, host
	 * memory and the aclInit state. */
	self->mask = ACL_CNT_LIVE_NO_OPENS;
	ASSERT_EQ(0, acl_read_param("device_count", &n));
	ASSERT_ACL_OK(aclInit(NULL));
	ASSERT_ACL_OK(aclrtSetDevice((int32_t)n - 1));
	ASSERT_ACL_OK(aclrtCreateStream(&s));
	ASSERT_ACL_OK(aclrtMallocHost((void **)&host, SZ_4K));
	host[17] = 0x42;

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int32_t dev = -1;
		aclError e;

		e = aclrtGetDevice(&dev);
		CHILD_CHECK(e == ACL_SUCCESS && dev == (int32_t)n - 1, "GetDevice: %d, %d", e, dev);
		e = aclrtSynchronizeStream(s);
		CHILD_CHECK(e == ACL_SUCCESS, "SynchronizeStream of the parent's stream: %d", e);
		CHILD_CHECK(host[17] == 0x42, "host memory");
		e = aclrtFreeHost(host);
		CHILD_CHECK(e == ACL_SUCCESS, "FreeHost of the parent's host memory: %d", e);
		e = aclInit(NULL);
		CHILD_CHECK(e == ACL_ERROR_REPEAT_INITIALIZE, "aclInit: %d", e);
		e = aclrtDestroyStream(s);
		CHILD_CHECK(e == ACL_SUCCESS, "DestroyStream: %d", e);
		_exit(0);
	}
	ASSERT_CHILD_OK(pid);
	EXPECT_ACL_OK(aclrtDestroyStream(s));
	EXPECT_ACL_OK(aclrtFreeHost(host));
	EXPECT_ACL_OK(aclFinalize());
}

TEST_F(lifetime, inherited_descriptor_is_refused)
{
	struct acl_counters before;
	struct acl_share_query q;
	uint64_t off = 0;
	uint32_t h = 0;
	void *va;
	pid_t pid;
	int fd;

	fd = open(ACL_DEV_PATH, O_RDWR);
	ASSERT_LE(0, fd) TH_LOG("open %s: %s", ACL_DEV_PATH, strerror(errno));
	ASSERT_EQ(0, acl_raw_alloc(fd, SZ_2M, ACL_HBM_MEM_HUGE, ACL_SHARE_LOC_DEVICE, 0, &h, &off));
	va = mmap(NULL, SZ_2M, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);
	ASSERT_NE(MAP_FAILED, va) TH_LOG("mmap: %s", strerror(errno));
	memset(va, 0x33, SZ_2M);
	ASSERT_EQ(0, acl_read_counters(&before));

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct acl_share_info info;
		uint32_t h2 = 0;
		void *p;
		int ret;

		ret = acl_raw_info(fd, &info);
		CHILD_CHECK(ret == -EACCES, "INFO: %d", ret);
		ret = acl_raw_query(fd, h, &q);
		CHILD_CHECK(ret == -EACCES, "QUERY: %d", ret);
		ret = acl_raw_alloc(fd, SZ_2M, ACL_HBM_MEM_HUGE, ACL_SHARE_LOC_DEVICE, 0, &h2, NULL);
		CHILD_CHECK(ret == -EACCES, "ALLOC: %d", ret);
		ret = acl_raw_free(fd, h);
		CHILD_CHECK(ret == -EACCES, "FREE: %d", ret);
		p = mmap(NULL, SZ_2M, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);
		CHILD_CHECK(p == MAP_FAILED && errno == EACCES, "mmap: %p (%s)", p, strerror(errno));

		/* The kernel did not copy the parent's mapping (no library here). */
		CHILD_CHECK(acl_probe(va, false) != 0, "the child can read the parent's mapping");
		ret = acl_count_vmas_of(ACL_MAP_PATH);
		CHILD_CHECK(ret == 0, "%d VMAs of %s in the child", ret, ACL_MAP_PATH);
		_exit(0);
	}
	ASSERT_CHILD_OK(pid);

	ASSERT_COUNTERS(before, ACL_CNT_LIVE);
	ASSERT_EQ(0, acl_raw_query(fd, h, &q));
	EXPECT_EQ((uint64_t)SZ_2M, q.out_length);
	EXPECT_EQ(SZ_2M, first_diff_byte(va, SZ_2M, 0x33));
	EXPECT_EQ(0, munmap(va, SZ_2M));
	EXPECT_EQ(0, acl_raw_free(fd, h));
	EXPECT_EQ(0, close(fd));
}

static void *unshare_files_and_exit(void *arg)
{
	*(pid_t *)arg = gettid();
	/* A files table of its own: its exit closes its copy of every descriptor. */
	return (void *)(intptr_t)(unshare(CLONE_FILES) ? errno : 0);
}

/*
 * pthread_join() returns once the thread has left its mm, before its
 * exit closes its files; /proc/self/task/<tid> goes after that. Returns
 * false if it is still there after 10 s.
 */
static bool thread_gone(pid_t tid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/task/%d", (int)tid);
	for (int i = 0; i < 1000; i++) {
		if (access(path, F_OK))
			return true;
		usleep(10 * 1000);
	}
	return false;
}

/*
 * Only the exit of the whole process releases what it holds: a thread with
 * a files table of its own that exits closes its descriptors, but the
 * process lives on and keeps its handles.
 */
TEST_F(lifetime, thread_exit_keeps_the_process_handles)
{
	struct acl_share_query q;
	pthread_t t;
	void *ret = NULL;
	uint32_t h = 0;
	pid_t tid = 0;
	int fd;

	fd = open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("open %s: %s", ACL_DEV_PATH, strerror(errno));
	ASSERT_EQ(0, acl_raw_alloc(fd, SZ_2M, ACL_MEM_HUGE, ACL_SHARE_LOC_HOST, 0, &h, NULL));
	ASSERT_EQ(0, pthread_create(&t, NULL, unshare_files_and_exit, &tid));
	ASSERT_EQ(0, pthread_join(t, &ret));
	ASSERT_EQ(0, (int)(intptr_t)ret) TH_LOG("unshare(CLONE_FILES): %s",
						strerror((int)(intptr_t)ret));
	ASSERT_TRUE(thread_gone(tid)) TH_LOG("thread %d never went away", (int)tid);
	EXPECT_EQ(0, acl_raw_query(fd, h, &q)) TH_LOG("the thread's exit freed the handle");
	EXPECT_COUNTER_DELTA(self->start, ACL_CNT_ALLOCATIONS, 1);
	EXPECT_COUNTER_DELTA(self->start, ACL_CNT_HANDLES, 1);
	EXPECT_EQ(0, acl_raw_free(fd, h));
	EXPECT_EQ(0, close(fd));
}

TEST_F(lifetime, close_releases_allocations)
{
	const size_t normal = 3 * acl_page_size();
	uint32_t h1 = 0, h2 = 0;
	uint64_t off = 0;
	void *va;
	int fd;

	fd = open(ACL_DEV_PATH, O_RDWR);
	ASSERT_LE(0, fd) TH_LOG("open %s: %s", ACL_DEV_PATH, strerror(errno));
	EXPECT_COUNTER_DELTA(self->start, ACL_CNT_OPENS, 1);
	ASSERT_EQ(0, acl_raw_alloc(fd, SZ_2M, ACL_MEM_HUGE, ACL_SHARE_LOC_HOST, 0, &h1, NULL));
	ASSERT_EQ(0, acl_raw_alloc(fd, normal, ACL_MEM_NORMAL, ACL_SHARE_LOC_HOST, 0, &h2, NULL));
	EXPECT_NE(h1, h2);
	EXPECT_COUNTER_DELTA(self->start, ACL_CNT_ALLOCATIONS, 2);
	EXPECT_COUNTER_DELTA(self->start, ACL_CNT_HANDLES, 2);
	EXPECT_COUNTER_DELTA(self->start, ACL_CNT_ALLOCATED_BYTES, SZ_2M + normal);
	ASSERT_EQ(0, close(fd));
	ASSERT_COUNTERS(self->start, ACL_CNT_LIVE);

	/* A mapping outlives the descriptor and keeps its allocation. */
	fd = open(ACL_DEV_PATH, O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, acl_raw_alloc(fd, SZ_2M, ACL_MEM_HUGE, ACL_SHARE_LOC_HOST, 0, &h1, &off));
	va = mmap(NULL, SZ_2M, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);
	ASSERT_NE(MAP_FAILED, va) TH_LOG("mmap: %s", strerror(errno));
	ASSERT_EQ(0, close(fd));
	EXPECT_COUNTER_DELTA(self->start, ACL_CNT_ALLOCATIONS, 1);
	EXPECT_COUNTER_DELTA(self->start, ACL_CNT_ALLOCATED_BYTES, SZ_2M);
	EXPECT_COUNTER_DELTA(self->start, ACL_CNT_MAPPINGS, 1);
	memset(va, 0x44, SZ_2M);
	EXPECT_EQ(SZ_2M, first_diff_byte(va, SZ_2M, 0x44));
	ASSERT_EQ(0, munmap(va, SZ_2M));
	ASSERT_COUNTERS(self->start, ACL_CNT_LIVE);
}

TEST_HARNESS_MAIN
