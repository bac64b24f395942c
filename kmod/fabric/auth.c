// SPDX-License-Identifier: GPL-2.0
/*
 * The cluster key and the proofs of the connect handshake (docs/fabric.md):
 *
 *   listener's proof = HMAC(K, "acl_share fabric v1 listener" | B | Nc | Ns)
 *   client's proof   = HMAC(K, "acl_share fabric v1 client"   | B | Ns | Nc)
 *   B = client id | server id | client's QP number | server's QP number
 *
 * Both nonces are in both proofs, so neither can be replayed on another
 * connection; the labels differ, so neither side's proof is an answer to a
 * challenge of the other. The QP numbers bind the proofs to this link as each
 * end sees it: a host that relays the handshake between two servers over two
 * links of its own cannot make both ends see the same pair (docs/fabric.md,
 * "What authentication covers").
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <crypto/hash.h>
#include <linux/slab.h>

#include "fabric.h"

struct acl_fabric_key *acl_fabric_key_new(const u8 *bytes, unsigned int len)
{
	struct acl_fabric_key *key;
	int ret;

	key = kzalloc(sizeof(*key), GFP_KERNEL);
	if (!key)
		return ERR_PTR(-ENOMEM);
	key->tfm = crypto_alloc_shash("hmac(sha256)", 0, 0);
	if (IS_ERR(key->tfm)) {
		ret = PTR_ERR(key->tfm);
		goto err_free;
	}
	ret = crypto_shash_setkey(key->tfm, bytes, len);
	if (ret)
		goto err_tfm;
	kref_init(&key->ref);
	return key;

err_tfm:
	crypto_free_shash(key->tfm);
err_free:
	kfree(key);
	return ERR_PTR(ret);
}

static void acl_fabric_key_release(struct kref *ref)
{
	struct acl_fabric_key *key = container_of(ref, struct acl_fabric_key, ref);

	crypto_free_shash(key->tfm);
	kfree(key);
}

void acl_fabric_key_put(struct acl_fabric_key *key)
{
	if (key)
		kref_put(&key->ref, acl_fabric_key_release);
}

int acl_fabric_proof(struct acl_fabric_key *key, bool listener,
		     const struct acl_fabric_binding *b, const u8 *nonce_c, const u8 *nonce_s,
		     u8 *proof)
{
	static const char label_l[] = "acl_share fabric v1 listener";
	static const char label_c[] = "acl_share fabric v1 client";
	SHASH_DESC_ON_STACK(desc, key->tfm);
	__le32 ids[4] = {
		cpu_to_le32(b->client), cpu_to_le32(b->server),
		cpu_to_le32(b->client_qpn), cpu_to_le32(b->server_qpn),
	};
	const u8 *first = listener ? nonce_c : nonce_s;
	const u8 *second = listener ? nonce_s : nonce_c;
	int ret;

	desc->tfm = key->tfm;
	ret = crypto_shash_init(desc);
	if (!ret)
		ret = listener ? crypto_shash_update(desc, label_l, sizeof(label_l)) :
				 crypto_shash_update(desc, label_c, sizeof(label_c));
	if (!ret)
		ret = crypto_shash_update(desc, (const u8 *)ids, sizeof(ids));
	if (!ret)
		ret = crypto_shash_update(desc, first, ACL_FABRIC_NONCE_LEN);
	if (!ret)
		ret = crypto_shash_update(desc, second, ACL_FABRIC_NONCE_LEN);
	if (!ret)
		ret = crypto_shash_final(desc, proof);
	shash_desc_zero(desc);
	return ret;
}
