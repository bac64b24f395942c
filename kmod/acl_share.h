/* SPDX-License-Identifier: GPL-2.0 */
/*
 * acl_share internal interfaces.
 *
 * Object model:
 *  - struct acl_phys: one physical allocation (pages the module owns). Holders
 *    are handles (the creator and every import) and VMAs; each holds one
 *    kref. The pages are freed when the last holder goes.
 *  - struct acl_handle: an entry of one open file's handle table.
 *  - struct acl_export: a shareable handle. It lives in the global export
 *    table until its creator handle goes (revocation); import handles hold
 *    references so that they can be matched against it.
 *  - struct acl_ctx: one open file of /dev/acl_share, bound to the thread
 *    group that opened it.
 */
#ifndef ACL_SHARE_INTERNAL_H
#define ACL_SHARE_INTERNAL_H

#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/pid.h>
#include <linux/refcount.h>
#include <linux/rhashtable-types.h>
#include <linux/rwsem.h>
#include <linux/sizes.h>
#include <linux/types.h>
#include <linux/xarray.h>

#include <uapi/linux/acl_share.h>

#define ACL_SHARE_HUGE_SIZE SZ_2M	/* chunks of *_HUGE attributes */
#define ACL_SHARE_HUGE1G_SIZE SZ_1G	/* granularity of *_HUGE1G */
#define ACL_SHARE_MAX_STRUCT_SIZE 4096	/* largest ioctl struct accepted (the uapi says so) */

/* Module parameters (main.c). */
extern unsigned int acl_device_count;
extern unsigned int acl_server_id;
u32 acl_share_server_id(void);
extern unsigned int acl_max_exports;
extern unsigned int acl_max_pids_per_handle;

struct acl_phys {
	struct kref ref;
	struct file *file;	/* pseudo file whose mapping the pages name */
	struct page **chunks;	/* the chunks (head pages), in order */
	unsigned long nr_chunks;
	pgoff_t nr_pages;
	u64 length;
	u32 mem_attr;
	u32 loc_type;
	u32 loc_id;
	u32 chunk_size;		/* PAGE_SIZE or ACL_SHARE_HUGE_SIZE */
	/* The creator's credentials: their user is charged nr_pages, or NULL. */
	const struct cred *cred;
};

struct acl_export;
struct acl_remote_import;
struct vm_area_struct;

struct acl_handle {
	struct acl_phys *phys;		/* one reference; NULL for a remote import */
	struct acl_remote_import *remote; /* imported from another server: one reference */
	u64 length;			/* what it maps: all of phys, or a partial export's */
	struct acl_export *export;	/* export made from this handle, or NULL */
	struct acl_export *source;	/* export this handle imported, or NULL */
	u32 id;
};

struct acl_ctx {
	struct list_head node;		/* in the list of clients (clients.c) */
	struct pid *owner;		/* thread group that opened the file */
	struct mutex lock;		/* serialises changes of the tables */
	struct xarray handles;		/* id -> struct acl_handle */
	struct xarray imports;		/* export id -> struct acl_handle */
	unsigned int nr_exports;
};

/* phys.c */
int acl_attr_chunk_size(u32 mem_attr, u32 loc_type, u64 *granularity, u32 *chunk);
struct acl_phys *acl_phys_create(u64 length, u32 mem_attr, u32 loc_type, u32 loc_id);
struct page *acl_phys_page(const struct acl_phys *phys, pgoff_t pgoff);
void acl_phys_release(struct kref *ref);
int acl_phys_fs_get(void);
void acl_phys_fs_put(void);

static inline void acl_phys_get(struct acl_phys *phys)
{
	kref_get(&phys->ref);
}

static inline void acl_phys_put(struct acl_phys *phys)
{
	kref_put(&phys->ref, acl_phys_release);
}

/* vma.c */
int acl_share_mmap(struct file *file, struct vm_area_struct *vma);
int acl_phys_index(struct acl_phys *phys);
void acl_phys_unindex(struct acl_phys *phys);

/* handle.c */
struct acl_ctx *acl_ctx_create(void);
void acl_ctx_release_handles(struct acl_ctx *ctx);
void acl_ctx_destroy(struct acl_ctx *ctx);
int acl_ctx_add_handle(struct acl_ctx *ctx, struct acl_handle *h);
void acl_ctx_publish_handle(struct acl_ctx *ctx, struct acl_handle *h);
void acl_ctx_abort_handle(struct acl_ctx *ctx, struct acl_handle *h);
int acl_ctx_free_handle(struct acl_ctx *ctx, u32 id);
struct acl_phys *acl_ctx_get_phys(struct acl_ctx *ctx, u32 id, u64 *length,
				  struct acl_remote_import **remote);
