// SPDX-License-Identifier: GPL-2.0
/*
 * Connections between acl_share servers: one reliable-connected queue pair
 * per peer, made on demand through rdma_cm and authenticated before anything
 * else is served (docs/fabric.md, "Connections and authentication").
 *
 * Every state change, every message handled and every SEND posted happens
 * under acl_fabric.lock, from process context: the rdma_cm handler, the
 * completion queue (IB_POLL_WORKQUEUE), the handshake timeout and the
 * configfs writers. What waits on the RDMA stack (draining and destroying
 * the queue pair, destroying the rdma_cm id) runs in the connection's release
 * work without that lock, after the connection was marked closing, so no
 * handler still running can touch what is being torn down.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <crypto/algapi.h>
#include <linux/delay.h>
#include <linux/inet.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <rdma/ib_cm.h>
#include <rdma/rdma_cm.h>

#include "../compat.h"
#include "fabric.h"

#define ACL_FABRIC_RESOLVE_MS	2000
/*
 * Retransmission after 4.096 us * 2^14 = 67 ms without an ACK, rather than
 * rdma_cm's RoCE default of 2^17 (0.5 s): a lost frame on a busy soft-RoCE
 * segment then stalls the link for tens of ms, not seconds.
 */
#define ACL_FABRIC_ACK_TIMEOUT	14
#define ACL_FABRIC_RD_DEPTH	8	/* RDMA READs in flight */
/* peer_timeout_ms times this without a message closes a link, acks or not */
#define ACL_FABRIC_ACKED_SILENCE	3

/* A send that found every buffer in flight. */
struct acl_fabric_queued {
	struct list_head node;
	struct acl_fabric_msg msg;
};

#define ACL_FABRIC_MAX_BACKLOG	65536

static const char *const acl_refusal_text[ACL_FABRIC_REFUSE_MAX] = {
	[ACL_FABRIC_REFUSE_BAD_REQUEST] = "not an acl_share_fabric request of our version",
	[ACL_FABRIC_REFUSE_WRONG_SERVER] = "it is not the server the request names",
	[ACL_FABRIC_REFUSE_NOT_PEER] = "we are not one of its configured peers",
	[ACL_FABRIC_REFUSE_ADDR_MISMATCH] = "our address is not the one it has configured for us",
	[ACL_FABRIC_REFUSE_BUSY] = "its own connection to us is being made",
	[ACL_FABRIC_REFUSE_NO_RESOURCES] = "it is out of resources",
};

static void acl_conn_free(struct kref *ref)
{
	struct acl_fabric_conn *conn = container_of(ref, struct acl_fabric_conn, ref);
	struct acl_fabric_queued *q, *next;

	list_for_each_entry_safe(q, next, &conn->backlog, node)
		kfree(q);
	xa_destroy(&conn->holders);
	xa_destroy(&conn->requests);
	config_item_put(&conn->peer->group.cg_item);
	acl_fabric_key_put(conn->key);
	kfree(conn);
}

void acl_conn_put(struct acl_fabric_conn *conn)
{
	kref_put(&conn->ref, acl_conn_free);
}

static void acl_peer_set_state(struct acl_fabric_peer *peer, enum acl_fabric_peer_state state)
{
	peer->state = state;
	wake_up_all(&peer->wait);
}

/*
 * Marks @conn closing and queues its release. If it is its peer's current
 * connection, the peer goes down with @err and @reason (or, if the peer has
 * a new link authenticating, that one becomes current); otherwise (replaced,
 * pending, or never current) the peer's state is not touched.
 */
static void acl_conn_close(struct acl_fabric_conn *conn, int err, const char *reason)
{
	struct acl_fabric_peer *peer = conn->peer;

	lockdep_assert_held(&acl_fabric.lock);
	if (conn->state == ACL_CONN_CLOSING)
		return;
	conn->state = ACL_CONN_CLOSING;
	if (peer->pending == conn)
		peer->pending = NULL;
	if (peer->conn == conn) {
		peer->conn = NULL;
		peer->last_err = err;
		strscpy(peer->last_reason, reason, sizeof(peer->last_reason));
		if (peer->pending) {
			/* the peer's new link, still authenticating, takes over */
			peer->conn = peer->pending;
			peer->pending = NULL;
			acl_peer_set_state(peer, ACL_PEER_AUTHENTICATING);
		} else {
			acl_peer_set_state(peer, ACL_PEER_DOWN);
		}
		if (err && err != -EBUSY)
			pr_info_ratelimited("server %u: %s (%d)\n", peer->server_id, reason, err);
	} else {
		/* a waiting ping holds a reference and sleeps on the peer */
		wake_up_all(&peer->wait);
	}
	/* copies waiting for the registrations' fence see the link's end */
	smp_mb();	/* the state before the waiter's check (wake_up_var) */
	wake_up_var(&conn->sq_out);
	queue_work(acl_fabric.wq, &conn->release);
}

void acl_conn_closef(struct acl_fabric_conn *conn, int err, const char *fmt, ...)
{
	char reason[sizeof(conn->peer->last_reason)];
	va_list args;

	va_start(args, fmt);
	vsnprintf(reason, sizeof(reason), fmt, args);
	va_end(args);
	acl_conn_close(conn, err, reason);
}

/*
 * Client: the connect was accepted (ESTABLISHED, or the listener's challenge
 * arriving first); the handshake runs. Once only, whichever comes first.
 */
static void acl_conn_connected(struct acl_fabric_conn *conn)
{
	if (conn->state != ACL_CONN_CONNECTING)
		return;
	conn->state = ACL_CONN_AUTH;
	if (conn->peer->conn == conn)
		acl_peer_set_state(conn->peer, ACL_PEER_AUTHENTICATING);
}

static void acl_conn_up(struct acl_fabric_conn *conn)
{
	struct acl_fabric_peer *peer = conn->peer;
	struct acl_fabric_conn *old = peer->conn;

	conn->state = ACL_CONN_UP;
	cancel_delayed_work(&conn->timeout);
	conn->last_rx = jiffies;
	conn->last_ack = conn->last_rx;
	queue_delayed_work(acl_fabric.wq, &conn->keepalive,
			   msecs_to_jiffies(max(READ_ONCE(acl_fabric_keepalive_ms), 100U)));
	if (peer->pending == conn) {
		/* the peer proved itself on a new link: the old one is stale */
		peer->pending = NULL;
		peer->conn = conn;
		if (old)
			acl_conn_closef(old, -ECONNRESET,
					"replaced by a new connection from server %u",
					peer->server_id);
	}
	if (peer->conn == conn) {
		peer->established++;
		peer->last_err = 0;
		peer->last_reason[0] = '\0';
		acl_peer_set_state(peer, ACL_PEER_UP);
	}
}

