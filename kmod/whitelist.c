// SPDX-License-Identifier: GPL-2.0
/*
 * The pid whitelist of an export.
 *
 * An entry names one process by an identity that pins nothing: its bare
 * tgid (the number in the initial pid namespace) and the start time of its
 * thread group leader. A process that later gets the same number has
 * another start time, so it is not whitelisted; a process that has exited
 * leaves 16 bytes behind and no struct pid, namespace or ucounts of its own.
 *
 * The entries are one array sorted by tgid (at most one entry per tgid: a
 * new process with the number replaces the old one), searched in
 * O(log n). SetPid allocates the new array with no lock held and fills it
 * by one merge under the lock held for reading (imports go on); the write
 * lock only swaps the two arrays. A SetPid that adds nothing new takes no
 * write lock, changes nothing and allocates nothing but its own copy of
 * the pids. The array is exactly as long as the list (16 B an entry, plus
 * the allocator's rounding) and charged to the exporter's memory cgroup;
 * when it is full, entries of processes that have exited are dropped to
 * make room.
 */
#include <linux/bsearch.h>
#include <linux/mm.h>
#include <linux/pid_namespace.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/sort.h>

#include "acl_share.h"

/* Caller holds rcu_read_lock(). See acl_tgid_alive(). */
static bool acl_tgid_alive_rcu(struct pid *pid)
{
	struct task_struct *task = pid_task(pid, PIDTYPE_TGID);

	return task && atomic_read(&task->signal->live) > 0;
}

/*
 * A process is alive while one of its threads has not yet exited: a zombie
 * waiting to be reaped is not, nor is a thread group whose last thread is
 * in do_exit().
 */
bool acl_tgid_alive(struct pid *pid)
{
	bool alive;

	rcu_read_lock();
	alive = acl_tgid_alive_rcu(pid);
	rcu_read_unlock();
	return alive;
}

/* The identity of the live process whose bare tgid is @nr; false if none. */
static bool acl_proc_id_of(s32 nr, struct acl_proc_id *id)
{
	struct task_struct *leader;
	struct pid *pid;
	bool ok = false;

	rcu_read_lock();
	pid = find_pid_ns(nr, &init_pid_ns);
	/* Only the tgid of a live process names one (not a thread, not a zombie). */
	if (pid && acl_tgid_alive_rcu(pid)) {
		leader = pid_task(pid, PIDTYPE_TGID);
		id->tgid = nr;
		id->__pad = 0;
		id->start = leader->start_time;
		ok = true;
	}
	rcu_read_unlock();
	return ok;
}

/* The calling process's identity. */
static void acl_proc_id_current(struct acl_proc_id *id)
{
	id->tgid = task_tgid_nr(current);
	id->__pad = 0;
	id->start = current->group_leader->start_time;
}

/* Is the process @id names still the live process of that number? */
static bool acl_proc_id_alive(const struct acl_proc_id *id)
{
	struct acl_proc_id now;

	return acl_proc_id_of(id->tgid, &now) && now.start == id->start;
}

static int acl_proc_id_cmp(const void *a, const void *b)
{
	const struct acl_proc_id *x = a, *y = b;

	if (x->tgid != y->tgid)
		return x->tgid < y->tgid ? -1 : 1;
	return 0;
}

void acl_whitelist_init(struct acl_whitelist *wl)
{
	init_rwsem(&wl->rwsem);
	wl->ids = NULL;
	wl->nr = 0;
	wl->remote = NULL;
	wl->nr_remote = 0;
	wl->gen = 0;
	wl->closed = false;
}

/* Nobody can be admitted any more: drop the entries (revocation). */
void acl_whitelist_close(struct acl_whitelist *wl)
{
	struct acl_remote_id *remote;
	struct acl_proc_id *ids;

	down_write(&wl->rwsem);
	wl->closed = true;
	ids = wl->ids;
	wl->ids = NULL;
	wl->nr = 0;
	remote = wl->remote;
	wl->remote = NULL;
	wl->nr_remote = 0;
	up_write(&wl->rwsem);
	kvfree(ids);
	kvfree(remote);
}

