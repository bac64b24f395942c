// SPDX-License-Identifier: GPL-2.0
/*
 * acl_share: AscendCL physical-memory sharing on host RAM.
 *
 * The character device /dev/acl_share gives each opener a context bound to
 * its thread group; the ioctls allocate, free, query, export, whitelist and
 * import physical allocations, and mmap maps them. See
 * include/uapi/linux/acl_share.h for the ABI.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/compat.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mman.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/nospec.h>
#include <linux/sched/signal.h>
#include <linux/uaccess.h>

#include "acl_share.h"
#include "compat.h"

unsigned int acl_device_count = 8;
module_param_named(device_count, acl_device_count, uint, 0444);
MODULE_PARM_DESC(device_count, "Number of emulated devices (1..1024, default 8: one Atlas 800T A2)");

unsigned int acl_server_id;
module_param_named(server_id, acl_server_id, uint, 0444);
MODULE_PARM_DESC(server_id, "Server id carried by FABRIC shareable handles (default 0)");

/* For acl_share_fabric.ko, which links this server with the others. */
u32 acl_share_server_id(void)
{
	return acl_server_id;
}
EXPORT_SYMBOL_GPL(acl_share_server_id);

unsigned int acl_max_exports = 65536;
module_param_named(max_exports, acl_max_exports, uint, 0444);
MODULE_PARM_DESC(max_exports, "Live exports per open file (default 65536)");

unsigned int acl_max_pids_per_handle = 65535;
module_param_named(max_pids_per_handle, acl_max_pids_per_handle, uint, 0444);
MODULE_PARM_DESC(max_pids_per_handle, "Whitelist entries per shareable handle (1..65535, default 65535)");

union acl_ioctl_buf {
	struct acl_share_info info;
	struct acl_share_alloc alloc;
	struct acl_share_free free;
	struct acl_share_query query;
	struct acl_share_export export;
	struct acl_share_set_pid set_pid;
	struct acl_share_import import;
	struct acl_share_revoke revoke;
	struct acl_share_copy copy;
};

/*
 * An op that makes a handle (ALLOC, IMPORT) only reserves its number and
 * returns the handle in *pending: nobody can find it until the result has
 * been copied out, when the ioctl publishes it (or, if the copy fails,
 * destroys it), as iommufd finalizes its objects.
 */
struct acl_ioctl_op {
	size_t size;		/* the kernel's struct */
	size_t min_size;	/* the first version of the struct */
	int (*fn)(struct acl_ctx *ctx, void *arg, struct acl_handle **pending);
	bool has_out;		/* the struct has out_ fields */
};

#define ACL_IOCTL_OP(_cmd, _fn, _out, _struct, _last)				\
	[_IOC_NR(_cmd)] = {							\
		.size = sizeof(_struct),					\
		.min_size = offsetofend(_struct, _last),			\
		.fn = _fn,							\
		.has_out = _out,						\
	}

static const struct acl_ioctl_op acl_ioctl_ops[] = {
	ACL_IOCTL_OP(ACL_SHARE_IOC_INFO, acl_ioctl_info, true,
		     struct acl_share_info, __reserved),
	ACL_IOCTL_OP(ACL_SHARE_IOC_ALLOC, acl_ioctl_alloc, true,
		     struct acl_share_alloc, out_mmap_offset),
	ACL_IOCTL_OP(ACL_SHARE_IOC_FREE, acl_ioctl_free, false,
		     struct acl_share_free, __reserved),
	ACL_IOCTL_OP(ACL_SHARE_IOC_QUERY, acl_ioctl_query, true,
		     struct acl_share_query, out_mmap_offset),
	ACL_IOCTL_OP(ACL_SHARE_IOC_EXPORT, acl_ioctl_export, false,
		     struct acl_share_export, __reserved),
	ACL_IOCTL_OP(ACL_SHARE_IOC_SET_PID, acl_ioctl_set_pid, false,
		     struct acl_share_set_pid, __reserved),
	ACL_IOCTL_OP(ACL_SHARE_IOC_IMPORT, acl_ioctl_import, true,
		     struct acl_share_import, out_mmap_offset),
	ACL_IOCTL_OP(ACL_SHARE_IOC_REVOKE, acl_ioctl_revoke, false,
		     struct acl_share_revoke, shareable_uptr),
	ACL_IOCTL_OP(ACL_SHARE_IOC_COPY, acl_ioctl_copy, false,
		     struct acl_share_copy, __reserved),
};

