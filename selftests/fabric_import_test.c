// SPDX-License-Identifier: GPL-2.0
/*
 * FABRIC handles imported across servers (docs/fabric.md step 2), run on two
 * servers at once (run-in-vm.sh --servers 2 --fabric-module ...): each server
 * runs this program, fabric_swap() keeps their steps in order and carries the
 * 128 bytes of a handle, or a tgid, from one to the other. Rules:
 * - a FABRIC handle of a peer imports, either way, over a link made on demand;
 *   the exporter holds one reference per remote import (remote_holders) until
 *   the importer frees it, exits, or the link ends;
 * - with validation on, the exporter admits exactly the processes it named by
 *   (server id, bare tgid): 507899 for any other;
 * - a forged or bit-flipped handle finds nothing (107017), one naming a server
 *   that is not a configured peer gives 207000, as does a peer without the
 *   cluster's fabric; the real export is not disturbed;
 * - the exporter's free revokes for new imports only;
 * - a remote import's mapping faults SIGBUS (its memory is on the other
 *   server) and it cannot be exported again;
 * - an IPC key with inter-server pids crosses servers the same way;
 * - an importing server that drops off the network is released by the
 *   exporter in bounded time (peer_timeout_ms);
 * - 16 importers on two servers share one export.
 */
#include "acl/acl.h"
#include "acl_test_util.h"
#include "fabric_util.h"
#include "share_util.h"

#define KEY1 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
/* releases cross the link: a bound for slow guests, not an expected time */
#define COUNT_MS 60000
#define IMPORTERS 8	/* per server */

static bool msg_has(const char *part)
{
	return strstr(aclGetRecentErrMsg(), part) != NULL;
}

/* Swaps a token between the servers: the exporter's goes to the importer. */
static int swap_token(const char *tag, const struct share_token *mine, struct share_token *theirs)
{
	return fabric_swap(tag, mine, theirs, sizeof(*mine));
}

FIXTURE(remote) {
	aclrtDrvMemHandle h;		/* the exporter's allocation */
	struct share_token tok;		/* its export, or the other server's */
	long long holders0, bytes0;
};

/* Both servers: the same key, each other as peers; no link made yet. */
FIXTURE_SETUP(remote)
{
	ASSERT_EQ(0, fabric_pair(KEY1));
	ASSERT_ACL_OK(aclInit(NULL));
	ASSERT_ACL_OK(aclrtSetDevice(0));
	self->h = NULL;
	memset(&self->tok, 0, sizeof(self->tok));
	self->holders0 = stat_of("remote_holders");
	self->bytes0 = stat_of("allocated_bytes");
	ASSERT_EQ(0, self->holders0);
	ASSERT_EQ(0, stat_of("remote_imports"));
	ASSERT_EQ(0, fabric_barrier("setup"));
}

FIXTURE_TEARDOWN(remote)
{
	if (self->h)
		EXPECT_ACL_OK(aclrtFreePhysical(self->h));
	/* everything either server held for the other is gone */
	EXPECT_TRUE(stat_wait("remote_holders", 0, COUNT_MS));
	EXPECT_TRUE(stat_wait("remote_imports", 0, COUNT_MS));
	EXPECT_EQ(0, fabric_barrier("teardown"));
	fabric_reset();
}

/* A 2 MiB device allocation exported as FABRIC with @flags. */
static aclError export_new(struct _test_data_remote *self, uint64_t flags)
{
	aclrtPhysicalMemProp prop = acl_prop(ACL_HBM_MEM_HUGE, ACL_MEM_LOCATION_TYPE_DEVICE, 0);
	aclError e;

	e = aclrtMallocPhysical(&self->h, SHARE_SIZE, &prop, 0);
	if (e)
		return e;
	return share_export(self->h, flags, ACL_MEM_SHARE_HANDLE_TYPE_FABRIC, &self->tok);
}

/* Reserve + MapMem of an import of SHARE_SIZE bytes; unmapped by unmap_import(). */
static aclError map_import(aclrtDrvMemHandle h, void **va)
{
	aclError e = aclrtReserveMemAddress(va, SHARE_SIZE, 0, NULL, 0);

	if (e)
		return e;
	e = aclrtMapMem(*va, SHARE_SIZE, 0, h, 0);
	if (e)
		aclrtReleaseMemAddress(*va);
	return e;
}

