// SPDX-License-Identifier: GPL-2.0
/*
 * abi_test - the raw kernel ABI of include/uapi/linux/acl_share.h (contract
 * section 5), without the library: unknown flags and non-zero reserved
 * fields give -EINVAL; a size below the first version gives -EINVAL; a
 * larger size is accepted when the extra bytes are zero and gives -E2BIG
 * otherwise; unknown ioctl numbers give -ENOTTY; bad user pointers give
 * -EFAULT (also when only the write-back fails: an ALLOC whose result
 * cannot be written leaves no allocation behind). After every refused call
 * the module's counters are unchanged. Also: ALLOC's value checks, FREE and
 * QUERY of unknown handles, what QUERY reports, the rules of mmap(2), and
 * COPY refusing anything but a remote import.
 */
#include <linux/acl_share.h>
#include <stddef.h>

#include "acl_test_util.h"

enum { IOC_INFO, IOC_ALLOC, IOC_FREE, IOC_QUERY, IOC_NR };

/* The first version of a struct: up to and with its field @last. */
#define FIRST(s, last) (uint32_t)(offsetof(struct s, last) + sizeof(((struct s *)0)->last))

static const struct {
	const char *name;
	unsigned long cmd;
	uint32_t size;		/* this header's struct */
	uint32_t first;		/* the first version of it */
	bool writes_back;
} iocs[IOC_NR] = {
	[IOC_INFO] = { "INFO", ACL_SHARE_IOC_INFO, sizeof(struct acl_share_info),
		       FIRST(acl_share_info, __reserved), true },
	[IOC_ALLOC] = { "ALLOC", ACL_SHARE_IOC_ALLOC, sizeof(struct acl_share_alloc),
			FIRST(acl_share_alloc, out_mmap_offset), true },
	[IOC_FREE] = { "FREE", ACL_SHARE_IOC_FREE, sizeof(struct acl_share_free),
		       FIRST(acl_share_free, __reserved), false },
	[IOC_QUERY] = { "QUERY", ACL_SHARE_IOC_QUERY, sizeof(struct acl_share_query),
			FIRST(acl_share_query, out_mmap_offset), true },
};

/* Room for the largest struct the ABI accepts (4096 bytes) and more. */
#define BUF_SIZE 8192

FIXTURE(abi) {
	struct acl_counters start; /* before open */
	struct acl_counters base;  /* with the file open and one allocation */
	int fd;
	uint32_t handle;           /* a live 2 MiB allocation */
	uint64_t offset;
	unsigned char *buf;        /* BUF_SIZE bytes, then a PROT_NONE page */
};

FIXTURE_SETUP(abi)
{
	self->fd = -1;
	ASSERT_EQ(0, acl_read_counters(&self->start));
	self->buf = acl_map_guarded(BUF_SIZE, 0);
	ASSERT_NE(NULL, self->buf) TH_LOG("guarded buffer: %s", strerror(errno));
	self->fd = open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", ACL_DEV_PATH, strerror(errno));
	ASSERT_EQ(0, acl_raw_alloc(self->fd, SZ_2M, 13 /* ACL_MEM_HUGE */, ACL_SHARE_LOC_HOST, 0,
				   &self->handle, &self->offset));
	ASSERT_EQ(0, acl_read_counters(&self->base));
}

FIXTURE_TEARDOWN(abi)
{
	if (self->fd >= 0) {
		EXPECT_EQ(0, close(self->fd));
	}
	EXPECT_COUNTERS(self->start, ACL_CNT_LIVE);
}

/* Nothing changed in the module since the setup. */
#define EXPECT_UNCHANGED() EXPECT_COUNTERS(self->base, ACL_CNT_LIVE)

/* The setup's handle is still alive. */
#define EXPECT_HANDLE_ALIVE()                                                        \
	do {                                                                         \
		struct acl_share_query __q;                                          \
		EXPECT_EQ(0, acl_raw_query(self->fd, self->handle, &__q));           \
		EXPECT_EQ((uint64_t)SZ_2M, __q.out_length);                          \
	} while (0)

/* Writes a valid argument of ioctl @which (with size @size) at @p. */
static void valid_arg(int which, void *p, uint32_t size, uint32_t handle)
{
	switch (which) {
	case IOC_INFO: {
		struct acl_share_info *a = p;

		memset(a, 0, sizeof(*a));
		break;
	}
	case IOC_ALLOC: {
		struct acl_share_alloc *a = p;

		memset(a, 0, sizeof(*a));
		a->length = SZ_2M;
		a->mem_attr = 13; /* ACL_MEM_HUGE */
		a->location_type = ACL_SHARE_LOC_HOST;
		break;
	}
	case IOC_FREE: {
		struct acl_share_free *a = p;

		memset(a, 0, sizeof(*a));
		a->handle = handle;
		break;
	}
	case IOC_QUERY: {
		struct acl_share_query *a = p;

		memset(a, 0, sizeof(*a));
		a->handle = handle;
		break;
	}
	}
	memcpy(p, &size, sizeof(size));
}

