/* SPDX-License-Identifier: MIT */
/*
 * share.c - exporting physical allocations as shareable handles, the pid
 * whitelist and importing. The kernel enforces every rule; the library
 * checks parameters first (for the precise ACL code) and turns the kernel's
 * errno into the code CANN returns plus a sentence that says why.
 *
 * The library remembers which shareable handles this process exported
 * (handles.c), only to tell "you are the exporter" from "you are not
 * whitelisted" when the kernel answers -EPERM to an import.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define MAX_PIDS 65535

/* "shareableHandle 0x..." or "FABRIC shareableHandle (server N, key 0x...)"; no secrets. */
static const char *describe(uint32_t type, const void *sh, char *buf, size_t len)
{
	if (type == ACL_SHARE_HANDLE_DEFAULT) {
		uint64_t v;

		memcpy(&v, sh, sizeof(v));
		snprintf(buf, len, "shareableHandle 0x%016" PRIx64, v);
	} else {
		struct acl_share_fabric_handle f;

		memcpy(&f, sh, sizeof(f));
		snprintf(buf, len, "FABRIC shareableHandle (server %u, key 0x%llx)", f.server_id,
			 (unsigned long long)f.key);
	}
	return buf;
}

static uint32_t bare_tgid(void)
{
	struct acl_share_info info;

	if (shim_dev_info("", &info) == ACL_SUCCESS)
		return info.out_bare_tgid;
	return (uint32_t)getpid();
}

/* The server a FABRIC handle names. */
static uint32_t handle_server(const void *sh)
{
	struct acl_share_fabric_handle f;

	memcpy(&f, sh, sizeof(f));
	return f.server_id;
}

static uint32_t this_server(const char *fn)
{
	struct acl_share_info info;

	return shim_dev_info(fn, &info) == ACL_SUCCESS ? info.out_server_id : 0;
}

/* A FABRIC handle of another server, and this call cannot cross servers (@err). */
static aclError other_server(const char *fn, const void *sh, int err)
{
	char eb[SHIM_ERRSTR_LEN];

	if (err == EOPNOTSUPP)
		return shim_fail(ACL_ERROR_RT_FEATURE_NOT_SUPPORT,
				 "%s: the FABRIC shareableHandle names server %u but this is server "
				 "%u; only an import crosses servers, and only with acl_share_fabric "
				 "loaded (docs/fabric.md): %s",
				 fn, handle_server(sh), this_server(fn),
				 shim_errno_str(err, eb, sizeof(eb)));
	if (err == EHOSTUNREACH)
		return shim_fail(ACL_ERROR_RT_FEATURE_NOT_SUPPORT,
				 "%s: the FABRIC shareableHandle names server %u, which is not a "
				 "configured peer of this server %u (acl-share-fabric add-peer): %s",
				 fn, handle_server(sh), this_server(fn),
				 shim_errno_str(err, eb, sizeof(eb)));
	if (err == EKEYREJECTED)
		return shim_fail(ACL_ERROR_RT_FEATURE_NOT_SUPPORT,
				 "%s: server %u, which the FABRIC shareableHandle names, and this "
				 "server do not hold the same cluster key, so neither accepts the "
				 "other (acl-share-fabric set-key on both): %s",
				 fn, handle_server(sh), shim_errno_str(err, eb, sizeof(eb)));
	return shim_fail(ACL_ERROR_RT_FEATURE_NOT_SUPPORT,
			 "%s: server %u, which the FABRIC shareableHandle names, cannot be reached "
			 "over the fabric (acl-share-fabric status tells why): %s",
			 fn, handle_server(sh), shim_errno_str(err, eb, sizeof(eb)));
}

static bool share_type_ok(uint32_t t)
{
	return t == ACL_SHARE_HANDLE_DEFAULT || t == ACL_SHARE_HANDLE_FABRIC;
}

/* ---- export ---- */

