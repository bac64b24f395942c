// SPDX-License-Identifier: GPL-2.0
/*
 * Per-process detail, for root only: /sys/kernel/debug/acl_share/clients
 * lists every open file of /dev/acl_share with the process that owns it and
 * what it holds, one tab-separated line per file; the comm has its tabs,
 * newlines and backslashes escaped as \ooo (tools/acl-share-stat.c parses it).
 * Unprivileged users see only the aggregate counters (stats.c); debugfs
 * itself is not accessible to them.
 */
#include <linux/debugfs.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/seq_file.h>

#include "acl_share.h"

static LIST_HEAD(acl_clients);
static DEFINE_MUTEX(acl_clients_lock);	/* protects acl_clients */
static struct dentry *acl_debugfs_dir;

void acl_clients_add(struct acl_ctx *ctx)
{
	mutex_lock(&acl_clients_lock);
	list_add_tail(&ctx->node, &acl_clients);
	mutex_unlock(&acl_clients_lock);
}

void acl_clients_del(struct acl_ctx *ctx)
{
	mutex_lock(&acl_clients_lock);
	list_del(&ctx->node);
	mutex_unlock(&acl_clients_lock);
}

static void acl_client_show(struct seq_file *m, struct acl_ctx *ctx)
{
	unsigned int handles = 0, imports = 0, exports = 0;
	struct task_struct *task;
	char comm[TASK_COMM_LEN] = "-";
	struct acl_handle *h;
	unsigned long id;
	u64 bytes = 0;

	task = get_pid_task(ctx->owner, PIDTYPE_TGID);
	if (task) {
		get_task_comm(comm, task);
		put_task_struct(task);
	}

	mutex_lock(&ctx->lock);
	xa_for_each(&ctx->handles, id, h) {
		handles++;
		if (h->source || h->remote)
			imports++;
		else
			bytes += h->phys->length;
		if (h->export)
			exports++;
	}
	mutex_unlock(&ctx->lock);

	/*
	 * The comm is anything a task named itself (PR_SET_NAME): tabs, newlines and
	 * backslashes are printed as octal escapes (\ooo), so that it cannot end its
	 * field or its line.
	 */
	seq_printf(m, "%d\t", pid_nr(ctx->owner));
	seq_escape(m, comm, "\t\n\\");
	seq_printf(m, "\t%u\t%u\t%u\t%llu\n", handles, exports, imports, bytes);
}

static int acl_clients_show(struct seq_file *m, void *unused)
{
	struct acl_ctx *ctx;

	seq_puts(m, "tgid\tcomm\thandles\texports\timports\tallocated_bytes\n");
	mutex_lock(&acl_clients_lock);
	list_for_each_entry(ctx, &acl_clients, node)
		acl_client_show(m, ctx);
	mutex_unlock(&acl_clients_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(acl_clients);

void acl_clients_init(void)
{
	/* Optional: without debugfs there is no per-process detail. */
	acl_debugfs_dir = debugfs_create_dir("acl_share", NULL);
	debugfs_create_file("clients", 0400, acl_debugfs_dir, NULL, &acl_clients_fops);
}

void acl_clients_exit(void)
{
	debugfs_remove(acl_debugfs_dir);
}
