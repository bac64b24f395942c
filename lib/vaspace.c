/* SPDX-License-Identifier: MIT */
/*
 * vaspace.c - reserved virtual address ranges and the mappings of physical
 * allocations inside them.
 *
 * A reservation is an anonymous PROT_NONE, MAP_NORESERVE mapping, so
 * nothing else can land in it. aclrtMapMem replaces part of it with a
 * MAP_SHARED|MAP_FIXED mapping of /dev/acl_share; aclrtUnmapMem puts the
 * PROT_NONE placeholder back. Reservations and mappings are kept in two
 * address indexes (struct va_index, vaindex.h), under va_lock: finding the
 * range that contains an address costs the same whatever their number.
 *
 * A released reservation keeps its placeholder for a while (the release
 * cache below), so that a program that reserves and releases ranges of one
 * size over and over makes no system call for either: a share cycle's
 * reserve + map is one mmap, its unmap + release one, as for a plain
 * mapping.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"
#include "vaindex.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

struct resv {
	struct va_range r;
	size_t n_maps; /* mappings inside it */
	bool broken;	/* a placeholder could not be put back: never cached */
};

struct mapping {
	struct va_range r;
	aclrtDrvMemHandle handle;
	struct resv *resv;
	uint32_t access; /* aclrtMemAccessFlags */
	uint32_t loc_type;
	uint32_t loc_id;
	bool remote;		/* of a remote import: copies go through the kernel */
};

static pthread_mutex_t va_lock = PTHREAD_MUTEX_INITIALIZER;
static struct va_index resv_ix, map_ix;

/*
 * Where the next reservation is tried first: just below the last one made
 * (the kernel places mappings top-down), or where the last one released
 * was. A hint that is taken and aligned saves the over-sized mmap and its
 * two trims: one system call per reservation.
 */
static _Atomic uintptr_t va_hint;

/* Unmaps and frees reservation @p (a struct resv). */
static void unmap_resv(void *p)
{
	struct resv *r = p;

	munmap((void *)r->r.base, r->r.size);
	free(r);
}

/*
 * The release cache: reservations released by aclrtReleaseMemAddress whose
 * PROT_NONE placeholder is still mapped, in no index, taken back by the
 * next aclrtReserveMemAddress of the same size and alignment. To the
 * program a cached range is what a released one is: every access faults,
 * aclrtMapMem refuses it (it is in no reservation), nothing it maps itself
 * without MAP_FIXED lands there. Bounded (VA_CACHE_SLOTS ranges,
 * VA_CACHE_BYTES of address space, no memory: the placeholder has no
 * pages, though it counts against RLIMIT_AS): a release that does not fit
 * unmaps the oldest cached ranges to make room, one larger than the whole
 * cache unmaps at once, and so does one whose placeholder has a hole (a
 * failed aclrtMapMem that could not put it back). A reservation at an
 * expectPtr takes a cached range that is exactly it, and unmaps those it
 * overlaps otherwise, so an address the program released is always its to
 * reserve again. docs/decisions.md says what it changes.
 */
enum { VA_CACHE_SLOTS = 16 };
#define VA_CACHE_BYTES ((size_t)4 << 30)
static struct resv *va_cache[VA_CACHE_SLOTS];
static unsigned int va_cache_n;
static size_t va_cache_bytes;

/* Under va_lock: takes slot @i out of the release cache (oldest first, kept in order). */
static struct resv *cache_take(unsigned int i)
{
	struct resv *r = va_cache[i];

	memmove(&va_cache[i], &va_cache[i + 1], (va_cache_n - i - 1) * sizeof(va_cache[0]));
	va_cache_n--;
	va_cache_bytes -= r->r.size;
	return r;
}

/*
 * Under va_lock: keeps released @r in the cache, unmapping the oldest cached
 * ranges to make room; false if it is not to be cached (see above).
 */
static bool cache_put(struct resv *r)
{
	if (r->broken || r->r.size > VA_CACHE_BYTES)
		return false;
	while (va_cache_n == VA_CACHE_SLOTS || r->r.size > VA_CACHE_BYTES - va_cache_bytes)
		unmap_resv(cache_take(0));
	va_cache[va_cache_n++] = r;
	va_cache_bytes += r->r.size;
	return true;
}

