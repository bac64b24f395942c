// SPDX-License-Identifier: GPL-2.0
/*
 * stat_test - acl-share-stat (tools/acl-share-stat.c) shows what the module counts.
 *
 * A workload of known shape (three allocations of 2, 4 and 6 MiB, the first mapped
 * and exported, the second exported too, a forked child importing and mapping the
 * first) runs while the tool is executed; its JSON, its table, its per-process detail
 * and its --watch lines are parsed and checked against the sysfs counters and against
 * the workload's deltas. --watch ends with status 0 on SIGINT, at once, also when the
 * signal comes while it writes; a process whose name holds tabs and a newline cannot
 * forge a record of --processes. Then the failures: a bad command line (exit 2),
 * --processes as nobody or without debugfs mounted (exit 3, with the reason), and the
 * module not loaded (exit 2 and "modprobe acl_share"; the module is unloaded and loaded
 * again with the parameters it had, as rmmod_test does).
 *
 * The tool is /bin/acl-share-stat in the VM (run-in-vm.sh --bin), or $ACL_SHARE_STAT.
 */
#include <ctype.h>
#include <grp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <time.h>

#include "acl/acl.h"
#include "acl_test_util.h"
#include "module_util.h"
#include "share_util.h"

#define STAT_TOOL_DEFAULT "/bin/acl-share-stat"
#define NOBODY 65534

/* The workload: allocation i is (i + 1) * 2 MiB. */
#define NR_ALLOCS 3
#define WORK_BYTES (6 * SZ_2M)

static const char *stat_tool(void)
{
	const char *env = getenv("ACL_SHARE_STAT");

	return env && *env ? env : STAT_TOOL_DEFAULT;
}

/* ------------------------------------------------------------------ */
/* Running the tool                                                   */
/* ------------------------------------------------------------------ */

#define RUN_AS_NOBODY 0x1	/* setuid(65534) before exec */
#define RUN_NO_DEBUGFS 0x2	/* in a mount namespace without /sys/kernel/debug */
#define RUN_SIGINT_AFTER_2_LINES 0x4	/* sigint_ms counts from the 2nd line of stdout */

struct run {
	int status;		/* wait status; -1 if the run failed */
	char out[1 << 16];
	size_t out_len;
	char err[1 << 12];
	size_t err_len;
	double secs;		/* how long it ran */
	double after_sigint;	/* how long it ran after the SIGINT; -1 if none was sent */
};