static aclError unmap_import(void *va)
{
	aclError e = aclrtUnmapMem(va);

	return e ? e : aclrtReleaseMemAddress(va);
}

/*
 * Each server exports in turn and the other imports: the import makes the
 * link, the exporter holds one reference for it while it lives, and the
 * importer's mapping, reservation and free undo it.
 */
TEST_F_TIMEOUT(remote, imports_both_ways_and_releases, FABRIC_TEST_TIMEOUT)
{
	for (unsigned int exporter = 0; exporter < 2; exporter++) {
		struct share_token theirs;
		char st[32];

		if (fabric_me() == exporter) {
			ASSERT_ACL_OK(export_new(self, ACL_RT_VMM_EXPORT_FLAG_DISABLE_PID_VALIDATION));
			ASSERT_EQ(0, swap_token("handle", &self->tok, &theirs));
			ASSERT_EQ(0, fabric_barrier("imported"));
			EXPECT_EQ(1, stat_of("remote_holders"));
			/* the holder keeps the allocation: it is counted once, here */
			EXPECT_EQ(self->bytes0 + (long long)SHARE_SIZE, stat_of("allocated_bytes"));
			ASSERT_EQ(0, fabric_barrier("checked"));
			ASSERT_EQ(0, fabric_barrier("freed"));
			EXPECT_TRUE(stat_wait("remote_holders", 0, COUNT_MS));
			ASSERT_ACL_OK(aclrtFreePhysical(self->h));
			self->h = NULL;
		} else {
			aclrtDrvMemHandle h;
			void *va;

			ASSERT_EQ(0, swap_token("handle", &self->tok, &theirs));
			ASSERT_EQ(exporter, theirs.fabric.data[8]);
			ASSERT_ACL_OK(aclrtMemImportFromShareableHandleV2(
				&theirs.fabric, ACL_MEM_SHARE_HANDLE_TYPE_FABRIC, 0, &h));
			EXPECT_STREQ("up", peer_read(exporter, "state", st, sizeof(st)));
			EXPECT_EQ(1, stat_of("remote_imports"));
			/* the length came from the exporter: the map of exactly that works */
			ASSERT_ACL_OK(map_import(h, &va));
			ASSERT_EQ(0, fabric_barrier("imported"));
			ASSERT_EQ(0, fabric_barrier("checked"));
			ASSERT_ACL_OK(unmap_import(va));
			ASSERT_ACL_OK(aclrtFreePhysical(h));
			EXPECT_EQ(0, stat_of("remote_imports"));
			ASSERT_EQ(0, fabric_barrier("freed"));
		}
		ASSERT_EQ(0, fabric_barrier("round"));
	}
}

/*
 * Validation on: nobody of server 1 imports until the exporter names it by
 * (server 1, its bare tgid); then exactly that process does. Another process
 * of server 1, and the same tgid named for another server, stay refused.
 */
