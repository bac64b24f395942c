// SPDX-License-Identifier: GPL-2.0
/*
 * Configuration by root at run time, in configfs as nvmet does it:
 *
 *   /sys/kernel/config/acl_share/
 *	cluster_key	write: the key as hex (16 to 64 bytes); "none" clears it.
 *			read: "set" or "unset", never the key.
 *	port		the rdma_cm port (changeable while no key is set)
 *	server_id	this server's id (acl_share.ko's server_id), read-only
 *	refused		incoming connections refused, and last_refusal: why
 *	peers/<id>/	mkdir adds server <id>, rmdir removes it (and closes its link)
 *		addr		its IPv4 address
 *		state		down, connecting, authenticating or up
 *		last_error	errno and reason of the last failure or close
 *		initiator	local or remote: which side made the connection
 *		established	authenticated connections made so far
 *		connect		write: connect, wait until authenticated; the error if not
 *		ping		write: one authenticated round trip; its time in rtt_ns
 *		disconnect	write: close the connection
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/ctype.h>
#include <linux/inet.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "fabric.h"

#define ACL_FABRIC_KEY_MIN	16
#define ACL_FABRIC_KEY_MAX	64

static struct acl_fabric_peer *to_peer(struct config_item *item)
{
	return container_of(to_config_group(item), struct acl_fabric_peer, group);
}

/* ------------------------------------------------------------ peers/<id> */

static ssize_t acl_peer_addr_show(struct config_item *item, char *page)
{
	struct acl_fabric_peer *peer = to_peer(item);
	ssize_t n;

	mutex_lock(&acl_fabric.lock);
	if (peer->addr.sin_family == AF_INET)
		n = sysfs_emit(page, "%pI4\n", &peer->addr.sin_addr);
	else
		n = sysfs_emit(page, "\n");
	mutex_unlock(&acl_fabric.lock);
	return n;
}

static ssize_t acl_peer_addr_store(struct config_item *item, const char *page, size_t count)
{
	struct acl_fabric_peer *peer = to_peer(item);
	const char *end;
	__be32 ip;

	if (!in4_pton(page, count, (u8 *)&ip, -1, &end) ||
	    (end != page + count && !(*end == '\n' && end + 1 == page + count)))
		return -EINVAL;
	if (ipv4_is_multicast(ip) || ipv4_is_lbcast(ip) || ipv4_is_zeronet(ip))
		return -EINVAL;
	mutex_lock(&acl_fabric.lock);
	if (peer->addr.sin_family != AF_INET || peer->addr.sin_addr.s_addr != ip) {
		acl_fabric_disconnect_locked(peer, 0, "its address changed");
		peer->addr.sin_family = AF_INET;
		peer->addr.sin_addr.s_addr = ip;
	}
	mutex_unlock(&acl_fabric.lock);
	return count;
}

static ssize_t acl_peer_state_show(struct config_item *item, char *page)
{
	static const char *const names[] = {
		[ACL_PEER_DOWN] = "down",
		[ACL_PEER_CONNECTING] = "connecting",
		[ACL_PEER_AUTHENTICATING] = "authenticating",
		[ACL_PEER_UP] = "up",
	};

	return sysfs_emit(page, "%s\n", names[READ_ONCE(to_peer(item)->state)]);
}

static ssize_t acl_peer_last_error_show(struct config_item *item, char *page)
{
	struct acl_fabric_peer *peer = to_peer(item);
	ssize_t n;

	mutex_lock(&acl_fabric.lock);
	n = sysfs_emit(page, "%d%s%s\n", peer->last_err, peer->last_reason[0] ? " " : "",
		       peer->last_reason);
	mutex_unlock(&acl_fabric.lock);
	return n;
}

static ssize_t acl_peer_initiator_show(struct config_item *item, char *page)
{
	struct acl_fabric_peer *peer = to_peer(item);
	ssize_t n;

	mutex_lock(&acl_fabric.lock);
	n = sysfs_emit(page, "%s\n", !peer->conn ? "none" :
		       acl_fabric_peer_initiated_locked(peer) ? "local" : "remote");
	mutex_unlock(&acl_fabric.lock);
	return n;
}

static ssize_t acl_peer_established_show(struct config_item *item, char *page)
{
	return sysfs_emit(page, "%llu\n", READ_ONCE(to_peer(item)->established));
}

static ssize_t acl_peer_rtt_ns_show(struct config_item *item, char *page)
{
	return sysfs_emit(page, "%llu\n", READ_ONCE(to_peer(item)->rtt_ns));
}

