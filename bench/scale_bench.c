// SPDX-License-Identifier: GPL-2.0
/*
 * scale_bench - every ACL call of the share cycle at 1, 1,000, 100,000 and
 * 1,000,000 live objects of its kind, each against a control at 1 object
 * measured in the same time window (issue 10).
 *
 * TCG runs and a loaded host make absolute times and rows measured minutes
 * apart useless for a ±10 % goal. So every figure here is a ratio of two
 * interleaved measurements: batches of calls (BATCH calls each, timed with
 * clock_gettime) alternate between a process that holds N objects of the
 * kind and a control process that holds 1, in the order big, control,
 * control, big, ... For each pair of batches the ratio big/control is
 * taken; the row prints the median per-call time of both, the median ratio
 * and the spread of the per-pair ratios: their quartiles and min-max.
 *
 * The kinds, each grown from 1 to the top level and torn down before the
 * next (all processes are forked by a coordinator that never calls ACL, so
 * no process forks while it holds objects):
 *
 *   exports: BIG holds N allocations (ACL_MEM_NORMAL, one page), all
 *     exported; CTL holds 1. Timed in each: aclrtMallocPhysical +
 *     aclrtMemExportToShareableHandle + aclrtFreePhysical of one extra
 *     allocation; and an import + free, by a third process IMP, of BIG's
 *     first export vs CTL's export.
 *   handle ids: the same two processes: aclrtMallocPhysical +
 *     aclrtFreePhysical (the file holds N handles, so the new id is near
 *     N), and an import + free of one export of IMP made by BIG vs the same
 *     made by CTL: the same export, so only the holder differs. (Until
 *     stop 19 BIG imported CTL's export and CTL BIG's: that row measured
 *     the two exports as much as the two holders, and was over 1.1x at
 *     N = 1, the inverse of the IMP row's ratio of the same two exports.)
 *   mappings: BIG maps one allocation N times side by side in one
 *     reservation; CTL maps it once. Timed: aclrtMapMem + aclrtUnmapMem of
 *     one extra mapping; aclrtMemGetAddressRange of an address inside the
 *     middle mapping.
 *   reservations: BIG holds N reservations of 2 MiB; CTL 1. Timed:
 *     aclrtReserveMemAddress + aclrtReleaseMemAddress.
 *   whitelist entries: one exporter W holds two exports, one whose
 *     whitelist has N entries and a control whose whitelist has 1 (the
 *     importer). Timed: aclrtMemSetPidToShareableHandle of the importer's
 *     pid, already listed, on each; and an import + free of each by the
 *     importer. An entry names a process by bare tgid and start time, and
 *     must name a live process when SetPid adds it (kmod/whitelist.c), but
 *     it stays listed after that process exits until the list is full and
 *     pruned. The VM cannot hold 65,535 processes at once, so the
 *     coordinator forks them in waves of WAVE sleeping children, W
 *     whitelists each wave, then the wave is killed: the list holds
 *     exactly the entries a list of that many live processes would (the
 *     kernel does not look at liveness on these paths). pid_max is raised
 *     so that no pid is reused (a reused tgid would replace its entry).
 *     The module caps a whitelist at 65,535 entries (max_pids_per_handle),
 *     so that is the top level of this kind.
 *
 * The mappings and reservations kinds each get a raw row after the
 * library's: the system calls the library makes for those ACL calls, made
 * directly by the same BIG and CTL (mmap of the device MAP_FIXED into the
 * reservation, then the PROT_NONE placeholder back over it; mmap of 2 MiB
 * at the library's hint, then munmap). Its ratio is what the kernel's VMA
 * tree costs at N; the library's row beyond it is what the library adds.
 * The line before each level's rows says how many VMAs BIG and CTL have
 * (reservations side by side merge into one).
 *
 * After each of the exports and mappings kinds, BIG exits holding its N
 * objects, while CTL calls aclrtMallocPhysical + aclrtFreePhysical in a
 * loop: the exit's length and CTL's slowest call during it are printed
 * (issue 10: a teardown must not block another process's call > 10 ms),
 * with how often it left the CPU around that call (asleep, e.g. on a
 * mutex, or preempted), beside two floors measured before the exit: CTL's
 * slowest call in one second when nothing else ran, and in 10 s (1 s below
 * 100,000 objects) while a process that calls nothing spins on CPU 0.
 * The scheduler's switches on CTL's CPU during that slowest call are
 * printed too (sched_trace.h): which task had the CPU, and for how long.
 * The workers all run on one CPU (the last), so that a batch and its
 * control share a vCPU of the VM; the exiting process is moved to CPU 0.
 *
 * It prints figures and asserts nothing; it fails only if a call fails.
 * Run it as root in the VM: meson compile -C build bench-scale
 * Environment: ACL_SCALE_MAX (top level, default 1000000; lowered to what
 * fits in the guest's memory for the exports kind, and said so),
 * ACL_SCALE_ROUNDS (pairs of batches per row, default 51), ACL_SCALE_BATCH
 * (calls per batch, default 100; 10 times that for GetAddressRange),
 * ACL_SCALE_SETTLE (seconds between growing a level and its rows, default
 * 2), ACL_SCALE_KINDS (which kinds, e.g. "exports,whitelist"; default all).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "acl/acl.h"
#include "crng.h"
#include "median.h"
#include "sched_trace.h"
/* The raw rows' QUERY; the bench is built without the UAPI include path. */
#include "../include/uapi/linux/acl_share.h"

