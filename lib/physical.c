/* SPDX-License-Identifier: MIT */
/*
 * physical.c - physical allocations: granularity, aclrtMallocPhysical,
 * aclrtFreePhysical, aclrtMemGetAllocationPropertiesFromHandle.
 */
#include <errno.h>
#include <inttypes.h>
#include <unistd.h>

#include "internal.h"

static const char *const attr_names[ACL_SHARE_MEM_ATTR_MAX + 1] = {
	"ACL_DDR_MEM",		"ACL_HBM_MEM",		  "ACL_DDR_MEM_HUGE",
	"ACL_DDR_MEM_NORMAL",	"ACL_HBM_MEM_HUGE",	  "ACL_HBM_MEM_NORMAL",
	"ACL_DDR_MEM_P2P_HUGE", "ACL_DDR_MEM_P2P_NORMAL", "ACL_HBM_MEM_P2P_HUGE",
	"ACL_HBM_MEM_P2P_NORMAL", "ACL_HBM_MEM_HUGE1G",	  "ACL_HBM_MEM_P2P_HUGE1G",
	"ACL_MEM_NORMAL",	"ACL_MEM_HUGE",		  "ACL_MEM_HUGE1G",
	"ACL_MEM_P2P_NORMAL",	"ACL_MEM_P2P_HUGE",	  "ACL_MEM_P2P_HUGE1G",
};

const char *shim_attr_name(uint32_t attr)
{
	return attr <= ACL_SHARE_MEM_ATTR_MAX ? attr_names[attr] : "an unknown attribute";
}

const char *shim_loc_name(uint32_t type)
{
	switch (type) {
	case ACL_MEM_LOCATION_TYPE_HOST:
		return "ACL_MEM_LOCATION_TYPE_HOST";
	case ACL_MEM_LOCATION_TYPE_DEVICE:
		return "ACL_MEM_LOCATION_TYPE_DEVICE";
	case ACL_MEM_LOCATION_TYPE_UNREGISTERED:
		return "ACL_MEM_LOCATION_TYPE_UNREGISTERED";
	case ACL_MEM_LOCATION_TYPE_MANAGED:
		return "ACL_MEM_LOCATION_TYPE_MANAGED";
	case ACL_MEM_LOCATION_TYPE_HOST_NUMA:
		return "ACL_MEM_LOCATION_TYPE_HOST_NUMA";
	default:
		return "an unknown location type";
	}
}

bool shim_attr_is_ddr(uint32_t attr)
{
	return attr == ACL_DDR_MEM || attr == ACL_DDR_MEM_HUGE || attr == ACL_DDR_MEM_NORMAL ||
	       attr == ACL_DDR_MEM_P2P_HUGE || attr == ACL_DDR_MEM_P2P_NORMAL;
}

bool shim_attr_is_normal(uint32_t attr)
{
	return attr == ACL_DDR_MEM_NORMAL || attr == ACL_HBM_MEM_NORMAL ||
	       attr == ACL_DDR_MEM_P2P_NORMAL || attr == ACL_HBM_MEM_P2P_NORMAL ||
	       attr == ACL_MEM_NORMAL || attr == ACL_MEM_P2P_NORMAL;
}

bool shim_attr_is_huge1g(uint32_t attr)
{
	return attr == ACL_HBM_MEM_HUGE1G || attr == ACL_HBM_MEM_P2P_HUGE1G ||
	       attr == ACL_MEM_HUGE1G || attr == ACL_MEM_P2P_HUGE1G;
}

size_t shim_granularity(uint32_t attr, uint32_t loc_type)
{
	if (shim_attr_is_huge1g(attr))
		return SHIM_1G;
	if (loc_type == ACL_MEM_LOCATION_TYPE_DEVICE)
		return SHIM_2M;
	if (shim_attr_is_normal(attr)) {
		long ps = sysconf(_SC_PAGESIZE);

		return ps > 0 ? (size_t)ps : 4096;
	}
	return SHIM_2M;
}

