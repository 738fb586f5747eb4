/* test-kv.c: unit tests for core/kv.c over a real store (store_open with STORE_CREATE in a temp
 * dir of each test's own) and a random master key; no TPM. Exact results and exact -errnos for
 * vaults (create, get, list, delete, names), secret values (empty, binary, the size cap), versions,
 * attributes (content type, canonical tags, dates), the lifecycle on a moved clock (disabled,
 * not yet valid, expired), update, soft delete, recover and purge, ids never reused, callbacks
 * that stop a listing, and integrity: rows edited behind kv's back through a second sqlite3
 * handle (ciphertexts and keys swapped between rows, flags flipped, the version pointer rolled
 * back, the newest version dropped, names changed) are -EBADMSG, a different master key is
 * -EBADMSG, and no plaintext ever reaches the database or its WAL. The lifecycle: retention
 * (default, bounds), purge protection (idempotent, -EPERM until the retention is over, under the
 * vault MAC), the current version's expiry and state in listings, backup and restore (exact
 * round trip, another vault, another store, -EEXIST, another master key, every class of damage,
 * sealed plaintexts that lie, the size cap), and expiry notices (near, expired, once across
 * restarts, callback errors, soft-deleted secrets, re-armed dates, batches, tampered rows). The
 * cache of verified rows (edits after a cached read still found, kv's own writes seen, more
 * secrets than it holds) and read sessions (one snapshot, no writes inside, one at a time).
 * The keys kept unwrapped: more vaults and versions than kept, read round and round by two
 * handles, every value exact; a version row or a vault row whose wrapped key is other bytes
 * with a right MAC (rows of a second store under the same master key) is not served the key
 * kept for the old bytes, nor is one whose wrapped key was moved, as it is, from another
 * version or object whose key is kept (rows forged with the master key, the MAC right); a
 * secret purged and made again under its name opens with its key.
 * Pages of the listings (secrets, vaults, versions): every page size against the whole
 * listing, exact fits, an empty vault, the rows read and the cursor past soft-deleted ones,
 * changes between pages, another vault's damaged row neither listed nor read, a damaged row
 * refused by the page that reads it as the whole listing refuses it, gaps in versions; and the
 * lookup of one secret by name, live or soft-deleted. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/key.h"
#include "core/kv.h"
#include "core/limits.h"
#include "core/secbuf.h"
#include "core/store.h"
#include "core/util.h"
#include "tests/unit/testlib.h"

#define T0 INT64_C(1800000000)
#define DAY INT64_C(86400)

struct fixture {
	char *dir;
	char path[96];
	uint8_t master[CRYPTO_KEY_LEN];
	struct kv *kv;
};

/* A kv over the store at path (created when create) with the given master key bytes. */
static struct kv *kv_open(const char *path, bool create, const uint8_t master[CRYPTO_KEY_LEN])
{
	struct store *s = NULL;
	struct secbuf *m = NULL;
	struct kv *kv = NULL;

	assert_int_equal(store_open(path, create ? STORE_CREATE : 0, &s), 0);
	assert_int_equal(secbuf_dup(master, CRYPTO_KEY_LEN, &m), 0);
	assert_int_equal(kv_new(s, m, &kv), 0);
	assert_non_null(kv);
	kv_set_clock(kv, T0);
	return kv;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || test_tmpdir(&f->dir) < 0) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/vault.db", f->dir);
	test_random(f->master, sizeof(f->master));
	f->kv = kv_open(f->path, true, f->master);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	kv_free(f->kv);
	test_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* --- helpers --- */

static uint32_t set_ok(struct kv *kv, const char *vault, const char *name, const void *p, size_t n,
		       const struct kv_attrs *a)
{
	uint32_t version = 0;
	int r = kv_secret_set(kv, vault, name, p, n, a, &version);

	if (r != 0)
		fail_msg("set %s/%s: %d", vault, name, r);
	assert_true(version >= 1);
	return version;
}

static uint32_t set_str(struct kv *kv, const char *vault, const char *name, const char *value)
{
	return set_ok(kv, vault, name, value, strlen(value), NULL);
}

/* kv_secret_set fails with r and reports no version. */
static void set_fails(struct kv *kv, const char *vault, const char *name, const void *p, size_t n,
		      const struct kv_attrs *a, int r)
{
	uint32_t version = 4242;
	int got = kv_secret_set(kv, vault, name, p, n, a, &version);

	if (got != r)
		fail_msg("set %s/%s: got %d, expected %d", vault ? vault : "(null)",
			 name ? name : "(null)", got, r);
	assert_int_equal(version, 4242);
}

static void get_eq(struct kv *kv, const char *vault, const char *name, uint32_t version,
		   const void *p, size_t n)
{
	struct secbuf *val = NULL;
	struct kv_version_info info;
	int r = kv_secret_get(kv, vault, name, version, &val, &info);

	if (r != 0)
		fail_msg("get %s/%s@%u: %d", vault, name, version, r);
	assert_non_null(val);
	assert_int_equal(val->len, n);
	if (n)
		assert_memory_equal(val->data, p, n);
	assert_int_equal(info.size, n);
	if (version)
		assert_int_equal(info.version, version);
	secbuf_free(val);
}

static void get_str(struct kv *kv, const char *vault, const char *name, uint32_t version,
		    const char *value)
{
	get_eq(kv, vault, name, version, value, strlen(value));
}

/* kv_secret_get fails with r and writes neither out-parameter. */
static void get_fails(struct kv *kv, const char *vault, const char *name, uint32_t version, int r)
{
	struct secbuf sentinel = { 0 };
	struct secbuf *val = &sentinel;
	struct kv_version_info info, untouched;
	int got;

	memset(&info, 0x5a, sizeof(info));
	untouched = info;
	got = kv_secret_get(kv, vault, name, version, &val, &info);
	if (got != r)
		fail_msg("get %s/%s@%u: got %d, expected %d", vault ? vault : "(null)",
			 name ? name : "(null)", version, got, r);
	assert_ptr_equal(val, &sentinel);
	assert_memory_equal(&info, &untouched, sizeof(info));
}

static struct kv_version_info info_ok(struct kv *kv, const char *vault, const char *name,
				      uint32_t version)
{
	struct kv_version_info info;
	int r;

	memset(&info, 0x5a, sizeof(info));
	r = kv_secret_info(kv, vault, name, version, &info);
	if (r != 0)
		fail_msg("info %s/%s@%u: %d", vault, name, version, r);
	return info;
}

static void info_fails(struct kv *kv, const char *vault, const char *name, uint32_t version, int r)
{
	struct kv_version_info info, untouched;

	memset(&info, 0x5a, sizeof(info));
	untouched = info;
	assert_int_equal(kv_secret_info(kv, vault, name, version, &info), r);
	assert_memory_equal(&info, &untouched, sizeof(info));
}

/* Listings collected into arrays. */
#define MAX_ITEMS 32
struct vault_list {
	size_t n;
	struct kv_vault_info v[MAX_ITEMS];
	int stop_after; /* 0 = never */
};

static int collect_vault(const struct kv_vault_info *v, void *ud)
{
	struct vault_list *l = ud;

	assert_true(l->n < MAX_ITEMS);
	l->v[l->n++] = *v;
	return l->stop_after && (int)l->n == l->stop_after ? -ECANCELED : 0;
}

struct secret_list {
	size_t n;
	struct kv_object_info s[MAX_ITEMS];
	int stop_after;
};

static int collect_secret(const struct kv_object_info *s, void *ud)
{
	struct secret_list *l = ud;

	assert_true(l->n < MAX_ITEMS);
	l->s[l->n++] = *s;
	return l->stop_after && (int)l->n == l->stop_after ? -ECANCELED : 0;
}

struct version_list {
	size_t n;
	struct kv_version_info v[MAX_ITEMS];
	int stop_after;
};

static int collect_version(const struct kv_version_info *v, void *ud)
{
	struct version_list *l = ud;

	assert_true(l->n < MAX_ITEMS);
	l->v[l->n++] = *v;
	return l->stop_after && (int)l->n == l->stop_after ? -ECANCELED : 0;
}

static struct secret_list list_secrets(struct kv *kv, const char *vault, bool deleted)
{
	struct secret_list l = { 0 };

	assert_int_equal(kv_secret_list(kv, vault, deleted, collect_secret, &l), 0);
	return l;
}

static int64_t secret_id(struct kv *kv, const char *vault, const char *name, bool deleted)
{
	struct secret_list l = list_secrets(kv, vault, deleted);

	for (size_t i = 0; i < l.n; i++)
		if (streq(l.s[i].name, name))
			return l.s[i].id;
	fail_msg("%s/%s not listed", vault, name);
	return -1;
}

/* --- raw SQL on the database file, through a second handle, while kv keeps its own --- */

static sqlite3 *raw_open(const char *path)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_busy_timeout(db, 5000), SQLITE_OK);
	return db;
}

/* Run one statement that must change at least one row. */
static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = raw_open(path);
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("raw_exec(%s): %s", sql, err ? err : "?");
	if (sqlite3_changes(db) < 1)
		fail_msg("raw_exec(%s) changed nothing", sql);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static int64_t raw_int(const char *path, const char *sql)
{
	sqlite3 *db = raw_open(path);
	sqlite3_stmt *st = NULL;
	int64_t v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	return v;
}

/* Read one blob: SELECT <col> FROM <table> WHERE <where>. Heap copy in *ret. */
static size_t raw_blob(sqlite3 *db, const char *table, const char *col, const char *where,
		       uint8_t **ret)
{
	char sql[256];
	sqlite3_stmt *st = NULL;
	size_t n;

	assert_in_range(snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE %s", col, table, where),
			1, sizeof(sql) - 1);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = (size_t)sqlite3_column_bytes(st, 0);
	*ret = malloc(n ? n : 1);
	assert_non_null(*ret);
	memcpy(*ret, sqlite3_column_blob(st, 0), n);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	return n;
}

static void raw_set_blob(sqlite3 *db, const char *table, const char *col, const char *where,
			 const uint8_t *p, size_t n)
{
	char sql[256];
	sqlite3_stmt *st = NULL;

	assert_in_range(
		snprintf(sql, sizeof(sql), "UPDATE %s SET %s = ?1 WHERE %s", table, col, where), 1,
		sizeof(sql) - 1);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_bind_blob(st, 1, p, (int)n, SQLITE_TRANSIENT), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	assert_int_equal(sqlite3_changes(db), 1);
	sqlite3_finalize(st);
}

/* Swap the blobs of columns cols (comma-separated names, each swapped) between two rows. */
static void raw_swap(const char *path, const char *table, const char *cols, const char *where_a,
		     const char *where_b)
{
	sqlite3 *db = raw_open(path);
	char list[128], *save = NULL;

	snprintf(list, sizeof(list), "%s", cols);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	for (char *col = strtok_r(list, ",", &save); col; col = strtok_r(NULL, ",", &save)) {
		uint8_t *a, *b;
		size_t na = raw_blob(db, table, col, where_a, &a);
		size_t nb = raw_blob(db, table, col, where_b, &b);

		assert_true(na != nb || memcmp(a, b, na) != 0);
		raw_set_blob(db, table, col, where_a, b, nb);
		raw_set_blob(db, table, col, where_b, a, na);
		free(a);
		free(b);
	}
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static const char *where_version(char *buf, size_t n, int64_t object_id, uint32_t version)
{
	assert_in_range(snprintf(buf, n, "object_id = %lld AND version = %u", (long long)object_id,
				 version),
			1, n - 1);
	return buf;
}

/* --- kv_new, keys, names --- */

static void test_new(void **state)
{
	const struct fixture *f = *state;
	struct store *s = NULL;
	struct secbuf *m = NULL;
	char sentinel = 0;
	struct kv *kv = (struct kv *)&sentinel;
	/* A master key of the wrong length: -EINVAL, store and key freed (ASan sees leaks). */
	assert_int_equal(store_open(f->path, 0, &s), 0);
	assert_int_equal(secbuf_dup(f->master, 16, &m), 0);
	assert_int_equal(kv_new(s, m, &kv), -EINVAL);
	assert_ptr_equal(kv, (struct kv *)&sentinel);
	kv_free(NULL);
}

static void test_derive_key(void **state)
{
	const struct fixture *f = *state;
	struct secbuf *a = NULL, *b = NULL, *c = NULL, *d = NULL;
	uint8_t other[CRYPTO_KEY_LEN];
	struct kv *kv2;

	assert_int_equal(kv_derive_key(f->kv, "vaultfs audit v1", &a), 0);
	assert_int_equal(a->len, CRYPTO_KEY_LEN);
	assert_int_equal(kv_derive_key(f->kv, "vaultfs other v1", &b), 0);
	assert_int_equal(b->len, CRYPTO_KEY_LEN);
	assert_memory_not_equal(a->data, b->data, CRYPTO_KEY_LEN);
	/* Deterministic: another kv with the same master gets the same subkey... */
	kv2 = kv_open(f->path, false, f->master);
	assert_int_equal(kv_derive_key(kv2, "vaultfs audit v1", &c), 0);
	assert_memory_equal(a->data, c->data, CRYPTO_KEY_LEN);
	kv_free(kv2);
	/* ...and one with another master a different one; neither is the master itself. */
	test_random(other, sizeof(other));
	kv2 = kv_open(f->path, false, other);
	assert_int_equal(kv_derive_key(kv2, "vaultfs audit v1", &d), 0);
	assert_memory_not_equal(a->data, d->data, CRYPTO_KEY_LEN);
	assert_memory_not_equal(a->data, f->master, CRYPTO_KEY_LEN);
	kv_free(kv2);
	secbuf_free(a);
	secbuf_free(b);
	secbuf_free(c);
	secbuf_free(d);
}

static void test_names(void **state)
{
	const struct fixture *f = *state;
	char n127[128], n128[129];
	const char *bad[] = {
		"",	 "..",		".",   ".x",   "-x",   "_x",	"a/b",
		"/a",	 "a b",		" a",  "a\tb", "a\nb", "a\x01", "\x7f",
		"a\x7f", "caf\xc3\xa9", "a:b", "a=b",  "a*",   "a\\b",	n128,
	};
	const char *good[] = { "a", "Z", "0", "a.b", "a_b", "a-b", "a..b", "A9-._z", "x-", n127 };
	struct kv_vault_info vi;

	memset(n127, 'n', 127);
	n127[127] = '\0';
	memset(n128, 'n', 128);
	n128[128] = '\0';
	assert_false(kv_name_valid(NULL));
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		if (kv_name_valid(bad[i]))
			fail_msg("'%s' is valid", bad[i]);
		assert_int_equal(kv_vault_create(f->kv, bad[i], 0), -EINVAL);
		assert_int_equal(kv_vault_get(f->kv, bad[i], &vi), -EINVAL);
		assert_int_equal(kv_vault_delete(f->kv, bad[i]), -EINVAL);
	}
	for (size_t i = 0; i < ELEMENTSOF(good); i++) {
		if (!kv_name_valid(good[i]))
			fail_msg("'%s' is not valid", good[i]);
		assert_int_equal(kv_vault_create(f->kv, good[i], 0), 0);
		assert_int_equal(kv_vault_get(f->kv, good[i], &vi), 0);
		assert_string_equal(vi.name, good[i]);
	}

	/* Secret names follow the same rule, in every call. */
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		struct secret_list l = { 0 };

		set_fails(f->kv, "a", bad[i], "x", 1, NULL, -EINVAL);
		set_fails(f->kv, bad[i], "s", "x", 1, NULL, -EINVAL);
		get_fails(f->kv, "a", bad[i], 0, -EINVAL);
		get_fails(f->kv, bad[i], "s", 0, -EINVAL);
		info_fails(f->kv, "a", bad[i], 0, -EINVAL);
		assert_int_equal(kv_secret_delete(f->kv, "a", bad[i]), -EINVAL);
		assert_int_equal(kv_secret_recover(f->kv, "a", bad[i]), -EINVAL);
		assert_int_equal(kv_secret_purge(f->kv, "a", bad[i]), -EINVAL);
		assert_int_equal(kv_secret_list(f->kv, bad[i], false, collect_secret, &l), -EINVAL);
		assert_int_equal(l.n, 0);
	}
	assert_int_equal(list_secrets(f->kv, "a", false).n, 0);
	assert_int_equal(set_str(f->kv, "a", n127, "long name"), 1);
	get_str(f->kv, "a", n127, 0, "long name");
	set_fails(f->kv, n127, n128, "x", 1, NULL, -EINVAL);
}

/* --- vaults --- */

static void test_vault_crud(void **state)
{
	const struct fixture *f = *state;
	struct kv_vault_info vi, untouched;
	struct vault_list l = { 0 };
	struct secret_list sl = { 0 };

	assert_int_equal(kv_vault_create(f->kv, "prod", 0), 0);
	assert_int_equal(kv_vault_create(f->kv, "prod", 0), -EEXIST);
	kv_set_clock(f->kv, T0 + 60);
	assert_int_equal(kv_vault_create(f->kv, "dev", 0), 0);
	assert_int_equal(kv_vault_create(f->kv, "Prod", 0), 0); /* names are case-sensitive */

	memset(&vi, 0x5a, sizeof(vi));
	assert_int_equal(kv_vault_get(f->kv, "prod", &vi), 0);
	assert_string_equal(vi.name, "prod");
	assert_int_equal(vi.created, T0);
	assert_int_equal(vi.retention_days, VAULTFS_RETENTION_DEFAULT);
	assert_false(vi.purge_protection);
	memset(&vi, 0x5a, sizeof(vi));
	untouched = vi;
	assert_int_equal(kv_vault_get(f->kv, "staging", &vi), -ENOENT);
	assert_memory_equal(&vi, &untouched, sizeof(vi));

	/* Listed in name order (byte order: upper case first). */
	assert_int_equal(kv_vault_list(f->kv, collect_vault, &l), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.v[0].name, "Prod");
	assert_string_equal(l.v[1].name, "dev");
	assert_int_equal(l.v[1].created, T0 + 60);
	assert_int_equal(l.v[1].retention_days, VAULTFS_RETENTION_DEFAULT);
	assert_string_equal(l.v[2].name, "prod");

	/* A callback's error stops the listing and is returned. */
	memset(&l, 0, sizeof(l));
	l.stop_after = 2;
	assert_int_equal(kv_vault_list(f->kv, collect_vault, &l), -ECANCELED);
	assert_int_equal(l.n, 2);

	assert_int_equal(kv_vault_delete(f->kv, "dev"), 0);
	assert_int_equal(kv_vault_get(f->kv, "dev", &vi), -ENOENT);
	assert_int_equal(kv_vault_delete(f->kv, "dev"), -ENOENT);
	assert_int_equal(kv_vault_delete(f->kv, "never"), -ENOENT);
	memset(&l, 0, sizeof(l));
	assert_int_equal(kv_vault_list(f->kv, collect_vault, &l), 0);
	assert_int_equal(l.n, 2);

	/* A name is free again after delete; secrets in a missing vault are -ENOENT. */
	assert_int_equal(kv_vault_create(f->kv, "dev", 0), 0);
	set_fails(f->kv, "nope", "s", "x", 1, NULL, -ENOENT);
	get_fails(f->kv, "nope", "s", 0, -ENOENT);
	assert_int_equal(kv_secret_list(f->kv, "nope", false, collect_secret, &sl), -ENOENT);
	assert_int_equal(sl.n, 0);
}

static void test_vault_delete_not_empty(void **state)
{
	const struct fixture *f = *state;

	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);
	set_str(f->kv, "v", "s", "value");
	assert_int_equal(kv_vault_delete(f->kv, "v"), -ENOTEMPTY);
	/* A soft-deleted secret still holds the vault. */
	assert_int_equal(kv_secret_delete(f->kv, "v", "s"), 0);
	assert_int_equal(kv_vault_delete(f->kv, "v"), -ENOTEMPTY);
	get_fails(f->kv, "v", "s", 0, -ENOENT);
	assert_int_equal(kv_secret_recover(f->kv, "v", "s"), 0);
	get_str(f->kv, "v", "s", 0, "value");
	assert_int_equal(kv_secret_delete(f->kv, "v", "s"), 0);
	assert_int_equal(kv_secret_purge(f->kv, "v", "s"), 0);
	assert_int_equal(kv_vault_delete(f->kv, "v"), 0);
	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);
	get_fails(f->kv, "v", "s", 0, -ENOENT);
}

/* --- values and versions --- */

static void test_values(void **state)
{
	const struct fixture *f = *state;
	static const uint8_t binary[] = { 0, 1, 0, 0xff, 0x80, '\n', 0, 0 };
	uint8_t *big = malloc(VAULTFS_VALUE_MAX + 1);
	struct kv_version_info info;

	assert_non_null(big);
	test_random(big, VAULTFS_VALUE_MAX + 1);
	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);

	assert_int_equal(set_ok(f->kv, "v", "empty", "", 0, NULL), 1);
	get_eq(f->kv, "v", "empty", 0, "", 0);
	assert_int_equal(info_ok(f->kv, "v", "empty", 0).size, 0);

	assert_int_equal(set_ok(f->kv, "v", "bin", binary, sizeof(binary), NULL), 1);
	get_eq(f->kv, "v", "bin", 1, binary, sizeof(binary));

	assert_int_equal(set_ok(f->kv, "v", "big", big, VAULTFS_VALUE_MAX, NULL), 1);
	get_eq(f->kv, "v", "big", 0, big, VAULTFS_VALUE_MAX);
	info = info_ok(f->kv, "v", "big", 1);
	assert_int_equal(info.size, VAULTFS_VALUE_MAX);

	/* One byte over: -EMSGSIZE, and nothing written, new name or existing. */
	set_fails(f->kv, "v", "huge", big, VAULTFS_VALUE_MAX + 1, NULL, -EMSGSIZE);
	set_fails(f->kv, "v", "huge", big, SIZE_MAX, NULL, -EMSGSIZE);
	get_fails(f->kv, "v", "huge", 0, -ENOENT);
	set_fails(f->kv, "v", "big", big, VAULTFS_VALUE_MAX + 1, NULL, -EMSGSIZE);
	assert_int_equal(info_ok(f->kv, "v", "big", 0).version, 1);
	get_eq(f->kv, "v", "big", 0, big, VAULTFS_VALUE_MAX);
	assert_int_equal(list_secrets(f->kv, "v", false).n, 3);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM versions"), 3);

	/* The same name in two vaults: two secrets. */
	assert_int_equal(kv_vault_create(f->kv, "w", 0), 0);
	assert_int_equal(set_ok(f->kv, "w", "bin", "other", 5, NULL), 1);
	get_eq(f->kv, "w", "bin", 0, "other", 5);
	get_eq(f->kv, "v", "bin", 0, binary, sizeof(binary));
	/* A NULL ret_version is allowed. */
	assert_int_equal(kv_secret_set(f->kv, "w", "bin", "x", 1, NULL, NULL), 0);
	get_eq(f->kv, "w", "bin", 2, "x", 1);
	/* A NULL ret_info too. */
	{
		struct secbuf *val = NULL;

		assert_int_equal(kv_secret_get(f->kv, "w", "bin", 1, &val, NULL), 0);
		assert_int_equal(val->len, 5);
		assert_memory_equal(val->data, "other", 5);
		secbuf_free(val);
	}
	free(big);
}

