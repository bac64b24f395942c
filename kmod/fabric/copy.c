// SPDX-License-Identifier: GPL-2.0
/*
 * Copies to and from the memory of a remote import (docs/fabric.md, step 3).
 *
 * Exporter: the pages of a holder are registered for the peer on demand,
 * one window at a time (a memory registration covers at most the device's
 * fast-registration page list: 512 pages here, 2 MiB of 4 KiB pages): the
 * importer asks with MR_REQ {holder, window}; the exporter maps the window's
 * pages, posts a REG_MR work request once the send queue is empty (and
 * nothing else until it completes: see acl_fabric_conn) and answers MR_OK
 * {iova, length, rkey} when it has completed, so the key is valid before
 * the answer leaves. The key admits remote READ and WRITE of that window only;
 * every registration of a holder goes with it (RELEASE, or the link's end).
 *
 * Importer: a copy is cut into pieces that lie in one window and are at most
 * ACL_COPY_PIECE long (less where the device takes fewer scatter entries a
 * request, and READs of soft-RoCE: acl_read_burst()); for each, the user's
 * pages are pinned, then one RDMA READ or WRITE (rdma_rw: as many work
 * requests as the scatter list needs) is posted and waited for. Pieces of
 * one link take turns (copy_lock, taken after the pinning, which may wait on
 * the user's memory); the link's release waits until no piece uses its
 * queue pair. A failed transfer closes the link: the peer's state is no
 * longer known.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <rdma/rw.h>

#include "fabric.h"

#define ACL_COPY_PIECE		SZ_512K	/* at most 129 scatter entries: 9 work requests */
#define ACL_RXE_READ_BURST	SZ_64K	/* a READ's answer on soft-RoCE: see acl_read_burst() */
#define ACL_MR_PAGES		512U	/* pages one registration covers, at most */

/* Exporter: one registered window of a holder. */
struct acl_fabric_mr {
	struct ib_cqe cqe;		/* of its REG_MR */
	struct acl_fabric_conn *conn;	/* no reference: freed before the link */
	struct acl_fabric_holder *fh;	/* kept while its REG_MR is in flight */
	struct ib_mr *mr;
	struct sg_table sgt;
	int nents;			/* DMA-mapped entries */
	struct list_head queued;	/* on conn->reg_queue until posted */
	__le64 seq;			/* of the MR_REQ it answers once registered */
	bool reg_pending;		/* queued or posted, not completed */
	bool posted;			/* its REG_MR is in the send queue */
	bool orphan;			/* its holder went first: free on completion */
};

/* Importer: a window's key, as the exporter gave it. */
struct acl_fabric_window {
	u64 iova;
	u32 rkey;
};

/*
 * Bytes one registration of this link's device covers (a whole number of
 * pages): one page less than its page list holds. Each MR is allocated with
 * room for one page more than it maps: soft-RoCE before 6.4 (rxe_mr_copy)
 * reads the next map of the page list when an access ends exactly at the end
 * of one, past the array if the MR is full (KASAN saw it on 6.1).
 */
u64 acl_fabric_window_bytes(struct acl_fabric_conn *conn)
{
	u32 pages = min(conn->cm_id->device->attrs.max_fast_reg_page_list_len, ACL_MR_PAGES);

	return pages > 1 ? (u64)(pages - 1) << PAGE_SHIFT : 0;
}

/* ------------------------------------------------------------ exporter */

static void acl_mr_free(struct acl_fabric_mr *m)
{
	struct ib_device *dev = m->conn->cm_id->device;

	ib_dereg_mr(m->mr);
	ib_dma_unmap_sg(dev, m->sgt.sgl, m->sgt.orig_nents, DMA_BIDIRECTIONAL);
	sg_free_table(&m->sgt);
	kfree(m);
}

/* The holder's reference on the allocation goes with the holder's last MR. */
static void acl_holder_final(struct acl_fabric_holder *fh)
{
	acl_share_remote_put(fh->h);
	kfree(fh);
}

