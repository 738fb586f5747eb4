/* test-fleet-audit.c: unit tests for the central audit (core/fleet-audit.c, fleet-audit-ship.c,
 * fleet-pg-audit.c) against a real PostgreSQL 15 (tests/lib/pg-private.sh; the center's tests
 * skip when there is none) and a real journal (core/audit.c). A batch's head signed by the host
 * key and its check: a line changed, a head field or the signature replaced each fail; a
 * reader's walk over a host's batches: a batch dropped leaves a gap, batches swapped do not
 * link, a host whose key was replaced in SQL does not count. The shipper: a journal shipped in
 * batches (full ones at once, a partial one when due) that verify as one chain; a restart goes
 * on where the center is; rotation followed; a center that lost its last batches, or changed
 * one, is reported and given them again from the journal; a line changed, a batch dropped,
 * batches swapped, a head replaced in SQL: each found by the reader. While connected, the
 * shipper checks the center again: its last batches lost, a batch gone in the middle or at the
 * start, several gone at once: each given back from the journal with no reconnection and a
 * chain that verifies whole; a hole the journal no longer holds is said and left. A conninfo's
 * facts for doctor's TLS check. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/audit.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/fleet-audit-ship.h"
#include "core/fleet-audit.h"
#include "core/fleet-pg-conninfo.h"
#include "core/fleet-pg.h"
#include "core/fleet.h"
#include "core/util.h"
#include "tests/unit/testlib.h"

struct env {
	char *dir;
	char conninfo[512];
	bool have_pg;
	struct fleet_key *a, *b; /* soft a (the anchor), soft b */
	char anchor[FLEET_FPR_LEN];
	uint8_t akey[CRYPTO_KEY_LEN]; /* the journal's audit key */
	unsigned journals;
	/* what the shipper reported */
	unsigned reports;
	int last_err;
	char last_what[256];
	char all_what[2048]; /* every report since it was emptied, one a line */
};

static struct env E;

static int setup(void **state)
{
	const uint8_t *spki;
	size_t n;

	(void)state;
	if (test_tmpdir(&E.dir) < 0 || chmod(E.dir, 0711) < 0)
		return -1;
	E.have_pg = test_pg(E.dir, "start", E.conninfo, sizeof(E.conninfo)) == 0 && E.conninfo[0];
	if (!E.have_pg)
		fprintf(stderr, "test-fleet-audit: no PostgreSQL 15: the center's tests skip\n");
	if (fleet_key_create(NULL, &E.a) < 0 || fleet_key_create(NULL, &E.b) < 0)
		return -1;
	spki = fleet_key_spki(E.a, &n);
	test_random(E.akey, sizeof(E.akey));
	return fleet_fingerprint(spki, n, E.anchor) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	if (E.have_pg)
		test_pg(E.dir, "stop", NULL, 0);
	fleet_key_free(E.a);
	fleet_key_free(E.b);
	test_rmtree(E.dir);
	free(E.dir);
	return 0;
}

static void host_of(const struct fleet_key *k, const char *name, struct fleet_host *h)
{
	size_t n;
	const uint8_t *spki = fleet_key_spki(k, &n);

	memset(h, 0, sizeof(*h));
	str_copy(h->name, sizeof(h->name), name);
	h->kind = fleet_key_kind(k);
	assert_true(n <= sizeof(h->spki));
	memcpy(h->spki, spki, n);
	h->spki_len = n;
}

/* hosts a (the anchor, self-approved) and b (approved by a), in memory */
static void two_hosts(struct fleet_host h[2])
{
	host_of(E.a, "a", &h[0]);
	assert_int_equal(fleet_host_approve(E.a, "a", &h[0]), 0);
	host_of(E.b, "b", &h[1]);
	assert_int_equal(fleet_host_approve(E.a, "a", &h[1]), 0);
}

/* --- journals --- */

/* A new journal of its own in the temp dir (rotating past rotate bytes; 0 never). */
static struct audit *journal(uint64_t rotate, char **ret_path)
{
	struct audit_options o = { .sync = AUDIT_SYNC_NONE, .rotate_size = rotate };
	struct audit *a = NULL;
	char *path;

	assert_true(asprintf(&path, "%s/audit%u.jsonl", E.dir, E.journals++) > 0);
	assert_int_equal(audit_open(path, &o, E.akey, &a), 0);
	*ret_path = path;
	return a;
}

/* n reads of app/db by uid 1000 */
static void reads(struct audit *a, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct audit_record rec = AUDIT_RECORD_INIT;

		rec.event = "open";
		rec.decision = AUDIT_ALLOW;
		rec.vault = "app";
		rec.object = "db";
		rec.version = 1;
		rec.path = "/app/db";
		rec.uid = 1000;
		rec.gid = 1000;
		rec.pid = 4242;
		assert_int_equal(audit_append(a, &rec, NULL), 0);
	}
}

