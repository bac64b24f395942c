// SPDX-License-Identifier: MIT
/*
 * acl-share-fabric - configure and inspect the links between acl_share servers.
 *
 * A thin front end to acl_share_fabric.ko's configfs tree
 * (/sys/kernel/config/acl_share, docs/fabric.md): every command is a few
 * writes or reads of its files, so what it does can always be done with echo
 * and cat too. The cluster key is read from a file or standard input, never
 * from the command line (which other users see in ps).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* versionsort */
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef ACL_SHARE_VERSION
#define ACL_SHARE_VERSION "unknown"
#endif

#define PROG "acl-share-fabric"
#define CFG_DEFAULT "/sys/kernel/config/acl_share"
#define KEY_MAX_HEX 128

/* Exit statuses (also in --help). */
#define EXIT_OK 0
#define EXIT_FAIL 1	/* the kernel refused, or a link failed */
#define EXIT_USAGE 2
#define EXIT_NOFABRIC 3	/* acl_share_fabric is not loaded (or configfs not mounted) */

static const char *cfg_root = CFG_DEFAULT;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " [--root DIR] COMMAND [ARGS]\n"
		"\n"
		"Configures acl_share_fabric.ko (docs/fabric.md); root only for changes.\n"
		"\n"
		"commands:\n"
		"  status                 this server, the key, the listener and every peer\n"
		"  set-key FILE|-         the cluster key, as hex (16 to 64 bytes), from FILE or stdin\n"
		"  clear-key              forget the key: every link closes, nothing listens\n"
		"  set-port PORT          the rdma_cm port (only while no key is set)\n"
		"  add-peer ID ADDR       server ID at IPv4 address ADDR\n"
		"  del-peer ID            forget server ID (closes its link)\n"
		"  connect ID             connect to server ID and wait until authenticated\n"
		"  ping ID [COUNT]        authenticated round trips to server ID, their times\n"
		"  disconnect ID          close the link to server ID\n"
		"\n"
		"  --root DIR             the configfs directory (default " CFG_DEFAULT ")\n"
		"  --version, --help\n"
		"\n"
		"exit status: 0 done; 1 refused or failed (the reason is printed); 2 usage;\n"
		"3 acl_share_fabric is not loaded or configfs not mounted\n");
}

static void path_of(char *buf, size_t len, const char *peer, const char *file)
{
	if (peer)
		snprintf(buf, len, "%s/peers/%s%s%s", cfg_root, peer, file ? "/" : "",
			 file ? file : "");
	else
		snprintf(buf, len, "%s/%s", cfg_root, file);
}

/* Writes @val to a file of the tree: 0 or an errno. */
static int put(const char *peer, const char *file, const char *val)
{
	char p[512];
	int fd, err = 0;
	ssize_t n;

	path_of(p, sizeof(p), peer, file);
	fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	n = write(fd, val, strlen(val));
	if (n < 0)
		err = errno;
	else if ((size_t)n != strlen(val))
		err = EIO;
	if (close(fd) && !err)
		err = errno;
	return err;
}

/* Reads a file of the tree without its newline; "?" if it cannot. */
static const char *get(const char *peer, const char *file, char *buf, size_t len)
{
	char p[512];
	ssize_t n;
	int fd;

	path_of(p, sizeof(p), peer, file);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(buf, len, "?");
		return buf;
	}
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0) {
		snprintf(buf, len, "?");
		return buf;
	}
	buf[n] = '\0';
	if (n && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	return buf;
}

static int fail(const char *what, int err)
{
	fprintf(stderr, PROG ": %s: %s\n", what, strerror(err));
	return EXIT_FAIL;
}

/* A failed link operation: the errno, and the kernel's own reason. */
static int fail_peer(const char *id, const char *what, int err)
{
	char reason[256];

	fprintf(stderr, PROG ": %s server %s: %s\n", what, id, strerror(err));
	get(id, "last_error", reason, sizeof(reason));
	if (strcmp(reason, "0") && strcmp(reason, "?"))
		fprintf(stderr, PROG ": last error: %s\n", reason);
	return EXIT_FAIL;
}