TEST_F_TIMEOUT(remote, whitelist_admits_exactly_the_named_process, FABRIC_TEST_TIMEOUT)
{
	struct share_token theirs;
	uint32_t tgids[2] = {};		/* server 1: this process, a child */

	if (fabric_me() == 0) {
		uint32_t none[2] = {};
		int32_t me1, child1;
		aclrtServerPid sp[2] = {
			{ .sdid = 1, .pid = &me1, .num = 1 },
			/* the child's number, but of a server that is not 1 */
			{ .sdid = 7, .pid = &child1, .num = 1 },
		};

		ASSERT_ACL_OK(export_new(self, 0));
		ASSERT_EQ(0, swap_token("handle", &self->tok, &theirs));
		ASSERT_EQ(0, fabric_swap("tgids", none, tgids, sizeof(tgids)));
		ASSERT_EQ(0, fabric_barrier("refused before"));
		me1 = (int32_t)tgids[0];
		child1 = (int32_t)tgids[1];
		ASSERT_ACL_OK(aclrtMemSetServerPidToShareableHandle(&self->tok.fabric, sp, 2));
		/* bad input changes nothing */
		EXPECT_ACL(ACL_ERROR_RT_PARAM_INVALID,
			   aclrtMemSetServerPidToShareableHandle(&self->tok.fabric, NULL, 1),
			   "serverPids");
		EXPECT_ACL(ACL_ERROR_RT_PARAM_INVALID,
			   aclrtMemSetServerPidToShareableHandle(&self->tok.fabric, sp, 0), "num");
		ASSERT_EQ(0, fabric_barrier("named"));
		ASSERT_EQ(0, fabric_barrier("checked"));
	} else {
		uint32_t tgid_echo[2];
		aclrtDrvMemHandle h;
		int32_t tgid;
		int p[2], go[2];
		pid_t child;
		char c = 0;

		ASSERT_EQ(0, swap_token("handle", &self->tok, &theirs));
		ASSERT_EQ(0, pipe(p));
		ASSERT_EQ(0, pipe(go));
		child = fork();
		ASSERT_LE(0, child);
		if (child == 0) {
			aclError e;

			CHILD_CHECK(aclrtDeviceGetBareTgid(&tgid) == ACL_SUCCESS, "tgid");
			CHILD_CHECK(write(p[1], &tgid, sizeof(tgid)) == sizeof(tgid), "send tgid");
			CHILD_CHECK(read(go[0], &c, 1) == 1, "no go");
			CHILD_CHECK(aclrtSetDevice(0) == ACL_SUCCESS, "set device");
			e = aclrtMemImportFromShareableHandleV2(&theirs.fabric,
								ACL_MEM_SHARE_HANDLE_TYPE_FABRIC, 0,
								&h);
			CHILD_CHECK(e == ACL_ERROR_RT_DRV_INTERNAL_ERROR,
				    "unnamed process of server 1 imported: %d %s", e,
				    aclGetRecentErrMsg());
			CHILD_CHECK(msg_has("aclrtMemSetServerPidToShareableHandle"), "message: %s",
				    aclGetRecentErrMsg());
			_exit(0);
		}
		ASSERT_EQ((ssize_t)sizeof(tgid), read(p[0], &tgid, sizeof(tgid)));
		tgids[1] = (uint32_t)tgid;
		ASSERT_ACL_OK(aclrtDeviceGetBareTgid(&tgid));
		tgids[0] = (uint32_t)tgid;
		ASSERT_EQ(0, fabric_swap("tgids", tgids, tgid_echo, sizeof(tgids)));
		/* not named yet */
		EXPECT_ACL(ACL_ERROR_RT_DRV_INTERNAL_ERROR,
			   aclrtMemImportFromShareableHandleV2(&theirs.fabric,
							       ACL_MEM_SHARE_HANDLE_TYPE_FABRIC, 0, &h),
			   "whitelist");
		ASSERT_EQ(0, fabric_barrier("refused before"));
		ASSERT_EQ(0, fabric_barrier("named"));
		ASSERT_EQ(1, write(go[1], "g", 1));
		ASSERT_CHILD_OK(child);
		ASSERT_ACL_OK(aclrtMemImportFromShareableHandleV2(
			&theirs.fabric, ACL_MEM_SHARE_HANDLE_TYPE_FABRIC, 0, &h));
		ASSERT_ACL_OK(aclrtFreePhysical(h));
		close(p[0]);
		close(p[1]);
		close(go[0]);
		close(go[1]);
		ASSERT_EQ(0, fabric_barrier("checked"));
	}
}

/*
 * Every byte of the 128 counts: each one flipped in turn finds nothing
 * (107017; the key and the secret are checked by the exporting server), or
 * names a server that is not a peer (207000). A server that is not a peer,
 * and a peer without a listening fabric, give 207000 naming the server. The
 * real handle imports afterwards.
 */
