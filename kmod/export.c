// SPDX-License-Identifier: GPL-2.0
/*
 * Shareable handles: the export table, the pid whitelist and import.
 *
 * Exports are found by their random 64-bit key in a resizable hash table
 * (lookups under RCU, so their cost does not grow with the number of
 * exports). A FABRIC handle adds the server id and a 128-bit secret, both
 * checked on every use.
 *
 * The whitelist of an export (whitelist.c) names processes by bare tgid
 * and start time: a process that later gets a recycled number is not
 * whitelisted, and an entry pins nothing of the process it names.
 *
 * Lifetime: the table holds one reference on an export until its creator
 * handle goes or the exporter revokes it (ACL_SHARE_IOC_REVOKE: the
 * exporter's aclrtIpcMemClose); each import handle holds one more so that a
 * process can tell it already imported this export. The export holds a
 * reference on the allocation so that an import racing the revocation can
 * still take its own.
 */
#include <crypto/algapi.h>
#include <linux/idr.h>
#include <linux/mm.h>
#include <linux/random.h>
#include <linux/rhashtable.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "acl_share.h"
#include "remote.h"

struct acl_export {
	struct rhash_head node;
	u64 key;
	u8 secret[16];
	u32 id;
	u32 handle;		/* of the creator, in the exporter's file */
	u64 length;		/* what an import may map, from the start */
	u32 share_type;
	u32 flags;
	refcount_t ref;
	bool revoked;
	struct pid *exporter;	/* thread group of the exporter */
	struct acl_phys *phys;	/* one reference */
	struct acl_whitelist whitelist;
	struct rcu_head rcu;
};

static const struct rhashtable_params acl_export_params = {
	.key_len = sizeof(u64),
	.key_offset = offsetof(struct acl_export, key),
	.head_offset = offsetof(struct acl_export, node),
	.automatic_shrinking = true,
};

static struct rhashtable acl_exports;
static DEFINE_IDA(acl_export_ids);

int acl_export_init(void)
{
	return rhashtable_init(&acl_exports, &acl_export_params);
}

void acl_export_exit(void)
{
	rhashtable_destroy(&acl_exports);
	ida_destroy(&acl_export_ids);
}

u32 acl_export_id(const struct acl_export *exp)
{
	return exp->id;
}

void acl_export_put(struct acl_export *exp)
{
	if (!refcount_dec_and_test(&exp->ref))
		return;
	acl_whitelist_destroy(&exp->whitelist);
	acl_phys_put(exp->phys);
	put_pid(exp->exporter);
	ida_free(&acl_export_ids, exp->id);
	kfree_rcu(exp, rcu);
}

/*
 * Takes the export out of the table; existing imports are untouched. Its
 * whitelist can admit nobody any more: drop it now rather than when the
 * last import of it goes.
 */
void acl_export_revoke(struct acl_export *exp)
{
	WRITE_ONCE(exp->revoked, true);
	rhashtable_remove_fast(&acl_exports, &exp->node, acl_export_params);
	acl_whitelist_close(&exp->whitelist);
	acl_stat_add(ACL_STAT_EXPORTS, -1);
	acl_export_put(exp);
}

/* The shareable handle as it crosses the ioctl boundary. */
struct acl_shareable {
	u32 type;
	union {
		u64 key;
		struct acl_share_fabric_handle fabric;
	};
};

static int acl_shareable_len(u32 type, u32 len)
{
	if (type == ACL_SHARE_HANDLE_DEFAULT && len == ACL_SHARE_DEFAULT_HANDLE_LEN)
		return 0;
	if (type == ACL_SHARE_HANDLE_FABRIC && len == ACL_SHARE_FABRIC_HANDLE_LEN)
		return 0;
	return -EINVAL;
}

/* Magic, version and every byte that must be zero: what any server checks. */
static bool acl_fabric_form_ok(const struct acl_share_fabric_handle *f)
{
	return f->magic == ACL_SHARE_FABRIC_MAGIC && f->version == ACL_SHARE_FABRIC_VERSION &&
	       !f->__zero0 && !f->__zero1 && !memchr_inv(f->__zero2, 0, sizeof(f->__zero2));
}

