/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * acl_share: host-RAM "physical allocations" that can be mapped, exported
 * to other processes behind a kernel-enforced pid whitelist, and imported.
 *
 * Conventions (after iommufd):
 *  - every argument struct starts with __u32 size and __u32 flags;
 *  - user pointers travel as __aligned_u64;
 *  - fields named __reserved must be zero; unknown flags give -EINVAL;
 *  - structs only ever grow at the end: the kernel accepts a smaller size
 *    (missing fields read as zero) and a larger size whose extra bytes are
 *    zero (else -E2BIG), as copy_struct_from_user() does;
 *  - a size smaller than the first version of the struct gives -EINVAL, a
 *    size above 4096 gives -E2BIG;
 *  - the command number is matched on its type, number and direction: the
 *    size bits of _IOWR follow the struct and change when it grows, so the
 *    kernel ignores them and the size field versions the struct.
 *
 * Every ioctl may also return:
 *  -EFAULT  the argument (or a pointer inside it) is not accessible; a call
 *           whose result cannot be written back is undone;
 *  -EACCES  the file was opened by another process (for instance the parent
 *           of a fork()): handles belong to the process that opened the device;
 *  -ENOTTY  unknown ioctl number.
 *
 * Handles are small integers local to one open file. A handle that ALLOC
 * or IMPORT makes is found by nothing (FREE, QUERY, EXPORT, mmap) until
 * the call has written its result back: a call that gets -EFAULT made
 * nothing.
 *
 * The pages of an allocation are mapped with mmap(2) on the same file at
 * the offset the kernel reports (mmap_offset), with MAP_SHARED and a length
 * equal to the allocation's length; a mapping of 2 MiB or more is placed at
 * a 2 MiB boundary (unless MAP_FIXED or an honoured hint says otherwise).
 * mmap(2) errors: -EACCES (the file was opened by another process,
 * PROT_EXEC, or PROT_WRITE on a file opened read-only), -EINVAL (not
 * MAP_SHARED, a length other than the allocation's, an offset beyond any
 * handle), -ENOENT (no such handle).
 */
#ifndef _UAPI_LINUX_ACL_SHARE_H
#define _UAPI_LINUX_ACL_SHARE_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define ACL_SHARE_IOC_TYPE 0xB8

/* Values of aclrtMemLocationType accepted by the module. */
#define ACL_SHARE_LOC_HOST 0
#define ACL_SHARE_LOC_DEVICE 1
#define ACL_SHARE_LOC_HOST_NUMA 4

/* The highest aclrtMemAttr value (ACL_MEM_P2P_HUGE1G). */
#define ACL_SHARE_MEM_ATTR_MAX 17

/* Shareable handle kinds (aclrtMemSharedHandleType). */
#define ACL_SHARE_HANDLE_DEFAULT 0x1
#define ACL_SHARE_HANDLE_FABRIC 0x2

#define ACL_SHARE_DEFAULT_HANDLE_LEN 8
#define ACL_SHARE_FABRIC_HANDLE_LEN 128

/*
 * The 128 bytes of a FABRIC shareable handle. Every byte is checked on
 * import: magic, version, server_id, key and secret must match an export of
 * this server and every __zero byte must be zero.
 */
#define ACL_SHARE_FABRIC_MAGIC 0x46534341 /* "ACSF" little-endian */
#define ACL_SHARE_FABRIC_VERSION 1

struct acl_share_fabric_handle {
	__u32 magic;
	__u16 version;
	__u16 __zero0;
	__u32 server_id;
	__u32 __zero1;
	__aligned_u64 key;
	__u8 secret[16];
	__u8 __zero2[88];
};

/**
 * struct acl_share_info - ACL_SHARE_IOC_INFO
 * @size: sizeof(struct acl_share_info)
 * @flags: must be 0
 * @out_bare_tgid: the caller's thread-group id in the initial pid namespace
 * @out_device_count: the module's device_count parameter
 * @out_server_id: the module's server_id parameter
 * @__reserved: must be 0
 *
 * Errors: -EINVAL (flags, __reserved or size), -E2BIG.
 */
struct acl_share_info {
	__u32 size;
	__u32 flags;
	__u32 out_bare_tgid;
	__u32 out_device_count;
	__u32 out_server_id;
	__u32 __reserved;
};

