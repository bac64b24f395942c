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
	struct acl_fabric_holder *fhold;
	struct acl_share_fabric_handle fh;
	struct acl_share_remote_info info;
	int ret = 0;

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
	fhold = kzalloc(sizeof(*fhold), GFP_KERNEL);
	if (fhold) {
		fhold->h = holder;
		fhold->length = info.length;
		fhold->window = acl_fabric_window_bytes(conn);
		xa_init(&fhold->mrs);
		ret = xa_alloc(&conn->holders, &id, fhold, XA_LIMIT(1, ACL_FABRIC_MAX_HOLDERS),
			       GFP_KERNEL);
	}
	if (!fhold || ret) {
		if (fhold)
			acl_fabric_holder_free(fhold);
		else
			acl_share_remote_put(holder);
		ret = acl_send_import_err(conn, le64_to_cpu(msg->seq), -ENOMEM);
		goto out;
	}
	reply.import_ok.holder = cpu_to_le64(id);
	reply.import_ok.window = cpu_to_le64(fhold->window);
	reply.import_ok.length = cpu_to_le64(info.length);
	reply.import_ok.mem_attr = cpu_to_le32(info.mem_attr);
	reply.import_ok.loc_type = cpu_to_le32(info.loc_type);
	reply.import_ok.loc_id = cpu_to_le32(info.loc_id);
	reply.import_ok.page_size = cpu_to_le32(info.page_size);
	ret = acl_conn_send(conn, &reply);
	if (ret) {
		xa_erase(&conn->holders, id);
		acl_fabric_holder_free(fhold);
	}
out:
	if (ret)
		acl_conn_closef(conn, ret, "cannot answer server %u's import", peer_id);
}

static void acl_handle_release(struct acl_fabric_conn *conn, u64 id)
{
	struct acl_fabric_holder *fhold = NULL;

	/* an unknown number is the peer's mistake: it changes nothing here */
	if (id && id <= ACL_FABRIC_MAX_HOLDERS)
		fhold = xa_erase(&conn->holders, id);
	if (fhold) {
		acl_fabric_holder_free(fhold);
		/* its queued registrations may have been all that held the send queue */
		acl_conn_pump(conn);
	}
}

/* The link has ended (its release work, its queue pair drained). */
void acl_fabric_drop_holders(struct acl_fabric_conn *conn)
{
	struct acl_fabric_holder *fhold;
	unsigned long id;

	xa_for_each(&conn->holders, id, fhold) {
		xa_erase(&conn->holders, id);
		acl_fabric_holder_free(fhold);
		cond_resched();
	}
}

/* ------------------------------------------------------------ importer */

int acl_fabric_errno(u32 code)
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

