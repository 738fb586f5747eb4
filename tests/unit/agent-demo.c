/* agent-demo.c: a test program, not a server to run: core/agent.c's engine on a unix socket, with
 * a backend of PEM private keys read from files at start (OpenSSL, software signing), so real
 * OpenSSH clients (ssh-add, ssh-keygen -Y, ssh) can be pointed at the engine before the daemon
 * serves it. Single-threaded, poll(2). Each decision is printed on stdout, one line each
 * ("sign KEY ALG KIND ns=NS ...", "refused TYPE WHAT"), for the test to check.
 *
 *   agent-demo [--only-namespace NS] SOCKET KEY.pem...
 *
 * --only-namespace NS: every key signs only SSHSIG data of namespace NS (what a policy condition
 * does in the daemon). The program never writes a key anywhere; it exits on SIGTERM/SIGINT. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "core/agent.h"
#include "core/util.h"
#include "tests/unit/sshtest.h"

#define KEYS_MAX 16
#define CLIENTS_MAX 16

struct demo_key {
	EVP_PKEY *pk;
	uint8_t spki[2048];
	size_t spki_len;
	char comment[256];
};

struct demo {
	struct demo_key keys[KEYS_MAX];
	size_t nkeys;
	const char *only_namespace;
};

struct client {
	int fd;
	struct agent_conn conn;
	uint8_t in[4 + AGENT_MSG_MAX];
	size_t inlen;
	struct buf out;
};

static int demo_list(void *ud, const struct agent_conn *c,
		     int (*add)(void *ctx, const uint8_t *spki, size_t spki_len,
				const char *comment),
		     void *ctx)
{
	struct demo *d = ud;

	(void)c;
	for (size_t i = 0; i < d->nkeys; i++) {
		int r = add(ctx, d->keys[i].spki, d->keys[i].spki_len, d->keys[i].comment);

		if (r < 0)
			return r;
	}
	return 0;
}

static int demo_sign(void *ud, const struct agent_conn *c, const uint8_t *spki, size_t spki_len,
		     enum key_alg alg, const uint8_t *data, size_t n,
		     const struct agent_sign_info *info, uint8_t *sig, size_t *siglen)
{
	struct demo *d = ud;
	struct demo_key *k = NULL;
	bool allow;

	(void)c;
	for (size_t i = 0; i < d->nkeys; i++)
		if (d->keys[i].spki_len == spki_len && !memcmp(d->keys[i].spki, spki, spki_len))
			k = &d->keys[i];
	allow = k && (!d->only_namespace || (info->kind == AGENT_DATA_SSHSIG &&
					     streq(info->namespace, d->only_namespace)));
	printf("sign %s %s %s ns=%s hash=%s user=%s hostbound=%d dest=%s decision=%s\n",
	       k ? k->comment : "(none)", ssh_sig_name(alg), agent_data_kind_name(info->kind),
	       info->namespace, info->hashalg, info->user, info->hostbound,
	       info->dest_hostkey_fp[0] ? info->dest_hostkey_fp : "-", allow ? "allow" : "deny");
	fflush(stdout);
	if (!k)
		return -ENOENT;
	if (!allow)
		return -EPERM;
	return sshtest_sign(k->pk, alg, data, n, sig, siglen);
}

static void demo_refused(void *ud, const struct agent_conn *c, uint8_t type, const char *what)
{
	(void)ud;
	(void)c;
	printf("refused %u %s\n", type, what);
	fflush(stdout);
}

static int load_key(struct demo_key *k, const char *path)
{
	FILE *f = fopen(path, "re");
	const char *base = strrchr(path, '/');
	int n;

	if (!f)
		return -errno;
	k->pk = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!k->pk)
		return -EINVAL;
	n = sshtest_spki(k->pk, k->spki, sizeof(k->spki));
	if (n < 0)
		return -EINVAL;
	k->spki_len = (size_t)n;
	str_copy(k->comment, sizeof(k->comment), base ? base + 1 : path);
	return 0;
}

static void client_close(struct client **cp)
{
	struct client *c = *cp;

	if (!c)
		return;
	close(c->fd);
	buf_done(&c->out);
	free(c);
	*cp = NULL;
}

/* Read what there is, answer every whole request, write the replies. <0: close. */
static int client_serve(const struct agent_backend *be, struct demo *d, struct client *c)
{
	size_t used = 0, off = 0;
	ssize_t n;
	int r;

	n = read(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen);
	if (n <= 0)
		return n == 0 ? -ECONNRESET : -errno;
	c->inlen += (size_t)n;
	r = agent_process(be, d, &c->conn, c->in, c->inlen, &c->out, &used);
	memmove(c->in, c->in + used, c->inlen - used);
	c->inlen -= used;
	while (off < c->out.len) {
		n = write(c->fd, c->out.p + off, c->out.len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		off += (size_t)n;
	}
	buf_clear(&c->out);
	return r;
}

int main(int argc, char **argv)
{
	static struct demo d;
	struct agent_backend be = { .list = demo_list, .sign = demo_sign, .refused = demo_refused };
	struct client *clients[CLIENTS_MAX] = { 0 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int lfd, a = 1;

	if (argc > 2 && streq(argv[1], "--only-namespace")) {
		d.only_namespace = argv[2];
		a = 3;
	}
	if (argc - a < 2 || strlen(argv[a]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: agent-demo [--only-namespace NS] SOCKET KEY.pem...\n");
		return 2;
	}
	for (int i = a + 1; i < argc && d.nkeys < KEYS_MAX; i++) {
		int r = load_key(&d.keys[d.nkeys], argv[i]);

		if (r < 0) {
			fprintf(stderr, "agent-demo: cannot load %s: %s\n", argv[i], strerror(-r));
			return 1;
		}
		d.nkeys++;
	}
	signal(SIGPIPE, SIG_IGN);
	str_copy(sa.sun_path, sizeof(sa.sun_path), argv[a]);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	umask(077);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 16) < 0) {
		perror("agent-demo: listen");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		struct pollfd pfd[1 + CLIENTS_MAX];
		int map[1 + CLIENTS_MAX], np = 1;

		pfd[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		for (int i = 0; i < CLIENTS_MAX; i++)
			if (clients[i]) {
				pfd[np] = (struct pollfd){ .fd = clients[i]->fd, .events = POLLIN };
				map[np++] = i;
			}
		if (poll(pfd, (nfds_t)np, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("agent-demo: poll");
			return 1;
		}
		for (int j = 1; j < np; j++)
			if (pfd[j].revents && client_serve(&be, &d, clients[map[j]]) < 0)
				client_close(&clients[map[j]]);
		if (pfd[0].revents & POLLIN) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), slot = -1;

			for (int i = 0; i < CLIENTS_MAX && fd >= 0; i++)
				if (!clients[i]) {
					slot = i;
					break;
				}
			if (slot < 0 || !(clients[slot] = calloc(1, sizeof(struct client)))) {
				if (fd >= 0)
					close(fd);
				continue;
			}
			clients[slot]->fd = fd;
			clients[slot]->out.max = 4 + AGENT_MSG_MAX;
			agent_conn_init(&clients[slot]->conn, NULL);
		}
	}
}