/* The last reference is gone. */
void acl_whitelist_destroy(struct acl_whitelist *wl)
{
	kvfree(wl->ids);
	wl->ids = NULL;
	kvfree(wl->remote);
	wl->remote = NULL;
}

/*
 * Entry of @tgid, or NULL; rwsem held. __inline_bsearch() rather than
 * bsearch(): inlined with a constant comparison, it makes no indirect call
 * per probe (a retpoline where the CPU needs one), 16 of them in a full
 * list, on every import and every SetPid.
 */
static struct acl_proc_id *acl_whitelist_find(const struct acl_whitelist *wl, u32 tgid)
{
	const struct acl_proc_id key = { .tgid = tgid };

	return __inline_bsearch(&key, wl->ids, wl->nr, sizeof(*wl->ids), acl_proc_id_cmp);
}

/**
 * acl_whitelist_admits - may the calling process import?
 * @wl: the export's whitelist
 *
 * Reading under the semaphore, an import sees a SetPid call whole or not
 * at all; imports do not exclude each other.
 *
 * Return: 0, -EPERM (not whitelisted) or -ENOENT (closed: revoked).
 */
int acl_whitelist_admits(struct acl_whitelist *wl)
{
	struct acl_proc_id me, *e;
	int ret;

	acl_proc_id_current(&me);
	down_read(&wl->rwsem);
	if (wl->closed) {
		ret = -ENOENT;
	} else {
		e = acl_whitelist_find(wl, me.tgid);
		ret = e && e->start == me.start ? 0 : -EPERM;
	}
	up_read(&wl->rwsem);
	return ret;
}

/*
 * How many of @ids (sorted, unique) have a tgid the list does not have
 * (*@changed: whether any is not listed as it is). rwsem held.
 */
static u32 acl_whitelist_count_new(const struct acl_whitelist *wl,
				   const struct acl_proc_id *ids, u32 num, bool *changed)
{
	const struct acl_proc_id *e;
	u32 i, fresh = 0;

	*changed = false;
	for (i = 0; i < num; i++) {
		e = acl_whitelist_find(wl, ids[i].tgid);
		if (!e)
			fresh++;
		if (!e || e->start != ids[i].start)
			*changed = true;
	}
	return fresh;
}

/*
 * Merges the sorted arrays @a (the list) and @b (new, unique) into @out;
 * an entry of @b replaces one of @a with the same tgid. Returns the count.
 * With @prune, entries of @a whose process has gone are left out.
 */
static unsigned int acl_whitelist_merge(struct acl_proc_id *out,
					const struct acl_proc_id *a, unsigned int na,
					const struct acl_proc_id *b, unsigned int nb, bool prune)
{
	unsigned int i = 0, j = 0, n = 0;

	while (i < na || j < nb) {
		if (j == nb || (i < na && a[i].tgid < b[j].tgid)) {
			if (!prune || acl_proc_id_alive(&a[i]))
				out[n++] = a[i];
			i++;
			if (!(i % 4096))
				cond_resched();
		} else {
			if (i < na && a[i].tgid == b[j].tgid)
				i++;
			out[n++] = b[j++];
		}
	}
	return n;
}

/*
 * Makes *@merged (room for @cap) the list of @wl with @ids (@k of them)
 * added; rwsem held for reading, so imports go on meanwhile. Return: the
 * new count, or -E2BIG (the list would be too long even without the
 * processes that have gone). *@pruned says whether any were left out.
 */
static int acl_whitelist_merge_all(const struct acl_whitelist *wl, struct acl_proc_id *merged,
				   const struct acl_proc_id *ids, u32 k, bool *pruned)
{
	unsigned int n;

	*pruned = false;
	n = acl_whitelist_merge(merged, wl->ids, wl->nr, ids, k, false);
	if (n <= acl_max_pids_per_handle)
		return n;
	/*
	 * A long-lived exporter serving short-lived importers would fill the
	 * list with the dead; they can never import again, so make room.
	 */
	*pruned = true;
	n = acl_whitelist_merge(merged, wl->ids, wl->nr, ids, k, true);
	return n <= acl_max_pids_per_handle ? n : -E2BIG;
}

