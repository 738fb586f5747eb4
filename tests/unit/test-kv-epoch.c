/* test-kv-epoch.c: the rollback guard (core/kv-epoch.c, seal-epoch.c, store-sum.c) on real
 * store files and a real software TPM (run under tests/lib/with-swtpm). Each test has its own
 * store sealed by the TPM: bound at the first check and clean at each reopen after writes,
 * purges and advances; an older copy of the whole store refused with the counter's evidence;
 * one version row replayed (its old bytes, old valid MAC: a disabled version enabled again)
 * refused although the row alone verifies; a row removed refused (a certificate's state row
 * too, while one purged with its object is not); a fleet vault's applied state put back as
 * an earlier apply left it refused; a damaged WAL frame (the
 * commits from it on lost) refused; the recovery key accepting a rollback on purpose; a store
 * opened without the guard (no TPM sealer) unguarded. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/fleet.h"
#include "core/kv-fleet.h"
#include "core/kv.h"
#include "core/seal.h"
#include "core/secbuf.h"
#include "core/store.h"
#include "core/tpm.h"
#include "tests/unit/testlib.h"

struct fixture {
	char *dir;
	char db[128];
	struct config *c;
	struct secbuf *rk;
};

static void cfg_set(char **field, const char *value)
{
	free(*field);
	*field = strdup(value);
	assert_non_null(*field);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct store *s = NULL;
	char hk[128];

	if (!f || test_tmpdir(&f->dir) < 0 || config_new_default(&f->c) < 0)
		return -1;
	snprintf(f->db, sizeof(f->db), "%s/vault.db", f->dir);
	snprintf(hk, sizeof(hk), "%s/host.key", f->dir);
	cfg_set(&f->c->store_path, f->db);
	cfg_set(&f->c->host_key, hk);
	cfg_set(&f->c->tcti, test_tcti());
	cfg_set(&f->c->sealer, "tpm2");
	f->c->keyring_timeout = 0;
	if (store_open(f->db, STORE_CREATE, &s) < 0 || seal_recovery_new(&f->rk) < 0 ||
	    seal_init(s, f->c, f->rk) < 0)
		return -1;
	store_free(s);
	*state = f;
	return 0;
}

/* the counter of the store at path (tag from its id, as seal-epoch.c makes it) */
static void counter_remove(struct fixture *f)
{
	struct store *s = NULL;
	uint8_t *id, tag[TPM_NV_TAG_LEN];
	size_t n;

	assert_int_equal(store_open(f->db, 0, &s), 0);
	assert_int_equal(store_meta_get(s, "store_id", &id, &n), 0);
	assert_int_equal(crypto_hkdf(id, n, "vaultfs nv counter v1", tag, sizeof(tag)), 0);
	free(id);
	store_free(s);
	(void)tpm_counter_remove(f->c->tcti, tag);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	counter_remove(f);
	test_rmtree(f->dir);
	free(f->dir);
	config_free(f->c);
	secbuf_free(f->rk);
	free(f);
	return 0;
}

static struct kv *open_kv_at(struct fixture *f, const char *path)
{
	struct store *s = NULL;
	struct secbuf *m = NULL;
	struct kv *kv = NULL;

	assert_int_equal(store_open(path, 0, &s), 0);
	assert_int_equal(seal_unseal(s, f->c, &m), 0);
	assert_int_equal(kv_new(s, m, &kv), 0);
	return kv;
}

static struct kv *open_kv(struct fixture *f)
{
	return open_kv_at(f, f->db);
}

static void put(struct kv *kv, const char *name, const char *value)
{
	struct kv_attrs a = KV_ATTRS_KEEP;

	a.enabled = 1, a.not_before = 0, a.expires = 0, a.content_type = "";
	assert_int_equal(kv_secret_set(kv, "app", name, value, strlen(value), &a, NULL), 0);
}

static void advance(struct kv *kv, const struct config *c, struct seal_epoch *ev)
{
	assert_int_equal(kv_epoch_advance_begin(kv, c, ev), 0);
	assert_int_equal(kv_epoch_advance_end(kv, c, ev), 0);
	assert_true(ev->advanced);
}

/* cp src dst (the store closed: one file, no WAL) */
static void copy_file(const char *src, const char *dst)
{
	uint8_t *p;
	size_t n;

	assert_int_equal(test_read_file(src, &p, &n), 0);
	test_write_file(dst, p, n, 0600);
	free(p);
}

