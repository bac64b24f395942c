/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What two acl_share_fabric modules say to each other: the private data of
 * the rdma_cm connect request and of a rejection, and the messages carried by
 * SEND/RECV on the connection's queue pair. Little-endian, fixed sizes; every
 * field is checked by the receiver (see conn.c). Version 1.
 */
#ifndef ACL_FABRIC_WIRE_H
#define ACL_FABRIC_WIRE_H

#include <linux/types.h>

#define ACL_FABRIC_MAGIC	0x464c4341	/* "ACLF" */
#define ACL_FABRIC_VERSION	3
#define ACL_FABRIC_NONCE_LEN	16
#define ACL_FABRIC_PROOF_LEN	32		/* HMAC-SHA256 */

/* Connect request private data: who connects, to whom, the client's nonce. */
struct acl_fabric_cm_req {
	__le32 magic;
	__le16 version;
	__le16 reserved;
	__le32 src_server;	/* the connecting server's id */
	__le32 dst_server;	/* the server it means to reach */
	u8 nonce[ACL_FABRIC_NONCE_LEN];
};

/* Why a listener refused a connect request (rejection private data). */
enum acl_fabric_refusal {
	ACL_FABRIC_REFUSE_BAD_REQUEST = 1,	/* not our protocol or version */
	ACL_FABRIC_REFUSE_WRONG_SERVER,		/* dst_server is not this server */
	ACL_FABRIC_REFUSE_NOT_PEER,		/* src_server is not a configured peer */
	ACL_FABRIC_REFUSE_ADDR_MISMATCH,	/* it came from another address */
	ACL_FABRIC_REFUSE_BUSY,			/* a simultaneous connect of ours wins */
	ACL_FABRIC_REFUSE_NO_RESOURCES,
	ACL_FABRIC_REFUSE_MAX
};

struct acl_fabric_cm_rej {
	__le32 magic;
	__le16 version;
	__le16 reason;		/* enum acl_fabric_refusal */
};

enum acl_fabric_msg_type {
	ACL_FABRIC_MSG_CHALLENGE = 1,	/* listener -> client: nonce, listener's proof */
	ACL_FABRIC_MSG_RESPONSE,	/* client -> listener: client's proof */
	ACL_FABRIC_MSG_AUTH_OK,		/* listener -> client: requests may follow */
	ACL_FABRIC_MSG_AUTH_FAIL,	/* either way: the proof did not match */
	ACL_FABRIC_MSG_PING,		/* either way, authenticated only */
	ACL_FABRIC_MSG_PONG,
	ACL_FABRIC_MSG_KEEPALIVE,	/* either way, authenticated only: no answer */
	ACL_FABRIC_MSG_IMPORT_REQ,	/* importer -> exporter: seq names the request */
	ACL_FABRIC_MSG_IMPORT_OK,	/* exporter -> importer: seq echoed */
	ACL_FABRIC_MSG_IMPORT_ERR,	/* exporter -> importer: seq echoed */
	ACL_FABRIC_MSG_RELEASE,		/* importer -> exporter: seq is the holder */
	ACL_FABRIC_MSG_MR_REQ,		/* importer -> exporter: register a window */
	ACL_FABRIC_MSG_MR_OK,		/* exporter -> importer: seq echoed */
	ACL_FABRIC_MSG_MR_ERR,		/* exporter -> importer: seq echoed */
	ACL_FABRIC_MSG_MAX
};

/* Why an import or a registration was refused (IMPORT_ERR, MR_ERR); else EPROTO. */
enum acl_fabric_import_err {
	ACL_FABRIC_IMPORT_NOENT = 1,	/* malformed, forged, revoked, exporter gone */
	ACL_FABRIC_IMPORT_PERM,		/* the whitelist does not name the importer */
	ACL_FABRIC_IMPORT_NOMEM,	/* the exporting server is out of memory */
};

struct acl_fabric_msg {
	__le32 magic;
	__le16 version;
	__le16 type;		/* enum acl_fabric_msg_type */
	__le64 seq;		/* PING/PONG: echoed */
	union {
		struct {
			u8 nonce[ACL_FABRIC_NONCE_LEN];
			u8 proof[ACL_FABRIC_PROOF_LEN];
		} challenge;
		struct {
			u8 proof[ACL_FABRIC_PROOF_LEN];
		} response;
		struct {
			__le32 tgid;		/* the importer's bare tgid */
			__le32 reserved;	/* zero */
			u8 handle[128];		/* struct acl_share_fabric_handle */
		} import_req;
		struct {
			__le64 holder;		/* for RELEASE */
			__le64 length;
			__le32 mem_attr;
			__le32 loc_type;
			__le32 loc_id;
			__le32 page_size;
			__le64 window;		/* bytes one registration covers */
		} import_ok;
		struct {
			__le64 holder;
			__le64 window;		/* its index: offset / window */
		} mr_req;
		struct {
			__le64 iova;		/* where the window starts, for the rkey */
			__le64 length;
			__le32 rkey;
			__le32 reserved;
		} mr_ok;
		struct {
			__le32 err;		/* enum acl_fabric_import_err */
		} import_err;
		u8 pad[240];
	};
};

#define ACL_FABRIC_MSG_SIZE	sizeof(struct acl_fabric_msg)

#endif /* ACL_FABRIC_WIRE_H */