/**
 * acl_whitelist_add - whitelist processes, all or nothing
 * @wl: the export's whitelist
 * @nrs: bare tgids (0 entries are ignored)
 * @num: how many, at most acl_max_pids_per_handle
 *
 * Return: 0; -ESRCH (a number names no live process), -E2BIG (the list
 * would exceed max_pids_per_handle even without its exited processes),
 * -ENOENT (closed: revoked meanwhile), -ENOMEM.
 */
int acl_whitelist_add(struct acl_whitelist *wl, const s32 *nrs, u32 num)
{
	struct acl_proc_id *ids, *merged = NULL, *old = NULL;
	unsigned int cap, n;
	u32 i, k = 0;
	int ret = 0;

	ids = kvmalloc_array(num, sizeof(*ids), GFP_KERNEL_ACCOUNT);
	if (!ids)
		return -ENOMEM;
	for (i = 0; i < num; i++) {
		if (!nrs[i])
			continue;
		if (nrs[i] < 0 || !acl_proc_id_of(nrs[i], &ids[k])) {
			ret = -ESRCH;
			goto out;
		}
		k++;
	}
	/* Sorted and unique (the same process listed twice counts once). */
	sort(ids, k, sizeof(*ids), acl_proc_id_cmp, NULL);
	for (i = 0, n = 0; i < k; i++)
		if (!n || ids[n - 1].tgid != ids[i].tgid)
			ids[n++] = ids[i];
	k = n;

	/*
	 * The write lock is held only to swap two pointers: the new array is
	 * allocated and filled before, the old one freed after. The
	 * generation says whether another SetPid swapped meanwhile.
	 */
	for (;;) {
		struct acl_proc_id *small;
		bool changed, pruned = false;
		u64 gen;
		int nr;

		down_read(&wl->rwsem);
		if (wl->closed)
			ret = -ENOENT;
		cap = wl->nr + acl_whitelist_count_new(wl, ids, k, &changed);
		if (!ret && !changed)
			ret = 1;	/* all listed already: nothing to do */
		gen = wl->gen;
		up_read(&wl->rwsem);
		if (ret)
			break;

		merged = kvmalloc_array(cap, sizeof(*merged), GFP_KERNEL_ACCOUNT);
		if (!merged) {
			ret = -ENOMEM;
			break;
		}
		down_read(&wl->rwsem);
		if (wl->closed)
			nr = -ENOENT;
		else if (wl->gen != gen)
			nr = -EAGAIN;	/* changed meanwhile: count again */
		else
			nr = acl_whitelist_merge_all(wl, merged, ids, k, &pruned);
		up_read(&wl->rwsem);
		if (nr == -EAGAIN) {
			kvfree(merged);
			merged = NULL;
			continue;
		}
		if (nr < 0) {
			ret = nr;
			break;
		}
		/* Pruned: keep the array no larger than twice its entries. */
		small = pruned && (unsigned int)nr * 2 < cap ?
			kvmalloc_array(nr, sizeof(*small), GFP_KERNEL_ACCOUNT) : NULL;
		if (small) {
			memcpy(small, merged, nr * sizeof(*small));
			swap(small, merged);
			kvfree(small);
		}

		down_write(&wl->rwsem);
		if (wl->closed) {
			ret = -ENOENT;
		} else if (wl->gen == gen) {
			old = wl->ids;
			wl->ids = merged;
			wl->nr = nr;
			wl->gen++;
			merged = NULL;
		}
		up_write(&wl->rwsem);
		if (ret || !merged)
			break;
		kvfree(merged);	/* lost the race to another SetPid: again */
		merged = NULL;
	}
	kvfree(merged);
	if (ret == 1)
		ret = 0;
	kvfree(old);
out:
	kvfree(ids);
	return ret;
}

/* ------------------------------------------------ processes of other servers */

