// SPDX-License-Identifier: GPL-2.0
/*
 * Security checks: an unprivileged user can use the whole API but sees only
 * aggregate counters, cannot map beyond an allocation or grow a mapping,
 * cannot reach another user's mapping through /proc/<pid>/mem, and a
 * million guessed handles find nothing and leave the kernel log alone.
 */
#include <sys/klog.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <time.h>

#include "acl/acl.h"
#include <linux/acl_share.h>
#include "acl_test_util.h"
#include "share_util.h"

#define NOBODY 65534
#define OTHER_USER 65533
#define DEBUGFS_DIR "/sys/kernel/debug"
#define CLIENTS_PATH DEBUGFS_DIR "/acl_share/clients"

/*
 * In a child: become @uid (and its group), with no capabilities left and
 * the RLIMIT_MEMLOCK of a modern kernel's default.
 */
static void become(uid_t uid)
{
	CHILD_CHECK(acl_set_test_memlock() == 0, "setrlimit: %s", strerror(errno));
	CHILD_CHECK(setresgid(uid, uid, uid) == 0, "setresgid: %s", strerror(errno));
	CHILD_CHECK(setresuid(uid, uid, uid) == 0, "setresuid: %s", strerror(errno));
	CHILD_CHECK(geteuid() == uid, "still uid %d", (int)geteuid());
}

/* The line of /sys/kernel/debug/acl_share/clients for @tgid, or "" (root only). */
static int client_line(pid_t tgid, char *out, size_t len)
{
	char line[256];
	FILE *f = fopen(CLIENTS_PATH, "re");

	if (!f)
		return -errno;
	out[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		if (atoi(line) == tgid) {
			snprintf(out, len, "%s", line);
			break;
		}
	}
	fclose(f);
	return 0;
}

FIXTURE(sec) {
	struct acl_counters start;
	struct acl_chan a, b;
	pid_t pa, pb;
};

FIXTURE_SETUP(sec)
{
	ASSERT_EQ(0, acl_read_counters(&self->start));
	ASSERT_EQ(0, acl_chan_init(&self->a));
	ASSERT_EQ(0, acl_chan_init(&self->b));
	self->pa = self->pb = -1;
}

FIXTURE_TEARDOWN(sec)
{
	if (self->pa > 0) {
		kill(self->pa, SIGKILL);
		acl_wait(self->pa);
	}
	if (self->pb > 0) {
		kill(self->pb, SIGKILL);
		acl_wait(self->pb);
	}
	acl_chan_close(&self->a);
	acl_chan_close(&self->b);
	EXPECT_COUNTERS(self->start, ACL_CNT_LIVE);
}

/* Blocks until the parent says 'q' or goes away (no timeout: tests may be slow). */
static int wait_quit(struct acl_chan *ch)
{
	char c = 0;

	while (read(ch->rd, &c, 1) < 0 && errno == EINTR)
		;
	return c == 'q' ? 0 : -1;
}

/*
 * Process A (uid 65534): allocate, map, fill, export, whitelist B, then
 * wait for 'q'. Sends its token after SetPid.
 */