#define GOAL 1.10
#define WAVE 1024		/* sleepers whitelisted per SetPid */
#define MAX_ROUNDS 101
#define PAGE_BYTES 4096UL
#define RESV_BYTES (2UL << 20)

static const char *who = "scale_bench";
static int work_cpu;	/* the workers' CPU (the last one); the teardown's exit runs on 0 */

static void die(const char *what)
{
	const char *m = aclGetRecentErrMsg();

	fprintf(stderr, "%s: %s failed: %s (%s)\n", who, what, strerror(errno), m ? m : "-");
	exit(1);
}

#define ACL_OK(call) do { if ((call) != ACL_SUCCESS) die(#call); } while (0)

static long env_long(const char *name, long def)
{
	const char *v = getenv(name);

	return v && *v ? strtol(v, NULL, 0) : def;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------ messages */

enum op {
	OP_QUIT = 1,	/* exit holding everything (the file's teardown) */
	OP_GROW_EXPORTS,	/* hold n exported allocations; reply: the first key */
	OP_EXPORT_ONE,	/* one more exported allocation; reply: its key */
	OP_SET_PIDS,	/* whitelist pids[0..n) on key */
	OP_GROW_MAPS,	/* hold n mappings of one allocation (room for top) */
	OP_GROW_RESV,	/* hold n reservations of 2 MiB */
	OP_BATCH,	/* n timed calls of kind `what` (on key, pid); reply: ns */
	OP_PROBE,	/* Malloc+Free until the next message; reply: slowest, count */
	OP_PIN,		/* run on CPU n from now on */
	OP_VMAS,	/* reply: count = the VMAs of this process */
};

enum what {
	B_MALLOC_EXPORT_FREE,
	B_MALLOC_FREE,
	B_IMPORT_FREE,
	B_MAP_UNMAP,
	B_ADDR_RANGE,
	B_RESERVE_RELEASE,
	B_SETPID,
	B_RAW_MAP_UNMAP,	/* B_MAP_UNMAP's system calls, without the library */
	B_RAW_RESERVE_RELEASE,	/* B_RESERVE_RELEASE's */
};

struct cmd {
	int32_t op, what;
	int64_t n, top;
	uint64_t key;
	int32_t pid;
	int32_t pids[WAVE];
};

struct reply {
	int32_t ok, pid;
	uint64_t key;
	uint64_t ns, count;
	uint64_t slept, preempted;	/* OP_PROBE: the slowest call's context switches */
	uint64_t at;	/* OP_PROBE: when it started (CLOCK_MONOTONIC, ns) */
};

static void xsend(int s, const void *m, size_t len)
{
	if (send(s, m, len, 0) != (ssize_t)len)
		die("send");
}

static void xrecv(int s, void *m, size_t len)
{
	ssize_t r;

	do
		r = recv(s, m, len, 0);
	while (r < 0 && errno == EINTR);
	if (r <= 0) {
		fprintf(stderr, "%s: a peer is gone\n", who);
		exit(1);
	}
}

/* ------------------------------------------------------------ a worker */

static aclrtPhysicalMemProp normal_prop = {
	.handleType = ACL_MEM_HANDLE_TYPE_NONE,
	.allocationType = ACL_MEM_ALLOCATION_TYPE_PINNED,
	.memAttr = ACL_MEM_NORMAL,
	.location = { .id = 0, .type = ACL_MEM_LOCATION_TYPE_HOST },
};

/* What one worker holds. */
static aclrtDrvMemHandle *handles;	/* exported allocations */
static uint64_t *keys;
static int64_t n_handles;
static aclrtDrvMemHandle map_h;	/* the allocation mapped n_maps times */
static char *map_base;
static int64_t n_maps, map_top;
static void **resv;
static int64_t n_resv, resv_cap;
/* For the raw rows: the library's descriptor, map_h's mmap offset, the lowest reservation. */
static int raw_fd = -1;
static off_t raw_off;
static uintptr_t raw_hint = UINTPTR_MAX;

static void grow_exports(int64_t n)
{
	if (!handles) {
		handles = calloc((size_t)n + 1, sizeof(*handles));
		keys = calloc((size_t)n + 1, sizeof(*keys));
	} else {
		handles = realloc(handles, ((size_t)n + 1) * sizeof(*handles));
		keys = realloc(keys, ((size_t)n + 1) * sizeof(*keys));
	}
	if (!handles || !keys)
		die("calloc");
	for (; n_handles < n; n_handles++) {
		ACL_OK(aclrtMallocPhysical(&handles[n_handles], PAGE_BYTES, &normal_prop, 0));
		ACL_OK(aclrtMemExportToShareableHandle(handles[n_handles], ACL_MEM_HANDLE_TYPE_NONE,
						       ACL_RT_VMM_EXPORT_FLAG_DEFAULT,
						       &keys[n_handles]));
	}
}

static void write_proc(const char *path, long v)
{
	char buf[32];
	int fd = open(path, O_WRONLY | O_CLOEXEC), len;

	len = snprintf(buf, sizeof(buf), "%ld", v);
	if (fd < 0 || write(fd, buf, (size_t)len) != len)
		fprintf(stderr, "%s: cannot write %ld to %s: %s\n", who, v, path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* The lines of /proc/self/maps. */
static uint64_t count_vmas(void)
{
	static char buf[1 << 16];
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	uint64_t n = 0;
	ssize_t r;

	if (fd < 0)
		die("open of /proc/self/maps");
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < r; i++)
			n += buf[i] == '\n';
	if (r < 0)
		die("read of /proc/self/maps");
	close(fd);
	return n;
}

/*
 * For the raw rows: the library's descriptor of /dev/acl_share (found in
 * /proc/self/fd) and the mmap offset of map_h, from the module's QUERY on
 * that descriptor (the library's handle value is the module's number), so
 * that the raw calls map the very file and offset the library maps.
 */
static void find_raw_mapping(void)
{
	struct acl_share_query q;
	char path[64], target[64];

	for (int fd = 0; fd < 1024 && raw_fd < 0; fd++) {
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n = readlink(path, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = 0;
			if (strstr(target, "acl_share"))
				raw_fd = fd;
		}
	}
	if (raw_fd < 0)
		die("the library's descriptor of /dev/acl_share");
	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.handle = (uint32_t)(uintptr_t)map_h;
	if (ioctl(raw_fd, ACL_SHARE_IOC_QUERY, &q))
		die("ACL_SHARE_IOC_QUERY");
	raw_off = (off_t)q.out_mmap_offset;
}

/*
 * n mappings of one page side by side; the extra one goes at index top + 1,
 * a placeholder page on either side of it at every level (and the same
 * layout in the control, which holds 1 with the same top).
 */
static void grow_maps(int64_t n, int64_t top)
{
	if (!map_base) {
		map_top = top;
		ACL_OK(aclrtMallocPhysical(&map_h, PAGE_BYTES, &normal_prop, 0));
		ACL_OK(aclrtReserveMemAddress((void **)&map_base, ((size_t)top + 3) * PAGE_BYTES,
					      0, NULL, 0));
	}
	for (; n_maps < n; n_maps++)
		ACL_OK(aclrtMapMem(map_base + n_maps * PAGE_BYTES, PAGE_BYTES, 0, map_h, 0));
	if (raw_fd < 0)
		find_raw_mapping();
}

static void grow_resv(int64_t n)
{
	if (n > resv_cap) {
		resv = realloc(resv, (size_t)n * sizeof(*resv));
		if (!resv)
			die("realloc");
		resv_cap = n;
	}
	for (; n_resv < n; n_resv++) {
		ACL_OK(aclrtReserveMemAddress(&resv[n_resv], RESV_BYTES, 0, NULL, 0));
		if ((uintptr_t)resv[n_resv] < raw_hint)
			raw_hint = (uintptr_t)resv[n_resv];
	}
}

/* One call (or pair) of kind @what. */
static void one_call(int what, uint64_t key, int32_t pid)
{
	aclrtDrvMemHandle h;
	uint64_t k;
	void *p, *base;
	size_t size;

	switch (what) {
	case B_MALLOC_EXPORT_FREE:
		ACL_OK(aclrtMallocPhysical(&h, PAGE_BYTES, &normal_prop, 0));
		ACL_OK(aclrtMemExportToShareableHandle(h, ACL_MEM_HANDLE_TYPE_NONE,
						       ACL_RT_VMM_EXPORT_FLAG_DEFAULT, &k));
		ACL_OK(aclrtFreePhysical(h));
		break;
	case B_MALLOC_FREE:
		ACL_OK(aclrtMallocPhysical(&h, PAGE_BYTES, &normal_prop, 0));
		ACL_OK(aclrtFreePhysical(h));
		break;
	case B_IMPORT_FREE:
		ACL_OK(aclrtMemImportFromShareableHandle(key, 0, &h));
		ACL_OK(aclrtFreePhysical(h));
		break;
	case B_MAP_UNMAP:
		p = map_base + (map_top + 1) * PAGE_BYTES;
		ACL_OK(aclrtMapMem(p, PAGE_BYTES, 0, map_h, 0));
		ACL_OK(aclrtUnmapMem(p));
		break;
	case B_ADDR_RANGE:
		p = map_base + (n_maps / 2) * PAGE_BYTES + PAGE_BYTES / 2;
		ACL_OK(aclrtMemGetAddressRange(p, &base, &size));
		break;
	case B_RESERVE_RELEASE:
		ACL_OK(aclrtReserveMemAddress(&p, RESV_BYTES, 0, NULL, 0));
		ACL_OK(aclrtReleaseMemAddress(p));
		break;
	case B_SETPID:
		ACL_OK(aclrtMemSetPidToShareableHandle(key, &pid, 1));
		break;
	case B_RAW_MAP_UNMAP:	/* what aclrtMapMem and aclrtUnmapMem call */
		p = map_base + (map_top + 1) * PAGE_BYTES;
		if (mmap(p, PAGE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, raw_fd,
			 raw_off) != p)
			die("mmap of the device");
		if (mmap(p, PAGE_BYTES, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) != p)
			die("mmap of the placeholder");
		break;
	case B_RAW_RESERVE_RELEASE:	/* ... aclrtReserveMemAddress at its hint, and Release */
		p = mmap((void *)(raw_hint - RESV_BYTES), RESV_BYTES, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED || munmap(p, RESV_BYTES))
			die("mmap or munmap of a reservation");
		break;
	}
}

/* How often this thread has left the CPU: asleep (voluntary) or preempted. */
static void switches(uint64_t *slept, uint64_t *preempted)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru))
		die("getrusage");
	*slept = (uint64_t)ru.ru_nvcsw;
	*preempted = (uint64_t)ru.ru_nivcsw;
}

