// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_test - a bounded, seeded ioctl/mmap fuzzer of /dev/acl_share
 * (issue 4, "Hardening"): no input from an unprivileged process may oops,
 * warn, leak or hang the kernel, and the library must never crash.
 *
 * Several worker processes (ACL_FUZZ_WORKERS, default 4, at most 8; the odd
 * ones drop to uid/gid 65534) run at once, each a fixed number of operations
 * (ACL_FUZZ_OPS, default 30000 per worker: about 15 s under TCG on the stock
 * kernel; the KASAN/lockdep/kmemleak kernel is about 20x slower, use
 * ACL_FUZZ_OPS=5000 there, about 45 s). Every worker draws its
 * operations from a deterministic PRNG (splitmix64 seeding xorshift64*)
 * seeded from (seed, worker, life):
 *  - every ACL_SHARE_IOC_* with random struct sizes (0, 4, 8, below the
 *    first version, exact, larger with a zero or non-zero tail, 4096+,
 *    0xffffffff), flags, non-zero __reserved, handles (live, 0, stale,
 *    random), shareable handles (its own exports, siblings' exports read
 *    from a MAP_SHARED mailbox page, random, bit-flipped, other server),
 *    pids (own, siblings, children, 0, negative, dead, huge, 1, 2; arrays
 *    of up to 100000), and user pointers (valid, NULL, unmapped, PROT_NONE,
 *    read-only, straddling into a PROT_NONE page, inside device mappings,
 *    non-canonical, kernel addresses); random ioctl numbers;
 *  - mmap of the device (random offsets, lengths, prot incl. PROT_EXEC,
 *    MAP_PRIVATE, MAP_FIXED over its own mappings, MAP_POPULATE/LOCKED),
 *    munmap of whole and partial ranges (PMD splits of 2 MiB mappings),
 *    mremap (shrink, grow, move, DONTUNMAP), mprotect, madvise (DONTNEED,
 *    REMOVE, DONTFORK, DOFORK, WIPEONFORK, HUGEPAGE, COLD, PAGEOUT, ...),
 *    mlock, loads and stores (SIGSEGV/SIGBUS tolerated);
 *  - fork (the child checks that it cannot read through any device mapping
 *    it inherited, which only MADV_DOFORK makes possible, and that the
 *    inherited descriptor refuses every ioctl with EACCES, does a few
 *    random operations, then exits, SIGKILLs itself or is killed), close
 *    and reopen of the device, _exit() or SIGKILL of the worker itself in
 *    the middle of its sequence (the test starts a new life of it for the
 *    remaining operations), and the library's calls (whose results must be
 *    ACL error codes of contract section 2.4).
 * All raw mappings live inside a per-worker PROT_NONE arena so that MAP_FIXED
 * never lands on memory the fuzzer does not own; holes are refilled at once.
 *
 * Oracles: every ioctl returns 0 or an errno its comment in
 * include/uapi/linux/acl_share.h lists (or EFAULT, EACCES, ENOTTY, EINVAL,
 * E2BIG, ENOMEM); well-formed INFO/QUERY/FREE of live handles succeed with
 * the right values; device mmap refuses MAP_PRIVATE, PROT_EXEC and wrong
 * lengths; library calls return ACL codes; no process dies of an unexpected
 * signal; the workers keep making progress (a stall of ACL_FUZZ_HANG_S,
 * default 180 s, is a hang); after every process is reaped the module's
 * live counters are back at their start values. Kernel splats are caught by
 * selftests/vm/run-in-vm.sh.
 *
 * Every failure prints the seed, the worker, its life and operation number
 * and its last 8 operations; ACL_FUZZ_SEED=<n> (decimal or 0x-hex) replays
 * that seed in fuzz_random (fuzz_corpus then only logs that it is in replay
 * mode), with the same ACL_FUZZ_OPS and ACL_FUZZ_WORKERS; ACL_FUZZ_TRACE=1
 * prints every operation. A worker's sequence is a function of (seed,
 * worker, life) and of the results it gets, so a replay with one worker is
 * exact and one with several follows the same path up to the timing of the
 * workers' interplay. fuzz_corpus replays the seeds of fuzz_corpus.h.
 *
 * Example (debug kernel):
 *   run-in-vm.sh ... --bin fuzz_test -- env ACL_FUZZ_OPS=5000 fuzz_test
 */
#include <linux/acl_share.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <dirent.h>
#include <time.h>

#include "acl/acl.h"
#include "acl_test_util.h"
#include "fuzz_corpus.h"

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define FUZZ_DEFAULT_OPS 30000
#define FUZZ_DEFAULT_WORKERS 4
#define FUZZ_MAX_WORKERS 8
#define FUZZ_DEFAULT_HANG_S 180

/* The base page: what mmap(), munmap(), mprotect() and NORMAL allocations work in. */
#define PAGE acl_page_size()
#define ARENA_SIZE (96UL << 20)
#define MAX_HANDLES 12
#define MAX_BYTES (24UL << 20)	/* live allocations of one worker */
#define MAX_REGIONS 32
#define MAX_CHILDREN 2
#define MAX_LIB 6
#define NR_STALE 8
#define MB_SHARES 8

/* ------------------------------------------------------------------ */
/* PRNG                                                               */
/* ------------------------------------------------------------------ */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rng_state;

static void rng_seed(uint64_t seed, uint64_t a, uint64_t b)
{
	uint64_t x = seed ^ (a * 0x100000001b3ULL) ^ (b << 32);

	splitmix64(&x);
	rng_state = splitmix64(&x) | 1;
}

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

/* True with probability @per_mille / 1000. */
static bool chance(unsigned int per_mille)
{
	return below(1000) < per_mille;
}

#define PICK(arr) ((arr)[below(sizeof(arr) / sizeof((arr)[0]))])

/* ------------------------------------------------------------------ */
/* The mailbox shared by the test and all its workers                 */
/* ------------------------------------------------------------------ */

enum {
	EV_OPS, EV_IOCTL_OK, EV_ALLOC_OK, EV_HUGE_ALLOC, EV_EXPORT_OK, EV_SETPID_OK,
	EV_IMPORT_OK, EV_FREE_EXPORTED, EV_DEV_MMAP_OK, EV_DEV_MMAP_HUGE, EV_MUNMAP_DEV_PARTIAL,
	EV_PMD_SPLIT, EV_MREMAP_DEV_OK, EV_MPROTECT_DEV, EV_MADVISE_DEV_OK, EV_PROBE_FAULT,
	EV_FORK, EV_FORK_WITH_DEV, EV_FORK_AFTER_DOFORK, EV_REOPEN, EV_SELF_KILL, EV_LIB_OK, EV_LIB_IMPORT_OK,
	EV_REVOKE_OK,
	EV_NR
};

static const char *const ev_names[EV_NR] = {
	"ops", "ioctl_ok", "alloc_ok", "huge_alloc", "export_ok", "setpid_ok", "import_ok",
	"free_exported", "dev_mmap_ok", "dev_mmap_huge", "munmap_dev_partial", "pmd_split",
	"mremap_dev_ok", "mprotect_dev", "madvise_dev_ok", "probe_fault", "fork",
	"fork_with_dev", "fork_after_dofork", "reopen", "self_kill", "lib_ok", "lib_import_ok",
	"revoke_ok",
};

struct mb_share {
	uint32_t seq;		/* odd while being written */
	uint32_t type;		/* ACL_SHARE_HANDLE_*, 0 = empty */
	uint8_t data[ACL_SHARE_FABRIC_HANDLE_LEN];
};

enum { ST_RUNNING = 1, ST_DONE, ST_SUICIDE, ST_FAILED };

struct mb_slot {
	int32_t tgid;
	int32_t child_tgid[MAX_CHILDREN];
	int32_t dead[8];
	uint32_t dead_idx;
	uint32_t ops_done;
	uint32_t state;
	uint32_t share_idx;
	struct mb_share shares[MB_SHARES];
	uint64_t ev[EV_NR];
	char cur_op[160];
	char fail[512];
};

struct mbox {
	uint64_t seed;
	uint32_t workers;
	struct mb_slot slot[FUZZ_MAX_WORKERS];
};

static struct mbox *mb;
static bool fuzz_trace;	/* ACL_FUZZ_TRACE=1: print every operation */

/* ------------------------------------------------------------------ */
/* Worker state                                                       */
/* ------------------------------------------------------------------ */

struct token {
	uint32_t type;
	uint8_t data[ACL_SHARE_FABRIC_HANDLE_LEN];
};

struct handle {
	uint32_t id;
	uint64_t length;
	uint64_t offset;
	bool huge;
	bool imported;
	bool exported;
	bool have_token;
	struct token tok;
};

struct region {
	uintptr_t addr;
	size_t len;
	bool dev;
	bool huge;
	bool pristine;	/* a device mapping nothing touched since mmap */
};

struct lib_obj {
	aclrtDrvMemHandle h;
	size_t size;
	void *resv;	/* its reservation, or NULL */
	bool mapped;
	bool exported;
};

static struct {
	int slot;
	uint32_t life;
	uint64_t seed;
	uint32_t op;
	bool child;		/* a fork()ed child of a worker */
	bool inherited_fd;	/* fd is the parent's (child before reopen) */
	bool clean;		/* this operation's arguments are well-formed */
	bool result_ok;		/* the last fuzz_ioctl()'s output was read back */
	int fd;
	int32_t tgid;
	uintptr_t arena;
	unsigned char *scratch;	/* SCR_BUF_LEN + SCR_DATA_LEN RW, guard, RO page, guard */
	unsigned char *zeros;	/* ZEROS_LEN bytes, zero except while in use */
	struct handle h[MAX_HANDLES];
	int nh;
	uint32_t stale[NR_STALE];
	unsigned int stale_idx;
	struct region r[MAX_REGIONS];
	int nr;
	pid_t children[MAX_CHILDREN];
	bool dofork;		/* MADV_DOFORK worked on a device region */
	struct lib_obj lib[MAX_LIB];
	int nlib;
	char hist[8][160];
	unsigned int hist_idx;
} W;

/*
 * The scratch area: SCR_BUF_LEN bytes for ioctl structs and their tails
 * (fuzz_ioctl() draws sizes up to 4096 + 4 * 16383), SCR_DATA_LEN bytes of
 * uptr targets, then a PROT_NONE guard page, a read-only page and another
 * guard page. Up to the first guard the layout is the same on every page
 * size.
 */
#define SCR_BUF_LEN (18 * 4096UL)
#define SCR_DATA_LEN (2 * 4096UL)
#define SCR_DATA (W.scratch + SCR_BUF_LEN)
#define SCR_GUARD (SCR_DATA + SCR_DATA_LEN)
#define SCR_RO (SCR_GUARD + PAGE)
#define ZEROS_LEN (512UL * 1024)