static void test_versions(void **state)
{
	const struct fixture *f = *state;
	static const char *const values[] = { "one", "second", "3", "", "fifth value" };
	struct version_list vl = { 0 };
	struct secret_list sl;

	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);
	for (uint32_t i = 0; i < ELEMENTSOF(values); i++) {
		kv_set_clock(f->kv, T0 + i);
		assert_int_equal(set_str(f->kv, "v", "s", values[i]), i + 1);
	}
	for (uint32_t i = 0; i < ELEMENTSOF(values); i++) {
		struct kv_version_info info = info_ok(f->kv, "v", "s", i + 1);

		get_str(f->kv, "v", "s", i + 1, values[i]);
		assert_int_equal(info.version, i + 1);
		assert_int_equal(info.size, strlen(values[i]));
		assert_int_equal(info.created, T0 + i);
		assert_int_equal(info.updated, T0 + i);
		assert_true(info.enabled);
		assert_int_equal(info.not_before, 0);
		assert_int_equal(info.expires, 0);
		assert_string_equal(info.content_type, "");
		assert_string_equal(info.tags, "");
	}
	get_str(f->kv, "v", "s", 0, "fifth value");
	assert_int_equal(info_ok(f->kv, "v", "s", 0).version, 5);
	get_fails(f->kv, "v", "s", 6, -ENOENT);
	get_fails(f->kv, "v", "s", UINT32_MAX, -ENOENT);
	info_fails(f->kv, "v", "s", 6, -ENOENT);
	get_fails(f->kv, "v", "missing", 0, -ENOENT);
	get_fails(f->kv, "v", "missing", 1, -ENOENT);

	assert_int_equal(kv_secret_versions(f->kv, "v", "s", collect_version, &vl), 0);
	assert_int_equal(vl.n, 5);
	for (uint32_t i = 0; i < 5; i++) {
		assert_int_equal(vl.v[i].version, i + 1);
		assert_int_equal(vl.v[i].size, strlen(values[i]));
	}
	memset(&vl, 0, sizeof(vl));
	vl.stop_after = 2;
	assert_int_equal(kv_secret_versions(f->kv, "v", "s", collect_version, &vl), -ECANCELED);
	assert_int_equal(vl.n, 2);
	assert_int_equal(kv_secret_versions(f->kv, "v", "missing", collect_version, &vl), -ENOENT);

	sl = list_secrets(f->kv, "v", false);
	assert_int_equal(sl.n, 1);
	assert_string_equal(sl.s[0].name, "s");
	assert_int_equal(sl.s[0].current_version, 5);
	assert_int_equal(sl.s[0].created, T0);
	assert_int_equal(sl.s[0].deleted_at, 0);
	assert_int_equal(sl.s[0].purge_after, 0);
}

/* --- attributes --- */

static void test_attributes(void **state)
{
	const struct fixture *f = *state;
	const char *tags[] = { "zeta=1", "alpha=2", "mid=x=y", "a=", "ab=3" };
	struct kv_attrs a = {
		.enabled = 1,
		.not_before = T0 - 10,
		.expires = T0 + 10,
		.content_type = "application/x-pem-file",
		.tags = tags,
		.n_tags = ELEMENTSOF(tags),
	};
	struct kv_version_info info;

	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);
	set_ok(f->kv, "v", "s", "pem", 3, &a);
	info = info_ok(f->kv, "v", "s", 0);
	assert_true(info.enabled);
	assert_int_equal(info.not_before, T0 - 10);
	assert_int_equal(info.expires, T0 + 10);
	assert_string_equal(info.content_type, "application/x-pem-file");
	assert_string_equal(info.tags, "a=\nab=3\nalpha=2\nmid=x=y\nzeta=1\n");
	get_str(f->kv, "v", "s", 0, "pem");

	/* The same tags in another order give the same canonical text. */
	{
		const char *again[] = { "ab=3", "mid=x=y", "a=", "zeta=1", "alpha=2" };

		a.tags = again;
		set_ok(f->kv, "v", "s", "pem", 3, &a);
		assert_string_equal(info_ok(f->kv, "v", "s", 2).tags,
				    "a=\nab=3\nalpha=2\nmid=x=y\nzeta=1\n");
	}

	/* Given attrs with NULL/KEEP fields: enabled, no dates, no content type, no tags. */
	{
		const struct kv_attrs keep = KV_ATTRS_KEEP;

		set_ok(f->kv, "v", "k", "x", 1, &keep);
		info = info_ok(f->kv, "v", "k", 0);
		assert_true(info.enabled);
		assert_int_equal(info.not_before, 0);
		assert_int_equal(info.expires, 0);
		assert_string_equal(info.content_type, "");
		assert_string_equal(info.tags, "");
	}

	/* nbf == exp is accepted (a version valid for no second at all). */
	a.tags = NULL;
	a.n_tags = 0;
	a.not_before = T0 + 5;
	a.expires = T0 + 5;
	set_ok(f->kv, "v", "same", "x", 1, &a);
}

/* Every refused attribute: -EINVAL and nothing written. */
static void test_attributes_refused(void **state)
{
	const struct fixture *f = *state;
	char key64[80], key65[80], val256[300], val257[300], ct255[300], ct256[300];
	const char *t15[15], *t16[16];
	char tagbuf[16][8];
	struct {
		struct kv_attrs a;
		const char *tag; /* one tag, if not NULL */
		const char *const *tags;
		size_t n;
	} cases[] = {
		{ .a = { .enabled = 2 } },
		{ .a = { .enabled = -2 } },
		{ .a = { .enabled = 1, .not_before = -1 } },
		{ .a = { .enabled = 1, .expires = -5 } },
		{ .a = { .enabled = 1, .not_before = T0 + 10, .expires = T0 + 9 } },
		{ .a = { .enabled = 1, .content_type = "text/plain\n" } },
		{ .a = { .enabled = 1, .content_type = "text/\x01" } },
		{ .a = { .enabled = 1, .content_type = ct256 } },
		{ .a = { .enabled = 1 }, .tag = "novalue" },
		{ .a = { .enabled = 1 }, .tag = "=value" },
		{ .a = { .enabled = 1 }, .tag = "a b=1" },
		{ .a = { .enabled = 1 }, .tag = "a\t=1" },
		{ .a = { .enabled = 1 }, .tag = "k=line\nbreak" },
		{ .a = { .enabled = 1 }, .tag = "k=\x7f" },
		{ .a = { .enabled = 1 }, .tag = key65 },
		{ .a = { .enabled = 1 }, .tag = val257 },
		{ .a = { .enabled = 1 }, .tags = (const char *const[]){ "k=1", "k=2" }, .n = 2 },
		{ .a = { .enabled = 1 },
		  .tags = (const char *const[]){ "k=1", "j=0", "k=1" },
		  .n = 3 },
		{ .a = { .enabled = 1 }, .tags = t16, .n = 16 },
	};

	memset(key64, 'k', 64);
	strcpy(key64 + 64, "=v");
	memset(key65, 'k', 65);
	strcpy(key65 + 65, "=v");
	strcpy(val256, "k=");
	memset(val256 + 2, 'v', 256);
	val256[258] = '\0';
	strcpy(val257, "k=");
	memset(val257 + 2, 'v', 257);
	val257[259] = '\0';
	memset(ct255, 'c', 255);
	ct255[255] = '\0';
	memset(ct256, 'c', 256);
	ct256[256] = '\0';
	for (int i = 0; i < 16; i++) {
		assert_in_range(snprintf(tagbuf[i], sizeof(tagbuf[i]), "t%02d=%d", 15 - i, i), 5,
				sizeof(tagbuf[i]) - 1);
		t16[i] = tagbuf[i];
		if (i < 15)
			t15[i] = tagbuf[i];
	}

	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct kv_attrs a = cases[i].a;
		const char *one[1] = { cases[i].tag };

		if (cases[i].tag) {
			a.tags = one;
			a.n_tags = 1;
		} else if (cases[i].tags) {
			a.tags = cases[i].tags;
			a.n_tags = cases[i].n;
		}
		if (kv_secret_set(f->kv, "v", "s", "x", 1, &a, NULL) != -EINVAL)
			fail_msg("case %zu was not -EINVAL", i);
		get_fails(f->kv, "v", "s", 0, -ENOENT);
	}
	assert_int_equal(list_secrets(f->kv, "v", false).n, 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM objects"), 0);

	/* The limits themselves are fine. */
	{
		const char *edge[] = { key64, val256 };
		struct kv_attrs a = {
			.enabled = 1, .content_type = ct255, .tags = edge, .n_tags = 2
		};
		char want[400];

		set_ok(f->kv, "v", "edge", "x", 1, &a);
		snprintf(want, sizeof(want), "%s\n%s\n", val256, key64);
		assert_string_equal(info_ok(f->kv, "v", "edge", 0).tags, want);
		assert_string_equal(info_ok(f->kv, "v", "edge", 0).content_type, ct255);

		a.content_type = "";
		a.tags = t15;
		a.n_tags = 15;
		set_ok(f->kv, "v", "fifteen", "x", 1, &a);
		assert_string_equal(info_ok(f->kv, "v", "fifteen", 0).tags,
				    "t01=14\nt02=13\nt03=12\nt04=11\nt05=10\nt06=9\nt07=8\n"
				    "t08=7\nt09=6\nt10=5\nt11=4\nt12=3\nt13=2\nt14=1\nt15=0\n");
	}

	/* The largest tag text there can be: 15 tags of the longest key and value, UTF-8. */
	{
		static char big[15][VAULTFS_TAG_KEY_MAX + VAULTFS_TAG_VALUE_MAX + 2];
		const char *bt[15];
		char want[VAULTFS_TAGS_LEN_MAX + 1] = "";
		struct kv_attrs a = { .enabled = 1, .tags = bt, .n_tags = 15 };
		struct kv_version_info info;

		for (int i = 0; i < 15; i++) {
			memset(big[i], 'a' + i, VAULTFS_TAG_KEY_MAX);
			big[i][VAULTFS_TAG_KEY_MAX] = '=';
			for (size_t j = 0; j < VAULTFS_TAG_VALUE_MAX; j += 2)
				memcpy(big[i] + VAULTFS_TAG_KEY_MAX + 1 + j, "\xc3\xa9", 2);
			big[i][VAULTFS_TAG_KEY_MAX + 1 + VAULTFS_TAG_VALUE_MAX] = '\0';
			bt[14 - i] = big[i];
			strcat(want, big[i]);
			strcat(want, "\n");
		}
		assert_int_equal(strlen(want), VAULTFS_TAGS_LEN_MAX);
		set_ok(f->kv, "v", "maxtags", "x", 1, &a);
		info = info_ok(f->kv, "v", "maxtags", 0);
		assert_string_equal(info.tags, want);
	}
}

/* --- lifecycle --- */

static void test_lifecycle(void **state)
{
	const struct fixture *f = *state;
	struct kv_attrs off = { .enabled = 0 };
	struct kv_attrs later = { .enabled = 1, .not_before = T0 + 100 };
	struct kv_attrs expiring = { .enabled = 1, .expires = T0 + 200 };
	struct kv_version_info info;

	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);
	set_ok(f->kv, "v", "off", "disabled value", 14, &off);
	set_ok(f->kv, "v", "later", "later value", 11, &later);
	set_ok(f->kv, "v", "exp", "expiring", 8, &expiring);

	get_fails(f->kv, "v", "off", 0, -EKEYREVOKED);
	get_fails(f->kv, "v", "off", 1, -EKEYREVOKED);
	info = info_ok(f->kv, "v", "off", 0);
	assert_false(info.enabled);
	assert_int_equal(info.size, 14);

	get_fails(f->kv, "v", "later", 0, -EKEYREJECTED);
	kv_set_clock(f->kv, T0 + 99);
	get_fails(f->kv, "v", "later", 0, -EKEYREJECTED);
	info = info_ok(f->kv, "v", "later", 0);
	assert_int_equal(info.not_before, T0 + 100);
	assert_int_equal(info.size, 11);
	kv_set_clock(f->kv, T0 + 100);
	get_str(f->kv, "v", "later", 0, "later value");

	kv_set_clock(f->kv, T0 + 199);
	get_str(f->kv, "v", "exp", 0, "expiring");
	kv_set_clock(f->kv, T0 + 200); /* exactly at exp: expired */
	get_fails(f->kv, "v", "exp", 0, -EKEYEXPIRED);
	kv_set_clock(f->kv, T0 + 365 * DAY);
	get_fails(f->kv, "v", "exp", 1, -EKEYEXPIRED);
	info = info_ok(f->kv, "v", "exp", 1);
	assert_int_equal(info.expires, T0 + 200);
	assert_int_equal(info.size, 8);
	get_str(f->kv, "v", "later", 0, "later value");

	/* Each version has its own lifecycle. */
	kv_set_clock(f->kv, T0);
	assert_int_equal(set_str(f->kv, "v", "off", "enabled value"), 2);
	get_str(f->kv, "v", "off", 0, "enabled value");
	get_fails(f->kv, "v", "off", 1, -EKEYREVOKED);
	assert_int_equal(set_ok(f->kv, "v", "off", "x", 1, &off), 3);
	get_fails(f->kv, "v", "off", 0, -EKEYREVOKED);
	get_str(f->kv, "v", "off", 2, "enabled value");
}

static void test_update(void **state)
{
	const struct fixture *f = *state;
	const char *tags[] = { "b=2", "a=1" };
	struct kv_attrs a = {
		.enabled = 1,
		.not_before = T0 - 100,
		.expires = T0 + 1000,
		.content_type = "text/plain",
		.tags = tags,
		.n_tags = 2,
	};
	struct kv_attrs u = KV_ATTRS_KEEP;
	struct kv_version_info info, before;

	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);
	set_ok(f->kv, "v", "s", "value", 5, &a);

	/* KEEP everything: only `updated` moves. */
	kv_set_clock(f->kv, T0 + 1);
	assert_int_equal(kv_secret_update(f->kv, "v", "s", 0, &u), 0);
	info = info_ok(f->kv, "v", "s", 1);
	assert_true(info.enabled);
	assert_int_equal(info.not_before, T0 - 100);
	assert_int_equal(info.expires, T0 + 1000);
	assert_string_equal(info.content_type, "text/plain");
	assert_string_equal(info.tags, "a=1\nb=2\n");
	assert_int_equal(info.created, T0);
	assert_int_equal(info.updated, T0 + 1);
	assert_int_equal(info.size, 5);
	/* NULL attributes keep everything too */
	kv_set_clock(f->kv, T0 + 2);
	assert_int_equal(kv_secret_update(f->kv, "v", "s", 0, NULL), 0);
	info = info_ok(f->kv, "v", "s", 1);
	assert_true(info.enabled);
	assert_string_equal(info.tags, "a=1\nb=2\n");
	assert_int_equal(info.updated, T0 + 2);

	/* Disable, then enable again. */
	kv_set_clock(f->kv, T0 + 5);
	u.enabled = 0;
	assert_int_equal(kv_secret_update(f->kv, "v", "s", 1, &u), 0);
	get_fails(f->kv, "v", "s", 0, -EKEYREVOKED);
	info = info_ok(f->kv, "v", "s", 0);
	assert_false(info.enabled);
	assert_int_equal(info.not_before, T0 - 100);
	assert_int_equal(info.expires, T0 + 1000);
	assert_string_equal(info.content_type, "text/plain");
	assert_string_equal(info.tags, "a=1\nb=2\n");
	assert_int_equal(info.updated, T0 + 5);
	u.enabled = 1;
	assert_int_equal(kv_secret_update(f->kv, "v", "s", 0, &u), 0);
	get_str(f->kv, "v", "s", 0, "value");

	/* Dates: set, clear, and a not-before that makes it not yet valid. */
	u = (struct kv_attrs)KV_ATTRS_KEEP;
	u.expires = T0 + 50;
	assert_int_equal(kv_secret_update(f->kv, "v", "s", 0, &u), 0);
	info = info_ok(f->kv, "v", "s", 0);
	assert_int_equal(info.expires, T0 + 50);
	assert_int_equal(info.not_before, T0 - 100);
	u.expires = 0;
	u.not_before = 0;
	assert_int_equal(kv_secret_update(f->kv, "v", "s", 0, &u), 0);
	info = info_ok(f->kv, "v", "s", 0);
	assert_int_equal(info.expires, 0);
	assert_int_equal(info.not_before, 0);
	u = (struct kv_attrs)KV_ATTRS_KEEP;
	u.not_before = T0 + 2000;
	assert_int_equal(kv_secret_update(f->kv, "v", "s", 0, &u), 0);
	get_fails(f->kv, "v", "s", 0, -EKEYREJECTED);
	u.not_before = 0;
	assert_int_equal(kv_secret_update(f->kv, "v", "s", 0, &u), 0);
	get_str(f->kv, "v", "s", 0, "value");

	/* Tags replaced, then cleared with an empty list; content type cleared. */
	{
		const char *x[] = { "x=9" };

		u = (struct kv_attrs)KV_ATTRS_KEEP;
		u.tags = x;
		u.n_tags = 1;
		assert_int_equal(kv_secret_update(f->kv, "v", "s", 0, &u), 0);
		assert_string_equal(info_ok(f->kv, "v", "s", 0).tags, "x=9\n");
		u.n_tags = 0;
		u.content_type = "";
		assert_int_equal(kv_secret_update(f->kv, "v", "s", 0, &u), 0);
		info = info_ok(f->kv, "v", "s", 0);
		assert_string_equal(info.tags, "");
		assert_string_equal(info.content_type, "");
	}

	/* Refused updates change nothing: exp before the kept nbf, bad fields. */
	u = (struct kv_attrs)KV_ATTRS_KEEP;
	u.not_before = T0 + 600;
	u.expires = T0 + 700;
	assert_int_equal(kv_secret_update(f->kv, "v", "s", 0, &u), 0);
	before = info_ok(f->kv, "v", "s", 0);
	kv_set_clock(f->kv, T0 + 9);
	u = (struct kv_attrs)KV_ATTRS_KEEP;
	u.expires = T0 + 599;
	assert_int_equal(kv_secret_update(f->kv, "v", "s", 0, &u), -EINVAL);
	u = (struct kv_attrs)KV_ATTRS_KEEP;
	u.not_before = T0 + 701;
	assert_int_equal(kv_secret_update(f->kv, "v", "s", 0, &u), -EINVAL);
	u = (struct kv_attrs)KV_ATTRS_KEEP;
	u.enabled = 3;
	assert_int_equal(kv_secret_update(f->kv, "v", "s", 0, &u), -EINVAL);
	{
		const char *dup[] = { "a=1", "a=1" };

		u = (struct kv_attrs)KV_ATTRS_KEEP;
		u.tags = dup;
		u.n_tags = 2;
		assert_int_equal(kv_secret_update(f->kv, "v", "s", 0, &u), -EINVAL);
	}
	info = info_ok(f->kv, "v", "s", 0);
	assert_memory_equal(&info, &before, sizeof(info));

	/* Only the named version changes. */
	assert_int_equal(set_str(f->kv, "v", "s", "second"), 2);
	u = (struct kv_attrs)KV_ATTRS_KEEP;
	u.enabled = 0;
	assert_int_equal(kv_secret_update(f->kv, "v", "s", 1, &u), 0);
	assert_false(info_ok(f->kv, "v", "s", 1).enabled);
	assert_true(info_ok(f->kv, "v", "s", 2).enabled);
	get_str(f->kv, "v", "s", 0, "second");

	/* Missing version, secret, vault; a deleted secret. */
	assert_int_equal(kv_secret_update(f->kv, "v", "s", 3, &u), -ENOENT);
	assert_int_equal(kv_secret_update(f->kv, "v", "nope", 0, &u), -ENOENT);
	assert_int_equal(kv_secret_update(f->kv, "nope", "s", 0, &u), -ENOENT);
	assert_int_equal(kv_secret_delete(f->kv, "v", "s"), 0);
	assert_int_equal(kv_secret_update(f->kv, "v", "s", 0, &u), -ENOENT);
	assert_int_equal(kv_secret_update(f->kv, "v", "s", 2, &u), -ENOENT);
}

/* --- delete, recover, purge --- */

static void test_delete_recover_purge(void **state)
{
	const struct fixture *f = *state;
	struct secret_list l;

	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);
	set_str(f->kv, "v", "a", "alpha");
	set_str(f->kv, "v", "b", "bravo");

	kv_set_clock(f->kv, T0 + 30);
	assert_int_equal(kv_secret_delete(f->kv, "v", "a"), 0);
	get_fails(f->kv, "v", "a", 0, -ENOENT);
	get_fails(f->kv, "v", "a", 1, -ENOENT);
	info_fails(f->kv, "v", "a", 0, -ENOENT);
	assert_int_equal(kv_secret_delete(f->kv, "v", "a"), -ENOENT);
	set_fails(f->kv, "v", "a", "new", 3, NULL, -EEXIST);
	{
		struct version_list vl = { 0 };
		struct kv_attrs u = KV_ATTRS_KEEP;

		assert_int_equal(kv_secret_versions(f->kv, "v", "a", collect_version, &vl),
				 -ENOENT);
		assert_int_equal(vl.n, 0);
		assert_int_equal(kv_secret_update(f->kv, "v", "a", 1, &u), -ENOENT);
	}

	l = list_secrets(f->kv, "v", false);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.s[0].name, "b");
	l = list_secrets(f->kv, "v", true);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.s[0].name, "a");
	assert_int_equal(l.s[0].current_version, 1);
	assert_int_equal(l.s[0].created, T0);
	assert_int_equal(l.s[0].deleted_at, T0 + 30);
	assert_int_equal(l.s[0].purge_after, T0 + 30 + VAULTFS_RETENTION_DEFAULT * DAY);

	/* Recover brings back the same secret and versions. */
	assert_int_equal(kv_secret_recover(f->kv, "v", "a"), 0);
	get_str(f->kv, "v", "a", 0, "alpha");
	assert_int_equal(kv_secret_recover(f->kv, "v", "a"), -ENOENT);
	assert_int_equal(list_secrets(f->kv, "v", true).n, 0);
	assert_int_equal(list_secrets(f->kv, "v", false).n, 2);

	/* Purge takes a deleted secret only. */
	assert_int_equal(kv_secret_purge(f->kv, "v", "a"), -ENOENT);
	get_str(f->kv, "v", "a", 0, "alpha");
	assert_int_equal(kv_secret_delete(f->kv, "v", "a"), 0);
	assert_int_equal(kv_secret_purge(f->kv, "v", "a"), 0);
	assert_int_equal(kv_secret_purge(f->kv, "v", "a"), -ENOENT);
	assert_int_equal(kv_secret_recover(f->kv, "v", "a"), -ENOENT);
	assert_int_equal(kv_secret_delete(f->kv, "v", "a"), -ENOENT);
	get_fails(f->kv, "v", "a", 0, -ENOENT);
	assert_int_equal(list_secrets(f->kv, "v", true).n, 0);
	l = list_secrets(f->kv, "v", false);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.s[0].name, "b");
	get_str(f->kv, "v", "b", 0, "bravo");

	/* Without purge protection a purge needs no waiting. Missing names: -ENOENT. */
	assert_int_equal(kv_secret_delete(f->kv, "v", "nope"), -ENOENT);
	assert_int_equal(kv_secret_recover(f->kv, "v", "nope"), -ENOENT);
	assert_int_equal(kv_secret_purge(f->kv, "v", "nope"), -ENOENT);
	assert_int_equal(kv_secret_delete(f->kv, "nope", "b"), -ENOENT);

	/* List callbacks can stop. */
	set_str(f->kv, "v", "c", "charlie");
	l = (struct secret_list){ .stop_after = 1 };
	assert_int_equal(kv_secret_list(f->kv, "v", false, collect_secret, &l), -ECANCELED);
	assert_int_equal(l.n, 1);
}

static void test_ids_never_reused(void **state)
{
	const struct fixture *f = *state;
	struct version_list vl = { 0 };
	int64_t old_id, new_id;
	char sql[128];

	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);
	set_str(f->kv, "v", "s", "old-1");
	set_str(f->kv, "v", "s", "old-2");
	set_str(f->kv, "v", "s", "old-3");
	old_id = secret_id(f->kv, "v", "s", false);
	assert_int_equal(kv_secret_delete(f->kv, "v", "s"), 0);
	assert_int_equal(kv_secret_purge(f->kv, "v", "s"), 0);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM versions WHERE object_id = %lld",
		 (long long)old_id);
	assert_int_equal(raw_int(f->path, sql), 0);

	assert_int_equal(set_str(f->kv, "v", "s", "new-1"), 1);
	new_id = secret_id(f->kv, "v", "s", false);
	assert_true(new_id > old_id);
	get_str(f->kv, "v", "s", 0, "new-1");
	get_fails(f->kv, "v", "s", 2, -ENOENT);
	get_fails(f->kv, "v", "s", 3, -ENOENT);
	assert_int_equal(kv_secret_versions(f->kv, "v", "s", collect_version, &vl), 0);
	assert_int_equal(vl.n, 1);
	assert_int_equal(vl.v[0].size, 5);

	/* Also across vaults: a purged vault's successor does not revive old rows. */
	assert_int_equal(kv_secret_delete(f->kv, "v", "s"), 0);
	assert_int_equal(kv_secret_purge(f->kv, "v", "s"), 0);
	assert_int_equal(kv_vault_delete(f->kv, "v"), 0);
	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);
	assert_int_equal(set_str(f->kv, "v", "s", "newer"), 1);
	assert_true(secret_id(f->kv, "v", "s", false) > new_id);
	get_str(f->kv, "v", "s", 0, "newer");
}

/* --- integrity --- */