/* ------------------------------------------------------------ messages */

/*
 * Whether a failed completion ends the link. Errors do; flushes (the queue
 * pair went to error) do once the link is up, as nothing of ours moved it
 * there. Before that, rdma_cm moves it to error itself when the connect is
 * rejected or fails, and its event, which says why, is on its way.
 */
static bool acl_wc_fatal(struct acl_fabric_conn *conn, struct ib_wc *wc)
{
	if (wc->status == IB_WC_SUCCESS || conn->state == ACL_CONN_CLOSING)
		return false;
	return wc->status != IB_WC_WR_FLUSH_ERR || conn->state == ACL_CONN_UP;
}

static int acl_conn_post(struct acl_fabric_conn *conn, struct acl_fabric_buf *buf,
			 const struct acl_fabric_msg *msg);

static void acl_tx_done(struct ib_cq *cq, struct ib_wc *wc)
{
	struct acl_fabric_buf *buf = container_of(wc->wr_cqe, struct acl_fabric_buf, cqe);
	struct acl_fabric_conn *conn = buf->conn;

	mutex_lock(&acl_fabric.lock);
	buf->busy = false;
	conn->sq_out--;
	/*
	 * On InfiniBand and RoCE a send completes once the peer acknowledged
	 * it: the peer is alive, even while its own sends wait behind its
	 * READs (a send queue runs in order). iWARP completes a send when TCP
	 * took it, which proves nothing of the peer.
	 */
	if (wc->status == IB_WC_SUCCESS &&
	    rdma_ib_or_roce(conn->cm_id->device, conn->cm_id->port_num))
		conn->last_ack = jiffies;
	if (acl_wc_fatal(conn, wc))
		acl_conn_closef(conn, -ECONNRESET, "a send to server %u failed: %s",
				conn->peer->server_id, ib_wc_status_msg(wc->status));
	else
		acl_conn_pump(conn);
	mutex_unlock(&acl_fabric.lock);
}

/*
 * The send queue moved on: a registration waiting for it to empty is posted;
 * else the oldest waiting sends take the free buffers (order is kept), and
 * copies waiting for the fence to lift go on.
 */
void acl_conn_pump(struct acl_fabric_conn *conn)
{
	struct acl_fabric_queued *q;
	int i;

	lockdep_assert_held(&acl_fabric.lock);
	if (conn->state == ACL_CONN_CLOSING)
		return;
	if (!conn->reg_posted && !list_empty(&conn->reg_queue) && !conn->sq_out) {
		if (acl_fabric_reg_post(conn))
			acl_conn_closef(conn, -ECONNRESET,
					"cannot post a registration for server %u",
					conn->peer->server_id);
		return;
	}
	if (acl_sq_fenced(conn))
		return;
	for (i = 0; i < ACL_FABRIC_TX && !list_empty(&conn->backlog); i++) {
		if (conn->tx[i].busy)
			continue;
		q = list_first_entry(&conn->backlog, struct acl_fabric_queued, node);
		list_del(&q->node);
		conn->nr_backlog--;
		if (acl_conn_post(conn, &conn->tx[i], &q->msg)) {
			kfree(q);
			acl_conn_closef(conn, -ECONNRESET, "cannot send to server %u",
					conn->peer->server_id);
			return;
		}
		kfree(q);
	}
	smp_mb();	/* the fence lifted before the waiter's check (wake_up_var) */
	wake_up_var(&conn->sq_out);
}

/*
 * Sends @msg, or queues it while every buffer is in flight (the completion
 * of one posts the oldest queued): a caller never loses a message to a
 * burst, such as the releases of a process exiting with many imports.
 */
int acl_conn_send(struct acl_fabric_conn *conn, struct acl_fabric_msg *msg)
{
	struct acl_fabric_buf *buf = NULL;
	struct acl_fabric_queued *q;
	int i;

	lockdep_assert_held(&acl_fabric.lock);
	if (conn->state == ACL_CONN_CLOSING || !conn->qp_made)
		return -ENOTCONN;
	msg->magic = cpu_to_le32(ACL_FABRIC_MAGIC);
	msg->version = cpu_to_le16(ACL_FABRIC_VERSION);
	/* behind the registrations' fence, and behind what waits already: in order */
	for (i = 0; i < ACL_FABRIC_TX && !acl_sq_fenced(conn) && list_empty(&conn->backlog); i++) {
		if (!conn->tx[i].busy) {
			buf = &conn->tx[i];
			break;
		}
	}
	if (buf)
		return acl_conn_post(conn, buf, msg);
	if (conn->nr_backlog >= ACL_FABRIC_MAX_BACKLOG)
		return -ENOBUFS;
	q = kmalloc(sizeof(*q), GFP_KERNEL);
	if (!q)
		return -ENOMEM;
	memcpy(&q->msg, msg, sizeof(q->msg));
	list_add_tail(&q->node, &conn->backlog);
	conn->nr_backlog++;
	return 0;
}

static int acl_conn_post(struct acl_fabric_conn *conn, struct acl_fabric_buf *buf,
			 const struct acl_fabric_msg *msg)
{
	struct ib_device *dev = conn->cm_id->device;
	struct ib_send_wr wr = {};
	struct ib_sge sge;
	int ret;

	memcpy(buf->msg, msg, ACL_FABRIC_MSG_SIZE);
	ib_dma_sync_single_for_device(dev, buf->dma, ACL_FABRIC_MSG_SIZE, DMA_TO_DEVICE);
	sge.addr = buf->dma;
	sge.length = ACL_FABRIC_MSG_SIZE;
	sge.lkey = conn->pd->local_dma_lkey;
	wr.wr_cqe = &buf->cqe;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IB_WR_SEND;
	wr.send_flags = IB_SEND_SIGNALED;
	ret = ib_post_send(conn->cm_id->qp, &wr, NULL);
	if (!ret) {
		buf->busy = true;
		conn->sq_out++;
	}
	return ret;
}

static int acl_conn_send_type(struct acl_fabric_conn *conn, enum acl_fabric_msg_type type,
			      u64 seq)
{
	struct acl_fabric_msg msg = {
		.type = cpu_to_le16(type),
		.seq = cpu_to_le64(seq),
	};

	return acl_conn_send(conn, &msg);
}

