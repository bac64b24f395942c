// SPDX-License-Identifier: GPL-2.0
/*
 * fabric_bench - what an import costs across servers against the same import
 * on one server (issue 11, docs/fabric.md), on two servers at once
 * (run-in-vm.sh --servers 2 --fabric-module ...): `meson compile -C build
 * bench-fabric`.
 *
 * Server 0 exports a 16 MiB FABRIC handle; server 1 exports one of its own.
 * On server 1 a child process then alternates, round after round:
 *   remote: ImportV2 of server 0's handle + FreePhysical (one IMPORT_REQ and
 *           one RELEASE over an authenticated link that is already up);
 *   local:  ImportV2 of server 1's own handle + FreePhysical.
 * Then, with both imports mapped, aclrtMemcpy of all 16 MiB device-to-host
 * and host-to-device: RDMA READ/WRITE for the remote one, a CPU copy for the
 * local one.
 * Each figure is the median of its rounds: a ratio within one run, which is
 * what TCG allows (both guests share the host's cores). The first remote
 * import, which makes the link (rdma_cm connect and the handshake), is shown
 * on its own.
 *
 * It prints figures and asserts nothing; it fails only if a call fails.
 * Environment: ACL_BENCH_ROUNDS (default 201).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "acl/acl.h"
#include "median.h"
#include "fabric_util.h"

#define SIZE (16UL << 20)
#define KEY "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define MAX_ROUNDS 10001

static void die(const char *what)
{
	fprintf(stderr, "fabric_bench: server %u: %s: %s (%s)\n", fabric_me(), what,
		strerror(errno), aclGetRecentErrMsg() ? aclGetRecentErrMsg() : "-");
	exit(1);
}

#define ACL_OK(call) do { if ((call) != ACL_SUCCESS) die(#call); } while (0)

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

/* ImportV2 + FreePhysical of @f; its time in microseconds. */
static double import_free(aclrtMemFabricHandle *f)
{
	aclrtDrvMemHandle h;
	double t0 = now_us();

	ACL_OK(aclrtMemImportFromShareableHandleV2(f, ACL_MEM_SHARE_HANDLE_TYPE_FABRIC, 0, &h));
	ACL_OK(aclrtFreePhysical(h));
	return now_us() - t0;
}

/* Imports @f and maps it; the address. */
static void *import_map(aclrtMemFabricHandle *f, aclrtDrvMemHandle *h)
{
	void *va;

	ACL_OK(aclrtMemImportFromShareableHandleV2(f, ACL_MEM_SHARE_HANDLE_TYPE_FABRIC, 0, h));
	ACL_OK(aclrtReserveMemAddress(&va, SIZE, 0, NULL, 0));
	ACL_OK(aclrtMapMem(va, SIZE, 0, *h, 0));
	return va;
}

static double copy_us(void *dst, const void *src, aclrtMemcpyKind kind)
{
	double t0 = now_us();

	ACL_OK(aclrtMemcpy(dst, SIZE, src, SIZE, kind));
	return now_us() - t0;
}

