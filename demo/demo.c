// SPDX-License-Identifier: MIT
/*
 * demo.c - the transcript helpers shared by every demo program: numbered
 * steps, notes, the outcome of each ACL call with aclGetRecentErrMsg(), and
 * the module's counters.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "demo.h"

static const char *prefix = "";
static unsigned int step_no;

void demo_set_prefix(const char *p)
{
	prefix = p;
}

void demo_step(const char *fmt, ...)
{
	va_list ap;

	printf("%s[%u] ", prefix, ++step_no);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

void demo_note(const char *fmt, ...)
{
	va_list ap;

	printf("%s      ", prefix);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static const char *err_name(aclError ret)
{
	switch (ret) {
	case ACL_ERROR_INVALID_PARAM: return "ACL_ERROR_INVALID_PARAM";
	case ACL_ERROR_UNINITIALIZE: return "ACL_ERROR_UNINITIALIZE";
	case ACL_ERROR_REPEAT_INITIALIZE: return "ACL_ERROR_REPEAT_INITIALIZE";
	case ACL_ERROR_RT_PARAM_INVALID: return "ACL_ERROR_RT_PARAM_INVALID";
	case ACL_ERROR_RT_INVALID_DEVICEID: return "ACL_ERROR_RT_INVALID_DEVICEID";
	case ACL_ERROR_RT_CONTEXT_NULL: return "ACL_ERROR_RT_CONTEXT_NULL";
	case ACL_ERROR_RT_INVALID_HANDLE: return "ACL_ERROR_RT_INVALID_HANDLE";
	case ACL_ERROR_RT_FEATURE_NOT_SUPPORT: return "ACL_ERROR_RT_FEATURE_NOT_SUPPORT";
	case ACL_ERROR_RT_MEMORY_ALLOCATION: return "ACL_ERROR_RT_MEMORY_ALLOCATION";
	case ACL_ERROR_RT_NO_DEVICE: return "ACL_ERROR_RT_NO_DEVICE";
	case ACL_ERROR_RT_NO_PERMISSION: return "ACL_ERROR_RT_NO_PERMISSION";
	case ACL_ERROR_RT_OVER_LIMIT: return "ACL_ERROR_RT_OVER_LIMIT";
	case ACL_ERROR_RT_DRV_INTERNAL_ERROR: return "ACL_ERROR_RT_DRV_INTERNAL_ERROR";
	default: return "an unknown code";
	}
}

int demo_check(aclError ret, const char *call)
{
	const char *msg;

	if (ret == ACL_SUCCESS)
		return 0;
	msg = aclGetRecentErrMsg();
	printf("%s      FAILED: %s returned %d (%s)\n%s      aclGetRecentErrMsg(): %s\n", prefix,
	       call, ret, err_name(ret), prefix, msg ? msg : "(no message)");
	fflush(stdout);
	return -1;
}

int demo_fail(const char *fmt, ...)
{
	va_list ap;

	printf("%s      FAILED: ", prefix);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	return -1;
}

const char *demo_size(size_t bytes, char *buf, size_t len)
{
	if (bytes && bytes % ((size_t)1 << 30) == 0)
		snprintf(buf, len, "%zu GiB", bytes >> 30);
	else if (bytes && bytes % ((size_t)1 << 20) == 0)
		snprintf(buf, len, "%zu MiB", bytes >> 20);
	else if (bytes && bytes % ((size_t)1 << 10) == 0)
		snprintf(buf, len, "%zu KiB", bytes >> 10);
	else
		snprintf(buf, len, "%zu bytes", bytes);
	return buf;
}

static int read_counter(const char *name, long long *v)
{
	char path[128];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "/sys/class/misc/acl_share/stats/%s", name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	ok = fscanf(f, "%lld", v) == 1;
	fclose(f);
	return ok ? 0 : -1;
}

int demo_read_counters(struct demo_counters *c)
{
	if (read_counter("allocations", &c->allocations) ||
	    read_counter("allocated_bytes", &c->allocated_bytes) ||
	    read_counter("mappings", &c->mappings))
		return -1;
	return 0;
}