static bool loc_type_ok(uint32_t t)
{
	return t == ACL_MEM_LOCATION_TYPE_HOST || t == ACL_MEM_LOCATION_TYPE_DEVICE ||
	       t == ACL_MEM_LOCATION_TYPE_HOST_NUMA;
}

/* The checks shared by the granularity query and aclrtMallocPhysical. */
static aclError check_prop_kind(const char *fn, const aclrtPhysicalMemProp *prop)
{
	uint32_t attr = (uint32_t)prop->memAttr, type = (uint32_t)prop->location.type;

	if (attr > ACL_SHARE_MEM_ATTR_MAX)
		return shim_fail(ACL_ERROR_INVALID_PARAM,
				 "%s: prop->memAttr %u is not an aclrtMemAttr value (0..%d)", fn, attr,
				 ACL_SHARE_MEM_ATTR_MAX);
	if (!loc_type_ok(type))
		return shim_fail(ACL_ERROR_INVALID_PARAM,
				 "%s: prop->location.type %u (%s) is not supported; use "
				 "ACL_MEM_LOCATION_TYPE_HOST, _DEVICE or _HOST_NUMA",
				 fn, type, shim_loc_name(type));
	if (type == ACL_MEM_LOCATION_TYPE_DEVICE && shim_attr_is_ddr(attr))
		return shim_fail(ACL_ERROR_INVALID_PARAM,
				 "%s: prop->memAttr %s (%u) is a DDR attribute, which a DEVICE location "
				 "does not accept",
				 fn, shim_attr_name(attr), attr);
	return ACL_SUCCESS;
}

aclError aclrtMemGetAllocationGranularity(aclrtPhysicalMemProp *prop,
					  aclrtMemGranularityOptions option, size_t *granularity)
{
	static const char fn[] = "aclrtMemGetAllocationGranularity";
	aclError ret;

	if (!prop)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: prop is NULL", fn);
	if (!granularity)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: granularity is NULL", fn);
	if (option != ACL_RT_MEM_ALLOC_GRANULARITY_MINIMUM &&
	    option != ACL_RT_MEM_ALLOC_GRANULARITY_RECOMMENDED)
		return shim_fail(ACL_ERROR_INVALID_PARAM,
				 "%s: option %u is neither ACL_RT_MEM_ALLOC_GRANULARITY_MINIMUM (0) "
				 "nor ACL_RT_MEM_ALLOC_GRANULARITY_RECOMMENDED (1)",
				 fn, (unsigned)option);
	ret = check_prop_kind(fn, prop);
	if (ret)
		return ret;
	*granularity = shim_granularity((uint32_t)prop->memAttr, (uint32_t)prop->location.type);
	return ACL_SUCCESS;
}

aclError shim_kernel_fail(const char *fn, const char *what, int err)
{
	char eb[SHIM_ERRSTR_LEN];
	const char *e = shim_errno_str(err, eb, sizeof(eb));

	switch (err) {
	case ENOMEM:
		return shim_fail(ACL_ERROR_RT_MEMORY_ALLOCATION,
				 "%s: the kernel ran out of memory for %s: %s", fn, what, e);
	case ENODEV:
		return shim_fail(ACL_ERROR_RT_INVALID_DEVICEID,
				 "%s: the kernel rejected the device id of %s: %s", fn, what, e);
	case EOPNOTSUPP:
		return shim_fail(ACL_ERROR_RT_FEATURE_NOT_SUPPORT,
				 "%s: %s is not supported by the acl_share module: %s", fn, what, e);
	case EMFILE:
		return shim_fail(ACL_ERROR_RT_OVER_LIMIT,
				 "%s: %s hit a limit of the acl_share module: %s", fn, what, e);
	case EINVAL:
	case EFAULT:
		return shim_fail(ACL_ERROR_INVALID_PARAM,
				 "%s: the acl_share module rejected the parameters of %s: %s", fn, what,
				 e);
	case EACCES:
		return shim_fail(ACL_ERROR_RT_DRV_INTERNAL_ERROR,
				 "%s: the acl_share module refused %s because /dev/acl_share was "
				 "opened by another process: %s",
				 fn, what, e);
	default:
		return shim_fail(ACL_ERROR_RT_DRV_INTERNAL_ERROR,
				 "%s: the acl_share module failed %s: %s", fn, what, e);
	}
}

