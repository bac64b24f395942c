// SPDX-License-Identifier: MIT
/*
 * acl-share-stat - the acl_share module's counters, readable.
 *
 * Prints the aggregate counters of /sys/class/misc/acl_share/stats/ (kmod/stats.c) as a
 * table or as JSON, refreshes them like vmstat (--watch), and, as root, lists each
 * process's handles, exports, imports and bytes from the debugfs file
 * /sys/kernel/debug/acl_share/clients (kmod/clients.c). It needs neither libacl-shim
 * nor /dev/acl_share: it only reads those files, so it never changes what it shows
 * (it opens no handle, no file of the device). docs/acl-share-stat.md has examples.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#ifndef ACL_SHARE_VERSION
#define ACL_SHARE_VERSION "unknown"
#endif

#define PROG "acl-share-stat"
#define MISC_DIR "/sys/class/misc/acl_share"
#define STATS_DIR MISC_DIR "/stats"
#define DEBUGFS_DIR "/sys/kernel/debug"
#define CLIENTS_PATH DEBUGFS_DIR "/acl_share/clients"
#define DEBUGFS_MAGIC_NR 0x64626720 /* DEBUGFS_MAGIC of <linux/magic.h> */

/* Exit statuses (also in --help and docs/acl-share-stat.md). */
#define EXIT_OK 0
#define EXIT_ERROR 1		/* a file could not be read or parsed, or stdout failed */
#define EXIT_USAGE 2		/* bad command line, or the module is not loaded */
#define EXIT_NOT_LOADED 2
#define EXIT_NO_DETAIL 3	/* --processes: the debugfs detail is not accessible */

/* The comm of a task is at most TASK_COMM_LEN - 1 bytes. */
#define COMM_MAX 15
/* Upper bound on what is read from the clients file (about 40 bytes a line). */
#define CLIENTS_MAX_BYTES (64UL << 20)
/* The --watch interval: at most a day. */
#define WATCH_MAX_NS (86400LL * 1000000000LL)

/* The live counters, in the order of the table; peak: its peak_* file or NULL. */
enum { C_OPENS, C_HANDLES, C_ALLOCATIONS, C_BYTES, C_MAPPINGS, C_EXPORTS, C_IMPORTS, C_NR };

static const struct {
	const char *name;
	const char *peak;
} counters[C_NR] = {
	[C_OPENS] = { "opens", NULL },
	[C_HANDLES] = { "handles", NULL },
	[C_ALLOCATIONS] = { "allocations", "peak_allocations" },
	[C_BYTES] = { "allocated_bytes", "peak_allocated_bytes" },
	[C_MAPPINGS] = { "mappings", "peak_mappings" },
	[C_EXPORTS] = { "exports", "peak_exports" },
	[C_IMPORTS] = { "imports", "peak_imports" },
};

struct snapshot {
	long long cur[C_NR];
	long long peak[C_NR];	/* where counters[].peak */
};

/* One process: the lines of the clients file with its tgid, summed. */
struct proc_row {
	unsigned long long pid;
	char comm[COMM_MAX + 1];
	unsigned long long files, handles, exports, imports, bytes;
};

struct procs {
	struct proc_row *rows;
	size_t nr, cap;
};

