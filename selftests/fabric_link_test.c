// SPDX-License-Identifier: GPL-2.0
/*
 * Links between servers (acl_share_fabric.ko, docs/fabric.md step 1), run on
 * two servers at once (run-in-vm.sh --servers 2 --fabric-module ...): each
 * server runs this same program; fabric_barrier() keeps their steps in
 * order. Rules:
 * - configuration: only root changes it; bad input is refused and changes
 *   nothing; the key is never shown;
 * - servers with the same cluster key connect, either one initiating, and
 *   carry authenticated traffic both ways over one connection;
 * - a wrong key, a host that is not a configured peer, a peer at another
 *   address, a server without the fabric listening: refused, with a reason;
 * - two connects at once end in one connection (the lower id's);
 * - a new key closes the links made with the old one;
 * - a peer that restarts (its module reloaded) is reconnected;
 * - a peer that drops off the network is dropped in bounded time, and
 *   reconnected when it is back.
 */
#include "acl_test_util.h"
#include "fabric_util.h"

#define KEY1 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define KEY2 "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
#define PEER_MS 20000

static bool contains(const char *s, const char *part)
{
	return strstr(s, part) != NULL;
}

/* Each step may wait on the other server (barriers: FABRIC_BARRIER_S s at most). */
FIXTURE(fabric) {
};

FIXTURE_SETUP(fabric)
{
}

FIXTURE_TEARDOWN(fabric)
{
}

