// SPDX-License-Identifier: GPL-2.0
/*
 * memcg_test - the accounting rules of contract section 3 for the memory
 * itself:
 *  - an allocation is charged to the memory cgroup of the process that
 *    allocated it (a forked child moved into a cgroup of its own), and the
 *    charge goes when the allocation goes;
 *  - over the cgroup's memory.max an allocation fails cleanly with
 *    ACL_ERROR_RT_MEMORY_ALLOCATION: no OOM kill, nothing left charged or
 *    counted, and a smaller allocation in the same cgroup still works;
 *  - the pages are the module's own: held (charged to the cgroup) and on no
 *    LRU list (/proc/kpageflags: neither reclaim nor compaction can take
 *    them) from the allocation until the last holder (handle or mapping)
 *    lets go;
 *  - *_HUGE1G allocations: 1 GiB granularity, a whole 1 GiB allocated,
 *    mapped with 2 MiB page-table entries, zeroed, writable, released.
 *
 * It runs as root in the initial namespaces (the VM of selftests/vm/); it
 * mounts cgroup2 on /sys/fs/cgroup if nothing is mounted there and enables
 * the memory controller for the root's children. A missing cgroup2 or
 * memory controller is a failure, not a skip.
 */
#include <sys/mount.h>

#include "acl/acl.h"
#include "acl_test_util.h"

#define HOST ACL_MEM_LOCATION_TYPE_HOST
#define DEVICE ACL_MEM_LOCATION_TYPE_DEVICE

#define SZ_1M 0x100000UL

#define CGROUP_ROOT "/sys/fs/cgroup"
#define MEMCG_NAME "acl_memcg_test"
#define MEMCG_DIR CGROUP_ROOT "/" MEMCG_NAME

/*
 * What memory.current may differ by from the bytes the module allocated:
 * the memcg's per-CPU charge stock (up to 64 pages per CPU charged ahead),
 * the slab and page-array memory of the allocation itself, and the few
 * pages the child process touches. The allocations are 4 to 64 MiB.
 * Counted in pages, so it grows with the page size: 1 MiB with 4 KiB pages
 * and 2 CPUs, 3 MiB with 16 KiB pages (one CPU's stock alone is then 1 MiB).
 */
static unsigned long long charge_slack(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_CONF);
	unsigned long long pages = 64ULL * (unsigned long long)((cpus > 0 ? cpus : 1) + 1);
	unsigned long long slack = pages * (unsigned long long)sysconf(_SC_PAGESIZE);

	return slack > SZ_1M ? slack : SZ_1M;
}

#define CHARGE_SLACK charge_slack()

/* How long the parent waits for the child's answer to one request. */
#define MEMCG_REPLY_MS 60000

/* ------------------------------------------------------------------ */
/* cgroup2 files                                                      */
/* ------------------------------------------------------------------ */

/* @word is one of the space-separated words of @list. */
static bool has_word(const char *list, const char *word)
{
	size_t wl = strlen(word);

	for (const char *p = list; (p = strstr(p, word)); p += wl) {
		if ((p == list || p[-1] == ' ') && (p[wl] == ' ' || p[wl] == '\n' || !p[wl]))
			return true;
	}
	return false;
}

/* The file system type mounted on @dir in /proc/mounts (last one wins), or "". */
static void mount_type(const char *dir, char *type, size_t len)
{
	char *line = NULL;
	size_t cap = 0;
	FILE *f = fopen("/proc/mounts", "re");

	type[0] = '\0';
	if (!f)
		return;
	while (getline(&line, &cap, f) > 0) {
		char mnt[256], fs[64];

		if (sscanf(line, "%*s %255s %63s", mnt, fs) == 2 && !strcmp(mnt, dir))
			snprintf(type, len, "%s", fs);
	}
	free(line);
	fclose(f);
}

/*
 * cgroup2 on CGROUP_ROOT with the memory controller enabled for the root's
 * children. Returns 0, or -1 after printing why not.
 */
