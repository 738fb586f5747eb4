/* bench-scale.c: the helpers of run-bench.sh that shell cannot do well, one program:
 *   bench-scale load -c CONF --vault V --count N [--first I] [--size B]
 *       unseal the store of CONF (as `vaultctl --offline` does), create vault V if it is not
 *       there, and set secrets V/sNNNNNNN for NNNNNNN = I .. I+N-1 (B random bytes each,
 *       default 100) through the core API (kv_secret_set, one transaction each); prints the
 *       time it took. Nothing is written to the audit journal.
 *   bench-scale get [--count N] [--reads R] [--size B]
 *       the read path of the core API alone: a throwaway store in /tmp with a random master key
 *       (no TPM), N secrets, then R kv_secret_get of them round-robin, bare and each in its own
 *       read session (as the filesystem reads); prints ns per get of each.
 *   bench-scale start [-n RUNS] [--mount DIR] -- CMD [ARG...]
 *       cold start: run CMD (vaultfsd) RUNS times with NOTIFY_SOCKET set to a socket of ours;
 *       the time from fork to its READY=1 is one sample (with --mount, DIR must be a mount
 *       point by then); then SIGTERM and wait. Prints the median, the fastest and the slowest.
 * A benchmark measures: it fails only when something does not work, never on a number.
 * Test-only: never installed. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/kv.h"
#include "core/seal.h"
#include "core/store.h"
#include "core/util.h"

#define START_RUNS_MAX 50u
#define START_TIMEOUT_MS 30000

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_ulong(const char *s, unsigned long max, unsigned long *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* The kv of the store of conf, its master key unsealed with the configured sealer. */
static int open_kv(const char *conf, struct kv **ret)
{
	_cleanup_config_ struct config *c = NULL;
	struct secbuf *m = NULL;
	struct store *s = NULL;
	char err[512];
	int r;

	r = config_load(conf, &c, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "bench-scale: %s\n", err);
		return r;
	}
	r = store_open(c->store_path, 0, &s);
	if (r < 0) {
		fprintf(stderr, "bench-scale: store '%s': %s\n", c->store_path, strerror(-r));
		return r;
	}
	r = seal_unseal(s, c, &m);
	if (r < 0) {
		fprintf(stderr, "bench-scale: unseal: %s\n", strerror(-r));
		store_free(s);
		return r;
	}
	r = kv_new(s, m, ret);
	if (r < 0)
		fprintf(stderr, "bench-scale: kv: %s\n", strerror(-r));
	return r;
}

static int cmd_load(int argc, char **argv)
{
	static const struct option opts[] = { { "config", required_argument, NULL, 'c' },
					      { "vault", required_argument, NULL, 'v' },
					      { "count", required_argument, NULL, 'n' },
					      { "first", required_argument, NULL, 'f' },
					      { "size", required_argument, NULL, 's' },
					      {} };
	const char *conf = NULL, *vault = NULL;
	unsigned long count = 0, first = 0, size = 100;
	uint8_t value[VAULTFS_VALUE_MAX];
	struct kv *kv = NULL;
	double t0, dt;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "c:v:n:f:s:", opts, NULL)) >= 0) {
		int k = 0;

		switch (opt) {
		case 'c':
			conf = optarg;
			break;
		case 'v':
			vault = optarg;
			break;
		case 'n':
			k = parse_ulong(optarg, 10000000, &count);
			break;
		case 'f':
			k = parse_ulong(optarg, 10000000, &first);
			break;
		case 's':
			k = parse_ulong(optarg, VAULTFS_VALUE_MAX, &size);
			break;
		default:
			return 2;
		}
		if (k < 0) {
			fprintf(stderr, "bench-scale: bad value '%s'\n", optarg);
			return 2;
		}
	}
	if (!conf || !vault || optind != argc) {
		fprintf(stderr, "Usage: bench-scale load -c CONF --vault V --count N [--first I] "
				"[--size B]\n");
		return 2;
	}
	if (open_kv(conf, &kv) < 0)
		return 1;
	r = kv_vault_create(kv, vault, 0);
	if (r < 0 && r != -EEXIST) {
		fprintf(stderr, "bench-scale: vault '%s': %s\n", vault, strerror(-r));
		kv_free(kv);
		return 1;
	}
	r = crypto_random(value, size);
	t0 = now_s();
	for (unsigned long i = first; r >= 0 && i < first + count; i++) {
		char name[32];

		snprintf(name, sizeof(name), "s%07lu", i);
		memcpy(value, &i, size < sizeof(i) ? size : sizeof(i)); /* no two alike */
		r = kv_secret_set(kv, vault, name, value, size, NULL, NULL);
		if (r < 0)
			fprintf(stderr, "bench-scale: set %s/%s: %s\n", vault, name, strerror(-r));
	}
	dt = now_s() - t0;
	secure_wipe(value, sizeof(value));
	kv_free(kv);
	if (r < 0)
		return 1;
	printf("loaded %lu secrets into %s in %.1f s (%.0f/s)\n", count, vault, dt,
	       dt > 0 ? (double)count / dt : 0.0);
	return 0;
}

