// SPDX-License-Identifier: GPL-2.0
/*
 * Copies to and from another server's memory (docs/fabric.md step 3), on two
 * servers at once (run-in-vm.sh --servers 2 --fabric-module ...). Server 0
 * exports, server 1 imports and maps; aclrtMemcpy and aclrtMemset whose side
 * lies in that mapping are carried out by the kernel as RDMA READ/WRITE.
 * Rules:
 * - reads and writes are exact at any offset and length, 1 byte to 64 MiB,
 *   across the exporter's registration windows, for huge and base pages,
 *   and in READ pieces of any size read_burst_kb sets;
 * - a memset, and a copy between two places of remote memory, land exactly,
 *   also overlapping (as memmove);
 * - a copy after the link ended fails cleanly (507899, the reason given);
 * - the exporter's free during copies changes nothing for them;
 * - an importer killed in the middle of copies leaves nothing held;
 * - an IPC key named for a process of the other server is copied the same way.
 */
#include "acl/acl.h"
#include "acl_test_util.h"
#include "fabric_util.h"
#include "share_util.h"

#define KEY1 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define BIG (64UL << 20)
#define SMALL (8UL << 20)
#define COUNT_MS 20000
#define READ_BURST "/sys/module/acl_share_fabric/parameters/read_burst_kb"

/* What the importer writes at offset @off: another pattern than the exporter's. */
static unsigned char written(size_t off)
{
	return (unsigned char)(off * 13 + 5);
}

/* The first offset in [from, from + n) of @va whose byte is not @want(off), or -1. */
static long long first_bad(const unsigned char *va, size_t from, size_t n,
			   unsigned char (*want)(size_t))
{
	for (size_t i = 0; i < n; i++)
		if (va[from + i] != want(from + i))
			return (long long)(from + i);
	return -1;
}

/*
 * Reads @len bytes at @off of the remote mapping @va into @buf: the copy's
 * error, and in *@bad the first offset not holding share_pattern, or -1.
 */
static aclError read_checked(unsigned char *buf, const unsigned char *va, size_t off, size_t len,
			     long long *bad)
{
	aclError e;

	memset(buf, 0xee, len);
	*bad = -1;
	e = aclrtMemcpy(buf, len, va + off, len, ACL_MEMCPY_DEVICE_TO_HOST);
	for (size_t j = 0; !e && j < len; j++) {
		if (buf[j] != share_pattern(off + j)) {
			*bad = (long long)(off + j);
			break;
		}
	}
	return e;
}

struct range {
	size_t off, len;
};

/* Reads: odd offsets and lengths, within and across 2 MiB windows, and all of it. */
static const struct range reads[] = {
	{ 0, 1 }, { 1, 4095 }, { 4093, 8191 }, { (2UL << 20) - 7, 14 },
	{ 3, (1UL << 20) + 5 }, { (5UL << 20) + 11, (8UL << 20) + 3 }, { 0, BIG },
};
/* Writes: disjoint, odd, one of them across several windows. */
static const struct range writes[] = {
	{ 17, 1 }, { 4099, 5000 }, { (2UL << 20) - 3, 6 }, { (10UL << 20) + 1, (6UL << 20) + 7 },
};
#define FILL_OFF ((20UL << 20) + 123)
#define FILL_LEN ((3UL << 20) + 1)
#define D2D_SRC ((48UL << 20) + 1)
#define D2D_DST ((56UL << 20) + 7)
#define D2D_LEN ((1UL << 20) + 3)
/* overlapping, the destination above: more than two of the library's 4 MiB pieces */
#define OV_SRC ((26UL << 20) + 9)
#define OV_DST (OV_SRC + (1UL << 20) + 5)
#define OV_LEN ((9UL << 20) + 1)

static unsigned char fill_byte(size_t off)
{
	(void)off;
	return 0x5a;
}

FIXTURE(copy) {
	struct acl_mapping m;		/* server 0: the exported allocation, mapped */
	struct share_token tok;
	bool mapped;
};

FIXTURE_SETUP(copy)
{
	ASSERT_EQ(0, fabric_pair(KEY1));
	ASSERT_ACL_OK(aclInit(NULL));
	ASSERT_ACL_OK(aclrtSetDevice(0));
	memset(&self->tok, 0, sizeof(self->tok));
	self->mapped = false;
	ASSERT_EQ(0, fabric_barrier("setup"));
}

