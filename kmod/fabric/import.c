// SPDX-License-Identifier: GPL-2.0
/*
 * Imports of FABRIC handles across servers, over an authenticated link
 * (docs/fabric.md, "Remote import").
 *
 * Importer: acl_share.ko calls acl_fabric_import() from the importing
 * process. It connects to the exporting server unless a link is up, sends
 * IMPORT_REQ {the 128 bytes, the bare tgid} and sleeps until the answer,
 * the link's end, a signal or peer_timeout_ms. The import names the link
 * and the holder id the exporter gave it; its release sends RELEASE on
 * that link if it is still up.
 *
 * Exporter: IMPORT_REQ is checked by acl_share.ko (acl_share_remote_get:
 * every byte, revocation, the whitelist by (server, tgid)), which takes a
 * reference for the remote holder; the link keeps it under a number until
 * RELEASE names it or the link ends. A link's end is its peer's end here:
 * every holder of the link is dropped, and the importer's imports of it
 * are dead (acl_fabric_import_live()).
 *
 * Everything runs under acl_fabric.lock, in process context, as conn.c.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/slab.h>

#include "fabric.h"
#include "../remote.h"

#define ACL_FABRIC_MAX_HOLDERS	BIT(20)	/* per link: a peer cannot pin more */

/* An import waiting for its answer: on the waiter's stack, found under the lock. */
struct acl_import_request {
	bool done;
	int err;
	u64 holder;
	struct acl_share_remote_info info;
};

/* What acl_share.ko holds as the cookie of a remote import. */
struct acl_fabric_import {
	struct acl_fabric_conn *conn;	/* one reference */
	u64 holder;			/* its number on the exporter */
};

/* ------------------------------------------------------------ exporter */

static int acl_send_import_err(struct acl_fabric_conn *conn, u64 seq, int err)
{
	struct acl_fabric_msg reply = {
		.type = cpu_to_le16(ACL_FABRIC_MSG_IMPORT_ERR),
		.seq = cpu_to_le64(seq),
	};
	u32 code = err == -ENOENT ? ACL_FABRIC_IMPORT_NOENT :
		   err == -EPERM ? ACL_FABRIC_IMPORT_PERM : ACL_FABRIC_IMPORT_NOMEM;

	reply.import_err.err = cpu_to_le32(code);
	return acl_conn_send(conn, &reply);
}

static void acl_handle_import_req(struct acl_fabric_conn *conn, const struct acl_fabric_msg *msg)
{
	u32 peer_id = conn->peer->server_id, id;
	struct acl_fabric_msg reply = {
		.type = cpu_to_le16(ACL_FABRIC_MSG_IMPORT_OK),
		.seq = msg->seq,
	};
	struct acl_share_remote_holder *holder;
	struct acl_share_fabric_handle fh;
	struct acl_share_remote_info info;
	int ret;

	if (msg->import_req.reserved) {
		acl_conn_closef(conn, -EPROTO, "server %u sent a malformed import request",
				peer_id);
		return;
	}
	memcpy(&fh, msg->import_req.handle, sizeof(fh));
	holder = acl_share_remote_get(&fh, peer_id, le32_to_cpu(msg->import_req.tgid), &info);
	if (IS_ERR(holder)) {
		ret = acl_send_import_err(conn, le64_to_cpu(msg->seq), PTR_ERR(holder));
		goto out;
	}
	ret = xa_alloc(&conn->holders, &id, holder, XA_LIMIT(1, ACL_FABRIC_MAX_HOLDERS),
		       GFP_KERNEL);
	if (ret) {
		acl_share_remote_put(holder);
		ret = acl_send_import_err(conn, le64_to_cpu(msg->seq), -ENOMEM);
		goto out;
	}
	reply.import_ok.holder = cpu_to_le64(id);
	reply.import_ok.length = cpu_to_le64(info.length);
	reply.import_ok.mem_attr = cpu_to_le32(info.mem_attr);
	reply.import_ok.loc_type = cpu_to_le32(info.loc_type);
	reply.import_ok.loc_id = cpu_to_le32(info.loc_id);
	reply.import_ok.page_size = cpu_to_le32(info.page_size);
	ret = acl_conn_send(conn, &reply);
	if (ret) {
		xa_erase(&conn->holders, id);
		acl_share_remote_put(holder);
	}
out:
	if (ret)
		acl_conn_closef(conn, ret, "cannot answer server %u's import", peer_id);
}