static int acl_post_recv(struct acl_fabric_conn *conn, struct acl_fabric_buf *buf)
{
	struct ib_recv_wr wr = {};
	struct ib_sge sge = {
		.addr = buf->dma,
		.length = ACL_FABRIC_MSG_SIZE,
		.lkey = conn->pd->local_dma_lkey,
	};

	wr.wr_cqe = &buf->cqe;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	return ib_post_recv(conn->cm_id->qp, &wr, NULL);
}

/*
 * The proof of this link made by the listening side (@listener) or the
 * client, over the server ids and the QP numbers as this end sees them.
 */
static int acl_conn_proof(struct acl_fabric_conn *conn, bool listener, u8 *proof)
{
	struct ib_qp *qp = conn->cm_id->qp;
	struct ib_qp_init_attr init;
	struct acl_fabric_binding b;
	struct ib_qp_attr attr;
	u32 me = acl_share_server_id(), peer_id = conn->peer->server_id;
	int ret;

	/* the peer's QP number: set since the QP reached RTR, before anything arrives */
	ret = ib_query_qp(qp, &attr, IB_QP_DEST_QPN, &init);
	if (ret)
		return ret;
	b.client = conn->outgoing ? me : peer_id;
	b.server = conn->outgoing ? peer_id : me;
	b.client_qpn = conn->outgoing ? qp->qp_num : attr.dest_qp_num;
	b.server_qpn = conn->outgoing ? attr.dest_qp_num : qp->qp_num;
	return acl_fabric_proof(conn->key, listener, &b, conn->nonce_c, conn->nonce_s, proof);
}

/*
 * The peer's proof (@listener: made by the listening side) against ours;
 * client and server are this connection's, whichever side we are. On a
 * mismatch the peer is told and the connection closed: returns false.
 */
static bool acl_proof_matches(struct acl_fabric_conn *conn, bool listener, const u8 *proof)
{
	u32 peer_id = conn->peer->server_id;
	u8 expect[ACL_FABRIC_PROOF_LEN];
	int ret;

	ret = acl_conn_proof(conn, listener, expect);
	if (ret) {
		acl_conn_closef(conn, ret, "cannot check server %u's proof", peer_id);
		return false;
	}
	if (crypto_memneq(expect, proof, sizeof(expect))) {
		acl_conn_send_type(conn, ACL_FABRIC_MSG_AUTH_FAIL, 0);
		acl_conn_closef(conn, -EKEYREJECTED,
				"server %u failed authentication: its proof does not match the cluster key",
				peer_id);
		return false;
	}
	return true;
}

/* Listener: the client answered our challenge. */
static void acl_handle_response(struct acl_fabric_conn *conn, const struct acl_fabric_msg *msg)
{
	int ret;

	if (!acl_proof_matches(conn, false, msg->response.proof))
		return;
	ret = acl_conn_send_type(conn, ACL_FABRIC_MSG_AUTH_OK, 0);
	if (ret) {
		acl_conn_closef(conn, ret, "cannot answer server %u", conn->peer->server_id);
		return;
	}
	acl_conn_up(conn);
}

/* Client: the listener proved itself and challenges us. */
static void acl_handle_challenge(struct acl_fabric_conn *conn, const struct acl_fabric_msg *msg)
{
	u32 server = conn->peer->server_id;
	struct acl_fabric_msg reply = {
		.type = cpu_to_le16(ACL_FABRIC_MSG_RESPONSE),
	};
	int ret;

	memcpy(conn->nonce_s, msg->challenge.nonce, ACL_FABRIC_NONCE_LEN);
	if (!acl_proof_matches(conn, true, msg->challenge.proof))
		return;
	ret = acl_conn_proof(conn, false, reply.response.proof);
	if (!ret)
		ret = acl_conn_send(conn, &reply);
	if (ret) {
		acl_conn_closef(conn, ret, "cannot answer server %u", server);
		return;
	}
	conn->challenged = true;
	/* the challenge may overtake our ESTABLISHED event */
	acl_conn_connected(conn);
}

/* One message, in the state it arrives in: anything out of turn closes. */
static void acl_handle_msg(struct acl_fabric_conn *conn, const struct acl_fabric_msg *msg)
{
	u16 type = le16_to_cpu(msg->type);
	u32 peer_id = conn->peer->server_id;
	bool up = conn->state == ACL_CONN_UP;

	if (le32_to_cpu(msg->magic) != ACL_FABRIC_MAGIC ||
	    le16_to_cpu(msg->version) != ACL_FABRIC_VERSION) {
		acl_conn_closef(conn, -EPROTO, "server %u sent a message of another protocol",
				peer_id);
		return;
	}
	switch (type) {
	case ACL_FABRIC_MSG_CHALLENGE:
		if (conn->outgoing && !conn->challenged && !up) {
			acl_handle_challenge(conn, msg);
			return;
		}
		break;
	case ACL_FABRIC_MSG_RESPONSE:
		if (!conn->outgoing && conn->challenged && conn->state == ACL_CONN_AUTH) {
			acl_handle_response(conn, msg);
			return;
		}
		break;
	case ACL_FABRIC_MSG_AUTH_OK:
		if (conn->outgoing && conn->challenged && !up) {
			acl_conn_up(conn);
			return;
		}
		break;
	case ACL_FABRIC_MSG_AUTH_FAIL:
		if (!up) {
			acl_conn_closef(conn, -EKEYREJECTED,
					"server %u refused our proof: the cluster keys differ",
					peer_id);
			return;
		}
		break;
	case ACL_FABRIC_MSG_PING:
		if (up) {
			if (acl_conn_send_type(conn, ACL_FABRIC_MSG_PONG, le64_to_cpu(msg->seq)))
				acl_conn_closef(conn, -ECONNRESET, "cannot answer server %u's ping",
						peer_id);
			return;
		}
		break;
	case ACL_FABRIC_MSG_KEEPALIVE:
		if (up)
			return;
		break;
	case ACL_FABRIC_MSG_IMPORT_REQ:
	case ACL_FABRIC_MSG_IMPORT_OK:
	case ACL_FABRIC_MSG_IMPORT_ERR:
	case ACL_FABRIC_MSG_RELEASE:
	case ACL_FABRIC_MSG_MR_REQ:
	case ACL_FABRIC_MSG_MR_OK:
	case ACL_FABRIC_MSG_MR_ERR:
		if (up) {
			acl_fabric_import_msg(conn, msg);
			return;
		}
		break;
	case ACL_FABRIC_MSG_PONG:
		/* answers come in order; a late one (its ping timed out) is harmless */
		if (up && le64_to_cpu(msg->seq) <= conn->ping_seq) {
			WRITE_ONCE(conn->pong_seq, max(conn->pong_seq, le64_to_cpu(msg->seq)));
			wake_up_all(&conn->peer->wait);
			return;
		}
		break;
	}
	acl_conn_closef(conn, -EPROTO, "server %u sent message type %u out of turn", peer_id,
			type);
}