/* Two secrets a and b with two versions of equal length each. */
static void two_secrets(const struct fixture *f, int64_t *ret_a, int64_t *ret_b)
{
	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);
	set_str(f->kv, "v", "a", "alpha-secret-1");
	set_str(f->kv, "v", "a", "alpha-secret-2");
	set_str(f->kv, "v", "b", "bravo-secret-1");
	set_str(f->kv, "v", "b", "bravo-secret-2");
	*ret_a = secret_id(f->kv, "v", "a", false);
	*ret_b = secret_id(f->kv, "v", "b", false);
}

static void test_tamper_ciphertext_swap(void **state)
{
	const struct fixture *f = *state;
	char wa[64], wb[64], wa2[64];
	int64_t a, b;

	two_secrets(f, &a, &b);
	where_version(wa, sizeof(wa), a, 1);
	where_version(wb, sizeof(wb), b, 1);
	where_version(wa2, sizeof(wa2), a, 2);

	/* Between secrets: the metadata still checks out, the values do not open. */
	raw_swap(f->path, "versions", "ciphertext", wa, wb);
	get_fails(f->kv, "v", "a", 1, -EBADMSG);
	get_fails(f->kv, "v", "b", 1, -EBADMSG);
	assert_int_equal(info_ok(f->kv, "v", "a", 1).size, 14);
	get_str(f->kv, "v", "a", 2, "alpha-secret-2");
	raw_swap(f->path, "versions", "ciphertext", wa, wb);
	get_str(f->kv, "v", "a", 1, "alpha-secret-1");
	get_str(f->kv, "v", "b", 1, "bravo-secret-1");

	/* Between versions of one secret. */
	raw_swap(f->path, "versions", "ciphertext", wa, wa2);
	get_fails(f->kv, "v", "a", 1, -EBADMSG);
	get_fails(f->kv, "v", "a", 2, -EBADMSG);
	raw_swap(f->path, "versions", "ciphertext", wa, wa2);
	get_str(f->kv, "v", "a", 0, "alpha-secret-2");

	/* Data key and ciphertext moved together: the AAD still names the other row. */
	raw_swap(f->path, "versions", "ciphertext,wrapped_dek", wa, wb);
	get_fails(f->kv, "v", "a", 1, -EBADMSG);
	get_fails(f->kv, "v", "b", 1, -EBADMSG);
	/* Key, ciphertext and MAC together: the MAC names the other row. */
	raw_swap(f->path, "versions", "mac", wa, wb);
	get_fails(f->kv, "v", "a", 1, -EBADMSG);
	get_fails(f->kv, "v", "b", 1, -EBADMSG);
	info_fails(f->kv, "v", "a", 1, -EBADMSG);
}

static void test_tamper_ciphertext_bytes(void **state)
{
	const struct fixture *f = *state;
	int64_t a, b;

	two_secrets(f, &a, &b);
	raw_exec(f->path, "UPDATE versions SET ciphertext = zeroblob(length(ciphertext)) "
			  "WHERE version = 2");
	get_fails(f->kv, "v", "a", 0, -EBADMSG);
	get_fails(f->kv, "v", "b", 0, -EBADMSG);
	get_str(f->kv, "v", "a", 1, "alpha-secret-1");
	/* A shorter ciphertext: its length is in the MAC. */
	raw_exec(f->path, "UPDATE versions SET ciphertext = substr(ciphertext, 1, "
			  "length(ciphertext) - 1) WHERE version = 1");
	get_fails(f->kv, "v", "a", 1, -EBADMSG);
	info_fails(f->kv, "v", "a", 1, -EBADMSG);
}

static void test_tamper_flags(void **state)
{
	const struct fixture *f = *state;
	struct kv_attrs off = { .enabled = 0 };
	struct kv_attrs exp = { .enabled = 1, .expires = T0 + 10 };
	struct version_list vl = { 0 };

	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);
	set_ok(f->kv, "v", "off", "x", 1, &off);
	set_str(f->kv, "v", "on", "y");
	set_ok(f->kv, "v", "exp", "z", 1, &exp);
	set_str(f->kv, "v", "tagged", "t");

	raw_exec(f->path, "UPDATE versions SET enabled = 1 WHERE enabled = 0");
	get_fails(f->kv, "v", "off", 0, -EBADMSG);
	info_fails(f->kv, "v", "off", 0, -EBADMSG);
	assert_int_equal(kv_secret_versions(f->kv, "v", "off", collect_version, &vl), -EBADMSG);
	assert_int_equal(vl.n, 0);

	raw_exec(f->path, "UPDATE versions SET enabled = 0 WHERE object_id = "
			  "(SELECT id FROM objects WHERE name = 'on')");
	get_fails(f->kv, "v", "on", 0, -EBADMSG);

	kv_set_clock(f->kv, T0 + 20);
	get_fails(f->kv, "v", "exp", 0, -EKEYEXPIRED);
	raw_exec(f->path, "UPDATE versions SET expires = 0 WHERE expires != 0");
	get_fails(f->kv, "v", "exp", 0, -EBADMSG);

	raw_exec(f->path, "UPDATE versions SET tags = 'owner=mallory\n' WHERE object_id = "
			  "(SELECT id FROM objects WHERE name = 'tagged')");
	info_fails(f->kv, "v", "tagged", 0, -EBADMSG);
	get_fails(f->kv, "v", "tagged", 0, -EBADMSG);
}

static void test_tamper_current_version(void **state)
{
	const struct fixture *f = *state;
	struct secret_list l = { 0 };
	int64_t a, b;

	two_secrets(f, &a, &b);
	set_str(f->kv, "v", "a", "alpha-secret-3");
	raw_exec(f->path, "UPDATE objects SET current_version = 2 WHERE name = 'a'");
	get_fails(f->kv, "v", "a", 0, -EBADMSG);
	get_fails(f->kv, "v", "a", 1, -EBADMSG);
	get_fails(f->kv, "v", "a", 2, -EBADMSG);
	info_fails(f->kv, "v", "a", 0, -EBADMSG);
	set_fails(f->kv, "v", "a", "x", 1, NULL, -EBADMSG);
	assert_int_equal(kv_secret_delete(f->kv, "v", "a"), -EBADMSG);
	assert_int_equal(kv_secret_list(f->kv, "v", false, collect_secret, &l), -EBADMSG);
	get_str(f->kv, "v", "b", 0, "bravo-secret-2");
}

static void test_tamper_newest_dropped(void **state)
{
	const struct fixture *f = *state;
	struct version_list vl = { 0 };
	char sql[128];
	int64_t a, b;

	two_secrets(f, &a, &b);
	set_str(f->kv, "v", "a", "alpha-secret-3");
	snprintf(sql, sizeof(sql), "DELETE FROM versions WHERE object_id = %lld AND version = 3",
		 (long long)a);
	raw_exec(f->path, sql);
	get_fails(f->kv, "v", "a", 0, -EBADMSG);
	get_fails(f->kv, "v", "a", 1, -EBADMSG);
	info_fails(f->kv, "v", "a", 2, -EBADMSG);
	set_fails(f->kv, "v", "a", "x", 1, NULL, -EBADMSG);
	assert_int_equal(kv_secret_versions(f->kv, "v", "a", collect_version, &vl), -EBADMSG);

	/* A version in the middle: that one, and the listing, are -EBADMSG. */
	snprintf(sql, sizeof(sql), "DELETE FROM versions WHERE object_id = %lld AND version = 1",
		 (long long)b);
	set_str(f->kv, "v", "b", "bravo-secret-3");
	raw_exec(f->path, sql);
	get_fails(f->kv, "v", "b", 1, -EBADMSG);
	memset(&vl, 0, sizeof(vl));
	assert_int_equal(kv_secret_versions(f->kv, "v", "b", collect_version, &vl), -EBADMSG);
	get_str(f->kv, "v", "b", 3, "bravo-secret-3");
}

static void test_tamper_names(void **state)
{
	const struct fixture *f = *state;
	struct kv_vault_info vi;
	struct vault_list vl = { 0 };
	int64_t a, b;

	two_secrets(f, &a, &b);
	raw_exec(f->path, "UPDATE objects SET name = 'c' WHERE name = 'a'");
	get_fails(f->kv, "v", "c", 0, -EBADMSG);
	get_fails(f->kv, "v", "a", 0, -ENOENT);
	get_str(f->kv, "v", "b", 0, "bravo-secret-2");

	assert_int_equal(kv_vault_create(f->kv, "w", 0), 0);
	raw_exec(f->path, "UPDATE vaults SET name = 'x' WHERE name = 'w'");
	assert_int_equal(kv_vault_get(f->kv, "x", &vi), -EBADMSG);
	assert_int_equal(kv_vault_get(f->kv, "w", &vi), -ENOENT);
	assert_int_equal(kv_vault_list(f->kv, collect_vault, &vl), -EBADMSG);

	/* A soft delete undone behind our back. */
	assert_int_equal(kv_secret_delete(f->kv, "v", "b"), 0);
	raw_exec(f->path, "UPDATE objects SET deleted_at = 0 WHERE name = 'b'");
	get_fails(f->kv, "v", "b", 0, -EBADMSG);
}

/* Rows read once are believed again only while nothing changed: an edit through another
 * handle after they were read (and cached) is still found, at every kind of row. */
static void test_cache_sees_edits(void **state)
{
	const struct fixture *f = *state;
	struct kv_version_info info;
	char vname[VAULTFS_NAME_MAX + 1], oname[VAULTFS_NAME_MAX + 1];
	int64_t a, b;

	two_secrets(f, &a, &b);
	for (int i = 0; i < 3; i++) { /* read, then read what is cached */
		get_str(f->kv, "v", "a", 0, "alpha-secret-2");
		get_str(f->kv, "v", "a", 1, "alpha-secret-1");
		assert_int_equal(kv_secret_info(f->kv, "v", "b", 0, &info), 0);
		assert_int_equal(kv_object_names(f->kv, a, vname, oname), 0);
		assert_string_equal(vname, "v");
		assert_string_equal(oname, "a");
	}
	raw_exec(f->path, "UPDATE versions SET enabled = 0 WHERE version = 2");
	get_fails(f->kv, "v", "a", 0, -EBADMSG);
	info_fails(f->kv, "v", "b", 0, -EBADMSG);
	get_str(f->kv, "v", "a", 1, "alpha-secret-1"); /* untouched row */
	raw_exec(f->path, "UPDATE objects SET name = 'c' WHERE name = 'a'");
	assert_int_equal(kv_object_names(f->kv, a, vname, oname), -EBADMSG);
	raw_exec(f->path, "UPDATE vaults SET name = 'w' WHERE name = 'v'");
	assert_int_equal(kv_vault_name(f->kv, 1, vname), -EBADMSG);
	info_fails(f->kv, "w", "b", 0, -EBADMSG);
}

/* What kv itself writes is seen at the next read: the cache is for one generation. */
static void test_cache_own_writes(void **state)
{
	const struct fixture *f = *state;
	struct kv_attrs off = KV_ATTRS_KEEP;
	struct kv_vault_info vi;

	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);
	set_str(f->kv, "v", "s", "one");
	get_str(f->kv, "v", "s", 0, "one");
	set_str(f->kv, "v", "s", "two");
	get_str(f->kv, "v", "s", 0, "two");
	get_str(f->kv, "v", "s", 1, "one");
	off.enabled = 0;
	assert_int_equal(kv_secret_update(f->kv, "v", "s", 0, &off), 0);
	get_fails(f->kv, "v", "s", 0, -EKEYREVOKED);
	assert_int_equal(kv_secret_delete(f->kv, "v", "s"), 0);
	get_fails(f->kv, "v", "s", 1, -ENOENT);
	info_fails(f->kv, "v", "s", 0, -ENOENT);
	assert_int_equal(kv_secret_recover(f->kv, "v", "s"), 0);
	get_str(f->kv, "v", "s", 1, "one");
	assert_int_equal(kv_vault_get(f->kv, "v", &vi), 0);
	assert_false(vi.purge_protection);
	assert_int_equal(kv_vault_protect(f->kv, "v"), 0);
	assert_int_equal(kv_vault_get(f->kv, "v", &vi), 0);
	assert_true(vi.purge_protection);
}

/* More secrets than the cache holds, read round and round: every answer right. */
static void test_cache_bounded(void **state)
{
	const struct fixture *f = *state;
	char name[16], value[32];

	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		snprintf(value, sizeof(value), "value-%d", i);
		set_str(f->kv, "v", name, value);
	}
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 40; i++) {
			snprintf(name, sizeof(name), "s%d", (i * 7) % 40);
			snprintf(value, sizeof(value), "value-%d", (i * 7) % 40);
			get_str(f->kv, "v", name, 0, value);
		}
}

/* A session that puts its transaction off (nothing committed since the cache was filled):
 * what the cache holds is served as the store was at the session's start; a commit that lands
 * before the first row the cache does not hold is in every row read after that (the cache is
 * not read again in that session), and the next session sees it all. A write inside a session
 * is refused whether its transaction was begun or not. */
static void test_session_put_off(void **state)
{
	const struct fixture *f = *state;
	struct kv *other = kv_open(f->path, false, f->master);
	int64_t a, b;

	two_secrets(f, &a, &b);
	set_str(f->kv, "v", "p", "papa-1");
	set_str(f->kv, "v", "p", "papa-2");
	/* fill the cache; then sessions that need no row from the store */
	get_str(f->kv, "v", "a", 0, "alpha-secret-2");
	get_str(f->kv, "v", "p", 0, "papa-2");
	for (int i = 0; i < 2; i++) {
		assert_int_equal(kv_read_begin(f->kv), 0);
		get_str(f->kv, "v", "a", 0, "alpha-secret-2");
		set_fails(f->kv, "v", "c", "x", 1, NULL, -EBUSY);
		kv_read_end(f->kv);
	}
	/* a commit between sessions: the next one sees it */
	set_str(other, "v", "a", "alpha-secret-3");
	assert_int_equal(kv_read_begin(f->kv), 0);
	get_str(f->kv, "v", "a", 0, "alpha-secret-3");
	kv_read_end(f->kv);
	/* a commit inside a session, before its first row the cache does not hold (b) */
	assert_int_equal(kv_read_begin(f->kv), 0);
	get_str(f->kv, "v", "a", 0, "alpha-secret-3");
	set_str(other, "v", "a", "alpha-secret-4");
	get_str(f->kv, "v", "b", 0, "bravo-secret-2");
	get_str(f->kv, "v", "a", 0, "alpha-secret-4"); /* past the cache from b on */
	kv_read_end(f->kv);
	get_str(f->kv, "v", "a", 0, "alpha-secret-4");
	get_str(f->kv, "v", "a", 3, "alpha-secret-3");
	/* a secret purged inside a session whose cache holds its object row: the version the row
	 * points below is gone with it, which is not tampering */
	get_str(f->kv, "v", "p", 0, "papa-2");
	assert_int_equal(kv_read_begin(f->kv), 0);
	get_str(f->kv, "v", "p", 0, "papa-2");
	assert_int_equal(kv_secret_delete(other, "v", "p"), 0);
	assert_int_equal(kv_secret_purge(other, "v", "p"), 0);
	info_fails(f->kv, "v", "p", 1, -ENOENT);
	kv_read_end(f->kv);
	info_fails(f->kv, "v", "p", 0, -ENOENT);
	/* a row edited behind kv's back while a session is put off is found at the next one */
	get_str(f->kv, "v", "b", 0, "bravo-secret-2");
	raw_exec(f->path, "UPDATE versions SET enabled = 0 WHERE version = 2");
	assert_int_equal(kv_read_begin(f->kv), 0);
	get_fails(f->kv, "v", "b", 0, -EBADMSG);
	kv_read_end(f->kv);
	kv_free(other);
}

/* More vaults than kv keeps unwrapped keys for, read round and round: each value opens with
 * its own vault's key (another's would fail its AEAD check). */
static void test_vault_keys_bounded(void **state)
{
	const struct fixture *f = *state;
	struct kv *other = kv_open(f->path, false, f->master);
	char vault[16], value[32];

	for (int i = 0; i < 12; i++) {
		snprintf(vault, sizeof(vault), "v%d", i);
		snprintf(value, sizeof(value), "value-of-%d", i);
		assert_int_equal(kv_vault_create(f->kv, vault, 0), 0);
		set_str(f->kv, vault, "s", value);
	}
	/* read by this kv and by another that starts from another vault (its keys unwrapped
	 * afresh: a key kept for the wrong vault would not open what this one wrote) */
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 12; i++) {
			int k = (i * 5 + 7) % 12;

			snprintf(vault, sizeof(vault), "v%d", k);
			snprintf(value, sizeof(value), "value-of-%d", k);
			get_str(f->kv, vault, "s", 0, value);
			get_str(other, vault, "s", 0, value);
		}
	kv_free(other);
	/* a vault deleted and made again under its name: a new id, a new key */
	set_str(f->kv, "v3", "s", "again");
	assert_int_equal(kv_secret_delete(f->kv, "v3", "s"), 0);
	assert_int_equal(kv_secret_purge(f->kv, "v3", "s"), 0);
	assert_int_equal(kv_vault_delete(f->kv, "v3"), 0);
	assert_int_equal(kv_vault_create(f->kv, "v3", 0), 0);
	set_str(f->kv, "v3", "s", "new vault");
	get_str(f->kv, "v3", "s", 0, "new vault");
}

/* More versions than data keys are kept, in more vaults than vault keys are kept, read round
 * and round by two handles: every value exact. Each read is followed by one of the other
 * version of that secret and one of the same version of another secret, while the first one's
 * key is kept: a key served for the wrong version or object would not open them. */
static void test_data_keys_bounded(void **state)
{
	enum { VAULTS = 10, SECRETS = 4, VERSIONS = 2, N = VAULTS * SECRETS * VERSIONS };
	const struct fixture *f = *state;
	struct kv *other = kv_open(f->path, false, f->master);
	char vault[16], name[16], value[48];

	for (int v = 0; v < VAULTS; v++) {
		snprintf(vault, sizeof(vault), "w%d", v);
		assert_int_equal(kv_vault_create(f->kv, vault, 0), 0);
		for (int sn = 0; sn < SECRETS; sn++)
			for (int ver = 1; ver <= VERSIONS; ver++) {
				snprintf(name, sizeof(name), "s%d", sn);
				snprintf(value, sizeof(value), "w%d/s%d@%d", v, sn, ver);
				assert_int_equal(set_str(f->kv, vault, name, value), (uint32_t)ver);
			}
	}
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < N; i++) {
			int k[3], ko = (i * 13 + 5 + round) % N;

			k[0] = (i * 37 + round * 11) % N;
			k[1] = k[0] ^ 1;				  /* other version */
			k[2] = (k[0] + VERSIONS) % (SECRETS * VERSIONS) + /* other secret */
			       k[0] / (SECRETS * VERSIONS) * (SECRETS * VERSIONS);
			for (int j = 0; j < 4; j++) {
				int x = j < 3 ? k[j] : ko;
				struct kv *kv = j < 3 ? f->kv : other;
				int v = x / (SECRETS * VERSIONS), sn = x / VERSIONS % SECRETS;
				int ver = x % VERSIONS + 1;

				snprintf(vault, sizeof(vault), "w%d", v);
				snprintf(name, sizeof(name), "s%d", sn);
				snprintf(value, sizeof(value), "w%d/s%d@%d", v, sn, ver);
				get_str(kv, vault, name, (uint32_t)ver, value);
				if (ver == VERSIONS)
					get_str(kv, vault, name, 0, value);
			}
		}
	kv_free(other);
}

static size_t raw_get(const char *path, const char *table, const char *col, const char *where,
		      uint8_t **ret)
{
	sqlite3 *db = raw_open(path);
	size_t n = raw_blob(db, table, col, where, ret);

	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	return n;
}

static void raw_put(const char *path, const char *table, const char *col, const char *where,
		    const uint8_t *p, size_t n)
{
	sqlite3 *db = raw_open(path);

	raw_set_blob(db, table, col, where, p, n);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* The rows of vault v / secret s version 1 that carry keys, as blobs. */
struct key_rows {
	uint8_t *b[5]; /* vault wrapped_key, vault mac, version wrapped_dek, mac, ciphertext */
	size_t n[5];
};

static const char *const key_row_table[5] = { "vaults", "vaults", "versions", "versions",
					      "versions" };
static const char *const key_row_col[5] = { "wrapped_key", "mac", "wrapped_dek", "mac",
					    "ciphertext" };
static const char *const key_row_where[5] = { "id = 1", "id = 1", "object_id = 1 AND version = 1",
					      "object_id = 1 AND version = 1",
					      "object_id = 1 AND version = 1" };
enum { KR_VAULT_KEY, KR_VAULT_MAC, KR_DEK, KR_VERSION_MAC, KR_CIPHERTEXT };

static void key_rows_get(const char *path, struct key_rows *ret)
{
	for (int i = 0; i < 5; i++)
		ret->n[i] = raw_get(path, key_row_table[i], key_row_col[i], key_row_where[i],
				    &ret->b[i]);
}

/* Write the blobs from..to (inclusive) of rows into the store at path. */
static void key_rows_put(const char *path, const struct key_rows *rows, int from, int to)
{
	for (int i = from; i <= to; i++)
		raw_put(path, key_row_table[i], key_row_col[i], key_row_where[i], rows->b[i],
			rows->n[i]);
}

static void key_rows_free(struct key_rows *rows)
{
	for (int i = 0; i < 5; i++)
		free(rows->b[i]);
}

/* Keys are kept for every input of their unwrap. A second store under the same master key,
 * made the same way at the same time, has rows with the same ids, names and dates, so its
 * wrapped keys moved here come with MACs that check out: only the keys tell them apart. A
 * version row whose wrapped data key is other bytes, or whose vault's key is, is unwrapped
 * afresh (and fails) instead of being served the data key kept for the old bytes. */
static void test_data_key_rewritten(void **state)
{
	const struct fixture *f = *state;
	struct key_rows a, b;
	struct kv_vault_info vi;
	char other[128];
	struct kv *kb;

	snprintf(other, sizeof(other), "%s/other.db", f->dir);
	kb = kv_open(other, true, f->master);
	assert_int_equal(kv_vault_create(kb, "v", 0), 0);
	set_str(kb, "v", "s", "value-of-B");
	kv_free(kb);
	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);
	set_str(f->kv, "v", "s", "value-of-A");
	assert_int_equal(secret_id(f->kv, "v", "s", false), 1);
	assert_int_equal(raw_int(other, "SELECT id FROM objects WHERE name = 's'"), 1);
	key_rows_get(f->path, &a);
	key_rows_get(other, &b);
	assert_memory_not_equal(a.b[KR_DEK], b.b[KR_DEK], CRYPTO_WRAPPED_KEY_LEN);

	/* its data key kept, then B's wrapped data key (and MAC) in the row */
	get_str(f->kv, "v", "s", 0, "value-of-A");
	get_str(f->kv, "v", "s", 1, "value-of-A");
	key_rows_put(f->path, &b, KR_DEK, KR_VERSION_MAC);
	assert_int_equal(info_ok(f->kv, "v", "s", 1).size, 10); /* the row checks out */
	get_fails(f->kv, "v", "s", 1, -EBADMSG);
	get_fails(f->kv, "v", "s", 0, -EBADMSG);
	key_rows_put(f->path, &a, KR_DEK, KR_VERSION_MAC);
	get_str(f->kv, "v", "s", 1, "value-of-A");

	/* B's vault key (and MAC) in the vault row: A's data key does not open under it */
	key_rows_put(f->path, &b, KR_VAULT_KEY, KR_VAULT_MAC);
	assert_int_equal(kv_vault_get(f->kv, "v", &vi), 0); /* the row checks out */
	get_fails(f->kv, "v", "s", 1, -EBADMSG);
	/* and all of B's rows: B's value */
	key_rows_put(f->path, &b, KR_DEK, KR_CIPHERTEXT);
	get_str(f->kv, "v", "s", 1, "value-of-B");
	get_str(f->kv, "v", "s", 0, "value-of-B");
	/* A's vault key under B's data key row */
	key_rows_put(f->path, &a, KR_VAULT_KEY, KR_VAULT_MAC);
	get_fails(f->kv, "v", "s", 1, -EBADMSG);
	/* all of A again */
	key_rows_put(f->path, &a, KR_DEK, KR_CIPHERTEXT);
	get_str(f->kv, "v", "s", 1, "value-of-A");
	key_rows_free(&a);
	key_rows_free(&b);
}

/* --- rows forged as kv writes them (its key hierarchy and MAC format redone here, with the
 * master key), for rows whose MAC checks out but whose keys were moved --- */