TEST_F_TIMEOUT(fabric, configuration_rules, FABRIC_TEST_TIMEOUT)
{
	char buf[256], own[16];
	unsigned int me = fabric_me();
	pid_t pid;
	int status;

	fabric_reset();
	snprintf(own, sizeof(own), "%u", me);
	EXPECT_STREQ(own, cfg_read(FABRIC_CFG "/server_id", buf, sizeof(buf)));
	EXPECT_STREQ("unset", cfg_read(FABRIC_CFG "/cluster_key", buf, sizeof(buf)));

	/* keys: hex, 16 to 64 bytes; anything else changes nothing */
	EXPECT_EQ(EINVAL, cfg_write(FABRIC_CFG "/cluster_key", "0011223"));
	EXPECT_EQ(EINVAL, cfg_write(FABRIC_CFG "/cluster_key",
				    "00112233445566778899aabbccddee")); /* 15 bytes */
	EXPECT_EQ(EINVAL, cfg_write(FABRIC_CFG "/cluster_key", KEY1 KEY1 "00")); /* 65 */
	EXPECT_EQ(EINVAL, cfg_write(FABRIC_CFG "/cluster_key",
				    "zz112233445566778899aabbccddeeff"));
	EXPECT_STREQ("unset", cfg_read(FABRIC_CFG "/cluster_key", buf, sizeof(buf)));
	EXPECT_EQ(0, cfg_write(FABRIC_CFG "/cluster_key", KEY1 "\n"));
	EXPECT_STREQ("set", cfg_read(FABRIC_CFG "/cluster_key", buf, sizeof(buf)));

	/* the port is fixed while listening; 0 and non-numbers refused */
	EXPECT_EQ(EBUSY, cfg_write(FABRIC_CFG "/port", "20000"));
	EXPECT_STREQ("18515", cfg_read(FABRIC_CFG "/port", buf, sizeof(buf)));
	EXPECT_EQ(0, cfg_write(FABRIC_CFG "/cluster_key", "none"));
	EXPECT_STREQ("unset", cfg_read(FABRIC_CFG "/cluster_key", buf, sizeof(buf)));
	EXPECT_EQ(EINVAL, cfg_write(FABRIC_CFG "/port", "0"));
	EXPECT_EQ(EINVAL, cfg_write(FABRIC_CFG "/port", "70000"));
	EXPECT_EQ(EINVAL, cfg_write(FABRIC_CFG "/port", "x"));
	EXPECT_EQ(0, cfg_write(FABRIC_CFG "/port", "20000"));
	EXPECT_STREQ("20000", cfg_read(FABRIC_CFG "/port", buf, sizeof(buf)));
	EXPECT_EQ(0, cfg_write(FABRIC_CFG "/port", "18515"));

	/* peers: named by a server id other than ours, as written */
	snprintf(buf, sizeof(buf), FABRIC_CFG "/peers/%u", me);
	EXPECT_EQ(-1, mkdir(buf, 0755));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, mkdir(FABRIC_CFG "/peers/abc", 0755));
	EXPECT_EQ(-1, mkdir(FABRIC_CFG "/peers/07", 0755));
	EXPECT_EQ(-1, mkdir(FABRIC_CFG "/peers/4294967296", 0755));
	EXPECT_EQ(-1, mkdir(FABRIC_CFG "/peers/-1", 0755));
	ASSERT_EQ(0, mkdir(FABRIC_CFG "/peers/7", 0755));

	/* addresses: IPv4 unicast only; a refused one leaves the old */
	EXPECT_STREQ("", peer_read(7, "addr", buf, sizeof(buf)));
	EXPECT_EQ(EDESTADDRREQ, cfg_write(FABRIC_CFG "/cluster_key", KEY1) ?:
		  peer_write(7, "connect", "1"));
	EXPECT_EQ(0, peer_write(7, "addr", "10.77.0.8\n"));
	EXPECT_EQ(EINVAL, peer_write(7, "addr", "10.77.0.300"));
	EXPECT_EQ(EINVAL, peer_write(7, "addr", "host"));
	EXPECT_EQ(EINVAL, peer_write(7, "addr", "224.0.0.1"));
	EXPECT_EQ(EINVAL, peer_write(7, "addr", "0.0.0.0"));
	EXPECT_EQ(EINVAL, peer_write(7, "addr", "10.77.0.9 "));
	EXPECT_STREQ("10.77.0.8", peer_read(7, "addr", buf, sizeof(buf)));
	EXPECT_STREQ("down", peer_read(7, "state", buf, sizeof(buf)));
	EXPECT_STREQ("none", peer_read(7, "initiator", buf, sizeof(buf)));
	EXPECT_EQ(ENOTCONN, peer_write(7, "ping", "1"));

	/* without a key nothing connects */
	EXPECT_EQ(0, cfg_write(FABRIC_CFG "/cluster_key", "none"));
	EXPECT_EQ(ENOKEY, peer_write(7, "connect", "1"));

	/* only root configures: an unprivileged process is refused everything */
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		if (setgid(65534) || setuid(65534))
			_exit(10);
		if (cfg_write(FABRIC_CFG "/cluster_key", KEY1) != EACCES)
			_exit(11);
		if (mkdir(FABRIC_CFG "/peers/9", 0755) == 0 || errno != EACCES)
			_exit(12);
		if (peer_write(7, "addr", "10.77.0.1") != EACCES)
			_exit(13);
		if (peer_write(7, "connect", "1") != EACCES)
			_exit(14);
		if (rmdir(FABRIC_CFG "/peers/7") == 0 || errno != EACCES)
			_exit(15);
		/* what it may read tells nothing of the key */
		if (strcmp(cfg_read(FABRIC_CFG "/cluster_key", buf, sizeof(buf)), "unset"))
			_exit(16);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	EXPECT_STREQ("unset", cfg_read(FABRIC_CFG "/cluster_key", buf, sizeof(buf)));
	EXPECT_EQ(0, peer_del(7));
	EXPECT_EQ(ENOENT, peer_del(7));
	fabric_reset();
}