/*
 * Until the coordinator speaks again on @s: Malloc+Free in a loop; the
 * slowest one's length, and how often the thread left the CPU around it:
 * asleep (on a mutex or a semaphore, say; a spinning wait does not count)
 * or preempted by another task. The counters are read outside the timed
 * window, so a 0 holds for the call itself. (Not the scheduler's clock:
 * under TCG it is precise only to a tick.)
 */
static void probe(int s, struct reply *r)
{
	uint64_t t0, t, s0, s1, p0, p1;
	char b;

	for (;;) {
		switches(&s0, &p0);
		t0 = now_ns();
		one_call(B_MALLOC_FREE, 0, 0);
		t = now_ns() - t0;
		switches(&s1, &p1);
		if (t > r->ns) {
			r->ns = t;
			r->at = t0;
			r->slept = s1 - s0;
			r->preempted = p1 - p0;
		}
		r->count++;
		if (recv(s, &b, 1, MSG_DONTWAIT | MSG_PEEK) > 0)
			break;
	}
}

/* On CPU @cpu, if the machine has it (quietly not, otherwise). */
static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void __attribute__((noreturn)) worker(int s, const char *name)
{
	static struct cmd c;
	struct reply r;
	uint64_t t0;

	who = name;
	/*
	 * Every worker on the same CPU: a batch and its control run on the
	 * same vCPU thread of the VM, whatever else loads the host's cores.
	 */
	pin(work_cpu);
	ACL_OK(aclrtSetDevice(0));
	memset(&r, 0, sizeof(r));
	ACL_OK(aclrtDeviceGetBareTgid(&r.pid));
	r.ok = 1;
	xsend(s, &r, sizeof(r));
	for (;;) {
		xrecv(s, &c, sizeof(c));
		memset(&r, 0, sizeof(r));
		r.ok = 1;
		switch (c.op) {
		case OP_QUIT:
			_exit(0);
		case OP_GROW_EXPORTS:
			grow_exports(c.n);
			r.key = keys[0];
			break;
		case OP_EXPORT_ONE:
			grow_exports(n_handles + 1);
			r.key = keys[n_handles - 1];
			break;
		case OP_SET_PIDS:
			ACL_OK(aclrtMemSetPidToShareableHandle(c.key, c.pids, (size_t)c.n));
			break;
		case OP_GROW_MAPS:
			write_proc("/proc/sys/vm/max_map_count", (long)(2 * c.top + 65530));
			grow_maps(c.n, c.top);
			break;
		case OP_GROW_RESV:
			grow_resv(c.n);
			break;
		case OP_PIN:
			pin((int)c.n);
			break;
		case OP_VMAS:
			r.count = count_vmas();
			break;
		case OP_BATCH:
			t0 = now_ns();
			for (int64_t i = 0; i < c.n; i++)
				one_call(c.what, c.key, c.pid);
			r.ns = now_ns() - t0;
			break;
		case OP_PROBE:
			probe(s, &r);
			xrecv(s, &c, sizeof(c));	/* the stop message */
			break;
		}
		xsend(s, &r, sizeof(r));
	}
}