/* Undoes a successful ALLOC made through valid_arg() at @p. */
static int undo_alloc(int fd, const void *p)
{
	const struct acl_share_alloc *a = p;

	return acl_raw_free(fd, a->out_handle);
}

TEST_F(abi, info_reports_the_module_state)
{
	unsigned long long count = 0, server = 0;
	struct acl_share_info info;

	ASSERT_EQ(0, acl_raw_info(self->fd, &info));
	EXPECT_EQ((uint32_t)getpid(), info.out_bare_tgid);
	ASSERT_EQ(0, acl_read_param("device_count", &count));
	EXPECT_EQ(count, info.out_device_count);
	ASSERT_EQ(0, acl_read_param("server_id", &server));
	EXPECT_EQ(server, info.out_server_id);
	EXPECT_EQ(0U, info.__reserved);
	EXPECT_UNCHANGED();
}

TEST_F(abi, counters_and_parameters_are_world_readable)
{
	static const char *const params[] = {
		"device_count", "server_id", "max_exports", "max_pids_per_handle",
	};
	static const enum acl_counter peaks[] = { ACL_CNT_PEAK_EXPORTS, ACL_CNT_PEAK_IMPORTS };
	pid_t pid;

	for (int i = 0; i < ACL_CNT_NR; i++) {
		char path[256];
		struct stat st;

		snprintf(path, sizeof(path), ACL_STATS_DIR "/%s", acl_counter_names[i]);
		ASSERT_EQ(0, stat(path, &st)) TH_LOG("%s: %s", path, strerror(errno));
		EXPECT_TRUE((st.st_mode & S_IROTH) != 0) TH_LOG("%s mode %o", path, st.st_mode);
		EXPECT_TRUE((st.st_mode & (S_IWGRP | S_IWOTH)) == 0) TH_LOG("%s mode %o", path, st.st_mode);
	}
	/*
	 * The peaks of exports and imports: 0444, and not even root can open
	 * them for writing (kernfs refuses a file without write permission).
	 */
	for (size_t i = 0; i < sizeof(peaks) / sizeof(peaks[0]); i++) {
		char path[256];
		struct stat st;
		int fd;

		snprintf(path, sizeof(path), ACL_STATS_DIR "/%s", acl_counter_names[peaks[i]]);
		ASSERT_EQ(0, stat(path, &st)) TH_LOG("%s: %s", path, strerror(errno));
		EXPECT_EQ(0444U, st.st_mode & 0777) TH_LOG("%s mode %o", path, st.st_mode);
		errno = 0;
		fd = open(path, O_WRONLY | O_CLOEXEC);
		EXPECT_EQ(-1, fd) TH_LOG("%s opens for writing", path);
		EXPECT_EQ(EACCES, errno) TH_LOG("%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	/* As an unprivileged user: every counter and parameter reads. */
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct acl_counters c;
		unsigned long long v;

		CHILD_CHECK(setresgid(65534, 65534, 65534) == 0, "setresgid: %s", strerror(errno));
		CHILD_CHECK(setresuid(65534, 65534, 65534) == 0, "setresuid: %s", strerror(errno));
		CHILD_CHECK(acl_read_counters(&c) == 0, "counters are not readable by nobody");
		CHILD_CHECK(c.v[ACL_CNT_ALLOCATIONS] >= 1, "the fixture's allocation is not counted");
		CHILD_CHECK(c.v[ACL_CNT_PEAK_ALLOCATIONS] >= c.v[ACL_CNT_ALLOCATIONS], "peak below live");
		CHILD_CHECK(c.v[ACL_CNT_PEAK_EXPORTS] >= c.v[ACL_CNT_EXPORTS],
			    "peak_exports below live");
		CHILD_CHECK(c.v[ACL_CNT_PEAK_IMPORTS] >= c.v[ACL_CNT_IMPORTS],
			    "peak_imports below live");
		for (size_t i = 0; i < sizeof(peaks) / sizeof(peaks[0]); i++) {
			char path[256];

			snprintf(path, sizeof(path), ACL_STATS_DIR "/%s",
				 acl_counter_names[peaks[i]]);
			errno = 0;
			CHILD_CHECK(open(path, O_WRONLY | O_CLOEXEC) < 0 && errno == EACCES,
				    "nobody can open %s for writing (%s)", path, strerror(errno));
		}
		for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++)
			CHILD_CHECK(acl_read_param(params[i], &v) == 0, "parameter %s", params[i]);
		_exit(0);
	}
	ASSERT_CHILD_OK(pid);
}

