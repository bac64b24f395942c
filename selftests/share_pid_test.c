// SPDX-License-Identifier: GPL-2.0
/*
 * Whitelist entries name processes, not numbers:
 *  - pids are bare tgids (initial pid namespace), also for an importer in a
 *    container (a new pid namespace);
 *  - an entry is bound to the process that held the number when SetPid
 *    ran: a newcomer that gets the number after that process exited is not
 *    whitelisted.
 */
#include <sched.h>

#include "acl/acl.h"
#include "acl_test_util.h"
#include "share_util.h"

FIXTURE(pids) {
	struct share_exporter x;
	struct share_token tok;
};

FIXTURE_SETUP(pids)
{
	share_exporter_setup(_metadata, &self->x);
	ASSERT_ACL_OK(share_export(self->x.m.handle, 0, ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT,
				   &self->tok));
}

FIXTURE_TEARDOWN(pids)
{
	share_exporter_teardown(_metadata, &self->x);
}

/*
 * The importer is pid 1 of a new pid namespace. Whitelisting its
 * in-namespace pid (1, which in the initial namespace is this VM's init)
 * does not let it in; whitelisting what aclrtDeviceGetBareTgid() returned
 * does.
 */
TEST_F(pids, bare_tgid_in_pid_namespace)
{
	struct { int32_t bare, local; } ids = { 0, 0 };

	self->x.child = fork();
	ASSERT_LE(0, self->x.child);
	if (self->x.child == 0) {
		pid_t inner;

		acl_chan_child(&self->x.ch);
		CHILD_CHECK(unshare(CLONE_NEWPID) == 0, "unshare: %s", strerror(errno));
		inner = fork();
		CHILD_CHECK(inner >= 0, "fork: %s", strerror(errno));
		if (inner == 0) {
			aclrtDrvMemHandle h;
			aclError e;

			ids.local = getpid();
			CHILD_CHECK(ids.local == 1, "not pid 1 in the new namespace: %d",
				    ids.local);
			CHILD_CHECK(aclrtSetDevice(0) == ACL_SUCCESS, "set device");
			e = aclrtDeviceGetBareTgid(&ids.bare);
			CHILD_CHECK(e == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
			CHILD_CHECK(ids.bare > 1, "bare tgid %d", ids.bare);
			CHILD_CHECK(acl_send_val(&self->x.ch, &ids, sizeof(ids)) == 0, "send");
			CHILD_CHECK(acl_hear(&self->x.ch, 'l') == 0, "hear l");
			e = share_import(&self->tok, &h);
			CHILD_CHECK(e == ACL_ERROR_RT_DRV_INTERNAL_ERROR,
				    "import with the in-namespace pid whitelisted gave %d", e);
			CHILD_CHECK(acl_tell(&self->x.ch, 'r') == 0, "tell");
			CHILD_CHECK(acl_hear(&self->x.ch, 'b') == 0, "hear b");
			e = share_import(&self->tok, &h);
			CHILD_CHECK(e == ACL_SUCCESS, "import with the bare tgid: %d %s", e,
				    aclGetRecentErrMsg());
			CHILD_CHECK(aclrtFreePhysical(h) == ACL_SUCCESS, "free");
			_exit(0);
		}
		{
			int st = acl_wait(inner);

			_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 2);
		}
	}
	acl_chan_parent(&self->x.ch);
	ASSERT_EQ(0, acl_recv_val(&self->x.ch, &ids, sizeof(ids)));
	EXPECT_EQ(1, ids.local);
	ASSERT_ACL_OK(share_set_pid(&self->tok, ids.local));
	ASSERT_EQ(0, acl_tell(&self->x.ch, 'l'));
	ASSERT_EQ(0, acl_hear(&self->x.ch, 'r'));
	ASSERT_ACL_OK(share_set_pid(&self->tok, ids.bare));
	ASSERT_EQ(0, acl_tell(&self->x.ch, 'b'));
	ASSERT_CHILD_OK(self->x.child);
	self->x.child = -1;
}

