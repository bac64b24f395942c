/* SPDX-License-Identifier: GPL-2.0 */
/*
 * layout_asserts.h - compile-time checks of every public type, value,
 * error code and prototype of contract sections 2.1-2.4, and of the kernel
 * ABI structs of include/uapi/linux/acl_share.h.
 *
 * Included by layout_test.c (C11) and layout_test_cxx.cc (C++17), so the
 * same list proves the headers are right in both languages.
 */
#ifndef ACL_LAYOUT_ASSERTS_H
#define ACL_LAYOUT_ASSERTS_H

#include <stddef.h>
#include <stdint.h>

#include "acl/acl.h"
#include <linux/acl_share.h>

#ifdef __cplusplus
#include <type_traits>
#define LAYOUT_ASSERT(cond) static_assert(cond, #cond)
#define SAME_TYPE(a, b) (std::is_same<a, b>::value)
#define FN_TYPE(fn) decltype(&fn)
#define MEMBER_TYPE(t, m) decltype(((t *)0)->m)
#else
#define LAYOUT_ASSERT(cond) _Static_assert(cond, #cond)
#define SAME_TYPE(a, b) __builtin_types_compatible_p(a, b)
#define FN_TYPE(fn) __typeof__(&fn)
#define MEMBER_TYPE(t, m) __typeof__(((t *)0)->m)
#endif

/* A prototype is exactly "ret fn(args)". */
#define SIG_ASSERT(fn, ret, ...) LAYOUT_ASSERT(SAME_TYPE(FN_TYPE(fn), ret (*)(__VA_ARGS__)))

/* §2: basic types */
LAYOUT_ASSERT(SAME_TYPE(aclError, int));
LAYOUT_ASSERT(SAME_TYPE(aclrtDrvMemHandle, void *));
LAYOUT_ASSERT(SAME_TYPE(aclrtStream, void *));
LAYOUT_ASSERT(SAME_TYPE(aclrtContext, void *));

/* §2.3 enum values */
LAYOUT_ASSERT(ACL_MEM_HANDLE_TYPE_NONE == 0);
LAYOUT_ASSERT(ACL_MEM_HANDLE_TYPE_POSIX == 2);
LAYOUT_ASSERT(ACL_MEM_ALLOCATION_TYPE_PINNED == 0);
LAYOUT_ASSERT(ACL_DDR_MEM == 0);
LAYOUT_ASSERT(ACL_HBM_MEM == 1);
LAYOUT_ASSERT(ACL_DDR_MEM_HUGE == 2);
LAYOUT_ASSERT(ACL_DDR_MEM_NORMAL == 3);
LAYOUT_ASSERT(ACL_HBM_MEM_HUGE == 4);
LAYOUT_ASSERT(ACL_HBM_MEM_NORMAL == 5);
LAYOUT_ASSERT(ACL_DDR_MEM_P2P_HUGE == 6);
LAYOUT_ASSERT(ACL_DDR_MEM_P2P_NORMAL == 7);
LAYOUT_ASSERT(ACL_HBM_MEM_P2P_HUGE == 8);
LAYOUT_ASSERT(ACL_HBM_MEM_P2P_NORMAL == 9);
LAYOUT_ASSERT(ACL_HBM_MEM_HUGE1G == 10);
LAYOUT_ASSERT(ACL_HBM_MEM_P2P_HUGE1G == 11);
LAYOUT_ASSERT(ACL_MEM_NORMAL == 12);
LAYOUT_ASSERT(ACL_MEM_HUGE == 13);
LAYOUT_ASSERT(ACL_MEM_HUGE1G == 14);
LAYOUT_ASSERT(ACL_MEM_P2P_NORMAL == 15);
LAYOUT_ASSERT(ACL_MEM_P2P_HUGE == 16);
LAYOUT_ASSERT(ACL_MEM_P2P_HUGE1G == 17);
LAYOUT_ASSERT(ACL_MEM_LOCATION_TYPE_HOST == 0);
LAYOUT_ASSERT(ACL_MEM_LOCATION_TYPE_DEVICE == 1);
LAYOUT_ASSERT(ACL_MEM_LOCATION_TYPE_UNREGISTERED == 2);
LAYOUT_ASSERT(ACL_MEM_LOCATION_TYPE_MANAGED == 3);
LAYOUT_ASSERT(ACL_MEM_LOCATION_TYPE_HOST_NUMA == 4);
LAYOUT_ASSERT(ACL_RT_MEM_ALLOC_GRANULARITY_MINIMUM == 0);
LAYOUT_ASSERT(ACL_RT_MEM_ALLOC_GRANULARITY_RECOMMENDED == 1);
LAYOUT_ASSERT(ACL_RT_MEM_ALLOC_GRANULARITY_UNDEF == 0xFFFF);
LAYOUT_ASSERT(ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT == 0x1);
LAYOUT_ASSERT(ACL_MEM_SHARE_HANDLE_TYPE_FABRIC == 0x2);
LAYOUT_ASSERT(ACL_RT_MEM_ACCESS_FLAGS_NONE == 0x0);
LAYOUT_ASSERT(ACL_RT_MEM_ACCESS_FLAGS_READ == 0x1);
LAYOUT_ASSERT(ACL_RT_MEM_ACCESS_FLAGS_READWRITE == 0x3);
LAYOUT_ASSERT(ACL_MEMCPY_HOST_TO_HOST == 0);
LAYOUT_ASSERT(ACL_MEMCPY_HOST_TO_DEVICE == 1);
LAYOUT_ASSERT(ACL_MEMCPY_DEVICE_TO_HOST == 2);
LAYOUT_ASSERT(ACL_MEMCPY_DEVICE_TO_DEVICE == 3);
LAYOUT_ASSERT(ACL_MEMCPY_DEFAULT == 4);