static aclError do_export(const char *fn, aclrtDrvMemHandle handle, uint64_t flags,
			  uint32_t type, uint64_t length, void *out)
{
	uint8_t buf[ACL_SHARE_FABRIC_HANDLE_LEN] = { 0 };
	char eb[SHIM_ERRSTR_LEN];
	struct acl_share_export e;
	aclError ret;
	uint32_t h = 0;
	int fd = -1, err;

	ret = shim_handle_fd(fn, handle, &h, &fd);
	if (ret)
		return ret;
	e = (struct acl_share_export){
		.size = sizeof(e),
		.flags = flags ? ACL_SHARE_EXPORT_NO_PID_CHECK : 0,
		.handle = h,
		.share_type = type,
		.shareable_uptr = (uintptr_t)buf,
		.shareable_len = (uint32_t)shim_share_len(type),
		.length = length,
	};
	err = shim_ioctl(fd, ACL_SHARE_IOC_EXPORT, &e);
	switch (err) {
	case 0:
		break;
	case ENOENT:
		return shim_fail(ACL_ERROR_RT_INVALID_HANDLE,
				 "%s: handle %p is not a live handle of this process (never allocated "
				 "here, or already freed): %s",
				 fn, handle, shim_errno_str(err, eb, sizeof(eb)));
	case EPERM:
		return shim_fail(ACL_ERROR_RT_DRV_INTERNAL_ERROR,
				 "%s: handle %p was imported from another process; only allocations "
				 "made by aclrtMallocPhysical in this process can be exported: %s",
				 fn, handle, shim_errno_str(err, eb, sizeof(eb)));
	case EEXIST:
		return shim_fail(ACL_ERROR_RT_DRV_INTERNAL_ERROR,
				 "%s: handle %p is already exported; an allocation can be exported "
				 "only once: %s",
				 fn, handle, shim_errno_str(err, eb, sizeof(eb)));
	case EMFILE:
		return shim_fail(ACL_ERROR_RT_OVER_LIMIT,
				 "%s: this process reached the module's limit of live exports "
				 "(/sys/module/acl_share/parameters/max_exports): %s",
				 fn, shim_errno_str(err, eb, sizeof(eb)));
	default:
		return shim_kernel_fail(fn, "the export", err);
	}
	shim_handles_note_export(h, type, buf);
	memcpy(out, buf, shim_share_len(type));
	return ACL_SUCCESS;
}

aclError aclrtMemExportToShareableHandle(aclrtDrvMemHandle handle, aclrtMemHandleType handleType,
					 uint64_t flags, uint64_t *shareableHandle)
{
	static const char fn[] = "aclrtMemExportToShareableHandle";

	if (!handle)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: handle is NULL", fn);
	if (!shareableHandle)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: shareableHandle is NULL", fn);
	if (handleType != ACL_MEM_HANDLE_TYPE_NONE)
		return shim_fail(ACL_ERROR_INVALID_PARAM,
				 "%s: handleType %u is not ACL_MEM_HANDLE_TYPE_NONE (0)", fn,
				 (unsigned)handleType);
	if (flags > ACL_RT_VMM_EXPORT_FLAG_DISABLE_PID_VALIDATION)
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
				 "%s: flags 0x%" PRIx64 " is neither ACL_RT_VMM_EXPORT_FLAG_DEFAULT (0) "
				 "nor ACL_RT_VMM_EXPORT_FLAG_DISABLE_PID_VALIDATION (1)",
				 fn, flags);
	return do_export(fn, handle, flags, ACL_SHARE_HANDLE_DEFAULT, 0, shareableHandle);
}

aclError aclrtMemExportToShareableHandleV2(aclrtDrvMemHandle handle, uint64_t flags,
					   aclrtMemSharedHandleType shareType, void *shareableHandle)
{
	static const char fn[] = "aclrtMemExportToShareableHandleV2";

	if (!handle)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: handle is NULL", fn);
	if (!shareableHandle)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: shareableHandle is NULL", fn);
	if (flags > ACL_RT_VMM_EXPORT_FLAG_DISABLE_PID_VALIDATION)
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
				 "%s: flags 0x%" PRIx64 " is neither ACL_RT_VMM_EXPORT_FLAG_DEFAULT (0) "
				 "nor ACL_RT_VMM_EXPORT_FLAG_DISABLE_PID_VALIDATION (1)",
				 fn, flags);
	if (!share_type_ok((uint32_t)shareType))
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
				 "%s: shareType %u is neither ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT (1) nor "
				 "ACL_MEM_SHARE_HANDLE_TYPE_FABRIC (2)",
				 fn, (unsigned)shareType);
	return do_export(fn, handle, flags, (uint32_t)shareType, 0, shareableHandle);
}

