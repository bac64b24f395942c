// SPDX-License-Identifier: GPL-2.0
/*
 * Lifetime of shared memory (contract 4.3): the pages go exactly when the
 * last holder (creator handle, import handle, mapping) goes; the exporter's
 * free or death revokes the shareable handle but leaves imports intact;
 * SIGKILL at any point of the flow leaves nothing behind.
 *
 * Both sides run in forked children here so that either can be killed;
 * the test process watches the module's counters.
 */
#include <sys/socket.h>

#include "acl/acl.h"
#include <linux/acl_share.h>
#include "acl_test_util.h"
#include "share_util.h"

/* Steps of the flow; a side stops (and may be killed) after one of them. */
enum step {
	STEP_EXPORTED = 1,	/* exporter: allocated, mapped, filled, exported */
	STEP_WHITELISTED,	/* exporter: SetPid done, token sent */
	STEP_IMPORTED,		/* importer: imported */
	STEP_MAPPED,		/* importer: mapped and checked */
	STEP_EXPORTER_FREED,	/* exporter: unmapped and freed its handle */
	STEP_DONE,
};

/* Where the two sides and the test process meet. */
struct flow {
	struct acl_chan exp_ch;	/* test <-> exporter */
	struct acl_chan imp_ch;	/* test <-> importer */
	pid_t exporter, importer;
};

static unsigned long long counter(enum acl_counter c)
{
	unsigned long long v = ~0ULL;

	acl_read_counter(c, &v);
	return v;
}