static int get_loop(struct kv *kv, unsigned long count, unsigned long reads, bool session,
		    double *ret_ns)
{
	double t0 = now_s();
	int r = 0;

	for (unsigned long i = 0; i < reads; i++) {
		_cleanup_secbuf_ struct secbuf *val = NULL;
		char name[32];

		snprintf(name, sizeof(name), "s%07lu", i % count);
		if (session && (r = kv_read_begin(kv)) < 0)
			return r;
		r = kv_secret_get(kv, "bench", name, 0, &val, NULL);
		if (session)
			kv_read_end(kv);
		if (r < 0)
			return r;
	}
	*ret_ns = (now_s() - t0) * 1e9 / (double)reads;
	return 0;
}

static int cmd_get(int argc, char **argv)
{
	static const struct option opts[] = { { "count", required_argument, NULL, 'n' },
					      { "reads", required_argument, NULL, 'r' },
					      { "size", required_argument, NULL, 's' },
					      {} };
	unsigned long count = 8, reads = 200000, size = 100;
	char dir[] = "/tmp/bench-scale-get.XXXXXX", path[64];
	uint8_t value[VAULTFS_VALUE_MAX];
	struct secbuf *m = NULL;
	struct store *s = NULL;
	struct kv *kv = NULL;
	double bare = 0, sess = 0;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "n:r:s:", opts, NULL)) >= 0) {
		int k;

		switch (opt) {
		case 'n':
			k = parse_ulong(optarg, 100000, &count);
			break;
		case 'r':
			k = parse_ulong(optarg, 100000000, &reads);
			break;
		case 's':
			k = parse_ulong(optarg, VAULTFS_VALUE_MAX, &size);
			break;
		default:
			return 2;
		}
		if (k < 0 || count == 0 || reads == 0) {
			fprintf(stderr, "bench-scale: bad value '%s'\n", optarg);
			return 2;
		}
	}
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/vault.db", dir);
	r = store_open(path, STORE_CREATE, &s);
	if (r >= 0)
		r = secbuf_new(CRYPTO_KEY_LEN, &m);
	if (r >= 0) {
		m->len = CRYPTO_KEY_LEN;
		r = crypto_random(m->data, m->len);
	}
	if (r >= 0) {
		r = kv_new(s, m, &kv);
		s = NULL;
		m = NULL;
	}
	if (r >= 0)
		r = kv_vault_create(kv, "bench", 0);
	if (r >= 0)
		r = crypto_random(value, size);
	for (unsigned long i = 0; r >= 0 && i < count; i++) {
		char name[32];

		snprintf(name, sizeof(name), "s%07lu", i);
		r = kv_secret_set(kv, "bench", name, value, size, NULL, NULL);
	}
	secure_wipe(value, sizeof(value));
	if (r >= 0)
		r = get_loop(kv, count, reads, false, &bare);
	if (r >= 0)
		r = get_loop(kv, count, reads, true, &sess);
	kv_free(kv);
	store_free(s);
	secbuf_free(m);
	snprintf(path, sizeof(path), "rm -rf -- '%s'", dir);
	if (system(path) != 0)
		fprintf(stderr, "bench-scale: could not remove %s\n", dir);
	if (r < 0) {
		fprintf(stderr, "bench-scale: get: %s\n", strerror(-r));
		return 1;
	}
	printf("kv_secret_get of %lu secrets of %lu bytes, %lu reads: %.0f ns bare, %.0f ns in "
	       "a session\n",
	       count, size, reads, bare, sess);
	printf("TSV\t%.0f\t%.0f\n", bare, sess);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Is dir a mount point (another device than its parent)? */
