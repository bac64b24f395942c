/* SPDX-License-Identifier: MIT */
/*
 * vaindex.h - the index of address ranges behind lib/vaspace.c's
 * reservations and mappings: which range contains an address, which is the
 * lowest to overlap a range. Not thread-safe: its user holds a lock. A
 * header of its own so that selftests/vaindex_test.c can check it on the
 * host against a plain list.
 */
#ifndef ACL_SHIM_VAINDEX_H
#define ACL_SHIM_VAINDEX_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* What the index knows of a range: the first member of the library's reservations and mappings. */
struct va_range {
	uintptr_t base;
	size_t size;
};

/*
 * The address index: a radix tree over the 64-bit address space, shaped
 * like a page table. A node has 512 slots; a slot of level l covers
 * 2^(12 + 9 l) bytes (4 KiB at level 0, 2 MiB at 1, 1 GiB at 2, 512 GiB at
 * 3, ...; six levels cover 64 bits). A slot is empty (0), a child node, or
 * a range that covers the slot's whole span (the range's address with bit 0
 * set), as a page table holds a huge page at a higher level. A range is
 * entered in the fewest slots that cover it exactly, and the ranges of one
 * index never overlap, so a slot names at most one range.
 *
 * Costs, for an index of any number of ranges:
 *  - finding the range that contains an address (va_find): one slot read
 *    a level from the root down, 4 for addresses below 2^48 (all that a
 *    kernel places unasked), at most 6; never a compare against another
 *    range;
 *  - entering or removing a range, or finding the first range overlapping
 *    [b, b + size) (va_first): a range covers whole slots at each level
 *    except at its two ends, so it touches at most 2 x 511 slots a level
 *    (about 5,200 in all for a range of many TiB whose ends are off
 *    every 2 MiB boundary) and typically 1: a 2 MiB reservation at
 *    2 MiB, a 4 KiB mapping, a 1 GiB mapping at 1 GiB. What it costs
 *    grows with how ragged the range's ends are, never with the number
 *    of other ranges.
 *  - memory: a 4 KiB node per 512 neighbouring slots in use, as page
 *    tables; at worst, a small range alone far from every other costs the
 *    nodes of its own path below the shared ones (two nodes, 8 KiB, for a
 *    4 KiB mapping alone in its 1 GiB).
 * Precondition of va_index_add(): base and size are multiples of 4 KiB
 * (reservations are of 2 MiB, mappings are aligned to their granularity,
 * which is at least the page, and as long as their allocation, a multiple
 * of it). Queries take any bytes.
 */
#define IX_BITS 9
#define IX_FAN (1u << IX_BITS)
#define IX_LEVELS 6
#define IX_LEAF 1u

struct ix_node {
	uintptr_t slot[IX_FAN];
	unsigned int used; /* slots not empty */
};

/*
 * The root is as high as the highest range needs, as in the kernel's radix
 * trees: level 3 (addresses below 2^48) for every range a kernel places
 * unasked, so a lookup reads 4 slots; a range above grows it (up to level
 * 5, all 64 bits), and an index emptied shrinks back to nothing.
 */
struct va_index {
	struct ix_node *root; /* covers [0, ix_node_last(level, 0)] */
	int level;
};

static inline unsigned int ix_shift(int level)
{
	return 12 + IX_BITS * (unsigned int)level;
}

/* The last address of the node of @level whose first one is @start. */
static inline uint64_t ix_node_last(int level, uint64_t start)
{
	unsigned int span = ix_shift(level) + IX_BITS;

	return span >= 64 ? UINT64_MAX : start + (((uint64_t)1 << span) - 1);
}

/* The slots [*i, *j] of the node (@level, @start) that [b, last] touches. */
static inline void ix_slots(int level, uint64_t start, uint64_t b, uint64_t last,
			    unsigned int *i, unsigned int *j)
{
	unsigned int sh = ix_shift(level);
	uint64_t nl = ix_node_last(level, start);

	*i = b > start ? (unsigned int)((b - start) >> sh) : 0;
	*j = last < nl ? (unsigned int)((last - start) >> sh) : IX_FAN - 1;
}

static inline struct va_range *va_find(const struct va_index *ix, uintptr_t p)
{
	const struct ix_node *n = ix->root;

	if ((uint64_t)p > ix_node_last(ix->level, 0))
		return NULL;
	for (int l = ix->level; n; l--) {
		uintptr_t s = n->slot[((uint64_t)p >> ix_shift(l)) & (IX_FAN - 1)];

		if (s & IX_LEAF)
			return (struct va_range *)(s - IX_LEAF);
		n = l ? (const struct ix_node *)s : NULL;
	}
	return NULL;
}

/* The lowest range of the subtree @n (@level, first address @start) that meets [b, last]. */
static inline struct va_range *ix_first(const struct ix_node *n, int level, uint64_t start,
					uint64_t b, uint64_t last)
{
	unsigned int i, j, sh = ix_shift(level);

	ix_slots(level, start, b, last, &i, &j);
	for (unsigned int k = i; k <= j; k++) {
		uintptr_t s = n->slot[k];
		struct va_range *r;

		if (!s)
			continue;
		if (s & IX_LEAF)
			return (struct va_range *)(s - IX_LEAF);
		if (!level)
			continue;
		r = ix_first((const struct ix_node *)s, level - 1, start + ((uint64_t)k << sh), b,
			     last);
		if (r)
			return r;
	}
	return NULL;
}