FIXTURE_TEARDOWN(copy)
{
	cfg_write(READ_BURST, "0");
	if (self->mapped)
		EXPECT_ACL_OK(acl_map_delete(&self->m));
	EXPECT_TRUE(stat_wait("remote_holders", 0, COUNT_MS));
	EXPECT_TRUE(stat_wait("remote_imports", 0, COUNT_MS));
	EXPECT_EQ(0, fabric_barrier("teardown"));
	fabric_reset();
}

/* Server 0: @size bytes of @attr, mapped, filled with share_pattern, exported. */
static aclError export_filled(struct _test_data_copy *self, size_t size, aclrtMemAttr attr)
{
	aclError e = acl_map_new(&self->m, size, attr, ACL_MEM_LOCATION_TYPE_DEVICE, 0);

	if (e)
		return e;
	self->mapped = true;
	share_fill(self->m.va, size);
	return share_export(self->m.handle, ACL_RT_VMM_EXPORT_FLAG_DISABLE_PID_VALIDATION,
			    ACL_MEM_SHARE_HANDLE_TYPE_FABRIC, &self->tok);
}

/*
 * Every read is exact; every write lands where it was aimed and nowhere
 * else; a memset and a copy within the remote memory too. With huge pages
 * (64 MiB: 32 chunks) and base pages (8 MiB: 2048), so that registrations
 * of both shapes are crossed.
 */
TEST_F_TIMEOUT(copy, reads_and_writes_are_exact_at_any_offset, FABRIC_TEST_TIMEOUT)
{
	static const aclrtMemAttr attrs[] = { ACL_HBM_MEM_HUGE, ACL_HBM_MEM_NORMAL };
	static const size_t sizes[] = { BIG, SMALL };
	struct share_token theirs;

	for (int k = 0; k < 2; k++) {
		size_t size = sizes[k];

		if (fabric_me() == 0) {
			unsigned char *va;

			ASSERT_ACL_OK(export_filled(self, size, attrs[k]));
			ASSERT_EQ(0, fabric_swap("handle", &self->tok, &theirs, sizeof(theirs)));
			ASSERT_EQ(0, fabric_barrier("written"));
			va = self->m.va;
			for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
				if (writes[i].off + writes[i].len > size)
					continue;
				EXPECT_EQ(-1, first_bad(va, writes[i].off, writes[i].len, written))
					TH_LOG("write %zu", i);
			}
			/* around a write: untouched */
			EXPECT_EQ(share_pattern(16), va[16]);
			EXPECT_EQ(share_pattern(18), va[18]);
			if (size == BIG) {
				EXPECT_EQ(-1, first_bad(va, FILL_OFF, FILL_LEN, fill_byte));
				EXPECT_EQ(share_pattern(FILL_OFF - 1), va[FILL_OFF - 1]);
				EXPECT_EQ(share_pattern(FILL_OFF + FILL_LEN), va[FILL_OFF + FILL_LEN]);
				for (size_t i = 0; i < D2D_LEN; i++) {
					if (va[D2D_DST + i] != share_pattern(D2D_SRC + i)) {
						EXPECT_EQ(share_pattern(D2D_SRC + i), va[D2D_DST + i])
							TH_LOG("device-to-device byte %zu", i);
						break;
					}
				}
				/* as memmove: every byte of the source lands, none read after overwritten */
				for (size_t i = 0; i < OV_LEN; i++) {
					if (va[OV_DST + i] != share_pattern(OV_SRC + i)) {
						EXPECT_EQ(share_pattern(OV_SRC + i), va[OV_DST + i])
							TH_LOG("overlapping copy, byte %zu", i);
						break;
					}
				}
				EXPECT_EQ(-1, first_bad(va, OV_SRC, OV_DST - OV_SRC, share_pattern));
			}
			ASSERT_ACL_OK(acl_map_delete(&self->m));
			self->mapped = false;
			ASSERT_EQ(0, fabric_barrier("checked"));
		} else {
			unsigned char *va, *buf = malloc(size);
			struct acl_mapping im;

			ASSERT_NE(NULL, buf);
			ASSERT_EQ(0, fabric_swap("handle", &self->tok, &theirs, sizeof(theirs)));
			ASSERT_ACL_OK(share_import_map(&theirs, size, &im));
			va = im.va;
			for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
				size_t off = reads[i].off, len = reads[i].len;
				long long bad;

				if (off + len > size)
					continue;
				ASSERT_ACL_OK(read_checked(buf, va, off, len, &bad));
				EXPECT_EQ(-1, bad) TH_LOG("read %zu", i);
			}
			for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
				size_t off = writes[i].off, len = writes[i].len;

				if (off + len > size)
					continue;
				for (size_t j = 0; j < len; j++)
					buf[j] = written(off + j);
				ASSERT_ACL_OK(aclrtMemcpy(va + off, len, buf, len,
							  ACL_MEMCPY_HOST_TO_DEVICE));
			}
			if (size == BIG) {
				ASSERT_ACL_OK(aclrtMemset(va + FILL_OFF, FILL_LEN, 0x5a, FILL_LEN));
				ASSERT_ACL_OK(aclrtMemcpy(va + D2D_DST, D2D_LEN, va + D2D_SRC, D2D_LEN,
							  ACL_MEMCPY_DEVICE_TO_DEVICE));
				ASSERT_ACL_OK(aclrtMemcpy(va + OV_DST, OV_LEN, va + OV_SRC, OV_LEN,
							  ACL_MEMCPY_DEVICE_TO_DEVICE));
				/* and the write reads back through the import itself */
				ASSERT_ACL_OK(aclrtMemcpy(buf, 6, va + (2UL << 20) - 3, 6,
							  ACL_MEMCPY_DEVICE_TO_HOST));
				for (size_t j = 0; j < 6; j++)
					EXPECT_EQ(written((2UL << 20) - 3 + j), buf[j]);
			}
			ASSERT_EQ(0, fabric_barrier("written"));
			ASSERT_ACL_OK(acl_map_delete(&im));
			free(buf);
			ASSERT_EQ(0, fabric_barrier("checked"));
		}
		ASSERT_EQ(0, fabric_barrier("round"));
	}
}

