/* bench-sign.c: signatures per second through vaultfsd's control socket and its ssh-agent
 * socket, each as a ratio to OpenSSL's own speed for the same key type measured in the same run
 * (a key of that type made and loaded in this process, EVP_DigestSign through key-soft's loaded
 * key). tests/bench/sign-bench.sh sets up the daemon and the keys and runs it:
 *   bench-sign CONTROL_SOCKET AGENT_SOCKET SECONDS VAULT/NAME:TYPE:ALG...
 * TYPE as key.h names it (ed25519, ec-p256, rsa-2048), ALG the JWS name (EdDSA, ES256, RS256);
 * a name ending in "-tpm" is a TPM key (its baseline is the software one of its type). Each
 * path has SECONDS in all, one request at a time (latency-bound, as a client signing one login
 * or one commit sees it), in turns of 50 ms with the other two paths of the key, so that a
 * shared machine's load falls on the baseline and the daemon alike; the agent's ratio per
 * turn (10th and 90th percentile) shows the spread. A benchmark measures; it checks nothing.
 * Test-only. */
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

/* Each path's turn, and the most turns of a run. */
#define SLICE_S 0.05
#define ROUNDS_MAX 4096

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

/* One path being measured: one signature per step, the count and time of its slices. */
struct path {
	const struct target *t;
	int fd;		  /* control, agent: the connection */
	struct secbuf *m; /* baseline: the key */
	struct key_soft *k;
	char line[512];	   /* control: the request */
	uint8_t msg[4096]; /* agent: the request, framed */
	size_t len;
	uint64_t n;
	int64_t ns;
};

static void step_baseline(struct path *p)
{
	uint8_t d[64] = { 1 }, sig[KEY_SIG_MAX];
	size_t dl = p->t->alg == KEY_ALG_EDDSA ? 32 : key_alg_digest_len(p->t->alg);
	size_t sl = sizeof(sig);

	if (key_soft_sign_loaded(p->k, p->t->alg, d, dl, sig, &sl) < 0)
		die("baseline sign", -EIO);
}

static void step_control(struct path *p)
{
	uint8_t d[64] = { 2 }, sig[KEY_SIG_MAX];
	size_t dl = p->t->alg == KEY_ALG_EDDSA ? 32 : key_alg_digest_len(p->t->alg);
	size_t sl = sizeof(sig);
	int r = control_call(p->fd, p->line, d, dl, sig, &sl);

	if (r < 0)
		die("control sign", r);
}

static void step_agent(struct path *p)
{
	uint8_t reply[4096];
	size_t rl;
	int r = agent_call(p->fd, p->msg, p->len, reply, sizeof(reply), &rl);

	if (r < 0 || rl == 0 || reply[0] != 14)
		die("agent sign (SSH_AGENT_FAILURE?)", r < 0 ? r : -EACCES);
}

/* A key of the target's type made and loaded in this process. */
static void open_baseline(struct path *p)
{
	if (key_soft_generate(p->t->type, &p->m) < 0 || key_soft_load(p->t->type, p->m, &p->k) < 0)
		die("baseline key", -EINVAL);
}

