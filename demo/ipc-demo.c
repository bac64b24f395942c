// SPDX-License-Identifier: MIT
/*
 * ipc-demo.c - the "ipc" scenario of acl-share-demo: CANN's IPC memory
 * family between two processes, in the order of its sample
 * 10_ipc_memory_withpid. The exporter allocates with aclrtMalloc, names the
 * memory with a key, whitelists the importer's bare tgid; the importer
 * imports by key, reads, writes back, closes and frees; a third process
 * holding the same key but never whitelisted is refused by the kernel.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "demo.h"

#define IPC_SIZE ((size_t)4 << 20)
#define KEY_BUF 256
static const char hello[] = "hello from the exporter, through an IPC key";
static const char reply[] = "the importer read it and wrote this back";

struct pipes {
	int to_child[2], to_parent[2];
};

static int importer(struct pipes *p, bool invited)
{
	char key[KEY_BUF];
	int32_t tgid = 0;
	char *mem = NULL;
	aclError e;

	demo_set_prefix(invited ? "[importer] " : "[uninvited] ");
	demo_step("aclrtSetDevice(0), aclrtDeviceGetBareTgid(), send the tgid to the exporter");
	if (DEMO_CALL(aclrtSetDevice(0)) || DEMO_CALL(aclrtDeviceGetBareTgid(&tgid)))
		return 1;
	if (write(p->to_parent[1], &tgid, sizeof(tgid)) != sizeof(tgid) ||
	    read(p->to_child[0], key, sizeof(key)) != sizeof(key))
		return demo_fail("the exporter went away");
	demo_note("bare tgid %d; got key \"%s\"", tgid, key);
	demo_step("aclrtIpcMemImportByKey(&devPtr, key, 0)");
	e = aclrtIpcMemImportByKey((void **)&mem, key, 0);
	if (!invited) {
		if (e != ACL_ERROR_RT_DRV_INTERNAL_ERROR)
			return demo_fail("an import without the whitelist returned %d", (int)e);
		demo_note("-> %d, refused by the kernel as expected: %s", (int)e,
			  aclGetRecentErrMsg());
		return 0;
	}
	if (DEMO_CALL(e))
		return 1;
	demo_note("mapped at %p; it reads \"%s\"", (void *)mem, mem);
	if (strcmp(mem, hello))
		return demo_fail("the memory does not hold the exporter's message");
	memcpy(mem + 4096, reply, sizeof(reply));
	demo_step("aclrtIpcMemClose(key), aclrtFree(devPtr) (the sample's order)");
	if (DEMO_CALL(aclrtIpcMemClose(key)) || DEMO_CALL(aclrtFree(mem)))
		return 1;
	return 0;
}

static pid_t start_importer(struct pipes *p, bool invited)
{
	pid_t pid;

	if (pipe(p->to_child) || pipe(p->to_parent))
		return -1;
	pid = fork();
	if (pid == 0) {
		fflush(stdout);
		_exit(importer(p, invited));
	}
	return pid;
}

static int wait_child(pid_t pid, const char *who)
{
	int st;

	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return demo_fail("%s did not start: %s", who, strerror(errno));
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		return demo_fail("%s failed", who);
	return 0;
}

/* Whitelists (or not) the importer's tgid and sends it the key. */
static int serve(struct pipes *p, const char *key, bool invited)
{
	char buf[KEY_BUF] = { 0 };
	int32_t tgid;

	if (read(p->to_parent[0], &tgid, sizeof(tgid)) != sizeof(tgid))
		return demo_fail("the importer went away");
	if (invited) {
		demo_step("aclrtIpcMemSetImportPid(key, {%d}, 1)", tgid);
		if (DEMO_CALL(aclrtIpcMemSetImportPid(key, &tgid, 1)))
			return -1;
	} else {
		demo_step("tgid %d is not whitelisted; sending it the key anyway", tgid);
	}
	snprintf(buf, sizeof(buf), "%s", key);
	if (write(p->to_child[1], buf, sizeof(buf)) != sizeof(buf))
		return demo_fail("cannot send the key");
	return 0;
}

int demo_ipc(void)
{
	char key[KEY_BUF], sz[32];
	struct pipes pb, pc;
	char *mem = NULL;
	int bad = 0;
	pid_t b, c;

	demo_set_prefix("[exporter] ");
	demo_step("aclrtSetDevice(0), aclrtMalloc(&devPtr, %s, ACL_MEM_MALLOC_HUGE_FIRST)",
		  demo_size(IPC_SIZE, sz, sizeof(sz)));
	if (DEMO_CALL(aclrtSetDevice(0)) ||
	    DEMO_CALL(aclrtMalloc((void **)&mem, IPC_SIZE, ACL_MEM_MALLOC_HUGE_FIRST)))
		return 1;
	memcpy(mem, hello, sizeof(hello));
	demo_note("devPtr %p; wrote \"%s\"", (void *)mem, hello);
	demo_step("aclrtIpcMemGetExportKey(devPtr, %s, key, 65, 0)", sz);
	if (DEMO_CALL(aclrtIpcMemGetExportKey(mem, IPC_SIZE, key, 65, 0)))
		return 1;
	demo_note("key \"%s\" (%zu characters: the kernel's random export key and secret)",
		  key, strlen(key));

	fflush(stdout);
	b = start_importer(&pb, true);
	bad |= b < 0 || serve(&pb, key, true);
	bad |= wait_child(b, "the importer");
	demo_set_prefix("[exporter] ");
	if (!bad) {
		demo_note("the importer wrote back \"%s\"", mem + 4096);
		if (strcmp(mem + 4096, reply))
			bad |= demo_fail("the importer's reply is not there");
	}

	fflush(stdout);
	c = start_importer(&pc, false);
	bad |= c < 0 || serve(&pc, key, false);
	bad |= wait_child(c, "the uninvited process");
	demo_set_prefix("[exporter] ");

	demo_step("aclrtIpcMemClose(key): the key is revoked; aclrtFree(devPtr)");
	bad |= DEMO_CALL(aclrtIpcMemClose(key));
	bad |= DEMO_CALL(aclrtFree(mem));
	return bad ? 1 : 0;
}
