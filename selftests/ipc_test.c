// SPDX-License-Identifier: GPL-2.0
/*
 * ipc_test - the IPC memory family (contract section 7), with two real
 * processes: aclrtMalloc memory named by aclrtIpcMemGetExportKey, the
 * importer whitelisted with aclrtIpcMemSetImportPid (or validation off),
 * imported with aclrtIpcMemImportByKey, released with aclrtIpcMemClose and
 * aclrtFree, in the order of CANN's samples 10_ipc_memory_withpid and
 * 11_ipc_memory_withoutpid (written here from their call sequences).
 */
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <linux/acl_share.h>

#include "acl/acl.h"
#include "acl_test_util.h"
#include "share_util.h"

#define IPC_SIZE (3 * ACL_SZ_2M / 2)	/* 3 MiB: a 4 MiB allocation */
#define KEY_BUF 256

struct ipc_msg {
	char key[KEY_BUF];
};

/* Whether [from, IPC_SIZE) of @p still holds the exporter's pattern. */
static bool pattern_from(const unsigned char *p, size_t from)
{
	for (size_t off = from; off < IPC_SIZE; off++)
		if (p[off] != share_pattern(off))
			return false;
	return true;
}

FIXTURE(ipc) {
	struct acl_counters start;
	struct acl_chan ch;
	unsigned char *dev;
	char key[KEY_BUF];
	pid_t child;
	int32_t child_tgid;
};

FIXTURE_SETUP(ipc)
{
	ASSERT_EQ(0, acl_read_counters(&self->start));
	ASSERT_ACL_OK(aclrtSetDevice(0));
	ASSERT_ACL_OK(aclrtMalloc((void **)&self->dev, IPC_SIZE, ACL_MEM_MALLOC_HUGE_FIRST));
	share_fill(self->dev, IPC_SIZE);
	ASSERT_EQ(0, acl_chan_init(&self->ch));
	self->child = -1;
}

FIXTURE_TEARDOWN(ipc)
{
	if (self->child > 0) {
		kill(self->child, SIGKILL);
		acl_wait(self->child);
	}
	acl_chan_close(&self->ch);
	if (self->dev)
		EXPECT_ACL_OK(aclrtFree(self->dev));
	EXPECT_COUNTERS(self->start, ACL_CNT_LIVE_NO_OPENS);
}

#define IPC_FORK()                                                             \
	do {                                                                   \
		self->child = share_fork(&self->ch, &self->child_tgid);          \
		ASSERT_LE(0, self->child);                                       \
		if (self->child > 0)                                             \
			ASSERT_LT(0, self->child_tgid);                        \
	} while (0)

#define IPC_CHILD_DONE()                                                       \
	do {                                                                   \
		ASSERT_CHILD_OK(self->child);                                    \
		self->child = -1;                                                \
	} while (0)

/* In the child: receives the key, imports it, checks the pattern, writes back a byte. */
static void child_import_check(struct acl_chan *ch, unsigned char **p, char *key)
{
	struct ipc_msg msg;
	aclError e;

	CHILD_CHECK(acl_recv_val(ch, &msg, sizeof(msg)) == 0, "no key");
	memcpy(key, msg.key, KEY_BUF);
	e = aclrtIpcMemImportByKey((void **)p, key, 0);
	CHILD_CHECK(e == ACL_SUCCESS, "import: %d %s", e, aclGetRecentErrMsg());
	CHILD_CHECK(share_check(*p, IPC_SIZE) == IPC_SIZE, "pattern differs at %zu",
		    share_check(*p, IPC_SIZE));
	(*p)[0] = 0xee;
}

static void send_key(struct __test_metadata *_metadata, struct acl_chan *ch, const char *key)
{
	struct ipc_msg msg = { 0 };

	snprintf(msg.key, sizeof(msg.key), "%s", key);
	ASSERT_EQ(0, acl_send_val(ch, &msg, sizeof(msg)));
}

