// SPDX-License-Identifier: GPL-2.0
/*
 * hashmap_test - the library's hash map (lib/hashmap.c) against a plain
 * array, on the host (it needs no module): millions of random puts, deletes
 * and lookups of keys that collide in their low bits, with the table
 * growing to 256 Ki slots and shrinking back to nothing.
 */
#include <stdint.h>
#include <stdlib.h>

/* The harness's own functions leave parameters unused (as acl_test_util.h says). */
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"
#include "hashmap.h"

#define NKEYS 100000
#define ROUNDS 3000000

/* Keys that differ only above bit 32: a weak hash would put them in one run. */
static uint64_t key_of(unsigned int k)
{
	return (uint64_t)k << 32;
}

TEST(matches_an_array)
{
	void **ref = calloc(NKEYS, sizeof(*ref));
	struct shim_hmap m = { 0 };
	size_t live = 0, peak_cap = 0;
	unsigned int seed = 1;

	ASSERT_NE(NULL, ref);
	for (long it = 0; it < ROUNDS; it++) {
		unsigned int k = (unsigned int)rand_r(&seed) % (it < ROUNDS / 2 ? NKEYS : 1000);
		int op = rand_r(&seed) % 3;

		if (op == 0) {
			void *v = (void *)(uintptr_t)(it | 1);

			ASSERT_TRUE(shim_hmap_put(&m, key_of(k), v));
			live += !ref[k];
			ref[k] = v;
		} else if (op == 1) {
			/* A delete of another value of the key removes nothing. */
			ASSERT_EQ(NULL, shim_hmap_del(&m, key_of(k), (void *)(uintptr_t)2));
			ASSERT_EQ(ref[k], shim_hmap_del(&m, key_of(k), NULL)) TH_LOG("round %ld", it);
			live -= !!ref[k];
			ref[k] = NULL;
		} else {
			ASSERT_EQ(ref[k], shim_hmap_get(&m, key_of(k))) TH_LOG("round %ld", it);
		}
		ASSERT_EQ(live, m.n);
		if (m.cap > peak_cap)
			peak_cap = m.cap;
	}
	for (unsigned int k = 0; k < NKEYS; k++)
		ASSERT_EQ(ref[k], shim_hmap_get(&m, key_of(k)));
	ASSERT_LE(m.n * 4, m.cap * 3);
	/* Delete everything: the table shrinks as it empties and is freed at the end. */
	for (unsigned int k = 0; k < NKEYS; k++) {
		if (ref[k])
			ASSERT_EQ(ref[k], shim_hmap_del(&m, key_of(k), ref[k]));
		if (m.n > 64)
			ASSERT_LE(m.cap, m.n * 16) TH_LOG("%zu entries in %zu slots", m.n, m.cap);
	}
	EXPECT_EQ(0U, m.n);
	EXPECT_EQ(NULL, m.slots);
	EXPECT_LE((size_t)NKEYS, peak_cap);
	free(ref);
}

static int cleared;

static void count_cleared(void *v)
{
	(void)v;
	cleared++;
}

TEST(clear_visits_every_value)
{
	struct shim_hmap m = { 0 };

	for (unsigned int k = 1; k <= 1000; k++)
		ASSERT_TRUE(shim_hmap_put(&m, k, (void *)(uintptr_t)k));
	ASSERT_TRUE(shim_hmap_put(&m, 7, (void *)(uintptr_t)8)); /* a replace adds nothing */
	EXPECT_EQ(1000U, m.n);
	EXPECT_EQ((void *)(uintptr_t)8, shim_hmap_get(&m, 7));
	shim_hmap_clear(&m, count_cleared);
	EXPECT_EQ(1000, cleared);
	EXPECT_EQ(0U, m.n);
	EXPECT_EQ(NULL, shim_hmap_get(&m, 7));
}

TEST_HARNESS_MAIN
