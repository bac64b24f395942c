// SPDX-License-Identifier: GPL-2.0
/*
 * share_whitelist_test - a whitelist entry holds nothing of the process it
 * names once that process is gone.
 *
 * A whitelist that kept a reference on each whitelisted process's struct
 * pid kept its pid namespace alive too, and with it the namespace quota of
 * the user who made it: an unprivileged exporter (uid 65534) that
 * whitelisted another user's container inits exhausted that user's
 * max_pid_namespaces until the export went. Here user 65533 makes
 * NR_CONTAINERS containers (a user and a pid namespace each, whose init it
 * reports by bare tgid), exactly its quota; the exporter whitelists every
 * init; the containers exit and are reaped; then user 65533 must be able to
 * make NR_CONTAINERS containers again while the export and its whitelist
 * live on. Two real processes of two users, a third for the containers.
 */
#include <sched.h>

#include "acl/acl.h"
#include "acl_test_util.h"
#include "share_util.h"

#define EXPORTER_UID 65534
#define CONTAINER_UID 65533
#define NR_CONTAINERS 8
#define MAX_PIDNS "/proc/sys/user/max_pid_namespaces"
#define USERNS_CLONE "/proc/sys/kernel/unprivileged_userns_clone"

FIXTURE(wl) {
	struct acl_counters start;
	struct acl_chan exp;
	pid_t exporter;
	char saved_max[32];
	char saved_userns[32];
};

FIXTURE_SETUP(wl)
{
	self->exporter = -1;
	self->saved_max[0] = self->saved_userns[0] = '\0';
	ASSERT_EQ(0, acl_read_counters(&self->start));
	ASSERT_EQ(0, acl_chan_init(&self->exp));
	ASSERT_EQ(0, acl_read_text(MAX_PIDNS, self->saved_max, sizeof(self->saved_max)));
	/* Debian's switch for unprivileged user namespaces, where the kernel has it. */
	if (acl_read_text(USERNS_CLONE, self->saved_userns, sizeof(self->saved_userns)) == 0)
		ASSERT_EQ(0, acl_write_text(USERNS_CLONE, "1"));
}

FIXTURE_TEARDOWN(wl)
{
	if (self->exporter > 0) {
		kill(self->exporter, SIGKILL);
		acl_wait(self->exporter);
	}
	acl_chan_close(&self->exp);
	EXPECT_EQ(0, acl_write_text(MAX_PIDNS, self->saved_max));
	if (self->saved_userns[0])
		EXPECT_EQ(0, acl_write_text(USERNS_CLONE, self->saved_userns));
	EXPECT_COUNTERS(self->start, ACL_CNT_LIVE);
}

/*
 * The exporter, uid 65534: exports one allocation, then whitelists each
 * bare tgid it is sent (0 ends the list) and answers 'w'; keeps the export
 * until 'q'.
 */