/* The export flags are unsigned long constants 0x0UL / 0x1UL. */
LAYOUT_ASSERT(ACL_RT_VMM_EXPORT_FLAG_DEFAULT == 0x0UL);
LAYOUT_ASSERT(ACL_RT_VMM_EXPORT_FLAG_DISABLE_PID_VALIDATION == 0x1UL);
LAYOUT_ASSERT(ACL_RT_IPC_MEM_EXPORT_FLAG_DEFAULT == 0x0UL);
LAYOUT_ASSERT(ACL_RT_IPC_MEM_EXPORT_FLAG_DISABLE_PID_VALIDATION == 0x1UL);
LAYOUT_ASSERT(sizeof(ACL_RT_VMM_EXPORT_FLAG_DEFAULT) == sizeof(unsigned long));
LAYOUT_ASSERT(sizeof(ACL_RT_VMM_EXPORT_FLAG_DISABLE_PID_VALIDATION) == sizeof(unsigned long));
LAYOUT_ASSERT(sizeof(ACL_RT_IPC_MEM_EXPORT_FLAG_DEFAULT) == sizeof(unsigned long));
LAYOUT_ASSERT(sizeof(ACL_RT_IPC_MEM_EXPORT_FLAG_DISABLE_PID_VALIDATION) == sizeof(unsigned long));

/* Enums are int-sized, as in CANN's headers. */
LAYOUT_ASSERT(sizeof(aclrtMemHandleType) == 4);
LAYOUT_ASSERT(sizeof(aclrtMemAllocationType) == 4);
LAYOUT_ASSERT(sizeof(aclrtMemAttr) == 4);
LAYOUT_ASSERT(sizeof(aclrtMemLocationType) == 4);
LAYOUT_ASSERT(sizeof(aclrtMemGranularityOptions) == 4);
LAYOUT_ASSERT(sizeof(aclrtMemSharedHandleType) == 4);
LAYOUT_ASSERT(sizeof(aclrtMemAccessFlags) == 4);
LAYOUT_ASSERT(sizeof(aclrtMemcpyKind) == 4);

/* §2.3 struct layouts (LP64) */
LAYOUT_ASSERT(sizeof(aclrtMemLocation) == 8);
LAYOUT_ASSERT(offsetof(aclrtMemLocation, id) == 0);
LAYOUT_ASSERT(offsetof(aclrtMemLocation, type) == 4);
LAYOUT_ASSERT(SAME_TYPE(MEMBER_TYPE(aclrtMemLocation, id), uint32_t));
LAYOUT_ASSERT(SAME_TYPE(MEMBER_TYPE(aclrtMemLocation, type), aclrtMemLocationType));

