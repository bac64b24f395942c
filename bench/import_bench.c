// SPDX-License-Identifier: GPL-2.0
/*
 * import_bench - what one import costs as the kernel's tables grow.
 *
 * Issue 3 asks that an import cost about the same with one live export as
 * with very many, and with one whitelisted pid as with very many: the
 * export table is an RCU hash table, a whitelist an xarray indexed by pid.
 * This program measures it through the raw ioctls (no library in the way):
 *
 *   1. the time of one IMPORT + FREE pair of an export made without pid
 *      validation, with 1, 1,000, 10,000, ... live exports in the table;
 *   2. the same for an export with validation on, whose whitelist holds the
 *      importer plus 0, 100, 1,000, ... other live processes.
 *
 * It prints figures; it asserts nothing about them (a benchmark, not a
 * test). It fails only if a call fails. Run it in the VM as root, with the
 * module loaded with a max_exports above the largest level:
 *   meson compile -C build bench
 *
 * Environment: ACL_BENCH_EXPORTS (largest export level, default 100000),
 * ACL_BENCH_PIDS (largest number of other whitelisted processes, default
 * 2000), ACL_BENCH_ITERS (pairs per measurement, default 20000).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/acl_share.h>

#define DEV_PATH "/dev/acl_share"
#define RUNS 3	/* each figure is the best of RUNS measurements */

static long env_long(const char *name, long def)
{
	const char *v = getenv(name);

	return v && *v ? strtol(v, NULL, 0) : def;
}

static int xioctl(int fd, unsigned long cmd, void *arg, const char *what)
{
	if (ioctl(fd, cmd, arg) == 0)
		return 0;
	fprintf(stderr, "import_bench: %s: %s\n", what, strerror(errno));
	return -1;
}

/* Allocates one 4 KiB allocation and exports it; its key in @key. */
static int export_one(int fd, uint32_t flags, uint64_t *key)
{
	struct acl_share_alloc a = {
		.size = sizeof(a),
		.length = 4096,
		.mem_attr = 12, /* ACL_MEM_NORMAL */
		.location_type = ACL_SHARE_LOC_HOST,
	};
	struct acl_share_export e = { .size = sizeof(e) };

	if (xioctl(fd, ACL_SHARE_IOC_ALLOC, &a, "ALLOC"))
		return -1;
	e.flags = flags;
	e.handle = a.out_handle;
	e.share_type = ACL_SHARE_HANDLE_DEFAULT;
	e.shareable_uptr = (uintptr_t)key;
	e.shareable_len = sizeof(*key);
	return xioctl(fd, ACL_SHARE_IOC_EXPORT, &e, "EXPORT");
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* In the importer: the best time of RUNS x @iters IMPORT+FREE pairs, in ns per pair. */
static int64_t measure(int fd, uint64_t key, long iters)
{
	struct acl_share_import im = {
		.size = sizeof(im),
		.share_type = ACL_SHARE_HANDLE_DEFAULT,
		.shareable_len = sizeof(key),
		.shareable_uptr = (uintptr_t)&key,
	};
	struct acl_share_free fr = { .size = sizeof(fr) };
	uint64_t best = UINT64_MAX;

	for (int r = 0; r < RUNS; r++) {
		uint64_t t0 = now_ns(), t;

		for (long i = 0; i < iters; i++) {
			if (xioctl(fd, ACL_SHARE_IOC_IMPORT, &im, "IMPORT"))
				return -1;
			fr.handle = im.out_handle;
			if (xioctl(fd, ACL_SHARE_IOC_FREE, &fr, "FREE"))
				return -1;
		}
		t = now_ns() - t0;
		if (t < best)
			best = t;
	}
	return (int64_t)(best / (uint64_t)iters);
}

/*
 * The importer: reads keys from @rd, measures each, writes the result (ns
 * per pair, or -1) to @wr. A key of 0 ends it.
 */
static void __attribute__((noreturn)) importer(int rd, int wr, long iters)
{
	int fd = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	uint64_t key;

	while (read(rd, &key, sizeof(key)) == sizeof(key) && key) {
		int64_t ns = fd < 0 ? -1 : measure(fd, key, iters);

		if (write(wr, &ns, sizeof(ns)) != sizeof(ns))
			_exit(1);
	}
	_exit(fd < 0);
}

struct peer {
	pid_t pid;
	int wr, rd;
};

static int ask(struct peer *p, uint64_t key, int64_t *ns)
{
	/* Steady state: let deferred work (the hash table's resize) finish first. */
	sleep(2);
	if (write(p->wr, &key, sizeof(key)) != sizeof(key) ||
	    read(p->rd, ns, sizeof(*ns)) != sizeof(*ns) || *ns < 0) {
		fprintf(stderr, "import_bench: the importer failed\n");
		return -1;
	}
	return 0;
}

static int start_importer(struct peer *p, long iters)
{
	int down[2], up[2];

	if (pipe2(down, O_CLOEXEC) || pipe2(up, O_CLOEXEC))
		return -1;
	p->pid = fork();
	if (p->pid < 0)
		return -1;
	if (p->pid == 0)
		importer(down[0], up[1], iters);
	close(down[0]);
	close(up[1]);
	p->wr = down[1];
	p->rd = up[0];
	return 0;
}

/* @n processes that wait until @wr closes; their pids in @pids. */
static int start_sleepers(int32_t *pids, long n, int *wr)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC))
		return -1;
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();
		char c;

		if (pid < 0)
			return -1;
		if (pid == 0) {
			close(p[1]);
			while (read(p[0], &c, 1) < 0 && errno == EINTR)
				;
			_exit(0);
		}
		pids[i] = pid; /* the VM runs in the initial pid namespace */
	}
	close(p[0]);
	*wr = p[1];
	return 0;
}

