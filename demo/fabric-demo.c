// SPDX-License-Identifier: MIT
/*
 * fabric-demo.c - the "fabric" scenario of acl-share-demo, run on two
 * servers at once (run-in-vm.sh --servers 2, or two hosts with
 * ACL_SERVER_ID, ACL_SERVER_IPS set): CANN's cross-server sample
 * (12_cross_server_physical_memory_sharing) with pid validation on.
 *
 * Server 0 allocates, fills and exports memory as a FABRIC handle, names
 * server 1's importing process with aclrtMemSetServerPidToShareableHandle
 * and sends it the 128 bytes over TCP (the sample uses UDP). Server 1 first
 * holds the wrong cluster key: its import is refused, as any host that is
 * not an authenticated peer. With the right key, a process of server 1 that
 * was not named is refused; the named one imports, maps, copies the whole
 * memory back with aclrtMemcpy (RDMA READ, docs/fabric.md) and checks its
 * digest against the exporter's, then writes a reply that server 0 reads.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "demo.h"

#define FABRIC_SIZE ((size_t)4 << 20)
#define FABRIC_PORT 7201
#define REPLY_AT ((size_t)3 << 20)
#define CLUSTER_KEY "5ca1ab1e0ddba11c0ffee0ddf00dfacec0de5eedbeadfeedcafed00dbaddcafe"
#define WRONG_KEY "00000000000000000000000000000000000000000000000000000000000000ff"

static const char reply[] = "server 1 read all of it over RDMA and wrote this back";

/* What server 0 sends server 1: the shareable handle and what to expect of the memory. */
struct offer {
	aclrtMemFabricHandle handle;
	uint64_t digest;
};

/* FNV-1a, 64 bits: the digest both servers compute of the memory. */
static uint64_t digest(const unsigned char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

static unsigned char pattern(size_t off)
{
	return (unsigned char)((off * 131 + (off >> 12) * 7) ^ 0x5a);
}

static int full_io(int fd, void *buf, size_t n, bool out)
{
	for (size_t at = 0; at < n;) {
		ssize_t r = out ? write(fd, (char *)buf + at, n - at) : read(fd, (char *)buf + at, n - at);

		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			return -1;
		}
		at += (size_t)r;
	}
	return 0;
}

/* Runs the acl-share-fabric command an operator would type; @key goes to its stdin. */
static int operator_cmd(const char *args, const char *key)
{
	char cmd[256];
	FILE *f;

	demo_note("# acl-share-fabric %s%s", args, key ? "   (key on stdin)" : "");
	snprintf(cmd, sizeof(cmd), "acl-share-fabric %s", args);
	f = popen(cmd, "w");
	if (!f)
		return demo_fail("cannot run acl-share-fabric: %s", strerror(errno));
	if (key)
		fprintf(f, "%s\n", key);
	if (pclose(f))
		return demo_fail("acl-share-fabric %s failed", args);
	return 0;
}

static unsigned int env_uint(const char *name, unsigned int dflt)
{
	const char *v = getenv(name);

	return v ? (unsigned int)strtoul(v, NULL, 10) : dflt;
}

/* Server @id's address: the @id-th word of ACL_SERVER_IPS (run-in-vm.sh sets it). */
static int server_ip(unsigned int id, char *buf, size_t len)
{
	const char *ips = getenv("ACL_SERVER_IPS");

	if (!ips)
		return demo_fail("ACL_SERVER_IPS is not set: run on two servers (run-in-vm.sh --servers 2)");
	for (unsigned int i = 0; i < id; i++) {
		ips = strchr(ips, ' ');
		if (!ips)
			return demo_fail("ACL_SERVER_IPS has no server %u", id);
		ips++;
	}
	snprintf(buf, len, "%.*s", (int)strcspn(ips, " "), ips);
	return 0;
}

/* Undoes what of reserve, map and import was done; 0 if every call succeeded. */
static int release_all(void *va, aclrtDrvMemHandle h)
{
	int bad = 0;

	if (va) {
		bad |= DEMO_CALL(aclrtUnmapMem(va));
		bad |= DEMO_CALL(aclrtReleaseMemAddress(va));
	}
	if (h)
		bad |= DEMO_CALL(aclrtFreePhysical(h));
	return bad;
}