static void le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static size_t forge_object_aad(int64_t vault, int64_t object, uint32_t version, char purpose,
			       uint8_t aad[48])
{
	memcpy(aad, "vaultfs object v1", 17);
	le64(aad + 17, (uint64_t)vault);
	le64(aad + 25, (uint64_t)object);
	le64(aad + 33, version);
	aad[41] = OBJECT_SECRET;
	aad[42] = (uint8_t)purpose;
	return 43;
}

/* The unwrapped key of vault 1. */
static struct secbuf *forge_vault_key(const struct fixture *f)
{
	uint8_t wrap[CRYPTO_KEY_LEN], aad[28], *w;
	struct secbuf *k = NULL;

	assert_int_equal(crypto_hkdf(f->master, sizeof(f->master), "vaultfs vault-wrap v1", wrap,
				     sizeof(wrap)),
			 0);
	memcpy(aad, "vaultfs vault-key v1", 20);
	le64(aad + 20, 1);
	assert_int_equal(raw_get(f->path, "vaults", "wrapped_key", "id = 1", &w),
			 CRYPTO_WRAPPED_KEY_LEN);
	assert_int_equal(crypto_unwrap_key(wrap, aad, sizeof(aad), w, CRYPTO_WRAPPED_KEY_LEN, &k),
			 0);
	secure_wipe(wrap, sizeof(wrap));
	free(w);
	return k;
}

static void mb_put(uint8_t *b, size_t *n, const void *p, size_t len)
{
	assert_true(*n + len <= 256);
	memcpy(b + *n, p, len);
	*n += len;
}

static void mb_put64(uint8_t *b, size_t *n, uint64_t v)
{
	uint8_t le[8];

	le64(le, v);
	mb_put(b, n, le, sizeof(le));
}

/* The MAC of a version row as kv_secret_set with no attributes writes it at T0. */
static void forge_version_mac(const struct fixture *f, int64_t object, uint32_t version,
			      const uint8_t wrapped[CRYPTO_WRAPPED_KEY_LEN], size_t ct_len,
			      uint8_t out[CRYPTO_MAC_LEN])
{
	static const char tag[] = "vaultfs.version.v1";
	uint8_t b[256], key[CRYPTO_KEY_LEN];
	size_t n = 0;

	mb_put64(b, &n, sizeof(tag) - 1);
	mb_put(b, &n, tag, sizeof(tag) - 1);
	mb_put64(b, &n, (uint64_t)object);
	mb_put64(b, &n, version);
	mb_put64(b, &n, 1);  /* enabled */
	mb_put64(b, &n, 0);  /* not_before */
	mb_put64(b, &n, 0);  /* expires */
	mb_put64(b, &n, T0); /* created */
	mb_put64(b, &n, T0); /* updated */
	mb_put64(b, &n, 0);  /* content type "" */
	mb_put64(b, &n, 0);  /* tags "" */
	mb_put64(b, &n, CRYPTO_WRAPPED_KEY_LEN);
	mb_put(b, &n, wrapped, CRYPTO_WRAPPED_KEY_LEN);
	mb_put64(b, &n, ct_len);
	assert_int_equal(
		crypto_hkdf(f->master, sizeof(f->master), "vaultfs mac v1", key, sizeof(key)), 0);
	assert_int_equal(crypto_hmac(key, b, n, out), 0);
	secure_wipe(key, sizeof(key));
}

/* Put into version row (object, version) the wrapped data key `wrapped`, a value sealed under
 * dek for that row's AAD, and the MAC that makes the row check out. */
static void forge_row(const struct fixture *f, int64_t object, uint32_t version,
		      const uint8_t wrapped[CRYPTO_WRAPPED_KEY_LEN], const struct secbuf *dek,
		      const char *value)
{
	uint8_t aad[48], ct[64], mac[CRYPTO_MAC_LEN];
	size_t n = strlen(value), aadlen = forge_object_aad(1, object, version, 'v', aad);
	char where[64];

	assert_true(n + CRYPTO_AEAD_OVERHEAD <= sizeof(ct));
	assert_int_equal(crypto_aead_seal(dek->data, aad, aadlen, value, n, ct), 0);
	forge_version_mac(f, object, version, wrapped, n + CRYPTO_AEAD_OVERHEAD, mac);
	where_version(where, sizeof(where), object, version);
	raw_put(f->path, "versions", "wrapped_dek", where, wrapped, CRYPTO_WRAPPED_KEY_LEN);
	raw_put(f->path, "versions", "ciphertext", where, ct, n + CRYPTO_AEAD_OVERHEAD);
	raw_put(f->path, "versions", "mac", where, mac, sizeof(mac));
}

/* A data key is kept for its row's object and version, not only for its wrapped bytes: the
 * wrapped data key of a@1, kept, moved as it is into a@2 (another version) or b@1 (another
 * object) with a value sealed under that key and a MAC that checks out, is not served from
 * what is kept: the bytes were wrapped for a@1's AAD and do not unwrap for the row they are
 * in. (The same key wrapped for the row it is in opens: the forged rows are good rows.) */
static void test_data_key_moved(void **state)
{
	const struct fixture *f = *state;
	struct secbuf *vkey, *dek = NULL;
	uint8_t aad[48], rewrapped[CRYPTO_WRAPPED_KEY_LEN], mac[CRYPTO_MAC_LEN], *wa1, *m;
	struct key_rows a2 = { 0 }, b1 = { 0 };
	char where[64];
	int64_t a, b;

	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);
	set_str(f->kv, "v", "a", "alpha-1");
	set_str(f->kv, "v", "a", "alpha-2");
	set_str(f->kv, "v", "b", "bravo-1");
	a = secret_id(f->kv, "v", "a", false);
	b = secret_id(f->kv, "v", "b", false);
	vkey = forge_vault_key(f);
	where_version(where, sizeof(where), a, 1);
	assert_int_equal(raw_get(f->path, "versions", "wrapped_dek", where, &wa1),
			 CRYPTO_WRAPPED_KEY_LEN);
	assert_int_equal(crypto_unwrap_key(vkey->data, aad, forge_object_aad(1, a, 1, 'k', aad),
					   wa1, CRYPTO_WRAPPED_KEY_LEN, &dek),
			 0);
	/* the forger's MAC of a@1 as it is: the one kv wrote */
	forge_version_mac(f, a, 1, wa1, 7 + CRYPTO_AEAD_OVERHEAD, mac);
	assert_int_equal(raw_get(f->path, "versions", "mac", where, &m), CRYPTO_MAC_LEN);
	assert_memory_equal(m, mac, CRYPTO_MAC_LEN);
	free(m);
	for (int i = KR_DEK; i <= KR_CIPHERTEXT; i++) { /* the rows put back at the end */
		where_version(where, sizeof(where), a, 2);
		a2.n[i] = raw_get(f->path, "versions", key_row_col[i], where, &a2.b[i]);
		where_version(where, sizeof(where), b, 1);
		b1.n[i] = raw_get(f->path, "versions", key_row_col[i], where, &b1.b[i]);
	}

	/* a@1's key wrapped for a@2: opens */
	assert_int_equal(crypto_wrap_key(vkey->data, aad, forge_object_aad(1, a, 2, 'k', aad),
					 dek->data, rewrapped),
			 0);
	forge_row(f, a, 2, rewrapped, dek, "forged!");
	get_str(f->kv, "v", "a", 2, "forged!");
	/* a@1's wrapped bytes as they are, in a@2, a@1's key kept */
	get_str(f->kv, "v", "a", 1, "alpha-1");
	forge_row(f, a, 2, wa1, dek, "forged!");
	assert_int_equal(info_ok(f->kv, "v", "a", 2).size, 7); /* the row checks out */
	get_str(f->kv, "v", "a", 1, "alpha-1");
	get_fails(f->kv, "v", "a", 2, -EBADMSG);
	/* and in b@1 */
	forge_row(f, b, 1, wa1, dek, "forged!");
	assert_int_equal(info_ok(f->kv, "v", "b", 1).size, 7);
	get_str(f->kv, "v", "a", 1, "alpha-1");
	get_fails(f->kv, "v", "b", 1, -EBADMSG);
	get_fails(f->kv, "v", "b", 0, -EBADMSG);

	/* put back */
	for (int i = KR_DEK; i <= KR_CIPHERTEXT; i++) {
		where_version(where, sizeof(where), a, 2);
		raw_put(f->path, "versions", key_row_col[i], where, a2.b[i], a2.n[i]);
		where_version(where, sizeof(where), b, 1);
		raw_put(f->path, "versions", key_row_col[i], where, b1.b[i], b1.n[i]);
	}
	get_str(f->kv, "v", "a", 2, "alpha-2");
	get_str(f->kv, "v", "b", 1, "bravo-1");
	get_str(f->kv, "v", "a", 1, "alpha-1");
	key_rows_free(&a2);
	key_rows_free(&b1);
	free(wa1);
	secbuf_free(dek);
	secbuf_free(vkey);
}

/* A secret purged and made again under its name is a new object: its values open with its own
 * keys, version for version, after the old one's were kept. */
static void test_data_key_recreated(void **state)
{
	const struct fixture *f = *state;
	int64_t id1, id2;

	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);
	set_str(f->kv, "v", "s", "first-1");
	set_str(f->kv, "v", "s", "first-2");
	id1 = secret_id(f->kv, "v", "s", false);
	get_str(f->kv, "v", "s", 1, "first-1");
	get_str(f->kv, "v", "s", 2, "first-2");
	assert_int_equal(kv_secret_delete(f->kv, "v", "s"), 0);
	assert_int_equal(kv_secret_purge(f->kv, "v", "s"), 0);
	set_str(f->kv, "v", "s", "second-1");
	id2 = secret_id(f->kv, "v", "s", false);
	assert_true(id2 != id1);
	get_str(f->kv, "v", "s", 1, "second-1");
	get_str(f->kv, "v", "s", 0, "second-1");
	get_fails(f->kv, "v", "s", 2, -ENOENT);
	set_str(f->kv, "v", "s", "second-2");
	get_str(f->kv, "v", "s", 2, "second-2");
	get_str(f->kv, "v", "s", 1, "second-1");
}

/* A read session: one snapshot for its reads, no writes inside, one at a time. */
static void test_read_session(void **state)
{
	const struct fixture *f = *state;
	char vname[VAULTFS_NAME_MAX + 1], oname[VAULTFS_NAME_MAX + 1];
	struct kv_vault_info vi;
	struct secret_list l = { 0 };
	int64_t a, b;

	two_secrets(f, &a, &b);
	kv_read_end(NULL);
	kv_read_end(f->kv); /* none open: nothing to do */
	assert_int_equal(kv_read_begin(f->kv), 0);
	assert_int_equal(kv_read_begin(f->kv), -EBUSY);
	get_str(f->kv, "v", "a", 0, "alpha-secret-2");
	assert_int_equal(kv_vault_get(f->kv, "v", &vi), 0);
	assert_int_equal(kv_object_names(f->kv, b, vname, oname), 0);
	assert_string_equal(oname, "b");
	assert_int_equal(kv_secret_list(f->kv, "v", false, collect_secret, &l), 0);
	assert_int_equal(l.n, 2);
	/* no writes inside */
	set_fails(f->kv, "v", "c", "x", 1, NULL, -EBUSY);
	assert_int_equal(kv_vault_create(f->kv, "w", 0), -EBUSY);
	/* another connection's commit is not seen inside the snapshot... */
	raw_exec(f->path, "UPDATE versions SET enabled = 0 WHERE version = 2");
	get_str(f->kv, "v", "a", 0, "alpha-secret-2");
	get_str(f->kv, "v", "b", 0, "bravo-secret-2");
	kv_read_end(f->kv);
	/* ...and is after it */
	get_fails(f->kv, "v", "a", 0, -EBADMSG);
	get_fails(f->kv, "v", "b", 0, -EBADMSG);
	/* writes work again once it is over */
	set_str(f->kv, "v", "c", "charlie");
	get_str(f->kv, "v", "c", 0, "charlie");
	/* a session whose reads fail still ends */
	assert_int_equal(kv_read_begin(f->kv), 0);
	get_fails(f->kv, "v", "missing", 0, -ENOENT);
	get_fails(f->kv, "nope", "a", 0, -ENOENT);
	get_str(f->kv, "v", "c", 0, "charlie");
	kv_read_end(f->kv);
	set_str(f->kv, "v", "d", "delta");
}

/* A session scoped by the cleanup helper: one at a time, ended with its scope or early. */
static void test_read_session_scoped(void **state)
{
	const struct fixture *f = *state;
	int64_t a, b;

	two_secrets(f, &a, &b);
	{
		_cleanup_kv_read_ struct kv *session = kv_read_scoped(f->kv);
		_cleanup_kv_read_ struct kv *inner = kv_read_scoped(f->kv);

		assert_ptr_equal(session, f->kv);
		assert_null(inner); /* one is open: the inner scope ends none */
		get_str(f->kv, "v", "a", 0, "alpha-secret-2");
		set_fails(f->kv, "v", "c", "x", 1, NULL, -EBUSY);
	}
	set_str(f->kv, "v", "c", "charlie"); /* ended with its scope */
	{
		_cleanup_kv_read_ struct kv *session = kv_read_scoped(f->kv);

		assert_non_null(session);
		get_str(f->kv, "v", "c", 0, "charlie");
		kv_read_end(TAKE_PTR(session));
		set_str(f->kv, "v", "d", "delta"); /* ended early */
		session = kv_read_scoped(f->kv);
		assert_non_null(session);
		get_str(f->kv, "v", "d", 0, "delta");
	}
	set_str(f->kv, "v", "e", "echo");
}

static void test_tamper_vault_key_swap(void **state)
{
	const struct fixture *f = *state;
	struct kv_vault_info vi;

	assert_int_equal(kv_vault_create(f->kv, "v1", 0), 0);
	assert_int_equal(kv_vault_create(f->kv, "v2", 0), 0);
	set_str(f->kv, "v1", "s", "one");
	set_str(f->kv, "v2", "s", "two");

	raw_swap(f->path, "vaults", "wrapped_key", "name = 'v1'", "name = 'v2'");
	get_fails(f->kv, "v1", "s", 0, -EBADMSG);
	get_fails(f->kv, "v2", "s", 0, -EBADMSG);
	assert_int_equal(kv_vault_get(f->kv, "v1", &vi), -EBADMSG);
	set_fails(f->kv, "v1", "t", "x", 1, NULL, -EBADMSG);
	/* With the MACs swapped too: they name the other vault. */
	raw_swap(f->path, "vaults", "mac", "name = 'v1'", "name = 'v2'");
	get_fails(f->kv, "v1", "s", 0, -EBADMSG);
	get_fails(f->kv, "v2", "s", 0, -EBADMSG);
	/* Both back: all is well again. */
	raw_swap(f->path, "vaults", "wrapped_key,mac", "name = 'v1'", "name = 'v2'");
	get_str(f->kv, "v1", "s", 0, "one");
	get_str(f->kv, "v2", "s", 0, "two");

	raw_exec(f->path, "UPDATE vaults SET retention_days = 7 WHERE name = 'v2'");
	assert_int_equal(kv_vault_get(f->kv, "v2", &vi), -EBADMSG);
	raw_exec(f->path, "UPDATE vaults SET purge_protection = 1 WHERE name = 'v1'");
	assert_int_equal(kv_vault_get(f->kv, "v1", &vi), -EBADMSG);
}

static void test_wrong_master(void **state)
{
	struct fixture *f = *state;
	struct vault_list vl = { 0 };
	struct kv_vault_info vi;
	uint8_t other[CRYPTO_KEY_LEN];
	struct kv *kv2;

	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);
	set_str(f->kv, "v", "s", "value");

	/* The same master through a fresh store handle: everything reads. */
	kv2 = kv_open(f->path, false, f->master);
	get_str(kv2, "v", "s", 0, "value");
	kv_free(kv2);

	test_random(other, sizeof(other));
	kv2 = kv_open(f->path, false, other);
	get_fails(kv2, "v", "s", 0, -EBADMSG);
	info_fails(kv2, "v", "s", 0, -EBADMSG);
	assert_int_equal(kv_vault_get(kv2, "v", &vi), -EBADMSG);
	assert_int_equal(kv_vault_list(kv2, collect_vault, &vl), -EBADMSG);
	set_fails(kv2, "v", "s", "x", 1, NULL, -EBADMSG);
	assert_int_equal(kv_secret_delete(kv2, "v", "s"), -EBADMSG);
	assert_int_equal(kv_vault_delete(kv2, "v"), -EBADMSG);
	kv_free(kv2);
	get_str(f->kv, "v", "s", 0, "value");
}

/* Does any of the store's files hold any 16-byte window (at stride) of p? */
static bool store_files_contain(const struct fixture *f, const uint8_t *p, size_t n, size_t stride,
				size_t *ret_total)
{
	static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
	bool found = false;

	*ret_total = 0;
	for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
		char path[128];
		uint8_t *buf;
		size_t len;
		int r;

		snprintf(path, sizeof(path), "%s%s", f->path, suffixes[i]);
		r = test_read_file(path, &buf, &len);
		if (r == -ENOENT)
			continue;
		assert_int_equal(r, 0);
		*ret_total += len;
		for (size_t off = 0; off + 16 <= n && !found; off += stride)
			found = memmem(buf, len, p + off, 16) != NULL;
		free(buf);
	}
	return found;
}

static void test_plaintext_not_on_disk(void **state)
{
	struct fixture *f = *state;
	static const char text[] = "hunter2-correct-horse-battery-staple-0123456789";
	const char *tags[] = { "marker=plain-tag-text-is-stored-as-is" };
	struct kv_attrs a = { .enabled = 1, .tags = tags, .n_tags = 1, .content_type = "" };
	uint8_t *value = malloc(8192);
	size_t total;

	assert_non_null(value);
	test_random(value, 8192);
	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);
	set_ok(f->kv, "v", "text", text, strlen(text), &a);
	set_ok(f->kv, "v", "bin", value, 8192, NULL);
	set_ok(f->kv, "v", "bin", value, 8192, NULL);
	get_eq(f->kv, "v", "bin", 1, value, 8192);
	get_str(f->kv, "v", "text", 0, text);
	assert_int_equal(kv_secret_delete(f->kv, "v", "text"), 0);
	assert_int_equal(kv_secret_recover(f->kv, "v", "text"), 0);

	/* The reading works: the (not secret) tag text is found where it is stored. */
	assert_true(store_files_contain(f, (const uint8_t *)tags[0], strlen(tags[0]), 1, &total));
	assert_true(total > 8192);
	assert_false(store_files_contain(f, (const uint8_t *)text, sizeof(text) - 1, 1, &total));
	assert_false(store_files_contain(f, value, 8192, 61, &total));
	assert_false(store_files_contain(f, f->master, sizeof(f->master), 1, &total));

	/* And after the WAL is checkpointed into the main file. */
	kv_free(f->kv);
	f->kv = kv_open(f->path, false, f->master);
	assert_true(store_files_contain(f, (const uint8_t *)tags[0], strlen(tags[0]), 1, &total));
	assert_false(store_files_contain(f, (const uint8_t *)text, sizeof(text) - 1, 1, &total));
	assert_false(store_files_contain(f, value, 8192, 61, &total));
	get_eq(f->kv, "v", "bin", 2, value, 8192);
	free(value);
}

/* --- retention and purge protection --- */

static void test_retention(void **state)
{
	const struct fixture *f = *state;
	static const struct {
		uint32_t days;
		int r;
		uint32_t kept;
	} cases[] = {
		{ 0, 0, VAULTFS_RETENTION_DEFAULT },
		{ 7, 0, 7 },
		{ 8, 0, 8 },
		{ 89, 0, 89 },
		{ 90, 0, 90 },
		{ 6, -EINVAL, 0 },
		{ 1, -EINVAL, 0 },
		{ 91, -EINVAL, 0 },
		{ UINT32_MAX, -EINVAL, 0 },
	};
	struct kv_vault_info vi;
	struct secret_list l;

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		char name[16];

		snprintf(name, sizeof(name), "v%zu", i);
		assert_int_equal(kv_vault_create(f->kv, name, cases[i].days), cases[i].r);
		if (cases[i].r < 0) {
			assert_int_equal(kv_vault_get(f->kv, name, &vi), -ENOENT);
			continue;
		}
		assert_int_equal(kv_vault_get(f->kv, name, &vi), 0);
		assert_int_equal(vi.retention_days, cases[i].kept);
		assert_false(vi.purge_protection);
	}
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM vaults"), 5);

	/* The retention gives purge_after of a soft-deleted secret. */
	set_str(f->kv, "v1", "s", "x");
	kv_set_clock(f->kv, T0 + 5);
	assert_int_equal(kv_secret_delete(f->kv, "v1", "s"), 0);
	l = list_secrets(f->kv, "v1", true);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.s[0].purge_after, T0 + 5 + 7 * DAY);
}

static void test_protect(void **state)
{
	const struct fixture *f = *state;
	struct kv_vault_info vi, before;
	struct vault_list vl = { 0 };
	struct kv *kv2;

	assert_int_equal(kv_vault_create(f->kv, "v", 7), 0);
	assert_int_equal(kv_vault_create(f->kv, "open", 7), 0);
	assert_int_equal(kv_vault_get(f->kv, "v", &before), 0);
	kv_set_clock(f->kv, T0 + 100);
	assert_int_equal(kv_vault_protect(f->kv, "v"), 0);
	assert_int_equal(kv_vault_get(f->kv, "v", &vi), 0);
	assert_true(vi.purge_protection);
	assert_int_equal(vi.retention_days, 7);
	assert_int_equal(vi.created, before.created);
	assert_int_equal(vi.id, before.id);
	/* Idempotent. */
	assert_int_equal(kv_vault_protect(f->kv, "v"), 0);
	assert_int_equal(kv_vault_get(f->kv, "v", &vi), 0);
	assert_true(vi.purge_protection);
	/* Only that vault. */
	assert_int_equal(kv_vault_get(f->kv, "open", &vi), 0);
	assert_false(vi.purge_protection);
	assert_int_equal(kv_vault_protect(f->kv, "nope"), -ENOENT);
	assert_int_equal(kv_vault_protect(f->kv, ".bad"), -EINVAL);
	assert_int_equal(kv_vault_protect(f->kv, NULL), -EINVAL);

	/* Purge before the retention is over: -EPERM, the secret stays deleted and recoverable. */
	kv_set_clock(f->kv, T0);
	set_str(f->kv, "v", "s", "kept");
	set_str(f->kv, "open", "s", "gone");
	assert_int_equal(kv_secret_delete(f->kv, "v", "s"), 0);
	assert_int_equal(kv_secret_delete(f->kv, "open", "s"), 0);
	assert_int_equal(kv_secret_purge(f->kv, "v", "s"), -EPERM);
	assert_int_equal(kv_secret_purge(f->kv, "open", "s"), 0);
	kv_set_clock(f->kv, T0 + 7 * DAY - 1);
	assert_int_equal(kv_secret_purge(f->kv, "v", "s"), -EPERM);
	assert_int_equal(list_secrets(f->kv, "v", true).n, 1);
	assert_int_equal(kv_secret_recover(f->kv, "v", "s"), 0);
	get_str(f->kv, "v", "s", 0, "kept");
	/* Deleted again: the retention counts from the new delete. */
	assert_int_equal(kv_secret_delete(f->kv, "v", "s"), 0);
	kv_set_clock(f->kv, T0 + 14 * DAY - 2);
	assert_int_equal(kv_secret_purge(f->kv, "v", "s"), -EPERM);
	kv_set_clock(f->kv, T0 + 14 * DAY - 1);
	assert_int_equal(kv_secret_purge(f->kv, "v", "s"), 0);
	assert_int_equal(list_secrets(f->kv, "v", true).n, 0);
	assert_int_equal(kv_secret_purge(f->kv, "v", "s"), -ENOENT);

	/* The new flag is under the MAC: a fresh handle reads it... */
	kv2 = kv_open(f->path, false, f->master);
	assert_int_equal(kv_vault_get(kv2, "v", &vi), 0);
	assert_true(vi.purge_protection);
	kv_free(kv2);
	/* ...and turning it off behind our back is found. */
	raw_exec(f->path, "UPDATE vaults SET purge_protection = 0 WHERE name = 'v'");
	assert_int_equal(kv_vault_get(f->kv, "v", &vi), -EBADMSG);
	assert_int_equal(kv_vault_list(f->kv, collect_vault, &vl), -EBADMSG);
	assert_int_equal(kv_vault_protect(f->kv, "v"), -EBADMSG);
	set_fails(f->kv, "v", "t", "x", 1, NULL, -EBADMSG);
	raw_exec(f->path, "UPDATE vaults SET purge_protection = 1 WHERE name = 'v'");
	assert_int_equal(kv_vault_get(f->kv, "v", &vi), 0);
	/* Turned on behind our back, likewise. */
	raw_exec(f->path, "UPDATE vaults SET purge_protection = 1 WHERE name = 'open'");
	assert_int_equal(kv_vault_get(f->kv, "open", &vi), -EBADMSG);
}