static void unprivileged_exporter(struct acl_chan *ch)
{
	struct share_token tok;
	struct acl_mapping m;
	int32_t peer;
	aclError e;

	become(NOBODY);
	CHILD_CHECK(aclrtSetDevice(0) == ACL_SUCCESS, "set device");
	e = acl_map_new(&m, SHARE_SIZE, ACL_HBM_MEM_HUGE, ACL_MEM_LOCATION_TYPE_DEVICE, 0);
	CHILD_CHECK(e == ACL_SUCCESS, "%d %s", e, aclGetRecentErrMsg());
	share_fill(m.va, SHARE_SIZE);
	e = share_export(m.handle, 0, ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT, &tok);
	CHILD_CHECK(e == ACL_SUCCESS, "%d %s", e, aclGetRecentErrMsg());
	CHILD_CHECK(acl_recv_val(ch, &peer, sizeof(peer)) == 0, "peer");
	if (peer > 0) {
		e = share_set_pid(&tok, peer);
		CHILD_CHECK(e == ACL_SUCCESS, "%d %s", e, aclGetRecentErrMsg());
	}
	CHILD_CHECK(acl_send_val(ch, &tok, sizeof(tok)) == 0, "send token");
	CHILD_CHECK(acl_send_val(ch, &m.va, sizeof(m.va)) == 0, "send address");
	CHILD_CHECK(wait_quit(ch) == 0, "no 'q' from the parent");
	CHILD_CHECK(acl_map_delete(&m) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
	_exit(0);
}

static pid_t start_exporter(struct acl_chan *ch)
{
	pid_t pid = fork();

	if (pid == 0) {
		acl_chan_child(ch);
		unprivileged_exporter(ch);
	}
	if (pid > 0)
		acl_chan_parent(ch);
	return pid;
}

/* Two processes of an unprivileged user share memory through the whole API. */
TEST_F(sec, unprivileged_user_uses_the_api)
{
	struct share_token tok;
	int32_t importer;
	void *va;

	self->pa = start_exporter(&self->a);
	ASSERT_LT(0, self->pa);
	self->pb = fork();
	ASSERT_LE(0, self->pb);
	if (self->pb == 0) {
		struct acl_mapping m;

		acl_chan_child(&self->b);
		become(NOBODY);
		share_child_hello(&self->b);
		CHILD_CHECK(acl_recv_val(&self->b, &tok, sizeof(tok)) == 0, "token");
		share_child_import_map(&tok, &m);
		CHILD_CHECK(acl_map_delete(&m) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
		_exit(0);
	}
	acl_chan_parent(&self->b);
	ASSERT_EQ(0, acl_recv_val(&self->b, &importer, sizeof(importer)));
	ASSERT_EQ(0, acl_send_val(&self->a, &importer, sizeof(importer)));
	ASSERT_EQ(0, acl_recv_val(&self->a, &tok, sizeof(tok)));
	ASSERT_EQ(0, acl_recv_val(&self->a, &va, sizeof(va)));
	ASSERT_EQ(0, acl_send_val(&self->b, &tok, sizeof(tok)));
	ASSERT_CHILD_OK(self->pb);
	self->pb = -1;
	ASSERT_EQ(0, acl_tell(&self->a, 'q'));
	ASSERT_CHILD_OK(self->pa);
	self->pa = -1;
}

/* In a child: what an unprivileged user may and may not read. */
/* Not inlined into the test, whose setjmp would make its locals clobberable. */
static __attribute__((noinline)) void unprivileged_view(void)
{
	unsigned long long v;
	int fd;

	become(NOBODY);
	CHILD_CHECK(acl_read_counter(ACL_CNT_ALLOCATED_BYTES, &v) == 0,
		    "aggregate counters must be readable");
	CHILD_CHECK(v >= SHARE_SIZE, "allocated_bytes %llu", v);
	fd = open(CLIENTS_PATH, O_RDONLY | O_CLOEXEC);
	CHILD_CHECK(fd < 0 && (errno == EACCES || errno == EPERM),
		    "an unprivileged user opened %s (fd %d, %s)", CLIENTS_PATH, fd,
		    strerror(errno));
	_exit(0);
}

/* Aggregate counters for everyone; per-process detail for root only. */
TEST_F(sec, per_process_detail_is_root_only)
{
	struct share_token tok;
	int32_t none = 0;
	char line[256];
	void *va;

	self->pa = start_exporter(&self->a);
	ASSERT_LT(0, self->pa);
	ASSERT_EQ(0, acl_send_val(&self->a, &none, sizeof(none)));
	ASSERT_EQ(0, acl_recv_val(&self->a, &tok, sizeof(tok)));
	ASSERT_EQ(0, acl_recv_val(&self->a, &va, sizeof(va)));

	/* Root sees A's line: 1 handle, 1 export, 0 imports, 2 MiB. */
	ASSERT_EQ(0, client_line(self->pa, line, sizeof(line)));
	EXPECT_NE(0, line[0]) TH_LOG("no line for %d in %s", self->pa, CLIENTS_PATH);
	{
		int tgid = 0;
		unsigned int handles = 0, exports = 0, imports = 0;
		unsigned long long bytes = 0;
		char comm[32];

		EXPECT_EQ(6, sscanf(line, "%d %31s %u %u %u %llu", &tgid, comm, &handles,
				    &exports, &imports, &bytes)) TH_LOG("line: %s", line);
		EXPECT_EQ(self->pa, tgid);
		EXPECT_EQ(1U, handles);
		EXPECT_EQ(1U, exports);
		EXPECT_EQ(0U, imports);
		EXPECT_EQ(SHARE_SIZE, bytes);
	}

	/*
	 * The file itself must keep others out, not only the debugfs mount
	 * (mode 0700 by default): open the directories to everyone while an
	 * unprivileged child tries.
	 */
	{
		struct stat dbg, st;

		ASSERT_EQ(0, stat(CLIENTS_PATH, &st));
		EXPECT_EQ(0U, st.st_uid);
		EXPECT_EQ(0U, st.st_mode & 0077) TH_LOG("%s has mode %o", CLIENTS_PATH,
							st.st_mode & 07777);
		ASSERT_EQ(0, stat(DEBUGFS_DIR, &dbg));
		ASSERT_EQ(0, chmod(DEBUGFS_DIR, 0755)) TH_LOG("chmod %s: %s", DEBUGFS_DIR,
							      strerror(errno));
		self->pb = fork();
		if (self->pb == 0)
			unprivileged_view();
		EXPECT_EQ(0, chmod(DEBUGFS_DIR, dbg.st_mode & 07777));
		ASSERT_LE(0, self->pb);
	}
	ASSERT_CHILD_OK(self->pb);
	self->pb = -1;
	ASSERT_EQ(0, acl_tell(&self->a, 'q'));
	ASSERT_CHILD_OK(self->pa);
	self->pa = -1;
}

/* Another user cannot read A's mapping through /proc/A/mem or process_vm_readv. */
TEST_F(sec, other_user_cannot_reach_the_mapping)
{
	struct share_token tok;
	int32_t none = 0;
	unsigned char buf[16];
	char path[64];
	void *va;
	int fd;

	self->pa = start_exporter(&self->a);
	ASSERT_LT(0, self->pa);
	ASSERT_EQ(0, acl_send_val(&self->a, &none, sizeof(none)));
	ASSERT_EQ(0, acl_recv_val(&self->a, &tok, sizeof(tok)));
	ASSERT_EQ(0, acl_recv_val(&self->a, &va, sizeof(va)));
	snprintf(path, sizeof(path), "/proc/%d/mem", self->pa);

	/* Root can: the mapping is reachable, so the refusal below means something. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("root: %s: %s", path, strerror(errno));
	ASSERT_EQ((ssize_t)sizeof(buf), pread(fd, buf, sizeof(buf), (off_t)(uintptr_t)va));
	close(fd);
	for (size_t i = 0; i < sizeof(buf); i++)
		EXPECT_EQ(share_pattern(i), buf[i]);

	self->pb = fork();
	ASSERT_LE(0, self->pb);
	if (self->pb == 0) {
		struct iovec local = { buf, sizeof(buf) }, remote = { va, sizeof(buf) };
		ssize_t n;

		become(OTHER_USER);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		n = fd >= 0 ? pread(fd, buf, sizeof(buf), (off_t)(uintptr_t)va) : -1;
		CHILD_CHECK(n < 0 && (errno == EACCES || errno == EPERM || errno == EIO),
			    "another user read %zd bytes of the mapping through %s", n, path);
		n = process_vm_readv(self->pa, &local, 1, &remote, 1, 0);
		CHILD_CHECK(n < 0 && errno == EPERM, "process_vm_readv: %zd, %s", n,
			    strerror(errno));
		_exit(0);
	}
	ASSERT_CHILD_OK(self->pb);
	self->pb = -1;
	ASSERT_EQ(0, acl_tell(&self->a, 'q'));
	ASSERT_CHILD_OK(self->pa);
	self->pa = -1;
}

/* No mapping beyond an allocation, no other handle's pages, no growth. */
TEST_F(sec, no_mapping_beyond_an_allocation)
{
	self->pa = fork();
	ASSERT_LE(0, self->pa);
	if (self->pa == 0) {
		const size_t page = acl_page_size();
		uint64_t off;
		uint32_t h;
		void *p, *q;
		int fd;

		become(NOBODY);
		fd = open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC);
		CHILD_CHECK(fd >= 0, "open: %s", strerror(errno));
		CHILD_CHECK(acl_raw_alloc(fd, SZ_2M, ACL_HBM_MEM_HUGE, ACL_SHARE_LOC_DEVICE, 0,
					  &h, &off) == 0, "alloc");
		p = mmap(NULL, SZ_2M + page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);
		CHILD_CHECK(p == MAP_FAILED && errno == EINVAL, "mapped past the end: %p", p);
		p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)(off + page));
		CHILD_CHECK(p == MAP_FAILED, "mapped another (absent) handle's offset: %p", p);
		p = mmap(NULL, SZ_2M, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);
		CHILD_CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
		q = mremap(p, SZ_2M, SZ_2M + page, 0);
		CHILD_CHECK(q == MAP_FAILED, "grew in place: %p", q);
		q = mremap(p, SZ_2M, 2 * SZ_2M, MREMAP_MAYMOVE);
		CHILD_CHECK(q == MAP_FAILED, "grew by moving: %p", q);
		CHILD_CHECK(acl_probe((unsigned char *)p + SZ_2M - 1, true) == 0,
			    "the mapping is damaged");
		CHILD_CHECK(munmap(p, SZ_2M) == 0, "munmap");
		CHILD_CHECK(acl_raw_free(fd, h) == 0, "free");
		close(fd);
		_exit(0);
	}
	ASSERT_CHILD_OK(self->pa);
	self->pa = -1;
}