/* Reads a shareable handle from user space and checks its form. */
static int acl_shareable_read(struct acl_shareable *sh, u32 type, u64 uptr, u32 len)
{
	const struct acl_share_fabric_handle *f = &sh->fabric;
	int ret;

	ret = acl_shareable_len(type, len);
	if (ret)
		return ret;
	sh->type = type;
	if (copy_from_user(type == ACL_SHARE_HANDLE_DEFAULT ? (void *)&sh->key : (void *)f,
			   u64_to_user_ptr(uptr), len))
		return -EFAULT;
	if (type == ACL_SHARE_HANDLE_DEFAULT)
		return sh->key ? 0 : -ENOENT;

	if (!acl_fabric_form_ok(f))
		return -ENOENT;
	if (f->server_id != acl_server_id)
		return -EOPNOTSUPP;
	return 0;
}

/* Finds a live export matching @sh and takes a reference, or NULL. */
static struct acl_export *acl_export_find(const struct acl_shareable *sh)
{
	u64 key = sh->type == ACL_SHARE_HANDLE_DEFAULT ? sh->key : sh->fabric.key;
	struct acl_export *exp;

	rcu_read_lock();
	exp = rhashtable_lookup(&acl_exports, &key, acl_export_params);
	if (exp && !refcount_inc_not_zero(&exp->ref))
		exp = NULL;
	rcu_read_unlock();
	if (!exp)
		return NULL;

	/*
	 * An exporter that has exited revokes its exports when its file is
	 * flushed; one that passed the file on (SCM_RIGHTS) and closed its
	 * own copy is no less gone.
	 */
	if (READ_ONCE(exp->revoked) || !acl_tgid_alive(exp->exporter) ||
	    exp->share_type != sh->type ||
	    (sh->type == ACL_SHARE_HANDLE_FABRIC &&
	     crypto_memneq(exp->secret, sh->fabric.secret, sizeof(exp->secret)))) {
		acl_export_put(exp);
		return NULL;
	}
	return exp;
}

static int acl_shareable_write(const struct acl_export *exp, u64 uptr)
{
	struct acl_share_fabric_handle f = {
		.magic = ACL_SHARE_FABRIC_MAGIC,
		.version = ACL_SHARE_FABRIC_VERSION,
		.server_id = acl_server_id,
		.key = exp->key,
	};

	if (exp->share_type == ACL_SHARE_HANDLE_DEFAULT)
		return copy_to_user(u64_to_user_ptr(uptr), &exp->key, sizeof(exp->key)) ?
		       -EFAULT : 0;
	memcpy(f.secret, exp->secret, sizeof(f.secret));
	return copy_to_user(u64_to_user_ptr(uptr), &f, sizeof(f)) ? -EFAULT : 0;
}

static struct acl_export *acl_export_create(struct acl_phys *phys, u32 handle, u64 length,
					    u32 type, u32 flags)
{
	struct acl_export *exp;
	int ret;

	exp = kzalloc(sizeof(*exp), GFP_KERNEL_ACCOUNT);
	if (!exp)
		return ERR_PTR(-ENOMEM);
	ret = ida_alloc(&acl_export_ids, GFP_KERNEL);
	if (ret < 0)
		goto err_free;
	exp->id = ret;
	exp->handle = handle;
	exp->length = length;
	refcount_set(&exp->ref, 1);
	exp->share_type = type;
	exp->flags = flags;
	acl_whitelist_init(&exp->whitelist);
	/* Only a FABRIC handle carries one (the key alone names a DEFAULT one). */
	if (type == ACL_SHARE_HANDLE_FABRIC)
		get_random_bytes(exp->secret, sizeof(exp->secret));
	exp->exporter = get_pid(task_tgid(current));
	exp->phys = phys;
	acl_phys_get(phys);

	/* A zero key is never handed out; a collision draws again. */
	do {
		exp->key = get_random_u64();
		ret = exp->key ? rhashtable_lookup_insert_fast(&acl_exports, &exp->node,
							       acl_export_params) : -EEXIST;
	} while (ret == -EEXIST);
	if (ret) {
		ret = -ENOMEM;	/* the table cannot grow now */
		goto err_put;
	}
	acl_stat_add(ACL_STAT_EXPORTS, 1);
	return exp;

err_put:
	acl_export_put(exp);
	return ERR_PTR(ret);
err_free:
	kfree(exp);
	return ERR_PTR(ret);
}

