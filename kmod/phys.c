// SPDX-License-Identifier: GPL-2.0
/*
 * Physical allocations: memory the module owns.
 *
 * An allocation is made of chunks the module takes from the page allocator
 * itself, on every kernel and whatever its THP and shmem settings: base
 * pages for NORMAL attributes, and for the huge ones 2 MiB physically
 * contiguous compound pages (order 9 with 4 KiB pages, 7 with 16 KiB, 5
 * with 64 KiB); HUGE1G is 512 of those. The allocation flags are those of
 * hugetlb's pool: direct reclaim and compaction, retried, failing rather
 * than invoking the OOM killer (__GFP_RETRY_MAYFAIL). The pages are
 * zeroed, charged to the allocating task's memory cgroup (__GFP_ACCOUNT:
 * memory.max reclaims and then refuses), never movable (no __GFP_MOVABLE:
 * they stay out of ZONE_MOVABLE and CMA) and on no LRU, so reclaim,
 * compaction and migration never touch them, whatever holds them. HOST_NUMA
 * allocations come from their node only.
 *
 * Each allocation has an inode of a small pseudo filesystem: every chunk's
 * page->mapping is that inode's mapping and page->index its page offset,
 * and the VMAs that map it have its file as vm_file (vma.c), so the reverse
 * map finds every mapping, process-shared futexes key on the inode and
 * get_user_pages() works; a chunk mapped at a 2 MiB aligned address of a
 * 4 KiB-page kernel with THP is mapped with one PMD.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/nodemask.h>
#include <linux/pagemap.h>
#include <linux/pseudo_fs.h>
#include <linux/sched/signal.h>
#include <linux/sched/user.h>
#include <linux/slab.h>

#include "acl_share.h"
#include "compat.h"

#define ACL_SHARE_FS_MAGIC 0x61636c73	/* "acls" */

/*
 * Pinned by every allocation (simple_pin_fs()), as DRM pins its inode
 * filesystem, and by every open file of the device (acl_phys_fs_get()).
 */
static struct vfsmount *acl_mnt;
static int acl_mnt_count;

/*
 * Attempts per huge chunk beyond the first (see acl_phys_populate()): with
 * a 100 ms pause every eighth, a chunk that compaction cannot assemble
 * fails after about 13 s. On a fragmented 2 GiB node most chunks took no
 * retry, the slowest of ~1,400 took 211.
 */
#define ACL_CHUNK_RETRIES 1024

/*
 * What /proc/<pid>/maps shows for a mapping of an allocation (the inode
 * column tells allocations apart: processes sharing one show the same).
 */
#define ACL_SHARE_MAP_NAME "acl_share:[memory]"

static char *acl_fs_dname(struct dentry *dentry, char *buffer, int buflen)
{
	static const char name[] = ACL_SHARE_MAP_NAME;

	if (buflen < (int)sizeof(name))
		return ERR_PTR(-ENAMETOOLONG);
	return memcpy(buffer + buflen - sizeof(name), name, sizeof(name));
}

static const struct dentry_operations acl_fs_dops = {
	.d_dname = acl_fs_dname,
};

static int acl_fs_init_fs_context(struct fs_context *fc)
{
	struct pseudo_fs_context *ctx = init_pseudo(fc, ACL_SHARE_FS_MAGIC);

	if (!ctx)
		return -ENOMEM;
	ctx->dops = &acl_fs_dops;
	return 0;
}

/*
 * Never registered: only simple_pin_fs() below mounts it. Its superblock
 * holds the module (.owner) until kill_sb has run, so that the last fput()
 * of an allocation's file, which drops the file's own module reference
 * before its dentry and mount, never runs freed code.
 */
static struct file_system_type acl_fs_type = {
	.owner = THIS_MODULE,
	.name = "acl_share",
	.init_fs_context = acl_fs_init_fs_context,
	.kill_sb = kill_anon_super,
};

/*
 * The file of an allocation: it only owns the pages (mmap goes through
 * /dev/acl_share); msync() of a mapping has nothing to write back.
 */
static const struct file_operations acl_phys_fops = {
	.owner = THIS_MODULE,
	.fsync = noop_fsync,
};

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

