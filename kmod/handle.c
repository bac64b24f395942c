// SPDX-License-Identifier: GPL-2.0
/*
 * The per-file handle table and the ioctls that allocate, free and query.
 *
 * Handles live in ctx->handles. Every change of a handle or of the table
 * happens under ctx->lock, and so does every read of a handle's export
 * state. Lookups that only need the (immutable) allocation take xa_lock,
 * which keeps the handle alive because removal goes through xa_erase()
 * before the handle is destroyed.
 */
#include <linux/mm.h>
#include <linux/nodemask.h>
#include <linux/pid.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

#include "acl_share.h"

struct acl_ctx *acl_ctx_create(void)
{
	struct acl_ctx *ctx;

	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL_ACCOUNT);
	if (!ctx)
		return NULL;
	ctx->owner = get_pid(task_tgid(current));
	mutex_init(&ctx->lock);
	xa_init_flags(&ctx->handles, XA_FLAGS_ALLOC1 | XA_FLAGS_ACCOUNT);
	xa_init_flags(&ctx->imports, XA_FLAGS_ACCOUNT);
	acl_clients_add(ctx);
	acl_stat_add(ACL_STAT_OPENS, 1);
	return ctx;
}

/* Drops everything the handle holds; the handle is already out of the table. */
static void acl_handle_destroy(struct acl_ctx *ctx, struct acl_handle *h)
{
	lockdep_assert_held(&ctx->lock);

	if (h->export) {
		acl_export_revoke(h->export);
		ctx->nr_exports--;
	}
	if (h->source) {
		xa_erase(&ctx->imports, acl_export_id(h->source));
		acl_export_put(h->source);
		acl_stat_add(ACL_STAT_IMPORTS, -1);
	}
	if (h->remote)
		acl_remote_import_put(h->remote);
	else
		acl_phys_put(h->phys);
	kfree(h);
	acl_stat_add(ACL_STAT_HANDLES, -1);
}

/*
 * Handles a teardown frees before it lets go of ctx->lock. Sized so that a
 * slice of imports takes well under a millisecond; a slice ends early when
 * another task wants the CPU. See docs/scaling.md.
 */
#define ACL_RELEASE_SLICE 256

/*
 * Frees every handle of the file, as FREE would: the owner has gone.
 *
 * In slices: ctx->lock is dropped and the CPU offered between them, so that
 * a file of a million handles never holds the lock, or the CPU, for long.
 * Nobody can add a handle meanwhile (ioctl and mmap refuse every process
 * but the owner, which is exiting or has dropped the file), but a second
 * flush from a thread with a files table of its own may run this at the
 * same time: each slice takes what is still in the table under the lock,
 * so every handle is freed once. Other processes meet this file's exports
 * only through the export table, from which acl_export_revoke() takes each
 * one as its handle goes.
 */
void acl_ctx_release_handles(struct acl_ctx *ctx)
{
	unsigned long id = 0;
	struct acl_handle *h;
	unsigned int n;

	do {
		mutex_lock(&ctx->lock);
		for (n = 0; n < ACL_RELEASE_SLICE; n++) {
			h = xa_find(&ctx->handles, &id, ULONG_MAX, XA_PRESENT);
			if (!h)
				break;
			xa_erase(&ctx->handles, id);
			acl_handle_destroy(ctx, h);
			if (need_resched())
				break;
		}
		mutex_unlock(&ctx->lock);
		cond_resched();
	} while (h);
}

void acl_ctx_destroy(struct acl_ctx *ctx)
{
	acl_clients_del(ctx);
	acl_ctx_release_handles(ctx);
	xa_destroy(&ctx->handles);
	xa_destroy(&ctx->imports);
	mutex_destroy(&ctx->lock);
	put_pid(ctx->owner);
	kfree(ctx);
	acl_stat_add(ACL_STAT_OPENS, -1);
}

/**
 * acl_ctx_add_handle - reserve a number in the table for a new handle
 * @ctx: the file's context, ctx->lock held
 * @h: the handle; its phys reference moves into the table
 *
 * The number is taken but finds nothing until acl_ctx_publish_handle():
 * no other thread can free, map or export a handle whose ioctl has not
 * returned it yet. It is the smallest free one: numbers are reused, so the
 * table stays as dense as the live handles and its cost flat. A reused
 * number, or the mmap offset made of it, names what this file holds under
 * it now: every lookup is in this file's table, and whatever remembers a
 * creator's number (an export) checks that the handle is still its own.
 *
 * Return: 0 with h->id set, -ENOMEM, or -EMFILE when all INT_MAX numbers
 * are taken.
 */
int acl_ctx_add_handle(struct acl_ctx *ctx, struct acl_handle *h)
{
	int ret;

	lockdep_assert_held(&ctx->lock);
	ret = xa_alloc(&ctx->handles, &h->id, XA_ZERO_ENTRY, XA_LIMIT(1, INT_MAX),
		       GFP_KERNEL_ACCOUNT);
	if (ret == -EBUSY)
		ret = -EMFILE;
	if (ret < 0)
		return ret;
	acl_stat_add(ACL_STAT_HANDLES, 1);
	return 0;
}

/* The ioctl that made @h has copied its number out: others may use it now. */
void acl_ctx_publish_handle(struct acl_ctx *ctx, struct acl_handle *h)
{
	mutex_lock(&ctx->lock);
	/* Replaces the reserved entry (nobody can erase it): nothing to allocate. */
	WARN_ON(xa_is_err(xa_store(&ctx->handles, h->id, h, GFP_KERNEL)));
	mutex_unlock(&ctx->lock);
}

