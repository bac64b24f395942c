// SPDX-License-Identifier: GPL-2.0
/*
 * index_test - the library's own tables (lib/handles.c, lib/vaspace.c) say
 * what the kernel says, however many entries they hold and however the
 * kernel reuses handle numbers.
 *
 *  reused_number_is_the_new_allocation  the kernel hands a freed handle
 *      number out again (the smallest free one first); the library's table
 *      then describes the new allocation, not the freed one: MapMem takes
 *      the new size only and the properties are the new attribute's.
 *  many_mappings_are_found  NR_MAPS page-sized mappings side by side in
 *      one reservation and NR_RESV reservations: every interior address
 *      finds its own mapping (GetAddressRange, RetainAllocationHandle,
 *      GetAccess) and its own reservation (the message of a release
 *      inside it); a MapMem over any of them is refused; a release counts
 *      the mappings left; after unmapping in a scrambled order everything
 *      is released and the module holds nothing.
 *  ranges_across_windows  the index enters a range in whole slots of 4 KiB,
 *      2 MiB and 1 GiB (lib/vaspace.c): in a reservation of 1 GiB + 4 MiB,
 *      a mapping that crosses a 2 MiB boundary and ends exactly on the next
 *      one, a mapping starting exactly there, a huge mapping on the 1 GiB
 *      boundary and one ending exactly at the reservation's end are each
 *      found from their first and last bytes and not one byte beyond; a
 *      MapMem over several of them names the lowest; after an unmap the
 *      range is free for a bigger mapping, and the first maps again after
 *      that one goes; a released reservation is found again when it is
 *      reserved anew at the same address.
 */
#include <string.h>

#include "acl/acl.h"
#include "acl_test_util.h"

#define HOST ACL_MEM_LOCATION_TYPE_HOST
/* Fewer on a slow (debug) kernel, where each call costs about 20 times as much. */
#define NR_MAPS ((size_t)(acl_slow_kernel() ? 512 : 2048))
#define NR_RESV ((size_t)(acl_slow_kernel() ? 128 : 512))

FIXTURE(index) {
	struct acl_counters start;
};

FIXTURE_SETUP(index)
{
	ASSERT_EQ(0, acl_read_counters(&self->start));
	ASSERT_ACL_OK(aclrtSetDevice(0));
}

FIXTURE_TEARDOWN(index)
{
	EXPECT_COUNTERS(self->start, ACL_CNT_LIVE_NO_OPENS);
}

TEST_F(index, reused_number_is_the_new_allocation)
{
	aclrtPhysicalMemProp huge = acl_prop(ACL_MEM_HUGE, HOST, 0);
	aclrtPhysicalMemProp normal = acl_prop(ACL_MEM_NORMAL, HOST, 0), got;
	aclrtDrvMemHandle a = NULL, b = NULL;
	size_t nsize = 4 * acl_page_size();
	void *va = NULL;

	ASSERT_ACL_OK(aclrtMallocPhysical(&a, ACL_SZ_2M, &huge, 0));
	ASSERT_ACL_OK(aclrtMemGetAllocationPropertiesFromHandle(a, &got));
	ASSERT_EQ((int)ACL_MEM_HUGE, (int)got.memAttr);
	ASSERT_ACL_OK(aclrtFreePhysical(a));
	ASSERT_ACL_OK(aclrtMallocPhysical(&b, nsize, &normal, 0));
	ASSERT_EQ(a, b) TH_LOG("the kernel did not hand the freed number out again");

	ASSERT_ACL_OK(aclrtMemGetAllocationPropertiesFromHandle(b, &got));
	EXPECT_EQ((int)ACL_MEM_NORMAL, (int)got.memAttr) TH_LOG("the freed allocation's attribute");
	ASSERT_ACL_OK(aclrtReserveMemAddress(&va, ACL_SZ_2M, 0, NULL, 0));
	EXPECT_EQ(ACL_ERROR_RT_PARAM_INVALID, aclrtMapMem(va, ACL_SZ_2M, 0, b, 0))
		TH_LOG("mapped with the freed allocation's size");
	ASSERT_ACL_OK(aclrtMapMem(va, nsize, 0, b, 0));
	memset(va, 0x5a, nsize);
	EXPECT_EQ(0x5a, ((volatile unsigned char *)va)[nsize - 1]);
	EXPECT_ACL_OK(aclrtUnmapMem(va));
	EXPECT_ACL_OK(aclrtReleaseMemAddress(va));
	EXPECT_ACL_OK(aclrtFreePhysical(b));
	EXPECT_EQ(ACL_ERROR_RT_INVALID_HANDLE, aclrtMemGetAllocationPropertiesFromHandle(b, &got))
		TH_LOG("a freed handle still has properties");
}

