// SPDX-License-Identifier: GPL-2.0
/*
 * Fault-injection sweep (issue 4, "Hardening"), in the style of the kernel's
 * tools/testing/selftests/iommu/iommufd_fail_nth.c.
 *
 * For each success-path operation (allocate, map, export, set pid, import,
 * free, exit) the sweep fails the 1st, 2nd, ... N-th fault point the calling
 * task passes in the kernel (/proc/self/task/<tid>/fail-nth: every slab and
 * page allocation, in the module and in whatever core code the call runs),
 * until the operation completes with the injection left unused. At every
 * step:
 *  - the call succeeds, or reports the contract's code for the situation
 *    (207001 for an allocation failure; never 507899, 100000, ...);
 *  - the module's live counters are what that outcome implies (a failed call
 *    changes nothing);
 *  - a retry without injection succeeds, and cleaning up brings every
 *    counter back.
 * Leaks that the counters cannot see (a struct pid, an xarray node) are left
 * to kmemleak: the last test scans and fails on reports naming the module
 * or allocated by this program.
 *
 * Two modes: "name" fails only the nth fault point (iommufd_fail_nth.c's
 * way); "name_from_nth" fails the nth and every later one until the call
 * returns, which reaches the unwinding behind fallbacks (an xarray store
 * retried by xas_nomem()) that a single failure never does. map, the
 * library's first call (which opens the device) and exit span several
 * system calls or a whole process and run in the first mode only.
 *
 * Only a debug kernel has fail-nth (CONFIG_FAULT_INJECTION, CONFIG_FAILSLAB,
 * CONFIG_FAIL_PAGE_ALLOC, CONFIG_FAULT_INJECTION_DEBUG_FS). Without it every
 * test FAILS (never skips): this program belongs to the debug-kernel suite.
 *
 * fail-nth is per task and is checked before the probability, interval,
 * times and task-filter attributes (should_fail_ex() in lib/fault-inject.c
 * of 6.1), so those need no setting. The type filters do apply first
 * (mm/failslab.c, mm/page_alloc.c): the setup clears ignore-gfp-wait (else a
 * sleeping allocation is never failed) and fail_page_alloc's
 * ignore-gfp-highmem (the module's pages are GFP_HIGHUSER), lowers min-order to 0
 * (default 1: single pages would never fail) and sets verbose to 0 (the
 * default prints a stack trace per injected failure, and the VM runner fails
 * the run on any "Call Trace").
 *
 * Discipline inside the injected window: arm, run exactly the operation,
 * read fail-nth back, disarm. Nothing else runs in between, and every page
 * the operation touches was touched before (a warm-up round, a prefaulted
 * stack), so that an injected failure lands in the operation, not in a page
 * fault (which would also turn a kernel copy-out into a false -EFAULT).
 */
#include <sys/mount.h>
#include <sys/syscall.h>

#include <linux/acl_share.h>

#include "acl/acl.h"
#include "acl_test_util.h"
#include "share_util.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A sweep that needs more fault points than this is stuck. */
#define FN_MAX_NTH 5000U

/* Seconds per test: KASAN + kmemleak under TCG make every call slow. */
#define FN_TIMEOUT 600

#define DEBUGFS "/sys/kernel/debug"
#define KMEMLEAK DEBUGFS "/kmemleak"

/* The fault attributes the setup sets (and the teardown restores). */
static const struct {
	const char *path;
	const char *value;
} fn_attrs[] = {
	{ DEBUGFS "/failslab/ignore-gfp-wait", "N" },
	{ DEBUGFS "/failslab/verbose", "0" },
	{ DEBUGFS "/fail_page_alloc/ignore-gfp-wait", "N" },
	{ DEBUGFS "/fail_page_alloc/ignore-gfp-highmem", "N" },
	{ DEBUGFS "/fail_page_alloc/min-order", "0" },
	{ DEBUGFS "/fail_page_alloc/verbose", "0" },
	/*
	 * The "from the nth on" mode: once fail-nth has counted down, every
	 * further fault point of a task whose make-it-fail is set fails.
	 * task-filter keeps every other task (make-it-fail 0) untouched.
	 */
	{ DEBUGFS "/failslab/task-filter", "Y" },
	{ DEBUGFS "/failslab/probability", "100" },
	{ DEBUGFS "/failslab/interval", "1" },
	{ DEBUGFS "/failslab/times", "-1" },
	{ DEBUGFS "/failslab/space", "0" },
	{ DEBUGFS "/fail_page_alloc/task-filter", "Y" },
	{ DEBUGFS "/fail_page_alloc/probability", "100" },
	{ DEBUGFS "/fail_page_alloc/interval", "1" },
	{ DEBUGFS "/fail_page_alloc/times", "-1" },
	{ DEBUGFS "/fail_page_alloc/space", "0" },
};

/* The counters that describe live state. */
static const enum acl_counter fn_live[] = {
	ACL_CNT_ALLOCATIONS, ACL_CNT_ALLOCATED_BYTES, ACL_CNT_MAPPINGS, ACL_CNT_HANDLES,
	ACL_CNT_EXPORTS,     ACL_CNT_IMPORTS,	      ACL_CNT_OPENS,
};

/* ------------------------------------------------------------------ */
/* Small file helpers                                                 */
/* ------------------------------------------------------------------ */

/* Writes @s to @path; 0 or -errno. */
static int fn_write_file(const char *path, const char *s)
{
	ssize_t len = (ssize_t)strlen(s), n;
	int fd = open(path, O_WRONLY | O_CLOEXEC), err;

	if (fd < 0)
		return -errno;
	n = write(fd, s, (size_t)len);
	err = n == len ? 0 : n < 0 ? -errno : -EIO;
	close(fd);
	return err;
}

/* Reads the first line of @path into @buf (newline stripped); 0 or -errno. */
static int fn_read_line(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0) {
		n = -errno;
		close(fd);
		return (int)n;
	}
	close(fd);
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* ------------------------------------------------------------------ */
/* fail-nth                                                           */
/* ------------------------------------------------------------------ */