TEST_F_TIMEOUT(remote, forged_handles_and_unknown_servers_refused, FABRIC_TEST_TIMEOUT)
{
	struct share_token theirs;

	if (fabric_me() == 0) {
		ASSERT_ACL_OK(export_new(self, ACL_RT_VMM_EXPORT_FLAG_DISABLE_PID_VALIDATION));
		ASSERT_EQ(0, swap_token("handle", &self->tok, &theirs));
		ASSERT_EQ(0, fabric_barrier("forged"));
		EXPECT_EQ(0, stat_of("remote_holders"));
		/* no listener: the importer's connect is refused */
		ASSERT_EQ(0, cfg_write(FABRIC_CFG "/cluster_key", "none"));
		ASSERT_EQ(0, fabric_barrier("no key"));
		ASSERT_EQ(0, fabric_barrier("tried"));
		ASSERT_EQ(0, cfg_write(FABRIC_CFG "/cluster_key", KEY1));
		ASSERT_EQ(0, fabric_barrier("key again"));
		ASSERT_EQ(0, fabric_barrier("real"));
	} else {
		aclrtMemFabricHandle f;
		aclrtDrvMemHandle h;
		aclError e;

		ASSERT_EQ(0, swap_token("handle", &self->tok, &theirs));
		for (int i = 0; i < 128; i++) {
			for (int bit = 0; bit < 8; bit += 7) {
				unsigned int named;

				f = theirs.fabric;
				f.data[i] ^= (unsigned char)(1u << bit);
				memcpy(&named, f.data + 8, sizeof(named));
				e = aclrtMemImportFromShareableHandleV2(
					&f, ACL_MEM_SHARE_HANDLE_TYPE_FABRIC, 0, &h);
				if (i >= 8 && i < 12 && named != 1) {
					EXPECT_EQ(ACL_ERROR_RT_FEATURE_NOT_SUPPORT, e)
						TH_LOG("byte %d bit %d: %s", i, bit,
						       aclGetRecentErrMsg());
				} else {
					EXPECT_EQ(ACL_ERROR_RT_INVALID_HANDLE, e)
						TH_LOG("byte %d bit %d: %s", i, bit,
						       aclGetRecentErrMsg());
				}
				if (!e)
					aclrtFreePhysical(h);
			}
		}
		/* a server that is not a peer */
		f = theirs.fabric;
		f.data[8] = 5;
		EXPECT_ACL(ACL_ERROR_RT_FEATURE_NOT_SUPPORT,
			   aclrtMemImportFromShareableHandleV2(&f, ACL_MEM_SHARE_HANDLE_TYPE_FABRIC,
							       0, &h), "server 5");
		EXPECT_TRUE(msg_has("not a configured peer")) TH_LOG("%s", aclGetRecentErrMsg());
		ASSERT_EQ(0, fabric_barrier("forged"));
		ASSERT_EQ(0, fabric_barrier("no key"));
		/* the link closed with server 0's key; no listener there now */
		EXPECT_TRUE(peer_wait_state(0, "down", COUNT_MS));
		EXPECT_ACL(ACL_ERROR_RT_FEATURE_NOT_SUPPORT,
			   aclrtMemImportFromShareableHandleV2(&theirs.fabric,
							       ACL_MEM_SHARE_HANDLE_TYPE_FABRIC, 0, &h),
			   "server 0");
		ASSERT_EQ(0, fabric_barrier("tried"));
		ASSERT_EQ(0, fabric_barrier("key again"));
		ASSERT_ACL_OK(aclrtMemImportFromShareableHandleV2(
			&theirs.fabric, ACL_MEM_SHARE_HANDLE_TYPE_FABRIC, 0, &h));
		ASSERT_ACL_OK(aclrtFreePhysical(h));
		ASSERT_EQ(0, fabric_barrier("real"));
	}
}

/*
 * The exporter frees its handle: new imports are refused (107017), the one
 * made before stays valid and keeps the memory, which goes with its free.
 * The same when the exporting process exits.
 */
