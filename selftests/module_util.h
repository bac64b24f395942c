/* SPDX-License-Identifier: GPL-2.0 */
/*
 * module_util.h - unloading and loading acl_share.ko from a test (as root in
 * the VM). The module file is $ACL_SHARE_KO, else /lib/modules/acl_share.ko,
 * else /lib/modules/$(uname -r)/{extra,updates}/acl_share.ko.
 *
 * Include after acl_test_util.h.
 */
#ifndef ACL_MODULE_UTIL_H
#define ACL_MODULE_UTIL_H

#include <sys/syscall.h>
#include <sys/utsname.h>

#define MODULE_NAME "acl_share"
#define MODULE_SYSFS "/sys/module/" MODULE_NAME

static inline int delete_module(const char *name, unsigned int flags)
{
	return syscall(SYS_delete_module, name, flags) ? -errno : 0;
}

static inline bool module_live(void)
{
	char buf[16] = "";
	int fd = open(MODULE_SYSFS "/initstate", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 && !strncmp(buf, "live", 4);
}

/* Finds the module file; returns false if there is none. */
static inline bool ko_path(char *out, size_t len)
{
	const char *env = getenv("ACL_SHARE_KO");
	struct utsname u;

	if (env && *env) {
		snprintf(out, len, "%s", env);
		return access(out, R_OK) == 0;
	}
	snprintf(out, len, "/lib/modules/" MODULE_NAME ".ko");
	if (access(out, R_OK) == 0)
		return true;
	if (uname(&u))
		return false;
	snprintf(out, len, "/lib/modules/%s/extra/" MODULE_NAME ".ko", u.release);
	if (access(out, R_OK) == 0)
		return true;
	snprintf(out, len, "/lib/modules/%s/updates/" MODULE_NAME ".ko", u.release);
	return access(out, R_OK) == 0;
}

/* Loads the module with @params and waits for its device; 0 or -errno. */
static inline int load_module(const char *params)
{
	char path[512];
	int fd, ret;

	if (!ko_path(path, sizeof(path)))
		return -ENOENT;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, params, 0) ? -errno : 0;
	close(fd);
	if (ret)
		return ret;
	/* devtmpfs creates the node asynchronously. */
	for (int i = 0; i < 300; i++) {
		fd = open(ACL_DEV_PATH, O_RDWR | O_CLOEXEC);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		usleep(10 * 1000);
	}
	return -ETIMEDOUT;
}

/* The module's parameters now, as "name=value ..." for load_module(); 0 or -errno. */
static inline int module_params_now(char *out, size_t len)
{
	static const char *const names[] = {
		"device_count", "server_id", "max_exports", "max_pids_per_handle",
	};
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		unsigned long long v = 0;
		int ret = acl_read_param(names[i], &v);

		if (ret)
			return ret;
		used += (size_t)snprintf(out + used, len - used, "%s%s=%llu", used ? " " : "",
					 names[i], v);
	}
	return 0;
}

/*
 * For a fixture setup that unloads the module: it is loaded, nobody has the device open
 * (else it cannot be unloaded), and @params receives its parameters for the reload.
 */
#define ASSERT_MODULE_IDLE(params, len)							\
	do {										\
		unsigned long long __opens = 1;						\
											\
		ASSERT_TRUE(module_live()) TH_LOG("module %s is not loaded", MODULE_NAME); \
		ASSERT_EQ(0, module_params_now(params, len));				\
		ASSERT_EQ(0, acl_read_counter(ACL_CNT_OPENS, &__opens));		\
		ASSERT_EQ(0ULL, __opens)						\
			TH_LOG("someone has %s open: it cannot be unloaded", ACL_DEV_PATH); \
	} while (0)

#endif /* ACL_MODULE_UTIL_H */