/*
 * Whatever read_burst_kb says (a page at least, the piece size at most, 0:
 * the device's own), a READ across windows at odd ends is exact: pieces of
 * 1, 4 and 12 KiB, the automatic size and far more than a piece.
 */
TEST_F_TIMEOUT(copy, reads_are_exact_whatever_the_read_burst, FABRIC_TEST_TIMEOUT)
{
	static const char *const bursts[] = { "1", "4", "12", "0", "100000" };
	const size_t off = (2UL << 20) - 4097, len = (1UL << 20) + 8195;
	struct share_token theirs;

	if (fabric_me() == 0) {
		ASSERT_ACL_OK(export_filled(self, SMALL, ACL_HBM_MEM_HUGE));
		ASSERT_EQ(0, fabric_swap("handle", &self->tok, &theirs, sizeof(theirs)));
		ASSERT_EQ(0, fabric_barrier("read"));
	} else {
		unsigned char *buf = malloc(len);
		struct acl_mapping im;
		long long bad;

		ASSERT_NE(NULL, buf);
		ASSERT_EQ(0, fabric_swap("handle", &self->tok, &theirs, sizeof(theirs)));
		ASSERT_ACL_OK(share_import_map(&theirs, SMALL, &im));
		for (size_t i = 0; i < sizeof(bursts) / sizeof(bursts[0]); i++) {
			ASSERT_EQ(0, cfg_write(READ_BURST, bursts[i]));
			ASSERT_ACL_OK(read_checked(buf, im.va, off, len, &bad));
			EXPECT_EQ(-1, bad) TH_LOG("read_burst_kb %s", bursts[i]);
		}
		ASSERT_EQ(0, cfg_write(READ_BURST, "0"));
		ASSERT_ACL_OK(acl_map_delete(&im));
		free(buf);
		ASSERT_EQ(0, fabric_barrier("read"));
	}
}