#define ACL_SHARE_IOC_INFO _IOWR(ACL_SHARE_IOC_TYPE, 0x00, struct acl_share_info)

/**
 * struct acl_share_alloc - ACL_SHARE_IOC_ALLOC
 * @size: sizeof(struct acl_share_alloc)
 * @flags: must be 0
 * @length: bytes; a non-zero multiple of the granularity of @mem_attr and
 *          the location (the kernel's base page, 4 or 16 KiB, for *_NORMAL
 *          host memory; 2 MiB for device memory and *_HUGE; 1 GiB for
 *          *_HUGE1G)
 * @mem_attr: an aclrtMemAttr value
 * @location_type: ACL_SHARE_LOC_*
 * @location_id: device index (< device_count) for DEVICE, NUMA node for
 *               HOST_NUMA, ignored for HOST
 * @out_handle: the new handle
 * @out_mmap_offset: the mmap(2) offset that maps this allocation
 * @__reserved: must be 0 (since the second version of the struct)
 *
 * The pages are zeroed, charged to the caller's memory cgroup, never
 * swapped or moved while the allocation exists, and come from the NUMA
 * node @location_id for HOST_NUMA. They count against the caller's
 * RLIMIT_MEMLOCK (per user, as io_uring and RDMA pinned pages do) unless it
 * has CAP_IPC_LOCK. Huge attributes get 2 MiB physically contiguous chunks
 * on every kernel; the kernel compacts memory to find them.
 *
 * Errors: -EINVAL (flags, __reserved, size, length, mem_attr,
 * location_type, a DDR attribute on a DEVICE location, a NUMA node
 * without memory), -ENODEV (device index >= device_count), -ENOMEM (out of memory,
 * memory cgroup limit, RLIMIT_MEMLOCK, the system's limit of open files,
 * or no 2 MiB contiguous chunk for a huge attribute even after
 * compaction), -EINTR (a fatal signal arrived while allocating), -EMFILE
 * (the file holds INT_MAX handles), -E2BIG.
 */
struct acl_share_alloc {
	__u32 size;
	__u32 flags;
	__aligned_u64 length;
	__u32 mem_attr;
	__u32 location_type;
	__u32 location_id;
	__u32 out_handle;
	__aligned_u64 out_mmap_offset;
	__aligned_u64 __reserved[2];
};

#define ACL_SHARE_IOC_ALLOC _IOWR(ACL_SHARE_IOC_TYPE, 0x01, struct acl_share_alloc)

/**
 * struct acl_share_free - ACL_SHARE_IOC_FREE
 * @size: sizeof(struct acl_share_free)
 * @flags: must be 0
 * @handle: a handle of this file (allocated or imported)
 * @__reserved: must be 0
 *
 * Drops the handle. The pages stay alive while any mapping or any other
 * holder (an import in another process) remains. Freeing the handle that
 * exported an allocation revokes its shareable handle.
 *
 * Errors: -EINVAL (flags, __reserved, size), -ENOENT (no such handle), -E2BIG.
 */
struct acl_share_free {
	__u32 size;
	__u32 flags;
	__u32 handle;
	__u32 __reserved;
};

#define ACL_SHARE_IOC_FREE _IOWR(ACL_SHARE_IOC_TYPE, 0x02, struct acl_share_free)

/**
 * enum acl_share_query_flags - out_flags of struct acl_share_query
 * @ACL_SHARE_QUERY_IMPORTED: the handle was imported from another process
 * @ACL_SHARE_QUERY_EXPORTED: the handle has a live export
 * @ACL_SHARE_QUERY_REMOTE: imported from another server (with IMPORTED):
 *     its memory is there, reached by copies; a mapping of it faults SIGBUS
 */
enum acl_share_query_flags {
	ACL_SHARE_QUERY_IMPORTED = 1 << 0,
	ACL_SHARE_QUERY_EXPORTED = 1 << 1,
	ACL_SHARE_QUERY_REMOTE = 1 << 2,
};

