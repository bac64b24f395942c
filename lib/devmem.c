/* SPDX-License-Identifier: MIT */
/*
 * devmem.c - device memory in one step (aclrtMalloc, aclrtMallocAlign32,
 * aclrtFree) and peer access between devices.
 *
 * An aclrtMalloc allocation is what a VMM user would build by hand: a
 * physical allocation of the current device (aclrtMallocPhysical), a
 * reservation of its size (aclrtReserveMemAddress) and the mapping of one
 * onto the other (aclrtMapMem). The pointer is the reservation's start, so
 * it is page aligned (and 2 MiB aligned for huge memory): more than the 64
 * bytes CANN promises. The allocations are kept sorted by pointer, found by
 * binary search.
 *
 * Peer access: every device's memory is host RAM, reachable from every
 * other device, so any two distinct devices can access each other; what
 * Enable/Disable record is only what PeerAccessStatus reports.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define SZ_1M ((size_t)1 << 20)
#define SZ_2M ((size_t)2 << 20)
#define SZ_1G ((size_t)1 << 30)

struct devmem {
	uintptr_t ptr;
	size_t size;			/* mapped: the request rounded up to the granularity */
	size_t granularity;
	aclrtDrvMemHandle handle;
	char key[SHIM_IPC_KEY_LEN];	/* its IPC key (ipc.c), "" if not exported */
	size_t key_size;		/* what the key names, from the start */
	uint64_t key_flags;
};

static pthread_mutex_t devmem_lock = PTHREAD_MUTEX_INITIALIZER;
static struct devmem *allocs;		/* sorted by ptr; protected by devmem_lock */
static size_t n_allocs, cap_allocs;
/*
 * Pointers of imports that aclrtIpcMemClose unmapped (ipc.c): CANN's samples
 * aclrtFree them afterwards, which succeeds once (protected by devmem_lock).
 */
static uintptr_t *closed;
static size_t n_closed, cap_closed;

static bool take_closed(uintptr_t p);

/* Enabled peers: bit p of peers[d] is set when device d enabled access to device p. */
#define MAX_PEER_DEVICES 1024
static uint64_t peers[MAX_PEER_DEVICES][MAX_PEER_DEVICES / 64];	/* protected by devmem_lock */

void shim_devmem_lock(void)
{
	pthread_mutex_lock(&devmem_lock);
}

void shim_devmem_unlock(void)
{
	pthread_mutex_unlock(&devmem_lock);
}

/* The child has none of the parent's mappings (vaspace.c), so none of its allocations. */
void shim_devmem_forget_child(void)
{
	shim_drop((void **)&allocs, &n_allocs, &cap_allocs);
	shim_drop((void **)&closed, &n_closed, &cap_closed);
	memset(peers, 0, sizeof(peers));
}