/* --- listing: the current version's expiry and state --- */

static void test_list_current_attrs(void **state)
{
	const struct fixture *f = *state;
	struct kv_attrs exp = { .enabled = 1, .expires = T0 + 100, .content_type = "" };
	struct kv_attrs off = { .enabled = 0, .content_type = "" };
	struct secret_list l;

	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);
	set_ok(f->kv, "v", "a", "x", 1, &exp);
	set_ok(f->kv, "v", "b", "x", 1, &off);
	set_ok(f->kv, "v", "c", "x", 1, &exp);
	set_str(f->kv, "v", "c", "y"); /* current: no expiry */
	set_str(f->kv, "v", "d", "x");
	set_ok(f->kv, "v", "d", "y", 1, &exp);
	set_ok(f->kv, "v", "e", "x", 1, &exp);
	assert_int_equal(kv_secret_delete(f->kv, "v", "e"), 0);

	l = list_secrets(f->kv, "v", false);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.s[0].name, "a");
	assert_int_equal(l.s[0].expires, T0 + 100);
	assert_true(l.s[0].enabled);
	assert_string_equal(l.s[1].name, "b");
	assert_int_equal(l.s[1].expires, 0);
	assert_false(l.s[1].enabled);
	assert_string_equal(l.s[2].name, "c");
	assert_int_equal(l.s[2].expires, 0);
	assert_true(l.s[2].enabled);
	assert_int_equal(l.s[2].current_version, 2);
	assert_string_equal(l.s[3].name, "d");
	assert_int_equal(l.s[3].expires, T0 + 100);
	l = list_secrets(f->kv, "v", true);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.s[0].expires, T0 + 100);
	assert_true(l.s[0].enabled);

	/* The update is seen; a tampered current version fails the listing. */
	{
		struct kv_attrs u = KV_ATTRS_KEEP;

		u.enabled = 0;
		u.expires = T0 + 7;
		assert_int_equal(kv_secret_update(f->kv, "v", "a", 0, &u), 0);
		l = list_secrets(f->kv, "v", false);
		assert_int_equal(l.s[0].expires, T0 + 7);
		assert_false(l.s[0].enabled);
	}
	raw_exec(f->path, "UPDATE versions SET enabled = 1 WHERE object_id = "
			  "(SELECT id FROM objects WHERE name = 'b')");
	memset(&l, 0, sizeof(l));
	assert_int_equal(kv_secret_list(f->kv, "v", false, collect_secret, &l), -EBADMSG);
}

/* --- backup and restore --- */

#define BK_HEADER_LEN 12u

static struct secbuf *backup_ok(struct kv *kv, const char *vault, const char *name)
{
	struct secbuf *blob = NULL;
	int r = kv_secret_backup(kv, vault, name, &blob);

	if (r != 0)
		fail_msg("backup %s/%s: %d", vault, name, r);
	assert_non_null(blob);
	assert_true(blob->len > BK_HEADER_LEN + CRYPTO_AEAD_OVERHEAD);
	assert_true(blob->len <= VAULTFS_BACKUP_MAX);
	return blob;
}

static void backup_fails(struct kv *kv, const char *vault, const char *name, int r)
{
	struct secbuf sentinel = { 0 };
	struct secbuf *blob = &sentinel;

	assert_int_equal(kv_secret_backup(kv, vault, name, &blob), r);
	assert_ptr_equal(blob, &sentinel);
}

static void restore_fails(struct kv *kv, const char *vault, const void *p, size_t n, int r)
{
	char name[VAULTFS_NAME_MAX + 1], untouched[VAULTFS_NAME_MAX + 1];
	int got;

	memset(name, 0x5a, sizeof(name));
	memcpy(untouched, name, sizeof(name));
	got = kv_secret_restore(kv, vault, p, n, name);
	if (got != r)
		fail_msg("restore into %s (%zu bytes): got %d, expected %d", vault, n, got, r);
	assert_memory_equal(name, untouched, sizeof(name));
}

static void restore_ok(struct kv *kv, const char *vault, const struct secbuf *blob,
		       const char *want_name)
{
	char name[VAULTFS_NAME_MAX + 1];
	int r = kv_secret_restore(kv, vault, blob->data, blob->len, name);

	if (r != 0)
		fail_msg("restore into %s: %d", vault, r);
	assert_string_equal(name, want_name);
}

/* Two listings of versions are the same but for the object id. */
static void versions_equal(const struct version_list *a, const struct version_list *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		const struct kv_version_info *x = &a->v[i], *y = &b->v[i];

		assert_int_equal(x->version, y->version);
		assert_int_equal(x->enabled, y->enabled);
		assert_int_equal(x->not_before, y->not_before);
		assert_int_equal(x->expires, y->expires);
		assert_int_equal(x->created, y->created);
		assert_int_equal(x->updated, y->updated);
		assert_string_equal(x->content_type, y->content_type);
		assert_string_equal(x->tags, y->tags);
		assert_int_equal(x->size, y->size);
	}
}

static struct version_list list_versions(struct kv *kv, const char *vault, const char *name)
{
	struct version_list l = { 0 };

	assert_int_equal(kv_secret_versions(kv, vault, name, collect_version, &l), 0);
	return l;
}

/* A secret "s" in vault "v" with five versions of every kind: a binary value with every
 * attribute, a disabled one, an empty one, one not yet valid, and an updated one. */
static const uint8_t bk_bin[] = { 0, 1, 2, 0xff, 0, 0x80, '\n', 0 };
static const char *const bk_vals[] = { NULL, "disabled-value", "", "future-value",
				       "current-value" };

static void backup_fixture(const struct fixture *f)
{
	const char *tags[] = { "owner=ops", "env=prod" };
	struct kv_attrs all = { .enabled = 1,
				.not_before = T0 - 50,
				.expires = T0 + 5000,
				.content_type = "application/octet-stream",
				.tags = tags,
				.n_tags = 2 };
	struct kv_attrs off = { .enabled = 0, .content_type = "text/plain" };
	struct kv_attrs later = { .enabled = 1, .not_before = T0 + 3000, .content_type = "" };
	struct kv_attrs u = KV_ATTRS_KEEP;

	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);
	assert_int_equal(kv_vault_create(f->kv, "w", 30), 0);
	set_ok(f->kv, "v", "s", bk_bin, sizeof(bk_bin), &all);
	kv_set_clock(f->kv, T0 + 1);
	set_ok(f->kv, "v", "s", bk_vals[1], strlen(bk_vals[1]), &off);
	kv_set_clock(f->kv, T0 + 2);
	set_ok(f->kv, "v", "s", "", 0, NULL);
	kv_set_clock(f->kv, T0 + 3);
	set_ok(f->kv, "v", "s", bk_vals[3], strlen(bk_vals[3]), &later);
	kv_set_clock(f->kv, T0 + 4);
	set_str(f->kv, "v", "s", bk_vals[4]);
	kv_set_clock(f->kv, T0 + 10);
	u.content_type = "text/x-updated";
	assert_int_equal(kv_secret_update(f->kv, "v", "s", 5, &u), 0);
	kv_set_clock(f->kv, T0 + 20);
}

/* Every value of the restored secret at vault/s is the original's (the disabled and not yet
 * valid versions are read with the clock and flag moved, after their attributes were compared). */
static void backup_values_equal(const struct fixture *f, const char *vault)
{
	struct kv_attrs on = KV_ATTRS_KEEP;

	get_eq(f->kv, vault, "s", 1, bk_bin, sizeof(bk_bin));
	get_fails(f->kv, vault, "s", 2, -EKEYREVOKED);
	get_eq(f->kv, vault, "s", 3, "", 0);
	get_fails(f->kv, vault, "s", 4, -EKEYREJECTED);
	get_str(f->kv, vault, "s", 5, bk_vals[4]);
	get_str(f->kv, vault, "s", 0, bk_vals[4]);
	kv_set_clock(f->kv, T0 + 3000);
	get_str(f->kv, vault, "s", 4, bk_vals[3]);
	on.enabled = 1;
	assert_int_equal(kv_secret_update(f->kv, vault, "s", 2, &on), 0);
	get_str(f->kv, vault, "s", 2, bk_vals[1]);
	kv_set_clock(f->kv, T0 + 20);
}

static void test_backup_round_trip(void **state)
{
	const struct fixture *f = *state;
	struct version_list before, after;
	struct secret_list l;
	struct secbuf *blob;
	int64_t old_id, created;

	backup_fixture(f);
	before = list_versions(f->kv, "v", "s");
	assert_int_equal(before.n, 5);
	old_id = secret_id(f->kv, "v", "s", false);
	created = list_secrets(f->kv, "v", false).s[0].created;

	blob = backup_ok(f->kv, "v", "s");
	/* The clear header, and no value in clear. */
	assert_memory_equal(blob->data, "VFSBAK1\0\3\0\0\0", BK_HEADER_LEN);
	assert_null(memmem(blob->data, blob->len, bk_vals[4], strlen(bk_vals[4])));
	assert_null(memmem(blob->data, blob->len, "owner=ops", 9));

	/* Gone for good, then back: same versions and attributes, a new id. */
	assert_int_equal(kv_secret_delete(f->kv, "v", "s"), 0);
	assert_int_equal(kv_secret_purge(f->kv, "v", "s"), 0);
	get_fails(f->kv, "v", "s", 0, -ENOENT);
	kv_set_clock(f->kv, T0 + 999);
	restore_ok(f->kv, "v", blob, "s");
	after = list_versions(f->kv, "v", "s");
	versions_equal(&before, &after);
	assert_string_equal(after.v[0].tags, "env=prod\nowner=ops\n");
	assert_int_equal(after.v[0].not_before, T0 - 50);
	assert_int_equal(after.v[0].expires, T0 + 5000);
	assert_int_equal(after.v[4].updated, T0 + 10);
	assert_string_equal(after.v[4].content_type, "text/x-updated");
	l = list_secrets(f->kv, "v", false);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.s[0].current_version, 5);
	assert_int_equal(l.s[0].created, created);
	assert_int_equal(l.s[0].deleted_at, 0);
	assert_true(l.s[0].id > old_id);
	kv_set_clock(f->kv, T0 + 20);
	backup_values_equal(f, "v");
	/* A new version goes on from the restored ones. */
	assert_int_equal(set_str(f->kv, "v", "s", "six"), 6);

	/* The restored secret is an ordinary one: deleted, recovered, backed up again. */
	assert_int_equal(kv_secret_delete(f->kv, "v", "s"), 0);
	assert_int_equal(kv_secret_recover(f->kv, "v", "s"), 0);
	secbuf_free(blob);
	blob = backup_ok(f->kv, "v", "s");
	secbuf_free(blob);
}

static void test_restore_other_vault(void **state)
{
	const struct fixture *f = *state;
	struct version_list before, after;
	struct secbuf *blob, *again;

	backup_fixture(f);
	before = list_versions(f->kv, "v", "s");
	blob = backup_ok(f->kv, "v", "s");
	/* Two backups of one secret differ (a fresh nonce) and both restore. */
	again = backup_ok(f->kv, "v", "s");
	assert_int_equal(again->len, blob->len);
	assert_memory_not_equal(again->data + BK_HEADER_LEN, blob->data + BK_HEADER_LEN,
				blob->len - BK_HEADER_LEN);

	restore_ok(f->kv, "w", blob, "s");
	after = list_versions(f->kv, "w", "s");
	versions_equal(&before, &after);
	assert_true(secret_id(f->kv, "w", "s", false) != secret_id(f->kv, "v", "s", false));
	backup_values_equal(f, "w");
	backup_values_equal(f, "v");

	/* Keyed to the new vault: its rows do not open as the old vault's. */
	{
		char wv[64], ww[64];

		where_version(wv, sizeof(wv), secret_id(f->kv, "v", "s", false), 5);
		where_version(ww, sizeof(ww), secret_id(f->kv, "w", "s", false), 5);
		raw_swap(f->path, "versions", "ciphertext,wrapped_dek", wv, ww);
		get_fails(f->kv, "w", "s", 5, -EBADMSG);
		get_fails(f->kv, "v", "s", 5, -EBADMSG);
	}

	/* A third vault from the second backup. */
	assert_int_equal(kv_vault_create(f->kv, "x", 7), 0);
	restore_ok(f->kv, "x", again, "s");
	after = list_versions(f->kv, "x", "s");
	versions_equal(&before, &after);
	backup_values_equal(f, "x");
	secbuf_free(blob);
	secbuf_free(again);
}

static void test_backup_refused(void **state)
{
	struct fixture *f = *state;
	struct secbuf *blob, *big;
	uint8_t other[CRYPTO_KEY_LEN];
	char other_path[128];
	struct kv *kv2;

	backup_fixture(f);
	blob = backup_ok(f->kv, "v", "s");

	backup_fails(f->kv, "v", "nope", -ENOENT);
	backup_fails(f->kv, "nope", "s", -ENOENT);
	backup_fails(f->kv, "v", ".bad", -EINVAL);
	backup_fails(f->kv, NULL, "s", -EINVAL);
	assert_int_equal(kv_secret_backup(f->kv, "v", "s", NULL), -EINVAL);

	/* The name is taken, live or soft-deleted: -EEXIST, nothing written. */
	restore_fails(f->kv, "v", blob->data, blob->len, -EEXIST);
	assert_int_equal(kv_secret_delete(f->kv, "v", "s"), 0);
	backup_fails(f->kv, "v", "s", -ENOENT);
	restore_fails(f->kv, "v", blob->data, blob->len, -EEXIST);
	assert_int_equal(list_secrets(f->kv, "v", true).n, 1);
	assert_int_equal(list_secrets(f->kv, "v", false).n, 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM objects"), 1);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM versions"), 5);

	/* No such vault, bad arguments. */
	restore_fails(f->kv, "nope", blob->data, blob->len, -ENOENT);
	restore_fails(f->kv, ".bad", blob->data, blob->len, -EINVAL);
	restore_fails(f->kv, NULL, blob->data, blob->len, -EINVAL);
	restore_fails(f->kv, "w", NULL, 10, -EINVAL);
	restore_fails(f->kv, "w", NULL, 0, -EBADMSG);
	assert_int_equal(kv_secret_restore(f->kv, "w", blob->data, blob->len, NULL), -EINVAL);

	/* Over the cap: -EMSGSIZE before a byte is read. */
	assert_int_equal(secbuf_new(VAULTFS_BACKUP_MAX + 1, &big), 0);
	memcpy(big->data, blob->data, blob->len);
	restore_fails(f->kv, "w", big->data, VAULTFS_BACKUP_MAX + 1, -EMSGSIZE);
	restore_fails(f->kv, "w", big->data, SIZE_MAX, -EMSGSIZE);
	secbuf_free(big);

	/* A store with another master key: the blob does not open. */
	snprintf(other_path, sizeof(other_path), "%s/other.db", f->dir);
	test_random(other, sizeof(other));
	kv2 = kv_open(other_path, true, other);
	assert_int_equal(kv_vault_create(kv2, "v", 0), 0);
	restore_fails(kv2, "v", blob->data, blob->len, -EBADMSG);
	assert_int_equal(raw_int(other_path, "SELECT count(*) FROM objects"), 0);
	kv_free(kv2);
	/* The same master in another store: it does. */
	snprintf(other_path, sizeof(other_path), "%s/same.db", f->dir);
	kv2 = kv_open(other_path, true, f->master);
	assert_int_equal(kv_vault_create(kv2, "v", 0), 0);
	restore_ok(kv2, "v", blob, "s");
	get_str(kv2, "v", "s", 0, bk_vals[4]);
	kv_free(kv2);

	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM objects"), 1);
	restore_ok(f->kv, "w", blob, "s");
	secbuf_free(blob);
}

/* Each class of damage is -EBADMSG and writes nothing: every header byte, nonce, ciphertext
 * and tag bytes flipped, cut short anywhere, a byte added. */
static void test_restore_damaged(void **state)
{
	const struct fixture *f = *state;
	struct secbuf *blob;
	uint8_t *copy;
	size_t n;

	backup_fixture(f);
	blob = backup_ok(f->kv, "v", "s");
	n = blob->len;
	copy = malloc(n + 1);
	assert_non_null(copy);

	for (size_t i = 0; i < n; i++) {
		/* every header byte, the nonce, the tag; the ciphertext at a stride */
		if (i >= BK_HEADER_LEN + CRYPTO_NONCE_LEN && i < n - CRYPTO_TAG_LEN && i % 7)
			continue;
		for (unsigned bit = 0; bit < 8; bit += 7) {
			memcpy(copy, blob->data, n);
			copy[i] ^= (uint8_t)(1u << bit);
			restore_fails(f->kv, "w", copy, n, -EBADMSG);
		}
	}
	memcpy(copy, blob->data, n);
	for (size_t cut = 0; cut < n; cut += cut < 64 || cut > n - 64 ? 1 : 13)
		restore_fails(f->kv, "w", copy, cut, -EBADMSG);
	restore_fails(f->kv, "w", copy, n - 1, -EBADMSG);
	copy[n] = 0;
	restore_fails(f->kv, "w", copy, n + 1, -EBADMSG);
	/* The header of another format version (1 and 2 are older, 3 this one's: 4 is none). */
	copy[8] = 4;
	restore_fails(f->kv, "w", copy, n, -EBADMSG);

	assert_int_equal(list_secrets(f->kv, "w", false).n, 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM objects"), 1);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM versions"), 5);
	/* The undamaged blob still restores. */
	restore_ok(f->kv, "w", blob, "s");
	free(copy);
	secbuf_free(blob);
}

/* Blobs sealed right (the test derives the backup key from the master) around plaintexts that
 * lie: every one is -EBADMSG and writes nothing. */
struct bk_build {
	uint8_t *p;
	size_t n;
};

static void bb_raw(struct bk_build *b, const void *p, size_t n)
{
	assert_true(b->n + n <= 2 * VAULTFS_VALUE_MAX);
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

static void bb_uint(struct bk_build *b, uint64_t v, size_t bytes)
{
	uint8_t le[8];

	for (size_t i = 0; i < bytes; i++)
		le[i] = (uint8_t)(v >> (8 * i));
	bb_raw(b, le, bytes);
}

static void bb_head(struct bk_build *b, uint32_t type, const char *name, size_t name_len,
		    uint32_t n_versions)
{
	bb_uint(b, type, 4);
	bb_uint(b, name_len, 2);
	bb_raw(b, name, name_len);
	bb_uint(b, (uint64_t)T0, 8);
	bb_uint(b, n_versions, 4);
}

struct bk_ver {
	uint32_t version;
	uint8_t enabled;
	int64_t nbf, exp;
	const char *ct, *tags;
	uint64_t value_len; /* the length written; value bytes written: min(it, strlen(value)) */
	const char *value;
};

static void bb_version(struct bk_build *b, const struct bk_ver *v)
{
	size_t have = strlen(v->value);

	bb_uint(b, v->version, 4);
	bb_uint(b, v->enabled, 1);
	bb_uint(b, (uint64_t)v->nbf, 8);
	bb_uint(b, (uint64_t)v->exp, 8);
	bb_uint(b, (uint64_t)T0, 8);
	bb_uint(b, (uint64_t)T0 + 1, 8);
	bb_uint(b, strlen(v->ct), 2);
	bb_raw(b, v->ct, strlen(v->ct));
	bb_uint(b, strlen(v->tags), 4);
	bb_raw(b, v->tags, strlen(v->tags));
	bb_uint(b, v->value_len, 4);
	bb_raw(b, v->value, v->value_len < have ? v->value_len : have);
}

/* Seal a plaintext as kv does, into out (room for n + 40 bytes), in blob format `format`: the
 * blob's length. */
static size_t bb_seal_format(const struct fixture *f, const struct bk_build *b, uint8_t *out,
			     uint8_t format)
{
	uint8_t key[CRYPTO_KEY_LEN];

	memcpy(out, "VFSBAK1\0\1\0\0\0", BK_HEADER_LEN);
	out[8] = format;
	assert_int_equal(
		crypto_hkdf(f->master, sizeof(f->master), "vaultfs backup v1", key, sizeof(key)),
		0);
	assert_int_equal(crypto_aead_seal(key, out, BK_HEADER_LEN, b->p, b->n, out + BK_HEADER_LEN),
			 0);
	secure_wipe(key, sizeof(key));
	return BK_HEADER_LEN + CRYPTO_AEAD_OVERHEAD + b->n;
}

/* Format 1: the blobs made before a blob carried its object's policy still restore. */
static size_t bb_seal(const struct fixture *f, const struct bk_build *b, uint8_t *out)
{
	return bb_seal_format(f, b, out, 1);
}

/* Format 2's policy byte: none restores; a key's rotation policy on a secret, an unknown kind,
 * no policy byte at all, or a byte after it are -EBADMSG and write nothing. */
static void test_restore_policy_hostile(void **state)
{
	const struct fixture *f = *state;
	const struct bk_ver good = { 1, 1, 0, 0, "text/plain", "", 5, "hello" };
	const int cases[][3] = { /* policy byte (-1: none), trailing byte?, expected */
				 { 1, 0, -EBADMSG },  { 2, 0, -EBADMSG }, { 3, 0, -EBADMSG },
				 { -1, 0, -EBADMSG }, { 0, 1, -EBADMSG }, { 0, 0, 0 }
	};
	uint8_t *out = malloc(4096);
	struct bk_build b = { malloc(4096), 0 };
	char ret[VAULTFS_NAME_MAX + 1];

	assert_non_null(out);
	assert_non_null(b.p);
	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		b.n = 0;
		bb_head(&b, 1, "s", 1, 1);
		bb_version(&b, &good);
		if (cases[i][0] >= 0)
			bb_uint(&b, (uint64_t)cases[i][0], 1);
		if (cases[i][0] == 1) /* a whole rotation policy, on a secret */
			for (int k = 0; k < 3; k++)
				bb_uint(&b, 86400, 8);
		if (cases[i][1])
			bb_uint(&b, 0, 1);
		if (cases[i][2] < 0)
			assert_int_equal(raw_int(f->path, "SELECT count(*) FROM objects"), 0);
		assert_int_equal(
			kv_secret_restore(f->kv, "v", out, bb_seal_format(f, &b, out, 2), ret),
			cases[i][2]);
	}
	get_str(f->kv, "v", "s", 1, "hello");
	free(b.p);
	free(out);
}

/* Format 3's first version: past 1 restores into a vault that prunes, with its numbers; the
 * same versions in a format 2 blob (always from 1), a first version of 0, or a run past the
 * versions' cap are -EBADMSG and write nothing. */
static void test_restore_first_version(void **state)
{
	const struct fixture *f = *state;
	const struct bk_ver v3 = { 3, 1, 0, 0, "text/plain", "", 5, "three" };
	const struct bk_ver v4 = { 4, 1, 0, 0, "text/plain", "", 4, "four" };
	const struct bk_ver v0 = { 0, 1, 0, 0, "text/plain", "", 4, "zero" };
	const struct bk_ver vmax = { VAULTFS_VERSIONS_MAX, 1, 0, 0, "text/plain", "", 3, "max" };
	uint8_t *out = malloc(4096);
	struct bk_build b = { malloc(4096), 0 };
	char ret[VAULTFS_NAME_MAX + 1];

	assert_non_null(out);
	assert_non_null(b.p);
	assert_int_equal(kv_vault_create_with(f->kv, "v", 0, 2), 0);
	bb_head(&b, 1, "s", 1, 2);
	bb_version(&b, &v3);
	bb_version(&b, &v4);
	bb_uint(&b, 0, 1);
	assert_int_equal(kv_secret_restore(f->kv, "v", out, bb_seal_format(f, &b, out, 2), ret),
			 -EBADMSG);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM objects"), 0);
	b.n = 0;
	bb_head(&b, 1, "s", 1, 1);
	bb_version(&b, &v0);
	bb_uint(&b, 0, 1);
	assert_int_equal(kv_secret_restore(f->kv, "v", out, bb_seal_format(f, &b, out, 3), ret),
			 -EBADMSG);
	b.n = 0;
	bb_head(&b, 1, "s", 1, 2);
	bb_version(&b, &vmax);
	bb_version(&b, &v4);
	bb_uint(&b, 0, 1);
	assert_int_equal(kv_secret_restore(f->kv, "v", out, bb_seal_format(f, &b, out, 3), ret),
			 -EBADMSG);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM objects"), 0);
	b.n = 0;
	bb_head(&b, 1, "s", 1, 2);
	bb_version(&b, &v3);
	bb_version(&b, &v4);
	bb_uint(&b, 0, 1);
	assert_int_equal(kv_secret_restore(f->kv, "v", out, bb_seal_format(f, &b, out, 3), ret), 0);
	get_str(f->kv, "v", "s", 0, "four");
	get_str(f->kv, "v", "s", 3, "three");
	get_fails(f->kv, "v", "s", 2, -ENOENT);
	free(b.p);
	free(out);
}