TEST_F(abi, unknown_flags_are_refused)
{
	static const uint32_t bad[] = { 1U << 0, 1U << 1, 1U << 31, ~0U };

	for (int w = 0; w < IOC_NR; w++) {
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			valid_arg(w, self->buf, iocs[w].size, self->handle);
			((uint32_t *)self->buf)[1] = bad[i];
			EXPECT_EQ(-EINVAL, acl_ioctl(self->fd, iocs[w].cmd, self->buf))
				TH_LOG("%s with flags %#x", iocs[w].name, bad[i]);
			EXPECT_UNCHANGED();
		}
	}
	EXPECT_HANDLE_ALIVE();
}

TEST_F(abi, non_zero_reserved_fields_are_refused)
{
	static const uint32_t bad[] = { 1, 1U << 31, ~0U };
	struct acl_share_info *info = (void *)self->buf;
	struct acl_share_free *f = (void *)self->buf;
	struct acl_share_alloc *a = (void *)self->buf;
	struct acl_share_query *q = (void *)self->buf;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		valid_arg(IOC_INFO, info, sizeof(*info), 0);
		info->__reserved = bad[i];
		EXPECT_EQ(-EINVAL, acl_ioctl(self->fd, ACL_SHARE_IOC_INFO, info));
		valid_arg(IOC_FREE, f, sizeof(*f), self->handle);
		f->__reserved = bad[i];
		EXPECT_EQ(-EINVAL, acl_ioctl(self->fd, ACL_SHARE_IOC_FREE, f));
		for (int k = 0; k < 2; k++) {
			valid_arg(IOC_ALLOC, a, sizeof(*a), 0);
			a->__reserved[k] = bad[i];
			EXPECT_EQ(-EINVAL, acl_ioctl(self->fd, ACL_SHARE_IOC_ALLOC, a))
				TH_LOG("ALLOC __reserved[%d] = %#x", k, bad[i]);
			valid_arg(IOC_QUERY, q, sizeof(*q), self->handle);
			q->__reserved[k] = (uint64_t)bad[i] << 32;
			EXPECT_EQ(-EINVAL, acl_ioctl(self->fd, ACL_SHARE_IOC_QUERY, q))
				TH_LOG("QUERY __reserved[%d] = %#x << 32", k, bad[i]);
		}
		EXPECT_UNCHANGED();
	}
	EXPECT_HANDLE_ALIVE();
}

/* A client of the first version of ALLOC and QUERY (no reserved fields) still works. */
TEST_F(abi, first_versions_of_grown_structs_work)
{
	struct acl_share_alloc *a = (void *)self->buf;
	struct acl_share_query *q = (void *)self->buf;
	uint32_t h;

	memset(self->buf, 0xee, BUF_SIZE);
	valid_arg(IOC_ALLOC, a, iocs[IOC_ALLOC].first, 0);
	memset(a->__reserved, 0xee, sizeof(a->__reserved)); /* beyond its size: not read */
	ASSERT_EQ(0, acl_ioctl(self->fd, ACL_SHARE_IOC_ALLOC, a));
	h = a->out_handle;
	EXPECT_EQ((uint64_t)0xeeeeeeeeeeeeeeeeULL, a->__reserved[0]) TH_LOG("written beyond the size");
	valid_arg(IOC_QUERY, q, iocs[IOC_QUERY].first, h);
	memset(q->__reserved, 0xee, sizeof(q->__reserved));
	ASSERT_EQ(0, acl_ioctl(self->fd, ACL_SHARE_IOC_QUERY, q));
	EXPECT_EQ((uint64_t)SZ_2M, q->out_length);
	EXPECT_EQ((uint64_t)0xeeeeeeeeeeeeeeeeULL, q->__reserved[0]) TH_LOG("written beyond the size");
	EXPECT_EQ(0, acl_raw_free(self->fd, h));
	EXPECT_UNCHANGED();
}

TEST_F(abi, size_below_the_first_version_is_refused)
{
	for (int w = 0; w < IOC_NR; w++) {
		const uint32_t sizes[] = { 0, 4, 8, iocs[w].first - 8, iocs[w].first - 4,
					   iocs[w].first - 1 };

		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			valid_arg(w, self->buf, sizes[i], self->handle);
			EXPECT_EQ(-EINVAL, acl_ioctl(self->fd, iocs[w].cmd, self->buf))
				TH_LOG("%s with size %u (first version %u)", iocs[w].name, sizes[i],
				       iocs[w].first);
			EXPECT_UNCHANGED();
		}
	}
	EXPECT_HANDLE_ALIVE();
}