/* The journal's records as one buffer of lines (all its files, oldest first) */
static void journal_lines(const char *path, struct buf *out, uint64_t *ret_n)
{
	char **list = NULL;
	size_t n;

	*ret_n = 0;
	assert_int_equal(audit_list_files(path, &list, &n), 0);
	for (size_t i = 0; i < n; i++) {
		struct audit_reader *rd = NULL;
		const char *line;
		size_t len;

		assert_int_equal(audit_reader_open(list[i], &rd), 0);
		while (audit_reader_next(rd, &line, &len) > 0) {
			buf_put(out, line, len);
			buf_putc(out, '\n');
			(*ret_n)++;
		}
		audit_reader_free(rd);
	}
	audit_paths_free(list);
	assert_int_equal(out->err, 0);
}

/* --- the center --- */

static struct fleet_pg *center(void)
{
	struct fleet_pg *p = NULL;
	struct fleet_host h[2];

	if (!E.have_pg)
		skip();
	assert_int_equal(fleet_pg_connect(E.conninfo, &p), 0);
	assert_int_equal(fleet_pg_migrate(p), 0);
	assert_int_equal(fleet_pg_audit_migrate(p), 0);
	assert_int_equal(fleet_pg_audit_migrate(p), 0); /* idempotent */
	assert_int_equal(fleet_pg_exec(p, "TRUNCATE vaultfs.audit_batches, vaultfs.hosts CASCADE"),
			 0);
	two_hosts(h);
	assert_int_equal(fleet_pg_host_insert(p, &h[0]), 0);
	assert_int_equal(fleet_pg_host_insert(p, &h[1]), 0);
	return p;
}

static void reported(void *ud, int err, const char *what)
{
	(void)ud;
	E.reports++;
	E.last_err = err;
	str_copy(E.last_what, sizeof(E.last_what), what);
	if (strlen(E.all_what) + strlen(what) + 2 < sizeof(E.all_what)) {
		strcat(E.all_what, what);
		strcat(E.all_what, "\n");
	}
}

/* A shipper of path as host b (a copy of b's key) */
static struct fleet_audit_ship *shipper(const char *path)
{
	static const uint8_t seal[CRYPTO_KEY_LEN];
	struct fleet_audit_ship *s = NULL;
	struct fleet_key *k = NULL;
	_cleanup_free_ uint8_t *saved = NULL;
	size_t n;

	assert_int_equal(fleet_key_save(E.b, seal, &saved, &n), 0);
	assert_int_equal(fleet_key_load(saved, n, seal, NULL, &k), 0);
	assert_int_equal(fleet_audit_ship_new(E.conninfo, path, "b", k, reported, NULL, &s), 0);
	return s;
}

/* The center's view of host b: its batches checked against its hosts table. Returns how many
 * batches are not FLEET_AUDIT_OK; states into st (n of them) when not NULL. */
static unsigned check_b(struct fleet_pg *p, enum fleet_audit_state *st, size_t *ret_n,
			int64_t *ret_last)
{
	struct fleet_audit_batch *b = NULL;
	struct fleet_host *hosts = NULL;
	enum fleet_audit_state *s;
	size_t n, nh;
	unsigned bad = 0;

	assert_int_equal(fleet_pg_hosts(p, &hosts, &nh), 0);
	assert_int_equal(fleet_pg_audit_batches(p, "b", &b, &n), 0);
	s = calloc(n + 1, sizeof(*s));
	assert_non_null(s);
	(void)fleet_audit_verify_host(hosts, nh, E.anchor, "b", b, n, s);
	for (size_t i = 0; i < n; i++) {
		bad += s[i] != FLEET_AUDIT_OK;
		if (st)
			st[i] = s[i];
	}
	if (ret_n)
		*ret_n = n;
	if (ret_last)
		*ret_last = n ? b[n - 1].last_seq : 0;
	free(s);
	free(hosts);
	fleet_audit_batches_free(b, n);
	return bad;
}

/* --- tests --- */

/* A batch of three lines of a journal, signed by b */
static void make_batch(struct fleet_audit_batch *bt, const char *path, int64_t first)
{
	struct buf lines = BUF_INIT(0);
	uint64_t n;

	journal_lines(path, &lines, &n);
	memset(bt, 0, sizeof(*bt));
	str_copy(bt->host, sizeof(bt->host), "b");
	bt->first_seq = first;
	bt->last_seq = first + (int64_t)n - 1;
	bt->lines = (uint8_t *)lines.p;
	bt->lines_len = lines.len;
	assert_int_equal(fleet_audit_sign(E.b, bt), 0);
}

