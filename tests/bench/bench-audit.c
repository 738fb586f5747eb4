/* bench-audit.c: the audit journal's benchmark and its test helper, one program:
 *   bench-audit bench [--dir D] [--seconds S]
 *       appends per second in each sync mode with 1 writer, 2 threads on one handle and 2
 *       processes each with its own handle, the journal and the store (anchor) side by side in
 *       D (default: a new dir under $TMPDIR or /var/tmp, on disk), as a table with the ratio to
 *       `none` with 1 writer. A benchmark measures; it checks nothing.
 *   bench-audit write -c CONF [--count N] [--sync M] [--rotate-size B] [--event E]
 *       [--vault V] [--object O] [--uid U] [--exe X] [--path P] [--deny] [--print]
 *       unseal the store of CONF (as `vaultctl --offline` does), open its journal and append N
 *       records (0: until killed); --print writes each seq once its append has returned, so a
 *       test that kills it knows which records were acknowledged.
 *   bench-audit fs-shutdown DIR
 *       shut down the ext4 file system holding DIR (EXT4_IOC_SHUTDOWN, no log flush): every
 *       later write and sync there fails with EIO. Only for a test's own loop mount.
 * Test-only: never installed. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/audit.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/kv.h"
#include "core/seal.h"
#include "core/store.h"
#include "core/util.h"

#define EXT4_IOC_SHUTDOWN _IOR('X', 125, uint32_t)
#define EXT4_GOING_FLAGS_NOLOGFLUSH 0x2

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct audit_record sample(void)
{
	struct audit_record r = AUDIT_RECORD_INIT;

	r.event = "open";
	r.rule = "payments-db";
	r.vault = "payments";
	r.object = "db-password";
	r.version = 3;
	r.path = "/run/vaultfs/payments/db-password";
	r.uid = 1000;
	r.gid = 1000;
	r.pid = getpid();
	r.exe = "/usr/local/bin/payments-api";
	r.cgroup = "/system.slice/payments-api.service";
	r.unit = "payments-api.service";
	return r;
}

struct loop {
	struct audit *a;
	double until;
	uint64_t count;
	int error;
};

static void *append_loop(void *p)
{
	struct loop *l = p;
	struct audit_record r = sample();

	while (now_s() < l->until) {
		for (int i = 0; i < 16; i++) {
			int k = audit_append(l->a, &r, NULL);

			if (k < 0) {
				l->error = k;
				return NULL;
			}
			l->count++;
		}
	}
	return NULL;
}

static int open_bench(const char *dir, int sync, const uint8_t *key, struct audit **ret)
{
	char path[700], store[700];
	struct audit_options o = { .sync = sync, .store_path = store, .lease = true };

	snprintf(path, sizeof(path), "%s/audit.jsonl", dir);
	snprintf(store, sizeof(store), "%s/vault.db", dir);
	return audit_open(path, &o, key, ret);
}

/* One configuration: writers threads on one handle, or (procs) that many processes. */
static int run_one(const char *dir, int sync, int writers, bool procs, double seconds,
		   const uint8_t *key, double *ret_rate)
{
	struct store *s = NULL;
	char store[700];
	uint64_t total = 0;
	double t0, t1;
	int r;

	snprintf(store, sizeof(store), "%s/vault.db", dir);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	r = store_open(store, STORE_CREATE, &s);
	if (r < 0)
		return r;
	store_free(s);
	if (!procs) {
		struct loop l[2] = {};
		pthread_t th[2];
		struct audit *a = NULL;

		r = open_bench(dir, sync, key, &a);
		if (r < 0)
			return r;
		t0 = now_s();
		for (int i = 0; i < writers; i++) {
			l[i] = (struct loop){ .a = a, .until = t0 + seconds };
			pthread_create(&th[i], NULL, append_loop, &l[i]);
		}
		for (int i = 0; i < writers; i++) {
			pthread_join(th[i], NULL);
			total += l[i].count;
			if (l[i].error)
				r = l[i].error;
		}
		t1 = now_s();
		audit_free(a);
	} else {
		int fds[2][2];
		pid_t pid[2];

		t0 = now_s() + 0.2; /* the children start together, after their open */
		for (int i = 0; i < writers; i++) {
			if (pipe(fds[i]) < 0)
				return -errno;
			pid[i] = fork();
			if (pid[i] < 0)
				return -errno;
			if (pid[i] == 0) {
				struct loop l = { .until = t0 + seconds };
				int k = open_bench(dir, sync, key, &l.a);
				double res[2] = {};

				while (k >= 0 && now_s() < t0)
					usleep(1000);
				if (k >= 0)
					append_loop(&l);
				res[0] = (double)l.count;
				res[1] = now_s() - t0;
				if (k >= 0)
					audit_free(l.a);
				if (k >= 0 && l.error)
					k = l.error;
				if (write(fds[i][1], res, sizeof(res)) < 0 || k < 0)
					_exit(1);
				_exit(0);
			}
			close(fds[i][1]);
		}
		t1 = t0;
		for (int i = 0; i < writers; i++) {
			double res[2] = {};
			int st;

			if (read(fds[i][0], res, sizeof(res)) != (ssize_t)sizeof(res))
				r = -EIO;
			close(fds[i][0]);
			waitpid(pid[i], &st, 0);
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
				r = -EIO;
			total += (uint64_t)res[0];
			if (t0 + res[1] > t1) /* each child's own end of appending */
				t1 = t0 + res[1];
		}
	}
	if (r < 0)
		return r;
	*ret_rate = (double)total / (t1 - t0);
	return 0;
}