TEST_F_TIMEOUT(remote, exporter_free_and_exit_revoke_new_imports_only, FABRIC_TEST_TIMEOUT)
{
	struct share_token theirs;

	for (int round = 0; round < 2; round++) {
		if (fabric_me() == 0) {
			pid_t child = -1;
			int p[2];

			if (round == 0) {
				ASSERT_ACL_OK(export_new(self,
					ACL_RT_VMM_EXPORT_FLAG_DISABLE_PID_VALIDATION));
			} else {
				/* a child exports, hands the token over and exits */
				ASSERT_EQ(0, pipe(p));
				child = fork();
				ASSERT_LE(0, child);
				if (child == 0) {
					struct _test_data_remote c = {};

					CHILD_CHECK(export_new(&c,
						ACL_RT_VMM_EXPORT_FLAG_DISABLE_PID_VALIDATION) == 0,
						    "export: %s", aclGetRecentErrMsg());
					CHILD_CHECK(write(p[1], &c.tok, sizeof(c.tok)) ==
						    sizeof(c.tok), "send");
					pause();	/* until killed */
					_exit(0);
				}
				ASSERT_EQ((ssize_t)sizeof(self->tok),
					  read(p[0], &self->tok, sizeof(self->tok)));
			}
			ASSERT_EQ(0, swap_token("handle", &self->tok, &theirs));
			ASSERT_EQ(0, fabric_barrier("imported"));
			if (round == 0) {
				ASSERT_ACL_OK(aclrtFreePhysical(self->h));
				self->h = NULL;
			} else {
				kill(child, SIGKILL);
				ASSERT_CHILD_SIGNALED(child, SIGKILL);
				close(p[0]);
				close(p[1]);
			}
			/* the remote holder keeps the allocation */
			EXPECT_EQ(1, stat_of("remote_holders"));
			EXPECT_EQ(self->bytes0 + (long long)SHARE_SIZE, stat_of("allocated_bytes"));
			ASSERT_EQ(0, fabric_barrier("revoked"));
			ASSERT_EQ(0, fabric_barrier("freed"));
			EXPECT_TRUE(stat_wait("remote_holders", 0, COUNT_MS));
			EXPECT_TRUE(stat_wait("allocated_bytes", self->bytes0, COUNT_MS));
		} else {
			aclrtDrvMemHandle h, h2;
			void *va;

			ASSERT_EQ(0, swap_token("handle", &self->tok, &theirs));
			ASSERT_ACL_OK(aclrtMemImportFromShareableHandleV2(
				&theirs.fabric, ACL_MEM_SHARE_HANDLE_TYPE_FABRIC, 0, &h));
			ASSERT_EQ(0, fabric_barrier("imported"));
			ASSERT_EQ(0, fabric_barrier("revoked"));
			EXPECT_ACL(ACL_ERROR_RT_INVALID_HANDLE,
				   aclrtMemImportFromShareableHandleV2(
					   &theirs.fabric, ACL_MEM_SHARE_HANDLE_TYPE_FABRIC, 0, &h2),
				   "revoked");
			/* the import made before is still a live handle */
			ASSERT_ACL_OK(map_import(h, &va));
			ASSERT_ACL_OK(unmap_import(va));
			ASSERT_ACL_OK(aclrtFreePhysical(h));
			ASSERT_EQ(0, fabric_barrier("freed"));
		}
		ASSERT_EQ(0, fabric_barrier("round"));
	}
}

/*
 * An importer that exits without freeing, or is killed holding a mapping,
 * releases its reference on the exporting server. The end of the link
 * releases every reference held for it; the importer's handle is then dead
 * but frees cleanly, and the next import makes a new link.
 */
