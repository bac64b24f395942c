/* SPDX-License-Identifier: MIT */
/*
 * remotecopy.c - copies that touch the memory of a remote import (a FABRIC
 * handle of another server, docs/fabric.md). The host CPU cannot load or
 * store it (its mapping faults SIGBUS, as device memory on an Ascend node);
 * the kernel moves the bytes with RDMA READ and WRITE (ACL_SHARE_IOC_COPY).
 * aclrtMemcpy[Async] and aclrtMemset[Async] come here when a side lies in
 * such a mapping; a copy between two remote mappings goes through a host
 * buffer, piece by piece, in the order memmove would take.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define BOUNCE (4UL << 20)

static aclError copy_fail(const char *fn, uint32_t handle, int err)
{
	char eb[SHIM_ERRSTR_LEN];

	switch (err) {
	case ENOLINK:
		return shim_fail(ACL_ERROR_RT_DRV_INTERNAL_ERROR,
				 "%s: the link to the server that exported handle %u has ended "
				 "(peer gone, disconnected or timed out); the import is dead, free it: %s",
				 fn, handle, shim_errno_str(err, eb, sizeof(eb)));
	case EIO:
		return shim_fail(ACL_ERROR_RT_DRV_INTERNAL_ERROR,
				 "%s: an RDMA transfer for handle %u failed; the link to its server "
				 "was closed: %s",
				 fn, handle, shim_errno_str(err, eb, sizeof(eb)));
	case EFAULT:
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
				 "%s: the local side of the copy is not memory this process can "
				 "access: %s", fn, shim_errno_str(err, eb, sizeof(eb)));
	case EPROTO:
		return shim_fail(ACL_ERROR_RT_DRV_INTERNAL_ERROR,
				 "%s: the server that exported handle %u answered what this server "
				 "cannot use: %s", fn, handle, shim_errno_str(err, eb, sizeof(eb)));
	default:
		return shim_kernel_fail(fn, "the copy across servers", err);
	}
}

static aclError kcopy(const char *fn, uint32_t handle, uint32_t op, uint64_t offset,
		      void *uptr, size_t n, uint8_t value)
{
	struct acl_share_copy c = {
		.size = sizeof(c),
		.handle = handle,
		.op = op,
		.offset = offset,
		.length = n,
		.uptr = (uintptr_t)uptr,
		.value = value,
	};
	aclError ret;
	int fd = -1, err;

	ret = shim_dev_fd(fn, &fd);
	if (ret)
		return ret;
	err = shim_ioctl(fd, ACL_SHARE_IOC_COPY, &c);
	return err ? copy_fail(fn, handle, err) : ACL_SUCCESS;
}

aclError shim_remote_copy(const char *fn, void *dst, const void *src, size_t n, bool *done)
{
	uint32_t dh = 0, sh = 0;
	uint64_t doff = 0, soff = 0;
	bool dr = shim_va_remote(dst, &dh, &doff), sr = shim_va_remote(src, &sh, &soff);
	aclError ret = ACL_SUCCESS;
	bool backwards;
	void *buf;

	*done = dr || sr;
	if (!dr && !sr)
		return ACL_SUCCESS;
	if (!dr)
		return kcopy(fn, sh, ACL_SHARE_COPY_READ, soff, dst, n, 0);
	if (!sr)
		return kcopy(fn, dh, ACL_SHARE_COPY_WRITE, doff, (void *)src, n, 0);
	buf = malloc(n < BOUNCE ? n : BOUNCE);
	if (!buf)
		return shim_fail(ACL_ERROR_RT_MEMORY_ALLOCATION,
				 "%s: out of memory for a copy between two remote imports", fn);
	/*
	 * As memmove, as a copy within local memory is: when the destination
	 * overlaps the source from above, the pieces go from the end backwards,
	 * so that none is read after it was overwritten.
	 */
	backwards = sh == dh && doff > soff && doff - soff < n;
	for (size_t done_n = 0, piece, at; done_n < n && !ret; done_n += piece) {
		piece = n - done_n < BOUNCE ? n - done_n : BOUNCE;
		at = backwards ? n - done_n - piece : done_n;
		ret = kcopy(fn, sh, ACL_SHARE_COPY_READ, soff + at, buf, piece, 0);
		if (!ret)
			ret = kcopy(fn, dh, ACL_SHARE_COPY_WRITE, doff + at, buf, piece, 0);
	}
	free(buf);
	return ret;
}

aclError shim_remote_fill(const char *fn, void *dst, int value, size_t n, bool *done)
{
	uint32_t h = 0;
	uint64_t off = 0;

	*done = shim_va_remote(dst, &h, &off);
	if (!*done)
		return ACL_SUCCESS;
	return kcopy(fn, h, ACL_SHARE_COPY_FILL, off, NULL, n, (uint8_t)value);
}