/* /proc/<pid>/task/<tid>/fail-nth; an fd or -errno. */
static int fnth_open_task(pid_t pid, pid_t tid)
{
	char path[96];
	int fd;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/fail-nth", (int)pid, (int)tid);
	else
		snprintf(path, sizeof(path), "/proc/self/task/%d/fail-nth", (int)tid);
	fd = open(path, O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* The calling thread's fail-nth; an fd or -errno. */
static int fnth_open(void)
{
	return fnth_open_task(0, (pid_t)syscall(SYS_gettid));
}

/* The calling thread's make-it-fail; an fd or -errno. */
static int fnth_open_mif(void)
{
	char path[96];
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/make-it-fail", (int)syscall(SYS_gettid));
	fd = open(path, O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/*
 * How a sweep injects, for the calling thread:
 *  - only the nth fault point fails (fail-nth alone, as iommufd_fail_nth.c);
 *  - from_nth: the nth and every later one fail (fail-nth counts down, then
 *    make-it-fail with probability 100 takes over). A single failure never
 *    reaches the unwinding behind a fallback (an xarray store that fails
 *    its GFP_NOWAIT attempt retries with xas_nomem(); kmemleak falls back to
 *    its pool): this mode does. Only for operations that are one system
 *    call, so that the failures stay inside it.
 */
struct fn_inj {
	int nth_fd;
	int mif_fd;
	bool from_nth;
};

/* Arms (n > 0) or disarms (n == 0) the injection; 0 or -errno. */
static int fnth_write(int fd, unsigned int n)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%u", n);

	/* As iommufd_fail_nth.c does: an EFAULT may be the injection itself. */
	for (int tries = 0; tries < 2; tries++) {
		if (pwrite(fd, buf, (size_t)len, 0) == len)
			return 0;
		if (errno != EFAULT)
			break;
	}
	return -errno;
}

/*
 * Reads how many fault points the armed injection still had to pass (0: it
 * fired), then disarms. 0 or -errno.
 */
static int fnth_disarm(int fd, unsigned int *left)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	int err = n < 0 ? errno : 0, ret;

	ret = fnth_write(fd, 0);
	if (n < 0 && err == EFAULT) {
		/* It fired in this read's copy-out: the operation did not use it. */
		*left = 1;
		return ret;
	}
	if (n <= 0)
		return n < 0 ? -err : -EIO;
	buf[n] = '\0';
	*left = (unsigned int)strtoul(buf, NULL, 10);
	return ret;
}

static int fn_mif_write(int fd, bool on)
{
	return pwrite(fd, on ? "1" : "0", 1, 0) == 1 ? 0 : -errno;
}

static int fn_arm(const struct fn_inj *inj, unsigned int nth)
{
	int ret = fnth_write(inj->nth_fd, nth);

	if (!ret && inj->from_nth)
		ret = fn_mif_write(inj->mif_fd, true);
	return ret;
}

static int fn_disarm(const struct fn_inj *inj, unsigned int *left)
{
	int ret = inj->from_nth ? fn_mif_write(inj->mif_fd, false) : 0;

	return fnth_disarm(inj->nth_fd, left) ?: ret;
}

/* Opens the calling thread's files; 0 or -errno. */
static int fn_inj_open(struct fn_inj *inj, bool from_nth)
{
	inj->from_nth = from_nth;
	inj->nth_fd = fnth_open();
	if (inj->nth_fd < 0)
		return inj->nth_fd;
	inj->mif_fd = fnth_open_mif();
	if (inj->mif_fd < 0) {
		close(inj->nth_fd);
		return inj->mif_fd;
	}
	return 0;
}

static void fn_inj_close(struct fn_inj *inj)
{
	fn_mif_write(inj->mif_fd, false);
	fnth_write(inj->nth_fd, 0);
	close(inj->mif_fd);
	close(inj->nth_fd);
}

/*
 * Touches the stack below the caller so that no call inside the injected
 * window takes a page fault on it (in a fork child: a copy-on-write fault).
 */
static void __attribute__((noinline)) fn_prefault_stack(void)
{
	volatile char buf[256 * 1024];

	for (size_t i = 0; i < sizeof(buf); i += 1024)
		buf[i] = 0;
}

/* ------------------------------------------------------------------ */
/* Counters                                                           */
/* ------------------------------------------------------------------ */

/*
 * The live counters are @ref + @delta (NULL: unchanged). Prints each
 * mismatch, prefixed with @who and @when; returns their number.
 */
static int fn_counters(const char *who, unsigned int nth, const char *when,
		       const struct acl_counters *ref, const long long *delta)
{
	struct acl_counters now;
	int bad = 0;

	if (acl_read_counters(&now)) {
		fprintf(stderr, "# %s nth %u, %s: cannot read the counters\n", who, nth, when);
		return 1;
	}
	for (size_t i = 0; i < ARRAY_LEN(fn_live); i++) {
		enum acl_counter c = fn_live[i];
		unsigned long long want = ref->v[c] + (unsigned long long)(delta ? delta[c] : 0);

		if (now.v[c] == want)
			continue;
		fprintf(stderr, "# %s nth %u, %s: counter %s is %llu, expected %llu\n", who, nth,
			when, acl_counter_names[c], now.v[c], want);
		bad++;
	}
	return bad;
}

/* ------------------------------------------------------------------ */
/* The sweep                                                          */
/* ------------------------------------------------------------------ */

/* What the operations of one scenario work on. */
struct fn_ctx {
	aclrtPhysicalMemProp prop;	/* of the allocations the scenario makes */
	size_t size;			/* their size */
	aclrtDrvMemHandle handle;	/* the handle the operation works on */
	aclrtDrvMemHandle result;	/* the handle the operation makes */
	void *va;			/* a reservation of size bytes */
	aclrtMemSharedHandleType type;	/* of the exports the scenario makes */
	struct share_token tok;
	int32_t self_tgid;
	int32_t peer_tgid;		/* the other process */
	struct acl_chan *peer;		/* set pid: the importing child */
	int raw_fd;			/* raw ioctls */
	uint32_t raw_attr, raw_loc;
	uint32_t raw_handle;
	char key[72];			/* an IPC key */
};

/*
 * One scenario. Each round: prepare() (not injected), the operation
 * (injected), verify(), cleanup() (not injected). A hook returns 0, or
 * prints why and returns non-zero.
 */
struct fn_sweep {
	const char *name;
	const char *name_from_nth;	/* the same in the "from the nth on" mode */
	bool raw;			/* op() returns -errno, not an aclError */
	int fail_code;			/* the only failure allowed; 0: none */
	long long delta[ACL_CNT_NR];	/* live counters after a successful op() */
	int (*prepare)(struct fn_ctx *c);
	int (*op)(struct fn_ctx *c);
	/* The effect of op() is there (applied) or not at all. */
	int (*verify)(struct fn_ctx *c, bool applied);
	/* Undoes op() and prepare(): the counters are back at the start of the round. */
	int (*cleanup)(struct fn_ctx *c);
};

struct fn_result {
	unsigned int points;	/* fault points swept */
	unsigned int failed;	/* of which the operation failed (cleanly or not) */
	unsigned int tolerated;	/* of which the operation succeeded anyway */
	unsigned int errors;	/* problems found, each printed */
};

static void fn_describe(const struct fn_sweep *s, int r, char *buf, size_t len)
{
	if (s->raw) {
		snprintf(buf, len, "%d (%s)", r, strerror(-r));
	} else {
		const char *m = aclGetRecentErrMsg();

		snprintf(buf, len, "%d (\"%s\")", r, m ? m : "no message");
	}
}

/*
 * One round at @nth (0: without injection). Returns 0, or -1 when the state
 * is unknown and the sweep must stop; problems are counted in res->errors.
 * *left: the fault points the injection still had to pass (0: it fired).
 */
static int fn_round(const struct fn_sweep *s, struct fn_ctx *c, const struct fn_inj *inj,
		    unsigned int nth, struct fn_result *res, unsigned int *left)
{
	const char *who = inj->from_nth ? s->name_from_nth : s->name;
	struct acl_counters base, before;
	char what[1200];
	int r, r2, ret;

	*left = 0;
	if (acl_read_counters(&base))
		return -1;
	if (s->prepare && s->prepare(c)) {
		fprintf(stderr, "# %s nth %u: the preparation failed\n", who, nth);
		return -1;
	}
	if (acl_read_counters(&before))
		return -1;

	if (nth) {
		ret = fn_arm(inj, nth);
		if (ret) {
			fprintf(stderr, "# %s: cannot arm fail-nth: %s\n", who, strerror(-ret));
			return -1;
		}
	}
	r = s->op(c);
	if (nth) {
		ret = fn_disarm(inj, left);
		if (ret) {
			fprintf(stderr, "# %s: cannot read back fail-nth: %s\n", who,
				strerror(-ret));
			return -1;
		}
	}

	if (r == 0) {
		if (nth && *left == 0)
			res->tolerated++;
		res->errors += fn_counters(who, nth, "after success", &before, s->delta);
	} else {
		fn_describe(s, r, what, sizeof(what));
		res->failed++;
		if (!nth || *left) {
			fprintf(stderr, "# %s nth %u: failed with %s although nothing was injected\n",
				who, nth, what);
			res->errors++;
		} else if (!s->fail_code || r != s->fail_code) {
			fprintf(stderr, "# %s nth %u: the injected failure gave %s; expected %s%d\n",
				who, nth, what, s->fail_code ? "" : "success, not even ",
				s->fail_code);
			res->errors++;
		}
		res->errors += fn_counters(who, nth, "after the failure", &before, NULL);
		if (s->verify && s->verify(c, false)) {
			fprintf(stderr, "# %s nth %u: the failed call left a trace (above)\n",
				who, nth);
			res->errors++;
		}
		r2 = s->op(c);
		if (r2) {
			fn_describe(s, r2, what, sizeof(what));
			fprintf(stderr, "# %s nth %u: the retry without injection failed: %s\n",
				who, nth, what);
			res->errors++;
			return -1;
		}
		res->errors += fn_counters(who, nth, "after the retry", &before, s->delta);
	}
	if (s->verify && s->verify(c, true)) {
		fprintf(stderr, "# %s nth %u: the call's effect is not all there (above)\n",
			who, nth);
		res->errors++;
	}
	if (s->cleanup && s->cleanup(c)) {
		fprintf(stderr, "# %s nth %u: the cleanup failed\n", who, nth);
		res->errors++;
		return -1;
	}
	res->errors += fn_counters(who, nth, "after the cleanup", &base, NULL);
	return 0;
}

/* Warm-up round, then nth = 1, 2, ... until the injection is left unused. */
static int fn_sweep_run(const struct fn_sweep *s, struct fn_ctx *c, const struct fn_inj *inj,
			struct fn_result *res)
{
	unsigned int left;

	memset(res, 0, sizeof(*res));
	fn_prefault_stack();
	if (fn_round(s, c, inj, 0, res, &left))
		return -1;
	for (unsigned int nth = 1; nth <= FN_MAX_NTH; nth++) {
		if (fn_round(s, c, inj, nth, res, &left))
			return -1;
		if (left) {
			res->points = nth - 1;
			return res->errors ? -1 : 0;
		}
	}
	fprintf(stderr, "# %s: the injection still fired after %u fault points\n",
		inj->from_nth ? s->name_from_nth : s->name, FN_MAX_NTH);
	return -1;
}

#define FN_LOG_RESULT(name, r)                                                        \
	TH_LOG("%s: %u fault points (the call failed at %u, succeeded anyway at %u)%s", \
	       (name), (r).points, (r).failed, (r).tolerated,                          \
	       (r).errors ? "; PROBLEMS above" : "")

#define FN_NAME(s, inj) ((inj)->from_nth ? (s)->name_from_nth : (s)->name)

/* Runs sweep @s in the test process and logs how many fault points it swept. */
#define FN_SWEEP(s, c)                                                                \
	do {                                                                          \
		struct fn_result __r;                                                 \
		int __ret = fn_sweep_run(&(s), (c), &self->inj, &__r);                \
		FN_LOG_RESULT(FN_NAME(&(s), &self->inj), __r);                        \
		ASSERT_EQ(0, __ret) TH_LOG("%s: %u problems (see above)",             \
					   FN_NAME(&(s), &self->inj), __r.errors);    \
	} while (0)

/* In a fork child: runs sweep @s, sends the result to the parent, exits. */
static void __attribute__((noreturn))
fn_child_sweep(const struct fn_sweep *s, struct fn_ctx *c, struct acl_chan *ch, bool from_nth)
{
	struct fn_result res;
	struct fn_inj inj;
	int ret = fn_inj_open(&inj, from_nth);

	CHILD_CHECK(ret == 0, "cannot open this thread's fail-nth/make-it-fail: %s",
		    strerror(-ret));
	ret = fn_sweep_run(s, c, &inj, &res);
	fn_inj_close(&inj);
	CHILD_CHECK(acl_send_val(ch, &res, sizeof(res)) == 0, "send the result");
	_exit(ret ? 1 : 0);
}

/* In the parent: waits for a fn_child_sweep() child and logs its result. */
#define FN_CHILD_RESULT(name, pid, ch)                                                \
	do {                                                                          \
		struct fn_result __r = { 0 };                                         \
		int __st = acl_wait(pid);                                             \
		bool __got = acl_recv_val((ch), &__r, sizeof(__r)) == 0;              \
		if (__got)                                                            \
			FN_LOG_RESULT((name), __r);                                   \
		ASSERT_TRUE(__got) TH_LOG("%s: the child sent no result", (name));     \
		ASSERT_TRUE(WIFEXITED(__st) && WEXITSTATUS(__st) == 0)                \
			TH_LOG("%s: the child failed (status 0x%x, see above)", (name), __st); \
	} while (0)

/* ------------------------------------------------------------------ */
/* Operations                                                         */
/* ------------------------------------------------------------------ */

/* A library call that must succeed outside the injected window. */
static int fn_ok(const char *what, aclError e)
{
	if (e == ACL_SUCCESS)
		return 0;
	fprintf(stderr, "# %s: %d (\"%s\")\n", what, e,
		aclGetRecentErrMsg() ? aclGetRecentErrMsg() : "no message");
	return -1;
}

/* A library call that must return @want. */
static int fn_expect(const char *what, aclError want, aclError e)
{
	if (e == want)
		return 0;
	fprintf(stderr, "# %s: %d (\"%s\"), expected %d\n", what, e,
		e && aclGetRecentErrMsg() ? aclGetRecentErrMsg() : "", want);
	return -1;
}

/* c->va is readable and writable (the handle's pages are mapped there). */
static int fn_probe(struct fn_ctx *c)
{
	volatile unsigned char *p = c->va;

	if (acl_probe(p, true) || acl_probe(p + c->size - 1, true)) {
		fprintf(stderr, "# the mapping at %p is not accessible\n", c->va);
		return -1;
	}
	return 0;
}

/* ---- allocate (library) ---- */

static int op_alloc(struct fn_ctx *c)
{
	return aclrtMallocPhysical(&c->result, c->size, &c->prop, 0);
}

static int verify_alloc(struct fn_ctx *c, bool applied)
{
	aclrtPhysicalMemProp p;

	if (!applied)
		return 0;
	if (fn_ok("properties of the new handle",
		  aclrtMemGetAllocationPropertiesFromHandle(c->result, &p)))
		return -1;
	if (p.memAttr != c->prop.memAttr || p.location.type != c->prop.location.type) {
		fprintf(stderr, "# the new handle reports attr %u location %u\n", p.memAttr,
			p.location.type);
		return -1;
	}
	return 0;
}

static int cleanup_alloc(struct fn_ctx *c)
{
	return fn_ok("free the new handle", aclrtFreePhysical(c->result));
}

static const struct fn_sweep sweep_alloc_normal = {
	.name = "alloc_normal",
	.name_from_nth = "alloc_normal_from_nth",
	.fail_code = ACL_ERROR_RT_MEMORY_ALLOCATION,
	.delta = { [ACL_CNT_ALLOCATIONS] = 1, [ACL_CNT_ALLOCATED_BYTES] = SZ_4K,
		   [ACL_CNT_HANDLES] = 1 },
	.op = op_alloc,
	.verify = verify_alloc,
	.cleanup = cleanup_alloc,
};

static const struct fn_sweep sweep_alloc_huge = {
	.name = "alloc_huge",
	.name_from_nth = "alloc_huge_from_nth",
	.fail_code = ACL_ERROR_RT_MEMORY_ALLOCATION,
	.delta = { [ACL_CNT_ALLOCATIONS] = 1, [ACL_CNT_ALLOCATED_BYTES] = SZ_2M,
		   [ACL_CNT_HANDLES] = 1 },
	.op = op_alloc,
	.verify = verify_alloc,
	.cleanup = cleanup_alloc,
};

/* ---- allocate (raw ioctl): several pages, so a failure mid-way unwinds some ---- */

#define FN_RAW_PAGES 16

static int op_raw_alloc(struct fn_ctx *c)
{
	return acl_raw_alloc(c->raw_fd, c->size, c->raw_attr, c->raw_loc, 0, &c->raw_handle,
			     NULL);
}

static int verify_raw_alloc(struct fn_ctx *c, bool applied)
{
	struct acl_share_query q;
	int ret;

	if (!applied)
		return 0;
	ret = acl_raw_query(c->raw_fd, c->raw_handle, &q);
	if (ret || q.out_length != c->size || q.out_page_size != SZ_4K) {
		fprintf(stderr, "# query of handle %u: %d, length %llu, page size %u\n",
			c->raw_handle, ret, (unsigned long long)q.out_length, q.out_page_size);
		return -1;
	}
	return 0;
}

static int cleanup_raw_alloc(struct fn_ctx *c)
{
	int ret = acl_raw_free(c->raw_fd, c->raw_handle);

	if (ret)
		fprintf(stderr, "# free of handle %u: %s\n", c->raw_handle, strerror(-ret));
	return ret;
}

static const struct fn_sweep sweep_alloc_raw = {
	.name = "alloc_raw",
	.name_from_nth = "alloc_raw_from_nth",
	.raw = true,
	.fail_code = -ENOMEM,
	.delta = { [ACL_CNT_ALLOCATIONS] = 1, [ACL_CNT_ALLOCATED_BYTES] = FN_RAW_PAGES * SZ_4K,
		   [ACL_CNT_HANDLES] = 1 },
	.op = op_raw_alloc,
	.verify = verify_raw_alloc,
	.cleanup = cleanup_raw_alloc,
};

/* ---- map ---- */

static int op_map(struct fn_ctx *c)
{
	return aclrtMapMem(c->va, c->size, 0, c->handle, 0);
}

static int verify_map(struct fn_ctx *c, bool applied)
{
	struct acl_vma v;

	if (applied)
		return fn_probe(c);
	/* The library put the reservation's placeholder back. */
	if (acl_find_vma(0, c->va, &v) != 1 || strcmp(v.perms, "---p")) {
		fprintf(stderr, "# after the failed map, %p is not reserved any more\n", c->va);
		return -1;
	}
	return 0;
}

static int cleanup_map(struct fn_ctx *c)
{
	return fn_ok("unmap", aclrtUnmapMem(c->va));
}

static const struct fn_sweep sweep_map = {
	.name = "map",
	.name_from_nth = "map_from_nth",
	.fail_code = ACL_ERROR_RT_MEMORY_ALLOCATION,
	.delta = { [ACL_CNT_MAPPINGS] = 1 },
	.op = op_map,
	.verify = verify_map,
	.cleanup = cleanup_map,
};

/* ---- export ---- */

static int prepare_export(struct fn_ctx *c)
{
	return fn_ok("allocate", aclrtMallocPhysical(&c->handle, c->size, &c->prop, 0));
}

static int op_export(struct fn_ctx *c)
{
	return share_export(c->handle, 0, c->type, &c->tok);
}

static int verify_export(struct fn_ctx *c, bool applied)
{
	/* The exporter may whitelist itself: the shareable handle is live and ours. */
	if (!applied)
		return 0;
	return fn_ok("SetPid on the new shareable handle", share_set_pid(&c->tok, c->self_tgid));
}

static int cleanup_free_handle(struct fn_ctx *c)
{
	return fn_ok("free", aclrtFreePhysical(c->handle));
}

static const struct fn_sweep sweep_export_default = {
	.name = "export_default",
	.name_from_nth = "export_default_from_nth",
	.fail_code = ACL_ERROR_RT_MEMORY_ALLOCATION,
	.delta = { [ACL_CNT_EXPORTS] = 1 },
	.prepare = prepare_export,
	.op = op_export,
	.verify = verify_export,
	.cleanup = cleanup_free_handle,
};

static const struct fn_sweep sweep_export_fabric = {
	.name = "export_fabric",
	.name_from_nth = "export_fabric_from_nth",
	.fail_code = ACL_ERROR_RT_MEMORY_ALLOCATION,
	.delta = { [ACL_CNT_EXPORTS] = 1 },
	.prepare = prepare_export,
	.op = op_export,
	.verify = verify_export,
	.cleanup = cleanup_free_handle,
};

/* ---- device malloc and IPC keys (aclrtMalloc memory, section 7) ---- */

static int op_malloc(struct fn_ctx *c)
{
	return aclrtMalloc(&c->va, c->size, ACL_MEM_MALLOC_HUGE_ONLY);
}

static int verify_malloc(struct fn_ctx *c, bool applied)
{
	return applied ? fn_probe(c) : 0;
}

static int cleanup_malloc(struct fn_ctx *c)
{
	return fn_ok("aclrtFree", aclrtFree(c->va));
}

static const struct fn_sweep sweep_malloc = {
	.name = "malloc",
	.name_from_nth = "malloc_from_nth",
	.fail_code = ACL_ERROR_RT_MEMORY_ALLOCATION,
	.delta = { [ACL_CNT_ALLOCATIONS] = 1, [ACL_CNT_ALLOCATED_BYTES] = SZ_2M,
		   [ACL_CNT_MAPPINGS] = 1, [ACL_CNT_HANDLES] = 1 },
	.op = op_malloc,
	.verify = verify_malloc,
	.cleanup = cleanup_malloc,
};

static int prepare_ipc(struct fn_ctx *c)
{
	c->key[0] = '\0';
	return fn_ok("aclrtMalloc", aclrtMalloc(&c->va, c->size, ACL_MEM_MALLOC_HUGE_ONLY));
}

static int op_ipc_export(struct fn_ctx *c)
{
	return aclrtIpcMemGetExportKey(c->va, c->size, c->key, sizeof(c->key), 0);
}

static int verify_ipc_export(struct fn_ctx *c, bool applied)
{
	if (!applied)
		return 0;
	return fn_ok("SetImportPid with the new key",
		     aclrtIpcMemSetImportPid(c->key, &c->self_tgid, 1));
}

static int cleanup_ipc(struct fn_ctx *c)
{
	if (c->key[0] && fn_ok("aclrtIpcMemClose", aclrtIpcMemClose(c->key)))
		return -1;
	return fn_ok("aclrtFree", aclrtFree(c->va));
}

static const struct fn_sweep sweep_ipc_export = {
	.name = "ipc_export",
	.name_from_nth = "ipc_export_from_nth",
	.fail_code = ACL_ERROR_RT_MEMORY_ALLOCATION,
	.delta = { [ACL_CNT_EXPORTS] = 1 },
	.prepare = prepare_ipc,
	.op = op_ipc_export,
	.verify = verify_ipc_export,
	.cleanup = cleanup_ipc,
};

/* ---- set pid: a fresh export each round, so every round adds new entries ---- */

static int prepare_set_pid(struct fn_ctx *c)
{
	if (prepare_export(c))
		return -1;
	if (fn_ok("export", share_export(c->handle, 0, c->type, &c->tok))) {
		aclrtFreePhysical(c->handle);
		return -1;
	}
	return 0;
}

static int op_set_pid(struct fn_ctx *c)
{
	/*
	 * Two entries far apart in the whitelist's xarray (the child's number
	 * and init's), so that the second store needs its own node and a
	 * failure there must undo the first.
	 */
	int32_t pids[2] = { c->peer_tgid, 1 };

	return aclrtMemSetPidToShareableHandleV2(share_token_ptr(&c->tok), c->tok.type, pids, 2);
}

/* The child tries to import c->tok; returns its ACL code, or -1. */
static int fn_peer_import(struct fn_ctx *c)
{
	int32_t code = -1;

	if (acl_tell(c->peer, 'i') || acl_send_val(c->peer, &c->tok, sizeof(c->tok)) ||
	    acl_recv_val(c->peer, &code, sizeof(code))) {
		fprintf(stderr, "# no answer from the importing child\n");
		return -1;
	}
	return code;
}

static int verify_set_pid(struct fn_ctx *c, bool applied)
{
	int code = fn_peer_import(c);

	/* A failed SetPid adds nothing: the child is not whitelisted (507899). */
	return fn_expect(applied ? "the whitelisted child's import" :
				   "the import of a child whose SetPid failed",
			 applied ? ACL_SUCCESS : ACL_ERROR_RT_DRV_INTERNAL_ERROR, code);
}

static const struct fn_sweep sweep_set_pid = {
	.name = "set_pid",
	.name_from_nth = "set_pid_from_nth",
	.fail_code = ACL_ERROR_RT_MEMORY_ALLOCATION,
	.prepare = prepare_set_pid,
	.op = op_set_pid,
	.verify = verify_set_pid,
	.cleanup = cleanup_free_handle,
};

/* ---- import (in a child) ---- */

static int op_import(struct fn_ctx *c)
{
	return share_import(&c->tok, &c->result);
}

static int verify_import(struct fn_ctx *c, bool applied)
{
	aclrtPhysicalMemProp p;

	if (!applied)
		return 0;
	return fn_ok("properties of the import",
		     aclrtMemGetAllocationPropertiesFromHandle(c->result, &p));
}

static int cleanup_import(struct fn_ctx *c)
{
	return fn_ok("free the import", aclrtFreePhysical(c->result));
}

static const struct fn_sweep sweep_import_default = {
	.name = "import_default",
	.name_from_nth = "import_default_from_nth",
	.fail_code = ACL_ERROR_RT_MEMORY_ALLOCATION,
	.delta = { [ACL_CNT_HANDLES] = 1, [ACL_CNT_IMPORTS] = 1 },
	.op = op_import,
	.verify = verify_import,
	.cleanup = cleanup_import,
};

static const struct fn_sweep sweep_import_fabric = {
	.name = "import_fabric",
	.name_from_nth = "import_fabric_from_nth",
	.fail_code = ACL_ERROR_RT_MEMORY_ALLOCATION,
	.delta = { [ACL_CNT_HANDLES] = 1, [ACL_CNT_IMPORTS] = 1 },
	.op = op_import,
	.verify = verify_import,
	.cleanup = cleanup_import,
};

/* ---- free of an exported, mapped handle ---- */

static int prepare_free_exported(struct fn_ctx *c)
{
	if (prepare_export(c))
		return -1;
	if (fn_ok("map", aclrtMapMem(c->va, c->size, 0, c->handle, 0)))
		goto err_free;
	if (fn_ok("export", share_export(c->handle, 0, c->type, &c->tok)))
		goto err_unmap;
	return 0;

err_unmap:
	aclrtUnmapMem(c->va);
err_free:
	aclrtFreePhysical(c->handle);
	return -1;
}

static int op_free_handle(struct fn_ctx *c)
{
	return aclrtFreePhysical(c->handle);
}

static int verify_free_exported(struct fn_ctx *c, bool applied)
{
	if (!applied)
		return 0;
	/* The handle is gone, its export revoked, the mapping intact. */
	if (fn_expect("a second free", ACL_ERROR_RT_INVALID_HANDLE, aclrtFreePhysical(c->handle)) ||
	    fn_expect("SetPid on the revoked shareable handle", ACL_ERROR_RT_INVALID_HANDLE,
		      share_set_pid(&c->tok, c->self_tgid)))
		return -1;
	return fn_probe(c);
}

static int cleanup_unmap(struct fn_ctx *c)
{
	return fn_ok("unmap", aclrtUnmapMem(c->va));
}

static const struct fn_sweep sweep_free_exported = {
	.name = "free_exported",
	.name_from_nth = "free_exported_from_nth",
	.fail_code = 0, /* freeing allocates nothing: it must not fail */
	.delta = { [ACL_CNT_HANDLES] = -1, [ACL_CNT_EXPORTS] = -1 },
	.prepare = prepare_free_exported,
	.op = op_free_handle,
	.verify = verify_free_exported,
	.cleanup = cleanup_unmap,
};

/* ---- free of an import (in a child) ---- */

static int prepare_free_import(struct fn_ctx *c)
{
	if (fn_ok("import", share_import(&c->tok, &c->handle)))
		return -1;
	if (fn_ok("map the import", aclrtMapMem(c->va, c->size, 0, c->handle, 0))) {
		aclrtFreePhysical(c->handle);
		return -1;
	}
	return 0;
}

static int verify_free_import(struct fn_ctx *c, bool applied)
{
	if (!applied)
		return 0;
	if (fn_expect("a second free", ACL_ERROR_RT_INVALID_HANDLE, aclrtFreePhysical(c->handle)))
		return -1;
	return fn_probe(c);
}

static const struct fn_sweep sweep_free_import = {
	.name = "free_import",
	.name_from_nth = "free_import_from_nth",
	.fail_code = 0,
	.delta = { [ACL_CNT_HANDLES] = -1, [ACL_CNT_IMPORTS] = -1 },
	.prepare = prepare_free_import,
	.op = op_free_handle,
	.verify = verify_free_import,
	.cleanup = cleanup_unmap,
};

/* ------------------------------------------------------------------ */
/* The fixture                                                        */
/* ------------------------------------------------------------------ */

FIXTURE(fail_nth) {
	struct acl_counters start;
	struct fn_inj inj;	/* this thread's fail-nth and make-it-fail */
	int raw_fd;		/* a second open file, for raw ioctls */
	int32_t tgid;
	char saved[ARRAY_LEN(fn_attrs)][32];
	bool restore[ARRAY_LEN(fn_attrs)];
};

FIXTURE_SETUP(fail_nth)
{
	struct acl_mapping m;
	struct stat st;
	int ret;

	self->inj.nth_fd = self->inj.mif_fd = self->raw_fd = -1;

	ret = fn_inj_open(&self->inj, false);
	ASSERT_EQ(0, ret)
	TH_LOG("/proc/self/task/<tid>/fail-nth or make-it-fail: %s. This kernel has no fault "
	       "injection (CONFIG_FAULT_INJECTION, CONFIG_FAILSLAB, CONFIG_FAIL_PAGE_ALLOC, "
	       "CONFIG_FAULT_INJECTION_DEBUG_FS): run this test on the debug kernel "
	       "(tools/build-debug-kernel.sh)", strerror(-ret));

	if (stat(DEBUGFS "/failslab", &st))
		mount("debugfs", DEBUGFS, "debugfs", 0, NULL);
	for (size_t i = 0; i < ARRAY_LEN(fn_attrs); i++) {
		ret = fn_read_line(fn_attrs[i].path, self->saved[i], sizeof(self->saved[i]));
		ASSERT_EQ(0, ret)
		TH_LOG("%s: %s (debugfs mounted at " DEBUGFS "? a kernel with CONFIG_FAILSLAB, "
		       "CONFIG_FAIL_PAGE_ALLOC and CONFIG_FAULT_INJECTION_DEBUG_FS?)",
		       fn_attrs[i].path, strerror(-ret));
		ret = fn_write_file(fn_attrs[i].path, fn_attrs[i].value);
		ASSERT_EQ(0, ret) TH_LOG("write %s to %s: %s", fn_attrs[i].value,
					 fn_attrs[i].path, strerror(-ret));
		self->restore[i] = true;
	}

	/* Warm the library up: device open, tables of mappings and exports. */
	ASSERT_ACL_OK(aclrtSetDevice(0));
	ASSERT_ACL_OK(aclrtDeviceGetBareTgid(&self->tgid));
	ASSERT_ACL_OK(acl_map_new(&m, SZ_2M, ACL_HBM_MEM_HUGE, ACL_MEM_LOCATION_TYPE_DEVICE, 0));
	ASSERT_ACL_OK(acl_map_delete(&m));

	self->raw_fd = open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->raw_fd) TH_LOG("open " ACL_DEV_PATH ": %s", strerror(errno));
	ASSERT_EQ(0, acl_read_counters(&self->start));
}

FIXTURE_TEARDOWN(fail_nth)
{
	if (self->inj.nth_fd >= 0)
		fn_inj_close(&self->inj);
	/* Children are reaped by now; the raw file is still open as at the start. */
	EXPECT_COUNTERS(self->start, ACL_CNT_LIVE);
	if (self->raw_fd >= 0)
		close(self->raw_fd);
	for (size_t i = 0; i < ARRAY_LEN(fn_attrs); i++) {
		if (self->restore[i])
			EXPECT_EQ(0, fn_write_file(fn_attrs[i].path, self->saved[i]))
			TH_LOG("restore %s", fn_attrs[i].path);
	}
}

/*
 * FN_TEST_PAIR(name) { body } defines the tests "name" (only the nth fault
 * point fails) and "name_from_nth" (the nth and every later one fail).
 */
#define FN_TEST_PAIR(name)                                                            \
	static void fn_test_##name(struct __test_metadata *_metadata,                 \
				   FIXTURE_DATA(fail_nth) *self);                     \
	TEST_F_TIMEOUT(fail_nth, name, FN_TIMEOUT)                                    \
	{                                                                             \
		fn_test_##name(_metadata, self);                                      \
	}                                                                             \
	TEST_F_TIMEOUT(fail_nth, name##_from_nth, FN_TIMEOUT)                         \
	{                                                                             \
		self->inj.from_nth = true;                                            \
		fn_test_##name(_metadata, self);                                      \
	}                                                                             \
	static void fn_test_##name(struct __test_metadata *_metadata,                 \
				   FIXTURE_DATA(fail_nth) *self)

