// SPDX-License-Identifier: GPL-2.0
/*
 * Whitelist entries name processes, not numbers:
 *  - pids are bare tgids (initial pid namespace), also for an importer or
 *    an exporter in a container (a new pid namespace);
 *  - an entry is bound to the process that held the number when SetPid
 *    ran: a newcomer that gets the number after that process exited is not
 *    whitelisted.
 */
#include <sched.h>
#include <sys/prctl.h>

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

			CHILD_CHECK(prctl(PR_SET_PDEATHSIG, SIGKILL) == 0, "prctl");
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

/*
 * The exporter is pid 1 of a new pid namespace (its own pid means nothing
 * outside). Its aclrtDeviceGetBareTgid() is not its getpid() but its pid in
 * the initial namespace; it whitelists the bare tgid the importer reported,
 * and the importer, refused before, gets in and reads the data.
 */
FIXTURE(ns_exporter) {
	struct acl_counters start;
	struct acl_chan exp_ch, imp_ch;
	pid_t exporter, importer;
};

FIXTURE_SETUP(ns_exporter)
{
	self->exporter = self->importer = -1;
	self->exp_ch.rd = self->exp_ch.wr = self->imp_ch.rd = self->imp_ch.wr = -1;
	ASSERT_EQ(0, acl_read_counters(&self->start));
	ASSERT_EQ(0, acl_chan_init(&self->exp_ch));
	ASSERT_EQ(0, acl_chan_init(&self->imp_ch));
}

/* The namespace's pid 1 dies with its parent (PR_SET_PDEATHSIG). */
FIXTURE_TEARDOWN(ns_exporter)
{
	if (self->importer > 0) {
		kill(self->importer, SIGKILL);
		acl_wait(self->importer);
	}
	if (self->exporter > 0) {
		kill(self->exporter, SIGKILL);
		acl_wait(self->exporter);
	}
	acl_chan_close(&self->exp_ch);
	acl_chan_close(&self->imp_ch);
	EXPECT_COUNTERS(self->start, ACL_CNT_LIVE);
}

TEST_F(ns_exporter, exporter_in_pid_namespace)
{
	struct { int32_t bare, local; } ids = { 0, 0 };
	struct acl_chan *exp_ch = &self->exp_ch, *imp_ch = &self->imp_ch;
	struct share_token tok;
	int32_t importer_tgid = 0;
	pid_t inner_pid = 0;

	self->exporter = fork();
	ASSERT_LE(0, self->exporter);
	if (self->exporter == 0) {
		pid_t inner;
		int st;

		acl_chan_child(exp_ch);
		/* Not the importer's channel: it must see EOF when the test process goes. */
		close(imp_ch->to_child[0]);
		close(imp_ch->to_child[1]);
		close(imp_ch->to_parent[0]);
		close(imp_ch->to_parent[1]);
		CHILD_CHECK(unshare(CLONE_NEWPID) == 0, "unshare: %s", strerror(errno));
		inner = fork();
		CHILD_CHECK(inner >= 0, "fork: %s", strerror(errno));
		if (inner == 0) {
			struct acl_mapping m;
			int32_t importer = 0;
			aclError e;

			CHILD_CHECK(prctl(PR_SET_PDEATHSIG, SIGKILL) == 0, "prctl");
			ids.local = getpid();
			CHILD_CHECK(aclrtSetDevice(0) == ACL_SUCCESS, "set device");
			e = aclrtDeviceGetBareTgid(&ids.bare);
			CHILD_CHECK(e == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
			e = acl_map_new(&m, SHARE_SIZE, ACL_HBM_MEM_HUGE,
					ACL_MEM_LOCATION_TYPE_DEVICE, 0);
			CHILD_CHECK(e == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
			share_fill(m.va, SHARE_SIZE);
			e = share_export(m.handle, 0, ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT, &tok);
			CHILD_CHECK(e == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
			CHILD_CHECK(acl_send_val(exp_ch, &ids, sizeof(ids)) == 0, "send ids");
			CHILD_CHECK(acl_send_val(exp_ch, &tok, sizeof(tok)) == 0, "send token");
			CHILD_CHECK(acl_recv_val(exp_ch, &importer, sizeof(importer)) == 0,
				    "importer tgid");
			e = share_set_pid(&tok, importer);
			CHILD_CHECK(e == ACL_SUCCESS, "SetPid(%d): %s", importer,
				    aclGetRecentErrMsg());
			CHILD_CHECK(acl_tell(exp_ch, 'w') == 0, "tell");
			CHILD_CHECK(acl_hear(exp_ch, 'd') == 0, "hear");
			CHILD_CHECK(acl_map_delete(&m) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
			_exit(0);
		}
		st = acl_wait(inner);
		/* This process is in the initial namespace: inner is the bare tgid. */
		CHILD_CHECK(acl_send_val(exp_ch, &inner, sizeof(inner)) == 0, "send inner");
		_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 2);
	}
	acl_chan_parent(exp_ch);

	self->importer = fork();
	if (self->importer == 0) {
		struct acl_mapping m;
		aclrtDrvMemHandle h;
		aclError e;

		acl_chan_close(exp_ch);
		acl_chan_child(imp_ch);
		share_child_hello(imp_ch);
		CHILD_CHECK(acl_recv_val(imp_ch, &tok, sizeof(tok)) == 0, "token");
		e = share_import(&tok, &h);
		CHILD_CHECK(e == ACL_ERROR_RT_DRV_INTERNAL_ERROR,
			    "import before SetPid gave %d", e);
		CHILD_CHECK(acl_tell(imp_ch, 'r') == 0, "tell");
		CHILD_CHECK(acl_hear(imp_ch, 'w') == 0, "hear");
		share_child_import_map(&tok, &m);
		CHILD_CHECK(acl_map_delete(&m) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
		_exit(0);
	}
	if (self->importer > 0)
		acl_chan_parent(imp_ch);

	ASSERT_LE(0, self->importer);
	ASSERT_EQ(0, acl_recv_val(exp_ch, &ids, sizeof(ids)));
	ASSERT_EQ(0, acl_recv_val(exp_ch, &tok, sizeof(tok)));
	EXPECT_EQ(1, ids.local);
	EXPECT_NE(ids.local, ids.bare);
	ASSERT_EQ(0, acl_recv_val(imp_ch, &importer_tgid, sizeof(importer_tgid)));
	ASSERT_EQ(self->importer, importer_tgid);
	ASSERT_EQ(0, acl_send_val(imp_ch, &tok, sizeof(tok)));
	ASSERT_EQ(0, acl_hear(imp_ch, 'r'));
	ASSERT_EQ(0, acl_send_val(exp_ch, &importer_tgid, sizeof(importer_tgid)));
	ASSERT_EQ(0, acl_hear(exp_ch, 'w'));
	ASSERT_EQ(0, acl_tell(imp_ch, 'w'));
	ASSERT_CHILD_OK(self->importer);
	self->importer = -1;
	EXPECT_COUNTER_DELTA(self->start, ACL_CNT_ALLOCATIONS, 1);
	ASSERT_EQ(0, acl_tell(exp_ch, 'd'));
	ASSERT_EQ(0, acl_recv_val(exp_ch, &inner_pid, sizeof(inner_pid)));
	EXPECT_EQ(inner_pid, ids.bare) TH_LOG("not the exporter's pid in the initial namespace");
	ASSERT_CHILD_OK(self->exporter);
	self->exporter = -1;
}

TEST_HARNESS_MAIN