/* MR_OK with @m's key, or MR_ERR with @code, as the answer to @seq. */
static void acl_mr_answer(struct acl_fabric_conn *conn, __le64 seq, struct acl_fabric_mr *m,
			  u32 code)
{
	struct acl_fabric_msg reply = { .seq = seq };

	if (m) {
		reply.type = cpu_to_le16(ACL_FABRIC_MSG_MR_OK);
		reply.mr_ok.iova = cpu_to_le64(m->mr->iova);
		reply.mr_ok.length = cpu_to_le64(m->mr->length);
		reply.mr_ok.rkey = cpu_to_le32(m->mr->rkey);
	} else {
		reply.type = cpu_to_le16(ACL_FABRIC_MSG_MR_ERR);
		reply.import_err.err = cpu_to_le32(code);
	}
	if (acl_conn_send(conn, &reply))
		acl_conn_closef(conn, -ECONNRESET, "cannot answer server %u's registration",
				conn->peer->server_id);
}

static void acl_reg_done(struct ib_cq *cq, struct ib_wc *wc)
{
	struct acl_fabric_mr *m = container_of(wc->wr_cqe, struct acl_fabric_mr, cqe);
	struct acl_fabric_conn *conn = m->conn;
	struct acl_fabric_holder *fh = m->fh;

	mutex_lock(&acl_fabric.lock);
	m->reg_pending = false;
	conn->reg_posted = false;
	conn->sq_out--;
	conn->regs--;
	fh->regs--;
	if (wc->status != IB_WC_SUCCESS) {
		/* flushed while up too: the queue pair is in error, the link is over */
		if (conn->state != ACL_CONN_CLOSING)
			acl_conn_closef(conn, -EIO, "a registration for server %u failed: %s",
					conn->peer->server_id, ib_wc_status_msg(wc->status));
	} else if (!m->orphan && conn->state != ACL_CONN_CLOSING) {
		acl_mr_answer(conn, m->seq, m, 0);	/* the key is valid now */
	}
	if (m->orphan)
		acl_mr_free(m);
	if (fh->gone && !fh->regs)
		acl_holder_final(fh);
	acl_conn_pump(conn);
	mutex_unlock(&acl_fabric.lock);
}

/* Posts the oldest queued registration's REG_MR; the send queue is empty. */
int acl_fabric_reg_post(struct acl_fabric_conn *conn)
{
	struct acl_fabric_mr *m = list_first_entry(&conn->reg_queue, struct acl_fabric_mr, queued);
	struct ib_reg_wr reg = {};
	int ret;

	lockdep_assert_held(&acl_fabric.lock);
	reg.wr.opcode = IB_WR_REG_MR;
	reg.wr.wr_cqe = &m->cqe;
	reg.wr.send_flags = IB_SEND_SIGNALED;
	reg.mr = m->mr;
	reg.key = m->mr->rkey;
	reg.access = IB_ACCESS_LOCAL_WRITE | IB_ACCESS_REMOTE_READ | IB_ACCESS_REMOTE_WRITE;
	ret = ib_post_send(conn->cm_id->qp, &reg.wr, NULL);
	if (ret)
		return ret;
	list_del_init(&m->queued);
	m->posted = true;
	conn->reg_posted = true;
	conn->sq_out++;
	return 0;
}

/*
 * The holder goes (RELEASE, the link's end). A registration still queued
 * for the send queue goes at once, never posted; one in flight goes when
 * its REG_MR completes, and the holder's reference on the
 * allocation with the last of them: until then the device may still make a
 * key valid for those pages, which must not be freed before it is undone.
 */
void acl_fabric_holder_free(struct acl_fabric_holder *fh)
{
	struct acl_fabric_mr *m;
	unsigned long w;

	xa_for_each(&fh->mrs, w, m) {
		if (m->reg_pending && !m->posted) {
			/* still waiting for the send queue: it never will be posted */
			list_del(&m->queued);
			m->conn->regs--;
			fh->regs--;
			acl_mr_free(m);
		} else if (m->reg_pending) {
			m->orphan = true;
		} else {
			acl_mr_free(m);
		}
	}
	xa_destroy(&fh->mrs);
	if (fh->regs)
		fh->gone = true;
	else
		acl_holder_final(fh);
}