/* The range at the lowest address that overlaps [p, p + size), size > 0. */
static inline struct va_range *va_first(const struct va_index *ix, uintptr_t p, size_t size)
{
	uint64_t b = p, last = b + (size - 1);

	if (last < b)
		last = UINT64_MAX;
	if (!ix->root || b > ix_node_last(ix->level, 0))
		return NULL;
	return ix_first(ix->root, ix->level, 0, b, last);
}

/* Empties the slots of [b, last] that hold @v and frees the nodes left empty. */
static inline void ix_remove(struct ix_node *n, int level, uint64_t start, uint64_t b,
			     uint64_t last, uintptr_t v)
{
	unsigned int i, j, sh = ix_shift(level);

	ix_slots(level, start, b, last, &i, &j);
	for (unsigned int k = i; k <= j; k++) {
		uintptr_t s = n->slot[k];
		struct ix_node *c = (struct ix_node *)s;

		if (s != v && (!s || (s & IX_LEAF) || !level))
			continue;
		if (s != v) {
			ix_remove(c, level - 1, start + ((uint64_t)k << sh), b, last, v);
			if (c->used)
				continue;
			free(c);
		}
		n->slot[k] = 0;
		n->used--;
	}
}

/*
 * Enters @v in the slots that cover [b, last] exactly; -ENOMEM, or -EEXIST
 * if a slot on the way is taken (the ranges overlap), leaving what was
 * entered for ix_remove().
 */
static inline int ix_add(struct ix_node *n, int level, uint64_t start, uint64_t b,
			 uint64_t last, uintptr_t v)
{
	unsigned int i, j, sh = ix_shift(level);

	ix_slots(level, start, b, last, &i, &j);
	for (unsigned int k = i; k <= j; k++) {
		uint64_t first = start + ((uint64_t)k << sh), end = first + (((uint64_t)1 << sh) - 1);
		struct ix_node *c;
		int ret;

		if (b <= first && end <= last) { /* the whole slot */
			if (n->slot[k])
				return -EEXIST;
			n->slot[k] = v;
			n->used++;
			continue;
		}
		if (!level || (n->slot[k] & IX_LEAF))
			return -EEXIST; /* a part of a page, or a slot another range covers */
		c = (struct ix_node *)n->slot[k];
		if (!c) {
			c = calloc(1, sizeof(*c));
			if (!c)
				return -ENOMEM;
			n->slot[k] = (uintptr_t)c;
			n->used++;
		}
		ret = ix_add(c, level - 1, first, b, last, v);
		if (ret)
			return ret;
	}
	return 0;
}

/* Removes range r, entered by va_index_add(). */
static inline void va_index_del(struct va_index *ix, struct va_range *r)
{
	if (!ix->root)
		return;
	ix_remove(ix->root, ix->level, 0, r->base, (uint64_t)r->base + (r->size - 1),
		  (uintptr_t)r | IX_LEAF);
	if (!ix->root->used) {
		free(ix->root);
		*ix = (struct va_index){ 0 };
	}
}

/*
 * Enters range r, which overlaps none of the index (the caller looked with
 * va_first()); false if out of memory, with nothing of r left in the index.
 */
static inline bool va_index_add(struct va_index *ix, struct va_range *r)
{
	uint64_t last = (uint64_t)r->base + (r->size - 1);
	int ret;

	/* Grow the root until it covers r: the old root becomes slot 0 of the new. */
	while (ix->level < IX_LEVELS - 1 && last > ix_node_last(ix->level, 0)) {
		if (ix->root) {
			struct ix_node *n = calloc(1, sizeof(*n));

			if (!n)
				return false; /* taller but whole: still a valid index */
			n->slot[0] = (uintptr_t)ix->root;
			n->used = 1;
			ix->root = n;
		}
		ix->level++;
	}
	if (!ix->root) {
		ix->root = calloc(1, sizeof(*ix->root));
		if (!ix->root) {
			*ix = (struct va_index){ 0 };
			return false;
		}
	}
	ret = ix_add(ix->root, ix->level, 0, r->base, last, (uintptr_t)r | IX_LEAF);
	if (ret)
		va_index_del(ix, r);
	return ret == 0;
}

/*
 * Frees the subtree @n, calling fn once on every range in it, in address
 * order: at the slot that holds the range's last byte, after which no slot
 * names it any more.
 */
static inline void ix_destroy(struct ix_node *n, int level, uint64_t start,
			      void (*fn)(void *))
{
	unsigned int sh = ix_shift(level);

	for (unsigned int k = 0; k < IX_FAN; k++) {
		uintptr_t s = n->slot[k];
		uint64_t first = start + ((uint64_t)k << sh), end = first + (((uint64_t)1 << sh) - 1);

		if (s & IX_LEAF) {
			struct va_range *r = (struct va_range *)(s - IX_LEAF);
			uint64_t rlast = (uint64_t)r->base + (r->size - 1);

			if (rlast >= first && rlast <= end)
				fn(r);
		} else if (s && level) {
			ix_destroy((struct ix_node *)s, level - 1, first, fn);
		}
	}
	free(n);
}

static inline void va_index_destroy(struct va_index *ix, void (*fn)(void *))
{
	if (ix->root)
		ix_destroy(ix->root, ix->level, 0, fn);
	*ix = (struct va_index){ 0 };
}

#endif /* ACL_SHIM_VAINDEX_H */
