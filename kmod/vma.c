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
 */
#include <linux/fs.h>
#include <linux/mm.h>
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

	phys = acl_ctx_get_phys(ctx, vma->vm_pgoff, &length);
	if (!phys)
		return -ENOENT;
	if (vma_pages(vma) != length >> PAGE_SHIFT) {
		acl_phys_put(phys);
		return -EINVAL;
	}

	/* Page offsets inside the VMA are page indexes of the allocation. */
	vma->vm_pgoff = 0;
	vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP | VM_DONTCOPY);
	vm_flags_clear(vma, VM_MAYEXEC);
	/*
	 * The file that owns the pages backs the VMA, as DRM's shmem helpers
	 * do: the VMA is linked into its mapping, so the reverse map sees it.
	 */
	vma_set_file(vma, phys->file);
	vma->vm_ops = &acl_vm_ops;
	vma->vm_private_data = phys;
	acl_stat_add(ACL_STAT_MAPPINGS, 1);
	return 0;
}
