// SPDX-License-Identifier: GPL-2.0
/*
 * threads_test - the library is safe to call from many threads at once.
 *
 * Each test runs in a fresh fork()ed child, which has not opened
 * /dev/acl_share yet (the library opens it on first use); the test process
 * itself never calls the library, so the fixture checks every live counter,
 * "opens" included, once the child is gone.
 *
 *  vmm_calls_race_the_lazy_open  NR_THREADS threads are released together
 *      by a barrier (start_together()), so that their first calls (different ones) race the
 *      lazy open. Each loops over MallocPhysical (page multiples of
 *      ACL_MEM_NORMAL and 2 MiB of ACL_MEM_HUGE, alternately), Reserve,
 *      Map, fill, GetAddressRange, RetainAllocationHandle (the same
 *      handle), GetAccess, GetAllocationPropertiesFromHandle, verify,
 *      Unmap, Release, FreePhysical; new memory is zero and no thread sees
 *      another's data. The current device is per thread: each sets
 *      t % device_count and reads back its own in every round; before it
 *      sets one, and in the main thread throughout, there is none (107002).
 *      Half way through the first round, with every thread holding one
 *      mapping, the child has exactly one descriptor of the device and the
 *      test process sees "opens" up by exactly 1 and allocations, handles,
 *      mappings and bytes up by exactly what the threads hold. After the
 *      threads are joined: everything but "opens" is back at the start.
 *  lazy_open_race_repeated  OPEN_ROUNDS fresh children, each with
 *      NR_THREADS threads whose first calls (SetDevice, GetDeviceCount,
 *      MallocPhysical, DeviceGetBareTgid) start at the same moment: each
 *      child ends with one descriptor and "opens" up by exactly 1, and its
 *      exit closes it (every live counter back after every round).
 *  copies_race_between_owned_and_shared_mappings  every thread owns two
 *      mappings (normal and huge) and a slice of one shared huge mapping
 *      whose other half is read by all. The threads loop aclrtMemset and
 *      aclrtMemcpy of every kind between them, while the mapping table
 *      changes under them (each maps and unmaps a scratch page per round);
 *      every copy moves exactly the intended bytes, a copy that crosses the
 *      end of a mapping is refused with 107000 and writes nothing, and at
 *      the end every slice holds its thread's last value.
 */
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "acl/acl.h"
#include "acl_test_util.h"

#define HOST ACL_MEM_LOCATION_TYPE_HOST

#define NR_THREADS 8
#define VMM_ROUNDS 50
#define COPY_ROUNDS 40
#define OPEN_ROUNDS 30
#define THREADS_TIMEOUT 120

/* The shared mapping of the copy test: a read-only half, then the slices. */
#define SHARED_SIZE SZ_2M
#define RO_SIZE (SHARED_SIZE / 2)
#define SLICE ((SHARED_SIZE - RO_SIZE) / NR_THREADS)
#define OWN_A_SIZE SLICE	/* ACL_MEM_NORMAL */
#define OWN_B_SIZE SZ_2M	/* ACL_MEM_HUGE */

static const char *recent(void)
{
	const char *m = aclGetRecentErrMsg();

	return m ? m : "(no message)";
}