static void sql(const char *path, const char *q)
{
	sqlite3 *db;
	char *err = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, q, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", q, err);
	sqlite3_close(db);
}

static void test_clean_reopen(void **state)
{
	struct fixture *f = *state;
	struct seal_epoch ev;
	struct kv *kv = open_kv(f);
	uint64_t e, min;

	assert_int_equal(kv_epoch_open(kv, f->c, &ev), 0);
	assert_true(ev.bound);
	kv_epoch(kv, &e, &min);
	assert_true(e == ev.store_epoch && min == 0);
	assert_int_equal(kv_vault_create(kv, "app", 7), 0);
	put(kv, "db", "one");
	put(kv, "db", "two");
	put(kv, "other", "x");
	advance(kv, f->c, &ev);
	put(kv, "db", "three");
	assert_int_equal(kv_secret_delete(kv, "app", "other"), 0);
	assert_int_equal(kv_secret_purge(kv, "app", "other"), 0); /* versions go by cascade */
	assert_true(kv_changes(kv) >= 6);
	kv_free(kv);

	kv = open_kv(f);
	assert_int_equal(kv_epoch_open(kv, f->c, &ev), 0);
	assert_false(ev.bound);
	kv_epoch(kv, &e, &min);
	assert_true(e == ev.store_epoch && min == e && ev.tpm_value == e);
	kv_free(kv);
}

/* An older copy of the whole store: refused once the counter has moved past it. */
static void test_file_copy(void **state)
{
	struct fixture *f = *state;
	struct seal_epoch ev;
	struct kv *kv = open_kv(f);
	char old[160];
	uint64_t e0;

	assert_int_equal(kv_epoch_open(kv, f->c, &ev), 0);
	assert_int_equal(kv_vault_create(kv, "app", 7), 0);
	put(kv, "db", "old password");
	kv_free(kv);
	snprintf(old, sizeof(old), "%s/old.db", f->dir);
	copy_file(f->db, old);

	kv = open_kv(f);
	assert_int_equal(kv_epoch_open(kv, f->c, &ev), 0);
	e0 = ev.store_epoch;
	advance(kv, f->c, &ev);
	put(kv, "db", "new password");
	kv_free(kv);

	copy_file(old, f->db);
	kv = open_kv(f);
	assert_int_equal(kv_epoch_open(kv, f->c, &ev), -ESTALE);
	assert_true(ev.store_epoch == e0 && ev.tpm_value == e0 + 1);
	kv_free(kv);
}

/* One version row written back with its own old bytes and old (valid) MAC: the disabled
 * version is enabled again, and the row alone verifies; the sum does not. */
static void test_row_replayed(void **state)
{
	struct fixture *f = *state;
	struct seal_epoch ev;
	struct kv_attrs off = KV_ATTRS_KEEP;
	struct secbuf *v = NULL;
	struct kv *kv = open_kv(f);

	assert_int_equal(kv_epoch_open(kv, f->c, &ev), 0);
	assert_int_equal(kv_vault_create(kv, "app", 7), 0);
	put(kv, "db", "leaked");
	kv_free(kv);
	sql(f->db, "CREATE TABLE saved AS SELECT * FROM versions");

	kv = open_kv(f);
	assert_int_equal(kv_epoch_open(kv, f->c, &ev), 0);
	off.enabled = 0;
	assert_int_equal(kv_secret_update(kv, "app", "db", 1, &off), 0);
	assert_int_equal(kv_secret_get(kv, "app", "db", 1, &v, NULL), -EKEYREVOKED);
	kv_free(kv);

	sql(f->db, "UPDATE versions SET enabled = (SELECT enabled FROM saved), "
		   "updated = (SELECT updated FROM saved), mac = (SELECT mac FROM saved); "
		   "DROP TABLE saved");
	kv = open_kv(f);
	/* without the guard the replayed row would serve the value: it verifies */
	assert_int_equal(kv_secret_get(kv, "app", "db", 1, &v, NULL), 0);
	secbuf_free(v);
	assert_int_equal(kv_epoch_open(kv, f->c, &ev), -EUCLEAN);
	kv_free(kv);
}