TEST_F_TIMEOUT(fabric, same_key_connects_both_ways, FABRIC_TEST_TIMEOUT)
{
	unsigned int me = fabric_me(), peer = other();
	char buf[256];

	ASSERT_EQ(0, fabric_pair(KEY1));
	ASSERT_EQ(0, fabric_barrier("both-ways-configured"));

	/* server 0 connects; both see one authenticated link */
	if (me == 0) {
		EXPECT_EQ(0, peer_write(peer, "connect", "1"));
		EXPECT_STREQ("up", peer_read(peer, "state", buf, sizeof(buf)));
		EXPECT_STREQ("local", peer_read(peer, "initiator", buf, sizeof(buf)));
		EXPECT_STREQ("1", peer_read(peer, "established", buf, sizeof(buf)));
		EXPECT_STREQ("0", peer_read(peer, "last_error", buf, sizeof(buf)));
		/* connected: a second connect is a no-op */
		EXPECT_EQ(0, peer_write(peer, "connect", "1"));
		EXPECT_STREQ("1", peer_read(peer, "established", buf, sizeof(buf)));
	}
	ASSERT_EQ(0, fabric_barrier("both-ways-0-connected"));
	EXPECT_TRUE(peer_wait_state(peer, "up", PEER_MS));
	EXPECT_STREQ(me == 0 ? "local" : "remote", peer_read(peer, "initiator", buf, sizeof(buf)));
	/* traffic both ways on it */
	EXPECT_EQ(0, peer_write(peer, "ping", "1"));
	EXPECT_NE(0ULL, strtoull(peer_read(peer, "rtt_ns", buf, sizeof(buf)), NULL, 10));
	ASSERT_EQ(0, fabric_barrier("both-ways-pinged"));

	/* server 0 closes it; server 1 sees why, and connects itself */
	if (me == 0) {
		EXPECT_EQ(0, peer_write(peer, "disconnect", "1"));
		EXPECT_STREQ("down", peer_read(peer, "state", buf, sizeof(buf)));
	} else {
		EXPECT_TRUE(peer_wait_state(peer, "down", PEER_MS));
		EXPECT_TRUE(contains(peer_read(peer, "last_error", buf, sizeof(buf)),
				     "server 0 closed the connection"));
	}
	ASSERT_EQ(0, fabric_barrier("both-ways-closed"));
	if (me == 1) {
		EXPECT_EQ(0, peer_write(peer, "connect", "1"));
		EXPECT_STREQ("local", peer_read(peer, "initiator", buf, sizeof(buf)));
	}
	ASSERT_EQ(0, fabric_barrier("both-ways-1-connected"));
	EXPECT_TRUE(peer_wait_state(peer, "up", PEER_MS));
	EXPECT_STREQ(me == 1 ? "local" : "remote", peer_read(peer, "initiator", buf, sizeof(buf)));
	EXPECT_STREQ("2", peer_read(peer, "established", buf, sizeof(buf)));
	EXPECT_EQ(0, peer_write(peer, "ping", "1"));
	ASSERT_EQ(0, fabric_barrier("both-ways-done"));
	fabric_reset();
}

TEST_F_TIMEOUT(fabric, simultaneous_connects_make_one_link, FABRIC_TEST_TIMEOUT)
{
	unsigned int me = fabric_me(), peer = other();
	char buf[256];
	int i;

	ASSERT_EQ(0, fabric_pair(KEY1));
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, fabric_barrier("simultaneous-go"));
		EXPECT_EQ(0, peer_write(peer, "connect", "1"));
		EXPECT_STREQ("up", peer_read(peer, "state", buf, sizeof(buf)));
		ASSERT_EQ(0, fabric_barrier("simultaneous-connected"));
		/* one link: each end authenticated exactly one per round */
		EXPECT_TRUE(peer_wait_state(peer, "up", PEER_MS));
		EXPECT_EQ(0, peer_write(peer, "ping", "1"));
		EXPECT_EQ(i + 1, strtol(peer_read(peer, "established", buf, sizeof(buf)), NULL, 10));
		ASSERT_EQ(0, fabric_barrier("simultaneous-pinged"));
		if (me == 0) {
			EXPECT_EQ(0, peer_write(peer, "disconnect", "1"));
		} else {
			EXPECT_TRUE(peer_wait_state(peer, "down", PEER_MS));
		}
		ASSERT_EQ(0, fabric_barrier("simultaneous-closed"));
	}
	fabric_reset();
}