/*
 * Forks a child whose pid is @want, by setting the initial namespace's
 * ns_last_pid (the whitelist holds bare tgids, so the number must be reused
 * in the initial namespace). The child runs @fn. Returns its pid or -1.
 */
static pid_t fork_with_pid(pid_t want, int (*fn)(void *), void *arg)
{
	for (int tries = 0; tries < 20; tries++) {
		char buf[32];
		pid_t pid;
		int fd, n;

		fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return -1;
		n = snprintf(buf, sizeof(buf), "%d", want - 1);
		if (write(fd, buf, n) != n) {
			close(fd);
			return -1;
		}
		close(fd);
		pid = fork();
		if (pid == 0) {
			if (getpid() != want)
				_exit(100);
			_exit(fn(arg));
		}
		if (pid < 0)
			return -1;
		if (pid == want)
			return pid;
		acl_wait(pid);	/* somebody else took the number: try again */
	}
	return -1;
}

struct reuse_arg {
	struct share_token *tok;
	struct acl_chan *ch;
};

/* The newcomer: refused until the exporter names it, then let in. */
static int newcomer(void *p)
{
	struct reuse_arg *a = p;
	aclrtDrvMemHandle h;
	aclError e;

	acl_chan_child(a->ch);
	CHILD_CHECK(aclrtSetDevice(0) == ACL_SUCCESS, "set device");
	e = share_import(a->tok, &h);
	CHILD_CHECK(e == ACL_ERROR_RT_DRV_INTERNAL_ERROR,
		    "a newcomer with a recycled pid was let in: %d", e);
	CHILD_CHECK(acl_tell(a->ch, 'r') == 0, "tell");
	CHILD_CHECK(acl_hear(a->ch, 'n') == 0, "hear");
	e = share_import(a->tok, &h);
	CHILD_CHECK(e == ACL_SUCCESS, "after SetPid named it: %d %s", e, aclGetRecentErrMsg());
	CHILD_CHECK(aclrtFreePhysical(h) == ACL_SUCCESS, "free");
	return 0;
}

TEST_F(pids, recycled_pid_is_not_whitelisted)
{
	struct reuse_arg arg = { &self->tok, &self->x.ch };
	int32_t old_tgid = 0;
	pid_t newcomer_pid;

	/* B says hello, is whitelisted, and exits without importing. */
	self->x.child = fork();
	ASSERT_LE(0, self->x.child);
	if (self->x.child == 0) {
		acl_chan_child(&self->x.ch);
		share_child_hello(&self->x.ch);
		CHILD_CHECK(acl_hear(&self->x.ch, 'x') == 0, "hear");
		_exit(0);
	}
	acl_chan_parent(&self->x.ch);
	ASSERT_EQ(0, acl_recv_val(&self->x.ch, &old_tgid, sizeof(old_tgid)));
	ASSERT_EQ(self->x.child, old_tgid);	/* the test runs in the initial namespace */
	ASSERT_ACL_OK(share_set_pid(&self->tok, old_tgid));
	ASSERT_EQ(0, acl_tell(&self->x.ch, 'x'));
	ASSERT_CHILD_OK(self->x.child);
	self->x.child = -1;
	acl_chan_close(&self->x.ch);

	/* A newcomer gets the same number. */
	ASSERT_EQ(0, acl_chan_init(&self->x.ch));
	newcomer_pid = fork_with_pid(old_tgid, newcomer, &arg);
	ASSERT_EQ(old_tgid, newcomer_pid) TH_LOG("could not recycle pid %d", old_tgid);
	self->x.child = newcomer_pid;
	acl_chan_parent(&self->x.ch);
	ASSERT_EQ(0, acl_hear(&self->x.ch, 'r'));
	/* The exporter names the number again: now it means the newcomer. */
	ASSERT_ACL_OK(share_set_pid(&self->tok, old_tgid));
	ASSERT_EQ(0, acl_tell(&self->x.ch, 'n'));
	ASSERT_CHILD_OK(self->x.child);
	self->x.child = -1;
}

TEST_HARNESS_MAIN