static int rm_one(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st, (void)type, (void)ftw;
	return remove(p);
}

static int bench(int argc, char **argv)
{
	static const struct option opts[] = { { "dir", required_argument, NULL, 'd' },
					      { "seconds", required_argument, NULL, 's' },
					      {} };
	static const struct {
		const char *name;
		int sync;
	} modes[] = { { "none", AUDIT_SYNC_NONE },
		      { "batch", AUDIT_SYNC_BATCH },
		      { "always", AUDIT_SYNC_ALWAYS } };
	static const struct {
		const char *name;
		int writers;
		bool procs;
	} shapes[] = { { "1 writer", 1, false },
		       { "2 threads", 2, false },
		       { "2 processes", 2, true } };
	const char *base = NULL;
	bool made = false;
	char tmpl[512], dir[600];
	double seconds = 2.0, ref = 0;
	uint8_t key[CRYPTO_KEY_LEN];
	int c, r, n = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		if (c == 'd')
			base = optarg;
		else if (c == 's')
			seconds = atof(optarg);
		else
			return 2;
	}
	if (seconds <= 0)
		return 2;
	if (!base) {
		const char *t = getenv("TMPDIR");

		snprintf(tmpl, sizeof(tmpl), "%s/bench-audit.XXXXXX", t && *t ? t : "/var/tmp");
		base = mkdtemp(tmpl);
		if (!base) {
			perror("bench-audit: mkdtemp");
			return 1;
		}
		made = true;
	}
	if (crypto_random(key, sizeof(key)) < 0)
		return 1;
	printf("audit appends/s, journal and store in %s, %.1f s per run\n", base, seconds);
	printf("%-7s %-12s %12s %10s\n", "sync", "writers", "appends/s", "vs none/1");
	for (size_t m = 0; m < ELEMENTSOF(modes); m++)
		for (size_t s = 0; s < ELEMENTSOF(shapes); s++) {
			double rate = 0;

			snprintf(dir, sizeof(dir), "%s/run-%d", base, n++);
			r = run_one(dir, modes[m].sync, shapes[s].writers, shapes[s].procs, seconds,
				    key, &rate);
			if (r < 0) {
				fprintf(stderr, "bench-audit: %s, %s: %s\n", modes[m].name,
					shapes[s].name, strerror(-r));
				return 1;
			}
			if (m == 0 && s == 0)
				ref = rate;
			printf("%-7s %-12s %12.0f %10.3f\n", modes[m].name, shapes[s].name, rate,
			       ref > 0 ? rate / ref : 0);
			fflush(stdout);
		}
	if (made) /* ours: leave nothing behind */
		nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	else
		printf("(files left in %s)\n", base);
	return 0;
}

static void kv_freep_(struct kv **kv)
{
	kv_free(*kv);
}

