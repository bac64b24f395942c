/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Differences between the kernels acl_share builds for (5.10 to 6.12): the
 * one place they live. Everything else in kmod/ is written against the
 * newest interface; this header supplies it on the older kernels.
 *
 * Adding a kernel: build it (tools/fetch-kernel.sh gives Debian's), and
 * put whatever it lacks or renamed here.
 */
#ifndef ACL_SHARE_COMPAT_H
#define ACL_SHARE_COMPAT_H

#include <linux/file.h>
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/version.h>

/* 6.3 made vm_flags read-only outside these helpers. */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 3, 0)
static inline void vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
	vma->vm_flags |= flags;
}

static inline void vm_flags_clear(struct vm_area_struct *vma, vm_flags_t flags)
{
	vma->vm_flags &= ~flags;
}
#endif

/* vma_set_file() is 5.11's. */
#if LINUX_VERSION_CODE < KERNEL_VERSION(5, 11, 0)
static inline void vma_set_file(struct vm_area_struct *vma, struct file *file)
{
	get_file(file);
	swap(vma->vm_file, file);
	fput(file);
}
#endif

/* 6.10 replaced mm->get_unmapped_area with mm_get_unmapped_area(). */
static inline unsigned long acl_mm_get_unmapped_area(struct file *file, unsigned long addr,
						     unsigned long len, unsigned long pgoff,
						     unsigned long flags)
{
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 10, 0)
	return current->mm->get_unmapped_area(file, addr, len, pgoff, flags);
#else
	return mm_get_unmapped_area(current->mm, file, addr, len, pgoff, flags);
#endif
}

/*
 * 2^@order pages, from node @nid only unless NUMA_NO_NODE. With __GFP_COMP
 * in @gfp, one compound page, which folio_alloc() (5.16) also prepares for
 * the rmap of the kernel it runs on.
 */
static inline struct page *acl_alloc_chunk(gfp_t gfp, unsigned int order, int nid)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 16, 0)
	struct folio *folio;

	if (gfp & __GFP_COMP) {
		if (nid == NUMA_NO_NODE)
			folio = folio_alloc(gfp, order);
		else
			folio = __folio_alloc_node(gfp | __GFP_THISNODE, order, nid);
		return folio ? &folio->page : NULL;
	}
#endif
	if (nid == NUMA_NO_NODE)
		return alloc_pages(gfp, order);
	return alloc_pages_node(nid, gfp | __GFP_THISNODE, order);
}

/* 6.7 gave vm_ops->get_policy() the interleave index. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
#define ACL_GET_POLICY_ARGS struct vm_area_struct *vma, unsigned long addr, pgoff_t *ilx
#else
#define ACL_GET_POLICY_ARGS struct vm_area_struct *vma, unsigned long addr
#endif

/*
 * 5.12 made vm_ops->map_pages return what it did (VM_FAULT_NOPAGE once it
 * mapped the faulting address); before, the core looked at the PTE.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 12, 0)
#define ACL_MAP_PAGES_RET vm_fault_t
#define ACL_MAP_PAGES_NONE 0
#else
#define ACL_MAP_PAGES_RET void
#define ACL_MAP_PAGES_NONE
#endif

/*
 * Before 5.11 a page charged to a memcg by __GFP_ACCOUNT was typed
 * PageKmemcg, a type kept in its _mapcount, which a user mapping needs.
 * acl_chunk_mappable() takes the type off a freshly charged chunk;
 * acl_chunk_unmappable() puts it back once no mapping is left, so that
 * freeing the page still uncharges it (and does not find a charged page
 * that is not typed). page->mem_cgroup says whether it was charged.
 */
#ifdef PG_kmemcg
static inline void acl_chunk_mappable(struct page *page)
{
	if (PageKmemcg(page))
		__ClearPageKmemcg(page);
}

static inline void acl_chunk_unmappable(struct page *page)
{
	if (page->mem_cgroup)
		__SetPageKmemcg(page);
}
#else
static inline void acl_chunk_mappable(struct page *page)
{
}

static inline void acl_chunk_unmappable(struct page *page)
{
}
#endif

/*
 * rxe (soft-RoCE) before its pool rework of 5.19 (6.1's rdma_rxe waits in
 * __rxe_cleanup(); 5.10's does not): ib_destroy_qp() may return while an
 * skb the queue pair sent still holds a reference on it. Its destructor
 * then drops the last one from softirq, and the queue pair's cleanup runs
 * later on system_wq, dropping references on its CQ and PD, which the core
 * has freed if the consumer freed them meanwhile ("refcount_t: underflow"
 * in rxe_qp_do_cleanup, seen on 5.10). acl_flush_system_wq() waits for
 * that cleanup; it is never needed, nor called, on newer kernels.
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(5, 19, 0)
#define ACL_RXE_LATE_QP_CLEANUP true
#define acl_flush_system_wq() flush_scheduled_work()
#else
#define ACL_RXE_LATE_QP_CLEANUP false
#define acl_flush_system_wq() do { } while (0)
#endif

#endif /* ACL_SHARE_COMPAT_H */
