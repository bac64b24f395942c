// SPDX-License-Identifier: GPL-2.0
/*
 * The sharing rules of contract section 4, each with two real processes:
 * the test process exports, a forked child (a fresh library instance after
 * fork()) imports. The rules that hold alike for DEFAULT and FABRIC handles
 * (validation off, SetPid by another process, self-import, a second live
 * import) run for both kinds in share_handle_test.c's "rules" fixture.
 */
#include "acl/acl.h"
#include "acl_test_util.h"
#include "share_util.h"

FIXTURE(share) {
	struct share_exporter x;
	struct share_token tok;
	int32_t child_tgid;
};

FIXTURE_SETUP(share)
{
	share_exporter_setup(_metadata, &self->x);
}

FIXTURE_TEARDOWN(share)
{
	share_exporter_teardown(_metadata, &self->x);
}

/* Peak counter @c is at least @min now. */
#define EXPECT_PEAK_AT_LEAST(c, min)                                              \
	do {                                                                      \
		unsigned long long __peak = 0;                                    \
		EXPECT_EQ(0, acl_read_counter((c), &__peak));                     \
		EXPECT_LE((unsigned long long)(min), __peak)                      \
			TH_LOG("counter %s is %llu, below %llu", acl_counter_names[c], \
			       __peak, (unsigned long long)(min));                \
	} while (0)

/*
 * A writes, B imports and reads, B writes back, A sees it; V2 DEFAULT. The
 * peak counters of exports and imports count both.
 */