static void test_batch(void **state)
{
	_cleanup_free_ char *path = NULL;
	struct audit *a = journal(0, &path);
	struct fleet_audit_batch bt, copy;
	struct fleet_host h[2];
	size_t n;
	const uint8_t *spki = fleet_key_spki(E.b, &n);
	size_t other_n;
	const uint8_t *other = fleet_key_spki(E.a, &other_n);
	enum fleet_audit_state st[3];
	uint8_t mac[CRYPTO_MAC_LEN], h1[FLEET_AUDIT_HASH_LEN];
	char *p;

	(void)state;
	reads(a, 3);
	audit_free(a);
	make_batch(&bt, path, 1);
	assert_int_equal(bt.last_seq, 3);
	assert_int_equal(fleet_audit_batch_verify(spki, n, &bt, NULL, mac), 0);
	/* another host's key: no */
	assert_int_equal(fleet_audit_batch_verify(other, other_n, &bt, NULL, NULL), -EBADMSG);

	/* a line changed (uid 1000 -> 1001) */
	copy = bt;
	copy.lines = malloc(bt.lines_len);
	memcpy(copy.lines, bt.lines, bt.lines_len);
	p = memmem(copy.lines, copy.lines_len, "\"uid\":1000", 10);
	assert_non_null(p);
	p[9] = '1';
	assert_int_equal(fleet_audit_batch_verify(spki, n, &copy, NULL, NULL), -EBADMSG);
	/* a line's mac changed, even signed again by its host: the journal's own chain breaks
	 * (the next line's prev) */
	memcpy(copy.lines, bt.lines, bt.lines_len);
	p = memmem(copy.lines, copy.lines_len, "\"mac\":\"", 7);
	assert_non_null(p);
	p[7] = p[7] == '0' ? '1' : '0';
	assert_int_equal(fleet_audit_sign(E.b, &copy), 0);
	assert_int_equal(fleet_audit_batch_verify(spki, n, &copy, NULL, NULL), -EBADMSG);
	free(copy.lines);

	/* head fields replaced: seqs, host, prev, signature */
	copy = bt;
	copy.first_seq = 2;
	copy.last_seq = 4;
	assert_int_equal(fleet_audit_batch_verify(spki, n, &copy, NULL, NULL), -EBADMSG);
	copy = bt;
	str_copy(copy.host, sizeof(copy.host), "a");
	assert_int_equal(fleet_audit_batch_verify(spki, n, &copy, NULL, NULL), -EBADMSG);
	copy = bt;
	copy.prev[0] ^= 1;
	assert_int_equal(fleet_audit_batch_verify(spki, n, &copy, NULL, NULL), -EBADMSG);
	copy = bt;
	copy.sig[10] ^= 1;
	assert_int_equal(fleet_audit_batch_verify(spki, n, &copy, NULL, NULL), -EBADMSG);
	/* a wrong mac before the first line */
	memset(mac, 0x55, sizeof(mac));
	assert_int_equal(fleet_audit_batch_verify(spki, n, &bt, mac, NULL), -EBADMSG);

	/* the walk: a host whose key was replaced does not count; an unknown host neither */
	two_hosts(h);
	assert_int_equal(fleet_audit_verify_host(h, 2, E.anchor, "b", &bt, 1, st), 0);
	assert_int_equal(st[0], FLEET_AUDIT_OK);
	memcpy(h[1].spki, other, other_n);
	h[1].spki_len = other_n;
	assert_int_equal(fleet_audit_verify_host(h, 2, E.anchor, "b", &bt, 1, st), -ENOKEY);
	assert_int_equal(st[0], FLEET_AUDIT_UNTRUSTED);
	assert_int_equal(fleet_audit_verify_host(h, 2, E.anchor, "c", &bt, 1, st), -ENOENT);
	assert_int_equal(st[0], FLEET_AUDIT_UNTRUSTED);
	/* a first batch that names a batch before it: the host's beginning is missing */
	two_hosts(h);
	assert_int_equal(fleet_audit_head_hash(&bt, h1), 0);
	copy = bt;
	memcpy(copy.prev, h1, sizeof(h1));
	assert_int_equal(fleet_audit_sign(E.b, &copy), 0);
	assert_int_equal(fleet_audit_verify_host(h, 2, E.anchor, "b", &copy, 1, st), 0);
	assert_int_equal(st[0], FLEET_AUDIT_GAP);
	free(bt.lines);
}

static void test_ship(void **state)
{
	_cleanup_free_ char *path = NULL;
	struct fleet_pg *p = center();
	struct audit *a = journal(0, &path);
	struct fleet_audit_ship *s = shipper(path);
	enum fleet_audit_state st[8];
	struct buf local = BUF_INIT(0), central = BUF_INIT(0);
	struct fleet_audit_batch *b = NULL;
	uint64_t n_local;
	size_t n;
	int64_t last;

	(void)state;
	E.reports = 0;
	reads(a, 10);
	/* a partial batch waits until it is due */
	assert_int_equal(fleet_audit_ship_step(s, false), 0);
	assert_int_equal(check_b(p, NULL, &n, NULL), 0);
	assert_int_equal(n, 0);
	assert_int_equal(fleet_audit_ship_step(s, true), 10);
	assert_int_equal(fleet_audit_ship_step(s, true), 0);
	/* a full batch goes at once */
	reads(a, FLEET_AUDIT_BATCH_RECORDS + 5);
	assert_int_equal(fleet_audit_ship_step(s, false), FLEET_AUDIT_BATCH_RECORDS);
	assert_int_equal(fleet_audit_ship_step(s, true), 5);
	assert_int_equal(check_b(p, st, &n, &last), 0);
	assert_int_equal(n, 3);
	assert_int_equal(last, 10 + FLEET_AUDIT_BATCH_RECORDS + 5);
	fleet_audit_ship_free(s);

	/* a restart goes on where the center is, linked to its last batch */
	reads(a, 4);
	s = shipper(path);
	assert_int_equal(fleet_audit_ship_step(s, true), 4);
	assert_int_equal(check_b(p, st, &n, &last), 0);
	assert_int_equal(n, 4);
	assert_int_equal(last, 10 + FLEET_AUDIT_BATCH_RECORDS + 5 + 4);
	assert_int_equal(E.reports, 0);

	/* the center holds the journal, byte for byte */
	journal_lines(path, &local, &n_local);
	assert_int_equal(fleet_pg_audit_batches(p, "b", &b, &n), 0);
	for (size_t i = 0; i < n; i++)
		buf_put(&central, b[i].lines, b[i].lines_len);
	fleet_audit_batches_free(b, n);
	assert_int_equal(n_local, (uint64_t)last);
	assert_int_equal(central.len, local.len);
	assert_memory_equal(central.p, local.p, local.len);
	buf_done(&local);
	buf_done(&central);
	fleet_audit_ship_free(s);
	audit_free(a);
	fleet_pg_free(p);
}