/* Sample 10: the key in a 256-byte buffer with len 65, the importer whitelisted. */
TEST_F(ipc, sample_with_pid)
{
	int32_t pid;

	memset(self->key, 'x', sizeof(self->key));
	ASSERT_ACL_OK(aclrtIpcMemGetExportKey(self->dev, IPC_SIZE, self->key, 65, 0));
	EXPECT_GE(64U, strlen(self->key));
	EXPECT_LE(32U + 6, strlen(self->key)) TH_LOG("a key carries at least 128 random bits");

	IPC_FORK();
	if (self->child == 0) {
		unsigned char *p = NULL;
		char key[KEY_BUF];

		child_import_check(&self->ch, &p, key);
		CHILD_CHECK(acl_tell(&self->ch, 'w') == 0, "tell");
		CHILD_CHECK(acl_hear(&self->ch, 'c') == 0, "no close");
		/* The sample's order: Close, then aclrtFree of the imported pointer. */
		CHILD_CHECK(aclrtIpcMemClose(key) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
		CHILD_CHECK(aclrtFree(p) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
		CHILD_CHECK(aclrtFree(p) == ACL_ERROR_INVALID_PARAM, "a second aclrtFree passed");
		_exit(0);
	}
	pid = self->child_tgid;
	ASSERT_ACL_OK(aclrtIpcMemSetImportPid(self->key, &pid, 1));
	ASSERT_EQ(0, acl_tell(&self->ch, 'g'));
	send_key(_metadata, &self->ch, self->key);
	ASSERT_EQ(0, acl_hear(&self->ch, 'w'));
	EXPECT_EQ(0xee, self->dev[0]) TH_LOG("the importer's write is not seen");
	ASSERT_EQ(0, acl_tell(&self->ch, 'c'));
	IPC_CHILD_DONE();
	ASSERT_ACL_OK(aclrtIpcMemClose(self->key));
}

/* Sample 11: validation off; then SetImportPid is refused. */
TEST_F(ipc, sample_without_pid)
{
	int32_t pid = 1;

	ASSERT_ACL_OK(aclrtIpcMemGetExportKey(self->dev, IPC_SIZE, self->key, 65,
					      ACL_RT_IPC_MEM_EXPORT_FLAG_DISABLE_PID_VALIDATION));
	EXPECT_ACL(ACL_ERROR_RT_NO_PERMISSION, aclrtIpcMemSetImportPid(self->key, &pid, 1),
		   "validation");
	IPC_FORK();
	if (self->child == 0) {
		unsigned char *p = NULL;
		char key[KEY_BUF];

		child_import_check(&self->ch, &p, key);
		CHILD_CHECK(aclrtIpcMemClose(key) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
		CHILD_CHECK(aclrtFree(p) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
		_exit(0);
	}
	ASSERT_EQ(0, acl_tell(&self->ch, 'g'));
	send_key(_metadata, &self->ch, self->key);
	IPC_CHILD_DONE();
	EXPECT_EQ(0xee, self->dev[0]);
	ASSERT_ACL_OK(aclrtIpcMemClose(self->key));
}

/*
 * Not whitelisted → 507899; the exporter itself → 507899; forged keys → 107017
 * (207000 for a key that names another server: contract section 8).
 */
TEST_F(ipc, refused_imports)
{
	ASSERT_ACL_OK(aclrtIpcMemGetExportKey(self->dev, IPC_SIZE, self->key, KEY_BUF, 0));
	EXPECT_ACL(ACL_ERROR_RT_DRV_INTERNAL_ERROR,
		   aclrtIpcMemImportByKey((void **)&(void *){ NULL }, self->key, 0), "itself");
	IPC_FORK();
	if (self->child == 0) {
		const char *hex = "0123456789abcdef";
		struct ipc_msg msg;
		char forged[KEY_BUF];
		void *p = NULL;
		aclError e;

		CHILD_CHECK(acl_recv_val(&self->ch, &msg, sizeof(msg)) == 0, "no key");
		e = aclrtIpcMemImportByKey(&p, msg.key, 0);
		CHILD_CHECK(e == ACL_ERROR_RT_DRV_INTERNAL_ERROR, "not whitelisted gave %d: %s", e,
			    aclGetRecentErrMsg());
		CHILD_CHECK(strstr(aclGetRecentErrMsg(), "whitelist"), "%s", aclGetRecentErrMsg());
		/* Only the exporter may whitelist or close the key. */
		{
			int32_t me = getpid();

			e = aclrtIpcMemSetImportPid(msg.key, &me, 1);
			CHILD_CHECK(e == ACL_ERROR_RT_DRV_INTERNAL_ERROR && strstr(aclGetRecentErrMsg(),
										   "only the exporter"),
				    "SetImportPid by another process gave %d: %s", e,
				    aclGetRecentErrMsg());
			e = aclrtIpcMemClose(msg.key);
			CHILD_CHECK(e == ACL_ERROR_RT_INVALID_HANDLE, "Close by another process gave %d",
				    e);
			e = aclrtIpcMemImportByKey(&p, msg.key, 0);
			CHILD_CHECK(e == ACL_ERROR_RT_DRV_INTERNAL_ERROR, "still not whitelisted: %d", e);
		}
		/* Every one-character change of the real key. */
		for (size_t i = 0; i < strlen(msg.key); i++) {
			for (int d = 1; d < 16; d += 7) {
				memcpy(forged, msg.key, sizeof(forged));
				forged[i] = hex[(strchr(hex, forged[i]) ? strchr(hex, forged[i]) - hex
									: 0) ^ d];
				if (!strcmp(forged, msg.key))
					continue;
				e = aclrtIpcMemImportByKey(&p, forged, 0);
				/* Characters 6..13 name the server: another one is unknown. */
				CHILD_CHECK(e == (i >= 6 && i < 14 ? ACL_ERROR_RT_FEATURE_NOT_SUPPORT :
						  ACL_ERROR_RT_INVALID_HANDLE),
					    "mutation at %zu (%s) gave %d: %s", i, forged, e,
					    aclGetRecentErrMsg());
			}
		}
		/* Random strings. */
		for (int r = 0; r < 64; r++) {
			size_t n = (size_t)(r % 70);

			for (size_t i = 0; i < n; i++)
				forged[i] = (char)(' ' + (random() % 95));
			forged[n] = '\0';
			e = aclrtIpcMemImportByKey(&p, forged, 0);
			CHILD_CHECK(e == ACL_ERROR_RT_INVALID_HANDLE, "\"%s\" gave %d", forged, e);
		}
		CHILD_CHECK(p == NULL, "devPtr set by a refused import");
		_exit(0);
	}
	ASSERT_EQ(0, acl_tell(&self->ch, 'g'));
	send_key(_metadata, &self->ch, self->key);
	IPC_CHILD_DONE();
	ASSERT_ACL_OK(aclrtIpcMemClose(self->key));
}

/* The exporter's Close: new imports fail, an existing one stays valid. */
TEST_F(ipc, exporter_close_revokes_the_key_not_the_imports)
{
	char again[KEY_BUF];
	int32_t pid;

	ASSERT_ACL_OK(aclrtIpcMemGetExportKey(self->dev, IPC_SIZE, self->key, KEY_BUF, 0));
	ASSERT_ACL_OK(aclrtIpcMemGetExportKey(self->dev, IPC_SIZE, again, KEY_BUF, 0));
	EXPECT_STREQ(self->key, again) TH_LOG("asked again, an allocation keeps its key");
	IPC_FORK();
	if (self->child == 0) {
		unsigned char *p = NULL, *q = NULL;
		char key[KEY_BUF];
		aclError e;

		child_import_check(&self->ch, &p, key);
		CHILD_CHECK(aclrtIpcMemClose(key) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
		CHILD_CHECK(aclrtFree(p) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
		/* Import again, then the exporter closes. */
		e = aclrtIpcMemImportByKey((void **)&p, key, ACL_RT_IPC_MEM_IMPORT_FLAG_ENABLE_PEER_ACCESS);
		CHILD_CHECK(e == ACL_SUCCESS, "%d %s", e, aclGetRecentErrMsg());
		CHILD_CHECK(acl_tell(&self->ch, 'i') == 0, "tell");
		CHILD_CHECK(acl_hear(&self->ch, 'r') == 0, "no revoke");
		e = aclrtIpcMemImportByKey((void **)&q, key, 0);
		CHILD_CHECK(e == ACL_ERROR_RT_INVALID_HANDLE, "import after Close gave %d: %s", e,
			    aclGetRecentErrMsg());
		p[1] = 0xdd;
		CHILD_CHECK(pattern_from(p, 2), "pattern lost");
		CHILD_CHECK(acl_tell(&self->ch, 'w') == 0, "tell");
		CHILD_CHECK(aclrtIpcMemClose(key) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
		CHILD_CHECK(aclrtFree(p) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
		_exit(0);
	}
	pid = self->child_tgid;
	ASSERT_ACL_OK(aclrtIpcMemSetImportPid(self->key, &pid, 1));
	ASSERT_EQ(0, acl_tell(&self->ch, 'g'));
	send_key(_metadata, &self->ch, self->key);
	ASSERT_EQ(0, acl_hear(&self->ch, 'i'));
	ASSERT_ACL_OK(aclrtIpcMemClose(self->key));
	EXPECT_ACL(ACL_ERROR_RT_INVALID_HANDLE, aclrtIpcMemClose(self->key), "closed");
	EXPECT_ACL(ACL_ERROR_RT_INVALID_HANDLE, aclrtIpcMemSetImportPid(self->key, &pid, 1), "key");
	ASSERT_EQ(0, acl_tell(&self->ch, 'r'));
	ASSERT_EQ(0, acl_hear(&self->ch, 'w'));
	EXPECT_EQ(0xdd, self->dev[1]);
	IPC_CHILD_DONE();
	/* Exported again, the allocation gets a new key. */
	ASSERT_ACL_OK(aclrtIpcMemGetExportKey(self->dev, IPC_SIZE, again, KEY_BUF, 0));
	EXPECT_STRNE(self->key, again);
	ASSERT_ACL_OK(aclrtIpcMemClose(again));
}

/* The exporter exits (killed) with a live import: the memory stays the importer's. */
TEST_F(ipc, exporter_killed_with_live_importer)
{
	struct acl_chan ch2;
	pid_t exporter;

	ASSERT_EQ(0, acl_chan_init(&ch2));
	exporter = fork();
	ASSERT_LE(0, exporter);
	if (exporter == 0) {
		unsigned char *d = NULL;
		char key[KEY_BUF];
		int32_t pid = 0;

		acl_chan_child(&ch2);
		CHILD_CHECK(aclrtMalloc((void **)&d, IPC_SIZE, ACL_MEM_MALLOC_HUGE_ONLY) == 0, "%s",
			    aclGetRecentErrMsg());
		share_fill(d, IPC_SIZE);
		CHILD_CHECK(aclrtIpcMemGetExportKey(d, IPC_SIZE, key, KEY_BUF, 0) == 0, "%s",
			    aclGetRecentErrMsg());
		CHILD_CHECK(acl_recv_val(&ch2, &pid, sizeof(pid)) == 0, "no pid");
		CHILD_CHECK(aclrtIpcMemSetImportPid(key, &pid, 1) == 0, "%s", aclGetRecentErrMsg());
		CHILD_CHECK(acl_send_val(&ch2, key, KEY_BUF) == 0, "send");
		pause();
		_exit(1);
	}
	acl_chan_parent(&ch2);
	IPC_FORK();
	if (self->child == 0) {
		unsigned char *p = NULL;
		char key[KEY_BUF];

		child_import_check(&self->ch, &p, key);
		CHILD_CHECK(acl_tell(&self->ch, 'w') == 0, "tell");
		CHILD_CHECK(acl_hear(&self->ch, 'k') == 0, "no kill");
		CHILD_CHECK(pattern_from(p, 1), "pattern lost");
		p[2] = 1;
		CHILD_CHECK(aclrtIpcMemClose(key) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
		CHILD_CHECK(aclrtFree(p) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
		_exit(0);
	}
	{
		char key[KEY_BUF];

		ASSERT_EQ(0, acl_send_val(&ch2, &self->child_tgid, sizeof(self->child_tgid)));
		ASSERT_EQ(0, acl_recv_val(&ch2, key, KEY_BUF));
		ASSERT_EQ(0, acl_tell(&self->ch, 'g'));
		send_key(_metadata, &self->ch, key);
	}
	ASSERT_EQ(0, acl_hear(&self->ch, 'w'));
	kill(exporter, SIGKILL);
	ASSERT_CHILD_SIGNALED(exporter, SIGKILL);
	ASSERT_EQ(0, acl_tell(&self->ch, 'k'));
	IPC_CHILD_DONE();
	acl_chan_close(&ch2);
}

/* The importer is killed before it closes: everything it held goes. */
TEST_F(ipc, importer_killed_before_close)
{
	int32_t pid;

	ASSERT_ACL_OK(aclrtIpcMemGetExportKey(self->dev, IPC_SIZE, self->key, KEY_BUF, 0));
	IPC_FORK();
	if (self->child == 0) {
		unsigned char *p = NULL;
		char key[KEY_BUF];

		child_import_check(&self->ch, &p, key);
		CHILD_CHECK(acl_tell(&self->ch, 'w') == 0, "tell");
		pause();
		_exit(1);
	}
	pid = self->child_tgid;
	ASSERT_ACL_OK(aclrtIpcMemSetImportPid(self->key, &pid, 1));
	ASSERT_EQ(0, acl_tell(&self->ch, 'g'));
	send_key(_metadata, &self->ch, self->key);
	ASSERT_EQ(0, acl_hear(&self->ch, 'w'));
	kill(self->child, SIGKILL);
	ASSERT_CHILD_SIGNALED(self->child, SIGKILL);
	self->child = -1;
	EXPECT_EQ(0xee, self->dev[0]);
	ASSERT_ACL_OK(aclrtIpcMemClose(self->key));
}

/* aclrtFree of an exported allocation without Close: its key dies with it. */
TEST_F(ipc, free_without_close_kills_the_key)
{
	int32_t pid;

	ASSERT_ACL_OK(aclrtIpcMemGetExportKey(self->dev, IPC_SIZE, self->key, KEY_BUF,
					      ACL_RT_IPC_MEM_EXPORT_FLAG_DISABLE_PID_VALIDATION));
	ASSERT_ACL_OK(aclrtFree(self->dev));
	self->dev = NULL;
	IPC_FORK();
	if (self->child == 0) {
		struct ipc_msg msg;
		void *p = NULL;
		aclError e;

		CHILD_CHECK(acl_recv_val(&self->ch, &msg, sizeof(msg)) == 0, "no key");
		e = aclrtIpcMemImportByKey(&p, msg.key, 0);
		CHILD_CHECK(e == ACL_ERROR_RT_INVALID_HANDLE, "gave %d: %s", e, aclGetRecentErrMsg());
		_exit(0);
	}
	ASSERT_EQ(0, acl_tell(&self->ch, 'g'));
	send_key(_metadata, &self->ch, self->key);
	IPC_CHILD_DONE();
	pid = 1;
	EXPECT_ACL(ACL_ERROR_RT_INVALID_HANDLE, aclrtIpcMemSetImportPid(self->key, &pid, 1), "key");
	EXPECT_ACL(ACL_ERROR_RT_INVALID_HANDLE, aclrtIpcMemClose(self->key), "key");
}

/* ACL_SHARE_IOC_REVOKE through the raw ioctl of another process's file. */
static int raw_revoke(int fd, struct share_token *t)
{
	struct acl_share_revoke r = {
		.size = sizeof(r),
		.share_type = t->type,
		.shareable_len = t->type == ACL_MEM_SHARE_HANDLE_TYPE_FABRIC ?
				 ACL_SHARE_FABRIC_HANDLE_LEN : ACL_SHARE_DEFAULT_HANDLE_LEN,
		.shareable_uptr = (uintptr_t)share_token_ptr(t),
	};

	return acl_ioctl(fd, ACL_SHARE_IOC_REVOKE, &r);
}

/*
 * Only the exporter may revoke (the kernel says so, whatever the library
 * does): another process's REVOKE fails with EPERM and changes nothing; the
 * exporter's own makes the handle unknown, for both kinds.
 */
TEST_F(ipc, only_the_exporter_revokes)
{
	aclrtDrvMemHandle h[2] = { NULL, NULL };
	aclrtPhysicalMemProp prop = acl_prop(ACL_HBM_MEM_HUGE, ACL_MEM_LOCATION_TYPE_DEVICE, 0);
	struct share_token t[2];
	int fd;

	for (int i = 0; i < 2; i++) {
		ASSERT_ACL_OK(aclrtMallocPhysical(&h[i], ACL_SZ_2M, &prop, 0));
		ASSERT_ACL_OK(share_export(h[i], 0, i ? ACL_MEM_SHARE_HANDLE_TYPE_FABRIC :
						       ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT, &t[i]));
	}
	IPC_FORK();
	if (self->child == 0) {
		int cfd = open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC);

		CHILD_CHECK(cfd >= 0, "open: %s", strerror(errno));
		for (int i = 0; i < 2; i++) {
			int ret = raw_revoke(cfd, &t[i]);

			CHILD_CHECK(ret == -EPERM, "REVOKE of the parent's export gave %d", ret);
		}
		close(cfd);
		_exit(0);
	}
	ASSERT_EQ(0, acl_tell(&self->ch, 'g'));
	IPC_CHILD_DONE();
	fd = open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);
	for (int i = 0; i < 2; i++) {
		/* Still live: the exporter may whitelist. */
		ASSERT_ACL_OK(share_set_pid(&t[i], 1));
		/* A second file of the exporter did not export it. */
		EXPECT_EQ(-ENOENT, raw_revoke(fd, &t[i]));
	}
	{
		struct acl_share_revoke bad = { .size = sizeof(bad), .flags = 1 };

		EXPECT_EQ(-EINVAL, acl_ioctl(fd, ACL_SHARE_IOC_REVOKE, &bad));
	}
	close(fd);
	ASSERT_ACL_OK(aclrtFreePhysical(h[0]));
	ASSERT_ACL_OK(aclrtFreePhysical(h[1]));
}

/*
 * A key may name the first part of an allocation (rounded up to 2 MiB): the
 * importer maps that much and no more, and the kernel refuses to map more
 * through the import handle.
 */
TEST_F(ipc, a_key_names_the_first_part_of_an_allocation)
{
	unsigned char *big = NULL;
	char other[KEY_BUF];
	int32_t pid;

	ASSERT_ACL_OK(aclrtMalloc((void **)&big, 4 * ACL_SZ_2M, ACL_MEM_MALLOC_HUGE_ONLY));
	share_fill(big, 4 * ACL_SZ_2M);
	/* 3 MiB names the first 4 MiB. */
	ASSERT_ACL_OK(aclrtIpcMemGetExportKey(big, IPC_SIZE, self->key, KEY_BUF, 0));
	ASSERT_ACL_OK(aclrtIpcMemGetExportKey(big, IPC_SIZE + 1, other, KEY_BUF, 0));
	EXPECT_STREQ(self->key, other);
	EXPECT_ACL(ACL_ERROR_RT_PARAM_INVALID,
		   aclrtIpcMemGetExportKey(big, 4 * ACL_SZ_2M, other, KEY_BUF, 0), "exported already");
	EXPECT_ACL(ACL_ERROR_RT_PARAM_INVALID,
		   aclrtIpcMemGetExportKey(big, 4 * ACL_SZ_2M + 1, other, KEY_BUF, 0), "larger");
	IPC_FORK();
	if (self->child == 0) {
		unsigned char *p = NULL;
		struct ipc_msg msg;
		void *base = NULL;
		size_t size = 0;
		aclError e;

		CHILD_CHECK(acl_recv_val(&self->ch, &msg, sizeof(msg)) == 0, "no key");
		e = aclrtIpcMemImportByKey((void **)&p, msg.key, 0);
		CHILD_CHECK(e == ACL_SUCCESS, "import: %d %s", e, aclGetRecentErrMsg());
		e = aclrtMemGetAddressRange(p, &base, &size);
		CHILD_CHECK(e == ACL_SUCCESS && size == 2 * ACL_SZ_2M,
			    "the import maps %zu bytes, not the 4 MiB the key names", size);
		CHILD_CHECK(share_check(p, 2 * ACL_SZ_2M) == 2 * ACL_SZ_2M, "pattern differs at %zu",
			    share_check(p, 2 * ACL_SZ_2M));
		CHILD_CHECK(aclrtIpcMemClose(msg.key) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
		_exit(0);
	}
	pid = self->child_tgid;
	ASSERT_ACL_OK(aclrtIpcMemSetImportPid(self->key, &pid, 1));
	ASSERT_EQ(0, acl_tell(&self->ch, 'g'));
	send_key(_metadata, &self->ch, self->key);
	IPC_CHILD_DONE();
	ASSERT_ACL_OK(aclrtIpcMemClose(self->key));
	ASSERT_ACL_OK(aclrtFree(big));
}

/* The kernel side of a partial export, through raw ioctls of two processes' own files. */
TEST_F(ipc, a_partial_import_maps_no_more)
{
	struct acl_share_fabric_handle fab;
	struct acl_share_export ex;
	struct acl_share_query q;
	uint32_t h = 0;
	uint64_t off;
	int fd = open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, acl_raw_alloc(fd, 4 * ACL_SZ_2M, ACL_HBM_MEM_HUGE, ACL_SHARE_LOC_DEVICE, 0,
				   &h, &off));
	for (size_t i = 0; i < 3; i++) {
		static const uint64_t bad[] = { 4096, 3 * ACL_SZ_2M / 2, 5 * ACL_SZ_2M };

		ex = (struct acl_share_export){
			.size = sizeof(ex), .flags = ACL_SHARE_EXPORT_NO_PID_CHECK, .handle = h,
			.share_type = ACL_SHARE_HANDLE_FABRIC, .shareable_uptr = (uintptr_t)&fab,
			.shareable_len = sizeof(fab), .length = bad[i],
		};
		EXPECT_EQ(-EINVAL, acl_ioctl(fd, ACL_SHARE_IOC_EXPORT, &ex)) TH_LOG("length %#llx",
			(unsigned long long)bad[i]);
	}
	ex.length = ACL_SZ_2M;
	ASSERT_EQ(0, acl_ioctl(fd, ACL_SHARE_IOC_EXPORT, &ex));
	ASSERT_EQ(0, acl_raw_query(fd, h, &q));
	EXPECT_EQ(4 * ACL_SZ_2M, q.out_length) TH_LOG("the creator's handle is all of it");

	IPC_FORK();
	if (self->child == 0) {
		struct acl_share_import im = {
			.size = sizeof(im), .share_type = ACL_SHARE_HANDLE_FABRIC,
			.shareable_len = sizeof(fab), .shareable_uptr = (uintptr_t)&fab,
		};
		int cfd = open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC);
		struct acl_share_query cq;
		void *m;

		CHILD_CHECK(cfd >= 0, "open");
		CHILD_CHECK(acl_ioctl(cfd, ACL_SHARE_IOC_IMPORT, &im) == 0, "import");
		CHILD_CHECK(acl_raw_query(cfd, im.out_handle, &cq) == 0, "query");
		CHILD_CHECK(cq.out_length == ACL_SZ_2M, "import length %llu",
			    (unsigned long long)cq.out_length);
		m = mmap(NULL, 4 * ACL_SZ_2M, PROT_READ, MAP_SHARED, cfd, (off_t)im.out_mmap_offset);
		CHILD_CHECK(m == MAP_FAILED && errno == EINVAL, "mapped all 8 MiB of a 2 MiB import");
		m = mmap(NULL, ACL_SZ_2M, PROT_READ | PROT_WRITE, MAP_SHARED, cfd,
			 (off_t)im.out_mmap_offset);
		CHILD_CHECK(m != MAP_FAILED, "mmap 2 MiB: %s", strerror(errno));
		((volatile unsigned char *)m)[ACL_SZ_2M - 1] = 7;
		CHILD_CHECK(mremap(m, ACL_SZ_2M, 4 * ACL_SZ_2M, MREMAP_MAYMOVE) == MAP_FAILED,
			    "the import's mapping grew");
		munmap(m, ACL_SZ_2M);
		close(cfd);
		_exit(0);
	}
	ASSERT_EQ(0, acl_tell(&self->ch, 'g'));
	IPC_CHILD_DONE();
	EXPECT_EQ(0, acl_raw_free(fd, h));
	close(fd);
}

struct racer {
	void *dev;
	char key[KEY_BUF];
	aclError ret;
};

static void *get_key(void *arg)
{
	struct racer *r = arg;

	r->ret = aclrtIpcMemGetExportKey(r->dev, IPC_SIZE, r->key, KEY_BUF, 0);
	return NULL;
}

/* Two threads asking for the key of one allocation at once get the same key. */
TEST_F(ipc, concurrent_get_export_key)
{
	for (int round = 0; round < 200; round++) {
		struct racer r[2] = { { .dev = self->dev }, { .dev = self->dev } };
		pthread_t t[2];

		for (int i = 0; i < 2; i++)
			ASSERT_EQ(0, pthread_create(&t[i], NULL, get_key, &r[i]));
		for (int i = 0; i < 2; i++)
			ASSERT_EQ(0, pthread_join(t[i], NULL));
		ASSERT_EQ(ACL_SUCCESS, r[0].ret) TH_LOG("round %d", round);
		ASSERT_EQ(ACL_SUCCESS, r[1].ret) TH_LOG("round %d", round);
		ASSERT_STREQ(r[0].key, r[1].key) TH_LOG("round %d", round);
		ASSERT_ACL_OK(aclrtIpcMemClose(r[0].key));
	}
}

/*
 * The first version of ACL_SHARE_IOC_EXPORT (32 bytes, before length)
 * exports all of the allocation whatever follows it in memory; the second
 * version of IMPORT gets nothing written beyond it and the third says what
 * QUERY says; a raw REVOKE by the exporter's own file makes a DEFAULT handle
 * unknown.
 */
TEST_F(ipc, export_v1_is_whole_and_revoke_by_own_file)
{
	struct {
		struct acl_share_export ex;
		uint64_t junk;
	} v1;
	struct acl_share_revoke rv;
	struct acl_share_import im;
	struct acl_share_query q;
	uint64_t sh = 0, off;
	uint32_t h = 0;
	int fd = open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, acl_raw_alloc(fd, 2 * ACL_SZ_2M, ACL_HBM_MEM_HUGE, ACL_SHARE_LOC_DEVICE, 0,
				   &h, &off));
	memset(&v1, 0xee, sizeof(v1));
	v1.ex = (struct acl_share_export){
		.size = offsetof(struct acl_share_export, length),
		.flags = ACL_SHARE_EXPORT_NO_PID_CHECK, .handle = h,
		.share_type = ACL_SHARE_HANDLE_DEFAULT, .shareable_uptr = (uintptr_t)&sh,
		.shareable_len = sizeof(sh),
	};
	v1.ex.length = 0xeeeeeeeeeeeeeeeeULL;	/* beyond the size: not read */
	ASSERT_EQ(0, acl_ioctl(fd, ACL_SHARE_IOC_EXPORT, &v1.ex));
	IPC_FORK();
	if (self->child == 0) {
		int cfd = open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC);
		struct acl_share_query cq;

		/* The second version of IMPORT (56 bytes): nothing written beyond it. */
		im = (struct acl_share_import){
			.size = offsetof(struct acl_share_import, out_length),
			.share_type = ACL_SHARE_HANDLE_DEFAULT,
			.shareable_len = sizeof(sh), .shareable_uptr = (uintptr_t)&sh,
			.out_length = 0xeeeeeeeeeeeeeeeeULL, .out_page_size = 0xeeeeeeee,
		};
		CHILD_CHECK(cfd >= 0 && acl_ioctl(cfd, ACL_SHARE_IOC_IMPORT, &im) == 0, "import v2");
		CHILD_CHECK(im.out_length == 0xeeeeeeeeeeeeeeeeULL && im.out_page_size == 0xeeeeeeee,
			    "IMPORT wrote beyond the size of its second version");
		CHILD_CHECK(acl_raw_free(cfd, im.out_handle) == 0, "free the v2 import");
		/* The third: the import says what QUERY would. */
		im = (struct acl_share_import){
			.size = sizeof(im), .share_type = ACL_SHARE_HANDLE_DEFAULT,
			.shareable_len = sizeof(sh), .shareable_uptr = (uintptr_t)&sh,
		};
		CHILD_CHECK(acl_ioctl(cfd, ACL_SHARE_IOC_IMPORT, &im) == 0, "import");
		CHILD_CHECK(acl_raw_query(cfd, im.out_handle, &cq) == 0 &&
			    cq.out_length == 2 * ACL_SZ_2M, "a version-1 export is all of it");
		CHILD_CHECK(im.out_length == cq.out_length && im.out_mem_attr == cq.out_mem_attr &&
			    im.out_location_type == cq.out_location_type &&
			    im.out_location_id == cq.out_location_id &&
			    im.out_page_size == cq.out_page_size &&
			    im.out_mmap_offset == cq.out_mmap_offset,
			    "IMPORT's out_ fields differ from QUERY's");
		CHILD_CHECK(im.out_mem_attr == ACL_HBM_MEM_HUGE &&
			    im.out_location_type == ACL_SHARE_LOC_DEVICE &&
			    im.out_page_size == ACL_SZ_2M, "IMPORT's out_ fields are not the allocation's");
		close(cfd);
		_exit(0);
	}
	ASSERT_EQ(0, acl_tell(&self->ch, 'g'));
	IPC_CHILD_DONE();
	rv = (struct acl_share_revoke){
		.size = sizeof(rv), .share_type = ACL_SHARE_HANDLE_DEFAULT,
		.shareable_len = sizeof(sh), .shareable_uptr = (uintptr_t)&sh,
	};
	EXPECT_EQ(0, acl_ioctl(fd, ACL_SHARE_IOC_REVOKE, &rv));
	EXPECT_EQ(-ENOENT, acl_ioctl(fd, ACL_SHARE_IOC_REVOKE, &rv));
	ASSERT_EQ(0, acl_raw_query(fd, h, &q));
	EXPECT_EQ(0U, q.out_flags & ACL_SHARE_QUERY_EXPORTED) TH_LOG("still exported");
	/* Exported again, under a new shareable handle. */
	v1.ex.length = 0;
	ASSERT_EQ(0, acl_ioctl(fd, ACL_SHARE_IOC_EXPORT, &v1.ex));
	EXPECT_EQ(0, acl_raw_free(fd, h));
	close(fd);
}

/*
 * aclrtIpcMemImportPidInterServer: an entry of another server admits nobody
 * here (cross-server sharing is issue 11's); an entry of this server
 * whitelists its pids as SetImportPid does.
 */
TEST_F(ipc, inter_server_pids)
{
	unsigned long long server = 0;
	aclrtServerPid sp;
	int32_t pid;

	ASSERT_EQ(0, acl_read_param("server_id", &server));
	ASSERT_ACL_OK(aclrtIpcMemGetExportKey(self->dev, IPC_SIZE, self->key, KEY_BUF, 0));
	IPC_FORK();
	if (self->child == 0) {
		unsigned char *p = NULL;
		struct ipc_msg msg;
		aclError e;

		CHILD_CHECK(acl_recv_val(&self->ch, &msg, sizeof(msg)) == 0, "no key");
		e = aclrtIpcMemImportByKey((void **)&p, msg.key, 0);
		CHILD_CHECK(e == ACL_ERROR_RT_DRV_INTERNAL_ERROR,
			    "admitted by another server's entry: %d %s", e, aclGetRecentErrMsg());
		CHILD_CHECK(acl_tell(&self->ch, 'r') == 0, "tell");
		CHILD_CHECK(acl_hear(&self->ch, 'l') == 0, "no local entry");
		e = aclrtIpcMemImportByKey((void **)&p, msg.key, 0);
		CHILD_CHECK(e == ACL_SUCCESS, "not admitted by this server's entry: %d %s", e,
			    aclGetRecentErrMsg());
		CHILD_CHECK(share_check(p, IPC_SIZE) == IPC_SIZE, "pattern");
		CHILD_CHECK(aclrtIpcMemClose(msg.key) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
		_exit(0);
	}
	pid = self->child_tgid;
	sp = (aclrtServerPid){ .sdid = (uint32_t)server + 1, .pid = &pid, .num = 1 };
	ASSERT_ACL_OK(aclrtIpcMemImportPidInterServer(self->key, &sp, 1));
	ASSERT_EQ(0, acl_tell(&self->ch, 'g'));
	send_key(_metadata, &self->ch, self->key);
	ASSERT_EQ(0, acl_hear(&self->ch, 'r'));
	sp.sdid = (uint32_t)server;
	ASSERT_ACL_OK(aclrtIpcMemImportPidInterServer(self->key, &sp, 1));
	ASSERT_EQ(0, acl_tell(&self->ch, 'l'));
	IPC_CHILD_DONE();
	ASSERT_ACL_OK(aclrtIpcMemClose(self->key));
}

TEST_F(ipc, bad_arguments)
{
	aclrtServerPid sp[2];
	int32_t pids[2] = { 1, 2 };
	char small[64];
	void *p = NULL;

	EXPECT_ACL(ACL_ERROR_INVALID_PARAM, aclrtIpcMemGetExportKey(NULL, IPC_SIZE, self->key, 65, 0),
		   "devPtr");
	EXPECT_ACL(ACL_ERROR_INVALID_PARAM, aclrtIpcMemGetExportKey(self->dev, IPC_SIZE, NULL, 65, 0),
		   "key");
	EXPECT_ACL(ACL_ERROR_RT_PARAM_INVALID, aclrtIpcMemGetExportKey(self->dev, 0, self->key, 65, 0),
		   "size");
	EXPECT_ACL(ACL_ERROR_RT_PARAM_INVALID,
		   aclrtIpcMemGetExportKey(self->dev, IPC_SIZE, self->key, 0, 0), "len");
	EXPECT_ACL(ACL_ERROR_RT_PARAM_INVALID,
		   aclrtIpcMemGetExportKey(self->dev, IPC_SIZE, small, sizeof(small), 0), "len");
	EXPECT_ACL(ACL_ERROR_RT_PARAM_INVALID,
		   aclrtIpcMemGetExportKey(self->dev, IPC_SIZE, self->key, 65, 2), "flags");
	EXPECT_ACL(ACL_ERROR_RT_PARAM_INVALID,
		   aclrtIpcMemGetExportKey(self->dev + 4096, 4096, self->key, 65, 0), "start");
	EXPECT_ACL(ACL_ERROR_RT_PARAM_INVALID,
		   aclrtIpcMemGetExportKey(self->dev, 3 * ACL_SZ_2M, self->key, 65, 0), "size");

	ASSERT_ACL_OK(aclrtIpcMemGetExportKey(self->dev, 2 * ACL_SZ_2M, self->key, 65, 0));
	EXPECT_ACL(ACL_ERROR_INVALID_PARAM, aclrtIpcMemSetImportPid(NULL, pids, 1), "key");
	EXPECT_ACL(ACL_ERROR_INVALID_PARAM, aclrtIpcMemSetImportPid(self->key, NULL, 1), "pid");
	EXPECT_ACL(ACL_ERROR_RT_PARAM_INVALID, aclrtIpcMemSetImportPid(self->key, pids, 0), "num");
	EXPECT_ACL(ACL_ERROR_INVALID_PARAM, aclrtIpcMemImportByKey(NULL, self->key, 0), "devPtr");
	EXPECT_ACL(ACL_ERROR_INVALID_PARAM, aclrtIpcMemImportByKey(&p, NULL, 0), "key");
	EXPECT_ACL(ACL_ERROR_RT_PARAM_INVALID, aclrtIpcMemImportByKey(&p, self->key, 2), "flags");
	EXPECT_ACL(ACL_ERROR_INVALID_PARAM, aclrtIpcMemClose(NULL), "key");
	EXPECT_ACL(ACL_ERROR_RT_INVALID_HANDLE, aclrtIpcMemClose("aclipc-not-a-key"), "key");

	EXPECT_ACL(ACL_ERROR_RT_PARAM_INVALID,
		   aclrtIpcMemSetAttr(self->key, (aclrtIpcMemAttrType)1, 0), "type");
	EXPECT_ACL(ACL_ERROR_RT_PARAM_INVALID,
		   aclrtIpcMemSetAttr(self->key, ACL_RT_IPC_MEM_ATTR_ACCESS_LINK, 4), "attr");
	for (uint64_t a = 0; a <= ACL_RT_IPC_MEM_ATTR_ACCESS_LINK_UB_MULTI_PORT_PATH; a++)
		EXPECT_ACL_OK(aclrtIpcMemSetAttr(self->key, ACL_RT_IPC_MEM_ATTR_ACCESS_LINK, a));

	sp[0] = (aclrtServerPid){ .sdid = 1, .pid = pids, .num = 2 };
	sp[1] = (aclrtServerPid){ .sdid = 2, .pid = NULL, .num = 1 };
	EXPECT_ACL(ACL_ERROR_RT_PARAM_INVALID, aclrtIpcMemImportPidInterServer(NULL, sp, 1), "key");
	EXPECT_ACL(ACL_ERROR_RT_PARAM_INVALID,
		   aclrtIpcMemImportPidInterServer(self->key, NULL, 1), "serverPids");
	EXPECT_ACL(ACL_ERROR_RT_PARAM_INVALID,
		   aclrtIpcMemImportPidInterServer(self->key, sp, 0), "num");
	EXPECT_ACL(ACL_ERROR_RT_PARAM_INVALID,
		   aclrtIpcMemImportPidInterServer(self->key, sp, 2), "pid");
	EXPECT_ACL_OK(aclrtIpcMemImportPidInterServer(self->key, sp, 1));
	ASSERT_ACL_OK(aclrtIpcMemClose(self->key));
}

TEST_HARNESS_MAIN