/* A row taken away (a soft-deleted object's row and its versions, as if never made). */
static void test_row_removed(void **state)
{
	struct fixture *f = *state;
	struct seal_epoch ev;
	struct kv *kv = open_kv(f);

	assert_int_equal(kv_epoch_open(kv, f->c, &ev), 0);
	assert_int_equal(kv_vault_create(kv, "app", 7), 0);
	put(kv, "db", "a");
	put(kv, "gone", "b");
	kv_free(kv);
	sql(f->db, "PRAGMA foreign_keys = ON; DELETE FROM objects WHERE name = 'gone'");
	kv = open_kv(f);
	assert_int_equal(kv_epoch_open(kv, f->c, &ev), -EUCLEAN);
	kv_free(kv);
}

/* A certificate's state row (cert_state: its next policy, failed renewals, notices) is in the
 * row sum like every MAC'd row: one taken away is refused; one changed and put back as it was
 * is not. */
static void test_cert_state_removed(void **state)
{
	struct fixture *f = *state;
	struct kv_cert_policy p = { .subject = "CN=site",
				    .key_type = KEY_EC_P256,
				    .protection = KEY_PROTECTION_SOFTWARE,
				    .validity = 86400,
				    .issuer = KV_CERT_SELF,
				    .path_len = -1 };
	struct seal_epoch ev;
	struct kv *kv = open_kv(f);

	assert_int_equal(kv_epoch_open(kv, f->c, &ev), 0);
	assert_int_equal(kv_vault_create(kv, "app", 7), 0);
	assert_int_equal(kv_cert_create(kv, NULL, "app", "site", &p, NULL), 0);
	assert_int_equal(kv_cert_renewal_failed(kv, "app", "site", -EIO, "failed"), 0);
	/* another one purged with its row (the cascade is summed too) */
	assert_int_equal(kv_cert_create(kv, NULL, "app", "gone", &p, NULL), 0);
	assert_int_equal(kv_cert_renewal_failed(kv, "app", "gone", -EIO, "failed"), 0);
	assert_int_equal(kv_object_delete(kv, OBJECT_CERT, "app", "gone"), 0);
	assert_int_equal(kv_object_purge(kv, OBJECT_CERT, "app", "gone"), 0);
	kv_free(kv);
	kv = open_kv(f);
	assert_int_equal(kv_epoch_open(kv, f->c, &ev), 0);
	kv_free(kv);
	sql(f->db, "DELETE FROM cert_state");
	kv = open_kv(f);
	assert_int_equal(kv_epoch_open(kv, f->c, &ev), -EUCLEAN);
	kv_free(kv);
}

/* A fleet vault's applied state (fleet_applied) is in the row sum: the row of an earlier apply
 * put back (its old bytes, its old valid MAC: the host would take the center's rows from there
 * again) is refused although the row alone verifies. */
static void test_fleet_applied_replayed(void **state)
{
	struct fixture *f = *state;
	struct fleet_body b = { .op = FLEET_OP_REKEY };
	struct fleet_applied a0 = { 0 }, a1 = { .seq = 1, .epoch = 1 },
			     a2 = { .seq = 2, .epoch = 1 }, got;
	struct seal_epoch ev;
	struct kv *kv = open_kv(f);

	assert_int_equal(kv_epoch_open(kv, f->c, &ev), 0);
	assert_int_equal(kv_vault_create(kv, "app", 7), 0);
	assert_int_equal(kv_fleet_mark(kv, "app"), 0);
	assert_int_equal(kv_fleet_apply(kv, "app", &a0, &a1, &b, NULL), 0);
	kv_free(kv);
	sql(f->db, "CREATE TABLE saved AS SELECT * FROM fleet_applied");

	kv = open_kv(f);
	assert_int_equal(kv_epoch_open(kv, f->c, &ev), 0);
	assert_int_equal(kv_fleet_apply(kv, "app", &a1, &a2, &b, NULL), 0);
	kv_free(kv);

	sql(f->db, "UPDATE fleet_applied SET seq = (SELECT seq FROM saved), "
		   "updated = (SELECT updated FROM saved), mac = (SELECT mac FROM saved); "
		   "DROP TABLE saved");
	kv = open_kv(f);
	assert_int_equal(kv_fleet_applied(kv, "app", &got), 0); /* the row alone verifies */
	assert_int_equal(got.seq, 1);
	assert_int_equal(kv_epoch_open(kv, f->c, &ev), -EUCLEAN);
	kv_free(kv);
}

/* A crash image (the store and its WAL while open) whose WAL has a damaged frame: SQLite drops
 * that frame's commit and every later one, the advance among them: refused. */
