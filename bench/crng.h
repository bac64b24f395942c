/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel's random number generator seeded before anything is timed.
 *
 * Until the CRNG is seeded, every get_random_u64() in the kernel draws a
 * fresh ChaCha block instead of taking the next word of a per-CPU batch:
 * an export (a random key) cost about 20 us more under TCG (function_graph)
 * in the test VM (no RDRAND, no virtio-rng), still 20 s after its boot.
 * Any real host has been seeded for long by the time it shares memory. A
 * blocking getrandom() makes the kernel seed it now (jitter entropy since
 * 5.4: about a second).
 */
#ifndef ACL_BENCH_CRNG_H
#define ACL_BENCH_CRNG_H

#include <errno.h>
#include <stdio.h>
#include <sys/random.h>

static inline void wait_for_crng(void)
{
	unsigned char b;

	while (getrandom(&b, 1, 0) < 0)
		if (errno != EINTR) {
			perror("getrandom (timing with the CRNG as it is)");
			return;
		}
}

#endif