/* The scatter list of bytes [start, start + len) of the holder's allocation. */
static int acl_window_sg(struct acl_fabric_holder *fh, u64 start, u64 len, struct sg_table *sgt)
{
	struct scatterlist *sg;
	unsigned int n = 0;
	struct page *head;
	u64 pos, piece;
	u32 chunk;
	int ret;

	/* entries end at chunk boundaries: count them first */
	acl_share_remote_chunk(fh->h, 0, &chunk);
	for (pos = start; pos < start + len; pos += piece) {
		piece = min_t(u64, chunk - pos % chunk, start + len - pos);
		n++;
	}
	ret = sg_alloc_table(sgt, n, GFP_KERNEL);
	if (ret)
		return ret;
	sg = sgt->sgl;
	for (pos = start; pos < start + len; pos += piece) {
		piece = min_t(u64, chunk - pos % chunk, start + len - pos);
		head = acl_share_remote_chunk(fh->h, pos / chunk, &chunk);
		if (!head) {
			sg_free_table(sgt);
			return -EINVAL;
		}
		sg_set_page(sg, nth_page(head, (pos % chunk) >> PAGE_SHIFT), piece, 0);
		sg = sg_next(sg);
	}
	return 0;
}

/*
 * Prepares window @w of @fh for the peer (pages mapped, MR allocated and
 * mapped) and queues its REG_MR for an empty send queue; 0 or an errno.
 */
static int acl_window_register(struct acl_fabric_conn *conn, struct acl_fabric_holder *fh,
			       u64 w, __le64 seq, struct acl_fabric_mr **out)
{
	struct ib_device *dev = conn->cm_id->device;
	u64 start = w * fh->window, len = min(fh->window, fh->length - start);
	struct acl_fabric_mr *m;
	int ret, n;

	m = kzalloc(sizeof(*m), GFP_KERNEL);
	if (!m)
		return -ENOMEM;
	m->conn = conn;
	m->fh = fh;
	m->seq = seq;
	m->cqe.done = acl_reg_done;
	INIT_LIST_HEAD(&m->queued);
	ret = acl_window_sg(fh, start, len, &m->sgt);
	if (ret)
		goto err_free;
	m->nents = ib_dma_map_sg(dev, m->sgt.sgl, m->sgt.orig_nents, DMA_BIDIRECTIONAL);
	if (!m->nents) {
		ret = -EIO;
		goto err_sg;
	}
	m->mr = ib_alloc_mr(conn->pd, IB_MR_TYPE_MEM_REG, (len >> PAGE_SHIFT) + 1);
	if (IS_ERR(m->mr)) {
		ret = PTR_ERR(m->mr);
		goto err_unmap;
	}
	n = ib_map_mr_sg(m->mr, m->sgt.sgl, m->nents, NULL, PAGE_SIZE);
	if (n != m->nents) {
		ret = n < 0 ? n : -EINVAL;
		goto err_mr;
	}
	ib_update_fast_reg_key(m->mr, ib_inc_rkey(m->mr->rkey));
	m->reg_pending = true;
	list_add_tail(&m->queued, &conn->reg_queue);
	conn->regs++;
	fh->regs++;
	*out = m;
	return 0;

err_mr:
	ib_dereg_mr(m->mr);
err_unmap:
	ib_dma_unmap_sg(dev, m->sgt.sgl, m->sgt.orig_nents, DMA_BIDIRECTIONAL);
err_sg:
	sg_free_table(&m->sgt);
err_free:
	kfree(m);
	return ret;
}

/*
 * MR_REQ {holder, window}: the window's key, at once if it is registered,
 * else once its REG_MR has completed (acl_reg_done answers).
 */
void acl_fabric_mr_req(struct acl_fabric_conn *conn, const struct acl_fabric_msg *msg)
{
	u64 id = le64_to_cpu(msg->mr_req.holder), w = le64_to_cpu(msg->mr_req.window);
	struct acl_fabric_holder *fh = NULL;
	struct acl_fabric_mr *m = NULL;
	int ret = -ENOENT;

	if (id && id <= U32_MAX)
		fh = xa_load(&conn->holders, id);
	if (fh && fh->window && w < DIV_ROUND_UP(fh->length, fh->window)) {
		m = xa_load(&fh->mrs, w);
		if (m && m->reg_pending) {
			/* asked again (the first asker gave up): the newest gets the answer */
			m->seq = msg->seq;
			return;
		} else if (m) {
			ret = 0;
		} else if (conn->regs >= ACL_FABRIC_REGS) {
			/* an importer asks one window at a time: more in flight is not one */
			ret = -EBUSY;
		} else {
			ret = acl_window_register(conn, fh, w, msg->seq, &m);
			if (!ret) {
				ret = xa_err(xa_store(&fh->mrs, w, m, GFP_KERNEL));
				if (ret) {
					list_del(&m->queued);
					conn->regs--;
					fh->regs--;
					acl_mr_free(m);
				} else {
					acl_conn_pump(conn);
					return;		/* answered once registered */
				}
			}
		}
	}
	if (ret)
		acl_mr_answer(conn, msg->seq, NULL, ret == -ENOENT ? ACL_FABRIC_IMPORT_NOENT :
			      ACL_FABRIC_IMPORT_NOMEM);
	else
		acl_mr_answer(conn, msg->seq, m, 0);
}