/* ------------------------------------------------------------------ */
/* allocate                                                           */
/* ------------------------------------------------------------------ */

FN_TEST_PAIR(alloc_normal)
{
	struct fn_ctx c = {
		.prop = acl_prop(ACL_MEM_NORMAL, ACL_MEM_LOCATION_TYPE_HOST, 0),
		.size = SZ_4K,
	};

	FN_SWEEP(sweep_alloc_normal, &c);
}

FN_TEST_PAIR(alloc_huge)
{
	struct fn_ctx c = {
		.prop = acl_prop(ACL_HBM_MEM_HUGE, ACL_MEM_LOCATION_TYPE_DEVICE, 0),
		.size = SZ_2M,
	};

	FN_SWEEP(sweep_alloc_huge, &c);
}

FN_TEST_PAIR(alloc_raw)
{
	struct fn_ctx c = {
		.size = FN_RAW_PAGES * SZ_4K,
		.raw_fd = self->raw_fd,
		.raw_attr = ACL_MEM_NORMAL,
		.raw_loc = ACL_SHARE_LOC_HOST_NUMA,
	};

	FN_SWEEP(sweep_alloc_raw, &c);
}

/*
 * The first call of a process opens /dev/acl_share (lazily, in the library):
 * the open is inside the window too. A fresh fork child per nth; only the
 * nth fault point fails (the window is two system calls).
 */
