// SPDX-License-Identifier: GPL-2.0
/*
 * Imports of other servers' FABRIC handles (docs/fabric.md, "Remote import").
 *
 * acl_share.ko knows nothing of RDMA: acl_share_fabric.ko registers its ops
 * here and does the talking. A remote import is one object, referenced by
 * its handle and by every mapping of it; when the last goes, the fabric
 * module is asked to release it on the exporting server. Each object holds
 * a reference on the fabric module, so its ops stay valid as long as it.
 *
 * Its memory is on the other server: a mapping of it reserves the address
 * range and faults SIGBUS, as device memory cannot be loaded by the host
 * CPU on an Ascend node. Copies reach it: ACL_SHARE_IOC_COPY, which the
 * fabric module carries out as RDMA READ and WRITE.
 */
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/slab.h>

#include "acl_share.h"
#include "compat.h"
#include "remote.h"

struct acl_remote_import {
	struct kref ref;
	const struct acl_share_fabric_ops *ops;	/* holds a reference on ops->owner */
	void *cookie;				/* the fabric module's name of it */
	struct acl_share_remote_info info;
	u32 server;				/* the exporting server */
};

static DEFINE_MUTEX(acl_fabric_ops_lock);
static const struct acl_share_fabric_ops *acl_fabric_ops;	/* under acl_fabric_ops_lock */

int acl_share_fabric_register(const struct acl_share_fabric_ops *ops)
{
	int ret = 0;

	mutex_lock(&acl_fabric_ops_lock);
	if (acl_fabric_ops)
		ret = -EBUSY;
	else
		acl_fabric_ops = ops;
	mutex_unlock(&acl_fabric_ops_lock);
	return ret;
}
EXPORT_SYMBOL_GPL(acl_share_fabric_register);

/* Imports made before hold the module: they go before its exit can run. */
void acl_share_fabric_unregister(const struct acl_share_fabric_ops *ops)
{
	mutex_lock(&acl_fabric_ops_lock);
	if (acl_fabric_ops == ops)
		acl_fabric_ops = NULL;
	mutex_unlock(&acl_fabric_ops_lock);
}
EXPORT_SYMBOL_GPL(acl_share_fabric_unregister);

/* The registered ops with a reference on their module, or NULL. */
static const struct acl_share_fabric_ops *acl_fabric_ops_get(void)
{
	const struct acl_share_fabric_ops *ops;

	mutex_lock(&acl_fabric_ops_lock);
	ops = acl_fabric_ops;
	if (ops && !try_module_get(ops->owner))
		ops = NULL;
	mutex_unlock(&acl_fabric_ops_lock);
	return ops;
}

void acl_remote_import_get(struct acl_remote_import *remote)
{
	kref_get(&remote->ref);
}

static void acl_remote_import_release(struct kref *ref)
{
	struct acl_remote_import *remote = container_of(ref, struct acl_remote_import, ref);

	remote->ops->release(remote->cookie);
	module_put(remote->ops->owner);
	kfree(remote);
	acl_stat_add(ACL_STAT_REMOTE_IMPORTS, -1);
}

void acl_remote_import_put(struct acl_remote_import *remote)
{
	kref_put(&remote->ref, acl_remote_import_release);
}

void acl_remote_import_query(const struct acl_remote_import *remote, struct acl_share_query *req)
{
	req->out_flags = ACL_SHARE_QUERY_IMPORTED | ACL_SHARE_QUERY_REMOTE;
	req->out_length = remote->info.length;
	req->out_mem_attr = remote->info.mem_attr;
	req->out_location_type = remote->info.loc_type;
	req->out_location_id = remote->info.loc_id;
	req->out_page_size = remote->info.page_size;
}

/* What a peer may say of the allocation is checked as an ALLOC would be. */
static int acl_remote_info_check(const struct acl_share_remote_info *info)
{
	u64 granularity;
	u32 chunk;

	if (acl_attr_chunk_size(info->mem_attr, info->loc_type, &granularity, &chunk))
		return -EPROTO;
	if (!info->length || info->length & (granularity - 1) || info->page_size != chunk ||
	    info->length >> PAGE_SHIFT > U32_MAX)
		return -EPROTO;
	return 0;
}

/**
 * acl_remote_import_ioctl - IMPORT of a FABRIC handle naming another server
 * @ctx: the importer's file
 * @fh: the handle, its form checked
 * @req: the ioctl's argument; its out_ fields are filled
 * @pending: the new handle, published once the result is copied out
 *
 * Return: 0, -EOPNOTSUPP (no fabric module), the fabric's errno (see the
 * uapi header), -EPROTO (the exporter described an allocation this server
 * cannot have), -EMFILE, -ENOMEM.
 */