static void acl_rx_done(struct ib_cq *cq, struct ib_wc *wc)
{
	struct acl_fabric_buf *buf = container_of(wc->wr_cqe, struct acl_fabric_buf, cqe);
	struct acl_fabric_conn *conn = buf->conn;
	struct acl_fabric_msg msg;

	mutex_lock(&acl_fabric.lock);
	if (conn->state == ACL_CONN_CLOSING)
		goto out;
	if (wc->status != IB_WC_SUCCESS) {
		if (acl_wc_fatal(conn, wc))
			acl_conn_closef(conn, -ECONNRESET, "a receive from server %u failed: %s",
					conn->peer->server_id, ib_wc_status_msg(wc->status));
		goto out;
	}
	if (wc->byte_len != ACL_FABRIC_MSG_SIZE) {
		acl_conn_closef(conn, -EPROTO, "server %u sent a message of %u bytes",
				conn->peer->server_id, wc->byte_len);
		goto out;
	}
	ib_dma_sync_single_for_cpu(conn->cm_id->device, buf->dma, ACL_FABRIC_MSG_SIZE,
				   DMA_FROM_DEVICE);
	memcpy(&msg, buf->msg, sizeof(msg));
	if (acl_post_recv(conn, buf)) {
		acl_conn_closef(conn, -ECONNRESET, "cannot post a receive for server %u",
				conn->peer->server_id);
		goto out;
	}
	conn->last_rx = jiffies;
	acl_handle_msg(conn, &msg);
out:
	mutex_unlock(&acl_fabric.lock);
}

/* ------------------------------------------------------------ resources */

/* How long an skb of a destroyed queue pair may take to be freed (compat.h). */
#define ACL_RXE_QP_CLEANUP_MS	100

/* A destroyed queue pair's CQ and PD, freed once rxe has let go of them. */
struct acl_late_ib {
	struct work_struct work;
	struct ib_device *dev;
	struct ib_cq *cq;
	struct ib_pd *pd;
};

static void acl_late_ib_free(struct work_struct *work)
{
	struct acl_late_ib *late = container_of(work, struct acl_late_ib, work);

	msleep(ACL_RXE_QP_CLEANUP_MS);
	acl_flush_system_wq();
	ib_free_cq(late->cq);
	ib_dealloc_pd(late->pd);
	ib_device_put(late->dev);
	kfree(late);
}

/*
 * Takes @conn's CQ and PD, to be freed later, if @dev is an rxe device of
 * a kernel whose rxe cleans a queue pair up after ib_destroy_qp() returned
 * (ACL_RXE_LATE_QP_CLEANUP): that cleanup is queued once the network
 * device has freed the queue pair's last skbs, and must find them. The
 * wait is a bound, not a proof: it covers an skb freed on transmission
 * (traced: 0.5 ms), not one held longer, as in a neighbour's queue while
 * the next hop does not resolve (about 3 s). The device stays registered
 * meanwhile: an unregistration waits for the reference (our rdma_cm id
 * still lives when it is taken, so it is always had). The id goes at
 * once, so a new link to the same peer is not refused meanwhile.
 */
static void acl_conn_defer_cq_pd(struct acl_fabric_conn *conn, struct ib_device *dev)
{
	struct acl_late_ib *late;

	if (!ACL_RXE_LATE_QP_CLEANUP || !dev || dev->ops.driver_id != RDMA_DRIVER_RXE ||
	    !conn->cq || !conn->pd)
		return;
	late = kzalloc(sizeof(*late), GFP_KERNEL);
	if (!late)	/* freed at once, as on any other kernel or device */
		return;
	if (!ib_device_try_get(dev)) {
		kfree(late);
		return;
	}
	INIT_WORK(&late->work, acl_late_ib_free);
	late->dev = dev;
	late->cq = conn->cq;
	late->pd = conn->pd;
	conn->cq = NULL;
	conn->pd = NULL;
	queue_work(acl_fabric.wq, &late->work);
}

static void acl_conn_free_ib(struct acl_fabric_conn *conn)
{
	struct ib_device *dev = conn->cm_id ? conn->cm_id->device : NULL;
	int i;

	if (conn->qp_made) {
		rdma_destroy_qp(conn->cm_id);
		conn->qp_made = false;
		acl_conn_defer_cq_pd(conn, dev);
	}
	if (conn->cq) {
		ib_free_cq(conn->cq);
		conn->cq = NULL;
	}
	for (i = 0; i < ACL_FABRIC_RX + ACL_FABRIC_TX; i++) {
		struct acl_fabric_buf *buf = i < ACL_FABRIC_RX ? &conn->rx[i] :
					     &conn->tx[i - ACL_FABRIC_RX];

		if (buf->mapped)
			ib_dma_unmap_single(dev, buf->dma, ACL_FABRIC_MSG_SIZE,
					    i < ACL_FABRIC_RX ? DMA_FROM_DEVICE : DMA_TO_DEVICE);
		buf->mapped = false;
		kfree(buf->msg);
		buf->msg = NULL;
	}
	if (conn->pd) {
		ib_dealloc_pd(conn->pd);
		conn->pd = NULL;
	}
}

static int acl_buf_init(struct acl_fabric_conn *conn, struct acl_fabric_buf *buf, bool rx)
{
	struct ib_device *dev = conn->cm_id->device;
	enum dma_data_direction dir = rx ? DMA_FROM_DEVICE : DMA_TO_DEVICE;

	buf->conn = conn;
	buf->cqe.done = rx ? acl_rx_done : acl_tx_done;
	buf->msg = kzalloc(ACL_FABRIC_MSG_SIZE, GFP_KERNEL);
	if (!buf->msg)
		return -ENOMEM;
	buf->dma = ib_dma_map_single(dev, buf->msg, ACL_FABRIC_MSG_SIZE, dir);
	if (ib_dma_mapping_error(dev, buf->dma))
		return -ENOMEM;
	buf->mapped = true;
	return 0;
}