/* ---- whitelist ---- */

static long read_param(const char *name)
{
	char path[128];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/acl_share/parameters/%s", name);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/* The kernel found no live export for the shareable handle described by desc. */
static aclError unknown_shareable(const char *fn, const char *desc, int err)
{
	char eb[SHIM_ERRSTR_LEN];

	return shim_fail(ACL_ERROR_RT_INVALID_HANDLE,
			 "%s: %s is unknown, malformed or revoked (its exporter freed the "
			 "allocation or exited): %s",
			 fn, desc, shim_errno_str(err, eb, sizeof(eb)));
}

/*
 * SET_PID with @pidNum bare tgids of this server (@flags 0, @pids int32_t), or
 * with (server, tgid) pairs (ACL_SHARE_SET_PID_SERVER, struct acl_share_server_pid).
 */
static aclError do_set_pid(const char *fn, const void *sh, uint32_t type, uint32_t flags,
			   const void *pids, size_t pidNum)
{
	const int32_t *pid = flags ? NULL : pids;
	char eb[SHIM_ERRSTR_LEN], desc[96];
	struct acl_share_set_pid s;
	aclError ret;
	int fd = -1, err;

	ret = shim_dev_fd(fn, &fd);
	if (ret)
		return ret;
	s = (struct acl_share_set_pid){
		.size = sizeof(s),
		.share_type = type,
		.shareable_len = (uint32_t)shim_share_len(type),
		.flags = flags,
		.shareable_uptr = (uintptr_t)sh,
		.pids_uptr = (uintptr_t)pids,
		.num_pids = (uint32_t)pidNum,
	};
	err = shim_ioctl(fd, ACL_SHARE_IOC_SET_PID, &s);
	if (err == 0)
		return ACL_SUCCESS;
	if (err == EFAULT) /* do not touch the caller's buffers ourselves */
		return shim_fail(ACL_ERROR_INVALID_PARAM,
				 "%s: shareableHandle or pid points to memory this process cannot "
				 "read: %s",
				 fn, shim_errno_str(err, eb, sizeof(eb)));
	describe(type, sh, desc, sizeof(desc));
	switch (err) {
	case ENOENT:
		return unknown_shareable(fn, desc, err);
	case EPERM:
		return shim_fail(ACL_ERROR_RT_DRV_INTERNAL_ERROR,
				 "%s: this process (bare tgid %u) did not export %s; only the exporter "
				 "may set its whitelist: %s",
				 fn, bare_tgid(), desc, shim_errno_str(err, eb, sizeof(eb)));
	case EACCES:
		return shim_fail(ACL_ERROR_RT_NO_PERMISSION,
				 "%s: %s was exported with ACL_RT_VMM_EXPORT_FLAG_DISABLE_PID_VALIDATION, "
				 "so it has no whitelist to add to: %s",
				 fn, desc, shim_errno_str(err, eb, sizeof(eb)));
	case ESRCH: {
		char list[160] = "";
		size_t used = 0, shown = 0;

		if (!pid)
			return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
					 "%s: one of the pids of this server names no live process, or "
					 "a pid is negative (pids are bare tgids, see "
					 "aclrtDeviceGetBareTgid); nothing was added to the whitelist of "
					 "%s: %s",
					 fn, desc, shim_errno_str(err, eb, sizeof(eb)));
		for (size_t i = 0; i < pidNum && shown < 8 && used < sizeof(list) - 16; i++) {
			if (pid[i] == 0)
				continue;
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%d",
						 shown ? ", " : "", pid[i]);
			shown++;
		}
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
				 "%s: one of the %zu pids [%s%s] names no live process (pids are bare "
				 "tgids, see aclrtDeviceGetBareTgid); nothing was added to the "
				 "whitelist of %s: %s",
				 fn, pidNum, list, shown < pidNum ? ", ..." : "", desc,
				 shim_errno_str(err, eb, sizeof(eb)));
	}
	case E2BIG: {
		long max = read_param("max_pids_per_handle");

		if (max > 0)
			return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
					 "%s: pidNum %zu: adding that many pids would make the whitelist of "
					 "%s exceed the module's max_pids_per_handle %ld: %s",
					 fn, pidNum, desc, max, shim_errno_str(err, eb, sizeof(eb)));
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
				 "%s: pidNum %zu: adding that many pids would make the whitelist of %s "
				 "exceed the module's max_pids_per_handle: %s",
				 fn, pidNum, desc, shim_errno_str(err, eb, sizeof(eb)));
	}
	case EOPNOTSUPP:
		return other_server(fn, sh, err);
	default:
		return shim_kernel_fail(fn, "setting the whitelist", err);
	}
}

