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

TEST_HARNESS_MAIN