/* With devmem_lock held: the index of the first allocation whose ptr >= p. */
static size_t devmem_lower_bound(uintptr_t p)
{
	size_t lo = 0, hi = n_allocs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (allocs[mid].ptr < p)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * What an aclrtMemMallocPolicy asks for: the attribute of the first try and,
 * for HUGE_FIRST, of the fallback (0: none). CANN: HUGE_FIRST takes normal
 * pages up to 1 MiB and huge pages above, falling back to normal pages;
 * a value that is not one policy (e.g. with a bandwidth bit) takes huge
 * pages from 2 MiB and normal pages below.
 */
static void policy_attrs(uint32_t policy, size_t size, uint32_t *first, uint32_t *fallback)
{
	*fallback = 0;
	switch (policy) {
	case ACL_MEM_MALLOC_HUGE_FIRST:
	case ACL_MEM_MALLOC_HUGE_FIRST_P2P:
		if (size <= SZ_1M) {
			*first = ACL_HBM_MEM_NORMAL;
		} else {
			*first = ACL_HBM_MEM_HUGE;
			*fallback = ACL_HBM_MEM_NORMAL;
		}
		return;
	case ACL_MEM_MALLOC_HUGE_ONLY:
	case ACL_MEM_MALLOC_HUGE_ONLY_P2P:
		*first = ACL_HBM_MEM_HUGE;
		return;
	case ACL_MEM_MALLOC_NORMAL_ONLY:
	case ACL_MEM_MALLOC_NORMAL_ONLY_P2P:
		*first = ACL_HBM_MEM_NORMAL;
		return;
	case ACL_MEM_MALLOC_HUGE1G_ONLY:
	case ACL_MEM_MALLOC_HUGE1G_ONLY_P2P:
		*first = ACL_HBM_MEM_HUGE1G;
		return;
	default:
		*first = size >= SZ_2M ? ACL_HBM_MEM_HUGE : ACL_HBM_MEM_NORMAL;
		return;
	}
}

/* Allocates, reserves and maps @size bytes of @attr on @dev; the error is already recorded. */
static aclError devmem_map_new(const char *fn, size_t size, uint32_t attr, int32_t dev,
			       struct devmem *out)
{
	aclrtPhysicalMemProp prop = {
		.handleType = ACL_MEM_HANDLE_TYPE_NONE,
		.allocationType = ACL_MEM_ALLOCATION_TYPE_PINNED,
		.memAttr = (aclrtMemAttr)attr,
		.location = { .id = (uint32_t)dev, .type = ACL_MEM_LOCATION_TYPE_DEVICE },
	};
	size_t gran = shim_granularity(attr, ACL_MEM_LOCATION_TYPE_DEVICE);
	aclrtDrvMemHandle handle = NULL;
	void *va = NULL;
	aclError ret;

	if (size > SIZE_MAX - gran)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: size %zu is too large", fn, size);
	size = (size + gran - 1) / gran * gran;
	ret = aclrtMallocPhysical(&handle, size, &prop, 0);
	if (ret)
		return shim_fail_within(fn, ret);
	ret = aclrtReserveMemAddress(&va, size, 0, NULL, 0);
	if (ret)
		goto err_free;
	ret = aclrtMapMem(va, size, 0, handle, 0);
	if (ret)
		goto err_release;
	*out = (struct devmem){
		.ptr = (uintptr_t)va, .size = size, .granularity = gran, .handle = handle,
	};
	return ACL_SUCCESS;

err_release:
	aclrtReleaseMemAddress(va);
err_free:
	aclrtFreePhysical(handle);
	/*
	 * The message is the failed step's; say which call it was part of. A
	 * fresh reservation of the right size can only fail to be reserved or
	 * mapped for want of memory (even when MapMem could not restore its
	 * placeholder: the reservation is released here anyway).
	 */
	return shim_fail_within(fn, ACL_ERROR_RT_MEMORY_ALLOCATION);
}

static void devmem_unmap(const struct devmem *m)
{
	aclrtUnmapMem((void *)m->ptr);
	aclrtReleaseMemAddress((void *)m->ptr);
	aclrtFreePhysical(m->handle);
}

static aclError devmem_malloc(const char *fn, void **devPtr, size_t size, uint32_t policy)
{
	int32_t dev = shim_current_device();
	uint32_t first, fallback;
	struct devmem m;
	size_t i;
	aclError ret;

	if (!devPtr)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: devPtr is NULL", fn);
	if (size == 0)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: size is 0", fn);
	if (dev < 0)
		dev = 0;	/* no aclrtSetDevice on this thread: the default device */
	policy_attrs(policy, size, &first, &fallback);
	ret = devmem_map_new(fn, size, first, dev, &m);
	if (ret == ACL_ERROR_RT_MEMORY_ALLOCATION && fallback)
		ret = devmem_map_new(fn, size, fallback, dev, &m);
	if (ret)
		return ret;

	pthread_mutex_lock(&devmem_lock);
	if (!shim_grow((void **)&allocs, &cap_allocs, n_allocs, sizeof(*allocs))) {
		pthread_mutex_unlock(&devmem_lock);
		devmem_unmap(&m);
		return shim_fail(ACL_ERROR_RT_MEMORY_ALLOCATION,
				 "%s: out of memory for the allocation table", fn);
	}
	i = devmem_lower_bound(m.ptr);
	memmove(&allocs[i + 1], &allocs[i], (n_allocs - i) * sizeof(*allocs));
	allocs[i] = m;
	n_allocs++;
	/* A closed import's address used again: its one free is not owed any more. */
	take_closed(m.ptr);
	pthread_mutex_unlock(&devmem_lock);
	*devPtr = (void *)m.ptr;
	return ACL_SUCCESS;
}

aclError aclrtMalloc(void **devPtr, size_t size, aclrtMemMallocPolicy policy)
{
	return devmem_malloc("aclrtMalloc", devPtr, size, (uint32_t)policy);
}

aclError aclrtMallocAlign32(void **devPtr, size_t size, aclrtMemMallocPolicy policy)
{
	return devmem_malloc("aclrtMallocAlign32", devPtr, size, (uint32_t)policy);
}

bool shim_devmem_lookup(const void *ptr, struct shim_devmem_info *info)
{
	uintptr_t p = (uintptr_t)ptr;
	bool found;
	size_t i;

	pthread_mutex_lock(&devmem_lock);
	i = devmem_lower_bound(p);
	found = i < n_allocs && allocs[i].ptr == p;
	if (found) {
		info->size = allocs[i].size;
		info->granularity = allocs[i].granularity;
		info->handle = allocs[i].handle;
		memcpy(info->key, allocs[i].key, SHIM_IPC_KEY_LEN);
		info->key_size = allocs[i].key_size;
		info->key_flags = allocs[i].key_flags;
	}
	pthread_mutex_unlock(&devmem_lock);
	return found;
}

bool shim_devmem_set_key(const void *ptr, aclrtDrvMemHandle handle, const char *key,
			 size_t key_size, uint64_t key_flags)
{
	uintptr_t p = (uintptr_t)ptr;
	bool found;
	size_t i;

	pthread_mutex_lock(&devmem_lock);
	i = devmem_lower_bound(p);
	found = i < n_allocs && allocs[i].ptr == p && allocs[i].handle == handle;
	if (found) {
		snprintf(allocs[i].key, sizeof(allocs[i].key), "%s", key);
		allocs[i].key_size = key_size;
		allocs[i].key_flags = key_flags;
	}
	pthread_mutex_unlock(&devmem_lock);
	return found;
}

bool shim_devmem_find_key(const char *key, bool clear)
{
	bool found = false;

	pthread_mutex_lock(&devmem_lock);
	for (size_t i = 0; i < n_allocs && !found; i++) {
		if (allocs[i].key[0] && !strcmp(allocs[i].key, key)) {
			found = true;
			if (clear)
				allocs[i].key[0] = '\0';
		}
	}
	pthread_mutex_unlock(&devmem_lock);
	return found;
}

aclError shim_devmem_note_closed(const char *fn, const void *ptr)
{
	aclError ret = ACL_SUCCESS;

	pthread_mutex_lock(&devmem_lock);
	take_closed((uintptr_t)ptr);	/* once per address */
	if (shim_grow((void **)&closed, &cap_closed, n_closed, sizeof(*closed)))
		closed[n_closed++] = (uintptr_t)ptr;
	else
		ret = shim_fail(ACL_ERROR_RT_MEMORY_ALLOCATION, "%s: out of memory", fn);
	pthread_mutex_unlock(&devmem_lock);
	return ret;
}

void shim_devmem_forget_closed(const void *ptr)
{
	pthread_mutex_lock(&devmem_lock);
	take_closed((uintptr_t)ptr);
	pthread_mutex_unlock(&devmem_lock);
}

/* With devmem_lock held: forgets ptr as a closed import; false if it was none. */
static bool take_closed(uintptr_t p)
{
	for (size_t i = 0; i < n_closed; i++) {
		if (closed[i] == p) {
			closed[i] = closed[--n_closed];
			return true;
		}
	}
	return false;
}

aclError aclrtFree(void *devPtr)
{
	static const char fn[] = "aclrtFree";
	uintptr_t p = (uintptr_t)devPtr;
	struct devmem m;
	size_t i;

	if (!devPtr)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: devPtr is NULL", fn);
	pthread_mutex_lock(&devmem_lock);
	i = devmem_lower_bound(p);
	if (i == n_allocs || allocs[i].ptr != p) {
		bool inside = i > 0 && p - allocs[i - 1].ptr < allocs[i - 1].size;
		bool was_import = take_closed(p);

		pthread_mutex_unlock(&devmem_lock);
		if (was_import)
			return ACL_SUCCESS;
		if (inside)
			return shim_fail(ACL_ERROR_INVALID_PARAM,
					 "%s: devPtr %p is inside an aclrtMalloc allocation but not its "
					 "start", fn, devPtr);
		return shim_fail(ACL_ERROR_INVALID_PARAM,
				 "%s: devPtr %p is not a live aclrtMalloc allocation of this process "
				 "(freed already?)", fn, devPtr);
	}
	m = allocs[i];
	memmove(&allocs[i], &allocs[i + 1], (n_allocs - i - 1) * sizeof(*allocs));
	if (--n_allocs == 0)
		shim_drop((void **)&allocs, &n_allocs, &cap_allocs);
	pthread_mutex_unlock(&devmem_lock);
	devmem_unmap(&m);
	return ACL_SUCCESS;
}

/* ---- peer access ---- */

static aclError check_peer_pair(const char *fn, int32_t dev, int32_t peer)
{
	aclError ret;

	ret = shim_check_device(fn, "deviceId", dev);
	if (!ret)
		ret = shim_check_device(fn, "peerDeviceId", peer);
	if (ret)
		return ret;
	if (dev >= MAX_PEER_DEVICES || peer >= MAX_PEER_DEVICES)
		return shim_fail(ACL_ERROR_RT_INVALID_DEVICEID, "%s: device id above %d", fn,
				 MAX_PEER_DEVICES - 1);
	if (dev == peer)
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
				 "%s: deviceId and peerDeviceId are both %d: a device is not its own peer",
				 fn, dev);
	return ACL_SUCCESS;
}

