// SPDX-License-Identifier: MIT
/*
 * acl-share-demo [SCENARIO] - walks through the AscendCL calls that
 * libacl-shim implements over /dev/acl_share, printing what it does.
 *
 * Scenarios: share (default): the two-process sharing demo (share-demo.c);
 * alloc-map: allocate physical memory on device 0, reserve a virtual range,
 * map the memory there, use it, tear it all down (alloc-map-demo.c);
 * ipc: aclrtMalloc memory shared by IPC key between two processes, a third
 * refused (ipc-demo.c);
 * fabric: memory of server 0 imported and copied by server 1 over RDMA, run
 * on both servers at once (fabric-demo.c).
 */
#include <stdio.h>
#include <string.h>

#include "demo.h"

static const struct {
	const char *name;
	int (*run)(void);
	const char *what;
} scenarios[] = {
	{ "share", demo_share,
	  "process A exports memory to process B through the kernel whitelist; process C is refused" },
	{ "alloc-map", demo_alloc_map,
	  "allocate, reserve, map, use and release physical memory in one process" },
	{ "ipc", demo_ipc,
	  "aclrtMalloc memory shared by IPC key with a whitelisted process; another is refused" },
	{ "fabric", demo_fabric,
	  "server 0 exports memory as a FABRIC handle, server 1 imports it and copies it back over "
	  "RDMA; a host without the cluster key and an unnamed process are refused" },
};

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : "share";
	size_t i;

	for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		if (strcmp(name, scenarios[i].name))
			continue;
		printf("acl-share-demo %s: %s\n", scenarios[i].name, scenarios[i].what);
		fflush(stdout);
		if (scenarios[i].run()) {
			printf("acl-share-demo %s: FAILED\n", scenarios[i].name);
			return 1;
		}
		printf("acl-share-demo %s: OK\n", scenarios[i].name);
		return 0;
	}
	fprintf(stderr, "usage: %s [SCENARIO]\nscenarios:\n", argv[0]);
	for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		fprintf(stderr, "  %-12s %s\n", scenarios[i].name, scenarios[i].what);
	return 2;
}