TEST_F_TIMEOUT(fabric, wrong_key_refused, FABRIC_TEST_TIMEOUT)
{
	unsigned int me = fabric_me(), peer = other();
	char buf[256];

	ASSERT_EQ(0, fabric_pair(me == 0 ? KEY1 : KEY2));
	ASSERT_EQ(0, fabric_barrier("wrong-key-configured"));
	if (me == 0) {
		EXPECT_EQ(EKEYREJECTED, peer_write(peer, "connect", "1"));
		EXPECT_STREQ("down", peer_read(peer, "state", buf, sizeof(buf)));
		EXPECT_TRUE(contains(peer_read(peer, "last_error", buf, sizeof(buf)),
				     "does not match the cluster key"));
		EXPECT_EQ(ENOTCONN, peer_write(peer, "ping", "1"));
	}
	ASSERT_EQ(0, fabric_barrier("wrong-key-0-tried"));
	if (me == 1) {
		/* the listener was never shown a valid proof: nothing established */
		EXPECT_STREQ("down", peer_read(peer, "state", buf, sizeof(buf)));
		EXPECT_STREQ("0", peer_read(peer, "established", buf, sizeof(buf)));
		EXPECT_EQ(EKEYREJECTED, peer_write(peer, "connect", "1"));
		EXPECT_STREQ("down", peer_read(peer, "state", buf, sizeof(buf)));
	}
	ASSERT_EQ(0, fabric_barrier("wrong-key-1-tried"));
	EXPECT_STREQ("0", peer_read(peer, "established", buf, sizeof(buf)));
	/* the same key again: connects */
	if (me == 1) {
		EXPECT_EQ(0, cfg_write(FABRIC_CFG "/cluster_key", KEY1));
	}
	ASSERT_EQ(0, fabric_barrier("wrong-key-fixed"));
	if (me == 0) {
		EXPECT_EQ(0, peer_write(peer, "connect", "1"));
	}
	ASSERT_EQ(0, fabric_barrier("wrong-key-done"));
	fabric_reset();
}

TEST_F_TIMEOUT(fabric, unconfigured_host_refused, FABRIC_TEST_TIMEOUT)
{
	unsigned int me = fabric_me(), peer = other();
	char buf[256], before[32];

	/* server 1 has the key but does not know server 0 */
	if (me == 0) {
		ASSERT_EQ(0, fabric_pair(KEY1));
	} else {
		fabric_reset();
		ASSERT_EQ(0, cfg_write(FABRIC_CFG "/cluster_key", KEY1));
	}
	cfg_read(FABRIC_CFG "/refused", before, sizeof(before));
	ASSERT_EQ(0, fabric_barrier("unconfigured-ready"));
	if (me == 0) {
		EXPECT_EQ(ECONNREFUSED, peer_write(peer, "connect", "1"));
		EXPECT_TRUE(contains(peer_read(peer, "last_error", buf, sizeof(buf)),
				     "we are not one of its configured peers"));
		EXPECT_STREQ("0", peer_read(peer, "established", buf, sizeof(buf)));
	}
	ASSERT_EQ(0, fabric_barrier("unconfigured-tried"));
	if (me == 1) {
		EXPECT_EQ(strtoull(before, NULL, 10) + 1,
			  strtoull(cfg_read(FABRIC_CFG "/refused", buf, sizeof(buf)), NULL, 10));
		EXPECT_TRUE(contains(cfg_read(FABRIC_CFG "/last_refusal", buf, sizeof(buf)),
				     "server 0 (10.77.0.1) is not a configured peer"));
		/* configured at another address: refused as well */
		ASSERT_EQ(0, peer_add(0, "10.77.0.9"));
	}
	ASSERT_EQ(0, fabric_barrier("unconfigured-wrong-addr"));
	if (me == 0) {
		EXPECT_EQ(ECONNREFUSED, peer_write(peer, "connect", "1"));
		EXPECT_TRUE(contains(peer_read(peer, "last_error", buf, sizeof(buf)),
				     "not the one it has configured for us"));
	}
	ASSERT_EQ(0, fabric_barrier("unconfigured-wrong-addr-tried"));
	if (me == 1) {
		EXPECT_TRUE(contains(cfg_read(FABRIC_CFG "/last_refusal", buf, sizeof(buf)),
				     "connected from 10.77.0.1, configured at 10.77.0.9"));
		EXPECT_STREQ("0", peer_read(0, "established", buf, sizeof(buf)));
		EXPECT_STREQ("down", peer_read(0, "state", buf, sizeof(buf)));
		/* and without a key, nothing listens at all */
		fabric_reset();
	}
	ASSERT_EQ(0, fabric_barrier("unconfigured-no-listener"));
	if (me == 0) {
		EXPECT_EQ(ECONNREFUSED, peer_write(peer, "connect", "1"));
		EXPECT_TRUE(contains(peer_read(peer, "last_error", buf, sizeof(buf)),
				     "no acl_share_fabric there"));
	}
	ASSERT_EQ(0, fabric_barrier("unconfigured-done"));
	fabric_reset();
}

