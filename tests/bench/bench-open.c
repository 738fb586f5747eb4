/* bench-open.c: the open + read-to-EOF + close loop of one small file, the path every consumer
 * of /vault takes. Given several targets (LABEL=PATH) it runs, for each run in turn and each
 * target in turn (so that drift of the machine hits every target alike), THREADS threads that
 * each open, read to EOF and close PATH COUNT times, after one warm-up run that is not counted.
 * Throughput of a run is all the opens of all its threads over the wall time from the common
 * start to the last thread's end; a target's figure is the median run, with the slowest and
 * fastest run beside it; latencies are the p50 and p99 of every timed open of every run. Prints
 * a table, and with --tsv one tab-separated line per target for a driver to collect. A
 * benchmark measures: it never fails on a number, only when a read fails or returns a size
 * other than the first read's (or --size). Test-only: never installed. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK (128u * 1024u) /* what cat(1) asks for at a time */
#define THREADS_MAX 64u
#define RUNS_MAX 100u

struct target {
	const char *label;
	const char *path;
	double *rates;	  /* ops/s of each run */
	uint32_t *lat_ns; /* every timed open, runs * threads * count */
	size_t n_lat;
	long long size; /* bytes every read must give; -1 until the first read */
};

struct worker {
	pthread_barrier_t *start;
	const char *path;
	unsigned long count;
	uint32_t *lat_ns; /* count slots, or NULL for the warm-up */
	long long size;	  /* bytes expected, -1 any */
	long long got;	  /* bytes of the first open */
	uint64_t t_end;
	int error; /* -errno of the first failure */
	char *buf;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One open, read to EOF, close: the number of bytes, or -errno. */
static long long open_read_close(const char *path, char *buf)
{
	long long total = 0;
	ssize_t n;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		n = read(fd, buf, READ_CHUNK);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		total += n;
	}
	if (close(fd) < 0 && !r)
		r = -errno;
	return r < 0 ? r : total;
}

static void *worker_main(void *p)
{
	struct worker *w = p;

	w->got = -1;
	pthread_barrier_wait(w->start);
	for (unsigned long i = 0; i < w->count; i++) {
		uint64_t t0 = now_ns(), dt;
		long long n = open_read_close(w->path, w->buf);

		dt = now_ns() - t0;
		if (n < 0) {
			w->error = (int)n;
			break;
		}
		if (w->got < 0)
			w->got = n;
		if ((w->size >= 0 && n != w->size) || n != w->got) {
			w->error = -EIO;
			break;
		}
		if (w->lat_ns)
			w->lat_ns[i] = dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt;
	}
	w->t_end = now_ns();
	return NULL;
}

/* One run of nthreads threads on t; the rate into *ret_rate, latencies (when lat is not
 * NULL) into lat[nthreads * count]. */