static void acl_handle_release(struct acl_fabric_conn *conn, u64 id)
{
	struct acl_share_remote_holder *holder = NULL;

	/* an unknown number is the peer's mistake: it changes nothing here */
	if (id && id <= ACL_FABRIC_MAX_HOLDERS)
		holder = xa_erase(&conn->holders, id);
	if (holder)
		acl_share_remote_put(holder);
}

/* The link has ended (its release work, nothing handled any more). */
void acl_fabric_drop_holders(struct acl_fabric_conn *conn)
{
	struct acl_share_remote_holder *holder;
	unsigned long id;

	xa_for_each(&conn->holders, id, holder) {
		xa_erase(&conn->holders, id);
		acl_share_remote_put(holder);
		cond_resched();
	}
}

/* ------------------------------------------------------------ importer */

static int acl_import_errno(u32 code)
{
	switch (code) {
	case ACL_FABRIC_IMPORT_NOENT:
		return -ENOENT;
	case ACL_FABRIC_IMPORT_PERM:
		return -EPERM;
	case ACL_FABRIC_IMPORT_NOMEM:
		return -ENOMEM;
	default:
		return -EPROTO;
	}
}

static int acl_send_release(struct acl_fabric_conn *conn, u64 holder)
{
	struct acl_fabric_msg msg = {
		.type = cpu_to_le16(ACL_FABRIC_MSG_RELEASE),
		.seq = cpu_to_le64(holder),
	};

	return acl_conn_send(conn, &msg);
}

static void acl_handle_import_answer(struct acl_fabric_conn *conn,
				     const struct acl_fabric_msg *msg, bool ok)
{
	u64 seq = le64_to_cpu(msg->seq), holder = le64_to_cpu(msg->import_ok.holder);
	struct acl_import_request *req = NULL;

	if (ok && !holder) {
		acl_conn_closef(conn, -EPROTO, "server %u answered an import with holder 0",
				conn->peer->server_id);
		return;
	}
	if (seq && seq <= U32_MAX)
		req = xa_load(&conn->requests, seq);
	if (!req || req->done) {
		/* its waiter gave up (signal, timeout): let the exporter drop it */
		if (ok && acl_send_release(conn, holder))
			acl_conn_closef(conn, -ECONNRESET, "cannot send a release to server %u",
					conn->peer->server_id);
		return;
	}
	if (ok) {
		req->err = 0;
		req->holder = holder;
		req->info.length = le64_to_cpu(msg->import_ok.length);
		req->info.mem_attr = le32_to_cpu(msg->import_ok.mem_attr);
		req->info.loc_type = le32_to_cpu(msg->import_ok.loc_type);
		req->info.loc_id = le32_to_cpu(msg->import_ok.loc_id);
		req->info.page_size = le32_to_cpu(msg->import_ok.page_size);
	} else {
		req->err = acl_import_errno(le32_to_cpu(msg->import_err.err));
	}
	req->done = true;
	wake_up_all(&conn->peer->wait);
}

/* One import message on an authenticated link. */
void acl_fabric_import_msg(struct acl_fabric_conn *conn, const struct acl_fabric_msg *msg)
{
	lockdep_assert_held(&acl_fabric.lock);
	switch (le16_to_cpu(msg->type)) {
	case ACL_FABRIC_MSG_IMPORT_REQ:
		acl_handle_import_req(conn, msg);
		break;
	case ACL_FABRIC_MSG_IMPORT_OK:
		acl_handle_import_answer(conn, msg, true);
		break;
	case ACL_FABRIC_MSG_IMPORT_ERR:
		acl_handle_import_answer(conn, msg, false);
		break;
	case ACL_FABRIC_MSG_RELEASE:
		acl_handle_release(conn, le64_to_cpu(msg->seq));
		break;
	}
}

/* The configured peer @server with a reference on its item, or NULL. */
static struct acl_fabric_peer *acl_peer_get(u32 server)
{
	struct acl_fabric_peer *peer;

	mutex_lock(&acl_fabric.lock);
	peer = xa_load(&acl_fabric.peers, server);
	if (peer && !peer->removed)
		config_item_get(&peer->group.cg_item);
	else
		peer = NULL;
	mutex_unlock(&acl_fabric.lock);
	return peer;
}

