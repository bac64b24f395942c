// SPDX-License-Identifier: GPL-2.0
/*
 * params_test - every parameter check of contract sections 2 and 3 through
 * the library: each wrong value and each NULL gives the documented code
 * (contract, then docs/decisions.md where the contract is silent), and
 * aclGetRecentErrMsg() then names the failing parameter. The fixture proves
 * that none of these failures leaves anything behind in the module.
 */
#include <limits.h>
#include <pthread.h>

#include "acl/acl.h"
#include "acl_test_util.h"

#define E_PARAM ACL_ERROR_INVALID_PARAM
#define E_RT ACL_ERROR_RT_PARAM_INVALID
#define E_DEVID ACL_ERROR_RT_INVALID_DEVICEID
#define E_CTX ACL_ERROR_RT_CONTEXT_NULL
#define E_HANDLE ACL_ERROR_RT_INVALID_HANDLE
#define E_NOMEM ACL_ERROR_RT_MEMORY_ALLOCATION

#define HOST ACL_MEM_LOCATION_TYPE_HOST
#define DEVICE ACL_MEM_LOCATION_TYPE_DEVICE
#define HOST_NUMA ACL_MEM_LOCATION_TYPE_HOST_NUMA

/* A handle value no allocation of this process has. */
#define FORGED_HANDLE ((aclrtDrvMemHandle)(uintptr_t)0x7ead1234)

FIXTURE(params) {
	struct acl_counters start;
	uint32_t dev_count;
	size_t page;
};

FIXTURE_SETUP(params)
{
	unsigned long long n = 0;

	ASSERT_EQ(0, acl_read_counters(&self->start));
	ASSERT_EQ(0, acl_read_param("device_count", &n));
	ASSERT_LT(0ULL, n);
	self->dev_count = (uint32_t)n;
	self->page = acl_page_size();
}

FIXTURE_TEARDOWN(params)
{
	EXPECT_COUNTERS(self->start, ACL_CNT_LIVE_NO_OPENS);
}

/* A 2 MiB-aligned address range that is free now (mapped, then unmapped). */
static void *free_aligned_range(size_t size)
{
	size_t span = size + SZ_2M;
	char *p = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *a;

	if (p == MAP_FAILED)
		return NULL;
	a = (char *)(((uintptr_t)p + SZ_2M - 1) & ~(SZ_2M - 1));
	munmap(p, span);
	return a;
}

TEST_F(params, granularity_rejects_bad_arguments)
{
	aclrtPhysicalMemProp prop = acl_prop(ACL_HBM_MEM_HUGE, DEVICE, 0);
	size_t g = 0;

	EXPECT_ACL(E_PARAM, aclrtMemGetAllocationGranularity(NULL, ACL_RT_MEM_ALLOC_GRANULARITY_MINIMUM, &g), "prop");
	EXPECT_ACL(E_PARAM, aclrtMemGetAllocationGranularity(&prop, ACL_RT_MEM_ALLOC_GRANULARITY_MINIMUM, NULL), "granularity");
	EXPECT_ACL(E_PARAM, aclrtMemGetAllocationGranularity(&prop, ACL_RT_MEM_ALLOC_GRANULARITY_UNDEF, &g), "option");
	EXPECT_ACL(E_PARAM, aclrtMemGetAllocationGranularity(&prop, (aclrtMemGranularityOptions)2, &g), "option");
	EXPECT_ACL(E_PARAM, aclrtMemGetAllocationGranularity(&prop, (aclrtMemGranularityOptions)-1, &g), "option");

	prop = acl_prop(ACL_MEM_NORMAL, ACL_MEM_LOCATION_TYPE_UNREGISTERED, 0);
	EXPECT_ACL(E_PARAM, aclrtMemGetAllocationGranularity(&prop, ACL_RT_MEM_ALLOC_GRANULARITY_MINIMUM, &g), "location");
	prop = acl_prop(ACL_MEM_NORMAL, ACL_MEM_LOCATION_TYPE_MANAGED, 0);
	EXPECT_ACL(E_PARAM, aclrtMemGetAllocationGranularity(&prop, ACL_RT_MEM_ALLOC_GRANULARITY_MINIMUM, &g), "location");
	prop = acl_prop(ACL_MEM_NORMAL, (aclrtMemLocationType)5, 0);
	EXPECT_ACL(E_PARAM, aclrtMemGetAllocationGranularity(&prop, ACL_RT_MEM_ALLOC_GRANULARITY_MINIMUM, &g), "location");
	prop = acl_prop((aclrtMemAttr)(ACL_MEM_P2P_HUGE1G + 1), HOST, 0);
	EXPECT_ACL(E_PARAM, aclrtMemGetAllocationGranularity(&prop, ACL_RT_MEM_ALLOC_GRANULARITY_MINIMUM, &g), "memAttr");
	prop = acl_prop(ACL_DDR_MEM_HUGE, DEVICE, 0);
	EXPECT_ACL(E_PARAM, aclrtMemGetAllocationGranularity(&prop, ACL_RT_MEM_ALLOC_GRANULARITY_MINIMUM, &g), "memAttr|location|DDR");
	/* decisions.md: the device index is not checked here. */
}

TEST_F(params, granularity_values)
{
	const size_t page = self->page;
	const uint32_t last = self->dev_count - 1;
	const struct {
		aclrtMemAttr attr;
		aclrtMemLocationType type;
		uint32_t id;
		size_t want;
	} cases[] = {
		/* DEVICE locations: 2 MiB, whatever the page kind ... */
		{ ACL_HBM_MEM, DEVICE, 0, SZ_2M },
		{ ACL_HBM_MEM_HUGE, DEVICE, 0, SZ_2M },
		{ ACL_HBM_MEM_NORMAL, DEVICE, 0, SZ_2M },
		{ ACL_HBM_MEM_P2P_HUGE, DEVICE, last, SZ_2M },
		{ ACL_HBM_MEM_P2P_NORMAL, DEVICE, last, SZ_2M },
		{ ACL_MEM_NORMAL, DEVICE, 0, SZ_2M },
		{ ACL_MEM_HUGE, DEVICE, 0, SZ_2M },
		{ ACL_MEM_P2P_NORMAL, DEVICE, 0, SZ_2M },
		{ ACL_MEM_P2P_HUGE, DEVICE, last, SZ_2M },
		/* ... except *_HUGE1G: 1 GiB anywhere */
		{ ACL_HBM_MEM_HUGE1G, DEVICE, 0, SZ_1G },
		{ ACL_HBM_MEM_P2P_HUGE1G, DEVICE, 0, SZ_1G },
		{ ACL_MEM_HUGE1G, DEVICE, last, SZ_1G },
		{ ACL_MEM_P2P_HUGE1G, DEVICE, 0, SZ_1G },
		{ ACL_MEM_HUGE1G, HOST, 0, SZ_1G },
		{ ACL_MEM_P2P_HUGE1G, HOST_NUMA, 0, SZ_1G },
		/* HOST / HOST_NUMA with a NORMAL attribute: the page size */
		{ ACL_MEM_NORMAL, HOST, 0, page },
		{ ACL_MEM_NORMAL, HOST, 12345, page }, /* id ignored for HOST */
		{ ACL_DDR_MEM_NORMAL, HOST, 0, page },
		{ ACL_DDR_MEM_P2P_NORMAL, HOST, 0, page },
		{ ACL_HBM_MEM_NORMAL, HOST, 0, page },
		{ ACL_HBM_MEM_P2P_NORMAL, HOST, 0, page },
		{ ACL_MEM_P2P_NORMAL, HOST, 0, page },
		{ ACL_MEM_NORMAL, HOST_NUMA, 0, page },
		/* HOST with a huge (or generic DDR/HBM) attribute: 2 MiB chunks */
		{ ACL_MEM_HUGE, HOST, 0, SZ_2M },
		{ ACL_DDR_MEM_HUGE, HOST, 0, SZ_2M },
		{ ACL_DDR_MEM_P2P_HUGE, HOST, 0, SZ_2M },
		{ ACL_HBM_MEM_HUGE, HOST, 0, SZ_2M },
		{ ACL_DDR_MEM, HOST, 0, SZ_2M },
		{ ACL_HBM_MEM, HOST, 0, SZ_2M },
		{ ACL_MEM_HUGE, HOST_NUMA, 0, SZ_2M },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		aclrtPhysicalMemProp prop = acl_prop(cases[i].attr, cases[i].type, cases[i].id);

		for (int opt = 0; opt <= 1; opt++) {
			size_t g = 0;

			EXPECT_ACL_OK(aclrtMemGetAllocationGranularity(&prop, (aclrtMemGranularityOptions)opt, &g));
			EXPECT_EQ(cases[i].want, g)
				TH_LOG("memAttr %d location %d/%u option %d", cases[i].attr,
				       cases[i].type, cases[i].id, opt);
		}
	}
}