static void test_rotation(void **state)
{
	_cleanup_free_ char *path = NULL;
	struct fleet_pg *p = center();
	struct audit *a = journal(4096, &path);
	struct fleet_audit_ship *s = shipper(path);
	enum fleet_audit_state st[64];
	char **list = NULL;
	size_t n, files;
	int64_t last;
	int got;

	(void)state;
	E.reports = 0;
	reads(a, 20);
	got = fleet_audit_ship_step(s, true);
	assert_true(got >= 20);
	reads(a, 60); /* rotates several times between two rounds */
	got += fleet_audit_ship_step(s, true);
	reads(a, 7);
	got += fleet_audit_ship_step(s, true);
	assert_int_equal(audit_list_files(path, &list, &files), 0);
	audit_paths_free(list);
	assert_true(files > 3);
	assert_int_equal(check_b(p, st, &n, &last), 0);
	/* every record: the 87 reads and the rotate records between them */
	assert_int_equal(got, last);
	assert_true(last > 87);
	assert_int_equal(E.reports, 0);
	fleet_audit_ship_free(s);
	audit_free(a);
	fleet_pg_free(p);
}

/* A journal of 4 batches of 5 records at the center (first seqs 1, 6, 11, 16) */
static struct fleet_audit_ship *four_batches(struct fleet_pg **ret_p, struct audit **ret_a,
					     char **ret_path)
{
	struct fleet_audit_ship *s;

	*ret_p = center();
	*ret_a = journal(0, ret_path);
	s = shipper(*ret_path);
	for (int i = 0; i < 4; i++) {
		reads(*ret_a, 5);
		assert_int_equal(fleet_audit_ship_step(s, true), 5);
	}
	assert_int_equal(check_b(*ret_p, NULL, NULL, NULL), 0);
	E.reports = 0;
	return s;
}

static void test_tamper(void **state)
{
	_cleanup_free_ char *path = NULL;
	struct fleet_audit_ship *s;
	struct fleet_pg *p;
	struct audit *a;
	enum fleet_audit_state st[8];
	size_t n;

	(void)state;
	s = four_batches(&p, &a, &path);
	/* a line changed: that batch is withheld, the next one found after a gap */
	assert_int_equal(fleet_pg_exec(p, "UPDATE vaultfs.audit_batches SET lines = "
					  "overlay(lines placing '7'::bytea from 50 for 1) "
					  "WHERE host = 'b' AND first_seq = 6"),
			 0);
	assert_int_equal(check_b(p, st, &n, NULL), 2);
	assert_int_equal(st[0], FLEET_AUDIT_OK);
	assert_int_equal(st[1], FLEET_AUDIT_BAD);
	assert_int_equal(st[2], FLEET_AUDIT_GAP);
	assert_int_equal(st[3], FLEET_AUDIT_OK);
	fleet_audit_ship_free(s);
	audit_free(a);
	fleet_pg_free(p);
	free(path);

	/* a batch dropped */
	s = four_batches(&p, &a, &path);
	assert_int_equal(fleet_pg_exec(p, "DELETE FROM vaultfs.audit_batches "
					  "WHERE host = 'b' AND first_seq = 11"),
			 0);
	assert_int_equal(check_b(p, st, &n, NULL), 1);
	assert_int_equal(n, 3);
	assert_int_equal(st[2], FLEET_AUDIT_GAP);
	fleet_audit_ship_free(s);
	audit_free(a);
	fleet_pg_free(p);
	free(path);

	/* two batches swapped (their lines and heads moved to each other's rows) */
	s = four_batches(&p, &a, &path);
	assert_int_equal(fleet_pg_exec(p, "UPDATE vaultfs.audit_batches x SET lines = y.lines, "
					  "sig = y.sig, prev = y.prev FROM vaultfs.audit_batches y "
					  "WHERE x.host = 'b' AND y.host = 'b' AND "
					  "((x.first_seq = 6 AND y.first_seq = 11) OR "
					  "(x.first_seq = 11 AND y.first_seq = 6))"),
			 0);
	assert_int_equal(check_b(p, st, &n, NULL), 3);
	assert_int_equal(st[1], FLEET_AUDIT_BAD);
	assert_int_equal(st[2], FLEET_AUDIT_BAD);
	assert_int_equal(st[3], FLEET_AUDIT_GAP);
	fleet_audit_ship_free(s);
	audit_free(a);
	fleet_pg_free(p);
	free(path);

	/* a head replaced: another batch's signature, or its prev */
	s = four_batches(&p, &a, &path);
	assert_int_equal(fleet_pg_exec(p, "UPDATE vaultfs.audit_batches SET sig = (SELECT sig "
					  "FROM vaultfs.audit_batches WHERE host = 'b' AND "
					  "first_seq = 1) WHERE host = 'b' AND first_seq = 16"),
			 0);
	assert_int_equal(check_b(p, st, &n, NULL), 1);
	assert_int_equal(st[3], FLEET_AUDIT_BAD);
	assert_int_equal(fleet_pg_exec(p, "UPDATE vaultfs.audit_batches SET prev = "
					  "decode(repeat('00', 32), 'hex') WHERE host = 'b' AND "
					  "first_seq = 6"),
			 0);
	assert_int_equal(check_b(p, st, &n, NULL), 3);
	assert_int_equal(st[1], FLEET_AUDIT_BAD);

	/* the host's key replaced in the hosts table: none of its batches count */
	assert_int_equal(fleet_pg_exec(p, "UPDATE vaultfs.hosts SET spki = (SELECT spki FROM "
					  "vaultfs.hosts WHERE name = 'a') WHERE name = 'b'"),
			 0);
	assert_int_equal(check_b(p, st, &n, NULL), 4);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(st[i], FLEET_AUDIT_UNTRUSTED);
	fleet_audit_ship_free(s);
	audit_free(a);
	fleet_pg_free(p);
}