LAYOUT_ASSERT(sizeof(aclrtPhysicalMemProp) == 32);
LAYOUT_ASSERT(offsetof(aclrtPhysicalMemProp, handleType) == 0);
LAYOUT_ASSERT(offsetof(aclrtPhysicalMemProp, allocationType) == 4);
LAYOUT_ASSERT(offsetof(aclrtPhysicalMemProp, memAttr) == 8);
LAYOUT_ASSERT(offsetof(aclrtPhysicalMemProp, location) == 12);
LAYOUT_ASSERT(offsetof(aclrtPhysicalMemProp, reserve) == 24);
LAYOUT_ASSERT(SAME_TYPE(MEMBER_TYPE(aclrtPhysicalMemProp, handleType), aclrtMemHandleType));
LAYOUT_ASSERT(SAME_TYPE(MEMBER_TYPE(aclrtPhysicalMemProp, allocationType),
			aclrtMemAllocationType));
LAYOUT_ASSERT(SAME_TYPE(MEMBER_TYPE(aclrtPhysicalMemProp, memAttr), aclrtMemAttr));
LAYOUT_ASSERT(SAME_TYPE(MEMBER_TYPE(aclrtPhysicalMemProp, location), aclrtMemLocation));
LAYOUT_ASSERT(SAME_TYPE(MEMBER_TYPE(aclrtPhysicalMemProp, reserve), uint64_t));

LAYOUT_ASSERT(sizeof(aclrtMemFabricHandle) == 128);
LAYOUT_ASSERT(offsetof(aclrtMemFabricHandle, data) == 0);
LAYOUT_ASSERT(sizeof(((aclrtMemFabricHandle *)0)->data) == 128);
LAYOUT_ASSERT(sizeof(((aclrtMemFabricHandle *)0)->data[0]) == 1);

LAYOUT_ASSERT(sizeof(aclrtMemAccessDesc) == 24);
LAYOUT_ASSERT(offsetof(aclrtMemAccessDesc, flags) == 0);
LAYOUT_ASSERT(offsetof(aclrtMemAccessDesc, location) == 4);
LAYOUT_ASSERT(offsetof(aclrtMemAccessDesc, rsv) == 12);
LAYOUT_ASSERT(sizeof(((aclrtMemAccessDesc *)0)->rsv) == 12);
LAYOUT_ASSERT(SAME_TYPE(MEMBER_TYPE(aclrtMemAccessDesc, flags), aclrtMemAccessFlags));
LAYOUT_ASSERT(SAME_TYPE(MEMBER_TYPE(aclrtMemAccessDesc, location), aclrtMemLocation));

/* §2.4 error codes */
LAYOUT_ASSERT(ACL_SUCCESS == 0);
LAYOUT_ASSERT(ACL_ERROR_INVALID_PARAM == 100000);
LAYOUT_ASSERT(ACL_ERROR_UNINITIALIZE == 100001);
LAYOUT_ASSERT(ACL_ERROR_REPEAT_INITIALIZE == 100002);
LAYOUT_ASSERT(ACL_ERROR_RT_PARAM_INVALID == 107000);
LAYOUT_ASSERT(ACL_ERROR_RT_INVALID_DEVICEID == 107001);
LAYOUT_ASSERT(ACL_ERROR_RT_CONTEXT_NULL == 107002);
LAYOUT_ASSERT(ACL_ERROR_RT_INVALID_HANDLE == 107017);
LAYOUT_ASSERT(ACL_ERROR_RT_FEATURE_NOT_SUPPORT == 207000);
LAYOUT_ASSERT(ACL_ERROR_RT_MEMORY_ALLOCATION == 207001);
LAYOUT_ASSERT(ACL_ERROR_RT_NO_DEVICE == 207004);
LAYOUT_ASSERT(ACL_ERROR_RT_NO_PERMISSION == 207006);
LAYOUT_ASSERT(ACL_ERROR_RT_OVER_LIMIT == 207012);
LAYOUT_ASSERT(ACL_ERROR_RT_DRV_INTERNAL_ERROR == 507899);

/* §2.1 prototypes */
SIG_ASSERT(aclrtMemGetAllocationGranularity, aclError, aclrtPhysicalMemProp *,
	   aclrtMemGranularityOptions, size_t *);
SIG_ASSERT(aclrtMallocPhysical, aclError, aclrtDrvMemHandle *, size_t,
	   const aclrtPhysicalMemProp *, uint64_t);