static void open_control(struct path *p, const char *sock)
{
	size_t dl = p->t->alg == KEY_ALG_EDDSA ? 32 : key_alg_digest_len(p->t->alg);

	p->fd = connect_unix(sock);
	snprintf(p->line, sizeof(p->line),
		 "{\"v\":1,\"op\":\"key-sign\",\"vault\":\"%s\",\"name\":\"%s\",\"alg\":\"%s\","
		 "\"value_len\":%zu}\n",
		 p->t->vault, p->t->name, key_alg_name(p->t->alg), dl);
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

static void open_agent(struct path *p, const char *ctl, const char *sock)
{
	uint8_t blob[2048], data[64] = { 3 };
	size_t bl = key_blob(ctl, p->t, blob, sizeof(blob));
	struct ssh_writer w = ssh_writer_make(p->msg + 4, sizeof(p->msg) - 4);

	if (ssh_put_u8(&w, 13) < 0 || ssh_put_string(&w, blob, bl) < 0 ||
	    ssh_put_string(&w, data, sizeof(data)) < 0 ||
	    ssh_put_u32(&w, key_type_is_rsa(p->t->type) ? 2 : 0) < 0)
		die("agent message", -EINVAL);
	p->msg[0] = (uint8_t)(w.len >> 24), p->msg[1] = (uint8_t)(w.len >> 16);
	p->msg[2] = (uint8_t)(w.len >> 8), p->msg[3] = (uint8_t)w.len;
	p->len = w.len + 4;
	p->fd = connect_unix(sock);
}

/* Steps of p for ns nanoseconds (at least one); the rate of that slice. */
static double slice(struct path *p, void (*step)(struct path *), int64_t ns)
{
	int64_t t0 = clock_ns(CLOCK_MONOTONIC), t = t0, end = t0 + ns;
	uint64_t n = 0;

	do {
		step(p);
		n++;
		t = clock_ns(CLOCK_MONOTONIC);
	} while (t < end);
	p->n += n;
	p->ns += t - t0;
	return (double)n / ((double)(t - t0) / 1e9);
}

static double path_rate(const struct path *p)
{
	return p->ns ? (double)p->n / ((double)p->ns / 1e9) : 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
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

/* The three paths of t in turns of SLICE_S each (what the machine's other load takes falls on
 * all of them alike), seconds each in all; one line. BENCH_SIGN_AGENT_ONLY (set): not the
 * control socket (its column shows the baseline). */
static void measure(const char *label, const struct target *t, const char *ctl, const char *agent,
		    double rt)
{
	struct path pb = { .t = t, .fd = -1 }, pc = pb, pa = pb;
	bool agent_only = getenv("BENCH_SIGN_AGENT_ONLY") != NULL;
	size_t rounds = (size_t)(seconds / SLICE_S + 0.5);
	int64_t ns = (int64_t)(SLICE_S * 1e9);
	double ratios[ROUNDS_MAX], b, c, a;

	rounds = rounds < 1 ? 1 : MIN(rounds, (size_t)ROUNDS_MAX);
	open_baseline(&pb);
	if (!agent_only)
		open_control(&pc, ctl);
	open_agent(&pa, ctl, agent);
	for (size_t i = 0; i < rounds; i++) {
		double rb = slice(&pb, step_baseline, ns);

		if (!agent_only)
			(void)slice(&pc, step_control, ns);
		ratios[i] = slice(&pa, step_agent, ns) / rb;
	}
	b = path_rate(&pb);
	c = agent_only ? b : path_rate(&pc);
	a = path_rate(&pa);
	qsort(ratios, rounds, sizeof(*ratios), cmp_double);
	printf("%-22s %12.0f %12.0f %8.2f %12.0f %8.2f  (best possible %.2f; agent, per turn, "
	       "p10 %.2f p90 %.2f)\n",
	       label, b, c, c / b, a, a / b, (1e6 / b) / (1e6 / b + rt), ratios[rounds / 10],
	       ratios[rounds - 1 - rounds / 10]);
	key_soft_free(pb.k);
	secbuf_free(pb.m);
	if (pc.fd >= 0)
		close(pc.fd);
	close(pa.fd);
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

		if (sscanf(argv[i], "%127[^/]/%127[^:]:%31[^:]:%31s", t.vault, t.name, type, alg) !=
		    4)
			return fprintf(stderr, "bench-sign: bad target '%s'\n", argv[i]), 2;
		t.type = key_type_from_name(type);
		t.alg = key_alg_from_name(alg);
		if (!t.type || !t.alg)
			return fprintf(stderr, "bench-sign: bad type or alg in '%s'\n", argv[i]), 2;
		measure(argv[i], &t, argv[1], argv[2], rt);
		fflush(stdout);
	}
	return 0;
}
