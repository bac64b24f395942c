/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the fabric tests, which run the same program on every server
 * of a run-in-vm.sh --servers N run (ACL_SERVER_ID, ACL_SERVERS,
 * ACL_SERVER_IPS): acl_share_fabric's configfs files, and a barrier over
 * TCP on the servers' own segment, so that one server acts only once the
 * others are ready for it.
 *
 * Include after kselftest_harness.h (through acl_test_util.h).
 */
#ifndef FABRIC_UTIL_H
#define FABRIC_UTIL_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

#define FABRIC_CFG "/sys/kernel/config/acl_share"
#define FABRIC_BARRIER_PORT 7101
#define FABRIC_BARRIER_S 180
/* a barrier's limit once one of this program's barriers failed: see fabric_swap() */
#define FABRIC_BARRIER_BROKEN_S 10
/* a test's limit: several barriers, and KASAN guests are slow */
#define FABRIC_TEST_TIMEOUT 1200

static inline unsigned int fabric_env_uint(const char *name)
{
	const char *v = getenv(name);

	if (!v) {
		fprintf(stderr, "%s is not set: run under run-in-vm.sh --servers\n", name);
		abort();
	}
	return (unsigned int)strtoul(v, NULL, 10);
}

static inline unsigned int fabric_me(void)
{
	return fabric_env_uint("ACL_SERVER_ID");
}

static inline unsigned int fabric_servers(void)
{
	return fabric_env_uint("ACL_SERVERS");
}

/* The address of server @id: 10.77.0.<id + 1>, as the runner assigns them. */
static inline void fabric_ip(unsigned int id, char *buf, size_t len)
{
	snprintf(buf, len, "10.77.0.%u", id + 1);
}

/* Writes @val to a configfs file: 0 or the errno of the open or write. */
static inline int cfg_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY), err = 0;
	ssize_t n;

	if (fd < 0)
		return errno;
	n = write(fd, val, strlen(val));
	if (n < 0)
		err = errno;
	else if ((size_t)n != strlen(val))
		err = EIO;
	close(fd);
	return err;
}

/* Reads a configfs file, its trailing newline dropped; "" on error. */
static inline const char *cfg_read(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	buf[0] = '\0';
	if (fd < 0)
		return buf;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	if (n && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	return buf;
}

static inline const char *peer_path(unsigned int id, const char *file, char *buf, size_t len)
{
	snprintf(buf, len, FABRIC_CFG "/peers/%u%s%s", id, file ? "/" : "", file ? file : "");
	return buf;
}

static inline int peer_write(unsigned int id, const char *file, const char *val)
{
	char p[128];

	return cfg_write(peer_path(id, file, p, sizeof(p)), val);
}

static inline const char *peer_read(unsigned int id, const char *file, char *buf, size_t len)
{
	char p[128];

	return cfg_read(peer_path(id, file, p, sizeof(p)), buf, len);
}

/* mkdir peers/<id> and set its address: 0 or an errno. */
static inline int peer_add(unsigned int id, const char *addr)
{
	char p[128];

	if (mkdir(peer_path(id, NULL, p, sizeof(p)), 0755))
		return errno;
	return peer_write(id, "addr", addr);
}

static inline int peer_del(unsigned int id)
{
	char p[128];

	return rmdir(peer_path(id, NULL, p, sizeof(p))) ? errno : 0;
}

/* Polls peers/<id>/state until it reads @want, @ms at most: true if it did. */
static inline bool peer_wait_state(unsigned int id, const char *want, int ms)
{
	char st[64];

	for (; ms > 0; ms -= 50) {
		if (!strcmp(peer_read(id, "state", st, sizeof(st)), want))
			return true;
		usleep(50 * 1000);
	}
	return !strcmp(peer_read(id, "state", st, sizeof(st)), want);
}

/* The other server of a two-server run. */
static inline unsigned int other(void)
{
	return 1 - fabric_me();
}

/* A stats counter of this server's acl_share; -1 if unreadable. */
static inline long long stat_of(const char *name)
{
	char path[128], buf[32];

	snprintf(path, sizeof(path), "/sys/class/misc/acl_share/stats/%s", name);
	cfg_read(path, buf, sizeof(buf));
	return buf[0] ? strtoll(buf, NULL, 10) : -1;
}

/* Polls counter @name until it reads @want, @ms at most: true if it did. */
static inline bool stat_wait(const char *name, long long want, int ms)
{
	for (; ms > 0; ms -= 20) {
		if (stat_of(name) == want)
			return true;
		usleep(20 * 1000);
	}
	return stat_of(name) == want;
}

/* Every configured peer removed and the key cleared: the state of a fresh load. */
static inline void fabric_reset(void)
{
	unsigned int id;

	for (id = 0; id < 8; id++)
		peer_del(id);
	cfg_write(FABRIC_CFG "/cluster_key", "none");
}

#define FABRIC_SWAP_MAX 1024

/* Reads exactly @len bytes (a TCP stream may split them): true if it did. */
static inline bool fabric_read_all(int fd, void *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = read(fd, (char *)buf + got, len - got);
		if (n <= 0)
			return false;
		got += (size_t)n;
	}
	return true;
}