TEST_F_TIMEOUT(fabric, new_key_closes_links, FABRIC_TEST_TIMEOUT)
{
	unsigned int me = fabric_me(), peer = other();
	char buf[256];

	ASSERT_EQ(0, fabric_pair(KEY1));
	ASSERT_EQ(0, fabric_barrier("new-key-configured"));
	if (me == 0) {
		EXPECT_EQ(0, peer_write(peer, "connect", "1"));
	}
	ASSERT_EQ(0, fabric_barrier("new-key-connected"));
	EXPECT_TRUE(peer_wait_state(peer, "up", PEER_MS));
	ASSERT_EQ(0, fabric_barrier("new-key-up"));
	if (me == 0) {
		EXPECT_EQ(0, cfg_write(FABRIC_CFG "/cluster_key", KEY2));
		EXPECT_STREQ("down", peer_read(peer, "state", buf, sizeof(buf)));
		EXPECT_TRUE(contains(peer_read(peer, "last_error", buf, sizeof(buf)),
				     "the cluster key changed"));
		EXPECT_EQ(EKEYREJECTED, peer_write(peer, "connect", "1"));
	} else {
		EXPECT_TRUE(peer_wait_state(peer, "down", PEER_MS));
	}
	ASSERT_EQ(0, fabric_barrier("new-key-done"));
	fabric_reset();
}

TEST_F_TIMEOUT(fabric, peer_restart_reconnects, FABRIC_TEST_TIMEOUT)
{
	unsigned int me = fabric_me(), peer = other();
	const char *ko = getenv("ACL_FABRIC_MODULE");
	char buf[256];

	ASSERT_NE(NULL, ko);
	ASSERT_EQ(0, fabric_pair(KEY1));
	ASSERT_EQ(0, fabric_barrier("restart-configured"));
	if (me == 0) {
		EXPECT_EQ(0, peer_write(peer, "connect", "1"));
	}
	ASSERT_EQ(0, fabric_barrier("restart-connected"));
	EXPECT_TRUE(peer_wait_state(peer, "up", PEER_MS));
	ASSERT_EQ(0, fabric_barrier("restart-up"));

	/* server 1 unloads its fabric module and loads it again */
	if (me == 1) {
		int fd;

		fabric_reset();
		EXPECT_EQ(0, syscall(SYS_delete_module, "acl_share_fabric", O_NONBLOCK));
		fd = open(ko, O_RDONLY | O_CLOEXEC);
		ASSERT_LE(0, fd);
		EXPECT_EQ(0, syscall(SYS_finit_module, fd, "", 0));
		close(fd);
		EXPECT_STREQ("unset", cfg_read(FABRIC_CFG "/cluster_key", buf, sizeof(buf)));
		ASSERT_EQ(0, fabric_pair(KEY1));
	} else {
		EXPECT_TRUE(peer_wait_state(peer, "down", PEER_MS));
		EXPECT_TRUE(contains(peer_read(peer, "last_error", buf, sizeof(buf)),
				     "server 1 closed the connection"));
	}
	ASSERT_EQ(0, fabric_barrier("restart-reloaded"));
	if (me == 0) {
		EXPECT_EQ(0, peer_write(peer, "connect", "1"));
		EXPECT_STREQ("2", peer_read(peer, "established", buf, sizeof(buf)));
		EXPECT_EQ(0, peer_write(peer, "ping", "1"));
	}
	ASSERT_EQ(0, fabric_barrier("restart-reconnected"));
	EXPECT_TRUE(peer_wait_state(peer, "up", PEER_MS));
	EXPECT_EQ(0, peer_write(peer, "ping", "1"));
	ASSERT_EQ(0, fabric_barrier("restart-done"));
	fabric_reset();
}