/* The page at page offset @pgoff of the allocation. */
struct page *acl_phys_page(const struct acl_phys *phys, pgoff_t pgoff)
{
	pgoff_t per_chunk = phys->chunk_size >> PAGE_SHIFT;

	return nth_page(phys->chunks[pgoff / per_chunk], pgoff % per_chunk);
}

/*
 * Pinned pages count against the user's RLIMIT_MEMLOCK, as io_uring's and
 * RDMA's do: they are unevictable and, unmapped, invisible to the OOM
 * killer, so without a limit any user could pin all of RAM. The charge is
 * exactly the allocation (the module allocates nothing more) and is held
 * through a reference on the creator's credentials (free_uid() is not
 * exported before 5.11).
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
	phys->cred = get_current_cred();
	return 0;
}

static void acl_unaccount_pinned(struct acl_phys *phys)
{
	if (!phys->cred)
		return;
	atomic_long_sub(phys->nr_pages, &phys->cred->user->locked_vm);
	put_cred(phys->cred);
}

/*
 * Is a 2 MiB chunk mapped with one PMD on this kernel? Then it is one
 * compound page, which the core maps whole. Elsewhere (no THP, or a PMD
 * larger than 2 MiB) the chunk is split into base pages, still physically
 * contiguous: the core meets only order-0 pages there, never a large folio
 * it would try to split (madvise(MADV_PAGEOUT) of a PTE-mapped large folio
 * loops for ever on a kernel without THP).
 */
static bool acl_chunk_is_compound(unsigned int order)
{
#ifdef CONFIG_TRANSPARENT_HUGEPAGE
	return order == HPAGE_PMD_ORDER && has_transparent_hugepage();
#else
	return false;
#endif
}

/* The pages of chunk @i: one compound page, or @per_chunk base pages. */
static unsigned long acl_chunk_pages(const struct acl_phys *phys, unsigned long i)
{
	return PageCompound(phys->chunks[i]) ? 1 : phys->chunk_size >> PAGE_SHIFT;
}

/* Frees the first @count chunks. */
static void acl_phys_free_chunks(struct acl_phys *phys, unsigned long count)
{
	unsigned long i, j, n;
	struct page *page;

	for (i = 0; i < count; i++) {
		n = acl_chunk_pages(phys, i);
		for (j = 0; j < n; j++) {
			page = nth_page(phys->chunks[i], j);
			/*
			 * A GUP reference may outlive the allocation: it finds
			 * no mapping. Under the page lock, as truncation does:
			 * set_page_dirty_lock() reads the mapping under it.
			 */
			lock_page(page);
			page->mapping = NULL;
			unlock_page(page);
			/* No VMA is left (each holds the allocation), so no PTE maps it. */
			acl_chunk_unmappable(page);
			put_page(page);
		}
		if (!(i % 64))
			cond_resched();
	}
}

/* Allocates one chunk of 2^@order pages (see acl_chunk_is_compound()). */
static struct page *acl_chunk_alloc(gfp_t gfp, unsigned int order, int nid)
{
	struct page *page;

	if (acl_chunk_is_compound(order) || !order)
		return acl_alloc_chunk(gfp | (order ? __GFP_COMP : 0), order, nid);
	page = acl_alloc_chunk(gfp, order, nid);
	if (page)
		split_page(page, order);
	return page;
}

/*
 * Is a chunk of 2^@order pages free right now, were it not charged? Looked
 * up on the free lists only: no direct reclaim, no direct compaction.
 *
 * Being an allocation that cannot compact for itself, it also asks the
 * kernel to compact in the background: on a node whose free memory is
 * plentiful but fragmented, wakeup_kswapd() wakes kcompactd for such
 * allocations (those with __GFP_DIRECT_RECLAIM are left to compact
 * directly). Direct compaction cannot do it for us where nothing is
 * reclaimable: the allocator raises its priority above asynchronous only
 * after reclaim made progress (should_compact_retry()), and asynchronous
 * compaction for an unmovable request scans only unmovable pageblocks;
 * kcompactd compacts synchronously, every pageblock.
 */