/*
 * Pinned memory counts against the user's RLIMIT_MEMLOCK: an unprivileged
 * user cannot pin all of RAM, and the limit is per user, across processes.
 */
TEST_F(sec, unprivileged_pinning_is_limited_by_rlimit_memlock)
{
	self->pa = fork();
	ASSERT_LE(0, self->pa);
	if (self->pa == 0) {
		struct rlimit rl = { 3 * SZ_2M, 3 * SZ_2M };
		aclrtPhysicalMemProp prop = acl_prop(ACL_HBM_MEM_HUGE,
						     ACL_MEM_LOCATION_TYPE_DEVICE, 0);
		aclrtDrvMemHandle h[3];
		pid_t other;
		aclError e;

		become(NOBODY);
		/* Lower than become()'s: an unprivileged process may lower its limits. */
		CHILD_CHECK(setrlimit(RLIMIT_MEMLOCK, &rl) == 0, "setrlimit");
		for (int i = 0; i < 2; i++) {
			e = aclrtMallocPhysical(&h[i], SZ_2M, &prop, 0);
			CHILD_CHECK(e == ACL_SUCCESS, "allocation %d: %s", i, aclGetRecentErrMsg());
		}
		/* Another process of the same user shares the budget: 2 of 3 used. */
		other = fork();
		CHILD_CHECK(other >= 0, "fork");
		if (other == 0) {
			aclrtDrvMemHandle x, y;

			e = aclrtMallocPhysical(&x, SZ_2M, &prop, 0);
			CHILD_CHECK(e == ACL_SUCCESS, "third: %s", aclGetRecentErrMsg());
			e = aclrtMallocPhysical(&y, SZ_2M, &prop, 0);
			CHILD_CHECK(e == ACL_ERROR_RT_MEMORY_ALLOCATION, "fourth gave %d", e);
			CHILD_CHECK(strstr(aclGetRecentErrMsg(), "RLIMIT_MEMLOCK") != NULL,
				    "message: %s", aclGetRecentErrMsg());
			_exit(0);
		}
		CHILD_CHECK(acl_wait(other) == 0, "the other process failed");
		/* Its exit gave its share back. */
		e = aclrtMallocPhysical(&h[2], SZ_2M, &prop, 0);
		CHILD_CHECK(e == ACL_SUCCESS, "after the other exited: %s", aclGetRecentErrMsg());
		for (int i = 0; i < 3; i++)
			CHILD_CHECK(aclrtFreePhysical(h[i]) == ACL_SUCCESS, "free");
		_exit(0);
	}
	ASSERT_CHILD_OK(self->pa);
	self->pa = -1;
}