TEST_F_TIMEOUT(fabric, unreachable_peer_is_dropped_and_reconnected, FABRIC_TEST_TIMEOUT)
{
	unsigned int me = fabric_me(), peer = other();
	char buf[256];

	/* faster than the defaults, for the test */
	ASSERT_EQ(0, cfg_write("/sys/module/acl_share_fabric/parameters/peer_timeout_ms", "3000"));
	/* the link on the second addresses, which server 1 takes off the network */
	ASSERT_EQ(0, fabric_pair2(KEY1));
	ASSERT_EQ(0, fabric_barrier("unreachable-configured"));
	if (me == 0) {
		EXPECT_EQ(0, peer_write(peer, "connect", "1"));
	}
	ASSERT_EQ(0, fabric_barrier("unreachable-connected"));
	EXPECT_TRUE(peer_wait_state(peer, "up", PEER_MS));
	ASSERT_EQ(0, fabric_barrier("unreachable-up"));

	/*
	 * Server 1 drops off the link's network (its second address removed:
	 * its RoCE GID goes with it, so nothing of the link reaches it and it
	 * reaches nobody): both ends must close the link on their own, with a
	 * reason, and nothing may hang. (Taking eth0 down instead leaves
	 * soft-RoCE's management QP unusable after the link comes back: an rxe
	 * limit, not a state of ours.)
	 */
	if (me == 1) {
		ASSERT_EQ(0, fabric_ip2_set(false));
		EXPECT_TRUE(peer_wait_state(peer, "down", 8000));
	} else {
		/* 3 s without a message, checked every keepalive (1 s) */
		EXPECT_TRUE(peer_wait_state(peer, "down", 8000));
		peer_read(peer, "last_error", buf, sizeof(buf));
		TH_LOG("server 0 saw: %s", buf);
		EXPECT_TRUE(contains(buf, "stopped answering") || contains(buf, "failed"));
		/* a connect while it is unreachable fails in bounded time */
		EXPECT_NE(0, peer_write(peer, "connect", "1"));
		EXPECT_STREQ("down", peer_read(peer, "state", buf, sizeof(buf)));
	}
	/* (the barriers use the runner's addresses, which stayed) */
	ASSERT_EQ(0, fabric_barrier("unreachable-checked"));
	if (me == 1)
		ASSERT_EQ(0, fabric_ip2_set(true));
	ASSERT_EQ(0, fabric_barrier("unreachable-back"));
	if (me == 0) {
		EXPECT_EQ(0, peer_write(peer, "connect", "1"));
		EXPECT_EQ(0, peer_write(peer, "ping", "1"));
	}
	ASSERT_EQ(0, fabric_barrier("unreachable-reconnected"));
	EXPECT_TRUE(peer_wait_state(peer, "up", PEER_MS));
	EXPECT_EQ(0, peer_write(peer, "ping", "1"));
	ASSERT_EQ(0, fabric_barrier("unreachable-done"));
	cfg_write("/sys/module/acl_share_fabric/parameters/peer_timeout_ms", "10000");
	fabric_reset();
	/* no address goes while the other end still tears the link down */
	ASSERT_EQ(0, fabric_barrier("unreachable-reset"));
	EXPECT_EQ(0, fabric_ip2_set(false));
}

TEST_HARNESS_MAIN
