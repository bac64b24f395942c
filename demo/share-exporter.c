// SPDX-License-Identifier: MIT
/*
 * acl-share-exporter SOCKET - process A of the two-process sharing demo,
 * following CANN's sample: granularity, MallocPhysical, Reserve, Map, write,
 * Export; then for each importer that connects: receive its bare tgid,
 * whitelist it if it was invited (SetPid), hand over the shareable handle
 * and read its report. Finally check the invited importer's write and free
 * everything.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "demo.h"
#include "share-channel.h"

#define DEVICE 0
#define IMPORTERS 2

/*
 * Serves one importer. @message is what this process wrote into the shared
 * memory: an invited importer succeeds only if it read exactly that.
 */
static int serve(int lfd, const struct share_offer *offer, const char *message,
		 int *invited_ok, int *uninvited_refused)
{
	size_t len = strlen(message);
	uint64_t shareable = offer->shareable;
	struct share_report rep;
	struct share_hello hello;
	int fd, ret = -1;

	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return demo_fail("accept: %s", strerror(errno));
	if (channel_recv(fd, &hello, sizeof(hello))) {
		demo_fail("no hello from the importer");
		goto out;
	}
	if (hello.invited) {
		demo_step("importer with bare tgid %d asks for the memory: "
			  "aclrtMemSetPidToShareableHandle(0x%016" PRIx64 ", [%d], 1)",
			  hello.bare_tgid, shareable, hello.bare_tgid);
		if (DEMO_CALL(aclrtMemSetPidToShareableHandle(shareable, &hello.bare_tgid, 1)))
			goto out;
		demo_note("-> ok: the kernel now lets that process (and only it) import");
	} else {
		demo_step("process with bare tgid %d connects uninvited: it gets the handle value "
			  "but is NOT whitelisted", hello.bare_tgid);
	}
	if (channel_send(fd, offer, sizeof(*offer)) ||
	    channel_recv(fd, &rep, sizeof(rep))) {
		demo_fail("the importer went away");
		goto out;
	}
	if (hello.invited) {
		demo_note("importer %d reports: import returned %d, read %u bytes (%s), wrote "
			  "0x%016" PRIx64, hello.bare_tgid, rep.aclerror, rep.checked,
			  rep.checked == len && rep.digest == share_digest(message, len) ?
			  "exactly the message" : "NOT the message", rep.reply);
		*invited_ok = rep.aclerror == ACL_SUCCESS && rep.checked == len &&
			      rep.digest == share_digest(message, len);
	} else {
		demo_note("process %d reports: its import returned %d", hello.bare_tgid,
			  rep.aclerror);
		*uninvited_refused = rep.aclerror == ACL_ERROR_RT_DRV_INTERNAL_ERROR;
	}
	ret = 0;
out:
	close(fd);
	return ret;
}

int main(int argc, char **argv)
{
	aclrtPhysicalMemProp prop = {
		.handleType = ACL_MEM_HANDLE_TYPE_NONE,
		.allocationType = ACL_MEM_ALLOCATION_TYPE_PINNED,
		.memAttr = ACL_HBM_MEM_HUGE,
		.location = { .id = DEVICE, .type = ACL_MEM_LOCATION_TYPE_DEVICE },
	};
	int invited_ok = 0, uninvited_refused = 0, lfd, i, status = 1;
	aclrtDrvMemHandle handle = NULL;
	struct share_offer offer = { 0, 0 };
	uint64_t shareable = 0, reply;
	size_t gran = 0, size;
	void *va = NULL;
	char s[32], s2[32], message[64];

	if (argc != 2) {
		fprintf(stderr, "usage: %s SOCKET\n", argv[0]);
		return 2;
	}
	demo_set_prefix("[exporter] ");
	demo_step("aclInit(NULL), aclrtSetDevice(%d)", DEVICE);
	if (DEMO_CALL(aclInit(NULL)) || DEMO_CALL(aclrtSetDevice(DEVICE)))
		return 1;
	demo_step("aclrtMemGetAllocationGranularity(ACL_HBM_MEM_HUGE, device %d, MINIMUM)", DEVICE);
	if (DEMO_CALL(aclrtMemGetAllocationGranularity(&prop, ACL_RT_MEM_ALLOC_GRANULARITY_MINIMUM,
						       &gran)))
		return 1;
	size = 2 * gran;
	demo_note("-> %s; allocating two of them: %s", demo_size(gran, s2, sizeof(s2)),
		  demo_size(size, s, sizeof(s)));
	demo_step("aclrtMallocPhysical(%s), aclrtReserveMemAddress(%s), aclrtMapMem", s, s);
	if (DEMO_CALL(aclrtMallocPhysical(&handle, size, &prop, 0)))
		return 1;
	if (DEMO_CALL(aclrtReserveMemAddress(&va, size, 0, NULL, 0)) ||
	    DEMO_CALL(aclrtMapMem(va, size, 0, handle, 0)))
		goto free_handle;
	demo_note("-> handle %p mapped at %p", handle, va);
	demo_step("write the message into the shared memory");
	snprintf(message, sizeof(message), "hello from process %d through /dev/acl_share",
		 (int)getpid());
	memcpy(va, message, strlen(message) + 1);
	demo_note("\"%s\"", (char *)va);

	demo_step("aclrtMemExportToShareableHandle(handle, NONE, ACL_RT_VMM_EXPORT_FLAG_DEFAULT)");
	if (DEMO_CALL(aclrtMemExportToShareableHandle(handle, ACL_MEM_HANDLE_TYPE_NONE,
						      ACL_RT_VMM_EXPORT_FLAG_DEFAULT, &shareable)))
		goto unmap;
	demo_note("-> shareable handle 0x%016" PRIx64 " (random, from the kernel); "
		  "pid validation is on: nobody may import yet", shareable);

	offer.shareable = shareable;
	offer.size = size;
	lfd = channel_listen(argv[1]);
	if (lfd < 0) {
		demo_fail("cannot listen on %s: %s", argv[1], strerror(errno));
		goto unmap;
	}
	demo_note("waiting for importers on %s", argv[1]);
	for (i = 0; i < IMPORTERS; i++)
		if (serve(lfd, &offer, message, &invited_ok, &uninvited_refused))
			break;
	close(lfd);
	unlink(argv[1]);

	demo_step("read back what the importer wrote at the start of the memory");
	memcpy(&reply, va, sizeof(reply));
	demo_note("-> 0x%016" PRIx64 " (%s)", reply,
		  reply == SHARE_REPLY ? "the importer's value: same physical pages" : "unexpected");
	if (i == IMPORTERS && invited_ok && uninvited_refused && reply == SHARE_REPLY)
		status = 0;
	else
		demo_fail("invited import ok %d, uninvited refused %d, reply %s", invited_ok,
			  uninvited_refused, reply == SHARE_REPLY ? "seen" : "missing");
unmap:
	demo_step("aclrtUnmapMem, aclrtFreePhysical (revokes the shareable handle), "
		  "aclrtReleaseMemAddress");
	if (DEMO_CALL(aclrtUnmapMem(va)) || DEMO_CALL(aclrtReleaseMemAddress(va)))
		status = 1;
free_handle:
	if (DEMO_CALL(aclrtFreePhysical(handle)))
		status = 1;
	aclrtResetDevice(DEVICE);
	aclFinalize();
	return status;
}