/* In a worker thread: like CHILD_CHECK, naming the thread and its round. */
#define T_CHECK(w, cond, fmt, ...)                                                  \
	CHILD_CHECK(cond, "thread %d, round %d: " fmt " (recent error message: %s)", \
		    (w)->id, (w)->round, ##__VA_ARGS__, recent())

/* A library call in a worker thread that must succeed. */
#define T_OK(w, call)                                                               \
	do {                                                                        \
		aclError __e = (call);                                              \
		T_CHECK(w, __e == ACL_SUCCESS, "%s returned %d", #call, __e);       \
	} while (0)

/* The value a pattern seeded with @seed has at 8-byte word @i. */
static inline uint64_t pattern(uint64_t seed, size_t i)
{
	uint64_t x = seed ^ (i * 0x9e3779b97f4a7c15ULL);

	x ^= x >> 29;
	return x * 0xbf58476d1ce4e5b9ULL;
}

/*
 * The words a round writes: the first WORDS_PER_PAGE of every 4 KiB page
 * and the last WORDS_PER_PAGE of the range (every page is touched, so every
 * page faults). @fn is called with the index of each such word.
 */
#define WORDS_PER_PAGE 8

static size_t sampled_word(size_t len, size_t n)
{
	size_t pages = len / SZ_4K, per = WORDS_PER_PAGE;

	if (n < pages * per)
		return n / per * (SZ_4K / 8) + n % per;
	return len / 8 - per + (n - pages * per);
}

static size_t nr_sampled(size_t len)
{
	return (len / SZ_4K + 1) * WORDS_PER_PAGE;
}

static void fill_sampled(void *p, size_t len, uint64_t seed)
{
	uint64_t *w = p;

	for (size_t n = 0; n < nr_sampled(len); n++) {
		size_t i = sampled_word(len, n);

		w[i] = pattern(seed, i);
	}
}

/* Byte offset of the first sampled word that is not the pattern (or not 0), or @len. */
static size_t check_sampled(const void *p, size_t len, uint64_t seed, bool zero)
{
	const uint64_t *w = p;

	for (size_t n = 0; n < nr_sampled(len); n++) {
		size_t i = sampled_word(len, n);

		if (w[i] != (zero ? 0 : pattern(seed, i)))
			return i * 8;
	}
	return len;
}

/* Every word of [p, p + len), with @first the pattern index of p. */
static void fill_all(void *p, size_t len, uint64_t seed, size_t first)
{
	uint64_t *w = p;

	for (size_t i = 0; i < len / 8; i++)
		w[i] = pattern(seed, first + i);
}

static size_t check_all(const void *p, size_t len, uint64_t seed, size_t first)
{
	const uint64_t *w = p;

	for (size_t i = 0; i < len / 8; i++)
		if (w[i] != pattern(seed, first + i))
			return i * 8;
	return len;
}

/* Descriptors of this process open on ACL_DEV_PATH, or -errno. */
static int count_dev_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		char target[256];
		ssize_t len;

		if (e->d_name[0] == '.')
			continue;
		len = readlinkat(dirfd(d), e->d_name, target, sizeof(target) - 1);
		if (len < 0)
			continue;
		target[len] = '\0';
		if (!strcmp(target, ACL_DEV_PATH))
			n++;
	}
	closedir(d);
	return n;
}

FIXTURE(threads) {
	struct acl_counters start;
	unsigned long long device_count;
	struct acl_chan ch;
	pid_t child;
};

FIXTURE_SETUP(threads)
{
	self->child = -1;
	ASSERT_EQ(0, acl_read_counters(&self->start));
	ASSERT_EQ(0, acl_read_param("device_count", &self->device_count));
	ASSERT_LE(1ULL, self->device_count);
	ASSERT_EQ(0, acl_chan_init(&self->ch));
}

FIXTURE_TEARDOWN(threads)
{
	if (self->child > 0) {
		kill(self->child, SIGKILL);
		acl_wait(self->child);
	}
	acl_chan_close(&self->ch);
	/* The test process never used the library: "opens" is back too. */
	EXPECT_COUNTERS(self->start, ACL_CNT_LIVE);
}

/* What the threads of one child share. */
struct team {
	pthread_barrier_t go;		/* all threads: start together */
	_Atomic int passed;		/* threads that passed "go" */
	pthread_barrier_t held;		/* threads + main: every thread holds a mapping */
	pthread_barrier_t resume;	/* threads + main: the checks are done */
	uint32_t device_count;
	_Atomic uint64_t held_bytes;	/* of the mappings held at the rendezvous */
	struct acl_mapping shared;	/* the copy test's shared mapping */
};

struct worker {
	struct team *team;
	pthread_t th;
	int id;
	int round;
	int32_t device;
};

/*
 * Waits at the barrier, then until every thread has left it: the threads
 * that are running when the last one arrives start at the same moment.
 */
static void start_together(struct team *t)
{
	pthread_barrier_wait(&t->go);
	atomic_fetch_add(&t->passed, 1);
	while (atomic_load(&t->passed) < NR_THREADS)
		sched_yield();
}