static ssize_t acl_peer_connect_store(struct config_item *item, const char *page, size_t count)
{
	int ret = acl_fabric_connect(to_peer(item));

	return ret ? ret : count;
}

static ssize_t acl_peer_ping_store(struct config_item *item, const char *page, size_t count)
{
	int ret = acl_fabric_ping(to_peer(item));

	return ret ? ret : count;
}

static ssize_t acl_peer_disconnect_store(struct config_item *item, const char *page,
					 size_t count)
{
	mutex_lock(&acl_fabric.lock);
	acl_fabric_disconnect_locked(to_peer(item), 0, "disconnected by the administrator");
	mutex_unlock(&acl_fabric.lock);
	return count;
}

CONFIGFS_ATTR(acl_peer_, addr);
CONFIGFS_ATTR_RO(acl_peer_, state);
CONFIGFS_ATTR_RO(acl_peer_, last_error);
CONFIGFS_ATTR_RO(acl_peer_, initiator);
CONFIGFS_ATTR_RO(acl_peer_, established);
CONFIGFS_ATTR_RO(acl_peer_, rtt_ns);
CONFIGFS_ATTR_WO(acl_peer_, connect);
CONFIGFS_ATTR_WO(acl_peer_, ping);
CONFIGFS_ATTR_WO(acl_peer_, disconnect);

static struct configfs_attribute *acl_peer_attrs[] = {
	&acl_peer_attr_addr,
	&acl_peer_attr_state,
	&acl_peer_attr_last_error,
	&acl_peer_attr_initiator,
	&acl_peer_attr_established,
	&acl_peer_attr_rtt_ns,
	&acl_peer_attr_connect,
	&acl_peer_attr_ping,
	&acl_peer_attr_disconnect,
	NULL,
};

static void acl_peer_release(struct config_item *item)
{
	kfree(to_peer(item));
}

static struct configfs_item_operations acl_peer_item_ops = {
	.release = acl_peer_release,
};

static const struct config_item_type acl_peer_type = {
	.ct_item_ops = &acl_peer_item_ops,
	.ct_attrs = acl_peer_attrs,
	.ct_owner = THIS_MODULE,
};

static struct config_group *acl_peers_make_group(struct config_group *group, const char *name)
{
	struct acl_fabric_peer *peer;
	u32 id;
	int ret;

	/* the name is the server id in decimal, as written: "1", not "01" */
	if (kstrtou32(name, 10, &id) || (name[0] == '0' && name[1]) || !isdigit(name[0]))
		return ERR_PTR(-EINVAL);
	if (id == acl_share_server_id())
		return ERR_PTR(-EINVAL);
	peer = kzalloc(sizeof(*peer), GFP_KERNEL);
	if (!peer)
		return ERR_PTR(-ENOMEM);
	peer->server_id = id;
	init_waitqueue_head(&peer->wait);
	config_group_init_type_name(&peer->group, name, &acl_peer_type);
	mutex_lock(&acl_fabric.lock);
	ret = xa_insert(&acl_fabric.peers, id, peer, GFP_KERNEL);
	mutex_unlock(&acl_fabric.lock);
	if (ret) {
		kfree(peer);
		return ERR_PTR(ret == -EBUSY ? -EEXIST : ret);
	}
	return &peer->group;
}

static void acl_peers_drop_item(struct config_group *group, struct config_item *item)
{
	struct acl_fabric_peer *peer = to_peer(item);

	mutex_lock(&acl_fabric.lock);
	peer->removed = true;
	xa_erase(&acl_fabric.peers, peer->server_id);
	acl_fabric_disconnect_locked(peer, -ENODEV, "removed from the peers");
	wake_up_all(&peer->wait);
	mutex_unlock(&acl_fabric.lock);
	config_item_put(item);
}

static struct configfs_group_operations acl_peers_group_ops = {
	.make_group = acl_peers_make_group,
	.drop_item = acl_peers_drop_item,
};

static const struct config_item_type acl_peers_type = {
	.ct_group_ops = &acl_peers_group_ops,
	.ct_owner = THIS_MODULE,
};

/* ------------------------------------------------------------ the root */

static ssize_t acl_root_cluster_key_show(struct config_item *item, char *page)
{
	return sysfs_emit(page, "%s\n", READ_ONCE(acl_fabric.key) ? "set" : "unset");
}