int acl_ioctl_info(struct acl_ctx *ctx, void *arg, struct acl_handle **pending);
int acl_ioctl_alloc(struct acl_ctx *ctx, void *arg, struct acl_handle **pending);
int acl_ioctl_free(struct acl_ctx *ctx, void *arg, struct acl_handle **pending);
int acl_ioctl_query(struct acl_ctx *ctx, void *arg, struct acl_handle **pending);

static inline u64 acl_mmap_offset(u32 id)
{
	return (u64)id << PAGE_SHIFT;
}

/* whitelist.c: a process named by what pins nothing of it */
struct acl_proc_id {
	u64 start;	/* start_time of the thread group leader */
	u32 tgid;	/* bare tgid: in the initial pid namespace */
	u32 __pad;
};

/* A process of another server: what an import over the fabric names. */
struct acl_remote_id {
	u32 server;
	u32 tgid;
};

struct acl_whitelist {
	struct rw_semaphore rwsem;	/* SetPid writes, import reads: whole calls */
	struct acl_proc_id *ids;	/* sorted by tgid, unique */
	unsigned int nr;
	struct acl_remote_id *remote;	/* other servers' processes, sorted, unique */
	unsigned int nr_remote;
	u64 gen;			/* changes at every swap of ids */
	bool closed;			/* revoked: admits nobody, takes nobody */
};

bool acl_tgid_alive(struct pid *pid);
void acl_whitelist_init(struct acl_whitelist *wl);
void acl_whitelist_close(struct acl_whitelist *wl);
void acl_whitelist_destroy(struct acl_whitelist *wl);
int acl_whitelist_admits(struct acl_whitelist *wl);
int acl_whitelist_add(struct acl_whitelist *wl, const s32 *nrs, u32 num);
int acl_whitelist_admits_remote(struct acl_whitelist *wl, u32 server, u32 tgid);
int acl_whitelist_check_remote(struct acl_whitelist *wl, u32 num);
int acl_whitelist_add_remote(struct acl_whitelist *wl, const struct acl_remote_id *ids,
			     u32 num);

/* export.c */
int acl_export_init(void);
void acl_export_exit(void);
void acl_export_revoke(struct acl_export *exp);
void acl_export_put(struct acl_export *exp);
u32 acl_export_id(const struct acl_export *exp);
int acl_ioctl_export(struct acl_ctx *ctx, void *arg, struct acl_handle **pending);
int acl_ioctl_set_pid(struct acl_ctx *ctx, void *arg, struct acl_handle **pending);
int acl_ioctl_revoke(struct acl_ctx *ctx, void *arg, struct acl_handle **pending);
int acl_ioctl_import(struct acl_ctx *ctx, void *arg, struct acl_handle **pending);

/* remote.c: FABRIC handles of other servers, through acl_share_fabric.ko */
struct acl_share_import;
int acl_remote_import_ioctl(struct acl_ctx *ctx, const struct acl_share_fabric_handle *fh,
			    struct acl_share_import *req, struct acl_handle **pending);
void acl_remote_import_get(struct acl_remote_import *remote);
void acl_remote_import_put(struct acl_remote_import *remote);
void acl_remote_import_query(const struct acl_remote_import *remote,
			     struct acl_share_query *req);
int acl_remote_mmap(struct vm_area_struct *vma, struct acl_remote_import *remote);
int acl_ioctl_copy(struct acl_ctx *ctx, void *arg, struct acl_handle **pending);

/* clients.c: per-process detail, root only (debugfs) */
void acl_clients_init(void);
void acl_clients_exit(void);
void acl_clients_add(struct acl_ctx *ctx);
void acl_clients_del(struct acl_ctx *ctx);

/* stats.c */
enum acl_stat {
	ACL_STAT_OPENS,
	ACL_STAT_HANDLES,
	ACL_STAT_ALLOCATIONS,
	ACL_STAT_BYTES,
	ACL_STAT_MAPPINGS,
	ACL_STAT_EXPORTS,
	ACL_STAT_IMPORTS,
	ACL_STAT_REMOTE_IMPORTS,	/* handles of other servers' exports, here */
	ACL_STAT_REMOTE_HOLDERS,	/* other servers' imports of exports here */
	ACL_STAT_COUNT
};

void acl_stat_add(enum acl_stat stat, s64 delta);
extern const struct attribute_group *acl_share_groups[];

#endif /* ACL_SHARE_INTERNAL_H */
