/* SPDX-License-Identifier: GPL-2.0 */
/*
 * acl_test_util.h - helpers shared by the acl_share selftests.
 *
 * It includes kselftest_harness.h. Optional parts:
 *  - include "acl/acl.h" before it for the library helpers (acl_prop(),
 *    struct acl_mapping, EXPECT_ACL());
 *  - include <linux/acl_share.h> before it for the raw ioctl helpers.
 *
 * Conventions:
 *  - the module's aggregate counters are read from ACL_STATS_DIR; every
 *    fixture records them in its setup and checks in its teardown (after
 *    all children are reaped) that the live ones are back where they were;
 *  - teardown code uses EXPECT_* only: an ASSERT_* that fails inside a
 *    teardown would jump back into the harness and run the teardown again;
 *  - code running in a fork()ed child of a test uses CHILD_CHECK(), which
 *    reports and _exit()s, never the harness macros; the parent then checks
 *    the child's exit status with ASSERT_CHILD_OK().
 */
#ifndef ACL_TEST_UTIL_H
#define ACL_TEST_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * The harness's generated wrappers and its SIGALRM handler have unused
 * parameters; everything else in the tests is -Wextra clean.
 */
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"

#define ACL_DEV_PATH "/dev/acl_share"
/* What /proc/<pid>/maps shows for a mapping of an allocation. */
#define ACL_MAP_PATH "acl_share:[memory]"
#define ACL_STATS_DIR "/sys/class/misc/acl_share/stats"
#define ACL_PARAMS_DIR "/sys/module/acl_share/parameters"

/* Byte sizes. SZ_4K is not the page size (see acl_page_size()). */
#define SZ_4K 0x1000UL
#define SZ_2M 0x200000UL
#define SZ_1G 0x40000000UL

/*
 * The kernel's base page: 4 KiB on x86_64; 4, 16 or 64 KiB on arm64. It is
 * the granularity of the *_NORMAL memory attributes and of mmap(),
 * mprotect(), munmap() and madvise(); /proc/<pid>/pagemap has one entry per
 * page; and the mmap offset of an allocation is its handle shifted by
 * acl_page_shift(). (Touching memory every SZ_4K still touches every page.)
 */
/*
 * A kernel on which every call is many times slower (the debug leg: KASAN,
 * lockdep, kmemleak; the VM runner passes ACL_SLOW_KERNEL=1): tests that
 * make objects by the ten thousand make fewer there, and say so.
 */
static inline bool acl_slow_kernel(void)
{
	const char *s = getenv("ACL_SLOW_KERNEL");

	return s && s[0] == '1';
}

static inline size_t acl_page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

static inline unsigned int acl_page_shift(void)
{
	return (unsigned int)__builtin_ctzl(acl_page_size());
}

/* @n rounded up to a whole number of pages. */
static inline size_t acl_page_round_up(size_t n)
{
	return (n + acl_page_size() - 1) & ~(acl_page_size() - 1);
}

/* The mmap offset of the allocation with the raw handle @handle. */
static inline uint64_t acl_handle_mmap_offset(uint32_t handle)
{
	return (uint64_t)handle << acl_page_shift();
}

/*
 * Maps @len read-write bytes that end exactly where a PROT_NONE guard page
 * begins, whatever the page size (so the buffer need not start on a page),
 * and @more read-write pages after the guard for the caller's own use.
 * Returns the start of the buffer, or NULL (errno set).
 */
