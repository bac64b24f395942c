// SPDX-License-Identifier: GPL-2.0
/*
 * share_cycle_bench - a whole share cycle of huge memory through the ACL
 * calls, against the fastest thing a Linux user has for the same job: a
 * hugetlbfs memfd (MFD_HUGETLB) passed over a Unix socket (SCM_RIGHTS).
 *
 * One cycle, at 2 MiB, 64 MiB and 1 GiB, between two long-lived processes:
 *   ACL:      exporter: aclrtMallocPhysical(ACL_HBM_MEM_HUGE), Reserve, MapMem,
 *             ExportToShareableHandle, SetPidToShareableHandle, send the key;
 *             importer: ImportFromShareableHandle, Reserve, MapMem, write every
 *             4 KiB, UnmapMem, ReleaseMemAddress, FreePhysical, answer;
 *             exporter: UnmapMem, FreePhysical, ReleaseMemAddress.
 *   hugetlbfs: exporter: memfd_create(MFD_HUGETLB), ftruncate, fallocate (the
 *             pages are allocated and zeroed, as MallocPhysical does), mmap,
 *             send the descriptor; importer: mmap, write every 4 KiB, munmap,
 *             close, answer; exporter: munmap, close.
 * The two kinds alternate, round after round, and each figure is the median
 * of its rounds: a ratio within one run of one VM, which is what TCG allows.
 * The importer's minor faults per GiB are counted too (getrusage).
 *
 * Then the kernel memory (Slab in /proc/meminfo) that one allocation, one
 * export and one whitelist entry cost, over a few thousand of each.
 *
 * It prints figures and asserts nothing; it fails only if a call fails. Run
 * it as root in the VM: meson compile -C build bench-share
 * Environment: ACL_BENCH_ROUNDS (rounds at 2 MiB, default 21; fewer above).
 * Each step of both cycles is timed too, and after the totals a table shows
 * the median of each step at 2 MiB and 64 MiB: where the difference goes.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "acl/acl.h"
#include "crng.h"
#include "median.h"

#define SZ_2M (2UL << 20)
#define SZ_1G (1UL << 30)
#define TOUCH 4096UL
#define MAX_ROUNDS 64

static void die(const char *what)
{
	fprintf(stderr, "share_cycle_bench: %s: %s (%s)\n", what, strerror(errno),
		aclGetRecentErrMsg() ? aclGetRecentErrMsg() : "-");
	exit(1);
}

#define ACL_OK(call) do { if ((call) != ACL_SUCCESS) die(#call); } while (0)

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/*
 * The steps of a cycle, timed one by one. A row of the step table pairs an
 * ACL step with the hugetlbfs call(s) that do the same job (NONE: none do).
 */
enum step {
	E_ALLOC, E_MAP, E_EXPORT, E_UNMAP, E_FREE,	/* exporter */
	I_IMPORT, I_MAP, I_TOUCH, I_UNMAP, I_FREE,	/* importer */
	NSTEPS
};

static const char *const step_name[NSTEPS][2] = {
	[E_ALLOC] = { "exporter: MallocPhysical", "memfd_create+ftruncate+fallocate" },
	[E_MAP] = { "exporter: Reserve+MapMem", "mmap" },
	[E_EXPORT] = { "exporter: Export+SetPid", "(fd in sendmsg)" },
	[E_UNMAP] = { "exporter: UnmapMem+Release", "munmap" },
	[E_FREE] = { "exporter: FreePhysical", "close" },
	[I_IMPORT] = { "importer: Import", "(fd in recvmsg)" },
	[I_MAP] = { "importer: Reserve+MapMem", "mmap" },
	[I_TOUCH] = { "importer: write every 4 KiB", "write every 4 KiB" },
	[I_UNMAP] = { "importer: UnmapMem+Release", "munmap" },
	[I_FREE] = { "importer: FreePhysical", "close" },
};

/* One message: a command, a size, and an ACL key (the fd travels beside it). */
struct msg {
	char cmd;	/* 'a' ACL cycle, 'h' hugetlbfs cycle, 'q' quit, 'r' reply */
	uint64_t size;
	uint64_t key;
	long faults;
	double step[NSTEPS];	/* the importer's steps, seconds, in the reply */
};