static void ev(int e)
{
	__atomic_add_fetch(&mb->slot[W.slot].ev[e], 1, __ATOMIC_RELAXED);
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	char *d = W.hist[W.hist_idx++ % 8];
	va_list ap;
	int n;

	n = snprintf(d, 160, "op %u%s: ", W.op, W.child ? " (child)" : "");
	va_start(ap, fmt);
	vsnprintf(d + n, 160 - n, fmt, ap);
	va_end(ap);
	if (!W.child)
		memcpy(mb->slot[W.slot].cur_op, d, 160);
	if (fuzz_trace)
		fprintf(stderr, "# [w%d.%u %d] %s\n", W.slot, W.life, (int)getpid(), d);
}

/* Reports a failure with everything needed to replay it and exits. */
static void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fuzz_fail(const char *fmt, ...)
{
	struct mb_slot *s = &mb->slot[W.slot];
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "# fuzz FAIL: seed=%#llx worker=%d life=%u op=%u%s pid=%d: %s\n",
		(unsigned long long)W.seed, W.slot, W.life, W.op, W.child ? " (forked child)" : "",
		(int)getpid(), msg);
	for (unsigned int i = 0; i < 8; i++) {
		const char *hst = W.hist[(W.hist_idx + i) % 8];

		if (hst[0])
			fprintf(stderr, "#   recent: %s\n", hst);
	}
	fflush(stderr);
	if (!W.child) {
		snprintf(s->fail, sizeof(s->fail), "worker %d life %u op %u: %s", W.slot, W.life,
			 W.op, msg);
		__atomic_store_n(&s->state, ST_FAILED, __ATOMIC_SEQ_CST);
	}
	_exit(1);
}

/* ------------------------------------------------------------------ */
/* Guarded memory access                                              */
/* ------------------------------------------------------------------ */

static sigjmp_buf guard_env;
static volatile sig_atomic_t guard_active;

