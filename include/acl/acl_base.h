/* SPDX-License-Identifier: MIT */
/*
 * acl_base.h - base types and error codes of the AscendCL API, as
 * implemented by libacl-shim over /dev/acl_share.
 */
#ifndef ACL_SHIM_ACL_BASE_H
#define ACL_SHIM_ACL_BASE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef ACL_FUNC_VISIBILITY
#define ACL_FUNC_VISIBILITY __attribute__((visibility("default")))
#endif

typedef int aclError;

#define ACL_SUCCESS 0
#define ACL_ERROR_INVALID_PARAM 100000
#define ACL_ERROR_UNINITIALIZE 100001
#define ACL_ERROR_REPEAT_INITIALIZE 100002
#define ACL_ERROR_RT_PARAM_INVALID 107000
#define ACL_ERROR_RT_INVALID_DEVICEID 107001
#define ACL_ERROR_RT_CONTEXT_NULL 107002
#define ACL_ERROR_RT_INVALID_HANDLE 107017
#define ACL_ERROR_RT_FEATURE_NOT_SUPPORT 207000
#define ACL_ERROR_RT_MEMORY_ALLOCATION 207001
#define ACL_ERROR_RT_NO_DEVICE 207004
#define ACL_ERROR_RT_NO_PERMISSION 207006
#define ACL_ERROR_RT_OVER_LIMIT 207012
#define ACL_ERROR_RT_DRV_INTERNAL_ERROR 507899

/*
 * Initialises the library. Calling it twice without aclFinalize() in
 * between returns ACL_ERROR_REPEAT_INITIALIZE. configPath may be NULL; a
 * non-NULL path must name a readable file.
 */
ACL_FUNC_VISIBILITY aclError aclInit(const char *configPath);

/* Undoes aclInit(); without a prior aclInit() it returns ACL_ERROR_UNINITIALIZE. */
ACL_FUNC_VISIBILITY aclError aclFinalize(void);

/*
 * A sentence describing the last failure of an ACL call on this thread
 * (which check failed and with which value), or NULL if no call on this
 * thread has failed yet. The text stays valid until the next failing call
 * on the same thread replaces it.
 */
ACL_FUNC_VISIBILITY const char *aclGetRecentErrMsg(void);

#ifdef __cplusplus
}
#endif

#endif /* ACL_SHIM_ACL_BASE_H */
