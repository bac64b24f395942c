// SPDX-License-Identifier: GPL-2.0
/*
 * Mapping a physical allocation into a process.
 *
 * Each VMA holds one reference on the allocation, taken at mmap and at
 * every split or move (vm_ops->open) and dropped in vm_ops->close. Faults
 * hand the core the pinned page, so a 2 MiB folio at a 2 MiB aligned
 * address is mapped with one PMD by finish_fault(). The pages are ordinary
 * struct pages (no VM_PFNMAP/VM_MIXEDMAP): GUP, process_vm_readv() and
 * futexes work on them.
 *
 * Fault-around: the base pages of an ACL_MEM_NORMAL allocation are also
 * entered, in order, in the page cache index (i_pages) of the allocation's
 * own inode, each with a reference of the index's own, and marked
 * uptodate; never on an LRU and never counted as page cache. A read fault
 * then maps the resident neighbours too (up to fault_around_bytes, 64 KiB
 * by default): vm_ops->map_pages is filemap_map_pages(), the one way a
 * module may install several PTEs of pages it owns without VM_MIXEDMAP.
 * What it maps is bounded by the index (this allocation's pages only), by
 * i_size (its length) and by the VMA (the handle's length); the inode is
 * the allocation's alone, so no other allocation's page can be found
 * there. The extra reference keeps invalidation (drop_caches, fadvise)
 * from taking the pages out: it sees them as in use. The index is emptied
 * when the allocation is released, when no VMA is left.
 */
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/sched/signal.h>

#include "acl_share.h"
#include "compat.h"

/*
 * vm_private_data is the allocation, tagged with ACL_VMA_INHERITED in a
 * copy that fork() made because MADV_DOFORK cleared VM_DONTCOPY: such a
 * copy holds its reference like any VMA but never maps the pages.
 */
#define ACL_VMA_INHERITED 1UL

static struct acl_phys *acl_vma_phys(struct vm_area_struct *vma)
{
	return (struct acl_phys *)((unsigned long)vma->vm_private_data & ~ACL_VMA_INHERITED);
}

static void acl_vm_open(struct vm_area_struct *vma)
{
	struct acl_phys *phys = acl_vma_phys(vma);

	acl_phys_get(phys);
	acl_stat_add(ACL_STAT_MAPPINGS, 1);
	/* Splits and moves happen in the owner's mm; dup_mmap() in the child's. */
	if (vma->vm_mm != current->mm)
		vma->vm_private_data = (void *)((unsigned long)phys | ACL_VMA_INHERITED);
}

static void acl_vm_close(struct vm_area_struct *vma)
{
	acl_stat_add(ACL_STAT_MAPPINGS, -1);
	acl_phys_put(acl_vma_phys(vma));
}

static vm_fault_t acl_vm_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct acl_phys *phys = acl_vma_phys(vma);

	if ((unsigned long)vma->vm_private_data & ACL_VMA_INHERITED)
		return VM_FAULT_SIGBUS;
	if (vmf->pgoff >= phys->nr_pages)
		return VM_FAULT_SIGBUS;
	vmf->page = acl_phys_page(phys, vmf->pgoff);
	get_page(vmf->page);
	return 0;
}

/*
 * Read faults of a NORMAL mapping: map the resident pages around the
 * faulting one. An inherited copy maps nothing: its faults SIGBUS.
 */
static ACL_MAP_PAGES_RET acl_vm_map_pages(struct vm_fault *vmf, pgoff_t start, pgoff_t end)
{
	if ((unsigned long)vmf->vma->vm_private_data & ACL_VMA_INHERITED)
		return ACL_MAP_PAGES_NONE;
	return filemap_map_pages(vmf, start, end);
}

#ifdef CONFIG_NUMA
/*
 * No memory policy applies: the pages are placed at allocation and never
 * move. Without this NUMA balancing would find the VMA migratable and make
 * it PROT_NONE now and then, for hinting faults whose migration fails.
 */
static struct mempolicy *acl_vm_get_policy(ACL_GET_POLICY_ARGS)
{
	return NULL;
}
#endif

static const struct vm_operations_struct acl_vm_ops = {
	.open = acl_vm_open,
	.close = acl_vm_close,
	.fault = acl_vm_fault,
#ifdef CONFIG_NUMA
	.get_policy = acl_vm_get_policy,
#endif
};