static void guard_handler(int sig)
{
	if (guard_active)
		siglongjmp(guard_env, sig);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void guard_install(void)
{
	struct sigaction sa = { .sa_handler = guard_handler, .sa_flags = SA_NODEFER };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
}

/* memcpy() that survives SIGSEGV/SIGBUS; returns 0 or the signal. */
static int guarded_copy(void *dst, const void *src, size_t n)
{
	volatile int sig;

	guard_active = 1;
	sig = sigsetjmp(guard_env, 1);
	if (!sig) {
		volatile unsigned char *d = dst;
		const volatile unsigned char *s = src;

		for (size_t i = 0; i < n; i++)
			d[i] = s[i];
	}
	guard_active = 0;
	return sig;
}

/* ------------------------------------------------------------------ */
/* The arena: every raw mapping of the fuzzer lives inside it         */
/* ------------------------------------------------------------------ */

static bool in_arena(uintptr_t a, size_t len)
{
	return a >= W.arena && len <= ARENA_SIZE && a - W.arena <= ARENA_SIZE - len;
}

/* Puts the PROT_NONE placeholder back over [a, a + len). */
static void arena_fill(uintptr_t a, size_t len)
{
	if (!len)
		return;
	if (!in_arena(a, len))
		fuzz_fail("internal: refill %#lx+%#zx outside the arena", (unsigned long)a, len);
	if (mmap((void *)a, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED,
		 -1, 0) == MAP_FAILED)
		fuzz_fail("internal: refill of the arena failed: %s", strerror(errno));
}

/* Anything that changes [a, a + len) ends the pristine state of regions there. */
static void touch(uintptr_t a, size_t len)
{
	for (int i = 0; i < W.nr; i++)
		if (W.r[i].addr < a + len && a < W.r[i].addr + W.r[i].len)
			W.r[i].pristine = false;
}

static void region_add(uintptr_t a, size_t len, bool dev, bool huge)
{
	struct region *r;

	touch(a, len);
	if (W.nr < MAX_REGIONS)
		r = &W.r[W.nr++];
	else
		r = &W.r[below(MAX_REGIONS)];
	*r = (struct region){ .addr = a, .len = len, .dev = dev, .huge = huge, .pristine = dev };
}

static struct region *region_pick(void)
{
	return W.nr ? &W.r[below(W.nr)] : NULL;
}

/* A page-aligned subrange of @r, sometimes crossing a 2 MiB boundary. */
static void subrange(const struct region *r, uintptr_t *a, size_t *len)
{
	size_t pages = r->len / PAGE;

	switch (below(4)) {
	case 0:
		*a = r->addr;
		*len = r->len;
		return;
	case 1: /* split at a 2 MiB boundary plus one page: a PMD split */
		if (r->len > SZ_2M) {
			*a = ((r->addr + SZ_2M) & ~(SZ_2M - 1)) - PAGE * below(2);
			*len = PAGE * (1 + below(3));
			if (*a + *len <= r->addr + r->len)
				return;
		}
		/* fall through */
	default: {
		size_t first = below(pages);

		*a = r->addr + first * PAGE;
		*len = PAGE * (1 + below(pages - first));
	}
	}
}

/* A random place in the arena for @len bytes, 2 MiB aligned mostly. */
static uintptr_t arena_spot(size_t len)
{
	uintptr_t a;

	if (len > ARENA_SIZE)
		return 0;
	a = W.arena + below((ARENA_SIZE - len) / SZ_2M + 1) * SZ_2M;
	if (chance(200))
		a += PAGE * below(16);
	return in_arena(a, len) ? a : 0;
}

/* ------------------------------------------------------------------ */
/* Random values                                                      */
/* ------------------------------------------------------------------ */

static uint32_t rnd_flags(void)
{
	static const uint32_t v[] = { 1, 2, 4, 0x80000000u, 0xffffffffu, 3 };

	if (W.clean)
		return 0;
	return chance(700) ? 0 : chance(500) ? PICK(v) : (uint32_t)rnd();
}

static uint32_t rnd_reserved(void)
{
	if (W.clean)
		return 0;
	return chance(800) ? 0 : chance(500) ? 1 : (uint32_t)rnd();
}

static uint32_t stale_pick(void)
{
	return W.stale[below(NR_STALE)];
}

static void stale_push(uint32_t id)
{
	W.stale[W.stale_idx++ % NR_STALE] = id;
}

/* A handle value: a live one (returned in *hp) mostly, else a bad one. */
static uint32_t rnd_handle(struct handle **hp)
{
	static const uint32_t bad[] = { 0, 0xffffffffu, 0x7fffffffu, 0x80000000u, 1, 2, 3 };

	uint32_t id;

	*hp = NULL;
	if (W.nh && chance(750)) {
		*hp = &W.h[below(W.nh)];
		return (*hp)->id;
	}
	switch (below(3)) {
	case 0:
		id = stale_pick();
		break;
	case 1:
		id = PICK(bad);
		break;
	default:
		id = (uint32_t)rnd() >> below(32);
	}
	/* A "bad" value that happens to be live is that live handle. */
	for (int i = 0; i < W.nh; i++)
		if (W.h[i].id == id)
			*hp = &W.h[i];
	return id;
}

static void handle_forget(int i)
{
	stale_push(W.h[i].id);
	W.h[i] = W.h[--W.nh];
}

static uint64_t live_bytes(void)
{
	uint64_t n = 0;

	for (int i = 0; i < W.nh; i++)
		if (!W.h[i].imported)
			n += W.h[i].length;
	return n;
}

/* A pid: own, siblings, children, dead ones, and nonsense. */
static int32_t rnd_pid(void)
{
	static const int32_t odd[] = { 0, -1, 1, 2, INT32_MIN, INT32_MAX, 4194304, 4194305,
				       32768, 99999 };
	int s = (int)below(mb->workers);

	switch (W.clean ? below(4) : below(8)) {
	case 0:
		return W.tgid;
	case 1: case 2: case 3:
		return __atomic_load_n(&mb->slot[s].tgid, __ATOMIC_RELAXED);
	case 4:
		return __atomic_load_n(&mb->slot[s].child_tgid[below(MAX_CHILDREN)],
				       __ATOMIC_RELAXED);
	case 5:
		return __atomic_load_n(&mb->slot[s].dead[below(8)], __ATOMIC_RELAXED);
	case 6:
		return PICK(odd);
	default:
		return (int32_t)rnd();
	}
}

/* Publishes a shareable handle in this worker's mailbox slot. */
static void publish(const struct token *t)
{
	struct mb_slot *s = &mb->slot[W.slot];
	struct mb_share *sh = &s->shares[s->share_idx++ % MB_SHARES];

	__atomic_add_fetch(&sh->seq, 1, __ATOMIC_SEQ_CST);
	sh->type = t->type;
	memcpy(sh->data, t->data, sizeof(sh->data));
	__atomic_add_fetch(&sh->seq, 1, __ATOMIC_SEQ_CST);
}

/* A shareable handle; *type_out is its type. Never fails. */
static void rnd_token(struct token *t)
{
	memset(t, 0, sizeof(*t));
	switch (W.clean ? below(6) : below(10)) {
	case 0: case 1: case 2: case 3: case 4: { /* a sibling's (or own) export */
		int from = (int)below(mb->workers);
		const struct mb_share *sh = &mb->slot[from].shares[below(MB_SHARES)];

		/* Well-formed: a published export of a sibling. */
		for (int tries = 0; W.clean && tries < 8 && (!sh->type || from == W.slot); tries++) {
			from = (int)below(mb->workers);
			sh = &mb->slot[from].shares[below(MB_SHARES)];
		}
		t->type = sh->type;
		memcpy(t->data, sh->data, sizeof(t->data)); /* may be torn: fine */
		if (!t->type)
			t->type = ACL_SHARE_HANDLE_DEFAULT;
		break;
	}
	case 5: { /* own export */
		for (int i = 0; i < W.nh; i++)
			if (W.h[i].have_token) {
				*t = W.h[i].tok;
				break;
			}
		if (!t->type)
			t->type = ACL_SHARE_HANDLE_FABRIC;
		break;
	}
	case 6: { /* a sibling's, one bit flipped */
		const struct mb_share *sh =
			&mb->slot[below(mb->workers)].shares[below(MB_SHARES)];

		t->type = sh->type ? sh->type : ACL_SHARE_HANDLE_FABRIC;
		memcpy(t->data, sh->data, sizeof(t->data));
		if (t->type == ACL_SHARE_HANDLE_DEFAULT)
			t->data[below(8)] ^= 1u << below(8);
		else
			t->data[below(ACL_SHARE_FABRIC_HANDLE_LEN)] ^= 1u << below(8);
		break;
	}
	case 7: { /* a valid-looking FABRIC of another server, or zero secret */
		struct acl_share_fabric_handle f = {
			.magic = ACL_SHARE_FABRIC_MAGIC,
			.version = ACL_SHARE_FABRIC_VERSION,
			.server_id = chance(500) ? 0 : (uint32_t)rnd(),
			.key = rnd(),
		};

		t->type = ACL_SHARE_HANDLE_FABRIC;
		memcpy(t->data, &f, sizeof(f));
		break;
	}
	case 8:
		t->type = chance(500) ? ACL_SHARE_HANDLE_DEFAULT : ACL_SHARE_HANDLE_FABRIC;
		break; /* all zero */
	default:
		t->type = chance(500) ? ACL_SHARE_HANDLE_DEFAULT : ACL_SHARE_HANDLE_FABRIC;
		for (size_t i = 0; i < sizeof(t->data); i++)
			t->data[i] = (uint8_t)rnd();
	}
}

static uint32_t token_len(uint32_t type)
{
	return type == ACL_SHARE_HANDLE_FABRIC ? ACL_SHARE_FABRIC_HANDLE_LEN
					       : ACL_SHARE_DEFAULT_HANDLE_LEN;
}

/* share_type and shareable_len for @t, sometimes wrong. */
static void rnd_type_len(const struct token *t, uint32_t *type, uint32_t *len)
{
	static const uint32_t types[] = { 0, 3, 0xffffffffu, ACL_SHARE_HANDLE_DEFAULT,
					  ACL_SHARE_HANDLE_FABRIC };
	static const uint32_t lens[] = { 0, 7, 8, 127, 128, 129, 4096, 0xffffffffu };

	*type = W.clean || chance(800) ? t->type : PICK(types);
	*len = W.clean || chance(800) ? token_len(*type) : PICK(lens);
}

/*
 * A user pointer for a buffer of @len bytes. *valid says it is the start of
 * @len writable bytes (SCR_DATA, filled with @content if given).
 */
static uint64_t rnd_uptr(const void *content, size_t len, bool *valid)
{
	static const uint64_t bad[] = {
		0, 0x1000, 0x8000, 0x7ffffffff000ULL, 0x800000000000ULL, 0x8000000000000000ULL,
		0xffff888000000000ULL, 0xffffffff81000000ULL, 0xfffffffffffff000ULL,
	};
	unsigned char *p = SCR_DATA;

	*valid = false;
	if (len > SCR_DATA_LEN)
		len = SCR_DATA_LEN;
	if (W.clean || chance(600)) {
		memset(p, 0, len);
		if (content)
			memcpy(p, content, len);
		*valid = true;
		return (uintptr_t)p;
	}
	switch (below(7)) {
	case 0: case 1:
		return PICK(bad);
	case 2:
		return (uintptr_t)SCR_GUARD;
	case 3:
		return (uintptr_t)SCR_RO;
	case 4: { /* straddles into the guard page */
		unsigned char *q = SCR_GUARD - 1 - below(len ? len : 1);

		if (content)
			memcpy(q, content, (size_t)(SCR_GUARD - q));
		return (uintptr_t)q;
	}
	case 5: { /* inside a device mapping (or whatever is there now) */
		struct region *r = region_pick();

		if (r) {
			uintptr_t a = r->addr + PAGE * below(r->len / PAGE);

			if (content)
				guarded_copy((void *)a, content, len);
			return a;
		}
		return 0;
	}
	default: /* misaligned, valid */
		if (content)
			memcpy(p + 3, content, len);
		return (uintptr_t)(p + 3);
	}
}

/* ------------------------------------------------------------------ */
/* ioctls                                                             */
/* ------------------------------------------------------------------ */

struct ioc {
	const char *name;
	unsigned long cmd;
	uint32_t size;
	int errs[9];	/* documented in the uapi header, 0-terminated */
};

enum { I_INFO, I_ALLOC, I_FREE, I_QUERY, I_EXPORT, I_SET_PID, I_IMPORT, I_REVOKE, I_COPY, I_NR };

static const struct ioc iocs[I_NR] = {
	[I_INFO] = { "INFO", ACL_SHARE_IOC_INFO, sizeof(struct acl_share_info),
		     { EINVAL, E2BIG } },
	[I_ALLOC] = { "ALLOC", ACL_SHARE_IOC_ALLOC, sizeof(struct acl_share_alloc),
		      { EINVAL, ENODEV, ENOMEM, EINTR, E2BIG } },
	[I_FREE] = { "FREE", ACL_SHARE_IOC_FREE, sizeof(struct acl_share_free),
		     { EINVAL, ENOENT, E2BIG } },
	[I_QUERY] = { "QUERY", ACL_SHARE_IOC_QUERY, sizeof(struct acl_share_query),
		      { EINVAL, ENOENT, E2BIG } },
	[I_EXPORT] = { "EXPORT", ACL_SHARE_IOC_EXPORT, sizeof(struct acl_share_export),
		       { EINVAL, ENOENT, EPERM, EEXIST, EMFILE, ENOMEM, E2BIG } },
	[I_SET_PID] = { "SET_PID", ACL_SHARE_IOC_SET_PID, sizeof(struct acl_share_set_pid),
			{ EINVAL, E2BIG, ENOENT, EPERM, EACCES, ESRCH, EOPNOTSUPP, ENOMEM } },
	[I_IMPORT] = { "IMPORT", ACL_SHARE_IOC_IMPORT, sizeof(struct acl_share_import),
		       { EINVAL, ENODEV, ENOENT, EPERM, EEXIST, EOPNOTSUPP, ENOMEM, E2BIG } },
	[I_REVOKE] = { "REVOKE", ACL_SHARE_IOC_REVOKE, sizeof(struct acl_share_revoke),
		       { EINVAL, ENOENT, EPERM, EOPNOTSUPP, E2BIG } },
	[I_COPY] = { "COPY", ACL_SHARE_IOC_COPY, sizeof(struct acl_share_copy),
		     { EINVAL, ENOENT, EOPNOTSUPP, EFAULT, ENOLINK, EIO, EINTR, ENOMEM } },
};

/* Every ioctl may also return these (header comment and the brief). */
static const int common_errs[] = { EFAULT, EACCES, ENOTTY, EINVAL, E2BIG, ENOMEM };

static bool errno_allowed(int which, int err)
{
	for (size_t i = 0; i < sizeof(common_errs) / sizeof(common_errs[0]); i++)
		if (err == common_errs[i])
			return true;
	for (int i = 0; which >= 0 && iocs[which].errs[i]; i++)
		if (iocs[which].errs[i] == err)
			return true;
	return false;
}

static const char *errname(int err)
{
	const char *n = err ? strerrorname_np(err) : "0";

	return n ? n : "?";
}

/*
 * Issues ioctl @which with the struct in @arg (iocs[which].size bytes,
 * size field not yet set) through a random size and argument pointer.
 * Returns 0 or -errno; on success @arg holds what the kernel wrote back.
 * *exact says the argument was well-formed (exact size, valid pointer).
 */
static int fuzz_ioctl(int which, void *arg, bool *exact, const char *what)
{
	const uint32_t ksize = iocs[which].size;
	unsigned char *buf = W.scratch;
	uint32_t usize = ksize;
	size_t copy = ksize, tail_nz = 0;
	uintptr_t p = (uintptr_t)buf;
	bool ptr_ok = true;
	int ret;

	*exact = false;
	if (!W.clean && chance(400)) {
		static const uint32_t sizes[] = { 0, 4, 8, 12, 16 };

		switch (below(8)) {
		case 0:
			usize = PICK(sizes);
			break;
		case 1:
			usize = ksize - 4;
			break;
		case 2: case 3:
			usize = ksize + 8;
			break;
		case 4:
			usize = ksize + 8;
			tail_nz = ksize + below(8);
			break;
		case 5:
			usize = chance(500) ? 4096 : 4096 + 4 * (uint32_t)below(16384);
			if (chance(300))
				tail_nz = ksize + below(usize - ksize);
			break;
		case 6:
			usize = 0xffffffffu; /* scans the zero tail up to the guard page */
			break;
		default:
			usize = (uint32_t)rnd();
		}
	}
	memcpy(arg, &usize, sizeof(usize));
	if (usize < copy)
		copy = usize;

	if (!W.clean && chance(150)) {
		static const uint64_t bad[] = { 0, 0x1000, 0x800000000000ULL,
						0xffff888000000000ULL, 0xffffffff81000000ULL };

		ptr_ok = false;
		switch (below(5)) {
		case 0:
			p = PICK(bad);
			break;
		case 1:
			p = (uintptr_t)SCR_GUARD;
			break;
		case 2: /* read-only: the write-back fails */
			p = (uintptr_t)SCR_RO;
			break;
		case 3: { /* straddles into the guard page */
			p = (uintptr_t)SCR_GUARD - 1 - below(ksize);
			memcpy((void *)p, arg, (uintptr_t)SCR_GUARD - p);
			break;
		}
		default: { /* inside a device mapping */
			struct region *r = region_pick();

			if (r) {
				p = r->addr + r->len - PAGE + 8 * below(PAGE / 8);
				if (!in_arena(p, 1))
					p = r->addr;
				guarded_copy((void *)p, arg, ksize);
			}
		}
		}
	} else {
		if (!W.clean && chance(100))
			p = (uintptr_t)buf + 1 + below(7); /* misaligned */
		if (usize > SCR_BUF_LEN - (p - (uintptr_t)buf) && usize != 0xffffffffu &&
		    usize > ksize) {
			/* Would reach SCR_DATA: make the tail cross into the guard instead. */
			p = (uintptr_t)buf;
		}
		memcpy((void *)p, arg, ksize);
		if (tail_nz && usize <= SCR_BUF_LEN)
			((unsigned char *)p)[tail_nz] = (unsigned char)(1 + below(255));
	}

	note("%s %s size=%u ptr=%#lx", iocs[which].name, what, usize, (unsigned long)p);
	ret = ioctl(W.fd, iocs[which].cmd, (void *)p) ? -errno : 0;

	if (ptr_ok) {
		memcpy(arg, (void *)p, ksize);
		memset(buf, 0, SCR_BUF_LEN); /* keep the zero tail zero */
	}
	if (W.inherited_fd && ret != -EACCES)
		fuzz_fail("%s %s on the parent's descriptor gave %s, not EACCES",
			  iocs[which].name, what, errname(-ret));
	if (ret && !errno_allowed(which, -ret))
		fuzz_fail("%s %s (size %u, ptr %#lx) gave the undocumented errno %s",
			  iocs[which].name, what, usize, (unsigned long)p, errname(-ret));
	if (!ret)
		ev(EV_IOCTL_OK);
	*exact = ptr_ok && usize == ksize && p == (uintptr_t)buf;
	W.result_ok = ptr_ok && usize >= ksize;
	(void)copy;
	return ret;
}

static void op_info(void)
{
	struct acl_share_info a = { .flags = rnd_flags(), .__reserved = rnd_reserved() };
	bool exact;
	int ret = fuzz_ioctl(I_INFO, &a, &exact, "");

	if (exact && !a.flags && !a.__reserved && !W.inherited_fd) {
		if (ret)
			fuzz_fail("well-formed INFO failed: %s", errname(-ret));
		if ((int32_t)a.out_bare_tgid != W.tgid)
			fuzz_fail("INFO says bare tgid %u, getpid() is %d", a.out_bare_tgid, W.tgid);
	}
}

static void op_alloc(void)
{
	const uint64_t sizes[] = { PAGE, 2 * PAGE, 16 * PAGE, SZ_2M, SZ_2M, SZ_2M,
				   2 * SZ_2M, 4 * SZ_2M };
	const uint64_t bad[] = { 0, 1, PAGE - 1, PAGE + 1, SZ_2M - PAGE, SZ_2M + PAGE,
				 1ULL << 40, 1ULL << 63, ~0ULL, ~0ULL << 12 };
	static const uint32_t attrs[] = { 3, 5, 9, 12, 15, 13, 16, 1, 4, 2 };
	static const uint32_t locs[] = { ACL_SHARE_LOC_HOST, ACL_SHARE_LOC_DEVICE,
					 ACL_SHARE_LOC_HOST_NUMA };
	struct acl_share_alloc a = { .flags = rnd_flags(), .__reserved = { rnd_reserved() } };
	bool exact;
	int ret;

	if (W.nh >= MAX_HANDLES || live_bytes() >= MAX_BYTES)
		return;
	a.length = W.clean || chance(700) ? PICK(sizes) : PICK(bad);
	a.mem_attr = W.clean || chance(800) ? PICK(attrs)
					    : (uint32_t)below(chance(500) ? 18 : 1u << 31);
	a.location_type = W.clean || chance(800) ? PICK(locs) : (uint32_t)below(8);
	a.location_id = W.clean || chance(800) ? (uint32_t)below(8)
					       : chance(500) ? 8 : (uint32_t)rnd();
	if (W.clean && a.location_type == ACL_SHARE_LOC_DEVICE && a.length < SZ_2M)
		a.length = SZ_2M;
	if (a.location_type == ACL_SHARE_LOC_HOST_NUMA && chance(800))
		a.location_id = 0;
	if (a.length > SZ_1G && a.length < (1ULL << 40))
		a.length = SZ_2M; /* never really allocate 1 GiB */
	ret = fuzz_ioctl(I_ALLOC, &a, &exact, "");
	if (ret)
		return;
	ev(EV_ALLOC_OK);
	if (!W.result_ok) {
		/* We do not have the result: the handle stays in the file until close. */
		return;
	}
	if (a.out_mmap_offset != acl_handle_mmap_offset(a.out_handle))
		fuzz_fail("ALLOC: handle %u at mmap offset %#llx", a.out_handle,
			  (unsigned long long)a.out_mmap_offset);
	W.h[W.nh++] = (struct handle){
		.id = a.out_handle,
		.length = a.length,
		.offset = a.out_mmap_offset,
		.huge = a.length >= SZ_2M && (a.mem_attr == 13 || a.mem_attr == 16 ||
					     a.mem_attr == 1 || a.mem_attr == 4 ||
					     a.mem_attr == 2),
	};
	if (W.h[W.nh - 1].huge)
		ev(EV_HUGE_ALLOC);
}

static void op_free(void)
{
	struct handle *h;
	struct acl_share_free a = { .flags = rnd_flags(), .__reserved = rnd_reserved() };
	bool exact;
	int ret;

	a.handle = rnd_handle(&h);
	ret = fuzz_ioctl(I_FREE, &a, &exact, h ? "(live)" : "(bad)");
	if (!h || W.inherited_fd)
		return;
	if (exact && !a.flags && !a.__reserved && ret)
		fuzz_fail("well-formed FREE of live handle %u failed: %s", h->id, errname(-ret));
	if (!ret) {
		if (h->exported)
			ev(EV_FREE_EXPORTED);
		handle_forget((int)(h - W.h));
	}
}

static void op_query(void)
{
	struct handle *h;
	struct acl_share_query a = { .flags = rnd_flags(), .__reserved = { 0, rnd_reserved() } };
	bool exact;
	int ret;

	a.handle = rnd_handle(&h);
	ret = fuzz_ioctl(I_QUERY, &a, &exact, h ? "(live)" : "(bad)");
	if (!h || !exact || a.flags || a.__reserved[1] || W.inherited_fd)
		return;
	if (ret)
		fuzz_fail("well-formed QUERY of live handle %u failed: %s", h->id, errname(-ret));
	if (a.out_length != h->length || a.out_mmap_offset != h->offset ||
	    !!(a.out_flags & ACL_SHARE_QUERY_IMPORTED) != h->imported ||
	    (!h->imported && !!(a.out_flags & ACL_SHARE_QUERY_EXPORTED) != h->exported))
		fuzz_fail("QUERY of handle %u: length %llu offset %#llx flags %#x, expected "
			  "%llu %#llx imported=%d exported=%d", h->id,
			  (unsigned long long)a.out_length, (unsigned long long)a.out_mmap_offset,
			  a.out_flags, (unsigned long long)h->length, (unsigned long long)h->offset,
			  h->imported, h->exported);
}

static void op_export(void)
{
	struct handle *h;
	struct acl_share_export a = { .__reserved = rnd_reserved() };
	struct token t = { .type = chance(500) ? ACL_SHARE_HANDLE_DEFAULT : ACL_SHARE_HANDLE_FABRIC };
	bool exact, valid;
	int ret;

	a.flags = chance(400) ? ACL_SHARE_EXPORT_NO_PID_CHECK : rnd_flags();
	a.handle = rnd_handle(&h);
	/* Mostly all of it; else the first 2 MiB, a page, or anything. */
	a.length = chance(800) ? 0 : chance(400) ? SZ_2M : chance(300) ? 4096 : rnd();
	rnd_type_len(&t, &a.share_type, &a.shareable_len);
	a.shareable_uptr = rnd_uptr(NULL, ACL_SHARE_FABRIC_HANDLE_LEN, &valid);
	ret = fuzz_ioctl(I_EXPORT, &a, &exact, h ? "(live)" : "(bad)");
	if (ret || !h || W.inherited_fd)
		return;
	ev(EV_EXPORT_OK);
	h->exported = true;
	if (valid && (a.share_type == ACL_SHARE_HANDLE_DEFAULT ||
		      a.share_type == ACL_SHARE_HANDLE_FABRIC)) {
		h->tok.type = a.share_type;
		memset(h->tok.data, 0, sizeof(h->tok.data));
		memcpy(h->tok.data, SCR_DATA, token_len(a.share_type));
		h->have_token = true;
		publish(&h->tok);
	}
}

static void op_set_pid(void)
{
	static const uint32_t nums[] = { 1, 1, 2, 3, 8, 64, 0, 65535, 65536, 100000 };
	struct acl_share_set_pid a = { .flags = rnd_flags(), .__reserved = rnd_reserved() };
	struct token t;
	bool exact, valid;
	uint32_t n;

	/* Mostly our own export, whitelisting siblings. */
	rnd_token(&t);
	if (chance(600)) {
		for (int i = 0; i < W.nh; i++)
			if (W.h[i].have_token && chance(700)) {
				t = W.h[i].tok;
				break;
			}
	}
	rnd_type_len(&t, &a.share_type, &a.shareable_len);
	a.shareable_uptr = rnd_uptr(t.data, sizeof(t.data), &valid);
	n = W.clean ? 1 + (uint32_t)below(3) : chance(900) ? PICK(nums) : (uint32_t)rnd();
	a.num_pids = n;
	if (W.clean || chance(900)) {
		/* n pids; beyond the first 64 they are zeros from the zero area */
		int32_t *pids = (int32_t *)W.zeros;
		uint32_t set = n < 64 ? n : 64;

		for (uint32_t i = 0; i < set; i++)
			pids[i] = rnd_pid();
		if ((uint64_t)n * 4 > ZEROS_LEN)
			a.pids_uptr = (uintptr_t)W.zeros; /* runs into the end: EFAULT or E2BIG */
		else
			a.pids_uptr = (uintptr_t)W.zeros;
		if (!W.clean && chance(50)) /* ends one entry into the guard page */
			a.pids_uptr = (uintptr_t)W.zeros + ZEROS_LEN - 4 * (uint64_t)(n ? n - 1 : 0);
	} else {
		a.pids_uptr = rnd_uptr(NULL, 64, &valid);
	}
	if (!fuzz_ioctl(I_SET_PID, &a, &exact, ""))
		ev(EV_SETPID_OK);
	memset(W.zeros, 0, 64 * sizeof(int32_t));
}

/* Withdraws an export (mostly our own); the model forgets it. */
static void op_revoke(void)
{
	struct acl_share_revoke a = { .flags = rnd_flags() };
	struct token t;
	bool exact, valid;

	rnd_token(&t);
	rnd_type_len(&t, &a.share_type, &a.shareable_len);
	a.shareable_uptr = rnd_uptr(t.data, sizeof(t.data), &valid);
	if (fuzz_ioctl(I_REVOKE, &a, &exact, ""))
		return;
	ev(EV_REVOKE_OK);
	for (int i = 0; i < W.nh; i++) {
		struct handle *h = &W.h[i];

		if (h->have_token && h->tok.type == t.type &&
		    !memcmp(h->tok.data, t.data, token_len(t.type))) {
			h->exported = false;
			h->have_token = false;
			return;
		}
	}
	fuzz_fail("REVOKE succeeded for a %s token that no handle of this file exported",
		  t.type == ACL_SHARE_HANDLE_FABRIC ? "FABRIC" : "DEFAULT");
}

static void op_import(void)
{
	struct acl_share_import a = { .flags = rnd_flags(), .__reserved = { rnd_reserved() } };
	struct token t;
	bool exact, valid;
	int ret;

	if (W.nh >= MAX_HANDLES)
		return;
	rnd_token(&t);
	rnd_type_len(&t, &a.share_type, &a.shareable_len);
	a.shareable_uptr = rnd_uptr(t.data, sizeof(t.data), &valid);
	a.device_id = W.clean || chance(800) ? (uint32_t)below(8)
					     : chance(500) ? 8 : (uint32_t)rnd();
	ret = fuzz_ioctl(I_IMPORT, &a, &exact, "");
	if (ret)
		return;
	ev(EV_IMPORT_OK);
	if (!W.result_ok || W.inherited_fd)
		return;
	{
		struct acl_share_query q;

		/* The length comes from QUERY (a well-formed one must work). */
		if (acl_raw_query(W.fd, a.out_handle, &q))
			fuzz_fail("QUERY of freshly imported handle %u failed", a.out_handle);
		W.h[W.nh++] = (struct handle){
			.id = a.out_handle,
			.length = q.out_length,
			.offset = a.out_mmap_offset,
			.huge = q.out_page_size == SZ_2M,
			.imported = true,
		};
	}
}

/* A random ioctl number: wrong type, number, size or direction. */
static void op_bad_ioctl(void)
{
	static const unsigned int types[] = { ACL_SHARE_IOC_TYPE, ACL_SHARE_IOC_TYPE,
					      ACL_SHARE_IOC_TYPE ^ 1, 0, 0xff };
	unsigned long cmd;
	int ret, which = -1;
	bool valid;
	uint64_t p;

	switch (below(4)) {
	case 0: /* right type and number, wrong size or direction */
		cmd = _IOC(below(4), ACL_SHARE_IOC_TYPE, below(8), below(1u << 14));
		break;
	case 1:
		cmd = _IOC(_IOC_READ | _IOC_WRITE, PICK(types), below(256), below(64));
		break;
	case 2: /* a valid number with high bits set */
		cmd = iocs[below(I_NR)].cmd | (1UL << (32 + below(32)));
		break;
	default:
		cmd = (uint32_t)rnd();
	}
	/* Leave the VFS's own ioctls alone ('T', 'X', 'f', 0x94: FIONBIO, FIFREEZE, ...). */
	switch (_IOC_TYPE(cmd)) {
	case 'T': case 'X': case 'f': case 0x94:
		return;
	}
	/* The kernel matches type, number and direction, not the size bits. */
	for (int i = 0; i < I_NR; i++)
		if (_IOC_TYPE((unsigned int)cmd) == _IOC_TYPE(iocs[i].cmd) &&
		    _IOC_NR((unsigned int)cmd) == _IOC_NR(iocs[i].cmd) &&
		    _IOC_DIR((unsigned int)cmd) == _IOC_DIR(iocs[i].cmd))
			which = i;
	memset(W.scratch, 0, 64);
	W.scratch[0] = (unsigned char)below(256);
	p = chance(700) ? (uintptr_t)W.scratch : rnd_uptr(NULL, 64, &valid);
	note("ioctl cmd=%#lx ptr=%#llx", cmd, (unsigned long long)p);
	ret = ioctl(W.fd, cmd, (void *)(uintptr_t)p) ? -errno : 0;
	memset(W.scratch, 0, 64);
	if (which < 0 && ret != -ENOTTY)
		fuzz_fail("unknown ioctl %#lx gave %s, not ENOTTY", cmd, errname(-ret));
	if (which >= 0 && ret && !errno_allowed(which, -ret))
		fuzz_fail("ioctl %#lx (%s) gave the undocumented errno %s", cmd, iocs[which].name,
			  errname(-ret));
	if (which == I_ALLOC && !ret) {
		/* a zeroed ALLOC cannot succeed (length 0) */
		fuzz_fail("ALLOC with a zeroed argument succeeded");
	}
}

/* ------------------------------------------------------------------ */
/* Memory operations                                                  */
/* ------------------------------------------------------------------ */

static void op_mmap_dev(void)
{
	static const int prots[] = { PROT_READ | PROT_WRITE, PROT_READ | PROT_WRITE, PROT_READ,
				     PROT_WRITE, PROT_NONE, PROT_READ | PROT_EXEC,
				     PROT_READ | PROT_WRITE | PROT_EXEC };
	struct handle *h;
	uint32_t id = rnd_handle(&h);
	size_t len = h ? h->length : SZ_2M;
	uint64_t off = acl_handle_mmap_offset(id);
	int prot = PICK(prots), flags = MAP_SHARED | MAP_FIXED;
	bool wrong_len = false;
	uintptr_t a;
	void *m;

	if (chance(150)) {
		const size_t lens[] = { PAGE, SZ_2M - PAGE, SZ_2M + PAGE, 4 * SZ_2M, 0 };

		len = PICK(lens);
		wrong_len = h && len != h->length;
	}
	if (chance(50))
		off = rnd() & ~(PAGE - 1);
	if (chance(80))
		flags = MAP_PRIVATE | MAP_FIXED;
	if (chance(50))
		flags |= MAP_POPULATE;
	if (chance(20))
		flags |= MAP_LOCKED;
	if (chance(20))
		flags = (flags & ~(MAP_SHARED | MAP_PRIVATE)) | MAP_SHARED_VALIDATE;
	a = arena_spot(len ? len : PAGE);
	if (!a)
		return;
	note("mmap dev %#lx len=%#zx off=%#llx prot=%#x flags=%#x", (unsigned long)a, len,
	     (unsigned long long)off, prot, flags);
	touch(a, len ? len : PAGE);
	m = mmap((void *)a, len, prot, flags, W.fd, (off_t)off);
	if (m == MAP_FAILED) {
		int err = errno;

		if (err != EACCES && err != EINVAL && err != ENOENT && err != ENOMEM &&
		    err != EOVERFLOW && err != EPERM && err != EAGAIN && err != EOPNOTSUPP)
			fuzz_fail("mmap of the device gave %s", errname(err));
		/* MAP_FIXED may have unmapped the target before failing. */
		arena_fill(a, len ? len : PAGE);
		return;
	}
	if (m != (void *)a)
		fuzz_fail("MAP_FIXED mmap returned %p, not %#lx", m, (unsigned long)a);
	if (W.inherited_fd)
		fuzz_fail("mmap on the parent's descriptor succeeded");
	if ((flags & MAP_PRIVATE) && !(flags & MAP_SHARED))
		fuzz_fail("MAP_PRIVATE mmap of the device succeeded");
	if (prot & PROT_EXEC)
		fuzz_fail("PROT_EXEC mmap of the device succeeded");
	if (wrong_len && off == h->offset)
		fuzz_fail("mmap of handle %u (%#llx bytes) with length %#zx succeeded", h->id,
			  (unsigned long long)h->length, len);
	ev(EV_DEV_MMAP_OK);
	if (h && h->huge && !(a & (SZ_2M - 1)))
		ev(EV_DEV_MMAP_HUGE);
	region_add(a, len, true, h && h->huge);
	if (chance(500))
		guarded_copy((void *)a, "fuzz", 4);
}

static void op_mmap_anon(void)
{
	size_t len = PAGE * (1 + below(1024));
	uintptr_t a = arena_spot(len);

	if (!a)
		return;
	note("mmap anon %#lx len=%#zx", (unsigned long)a, len);
	touch(a, len);
	if (mmap((void *)a, len, PROT_READ | PROT_WRITE,
		 (chance(800) ? MAP_PRIVATE : MAP_SHARED) | MAP_ANONYMOUS | MAP_FIXED, -1,
		 0) == MAP_FAILED) {
		arena_fill(a, len);
		return;
	}
	region_add(a, len, false, false);
}

static void op_munmap(void)
{
	struct region *r = region_pick();
	uintptr_t a;
	size_t len;

	if (!r)
		return;
	subrange(r, &a, &len);
	note("munmap %#lx len=%#zx (%s region %#lx+%#zx)", (unsigned long)a, len,
	     r->dev ? "dev" : "anon", (unsigned long)r->addr, r->len);
	if (r->dev && len != r->len) {
		ev(EV_MUNMAP_DEV_PARTIAL);
		if (r->huge && ((a | (a + len)) & (SZ_2M - 1)))
			ev(EV_PMD_SPLIT);
	}
	touch(a, len);
	munmap((void *)a, len);
	arena_fill(a, len);
}

static void op_mremap(void)
{
	struct region *r = region_pick();
	bool pristine;
	void *m;

	if (!r)
		return;
	pristine = r->pristine;
	switch (below(5)) {
	case 0: { /* shrink in place */
		size_t nl;

		if (r->len <= PAGE)
			return;
		nl = PAGE * (1 + below(r->len / PAGE - 1));
		note("mremap shrink %#lx %#zx -> %#zx", (unsigned long)r->addr, r->len, nl);
		touch(r->addr, r->len);
		m = mremap((void *)r->addr, r->len, nl, 0);
		if (m != MAP_FAILED) {
			if (r->dev)
				ev(EV_MREMAP_DEV_OK);
			arena_fill(r->addr + nl, r->len - nl);
			r->len = nl;
		}
		return;
	}
	case 1: { /* grow in place into a hole we punch */
		size_t extra = PAGE * (1 + below(512));

		if (!in_arena(r->addr, r->len + extra))
			return;
		note("mremap grow %#lx %#zx +%#zx", (unsigned long)r->addr, r->len, extra);
		touch(r->addr, r->len + extra);
		munmap((void *)(r->addr + r->len), extra);
		m = mremap((void *)r->addr, r->len, r->len + extra, 0);
		if (m == MAP_FAILED) {
			arena_fill(r->addr + r->len, extra);
			return;
		}
		if (r->dev && pristine)
			fuzz_fail("mremap grew a device mapping %#lx+%#zx by %#zx",
				  (unsigned long)r->addr, r->len, extra);
		r->len += extra;
		return;
	}
	default: { /* move (maybe growing, maybe keeping the source) */
		int kind = (int)below(3);
		size_t nl = kind == 1 ? r->len + PAGE * (1 + below(64)) : r->len;
		int flags = MREMAP_MAYMOVE | MREMAP_FIXED | (kind == 2 ? MREMAP_DONTUNMAP : 0);
		uintptr_t t = arena_spot(nl);

		if (!t || (t < r->addr + r->len && r->addr < t + nl))
			return;
		note("mremap move %#lx %#zx -> %#lx %#zx flags %#x", (unsigned long)r->addr,
		     r->len, (unsigned long)t, nl, flags);
		touch(r->addr, r->len);
		touch(t, nl);
		m = mremap((void *)r->addr, r->len, nl, flags, (void *)t);
		if (m == MAP_FAILED) {
			arena_fill(t, nl);
			return;
		}
		if (r->dev && pristine && nl > r->len)
			fuzz_fail("mremap grew a device mapping %#lx+%#zx to %#zx",
				  (unsigned long)r->addr, r->len, nl);
		if (r->dev)
			ev(EV_MREMAP_DEV_OK);
		if (kind == 2) {
			region_add(t, nl, r->dev, r->huge);
			W.r[W.nr - 1].pristine = false; /* (or the replaced slot: harmless) */
			for (int i = 0; i < W.nr; i++)
				if (W.r[i].addr == t)
					W.r[i].pristine = false;
			return;
		}
		arena_fill(r->addr, r->len);
		r->addr = t;
		r->len = nl;
	}
	}
}

static void op_mprotect(void)
{
	static const int prots[] = { PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE, PROT_WRITE,
				     PROT_READ | PROT_EXEC, PROT_READ | PROT_WRITE | PROT_EXEC };
	struct region *r = region_pick();
	int prot = PICK(prots), ret;
	bool pristine;
	uintptr_t a;
	size_t len;

	if (!r)
		return;
	pristine = r->pristine;
	subrange(r, &a, &len);
	note("mprotect %#lx len=%#zx prot=%#x (%s)", (unsigned long)a, len, prot,
	     r->dev ? "dev" : "anon");
	touch(a, len);
	ret = mprotect((void *)a, len, prot);
	if (r->dev)
		ev(EV_MPROTECT_DEV);
	if (!ret && r->dev && pristine && (prot & PROT_EXEC)) {
		struct acl_vma v = { .path = "?" };

		acl_find_vma(0, (void *)a, &v);
		fuzz_fail("mprotect(PROT_EXEC) of a device mapping %#lx+%#zx succeeded (now %s %s, "
			  "flags %s)", (unsigned long)a, len, v.perms, v.path, v.vmflags);
	}
}

static void op_madvise(void)
{
	static const int advs[] = {
		MADV_DONTNEED, MADV_REMOVE, MADV_DONTFORK, MADV_DOFORK, MADV_HUGEPAGE,
		MADV_NOHUGEPAGE, MADV_COLD, MADV_PAGEOUT, MADV_WIPEONFORK, MADV_KEEPONFORK,
		MADV_FREE, MADV_WILLNEED, MADV_SEQUENTIAL, MADV_RANDOM, MADV_DONTDUMP,
		MADV_DODUMP, MADV_MERGEABLE, 22 /* POPULATE_READ */, 23 /* POPULATE_WRITE */,
		24 /* DONTNEED_LOCKED */, 25 /* COLLAPSE */, 77 /* invalid */,
	};
	struct region *r = region_pick();
	int adv = PICK(advs);
	uintptr_t a;
	size_t len;

	if (!r)
		return;
	subrange(r, &a, &len);
	note("madvise %#lx len=%#zx adv=%d (%s)", (unsigned long)a, len, adv,
	     r->dev ? "dev" : "anon");
	if (adv == MADV_DONTFORK || adv == MADV_DOFORK || adv == MADV_WIPEONFORK ||
	    adv == MADV_KEEPONFORK)
		touch(a, len);
	if (!madvise((void *)a, len, adv) && r->dev) {
		ev(EV_MADVISE_DEV_OK);
		if (adv == MADV_DOFORK)
			W.dofork = true;
	}
}

static void op_mlock(void)
{
	struct region *r = region_pick();
	uintptr_t a;
	size_t len;

	if (!r)
		return;
	subrange(r, &a, &len);
	note("mlock %#lx len=%#zx", (unsigned long)a, len);
	if (chance(500)) {
		mlock((void *)a, len);
	} else {
		munlock((void *)a, len);
	}
}

static void op_probe(void)
{
	struct region *r = region_pick();
	unsigned char v = (unsigned char)rnd();
	uintptr_t a;

	if (!r)
		return;
	a = r->addr + below(r->len);
	note("probe %#lx (%s)", (unsigned long)a, r->dev ? "dev" : "anon");
	if (guarded_copy(chance(500) ? (void *)a : &v, chance(500) ? &v : (void *)a, 1))
		ev(EV_PROBE_FAULT);
}

/* ------------------------------------------------------------------ */
/* Processes and files                                                */
/* ------------------------------------------------------------------ */

static void dev_open(void)
{
	W.fd = open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC);
	if (W.fd < 0)
		fuzz_fail("open %s: %s", ACL_DEV_PATH, strerror(errno));
	W.inherited_fd = false;
}

