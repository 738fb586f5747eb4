/* bench-epoch.c: what the rollback guard costs, measured against a baseline of the same run.
 * Run under tests/lib/with-swtpm (a private swtpm; `make bench` does). In a temp dir on disk it
 * makes two TPM-sealed stores, one bound to its counter (the guard kept by every write) and one
 * never bound (no epoch record: kv keeps nothing), and prints:
 *   - secret writes per second (one write transaction each, 100 bytes, synchronous) in both,
 *     and their ratio: what keeping the row sum and binding it costs a write;
 *   - one epoch advance (two store transactions and one TPM NV increment) in ms, and as a
 *     multiple of one write: what vaultfsd pays at most once a minute;
 *   - the check at open (every row's MAC read and summed) with N secrets, in ms, beside the
 *     open without it.
 * A benchmark measures; it checks nothing. Test-only: never installed. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/kv.h"
#include "core/seal.h"
#include "core/store.h"
#include "core/util.h"

#define WRITES 300u
#define ADVANCES 20u
#define ROWS 10000u

static int die(const char *what, int r)
{
	fprintf(stderr, "bench-epoch: %s: %s\n", what, strerror(-r));
	exit(1);
}

static struct kv *open_kv(const struct config *c, const char *path)
{
	struct store *s = NULL;
	struct secbuf *m = NULL;
	struct kv *kv = NULL;
	int r;

	r = store_open(path, STORE_CREATE, &s);
	if (r >= 0 && seal_is_initialised(s) == 0) {
		struct secbuf *rk = NULL;

		r = seal_recovery_new(&rk);
		if (r >= 0)
			r = seal_init(s, c, rk);
		secbuf_free(rk);
	}
	if (r >= 0)
		r = seal_unseal(s, c, &m);
	if (r < 0)
		die("store", r);
	r = kv_new(s, m, &kv);
	if (r < 0)
		die("kv", r);
	return kv;
}

/* writes per second, n secrets named prefix-i */
static double writes(struct kv *kv, const char *prefix, unsigned n)
{
	struct kv_attrs a = KV_ATTRS_KEEP;
	char value[100], name[64];
	int64_t t0 = clock_ns(CLOCK_MONOTONIC);
	int r;

	a.enabled = 1, a.not_before = 0, a.expires = 0, a.content_type = "";
	memset(value, 'v', sizeof(value));
	for (unsigned i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s-%u", prefix, i);
		r = kv_secret_set(kv, "app", name, value, sizeof(value), &a, NULL);
		if (r < 0)
			die("write", r);
	}
	return n / ((double)(clock_ns(CLOCK_MONOTONIC) - t0) / 1e9);
}

int main(void)
{
	struct config *c = NULL;
	struct seal_epoch ev;
	char dir[] = "/var/tmp/vaultfs-bench-epoch.XXXXXX", a[96], b[96];
	const char *tcti = getenv("VAULTFS_TEST_TCTI");
	struct kv *guarded, *plain;
	double wg, wp, adv_ms, open_ms, check_ms;
	int64_t t0;
	int r;

	if (!tcti || !mkdtemp(dir) || config_new_default(&c) < 0)
		return fprintf(stderr, "bench-epoch: run under tests/lib/with-swtpm\n"), 2;
	free(c->tcti);
	c->tcti = strdup(tcti);
	free(c->sealer);
	c->sealer = strdup("tpm2");
	c->keyring_timeout = 0;
	snprintf(a, sizeof(a), "%s/guarded.db", dir);
	snprintf(b, sizeof(b), "%s/plain.db", dir);

	guarded = open_kv(c, a);
	r = kv_epoch_open(guarded, c, &ev);
	if (r < 0)
		die("epoch", r);
	plain = open_kv(c, b);
	if (kv_vault_create(guarded, "app", 7) < 0 || kv_vault_create(plain, "app", 7) < 0)
		die("vault", -EIO);
	(void)writes(guarded, "warm", 20);
	(void)writes(plain, "warm", 20);
	/* interleaved halves, so that the disk's moods fall on both */
	wg = writes(guarded, "a", WRITES / 2);
	wp = writes(plain, "a", WRITES / 2);
	wg = (wg + writes(guarded, "b", WRITES / 2)) / 2;
	wp = (wp + writes(plain, "b", WRITES / 2)) / 2;

	t0 = clock_ns(CLOCK_MONOTONIC);
	for (unsigned i = 0; i < ADVANCES; i++) {
		r = kv_epoch_advance_begin(guarded, c, &ev);
		if (r >= 0)
			r = kv_epoch_advance_end(guarded, c, &ev);
		if (r < 0)
			die("advance", r);
	}
	adv_ms = (double)(clock_ns(CLOCK_MONOTONIC) - t0) / 1e6 / ADVANCES;

	(void)writes(guarded, "rows", ROWS - WRITES - 20);
	kv_free(guarded);
	t0 = clock_ns(CLOCK_MONOTONIC);
	guarded = open_kv(c, a);
	open_ms = (double)(clock_ns(CLOCK_MONOTONIC) - t0) / 1e6;
	t0 = clock_ns(CLOCK_MONOTONIC);
	r = kv_epoch_open(guarded, c, &ev);
	if (r < 0)
		die("epoch at open", r);
	check_ms = (double)(clock_ns(CLOCK_MONOTONIC) - t0) / 1e6;

	printf("rollback guard (swtpm, store on %s)\n", dir);
	printf("  writes/s guarded %.0f, unguarded %.0f: ratio %.2f\n", wg, wp, wg / wp);
	printf("  one epoch advance %.1f ms = %.1f writes\n", adv_ms, adv_ms / (1000.0 / wp));
	printf("  open with %u secrets: unseal+kv %.1f ms, guard check %.1f ms (x%.2f)\n", ROWS,
	       open_ms, check_ms, (open_ms + check_ms) / open_ms);
	kv_free(guarded);
	kv_free(plain);
	config_free(c);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
		r = system(cmd);
	}
	return 0;
}
