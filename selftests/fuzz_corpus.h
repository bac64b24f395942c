/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fuzz_corpus.h - regression seeds of fuzz_test.c (TEST fuzz_corpus).
 *
 * Each entry is replayed with its own worker count and operation count
 * (independent of ACL_FUZZ_OPS), so that it walks the same path it walked
 * when it was added: a worker's sequence of operations is a function of
 * (seed, worker, life) and of the results it gets back, which depend on its
 * siblings only where they share exports.
 *
 * To add a seed: run fuzz_test with ACL_FUZZ_SEED=<seed> ACL_FUZZ_OPS=<ops>
 * ACL_FUZZ_WORKERS=<workers>, check from the event totals it logs that it
 * reaches the path you care about, and add a line here saying which.
 */
#ifndef ACL_FUZZ_CORPUS_H
#define ACL_FUZZ_CORPUS_H

#include <stdint.h>

struct fuzz_seed {
	uint64_t seed;
	unsigned int workers;
	unsigned int ops;	/* per worker */
	const char *why;
};

static const struct fuzz_seed fuzz_corpus[] = {
	/* Found while writing the fuzzer (stock 6.1 kernel). */
	{ 0x2039dc34ef86f21b, 4, 400,
	  "MADV_DOFORK on device mappings then fork(): the child must not reach the "
	  "parent's pages (first seed to show the inherited mapping)" },
	{ 0xdb4c0a1b7d0f4371, 1, 400,
	  "one worker, deterministic: mremap MREMAP_DONTUNMAP moves, mprotect(PROT_EXEC) "
	  "of device mappings must fail" },
	/* Picked from a sweep of 0xac10001..0xac10020 for the paths they reach. */
	{ 0xac10001, 4, 400,
	  "most mremap of device mappings (shrink, move), fork with live device "
	  "mappings, fork after MADV_DOFORK, close/reopen" },
	{ 0xac10007, 4, 400,
	  "most PMD splits: partial munmap/mprotect/madvise of 2 MiB-mapped huge "
	  "allocations; cross-process SET_PID and IMPORT" },
	{ 0xac10005, 4, 400,
	  "most device mappings at 2 MiB-aligned addresses (PMD-mapped) and mremap of them" },
	{ 0xac1001b, 4, 400,
	  "most successful imports of siblings' exports, raw and through the library, "
	  "and fork after MADV_DOFORK" },
	{ 0xac1001d, 4, 400,
	  "most frees of exported handles (revocation) while siblings import, whitelist "
	  "and map them: export/import/free races between workers" },
	{ 0xac10014, 4, 400,
	  "most _exit()/SIGKILL of workers in the middle of their sequence (new lives "
	  "continue it) with PMD splits" },
	{ 0xac10008, 4, 400,
	  "library calls (malloc/reserve/map/export/import/memcpy) mixed with raw ioctls "
	  "and reopens of the device" },
};

#endif /* ACL_FUZZ_CORPUS_H */