/* Under va_lock: a cached range of @size at an @align boundary, taken out, or NULL. */
static struct resv *cache_find(size_t size, size_t align)
{
	for (unsigned int i = va_cache_n; i-- > 0;)
		if (va_cache[i]->r.size == size && !(va_cache[i]->r.base & (align - 1)))
			return cache_take(i);
	return NULL;
}

/*
 * Under va_lock: drops the cached ranges that overlap [base, base + size),
 * unmapping them if @unmap. Not unmapped: the kernel has just given that
 * range to a new reservation, so the program unmapped the cached one behind
 * the library's back, and what lies around the new range may be mapped by
 * someone else since: nothing of it is the library's to unmap any more.
 */
static void cache_drop(uintptr_t base, size_t size, bool unmap)
{
	for (unsigned int i = va_cache_n; i-- > 0;) {
		struct resv *r = va_cache[i];

		if (r->r.base < base + size && base < r->r.base + r->r.size) {
			cache_take(i);
			if (unmap)
				unmap_resv(r);
			else
				free(r);
		}
	}
}

/*
 * Under va_lock: the cached range that is exactly [base, base + size), taken
 * out, or NULL after unmapping every cached range that overlaps it.
 */
static struct resv *cache_take_exact(uintptr_t base, size_t size)
{
	for (unsigned int i = va_cache_n; i-- > 0;)
		if (va_cache[i]->r.base == base && va_cache[i]->r.size == size)
			return cache_take(i);
	cache_drop(base, size, true);
	return NULL;
}

/*
 * A reservation of @size out of the release cache: the range at @want
 * exactly, or (@want 0) any at an @align boundary. True if one was taken,
 * with the call's result in *ret (and *virPtr set if it succeeded); out of
 * memory for the index, the range goes back to the cache.
 */
static bool reserve_cached(const char *fn, uintptr_t want, size_t size, size_t align,
			   void **virPtr, aclError *ret)
{
	struct resv *r;

	pthread_mutex_lock(&va_lock);
	r = want ? cache_take_exact(want, size) : cache_find(size, align);
	if (r && va_index_add(&resv_ix, &r->r)) {
		*virPtr = (void *)r->r.base;
		*ret = ACL_SUCCESS;
	} else if (r) {
		cache_put(r); /* its slot was just freed */
		*ret = shim_fail(ACL_ERROR_RT_MEMORY_ALLOCATION,
				 "%s: out of memory for the reservation table", fn);
	}
	pthread_mutex_unlock(&va_lock);
	return r != NULL;
}

void shim_va_lock(void)
{
	pthread_mutex_lock(&va_lock);
}

void shim_va_unlock(void)
{
	pthread_mutex_unlock(&va_lock);
}

/* In a fork() child, with va_lock held: forget and unmap the parent's ranges. */
void shim_va_forget_child(void)
{
	va_index_destroy(&resv_ix, unmap_resv);
	va_index_destroy(&map_ix, free);
	while (va_cache_n)
		unmap_resv(cache_take(0));
	va_hint = 0;
}

static struct resv *resv_containing(uintptr_t p)
{
	return (struct resv *)va_find(&resv_ix, p);
}

static struct mapping *map_containing(uintptr_t p)
{
	return (struct mapping *)va_find(&map_ix, p);
}

static struct mapping *map_starting(uintptr_t p)
{
	struct mapping *m = map_containing(p);

	return m && m->r.base == p ? m : NULL;
}

static const char *access_name(uint32_t a)
{
	switch (a) {
	case ACL_RT_MEM_ACCESS_FLAGS_NONE:
		return "ACL_RT_MEM_ACCESS_FLAGS_NONE";
	case ACL_RT_MEM_ACCESS_FLAGS_READ:
		return "ACL_RT_MEM_ACCESS_FLAGS_READ";
	case ACL_RT_MEM_ACCESS_FLAGS_READWRITE:
		return "ACL_RT_MEM_ACCESS_FLAGS_READWRITE";
	default:
		return "an unknown access flag";
	}
}