SIG_ASSERT(aclrtFreePhysical, aclError, aclrtDrvMemHandle);
SIG_ASSERT(aclrtReserveMemAddress, aclError, void **, size_t, size_t, void *, uint64_t);
SIG_ASSERT(aclrtReleaseMemAddress, aclError, void *);
SIG_ASSERT(aclrtMapMem, aclError, void *, size_t, size_t, aclrtDrvMemHandle, uint64_t);
SIG_ASSERT(aclrtUnmapMem, aclError, void *);
SIG_ASSERT(aclrtMemSetAccess, aclError, void *, size_t, aclrtMemAccessDesc *, size_t);
SIG_ASSERT(aclrtMemGetAccess, aclError, void *, aclrtMemLocation *, uint64_t *);
SIG_ASSERT(aclrtMemRetainAllocationHandle, aclError, void *, aclrtDrvMemHandle *);
SIG_ASSERT(aclrtMemGetAllocationPropertiesFromHandle, aclError, aclrtDrvMemHandle,
	   aclrtPhysicalMemProp *);
SIG_ASSERT(aclrtMemGetAddressRange, aclError, void *, void **, size_t *);
SIG_ASSERT(aclrtMemExportToShareableHandle, aclError, aclrtDrvMemHandle, aclrtMemHandleType,
	   uint64_t, uint64_t *);
SIG_ASSERT(aclrtMemExportToShareableHandleV2, aclError, aclrtDrvMemHandle, uint64_t,
	   aclrtMemSharedHandleType, void *);
SIG_ASSERT(aclrtMemSetPidToShareableHandle, aclError, uint64_t, int32_t *, size_t);
SIG_ASSERT(aclrtMemSetPidToShareableHandleV2, aclError, void *, aclrtMemSharedHandleType,
	   int32_t *, size_t);
SIG_ASSERT(aclrtMemImportFromShareableHandle, aclError, uint64_t, int32_t, aclrtDrvMemHandle *);
SIG_ASSERT(aclrtMemImportFromShareableHandleV2, aclError, void *, aclrtMemSharedHandleType,
	   uint64_t, aclrtDrvMemHandle *);
SIG_ASSERT(aclrtDeviceGetBareTgid, aclError, int32_t *);

/* §2.2 prototypes */
SIG_ASSERT(aclInit, aclError, const char *);
SIG_ASSERT(aclFinalize, aclError, void);
SIG_ASSERT(aclrtSetDevice, aclError, int32_t);
SIG_ASSERT(aclrtGetDevice, aclError, int32_t *);
SIG_ASSERT(aclrtResetDevice, aclError, int32_t);
SIG_ASSERT(aclrtResetDeviceForce, aclError, int32_t);
SIG_ASSERT(aclrtGetDeviceCount, aclError, uint32_t *);
SIG_ASSERT(aclrtCreateStream, aclError, aclrtStream *);
SIG_ASSERT(aclrtDestroyStream, aclError, aclrtStream);
SIG_ASSERT(aclrtDestroyStreamForce, aclError, aclrtStream);
SIG_ASSERT(aclrtSynchronizeStream, aclError, aclrtStream);
SIG_ASSERT(aclrtMallocHost, aclError, void **, size_t);
SIG_ASSERT(aclrtFreeHost, aclError, void *);
SIG_ASSERT(aclrtMemcpy, aclError, void *, size_t, const void *, size_t, aclrtMemcpyKind);
SIG_ASSERT(aclrtMemset, aclError, void *, size_t, int32_t, size_t);
SIG_ASSERT(aclGetRecentErrMsg, const char *, void);
SIG_ASSERT(aclrtMemcpyAsync, aclError, void *, size_t, const void *, size_t, aclrtMemcpyKind,
	   aclrtStream);
SIG_ASSERT(aclrtMemsetAsync, aclError, void *, size_t, int32_t, size_t, aclrtStream);