struct fn_first_result {
	int32_t code;		/* of the injected call */
	uint32_t left;
	uint32_t errors;
};

static void __attribute__((noreturn)) fn_first_call_child(unsigned int nth, struct acl_chan *ch)
{
	static const long long delta[ACL_CNT_NR] = {
		[ACL_CNT_ALLOCATIONS] = 1, [ACL_CNT_ALLOCATED_BYTES] = SZ_4K,
		[ACL_CNT_HANDLES] = 1, [ACL_CNT_OPENS] = 1,
	};
	static const long long opened[ACL_CNT_NR] = { [ACL_CNT_OPENS] = 1 };
	aclrtPhysicalMemProp prop = acl_prop(ACL_MEM_NORMAL, ACL_MEM_LOCATION_TYPE_HOST, 0);
	struct fn_first_result res = { 0 };
	struct acl_counters before, now;
	aclrtDrvMemHandle h = NULL;
	unsigned int left = 0;
	char msg[1100] = "";
	aclError e;
	int fd = fnth_open();

	CHILD_CHECK(fd >= 0, "fail-nth: %s", strerror(-fd));
	/* Write the library's message buffer once (copy-on-write) before arming. */
	CHILD_CHECK(aclrtMallocPhysical(NULL, SZ_4K, &prop, 0) == ACL_ERROR_INVALID_PARAM, "NULL");
	fn_prefault_stack();
	CHILD_CHECK(acl_read_counters(&before) == 0, "counters");

	if (nth)
		CHILD_CHECK(fnth_write(fd, nth) == 0, "arm");
	e = aclrtMallocPhysical(&h, SZ_4K, &prop, 0);
	if (nth)
		CHILD_CHECK(fnth_disarm(fd, &left) == 0, "disarm");
	if (e)
		snprintf(msg, sizeof(msg), "%s", aclGetRecentErrMsg() ? aclGetRecentErrMsg() : "");

	res.code = e;
	res.left = nth ? left : 1;
	if (e == ACL_SUCCESS) {
		res.errors += fn_counters("alloc_first_call", nth, "after success", &before, delta);
	} else {
		if (e != ACL_ERROR_RT_MEMORY_ALLOCATION || res.left) {
			fprintf(stderr, "# alloc_first_call nth %u: %s gave %d (\"%s\"); expected %d\n",
				nth, res.left ? "a call without injection" : "the injected failure",
				e, msg, ACL_ERROR_RT_MEMORY_ALLOCATION);
			res.errors++;
		}
		/* The device may have been opened before the failure: opens is 0 or +1. */
		CHILD_CHECK(acl_read_counters(&now) == 0, "counters");
		if (now.v[ACL_CNT_OPENS] != before.v[ACL_CNT_OPENS])
			res.errors += fn_counters("alloc_first_call", nth, "after the failure",
						  &before, opened);
		else
			res.errors += fn_counters("alloc_first_call", nth, "after the failure",
						  &before, NULL);
		e = aclrtMallocPhysical(&h, SZ_4K, &prop, 0);
		if (e) {
			fprintf(stderr, "# alloc_first_call nth %u: the retry gave %d (\"%s\")\n", nth,
				e, aclGetRecentErrMsg());
			res.errors++;
		} else {
			res.errors += fn_counters("alloc_first_call", nth, "after the retry", &before,
						  delta);
		}
	}
	if (h && fn_ok("free", aclrtFreePhysical(h)))
		res.errors++;
	res.errors += fn_counters("alloc_first_call", nth, "after the free", &before, opened);
	CHILD_CHECK(acl_send_val(ch, &res, sizeof(res)) == 0, "send");
	_exit(0);
}

