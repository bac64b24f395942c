/* SPDX-License-Identifier: MIT */
/*
 * runtime.c - the minimal runtime around the sharing calls: synchronous
 * streams, host memory, copies and memset. Memory is host RAM, so a copy is
 * a real memcpy that has completed when the call returns.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct stream {
	unsigned long magic;
};

#define STREAM_MAGIC 0x53545245414d5348UL
#define HOST_ALIGN 4096

static pthread_mutex_t rt_lock = PTHREAD_MUTEX_INITIALIZER;
static struct stream **streams;
static size_t n_streams, cap_streams;
static void **hosts;
static size_t n_hosts, cap_hosts;

void shim_rt_lock(void)
{
	pthread_mutex_lock(&rt_lock);
}

void shim_rt_unlock(void)
{
	pthread_mutex_unlock(&rt_lock);
}


/* With rt_lock held: the registry index of s, or n_streams. */
static size_t stream_index(aclrtStream s)
{
	size_t i;

	for (i = 0; i < n_streams; i++)
		if (streams[i] == s)
			break;
	return i;
}

void shim_rt_destroy_all_streams(void)
{
	pthread_mutex_lock(&rt_lock);
	for (size_t i = 0; i < n_streams; i++)
		free(streams[i]);
	shim_drop((void **)&streams, &n_streams, &cap_streams);
	pthread_mutex_unlock(&rt_lock);
}

aclError aclrtCreateStream(aclrtStream *stream)
{
	static const char fn[] = "aclrtCreateStream";
	struct stream *s;

	if (!stream)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: stream is NULL", fn);
	s = malloc(sizeof(*s));
	if (!s)
		return shim_fail(ACL_ERROR_RT_MEMORY_ALLOCATION, "%s: out of memory", fn);
	s->magic = STREAM_MAGIC;
	pthread_mutex_lock(&rt_lock);
	if (!shim_grow((void **)&streams, &cap_streams, n_streams, sizeof(*streams))) {
		pthread_mutex_unlock(&rt_lock);
		free(s);
		return shim_fail(ACL_ERROR_RT_MEMORY_ALLOCATION,
				 "%s: out of memory for the stream registry", fn);
	}
	streams[n_streams++] = s;
	pthread_mutex_unlock(&rt_lock);
	*stream = s;
	return ACL_SUCCESS;
}

static aclError destroy_stream(const char *fn, aclrtStream stream)
{
	struct stream *s;
	size_t i;

	if (!stream)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: stream is NULL", fn);
	pthread_mutex_lock(&rt_lock);
	i = stream_index(stream);
	if (i == n_streams) {
		pthread_mutex_unlock(&rt_lock);
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
				 "%s: stream %p is not a live stream of this process", fn, stream);
	}
	s = streams[i];
	streams[i] = streams[--n_streams];
	if (n_streams == 0)
		shim_drop((void **)&streams, &n_streams, &cap_streams);
	pthread_mutex_unlock(&rt_lock);
	free(s);
	return ACL_SUCCESS;
}

aclError aclrtDestroyStream(aclrtStream stream)
{
	return destroy_stream("aclrtDestroyStream", stream);
}

aclError aclrtDestroyStreamForce(aclrtStream stream)
{
	return destroy_stream("aclrtDestroyStreamForce", stream);
}

/*
 * Streams are synchronous: a synchronization, an asynchronous copy or a
 * memset is done when the call returns, on a live stream or the default one
 * (NULL).
 */
static aclError check_stream(const char *fn, aclrtStream stream)
{
	bool live;

	if (!stream)
		return ACL_SUCCESS;
	pthread_mutex_lock(&rt_lock);
	live = stream_index(stream) < n_streams;
	pthread_mutex_unlock(&rt_lock);
	if (!live)
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
				 "%s: stream %p is not a live stream of this process", fn, stream);
	return ACL_SUCCESS;
}

aclError aclrtSynchronizeStream(aclrtStream stream)
{
	return check_stream("aclrtSynchronizeStream", stream);
}

aclError aclrtMallocHost(void **hostPtr, size_t size)
{
	static const char fn[] = "aclrtMallocHost";
	void *p;
	int err;

	if (!hostPtr)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: hostPtr is NULL", fn);
	if (size == 0)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: size is 0", fn);
	err = posix_memalign(&p, HOST_ALIGN, size);
	if (err)
		return shim_fail(ACL_ERROR_RT_MEMORY_ALLOCATION,
				 "%s: cannot allocate %zu bytes of host memory", fn, size);
	pthread_mutex_lock(&rt_lock);
	if (!shim_grow((void **)&hosts, &cap_hosts, n_hosts, sizeof(*hosts))) {
		pthread_mutex_unlock(&rt_lock);
		free(p);
		return shim_fail(ACL_ERROR_RT_MEMORY_ALLOCATION,
				 "%s: out of memory for the host allocation registry", fn);
	}
	hosts[n_hosts++] = p;
	pthread_mutex_unlock(&rt_lock);
	*hostPtr = p;
	return ACL_SUCCESS;
}