/* §7: device malloc and peer access */
SIG_ASSERT(aclrtMalloc, aclError, void **, size_t, aclrtMemMallocPolicy);
SIG_ASSERT(aclrtMallocAlign32, aclError, void **, size_t, aclrtMemMallocPolicy);
SIG_ASSERT(aclrtFree, aclError, void *);
SIG_ASSERT(aclrtDeviceCanAccessPeer, aclError, int32_t *, int32_t, int32_t);
SIG_ASSERT(aclrtDeviceEnablePeerAccess, aclError, int32_t, uint32_t);
SIG_ASSERT(aclrtDeviceDisablePeerAccess, aclError, int32_t);
SIG_ASSERT(aclrtDevicePeerAccessStatus, aclError, int32_t, int32_t, int32_t *);
SIG_ASSERT(aclrtIpcMemGetExportKey, aclError, void *, size_t, char *, size_t, uint64_t);
SIG_ASSERT(aclrtIpcMemSetImportPid, aclError, const char *, int32_t *, size_t);
SIG_ASSERT(aclrtIpcMemImportByKey, aclError, void **, const char *, uint64_t);
SIG_ASSERT(aclrtIpcMemClose, aclError, const char *);
SIG_ASSERT(aclrtIpcMemSetAttr, aclError, const char *, aclrtIpcMemAttrType, uint64_t);
SIG_ASSERT(aclrtIpcMemImportPidInterServer, aclError, const char *, aclrtServerPid *, size_t);
LAYOUT_ASSERT(ACL_RT_IPC_MEM_ATTR_ACCESS_LINK == 0);
LAYOUT_ASSERT(ACL_RT_IPC_MEM_ATTR_ACCESS_LINK_SIO == 0);
LAYOUT_ASSERT(ACL_RT_IPC_MEM_ATTR_ACCESS_LINK_HCCS == 1);
LAYOUT_ASSERT(ACL_RT_IPC_MEM_ATTR_ACCESS_LINK_UB_ONE_PORT_PATH == 2);
LAYOUT_ASSERT(ACL_RT_IPC_MEM_ATTR_ACCESS_LINK_UB_MULTI_PORT_PATH == 3);
LAYOUT_ASSERT(ACL_RT_IPC_MEM_IMPORT_FLAG_DEFAULT == 0x0UL);
LAYOUT_ASSERT(ACL_RT_IPC_MEM_IMPORT_FLAG_ENABLE_PEER_ACCESS == 0x1UL);
LAYOUT_ASSERT(offsetof(aclrtServerPid, sdid) == 0);
LAYOUT_ASSERT(offsetof(aclrtServerPid, pid) == 8);
LAYOUT_ASSERT(offsetof(aclrtServerPid, num) == 16);
LAYOUT_ASSERT(sizeof(aclrtServerPid) == 24);
LAYOUT_ASSERT(ACL_MEM_MALLOC_HUGE_FIRST == 0);
LAYOUT_ASSERT(ACL_MEM_MALLOC_HUGE_ONLY == 1);
LAYOUT_ASSERT(ACL_MEM_MALLOC_NORMAL_ONLY == 2);
LAYOUT_ASSERT(ACL_MEM_MALLOC_HUGE_FIRST_P2P == 3);
LAYOUT_ASSERT(ACL_MEM_MALLOC_HUGE_ONLY_P2P == 4);
LAYOUT_ASSERT(ACL_MEM_MALLOC_NORMAL_ONLY_P2P == 5);
LAYOUT_ASSERT(ACL_MEM_MALLOC_HUGE1G_ONLY == 6);
LAYOUT_ASSERT(ACL_MEM_MALLOC_HUGE1G_ONLY_P2P == 7);
LAYOUT_ASSERT(ACL_MEM_TYPE_LOW_BAND_WIDTH == 0x0100);
LAYOUT_ASSERT(ACL_MEM_TYPE_HIGH_BAND_WIDTH == 0x1000);
LAYOUT_ASSERT(ACL_MEM_ACCESS_USER_SPACE_READONLY == 0x100000);

/* §5: the kernel ABI. Every struct starts with size and flags, uses
 * fixed-width fields with explicit padding (no implicit holes: the sum of
 * the fields equals sizeof) and is 8-byte aligned in size. */
#define UAPI_HEAD(s)                                        \
	LAYOUT_ASSERT(offsetof(struct s, size) == 0);       \
	LAYOUT_ASSERT(sizeof(((struct s *)0)->size) == 4);  \
	LAYOUT_ASSERT(offsetof(struct s, flags) == 4);      \
	LAYOUT_ASSERT(sizeof(((struct s *)0)->flags) == 4); \
	LAYOUT_ASSERT(sizeof(struct s) % 8 == 0)
