/* SPDX-License-Identifier: GPL-2.0 */
/*
 * share_util.h - helpers of the two-process sharing tests.
 *
 * Include after kselftest_harness.h, "acl/acl.h" and acl_test_util.h.
 * A shareable handle travels between processes as a struct share_token,
 * which holds either kind (8-byte DEFAULT or 128-byte FABRIC).
 */
#ifndef ACL_SHARE_UTIL_H
#define ACL_SHARE_UTIL_H

#include <sys/random.h>

#define SHARE_SIZE SZ_2M

struct share_token {
	aclrtMemSharedHandleType type;
	union {
		uint64_t key;
		aclrtMemFabricHandle fabric;
	};
};

static inline void *share_token_ptr(struct share_token *t)
{
	return t->type == ACL_MEM_SHARE_HANDLE_TYPE_FABRIC ? (void *)&t->fabric : (void *)&t->key;
}

/* Exports @h with V2 as @type; 0 or the ACL error. */
static inline aclError share_export(aclrtDrvMemHandle h, uint64_t flags,
				    aclrtMemSharedHandleType type, struct share_token *t)
{
	memset(t, 0, sizeof(*t));
	t->type = type;
	return aclrtMemExportToShareableHandleV2(h, flags, type, share_token_ptr(t));
}

static inline aclError share_set_pid(struct share_token *t, int32_t pid)
{
	return aclrtMemSetPidToShareableHandleV2(share_token_ptr(t), t->type, &pid, 1);
}

static inline aclError share_import(struct share_token *t, aclrtDrvMemHandle *h)
{
	return aclrtMemImportFromShareableHandleV2(share_token_ptr(t), t->type, 0, h);
}

/* Imports @t and maps @size bytes of it at a new reservation; undoes what it did on failure. */
static inline aclError share_import_map(struct share_token *t, size_t size, struct acl_mapping *m)
{
	aclError e;

	memset(m, 0, sizeof(*m));
	e = share_import(t, &m->handle);
	return e ? e : acl_map_or_free(m, size);
}

/* The pattern byte an exporter writes at @off of a shared allocation. */
static inline unsigned char share_pattern(size_t off)
{
	return (unsigned char)(off * 7 + 3);
}

static inline void share_fill(void *va, size_t size)
{
	for (size_t off = 0; off < size; off++)
		((unsigned char *)va)[off] = share_pattern(off);
}

/* Returns the first offset that does not hold the pattern, or @size. */
static inline size_t share_check(const void *va, size_t size)
{
	for (size_t off = 0; off < size; off++)
		if (((const unsigned char *)va)[off] != share_pattern(off))
			return off;
	return size;
}

/* Imports @t, maps it and checks the pattern; in a child (CHILD_CHECK). */
static inline void share_child_import_map(struct share_token *t, struct acl_mapping *m)
{
	aclError e = share_import_map(t, SHARE_SIZE, m);

	CHILD_CHECK(e == ACL_SUCCESS, "import and map: %d %s", e, aclGetRecentErrMsg());
	CHILD_CHECK(share_check(m->va, SHARE_SIZE) == SHARE_SIZE,
		    "pattern differs at offset %zu", share_check(m->va, SHARE_SIZE));
}

/* In a child: the current device, and its bare tgid sent to the parent. */
static inline void share_child_hello(struct acl_chan *ch)
{
	int32_t tgid = 0;
	aclError e;

	e = aclrtSetDevice(0);
	CHILD_CHECK(e == ACL_SUCCESS, "set device: %d %s", e, aclGetRecentErrMsg());
	e = aclrtDeviceGetBareTgid(&tgid);
	CHILD_CHECK(e == ACL_SUCCESS, "bare tgid: %d %s", e, aclGetRecentErrMsg());
	CHILD_CHECK(acl_send_val(ch, &tgid, sizeof(tgid)) == 0, "send tgid");
}

/* A pid that named a process a moment ago and names none now. */
static inline pid_t share_dead_pid(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	if (pid > 0)
		acl_wait(pid);
	return pid;
}

/*
 * The exporter's side of a two-process fixture: the counters at the start,
 * device 0 set, an allocation mapped and holding the pattern, a channel to
 * the child, and the child (-1 until forked; killed at teardown if alive).
 */
struct share_exporter {
	struct acl_counters start;
	struct acl_mapping m;
	struct acl_chan ch;
	pid_t child;
};

static inline void share_exporter_setup(struct __test_metadata *_metadata,
					struct share_exporter *x)
{
	ASSERT_EQ(0, acl_read_counters(&x->start));
	ASSERT_ACL_OK(aclrtSetDevice(0));
	ASSERT_ACL_OK(acl_map_new(&x->m, SHARE_SIZE, ACL_HBM_MEM_HUGE,
				  ACL_MEM_LOCATION_TYPE_DEVICE, 0));
	share_fill(x->m.va, SHARE_SIZE);
	ASSERT_EQ(0, acl_chan_init(&x->ch));
	x->child = -1;
}

/*
 * Teardown: only EXPECTs (see acl_test_util.h). A test that deleted the
 * exporter's mapping itself (to revoke the export) clears x->m.handle.
 */
static inline void share_exporter_teardown(struct __test_metadata *_metadata,
					   struct share_exporter *x)
{
	if (x->child > 0) {
		kill(x->child, SIGKILL);
		acl_wait(x->child);
	}
	acl_chan_close(&x->ch);
	if (x->m.handle)
		EXPECT_ACL_OK(acl_map_delete(&x->m));
	EXPECT_COUNTERS(x->start, ACL_CNT_LIVE_NO_OPENS);
}

/*
 * Forks the importer. The child says hello (sets device 0, sends its bare
 * tgid) and waits for 'g' before returning into the test body; the parent
 * gets the tgid in @child_tgid. Returns in both processes like fork().
 */
static inline pid_t share_fork(struct acl_chan *ch, int32_t *child_tgid)
{
	pid_t pid = fork();

	if (pid == 0) {
		acl_chan_child(ch);
		share_child_hello(ch);
		CHILD_CHECK(acl_hear(ch, 'g') == 0, "no go from the parent");
		return 0;
	}
	if (pid > 0) {
		acl_chan_parent(ch);
		if (acl_recv_val(ch, child_tgid, sizeof(*child_tgid)))
			*child_tgid = -1;
	}
	return pid;
}

/* For fixtures with a struct share_exporter x and an int32_t child_tgid. */
#define SHARE_FORK()                                                           \
	do {                                                                   \
		self->x.child = share_fork(&self->x.ch, &self->child_tgid);        \
		ASSERT_LE(0, self->x.child);                                     \
		if (self->x.child > 0)                                           \
			ASSERT_LT(0, self->child_tgid);                        \
	} while (0)

#define CHILD_DONE()                                                           \
	do {                                                                   \
		ASSERT_CHILD_OK(self->x.child);                                  \
		self->x.child = -1;                                              \
	} while (0)

#endif /* ACL_SHARE_UTIL_H */
