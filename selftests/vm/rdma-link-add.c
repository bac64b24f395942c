// SPDX-License-Identifier: GPL-2.0
/*
 * rdma-link-add: what the VM runner needs of iproute2's rdma, and nothing
 * more: `rdma link add NAME type TYPE netdev NETDEV` (binds soft-RoCE to a
 * NIC), one RDMA_NLDEV_CMD_NEWLINK request over NETLINK_RDMA. Built for the
 * guest's ISA with the tests, so a guest of another ISA than the host (the
 * arm64 legs) needs no foreign iproute2 and its shared libraries:
 * run-in-vm.sh --rdma <this program>.
 */
#include <errno.h>
#include <linux/netlink.h>
#include <rdma/rdma_netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF 1024

static int put_str(char *buf, size_t *len, unsigned short type, const char *s)
{
	struct nlattr *a = (struct nlattr *)(buf + *len);
	size_t n = strlen(s) + 1;

	if (*len + NLA_HDRLEN + NLA_ALIGN(n) > BUF)
		return -1;
	a->nla_type = type;
	a->nla_len = (unsigned short)(NLA_HDRLEN + n);
	memcpy((char *)a + NLA_HDRLEN, s, n);
	*len += NLA_ALIGN(NLA_HDRLEN + n);
	return 0;
}

int main(int argc, char **argv)
{
	char buf[BUF] __attribute__((aligned(NLMSG_ALIGNTO))) = { 0 };
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	size_t len = NLMSG_HDRLEN;
	ssize_t n;
	int fd;

	/* rdma link add NAME type TYPE netdev NETDEV */
	if (argc != 8 || strcmp(argv[1], "link") || strcmp(argv[2], "add") ||
	    strcmp(argv[4], "type") || strcmp(argv[6], "netdev")) {
		fprintf(stderr, "usage: %s link add NAME type TYPE netdev NETDEV\n", argv[0]);
		return 2;
	}
	if (put_str(buf, &len, RDMA_NLDEV_ATTR_DEV_NAME, argv[3]) ||
	    put_str(buf, &len, RDMA_NLDEV_ATTR_LINK_TYPE, argv[5]) ||
	    put_str(buf, &len, RDMA_NLDEV_ATTR_NDEV_NAME, argv[7])) {
		fprintf(stderr, "%s: names too long\n", argv[0]);
		return 2;
	}
	h->nlmsg_len = (unsigned int)len;
	h->nlmsg_type = RDMA_NL_GET_TYPE(RDMA_NL_NLDEV, RDMA_NLDEV_CMD_NEWLINK);
	h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	h->nlmsg_seq = 1;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_RDMA);
	if (fd < 0) {
		perror("socket(NETLINK_RDMA)");
		return 1;
	}
	if (sendto(fd, buf, len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
		perror("sendto");
		return 1;
	}
	n = recv(fd, buf, sizeof(buf), 0);
	close(fd);
	if (n < (ssize_t)(NLMSG_HDRLEN + sizeof(struct nlmsgerr)) || h->nlmsg_type != NLMSG_ERROR) {
		fprintf(stderr, "%s: no answer from the kernel\n", argv[0]);
		return 1;
	}
	errno = -((struct nlmsgerr *)NLMSG_DATA(h))->error;
	if (errno) {
		fprintf(stderr, "%s: link add %s type %s netdev %s: %s\n", argv[0], argv[3],
			argv[5], argv[7], strerror(errno));
		return 1;
	}
	return 0;
}