TEST_F(params, malloc_physical_rejects_bad_arguments)
{
	static const aclrtMemAttr ddr[] = { ACL_DDR_MEM, ACL_DDR_MEM_HUGE, ACL_DDR_MEM_NORMAL,
					    ACL_DDR_MEM_P2P_HUGE, ACL_DDR_MEM_P2P_NORMAL };
	aclrtPhysicalMemProp good = acl_prop(ACL_HBM_MEM_HUGE, DEVICE, 0), prop;
	aclrtDrvMemHandle h = NULL;

	EXPECT_ACL(E_PARAM, aclrtMallocPhysical(NULL, SZ_2M, &good, 0), "handle");
	EXPECT_ACL(E_PARAM, aclrtMallocPhysical(&h, SZ_2M, NULL, 0), "prop");
	EXPECT_ACL(E_PARAM, aclrtMallocPhysical(&h, 0, &good, 0), "size");
	EXPECT_ACL(E_PARAM, aclrtMallocPhysical(&h, SZ_2M, &good, 1), "flags");
	EXPECT_ACL(E_PARAM, aclrtMallocPhysical(&h, SZ_2M, &good, 1ULL << 63), "flags");

	prop = good;
	prop.handleType = ACL_MEM_HANDLE_TYPE_POSIX;
	EXPECT_ACL(E_PARAM, aclrtMallocPhysical(&h, SZ_2M, &prop, 0), "handleType");
	prop = good;
	prop.handleType = (aclrtMemHandleType)1;
	EXPECT_ACL(E_PARAM, aclrtMallocPhysical(&h, SZ_2M, &prop, 0), "handleType");
	prop = good;
	prop.allocationType = (aclrtMemAllocationType)1;
	EXPECT_ACL(E_PARAM, aclrtMallocPhysical(&h, SZ_2M, &prop, 0), "allocationType");
	prop = good;
	prop.memAttr = (aclrtMemAttr)(ACL_MEM_P2P_HUGE1G + 1);
	EXPECT_ACL(E_PARAM, aclrtMallocPhysical(&h, SZ_2M, &prop, 0), "memAttr");
	prop.memAttr = (aclrtMemAttr)-1;
	EXPECT_ACL(E_PARAM, aclrtMallocPhysical(&h, SZ_2M, &prop, 0), "memAttr");

	/* Locations: UNREGISTERED, MANAGED and unknown types, DDR on a device,
	 * a device index past the count, an offline NUMA node. */
	prop = acl_prop(ACL_MEM_NORMAL, ACL_MEM_LOCATION_TYPE_UNREGISTERED, 0);
	EXPECT_ACL(E_PARAM, aclrtMallocPhysical(&h, SZ_2M, &prop, 0), "location");
	prop = acl_prop(ACL_MEM_NORMAL, ACL_MEM_LOCATION_TYPE_MANAGED, 0);
	EXPECT_ACL(E_PARAM, aclrtMallocPhysical(&h, SZ_2M, &prop, 0), "location");
	prop = acl_prop(ACL_MEM_NORMAL, (aclrtMemLocationType)5, 0);
	EXPECT_ACL(E_PARAM, aclrtMallocPhysical(&h, SZ_2M, &prop, 0), "location");
	for (size_t i = 0; i < sizeof(ddr) / sizeof(ddr[0]); i++) {
		prop = acl_prop(ddr[i], DEVICE, 0);
		EXPECT_ACL(E_PARAM, aclrtMallocPhysical(&h, SZ_2M, &prop, 0), "memAttr|location|DDR");
	}
	prop = acl_prop(ACL_HBM_MEM_HUGE, DEVICE, self->dev_count);
	EXPECT_ACL(E_DEVID, aclrtMallocPhysical(&h, SZ_2M, &prop, 0), "location|device|id");
	prop = acl_prop(ACL_HBM_MEM_HUGE, DEVICE, UINT32_MAX);
	EXPECT_ACL(E_DEVID, aclrtMallocPhysical(&h, SZ_2M, &prop, 0), "location|device|id");
	prop = acl_prop(ACL_MEM_NORMAL, HOST_NUMA, 4095);
	EXPECT_ACL(E_PARAM, aclrtMallocPhysical(&h, SZ_2M, &prop, 0), "location|node|numa");

	/* Sizes that are not a multiple of the granularity. */
	EXPECT_ACL(E_RT, aclrtMallocPhysical(&h, SZ_4K, &good, 0), "size");
	EXPECT_ACL(E_RT, aclrtMallocPhysical(&h, SZ_2M + SZ_4K, &good, 0), "size");
	prop = acl_prop(ACL_MEM_NORMAL, DEVICE, 0);
	EXPECT_ACL(E_RT, aclrtMallocPhysical(&h, SZ_4K, &prop, 0), "size");
	prop = acl_prop(ACL_MEM_NORMAL, HOST, 0);
	EXPECT_ACL(E_RT, aclrtMallocPhysical(&h, 100, &prop, 0), "size");
	EXPECT_ACL(E_RT, aclrtMallocPhysical(&h, self->page + 1, &prop, 0), "size");
	prop = acl_prop(ACL_MEM_HUGE, HOST, 0);
	EXPECT_ACL(E_RT, aclrtMallocPhysical(&h, self->page, &prop, 0), "size");
	prop = acl_prop(ACL_MEM_HUGE1G, HOST, 0);
	EXPECT_ACL(E_RT, aclrtMallocPhysical(&h, SZ_2M, &prop, 0), "size");
}

TEST_F(params, malloc_physical_accepts_edge_cases)
{
	aclrtPhysicalMemProp prop;
	aclrtDrvMemHandle h = NULL;

	/* prop->reserve is ignored (clients leave it uninitialised). */
	prop = acl_prop(ACL_HBM_MEM_HUGE, DEVICE, self->dev_count - 1);
	prop.reserve = 0xdeadbeefcafef00dULL;
	ASSERT_ACL_OK(aclrtMallocPhysical(&h, SZ_2M, &prop, 0));
	EXPECT_NE(NULL, h);
	EXPECT_ACL_OK(aclrtFreePhysical(h));

	/* HBM attributes on a HOST location are accepted; the id is ignored. */
	prop = acl_prop(ACL_HBM_MEM_NORMAL, HOST, 999);
	ASSERT_ACL_OK(aclrtMallocPhysical(&h, self->page, &prop, 0));
	EXPECT_ACL_OK(aclrtFreePhysical(h));

	prop = acl_prop(ACL_MEM_NORMAL, HOST_NUMA, 0);
	ASSERT_ACL_OK(aclrtMallocPhysical(&h, self->page, &prop, 0));
	EXPECT_ACL_OK(aclrtFreePhysical(h));
}

TEST_F(params, malloc_physical_out_of_memory)
{
	const size_t huge = 1ULL << 40; /* 1 TiB: a multiple of every granularity */
	const struct {
		aclrtMemAttr attr;
		aclrtMemLocationType type;
	} kinds[] = {
		{ ACL_MEM_NORMAL, HOST },
		{ ACL_MEM_HUGE, HOST },
		{ ACL_HBM_MEM_HUGE, DEVICE },
		{ ACL_MEM_HUGE1G, DEVICE },
	};

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		aclrtPhysicalMemProp prop = acl_prop(kinds[i].attr, kinds[i].type, 0);
		aclrtDrvMemHandle h = NULL;

		EXPECT_ACL(E_NOMEM, aclrtMallocPhysical(&h, huge, &prop, 0), "memory|size");
		EXPECT_COUNTERS(self->start, ACL_CNT_LIVE_NO_OPENS);
	}
}

TEST_F(params, free_physical_rejects_bad_handles)
{
	aclrtPhysicalMemProp prop = acl_prop(ACL_MEM_NORMAL, HOST, 0);
	aclrtDrvMemHandle h = NULL;

	EXPECT_ACL(E_PARAM, aclrtFreePhysical(NULL), "handle");
	EXPECT_ACL(E_HANDLE, aclrtFreePhysical(FORGED_HANDLE), "handle");
	EXPECT_ACL(E_HANDLE, aclrtFreePhysical((aclrtDrvMemHandle)(uintptr_t)1), "handle");
	EXPECT_ACL(E_HANDLE, aclrtFreePhysical((aclrtDrvMemHandle)UINTPTR_MAX), "handle");

	ASSERT_ACL_OK(aclrtMallocPhysical(&h, self->page, &prop, 0));
	EXPECT_ACL_OK(aclrtFreePhysical(h));
	EXPECT_ACL(E_HANDLE, aclrtFreePhysical(h), "handle");
}

