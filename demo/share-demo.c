// SPDX-License-Identifier: MIT
/*
 * share-demo.c - the "share" scenario of acl-share-demo: starts the three
 * separate programs of the two-process demo and reports how they ended:
 *   acl-share-exporter  (A) allocates, exports, whitelists B only;
 *   acl-share-importer  (B) imports, maps, reads A's message, writes back;
 *   acl-share-importer --uninvited (C) has the handle value but is refused.
 * The programs are looked up next to this executable.
 */
#include <errno.h>
#include <limits.h>
#include <libgen.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "demo.h"

#define SOCKET_PATH "/tmp/acl-share-demo.sock"

static char bindir[PATH_MAX];

static pid_t start(const char *prog, const char *arg)
{
	char path[PATH_MAX + 32];
	pid_t pid;

	snprintf(path, sizeof(path), "%s/%s", bindir, prog);
	pid = fork();
	if (pid == 0) {
		execl(path, prog, SOCKET_PATH, arg, (char *)NULL);
		fprintf(stderr, "cannot run %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	return pid;
}

static int finish(pid_t pid, const char *who)
{
	int st;

	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return demo_fail("%s did not start", who);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	return demo_fail("%s ended with %s %d", who, WIFEXITED(st) ? "status" : "signal",
			 WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

int demo_share(void)
{
	ssize_t n = readlink("/proc/self/exe", bindir, sizeof(bindir) - 1);
	pid_t a, b, c;
	int bad = 0;

	if (n <= 0)
		return demo_fail("cannot find my own executable: %s", strerror(errno));
	bindir[n] = '\0';
	dirname(bindir);

	unlink(SOCKET_PATH);
	a = start("acl-share-exporter", NULL);
	b = start("acl-share-importer", NULL);
	bad |= finish(b, "the importer");
	c = start("acl-share-importer", "--uninvited");
	bad |= finish(c, "the uninvited process");
	bad |= finish(a, "the exporter");
	return bad;
}