/* Protection domain, completion queue, queue pair, buffers; receives posted. */
static int acl_conn_setup_ib(struct acl_fabric_conn *conn)
{
	struct ib_device *dev = conn->cm_id->device;
	struct ib_qp_init_attr attr = {};
	int i, ret;

	conn->pd = ib_alloc_pd(dev, 0);
	if (IS_ERR(conn->pd)) {
		ret = PTR_ERR(conn->pd);
		conn->pd = NULL;
		return ret;
	}
	/*
	 * Room for everything that can be outstanding at once, every request
	 * completing when the link ends (flushed, signaled or not): the
	 * receives, the sends, the registrations, one copy piece (at most
	 * ACL_FABRIC_RW_CTXS requests, of up to 3 work requests each where
	 * rdma_rw registers), and ib_drain_qp()'s marker on each queue.
	 */
	conn->cq = ib_alloc_cq(dev, conn, ACL_FABRIC_RX + ACL_FABRIC_TX + ACL_FABRIC_REGS +
			       3 * ACL_FABRIC_RW_CTXS + 2, 0, IB_POLL_WORKQUEUE);
	if (IS_ERR(conn->cq)) {
		ret = PTR_ERR(conn->cq);
		conn->cq = NULL;
		goto err;
	}
	attr.send_cq = conn->cq;
	attr.recv_cq = conn->cq;
	/* sends, registrations (copy.c), and the copies' READ/WRITE (rdma_rw adds those) */
	attr.cap.max_send_wr = ACL_FABRIC_TX + ACL_FABRIC_REGS + 1;
	attr.cap.max_recv_wr = ACL_FABRIC_RX + 1;
	attr.cap.max_send_sge = min_t(u32, ACL_FABRIC_SGE, dev->attrs.max_send_sge);
	attr.cap.max_recv_sge = 1;
	attr.cap.max_rdma_ctxs = ACL_FABRIC_RW_CTXS;
	attr.sq_sig_type = IB_SIGNAL_REQ_WR;
	attr.qp_type = IB_QPT_RC;
	ret = rdma_create_qp(conn->cm_id, conn->pd, &attr);
	if (ret)
		goto err;
	conn->qp_made = true;
	for (i = 0; i < ACL_FABRIC_RX; i++) {
		ret = acl_buf_init(conn, &conn->rx[i], true);
		if (!ret)
			ret = acl_post_recv(conn, &conn->rx[i]);
		if (ret)
			goto err;
	}
	for (i = 0; i < ACL_FABRIC_TX; i++) {
		ret = acl_buf_init(conn, &conn->tx[i], false);
		if (ret)
			goto err;
	}
	return 0;

err:
	/* posted receives are flushed by the release work's drain */
	return ret;
}

static void acl_conn_release(struct work_struct *work)
{
	struct acl_fabric_conn *conn = container_of(work, struct acl_fabric_conn, release);

	if (conn->qp_made) {
		rdma_disconnect(conn->cm_id);
		ib_drain_qp(conn->cm_id->qp);
	}
	/* a copy whose post failed part-way may now let go of its pages */
	WRITE_ONCE(conn->drained, true);
	smp_mb();	/* before the waiter's check (wake_up_var) */
	wake_up_var(&conn->drained);
	cancel_delayed_work_sync(&conn->timeout);
	cancel_delayed_work_sync(&conn->keepalive);
	/* their requests are flushed: the copies let go of the queue pair */
	wait_var_event(&conn->copies, !READ_ONCE(conn->copies));
	/* closing: no handler adds a holder any more; the peer's imports end with the link */
	acl_fabric_drop_holders(conn);
	acl_conn_free_ib(conn);
	if (conn->cm_id)
		rdma_destroy_id(conn->cm_id);
	acl_conn_put(conn);
}

static void acl_conn_timeout(struct work_struct *work)
{
	struct acl_fabric_conn *conn = container_of(to_delayed_work(work), struct acl_fabric_conn,
						    timeout);

	mutex_lock(&acl_fabric.lock);
	if (conn->state != ACL_CONN_UP && conn->state != ACL_CONN_CLOSING)
		acl_conn_closef(conn, -ETIMEDOUT,
				"no authenticated connection with server %u within %u ms",
				conn->peer->server_id, acl_fabric_handshake_timeout_ms);
	mutex_unlock(&acl_fabric.lock);
}

/*
 * An authenticated link says it is alive every keepalive_ms, and is closed
 * when it has heard nothing for peer_timeout_ms (no message, and no send of
 * ours acknowledged), or no message for ACL_FABRIC_ACKED_SILENCE times that
 * (a peer that acknowledges but never speaks is hung): a peer that died,
 * hangs or became unreachable is noticed in bounded time (a send that cannot
 * be delivered also fails on its own, after the queue pair's retries).
 */
static void acl_conn_keepalive(struct work_struct *work)
{
	struct acl_fabric_conn *conn = container_of(to_delayed_work(work), struct acl_fabric_conn,
						    keepalive);
	unsigned int timeout_ms = READ_ONCE(acl_fabric_peer_timeout_ms);
	unsigned long heard;

	mutex_lock(&acl_fabric.lock);
	if (conn->state != ACL_CONN_UP)
		goto out;
	heard = time_after(conn->last_ack, conn->last_rx) ? conn->last_ack : conn->last_rx;
	if (time_after(jiffies, heard + msecs_to_jiffies(timeout_ms))) {
		acl_conn_closef(conn, -ETIMEDOUT, "server %u stopped answering (nothing for %u ms)",
				conn->peer->server_id, timeout_ms);
		goto out;
	}
	if (time_after(jiffies, conn->last_rx +
		       msecs_to_jiffies(ACL_FABRIC_ACKED_SILENCE * timeout_ms))) {
		acl_conn_closef(conn, -ETIMEDOUT,
				"server %u acknowledges but has sent nothing for %u ms",
				conn->peer->server_id, ACL_FABRIC_ACKED_SILENCE * timeout_ms);
		goto out;
	}
	/* sends queued: the link is busy, which is alive enough */
	if (list_empty(&conn->backlog))
		acl_conn_send_type(conn, ACL_FABRIC_MSG_KEEPALIVE, 0);
	queue_delayed_work(acl_fabric.wq, &conn->keepalive,
			   msecs_to_jiffies(max(READ_ONCE(acl_fabric_keepalive_ms), 100U)));
out:
	mutex_unlock(&acl_fabric.lock);
}

static struct acl_fabric_conn *acl_conn_new(struct acl_fabric_peer *peer, bool outgoing)
{
	struct acl_fabric_conn *conn;