/* IMPORT_OK/ERR, MR_OK/ERR: the answer of a request waiting in acl_fabric_ask(). */
static void acl_handle_answer(struct acl_fabric_conn *conn, const struct acl_fabric_msg *msg)
{
	u16 type = le16_to_cpu(msg->type);
	u64 seq = le64_to_cpu(msg->seq), holder = le64_to_cpu(msg->import_ok.holder);
	struct acl_fabric_request *req = NULL;

	if (type == ACL_FABRIC_MSG_IMPORT_OK && !holder) {
		acl_conn_closef(conn, -EPROTO, "server %u answered an import with holder 0",
				conn->peer->server_id);
		return;
	}
	if (seq && seq <= U32_MAX)
		req = xa_load(&conn->requests, seq);
	if (!req || req->done) {
		/* its waiter gave up (signal, timeout): let the exporter drop the import */
		if (type == ACL_FABRIC_MSG_IMPORT_OK && acl_send_release(conn, holder))
			acl_conn_closef(conn, -ECONNRESET, "cannot send a release to server %u",
					conn->peer->server_id);
		return;
	}
	req->err = 0;
	switch (type) {
	case ACL_FABRIC_MSG_IMPORT_OK:
		req->holder = holder;
		req->window = le64_to_cpu(msg->import_ok.window);
		req->info.length = le64_to_cpu(msg->import_ok.length);
		req->info.mem_attr = le32_to_cpu(msg->import_ok.mem_attr);
		req->info.loc_type = le32_to_cpu(msg->import_ok.loc_type);
		req->info.loc_id = le32_to_cpu(msg->import_ok.loc_id);
		req->info.page_size = le32_to_cpu(msg->import_ok.page_size);
		break;
	case ACL_FABRIC_MSG_MR_OK:
		if (msg->mr_ok.reserved)
			req->err = -EPROTO;
		req->iova = le64_to_cpu(msg->mr_ok.iova);
		req->length = le64_to_cpu(msg->mr_ok.length);
		req->rkey = le32_to_cpu(msg->mr_ok.rkey);
		break;
	default:
		req->err = acl_fabric_errno(le32_to_cpu(msg->import_err.err));
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
	case ACL_FABRIC_MSG_IMPORT_ERR:
	case ACL_FABRIC_MSG_MR_OK:
	case ACL_FABRIC_MSG_MR_ERR:
		acl_handle_answer(conn, msg);
		break;
	case ACL_FABRIC_MSG_RELEASE:
		acl_handle_release(conn, le64_to_cpu(msg->seq));
		break;
	case ACL_FABRIC_MSG_MR_REQ:
		acl_fabric_mr_req(conn, msg);
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

static bool acl_answered(struct acl_fabric_request *req, struct acl_fabric_conn *conn)
{
	return READ_ONCE(req->done) || READ_ONCE(conn->state) == ACL_CONN_CLOSING;
}

/**
 * acl_fabric_ask - send a request on @conn and wait for its answer
 * @conn: an authenticated link; the caller holds a reference
 * @msg: the request; its seq is set here
 * @req: filled by the answer
 *
 * @killable: only a fatal signal ends the wait (a copy); else any signal
 *
 * Waits at most peer_timeout_ms, until the link ends, or a signal.
 * Return: 0 (the answer's own error in req->err is returned instead when
 * set), -ENOLINK (the link is not up, or ended), -ETIMEDOUT, -EINTR.
 */
int acl_fabric_ask(struct acl_fabric_conn *conn, struct acl_fabric_msg *msg,
		   struct acl_fabric_request *req, bool killable)
{
	long left = 0;
	u32 id;
	int ret;

	mutex_lock(&acl_fabric.lock);
	if (conn->state != ACL_CONN_UP) {
		mutex_unlock(&acl_fabric.lock);
		return -ENOLINK;
	}
	ret = xa_alloc(&conn->requests, &id, req, xa_limit_32b, GFP_KERNEL);
	if (ret) {
		mutex_unlock(&acl_fabric.lock);
		return ret == -EBUSY ? -EAGAIN : ret;
	}
	msg->seq = cpu_to_le64(id);
	ret = acl_conn_send(conn, msg);
	mutex_unlock(&acl_fabric.lock);

	if (!ret) {
		left = msecs_to_jiffies(acl_fabric_peer_timeout_ms);
		if (killable)
			left = wait_event_killable_timeout(conn->peer->wait,
							   acl_answered(req, conn), left);
		else
			left = wait_event_interruptible_timeout(conn->peer->wait,
								acl_answered(req, conn), left);
	}
	mutex_lock(&acl_fabric.lock);
	xa_erase(&conn->requests, id);
	if (!ret) {
		if (req->done)
			ret = req->err;
		else if (left < 0)
			ret = -EINTR;	/* an answer still coming is released */
		else if (conn->state == ACL_CONN_CLOSING)
			ret = -ENOLINK;
		else
			ret = -ETIMEDOUT;
	}
	req->done = true;
	mutex_unlock(&acl_fabric.lock);
	return ret;
}

/* Sends IMPORT_REQ on @peer's link and waits; the link, with a reference, in *@connp. */
static int acl_import_ask(struct acl_fabric_peer *peer, const struct acl_share_fabric_handle *fh,
			  u32 tgid, struct acl_fabric_request *req,
			  struct acl_fabric_conn **connp)
{
	struct acl_fabric_msg msg = {
		.type = cpu_to_le16(ACL_FABRIC_MSG_IMPORT_REQ),
	};
	struct acl_fabric_conn *conn;
	int ret;

	mutex_lock(&acl_fabric.lock);
	conn = peer->conn;
	if (conn)
		kref_get(&conn->ref);
	mutex_unlock(&acl_fabric.lock);
	if (!conn)
		return -ECONNRESET;	/* closed since the connect returned */
	msg.import_req.tgid = cpu_to_le32(tgid);
	memcpy(msg.import_req.handle, fh, sizeof(msg.import_req.handle));
	ret = acl_fabric_ask(conn, &msg, req, false);
	if (ret) {
		acl_conn_put(conn);
		return ret == -ENOLINK ? -ECONNRESET : ret;
	}
	*connp = conn;
	return 0;
}

static void acl_fabric_release(void *cookie);

static int acl_fabric_import(const struct acl_share_fabric_handle *fh, u32 tgid,
			     struct acl_share_remote_info *info, void **cookie)
{
	struct acl_fabric_request req = {};
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
	imp->length = req.info.length;
	imp->window = req.window;
	xa_init(&imp->windows);
	/* pieces of copies end at window boundaries: any size but 0 will do */
	if (!req.window) {
		pr_warn_ratelimited("server %u offered registrations of %llu bytes\n",
				    fh->server_id, req.window);
		acl_fabric_release(imp);
		return -EPROTO;
	}
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
	acl_fabric_windows_free(imp);
	acl_conn_put(conn);
	kfree(imp);
}

static const struct acl_share_fabric_ops acl_fabric_ops = {
	.owner = THIS_MODULE,
	.import = acl_fabric_import,
	.release = acl_fabric_release,
	.copy = acl_fabric_copy,
};

int acl_fabric_import_init(void)
{
	return acl_share_fabric_register(&acl_fabric_ops);
}

void acl_fabric_import_exit(void)
{
	acl_share_fabric_unregister(&acl_fabric_ops);
}