/* ------------------------------------------------------------ importer */

void acl_fabric_windows_free(struct acl_fabric_import *imp)
{
	struct acl_fabric_window *win;
	unsigned long w;

	xa_for_each(&imp->windows, w, win)
		kfree(win);
	xa_destroy(&imp->windows);
}

/* The key of window @w, asked of the exporter the first time; copy_lock held. */
static int acl_window_get(struct acl_fabric_import *imp, u64 w, struct acl_fabric_window **out)
{
	struct acl_fabric_msg msg = {
		.type = cpu_to_le16(ACL_FABRIC_MSG_MR_REQ),
	};
	struct acl_fabric_request req = {};
	struct acl_fabric_window *win;
	int ret;

	win = xa_load(&imp->windows, w);
	if (win) {
		*out = win;
		return 0;
	}
	msg.mr_req.holder = cpu_to_le64(imp->holder);
	msg.mr_req.window = cpu_to_le64(w);
	ret = acl_fabric_ask(imp->conn, &msg, &req, true);
	if (ret)
		return ret;
	if (req.length != min(imp->window, imp->length - w * imp->window))
		return -EPROTO;
	win = kmalloc(sizeof(*win), GFP_KERNEL);
	if (!win)
		return -ENOMEM;
	win->iova = req.iova;
	win->rkey = req.rkey;
	ret = xa_err(xa_store(&imp->windows, w, win, GFP_KERNEL));
	if (ret) {
		kfree(win);
		return ret;
	}
	*out = win;
	return 0;
}

struct acl_copy_wait {
	struct ib_cqe cqe;
	struct completion done;
	enum ib_wc_status status;
};

static void acl_copy_done(struct ib_cq *cq, struct ib_wc *wc)
{
	struct acl_copy_wait *cw = container_of(wc->wr_cqe, struct acl_copy_wait, cqe);

	cw->status = wc->status;
	complete(&cw->done);
}

/* The scatter list of a piece: the pinned user pages, or @fill over and over. */
static int acl_piece_sg(u32 op, u64 uptr, u32 len, struct page *fill, struct page **pages,
			unsigned int *npages, struct sg_table *sgt)
{
	unsigned int off = offset_in_page(uptr), i;
	struct scatterlist *sg;
	int pinned, ret;

	*npages = 0;
	if (op == ACL_SHARE_COPY_FILL) {
		ret = sg_alloc_table(sgt, DIV_ROUND_UP(len, PAGE_SIZE), GFP_KERNEL);
		if (ret)
			return ret;
		for_each_sg(sgt->sgl, sg, sgt->orig_nents, i)
			sg_set_page(sg, fill, min_t(u32, PAGE_SIZE, len - i * PAGE_SIZE), 0);
		return 0;
	}
	pinned = pin_user_pages_fast(uptr & PAGE_MASK, DIV_ROUND_UP(off + len, PAGE_SIZE),
				     op == ACL_SHARE_COPY_READ ? FOLL_WRITE : 0, pages);
	if (pinned <= 0)
		return pinned ? pinned : -EFAULT;
	*npages = pinned;
	if (pinned != DIV_ROUND_UP(off + len, PAGE_SIZE))
		return -EFAULT;
	return sg_alloc_table_from_pages(sgt, pages, pinned, off, len, GFP_KERNEL);
}

/* Gives the queue pair back; the last piece lets the link's release go on. */
static void acl_piece_done(struct acl_fabric_conn *conn)
{
	mutex_lock(&acl_fabric.lock);
	conn->sq_out--;
	if (!--conn->copies) {
		smp_mb();	/* the count before the waiter's check (wake_up_var) */
		wake_up_var(&conn->copies);
	}
	acl_conn_pump(conn);
	mutex_unlock(&acl_fabric.lock);
}

/* The link ended, or no registration waits for the send queue. */
static bool acl_piece_may_post(struct acl_fabric_conn *conn)
{
	return READ_ONCE(conn->state) != ACL_CONN_UP || !acl_sq_fenced(conn);
}

