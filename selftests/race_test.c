// SPDX-License-Identifier: GPL-2.0
/*
 * race_test - bounded-time, seeded race stress (issue 4, "Hardening").
 *
 * One test per race; each checks what the racing calls return and what
 * memory they reach, not only that the kernel survives:
 *
 *  import_vs_exporter_free_and_exit  processes: importers hammer the
 *      shareable handles of exporters that free them or exit at random
 *      moments. Every import is 0 (and then maps the exporter's stamp) or
 *      107017, and 107017 is certain once the revocation has returned.
 *  free_vs_munmap_raw / free_vs_unmap_lib  threads of one process: one
 *      frees a mapped handle while the other unmaps it (whole, split,
 *      moved, or while mapping it a second time). The memory stays intact
 *      while mapped, the handle is freed exactly once, and the counters are
 *      back at their start after every round.
 *  setpid_vs_import  processes: two importers poll an export while the
 *      exporter makes failing SetPid calls and then one that names both.
 *      Import is 507899 until that call has been made, 0 once it has
 *      returned, and the call is all-or-nothing: once one importer got in,
 *      the other one named by the same call cannot be refused.
 *  close_vs_ioctl  threads: two threads loop every ioctl (and mmap) on a
 *      descriptor that a third closes and reopens (close+open, dup3 over
 *      it). Results are 0, EBADF or an errno the uapi header documents for
 *      that call; nothing hangs.
 *  fork_vs_map  threads: one thread forks while others map, touch and
 *      unmap (raw mmap and the library). The children see no mapping
 *      (VM_DONTCOPY), cannot use the parent's handles and exit cleanly;
 *      the parent's memory keeps its content.
 *
 * ACL_RACE_SECONDS (default 3, 1..60) bounds each race; every test prints
 * its seed, and ACL_RACE_SEED=<seed> replays the same random choices
 * (interleavings still depend on the scheduler).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <time.h>

#include "acl/acl.h"
#include <linux/acl_share.h>

#include "acl_test_util.h"
#include "share_util.h"

#define RACE_DEFAULT_SECONDS 3
#define RACE_MAX_SECONDS 60
/* Generous: the debug kernel under TCG is slow, and setup forks a lot. */
#define RACE_TIMEOUT 600
#define RACE_MAX_KIDS 1024

#define ATTR_NORMAL 12	/* ACL_MEM_NORMAL */
#define ATTR_HUGE 4	/* ACL_HBM_MEM_HUGE */

/* ------------------------------------------------------------------ */
/* Seeds, time, randomness                                             */
/* ------------------------------------------------------------------ */

static unsigned int race_seconds(void)
{
	const char *s = getenv("ACL_RACE_SECONDS");
	unsigned long v = s && *s ? strtoul(s, NULL, 0) : RACE_DEFAULT_SECONDS;

	if (v < 1)
		v = 1;
	if (v > RACE_MAX_SECONDS)
		v = RACE_MAX_SECONDS;
	return (unsigned int)v;
}

static uint64_t race_seed(void)
{
	const char *s = getenv("ACL_RACE_SEED");
	uint64_t v = 0;

	if (s && *s)
		return strtoull(s, NULL, 0);
	if (getrandom(&v, sizeof(v), 0) != sizeof(v))
		v = (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)getpid();
	return v;
}

/* splitmix64: any seed (0 too) gives a good stream. */
static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double mono(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void race_spin(uint64_t n)
{
	for (volatile uint64_t i = 0; i < n; i++)
		;
}

static void race_sleep_us(uint64_t us)
{
	struct timespec t = { .tv_sec = (time_t)(us / 1000000), .tv_nsec = (long)(us % 1000000) * 1000 };

	while (nanosleep(&t, &t) && errno == EINTR)
		;
}

/* ------------------------------------------------------------------ */
/* Memory stamps                                                       */
/* ------------------------------------------------------------------ */

/* The word at the start of page @page of memory stamped with @key. */
static uint64_t stamp_word(uint64_t key, size_t page)
{
	return key ^ (0x9e3779b97f4a7c15ULL * (page + 1));
}

static void stamp(void *va, size_t size, uint64_t key)
{
	for (size_t p = 0; p < size / SZ_4K; p++) {
		uint64_t w = stamp_word(key, p);

		memcpy((char *)va + p * SZ_4K, &w, sizeof(w));
	}
}

/* The first page of @va that does not carry the stamp of @key, or size / 4K. */
static size_t stamp_check(const void *va, size_t size, uint64_t key)
{
	for (size_t p = 0; p < size / SZ_4K; p++) {
		uint64_t w;

		memcpy(&w, (const char *)va + p * SZ_4K, sizeof(w));
		if (w != stamp_word(key, p))
			return p;
	}
	return size / SZ_4K;
}

static uint64_t page_word(const void *va, size_t page)
{
	uint64_t w;

	memcpy(&w, (const char *)va + page * SZ_4K, sizeof(w));
	return w;
}

/* A thread or process-shared record of the first failure. */
struct race_err {
	pthread_mutex_t lock;
	_Atomic int n;
	char msg[512];
};

static void race_err_init(struct race_err *e)
{
	pthread_mutex_init(&e->lock, NULL);
	atomic_store(&e->n, 0);
	e->msg[0] = '\0';
}

__attribute__((format(printf, 2, 3)))
static void race_fail(struct race_err *e, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&e->lock);
	if (atomic_fetch_add(&e->n, 1) == 0) {
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
		fprintf(stderr, "# race failure: %s\n", e->msg);
	}
	pthread_mutex_unlock(&e->lock);
}

static void *shared_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p != MAP_FAILED)
		memset(p, 0, len);
	return p;
}

static void pin_to_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set); /* best effort */
}

/* ------------------------------------------------------------------ */
/* The fixture: counters, seed, children                               */
/* ------------------------------------------------------------------ */

FIXTURE(race)
{
	struct acl_counters start;
	uint64_t seed;
	unsigned int secs;
	unsigned int mask;	/* counters checked at the end */
	pid_t kids[RACE_MAX_KIDS];
	int nkids;
	void *box;
	size_t box_len;
};

FIXTURE_SETUP(race)
{
	ASSERT_EQ(0, acl_read_counters(&self->start));
	self->seed = race_seed();
	self->secs = race_seconds();
	self->mask = ACL_CNT_LIVE;
	TH_LOG("seed 0x%016" PRIx64 " (replay: ACL_RACE_SEED=0x%016" PRIx64 "), %u s",
	       self->seed, self->seed, self->secs);
}

/* Kills and reaps whatever a failed test left behind, then checks counters. */
FIXTURE_TEARDOWN(race)
{
	for (int i = 0; i < self->nkids; i++) {
		if (self->kids[i] > 0)
			kill(self->kids[i], SIGKILL);
	}
	for (int i = 0; i < self->nkids; i++) {
		if (self->kids[i] > 0)
			acl_wait(self->kids[i]);
		self->kids[i] = 0;
	}
	if (self->box)
		munmap(self->box, self->box_len);
	EXPECT_COUNTERS(self->start, self->mask);
}

static void kid_track(FIXTURE_DATA(race) *self, pid_t pid)
{
	for (int i = 0; i < self->nkids; i++) {
		if (self->kids[i] == 0) {
			self->kids[i] = pid;
			return;
		}
	}
	if (self->nkids < RACE_MAX_KIDS)
		self->kids[self->nkids++] = pid;
}

/* Forgets a reaped child; returns its index in the table or -1. */
static int kid_untrack(FIXTURE_DATA(race) *self, pid_t pid)
{
	for (int i = 0; i < self->nkids; i++) {
		if (self->kids[i] == pid) {
			self->kids[i] = 0;
			return i;
		}
	}
	return -1;
}