/**
 * struct acl_share_query - ACL_SHARE_IOC_QUERY
 * @size: sizeof(struct acl_share_query)
 * @flags: must be 0
 * @handle: a handle of this file
 * @out_flags: ACL_SHARE_QUERY_*
 * @out_length: the allocation's length in bytes
 * @out_mem_attr: the aclrtMemAttr it was allocated with
 * @out_location_type: ACL_SHARE_LOC_*
 * @out_location_id: device index or NUMA node
 * @out_page_size: the size of the chunks backing it (the kernel's base page
 *                 size, or 2 MiB)
 * @out_mmap_offset: the mmap(2) offset that maps it
 * @__reserved: must be 0 (since the second version of the struct)
 *
 * Errors: -EINVAL (flags, __reserved, size), -ENOENT (no such handle),
 * -E2BIG.
 */
struct acl_share_query {
	__u32 size;
	__u32 flags;
	__u32 handle;
	__u32 out_flags;
	__aligned_u64 out_length;
	__u32 out_mem_attr;
	__u32 out_location_type;
	__u32 out_location_id;
	__u32 out_page_size;
	__aligned_u64 out_mmap_offset;
	__aligned_u64 __reserved[2];
};

#define ACL_SHARE_IOC_QUERY _IOWR(ACL_SHARE_IOC_TYPE, 0x03, struct acl_share_query)

/**
 * enum acl_share_export_flags - flags of struct acl_share_export
 * @ACL_SHARE_EXPORT_NO_PID_CHECK: any process may import (no whitelist)
 */
enum acl_share_export_flags {
	ACL_SHARE_EXPORT_NO_PID_CHECK = 1 << 0,
};

/**
 * struct acl_share_export - ACL_SHARE_IOC_EXPORT
 * @size: sizeof(struct acl_share_export)
 * @flags: ACL_SHARE_EXPORT_NO_PID_CHECK lets any process import; without
 *         it nobody may import until ACL_SHARE_IOC_SET_PID names them
 * @handle: a handle this file allocated (not an imported one)
 * @share_type: ACL_SHARE_HANDLE_DEFAULT or ACL_SHARE_HANDLE_FABRIC
 * @shareable_uptr: where the kernel writes the shareable handle
 * @shareable_len: 8 for DEFAULT, 128 for FABRIC
 * @__reserved: must be 0
 * @length: how much of the allocation, from its start, an import may map:
 *          0 for all of it, else a multiple of the allocation's granularity
 *          no larger than the allocation (since the second version of the
 *          struct; the first exports all of it). An import handle of a
 *          partial export is that long: QUERY reports it and mmap(2) maps
 *          exactly that much.
 *
 * Errors: -EINVAL (unknown flags, __reserved, size, share_type,
 * shareable_len, length), -ENOENT (no such handle), -EPERM (the handle was
 * imported, not allocated here), -EEXIST (already exported), -EMFILE (the
 * max_exports limit of this process), -ENOMEM, -E2BIG.
 */
struct acl_share_export {
	__u32 size;
	__u32 flags;
	__u32 handle;
	__u32 share_type;
	__aligned_u64 shareable_uptr;
	__u32 shareable_len;
	__u32 __reserved;
	__aligned_u64 length;
};

#define ACL_SHARE_IOC_EXPORT _IOWR(ACL_SHARE_IOC_TYPE, 0x04, struct acl_share_export)

/**
 * enum acl_share_set_pid_flags - flags of struct acl_share_set_pid
 * @ACL_SHARE_SET_PID_SERVER: @pids_uptr is an array of struct
 *     acl_share_server_pid: processes named by (server id, bare tgid)
 */
enum acl_share_set_pid_flags {
	ACL_SHARE_SET_PID_SERVER = 1 << 0,
};

/**
 * struct acl_share_server_pid - one process of some server
 * @server_id: the server_id of the module on that server
 * @pid: its thread-group id in that server's initial pid namespace
 */
struct acl_share_server_pid {
	__u32 server_id;
	__s32 pid;
};