/*
 * One READ or WRITE of the scatter list @sg at the exporter's @raddr, and its
 * wait; copy_lock held. Returns 0, -ENOLINK, -EIO or rdma_rw's errno.
 */
static int acl_copy_post(struct acl_fabric_conn *conn, u32 op, u64 raddr, u32 rkey,
			 struct sg_table *sgt)
{
	enum dma_data_direction dir = op == ACL_SHARE_COPY_READ ? DMA_FROM_DEVICE :
				      DMA_TO_DEVICE;
	struct acl_copy_wait cw;
	struct rdma_rw_ctx ctx;
	struct ib_qp *qp;
	u32 port;
	int ret;

	init_completion(&cw.done);
	cw.cqe.done = acl_copy_done;
	mutex_lock(&acl_fabric.lock);
	/* a registration waits for the send queue: so does this piece (short) */
	while (conn->state == ACL_CONN_UP && acl_sq_fenced(conn)) {
		mutex_unlock(&acl_fabric.lock);
		wait_var_event(&conn->sq_out, acl_piece_may_post(conn));
		mutex_lock(&acl_fabric.lock);
	}
	if (conn->state != ACL_CONN_UP) {
		mutex_unlock(&acl_fabric.lock);
		return -ENOLINK;
	}
	/* up: its release has not begun, and waits for conn->copies once it has */
	qp = conn->cm_id->qp;
	port = conn->cm_id->port_num;
	ret = rdma_rw_ctx_init(&ctx, qp, port, sgt->sgl, sgt->orig_nents, 0, raddr, rkey, dir);
	if (ret < 0) {
		mutex_unlock(&acl_fabric.lock);
		return ret;
	}
	conn->copies++;		/* the queue pair stays until the requests are done */
	conn->sq_out++;
	ret = rdma_rw_ctx_post(&ctx, qp, port, &cw.cqe, NULL);
	if (ret) {
		/*
		 * The requests before the one refused are posted and use the
		 * pages: end the link and let its release drain them first.
		 */
		acl_conn_closef(conn, -EIO, "cannot post a copy to server %u",
				conn->peer->server_id);
		mutex_unlock(&acl_fabric.lock);
		wait_var_event(&conn->drained, READ_ONCE(conn->drained));
		rdma_rw_ctx_destroy(&ctx, qp, port, sgt->sgl, sgt->orig_nents, dir);
		acl_piece_done(conn);
		return -EIO;
	}
	mutex_unlock(&acl_fabric.lock);

	/* bounded: a dead peer fails the requests, or the link's end flushes them */
	wait_for_completion(&cw.done);
	rdma_rw_ctx_destroy(&ctx, qp, port, sgt->sgl, sgt->orig_nents, dir);
	ret = 0;
	if (cw.status != IB_WC_SUCCESS) {
		mutex_lock(&acl_fabric.lock);
		ret = conn->state == ACL_CONN_CLOSING ? -ENOLINK : -EIO;
		if (ret == -EIO)
			acl_conn_closef(conn, -EIO, "a copy with server %u failed: %s",
					conn->peer->server_id, ib_wc_status_msg(cw.status));
		mutex_unlock(&acl_fabric.lock);
	}
	acl_piece_done(conn);
	return ret;
}

/*
 * One piece: @len bytes at @offset of the import, within one window. The
 * user's pages are pinned before copy_lock is taken: a pin may wait on the
 * user's memory (userfaultfd, a FUSE file), which must not hold up the
 * link's other copies.
 */
static int acl_copy_piece(struct acl_fabric_import *imp, u32 op, u64 offset, u64 uptr, u32 len,
			  struct page *fill, struct page **pages)
{
	struct acl_fabric_conn *conn = imp->conn;
	struct acl_fabric_window *win;
	struct sg_table sgt = {};
	unsigned int npages;
	int ret;

	ret = acl_piece_sg(op, uptr, len, fill, pages, &npages, &sgt);
	if (ret)
		goto out_unpin;
	if (mutex_lock_killable(&conn->copy_lock)) {
		ret = -EINTR;
		goto out_sg;
	}
	ret = acl_window_get(imp, offset / imp->window, &win);
	if (!ret)
		ret = acl_copy_post(conn, op, win->iova + offset % imp->window, win->rkey, &sgt);
	mutex_unlock(&conn->copy_lock);
out_sg:
	sg_free_table(&sgt);
out_unpin:
	/* a READ that failed part-way may still have written some of them */
	if (npages)
		unpin_user_pages_dirty_lock(pages, npages, op == ACL_SHARE_COPY_READ);
	return ret;
}