TEST_F(params, reserve_rejects_bad_arguments)
{
	void *p = NULL, *busy, *want;

	EXPECT_ACL(E_PARAM, aclrtReserveMemAddress(NULL, SZ_2M, 0, NULL, 0), "virPtr");
	EXPECT_ACL(E_PARAM, aclrtReserveMemAddress(&p, 0, 0, NULL, 0), "size");
	EXPECT_ACL(E_PARAM, aclrtReserveMemAddress(&p, SZ_2M, SZ_4K, NULL, 0), "alignment");
	EXPECT_ACL(E_PARAM, aclrtReserveMemAddress(&p, SZ_2M, SZ_2M, NULL, 0), "alignment");
	EXPECT_ACL(E_PARAM, aclrtReserveMemAddress(&p, SZ_2M, 0, NULL, 2), "flags");
	EXPECT_ACL(E_PARAM, aclrtReserveMemAddress(&p, SZ_2M, 0, NULL, UINT64_MAX), "flags");
	EXPECT_ACL(E_PARAM, aclrtReserveMemAddress(&p, SIZE_MAX / 2 + 1, 0, NULL, 0), "size");
	EXPECT_ACL(E_PARAM, aclrtReserveMemAddress(&p, SIZE_MAX, 0, NULL, 0), "size");

	/* expectPtr not 2 MiB aligned */
	want = free_aligned_range(2 * SZ_2M);
	ASSERT_NE(NULL, want);
	EXPECT_ACL(E_RT, aclrtReserveMemAddress(&p, SZ_2M, 0, (char *)want + SZ_4K, 0), "expectPtr");

	/* expectPtr overlapping something already mapped */
	busy = mmap(want, 2 * SZ_2M, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	ASSERT_EQ(want, busy);
	EXPECT_ACL(E_RT, aclrtReserveMemAddress(&p, SZ_2M, 0, busy, 0), "expectPtr");
	EXPECT_ACL(E_RT, aclrtReserveMemAddress(&p, 4 * SZ_2M, 0, (char *)busy - 2 * SZ_2M, 0), "expectPtr");
	munmap(busy, 2 * SZ_2M);
}

TEST_F(params, reserve_honours_expect_ptr_and_rounds_up)
{
	struct acl_vma v;
	void *want, *p = NULL, *q = NULL, *other;
	size_t size = 0;

	/* A free, aligned expectPtr is honoured; flags 1 is accepted. */
	want = free_aligned_range(2 * SZ_2M);
	ASSERT_NE(NULL, want);
	ASSERT_ACL_OK(aclrtReserveMemAddress(&p, 2 * SZ_2M, 0, want, 1));
	EXPECT_EQ(want, p);
	EXPECT_ACL_OK(aclrtReleaseMemAddress(p));

	/* A small size becomes one 2 MiB-aligned 2 MiB range with no backing. */
	ASSERT_ACL_OK(aclrtReserveMemAddress(&q, 1, 0, NULL, 0));
	EXPECT_EQ(0UL, (uintptr_t)q & (SZ_2M - 1));
	ASSERT_EQ(1, acl_find_vma(0, q, &v));
	ASSERT_EQ(1, acl_find_vma(0, (char *)q + SZ_2M - 1, &v)) TH_LOG("the reservation is not 2 MiB");
	EXPECT_NE(0, acl_probe((unsigned char *)q, false)) TH_LOG("a reservation must not be accessible");
	EXPECT_NE(0, acl_probe((unsigned char *)q + SZ_2M - 1, false));
	EXPECT_ACL(E_RT, aclrtMemGetAddressRange(q, NULL, &size), "ptr|mapped");

	/* Nothing else can land in it. */
	other = mmap(q, SZ_4K, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	EXPECT_EQ(MAP_FAILED, other);
	EXPECT_EQ(EEXIST, errno);
	other = mmap((char *)q + SZ_4K, SZ_4K, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, other);
	EXPECT_TRUE((char *)other < (char *)q || (char *)other >= (char *)q + SZ_2M)
		TH_LOG("mmap hint landed inside the reservation at %p", other);
	munmap(other, SZ_4K);
	other = NULL;
	EXPECT_ACL(E_RT, aclrtReserveMemAddress(&other, SZ_2M, 0, q, 0), "expectPtr");

	EXPECT_ACL_OK(aclrtReleaseMemAddress(q));

	/* 1 GiB or more: 1 GiB aligned, for *_HUGE1G mappings. */
	ASSERT_ACL_OK(aclrtReserveMemAddress(&q, SZ_1G, 0, NULL, 0));
	EXPECT_EQ(0UL, (uintptr_t)q & (SZ_1G - 1));
	EXPECT_ACL_OK(aclrtReleaseMemAddress(q));
}

TEST_F(params, release_rejects_bad_pointers)
{
	struct acl_mapping m;
	void *r = NULL;
	char local;

	EXPECT_ACL(E_PARAM, aclrtReleaseMemAddress(NULL), "virPtr");
	EXPECT_ACL(E_RT, aclrtReleaseMemAddress(&local), "virPtr");

	ASSERT_ACL_OK(aclrtReserveMemAddress(&r, 2 * SZ_2M, 0, NULL, 0));
	EXPECT_ACL(E_RT, aclrtReleaseMemAddress((char *)r + SZ_4K), "virPtr");
	EXPECT_ACL(E_RT, aclrtReleaseMemAddress((char *)r + SZ_2M), "virPtr");
	EXPECT_ACL_OK(aclrtReleaseMemAddress(r));
	EXPECT_ACL(E_RT, aclrtReleaseMemAddress(r), "virPtr");

	/* A reservation with a live mapping cannot be released. */
	ASSERT_ACL_OK(acl_map_new(&m, SZ_2M, ACL_HBM_MEM_HUGE, DEVICE, 0));
	EXPECT_ACL(E_RT, aclrtReleaseMemAddress(m.va), "virPtr|mapping|mapped");
	((volatile char *)m.va)[0] = 1; /* still mapped */
	EXPECT_ACL_OK(acl_map_delete(&m));
}

/*
 * A released range is released, whatever the library keeps of it for the
 * next reservation (lib/vaspace.c's release cache, which this test sees
 * keeping the placeholder): it cannot be touched, mapped or released again,
 * an expectPtr reservation of it or of part of it succeeds, what the
 * program then maps itself beside that lands, and a fork() child does not
 * have it. A kept range is reused only where its alignment allows, and the
 * cache makes room for the newest release.
 */
TEST_F(params, released_range_stays_released)
{
	aclrtPhysicalMemProp huge = acl_prop(ACL_HBM_MEM_HUGE, DEVICE, 0);
	aclrtDrvMemHandle h = NULL;
	struct acl_vma v;
	void *r = NULL, *q = NULL, *own;
	int status;
	pid_t pid;

	ASSERT_ACL_OK(aclrtMallocPhysical(&h, SZ_2M, &huge, 0));
	for (int i = 0; i < 3; i++) {	/* the same size over and over: the cache's case */
		ASSERT_ACL_OK(aclrtReserveMemAddress(&r, SZ_2M, 0, NULL, 0));
		ASSERT_ACL_OK(aclrtMapMem(r, SZ_2M, 0, h, 0));
		((volatile char *)r)[0] = (char)i;
		ASSERT_ACL_OK(aclrtUnmapMem(r));
		ASSERT_ACL_OK(aclrtReleaseMemAddress(r));
		EXPECT_NE(0, acl_probe((unsigned char *)r, false)) TH_LOG("a released range is readable");
		EXPECT_NE(0, acl_probe((unsigned char *)r + SZ_2M - 1, true));
		EXPECT_ACL(E_RT, aclrtMapMem(r, SZ_2M, 0, h, 0), "virPtr");
		EXPECT_ACL(E_RT, aclrtReleaseMemAddress(r), "virPtr");
		EXPECT_ACL(E_RT, aclrtMemGetAddressRange(r, NULL, NULL), "ptr|mapped");
	}
	/* The parent keeps the placeholder for the next reservation: the cache is in use. */
	ASSERT_EQ(1, acl_find_vma(0, r, &v)) TH_LOG("released %p is not kept", r);
	EXPECT_STREQ("---p", v.perms);

	/* A fork() child has none of it. */
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(acl_find_vma(0, r, &v) == 0 ? 0 : 1);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("a fork() child has the parent's released range %p", r);

	/* The same range again at expectPtr: that range, usable. */
	ASSERT_ACL_OK(aclrtReserveMemAddress(&q, SZ_2M, 0, r, 0));
	EXPECT_EQ(r, q);
	ASSERT_ACL_OK(aclrtMapMem(q, SZ_2M, 0, h, 0));
	EXPECT_EQ(2, ((volatile char *)q)[0]) TH_LOG("the allocation's data is not mapped at %p", q);
	ASSERT_ACL_OK(aclrtUnmapMem(q));
	ASSERT_ACL_OK(aclrtReleaseMemAddress(q));

	/* A range of 4 MiB released; then its upper half at expectPtr. */
	r = free_aligned_range(2 * SZ_2M);
	ASSERT_NE(NULL, r);
	ASSERT_ACL_OK(aclrtReserveMemAddress(&q, 2 * SZ_2M, 0, r, 0));
	ASSERT_ACL_OK(aclrtReleaseMemAddress(q));
	ASSERT_ACL_OK(aclrtReserveMemAddress(&q, SZ_2M, 0, (char *)r + SZ_2M, 0));
	EXPECT_EQ((char *)r + SZ_2M, q);
	/* the lower half is the program's own again */
	own = mmap(r, SZ_2M, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
		   -1, 0);
	EXPECT_EQ(r, own) TH_LOG("released %p is still taken: %s", r, strerror(errno));
	if (own == r) {
		((volatile char *)own)[0] = 7;
		munmap(own, SZ_2M);
	}
	ASSERT_ACL_OK(aclrtReleaseMemAddress(q));

	/* A released range of 4 MiB, then 2 MiB at its base: the rest is free again. */
	ASSERT_ACL_OK(aclrtReserveMemAddress(&q, 2 * SZ_2M, 0, r, 0));
	ASSERT_ACL_OK(aclrtReleaseMemAddress(q));
	ASSERT_ACL_OK(aclrtReserveMemAddress(&q, SZ_2M, 0, r, 0));
	EXPECT_EQ(r, q);
	own = mmap((char *)r + SZ_2M, SZ_2M, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
		   -1, 0);
	EXPECT_EQ((char *)r + SZ_2M, own) TH_LOG("the rest of a released range is still taken");
	if (own != MAP_FAILED)
		munmap(own, SZ_2M);
	ASSERT_ACL_OK(aclrtReleaseMemAddress(q));

	/*
	 * 1 GiB at an expectPtr that is 2 MiB but not 1 GiB aligned, released:
	 * a reservation of 1 GiB anywhere is still 1 GiB aligned.
	 */
	r = free_aligned_range(SZ_1G + SZ_2M);
	ASSERT_NE(NULL, r);
	if (!((uintptr_t)r & (SZ_1G - 1)))
		r = (char *)r + SZ_2M;
	ASSERT_ACL_OK(aclrtReserveMemAddress(&q, SZ_1G, 0, r, 0));
	ASSERT_EQ(r, q);
	ASSERT_ACL_OK(aclrtReleaseMemAddress(q));
	ASSERT_ACL_OK(aclrtReserveMemAddress(&q, SZ_1G, 0, NULL, 0));
	EXPECT_EQ(0UL, (uintptr_t)q & (SZ_1G - 1)) TH_LOG("1 GiB reservation at %p", q);
	ASSERT_ACL_OK(aclrtReleaseMemAddress(q));

	/* Releases of 20 sizes, then one more: the newest is kept, whatever came before. */
	for (size_t i = 1; i <= 20; i++) {
		ASSERT_ACL_OK(aclrtReserveMemAddress(&q, i * SZ_2M, 0, NULL, 0));
		ASSERT_ACL_OK(aclrtReleaseMemAddress(q));
	}
	ASSERT_ACL_OK(aclrtReserveMemAddress(&q, 21 * SZ_2M, 0, NULL, 0));
	ASSERT_ACL_OK(aclrtReleaseMemAddress(q));
	EXPECT_EQ(1, acl_find_vma(0, q, &v)) TH_LOG("a full cache keeps no new release");
	EXPECT_ACL_OK(aclrtFreePhysical(h));
}

TEST_F(params, map_mem_rejects_bad_arguments)
{
	aclrtPhysicalMemProp huge = acl_prop(ACL_HBM_MEM_HUGE, DEVICE, 0);
	aclrtPhysicalMemProp normal = acl_prop(ACL_MEM_NORMAL, HOST, 0);
	aclrtDrvMemHandle h2 = NULL, h4 = NULL, hb = NULL, hn = NULL, dead = NULL;
	void *r = NULL, *outside;
	char local;

	ASSERT_ACL_OK(aclrtMallocPhysical(&h2, SZ_2M, &huge, 0));
	ASSERT_ACL_OK(aclrtMallocPhysical(&hb, SZ_2M, &huge, 0));
	ASSERT_ACL_OK(aclrtMallocPhysical(&h4, 2 * SZ_2M, &huge, 0));
	ASSERT_ACL_OK(aclrtMallocPhysical(&hn, self->page, &normal, 0));
	ASSERT_ACL_OK(aclrtMallocPhysical(&dead, SZ_2M, &huge, 0));
	ASSERT_ACL_OK(aclrtFreePhysical(dead));
	ASSERT_ACL_OK(aclrtReserveMemAddress(&r, 2 * SZ_2M, 0, NULL, 0));

	EXPECT_ACL(E_PARAM, aclrtMapMem(NULL, SZ_2M, 0, h2, 0), "virPtr");
	EXPECT_ACL(E_PARAM, aclrtMapMem(r, SZ_2M, 0, NULL, 0), "handle");
	EXPECT_ACL(E_PARAM, aclrtMapMem(r, SZ_2M, 0, h2, 1), "flags");
	EXPECT_ACL(E_RT, aclrtMapMem(r, SZ_2M, SZ_2M, h2, 0), "offset");
	EXPECT_ACL(E_RT, aclrtMapMem(r, SZ_2M, SZ_4K, h2, 0), "offset");
	EXPECT_ACL(E_RT, aclrtMapMem(r, 2 * SZ_2M, 0, h2, 0), "size");
	EXPECT_ACL(E_RT, aclrtMapMem(r, SZ_4K, 0, h2, 0), "size");
	EXPECT_ACL(E_RT, aclrtMapMem(r, 0, 0, h2, 0), "size");
	EXPECT_ACL(E_HANDLE, aclrtMapMem(r, SZ_2M, 0, FORGED_HANDLE, 0), "handle");
	EXPECT_ACL(E_HANDLE, aclrtMapMem(r, SZ_2M, 0, dead, 0), "handle");

	/* virPtr outside any reservation */
	EXPECT_ACL(E_RT, aclrtMapMem(&local, SZ_2M, 0, h2, 0), "virPtr");
	outside = free_aligned_range(SZ_2M);
	ASSERT_NE(NULL, outside);
	EXPECT_ACL(E_RT, aclrtMapMem(outside, SZ_2M, 0, h2, 0), "virPtr");
	/* not aligned to the allocation's granularity */
	EXPECT_ACL(E_RT, aclrtMapMem((char *)r + SZ_4K, SZ_2M, 0, h2, 0), "virPtr");
	/* crossing the reservation's end */
	EXPECT_ACL(E_RT, aclrtMapMem((char *)r + SZ_2M, 2 * SZ_2M, 0, h4, 0), "virPtr|size|reservation");

	/* overlapping another mapping */
	ASSERT_ACL_OK(aclrtMapMem((char *)r + SZ_2M, SZ_2M, 0, h2, 0));
	EXPECT_ACL(E_RT, aclrtMapMem((char *)r + SZ_2M, SZ_2M, 0, hb, 0), "virPtr|overlap|mapped");
	EXPECT_ACL(E_RT, aclrtMapMem(r, 2 * SZ_2M, 0, h4, 0), "virPtr|overlap|mapped|size");
	/* a one-page allocation at a page-aligned place in the free part is fine */
	EXPECT_ACL_OK(aclrtMapMem((char *)r + self->page, self->page, 0, hn, 0));
	EXPECT_ACL(E_RT, aclrtMapMem((char *)r + self->page, SZ_2M, 0, hb, 0),
		   "virPtr|overlap|mapped|size");

	EXPECT_ACL_OK(aclrtUnmapMem((char *)r + self->page));
	EXPECT_ACL_OK(aclrtUnmapMem((char *)r + SZ_2M));
	EXPECT_ACL_OK(aclrtReleaseMemAddress(r));
	EXPECT_ACL_OK(aclrtFreePhysical(h2));
	EXPECT_ACL_OK(aclrtFreePhysical(hb));
	EXPECT_ACL_OK(aclrtFreePhysical(h4));
	EXPECT_ACL_OK(aclrtFreePhysical(hn));
}

TEST_F(params, unmap_mem_rejects_bad_pointers)
{
	struct acl_mapping m;
	char local;

	EXPECT_ACL(E_PARAM, aclrtUnmapMem(NULL), "virPtr");
	EXPECT_ACL(E_RT, aclrtUnmapMem(&local), "virPtr");

	ASSERT_ACL_OK(acl_map_new(&m, SZ_2M, ACL_HBM_MEM_HUGE, DEVICE, 0));
	EXPECT_ACL(E_RT, aclrtUnmapMem((char *)m.va + SZ_4K), "virPtr");
	EXPECT_ACL_OK(aclrtUnmapMem(m.va));
	EXPECT_ACL(E_RT, aclrtUnmapMem(m.va), "virPtr");
	EXPECT_ACL_OK(aclrtReleaseMemAddress(m.va));
	EXPECT_ACL_OK(aclrtFreePhysical(m.handle));
}

TEST_F(params, set_access_rejects_bad_arguments)
{
	aclrtMemAccessDesc good, d;
	struct acl_mapping m;
	void *r = NULL;

	memset(&good, 0, sizeof(good));
	good.flags = ACL_RT_MEM_ACCESS_FLAGS_READWRITE;
	good.location.type = HOST;

	ASSERT_ACL_OK(acl_map_new(&m, SZ_2M, ACL_HBM_MEM_HUGE, DEVICE, 0));
	ASSERT_ACL_OK(aclrtReserveMemAddress(&r, SZ_2M, 0, NULL, 0));

	EXPECT_ACL(E_PARAM, aclrtMemSetAccess(NULL, SZ_2M, &good, 1), "virPtr");
	EXPECT_ACL(E_PARAM, aclrtMemSetAccess(m.va, 0, &good, 1), "size");
	EXPECT_ACL(E_PARAM, aclrtMemSetAccess(m.va, SZ_2M, NULL, 1), "desc");
	EXPECT_ACL(E_PARAM, aclrtMemSetAccess(m.va, SZ_2M, &good, 0), "count");
	d = good;
	d.flags = (aclrtMemAccessFlags)0x2;
	EXPECT_ACL(E_PARAM, aclrtMemSetAccess(m.va, SZ_2M, &d, 1), "flags");
	d.flags = (aclrtMemAccessFlags)0x4;
	EXPECT_ACL(E_PARAM, aclrtMemSetAccess(m.va, SZ_2M, &d, 1), "flags");
	d.flags = (aclrtMemAccessFlags)0x7;
	EXPECT_ACL(E_PARAM, aclrtMemSetAccess(m.va, SZ_2M, &d, 1), "flags");
	d = good;
	d.location.type = ACL_MEM_LOCATION_TYPE_UNREGISTERED;
	EXPECT_ACL(E_PARAM, aclrtMemSetAccess(m.va, SZ_2M, &d, 1), "location");
	d.location.type = ACL_MEM_LOCATION_TYPE_MANAGED;
	EXPECT_ACL(E_PARAM, aclrtMemSetAccess(m.va, SZ_2M, &d, 1), "location");
	d.location.type = HOST_NUMA;
	EXPECT_ACL(E_PARAM, aclrtMemSetAccess(m.va, SZ_2M, &d, 1), "location");
	d.location.type = DEVICE;
	d.location.id = self->dev_count;
	EXPECT_ACL(E_PARAM, aclrtMemSetAccess(m.va, SZ_2M, &d, 1), "location|device|id");

	/* Ranges: not mapped, part of a mapping, past its end. */
	EXPECT_ACL(E_RT, aclrtMemSetAccess(r, SZ_2M, &good, 1), "virPtr|size|mapped");
	EXPECT_ACL(E_RT, aclrtMemSetAccess(m.va, SZ_4K, &good, 1), "virPtr|size|mapping");
	EXPECT_ACL(E_RT, aclrtMemSetAccess((char *)m.va + SZ_4K, SZ_2M - SZ_4K, &good, 1), "virPtr|size|mapping");
	EXPECT_ACL(E_RT, aclrtMemSetAccess(m.va, 2 * SZ_2M, &good, 1), "virPtr|size|mapped");

	/* Nothing of the failed calls took effect. */
	EXPECT_EQ(0, acl_probe((unsigned char *)m.va, true));

	EXPECT_ACL_OK(aclrtReleaseMemAddress(r));
	EXPECT_ACL_OK(acl_map_delete(&m));
}

TEST_F(params, set_access_changes_protection)
{
	aclrtMemAccessDesc d, two[2];
	aclrtMemLocation loc;
	struct acl_mapping m;
	uint64_t flags = 0;

	memset(&d, 0, sizeof(d));
	d.location.type = DEVICE;
	d.location.id = 0;
	ASSERT_ACL_OK(acl_map_new(&m, 2 * SZ_2M, ACL_HBM_MEM_HUGE, DEVICE, 0));
	((volatile char *)m.va)[5] = 42;

	d.flags = ACL_RT_MEM_ACCESS_FLAGS_READ;
	ASSERT_ACL_OK(aclrtMemSetAccess(m.va, m.size, &d, 1));
	ASSERT_ACL_OK(aclrtMemGetAccess(m.va, &loc, &flags));
	EXPECT_EQ((uint64_t)ACL_RT_MEM_ACCESS_FLAGS_READ, flags);
	EXPECT_EQ(0, acl_probe((unsigned char *)m.va + 5, false));
	EXPECT_EQ(42, ((volatile char *)m.va)[5]);
	EXPECT_EQ(SIGSEGV, acl_probe((unsigned char *)m.va + 5, true));
	EXPECT_EQ(SIGSEGV, acl_probe((unsigned char *)m.va + m.size - 1, true));

	d.flags = ACL_RT_MEM_ACCESS_FLAGS_NONE;
	d.location.type = HOST;
	ASSERT_ACL_OK(aclrtMemSetAccess(m.va, m.size, &d, 1));
	ASSERT_ACL_OK(aclrtMemGetAccess(m.va, &loc, &flags));
	EXPECT_EQ((uint64_t)ACL_RT_MEM_ACCESS_FLAGS_NONE, flags);
	EXPECT_EQ(SIGSEGV, acl_probe((unsigned char *)m.va, false));

	d.flags = ACL_RT_MEM_ACCESS_FLAGS_READWRITE;
	ASSERT_ACL_OK(aclrtMemSetAccess(m.va, m.size, &d, 1));
	ASSERT_ACL_OK(aclrtMemGetAccess((char *)m.va + SZ_2M, &loc, &flags));
	EXPECT_EQ((uint64_t)ACL_RT_MEM_ACCESS_FLAGS_READWRITE, flags);
	EXPECT_EQ(0, acl_probe((unsigned char *)m.va + m.size - 1, true));
	EXPECT_EQ(42, ((volatile char *)m.va)[5]);

	/* Several descriptors: the most permissive flag applies. */
	memset(two, 0, sizeof(two));
	two[0].flags = ACL_RT_MEM_ACCESS_FLAGS_NONE;
	two[0].location.type = DEVICE;
	two[1].flags = ACL_RT_MEM_ACCESS_FLAGS_READ;
	two[1].location.type = HOST;
	ASSERT_ACL_OK(aclrtMemSetAccess(m.va, m.size, two, 2));
	ASSERT_ACL_OK(aclrtMemGetAccess(m.va, &loc, &flags));
	EXPECT_EQ((uint64_t)ACL_RT_MEM_ACCESS_FLAGS_READ, flags);
	EXPECT_EQ(0, acl_probe((unsigned char *)m.va, false));
	EXPECT_EQ(SIGSEGV, acl_probe((unsigned char *)m.va, true));

	EXPECT_ACL_OK(acl_map_delete(&m));
}

TEST_F(params, get_access_rejects_bad_arguments)
{
	aclrtMemLocation loc;
	struct acl_mapping m;
	uint64_t flags = 99;
	void *r = NULL;

	ASSERT_ACL_OK(acl_map_new(&m, SZ_2M, ACL_HBM_MEM_HUGE, DEVICE, self->dev_count - 1));
	ASSERT_ACL_OK(aclrtReserveMemAddress(&r, SZ_2M, 0, NULL, 0));

	EXPECT_ACL(E_PARAM, aclrtMemGetAccess(NULL, &loc, &flags), "virPtr");
	EXPECT_ACL(E_PARAM, aclrtMemGetAccess(m.va, NULL, &flags), "location");
	EXPECT_ACL(E_PARAM, aclrtMemGetAccess(m.va, &loc, NULL), "flags");
	EXPECT_ACL(E_RT, aclrtMemGetAccess(r, &loc, &flags), "virPtr|mapped");

	/* After MapMem: READWRITE and the allocation's location. */
	memset(&loc, 0xff, sizeof(loc));
	ASSERT_ACL_OK(aclrtMemGetAccess((char *)m.va + 100, &loc, &flags));
	EXPECT_EQ((uint64_t)ACL_RT_MEM_ACCESS_FLAGS_READWRITE, flags);
	EXPECT_EQ((int)DEVICE, (int)loc.type);
	EXPECT_EQ(self->dev_count - 1, loc.id);

	EXPECT_ACL_OK(aclrtReleaseMemAddress(r));
	EXPECT_ACL_OK(acl_map_delete(&m));
}

TEST_F(params, retain_allocation_handle)
{
	aclrtDrvMemHandle h = NULL;
	struct acl_mapping m;
	void *r = NULL;

	ASSERT_ACL_OK(acl_map_new(&m, SZ_2M, ACL_HBM_MEM_HUGE, DEVICE, 0));
	ASSERT_ACL_OK(aclrtReserveMemAddress(&r, SZ_2M, 0, NULL, 0));

	EXPECT_ACL(E_PARAM, aclrtMemRetainAllocationHandle(NULL, &h), "virPtr");
	EXPECT_ACL(E_PARAM, aclrtMemRetainAllocationHandle(m.va, NULL), "handle");
	EXPECT_ACL(E_RT, aclrtMemRetainAllocationHandle(r, &h), "virPtr|mapped");

	ASSERT_ACL_OK(aclrtMemRetainAllocationHandle(m.va, &h));
	EXPECT_EQ(m.handle, h);
	/* No new reference: one Free and one Unmap release everything (the
	 * fixture's teardown checks the counters). */
	EXPECT_ACL_OK(aclrtReleaseMemAddress(r));
	EXPECT_ACL_OK(acl_map_delete(&m));
}

TEST_F(params, allocation_properties_from_handle)
{
	const struct {
		aclrtMemAttr attr;
		aclrtMemLocationType type;
		uint32_t id;
		size_t size;
	} cases[] = {
		{ ACL_HBM_MEM_HUGE, DEVICE, 0, SZ_2M },
		{ ACL_HBM_MEM, DEVICE, 1, SZ_2M },
		{ ACL_MEM_P2P_NORMAL, DEVICE, 0, SZ_2M },
		{ ACL_MEM_NORMAL, HOST, 0, self->page },
		{ ACL_DDR_MEM_HUGE, HOST, 0, SZ_2M },
		{ ACL_MEM_NORMAL, HOST_NUMA, 0, self->page },
	};
	aclrtPhysicalMemProp prop;

	EXPECT_ACL(E_PARAM, aclrtMemGetAllocationPropertiesFromHandle(NULL, &prop), "handle");
	EXPECT_ACL(E_HANDLE, aclrtMemGetAllocationPropertiesFromHandle(FORGED_HANDLE, &prop), "handle");

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t id = cases[i].id < self->dev_count ? cases[i].id : 0;
		aclrtPhysicalMemProp in = acl_prop(cases[i].attr, cases[i].type, id);
		aclrtDrvMemHandle h = NULL;

		ASSERT_ACL_OK(aclrtMallocPhysical(&h, cases[i].size, &in, 0));
		EXPECT_ACL(E_PARAM, aclrtMemGetAllocationPropertiesFromHandle(h, NULL), "prop");
		memset(&prop, 0xa5, sizeof(prop));
		EXPECT_ACL_OK(aclrtMemGetAllocationPropertiesFromHandle(h, &prop));
		EXPECT_EQ((int)ACL_MEM_HANDLE_TYPE_NONE, (int)prop.handleType);
		EXPECT_EQ((int)ACL_MEM_ALLOCATION_TYPE_PINNED, (int)prop.allocationType);
		EXPECT_EQ((int)cases[i].attr, (int)prop.memAttr);
		EXPECT_EQ((int)cases[i].type, (int)prop.location.type);
		if (cases[i].type != HOST) {
			EXPECT_EQ(id, prop.location.id);
		}
		EXPECT_ACL_OK(aclrtFreePhysical(h));
		EXPECT_ACL(E_HANDLE, aclrtMemGetAllocationPropertiesFromHandle(h, &prop), "handle");
	}
}

TEST_F(params, address_range)
{
	struct acl_mapping m;
	void *base = NULL, *r = NULL;
	size_t size = 0;

	ASSERT_ACL_OK(acl_map_new(&m, 2 * SZ_2M, ACL_HBM_MEM_HUGE, DEVICE, 0));
	ASSERT_ACL_OK(aclrtReserveMemAddress(&r, SZ_2M, 0, NULL, 0));

	EXPECT_ACL(E_PARAM, aclrtMemGetAddressRange(NULL, &base, &size), "ptr");
	EXPECT_ACL(E_RT, aclrtMemGetAddressRange(r, &base, &size), "ptr|mapped");
	EXPECT_ACL(E_RT, aclrtMemGetAddressRange((char *)m.va + m.size, &base, &size), "ptr|mapped");

	EXPECT_ACL_OK(aclrtMemGetAddressRange((char *)m.va + SZ_2M + 17, &base, &size));
	EXPECT_EQ(m.va, base);
	EXPECT_EQ(m.size, size);
	base = NULL;
	EXPECT_ACL_OK(aclrtMemGetAddressRange((char *)m.va + m.size - 1, &base, NULL));
	EXPECT_EQ(m.va, base);
	size = 0;
	EXPECT_ACL_OK(aclrtMemGetAddressRange(m.va, NULL, &size));
	EXPECT_EQ(m.size, size);
	EXPECT_ACL_OK(aclrtMemGetAddressRange(m.va, NULL, NULL));

	EXPECT_ACL_OK(aclrtReleaseMemAddress(r));
	EXPECT_ACL_OK(acl_map_delete(&m));
}

TEST_F(params, bare_tgid)
{
	int32_t pid = 0;

	EXPECT_ACL(E_PARAM, aclrtDeviceGetBareTgid(NULL), "pid");
	ASSERT_ACL_OK(aclrtDeviceGetBareTgid(&pid));
	/* The VM runs the tests in the initial pid namespace. */
	EXPECT_EQ(getpid(), pid);
}

TEST_F(params, devices)
{
	const int32_t n = (int32_t)self->dev_count;
	uint32_t count = 0;
	int32_t dev = -5;

	EXPECT_ACL(E_PARAM, aclrtGetDeviceCount(NULL), "count");
	ASSERT_ACL_OK(aclrtGetDeviceCount(&count));
	EXPECT_EQ(self->dev_count, count);

	EXPECT_ACL(E_PARAM, aclrtGetDevice(NULL), "device");
	EXPECT_ACL(E_CTX, aclrtGetDevice(&dev), "device|context");

	EXPECT_ACL(E_DEVID, aclrtSetDevice(-1), "device");
	EXPECT_ACL(E_DEVID, aclrtSetDevice(n), "device");
	EXPECT_ACL(E_DEVID, aclrtSetDevice(INT32_MIN), "device");
	EXPECT_ACL(E_DEVID, aclrtSetDevice(INT32_MAX), "device");
	EXPECT_ACL(E_CTX, aclrtGetDevice(&dev), "device|context");

	ASSERT_ACL_OK(aclrtSetDevice(n - 1));
	ASSERT_ACL_OK(aclrtGetDevice(&dev));
	EXPECT_EQ(n - 1, dev);
	ASSERT_ACL_OK(aclrtSetDevice(0));
	ASSERT_ACL_OK(aclrtGetDevice(&dev));
	EXPECT_EQ(0, dev);

	EXPECT_ACL(E_DEVID, aclrtResetDevice(-1), "device");
	EXPECT_ACL(E_DEVID, aclrtResetDevice(n), "device");
	EXPECT_ACL(E_DEVID, aclrtResetDeviceForce(-1), "device");
	EXPECT_ACL(E_DEVID, aclrtResetDeviceForce(n), "device");
	ASSERT_ACL_OK(aclrtGetDevice(&dev));
	EXPECT_EQ(0, dev);

	if (n > 1) {
		/* Resetting another device leaves the current one. */
		EXPECT_ACL_OK(aclrtResetDevice(n - 1));
		ASSERT_ACL_OK(aclrtGetDevice(&dev));
		EXPECT_EQ(0, dev);
	}
	EXPECT_ACL_OK(aclrtResetDevice(0));
	EXPECT_ACL(E_CTX, aclrtGetDevice(&dev), "device|context");

	ASSERT_ACL_OK(aclrtSetDevice(n - 1));
	EXPECT_ACL_OK(aclrtResetDeviceForce(n - 1));
	EXPECT_ACL(E_CTX, aclrtGetDevice(&dev), "device|context");
}

struct thread_dev {
	aclError before, set, after;
	int32_t dev;
	int32_t want;
};

static void *thread_device(void *arg)
{
	struct thread_dev *t = arg;
	int32_t dev = -1;

	t->before = aclrtGetDevice(&dev);
	t->set = aclrtSetDevice(t->want);
	t->after = aclrtGetDevice(&t->dev);
	return NULL;
}

TEST_F(params, current_device_is_per_thread)
{
	struct thread_dev t = { .want = (int32_t)self->dev_count - 1, .dev = -1 };
	pthread_t th;
	int32_t dev = -1;

	ASSERT_ACL_OK(aclrtSetDevice(0));
	ASSERT_EQ(0, pthread_create(&th, NULL, thread_device, &t));
	ASSERT_EQ(0, pthread_join(th, NULL));
	EXPECT_EQ(E_CTX, t.before) TH_LOG("a new thread must start without a device");
	EXPECT_EQ(ACL_SUCCESS, t.set);
	EXPECT_EQ(ACL_SUCCESS, t.after);
	EXPECT_EQ(t.want, t.dev);
	ASSERT_ACL_OK(aclrtGetDevice(&dev));
	EXPECT_EQ(0, dev) TH_LOG("another thread's SetDevice changed this thread's device");
}

TEST_F(params, streams)
{
	aclrtStream s1 = NULL, s2 = NULL;

	EXPECT_ACL(E_PARAM, aclrtCreateStream(NULL), "stream");
	EXPECT_ACL(E_PARAM, aclrtDestroyStream(NULL), "stream");
	EXPECT_ACL(E_PARAM, aclrtDestroyStreamForce(NULL), "stream");
	EXPECT_ACL(E_RT, aclrtDestroyStream((aclrtStream)(uintptr_t)0x1234), "stream");
	EXPECT_ACL(E_RT, aclrtDestroyStreamForce((aclrtStream)(uintptr_t)0x1234), "stream");
	EXPECT_ACL(E_RT, aclrtSynchronizeStream((aclrtStream)(uintptr_t)0x1234), "stream");
	EXPECT_ACL_OK(aclrtSynchronizeStream(NULL));

	ASSERT_ACL_OK(aclrtCreateStream(&s1));
	ASSERT_ACL_OK(aclrtCreateStream(&s2));
	EXPECT_NE(NULL, s1);
	EXPECT_NE(NULL, s2);
	EXPECT_NE(s1, s2);
	EXPECT_ACL_OK(aclrtSynchronizeStream(s1));
	EXPECT_ACL_OK(aclrtDestroyStream(s1));
	EXPECT_ACL(E_RT, aclrtDestroyStream(s1), "stream");
	EXPECT_ACL(E_RT, aclrtSynchronizeStream(s1), "stream");
	EXPECT_ACL_OK(aclrtSynchronizeStream(s2));
	EXPECT_ACL_OK(aclrtDestroyStreamForce(s2));
	EXPECT_ACL(E_RT, aclrtDestroyStreamForce(s2), "stream");
}

TEST_F(params, host_memory)
{
	void *p = NULL;

	EXPECT_ACL(E_PARAM, aclrtMallocHost(NULL, 64), "hostPtr");
	EXPECT_ACL(E_PARAM, aclrtMallocHost(&p, 0), "size");
	EXPECT_ACL(E_PARAM, aclrtFreeHost(NULL), "hostPtr");
	EXPECT_ACL(E_RT, aclrtFreeHost(self), "hostPtr");
	EXPECT_ACL(E_NOMEM, aclrtMallocHost(&p, (size_t)1 << 46), "size|memory");

	ASSERT_ACL_OK(aclrtMallocHost(&p, 3 * SZ_4K + 5));
	ASSERT_NE(NULL, p);
	memset(p, 0x3c, 3 * SZ_4K + 5);
	EXPECT_EQ(0x3c, ((unsigned char *)p)[3 * SZ_4K + 4]);
	EXPECT_ACL_OK(aclrtFreeHost(p));
}

TEST_F(params, memcpy_checks)
{
	unsigned char src[64], dst[64];
	aclrtMemAccessDesc d;
	struct acl_mapping m;
	unsigned char *dev;
	void *r = NULL;

	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (unsigned char)(i * 7 + 1);
	ASSERT_ACL_OK(acl_map_new(&m, SZ_2M, ACL_HBM_MEM_HUGE, DEVICE, 0));
	ASSERT_ACL_OK(aclrtReserveMemAddress(&r, SZ_2M, 0, NULL, 0));
	dev = m.va;

	EXPECT_ACL(E_PARAM, aclrtMemcpy(NULL, 64, src, 64, ACL_MEMCPY_HOST_TO_DEVICE), "dst");
	EXPECT_ACL(E_PARAM, aclrtMemcpy(dev, 64, NULL, 64, ACL_MEMCPY_HOST_TO_DEVICE), "src");
	EXPECT_ACL(E_PARAM, aclrtMemcpy(dev, 32, src, 64, ACL_MEMCPY_HOST_TO_DEVICE), "count|destMax");
	EXPECT_ACL(E_PARAM, aclrtMemcpy(dev, 64, src, 64, (aclrtMemcpyKind)5), "kind");
	EXPECT_ACL(E_PARAM, aclrtMemcpy(dev, 64, src, 64, (aclrtMemcpyKind)-1), "kind");

	/* Device pointers must lie inside a mapped range of this process. */
	EXPECT_ACL(E_RT, aclrtMemcpy(r, 64, src, 64, ACL_MEMCPY_HOST_TO_DEVICE), "dst");
	EXPECT_ACL(E_RT, aclrtMemcpy(dst, 64, r, 64, ACL_MEMCPY_DEVICE_TO_HOST), "src");
	EXPECT_ACL(E_RT, aclrtMemcpy(dev + SZ_2M - 32, 64, src, 64, ACL_MEMCPY_HOST_TO_DEVICE), "dst|count");
	EXPECT_ACL(E_RT, aclrtMemcpy(dst, 64, dev + SZ_2M - 32, 64, ACL_MEMCPY_DEVICE_TO_HOST), "src|count");
	EXPECT_ACL(E_RT, aclrtMemcpy(dst, 64, dev, 64, ACL_MEMCPY_DEVICE_TO_DEVICE), "dst");
	EXPECT_ACL(E_RT, aclrtMemcpy(dev, 64, src, 64, ACL_MEMCPY_DEVICE_TO_DEVICE), "src");

	/* The copies themselves. */
	ASSERT_ACL_OK(aclrtMemcpy(dev + 100, 64, src, 64, ACL_MEMCPY_HOST_TO_DEVICE));
	EXPECT_EQ(0, memcmp(dev + 100, src, 64));
	ASSERT_ACL_OK(aclrtMemcpy(dev + SZ_2M - 64, 64, dev + 100, 64, ACL_MEMCPY_DEVICE_TO_DEVICE));
	memset(dst, 0, sizeof(dst));
	ASSERT_ACL_OK(aclrtMemcpy(dst, sizeof(dst), dev + SZ_2M - 64, 64, ACL_MEMCPY_DEVICE_TO_HOST));
	EXPECT_EQ(0, memcmp(dst, src, 64));
	memset(dst, 0, sizeof(dst));
	ASSERT_ACL_OK(aclrtMemcpy(dst, sizeof(dst), src, 64, ACL_MEMCPY_HOST_TO_HOST));
	EXPECT_EQ(0, memcmp(dst, src, 64));
	memset(dst, 0, sizeof(dst));
	ASSERT_ACL_OK(aclrtMemcpy(dst, sizeof(dst), dev + 100, 64, ACL_MEMCPY_DEFAULT));
	EXPECT_EQ(0, memcmp(dst, src, 64));

	/* count 0 is a successful no-op once the parameters are valid. */
	EXPECT_ACL_OK(aclrtMemcpy(dev, 64, src, 0, ACL_MEMCPY_HOST_TO_DEVICE));
	EXPECT_ACL_OK(aclrtMemcpy(dst, 0, src, 0, ACL_MEMCPY_HOST_TO_HOST));

	/* The access flags of the mapping are respected. */
	memset(&d, 0, sizeof(d));
	d.location.type = HOST;
	d.flags = ACL_RT_MEM_ACCESS_FLAGS_READ;
	ASSERT_ACL_OK(aclrtMemSetAccess(m.va, m.size, &d, 1));
	EXPECT_ACL(E_RT, aclrtMemcpy(dev, 64, src, 64, ACL_MEMCPY_HOST_TO_DEVICE), "dst|access|read");
	EXPECT_ACL_OK(aclrtMemcpy(dst, 64, dev + 100, 64, ACL_MEMCPY_DEVICE_TO_HOST));
	d.flags = ACL_RT_MEM_ACCESS_FLAGS_NONE;
	ASSERT_ACL_OK(aclrtMemSetAccess(m.va, m.size, &d, 1));
	EXPECT_ACL(E_RT, aclrtMemcpy(dst, 64, dev + 100, 64, ACL_MEMCPY_DEVICE_TO_HOST), "src|access");
	d.flags = ACL_RT_MEM_ACCESS_FLAGS_READWRITE;
	ASSERT_ACL_OK(aclrtMemSetAccess(m.va, m.size, &d, 1));

	/* After UnmapMem the range is no longer a device range. */
	ASSERT_ACL_OK(aclrtUnmapMem(m.va));
	EXPECT_ACL(E_RT, aclrtMemcpy(dst, 64, dev + 100, 64, ACL_MEMCPY_DEVICE_TO_HOST), "src");
	EXPECT_ACL_OK(aclrtReleaseMemAddress(m.va));
	EXPECT_ACL_OK(aclrtFreePhysical(m.handle));
	EXPECT_ACL_OK(aclrtReleaseMemAddress(r));
}

TEST_F(params, memset_checks)
{
	aclrtMemAccessDesc d;
	struct acl_mapping m;
	unsigned char host[32];
	unsigned char *dev;
	void *r = NULL;

	ASSERT_ACL_OK(acl_map_new(&m, SZ_2M, ACL_HBM_MEM_HUGE, DEVICE, 0));
	ASSERT_ACL_OK(aclrtReserveMemAddress(&r, SZ_2M, 0, NULL, 0));
	dev = m.va;

	EXPECT_ACL(E_PARAM, aclrtMemset(NULL, 64, 1, 64), "devPtr");
	EXPECT_ACL(E_PARAM, aclrtMemset(dev, 32, 1, 64), "count|maxCount");
	EXPECT_ACL(E_RT, aclrtMemset(r, 64, 1, 64), "devPtr");
	EXPECT_ACL(E_RT, aclrtMemset(dev + SZ_2M - 32, 64, 1, 64), "devPtr|count");
	EXPECT_EQ(0, dev[SZ_2M - 32]) TH_LOG("a refused memset wrote memory");

	ASSERT_ACL_OK(aclrtMemset(dev + 10, 100, 0x1ab, 50)); /* value is truncated to a byte */
	EXPECT_EQ(0, dev[9]);
	EXPECT_EQ(0xab, dev[10]);
	EXPECT_EQ(0xab, dev[59]);
	EXPECT_EQ(0, dev[60]);
	ASSERT_ACL_OK(aclrtMemset(host, sizeof(host), 0x11, sizeof(host)));
	EXPECT_EQ(0x11, host[31]);
	EXPECT_ACL_OK(aclrtMemset(dev, 0, 0x22, 0));
	EXPECT_EQ(0, dev[0]);

	/* A read-only mapping cannot be set. */
	memset(&d, 0, sizeof(d));
	d.location.type = HOST;
	d.flags = ACL_RT_MEM_ACCESS_FLAGS_READ;
	ASSERT_ACL_OK(aclrtMemSetAccess(m.va, m.size, &d, 1));
	EXPECT_ACL(E_RT, aclrtMemset(dev, 64, 1, 64), "devPtr|access|read");
	d.flags = ACL_RT_MEM_ACCESS_FLAGS_READWRITE;
	ASSERT_ACL_OK(aclrtMemSetAccess(m.va, m.size, &d, 1));

	EXPECT_ACL_OK(aclrtReleaseMemAddress(r));
	EXPECT_ACL_OK(acl_map_delete(&m));
}

TEST_F(params, init_and_finalize)
{
	char cfg[] = "/tmp/acl_selftest_cfg.XXXXXX";
	int fd;

	EXPECT_ACL(ACL_ERROR_UNINITIALIZE, aclFinalize(), "aclInit|init");
	ASSERT_ACL_OK(aclInit(NULL));
	EXPECT_ACL(ACL_ERROR_REPEAT_INITIALIZE, aclInit(NULL), "aclInit|init");
	EXPECT_ACL_OK(aclFinalize());
	EXPECT_ACL(ACL_ERROR_UNINITIALIZE, aclFinalize(), "aclInit|init");

	EXPECT_ACL(E_PARAM, aclInit("/nonexistent/acl_selftest.json"), "configPath|/nonexistent/acl_selftest.json");
	EXPECT_ACL(ACL_ERROR_UNINITIALIZE, aclFinalize(), "aclInit|init");

	EXPECT_ACL(E_PARAM, aclInit("/"), "configPath|/");
	EXPECT_ACL(ACL_ERROR_UNINITIALIZE, aclFinalize(), "aclInit|init");

	fd = mkstemp(cfg);
	ASSERT_LE(0, fd);
	ASSERT_EQ(2, write(fd, "{}", 2));
	close(fd);
	EXPECT_ACL_OK(aclInit(cfg));
	EXPECT_ACL_OK(aclFinalize());
	unlink(cfg);

	/* "" is taken as NULL. */
	EXPECT_ACL_OK(aclInit(""));
	EXPECT_ACL(ACL_ERROR_REPEAT_INITIALIZE, aclInit(NULL), "aclInit|init");
	EXPECT_ACL_OK(aclFinalize());
}

TEST_F(params, finalize_destroys_streams_but_keeps_memory)
{
	struct acl_mapping m;
	aclrtStream s = NULL;

	ASSERT_ACL_OK(aclInit(NULL));
	ASSERT_ACL_OK(aclrtCreateStream(&s));
	ASSERT_ACL_OK(acl_map_new(&m, SZ_2M, ACL_HBM_MEM_HUGE, DEVICE, 0));
	ASSERT_ACL_OK(aclFinalize());
	EXPECT_ACL(E_RT, aclrtDestroyStream(s), "stream");
	/* Handles and mappings belong to the process, not to aclInit. */
	((volatile char *)m.va)[0] = 1;
	EXPECT_ACL_OK(acl_map_delete(&m));
}

struct thread_msg {
	const char *first;
	char msg[512];
	aclError err;
	bool own_text;
};

static void *thread_fail(void *arg)
{
	struct thread_msg *t = arg;
	const char *m;

	t->first = aclGetRecentErrMsg();
	t->err = aclrtMallocPhysical(NULL, SZ_2M, NULL, 0);
	m = aclGetRecentErrMsg();
	snprintf(t->msg, sizeof(t->msg), "%s", m ? m : "");
	return NULL;
}

TEST_F(params, recent_error_message_is_per_thread)
{
	struct thread_msg t = { .first = "unset" };
	uint32_t count = 0;
	char mine[512];
	pthread_t th;
	const char *m;

	/* A fresh process: no failure on this thread yet. */
	EXPECT_EQ(NULL, aclGetRecentErrMsg());
	EXPECT_ACL(E_HANDLE, aclrtFreePhysical(FORGED_HANDLE), "handle");
	m = aclGetRecentErrMsg();
	ASSERT_NE(NULL, m);
	snprintf(mine, sizeof(mine), "%s", m);

	/* Another thread starts clean and its failure does not touch ours. */
	ASSERT_EQ(0, pthread_create(&th, NULL, thread_fail, &t));
	ASSERT_EQ(0, pthread_join(th, NULL));
	EXPECT_EQ(NULL, t.first);
	EXPECT_EQ(E_PARAM, t.err);
	EXPECT_TRUE(acl_msg_names(t.msg, "handle|prop")) TH_LOG("thread message: \"%s\"", t.msg);
	m = aclGetRecentErrMsg();
	ASSERT_NE(NULL, m);
	EXPECT_STREQ(mine, m);

	/* A successful call keeps the message; the next failure replaces it. */
	ASSERT_ACL_OK(aclrtGetDeviceCount(&count));
	m = aclGetRecentErrMsg();
	ASSERT_NE(NULL, m);
	EXPECT_STREQ(mine, m);
	EXPECT_ACL(E_DEVID, aclrtSetDevice(-7), "device");
	m = aclGetRecentErrMsg();
	ASSERT_NE(NULL, m);
	EXPECT_STRNE(mine, m);
	EXPECT_NE(NULL, strstr(m, "-7")) TH_LOG("the message should give the value: \"%s\"", m);
}

TEST_HARNESS_MAIN