TEST_F(share, round_trip_default)
{
	ASSERT_ACL_OK(share_export(self->x.m.handle, ACL_RT_VMM_EXPORT_FLAG_DEFAULT,
				   ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT, &self->tok));
	ASSERT_NE((uint64_t)0, self->tok.key);
	SHARE_FORK();
	if (self->x.child == 0) {
		struct acl_mapping m;

		share_child_import_map(&self->tok, &m);
		((unsigned char *)m.va)[4096] = 0xa5;
		CHILD_CHECK(acl_tell(&self->x.ch, 'w') == 0, "tell");
		CHILD_CHECK(acl_hear(&self->x.ch, 'd') == 0, "hear");
		CHILD_CHECK(acl_map_delete(&m) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
		_exit(0);
	}
	ASSERT_ACL_OK(share_set_pid(&self->tok, self->child_tgid));
	ASSERT_EQ(0, acl_tell(&self->x.ch, 'g'));
	ASSERT_EQ(0, acl_hear(&self->x.ch, 'w'));
	EXPECT_EQ(0xa5, ((unsigned char *)self->x.m.va)[4096]);
	EXPECT_COUNTER_DELTA(self->x.start, ACL_CNT_EXPORTS, 1);
	EXPECT_COUNTER_DELTA(self->x.start, ACL_CNT_IMPORTS, 1);
	EXPECT_COUNTER_DELTA(self->x.start, ACL_CNT_ALLOCATIONS, 1);
	EXPECT_COUNTER_DELTA(self->x.start, ACL_CNT_MAPPINGS, 2);
	/* The peaks saw the export and the import ... */
	EXPECT_PEAK_AT_LEAST(ACL_CNT_PEAK_EXPORTS, self->x.start.v[ACL_CNT_EXPORTS] + 1);
	EXPECT_PEAK_AT_LEAST(ACL_CNT_PEAK_IMPORTS, self->x.start.v[ACL_CNT_IMPORTS] + 1);
	ASSERT_EQ(0, acl_tell(&self->x.ch, 'd'));
	CHILD_DONE();
	/* ... and keep it once the import is gone. */
	EXPECT_COUNTER_DELTA(self->x.start, ACL_CNT_IMPORTS, 0);
	EXPECT_PEAK_AT_LEAST(ACL_CNT_PEAK_IMPORTS, self->x.start.v[ACL_CNT_IMPORTS] + 1);
}

/* V1 export, V2 import. */
TEST_F(share, v1_export_v2_import)
{
	int32_t pid;

	self->tok.type = ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT;
	ASSERT_ACL_OK(aclrtMemExportToShareableHandle(self->x.m.handle, ACL_MEM_HANDLE_TYPE_NONE,
						      ACL_RT_IPC_MEM_EXPORT_FLAG_DEFAULT,
						      &self->tok.key));
	SHARE_FORK();
	if (self->x.child == 0) {
		struct acl_mapping m;

		share_child_import_map(&self->tok, &m);
		CHILD_CHECK(acl_map_delete(&m) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
		_exit(0);
	}
	pid = self->child_tgid;
	ASSERT_ACL_OK(aclrtMemSetPidToShareableHandle(self->tok.key, &pid, 1));
	ASSERT_EQ(0, acl_tell(&self->x.ch, 'g'));
	CHILD_DONE();
}

/* V2 export, V1 whitelist and V1 import (with an explicit device). */
TEST_F(share, v2_export_v1_import)
{
	ASSERT_ACL_OK(share_export(self->x.m.handle, 0, ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT,
				   &self->tok));
	SHARE_FORK();
	if (self->x.child == 0) {
		aclrtDrvMemHandle h;
		aclError e;

		e = aclrtMemImportFromShareableHandle(self->tok.key, 8, &h);
		CHILD_CHECK(e == ACL_ERROR_RT_INVALID_DEVICEID, "device 8 gave %d", e);
		e = aclrtMemImportFromShareableHandle(self->tok.key, 1, &h);
		CHILD_CHECK(e == ACL_SUCCESS, "%d %s", e, aclGetRecentErrMsg());
		CHILD_CHECK(aclrtFreePhysical(h) == ACL_SUCCESS, "free");
		_exit(0);
	}
	ASSERT_ACL_OK(aclrtMemSetPidToShareableHandle(self->tok.key, &self->child_tgid, 1));
	ASSERT_EQ(0, acl_tell(&self->x.ch, 'g'));
	CHILD_DONE();
}

/* FABRIC: 128 bytes, server id inside, same whitelist rules. */
TEST_F(share, fabric_round_trip)
{
	unsigned long long server_id = 0;
	uint32_t in_handle;

	ASSERT_ACL_OK(share_export(self->x.m.handle, 0, ACL_MEM_SHARE_HANDLE_TYPE_FABRIC,
				   &self->tok));
	ASSERT_EQ(0, acl_read_param("server_id", &server_id));
	memcpy(&in_handle, self->tok.fabric.data + 8, sizeof(in_handle));
	EXPECT_EQ(server_id, in_handle);
	SHARE_FORK();
	if (self->x.child == 0) {
		struct acl_mapping m;
		aclrtDrvMemHandle h;
		aclError e;

		/* Not yet whitelisted. */
		e = share_import(&self->tok, &h);
		CHILD_CHECK(e == ACL_ERROR_RT_DRV_INTERNAL_ERROR, "import gave %d", e);
		CHILD_CHECK(acl_tell(&self->x.ch, 'r') == 0, "tell");
		CHILD_CHECK(acl_hear(&self->x.ch, 'p') == 0, "hear");
		share_child_import_map(&self->tok, &m);
		CHILD_CHECK(acl_map_delete(&m) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
		_exit(0);
	}
	ASSERT_EQ(0, acl_tell(&self->x.ch, 'g'));
	ASSERT_EQ(0, acl_hear(&self->x.ch, 'r'));
	ASSERT_ACL_OK(share_set_pid(&self->tok, self->child_tgid));
	ASSERT_EQ(0, acl_tell(&self->x.ch, 'p'));
	CHILD_DONE();
}

/* Without SetPid nobody may import, and the refusal changes nothing. */
TEST_F(share, not_whitelisted_refused)
{
	ASSERT_ACL_OK(share_export(self->x.m.handle, 0, ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT,
				   &self->tok));
	SHARE_FORK();
	if (self->x.child == 0) {
		struct acl_counters before;
		aclrtDrvMemHandle h = NULL;
		const char *msg;
		aclError e;

		CHILD_CHECK(acl_read_counters(&before) == 0, "counters");
		e = share_import(&self->tok, &h);
		CHILD_CHECK(e == ACL_ERROR_RT_DRV_INTERNAL_ERROR, "import gave %d", e);
		msg = aclGetRecentErrMsg();
		CHILD_CHECK(msg && strcasestr(msg, "whitelist"), "message: %s", msg);
		CHILD_CHECK(acl_counters_diff(&before, ACL_CNT_LIVE_NO_OPENS) == 0,
			    "a refused import changed the counters");
		_exit(0);
	}
	ASSERT_EQ(0, acl_tell(&self->x.ch, 'g'));
	CHILD_DONE();
}

/* Export flags other than 0 and 1 are refused. */
TEST_F(share, export_flags)
{
	EXPECT_ACL(ACL_ERROR_RT_PARAM_INVALID,
		   share_export(self->x.m.handle, 2, ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT, &self->tok),
		   "flags");
	EXPECT_ACL(ACL_ERROR_RT_PARAM_INVALID,
		   share_export(self->x.m.handle, 0, (aclrtMemSharedHandleType)3, &self->tok),
		   "shareType");
	EXPECT_ACL(ACL_ERROR_INVALID_PARAM,
		   aclrtMemExportToShareableHandle(self->x.m.handle, ACL_MEM_HANDLE_TYPE_POSIX, 0,
						   &self->tok.key), "handleType");
	EXPECT_ACL(ACL_ERROR_INVALID_PARAM,
		   aclrtMemExportToShareableHandleV2(self->x.m.handle, 0,
						     ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT, NULL),
		   "shareableHandle");
	EXPECT_COUNTER_DELTA(self->x.start, ACL_CNT_EXPORTS, 0);
}

/* Exporting twice, or exporting an imported handle: 507899. */
TEST_F(share, double_export_and_export_of_import)
{
	struct share_token again;

	ASSERT_ACL_OK(share_export(self->x.m.handle, 0, ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT,
				   &self->tok));
	EXPECT_ACL(ACL_ERROR_RT_DRV_INTERNAL_ERROR,
		   share_export(self->x.m.handle, 0, ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT, &again),
		   "export");
	EXPECT_ACL(ACL_ERROR_RT_DRV_INTERNAL_ERROR,
		   share_export(self->x.m.handle, 0, ACL_MEM_SHARE_HANDLE_TYPE_FABRIC, &again),
		   "export");
	EXPECT_COUNTER_DELTA(self->x.start, ACL_CNT_EXPORTS, 1);
	SHARE_FORK();
	if (self->x.child == 0) {
		struct share_token t2;
		aclrtDrvMemHandle h;
		aclError e;

		e = share_import(&self->tok, &h);
		CHILD_CHECK(e == ACL_SUCCESS, "%d %s", e, aclGetRecentErrMsg());
		e = share_export(h, 0, ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT, &t2);
		CHILD_CHECK(e == ACL_ERROR_RT_DRV_INTERNAL_ERROR, "export of import gave %d", e);
		CHILD_CHECK(aclrtFreePhysical(h) == ACL_SUCCESS, "free");
		_exit(0);
	}
	ASSERT_ACL_OK(share_set_pid(&self->tok, self->child_tgid));
	ASSERT_EQ(0, acl_tell(&self->x.ch, 'g'));
	CHILD_DONE();
}

/* pidNum: 0 or NULL → 100000; 65535 works; 65536 → 107000. */
TEST_F(share, pid_count_limits)
{
	int32_t *pids = calloc(65536, sizeof(*pids));
	int32_t me = 0;

	ASSERT_NE(NULL, pids);
	ASSERT_ACL_OK(share_export(self->x.m.handle, 0, ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT,
				   &self->tok));
	EXPECT_ACL(ACL_ERROR_INVALID_PARAM,
		   aclrtMemSetPidToShareableHandle(self->tok.key, pids, 0), "pidNum");
	EXPECT_ACL(ACL_ERROR_INVALID_PARAM,
		   aclrtMemSetPidToShareableHandle(self->tok.key, NULL, 1), "pid");
	ASSERT_ACL_OK(aclrtDeviceGetBareTgid(&me));
	for (int i = 0; i < 65536; i++)
		pids[i] = i % 2 ? me : 0;
	EXPECT_ACL(ACL_ERROR_RT_PARAM_INVALID,
		   aclrtMemSetPidToShareableHandle(self->tok.key, pids, 65536), "65535");
	EXPECT_ACL_OK(aclrtMemSetPidToShareableHandle(self->tok.key, pids, 65535));
	free(pids);
}

/* A dead pid fails the whole call: the live pid in it is not added. */
TEST_F(share, dead_pid_adds_nothing)
{
	int32_t pids[2];

	ASSERT_ACL_OK(share_export(self->x.m.handle, 0, ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT,
				   &self->tok));
	SHARE_FORK();
	if (self->x.child == 0) {
		aclrtDrvMemHandle h;
		aclError e;

		e = share_import(&self->tok, &h);
		CHILD_CHECK(e == ACL_ERROR_RT_DRV_INTERNAL_ERROR, "import gave %d", e);
		CHILD_CHECK(acl_tell(&self->x.ch, 'r') == 0, "tell");
		CHILD_CHECK(acl_hear(&self->x.ch, 'p') == 0, "hear");
		e = share_import(&self->tok, &h);
		CHILD_CHECK(e == ACL_SUCCESS, "import after pid 0 + me: %d %s", e,
			    aclGetRecentErrMsg());
		CHILD_CHECK(aclrtFreePhysical(h) == ACL_SUCCESS, "free");
		_exit(0);
	}
	pids[0] = self->child_tgid;
	pids[1] = share_dead_pid();
	ASSERT_LT(0, pids[1]);
	EXPECT_ACL(ACL_ERROR_RT_PARAM_INVALID,
		   aclrtMemSetPidToShareableHandle(self->tok.key, pids, 2), "process");
	ASSERT_EQ(0, acl_tell(&self->x.ch, 'g'));
	ASSERT_EQ(0, acl_hear(&self->x.ch, 'r'));
	/* Pid 0 entries are skipped; setting the same pid twice is harmless. */
	pids[1] = 0;
	EXPECT_ACL_OK(aclrtMemSetPidToShareableHandle(self->tok.key, pids, 2));
	EXPECT_ACL_OK(aclrtMemSetPidToShareableHandle(self->tok.key, pids, 1));
	ASSERT_EQ(0, acl_tell(&self->x.ch, 'p'));
	CHILD_DONE();
}

/*
 * A process that has exited but is not yet reaped (a zombie) is no live
 * process: whitelisting it fails like a dead pid, and once reaped its
 * number is free as before.
 */
TEST_F(share, zombie_pid_is_not_live)
{
	siginfo_t si = { 0 };
	int32_t zombie;
	pid_t pid;

	ASSERT_ACL_OK(share_export(self->x.m.handle, 0, ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT,
				   &self->tok));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(0);
	/* Wait until it has exited, leaving it a zombie. */
	ASSERT_EQ(0, waitid(P_PID, pid, &si, WEXITED | WNOWAIT));
	ASSERT_EQ(pid, si.si_pid);
	zombie = pid; /* the VM's tests run in the initial pid namespace */
	EXPECT_ACL(ACL_ERROR_RT_PARAM_INVALID,
		   aclrtMemSetPidToShareableHandle(self->tok.key, &zombie, 1), "process");
	EXPECT_EQ(0, acl_wait(pid));
	EXPECT_ACL(ACL_ERROR_RT_PARAM_INVALID,
		   aclrtMemSetPidToShareableHandle(self->tok.key, &zombie, 1), "process");
}

/* Import parameter checks: NULLs, flags, share type, current device. */
TEST_F(share, import_parameters)
{
	ASSERT_ACL_OK(share_export(self->x.m.handle, 0, ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT,
				   &self->tok));
	SHARE_FORK();
	if (self->x.child == 0) {
		aclrtDrvMemHandle h;
		aclError e;

		e = aclrtMemImportFromShareableHandleV2(NULL, ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT,
							0, &h);
		CHILD_CHECK(e == ACL_ERROR_INVALID_PARAM, "NULL shareable: %d", e);
		e = aclrtMemImportFromShareableHandleV2(&self->tok.key,
							ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT, 0, NULL);
		CHILD_CHECK(e == ACL_ERROR_INVALID_PARAM, "NULL handle: %d", e);
		e = aclrtMemImportFromShareableHandleV2(&self->tok.key,
							ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT, 1, &h);
		CHILD_CHECK(e == ACL_ERROR_INVALID_PARAM, "flags 1: %d", e);
		e = aclrtMemImportFromShareableHandleV2(&self->tok.key,
							(aclrtMemSharedHandleType)0, 0, &h);
		CHILD_CHECK(e == ACL_ERROR_RT_PARAM_INVALID, "shareType 0: %d", e);
		e = aclrtMemImportFromShareableHandle(self->tok.key, -1, &h);
		CHILD_CHECK(e == ACL_ERROR_RT_INVALID_DEVICEID, "device -1: %d", e);
		e = aclrtMemImportFromShareableHandle(self->tok.key, 0, NULL);
		CHILD_CHECK(e == ACL_ERROR_INVALID_PARAM, "V1 NULL handle: %d", e);
		/* V2 uses the thread's current device: none on a new thread's reset. */
		CHILD_CHECK(aclrtResetDevice(0) == ACL_SUCCESS, "reset");
		e = share_import(&self->tok, &h);
		CHILD_CHECK(e == ACL_ERROR_RT_CONTEXT_NULL, "no device: %d", e);
		_exit(0);
	}
	ASSERT_ACL_OK(share_set_pid(&self->tok, self->child_tgid));
	ASSERT_EQ(0, acl_tell(&self->x.ch, 'g'));
	CHILD_DONE();
}

TEST_HARNESS_MAIN