aclError aclrtDeviceCanAccessPeer(int32_t *canAccessPeer, int32_t deviceId, int32_t peerDeviceId)
{
	static const char fn[] = "aclrtDeviceCanAccessPeer";
	aclError ret;

	if (!canAccessPeer)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: canAccessPeer is NULL", fn);
	ret = check_peer_pair(fn, deviceId, peerDeviceId);
	if (ret)
		return ret;
	*canAccessPeer = 1;
	return ACL_SUCCESS;
}

static aclError set_peer(const char *fn, int32_t peer, bool on)
{
	int32_t dev = shim_current_device();
	aclError ret;

	if (dev < 0)
		return shim_fail(ACL_ERROR_RT_CONTEXT_NULL,
				 "%s: no current device on this thread (call aclrtSetDevice first)", fn);
	ret = check_peer_pair(fn, dev, peer);
	if (ret)
		return ret;
	pthread_mutex_lock(&devmem_lock);
	if (on)
		peers[dev][peer / 64] |= 1ULL << (peer % 64);
	else
		peers[dev][peer / 64] &= ~(1ULL << (peer % 64));
	pthread_mutex_unlock(&devmem_lock);
	return ACL_SUCCESS;
}

aclError aclrtDeviceEnablePeerAccess(int32_t peerDeviceId, uint32_t flags)
{
	static const char fn[] = "aclrtDeviceEnablePeerAccess";

	if (flags)
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID, "%s: flags 0x%x: must be 0", fn, flags);
	return set_peer(fn, peerDeviceId, true);
}

aclError aclrtDeviceDisablePeerAccess(int32_t peerDeviceId)
{
	return set_peer("aclrtDeviceDisablePeerAccess", peerDeviceId, false);
}

aclError aclrtDevicePeerAccessStatus(int32_t deviceId, int32_t peerDeviceId, int32_t *status)
{
	static const char fn[] = "aclrtDevicePeerAccessStatus";
	aclError ret;

	if (!status)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: status is NULL", fn);
	ret = check_peer_pair(fn, deviceId, peerDeviceId);
	if (ret)
		return ret;
	pthread_mutex_lock(&devmem_lock);
	*status = !!(peers[deviceId][peerDeviceId / 64] & (1ULL << (peerDeviceId % 64)));
	pthread_mutex_unlock(&devmem_lock);
	return ACL_SUCCESS;
}
