// SPDX-License-Identifier: GPL-2.0
/*
 * layout_test - the public headers have the exact types, values, error
 * codes, struct layouts and prototypes of contract sections 2.1-2.4, and the
 * kernel ABI structs follow section 5. Almost everything is checked at
 * compile time (layout_asserts.h; the same list is compiled as C++ by
 * layout_test_cxx.cc). At run time: every function of the API is exported
 * by the library, and the ioctl numbers are distinct.
 */
#include "layout_asserts.h"

#include "acl_test_util.h"

typedef void (*any_fn)(void);

TEST(every_function_is_exported)
{
	/* Taking each address makes the static link fail on a missing symbol. */
	const any_fn fns[] = {
		(any_fn)aclrtMemGetAllocationGranularity, (any_fn)aclrtMallocPhysical,
		(any_fn)aclrtFreePhysical, (any_fn)aclrtReserveMemAddress,
		(any_fn)aclrtReleaseMemAddress, (any_fn)aclrtMapMem, (any_fn)aclrtUnmapMem,
		(any_fn)aclrtMemSetAccess, (any_fn)aclrtMemGetAccess,
		(any_fn)aclrtMemRetainAllocationHandle,
		(any_fn)aclrtMemGetAllocationPropertiesFromHandle, (any_fn)aclrtMemGetAddressRange,
		(any_fn)aclrtMemExportToShareableHandle, (any_fn)aclrtMemExportToShareableHandleV2,
		(any_fn)aclrtMemSetPidToShareableHandle, (any_fn)aclrtMemSetPidToShareableHandleV2,
		(any_fn)aclrtMemImportFromShareableHandle,
		(any_fn)aclrtMemImportFromShareableHandleV2, (any_fn)aclrtDeviceGetBareTgid,
		(any_fn)aclInit, (any_fn)aclFinalize, (any_fn)aclrtSetDevice, (any_fn)aclrtGetDevice,
		(any_fn)aclrtResetDevice, (any_fn)aclrtResetDeviceForce, (any_fn)aclrtGetDeviceCount,
		(any_fn)aclrtCreateStream, (any_fn)aclrtDestroyStream,
		(any_fn)aclrtDestroyStreamForce, (any_fn)aclrtSynchronizeStream,
		(any_fn)aclrtMallocHost, (any_fn)aclrtFreeHost, (any_fn)aclrtMemcpy,
		(any_fn)aclrtMemset, (any_fn)aclGetRecentErrMsg, (any_fn)aclrtMemcpyAsync,
		(any_fn)aclrtMemsetAsync, (any_fn)aclrtMalloc, (any_fn)aclrtMallocAlign32,
		(any_fn)aclrtFree, (any_fn)aclrtDeviceCanAccessPeer,
		(any_fn)aclrtDeviceEnablePeerAccess, (any_fn)aclrtDeviceDisablePeerAccess,
		(any_fn)aclrtDevicePeerAccessStatus, (any_fn)aclrtIpcMemGetExportKey,
		(any_fn)aclrtIpcMemSetImportPid, (any_fn)aclrtIpcMemImportByKey,
		(any_fn)aclrtIpcMemClose, (any_fn)aclrtIpcMemSetAttr,
		(any_fn)aclrtIpcMemImportPidInterServer,
		(any_fn)aclrtMemSetServerPidToShareableHandle,
	};

	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		EXPECT_NE(NULL, (void *)fns[i]) TH_LOG("function #%zu", i);
		for (size_t j = 0; j < i; j++) {
			EXPECT_NE((void *)fns[i], (void *)fns[j]) TH_LOG("functions #%zu and #%zu", i, j);
		}
	}
}

TEST(ioctl_numbers_are_distinct)
{
	const unsigned long cmds[] = {
		ACL_SHARE_IOC_INFO, ACL_SHARE_IOC_ALLOC, ACL_SHARE_IOC_FREE, ACL_SHARE_IOC_QUERY,
		ACL_SHARE_IOC_EXPORT, ACL_SHARE_IOC_SET_PID, ACL_SHARE_IOC_IMPORT,
		ACL_SHARE_IOC_REVOKE, ACL_SHARE_IOC_COPY,
	};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		EXPECT_EQ(i, _IOC_NR(cmds[i]));
		for (size_t j = 0; j < i; j++) {
			EXPECT_NE(cmds[i], cmds[j]);
		}
	}
}

TEST(error_codes_are_distinct)
{
	const aclError codes[] = {
		ACL_SUCCESS, ACL_ERROR_INVALID_PARAM, ACL_ERROR_UNINITIALIZE,
		ACL_ERROR_REPEAT_INITIALIZE, ACL_ERROR_RT_PARAM_INVALID,
		ACL_ERROR_RT_INVALID_DEVICEID, ACL_ERROR_RT_CONTEXT_NULL,
		ACL_ERROR_RT_INVALID_HANDLE, ACL_ERROR_RT_FEATURE_NOT_SUPPORT,
		ACL_ERROR_RT_MEMORY_ALLOCATION, ACL_ERROR_RT_NO_DEVICE,
		ACL_ERROR_RT_NO_PERMISSION, ACL_ERROR_RT_OVER_LIMIT,
		ACL_ERROR_RT_DRV_INTERNAL_ERROR,
	};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		for (size_t j = 0; j < i; j++) {
			EXPECT_NE(codes[i], codes[j]);
		}
	}
}

TEST_HARNESS_MAIN