/* The exporter: reports each step with its number and waits for 'c'. */
static void exporter_main(struct acl_chan *ch)
{
	struct share_token tok;
	struct acl_mapping m;
	int32_t importer = 0;
	char step;
	aclError e;

	CHILD_CHECK(aclrtSetDevice(0) == ACL_SUCCESS, "set device");
	e = acl_map_new(&m, SHARE_SIZE, ACL_HBM_MEM_HUGE, ACL_MEM_LOCATION_TYPE_DEVICE, 0);
	CHILD_CHECK(e == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
	share_fill(m.va, SHARE_SIZE);
	e = share_export(m.handle, 0, ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT, &tok);
	CHILD_CHECK(e == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
	step = STEP_EXPORTED;
	CHILD_CHECK(acl_send_val(ch, &step, 1) == 0 && acl_hear(ch, 'c') == 0, "sync");

	CHILD_CHECK(acl_recv_val(ch, &importer, sizeof(importer)) == 0, "importer tgid");
	e = share_set_pid(&tok, importer);
	CHILD_CHECK(e == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
	CHILD_CHECK(acl_send_val(ch, &tok, sizeof(tok)) == 0, "send token");
	step = STEP_WHITELISTED;
	CHILD_CHECK(acl_send_val(ch, &step, 1) == 0 && acl_hear(ch, 'c') == 0, "sync");

	e = acl_map_delete(&m);
	CHILD_CHECK(e == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
	step = STEP_EXPORTER_FREED;
	CHILD_CHECK(acl_send_val(ch, &step, 1) == 0 && acl_hear(ch, 'c') == 0, "sync");
	_exit(0);
}

static void importer_main(struct acl_chan *ch)
{
	struct share_token tok;
	struct acl_mapping m;
	aclrtDrvMemHandle h;
	char step;
	aclError e;

	share_child_hello(ch);
	CHILD_CHECK(acl_recv_val(ch, &tok, sizeof(tok)) == 0, "token");
	CHILD_CHECK(acl_recv_val(ch, &step, 1) == 0, "mode");
	if (step == 'r') {
		/* The exporter died after SetPid: its handle is revoked. */
		e = share_import(&tok, &m.handle);
		CHILD_CHECK(e == ACL_ERROR_RT_INVALID_HANDLE, "import gave %d", e);
		_exit(0);
	}
	e = share_import(&tok, &m.handle);
	CHILD_CHECK(e == ACL_SUCCESS, "%d %s", e, aclGetRecentErrMsg());
	step = STEP_IMPORTED;
	CHILD_CHECK(acl_send_val(ch, &step, 1) == 0 && acl_hear(ch, 'c') == 0, "sync");

	e = aclrtReserveMemAddress(&m.va, SHARE_SIZE, 0, NULL, 0);
	CHILD_CHECK(e == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
	e = aclrtMapMem(m.va, SHARE_SIZE, 0, m.handle, 0);
	CHILD_CHECK(e == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
	m.size = SHARE_SIZE;
	CHILD_CHECK(share_check(m.va, SHARE_SIZE) == SHARE_SIZE, "pattern");
	step = STEP_MAPPED;
	CHILD_CHECK(acl_send_val(ch, &step, 1) == 0 && acl_hear(ch, 'c') == 0, "sync");

	/* After the exporter freed: data intact, the shareable handle revoked. */
	CHILD_CHECK(share_check(m.va, SHARE_SIZE) == SHARE_SIZE, "pattern after revoke");
	CHILD_CHECK(aclrtFreePhysical(m.handle) == ACL_SUCCESS, "free import");
	e = share_import(&tok, &h);
	CHILD_CHECK(e == ACL_ERROR_RT_INVALID_HANDLE, "import after revoke gave %d", e);
	CHILD_CHECK(share_check(m.va, SHARE_SIZE) == SHARE_SIZE, "pattern after free");
	step = STEP_DONE;
	CHILD_CHECK(acl_send_val(ch, &step, 1) == 0 && acl_hear(ch, 'c') == 0, "sync");
	CHILD_CHECK(aclrtUnmapMem(m.va) == ACL_SUCCESS, "unmap");
	CHILD_CHECK(aclrtReleaseMemAddress(m.va) == ACL_SUCCESS, "release");
	_exit(0);
}

static pid_t spawn(struct acl_chan *ch, void (*fn)(struct acl_chan *))
{
	pid_t pid;

	if (acl_chan_init(ch))
		return -1;
	pid = fork();
	if (pid == 0) {
		acl_chan_child(ch);
		fn(ch);
		_exit(1);
	}
	acl_chan_parent(ch);
	return pid;
}

static int expect_step(struct acl_chan *ch, char want)
{
	char got = 0;

	if (acl_recv_val(ch, &got, 1))
		return -1;
	return got == want ? 0 : -1;
}

FIXTURE(flow) {
	struct acl_counters start;
	struct flow f;
};

FIXTURE_SETUP(flow)
{
	ASSERT_EQ(0, acl_read_counters(&self->start));
	self->f.exporter = self->f.importer = -1;
	self->f.exp_ch.rd = self->f.exp_ch.wr = -1;
	self->f.imp_ch.rd = self->f.imp_ch.wr = -1;
}

FIXTURE_TEARDOWN(flow)
{
	if (self->f.exporter > 0) {
		kill(self->f.exporter, SIGKILL);
		acl_wait(self->f.exporter);
	}
	if (self->f.importer > 0) {
		kill(self->f.importer, SIGKILL);
		acl_wait(self->f.importer);
	}
	acl_chan_close(&self->f.exp_ch);
	acl_chan_close(&self->f.imp_ch);
	EXPECT_COUNTERS(self->start, ACL_CNT_LIVE);
}

/*
 * Kill points: 0 lets both sides finish. Otherwise the exporter (E) or
 * the importer (I) is SIGKILLed right after the given step.
 *
 * The exporter frees its allocation after the importer's step
 * exporter_frees_after (STEP_IMPORTED or STEP_MAPPED; 0: after the
 * importer's last step, or once the importer was killed), and then waits,
 * holding nothing, until the end.
 *
 * When the exporter leaves (killed or freeing) after the very step after
 * which the importer is killed, it goes first: the importer is then the
 * last holder, and its death alone must free the memory.
 */
FIXTURE_VARIANT(flow) {
	char kill_exporter_after;
	char kill_importer_after;
	char exporter_frees_after;
};

FIXTURE_VARIANT_ADD(flow, clean) { 0 };
FIXTURE_VARIANT_ADD(flow, exporter_killed_after_export) {
	.kill_exporter_after = STEP_EXPORTED,
};
FIXTURE_VARIANT_ADD(flow, exporter_killed_after_setpid) {
	.kill_exporter_after = STEP_WHITELISTED,
};
FIXTURE_VARIANT_ADD(flow, exporter_killed_after_import) {
	.kill_exporter_after = STEP_IMPORTED,
};
FIXTURE_VARIANT_ADD(flow, exporter_killed_after_map) { .kill_exporter_after = STEP_MAPPED };
FIXTURE_VARIANT_ADD(flow, importer_killed_after_import) {
	.kill_importer_after = STEP_IMPORTED,
};
FIXTURE_VARIANT_ADD(flow, importer_killed_after_map) { .kill_importer_after = STEP_MAPPED };
/* The exporter frees right after the import, before the importer maps. */
FIXTURE_VARIANT_ADD(flow, exporter_frees_after_import) {
	.exporter_frees_after = STEP_IMPORTED,
};
/* The importer, last holder, is killed holding its import handle only... */
FIXTURE_VARIANT_ADD(flow, exporter_freed_then_importer_killed_after_import) {
	.exporter_frees_after = STEP_IMPORTED,
	.kill_importer_after = STEP_IMPORTED,
};
FIXTURE_VARIANT_ADD(flow, exporter_killed_then_importer_killed_after_import) {
	.kill_exporter_after = STEP_IMPORTED,
	.kill_importer_after = STEP_IMPORTED,
};
/* ... or its import handle and its mapping. */
FIXTURE_VARIANT_ADD(flow, exporter_freed_then_importer_killed_after_map) {
	.exporter_frees_after = STEP_MAPPED,
	.kill_importer_after = STEP_MAPPED,
};
FIXTURE_VARIANT_ADD(flow, exporter_killed_then_importer_killed_after_map) {
	.kill_exporter_after = STEP_MAPPED,
	.kill_importer_after = STEP_MAPPED,
};

#define KILL(who)                                                          \
	do {                                                               \
		ASSERT_EQ(0, kill(self->f.who, SIGKILL));                  \
		ASSERT_CHILD_SIGNALED(self->f.who, SIGKILL);               \
		self->f.who = -1;                                          \
	} while (0)

#define CONTINUE(ch) ASSERT_EQ(0, acl_tell(&self->f.ch, 'c'))

/* The exporter still holds its handle and mapping. */
#define EXPORTER_HOLDS() (self->f.exporter > 0 && !exporter_freed)

/* After the importer's step @s: the exporter is killed, or frees, if the variant says so. */
#define EXPORTER_LEAVES_AFTER(s)                                                   \
	do {                                                                       \
		if (ke == (s)) {                                                   \
			KILL(exporter);                                            \
		} else if (fe == (s)) {                                            \
			CONTINUE(exp_ch);                                          \
			ASSERT_EQ(0, expect_step(&self->f.exp_ch, STEP_EXPORTER_FREED)); \
			exporter_freed = true;                                     \
		}                                                                  \
		if (ke == (s) || fe == (s)) {                                      \
			/* The importer's handle (and mapping) alone keep the memory. */ \
			EXPECT_EQ(a0 + 1, counter(ACL_CNT_ALLOCATIONS));           \
			EXPECT_COUNTER_DELTA(self->start, ACL_CNT_EXPORTS, 0);     \
		}                                                                  \
	} while (0)

TEST_F(flow, holders)
{
	int32_t importer_tgid = 0;
	struct share_token tok;
	unsigned long long a0 = self->start.v[ACL_CNT_ALLOCATIONS];
	char ke = variant->kill_exporter_after, ki = variant->kill_importer_after;
	char fe = variant->exporter_frees_after;
	bool exporter_freed = false;

	self->f.exporter = spawn(&self->f.exp_ch, exporter_main);
	ASSERT_LT(0, self->f.exporter);
	ASSERT_EQ(0, expect_step(&self->f.exp_ch, STEP_EXPORTED));
	EXPECT_EQ(a0 + 1, counter(ACL_CNT_ALLOCATIONS));
	if (ke == STEP_EXPORTED) {
		KILL(exporter);
		EXPECT_EQ(a0, counter(ACL_CNT_ALLOCATIONS));
		return;
	}
	CONTINUE(exp_ch);

	self->f.importer = spawn(&self->f.imp_ch, importer_main);
	ASSERT_LT(0, self->f.importer);
	ASSERT_EQ(0, acl_recv_val(&self->f.imp_ch, &importer_tgid, sizeof(importer_tgid)));
	ASSERT_EQ(0, acl_send_val(&self->f.exp_ch, &importer_tgid, sizeof(importer_tgid)));
	ASSERT_EQ(0, acl_recv_val(&self->f.exp_ch, &tok, sizeof(tok)));
	ASSERT_EQ(0, expect_step(&self->f.exp_ch, STEP_WHITELISTED));
	if (ke == STEP_WHITELISTED) {
		KILL(exporter);
		EXPECT_EQ(a0, counter(ACL_CNT_ALLOCATIONS));
		/* The importer finds the shareable handle revoked. */
		ASSERT_EQ(0, acl_send_val(&self->f.imp_ch, &tok, sizeof(tok)));
		ASSERT_EQ(0, acl_tell(&self->f.imp_ch, 'r'));
		ASSERT_CHILD_OK(self->f.importer);
		self->f.importer = -1;
		return;
	}
	ASSERT_EQ(0, acl_send_val(&self->f.imp_ch, &tok, sizeof(tok)));
	ASSERT_EQ(0, acl_tell(&self->f.imp_ch, 'i'));
	ASSERT_EQ(0, expect_step(&self->f.imp_ch, STEP_IMPORTED));
	EXPECT_COUNTER_DELTA(self->start, ACL_CNT_IMPORTS, 1);
	EXPORTER_LEAVES_AFTER(STEP_IMPORTED);
	if (ki == STEP_IMPORTED)
		goto kill_importer;
	/* The importer maps (after the exporter freed or died, in some variants). */
	CONTINUE(imp_ch);
	ASSERT_EQ(0, expect_step(&self->f.imp_ch, STEP_MAPPED));
	EXPECT_COUNTER_DELTA(self->start, ACL_CNT_MAPPINGS, EXPORTER_HOLDS() ? 2 : 1);
	EXPORTER_LEAVES_AFTER(STEP_MAPPED);
	if (ki == STEP_MAPPED)
		goto kill_importer;
	if (self->f.exporter > 0) {
		if (!exporter_freed) {
			CONTINUE(exp_ch);
			ASSERT_EQ(0, expect_step(&self->f.exp_ch, STEP_EXPORTER_FREED));
		}
		CONTINUE(exp_ch);
		ASSERT_CHILD_OK(self->f.exporter);
		self->f.exporter = -1;
	}
	/* Only the importer's handle and mapping hold the memory now. */
	EXPECT_EQ(a0 + 1, counter(ACL_CNT_ALLOCATIONS));
	EXPECT_COUNTER_DELTA(self->start, ACL_CNT_EXPORTS, 0);
	/* The importer checks the data, frees its handle, finds the handle revoked. */
	CONTINUE(imp_ch);
	/* The importer freed its handle: its mapping alone holds the memory. */
	ASSERT_EQ(0, expect_step(&self->f.imp_ch, STEP_DONE));
	EXPECT_EQ(a0 + 1, counter(ACL_CNT_ALLOCATIONS));
	EXPECT_COUNTER_DELTA(self->start, ACL_CNT_MAPPINGS, 1);
	CONTINUE(imp_ch);
	ASSERT_CHILD_OK(self->f.importer);
	self->f.importer = -1;
	EXPECT_EQ(a0, counter(ACL_CNT_ALLOCATIONS));
	return;

kill_importer:
	if (EXPORTER_HOLDS()) {
		KILL(importer);
		EXPECT_EQ(a0 + 1, counter(ACL_CNT_ALLOCATIONS));
		EXPECT_COUNTER_DELTA(self->start, ACL_CNT_IMPORTS, 0);
		CONTINUE(exp_ch);
		ASSERT_EQ(0, expect_step(&self->f.exp_ch, STEP_EXPORTER_FREED));
		EXPECT_EQ(a0, counter(ACL_CNT_ALLOCATIONS));
	} else {
		bool exporter_alive = self->f.exporter > 0;

		/* The exporter is gone: everything left is the importer's, until it dies. */
		EXPECT_COUNTER_DELTA(self->start, ACL_CNT_ALLOCATIONS, 1);
		EXPECT_COUNTER_DELTA(self->start, ACL_CNT_ALLOCATED_BYTES, SHARE_SIZE);
		EXPECT_COUNTER_DELTA(self->start, ACL_CNT_IMPORTS, 1);
		EXPECT_COUNTER_DELTA(self->start, ACL_CNT_MAPPINGS, ki == STEP_MAPPED ? 1 : 0);
		EXPECT_COUNTER_DELTA(self->start, ACL_CNT_EXPORTS, 0);
		KILL(importer);
		/* Reaped: all of it is gone (the exporter, if alive, holds nothing). */
		EXPECT_COUNTERS(self->start, exporter_alive ? ACL_CNT_LIVE_NO_OPENS : ACL_CNT_LIVE);
	}
	if (self->f.exporter > 0) {
		CONTINUE(exp_ch);
		ASSERT_CHILD_OK(self->f.exporter);
		self->f.exporter = -1;
	}
}

/*
 * The exporter exits while a fork() child still holds its descriptor of
 * /dev/acl_share (raw ioctls: the library would close it in the child).
 * The exit still revokes the export and frees what the exporter held.
 */
TEST(exporter_exit_with_inherited_descriptor)
{
	struct acl_counters start;
	struct acl_chan ch;
	uint64_t key = 0;
	pid_t exporter;

	ASSERT_EQ(0, acl_read_counters(&start));
	ASSERT_EQ(0, acl_chan_init(&ch));
	exporter = fork();
	ASSERT_LE(0, exporter);
	if (exporter == 0) {
		struct acl_share_export e = { .size = sizeof(e) };
		uint64_t off;
		uint32_t h;
		pid_t keeper;
		int fd;

		acl_chan_child(&ch);
		fd = open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC);
		CHILD_CHECK(fd >= 0, "open");
		CHILD_CHECK(acl_raw_alloc(fd, SZ_2M, 4, ACL_SHARE_LOC_DEVICE, 0, &h, &off) == 0,
			    "alloc");
		e.handle = h;
		e.flags = ACL_SHARE_EXPORT_NO_PID_CHECK;
		e.share_type = ACL_SHARE_HANDLE_DEFAULT;
		e.shareable_len = sizeof(key);
		e.shareable_uptr = (uintptr_t)&key;
		CHILD_CHECK(acl_ioctl(fd, ACL_SHARE_IOC_EXPORT, &e) == 0, "export");
		keeper = fork();	/* keeps fd open until the test process says 'x' */
		CHILD_CHECK(keeper >= 0, "fork");
		if (keeper == 0) {
			char c;

			while (read(ch.rd, &c, 1) < 0 && errno == EINTR)
				;
			_exit(0);
		}
		CHILD_CHECK(acl_send_val(&ch, &key, sizeof(key)) == 0, "send");
		_exit(0);	/* the exporter exits; its descriptor lives on in keeper */
	}
	acl_chan_parent(&ch);
	ASSERT_EQ(0, acl_recv_val(&ch, &key, sizeof(key)));
	ASSERT_CHILD_OK(exporter);
	/* The exporter is gone: nothing of it is left, although the file is open. */
	EXPECT_COUNTER_DELTA(start, ACL_CNT_OPENS, 1);
	EXPECT_COUNTER_DELTA(start, ACL_CNT_EXPORTS, 0);
	EXPECT_COUNTER_DELTA(start, ACL_CNT_HANDLES, 0);
	EXPECT_COUNTER_DELTA(start, ACL_CNT_ALLOCATIONS, 0);
	{
		aclrtDrvMemHandle h;

		EXPECT_EQ(ACL_ERROR_RT_INVALID_HANDLE, aclrtMemImportFromShareableHandle(key, 0, &h));
	}
	ASSERT_EQ(0, acl_tell(&ch, 'x'));
	acl_chan_close(&ch);
	while (wait(NULL) > 0)
		;
	EXPECT_COUNTERS(start, ACL_CNT_LIVE_NO_OPENS);
}

/* Sends descriptor @fd over the Unix socket @sock; 0 or -errno. */
static int send_fd(int sock, int fd)
{
	char data = 'f', cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = &data, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -errno;
}

/* Receives a descriptor from @sock; the descriptor or -1. */
static int recv_fd(int sock)
{
	char data, cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = &data, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *c;
	int fd = -1;

	if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1)
		return -1;
	c = CMSG_FIRSTHDR(&msg);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

/*
 * The exporter hands its only descriptor of /dev/acl_share to another
 * process (SCM_RIGHTS), closes its own and exits: no descriptor of it is
 * flushed at its exit, but its exports are refused all the same (107017)
 * while the file lives on in the other process, which cannot use it.
 */
TEST(exporter_exit_after_passing_its_descriptor)
{
	struct acl_counters start;
	struct acl_share_info info;
	aclrtDrvMemHandle imp = NULL;
	struct acl_chan ch;
	uint64_t key = 0;
	pid_t exporter;
	int sv[2], fd;

	ASSERT_EQ(0, acl_read_counters(&start));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_EQ(0, acl_chan_init(&ch));
	exporter = fork();
	ASSERT_LE(0, exporter);
	if (exporter == 0) {
		struct acl_share_export e = { .size = sizeof(e) };
		uint32_t h;

		acl_chan_child(&ch);
		fd = open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC);
		CHILD_CHECK(fd >= 0, "open");
		CHILD_CHECK(acl_raw_alloc(fd, SZ_2M, 4, ACL_SHARE_LOC_DEVICE, 0, &h, NULL) == 0,
			    "alloc");
		e.handle = h;
		e.flags = ACL_SHARE_EXPORT_NO_PID_CHECK;
		e.share_type = ACL_SHARE_HANDLE_DEFAULT;
		e.shareable_len = sizeof(key);
		e.shareable_uptr = (uintptr_t)&key;
		CHILD_CHECK(acl_ioctl(fd, ACL_SHARE_IOC_EXPORT, &e) == 0, "export");
		CHILD_CHECK(send_fd(sv[1], fd) == 0, "SCM_RIGHTS: %s", strerror(errno));
		CHILD_CHECK(close(fd) == 0, "close");
		CHILD_CHECK(acl_send_val(&ch, &key, sizeof(key)) == 0, "send");
		CHILD_CHECK(acl_hear(&ch, 'x') == 0, "hear");
		_exit(0);	/* with no descriptor of /dev/acl_share left */
	}
	acl_chan_parent(&ch);
	fd = recv_fd(sv[0]);
	ASSERT_LE(0, fd) TH_LOG("no descriptor received");
	ASSERT_EQ(0, acl_recv_val(&ch, &key, sizeof(key)));
	/* The file is the exporter's: this process cannot use it. */
	EXPECT_EQ(-EACCES, acl_raw_info(fd, &info));
	/* While the exporter lives, its export is importable. */
	ASSERT_ACL_OK(aclrtMemImportFromShareableHandle(key, 0, &imp));
	ASSERT_ACL_OK(aclrtFreePhysical(imp));
	ASSERT_EQ(0, acl_tell(&ch, 'x'));
	ASSERT_CHILD_OK(exporter);
	/* Gone: its export is refused, though its file is still open here. */
	EXPECT_COUNTER_DELTA(start, ACL_CNT_ALLOCATIONS, 1);
	EXPECT_ACL(ACL_ERROR_RT_INVALID_HANDLE, aclrtMemImportFromShareableHandle(key, 0, &imp),
		   "revoked");
	/* Closing the last descriptor releases everything it held. */
	EXPECT_EQ(0, close(fd));
	acl_chan_close(&ch);
	close(sv[0]);
	close(sv[1]);
	EXPECT_COUNTERS(start, ACL_CNT_LIVE_NO_OPENS);
}

TEST_HARNESS_MAIN
