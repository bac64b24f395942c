// SPDX-License-Identifier: GPL-2.0
/*
 * A server dies while imports and copies cross the link (docs/fabric.md):
 * two servers (run-in-vm.sh --servers 2), each exporting to the other, with
 * processes of both copying; then server 1 has its qemu killed (SIGKILL,
 * ACL_VMRUN_KILL_ME), as a host that loses power. Server 0, the survivor:
 * - its copies from server 1's memory fail with 507899 in bounded time,
 *   none hangs;
 * - the references it held for server 1's importers are released once the
 *   link times out (peer_timeout_ms), and its own allocation is then freed;
 * - its import of server 1's memory is dead: a copy fails at once, the free
 *   succeeds; a new import fails cleanly (207000) in bounded time;
 * - its counters return to zero, its kernel log stays clean (the runner).
 * Server 1's side of the run ends with the kill: it counts for nothing.
 * Run last: server 1 runs nothing after it.
 */
#include <poll.h>

#include "acl/acl.h"
#include "acl_test_util.h"
#include "fabric_util.h"
#include "share_util.h"

#define KEY1 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define SIZE (8UL << 20)
#define READERS 2
/* peer_timeout_ms here, and how long the survivor waits for each effect at most */
#define PEER_TIMEOUT_MS 3000
#define BOUND_MS 60000

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * A process that imports @t, maps it and copies all of it in a loop until a
 * copy fails: it tells @tell once it has copied, then writes the failing
 * copy's aclError to @tell and exits 0. Server 1's readers never get there.
 */
static pid_t start_reader(const struct share_token *t, int tell)
{
	pid_t pid = fork();

	if (pid == 0) {
		unsigned char *buf = malloc(SIZE);
		aclrtDrvMemHandle h;
		void *va = NULL;
		aclError e;
		bool told = false;

		CHILD_CHECK(buf != NULL, "malloc");
		CHILD_CHECK(aclrtSetDevice(0) == ACL_SUCCESS, "set device");
		CHILD_CHECK(share_import((struct share_token *)t, &h) == ACL_SUCCESS, "import: %s",
			    aclGetRecentErrMsg());
		CHILD_CHECK(aclrtReserveMemAddress(&va, SIZE, 0, NULL, 0) == ACL_SUCCESS, "reserve");
		CHILD_CHECK(aclrtMapMem(va, SIZE, 0, h, 0) == ACL_SUCCESS, "map: %s",
			    aclGetRecentErrMsg());
		for (;;) {
			e = aclrtMemcpy(buf, SIZE, va, SIZE, ACL_MEMCPY_DEVICE_TO_HOST);
			if (e)
				break;
			CHILD_CHECK(share_check(buf, SIZE) == SIZE, "copied bytes differ");
			if (!told) {
				CHILD_CHECK(write(tell, "c", 1) == 1, "tell");
				told = true;
			}
		}
		fprintf(stderr, "# reader %d: the copy failed with %d: %s\n", (int)getpid(), (int)e,
			aclGetRecentErrMsg());
		CHILD_CHECK(write(tell, &e, sizeof(e)) == sizeof(e), "tell the error");
		/* the dead import still unmaps and frees */
		CHILD_CHECK(aclrtUnmapMem(va) == ACL_SUCCESS, "unmap: %s", aclGetRecentErrMsg());
		CHILD_CHECK(aclrtReleaseMemAddress(va) == ACL_SUCCESS, "release");
		CHILD_CHECK(aclrtFreePhysical(h) == ACL_SUCCESS, "free: %s", aclGetRecentErrMsg());
		_exit(0);
	}
	return pid;
}

FIXTURE(peer_kill) {
	struct acl_mapping m;	/* this server's exported allocation */
};

FIXTURE_SETUP(peer_kill)
{
	ASSERT_EQ(2U, fabric_servers());
	ASSERT_EQ(0, fabric_pair(KEY1));
	ASSERT_EQ(0, cfg_write("/sys/module/acl_share_fabric/parameters/peer_timeout_ms", "3000"));
	ASSERT_ACL_OK(aclInit(NULL));
	ASSERT_ACL_OK(aclrtSetDevice(0));
	ASSERT_EQ(0, stat_of("remote_holders"));
	ASSERT_EQ(0, stat_of("remote_imports"));
	ASSERT_EQ(0, fabric_barrier("setup"));
}

