/* SPDX-License-Identifier: MIT */
/*
 * device.c - the process's descriptor of /dev/acl_share (opened lazily,
 * forgotten in fork() children), device ids, the per-thread current device,
 * aclInit/aclFinalize.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define DEV_PATH "/dev/acl_share"

static pthread_mutex_t dev_lock = PTHREAD_MUTEX_INITIALIZER;
static int dev_fd = -1;		/* protected by dev_lock */
/*
 * What ACL_SHARE_IOC_INFO said when dev_fd was opened (protected by
 * dev_lock): nothing in it changes while the descriptor is open (the
 * module's parameters are read-only once it is loaded, and it cannot be
 * unloaded while open), so the calls that check a device id make no ioctl
 * of their own.
 */
static struct acl_share_info dev_info;
static bool acl_initialized;	/* protected by dev_lock */

static __thread int32_t current_device = -1;

int shim_ioctl(int fd, unsigned long req, void *arg)
{
	int ret;

	do {
		ret = ioctl(fd, req, arg);
	} while (ret < 0 && errno == EINTR);
	return ret < 0 ? errno : 0;
}

static aclError open_failed(const char *fn, int err)
{
	char eb[SHIM_ERRSTR_LEN];

	switch (err) {
	case ENOENT:
		return shim_fail(ACL_ERROR_RT_NO_DEVICE,
				 "%s: the acl_share kernel module is not loaded (" DEV_PATH " missing)",
				 fn);
	case ENXIO:
	case ENODEV:
		return shim_fail(ACL_ERROR_RT_NO_DEVICE,
				 "%s: " DEV_PATH " exists but no acl_share driver is behind it "
				 "(is the module loaded?): %s", fn, shim_errno_str(err, eb, sizeof(eb)));
	case ENOMEM:
		return shim_fail(ACL_ERROR_RT_MEMORY_ALLOCATION,
				 "%s: cannot open " DEV_PATH ": out of memory: %s", fn,
				 shim_errno_str(err, eb, sizeof(eb)));
	case EACCES:
	case EPERM:
		return shim_fail(ACL_ERROR_RT_NO_PERMISSION,
				 "%s: no permission to open " DEV_PATH " read-write: %s", fn,
				 shim_errno_str(err, eb, sizeof(eb)));
	default:
		return shim_fail(ACL_ERROR_RT_DRV_INTERNAL_ERROR, "%s: cannot open " DEV_PATH ": %s",
				 fn, shim_errno_str(err, eb, sizeof(eb)));
	}
}

/* Called with dev_lock held. */
static aclError dev_fd_locked(const char *fn, int *fd)
{
	char eb[SHIM_ERRSTR_LEN];

	if (dev_fd < 0) {
		int nfd = open(DEV_PATH, O_RDWR | O_CLOEXEC), err;

		if (nfd < 0)
			return open_failed(fn, errno);
		dev_info = (struct acl_share_info){ .size = sizeof(dev_info) };
		err = shim_ioctl(nfd, ACL_SHARE_IOC_INFO, &dev_info);
		if (err) {
			close(nfd);
			return shim_fail(ACL_ERROR_RT_DRV_INTERNAL_ERROR,
					 "%s: the acl_share module rejected ACL_SHARE_IOC_INFO: %s "
					 "(library and module versions differ?)",
					 fn, shim_errno_str(err, eb, sizeof(eb)));
		}
		dev_fd = nfd;
	}
	*fd = dev_fd;
	return ACL_SUCCESS;
}

aclError shim_dev_fd(const char *fn, int *fd)
{
	aclError ret;

	pthread_mutex_lock(&dev_lock);
	ret = dev_fd_locked(fn, fd);
	pthread_mutex_unlock(&dev_lock);
	return ret;
}

aclError shim_dev_info(const char *fn, struct acl_share_info *info)
{
	aclError ret;
	int fd;

	pthread_mutex_lock(&dev_lock);
	ret = dev_fd_locked(fn, &fd);
	if (!ret)
		*info = dev_info;
	pthread_mutex_unlock(&dev_lock);
	return ret;
}

aclError shim_check_device(const char *fn, const char *what, int64_t id)
{
	struct acl_share_info info;
	aclError ret;

	if (id < 0)
		return shim_fail(ACL_ERROR_RT_INVALID_DEVICEID, "%s: %s %lld is negative", fn, what,
				 (long long)id);
	ret = shim_dev_info(fn, &info);
	if (ret)
		return ret;
	if (id >= (int64_t)info.out_device_count)
		return shim_fail(ACL_ERROR_RT_INVALID_DEVICEID,
				 "%s: %s %lld is not below the device count %u", fn, what,
				 (long long)id, info.out_device_count);
	return ACL_SUCCESS;
}

int32_t shim_current_device(void)
{
	return current_device;
}

