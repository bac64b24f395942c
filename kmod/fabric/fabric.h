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

#include "wire.h"

struct acl_fabric_conn;

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

extern struct acl_fabric acl_fabric;
extern unsigned int acl_fabric_connect_timeout_ms;
extern unsigned int acl_fabric_handshake_timeout_ms;
extern unsigned int acl_fabric_keepalive_ms;
extern unsigned int acl_fabric_peer_timeout_ms;

u32 acl_share_server_id(void);

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

/* config.c */
int acl_fabric_config_init(void);
void acl_fabric_config_exit(void);

#endif /* ACL_FABRIC_H */
