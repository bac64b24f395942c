// SPDX-License-Identifier: MIT
/*
 * alloc-map-demo.c - the single-process scenario: the life of one physical
 * allocation, from aclrtMallocPhysical to aclrtFreePhysical, with the kernel
 * module's counters read before, during and after.
 */
#include <inttypes.h>
#include <stdint.h>

#include "demo.h"

#define DEMO_DEVICE 0
#define DEMO_SIZE ((size_t)4 << 20) /* 4 MiB: two 2 MiB huge chunks */

static uint64_t pattern(size_t i)
{
	return (uint64_t)i * 0x9E3779B97F4A7C15ull ^ 0xA5C3A5C3A5C3A5C3ull;
}

/* Checks the memory reads as zero, fills it with a pattern and reads it back. */
static int use_memory(void *va, size_t size)
{
	volatile uint64_t *words = va;
	size_t i, n = size / sizeof(uint64_t);

	for (i = 0; i < n; i++) {
		if (words[i] != 0)
			return demo_fail("fresh memory is not zero: word %zu at %p reads 0x%016" PRIx64,
					 i, (void *)&words[i], words[i]);
	}
	demo_note("fresh memory reads as zero (all %zu bytes)", size);
	for (i = 0; i < n; i++)
		words[i] = pattern(i);
	for (i = 0; i < n; i++) {
		if (words[i] != pattern(i))
			return demo_fail("word %zu at %p reads 0x%016" PRIx64 ", wrote 0x%016" PRIx64,
					 i, (void *)&words[i], words[i], pattern(i));
	}
	demo_note("wrote a pattern to all %zu 64-bit words and read it back: all match", n);
	demo_note("word 0 = 0x%016" PRIx64 ", word %zu = 0x%016" PRIx64, words[0], n - 1,
		  words[n - 1]);
	return 0;
}

/* Prints the module's counters; returns -1 only if they differ from *expect. */
static int show_counters(const struct demo_counters *expect)
{
	struct demo_counters c;

	if (demo_read_counters(&c)) {
		demo_note("kernel counters: not available (/sys/class/misc/acl_share/stats/)");
		return 0;
	}
	demo_note("kernel counters: allocations %lld, allocated_bytes %lld, mappings %lld",
		  c.allocations, c.allocated_bytes, c.mappings);
	if (expect && (c.allocations != expect->allocations ||
		       c.allocated_bytes != expect->allocated_bytes ||
		       c.mappings != expect->mappings))
		return demo_fail("expected allocations %lld, allocated_bytes %lld, mappings %lld",
				 expect->allocations, expect->allocated_bytes, expect->mappings);
	return 0;
}

int demo_alloc_map(void)
{
	aclrtPhysicalMemProp prop = {
		.handleType = ACL_MEM_HANDLE_TYPE_NONE,
		.allocationType = ACL_MEM_ALLOCATION_TYPE_PINNED,
		.memAttr = ACL_HBM_MEM_HUGE,
		.location = { .id = DEMO_DEVICE, .type = ACL_MEM_LOCATION_TYPE_DEVICE },
	};
	struct demo_counters before = { 0 }, during;
	aclrtDrvMemHandle handle = NULL;
	size_t gran = 0, range_size = 0;
	void *va = NULL, *range_base = NULL, *probe;
	uint32_t count = 0;
	char s1[32], s2[32];
	int have_counters;

	demo_step("aclInit(NULL), aclrtGetDeviceCount(), aclrtSetDevice(%d)", DEMO_DEVICE);
	if (DEMO_CALL(aclInit(NULL)) || DEMO_CALL(aclrtGetDeviceCount(&count)) ||
	    DEMO_CALL(aclrtSetDevice(DEMO_DEVICE)))
		return -1;
	demo_note("%" PRIu32 " device(s); this thread now uses device %d", count, DEMO_DEVICE);
	have_counters = demo_read_counters(&before) == 0;
	show_counters(NULL);

	demo_step("aclrtMemGetAllocationGranularity(ACL_HBM_MEM_HUGE on device %d, MINIMUM)",
		  DEMO_DEVICE);
	if (DEMO_CALL(aclrtMemGetAllocationGranularity(&prop, ACL_RT_MEM_ALLOC_GRANULARITY_MINIMUM,
							&gran)))
		return -1;
	demo_note("granularity = 0x%zx (%s)", gran, demo_size(gran, s1, sizeof(s1)));
	if (gran == 0 || DEMO_SIZE % gran)
		return demo_fail("%zu bytes is not a multiple of the granularity %zu", DEMO_SIZE, gran);

	demo_step("aclrtMallocPhysical(size = %s, ACL_HBM_MEM_HUGE, device %d, flags 0)",
		  demo_size(DEMO_SIZE, s1, sizeof(s1)), DEMO_DEVICE);
	if (DEMO_CALL(aclrtMallocPhysical(&handle, DEMO_SIZE, &prop, 0)))
		return -1;
	demo_note("handle = %p", handle);

	demo_step("aclrtReserveMemAddress(size = %s, alignment 0, expectPtr NULL, flags 0)",
		  demo_size(DEMO_SIZE, s1, sizeof(s1)));
	if (DEMO_CALL(aclrtReserveMemAddress(&va, DEMO_SIZE, 0, NULL, 0)))
		return -1;
	demo_note("reserved virtual range [%p, %p)", va, (void *)((char *)va + DEMO_SIZE));

	demo_step("aclrtMapMem(%p, %s, offset 0, handle %p, flags 0)", va,
		  demo_size(DEMO_SIZE, s1, sizeof(s1)), handle);
	if (DEMO_CALL(aclrtMapMem(va, DEMO_SIZE, 0, handle, 0)))
		return -1;
	demo_note("mapped: loads and stores at %p now reach the physical allocation", va);
	during = before;
	during.allocations += 1;
	during.allocated_bytes += DEMO_SIZE;
	during.mappings += 1;
	if (show_counters(have_counters ? &during : NULL))
		return -1;

	demo_step("use the memory through the mapping");
	if (use_memory(va, DEMO_SIZE))
		return -1;

	probe = (char *)va + DEMO_SIZE / 2 + 123;
	demo_step("aclrtMemGetAddressRange(%p)  (an address inside the mapping)", probe);
	if (DEMO_CALL(aclrtMemGetAddressRange(probe, &range_base, &range_size)))
		return -1;
	demo_note("base = %p, size = %s", range_base, demo_size(range_size, s1, sizeof(s1)));
	if (range_base != va || range_size != DEMO_SIZE)
		return demo_fail("expected base %p and size %s, got %p and %s", va,
				 demo_size(DEMO_SIZE, s1, sizeof(s1)), range_base,
				 demo_size(range_size, s2, sizeof(s2)));

	demo_step("aclrtUnmapMem(%p), aclrtFreePhysical(%p), aclrtReleaseMemAddress(%p)", va,
		  handle, va);
	if (DEMO_CALL(aclrtUnmapMem(va)) || DEMO_CALL(aclrtFreePhysical(handle)) ||
	    DEMO_CALL(aclrtReleaseMemAddress(va)))
		return -1;
	demo_note("released: with its last holder gone, the memory went back to the kernel");
	if (show_counters(have_counters ? &before : NULL))
		return -1;

	demo_step("aclrtResetDevice(%d), aclFinalize()", DEMO_DEVICE);
	if (DEMO_CALL(aclrtResetDevice(DEMO_DEVICE)) || DEMO_CALL(aclFinalize()))
		return -1;
	return 0;
}