static int access_prot(uint32_t a)
{
	switch (a) {
	case ACL_RT_MEM_ACCESS_FLAGS_READ:
		return PROT_READ;
	case ACL_RT_MEM_ACCESS_FLAGS_READWRITE:
		return PROT_READ | PROT_WRITE;
	default:
		return PROT_NONE;
	}
}

/* Puts the PROT_NONE placeholder of a reservation back over [p, p + size). */
static int restore_placeholder(uintptr_t p, size_t size)
{
	void *r = mmap((void *)p, size, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);

	return r == MAP_FAILED ? errno : 0;
}

/*
 * Reserves rsize bytes at an @align boundary: first at the hint (one
 * mmap), else by reserving rsize + align anywhere and trimming both ends.
 */
static aclError reserve_aligned(const char *fn, size_t rsize, size_t align, uintptr_t *basep)
{
	uintptr_t hint = atomic_load(&va_hint), raw, base, end;
	char eb[SHIM_ERRSTR_LEN];
	size_t total;
	void *p;

	if (hint > rsize) {
		hint = (hint - rsize) & ~(uintptr_t)(align - 1);
		p = mmap((void *)hint, rsize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			 -1, 0);
		if (p != MAP_FAILED && ((uintptr_t)p & (align - 1)) == 0) {
			*basep = (uintptr_t)p;
			return ACL_SUCCESS;
		}
		if (p != MAP_FAILED)
			munmap(p, rsize);
	}
	total = rsize + align;
	p = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return shim_fail(ACL_ERROR_RT_MEMORY_ALLOCATION,
				 "%s: cannot reserve size 0x%zx of address space: %s", fn, rsize,
				 shim_errno_str(errno, eb, sizeof(eb)));
	raw = (uintptr_t)p;
	base = (raw + align - 1) & ~(uintptr_t)(align - 1);
	end = raw + total;
	if (base > raw)
		munmap(p, base - raw);
	if (end > base + rsize)
		munmap((void *)(base + rsize), end - (base + rsize));
	*basep = base;
	return ACL_SUCCESS;
}