/* The ioctl that made @h could not return its number: it never existed. */
void acl_ctx_abort_handle(struct acl_ctx *ctx, struct acl_handle *h)
{
	mutex_lock(&ctx->lock);
	xa_erase(&ctx->handles, h->id);
	acl_handle_destroy(ctx, h);
	mutex_unlock(&ctx->lock);
}

/*
 * Returns the handle's allocation with a new reference, or NULL; for a
 * remote import NULL, with a reference on it in *@remote.
 */
struct acl_phys *acl_ctx_get_phys(struct acl_ctx *ctx, u32 id, u64 *length,
				  struct acl_remote_import **remote)
{
	struct acl_handle *h;
	struct acl_phys *phys = NULL;

	*remote = NULL;
	xa_lock(&ctx->handles);
	h = xa_load(&ctx->handles, id);
	if (h) {
		*length = h->length;
		if (h->remote) {
			*remote = h->remote;
			acl_remote_import_get(h->remote);
		} else {
			phys = h->phys;
			acl_phys_get(phys);
		}
	}
	xa_unlock(&ctx->handles);
	return phys;
}

int acl_ioctl_info(struct acl_ctx *ctx, void *arg, struct acl_handle **pending)
{
	struct acl_share_info *info = arg;

	if (info->flags || info->__reserved)
		return -EINVAL;
	info->out_bare_tgid = task_tgid_nr(current);
	info->out_device_count = acl_device_count;
	info->out_server_id = acl_server_id;
	return 0;
}

static int acl_check_location(u32 loc_type, u32 loc_id)
{
	switch (loc_type) {
	case ACL_SHARE_LOC_DEVICE:
		return loc_id < acl_device_count ? 0 : -ENODEV;
	case ACL_SHARE_LOC_HOST_NUMA:
		/* A node with memory: its pages come from there only. */
		return loc_id < MAX_NUMNODES && node_state(loc_id, N_MEMORY) ? 0 : -EINVAL;
	default:
		return 0;
	}
}

int acl_ioctl_alloc(struct acl_ctx *ctx, void *arg, struct acl_handle **pending)
{
	struct acl_share_alloc *req = arg;
	struct acl_phys *phys;
	struct acl_handle *h;
	u64 granularity;
	u32 chunk;
	int ret;

	if (req->flags || req->__reserved[0] || req->__reserved[1])
		return -EINVAL;
	ret = acl_attr_chunk_size(req->mem_attr, req->location_type, &granularity, &chunk);
	if (ret)
		return ret;
	ret = acl_check_location(req->location_type, req->location_id);
	if (ret)
		return ret;
	if (!req->length || req->length & (granularity - 1))
		return -EINVAL;
	if (req->length >> PAGE_SHIFT > totalram_pages())
		return -ENOMEM;

	h = kzalloc(sizeof(*h), GFP_KERNEL_ACCOUNT);
	if (!h)
		return -ENOMEM;
	/* Allocate the pages without holding the table lock. */
	phys = acl_phys_create(req->length, req->mem_attr, req->location_type,
			       req->location_type == ACL_SHARE_LOC_HOST ? 0 : req->location_id);
	if (IS_ERR(phys)) {
		ret = PTR_ERR(phys);
		goto err_free_handle;
	}
	h->phys = phys;
	h->length = phys->length;

	mutex_lock(&ctx->lock);
	ret = acl_ctx_add_handle(ctx, h);
	mutex_unlock(&ctx->lock);
	if (ret)
		goto err_put_phys;
	req->out_handle = h->id;
	req->out_mmap_offset = acl_mmap_offset(h->id);
	*pending = h;
	return 0;

err_put_phys:
	acl_phys_put(phys);
err_free_handle:
	kfree(h);
	return ret;
}

/* Drops handle @id of the file; 0 or -ENOENT. */
int acl_ctx_free_handle(struct acl_ctx *ctx, u32 id)
{
	struct acl_handle *h;

	mutex_lock(&ctx->lock);
	/*
	 * Look first: xa_erase() of a number another thread's ALLOC or
	 * IMPORT has reserved would return NULL and delete the reservation.
	 */
	h = xa_load(&ctx->handles, id);
	if (h) {
		xa_erase(&ctx->handles, id);
		acl_handle_destroy(ctx, h);
	}
	mutex_unlock(&ctx->lock);
	return h ? 0 : -ENOENT;
}

int acl_ioctl_free(struct acl_ctx *ctx, void *arg, struct acl_handle **pending)
{
	struct acl_share_free *req = arg;

	if (req->flags || req->__reserved)
		return -EINVAL;
	return acl_ctx_free_handle(ctx, req->handle);
}

int acl_ioctl_query(struct acl_ctx *ctx, void *arg, struct acl_handle **pending)
{
	struct acl_share_query *req = arg;
	struct acl_handle *h;
	struct acl_phys *phys;

	if (req->flags || req->__reserved[0] || req->__reserved[1])
		return -EINVAL;

	mutex_lock(&ctx->lock);
	h = xa_load(&ctx->handles, req->handle);
	if (!h) {
		mutex_unlock(&ctx->lock);
		return -ENOENT;
	}
	if (h->remote) {
		acl_remote_import_query(h->remote, req);
		req->out_mmap_offset = acl_mmap_offset(h->id);
		mutex_unlock(&ctx->lock);
		return 0;
	}
	phys = h->phys;
	req->out_flags = (h->source ? ACL_SHARE_QUERY_IMPORTED : 0) |
			 (h->export ? ACL_SHARE_QUERY_EXPORTED : 0);
	req->out_length = h->length;
	req->out_mem_attr = phys->mem_attr;
	req->out_location_type = phys->loc_type;
	req->out_location_id = phys->loc_id;
	req->out_page_size = phys->chunk_size;
	req->out_mmap_offset = acl_mmap_offset(h->id);
	mutex_unlock(&ctx->lock);
	return 0;
}