TEST_F(abi, larger_size_with_zero_tail_is_accepted)
{
	for (int w = 0; w < IOC_NR; w++) {
		const uint32_t sizes[] = { iocs[w].size + 4, iocs[w].size + 8, iocs[w].size + 64, 4096 };

		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			uint32_t h = self->handle;

			memset(self->buf, 0, BUF_SIZE);
			if (w == IOC_FREE) {
				ASSERT_EQ(0, acl_raw_alloc(self->fd, acl_page_size(), 12,
							   ACL_SHARE_LOC_HOST, 0, &h, NULL));
			}
			valid_arg(w, self->buf, sizes[i], h);
			EXPECT_EQ(0, acl_ioctl(self->fd, iocs[w].cmd, self->buf))
				TH_LOG("%s with size %u and a zero tail", iocs[w].name, sizes[i]);
			if (w == IOC_ALLOC) {
				EXPECT_EQ(0, undo_alloc(self->fd, self->buf));
			} else if (w == IOC_INFO) {
				EXPECT_EQ((uint32_t)getpid(),
					  ((struct acl_share_info *)self->buf)->out_bare_tgid);
			} else if (w == IOC_QUERY) {
				EXPECT_EQ((uint64_t)SZ_2M,
					  ((struct acl_share_query *)self->buf)->out_length);
			}
			EXPECT_UNCHANGED();
		}
	}
	EXPECT_HANDLE_ALIVE();
}

TEST_F(abi, larger_size_with_non_zero_tail_is_refused)
{
	for (int w = 0; w < IOC_NR; w++) {
		const uint32_t sizes[] = { iocs[w].size + 1, iocs[w].size + 8, 4096 };

		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			/* a non-zero byte first right after the struct, then at the end */
			for (int at_end = 0; at_end < 2; at_end++) {
				memset(self->buf, 0, BUF_SIZE);
				valid_arg(w, self->buf, sizes[i], self->handle);
				self->buf[at_end ? sizes[i] - 1 : iocs[w].size] = 0x01;
				EXPECT_EQ(-E2BIG, acl_ioctl(self->fd, iocs[w].cmd, self->buf))
					TH_LOG("%s with size %u, non-zero byte at %u", iocs[w].name,
					       sizes[i], at_end ? sizes[i] - 1 : iocs[w].size);
				EXPECT_UNCHANGED();
			}
		}
	}
	EXPECT_HANDLE_ALIVE();
}

/*
 * COPY moves bytes of a remote import only (docs/fabric.md): a handle of
 * this server's memory gives -EOPNOTSUPP, an unknown one -ENOENT, unknown
 * flags, a non-zero reserved field, an unknown operation, a fill value above
 * 255, a value for READ or a buffer for FILL -EINVAL, checked before the
 * handle is looked up. Nothing moves.
 */
TEST_F(abi, copy_refuses_what_is_not_a_remote_import)
{
	unsigned char host[64];
	const struct {
		struct acl_share_copy c;
		int err;
	} cases[] = {
		{ { .handle = 0, .op = ACL_SHARE_COPY_READ, .length = 8 }, -EOPNOTSUPP },
		{ { .handle = 0x7fffffff, .op = ACL_SHARE_COPY_READ, .length = 8 }, -ENOENT },
		{ { .handle = 0, .op = ACL_SHARE_COPY_FILL + 1, .length = 8 }, -EINVAL },
		{ { .handle = 0, .op = ACL_SHARE_COPY_FILL, .length = 8, .value = 256 }, -EINVAL },
		{ { .handle = 0, .op = ACL_SHARE_COPY_READ, .length = 8, .flags = 1 }, -EINVAL },
		{ { .handle = 0, .op = ACL_SHARE_COPY_READ, .length = 8, .__reserved = 1 }, -EINVAL },
		/* what the op does not use must be 0: a value for READ, a buffer for FILL */
		{ { .handle = 0, .op = ACL_SHARE_COPY_READ, .length = 8, .value = 1 }, -EINVAL },
		{ { .handle = 0, .op = ACL_SHARE_COPY_FILL, .length = 8, .uptr = 1 }, -EINVAL },
	};

	memset(host, 0xa5, sizeof(host));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct acl_share_copy c = cases[i].c;

		c.size = sizeof(c);
		if (!c.handle)
			c.handle = self->handle;
		if (c.op != ACL_SHARE_COPY_FILL)
			c.uptr = (uintptr_t)host;
		EXPECT_EQ(cases[i].err, acl_ioctl(self->fd, ACL_SHARE_IOC_COPY, &c))
			TH_LOG("case %zu", i);
		EXPECT_UNCHANGED();
	}
	for (size_t i = 0; i < sizeof(host); i++)
		ASSERT_EQ(0xa5, host[i]);
	EXPECT_HANDLE_ALIVE();
}