/*
 * The most a READ piece asks for at once. The answer to an RDMA READ comes
 * back as one burst of packets: a hardware RNIC (RoCE, InfiniBand) paces it,
 * usually onto a lossless fabric, but soft-RoCE's responder sends the whole
 * answer at once onto plain Ethernet, and the NIC, switch or socket that
 * overflows drops its tail. The lost tail is only asked for again when the
 * requester's ACK timer expires (67 ms, ACL_FABRIC_ACK_TIMEOUT), again and
 * again while the bursts stay large: measured between two guests, 16 MiB
 * took 4.4 s to read in 512 KiB pieces and 0.58 s in 64 KiB ones (WRITEs are
 * paced by the sender and need no such limit). read_burst_kb overrides the
 * choice.
 */
static u64 acl_read_burst(struct ib_device *dev)
{
	unsigned int kb = READ_ONCE(acl_fabric_read_burst_kb);

	if (kb)
		return (u64)kb << 10;
	return dev->ops.driver_id == RDMA_DRIVER_RXE ? ACL_RXE_READ_BURST : ACL_COPY_PIECE;
}

/*
 * The longest piece of @op this link's device carries in ACL_FABRIC_RW_CTXS
 * requests (a piece of n pages at any offset has at most n + 1 entries), and
 * for READ, at most acl_read_burst(); at least a page.
 */
static u32 acl_piece_max(struct acl_fabric_conn *conn, u32 op)
{
	u64 most = 0;
	u32 sge = 0;

	mutex_lock(&acl_fabric.lock);
	if (conn->state == ACL_CONN_UP)
		sge = min(conn->cm_id->qp->max_read_sge, conn->cm_id->qp->max_write_sge);
	if (sge) {
		most = min_t(u64, ACL_COPY_PIECE,
			     (u64)(ACL_FABRIC_RW_CTXS * sge - 1) << PAGE_SHIFT);
		if (op == ACL_SHARE_COPY_READ)
			most = min(most, acl_read_burst(conn->cm_id->device));
	}
	mutex_unlock(&acl_fabric.lock);
	return most ? max_t(u64, most, PAGE_SIZE) : 0;
}

/**
 * acl_fabric_copy - the copy of an ACL_SHARE_IOC_COPY on a remote import
 * @cookie: the import
 * @op: ACL_SHARE_COPY_*
 * @offset: in the import's memory; with @length checked by acl_share.ko
 * @length: bytes
 * @uptr: the user buffer (READ, WRITE)
 * @value: the byte of FILL
 *
 * Return: 0, -ENOLINK (the import's link has ended), -EIO (a transfer
 * failed), -EFAULT, -EINTR (a fatal signal between pieces), -EPROTO, -ENOMEM.
 */
int acl_fabric_copy(void *cookie, u32 op, u64 offset, u64 length, u64 uptr, u8 value)
{
	struct acl_fabric_import *imp = cookie;
	struct acl_fabric_conn *conn = imp->conn;
	struct page *fill = NULL;
	struct page **pages;
	u32 piece, piece_max;
	int ret = 0;
	u64 in_w;

	pages = kvmalloc_array(ACL_COPY_PIECE / PAGE_SIZE + 1, sizeof(*pages), GFP_KERNEL);
	if (!pages)
		return -ENOMEM;
	if (op == ACL_SHARE_COPY_FILL) {
		fill = alloc_page(GFP_KERNEL);
		if (!fill) {
			kvfree(pages);
			return -ENOMEM;
		}
		memset(page_address(fill), value, PAGE_SIZE);
	}
	piece_max = acl_piece_max(conn, op);
	if (!piece_max)
		ret = -ENOLINK;
	while (length && !ret) {
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		in_w = offset % imp->window;
		piece = min_t(u64, length, min_t(u64, imp->window - in_w, piece_max));
		ret = acl_copy_piece(imp, op, offset, uptr, piece, fill, pages);
		offset += piece;
		length -= piece;
		if (op != ACL_SHARE_COPY_FILL)
			uptr += piece;
	}
	if (fill)
		__free_page(fill);
	kvfree(pages);
	return ret;
}
