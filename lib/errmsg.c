/* SPDX-License-Identifier: MIT */
/* errmsg.c - the thread-local sentence behind aclGetRecentErrMsg(). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define MSG_LEN 1024

static __thread char recent_msg[MSG_LEN];
static __thread bool recent_set;

aclError shim_fail(aclError code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(recent_msg, sizeof(recent_msg), fmt, ap);
	va_end(ap);
	recent_set = true;
	return code;
}

aclError shim_fail_within(const char *fn, aclError code)
{
	char inner[MSG_LEN];

	snprintf(inner, sizeof(inner), "%s", recent_set ? recent_msg : "(no message)");
	return shim_fail(code, "%s: %s", fn, inner);
}

const char *shim_errno_str(int err, char *buf, size_t len)
{
	const char *name = strerrorname_np(err);
	const char *desc = strerrordesc_np(err);

	if (name && desc)
		snprintf(buf, len, "%s (%s)", name, desc);
	else
		snprintf(buf, len, "errno %d", err);
	return buf;
}

const char *aclGetRecentErrMsg(void)
{
	return recent_set ? recent_msg : NULL;
}