TEST_F_TIMEOUT(remote, importer_exit_and_link_end_release, FABRIC_TEST_TIMEOUT)
{
	struct share_token theirs;

	if (fabric_me() == 0) {
		ASSERT_ACL_OK(export_new(self, ACL_RT_VMM_EXPORT_FLAG_DISABLE_PID_VALIDATION));
		ASSERT_EQ(0, swap_token("handle", &self->tok, &theirs));
		ASSERT_EQ(0, fabric_barrier("children hold"));
		EXPECT_EQ(2, stat_of("remote_holders"));
		ASSERT_EQ(0, fabric_barrier("checked"));
		ASSERT_EQ(0, fabric_barrier("children gone"));
		EXPECT_TRUE(stat_wait("remote_holders", 0, COUNT_MS));
		/* counted before server 1 imports again */
		ASSERT_EQ(0, fabric_barrier("released counted"));
		ASSERT_EQ(0, fabric_barrier("holds"));
		EXPECT_EQ(1, stat_of("remote_holders"));
		ASSERT_EQ(0, peer_write(1, "disconnect", "1"));
		EXPECT_TRUE(stat_wait("remote_holders", 0, COUNT_MS));
		ASSERT_EQ(0, fabric_barrier("link ended"));
		ASSERT_EQ(0, fabric_barrier("again"));
	} else {
		int p[2][2], go[2];
		pid_t child[2];
		aclrtDrvMemHandle h;
		char c;

		ASSERT_EQ(0, swap_token("handle", &self->tok, &theirs));
		ASSERT_EQ(0, pipe(go));
		for (int i = 0; i < 2; i++) {
			ASSERT_EQ(0, pipe(p[i]));
			child[i] = fork();
			ASSERT_LE(0, child[i]);
			if (child[i] == 0) {
				void *va;

				CHILD_CHECK(aclrtSetDevice(0) == ACL_SUCCESS, "set device");
				CHILD_CHECK(aclrtMemImportFromShareableHandleV2(
						    &theirs.fabric, ACL_MEM_SHARE_HANDLE_TYPE_FABRIC, 0,
						    &h) == ACL_SUCCESS, "import: %s", aclGetRecentErrMsg());
				CHILD_CHECK(map_import(h, &va) == ACL_SUCCESS, "map: %s",
					    aclGetRecentErrMsg());
				CHILD_CHECK(write(p[i][1], "i", 1) == 1, "tell");
				if (i == 1)
					pause();	/* killed holding the mapping */
				CHILD_CHECK(read(go[0], &c, 1) == 1, "no go");
				_exit(0);		/* exits holding handle and mapping */
			}
			ASSERT_EQ(1, read(p[i][0], &c, 1));
		}
		EXPECT_EQ(2, stat_of("remote_imports"));
		ASSERT_EQ(0, fabric_barrier("children hold"));
		ASSERT_EQ(0, fabric_barrier("checked"));
		ASSERT_EQ(1, write(go[1], "g", 1));
		ASSERT_CHILD_OK(child[0]);
		kill(child[1], SIGKILL);
		ASSERT_CHILD_SIGNALED(child[1], SIGKILL);
		EXPECT_TRUE(stat_wait("remote_imports", 0, COUNT_MS));
		/*
		 * The link is reliable-connected and server 0 handles its messages
		 * in order: once a ping sent after the releases is answered, they
		 * have been handled, however slowly the segment carried them.
		 */
		EXPECT_EQ(0, peer_write(0, "ping", "1"));
		ASSERT_EQ(0, fabric_barrier("children gone"));
		ASSERT_EQ(0, fabric_barrier("released counted"));

		ASSERT_ACL_OK(aclrtMemImportFromShareableHandleV2(
			&theirs.fabric, ACL_MEM_SHARE_HANDLE_TYPE_FABRIC, 0, &h));
		ASSERT_EQ(0, fabric_barrier("holds"));
		ASSERT_EQ(0, fabric_barrier("link ended"));
		EXPECT_TRUE(peer_wait_state(0, "down", COUNT_MS));
		ASSERT_ACL_OK(aclrtFreePhysical(h));
		EXPECT_EQ(0, stat_of("remote_imports"));
		/* a new link, on demand */
		ASSERT_ACL_OK(aclrtMemImportFromShareableHandleV2(
			&theirs.fabric, ACL_MEM_SHARE_HANDLE_TYPE_FABRIC, 0, &h));
		ASSERT_ACL_OK(aclrtFreePhysical(h));
		for (int i = 0; i < 2; i++) {
			close(p[i][0]);
			close(p[i][1]);
		}
		close(go[0]);
		close(go[1]);
		ASSERT_EQ(0, fabric_barrier("again"));
	}
}

/*
 * The importing server drops off the link's network (its second address
 * removed: fabric_ip2()) while it holds an import: the exporter releases the
 * reference on its own once the link times out (peer_timeout_ms, 3 s here),
 * and the importer's dead handle frees without waiting on anything.
 */
TEST_F_TIMEOUT(remote, unreachable_importer_is_released_in_bounded_time, FABRIC_TEST_TIMEOUT)
{
	struct share_token theirs;

	ASSERT_EQ(0, cfg_write("/sys/module/acl_share_fabric/parameters/peer_timeout_ms", "3000"));
	/* the link on the second addresses; the barriers keep the runner's */
	ASSERT_EQ(0, fabric_pair2(KEY1));
	if (fabric_me() == 0) {
		double t0, waited;
		struct timespec ts;

		ASSERT_ACL_OK(export_new(self, ACL_RT_VMM_EXPORT_FLAG_DISABLE_PID_VALIDATION));
		ASSERT_EQ(0, swap_token("handle", &self->tok, &theirs));
		ASSERT_EQ(0, fabric_barrier("holding"));
		EXPECT_EQ(1, stat_of("remote_holders"));
		clock_gettime(CLOCK_MONOTONIC, &ts);
		t0 = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
		EXPECT_TRUE(stat_wait("remote_holders", 0, 15000));
		clock_gettime(CLOCK_MONOTONIC, &ts);
		waited = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 - t0;
		TH_LOG("released %.1f s after server 1 dropped off", waited);
		EXPECT_STREQ("down", peer_read(1, "state", (char[64]){ 0 }, 64));
		ASSERT_EQ(0, fabric_barrier("gone"));
	} else {
		aclrtDrvMemHandle h;
		void *va;

		ASSERT_EQ(0, swap_token("handle", &self->tok, &theirs));
		ASSERT_ACL_OK(aclrtMemImportFromShareableHandleV2(
			&theirs.fabric, ACL_MEM_SHARE_HANDLE_TYPE_FABRIC, 0, &h));
		ASSERT_ACL_OK(map_import(h, &va));
		ASSERT_EQ(0, fabric_barrier("holding"));
		ASSERT_EQ(0, fabric_ip2_set(false));
		EXPECT_TRUE(peer_wait_state(0, "down", 15000));
		/* dead: it unmaps and frees at once, nothing to tell server 0 */
		ASSERT_ACL_OK(unmap_import(va));
		ASSERT_ACL_OK(aclrtFreePhysical(h));
		EXPECT_EQ(0, stat_of("remote_imports"));
		ASSERT_EQ(0, fabric_barrier("gone"));	/* server 0 has seen the link time out too */
	}
	cfg_write("/sys/module/acl_share_fabric/parameters/peer_timeout_ms", "10000");
	if (fabric_me() == 0)	/* (server 1's is gone already) */
		EXPECT_EQ(0, fabric_ip2_set(false));
}