/* Seconds since *t, and *t moved to now. */
static double lap(double *t)
{
	double n = now_s(), d = n - *t;

	*t = n;
	return d;
}

static void send_msg(int sock, const struct msg *m, int fd)
{
	char ctl[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { (void *)m, sizeof(*m) };
	struct msghdr h = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (fd >= 0) {
		h.msg_control = ctl;
		h.msg_controllen = sizeof(ctl);
		c = CMSG_FIRSTHDR(&h);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(fd));
	}
	if (sendmsg(sock, &h, 0) != sizeof(*m))
		die("sendmsg");
}

static int recv_msg(int sock, struct msg *m)
{
	char ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { m, sizeof(*m) };
	struct msghdr h = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = ctl, .msg_controllen = sizeof(ctl) };
	struct cmsghdr *c;
	int fd = -1;

	if (recvmsg(sock, &h, 0) != sizeof(*m))
		die("recvmsg");
	c = CMSG_FIRSTHDR(&h);
	if (c && c->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(c), sizeof(fd));
	return fd;
}

static long minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

static void touch(void *va, size_t size)
{
	for (size_t off = 0; off < size; off += TOUCH)
		((volatile char *)va)[off] = 1;
}

/* The importer: serves cycles until 'q'. */
static void importer(int sock)
{
	aclrtDrvMemHandle h;
	struct msg m;
	double t;
	void *va;
	long f0;
	int fd;

	ACL_OK(aclrtSetDevice(0));
	for (;;) {
		fd = recv_msg(sock, &m);
		if (m.cmd == 'q')
			_exit(0);
		f0 = minflt();
		memset(m.step, 0, sizeof(m.step));
		t = now_s();
		if (m.cmd == 'a') {
			ACL_OK(aclrtMemImportFromShareableHandle(m.key, 0, &h));
			m.step[I_IMPORT] = lap(&t);
			ACL_OK(aclrtReserveMemAddress(&va, m.size, 0, NULL, 0));
			ACL_OK(aclrtMapMem(va, m.size, 0, h, 0));
			m.step[I_MAP] = lap(&t);
			touch(va, m.size);
			m.step[I_TOUCH] = lap(&t);
			ACL_OK(aclrtUnmapMem(va));
			ACL_OK(aclrtReleaseMemAddress(va));
			m.step[I_UNMAP] = lap(&t);
			ACL_OK(aclrtFreePhysical(h));
			m.step[I_FREE] = lap(&t);
		} else {
			va = mmap(NULL, m.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			if (va == MAP_FAILED)
				die("importer mmap");
			m.step[I_MAP] = lap(&t);
			touch(va, m.size);
			m.step[I_TOUCH] = lap(&t);
			munmap(va, m.size);
			m.step[I_UNMAP] = lap(&t);
			close(fd);
			m.step[I_FREE] = lap(&t);
		}
		m.faults = minflt() - f0;
		m.cmd = 'r';
		send_msg(sock, &m, -1);
	}
}

/*
 * One ACL cycle of @size; returns seconds, the importer's faults in *faults
 * and the time of each step in step[].
 */
static double acl_cycle(int sock, size_t size, int32_t peer, long *faults, double *step)
{
	aclrtPhysicalMemProp prop = {
		.handleType = ACL_MEM_HANDLE_TYPE_NONE,
		.allocationType = ACL_MEM_ALLOCATION_TYPE_PINNED,
		.memAttr = ACL_HBM_MEM_HUGE,
		.location = { .id = 0, .type = ACL_MEM_LOCATION_TYPE_DEVICE },
	};
	aclrtDrvMemHandle h;
	struct msg m = { .cmd = 'a', .size = size };
	double t0 = now_s(), t = t0, unmap;
	void *va;

	ACL_OK(aclrtMallocPhysical(&h, size, &prop, 0));
	step[E_ALLOC] = lap(&t);
	ACL_OK(aclrtReserveMemAddress(&va, size, 0, NULL, 0));
	ACL_OK(aclrtMapMem(va, size, 0, h, 0));
	step[E_MAP] = lap(&t);
	ACL_OK(aclrtMemExportToShareableHandle(h, ACL_MEM_HANDLE_TYPE_NONE,
					       ACL_RT_VMM_EXPORT_FLAG_DEFAULT, &m.key));
	ACL_OK(aclrtMemSetPidToShareableHandle(m.key, &peer, 1));
	step[E_EXPORT] = lap(&t);
	send_msg(sock, &m, -1);
	recv_msg(sock, &m);
	lap(&t);
	ACL_OK(aclrtUnmapMem(va));
	unmap = lap(&t);
	ACL_OK(aclrtFreePhysical(h));
	step[E_FREE] = lap(&t);
	ACL_OK(aclrtReleaseMemAddress(va));
	step[E_UNMAP] = unmap + lap(&t);
	for (int i = I_IMPORT; i < NSTEPS; i++)
		step[i] = m.step[i];
	*faults = m.faults;
	return t - t0;
}

/* One hugetlbfs memfd cycle of @size, timed the same way. */
static double hugetlb_cycle(int sock, size_t size, long *faults, double *step)
{
	struct msg m = { .cmd = 'h', .size = size };
	double t0 = now_s(), t = t0;
	void *va;
	int fd;

	fd = memfd_create("share_cycle_bench", MFD_HUGETLB | MFD_CLOEXEC);
	if (fd < 0)
		die("memfd_create(MFD_HUGETLB)");
	if (ftruncate(fd, (off_t)size) || fallocate(fd, 0, 0, (off_t)size))
		die("ftruncate/fallocate of the hugetlbfs memfd (nr_hugepages too low?)");
	step[E_ALLOC] = lap(&t);
	va = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (va == MAP_FAILED)
		die("exporter mmap");
	step[E_MAP] = lap(&t);
	step[E_EXPORT] = 0;
	send_msg(sock, &m, fd);
	recv_msg(sock, &m);
	lap(&t);
	munmap(va, size);
	step[E_UNMAP] = lap(&t);
	close(fd);
	step[E_FREE] = lap(&t);
	for (int i = I_IMPORT; i < NSTEPS; i++)
		step[i] = m.step[i];
	*faults = m.faults;
	return t - t0;
}

/* The median of step @i over @rounds rounds of sa[][] (ACL) and sh[][] (hugetlbfs), µs. */
static void step_row(enum step i, double sa[][NSTEPS], double sh[][NSTEPS], int rounds)
{
	double a[MAX_ROUNDS], h[MAX_ROUNDS];

	for (int r = 0; r < rounds; r++) {
		a[r] = sa[r][i];
		h[r] = sh[r][i];
	}
	printf("    %-29s %9.0f  %-34s %9.0f\n", step_name[i][0], median(a, rounds) * 1e6,
	       step_name[i][1], median(h, rounds) * 1e6);
}

static long long slab_kb(void)
{
	char line[256];
	long long v = -1;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		die("/proc/meminfo");
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Slab: %lld", &v) == 1)
			break;
	fclose(f);
	return v;
}

static void write_sysctl(const char *path, const char *v)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0 || write(fd, v, strlen(v)) != (ssize_t)strlen(v))
		die(path);
	close(fd);
}