/* A partial export's @length: a multiple of the allocation's granularity, 0 for all of it. */
static int acl_export_check_length(struct acl_phys *phys, u64 *length)
{
	u64 granularity;
	u32 chunk;
	int ret;

	if (!*length) {
		*length = phys->length;
		return 0;
	}
	ret = acl_attr_chunk_size(phys->mem_attr, phys->loc_type, &granularity, &chunk);
	if (ret)
		return ret;
	if (*length > phys->length || *length & (granularity - 1))
		return -EINVAL;
	return 0;
}

int acl_ioctl_export(struct acl_ctx *ctx, void *arg, struct acl_handle **pending)
{
	struct acl_share_export *req = arg;
	u64 length = req->length;
	struct acl_export *exp;
	struct acl_handle *h;
	int ret;

	if (req->flags & ~ACL_SHARE_EXPORT_NO_PID_CHECK || req->__reserved)
		return -EINVAL;
	ret = acl_shareable_len(req->share_type, req->shareable_len);
	if (ret)
		return ret;

	mutex_lock(&ctx->lock);
	h = xa_load(&ctx->handles, req->handle);
	if (!h)
		ret = -ENOENT;
	else if (h->source || h->remote)
		ret = -EPERM;
	else if (h->export)
		ret = -EEXIST;
	else if (ctx->nr_exports >= acl_max_exports)
		ret = -EMFILE;
	else
		ret = acl_export_check_length(h->phys, &length);
	if (ret)
		goto out_unlock;

	exp = acl_export_create(h->phys, req->handle, length, req->share_type, req->flags);
	if (IS_ERR(exp)) {
		ret = PTR_ERR(exp);
		goto out_unlock;
	}
	h->export = exp;
	ctx->nr_exports++;
	refcount_inc(&exp->ref);	/* exp outlives a FREE racing the copy-out */
	mutex_unlock(&ctx->lock);

	/* Not under ctx->lock: the copy may fault on memory that is slow to come. */
	ret = acl_shareable_write(exp, req->shareable_uptr);
	if (ret) {
		mutex_lock(&ctx->lock);
		h = xa_load(&ctx->handles, req->handle);
		if (h && h->export == exp) {
			h->export = NULL;
			ctx->nr_exports--;
			acl_export_revoke(exp);
		}
		mutex_unlock(&ctx->lock);
	}
	acl_export_put(exp);
	return ret;

out_unlock:
	mutex_unlock(&ctx->lock);
	return ret;
}

/* The pids of a SET_PID call, split into this server's and other servers'. */
struct acl_pid_lists {
	s32 *nrs;			/* this server's bare tgids */
	u32 nr_local;
	struct acl_remote_id *remote;	/* other servers' processes */
	u32 nr_remote;
};

static void acl_pid_lists_free(struct acl_pid_lists *l)
{
	kvfree(l->nrs);
	kvfree(l->remote);
}

/* Copies the pids of @req in; 0, -EINVAL, -ESRCH, -EFAULT or -ENOMEM. */
static int acl_pid_lists_read(struct acl_pid_lists *l, const struct acl_share_set_pid *req)
{
	struct acl_share_server_pid *sp;
	u32 i;
	int ret = 0;

	memset(l, 0, sizeof(*l));
	if (!(req->flags & ACL_SHARE_SET_PID_SERVER)) {
		l->nrs = vmemdup_user(u64_to_user_ptr(req->pids_uptr),
				      array_size(req->num_pids, sizeof(*l->nrs)));
		if (IS_ERR(l->nrs)) {
			ret = PTR_ERR(l->nrs);
			l->nrs = NULL;
			return ret;
		}
		l->nr_local = req->num_pids;
		return 0;
	}

	sp = vmemdup_user(u64_to_user_ptr(req->pids_uptr), array_size(req->num_pids, sizeof(*sp)));
	if (IS_ERR(sp))
		return PTR_ERR(sp);
	l->nrs = kvmalloc_array(req->num_pids, sizeof(*l->nrs), GFP_KERNEL_ACCOUNT);
	l->remote = kvmalloc_array(req->num_pids, sizeof(*l->remote), GFP_KERNEL_ACCOUNT);
	if (!l->nrs || !l->remote) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < req->num_pids; i++) {
		if (sp[i].server_id == acl_server_id) {
			l->nrs[l->nr_local++] = sp[i].pid;
		} else if (req->share_type != ACL_SHARE_HANDLE_FABRIC) {
			ret = -EINVAL;	/* only FABRIC handles cross servers */
			break;
		} else if (sp[i].pid < 0) {
			ret = -ESRCH;
			break;
		} else if (sp[i].pid) {
			l->remote[l->nr_remote].server = sp[i].server_id;
			l->remote[l->nr_remote].tgid = sp[i].pid;
			l->nr_remote++;
		}
	}
