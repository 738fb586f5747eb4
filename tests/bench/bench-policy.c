/* bench-policy.c: decisions per second of policy_check() with 10, 1 000 and 100 000 rules
 * spread over 1 000 vaults (and, to show what the per-vault index buys, 100 000 rules over
 * 100 000 vaults, and 1 000 rules that all sit in the shared list). Requests go to all 1 000
 * vaults alike; the identity knows every field, as the daemon's would. Prints a table with the
 * ratio of each case to the 10-rule case. Then the cost of identity_resolve (with a cache, as
 * vaultfsd's) of this thread per field set: what a decision needs before it runs. A benchmark,
 * not a test: it asserts nothing about time. Run by `make bench`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "policy/policy.h"

#define REQUESTS 4096u
#define RUN_SECONDS 1.0

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* n rules over `vaults` vaults, a quarter with a glob in the object name ("/v12/s3.*"), the
 * rest naming one object; shared: vault names are globs too ("/v12*"), so no index helps. */
static char *make_rules(unsigned n, unsigned vaults, bool shared, size_t *ret_len)
{
	size_t cap = (size_t)n * 96 + 256;
	char *buf = malloc(cap), *w = buf;

	if (!buf)
		abort();
	w += sprintf(w, "allow list,meta /** uid=0\n");
	w += sprintf(w, "deny read /**/master exe=/usr/bin/python3*\n");
	for (unsigned i = 2; i < n; i++) {
		unsigned v = i % vaults, o = i / vaults;
		const char *star = shared ? "*" : "";

		switch (i % 4) {
		case 0:
			w += sprintf(w, "allow read /v%u%s/s%u uid=%u\n", v, star, o, 1000 + i % 7);
			break;
		case 1:
			w += sprintf(w, "allow read,list /v%u%s/s%u.* group=%u\n", v, star, o,
				     100 + i % 5);
			break;
		case 2:
			w += sprintf(w, "allow read /v%u%s/s%u unit=svc%u.service\n", v, star, o,
				     i % 3);
			break;
		default:
			w += sprintf(w, "deny read /v%u%s/s%u exe=/usr/bin/python3*\n", v, star, o);
			break;
		}
	}
	*ret_len = (size_t)(w - buf);
	return buf;
}

struct result {
	double per_s, load_s;
	unsigned allowed;
};

static struct result run(unsigned n, unsigned vaults, bool shared)
{
	static char paths[REQUESTS][48];
	struct policy_diag d = { 0 };
	struct policy *p = NULL;
	struct identity *id = malloc(sizeof(*id));
	struct result res = { 0 };
	unsigned per_vault = n / vaults ? n / vaults : 1;
	size_t len;
	char *text = make_rules(n, vaults, shared, &len);
	double t0, t1;
	unsigned long count = 0;

	t0 = now_s();
	if (policy_parse_buffer("bench.policy", text, len, &p, &d) < 0) {
		fprintf(stderr, "bench-policy: rules did not load:\n%s", d.text ? d.text : "");
		exit(1);
	}
	res.load_s = now_s() - t0;
	free(text);

	identity_init(id);
	identity_set_uid(id, 1003);
	identity_set_gid(id, 1003);
	(void)identity_set_groups(id, (gid_t[]){ 101, 1003 }, 2);
	(void)identity_set_cgroup(id, "/system.slice/svc1.service");
	(void)identity_set_exe(id, "/usr/bin/app");
	srand(1);
	for (unsigned i = 0; i < REQUESTS; i++) /* every one of 1 000 vaults */
		snprintf(paths[i], sizeof(paths[i]), "/v%u/s%u", (unsigned)rand() % 1000,
			 (unsigned)rand() % per_vault);

	t0 = now_s();
	do {
		for (unsigned i = 0; i < REQUESTS; i++) {
			struct policy_decision dec;

			if (policy_check(p, POLICY_OP_READ, paths[i], id, 1767225600, &dec) < 0)
				abort();
			res.allowed += dec.verdict == POLICY_ALLOW;
		}
		count += REQUESTS;
		t1 = now_s();
	} while (t1 - t0 < RUN_SECONDS);
	res.per_s = (double)count / (t1 - t0);
	policy_free(p);
	free(id);
	return res;
}

/* Microseconds per identity_resolve of this thread's fields, with a cache. */
static double resolve_us(struct identity_cache *c, unsigned fields)
{
	struct identity id;
	pid_t tid = gettid();
	unsigned long count = 0;
	double t0 = now_s(), t1;

	do {
		for (unsigned i = 0; i < 1000; i++) {
			identity_init(&id);
			if (identity_resolve(c, &id, tid, fields) < 0)
				abort();
		}
		count += 1000;
		t1 = now_s();
	} while (t1 - t0 < RUN_SECONDS / 2);
	return (t1 - t0) * 1e6 / (double)count;
}

static void bench_resolve(void)
{
	static const struct {
		unsigned fields;
		const char *what;
	} sets[] = {
		{ IDENTITY_PID, "pid" },
		{ IDENTITY_CGROUP, "cgroup" },
		{ IDENTITY_EXE, "exe (statx, readlink; mountinfo polled with the liveness)" },
		{ IDENTITY_NS, "ns (stat /proc/TID/ns/mnt)" },
		{ IDENTITY_PID | IDENTITY_CGROUP | IDENTITY_EXE,
		  "pid cgroup exe (an open's record)" },
		{ IDENTITY_ALL, "all" },
	};
	struct identity_cache *c;

	if (identity_cache_new(&c) < 0)
		abort();
	printf("\n%10s  %s\n", "us/resolve", "fields");
	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
		printf("%10.2f  %s\n", resolve_us(c, sets[i].fields), sets[i].what);
	identity_cache_free(c);
}

int main(void)
{
	static const struct {
		unsigned rules, vaults;
		bool shared;
		const char *note;
	} cases[] = {
		{ 10, 1000, false, "" },
		{ 1000, 1000, false, "" },
		{ 100000, 1000, false, "100 rules in each vault" },
		{ 100000, 100000, false, "1 rule in each vault" },
		{ 1000, 1000, true, "no index: every rule shared" },
	};
	double base = 0;

	printf("%8s %8s %14s %10s %9s %9s  %s\n", "rules", "vaults", "decisions/s", "ns/dec",
	       "vs 10", "load ms", "");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct result r = run(cases[i].rules, cases[i].vaults, cases[i].shared);

		if (i == 0)
			base = r.per_s;
		printf("%8u %8u %14.0f %10.1f %8.2fx %9.1f  %s\n", cases[i].rules, cases[i].vaults,
		       r.per_s, 1e9 / r.per_s, r.per_s / base, r.load_s * 1e3, cases[i].note);
	}
	bench_resolve();
	return 0;
}