aclError aclrtReserveMemAddress(void **virPtr, size_t size, size_t alignment, void *expectPtr,
				uint64_t flags)
{
	static const char fn[] = "aclrtReserveMemAddress";
	char eb[SHIM_ERRSTR_LEN];
	size_t rsize, align;
	struct resv *res;
	struct va_range *overlap;
	uintptr_t base = 0;
	aclError ret = ACL_SUCCESS;
	void *p;

	if (!virPtr)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: virPtr is NULL", fn);
	if (size == 0)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: size is 0", fn);
	if (alignment != 0)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: alignment %zu must be 0", fn,
				 alignment);
	if (flags > 1)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: flags 0x%" PRIx64 " must be 0 or 1",
				 fn, flags);
	if (size > SIZE_MAX / 2)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: size %zu is too large", fn, size);
	rsize = (size + SHIM_2M - 1) & ~(SHIM_2M - 1);
	/* Large reservations are 1 GiB aligned so that *_HUGE1G allocations fit. */
	align = rsize >= SHIM_1G ? SHIM_1G : SHIM_2M;

	if (expectPtr) {
		uintptr_t e = (uintptr_t)expectPtr;

		if (e % SHIM_2M != 0)
			return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
					 "%s: expectPtr %p is not 2 MiB aligned", fn, expectPtr);
		if (e > UINTPTR_MAX - rsize)
			return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
					 "%s: expectPtr %p + size %zu overflows the address space", fn,
					 expectPtr, rsize);
		if (reserve_cached(fn, e, rsize, align, virPtr, &ret))
			return ret;
		p = mmap(expectPtr, rsize, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
		if (p == MAP_FAILED) {
			int err = errno;

			if (err == EEXIST)
				return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
						 "%s: the range [%p, +0x%zx) at expectPtr overlaps memory "
						 "that is already mapped",
						 fn, expectPtr, rsize);
			if (err == ENOMEM)
				return shim_fail(ACL_ERROR_RT_MEMORY_ALLOCATION,
						 "%s: cannot reserve size 0x%zx at expectPtr %p: %s", fn,
						 rsize, expectPtr, shim_errno_str(err, eb, sizeof(eb)));
			return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
					 "%s: cannot reserve size 0x%zx at expectPtr %p: %s", fn, rsize,
					 expectPtr, shim_errno_str(err, eb, sizeof(eb)));
		}
		if (p != expectPtr) { /* a kernel without MAP_FIXED_NOREPLACE */
			munmap(p, rsize);
			return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
					 "%s: the range [%p, +0x%zx) at expectPtr is not free", fn,
					 expectPtr, rsize);
		}
		base = e;
	} else {
		if (reserve_cached(fn, 0, rsize, align, virPtr, &ret))
			return ret;
		ret = reserve_aligned(fn, rsize, align, &base);
		if (ret)
			return ret;
	}

	res = calloc(1, sizeof(*res));
	if (!res) {
		munmap((void *)base, rsize);
		return shim_fail(ACL_ERROR_RT_MEMORY_ALLOCATION,
				 "%s: out of memory for the reservation table", fn);
	}
	res->r = (struct va_range){ .base = base, .size = rsize };
	pthread_mutex_lock(&va_lock);
	cache_drop(base, rsize, false);
	/*
	 * The kernel gave us the range, so no reservation can overlap it; one
	 * that does was unmapped behind the library's back (munmap(2) of a
	 * reservation by the program) and is refused here rather than shared.
	 */
	overlap = va_first(&resv_ix, base, rsize);
	if (overlap)
		ret = shim_fail(ACL_ERROR_RT_PARAM_INVALID,
				"%s: the range [%p, +0x%zx) the kernel gave overlaps the reservation "
				"[%p, +0x%zx), which this process unmapped without "
				"aclrtReleaseMemAddress",
				fn, (void *)base, rsize, (void *)overlap->base, overlap->size);
	else if (!va_index_add(&resv_ix, &res->r))
		ret = shim_fail(ACL_ERROR_RT_MEMORY_ALLOCATION,
				"%s: out of memory for the reservation table", fn);
	if (ret) {
		munmap((void *)base, rsize);
		pthread_mutex_unlock(&va_lock);
		free(res);
		return ret;
	}
	pthread_mutex_unlock(&va_lock);
	if (!expectPtr) /* a user's address says nothing of where the kernel has room */
		atomic_store(&va_hint, base);
	*virPtr = (void *)base;
	return ACL_SUCCESS;
}

aclError aclrtReleaseMemAddress(void *virPtr)
{
	static const char fn[] = "aclrtReleaseMemAddress";
	uintptr_t p = (uintptr_t)virPtr;
	struct resv *r;

	if (!virPtr)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: virPtr is NULL", fn);
	pthread_mutex_lock(&va_lock);
	r = resv_containing(p);
	if (!r || r->r.base != p) {
		aclError ret;

		if (r)
			ret = shim_fail(ACL_ERROR_RT_PARAM_INVALID,
					"%s: virPtr %p is inside the reservation [%p, +0x%zx) but is "
					"not its base",
					fn, virPtr, (void *)r->r.base, r->r.size);
		else
			ret = shim_fail(ACL_ERROR_RT_PARAM_INVALID,
					"%s: virPtr %p is not the base of a reservation of this process",
					fn, virPtr);
		pthread_mutex_unlock(&va_lock);
		return ret;
	}
	if (r->n_maps) {
		aclError ret = shim_fail(ACL_ERROR_RT_PARAM_INVALID,
					 "%s: virPtr %p: the reservation (size 0x%zx) still holds %zu "
					 "mapping%s; call aclrtUnmapMem first",
					 fn, virPtr, r->r.size, r->n_maps, r->n_maps == 1 ? "" : "s");

		pthread_mutex_unlock(&va_lock);
		return ret;
	}
	va_index_del(&resv_ix, &r->r);
	if (cache_put(r)) {
		pthread_mutex_unlock(&va_lock);
		return ACL_SUCCESS;
	}
	/* Under the lock: a fork() child must not inherit a range in neither index. */
	munmap((void *)r->r.base, r->r.size);
	pthread_mutex_unlock(&va_lock);
	atomic_store(&va_hint, r->r.base + r->r.size);
	free(r);
	return ACL_SUCCESS;
}