out:
	kvfree(sp);
	if (ret)
		acl_pid_lists_free(l);
	return ret;
}

int acl_ioctl_set_pid(struct acl_ctx *ctx, void *arg, struct acl_handle **pending)
{
	struct acl_share_set_pid *req = arg;
	struct acl_pid_lists pids;
	struct acl_shareable sh;
	struct acl_export *exp;
	int ret;

	if (req->flags & ~ACL_SHARE_SET_PID_SERVER || req->__reserved || !req->num_pids)
		return -EINVAL;
	if (req->num_pids > acl_max_pids_per_handle)
		return -E2BIG;
	ret = acl_shareable_read(&sh, req->share_type, req->shareable_uptr, req->shareable_len);
	if (ret)
		return ret;
	ret = acl_pid_lists_read(&pids, req);
	if (ret)
		return ret;

	exp = acl_export_find(&sh);
	if (!exp) {
		ret = -ENOENT;
		goto out_free;
	}
	if (exp->exporter != task_tgid(current))
		ret = -EPERM;
	else if (exp->flags & ACL_SHARE_EXPORT_NO_PID_CHECK)
		ret = -EACCES;
	if (ret)
		goto out_put;

	/* Whole or nothing: what can fail of the remote part is checked first. */
	if (pids.nr_remote)
		ret = acl_whitelist_check_remote(&exp->whitelist, pids.nr_remote);
	if (!ret && pids.nr_local)
		ret = acl_whitelist_add(&exp->whitelist, pids.nrs, pids.nr_local);
	if (!ret && pids.nr_remote)
		ret = acl_whitelist_add_remote(&exp->whitelist, pids.remote, pids.nr_remote);
out_put:
	acl_export_put(exp);
out_free:
	acl_pid_lists_free(&pids);
	return ret;
}

int acl_ioctl_revoke(struct acl_ctx *ctx, void *arg, struct acl_handle **pending)
{
	struct acl_share_revoke *req = arg;
	struct acl_shareable sh;
	struct acl_export *exp;
	struct acl_handle *h;
	int ret;

	if (req->flags)
		return -EINVAL;
	ret = acl_shareable_read(&sh, req->share_type, req->shareable_uptr, req->shareable_len);
	if (ret)
		return ret;
	exp = acl_export_find(&sh);
	if (!exp)
		return -ENOENT;
	if (exp->exporter != task_tgid(current)) {
		ret = -EPERM;
		goto out_put;
	}

	/* The creator handle holds the table's reference; a FREE may have raced us. */
	mutex_lock(&ctx->lock);
	h = xa_load(&ctx->handles, exp->handle);
	if (h && h->export == exp) {
		h->export = NULL;
		ctx->nr_exports--;
		acl_export_revoke(exp);
	} else {
		ret = -ENOENT;	/* gone meanwhile, or made by another file of this process */
	}
	mutex_unlock(&ctx->lock);
out_put:
	acl_export_put(exp);
	return ret;
}

/* 0, -EPERM (not whitelisted), or -ENOENT (revoked meanwhile). */
static int acl_import_check(struct acl_export *exp)
{
	if (exp->flags & ACL_SHARE_EXPORT_NO_PID_CHECK)
		return 0;
	/* Revocation closes the whitelist: an import that finds it closed fails. */
	return acl_whitelist_admits(&exp->whitelist);
}