/* ------------------------------------------------------------ server 0 */

static int exporter(void)
{
	char peer1[64], cmd[96], sz[32];
	aclrtPhysicalMemProp prop = {
		.handleType = ACL_MEM_HANDLE_TYPE_NONE,
		.allocationType = ACL_MEM_ALLOCATION_TYPE_PINNED,
		.memAttr = ACL_HBM_MEM_HUGE,
		.location = { .id = 0, .type = ACL_MEM_LOCATION_TYPE_DEVICE },
	};
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(FABRIC_PORT) };
	aclrtDrvMemHandle h = NULL;
	unsigned char *va = NULL;
	struct offer offer;
	int32_t tgid = 0;
	aclrtServerPid sp = { .sdid = 1, .pid = &tgid, .num = 1 };
	int ls = -1, s = -1, one = 1, bad = 1;
	char done;

	if (server_ip(1, peer1, sizeof(peer1)))
		return 1;
	demo_step("the operator makes server 1 a peer of this cluster");
	snprintf(cmd, sizeof(cmd), "add-peer 1 %s", peer1);
	if (operator_cmd("set-key -", CLUSTER_KEY) || operator_cmd(cmd, NULL))
		return 1;
	demo_step("aclrtSetDevice(0), aclrtMallocPhysical(%s, ACL_HBM_MEM_HUGE), "
		  "aclrtReserveMemAddress, aclrtMapMem", demo_size(FABRIC_SIZE, sz, sizeof(sz)));
	if (DEMO_CALL(aclrtSetDevice(0)) || DEMO_CALL(aclrtMallocPhysical(&h, FABRIC_SIZE, &prop, 0)))
		return 1;
	if (DEMO_CALL(aclrtReserveMemAddress((void **)&va, FABRIC_SIZE, 0, NULL, 0)) ||
	    DEMO_CALL(aclrtMapMem(va, FABRIC_SIZE, 0, h, 0)))
		goto out;
	for (size_t i = 0; i < FABRIC_SIZE; i++)
		va[i] = pattern(i);
	offer.digest = digest(va, FABRIC_SIZE);
	demo_note("filled %s; its digest (FNV-1a 64) is %016llx", sz,
		  (unsigned long long)offer.digest);
	demo_step("aclrtMemExportToShareableHandleV2(handle, ACL_RT_VMM_EXPORT_FLAG_DEFAULT, "
		  "ACL_MEM_SHARE_HANDLE_TYPE_FABRIC)");
	if (DEMO_CALL(aclrtMemExportToShareableHandleV2(h, ACL_RT_VMM_EXPORT_FLAG_DEFAULT,
							ACL_MEM_SHARE_HANDLE_TYPE_FABRIC,
							&offer.handle)))
		goto out;
	demo_note("-> 128 bytes naming server 0; pid validation is on: nobody may import yet");

	ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(ls, (struct sockaddr *)&sa, sizeof(sa)) || listen(ls, 1)) {
		demo_fail("cannot listen on TCP port %d: %s", FABRIC_PORT, strerror(errno));
		goto out;
	}
	demo_step("waiting on TCP port %d for server 1's importer to say who it is", FABRIC_PORT);
	s = accept(ls, NULL, NULL);
	if (s < 0 || full_io(s, &tgid, sizeof(tgid), false)) {
		demo_fail("server 1 did not connect: %s", strerror(errno));
		goto out;
	}
	demo_step("aclrtMemSetServerPidToShareableHandle(handle, {sdid 1, pid {%d}, num 1}, 1)",
		  tgid);
	if (DEMO_CALL(aclrtMemSetServerPidToShareableHandle(&offer.handle, &sp, 1)))
		goto out;
	demo_note("-> ok: process %d of server 1, and only it, may import; sending the handle", tgid);
	if (full_io(s, &offer, sizeof(offer), true)) {
		demo_fail("cannot send the handle: %s", strerror(errno));
		goto out;
	}
	if (full_io(s, &done, 1, false) || done != 'd') {
		demo_fail("server 1 did not finish");
		goto out;
	}
	demo_step("server 1 is done; read what it wrote at offset %zu MiB", REPLY_AT >> 20);
	demo_note("\"%.*s\"", (int)sizeof(reply) - 1, (char *)va + REPLY_AT);
	if (memcmp(va + REPLY_AT, reply, sizeof(reply))) {
		demo_fail("server 1's reply is not in the memory");
		goto out;
	}
	if (va[REPLY_AT - 1] != pattern(REPLY_AT - 1) ||
	    va[REPLY_AT + sizeof(reply)] != pattern(REPLY_AT + sizeof(reply))) {
		demo_fail("server 1's write spilled beyond its reply");
		goto out;
	}
	demo_note("-> exactly the reply, and nothing around it changed");
	bad = 0;