static bool acl_import_answered(struct acl_import_request *req, struct acl_fabric_conn *conn)
{
	return READ_ONCE(req->done) || READ_ONCE(conn->state) == ACL_CONN_CLOSING;
}

/* Sends @req as IMPORT_REQ on @peer's link and waits; the link in *@connp. */
static int acl_import_ask(struct acl_fabric_peer *peer, const struct acl_share_fabric_handle *fh,
			  u32 tgid, struct acl_import_request *req,
			  struct acl_fabric_conn **connp)
{
	struct acl_fabric_msg msg = {
		.type = cpu_to_le16(ACL_FABRIC_MSG_IMPORT_REQ),
	};
	struct acl_fabric_conn *conn;
	long left = 0;
	u32 id;
	int ret;

	mutex_lock(&acl_fabric.lock);
	conn = peer->conn;
	if (!conn || conn->state != ACL_CONN_UP) {
		mutex_unlock(&acl_fabric.lock);
		return -ECONNRESET;	/* closed since the connect returned */
	}
	ret = xa_alloc(&conn->requests, &id, req, xa_limit_32b, GFP_KERNEL);
	if (ret) {
		mutex_unlock(&acl_fabric.lock);
		return ret == -EBUSY ? -EAGAIN : ret;
	}
	kref_get(&conn->ref);
	msg.seq = cpu_to_le64(id);
	msg.import_req.tgid = cpu_to_le32(tgid);
	memcpy(msg.import_req.handle, fh, sizeof(msg.import_req.handle));
	ret = acl_conn_send(conn, &msg);
	mutex_unlock(&acl_fabric.lock);

	if (!ret) {
		left = msecs_to_jiffies(acl_fabric_peer_timeout_ms);
		left = wait_event_interruptible_timeout(peer->wait, acl_import_answered(req, conn),
							left);
	}
	mutex_lock(&acl_fabric.lock);
	xa_erase(&conn->requests, id);
	if (!ret) {
		if (req->done)
			ret = req->err;
		else if (left < 0)
			ret = -EINTR;	/* an answer still coming is released */
		else if (conn->state == ACL_CONN_CLOSING)
			ret = -ECONNRESET;
		else
			ret = -ETIMEDOUT;
	}
	req->done = true;
	mutex_unlock(&acl_fabric.lock);
	if (ret) {
		acl_conn_put(conn);
		return ret;
	}
	*connp = conn;
	return 0;
}

static int acl_fabric_import(const struct acl_share_fabric_handle *fh, u32 tgid,
			     struct acl_share_remote_info *info, void **cookie)
{
	struct acl_import_request req = {};
	struct acl_fabric_import *imp;
	struct acl_fabric_peer *peer;
	int ret;

	imp = kzalloc(sizeof(*imp), GFP_KERNEL_ACCOUNT);
	if (!imp)
		return -ENOMEM;
	peer = acl_peer_get(fh->server_id);
	if (!peer) {
		ret = -EHOSTUNREACH;
		goto err_free;
	}
	ret = acl_fabric_connect(peer);
	if (ret == -ENODEV)	/* removed meanwhile */
		ret = -EHOSTUNREACH;
	if (!ret)
		ret = acl_import_ask(peer, fh, tgid, &req, &imp->conn);
	config_item_put(&peer->group.cg_item);
	if (ret)
		goto err_free;
	imp->holder = req.holder;
	*info = req.info;
	*cookie = imp;
	return 0;

err_free:
	kfree(imp);
	return ret;
}

static void acl_fabric_release(void *cookie)
{
	struct acl_fabric_import *imp = cookie;
	struct acl_fabric_conn *conn = imp->conn;

	mutex_lock(&acl_fabric.lock);
	/* a link that ended took the exporter's holders with it */
	if (conn->state == ACL_CONN_UP && acl_send_release(conn, imp->holder))
		acl_conn_closef(conn, -ECONNRESET, "cannot send a release to server %u",
				conn->peer->server_id);
	mutex_unlock(&acl_fabric.lock);
	acl_conn_put(conn);
	kfree(imp);
}

static const struct acl_share_fabric_ops acl_fabric_ops = {
	.owner = THIS_MODULE,
	.import = acl_fabric_import,
	.release = acl_fabric_release,
};

int acl_fabric_import_init(void)
{
	return acl_share_fabric_register(&acl_fabric_ops);
}

void acl_fabric_import_exit(void)
{
	acl_share_fabric_unregister(&acl_fabric_ops);
}