static void test_restore_hostile(void **state)
{
	const struct fixture *f = *state;
	const struct bk_ver good = { 1, 1, 0, 0, "text/plain", "a=1\nb=2\n", 5, "hello" };
	enum {
		HEAD_TYPE,
		HEAD_NAME_LONG,
		HEAD_NAME_128,
		HEAD_NAME_BAD,
		HEAD_NAME_NUL,
		HEAD_ZERO,
		HEAD_TOO_MANY,
		HEAD_MISSING,
		V_NUMBER,
		V_ENABLED,
		V_NBF,
		V_EXP,
		V_EXP_NBF,
		V_CT_CTRL,
		V_CT_LONG,
		V_TAGS_ORDER,
		V_TAGS_NL,
		V_TAGS_DUP,
		V_TAGS_EMPTY_KEY,
		V_VALUE_SHORT,
		V_VALUE_BIG,
		V_VALUE_HUGE,
		TRAILING,
		GOOD,
		N_CASES
	};
	char n128[129];
	uint8_t *out;
	struct bk_build b;
	struct version_list vl;

	memset(n128, 'n', 128);
	n128[128] = '\0';
	b.p = malloc(2 * VAULTFS_VALUE_MAX);
	out = malloc(2 * VAULTFS_VALUE_MAX + 64);
	assert_non_null(b.p);
	assert_non_null(out);
	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);

	for (int c = 0; c < N_CASES; c++) {
		struct bk_ver v = good;
		size_t len;

		b.n = 0;
		switch (c) {
		case HEAD_TYPE:
			bb_head(&b, 2, "s", 1, 1);
			break;
		case HEAD_NAME_LONG: /* longer than what is left */
			bb_uint(&b, 1, 4);
			bb_uint(&b, 60000, 2);
			bb_raw(&b, "s", 1);
			break;
		case HEAD_NAME_128:
			bb_head(&b, 1, n128, 128, 1);
			break;
		case HEAD_NAME_BAD:
			bb_head(&b, 1, ".s", 2, 1);
			break;
		case HEAD_NAME_NUL:
			bb_head(&b, 1, "s\0t", 3, 1);
			break;
		case HEAD_ZERO:
			bb_head(&b, 1, "s", 1, 0);
			break;
		case HEAD_TOO_MANY:
			bb_head(&b, 1, "s", 1, VAULTFS_VERSIONS_MAX + 1);
			break;
		case HEAD_MISSING: /* two announced, one there */
			bb_head(&b, 1, "s", 1, 2);
			break;
		default:
			bb_head(&b, 1, "s", 1, 1);
			break;
		}
		switch (c) {
		case V_NUMBER:
			v.version = 2;
			break;
		case V_ENABLED:
			v.enabled = 2;
			break;
		case V_NBF:
			v.nbf = -1;
			break;
		case V_EXP:
			v.exp = -5;
			break;
		case V_EXP_NBF:
			v.nbf = T0 + 10;
			v.exp = T0 + 9;
			break;
		case V_CT_CTRL:
			v.ct = "text/\x01";
			break;
		case V_CT_LONG: /* 256 bytes */
			v.ct = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
			       "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
			       "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
			       "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";
			break;
		case V_TAGS_ORDER:
			v.tags = "b=2\na=1\n";
			break;
		case V_TAGS_NL:
			v.tags = "a=1";
			break;
		case V_TAGS_DUP:
			v.tags = "a=1\na=2\n";
			break;
		case V_TAGS_EMPTY_KEY:
			v.tags = "=1\n";
			break;
		case V_VALUE_SHORT: /* says 6, has 5 */
			v.value_len = 6;
			break;
		case V_VALUE_BIG: /* over the value cap, all bytes there */
			v.value_len = VAULTFS_VALUE_MAX + 1;
			break;
		case V_VALUE_HUGE:
			v.value_len = UINT32_MAX;
			break;
		}
		if (c >= HEAD_MISSING)
			bb_version(&b, &v);
		if (c == V_VALUE_BIG) {
			memset(b.p + b.n, 'x', VAULTFS_VALUE_MAX + 1 - 5);
			b.n += VAULTFS_VALUE_MAX + 1 - 5;
		}
		if (c == TRAILING)
			bb_uint(&b, 0, 1);
		len = bb_seal(f, &b, out);
		if (c == GOOD)
			break;
		{
			char ret[VAULTFS_NAME_MAX + 1];
			int r = kv_secret_restore(f->kv, "v", out, len, ret);

			if (r != -EBADMSG)
				fail_msg("case %d: %d", c, r);
		}
	}
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM objects"), 0);

	/* The same builder, told the truth, makes a blob that restores. */
	{
		char ret[VAULTFS_NAME_MAX + 1];

		assert_int_equal(kv_secret_restore(f->kv, "v", out, bb_seal(f, &b, out), ret), 0);
		assert_string_equal(ret, "s");
	}
	get_str(f->kv, "v", "s", 1, "hello");
	vl = list_versions(f->kv, "v", "s");
	assert_int_equal(vl.n, 1);
	assert_string_equal(vl.v[0].tags, "a=1\nb=2\n");
	assert_string_equal(vl.v[0].content_type, "text/plain");
	assert_int_equal(vl.v[0].created, T0);
	assert_int_equal(vl.v[0].updated, T0 + 1);
	free(b.p);
	free(out);
}

/* The cap: as many versions of the largest value as VAULTFS_BACKUP_MAX holds fit in a blob (127
 * of 64 KiB, 7 of 1 MiB), one more does not: the error a secret of many large versions gets.
 * Besides the versions: header 12, seal 28, head 18 + the name (1), the policy byte (1). */
#define BACKUP_FIXED (12 + 28 + 18 + 1 + 1)
#define BACKUP_FIT ((VAULTFS_BACKUP_MAX - BACKUP_FIXED) / (47 + VAULTFS_VALUE_MAX))

static void test_backup_size_cap(void **state)
{
	const struct fixture *f = *state;
	uint8_t *value = malloc(VAULTFS_VALUE_MAX);
	struct secbuf *blob;

	assert_non_null(value);
	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);
	assert_int_equal(kv_vault_create(f->kv, "w", 0), 0);
	for (uint32_t i = 1; i <= BACKUP_FIT; i++) {
		test_random(value, VAULTFS_VALUE_MAX);
		assert_int_equal(set_ok(f->kv, "v", "b", value, VAULTFS_VALUE_MAX, NULL), i);
	}
	blob = backup_ok(f->kv, "v", "b");
	assert_int_equal(blob->len, BACKUP_FIXED + BACKUP_FIT * (47 + VAULTFS_VALUE_MAX));
	restore_ok(f->kv, "w", blob, "b");
	get_eq(f->kv, "w", "b", 0, value, VAULTFS_VALUE_MAX);
	assert_int_equal(info_ok(f->kv, "w", "b", 0).version, BACKUP_FIT);
	assert_int_equal(list_secrets(f->kv, "w", false).s[0].current_version, BACKUP_FIT);
	secbuf_free(blob);

	assert_int_equal(set_ok(f->kv, "v", "b", value, VAULTFS_VALUE_MAX, NULL), BACKUP_FIT + 1);
	backup_fails(f->kv, "v", "b", -EMSGSIZE);
	free(value);
}

/* --- expiry notices --- */

struct notice {
	char vault[VAULTFS_NAME_MAX + 1];
	char name[VAULTFS_NAME_MAX + 1];
	uint32_t version;
	int64_t expires;
	int event;
};

struct notices {
	size_t n;
	struct notice v[256];
	const char *fail_on; /* return fail_r for this name */
	int fail_r;
	struct kv *kv; /* if set, the callback reads the version through kv */
};

static int collect_notice(const char *vault, const char *name, uint32_t version, int64_t expires,
			  int event, void *ud)
{
	struct notices *l = ud;

	if (l->kv) {
		struct kv_version_info info;

		assert_int_equal(kv_secret_info(l->kv, vault, name, version, &info), 0);
		assert_int_equal(info.expires, expires);
	}
	if (l->fail_on && streq(l->fail_on, name))
		return l->fail_r;
	assert_true(l->n < ELEMENTSOF(l->v));
	snprintf(l->v[l->n].vault, sizeof(l->v[0].vault), "%s", vault);
	snprintf(l->v[l->n].name, sizeof(l->v[0].name), "%s", name);
	l->v[l->n].version = version;
	l->v[l->n].expires = expires;
	l->v[l->n].event = event;
	l->n++;
	return 0;
}

static struct notices *scan(struct kv *kv, int64_t horizon)
{
	struct notices *l = calloc(1, sizeof(*l));

	assert_non_null(l);
	assert_int_equal(kv_expiry_scan(kv, horizon, collect_notice, l), 0);
	return l;
}

static void notice_is(const struct notices *l, size_t i, const char *vault, const char *name,
		      uint32_t version, int64_t expires, int event)
{
	assert_true(i < l->n);
	assert_string_equal(l->v[i].vault, vault);
	assert_string_equal(l->v[i].name, name);
	assert_int_equal(l->v[i].version, version);
	assert_int_equal(l->v[i].expires, expires);
	assert_int_equal(l->v[i].event, event);
}

static void scan_none(struct kv *kv, int64_t horizon)
{
	struct notices *l = scan(kv, horizon);

	if (l->n)
		fail_msg("%zu notices, first %s@%u", l->n, l->v[0].name, l->v[0].version);
	free(l);
}

static struct kv_attrs expiring(int64_t when)
{
	return (struct kv_attrs){ .enabled = 1, .expires = when, .content_type = "" };
}

static void test_expiry_scan(void **state)
{
	struct fixture *f = *state;
	struct kv_attrs a, off = { .enabled = 0, .expires = T0 + DAY, .content_type = "" };
	struct notices *l;

	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);
	assert_int_equal(kv_vault_create(f->kv, "w", 0), 0);
	a = expiring(T0 + 5 * DAY);
	set_ok(f->kv, "v", "near", "x", 1, &a);
	a = expiring(T0 + 60 * DAY);
	set_ok(f->kv, "v", "later", "x", 1, &a);
	a = expiring(T0 - 10);
	set_ok(f->kv, "w", "past", "x", 1, &a);
	set_str(f->kv, "v", "none", "x");
	a = expiring(T0 + DAY);
	set_ok(f->kv, "v", "deleted", "x", 1, &a);
	assert_int_equal(kv_secret_delete(f->kv, "v", "deleted"), 0);
	a = expiring(T0 + 2 * DAY);
	set_ok(f->kv, "v", "multi", "x", 1, &a);
	a = expiring(T0 + 3 * DAY);
	set_ok(f->kv, "v", "multi", "y", 1, &a);
	set_ok(f->kv, "v", "off", "x", 1, &off);
	a = expiring(T0 + 200 * DAY);
	set_ok(f->kv, "v", "quick", "x", 1, &a);

	assert_int_equal(kv_expiry_scan(f->kv, -1, collect_notice, NULL), -EINVAL);
	assert_int_equal(kv_expiry_scan(f->kv, DAY, NULL, NULL), -EINVAL);

	/* A horizon of 30 days at T0: in expiry order; the expired one only as expired; the
	 * disabled one too; the soft-deleted one not. */
	l = scan(f->kv, 30 * DAY);
	assert_int_equal(l->n, 5);
	notice_is(l, 0, "w", "past", 1, T0 - 10, KV_EXPIRED);
	notice_is(l, 1, "v", "off", 1, T0 + DAY, KV_NEAR_EXPIRY);
	notice_is(l, 2, "v", "multi", 1, T0 + 2 * DAY, KV_NEAR_EXPIRY);
	notice_is(l, 3, "v", "multi", 2, T0 + 3 * DAY, KV_NEAR_EXPIRY);
	notice_is(l, 4, "v", "near", 1, T0 + 5 * DAY, KV_NEAR_EXPIRY);
	free(l);
	/* Once: not again, not with a longer horizon, not after a restart. */
	scan_none(f->kv, 30 * DAY);
	scan_none(f->kv, 35 * DAY);
	kv_free(f->kv);
	f->kv = kv_open(f->path, false, f->master);
	scan_none(f->kv, 30 * DAY);

	/* Expiry is now >= expires: one second before, nothing; at it, expired. */
	kv_set_clock(f->kv, T0 + DAY - 1);
	scan_none(f->kv, 0);
	kv_set_clock(f->kv, T0 + DAY);
	l = scan(f->kv, 0);
	assert_int_equal(l->n, 1);
	notice_is(l, 0, "v", "off", 1, T0 + DAY, KV_EXPIRED);
	free(l);
	/* The horizon's edge: now >= expires - horizon (later is at T0 + 60 days). */
	kv_set_clock(f->kv, T0 + 30 * DAY - 1);
	l = scan(f->kv, 30 * DAY);
	assert_int_equal(l->n, 3);
	notice_is(l, 0, "v", "multi", 1, T0 + 2 * DAY, KV_EXPIRED);
	notice_is(l, 1, "v", "multi", 2, T0 + 3 * DAY, KV_EXPIRED);
	notice_is(l, 2, "v", "near", 1, T0 + 5 * DAY, KV_EXPIRED);
	free(l);
	kv_set_clock(f->kv, T0 + 30 * DAY);
	l = scan(f->kv, 30 * DAY);
	assert_int_equal(l->n, 1);
	notice_is(l, 0, "v", "later", 1, T0 + 60 * DAY, KV_NEAR_EXPIRY);
	free(l);
	kv_set_clock(f->kv, T0 + 60 * DAY);
	l = scan(f->kv, 30 * DAY);
	assert_int_equal(l->n, 1);
	notice_is(l, 0, "v", "later", 1, T0 + 60 * DAY, KV_EXPIRED);
	free(l);
	/* quick (T0 + 200 days) was never in a window: seen first expired, it is only that. */
	kv_set_clock(f->kv, T0 + 201 * DAY);
	l = scan(f->kv, 0);
	assert_int_equal(l->n, 1);
	notice_is(l, 0, "v", "quick", 1, T0 + 200 * DAY, KV_EXPIRED);
	free(l);
	/* Everything said: with the clock back, still nothing. */
	kv_set_clock(f->kv, T0);
	scan_none(f->kv, 365 * DAY);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM expiry_notices"), 12);

	/* Recovered, the deleted secret is live and gets its due. */
	assert_int_equal(kv_secret_recover(f->kv, "v", "deleted"), 0);
	l = scan(f->kv, 30 * DAY);
	assert_int_equal(l->n, 1);
	notice_is(l, 0, "v", "deleted", 1, T0 + DAY, KV_NEAR_EXPIRY);
	free(l);

	/* A new expiry date arms the version again. */
	a = (struct kv_attrs)KV_ATTRS_KEEP;
	a.expires = T0 + 10 * DAY;
	assert_int_equal(kv_secret_update(f->kv, "v", "near", 1, &a), 0);
	l = scan(f->kv, 30 * DAY);
	assert_int_equal(l->n, 1);
	notice_is(l, 0, "v", "near", 1, T0 + 10 * DAY, KV_NEAR_EXPIRY);
	free(l);
	scan_none(f->kv, 30 * DAY);

	/* (the re-armed notice replaced the old one) Purged: its notices go too. */
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM expiry_notices"), 13);
	assert_int_equal(kv_secret_delete(f->kv, "w", "past"), 0);
	assert_int_equal(kv_secret_purge(f->kv, "w", "past"), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM expiry_notices"), 12);
}

static void test_expiry_scan_errors(void **state)
{
	struct fixture *f = *state;
	struct notices *l = calloc(1, sizeof(*l));
	struct kv_attrs a;

	assert_non_null(l);
	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);
	a = expiring(T0 + 1 * DAY);
	set_ok(f->kv, "v", "a", "x", 1, &a);
	a = expiring(T0 + 2 * DAY);
	set_ok(f->kv, "v", "b", "x", 1, &a);
	a = expiring(T0 + 3 * DAY);
	set_ok(f->kv, "v", "c", "x", 1, &a);

	/* The callback's error stops the scan and is returned; what came before is recorded,
	 * the failed one and the rest come again. */
	l->fail_on = "b";
	l->fail_r = -ECANCELED;
	assert_int_equal(kv_expiry_scan(f->kv, 30 * DAY, collect_notice, l), -ECANCELED);
	assert_int_equal(l->n, 1);
	notice_is(l, 0, "v", "a", 1, T0 + DAY, KV_NEAR_EXPIRY);
	free(l);
	/* ... also across a restart */
	kv_free(f->kv);
	f->kv = kv_open(f->path, false, f->master);
	l = scan(f->kv, 30 * DAY);
	assert_int_equal(l->n, 2);
	notice_is(l, 0, "v", "b", 1, T0 + 2 * DAY, KV_NEAR_EXPIRY);
	notice_is(l, 1, "v", "c", 1, T0 + 3 * DAY, KV_NEAR_EXPIRY);
	free(l);
	scan_none(f->kv, 30 * DAY);

	/* The callback may use kv (it runs outside the scan's transactions). */
	a = expiring(T0 + 4 * DAY);
	set_ok(f->kv, "v", "d", "x", 1, &a);
	l = calloc(1, sizeof(*l));
	assert_non_null(l);
	l->kv = f->kv;
	assert_int_equal(kv_expiry_scan(f->kv, 30 * DAY, collect_notice, l), 0);
	assert_int_equal(l->n, 1);
	free(l);

	/* A row changed behind our back is found: the scan reads only checked rows. */
	a = expiring(T0 + 100 * DAY);
	set_ok(f->kv, "v", "e", "x", 1, &a);
	scan_none(f->kv, 30 * DAY);
	raw_exec(f->path, "UPDATE versions SET expires = 1800000005 WHERE object_id = "
			  "(SELECT id FROM objects WHERE name = 'e')");
	l = calloc(1, sizeof(*l));
	assert_non_null(l);
	assert_int_equal(kv_expiry_scan(f->kv, 30 * DAY, collect_notice, l), -EBADMSG);
	assert_int_equal(l->n, 0);
	free(l);
	raw_exec(f->path, "UPDATE versions SET expires = 1808640000 WHERE object_id = "
			  "(SELECT id FROM objects WHERE name = 'e')");
	scan_none(f->kv, 30 * DAY);
	/* A soft delete undone behind our back: the object row fails its MAC. */
	a = expiring(T0 + 5 * DAY);
	set_ok(f->kv, "v", "f", "x", 1, &a);
	assert_int_equal(kv_secret_delete(f->kv, "v", "f"), 0);
	scan_none(f->kv, 30 * DAY);
	raw_exec(f->path, "UPDATE objects SET deleted_at = 0 WHERE name = 'f'");
	l = calloc(1, sizeof(*l));
	assert_non_null(l);
	assert_int_equal(kv_expiry_scan(f->kv, 30 * DAY, collect_notice, l), -EBADMSG);
	free(l);
}

/* More notices than one batch: each once, in order, and a failure in a later batch keeps
 * the earlier batches recorded. */
static void test_expiry_scan_many(void **state)
{
	const struct fixture *f = *state;
	struct notices *l;

	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);
	for (int i = 0; i < 150; i++) {
		struct kv_attrs a = expiring(T0 + 1000 + 150 - i);
		char name[32];

		snprintf(name, sizeof(name), "s%03d", i);
		set_ok(f->kv, "v", name, "x", 1, &a);
	}
	l = calloc(1, sizeof(*l));
	assert_non_null(l);
	l->fail_on = "s020"; /* the 130th by expiry */
	l->fail_r = -EIO;
	assert_int_equal(kv_expiry_scan(f->kv, DAY, collect_notice, l), -EIO);
	assert_int_equal(l->n, 129);
	for (size_t i = 0; i < l->n; i++) {
		char name[32];

		snprintf(name, sizeof(name), "s%03zu", 149 - i);
		notice_is(l, i, "v", name, 1, T0 + 1000 + 1 + (int64_t)i, KV_NEAR_EXPIRY);
	}
	free(l);
	l = scan(f->kv, DAY);
	assert_int_equal(l->n, 21);
	notice_is(l, 0, "v", "s020", 1, T0 + 1000 + 130, KV_NEAR_EXPIRY);
	notice_is(l, 20, "v", "s000", 1, T0 + 1000 + 150, KV_NEAR_EXPIRY);
	free(l);
	scan_none(f->kv, DAY);
	kv_set_clock(f->kv, T0 + 2000);
	l = scan(f->kv, 0);
	assert_int_equal(l->n, 150);
	assert_int_equal(l->v[149].event, KV_EXPIRED);
	free(l);
	scan_none(f->kv, DAY);
}

struct purge_seen {
	char names[8][2 * VAULTFS_NAME_MAX + 2];
	unsigned n;
	int fail_at; /* -1 never */
};

static int purge_cb(const char *vault, const char *name, void *ud)
{
	struct purge_seen *p = ud;

	if (p->fail_at >= 0 && (int)p->n == p->fail_at)
		return -EIO;
	assert_true(p->n < 8);
	snprintf(p->names[p->n++], sizeof(p->names[0]), "%s/%s", vault, name);
	return 0;
}

/* Soft-deleted secrets go when their vault's retention has passed, each told to the caller
 * first; not before, not when recovered, not live ones; a callback error purges nothing. */
static void test_purge_due(void **state)
{
	const struct fixture *f = *state;
	struct purge_seen p = { .fail_at = -1 };

	assert_int_equal(kv_vault_create(f->kv, "week", 7), 0);
	assert_int_equal(kv_vault_create(f->kv, "month", 30), 0);
	set_str(f->kv, "week", "a", "1");
	set_str(f->kv, "week", "b", "2");
	set_str(f->kv, "week", "live", "3");
	set_str(f->kv, "month", "c", "4");
	assert_int_equal(kv_secret_delete(f->kv, "week", "a"), 0);
	assert_int_equal(kv_secret_delete(f->kv, "week", "b"), 0);
	assert_int_equal(kv_secret_delete(f->kv, "month", "c"), 0);
	/* nothing due yet */
	kv_set_clock(f->kv, T0 + 7 * DAY - 1);
	assert_int_equal(kv_purge_due(f->kv, purge_cb, &p), 0);
	assert_int_equal(p.n, 0);
	/* b recovered: only a is due in the week vault; the month vault keeps c */
	assert_int_equal(kv_secret_recover(f->kv, "week", "b"), 0);
	kv_set_clock(f->kv, T0 + 8 * DAY);
	p.fail_at = 0;
	assert_int_equal(kv_purge_due(f->kv, purge_cb, &p), -EIO);
	/* still there (deleted, recoverable): the error came before its purge */
	assert_int_equal(kv_secret_recover(f->kv, "week", "a"), 0);
	assert_int_equal(kv_secret_delete(f->kv, "week", "a"), 0);
	kv_set_clock(f->kv, T0 + 16 * DAY);
	p.fail_at = -1;
	assert_int_equal(kv_purge_due(f->kv, purge_cb, &p), 1);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.names[0], "week/a");
	assert_int_equal(kv_secret_recover(f->kv, "week", "a"), -ENOENT); /* gone */
	get_str(f->kv, "week", "b", 1, "2");
	get_str(f->kv, "week", "live", 1, "3");
	assert_int_equal(kv_secret_recover(f->kv, "month", "c"), 0);
	assert_int_equal(kv_secret_delete(f->kv, "month", "c"), 0);
	/* past the month vault's retention too (counted from the new deletion) */
	kv_set_clock(f->kv, T0 + 47 * DAY);
	assert_int_equal(kv_purge_due(f->kv, purge_cb, &p), 1);
	assert_string_equal(p.names[1], "month/c");
	assert_int_equal(kv_purge_due(f->kv, purge_cb, &p), 0);
	/* the name is free again */
	set_str(f->kv, "week", "a", "new");
}

/* --- pages of the listings --- */

/* Every secret of vault in the given state, limit rows a page, appended to l: the number of
 * pages. Each page reads at most limit rows, its cursor is past the one before (soft-deleted
 * rows of the other state included), "" after a page of none. */