out:
	if (s >= 0)
		close(s);
	if (ls >= 0)
		close(ls);
	demo_step("aclrtUnmapMem, aclrtReleaseMemAddress, aclrtFreePhysical (revokes the handle)");
	bad |= release_all(va, h);
	return bad ? 1 : 0;
}

/* ------------------------------------------------------------ server 1 */

/* A process of server 1 that server 0 did not name: refused by server 0's kernel. */
static int uninvited(const struct offer *offer)
{
	aclrtDrvMemHandle h;
	int32_t tgid = 0;
	aclError e;
	pid_t pid;
	int st;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return demo_fail("fork: %s", strerror(errno));
	if (pid == 0) {
		demo_set_prefix("[uninvited] ");
		if (DEMO_CALL(aclrtSetDevice(0)) || DEMO_CALL(aclrtDeviceGetBareTgid(&tgid)))
			_exit(1);
		/* a note, not a step: the steps are the importer's */
		demo_note("process %d, not named by server 0, tries "
			  "aclrtMemImportFromShareableHandleV2(FABRIC)", tgid);
		e = aclrtMemImportFromShareableHandleV2((void *)&offer->handle,
							ACL_MEM_SHARE_HANDLE_TYPE_FABRIC, 0, &h);
		if (e != ACL_ERROR_RT_DRV_INTERNAL_ERROR) {
			demo_fail("its import returned %d, not 507899", (int)e);
			_exit(1);
		}
		demo_note("-> %d, refused by server 0's kernel as it must be: %s", (int)e,
			  aclGetRecentErrMsg());
		_exit(0);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		return demo_fail("the uninvited process failed");
	return 0;
}

static int connect_retry(const char *ip)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(FABRIC_PORT) };
	struct timespec pause = { 0, 100 * 1000 * 1000 };

	inet_pton(AF_INET, ip, &sa.sin_addr);
	for (int i = 0; i < 1200; i++) {	/* server 0 may still be setting up: 120 s */
		int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (s < 0)
			return -1;
		if (!connect(s, (struct sockaddr *)&sa, sizeof(sa)))
			return s;
		close(s);
		nanosleep(&pause, NULL);
	}
	return -1;
}