static aclError map_locked(const char *fn, void *virPtr, size_t size, aclrtDrvMemHandle handle)
{
	uintptr_t p = (uintptr_t)virPtr;
	struct shim_handle_info hi;
	char eb[SHIM_ERRSTR_LEN];
	struct va_range *o;
	struct mapping *m;
	struct resv *r;
	size_t gran;
	aclError ret;
	void *va;
	int fd = -1, err;

	ret = shim_handle_info(fn, handle, &hi);
	if (ret)
		return ret;
	if (size != hi.length)
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
				 "%s: size %zu differs from the size %llu of the allocation of handle %p",
				 fn, size, (unsigned long long)hi.length, handle);
	r = resv_containing(p);
	if (!r)
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
				 "%s: virPtr %p is not inside a reservation of this process "
				 "(aclrtReserveMemAddress)",
				 fn, virPtr);
	if (size > r->r.size - (p - r->r.base))
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
				 "%s: virPtr %p + size 0x%zx crosses the end of the reservation [%p, +0x%zx)",
				 fn, virPtr, size, (void *)r->r.base, r->r.size);
	o = va_first(&map_ix, p, size ? size : 1);
	if (o)
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
				 "%s: virPtr %p + size 0x%zx overlaps the mapping [%p, +0x%zx) of handle %p",
				 fn, virPtr, size, (void *)o->base, o->size,
				 ((struct mapping *)o)->handle);
	gran = shim_granularity(hi.mem_attr, hi.loc_type);
	if (p % gran != 0)
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
				 "%s: virPtr %p is not aligned to the granularity 0x%zx of %s", fn,
				 virPtr, gran, shim_attr_name(hi.mem_attr));
	m = calloc(1, sizeof(*m));
	if (!m)
		return shim_fail(ACL_ERROR_RT_MEMORY_ALLOCATION,
				 "%s: out of memory for the mapping table", fn);
	*m = (struct mapping){
		.r = { .base = p, .size = size },
		.handle = handle,
		.resv = r,
		.access = ACL_RT_MEM_ACCESS_FLAGS_READWRITE,
		.loc_type = hi.loc_type,
		.loc_id = hi.loc_id,
		.remote = hi.remote,
	};
	if (!va_index_add(&map_ix, &m->r)) {
		free(m);
		return shim_fail(ACL_ERROR_RT_MEMORY_ALLOCATION,
				 "%s: out of memory for the mapping table", fn);
	}

	ret = shim_dev_fd(fn, &fd);
	if (ret)
		goto err_forget;
	va = mmap(virPtr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
		  (off_t)hi.mmap_offset);
	if (va == MAP_FAILED) {
		int rerr;

		err = errno;
		rerr = restore_placeholder(p, size);
		if (rerr) {
			r->broken = true;
			ret = shim_fail(ACL_ERROR_RT_DRV_INTERNAL_ERROR,
					"%s: mapping handle %p at %p failed (%s) and the reservation "
					"placeholder could not be restored (%s)",
					fn, handle, virPtr, shim_errno_str(err, eb, sizeof(eb)),
					strerrorname_np(rerr) ? strerrorname_np(rerr) : "?");
		} else if (err == ENOMEM)
			ret = shim_fail(ACL_ERROR_RT_MEMORY_ALLOCATION,
					"%s: mapping handle %p at %p failed: %s", fn, handle, virPtr,
					shim_errno_str(err, eb, sizeof(eb)));
		else if (err == ENOENT) /* freed by another thread since it was looked up */
			ret = shim_fail(ACL_ERROR_RT_INVALID_HANDLE,
					"%s: handle %p was freed (aclrtFreePhysical) while it was being "
					"mapped: %s", fn, handle, shim_errno_str(err, eb, sizeof(eb)));
		else
			ret = shim_kernel_fail(fn, "the mapping", err);
		goto err_forget;
	}
	r->n_maps++;
	return ACL_SUCCESS;