static int memcg_enable(void)
{
	char type[64], buf[512];
	int ret;

	mount_type(CGROUP_ROOT, type, sizeof(type));
	if (!type[0]) {
		if (mount("cgroup2", CGROUP_ROOT, "cgroup2", 0, NULL)) {
			fprintf(stderr, "# cannot mount cgroup2 on %s: %s\n", CGROUP_ROOT,
				strerror(errno));
			return -1;
		}
		mount_type(CGROUP_ROOT, type, sizeof(type));
	}
	if (strcmp(type, "cgroup2")) {
		fprintf(stderr, "# %s is a \"%s\" mount, not cgroup2\n", CGROUP_ROOT, type);
		return -1;
	}
	ret = acl_read_text(CGROUP_ROOT "/cgroup.controllers", buf, sizeof(buf));
	if (ret || !has_word(buf, "memory")) {
		/* CONFIG_MEMCG off, cgroup_disable=memory, or bound to a v1 hierarchy */
		fprintf(stderr, "# no memory controller in %s/cgroup.controllers: %s\n",
			CGROUP_ROOT, ret ? strerror(-ret) : buf);
		return -1;
	}
	ret = acl_write_text(CGROUP_ROOT "/cgroup.subtree_control", "+memory");
	if (ret) {
		fprintf(stderr, "# cannot enable +memory in %s/cgroup.subtree_control: %s\n",
			CGROUP_ROOT, strerror(-ret));
		return -1;
	}
	ret = acl_read_text(CGROUP_ROOT "/cgroup.subtree_control", buf, sizeof(buf));
	if (ret || !has_word(buf, "memory")) {
		fprintf(stderr, "# memory not in %s/cgroup.subtree_control after enabling it\n",
			CGROUP_ROOT);
		return -1;
	}
	return 0;
}

/* A fresh, empty MEMCG_DIR. Returns 0, or -1 after printing why not. */
static int memcg_create(void)
{
	if (rmdir(MEMCG_DIR) && errno != ENOENT) {
		fprintf(stderr, "# cannot remove the stale %s: %s\n", MEMCG_DIR, strerror(errno));
		return -1;
	}
	if (mkdir(MEMCG_DIR, 0755)) {
		fprintf(stderr, "# cannot create %s: %s\n", MEMCG_DIR, strerror(errno));
		return -1;
	}
	if (access(MEMCG_DIR "/memory.current", R_OK)) {
		fprintf(stderr, "# %s has no memory.current: %s\n", MEMCG_DIR, strerror(errno));
		rmdir(MEMCG_DIR);
		return -1;
	}
	return 0;
}

static int memcg_current(unsigned long long *out)
{
	return acl_read_ull(MEMCG_DIR "/memory.current", out);
}

struct memcg_events {
	long long max, oom, oom_kill;
};

/* Parses the cgroup's memory.events; returns 0 or -errno. */
static int memcg_read_events(struct memcg_events *ev)
{
	char buf[512], *save = NULL;
	int ret, seen = 0;

	ret = acl_read_text(MEMCG_DIR "/memory.events", buf, sizeof(buf));
	if (ret)
		return ret;
	for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (sscanf(l, "max %lld", &ev->max) == 1 ||
		    sscanf(l, "oom %lld", &ev->oom) == 1 ||
		    sscanf(l, "oom_kill %lld", &ev->oom_kill) == 1)
			seen++;
	}
	return seen == 3 ? 0 : -EINVAL;
}

/* ------------------------------------------------------------------ */
/* The allocating child                                               */
/* ------------------------------------------------------------------ */

/*
 * The child allocates and frees on request, so that the parent can read
 * the cgroup's files between the steps and all assertions stay in the
 * parent.
 */
enum memcg_op { MEMCG_ALLOC = 1, MEMCG_FREE, MEMCG_EXIT };

#define MEMCG_SLOTS 4

struct memcg_req {
	uint32_t op;
	uint32_t slot;
	uint32_t attr;
	uint32_t type;
	uint64_t size;
};

struct memcg_rep {
	int32_t err;
	char msg[252];
};

/* acl_recv_val() with a timeout of @ms. */
static int recv_wait(struct acl_chan *ch, void *v, size_t len, int ms)
{
	struct pollfd pfd = { .fd = ch->rd, .events = POLLIN };

	if (poll(&pfd, 1, ms) != 1)
		return -1;
	return read(ch->rd, v, len) == (ssize_t)len ? 0 : -1;
}

