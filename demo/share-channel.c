// SPDX-License-Identifier: MIT
/* share-channel.c - the Unix-socket hand-over between the demo's processes. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "share-channel.h"

static int channel_addr(const char *path, struct sockaddr_un *addr)
{
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(addr->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(addr->sun_path, path);
	return 0;
}

int channel_listen(const char *path)
{
	struct sockaddr_un addr;
	int fd;

	if (channel_addr(path, &addr))
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) || listen(fd, 4)) {
		close(fd);
		return -1;
	}
	return fd;
}

int channel_connect(const char *path)
{
	struct timespec pause = { 0, 20 * 1000 * 1000 };
	struct sockaddr_un addr;

	if (channel_addr(path, &addr))
		return -1;
	for (int tries = 0; tries < 500; tries++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			return -1;
		if (!connect(fd, (struct sockaddr *)&addr, sizeof(addr)))
			return fd;
		close(fd);
		if (errno != ENOENT && errno != ECONNREFUSED)
			return -1;
		nanosleep(&pause, NULL);
	}
	return -1;
}

int channel_send(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int channel_recv(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = recv(fd, p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