/* ------------------------------------------------------------------ */
/* vmm_calls_race_the_lazy_open                                        */
/* ------------------------------------------------------------------ */

/* The current device of this thread is @want, or none when @want < 0. */
static void check_device(struct worker *w, int32_t want)
{
	int32_t dev = -1;
	aclError e = aclrtGetDevice(&dev);

	if (want < 0)
		T_CHECK(w, e == ACL_ERROR_RT_CONTEXT_NULL,
			"aclrtGetDevice gave %d (device %d) before aclrtSetDevice", e, dev);
	else
		T_CHECK(w, e == ACL_SUCCESS && dev == want,
			"aclrtGetDevice gave %d, device %d; this thread set %d", e, dev, want);
}

static void set_device(struct worker *w)
{
	uint32_t count = 0;

	T_OK(w, aclrtGetDeviceCount(&count));
	T_CHECK(w, count == w->team->device_count, "device count %u, the module says %u", count,
		w->team->device_count);
	check_device(w, -1);
	w->device = (int32_t)(w->id % count);
	T_OK(w, aclrtSetDevice(w->device));
	check_device(w, w->device);
}

/* One round; @rendezvous: stop half way with the mapping held. */
static void vmm_round(struct worker *w, bool rendezvous)
{
	bool huge = (w->round + w->id) % 2;
	size_t size = huge ? SZ_2M : acl_page_size() * (1 + (w->round * 7 + w->id) % 16);
	aclrtMemAttr attr = huge ? ACL_MEM_HUGE : ACL_MEM_NORMAL;
	aclrtPhysicalMemProp prop = acl_prop(attr, HOST, 0), got_prop;
	uint64_t seed = (uint64_t)w->id << 32 | (uint64_t)w->round;
	aclrtDrvMemHandle h = NULL, h2 = NULL;
	aclrtMemLocation loc;
	uint64_t flags = ~0ULL;
	size_t at, got_size = 0;
	void *va = NULL, *base = NULL;
	aclError e;

	T_OK(w, aclrtMallocPhysical(&h, size, &prop, 0));
	T_OK(w, aclrtReserveMemAddress(&va, size, 0, NULL, 0));
	T_OK(w, aclrtMapMem(va, size, 0, h, 0));

	at = check_sampled(va, size, 0, true);
	T_CHECK(w, at == size, "new memory (size %zu) is not zero at offset %zu", size, at);
	fill_sampled(va, size, seed);

	T_OK(w, aclrtMemGetAddressRange((char *)va + size / 2 + 5, &base, &got_size));
	T_CHECK(w, base == va && got_size == size, "address range %p + %zu, mapped %p + %zu",
		base, got_size, va, size);
	T_OK(w, aclrtMemRetainAllocationHandle((char *)va + size - 1, &h2));
	T_CHECK(w, h2 == h, "retained handle %p, mapped %p", h2, h);
	memset(&loc, 0xff, sizeof(loc));
	T_OK(w, aclrtMemGetAccess(va, &loc, &flags));
	T_CHECK(w, loc.type == HOST && loc.id == 0 && flags == ACL_RT_MEM_ACCESS_FLAGS_READWRITE,
		"access: location type %u id %u, flags %#llx", (unsigned)loc.type, loc.id,
		(unsigned long long)flags);
	T_OK(w, aclrtMemGetAllocationPropertiesFromHandle(h, &got_prop));
	T_CHECK(w, got_prop.memAttr == attr && got_prop.location.type == HOST,
		"properties: memAttr %u, location type %u", (unsigned)got_prop.memAttr,
		(unsigned)got_prop.location.type);
	check_device(w, w->device);

	at = check_sampled(va, size, seed, false);
	T_CHECK(w, at == size, "the pattern (size %zu) differs at offset %zu", size, at);

	if (rendezvous) {
		atomic_fetch_add(&w->team->held_bytes, size);
		pthread_barrier_wait(&w->team->held);
		pthread_barrier_wait(&w->team->resume);
		at = check_sampled(va, size, seed, false);
		T_CHECK(w, at == size, "after the rendezvous the pattern differs at %zu", at);
	}

	T_OK(w, aclrtUnmapMem(va));
	/* Still reserved by this thread: nobody else can have mapped it. */
	e = aclrtMemGetAddressRange(va, &base, &got_size);
	T_CHECK(w, e == ACL_ERROR_RT_PARAM_INVALID, "address range after unmap gave %d", e);
	T_OK(w, aclrtReleaseMemAddress(va));
	T_OK(w, aclrtFreePhysical(h));
	check_device(w, w->device);
}