TEST_F(abi, unknown_ioctl_numbers_are_refused)
{
	const unsigned long cmds[] = {
		_IOWR(ACL_SHARE_IOC_TYPE, 0x0a, struct acl_share_info),
		_IOWR(ACL_SHARE_IOC_TYPE, 0x09, struct acl_share_alloc),
		_IOWR(ACL_SHARE_IOC_TYPE, 0x3f, struct acl_share_alloc),
		_IOWR(ACL_SHARE_IOC_TYPE, 0xff, struct acl_share_query),
		_IO(ACL_SHARE_IOC_TYPE, 0x20),
		/* known numbers with another direction are other ioctls */
		_IO(ACL_SHARE_IOC_TYPE, 0x01),
		_IOR(ACL_SHARE_IOC_TYPE, 0x01, struct acl_share_alloc),
		_IOW(ACL_SHARE_IOC_TYPE, 0x01, struct acl_share_alloc),
		/* another type */
		_IOWR(ACL_SHARE_IOC_TYPE - 1, 0x00, struct acl_share_info),
		_IOWR(ACL_SHARE_IOC_TYPE + 1, 0x01, struct acl_share_alloc),
		0,
		0xffffffffUL,
	};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		memset(self->buf, 0, BUF_SIZE);
		valid_arg(IOC_ALLOC, self->buf, sizeof(struct acl_share_alloc), 0);
		EXPECT_EQ(-ENOTTY, acl_ioctl(self->fd, cmds[i], self->buf)) TH_LOG("cmd %#lx", cmds[i]);
		EXPECT_UNCHANGED();
	}
}

/*
 * The size bits of _IOWR change when a struct grows, so the kernel ignores
 * them: a program built with an older or newer header still reaches the
 * same ioctl, and the size field says which version of the struct it uses.
 */
TEST_F(abi, command_size_bits_do_not_matter)
{
	const unsigned long cmds[] = {
		_IOWR(ACL_SHARE_IOC_TYPE, 0x01, struct acl_share_info),
		_IOWR(ACL_SHARE_IOC_TYPE, 0x01, __u64),
		_IOWR(ACL_SHARE_IOC_TYPE, 0x01, char[_IOC_SIZEMASK]),
	};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		struct acl_share_alloc *a = (struct acl_share_alloc *)self->buf;

		memset(self->buf, 0, BUF_SIZE);
		valid_arg(IOC_ALLOC, self->buf, sizeof(struct acl_share_alloc), 0);
		ASSERT_EQ(0, acl_ioctl(self->fd, cmds[i], self->buf)) TH_LOG("cmd %#lx", cmds[i]);
		EXPECT_NE(0U, a->out_handle);
		EXPECT_EQ(0, acl_raw_free(self->fd, a->out_handle));
		EXPECT_UNCHANGED();
	}
}

/*
 * A struct larger than 4096 bytes (the ABI's limit, whatever the page
 * size) is refused before its tail is read.
 */
TEST_F(abi, sizes_above_a_page_are_refused)
{
	char *big = calloc(1, 2 * SZ_4K);

	ASSERT_NE(NULL, big);
	valid_arg(IOC_ALLOC, big, SZ_4K + 1, 0);
	EXPECT_EQ(-E2BIG, acl_ioctl(self->fd, ACL_SHARE_IOC_ALLOC, big));
	EXPECT_UNCHANGED();
	valid_arg(IOC_ALLOC, big, SZ_4K, 0);
	EXPECT_EQ(0, acl_ioctl(self->fd, ACL_SHARE_IOC_ALLOC, big));
	EXPECT_EQ(0, acl_raw_free(self->fd, ((struct acl_share_alloc *)big)->out_handle));
	EXPECT_UNCHANGED();
	free(big);
}