static void vmsg(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

static void vmsg(const char *fmt, va_list ap)
{
	fputs(PROG ": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

static void msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
}

static void usage_lines(FILE *f)
{
	fputs("usage: " PROG " [--json] [--processes]\n"
	      "       " PROG " --watch [SECONDS] [--count N] [--json]\n"
	      "       " PROG " --help | --version\n", f);
}

/* A bad command line: says why, shows the usage, exit status 2. */
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	usage_lines(stderr);
	fputs("Try '" PROG " --help' for more information.\n", stderr);
	return EXIT_USAGE;
}

static void help(void)
{
	usage_lines(stdout);
	fputs("\n"
	      "Shows the counters of the acl_share kernel module (" STATS_DIR "/).\n"
	      "\n"
	      "  (no option)        one table: each counter, its current value and its peak\n"
	      "                     (allocations, allocated_bytes, mappings, exports and imports\n"
	      "                     have peaks; opens and handles do not)\n"
	      "  -j, --json         one JSON object instead: {\"opens\":N,...,\"peak_imports\":N}\n"
	      "  -p, --processes    also each process that has /dev/acl_share open: its open\n"
	      "                     files, handles, exports, imports and allocated bytes, from\n"
	      "                     " CLIENTS_PATH " (root only; debugfs\n"
	      "                     must be mounted); with --json, a \"processes\" array\n"
	      "  -w, --watch [SECONDS]\n"
	      "                     a header line, then one line of the current values every\n"
	      "                     SECONDS (default 1; fractions allowed, e.g. 0.5), like\n"
	      "                     vmstat, until interrupted (SIGINT/SIGTERM end it with\n"
	      "                     status 0); with --json, one JSON object per line, no header\n"
	      "  -c, --count N      with --watch: stop after N lines of values\n"
	      "  -h, --help         this text\n"
	      "  -V, --version      the version\n"
	      "\n"
	      "The values are read one file at a time: a snapshot is not atomic.\n"
	      "\n"
	      "Exit status:\n"
	      "  0  success\n"
	      "  1  a counter or the clients file could not be read or parsed, or output failed\n"
	      "  2  bad command line, or the acl_share module is not loaded\n"
	      "  3  --processes: the per-process detail is not accessible (not root, debugfs\n"
	      "     not mounted, or no " CLIENTS_PATH ")\n", stdout);
}

static bool module_loaded(void)
{
	struct stat st;

	return stat(MISC_DIR, &st) == 0;
}

static int not_loaded(void)
{
	msg("the acl_share module is not loaded (no " MISC_DIR "); load it with: modprobe acl_share");
	return EXIT_NOT_LOADED;
}

/*
 * Reads all of @path into @buf (@len bytes, NUL-terminated: at most @len - 1 bytes of
 * data); 0, -EFBIG if it does not fit, or -errno.
 */
static int read_small(const char *path, char *buf, size_t len, size_t *out_len)
{
	size_t used = 0;
	int fd, e;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n;

		if (used == len - 1) {
			char c;

			/* Full: is there more? */
			n = read(fd, &c, 1);
			if (n < 0 && errno == EINTR)
				continue;
			e = n > 0 ? -EFBIG : n < 0 ? -errno : 0;
			break;
		}
		n = read(fd, buf + used, len - 1 - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			e = n < 0 ? -errno : 0;
			break;
		}
		used += (size_t)n;
	}
	close(fd);
	buf[used] = '\0';
	if (out_len)
		*out_len = used;
	return e;
}

/* One counter file: "%lld\n" and nothing else; 0 or -errno (-EINVAL: bad format). */
static int read_counter(const char *name, long long *out)
{
	char path[256], buf[64], *end;
	size_t n;
	int ret;

	ret = snprintf(path, sizeof(path), STATS_DIR "/%s", name);
	if (ret < 0 || (size_t)ret >= sizeof(path))
		return -ENAMETOOLONG;
	ret = read_small(path, buf, sizeof(buf), &n);
	if (ret)
		return ret;
	if (n < 2 || buf[n - 1] != '\n' || !(buf[0] == '-' || (buf[0] >= '0' && buf[0] <= '9')))
		return -EINVAL;
	errno = 0;
	*out = strtoll(buf, &end, 10);
	if (errno || end != buf + n - 1)
		return -EINVAL;
	return 0;
}

/* Reads every counter; an exit status (0 on success), the reason printed. */
static int read_snapshot(struct snapshot *s)
{
	if (!module_loaded())
		return not_loaded();
	for (int i = 0; i < C_NR; i++) {
		for (int peak = 0; peak < 2; peak++) {
			const char *name = peak ? counters[i].peak : counters[i].name;
			int ret;

			if (!name)
				continue;
			ret = read_counter(name, peak ? &s->peak[i] : &s->cur[i]);
			if (!ret)
				continue;
			/* Unloaded while we read? */
			if (!module_loaded())
				return not_loaded();
			if (ret == -EINVAL || ret == -EFBIG)
				msg("%s/%s: not one decimal number and a newline", STATS_DIR, name);
			else
				msg("cannot read %s/%s: %s", STATS_DIR, name, strerror(-ret));
			return EXIT_ERROR;
		}
	}
	return EXIT_OK;
}