TEST_F_TIMEOUT(fail_nth, alloc_first_call, FN_TIMEOUT)
{
	struct fn_result r = { 0 };
	unsigned int nth;

	for (nth = 0; nth <= FN_MAX_NTH; nth++) {
		struct fn_first_result res = { 0 };
		struct acl_counters base;
		struct acl_chan ch;
		pid_t pid;
		int st;

		ASSERT_EQ(0, acl_read_counters(&base));
		ASSERT_EQ(0, acl_chan_init(&ch));
		pid = fork();
		ASSERT_LE(0, pid);
		if (pid == 0) {
			acl_chan_child(&ch);
			fn_first_call_child(nth, &ch);
		}
		acl_chan_parent(&ch);
		st = acl_wait(pid);
		ASSERT_EQ(0, acl_recv_val(&ch, &res, sizeof(res)))
		TH_LOG("nth %u: no result from the child (status 0x%x)", nth, st);
		acl_chan_close(&ch);
		ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0)
		TH_LOG("nth %u: child status 0x%x", nth, st);
		r.errors += res.errors;
		r.errors += fn_counters("alloc_first_call", nth, "after the child exited", &base, NULL);
		if (nth && res.code)
			r.failed++;
		else if (nth && !res.left)
			r.tolerated++;
		if (nth && res.left)
			break;
	}
	ASSERT_GE(FN_MAX_NTH, nth);
	r.points = nth - 1;
	FN_LOG_RESULT("alloc_first_call", r);
	ASSERT_EQ(0U, r.errors) TH_LOG("alloc_first_call: %u problems (see above)", r.errors);
}