static aclError check_pids(const char *fn, const int32_t *pid, size_t pidNum)
{
	if (!pid)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: pid is NULL", fn);
	if (pidNum == 0)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: pidNum is 0", fn);
	return ACL_SUCCESS;
}

static aclError check_pid_count(const char *fn, size_t pidNum)
{
	if (pidNum > MAX_PIDS)
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
				 "%s: pidNum %zu exceeds the limit of %d pids per shareable handle", fn,
				 pidNum, MAX_PIDS);
	return ACL_SUCCESS;
}

aclError aclrtMemSetPidToShareableHandle(uint64_t shareableHandle, int32_t *pid, size_t pidNum)
{
	static const char fn[] = "aclrtMemSetPidToShareableHandle";
	aclError ret;

	ret = check_pids(fn, pid, pidNum);
	if (!ret)
		ret = check_pid_count(fn, pidNum);
	if (ret)
		return ret;
	return do_set_pid(fn, &shareableHandle, ACL_SHARE_HANDLE_DEFAULT, 0, pid, pidNum);
}

aclError aclrtMemSetPidToShareableHandleV2(void *shareableHandle, aclrtMemSharedHandleType shareType,
					   int32_t *pid, size_t pidNum)
{
	static const char fn[] = "aclrtMemSetPidToShareableHandleV2";
	aclError ret;

	if (!shareableHandle)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: shareableHandle is NULL", fn);
	ret = check_pids(fn, pid, pidNum);
	if (ret)
		return ret;
	if (!share_type_ok((uint32_t)shareType))
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
				 "%s: shareType %u is neither ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT (1) nor "
				 "ACL_MEM_SHARE_HANDLE_TYPE_FABRIC (2)",
				 fn, (unsigned)shareType);
	ret = check_pid_count(fn, pidNum);
	if (ret)
		return ret;
	return do_set_pid(fn, shareableHandle, (uint32_t)shareType, 0, pid, pidNum);
}

/* ---- whitelist by (server, pid): FABRIC handles across servers (docs/fabric.md) ---- */

aclError shim_check_server_pids(const char *fn, const aclrtServerPid *sp, size_t num,
				size_t *total)
{
	*total = 0;
	if (!sp)
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID, "%s: serverPids is NULL", fn);
	if (num == 0)
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID, "%s: num is 0", fn);
	for (size_t i = 0; i < num; i++) {
		if (!sp[i].pid)
			return shim_fail(ACL_ERROR_RT_PARAM_INVALID, "%s: serverPids[%zu].pid is NULL",
					 fn, i);
		if (sp[i].num == 0)
			return shim_fail(ACL_ERROR_RT_PARAM_INVALID, "%s: serverPids[%zu].num is 0",
					 fn, i);
		if (sp[i].num > MAX_PIDS || *total + sp[i].num > MAX_PIDS)
			return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
					 "%s: the entries name more than %d pids in all", fn, MAX_PIDS);
		*total += sp[i].num;
	}
	return ACL_SUCCESS;
}

aclError shim_share_set_server_pids(const char *fn, const void *sh, const aclrtServerPid *sp,
				    size_t num)
{
	struct acl_share_server_pid *pairs;
	size_t total, n = 0;
	aclError ret;

	ret = shim_check_server_pids(fn, sp, num, &total);
	if (ret)
		return ret;
	pairs = malloc(total * sizeof(*pairs));
	if (!pairs)
		return shim_fail(ACL_ERROR_RT_MEMORY_ALLOCATION, "%s: out of memory", fn);
	for (size_t i = 0; i < num; i++)
		for (size_t j = 0; j < sp[i].num; j++)
			pairs[n++] = (struct acl_share_server_pid){
				.server_id = sp[i].sdid,
				.pid = sp[i].pid[j],
			};
	ret = do_set_pid(fn, sh, ACL_SHARE_HANDLE_FABRIC, ACL_SHARE_SET_PID_SERVER, pairs, n);
	free(pairs);
	return ret;
}