static void op_reopen(void)
{
	note("close and reopen (%d handles)", W.nh);
	close(W.fd);
	while (W.nh)
		handle_forget(W.nh - 1);
	dev_open();
	ev(EV_REOPEN);
}

/* A second file of the same process, used once and closed with state. */
static void op_second_file(void)
{
	struct handle saved_h[MAX_HANDLES];
	int saved = W.fd, nh = W.nh;
	bool inh = W.inherited_fd;

	note("second file");
	memcpy(saved_h, W.h, sizeof(saved_h));
	dev_open();
	W.nh = 0;
	op_alloc();
	if (W.nh && chance(500)) {
		op_export();
		op_mmap_dev();
	}
	close(W.fd);
	W.fd = saved;
	memcpy(W.h, saved_h, sizeof(saved_h));
	W.nh = nh;
	W.inherited_fd = inh;
}

/*
 * In a fork()ed child: the arena holes left by VM_DONTCOPY/VM_DONTFORK
 * mappings are refilled (so that nothing else lands there), and no mapping
 * of the device is inherited (contract section 3): a VMA that MADV_DOFORK
 * made fork() copy may exist, but reading through it must fault.
 */
static void child_check_maps(void)
{
	char *line = NULL;
	size_t cap = 0;
	uintptr_t cursor = W.arena, end = W.arena + ARENA_SIZE, dev_at = 0;
	int devs = 0;
	FILE *f = fopen("/proc/self/maps", "re");

	if (!f)
		fuzz_fail("fopen /proc/self/maps: %s", strerror(errno));
	while (getline(&line, &cap, f) > 0) {
		struct acl_vma v;

		if (!acl_smaps_header(line, &v))
			continue;
		if (!strcmp(v.path, ACL_MAP_PATH)) {
			unsigned char c;

			devs++;
			if (!guarded_copy(&c, (void *)v.start, 1))
				dev_at = v.start;
		}
		if (v.end <= cursor || v.start >= end)
			continue;
		if (v.start > cursor)
			arena_fill(cursor, v.start - cursor);
		cursor = v.end;
	}
	free(line);
	fclose(f);
	if (cursor < end)
		arena_fill(cursor, end - cursor);
	if (dev_at)
		fuzz_fail("a fork() child can read its parent's mapping of %s at %#lx "
			  "(%d inherited after MADV_DOFORK)", ACL_MAP_PATH, (unsigned long)dev_at, devs);
}