int acl_ioctl_import(struct acl_ctx *ctx, void *arg, struct acl_handle **pending)
{
	struct acl_share_import *req = arg;
	struct acl_shareable sh;
	struct acl_export *exp;
	struct acl_handle *h;
	int ret;

	if (req->flags || req->__reserved[0] || req->__reserved[1])
		return -EINVAL;
	ret = acl_shareable_read(&sh, req->share_type, req->shareable_uptr, req->shareable_len);
	if (ret && ret != -EOPNOTSUPP)
		return ret;
	if (req->device_id >= acl_device_count)
		return -ENODEV;
	if (ret)	/* a FABRIC handle of another server */
		return acl_remote_import_ioctl(ctx, &sh.fabric, req, pending);

	exp = acl_export_find(&sh);
	if (!exp)
		return -ENOENT;
	ret = exp->exporter == task_tgid(current) ? -EPERM : acl_import_check(exp);
	if (ret)
		goto err_put_export;

	h = kzalloc(sizeof(*h), GFP_KERNEL_ACCOUNT);
	if (!h) {
		ret = -ENOMEM;
		goto err_put_export;
	}
	h->source = exp;
	h->phys = exp->phys;
	h->length = exp->length;
	acl_phys_get(h->phys);

	mutex_lock(&ctx->lock);
	ret = xa_insert(&ctx->imports, exp->id, h, GFP_KERNEL_ACCOUNT);
	if (ret == -EBUSY)
		ret = -EEXIST;
	if (ret)
		goto err_unlock;
	ret = acl_ctx_add_handle(ctx, h);
	if (ret)
		goto err_erase;
	acl_stat_add(ACL_STAT_IMPORTS, 1);
	mutex_unlock(&ctx->lock);
	req->out_handle = h->id;
	req->out_mmap_offset = acl_mmap_offset(h->id);
	req->out_length = h->length;
	req->out_mem_attr = h->phys->mem_attr;
	req->out_location_type = h->phys->loc_type;
	req->out_location_id = h->phys->loc_id;
	req->out_page_size = h->phys->chunk_size;
	*pending = h;
	return 0;

err_erase:
	xa_erase(&ctx->imports, exp->id);
err_unlock:
	mutex_unlock(&ctx->lock);
	acl_phys_put(h->phys);
	kfree(h);
err_put_export:
	acl_export_put(exp);
	return ret;
}

/* ------------------------------------------------ holders on other servers */

/* A peer server's import of an export of this server (remote.h). */
struct acl_share_remote_holder {
	struct acl_phys *phys;	/* one reference */
};

struct acl_share_remote_holder *acl_share_remote_get(const struct acl_share_fabric_handle *fh,
						     u32 server, u32 tgid,
						     struct acl_share_remote_info *info)
{
	struct acl_shareable sh = { .type = ACL_SHARE_HANDLE_FABRIC };
	struct acl_share_remote_holder *holder;
	struct acl_export *exp;
	int ret;

	/* every byte, as a local import checks them: anything else is forged */
	if (!acl_fabric_form_ok(fh) || fh->server_id != acl_server_id)
		return ERR_PTR(-ENOENT);
	sh.fabric = *fh;
	exp = acl_export_find(&sh);
	if (!exp)
		return ERR_PTR(-ENOENT);
	ret = exp->flags & ACL_SHARE_EXPORT_NO_PID_CHECK ? 0 :
	      acl_whitelist_admits_remote(&exp->whitelist, server, tgid);
	if (ret)
		goto out_put;
	/* on behalf of the peer, not of the task that runs this: not accounted */
	holder = kzalloc(sizeof(*holder), GFP_KERNEL);
	if (!holder) {
		ret = -ENOMEM;
		goto out_put;
	}
	holder->phys = exp->phys;
	acl_phys_get(holder->phys);
	info->length = exp->length;
	info->mem_attr = exp->phys->mem_attr;
	info->loc_type = exp->phys->loc_type;
	info->loc_id = exp->phys->loc_id;
	info->page_size = exp->phys->chunk_size;
	acl_export_put(exp);
	acl_stat_add(ACL_STAT_REMOTE_HOLDERS, 1);
	return holder;

out_put:
	acl_export_put(exp);
	return ERR_PTR(ret);
}
EXPORT_SYMBOL_GPL(acl_share_remote_get);

struct page *acl_share_remote_chunk(struct acl_share_remote_holder *holder, unsigned long index,
				    u32 *chunk_size)
{
	*chunk_size = holder->phys->chunk_size;
	return index < holder->phys->nr_chunks ? holder->phys->chunks[index] : NULL;
}
EXPORT_SYMBOL_GPL(acl_share_remote_chunk);

void acl_share_remote_put(struct acl_share_remote_holder *holder)
{
	acl_phys_put(holder->phys);
	kfree(holder);
	acl_stat_add(ACL_STAT_REMOTE_HOLDERS, -1);
}
EXPORT_SYMBOL_GPL(acl_share_remote_put);