static int run_once(struct target *t, unsigned nthreads, unsigned long count, uint32_t *lat,
		    double *ret_rate)
{
	struct worker w[THREADS_MAX] = { 0 };
	pthread_t th[THREADS_MAX];
	pthread_barrier_t start;
	uint64_t t0, t1 = 0;
	int r = 0;

	if (pthread_barrier_init(&start, NULL, nthreads + 1) != 0)
		return -ENOMEM;
	for (unsigned i = 0; i < nthreads; i++) {
		w[i] = (struct worker){ .start = &start,
					.path = t->path,
					.count = count,
					.lat_ns = lat ? lat + (size_t)i * count : NULL,
					.size = t->size };
		w[i].buf = malloc(READ_CHUNK);
		if (!w[i].buf) {
			fprintf(stderr, "bench-open: out of memory\n");
			exit(1);
		}
	}
	for (unsigned i = 0; i < nthreads; i++) {
		if (pthread_create(&th[i], NULL, worker_main, &w[i]) != 0) {
			/* the started ones wait on the barrier forever: nothing sane is left */
			fprintf(stderr, "bench-open: cannot start %u threads\n", nthreads);
			exit(1);
		}
	}
	t0 = now_ns();
	pthread_barrier_wait(&start);
	for (unsigned i = 0; i < nthreads; i++) {
		pthread_join(th[i], NULL);
		if (w[i].error && !r)
			r = w[i].error;
		if (w[i].t_end > t1)
			t1 = w[i].t_end;
		if (t->size < 0 && w[i].got >= 0)
			t->size = w[i].got;
		else if (w[i].got >= 0 && w[i].got != t->size && !r)
			r = -EIO;
	}
	for (unsigned i = 0; i < nthreads; i++)
		free(w[i].buf);
	pthread_barrier_destroy(&start);
	if (r < 0)
		return r;
	*ret_rate = (double)nthreads * (double)count / ((double)(t1 - t0) / 1e9);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The q-quantile of sorted v[n] (nearest rank). */
static double quantile_us(const uint32_t *v, size_t n, double q)
{
	size_t i = (size_t)(q * (double)n);

	if (i >= n)
		i = n - 1;
	return (double)v[i] / 1000.0;
}

static void help(void)
{
	printf("Usage: bench-open [OPTIONS] LABEL=PATH...\n"
	       "Open, read to EOF and close each PATH in a loop; print throughput and latency.\n\n"
	       "  -t, --threads N   threads per target (default 1)\n"
	       "  -n, --count N     opens per thread per run (default 10000)\n"
	       "  -r, --runs N      timed runs per target (default 5)\n"
	       "  -w, --warmup N    opens per thread in the untimed first run (default 500)\n"
	       "  -s, --size B      bytes every read must give (default: the first read's)\n"
	       "      --tsv         also print LABEL THREADS OPS/S P50 P99 MIN MAX, tab-separated\n"
	       "  -h, --help        this text\n");
}

static int parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max || s[0] == '-')
		return -EINVAL;
	*ret = v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "threads", required_argument, NULL, 't' },
					      { "count", required_argument, NULL, 'n' },
					      { "runs", required_argument, NULL, 'r' },
					      { "warmup", required_argument, NULL, 'w' },
					      { "size", required_argument, NULL, 's' },
					      { "tsv", no_argument, NULL, 'T' },
					      { "help", no_argument, NULL, 'h' },
					      {} };
	unsigned long nthreads = 1, count = 10000, runs = 5, warmup = 500, size = 0;
	bool tsv = false, have_size = false;
	struct target *t;
	size_t n_t;
	int opt, r = 0;

	while ((opt = getopt_long(argc, argv, "t:n:r:w:s:h", opts, NULL)) >= 0) {
		int k = 0;

		switch (opt) {
		case 't':
			k = parse_ulong(optarg, 1, THREADS_MAX, &nthreads);
			break;
		case 'n':
			k = parse_ulong(optarg, 1, 100000000, &count);
			break;
		case 'r':
			k = parse_ulong(optarg, 1, RUNS_MAX, &runs);
			break;
		case 'w':
			k = parse_ulong(optarg, 0, 100000000, &warmup);
			break;
		case 's':
			k = parse_ulong(optarg, 0, 1ul << 30, &size);
			have_size = true;
			break;
		case 'T':
			tsv = true;
			break;
		case 'h':
			help();
			return 0;
		default:
			fprintf(stderr, "Try 'bench-open --help'.\n");
			return 2;
		}
		if (k < 0) {
			fprintf(stderr, "bench-open: bad value '%s' for -%c\n", optarg, opt);
			return 2;
		}
	}
	n_t = (size_t)(argc - optind);
	if (n_t == 0) {
		fprintf(stderr, "bench-open: no LABEL=PATH given. Try 'bench-open --help'.\n");
		return 2;
	}
	t = calloc(n_t, sizeof(*t));
	if (!t)
		return 1;
	for (size_t i = 0; i < n_t; i++) {
		char *arg = argv[optind + (int)i], *eq = strchr(arg, '=');

		if (!eq || eq == arg || !eq[1]) {
			fprintf(stderr, "bench-open: '%s' is not LABEL=PATH\n", arg);
			return 2;
		}
		*eq = '\0';
		t[i].label = arg;
		t[i].path = eq + 1;
		t[i].size = have_size ? (long long)size : -1;
		t[i].rates = calloc(runs, sizeof(double));
		t[i].lat_ns = calloc(runs * nthreads * count, sizeof(uint32_t));
		if (!t[i].rates || !t[i].lat_ns) {
			fprintf(stderr, "bench-open: out of memory\n");
			return 1;
		}
	}

	/* warm-up (the dentries, the daemon's caches, the CPU's frequency), then the runs */
	for (size_t i = 0; warmup && i < n_t && r >= 0; i++) {
		double ignored;

		r = run_once(&t[i], (unsigned)nthreads, warmup, NULL, &ignored);
		if (r < 0)
			fprintf(stderr, "bench-open: %s (%s): %s\n", t[i].label, t[i].path,
				strerror(-r));
	}
	for (unsigned long k = 0; k < runs && r >= 0; k++) {
		for (size_t i = 0; i < n_t && r >= 0; i++) {
			r = run_once(&t[i], (unsigned)nthreads, count, t[i].lat_ns + t[i].n_lat,
				     &t[i].rates[k]);
			if (r < 0) {
				fprintf(stderr, "bench-open: %s (%s): %s\n", t[i].label, t[i].path,
					strerror(-r));
				break;
			}
			t[i].n_lat += nthreads * count;
		}
	}
	if (r < 0)
		return 1;

	printf("%-28s %7s %7s %10s %10s %10s %9s %9s\n", "target", "bytes", "threads", "ops/s",
	       "min", "max", "p50 us", "p99 us");
	for (size_t i = 0; i < n_t; i++) {
		double med, p50, p99;

		qsort(t[i].rates, runs, sizeof(double), cmp_double);
		qsort(t[i].lat_ns, t[i].n_lat, sizeof(uint32_t), cmp_u32);
		med = runs % 2 ? t[i].rates[runs / 2] :
				 (t[i].rates[runs / 2 - 1] + t[i].rates[runs / 2]) / 2;
		p50 = quantile_us(t[i].lat_ns, t[i].n_lat, 0.50);
		p99 = quantile_us(t[i].lat_ns, t[i].n_lat, 0.99);
		printf("%-28s %7lld %7lu %10.0f %10.0f %10.0f %9.1f %9.1f\n", t[i].label, t[i].size,
		       nthreads, med, t[i].rates[0], t[i].rates[runs - 1], p50, p99);
		if (tsv)
			printf("TSV\t%s\t%lu\t%.0f\t%.1f\t%.1f\t%.0f\t%.0f\n", t[i].label, nthreads,
			       med, p50, p99, t[i].rates[0], t[i].rates[runs - 1]);
	}
	for (size_t i = 0; i < n_t; i++) {
		free(t[i].rates);
		free(t[i].lat_ns);
	}
	free(t);
	return 0;
}