static bool acl_chunk_is_free(gfp_t gfp, unsigned int order, int nid)
{
	gfp_t peek = gfp & ~(__GFP_DIRECT_RECLAIM | __GFP_ACCOUNT | __GFP_ZERO |
			     __GFP_RETRY_MAYFAIL);
	struct page *page = acl_alloc_chunk(peek, order, nid);

	if (!page)
		return false;
	__free_pages(page, order);
	return true;
}

/*
 * May a huge chunk of 2^@order pages that could not be had be tried again?
 * Only while fragmentation is what stands in the way, which compaction can
 * cure: not once a base page cannot be had either, charged and placed the
 * same way (the node is full, or the memory cgroup at memory.max), nor when
 * a free chunk was there for the taking but could not be charged, twice in
 * a row (@charge_refused counts: the memory cgroup has no room for it).
 */
static bool acl_chunk_may_retry(gfp_t gfp, unsigned int order, int nid, unsigned int retries,
				unsigned int *charge_refused)
{
	struct page *page;

	/*
	 * Every eighth time, give kswapd and kcompactd, which the failed
	 * attempts woke, time to work: a kswapd that goes to sleep clears
	 * the pageblock skip hints that make compaction give up at once, and
	 * wakes kcompactd (its short sleep is HZ/10). Without these pauses a
	 * fragmented node failed half the chunks on 6.1 after 1,024 retries.
	 */
	if (retries % 8 == 7)
		schedule_timeout_killable(msecs_to_jiffies(100));
	if (fatal_signal_pending(current))
		return false;
	cond_resched();
	if (acl_chunk_is_free(gfp, order, nid)) {
		if (++*charge_refused >= 2)
			return false;
	} else {
		*charge_refused = 0;
	}
	/* One try (__GFP_NORETRY): never the OOM killer for a probe. */
	page = acl_alloc_chunk((gfp & ~(__GFP_RETRY_MAYFAIL | __GFP_ZERO)) | __GFP_NORETRY, 0, nid);
	if (!page)
		return false;
	__free_page(page);
	return true;
}

static int acl_phys_populate(struct acl_phys *phys, int nid)
{
	gfp_t gfp = GFP_HIGHUSER | __GFP_ZERO | __GFP_ACCOUNT | __GFP_RETRY_MAYFAIL | __GFP_NOWARN;
	unsigned int order = get_order(phys->chunk_size);
	pgoff_t per_chunk = phys->chunk_size >> PAGE_SHIFT;
	struct address_space *mapping = phys->file->f_mapping;
	unsigned int retries, charge_refused;
	struct page *page, *p;
	unsigned long i, j;

	for (i = 0; i < phys->nr_chunks; i++) {
		if (fatal_signal_pending(current))
			goto err_free;
		page = acl_chunk_alloc(gfp, order, nid);
		/*
		 * Compaction gives up often (a failed one defers the next ones
		 * of this order for up to 64 attempts, skip hints make it stop
		 * at once, PREEMPT_RT's meets lock contention): try on, as
		 * writes of nr_hugepages do, while only fragmentation stands in
		 * the way.
		 */
		charge_refused = 0;
		for (retries = 0; !page && order && retries < ACL_CHUNK_RETRIES &&
		     acl_chunk_may_retry(gfp, order, nid, retries, &charge_refused); retries++)
			page = acl_chunk_alloc(gfp, order, nid);
		if (!page)
			goto err_free;
		phys->chunks[i] = page;
		/* A compound chunk's head stands for all of it. */
		for (j = 0; j < acl_chunk_pages(phys, i); j++) {
			p = nth_page(page, j);
			acl_chunk_mappable(p);
			p->mapping = mapping;
			p->index = i * per_chunk + j;
		}
		cond_resched();
	}
	return 0;

err_free:
	acl_phys_free_chunks(phys, i);
	return fatal_signal_pending(current) ? -EINTR : -ENOMEM;
}

/**
 * acl_phys_fs_get - pin the allocations' filesystem, mounting it if need be
 *
 * Each allocation pins it, and so does each open file of the device: with
 * allocations alone, a process that allocates and frees one allocation at
 * a time would take it down at every free and mount it again at the next
 * allocation, a superblock made and destroyed, about 300 µs of an
 * allocation-free pair under TCG (function_graph). So it stays mounted
 * while any process uses the module, and still goes (with the module
 * reference its superblock holds) once nothing does.
 *
 * Return: 0, or the error of mounting it (-ENOMEM).
 */