/* ------------------------------------------------------------ the coordinator */

struct peer {
	pid_t pid;	/* as forked */
	int32_t tgid;	/* bare tgid (the same: the VM's initial namespace) */
	int s;
};

static struct peer spawn(const char *name)
{
	struct peer p;
	struct reply r;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		die("socketpair");
	p.pid = fork();
	if (p.pid < 0)
		die("fork");
	if (p.pid == 0) {
		close(sv[0]);
		worker(sv[1], name);
	}
	close(sv[1]);
	p.s = sv[0];
	xrecv(p.s, &r, sizeof(r));
	p.tgid = r.pid;
	return p;
}

static struct reply call(struct peer *p, struct cmd *c)
{
	struct reply r;

	xsend(p->s, c, sizeof(*c));
	xrecv(p->s, &r, sizeof(r));
	return r;
}

static struct reply call_op(struct peer *p, int op, int64_t n, int64_t top, uint64_t key)
{
	static struct cmd c;

	memset(&c, 0, sizeof(c));
	c.op = op;
	c.n = n;
	c.top = top;
	c.key = key;
	return call(p, &c);
}

static void set_pids(struct peer *p, uint64_t key, const int32_t *pids, int n)
{
	static struct cmd c;

	memset(&c, 0, sizeof(c));
	c.op = OP_SET_PIDS;
	c.key = key;
	c.n = n;
	memcpy(c.pids, pids, (size_t)n * sizeof(*pids));
	call(p, &c);
}