static ssize_t acl_root_set_key(struct acl_fabric_key *key)
{
	struct acl_fabric_key *old;
	int ret = 0;

	mutex_lock(&acl_fabric.config_lock);
	if (key)
		ret = acl_fabric_listen();
	if (ret) {
		mutex_unlock(&acl_fabric.config_lock);
		acl_fabric_key_put(key);
		return ret;
	}
	mutex_lock(&acl_fabric.lock);
	/* connections authenticated with the old key end */
	acl_fabric_close_all_locked(0, "the cluster key changed");
	old = acl_fabric.key;
	acl_fabric.key = key;
	mutex_unlock(&acl_fabric.lock);
	if (!key)
		acl_fabric_stop_listening();
	mutex_unlock(&acl_fabric.config_lock);
	acl_fabric_key_put(old);
	return 0;
}

static ssize_t acl_root_cluster_key_store(struct config_item *item, const char *page,
					  size_t count)
{
	size_t len = count;
	u8 bytes[ACL_FABRIC_KEY_MAX];
	struct acl_fabric_key *key;
	ssize_t ret;

	if (len && page[len - 1] == '\n')
		len--;
	if (len == 4 && !memcmp(page, "none", 4)) {
		ret = acl_root_set_key(NULL);
		return ret ? ret : count;
	}
	if (len % 2 || len < 2 * ACL_FABRIC_KEY_MIN || len > 2 * ACL_FABRIC_KEY_MAX)
		return -EINVAL;
	ret = hex2bin(bytes, page, len / 2);
	key = ret ? ERR_PTR(-EINVAL) : acl_fabric_key_new(bytes, len / 2);
	memzero_explicit(bytes, sizeof(bytes));
	if (IS_ERR(key))
		return PTR_ERR(key);
	ret = acl_root_set_key(key);
	return ret ? ret : count;
}

static ssize_t acl_root_port_show(struct config_item *item, char *page)
{
	return sysfs_emit(page, "%u\n", READ_ONCE(acl_fabric.port));
}

static ssize_t acl_root_port_store(struct config_item *item, const char *page, size_t count)
{
	u16 port;
	int ret;

	ret = kstrtou16(page, 10, &port);
	if (ret || !port)
		return -EINVAL;
	mutex_lock(&acl_fabric.config_lock);
	mutex_lock(&acl_fabric.lock);
	if (acl_fabric.listener)
		ret = -EBUSY;
	else
		acl_fabric.port = port;
	mutex_unlock(&acl_fabric.lock);
	mutex_unlock(&acl_fabric.config_lock);
	return ret ? ret : count;
}

static ssize_t acl_root_server_id_show(struct config_item *item, char *page)
{
	return sysfs_emit(page, "%u\n", acl_share_server_id());
}

static ssize_t acl_root_refused_show(struct config_item *item, char *page)
{
	return sysfs_emit(page, "%llu\n", READ_ONCE(acl_fabric.refused));
}

static ssize_t acl_root_last_refusal_show(struct config_item *item, char *page)
{
	ssize_t n;

	mutex_lock(&acl_fabric.lock);
	n = sysfs_emit(page, "%s\n", acl_fabric.last_refusal);
	mutex_unlock(&acl_fabric.lock);
	return n;
}

CONFIGFS_ATTR(acl_root_, cluster_key);
CONFIGFS_ATTR(acl_root_, port);
CONFIGFS_ATTR_RO(acl_root_, server_id);
CONFIGFS_ATTR_RO(acl_root_, refused);
CONFIGFS_ATTR_RO(acl_root_, last_refusal);

static struct configfs_attribute *acl_root_attrs[] = {
	&acl_root_attr_cluster_key,
	&acl_root_attr_port,
	&acl_root_attr_server_id,
	&acl_root_attr_refused,
	&acl_root_attr_last_refusal,
	NULL,
};

static const struct config_item_type acl_root_type = {
	.ct_attrs = acl_root_attrs,
	.ct_owner = THIS_MODULE,
};

static struct configfs_subsystem acl_fabric_subsys = {
	.su_group = {
		.cg_item = {
			.ci_namebuf = "acl_share",
			.ci_type = &acl_root_type,
		},
	},
};

static struct config_group acl_peers_group;

int acl_fabric_config_init(void)
{
	config_group_init(&acl_fabric_subsys.su_group);
	mutex_init(&acl_fabric_subsys.su_mutex);
	config_group_init_type_name(&acl_peers_group, "peers", &acl_peers_type);
	configfs_add_default_group(&acl_peers_group, &acl_fabric_subsys.su_group);
	return configfs_register_subsystem(&acl_fabric_subsys);
}

void acl_fabric_config_exit(void)
{
	configfs_unregister_subsystem(&acl_fabric_subsys);
}