#define UAPI_FIELD(s, f, off, len)                         \
	LAYOUT_ASSERT(offsetof(struct s, f) == (off));     \
	LAYOUT_ASSERT(sizeof(((struct s *)0)->f) == (len))
#define UAPI_IOCTL(cmd, nr, s)                                         \
	LAYOUT_ASSERT(_IOC_TYPE(cmd) == ACL_SHARE_IOC_TYPE);           \
	LAYOUT_ASSERT(_IOC_NR(cmd) == (nr));                           \
	LAYOUT_ASSERT(_IOC_DIR(cmd) == (_IOC_READ | _IOC_WRITE));      \
	LAYOUT_ASSERT(_IOC_SIZE(cmd) == sizeof(struct s))

LAYOUT_ASSERT(ACL_SHARE_IOC_TYPE == 0xB8);
LAYOUT_ASSERT(ACL_SHARE_LOC_HOST == ACL_MEM_LOCATION_TYPE_HOST);
LAYOUT_ASSERT(ACL_SHARE_LOC_DEVICE == ACL_MEM_LOCATION_TYPE_DEVICE);
LAYOUT_ASSERT(ACL_SHARE_LOC_HOST_NUMA == ACL_MEM_LOCATION_TYPE_HOST_NUMA);
LAYOUT_ASSERT(ACL_SHARE_MEM_ATTR_MAX == ACL_MEM_P2P_HUGE1G);
LAYOUT_ASSERT(ACL_SHARE_HANDLE_DEFAULT == ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT);
LAYOUT_ASSERT(ACL_SHARE_HANDLE_FABRIC == ACL_MEM_SHARE_HANDLE_TYPE_FABRIC);
LAYOUT_ASSERT(ACL_SHARE_DEFAULT_HANDLE_LEN == sizeof(uint64_t));
LAYOUT_ASSERT(ACL_SHARE_FABRIC_HANDLE_LEN == sizeof(aclrtMemFabricHandle));

LAYOUT_ASSERT(sizeof(struct acl_share_fabric_handle) == 128);
UAPI_FIELD(acl_share_fabric_handle, magic, 0, 4);
UAPI_FIELD(acl_share_fabric_handle, version, 4, 2);
UAPI_FIELD(acl_share_fabric_handle, __zero0, 6, 2);
UAPI_FIELD(acl_share_fabric_handle, server_id, 8, 4);
UAPI_FIELD(acl_share_fabric_handle, __zero1, 12, 4);
UAPI_FIELD(acl_share_fabric_handle, key, 16, 8);
UAPI_FIELD(acl_share_fabric_handle, secret, 24, 16);
UAPI_FIELD(acl_share_fabric_handle, __zero2, 40, 88);

UAPI_HEAD(acl_share_info);
LAYOUT_ASSERT(sizeof(struct acl_share_info) == 24);
UAPI_FIELD(acl_share_info, out_bare_tgid, 8, 4);
UAPI_FIELD(acl_share_info, out_device_count, 12, 4);
UAPI_FIELD(acl_share_info, out_server_id, 16, 4);
UAPI_FIELD(acl_share_info, __reserved, 20, 4);
UAPI_IOCTL(ACL_SHARE_IOC_INFO, 0x00, acl_share_info);

UAPI_HEAD(acl_share_alloc);
LAYOUT_ASSERT(sizeof(struct acl_share_alloc) == 56);
UAPI_FIELD(acl_share_alloc, length, 8, 8);
UAPI_FIELD(acl_share_alloc, mem_attr, 16, 4);
UAPI_FIELD(acl_share_alloc, location_type, 20, 4);
UAPI_FIELD(acl_share_alloc, location_id, 24, 4);
UAPI_FIELD(acl_share_alloc, out_handle, 28, 4);
UAPI_FIELD(acl_share_alloc, out_mmap_offset, 32, 8);
UAPI_FIELD(acl_share_alloc, __reserved, 40, 16);
UAPI_IOCTL(ACL_SHARE_IOC_ALLOC, 0x01, acl_share_alloc);