static int acl_remote_id_cmp(const void *a, const void *b)
{
	const struct acl_remote_id *x = a, *y = b;

	if (x->server != y->server)
		return x->server < y->server ? -1 : 1;
	if (x->tgid != y->tgid)
		return x->tgid < y->tgid ? -1 : 1;
	return 0;
}

/**
 * acl_whitelist_admits_remote - may process @tgid of server @server import?
 * @wl: the export's whitelist
 * @server: the importing server (an authenticated peer)
 * @tgid: the importer's bare tgid on that server
 *
 * This server cannot tell which process holds @tgid there: the entry
 * admits whichever does when it imports (docs/fabric.md).
 *
 * Return: 0, -EPERM (not named) or -ENOENT (closed: revoked).
 */
int acl_whitelist_admits_remote(struct acl_whitelist *wl, u32 server, u32 tgid)
{
	struct acl_remote_id key = { .server = server, .tgid = tgid };
	int ret;

	down_read(&wl->rwsem);
	if (wl->closed)
		ret = -ENOENT;
	else
		ret = __inline_bsearch(&key, wl->remote, wl->nr_remote, sizeof(key),
				       acl_remote_id_cmp) ? 0 : -EPERM;
	up_read(&wl->rwsem);
	return ret;
}

/*
 * Would @num more entries fit? Checked before the local entries of the same
 * call are added, so that the call fails whole; 0, -E2BIG or -ENOENT.
 */
int acl_whitelist_check_remote(struct acl_whitelist *wl, u32 num)
{
	int ret = 0;

	down_read(&wl->rwsem);
	if (wl->closed)
		ret = -ENOENT;
	else if ((u64)wl->nr_remote + num > acl_max_pids_per_handle)
		ret = -E2BIG;
	up_read(&wl->rwsem);
	return ret;
}

/**
 * acl_whitelist_add_remote - name processes of other servers
 * @wl: the export's whitelist
 * @ids: (server, tgid) pairs, no server of them this one, no tgid 0
 * @num: how many
 *
 * The list is merged under the write lock: it is short (at most
 * max_pids_per_handle) and changed rarely, unlike the local one.
 *
 * Return: 0, -E2BIG (more than max_pids_per_handle entries), -ENOENT
 * (revoked meanwhile), -ENOMEM.
 */
int acl_whitelist_add_remote(struct acl_whitelist *wl, const struct acl_remote_id *ids, u32 num)
{
	struct acl_remote_id *sorted, *merged, *old = NULL;
	unsigned int i, j, n;
	int ret = 0;

	sorted = kvmalloc_array(num, sizeof(*sorted), GFP_KERNEL_ACCOUNT);
	if (!sorted)
		return -ENOMEM;
	memcpy(sorted, ids, array_size(num, sizeof(*ids)));
	sort(sorted, num, sizeof(*sorted), acl_remote_id_cmp, NULL);

	down_write(&wl->rwsem);
	if (wl->closed) {
		ret = -ENOENT;
		goto out_unlock;
	}
	merged = kvmalloc_array(wl->nr_remote + num, sizeof(*merged), GFP_KERNEL_ACCOUNT);
	if (!merged) {
		ret = -ENOMEM;
		goto out_unlock;
	}
	for (i = 0, j = 0, n = 0; i < wl->nr_remote || j < num;) {
		const struct acl_remote_id *next;

		if (j == num || (i < wl->nr_remote &&
				 acl_remote_id_cmp(&wl->remote[i], &sorted[j]) <= 0))
			next = &wl->remote[i++];
		else
			next = &sorted[j++];
		if (!n || acl_remote_id_cmp(&merged[n - 1], next))
			merged[n++] = *next;
	}
	if (n > acl_max_pids_per_handle) {
		kvfree(merged);
		ret = -E2BIG;
		goto out_unlock;
	}
	old = wl->remote;
	wl->remote = merged;
	wl->nr_remote = n;
out_unlock:
	up_write(&wl->rwsem);
	kvfree(old);
	kvfree(sorted);
	return ret;
}