/* ------------------------------------------------------------------ */
/* map (mmap, and the placeholder's restore on failure: only the nth)  */
/* ------------------------------------------------------------------ */

TEST_F_TIMEOUT(fail_nth, map, FN_TIMEOUT)
{
	struct fn_ctx c = {
		.prop = acl_prop(ACL_HBM_MEM_HUGE, ACL_MEM_LOCATION_TYPE_DEVICE, 0),
		.size = SZ_2M,
	};

	ASSERT_ACL_OK(aclrtMallocPhysical(&c.handle, c.size, &c.prop, 0));
	ASSERT_ACL_OK(aclrtReserveMemAddress(&c.va, c.size, 0, NULL, 0));
	FN_SWEEP(sweep_map, &c);
	ASSERT_ACL_OK(aclrtReleaseMemAddress(c.va));
	ASSERT_ACL_OK(aclrtFreePhysical(c.handle));
}

/* ------------------------------------------------------------------ */
/* export                                                             */
/* ------------------------------------------------------------------ */

FN_TEST_PAIR(export_default)
{
	struct fn_ctx c = {
		.prop = acl_prop(ACL_MEM_NORMAL, ACL_MEM_LOCATION_TYPE_HOST, 0),
		.size = SZ_4K,
		.type = ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT,
		.self_tgid = self->tgid,
	};

	FN_SWEEP(sweep_export_default, &c);
}

