// SPDX-License-Identifier: GPL-2.0
/*
 * acl_share_fabric: links between acl_share servers over the kernel's RDMA
 * stack (rdma_cm; RoCE, InfiniBand or soft-RoCE). Configured by root through
 * configfs (/sys/kernel/config/acl_share, config.c); connections and their
 * authentication in conn.c and auth.c. See docs/fabric.md.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>

#include "fabric.h"

struct acl_fabric acl_fabric;

static unsigned short acl_fabric_default_port = 18515;
module_param_named(port, acl_fabric_default_port, ushort, 0444);
MODULE_PARM_DESC(port, "rdma_cm port the servers listen on (default 18515; configfs 'port' changes it)");

unsigned int acl_fabric_connect_timeout_ms = 15000;
module_param_named(connect_timeout_ms, acl_fabric_connect_timeout_ms, uint, 0644);
MODULE_PARM_DESC(connect_timeout_ms, "How long a connect waits for an authenticated link (default 15000)");

unsigned int acl_fabric_handshake_timeout_ms = 10000;
module_param_named(handshake_timeout_ms, acl_fabric_handshake_timeout_ms, uint, 0644);
MODULE_PARM_DESC(handshake_timeout_ms, "Longest a connection may take to authenticate, and a ping to answer (default 10000)");

unsigned int acl_fabric_keepalive_ms = 1000;
module_param_named(keepalive_ms, acl_fabric_keepalive_ms, uint, 0644);
MODULE_PARM_DESC(keepalive_ms, "How often an idle link says it is alive (default 1000)");

unsigned int acl_fabric_peer_timeout_ms = 10000;
module_param_named(peer_timeout_ms, acl_fabric_peer_timeout_ms, uint, 0644);
MODULE_PARM_DESC(peer_timeout_ms, "A link that hears nothing for this long is closed (default 10000)");

unsigned int acl_fabric_read_burst_kb;
module_param_named(read_burst_kb, acl_fabric_read_burst_kb, uint, 0644);
MODULE_PARM_DESC(read_burst_kb, "Most KiB one RDMA READ piece of a copy asks for, rounded up to a page; pieces are 512 KiB at most (default 0: 64 on soft-RoCE, 512 otherwise)");

static int __init acl_fabric_init(void)
{
	int ret;

	if (!acl_fabric_default_port || !acl_fabric_keepalive_ms ||
	    acl_fabric_peer_timeout_ms < 2 * acl_fabric_keepalive_ms)
		return -EINVAL;
	mutex_init(&acl_fabric.config_lock);
	mutex_init(&acl_fabric.lock);
	xa_init(&acl_fabric.peers);
	acl_fabric.port = acl_fabric_default_port;
	acl_fabric.wq = alloc_workqueue("acl_fabric", WQ_UNBOUND, 0);
	if (!acl_fabric.wq)
		return -ENOMEM;
	ret = acl_fabric_config_init();
	if (ret)
		goto err_wq;
	ret = acl_fabric_import_init();
	if (ret)
		goto err_config;
	pr_info("server %u, port %u\n", acl_share_server_id(), acl_fabric.port);
	return 0;

err_config:
	acl_fabric_config_exit();
err_wq:
	destroy_workqueue(acl_fabric.wq);
	return ret;
}

static void __exit acl_fabric_exit(void)
{
	struct acl_fabric_key *key;

	/* no import is left (each held the module), nor a peer (each item did) */
	acl_fabric_import_exit();
	acl_fabric_config_exit();
	mutex_lock(&acl_fabric.config_lock);
	acl_fabric_stop_listening();
	mutex_unlock(&acl_fabric.config_lock);
	mutex_lock(&acl_fabric.lock);
	acl_fabric_close_all_locked(-ENODEV, "module unloaded");
	key = acl_fabric.key;
	acl_fabric.key = NULL;
	mutex_unlock(&acl_fabric.lock);
	/* connections of removed peers finish their release */
	destroy_workqueue(acl_fabric.wq);
	acl_fabric_key_put(key);
	xa_destroy(&acl_fabric.peers);
}

module_init(acl_fabric_init);
module_exit(acl_fabric_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("acl_share: authenticated links between servers over RDMA");