/* No reply: the worker exits (reap() waits for it). */
static void quit(struct peer *p)
{
	static struct cmd c = { .op = OP_QUIT };

	xsend(p->s, &c, sizeof(c));
}

static int rounds, batch;

static double batch_ns(struct peer *p, int what, int n, uint64_t key, int32_t pid)
{
	static struct cmd c;

	memset(&c, 0, sizeof(c));
	c.op = OP_BATCH;
	c.what = what;
	c.n = n;
	c.key = key;
	c.pid = pid;
	return (double)call(p, &c).ns / n;
}

/*
 * One row: @rounds pairs of batches, alternately big first and control
 * first, after one untimed batch of each.
 */
static void row(const char *kind, const char *calls, int64_t level, int what, int mult,
		struct peer *big, uint64_t big_key, int32_t big_pid,
		struct peer *ctl, uint64_t ctl_key, int32_t ctl_pid)
{
	double b[MAX_ROUNDS], c[MAX_ROUNDS], q[MAX_ROUNDS], mb, mc, mq;
	int n = batch * mult;

	batch_ns(big, what, n, big_key, big_pid);
	batch_ns(ctl, what, n, ctl_key, ctl_pid);
	for (int r = 0; r < rounds; r++) {
		if (r % 2) {
			c[r] = batch_ns(ctl, what, n, ctl_key, ctl_pid);
			b[r] = batch_ns(big, what, n, big_key, big_pid);
		} else {
			b[r] = batch_ns(big, what, n, big_key, big_pid);
			c[r] = batch_ns(ctl, what, n, ctl_key, ctl_pid);
		}
		q[r] = b[r] / c[r];
	}
	mb = median(b, rounds);
	mc = median(c, rounds);
	mq = median(q, rounds);	/* sorts q: q[0] min, q[rounds - 1] max */
	printf("  %-13s %-34s %8" PRId64 " %9.0f %9.0f %6.2fx %5.2f-%-5.2f %5.2f-%-5.2f %s\n",
	       kind, calls, level, mb, mc, mq, q[rounds / 4], q[rounds - 1 - rounds / 4], q[0],
	       q[rounds - 1], mq <= GOAL ? "ok" : "OVER");
	fflush(stdout);
}

static int64_t levels[8];
static int n_levels;

static void make_levels(int64_t top)
{
	static const int64_t std[] = { 1, 1000, 100000, 1000000 };

	n_levels = 0;
	for (size_t i = 0; i < sizeof(std) / sizeof(std[0]); i++)
		if (std[i] <= top)
			levels[n_levels++] = std[i];
	if (levels[n_levels - 1] != top)
		levels[n_levels++] = top;
}

static long long meminfo_kb(const char *key)
{
	char line[256];
	long long v = -1;
	size_t kl = strlen(key);
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		die("/proc/meminfo");
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			v = atoll(line + kl + 1);
			break;
		}
	fclose(f);
	return v;
}

static void reap(struct peer *p)
{
	int st;

	close(p->s);
	if (waitpid(p->pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "%s: a worker failed\n", who);
		exit(1);
	}
}