static size_t secret_pages(struct kv *kv, const char *vault, bool deleted, unsigned limit,
			   struct secret_list *l)
{
	char after[VAULTFS_NAME_MAX + 1] = "";
	size_t pages = 0;
	int r;

	do {
		char last[VAULTFS_NAME_MAX + 1];

		memset(last, 'x', sizeof(last));
		r = kv_secret_list_page(kv, vault, deleted, after, limit, collect_secret, l, last);
		assert_in_range(r, 0, limit);
		if (r > 0)
			assert_true(strcmp(last, after) > 0);
		else
			assert_string_equal(last, "");
		memcpy(after, last, sizeof(after));
		pages++;
	} while ((unsigned)r == limit);
	return pages;
}

static void names_equal(const struct secret_list *a, const struct secret_list *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		assert_string_equal(a->s[i].name, b->s[i].name);
		assert_int_equal(a->s[i].id, b->s[i].id);
		assert_int_equal(a->s[i].deleted_at, b->s[i].deleted_at);
	}
}

/* Pages of every size give what kv_secret_list gives, the last page short (an empty one after
 * an exact fit), for live and deleted secrets; the rows read and the cursor count the rows of
 * the other state; an empty vault; a cursor that names no secret; secrets added and removed
 * between pages; another vault's rows neither listed nor read; the refusals. */
static void test_secret_list_page(void **state)
{
	const struct fixture *f = *state;
	static const char *const names[] = { "b", "a_b", "Z9", "a-b", "z", "a", "a0", "A", "a.b" };
	struct secret_list whole, l = { 0 };
	char last[VAULTFS_NAME_MAX + 1], long_name[VAULTFS_NAME_MAX + 2];

	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);
	assert_int_equal(kv_vault_create(f->kv, "w", 0), 0);
	assert_int_equal(kv_secret_list_page(f->kv, "v", false, "", 5, collect_secret, &l, last),
			 0);
	assert_string_equal(last, "");
	assert_int_equal(l.n, 0);
	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		set_str(f->kv, "v", names[i], names[i]);
	set_str(f->kv, "w", "a1", "other");
	set_str(f->kv, "w", "m", "other");
	assert_int_equal(kv_secret_delete(f->kv, "v", "a.b"), 0);
	assert_int_equal(kv_secret_delete(f->kv, "v", "z"), 0); /* the last row: deleted */

	whole = list_secrets(f->kv, "v", false);
	assert_int_equal(whole.n, 7);
	assert_string_equal(whole.s[0].name, "A");
	assert_string_equal(whole.s[6].name, "b");
	for (unsigned limit = 1; limit <= ELEMENTSOF(names) + 1; limit++) {
		memset(&l, 0, sizeof(l));
		assert_int_equal(secret_pages(f->kv, "v", false, limit, &l),
				 ELEMENTSOF(names) / limit + 1);
		names_equal(&l, &whole);
	}
	whole = list_secrets(f->kv, "v", true);
	assert_int_equal(whole.n, 2);
	memset(&l, 0, sizeof(l));
	assert_int_equal(secret_pages(f->kv, "v", true, 2, &l), 5);
	names_equal(&l, &whole);
	assert_int_equal(l.s[1].purge_after, l.s[1].deleted_at + 90 * DAY);

	/* a page of rows of the other state only: read, counted, none given, the cursor past */
	memset(&l, 0, sizeof(l));
	assert_int_equal(kv_secret_list_page(f->kv, "v", false, "b", 5, collect_secret, &l, last),
			 1);
	assert_int_equal(l.n, 0);
	assert_string_equal(last, "z");
	assert_int_equal(kv_secret_list_page(f->kv, "v", false, "a-b", 2, collect_secret, &l, last),
			 2);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.s[0].name, "a0");
	assert_string_equal(last, "a0");
	/* a cursor that is no name: from the next */
	memset(&l, 0, sizeof(l));
	assert_int_equal(kv_secret_list_page(f->kv, "v", false, "a00", 1, collect_secret, &l, NULL),
			 1);
	assert_string_equal(l.s[0].name, "a_b");

	/* between pages: the next removed, one added ahead and one behind */
	memset(&l, 0, sizeof(l));
	assert_int_equal(kv_secret_list_page(f->kv, "v", false, "", 3, collect_secret, &l, last),
			 3);
	assert_string_equal(last, "a");
	assert_int_equal(kv_secret_delete(f->kv, "v", "a-b"), 0);
	set_str(f->kv, "v", "a00", "new");
	set_str(f->kv, "v", "B", "new");
	/* a-b and a.b deleted now, a0 */
	assert_int_equal(kv_secret_list_page(f->kv, "v", false, last, 3, collect_secret, &l, last),
			 3);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.s[3].name, "a0");
	assert_string_equal(last, "a0");
	assert_int_equal(kv_secret_list_page(f->kv, "v", false, last, 3, collect_secret, &l, last),
			 3);
	assert_int_equal(l.n, 7);
	assert_string_equal(l.s[4].name, "a00");
	assert_string_equal(l.s[6].name, "b");
	assert_string_equal(last, "b");
	assert_string_equal(l.s[1].name, "Z9"); /* B, behind the cursor, not met */

	/* refusals; the cursor is written only on success */
	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	strcpy(last, "kept");
	assert_int_equal(kv_secret_list_page(f->kv, "v", false, "", 0, collect_secret, &l, last),
			 -EINVAL);
	assert_int_equal(
		kv_secret_list_page(f->kv, "v", false, long_name, 1, collect_secret, &l, last),
		-EINVAL);
	assert_int_equal(kv_secret_list_page(f->kv, "nope", false, "", 1, collect_secret, &l, last),
			 -ENOENT);
	assert_int_equal(kv_secret_list_page(f->kv, "../v", false, "", 1, collect_secret, &l, last),
			 -EINVAL);
	memset(&l, 0, sizeof(l));
	l.stop_after = 2;
	assert_int_equal(kv_secret_list_page(f->kv, "v", false, "", 5, collect_secret, &l, last),
			 -ECANCELED);
	assert_int_equal(l.n, 2);
	assert_string_equal(last, "kept");

	/* a row of w changed behind kv's back: v's pages do not read it, w's refuse it */
	raw_exec(f->path, "UPDATE objects SET created = created + 1 WHERE name = 'a1'");
	memset(&l, 0, sizeof(l));
	assert_int_equal(secret_pages(f->kv, "v", false, 2, &l), 6); /* 11 rows */
	assert_int_equal(l.n, 8);
	memset(&l, 0, sizeof(l));
	assert_int_equal(kv_secret_list_page(f->kv, "w", false, "", 5, collect_secret, &l, last),
			 -EBADMSG);
	assert_int_equal(kv_secret_list_page(f->kv, "w", false, "a1", 5, collect_secret, &l, last),
			 1);
	assert_string_equal(l.s[0].name, "m");
}

/* A row changed behind kv's back is refused as kv_secret_list refuses it, by the page that
 * reads it and not before, in both states' listings (a row left out is checked too). */
static void test_secret_list_page_tampered(void **state)
{
	const struct fixture *f = *state;
	struct secret_list l = { 0 };
	char last[VAULTFS_NAME_MAX + 1];

	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);
	for (char c = 'a'; c <= 'f'; c++) {
		char name[2] = { c, 0 };

		set_str(f->kv, "v", name, name);
	}
	assert_int_equal(kv_secret_delete(f->kv, "v", "d"), 0);
	raw_exec(f->path, "UPDATE objects SET deleted_at = 0 WHERE name = 'd'");
	assert_int_equal(kv_secret_list_page(f->kv, "v", false, "", 3, collect_secret, &l, last),
			 3);
	strcpy(last, "kept");
	assert_int_equal(kv_secret_list_page(f->kv, "v", false, "c", 3, collect_secret, &l, last),
			 -EBADMSG);
	assert_string_equal(last, "kept");
	assert_int_equal(kv_secret_list_page(f->kv, "v", true, "c", 3, collect_secret, &l, last),
			 -EBADMSG);
	assert_int_equal(kv_secret_list_page(f->kv, "v", false, "d", 3, collect_secret, &l, last),
			 2);
	assert_int_equal(kv_secret_list(f->kv, "v", false, collect_secret, &l), -EBADMSG);
	/* the current version's row is checked too, as in the whole listing */
	raw_exec(f->path, "UPDATE versions SET enabled = 0 WHERE object_id = "
			  "(SELECT id FROM objects WHERE name = 'f')");
	assert_int_equal(kv_secret_list_page(f->kv, "v", false, "e", 3, collect_secret, &l, last),
			 -EBADMSG);
}

static void test_vault_list_page(void **state)
{
	const struct fixture *f = *state;
	static const char *const names[] = { "m", "b", "z", "a", "B" };
	struct vault_list l = { 0 };

	assert_int_equal(kv_vault_list_page(f->kv, "", 2, collect_vault, &l), 0);
	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		assert_int_equal(kv_vault_create(f->kv, names[i], 0), 0);
	assert_int_equal(kv_vault_list_page(f->kv, NULL, 2, collect_vault, &l), 2);
	assert_int_equal(kv_vault_list_page(f->kv, l.v[1].name, 2, collect_vault, &l), 2);
	assert_int_equal(kv_vault_list_page(f->kv, l.v[3].name, 2, collect_vault, &l), 1);
	assert_int_equal(l.n, 5);
	assert_string_equal(l.v[0].name, "B");
	assert_string_equal(l.v[1].name, "a");
	assert_string_equal(l.v[2].name, "b");
	assert_string_equal(l.v[3].name, "m");
	assert_string_equal(l.v[4].name, "z");
	assert_int_equal(kv_vault_list_page(f->kv, "z", 2, collect_vault, &l), 0);
	assert_int_equal(kv_vault_list_page(f->kv, "", 0, collect_vault, &l), -EINVAL);
	raw_exec(f->path, "UPDATE vaults SET retention_days = 30 WHERE name = 'm'");
	memset(&l, 0, sizeof(l));
	assert_int_equal(kv_vault_list_page(f->kv, "", 3, collect_vault, &l), 3);
	assert_int_equal(kv_vault_list_page(f->kv, "b", 3, collect_vault, &l), -EBADMSG);
	assert_int_equal(kv_vault_list_page(f->kv, "m", 3, collect_vault, &l), 1);
	assert_string_equal(l.v[3].name, "z");
}

/* Pages of versions: 1..current in order from any cursor, the end checked (a page that ends
 * the listing has met the current version), a cursor past it, a gap refused by the page that
 * meets it, a deleted secret. */
static void test_secret_versions_page(void **state)
{
	const struct fixture *f = *state;
	struct version_list l = { 0 };
	char sql[128];
	int64_t id;

	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);
	for (int i = 1; i <= 7; i++) {
		char val[16];

		snprintf(val, sizeof(val), "v%d", i);
		set_str(f->kv, "v", "s", val);
		set_str(f->kv, "v", "t", val);
	}
	id = secret_id(f->kv, "v", "s", false);
	assert_int_equal(kv_secret_versions_page(f->kv, "v", "s", 0, 3, collect_version, &l), 3);
	assert_int_equal(kv_secret_versions_page(f->kv, "v", "s", 3, 3, collect_version, &l), 3);
	assert_int_equal(kv_secret_versions_page(f->kv, "v", "s", 6, 3, collect_version, &l), 1);
	assert_int_equal(l.n, 7);
	for (size_t i = 0; i < l.n; i++) {
		assert_int_equal(l.v[i].version, i + 1);
		assert_int_equal(l.v[i].object_id, id);
		assert_int_equal(l.v[i].size, 2);
	}
	assert_int_equal(kv_secret_versions_page(f->kv, "v", "s", 0, 7, collect_version, &l), 7);
	assert_int_equal(kv_secret_versions_page(f->kv, "v", "s", 7, 7, collect_version, &l), 0);
	assert_int_equal(kv_secret_versions_page(f->kv, "v", "s", 9, 7, collect_version, &l), 0);
	assert_int_equal(kv_secret_versions_page(f->kv, "v", "s", 0, 0, collect_version, &l),
			 -EINVAL);
	assert_int_equal(kv_secret_versions_page(f->kv, "v", "nope", 0, 1, collect_version, &l),
			 -ENOENT);

	/* version 5 gone: the pages before it are fine, the one that meets the gap is not */
	snprintf(sql, sizeof(sql), "DELETE FROM versions WHERE object_id = %lld AND version = 5",
		 (long long)id);
	raw_exec(f->path, sql);
	memset(&l, 0, sizeof(l));
	assert_int_equal(kv_secret_versions_page(f->kv, "v", "s", 0, 3, collect_version, &l), 3);
	assert_int_equal(kv_secret_versions_page(f->kv, "v", "s", 3, 3, collect_version, &l),
			 -EBADMSG);
	assert_int_equal(kv_secret_versions_page(f->kv, "v", "s", 5, 3, collect_version, &l), 2);
	/* the last two gone: the page that should end at 7 ends short */
	snprintf(sql, sizeof(sql), "DELETE FROM versions WHERE object_id = %lld AND version >= 6",
		 (long long)secret_id(f->kv, "v", "t", false));
	raw_exec(f->path, sql);
	raw_exec(f->path, "UPDATE objects SET current_version = 5 WHERE name = 't'");
	assert_int_equal(kv_secret_versions_page(f->kv, "v", "t", 4, 3, collect_version, &l),
			 -EBADMSG);

	assert_int_equal(kv_secret_delete(f->kv, "v", "s"), 0);
	assert_int_equal(kv_secret_versions_page(f->kv, "v", "s", 0, 3, collect_version, &l),
			 -ENOENT);
}

/* One secret by name, live or soft-deleted, as a listing gives it; -ENOENT when no object holds
 * the name, and the row checked. */
static void test_secret_lookup(void **state)
{
	const struct fixture *f = *state;
	struct kv_object_info si, sentinel;
	struct kv_attrs exp = { .enabled = 1, .expires = T0 + 100, .content_type = "" };

	assert_int_equal(kv_vault_create(f->kv, "v", 7), 0);
	set_str(f->kv, "v", "live", "x");
	set_ok(f->kv, "v", "live", "y", 1, &exp);
	set_str(f->kv, "v", "gone", "x");
	kv_set_clock(f->kv, T0 + 5);
	assert_int_equal(kv_secret_delete(f->kv, "v", "gone"), 0);

	assert_int_equal(kv_secret_lookup(f->kv, "v", "live", &si), 0);
	assert_string_equal(si.name, "live");
	assert_int_equal(si.id, secret_id(f->kv, "v", "live", false));
	assert_int_equal(si.current_version, 2);
	assert_int_equal(si.deleted_at, 0);
	assert_int_equal(si.purge_after, 0);
	assert_int_equal(si.expires, T0 + 100);
	assert_true(si.enabled);
	assert_int_equal(kv_secret_lookup(f->kv, "v", "gone", &si), 0);
	assert_int_equal(si.id, secret_id(f->kv, "v", "gone", true));
	assert_int_equal(si.deleted_at, T0 + 5);
	assert_int_equal(si.purge_after, T0 + 5 + 7 * DAY);

	memset(&sentinel, 0x5a, sizeof(sentinel));
	si = sentinel;
	assert_int_equal(kv_secret_lookup(f->kv, "v", "missing", &si), -ENOENT);
	assert_int_equal(kv_secret_lookup(f->kv, "nope", "live", &si), -ENOENT);
	assert_int_equal(kv_secret_lookup(f->kv, "v", "../live", &si), -EINVAL);
	assert_int_equal(kv_secret_lookup(f->kv, "v", "", &si), -EINVAL);
	assert_memory_equal(&si, &sentinel, sizeof(si));
	/* a deletion undone behind kv's back */
	raw_exec(f->path, "UPDATE objects SET deleted_at = 0 WHERE name = 'gone'");
	assert_int_equal(kv_secret_lookup(f->kv, "v", "gone", &si), -EBADMSG);
	assert_memory_equal(&si, &sentinel, sizeof(si));
	/* and a deletion made behind its back */
	raw_exec(f->path, "UPDATE objects SET deleted_at = 1 WHERE name = 'live'");
	assert_int_equal(kv_secret_lookup(f->kv, "v", "live", &si), -EBADMSG);
}

/* --- the object model: one layer for every kind (OBJECT_KEY, with key records as material) --- */

struct object_list {
	size_t n;
	struct kv_object_info o[MAX_ITEMS];
};

static int collect_object(const struct kv_object_info *o, void *ud)
{
	struct object_list *l = ud;

	assert_true(l->n < MAX_ITEMS);
	l->o[l->n++] = *o;
	return 0;
}

static struct object_list list_objects(struct kv *kv, enum object_type kind, bool deleted)
{
	struct object_list l = { 0 };

	assert_int_equal(kv_object_list(kv, kind, "v", deleted, collect_object, &l), 0);
	return l;
}

/* A key record (kv-key.c) of an AES-256 key whose 32 bytes start with text: what kv keeps as
 * a key version's material, its form checked at set. */
#define KEYREC_LEN (12u + 4u + 32u)
static void key_record(const char *text, uint8_t rec[KEYREC_LEN])
{
	memset(rec, 0, KEYREC_LEN);
	memcpy(rec, "VKR1", 4);
	rec[4] = KEY_AES_256;
	rec[8] = KEY_OP_ENCRYPT | KEY_OP_DECRYPT; /* key_ops, little-endian u16 */
	rec[12] = 32;				  /* private_len, u32; spki_len 0 */
	assert_true(strlen(text) <= 32);
	memcpy(rec + 16, text, strlen(text));
}

static void key_set(struct kv *kv, const char *name, const char *material, uint32_t want)
{
	uint8_t rec[KEYREC_LEN];
	uint32_t version = 0;

	key_record(material, rec);
	assert_int_equal(kv_object_set(kv, OBJECT_KEY, "v", name, rec, sizeof(rec), NULL, &version),
			 0);
	assert_int_equal(version, want);
}

static void key_get(struct kv *kv, const char *name, uint32_t version, const char *want)
{
	_cleanup_secbuf_ struct secbuf *m = NULL;
	struct kv_version_info vi;
	uint8_t rec[KEYREC_LEN];

	key_record(want, rec);
	assert_int_equal(kv_object_get(kv, OBJECT_KEY, "v", name, version, &m, &vi), 0);
	assert_int_equal(m->len, KEYREC_LEN);
	assert_memory_equal(m->data, rec, m->len);
	assert_int_equal(vi.size, KEYREC_LEN);
}

/* Keys and secrets in one vault: each listing gives its kind, KV_KIND_ANY all of them, in one
 * name order; pages count the rows of every kind. */
static void test_object_listing_mixes_kinds(void **state)
{
	const struct fixture *f = *state;
	struct object_list l;
	struct secret_list sl;
	char last[VAULTFS_NAME_MAX + 1];

	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);
	set_str(f->kv, "v", "a", "alpha");
	key_set(f->kv, "b", "key-b-material", 1);
	set_str(f->kv, "v", "c", "charlie");
	key_set(f->kv, "d", "key-d-material", 1);

	l = list_objects(f->kv, KV_KIND_ANY, false);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.o[0].name, "a");
	assert_int_equal(l.o[0].type, OBJECT_SECRET);
	assert_string_equal(l.o[1].name, "b");
	assert_int_equal(l.o[1].type, OBJECT_KEY);
	assert_int_equal(l.o[1].current_version, 1);
	assert_true(l.o[1].enabled);
	assert_int_equal(l.o[3].type, OBJECT_KEY);
	l = list_objects(f->kv, OBJECT_KEY, false);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.o[0].name, "b");
	assert_string_equal(l.o[1].name, "d");
	l = list_objects(f->kv, OBJECT_SECRET, false);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.o[1].name, "c");
	sl = list_secrets(f->kv, "v", false);
	assert_int_equal(sl.n, 2);
	assert_string_equal(sl.s[0].name, "a");
	assert_string_equal(sl.s[1].name, "c");

	/* a page of two rows: a secret and a key read, only the key given */
	memset(&l, 0, sizeof(l));
	assert_int_equal(kv_object_list_page(f->kv, OBJECT_KEY, "v", false, NULL, 2, collect_object,
					     &l, last),
			 2);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.o[0].name, "b");
	assert_string_equal(last, "b");
	memset(&l, 0, sizeof(l));
	assert_int_equal(kv_object_list_page(f->kv, OBJECT_KEY, "v", false, last, 2, collect_object,
					     &l, last),
			 2);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.o[0].name, "d");
	assert_int_equal(kv_object_list_page(f->kv, OBJECT_KEY, "v", false, last, 2, collect_object,
					     &l, last),
			 0);

	/* kinds kv does not know */
	assert_int_equal(kv_object_list(f->kv, (enum object_type)(OBJECT_CERT + 1), "v", false,
					collect_object, &l),
			 -EINVAL);
	assert_int_equal(kv_object_set(f->kv, (enum object_type)(OBJECT_CERT + 1), "v", "e", "x", 1,
				       NULL, NULL),
			 -EINVAL);
	/* a certificate's material is its record: bytes that are not one are refused */
	assert_int_equal(kv_object_set(f->kv, OBJECT_CERT, "v", "e", "x", 1, NULL, NULL), -EINVAL);
	assert_int_equal(kv_object_set(f->kv, KV_KIND_ANY, "v", "e", "x", 1, NULL, NULL), -EINVAL);
	assert_int_equal(kv_object_get(f->kv, (enum object_type)99, "v", "b", 0, NULL, NULL),
			 -EINVAL);
}

/* One name space per vault: a name held by a key is not a secret's (-ENOENT), and cannot be
 * taken by one (-EEXIST), nor the other way round; soft-deleted too. */
static void test_object_names_shared(void **state)
{
	const struct fixture *f = *state;
	_cleanup_secbuf_ struct secbuf *blob = NULL;
	static const struct kv_attrs off = { .enabled = 0,
					     .not_before = KV_KEEP,
					     .expires = KV_KEEP };
	struct kv_object_info si;
	struct kv_object_info oi;
	struct kv_version_info vi;
	struct version_list vl = { 0 };

	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);
	key_set(f->kv, "k", "key-material", 1);
	set_str(f->kv, "v", "s", "secret");

	set_fails(f->kv, "v", "k", "x", 1, NULL, -EEXIST);
	{
		uint8_t rec[KEYREC_LEN];

		key_record("x", rec);
		assert_int_equal(
			kv_object_set(f->kv, OBJECT_KEY, "v", "s", rec, sizeof(rec), NULL, NULL),
			-EEXIST);
	}
	get_fails(f->kv, "v", "k", 0, -ENOENT);
	info_fails(f->kv, "v", "k", 0, -ENOENT);
	assert_int_equal(kv_secret_lookup(f->kv, "v", "k", &si), -ENOENT);
	assert_int_equal(kv_secret_versions(f->kv, "v", "k", collect_version, &vl), -ENOENT);
	assert_int_equal(kv_secret_update(f->kv, "v", "k", 0, &off), -ENOENT);
	assert_int_equal(kv_secret_delete(f->kv, "v", "k"), -ENOENT);
	assert_int_equal(kv_secret_backup(f->kv, "v", "k", &blob), -ENOENT);
	assert_int_equal(kv_object_info(f->kv, OBJECT_KEY, "v", "s", 0, &vi), -ENOENT);
	assert_int_equal(kv_object_lookup(f->kv, OBJECT_KEY, "v", "s", &oi), -ENOENT);
	assert_int_equal(kv_object_lookup(f->kv, KV_KIND_ANY, "v", "k", &oi), 0);
	assert_int_equal(oi.type, OBJECT_KEY);
	assert_int_equal(kv_object_lookup(f->kv, KV_KIND_ANY, "v", "s", &oi), 0);
	assert_int_equal(oi.type, OBJECT_SECRET);
	/* the same inside a session (through the row cache) */
	assert_int_equal(kv_read_begin(f->kv), 0);
	get_fails(f->kv, "v", "k", 0, -ENOENT);
	key_get(f->kv, "k", 0, "key-material");
	get_fails(f->kv, "v", "k", 0, -ENOENT);
	kv_read_end(f->kv);

	/* a soft-deleted key still holds its name, for every kind */
	assert_int_equal(kv_object_delete(f->kv, OBJECT_KEY, "v", "k"), 0);
	set_fails(f->kv, "v", "k", "x", 1, NULL, -EEXIST);
	assert_int_equal(kv_secret_recover(f->kv, "v", "k"), -ENOENT);
	assert_int_equal(kv_secret_purge(f->kv, "v", "k"), -ENOENT);
	assert_int_equal(kv_object_purge(f->kv, OBJECT_KEY, "v", "k"), 0);
	set_str(f->kv, "v", "k", "now a secret");
	get_str(f->kv, "v", "k", 0, "now a secret");
}

