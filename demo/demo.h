/* SPDX-License-Identifier: MIT */
/*
 * demo.h - helpers shared by the acl-share-demo scenarios: each step of a
 * scenario prints one line saying what it called, with which values, and what
 * came back, so a person can follow the transcript.
 */
#ifndef ACL_SHARE_DEMO_H
#define ACL_SHARE_DEMO_H

#include <stdio.h>
#include <stdlib.h>

#include "acl/acl.h"

/* Prints "<prefix>[<step>] <what>" and flushes, so the transcript interleaves sanely. */
void demo_step(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints a detail line under the current step. */
void demo_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Reports the outcome of an ACL call: "-> ok" on ACL_SUCCESS, otherwise the
 * error code and aclGetRecentErrMsg() of this thread. Returns 0 on success.
 */
int demo_check(aclError ret, const char *call);

/* Reports a failed check of the demo itself (not an ACL error). Returns -1. */
int demo_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Writes a size as "4 MiB", "4 KiB" or "123 bytes" into buf and returns buf. */
const char *demo_size(size_t bytes, char *buf, size_t len);

/* The kernel module's counters under /sys/class/misc/acl_share/stats/. */
struct demo_counters {
	long long allocations, allocated_bytes, mappings;
};

/* Reads the counters; returns 0, or -1 if the module does not expose them. */
int demo_read_counters(struct demo_counters *c);

/* Sets the prefix of every transcript line (e.g. "[exporter] " in a two-process run). */
void demo_set_prefix(const char *prefix);

/* Scenarios. Each returns 0 on success, non-zero after printing why it failed. */
int demo_alloc_map(void);
int demo_share(void);
int demo_ipc(void);
int demo_fabric(void);

#define DEMO_CALL(call) demo_check((call), #call)

#endif /* ACL_SHARE_DEMO_H */