TEST_F(abi, bad_user_pointers_are_refused)
{
	const size_t page = acl_page_size();
	void *unmapped, *ro;
	const void *kernel[] = {
		(void *)0xffff888000000000UL, /* x86_64 direct map */
		(void *)0xffff000000000000UL, /* arm64 linear map */
		(void *)~0UL,
	};

	ro = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	/* Nothing is mapped after this, so the hole stays a hole. */
	unmapped = mmap(NULL, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, unmapped);
	ASSERT_EQ(0, munmap(unmapped, page));

	for (int w = 0; w < IOC_NR; w++) {
		const uint32_t sz = iocs[w].size;
		unsigned char *end = self->buf + BUF_SIZE; /* a PROT_NONE page follows */

		EXPECT_EQ(-EFAULT, acl_ioctl(self->fd, iocs[w].cmd, NULL)) TH_LOG("%s NULL", iocs[w].name);
		EXPECT_EQ(-EFAULT, acl_ioctl(self->fd, iocs[w].cmd, unmapped))
			TH_LOG("%s unmapped", iocs[w].name);
		EXPECT_EQ(-EFAULT, acl_ioctl(self->fd, iocs[w].cmd, self->buf + BUF_SIZE))
			TH_LOG("%s in a PROT_NONE page", iocs[w].name);
		for (size_t k = 0; k < sizeof(kernel) / sizeof(kernel[0]); k++) {
			EXPECT_EQ(-EFAULT, acl_ioctl(self->fd, iocs[w].cmd, (void *)kernel[k]))
				TH_LOG("%s at %p", iocs[w].name, kernel[k]);
		}
		EXPECT_UNCHANGED();

		/* The struct runs into the PROT_NONE page. */
		memcpy(end - 8, (const uint32_t[2]){ sz, 0 }, 8); /* only size and flags readable */
		EXPECT_EQ(-EFAULT, acl_ioctl(self->fd, iocs[w].cmd, end - 8))
			TH_LOG("%s crossing into an unmapped page", iocs[w].name);
		/* The struct fits, the declared larger size does not. */
		valid_arg(w, end - sz, sz + 16, self->handle);
		EXPECT_EQ(-EFAULT, acl_ioctl(self->fd, iocs[w].cmd, end - sz))
			TH_LOG("%s whose tail is unmapped", iocs[w].name);
		EXPECT_UNCHANGED();

		/* Readable but not writable: the result cannot be written back. */
		if (iocs[w].writes_back) {
			ASSERT_EQ(0, mprotect(ro, page, PROT_READ | PROT_WRITE));
			valid_arg(w, ro, sz, self->handle);
			ASSERT_EQ(0, mprotect(ro, page, PROT_READ));
			EXPECT_EQ(-EFAULT, acl_ioctl(self->fd, iocs[w].cmd, ro))
				TH_LOG("%s in a read-only page", iocs[w].name);
			EXPECT_UNCHANGED();
		}
	}
	munmap(ro, page);
	EXPECT_HANDLE_ALIVE();
}

TEST_F(abi, alloc_rejects_bad_values)
{
	const size_t page = acl_page_size();
	unsigned long long count = 0;
	const struct {
		uint64_t length;
		uint32_t attr, loc, id;
		int err;
		const char *what;
	} *c, cases[] = {
		{ 0, 12, ACL_SHARE_LOC_HOST, 0, -EINVAL, "length 0" },
		{ page + 1, 12, ACL_SHARE_LOC_HOST, 0, -EINVAL, "length not a page multiple" },
		{ 100, 12, ACL_SHARE_LOC_HOST, 0, -EINVAL, "length below a page" },
		{ page, 13, ACL_SHARE_LOC_HOST, 0, -EINVAL, "huge length not a 2 MiB multiple" },
		{ page, 4, ACL_SHARE_LOC_DEVICE, 0, -EINVAL, "device length not a 2 MiB multiple" },
		{ SZ_2M, 14, ACL_SHARE_LOC_HOST, 0, -EINVAL, "1G length not a 1 GiB multiple" },
		{ SZ_2M, ACL_SHARE_MEM_ATTR_MAX + 1, ACL_SHARE_LOC_HOST, 0, -EINVAL, "mem_attr 18" },
		{ SZ_2M, ~0U, ACL_SHARE_LOC_HOST, 0, -EINVAL, "mem_attr ~0" },
		{ SZ_2M, 13, 2, 0, -EINVAL, "location UNREGISTERED" },
		{ SZ_2M, 13, 3, 0, -EINVAL, "location MANAGED" },
		{ SZ_2M, 13, 5, 0, -EINVAL, "location 5" },
		{ SZ_2M, 13, ~0U, 0, -EINVAL, "location ~0" },
		{ SZ_2M, 0, ACL_SHARE_LOC_DEVICE, 0, -EINVAL, "ACL_DDR_MEM on a device" },
		{ SZ_2M, 2, ACL_SHARE_LOC_DEVICE, 0, -EINVAL, "ACL_DDR_MEM_HUGE on a device" },
		{ SZ_2M, 3, ACL_SHARE_LOC_DEVICE, 0, -EINVAL, "ACL_DDR_MEM_NORMAL on a device" },
		{ SZ_2M, 6, ACL_SHARE_LOC_DEVICE, 0, -EINVAL, "ACL_DDR_MEM_P2P_HUGE on a device" },
		{ SZ_2M, 7, ACL_SHARE_LOC_DEVICE, 0, -EINVAL, "ACL_DDR_MEM_P2P_NORMAL on a device" },
		{ SZ_2M, 12, ACL_SHARE_LOC_HOST_NUMA, 4095, -EINVAL, "offline NUMA node" },
		{ SZ_2M, 12, ACL_SHARE_LOC_HOST_NUMA, ~0U, -EINVAL, "NUMA node ~0" },
		{ SZ_2M, 4, ACL_SHARE_LOC_DEVICE, ~0U, -ENODEV, "device ~0" },
		{ 1ULL << 40, 12, ACL_SHARE_LOC_HOST, 0, -ENOMEM, "1 TiB of base pages" },
		{ 1ULL << 40, 13, ACL_SHARE_LOC_HOST, 0, -ENOMEM, "1 TiB of 2 MiB chunks" },
		{ 1ULL << 40, 4, ACL_SHARE_LOC_DEVICE, 0, -ENOMEM, "1 TiB on a device" },
	};
	struct acl_share_alloc *a = (void *)self->buf;
	int ret;

	for (c = cases; c < cases + sizeof(cases) / sizeof(cases[0]); c++) {
		memset(a, 0, sizeof(*a));
		a->size = sizeof(*a);
		a->length = c->length;
		a->mem_attr = c->attr;
		a->location_type = c->loc;
		a->location_id = c->id;
		EXPECT_EQ(c->err, acl_ioctl(self->fd, ACL_SHARE_IOC_ALLOC, a)) TH_LOG("%s", c->what);
		EXPECT_UNCHANGED();
	}

	/* The first device index past device_count. */
	ASSERT_EQ(0, acl_read_param("device_count", &count));
	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	a->length = SZ_2M;
	a->mem_attr = 4;
	a->location_type = ACL_SHARE_LOC_DEVICE;
	a->location_id = (uint32_t)count;
	EXPECT_EQ(-ENODEV, acl_ioctl(self->fd, ACL_SHARE_IOC_ALLOC, a));

	/* A length that overflows any page count: a clean error, nothing held. */
	a->location_id = 0;
	a->length = ~(SZ_2M - 1) & ~0ULL;
	ret = acl_ioctl(self->fd, ACL_SHARE_IOC_ALLOC, a);
	EXPECT_TRUE(ret == -ENOMEM || ret == -EINVAL) TH_LOG("length %#llx: %d", (unsigned long long)a->length, ret);
	EXPECT_UNCHANGED();
}

