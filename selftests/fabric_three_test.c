// SPDX-License-Identifier: GPL-2.0
/*
 * What two servers cannot show, on three (run-in-vm.sh --servers 3
 * --fabric-module ...), each server running this program:
 * - one export, 16 importers on the two other servers: each admitted by
 *   (server id, bare tgid) alone. The importers have the same tgids on both
 *   importing servers (ns_last_pid), so a tgid named for one server is
 *   refused (507899) on the other until it is named there too;
 * - a copy between the imports of two other servers' memory, at odd offsets
 *   and lengths across registration windows, lands exactly in the second
 *   exporter's memory, seen there by the CPU;
 * - a server that dies mid-copy (its qemu killed, ACL_VMRUN_KILL_ME) is
 *   released by both survivors in bounded time, while the link between the
 *   survivors, and the copies over it, go on without a single failure.
 * Server 2 has its qemu killed in the last test: keep it last.
 */
#include <poll.h>

#include "acl/acl.h"
#include "acl_test_util.h"
#include "fabric_util.h"
#include "share_util.h"

#define KEY1 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define IMPORTERS 8		/* per importing server */
#define TGID_BASE 30000		/* the importers' tgids, the same on servers 1 and 2 */
/* releases cross links: a bound for slow guests, not an expected time */
#define COUNT_MS 60000
#define PEER_TIMEOUT_MS "3000"
#define PEER_TIMEOUT_SLOW_MS "8000"
#define PEER_TIMEOUT_DEFAULT "10000"

/* Where an importer writes, and what (another pattern than the exporter's). */
#define MARK_OFF 4093UL
#define MARK_LEN 5003UL
static unsigned char mark(size_t off)
{
	return (unsigned char)(off * 13 + 5);
}

/* A child process of a test and its channel (acl_chan: commands to it, replies from it). */
struct child {
	pid_t pid;
	struct acl_chan ch;
};

/* What a child answers: its kind of answer, an aclError (-1: bytes differ), good copies. */
struct reply {
	int32_t err;
	uint32_t copies;
	char kind;
};

static void child_reply(struct acl_chan *ch, char kind, int32_t err, uint32_t copies)
{
	struct reply r = { .err = err, .copies = copies, .kind = kind };

	CHILD_CHECK(acl_send_val(ch, &r, sizeof(r)) == 0, "reply");
}

/* Reads the next reply of @c, @ms at most: false on a timeout or end of file. */
static bool child_hear(struct child *c, struct reply *r, int ms)
{
	return acl_recv_val_within(&c->ch, r, sizeof(*r), ms) == 0;
}

/* Forks with the channel set up; in the child, @body never returns. */
static pid_t child_start(struct child *c,
			 void (*body)(const struct share_token *, struct acl_chan *),
			 const struct share_token *t)
{
	if (acl_chan_init(&c->ch))
		return -1;
	c->pid = fork();
	if (c->pid == 0) {
		acl_chan_child(&c->ch);
		body(t, &c->ch);
		_exit(1);
	}
	acl_chan_parent(&c->ch);
	return c->pid;
}

/* Kills and reaps a child the test did not end (a failed assertion). */
static void child_reap(struct child *c)
{
	if (c->pid <= 0)
		return;
	kill(c->pid, SIGKILL);
	acl_wait(c->pid);
	acl_chan_close(&c->ch);
	c->pid = 0;
}