	lockdep_assert_held(&acl_fabric.lock);
	conn = kzalloc(sizeof(*conn), GFP_KERNEL);
	if (!conn)
		return NULL;
	kref_init(&conn->ref);
	conn->peer = peer;
	config_item_get(&peer->group.cg_item);
	conn->key = acl_fabric.key;
	kref_get(&conn->key->ref);
	conn->outgoing = outgoing;
	INIT_DELAYED_WORK(&conn->timeout, acl_conn_timeout);
	INIT_DELAYED_WORK(&conn->keepalive, acl_conn_keepalive);
	INIT_WORK(&conn->release, acl_conn_release);
	INIT_LIST_HEAD(&conn->backlog);
	INIT_LIST_HEAD(&conn->reg_queue);
	mutex_init(&conn->copy_lock);
	xa_init_flags(&conn->holders, XA_FLAGS_ALLOC1);
	xa_init_flags(&conn->requests, XA_FLAGS_ALLOC1);
	return conn;
}

/* ------------------------------------------------------------ rdma_cm events */

static void acl_conn_rejected(struct acl_fabric_conn *conn, struct rdma_cm_event *ev)
{
	u32 peer_id = conn->peer->server_id;
	const struct acl_fabric_cm_rej *rej;
	u8 len = 0;
	u16 reason;

	rej = rdma_consumer_reject_data(conn->cm_id, ev, &len);
	if (!rej || len < sizeof(*rej) || le32_to_cpu(rej->magic) != ACL_FABRIC_MAGIC) {
		acl_conn_closef(conn, -ECONNREFUSED,
				"server %u (%pI4:%u) refused: no acl_share_fabric there (status %d)",
				peer_id, &conn->peer->addr.sin_addr,
				ntohs(conn->peer->addr.sin_port), ev->status);
		return;
	}
	reason = le16_to_cpu(rej->reason);
	if (reason == ACL_FABRIC_REFUSE_BUSY) {
		acl_conn_closef(conn, -EBUSY, "server %u is connecting to us", peer_id);
		return;
	}
	acl_conn_closef(conn, -ECONNREFUSED, "server %u refused the connection: %s", peer_id,
			reason < ACL_FABRIC_REFUSE_MAX && acl_refusal_text[reason] ?
			acl_refusal_text[reason] : "reason unknown");
}

static void acl_conn_route_resolved(struct acl_fabric_conn *conn)
{
	struct acl_fabric_cm_req req = {
		.magic = cpu_to_le32(ACL_FABRIC_MAGIC),
		.version = cpu_to_le16(ACL_FABRIC_VERSION),
		.src_server = cpu_to_le32(acl_share_server_id()),
		.dst_server = cpu_to_le32(conn->peer->server_id),
	};
	struct rdma_conn_param param = {
		.private_data = &req,
		.private_data_len = sizeof(req),
		.retry_count = 7,
		.rnr_retry_count = 7,
		.flow_control = 1,
	};
	struct ib_device *dev = conn->cm_id->device;
	int ret;

	memcpy(req.nonce, conn->nonce_c, sizeof(req.nonce));
	/* RDMA READs of copies, both ways */
	param.initiator_depth = min_t(int, ACL_FABRIC_RD_DEPTH, dev->attrs.max_qp_init_rd_atom);
	param.responder_resources = min_t(int, ACL_FABRIC_RD_DEPTH, dev->attrs.max_qp_rd_atom);
	ret = rdma_set_ack_timeout(conn->cm_id, ACL_FABRIC_ACK_TIMEOUT);
	if (!ret)
		ret = acl_conn_setup_ib(conn);
	if (!ret)
		ret = rdma_connect_locked(conn->cm_id, &param);
	if (ret) {
		acl_conn_closef(conn, ret, "cannot connect to server %u", conn->peer->server_id);
		return;
	}
	conn->state = ACL_CONN_CONNECTING;
}

static int acl_conn_event(struct acl_fabric_conn *conn, struct rdma_cm_event *ev)
{
	u32 peer_id = conn->peer->server_id;
	struct acl_fabric_msg challenge = {
		.type = cpu_to_le16(ACL_FABRIC_MSG_CHALLENGE),
	};
	int ret;

	mutex_lock(&acl_fabric.lock);
	if (conn->state == ACL_CONN_CLOSING)
		goto out;
	switch (ev->event) {
	case RDMA_CM_EVENT_ADDR_RESOLVED:
		ret = rdma_resolve_route(conn->cm_id, ACL_FABRIC_RESOLVE_MS);
		if (ret)
			acl_conn_closef(conn, -EHOSTUNREACH, "no route to server %u", peer_id);
		break;
	case RDMA_CM_EVENT_ROUTE_RESOLVED:
		acl_conn_route_resolved(conn);
		break;
	case RDMA_CM_EVENT_ADDR_ERROR:
	case RDMA_CM_EVENT_ROUTE_ERROR:
	case RDMA_CM_EVENT_UNREACHABLE:
	case RDMA_CM_EVENT_CONNECT_ERROR:
		acl_conn_closef(conn, -EHOSTUNREACH,
				"server %u (%pI4) is unreachable over RDMA (%s, status %d)",
				peer_id, &conn->peer->addr.sin_addr, rdma_event_msg(ev->event),
				ev->status);
		break;
	case RDMA_CM_EVENT_REJECTED:
		acl_conn_rejected(conn, ev);
		break;
	case RDMA_CM_EVENT_ESTABLISHED:
		if (conn->outgoing) {
			acl_conn_connected(conn);
			break;
		}
		/* listener: prove ourselves and challenge the client */
		get_random_bytes(conn->nonce_s, sizeof(conn->nonce_s));
		memcpy(challenge.challenge.nonce, conn->nonce_s, sizeof(conn->nonce_s));
		ret = acl_conn_proof(conn, true, challenge.challenge.proof);
		if (!ret)
			ret = acl_conn_send(conn, &challenge);
		if (ret)
			acl_conn_closef(conn, ret, "cannot challenge server %u", peer_id);
		else
			conn->challenged = true;
		break;
	case RDMA_CM_EVENT_DISCONNECTED:
		acl_conn_closef(conn, -ECONNRESET, conn->state == ACL_CONN_UP ?
				"server %u closed the connection" :
				"server %u closed the connection during authentication", peer_id);
		break;
	case RDMA_CM_EVENT_DEVICE_REMOVAL:
		/* the release work destroys the id; the removal waits for it */
		acl_conn_closef(conn, -ENETDOWN, "the RDMA device to server %u went away",
				peer_id);
		break;
	case RDMA_CM_EVENT_ADDR_CHANGE:
		acl_conn_closef(conn, -ENETDOWN, "the address used for server %u changed",
				peer_id);
		break;
	default:
		break;
	}
out:
	mutex_unlock(&acl_fabric.lock);
	return 0;
}

/* ------------------------------------------------------------ the listener */

