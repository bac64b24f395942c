// SPDX-License-Identifier: MIT
/*
 * acl-share-importer SOCKET [--uninvited] - process B (or, uninvited, C) of
 * the two-process sharing demo: send its bare tgid to the exporter, receive
 * the shareable handle, import it, map it, read the exporter's message and
 * write a reply. The uninvited process must be refused by the kernel.
 */
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "demo.h"
#include "share-channel.h"

#define DEVICE 0

/* Import succeeded: map, read, reply, unmap. Returns 0 or -1. */
static int use_import(aclrtDrvMemHandle h, size_t size, struct share_report *rep)
{
	uint64_t reply = SHARE_REPLY;
	void *va = NULL;
	int ret = -1;
	char s[32];

	demo_step("aclrtReserveMemAddress(%s), aclrtMapMem(handle %p)",
		  demo_size(size, s, sizeof(s)), h);
	if (DEMO_CALL(aclrtReserveMemAddress(&va, size, 0, NULL, 0)))
		return -1;
	if (DEMO_CALL(aclrtMapMem(va, size, 0, h, 0)))
		goto release;
	demo_note("-> mapped at %p", va);
	demo_step("read the exporter's message");
	demo_note("\"%s\"", (char *)va);
	rep->checked = (uint32_t)strnlen(va, size);
	rep->digest = share_digest(va, rep->checked);
	demo_step("write 0x%016" PRIx64 " at the start for the exporter to see", reply);
	memcpy(va, &reply, sizeof(reply));
	rep->reply = reply;
	ret = 0;
	demo_step("aclrtUnmapMem, aclrtReleaseMemAddress, aclrtFreePhysical");
	if (DEMO_CALL(aclrtUnmapMem(va)))
		ret = -1;
release:
	if (DEMO_CALL(aclrtReleaseMemAddress(va)))
		ret = -1;
	return ret;
}

int main(int argc, char **argv)
{
	struct share_hello hello = { 0, 1 };
	struct share_report rep = { 0, 0, 0, 0 };
	aclrtDrvMemHandle h = NULL;
	struct share_offer offer = { 0, 0 };
	int fd, status = 1;

	if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "--uninvited"))) {
		fprintf(stderr, "usage: %s SOCKET [--uninvited]\n", argv[0]);
		return 2;
	}
	hello.invited = argc == 2;
	demo_set_prefix(hello.invited ? "[importer] " : "[intruder] ");
	demo_step("aclInit(NULL), aclrtSetDevice(%d), aclrtDeviceGetBareTgid()", DEVICE);
	if (DEMO_CALL(aclInit(NULL)) || DEMO_CALL(aclrtSetDevice(DEVICE)) ||
	    DEMO_CALL(aclrtDeviceGetBareTgid(&hello.bare_tgid)))
		return 1;
	demo_note("-> bare tgid %d", hello.bare_tgid);
	fd = channel_connect(argv[1]);
	if (fd < 0)
		return demo_fail("cannot reach the exporter at %s", argv[1]), 1;
	if (channel_send(fd, &hello, sizeof(hello)) ||
	    channel_recv(fd, &offer, sizeof(offer)))
		return demo_fail("the exporter went away"), 1;
	demo_step("received shareable handle 0x%016" PRIx64 "; "
		  "aclrtMemImportFromShareableHandleV2(DEFAULT, flags 0)", offer.shareable);
	rep.aclerror = aclrtMemImportFromShareableHandleV2(&offer.shareable,
							   ACL_MEM_SHARE_HANDLE_TYPE_DEFAULT, 0, &h);
	if (hello.invited) {
		if (!DEMO_CALL(rep.aclerror)) {
			demo_note("-> ok: handle %p in this process", h);
			status = use_import(h, offer.size, &rep) ? 1 : 0;
			if (DEMO_CALL(aclrtFreePhysical(h)))
				status = 1;
		}
	} else if (rep.aclerror == ACL_ERROR_RT_DRV_INTERNAL_ERROR) {
		demo_note("-> refused with %d, as it must be: %s", rep.aclerror, aclGetRecentErrMsg());
		status = 0;
	} else {
		demo_fail("an uninvited process got %d instead of 507899", rep.aclerror);
		if (rep.aclerror == ACL_SUCCESS)
			aclrtFreePhysical(h);
	}
	channel_send(fd, &rep, sizeof(rep));
	close(fd);
	aclrtResetDevice(DEVICE);
	aclFinalize();
	return status;
}