UAPI_HEAD(acl_share_free);
LAYOUT_ASSERT(sizeof(struct acl_share_free) == 16);
UAPI_FIELD(acl_share_free, handle, 8, 4);
UAPI_FIELD(acl_share_free, __reserved, 12, 4);
UAPI_IOCTL(ACL_SHARE_IOC_FREE, 0x02, acl_share_free);

UAPI_HEAD(acl_share_query);
LAYOUT_ASSERT(sizeof(struct acl_share_query) == 64);
UAPI_FIELD(acl_share_query, handle, 8, 4);
UAPI_FIELD(acl_share_query, out_flags, 12, 4);
UAPI_FIELD(acl_share_query, out_length, 16, 8);
UAPI_FIELD(acl_share_query, out_mem_attr, 24, 4);
UAPI_FIELD(acl_share_query, out_location_type, 28, 4);
UAPI_FIELD(acl_share_query, out_location_id, 32, 4);
UAPI_FIELD(acl_share_query, out_page_size, 36, 4);
UAPI_FIELD(acl_share_query, out_mmap_offset, 40, 8);
UAPI_FIELD(acl_share_query, __reserved, 48, 16);
UAPI_IOCTL(ACL_SHARE_IOC_QUERY, 0x03, acl_share_query);

UAPI_HEAD(acl_share_export);
LAYOUT_ASSERT(sizeof(struct acl_share_export) == 40);
UAPI_FIELD(acl_share_export, handle, 8, 4);
UAPI_FIELD(acl_share_export, share_type, 12, 4);
UAPI_FIELD(acl_share_export, shareable_uptr, 16, 8);
UAPI_FIELD(acl_share_export, shareable_len, 24, 4);
UAPI_FIELD(acl_share_export, __reserved, 28, 4);
UAPI_FIELD(acl_share_export, length, 32, 8);
UAPI_IOCTL(ACL_SHARE_IOC_EXPORT, 0x04, acl_share_export);

UAPI_HEAD(acl_share_set_pid);
LAYOUT_ASSERT(sizeof(struct acl_share_set_pid) == 40);
UAPI_FIELD(acl_share_set_pid, share_type, 8, 4);
UAPI_FIELD(acl_share_set_pid, shareable_len, 12, 4);
UAPI_FIELD(acl_share_set_pid, shareable_uptr, 16, 8);
UAPI_FIELD(acl_share_set_pid, pids_uptr, 24, 8);
UAPI_FIELD(acl_share_set_pid, num_pids, 32, 4);
UAPI_FIELD(acl_share_set_pid, __reserved, 36, 4);
UAPI_IOCTL(ACL_SHARE_IOC_SET_PID, 0x05, acl_share_set_pid);

UAPI_HEAD(acl_share_import);
LAYOUT_ASSERT(sizeof(struct acl_share_import) == 80);
UAPI_FIELD(acl_share_import, share_type, 8, 4);
UAPI_FIELD(acl_share_import, shareable_len, 12, 4);
UAPI_FIELD(acl_share_import, shareable_uptr, 16, 8);
UAPI_FIELD(acl_share_import, device_id, 24, 4);
UAPI_FIELD(acl_share_import, out_handle, 28, 4);
UAPI_FIELD(acl_share_import, out_mmap_offset, 32, 8);
UAPI_FIELD(acl_share_import, __reserved, 40, 16);
UAPI_FIELD(acl_share_import, out_length, 56, 8);
UAPI_FIELD(acl_share_import, out_mem_attr, 64, 4);
UAPI_FIELD(acl_share_import, out_location_type, 68, 4);
UAPI_FIELD(acl_share_import, out_location_id, 72, 4);
UAPI_FIELD(acl_share_import, out_page_size, 76, 4);

UAPI_HEAD(acl_share_revoke);
LAYOUT_ASSERT(sizeof(struct acl_share_revoke) == 24);
UAPI_FIELD(acl_share_revoke, share_type, 8, 4);
UAPI_FIELD(acl_share_revoke, shareable_len, 12, 4);
UAPI_FIELD(acl_share_revoke, shareable_uptr, 16, 8);
UAPI_IOCTL(ACL_SHARE_IOC_IMPORT, 0x06, acl_share_import);
UAPI_IOCTL(ACL_SHARE_IOC_REVOKE, 0x07, acl_share_revoke);

#endif /* ACL_LAYOUT_ASSERTS_H */