/* The link ends under an import: a copy fails at once with the reason; the import frees. */
TEST_F_TIMEOUT(copy, copy_after_the_link_ended_fails_cleanly, FABRIC_TEST_TIMEOUT)
{
	struct share_token theirs;

	if (fabric_me() == 0) {
		ASSERT_ACL_OK(export_filled(self, SMALL, ACL_HBM_MEM_HUGE));
		ASSERT_EQ(0, fabric_swap("handle", &self->tok, &theirs, sizeof(theirs)));
		ASSERT_EQ(0, fabric_barrier("imported"));
		ASSERT_EQ(0, peer_write(1, "disconnect", "1"));
		ASSERT_EQ(0, fabric_barrier("ended"));
		ASSERT_EQ(0, fabric_barrier("tried"));
	} else {
		unsigned char *va, buf[64];
		struct acl_mapping im;

		ASSERT_EQ(0, fabric_swap("handle", &self->tok, &theirs, sizeof(theirs)));
		ASSERT_ACL_OK(share_import_map(&theirs, SMALL, &im));
		va = im.va;
		ASSERT_ACL_OK(aclrtMemcpy(buf, sizeof(buf), va + 5, sizeof(buf),
					  ACL_MEMCPY_DEVICE_TO_HOST));
		EXPECT_EQ(share_pattern(5), buf[0]);
		ASSERT_EQ(0, fabric_barrier("imported"));
		ASSERT_EQ(0, fabric_barrier("ended"));
		EXPECT_TRUE(peer_wait_state(0, "down", COUNT_MS));
		EXPECT_ACL(ACL_ERROR_RT_DRV_INTERNAL_ERROR,
			   aclrtMemcpy(buf, sizeof(buf), va, sizeof(buf), ACL_MEMCPY_DEVICE_TO_HOST),
			   "link");
		EXPECT_ACL(ACL_ERROR_RT_DRV_INTERNAL_ERROR, aclrtMemset(va, 64, 0, 64), "link");
		ASSERT_ACL_OK(acl_map_delete(&im));
		ASSERT_EQ(0, fabric_barrier("tried"));
	}
}

/*
 * The exporter frees its allocation while the importer copies: the copies go
 * on, exact, on the memory the remote holder keeps; an importer killed in
 * the middle of copies leaves nothing held on either server.
 */
TEST_F_TIMEOUT(copy, exporter_free_and_importer_kill_during_copies, FABRIC_TEST_TIMEOUT)
{
	struct share_token theirs;

	if (fabric_me() == 0) {
		ASSERT_ACL_OK(export_filled(self, SMALL, ACL_HBM_MEM_HUGE));
		ASSERT_EQ(0, fabric_swap("handle", &self->tok, &theirs, sizeof(theirs)));
		ASSERT_EQ(0, fabric_barrier("copying"));
		ASSERT_ACL_OK(acl_map_delete(&self->m));
		self->mapped = false;
		ASSERT_EQ(0, fabric_barrier("freed"));
		ASSERT_EQ(0, fabric_barrier("done"));
		EXPECT_TRUE(stat_wait("remote_holders", 0, COUNT_MS));
		EXPECT_EQ(0, stat_of("allocations"));
	} else {
		pid_t kids[2] = { -1, -1 };	/* a reader told to stop, a victim */
		int p[2], q[2];
		char c;

		ASSERT_EQ(0, fabric_swap("handle", &self->tok, &theirs, sizeof(theirs)));
		ASSERT_EQ(0, pipe(p));
		ASSERT_EQ(0, pipe(q));
		for (int k = 0; k < 2; k++) {
			pid_t child = fork();

			ASSERT_LE(0, child);
			if (child == 0) {
				unsigned char *buf = malloc(SMALL), *va;
				struct acl_mapping im;
				bool told = false;

				CHILD_CHECK(buf != NULL, "malloc");
				CHILD_CHECK(aclrtSetDevice(0) == ACL_SUCCESS, "set device");
				CHILD_CHECK(share_import_map(&theirs, SMALL, &im) == 0,
					    "import: %s", aclGetRecentErrMsg());
				va = im.va;
				/* k 0: reads until told to stop; k 1: reads until killed */
				for (;;) {
					CHILD_CHECK(aclrtMemcpy(buf, SMALL, va, SMALL,
								ACL_MEMCPY_DEVICE_TO_HOST) == 0,
						    "copy: %s", aclGetRecentErrMsg());
					CHILD_CHECK(first_bad(buf, 0, SMALL, share_pattern) == -1,
						    "copied bytes differ");
					if (!told) {
						CHILD_CHECK(write(p[1], "c", 1) == 1, "tell");
						told = true;
					}
					if (k == 0) {
						struct pollfd pf = { .fd = q[0], .events = POLLIN };

						if (poll(&pf, 1, 0) == 1)
							break;
					}
				}
				CHILD_CHECK(acl_map_delete(&im) == 0, "free: %s", aclGetRecentErrMsg());
				_exit(0);
			}
			kids[k] = child;
		}
		ASSERT_EQ(1, read(p[0], &c, 1));
		ASSERT_EQ(1, read(p[0], &c, 1));
		ASSERT_EQ(0, fabric_barrier("copying"));
		ASSERT_EQ(0, fabric_barrier("freed"));
		usleep(300 * 1000);	/* both are copying from freed memory now */
		kill(kids[1], SIGKILL);
		ASSERT_CHILD_SIGNALED(kids[1], SIGKILL);
		ASSERT_EQ(1, write(q[1], "s", 1));
		ASSERT_CHILD_OK(kids[0]);
		EXPECT_TRUE(stat_wait("remote_imports", 0, COUNT_MS));
		close(p[0]);
		close(p[1]);
		close(q[0]);
		close(q[1]);
		ASSERT_EQ(0, fabric_barrier("done"));
	}
}

