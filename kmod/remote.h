/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What acl_share.ko offers acl_share_fabric.ko (docs/fabric.md, "Remote
 * import"), in both directions:
 *
 *  - exporter side: a peer server's import request finds an export by its
 *    128 bytes and takes a *remote holder*: one reference on the allocation,
 *    like a local import handle's, dropped by acl_share_remote_put();
 *  - importer side: the fabric module registers acl_share_fabric_ops, which
 *    acl_share.ko calls to import a FABRIC handle of another server and to
 *    release it. Every import holds a reference on the fabric module, so the
 *    ops stay valid until the last remote import handle and mapping go.
 */
#ifndef ACL_SHARE_REMOTE_H
#define ACL_SHARE_REMOTE_H

#include <linux/types.h>

#include <uapi/linux/acl_share.h>

struct module;

/* What an importer learns of a remote allocation. */
struct acl_share_remote_info {
	u64 length;		/* the exported length */
	u32 mem_attr;
	u32 loc_type;
	u32 loc_id;
	u32 page_size;
};

struct acl_share_remote_holder;

u32 acl_share_server_id(void);

/**
 * acl_share_remote_get - a peer's process imports an export of this server
 * @fh: the 128 bytes as the peer sent them (checked here, every byte)
 * @server: the importing server's id (an authenticated peer)
 * @tgid: the importing process's bare tgid on that server
 * @info: what the importer needs to know of the allocation
 *
 * Return: the holder, or ERR_PTR(-ENOENT) (malformed, forged, revoked, or
 * its exporter has exited), ERR_PTR(-EPERM) (the whitelist does not name
 * (@server, @tgid)), ERR_PTR(-ENOMEM).
 */
struct acl_share_remote_holder *acl_share_remote_get(const struct acl_share_fabric_handle *fh,
						     u32 server, u32 tgid,
						     struct acl_share_remote_info *info);
void acl_share_remote_put(struct acl_share_remote_holder *holder);
/* Chunk @index of the holder's allocation (its head page) and the chunks' size. */
struct page *acl_share_remote_chunk(struct acl_share_remote_holder *holder, unsigned long index,
				    u32 *chunk_size);

/*
 * Importer side. import() runs in the importing process's context, may sleep
 * and is interruptible; on success *cookie names the import until release().
 */
struct acl_share_fabric_ops {
	struct module *owner;
	int (*import)(const struct acl_share_fabric_handle *fh, u32 tgid,
		      struct acl_share_remote_info *info, void **cookie);
	void (*release)(void *cookie);
	/* ACL_SHARE_COPY_*: @offset and @length checked against the import's length */
	int (*copy)(void *cookie, u32 op, u64 offset, u64 length, u64 uptr, u8 value);
};

int acl_share_fabric_register(const struct acl_share_fabric_ops *ops);
void acl_share_fabric_unregister(const struct acl_share_fabric_ops *ops);

#endif /* ACL_SHARE_REMOTE_H */