/* Starts CTL's probe. */
static void probe_start(struct peer *ctl)
{
	static struct cmd c = { .op = OP_PROBE };

	xsend(ctl->s, &c, sizeof(c));
}

/* Stops it: its slowest call. */
static struct reply probe_stop(struct peer *ctl)
{
	static struct cmd c = { .op = OP_PROBE };	/* any message stops the probe */
	struct reply r;

	xsend(ctl->s, &c, sizeof(c));
	xrecv(ctl->s, &r, sizeof(r));
	return r;
}

/*
 * A process that calls nothing and spins on CPU 0 until killed (or until
 * the coordinator dies). It closes the workers' sockets it inherited, so
 * that a worker still sees its coordinator go.
 */
static pid_t spinner(void)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork of the spinner");
	if (pid == 0) {
		volatile unsigned long x = 0;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		pin(0);
		for (;;)
			x++;
	}
	return pid;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ULL),
			       .tv_nsec = (long)(ns % 1000000000ULL) };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void print_slowest(const char *what, const struct reply *r)
{
	printf("      %-38s %8.2f ms (of %7" PRIu64 " calls); during it slept %" PRIu64
	       ", preempted %" PRIu64 "\n", what, (double)r->ns / 1e6, r->count, r->slept,
	       r->preempted);
}

/*
 * BIG exits holding everything; meanwhile CTL calls Malloc+Free in a loop.
 * Prints the exit's length and CTL's slowest call, how often CTL left the
 * CPU around it, and two floors measured before the exit (after it, the
 * exit's deferred work would still run): the slowest call of one idle
 * second, and of 10 s (1 s below 100,000 objects: about what the exit of
 * @n objects takes under TCG) with a spinner on the exit's CPU.
 */
static void teardown(const char *kind, int64_t n, struct peer *big, struct peer *ctl)
{
	static struct cmd c = { .op = OP_QUIT };
	unsigned int floor_s = n >= 100000 ? 10 : 1;
	struct reply idle, busy, during;
	uint64_t t0, t;
	pid_t spin;
	char what[64];
	bool traced;

	/* The exit on another CPU than CTL's, so that only locks can stop CTL. */
	call_op(big, OP_PIN, 0, 0, 0);
	probe_start(ctl);
	sleep_ns(1000000000ULL);
	idle = probe_stop(ctl);

	spin = spinner();
	probe_start(ctl);
	sleep_ns(floor_s * 1000000000ULL);
	busy = probe_stop(ctl);
	kill(spin, SIGKILL);
	waitpid(spin, NULL, 0);

	traced = sched_trace_start(work_cpu);
	probe_start(ctl);
	sleep_ns(20 * 1000000ULL);
	t0 = now_ns();
	xsend(big->s, &c, sizeof(c));
	reap(big);
	t = now_ns() - t0;
	during = probe_stop(ctl);
	if (traced)
		sched_trace_stop();

	printf("  %-13s exit of a process holding %" PRId64 ": %.2f s; another process's "
	       "slowest Malloc+Free:\n", kind, n, (double)t / 1e9);
	print_slowest("during the exit", &during);
	if (traced)
		sched_trace_print(during.at, during.at + during.ns);
	print_slowest("floor: 1 s before, idle", &idle);
	snprintf(what, sizeof(what), "floor: %u s before, CPU 0 spinning", floor_s);
	print_slowest(what, &busy);
	fflush(stdout);
}

static unsigned int settle_s;

static void settle(void)
{
	sleep(settle_s);	/* deferred work (the export table's resize) finishes first */
}

static void kind_exports(int64_t top)
{
	struct peer big = spawn("scale_bench[exports big]");
	struct peer ctl = spawn("scale_bench[exports ctl]");
	struct peer imp = spawn("scale_bench[importer]");
	uint64_t bkey, ckey, ikey;
	int32_t two[2] = { imp.tgid, 0 };

	make_levels(top);
	/*
	 * IMP's first: it gets the smallest free export id, 0 on a fresh
	 * module, which an importer's table of imports (an xarray keyed by
	 * export id) holds without a node; BIG's and CTL's, compared with each
	 * other, both need one.
	 */
	ikey = call_op(&imp, OP_GROW_EXPORTS, 1, 0, 0).key;
	bkey = call_op(&big, OP_GROW_EXPORTS, 1, 0, 0).key;
	ckey = call_op(&ctl, OP_GROW_EXPORTS, 1, 0, 0).key;
	two[1] = ctl.tgid;
	set_pids(&big, bkey, two, 2);
	two[1] = big.tgid;
	set_pids(&ctl, ckey, two, 2);
	two[0] = ctl.tgid;	/* IMP's export: BIG and CTL import the same one */
	set_pids(&imp, ikey, two, 2);
	for (int l = 0; l < n_levels; l++) {
		uint64_t t0 = now_ns();

		call_op(&big, OP_GROW_EXPORTS, levels[l], 0, 0);
		if (l)
			printf("  (%" PRId64 " exports made in %.1f s; %lld MiB left)\n", levels[l],
			       (double)(now_ns() - t0) / 1e9, meminfo_kb("MemAvailable") / 1024);
		settle();
		row("exports", "Malloc+Export+Free", levels[l], B_MALLOC_EXPORT_FREE, 1,
		    &big, 0, 0, &ctl, 0, 0);
		row("exports", "Import+Free by another process", levels[l], B_IMPORT_FREE, 1,
		    &imp, bkey, 0, &imp, ckey, 0);
		row("handle ids", "Malloc+Free", levels[l], B_MALLOC_FREE, 1,
		    &big, 0, 0, &ctl, 0, 0);
		row("handle ids", "Import+Free of one export", levels[l], B_IMPORT_FREE, 1,
		    &big, ikey, 0, &ctl, ikey, 0);
	}
	quit(&imp);
	reap(&imp);
	teardown("exports", levels[n_levels - 1], &big, &ctl);
	quit(&ctl);
	reap(&ctl);
}