static unsigned long klog_matches(const char *what)
{
	int len = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0);
	unsigned long n = 0;
	char *buf, *p;

	if (len <= 0)
		return ~0UL;
	buf = malloc((size_t)len + 1);
	if (!buf)
		return ~0UL;
	len = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, len);
	if (len < 0) {
		free(buf);
		return ~0UL;
	}
	buf[len] = '\0';
	for (p = buf; (p = strstr(p, what)); p++)
		n++;
	free(buf);
	return n;
}

#define BRUTE_TRIES 1000000

/* A million guesses from a process that is not whitelisted find nothing. */
/* A million ioctls take a few seconds on the stock kernel, minutes under KASAN. */
TEST_F_TIMEOUT(sec, brute_force_finds_nothing, 900)
{
	struct timespec t0, t1;
	unsigned long before = klog_matches("acl_share");
	struct share_token tok;
	int32_t none = 0;
	void *va;

	self->pa = start_exporter(&self->a);
	ASSERT_LT(0, self->pa);
	ASSERT_EQ(0, acl_send_val(&self->a, &none, sizeof(none)));
	ASSERT_EQ(0, acl_recv_val(&self->a, &tok, sizeof(tok)));
	ASSERT_EQ(0, acl_recv_val(&self->a, &va, sizeof(va)));
	clock_gettime(CLOCK_MONOTONIC, &t0);

	self->pb = fork();
	ASSERT_LE(0, self->pb);
	if (self->pb == 0) {
		struct acl_share_import imp;
		uint64_t keys[4096], found = 0, other = 0;
		int fd;

		become(NOBODY);
		fd = open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC);
		CHILD_CHECK(fd >= 0, "open: %s", strerror(errno));
		for (int done = 0; done < BRUTE_TRIES; done += 4096) {
			CHILD_CHECK(getrandom(keys, sizeof(keys), 0) == sizeof(keys), "getrandom");
			for (int i = 0; i < 4096 && done + i < BRUTE_TRIES; i++) {
				int ret;

				memset(&imp, 0, sizeof(imp));
				imp.size = sizeof(imp);
				imp.share_type = ACL_SHARE_HANDLE_DEFAULT;
				imp.shareable_len = ACL_SHARE_DEFAULT_HANDLE_LEN;
				imp.shareable_uptr = (uintptr_t)&keys[i];
				ret = acl_ioctl(fd, ACL_SHARE_IOC_IMPORT, &imp);
				if (ret == 0 || ret == -EPERM)
					found++;
				else if (ret != -ENOENT)
					other++;
			}
		}
		CHILD_CHECK(found == 0, "%" PRIu64 " guesses named a live export", found);
		CHILD_CHECK(other == 0, "%" PRIu64 " guesses gave another error", other);
		/* The real handle is refused too: this process is not whitelisted. */
		memset(&imp, 0, sizeof(imp));
		imp.size = sizeof(imp);
		imp.share_type = ACL_SHARE_HANDLE_DEFAULT;
		imp.shareable_len = ACL_SHARE_DEFAULT_HANDLE_LEN;
		imp.shareable_uptr = (uintptr_t)&tok.key;
		CHILD_CHECK(acl_ioctl(fd, ACL_SHARE_IOC_IMPORT, &imp) == -EPERM, "real handle");
		close(fd);
		_exit(0);
	}
	ASSERT_CHILD_OK(self->pb);
	self->pb = -1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	TH_LOG("%d guesses in %.1f s", BRUTE_TRIES,
	       (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	EXPECT_EQ(before, klog_matches("acl_share")) TH_LOG("the module wrote to the kernel log");
	ASSERT_EQ(0, acl_tell(&self->a, 'q'));
	ASSERT_CHILD_OK(self->pa);
	self->pa = -1;
}

TEST_HARNESS_MAIN