static void __attribute__((noreturn)) memcg_child(struct acl_chan *ch)
{
	aclrtDrvMemHandle h[MEMCG_SLOTS] = { NULL };

	acl_chan_child(ch);
	for (;;) {
		struct memcg_rep rep = { 0 };
		struct memcg_req req;
		aclrtPhysicalMemProp prop;
		const char *m;

		CHILD_CHECK(recv_wait(ch, &req, sizeof(req), MEMCG_REPLY_MS) == 0,
			    "no request from the parent");
		if (req.op == MEMCG_EXIT)
			_exit(0);
		CHILD_CHECK(req.slot < MEMCG_SLOTS, "slot %u", req.slot);
		if (req.op == MEMCG_ALLOC) {
			prop = acl_prop((aclrtMemAttr)req.attr, (aclrtMemLocationType)req.type, 0);
			rep.err = aclrtMallocPhysical(&h[req.slot], req.size, &prop, 0);
		} else {
			CHILD_CHECK(req.op == MEMCG_FREE, "op %u", req.op);
			rep.err = aclrtFreePhysical(h[req.slot]);
			h[req.slot] = NULL;
		}
		m = rep.err ? aclGetRecentErrMsg() : "the call succeeded";
		snprintf(rep.msg, sizeof(rep.msg), "%s", m ? m : "(no message)");
		CHILD_CHECK(acl_send_val(ch, &rep, sizeof(rep)) == 0, "cannot answer");
	}
}

FIXTURE(memcg) {
	struct acl_counters start;
	struct acl_chan ch;
	bool chan;
	pid_t child;
	/* memory.current when the measurement began (MEMCG_MARK()). */
	unsigned long long base;
	/* The child's message about the last request. */
	char msg[256];
};

FIXTURE_SETUP(memcg)
{
	ASSERT_EQ(0, acl_read_counters(&self->start));
	ASSERT_EQ(0, memcg_enable()) TH_LOG("cgroup2 with the memory controller is required");
	ASSERT_EQ(0, memcg_create());
}

FIXTURE_TEARDOWN(memcg)
{
	if (self->child > 0) {
		kill(self->child, SIGKILL);
		acl_wait(self->child);
	}
	if (self->chan)
		acl_chan_close(&self->ch);
	/*
	 * No TH_LOG() here: after an ASSERT failure in the test the 6.1
	 * harness prints the first teardown TH_LOG() even if its check passed.
	 */
	EXPECT_EQ(0, rmdir(MEMCG_DIR) ? -errno : 0);
	/* The test process itself never opens the device. */
	EXPECT_COUNTERS(self->start, ACL_CNT_LIVE);
}

/* The child did not answer: says in self->msg what became of it. */
static void memcg_no_answer(FIXTURE_DATA(memcg) *self)
{
	int st;

	/* It closed its end when it died, but may not be a zombie yet. */
	for (int i = 0; i < 100; i++) {
		if (waitpid(self->child, &st, WNOHANG) == self->child) {
			if (WIFSIGNALED(st))
				snprintf(self->msg, sizeof(self->msg),
					 "the child was killed by signal %d%s", WTERMSIG(st),
					 WTERMSIG(st) == SIGKILL ? " (the OOM killer?)" : "");
			else
				snprintf(self->msg, sizeof(self->msg),
					 "the child exited with status %d (see above)",
					 WEXITSTATUS(st));
			self->child = 0;
			return;
		}
		usleep(20 * 1000);
	}
	snprintf(self->msg, sizeof(self->msg), "the child did not answer and is still alive");
}

/*
 * Sends one request to the child and returns its aclError (the child's
 * message in self->msg), or -1 if the child did not answer.
 */