static __printf(3, 4) void acl_refuse(struct rdma_cm_id *id, enum acl_fabric_refusal reason,
				      const char *fmt, ...)
{
	struct acl_fabric_cm_rej rej = {
		.magic = cpu_to_le32(ACL_FABRIC_MAGIC),
		.version = cpu_to_le16(ACL_FABRIC_VERSION),
		.reason = cpu_to_le16(reason),
	};
	va_list args;

	lockdep_assert_held(&acl_fabric.lock);
	va_start(args, fmt);
	vsnprintf(acl_fabric.last_refusal, sizeof(acl_fabric.last_refusal), fmt, args);
	va_end(args);
	if (reason != ACL_FABRIC_REFUSE_BUSY) {
		acl_fabric.refused++;
		pr_info_ratelimited("refused a connection: %s\n", acl_fabric.last_refusal);
	}
	rdma_reject(id, &rej, sizeof(rej), IB_CM_REJ_CONSUMER_DEFINED);
}

/*
 * A connect request: accepted only from a configured peer, from its
 * configured address, naming this server. Returns non-zero to have rdma_cm
 * destroy the new id (refused); 0 once a connection owns it.
 */
static int acl_connect_request(struct rdma_cm_id *id, struct rdma_cm_event *ev)
{
	const struct acl_fabric_cm_req *req = ev->param.conn.private_data;
	struct sockaddr_in *src = (struct sockaddr_in *)&id->route.addr.dst_addr;
	struct rdma_conn_param param = {
		.retry_count = 7,
		.rnr_retry_count = 7,
		.flow_control = 1,
	};
	struct acl_fabric_conn *conn, *old;
	struct acl_fabric_peer *peer;
	u32 me = acl_share_server_id(), from;
	int ret;

	mutex_lock(&acl_fabric.lock);
	if (!acl_fabric.key || !req || ev->param.conn.private_data_len < sizeof(*req) ||
	    le32_to_cpu(req->magic) != ACL_FABRIC_MAGIC ||
	    le16_to_cpu(req->version) != ACL_FABRIC_VERSION || src->sin_family != AF_INET) {
		acl_refuse(id, ACL_FABRIC_REFUSE_BAD_REQUEST,
			   "a request that is not acl_share_fabric version %u over IPv4",
			   ACL_FABRIC_VERSION);
		goto refused;
	}
	from = le32_to_cpu(req->src_server);
	if (le32_to_cpu(req->dst_server) != me) {
		acl_refuse(id, ACL_FABRIC_REFUSE_WRONG_SERVER,
			   "server %u asked for server %u, this is server %u", from,
			   le32_to_cpu(req->dst_server), me);
		goto refused;
	}
	peer = xa_load(&acl_fabric.peers, from);
	if (!peer || peer->removed) {
		acl_refuse(id, ACL_FABRIC_REFUSE_NOT_PEER,
			   "server %u (%pI4) is not a configured peer", from, &src->sin_addr);
		goto refused;
	}
	if (peer->addr.sin_family != AF_INET ||
	    peer->addr.sin_addr.s_addr != src->sin_addr.s_addr) {
		acl_refuse(id, ACL_FABRIC_REFUSE_ADDR_MISMATCH,
			   "server %u connected from %pI4, configured at %pI4", from,
			   &src->sin_addr, &peer->addr.sin_addr);
		goto refused;
	}
	old = peer->conn;
	/* Two connects at once: the one made by the lower server id wins. */
	if (old && old->outgoing && old->state != ACL_CONN_UP && me < from) {
		acl_refuse(id, ACL_FABRIC_REFUSE_BUSY,
			   "server %u connected while our connection to it was being made", from);
		goto refused;
	}
	conn = acl_conn_new(peer, false);
	if (!conn) {
		acl_refuse(id, ACL_FABRIC_REFUSE_NO_RESOURCES, "no memory for server %u", from);
		goto refused;
	}
	conn->cm_id = id;
	id->context = conn;
	memcpy(conn->nonce_c, req->nonce, sizeof(conn->nonce_c));
	conn->state = ACL_CONN_AUTH;
	if (old && old->state == ACL_CONN_UP) {
		/*
		 * The peer restarted and lost the link, or this is a stale
		 * request: the new one replaces the link once it authenticates.
		 */
		if (peer->pending)
			acl_conn_closef(peer->pending, -ECONNRESET,
					"replaced by a newer request of server %u", from);
		peer->pending = conn;
	} else {
		/* not up yet: the newer attempt wins */
		peer->conn = conn;
		if (old)
			acl_conn_closef(old, -ECONNRESET,
					"replaced by a new connection from server %u", from);
		acl_peer_set_state(peer, ACL_PEER_AUTHENTICATING);
	}
	queue_delayed_work(acl_fabric.wq, &conn->timeout,
			   msecs_to_jiffies(acl_fabric_handshake_timeout_ms));
	param.initiator_depth = min_t(int, ev->param.conn.responder_resources,
				      id->device->attrs.max_qp_init_rd_atom);
	param.responder_resources = min_t(int, ev->param.conn.initiator_depth,
					  id->device->attrs.max_qp_rd_atom);
	ret = rdma_set_ack_timeout(id, ACL_FABRIC_ACK_TIMEOUT);
	if (!ret)
		ret = acl_conn_setup_ib(conn);
	if (!ret)
		ret = rdma_accept(id, &param);
	if (ret) {
		rdma_reject(id, NULL, 0, IB_CM_REJ_CONSUMER_DEFINED);
		acl_conn_closef(conn, ret, "cannot accept server %u's connection", from);
	}
	mutex_unlock(&acl_fabric.lock);
	return 0;

refused:
	mutex_unlock(&acl_fabric.lock);
	return 1;
}

static int acl_cm_handler(struct rdma_cm_id *id, struct rdma_cm_event *ev)
{
	if (ev->event == RDMA_CM_EVENT_CONNECT_REQUEST)
		return acl_connect_request(id, ev);
	if (!id->context)	/* the listener itself */
		return 0;
	return acl_conn_event(id->context, ev);
}

int acl_fabric_listen(void)
{
	struct sockaddr_in any = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_ANY),
		.sin_port = htons(acl_fabric.port),
	};
	struct rdma_cm_id *id;
	int ret;

	lockdep_assert_held(&acl_fabric.config_lock);
	if (acl_fabric.listener)
		return 0;
	/* without acl_fabric.lock: a failed listen destroys ids whose handlers take it */
	id = rdma_create_id(&init_net, acl_cm_handler, NULL, RDMA_PS_TCP, IB_QPT_RC);
	if (IS_ERR(id))
		return PTR_ERR(id);
	ret = rdma_bind_addr(id, (struct sockaddr *)&any);
	if (!ret)
		ret = rdma_listen(id, 16);
	if (ret) {
		rdma_destroy_id(id);
		pr_warn("cannot listen on port %u: %d\n", acl_fabric.port, ret);
		return ret;
	}
	mutex_lock(&acl_fabric.lock);
	acl_fabric.listener = id;
	mutex_unlock(&acl_fabric.lock);
	return 0;
}

