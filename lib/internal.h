/* SPDX-License-Identifier: MIT */
/*
 * internal.h - what the files of libacl-shim share with each other.
 *
 * Lock order (the fork handlers take them in this order too):
 *   export_lock (ipc.c) -> ipc_lock (ipc.c) -> devmem_lock (devmem.c) -> rt_lock (runtime.c)
 *   -> va_lock (vaspace.c) -> handle_lock (handles.c) -> dev_lock (device.c)
 * A function holding a lock may only take locks to its right. ipc_lock and devmem_lock are
 * never held across a call into another file; export_lock is (an export and its key are
 * made as one step).
 */
#ifndef ACL_SHIM_INTERNAL_H
#define ACL_SHIM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <linux/acl_share.h>

#include "acl/acl.h"

#define SHIM_HIDDEN __attribute__((visibility("hidden")))

#define SHIM_2M ((size_t)2 << 20)
#define SHIM_1G ((size_t)1 << 30)

/* errmsg.c */
/*
 * Records "fmt ..." as this thread's recent error message and returns code,
 * so that call sites read: return shim_fail(ACL_ERROR_INVALID_PARAM, "...");
 */
SHIM_HIDDEN aclError shim_fail(aclError code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* "ENOENT (No such file or directory)"; never NULL, thread-safe. */
/*
 * Fails with @code under the name of @fn, keeping the sentence of the call
 * @fn made on its behalf: "fn: <that call's message>".
 */
SHIM_HIDDEN aclError shim_fail_within(const char *fn, aclError code);
SHIM_HIDDEN const char *shim_errno_str(int err, char *buf, size_t len);
#define SHIM_ERRSTR_LEN 96

/* device.c */
/*
 * The descriptor of /dev/acl_share for this process, opened on first use.
 * On failure it records a message naming fn and returns the ACL code.
 */
SHIM_HIDDEN aclError shim_dev_fd(const char *fn, int *fd);
/* ACL_SHARE_IOC_INFO, opening the device if needed. */
SHIM_HIDDEN aclError shim_dev_info(const char *fn, struct acl_share_info *info);
/* ioctl(2) retried on EINTR: 0 or a positive errno. */
SHIM_HIDDEN int shim_ioctl(int fd, unsigned long req, void *arg);
/* Checks a device id against the module's device count (107001 / 207004). */
SHIM_HIDDEN aclError shim_check_device(const char *fn, const char *what, int64_t id);
/* The calling thread's current device, or -1. */
SHIM_HIDDEN int32_t shim_current_device(void);

/* physical.c */
SHIM_HIDDEN bool shim_attr_is_ddr(uint32_t attr);
SHIM_HIDDEN bool shim_attr_is_normal(uint32_t attr);
SHIM_HIDDEN bool shim_attr_is_huge1g(uint32_t attr);
SHIM_HIDDEN const char *shim_attr_name(uint32_t attr);
SHIM_HIDDEN const char *shim_loc_name(uint32_t type);
/* The granularity rule of contract section 3 (attr and type already valid). */
SHIM_HIDDEN size_t shim_granularity(uint32_t attr, uint32_t loc_type);
/*
 * ACL_SHARE_IOC_QUERY on handle. Forged values (0, > UINT32_MAX) and
 * -ENOENT give 107017 with a message naming fn.
 */
SHIM_HIDDEN aclError shim_query_handle(const char *fn, aclrtDrvMemHandle handle,
				       struct acl_share_query *q);
/*
 * The kernel's number for handle and the device descriptor. Values that
 * cannot be handles (0, > UINT32_MAX) give 107017 without asking the kernel.
 */
SHIM_HIDDEN aclError shim_handle_fd(const char *fn, aclrtDrvMemHandle handle, uint32_t *h,
				    int *fd);

/* Makes room for element n of a growing array (doubling); false if out of memory. */
static inline bool shim_grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return true;
	ncap = *cap ? *cap * 2 : 16;
	p = realloc(*arr, ncap * elem);
	if (!p)
		return false;
	*arr = p;
	*cap = ncap;
	return true;
}

/* Frees an array grown by shim_grow() and leaves it empty. */
static inline void shim_drop(void **arr, size_t *n, size_t *cap)
{
	free(*arr);
	*arr = NULL;
	*n = *cap = 0;
}
/* A generic message + code for an errno the callers did not special-case. */
SHIM_HIDDEN aclError shim_kernel_fail(const char *fn, const char *what, int err);

/* vaspace.c */
SHIM_HIDDEN void shim_va_lock(void);
SHIM_HIDDEN void shim_va_unlock(void);
SHIM_HIDDEN void shim_va_forget_child(void);
/*
 * Checks that [p, p + n) can be accessed as device memory.
 *   one_mapping: the range must lie inside a single mapping (else it may
 *                span adjacent mappings);
 *   only_if_reserved: ranges that do not start inside a reservation pass
 *                (they are host memory);
 *   write: the mapping(s) must be READWRITE (else READ or READWRITE).
 * Returns ACL_SUCCESS or 107000 with a message naming fn and what.
 */
SHIM_HIDDEN aclError shim_va_check_range(const char *fn, const char *what, const void *p,
					 size_t n, bool one_mapping, bool only_if_reserved,
					 bool write);
/*
 * Whether p lies in a mapping of a remote import (another server's memory);
 * if so its handle number and p's offset in it. The range was checked by
 * shim_va_check_range() with one_mapping.
 */
SHIM_HIDDEN bool shim_va_remote(const void *p, uint32_t *handle, uint64_t *offset);

/* remotecopy.c: *done says whether a side was remote (and the copy made). */
SHIM_HIDDEN aclError shim_remote_copy(const char *fn, void *dst, const void *src, size_t n,
				      bool *done);