static bool exited_ok(int status)
{
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* ================================================================== */
/* 1. Import racing the exporter's free and exit                       */
/* ================================================================== */

#define IX_SLOTS 4
#define IX_IMPORTERS 4
#define IX_SIZE (64 * 1024UL)

struct ix_slot {
	_Atomic uint64_t key;	/* published shareable handle, 0: none yet */
	_Atomic uint64_t dead;	/* a key whose revocation has completed */
};

struct ix_box {
	struct ix_slot slot[IX_SLOTS];
	int32_t importer_tgid[IX_IMPORTERS];	/* written before any exporter */
	_Atomic int stop_exporters;	/* first the exporters end ... */
	_Atomic int stop;		/* ... then the importers they name */
	_Atomic long imports_ok, refused, refused_dead, exports, frees, exits;
	_Atomic int exited_once;	/* the first export's exporter dies holding it */
};

/*
 * Allocates, exports (validation off, or on with every importer
 * whitelisted), stamps the memory with the key, publishes it, and after a
 * random moment either dies holding everything or frees the handle
 * (before or after unmapping). After a revocation has returned it says so
 * in the slot and lingers, so that importers try the revoked key.
 */
static void ix_exporter(struct ix_box *b, int idx, uint64_t seed)
{
	for (int round = 0; round < 16 && !atomic_load(&b->stop_exporters); round++) {
		struct acl_mapping m;
		uint64_t key = 0;
		bool open = rnd(&seed) & 1;
		unsigned int act;
		aclError e;

		e = acl_map_new(&m, IX_SIZE, ATTR_NORMAL, ACL_MEM_LOCATION_TYPE_HOST, 0);
		CHILD_CHECK(e == ACL_SUCCESS, "map_new: %d %s", e, aclGetRecentErrMsg());
		e = aclrtMemExportToShareableHandle(m.handle, ACL_MEM_HANDLE_TYPE_NONE,
						    open ? ACL_RT_VMM_EXPORT_FLAG_DISABLE_PID_VALIDATION :
							   ACL_RT_VMM_EXPORT_FLAG_DEFAULT, &key);
		CHILD_CHECK(e == ACL_SUCCESS, "export: %d %s", e, aclGetRecentErrMsg());
		if (!open) {
			e = aclrtMemSetPidToShareableHandle(key, b->importer_tgid, IX_IMPORTERS);
			CHILD_CHECK(e == ACL_SUCCESS, "SetPid: %d %s", e, aclGetRecentErrMsg());
		}
		stamp(m.va, IX_SIZE, key);
		atomic_fetch_add(&b->exports, 1);
		atomic_store(&b->slot[idx].key, key);
		race_sleep_us(rnd(&seed) % 3000);

		act = rnd(&seed) % 8;
		/* However the dice fall, the exit race happens at least once. */
		if (!atomic_exchange(&b->exited_once, 1))
			act = 0;
		if (act == 0)
			_exit(0); /* the parent marks the key dead once it has reaped us */
		if (act == 1) {
			CHILD_CHECK(aclrtUnmapMem(m.va) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
			CHILD_CHECK(aclrtReleaseMemAddress(m.va) == ACL_SUCCESS, "%s",
				    aclGetRecentErrMsg());
		}
		e = aclrtFreePhysical(m.handle);
		CHILD_CHECK(e == ACL_SUCCESS, "free: %d %s", e, aclGetRecentErrMsg());
		atomic_store(&b->slot[idx].dead, key);
		atomic_fetch_add(&b->frees, 1);
		if (act != 1) {
			/* Revoked, but the exporter's own mapping is untouched. */
			CHILD_CHECK(stamp_check(m.va, IX_SIZE, key) == IX_SIZE / SZ_4K,
				    "exporter's memory changed after the revocation (page %zu)",
				    stamp_check(m.va, IX_SIZE, key));
		}
		race_sleep_us(500 + rnd(&seed) % 3000);
		if (act != 1) {
			CHILD_CHECK(aclrtUnmapMem(m.va) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
			CHILD_CHECK(aclrtReleaseMemAddress(m.va) == ACL_SUCCESS, "%s",
				    aclGetRecentErrMsg());
		}
	}
	_exit(0);
}

static void ix_importer(struct ix_box *b, uint64_t seed)
{
	void *va = NULL;
	aclError e;

	CHILD_CHECK(aclrtSetDevice(0) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
	CHILD_CHECK(aclrtReserveMemAddress(&va, IX_SIZE, 0, NULL, 0) == ACL_SUCCESS, "%s",
		    aclGetRecentErrMsg());
	while (!atomic_load(&b->stop)) {
		struct ix_slot *s = &b->slot[rnd(&seed) % IX_SLOTS];
		uint64_t k = atomic_load(&s->key);
		aclrtDrvMemHandle h = NULL;
		bool dead;
		size_t bad;

		if (!k) {
			race_sleep_us(200);
			continue;
		}
		dead = atomic_load(&s->dead) == k;
		if (rnd(&seed) & 1)
			e = aclrtMemImportFromShareableHandle(k, 0, &h);
		else
			e = aclrtMemImportFromShareableHandleV2(&k, ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT,
								0, &h);
		if (e == ACL_ERROR_RT_INVALID_HANDLE) {
			atomic_fetch_add(&b->refused, 1);
			if (dead)
				atomic_fetch_add(&b->refused_dead, 1);
			continue;
		}
		CHILD_CHECK(e == ACL_SUCCESS,
			    "import of 0x%016" PRIx64 " gave %d (only 0 or 107017 allowed): %s", k, e,
			    aclGetRecentErrMsg());
		CHILD_CHECK(!dead, "import of 0x%016" PRIx64 " succeeded after its exporter's "
			    "revocation had returned", k);
		e = aclrtMapMem(va, IX_SIZE, 0, h, 0);
		CHILD_CHECK(e == ACL_SUCCESS, "map: %d %s", e, aclGetRecentErrMsg());
		bad = stamp_check(va, IX_SIZE, k);
		CHILD_CHECK(bad == IX_SIZE / SZ_4K,
			    "imported 0x%016" PRIx64 " but page %zu holds 0x%016" PRIx64 " (want 0x%016"
			    PRIx64 ")", k, bad, page_word(va, bad), stamp_word(k, bad));
		atomic_fetch_add(&b->imports_ok, 1);
		if (rnd(&seed) & 1) {
			CHILD_CHECK(aclrtFreePhysical(h) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
			CHILD_CHECK(aclrtUnmapMem(va) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
		} else {
			CHILD_CHECK(aclrtUnmapMem(va) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
			CHILD_CHECK(aclrtFreePhysical(h) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
		}
	}
	CHILD_CHECK(aclrtReleaseMemAddress(va) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
	_exit(0);
}

TEST_F_TIMEOUT(race, import_vs_exporter_free_and_exit, RACE_TIMEOUT)
{
	pid_t exporter[IX_SLOTS], importer[IX_IMPORTERS];
	uint64_t seed = self->seed;
	struct ix_box *b;
	double end;
	long respawns = 0;

	b = shared_alloc(sizeof(*b));
	ASSERT_NE(MAP_FAILED, b);
	self->box = b;
	self->box_len = sizeof(*b);

	for (int i = 0; i < IX_IMPORTERS; i++) {
		uint64_t s = rnd(&seed);

		importer[i] = fork();
		ASSERT_LE(0, importer[i]);
		if (importer[i] == 0)
			ix_importer(b, s);
		kid_track(self, importer[i]);
		b->importer_tgid[i] = importer[i]; /* the VM has one pid namespace */
	}
	for (int i = 0; i < IX_SLOTS; i++) {
		uint64_t s = rnd(&seed);

		exporter[i] = fork();
		ASSERT_LE(0, exporter[i]);
		if (exporter[i] == 0)
			ix_exporter(b, i, s);
		kid_track(self, exporter[i]);
	}

	end = mono() + self->secs;
	while (mono() < end) {
		int status, idx = -1;
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid == 0) {
			race_sleep_us(2000);
			continue;
		}
		ASSERT_LT(0, pid) TH_LOG("waitpid: %s", strerror(errno));
		kid_untrack(self, pid);
		ASSERT_TRUE(exited_ok(status))
			TH_LOG("process %d failed (status 0x%x); seed 0x%016" PRIx64, pid, status,
			       self->seed);
		for (int i = 0; i < IX_SLOTS; i++)
			if (exporter[i] == pid)
				idx = i;
		ASSERT_LE(0, idx) TH_LOG("importer %d exited before the end", pid);
		/* Its file was released before it became reapable: revoked now. */
		uint64_t k = atomic_load(&b->slot[idx].key);

		if (k && atomic_load(&b->slot[idx].dead) != k) {
			atomic_store(&b->slot[idx].dead, k);
			atomic_fetch_add(&b->exits, 1);
		}
		uint64_t s = rnd(&seed);

		exporter[idx] = fork();
		ASSERT_LE(0, exporter[idx]);
		if (exporter[idx] == 0)
			ix_exporter(b, idx, s);
		kid_track(self, exporter[idx]);
		respawns++;
	}
	/* Exporters first: they whitelist the importers, which must still live. */
	atomic_store(&b->stop_exporters, 1);
	for (int i = 0; i < IX_SLOTS; i++) {
		int status = acl_wait(exporter[i]);

		kid_untrack(self, exporter[i]);
		EXPECT_TRUE(exited_ok(status))
			TH_LOG("exporter %d failed (status 0x%x); seed 0x%016" PRIx64, exporter[i],
			       status, self->seed);
	}
	atomic_store(&b->stop, 1);
	for (int i = 0; i < IX_IMPORTERS; i++) {
		int status = acl_wait(importer[i]);

		kid_untrack(self, importer[i]);
		EXPECT_TRUE(exited_ok(status))
			TH_LOG("importer %d failed (status 0x%x); seed 0x%016" PRIx64, importer[i],
			       status, self->seed);
	}
	TH_LOG("%ld exports, %ld revoked by free, %ld by exit; imports: %ld ok (memory checked), "
	       "%ld refused with 107017 (%ld of them after the revocation had returned); "
	       "%ld exporter respawns",
	       atomic_load(&b->exports), atomic_load(&b->frees), atomic_load(&b->exits),
	       atomic_load(&b->imports_ok), atomic_load(&b->refused),
	       atomic_load(&b->refused_dead), respawns);
	EXPECT_LT(0, atomic_load(&b->imports_ok));
	EXPECT_LT(0, atomic_load(&b->refused_dead));
	EXPECT_LT(0, atomic_load(&b->frees));
	EXPECT_LT(0, atomic_load(&b->exits));
}

/* ================================================================== */
/* 2. Free racing munmap (threads of one process)                      */
/* ================================================================== */

/* The counters that must be back at their start after every round. */
#define FM_MASK                                                              \
	(ACL_CNT_BIT(ACL_CNT_ALLOCATIONS) | ACL_CNT_BIT(ACL_CNT_ALLOCATED_BYTES) | \
	 ACL_CNT_BIT(ACL_CNT_MAPPINGS) | ACL_CNT_BIT(ACL_CNT_HANDLES) |       \
	 ACL_CNT_BIT(ACL_CNT_EXPORTS) | ACL_CNT_BIT(ACL_CNT_IMPORTS))

enum { FM_WHOLE, FM_SPLIT, FM_MOVE, FM_MAP_AGAIN, FM_QUERY, FM_NR };

struct fm_state {
	pthread_barrier_t go, done;
	_Atomic int stop;
	bool lib;
	int fd;				/* raw */
	/* This round, set by the main thread before "go". */
	uint32_t handle;		/* raw */
	uint64_t off;			/* raw */
	aclrtDrvMemHandle lh;		/* library */
	unsigned char *va, *alt;
	size_t len;
	uint64_t key;
	unsigned int variant;
	uint64_t spin_free, spin_unmap;
	/* Results. */
	int free_ret;
	long again_ok, again_refused;
	struct race_err err;
};

static void fm_check(struct fm_state *st, const void *va, const char *when)
{
	size_t bad = stamp_check(va, st->len, st->key);

	if (bad != st->len / SZ_4K)
		race_fail(&st->err, "%s: page %zu of the mapping holds 0x%016" PRIx64
			  " instead of its stamp 0x%016" PRIx64, when, bad, page_word(va, bad),
			  stamp_word(st->key, bad));
}

static void *fm_freer(void *arg)
{
	struct fm_state *st = arg;

	for (;;) {
		pthread_barrier_wait(&st->go);
		if (atomic_load(&st->stop))
			return NULL;
		race_spin(st->spin_free);
		if (st->lib)
			st->free_ret = aclrtFreePhysical(st->lh);
		else
			st->free_ret = acl_raw_free(st->fd, st->handle);
		pthread_barrier_wait(&st->done);
	}
}

static void fm_unmap_raw(struct fm_state *st)
{
	size_t len = st->len;
	void *p;

	switch (st->variant) {
	case FM_WHOLE:
		fm_check(st, st->va, "before munmap");
		if (munmap(st->va, len))
			race_fail(&st->err, "munmap: %s", strerror(errno));
		break;
	case FM_SPLIT:
		/* Splits the VMA (vm_ops->open on the new half), then unmaps both. */
		if (munmap(st->va + len / 2, acl_page_size()))
			race_fail(&st->err, "munmap of the middle page: %s", strerror(errno));
		if (page_word(st->va, 0) != stamp_word(st->key, 0) ||
		    page_word(st->va, len / SZ_4K - 1) != stamp_word(st->key, len / SZ_4K - 1))
			race_fail(&st->err, "the halves of a split mapping lost their stamp");
		if (munmap(st->va, len))
			race_fail(&st->err, "munmap of the halves: %s", strerror(errno));
		break;
	case FM_MOVE:
		p = mremap(st->va, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, st->alt);
		if (p != st->alt) {
			race_fail(&st->err, "mremap: %s", strerror(errno));
			munmap(st->va, len);
			break;
		}
		fm_check(st, st->alt, "after mremap");
		if (munmap(st->alt, len))
			race_fail(&st->err, "munmap after mremap: %s", strerror(errno));
		break;
	case FM_MAP_AGAIN:
		/* A second mapping of the handle races its free: it exists or not. */
		p = mmap(st->alt, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, st->fd,
			 (off_t)st->off);
		if (p == MAP_FAILED) {
			if (errno != ENOENT)
				race_fail(&st->err, "mmap racing FREE: %s (want success or ENOENT)",
					  strerror(errno));
			st->again_refused++;
			munmap(st->alt, len); /* MAP_FIXED took the placeholder away anyway */
		} else {
			st->again_ok++;
			fm_check(st, p, "second mapping");
			if (munmap(p, len))
				race_fail(&st->err, "munmap of the second mapping: %s",
					  strerror(errno));
		}
		fm_check(st, st->va, "first mapping");
		if (munmap(st->va, len))
			race_fail(&st->err, "munmap: %s", strerror(errno));
		break;
	default: {
		struct acl_share_query q;
		int r = acl_raw_query(st->fd, st->handle, &q);

		if (r && r != -ENOENT)
			race_fail(&st->err, "QUERY racing FREE: %s", strerror(-r));
		if (!r && (q.out_length != len || q.out_mmap_offset != st->off))
			race_fail(&st->err, "QUERY racing FREE described another allocation");
		fm_check(st, st->va, "after QUERY");
		if (munmap(st->va, len))
			race_fail(&st->err, "munmap: %s", strerror(errno));
		break;
	}
	}
}

static void fm_unmap_lib(struct fm_state *st)
{
	aclrtPhysicalMemProp prop;
	aclrtDrvMemHandle got = NULL;
	aclError e;
	unsigned char buf[64];

	switch (st->variant) {
	case FM_MAP_AGAIN:
		e = aclrtMapMem(st->alt, st->len, 0, st->lh, 0);
		if (e == ACL_SUCCESS) {
			st->again_ok++;
			fm_check(st, st->alt, "second mapping");
			e = aclrtUnmapMem(st->alt);
			if (e)
				race_fail(&st->err, "aclrtUnmapMem(second): %d %s", e,
					  aclGetRecentErrMsg());
		} else if (e == ACL_ERROR_RT_INVALID_HANDLE) {
			st->again_refused++;
		} else {
			race_fail(&st->err, "aclrtMapMem racing aclrtFreePhysical gave %d (want 0 or "
				  "107017): %s", e, aclGetRecentErrMsg());
		}
		break;
	case FM_QUERY:
		e = aclrtMemGetAllocationPropertiesFromHandle(st->lh, &prop);
		if (e != ACL_SUCCESS && e != ACL_ERROR_RT_INVALID_HANDLE)
			race_fail(&st->err, "properties racing free gave %d: %s", e,
				  aclGetRecentErrMsg());
		break;
	case FM_SPLIT:
		/* The mapping still names the handle, and a copy out of it works. */
		e = aclrtMemRetainAllocationHandle(st->va, &got);
		if (e || got != st->lh)
			race_fail(&st->err, "retain handle racing free: %d, %p (want %p)", e, got,
				  st->lh);
		e = aclrtMemcpy(buf, sizeof(buf), st->va + SZ_4K, sizeof(buf),
				ACL_MEMCPY_DEVICE_TO_HOST);
		if (e || page_word(buf, 0) != stamp_word(st->key, 1))
			race_fail(&st->err, "memcpy out of a mapping racing free: %d", e);
		break;
	default:
		break;
	}
	fm_check(st, st->va, "before aclrtUnmapMem");
	e = aclrtUnmapMem(st->va);
	if (e)
		race_fail(&st->err, "aclrtUnmapMem racing free: %d %s", e, aclGetRecentErrMsg());
}

static void *fm_unmapper(void *arg)
{
	struct fm_state *st = arg;

	for (;;) {
		pthread_barrier_wait(&st->go);
		if (atomic_load(&st->stop))
			return NULL;
		race_spin(st->spin_unmap);
		if (st->lib)
			fm_unmap_lib(st);
		else
			fm_unmap_raw(st);
		pthread_barrier_wait(&st->done);
	}
}

/*
 * Runs rounds until the time is up. Each round maps a fresh allocation
 * (64 KiB of base pages, or every fourth round 2 MiB of huge pages),
 * stamps it, sometimes exports it, then lets the two threads go.
 * Returns the number of rounds, or -1 after a failure (in st->err).
 */
static long fm_run(struct __test_metadata *_metadata, struct fm_state *st,
		   const struct acl_counters *start, uint64_t seed, unsigned int secs)
{
	pthread_t tf, tu;
	double end = mono() + secs;
	void *resv[2] = { NULL, NULL };
	long rounds = 0;

	ASSERT_EQ(0, pthread_barrier_init(&st->go, NULL, 3));
	ASSERT_EQ(0, pthread_barrier_init(&st->done, NULL, 3));
	race_err_init(&st->err);
	if (st->lib) {
		ASSERT_ACL_OK(aclrtSetDevice(0));
		for (int i = 0; i < 2; i++)
			ASSERT_ACL_OK(aclrtReserveMemAddress(&resv[i], SZ_2M, 0, NULL, 0));
	} else {
		st->fd = open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, st->fd) TH_LOG("open: %s", strerror(errno));
	}
	ASSERT_EQ(0, pthread_create(&tf, NULL, fm_freer, st));
	ASSERT_EQ(0, pthread_create(&tu, NULL, fm_unmapper, st));

	while (mono() < end && !atomic_load(&st->err.n)) {
		bool huge = rounds % 4 == 3, exp = rnd(&seed) & 1;
		uint64_t key;
		int r;

		st->len = huge ? SZ_2M : 64 * 1024UL;
		st->variant = rnd(&seed) % FM_NR;
		st->spin_free = rnd(&seed) % 20000;
		st->spin_unmap = rnd(&seed) % 20000;
		st->key = rnd(&seed);
		if (st->lib) {
			aclrtPhysicalMemProp prop = huge ?
				acl_prop(ATTR_HUGE, ACL_MEM_LOCATION_TYPE_DEVICE, 0) :
				acl_prop(ATTR_NORMAL, ACL_MEM_LOCATION_TYPE_HOST, 0);
			aclError e = aclrtMallocPhysical(&st->lh, st->len, &prop, 0);

			if (e) {
				race_fail(&st->err, "aclrtMallocPhysical: %d %s", e,
					  aclGetRecentErrMsg());
				break;
			}
			st->va = resv[0];
			st->alt = resv[1];
			e = aclrtMapMem(st->va, st->len, 0, st->lh, 0);
			if (e) {
				race_fail(&st->err, "aclrtMapMem: %d %s", e, aclGetRecentErrMsg());
				aclrtFreePhysical(st->lh);
				break;
			}
			if (exp && aclrtMemExportToShareableHandle(st->lh, ACL_MEM_HANDLE_TYPE_NONE,
								   0, &key)) {
				race_fail(&st->err, "export: %s", aclGetRecentErrMsg());
				aclrtUnmapMem(st->va);
				aclrtFreePhysical(st->lh);
				break;
			}
		} else {
			r = acl_raw_alloc(st->fd, st->len, huge ? ATTR_HUGE : ATTR_NORMAL,
					  huge ? ACL_SHARE_LOC_DEVICE : ACL_SHARE_LOC_HOST, 0,
					  &st->handle, &st->off);
			if (r) {
				race_fail(&st->err, "ALLOC: %s", strerror(-r));
				break;
			}
			st->va = mmap(NULL, st->len, PROT_READ | PROT_WRITE, MAP_SHARED, st->fd,
				      (off_t)st->off);
			/* The target of mremap and of the second mapping. */
			st->alt = mmap(NULL, st->len, PROT_NONE,
				       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
			if (st->va == MAP_FAILED || st->alt == MAP_FAILED) {
				race_fail(&st->err, "mmap: %s", strerror(errno));
				break;
			}
			if (exp) {
				struct acl_share_export ex = {
					.size = sizeof(ex),
					.handle = st->handle,
					.share_type = ACL_SHARE_HANDLE_DEFAULT,
					.shareable_uptr = (uintptr_t)&key,
					.shareable_len = sizeof(key),
				};

				r = acl_ioctl(st->fd, ACL_SHARE_IOC_EXPORT, &ex);
				if (r) {
					race_fail(&st->err, "EXPORT: %s", strerror(-r));
					break;
				}
			}
		}
		stamp(st->va, st->len, st->key);

		pthread_barrier_wait(&st->go);
		pthread_barrier_wait(&st->done);
		rounds++;

		/* The handle went exactly once, the memory with the last holder. */
		if (st->free_ret != 0)
			race_fail(&st->err, "round %ld: the free racing the unmap gave %d", rounds,
				  st->free_ret);
		if (st->lib) {
			aclError e = aclrtFreePhysical(st->lh);

			if (e != ACL_ERROR_RT_INVALID_HANDLE)
				race_fail(&st->err, "round %ld: second aclrtFreePhysical gave %d "
					  "(want 107017)", rounds, e);
		} else {
			struct acl_share_query q;

			r = acl_raw_free(st->fd, st->handle);
			if (r != -ENOENT)
				race_fail(&st->err, "round %ld: second FREE gave %d (want -ENOENT)",
					  rounds, r);
			r = acl_raw_query(st->fd, st->handle, &q);
			if (r != -ENOENT)
				race_fail(&st->err, "round %ld: QUERY after FREE gave %d", rounds, r);
			/* MOVE and MAP_AGAIN unmapped it already. */
			if (st->variant != FM_MOVE && st->variant != FM_MAP_AGAIN)
				munmap(st->alt, st->len);
		}
		if (acl_counters_diff(start, FM_MASK) != 0)
			race_fail(&st->err, "round %ld (variant %u, %s): counters not back at their "
				  "start (printed above)", rounds, st->variant,
				  huge ? "2 MiB" : "64 KiB");
	}

	atomic_store(&st->stop, 1);
	pthread_barrier_wait(&st->go);
	pthread_join(tf, NULL);
	pthread_join(tu, NULL);
	pthread_barrier_destroy(&st->go);
	pthread_barrier_destroy(&st->done);
	if (st->lib) {
		for (int i = 0; i < 2; i++)
			EXPECT_ACL_OK(aclrtReleaseMemAddress(resv[i]));
	} else {
		close(st->fd);
	}
	return atomic_load(&st->err.n) ? -1 : rounds;
}

TEST_F_TIMEOUT(race, free_vs_munmap_raw, RACE_TIMEOUT)
{
	struct fm_state st = { .lib = false, .fd = -1 };
	long rounds = fm_run(_metadata, &st, &self->start, self->seed, self->secs);

	ASSERT_LE(0, rounds) TH_LOG("%s; seed 0x%016" PRIx64, st.err.msg, self->seed);
	TH_LOG("%ld rounds; second mmap racing FREE: %ld mapped, %ld ENOENT", rounds,
	       st.again_ok, st.again_refused);
	EXPECT_LT(0, rounds);
}

TEST_F_TIMEOUT(race, free_vs_unmap_lib, RACE_TIMEOUT)
{
	struct fm_state st = { .lib = true, .fd = -1 };
	long rounds;

	self->mask = ACL_CNT_LIVE_NO_OPENS;
	rounds = fm_run(_metadata, &st, &self->start, self->seed, self->secs);
	ASSERT_LE(0, rounds) TH_LOG("%s; seed 0x%016" PRIx64, st.err.msg, self->seed);
	TH_LOG("%ld rounds; aclrtMapMem racing aclrtFreePhysical: %ld mapped, %ld 107017",
	       rounds, st.again_ok, st.again_refused);
	EXPECT_LT(0, rounds);
}

/* ================================================================== */
/* 3. SetPid racing import                                             */
/* ================================================================== */

#define SP_FILLERS 256	/* processes named between the two importers */
#define SP_SIDE 4	/* processes named by a call that names no importer */
#define SP_SIZE (64 * 1024UL)

struct sp_box {
	struct share_token tok;		/* this round's export, written before round */
	uint64_t stamp;
	_Atomic int round, round_end;
	_Atomic int started, done;	/* round whose naming SetPid began / returned */
	_Atomic int ok[2], finished[2];
	_Atomic int stop;
	_Atomic long attempts[2], refused[2];
};

static void sp_importer(struct sp_box *b, int r, int cpu)
{
	void *va = NULL;
	int last = 0;

	if (cpu >= 0)
		pin_to_cpu(cpu);
	CHILD_CHECK(aclrtSetDevice(0) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
	CHILD_CHECK(aclrtReserveMemAddress(&va, SP_SIZE, 0, NULL, 0) == ACL_SUCCESS, "%s",
		    aclGetRecentErrMsg());
	while (!atomic_load(&b->stop)) {
		int round = atomic_load(&b->round);
		struct share_token tok;

		if (round == last || atomic_load(&b->round_end) == round) {
			sched_yield();
			continue;
		}
		tok = b->tok;
		while (!atomic_load(&b->stop)) {
			bool done_before = atomic_load(&b->done) == round;
			bool peer_before = atomic_load(&b->ok[1 - r]) == round;
			aclrtDrvMemHandle h = NULL;
			bool started_after;
			size_t bad;
			aclError e;

			e = share_import(&tok, &h);
			started_after = atomic_load(&b->started) == round;
			atomic_fetch_add(&b->attempts[r], 1);
			if (e == ACL_SUCCESS) {
				CHILD_CHECK(started_after, "round %d: import succeeded before the "
					    "SetPid naming this process was called", round);
				atomic_store(&b->ok[r], round);
				sched_yield(); /* let the peer try at once */
				e = aclrtMapMem(va, SP_SIZE, 0, h, 0);
				CHILD_CHECK(e == ACL_SUCCESS, "map: %d %s", e, aclGetRecentErrMsg());
				bad = stamp_check(va, SP_SIZE, b->stamp);
				CHILD_CHECK(bad == SP_SIZE / SZ_4K, "round %d: imported memory differs "
					    "at page %zu", round, bad);
				CHILD_CHECK(aclrtUnmapMem(va) == ACL_SUCCESS, "%s",
					    aclGetRecentErrMsg());
				CHILD_CHECK(aclrtFreePhysical(h) == ACL_SUCCESS, "%s",
					    aclGetRecentErrMsg());
				atomic_store(&b->finished[r], round);
				break;
			}
			atomic_fetch_add(&b->refused[r], 1);
			CHILD_CHECK(e == ACL_ERROR_RT_DRV_INTERNAL_ERROR, "round %d: import gave %d "
				    "(want 0 or 507899): %s", round, e, aclGetRecentErrMsg());
			CHILD_CHECK(!done_before, "round %d: import refused after the SetPid naming "
				    "this process had returned: %s", round, aclGetRecentErrMsg());
			CHILD_CHECK(!peer_before, "round %d: SetPid is not atomic: the other process "
				    "named by the same call had already imported, this one was "
				    "refused: %s", round, aclGetRecentErrMsg());
		}
		last = round;
	}
	_exit(0);
}

static aclError sp_set_pid(struct share_token *t, int32_t *pids, size_t n)
{
	return aclrtMemSetPidToShareableHandleV2(share_token_ptr(t), t->type, pids, n);
}

static void sp_shuffle(int32_t *a, size_t n, uint64_t *seed)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = rnd(seed) % i;
		int32_t t = a[i - 1];

		a[i - 1] = a[j];
		a[j] = t;
	}
}

/* Checks that no importer has died; false (with its status logged) if one has. */
static bool sp_importers_alive(struct __test_metadata *_metadata, FIXTURE_DATA(race) *self,
			       pid_t *imp)
{
	for (int i = 0; i < 2; i++) {
		int status;
		pid_t p = waitpid(imp[i], &status, WNOHANG);

		if (p == imp[i]) {
			kid_untrack(self, p);
			imp[i] = 0;
			TH_LOG("importer %d ended early (status 0x%x); seed 0x%016" PRIx64, p,
			       status, self->seed);
			return false;
		}
	}
	return true;
}

TEST_F_TIMEOUT(race, setpid_vs_import, RACE_TIMEOUT)
{
	int32_t all[SP_FILLERS + SP_SIDE + 3];
	int32_t fill[SP_FILLERS], side[SP_SIDE];
	uint64_t seed = self->seed;
	int hold[2], ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	pid_t imp[2];
	struct sp_box *b;
	long failing_calls = 0;
	double end;
	int round;

	self->mask = ACL_CNT_LIVE_NO_OPENS;
	b = shared_alloc(sizeof(*b));
	ASSERT_NE(MAP_FAILED, b);
	self->box = b;
	self->box_len = sizeof(*b);

	/* Live processes to name: they wait for EOF on a pipe. */
	ASSERT_EQ(0, pipe2(hold, O_CLOEXEC));
	for (int i = 0; i < SP_FILLERS + SP_SIDE; i++) {
		pid_t p = fork();
		char c;

		ASSERT_LE(0, p);
		if (p == 0) {
			close(hold[1]);
			while (read(hold[0], &c, 1) < 0 && errno == EINTR)
				;
			_exit(0);
		}
		kid_track(self, p);
		if (i < SP_FILLERS)
			fill[i] = p;
		else
			side[i - SP_FILLERS] = p;
	}
	close(hold[0]);
	for (int i = 0; i < 2; i++) {
		imp[i] = fork();
		ASSERT_LE(0, imp[i]);
		if (imp[i] == 0) {
			close(hold[1]);
			sp_importer(b, i, ncpu > 1 ? 1 : -1);
		}
		kid_track(self, imp[i]);
	}
	if (ncpu > 1)
		pin_to_cpu(0);
	ASSERT_ACL_OK(aclrtSetDevice(0));

	end = mono() + self->secs;
	for (round = 1; mono() < end; round++) {
		int32_t first = imp[round & 1], second = imp[!(round & 1)];
		struct acl_mapping m;
		double deadline;
		size_t n;
		aclError e;

		ASSERT_ACL_OK(acl_map_new(&m, SP_SIZE, ATTR_NORMAL, ACL_MEM_LOCATION_TYPE_HOST, 0));
		b->stamp = rnd(&seed);
		stamp(m.va, SP_SIZE, b->stamp);
		ASSERT_ACL_OK(share_export(m.handle, ACL_RT_VMM_EXPORT_FLAG_DEFAULT,
					   round % 3 ? ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT :
						       ACL_MEM_SHARE_HANDLE_TYPE_FABRIC, &b->tok));
		atomic_store(&b->round, round);
		race_sleep_us(rnd(&seed) % 1000);

		/* Calls that fail (a dead pid among them) add nothing at all. */
		for (int k = 1 + (int)(rnd(&seed) % 3); k > 0; k--) {
			n = 0;
			all[n++] = first;
			all[n++] = second;
			for (int i = 0; i < SP_FILLERS; i += 1 + (int)(rnd(&seed) % 8))
				all[n++] = fill[i];
			all[n++] = share_dead_pid();
			sp_shuffle(all, n, &seed);
			e = sp_set_pid(&b->tok, all, n);
			ASSERT_EQ(ACL_ERROR_RT_PARAM_INVALID, e)
				TH_LOG("SetPid with a dead pid: %s", aclGetRecentErrMsg());
			failing_calls++;
		}
		/* A call that succeeds but names neither importer. */
		ASSERT_ACL_OK(sp_set_pid(&b->tok, side, SP_SIDE));
		race_sleep_us(rnd(&seed) % 500);

		/* The call that names both, as far apart in it as possible. */
		n = 0;
		all[n++] = first;
		for (int i = 0; i < SP_FILLERS; i++)
			all[n++] = fill[i];
		all[n++] = second;
		atomic_store(&b->started, round);
		e = sp_set_pid(&b->tok, all, n);
		atomic_store(&b->done, round);
		ASSERT_ACL_OK(e);

		deadline = mono() + 30;
		while (atomic_load(&b->finished[0]) != round ||
		       atomic_load(&b->finished[1]) != round) {
			ASSERT_TRUE(sp_importers_alive(_metadata, self, imp));
			ASSERT_GT(deadline, mono()) TH_LOG("round %d: an importer never got in", round);
			race_sleep_us(200);
		}
		atomic_store(&b->round_end, round);
		ASSERT_ACL_OK(acl_map_delete(&m));
	}
	atomic_store(&b->stop, 1);
	close(hold[1]);
	for (int i = 0; i < self->nkids; i++) {
		int status;

		if (self->kids[i] <= 0)
			continue;
		status = acl_wait(self->kids[i]);
		EXPECT_TRUE(exited_ok(status))
			TH_LOG("process %d failed (status 0x%x); seed 0x%016" PRIx64, self->kids[i],
			       status, self->seed);
		self->kids[i] = 0;
	}
	TH_LOG("%d rounds, %ld failing SetPid calls; import attempts %ld/%ld, refused %ld/%ld",
	       round - 1, failing_calls, atomic_load(&b->attempts[0]),
	       atomic_load(&b->attempts[1]), atomic_load(&b->refused[0]),
	       atomic_load(&b->refused[1]));
	EXPECT_LT(1, round);
	EXPECT_LT(0, atomic_load(&b->refused[0]) + atomic_load(&b->refused[1]));
}

/* ================================================================== */
/* 4. close racing an in-flight ioctl                                  */
/* ================================================================== */

#define CI_WORKERS 2
#define CI_SIZE (256 * 1024UL)
#define CI_MAX_HANDLES 6

enum { CI_INFO, CI_ALLOC, CI_QUERY, CI_FREE, CI_EXPORT, CI_IMPORT, CI_MMAP, CI_OPS };

static const char *const ci_names[CI_OPS] = {
	"INFO", "ALLOC", "QUERY", "FREE", "EXPORT", "IMPORT", "mmap",
};

/*
 * The errnos each call may give here besides EBADF (the descriptor was
 * closed) per the uapi header: ENOENT for a handle number the file now
 * behind the descriptor does not hold; for EXPORT also EEXIST (that file's
 * handle of that number is exported) and EPERM (it is an import there);
 * for IMPORT EEXIST (that file already imported the export).
 */
static bool ci_allowed(int op, int err)
{
	if (err == 0 || err == EBADF)
		return true;
	switch (op) {
	case CI_QUERY:
	case CI_FREE:
	case CI_MMAP:
		return err == ENOENT;
	case CI_EXPORT:
		return err == ENOENT || err == EEXIST || err == EPERM;
	case CI_IMPORT:
		return err == EEXIST;
	default:
		return false;
	}
}

struct ci_state {
	_Atomic int fd;
	_Atomic int stop;
	uint64_t helper_key;
	_Atomic long ok[CI_OPS], ebadf[CI_OPS], other[CI_OPS], swaps;
	struct race_err err;
};

struct ci_worker {
	struct ci_state *st;
	uint64_t seed;
};

static void ci_result(struct ci_state *st, int op, int err)
{
	if (!ci_allowed(op, err))
		race_fail(&st->err, "%s on a descriptor being closed gave %s (%d)", ci_names[op],
			  strerrorname_np(err) ? strerrorname_np(err) : "?", err);
	else if (err == 0)
		atomic_fetch_add(&st->ok[op], 1);
	else if (err == EBADF)
		atomic_fetch_add(&st->ebadf[op], 1);
	else
		atomic_fetch_add(&st->other[op], 1);
}

static void *ci_work(void *arg)
{
	struct ci_worker *w = arg;
	struct ci_state *st = w->st;
	uint32_t hs[CI_MAX_HANDLES];
	int nh = 0;

	while (!atomic_load(&st->stop) && !atomic_load(&st->err.n)) {
		int fd = atomic_load(&st->fd), op = (int)(rnd(&w->seed) % CI_OPS), r, slot = -1;
		uint32_t h = 1 + (uint32_t)(rnd(&w->seed) % 4);

		if (nh) {
			slot = (int)(rnd(&w->seed) % nh);
			h = hs[slot];
		}
		if ((op == CI_ALLOC || op == CI_IMPORT) && nh == CI_MAX_HANDLES)
			op = CI_FREE;

		switch (op) {
		case CI_INFO: {
			struct acl_share_info info;

			r = acl_raw_info(fd, &info);
			if (!r && info.out_bare_tgid != (uint32_t)getpid())
				race_fail(&st->err, "INFO: bare tgid %u, want %d", info.out_bare_tgid,
					  getpid());
			break;
		}
		case CI_ALLOC: {
			uint32_t nhd;
			uint64_t off;

			r = acl_raw_alloc(fd, CI_SIZE, ATTR_NORMAL, ACL_SHARE_LOC_HOST, 0, &nhd, &off);
			if (!r) {
				if (off != acl_handle_mmap_offset(nhd))
					race_fail(&st->err, "ALLOC: offset 0x%" PRIx64 " of handle %u",
						  off, nhd);
				hs[nh++] = nhd;
			}
			break;
		}
		case CI_QUERY: {
			struct acl_share_query q;

			r = acl_raw_query(fd, h, &q);
			if (!r && (q.out_length != CI_SIZE ||
				   q.out_mmap_offset != acl_handle_mmap_offset(h) ||
				   q.out_flags & ~(uint32_t)(ACL_SHARE_QUERY_IMPORTED |
							     ACL_SHARE_QUERY_EXPORTED)))
				race_fail(&st->err, "QUERY of %u: length %llu, offset 0x%llx, flags 0x%x",
					  h, (unsigned long long)q.out_length,
					  (unsigned long long)q.out_mmap_offset, q.out_flags);
			break;
		}
		case CI_FREE:
			r = acl_raw_free(fd, h);
			if (slot >= 0)
				hs[slot] = hs[--nh];
			break;
		case CI_EXPORT: {
			uint64_t key = 0;
			struct acl_share_export ex = {
				.size = sizeof(ex),
				.flags = rnd(&w->seed) & 1 ? ACL_SHARE_EXPORT_NO_PID_CHECK : 0,
				.handle = h,
				.share_type = ACL_SHARE_HANDLE_DEFAULT,
				.shareable_uptr = (uintptr_t)&key,
				.shareable_len = sizeof(key),
			};

			r = acl_ioctl(fd, ACL_SHARE_IOC_EXPORT, &ex);
			if (!r && !key)
				race_fail(&st->err, "EXPORT succeeded with a zero key");
			break;
		}
		case CI_IMPORT: {
			struct acl_share_import im = {
				.size = sizeof(im),
				.share_type = ACL_SHARE_HANDLE_DEFAULT,
				.shareable_len = sizeof(st->helper_key),
				.shareable_uptr = (uintptr_t)&st->helper_key,
			};

			r = acl_ioctl(fd, ACL_SHARE_IOC_IMPORT, &im);
			if (!r) {
				if (im.out_mmap_offset != acl_handle_mmap_offset(im.out_handle))
					race_fail(&st->err, "IMPORT: offset 0x%llx of handle %u",
						  (unsigned long long)im.out_mmap_offset, im.out_handle);
				hs[nh++] = im.out_handle;
			}
			break;
		}
		default: {
			unsigned char *p = mmap(NULL, CI_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
						(off_t)acl_handle_mmap_offset(h));

			r = p == MAP_FAILED ? errno : 0;
			if (!r) {
				/* Either one of ours (never written) or the helper's. */
				bool zero = page_word(p, 0) == 0;
				size_t bad = stamp_check(p, CI_SIZE, st->helper_key);

				if (zero ? first_diff_byte(p, CI_SIZE, 0) != CI_SIZE :
					   bad != CI_SIZE / SZ_4K)
					race_fail(&st->err, "mmap of handle %u reached memory that is "
						  "neither zero nor the helper's", h);
				munmap(p, CI_SIZE);
			}
			break;
		}
		}
		ci_result(st, op, r < 0 ? -r : r);
	}
	return NULL;
}

static void *ci_close(void *arg)
{
	struct ci_worker *w = arg;
	struct ci_state *st = w->st;

	while (!atomic_load(&st->stop) && !atomic_load(&st->err.n)) {
		int old = atomic_load(&st->fd), nfd;

		race_sleep_us(rnd(&w->seed) % 400);
		if (rnd(&w->seed) & 1) {
			/* The number is free for a moment, then (usually) reused. */
			if (close(old))
				race_fail(&st->err, "close: %s", strerror(errno));
			nfd = open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC);
			if (nfd < 0) {
				race_fail(&st->err, "reopen: %s", strerror(errno));
				break;
			}
			atomic_store(&st->fd, nfd);
		} else {
			/* The number switches files atomically; the old file is closed. */
			nfd = open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC);
			if (nfd < 0) {
				race_fail(&st->err, "open: %s", strerror(errno));
				break;
			}
			if (dup3(nfd, old, O_CLOEXEC) != old)
				race_fail(&st->err, "dup3: %s", strerror(errno));
			close(nfd);
		}
		atomic_fetch_add(&st->swaps, 1);
	}
	return NULL;
}

TEST_F_TIMEOUT(race, close_vs_ioctl, RACE_TIMEOUT)
{
	struct ci_worker w[CI_WORKERS + 1];
	pthread_t t[CI_WORKERS + 1];
	uint64_t seed = self->seed;
	struct ci_state *st;
	struct acl_chan ch;
	struct timespec ts;
	bool hung = false;
	pid_t helper;

	st = calloc(1, sizeof(*st));
	ASSERT_NE(NULL, st);
	race_err_init(&st->err);

	/* Another process exports something every file may import. */
	ASSERT_EQ(0, acl_chan_init(&ch));
	helper = fork();
	ASSERT_LE(0, helper);
	if (helper == 0) {
		struct acl_mapping m;
		uint64_t key = 0;
		aclError e;

		acl_chan_child(&ch);
		e = acl_map_new(&m, CI_SIZE, ATTR_NORMAL, ACL_MEM_LOCATION_TYPE_HOST, 0);
		CHILD_CHECK(e == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
		e = aclrtMemExportToShareableHandle(m.handle, ACL_MEM_HANDLE_TYPE_NONE,
						    ACL_RT_VMM_EXPORT_FLAG_DISABLE_PID_VALIDATION, &key);
		CHILD_CHECK(e == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
		stamp(m.va, CI_SIZE, key);
		CHILD_CHECK(acl_send_val(&ch, &key, sizeof(key)) == 0, "send key");
		/* Stays until the parent says 'q' (or goes away: EOF). */
		{
			char c;

			while (read(ch.rd, &c, 1) < 0 && errno == EINTR)
				;
		}
		CHILD_CHECK(acl_map_delete(&m) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
		_exit(0);
	}
	kid_track(self, helper);
	acl_chan_parent(&ch);
	ASSERT_EQ(0, acl_recv_val(&ch, &st->helper_key, sizeof(st->helper_key)));

	atomic_store(&st->fd, open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC));
	ASSERT_LE(0, atomic_load(&st->fd));
	for (int i = 0; i <= CI_WORKERS; i++) {
		w[i].st = st;
		w[i].seed = rnd(&seed);
		ASSERT_EQ(0, pthread_create(&t[i], NULL, i < CI_WORKERS ? ci_work : ci_close, &w[i]));
	}
	race_sleep_us((uint64_t)self->secs * 1000000);
	atomic_store(&st->stop, 1);
	/* Nothing may hang: every thread ends within 30 s of being told. */
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 30;
	for (int i = 0; i <= CI_WORKERS; i++) {
		int r = pthread_timedjoin_np(t[i], NULL, &ts);

		if (r) {
			hung = true;
			TH_LOG("thread %d did not end: %s", i, strerror(r));
		}
	}
	ASSERT_FALSE(hung);
	close(atomic_load(&st->fd));
	ASSERT_EQ(0, acl_tell(&ch, 'q'));
	ASSERT_CHILD_OK(helper);
	kid_untrack(self, helper);
	acl_chan_close(&ch);

	ASSERT_EQ(0, atomic_load(&st->err.n)) TH_LOG("%s; seed 0x%016" PRIx64, st->err.msg,
						      self->seed);
	for (int op = 0; op < CI_OPS; op++)
		TH_LOG("%-6s ok %5ld  EBADF %4ld  documented errno %5ld", ci_names[op],
		       atomic_load(&st->ok[op]), atomic_load(&st->ebadf[op]),
		       atomic_load(&st->other[op]));
	TH_LOG("%ld closes/reopens", atomic_load(&st->swaps));
	EXPECT_LT(0, atomic_load(&st->swaps));
	EXPECT_LT(0, atomic_load(&st->ok[CI_ALLOC]));
	EXPECT_LT(0, atomic_load(&st->ok[CI_IMPORT]));
	free(st);
}

/* ================================================================== */
/* 5. fork racing map                                                  */
/* ================================================================== */

#define FK_SIZE (64 * 1024UL)
#define FK_KIDS 4

struct fk_state {
	_Atomic int stop;
	int raw_fd;
	unsigned char *raw_resv;		/* PROT_NONE placeholder, mapped over */
	_Atomic uint32_t raw_handle;
	void *lib_va;
	_Atomic uintptr_t lib_handle;
	_Atomic long raw_maps, lib_maps;
	uint64_t seed_raw, seed_lib;
	struct race_err err;
};

static void *fk_raw_mapper(void *arg)
{
	struct fk_state *st = arg;
	uint64_t seed = st->seed_raw, val = 0;
	uint32_t h = atomic_load(&st->raw_handle);
	int r;

	while (!atomic_load(&st->stop) && !atomic_load(&st->err.n)) {
		void *p = mmap(st->raw_resv, FK_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			       st->raw_fd, (off_t)acl_handle_mmap_offset(h));
		size_t bad;

		if (p == MAP_FAILED) {
			race_fail(&st->err, "raw mmap of handle %u: %s", h, strerror(errno));
			break;
		}
		bad = val ? stamp_check(p, FK_SIZE, val) : first_diff_byte(p, FK_SIZE, 0);
		if (val ? bad != FK_SIZE / SZ_4K : bad != FK_SIZE)
			race_fail(&st->err, "raw mapping of handle %u lost its content", h);
		val = rnd(&seed) | 1;
		stamp(p, FK_SIZE, val);
		race_spin(rnd(&seed) % 5000);
		/* Back to the placeholder: the acl_share VMA goes. */
		if (mmap(st->raw_resv, FK_SIZE, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) == MAP_FAILED)
			race_fail(&st->err, "placeholder: %s", strerror(errno));
		atomic_fetch_add(&st->raw_maps, 1);
		if (rnd(&seed) % 16 == 0) {
			uint32_t nh;

			r = acl_raw_alloc(st->raw_fd, FK_SIZE, ATTR_NORMAL, ACL_SHARE_LOC_HOST, 0, &nh,
					  NULL);
			if (r) {
				race_fail(&st->err, "ALLOC: %s", strerror(-r));
				break;
			}
			atomic_store(&st->raw_handle, nh);
			r = acl_raw_free(st->raw_fd, h);
			if (r)
				race_fail(&st->err, "FREE: %s", strerror(-r));
			h = nh;
			val = 0;
		}
	}
	return NULL;
}

static void *fk_lib_mapper(void *arg)
{
	struct fk_state *st = arg;
	uint64_t seed = st->seed_lib, val = 0;
	aclrtDrvMemHandle h = (aclrtDrvMemHandle)atomic_load(&st->lib_handle);
	aclrtPhysicalMemProp prop = acl_prop(ATTR_NORMAL, ACL_MEM_LOCATION_TYPE_HOST, 0);
	aclError e;

	while (!atomic_load(&st->stop) && !atomic_load(&st->err.n)) {
		size_t bad;

		e = aclrtMapMem(st->lib_va, FK_SIZE, 0, h, 0);
		if (e) {
			race_fail(&st->err, "aclrtMapMem: %d %s", e, aclGetRecentErrMsg());
			break;
		}
		bad = val ? stamp_check(st->lib_va, FK_SIZE, val) :
			    first_diff_byte(st->lib_va, FK_SIZE, 0);
		if (val ? bad != FK_SIZE / SZ_4K : bad != FK_SIZE)
			race_fail(&st->err, "library mapping lost its content");
		val = rnd(&seed) | 1;
		stamp(st->lib_va, FK_SIZE, val);
		race_spin(rnd(&seed) % 5000);
		e = aclrtUnmapMem(st->lib_va);
		if (e)
			race_fail(&st->err, "aclrtUnmapMem: %d %s", e, aclGetRecentErrMsg());
		atomic_fetch_add(&st->lib_maps, 1);
		if (rnd(&seed) % 16 == 0) {
			aclrtDrvMemHandle nh = NULL;

			e = aclrtMallocPhysical(&nh, FK_SIZE, &prop, 0);
			if (e) {
				race_fail(&st->err, "aclrtMallocPhysical: %d %s", e,
					  aclGetRecentErrMsg());
				break;
			}
			atomic_store(&st->lib_handle, (uintptr_t)nh);
			e = aclrtFreePhysical(h);
			if (e)
				race_fail(&st->err, "aclrtFreePhysical: %d %s", e,
					  aclGetRecentErrMsg());
			h = nh;
			val = 0;
		}
	}
	return NULL;
}

/* In the child: nothing of the parent's acl_share state is reachable. */
static void fk_child(struct fk_state *st, uint32_t rh, aclrtDrvMemHandle lh)
{
	struct acl_share_query q;
	aclrtPhysicalMemProp prop;
	aclrtDrvMemHandle got = NULL;
	uint32_t nh = 0;
	int n, sig, r;
	void *p;

	n = acl_count_vmas_of(ACL_MAP_PATH);
	CHILD_CHECK(n == 0, "the child sees %d mapping(s) of " ACL_MAP_PATH, n);
	sig = acl_probe(st->raw_resv, false);
	CHILD_CHECK(sig == SIGSEGV, "reading the parent's raw mapping address gave signal %d", sig);
	sig = acl_probe(st->lib_va, false);
	CHILD_CHECK(sig == SIGSEGV, "reading the parent's library mapping address gave signal %d",
		    sig);

	/* The inherited descriptor belongs to the parent: -EACCES for everything. */
	r = acl_raw_query(st->raw_fd, rh, &q);
	CHILD_CHECK(r == -EACCES, "QUERY of the parent's handle %u on the inherited fd: %d", rh, r);
	r = acl_raw_free(st->raw_fd, rh);
	CHILD_CHECK(r == -EACCES, "FREE of the parent's handle %u on the inherited fd: %d", rh, r);
	r = acl_raw_alloc(st->raw_fd, FK_SIZE, ATTR_NORMAL, ACL_SHARE_LOC_HOST, 0, &nh, NULL);
	CHILD_CHECK(r == -EACCES, "ALLOC on the inherited fd: %d", r);
	p = mmap(NULL, FK_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, st->raw_fd,
		 (off_t)acl_handle_mmap_offset(rh));
	CHILD_CHECK(p == MAP_FAILED && errno == EACCES,
		    "mmap of the parent's handle on the inherited fd: %p, %s", p, strerror(errno));

	/* The library starts afresh in the child: the parent's handle is unknown. */
	r = aclrtMemGetAllocationPropertiesFromHandle(lh, &prop);
	CHILD_CHECK(r == ACL_ERROR_RT_INVALID_HANDLE, "properties of the parent's handle: %d", r);
	r = aclrtFreePhysical(lh);
	CHILD_CHECK(r == ACL_ERROR_RT_INVALID_HANDLE, "freeing the parent's handle: %d", r);
	r = aclrtMemRetainAllocationHandle(st->lib_va, &got);
	CHILD_CHECK(r == ACL_ERROR_RT_PARAM_INVALID, "retain at the parent's mapping: %d", r);
	_exit(0);
}

TEST_F_TIMEOUT(race, fork_vs_map, RACE_TIMEOUT)
{
	aclrtPhysicalMemProp prop = acl_prop(ATTR_NORMAL, ACL_MEM_LOCATION_TYPE_HOST, 0);
	uint64_t seed = self->seed;
	aclrtDrvMemHandle lh = NULL;
	struct fk_state *st;
	pthread_t traw, tlib;
	long forks = 0, bad = 0;
	uint32_t rh = 0;
	int nkids = 0;
	double end;

	self->mask = ACL_CNT_LIVE_NO_OPENS;
	st = calloc(1, sizeof(*st));
	ASSERT_NE(NULL, st);
	race_err_init(&st->err);
	st->seed_raw = rnd(&seed);
	st->seed_lib = rnd(&seed);

	/* Inherited by every child (fork keeps descriptors, O_CLOEXEC or not). */
	st->raw_fd = open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, st->raw_fd);
	ASSERT_EQ(0, acl_raw_alloc(st->raw_fd, FK_SIZE, ATTR_NORMAL, ACL_SHARE_LOC_HOST, 0, &rh,
				   NULL));
	atomic_store(&st->raw_handle, rh);
	st->raw_resv = mmap(NULL, FK_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			    -1, 0);
	ASSERT_NE(MAP_FAILED, st->raw_resv);
	ASSERT_ACL_OK(aclrtMallocPhysical(&lh, FK_SIZE, &prop, 0));
	atomic_store(&st->lib_handle, (uintptr_t)lh);
	ASSERT_ACL_OK(aclrtReserveMemAddress(&st->lib_va, FK_SIZE, 0, NULL, 0));

	ASSERT_EQ(0, pthread_create(&traw, NULL, fk_raw_mapper, st));
	ASSERT_EQ(0, pthread_create(&tlib, NULL, fk_lib_mapper, st));
	/* Up to FK_KIDS children at a time, so that forks keep coming while some check. */
	end = mono() + self->secs;
	while (nkids || (mono() < end && !atomic_load(&st->err.n))) {
		uint32_t crh = atomic_load(&st->raw_handle);
		aclrtDrvMemHandle clh = (aclrtDrvMemHandle)atomic_load(&st->lib_handle);
		int status;
		pid_t pid;

		if (nkids < FK_KIDS && mono() < end && !atomic_load(&st->err.n)) {
			pid = fork();
			if (pid < 0) {
				race_fail(&st->err, "fork: %s", strerror(errno));
				continue;
			}
			if (pid == 0)
				fk_child(st, crh, clh);
			kid_track(self, pid);
			nkids++;
			forks++;
			race_spin(rnd(&seed) % 5000);
			continue;
		}
		pid = waitpid(-1, &status, 0);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			race_fail(&st->err, "waitpid: %s", strerror(errno));
			break;
		}
		kid_untrack(self, pid);
		nkids--;
		if (!exited_ok(status)) {
			bad++;
			race_fail(&st->err, "child %d ended with status 0x%x", pid, status);
		}
	}
	atomic_store(&st->stop, 1);
	pthread_join(traw, NULL);
	pthread_join(tlib, NULL);

	TH_LOG("%ld forks (%ld bad), %ld raw and %ld library map/touch/unmap cycles", forks, bad,
	       atomic_load(&st->raw_maps), atomic_load(&st->lib_maps));
	EXPECT_EQ(0, atomic_load(&st->err.n)) TH_LOG("%s; seed 0x%016" PRIx64, st->err.msg,
						      self->seed);
	EXPECT_EQ(0, acl_raw_free(st->raw_fd, atomic_load(&st->raw_handle)));
	EXPECT_EQ(0, close(st->raw_fd));
	munmap(st->raw_resv, FK_SIZE);
	EXPECT_ACL_OK(aclrtFreePhysical((aclrtDrvMemHandle)atomic_load(&st->lib_handle)));
	EXPECT_ACL_OK(aclrtReleaseMemAddress(st->lib_va));
	EXPECT_LT(0, forks);
	EXPECT_LT(0, atomic_load(&st->raw_maps));
	EXPECT_LT(0, atomic_load(&st->lib_maps));
	free(st);
}

TEST_HARNESS_MAIN