FN_TEST_PAIR(export_fabric)
{
	struct fn_ctx c = {
		.prop = acl_prop(ACL_MEM_NORMAL, ACL_MEM_LOCATION_TYPE_HOST, 0),
		.size = SZ_4K,
		.type = ACL_MEM_SHARE_HANDLE_TYPE_FABRIC,
		.self_tgid = self->tgid,
	};

	FN_SWEEP(sweep_export_fabric, &c);
}

/* ------------------------------------------------------------------ */
/* set pid                                                            */
/* ------------------------------------------------------------------ */

/* The whitelisted child: imports what it is sent, frees it, answers the code. */
static void __attribute__((noreturn)) fn_importer_child(struct acl_chan *ch)
{
	struct share_token tok;
	aclrtDrvMemHandle h;
	char cmd;

	share_child_hello(ch);
	for (;;) {
		int32_t code;

		CHILD_CHECK(acl_recv_val(ch, &cmd, 1) == 0, "command");
		if (cmd == 'q')
			_exit(0);
		CHILD_CHECK(acl_recv_val(ch, &tok, sizeof(tok)) == 0, "token");
		code = share_import(&tok, &h);
		if (code == ACL_SUCCESS)
			CHILD_CHECK(aclrtFreePhysical(h) == ACL_SUCCESS, "free the import: %s",
				    aclGetRecentErrMsg());
		CHILD_CHECK(acl_send_val(ch, &code, sizeof(code)) == 0, "answer");
	}
}

FN_TEST_PAIR(set_pid)
{
	struct acl_chan ch;
	struct fn_ctx c = {
		.prop = acl_prop(ACL_MEM_NORMAL, ACL_MEM_LOCATION_TYPE_HOST, 0),
		.size = SZ_4K,
		.type = ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT,
		.self_tgid = self->tgid,
		.peer = &ch,
	};
	struct fn_result r;
	pid_t pid;
	int ret;

	ASSERT_EQ(0, acl_chan_init(&ch));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		acl_chan_child(&ch);
		fn_importer_child(&ch);
	}
	acl_chan_parent(&ch);
	ASSERT_EQ(0, acl_recv_val(&ch, &c.peer_tgid, sizeof(c.peer_tgid)));

	ret = fn_sweep_run(&sweep_set_pid, &c, &self->inj, &r);
	FN_LOG_RESULT(FN_NAME(&sweep_set_pid, &self->inj), r);
	acl_tell(&ch, 'q');
	ASSERT_CHILD_OK(pid);
	acl_chan_close(&ch);
	ASSERT_EQ(0, ret) TH_LOG("%u problems (see above)", r.errors);
}

/* ------------------------------------------------------------------ */
/* import (the child's import is injected)                            */
/* ------------------------------------------------------------------ */

/*
 * Exports a 2 MiB allocation as @type, starts a child, whitelists it and
 * lets it run @s on the shareable handle (c->tok; c->va is a reservation of
 * the child's).
 */
static void fn_share_with_child(struct __test_metadata *_metadata, const struct fn_sweep *s,
				aclrtMemSharedHandleType type, bool from_nth)
{
	const char *name = from_nth ? s->name_from_nth : s->name;
	struct fn_ctx c = {
		.prop = acl_prop(ACL_HBM_MEM_HUGE, ACL_MEM_LOCATION_TYPE_DEVICE, 0),
		.size = SZ_2M,
		.type = type,
	};
	aclrtDrvMemHandle h;
	struct acl_chan ch;
	pid_t pid;

	ASSERT_ACL_OK(aclrtMallocPhysical(&h, c.size, &c.prop, 0));
	ASSERT_ACL_OK(share_export(h, 0, type, &c.tok));
	ASSERT_EQ(0, acl_chan_init(&ch));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		acl_chan_child(&ch);
		share_child_hello(&ch);
		CHILD_CHECK(acl_recv_val(&ch, &c.tok, sizeof(c.tok)) == 0, "token");
		CHILD_CHECK(aclrtReserveMemAddress(&c.va, c.size, 0, NULL, 0) == ACL_SUCCESS,
			    "reserve: %s", aclGetRecentErrMsg());
		fn_child_sweep(s, &c, &ch, from_nth);
	}
	acl_chan_parent(&ch);
	ASSERT_EQ(0, acl_recv_val(&ch, &c.peer_tgid, sizeof(c.peer_tgid)));
	ASSERT_ACL_OK(share_set_pid(&c.tok, c.peer_tgid));
	ASSERT_EQ(0, acl_send_val(&ch, &c.tok, sizeof(c.tok)));
	FN_CHILD_RESULT(name, pid, &ch);
	acl_chan_close(&ch);
	ASSERT_ACL_OK(aclrtFreePhysical(h));
}

FN_TEST_PAIR(import_default)
{
	fn_share_with_child(_metadata, &sweep_import_default, ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT,
			    self->inj.from_nth);
}

FN_TEST_PAIR(import_fabric)
{
	fn_share_with_child(_metadata, &sweep_import_fabric, ACL_MEM_SHARE_HANDLE_TYPE_FABRIC,
			    self->inj.from_nth);
}

/* ------------------------------------------------------------------ */
/* free                                                               */
/* ------------------------------------------------------------------ */