static int memcg_call(FIXTURE_DATA(memcg) *self, enum memcg_op op, uint32_t slot,
		      aclrtMemAttr attr, size_t size)
{
	struct memcg_req req = {
		.op = op, .slot = slot, .attr = attr, .type = HOST, .size = size,
	};
	struct memcg_rep rep;

	if (acl_send_val(&self->ch, &req, sizeof(req)) ||
	    recv_wait(&self->ch, &rep, sizeof(rep), MEMCG_REPLY_MS)) {
		memcg_no_answer(self);
		return -1;
	}
	rep.msg[sizeof(rep.msg) - 1] = '\0';
	snprintf(self->msg, sizeof(self->msg), "%s", rep.msg);
	return rep.err;
}

#define CHILD_ALLOC(slot, attr, size) memcg_call(self, MEMCG_ALLOC, (slot), (attr), (size))
#define CHILD_FREE(slot) memcg_call(self, MEMCG_FREE, (slot), 0, 0)

/*
 * Forks the allocating child, moves it into MEMCG_DIR, checks that it is
 * there, and has it open the device and allocate and free once, so that
 * the charges of a first use are not part of any measurement.
 */
static void memcg_spawn(struct __test_metadata *_metadata, FIXTURE_DATA(memcg) *self)
{
	char buf[64], path[64], want[] = "0::/" MEMCG_NAME "\n";

	ASSERT_EQ(0, acl_chan_init(&self->ch));
	self->chan = true;
	self->child = fork();
	ASSERT_LE(0, self->child);
	if (self->child == 0)
		memcg_child(&self->ch);
	acl_chan_parent(&self->ch);

	snprintf(buf, sizeof(buf), "%d", (int)self->child);
	ASSERT_EQ(0, acl_write_text(MEMCG_DIR "/cgroup.procs", buf));
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)self->child);
	ASSERT_EQ(0, acl_read_text(path, buf, sizeof(buf)));
	ASSERT_STREQ(want, buf);

	ASSERT_EQ(ACL_SUCCESS, CHILD_ALLOC(0, ACL_MEM_NORMAL, acl_page_size()))
		TH_LOG("%s", self->msg);
	ASSERT_EQ(ACL_SUCCESS, CHILD_FREE(0)) TH_LOG("%s", self->msg);
}

/* Tells the child to exit and checks that it did, with status 0. */
static void memcg_finish(struct __test_metadata *_metadata, FIXTURE_DATA(memcg) *self)
{
	struct memcg_req req = { .op = MEMCG_EXIT };

	ASSERT_EQ(0, acl_send_val(&self->ch, &req, sizeof(req)));
	ASSERT_CHILD_OK(self->child);
	self->child = 0;
}

/* Starts a measurement: memory.current now. */
#define MEMCG_MARK() ASSERT_EQ(0, memcg_current(&self->base))

/* memory.current rose by @size since MEMCG_MARK(), give or take CHARGE_SLACK. */
#define ASSERT_CHARGED(size, what)                                             \
	do {                                                                   \
		unsigned long long __cur = 0;                                  \
		long long __d;                                                 \
		ASSERT_EQ(0, memcg_current(&__cur));                           \
		__d = (long long)(__cur - self->base);                         \
		ASSERT_LE((long long)((size) - CHARGE_SLACK), __d)             \
			TH_LOG("%s: memory.current rose by %lld bytes, not by %zu", \
			       (what), __d, (size_t)(size));                   \
		ASSERT_GE((long long)((size) + CHARGE_SLACK), __d)             \
			TH_LOG("%s: memory.current rose by %lld bytes, not by %zu", \
			       (what), __d, (size_t)(size));                   \
	} while (0)