static long acl_share_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct acl_ctx *ctx = file->private_data;
	void __user *uarg = (void __user *)arg;
	unsigned int nr = _IOC_NR(cmd);
	const struct acl_ioctl_op *op;
	struct acl_handle *pending = NULL;
	union acl_ioctl_buf buf;
	size_t len;
	u32 usize;
	int ret;

	/* The size bits change when a struct grows: the size field versions it. */
	if (_IOC_TYPE(cmd) != ACL_SHARE_IOC_TYPE || _IOC_DIR(cmd) != (_IOC_READ | _IOC_WRITE) ||
	    nr >= ARRAY_SIZE(acl_ioctl_ops))
		return -ENOTTY;
	op = &acl_ioctl_ops[array_index_nospec(nr, ARRAY_SIZE(acl_ioctl_ops))];
	if (!op->fn)
		return -ENOTTY;
	if (task_tgid(current) != ctx->owner)
		return -EACCES;

	if (get_user(usize, (u32 __user *)uarg))
		return -EFAULT;
	if (usize < op->min_size)
		return -EINVAL;
	if (usize > ACL_SHARE_MAX_STRUCT_SIZE)
		return -E2BIG;
	ret = copy_struct_from_user(&buf, op->size, uarg, usize);
	if (ret)
		return ret;
	/*
	 * Write the same bytes back first: an argument the kernel cannot
	 * write to fails here, before anything has been changed.
	 */
	len = min_t(size_t, op->size, usize);
	if (op->has_out && copy_to_user(uarg, &buf, len))
		return -EFAULT;

	ret = op->fn(ctx, &buf, &pending);
	if (ret || !op->has_out)
		return ret;
	if (copy_to_user(uarg, &buf, len)) {
		/* Unmapped by another thread since the probe: leave nothing behind. */
		if (pending)
			acl_ctx_abort_handle(ctx, pending);
		return -EFAULT;
	}
	if (pending)
		acl_ctx_publish_handle(ctx, pending);
	return 0;
}

static int acl_share_open(struct inode *inode, struct file *file)
{
	struct acl_ctx *ctx;
	int ret;

	ret = acl_phys_fs_get();
	if (ret)
		return ret;
	ctx = acl_ctx_create();
	if (!ctx) {
		acl_phys_fs_put();
		return -ENOMEM;
	}
	file->private_data = ctx;
	return nonseekable_open(inode, file);
}

/*
 * Called at every close of a descriptor of the file. When the owner exits
 * while the file lives on (a fork() child kept a descriptor), release what
 * the owner held now, as its exit would have: the child cannot use it.
 * Only the exit of the whole thread group counts: a thread with a files
 * table of its own may exit while the process goes on. signal->live
 * reaches zero before the last thread drops its files.
 */
static int acl_share_flush(struct file *file, fl_owner_t id)
{
	struct acl_ctx *ctx = file->private_data;

	if ((current->flags & PF_EXITING) && !atomic_read(&current->signal->live) &&
	    task_tgid(current) == ctx->owner)
		acl_ctx_release_handles(ctx);
	return 0;
}

/*
 * Offsets name handles; inside a mapping, page offsets start at 0. Place a
 * mapping of 2 MiB or more at a 2 MiB boundary, so that huge chunks can be
 * mapped with PMDs: search a range one chunk longer and round up inside it.
 * (thp_get_unmapped_area() does this only for DAX before 5.18 and does not
 * exist without THP.) A hint the core honours is left as it is.
 */
static unsigned long acl_share_get_unmapped_area(struct file *file, unsigned long addr,
						 unsigned long len, unsigned long pgoff,
						 unsigned long flags)
{
	const unsigned long align = ACL_SHARE_HUGE_SIZE;
	unsigned long ret;

	if (!(flags & MAP_FIXED) && len >= align && len + align > len) {
		ret = acl_mm_get_unmapped_area(file, addr, len + align, 0, flags);
		if (!IS_ERR_VALUE(ret))
			return ret == addr ? ret : ALIGN(ret, align);
	}
	return acl_mm_get_unmapped_area(file, addr, len, 0, flags);
}

static int acl_share_release(struct inode *inode, struct file *file)
{
	acl_ctx_destroy(file->private_data);
	acl_phys_fs_put();
	return 0;
}

static const struct file_operations acl_share_fops = {
	.owner = THIS_MODULE,
	.open = acl_share_open,
	.flush = acl_share_flush,
	.release = acl_share_release,
	.unlocked_ioctl = acl_share_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.mmap = acl_share_mmap,
	.get_unmapped_area = acl_share_get_unmapped_area,
	/* No .llseek: nonseekable_open() makes lseek() fail with -ESPIPE. */
};

static struct miscdevice acl_share_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "acl_share",
	.fops = &acl_share_fops,
	.mode = 0666,
	.groups = acl_share_groups,
};

static int __init acl_share_init(void)
{
	int ret;

	if (!acl_device_count || acl_device_count > 1024 ||
	    !acl_max_pids_per_handle || acl_max_pids_per_handle > 65535 || !acl_max_exports) {
		pr_err("device_count must be 1..1024, max_pids_per_handle 1..65535, max_exports > 0\n");
		return -EINVAL;
	}

	ret = acl_export_init();
	if (ret)
		return ret;
	ret = misc_register(&acl_share_misc);
	if (ret)
		goto err_export;
	acl_clients_init();
	return 0;

err_export:
	acl_export_exit();
	return ret;
}

static void __exit acl_share_exit(void)
{
	acl_clients_exit();
	misc_deregister(&acl_share_misc);
	acl_export_exit();
}

module_init(acl_share_init);
module_exit(acl_share_exit);

MODULE_DESCRIPTION("AscendCL physical-memory sharing on host RAM");
MODULE_LICENSE("GPL");