SHIM_HIDDEN aclError shim_remote_fill(const char *fn, void *dst, int value, size_t n, bool *done);

/* handles.c: this process's live handles, by number (a cache of the kernel's table). */
struct shim_handle_info {
	uint32_t id;
	uint32_t mem_attr;
	uint32_t loc_type;
	uint32_t loc_id;
	uint64_t length;	/* what the handle maps */
	uint64_t mmap_offset;
	bool remote;		/* imported from another server: reached by copies */
};
SHIM_HIDDEN void shim_handles_lock(void);
SHIM_HIDDEN void shim_handles_unlock(void);
SHIM_HIDDEN void shim_handles_forget_child(void);
/* What ALLOC or IMPORT said of a new handle. */
SHIM_HIDDEN void shim_handles_add(const struct shim_handle_info *info);
/* Before FREE of handle id: the number may be handed out again at once. */
SHIM_HIDDEN void shim_handles_forget(uint32_t id);
/* What the table (or, for a handle it lacks, a QUERY) says of handle; 107017 if none. */
SHIM_HIDDEN aclError shim_handle_info(const char *fn, aclrtDrvMemHandle handle,
				      struct shim_handle_info *info);
/* Handle id was exported as the shareable handle sh of type type. */
SHIM_HIDDEN void shim_handles_note_export(uint32_t id, uint32_t type, const void *sh);
/* Whether this process exported the shareable handle sh (and has not revoked it). */
SHIM_HIDDEN bool shim_handles_exported_here(uint32_t type, const void *sh);
/* The shareable handle sh was revoked. */
SHIM_HIDDEN void shim_handles_forget_export(uint32_t type, const void *sh);

/* The bytes of a shareable handle of type (ACL_SHARE_HANDLE_*). */
static inline size_t shim_share_len(uint32_t type)
{
	return type == ACL_SHARE_HANDLE_DEFAULT ? ACL_SHARE_DEFAULT_HANDLE_LEN :
						  ACL_SHARE_FABRIC_HANDLE_LEN;
}

/* share.c */
/* Checks an aclrtServerPid array (107000 with the field named); the pids in all in *total. */
SHIM_HIDDEN aclError shim_check_server_pids(const char *fn, const aclrtServerPid *sp, size_t num,
					    size_t *total);
/* Whitelists (server, pid) pairs for the FABRIC handle sh; checks them first. */
SHIM_HIDDEN aclError shim_share_set_server_pids(const char *fn, const void *sh,
						const aclrtServerPid *sp, size_t num);
/* Imports a FABRIC handle on @device (no current-device check); the handle in *handle. */
SHIM_HIDDEN aclError shim_share_import_fabric(const char *fn, const void *sh, int32_t device,
					      aclrtDrvMemHandle *handle);
/* Exports the first @length bytes (0: all) of handle as a FABRIC handle; flags as V2's. */
SHIM_HIDDEN aclError shim_share_export_fabric(const char *fn, aclrtDrvMemHandle handle,
					      uint64_t flags, uint64_t length,
					      struct acl_share_fabric_handle *out);
/* Withdraws this process's export named by the shareable handle sh (ACL_SHARE_IOC_REVOKE). */
SHIM_HIDDEN aclError shim_share_revoke(const char *fn, const void *sh, uint32_t type);

/* runtime.c */
/* devmem.c: aclrtMalloc allocations and peer access (its lock is never held across other calls). */
SHIM_HIDDEN void shim_devmem_lock(void);
SHIM_HIDDEN void shim_devmem_unlock(void);
SHIM_HIDDEN void shim_devmem_forget_child(void);
/* An IPC key with its NUL (ipc.c). */
#define SHIM_IPC_KEY_LEN 63
/* What devmem.c knows of an aclrtMalloc allocation. */
struct shim_devmem_info {
	size_t size;			/* mapped */
	size_t granularity;		/* of its attribute */
	aclrtDrvMemHandle handle;
	char key[SHIM_IPC_KEY_LEN];	/* its IPC key, "" if not exported */
	size_t key_size;		/* the bytes the key names */
	uint64_t key_flags;		/* the export flags of the key */
};
/* The aclrtMalloc allocation that starts at ptr; false if none. */
SHIM_HIDDEN bool shim_devmem_lookup(const void *ptr, struct shim_devmem_info *info);
/* Records the key of the allocation at ptr, if it is still the one of handle. */
SHIM_HIDDEN bool shim_devmem_set_key(const void *ptr, aclrtDrvMemHandle handle, const char *key,
				     size_t key_size, uint64_t key_flags);
/* Whether an allocation of this process was exported under key; @clear forgets it. */
SHIM_HIDDEN bool shim_devmem_find_key(const char *key, bool clear);
/* ptr was an import that aclrtIpcMemClose unmapped: one aclrtFree of it succeeds. */
SHIM_HIDDEN aclError shim_devmem_note_closed(const char *fn, const void *ptr);
/* ptr is mapped again (a new import there): no aclrtFree of it is owed any more. */
SHIM_HIDDEN void shim_devmem_forget_closed(const void *ptr);

/* ipc.c: the keys this process exported or imported. */
SHIM_HIDDEN void shim_ipc_lock(void);
SHIM_HIDDEN void shim_ipc_unlock(void);
SHIM_HIDDEN void shim_ipc_forget_child(void);

SHIM_HIDDEN void shim_rt_lock(void);
SHIM_HIDDEN void shim_rt_unlock(void);
SHIM_HIDDEN void shim_rt_destroy_all_streams(void);

#endif /* ACL_SHIM_INTERNAL_H */