static inline unsigned char *acl_map_guarded(size_t len, unsigned int more)
{
	size_t rw = acl_page_round_up(len), total = rw + (1 + more) * acl_page_size();
	unsigned char *p = mmap(NULL, total, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (mprotect(p + rw, acl_page_size(), PROT_NONE)) {
		int e = errno;

		munmap(p, total);
		errno = e;
		return NULL;
	}
	return p + rw - len;
}

/* How long a test waits for a message from another process. */
#define ACL_SYNC_TIMEOUT_MS 10000

/* ------------------------------------------------------------------ */
/* Counters and module parameters                                      */
/* ------------------------------------------------------------------ */

enum acl_counter {
	ACL_CNT_ALLOCATIONS,
	ACL_CNT_ALLOCATED_BYTES,
	ACL_CNT_MAPPINGS,
	ACL_CNT_HANDLES,
	ACL_CNT_EXPORTS,
	ACL_CNT_IMPORTS,
	ACL_CNT_OPENS,
	ACL_CNT_PEAK_ALLOCATIONS,
	ACL_CNT_PEAK_ALLOCATED_BYTES,
	ACL_CNT_PEAK_MAPPINGS,
	ACL_CNT_PEAK_EXPORTS,
	ACL_CNT_PEAK_IMPORTS,
	ACL_CNT_NR,
};

static const char *const acl_counter_names[ACL_CNT_NR] = {
	[ACL_CNT_ALLOCATIONS] = "allocations",
	[ACL_CNT_ALLOCATED_BYTES] = "allocated_bytes",
	[ACL_CNT_MAPPINGS] = "mappings",
	[ACL_CNT_HANDLES] = "handles",
	[ACL_CNT_EXPORTS] = "exports",
	[ACL_CNT_IMPORTS] = "imports",
	[ACL_CNT_OPENS] = "opens",
	[ACL_CNT_PEAK_ALLOCATIONS] = "peak_allocations",
	[ACL_CNT_PEAK_ALLOCATED_BYTES] = "peak_allocated_bytes",
	[ACL_CNT_PEAK_MAPPINGS] = "peak_mappings",
	[ACL_CNT_PEAK_EXPORTS] = "peak_exports",
	[ACL_CNT_PEAK_IMPORTS] = "peak_imports",
};

#define ACL_CNT_BIT(c) (1U << (c))
/* The counters that describe live state and must return to their start. */
#define ACL_CNT_LIVE                                                       \
	(ACL_CNT_BIT(ACL_CNT_ALLOCATIONS) | ACL_CNT_BIT(ACL_CNT_ALLOCATED_BYTES) | \
	 ACL_CNT_BIT(ACL_CNT_MAPPINGS) | ACL_CNT_BIT(ACL_CNT_HANDLES) |     \
	 ACL_CNT_BIT(ACL_CNT_EXPORTS) | ACL_CNT_BIT(ACL_CNT_IMPORTS) |      \
	 ACL_CNT_BIT(ACL_CNT_OPENS))
/*
 * The same without "opens": the library opens /dev/acl_share lazily and
 * keeps it open until the process exits, so a test process that used the
 * library holds one more open file at its teardown than at its setup.
 */
#define ACL_CNT_LIVE_NO_OPENS (ACL_CNT_LIVE & ~ACL_CNT_BIT(ACL_CNT_OPENS))

struct acl_counters {
	unsigned long long v[ACL_CNT_NR];
};

/*
 * Reads a sysfs file holding one decimal value and a newline (the format
 * is checked strictly). Returns 0 or -errno (-EINVAL for a bad format).
 */
/* Reads up to @len - 1 bytes of @path into @buf, NUL-terminated; 0 or -errno. */
static inline int acl_read_text(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
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
	return 0;
}

/* Writes @s to @path in one write(); 0 or -errno. */
static inline int acl_write_text(const char *path, const char *s)
{
	ssize_t n;
	int fd, e;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	e = n < 0 ? -errno : (size_t)n == strlen(s) ? 0 : -EIO;
	close(fd);
	return e;
}

static inline int acl_read_ull(const char *path, unsigned long long *out)
{
	char buf[64], *end;
	size_t n;
	int ret;

	ret = acl_read_text(path, buf, sizeof(buf));
	if (ret)
		return ret;
	n = strlen(buf);
	if (n < 2 || buf[n - 1] != '\n' || buf[0] < '0' || buf[0] > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoull(buf, &end, 10);
	if (errno || end != buf + n - 1)
		return -EINVAL;
	return 0;
}

static inline int acl_read_counter(enum acl_counter c, unsigned long long *out)
{
	char path[256];

	snprintf(path, sizeof(path), ACL_STATS_DIR "/%s", acl_counter_names[c]);
	return acl_read_ull(path, out);
}

/* Reads all counters; on failure prints which one and returns -errno. */
static inline int acl_read_counters(struct acl_counters *c)
{
	for (int i = 0; i < ACL_CNT_NR; i++) {
		int ret = acl_read_counter((enum acl_counter)i, &c->v[i]);

		if (ret) {
			fprintf(stderr, "# cannot read %s/%s: %s\n", ACL_STATS_DIR,
				acl_counter_names[i], strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static inline int acl_read_param(const char *name, unsigned long long *out)
{
	char path[256];

	snprintf(path, sizeof(path), ACL_PARAMS_DIR "/%s", name);
	return acl_read_ull(path, out);
}

/*
 * Compares the counters in @mask with @start. Peak counters are checked to
 * be monotonic and never below their live counterpart. Returns the number
 * of mismatches (each printed) or -errno when the counters cannot be read.
 */
static inline int acl_counters_diff(const struct acl_counters *start, unsigned int mask)
{
	static const int peak_of[][2] = {
		{ ACL_CNT_PEAK_ALLOCATIONS, ACL_CNT_ALLOCATIONS },
		{ ACL_CNT_PEAK_ALLOCATED_BYTES, ACL_CNT_ALLOCATED_BYTES },
		{ ACL_CNT_PEAK_MAPPINGS, ACL_CNT_MAPPINGS },
		{ ACL_CNT_PEAK_EXPORTS, ACL_CNT_EXPORTS },
		{ ACL_CNT_PEAK_IMPORTS, ACL_CNT_IMPORTS },
	};
	struct acl_counters now;
	int bad = 0, ret;

	ret = acl_read_counters(&now);
	if (ret)
		return ret;
	for (int i = 0; i < ACL_CNT_NR; i++) {
		if (!(mask & ACL_CNT_BIT(i)) || now.v[i] == start->v[i])
			continue;
		fprintf(stderr, "# counter %s: %llu at start, %llu now\n",
			acl_counter_names[i], start->v[i], now.v[i]);
		bad++;
	}
	for (size_t i = 0; i < sizeof(peak_of) / sizeof(peak_of[0]); i++) {
		int p = peak_of[i][0], l = peak_of[i][1];

		if (now.v[p] < start->v[p] || now.v[p] < now.v[l]) {
			fprintf(stderr, "# counter %s: %llu (was %llu) with %s %llu\n",
				acl_counter_names[p], now.v[p], start->v[p],
				acl_counter_names[l], now.v[l]);
			bad++;
		}
	}
	return bad;
}

/* The counters in @mask are where they were in @start (usable in teardown). */
#define EXPECT_COUNTERS(start, mask) \
	EXPECT_EQ(0, acl_counters_diff(&(start), (mask)))
#define ASSERT_COUNTERS(start, mask) \
	ASSERT_EQ(0, acl_counters_diff(&(start), (mask)))

/* Counter @c moved by exactly @delta since @start. */
#define EXPECT_COUNTER_DELTA(start, c, delta)                                   \
	do {                                                                    \
		unsigned long long __now = 0;                                   \
		EXPECT_EQ(0, acl_read_counter((c), &__now));                    \
		EXPECT_EQ((long long)(delta), (long long)(__now - (start).v[c])) \
			TH_LOG("counter %s: %llu at start, %llu now",           \
			       acl_counter_names[c], (start).v[c], __now);      \
	} while (0)

/* ------------------------------------------------------------------ */
/* Processes                                                          */
/* ------------------------------------------------------------------ */

/* In a forked child: on failure, say where and why, then _exit(1). */
#define CHILD_CHECK(cond, fmt, ...)                                              \
	do {                                                                     \
		if (!(cond)) {                                                   \
			fprintf(stderr, "# child %d: %s:%d: `%s` failed: " fmt "\n", \
				(int)getpid(), __FILE__, __LINE__, #cond,         \
				##__VA_ARGS__);                                  \
			fflush(stderr);                                          \
			_exit(1);                                                \
		}                                                                \
	} while (0)

/*
 * The RLIMIT_MEMLOCK the tests give a process before it drops root: 8 MiB,
 * Linux's default since 5.16. Before 5.16 the default is 64 KiB, and an
 * operator raises it for the users of the API (README): so do the tests,
 * so that every kernel runs them alike. Returns 0 or -errno.
 */
#define ACL_TEST_MEMLOCK (8UL << 20)

static inline int acl_set_test_memlock(void)
{
	struct rlimit rl = { ACL_TEST_MEMLOCK, ACL_TEST_MEMLOCK };

	return setrlimit(RLIMIT_MEMLOCK, &rl) ? -errno : 0;
}

/* Waits for @pid; returns its wait status, or -1 (errno set). */
static inline int acl_wait(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return status;
}

/* Child @pid exited with status 0. */
#define ASSERT_CHILD_OK(pid)                                                    \
	do {                                                                    \
		int __st = acl_wait(pid);                                       \
		ASSERT_NE(-1, __st) TH_LOG("waitpid: %s", strerror(errno));     \
		ASSERT_TRUE(WIFEXITED(__st))                                    \
			TH_LOG("child %d ended by signal %d", (int)(pid),        \
			       WIFSIGNALED(__st) ? WTERMSIG(__st) : -1);         \
		ASSERT_EQ(0, WEXITSTATUS(__st))                                 \
			TH_LOG("child %d failed (see its message above)", (int)(pid)); \
	} while (0)

/* Child @pid was killed by signal @sig. */
#define ASSERT_CHILD_SIGNALED(pid, sig)                                        \
	do {                                                                   \
		int __st = acl_wait(pid);                                      \
		ASSERT_NE(-1, __st) TH_LOG("waitpid: %s", strerror(errno));    \
		ASSERT_TRUE(WIFSIGNALED(__st))                                 \
			TH_LOG("child %d exited with %d instead of signal %d", \
			       (int)(pid), WEXITSTATUS(__st), (sig));           \
		ASSERT_EQ((sig), WTERMSIG(__st));                              \
	} while (0)

/*
 * Two pipes between a parent and one child. After fork() each side calls
 * acl_chan_parent()/acl_chan_child() and then talks with acl_tell() /
 * acl_hear(), one tag byte per message.
 */
struct acl_chan {
	int to_child[2];
	int to_parent[2];
	int rd, wr;
};

static inline int acl_chan_init(struct acl_chan *ch)
{
	if (pipe2(ch->to_child, O_CLOEXEC))
		return -errno;
	if (pipe2(ch->to_parent, O_CLOEXEC)) {
		int e = -errno;

		close(ch->to_child[0]);
		close(ch->to_child[1]);
		return e;
	}
	ch->rd = ch->wr = -1;
	return 0;
}

static inline void acl_chan_parent(struct acl_chan *ch)
{
	close(ch->to_child[0]);
	close(ch->to_parent[1]);
	ch->rd = ch->to_parent[0];
	ch->wr = ch->to_child[1];
}

static inline void acl_chan_child(struct acl_chan *ch)
{
	close(ch->to_child[1]);
	close(ch->to_parent[0]);
	ch->rd = ch->to_child[0];
	ch->wr = ch->to_parent[1];
}

static inline void acl_chan_close(struct acl_chan *ch)
{
	if (ch->rd >= 0)
		close(ch->rd);
	if (ch->wr >= 0)
		close(ch->wr);
	ch->rd = ch->wr = -1;
}

static inline int acl_tell(struct acl_chan *ch, char tag)
{
	return write(ch->wr, &tag, 1) == 1 ? 0 : -1;
}

/* Waits up to @ms for @tag; returns 0, or -1 on timeout, EOF or another tag. */
static inline int acl_hear_within(struct acl_chan *ch, char tag, int ms)
{
	struct pollfd pfd = { .fd = ch->rd, .events = POLLIN };
	char got;

	if (poll(&pfd, 1, ms) != 1)
		return -1;
	if (read(ch->rd, &got, 1) != 1)
		return -1;
	return got == tag ? 0 : -1;
}

/* Waits for @tag; returns 0, or -1 on timeout, EOF or another tag. */
static inline int acl_hear(struct acl_chan *ch, char tag)
{
	return acl_hear_within(ch, tag, ACL_SYNC_TIMEOUT_MS);
}

/* Sends and receives a plain value (an address, a handle) over the channel. */
static inline int acl_send_val(struct acl_chan *ch, const void *v, size_t len)
{
	return write(ch->wr, v, len) == (ssize_t)len ? 0 : -1;
}

/* Waits up to @ms for a value; returns 0, or -1 on timeout or EOF. */
static inline int acl_recv_val_within(struct acl_chan *ch, void *v, size_t len, int ms)
{
	struct pollfd pfd = { .fd = ch->rd, .events = POLLIN };

	if (poll(&pfd, 1, ms) != 1)
		return -1;
	return read(ch->rd, v, len) == (ssize_t)len ? 0 : -1;
}

static inline int acl_recv_val(struct acl_chan *ch, void *v, size_t len)
{
	return acl_recv_val_within(ch, v, len, ACL_SYNC_TIMEOUT_MS);
}

/* Offset of the first byte of @p that is not @byte, or @len. */
static inline size_t first_diff_byte(const void *p, size_t len, unsigned char byte)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < len; i++)
		if (b[i] != byte)
			return i;
	return len;
}

/* ------------------------------------------------------------------ */
/* Probing addresses                                                  */
/* ------------------------------------------------------------------ */

static sigjmp_buf acl_probe_env __attribute__((unused));

static inline void acl_probe_handler(int sig)
{
	siglongjmp(acl_probe_env, sig);
}

/*
 * Touches one byte at @p (a read, or a read and a write back of the same
 * value). Returns 0 when the access worked, or the signal it raised
 * (SIGSEGV, SIGBUS).
 */
static inline int acl_probe(volatile unsigned char *p, bool write)
{
	struct sigaction sa = { .sa_handler = acl_probe_handler }, old_segv, old_bus;
	volatile int sig;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &old_segv);
	sigaction(SIGBUS, &sa, &old_bus);
	sig = sigsetjmp(acl_probe_env, 1);
	if (sig == 0) {
		unsigned char v = *p;

		if (write)
			*p = v;
	}
	sigaction(SIGSEGV, &old_segv, NULL);
	sigaction(SIGBUS, &old_bus, NULL);
	return sig;
}

/* ------------------------------------------------------------------ */
/* /proc/<pid>/maps and smaps                                         */
/* ------------------------------------------------------------------ */

struct acl_vma {
	unsigned long start, end;
	char perms[8];
	char path[256];
	long rss_kb, file_pmd_kb, anon_huge_kb, shmem_pmd_kb;
	char vmflags[256];
};

static inline bool acl_smaps_header(const char *line, struct acl_vma *v)
{
	unsigned long start, end, off;
	char perms[8];
	int n = 0;

	if (sscanf(line, "%lx-%lx %7s %lx %*s %*u%n", &start, &end, perms, &off, &n) < 4 || !n)
		return false;
	memset(v, 0, sizeof(*v));
	v->start = start;
	v->end = end;
	snprintf(v->perms, sizeof(v->perms), "%s", perms);
	while (line[n] == ' ')
		n++;
	snprintf(v->path, sizeof(v->path), "%s", line + n);
	v->path[strcspn(v->path, "\n")] = '\0';
	v->rss_kb = v->file_pmd_kb = v->anon_huge_kb = v->shmem_pmd_kb = -1;
	return true;
}

/*
 * Finds the VMA of process @pid (0: self) that contains @addr.
 * Returns 1 and fills @out if there is one, 0 if @addr is not mapped,
 * -errno if smaps cannot be read.
 */
static inline int acl_find_vma(pid_t pid, const void *addr, struct acl_vma *out)
{
	unsigned long a = (unsigned long)addr;
	char path[64], *line = NULL;
	struct acl_vma cur;
	bool in = false, found = false;
	size_t cap = 0;
	FILE *f;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/smaps");
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		if (acl_smaps_header(line, &cur)) {
			if (found)
				break;
			in = cur.start <= a && a < cur.end;
			if (in) {
				*out = cur;
				found = true;
			}
			continue;
		}
		if (!in)
			continue;
		if (!strncmp(line, "VmFlags:", 8)) {
			snprintf(out->vmflags, sizeof(out->vmflags), "%s", line + 8);
			out->vmflags[strcspn(out->vmflags, "\n")] = '\0';
		} else {
			sscanf(line, "Rss: %ld kB", &out->rss_kb);
			sscanf(line, "FilePmdMapped: %ld kB", &out->file_pmd_kb);
			sscanf(line, "AnonHugePages: %ld kB", &out->anon_huge_kb);
			sscanf(line, "ShmemPmdMapped: %ld kB", &out->shmem_pmd_kb);
		}
	}
	free(line);
	fclose(f);
	return found ? 1 : 0;
}

/* @flag (two letters, e.g. "dd") is among the VmFlags of @v. */
static inline bool acl_vma_has_flag(const struct acl_vma *v, const char *flag)
{
	char buf[sizeof(v->vmflags)], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", v->vmflags);
	for (char *t = strtok_r(buf, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (!strcmp(t, flag))
			return true;
	}
	return false;
}

/* Number of VMAs of this process that map @path (e.g. ACL_MAP_PATH). */
static inline int acl_count_vmas_of(const char *path)
{
	char *line = NULL;
	size_t cap = 0;
	int n = 0;
	FILE *f = fopen("/proc/self/maps", "re");

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		struct acl_vma v;

		if (acl_smaps_header(line, &v) && !strcmp(v.path, path))
			n++;
	}
	free(line);
	fclose(f);
	return n;
}

/*
 * The value of @key in /proc/meminfo (kB) after /proc/sys/vm/stat_refresh
 * folded the per-CPU differences in (root; skipped where it cannot be
 * written), or -1.
 */
static inline long long acl_meminfo_kb(const char *key)
{
	size_t cap = 0, kl = strlen(key);
	char *line = NULL;
	long long v = -1;
	FILE *f;

	(void)acl_write_text("/proc/sys/vm/stat_refresh", "1");
	f = fopen("/proc/meminfo", "re");
	if (!f)
		return -1;
	while (getline(&line, &cap, f) > 0) {
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			if (sscanf(line + kl + 1, "%lld", &v) != 1)
				v = -1;
			break;
		}
	}
	free(line);
	fclose(f);
	return v;
}

/* ------------------------------------------------------------------ */
/* Physical pages (root: pagemap shows PFNs)                          */
/* ------------------------------------------------------------------ */

#define ACL_SZ_2M 0x200000UL

/*
 * Does this kernel map a 2 MiB chunk with one page-table entry (a PMD)?
 * Only with THP and 4 KiB pages: PREEMPT_RT has no THP, and with 16 KiB
 * pages a PMD spans 32 MiB. Elsewhere the chunks are mapped with PTEs.
 */
static inline bool acl_kernel_maps_pmd_2m(void)
{
	unsigned long long sz = 0;

	return acl_read_ull("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", &sz) == 0 &&
	       sz == ACL_SZ_2M;
}

/* The PFN mapped at @va (present), 0 if none or hidden; -errno on error. */
static inline long long acl_pfn_at(int pagemap_fd, const void *va)
{
	size_t psz = acl_page_size();
	uint64_t e = 0;

	if (pread(pagemap_fd, &e, sizeof(e), (off_t)((uintptr_t)va / psz * sizeof(e))) !=
	    (ssize_t)sizeof(e))
		return -EIO;
	if (!(e >> 63))
		return 0;
	return (long long)(e & ((1ULL << 55) - 1));
}

/*
 * Checks that the mapping [@va, @va + @size), already faulted in, is made
 * of 2 MiB chunks each physically contiguous and 2 MiB aligned. Returns 0,
 * or -1 with the first offence in @why.
 */
static inline int acl_check_2m_chunks(const void *va, size_t size, char *why, size_t len)
{
	size_t psz = acl_page_size();
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	int ret = 0;

	if (fd < 0) {
		snprintf(why, len, "open /proc/self/pagemap: %s", strerror(errno));
		return -1;
	}
	for (size_t chunk = 0; chunk < size && !ret; chunk += ACL_SZ_2M) {
		long long first = 0, pfn;

		for (size_t off = 0; off < ACL_SZ_2M; off += psz) {
			pfn = acl_pfn_at(fd, (const char *)va + chunk + off);
			if (pfn <= 0) {
				snprintf(why, len, "+%#zx: no PFN (%lld; not present, or not root)",
					 chunk + off, pfn);
				ret = -1;
				break;
			}
			if (!off)
				first = pfn;
			if (!off && first % (long long)(ACL_SZ_2M / psz)) {
				snprintf(why, len, "chunk +%#zx starts at pfn %#llx: not 2 MiB aligned",
					 chunk, first);
				ret = -1;
				break;
			}
			if (pfn != first + (long long)(off / psz)) {
				snprintf(why, len, "chunk +%#zx is not contiguous at +%#zx", chunk, off);
				ret = -1;
				break;
			}
		}
	}
	close(fd);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Library helpers (need "acl/acl.h")                                 */
/* ------------------------------------------------------------------ */
#ifdef ACL_SHIM_ACL_H

static inline aclrtPhysicalMemProp acl_prop(aclrtMemAttr attr, aclrtMemLocationType type,
					    uint32_t id)
{
	aclrtPhysicalMemProp p;

	memset(&p, 0, sizeof(p));
	p.handleType = ACL_MEM_HANDLE_TYPE_NONE;
	p.allocationType = ACL_MEM_ALLOCATION_TYPE_PINNED;
	p.memAttr = attr;
	p.location.type = type;
	p.location.id = id;
	return p;
}

/* An allocation mapped at the start of its own reservation. */
struct acl_mapping {
	aclrtDrvMemHandle handle;
	void *va;
	size_t size;
};

/*
 * ReserveMemAddress + MapMem of @size bytes of m->handle, a handle just made;
 * on failure, undoes that and frees the handle.
 */
static inline aclError acl_map_or_free(struct acl_mapping *m, size_t size)
{
	aclError e = aclrtReserveMemAddress(&m->va, size, 0, NULL, 0);

	if (!e) {
		e = aclrtMapMem(m->va, size, 0, m->handle, 0);
		if (e)
			aclrtReleaseMemAddress(m->va);
	}
	if (e) {
		aclrtFreePhysical(m->handle);
		return e;
	}
	m->size = size;
	return ACL_SUCCESS;
}

/* MallocPhysical + ReserveMemAddress + MapMem; undoes what it did on failure. */
static inline aclError acl_map_new(struct acl_mapping *m, size_t size, aclrtMemAttr attr,
				   aclrtMemLocationType type, uint32_t id)
{
	aclrtPhysicalMemProp prop = acl_prop(attr, type, id);
	aclError e;

	memset(m, 0, sizeof(*m));
	e = aclrtMallocPhysical(&m->handle, size, &prop, 0);
	return e ? e : acl_map_or_free(m, size);
}

/* UnmapMem + ReleaseMemAddress + FreePhysical; returns the first error. */
static inline aclError acl_map_delete(struct acl_mapping *m)
{
	aclError e1 = aclrtUnmapMem(m->va);
	aclError e2 = aclrtReleaseMemAddress(m->va);
	aclError e3 = aclrtFreePhysical(m->handle);

	return e1 ? e1 : e2 ? e2 : e3;
}

/*
 * @msg names one of the '|'-separated words of @what (case-insensitive).
 * Several words are allowed where the failing check involves more than one
 * parameter (a range is virPtr and size).
 */
static inline bool acl_msg_names(const char *msg, const char *what)
{
	char buf[128], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", what);
	for (char *w = strtok_r(buf, "|", &save); w; w = strtok_r(NULL, "|", &save)) {
		if (strcasestr(msg, w))
			return true;
	}
	return false;
}

/*
 * @call returns @code; if that is a failure, aclGetRecentErrMsg() is
 * non-NULL and names @what (the failing parameter, as spelled in the
 * header).
 */
#define EXPECT_ACL(code, call, what)                                              \
	do {                                                                      \
		aclError __e = (call);                                            \
		EXPECT_EQ((aclError)(code), __e) TH_LOG("%s: %s", #call,          \
			aclGetRecentErrMsg() ? aclGetRecentErrMsg() : "(no message)"); \
		if (__e != ACL_SUCCESS && __e == (aclError)(code)) {              \
			const char *__m = aclGetRecentErrMsg();                   \
			EXPECT_NE(NULL, __m) TH_LOG("no message after %s", #call); \
			if (__m) {                                                \
				EXPECT_TRUE(acl_msg_names(__m, (what)))            \
					TH_LOG("message after %s does not name '%s': \"%s\"", \
					       #call, (what), __m);               \
			}                                                         \
		}                                                                 \
	} while (0)

#define ASSERT_ACL_OK(call) ASSERT_EQ(ACL_SUCCESS, (call)) TH_LOG("%s: %s", #call, \
	aclGetRecentErrMsg() ? aclGetRecentErrMsg() : "(no message)")
#define EXPECT_ACL_OK(call) EXPECT_EQ(ACL_SUCCESS, (call)) TH_LOG("%s: %s", #call, \
	aclGetRecentErrMsg() ? aclGetRecentErrMsg() : "(no message)")

#endif /* ACL_SHIM_ACL_H */

/* ------------------------------------------------------------------ */
/* Raw ioctl helpers (need <linux/acl_share.h>)                       */
/* ------------------------------------------------------------------ */
#ifdef _UAPI_LINUX_ACL_SHARE_H

/* ioctl() that returns 0 or -errno. */
static inline int acl_ioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) ? -errno : 0;
}

static inline int acl_raw_alloc(int fd, uint64_t length, uint32_t attr, uint32_t loc_type,
				uint32_t loc_id, uint32_t *handle, uint64_t *mmap_offset)
{
	struct acl_share_alloc a = {
		.size = sizeof(a),
		.length = length,
		.mem_attr = attr,
		.location_type = loc_type,
		.location_id = loc_id,
	};
	int ret = acl_ioctl(fd, ACL_SHARE_IOC_ALLOC, &a);

	if (!ret) {
		*handle = a.out_handle;
		if (mmap_offset)
			*mmap_offset = a.out_mmap_offset;
	}
	return ret;
}

static inline int acl_raw_free(int fd, uint32_t handle)
{
	struct acl_share_free f = { .size = sizeof(f), .handle = handle };

	return acl_ioctl(fd, ACL_SHARE_IOC_FREE, &f);
}

static inline int acl_raw_query(int fd, uint32_t handle, struct acl_share_query *q)
{
	memset(q, 0, sizeof(*q));
	q->size = sizeof(*q);
	q->handle = handle;
	return acl_ioctl(fd, ACL_SHARE_IOC_QUERY, q);
}

static inline int acl_raw_info(int fd, struct acl_share_info *i)
{
	memset(i, 0, sizeof(*i));
	i->size = sizeof(*i);
	return acl_ioctl(fd, ACL_SHARE_IOC_INFO, i);
}

#endif /* _UAPI_LINUX_ACL_SHARE_H */

#endif /* ACL_TEST_UTIL_H */