TEST_F_TIMEOUT(index, many_mappings_are_found, 600)
{
	aclrtPhysicalMemProp normal = acl_prop(ACL_MEM_NORMAL, HOST, 0);
	size_t page = acl_page_size(), span = NR_MAPS * page;
	aclrtDrvMemHandle *h = calloc(NR_MAPS, sizeof(*h));
	void **resv = calloc(NR_RESV, sizeof(*resv));
	char *base = NULL;

	ASSERT_NE(NULL, h);
	ASSERT_NE(NULL, resv);
	ASSERT_ACL_OK(aclrtReserveMemAddress((void **)&base, span, 0, NULL, 0));
	for (size_t i = 0; i < NR_MAPS; i++) {
		ASSERT_ACL_OK(aclrtMallocPhysical(&h[i], page, &normal, 0));
		ASSERT_ACL_OK(aclrtMapMem(base + i * page, page, 0, h[i], 0));
	}
	for (size_t i = 0; i < NR_RESV; i++)
		ASSERT_ACL_OK(aclrtReserveMemAddress(&resv[i], ACL_SZ_2M, 0, NULL, 0));

	for (size_t i = 0; i < NR_MAPS; i++) {
		char *inside = base + i * page + (i * 37) % page;
		aclrtDrvMemHandle got = NULL;
		aclrtMemLocation loc;
		uint64_t flags = 0;
		void *pbase = NULL;
		size_t psize = 0;

		ASSERT_ACL_OK(aclrtMemGetAddressRange(inside, &pbase, &psize));
		ASSERT_EQ(base + i * page, pbase) TH_LOG("mapping %zu", i);
		ASSERT_EQ(page, psize);
		ASSERT_ACL_OK(aclrtMemRetainAllocationHandle(inside, &got));
		ASSERT_EQ(h[i], got) TH_LOG("mapping %zu", i);
		ASSERT_ACL_OK(aclrtMemGetAccess(inside, &loc, &flags));
		ASSERT_EQ((uint64_t)ACL_RT_MEM_ACCESS_FLAGS_READWRITE, flags);
		ASSERT_EQ(ACL_ERROR_RT_PARAM_INVALID, aclrtMapMem(base + i * page, page, 0, h[i], 0))
			TH_LOG("MapMem over mapping %zu", i);
	}
	for (size_t i = 0; i < NR_RESV; i++) {
		char want[64];

		ASSERT_EQ(ACL_ERROR_RT_PARAM_INVALID,
			  aclrtReleaseMemAddress((char *)resv[i] + ACL_SZ_2M / 2));
		snprintf(want, sizeof(want), "reservation [%p,", resv[i]);
		ASSERT_NE(NULL, strstr(aclGetRecentErrMsg(), want))
			TH_LOG("reservation %zu: %s", i, aclGetRecentErrMsg());
	}

	/* Unmap in a scrambled order; the release counts what is left. */
	for (size_t k = 0; k < NR_MAPS; k++) {
		size_t i = (k * 1237) % NR_MAPS; /* 1237 is prime to NR_MAPS (a power of 2) */

		if (k == NR_MAPS / 2) {
			char want[64];

			ASSERT_EQ(ACL_ERROR_RT_PARAM_INVALID, aclrtReleaseMemAddress(base));
			snprintf(want, sizeof(want), "still holds %zu mappings", NR_MAPS / 2);
			ASSERT_NE(NULL, strstr(aclGetRecentErrMsg(), want))
				TH_LOG("%s", aclGetRecentErrMsg());
		}
		ASSERT_ACL_OK(aclrtUnmapMem(base + i * page));
		ASSERT_ACL_OK(aclrtFreePhysical(h[i]));
	}
	EXPECT_ACL_OK(aclrtReleaseMemAddress(base));
	for (size_t i = 0; i < NR_RESV; i++)
		EXPECT_ACL_OK(aclrtReleaseMemAddress(resv[i]));
	free(h);
	free(resv);
}