static void *vmm_thread(void *arg)
{
	struct worker *w = arg;

	w->device = -1;
	check_device(w, -1);
	start_together(w->team);
	/* Different first calls race the lazy open. */
	switch (w->id % 3) {
	case 0:		/* aclrtGetDeviceCount, then aclrtSetDevice */
		set_device(w);
		vmm_round(w, true);
		break;
	case 1: {	/* aclrtSetDevice */
		w->device = (int32_t)(w->id % w->team->device_count);
		T_OK(w, aclrtSetDevice(w->device));
		check_device(w, w->device);
		vmm_round(w, true);
		break;
	}
	default:	/* aclrtMallocPhysical; the device is set after the first round */
		vmm_round(w, true);
		set_device(w);
		break;
	}
	for (w->round = 1; w->round < VMM_ROUNDS; w->round++)
		vmm_round(w, false);
	return NULL;
}

static void run_team(struct team *t, struct worker *w, void *(*fn)(void *), int round)
{
	for (int i = 0; i < NR_THREADS; i++) {
		int ret;

		w[i] = (struct worker){ .team = t, .id = i, .round = round, .device = -1 };
		ret = pthread_create(&w[i].th, NULL, fn, &w[i]);
		CHILD_CHECK(ret == 0, "pthread_create: %s", strerror(ret));
	}
}

static void join_team(struct worker *w)
{
	for (int i = 0; i < NR_THREADS; i++) {
		int ret = pthread_join(w[i].th, NULL);

		CHILD_CHECK(ret == 0, "pthread_join: %s", strerror(ret));
	}
}

/* In the child after the join: only the device stays open, and main has no device. */
static void child_after_join(const struct acl_counters *start)
{
	unsigned long long opens = 0;
	int32_t dev = -1;
	aclError e;
	int bad;

	e = aclrtGetDevice(&dev);
	CHILD_CHECK(e == ACL_ERROR_RT_CONTEXT_NULL,
		    "the main thread set no device, but aclrtGetDevice gave %d (device %d)", e,
		    dev);
	bad = acl_counters_diff(start, ACL_CNT_LIVE_NO_OPENS);
	CHILD_CHECK(bad == 0, "%d counter(s) not back at the start after the join", bad);
	CHILD_CHECK(acl_read_counter(ACL_CNT_OPENS, &opens) == 0, "read opens");
	CHILD_CHECK(opens == start->v[ACL_CNT_OPENS] + 1, "opens %llu at start, %llu now",
		    start->v[ACL_CNT_OPENS], opens);
	CHILD_CHECK(count_dev_fds() == 1, "%d descriptors of " ACL_DEV_PATH, count_dev_fds());
}

static void __attribute__((noreturn)) vmm_child(struct acl_chan *ch, uint32_t device_count,
						const struct acl_counters *start)
{
	struct worker w[NR_THREADS];
	static struct team t;
	uint64_t bytes;

	acl_chan_child(ch);
	CHILD_CHECK(count_dev_fds() == 0, "the device is open before the first call");
	t.device_count = device_count;
	CHILD_CHECK(pthread_barrier_init(&t.go, NULL, NR_THREADS) == 0, "barrier");
	CHILD_CHECK(pthread_barrier_init(&t.held, NULL, NR_THREADS + 1) == 0, "barrier");
	CHILD_CHECK(pthread_barrier_init(&t.resume, NULL, NR_THREADS + 1) == 0, "barrier");
	run_team(&t, w, vmm_thread, 0);

	/* Every thread holds one mapping: the parent counts. */
	pthread_barrier_wait(&t.held);
	CHILD_CHECK(count_dev_fds() == 1, "%d descriptors of " ACL_DEV_PATH " after the race",
		    count_dev_fds());
	bytes = atomic_load(&t.held_bytes);
	CHILD_CHECK(acl_send_val(ch, &bytes, sizeof(bytes)) == 0, "send");
	CHILD_CHECK(acl_hear(ch, 'c') == 0, "no go from the parent");
	pthread_barrier_wait(&t.resume);

	join_team(w);
	child_after_join(start);
	_exit(0);
}