TEST_F(memcg, charged_to_the_allocating_cgroup_until_freed)
{
	struct acl_counters before;

	memcg_spawn(_metadata, self);
	ASSERT_EQ(0, acl_read_counters(&before));
	MEMCG_MARK();

	ASSERT_EQ(ACL_SUCCESS, CHILD_ALLOC(0, ACL_MEM_NORMAL, 16 * SZ_1M)) TH_LOG("%s", self->msg);
	ASSERT_CHARGED(16 * SZ_1M, "16 MiB ACL_MEM_NORMAL");
	ASSERT_EQ(ACL_SUCCESS, CHILD_ALLOC(1, ACL_MEM_HUGE, 16 * SZ_1M)) TH_LOG("%s", self->msg);
	ASSERT_CHARGED(32 * SZ_1M, "16 MiB ACL_MEM_NORMAL + 16 MiB ACL_MEM_HUGE");
	EXPECT_COUNTER_DELTA(before, ACL_CNT_ALLOCATIONS, 2);
	EXPECT_COUNTER_DELTA(before, ACL_CNT_ALLOCATED_BYTES, 32 * SZ_1M);

	ASSERT_EQ(ACL_SUCCESS, CHILD_FREE(1)) TH_LOG("%s", self->msg);
	ASSERT_CHARGED(16 * SZ_1M, "ACL_MEM_HUGE freed");
	ASSERT_EQ(ACL_SUCCESS, CHILD_FREE(0)) TH_LOG("%s", self->msg);
	ASSERT_CHARGED(0, "both freed");
	ASSERT_COUNTERS(before, ACL_CNT_LIVE);

	memcg_finish(_metadata, self);
}

/*
 * One allocation over the limit: ACL_ERROR_RT_MEMORY_ALLOCATION, the limit
 * was hit (memory.events "max"), no OOM, nothing left charged or counted.
 */
static void assert_refused(struct __test_metadata *_metadata, FIXTURE_DATA(memcg) *self,
			   aclrtMemAttr attr, const char *name, size_t size)
{
	struct memcg_events ev0, ev1;
	struct acl_counters c0;
	aclError err;

	ASSERT_EQ(0, memcg_read_events(&ev0));
	ASSERT_EQ(0, acl_read_counters(&c0));
	MEMCG_MARK();
	err = CHILD_ALLOC(0, attr, size);
	ASSERT_EQ(0, memcg_read_events(&ev1));
	EXPECT_EQ(ev0.oom, ev1.oom) TH_LOG("%s: the cgroup went OOM", name);
	EXPECT_EQ(ev0.oom_kill, ev1.oom_kill) TH_LOG("%s: an OOM kill in the cgroup", name);
	ASSERT_EQ(ACL_ERROR_RT_MEMORY_ALLOCATION, err)
		TH_LOG("%s over memory.max: %s", name, self->msg);
	EXPECT_LT(ev0.max, ev1.max) TH_LOG("%s: memory.events max stayed at %lld", name, ev1.max);
	ASSERT_COUNTERS(c0, ACL_CNT_LIVE);
	ASSERT_CHARGED(0, name);
}

TEST_F(memcg, over_memory_max_fails_cleanly)
{
	unsigned long long max = 0;

	ASSERT_EQ(0, acl_write_text(MEMCG_DIR "/memory.max", "8M"));
	ASSERT_EQ(0, acl_read_ull(MEMCG_DIR "/memory.max", &max));
	ASSERT_EQ(8 * SZ_1M, max);
	memcg_spawn(_metadata, self);

	assert_refused(_metadata, self, ACL_MEM_NORMAL, "16 MiB ACL_MEM_NORMAL", 16 * SZ_1M);
	assert_refused(_metadata, self, ACL_MEM_HUGE, "16 MiB ACL_MEM_HUGE", 16 * SZ_1M);
	/* Again: the first failures left nothing behind that this one trips on. */
	assert_refused(_metadata, self, ACL_MEM_NORMAL, "16 MiB ACL_MEM_NORMAL again", 16 * SZ_1M);

	/* What fits still fits, and is charged. */
	MEMCG_MARK();
	ASSERT_EQ(ACL_SUCCESS, CHILD_ALLOC(1, ACL_MEM_NORMAL, 4 * SZ_1M)) TH_LOG("%s", self->msg);
	ASSERT_CHARGED(4 * SZ_1M, "4 MiB ACL_MEM_NORMAL under memory.max");
	ASSERT_EQ(ACL_SUCCESS, CHILD_FREE(1)) TH_LOG("%s", self->msg);
	ASSERT_EQ(ACL_SUCCESS, CHILD_ALLOC(2, ACL_MEM_HUGE, 4 * SZ_1M)) TH_LOG("%s", self->msg);
	ASSERT_CHARGED(4 * SZ_1M, "4 MiB ACL_MEM_HUGE under memory.max");
	ASSERT_EQ(ACL_SUCCESS, CHILD_FREE(2)) TH_LOG("%s", self->msg);
	ASSERT_CHARGED(0, "all freed");

	/* Alive and well (not OOM-killed): exits by itself with status 0. */
	memcg_finish(_metadata, self);
}

