// SPDX-License-Identifier: GPL-2.0
/*
 * Physical allocations: pinned shmem pages.
 *
 * The pages come from an unlinked shmem file, as udmabuf's come from a
 * memfd: they are zeroed by shmem, charged to the allocating task's memory
 * cgroup when they enter the page cache, and have a page->mapping, so that
 * process-shared futexes and get_user_pages() work on the mappings. The
 * mapping is marked unevictable and every page is pinned by a reference,
 * so nothing is swapped or migrated while the allocation exists.
 *
 * Huge attributes use a private tmpfs mount with huge=always (as i915's
 * gemfs does), which gives 2 MiB folios; an allocation that cannot get them
 * fails rather than silently using small pages.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/nodemask.h>
#include <linux/pagemap.h>
#include <linux/sched/signal.h>
#include <linux/sched/user.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>

#include "acl_share.h"

static struct vfsmount *acl_huge_mnt;

int acl_phys_init(void)
{
	struct file_system_type *type;
	char opts[] = "huge=always"; /* parsed in place */

	if (!IS_ENABLED(CONFIG_TRANSPARENT_HUGEPAGE) || !has_transparent_hugepage())
		return 0;

	type = get_fs_type("tmpfs");
	if (!type)
		return 0;
	acl_huge_mnt = vfs_kern_mount(type, SB_KERNMOUNT, type->name, opts);
	module_put(type->owner); /* put_filesystem(), which is not exported */
	if (IS_ERR(acl_huge_mnt)) {
		pr_warn("no huge tmpfs mount (%ld); huge attributes unavailable\n",
			PTR_ERR(acl_huge_mnt));
		acl_huge_mnt = NULL;
	}
	return 0;
}

void acl_phys_exit(void)
{
	if (acl_huge_mnt)
		kern_unmount(acl_huge_mnt);
}

enum acl_page_kind { ACL_PAGES_NORMAL, ACL_PAGES_HUGE, ACL_PAGES_HUGE1G };

static enum acl_page_kind acl_attr_kind(u32 mem_attr)
{
	switch (mem_attr) {
	case 3: case 5: case 7: case 9: case 12: case 15:
		return ACL_PAGES_NORMAL;
	case 10: case 11: case 14: case 17:
		return ACL_PAGES_HUGE1G;
	default:
		return ACL_PAGES_HUGE;
	}
}

static bool acl_attr_is_ddr(u32 mem_attr)
{
	return mem_attr == 0 || mem_attr == 2 || mem_attr == 3 ||
	       mem_attr == 6 || mem_attr == 7;
}

/**
 * acl_attr_chunk_size - granularity and backing chunk of an attribute
 * @mem_attr: aclrtMemAttr value
 * @loc_type: ACL_SHARE_LOC_*
 * @granularity: out, the size an allocation must be a multiple of
 * @chunk: out, the size of the physically contiguous chunks backing it
 *
 * Return: 0, or -EINVAL for an unknown attribute or location, or a DDR
 * attribute on a device location.
 */
int acl_attr_chunk_size(u32 mem_attr, u32 loc_type, u64 *granularity, u32 *chunk)
{
	enum acl_page_kind kind;

	if (mem_attr > ACL_SHARE_MEM_ATTR_MAX)
		return -EINVAL;
	if (loc_type != ACL_SHARE_LOC_HOST && loc_type != ACL_SHARE_LOC_DEVICE &&
	    loc_type != ACL_SHARE_LOC_HOST_NUMA)
		return -EINVAL;
	if (loc_type == ACL_SHARE_LOC_DEVICE && acl_attr_is_ddr(mem_attr))
		return -EINVAL;

	kind = acl_attr_kind(mem_attr);
	*chunk = kind == ACL_PAGES_NORMAL ? PAGE_SIZE : ACL_SHARE_HUGE_SIZE;
	if (kind == ACL_PAGES_HUGE1G)
		*granularity = ACL_SHARE_HUGE1G_SIZE;
	else if (loc_type == ACL_SHARE_LOC_DEVICE)
		*granularity = ACL_SHARE_HUGE_SIZE;
	else
		*granularity = *chunk;
	return 0;
}

static bool acl_chunk_is_huge(struct page *page)
{
	return PageTransCompound(page) &&
	       page_size(compound_head(page)) == ACL_SHARE_HUGE_SIZE;
}

static void acl_phys_unpin(struct acl_phys *phys, pgoff_t count)
{
	pgoff_t i;

	for (i = 0; i < count; i++) {
		put_page(phys->pages[i]);
		if (!(i % 4096))
			cond_resched();
	}
}

/*
 * Pinned pages count against the user's RLIMIT_MEMLOCK, as io_uring's and
 * RDMA's do: they are unevictable and, unmapped, invisible to the OOM
 * killer, so without a limit any user could pin all of RAM.
 */