aclError aclrtFreeHost(void *hostPtr)
{
	size_t i;

	if (!hostPtr)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "aclrtFreeHost: hostPtr is NULL");
	pthread_mutex_lock(&rt_lock);
	for (i = 0; i < n_hosts; i++)
		if (hosts[i] == hostPtr)
			break;
	if (i == n_hosts) {
		pthread_mutex_unlock(&rt_lock);
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
				 "aclrtFreeHost: hostPtr %p was not returned by aclrtMallocHost (or is "
				 "already freed)",
				 hostPtr);
	}
	hosts[i] = hosts[--n_hosts];
	if (n_hosts == 0)
		shim_drop((void **)&hosts, &n_hosts, &cap_hosts);
	pthread_mutex_unlock(&rt_lock);
	free(hostPtr);
	return ACL_SUCCESS;
}

static const char *const kind_names[] = {
	"ACL_MEMCPY_HOST_TO_HOST",	"ACL_MEMCPY_HOST_TO_DEVICE", "ACL_MEMCPY_DEVICE_TO_HOST",
	"ACL_MEMCPY_DEVICE_TO_DEVICE", "ACL_MEMCPY_DEFAULT",
};

aclError aclrtMemcpy(void *dst, size_t destMax, const void *src, size_t count,
		     aclrtMemcpyKind kind)
{
	static const char fn[] = "aclrtMemcpy";
	bool dst_dev, src_dev, remote;
	char what[64];
	aclError ret;

	if (count > destMax)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: count %zu is larger than destMax %zu",
				 fn, count, destMax);
	if (!dst)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: dst is NULL", fn);
	if (!src)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: src is NULL", fn);
	if ((unsigned)kind > ACL_MEMCPY_DEFAULT)
		return shim_fail(ACL_ERROR_INVALID_PARAM,
				 "%s: kind %u is not an aclrtMemcpyKind value (0..4)", fn,
				 (unsigned)kind);
	if (count == 0)
		return ACL_SUCCESS;

	dst_dev = kind == ACL_MEMCPY_HOST_TO_DEVICE || kind == ACL_MEMCPY_DEVICE_TO_DEVICE;
	src_dev = kind == ACL_MEMCPY_DEVICE_TO_HOST || kind == ACL_MEMCPY_DEVICE_TO_DEVICE;
	/*
	 * A device side must lie in one mapping of this process. A host side
	 * that points into a reservation must be mapped too, so that a wrong
	 * pointer gives an error rather than SIGSEGV.
	 */
	snprintf(what, sizeof(what), "dst of %s", kind_names[kind]);
	ret = shim_va_check_range(fn, what, dst, count, dst_dev, !dst_dev, true);
	if (ret)
		return ret;
	snprintf(what, sizeof(what), "src of %s", kind_names[kind]);
	ret = shim_va_check_range(fn, what, src, count, src_dev, !src_dev, false);
	if (ret)
		return ret;
	/* another server's memory: the kernel copies it over RDMA */
	ret = shim_remote_copy(fn, dst, src, count, &remote);
	if (remote)
		return ret;
	memmove(dst, src, count);
	return ACL_SUCCESS;
}

aclError aclrtMemset(void *devPtr, size_t maxCount, int32_t value, size_t count)
{
	static const char fn[] = "aclrtMemset";
	bool remote;
	aclError ret;

	if (!devPtr)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: devPtr is NULL", fn);
	if (count > maxCount)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: count %zu is larger than maxCount %zu",
				 fn, count, maxCount);
	if (count == 0)
		return ACL_SUCCESS;
	ret = shim_va_check_range(fn, "devPtr", devPtr, count, true, true, true);
	if (ret)
		return ret;
	ret = shim_remote_fill(fn, devPtr, value, count, &remote);
	if (remote)
		return ret;
	memset(devPtr, value, count);
	return ACL_SUCCESS;
}

aclError aclrtMemcpyAsync(void *dst, size_t destMax, const void *src, size_t count,
			  aclrtMemcpyKind kind, aclrtStream stream)
{
	aclError ret = check_stream("aclrtMemcpyAsync", stream);

	return ret ? ret : aclrtMemcpy(dst, destMax, src, count, kind);
}

aclError aclrtMemsetAsync(void *devPtr, size_t maxCount, int32_t value, size_t count,
			  aclrtStream stream)
{
	aclError ret = check_stream("aclrtMemsetAsync", stream);

	return ret ? ret : aclrtMemset(devPtr, maxCount, value, count);
}