static void run_ops(uint32_t nops, uint32_t *done);

static void op_fork(void)
{
	int slot = -1, ndev = 0;
	pid_t pid;

	for (int i = 0; i < MAX_CHILDREN; i++)
		if (W.children[i] <= 0)
			slot = i;
	if (slot < 0)
		return;
	for (int i = 0; i < W.nr; i++)
		ndev += W.r[i].dev;
	note("fork (%d device regions)", ndev);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return;
	ev(EV_FORK);
	if (ndev)
		ev(EV_FORK_WITH_DEV);
	if (W.dofork)
		ev(EV_FORK_AFTER_DOFORK);
	if (pid == 0) {
		uint32_t n = 3 + (uint32_t)below(20), done = 0;
		int end = (int)below(10);

		W.child = true;
		W.inherited_fd = true;
		/* Dies with the worker (else it would wait for a kill that never comes). */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != W.tgid)
			_exit(0);
		W.tgid = getpid();
		memset(W.children, 0, sizeof(W.children));
		__atomic_store_n(&mb->slot[W.slot].child_tgid[slot], W.tgid, __ATOMIC_RELAXED);
		rng_seed(W.seed, 1000 + W.slot, ((uint64_t)W.life << 20) ^ W.op);
		child_check_maps();
		W.nlib = 0; /* the library forgot everything in its atfork handler */
		for (int i = 0; i < W.nr; i++) /* not inherited: now placeholders */
			W.r[i].pristine = W.r[i].dev = false;
		run_ops(n, &done);
		if (end == 0)
			raise(SIGKILL);
		if (end == 1) { /* wait to be killed by the worker */
			for (int k = 0; k < 600; k++)
				usleep(100000);
		}
		_exit(0);
	}
	W.children[slot] = pid;
}