static int set_pids(int fd, uint64_t key, int32_t *pids, long n)
{
	struct acl_share_set_pid s = {
		.size = sizeof(s),
		.share_type = ACL_SHARE_HANDLE_DEFAULT,
		.shareable_len = sizeof(key),
		.shareable_uptr = (uintptr_t)&key,
		.pids_uptr = (uintptr_t)pids,
		.num_pids = (uint32_t)n,
	};

	return n ? xioctl(fd, ACL_SHARE_IOC_SET_PID, &s, "SET_PID") : 0;
}

static void row(const char *what, long n, int64_t ns, int64_t base)
{
	printf("  %-28s %9ld   %8" PRId64 " ns   x%.2f\n", what, n, ns, (double)ns / (double)base);
	fflush(stdout);
}

int main(void)
{
	long max_exports = env_long("ACL_BENCH_EXPORTS", 100000);
	long max_pids = env_long("ACL_BENCH_PIDS", 2000);
	long iters = env_long("ACL_BENCH_ITERS", 20000);
	uint64_t open_key = 0, wl_key = 0, key;
	int64_t ns, base;
	long live = 0, level;
	struct peer imp;
	int32_t *pids;
	int fd, sleepers_wr = -1, status;

	fd = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "import_bench: %s: %s\n", DEV_PATH, strerror(errno));
		return 1;
	}
	pids = calloc((size_t)max_pids + 1, sizeof(*pids));
	if (!pids || start_importer(&imp, iters))
		return 1;

	printf("import_bench: one IMPORT + FREE pair, best of %d runs of %ld pairs\n", RUNS,
	       iters);
	printf("  %-28s %9s   %11s   %s\n", "", "count", "per pair", "vs the first row");

	/* 1. The export table grows. */
	if (export_one(fd, ACL_SHARE_EXPORT_NO_PID_CHECK, &open_key))
		return 1;
	live = 1;
	base = 0;
	for (level = 1; level <= max_exports; level *= 10) {
		for (; live < level; live++)
			if (export_one(fd, ACL_SHARE_EXPORT_NO_PID_CHECK, &key))
				return 1;
		if (ask(&imp, open_key, &ns))
			return 1;
		if (!base)
			base = ns;
		row("live exports", live, ns, base);
	}

	/* 2. The whitelist grows: the importer plus other live processes. */
	if (export_one(fd, 0, &wl_key) || start_sleepers(pids, max_pids, &sleepers_wr))
		return 1;
	pids[max_pids] = imp.pid;
	if (set_pids(fd, wl_key, &pids[max_pids], 1))
		return 1;
	base = 0;
	live = 0;
	for (level = 0; level <= max_pids; level = level ? level * 10 : 100) {
		if (level * 10 > max_pids && level < max_pids && level >= 100)
			level = max_pids; /* the last row is the largest level */
		if (set_pids(fd, wl_key, &pids[live], level - live))
			return 1;
		live = level;
		if (ask(&imp, wl_key, &ns))
			return 1;
		if (!base)
			base = ns;
		row("other whitelisted processes", live, ns, base);
	}

	key = 0;
	if (write(imp.wr, &key, sizeof(key)) != sizeof(key))
		return 1;
	close(sleepers_wr);
	while (wait(&status) > 0)
		;
	close(fd);
	free(pids);
	printf("import_bench: done\n");
	return 0;
}