/* The mapping found at p: its start and size, or (NULL, 0) if none. */
static void range_at(char *p, char **base, size_t *size)
{
	void *b = NULL;

	*size = 0;
	if (aclrtMemGetAddressRange(p, &b, size) != ACL_SUCCESS) {
		b = NULL;
		*size = 0;
	}
	*base = b;
}

#define EXPECT_RANGE(p, want_base, want_size)                                                 \
	do {                                                                                  \
		char *got_b;                                                                  \
		size_t got_s;                                                                 \
		range_at((p), &got_b, &got_s);                                                \
		EXPECT_EQ((char *)(want_base), got_b) TH_LOG("at %s", #p);                    \
		EXPECT_EQ((size_t)(want_size), got_s) TH_LOG("at %s", #p);                    \
	} while (0)

TEST_F(index, ranges_across_windows)
{
	aclrtPhysicalMemProp normal = acl_prop(ACL_MEM_NORMAL, HOST, 0);
	aclrtPhysicalMemProp huge = acl_prop(ACL_MEM_HUGE, HOST, 0);
	const size_t M = 1UL << 20, G = 1UL << 30, page = acl_page_size();
	const size_t rsize = G + 4 * M, a_size = 3 * M, b_size = 8 * page, c_size = 2 * page;
	aclrtDrvMemHandle a = NULL, b = NULL, c = NULL, d = NULL, e = NULL, hg = NULL, got = NULL;
	char *base = NULL, *again = NULL, want[96];
	char *a_at, *b_at, *c_at, *hg_at;

	ASSERT_ACL_OK(aclrtReserveMemAddress((void **)&base, rsize, 0, NULL, 0));
	ASSERT_EQ(0UL, (uintptr_t)base % G) TH_LOG("a reservation of 1 GiB or more is 1 GiB aligned");
	a_at = base + M;		/* [1 MiB, 4 MiB): crosses 2 MiB, ends on 4 MiB */
	b_at = base + 4 * M;		/* starts where a ends */
	hg_at = base + G;		/* a 2 MiB slot right after the first 1 GiB one */
	c_at = base + rsize - c_size;	/* ends with the reservation */
	ASSERT_ACL_OK(aclrtMallocPhysical(&a, a_size, &normal, 0));
	ASSERT_ACL_OK(aclrtMallocPhysical(&b, b_size, &normal, 0));
	ASSERT_ACL_OK(aclrtMallocPhysical(&c, c_size, &normal, 0));
	ASSERT_ACL_OK(aclrtMallocPhysical(&d, 4 * M, &normal, 0));
	ASSERT_ACL_OK(aclrtMallocPhysical(&e, M, &normal, 0));
	ASSERT_ACL_OK(aclrtMallocPhysical(&hg, ACL_SZ_2M, &huge, 0));
	ASSERT_ACL_OK(aclrtMapMem(a_at, a_size, 0, a, 0));
	ASSERT_ACL_OK(aclrtMapMem(b_at, b_size, 0, b, 0));
	ASSERT_ACL_OK(aclrtMapMem(c_at, c_size, 0, c, 0));
	ASSERT_ACL_OK(aclrtMapMem(hg_at, ACL_SZ_2M, 0, hg, 0));

	EXPECT_RANGE(base, NULL, 0);
	EXPECT_RANGE(a_at - 1, NULL, 0);
	EXPECT_RANGE(a_at, a_at, a_size);
	EXPECT_RANGE(base + 2 * M - 1, a_at, a_size);
	EXPECT_RANGE(base + 2 * M, a_at, a_size);
	EXPECT_RANGE(b_at - 1, a_at, a_size);
	EXPECT_RANGE(b_at, b_at, b_size);
	EXPECT_RANGE(b_at + b_size - 1, b_at, b_size);
	EXPECT_RANGE(b_at + b_size, NULL, 0);
	EXPECT_RANGE(hg_at - 1, NULL, 0);
	EXPECT_RANGE(hg_at, hg_at, ACL_SZ_2M);
	EXPECT_RANGE(hg_at + ACL_SZ_2M - 1, hg_at, ACL_SZ_2M);
	EXPECT_RANGE(hg_at + ACL_SZ_2M, NULL, 0);
	EXPECT_RANGE(c_at - 1, NULL, 0);
	EXPECT_RANGE(c_at, c_at, c_size);
	EXPECT_RANGE(base + rsize - 1, c_at, c_size);
	EXPECT_ACL_OK(aclrtMemRetainAllocationHandle(base + 2 * M, &got));
	EXPECT_EQ(a, got);
	EXPECT_ACL_OK(aclrtMemRetainAllocationHandle(base + rsize - 1, &got));
	EXPECT_EQ(c, got);
	/*
	 * A copy from one mapping into the next, across the 4 MiB boundary: a
	 * host side may span adjacent mappings, a device side may not.
	 */
	memset(b_at - 64, 0x3c, 128);
	EXPECT_ACL_OK(aclrtMemcpy(b_at + page, 64, b_at - 32, 64, ACL_MEMCPY_HOST_TO_HOST));
	EXPECT_EQ(0x3c, ((volatile unsigned char *)b_at)[page + 63]);
	EXPECT_EQ(ACL_ERROR_RT_PARAM_INVALID,
		  aclrtMemcpy(b_at + page, 64, b_at - 32, 64, ACL_MEMCPY_DEVICE_TO_DEVICE));
	EXPECT_NE(NULL, strstr(aclGetRecentErrMsg(), "crosses the end of the mapping"))
		TH_LOG("%s", aclGetRecentErrMsg());
	EXPECT_EQ(ACL_ERROR_RT_PARAM_INVALID,
		  aclrtMemcpy(b_at + page, 64, b_at + b_size - 32, 64, ACL_MEMCPY_HOST_TO_HOST));
	EXPECT_NE(NULL, strstr(aclGetRecentErrMsg(), "runs into unmapped memory"))
		TH_LOG("%s", aclGetRecentErrMsg());

	/* Over a and b: the lowest is named. */
	EXPECT_EQ(ACL_ERROR_RT_PARAM_INVALID, aclrtMapMem(base, 4 * M, 0, d, 0));
	snprintf(want, sizeof(want), "overlaps the mapping [%p, +0x%zx)", (void *)a_at, a_size);
	EXPECT_NE(NULL, strstr(aclGetRecentErrMsg(), want)) TH_LOG("%s", aclGetRecentErrMsg());
	EXPECT_EQ(ACL_ERROR_RT_PARAM_INVALID, aclrtMapMem(base + 2 * M, 4 * M, 0, d, 0));
	EXPECT_NE(NULL, strstr(aclGetRecentErrMsg(), want)) TH_LOG("%s", aclGetRecentErrMsg());
	/*
	 * In the 2 MiB between the huge mapping and c: overlapping c by a page,
	 * ending on the last byte before it, crossing the reservation's end.
	 */
	EXPECT_EQ(ACL_ERROR_RT_PARAM_INVALID, aclrtMapMem(c_at - M + page, M, 0, e, 0));
	snprintf(want, sizeof(want), "overlaps the mapping [%p, +0x%zx)", (void *)c_at, c_size);
	EXPECT_NE(NULL, strstr(aclGetRecentErrMsg(), want)) TH_LOG("%s", aclGetRecentErrMsg());
	EXPECT_ACL_OK(aclrtMapMem(c_at - M, M, 0, e, 0));
	EXPECT_RANGE(c_at - 1, c_at - M, M);
	EXPECT_RANGE(c_at, c_at, c_size);
	EXPECT_RANGE(c_at - M - 1, NULL, 0);
	EXPECT_ACL_OK(aclrtUnmapMem(c_at - M));
	EXPECT_RANGE(c_at - 1, NULL, 0);
	EXPECT_EQ(ACL_ERROR_RT_PARAM_INVALID, aclrtMapMem(base + rsize - M / 2, M, 0, e, 0));
	snprintf(want, sizeof(want), "crosses the end of the reservation [%p, +0x%zx)",
		 (void *)base, rsize);
	EXPECT_NE(NULL, strstr(aclGetRecentErrMsg(), want)) TH_LOG("%s", aclGetRecentErrMsg());

	/* Released from inside: the whole reservation is named, from every window of it. */
	EXPECT_EQ(ACL_ERROR_RT_PARAM_INVALID, aclrtReleaseMemAddress(base + G + 2 * M));
	snprintf(want, sizeof(want), "reservation [%p, +0x%zx)", (void *)base, rsize);
	EXPECT_NE(NULL, strstr(aclGetRecentErrMsg(), want)) TH_LOG("%s", aclGetRecentErrMsg());
	EXPECT_EQ(ACL_ERROR_RT_PARAM_INVALID, aclrtReleaseMemAddress(base + rsize - page));
	EXPECT_NE(NULL, strstr(aclGetRecentErrMsg(), want)) TH_LOG("%s", aclGetRecentErrMsg());
	EXPECT_EQ(ACL_ERROR_RT_PARAM_INVALID, aclrtReleaseMemAddress(base));
	EXPECT_NE(NULL, strstr(aclGetRecentErrMsg(), "still holds 4 mappings"))
		TH_LOG("%s", aclGetRecentErrMsg());

	/* Removal, then the same place again: a bigger mapping, then the first one. */
	EXPECT_ACL_OK(aclrtUnmapMem(a_at));
	EXPECT_RANGE(base + 2 * M, NULL, 0);
	EXPECT_RANGE(b_at, b_at, b_size);
	EXPECT_ACL_OK(aclrtMapMem(base, 4 * M, 0, d, 0));
	EXPECT_RANGE(base + 2 * M, base, 4 * M);
	EXPECT_RANGE(b_at - 1, base, 4 * M);
	EXPECT_RANGE(b_at, b_at, b_size);
	EXPECT_ACL_OK(aclrtUnmapMem(base));
	EXPECT_ACL_OK(aclrtMapMem(a_at, a_size, 0, a, 0));
	EXPECT_ACL_OK(aclrtMemRetainAllocationHandle(b_at - 1, &got));
	EXPECT_EQ(a, got);
	EXPECT_RANGE(a_at - 1, NULL, 0);

	EXPECT_ACL_OK(aclrtUnmapMem(a_at));
	EXPECT_ACL_OK(aclrtUnmapMem(b_at));
	EXPECT_ACL_OK(aclrtUnmapMem(c_at));
	EXPECT_ACL_OK(aclrtUnmapMem(hg_at));
	EXPECT_RANGE(hg_at, NULL, 0);
	EXPECT_ACL_OK(aclrtReleaseMemAddress(base));
	EXPECT_EQ(ACL_ERROR_RT_PARAM_INVALID, aclrtReleaseMemAddress(base + G + 2 * M));
	EXPECT_NE(NULL, strstr(aclGetRecentErrMsg(), "is not the base of a reservation"))
		TH_LOG("%s", aclGetRecentErrMsg());

	/* Reserved anew at the same address: found whole again, then released. */
	ASSERT_ACL_OK(aclrtReserveMemAddress((void **)&again, rsize, 0, base, 0));
	EXPECT_EQ(base, again);
	EXPECT_EQ(ACL_ERROR_RT_PARAM_INVALID, aclrtReleaseMemAddress(base + rsize - page));
	snprintf(want, sizeof(want), "reservation [%p, +0x%zx)", (void *)base, rsize);
	EXPECT_NE(NULL, strstr(aclGetRecentErrMsg(), want)) TH_LOG("%s", aclGetRecentErrMsg());
	EXPECT_ACL_OK(aclrtReleaseMemAddress(again));

	EXPECT_ACL_OK(aclrtFreePhysical(a));
	EXPECT_ACL_OK(aclrtFreePhysical(b));
	EXPECT_ACL_OK(aclrtFreePhysical(c));
	EXPECT_ACL_OK(aclrtFreePhysical(d));
	EXPECT_ACL_OK(aclrtFreePhysical(e));
	EXPECT_ACL_OK(aclrtFreePhysical(hg));
}

TEST_HARNESS_MAIN
