/* SPDX-License-Identifier: GPL-2.0 */
/*
 * acl_share_fabric: the links between acl_share servers (docs/fabric.md).
 *
 * Objects and their rules:
 * - A peer is a configfs item (peers/<server id>), found by id in
 *   acl_fabric.peers. Its connection pointer, state and last error change
 *   under acl_fabric.lock only; waiters sleep on peer->wait.
 * - A connection (conn.c) is one rdma_cm id with its queue pair, made by
 *   this server (outgoing) or accepted (incoming). It holds a reference to its
 *   peer's item and to the key it authenticates with; it is freed by its own
 *   release work, which alone destroys its rdma_cm id.
 * - The cluster key (auth.c) is an HMAC-SHA256 transform keyed once and never
 *   re-keyed: a new key is a new object; connections of the old one are closed.
 */
#ifndef ACL_FABRIC_H
#define ACL_FABRIC_H

#include <linux/configfs.h>
#include <linux/in.h>
#include <linux/kref.h>
#include <linux/mutex.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <rdma/ib_verbs.h>

#include "../remote.h"
#include "wire.h"

struct acl_fabric_key {
	struct kref ref;
	struct crypto_shash *tfm;	/* hmac(sha256), keyed */
};

enum acl_fabric_peer_state {
	ACL_PEER_DOWN,
	ACL_PEER_CONNECTING,		/* address, route, connect */
	ACL_PEER_AUTHENTICATING,	/* connected, handshake running */
	ACL_PEER_UP,
};

struct acl_fabric_peer {
	struct config_group group;
	u32 server_id;
	struct sockaddr_in addr;	/* sin_family 0: not set */
	bool removed;
	struct acl_fabric_conn *conn;	/* current connection, or NULL */
	struct acl_fabric_conn *pending; /* incoming while conn is up: replaces it once up */
	enum acl_fabric_peer_state state;
	int last_err;			/* why the last connection ended or failed */
	char last_reason[96];
	u64 rtt_ns;			/* last ping's round trip */
	u64 established;		/* connections that authenticated */
	wait_queue_head_t wait;
};

struct acl_fabric {
	struct mutex config_lock;	/* key and listener changes; taken before lock */
	struct mutex lock;		/* all below, every peer's connection fields */
	struct xarray peers;		/* server id -> struct acl_fabric_peer */
	struct acl_fabric_key *key;	/* NULL: none set */
	struct rdma_cm_id *listener;	/* listening while a key is set */
	u16 port;
	u64 refused;			/* incoming connect requests refused */
	char last_refusal[96];
	struct workqueue_struct *wq;	/* connection releases and timeouts */
};

/* conn.c: one link (see the comment at its top) */
#define ACL_FABRIC_RX		8	/* receive buffers posted */
#define ACL_FABRIC_TX		8	/* sends in flight */
#define ACL_FABRIC_REGS		8	/* registrations in flight (exporter), at most */
#define ACL_FABRIC_RW_CTXS	16	/* READ/WRITE requests of one copy piece */
#define ACL_FABRIC_SGE		16	/* scatter entries of one READ/WRITE request */

enum acl_conn_state {
	ACL_CONN_RESOLVING,	/* outgoing: address, route */
	ACL_CONN_CONNECTING,	/* outgoing: connect request sent */
	ACL_CONN_AUTH,		/* connected, handshake running */
	ACL_CONN_UP,		/* authenticated */
	ACL_CONN_CLOSING,	/* release work queued; nothing more is handled */
};

struct acl_fabric_buf {
	struct ib_cqe cqe;
	struct acl_fabric_conn *conn;
	struct acl_fabric_msg *msg;
	u64 dma;
	bool mapped;
	bool busy;		/* tx: posted, not completed */
};

struct acl_fabric_conn {
	struct kref ref;
	struct acl_fabric_peer *peer;	/* holds a reference to its item */
	struct acl_fabric_key *key;	/* holds a reference */
	struct rdma_cm_id *cm_id;
	struct ib_pd *pd;
	struct ib_cq *cq;
	bool qp_made;
	bool outgoing;
	bool challenged;	/* listener: CHALLENGE sent; client: RESPONSE sent */
	enum acl_conn_state state;
	u8 nonce_c[ACL_FABRIC_NONCE_LEN];
	u8 nonce_s[ACL_FABRIC_NONCE_LEN];
	u64 ping_seq;
	u64 pong_seq;
	struct acl_fabric_buf rx[ACL_FABRIC_RX];
	struct acl_fabric_buf tx[ACL_FABRIC_TX];
	struct delayed_work timeout;	/* until authenticated */
	struct delayed_work keepalive;	/* once authenticated */
	unsigned long last_rx;		/* jiffies: last message received */
	unsigned long last_ack;		/* jiffies: last send of ours the peer acked */
	struct list_head backlog;	/* struct acl_fabric_queued: sends waiting for a buffer */
	unsigned int nr_backlog;
	struct xarray holders;		/* exporter: id -> struct acl_fabric_holder */
	struct xarray requests;		/* importer: id -> struct acl_import_request */
	struct mutex copy_lock;		/* importer: one copy piece at a time on this link */
	unsigned int copies;		/* copies using the queue pair; the release waits */
	bool drained;			/* the release work drained the queue pair */
	unsigned int regs;		/* exporter: registrations queued or posted */
	/*
	 * The send queue's fence around registrations (copy.c): soft-RoCE
	 * (6.1) runs a REG_MR again when a retry rewinds over it, which fails
	 * on the now valid MR and ends the link. So a REG_MR is posted only
	 * on an empty send queue, and nothing else until it has completed.
	 */
	unsigned int sq_out;		/* our requests posted, not completed */
	struct list_head reg_queue;	/* struct acl_fabric_mr waiting for an empty queue */
	bool reg_posted;		/* a REG_MR in flight: nothing else is posted */
	struct work_struct release;
};