/*
 * All servers reach the barrier named @tag, @limit_s seconds at most:
 * server 0 collects one connection from each other server, checks it names
 * the same barrier, then answers them all. Each server also hands over @len
 * bytes of @mine (at most FABRIC_SWAP_MAX) and receives in @theirs: every
 * other server, what server 0 passed; server 0, what server i passed at
 * @theirs + (i - 1) * @len, for each i > 0 ((servers - 1) * @len bytes: with
 * two servers, just the other's). Returns 0, or -1 (with a message) on a
 * timeout or a mismatch: the servers ran different steps.
 */
static inline int fabric_swap_within(const char *tag, const void *mine, void *theirs, size_t len,
				     int limit_s)
{
	unsigned int me = fabric_me(), n = fabric_servers(), got = 0, i;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(FABRIC_BARRIER_PORT) };
	char want[64] = {}, buf[64];
	int fds[8], one = 1, ret = -1;
	bool came[8] = {};
	time_t end = time(NULL) + limit_s;

	snprintf(want, sizeof(want), "%s", tag);
	if (n < 2 || n > 8 || len > FABRIC_SWAP_MAX)
		return -1;
	if (me != 0) {
		char ip[32];
		struct timeval tv = { .tv_sec = limit_s };

		fabric_ip(0, ip, sizeof(ip));
		inet_pton(AF_INET, ip, &sa.sin_addr);
		for (;;) {
			int fd = socket(AF_INET, SOCK_STREAM, 0);

			if (fd < 0)
				return -1;
			if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
				char msg[sizeof(want) + sizeof(me) + FABRIC_SWAP_MAX] = {};
				size_t mlen = sizeof(want) + sizeof(me) + len;

				memcpy(msg, want, sizeof(want));
				memcpy(msg + sizeof(want), &me, sizeof(me));
				if (len)
					memcpy(msg + sizeof(want) + sizeof(me), mine, len);
				setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
				if (send(fd, msg, mlen, MSG_NOSIGNAL) == (ssize_t)mlen &&
				    fabric_read_all(fd, buf, 2) && !memcmp(buf, "go", 2) &&
				    (!len || fabric_read_all(fd, theirs, len)))
					ret = 0;
				else
					fprintf(stderr, "barrier %s: server 0 did not release us\n", tag);
				close(fd);
				return ret;
			}
			close(fd);
			if (time(NULL) > end) {
				fprintf(stderr, "barrier %s: server 0 not there\n", tag);
				return -1;
			}
			usleep(100 * 1000);
		}
	}

	int lfd = socket(AF_INET, SOCK_STREAM, 0);

	if (lfd < 0)
		return -1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_addr.s_addr = htonl(INADDR_ANY);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 8)) {
		fprintf(stderr, "barrier %s: cannot listen: %s\n", tag, strerror(errno));
		close(lfd);
		return -1;
	}
	while (got < n - 1) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		int left = (int)(end - time(NULL));
		unsigned int from;

		if (left <= 0 || poll(&p, 1, left * 1000) != 1) {
			fprintf(stderr, "barrier %s: %u of %u servers came\n", tag, got + 1, n);
			goto out;
		}
		fds[got] = accept(lfd, NULL, NULL);
		if (fds[got] < 0)
			continue;
		if (!fabric_read_all(fds[got], buf, sizeof(buf)) || memcmp(buf, want, sizeof(want))) {
			fprintf(stderr, "barrier %s: a server came to barrier %.63s\n", tag, buf);
			close(fds[got]);
			goto out;
		}
		if (!fabric_read_all(fds[got], &from, sizeof(from)) || !from || from >= n ||
		    came[from]) {
			fprintf(stderr, "barrier %s: a server came as a wrong or repeated id\n", tag);
			close(fds[got]);
			goto out;
		}
		came[from] = true;
		if (len && !fabric_read_all(fds[got], (char *)theirs + (from - 1) * len, len)) {
			fprintf(stderr, "barrier %s: server %u sent too little\n", tag, from);
			close(fds[got]);
			goto out;
		}
		got++;
	}
	ret = 0;