aclError aclrtMallocPhysical(aclrtDrvMemHandle *handle, size_t size,
			     const aclrtPhysicalMemProp *prop, uint64_t flags)
{
	static const char fn[] = "aclrtMallocPhysical";
	struct acl_share_alloc a;
	char eb[SHIM_ERRSTR_LEN];
	uint32_t attr, type, id;
	size_t gran;
	aclError ret;
	int fd = -1, err;

	if (!handle)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: handle is NULL", fn);
	if (!prop)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: prop is NULL", fn);
	if (flags != 0)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: flags 0x%" PRIx64 " must be 0", fn,
				 flags);
	if (size == 0)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: size is 0", fn);
	if (prop->handleType != ACL_MEM_HANDLE_TYPE_NONE)
		return shim_fail(ACL_ERROR_INVALID_PARAM,
				 "%s: prop->handleType %u is not ACL_MEM_HANDLE_TYPE_NONE (0)", fn,
				 (unsigned)prop->handleType);
	if (prop->allocationType != ACL_MEM_ALLOCATION_TYPE_PINNED)
		return shim_fail(ACL_ERROR_INVALID_PARAM,
				 "%s: prop->allocationType %u is not ACL_MEM_ALLOCATION_TYPE_PINNED (0)",
				 fn, (unsigned)prop->allocationType);
	ret = check_prop_kind(fn, prop);
	if (ret)
		return ret;

	attr = (uint32_t)prop->memAttr;
	type = (uint32_t)prop->location.type;
	id = prop->location.id;
	if (type == ACL_MEM_LOCATION_TYPE_DEVICE) {
		ret = shim_check_device(fn, "prop->location.id (device)", id);
		if (ret)
			return ret;
	} else if (type == ACL_MEM_LOCATION_TYPE_HOST) {
		id = 0; /* ignored for HOST */
	}

	gran = shim_granularity(attr, type);
	if (size % gran != 0)
		return shim_fail(ACL_ERROR_RT_PARAM_INVALID,
				 "%s: size %zu is not a multiple of the granularity %zu of %s on %s %u",
				 fn, size, gran, shim_attr_name(attr),
				 type == ACL_MEM_LOCATION_TYPE_DEVICE	? "device" :
				 type == ACL_MEM_LOCATION_TYPE_HOST_NUMA ? "NUMA node" :
									   "host",
				 id);

	ret = shim_dev_fd(fn, &fd);
	if (ret)
		return ret;
	a = (struct acl_share_alloc){
		.size = sizeof(a),
		.length = size,
		.mem_attr = attr,
		.location_type = type,
		.location_id = id,
	};
	err = shim_ioctl(fd, ACL_SHARE_IOC_ALLOC, &a);
	if (err == ENOMEM)
		return shim_fail(ACL_ERROR_RT_MEMORY_ALLOCATION,
				 "%s: cannot allocate size %zu of %s: out of memory, memory cgroup "
				 "limit reached, RLIMIT_MEMLOCK of this user exceeded (pinned memory; "
				 "see ulimit -l)%s: %s",
				 fn, size, shim_attr_name(attr),
				 shim_attr_is_normal(attr) ? "" : " or no free 2 MiB contiguous chunk",
				 shim_errno_str(err, eb, sizeof(eb)));
	if (err == EINVAL && type == ACL_MEM_LOCATION_TYPE_HOST_NUMA)
		return shim_fail(ACL_ERROR_INVALID_PARAM,
				 "%s: the kernel rejected prop->location.id %u: it is not an online "
				 "NUMA node: %s",
				 fn, id, shim_errno_str(err, eb, sizeof(eb)));
	if (err)
		return shim_kernel_fail(fn, "the allocation", err);
	shim_handles_add(&(struct shim_handle_info){
		.id = a.out_handle,
		.mem_attr = attr,
		.loc_type = type,
		.loc_id = id,
		.length = size,
		.mmap_offset = a.out_mmap_offset,
	});
	*handle = (aclrtDrvMemHandle)(uintptr_t)a.out_handle;
	return ACL_SUCCESS;
}