TEST_F(abi, free_and_query_reject_unknown_handles)
{
	const uint32_t bad[] = { 0, self->handle + 1000, 0x7fffffff, ~0U };
	struct acl_share_query q;
	uint32_t h = 0;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		EXPECT_EQ(-ENOENT, acl_raw_free(self->fd, bad[i])) TH_LOG("FREE %u", bad[i]);
		EXPECT_EQ(-ENOENT, acl_raw_query(self->fd, bad[i], &q)) TH_LOG("QUERY %u", bad[i]);
		EXPECT_UNCHANGED();
	}
	ASSERT_EQ(0, acl_raw_alloc(self->fd, acl_page_size(), 12, ACL_SHARE_LOC_HOST, 0, &h, NULL));
	ASSERT_EQ(0, acl_raw_free(self->fd, h));
	EXPECT_EQ(-ENOENT, acl_raw_free(self->fd, h));
	EXPECT_EQ(-ENOENT, acl_raw_query(self->fd, h, &q));
	EXPECT_UNCHANGED();
	EXPECT_HANDLE_ALIVE();
}

TEST_F(abi, query_reports_the_allocation)
{
	const uint32_t page = (uint32_t)acl_page_size();
	const struct {
		uint64_t length;
		uint32_t attr, loc, id, page;
	} cases[] = {
		{ 3 * page, 12, ACL_SHARE_LOC_HOST, 0, page },            /* ACL_MEM_NORMAL */
		{ 2 * SZ_2M, 13, ACL_SHARE_LOC_HOST, 0, SZ_2M },          /* ACL_MEM_HUGE */
		{ SZ_2M, 1, ACL_SHARE_LOC_DEVICE, 0, SZ_2M },             /* ACL_HBM_MEM */
		{ SZ_2M, 5, ACL_SHARE_LOC_DEVICE, 0, page },              /* ACL_HBM_MEM_NORMAL */
		{ SZ_2M, 0, ACL_SHARE_LOC_HOST, 0, SZ_2M },               /* ACL_DDR_MEM */
		{ page, 3, ACL_SHARE_LOC_HOST_NUMA, 0, page },            /* ACL_DDR_MEM_NORMAL */
	};
	uint32_t handles[sizeof(cases) / sizeof(cases[0])];
	uint64_t offsets[sizeof(cases) / sizeof(cases[0])];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct acl_share_query q;

		ASSERT_EQ(0, acl_raw_alloc(self->fd, cases[i].length, cases[i].attr, cases[i].loc,
					   cases[i].id, &handles[i], &offsets[i]))
			TH_LOG("case %zu", i);
		EXPECT_NE(0U, handles[i]);
		EXPECT_NE(self->handle, handles[i]);
		EXPECT_NE(self->offset, offsets[i]);
		EXPECT_EQ(0ULL, offsets[i] % page);
		for (size_t j = 0; j < i; j++) {
			EXPECT_NE(handles[j], handles[i]);
			EXPECT_NE(offsets[j], offsets[i]);
		}
		ASSERT_EQ(0, acl_raw_query(self->fd, handles[i], &q));
		EXPECT_EQ(0U, q.out_flags);
		EXPECT_EQ(cases[i].length, q.out_length);
		EXPECT_EQ(cases[i].attr, q.out_mem_attr);
		EXPECT_EQ(cases[i].loc, q.out_location_type);
		if (cases[i].loc != ACL_SHARE_LOC_HOST) {
			EXPECT_EQ(cases[i].id, q.out_location_id);
		}
		EXPECT_EQ(cases[i].page, q.out_page_size) TH_LOG("case %zu (mem_attr %u)", i, cases[i].attr);
		EXPECT_EQ(offsets[i], q.out_mmap_offset);
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		EXPECT_EQ(0, acl_raw_free(self->fd, handles[i]));
	}
	EXPECT_UNCHANGED();
}