aclError aclrtMemSetServerPidToShareableHandle(void *shareableHandle, aclrtServerPid *serverPid,
					       size_t num)
{
	static const char fn[] = "aclrtMemSetServerPidToShareableHandle";

	if (!shareableHandle)
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID, "%s: shareableHandle is NULL", fn);
	return shim_share_set_server_pids(fn, shareableHandle, serverPid, num);
}

/* ---- import ---- */

static aclError do_import(const char *fn, const void *sh, uint32_t type, int32_t device,
			  aclrtDrvMemHandle *handle)
{
	char eb[SHIM_ERRSTR_LEN], desc[96];
	struct acl_share_import im;
	aclError ret;
	int fd = -1, err;

	ret = shim_dev_fd(fn, &fd);
	if (ret)
		return ret;
	im = (struct acl_share_import){
		.size = sizeof(im),
		.share_type = type,
		.shareable_len = (uint32_t)shim_share_len(type),
		.shareable_uptr = (uintptr_t)sh,
		.device_id = (uint32_t)device,
	};
	err = shim_ioctl(fd, ACL_SHARE_IOC_IMPORT, &im);
	if (!err) {
		/*
		 * A kernel older than the struct's third version leaves out_length
		 * 0: the number is then asked of the kernel when it is used.
		 */
		if (!im.out_length)
			shim_handles_forget(im.out_handle);
		else
			shim_handles_add(&(struct shim_handle_info){
				.id = im.out_handle,
				.mem_attr = im.out_mem_attr,
				.loc_type = im.out_location_type,
				.loc_id = im.out_location_id,
				.length = im.out_length,
				.mmap_offset = im.out_mmap_offset,
				.remote = type == ACL_SHARE_HANDLE_FABRIC &&
					  handle_server(sh) != this_server(fn),
			});
		*handle = (aclrtDrvMemHandle)(uintptr_t)im.out_handle;
		return ACL_SUCCESS;
	}
	if (err == EFAULT) /* do not touch the caller's buffer ourselves */
		return shim_fail(ACL_ERROR_INVALID_PARAM,
				 "%s: shareableHandle points to memory this process cannot read: %s",
				 fn, shim_errno_str(err, eb, sizeof(eb)));
	describe(type, sh, desc, sizeof(desc));
	switch (err) {
	case ENOENT:
		return unknown_shareable(fn, desc, err);
	case EPERM:
		if (type == ACL_SHARE_HANDLE_FABRIC && handle_server(sh) != this_server(fn))
			return shim_fail(ACL_ERROR_RT_DRV_INTERNAL_ERROR,
					 "%s: server %u refused: its whitelist of %s does not name this "
					 "process (server %u, bare tgid %u); the exporter adds it with "
					 "aclrtMemSetServerPidToShareableHandle: %s",
					 fn, handle_server(sh), desc, this_server(fn), bare_tgid(),
					 shim_errno_str(err, eb, sizeof(eb)));
		if (shim_handles_exported_here(type, sh))
			return shim_fail(ACL_ERROR_RT_DRV_INTERNAL_ERROR,
					 "%s: this process exported %s itself; only other processes may "
					 "import it: %s",
					 fn, desc, shim_errno_str(err, eb, sizeof(eb)));
		return shim_fail(ACL_ERROR_RT_DRV_INTERNAL_ERROR,
				 "%s: this process (bare tgid %u) is not on the whitelist of %s (the "
				 "exporter must add it with aclrtMemSetPidToShareableHandle, or with "
				 "aclrtIpcMemSetImportPid for an IPC key): %s",
				 fn, bare_tgid(), desc, shim_errno_str(err, eb, sizeof(eb)));
	case EEXIST:
		return shim_fail(ACL_ERROR_RT_INVALID_HANDLE,
				 "%s: this process already holds a live import of %s; free that handle "
				 "before importing again: %s",
				 fn, desc, shim_errno_str(err, eb, sizeof(eb)));
	case ENODEV:
		return shim_fail(ACL_ERROR_RT_INVALID_DEVICEID,
				 "%s: the module rejected device %d: %s", fn, device,
				 shim_errno_str(err, eb, sizeof(eb)));
	case EOPNOTSUPP:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case ENETDOWN:
	case ECONNREFUSED:
	case ECONNRESET:
	case EKEYREJECTED:
	case ENOKEY:
	case EDESTADDRREQ:
	case ETIMEDOUT:
		return other_server(fn, sh, err);
	case EPROTO:
		return shim_fail(ACL_ERROR_RT_DRV_INTERNAL_ERROR,
				 "%s: server %u answered the import of %s with what this server "
				 "cannot accept: %s",
				 fn, handle_server(sh), desc, shim_errno_str(err, eb, sizeof(eb)));
	default:
		return shim_kernel_fail(fn, "the import", err);
	}
}