aclError shim_handle_fd(const char *fn, aclrtDrvMemHandle handle, uint32_t *h, int *fd)
{
	uintptr_t v = (uintptr_t)handle;

	if (v == 0 || v > UINT32_MAX)
		return shim_fail(ACL_ERROR_RT_INVALID_HANDLE,
				 "%s: handle %p is not a handle of this process", fn, handle);
	*h = (uint32_t)v;
	return shim_dev_fd(fn, fd);
}

aclError shim_query_handle(const char *fn, aclrtDrvMemHandle handle, struct acl_share_query *q)
{
	uint32_t h = 0;
	aclError ret;
	int fd = -1, err;

	ret = shim_handle_fd(fn, handle, &h, &fd);
	if (ret)
		return ret;
	*q = (struct acl_share_query){ .size = sizeof(*q), .handle = h };
	err = shim_ioctl(fd, ACL_SHARE_IOC_QUERY, q);
	if (err == ENOENT)
		return shim_fail(ACL_ERROR_RT_INVALID_HANDLE,
				 "%s: handle %p is not a live handle of this process (never allocated "
				 "or imported here, or already freed)",
				 fn, handle);
	if (err)
		return shim_kernel_fail(fn, "the handle query", err);
	return ACL_SUCCESS;
}

aclError aclrtFreePhysical(aclrtDrvMemHandle handle)
{
	static const char fn[] = "aclrtFreePhysical";
	struct acl_share_free f;
	aclError ret;
	uint32_t h = 0;
	int fd = -1, err;

	if (!handle)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: handle is NULL", fn);
	ret = shim_handle_fd(fn, handle, &h, &fd);
	if (ret)
		return ret;
	f = (struct acl_share_free){ .size = sizeof(f), .handle = h };
	shim_handles_forget(h); /* before the kernel may hand the number out again */
	err = shim_ioctl(fd, ACL_SHARE_IOC_FREE, &f);
	if (err == ENOENT)
		return shim_fail(ACL_ERROR_RT_INVALID_HANDLE,
				 "%s: handle %p is not a live handle of this process (never allocated "
				 "or imported here, or already freed)",
				 fn, handle);
	if (err)
		return shim_kernel_fail(fn, "freeing the handle", err);
	return ACL_SUCCESS;
}

aclError aclrtMemGetAllocationPropertiesFromHandle(aclrtDrvMemHandle handle,
						   aclrtPhysicalMemProp *prop)
{
	static const char fn[] = "aclrtMemGetAllocationPropertiesFromHandle";
	struct shim_handle_info hi;
	aclError ret;

	if (!handle)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: handle is NULL", fn);
	if (!prop)
		return shim_fail(ACL_ERROR_INVALID_PARAM, "%s: prop is NULL", fn);
	ret = shim_handle_info(fn, handle, &hi);
	if (ret)
		return ret;
	*prop = (aclrtPhysicalMemProp){
		.handleType = ACL_MEM_HANDLE_TYPE_NONE,
		.allocationType = ACL_MEM_ALLOCATION_TYPE_PINNED,
		.memAttr = (aclrtMemAttr)hi.mem_attr,
		.location = { .id = hi.loc_id, .type = (aclrtMemLocationType)hi.loc_type },
		.reserve = 0,
	};
	return ACL_SUCCESS;
}