static bool valid_id(const char *s)
{
	char *end;
	unsigned long v;

	if (!*s || (s[0] == '0' && s[1]) || s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	return !errno && !*end && v <= 0xffffffffUL;
}

static int cmd_status(void)
{
	char sid[32], key[32], port[32], refused[32], refusal[256];
	char p[512];
	struct dirent **names;
	int n, i;

	printf("server %s, port %s, cluster key %s\n", get(NULL, "server_id", sid, sizeof(sid)),
	       get(NULL, "port", port, sizeof(port)),
	       get(NULL, "cluster_key", key, sizeof(key)));
	get(NULL, "refused", refused, sizeof(refused));
	get(NULL, "last_refusal", refusal, sizeof(refusal));
	if (*refusal)
		printf("refused connections: %s (last: %s)\n", refused, refusal);
	else
		printf("refused connections: %s\n", refused);
	path_of(p, sizeof(p), NULL, "peers");
	n = scandir(p, &names, NULL, versionsort);
	if (n < 0)
		return fail(p, errno);
	printf("%-6s %-15s %-14s %-9s %11s %10s  %s\n", "PEER", "ADDR", "STATE", "INITIATOR",
	       "ESTABLISHED", "RTT_US", "LAST_ERROR");
	for (i = 0; i < n; i++) {
		const char *id = names[i]->d_name;
		char addr[64], state[32], init[16], est[32], rtt[32], err[256];

		if (id[0] != '.') {
			unsigned long long ns = strtoull(get(id, "rtt_ns", rtt, sizeof(rtt)), NULL, 10);

			snprintf(rtt, sizeof(rtt), ns ? "%llu" : "-", ns / 1000);
			printf("%-6s %-15s %-14s %-9s %11s %10s  %s\n", id,
			       *get(id, "addr", addr, sizeof(addr)) ? addr : "-",
			       get(id, "state", state, sizeof(state)),
			       get(id, "initiator", init, sizeof(init)),
			       get(id, "established", est, sizeof(est)), rtt,
			       get(id, "last_error", err, sizeof(err)));
		}
		free(names[i]);
	}
	free(names);
	return EXIT_OK;
}

/* The key's hex from @src ("-": stdin), surrounding white space dropped. */
static int read_key(const char *src, char *hex, size_t len)
{
	FILE *f = strcmp(src, "-") ? fopen(src, "re") : stdin;
	size_t n = 0;
	int c;

	if (!f)
		return errno;
	while ((c = fgetc(f)) != EOF) {
		if (c == ' ' || c == '\n' || c == '\t' || c == '\r')
			continue;
		if (n + 1 >= len) {
			n = 0;
			break;
		}
		hex[n++] = (char)c;
	}
	if (f != stdin)
		fclose(f);
	hex[n] = '\0';
	return n ? 0 : EINVAL;
}

int main(int argc, char **argv)
{
	char hex[KEY_MAX_HEX + 2], buf[64];
	const char *cmd, *id = NULL;
	struct stat st;
	int err, i;

	while (argc > 1 && argv[1][0] == '-' && argv[1][1] == '-') {
		if (!strcmp(argv[1], "--help")) {
			usage(stdout);
			return EXIT_OK;
		}
		if (!strcmp(argv[1], "--version")) {
			printf(PROG " " ACL_SHARE_VERSION "\n");
			return EXIT_OK;
		}
		if (!strcmp(argv[1], "--root") && argc > 2) {
			cfg_root = argv[2];
			argc -= 2;
			argv += 2;
			continue;
		}
		usage(stderr);
		return EXIT_USAGE;
	}
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[1];
	if (stat(cfg_root, &st) || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, PROG ": %s: not there: load acl_share_fabric (and mount configfs)\n",
			cfg_root);
		return EXIT_NOFABRIC;
	}
	if (argc > 2)
		id = argv[2];

	if (!strcmp(cmd, "status") && argc == 2)
		return cmd_status();
	if (!strcmp(cmd, "set-key") && argc == 3) {
		err = read_key(argv[2], hex, sizeof(hex));
		if (err)
			return fail(argv[2], err);
		strcat(hex, "\n");
		err = put(NULL, "cluster_key", hex);
		memset(hex, 0, sizeof(hex));
		return err ? fail("set-key (hex, 16 to 64 bytes)", err) : EXIT_OK;
	}
	if (!strcmp(cmd, "clear-key") && argc == 2) {
		err = put(NULL, "cluster_key", "none");
		return err ? fail("clear-key", err) : EXIT_OK;
	}
	if (!strcmp(cmd, "set-port") && argc == 3) {
		err = put(NULL, "port", argv[2]);
		return err ? fail(err == EBUSY ? "set-port (clear the key first)" : "set-port",
				  err) : EXIT_OK;
	}
	if (!id || !valid_id(id)) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(cmd, "add-peer") && argc == 4) {
		char p[512];

		path_of(p, sizeof(p), id, NULL);
		if (mkdir(p, 0755) && errno != EEXIST)
			return fail(p, errno);
		err = put(id, "addr", argv[3]);
		if (err) {
			rmdir(p);
			return fail(argv[3], err);
		}
		return EXIT_OK;
	}
	if (!strcmp(cmd, "del-peer") && argc == 3) {
		char p[512];

		path_of(p, sizeof(p), id, NULL);
		return rmdir(p) ? fail(p, errno) : EXIT_OK;
	}
	if (!strcmp(cmd, "connect") && argc == 3) {
		err = put(id, "connect", "1");
		if (err)
			return fail_peer(id, "connect to", err);
		printf("server %s: up (%s)\n", id, get(id, "initiator", buf, sizeof(buf)));
		return EXIT_OK;
	}
	if (!strcmp(cmd, "ping") && (argc == 3 || argc == 4)) {
		int count = argc == 4 ? atoi(argv[3]) : 1;

		if (count < 1 || count > 1000000) {
			usage(stderr);
			return EXIT_USAGE;
		}
		for (i = 0; i < count; i++) {
			err = put(id, "ping", "1");
			if (err)
				return fail_peer(id, "ping", err);
			printf("server %s: %.1f us\n", id,
			       strtoull(get(id, "rtt_ns", buf, sizeof(buf)), NULL, 10) / 1000.0);
		}
		return EXIT_OK;
	}
	if (!strcmp(cmd, "disconnect") && argc == 3) {
		err = put(id, "disconnect", "1");
		return err ? fail_peer(id, "disconnect", err) : EXIT_OK;
	}
	usage(stderr);
	return EXIT_USAGE;
}