/* ---- fork ---- */

static void atfork_prepare(void)
{
	shim_ipc_lock();
	shim_devmem_lock();
	shim_rt_lock();
	shim_va_lock();
	shim_handles_lock();
	pthread_mutex_lock(&dev_lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&dev_lock);
	shim_handles_unlock();
	shim_va_unlock();
	shim_rt_unlock();
	shim_devmem_unlock();
	shim_ipc_unlock();
}

/*
 * The child starts like a fresh process: it forgets the parent's handles,
 * mappings and reservations (unmapping the inherited reservation ranges) and
 * the inherited descriptor, which the module would refuse anyway (-EACCES).
 */
static void atfork_child(void)
{
	if (dev_fd >= 0) {
		close(dev_fd);
		dev_fd = -1;
	}
	pthread_mutex_unlock(&dev_lock);
	shim_handles_forget_child();
	shim_handles_unlock();
	shim_va_forget_child();
	shim_va_unlock();
	shim_rt_unlock();
	shim_devmem_forget_child();
	shim_devmem_unlock();
	shim_ipc_forget_child();
	shim_ipc_unlock();
}

__attribute__((constructor)) static void shim_register_atfork(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* ---- aclInit / aclFinalize ---- */

aclError aclInit(const char *configPath)
{
	char eb[SHIM_ERRSTR_LEN];
	aclError ret = ACL_SUCCESS;

	pthread_mutex_lock(&dev_lock);
	if (acl_initialized) {
		ret = shim_fail(ACL_ERROR_REPEAT_INITIALIZE,
				"aclInit: already initialised (call aclFinalize first)");
		goto out;
	}
	if (configPath && configPath[0] != '\0') {
		struct stat st;
		int fd = open(configPath, O_RDONLY | O_CLOEXEC);

		if (fd < 0) {
			ret = shim_fail(ACL_ERROR_INVALID_PARAM,
					"aclInit: configPath \"%s\" cannot be opened: %s", configPath,
					shim_errno_str(errno, eb, sizeof(eb)));
			goto out;
		}
		if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
			close(fd);
			ret = shim_fail(ACL_ERROR_INVALID_PARAM,
					"aclInit: configPath \"%s\" is a directory, not a file",
					configPath);
			goto out;
		}
		close(fd);
	}
	acl_initialized = true;
out:
	pthread_mutex_unlock(&dev_lock);
	return ret;
}

aclError aclFinalize(void)
{
	bool was;

	pthread_mutex_lock(&dev_lock);
	was = acl_initialized;
	acl_initialized = false;
	pthread_mutex_unlock(&dev_lock);
	if (!was)
		return shim_fail(ACL_ERROR_UNINITIALIZE, "aclFinalize: aclInit has not been called");
	shim_rt_destroy_all_streams();
	return ACL_SUCCESS;
}

/* ---- devices ---- */

aclError aclrtSetDevice(int32_t deviceId)
{
	aclError ret = shim_check_device("aclrtSetDevice", "deviceId", deviceId);

	if (ret)
		return ret;
	current_device = deviceId;
	return ACL_SUCCESS;
}

aclError aclrtGetDevice(int32_t *deviceId)
{
	if (!deviceId)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "aclrtGetDevice: deviceId is NULL");
	if (current_device < 0)
		return shim_fail(ACL_ERROR_RT_CONTEXT_NULL,
				 "aclrtGetDevice: no current device on this thread (call aclrtSetDevice first)");
	*deviceId = current_device;
	return ACL_SUCCESS;
}

static aclError reset_device(const char *fn, int32_t deviceId)
{
	aclError ret = shim_check_device(fn, "deviceId", deviceId);

	if (ret)
		return ret;
	if (current_device == deviceId)
		current_device = -1;
	return ACL_SUCCESS;
}

aclError aclrtResetDevice(int32_t deviceId)
{
	return reset_device("aclrtResetDevice", deviceId);
}

aclError aclrtResetDeviceForce(int32_t deviceId)
{
	return reset_device("aclrtResetDeviceForce", deviceId);
}

aclError aclrtGetDeviceCount(uint32_t *count)
{
	struct acl_share_info info;
	aclError ret;

	if (!count)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "aclrtGetDeviceCount: count is NULL");
	ret = shim_dev_info("aclrtGetDeviceCount", &info);
	if (ret)
		return ret;
	*count = info.out_device_count;
	return ACL_SUCCESS;
}

aclError aclrtDeviceGetBareTgid(int32_t *pid)
{
	struct acl_share_info info;
	aclError ret;

	if (!pid)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "aclrtDeviceGetBareTgid: pid is NULL");
	ret = shim_dev_info("aclrtDeviceGetBareTgid", &info);
	if (ret)
		return ret;
	*pid = (int32_t)info.out_bare_tgid;
	return ACL_SUCCESS;
}