/* Reaps (or kills and reaps) child @i; its exit status must be clean. */
static void child_end(int i, bool kill_it)
{
	pid_t pid = W.children[i];
	int st;

	if (pid <= 0)
		return;
	note("%s child %d", kill_it ? "kill" : "reap", (int)pid);
	if (kill_it) {
		kill(pid, SIGKILL);
		st = acl_wait(pid);
	} else if (waitpid(pid, &st, WNOHANG) == 0) {
		return; /* still running: never wait for it (it may sleep) */
	}
	W.children[i] = 0;
	if (st == -1)
		fuzz_fail("waitpid %d: %s", (int)pid, strerror(errno));
	if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
		fuzz_fail("forked child %d failed (exit %d)", (int)pid, WEXITSTATUS(st));
	if (WIFSIGNALED(st) && WTERMSIG(st) != SIGKILL)
		fuzz_fail("forked child %d died of signal %d", (int)pid, WTERMSIG(st));
	mb->slot[W.slot].dead[mb->slot[W.slot].dead_idx++ % 8] = pid;
}

static void op_child(void)
{
	int i = (int)below(MAX_CHILDREN);

	if (W.children[i] > 0)
		child_end(i, chance(500));
}

/* The worker ends itself in the middle of its sequence. */
static void op_self_kill(void)
{
	struct mb_slot *s = &mb->slot[W.slot];

	if (W.child)
		return;
	note("self kill");
	ev(EV_SELF_KILL);
	__atomic_store_n(&s->state, ST_SUICIDE, __ATOMIC_SEQ_CST);
	if (chance(500))
		raise(SIGKILL);
	_exit(0);
}

/* ------------------------------------------------------------------ */
/* The library                                                        */
/* ------------------------------------------------------------------ */

static void lib_check(aclError e, const char *what)
{
	static const aclError codes[] = {
		ACL_SUCCESS, ACL_ERROR_INVALID_PARAM, ACL_ERROR_UNINITIALIZE,
		ACL_ERROR_REPEAT_INITIALIZE, ACL_ERROR_RT_PARAM_INVALID,
		ACL_ERROR_RT_INVALID_DEVICEID, ACL_ERROR_RT_CONTEXT_NULL,
		ACL_ERROR_RT_INVALID_HANDLE, ACL_ERROR_RT_FEATURE_NOT_SUPPORT,
		ACL_ERROR_RT_MEMORY_ALLOCATION, ACL_ERROR_RT_NO_DEVICE,
		ACL_ERROR_RT_NO_PERMISSION, ACL_ERROR_RT_OVER_LIMIT,
		ACL_ERROR_RT_DRV_INTERNAL_ERROR,
	};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (e == codes[i]) {
			if (!e)
				ev(EV_LIB_OK);
			if (e && !aclGetRecentErrMsg())
				fuzz_fail("library: %s returned %d without a message", what, e);
			return;
		}
	fuzz_fail("library: %s returned %d, not an ACL error code", what, e);
}

static aclrtDrvMemHandle lib_handle(struct lib_obj **o)
{
	static const uintptr_t bad[] = { 0, 1, 0xffffffff, 0x100000000ULL, 12345 };

	*o = NULL;
	if (W.nlib && chance(800)) {
		*o = &W.lib[below(W.nlib)];
		return (*o)->h;
	}
	return (aclrtDrvMemHandle)PICK(bad);
}

static void lib_forget(struct lib_obj *o)
{
	*o = W.lib[--W.nlib];
}

