// SPDX-License-Identifier: GPL-2.0
/*
 * vaindex_test - the library's address index (lib/vaindex.h) against a
 * plain list of ranges, on the host (it needs no module).
 *
 *  matches_a_list  hundreds of thousands of random adds, removals, point
 *      lookups and overlap queries: ranges of 4 KiB to many TiB, aligned
 *      and not to 2 MiB and 1 GiB, near 0, in the usual user space, at the
 *      top of the 64-bit space and across 2^48 (the root grows); every
 *      answer is the list's (the lowest overlapping range for a query).
 *      Emptied, the index holds no memory and its root is gone.
 *  out_of_memory_leaves_the_index_whole  every allocation of an add fails
 *      in turn (nodes on the way, the root's growth): the add fails, the
 *      range is not found anywhere, the ranges already there still are,
 *      and once they are removed the index holds nothing.
 *  destroy_calls_each_range_once  the walk of a fork() child frees every
 *      node and calls back once per range, however many slots it spans.
 */
#include <stdint.h>
#include <stdlib.h>

/* The harness's own functions leave parameters unused (as acl_test_util.h says). */
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"

/* Every calloc of the index goes through here: the n-th from now fails. */
static long calls_left = -1, nodes_live;

static void *test_calloc(size_t n, size_t size)
{
	void *p;

	if (calls_left == 0)
		return NULL;
	if (calls_left > 0)
		calls_left--;
	p = calloc(n, size);
	if (p)
		nodes_live++;
	return p;
}

static void test_free(void *p)
{
	if (p)
		nodes_live--;
	free(p);
}

#define calloc test_calloc
#define free test_free
#include "vaindex.h"
#undef calloc
#undef free

#define KIB ((uint64_t)1 << 10)
#define MIB (KIB << 10)
#define GIB (MIB << 10)
#define TIB (GIB << 10)
#define MAXR 4096

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* The reference: a plain list, searched whole. */
static struct va_range *list[MAXR];
static int n_list;

static struct va_range *list_first(uint64_t b, uint64_t size)
{
	uint64_t last = b + (size - 1) < b ? UINT64_MAX : b + (size - 1);
	struct va_range *best = NULL;

	for (int i = 0; i < n_list; i++) {
		uint64_t rb = list[i]->base, rl = rb + (list[i]->size - 1);

		if (rb <= last && rl >= b && (!best || rb < best->base))
			best = list[i];
	}
	return best;
}

static void list_del(int i)
{
	list[i] = list[--n_list];
}

/* A page-aligned range somewhere the index has edges: near a window's end, across 2^48, ... */
static void random_range(uint64_t *b, uint64_t *size)
{
	static const uint64_t bases[] = {
		0, 0x7f0000000000ULL, 0x7f0000000000ULL - 4 * KIB, 0x40000000ULL,
		0xfff0000000000000ULL, 0x7fffffe00000ULL, ((uint64_t)1 << 48) - GIB,
	};
	static const uint64_t units[] = { 4 * KIB, 2 * MIB, GIB, 4 * KIB };
	uint64_t unit = units[rnd() % 4];

	*b = bases[rnd() % (sizeof(bases) / sizeof(bases[0]))];
	*b += (rnd() % 2048) * (rnd() % 2 ? unit : unit / 512 + 4 * KIB);
	*b &= ~(4 * KIB - 1);
	*size = (rnd() % 5 ? rnd() % 8 + 1 : rnd() % 3000 + 1) * unit;
	if (rnd() % 50 == 0)
		*size = (rnd() % 4 + 1) * 512 * GIB + (rnd() % 600) * 4 * KIB;
}

