// SPDX-License-Identifier: GPL-2.0
/*
 * Many processes at once: 16 importers of one export, and 8 exporters and
 * 8 importers that allocate, export, import, map, free and exit (cleanly
 * or in the middle of a flow) in a loop for a bounded time. Every import
 * that succeeds must see the memory of the export it named; the counters
 * end where they started.
 */
#include <stdatomic.h>
#include <time.h>

#include "acl/acl.h"
#include "acl_test_util.h"
#include "share_util.h"

#define NR_IMPORTERS 16

TEST(sixteen_importers)
{
	struct acl_chan ch[NR_IMPORTERS];
	pid_t pids[NR_IMPORTERS];
	int32_t tgids[NR_IMPORTERS];
	struct acl_counters start;
	struct share_token tok;
	struct acl_mapping m;

	ASSERT_EQ(0, acl_read_counters(&start));
	ASSERT_ACL_OK(aclrtSetDevice(0));
	ASSERT_ACL_OK(acl_map_new(&m, SHARE_SIZE, ACL_HBM_MEM_HUGE,
				  ACL_MEM_LOCATION_TYPE_DEVICE, 0));
	share_fill(m.va, SHARE_SIZE);
	ASSERT_ACL_OK(share_export(m.handle, 0, ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT, &tok));

	for (int i = 0; i < NR_IMPORTERS; i++) {
		ASSERT_EQ(0, acl_chan_init(&ch[i]));
		pids[i] = fork();
		ASSERT_LE(0, pids[i]);
		if (pids[i] == 0) {
			struct acl_mapping im;

			acl_chan_child(&ch[i]);
			share_child_hello(&ch[i]);
			CHILD_CHECK(acl_hear(&ch[i], 'g') == 0, "hear g");
			share_child_import_map(&tok, &im);
			CHILD_CHECK(acl_tell(&ch[i], 'v') == 0, "tell v");
			/* After all have checked the pattern, each marks its own page. */
			CHILD_CHECK(acl_hear(&ch[i], 'm') == 0, "hear m");
			((unsigned char *)im.va)[(i + 1) * SZ_4K] = 0x80 | i;
			CHILD_CHECK(acl_tell(&ch[i], 'w') == 0, "tell w");
			CHILD_CHECK(acl_hear(&ch[i], 'd') == 0, "hear d");
			CHILD_CHECK(acl_map_delete(&im) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
			_exit(0);
		}
		acl_chan_parent(&ch[i]);
		ASSERT_EQ(0, acl_recv_val(&ch[i], &tgids[i], sizeof(tgids[i])));
	}
	/* One call whitelists all of them. */
	ASSERT_ACL_OK(aclrtMemSetPidToShareableHandle(tok.key, tgids, NR_IMPORTERS));
	for (int i = 0; i < NR_IMPORTERS; i++)
		ASSERT_EQ(0, acl_tell(&ch[i], 'g'));
	for (int i = 0; i < NR_IMPORTERS; i++)
		ASSERT_EQ(0, acl_hear(&ch[i], 'v'));
	for (int i = 0; i < NR_IMPORTERS; i++)
		ASSERT_EQ(0, acl_tell(&ch[i], 'm'));
	for (int i = 0; i < NR_IMPORTERS; i++)
		ASSERT_EQ(0, acl_hear(&ch[i], 'w'));
	EXPECT_COUNTER_DELTA(start, ACL_CNT_IMPORTS, NR_IMPORTERS);
	EXPECT_COUNTER_DELTA(start, ACL_CNT_MAPPINGS, NR_IMPORTERS + 1);
	EXPECT_COUNTER_DELTA(start, ACL_CNT_ALLOCATIONS, 1);
	for (int i = 0; i < NR_IMPORTERS; i++)
		EXPECT_EQ(0x80 | i, ((unsigned char *)m.va)[(i + 1) * SZ_4K]);
	for (int i = 0; i < NR_IMPORTERS; i++) {
		ASSERT_EQ(0, acl_tell(&ch[i], 'd'));
		ASSERT_CHILD_OK(pids[i]);
		acl_chan_close(&ch[i]);
	}
	ASSERT_ACL_OK(acl_map_delete(&m));
	EXPECT_COUNTERS(start, ACL_CNT_LIVE_NO_OPENS);
}

/* ------------------------------------------------------------------ */

#define NR_SIDES 8
#define CHURN_SECONDS 6
#define CHURN_SIZE SZ_2M

/* Shared by all processes of the churn test (a MAP_SHARED anonymous page). */
struct mailbox {
	_Atomic uint64_t slot[NR_SIDES];	/* published DEFAULT handles, 0: none */
	_Atomic int32_t importer_tgid[NR_SIDES];
	_Atomic int stop;
	_Atomic long imports_ok, imports_refused, exports;
};

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * An exporter: allocate, map, export (even: validation off; odd: whitelist
 * the importers alive now), stamp the memory with its handle, publish it,
 * let it be used a moment, withdraw it and free. Sometimes exit in the
 * middle, holding everything.
 */
static void churn_exporter(struct mailbox *mb, int idx, uint64_t seed)
{
	CHILD_CHECK(aclrtSetDevice(0) == ACL_SUCCESS, "set device");
	for (int iter = 0; !atomic_load(&mb->stop) && iter < 40; iter++) {
		struct share_token tok;
		struct acl_mapping m;
		aclError e;

		e = acl_map_new(&m, CHURN_SIZE, ACL_HBM_MEM_HUGE, ACL_MEM_LOCATION_TYPE_DEVICE, 0);
		CHILD_CHECK(e == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
		e = share_export(m.handle, idx % 2 ? 0 : ACL_RT_VMM_EXPORT_FLAG_DISABLE_PID_VALIDATION,
				 ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT, &tok);
		CHILD_CHECK(e == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
		atomic_fetch_add(&mb->exports, 1);
		if (idx % 2) {
			int32_t pids[NR_SIDES];

			for (int i = 0; i < NR_SIDES; i++)
				pids[i] = atomic_load(&mb->importer_tgid[i]);
			e = aclrtMemSetPidToShareableHandle(tok.key, pids, NR_SIDES);
			/* An importer may have just exited: its pid names no process. */
			CHILD_CHECK(e == ACL_SUCCESS || e == ACL_ERROR_RT_PARAM_INVALID,
				    "SetPid gave %d: %s", e, aclGetRecentErrMsg());
		}
		memcpy(m.va, &tok.key, sizeof(tok.key));
		atomic_store(&mb->slot[idx], tok.key);
		usleep(rnd(&seed) % 20000);
		if (rnd(&seed) % 16 == 0)
			_exit(0);	/* die holding the mapping, handle and export */
		atomic_store(&mb->slot[idx], 0);
		CHILD_CHECK(acl_map_delete(&m) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
	}
	_exit(0);
}

/*
 * An importer: import whatever is published, check the memory carries the
 * handle it named, and let go (sometimes only by exiting).
 */
static void churn_importer(struct mailbox *mb, uint64_t seed)
{
	CHILD_CHECK(aclrtSetDevice(0) == ACL_SUCCESS, "set device");
	for (int iter = 0; !atomic_load(&mb->stop) && iter < 400; iter++) {
		uint64_t key = atomic_load(&mb->slot[rnd(&seed) % NR_SIDES]), seen;
		struct acl_mapping m;
		aclError e;

		if (!key) {
			usleep(1000);
			continue;
		}
		e = aclrtMemImportFromShareableHandle(key, 0, &m.handle);
		if (e == ACL_ERROR_RT_INVALID_HANDLE || e == ACL_ERROR_RT_DRV_INTERNAL_ERROR) {
			atomic_fetch_add(&mb->imports_refused, 1);
			continue;
		}
		CHILD_CHECK(e == ACL_SUCCESS, "import gave %d: %s", e, aclGetRecentErrMsg());
		e = aclrtReserveMemAddress(&m.va, CHURN_SIZE, 0, NULL, 0);
		CHILD_CHECK(e == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
		e = aclrtMapMem(m.va, CHURN_SIZE, 0, m.handle, 0);
		CHILD_CHECK(e == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
		memcpy(&seen, m.va, sizeof(seen));
		CHILD_CHECK(seen == key, "imported 0x%" PRIx64 " but its memory says 0x%" PRIx64,
			    key, seen);
		atomic_fetch_add(&mb->imports_ok, 1);
		if (rnd(&seed) % 32 == 0)
			_exit(0);	/* die holding the import and the mapping */
		switch (rnd(&seed) % 3) {	/* let go in different orders */
		case 0:
			CHILD_CHECK(acl_map_delete(&m) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
			break;
		case 1:
			CHILD_CHECK(aclrtFreePhysical(m.handle) == ACL_SUCCESS, "free");
			CHILD_CHECK(aclrtUnmapMem(m.va) == ACL_SUCCESS, "unmap");
			CHILD_CHECK(aclrtReleaseMemAddress(m.va) == ACL_SUCCESS, "release");
			break;
		default:
			CHILD_CHECK(aclrtUnmapMem(m.va) == ACL_SUCCESS, "unmap");
			CHILD_CHECK(aclrtFreePhysical(m.handle) == ACL_SUCCESS, "free");
			CHILD_CHECK(aclrtReleaseMemAddress(m.va) == ACL_SUCCESS, "release");
			break;
		}
	}
	_exit(0);
}

static pid_t churn_spawn(struct mailbox *mb, bool exporter, int idx, uint64_t seed)
{
	pid_t pid = fork();

	if (pid == 0) {
		if (exporter)
			churn_exporter(mb, idx, seed);
		churn_importer(mb, seed);
	}
	if (pid > 0 && !exporter)
		atomic_store(&mb->importer_tgid[idx], pid);
	return pid;
}

TEST(eight_by_eight_churn)
{
	struct mailbox *mb;
	pid_t side[2][NR_SIDES];
	struct acl_counters start;
	uint64_t seed = (uint64_t)time(NULL) * 2654435761u | 1;
	struct timespec t0, now;
	long respawns = 0;

	TH_LOG("seed %" PRIu64, seed);
	ASSERT_EQ(0, acl_read_counters(&start));
	mb = mmap(NULL, sizeof(*mb), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, mb);
	memset(mb, 0, sizeof(*mb));

	for (int i = 0; i < NR_SIDES; i++) {
		side[1][i] = churn_spawn(mb, false, i, rnd(&seed));
		ASSERT_LT(0, side[1][i]);
	}
	for (int i = 0; i < NR_SIDES; i++) {
		side[0][i] = churn_spawn(mb, true, i, rnd(&seed));
		ASSERT_LT(0, side[0][i]);
	}

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int status;
		pid_t pid = wait(&status);

		ASSERT_LT(0, pid) TH_LOG("wait: %s", strerror(errno));
		ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
			TH_LOG("process %d failed (status 0x%x); seed %" PRIu64, pid, status, seed);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec >= CHURN_SECONDS)
			break;
		for (int s = 0; s < 2; s++) {
			for (int i = 0; i < NR_SIDES; i++) {
				if (side[s][i] != pid)
					continue;
				if (s == 0)
					atomic_store(&mb->slot[i], 0);
				side[s][i] = churn_spawn(mb, s == 0, i, rnd(&seed));
				ASSERT_LT(0, side[s][i]);
				respawns++;
			}
		}
	}
	atomic_store(&mb->stop, 1);
	for (;;) {
		int status;
		pid_t pid = wait(&status);

		if (pid < 0)
			break;
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
			TH_LOG("process %d failed (status 0x%x); seed %" PRIu64, pid, status, seed);
	}
	TH_LOG("%ld exports, %ld imports checked, %ld refused, %ld respawns",
	       atomic_load(&mb->exports), atomic_load(&mb->imports_ok),
	       atomic_load(&mb->imports_refused), respawns);
	EXPECT_LT(0, atomic_load(&mb->imports_ok));
	EXPECT_COUNTERS(start, ACL_CNT_LIVE);
	munmap(mb, sizeof(*mb));
}

TEST_HARNESS_MAIN