static int importer(void)
{
	char peer0[64], cmd[96], sz[32];
	aclrtMemAccessDesc access = {
		.flags = ACL_RT_MEM_ACCESS_FLAGS_READWRITE,
		.location = { .id = 0, .type = ACL_MEM_LOCATION_TYPE_DEVICE },
	};
	aclrtDrvMemHandle h = NULL;
	unsigned char *copy = NULL;
	void *va = NULL;
	struct offer offer;
	int32_t tgid = 0;
	int s = -1, bad = 1;
	uint64_t mine;
	aclError e;

	if (server_ip(0, peer0, sizeof(peer0)))
		return 1;
	demo_step("the operator adds server 0 as a peer, but with a key that is not the cluster's");
	snprintf(cmd, sizeof(cmd), "add-peer 0 %s", peer0);
	if (operator_cmd("set-key -", WRONG_KEY) || operator_cmd(cmd, NULL))
		return 1;
	demo_step("aclrtSetDevice(0), aclrtDeviceGetBareTgid(), tell server 0 over TCP");
	if (DEMO_CALL(aclrtSetDevice(0)) || DEMO_CALL(aclrtDeviceGetBareTgid(&tgid)))
		return 1;
	s = connect_retry(peer0);
	if (s < 0 || full_io(s, &tgid, sizeof(tgid), true) ||
	    full_io(s, &offer, sizeof(offer), false)) {
		demo_fail("cannot reach server 0 at %s:%d: %s", peer0, FABRIC_PORT, strerror(errno));
		goto out;
	}
	demo_note("bare tgid %d; received the 128-byte FABRIC handle and digest %016llx", tgid,
		  (unsigned long long)offer.digest);

	demo_step("aclrtMemImportFromShareableHandleV2(FABRIC) while this host cannot prove "
		  "it belongs to the cluster");
	e = aclrtMemImportFromShareableHandleV2(&offer.handle, ACL_MEM_SHARE_HANDLE_TYPE_FABRIC, 0,
						&h);
	if (e != ACL_ERROR_RT_FEATURE_NOT_SUPPORT) {
		demo_fail("an import from an unauthenticated host returned %d, not 207000", (int)e);
		goto out;
	}
	demo_note("-> %d, refused: %s", (int)e, aclGetRecentErrMsg());
	h = NULL;

	demo_step("the operator sets the cluster key");
	if (operator_cmd("set-key -", CLUSTER_KEY) || uninvited(&offer))
		goto out;
	demo_set_prefix("[importer] ");

	demo_step("aclrtMemImportFromShareableHandleV2(FABRIC), aclrtReserveMemAddress, "
		  "aclrtMapMem, aclrtMemSetAccess");
	if (DEMO_CALL(aclrtMemImportFromShareableHandleV2(&offer.handle,
							  ACL_MEM_SHARE_HANDLE_TYPE_FABRIC, 0, &h)))
		goto out;
	if (DEMO_CALL(aclrtReserveMemAddress(&va, FABRIC_SIZE, 0, NULL, 0)) ||
	    DEMO_CALL(aclrtMapMem(va, FABRIC_SIZE, 0, h, 0)) ||
	    DEMO_CALL(aclrtMemSetAccess(va, FABRIC_SIZE, &access, 1)))
		goto out;
	demo_note("-> server 0's memory mapped at %p (the CPU cannot load it: copies can)", va);

	demo_step("aclrtMemcpy(host, %s, va, %s, ACL_MEMCPY_DEVICE_TO_HOST): RDMA READ",
		  demo_size(FABRIC_SIZE, sz, sizeof(sz)), sz);
	copy = malloc(FABRIC_SIZE);
	if (!copy) {
		demo_fail("out of memory");
		goto out;
	}
	if (DEMO_CALL(aclrtMemcpy(copy, FABRIC_SIZE, va, FABRIC_SIZE, ACL_MEMCPY_DEVICE_TO_HOST)))
		goto out;
	mine = digest(copy, FABRIC_SIZE);
	demo_note("digest of the copy %016llx: %s", (unsigned long long)mine,
		  mine == offer.digest ? "the same as server 0's" : "DIFFERENT");
	if (mine != offer.digest) {
		demo_fail("the bytes read are not server 0's");
		goto out;
	}
	demo_step("aclrtMemcpy(va + %zu MiB, ..., reply, %zu, ACL_MEMCPY_HOST_TO_DEVICE): RDMA WRITE",
		  REPLY_AT >> 20, sizeof(reply));
	if (DEMO_CALL(aclrtMemcpy((char *)va + REPLY_AT, FABRIC_SIZE - REPLY_AT, reply,
				  sizeof(reply), ACL_MEMCPY_HOST_TO_DEVICE)))
		goto out;
	bad = 0;
out:
	demo_step("aclrtUnmapMem, aclrtReleaseMemAddress, aclrtFreePhysical (server 0's "
		  "reference for this import is released)");
	bad |= release_all(va, h);
	free(copy);
	if (s >= 0) {
		if (!bad && full_io(s, "d", 1, true))
			bad = demo_fail("cannot tell server 0");
		close(s);
	}
	return bad ? 1 : 0;
}

int demo_fabric(void)
{
	unsigned int me = env_uint("ACL_SERVER_ID", ~0U);

	if (me > 1)
		return demo_fail("ACL_SERVER_ID must be 0 or 1 (run on two servers: "
				 "run-in-vm.sh --servers 2, or tools/demo.sh --servers 2)");
	demo_set_prefix(me ? "[importer] " : "[exporter] ");
	return me ? importer() : exporter();
}