TEST(matches_a_list)
{
	struct va_index ix = { 0 };
	long added = 0;

	for (long it = 0; it < 600000; it++) {
		unsigned int op = rnd() % 10;
		uint64_t b, size;

		random_range(&b, &size);
		if (b + (size - 1) < b)
			continue;
		if (op < 5 && n_list < MAXR) {
			struct va_range *o = va_first(&ix, b, size), *r;

			ASSERT_EQ(list_first(b, size), o) TH_LOG("overlap of [%#llx, +%#llx)",
							   (unsigned long long)b,
							   (unsigned long long)size);
			if (o)
				continue;
			r = malloc(sizeof(*r));
			ASSERT_NE(NULL, r);
			*r = (struct va_range){ .base = b, .size = size };
			ASSERT_TRUE(va_index_add(&ix, r));
			list[n_list++] = r;
			added++;
		} else if (op < 7 && n_list) {
			int i = (int)(rnd() % (uint64_t)n_list);

			va_index_del(&ix, list[i]);
			free(list[i]);
			list_del(i);
		} else {
			uint64_t p = n_list && rnd() % 2 ?
					     list[rnd() % (uint64_t)n_list]->base + rnd() % (12 * KIB) :
					     b + rnd() % size;
			uint64_t qb = p - rnd() % (20 * KIB), qs = rnd() % (4 * MIB) + 1;

			ASSERT_EQ(list_first(p, 1), va_find(&ix, p))
				TH_LOG("lookup of %#llx", (unsigned long long)p);
			if (qb + (qs - 1) >= qb)
				ASSERT_EQ(list_first(qb, qs), va_first(&ix, qb, qs));
			/* The last byte of a range and the byte after it. */
			if (n_list) {
				struct va_range *r = list[rnd() % (uint64_t)n_list];
				uint64_t last = r->base + (r->size - 1);

				ASSERT_EQ(r, va_find(&ix, last));
				if (last + 1)
					ASSERT_EQ(list_first(last + 1, 1), va_find(&ix, last + 1));
			}
		}
	}
	EXPECT_LT(100000, added);
	while (n_list) {
		va_index_del(&ix, list[n_list - 1]);
		free(list[n_list - 1]);
		n_list--;
	}
	EXPECT_EQ(NULL, ix.root);
	EXPECT_EQ(0, ix.level);
	EXPECT_EQ(0, nodes_live);
}

TEST(out_of_memory_leaves_the_index_whole)
{
	struct va_range a = { 0x7f0000001000ULL, 4 * KIB };
	struct va_range big = { 0x7e0000001000ULL, 3 * GIB / 2 };
	struct va_range high = { 0xfff0000000000000ULL, 4 * KIB };
	struct va_range *tries[] = { &big, &high };
	int failed = 0;

	for (int t = 0; t < 2; t++) {
		struct va_index ix = { 0 };
		struct va_range *r = tries[t];
		long k;

		ASSERT_TRUE(va_index_add(&ix, &a));
		for (k = 0;; k++) {
			bool ok;

			calls_left = k;
			ok = va_index_add(&ix, r);
			calls_left = -1;
			ASSERT_EQ(&a, va_find(&ix, a.base)) TH_LOG("allocation %ld failed", k);
			if (ok)
				break;
			failed++;
			EXPECT_EQ(NULL, va_find(&ix, r->base));
			EXPECT_EQ(NULL, va_find(&ix, r->base + (r->size - 1)));
			EXPECT_EQ(NULL, va_first(&ix, r->base, r->size));
		}
		ASSERT_LT(1, k) TH_LOG("the add needed only %ld allocations", k);
		EXPECT_EQ(r, va_find(&ix, r->base + (r->size - 1)));
		va_index_del(&ix, r);
		EXPECT_EQ(NULL, va_find(&ix, r->base));
		va_index_del(&ix, &a);
		EXPECT_EQ(NULL, ix.root);
		EXPECT_EQ(0, nodes_live);
	}
	EXPECT_LT(2, failed);
}

static int destroyed;

static void count_destroyed(void *r)
{
	(void)r;
	destroyed++;
}

TEST(destroy_calls_each_range_once)
{
	static struct va_range r[64], high = { 0xfff0000000000000ULL, 4 * KIB };
	struct va_index ix = { 0 };

	for (int i = 0; i < 64; i++) {
		/* 64 ranges of 1 page to 2 GiB, each taking slots of several levels. */
		r[i].base = 0x7f0000000000ULL + (uint64_t)i * 4 * GIB + (uint64_t)(i % 7) * 4 * KIB;
		r[i].size = (uint64_t)(i + 1) * 32 * MIB - (uint64_t)(i % 5) * 4 * KIB;
		ASSERT_TRUE(va_index_add(&ix, &r[i]));
	}
	ASSERT_TRUE(va_index_add(&ix, &high)); /* and one the root grows to level 5 for */
	va_index_destroy(&ix, count_destroyed);
	EXPECT_EQ(65, destroyed);
	EXPECT_EQ(NULL, ix.root);
	EXPECT_EQ(0, nodes_live);
}

TEST_HARNESS_MAIN