aclError aclrtMemImportFromShareableHandle(uint64_t shareableHandle, int32_t deviceId,
					   aclrtDrvMemHandle *handle)
{
	static const char fn[] = "aclrtMemImportFromShareableHandle";
	aclError ret;

	if (!handle)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: handle is NULL", fn);
	ret = shim_check_device(fn, "deviceId", deviceId);
	if (ret)
		return ret;
	return do_import(fn, &shareableHandle, ACL_SHARE_HANDLE_DEFAULT, deviceId, handle);
}

aclError aclrtMemImportFromShareableHandleV2(void *shareableHandle, aclrtMemSharedHandleType shareType,
					     uint64_t flags, aclrtDrvMemHandle *handle)
{
	static const char fn[] = "aclrtMemImportFromShareableHandleV2";
	int32_t dev;

	if (!shareableHandle)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: shareableHandle is NULL", fn);
	if (!handle)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: handle is NULL", fn);
	if (flags != 0)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: flags 0x%" PRIx64 " must be 0", fn,
				 flags);
	if (!share_type_ok((uint32_t)shareType))
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
				 "%s: shareType %u is neither ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT (1) nor "
				 "ACL_MEM_SHARE_HANDLE_TYPE_FABRIC (2)",
				 fn, (unsigned)shareType);
	dev = shim_current_device();
	if (dev < 0)
		return shim_fail(ACL_ERROR_RT_CONTEXT_NULL,
				 "%s: no current device on this thread (call aclrtSetDevice first)", fn);
	return do_import(fn, shareableHandle, (uint32_t)shareType, dev, handle);
}

/* ---- IPC keys (ipc.c): a FABRIC export of the first @length bytes, its import ---- */

aclError shim_share_import_fabric(const char *fn, const void *sh, int32_t device,
				  aclrtDrvMemHandle *handle)
{
	return do_import(fn, sh, ACL_SHARE_HANDLE_FABRIC, device, handle);
}

aclError shim_share_export_fabric(const char *fn, aclrtDrvMemHandle handle, uint64_t flags,
				  uint64_t length, struct acl_share_fabric_handle *out)
{
	return do_export(fn, handle, flags, ACL_SHARE_HANDLE_FABRIC, length, out);
}

/* ---- revocation (aclrtIpcMemClose in the exporter) ---- */

aclError shim_share_revoke(const char *fn, const void *sh, uint32_t type)
{
	char eb[SHIM_ERRSTR_LEN], desc[96];
	struct acl_share_revoke r;
	aclError ret;
	int fd = -1, err;

	ret = shim_dev_fd(fn, &fd);
	if (ret)
		return ret;
	r = (struct acl_share_revoke){
		.size = sizeof(r),
		.share_type = type,
		.shareable_len = (uint32_t)shim_share_len(type),
		.shareable_uptr = (uintptr_t)sh,
	};
	err = shim_ioctl(fd, ACL_SHARE_IOC_REVOKE, &r);
	describe(type, sh, desc, sizeof(desc));
	switch (err) {
	case 0:
		shim_handles_forget_export(type, sh);
		return ACL_SUCCESS;
	case ENOENT:
		return unknown_shareable(fn, desc, err);
	case EPERM:
		return shim_fail(ACL_ERROR_RT_DRV_INTERNAL_ERROR,
				 "%s: %s was exported by another process; only its exporter may "
				 "revoke it: %s", fn, desc, shim_errno_str(err, eb, sizeof(eb)));
	case EOPNOTSUPP:
		return other_server(fn, sh, err);
	default:
		return shim_kernel_fail(fn, "the revocation", err);
	}
}