static void test_wal_frame(void **state)
{
	struct fixture *f = *state;
	struct seal_epoch ev;
	struct kv *kv = open_kv(f);
	char wal[160], img[160], imgwal[160];
	struct stat st;
	off_t frames_before;
	uint8_t *p;
	size_t n;

	assert_int_equal(kv_epoch_open(kv, f->c, &ev), 0);
	assert_int_equal(kv_vault_create(kv, "app", 7), 0);
	snprintf(wal, sizeof(wal), "%s-wal", f->db);
	assert_int_equal(stat(wal, &st), 0);
	frames_before = st.st_size;
	put(kv, "db", "v1");
	advance(kv, f->c, &ev);
	put(kv, "db", "v2");
	/* the image, taken while the store is open (as a crash leaves it) */
	snprintf(img, sizeof(img), "%s/img.db", f->dir);
	snprintf(imgwal, sizeof(imgwal), "%s/img.db-wal", f->dir);
	copy_file(f->db, img);
	assert_int_equal(test_read_file(wal, &p, &n), 0);
	assert_true((size_t)frames_before + 64 < n);
	p[frames_before + 24 + 16] ^= 0x55; /* in the page of the first frame of put "v1" */
	test_write_file(imgwal, p, n, 0600);
	free(p);
	kv_free(kv);

	kv = open_kv_at(f, img);
	assert_int_equal(kv_epoch_open(kv, f->c, &ev), -ESTALE);
	assert_true(ev.tpm_value == ev.store_epoch + 1);
	kv_free(kv);
}

/* The recovery key accepts a rolled-back store on purpose; it then opens clean. */
static void test_accept(void **state)
{
	struct fixture *f = *state;
	struct seal_epoch ev;
	struct store *s = NULL;
	struct kv *kv = open_kv(f);
	char old[160];

	assert_int_equal(kv_epoch_open(kv, f->c, &ev), 0);
	assert_int_equal(kv_vault_create(kv, "app", 7), 0);
	kv_free(kv);
	snprintf(old, sizeof(old), "%s/old.db", f->dir);
	copy_file(f->db, old);
	kv = open_kv(f);
	assert_int_equal(kv_epoch_open(kv, f->c, &ev), 0);
	advance(kv, f->c, &ev);
	kv_free(kv);
	copy_file(old, f->db);

	assert_int_equal(store_open(f->db, 0, &s), 0);
	assert_int_equal(seal_epoch_accept(s, f->c, f->rk, &ev), 0);
	assert_true(ev.bound && ev.tpm_value == ev.store_epoch + 1);
	store_free(s);
	kv = open_kv(f);
	assert_int_equal(kv_epoch_open(kv, f->c, &ev), 0);
	assert_true(ev.bound); /* the state is taken from the rows as they are */
	put(kv, "db", "after");
	kv_free(kv);
	kv = open_kv(f);
	assert_int_equal(kv_epoch_open(kv, f->c, &ev), 0);
	assert_false(ev.bound);
	kv_free(kv);
}

static int count_cb(void *ud, int n, char **v, char **names)
{
	(void)n, (void)names;
	*(int *)ud = atoi(v[0]);
	return 0;
}

/* A trigger someone wrote into the file never runs (the store's connection runs only its own
 * TEMP triggers), so it cannot call the row function (an oracle of it) nor change a write;
 * the sum stays right. */
static void test_no_oracle(void **state)
{
	struct fixture *f = *state;
	struct seal_epoch ev;
	struct kv *kv = open_kv(f);
	sqlite3 *db;
	int count = -1;

	assert_int_equal(kv_epoch_open(kv, f->c, &ev), 0);
	kv_free(kv);
	sql(f->db, "CREATE TABLE leak (v BLOB); CREATE TRIGGER spy AFTER INSERT ON vaults BEGIN "
		   "INSERT INTO leak VALUES (vfs_fold(NULL, NEW.mac, 1)); END");
	kv = open_kv(f);
	assert_int_equal(kv_vault_create(kv, "app", 7), 0);
	kv_free(kv);
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "SELECT count(*) FROM leak", count_cb, &count, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(count, 0);
	kv = open_kv(f);
	assert_int_equal(kv_epoch_open(kv, f->c, &ev), 0);
	kv_free(kv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_clean_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_row_replayed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_row_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cert_state_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fleet_applied_replayed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal_frame, setup, teardown),
		cmocka_unit_test_setup_teardown(test_accept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_oracle, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