/*
 * An IPC key of server 0 imported by the process of server 1 it names
 * (aclrtIpcMemImportPidInterServer): aclrtMemcpy through the pointer
 * aclrtIpcMemImportByKey gave reads server 0's bytes and writes land there.
 */
TEST_F_TIMEOUT(copy, ipc_key_memory_is_copied_both_ways, FABRIC_TEST_TIMEOUT)
{
	char key[72] = {}, theirs[72] = {};
	uint32_t tgid = 0, none = 0;

	if (fabric_me() == 0) {
		unsigned char *p;
		int32_t pid;
		aclrtServerPid sp = { .sdid = 1, .pid = &pid, .num = 1 };

		ASSERT_ACL_OK(aclrtMalloc((void **)&p, SMALL, ACL_MEM_MALLOC_HUGE_FIRST));
		share_fill(p, SMALL);
		ASSERT_ACL_OK(aclrtIpcMemGetExportKey(p, SMALL, key, sizeof(key), 0));
		ASSERT_EQ(0, fabric_swap("key", key, theirs, sizeof(key)));
		ASSERT_EQ(0, fabric_swap("tgid", &none, &tgid, sizeof(tgid)));
		pid = (int32_t)tgid;
		ASSERT_ACL_OK(aclrtIpcMemImportPidInterServer(key, &sp, 1));
		ASSERT_EQ(0, fabric_barrier("named"));
		ASSERT_EQ(0, fabric_barrier("written"));
		EXPECT_EQ(-1, first_bad(p, (1UL << 20) + 3, 5000, written));
		EXPECT_EQ(share_pattern((1UL << 20) + 2), p[(1UL << 20) + 2]);
		EXPECT_EQ(share_pattern((1UL << 20) + 5003), p[(1UL << 20) + 5003]);
		ASSERT_EQ(0, fabric_barrier("closed"));
		EXPECT_TRUE(stat_wait("remote_holders", 0, COUNT_MS));
		ASSERT_ACL_OK(aclrtIpcMemClose(key));
		ASSERT_ACL_OK(aclrtFree(p));
	} else {
		unsigned char *p, *buf = malloc(SMALL);
		int32_t me;

		ASSERT_NE(NULL, buf);
		ASSERT_EQ(0, fabric_swap("key", key, theirs, sizeof(key)));
		ASSERT_ACL_OK(aclrtDeviceGetBareTgid(&me));
		tgid = (uint32_t)me;
		ASSERT_EQ(0, fabric_swap("tgid", &tgid, &none, sizeof(tgid)));
		ASSERT_EQ(0, fabric_barrier("named"));
		ASSERT_ACL_OK(aclrtIpcMemImportByKey((void **)&p, theirs, 0));
		ASSERT_ACL_OK(aclrtMemcpy(buf, SMALL, p, SMALL, ACL_MEMCPY_DEVICE_TO_HOST));
		EXPECT_EQ(-1, first_bad(buf, 0, SMALL, share_pattern));
		for (size_t i = 0; i < 5000; i++)
			buf[i] = written((1UL << 20) + 3 + i);
		ASSERT_ACL_OK(aclrtMemcpy(p + (1UL << 20) + 3, 5000, buf, 5000,
					  ACL_MEMCPY_HOST_TO_DEVICE));
		free(buf);
		ASSERT_EQ(0, fabric_barrier("written"));
		ASSERT_ACL_OK(aclrtIpcMemClose(theirs));
		ASSERT_EQ(0, fabric_barrier("closed"));
	}
}

TEST_HARNESS_MAIN