TEST_F_TIMEOUT(threads, vmm_calls_race_the_lazy_open, THREADS_TIMEOUT)
{
	uint64_t bytes = 0;

	self->child = fork();
	ASSERT_LE(0, self->child);
	if (self->child == 0)
		vmm_child(&self->ch, (uint32_t)self->device_count, &self->start);
	acl_chan_parent(&self->ch);

	/* Half way through the first round: one open for the whole process. */
	ASSERT_EQ(0, acl_recv_val(&self->ch, &bytes, sizeof(bytes)))
		TH_LOG("the child did not reach the rendezvous");
	EXPECT_COUNTER_DELTA(self->start, ACL_CNT_OPENS, 1);
	EXPECT_COUNTER_DELTA(self->start, ACL_CNT_ALLOCATIONS, NR_THREADS);
	EXPECT_COUNTER_DELTA(self->start, ACL_CNT_HANDLES, NR_THREADS);
	EXPECT_COUNTER_DELTA(self->start, ACL_CNT_MAPPINGS, NR_THREADS);
	EXPECT_COUNTER_DELTA(self->start, ACL_CNT_ALLOCATED_BYTES, bytes);
	ASSERT_EQ(0, acl_tell(&self->ch, 'c'));

	ASSERT_CHILD_OK(self->child);
	self->child = -1;
}

/* ------------------------------------------------------------------ */
/* lazy_open_race_repeated                                             */
/* ------------------------------------------------------------------ */

/* One library call that opens the device, a different one per thread. */
static void *first_call_thread(void *arg)
{
	aclrtPhysicalMemProp prop = acl_prop(ACL_MEM_NORMAL, HOST, 0);
	struct worker *w = arg;
	aclrtDrvMemHandle h = NULL;
	uint32_t count = 0;
	int32_t tgid = 0;

	start_together(w->team);
	switch (w->id % 4) {
	case 0:
		T_OK(w, aclrtSetDevice(0));
		break;
	case 1:
		T_OK(w, aclrtGetDeviceCount(&count));
		T_CHECK(w, count == w->team->device_count, "device count %u", count);
		break;
	case 2:
		T_OK(w, aclrtMallocPhysical(&h, acl_page_size(), &prop, 0));
		T_OK(w, aclrtFreePhysical(h));
		break;
	default:
		T_OK(w, aclrtDeviceGetBareTgid(&tgid));
		T_CHECK(w, tgid > 0, "bare tgid %d", tgid);
		break;
	}
	return NULL;
}

static void __attribute__((noreturn)) first_call_child(uint32_t device_count, int round,
						       const struct acl_counters *start)
{
	struct worker w[NR_THREADS];
	static struct team t;
	unsigned long long opens = 0;
	int bad;

	CHILD_CHECK(count_dev_fds() == 0, "the device is open before the first call");
	t.device_count = device_count;
	CHILD_CHECK(pthread_barrier_init(&t.go, NULL, NR_THREADS) == 0, "barrier");
	run_team(&t, w, first_call_thread, round);
	join_team(w);
	CHILD_CHECK(count_dev_fds() == 1, "round %d: %d descriptors of " ACL_DEV_PATH, round,
		    count_dev_fds());
	CHILD_CHECK(acl_read_counter(ACL_CNT_OPENS, &opens) == 0, "read opens");
	CHILD_CHECK(opens == start->v[ACL_CNT_OPENS] + 1, "round %d: opens %llu at start, %llu now",
		    round, start->v[ACL_CNT_OPENS], opens);
	bad = acl_counters_diff(start, ACL_CNT_LIVE_NO_OPENS);
	CHILD_CHECK(bad == 0, "round %d: %d counter(s) not back at the start", round, bad);
	_exit(0);
}