out:
	/*
	 * Stop listening before releasing anyone: a released server may come
	 * to the next barrier at once, and must find nothing listening (and
	 * retry) rather than a backlog that close() would reset.
	 */
	close(lfd);
	for (i = 0; i < got; i++) {
		/* (MSG_NOSIGNAL: a server that gave up has closed its end) */
		if (!ret && send(fds[i], "go", 2, MSG_NOSIGNAL) != 2)
			ret = -1;
		if (!ret && len && send(fds[i], mine, len, MSG_NOSIGNAL) != (ssize_t)len)
			ret = -1;
		close(fds[i]);
	}
	return ret;
}

/*
 * Once a barrier failed, the servers no longer run the same steps (one failed
 * a case, hung or died), and each later barrier would wait its full
 * FABRIC_BARRIER_S: the cases left of this program then fail within
 * FABRIC_BARRIER_BROKEN_S each instead, so that one failure costs minutes,
 * not an hour. The mark is a file per run of a program (its main process's
 * pid, which the cases, forked from it, inherit): the next starts afresh.
 */
static pid_t fabric_main_pid;

static void __attribute__((constructor)) fabric_note_main_pid(void)
{
	fabric_main_pid = getpid();
}

static inline const char *fabric_failed_mark(char *buf, size_t len)
{
	snprintf(buf, len, "/tmp/fabric-barrier-failed.%s.%d", program_invocation_short_name,
		 (int)fabric_main_pid);
	return buf;
}

static inline int fabric_swap(const char *tag, const void *mine, void *theirs, size_t len)
{
	char mark[128];
	bool failed_before = !access(fabric_failed_mark(mark, sizeof(mark)), F_OK);
	int ret, fd;

	ret = fabric_swap_within(tag, mine, theirs, len,
				 failed_before ? FABRIC_BARRIER_BROKEN_S : FABRIC_BARRIER_S);
	if (ret && !failed_before) {
		fd = open(mark, O_WRONLY | O_CREAT, 0644);
		if (fd >= 0)
			close(fd);
		fprintf(stderr, "barrier %s failed: this program's later barriers wait %d s at most\n",
			tag, FABRIC_BARRIER_BROKEN_S);
	}
	return ret;
}

static inline int fabric_barrier(const char *tag)
{
	return fabric_swap(tag, NULL, NULL, 0);
}

/*
 * Every server hands over @len bytes of @mine and gets everyone's, its own
 * included, in @all: server i's at @all + i * @len (servers * @len bytes, at
 * most FABRIC_SWAP_MAX). 0 or -1, as fabric_swap().
 */
static inline int fabric_all(const char *tag, const void *mine, void *all, size_t len)
{
	unsigned int me = fabric_me(), n = fabric_servers();
	char tag2[64];
	void *scratch;
	int ret;

	if (n < 2 || n > 8 || n * len > FABRIC_SWAP_MAX) {
		fprintf(stderr, "fabric_all %s: %u servers of %zu bytes do not fit\n", tag, n, len);
		return -1;
	}
	memcpy((char *)all + me * len, mine, len);
	/* server 0 gathers the others' into its table; they get its own */
	if (fabric_swap(tag, mine, me ? all : (char *)all + len, len))
		return -1;
	/* then hands the whole table out (what the others send it is dropped) */
	scratch = me ? all : malloc((n - 1) * n * len);
	if (!scratch)
		return -1;
	snprintf(tag2, sizeof(tag2), "%s, all", tag);
	ret = fabric_swap(tag2, all, scratch, n * len);
	if (!me)
		free(scratch);
	return ret;
}