TEST_F(abi, mmap_rules)
{
	const size_t page = acl_page_size();
	const int prot = PROT_READ | PROT_WRITE;
	const off_t off = (off_t)self->offset;
	uint32_t dead = 0;
	uint64_t dead_off = 0;
	const struct {
		size_t len;
		int flags;
		off_t off;
		const char *what;
	} *c, cases[] = {
		{ SZ_2M / 2, MAP_SHARED, off, "half the length" },
		{ SZ_2M - page, MAP_SHARED, off, "one page short" },
		{ SZ_2M + page, MAP_SHARED, off, "one page more" },
		{ 2 * SZ_2M, MAP_SHARED, off, "twice the length" },
		{ SZ_2M, MAP_PRIVATE, off, "MAP_PRIVATE" },
		{ SZ_2M - page, MAP_SHARED, off + (off_t)page, "an offset inside the allocation" },
		{ SZ_2M, MAP_SHARED, off + (off_t)page, "an offset inside, full length" },
		{ SZ_2M, MAP_SHARED, off + (off_t)(1ULL << 40), "an offset no allocation has" },
	};
	void *p;

	for (c = cases; c < cases + sizeof(cases) / sizeof(cases[0]); c++) {
		p = mmap(NULL, c->len, prot, c->flags, self->fd, c->off);
		EXPECT_EQ(MAP_FAILED, p) TH_LOG("mmap with %s", c->what);
		if (p != MAP_FAILED)
			munmap(p, c->len);
		EXPECT_UNCHANGED();
	}

	/* The offset of a freed allocation maps nothing. */
	ASSERT_EQ(0, acl_raw_alloc(self->fd, SZ_2M, 13, ACL_SHARE_LOC_HOST, 0, &dead, &dead_off));
	ASSERT_EQ(0, acl_raw_free(self->fd, dead));
	p = mmap(NULL, SZ_2M, prot, MAP_SHARED, self->fd, (off_t)dead_off);
	EXPECT_EQ(MAP_FAILED, p) TH_LOG("mmap of a freed allocation");
	if (p != MAP_FAILED)
		munmap(p, SZ_2M);
	EXPECT_UNCHANGED();

	/* The right length, MAP_SHARED, the reported offset: works, and the
	 * allocation outlives FREE while mapped. */
	p = mmap(NULL, SZ_2M, prot, MAP_SHARED, self->fd, off);
	ASSERT_NE(MAP_FAILED, p) TH_LOG("mmap: %s", strerror(errno));
	EXPECT_COUNTER_DELTA(self->base, ACL_CNT_MAPPINGS, 1);
	memset(p, 0x66, SZ_2M);
	ASSERT_EQ(0, acl_raw_free(self->fd, self->handle));
	EXPECT_COUNTER_DELTA(self->base, ACL_CNT_ALLOCATIONS, 0);
	EXPECT_COUNTER_DELTA(self->base, ACL_CNT_HANDLES, -1);
	EXPECT_EQ(SZ_2M, first_diff_byte(p, SZ_2M, 0x66));
	ASSERT_EQ(0, munmap(p, SZ_2M));
	EXPECT_COUNTER_DELTA(self->base, ACL_CNT_ALLOCATIONS, -1);
	EXPECT_COUNTER_DELTA(self->base, ACL_CNT_MAPPINGS, 0);
}

TEST_HARNESS_MAIN