static void test_reorder(void **state)
{
	_cleanup_free_ char *path = NULL;
	struct fleet_audit_ship *s;
	struct fleet_audit_batch *b = NULL;
	struct fleet_host h[2];
	struct fleet_pg *p;
	struct audit *a;
	enum fleet_audit_state st[4];
	size_t n;

	(void)state;
	/* batches reordered as a reader gets them: each verifies alone, none follows */
	s = four_batches(&p, &a, &path);
	assert_int_equal(fleet_pg_audit_batches(p, "b", &b, &n), 0);
	assert_int_equal(n, 4);
	struct fleet_audit_batch t = b[1];
	b[1] = b[2];
	b[2] = t;
	two_hosts(h);
	assert_int_equal(fleet_audit_verify_host(h, 2, E.anchor, "b", b, n, st), 0);
	assert_int_equal(st[0], FLEET_AUDIT_OK);
	assert_int_equal(st[1], FLEET_AUDIT_GAP);
	assert_int_not_equal(st[2], FLEET_AUDIT_OK);
	assert_int_not_equal(st[3], FLEET_AUDIT_OK);
	fleet_audit_batches_free(b, n);
	fleet_audit_ship_free(s);
	audit_free(a);
	fleet_pg_free(p);
}

/* b removed with a cut at its second batch (as `fleet remove` makes it): its batches after the
 * cut are withheld, the batch at the cut must be the one named; a removal with no cut (v1)
 * leaves them checked as before; a revocation cleared leaves none. */