/**
 * struct acl_share_set_pid - ACL_SHARE_IOC_SET_PID
 * @size: sizeof(struct acl_share_set_pid)
 * @flags: 0, or ACL_SHARE_SET_PID_SERVER
 * @share_type: ACL_SHARE_HANDLE_DEFAULT or ACL_SHARE_HANDLE_FABRIC
 * @shareable_len: 8 for DEFAULT, 128 for FABRIC
 * @shareable_uptr: the shareable handle
 * @pids_uptr: an array of __s32 thread-group ids in the initial pid
 *             namespace, or of struct acl_share_server_pid
 * @num_pids: entries in @pids_uptr, 1..65535
 * @__reserved: must be 0
 *
 * Adds the processes that hold these pids now to the whitelist. Entries
 * equal to 0 are skipped; the call adds all or nothing.
 *
 * With ACL_SHARE_SET_PID_SERVER, entries of this server are checked and
 * added as above; entries of another server (FABRIC handles only) admit
 * the process holding that tgid there when it imports over the fabric
 * (docs/fabric.md): this server cannot check them. Their list, like the
 * local one, holds at most max_pids_per_handle entries.
 *
 * Errors: -EINVAL (flags, __reserved, size, share_type, shareable_len,
 * num_pids == 0, another server's entry for a DEFAULT handle),
 * -E2BIG (num_pids or the whitelist would exceed
 * max_pids_per_handle), -ENOENT (no such export, or revoked), -EPERM (the
 * caller is not the exporter), -EACCES (exported with
 * ACL_SHARE_EXPORT_NO_PID_CHECK), -ESRCH (a pid names no live process),
 * -EOPNOTSUPP (a FABRIC handle of another server), -ENOMEM.
 */
struct acl_share_set_pid {
	__u32 size;
	__u32 flags;
	__u32 share_type;
	__u32 shareable_len;
	__aligned_u64 shareable_uptr;
	__aligned_u64 pids_uptr;
	__u32 num_pids;
	__u32 __reserved;
};

#define ACL_SHARE_IOC_SET_PID _IOWR(ACL_SHARE_IOC_TYPE, 0x05, struct acl_share_set_pid)

/**
 * struct acl_share_import - ACL_SHARE_IOC_IMPORT
 * @size: sizeof(struct acl_share_import)
 * @flags: must be 0
 * @share_type: ACL_SHARE_HANDLE_DEFAULT or ACL_SHARE_HANDLE_FABRIC
 * @shareable_len: 8 for DEFAULT, 128 for FABRIC
 * @shareable_uptr: the shareable handle
 * @device_id: the device the importer works on (< device_count)
 * @out_handle: the new handle of this file
 * @out_mmap_offset: the mmap(2) offset that maps it
 * @__reserved: must be 0 (since the second version of the struct)
 * @out_length: the bytes the new handle maps (the exported length), as
 *              QUERY reports them (since the third version of the struct,
 *              as are the fields below: an older kernel leaves them 0)
 * @out_mem_attr: the aclrtMemAttr of the allocation
 * @out_location_type: ACL_SHARE_LOC_* of the allocation
 * @out_location_id: its device index or NUMA node
 * @out_page_size: the size of the chunks backing it
 *
 * The out_ fields of the third version spare the importer a QUERY: one
 * ioctl per aclrtMemImportFromShareableHandle.
 *
 * A FABRIC handle of another server is imported over the fabric when the
 * acl_share_fabric module is loaded (docs/fabric.md): that server's kernel
 * checks the handle, revocation and its whitelist (entries naming this
 * server and the caller's bare tgid) and holds a reference for the new
 * handle until it and every mapping of it are gone. The new handle reports
 * ACL_SHARE_QUERY_REMOTE; its memory is reached by copies, not by loads and
 * stores (a mapping of it faults SIGBUS), and it cannot be exported.
 *
 * Errors: -EINVAL (flags, __reserved, size, share_type, shareable_len), -ENODEV
 * (device_id), -ENOENT (unknown, malformed or revoked shareable handle, or
 * one whose exporter has exited),
 * -EPERM (the caller is the exporter, or is not whitelisted), -EEXIST (this
 * file already holds a live import of it), -EOPNOTSUPP (a FABRIC handle of
 * another server and no fabric module), -EHOSTUNREACH (that server is not
 * a configured peer), the fabric's errno when no authenticated link to it
 * can be made (-ECONNREFUSED, -EKEYREJECTED, -ENOKEY, -ETIMEDOUT, ...) or
 * the link fails during the request (-ECONNRESET), -EINTR (a signal arrived
 * while waiting for the other server: nothing is held), -EMFILE (the file
 * holds INT_MAX handles), -ENOMEM, -E2BIG.
 */