/* ------------------------------------------------------------------ */
/* Pinned: held, on no LRU, while any holder is left                  */
/* ------------------------------------------------------------------ */

/*
 * The test process itself moves into MEMCG_DIR: the cgroup's charge is the
 * memory the kernel holds for the allocation, exactly (charged when a page
 * is allocated, uncharged when it is freed).
 */
FIXTURE(pinned) {
	struct acl_counters start;
	bool moved;
};

FIXTURE_SETUP(pinned)
{
	char me[32];

	self->moved = false;
	ASSERT_EQ(0, acl_read_counters(&self->start));
	ASSERT_EQ(0, memcg_enable());
	ASSERT_EQ(0, memcg_create());
	snprintf(me, sizeof(me), "%d", (int)getpid());
	ASSERT_EQ(0, acl_write_text(MEMCG_DIR "/cgroup.procs", me));
	self->moved = true;
}

FIXTURE_TEARDOWN(pinned)
{
	char me[32];

	if (self->moved) {
		snprintf(me, sizeof(me), "%d", (int)getpid());
		EXPECT_EQ(0, acl_write_text(CGROUP_ROOT "/cgroup.procs", me));
		EXPECT_EQ(0, rmdir(MEMCG_DIR)) TH_LOG("rmdir %s: %s", MEMCG_DIR, strerror(errno));
	}
	EXPECT_COUNTERS(self->start, ACL_CNT_LIVE_NO_OPENS);
}

/* The cgroup holds at least @base + @size - CHARGE_SLACK: the memory is held. */
#define ASSERT_HELD(base, size, when)                                         \
	do {                                                                  \
		unsigned long long __c = 0;                                   \
		ASSERT_EQ(0, memcg_current(&__c));                            \
		ASSERT_LE((base) + (size) - CHARGE_SLACK, __c)                \
			TH_LOG("%s: memory.current %llu, %llu before the allocation", \
			       (when), __c, (unsigned long long)(base));       \
	} while (0)

/*
 * Pages of the mapping at @va that are on an LRU list (/proc/kpageflags
 * KPF_LRU), i.e. that reclaim or compaction could take; -1 on error.
 */
static long lru_pages(const void *va, size_t size)
{
	long psz = sysconf(_SC_PAGESIZE), n = 0;
	int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	int kf = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);

	if (pm < 0 || kf < 0)
		n = -1;
	for (size_t off = 0; off < size && n >= 0; off += psz) {
		long long pfn = acl_pfn_at(pm, (const char *)va + off);
		uint64_t flags = 0;

		if (pfn <= 0 || pread(kf, &flags, sizeof(flags), (off_t)pfn * 8) != sizeof(flags))
			n = -1;
		else if (flags & (1ULL << 5 /* KPF_LRU */))
			n++;
	}
	if (pm >= 0)
		close(pm);
	if (kf >= 0)
		close(kf);
	return n;
}

/*
 * The pages are the module's own from the allocation until the last holder
 * (handle or mapping) lets go: the memory is held all that time (the
 * cgroup stays charged for it, even after a while) and on no LRU list, so
 * neither reclaim nor compaction can take a page of it; then it is free
 * (uncharged).
 */