static bool is_mount(const char *dir)
{
	char parent[4096];
	struct stat a, b;

	snprintf(parent, sizeof(parent), "%s/..", dir);
	return stat(dir, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

/* Wait for "READY=1" on the notify socket fd, up to timeout_ms. 0 ready, -ETIMEDOUT, or
 * -ECHILD when pid exited first. */
static int wait_ready(int fd, pid_t pid, int timeout_ms)
{
	double until = now_s() + timeout_ms / 1000.0;

	while (now_s() < until) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char msg[1024];
		ssize_t n;

		if (poll(&p, 1, 50) > 0) {
			n = recv(fd, msg, sizeof(msg) - 1, MSG_DONTWAIT);
			if (n > 0) {
				msg[n] = '\0';
				if (strstr(msg, "READY=1"))
					return 0;
			}
			continue;
		}
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return -ECHILD;
	}
	return -ETIMEDOUT;
}

static int start_once(char **cmd, const char *sock_path, const char *mount, double *ret_s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	double t0, t1;
	pid_t pid;
	int r, st;

	if (strlen(sock_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, sock_path);
	(void)unlink(sock_path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return negative_errno();
	t0 = now_s();
	pid = fork();
	if (pid < 0)
		return negative_errno();
	if (pid == 0) {
		setenv("NOTIFY_SOCKET", sock_path, 1);
		execvp(cmd[0], cmd);
		_exit(127);
	}
	r = wait_ready(fd, pid, START_TIMEOUT_MS);
	t1 = now_s();
	if (r == -ECHILD) {
		fprintf(stderr, "bench-scale: '%s' exited before READY=1\n", cmd[0]);
		(void)unlink(sock_path);
		return r;
	}
	if (r == 0 && mount && !is_mount(mount))
		r = -ENOTCONN;
	kill(pid, SIGTERM);
	if (waitpid(pid, &st, 0) < 0 && r == 0)
		r = negative_errno();
	(void)unlink(sock_path);
	if (r < 0)
		return r;
	*ret_s = t1 - t0;
	return 0;
}

static int cmd_start(int argc, char **argv)
{
	static const struct option opts[] = { { "runs", required_argument, NULL, 'n' },
					      { "mount", required_argument, NULL, 'm' },
					      {} };
	double t[START_RUNS_MAX];
	unsigned long runs = 5;
	const char *mount = NULL;
	char sock_path[64];
	int opt, r;

	while ((opt = getopt_long(argc, argv, "+n:m:", opts, NULL)) >= 0) {
		switch (opt) {
		case 'n':
			if (parse_ulong(optarg, START_RUNS_MAX, &runs) < 0 || runs == 0)
				return 2;
			break;
		case 'm':
			mount = optarg;
			break;
		default:
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr,
			"Usage: bench-scale start [-n RUNS] [--mount DIR] -- CMD [ARG...]\n");
		return 2;
	}
	snprintf(sock_path, sizeof(sock_path), "/tmp/bench-scale-notify.%d", (int)getpid());
	for (unsigned long i = 0; i < runs; i++) {
		r = start_once(argv + optind, sock_path, mount, &t[i]);
		if (r < 0) {
			fprintf(stderr, "bench-scale: start: %s\n", strerror(-r));
			return 1;
		}
	}
	qsort(t, runs, sizeof(double), cmp_double);
	printf("cold start to READY=1: median %.1f ms (fastest %.1f, slowest %.1f, %lu runs)\n",
	       t[runs / 2] * 1e3, t[0] * 1e3, t[runs - 1] * 1e3, runs);
	printf("TSV\t%.1f\t%.1f\t%.1f\n", t[runs / 2] * 1e3, t[0] * 1e3, t[runs - 1] * 1e3);
	return 0;
}

int main(int argc, char **argv)
{
	setenv("TSS2_LOG", "all+NONE", 0);
	if (argc >= 2 && streq(argv[1], "load"))
		return cmd_load(argc - 1, argv + 1);
	if (argc >= 2 && streq(argv[1], "get"))
		return cmd_get(argc - 1, argv + 1);
	if (argc >= 2 && streq(argv[1], "start"))
		return cmd_start(argc - 1, argv + 1);
	fprintf(stderr, "Usage: bench-scale load|get|start ...\n");
	return 2;
}