/* Kernel memory (Slab) of one allocation, one export and one whitelist entry. */
static void kernel_memory(void)
{
	enum { N = 2000, PIDS = 500 };
	static aclrtDrvMemHandle h[N];
	static uint64_t key[N];
	static int32_t pids[PIDS];
	aclrtPhysicalMemProp prop = {
		.memAttr = ACL_MEM_NORMAL,
		.location = { .id = 0, .type = ACL_MEM_LOCATION_TYPE_HOST },
	};
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	long long s0, s1, s2, s3;

	write_sysctl("/proc/sys/vm/drop_caches", "3");
	s0 = slab_kb();
	for (int i = 0; i < N; i++)
		ACL_OK(aclrtMallocPhysical(&h[i], page, &prop, 0));
	s1 = slab_kb();
	for (int i = 0; i < N; i++)
		ACL_OK(aclrtMemExportToShareableHandle(h[i], ACL_MEM_HANDLE_TYPE_NONE,
						       ACL_RT_VMM_EXPORT_FLAG_DEFAULT, &key[i]));
	s2 = slab_kb();
	for (int i = 0; i < PIDS; i++) {
		pid_t p = fork();

		if (p < 0)
			die("fork");
		if (p == 0) {
			pause();
			_exit(0);
		}
		pids[i] = p;
	}
	usleep(200 * 1000);
	s3 = slab_kb();
	ACL_OK(aclrtMemSetPidToShareableHandle(key[0], pids, PIDS));
	printf("  kernel memory (Slab):  %6.0f B per allocation (%d of one %zu-byte page)\n",
	       (double)(s1 - s0) * 1024 / N, N, page);
	printf("                         %6.0f B per export (%d)\n",
	       (double)(s2 - s1) * 1024 / N, N);
	/* 16 B an entry by design: at this count the array is one kmalloc, near Slab's resolution. */
	printf("                         %6lld kB for a whitelist of %d processes (one SetPid)\n",
	       slab_kb() - s3, PIDS);
	for (int i = 0; i < PIDS; i++) {
		kill(pids[i], SIGKILL);
		waitpid(pids[i], NULL, 0);
	}
	for (int i = 0; i < N; i++)
		ACL_OK(aclrtFreePhysical(h[i]));
}