static int acl_account_pinned(struct acl_phys *phys)
{
	struct user_struct *user = current_user();
	unsigned long lim, cur, new;

	if (capable(CAP_IPC_LOCK))
		return 0;
	lim = rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;
	cur = atomic_long_read(&user->locked_vm);
	do {
		new = cur + phys->nr_pages;
		if (new > lim || new < cur)
			return -ENOMEM;
	} while (!atomic_long_try_cmpxchg(&user->locked_vm, &cur, new));
	phys->user = get_uid(user);
	return 0;
}

static void acl_unaccount_pinned(struct acl_phys *phys)
{
	if (!phys->user)
		return;
	atomic_long_sub(phys->nr_pages, &phys->user->locked_vm);
	free_uid(phys->user);
}

static int acl_phys_populate(struct acl_phys *phys)
{
	struct address_space *mapping = phys->shm->f_mapping;
	gfp_t gfp = GFP_HIGHUSER | __GFP_RETRY_MAYFAIL | __GFP_NOWARN;
	pgoff_t per_chunk = phys->chunk_size >> PAGE_SHIFT;
	struct page *page;
	pgoff_t i;
	int ret;

	/* Pinned for life: neither movable nor reclaimable. */
	mapping_set_gfp_mask(mapping, gfp);
	mapping_set_unevictable(mapping);

	for (i = 0; i < phys->nr_pages; i++) {
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			goto err_unpin;
		}
		page = shmem_read_mapping_page_gfp(mapping, i, gfp);
		if (IS_ERR(page)) {
			ret = PTR_ERR(page);
			/* shmem's -ENOSPC (vm_enough_memory refused) is out of memory here */
			if (ret == -ENOSPC)
				ret = -ENOMEM;
			goto err_unpin;
		}
		phys->pages[i] = page;
		if (per_chunk > 1 && !(i % per_chunk) && !acl_chunk_is_huge(page)) {
			ret = -ENOMEM;
			i++;
			goto err_unpin;
		}
		cond_resched();
	}
	return 0;

err_unpin:
	acl_phys_unpin(phys, i);
	return ret;
}

/**
 * acl_phys_create - allocate a physical allocation
 * @length: bytes, validated by the caller against the granularity
 * @mem_attr: aclrtMemAttr value
 * @loc_type: ACL_SHARE_LOC_*
 * @loc_id: device index or NUMA node
 *
 * Return: the allocation with one reference, or an ERR_PTR.
 */
struct acl_phys *acl_phys_create(u64 length, u32 mem_attr, u32 loc_type, u32 loc_id)
{
	struct acl_phys *phys;
	u64 granularity;
	u32 chunk;
	int ret;

	ret = acl_attr_chunk_size(mem_attr, loc_type, &granularity, &chunk);
	if (ret)
		return ERR_PTR(ret);
	if (chunk > PAGE_SIZE && !acl_huge_mnt)
		return ERR_PTR(-EOPNOTSUPP);

	phys = kzalloc(sizeof(*phys), GFP_KERNEL_ACCOUNT);
	if (!phys)
		return ERR_PTR(-ENOMEM);
	kref_init(&phys->ref);
	phys->length = length;
	phys->nr_pages = length >> PAGE_SHIFT;
	phys->mem_attr = mem_attr;
	phys->loc_type = loc_type;
	phys->loc_id = loc_id;
	phys->chunk_size = chunk;

	ret = acl_account_pinned(phys);
	if (ret)
		goto err_free;

	phys->pages = kvcalloc(phys->nr_pages, sizeof(*phys->pages),
			       GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!phys->pages) {
		ret = -ENOMEM;
		goto err_unaccount;
	}

	if (chunk > PAGE_SIZE)
		phys->shm = shmem_file_setup_with_mnt(acl_huge_mnt, "acl_share", length,
						      VM_NORESERVE);
	else
		phys->shm = shmem_file_setup("acl_share", length, VM_NORESERVE);
	if (IS_ERR(phys->shm)) {
		ret = PTR_ERR(phys->shm);
		/*
		 * shmem reports a failed inode allocation as -ENOSPC; these
		 * mounts have no inode or block limit, so it is out of memory.
		 * -ENFILE is the system's limit of open files (fs.file-max),
		 * which the ABI reports as a resource shortage too.
		 */
		if (ret == -ENOSPC || ret == -ENFILE)
			ret = -ENOMEM;
		goto err_pages;
	}

	ret = acl_phys_populate(phys);
	if (ret)
		goto err_shm;

	acl_stat_add(ACL_STAT_ALLOCATIONS, 1);
	acl_stat_add(ACL_STAT_BYTES, length);
	return phys;

err_shm:
	fput(phys->shm);
err_pages:
	kvfree(phys->pages);
err_unaccount:
	acl_unaccount_pinned(phys);
err_free:
	kfree(phys);
	return ERR_PTR(ret);
}

void acl_phys_release(struct kref *ref)
{
	struct acl_phys *phys = container_of(ref, struct acl_phys, ref);

	acl_phys_unpin(phys, phys->nr_pages);
	fput(phys->shm);
	kvfree(phys->pages);
	acl_unaccount_pinned(phys);
	acl_stat_add(ACL_STAT_ALLOCATIONS, -1);
	acl_stat_add(ACL_STAT_BYTES, -(s64)phys->length);
	kfree(phys);
}