/*
 * A second address of each server, 10.78.0.<id + 1>/24 on the same eth0, for
 * the links of a test that takes a server off the network: with its second
 * address gone (and the RoCE GID that goes with it), nothing of those links
 * reaches the server or leaves it, while the barriers, on the runner's
 * address, still pass.
 */
static inline void fabric_ip2(unsigned int id, char *buf, size_t len)
{
	snprintf(buf, len, "10.78.0.%u", id + 1);
}

/* Whether rxe0's port 1 has (@want) or lacks a RoCE GID for IPv4 @ip, @ms at most. */
static inline bool fabric_gid_wait(const char *ip, bool want, int ms)
{
	char gid[64], path[96], buf[64];
	unsigned char a[4];
	bool has;

	if (inet_pton(AF_INET, ip, a) != 1)
		return false;
	snprintf(gid, sizeof(gid), "0000:0000:0000:0000:0000:ffff:%02x%02x:%02x%02x",
		 a[0], a[1], a[2], a[3]);
	for (;; ms -= 100) {
		has = false;
		for (int i = 0; i < 32 && !has; i++) {
			snprintf(path, sizeof(path), "/sys/class/infiniband/rxe0/ports/1/gids/%d", i);
			has = !strcmp(cfg_read(path, buf, sizeof(buf)), gid);
		}
		if (has == want)
			return true;
		if (ms <= 0)
			return false;
		usleep(100 * 1000);
	}
}

/*
 * Adds (@up) or removes this server's second address, its GID following,
 * the runner's address and its GID staying: 0, or -1 with the GID table
 * and the addresses on stderr.
 */
static inline int fabric_ip2_set(bool up)
{
	char ip[32], ip1[32], cmd[160];

	fabric_ip2(fabric_me(), ip, sizeof(ip));
	fabric_ip(fabric_me(), ip1, sizeof(ip1));
	if (up) /* (what an earlier run may have left removed first, for add not to fail) */
		snprintf(cmd, sizeof(cmd),
			 "ip addr del %s/24 dev eth0 2>/dev/null; ip addr add %s/24 dev eth0", ip, ip);
	else
		snprintf(cmd, sizeof(cmd), "ip addr del %s/24 dev eth0", ip);
	if (system(cmd))
		return -1;
	if (fabric_gid_wait(ip, up, 10000) && fabric_gid_wait(ip1, true, 10000))
		return 0;
	fprintf(stderr, "fabric_ip2_set(%d): GIDs of %s and %s not as expected:\n", up, ip, ip1);
	if (system("grep -v '^0000:0000:0000:0000:0000:0000:0000:0000' "
		   "/sys/class/infiniband/rxe0/ports/1/gids/* >&2; ip -4 addr show dev eth0 >&2"))
		fprintf(stderr, "(could not list them)\n");
	return -1;
}

/*
 * A fresh start with @key set and every other server a peer at the address
 * @addr_of gives it: 0 or errno.
 */
static inline int fabric_mesh_at(const char *key, void (*addr_of)(unsigned int, char *, size_t))
{
	char ip[32];
	int err;

	fabric_reset();
	err = cfg_write(FABRIC_CFG "/cluster_key", key);
	for (unsigned int id = 0; !err && id < fabric_servers(); id++) {
		if (id == fabric_me())
			continue;
		addr_of(id, ip, sizeof(ip));
		err = peer_add(id, ip);
	}
	return err;
}

/* fabric_mesh_at() the runner's addresses. */
static inline int fabric_mesh(const char *key)
{
	return fabric_mesh_at(key, fabric_ip);
}

/*
 * fabric_mesh() for a two-server test, whose swaps give server 0 room for
 * one other server's bytes: EINVAL in a run of any other size.
 */
static inline int fabric_pair(const char *key)
{
	return fabric_servers() == 2 ? fabric_mesh(key) : EINVAL;
}

/*
 * fabric_pair() at the second addresses (fabric_ip2()), this server's brought
 * up first: 0, EINVAL, EIO if the address or its GID did not come up, or the
 * errno of the configuration.
 */
static inline int fabric_pair2(const char *key)
{
	if (fabric_servers() != 2)
		return EINVAL;
	if (fabric_ip2_set(true))
		return EIO;
	return fabric_mesh_at(key, fabric_ip2);
}

#endif /* FABRIC_UTIL_H */