int acl_phys_fs_get(void)
{
	return simple_pin_fs(&acl_fs_type, &acl_mnt, &acl_mnt_count);
}

/* Drops the pin of acl_phys_fs_get(). */
void acl_phys_fs_put(void)
{
	simple_release_fs(&acl_mnt, &acl_mnt_count);
}

/* The allocation's inode and file, on a pinned mount of the pseudo filesystem. */
static int acl_phys_file(struct acl_phys *phys)
{
	struct inode *inode;
	int ret;

	ret = acl_phys_fs_get();
	if (ret)
		return ret;
	inode = alloc_anon_inode(acl_mnt->mnt_sb);
	if (IS_ERR(inode)) {
		ret = PTR_ERR(inode);
		goto err_unpin;
	}
	/* Faults check the page against i_size (6.12 maps PTEs past it). */
	i_size_write(inode, phys->length);
	/* No time updates on write faults: nothing reads them. */
	inode->i_flags |= S_NOCMTIME;
	/*
	 * The file's last fput() drops a module reference (fops->owner): it
	 * keeps the module while a VMA maps the allocation.
	 */
	__module_get(THIS_MODULE);
	phys->file = alloc_file_pseudo(inode, acl_mnt, "acl_share", O_RDWR, &acl_phys_fops);
	if (IS_ERR(phys->file)) {
		ret = PTR_ERR(phys->file);
		module_put(THIS_MODULE);
		iput(inode);
		goto err_unpin;
	}
	return 0;

err_unpin:
	acl_phys_fs_put();
	return ret;
}

static void acl_phys_put_file(struct acl_phys *phys)
{
	fput(phys->file);
	acl_phys_fs_put();
}

/**
 * acl_phys_create - allocate a physical allocation
 * @length: bytes, validated by the caller against the granularity
 * @mem_attr: aclrtMemAttr value
 * @loc_type: ACL_SHARE_LOC_*
 * @loc_id: device index or NUMA node
 *
 * Return: the allocation with one reference, or an ERR_PTR: -ENOMEM (no
 * memory, memory.max, RLIMIT_MEMLOCK, or the system's open-file limit),
 * -EINTR (killed meanwhile), -EINVAL.
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
	phys->nr_chunks = length / chunk;

	ret = acl_account_pinned(phys);
	if (ret)
		goto err_free;

	phys->chunks = kvcalloc(phys->nr_chunks, sizeof(*phys->chunks),
				GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!phys->chunks) {
		ret = -ENOMEM;
		goto err_unaccount;
	}

	ret = acl_phys_file(phys);
	if (ret) {
		/* -ENFILE is the system's limit of open files (fs.file-max). */
		ret = -ENOMEM;
		goto err_chunks;
	}

	ret = acl_phys_populate(phys, loc_type == ACL_SHARE_LOC_HOST_NUMA ? loc_id : NUMA_NO_NODE);
	if (ret)
		goto err_file;
	ret = acl_phys_index(phys);	/* fault-around (vma.c) */
	if (ret)
		goto err_chunks_free;

	acl_stat_add(ACL_STAT_ALLOCATIONS, 1);
	acl_stat_add(ACL_STAT_BYTES, length);
	return phys;

err_chunks_free:
	acl_phys_free_chunks(phys, phys->nr_chunks);
err_file:
	acl_phys_put_file(phys);
err_chunks:
	kvfree(phys->chunks);
err_unaccount:
	acl_unaccount_pinned(phys);
err_free:
	kfree(phys);
	return ERR_PTR(ret);
}

void acl_phys_release(struct kref *ref)
{
	struct acl_phys *phys = container_of(ref, struct acl_phys, ref);

	acl_phys_unindex(phys);
	acl_phys_free_chunks(phys, phys->nr_chunks);
	acl_phys_put_file(phys);
	kvfree(phys->chunks);
	acl_unaccount_pinned(phys);
	acl_stat_add(ACL_STAT_ALLOCATIONS, -1);
	acl_stat_add(ACL_STAT_BYTES, -(s64)phys->length);
	kfree(phys);
}