static void op_lib(void)
{
	struct lib_obj *o;
	aclError e;

	switch (below(9)) {
	case 0: { /* MallocPhysical */
		const size_t sizes[] = { SZ_2M, SZ_2M, 4 * SZ_2M, PAGE, 0, SZ_2M + PAGE };
		aclrtPhysicalMemProp p = acl_prop(chance(700) ? ACL_HBM_MEM_HUGE
							       : (aclrtMemAttr)below(20),
						  chance(700) ? ACL_MEM_LOCATION_TYPE_DEVICE
							      : (aclrtMemLocationType)below(6),
						  chance(800) ? 0 : (uint32_t)below(10));
		aclrtDrvMemHandle h = NULL;
		size_t size = PICK(sizes);

		if (W.nlib >= MAX_LIB)
			return;
		if (chance(100))
			p.handleType = ACL_MEM_HANDLE_TYPE_POSIX;
		if (chance(100))
			p.reserve = rnd();
		note("lib MallocPhysical size %#zx attr %d loc %d/%u", size, p.memAttr,
		     p.location.type, p.location.id);
		e = aclrtMallocPhysical(chance(20) ? NULL : &h, size, chance(20) ? NULL : &p,
					chance(50) ? 1 : 0);
		lib_check(e, "aclrtMallocPhysical");
		if (!e)
			W.lib[W.nlib++] = (struct lib_obj){ .h = h, .size = size };
		return;
	}
	case 1: /* FreePhysical */
		lib_handle(&o);
		note("lib FreePhysical");
		e = aclrtFreePhysical(o ? o->h : lib_handle(&o));
		lib_check(e, "aclrtFreePhysical");
		if (!e && o) {
			if (o->mapped)
				return; /* still mapped: keep it for the unmap */
			if (o->resv)
				lib_check(aclrtReleaseMemAddress(o->resv), "aclrtReleaseMemAddress");
			lib_forget(o);
		}
		return;
	case 2: { /* Reserve + Map */
		void *va = NULL;

		lib_handle(&o);
		if (!o || o->resv)
			return;
		note("lib Reserve+Map %#zx", o->size);
		e = aclrtReserveMemAddress(&va, o->size, 0, NULL, chance(100) ? 2 : 0);
		lib_check(e, "aclrtReserveMemAddress");
		if (e)
			return;
		o->resv = va;
		e = aclrtMapMem(va, chance(50) ? o->size + SZ_2M : o->size, chance(50) ? 1 : 0,
				o->h, 0);
		lib_check(e, "aclrtMapMem");
		if (!e)
			o->mapped = true;
		return;
	}
	case 3: /* Unmap + Release */
		lib_handle(&o);
		if (!o || !o->resv)
			return;
		note("lib Unmap+Release");
		if (o->mapped) {
			e = aclrtUnmapMem(o->resv);
			lib_check(e, "aclrtUnmapMem");
			if (!e)
				o->mapped = false;
		}
		e = aclrtReleaseMemAddress(o->resv);
		lib_check(e, "aclrtReleaseMemAddress");
		if (!e)
			o->resv = NULL;
		return;
	case 4: { /* Export */
		struct token t = { .type = chance(500) ? ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT
						       : ACL_MEM_SHARE_HANDLE_TYPE_FABRIC };
		uint64_t flags = chance(500) ? 1 : chance(900) ? 0 : 2;
		aclrtDrvMemHandle h = lib_handle(&o);

		note("lib Export");
		e = aclrtMemExportToShareableHandleV2(h, flags, (aclrtMemSharedHandleType)t.type,
						      t.data);
		lib_check(e, "aclrtMemExportToShareableHandleV2");
		if (!e) {
			publish(&t);
			if (o)
				o->exported = true;
		}
		return;
	}
	case 5: { /* SetPid */
		struct token t;
		int32_t pids[4];
		size_t n = 1 + below(4);

		rnd_token(&t);
		for (size_t i = 0; i < n; i++)
			pids[i] = rnd_pid();
		note("lib SetPid");
		e = aclrtMemSetPidToShareableHandleV2(t.data, (aclrtMemSharedHandleType)t.type,
						      pids, chance(50) ? 0 : n);
		lib_check(e, "aclrtMemSetPidToShareableHandleV2");
		return;
	}
	case 6: { /* Import */
		struct token t;
		aclrtDrvMemHandle h = NULL;

		if (W.nlib >= MAX_LIB)
			return;
		rnd_token(&t);
		note("lib Import");
		e = aclrtMemImportFromShareableHandleV2(t.data, (aclrtMemSharedHandleType)t.type,
							chance(50) ? 1 : 0, &h);
		lib_check(e, "aclrtMemImportFromShareableHandleV2");
		if (!e) {
			aclrtPhysicalMemProp p;
			size_t gran = 0;

			ev(EV_LIB_IMPORT_OK);
			lib_check(aclrtMemGetAllocationPropertiesFromHandle(h, &p),
				  "aclrtMemGetAllocationPropertiesFromHandle");
			(void)gran;
			W.lib[W.nlib++] = (struct lib_obj){ .h = h, .size = SZ_2M };
		}
		return;
	}
	case 7: { /* queries and copies on a mapping */
		void *base = NULL;
		size_t size = 0;
		unsigned char host[64] = { 1 };

		lib_handle(&o);
		if (!o || !o->mapped)
			return;
		note("lib copies");
		lib_check(aclrtMemGetAddressRange((char *)o->resv + below(o->size), &base, &size),
			  "aclrtMemGetAddressRange");
		lib_check(aclrtMemcpy(o->resv, o->size, host, sizeof(host),
				      ACL_MEMCPY_HOST_TO_DEVICE), "aclrtMemcpy");
		lib_check(aclrtMemcpy(host, sizeof(host), (char *)o->resv + o->size - 32, 64,
				      ACL_MEMCPY_DEVICE_TO_HOST), "aclrtMemcpy (crossing the end)");
		lib_check(aclrtMemset(o->resv, o->size, 0x5a, 128), "aclrtMemset");
		return;
	}
	default: { /* a handle's properties and retain */
		aclrtPhysicalMemProp p;
		aclrtDrvMemHandle h2 = NULL;

		note("lib properties");
		lib_check(aclrtMemGetAllocationPropertiesFromHandle(lib_handle(&o), &p),
			  "aclrtMemGetAllocationPropertiesFromHandle");
		if (o && o->mapped) {
			e = aclrtMemRetainAllocationHandle(o->resv, &h2);
			lib_check(e, "aclrtMemRetainAllocationHandle");
		}
	}
	}
}

/* ------------------------------------------------------------------ */
/* The worker                                                         */
/* ------------------------------------------------------------------ */

static void run_ops(uint32_t nops, uint32_t *done)
{
	for (uint32_t i = 0; i < nops; i++, (*done)++) {
		unsigned int x = (unsigned int)below(1000);

		W.op = *done;
		W.clean = chance(500);
		if (!W.child) {
			__atomic_store_n(&mb->slot[W.slot].ops_done, *done, __ATOMIC_RELAXED);
			ev(EV_OPS);
		}
		if (x < 70)
			op_alloc();
		else if (x < 120)
			op_free();
		else if (x < 160)
			op_query();
		else if (x < 175)
			op_info();
		else if (x < 235)
			op_export();
		else if (x < 270)
			op_set_pid();
		else if (x < 285)
			op_revoke();
		else if (x < 355)
			op_import();
		else if (x < 385)
			op_bad_ioctl();
		else if (x < 485)
			op_mmap_dev();
		else if (x < 505)
			op_mmap_anon();
		else if (x < 565)
			op_munmap();
		else if (x < 615)
			op_mremap();
		else if (x < 650)
			op_mprotect();
		else if (x < 710)
			op_madvise();
		else if (x < 720)
			op_mlock();
		else if (x < 800)
			op_probe();
		else if (x < 806)
			op_fork();
		else if (x < 815)
			op_child();
		else if (x < 820)
			op_reopen();
		else if (x < 824)
			op_second_file();
		else if (x < 826)
			op_self_kill();
		else
			op_lib();
	}
}

static void worker_setup(void)
{
	void *p;
	uintptr_t a;

	guard_install();
	p = mmap(NULL, ARENA_SIZE + SZ_2M, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		 -1, 0);
	if (p == MAP_FAILED)
		fuzz_fail("arena: %s", strerror(errno));
	a = ((uintptr_t)p + SZ_2M - 1) & ~(SZ_2M - 1);
	W.arena = a;
	W.scratch = acl_map_guarded(SCR_BUF_LEN + SCR_DATA_LEN, 2);
	if (!W.scratch)
		fuzz_fail("scratch: %s", strerror(errno));
	memcpy(SCR_RO, &(uint32_t){ 64 }, 4);
	if (mprotect(SCR_RO, PAGE, PROT_READ) || mprotect(SCR_RO + PAGE, PAGE, PROT_NONE))
		fuzz_fail("scratch mprotect: %s", strerror(errno));
	p = mmap(NULL, ZEROS_LEN + PAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED || mprotect((char *)p + ZEROS_LEN, PAGE, PROT_NONE))
		fuzz_fail("zeros: %s", strerror(errno));
	W.zeros = p;
	dev_open();
}

static void worker(int slot, uint64_t seed, uint32_t life, uint32_t start, uint32_t ops)
{
	struct mb_slot *s = &mb->slot[slot];
	uint32_t done = start;

	memset(&W, 0, sizeof(W));
	W.slot = slot;
	W.life = life;
	W.seed = seed;
	W.tgid = getpid();
	rng_seed(seed, (uint64_t)slot + 1, life);
	if (slot & 1) {
		if (acl_set_test_memlock() || setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534))
			fuzz_fail("dropping privileges: %s", strerror(errno));
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	__atomic_store_n(&s->tgid, W.tgid, __ATOMIC_SEQ_CST);
	worker_setup();
	aclrtSetDevice((int32_t)below(8));
	run_ops(ops - start, &done);
	W.op = done;
	for (int i = 0; i < MAX_CHILDREN; i++)
		child_end(i, true);
	__atomic_store_n(&s->ops_done, done, __ATOMIC_SEQ_CST);
	__atomic_store_n(&s->state, ST_DONE, __ATOMIC_SEQ_CST);
	/* Everything else is released by the exit itself. */
	_exit(0);
}

/* ------------------------------------------------------------------ */
/* The test process                                                   */
/* ------------------------------------------------------------------ */

static unsigned long env_ul(const char *name, unsigned long def)
{
	const char *v = getenv(name);
	char *end;
	unsigned long x;

	if (!v || !*v)
		return def;
	errno = 0;
	x = strtoul(v, &end, 0);
	if (errno || *end) {
		fprintf(stderr, "# %s=%s is not a number, using %lu\n", name, v, def);
		return def;
	}
	return x;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static pid_t spawn(int slot, uint64_t seed, uint32_t life, uint32_t start, uint32_t ops)
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	/* Before fork(): a short life may end before the parent runs again. */
	__atomic_store_n(&mb->slot[slot].state, ST_RUNNING, __ATOMIC_SEQ_CST);
	pid = fork();
	if (pid == 0)
		worker(slot, seed, life, start, ops);
	return pid;
}