/* "4 MiB", "1.5 GiB", "512 B": @v bytes for a reader. */
static const char *human_bytes(char *buf, size_t len, long long v)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	unsigned long long u = v < 0 ? 0 : (unsigned long long)v, div = 1;
	unsigned int k = 0;
	int ret;

	while (k + 1 < sizeof(units) / sizeof(units[0]) && u / div >= 1024) {
		div <<= 10;
		k++;
	}
	if (v < 0)
		ret = snprintf(buf, len, "%lld B", v);
	else if (u % div == 0)
		ret = snprintf(buf, len, "%llu %s", u / div, units[k]);
	else
		ret = snprintf(buf, len, "%.1f %s", (double)u / (double)div, units[k]);
	if (ret < 0 || (size_t)ret >= len)
		snprintf(buf, len, "?");
	return buf;
}

/* ------------------------------------------------------------------ */
/* The per-process detail                                             */
/* ------------------------------------------------------------------ */

static const char clients_header[] = "tgid\tcomm\thandles\texports\timports\tallocated_bytes\n";

/* Parses a decimal at text[*pos] (at least one digit, no overflow); true on success. */
static bool parse_ull(const char *text, size_t n, size_t *pos, unsigned long long *out)
{
	unsigned long long v = 0;
	size_t p = *pos;

	if (p >= n || text[p] < '0' || text[p] > '9')
		return false;
	for (; p < n && text[p] >= '0' && text[p] <= '9'; p++) {
		unsigned int d = (unsigned int)(text[p] - '0');

		if (v > (ULLONG_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*pos = p;
	*out = v;
	return true;
}

/*
 * "\tH\tE\tI\tB\n" at text[p]: the four numbers after the comm of a line. On success
 * stores them and the position after the newline in *end.
 */
static bool parse_tail(const char *text, size_t n, size_t p, unsigned long long v[4],
		       size_t *end)
{
	for (int i = 0; i < 4; i++) {
		if (p >= n || text[p] != '\t')
			return false;
		p++;
		if (!parse_ull(text, n, &p, &v[i]))
			return false;
	}
	if (p >= n || text[p] != '\n')
		return false;
	*end = p + 1;
	return true;
}

static bool is_octal(char c)
{
	return c >= '0' && c <= '7';
}

/*
 * The comm at text[*pos]: everything up to the next tab, with the kernel's octal
 * escapes (seq_escape: a backslash and three octal digits) undone. It must hold no
 * newline, no backslash but in an escape, no escaped NUL, and at most COMM_MAX bytes
 * once unescaped. On success stores it in @comm (NUL-terminated) and the position of
 * the tab in *pos.
 */
static bool parse_comm(const char *text, size_t n, size_t *pos, char comm[COMM_MAX + 1])
{
	size_t p = *pos, len = 0;

	for (; p < n && text[p] != '\t'; p++) {
		unsigned int c = (unsigned char)text[p];

		if (c == '\n' || c == '\0')
			return false;
		if (c == '\\') {
			if (n - p < 4 || !is_octal(text[p + 1]) || !is_octal(text[p + 2]) ||
			    !is_octal(text[p + 3]))
				return false;
			c = (unsigned int)(text[p + 1] - '0') << 6 |
			    (unsigned int)(text[p + 2] - '0') << 3 | (unsigned int)(text[p + 3] - '0');
			if (c == 0 || c > 0xff)
				return false;
			p += 3;
		}
		if (len == COMM_MAX)
			return false;
		comm[len++] = (char)c;
	}
	if (p >= n)
		return false;
	comm[len] = '\0';
	*pos = p;
	return true;
}

static int cmp_pid(const void *a, const void *b)
{
	const struct proc_row *x = a, *y = b;

	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/*
 * Parses the clients file (kmod/clients.c): a header line, then per open file of
 * /dev/acl_share "tgid\tcomm\thandles\texports\timports\tallocated_bytes\n". The comm
 * is a task's name, up to 15 bytes of anything but NUL; the module prints its tabs,
 * newlines and backslashes as octal escapes (\ooo), so that a raw tab ends the field
 * and a raw newline the line, whatever name a process gave itself (PR_SET_NAME). The
 * escapes are undone; a raw newline or a malformed escape in the comm, or a comm longer
 * than 15 bytes unescaped, is a format error. The lines of one tgid are summed; the
 * rows are sorted by tgid. Returns 0, -ENOMEM or -EINVAL (@line: the record).
 */
static int parse_clients(const char *text, size_t n, struct procs *out, size_t *line)
{
	size_t hdr = sizeof(clients_header) - 1, pos = hdr, w = 0;

	*line = 1;
	if (n < hdr || memcmp(text, clients_header, hdr))
		return -EINVAL;
	while (pos < n) {
		unsigned long long pid, v[4] = { 0 };
		char comm[COMM_MAX + 1];
		struct proc_row *r;

		(*line)++;
		if (!parse_ull(text, n, &pos, &pid) || pos >= n || text[pos] != '\t')
			return -EINVAL;
		pos++;
		if (!parse_comm(text, n, &pos, comm) || !parse_tail(text, n, pos, v, &pos))
			return -EINVAL;
		if (out->nr == out->cap) {
			size_t cap = out->cap ? out->cap * 2 : 16;
			struct proc_row *rows = realloc(out->rows, cap * sizeof(*rows));

			if (!rows)
				return -ENOMEM;
			out->rows = rows;
			out->cap = cap;
		}
		r = &out->rows[out->nr++];
		memset(r, 0, sizeof(*r));
		r->pid = pid;
		memcpy(r->comm, comm, sizeof(comm));
		r->files = 1;
		r->handles = v[0];
		r->exports = v[1];
		r->imports = v[2];
		r->bytes = v[3];
	}
	if (!out->nr)
		return 0;
	/* One row per process. */
	qsort(out->rows, out->nr, sizeof(*out->rows), cmp_pid);
	for (size_t i = 1; i < out->nr; i++) {
		struct proc_row *a = &out->rows[w], *b = &out->rows[i];

		if (a->pid == b->pid) {
			a->files += b->files;
			a->handles += b->handles;
			a->exports += b->exports;
			a->imports += b->imports;
			a->bytes += b->bytes;
		} else {
			out->rows[++w] = *b;
		}
	}
	out->nr = w + 1;
	return 0;
}

/* Reads and parses the clients file; an exit status, the reason printed. */
static int read_procs(struct procs *out)
{
	size_t len = 64 << 10, n = 0, line = 0;
	char *buf = NULL;
	struct statfs sfs;
	int ret;

	for (;;) {
		char *b = realloc(buf, len);

		if (!b) {
			free(buf);
			msg("out of memory reading " CLIENTS_PATH);
			return EXIT_ERROR;
		}
		buf = b;
		ret = read_small(CLIENTS_PATH, buf, len, &n);
		if (ret != -EFBIG || len >= CLIENTS_MAX_BYTES)
			break;
		len *= 4;
	}
	if (ret) {
		bool root = geteuid() == 0;

		free(buf);
		if (ret == -EFBIG) {
			msg(CLIENTS_PATH " is larger than %lu MiB; not reading it",
			    CLIENTS_MAX_BYTES >> 20);
			return EXIT_ERROR;
		}
		if (!module_loaded())
			return not_loaded();
		if (ret == -EACCES || ret == -EPERM) {
			if (!root)
				msg("--processes needs root: the per-process detail (" CLIENTS_PATH
				    ") is readable by root only; the aggregate counters need no privilege "
				    "(run without --processes)");
			else
				msg("--processes: cannot read " CLIENTS_PATH ": %s (is debugfs "
				    "restricted, e.g. by kernel lockdown?)", strerror(-ret));
			return EXIT_NO_DETAIL;
		}
		if (ret == -ENOENT) {
			if (statfs(DEBUGFS_DIR, &sfs) || sfs.f_type != DEBUGFS_MAGIC_NR) {
				msg("--processes: debugfs is not mounted on " DEBUGFS_DIR
				    "; mount it with: mount -t debugfs none " DEBUGFS_DIR "%s",
				    root ? "" : " (as root; --processes needs root too)");
				return EXIT_NO_DETAIL;
			}
			msg("--processes: the module has no per-process detail: " CLIENTS_PATH
			    " does not exist although debugfs is mounted (kernel without "
			    "CONFIG_DEBUG_FS?)");
			return EXIT_NO_DETAIL;
		}
		msg("--processes: cannot read " CLIENTS_PATH ": %s", strerror(-ret));
		return EXIT_NO_DETAIL;
	}
	ret = parse_clients(buf, n, out, &line);
	free(buf);
	if (ret == -ENOMEM) {
		msg("out of memory parsing " CLIENTS_PATH);
		return EXIT_ERROR;
	}
	if (ret) {
		msg(CLIENTS_PATH ": unexpected format at record %zu (a module of another version?)",
		    line);
		return EXIT_ERROR;
	}
	return EXIT_OK;
}

/* ------------------------------------------------------------------ */
/* Output                                                             */
/* ------------------------------------------------------------------ */

/* @comm for a terminal: printable ASCII as is (backslash doubled), the rest as \xNN. */
static const char *comm_text(char *buf, size_t len, const char *comm)
{
	size_t o = 0;

	for (const unsigned char *c = (const unsigned char *)comm; *c && o + 5 <= len; c++) {
		if (*c == '\\') {
			buf[o++] = '\\';
			buf[o++] = '\\';
		} else if (*c >= 0x20 && *c < 0x7f) {
			buf[o++] = (char)*c;
		} else {
			snprintf(buf + o, len - o, "\\x%02x", *c);
			o += 4;
		}
	}
	buf[o] = '\0';
	return buf;
}

/* @comm as a JSON string body (ASCII only: other bytes as \u00NN). */
static const char *comm_json(char *buf, size_t len, const char *comm)
{
	size_t o = 0;

	for (const unsigned char *c = (const unsigned char *)comm; *c && o + 7 <= len; c++) {
		if (*c == '"' || *c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)*c;
		} else if (*c >= 0x20 && *c < 0x7f) {
			buf[o++] = (char)*c;
		} else {
			snprintf(buf + o, len - o, "\\u%04x", *c);
			o += 6;
		}
	}
	buf[o] = '\0';
	return buf;
}

static void print_table(const struct snapshot *s)
{
	printf("%-16s %16s %16s\n", "counter", "current", "peak");
	for (int i = 0; i < C_NR; i++) {
		char peak[32] = "-";

		if (counters[i].peak)
			snprintf(peak, sizeof(peak), "%lld", s->peak[i]);
		printf("%-16s %16lld %16s", counters[i].name, s->cur[i], peak);
		if (i == C_BYTES) {
			char a[32], b[32];

			printf("   (%s, peak %s)", human_bytes(a, sizeof(a), s->cur[i]),
			       human_bytes(b, sizeof(b), s->peak[i]));
		}
		putchar('\n');
	}
}

static void print_procs_table(const struct procs *p)
{
	printf("\n%8s  %-16s %6s %8s %8s %8s %16s\n", "pid", "comm", "files", "handles",
	       "exports", "imports", "allocated_bytes");
	for (size_t i = 0; i < p->nr; i++) {
		const struct proc_row *r = &p->rows[i];
		char comm[COMM_MAX * 4 + 8];

		printf("%8llu  %-16s %6llu %8llu %8llu %8llu %16llu\n", r->pid,
		       comm_text(comm, sizeof(comm), r->comm), r->files, r->handles, r->exports,
		       r->imports, r->bytes);
	}
	if (!p->nr)
		printf("(no process has /dev/acl_share open)\n");
}

/* Counters as JSON members, without braces. */
static void print_json_counters(const struct snapshot *s)
{
	const char *sep = "";

	for (int i = 0; i < C_NR; i++) {
		printf("%s\"%s\":%lld", sep, counters[i].name, s->cur[i]);
		sep = ",";
	}
	for (int i = 0; i < C_NR; i++) {
		if (counters[i].peak)
			printf(",\"%s\":%lld", counters[i].peak, s->peak[i]);
	}
}

static void print_json(const struct snapshot *s, const struct procs *p)
{
	putchar('{');
	print_json_counters(s);
	if (p) {
		printf(",\"processes\":[");
		for (size_t i = 0; i < p->nr; i++) {
			const struct proc_row *r = &p->rows[i];
			char comm[COMM_MAX * 6 + 8];

			printf("%s{\"pid\":%llu,\"comm\":\"%s\",\"files\":%llu,\"handles\":%llu,"
			       "\"exports\":%llu,\"imports\":%llu,\"allocated_bytes\":%llu}",
			       i ? "," : "", r->pid, comm_json(comm, sizeof(comm), r->comm),
			       r->files, r->handles, r->exports, r->imports, r->bytes);
		}
		putchar(']');
	}
	printf("}\n");
}

/* Flushes stdout; an exit status. */
static int flush_out(void)
{
	if (fflush(stdout) || ferror(stdout)) {
		msg("cannot write the output: %s", strerror(errno));
		return EXIT_ERROR;
	}
	return EXIT_OK;
}

/* ------------------------------------------------------------------ */
/* --watch                                                            */
/* ------------------------------------------------------------------ */

static volatile sig_atomic_t stop_watch;

static void on_signal(int sig)
{
	(void)sig;
	stop_watch = 1;
}

static void print_watch_header(void)
{
	printf("%8s %8s %12s %16s %9s %8s %8s\n", counters[C_OPENS].name,
	       counters[C_HANDLES].name, counters[C_ALLOCATIONS].name, counters[C_BYTES].name,
	       counters[C_MAPPINGS].name, counters[C_EXPORTS].name, counters[C_IMPORTS].name);
}

static void print_watch_line(const struct snapshot *s)
{
	printf("%8lld %8lld %12lld %16lld %9lld %8lld %8lld\n", s->cur[C_OPENS],
	       s->cur[C_HANDLES], s->cur[C_ALLOCATIONS], s->cur[C_BYTES], s->cur[C_MAPPINGS],
	       s->cur[C_EXPORTS], s->cur[C_IMPORTS]);
}

/* Adds @ns to @t. */
static void ts_add(struct timespec *t, long long ns)
{
	t->tv_sec += (time_t)(ns / 1000000000LL);
	t->tv_nsec += (long)(ns % 1000000000LL);
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

/*
 * Sleeps until @deadline (CLOCK_MONOTONIC) or until SIGINT or SIGTERM came. Those two
 * are blocked outside this sleep and unblocked (@sleep_mask) only here: one that came
 * while a line was read or printed is pending, and is delivered at once, instead of
 * after one more interval (or never, while the lines lag behind their deadlines);
 * ppoll() unblocks them atomically, so none is missed while it sleeps.
 */
static void sleep_until(const struct timespec *deadline, const sigset_t *sleep_mask)
{
	sigset_t blocked;

	/* A pending one is delivered before sigprocmask() returns. */
	sigprocmask(SIG_SETMASK, sleep_mask, &blocked);
	sigprocmask(SIG_SETMASK, &blocked, NULL);
	while (!stop_watch) {
		struct timespec now, rem;

		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > deadline->tv_sec ||
		    (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec))
			return;
		rem.tv_sec = deadline->tv_sec - now.tv_sec;
		rem.tv_nsec = deadline->tv_nsec - now.tv_nsec;
		if (rem.tv_nsec < 0) {
			rem.tv_sec--;
			rem.tv_nsec += 1000000000L;
		}
		ppoll(NULL, 0, &rem, sleep_mask);	/* 0 at the deadline, EINTR on a signal */
	}
}

static int watch(long long interval_ns, unsigned long long count, bool json)
{
	sigset_t stop_sigs, sleep_mask;
	struct sigaction sa;
	struct timespec next;
	int ret;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/*
	 * SA_RESTART: should a signal reach a write to stdout (which it cannot while it
	 * is blocked, see sleep_until()), the write is restarted, not failed with EINTR
	 * (stdio would report an error). ppoll() is never restarted: a handler ends it.
	 */
	sa.sa_flags = SA_RESTART;
	sigemptyset(&stop_sigs);
	sigaddset(&stop_sigs, SIGINT);
	sigaddset(&stop_sigs, SIGTERM);
	if (sigaction(SIGINT, &sa, NULL) || sigaction(SIGTERM, &sa, NULL) ||
	    sigprocmask(SIG_BLOCK, &stop_sigs, &sleep_mask)) {
		msg("signals: %s", strerror(errno));
		return EXIT_ERROR;
	}
	sigdelset(&sleep_mask, SIGINT);
	sigdelset(&sleep_mask, SIGTERM);
	if (!module_loaded())
		return not_loaded();
	if (!json)
		print_watch_header();
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (unsigned long long i = 0; !count || i < count; i++) {
		struct snapshot s;

		if (i) {
			/* Absolute deadlines: the lines do not drift. */
			ts_add(&next, interval_ns);
			sleep_until(&next, &sleep_mask);
		}
		if (stop_watch)
			break;
		ret = read_snapshot(&s);
		if (ret)
			return ret;
		if (json) {
			putchar('{');
			print_json_counters(&s);
			printf("}\n");
		} else {
			print_watch_line(&s);
		}
		ret = flush_out();
		if (ret)
			return ret;
	}
	return EXIT_OK;
}

/* ------------------------------------------------------------------ */
/* Command line                                                       */
/* ------------------------------------------------------------------ */

/* "SECONDS[.FRACTION]" > 0 and at most a day, in ns; false if not. */
static bool parse_seconds(const char *s, long long *ns)
{
	long long sec = 0, frac = 0, scale = 100000000LL;
	const char *p = s;
	bool digits = false;

	for (; *p >= '0' && *p <= '9'; p++) {
		sec = sec * 10 + (*p - '0');
		digits = true;
		if (sec > WATCH_MAX_NS / 1000000000LL)
			return false;
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			frac += (*p - '0') * scale;
			scale /= 10;
			digits = true;
			if (!scale && p[1] >= '0' && p[1] <= '9')
				return false;	/* finer than a nanosecond */
		}
	}
	if (!digits || *p)
		return false;
	*ns = sec * 1000000000LL + frac;
	return *ns > 0 && *ns <= WATCH_MAX_NS;
}

/* A positive decimal count; false if not. */
static bool parse_count(const char *s, unsigned long long *out)
{
	size_t pos = 0, n = strlen(s);

	return parse_ull(s, n, &pos, out) && pos == n && *out > 0;
}

int main(int argc, char **argv)
{
	bool json = false, procs_wanted = false, watching = false, count_given = false;
	unsigned long long count = 0;
	long long interval_ns = 1000000000LL;
	struct procs procs = { 0 };
	struct snapshot snap;
	int ret;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *eq = NULL, *val = NULL;
		char name[32];
		size_t len = strlen(arg);

		if (!strncmp(arg, "--", 2) && (eq = strchr(arg, '='))) {
			len = (size_t)(eq - arg);
			val = eq + 1;
		}
		if (len >= sizeof(name))
			return usage_error("unknown option '%s'", arg);
		memcpy(name, arg, len);
		name[len] = '\0';

		if (!strcmp(name, "-h") || !strcmp(name, "--help")) {
			if (val)
				return usage_error("%s takes no value", name);
			help();
			return flush_out();
		} else if (!strcmp(name, "-V") || !strcmp(name, "--version")) {
			if (val)
				return usage_error("%s takes no value", name);
			printf(PROG " " ACL_SHARE_VERSION "\n");
			return flush_out();
		} else if (!strcmp(name, "-j") || !strcmp(name, "--json")) {
			if (val)
				return usage_error("%s takes no value", name);
			json = true;
		} else if (!strcmp(name, "-p") || !strcmp(name, "--processes")) {
			if (val)
				return usage_error("%s takes no value", name);
			procs_wanted = true;
		} else if (!strcmp(name, "-w") || !strcmp(name, "--watch")) {
			watching = true;
			/* The value is optional: the next word if it looks like a number. */
			if (!val && i + 1 < argc &&
			    ((argv[i + 1][0] >= '0' && argv[i + 1][0] <= '9') || argv[i + 1][0] == '.'))
				val = argv[++i];
			if (val && !parse_seconds(val, &interval_ns))
				return usage_error("bad number of seconds for %s: '%s' (want a number "
						   "above 0, at most 86400, e.g. 2 or 0.5)", name, val);
		} else if (!strcmp(name, "-c") || !strcmp(name, "--count")) {
			if (!val) {
				if (i + 1 >= argc)
					return usage_error("%s needs a number", name);
				val = argv[++i];
			}
			if (!parse_count(val, &count))
				return usage_error("bad count for %s: '%s' (want a whole number above 0)",
						   name, val);
			count_given = true;
		} else if (arg[0] == '-') {
			return usage_error("unknown option '%s'", arg);
		} else {
			return usage_error("unexpected argument '%s'", arg);
		}
	}
	if (count_given && !watching)
		return usage_error("--count needs --watch");
	if (watching && procs_wanted)
		return usage_error("--processes cannot be combined with --watch");

	if (watching)
		return watch(interval_ns, count, json);

	ret = read_snapshot(&snap);
	if (ret)
		return ret;
	if (procs_wanted) {
		ret = read_procs(&procs);
		if (ret) {
			free(procs.rows);
			return ret;
		}
	}
	if (json) {
		print_json(&snap, procs_wanted ? &procs : NULL);
	} else {
		print_table(&snap);
		if (procs_wanted)
			print_procs_table(&procs);
	}
	free(procs.rows);
	return flush_out();
}