/* How many VMAs BIG and CTL have, and how long counting them took. */
static void vmas(const char *kind, struct peer *big, struct peer *ctl)
{
	uint64_t t0 = now_ns(), b = call_op(big, OP_VMAS, 0, 0, 0).count;
	double t = (double)(now_ns() - t0) / 1e9;

	printf("  (%s: BIG has %" PRIu64 " VMAs, CTL %" PRIu64 "; /proc/self/maps read in %.1f s)\n",
	       kind, b, call_op(ctl, OP_VMAS, 0, 0, 0).count, t);
}

static void kind_mappings(int64_t top)
{
	struct peer big = spawn("scale_bench[mappings big]");
	struct peer ctl = spawn("scale_bench[mappings ctl]");

	make_levels(top);
	call_op(&ctl, OP_GROW_MAPS, 1, top, 0);
	for (int l = 0; l < n_levels; l++) {
		uint64_t t0 = now_ns();

		call_op(&big, OP_GROW_MAPS, levels[l], top, 0);
		if (l)
			printf("  (%" PRId64 " mappings made in %.1f s)\n", levels[l],
			       (double)(now_ns() - t0) / 1e9);
		vmas("mappings", &big, &ctl);
		row("mappings", "MapMem+UnmapMem", levels[l], B_MAP_UNMAP, 1,
		    &big, 0, 0, &ctl, 0, 0);
		row("mappings", "raw: mmap of the device+placeholder", levels[l], B_RAW_MAP_UNMAP, 1,
		    &big, 0, 0, &ctl, 0, 0);
		row("mappings", "MemGetAddressRange", levels[l], B_ADDR_RANGE, 10,
		    &big, 0, 0, &ctl, 0, 0);
	}
	teardown("mappings", levels[n_levels - 1], &big, &ctl);
	quit(&ctl);
	reap(&ctl);
}

static void kind_reservations(int64_t top)
{
	struct peer big = spawn("scale_bench[reservations big]");
	struct peer ctl = spawn("scale_bench[reservations ctl]");

	make_levels(top);
	call_op(&ctl, OP_GROW_RESV, 1, 0, 0);
	for (int l = 0; l < n_levels; l++) {
		call_op(&big, OP_GROW_RESV, levels[l], 0, 0);
		vmas("reservations", &big, &ctl);
		row("reservations", "ReserveMemAddress+Release", levels[l], B_RESERVE_RELEASE, 1,
		    &big, 0, 0, &ctl, 0, 0);
		row("reservations", "raw: mmap at the hint+munmap", levels[l],
		    B_RAW_RESERVE_RELEASE, 1, &big, 0, 0, &ctl, 0, 0);
	}
	quit(&big);
	reap(&big);
	quit(&ctl);
	reap(&ctl);
}

/* @n sleeping children, whitelisted on @key by @w, then killed. */
static void whitelist_wave(struct peer *w, uint64_t key, int n)
{
	int32_t pids[WAVE];
	int p[2];

	if (pipe2(p, O_CLOEXEC))
		die("pipe");
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		char b;

		if (pid < 0)
			die("fork of a sleeper");
		if (pid == 0) {
			close(p[1]);
			while (read(p[0], &b, 1) < 0 && errno == EINTR)
				;
			_exit(0);
		}
		pids[i] = pid;	/* the VM runs in the initial pid namespace */
	}
	close(p[0]);
	set_pids(w, key, pids, n);
	close(p[1]);	/* they all exit */
	for (int i = 0; i < n; i++)
		waitpid(pids[i], NULL, 0);
}