TEST_F_TIMEOUT(pinned, held_until_the_last_holder_goes, 300)
{
	const size_t size = 64 * SZ_1M;
	aclrtPhysicalMemProp prop = acl_prop(ACL_MEM_NORMAL, HOST, 0);
	aclrtDrvMemHandle h = NULL;
	unsigned long long base = 0, after = 0;
	void *va = NULL;

	/* The library's own first-use allocations are made before the baseline. */
	ASSERT_ACL_OK(aclrtSetDevice(0));
	ASSERT_EQ(0, memcg_current(&base));

	ASSERT_ACL_OK(aclrtMallocPhysical(&h, size, &prop, 0));
	ASSERT_HELD(base, size, "allocated, not mapped");
	usleep(1500 * 1000);
	ASSERT_HELD(base, size, "1.5 s later, not mapped");

	ASSERT_ACL_OK(aclrtReserveMemAddress(&va, size, 0, NULL, 0));
	ASSERT_ACL_OK(aclrtMapMem(va, size, 0, h, 0));
	for (size_t off = 0; off < size; off += SZ_4K)
		((volatile char *)va)[off] = 1;
	ASSERT_HELD(base, size, "mapped");
	EXPECT_EQ(0, lru_pages(va, size)) TH_LOG("pages of the allocation on an LRU list");

	/* The handle goes; the mapping holds the pages. */
	ASSERT_ACL_OK(aclrtFreePhysical(h));
	ASSERT_HELD(base, size, "freed, still mapped");
	usleep(1500 * 1000);
	ASSERT_HELD(base, size, "freed, still mapped, 1.5 s later");
	ASSERT_EQ(1, ((volatile char *)va)[size - SZ_4K]);
	EXPECT_EQ(0, lru_pages(va, size)) TH_LOG("pages of the allocation on an LRU list");

	/* The last holder goes: so do the pages. */
	ASSERT_ACL_OK(aclrtUnmapMem(va));
	EXPECT_ACL_OK(aclrtReleaseMemAddress(va));
	ASSERT_EQ(0, memcg_current(&after));
	EXPECT_GE(base + CHARGE_SLACK, after)
		TH_LOG("unmapped: memory.current %llu, %llu before the allocation", after, base);
}

/* ------------------------------------------------------------------ */
/* HUGE1G: 1 GiB granularity, a whole 1 GiB mapped with 2 MiB entries  */
/* ------------------------------------------------------------------ */

FIXTURE(huge1g) {
	struct acl_counters start;
};

FIXTURE_VARIANT(huge1g) {
	aclrtMemAttr attr;
	aclrtMemLocationType type;
};

FIXTURE_VARIANT_ADD(huge1g, host) { .attr = ACL_MEM_HUGE1G, .type = HOST };
FIXTURE_VARIANT_ADD(huge1g, device) { .attr = ACL_HBM_MEM_HUGE1G, .type = DEVICE };

FIXTURE_SETUP(huge1g)
{
	ASSERT_EQ(0, acl_read_counters(&self->start));
}

FIXTURE_TEARDOWN(huge1g)
{
	EXPECT_COUNTERS(self->start, ACL_CNT_LIVE_NO_OPENS);
}

TEST_F(huge1g, granularity_is_1g)
{
	const aclrtMemGranularityOptions opts[] = {
		ACL_RT_MEM_ALLOC_GRANULARITY_MINIMUM, ACL_RT_MEM_ALLOC_GRANULARITY_RECOMMENDED,
	};
	aclrtPhysicalMemProp prop = acl_prop(variant->attr, variant->type, 0);
	aclrtDrvMemHandle h = NULL;
	size_t g;

	for (size_t i = 0; i < 2; i++) {
		g = 0;
		ASSERT_ACL_OK(aclrtMemGetAllocationGranularity(&prop, opts[i], &g));
		EXPECT_EQ(SZ_1G, g) TH_LOG("option %d", (int)opts[i]);
	}
	EXPECT_ACL(ACL_ERROR_RT_PARAM_INVALID, aclrtMallocPhysical(&h, SZ_2M, &prop, 0), "size");
	EXPECT_ACL(ACL_ERROR_RT_PARAM_INVALID,
		   aclrtMallocPhysical(&h, SZ_1G + SZ_2M, &prop, 0), "size");
}

/* The 2 MiB chunks whose first and last bytes are checked. */
static const size_t huge1g_chunks[] = { 0, 1, 2, 63, 128, 255, 256, 384, 509, 510, 511 };
#define NR_CHECKED (sizeof(huge1g_chunks) / sizeof(huge1g_chunks[0]))