err_forget:
	va_index_del(&map_ix, &m->r);
	free(m);
	return ret;
}

aclError aclrtMapMem(void *virPtr, size_t size, size_t offset, aclrtDrvMemHandle handle,
		     uint64_t flags)
{
	static const char fn[] = "aclrtMapMem";
	aclError ret;

	if (!virPtr)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: virPtr is NULL", fn);
	if (!handle)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: handle is NULL", fn);
	if (flags != 0)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: flags 0x%" PRIx64 " must be 0", fn,
				 flags);
	if (offset != 0)
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID, "%s: offset %zu must be 0", fn, offset);
	pthread_mutex_lock(&va_lock);
	ret = map_locked(fn, virPtr, size, handle);
	pthread_mutex_unlock(&va_lock);
	return ret;
}

aclError aclrtUnmapMem(void *virPtr)
{
	static const char fn[] = "aclrtUnmapMem";
	uintptr_t p = (uintptr_t)virPtr;
	char eb[SHIM_ERRSTR_LEN];
	struct mapping *m;
	aclError ret;
	int err;

	if (!virPtr)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: virPtr is NULL", fn);
	pthread_mutex_lock(&va_lock);
	m = map_containing(p);
	if (!m || m->r.base != p) {
		if (m)
			ret = shim_fail(ACL_ERROR_RT_PARAM_INVALID,
					"%s: virPtr %p is inside the mapping [%p, +0x%zx) but is not "
					"its start",
					fn, virPtr, (void *)m->r.base, m->r.size);
		else
			ret = shim_fail(ACL_ERROR_RT_PARAM_INVALID,
					"%s: virPtr %p is not the start of a mapping of this process",
					fn, virPtr);
		pthread_mutex_unlock(&va_lock);
		return ret;
	}
	err = restore_placeholder(m->r.base, m->r.size);
	if (err) {
		ret = shim_fail(ACL_ERROR_RT_MEMORY_ALLOCATION,
				"%s: cannot replace the mapping [%p, +0x%zx) with its reservation "
				"placeholder: %s",
				fn, virPtr, m->r.size, shim_errno_str(err, eb, sizeof(eb)));
		pthread_mutex_unlock(&va_lock);
		return ret;
	}
	m->resv->n_maps--;
	va_index_del(&map_ix, &m->r);
	pthread_mutex_unlock(&va_lock);
	free(m);
	return ACL_SUCCESS;
}