/* Versions, attributes and the lifecycle, the same for a key as for a secret. */
static void test_object_lifecycle_per_kind(void **state)
{
	const struct fixture *f = *state;
	static const struct kv_attrs off = { .enabled = 0,
					     .not_before = KV_KEEP,
					     .expires = KV_KEEP };
	_cleanup_secbuf_ struct secbuf *m = NULL;
	struct version_list vl = { 0 };
	struct object_list l;
	struct kv_object_info oi;

	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);
	set_str(f->kv, "v", "s", "secret");
	key_set(f->kv, "k", "key-one", 1);
	key_set(f->kv, "k", "key-two", 2);
	key_get(f->kv, "k", 0, "key-two");
	key_get(f->kv, "k", 1, "key-one");
	assert_int_equal(kv_object_versions(f->kv, OBJECT_KEY, "v", "k", collect_version, &vl), 0);
	assert_int_equal(vl.n, 2);
	assert_int_equal(kv_object_update(f->kv, OBJECT_KEY, "v", "k", 1, &off), 0);
	assert_int_equal(kv_object_get(f->kv, OBJECT_KEY, "v", "k", 1, &m, NULL), -EKEYREVOKED);
	key_get(f->kv, "k", 2, "key-two");

	assert_int_equal(kv_object_delete(f->kv, OBJECT_KEY, "v", "k"), 0);
	assert_int_equal(kv_object_get(f->kv, OBJECT_KEY, "v", "k", 0, &m, NULL), -ENOENT);
	assert_int_equal(kv_object_delete(f->kv, OBJECT_KEY, "v", "k"), -ENOENT);
	l = list_objects(f->kv, OBJECT_KEY, true);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.o[0].name, "k");
	assert_int_equal(l.o[0].deleted_at, T0);
	assert_int_equal(l.o[0].purge_after, T0 + (int64_t)VAULTFS_RETENTION_DEFAULT * 86400);
	assert_int_equal(list_objects(f->kv, OBJECT_KEY, false).n, 0);
	assert_int_equal(list_secrets(f->kv, "v", true).n, 0); /* the deleted key is no secret */
	assert_int_equal(list_objects(f->kv, OBJECT_SECRET, false).n, 1);
	assert_int_equal(kv_object_recover(f->kv, OBJECT_KEY, "v", "k"), 0);
	key_get(f->kv, "k", 0, "key-two");
	assert_int_equal(kv_object_lookup(f->kv, OBJECT_KEY, "v", "k", &oi), 0);
	assert_int_equal(oi.deleted_at, 0);
	assert_int_equal(oi.current_version, 2);

	/* the scheduled purge takes keys as it takes secrets */
	assert_int_equal(kv_object_delete(f->kv, OBJECT_KEY, "v", "k"), 0);
	kv_set_clock(f->kv, T0 + (int64_t)VAULTFS_RETENTION_DEFAULT * 86400 + 1);
	{
		struct purge_seen p = { .fail_at = -1 };

		assert_int_equal(kv_purge_due(f->kv, purge_cb, &p), 1);
		assert_int_equal(p.n, 1);
		assert_string_equal(p.names[0], "v/k");
	}
	assert_int_equal(kv_object_lookup(f->kv, KV_KIND_ANY, "v", "k", &oi), -ENOENT);
	get_str(f->kv, "v", "s", 0, "secret");
}

/* A backup keeps the kind: a key's blob restores as a key, and not through the secret calls. */
static void test_object_backup_keeps_kind(void **state)
{
	const struct fixture *f = *state;
	_cleanup_secbuf_ struct secbuf *blob = NULL;
	char name[VAULTFS_NAME_MAX + 1];
	enum object_type kind = 0;
	struct kv_object_info oi;

	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);
	assert_int_equal(kv_vault_create(f->kv, "w", 0), 0);
	key_set(f->kv, "k", "key-one", 1);
	key_set(f->kv, "k", "key-two", 2);
	assert_int_equal(kv_object_backup(f->kv, OBJECT_SECRET, "v", "k", &blob), -ENOENT);
	assert_int_equal(kv_object_backup(f->kv, OBJECT_KEY, "v", "k", &blob), 0);
	assert_int_equal(kv_backup_peek(f->kv, blob->data, blob->len, &kind, name), 0);
	assert_int_equal(kind, OBJECT_KEY);
	assert_string_equal(name, "k");
	assert_int_equal(kv_backup_name(f->kv, blob->data, blob->len, name), 0);
	assert_string_equal(name, "k");

	/* the name is taken in v by the key itself; in w a secret restore refuses the kind */
	assert_int_equal(kv_object_restore(f->kv, OBJECT_KEY, "v", blob->data, blob->len, name),
			 -EEXIST);
	assert_int_equal(kv_secret_restore(f->kv, "w", blob->data, blob->len, name), -EMEDIUMTYPE);
	assert_int_equal(kv_object_lookup(f->kv, KV_KIND_ANY, "w", "k", &oi), -ENOENT);
	assert_int_equal(kv_object_restore(f->kv, KV_KIND_ANY, "w", blob->data, blob->len, name),
			 0);
	assert_string_equal(name, "k");
	assert_int_equal(kv_object_lookup(f->kv, KV_KIND_ANY, "w", "k", &oi), 0);
	assert_int_equal(oi.type, OBJECT_KEY);
	assert_int_equal(oi.current_version, 2);
	{
		_cleanup_secbuf_ struct secbuf *m = NULL;

		assert_int_equal(kv_object_get(f->kv, OBJECT_KEY, "w", "k", 1, &m, NULL), 0);
		assert_memory_equal(m->data + 16, "key-one", 7); /* the record's private bytes */
	}
	get_fails(f->kv, "w", "k", 0, -ENOENT);
}

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = strlen(hex) / 2;

	assert_true(n <= cap);
	for (size_t i = 0; i < n; i++) {
		unsigned b;

		assert_int_equal(sscanf(hex + 2 * i, "%2x", &b), 1);
		out[i] = (uint8_t)b;
	}
	return n;
}

/* A blob made by the code before the object model (kv.c at b4d77e7: master key a0 a1 .. bf,
 * secret v/old-secret, version 1 "first" text/plain env=prod, version 2 "second value"
 * disabled, nbf 1700000000, exp 1800000000) restores as that secret. */
static void test_object_restore_old_blob(void **state)
{
	static const char old[] =
		"56465342414b3100010000002d2c8544a5cec2d5f4604a2ed524d8fa9f294feed46b530ae0"
		"9cc86366e4d30c8a1412ed96adf231d3ce51ec1bdb13a5950c35132918ceecafb68df64b12"
		"445e0f6e061f5bcfacf9926fc534180ba27a8c80788c3891c5833f83436cc4887d00b88acf"
		"ec406e0ff89222bc538fa427da5cf81b88e80d8e53fb2dc0e38f8b5559e1150611190dc2fc"
		"1514b695f1bb851e54f66a90de7e135ccd02edccdd0050d13bfa04fd542ddc4932dbad783f"
		"a0e57411bb28d9103890dbbc51";
	const struct fixture *f = *state;
	uint8_t master[CRYPTO_KEY_LEN], blob[sizeof(old) / 2];
	char name[VAULTFS_NAME_MAX + 1], path[128];
	struct kv_version_info vi;
	size_t n = unhex(old, blob, sizeof(blob));
	struct kv *kv;

	for (size_t i = 0; i < sizeof(master); i++)
		master[i] = (uint8_t)(0xa0 + i);
	snprintf(path, sizeof(path), "%s/old-master.db", f->dir);
	kv = kv_open(path, true, master);
	assert_int_equal(kv_vault_create(kv, "v", 0), 0);
	assert_int_equal(kv_secret_restore(kv, "v", blob, n, name), 0);
	assert_string_equal(name, "old-secret");
	get_str(kv, "v", "old-secret", 1, "first");
	vi = info_ok(kv, "v", "old-secret", 1);
	assert_string_equal(vi.content_type, "text/plain");
	assert_string_equal(vi.tags, "env=prod\n");
	vi = info_ok(kv, "v", "old-secret", 2);
	assert_false(vi.enabled);
	assert_int_equal(vi.not_before, 1700000000);
	assert_int_equal(vi.expires, 1800000000);
	get_fails(kv, "v", "old-secret", 2, -EKEYREVOKED);
	/* a store of another master key does not open it */
	assert_int_equal(kv_vault_create(f->kv, "v", 0), 0);
	assert_int_equal(kv_secret_restore(f->kv, "v", blob, n, name), -EBADMSG);
	kv_free(kv);
}

/* --- max-versions and rollback (issue 18) --- */

struct pruned {
	size_t n;
	uint32_t v[64];
	int fail; /* returned by the callback when not 0 */
};

static int collect_pruned(const char *vault, const char *name, uint32_t version, void *ud)
{
	struct pruned *p = ud;

	assert_string_equal(vault, "v");
	assert_non_null(name);
	if (p->fail)
		return p->fail;
	assert_true(p->n < ELEMENTSOF(p->v));
	p->v[p->n++] = version;
	return 0;
}

/* Version `version` of vault/name is still there (none pruned in a vault without max-versions). */
static void info_ok_version(struct kv *kv, const char *vault, const char *name, uint32_t version)
{
	struct kv_version_info info;

	assert_int_equal(kv_secret_info(kv, vault, name, version, &info), 0);
	assert_int_equal(info.version, version);
}

static struct version_list versions_of(struct kv *kv, const char *vault, const char *name)
{
	struct version_list l = { 0 };

	assert_int_equal(kv_secret_versions(kv, vault, name, collect_version, &l), 0);
	return l;
}

/* A vault's max-versions of 5: after 50 sets exactly the 5 newest are kept, each pruned one told
 * first, oldest first; a pruned version reads -ENOENT (not an integrity error), the others and
 * the current one read; none and the vault's row survive a reopen. */
static void test_max_versions_prune(void **state)
{
	const struct fixture *f = *state;
	struct pruned p = { 0 };
	struct version_list l;
	struct kv_vault_info vi;
	char val[32];
	struct kv *kv2;

	assert_int_equal(kv_vault_create_with(f->kv, "v", 7, 5), 0);
	assert_int_equal(kv_vault_create(f->kv, "all", 7), 0);
	assert_int_equal(kv_vault_get(f->kv, "v", &vi), 0);
	assert_int_equal(vi.max_versions, 5);
	assert_int_equal(kv_vault_get(f->kv, "all", &vi), 0);
	assert_int_equal(vi.max_versions, 0);
	for (int i = 1; i <= 50; i++) {
		snprintf(val, sizeof(val), "value-%d", i);
		kv_set_clock(f->kv, T0 + i);
		assert_int_equal(set_str(f->kv, "v", "s", val), (uint32_t)i);
		assert_int_equal(kv_secret_prune(f->kv, "v", "s", collect_pruned, &p),
				 i > 5 ? 1 : 0);
		set_str(f->kv, "all", "s", val);
		assert_int_equal(kv_secret_prune(f->kv, "all", "s", collect_pruned, &p), 0);
	}
	assert_int_equal(p.n, 45);
	for (size_t i = 0; i < p.n; i++)
		assert_int_equal(p.v[i], i + 1);
	l = versions_of(f->kv, "v", "s");
	assert_int_equal(l.n, 5);
	for (size_t i = 0; i < l.n; i++)
		assert_int_equal(l.v[i].version, 46 + i);
	info_ok_version(f->kv, "all", "s", 1);
	get_str(f->kv, "v", "s", 0, "value-50");
	get_str(f->kv, "v", "s", 46, "value-46");
	get_fails(f->kv, "v", "s", 45, -ENOENT);
	get_fails(f->kv, "v", "s", 1, -ENOENT);
	info_fails(f->kv, "v", "s", 45, -ENOENT);
	get_fails(f->kv, "v", "s", 51, -ENOENT);
	/* pages from the start and from a cursor among the pruned ones */
	memset(&l, 0, sizeof(l));
	assert_int_equal(kv_secret_versions_page(f->kv, "v", "s", 0, 3, collect_version, &l), 3);
	assert_int_equal(l.v[0].version, 46);
	assert_int_equal(kv_secret_versions_page(f->kv, "v", "s", 48, 3, collect_version, &l), 2);
	assert_int_equal(l.v[4].version, 50);
	memset(&l, 0, sizeof(l));
	assert_int_equal(kv_secret_versions_page(f->kv, "v", "s", 10, 9, collect_version, &l), 5);
	/* a backup of a pruned secret holds the versions kept (46..50); it restores into a vault
	 * that prunes, with the same numbers, and is refused (-EXDEV, nothing written) by one that
	 * does not, where the missing versions would read as rows taken out */
	{
		struct secbuf *blob = NULL;
		char name[VAULTFS_NAME_MAX + 1];

		assert_int_equal(kv_secret_backup(f->kv, "v", "s", &blob), 0);
		assert_int_equal(kv_vault_create_with(f->kv, "pv", 7, 10), 0);
		assert_int_equal(kv_vault_create(f->kv, "np", 7), 0);
		assert_int_equal(kv_secret_restore(f->kv, "np", blob->data, blob->len, name),
				 -EXDEV);
		get_fails(f->kv, "np", "s", 0, -ENOENT);
		restore_ok(f->kv, "pv", blob, "s");
		secbuf_free(blob);
		l = versions_of(f->kv, "pv", "s");
		assert_int_equal(l.n, 5);
		for (size_t i = 0; i < l.n; i++)
			assert_int_equal(l.v[i].version, 46 + i);
		get_str(f->kv, "pv", "s", 0, "value-50");
		get_str(f->kv, "pv", "s", 46, "value-46");
		get_fails(f->kv, "pv", "s", 45, -ENOENT);
		assert_int_equal(kv_secret_backup(f->kv, "all", "s", &blob), 0);
		secbuf_free(blob);
		assert_int_equal(kv_secret_backup(f->kv, "v", "nope", &blob), -ENOENT);
	}
	/* again with nothing over: nothing pruned */
	assert_int_equal(kv_secret_prune(f->kv, "v", "s", collect_pruned, &p), 0);

	/* another kv on the store: the vault row (MAC'd with max-versions) and the gap hold */
	kv2 = kv_open(f->path, false, f->master);
	assert_int_equal(kv_vault_get(kv2, "v", &vi), 0);
	assert_int_equal(vi.max_versions, 5);
	get_fails(kv2, "v", "s", 3, -ENOENT);
	get_str(kv2, "v", "s", 47, "value-47");
	assert_int_equal(versions_of(kv2, "v", "s").n, 5);
	kv_free(kv2);

	/* lowered to 3: the next prune takes two; none: nothing more is pruned, and what was
	 * stays gone (the vault prunes for good) */
	assert_int_equal(kv_vault_set_max_versions(f->kv, "v", 3), 0);
	assert_int_equal(kv_secret_prune(f->kv, "v", "s", collect_pruned, &p), 2);
	assert_int_equal(versions_of(f->kv, "v", "s").n, 3);
	assert_int_equal(kv_vault_set_max_versions(f->kv, "v", 0), 0);
	assert_int_equal(kv_vault_get(f->kv, "v", &vi), 0);
	assert_int_equal(vi.max_versions, 0);
	set_str(f->kv, "v", "s", "value-51");
	assert_int_equal(kv_secret_prune(f->kv, "v", "s", collect_pruned, &p), 0);
	l = versions_of(f->kv, "v", "s");
	assert_int_equal(l.n, 4);
	assert_int_equal(l.v[0].version, 48);
	get_fails(f->kv, "v", "s", 47, -ENOENT);

	/* refusals */
	assert_int_equal(kv_vault_set_max_versions(f->kv, "v", VAULTFS_VERSIONS_MAX + 1), -EINVAL);
	assert_int_equal(kv_vault_create_with(f->kv, "w", 7, VAULTFS_VERSIONS_MAX + 1), -EINVAL);
	assert_int_equal(kv_vault_set_max_versions(f->kv, "nope", 3), -ENOENT);
	assert_int_equal(kv_secret_prune(f->kv, "v", "nope", collect_pruned, &p), -ENOENT);
	assert_int_equal(kv_secret_prune(f->kv, "v", "s", NULL, NULL), -EINVAL);
	assert_int_equal(kv_secret_prune(f->kv, "v", ".x", collect_pruned, &p), -EINVAL);
}

/* The callback's error stops and undoes the prune; a version taken away in the middle or at
 * the top of a secret in a vault that prunes is still an integrity error; the vault's new
 * columns are under its MAC. */
static void test_max_versions_tamper(void **state)
{
	const struct fixture *f = *state;
	struct pruned p = { .fail = -EIO };
	struct version_list l = { 0 };
	struct kv_vault_info vi;
	char sql[128];
	int64_t id;

	assert_int_equal(kv_vault_create_with(f->kv, "v", 7, 2), 0);
	for (int i = 1; i <= 6; i++)
		set_str(f->kv, "v", "s", "x");
	assert_int_equal(kv_secret_prune(f->kv, "v", "s", collect_pruned, &p), -EIO);
	assert_int_equal(versions_of(f->kv, "v", "s").n, 6);
	p.fail = 0;
	assert_int_equal(kv_secret_prune(f->kv, "v", "s", collect_pruned, &p), 4);
	set_str(f->kv, "v", "s", "y");
	set_str(f->kv, "v", "s", "z"); /* 5..8 */
	id = secret_id(f->kv, "v", "s", false);
	snprintf(sql, sizeof(sql), "DELETE FROM versions WHERE object_id = %lld AND version = 6",
		 (long long)id);
	raw_exec(f->path, sql);
	assert_int_equal(kv_secret_versions(f->kv, "v", "s", collect_version, &l), -EBADMSG);
	snprintf(sql, sizeof(sql), "DELETE FROM versions WHERE object_id = %lld AND version = 8",
		 (long long)id);
	raw_exec(f->path, sql);
	get_fails(f->kv, "v", "s", 0, -EBADMSG);

	raw_exec(f->path, "UPDATE vaults SET max_versions = 100 WHERE name = 'v'");
	assert_int_equal(kv_vault_get(f->kv, "v", &vi), -EBADMSG);
	/* nor can a vault that never pruned be made to take a gap for a prune */
	assert_int_equal(kv_vault_create(f->kv, "w", 7), 0);
	set_str(f->kv, "w", "s", "1");
	set_str(f->kv, "w", "s", "2");
	raw_exec(f->path, "UPDATE vaults SET prunes = 1 WHERE name = 'w'");
	assert_int_equal(kv_vault_get(f->kv, "w", &vi), -EBADMSG);
	get_fails(f->kv, "w", "s", 1, -EBADMSG);
}

/* With purge protection a version is pruned only once it was superseded (its next version
 * made) at least the vault's retention ago, whatever max-versions says. */
static void test_max_versions_protected(void **state)
{
	const struct fixture *f = *state;
	struct pruned p = { 0 };

	assert_int_equal(kv_vault_create_with(f->kv, "v", 7, 2), 0);
	assert_int_equal(kv_vault_protect(f->kv, "v"), 0);
	for (int i = 0; i < 4; i++) { /* version i + 1 made at day i */
		kv_set_clock(f->kv, T0 + i * DAY);
		set_str(f->kv, "v", "s", "x");
	}
	assert_int_equal(kv_secret_prune(f->kv, "v", "s", collect_pruned, &p), 0);
	/* version 1 was superseded at day 1: prunable from day 8, version 2 from day 9 */
	kv_set_clock(f->kv, T0 + 8 * DAY - 1);
	assert_int_equal(kv_secret_prune(f->kv, "v", "s", collect_pruned, &p), 0);
	kv_set_clock(f->kv, T0 + 8 * DAY);
	assert_int_equal(kv_secret_prune(f->kv, "v", "s", collect_pruned, &p), 1);
	assert_int_equal(p.v[0], 1);
	kv_set_clock(f->kv, T0 + 30 * DAY);
	assert_int_equal(kv_secret_prune(f->kv, "v", "s", collect_pruned, &p), 1);
	assert_int_equal(p.n, 2);
	assert_int_equal(versions_of(f->kv, "v", "s").n, 2);
	get_fails(f->kv, "v", "s", 2, -ENOENT);
}

/* Rollback: a new current version of an old one's bytes, content type and tags (enabled, no
 * dates); refusals: no such version or secret, a disabled version, a pruned one. */
static void test_rollback(void **state)
{
	const struct fixture *f = *state;
	const char *tags[] = { "env=prod", "a=b" };
	struct kv_attrs a = {
		.enabled = 1, .content_type = "text/plain", .tags = tags, .n_tags = 2
	};
	struct kv_attrs old = { .enabled = 1, .content_type = "", .expires = T0 - 10 };
	struct kv_attrs off = KV_ATTRS_KEEP;
	struct kv_version_info info;
	struct pruned p = { 0 };
	uint32_t v = 0;

	kv_set_clock(f->kv, T0 - 100);
	assert_int_equal(kv_vault_create(f->kv, "v", 7), 0);
	assert_int_equal(set_ok(f->kv, "v", "s", "one", 3, &a), 1);
	set_str(f->kv, "v", "s", "two-bad");
	kv_set_clock(f->kv, T0);
	assert_int_equal(kv_secret_rollback(f->kv, "v", "s", 1, &v), 0);
	assert_int_equal(v, 3);
	get_str(f->kv, "v", "s", 0, "one");
	assert_int_equal(kv_secret_info(f->kv, "v", "s", 3, &info), 0);
	assert_string_equal(info.content_type, "text/plain");
	assert_string_equal(info.tags, "a=b\nenv=prod\n");
	assert_true(info.enabled);
	assert_int_equal(info.created, T0);
	get_str(f->kv, "v", "s", 2, "two-bad");

	/* an expired version's bytes come back without its dates */
	assert_int_equal(set_ok(f->kv, "v", "s", "four", 4, &old), 4);
	get_fails(f->kv, "v", "s", 4, -EKEYEXPIRED);
	assert_int_equal(kv_secret_rollback(f->kv, "v", "s", 4, &v), 0);
	assert_int_equal(v, 5);
	get_str(f->kv, "v", "s", 0, "four");

	/* refusals, nothing made */
	off.enabled = 0;
	assert_int_equal(kv_secret_update(f->kv, "v", "s", 2, &off), 0);
	v = 77;
	assert_int_equal(kv_secret_rollback(f->kv, "v", "s", 2, &v), -EKEYREVOKED);
	assert_int_equal(kv_secret_rollback(f->kv, "v", "s", 6, &v), -ENOENT);
	assert_int_equal(kv_secret_rollback(f->kv, "v", "s", 0, &v), -ENOENT);
	assert_int_equal(kv_secret_rollback(f->kv, "v", "nope", 1, &v), -ENOENT);
	assert_int_equal(kv_secret_rollback(f->kv, "nope", "s", 1, &v), -ENOENT);
	assert_int_equal(v, 77);
	assert_int_equal(versions_of(f->kv, "v", "s").n, 5);

	/* pruned: gone */
	assert_int_equal(kv_vault_set_max_versions(f->kv, "v", 2), 0);
	assert_int_equal(kv_secret_prune(f->kv, "v", "s", collect_pruned, &p), 3);
	assert_int_equal(p.n, 3);
	assert_int_equal(kv_secret_rollback(f->kv, "v", "s", 1, &v), -ENOENT);
	assert_int_equal(kv_secret_rollback(f->kv, "v", "s", 4, &v), 0);
	assert_int_equal(v, 6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_new, setup, teardown),
		cmocka_unit_test_setup_teardown(test_derive_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vault_crud, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vault_delete_not_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_versions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attributes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attributes_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_recover_purge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ids_never_reused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_ciphertext_swap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_ciphertext_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_current_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_newest_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_vault_key_swap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_sees_edits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_own_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vault_keys_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_keys_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_key_rewritten, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_key_recreated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_key_moved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_put_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_session_scoped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_master, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plaintext_not_on_disk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
		cmocka_unit_test_setup_teardown(test_protect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_current_attrs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backup_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_other_vault, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backup_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_damaged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_policy_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_first_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backup_size_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry_scan, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry_scan_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry_scan_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_purge_due, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secret_list_page, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secret_list_page_tampered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vault_list_page, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secret_versions_page, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secret_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_object_listing_mixes_kinds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_object_names_shared, setup, teardown),
		cmocka_unit_test_setup_teardown(test_object_lifecycle_per_kind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_object_backup_keeps_kind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_object_restore_old_blob, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_versions_prune, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_versions_tamper, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_versions_protected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