FN_TEST_PAIR(free_exported)
{
	struct fn_ctx c = {
		.prop = acl_prop(ACL_HBM_MEM_HUGE, ACL_MEM_LOCATION_TYPE_DEVICE, 0),
		.size = SZ_2M,
		.type = ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT,
		.self_tgid = self->tgid,
	};

	ASSERT_ACL_OK(aclrtReserveMemAddress(&c.va, c.size, 0, NULL, 0));
	FN_SWEEP(sweep_free_exported, &c);
	ASSERT_ACL_OK(aclrtReleaseMemAddress(c.va));
}

FN_TEST_PAIR(free_import)
{
	fn_share_with_child(_metadata, &sweep_free_import, ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT,
			    self->inj.from_nth);
}

/* ------------------------------------------------------------------ */
/* device malloc and IPC keys                                         */
/* ------------------------------------------------------------------ */

FN_TEST_PAIR(malloc)
{
	struct fn_ctx c = { .size = SZ_2M };

	FN_SWEEP(sweep_malloc, &c);
}

FN_TEST_PAIR(ipc_export)
{
	struct fn_ctx c = { .size = SZ_2M, .self_tgid = self->tgid };

	FN_SWEEP(sweep_ipc_export, &c);
}

/* ------------------------------------------------------------------ */
/* exit                                                               */
/* ------------------------------------------------------------------ */

/*
 * A child allocates, maps and exports, arms its own fail-nth and exits:
 * everything it held is released on the exit path with the injection armed.
 * The test process reads the zombie's fail-nth (waitid(WNOWAIT)) to know
 * whether the injection fired, then reaps it and checks the counters.
 */
TEST_F_TIMEOUT(fail_nth, exit, FN_TIMEOUT)
{
	static const long long held[ACL_CNT_NR] = {
		[ACL_CNT_ALLOCATIONS] = 1, [ACL_CNT_ALLOCATED_BYTES] = SZ_2M,
		[ACL_CNT_MAPPINGS] = 1,	   [ACL_CNT_HANDLES] = 1,
		[ACL_CNT_EXPORTS] = 1,	   [ACL_CNT_OPENS] = 1,
	};
	struct fn_result r = { 0 };
	unsigned int nth;

	for (nth = 0; nth <= FN_MAX_NTH; nth++) {
		struct acl_counters base;
		struct acl_chan ch;
		unsigned int left = 1;
		siginfo_t si;
		pid_t pid;
		int fd, st;

		ASSERT_EQ(0, acl_read_counters(&base));
		ASSERT_EQ(0, acl_chan_init(&ch));
		pid = fork();
		ASSERT_LE(0, pid);
		if (pid == 0) {
			struct share_token tok;
			struct acl_mapping m;
			unsigned int n = 0;
			int myfd = fnth_open();

			acl_chan_child(&ch);
			CHILD_CHECK(myfd >= 0, "fail-nth: %s", strerror(-myfd));
			CHILD_CHECK(aclrtSetDevice(0) == ACL_SUCCESS, "set device");
			CHILD_CHECK(acl_map_new(&m, SZ_2M, ACL_HBM_MEM_HUGE,
						ACL_MEM_LOCATION_TYPE_DEVICE, 0) == ACL_SUCCESS,
				    "map: %s", aclGetRecentErrMsg());
			CHILD_CHECK(share_export(m.handle, 0, ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT,
						 &tok) == ACL_SUCCESS,
				    "export: %s", aclGetRecentErrMsg());
			CHILD_CHECK(acl_tell(&ch, 'r') == 0, "ready");
			CHILD_CHECK(acl_recv_val(&ch, &n, sizeof(n)) == 0, "nth");
			if (n)
				CHILD_CHECK(fnth_write(myfd, n) == 0, "arm");
			_exit(0);
		}
		acl_chan_parent(&ch);
		ASSERT_EQ(0, acl_hear(&ch, 'r')) TH_LOG("nth %u: the child did not get ready", nth);
		r.errors += fn_counters("exit", nth, "while the child holds everything", &base, held);
		fd = fnth_open_task(pid, pid);
		ASSERT_LE(0, fd) TH_LOG("the child's fail-nth: %s", strerror(-fd));
		ASSERT_EQ(0, acl_send_val(&ch, &nth, sizeof(nth)));

		ASSERT_EQ(0, waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT))
		TH_LOG("waitid: %s", strerror(errno));
		if (nth) {
			char buf[32];
			ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

			ASSERT_LT(0, n) TH_LOG("the zombie's fail-nth: %s", strerror(errno));
			buf[n] = '\0';
			left = (unsigned int)strtoul(buf, NULL, 10);
		}
		close(fd);
		st = acl_wait(pid);
		acl_chan_close(&ch);
		ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0)
		TH_LOG("nth %u: child status 0x%x", nth, st);
		r.errors += fn_counters("exit", nth, "after the child was reaped", &base, NULL);
		if (nth && left)
			break;
	}
	ASSERT_GE(FN_MAX_NTH, nth);
	r.points = nth - 1;
	FN_LOG_RESULT("exit", r);
	ASSERT_EQ(0U, r.errors) TH_LOG("exit: %u problems (see above)", r.errors);
}

/* ------------------------------------------------------------------ */
/* kmemleak (last)                                                    */
/* ------------------------------------------------------------------ */

/*
 * Quick feedback (the VM runner scans again at the end of the debug run):
 * kmemleak only reports objects older than 5 s whose contents did not change
 * between two scans, hence two scans apart. A report fails the test when
 * its backtrace names the module, or when the object was allocated by this
 * program (its comm): a reference the module leaks on an object it did not
 * allocate (a whitelisted child's struct pid) shows only the fork that
 * allocated it. Other reports are printed and left to the runner.
 */
TEST_F_TIMEOUT(fail_nth, kmemleak, FN_TIMEOUT)
{
	size_t cap = 1 << 16, len = 0;
	unsigned int total = 0, ours = 0;
	char *buf = malloc(cap), *rec, comm[32] = "", mine[64];
	ssize_t n;
	int fd, ret;

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, fn_read_line("/proc/self/comm", comm, sizeof(comm)));
	snprintf(mine, sizeof(mine), "comm \"%s\"", comm);
	ret = fn_write_file(KMEMLEAK, "scan");
	ASSERT_EQ(0, ret) TH_LOG(KMEMLEAK ": %s (a kernel with CONFIG_DEBUG_KMEMLEAK, enabled?)",
				 strerror(-ret));
	sleep(6);
	ASSERT_EQ(0, fn_write_file(KMEMLEAK, "scan"));

	fd = open(KMEMLEAK, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (cap - len < 4096) {
			char *nb = realloc(buf, cap * 2);

			ASSERT_NE(NULL, nb);
			buf = nb;
			cap *= 2;
		}
	}
	close(fd);
	buf[len] = '\0';

	for (rec = strstr(buf, "unreferenced object"); rec;) {
		char *next = strstr(rec + 1, "unreferenced object");
		size_t rlen = next ? (size_t)(next - rec) : strlen(rec);

		total++;
		if (memmem(rec, rlen, "[acl_share]", 11) || memmem(rec, rlen, mine, strlen(mine))) {
			ours++;
			fprintf(stderr, "# kmemleak, acl_share or this test: %.*s", (int)rlen, rec);
		} else if (total <= 10) {
			fprintf(stderr, "# kmemleak, elsewhere: %.*s", (int)rlen, rec);
		}
		rec = next;
	}
	free(buf);
	TH_LOG("kmemleak: %u suspected leaks, %u from acl_share or this test", total, ours);
	EXPECT_EQ(0U, ours);
}

TEST_HARNESS_MAIN