static void exporter(struct acl_chan *ch)
{
	struct share_token tok;
	aclrtDrvMemHandle h;
	aclrtPhysicalMemProp prop = acl_prop(ACL_MEM_NORMAL, ACL_MEM_LOCATION_TYPE_HOST, 0);
	int32_t pid;
	aclError e;

	CHILD_CHECK(setresgid(EXPORTER_UID, EXPORTER_UID, EXPORTER_UID) == 0, "setresgid");
	CHILD_CHECK(setresuid(EXPORTER_UID, EXPORTER_UID, EXPORTER_UID) == 0, "setresuid");
	CHILD_CHECK(aclrtSetDevice(0) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
	e = aclrtMallocPhysical(&h, (size_t)sysconf(_SC_PAGESIZE), &prop, 0);
	CHILD_CHECK(e == ACL_SUCCESS, "%d %s", e, aclGetRecentErrMsg());
	e = share_export(h, 0, ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT, &tok);
	CHILD_CHECK(e == ACL_SUCCESS, "%d %s", e, aclGetRecentErrMsg());
	for (;;) {
		CHILD_CHECK(acl_recv_val(ch, &pid, sizeof(pid)) == 0, "recv");
		if (!pid)
			break;
		e = share_set_pid(&tok, pid);
		CHILD_CHECK(e == ACL_SUCCESS, "SetPid(%d): %d %s", pid, e, aclGetRecentErrMsg());
		CHILD_CHECK(acl_tell(ch, 'w') == 0, "tell");
	}
	CHILD_CHECK(acl_hear(ch, 'q') == 0, "no quit");
	CHILD_CHECK(aclrtFreePhysical(h) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
	_exit(0);
}

struct box {
	pid_t outer;	/* the process that made the namespaces */
	pid_t init;	/* bare tgid of the pid namespace's init, 0 if none */
	int ctl;	/* closing it ends the container */
};

/*
 * Made by user 65533: a process that unshares a user and a pid namespace
 * and forks the namespace's init. When @b->ctl is closed it kills the init,
 * reaps it and exits (0; 2 if the namespaces could not be made). Returns 0
 * or -1.
 */
static int box_make(struct box *b)
{
	int info[2], ctl[2];
	pid_t in;
	char c;

	b->init = 0;
	b->ctl = -1;
	if (pipe2(info, O_CLOEXEC))
		return -1;
	if (pipe2(ctl, O_CLOEXEC)) {
		close(info[0]);
		close(info[1]);
		return -1;
	}
	b->outer = fork();
	if (b->outer == 0) {
		/* Only its own pipes: the control pipes of the other containers must close. */
		for (int fd = 3; fd < 1024; fd++)
			if (fd != info[1] && fd != ctl[0])
				close(fd);
		if (setresgid(CONTAINER_UID, CONTAINER_UID, CONTAINER_UID) ||
		    setresuid(CONTAINER_UID, CONTAINER_UID, CONTAINER_UID))
			_exit(1);
		in = 0;
		if (unshare(CLONE_NEWUSER | CLONE_NEWPID) == 0)
			in = fork();
		if (in == 0 && getpid() == 1) {
			for (;;)
				pause();
		}
		if (write(info[1], &in, sizeof(in)) != sizeof(in))
			_exit(1);
		if (in <= 0)
			_exit(2);
		while (read(ctl[0], &c, 1) < 0 && errno == EINTR)
			;
		kill(in, SIGKILL);
		_exit(acl_wait(in) == -1 ? 1 : 0);
	}
	close(info[1]);
	close(ctl[0]);
	if (b->outer < 0) {
		close(info[0]);
		close(ctl[1]);
		return -1;
	}
	if (read(info[0], &b->init, sizeof(b->init)) != sizeof(b->init))
		b->init = 0;
	close(info[0]);
	b->ctl = ctl[1];
	return 0;
}

/* Ends the container: its init is killed and reaped, then the outer process. */
static void box_end(struct box *b)
{
	if (b->ctl >= 0)
		close(b->ctl);
	b->ctl = -1;
	if (b->outer > 0)
		acl_wait(b->outer);
	b->outer = -1;
}

/* Makes @n containers at once; returns how many could be made, and ends them all. */
static int boxes_made(int n)
{
	struct box b[NR_CONTAINERS];
	int made = 0;

	for (int i = 0; i < n; i++) {
		b[i].outer = -1;
		b[i].ctl = -1;
		if (box_make(&b[i]) == 0 && b[i].init > 0)
			made++;
	}
	for (int i = 0; i < n; i++)
		box_end(&b[i]);
	return made;
}

TEST_F(wl, reaped_processes_hold_no_namespace)
{
	struct box b[NR_CONTAINERS];
	char quota[16];
	int32_t end = 0;
	int made = 0;

	/* The containers' user has exactly NR_CONTAINERS pid namespaces to make. */
	snprintf(quota, sizeof(quota), "%d", NR_CONTAINERS);
	ASSERT_EQ(0, acl_write_text(MAX_PIDNS, quota));

	self->exporter = fork();
	ASSERT_LE(0, self->exporter);
	if (self->exporter == 0) {
		acl_chan_child(&self->exp);
		exporter(&self->exp);
	}
	acl_chan_parent(&self->exp);

	/* Whitelist the inits while they live; then they go (killed and reaped). */
	for (int i = 0; i < NR_CONTAINERS; i++) {
		int32_t pid;

		ASSERT_EQ(0, box_make(&b[i]));
		ASSERT_LT(0, b[i].init) TH_LOG("container %d: no user+pid namespace for uid %d",
					       i, CONTAINER_UID);
		pid = b[i].init;
		ASSERT_EQ(0, acl_send_val(&self->exp, &pid, sizeof(pid)));
		ASSERT_EQ(0, acl_hear(&self->exp, 'w'));
	}
	for (int i = 0; i < NR_CONTAINERS; i++)
		box_end(&b[i]);

	/*
	 * The namespaces go once their last reference does (the init's pid is
	 * freed after an RCU grace period): give that a few seconds.
	 */
	for (int tries = 0; tries < 50; tries++) {
		made = boxes_made(NR_CONTAINERS);
		if (made == NR_CONTAINERS)
			break;
		usleep(100 * 1000);
	}
	EXPECT_EQ(NR_CONTAINERS, made)
		TH_LOG("uid %d could make only %d of its %d pid namespaces while the whitelist "
		       "of another user's export names its reaped container inits",
		       CONTAINER_UID, made, NR_CONTAINERS);

	ASSERT_EQ(0, acl_send_val(&self->exp, &end, sizeof(end)));
	ASSERT_EQ(0, acl_tell(&self->exp, 'q'));
	ASSERT_CHILD_OK(self->exporter);
	self->exporter = -1;
}

TEST_HARNESS_MAIN