TEST_F_TIMEOUT(huge1g, whole_gib_mapped_as_2m_chunks, 300)
{
	struct acl_counters mapped;
	struct acl_mapping m;
	struct acl_vma v;
	volatile unsigned char *p;
	char why[160];
	bool pmd;

	ASSERT_ACL_OK(acl_map_new(&m, SZ_1G, variant->attr, variant->type, 0));
	p = m.va;
	ASSERT_EQ(0UL, (uintptr_t)m.va & (SZ_2M - 1));
	ASSERT_EQ(0, acl_read_counters(&mapped));
	EXPECT_COUNTER_DELTA(self->start, ACL_CNT_ALLOCATIONS, 1);
	EXPECT_COUNTER_DELTA(self->start, ACL_CNT_ALLOCATED_BYTES, SZ_1G);
	EXPECT_COUNTER_DELTA(self->start, ACL_CNT_MAPPINGS, 1);

	/* Zeroed, and writable, at both ends of chunks all over the GiB. */
	for (size_t i = 0; i < NR_CHECKED; i++) {
		size_t first = huge1g_chunks[i] * SZ_2M, last = first + SZ_2M - 1;

		ASSERT_EQ(0, acl_probe(p + first, true)) TH_LOG("chunk %zu", huge1g_chunks[i]);
		ASSERT_EQ(0, acl_probe(p + last, true)) TH_LOG("chunk %zu", huge1g_chunks[i]);
		EXPECT_EQ(0, p[first]) TH_LOG("first byte of chunk %zu", huge1g_chunks[i]);
		EXPECT_EQ(0, p[last]) TH_LOG("last byte of chunk %zu", huge1g_chunks[i]);
		p[first] = (unsigned char)(0x10 + i);
		p[last] = (unsigned char)(0x80 + i);
	}
	/* Whole chunks at both ends are zero (but for the bytes just written). */
	EXPECT_EQ(SZ_2M - 2, first_diff_byte((const char *)m.va + 1, SZ_2M - 2, 0));
	EXPECT_EQ(SZ_2M - 2, first_diff_byte((const char *)m.va + SZ_1G - SZ_2M + 1, SZ_2M - 2, 0));
	/* Each chunk kept its own values: no two offsets share a page. */
	for (size_t i = 0; i < NR_CHECKED; i++) {
		size_t first = huge1g_chunks[i] * SZ_2M, last = first + SZ_2M - 1;

		EXPECT_EQ((unsigned char)(0x10 + i), p[first])
			TH_LOG("first byte of chunk %zu", huge1g_chunks[i]);
		EXPECT_EQ((unsigned char)(0x80 + i), p[last])
			TH_LOG("last byte of chunk %zu", huge1g_chunks[i]);
	}

	/*
	 * One access per 2 MiB maps everything, each chunk with one PMD, where
	 * the kernel has 2 MiB PMDs; elsewhere every page is touched and each
	 * chunk must be 2 MiB of contiguous memory.
	 */
	pmd = acl_kernel_maps_pmd_2m();
	for (size_t off = 0; off < SZ_1G; off += pmd ? SZ_2M : SZ_4K)
		(void)p[off + (pmd ? SZ_2M / 2 : 0)];
	ASSERT_EQ(1, acl_find_vma(0, m.va, &v));
	ASSERT_LE(0, v.file_pmd_kb) TH_LOG("no FilePmdMapped line in smaps");
	ASSERT_LE(0, v.shmem_pmd_kb) TH_LOG("no ShmemPmdMapped line in smaps");
	EXPECT_EQ((long)(SZ_1G / 1024), v.rss_kb);
	if (pmd) {
		EXPECT_EQ((long)(SZ_1G / 1024), v.file_pmd_kb + v.shmem_pmd_kb)
			TH_LOG("%lx-%lx %s: Rss %ld kB, FilePmdMapped %ld kB, ShmemPmdMapped %ld kB",
			       v.start, v.end, v.path, v.rss_kb, v.file_pmd_kb, v.shmem_pmd_kb);
	} else {
		EXPECT_EQ(0, acl_check_2m_chunks(m.va, SZ_1G, why, sizeof(why))) TH_LOG("%s", why);
	}
	EXPECT_COUNTERS(mapped, ACL_CNT_LIVE);

	ASSERT_ACL_OK(acl_map_delete(&m));
	ASSERT_COUNTERS(self->start, ACL_CNT_LIVE_NO_OPENS);
}

TEST_HARNESS_MAIN
