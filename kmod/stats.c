// SPDX-License-Identifier: GPL-2.0
/*
 * Aggregate counters, readable by anyone under
 * /sys/class/misc/acl_share/stats/. They carry no per-process detail.
 */
#include <linux/atomic.h>
#include <linux/device.h>
#include <linux/sysfs.h>

#include "acl_share.h"

static atomic64_t acl_stats[ACL_STAT_COUNT];
static atomic64_t acl_peaks[ACL_STAT_COUNT];

void acl_stat_add(enum acl_stat stat, s64 delta)
{
	s64 now = atomic64_add_return(delta, &acl_stats[stat]);
	s64 peak = atomic64_read(&acl_peaks[stat]);

	while (now > peak && !atomic64_try_cmpxchg(&acl_peaks[stat], &peak, now))
		;
}

struct acl_stat_attr {
	struct device_attribute attr;
	enum acl_stat stat;
	bool peak;
};

static ssize_t acl_stat_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct acl_stat_attr *sa = container_of(attr, struct acl_stat_attr, attr);
	atomic64_t *v = sa->peak ? &acl_peaks[sa->stat] : &acl_stats[sa->stat];

	return sysfs_emit(buf, "%lld\n", (long long)atomic64_read(v));
}

#define ACL_STAT_ATTR(_name, _stat, _peak)					\
	static struct acl_stat_attr acl_attr_##_name = {			\
		.attr = __ATTR(_name, 0444, acl_stat_show, NULL),		\
		.stat = _stat,							\
		.peak = _peak,							\
	}

ACL_STAT_ATTR(opens, ACL_STAT_OPENS, false);
ACL_STAT_ATTR(handles, ACL_STAT_HANDLES, false);
ACL_STAT_ATTR(allocations, ACL_STAT_ALLOCATIONS, false);
ACL_STAT_ATTR(allocated_bytes, ACL_STAT_BYTES, false);
ACL_STAT_ATTR(mappings, ACL_STAT_MAPPINGS, false);
ACL_STAT_ATTR(exports, ACL_STAT_EXPORTS, false);
ACL_STAT_ATTR(imports, ACL_STAT_IMPORTS, false);
ACL_STAT_ATTR(remote_imports, ACL_STAT_REMOTE_IMPORTS, false);
ACL_STAT_ATTR(remote_holders, ACL_STAT_REMOTE_HOLDERS, false);
ACL_STAT_ATTR(peak_allocations, ACL_STAT_ALLOCATIONS, true);
ACL_STAT_ATTR(peak_allocated_bytes, ACL_STAT_BYTES, true);
ACL_STAT_ATTR(peak_mappings, ACL_STAT_MAPPINGS, true);
ACL_STAT_ATTR(peak_exports, ACL_STAT_EXPORTS, true);
ACL_STAT_ATTR(peak_imports, ACL_STAT_IMPORTS, true);

static struct attribute *acl_stats_attrs[] = {
	&acl_attr_opens.attr.attr,
	&acl_attr_handles.attr.attr,
	&acl_attr_allocations.attr.attr,
	&acl_attr_allocated_bytes.attr.attr,
	&acl_attr_mappings.attr.attr,
	&acl_attr_exports.attr.attr,
	&acl_attr_imports.attr.attr,
	&acl_attr_remote_imports.attr.attr,
	&acl_attr_remote_holders.attr.attr,
	&acl_attr_peak_allocations.attr.attr,
	&acl_attr_peak_allocated_bytes.attr.attr,
	&acl_attr_peak_mappings.attr.attr,
	&acl_attr_peak_exports.attr.attr,
	&acl_attr_peak_imports.attr.attr,
	NULL,
};

static const struct attribute_group acl_stats_group = {
	.name = "stats",
	.attrs = acl_stats_attrs,
};

const struct attribute_group *acl_share_groups[] = {
	&acl_stats_group,
	NULL,
};