/*
 * The memory of a remote import is on the other server: loads and stores
 * through its mapping get SIGBUS (copies reach it), and it cannot be
 * exported again (507899).
 */
TEST_F_TIMEOUT(remote, remote_mapping_faults_and_cannot_be_reexported, FABRIC_TEST_TIMEOUT)
{
	struct share_token theirs;

	if (fabric_me() == 0) {
		ASSERT_ACL_OK(export_new(self, ACL_RT_VMM_EXPORT_FLAG_DISABLE_PID_VALIDATION));
		ASSERT_EQ(0, swap_token("handle", &self->tok, &theirs));
		ASSERT_EQ(0, fabric_barrier("probed"));
	} else {
		aclrtMemFabricHandle again;
		aclrtDrvMemHandle h;
		unsigned char *va;

		ASSERT_EQ(0, swap_token("handle", &self->tok, &theirs));
		ASSERT_ACL_OK(aclrtMemImportFromShareableHandleV2(
			&theirs.fabric, ACL_MEM_SHARE_HANDLE_TYPE_FABRIC, 0, &h));
		ASSERT_ACL_OK(map_import(h, (void **)&va));
		EXPECT_EQ(SIGBUS, acl_probe(va, false));
		EXPECT_EQ(SIGBUS, acl_probe(va + SHARE_SIZE - 1, true));
		EXPECT_ACL(ACL_ERROR_RT_DRV_INTERNAL_ERROR,
			   aclrtMemExportToShareableHandleV2(h, 0, ACL_MEM_SHARE_HANDLE_TYPE_FABRIC,
							     &again), "imported");
		ASSERT_ACL_OK(unmap_import(va));
		ASSERT_ACL_OK(aclrtFreePhysical(h));
		ASSERT_EQ(0, fabric_barrier("probed"));
	}
}

/*
 * An IPC key crosses servers the same way: aclrtIpcMemImportPidInterServer
 * names (server 1, tgid), and that process imports the key there; before,
 * it is refused. Its pointer faults SIGBUS; Close releases it on server 0.
 */
