/* bench-sign.c: signatures per second through vaultfsd's control socket and its ssh-agent
 * socket, each as a ratio to OpenSSL's own speed for the same key type measured in the same run
 * (a key of that type made and loaded in this process, EVP_DigestSign through key-soft's loaded
 * key). tests/bench/sign-bench.sh sets up the daemon and the keys and runs it:
 *   bench-sign CONTROL_SOCKET AGENT_SOCKET SECONDS VAULT/NAME:TYPE:ALG...
 * TYPE as key.h names it (ed25519, ec-p256, rsa-2048), ALG the JWS name (EdDSA, ES256, RS256);
 * a name ending in "-tpm" is a TPM key (its baseline is the software one of its type). Each
 * figure is one run of SECONDS per path, one request at a time (latency-bound, as a client
 * signing one login or one commit sees it). A benchmark measures; it checks nothing. Test-only. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/io.h"
#include "core/key-soft.h"
#include "core/key.h"
#include "core/ssh-wire.h"
#include "core/util.h"

static double seconds = 2.0;

/* n bytes from fd, or -EIO. */
static int read_exact(int fd, void *buf, size_t n)
{
	uint8_t *p = buf;

	while (n) {
		ssize_t k = read(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -EIO;
		p += k, n -= (size_t)k;
	}
	return 0;
}

static __attribute__((noreturn)) void die(const char *what, int r)
{
	fprintf(stderr, "bench-sign: %s: %s\n", what, strerror(r < 0 ? -r : r));
	exit(1);
}

static int connect_unix(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(path) >= sizeof(a.sun_path))
		die(path, -EINVAL);
	memcpy(a.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die(path, -errno);
	return fd;
}

/* One request line (+ value) and its reply (+ value into out), on fd. */
static int control_call(int fd, const char *line, const uint8_t *value, size_t n, uint8_t *out,
			size_t *outlen)
{
	char reply[4096];
	size_t got = 0, vlen = 0;
	const char *p;

	if (io_write_all(fd, line, strlen(line)) < 0 || (n && io_write_all(fd, value, n) < 0))
		return -EIO;
	while (got < sizeof(reply) - 1) { /* the line, a byte at a time would be slow: peek */
		ssize_t k = recv(fd, reply + got, sizeof(reply) - 1 - got, MSG_PEEK);
		char *nl;

		if (k <= 0)
			return -EIO;
		reply[got + (size_t)k] = '\0';
		nl = memchr(reply + got, '\n', (size_t)k);
		if (nl) {
			size_t line_len = (size_t)(nl - reply) + 1;

			if (recv(fd, reply + got, line_len - got, 0) != (ssize_t)(line_len - got))
				return -EIO;
			reply[line_len] = '\0';
			got = line_len;
			break;
		}
		if (recv(fd, reply + got, (size_t)k, 0) != k)
			return -EIO;
		got += (size_t)k;
	}
	if (!strstr(reply, "\"ok\":true"))
		return fprintf(stderr, "bench-sign: %s", reply), -EIO;
	p = strstr(reply, "\"value_len\":");
	if (p)
		vlen = strtoul(p + 12, NULL, 10);
	if (vlen > *outlen)
		return -ENOBUFS;
	if (vlen && read_exact(fd, out, vlen) < 0)
		return -EIO;
	*outlen = vlen;
	return 0;
}

/* One agent message out, its reply in (into buf). */
static int agent_call(int fd, const uint8_t *msg, size_t n, uint8_t *buf, size_t size,
		      size_t *ret_len)
{
	uint8_t hdr[4];
	uint32_t len;

	if (io_write_all(fd, msg, n) < 0 || read_exact(fd, hdr, 4) < 0)
		return -EIO;
	len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (len > size || read_exact(fd, buf, len) < 0)
		return -EIO;
	*ret_len = len;
	return 0;
}

struct target {
	char vault[128], name[128];
	enum key_type type;
	enum key_alg alg;
};

static double rate(int64_t t0, unsigned n)
{
	return n / ((double)(clock_ns(CLOCK_MONOTONIC) - t0) / 1e9);
}

static double baseline(const struct target *t)
{
	struct secbuf *m = NULL;
	struct key_soft *k = NULL;
	uint8_t d[64] = { 1 }, sig[KEY_SIG_MAX];
	size_t dl = t->alg == KEY_ALG_EDDSA ? 32 : key_alg_digest_len(t->alg);
	int64_t t0, end;
	unsigned n = 0;

	if (key_soft_generate(t->type, &m) < 0 || key_soft_load(t->type, m, &k) < 0)
		die("baseline key", -EINVAL);
	t0 = clock_ns(CLOCK_MONOTONIC);
	end = t0 + (int64_t)(seconds * 1e9);
	while (clock_ns(CLOCK_MONOTONIC) < end) {
		size_t sl = sizeof(sig);

		if (key_soft_sign_loaded(k, t->alg, d, dl, sig, &sl) < 0)
			die("baseline sign", -EIO);
		n++;
	}
	key_soft_free(k);
	secbuf_free(m);
	return rate(t0, n);
}

static double through_control(const char *sock, const struct target *t)
{
	char line[512];
	uint8_t d[64] = { 2 }, sig[KEY_SIG_MAX];
	size_t dl = t->alg == KEY_ALG_EDDSA ? 32 : key_alg_digest_len(t->alg);
	int fd = connect_unix(sock), r;
	int64_t t0, end;
	unsigned n = 0;

	snprintf(line, sizeof(line),
		 "{\"v\":1,\"op\":\"key-sign\",\"vault\":\"%s\",\"name\":\"%s\",\"alg\":\"%s\","
		 "\"value_len\":%zu}\n",
		 t->vault, t->name, key_alg_name(t->alg), dl);
	t0 = clock_ns(CLOCK_MONOTONIC);
	end = t0 + (int64_t)(seconds * 1e9);
	while (clock_ns(CLOCK_MONOTONIC) < end) {
		size_t sl = sizeof(sig);

		r = control_call(fd, line, d, dl, sig, &sl);
		if (r < 0)
			die("control sign", r);
		n++;
	}
	close(fd);
	return rate(t0, n);
}

/* The key's ssh blob, from its SPKI (key-get-public format der). */
static size_t key_blob(const char *sock, const struct target *t, uint8_t *blob, size_t size)
{
	char line[512];
	uint8_t der[KEY_PUBLIC_DER_MAX];
	size_t dl = sizeof(der), bl = 0;
	int fd = connect_unix(sock), r;

	snprintf(line, sizeof(line),
		 "{\"v\":1,\"op\":\"key-get-public\",\"vault\":\"%s\",\"name\":\"%s\","
		 "\"format\":\"der\"}\n",
		 t->vault, t->name);
	r = control_call(fd, line, NULL, 0, der, &dl);
	if (r >= 0)
		r = ssh_key_from_spki(der, dl, blob, size, &bl);
	if (r < 0)
		die("public key", r);
	close(fd);
	return bl;
}

static double through_agent(const char *ctl, const char *sock, const struct target *t)
{
	uint8_t blob[2048], msg[4096], reply[4096], data[64] = { 3 };
	size_t bl = key_blob(ctl, t, blob, sizeof(blob)), len, rl;
	struct ssh_writer w;
	int fd = connect_unix(sock), r;
	int64_t t0, end;
	unsigned n = 0;

	w = ssh_writer_make(msg + 4, sizeof(msg) - 4);
	if (ssh_put_u8(&w, 13) < 0 || ssh_put_string(&w, blob, bl) < 0 ||
	    ssh_put_string(&w, data, sizeof(data)) < 0 ||
	    ssh_put_u32(&w, key_type_is_rsa(t->type) ? 2 : 0) < 0)
		die("agent message", -EINVAL);
	len = w.len;
	msg[0] = (uint8_t)(len >> 24), msg[1] = (uint8_t)(len >> 16);
	msg[2] = (uint8_t)(len >> 8), msg[3] = (uint8_t)len;
	t0 = clock_ns(CLOCK_MONOTONIC);
	end = t0 + (int64_t)(seconds * 1e9);
	while (clock_ns(CLOCK_MONOTONIC) < end) {
		r = agent_call(fd, msg, len + 4, reply, sizeof(reply), &rl);
		if (r < 0 || rl == 0 || reply[0] != 14)
			die("agent sign (SSH_AGENT_FAILURE?)", r < 0 ? r : -EACCES);
		n++;
	}
	close(fd);
	return rate(t0, n);
}

/* The floor of any path through a daemon on this machine: one byte there and back over a
 * unix socket to another thread that blocks in read, one round trip at a time (what a request
 * pays before any work). */
static void *echo_main(void *arg)
{
	int fd = *(int *)arg;
	char c;

	while (read(fd, &c, 1) == 1)
		if (write(fd, &c, 1) != 1)
			break;
	return NULL;
}

static double round_trip_us(void)
{
	int sv[2];
	pthread_t th;
	int64_t t0, end;
	unsigned n = 0;
	char c = 'x';

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		die("socketpair", -errno);
	pthread_create(&th, NULL, echo_main, &sv[1]);
	t0 = clock_ns(CLOCK_MONOTONIC);
	end = t0 + (int64_t)(seconds * 1e9);
	while (clock_ns(CLOCK_MONOTONIC) < end) {
		if (write(sv[0], &c, 1) != 1 || read(sv[0], &c, 1) != 1)
			die("echo", -EIO);
		n++;
	}
	close(sv[0]);
	pthread_join(th, NULL);
	close(sv[1]);
	return 1e6 / rate(t0, n);
}

int main(int argc, char **argv)
{
	double rt;

	if (argc < 5)
		return fprintf(stderr, "usage: bench-sign CTL AGENT SECONDS V/N:TYPE:ALG...\n"), 2;
	seconds = atof(argv[3]);
	rt = round_trip_us();
	printf("a unix-socket round trip to another thread: %.1f us (the floor of a request)\n",
	       rt);
	printf("%-22s %12s %12s %8s %12s %8s\n", "key", "openssl/s", "control/s", "ratio",
	       "agent/s", "ratio");
	for (int i = 4; i < argc; i++) {
		struct target t = {};
		char type[32], alg[32];
		double b, c, a;

		if (sscanf(argv[i], "%127[^/]/%127[^:]:%31[^:]:%31s", t.vault, t.name, type, alg) !=
		    4)
			return fprintf(stderr, "bench-sign: bad target '%s'\n", argv[i]), 2;
		t.type = key_type_from_name(type);
		t.alg = key_alg_from_name(alg);
		if (!t.type || !t.alg)
			return fprintf(stderr, "bench-sign: bad type or alg in '%s'\n", argv[i]), 2;
		b = baseline(&t);
		c = through_control(argv[1], &t);
		a = through_agent(argv[1], argv[2], &t);
		printf("%-22s %12.0f %12.0f %8.2f %12.0f %8.2f  (best possible %.2f)\n", argv[i], b,
		       c, c / b, a, a / b, (1e6 / b) / (1e6 / b + rt));
		fflush(stdout);
	}
	return 0;
}