/* Many fresh processes, each racing its first calls: one open each time. */
TEST_F_TIMEOUT(threads, lazy_open_race_repeated, THREADS_TIMEOUT)
{
	for (int round = 0; round < OPEN_ROUNDS; round++) {
		self->child = fork();
		ASSERT_LE(0, self->child);
		if (self->child == 0)
			first_call_child((uint32_t)self->device_count, round, &self->start);
		ASSERT_CHILD_OK(self->child);
		self->child = -1;
		/* The exit closed the one descriptor. */
		ASSERT_COUNTERS(self->start, ACL_CNT_LIVE) TH_LOG("after round %d", round);
	}
}

/* ------------------------------------------------------------------ */
/* copies_race_between_owned_and_shared_mappings                       */
/* ------------------------------------------------------------------ */

#define RO_SEED 0x5eedULL

/* The bytes at @p are all @v. */
static void check_bytes(struct worker *w, const char *what, const void *p, size_t len, int v)
{
	size_t at = first_diff_byte(p, len, (unsigned char)v);

	T_CHECK(w, at == len, "%s: byte %zu is 0x%02x, expected 0x%02x", what, at,
		((const unsigned char *)p)[at], (unsigned char)v);
}

static void copy_round(struct worker *w, struct acl_mapping *a, struct acl_mapping *b,
		       unsigned char *host)
{
	struct acl_mapping *s = &w->team->shared;
	char *slice = (char *)s->va + RO_SIZE + (size_t)w->id * SLICE;
	size_t boff = (size_t)((w->round + w->id) % (OWN_B_SIZE / SLICE)) * SLICE;
	size_t roff = (size_t)((w->round * 3 + w->id) % (RO_SIZE / SLICE)) * SLICE;
	int v = (w->id * 37 + w->round * 11 + 1) & 0xff;
	char *a_end = (char *)a->va + a->size;
	struct acl_mapping scratch;
	aclError e;
	size_t at;

	/* memset into A, then A -> B -> own slice of the shared mapping. */
	T_OK(w, aclrtMemset(a->va, a->size, v, SLICE));
	check_bytes(w, "A after memset", a->va, SLICE, v);
	T_OK(w, aclrtMemcpy((char *)b->va + boff, b->size - boff, a->va, SLICE,
			    ACL_MEMCPY_DEVICE_TO_DEVICE));
	check_bytes(w, "B after A -> B", (char *)b->va + boff, SLICE, v);
	T_OK(w, aclrtMemcpy(slice, SLICE, (char *)b->va + boff, SLICE,
			    ACL_MEMCPY_DEVICE_TO_DEVICE));
	check_bytes(w, "slice after B -> slice", slice, SLICE, v);

	/* The slice back to the host, and the host into A. */
	memset(host, ~v, SLICE);
	T_OK(w, aclrtMemcpy(host, SLICE, slice, SLICE, ACL_MEMCPY_DEVICE_TO_HOST));
	check_bytes(w, "host after slice -> host", host, SLICE, v);
	host[0] = (unsigned char)~v;
	T_OK(w, aclrtMemcpy(a->va, a->size, host, SLICE, ACL_MEMCPY_HOST_TO_DEVICE));
	T_CHECK(w, ((unsigned char *)a->va)[0] == (unsigned char)~v, "host -> A: first byte");
	check_bytes(w, "A after host -> A", (char *)a->va + 1, SLICE - 1, v);

	/* A part of the half everybody reads, into A (kind DEFAULT). */
	T_OK(w, aclrtMemcpy(a->va, a->size, (char *)s->va + roff, SLICE, ACL_MEMCPY_DEFAULT));
	at = check_all(a->va, SLICE, RO_SEED, roff / 8);
	T_CHECK(w, at == SLICE, "shared +%#zx -> A differs at %zu", roff, at);

	/* Crossing the end of A: refused, nothing written. */
	T_OK(w, aclrtMemset(a_end - SZ_4K, SZ_4K, 0x5a, SZ_4K));
	e = aclrtMemcpy(a_end - SZ_4K, 2 * SZ_4K, host, 2 * SZ_4K, ACL_MEMCPY_HOST_TO_DEVICE);
	T_CHECK(w, e == ACL_ERROR_RT_PARAM_INVALID, "a copy across the end of A gave %d", e);
	T_CHECK(w, aclGetRecentErrMsg() != NULL, "no message after the refused copy");
	check_bytes(w, "the end of A after a refused copy", a_end - SZ_4K, SZ_4K, 0x5a);

	/* The mapping table changes while the other threads look things up. */
	e = acl_map_new(&scratch, acl_page_size(), ACL_MEM_NORMAL, HOST, 0);
	T_CHECK(w, e == ACL_SUCCESS, "scratch mapping: %d", e);
	T_OK(w, aclrtMemset(scratch.va, scratch.size, v, scratch.size));
	check_bytes(w, "scratch after memset", scratch.va, scratch.size, v);
	T_OK(w, acl_map_delete(&scratch));

	/* Nobody wrote into this thread's slice meanwhile. */
	check_bytes(w, "slice at the end of the round", slice, SLICE, v);
}

