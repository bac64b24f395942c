// SPDX-License-Identifier: GPL-2.0
/*
 * acl-share-fabric (tools/acl-share-fabric.c), the administrator's front end
 * to acl_share_fabric's configfs tree, on two servers at once: what it sets
 * is what the kernel holds, a link it makes works, and it reports the
 * kernel's refusals with their reasons and its exit statuses.
 */
#include "acl_test_util.h"
#include "fabric_util.h"

#define CLI "/bin/acl-share-fabric"
#define KEY "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

/* Runs the CLI with @args (a shell word list); its output in @out, its exit status returned. */
static int cli(const char *args, char *out, size_t len)
{
	char cmd[512];
	size_t n = 0;
	FILE *p;
	int st;

	snprintf(cmd, sizeof(cmd), CLI " %s 2>&1", args);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (n + 1 < len && fgets(out + n, (int)(len - n), p))
		n += strlen(out + n);
	out[n] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Each step may wait on the other server (barriers: FABRIC_BARRIER_S s at most). */
FIXTURE(cli) {
};

FIXTURE_SETUP(cli)
{
}

FIXTURE_TEARDOWN(cli)
{
}

TEST_F_TIMEOUT(cli, cli_configures_connects_and_reports, FABRIC_TEST_TIMEOUT)
{
	unsigned int me = fabric_me(), peer = 1 - me;
	char out[4096], args[256], ip[32], buf[256];
	FILE *f;

	fabric_reset();
	f = fopen("/tmp/cluster.key", "w");
	ASSERT_NE(NULL, f);
	fprintf(f, "%s\n", KEY);
	fclose(f);

	/* usage errors: exit 2, nothing changed */
	EXPECT_EQ(2, cli("", out, sizeof(out)));
	EXPECT_EQ(2, cli("add-peer 01 10.77.0.1", out, sizeof(out)));
	EXPECT_EQ(2, cli("frobnicate", out, sizeof(out)));
	EXPECT_EQ(3, cli("--root /nonexistent status", out, sizeof(out)));

	/* a refused value: exit 1 with the reason, nothing added */
	snprintf(args, sizeof(args), "add-peer %u 10.77.0.1", me);
	EXPECT_EQ(1, cli(args, out, sizeof(out)));
	EXPECT_NE(NULL, strstr(out, "Invalid argument"));
	snprintf(args, sizeof(args), "add-peer %u 300.1.1.1", peer);
	EXPECT_EQ(1, cli(args, out, sizeof(out)));
	EXPECT_EQ(ENOENT, peer_del(peer)); /* the half-made peer was removed */
	EXPECT_EQ(1, cli("set-key /nonexistent", out, sizeof(out)));
	EXPECT_STREQ("unset", cfg_read(FABRIC_CFG "/cluster_key", buf, sizeof(buf)));

	/* what it sets is what the kernel holds */
	EXPECT_EQ(0, cli("set-key /tmp/cluster.key", out, sizeof(out)));
	EXPECT_STREQ("set", cfg_read(FABRIC_CFG "/cluster_key", buf, sizeof(buf)));
	EXPECT_EQ(1, cli("set-port 20000", out, sizeof(out)));
	EXPECT_NE(NULL, strstr(out, "clear the key first"));
	fabric_ip(peer, ip, sizeof(ip));
	snprintf(args, sizeof(args), "add-peer %u %s", peer, ip);
	EXPECT_EQ(0, cli(args, out, sizeof(out)));
	EXPECT_STREQ(ip, peer_read(peer, "addr", buf, sizeof(buf)));
	ASSERT_EQ(0, fabric_barrier("cli-configured"));

	/* server 0 connects with it; both report the link */
	if (me == 0) {
		snprintf(args, sizeof(args), "connect %u", peer);
		EXPECT_EQ(0, cli(args, out, sizeof(out))) TH_LOG("%s: %s", args, out);
		EXPECT_NE(NULL, strstr(out, "up (local)"));
		snprintf(args, sizeof(args), "ping %u 3", peer);
		EXPECT_EQ(0, cli(args, out, sizeof(out)));
		EXPECT_NE(NULL, strstr(out, " us\n"));
	}
	ASSERT_EQ(0, fabric_barrier("cli-connected"));
	EXPECT_TRUE(peer_wait_state(peer, "up", 20000));
	EXPECT_EQ(0, cli("status", out, sizeof(out)));
	snprintf(args, sizeof(args), "%s  ", ip);
	EXPECT_NE(NULL, strstr(out, args));
	EXPECT_NE(NULL, strstr(out, " up "));
	EXPECT_NE(NULL, strstr(out, me == 0 ? " local " : " remote "));
	EXPECT_NE(NULL, strstr(out, "cluster key set"));
	ASSERT_EQ(0, fabric_barrier("cli-status"));

	/* server 1 forgets the key; server 0's connect fails with the kernel's reason */
	if (me == 1) {
		EXPECT_EQ(0, cli("clear-key", out, sizeof(out)));
		EXPECT_STREQ("unset", cfg_read(FABRIC_CFG "/cluster_key", buf, sizeof(buf)));
	}
	ASSERT_EQ(0, fabric_barrier("cli-key-cleared"));
	if (me == 0) {
		EXPECT_TRUE(peer_wait_state(peer, "down", 20000));
		snprintf(args, sizeof(args), "connect %u", peer);
		EXPECT_EQ(1, cli(args, out, sizeof(out)));
		EXPECT_NE(NULL, strstr(out, "Connection refused"));
		EXPECT_NE(NULL, strstr(out, "last error: -111"));
	}
	ASSERT_EQ(0, fabric_barrier("cli-refused"));
	snprintf(args, sizeof(args), "del-peer %u", peer);
	EXPECT_EQ(0, cli(args, out, sizeof(out)));
	EXPECT_EQ(ENOENT, peer_del(peer));
	fabric_reset();
}

TEST_HARNESS_MAIN