/* Destroying the id waits for its handler, which takes acl_fabric.lock. */
void acl_fabric_stop_listening(void)
{
	struct rdma_cm_id *id;

	lockdep_assert_held(&acl_fabric.config_lock);
	mutex_lock(&acl_fabric.lock);
	id = acl_fabric.listener;
	acl_fabric.listener = NULL;
	mutex_unlock(&acl_fabric.lock);
	if (id)
		rdma_destroy_id(id);
}

/* ------------------------------------------------------------ requests from configfs */

static int acl_connect_start(struct acl_fabric_peer *peer)
{
	struct acl_fabric_conn *conn;
	int ret;

	lockdep_assert_held(&acl_fabric.lock);
	conn = acl_conn_new(peer, true);
	if (!conn)
		return -ENOMEM;
	conn->cm_id = rdma_create_id(&init_net, acl_cm_handler, conn, RDMA_PS_TCP, IB_QPT_RC);
	if (IS_ERR(conn->cm_id)) {
		ret = PTR_ERR(conn->cm_id);
		conn->cm_id = NULL;
		acl_conn_put(conn);
		return ret;
	}
	get_random_bytes(conn->nonce_c, sizeof(conn->nonce_c));
	conn->state = ACL_CONN_RESOLVING;
	peer->conn = conn;
	acl_peer_set_state(peer, ACL_PEER_CONNECTING);
	queue_delayed_work(acl_fabric.wq, &conn->timeout,
			   msecs_to_jiffies(acl_fabric_handshake_timeout_ms));
	/* its events wait for acl_fabric.lock, which we hold */
	peer->addr.sin_port = htons(acl_fabric.port);
	ret = rdma_resolve_addr(conn->cm_id, NULL, (struct sockaddr *)&peer->addr,
				ACL_FABRIC_RESOLVE_MS);
	if (ret)
		acl_conn_closef(conn, ret, "cannot resolve server %u's address %pI4",
				peer->server_id, &peer->addr.sin_addr);
	return 0;
}

/*
 * Connects to @peer unless it is connected, and waits until the connection
 * is authenticated or has failed (peer->last_reason says why). A connect
 * refused because the peer's own connect to us is under way is retried: its
 * connection replaces ours.
 */
int acl_fabric_connect(struct acl_fabric_peer *peer)
{
	unsigned long deadline = jiffies + msecs_to_jiffies(acl_fabric_connect_timeout_ms);
	long left;
	int ret;

	for (;;) {
		mutex_lock(&acl_fabric.lock);
		if (peer->removed) {
			ret = -ENODEV;
		} else if (!acl_fabric.key) {
			ret = -ENOKEY;
		} else if (peer->addr.sin_family != AF_INET) {
			ret = -EDESTADDRREQ;
		} else if (peer->state == ACL_PEER_UP) {
			ret = 0;
		} else {
			ret = peer->conn ? 0 : acl_connect_start(peer);
			if (!ret)
				ret = -EINPROGRESS;
		}
		mutex_unlock(&acl_fabric.lock);
		if (ret != -EINPROGRESS)
			return ret;

		left = (long)(deadline - jiffies);
		if (left <= 0)
			return -ETIMEDOUT;
		left = wait_event_interruptible_timeout(peer->wait,
							READ_ONCE(peer->state) == ACL_PEER_UP ||
							READ_ONCE(peer->state) == ACL_PEER_DOWN,
							left);
		if (left < 0)
			return left;
		mutex_lock(&acl_fabric.lock);
		if (peer->state == ACL_PEER_UP)
			ret = 0;
		else if (peer->state != ACL_PEER_DOWN)
			ret = -ETIMEDOUT;	/* still connecting */
		else
			ret = peer->last_err ?: -ECONNRESET;
		mutex_unlock(&acl_fabric.lock);
		if (ret != -EBUSY)
			return ret;
		msleep(50);
	}
}

/* One authenticated round trip on @peer's connection; its time in peer->rtt_ns. */
int acl_fabric_ping(struct acl_fabric_peer *peer)
{
	struct acl_fabric_conn *conn;
	u64 seq, start;
	long left;
	int ret;

	mutex_lock(&acl_fabric.lock);
	conn = peer->conn;
	if (!conn || conn->state != ACL_CONN_UP) {
		mutex_unlock(&acl_fabric.lock);
		return -ENOTCONN;
	}
	kref_get(&conn->ref);
	seq = ++conn->ping_seq;
	start = ktime_get_ns();
	ret = acl_conn_send_type(conn, ACL_FABRIC_MSG_PING, seq);
	mutex_unlock(&acl_fabric.lock);
	if (ret)
		goto out;
	left = wait_event_interruptible_timeout(peer->wait,
						READ_ONCE(conn->pong_seq) >= seq ||
						READ_ONCE(conn->state) == ACL_CONN_CLOSING,
						msecs_to_jiffies(acl_fabric_handshake_timeout_ms));
	mutex_lock(&acl_fabric.lock);
	if (conn->pong_seq >= seq) {
		peer->rtt_ns = ktime_get_ns() - start;
		ret = 0;
	} else {
		ret = left < 0 ? left : conn->state == ACL_CONN_CLOSING ? -ECONNRESET : -ETIMEDOUT;
	}
	mutex_unlock(&acl_fabric.lock);
out:
	acl_conn_put(conn);
	return ret;
}

void acl_fabric_disconnect_locked(struct acl_fabric_peer *peer, int err, const char *reason)
{
	lockdep_assert_held(&acl_fabric.lock);
	if (peer->pending)
		acl_conn_close(peer->pending, err, reason);
	if (peer->conn)
		acl_conn_close(peer->conn, err, reason);
}

void acl_fabric_close_all_locked(int err, const char *reason)
{
	struct acl_fabric_peer *peer;
	unsigned long id;

	xa_for_each(&acl_fabric.peers, id, peer)
		acl_fabric_disconnect_locked(peer, err, reason);
}

bool acl_fabric_peer_initiated_locked(struct acl_fabric_peer *peer)
{
	return peer->conn && peer->conn->outgoing;
}
