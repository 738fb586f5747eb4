/* test-kv.c: unit tests for core/kv.c over a real store (store_open with STORE_CREATE in a temp
 * dir of each test's own) and a random master key; no TPM. Exact results and exact -errnos for
 * vaults (create, get, list, delete, names), secret values (empty, binary, the size cap), versions,
 * attributes (content type, canonical tags, dates), the lifecycle on a moved clock (disabled,
 * not yet valid, expired), update, soft delete, recover and purge, ids never reused, callbacks
 * that stop a listing, and integrity: rows edited behind kv's back through a second sqlite3
 * handle (ciphertexts and keys swapped between rows, flags flipped, the version pointer rolled
 * back, the newest version dropped, names changed) are -EBADMSG, a different master key is
 * -EBADMSG, and no plaintext ever reaches the database or its WAL. Purge protection is not
 * tested: kv has no call that turns it on. */
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

static uint32_t set_ok(struct kv *kv, const char *vault, const char *name, const void *p,
		       size_t n, const struct kv_attrs *a)
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
static void set_fails(struct kv *kv, const char *vault, const char *name, const void *p,
		      size_t n, const struct kv_attrs *a, int r)
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
static void get_fails(struct kv *kv, const char *vault, const char *name, uint32_t version,
		      int r)
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

static void info_fails(struct kv *kv, const char *vault, const char *name, uint32_t version,
		       int r)
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
	struct kv_secret_info s[MAX_ITEMS];
	int stop_after;
};

static int collect_secret(const struct kv_secret_info *s, void *ud)
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

	assert_in_range(snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE %s", col, table,
				 where),
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

	assert_in_range(snprintf(sql, sizeof(sql), "UPDATE %s SET %s = ?1 WHERE %s", table, col,
				 where),
			1, sizeof(sql) - 1);
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
	assert_in_range(snprintf(buf, n, "object_id = %lld AND version = %u",
				 (long long)object_id, version),
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
		"", "..", ".", ".x", "-x", "_x", "a/b", "/a", "a b", " a", "a\tb", "a\nb",
		"a\x01", "\x7f", "a\x7f", "caf\xc3\xa9", "a:b", "a=b", "a*", "a\\b", n128,
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
		assert_int_equal(kv_vault_create(f->kv, bad[i]), -EINVAL);
		assert_int_equal(kv_vault_get(f->kv, bad[i], &vi), -EINVAL);
		assert_int_equal(kv_vault_delete(f->kv, bad[i]), -EINVAL);
	}
	for (size_t i = 0; i < ELEMENTSOF(good); i++) {
		if (!kv_name_valid(good[i]))
			fail_msg("'%s' is not valid", good[i]);
		assert_int_equal(kv_vault_create(f->kv, good[i]), 0);
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
		assert_int_equal(kv_secret_list(f->kv, bad[i], false, collect_secret, &l),
				 -EINVAL);
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

	assert_int_equal(kv_vault_create(f->kv, "prod"), 0);
	assert_int_equal(kv_vault_create(f->kv, "prod"), -EEXIST);
	kv_set_clock(f->kv, T0 + 60);
	assert_int_equal(kv_vault_create(f->kv, "dev"), 0);
	assert_int_equal(kv_vault_create(f->kv, "Prod"), 0); /* names are case-sensitive */

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
	assert_int_equal(kv_vault_create(f->kv, "dev"), 0);
	set_fails(f->kv, "nope", "s", "x", 1, NULL, -ENOENT);
	get_fails(f->kv, "nope", "s", 0, -ENOENT);
	assert_int_equal(kv_secret_list(f->kv, "nope", false, collect_secret, &sl), -ENOENT);
	assert_int_equal(sl.n, 0);
}

static void test_vault_delete_not_empty(void **state)
{
	const struct fixture *f = *state;

	assert_int_equal(kv_vault_create(f->kv, "v"), 0);
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
	assert_int_equal(kv_vault_create(f->kv, "v"), 0);
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
	assert_int_equal(kv_vault_create(f->kv, "v"), 0);

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
	assert_int_equal(kv_vault_create(f->kv, "w"), 0);
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

	assert_int_equal(kv_vault_create(f->kv, "v"), 0);
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
	assert_int_equal(kv_secret_versions(f->kv, "v", "missing", collect_version, &vl),
			 -ENOENT);

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

	assert_int_equal(kv_vault_create(f->kv, "v"), 0);
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

	assert_int_equal(kv_vault_create(f->kv, "v"), 0);
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
		struct kv_attrs a = { .enabled = 1, .content_type = ct255, .tags = edge,
				      .n_tags = 2 };
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

	assert_int_equal(kv_vault_create(f->kv, "v"), 0);
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

	assert_int_equal(kv_vault_create(f->kv, "v"), 0);
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

	assert_int_equal(kv_vault_create(f->kv, "v"), 0);
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

	assert_int_equal(kv_vault_create(f->kv, "v"), 0);
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
	assert_int_equal(kv_vault_create(f->kv, "v"), 0);
	assert_int_equal(set_str(f->kv, "v", "s", "newer"), 1);
	assert_true(secret_id(f->kv, "v", "s", false) > new_id);
	get_str(f->kv, "v", "s", 0, "newer");
}

/* --- integrity --- */

/* Two secrets a and b with two versions of equal length each. */
static void two_secrets(const struct fixture *f, int64_t *ret_a, int64_t *ret_b)
{
	assert_int_equal(kv_vault_create(f->kv, "v"), 0);
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

	assert_int_equal(kv_vault_create(f->kv, "v"), 0);
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

	assert_int_equal(kv_vault_create(f->kv, "w"), 0);
	raw_exec(f->path, "UPDATE vaults SET name = 'x' WHERE name = 'w'");
	assert_int_equal(kv_vault_get(f->kv, "x", &vi), -EBADMSG);
	assert_int_equal(kv_vault_get(f->kv, "w", &vi), -ENOENT);
	assert_int_equal(kv_vault_list(f->kv, collect_vault, &vl), -EBADMSG);

	/* A soft delete undone behind our back. */
	assert_int_equal(kv_secret_delete(f->kv, "v", "b"), 0);
	raw_exec(f->path, "UPDATE objects SET deleted_at = 0 WHERE name = 'b'");
	get_fails(f->kv, "v", "b", 0, -EBADMSG);
}

static void test_tamper_vault_key_swap(void **state)
{
	const struct fixture *f = *state;
	struct kv_vault_info vi;

	assert_int_equal(kv_vault_create(f->kv, "v1"), 0);
	assert_int_equal(kv_vault_create(f->kv, "v2"), 0);
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

	assert_int_equal(kv_vault_create(f->kv, "v"), 0);
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
static bool store_files_contain(const struct fixture *f, const uint8_t *p, size_t n,
				size_t stride, size_t *ret_total)
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
	assert_int_equal(kv_vault_create(f->kv, "v"), 0);
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
		cmocka_unit_test_setup_teardown(test_wrong_master, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plaintext_not_on_disk, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