int acl_remote_import_ioctl(struct acl_ctx *ctx, const struct acl_share_fabric_handle *fh,
			    struct acl_share_import *req, struct acl_handle **pending)
{
	const struct acl_share_fabric_ops *ops;
	struct acl_remote_import *remote;
	struct acl_handle *h;
	int ret;

	ops = acl_fabric_ops_get();
	if (!ops)
		return -EOPNOTSUPP;
	remote = kzalloc(sizeof(*remote), GFP_KERNEL_ACCOUNT);
	h = kzalloc(sizeof(*h), GFP_KERNEL_ACCOUNT);
	if (!remote || !h) {
		ret = -ENOMEM;
		goto err_free;
	}
	ret = ops->import(fh, task_tgid_nr(current), &remote->info, &remote->cookie);
	if (ret)
		goto err_free;
	kref_init(&remote->ref);
	remote->ops = ops;
	remote->server = fh->server_id;
	acl_stat_add(ACL_STAT_REMOTE_IMPORTS, 1);
	/* from here on the object's release undoes the import and drops ops */
	ret = acl_remote_info_check(&remote->info);
	if (ret) {
		pr_warn_ratelimited("acl_share: server %u described an impossible allocation\n",
				    remote->server);
		goto err_put;
	}
	h->remote = remote;
	h->length = remote->info.length;

	mutex_lock(&ctx->lock);
	ret = acl_ctx_add_handle(ctx, h);
	mutex_unlock(&ctx->lock);
	if (ret)
		goto err_put;
	req->out_handle = h->id;
	req->out_mmap_offset = acl_mmap_offset(h->id);
	req->out_length = h->length;
	req->out_mem_attr = remote->info.mem_attr;
	req->out_location_type = remote->info.loc_type;
	req->out_location_id = remote->info.loc_id;
	req->out_page_size = remote->info.page_size;
	*pending = h;
	return 0;

err_put:
	kfree(h);
	acl_remote_import_put(remote);
	return ret;
err_free:
	kfree(h);
	kfree(remote);
	module_put(ops->owner);
	return ret;
}

int acl_ioctl_copy(struct acl_ctx *ctx, void *arg, struct acl_handle **pending)
{
	struct acl_share_copy *req = arg;
	struct acl_remote_import *remote = NULL;
	struct acl_handle *h;
	int ret;

	if (req->flags || req->__reserved || req->op > ACL_SHARE_COPY_FILL)
		return -EINVAL;
	/* what the operation does not use is 0, so that it may mean something later */
	if (req->op == ACL_SHARE_COPY_FILL ? req->value > U8_MAX || req->uptr : req->value)
		return -EINVAL;
	mutex_lock(&ctx->lock);
	h = xa_load(&ctx->handles, req->handle);
	if (h && h->remote) {
		remote = h->remote;
		acl_remote_import_get(remote);
	}
	mutex_unlock(&ctx->lock);
	if (!remote)
		return h ? -EOPNOTSUPP : -ENOENT;
	if (!req->length || req->offset > remote->info.length ||
	    req->length > remote->info.length - req->offset)
		ret = -EINVAL;
	else
		ret = remote->ops->copy(remote->cookie, req->op, req->offset, req->length,
					req->uptr, (u8)req->value);
	acl_remote_import_put(remote);
	return ret;
}

/* ------------------------------------------------------------ mappings */

static void acl_remote_vm_open(struct vm_area_struct *vma)
{
	acl_remote_import_get(vma->vm_private_data);
	acl_stat_add(ACL_STAT_MAPPINGS, 1);
}

static void acl_remote_vm_close(struct vm_area_struct *vma)
{
	acl_stat_add(ACL_STAT_MAPPINGS, -1);
	acl_remote_import_put(vma->vm_private_data);
}

/* The memory is on another server: the CPU cannot load or store it. */
static vm_fault_t acl_remote_vm_fault(struct vm_fault *vmf)
{
	return VM_FAULT_SIGBUS;
}

static const struct vm_operations_struct acl_remote_vm_ops = {
	.open = acl_remote_vm_open,
	.close = acl_remote_vm_close,
	.fault = acl_remote_vm_fault,
};

/* Maps a remote import: its reference moves into the VMA. */
int acl_remote_mmap(struct vm_area_struct *vma, struct acl_remote_import *remote)
{
	vma->vm_pgoff = 0;
	vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP | VM_DONTCOPY);
	vm_flags_clear(vma, VM_MAYEXEC);
	vma->vm_ops = &acl_remote_vm_ops;
	vma->vm_private_data = remote;
	acl_stat_add(ACL_STAT_MAPPINGS, 1);
	return 0;
}