aclError aclrtMemSetAccess(void *virPtr, size_t size, aclrtMemAccessDesc *desc, size_t count)
{
	static const char fn[] = "aclrtMemSetAccess";
	uintptr_t p = (uintptr_t)virPtr, end, cur;
	struct acl_share_info info;
	bool have_info = false;
	char eb[SHIM_ERRSTR_LEN];
	uint32_t access = 0;
	struct mapping **touched = NULL;
	size_t n_touched = 0, cap_touched = 0;
	aclError ret = ACL_SUCCESS;

	if (!virPtr)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: virPtr is NULL", fn);
	if (size == 0)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: size is 0", fn);
	if (!desc)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: desc is NULL", fn);
	if (count == 0)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: count is 0", fn);
	for (size_t i = 0; i < count; i++) {
		uint32_t f = (uint32_t)desc[i].flags, t = (uint32_t)desc[i].location.type;

		if (f != ACL_RT_MEM_ACCESS_FLAGS_NONE && f != ACL_RT_MEM_ACCESS_FLAGS_READ &&
		    f != ACL_RT_MEM_ACCESS_FLAGS_READWRITE)
			return shim_fail(ACL_ERROR_INVALID_PARAM,
					 "%s: desc[%zu].flags 0x%x is not NONE (0), READ (1) or "
					 "READWRITE (3)",
					 fn, i, f);
		if (t == ACL_MEM_LOCATION_TYPE_DEVICE) {
			if (!have_info) {
				ret = shim_dev_info(fn, &info);
				if (ret)
					return ret;
				have_info = true;
			}
			if (desc[i].location.id >= info.out_device_count)
				return shim_fail(ACL_ERROR_INVALID_PARAM,
						 "%s: desc[%zu].location.id %u is not below the device "
						 "count %u",
						 fn, i, desc[i].location.id, info.out_device_count);
		} else if (t != ACL_MEM_LOCATION_TYPE_HOST) {
			return shim_fail(ACL_ERROR_INVALID_PARAM,
					 "%s: desc[%zu].location.type %u (%s) is neither HOST nor DEVICE",
					 fn, i, t, shim_loc_name(t));
		}
		access |= f; /* the most permissive descriptor wins */
	}
	if (p > UINTPTR_MAX - size)
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
				 "%s: virPtr %p + size %zu overflows the address space", fn, virPtr, size);
	end = p + size;

	pthread_mutex_lock(&va_lock);
	for (cur = p; cur < end;) {
		struct mapping *m = map_containing(cur);

		if (!m) {
			ret = shim_fail(ACL_ERROR_RT_PARAM_INVALID,
					"%s: virPtr %p + size 0x%zx: address %p is not mapped by "
					"aclrtMapMem in this process",
					fn, virPtr, size, (void *)cur);
			goto out;
		}
		if (m->r.base != cur || m->r.size > end - cur) {
			ret = shim_fail(ACL_ERROR_RT_PARAM_INVALID,
					"%s: virPtr %p + size 0x%zx covers only part of the mapping "
					"[%p, +0x%zx); it must cover every mapping it touches whole",
					fn, virPtr, size, (void *)m->r.base, m->r.size);
			goto out;
		}
		if (!shim_grow((void **)&touched, &cap_touched, n_touched, sizeof(*touched))) {
			ret = shim_fail(ACL_ERROR_RT_MEMORY_ALLOCATION, "%s: out of memory", fn);
			goto out;
		}
		touched[n_touched++] = m;
		cur = m->r.base + m->r.size;
	}
	for (size_t i = 0; i < n_touched; i++) {
		struct mapping *m = touched[i];

		if (mprotect((void *)m->r.base, m->r.size, access_prot(access)) != 0) {
			int err = errno;

			for (size_t j = 0; j < i; j++)
				mprotect((void *)touched[j]->r.base, touched[j]->r.size,
					 access_prot(touched[j]->access));
			ret = shim_fail(ACL_ERROR_RT_DRV_INTERNAL_ERROR,
					"%s: mprotect of the mapping [%p, +0x%zx) to %s failed: %s",
					fn, (void *)m->r.base, m->r.size, access_name(access),
					shim_errno_str(err, eb, sizeof(eb)));
			goto out;
		}
	}
	for (size_t i = 0; i < n_touched; i++)
		touched[i]->access = access;
out:
	pthread_mutex_unlock(&va_lock);
	free(touched);
	return ret;
}

aclError aclrtMemGetAccess(void *virPtr, aclrtMemLocation *location, uint64_t *flags)
{
	static const char fn[] = "aclrtMemGetAccess";
	struct mapping *m;

	if (!virPtr)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: virPtr is NULL", fn);
	if (!location)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: location is NULL", fn);
	if (!flags)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: flags is NULL", fn);
	pthread_mutex_lock(&va_lock);
	m = map_containing((uintptr_t)virPtr);
	if (!m) {
		pthread_mutex_unlock(&va_lock);
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
				 "%s: virPtr %p is not inside a mapping of this process", fn, virPtr);
	}
	location->id = m->loc_id;
	location->type = (aclrtMemLocationType)m->loc_type;
	*flags = m->access;
	pthread_mutex_unlock(&va_lock);
	return ACL_SUCCESS;
}