struct acl_share_import {
	__u32 size;
	__u32 flags;
	__u32 share_type;
	__u32 shareable_len;
	__aligned_u64 shareable_uptr;
	__u32 device_id;
	__u32 out_handle;
	__aligned_u64 out_mmap_offset;
	__aligned_u64 __reserved[2];
	__aligned_u64 out_length;
	__u32 out_mem_attr;
	__u32 out_location_type;
	__u32 out_location_id;
	__u32 out_page_size;
};

#define ACL_SHARE_IOC_IMPORT _IOWR(ACL_SHARE_IOC_TYPE, 0x06, struct acl_share_import)

/**
 * struct acl_share_revoke - ACL_SHARE_IOC_REVOKE
 * @size: sizeof(struct acl_share_revoke)
 * @flags: must be 0
 * @share_type: ACL_SHARE_HANDLE_DEFAULT or ACL_SHARE_HANDLE_FABRIC
 * @shareable_len: 8 for DEFAULT, 128 for FABRIC
 * @shareable_uptr: the shareable handle
 *
 * Withdraws an export of the caller's file: the shareable handle names
 * nothing any more (imports after it fail with -ENOENT), while the
 * allocation, its creator handle and the imports made before stay. The
 * handle may be exported again (under a new shareable handle). This is
 * aclrtIpcMemClose in the exporter.
 *
 * Errors: -EINVAL (flags, size, share_type, shareable_len), -ENOENT (no
 * such export, revoked already, or exported through another file of this
 * process), -EPERM (exported by another process), -EOPNOTSUPP (a FABRIC
 * handle of another server).
 */
struct acl_share_revoke {
	__u32 size;
	__u32 flags;
	__u32 share_type;
	__u32 shareable_len;
	__aligned_u64 shareable_uptr;
};

#define ACL_SHARE_IOC_REVOKE _IOWR(ACL_SHARE_IOC_TYPE, 0x07, struct acl_share_revoke)

/**
 * enum acl_share_copy_op - op of struct acl_share_copy
 * @ACL_SHARE_COPY_READ: from the handle's memory into the user buffer
 * @ACL_SHARE_COPY_WRITE: from the user buffer into the handle's memory
 * @ACL_SHARE_COPY_FILL: the handle's memory set to @value (no user buffer)
 */
enum acl_share_copy_op {
	ACL_SHARE_COPY_READ = 0,
	ACL_SHARE_COPY_WRITE = 1,
	ACL_SHARE_COPY_FILL = 2,
};

/**
 * struct acl_share_copy - ACL_SHARE_IOC_COPY
 * @size: sizeof(struct acl_share_copy)
 * @flags: must be 0
 * @handle: a remote import of this file (ACL_SHARE_QUERY_REMOTE)
 * @op: ACL_SHARE_COPY_*
 * @offset: where in the handle's memory, in bytes (any alignment)
 * @length: bytes, offset + length no larger than the handle's length
 * @uptr: the user buffer (READ, WRITE): any memory this process can
 *        read (WRITE) or write (READ), including a mapping of this file;
 *        0 for FILL
 * @value: the byte FILL writes (0..255); 0 for READ and WRITE
 * @__reserved: must be 0
 *
 * The memory of a remote import is on the server that exported it: the
 * kernel moves the bytes with RDMA READ and WRITE over the link to that
 * server, in pieces, and returns when all of them have completed. Copies
 * of one link take turns, piece by piece.
 *
 * Errors: -EINVAL (flags, __reserved, size, op, value or uptr where the op
 * uses none, the range), -ENOENT (no such
 * handle), -EOPNOTSUPP (not a remote import), -EFAULT (the user buffer),
 * -ENOLINK (the link it was imported over has ended: the import is dead),
 * -EIO (a transfer failed; the link is closed), -EINTR (a fatal signal; the
 * bytes before it may have been copied), -ENOMEM, -E2BIG.
 */
struct acl_share_copy {
	__u32 size;
	__u32 flags;
	__u32 handle;
	__u32 op;
	__aligned_u64 offset;
	__aligned_u64 length;
	__aligned_u64 uptr;
	__u32 value;
	__u32 __reserved;
};

#define ACL_SHARE_IOC_COPY _IOWR(ACL_SHARE_IOC_TYPE, 0x08, struct acl_share_copy)

#endif /* _UAPI_LINUX_ACL_SHARE_H */