static double now_secs(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Counts the lines of @s. */
static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* In the child: set up as @flags asks and exec the tool with @args. */
static void __attribute__((noreturn)) run_child(int out_fd, int err_fd, unsigned int flags,
						 char *const argv[])
{
	if (dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
		_exit(126);
	if (flags & RUN_NO_DEBUGFS) {
		if (unshare(CLONE_NEWNS) ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		    umount2("/sys/kernel/debug", MNT_DETACH)) {
			fprintf(stderr, "stat_test child: cannot hide debugfs: %s\n", strerror(errno));
			_exit(126);
		}
	}
	if (flags & RUN_AS_NOBODY) {
		if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY)) {
			fprintf(stderr, "stat_test child: cannot become nobody: %s\n", strerror(errno));
			_exit(126);
		}
	}
	execv(argv[0], argv);
	fprintf(stderr, "stat_test child: exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/*
 * Runs the tool with the NULL-terminated arguments @args and collects its stdout and
 * stderr (NUL-terminated). With @sigint_ms > 0 it gets SIGINT after that long (with
 * RUN_SIGINT_AFTER_2_LINES: that long after its stdout has two lines). A run that
 * takes more than 20 s is killed. Returns 0, or -1 if it could not be run.
 */
static int run_stat(struct run *r, unsigned int flags, int sigint_ms, const char *const *args)
{
	char *argv[16];
	int out[2], err[2], n = 0;
	double start, deadline, sigint_at = -1, sent_at = -1;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	r->status = -1;
	r->after_sigint = -1;
	argv[n++] = (char *)stat_tool();
	for (; *args && n < 15; args++)
		argv[n++] = (char *)*args;
	argv[n] = NULL;
	if (pipe2(out, O_CLOEXEC))
		return -1;
	if (pipe2(err, O_CLOEXEC)) {
		close(out[0]);
		close(out[1]);
		return -1;
	}
	fflush(stdout);
	fflush(stderr);
	start = now_secs();
	deadline = start + 20;
	if (sigint_ms > 0 && !(flags & RUN_SIGINT_AFTER_2_LINES))
		sigint_at = start + sigint_ms / 1000.0;
	pid = fork();
	if (pid < 0) {
		close(out[0]);
		close(out[1]);
		close(err[0]);
		close(err[1]);
		return -1;
	}
	if (pid == 0)
		run_child(out[1], err[1], flags, argv);
	close(out[1]);
	close(err[1]);

	{
		struct pollfd p[2] = { { .fd = out[0], .events = POLLIN },
				       { .fd = err[0], .events = POLLIN } };
		int open_fds = 2;

		while (open_fds) {
			double t = now_secs();
			int ms = 200, ret;

			if (sigint_ms > 0 && sigint_at < 0 && (flags & RUN_SIGINT_AFTER_2_LINES)) {
				r->out[r->out_len] = '\0';
				if (count_lines(r->out) >= 2)
					sigint_at = t + sigint_ms / 1000.0;
			}
			if (sigint_at >= 0 && sent_at < 0 && t >= sigint_at) {
				kill(pid, SIGINT);
				sent_at = t;
			}
			if (sigint_at >= 0 && sent_at < 0 && sigint_at - t < ms / 1000.0)
				ms = sigint_at > t ? (int)((sigint_at - t) * 1000) + 1 : 0;
			if (t > deadline) {
				kill(pid, SIGKILL);
				break;
			}
			ret = poll(p, 2, ms);
			if (ret < 0 && errno != EINTR)
				break;
			for (int i = 0; ret > 0 && i < 2; i++) {
				char *buf = i ? r->err : r->out;
				size_t cap = i ? sizeof(r->err) : sizeof(r->out);
				size_t *len = i ? &r->err_len : &r->out_len;
				char scratch[512];
				ssize_t got;

				if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
					continue;
				if (*len < cap - 1)
					got = read(p[i].fd, buf + *len, cap - 1 - *len);
				else
					got = read(p[i].fd, scratch, sizeof(scratch)); /* drop the rest */
				if (got > 0 && *len < cap - 1)
					*len += (size_t)got;
				if (got == 0 || (got < 0 && errno != EINTR)) {
					close(p[i].fd);
					p[i].fd = -1;
					open_fds--;
				}
			}
		}
		for (int i = 0; i < 2; i++)
			if (p[i].fd >= 0)
				close(p[i].fd);
	}
	r->out[r->out_len] = '\0';
	r->err[r->err_len] = '\0';
	r->status = acl_wait(pid);
	r->secs = now_secs() - start;
	if (sent_at >= 0)
		r->after_sigint = now_secs() - sent_at;
	return r->status == -1 ? -1 : 0;
}

#define RUN_OK(r, flags, ...)                                                       \
	do {                                                                        \
		const char *const __a[] = { __VA_ARGS__, NULL };                    \
		ASSERT_EQ(0, run_stat((r), (flags), 0, __a)) TH_LOG("cannot run %s", stat_tool()); \
	} while (0)

/* The tool exited with @code; if not, its output is logged. */
#define EXPECT_EXIT(r, code)                                                        \
	do {                                                                        \
		EXPECT_TRUE(WIFEXITED((r)->status))                                  \
			TH_LOG("%s: status %#x (signal?)", stat_tool(), (r)->status); \
		EXPECT_EQ((code), WEXITSTATUS((r)->status))                         \
			TH_LOG("exit status %d, stdout:\n%s\nstderr:\n%s",           \
			       WEXITSTATUS((r)->status), (r)->out, (r)->err);        \
	} while (0)

#define ASSERT_EXIT(r, code)                                                        \
	do {                                                                        \
		ASSERT_TRUE(WIFEXITED((r)->status))                                  \
			TH_LOG("%s: status %#x (signal?)", stat_tool(), (r)->status); \
		ASSERT_EQ((code), WEXITSTATUS((r)->status))                         \
			TH_LOG("exit status %d, stdout:\n%s\nstderr:\n%s",           \
			       WEXITSTATUS((r)->status), (r)->out, (r)->err);        \
	} while (0)

/* ------------------------------------------------------------------ */
/* Reading its output                                                 */
/* ------------------------------------------------------------------ */

/*
 * @s (up to @end) is one JSON value: balanced braces and brackets outside strings,
 * strings closed, nothing after it but one newline. Not a full parser; enough to
 * catch a broken object.
 */
static bool json_shape_ok(const char *s, const char *end)
{
	char stack[16];
	int depth = 0;
	bool in_str = false;

	if (s >= end || *s != '{')
		return false;
	for (; s < end; s++) {
		if (in_str) {
			if (*s == '\\') {
				if (++s >= end)
					return false;
			} else if (*s == '"') {
				in_str = false;
			} else if ((unsigned char)*s < 0x20) {
				return false;
			}
			continue;
		}
		if (*s == '"') {
			in_str = true;
		} else if (*s == '{' || *s == '[') {
			if (depth == (int)sizeof(stack))
				return false;
			stack[depth++] = *s == '{' ? '}' : ']';
		} else if (*s == '}' || *s == ']') {
			if (!depth || stack[--depth] != *s)
				return false;
			if (!depth)
				return s + 1 == end || (s + 2 == end && s[1] == '\n');
		} else if (*s == '\n') {
			return false;
		}
	}
	return false;
}

/* The number after "@key": in [@s, @end); false if absent or not a number. */
static bool json_num(const char *s, const char *end, const char *key, long long *v)
{
	char pat[64], *e;
	size_t plen;
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	plen = strlen(pat);
	for (p = s; p + plen <= end; p++) {
		if (memcmp(p, pat, plen))
			continue;
		errno = 0;
		*v = strtoll(p + plen, &e, 10);
		return !errno && e != p + plen && e <= end;
	}
	return false;
}

/* The object of "processes" whose "pid" is @pid: [*obj, *obj_end); false if none. */
static bool json_proc(const char *s, const char *end, pid_t pid, const char **obj,
		      const char **obj_end)
{
	const char *procs = strstr(s, "\"processes\":[");
	char pat[48];
	const char *o, *b;

	if (!procs || procs >= end)
		return false;
	snprintf(pat, sizeof(pat), "{\"pid\":%d,", (int)pid);
	o = strstr(procs, pat);
	if (!o || o >= end)
		return false;
	b = strstr(o, "\"allocated_bytes\":");
	if (!b || b >= end)
		return false;
	b = strchr(b, '}');
	if (!b || b >= end)
		return false;
	*obj = o;
	*obj_end = b + 1;
	return true;
}

/* The sysfs file names the tool reports, in acl_test_util.h's order. */
static const char *const live_names[] = {
	"opens", "handles", "allocations", "allocated_bytes", "mappings", "exports", "imports",
};

static enum acl_counter counter_of(const char *name)
{
	for (int i = 0; i < ACL_CNT_NR; i++)
		if (!strcmp(acl_counter_names[i], name))
			return (enum acl_counter)i;
	return ACL_CNT_NR;
}

/* The peak counter of @c, or ACL_CNT_NR if it has none. */
static enum acl_counter peak_of(enum acl_counter c)
{
	char name[64];

	snprintf(name, sizeof(name), "peak_%s", acl_counter_names[c]);
	return counter_of(name);
}

/* ------------------------------------------------------------------ */
/* The workload                                                       */
/* ------------------------------------------------------------------ */

FIXTURE(stat) {
	struct acl_counters start;	/* before the workload */
	struct acl_counters during;	/* once the child has imported */
	struct acl_mapping m;		/* allocation 0, mapped */
	aclrtDrvMemHandle h[NR_ALLOCS];
	struct share_token tok[2];
	struct acl_chan ch;
	int32_t child_tgid;
	pid_t child;
	struct run r;
};

/* The importer: imports and maps allocation 0, says 'i', waits for 'd'. */
static void __attribute__((noreturn)) importer(struct acl_chan *ch, struct share_token *tok)
{
	struct acl_mapping m;

	share_child_import_map(tok, &m);
	CHILD_CHECK(acl_tell(ch, 'i') == 0, "tell");
	CHILD_CHECK(acl_hear_within(ch, 'd', 120 * 1000) == 0, "no 'done' from the parent");
	CHILD_CHECK(acl_map_delete(&m) == ACL_SUCCESS, "%s", aclGetRecentErrMsg());
	_exit(0);
}

/* What the setup's workload adds to the counters. */
static const struct {
	enum acl_counter c;
	unsigned long long delta;
} work_deltas[] = {
	{ ACL_CNT_ALLOCATIONS, NR_ALLOCS },
	{ ACL_CNT_ALLOCATED_BYTES, WORK_BYTES },
	{ ACL_CNT_MAPPINGS, 2 },	/* ours and the importer's */
	{ ACL_CNT_HANDLES, NR_ALLOCS + 1 },
	{ ACL_CNT_EXPORTS, 2 },
	{ ACL_CNT_IMPORTS, 1 },
	{ ACL_CNT_OPENS, 2 },		/* one descriptor per process */
};

FIXTURE_SETUP(stat)
{
	aclrtPhysicalMemProp prop = acl_prop(ACL_HBM_MEM_HUGE, ACL_MEM_LOCATION_TYPE_DEVICE, 0);

	self->child = -1;
	ASSERT_EQ(0, acl_read_counters(&self->start));
	ASSERT_ACL_OK(aclrtSetDevice(0));
	ASSERT_ACL_OK(acl_map_new(&self->m, SZ_2M, ACL_HBM_MEM_HUGE,
				  ACL_MEM_LOCATION_TYPE_DEVICE, 0));
	share_fill(self->m.va, SHARE_SIZE);
	self->h[0] = self->m.handle;
	for (int i = 1; i < NR_ALLOCS; i++) {
		ASSERT_ACL_OK(aclrtMallocPhysical(&self->h[i], (size_t)(i + 1) * SZ_2M, &prop, 0));
	}
	for (int i = 0; i < 2; i++) {
		ASSERT_ACL_OK(share_export(self->h[i], ACL_RT_VMM_EXPORT_FLAG_DEFAULT,
					   ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT, &self->tok[i]));
	}
	ASSERT_EQ(0, acl_chan_init(&self->ch));
	self->child = share_fork(&self->ch, &self->child_tgid);
	ASSERT_LE(0, self->child);
	if (self->child == 0)
		importer(&self->ch, &self->tok[0]);
	ASSERT_LT(0, self->child_tgid);
	ASSERT_ACL_OK(share_set_pid(&self->tok[0], self->child_tgid));
	ASSERT_EQ(0, acl_tell(&self->ch, 'g'));
	ASSERT_EQ(0, acl_hear(&self->ch, 'i')) TH_LOG("the importer did not import");
	ASSERT_EQ(0, acl_read_counters(&self->during));

	/* The workload is what the counters say: the test's own ground truth. */
	for (size_t i = 0; i < sizeof(work_deltas) / sizeof(work_deltas[0]); i++) {
		enum acl_counter c = work_deltas[i].c;

		ASSERT_EQ(work_deltas[i].delta, self->during.v[c] - self->start.v[c])
			TH_LOG("counter %s moved from %llu to %llu", acl_counter_names[c],
			       self->start.v[c], self->during.v[c]);
	}
}

FIXTURE_TEARDOWN(stat)
{
	if (self->child > 0) {
		int st;

		if (acl_tell(&self->ch, 'd'))
			kill(self->child, SIGKILL);
		st = acl_wait(self->child);
		EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0)
			TH_LOG("the importer failed: status %#x", st);
	}
	acl_chan_close(&self->ch);
	if (self->m.handle)
		EXPECT_ACL_OK(acl_map_delete(&self->m));
	for (int i = 1; i < NR_ALLOCS; i++) {
		if (self->h[i])
			EXPECT_ACL_OK(aclrtFreePhysical(self->h[i]));
	}
	EXPECT_COUNTERS(self->start, ACL_CNT_LIVE_NO_OPENS);
}

/* The counters have not moved since the setup (the tool only reads). */
#define ASSERT_UNCHANGED() ASSERT_COUNTERS(self->during, ACL_CNT_LIVE)

/* --json: one object with every counter, equal to sysfs. */
TEST_F(stat, json_matches_sysfs_and_workload)
{
	long long peak = -1;
	const char *end;

	RUN_OK(&self->r, 0, "--json");
	ASSERT_EXIT(&self->r, 0);
	end = self->r.out + self->r.out_len;
	ASSERT_TRUE(json_shape_ok(self->r.out, end)) TH_LOG("not one JSON object: %s", self->r.out);
	EXPECT_EQ(0, (int)self->r.err_len) TH_LOG("stderr: %s", self->r.err);
	EXPECT_EQ(NULL, strstr(self->r.out, "\"processes\"")) TH_LOG("processes without --processes");
	for (int i = 0; i < ACL_CNT_NR; i++) {
		long long v = -1;

		ASSERT_TRUE(json_num(self->r.out, end, acl_counter_names[i], &v))
			TH_LOG("no \"%s\" in %s", acl_counter_names[i], self->r.out);
		EXPECT_EQ((long long)self->during.v[i], v)
			TH_LOG("%s: tool %lld, sysfs %llu", acl_counter_names[i], v, self->during.v[i]);
	}
	/* And the workload's deltas, through the tool's eyes. */
	for (size_t i = 0; i < sizeof(work_deltas) / sizeof(work_deltas[0]); i++) {
		enum acl_counter c = work_deltas[i].c;
		long long v = -1;

		ASSERT_TRUE(json_num(self->r.out, end, acl_counter_names[c], &v));
		EXPECT_EQ((long long)(self->start.v[c] + work_deltas[i].delta), v)
			TH_LOG("%s: %lld, want %llu + %llu", acl_counter_names[c], v,
			       self->start.v[c], work_deltas[i].delta);
	}
	ASSERT_TRUE(json_num(self->r.out, end, "peak_allocated_bytes", &peak));
	EXPECT_LE((long long)(self->start.v[ACL_CNT_ALLOCATED_BYTES] + WORK_BYTES), peak);
	ASSERT_UNCHANGED();
}

/* The default table: every counter's name, current value and peak ("-" if none). */
TEST_F(stat, table_names_every_counter)
{
	bool seen[sizeof(live_names) / sizeof(live_names[0])] = { false };
	char *save = NULL, *line;

	RUN_OK(&self->r, 0, NULL);
	ASSERT_EXIT(&self->r, 0);
	EXPECT_EQ(0, strncmp(self->r.out, "counter", 7)) TH_LOG("no header: %s", self->r.out);
	for (line = strtok_r(self->r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[64], peak[64];
		long long cur;
		enum acl_counter c, p;
		size_t k;

		if (sscanf(line, "%63s %lld %63s", name, &cur, peak) != 3)
			continue;
		for (k = 0; k < sizeof(live_names) / sizeof(live_names[0]); k++)
			if (!strcmp(name, live_names[k]))
				break;
		ASSERT_LT(k, sizeof(live_names) / sizeof(live_names[0]))
			TH_LOG("unknown counter line: %s", line);
		EXPECT_FALSE(seen[k]) TH_LOG("%s twice", name);
		seen[k] = true;
		c = counter_of(name);
		p = peak_of(c);
		EXPECT_EQ((long long)self->during.v[c], cur) TH_LOG("line: %s", line);
		if (p == ACL_CNT_NR) {
			EXPECT_STREQ("-", peak) TH_LOG("line: %s", line);
		} else {
			char want[32];

			snprintf(want, sizeof(want), "%llu", self->during.v[p]);
			EXPECT_STREQ(want, peak) TH_LOG("line: %s", line);
		}
		if (c == ACL_CNT_ALLOCATED_BYTES)	/* also for a reader: at least 12 MiB */
			EXPECT_NE(NULL, strstr(line, "MiB")) TH_LOG("line: %s", line);
	}
	for (size_t k = 0; k < sizeof(seen) / sizeof(seen[0]); k++) {
		EXPECT_TRUE(seen[k]) TH_LOG("no line for %s", live_names[k]);
	}
	ASSERT_UNCHANGED();
}

/* --processes --json as root: this process and the importer, with what they hold. */
TEST_F(stat, processes_json_as_root)
{
	static const struct {
		const char *key;
		long long parent, child;
	} want[] = {
		{ "files", 1, 1 },
		{ "handles", NR_ALLOCS, 1 },
		{ "exports", 2, 0 },
		{ "imports", 0, 1 },
		{ "allocated_bytes", WORK_BYTES, 0 },	/* imports do not count */
	};
	const char *end, *o, *oe;
	char comm[32];

	ASSERT_EQ(0U, geteuid()) TH_LOG("the VM runs the tests as root");
	RUN_OK(&self->r, 0, "--processes", "--json");
	ASSERT_EXIT(&self->r, 0);
	end = self->r.out + self->r.out_len;
	ASSERT_TRUE(json_shape_ok(self->r.out, end)) TH_LOG("not one JSON object: %s", self->r.out);
	for (int i = 0; i < ACL_CNT_NR; i++) {
		long long v = -1;

		EXPECT_TRUE(json_num(self->r.out, end, acl_counter_names[i], &v));
		EXPECT_EQ((long long)self->during.v[i], v) TH_LOG("%s", acl_counter_names[i]);
	}
	ASSERT_EQ(0, acl_read_text("/proc/self/comm", comm, sizeof(comm)));
	comm[strcspn(comm, "\n")] = '\0';
	for (int who = 0; who < 2; who++) {
		pid_t pid = who ? self->child : getpid();
		char pat[64];

		ASSERT_TRUE(json_proc(self->r.out, end, pid, &o, &oe))
			TH_LOG("no process %d in %s", (int)pid, self->r.out);
		snprintf(pat, sizeof(pat), "\"comm\":\"%s\"", comm);
		EXPECT_NE(NULL, memmem(o, (size_t)(oe - o), pat, strlen(pat)))
			TH_LOG("process %d: want %s in %.*s", (int)pid, pat, (int)(oe - o), o);
		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
			long long v = -1;

			ASSERT_TRUE(json_num(o, oe, want[i].key, &v))
				TH_LOG("no %s in %.*s", want[i].key, (int)(oe - o), o);
			EXPECT_EQ(who ? want[i].child : want[i].parent, v)
				TH_LOG("process %d (%s): %s", (int)pid, who ? "importer" : "exporter",
				       want[i].key);
		}
	}
	ASSERT_UNCHANGED();
}

/* --processes in the table: a row for this process with its handles and bytes. */
TEST_F(stat, processes_table_as_root)
{
	char *save = NULL, *line;
	bool found = false;

	RUN_OK(&self->r, 0, "--processes");
	ASSERT_EXIT(&self->r, 0);
	EXPECT_NE(NULL, strstr(self->r.out, "\n     pid  comm")) TH_LOG("%s", self->r.out);
	for (line = strtok_r(self->r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long long pid, files, handles, exports, imports, bytes;
		char comm[64];

		if (sscanf(line, "%llu %63s %llu %llu %llu %llu %llu", &pid, comm, &files, &handles,
			   &exports, &imports, &bytes) != 7 || pid != (unsigned long long)getpid())
			continue;
		found = true;
		EXPECT_EQ(1ULL, files);
		EXPECT_EQ((unsigned long long)NR_ALLOCS, handles);
		EXPECT_EQ(2ULL, exports);
		EXPECT_EQ(0ULL, imports);
		EXPECT_EQ((unsigned long long)WORK_BYTES, bytes);
	}
	EXPECT_TRUE(found) TH_LOG("no row for pid %d", (int)getpid());
	ASSERT_UNCHANGED();
}

/* --watch 1 --count 2: a header, two lines of the current values, a second apart. */
TEST_F(stat, watch_count)
{
	static const char *const cols[] = { "opens", "handles", "allocations", "allocated_bytes",
					    "mappings", "exports", "imports" };
	char *save = NULL, *line;
	int data = 0;

	RUN_OK(&self->r, 0, "--watch", "1", "--count", "2");
	ASSERT_EXIT(&self->r, 0);
	EXPECT_EQ(3, count_lines(self->r.out)) TH_LOG("output:\n%s", self->r.out);
	EXPECT_LE(0.9, self->r.secs) TH_LOG("two lines a second apart took %.3f s", self->r.secs);
	for (line = strtok_r(self->r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		long long v[7];

		if (!data && isalpha((unsigned char)line[strspn(line, " ")])) {
			char name[7][32];

			ASSERT_EQ(7, sscanf(line, "%31s %31s %31s %31s %31s %31s %31s", name[0],
					    name[1], name[2], name[3], name[4], name[5], name[6]))
				TH_LOG("header: %s", line);
			for (int i = 0; i < 7; i++) {
				EXPECT_STREQ(cols[i], name[i]);
			}
			continue;
		}
		ASSERT_EQ(7, sscanf(line, "%lld %lld %lld %lld %lld %lld %lld", &v[0], &v[1], &v[2],
				    &v[3], &v[4], &v[5], &v[6]))
			TH_LOG("data line: %s", line);
		for (int i = 0; i < 7; i++) {
			EXPECT_EQ((long long)self->during.v[counter_of(cols[i])], v[i])
				TH_LOG("%s in: %s", cols[i], line);
		}
		data++;
	}
	EXPECT_EQ(2, data);
	ASSERT_UNCHANGED();
}

/* --watch --json: one object per line, no header. */
TEST_F(stat, watch_json_lines)
{
	char *save = NULL, *line;
	int n = 0;

	RUN_OK(&self->r, 0, "--watch=0.2", "--json", "-c", "3");
	ASSERT_EXIT(&self->r, 0);
	EXPECT_EQ(3, count_lines(self->r.out)) TH_LOG("output:\n%s", self->r.out);
	for (line = strtok_r(self->r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		long long v = -1;

		EXPECT_TRUE(json_shape_ok(line, line + strlen(line))) TH_LOG("line: %s", line);
		EXPECT_TRUE(json_num(line, line + strlen(line), "allocated_bytes", &v));
		EXPECT_EQ((long long)self->during.v[ACL_CNT_ALLOCATED_BYTES], v);
		n++;
	}
	EXPECT_EQ(3, n);
}

/* Without --count, --watch runs until SIGINT, then exits 0 with what it printed. */
TEST(watch_until_sigint)
{
	static const char *const args[] = { "--watch", "0.1", NULL };
	struct run *r = malloc(sizeof(*r));

	ASSERT_NE(NULL, r);
	ASSERT_EQ(0, run_stat(r, 0, 700, args));
	EXPECT_TRUE(WIFEXITED(r->status)) TH_LOG("status %#x", r->status);
	EXPECT_EQ(0, WEXITSTATUS(r->status)) TH_LOG("stderr: %s", r->err);
	EXPECT_LE(3, count_lines(r->out)) TH_LOG("output:\n%s", r->out);
	EXPECT_GT(5.0, r->secs) TH_LOG("SIGINT did not stop it");
	free(r);
}

/*
 * A SIGINT in the middle of a long interval ends --watch at once, not at the next
 * line, with status 0 and what it printed: here 100 s between lines, the SIGINT
 * shortly after the first one.
 */
TEST(watch_sigint_ends_a_long_interval)
{
	static const char *const args[] = { "--watch", "100", NULL };
	struct run *r = malloc(sizeof(*r));

	ASSERT_NE(NULL, r);
	ASSERT_EQ(0, run_stat(r, RUN_SIGINT_AFTER_2_LINES, 200, args));
	EXPECT_TRUE(WIFEXITED(r->status)) TH_LOG("status %#x", r->status);
	EXPECT_EQ(0, WEXITSTATUS(r->status)) TH_LOG("stderr: %s", r->err);
	EXPECT_EQ(2, count_lines(r->out)) TH_LOG("output:\n%s", r->out);
	ASSERT_LE(0.0, r->after_sigint) TH_LOG("no SIGINT sent; output:\n%s", r->out);
	EXPECT_GT(2.0, r->after_sigint) TH_LOG("it ran %.3f s after the SIGINT", r->after_sigint);
	free(r);
}

/*
 * A SIGINT while --watch is blocked writing a line (its stdout a full pipe) does not
 * make the write fail: once the pipe is read again the line is written and the tool
 * exits at once, with status 0 and nothing on stderr.
 */
TEST(watch_sigint_during_a_blocked_write)
{
	char *argv[] = { (char *)stat_tool(), "--watch", "0.001", NULL };
	int out[2], err[2], avail = 0, st;
	char buf[4096], errbuf[512] = "";
	bool ended = false;
	double deadline;
	ssize_t n, errlen = 0;
	pid_t pid;

	ASSERT_EQ(0, pipe2(out, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(err, O_CLOEXEC));
	ASSERT_LE(4096, fcntl(out[1], F_SETPIPE_SZ, 4096)) TH_LOG("F_SETPIPE_SZ: %s", strerror(errno));
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		run_child(out[1], err[1], 0, argv);
	close(out[1]);
	close(err[1]);
	fcntl(err[0], F_SETFL, O_NONBLOCK);

	/* Full: the tool's next write blocks. */
	deadline = now_secs() + 10;
	while (now_secs() < deadline && ioctl(out[0], FIONREAD, &avail) == 0 &&
	       avail < fcntl(out[0], F_GETPIPE_SZ) - 128)
		usleep(10 * 1000);
	usleep(200 * 1000);
	EXPECT_EQ(0, waitpid(pid, &st, WNOHANG)) TH_LOG("the tool ended before the SIGINT");
	kill(pid, SIGINT);
	usleep(200 * 1000);

	/* Read it all: the tool must end (EOF) soon after. */
	deadline = now_secs() + 5;
	for (;;) {
		struct pollfd p = { .fd = out[0], .events = POLLIN };

		if (now_secs() > deadline) {
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&p, 1, 200) <= 0)
			continue;
		n = read(out[0], buf, sizeof(buf));
		if (n == 0) {
			ended = true;
			break;
		}
		if (n < 0 && errno != EINTR)
			break;
	}
	n = read(err[0], errbuf, sizeof(errbuf) - 1);
	if (n > 0)
		errlen = n;
	errbuf[errlen] = '\0';
	close(out[0]);
	close(err[0]);
	st = acl_wait(pid);
	EXPECT_TRUE(ended) TH_LOG("the tool did not end within 5 s of the SIGINT");
	EXPECT_TRUE(WIFEXITED(st)) TH_LOG("status %#x", st);
	EXPECT_EQ(0, WEXITSTATUS(st)) TH_LOG("stderr: %s", errbuf);
	EXPECT_EQ(0, (int)errlen) TH_LOG("stderr: %s", errbuf);
}

/*
 * A process may name itself anything (PR_SET_NAME): here tabs, a newline and a
 * backslash, shaped like the end of a record ("\t9\t9\t9\t9\n") and the start of
 * another one, of pid 1. The module escapes the name in the clients file; the tool
 * reports the real pid with its real counts, the name as it is (JSON-escaped) and no
 * row for pid 1 or 9.
 */
#define NASTY_COMM "a\t9\t9\t9\t9\n1\t\\x"
#define NASTY_COMM_JSON "a\\u00099\\u00099\\u00099\\u00099\\u000a1\\u0009\\\\x"

/* The child: names itself NASTY_COMM, allocates 2 MiB, says 'r', waits for 'd'. */
static void __attribute__((noreturn)) nasty_child(struct acl_chan *ch)
{
	aclrtPhysicalMemProp prop = acl_prop(ACL_HBM_MEM_HUGE, ACL_MEM_LOCATION_TYPE_DEVICE, 0);
	aclrtDrvMemHandle h = NULL;
	char comm[32] = "";
	aclError e;

	acl_chan_child(ch);
	CHILD_CHECK(prctl(PR_SET_NAME, NASTY_COMM) == 0, "PR_SET_NAME: %s", strerror(errno));
	CHILD_CHECK(acl_read_text("/proc/self/comm", comm, sizeof(comm)) == 0, "comm");
	CHILD_CHECK(!strcmp(comm, NASTY_COMM "\n"), "the name did not stick: '%s'", comm);
	e = aclrtSetDevice(0);
	CHILD_CHECK(e == ACL_SUCCESS, "set device: %d %s", e, aclGetRecentErrMsg());
	e = aclrtMallocPhysical(&h, SZ_2M, &prop, 0);
	CHILD_CHECK(e == ACL_SUCCESS, "malloc: %d %s", e, aclGetRecentErrMsg());
	CHILD_CHECK(acl_tell(ch, 'r') == 0, "tell");
	CHILD_CHECK(acl_hear_within(ch, 'd', 120 * 1000) == 0, "no 'done' from the parent");
	e = aclrtFreePhysical(h);
	CHILD_CHECK(e == ACL_SUCCESS, "free: %d %s", e, aclGetRecentErrMsg());
	_exit(0);
}

TEST(processes_comm_cannot_forge_a_record)
{
	static const char *const args[] = { "--processes", "--json", NULL };
	static const struct {
		const char *key;
		long long v;
	} want[] = {
		{ "files", 1 }, { "handles", 1 }, { "exports", 0 }, { "imports", 0 },
		{ "allocated_bytes", SZ_2M },
	};
	static const char comm_pat[] = "\"comm\":\"" NASTY_COMM_JSON "\",";
	struct run *r = malloc(sizeof(*r));
	const char *end, *o, *oe, *p;
	struct acl_chan ch;
	int ready, st, rows = 0;
	pid_t child;

	ASSERT_NE(NULL, r);
	ASSERT_EQ(0U, geteuid()) TH_LOG("the VM runs the tests as root");
	ASSERT_GE(15, (int)strlen(NASTY_COMM)) TH_LOG("TASK_COMM_LEN - 1 bytes at most");
	ASSERT_EQ(0, acl_chan_init(&ch));
	fflush(stdout);
	fflush(stderr);
	child = fork();
	ASSERT_LE(0, child);
	if (child == 0)
		nasty_child(&ch);
	acl_chan_parent(&ch);
	ready = acl_hear(&ch, 'r');
	if (!ready)
		ready = run_stat(r, 0, 0, args);
	if (acl_tell(&ch, 'd'))
		kill(child, SIGKILL);
	st = acl_wait(child);
	acl_chan_close(&ch);
	ASSERT_EQ(0, ready) TH_LOG("the child did not get ready, or the tool did not run");
	ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) TH_LOG("the child failed: %#x", st);

	ASSERT_EXIT(r, 0);
	end = r->out + r->out_len;
	ASSERT_TRUE(json_shape_ok(r->out, end)) TH_LOG("not one JSON object: %s", r->out);
	ASSERT_TRUE(json_proc(r->out, end, child, &o, &oe))
		TH_LOG("no process %d in %s", (int)child, r->out);
	EXPECT_NE(NULL, memmem(o, (size_t)(oe - o), comm_pat, strlen(comm_pat)))
		TH_LOG("want %s in %.*s", comm_pat, (int)(oe - o), o);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		long long v = -1;

		ASSERT_TRUE(json_num(o, oe, want[i].key, &v))
			TH_LOG("no %s in %.*s", want[i].key, (int)(oe - o), o);
		EXPECT_EQ(want[i].v, v) TH_LOG("%s in %.*s", want[i].key, (int)(oe - o), o);
	}
	/* Every row is a process that has the device open: the child, maybe us; no other. */
	for (p = strstr(r->out, "{\"pid\":"); p && p < end; p = strstr(p + 1, "{\"pid\":")) {
		long long pid = strtoll(p + 7, NULL, 10);

		rows++;
		EXPECT_TRUE(pid == child || pid == getpid())
			TH_LOG("a row for pid %lld in %s", pid, r->out);
	}
	EXPECT_LE(1, rows);
	free(r);
}

/* ------------------------------------------------------------------ */
/* Failures                                                           */
/* ------------------------------------------------------------------ */

/* A bad command line: exit 2, the reason and the usage on stderr, nothing on stdout. */
TEST(bad_command_line)
{
	static const char *const bad[][4] = {
		{ "--no-such-option" },
		{ "-x" },
		{ "stray" },
		{ "--watch", "0" },
		{ "--watch", "1x" },
		{ "--watch=" },
		{ "--watch", "--count", "0" },
		{ "--watch", "--count", "-1" },
		{ "--watch", "--count" },
		{ "--count", "2" },
		{ "--json=1" },
		{ "--watch", "--processes" },
	};
	struct run *r = malloc(sizeof(*r));

	ASSERT_NE(NULL, r);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ASSERT_EQ(0, run_stat(r, 0, 0, bad[i]));
		EXPECT_EXIT(r, 2);
		EXPECT_EQ(0, (int)r->out_len) TH_LOG("%s: stdout: %s", bad[i][0], r->out);
		EXPECT_NE(NULL, strstr(r->err, "usage: acl-share-stat"))
			TH_LOG("%s %s: stderr: %s", bad[i][0], bad[i][1] ? bad[i][1] : "", r->err);
	}
	free(r);
}

/* --help documents the exit statuses; --version prints one line. */
TEST(help_and_version)
{
	static const char *const help[] = { "--help", NULL }, *const ver[] = { "-V", NULL };
	struct run *r = malloc(sizeof(*r));

	ASSERT_NE(NULL, r);
	ASSERT_EQ(0, run_stat(r, 0, 0, help));
	EXPECT_EXIT(r, 0);
	EXPECT_NE(NULL, strstr(r->out, "Exit status:")) TH_LOG("%s", r->out);
	EXPECT_NE(NULL, strstr(r->out, "--processes"));
	ASSERT_EQ(0, run_stat(r, 0, 0, ver));
	EXPECT_EXIT(r, 0);
	EXPECT_EQ(0, strncmp(r->out, "acl-share-stat ", 15)) TH_LOG("%s", r->out);
	EXPECT_EQ(1, count_lines(r->out));
	free(r);
}

/*
 * As nobody: the aggregate counters are readable, --processes is refused with a
 * message that says root is needed, and exit 3, not an empty list.
 */
TEST(processes_as_nobody)
{
	static const char *const plain[] = { "--json", NULL }, *const procs[] = { "--processes", NULL };
	struct run *r = malloc(sizeof(*r));

	ASSERT_NE(NULL, r);
	ASSERT_EQ(0, run_stat(r, RUN_AS_NOBODY, 0, plain));
	EXPECT_EXIT(r, 0);
	EXPECT_TRUE(json_shape_ok(r->out, r->out + r->out_len)) TH_LOG("%s", r->out);
	ASSERT_EQ(0, run_stat(r, RUN_AS_NOBODY, 0, procs));
	EXPECT_EXIT(r, 3);
	EXPECT_EQ(0, (int)r->out_len) TH_LOG("stdout: %s", r->out);
	EXPECT_NE(NULL, strstr(r->err, "needs root")) TH_LOG("stderr: %s", r->err);
	free(r);
}

/* Without debugfs mounted (in a mount namespace of its own): exit 3, how to mount it. */
TEST(processes_without_debugfs)
{
	static const char *const procs[] = { "--processes", "--json", NULL };
	struct run *r = malloc(sizeof(*r));

	ASSERT_NE(NULL, r);
	ASSERT_EQ(0, run_stat(r, RUN_NO_DEBUGFS, 0, procs));
	EXPECT_EXIT(r, 3);
	EXPECT_EQ(0, (int)r->out_len) TH_LOG("stdout: %s", r->out);
	EXPECT_NE(NULL, strstr(r->err, "mount -t debugfs none /sys/kernel/debug"))
		TH_LOG("stderr: %s", r->err);
	free(r);
}

/*
 * The module not loaded: every mode exits 2 and says how to load it. The module is
 * unloaded (nothing may hold it: this test uses no library) and loaded again with
 * the parameters it had; the teardown reloads it if the test stopped half-way.
 */
FIXTURE(unloaded) {
	char params[512];
	struct run r;
};

FIXTURE_SETUP(unloaded)
{
	ASSERT_MODULE_IDLE(self->params, sizeof(self->params));
}

FIXTURE_TEARDOWN(unloaded)
{
	if (!module_live())
		EXPECT_EQ(0, load_module(self->params)) TH_LOG("reloading %s", MODULE_NAME);
	EXPECT_TRUE(module_live());
}

TEST_F(unloaded, exits_2_with_the_reason)
{
	static const char *const modes[][5] = {
		{ NULL },
		{ "--json" },
		{ "--processes" },
		{ "--watch", "1", "--count", "1" },
	};
	static const char *const json[] = { "--json", NULL };
	char path[512];
	long long v = -1;
	int ret;

	ASSERT_TRUE(ko_path(path, sizeof(path))) TH_LOG("no %s.ko to load again", MODULE_NAME);
	ret = delete_module(MODULE_NAME, O_NONBLOCK);
	ASSERT_EQ(0, ret) TH_LOG("delete_module: %s", strerror(-ret));
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		ASSERT_EQ(0, run_stat(&self->r, 0, 0, modes[i]));
		EXPECT_EXIT(&self->r, 2);
		EXPECT_EQ(0, (int)self->r.out_len) TH_LOG("%s: stdout: %s",
			modes[i][0] ? modes[i][0] : "(no option)", self->r.out);
		EXPECT_NE(NULL, strstr(self->r.err, "module is not loaded")) TH_LOG("%s", self->r.err);
		EXPECT_NE(NULL, strstr(self->r.err, "modprobe acl_share")) TH_LOG("%s", self->r.err);
	}
	/* Back, with the parameters it had; the tool sees a fresh module. */
	ret = load_module(self->params);
	ASSERT_EQ(0, ret) TH_LOG("loading %s with \"%s\": %s", path, self->params, strerror(-ret));
	ASSERT_EQ(0, run_stat(&self->r, 0, 0, json));
	EXPECT_EXIT(&self->r, 0);
	EXPECT_TRUE(json_num(self->r.out, self->r.out + self->r.out_len, "peak_allocations", &v));
	EXPECT_EQ(0, v) TH_LOG("a fresh module has no peak yet: %s", self->r.out);
}

TEST_HARNESS_MAIN