static void *copy_thread(void *arg)
{
	struct worker *w = arg;
	struct acl_mapping a, b;
	unsigned char *host;
	aclError e;

	host = malloc(2 * SZ_4K > SLICE ? 2 * SZ_4K : SLICE);
	T_CHECK(w, host != NULL, "malloc");
	start_together(w->team);
	e = acl_map_new(&a, OWN_A_SIZE, ACL_MEM_NORMAL, HOST, 0);
	T_CHECK(w, e == ACL_SUCCESS, "mapping A: %d", e);
	e = acl_map_new(&b, OWN_B_SIZE, ACL_MEM_HUGE, HOST, 0);
	T_CHECK(w, e == ACL_SUCCESS, "mapping B: %d", e);
	for (w->round = 0; w->round < COPY_ROUNDS; w->round++)
		copy_round(w, &a, &b, host);
	T_OK(w, acl_map_delete(&a));
	T_OK(w, acl_map_delete(&b));
	free(host);
	return NULL;
}

static void __attribute__((noreturn)) copy_child(const struct acl_counters *start)
{
	struct worker w[NR_THREADS];
	static struct team t;
	size_t at;
	aclError e;

	e = acl_map_new(&t.shared, SHARED_SIZE, ACL_MEM_HUGE, HOST, 0);
	CHILD_CHECK(e == ACL_SUCCESS, "shared mapping: %d %s", e, recent());
	fill_all(t.shared.va, RO_SIZE, RO_SEED, 0);
	CHILD_CHECK(pthread_barrier_init(&t.go, NULL, NR_THREADS) == 0, "barrier");
	run_team(&t, w, copy_thread, 0);
	join_team(w);

	/* Each slice holds its thread's last value; the read half is intact. */
	for (int i = 0; i < NR_THREADS; i++) {
		int v = (i * 37 + (COPY_ROUNDS - 1) * 11 + 1) & 0xff;
		const char *slice = (const char *)t.shared.va + RO_SIZE + (size_t)i * SLICE;

		at = first_diff_byte(slice, SLICE, (unsigned char)v);
		CHILD_CHECK(at == SLICE, "slice %d: byte %zu is 0x%02x, expected 0x%02x", i, at,
			    (unsigned char)slice[at], (unsigned char)v);
	}
	at = check_all(t.shared.va, RO_SIZE, RO_SEED, 0);
	CHILD_CHECK(at == RO_SIZE, "the read-only half differs at %zu", at);
	e = acl_map_delete(&t.shared);
	CHILD_CHECK(e == ACL_SUCCESS, "deleting the shared mapping: %d %s", e, recent());
	child_after_join(start);
	_exit(0);
}

TEST_F_TIMEOUT(threads, copies_race_between_owned_and_shared_mappings, THREADS_TIMEOUT)
{
	self->child = fork();
	ASSERT_LE(0, self->child);
	if (self->child == 0)
		copy_child(&self->start);
	ASSERT_CHILD_OK(self->child);
	self->child = -1;
}

TEST_HARNESS_MAIN