static void kind_whitelist(int64_t top)
{
	struct peer w = spawn("scale_bench[whitelist exporter]");
	struct peer imp = spawn("scale_bench[whitelisted importer]");
	uint64_t bkey, ckey;
	int64_t listed = 1;

	call_op(&w, OP_EXPORT_ONE, 0, 0, 0);	/* takes id 0: see kind_exports() */
	bkey = call_op(&w, OP_EXPORT_ONE, 0, 0, 0).key;
	ckey = call_op(&w, OP_EXPORT_ONE, 0, 0, 0).key;
	set_pids(&w, bkey, &imp.tgid, 1);
	set_pids(&w, ckey, &imp.tgid, 1);
	make_levels(top);
	for (int l = 0; l < n_levels; l++) {
		uint64_t t0 = now_ns();

		while (listed < levels[l]) {
			int k = levels[l] - listed > WAVE ? WAVE : (int)(levels[l] - listed);

			whitelist_wave(&w, bkey, k);
			listed += k;
		}
		if (l)
			printf("  (%" PRId64 " processes forked, whitelisted, exited in %.1f s)\n",
			       listed - 1, (double)(now_ns() - t0) / 1e9);
		row("whitelist", "SetPid of a listed pid", levels[l], B_SETPID, 1,
		    &w, bkey, imp.tgid, &w, ckey, imp.tgid);
		row("whitelist", "Import+Free by a listed process", levels[l], B_IMPORT_FREE, 1,
		    &imp, bkey, 0, &imp, ckey, 0);
	}
	quit(&imp);
	reap(&imp);
	quit(&w);
	reap(&w);
}

int main(void)
{
	int64_t top = env_long("ACL_SCALE_MAX", 1000000), exp_top = top, wl_top;
	long long avail_kb = meminfo_kb("MemAvailable");
	/* One exported page: the page, ~1.3 KiB of allocation, the export, the library's. */
	const long long per_export_kb = 6;
	const char *kinds;
	long settle_env;

	setvbuf(stdout, NULL, _IOLBF, 0);
	wait_for_crng();
	work_cpu = (int)sysconf(_SC_NPROCESSORS_ONLN) - 1;
	if (work_cpu < 0)
		work_cpu = 0;
	rounds = (int)env_long("ACL_SCALE_ROUNDS", 51);
	settle_env = env_long("ACL_SCALE_SETTLE", 2);
	settle_s = settle_env < 0 || settle_env > 3600 ? 2 : (unsigned int)settle_env;
	kinds = getenv("ACL_SCALE_KINDS");
	if (!kinds || !*kinds)
		kinds = "exports,mappings,reservations,whitelist";
	if (!strstr(kinds, "exports") && !strstr(kinds, "mappings") &&
	    !strstr(kinds, "reservations") && !strstr(kinds, "whitelist")) {
		fprintf(stderr, "%s: ACL_SCALE_KINDS names no kind: %s\n", who, kinds);
		return 1;
	}
	batch = (int)env_long("ACL_SCALE_BATCH", 100);
	if (rounds < 1 || rounds > MAX_ROUNDS)
		rounds = 51;
	if (batch < 1)
		batch = 100;
	if (top < 1)
		top = 1;
	/* Room for the exports kind's N + 1 pages, with 10 % to spare. */
	if (exp_top * per_export_kb * 11 / 10 > avail_kb) {
		exp_top = avail_kb * 10 / 11 / per_export_kb;
		exp_top -= exp_top % 1000;
		if (exp_top < 1)
			exp_top = 1;
	}
	wl_top = top < 65535 ? top : 65535;
	/* No pid reused while the whitelist waves run: a reused tgid replaces its entry. */
	write_proc("/proc/sys/kernel/pid_max", 4194304);

	printf("scale_bench: per-call ns at N live objects vs a control at 1, in the same run\n");
	printf("  %d pairs of batches of %d calls per row (x10 for GetAddressRange), alternating "
	       "N and control; ratio = median of the per-pair ratios N/control, their "
	       "quartiles and min-max; goal <= %.2fx\n", rounds, batch, GOAL);
	printf("  top level %" PRId64 "; exports %" PRId64 "%s; whitelist %" PRId64
	       " (max_pids_per_handle caps a list at 65535); guest MemAvailable %lld MiB\n",
	       top, exp_top, exp_top < top ? " (what fits in the guest's memory)" : "", wl_top,
	       avail_kb / 1024);
	printf("  %-13s %-34s %8s %9s %9s %7s %-11s %-11s %s\n", "kind", "call(s) timed", "N",
	       "ns at N", "ns ctl", "ratio", "quartiles", "min-max", "goal");
	if (strstr(kinds, "exports"))
		kind_exports(exp_top);
	if (strstr(kinds, "mappings"))
		kind_mappings(top);
	if (strstr(kinds, "reservations"))
		kind_reservations(top);
	if (strstr(kinds, "whitelist"))
		kind_whitelist(wl_top);
	printf("scale_bench: done\n");
	return 0;
}
