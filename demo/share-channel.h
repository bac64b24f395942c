/* SPDX-License-Identifier: MIT */
/*
 * share-channel.h - how the demo's exporter and importers talk: a Unix
 * stream socket. This stands for whatever a real application uses to hand
 * a shareable handle over (CANN's own sample uses a file or a socket); the
 * sharing itself goes through /dev/acl_share.
 *
 * Protocol, one connection per importer:
 *   importer -> exporter: struct share_hello (its bare tgid, invited or not)
 *   exporter -> importer: struct share_offer, the shareable handle and the
 *                         allocation's size (after SetPid for an invited
 *                         importer, without it otherwise)
 *   importer -> exporter: struct share_report (what it saw or why it was
 *                         refused), after which both close.
 */
#ifndef ACL_SHARE_DEMO_CHANNEL_H
#define ACL_SHARE_DEMO_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

struct share_hello {
	int32_t bare_tgid;
	int32_t invited;	/* 1: asks to be whitelisted; 0: an uninvited process */
};

struct share_offer {
	uint64_t shareable;
	uint64_t size;
};

struct share_report {
	int32_t aclerror;	/* what the import returned */
	uint32_t checked;	/* length of the exporter's message it read */
	uint64_t digest;	/* share_digest() of that message */
	uint64_t reply;		/* a value it wrote into the shared memory */
};

/* FNV-1a of @len bytes: the importer proves it read the exporter's message. */
static inline uint64_t share_digest(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint64_t h = 0xcbf29ce484222325ULL;

	while (len--)
		h = (h ^ *p++) * 0x100000001b3ULL;
	return h;
}

/* The value the importer writes at offset 0 for the exporter to see. */
#define SHARE_REPLY 0x1abe11ed5ca1ab1eULL

/* Listening socket at @path (an old socket file is replaced); -1 on error. */
int channel_listen(const char *path);
/* Connects to @path, retrying for up to 10 s while the exporter starts. */
int channel_connect(const char *path);
/* Sends or receives exactly @len bytes; 0 or -1. */
int channel_send(int fd, const void *buf, size_t len);
int channel_recv(int fd, void *buf, size_t len);

#endif /* ACL_SHARE_DEMO_CHANNEL_H */