static int write_cmd(int argc, char **argv)
{
	static const struct option opts[] = { { "config", required_argument, NULL, 'c' },
					      { "count", required_argument, NULL, 'n' },
					      { "sync", required_argument, NULL, 's' },
					      { "rotate-size", required_argument, NULL, 'R' },
					      { "event", required_argument, NULL, 'e' },
					      { "vault", required_argument, NULL, 'v' },
					      { "object", required_argument, NULL, 'o' },
					      { "uid", required_argument, NULL, 'u' },
					      { "exe", required_argument, NULL, 'x' },
					      { "path", required_argument, NULL, 'P' },
					      { "deny", no_argument, NULL, 'D' },
					      { "print", no_argument, NULL, 'p' },
					      {} };
	_cleanup_config_ struct config *cfg = NULL;
	_cleanup_(kv_freep_) struct kv *kv = NULL;
	_cleanup_secbuf_ struct secbuf *m = NULL, *key = NULL;
	_cleanup_audit_ struct audit *a = NULL;
	struct audit_record rec = sample();
	struct audit_options o = {};
	const char *conf = NULL, *sync = NULL;
	unsigned long long count = 1;
	bool print = false;
	struct store *s = NULL;
	char err[512];
	int c, r;

	rec.event = "set";
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) >= 0) {
		switch (c) {
		case 'c':
			conf = optarg;
			break;
		case 'n':
			count = strtoull(optarg, NULL, 10);
			break;
		case 's':
			sync = optarg;
			break;
		case 'R':
			o.rotate_size = strtoull(optarg, NULL, 10);
			break;
		case 'e':
			rec.event = optarg;
			break;
		case 'v':
			rec.vault = optarg;
			break;
		case 'o':
			rec.object = optarg;
			break;
		case 'u':
			rec.uid = strtoll(optarg, NULL, 10);
			break;
		case 'x':
			rec.exe = optarg;
			break;
		case 'P':
			rec.path = optarg;
			break;
		case 'D':
			rec.decision = AUDIT_DENY;
			rec.err = EACCES;
			break;
		case 'p':
			print = true;
			break;
		default:
			return 2;
		}
	}
	if (!conf)
		return 2;
	r = config_load(conf, &cfg, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "bench-audit: %s\n", err);
		return 2;
	}
	o.sync = !sync		       ? cfg->audit_sync :
		 streq(sync, "always") ? AUDIT_SYNC_ALWAYS :
		 streq(sync, "batch")  ? AUDIT_SYNC_BATCH :
					 AUDIT_SYNC_NONE;
	o.store_path = cfg->store_path;
	r = store_open(cfg->store_path, 0, &s);
	if (r >= 0) {
		r = seal_unseal(s, cfg, &m);
		if (r < 0)
			store_free(s);
	}
	if (r >= 0)
		r = kv_new(s, TAKE_PTR(m), &kv);
	if (r >= 0) { /* as vaultctl does: our anchors name the store's epoch */
		struct seal_epoch ev;

		r = kv_epoch_open(kv, cfg, &ev);
		if (r == -EOPNOTSUPP)
			r = 0;
		kv_epoch(kv, &o.epoch, &o.epoch_min);
	}
	if (r >= 0)
		r = kv_derive_key(kv, AUDIT_KEY_LABEL, &key);
	if (r < 0) {
		fprintf(stderr, "bench-audit: unseal: %s\n", strerror(-r));
		return 1;
	}
	r = audit_open(cfg->audit_path, &o, key->data, &a);
	if (r < 0) {
		fprintf(stderr, "bench-audit: open: %s\n", strerror(-r));
		return 1;
	}
	for (unsigned long long i = 0; count == 0 || i < count; i++) {
		uint64_t seq;

		r = audit_append(a, &rec, &seq);
		if (r < 0) {
			fprintf(stderr, "bench-audit: append: %s\n", strerror(-r));
			return 1;
		}
		if (print) {
			printf("%" PRIu64 "\n", seq);
			fflush(stdout);
		}
	}
	r = audit_flush(a);
	if (r < 0) {
		fprintf(stderr, "bench-audit: flush: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}

static int fs_shutdown(int argc, char **argv)
{
	uint32_t flags = EXT4_GOING_FLAGS_NOLOGFLUSH;
	int fd;

	if (argc != 2)
		return 2;
	fd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, EXT4_IOC_SHUTDOWN, &flags) < 0) {
		perror("bench-audit: fs-shutdown");
		return 1;
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bench-audit bench|write|fs-shutdown ...\n");
		return 2;
	}
	argc--, argv++;
	if (streq(argv[0], "bench"))
		return bench(argc, argv);
	if (streq(argv[0], "write"))
		return write_cmd(argc, argv);
	if (streq(argv[0], "fs-shutdown"))
		return fs_shutdown(argc, argv);
	fprintf(stderr, "bench-audit: unknown command '%s'\n", argv[0]);
	return 2;
}