/* The same with fault-around, for allocations of base pages (indexed). */
static const struct vm_operations_struct acl_vm_ops_normal = {
	.open = acl_vm_open,
	.close = acl_vm_close,
	.fault = acl_vm_fault,
	.map_pages = acl_vm_map_pages,
#ifdef CONFIG_NUMA
	.get_policy = acl_vm_get_policy,
#endif
};

static bool acl_phys_indexed(const struct acl_phys *phys)
{
	return phys->chunk_size == PAGE_SIZE;
}

/*
 * Takes the first @count pages out of the index again. Only invalidation
 * (drop_caches) may still be looking at a page it found before: it checks
 * page->mapping under the page lock and, while the index's reference is
 * held, finds the page in use. So the mapping goes first, under the lock,
 * and the reference after.
 */
static void acl_phys_unindex_pages(struct acl_phys *phys, pgoff_t count)
{
	struct page *page;
	pgoff_t i;

	xa_destroy(&phys->file->f_mapping->i_pages);
	for (i = 0; i < count; i++) {
		page = acl_phys_page(phys, i);
		lock_page(page);
		page->mapping = NULL;
		unlock_page(page);
		put_page(page);
		if (!(i % 4096))
			cond_resched();
	}
}

/**
 * acl_phys_index - enter a new allocation's pages in its inode's index
 * @phys: the allocation, populated and not yet seen by anyone
 *
 * Only allocations of base pages (ACL_MEM_NORMAL) are indexed: a huge chunk
 * is mapped by one fault already.
 *
 * Return: 0 or -ENOMEM (nothing indexed).
 */
int acl_phys_index(struct acl_phys *phys)
{
	struct xarray *xa = &phys->file->f_mapping->i_pages;
	struct page *page;
	pgoff_t i;
	int ret;

	if (!acl_phys_indexed(phys))
		return 0;
	for (i = 0; i < phys->nr_pages; i++) {
		page = acl_phys_page(phys, i);
		SetPageUptodate(page);
		ret = xa_err(xa_store_irq(xa, i, page, GFP_KERNEL_ACCOUNT));
		if (ret) {
			acl_phys_unindex_pages(phys, i);
			return ret;
		}
		get_page(page);
		if (!(i % 4096))
			cond_resched();
	}
	return 0;
}

/* The allocation is being released (no VMA is left): empty its index. */
void acl_phys_unindex(struct acl_phys *phys)
{
	if (acl_phys_indexed(phys))
		acl_phys_unindex_pages(phys, phys->nr_pages);
}

/**
 * acl_share_mmap - map a handle's allocation
 * @file: the /dev/acl_share file
 * @vma: the new VMA; vm_pgoff is the handle number (acl_mmap_offset())
 *
 * The mapping must be MAP_SHARED (read-only with an O_RDONLY file), not
 * executable, and exactly as long as the handle (the allocation, or the
 * part of it a partial export lets an import map). It is not inherited
 * across fork(), not dumped, and cannot grow.
 *
 * Return: 0, -EACCES (file of another process, or PROT_EXEC), -EINVAL
 * (private mapping, wrong length, offset beyond any handle), -ENOENT (no
 * such handle).
 */
int acl_share_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct acl_ctx *ctx = file->private_data;
	struct acl_remote_import *remote;
	struct acl_phys *phys;
	u64 length;

	if (task_tgid(current) != ctx->owner)
		return -EACCES;
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (vma->vm_flags & VM_EXEC)
		return -EACCES;
	if (vma->vm_pgoff > U32_MAX)
		return -EINVAL;

	phys = acl_ctx_get_phys(ctx, vma->vm_pgoff, &length, &remote);
	if (!phys && !remote)
		return -ENOENT;
	if (vma_pages(vma) != length >> PAGE_SHIFT) {
		if (remote)
			acl_remote_import_put(remote);
		else
			acl_phys_put(phys);
		return -EINVAL;
	}
	if (remote)
		return acl_remote_mmap(vma, remote);

	/* Page offsets inside the VMA are page indexes of the allocation. */
	vma->vm_pgoff = 0;
	vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP | VM_DONTCOPY);
	vm_flags_clear(vma, VM_MAYEXEC);
	/*
	 * The file that owns the pages backs the VMA, as DRM's shmem helpers
	 * do: the VMA is linked into its mapping, so the reverse map sees it.
	 */
	vma_set_file(vma, phys->file);
	vma->vm_ops = acl_phys_indexed(phys) ? &acl_vm_ops_normal : &acl_vm_ops;
	vma->vm_private_data = phys;
	acl_stat_add(ACL_STAT_MAPPINGS, 1);
	return 0;
}