FIXTURE_TEARDOWN(peer_kill)
{
	/* only the survivor gets here */
	cfg_write("/sys/module/acl_share_fabric/parameters/peer_timeout_ms", "10000");
	fabric_reset();
}

TEST_F_TIMEOUT(peer_kill, survivor_recovers_when_the_peer_dies_mid_copy, FABRIC_TEST_TIMEOUT)
{
	struct share_token mine, theirs;
	double t0, t1, took;
	pid_t reader[READERS];
	aclrtDrvMemHandle h;
	int p[2];
	char c;

	ASSERT_ACL_OK(acl_map_new(&self->m, SIZE, ACL_HBM_MEM_HUGE, ACL_MEM_LOCATION_TYPE_DEVICE, 0));
	share_fill(self->m.va, SIZE);
	ASSERT_ACL_OK(share_export(self->m.handle, ACL_RT_VMM_EXPORT_FLAG_DISABLE_PID_VALIDATION,
				   ACL_MEM_SHARE_HANDLE_TYPE_FABRIC, &mine));
	ASSERT_EQ(0, fabric_swap("handles", &mine, &theirs, sizeof(mine)));
	/* each server's readers copy the other's memory */
	ASSERT_EQ(0, pipe(p));
	for (int i = 0; i < READERS; i++) {
		reader[i] = start_reader(&theirs, p[1]);
		ASSERT_LE(0, reader[i]);
	}
	for (int i = 0; i < READERS; i++)
		ASSERT_EQ(1, read(p[0], &c, 1));
	ASSERT_EQ(0, fabric_barrier("copying"));
	EXPECT_EQ(READERS, stat_of("remote_holders"));
	EXPECT_EQ(READERS, stat_of("remote_imports"));
	ASSERT_EQ(0, fabric_barrier("counted"));

	if (fabric_me() == 1) {
		/* the host dies here, its readers in the middle of copies */
		printf("%s\n", getenv("ACL_VMRUN_KILL_ME"));
		fflush(stdout);
		for (;;)
			pause();
	}

	/* server 0, the survivor */
	t0 = now_s();

	for (int i = 0; i < READERS; i++) {
		struct pollfd pf = { .fd = p[0], .events = POLLIN };
		aclError e = 0;

		ASSERT_EQ(1, poll(&pf, 1, BOUND_MS)) TH_LOG("reader %d still copying", i);
		ASSERT_EQ((ssize_t)sizeof(e), read(p[0], &e, sizeof(e)));
		EXPECT_EQ(ACL_ERROR_RT_DRV_INTERNAL_ERROR, e);
	}
	TH_LOG("both readers' copies failed %.1f s after the kill was asked", now_s() - t0);
	for (int i = 0; i < READERS; i++)
		ASSERT_CHILD_OK(reader[i]);
	EXPECT_TRUE(stat_wait("remote_imports", 0, BOUND_MS));
	/* server 1's importers' references, released when the link timed out */
	EXPECT_TRUE(stat_wait("remote_holders", 0, BOUND_MS));
	EXPECT_TRUE(peer_wait_state(1, "down", BOUND_MS))
		TH_LOG("the link to server 1 still up %.1f s after the kill", now_s() - t0);
	TH_LOG("server 1's references released %.1f s after the kill was asked", now_s() - t0);
	ASSERT_ACL_OK(acl_map_delete(&self->m));
	EXPECT_EQ(0, stat_of("allocations"));
	EXPECT_EQ(0, stat_of("allocated_bytes"));

	/* a new import: no such host any more, refused in bounded time */
	t1 = now_s();
	EXPECT_ACL(ACL_ERROR_RT_FEATURE_NOT_SUPPORT, share_import(&theirs, &h), "server 1");
	took = now_s() - t1;
	TH_LOG("a new import refused after %.1f s: %s", took, aclGetRecentErrMsg());
	EXPECT_GT(30.0, took);
	EXPECT_EQ(0, stat_of("remote_imports"));
	close(p[0]);
	close(p[1]);
}

TEST_HARNESS_MAIN