int main(void)
{
	enum { NSIZES = 3 };
	static const size_t sizes[NSIZES] = { SZ_2M, 64UL << 20, SZ_1G };
	static double sa[NSIZES][MAX_ROUNDS][NSTEPS], sh[NSIZES][MAX_ROUNDS][NSTEPS];
	int nrounds[NSIZES];
	int rounds0 = getenv("ACL_BENCH_ROUNDS") ? atoi(getenv("ACL_BENCH_ROUNDS")) : 21;
	int sv[2], rounds;
	int32_t peer = 0;
	char hp[32];
	pid_t child;

	setvbuf(stdout, NULL, _IOLBF, 0);
	wait_for_crng();
	if (rounds0 < 1 || rounds0 > MAX_ROUNDS)
		rounds0 = 21;
	/* The hugetlbfs pool for the largest size; the ACL side allocates its own. */
	snprintf(hp, sizeof(hp), "%lu", SZ_1G / SZ_2M);
	write_sysctl("/proc/sys/vm/nr_hugepages", hp);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		die("socketpair");
	child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		close(sv[0]);
		importer(sv[1]);
	}
	close(sv[1]);
	ACL_OK(aclrtSetDevice(0));
	/* The importer's bare tgid is its pid: the bench runs in the VM's initial namespace. */
	peer = child;

	printf("share_cycle_bench: full share cycle, ACL_HBM_MEM_HUGE vs hugetlbfs memfd + SCM_RIGHTS\n");
	printf("  %8s %6s %12s %12s %8s %14s %14s\n", "size", "rounds", "ACL ms", "hugetlb ms",
	       "ratio", "ACL faults/GiB", "htlb faults/GiB");
	for (size_t s = 0; s < NSIZES; s++) {
		double ta[MAX_ROUNDS], th[MAX_ROUNDS], per_gib = (double)SZ_1G / (double)sizes[s];
		long fa = 0, fh = 0;

		rounds = sizes[s] >= SZ_1G ? 3 : sizes[s] > SZ_2M ? 7 : rounds0;
		nrounds[s] = rounds;
		for (int r = 0; r < rounds; r++) {
			ta[r] = acl_cycle(sv[0], sizes[s], peer, &fa, sa[s][r]);
			th[r] = hugetlb_cycle(sv[0], sizes[s], &fh, sh[s][r]);
		}
		double ma = median(ta, rounds), mh = median(th, rounds);

		printf("  %6zu M %6d %12.2f %12.2f %7.2fx %14.0f %14.0f\n", sizes[s] >> 20, rounds,
		       ma * 1e3, mh * 1e3, ma / mh, (double)fa * per_gib, (double)fh * per_gib);
	}
	for (size_t s = 0; s < NSIZES - 1; s++) {
		printf("  steps at %zu MiB, median µs:\n", sizes[s] >> 20);
		for (int i = 0; i < NSTEPS; i++)
			step_row((enum step)i, sa[s], sh[s], nrounds[s]);
	}
	send_msg(sv[0], &(struct msg){ .cmd = 'q' }, -1);
	waitpid(child, NULL, 0);
	write_sysctl("/proc/sys/vm/nr_hugepages", "0");
	kernel_memory();
	printf("share_cycle_bench: done\n");
	return 0;
}