/* Our remaining children (workers and orphans we reaped as subreaper). */
static int kill_children(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char path[300], buf[512], *rp;
		int ppid = 0;
		FILE *f;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f) && (rp = strrchr(buf, ')')) &&
		    sscanf(rp + 2, "%*c %d", &ppid) == 1 && ppid == getpid()) {
			kill(atoi(e->d_name), SIGKILL);
			n++;
		}
		fclose(f);
	}
	closedir(d);
	return n;
}

/*
 * Runs one seed: @nworkers workers of @ops operations each. Returns 0, or
 * -1 after printing why (with the seed).
 */
static int fuzz_run(uint64_t seed, unsigned int nworkers, uint32_t ops, double *secs)
{
	pid_t pids[FUZZ_MAX_WORKERS];
	uint32_t lives[FUZZ_MAX_WORKERS] = { 0 };
	bool done[FUZZ_MAX_WORKERS] = { false };
	struct acl_counters start;
	unsigned int left = nworkers;
	unsigned long hang_s = env_ul("ACL_FUZZ_HANG_S", FUZZ_DEFAULT_HANG_S);
	uint64_t last_total = 0, ev_tot[EV_NR] = { 0 };
	double t0 = now_s(), last_progress = t0;
	int failed = 0, st, bad;
	char evs[1024];
	size_t evn = 0;
	pid_t pid;

	if (nworkers < 1 || nworkers > FUZZ_MAX_WORKERS) {
		fprintf(stderr, "# fuzz: worker count %u out of 1..%d\n", nworkers,
			FUZZ_MAX_WORKERS);
		return -1;
	}
	if (acl_read_counters(&start))
		return -1;
	memset(mb, 0, sizeof(*mb));
	mb->seed = seed;
	mb->workers = nworkers;
	printf("# fuzz: seed=%#llx workers=%u ops=%u (replay: ACL_FUZZ_SEED=%#llx "
	       "ACL_FUZZ_OPS=%u ACL_FUZZ_WORKERS=%u)\n",
	       (unsigned long long)seed, nworkers, ops, (unsigned long long)seed, ops, nworkers);
	fflush(stdout);
	for (unsigned int i = 0; i < nworkers; i++) {
		pids[i] = spawn((int)i, seed, 0, 0, ops);
		if (pids[i] < 0) {
			fprintf(stderr, "# fuzz: fork: %s\n", strerror(errno));
			failed = 1;
			done[i] = true;
			left--;
		}
	}

	while (left && !failed) {
		uint64_t total = 0;

		pid = waitpid(-1, &st, WNOHANG);
		if (pid < 0 && errno != EINTR)
			break;
		if (pid <= 0) {
			for (unsigned int i = 0; i < nworkers; i++)
				total += __atomic_load_n(&mb->slot[i].ev[EV_OPS], __ATOMIC_RELAXED);
			if (total != last_total) {
				last_total = total;
				last_progress = now_s();
			} else if (now_s() - last_progress > (double)hang_s) {
				fprintf(stderr, "# fuzz FAIL: seed=%#llx: no progress for %lu s "
					"(a hang)\n", (unsigned long long)seed, hang_s);
				for (unsigned int i = 0; i < nworkers; i++)
					if (!done[i])
						fprintf(stderr, "#   worker %u pid %d at: %s\n", i,
							(int)pids[i], mb->slot[i].cur_op);
				failed = 1;
				break;
			}
			usleep(20000);
			continue;
		}
		for (unsigned int i = 0; i < nworkers; i++) {
			struct mb_slot *s = &mb->slot[i];
			uint32_t state;

			if (pids[i] != pid || done[i])
				continue;
			state = __atomic_load_n(&s->state, __ATOMIC_SEQ_CST);
			s->dead[s->dead_idx++ % 8] = pid;
			if (state == ST_SUICIDE &&
			    ((WIFEXITED(st) && !WEXITSTATUS(st)) ||
			     (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL))) {
				uint32_t at = __atomic_load_n(&s->ops_done, __ATOMIC_SEQ_CST) + 1;

				if (at < ops) {
					pids[i] = spawn((int)i, seed, ++lives[i], at, ops);
					if (pids[i] > 0)
						break;
				}
				done[i] = true;
				left--;
			} else if (state == ST_DONE && WIFEXITED(st) && !WEXITSTATUS(st)) {
				done[i] = true;
				left--;
			} else {
				fprintf(stderr, "# fuzz FAIL: seed=%#llx worker %u (pid %d, life %u) "
					"ended with %s %d: %s\n", (unsigned long long)seed, i,
					(int)pid, lives[i], WIFEXITED(st) ? "exit" : "signal",
					WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
					s->fail[0] ? s->fail : s->cur_op);
				failed = 1;
			}
			pid = 0;
			break;
		}
		if (pid > 0) {
			/* An orphaned child of a worker that died: it must end cleanly. */
			if ((WIFEXITED(st) && WEXITSTATUS(st)) ||
			    (WIFSIGNALED(st) && WTERMSIG(st) != SIGKILL)) {
				fprintf(stderr, "# fuzz FAIL: seed=%#llx: orphaned child %d ended "
					"with %s %d\n", (unsigned long long)seed, (int)pid,
					WIFEXITED(st) ? "exit" : "signal",
					WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
				failed = 1;
			}
		}
	}

	/* Stragglers (children waiting to be killed, or all of them on failure). */
	for (double t = now_s(); ; ) {
		int n = kill_children();

		while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
			if (!failed && ((WIFEXITED(st) && WEXITSTATUS(st)) ||
					(WIFSIGNALED(st) && WTERMSIG(st) != SIGKILL))) {
				fprintf(stderr, "# fuzz FAIL: seed=%#llx: process %d ended with %s "
					"%d\n", (unsigned long long)seed, (int)pid,
					WIFEXITED(st) ? "exit" : "signal",
					WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
				failed = 1;
			}
		}
		if (pid < 0 && errno == ECHILD)
			break;
		if (now_s() - t > 60) {
			fprintf(stderr, "# fuzz FAIL: seed=%#llx: %d process(es) do not die "
				"after SIGKILL (a hang in the kernel?)\n", (unsigned long long)seed, n);
			failed = 1;
			break;
		}
		usleep(20000);
	}
	*secs = now_s() - t0;

	/* Nothing leaked: the live counters return to where they were. */
	for (double t = now_s(); ; usleep(50000)) {
		bad = acl_counters_diff(&start, ACL_CNT_LIVE);
		if (!bad || now_s() - t > 5)
			break;
	}
	if (bad) {
		fprintf(stderr, "# fuzz FAIL: seed=%#llx: %d counter(s) differ after all "
			"processes ended (a leak)\n", (unsigned long long)seed, bad);
		failed = 1;
	}

	for (unsigned int i = 0; i < nworkers; i++)
		for (int e = 0; e < EV_NR; e++)
			ev_tot[e] += mb->slot[i].ev[e];
	for (int e = 0; e < EV_NR && evn < sizeof(evs) - 64; e++)
		evn += (size_t)snprintf(evs + evn, sizeof(evs) - evn, " %s=%llu", ev_names[e],
					(unsigned long long)ev_tot[e]);
	printf("# fuzz: seed=%#llx %s in %.1f s:%s\n", (unsigned long long)seed,
	       failed ? "FAILED" : "ok", *secs, evs);
	fflush(stdout);
	return failed ? -1 : 0;
}

FIXTURE(fuzz) {
	bool replay;
	uint64_t seed;
	unsigned int workers;
	uint32_t ops;
};

FIXTURE_SETUP(fuzz)
{
	const char *s = getenv("ACL_FUZZ_SEED");

	mb = mmap(NULL, sizeof(*mb), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, mb);
	ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1));
	self->replay = s && *s;
	if (self->replay) {
		char *end;

		errno = 0;
		self->seed = strtoull(s, &end, 0);
		ASSERT_TRUE(!errno && !*end) TH_LOG("ACL_FUZZ_SEED=%s is not a number", s);
	} else {
		ASSERT_EQ((ssize_t)sizeof(self->seed),
			  getrandom(&self->seed, sizeof(self->seed), 0));
	}
	self->workers = (unsigned int)env_ul("ACL_FUZZ_WORKERS", FUZZ_DEFAULT_WORKERS);
	fuzz_trace = env_ul("ACL_FUZZ_TRACE", 0) != 0;
	self->ops = (uint32_t)env_ul("ACL_FUZZ_OPS", FUZZ_DEFAULT_OPS);
	ASSERT_EQ(0, access(ACL_DEV_PATH, R_OK | W_OK)) TH_LOG("%s: %s", ACL_DEV_PATH,
							     strerror(errno));
}

FIXTURE_TEARDOWN(fuzz)
{
	munmap(mb, sizeof(*mb));
}

/* The regression seeds of fuzz_corpus.h. */
TEST_F_TIMEOUT(fuzz, fuzz_corpus, 3600)
{
	size_t n = sizeof(fuzz_corpus) / sizeof(fuzz_corpus[0]);
	int failures = 0;
	double secs, total = 0;

	if (self->replay) {
		TH_LOG("replay mode (ACL_FUZZ_SEED=%#llx): the corpus is not run",
		       (unsigned long long)self->seed);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct fuzz_seed *c = &fuzz_corpus[i];

		printf("# fuzz corpus %zu/%zu: %s\n", i + 1, n, c->why);
		if (fuzz_run(c->seed, c->workers, c->ops, &secs)) {
			TH_LOG("corpus seed %#llx (%s) failed: replay with ACL_FUZZ_SEED=%#llx "
			       "ACL_FUZZ_OPS=%u ACL_FUZZ_WORKERS=%u",
			       (unsigned long long)c->seed, c->why, (unsigned long long)c->seed,
			       c->ops, c->workers);
			failures++;
		}
		total += secs;
	}
	TH_LOG("%zu corpus seeds in %.1f s", n, total);
	ASSERT_EQ(0, failures);
}

/* A fresh seed (or ACL_FUZZ_SEED) across ACL_FUZZ_WORKERS workers. */
TEST_F_TIMEOUT(fuzz, fuzz_random, 3600)
{
	double secs;
	int ret;

	TH_LOG("seed %#llx, %u workers x %u operations%s", (unsigned long long)self->seed,
	       self->workers, self->ops, self->replay ? " (replay)" : "");
	ret = fuzz_run(self->seed, self->workers, self->ops, &secs);
	ASSERT_EQ(0, ret) TH_LOG("seed %#llx failed: replay with ACL_FUZZ_SEED=%#llx "
				 "ACL_FUZZ_OPS=%u ACL_FUZZ_WORKERS=%u",
				 (unsigned long long)self->seed, (unsigned long long)self->seed,
				 self->ops, self->workers);
	TH_LOG("%u operations in %u processes in %.1f s", self->ops * self->workers,
	       self->workers, secs);
}

TEST_HARNESS_MAIN