/* 16 MiB each way, to and from the remote import and the local one. */
static void copies(aclrtMemFabricHandle *remote, aclrtMemFabricHandle *local, int rounds)
{
	static double t[4][MAX_ROUNDS];
	aclrtDrvMemHandle hr, hl;
	void *vr = import_map(remote, &hr), *vl = import_map(local, &hl), *buf = malloc(SIZE);
	static const char *const what[4] = {
		"device to host, across servers", "device to host, on one server",
		"host to device, across servers", "host to device, on one server",
	};
	double m[4];

	if (!buf)
		die("malloc");
	memset(buf, 1, SIZE);
	for (int i = 0; i < rounds; i++) {
		t[0][i] = copy_us(buf, vr, ACL_MEMCPY_DEVICE_TO_HOST);
		t[1][i] = copy_us(buf, vl, ACL_MEMCPY_DEVICE_TO_HOST);
		t[2][i] = copy_us(vr, buf, ACL_MEMCPY_HOST_TO_DEVICE);
		t[3][i] = copy_us(vl, buf, ACL_MEMCPY_HOST_TO_DEVICE);
	}
	printf("fabric_bench: aclrtMemcpy of 16 MiB, median of %d rounds\n", rounds);
	for (int k = 0; k < 4; k++) {
		m[k] = median(t[k], rounds);
		printf("  %-32s %10.1f ms %8.1f MB/s\n", what[k], m[k] / 1e3,
		       (double)SIZE / m[k]);
	}
	printf("  across / one server: read %.1fx, write %.1fx\n", m[0] / m[1], m[2] / m[3]);
	ACL_OK(aclrtUnmapMem(vr));
	ACL_OK(aclrtUnmapMem(vl));
	ACL_OK(aclrtReleaseMemAddress(vr));
	ACL_OK(aclrtReleaseMemAddress(vl));
	ACL_OK(aclrtFreePhysical(hr));
	ACL_OK(aclrtFreePhysical(hl));
	free(buf);
}

/* Server 1's importing process: a child, as an exporter may not import its own. */
static void measure(aclrtMemFabricHandle *remote, aclrtMemFabricHandle *local, int rounds)
{
	static double tr[MAX_ROUNDS], tl[MAX_ROUNDS];
	double first, mr, ml;

	ACL_OK(aclrtSetDevice(0));
	first = import_free(remote);
	for (int i = 0; i < rounds; i++) {
		tr[i] = import_free(remote);
		tl[i] = import_free(local);
	}
	mr = median(tr, rounds);
	ml = median(tl, rounds);
	printf("fabric_bench: import + free of a 16 MiB FABRIC handle, median of %d rounds\n",
	       rounds);
	printf("  first across servers (makes the link): %10.1f us\n", first);
	printf("  across servers (link up):              %10.1f us\n", mr);
	printf("  on one server:                         %10.1f us\n", ml);
	printf("  across / one server:                   %10.2fx\n", mr / ml);
	copies(remote, local, rounds / 10 + 1);
}

int main(void)
{
	const char *r = getenv("ACL_BENCH_ROUNDS");
	int rounds = r ? atoi(r) : 201;
	aclrtPhysicalMemProp prop = {
		.handleType = ACL_MEM_HANDLE_TYPE_NONE,
		.allocationType = ACL_MEM_ALLOCATION_TYPE_PINNED,
		.memAttr = ACL_HBM_MEM_HUGE,
		.location = { .type = ACL_MEM_LOCATION_TYPE_DEVICE, .id = 0 },
	};
	aclrtMemFabricHandle mine, theirs;
	aclrtDrvMemHandle h;
	pid_t child;

	if (rounds < 1 || rounds > MAX_ROUNDS)
		rounds = 201;
	if (fabric_pair(KEY))
		die("configuring the fabric");
	ACL_OK(aclInit(NULL));
	ACL_OK(aclrtSetDevice(0));
	ACL_OK(aclrtMallocPhysical(&h, SIZE, &prop, 0));
	ACL_OK(aclrtMemExportToShareableHandleV2(h, ACL_RT_VMM_EXPORT_FLAG_DISABLE_PID_VALIDATION,
						 ACL_MEM_SHARE_HANDLE_TYPE_FABRIC, &mine));
	if (fabric_swap("handles", &mine, &theirs, sizeof(mine)))
		die("exchanging the handles");
	if (fabric_me() == 1) {
		child = fork();
		if (child < 0)
			die("fork");
		if (child == 0) {
			measure(&theirs, &mine, rounds);
			exit(0);
		}
		int status;

		if (waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			die("the measuring process");
	}
	if (fabric_barrier("measured"))
		die("the last barrier");
	ACL_OK(aclrtFreePhysical(h));
	fabric_reset();
	return 0;
}