aclError aclrtMemRetainAllocationHandle(void *virPtr, aclrtDrvMemHandle *handle)
{
	static const char fn[] = "aclrtMemRetainAllocationHandle";
	struct mapping *m;

	if (!virPtr)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: virPtr is NULL", fn);
	if (!handle)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: handle is NULL", fn);
	pthread_mutex_lock(&va_lock);
	m = map_containing((uintptr_t)virPtr);
	if (!m) {
		pthread_mutex_unlock(&va_lock);
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
				 "%s: virPtr %p is not inside a mapping of this process", fn, virPtr);
	}
	*handle = m->handle;
	pthread_mutex_unlock(&va_lock);
	return ACL_SUCCESS;
}

aclError aclrtMemGetAddressRange(void *ptr, void **pbase, size_t *psize)
{
	static const char fn[] = "aclrtMemGetAddressRange";
	struct mapping *m;

	if (!ptr)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: ptr is NULL", fn);
	pthread_mutex_lock(&va_lock);
	m = map_containing((uintptr_t)ptr);
	if (!m) {
		pthread_mutex_unlock(&va_lock);
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
				 "%s: ptr %p is not inside a mapping of this process", fn, ptr);
	}
	if (pbase)
		*pbase = (void *)m->r.base;
	if (psize)
		*psize = m->r.size;
	pthread_mutex_unlock(&va_lock);
	return ACL_SUCCESS;
}

aclError shim_va_check_range(const char *fn, const char *what, const void *ptr, size_t n,
			     bool one_mapping, bool only_if_reserved, bool write)
{
	uintptr_t p = (uintptr_t)ptr, end, cur;
	aclError ret = ACL_SUCCESS;
	struct mapping *m;

	if (n == 0)
		return ACL_SUCCESS;
	if (p > UINTPTR_MAX - n)
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
				 "%s: %s %p + count %zu overflows the address space", fn, what, ptr, n);
	end = p + n;
	pthread_mutex_lock(&va_lock);
	m = map_containing(p);
	if (!m) {
		if (!only_if_reserved || resv_containing(p))
			ret = shim_fail(ACL_ERROR_RT_PARAM_INVALID,
					"%s: %s %p is not inside memory mapped by aclrtMapMem in this "
					"process%s",
					fn, what, ptr,
					resv_containing(p) ? " (it is reserved but not mapped)" : "");
		goto out;
	}
	for (cur = p; cur < end;) {
		if (!m) {
			ret = shim_fail(ACL_ERROR_RT_PARAM_INVALID,
					"%s: %s range [%p, +0x%zx) runs into unmapped memory at %p", fn,
					what, ptr, n, (void *)cur);
			goto out;
		}
		if (write ? m->access != ACL_RT_MEM_ACCESS_FLAGS_READWRITE :
			    !(m->access & ACL_RT_MEM_ACCESS_FLAGS_READ)) {
			ret = shim_fail(ACL_ERROR_RT_PARAM_INVALID,
					"%s: %s range [%p, +0x%zx) touches the mapping [%p, +0x%zx) whose "
					"access is %s, but the copy needs to %s it",
					fn, what, ptr, n, (void *)m->r.base, m->r.size, access_name(m->access),
					write ? "write" : "read");
			goto out;
		}
		if (m->r.size - (cur - m->r.base) >= end - cur)
			break;
		if (one_mapping) {
			ret = shim_fail(ACL_ERROR_RT_PARAM_INVALID,
					"%s: %s range [%p, +0x%zx) crosses the end of the mapping "
					"[%p, +0x%zx)",
					fn, what, ptr, n, (void *)m->r.base, m->r.size);
			goto out;
		}
		cur = m->r.base + m->r.size;
		m = map_starting(cur);
	}
out:
	pthread_mutex_unlock(&va_lock);
	return ret;
}

bool shim_va_remote(const void *ptr, uint32_t *handle, uint64_t *offset)
{
	uintptr_t p = (uintptr_t)ptr;
	struct mapping *m;
	bool remote = false;

	pthread_mutex_lock(&va_lock);
	m = map_containing(p);
	if (m && m->remote) {
		remote = true;
		*handle = (uint32_t)(uintptr_t)m->handle;
		*offset = p - m->r.base;
	}
	pthread_mutex_unlock(&va_lock);
	return remote;
}