static void test_removed_cut(void **state)
{
	_cleanup_free_ char *path = NULL;
	struct fleet_audit_ship *s;
	struct fleet_audit_batch *b = NULL;
	struct fleet_host h[2];
	struct fleet_pg *p;
	struct audit *a;
	enum fleet_audit_state st[4];
	uint8_t head[FLEET_AUDIT_HASH_LEN], other[FLEET_AUDIT_HASH_LEN];
	size_t n;

	(void)state;
	s = four_batches(&p, &a, &path);
	assert_int_equal(fleet_pg_audit_batches(p, "b", &b, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(fleet_audit_head_hash(&b[1], head), 0);
	assert_int_equal(fleet_audit_head_hash(&b[0], other), 0);
	two_hosts(h);
	assert_int_equal(fleet_host_revoke_at(E.a, "a", &h[1], b[1].last_seq, head), 0);
	assert_int_equal(fleet_audit_verify_host(h, 2, E.anchor, "b", b, n, st), -EKEYREVOKED);
	assert_int_equal(st[0], FLEET_AUDIT_OK);
	assert_int_equal(st[1], FLEET_AUDIT_OK);
	assert_int_equal(st[2], FLEET_AUDIT_UNTRUSTED);
	assert_int_equal(st[3], FLEET_AUDIT_UNTRUSTED);
	/* the batch at the cut is not the one the removal named (a history made again) */
	assert_int_equal(fleet_host_revoke_at(E.a, "a", &h[1], b[1].last_seq, other), 0);
	assert_int_equal(fleet_audit_verify_host(h, 2, E.anchor, "b", b, n, st), -EKEYREVOKED);
	assert_int_equal(st[0], FLEET_AUDIT_OK);
	assert_int_equal(st[1], FLEET_AUDIT_BAD);
	assert_int_equal(st[2], FLEET_AUDIT_UNTRUSTED);
	/* the cut changed in the center (it is signed): no cut, and no removal */
	h[1].revoked_sig[h[1].revoked_sig_len - 40] ^= 1;
	assert_int_equal(fleet_audit_verify_host(h, 2, E.anchor, "b", b, n, st), 0);
	/* removed with no cut (v1): checked as before */
	assert_int_equal(fleet_host_revoke(E.a, "a", &h[1]), 0);
	assert_int_equal(fleet_audit_verify_host(h, 2, E.anchor, "b", b, n, st), -EKEYREVOKED);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(st[i], FLEET_AUDIT_OK);
	fleet_audit_batches_free(b, n);
	fleet_audit_ship_free(s);
	audit_free(a);
	fleet_pg_free(p);
}

static void test_center_lost(void **state)
{
	_cleanup_free_ char *path = NULL, *other = NULL;
	struct fleet_audit_ship *s;
	struct fleet_pg *p;
	struct audit *a;
	enum fleet_audit_state st[8];
	size_t n;
	int64_t last;

	(void)state;
	/* the center rolled back its last two batches: the shipper says so on its next
	 * connection and ships them again from the journal */
	s = four_batches(&p, &a, &path);
	assert_int_equal(fleet_pg_exec(p, "DELETE FROM vaultfs.audit_batches "
					  "WHERE host = 'b' AND first_seq >= 11"),
			 0);
	assert_int_equal(fleet_pg_exec(p, "SELECT pg_terminate_backend(pid) FROM "
					  "pg_stat_activity WHERE pid <> pg_backend_pid() AND "
					  "datname = current_database()"),
			 0);
	reads(a, 2);
	assert_int_equal(fleet_audit_ship_step(s, true), -EHOSTDOWN); /* its connection cut */
	assert_int_equal(fleet_audit_ship_step(s, true), 12);
	assert_int_equal(E.reports, 1);
	assert_int_equal(E.last_err, -ESTALE);
	assert_non_null(strstr(E.last_what, "lost"));
	assert_int_equal(check_b(p, st, &n, &last), 0);
	assert_int_equal(last, 22);
	fleet_audit_ship_free(s);

	/* its last batch changed: found when a shipper starts, shipped again */
	E.reports = 0;
	assert_int_equal(fleet_pg_exec(p, "UPDATE vaultfs.audit_batches SET lines = "
					  "overlay(lines placing '7'::bytea from 50 for 1) "
					  "WHERE host = 'b' AND first_seq = 11"),
			 0);
	assert_int_equal(check_b(p, st, &n, NULL), 1);
	s = shipper(path);
	assert_int_equal(fleet_audit_ship_step(s, true), 12);
	assert_int_equal(E.reports, 1);
	assert_int_equal(E.last_err, -EBADMSG);
	assert_int_equal(check_b(p, st, &n, &last), 0);
	assert_int_equal(last, 22);

	/* a journal that holds less than the center (another one): nothing is shipped over it */
	fleet_audit_ship_free(s);
	audit_free(a);
	a = journal(0, &other);
	s = shipper(other);
	reads(a, 3);
	E.reports = 0;
	assert_int_equal(fleet_audit_ship_step(s, true), -ESTALE);
	assert_int_equal(E.reports, 1);
	assert_non_null(strstr(E.last_what, "past the end of its journal"));
	assert_int_equal(check_b(p, st, &n, &last), 0);
	assert_int_equal(last, 22);
	fleet_audit_ship_free(s);
	audit_free(a);
	fleet_pg_free(p);
}

static void test_catch_up(void **state)
{
	_cleanup_free_ char *path = NULL;
	struct fleet_pg *p = center();
	struct audit *a = journal(0, &path);
	struct fleet_audit_ship *s = shipper(path);
	unsigned total = 9 * FLEET_AUDIT_BATCH_RECORDS + 3;
	size_t n;
	int64_t last;

	(void)state;
	/* far behind (the center was away): full batches, a few a round, then the rest */
	reads(a, total);
	assert_int_equal(fleet_audit_ship_step(s, false), 8 * FLEET_AUDIT_BATCH_RECORDS);
	assert_int_equal(fleet_audit_ship_step(s, false), FLEET_AUDIT_BATCH_RECORDS);
	assert_int_equal(fleet_audit_ship_step(s, false), 0);
	assert_int_equal(fleet_audit_ship_step(s, true), 3);
	assert_int_equal(check_b(p, NULL, &n, &last), 0);
	assert_int_equal(n, 10);
	assert_int_equal(last, total);
	fleet_audit_ship_free(s);
	audit_free(a);
	fleet_pg_free(p);
}

static void test_journal_gone(void **state)
{
	_cleanup_free_ char *path = NULL;
	struct fleet_pg *p = center();
	struct audit *a = journal(4096, &path);
	struct fleet_audit_ship *s = shipper(path);
	char **list = NULL;
	size_t n, files;

	(void)state;
	reads(a, 30); /* one batch over several files */
	assert_true(fleet_audit_ship_step(s, true) >= 30);
	fleet_audit_ship_free(s);
	/* the rotated files removed, and the center's batch changed: it cannot be shipped again
	 * from the journal, so it is kept (and said) */
	assert_int_equal(audit_list_files(path, &list, &files), 0);
	assert_true(files > 1);
	for (size_t i = 0; i + 1 < files; i++)
		assert_int_equal(unlink(list[i]), 0);
	audit_paths_free(list);
	assert_int_equal(fleet_pg_exec(p, "UPDATE vaultfs.audit_batches SET lines = "
					  "overlay(lines placing '7'::bytea from 50 for 1) "
					  "WHERE host = 'b'"),
			 0);
	E.reports = 0;
	s = shipper(path);
	assert_int_equal(fleet_audit_ship_step(s, true), -EBADMSG);
	assert_int_equal(E.reports, 1);
	assert_non_null(strstr(E.last_what, "kept: this host's journal no longer holds"));
	assert_int_equal(check_b(p, NULL, &n, NULL), 1);
	assert_int_equal(n, 1);
	fleet_audit_ship_free(s);
	audit_free(a);
	fleet_pg_free(p);
}

/* b's batches' seqs at the center, "1-5,6-10" */
static void ranges_b(struct fleet_pg *p, char *out, size_t size)
{
	_cleanup_free_ int64_t *rg = NULL;
	size_t n = 0, len = 0;

	out[0] = '\0';
	assert_int_equal(fleet_pg_audit_ranges(p, "b", &rg, &n), 0);
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(out + len, size - len, "%s%lld-%lld", i ? "," : "",
					(long long)rg[2 * i], (long long)rg[2 * i + 1]);
}

static void test_recheck(void **state)
{
	_cleanup_free_ char *path = NULL;
	struct fleet_audit_batch *b = NULL;
	struct fleet_audit_head h;
	struct fleet_audit_ship *s;
	struct fleet_pg *p;
	struct audit *a;
	uint8_t h1[FLEET_AUDIT_HASH_LEN], h2[FLEET_AUDIT_HASH_LEN];
	char rg[256];
	size_t n;
	int64_t last;

	(void)state;
	s = four_batches(&p, &a, &path);
	fleet_audit_ship_set_check_ms(s, 0); /* at every step, not every 30 s */
	/* the head the center hashed is the head */
	assert_int_equal(fleet_pg_audit_head(p, "b", 0, &h), 0);
	assert_int_equal(h.first_seq, 16);
	assert_int_equal(fleet_audit_head_hash_of("b", &h, h1), 0);
	assert_int_equal(fleet_pg_audit_batches(p, "b", &b, &n), 0);
	assert_int_equal(fleet_audit_head_hash(&b[3], h2), 0);
	assert_memory_equal(h1, h2, sizeof(h1));
	fleet_audit_batches_free(b, n);
	assert_int_equal(fleet_pg_audit_head(p, "b", 7, &h), -ENOENT);

	/* the last two batches lost while connected: found at the next step, shipped again */
	assert_int_equal(fleet_pg_exec(p, "DELETE FROM vaultfs.audit_batches "
					  "WHERE host = 'b' AND first_seq >= 11"),
			 0);
	reads(a, 2);
	assert_int_equal(fleet_audit_ship_step(s, true), 12);
	assert_int_equal(E.reports, 1);
	assert_non_null(strstr(E.last_what, "lost"));
	assert_int_equal(check_b(p, NULL, NULL, &last), 0);
	assert_int_equal(last, 22);
	ranges_b(p, rg, sizeof(rg));
	assert_string_equal(rg, "1-5,6-10,11-22");

	/* the last batch changed while connected: replaced */
	E.reports = 0;
	assert_int_equal(fleet_pg_exec(p, "UPDATE vaultfs.audit_batches SET lines = "
					  "overlay(lines placing '7'::bytea from 50 for 1) "
					  "WHERE host = 'b' AND first_seq = 11"),
			 0);
	assert_int_equal(fleet_audit_ship_step(s, true), 12);
	assert_int_equal(E.reports, 2); /* it does not verify; then: the center lost 11..22 */
	assert_int_equal(E.last_err, -ESTALE);
	assert_int_equal(check_b(p, NULL, NULL, &last), 0);
	assert_int_equal(last, 22);

	/* a batch gone in the middle: filled with the same head, the chain whole */
	E.reports = 0;
	assert_int_equal(fleet_pg_exec(p, "DELETE FROM vaultfs.audit_batches "
					  "WHERE host = 'b' AND first_seq = 6"),
			 0);
	assert_int_equal(check_b(p, NULL, NULL, NULL), 1);
	assert_int_equal(fleet_audit_ship_step(s, true), 5);
	assert_int_equal(E.reports, 1);
	assert_int_equal(E.last_err, -ESTALE);
	assert_non_null(strstr(E.last_what, "of seq 6..10: filled again from the journal"));
	assert_int_equal(check_b(p, NULL, NULL, NULL), 0);
	ranges_b(p, rg, sizeof(rg));
	assert_string_equal(rg, "1-5,6-10,11-22");
	assert_int_equal(fleet_audit_ship_step(s, true), 0); /* nothing more */

	/* the first batch gone: filled from seq 1 with the zero prev */
	E.reports = 0;
	assert_int_equal(fleet_pg_exec(p, "DELETE FROM vaultfs.audit_batches "
					  "WHERE host = 'b' AND first_seq = 1"),
			 0);
	assert_int_equal(fleet_audit_ship_step(s, true), 5);
	assert_non_null(strstr(E.last_what, "before seq 6: filled again from the journal"));
	assert_int_equal(check_b(p, NULL, NULL, NULL), 0);

	/* two batches gone at once (cut where the shipper cannot know): the batches from the
	 * hole on shipped again as a new chain */
	E.reports = 0;
	E.all_what[0] = '\0';
	assert_int_equal(fleet_pg_exec(p, "DELETE FROM vaultfs.audit_batches "
					  "WHERE host = 'b' AND first_seq IN (1, 6)"),
			 0);
	assert_int_equal(fleet_audit_ship_step(s, true), 22);
	assert_non_null(strstr(E.all_what, "records before seq 11: shipping them and every batch "
					   "after them again from the journal\n"));
	assert_int_equal(check_b(p, NULL, NULL, &last), 0);
	assert_int_equal(last, 22);
	ranges_b(p, rg, sizeof(rg));
	assert_string_equal(rg, "1-22");
	fleet_audit_ship_free(s);
	audit_free(a);
	fleet_pg_free(p);
}

static void test_hole_gone(void **state)
{
	_cleanup_free_ char *path = NULL;
	struct fleet_pg *p = center();
	struct audit *a = journal(4096, &path);
	struct fleet_audit_ship *s = shipper(path);
	char **list = NULL;
	_cleanup_free_ int64_t *rg = NULL;
	size_t files, n;
	int64_t oldest = 0;
	char sql[256], want[128];

	(void)state;
	fleet_audit_ship_set_check_ms(s, 0);
	for (int i = 0; i < 3; i++) { /* three batches (with the rotations' own records) */
		reads(a, 20);
		assert_true(fleet_audit_ship_step(s, true) >= 20);
	}
	assert_int_equal(fleet_pg_audit_ranges(p, "b", &rg, &n), 0);
	assert_int_equal(n, 3);
	/* the rotated files removed: the live one starts past the second batch */
	assert_int_equal(audit_list_files(path, &list, &files), 0);
	assert_true(files > 1);
	for (size_t i = 0; i + 1 < files; i++)
		assert_int_equal(unlink(list[i]), 0);
	audit_paths_free(list);
	{
		struct audit_reader *rd = NULL;
		struct audit_entry e;
		const char *line;
		size_t len;

		assert_int_equal(audit_reader_open(path, &rd), 0);
		assert_int_equal(audit_reader_next(rd, &line, &len), 1);
		assert_int_equal(audit_parse_line(line, len, &e), 0);
		oldest = (int64_t)e.seq;
		audit_entry_done(&e);
		audit_reader_free(rd);
	}
	assert_true(oldest > rg[3]);
	/* the middle batch gone: said, left as it is */
	E.reports = 0;
	snprintf(sql, sizeof(sql),
		 "DELETE FROM vaultfs.audit_batches WHERE host = 'b' AND first_seq = %lld",
		 (long long)rg[2]);
	assert_int_equal(fleet_pg_exec(p, sql), 0);
	snprintf(want, sizeof(want), "of seq %lld..%lld; this journal no longer holds them",
		 (long long)rg[2], (long long)rg[3]);
	assert_int_equal(fleet_audit_ship_step(s, true), 0);
	assert_int_equal(E.reports, 1);
	assert_int_equal(E.last_err, -ENOENT);
	assert_non_null(strstr(E.last_what, want));
	assert_int_equal(fleet_audit_ship_step(s, true), 0);
	assert_int_equal(E.reports, 1); /* not said twice */
	assert_int_equal(check_b(p, NULL, NULL, NULL), 1);
	fleet_audit_ship_free(s);
	audit_free(a);
	fleet_pg_free(p);
}

static void test_conninfo(void **state)
{
	struct fleet_pg_conninfo f;

	(void)state;
	assert_int_equal(fleet_pg_conninfo_facts("host=/run/pg dbname=v user=vaultfs", &f), 0);
	assert_false(f.tcp);
	assert_int_equal(fleet_pg_conninfo_facts("dbname=v", &f), 0);
	assert_false(f.tcp); /* libpq's socket */
	assert_int_equal(fleet_pg_conninfo_facts("host=db.example port=5432 user=v", &f), 0);
	assert_true(f.tcp);
	assert_false(f.verify_full);
	assert_false(f.password);
	assert_int_equal(fleet_pg_conninfo_facts("host=/run/pg,db.example sslmode=require", &f), 0);
	assert_true(f.tcp);
	assert_false(f.verify_full);
	assert_int_equal(fleet_pg_conninfo_facts("hostaddr=10.0.0.1 password=pw", &f), 0);
	assert_true(f.tcp);
	assert_true(f.password);
	assert_false(f.channel_binding);
	assert_int_equal(fleet_pg_conninfo_facts("postgresql://v:pw@db.example/v?"
						 "sslmode=verify-full&channel_binding=require",
						 &f),
			 0);
	assert_true(f.tcp && f.verify_full && f.channel_binding && f.password);
	assert_int_equal(fleet_pg_conninfo_facts("host", &f), -EINVAL);
	assert_int_equal(fleet_pg_conninfo_facts("nosuchkeyword=1", &f), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batch),	     cmocka_unit_test(test_ship),
		cmocka_unit_test(test_rotation),     cmocka_unit_test(test_tamper),
		cmocka_unit_test(test_reorder),	     cmocka_unit_test(test_removed_cut),
		cmocka_unit_test(test_center_lost),  cmocka_unit_test(test_catch_up),
		cmocka_unit_test(test_journal_gone), cmocka_unit_test(test_recheck),
		cmocka_unit_test(test_hole_gone),    cmocka_unit_test(test_conninfo),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