extern struct acl_fabric acl_fabric;
extern unsigned int acl_fabric_connect_timeout_ms;
extern unsigned int acl_fabric_handshake_timeout_ms;
extern unsigned int acl_fabric_keepalive_ms;
extern unsigned int acl_fabric_peer_timeout_ms;
extern unsigned int acl_fabric_read_burst_kb;

/* auth.c */
struct acl_fabric_key *acl_fabric_key_new(const u8 *key, unsigned int len);
void acl_fabric_key_put(struct acl_fabric_key *key);
struct acl_fabric_binding {
	u32 client, server;		/* server ids */
	u32 client_qpn, server_qpn;	/* the queue pairs of this link, as each end sees them */
};

int acl_fabric_proof(struct acl_fabric_key *key, bool listener,
		     const struct acl_fabric_binding *b, const u8 *nonce_c, const u8 *nonce_s,
		     u8 *proof);

/* conn.c; the listener's changes under config_lock */
int acl_fabric_listen(void);
void acl_fabric_stop_listening(void);
int acl_fabric_connect(struct acl_fabric_peer *peer);
int acl_fabric_ping(struct acl_fabric_peer *peer);
void acl_fabric_disconnect_locked(struct acl_fabric_peer *peer, int err, const char *reason);
void acl_fabric_close_all_locked(int err, const char *reason);
bool acl_fabric_peer_initiated_locked(struct acl_fabric_peer *peer);
void acl_conn_put(struct acl_fabric_conn *conn);
__printf(3, 4) void acl_conn_closef(struct acl_fabric_conn *conn, int err, const char *fmt, ...);
int acl_conn_send(struct acl_fabric_conn *conn, struct acl_fabric_msg *msg);
void acl_conn_pump(struct acl_fabric_conn *conn);

/* A registration waits for the send queue (see acl_fabric_conn); lock held or READ_ONCE. */
static inline bool acl_sq_fenced(const struct acl_fabric_conn *conn)
{
	return READ_ONCE(conn->reg_posted) || !list_empty_careful(&conn->reg_queue);
}

/*
 * Remote imports (import.c) and the copies that reach their memory (copy.c).
 * Exporter: a holder is a peer's import of one of our exports, kept by its
 * link under a number, with the registrations (MRs) made for it so far, one
 * per window of the allocation. Importer: an import names its link, its
 * holder number there, and the windows' keys fetched so far.
 */
struct acl_fabric_holder {
	struct acl_share_remote_holder *h;	/* the reference on the allocation */
	u64 length;				/* the exported length */
	u64 window;				/* bytes one registration covers */
	struct xarray mrs;			/* window index -> struct acl_fabric_mr */
	unsigned int regs;			/* its REG_MRs not completed */
	bool gone;				/* released: freed with its last REG_MR */
};

struct acl_fabric_import {
	struct acl_fabric_conn *conn;		/* one reference */
	u64 holder;				/* its number on the exporter */
	u64 length;
	u64 window;
	struct xarray windows;			/* index -> struct acl_fabric_window; copy_lock */
};

/* A request waiting for its answer: on the waiter's stack, found under the lock. */
struct acl_fabric_request {
	bool done;
	int err;
	u64 holder;				/* IMPORT_OK */
	u64 window;
	struct acl_share_remote_info info;
	u64 iova;				/* MR_OK */
	u64 length;
	u32 rkey;
};

int acl_fabric_import_init(void);
void acl_fabric_import_exit(void);
void acl_fabric_import_msg(struct acl_fabric_conn *conn, const struct acl_fabric_msg *msg);
void acl_fabric_drop_holders(struct acl_fabric_conn *conn);
int acl_fabric_ask(struct acl_fabric_conn *conn, struct acl_fabric_msg *msg,
		   struct acl_fabric_request *req, bool killable);
int acl_fabric_errno(u32 code);

/* copy.c */
void acl_fabric_mr_req(struct acl_fabric_conn *conn, const struct acl_fabric_msg *msg);
int acl_fabric_reg_post(struct acl_fabric_conn *conn);
void acl_fabric_holder_free(struct acl_fabric_holder *fh);
void acl_fabric_windows_free(struct acl_fabric_import *imp);
int acl_fabric_copy(void *cookie, u32 op, u64 offset, u64 length, u64 uptr, u8 value);
u64 acl_fabric_window_bytes(struct acl_fabric_conn *conn);

/* config.c */
int acl_fabric_config_init(void);
void acl_fabric_config_exit(void);

#endif /* ACL_FABRIC_H */