/* The child ended as it should: exit status 0. */
static bool child_done(struct child *c)
{
	int st = acl_wait(c->pid);

	acl_chan_close(&c->ch);
	c->pid = 0;
	return st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/*
 * An importer of @t, driven command by command: 'i' import and map, 'r' read
 * its eighth of it (the 8 importers of a server read all of it) and check
 * the exporter's pattern, 'w' write the mark, 'v' read the mark back with a
 * byte of the pattern either side, 'f' unmap, free and exit.
 */
#define EIGHTH (SHARE_SIZE / IMPORTERS)
static void importer_body(const struct share_token *t, struct acl_chan *ch)
{
	size_t mine = (size_t)(getpid() - TGID_BASE) % IMPORTERS * EIGHTH;
	unsigned char *buf = malloc(SHARE_SIZE);
	struct share_token tok = *t;
	struct acl_mapping m = {};
	unsigned char *va;
	char c;

	CHILD_CHECK(buf != NULL, "malloc");
	CHILD_CHECK(aclrtSetDevice(0) == ACL_SUCCESS, "set device");
	while (read(ch->rd, &c, 1) == 1) {
		aclError e = ACL_SUCCESS;

		va = m.va;
		switch (c) {
		case 'i':
			e = share_import_map(&tok, SHARE_SIZE, &m);
			break;
		case 'r':
			memset(buf, 0, EIGHTH);
			e = aclrtMemcpy(buf, EIGHTH, va + mine, EIGHTH, ACL_MEMCPY_DEVICE_TO_HOST);
			for (size_t i = 0; !e && i < EIGHTH; i++)
				if (buf[i] != share_pattern(mine + i))
					e = -1;
			break;
		case 'w':
			for (size_t i = 0; i < MARK_LEN; i++)
				buf[i] = mark(MARK_OFF + i);
			e = aclrtMemcpy(va + MARK_OFF, MARK_LEN, buf, MARK_LEN,
					ACL_MEMCPY_HOST_TO_DEVICE);
			break;
		case 'v':
			memset(buf, 0, MARK_LEN + 2);
			e = aclrtMemcpy(buf, MARK_LEN + 2, va + MARK_OFF - 1, MARK_LEN + 2,
					ACL_MEMCPY_DEVICE_TO_HOST);
			if (!e && (buf[0] != share_pattern(MARK_OFF - 1) ||
				   buf[MARK_LEN + 1] != share_pattern(MARK_OFF + MARK_LEN)))
				e = -1;
			for (size_t i = 0; !e && i < MARK_LEN; i++)
				if (buf[1 + i] != mark(MARK_OFF + i))
					e = -1;
			break;
		case 'f':
			child_reply(ch, c, acl_map_delete(&m), 0);
			_exit(0);
		default:
			e = -2;
		}
		if (e > 0)
			fprintf(stderr, "# importer %d: '%c' gave %d: %s\n", (int)getpid(), c,
				(int)e, aclGetRecentErrMsg());
		child_reply(ch, c, e, 0);
	}
	_exit(1);
}

/*
 * A reader of @t's SIZE3 bytes: copies and checks the first COPY3 in a loop; 'c'
 * after its first good copy, then: told 'm' it answers its count of good
 * copies; told 's' it makes one more copy and ends ('e', 0 and the count);
 * a copy that fails ends it at once ('e', the aclError).
 */
#define SIZE3 SHARE_SIZE
#define COPY3 (SIZE3 / 2)
static void reader_body(const struct share_token *t, struct acl_chan *ch)
{
	unsigned char *buf = malloc(COPY3);
	struct share_token tok = *t;
	struct acl_mapping m;
	uint32_t copies = 0;
	aclError e;

	CHILD_CHECK(buf != NULL, "malloc");
	CHILD_CHECK(aclrtSetDevice(0) == ACL_SUCCESS, "set device");
	e = share_import_map(&tok, SIZE3, &m);
	CHILD_CHECK(e == ACL_SUCCESS, "import and map: %d %s", e, aclGetRecentErrMsg());
	for (bool stop = false;;) {
		struct pollfd p = { .fd = ch->rd, .events = POLLIN };
		char c;

		e = aclrtMemcpy(buf, COPY3, m.va, COPY3, ACL_MEMCPY_DEVICE_TO_HOST);
		if (!e && share_check(buf, COPY3) != COPY3)
			e = -1;
		if (e) {
			fprintf(stderr, "# reader %d: copy %u failed with %d: %s\n", (int)getpid(),
				copies + 1, (int)e, aclGetRecentErrMsg());
			break;
		}
		if (++copies == 1)
			child_reply(ch, 'c', 0, copies);
		if (stop)
			break;
		if (poll(&p, 1, 0) == 1) {
			CHILD_CHECK(read(ch->rd, &c, 1) == 1, "command");
			if (c == 'm')
				child_reply(ch, 'm', 0, copies);
			else
				stop = true;
		}
	}
	child_reply(ch, 'e', e, copies);
	/* a dead import still unmaps and frees */
	e = acl_map_delete(&m);
	CHILD_CHECK(e == ACL_SUCCESS, "unmap and free: %d %s", e, aclGetRecentErrMsg());
	_exit(0);
}

FIXTURE(three) {
	struct acl_mapping m;		/* this server's exported allocation */
	bool mapped;
	struct child kids[IMPORTERS];
};

FIXTURE_SETUP(three)
{
	ASSERT_EQ(3U, fabric_servers());
	ASSERT_EQ(0, fabric_mesh(KEY1));
	ASSERT_ACL_OK(aclInit(NULL));
	ASSERT_ACL_OK(aclrtSetDevice(0));
	self->mapped = false;
	memset(self->kids, 0, sizeof(self->kids));
	ASSERT_EQ(0, stat_of("remote_holders"));
	ASSERT_EQ(0, stat_of("remote_imports"));
	ASSERT_EQ(0, fabric_barrier("setup"));
}

FIXTURE_TEARDOWN(three)
{
	for (int i = 0; i < IMPORTERS; i++)
		child_reap(&self->kids[i]);
	if (self->mapped)
		EXPECT_ACL_OK(acl_map_delete(&self->m));
	EXPECT_TRUE(stat_wait("remote_holders", 0, COUNT_MS));
	EXPECT_TRUE(stat_wait("remote_imports", 0, COUNT_MS));
	EXPECT_EQ(0, stat_of("allocations"));
	/* all servers, or the survivors of the last test */
	EXPECT_EQ(0, fabric_barrier("teardown"));
	cfg_write("/sys/module/acl_share_fabric/parameters/peer_timeout_ms", PEER_TIMEOUT_DEFAULT);
	fabric_reset();
}

/* This server's @size bytes, mapped, filled with share_pattern shifted by @shift, exported. */
static aclError export_filled(struct _test_data_three *self, size_t size, size_t shift,
			      uint64_t flags, struct share_token *t)
{
	aclError e = acl_map_new(&self->m, size, ACL_HBM_MEM_HUGE, ACL_MEM_LOCATION_TYPE_DEVICE, 0);

	if (e)
		return e;
	self->mapped = true;
	for (size_t off = 0; off < size; off++)
		((unsigned char *)self->m.va)[off] = share_pattern(off + shift);
	return share_export(self->m.handle, flags, ACL_MEM_SHARE_HANDLE_TYPE_FABRIC, t);
}

/* Forks an importer of @t whose tgid is exactly @want, by ns_last_pid. */
static pid_t importer_at(struct child *c, pid_t want, const struct share_token *t)
{
	char last[16];

	snprintf(last, sizeof(last), "%d", (int)want - 1);
	if (cfg_write("/proc/sys/kernel/ns_last_pid", last))
		return -1;
	return child_start(c, importer_body, t);
}

/* Tells every importer @what where @mask has its bit, then checks each answer is @want(i). */
static void importers_do(struct __test_metadata *_metadata, struct child *kids, unsigned int mask,
			 char what, aclError (*want)(unsigned int))
{
	for (unsigned int i = 0; i < IMPORTERS; i++)
		if (mask & (1U << i))
			ASSERT_EQ(0, acl_tell(&kids[i].ch, what));
	for (unsigned int i = 0; i < IMPORTERS; i++) {
		struct reply r;

		if (!(mask & (1U << i)))
			continue;
		ASSERT_TRUE(child_hear(&kids[i], &r, COUNT_MS))
			TH_LOG("importer %u (tgid %d) did not answer '%c'", i, (int)kids[i].pid, what);
		ASSERT_EQ(what, r.kind);
		EXPECT_EQ(want(i), r.err)
			TH_LOG("importer %u (tgid %d) of server %u, '%c'", i, (int)kids[i].pid,
			       fabric_me(), what);
	}
}

/* Server 0 names tgids [0, 4) for server 1 and [4, 8) for server 2 first, then the rest. */
#define FIRST_HALF 0x0fU
#define SECOND_HALF 0xf0U
static unsigned int named_first(void)
{
	return fabric_me() == 1 ? FIRST_HALF : SECOND_HALF;
}

static aclError ok(unsigned int i)
{
	(void)i;
	return ACL_SUCCESS;
}

static aclError first_round(unsigned int i)
{
	return (named_first() & (1U << i)) ? ACL_SUCCESS : ACL_ERROR_RT_DRV_INTERNAL_ERROR;
}

/*
 * One export of server 0, validation on; 8 importers on server 1 and 8 on
 * server 2, with the same tgids on both. Named by (server, tgid), exactly the
 * named ones come in on each server; once every pair is named, all 16 hold
 * the memory at once (16 remote holders on server 0), read it, and a write
 * by one server's importer is read by the other server's and by server 0.
 */
TEST_F_TIMEOUT(three, sixteen_importers_on_two_servers_admitted_by_server_and_tgid,
	       FABRIC_TEST_TIMEOUT)
{
	uint32_t tgids[IMPORTERS], got[2][IMPORTERS];
	struct share_token tok, theirs[2];

	memset(&tok, 0, sizeof(tok));
	if (fabric_me() == 0) {
		int32_t lo[4], hi[4];
		aclrtServerPid first[2] = { { 1, lo, 4 }, { 2, hi, 4 } };
		aclrtServerPid second[2] = { { 1, hi, 4 }, { 2, lo, 4 } };
		const unsigned char *va;

		ASSERT_ACL_OK(export_filled(self, SHARE_SIZE, 0, 0, &tok));
		ASSERT_EQ(0, fabric_swap("handle", &tok, theirs, sizeof(tok)));
		memset(tgids, 0, sizeof(tgids));
		ASSERT_EQ(0, fabric_swap("tgids", tgids, got, sizeof(tgids)));
		/* the same numbers on both servers: only the server tells them apart */
		for (int i = 0; i < IMPORTERS; i++) {
			ASSERT_EQ((uint32_t)(TGID_BASE + i), got[0][i]);
			ASSERT_EQ((uint32_t)(TGID_BASE + i), got[1][i]);
		}
		for (int i = 0; i < 4; i++) {
			lo[i] = (int32_t)got[0][i];
			hi[i] = (int32_t)got[0][4 + i];
		}
		ASSERT_ACL_OK(aclrtMemSetServerPidToShareableHandle(&tok.fabric, first, 2));
		ASSERT_EQ(0, fabric_barrier("named"));
		ASSERT_EQ(0, fabric_barrier("tried"));
		EXPECT_EQ(8, stat_of("remote_holders"));
		ASSERT_ACL_OK(aclrtMemSetServerPidToShareableHandle(&tok.fabric, second, 2));
		ASSERT_EQ(0, fabric_barrier("all named"));
		ASSERT_EQ(0, fabric_barrier("all in"));
		EXPECT_EQ(16, stat_of("remote_holders"));
		/* one reference per remote holder, one allocation counted */
		EXPECT_EQ(1, stat_of("allocations"));
		ASSERT_EQ(0, fabric_barrier("read"));
		ASSERT_EQ(0, fabric_barrier("written"));
		va = self->m.va;
		for (size_t i = 0; i < MARK_LEN; i++) {
			if (va[MARK_OFF + i] != mark(MARK_OFF + i)) {
				EXPECT_EQ(mark(MARK_OFF + i), va[MARK_OFF + i]) TH_LOG("byte %zu", i);
				break;
			}
		}
		EXPECT_EQ(share_pattern(MARK_OFF - 1), va[MARK_OFF - 1]);
		EXPECT_EQ(share_pattern(MARK_OFF + MARK_LEN), va[MARK_OFF + MARK_LEN]);
		ASSERT_EQ(0, fabric_barrier("verified"));
		ASSERT_EQ(0, fabric_barrier("freed"));
		EXPECT_TRUE(stat_wait("remote_holders", 0, COUNT_MS));
		ASSERT_ACL_OK(acl_map_delete(&self->m));
		self->mapped = false;
		return;
	}

	ASSERT_EQ(0, fabric_swap("handle", &tok, theirs, sizeof(tok)));
	ASSERT_EQ(0, theirs[0].fabric.data[8]);
	for (int i = 0; i < IMPORTERS; i++) {
		ASSERT_EQ(TGID_BASE + i, importer_at(&self->kids[i], TGID_BASE + i, &theirs[0]))
			TH_LOG("tgid %d was not free on server %u", TGID_BASE + i, fabric_me());
		tgids[i] = (uint32_t)self->kids[i].pid;
	}
	ASSERT_EQ(0, fabric_swap("tgids", tgids, got, sizeof(tgids)));
	ASSERT_EQ(0, fabric_barrier("named"));
	/* the half named for this server comes in; the other half is named for the other */
	importers_do(_metadata, self->kids, FIRST_HALF | SECOND_HALF, 'i', first_round);
	EXPECT_EQ(4, stat_of("remote_imports"));
	ASSERT_EQ(0, fabric_barrier("tried"));
	ASSERT_EQ(0, fabric_barrier("all named"));
	importers_do(_metadata, self->kids, ~named_first() & 0xff, 'i', ok);
	EXPECT_EQ(8, stat_of("remote_imports"));
	ASSERT_EQ(0, fabric_barrier("all in"));
	importers_do(_metadata, self->kids, 0xff, 'r', ok);
	ASSERT_EQ(0, fabric_barrier("read"));
	/* server 1's first importer writes; server 2's and server 0 read it */
	if (fabric_me() == 1)
		importers_do(_metadata, self->kids, 0x01, 'w', ok);
	ASSERT_EQ(0, fabric_barrier("written"));
	if (fabric_me() == 2)
		importers_do(_metadata, self->kids, 0x80, 'v', ok);
	ASSERT_EQ(0, fabric_barrier("verified"));
	importers_do(_metadata, self->kids, 0xff, 'f', ok);
	for (int i = 0; i < IMPORTERS; i++) {
		bool done = child_done(&self->kids[i]);

		EXPECT_TRUE(done) TH_LOG("importer %d", i);
	}
	EXPECT_EQ(0, stat_of("remote_imports"));
	ASSERT_EQ(0, fabric_barrier("freed"));
}

/*
 * Test 2: each server's memory, and what lands in it. Every server is read
 * at SRC_OFF by one peer while another writes at DST_OFF: the two ranges
 * must not meet, or a read would see the write half done. Both cross a
 * registration window's end (511 pages of 4 KiB on soft-RoCE).
 */
#define SIZE2 (6UL << 20)
#define SRC_OFF ((3UL << 20) + 4095)
#define DST_OFF 12345UL
#define COPY_LEN ((2UL << 20) + 4097)
_Static_assert(DST_OFF + COPY_LEN <= SRC_OFF && SRC_OFF + COPY_LEN <= SIZE2,
	       "the read and the written range of a server must not meet");

/*
 * Every server imports both others' memory and copies from the next one's
 * (me + 1) into the one after (me + 2): a copy between two remote imports,
 * over two links at once. Each exporter then finds, with the CPU, exactly
 * the bytes of the server before it (me + 2) where they were aimed, and its
 * own pattern around them; the copier reads them back over the link.
 */
TEST_F_TIMEOUT(three, copy_between_imports_of_two_other_servers, FABRIC_TEST_TIMEOUT)
{
	unsigned int me = fabric_me(), from = (me + 1) % 3, to = (me + 2) % 3;
	struct share_token tok, all[3];
	struct acl_mapping src, dst;
	unsigned char *vs, *vd, *buf, *va;

	ASSERT_ACL_OK(export_filled(self, SIZE2, me * 50, ACL_RT_VMM_EXPORT_FLAG_DISABLE_PID_VALIDATION,
				    &tok));
	ASSERT_EQ(0, fabric_all("copy: handles", &tok, all, sizeof(tok)));
	ASSERT_EQ(from, all[from].fabric.data[8]);
	ASSERT_EQ(to, all[to].fabric.data[8]);
	ASSERT_ACL_OK(share_import_map(&all[from], SIZE2, &src));
	ASSERT_ACL_OK(share_import_map(&all[to], SIZE2, &dst));
	vs = src.va;
	vd = dst.va;
	EXPECT_EQ(2, stat_of("remote_imports"));
	ASSERT_EQ(0, fabric_barrier("imported"));
	/* one holder from each other server */
	EXPECT_EQ(2, stat_of("remote_holders"));
	ASSERT_ACL_OK(aclrtMemcpy(vd + DST_OFF, COPY_LEN, vs + SRC_OFF, COPY_LEN,
				  ACL_MEMCPY_DEVICE_TO_DEVICE));
	ASSERT_EQ(0, fabric_barrier("copied"));

	/* in this server's memory: what the server after it copied from the one before */
	va = self->m.va;
	for (size_t i = 0; i < COPY_LEN; i++) {
		if (va[DST_OFF + i] != share_pattern(SRC_OFF + i + to * 50)) {
			EXPECT_EQ(share_pattern(SRC_OFF + i + to * 50), va[DST_OFF + i])
				TH_LOG("byte %zu of the copy into server %u", i, me);
			break;
		}
	}
	EXPECT_EQ(share_pattern(DST_OFF - 1 + me * 50), va[DST_OFF - 1]);
	EXPECT_EQ(share_pattern(DST_OFF + COPY_LEN + me * 50), va[DST_OFF + COPY_LEN]);
	/* and the copier reads back over the link what it wrote */
	buf = malloc(COPY_LEN);
	ASSERT_NE(NULL, buf);
	ASSERT_ACL_OK(aclrtMemcpy(buf, COPY_LEN, vd + DST_OFF, COPY_LEN, ACL_MEMCPY_DEVICE_TO_HOST));
	for (size_t i = 0; i < COPY_LEN; i++) {
		if (buf[i] != share_pattern(SRC_OFF + i + from * 50)) {
			EXPECT_EQ(share_pattern(SRC_OFF + i + from * 50), buf[i])
				TH_LOG("byte %zu read back from server %u", i, to);
			break;
		}
	}
	free(buf);
	ASSERT_EQ(0, fabric_barrier("checked"));
	ASSERT_ACL_OK(acl_map_delete(&src));
	ASSERT_ACL_OK(acl_map_delete(&dst));
	EXPECT_EQ(0, stat_of("remote_imports"));
	ASSERT_EQ(0, fabric_barrier("copy freed"));
	EXPECT_TRUE(stat_wait("remote_holders", 0, COUNT_MS));
}

/*
 * Each server exports 2 MiB and has a reader copying 1 MiB of each other
 * server's memory in a loop; then server 2 dies. On servers 0 and 1, the survivors:
 * - the reader of server 2's memory fails with 507899 in bounded time;
 * - the references held for server 2's readers are released (peer_timeout_ms),
 *   and the link to server 2 reads down;
 * - the reader of the other survivor's memory never fails: it is still
 *   copying, correctly, after all of that; the link between them stays up;
 * - once it stops, every counter is back to zero.
 * Server 2's side ends with the kill: it counts for nothing.
 */
TEST_F_TIMEOUT(three, a_dead_server_is_released_while_the_survivors_copy_on, FABRIC_TEST_TIMEOUT)
{
	unsigned int me = fabric_me(), survivor = 1 - (me & 1);
	struct child *of[3] = { &self->kids[0], &self->kids[1], &self->kids[2] };
	struct share_token tok, all[3];
	struct reply r;
	uint32_t at_kill;
	char st[32];

	/* three KASAN guests on two cores: keepalives are late under load */
	ASSERT_EQ(0, cfg_write("/sys/module/acl_share_fabric/parameters/peer_timeout_ms",
			       acl_slow_kernel() ? PEER_TIMEOUT_SLOW_MS : PEER_TIMEOUT_MS));
	ASSERT_ACL_OK(export_filled(self, SIZE3, 0, ACL_RT_VMM_EXPORT_FLAG_DISABLE_PID_VALIDATION,
				    &tok));
	ASSERT_EQ(0, fabric_all("kill: handles", &tok, all, sizeof(tok)));
	/* of[s]: the reader of server s's memory */
	for (unsigned int s = 0; s < 3; s++) {
		if (s == me)
			continue;
		ASSERT_LT(0, child_start(of[s], reader_body, &all[s]));
	}
	for (unsigned int s = 0; s < 3; s++) {
		if (s == me)
			continue;
		ASSERT_TRUE(child_hear(of[s], &r, COUNT_MS)) TH_LOG("reader of server %u", s);
		ASSERT_EQ('c', r.kind) TH_LOG("reader of server %u: %d", s, r.err);
	}
	ASSERT_EQ(0, fabric_barrier("copying"));
	EXPECT_EQ(2, stat_of("remote_holders"));
	EXPECT_EQ(2, stat_of("remote_imports"));
	ASSERT_EQ(0, fabric_barrier("counted"));

	if (me == 2) {
		/* the host dies here, its readers in the middle of copies */
		printf("%s\n", getenv("ACL_VMRUN_KILL_ME"));
		fflush(stdout);
		for (;;)
			pause();
	}

	/*
	 * servers 0 and 1, the survivors: the cluster is now the two of them
	 * (the dead one is the last id, so the barriers' ids stay below 2)
	 */
	setenv("ACL_SERVERS", "2", 1);
	ASSERT_EQ(0, acl_tell(&of[survivor]->ch, 'm'));
	ASSERT_TRUE(child_hear(of[survivor], &r, COUNT_MS));
	ASSERT_EQ('m', r.kind) TH_LOG("the reader of server %u ended: %d", survivor, r.err);
	at_kill = r.copies;

	ASSERT_TRUE(child_hear(of[2], &r, COUNT_MS)) TH_LOG("the reader of server 2 still copies");
	ASSERT_EQ('e', r.kind);
	EXPECT_EQ(ACL_ERROR_RT_DRV_INTERNAL_ERROR, r.err);
	EXPECT_TRUE(child_done(of[2]));
	EXPECT_TRUE(stat_wait("remote_imports", 1, COUNT_MS));
	/* server 2's reader's reference, released when the link timed out */
	EXPECT_TRUE(stat_wait("remote_holders", 1, COUNT_MS));
	EXPECT_TRUE(peer_wait_state(2, "down", COUNT_MS));
	ASSERT_EQ(0, fabric_barrier("released"));

	/* the other survivor's memory: copied all along, and still */
	EXPECT_STREQ("up", peer_read(survivor, "state", st, sizeof(st)));
	ASSERT_EQ(0, acl_tell(&of[survivor]->ch, 's'));
	ASSERT_TRUE(child_hear(of[survivor], &r, COUNT_MS));
	ASSERT_EQ('e', r.kind);
	EXPECT_EQ(0, r.err) TH_LOG("a copy from server %u failed", survivor);
	EXPECT_LT(at_kill, r.copies);
	TH_LOG("the reader of server %u: %u good copies by the kill, %u in all", survivor, at_kill,
	       r.copies);
	EXPECT_TRUE(child_done(of[survivor]));
	EXPECT_EQ(0, stat_of("remote_imports"));
	ASSERT_EQ(0, fabric_barrier("stopped"));
	EXPECT_TRUE(stat_wait("remote_holders", 0, COUNT_MS));
	EXPECT_STREQ("up", peer_read(survivor, "state", st, sizeof(st)));
	ASSERT_ACL_OK(acl_map_delete(&self->m));
	self->mapped = false;
}

TEST_HARNESS_MAIN