TEST_F_TIMEOUT(remote, ipc_key_imported_by_named_process_of_other_server, FABRIC_TEST_TIMEOUT)
{
	char key[72] = {}, theirs[72] = {};
	uint32_t tgid = 0, none = 0;

	if (fabric_me() == 0) {
		void *p;
		int32_t pid;
		aclrtServerPid sp = { .sdid = 1, .pid = &pid, .num = 1 };

		ASSERT_ACL_OK(aclrtMalloc(&p, SHARE_SIZE, ACL_MEM_MALLOC_HUGE_FIRST));
		ASSERT_ACL_OK(aclrtIpcMemGetExportKey(p, SHARE_SIZE, key, sizeof(key), 0));
		ASSERT_EQ(0, fabric_swap("key", key, theirs, sizeof(key)));
		ASSERT_EQ(0, fabric_swap("tgid", &none, &tgid, sizeof(tgid)));
		ASSERT_EQ(0, fabric_barrier("refused"));
		pid = (int32_t)tgid;
		ASSERT_ACL_OK(aclrtIpcMemImportPidInterServer(key, &sp, 1));
		ASSERT_EQ(0, fabric_barrier("named"));
		ASSERT_EQ(0, fabric_barrier("imported"));
		EXPECT_EQ(1, stat_of("remote_holders"));
		ASSERT_EQ(0, fabric_barrier("checked"));
		ASSERT_EQ(0, fabric_barrier("closed"));
		EXPECT_TRUE(stat_wait("remote_holders", 0, COUNT_MS));
		ASSERT_ACL_OK(aclrtIpcMemClose(key));
		ASSERT_ACL_OK(aclrtFree(p));
	} else {
		unsigned char *p;
		int32_t me;

		ASSERT_EQ(0, fabric_swap("key", key, theirs, sizeof(key)));
		ASSERT_ACL_OK(aclrtDeviceGetBareTgid(&me));
		tgid = (uint32_t)me;
		ASSERT_EQ(0, fabric_swap("tgid", &tgid, &none, sizeof(tgid)));
		EXPECT_ACL(ACL_ERROR_RT_DRV_INTERNAL_ERROR,
			   aclrtIpcMemImportByKey((void **)&p, theirs, 0), "whitelist");
		ASSERT_EQ(0, fabric_barrier("refused"));
		ASSERT_EQ(0, fabric_barrier("named"));
		ASSERT_ACL_OK(aclrtIpcMemImportByKey((void **)&p, theirs, 0));
		EXPECT_EQ(SIGBUS, acl_probe(p, false));
		ASSERT_EQ(0, fabric_barrier("imported"));
		ASSERT_EQ(0, fabric_barrier("checked"));
		ASSERT_ACL_OK(aclrtIpcMemClose(theirs));
		ASSERT_EQ(0, fabric_barrier("closed"));
	}
}

/* One export, 16 importers: 8 processes on its own server, 8 on the other. */
TEST_F_TIMEOUT(remote, sixteen_importers_on_two_servers, FABRIC_TEST_TIMEOUT)
{
	struct share_token theirs, tok;
	pid_t child[IMPORTERS];
	int p[2], go[2];
	char c;

	if (fabric_me() == 0)
		ASSERT_ACL_OK(export_new(self, ACL_RT_VMM_EXPORT_FLAG_DISABLE_PID_VALIDATION));
	ASSERT_EQ(0, swap_token("handle", &self->tok, &theirs));
	tok = fabric_me() == 0 ? self->tok : theirs;
	ASSERT_EQ(0, pipe(p));
	ASSERT_EQ(0, pipe(go));
	for (int i = 0; i < IMPORTERS; i++) {
		child[i] = fork();
		ASSERT_LE(0, child[i]);
		if (child[i] == 0) {
			aclrtDrvMemHandle h;

			CHILD_CHECK(aclrtSetDevice(0) == ACL_SUCCESS, "set device");
			CHILD_CHECK(aclrtMemImportFromShareableHandleV2(
					    &tok.fabric, ACL_MEM_SHARE_HANDLE_TYPE_FABRIC, 0,
					    &h) == ACL_SUCCESS, "import %d: %s", i, aclGetRecentErrMsg());
			CHILD_CHECK(write(p[1], "i", 1) == 1, "tell");
			CHILD_CHECK(read(go[0], &c, 1) == 1, "no go");
			CHILD_CHECK(aclrtFreePhysical(h) == ACL_SUCCESS, "free: %s",
				    aclGetRecentErrMsg());
			_exit(0);
		}
	}
	for (int i = 0; i < IMPORTERS; i++)
		ASSERT_EQ(1, read(p[0], &c, 1));
	ASSERT_EQ(0, fabric_barrier("all hold"));
	if (fabric_me() == 0) {
		EXPECT_EQ(IMPORTERS, stat_of("remote_holders"));
		EXPECT_EQ(IMPORTERS, stat_of("imports"));
	} else {
		EXPECT_EQ(IMPORTERS, stat_of("remote_imports"));
	}
	ASSERT_EQ(0, fabric_barrier("counted"));
	for (int i = 0; i < IMPORTERS; i++)
		ASSERT_EQ(1, write(go[1], "g", 1));
	for (int i = 0; i < IMPORTERS; i++)
		ASSERT_CHILD_OK(child[i]);
	close(p[0]);
	close(p[1]);
	close(go[0]);
	close(go[1]);
	ASSERT_EQ(0, fabric_barrier("all freed"));
}

TEST_HARNESS_MAIN
