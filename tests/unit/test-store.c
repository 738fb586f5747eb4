/* test-store.c: unit tests for core/store*.c. Each test gets a temp dir of its own and checks
 * exact results and exact -errnos: open/create/reopen and the refusals (missing, garbage, a
 * foreign SQLite database, a newer schema, a symlink, read-only writes), meta, vaults, objects
 * and versions (every lookup, update and refusal), ids never reused after purge, transactions,
 * re-entrant callbacks, and rows tampered with through the sqlite3 API (wrong blob lengths,
 * over-long text, out-of-range integers), which must read as -EBADMSG. Schema 2: the migration
 * from 1, the expiry walk (window, soft-deleted left out, order, cursor, limit, which notices
 * cover what, a changed date arming again), notice marks, and that the walk is an index range
 * (SQLite's own full-scan step counter on the store's statement). The generation: unchanged by
 * reads, changed by our writes (rolled back too) and another handle's commits, a snapshot's in
 * a read transaction. Pages (bounded, resumable listings): empty, every page size against the
 * foreach's order (exact fits included), names of odd bytes, a cursor that names no row, rows
 * added and removed between pages, refusals, -EBUSY from their own callback, damaged rows
 * refused by the page that reaches them (and from the first the rows no cursor could pass),
 * and that a page is an index range that reads no row of another vault or object. Schema 6:
 * the vault's max_versions and prunes from a store of 5, and one version removed alone. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "core/store.h"
#include "core/util.h"
#include "tests/unit/testlib.h"

#define VFS1_APPLICATION_ID 0x56465331
#define SCHEMA_VERSION 7
#define CT_MAX (VAULTFS_VALUE_MAX + CRYPTO_AEAD_OVERHEAD)
#define TAGS_MAX (VAULTFS_TAGS_MAX * (VAULTFS_TAG_KEY_MAX + VAULTFS_TAG_VALUE_MAX + 2))

struct fixture {
	char *dir;
	char path[96];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || test_tmpdir(&f->dir) < 0) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/vault.db", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	test_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static struct store *open_ok(const struct fixture *f, int flags)
{
	struct store *s = NULL;

	assert_int_equal(store_open(f->path, flags, &s), 0);
	assert_non_null(s);
	return s;
}

static struct store_vault vault_new(const char *name, unsigned seed)
{
	struct store_vault v = { 0 };

	snprintf(v.name, sizeof(v.name), "%s", name);
	test_fill(v.wrapped_key, sizeof(v.wrapped_key), seed);
	test_fill(v.mac, sizeof(v.mac), seed + 1000);
	v.created = 1700000000 + seed;
	v.retention_days = 90;
	v.purge_protection = seed % 2;
	return v;
}

static struct store_object object_new(int64_t vault_id, const char *name, unsigned seed)
{
	struct store_object o = { 0 };

	o.vault_id = vault_id;
	snprintf(o.name, sizeof(o.name), "%s", name);
	o.type = OBJECT_SECRET;
	o.current_version = 0;
	o.created = 1700000100 + seed;
	test_fill(o.mac, sizeof(o.mac), seed + 2000);
	return o;
}

/* A version row whose ciphertext points at ct (caller-owned). */
static struct store_version version_new(int64_t object_id, uint32_t version, uint8_t *ct,
					size_t len, unsigned seed)
{
	struct store_version v = { 0 };

	v.object_id = object_id;
	v.version = version;
	v.enabled = true;
	v.not_before = 1700000000;
	v.expires = 1800000000 + seed;
	v.created = 1700000200 + seed;
	v.updated = v.created;
	snprintf(v.content_type, sizeof(v.content_type), "application/x-test-%u", seed);
	v.tags = (char *)"env=prod\nowner=ops\n";
	test_fill(v.wrapped_dek, sizeof(v.wrapped_dek), seed + 3000);
	v.ciphertext = ct;
	v.ciphertext_len = len;
	test_fill(v.mac, sizeof(v.mac), seed + 4000);
	return v;
}

static void assert_vault_equal(const struct store_vault *a, const struct store_vault *b)
{
	assert_int_equal(a->id, b->id);
	assert_string_equal(a->name, b->name);
	assert_memory_equal(a->wrapped_key, b->wrapped_key, sizeof(a->wrapped_key));
	assert_int_equal(a->created, b->created);
	assert_int_equal(a->retention_days, b->retention_days);
	assert_int_equal(a->purge_protection, b->purge_protection);
	assert_memory_equal(a->mac, b->mac, sizeof(a->mac));
}

static void assert_object_equal(const struct store_object *a, const struct store_object *b)
{
	assert_int_equal(a->id, b->id);
	assert_int_equal(a->vault_id, b->vault_id);
	assert_string_equal(a->name, b->name);
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->current_version, b->current_version);
	assert_int_equal(a->created, b->created);
	assert_int_equal(a->deleted_at, b->deleted_at);
	assert_memory_equal(a->mac, b->mac, sizeof(a->mac));
}

/* Everything but the ciphertext. */
static void assert_version_attrs_equal(const struct store_version *a, const struct store_version *b)
{
	assert_int_equal(a->object_id, b->object_id);
	assert_int_equal(a->version, b->version);
	assert_int_equal(a->enabled, b->enabled);
	assert_int_equal(a->not_before, b->not_before);
	assert_int_equal(a->expires, b->expires);
	assert_int_equal(a->created, b->created);
	assert_int_equal(a->updated, b->updated);
	assert_string_equal(a->content_type, b->content_type);
	assert_non_null(a->tags);
	assert_non_null(b->tags);
	assert_string_equal(a->tags, b->tags);
	assert_memory_equal(a->wrapped_dek, b->wrapped_dek, sizeof(a->wrapped_dek));
	assert_memory_equal(a->mac, b->mac, sizeof(a->mac));
}

/* Run SQL on the database through a plain sqlite3 handle (the store closed meanwhile). */
static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	char *err = NULL;

	assert_int_equal(
		sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
		SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("raw_exec(%s): %s", sql, err ? err : "?");
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	/* a file SQLite created is 0644 under our umask: keep it ours alone, so that the store
	 * judges what is in it rather than its mode */
	assert_int_equal(chmod(path, 0600), 0);
}

static int64_t raw_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	return v;
}

/* A store with one vault "v" (id in *ret_vault) and one object "o" (id in *ret_object). */
static struct store *populated(const struct fixture *f, int64_t *ret_vault, int64_t *ret_object)
{
	struct store *s = open_ok(f, STORE_CREATE);
	struct store_vault v = vault_new("v", 1);
	struct store_object o;

	assert_int_equal(store_vault_insert(s, &v), 0);
	o = object_new(v.id, "o", 1);
	assert_int_equal(store_object_insert(s, &o), 0);
	*ret_vault = v.id;
	*ret_object = o.id;
	return s;
}

/* --- open --- */

static void test_create_open_reopen(void **state)
{
	const struct fixture *f = *state;
	struct store *s;
	uint8_t *val = NULL;
	size_t n = 0;

	s = open_ok(f, STORE_CREATE);
	assert_int_equal(store_schema_version(s), SCHEMA_VERSION);
	assert_int_equal(store_meta_set(s, "k", "hello", 5), 0);
	store_free(s);

	/* Reopen without and with STORE_CREATE: the data is there, nothing is re-created. */
	s = open_ok(f, 0);
	assert_int_equal(store_schema_version(s), SCHEMA_VERSION);
	assert_int_equal(store_meta_get(s, "k", &val, &n), 0);
	assert_int_equal(n, 5);
	assert_memory_equal(val, "hello", 5);
	free(val);
	store_free(s);

	s = open_ok(f, STORE_CREATE);
	assert_int_equal(store_meta_get(s, "k", &val, &n), 0);
	assert_int_equal(n, 5);
	free(val);
	store_free(s);

	s = open_ok(f, STORE_READONLY);
	assert_int_equal(store_schema_version(s), SCHEMA_VERSION);
	store_free(s);

	store_free(NULL);
}

static void test_schema_on_disk(void **state)
{
	const struct fixture *f = *state;

	store_free(open_ok(f, STORE_CREATE));
	assert_int_equal(raw_int(f->path, "PRAGMA application_id"), VFS1_APPLICATION_ID);
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), SCHEMA_VERSION);
	/* WAL is recorded in the header: file format read/write versions 2. */
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' "
					  "AND name IN ('meta', 'vaults', 'objects', 'versions', "
					  "'expiry_notices')"),
			 5);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_schema WHERE type = 'index' "
					  "AND name = 'versions_expiry' AND tbl_name = 'versions'"),
			 1);
	uint8_t *hdr;
	size_t len;

	assert_int_equal(test_read_file(f->path, &hdr, &len), 0);
	assert_true(len >= 20);
	assert_int_equal(hdr[18], 2);
	assert_int_equal(hdr[19], 2);
	free(hdr);
}

static void test_open_missing(void **state)
{
	const struct fixture *f = *state;
	struct store *s = (struct store *)0x1;
	struct stat st;

	assert_int_equal(store_open(f->path, 0, &s), -ENOENT);
	assert_int_equal(store_open(f->path, STORE_READONLY, &s), -ENOENT);
	assert_ptr_equal(s, (struct store *)0x1);
	/* Nothing was created by the refusals. */
	assert_int_equal(stat(f->path, &st), -1);
	assert_int_equal(errno, ENOENT);

	/* A missing directory, even with STORE_CREATE. */
	char p[160];

	snprintf(p, sizeof(p), "%s/nodir/vault.db", f->dir);
	assert_int_equal(store_open(p, STORE_CREATE, &s), -ENOENT);
	/* A directory is no store. */
	assert_int_equal(store_open(f->dir, 0, &s), -EBADMSG);
	assert_int_equal(store_open(f->dir, STORE_CREATE, &s), -EBADMSG);
	assert_ptr_equal(s, (struct store *)0x1);
}

static void test_open_bad_args(void **state)
{
	const struct fixture *f = *state;
	struct store *s = (struct store *)0x1;

	assert_int_equal(store_open(f->path, STORE_CREATE | STORE_READONLY, &s), -EINVAL);
	assert_int_equal(store_open(f->path, 1 << 5, &s), -EINVAL);
	assert_int_equal(store_open("", STORE_CREATE, &s), -EINVAL);
	assert_int_equal(store_open(NULL, STORE_CREATE, &s), -EINVAL);
	assert_ptr_equal(s, (struct store *)0x1);
}

/* A file that exists but holds nothing yet (e.g. made by an earlier create that died before
 * the schema) is no store without STORE_CREATE, and becomes one with it. */
static void test_open_empty_file(void **state)
{
	const struct fixture *f = *state;
	struct store *s = NULL;

	test_write_file(f->path, "", 0, 0600);
	assert_int_equal(store_open(f->path, 0, &s), -ENOENT);
	assert_int_equal(store_open(f->path, STORE_READONLY, &s), -ENOENT);
	assert_null(s);
	s = open_ok(f, STORE_CREATE);
	assert_int_equal(store_schema_version(s), SCHEMA_VERSION);
	store_free(s);
}

static void test_file_mode(void **state)
{
	const struct fixture *f = *state;
	char p[160];
	struct stat st;
	struct store *s;
	mode_t old = umask(0);

	/* With umask 0, SQLite on its own would create 0644. */
	s = open_ok(f, STORE_CREATE);
	umask(old);
	assert_int_equal(store_meta_set(s, "k", "v", 1), 0);

	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_true(S_ISREG(st.st_mode));
	snprintf(p, sizeof(p), "%s-wal", f->path);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	snprintf(p, sizeof(p), "%s-shm", f->path);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	store_free(s);

	/* A store others may read, or someone else's, is refused. */
	s = NULL;
	assert_int_equal(chmod(f->path, 0640), 0);
	assert_int_equal(store_open(f->path, 0, &s), -EPERM);
	assert_int_equal(chmod(f->path, 0604), 0);
	assert_int_equal(store_open(f->path, STORE_READONLY, &s), -EPERM);
	assert_null(s);
	assert_int_equal(chmod(f->path, 0600), 0);
	if (geteuid() == 0) {
		assert_int_equal(chown(f->path, 65534, 65534), 0);
		assert_int_equal(store_open(f->path, 0, &s), -EPERM);
		assert_int_equal(chown(f->path, 0, 0), 0);
	}
	s = open_ok(f, 0);
	store_free(s);
}

static void test_open_symlink(void **state)
{
	const struct fixture *f = *state;
	struct store *s = NULL;
	char link[160];

	store_free(open_ok(f, STORE_CREATE));
	snprintf(link, sizeof(link), "%s/link.db", f->dir);
	assert_int_equal(symlink(f->path, link), 0);
	assert_int_equal(store_open(link, 0, &s), -ELOOP);
	assert_int_equal(store_open(link, STORE_CREATE, &s), -ELOOP);
	assert_null(s);
}

static void check_refused_unchanged(const struct fixture *f, const void *content, size_t n)
{
	struct store *s = NULL;
	uint8_t *back;
	size_t len;

	assert_int_equal(store_open(f->path, 0, &s), -EBADMSG);
	assert_int_equal(store_open(f->path, STORE_READONLY, &s), -EBADMSG);
	assert_int_equal(store_open(f->path, STORE_CREATE, &s), -EBADMSG);
	assert_null(s);
	/* The refusals did not touch the file. */
	assert_int_equal(test_read_file(f->path, &back, &len), 0);
	assert_int_equal(len, n);
	assert_memory_equal(back, content, n);
	free(back);
}

static void test_garbage_random(void **state)
{
	const struct fixture *f = *state;
	uint8_t junk[8192];

	test_fill(junk, sizeof(junk), 42);
	test_write_file(f->path, junk, sizeof(junk), 0600);
	check_refused_unchanged(f, junk, sizeof(junk));

	/* A single byte, and less than a header. */
	test_write_file(f->path, "x", 1, 0600);
	check_refused_unchanged(f, "x", 1);
}

static void test_garbage_text(void **state)
{
	const struct fixture *f = *state;
	char text[4096] = "";

	for (int i = 0; strlen(text) + 64 < sizeof(text); i++) {
		char line[64];

		snprintf(line, sizeof(line), "line %d: this is not a database\n", i);
		strcat(text, line);
	}
	test_write_file(f->path, text, strlen(text), 0600);
	check_refused_unchanged(f, text, strlen(text));

	/* Starts like SQLite, but is not. */
	static const char fake[] = "SQLite format 3\0but nothing else of it";

	test_write_file(f->path, fake, sizeof(fake), 0600);
	check_refused_unchanged(f, fake, sizeof(fake));
}

static void test_foreign_sqlite(void **state)
{
	const struct fixture *f = *state;
	struct store *s = NULL;

	raw_exec(f->path, "CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1);");
	assert_int_equal(store_open(f->path, 0, &s), -EBADMSG);
	assert_int_equal(store_open(f->path, STORE_CREATE, &s), -EBADMSG);
	assert_int_equal(store_open(f->path, STORE_READONLY, &s), -EBADMSG);
	assert_null(s);
	/* Left as it was: no schema of ours, not switched to WAL. */
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_schema"), 1);
	assert_int_equal(raw_int(f->path, "PRAGMA application_id"), 0);
	assert_int_equal(raw_int(f->path, "SELECT a FROM t"), 1);
	uint8_t *hdr;
	size_t len;

	assert_int_equal(test_read_file(f->path, &hdr, &len), 0);
	assert_true(len >= 20);
	assert_int_equal(hdr[18], 1);
	free(hdr);
}

/* Empty but marked by another application; and someone else's id on tables like ours. */
static void test_foreign_application_id(void **state)
{
	const struct fixture *f = *state;
	struct store *s = NULL;

	raw_exec(f->path, "PRAGMA application_id = 1234;");
	assert_int_equal(store_open(f->path, STORE_CREATE, &s), -EBADMSG);
	assert_null(s);
	assert_int_equal(raw_int(f->path, "PRAGMA application_id"), 1234);

	assert_int_equal(unlink(f->path), 0);
	store_free(open_ok(f, STORE_CREATE));
	raw_exec(f->path, "PRAGMA application_id = 1234;");
	assert_int_equal(store_open(f->path, 0, &s), -EBADMSG);
	assert_null(s);
}

/* Our id, but not our tables: the schema does not prepare. */
static void test_own_id_wrong_schema(void **state)
{
	const struct fixture *f = *state;
	struct store *s = NULL;

	raw_exec(f->path, "CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB);"
			  "PRAGMA application_id = 1447449393; PRAGMA user_version = 1;");
	assert_int_equal(store_open(f->path, 0, &s), -EBADMSG);
	assert_null(s);
}

static void test_newer_schema(void **state)
{
	const struct fixture *f = *state;
	struct store *s = NULL;

	store_free(open_ok(f, STORE_CREATE));
	raw_exec(f->path, "PRAGMA user_version = 8;");
	assert_int_equal(store_open(f->path, 0, &s), -EPROTONOSUPPORT);
	assert_int_equal(store_open(f->path, STORE_CREATE, &s), -EPROTONOSUPPORT);
	assert_int_equal(store_open(f->path, STORE_READONLY, &s), -EPROTONOSUPPORT);
	assert_null(s);
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), 8);

	raw_exec(f->path, "PRAGMA user_version = 1000000;");
	assert_int_equal(store_open(f->path, 0, &s), -EPROTONOSUPPORT);
	assert_null(s);
}

/* A store whose pages after the header are overwritten: reading the schema fails. */
static void test_corrupt_store(void **state)
{
	const struct fixture *f = *state;
	struct store *s = NULL;
	uint8_t junk[4096 - 100];
	int fd;

	s = open_ok(f, STORE_CREATE);
	struct store_vault v = vault_new("v", 1);

	assert_int_equal(store_vault_insert(s, &v), 0);
	store_free(s);
	s = NULL;

	test_fill(junk, sizeof(junk), 7);
	fd = open(f->path, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, junk, sizeof(junk), 100), (ssize_t)sizeof(junk));
	assert_int_equal(close(fd), 0);
	assert_int_equal(store_open(f->path, 0, &s), -EBADMSG);
	assert_int_equal(store_open(f->path, STORE_READONLY, &s), -EBADMSG);
	assert_null(s);
}

/* Where SQLite's code becomes -errno, its own words are kept for the edge's log line (log.h);
 * an answer of the store (a name taken) leaves none behind to ride on a later line. */
static void test_foreign_words(void **state)
{
	const struct fixture *f = *state;
	struct store *s = NULL;
	uint8_t junk[8192];
	int fd;

	test_fill(junk, sizeof(junk), 42);
	test_write_file(f->path, junk, sizeof(junk), 0600);
	log_foreign_clear();
	assert_int_equal(store_open(f->path, 0, &s), -EBADMSG);
	assert_string_equal(log_foreign_last(), "sqlite: file is not a database");

	assert_int_equal(unlink(f->path), 0);
	s = open_ok(f, STORE_CREATE);
	struct store_vault v = vault_new("v", 1);

	assert_int_equal(store_vault_insert(s, &v), 0);
	log_foreign_clear();
	assert_int_equal(store_vault_insert(s, &v), -EEXIST);
	assert_string_equal(log_foreign_last(), "");
	store_free(s);
	s = NULL;

	fd = open(f->path, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, junk, 4096 - 100, 100), 4096 - 100);
	assert_int_equal(close(fd), 0);
	assert_int_equal(store_open(f->path, 0, &s), -EBADMSG);
	assert_non_null(strstr(log_foreign_last(), "sqlite: "));
	assert_non_null(strstr(log_foreign_last(), "malformed"));
	log_foreign_clear();
}

/* A store file removed or replaced under an open handle: every write transaction is refused
 * (-EIDRM, with words that say so), so that nothing is acknowledged that would vanish with the
 * file; reads go on from the open file. */
static void test_removed_under_handle(void **state)
{
	const struct fixture *f = *state;
	struct store_vault v = vault_new("v", 1), got;
	struct store *s = open_ok(f, STORE_CREATE);
	char other[160];

	assert_int_equal(store_vault_insert(s, &v), 0);
	assert_int_equal(unlink(f->path), 0);
	log_foreign_clear();
	assert_int_equal(store_begin(s), -EIDRM);
	assert_non_null(strstr(log_foreign_last(), "store: the store file '"));
	assert_non_null(
		strstr(log_foreign_last(), "' was removed or replaced since it was opened"));
	/* a write that takes a transaction of its own */
	assert_int_equal(store_vault_delete(s, v.id), -EIDRM);
	assert_int_equal(store_vault_get(s, "v", &got), 0);
	assert_vault_equal(&got, &v);
	store_free(s);
	log_foreign_clear();

	/* another store renamed over the path */
	s = open_ok(f, STORE_CREATE);
	snprintf(other, sizeof(other), "%s/other.db", f->dir);
	struct store *o = NULL;

	assert_int_equal(store_open(other, STORE_CREATE, &o), 0);
	store_free(o);
	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(rename(other, f->path), 0);
	assert_int_equal(store_begin(s), -EIDRM);
	store_free(s);
	/* the store now at the path opens and takes writes */
	s = open_ok(f, 0);
	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_vault_insert(s, &v), 0);
	assert_int_equal(store_commit(s), 0);
	store_free(s);
	log_foreign_clear();
}

static void test_readonly(void **state)
{
	const struct fixture *f = *state;
	struct store *s;
	int64_t vid, oid;
	struct store_vault v = vault_new("other", 2), got;
	struct store_object o;
	uint8_t ct[40];
	struct store_version ver;

	store_free(populated(f, &vid, &oid));
	s = open_ok(f, STORE_READONLY);

	assert_int_equal(store_vault_get(s, "v", &got), 0);
	assert_int_equal(got.id, vid);
	assert_int_equal(store_vault_insert(s, &v), -EROFS);
	assert_int_equal(v.id, 0);
	assert_int_equal(store_meta_set(s, "k", "v", 1), -EROFS);
	got.retention_days = 7;
	assert_int_equal(store_vault_update(s, &got), -EROFS);
	assert_int_equal(store_vault_delete(s, vid), -EROFS);
	o = object_new(vid, "o2", 3);
	assert_int_equal(store_object_insert(s, &o), -EROFS);
	assert_int_equal(store_object_purge(s, oid), -EROFS);
	test_fill(ct, sizeof(ct), 1);
	ver = version_new(oid, 1, ct, sizeof(ct), 1);
	assert_int_equal(store_version_insert(s, &ver), -EROFS);
	assert_int_equal(store_begin(s), -EROFS);

	/* A read transaction works and ends cleanly. */
	assert_int_equal(store_begin_read(s), 0);
	assert_int_equal(store_vault_get(s, "v", &got), 0);
	assert_int_equal(store_commit(s), 0);
	store_free(s);

	/* Nothing was written. */
	s = open_ok(f, 0);
	assert_int_equal(store_vault_get(s, "other", &got), -ENOENT);
	assert_int_equal(store_vault_get(s, "v", &got), 0);
	assert_int_equal(got.retention_days, 90);
	store_free(s);
}

/* --- meta --- */

static void test_meta(void **state)
{
	const struct fixture *f = *state;
	struct store *s = open_ok(f, STORE_CREATE);
	uint8_t *val = (uint8_t *)0x1, big[VAULTFS_SEALED_MAX + 1];
	size_t n = 777;
	char longkey[VAULTFS_NAME_MAX + 2];

	assert_int_equal(store_meta_get(s, "absent", &val, &n), -ENOENT);
	assert_ptr_equal(val, (uint8_t *)0x1);
	assert_int_equal(n, 777);

	/* Binary with NULs, then replaced by a shorter value. */
	test_fill(big, sizeof(big), 9);
	assert_int_equal(store_meta_set(s, "seal.tpm", big, 300), 0);
	assert_int_equal(store_meta_get(s, "seal.tpm", &val, &n), 0);
	assert_int_equal(n, 300);
	assert_memory_equal(val, big, 300);
	free(val);
	assert_int_equal(store_meta_set(s, "seal.tpm", "abc", 3), 0);
	assert_int_equal(store_meta_get(s, "seal.tpm", &val, &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(val, "abc", 3);
	free(val);

	/* Empty value: present, length 0. */
	assert_int_equal(store_meta_set(s, "empty", NULL, 0), 0);
	assert_int_equal(store_meta_get(s, "empty", &val, &n), 0);
	assert_int_equal(n, 0);
	assert_non_null(val);
	free(val);

	/* The cap, and one past it. */
	assert_int_equal(store_meta_set(s, "max", big, VAULTFS_SEALED_MAX), 0);
	assert_int_equal(store_meta_get(s, "max", &val, &n), 0);
	assert_int_equal(n, VAULTFS_SEALED_MAX);
	assert_memory_equal(val, big, VAULTFS_SEALED_MAX);
	free(val);
	assert_int_equal(store_meta_set(s, "max", big, sizeof(big)), -EMSGSIZE);

	/* Keys. */
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	assert_int_equal(store_meta_set(s, longkey, "x", 1), -EINVAL);
	assert_int_equal(store_meta_get(s, longkey, &val, &n), -EINVAL);
	assert_int_equal(store_meta_set(s, "", "x", 1), -EINVAL);
	assert_int_equal(store_meta_set(s, NULL, "x", 1), -EINVAL);
	assert_int_equal(store_meta_set(s, "k", NULL, 1), -EINVAL);
	longkey[VAULTFS_NAME_MAX] = '\0';
	assert_int_equal(store_meta_set(s, longkey, "x", 1), 0);
	store_free(s);
}

/* --- vaults --- */

static void test_vault_crud(void **state)
{
	const struct fixture *f = *state;
	struct store *s = open_ok(f, STORE_CREATE);
	struct store_vault a = vault_new("alpha", 1), b = vault_new("beta", 2), dup, got, sentinel;

	a.id = 12345; /* ignored: the store assigns */
	assert_int_equal(store_vault_insert(s, &a), 0);
	assert_true(a.id > 0 && a.id != 12345);
	assert_int_equal(store_vault_insert(s, &b), 0);
	assert_true(b.id > a.id);

	dup = vault_new("alpha", 3);
	assert_int_equal(store_vault_insert(s, &dup), -EEXIST);
	assert_int_equal(dup.id, 0);

	assert_int_equal(store_vault_get(s, "alpha", &got), 0);
	assert_vault_equal(&got, &a);
	assert_int_equal(store_vault_get_by_id(s, b.id, &got), 0);
	assert_vault_equal(&got, &b);

	memset(&sentinel, 0xa5, sizeof(sentinel));
	got = sentinel;
	assert_int_equal(store_vault_get(s, "gamma", &got), -ENOENT);
	assert_int_equal(store_vault_get(s, "Alpha", &got), -ENOENT); /* names are exact */
	assert_int_equal(store_vault_get_by_id(s, b.id + 100, &got), -ENOENT);
	assert_memory_equal(&got, &sentinel, sizeof(got));

	/* Update rewrites everything but id and name. */
	struct store_vault upd = vault_new("ignored-name", 7);

	upd.id = a.id;
	upd.retention_days = 7;
	upd.purge_protection = true;
	assert_int_equal(store_vault_update(s, &upd), 0);
	assert_int_equal(store_vault_get_by_id(s, a.id, &got), 0);
	assert_string_equal(got.name, "alpha");
	snprintf(upd.name, sizeof(upd.name), "alpha");
	assert_vault_equal(&got, &upd);
	assert_int_equal(store_vault_get(s, "ignored-name", &got), -ENOENT);
	/* Rewriting the same values is a success, not a miss. */
	assert_int_equal(store_vault_get_by_id(s, a.id, &got), 0);
	assert_int_equal(store_vault_update(s, &got), 0);
	upd.id = b.id + 100;
	assert_int_equal(store_vault_update(s, &upd), -ENOENT);

	/* Delete. */
	assert_int_equal(store_vault_delete(s, b.id), 0);
	assert_int_equal(store_vault_get(s, "beta", &got), -ENOENT);
	assert_int_equal(store_vault_delete(s, b.id), -ENOENT);
	/* The name is free again; the id is not reused. */
	struct store_vault b2 = vault_new("beta", 4);

	assert_int_equal(store_vault_insert(s, &b2), 0);
	assert_true(b2.id > b.id);
	store_free(s);
}

static void test_vault_names(void **state)
{
	const struct fixture *f = *state;
	struct store *s = open_ok(f, STORE_CREATE);
	struct store_vault v = vault_new("x", 1), got;
	char longname[VAULTFS_NAME_MAX + 2];

	/* Longest name. */
	memset(v.name, 'n', VAULTFS_NAME_MAX);
	v.name[VAULTFS_NAME_MAX] = '\0';
	assert_int_equal(store_vault_insert(s, &v), 0);
	assert_int_equal(store_vault_get(s, v.name, &got), 0);
	assert_string_equal(got.name, v.name);

	/* Unterminated name in the fixed array. */
	memset(v.name, 'u', sizeof(v.name));
	assert_int_equal(store_vault_insert(s, &v), -EINVAL);
	v.name[0] = '\0';
	assert_int_equal(store_vault_insert(s, &v), -EINVAL);

	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(store_vault_get(s, longname, &got), -EINVAL);
	assert_int_equal(store_vault_get(s, "", &got), -EINVAL);
	assert_int_equal(store_vault_get(s, NULL, &got), -EINVAL);
	store_free(s);
}

static void test_vault_delete_not_empty(void **state)
{
	const struct fixture *f = *state;
	int64_t vid, oid;
	struct store *s = populated(f, &vid, &oid);
	struct store_object o;
	struct store_vault got;

	assert_int_equal(store_vault_delete(s, vid), -ENOTEMPTY);

	/* Soft-deleted objects still hold the vault. */
	assert_int_equal(store_object_get(s, vid, "o", &o), 0);
	o.deleted_at = 1700009999;
	assert_int_equal(store_object_update(s, &o), 0);
	assert_int_equal(store_vault_delete(s, vid), -ENOTEMPTY);

	/* Inside a transaction too, and the refusal leaves it usable. */
	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_vault_delete(s, vid), -ENOTEMPTY);
	assert_int_equal(store_object_purge(s, oid), 0);
	assert_int_equal(store_vault_delete(s, vid), 0);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(store_vault_get_by_id(s, vid, &got), -ENOENT);
	store_free(s);
}

struct collect {
	char names[16][VAULTFS_NAME_MAX + 1];
	int64_t ids[16];
	size_t n;
	size_t stop_after; /* return -ECANCELED after this many (0 = never) */
	struct store *s;
	int nested_r;
	uint32_t max[16];
};

static int collect_vault(const struct store_vault *v, void *userdata)
{
	struct collect *c = userdata;

	assert_true(c->n < ELEMENTSOF(c->names));
	snprintf(c->names[c->n], sizeof(c->names[0]), "%s", v->name);
	c->ids[c->n] = v->id;
	c->n++;
	if (c->stop_after && c->n == c->stop_after)
		return -ECANCELED;
	return 1; /* positive: go on */
}

static void test_vault_foreach(void **state)
{
	const struct fixture *f = *state;
	struct store *s = open_ok(f, STORE_CREATE);
	static const char *const names[] = { "m", "b", "z", "a", "B" };
	struct collect c = { 0 };

	assert_int_equal(store_vault_foreach(s, collect_vault, &c), 0);
	assert_int_equal(c.n, 0);

	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		struct store_vault v = vault_new(names[i], (unsigned)i);

		assert_int_equal(store_vault_insert(s, &v), 0);
	}
	assert_int_equal(store_vault_foreach(s, collect_vault, &c), 0);
	assert_int_equal(c.n, 5);
	/* Byte order. */
	assert_string_equal(c.names[0], "B");
	assert_string_equal(c.names[1], "a");
	assert_string_equal(c.names[2], "b");
	assert_string_equal(c.names[3], "m");
	assert_string_equal(c.names[4], "z");

	/* A negative return stops at once and is returned; the next foreach starts over. */
	memset(&c, 0, sizeof(c));
	c.stop_after = 2;
	assert_int_equal(store_vault_foreach(s, collect_vault, &c), -ECANCELED);
	assert_int_equal(c.n, 2);
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_vault_foreach(s, collect_vault, &c), 0);
	assert_int_equal(c.n, 5);
	assert_string_equal(c.names[0], "B");

	/* And the store can still write (no statement left holding a read). */
	struct store_vault v = vault_new("after", 9);

	assert_int_equal(store_vault_insert(s, &v), 0);
	store_free(s);
}

/* --- objects --- */

static void test_object_crud(void **state)
{
	const struct fixture *f = *state;
	struct store *s = open_ok(f, STORE_CREATE);
	struct store_vault v1 = vault_new("v1", 1), v2 = vault_new("v2", 2);
	struct store_object a, dup, got, sentinel;

	assert_int_equal(store_vault_insert(s, &v1), 0);
	assert_int_equal(store_vault_insert(s, &v2), 0);

	a = object_new(v1.id, "db-conn", 1);
	a.type = OBJECT_KEY;
	assert_int_equal(store_object_insert(s, &a), 0);
	assert_true(a.id > 0);
	assert_int_equal(store_object_get(s, v1.id, "db-conn", &got), 0);
	assert_object_equal(&got, &a);

	/* Same name: taken in v1, free in v2. */
	dup = object_new(v1.id, "db-conn", 2);
	assert_int_equal(store_object_insert(s, &dup), -EEXIST);
	assert_int_equal(dup.id, 0);
	dup.vault_id = v2.id;
	assert_int_equal(store_object_insert(s, &dup), 0);
	assert_true(dup.id > a.id);

	/* Lookups that miss. */
	memset(&sentinel, 0x5a, sizeof(sentinel));
	got = sentinel;
	assert_int_equal(store_object_get(s, v1.id, "nope", &got), -ENOENT);
	assert_int_equal(store_object_get(s, v2.id + 10, "db-conn", &got), -ENOENT);
	assert_int_equal(store_object_get(s, v1.id, "", &got), -EINVAL);
	assert_memory_equal(&got, &sentinel, sizeof(got));

	/* Update rewrites current_version, deleted_at and mac only. */
	struct store_object upd = a;

	upd.current_version = 3;
	upd.deleted_at = 1700001234;
	test_fill(upd.mac, sizeof(upd.mac), 99);
	upd.type = OBJECT_CERT;
	upd.created = 1;
	snprintf(upd.name, sizeof(upd.name), "renamed");
	assert_int_equal(store_object_update(s, &upd), 0);
	assert_int_equal(store_object_get(s, v1.id, "db-conn", &got), 0);
	assert_int_equal(got.current_version, 3);
	assert_int_equal(got.deleted_at, 1700001234);
	assert_memory_equal(got.mac, upd.mac, sizeof(got.mac));
	assert_int_equal(got.type, OBJECT_KEY);
	assert_int_equal(got.created, a.created);
	assert_string_equal(got.name, "db-conn");
	upd.id = dup.id + 100;
	assert_int_equal(store_object_update(s, &upd), -ENOENT);

	/* Soft-deleted still holds the name. */
	struct store_object again = object_new(v1.id, "db-conn", 5);

	assert_int_equal(store_object_insert(s, &again), -EEXIST);

	/* Refusals of the input. */
	again = object_new(v1.id, "t", 5);
	again.type = 0;
	assert_int_equal(store_object_insert(s, &again), -EINVAL);
	again.type = OBJECT_CERT + 1;
	assert_int_equal(store_object_insert(s, &again), -EINVAL);
	again.type = OBJECT_CERT;
	again.name[0] = '\0';
	assert_int_equal(store_object_insert(s, &again), -EINVAL);
	/* No such vault. */
	again = object_new(v2.id + 10, "t", 5);
	assert_int_equal(store_object_insert(s, &again), -ENOENT);
	assert_int_equal(again.id, 0);
	store_free(s);
}

static void test_object_purge(void **state)
{
	const struct fixture *f = *state;
	int64_t vid, oid;
	struct store *s = populated(f, &vid, &oid);
	uint8_t ct[64];
	struct store_version ver, got;
	struct store_object o, other;
	uint32_t max = 77;

	test_fill(ct, sizeof(ct), 3);
	for (uint32_t i = 1; i <= 3; i++) {
		ver = version_new(oid, i, ct, sizeof(ct), i);
		assert_int_equal(store_version_insert(s, &ver), 0);
	}
	other = object_new(vid, "other", 2);
	assert_int_equal(store_object_insert(s, &other), 0);
	ver = version_new(other.id, 1, ct, sizeof(ct), 9);
	assert_int_equal(store_version_insert(s, &ver), 0);

	assert_int_equal(store_object_purge(s, oid), 0);
	assert_int_equal(store_object_get(s, vid, "o", &o), -ENOENT);
	assert_int_equal(store_version_get(s, oid, 1, &got), -ENOENT);
	assert_int_equal(store_version_get(s, oid, 3, &got), -ENOENT);
	assert_int_equal(store_version_max(s, oid, &max), 0);
	assert_int_equal(max, 0);
	assert_int_equal(store_object_purge(s, oid), -ENOENT);
	store_free(s);

	/* The rows are gone from the file, not just hidden: only other's version is left. */
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM versions"), 1);
	assert_int_equal(raw_int(f->path, "SELECT object_id FROM versions"), other.id);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM objects"), 1);

	s = open_ok(f, 0);
	/* The other object is untouched. */
	assert_int_equal(store_version_get(s, other.id, 1, &got), 0);
	store_version_done(&got);
	assert_int_equal(store_object_get(s, vid, "other", &o), 0);
	store_free(s);
}

static void test_object_ids_never_reused(void **state)
{
	const struct fixture *f = *state;
	int64_t vid, oid;
	struct store *s = populated(f, &vid, &oid);
	struct store_object b = object_new(vid, "b", 2), o2, b2;

	assert_int_equal(store_object_insert(s, &b), 0);
	assert_true(b.id > oid);
	/* Purge the newest: a plain rowid table would hand its id out again. */
	assert_int_equal(store_object_purge(s, b.id), 0);
	b2 = object_new(vid, "b", 3);
	assert_int_equal(store_object_insert(s, &b2), 0);
	assert_true(b2.id > b.id);

	/* Re-insert of a purged name gets a new id, across a reopen too. */
	assert_int_equal(store_object_purge(s, oid), 0);
	store_free(s);
	s = open_ok(f, 0);
	o2 = object_new(vid, "o", 4);
	assert_int_equal(store_object_insert(s, &o2), 0);
	assert_true(o2.id > b2.id);
	assert_true(o2.id != oid);
	store_free(s);
}

static void test_purge_in_transaction(void **state)
{
	const struct fixture *f = *state;
	int64_t vid, oid;
	struct store *s = populated(f, &vid, &oid);
	struct store_object o;
	struct store_version ver, got;
	uint8_t ct[8] = "abcdefg";

	ver = version_new(oid, 1, ct, sizeof(ct), 1);
	assert_int_equal(store_version_insert(s, &ver), 0);

	/* In the caller's transaction: rolled back with it. */
	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_object_purge(s, oid), 0);
	assert_int_equal(store_object_get(s, vid, "o", &o), -ENOENT);
	/* A failing purge inside the transaction does not end it. */
	assert_int_equal(store_object_purge(s, oid), -ENOENT);
	assert_int_equal(store_begin(s), -EBUSY);
	store_rollback(s);
	assert_int_equal(store_object_get(s, vid, "o", &o), 0);
	assert_int_equal(store_version_get(s, oid, 1, &got), 0);
	assert_memory_equal(got.ciphertext, ct, sizeof(ct));
	store_version_done(&got);

	/* Committed with it. */
	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_object_purge(s, oid), 0);
	assert_int_equal(store_commit(s), 0);
	store_free(s);
	s = open_ok(f, 0);
	assert_int_equal(store_object_get(s, vid, "o", &o), -ENOENT);
	assert_int_equal(store_version_get(s, oid, 1, &got), -ENOENT);
	store_free(s);
}

/* A purge that fails half-way changes nothing, in its own transaction or in the caller's:
 * versions of an object that does not exist (planted with foreign keys off) are deleted by
 * the first statement, then the object is not found and that delete must be undone. */
static void test_purge_failure_atomic(void **state)
{
	const struct fixture *f = *state;
	int64_t vid, oid;
	struct store *s = populated(f, &vid, &oid);
	char sql[512];

	store_free(s);
	snprintf(sql, sizeof(sql),
		 "INSERT INTO versions VALUES (%" PRId64 " + 100, 1, 1, 0, 0, 0, 0, '', '', "
		 "zeroblob(60), zeroblob(32), x'00');",
		 oid);
	raw_exec(f->path, sql);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM versions WHERE object_id = %" PRId64,
		 oid + 100);
	assert_int_equal(raw_int(f->path, sql), 1);

	s = open_ok(f, 0);
	assert_int_equal(store_object_purge(s, oid + 100), -ENOENT);
	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_object_purge(s, oid + 100), -ENOENT);
	assert_int_equal(store_commit(s), 0);
	store_free(s);
	assert_int_equal(raw_int(f->path, sql), 1);
}

/* secure_delete: the bytes of a deleted or replaced row do not stay behind in the file. */
static bool file_contains(const char *path, const uint8_t *needle, size_t n)
{
	uint8_t *buf;
	size_t len;
	bool found;

	assert_int_equal(test_read_file(path, &buf, &len), 0);
	found = memmem(buf, len, needle, n) != NULL;
	free(buf);
	return found;
}

static void test_secure_delete(void **state)
{
	const struct fixture *f = *state;
	int64_t vid, oid;
	struct store *s = populated(f, &vid, &oid);
	uint8_t old_meta[64], ct[2000];
	struct store_version ver;

	test_fill(old_meta, sizeof(old_meta), 31337);
	test_fill(ct, sizeof(ct), 4242);
	assert_int_equal(store_meta_set(s, "k", old_meta, sizeof(old_meta)), 0);
	ver = version_new(oid, 1, ct, sizeof(ct), 1);
	assert_int_equal(store_version_insert(s, &ver), 0);
	store_free(s); /* checkpoints the WAL into the file */
	assert_true(file_contains(f->path, old_meta, sizeof(old_meta)));
	assert_true(file_contains(f->path, ct, sizeof(ct)));

	s = open_ok(f, 0);
	assert_int_equal(store_meta_set(s, "k", "new", 3), 0);
	assert_int_equal(store_object_purge(s, oid), 0);
	store_free(s);
	assert_false(file_contains(f->path, old_meta, sizeof(old_meta)));
	assert_false(file_contains(f->path, ct, 64));
}

static int collect_object(const struct store_object *o, void *userdata)
{
	struct collect *c = userdata;
	struct store_object again;

	assert_true(c->n < ELEMENTSOF(c->names));
	snprintf(c->names[c->n], sizeof(c->names[0]), "%s", o->name);
	c->ids[c->n] = o->id;
	if (c->s) {
		/* Re-entrant calls: other lookups work, the same foreach is refused. */
		assert_int_equal(store_version_max(c->s, o->id, &c->max[c->n]), 0);
		assert_int_equal(store_object_get(c->s, o->vault_id, o->name, &again), 0);
		assert_int_equal(again.id, o->id);
		c->nested_r = store_object_foreach(c->s, o->vault_id, collect_object, c);
	}
	c->n++;
	if (c->stop_after && c->n == c->stop_after)
		return -ECANCELED;
	return 0;
}

static void test_object_foreach(void **state)
{
	const struct fixture *f = *state;
	struct store *s = open_ok(f, STORE_CREATE);
	struct store_vault v1 = vault_new("v1", 1), v2 = vault_new("v2", 2);
	static const char *const names[] = { "q", "c", "x", "a" };
	struct collect c = { 0 };
	uint8_t ct[4] = "abc";

	assert_int_equal(store_vault_insert(s, &v1), 0);
	assert_int_equal(store_vault_insert(s, &v2), 0);
	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		struct store_object o = object_new(v1.id, names[i], (unsigned)i);

		if (i == 2)
			o.deleted_at = 1700000500; /* soft-deleted ones are listed too */
		assert_int_equal(store_object_insert(s, &o), 0);
		for (uint32_t k = 1; k <= i; k++) {
			struct store_version ver = version_new(o.id, k, ct, sizeof(ct), k);

			assert_int_equal(store_version_insert(s, &ver), 0);
		}
	}
	struct store_object in_v2 = object_new(v2.id, "b", 9);

	assert_int_equal(store_object_insert(s, &in_v2), 0);

	c.s = s;
	c.nested_r = 1;
	assert_int_equal(store_object_foreach(s, v1.id, collect_object, &c), 0);
	assert_int_equal(c.n, 4);
	assert_int_equal(c.nested_r, -EBUSY);
	assert_string_equal(c.names[0], "a");
	assert_string_equal(c.names[1], "c");
	assert_string_equal(c.names[2], "q");
	assert_string_equal(c.names[3], "x");
	/* names[i] has i versions: a=3, c=1, q=0, x=2. */
	assert_int_equal(c.max[0], 3);
	assert_int_equal(c.max[1], 1);
	assert_int_equal(c.max[2], 0);
	assert_int_equal(c.max[3], 2);

	memset(&c, 0, sizeof(c));
	assert_int_equal(store_object_foreach(s, v2.id, collect_object, &c), 0);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.names[0], "b");
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_object_foreach(s, v2.id + 5, collect_object, &c), 0);
	assert_int_equal(c.n, 0);

	memset(&c, 0, sizeof(c));
	c.stop_after = 1;
	assert_int_equal(store_object_foreach(s, v1.id, collect_object, &c), -ECANCELED);
	assert_int_equal(c.n, 1);
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_object_foreach(s, v1.id, collect_object, &c), 0);
	assert_int_equal(c.n, 4);
	store_free(s);
}

/* --- versions --- */

static void test_version_insert_get(void **state)
{
	const struct fixture *f = *state;
	int64_t vid, oid;
	struct store *s = populated(f, &vid, &oid);
	uint8_t *big = malloc(CT_MAX + 1);
	struct store_version ver, got, sentinel;

	assert_non_null(big);
	test_fill(big, CT_MAX + 1, 5);

	/* 64 KiB of binary with NULs, exact bytes back. */
	ver = version_new(oid, 1, big, 64 * 1024, 1);
	assert_int_equal(store_version_insert(s, &ver), 0);
	assert_int_equal(store_version_get(s, oid, 1, &got), 0);
	assert_version_attrs_equal(&got, &ver);
	assert_int_equal(got.ciphertext_len, 64 * 1024);
	assert_memory_equal(got.ciphertext, big, 64 * 1024);
	assert_ptr_not_equal(got.ciphertext, big);
	store_version_done(&got);
	assert_null(got.ciphertext);
	assert_null(got.tags);
	assert_int_equal(got.ciphertext_len, 0);
	assert_int_equal(got.object_id, 0);
	store_version_done(NULL);

	/* The largest ciphertext, then one byte more. */
	ver = version_new(oid, 2, big, CT_MAX, 2);
	assert_int_equal(store_version_insert(s, &ver), 0);
	assert_int_equal(store_version_get(s, oid, 2, &got), 0);
	assert_int_equal(got.ciphertext_len, CT_MAX);
	assert_memory_equal(got.ciphertext, big, CT_MAX);
	store_version_done(&got);
	ver = version_new(oid, 3, big, CT_MAX + 1, 3);
	assert_int_equal(store_version_insert(s, &ver), -EMSGSIZE);

	/* Empty ciphertext, no tags, no content type, disabled. */
	ver = version_new(oid, 3, NULL, 0, 3);
	ver.tags = NULL;
	ver.content_type[0] = '\0';
	ver.enabled = false;
	assert_int_equal(store_version_insert(s, &ver), 0);
	assert_int_equal(store_version_get(s, oid, 3, &got), 0);
	assert_int_equal(got.ciphertext_len, 0);
	assert_non_null(got.ciphertext);
	assert_string_equal(got.tags, "");
	assert_string_equal(got.content_type, "");
	assert_false(got.enabled);
	store_version_done(&got);

	/* Duplicate, missing object, bad input. */
	ver = version_new(oid, 1, big, 10, 4);
	assert_int_equal(store_version_insert(s, &ver), -EEXIST);
	ver = version_new(oid + 100, 1, big, 10, 4);
	assert_int_equal(store_version_insert(s, &ver), -ENOENT);
	ver = version_new(oid, 0, big, 10, 4);
	assert_int_equal(store_version_insert(s, &ver), -EINVAL);
	ver = version_new(oid, 4, NULL, 10, 4);
	assert_int_equal(store_version_insert(s, &ver), -EINVAL);
	ver = version_new(oid, 4, big, 10, 4);
	memset(ver.content_type, 'c', sizeof(ver.content_type));
	assert_int_equal(store_version_insert(s, &ver), -EINVAL);

	/* Tags: the cap, then one past it. */
	char *tags = malloc(TAGS_MAX + 2);

	assert_non_null(tags);
	memset(tags, 't', TAGS_MAX + 1);
	tags[TAGS_MAX + 1] = '\0';
	ver = version_new(oid, 4, big, 10, 4);
	ver.tags = tags;
	assert_int_equal(store_version_insert(s, &ver), -EMSGSIZE);
	tags[TAGS_MAX] = '\0';
	assert_int_equal(store_version_insert(s, &ver), 0);
	assert_int_equal(store_version_get(s, oid, 4, &got), 0);
	assert_string_equal(got.tags, tags);
	store_version_done(&got);
	free(tags);

	memset(&sentinel, 0x3c, sizeof(sentinel));
	got = sentinel;
	assert_int_equal(store_version_get(s, oid, 5, &got), -ENOENT);
	assert_int_equal(store_version_get(s, oid + 100, 1, &got), -ENOENT);
	assert_memory_equal(&got, &sentinel, sizeof(got));
	free(big);
	store_free(s);
}

static void test_version_update_attrs(void **state)
{
	const struct fixture *f = *state;
	int64_t vid, oid;
	struct store *s = populated(f, &vid, &oid);
	uint8_t ct[100];
	struct store_version ver, upd, got;

	test_fill(ct, sizeof(ct), 8);
	ver = version_new(oid, 1, ct, sizeof(ct), 1);
	assert_int_equal(store_version_insert(s, &ver), 0);

	/* Every attribute changes; created, wrapped_dek and ciphertext must not. */
	upd = version_new(oid, 1, (uint8_t *)"other", 5, 50);
	upd.enabled = false;
	upd.not_before = 0;
	upd.expires = 0;
	upd.updated = 1700099999;
	snprintf(upd.content_type, sizeof(upd.content_type), "text/plain");
	upd.tags = (char *)"a=1\n";
	assert_int_equal(store_version_update_attrs(s, &upd), 0);
	assert_int_equal(store_version_get(s, oid, 1, &got), 0);
	assert_false(got.enabled);
	assert_int_equal(got.not_before, 0);
	assert_int_equal(got.expires, 0);
	assert_int_equal(got.updated, 1700099999);
	assert_string_equal(got.content_type, "text/plain");
	assert_string_equal(got.tags, "a=1\n");
	assert_memory_equal(got.mac, upd.mac, sizeof(got.mac));
	assert_int_equal(got.created, ver.created);
	assert_memory_equal(got.wrapped_dek, ver.wrapped_dek, sizeof(got.wrapped_dek));
	assert_int_equal(got.ciphertext_len, sizeof(ct));
	assert_memory_equal(got.ciphertext, ct, sizeof(ct));
	store_version_done(&got);

	upd.version = 2;
	assert_int_equal(store_version_update_attrs(s, &upd), -ENOENT);
	upd.version = 1;
	upd.object_id = oid + 1;
	assert_int_equal(store_version_update_attrs(s, &upd), -ENOENT);
	upd.object_id = oid;
	memset(upd.content_type, 'c', sizeof(upd.content_type));
	assert_int_equal(store_version_update_attrs(s, &upd), -EINVAL);
	store_free(s);
}

static void test_version_max(void **state)
{
	const struct fixture *f = *state;
	int64_t vid, oid;
	struct store *s = populated(f, &vid, &oid);
	uint8_t ct[4] = "abc";
	uint32_t max = 99;
	static const uint32_t order[] = { 2, 10, 1, 9 };

	assert_int_equal(store_version_max(s, oid, &max), 0);
	assert_int_equal(max, 0);
	for (size_t i = 0; i < ELEMENTSOF(order); i++) {
		struct store_version ver = version_new(oid, order[i], ct, sizeof(ct), 1);

		assert_int_equal(store_version_insert(s, &ver), 0);
	}
	assert_int_equal(store_version_max(s, oid, &max), 0);
	assert_int_equal(max, 10); /* numeric, not text order */
	struct store_version top = version_new(oid, UINT32_MAX, ct, sizeof(ct), 1);

	assert_int_equal(store_version_insert(s, &top), 0);
	assert_int_equal(store_version_max(s, oid, &max), 0);
	assert_int_equal(max, UINT32_MAX);
	assert_int_equal(store_version_max(s, oid + 1, &max), 0);
	assert_int_equal(max, 0);
	store_free(s);
}

struct vcollect {
	uint32_t versions[16];
	size_t lens[16];
	char tags[16][32];
	size_t n;
	size_t stop_after;
};

static int collect_version(const struct store_version *v, void *userdata)
{
	struct vcollect *c = userdata;

	assert_true(c->n < ELEMENTSOF(c->versions));
	assert_null(v->ciphertext);
	c->versions[c->n] = v->version;
	c->lens[c->n] = v->ciphertext_len;
	assert_non_null(v->tags);
	snprintf(c->tags[c->n], sizeof(c->tags[0]), "%s", v->tags);
	c->n++;
	if (c->stop_after && c->n == c->stop_after)
		return -EINTR;
	return 0;
}

static void test_version_foreach(void **state)
{
	const struct fixture *f = *state;
	int64_t vid, oid;
	struct store *s = populated(f, &vid, &oid);
	struct store_object other = object_new(vid, "other", 2);
	uint8_t ct[300];
	static const uint32_t order[] = { 3, 1, 12, 2 };
	struct vcollect c = { 0 };

	test_fill(ct, sizeof(ct), 1);
	assert_int_equal(store_object_insert(s, &other), 0);
	for (size_t i = 0; i < ELEMENTSOF(order); i++) {
		struct store_version ver = version_new(oid, order[i], ct, order[i] * 20, 1);

		if (order[i] == 2)
			ver.tags = (char *)"";
		assert_int_equal(store_version_insert(s, &ver), 0);
	}
	struct store_version ov = version_new(other.id, 1, ct, 1, 1);

	assert_int_equal(store_version_insert(s, &ov), 0);

	assert_int_equal(store_version_foreach(s, oid, collect_version, &c), 0);
	assert_int_equal(c.n, 4);
	assert_int_equal(c.versions[0], 1);
	assert_int_equal(c.versions[1], 2);
	assert_int_equal(c.versions[2], 3);
	assert_int_equal(c.versions[3], 12);
	assert_int_equal(c.lens[0], 20);
	assert_int_equal(c.lens[1], 40);
	assert_int_equal(c.lens[2], 60);
	assert_int_equal(c.lens[3], 240);
	assert_string_equal(c.tags[0], "env=prod\nowner=ops\n");
	assert_string_equal(c.tags[1], "");

	memset(&c, 0, sizeof(c));
	c.stop_after = 2;
	assert_int_equal(store_version_foreach(s, oid, collect_version, &c), -EINTR);
	assert_int_equal(c.n, 2);
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_version_foreach(s, other.id, collect_version, &c), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.lens[0], 1);
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_version_foreach(s, other.id + 50, collect_version, &c), 0);
	assert_int_equal(c.n, 0);
	store_free(s);
}

static void test_version_get_meta(void **state)
{
	const struct fixture *f = *state;
	int64_t vid, oid;
	struct store *s = populated(f, &vid, &oid);
	uint8_t ct[77];
	char sql[96];
	struct store_version ver, got;

	test_fill(ct, sizeof(ct), 4);
	ver = version_new(oid, 1, ct, sizeof(ct), 4);
	assert_int_equal(store_version_insert(s, &ver), 0);
	memset(&got, 0x5a, sizeof(got));
	assert_int_equal(store_version_get_meta(s, oid, 1, &got), 0);
	assert_version_attrs_equal(&got, &ver);
	assert_null(got.ciphertext);
	assert_int_equal(got.ciphertext_len, sizeof(ct));
	store_version_done(&got);
	assert_int_equal(store_version_get_meta(s, oid, 2, &got), -ENOENT);
	assert_int_equal(store_version_get_meta(s, oid + 1, 1, &got), -ENOENT);
	/* A ciphertext over the cap reads as corrupt, as it does in the other readers. */
	store_free(s);
	snprintf(sql, sizeof(sql), "UPDATE versions SET ciphertext = zeroblob(%u)",
		 (unsigned)(CT_MAX + 1));
	raw_exec(f->path, sql);
	s = open_ok(f, 0);
	assert_int_equal(store_version_get_meta(s, oid, 1, &got), -EBADMSG);
	store_free(s);
}

/* A store of schema 1 (before the expiry notices) is brought up to date on open, data kept;
 * read-only it cannot be. */
static void test_migrate_from_v1(void **state)
{
	const struct fixture *f = *state;
	int64_t vid, oid;
	struct store *s = populated(f, &vid, &oid);
	uint8_t ct[40];
	struct store_version ver, got;

	test_fill(ct, sizeof(ct), 5);
	ver = version_new(oid, 1, ct, sizeof(ct), 5);
	ver.expires = 1000;
	assert_int_equal(store_version_insert(s, &ver), 0);
	store_free(s);
	raw_exec(f->path, "DROP TABLE fleet_applied; DROP TABLE expiry_notices; "
			  "DROP INDEX versions_expiry; "
			  "DROP INDEX objects_deleted; DROP TABLE key_rotation; "
			  "DROP TABLE cert_state; ALTER TABLE vaults DROP COLUMN max_versions; "
			  "ALTER TABLE vaults DROP COLUMN prunes; PRAGMA user_version = 1;");
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_schema WHERE name IN "
					  "('expiry_notices', 'versions_expiry')"),
			 0);

	s = (struct store *)0x1;
	assert_int_equal(store_open(f->path, STORE_READONLY, &s), -EROFS);
	assert_ptr_equal(s, (struct store *)0x1);
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), 1);

	s = open_ok(f, 0);
	assert_int_equal(store_schema_version(s), SCHEMA_VERSION);
	assert_int_equal(store_version_get(s, oid, 1, &got), 0);
	assert_version_attrs_equal(&got, &ver);
	assert_memory_equal(got.ciphertext, ct, sizeof(ct));
	store_version_done(&got);
	assert_int_equal(store_notice_mark(s, oid, 1, STORE_NOTICE_EXPIRED, 1000), 0);
	store_free(s);
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), SCHEMA_VERSION);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM expiry_notices"), 1);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_schema WHERE name IN "
					  "('versions_expiry', 'objects_deleted')"),
			 2);
}

/* A store of schema 4 (before cert_state) gains the table on open, data kept; a certificate's
 * state row goes in and out whole (an empty policy too), and goes with its object. */
static void test_migrate_from_v4(void **state)
{
	const struct fixture *f = *state;
	int64_t vid, oid;
	struct store *s = populated(f, &vid, &oid);
	struct store_cert_state c = { .failures = 2,
				      .last_attempt = 100,
				      .next_try = 220,
				      .last_err = -ENOENT,
				      .last_error = "the issuer CA is gone",
				      .notified_version = 3,
				      .expired_version = 2,
				      .updated = 100 },
				got;
	uint8_t pol[5] = "VCP2";

	store_free(s);
	raw_exec(f->path, "DROP TABLE fleet_applied; DROP TABLE cert_state; "
			  "ALTER TABLE vaults DROP COLUMN max_versions; "
			  "ALTER TABLE vaults DROP COLUMN prunes; PRAGMA user_version = 4;");
	s = open_ok(f, 0);
	assert_int_equal(store_schema_version(s), SCHEMA_VERSION);
	c.object_id = oid;
	test_fill(c.mac, sizeof(c.mac), 7);
	assert_int_equal(store_cert_state_get(s, oid, &got), -ENOENT);
	assert_int_equal(store_cert_state_set(s, &c), 0);
	assert_int_equal(store_cert_state_get(s, oid, &got), 0);
	assert_int_equal(got.failures, 2);
	assert_int_equal(got.next_try, 220);
	assert_int_equal(got.last_err, -ENOENT);
	assert_string_equal(got.last_error, "the issuer CA is gone");
	assert_int_equal(got.notified_version, 3);
	assert_int_equal(got.expired_version, 2);
	assert_int_equal(got.policy_len, 0);
	assert_memory_equal(got.mac, c.mac, sizeof(c.mac));
	store_cert_state_done(&got);
	c.policy = pol, c.policy_len = 4;
	assert_int_equal(store_cert_state_set(s, &c), 0);
	assert_int_equal(store_cert_state_get(s, oid, &got), 0);
	assert_int_equal(got.policy_len, 4);
	assert_memory_equal(got.policy, "VCP2", 4);
	store_cert_state_done(&got);
	c.last_err = 5; /* an errno is kept negative */
	assert_int_equal(store_cert_state_set(s, &c), -EINVAL);
	assert_int_equal(store_object_purge(s, oid), 0);
	assert_int_equal(store_cert_state_get(s, oid, &got), -ENOENT);
	store_free(s);
}

/* A store of schema 5 (before max-versions) gains the vault's two columns on open, its rows
 * kept as they were (none set: 0, 0); they go in and out through insert and update, and a
 * version can be removed alone (a prune), its notices with it. */
static void test_migrate_from_v5(void **state)
{
	const struct fixture *f = *state;
	int64_t vid, oid;
	struct store *s = populated(f, &vid, &oid);
	struct store_vault v, got;
	struct store_version ver, vg;
	uint8_t ct[40], mac_before[CRYPTO_MAC_LEN];

	assert_int_equal(store_vault_get(s, "v", &v), 0);
	memcpy(mac_before, v.mac, sizeof(mac_before));
	test_fill(ct, sizeof(ct), 5);
	for (uint32_t i = 1; i <= 3; i++) {
		ver = version_new(oid, i, ct, sizeof(ct), 5);
		ver.expires = 1000;
		assert_int_equal(store_version_insert(s, &ver), 0);
	}
	assert_int_equal(store_notice_mark(s, oid, 1, STORE_NOTICE_EXPIRED, 1000), 0);
	store_free(s);
	raw_exec(f->path, "DROP TABLE fleet_applied; ALTER TABLE vaults DROP COLUMN max_versions; "
			  "ALTER TABLE vaults DROP COLUMN prunes; PRAGMA user_version = 5;");
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM pragma_table_info('vaults') "
					  "WHERE name IN ('max_versions', 'prunes')"),
			 0);

	s = open_ok(f, 0);
	assert_int_equal(store_schema_version(s), SCHEMA_VERSION);
	assert_int_equal(store_vault_get(s, "v", &got), 0);
	assert_int_equal(got.id, vid);
	assert_int_equal(got.max_versions, 0);
	assert_false(got.prunes);
	assert_memory_equal(got.mac, mac_before, sizeof(mac_before));
	got.max_versions = 5;
	got.prunes = true;
	assert_int_equal(store_vault_update(s, &got), 0);
	assert_int_equal(store_vault_get_by_id(s, vid, &v), 0);
	assert_int_equal(v.max_versions, 5);
	assert_true(v.prunes);
	v = vault_new("w", 1);
	v.max_versions = 7;
	assert_int_equal(store_vault_insert(s, &v), 0);
	assert_int_equal(store_vault_get(s, "w", &got), 0);
	assert_int_equal(got.max_versions, 7);
	assert_false(got.prunes);

	/* one version removed alone, with its notice; the others stay */
	assert_int_equal(store_version_delete(s, oid, 1), 0);
	assert_int_equal(store_version_delete(s, oid, 1), -ENOENT);
	assert_int_equal(store_version_get(s, oid, 1, &vg), -ENOENT);
	assert_int_equal(store_version_get(s, oid, 2, &vg), 0);
	store_version_done(&vg);
	store_free(s);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM expiry_notices"), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM versions"), 2);
	/* a tampered column reads as -EBADMSG, as every other */
	raw_exec(f->path, "UPDATE vaults SET prunes = 2 WHERE name = 'v'");
	s = open_ok(f, 0);
	assert_int_equal(store_vault_get(s, "v", &got), -EBADMSG);
	store_free(s);
}

/* A store of schema 6 (before fleet vaults) gains fleet_applied on open, data kept; a row goes
 * in and out whole, is replaced in place, is refused out of range, and goes with its vault. */
static void test_migrate_from_v6(void **state)
{
	const struct fixture *f = *state;
	int64_t vid, oid;
	struct store *s = populated(f, &vid, &oid);
	struct store_fleet_applied a = { .seq = 3, .epoch = 2, .updated = 100 }, got;
	struct store_vault w;

	store_free(s);
	raw_exec(f->path, "DROP TABLE fleet_applied; PRAGMA user_version = 6;");
	s = open_ok(f, 0);
	assert_int_equal(store_schema_version(s), SCHEMA_VERSION);
	w = vault_new("w", 1);
	assert_int_equal(store_vault_insert(s, &w), 0);
	a.vault_id = w.id;
	test_fill(a.last_mac, sizeof(a.last_mac), 3);
	test_fill(a.mac, sizeof(a.mac), 7);
	assert_int_equal(store_fleet_applied_get(s, w.id, &got), -ENOENT);
	assert_int_equal(store_fleet_applied_set(s, &a), 0);
	assert_int_equal(store_fleet_applied_get(s, w.id, &got), 0);
	assert_memory_equal(&got, &a, sizeof(a));
	a.seq = 4;
	assert_int_equal(store_fleet_applied_set(s, &a), 0);
	assert_int_equal(store_fleet_applied_get(s, w.id, &got), 0);
	assert_int_equal(got.seq, 4);
	a.seq = -1;
	assert_int_equal(store_fleet_applied_set(s, &a), -EINVAL);
	assert_int_equal(store_vault_delete(s, w.id), 0);
	assert_int_equal(store_fleet_applied_get(s, w.id, &got), -ENOENT);
	store_free(s);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM fleet_applied"), 0);
}

struct ecollect {
	size_t n;
	int64_t objects[16];
	uint32_t versions[16];
	int64_t expires[16];
	size_t stop_after;
};

static int collect_expiry(const struct store_version *v, void *userdata)
{
	struct ecollect *c = userdata;

	assert_true(c->n < ELEMENTSOF(c->objects));
	assert_null(v->ciphertext);
	c->objects[c->n] = v->object_id;
	c->versions[c->n] = v->version;
	c->expires[c->n] = v->expires;
	c->n++;
	return c->stop_after && c->n == c->stop_after ? -EINTR : 0;
}

static struct ecollect expiry_rows(struct store *s, int64_t now, int64_t until)
{
	struct store_expiry_scan q = { .now = now, .until = until, .limit = 100 };
	struct ecollect c = { 0 };

	assert_int_equal(store_expiry_foreach(s, &q, collect_expiry, &c), 0);
	return c;
}

static void insert_expiring(struct store *s, int64_t object_id, uint32_t version, int64_t expires)
{
	uint8_t ct[30];
	struct store_version ver;

	test_fill(ct, sizeof(ct), version);
	ver = version_new(object_id, version, ct, sizeof(ct), version);
	ver.expires = expires;
	assert_int_equal(store_version_insert(s, &ver), 0);
}

static void test_expiry_foreach(void **state)
{
	const struct fixture *f = *state;
	int64_t vid, a;
	struct store *s = populated(f, &vid, &a);
	struct store_object b = object_new(vid, "b", 2), gone = object_new(vid, "gone", 3);
	struct store_expiry_scan q = { .now = 150, .until = 250, .limit = 100 };
	struct store_version got;
	struct ecollect c;

	assert_int_equal(store_object_insert(s, &b), 0);
	assert_int_equal(store_object_insert(s, &gone), 0);
	insert_expiring(s, a, 1, 100);
	insert_expiring(s, a, 2, 0);
	insert_expiring(s, a, 3, 300);
	insert_expiring(s, b.id, 1, 200);
	insert_expiring(s, b.id, 2, 100);
	insert_expiring(s, gone.id, 1, 150);
	gone.deleted_at = 1;
	assert_int_equal(store_object_update(s, &gone), 0);

	/* The window 0 < expires <= until, soft-deleted objects left out, in expiry order. */
	c = expiry_rows(s, 150, 250);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.objects[0], a);
	assert_int_equal(c.versions[0], 1);
	assert_int_equal(c.expires[0], 100);
	assert_int_equal(c.objects[1], b.id);
	assert_int_equal(c.versions[1], 2);
	assert_int_equal(c.objects[2], b.id);
	assert_int_equal(c.versions[2], 1);
	assert_int_equal(c.expires[2], 200);
	assert_int_equal(expiry_rows(s, 150, 99).n, 0);
	assert_int_equal(expiry_rows(s, 150, 100).n, 2);
	assert_int_equal(expiry_rows(s, 150, INT64_MAX).n, 4);

	/* Cursor and limit. */
	q.after_expires = 100;
	q.after_object = a;
	q.after_version = 1;
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_expiry_foreach(s, &q, collect_expiry, &c), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.objects[0], b.id);
	assert_int_equal(c.versions[0], 2);
	q.after_expires = q.after_object = q.after_version = 0;
	q.limit = 1;
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_expiry_foreach(s, &q, collect_expiry, &c), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.objects[0], a);
	q.limit = 0;
	assert_int_equal(store_expiry_foreach(s, &q, collect_expiry, &c), -EINVAL);
	q.limit = 100;
	memset(&c, 0, sizeof(c));
	c.stop_after = 2;
	assert_int_equal(store_expiry_foreach(s, &q, collect_expiry, &c), -EINTR);
	assert_int_equal(c.n, 2);

	/* Recorded notices: EXPIRED covers a version for good, NEAR only until it expires. */
	assert_int_equal(store_notice_mark(s, a, 1, STORE_NOTICE_EXPIRED, 100), 0);
	assert_int_equal(store_notice_mark(s, b.id, 2, STORE_NOTICE_NEAR, 100), 0);
	assert_int_equal(store_notice_mark(s, b.id, 1, STORE_NOTICE_NEAR, 200), 0);
	c = expiry_rows(s, 150, 250);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.objects[0], b.id);
	assert_int_equal(c.versions[0], 2); /* expired: NEAR does not cover it */
	assert_int_equal(expiry_rows(s, 50, 250).n, 0);
	c = expiry_rows(s, 200, 250);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.versions[1], 1);
	assert_int_equal(store_notice_mark(s, b.id, 1, STORE_NOTICE_EXPIRED, 200), 0);
	assert_int_equal(store_notice_mark(s, b.id, 2, STORE_NOTICE_EXPIRED, 100), 0);
	assert_int_equal(expiry_rows(s, 200, 250).n, 0);
	assert_int_equal(expiry_rows(s, 150, 250).n, 0);

	/* A new expiry date arms the version again; the mark replaces the old date. */
	assert_int_equal(store_version_get(s, b.id, 1, &got), 0);
	got.expires = 220;
	assert_int_equal(store_version_update_attrs(s, &got), 0);
	store_version_done(&got);
	c = expiry_rows(s, 150, 250);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.objects[0], b.id);
	assert_int_equal(c.expires[0], 220);
	assert_int_equal(store_notice_mark(s, b.id, 1, STORE_NOTICE_NEAR, 220), 0);
	assert_int_equal(expiry_rows(s, 150, 250).n, 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM expiry_notices"), 5);
	assert_int_equal(raw_int(f->path, "SELECT expires FROM expiry_notices WHERE version = 1 "
					  "AND event = 1 AND object_id = (SELECT id FROM objects "
					  "WHERE name = 'b')"),
			 220);

	/* Recovered: the soft-deleted object's version is in again. */
	gone.deleted_at = 0;
	assert_int_equal(store_object_update(s, &gone), 0);
	c = expiry_rows(s, 150, 250);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.objects[0], gone.id);
	store_free(s);
}

static void test_notice_mark(void **state)
{
	const struct fixture *f = *state;
	int64_t vid, oid;
	struct store *s = populated(f, &vid, &oid);

	insert_expiring(s, oid, 1, 500);
	insert_expiring(s, oid, 2, 600);
	assert_int_equal(store_notice_mark(s, oid, 3, STORE_NOTICE_NEAR, 500), -ENOENT);
	assert_int_equal(store_notice_mark(s, oid + 1, 1, STORE_NOTICE_NEAR, 500), -ENOENT);
	assert_int_equal(store_notice_mark(s, oid, 1, 0, 500), -EINVAL);
	assert_int_equal(store_notice_mark(s, oid, 1, 3, 500), -EINVAL);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM expiry_notices"), 0);
	assert_int_equal(store_notice_mark(s, oid, 1, STORE_NOTICE_NEAR, 500), 0);
	assert_int_equal(store_notice_mark(s, oid, 1, STORE_NOTICE_NEAR, 500), 0);
	assert_int_equal(store_notice_mark(s, oid, 1, STORE_NOTICE_EXPIRED, 500), 0);
	assert_int_equal(store_notice_mark(s, oid, 2, STORE_NOTICE_NEAR, 600), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM expiry_notices"), 3);

	/* Read-only: refused. */
	store_free(s);
	s = open_ok(f, STORE_READONLY);
	assert_int_equal(store_notice_mark(s, oid, 2, STORE_NOTICE_EXPIRED, 600), -EROFS);
	store_free(s);

	/* A purge takes the notices with the versions. */
	s = open_ok(f, 0);
	assert_int_equal(store_object_purge(s, oid), 0);
	store_free(s);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM expiry_notices"), 0);
}

/* SQLite's auto-extension hook takes no user data: the handle it sees is kept here, the one
 * mutable static of this file, set and cleared by test_expiry_uses_index and
 * test_page_uses_index alone. */
static sqlite3 *hooked_db;

static int hook_db(sqlite3 *db, char **err, const struct sqlite3_api_routines *api)
{
	(void)err;
	(void)api;
	hooked_db = db;
	return SQLITE_OK;
}

static sqlite3_stmt *find_stmt(sqlite3 *db, const char *needle)
{
	for (sqlite3_stmt *st = sqlite3_next_stmt(db, NULL); st; st = sqlite3_next_stmt(db, st))
		if (strstr(sqlite3_sql(st), needle))
			return st;
	fail_msg("no statement with '%s'", needle);
	return NULL;
}

/* The expiry walk is an index range: over many versions that do not expire (or not yet) it
 * takes no step of a full table scan, and the counter that says so does count a real scan. */
static void test_expiry_uses_index(void **state)
{
	const struct fixture *f = *state;
	struct store_object o;
	struct store_vault v = vault_new("v", 1);
	struct store *s = NULL;
	sqlite3_stmt *walk, *scan = NULL;
	uint8_t ct[40];
	struct ecollect c;

	hooked_db = NULL;
	assert_int_equal(sqlite3_auto_extension((void (*)(void))hook_db), SQLITE_OK);
	assert_int_equal(store_open(f->path, STORE_CREATE, &s), 0);
	assert_int_equal(sqlite3_cancel_auto_extension((void (*)(void))hook_db), 1);
	assert_non_null(hooked_db);

	assert_int_equal(store_vault_insert(s, &v), 0);
	o = object_new(v.id, "o", 1);
	assert_int_equal(store_object_insert(s, &o), 0);
	test_fill(ct, sizeof(ct), 1);
	assert_int_equal(store_begin(s), 0);
	for (uint32_t i = 1; i <= 3000; i++) {
		struct store_version ver = version_new(o.id, i, ct, sizeof(ct), 1);

		/* most never expire, a few far in the future, three in the window */
		ver.expires = i % 10 ? 0 : i <= 30 ? 1000 + i : 1000000 + i;
		assert_int_equal(store_version_insert(s, &ver), 0);
	}
	assert_int_equal(store_commit(s), 0);

	c = expiry_rows(s, 500, 999);
	assert_int_equal(c.n, 0);
	c = expiry_rows(s, 500, 2000);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.versions[2], 30);
	walk = find_stmt(hooked_db, "expiry_notices AS n");
	assert_int_equal(sqlite3_stmt_status(walk, SQLITE_STMTSTATUS_FULLSCAN_STEP, 0), 0);
	assert_in_range(sqlite3_stmt_status(walk, SQLITE_STMTSTATUS_VM_STEP, 0), 1, 1000);

	assert_int_equal(sqlite3_prepare_v2(hooked_db,
					    "SELECT count(*) FROM versions WHERE "
					    "updated > 0",
					    -1, &scan, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(scan), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int64(scan, 0), 3000);
	assert_true(sqlite3_stmt_status(scan, SQLITE_STMTSTATUS_FULLSCAN_STEP, 0) >= 2999);
	sqlite3_finalize(scan);
	hooked_db = NULL;
	store_free(s);
}

/* --- pages --- */

struct pcollect {
	char names[32][VAULTFS_NAME_MAX + 1];
	uint32_t versions[32];
	size_t n;
	size_t stop_after; /* -ECANCELED after this many (0 = never) */
	struct store *s;   /* set: a nested page of the same kind is tried (-EBUSY) */
	int nested_r;
};

static int page_object(const struct store_object *o, void *userdata)
{
	struct pcollect *c = userdata;

	assert_true(c->n < ELEMENTSOF(c->names));
	snprintf(c->names[c->n++], sizeof(c->names[0]), "%s", o->name);
	if (c->s)
		c->nested_r = store_object_page(c->s, o->vault_id, o->name, 1, page_object, c);
	return c->stop_after && c->n == c->stop_after ? -ECANCELED : 0;
}

static int page_vault(const struct store_vault *v, void *userdata)
{
	struct pcollect *c = userdata;

	assert_true(c->n < ELEMENTSOF(c->names));
	snprintf(c->names[c->n++], sizeof(c->names[0]), "%s", v->name);
	if (c->s)
		c->nested_r = store_vault_page(c->s, v->name, 1, page_vault, c);
	return c->stop_after && c->n == c->stop_after ? -ECANCELED : 0;
}

static int page_version(const struct store_version *v, void *userdata)
{
	struct pcollect *c = userdata;

	assert_true(c->n < ELEMENTSOF(c->versions));
	assert_null(v->ciphertext);
	c->versions[c->n++] = v->version;
	return 0;
}

/* Every object of vault vid, limit a page, into c (appended): the number of pages. Each page
 * gives at most limit and goes on after the last name of the one before. */
static size_t object_pages(struct store *s, int64_t vid, unsigned limit, struct pcollect *c)
{
	char after[VAULTFS_NAME_MAX + 1] = "";
	size_t pages = 0;
	int r;

	do {
		size_t n0 = c->n;

		r = store_object_page(s, vid, after, limit, page_object, c);
		assert_in_range(r, 0, limit);
		assert_int_equal(c->n - n0, r);
		if (r > 0) {
			assert_true(strcmp(c->names[n0], after) > 0);
			snprintf(after, sizeof(after), "%s", c->names[c->n - 1]);
		}
		pages++;
	} while ((unsigned)r == limit);
	return pages;
}

static int count_object(const struct store_object *o, void *userdata)
{
	(void)o;
	(*(size_t *)userdata)++;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Names of any bytes but NUL sort as bytes; pages of every size give the foreach's order, the
 * last one short (an empty one after an exact fit); a page reads one vault only; a cursor may
 * be a name that is not there; rows added and removed between pages are met as they are. */
static void test_object_page(void **state)
{
	const struct fixture *f = *state;
	struct store *s = open_ok(f, STORE_CREATE);
	struct store_vault va = vault_new("a", 1), vb = vault_new("b", 2), vc = vault_new("c", 3);
	static const char *const names[] = { "a",	 "A",	 "a b", "a\x01", "a-",
					     "\xc3\xa9", "\x7f", "z",	"zz",	 "b\xff" };
	const char *sorted[ELEMENTSOF(names)];
	struct store_object o, in_c;
	struct pcollect c = { 0 };
	char too_long[VAULTFS_NAME_MAX + 2];

	assert_int_equal(store_vault_insert(s, &va), 0);
	assert_int_equal(store_vault_insert(s, &vb), 0);
	assert_int_equal(store_vault_insert(s, &vc), 0);
	/* an empty vault */
	assert_int_equal(store_object_page(s, va.id, "", 5, page_object, &c), 0);
	assert_int_equal(store_object_page(s, va.id, NULL, 1, page_object, &c), 0);
	assert_int_equal(c.n, 0);

	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		o = object_new(vb.id, names[i], (unsigned)i);
		if (i % 3 == 0)
			o.deleted_at = 1700000500; /* soft-deleted ones are in pages too */
		assert_int_equal(store_object_insert(s, &o), 0);
		sorted[i] = names[i];
	}
	qsort(sorted, ELEMENTSOF(sorted), sizeof(sorted[0]), cmp_str);
	assert_string_equal(sorted[0], "A");
	assert_string_equal(sorted[2], "a\x01");
	assert_string_equal(sorted[9], "\xc3\xa9");
	in_c = object_new(vc.id, "a0", 20);
	assert_int_equal(store_object_insert(s, &in_c), 0);
	o = object_new(va.id, "zzz", 21);
	assert_int_equal(store_object_insert(s, &o), 0);

	for (unsigned limit = 1; limit <= ELEMENTSOF(names) + 2; limit++) {
		memset(&c, 0, sizeof(c));
		assert_int_equal(object_pages(s, vb.id, limit, &c), ELEMENTSOF(names) / limit + 1);
		assert_int_equal(c.n, ELEMENTSOF(names));
		for (size_t i = 0; i < c.n; i++)
			assert_string_equal(c.names[i], sorted[i]);
	}

	/* a cursor that names no row: from the next one */
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_object_page(s, vb.id, "a ", 2, page_object, &c), 2);
	assert_string_equal(c.names[0], "a b");
	assert_string_equal(c.names[1], "a-");
	/* past the last */
	assert_int_equal(store_object_page(s, vb.id, "\xc3\xa9", 2, page_object, &c), 0);
	assert_int_equal(store_object_page(s, vb.id, "\xff", 2, page_object, &c), 0);
	assert_int_equal(c.n, 2);

	/* between pages: one ahead removed, one ahead added, one behind added */
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_object_page(s, vb.id, "", 3, page_object, &c), 3);
	assert_string_equal(c.names[2], "a\x01");
	assert_int_equal(store_object_get(s, vb.id, "a b", &o), 0);
	assert_int_equal(store_object_purge(s, o.id), 0);
	o = object_new(vb.id, "a\x01\x01", 30);
	assert_int_equal(store_object_insert(s, &o), 0);
	o = object_new(vb.id, "0", 31);
	assert_int_equal(store_object_insert(s, &o), 0);
	assert_int_equal(store_object_page(s, vb.id, c.names[2], 3, page_object, &c), 3);
	assert_string_equal(c.names[3], "a\x01\x01");
	assert_string_equal(c.names[4], "a-");
	assert_string_equal(c.names[5], "b\xff");

	/* refusals */
	memset(too_long, 'n', sizeof(too_long) - 1);
	too_long[sizeof(too_long) - 1] = '\0';
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_object_page(s, vb.id, "", 0, page_object, &c), -EINVAL);
	assert_int_equal(store_object_page(s, vb.id, "", (unsigned)INT_MAX + 1, page_object, &c),
			 -EINVAL);
	assert_int_equal(store_object_page(s, vb.id, too_long, 1, page_object, &c), -EINVAL);
	/* 127 bytes: a cursor, past every name that starts with 'n' */
	too_long[VAULTFS_NAME_MAX] = '\0';
	assert_int_equal(store_object_page(s, vb.id, too_long, 1, page_object, &c), 1);
	assert_string_equal(c.names[0], "z");
	/* a callback's error stops the page; the same page from its callback is -EBUSY */
	memset(&c, 0, sizeof(c));
	c.stop_after = 2;
	assert_int_equal(store_object_page(s, vb.id, "", 5, page_object, &c), -ECANCELED);
	assert_int_equal(c.n, 2);
	memset(&c, 0, sizeof(c));
	c.s = s;
	c.nested_r = 1;
	assert_int_equal(store_object_page(s, vb.id, "", 1, page_object, &c), 1);
	assert_int_equal(c.nested_r, -EBUSY);
	assert_int_equal(store_object_foreach(s, vc.id, collect_object, &(struct collect){ 0 }), 0);
	store_free(s);
}

/* A row damaged behind the store's back is -EBADMSG in the page that reaches it, not before;
 * from the first, a row no cursor could pass (an empty name, version 0) is read and refused. */
static void test_page_tampered(void **state)
{
	const struct fixture *f = *state;
	struct store *s = open_ok(f, STORE_CREATE);
	struct store_vault v = vault_new("v", 1);
	struct store_object o;
	struct pcollect c = { 0 };
	uint8_t ct[8] = "abcdefg";
	int64_t oid = 0;

	assert_int_equal(store_vault_insert(s, &v), 0);
	for (char ch = 'a'; ch <= 'f'; ch++) {
		char name[2] = { ch, 0 };

		o = object_new(v.id, name, (unsigned)ch);
		assert_int_equal(store_object_insert(s, &o), 0);
		if (ch == 'a')
			oid = o.id;
	}
	for (uint32_t k = 1; k <= 4; k++) {
		struct store_version ver = version_new(oid, k, ct, sizeof(ct), k);

		assert_int_equal(store_version_insert(s, &ver), 0);
	}
	store_free(s);
	raw_exec(f->path, "UPDATE objects SET type = 9 WHERE name = 'e'");
	raw_exec(f->path, "UPDATE versions SET mac = zeroblob(31) WHERE version = 3");
	s = open_ok(f, 0);
	assert_int_equal(store_object_page(s, v.id, "", 3, page_object, &c), 3);
	assert_int_equal(store_object_page(s, v.id, "c", 3, page_object, &c), -EBADMSG);
	assert_int_equal(c.n, 4); /* d, then e refused */
	assert_int_equal(store_object_page(s, v.id, "e", 3, page_object, &c), 1);
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_version_page(s, oid, 0, 2, page_version, &c), 2);
	assert_int_equal(store_version_page(s, oid, 2, 2, page_version, &c), -EBADMSG);
	assert_int_equal(store_version_page(s, oid, 3, 2, page_version, &c), 1);
	assert_int_equal(c.versions[2], 4);
	store_free(s);

	raw_exec(f->path, "UPDATE objects SET type = 1 WHERE name = 'e';"
			  "UPDATE objects SET name = '' WHERE name = 'f';"
			  "UPDATE versions SET version = 0 WHERE version = 1;"
			  "INSERT INTO vaults (name, wrapped_key, created, retention_days, "
			  "purge_protection, mac) "
			  "VALUES ('', zeroblob(60), 0, 7, 0, zeroblob(32))");
	s = open_ok(f, 0);
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_object_page(s, v.id, "", 3, page_object, &c), -EBADMSG);
	assert_int_equal(c.n, 0);
	assert_int_equal(store_object_page(s, v.id, "a", 10, page_object, &c), 4);
	assert_int_equal(store_version_page(s, oid, 0, 10, page_version, &c), -EBADMSG);
	assert_int_equal(store_vault_page(s, "", 10, page_vault, &c), -EBADMSG);
	assert_int_equal(store_vault_page(s, NULL, 10, page_vault, &c), -EBADMSG);
	store_free(s);
}

static void test_vault_page(void **state)
{
	const struct fixture *f = *state;
	struct store *s = open_ok(f, STORE_CREATE);
	static const char *const names[] = { "m", "b", "z", "a", "B" };
	static const char *const sorted[] = { "B", "a", "b", "m", "z" };
	struct pcollect c = { 0 };

	assert_int_equal(store_vault_page(s, "", 3, page_vault, &c), 0);
	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		struct store_vault v = vault_new(names[i], (unsigned)i);

		assert_int_equal(store_vault_insert(s, &v), 0);
	}
	assert_int_equal(store_vault_page(s, "", 2, page_vault, &c), 2);
	assert_int_equal(store_vault_page(s, c.names[1], 2, page_vault, &c), 2);
	assert_int_equal(store_vault_page(s, c.names[3], 2, page_vault, &c), 1);
	assert_int_equal(c.n, 5);
	for (size_t i = 0; i < ELEMENTSOF(sorted); i++)
		assert_string_equal(c.names[i], sorted[i]);
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_vault_page(s, "a0", 5, page_vault, &c), 3);
	assert_string_equal(c.names[0], "b");
	assert_int_equal(store_vault_page(s, "z", 5, page_vault, &c), 0);
	assert_int_equal(store_vault_page(s, "", 0, page_vault, &c), -EINVAL);
	memset(&c, 0, sizeof(c));
	c.s = s;
	c.nested_r = 1;
	assert_int_equal(store_vault_page(s, "", 1, page_vault, &c), 1);
	assert_int_equal(c.nested_r, -EBUSY);
	store_free(s);
}

static void test_version_page(void **state)
{
	const struct fixture *f = *state;
	int64_t vid, oid;
	struct store *s = populated(f, &vid, &oid);
	struct store_object other = object_new(vid, "other", 2);
	static const uint32_t order[] = { 12, 3, 1, 5, 2 };
	struct pcollect c = { 0 };
	uint8_t ct[16];

	test_fill(ct, sizeof(ct), 1);
	assert_int_equal(store_version_page(s, oid, 0, 3, page_version, &c), 0);
	assert_int_equal(store_object_insert(s, &other), 0);
	for (size_t i = 0; i < ELEMENTSOF(order); i++) {
		struct store_version ver = version_new(oid, order[i], ct, sizeof(ct), 1);
		struct store_version ov = version_new(other.id, order[i] + 1, ct, 4, 1);

		assert_int_equal(store_version_insert(s, &ver), 0);
		assert_int_equal(store_version_insert(s, &ov), 0);
	}
	assert_int_equal(store_version_page(s, oid, 0, 2, page_version, &c), 2);
	assert_int_equal(store_version_page(s, oid, 2, 2, page_version, &c), 2);
	assert_int_equal(store_version_page(s, oid, 5, 2, page_version, &c), 1);
	assert_int_equal(c.n, 5);
	assert_int_equal(c.versions[0], 1);
	assert_int_equal(c.versions[1], 2);
	assert_int_equal(c.versions[2], 3);
	assert_int_equal(c.versions[3], 5);
	assert_int_equal(c.versions[4], 12);
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_version_page(s, oid, 4, 10, page_version, &c), 2);
	assert_int_equal(c.versions[0], 5);
	assert_int_equal(store_version_page(s, oid, 12, 10, page_version, &c), 0);
	assert_int_equal(store_version_page(s, oid, UINT32_MAX, 10, page_version, &c), 0);
	assert_int_equal(store_version_page(s, oid + 100, 0, 10, page_version, &c), 0);
	assert_int_equal(store_version_page(s, oid, 0, 0, page_version, &c), -EINVAL);
	assert_int_equal(c.n, 2);
	store_free(s);
}

/* A page is a range of the (vault_id, name) index: next to thousands of rows of another vault,
 * a page of a few rows takes a few steps and no full-scan step, from the first or from the
 * middle, and so does a page of versions next to thousands of another object's. */
static void test_page_uses_index(void **state)
{
	const struct fixture *f = *state;
	struct store_vault va = vault_new("a", 1), vb = vault_new("b", 2), vc = vault_new("c", 3);
	struct store *s = NULL;
	struct store_object o;
	sqlite3_stmt *page, *vpage;
	struct pcollect c = { 0 };
	int64_t few = 0, many = 0;
	uint8_t ct[8] = "1234567";
	size_t counted = 0;

	hooked_db = NULL;
	assert_int_equal(sqlite3_auto_extension((void (*)(void))hook_db), SQLITE_OK);
	assert_int_equal(store_open(f->path, STORE_CREATE, &s), 0);
	assert_int_equal(sqlite3_cancel_auto_extension((void (*)(void))hook_db), 1);
	assert_non_null(hooked_db);

	assert_int_equal(store_vault_insert(s, &va), 0);
	assert_int_equal(store_vault_insert(s, &vb), 0);
	assert_int_equal(store_vault_insert(s, &vc), 0);
	assert_int_equal(store_begin(s), 0);
	for (unsigned i = 0; i < 3000; i++) {
		char name[16];

		snprintf(name, sizeof(name), "o%05u", i);
		o = object_new(vb.id, name, i);
		assert_int_equal(store_object_insert(s, &o), 0);
		if (i == 0)
			many = o.id;
	}
	for (unsigned i = 0; i < 3; i++) {
		char name[16];

		snprintf(name, sizeof(name), "o%05u", i * 1000);
		o = object_new(va.id, name, i);
		assert_int_equal(store_object_insert(s, &o), 0);
		o = object_new(vc.id, name, i);
		assert_int_equal(store_object_insert(s, &o), 0);
		few = o.id;
	}
	for (uint32_t k = 1; k <= 3000; k++) {
		struct store_version ver = version_new(many, k, ct, sizeof(ct), 1);

		assert_int_equal(store_version_insert(s, &ver), 0);
		if (k <= 3) {
			ver.object_id = few;
			assert_int_equal(store_version_insert(s, &ver), 0);
		}
	}
	assert_int_equal(store_commit(s), 0);

	page = find_stmt(hooked_db, "name >= ?2 AND name IS NOT ?3");
	vpage = find_stmt(hooked_db, "version >= ?2 AND version IS NOT ?3");
	for (int i = 0; i < 4; i++) {
		int64_t vid = i % 2 ? vc.id : va.id;
		const char *after = i < 2 ? "" : "o00000";

		(void)sqlite3_stmt_status(page, SQLITE_STMTSTATUS_VM_STEP, 1);
		assert_int_equal(store_object_page(s, vid, after, 10, page_object, &c),
				 i < 2 ? 3 : 2);
		assert_int_equal(sqlite3_stmt_status(page, SQLITE_STMTSTATUS_FULLSCAN_STEP, 0), 0);
		assert_in_range(sqlite3_stmt_status(page, SQLITE_STMTSTATUS_VM_STEP, 1), 1, 300);
	}
	assert_int_equal(store_object_page(s, vb.id, "o01500", 5, page_object, &c), 5);
	assert_string_equal(c.names[c.n - 1], "o01505");
	assert_in_range(sqlite3_stmt_status(page, SQLITE_STMTSTATUS_VM_STEP, 1), 1, 300);
	assert_int_equal(store_version_page(s, few, 0, 10, page_version, &c), 3);
	assert_int_equal(sqlite3_stmt_status(vpage, SQLITE_STMTSTATUS_FULLSCAN_STEP, 0), 0);
	assert_in_range(sqlite3_stmt_status(vpage, SQLITE_STMTSTATUS_VM_STEP, 1), 1, 300);
	assert_int_equal(store_version_page(s, many, 1500, 3, page_version, &c), 3);
	assert_int_equal(c.versions[c.n - 1], 1503);
	assert_in_range(sqlite3_stmt_status(vpage, SQLITE_STMTSTATUS_VM_STEP, 1), 1, 300);
	/* and the counter does count: the whole of the big vault takes thousands */
	assert_int_equal(store_object_foreach(s, vb.id, count_object, &counted), 0);
	assert_int_equal(counted, 3000);
	assert_true(sqlite3_stmt_status(page, SQLITE_STMTSTATUS_VM_STEP, 1) > 3000);
	hooked_db = NULL;
	store_free(s);
}

/* --- transactions --- */

/* A mark (the WAL-index header) changes with every commit, of any connection, and with
 * nothing else; a read-only handle cannot take one. */
static void test_mark(void **state)
{
	const struct fixture *f = *state;
	struct store *s = open_ok(f, STORE_CREATE), *s2, *ro;
	struct store_vault a = vault_new("a", 1), b = vault_new("b", 2), got;
	struct store_mark m0, m1;
	int status;
	pid_t pid;

	assert_int_equal(store_mark(s, &m0), 0);
	assert_true(store_unchanged(s, &m0));
	/* reads, a read transaction, a write transaction rolled back: nothing committed */
	assert_int_equal(store_vault_get(s, "a", &got), -ENOENT);
	assert_int_equal(store_begin_read(s), 0);
	assert_int_equal(store_vault_get(s, "a", &got), -ENOENT);
	assert_int_equal(store_commit(s), 0);
	assert_true(store_unchanged(s, &m0));
	/* a commit of ours */
	assert_int_equal(store_vault_insert(s, &a), 0);
	assert_false(store_unchanged(s, &m0));
	assert_int_equal(store_mark(s, &m1), 0);
	assert_true(store_unchanged(s, &m1));
	/* another connection's, seen without a transaction of ours */
	s2 = open_ok(f, 0);
	assert_int_equal(store_vault_insert(s2, &b), 0);
	assert_false(store_unchanged(s, &m1));
	assert_int_equal(store_mark(s, &m1), 0);
	/* another connection's rolled back: nothing */
	assert_int_equal(store_begin(s2), 0);
	assert_int_equal(store_vault_delete(s2, b.id), 0);
	store_rollback(s2);
	assert_true(store_unchanged(s, &m1));
	/* another process opens, writes and closes: it does not find the store unused (the
	 * mark must not cost SQLite its locks: then that process would cut the -shm file under
	 * our mapping, SIGBUS) and the mark sees its commit */
	store_free(s2);
	s2 = NULL;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct flock dms = {
			.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 128, .l_len = 1
		}; /* the "dead man switch" byte (walformat 2.1) */
		struct store_vault d = vault_new("d", 4);
		struct store *c = NULL;
		char shm[128];
		int fd;

		snprintf(shm, sizeof(shm), "%s-shm", f->path);
		fd = open(shm, O_RDWR | O_CLOEXEC);
		if (fd < 0 || fcntl(fd, F_GETLK, &dms) < 0 || dms.l_type == F_UNLCK)
			_exit(2); /* nobody holds it: the next opener would reset the -shm file */
		_exit(store_open(f->path, 0, &c) < 0 || store_vault_insert(c, &d) < 0 ?
			      1 :
			      (store_free(c), 0));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_false(store_unchanged(s, &m1));
	assert_int_equal(store_mark(s, &m1), 0);
	assert_int_equal(store_vault_get(s, "d", &got), 0);
	assert_true(store_unchanged(s, &m1));
	ro = open_ok(f, STORE_READONLY);
	assert_int_equal(store_mark(ro, &m0), -EOPNOTSUPP);
	assert_false(store_unchanged(ro, &m1));
	store_free(ro);
	store_free(s);
}

static bool gen_eq(const struct store_generation *a, const struct store_generation *b)
{
	return a->data_version == b->data_version && a->local == b->local;
}

/* The generation: the same while nothing changes, another after a change through this handle
 * (committed or not) or a commit of another; inside a read transaction, its snapshot's. */
static void test_generation(void **state)
{
	const struct fixture *f = *state;
	struct store *s = open_ok(f, STORE_CREATE), *s2;
	struct store_vault a = vault_new("a", 1), b = vault_new("b", 2), c = vault_new("c", 3);
	struct store_generation g0, g1, g2, g3;

	assert_int_equal(store_generation(s, &g0), 0);
	assert_int_equal(store_generation(s, &g1), 0);
	assert_true(gen_eq(&g0, &g1));
	/* reads change nothing */
	assert_int_equal(store_vault_get(s, "a", &b), -ENOENT);
	assert_int_equal(store_generation(s, &g1), 0);
	assert_true(gen_eq(&g0, &g1));
	/* a write of ours, in autocommit */
	assert_int_equal(store_vault_insert(s, &a), 0);
	assert_int_equal(store_generation(s, &g1), 0);
	assert_false(gen_eq(&g0, &g1));
	/* a write transaction of ours rolled back: another generation too (only a cost) */
	assert_int_equal(store_begin(s), 0);
	store_rollback(s);
	assert_int_equal(store_generation(s, &g2), 0);
	assert_false(gen_eq(&g1, &g2));
	/* another connection's commit */
	s2 = open_ok(f, 0);
	assert_int_equal(store_vault_insert(s2, &b), 0);
	assert_int_equal(store_generation(s, &g3), 0);
	assert_false(gen_eq(&g2, &g3));
	/* a read transaction names its snapshot: a commit meanwhile is not in it, and is after */
	assert_int_equal(store_begin_read(s), 0);
	assert_int_equal(store_generation(s, &g1), 0);
	assert_true(gen_eq(&g1, &g3));
	assert_int_equal(store_vault_insert(s2, &c), 0);
	assert_int_equal(store_generation(s, &g2), 0);
	assert_true(gen_eq(&g2, &g3));
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(store_generation(s, &g2), 0);
	assert_false(gen_eq(&g2, &g3));
	store_free(s2);
	store_free(s);
}

static void test_transactions(void **state)
{
	const struct fixture *f = *state;
	struct store *s = open_ok(f, STORE_CREATE), *s2;
	struct store_vault a = vault_new("a", 1), b = vault_new("b", 2), got;

	/* No transaction open: commit refuses, rollback is harmless. */
	assert_int_equal(store_commit(s), -EINVAL);
	store_rollback(s);

	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_begin(s), -EBUSY);
	assert_int_equal(store_begin_read(s), -EBUSY);
	assert_int_equal(store_vault_insert(s, &a), 0);
	assert_int_equal(store_vault_get(s, "a", &got), 0);
	store_rollback(s);
	assert_int_equal(store_vault_get(s, "a", &got), -ENOENT);
	store_rollback(s);

	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_vault_insert(s, &b), 0);
	assert_int_equal(store_meta_set(s, "k", "v", 1), 0);
	/* Another handle does not see it before the commit. */
	s2 = open_ok(f, 0);
	assert_int_equal(store_vault_get(s2, "b", &got), -ENOENT);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(store_vault_get(s2, "b", &got), 0);
	assert_int_equal(got.id, b.id);
	assert_int_equal(store_commit(s), -EINVAL);

	/* A read transaction keeps one snapshot while the other handle commits. */
	assert_int_equal(store_begin_read(s2), 0);
	assert_int_equal(store_begin_read(s2), -EBUSY);
	assert_int_equal(store_begin(s2), -EBUSY);
	assert_int_equal(store_vault_get(s2, "a", &got), -ENOENT);
	a = vault_new("a", 1);
	assert_int_equal(store_vault_insert(s, &a), 0);
	assert_int_equal(store_vault_get(s2, "a", &got), -ENOENT);
	assert_int_equal(store_commit(s2), 0);
	assert_int_equal(store_vault_get(s2, "a", &got), 0);
	store_free(s2);

	/* A transaction left open is rolled back by store_free. */
	assert_int_equal(store_begin(s), 0);
	struct store_vault c = vault_new("c", 3);

	assert_int_equal(store_vault_insert(s, &c), 0);
	store_free(s);
	s = open_ok(f, 0);
	assert_int_equal(store_vault_get(s, "c", &got), -ENOENT);
	assert_int_equal(store_vault_get(s, "b", &got), 0);
	store_free(s);
}

/* --- rows tampered with behind the store's back --- */

static void expect_vault_badmsg(const struct fixture *f, int64_t vid, const char *name)
{
	struct store *s = open_ok(f, 0);
	struct store_vault got, sentinel;
	struct collect c = { 0 };

	memset(&sentinel, 0xee, sizeof(sentinel));
	got = sentinel;
	if (name)
		assert_int_equal(store_vault_get(s, name, &got), -EBADMSG);
	assert_int_equal(store_vault_get_by_id(s, vid, &got), -EBADMSG);
	assert_memory_equal(&got, &sentinel, sizeof(got));
	assert_int_equal(store_vault_foreach(s, collect_vault, &c), -EBADMSG);
	assert_int_equal(c.n, 0);
	store_free(s);
}

static void test_tampered_vault(void **state)
{
	const struct fixture *f = *state;
	int64_t vid, oid;
	static const struct {
		const char *sql, *name;
	} cases[] = {
		{ "UPDATE vaults SET mac = x'00'", "v" },
		{ "UPDATE vaults SET mac = zeroblob(33)", "v" },
		{ "UPDATE vaults SET mac = x''", "v" },
		{ "UPDATE vaults SET wrapped_key = zeroblob(59)", "v" },
		{ "UPDATE vaults SET wrapped_key = zeroblob(61)", "v" },
		{ "UPDATE vaults SET wrapped_key = zeroblob(1000000)", "v" },
		{ "UPDATE vaults SET purge_protection = 2", "v" },
		{ "UPDATE vaults SET retention_days = -1", "v" },
		{ "UPDATE vaults SET retention_days = 4294967296", "v" },
		{ "UPDATE vaults SET name = ''", NULL },
		{ "UPDATE vaults SET name = 'a' || char(0) || 'b'", NULL },
		{ "UPDATE vaults SET name = printf('%.128c', 'n')", NULL },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		store_free(populated(f, &vid, &oid));
		raw_exec(f->path, cases[i].sql);
		expect_vault_badmsg(f, vid, cases[i].name);
		teardown(state);
		setup(state);
		f = *state;
	}
}

static void test_tampered_object(void **state)
{
	const struct fixture *f = *state;
	int64_t vid, oid;
	struct store *s;
	struct store_object got;
	struct collect c = { 0 };
	static const char *const cases[] = {
		"UPDATE objects SET mac = zeroblob(31)",
		"UPDATE objects SET mac = zeroblob(64)",
		"UPDATE objects SET type = 0",
		"UPDATE objects SET type = 4",
		"UPDATE objects SET current_version = -1",
		"UPDATE objects SET current_version = 4294967296",
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		store_free(populated(f, &vid, &oid));
		raw_exec(f->path, cases[i]);
		s = open_ok(f, 0);
		assert_int_equal(store_object_get(s, vid, "o", &got), -EBADMSG);
		memset(&c, 0, sizeof(c));
		assert_int_equal(store_object_foreach(s, vid, collect_object, &c), -EBADMSG);
		assert_int_equal(c.n, 0);
		store_free(s);
		teardown(state);
		setup(state);
		f = *state;
	}
}

static void test_tampered_version(void **state)
{
	const struct fixture *f = *state;
	int64_t vid, oid;
	struct store *s;
	struct store_version ver, got, sentinel;
	struct vcollect c = { 0 };
	uint8_t ct[50];
	char over[64]; /* a ciphertext one byte over the cap */
	/* The last is caught by foreach too: it does not read the ciphertext, but its length. */
	const char *const cases[] = {
		"UPDATE versions SET wrapped_dek = zeroblob(59)",
		"UPDATE versions SET mac = zeroblob(33)",
		"UPDATE versions SET content_type = printf('%.256c', 'c')",
		"UPDATE versions SET tags = printf('%.4831c', 't')",
		"UPDATE versions SET tags = 'a=1' || char(0) || 'b=2'",
		"UPDATE versions SET enabled = 7",
		"UPDATE versions SET version = 0",
		over,
	};

	snprintf(over, sizeof(over), "UPDATE versions SET ciphertext = zeroblob(%u)",
		 (unsigned)(CT_MAX + 1));
	test_fill(ct, sizeof(ct), 2);
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		s = populated(f, &vid, &oid);
		ver = version_new(oid, 1, ct, sizeof(ct), 1);
		assert_int_equal(store_version_insert(s, &ver), 0);
		store_free(s);
		raw_exec(f->path, cases[i]);

		s = open_ok(f, 0);
		memset(&sentinel, 0x77, sizeof(sentinel));
		got = sentinel;
		assert_int_equal(
			store_version_get(s, oid, strstr(cases[i], "version =") ? 0 : 1, &got),
			-EBADMSG);
		assert_memory_equal(&got, &sentinel, sizeof(got));
		memset(&c, 0, sizeof(c));
		assert_int_equal(store_version_foreach(s, oid, collect_version, &c), -EBADMSG);
		assert_int_equal(c.n, 0);
		store_free(s);
		teardown(state);
		setup(state);
		f = *state;
	}
}

static void test_tampered_meta(void **state)
{
	const struct fixture *f = *state;
	struct store *s = open_ok(f, STORE_CREATE);
	uint8_t *val = NULL;
	size_t n = 0;

	assert_int_equal(store_meta_set(s, "k", "v", 1), 0);
	store_free(s);
	raw_exec(f->path, "UPDATE meta SET value = zeroblob(4097) WHERE key = 'k'");
	s = open_ok(f, 0);
	assert_int_equal(store_meta_get(s, "k", &val, &n), -EBADMSG);
	assert_null(val);
	assert_int_equal(n, 0);
	store_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_open_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_schema_on_disk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_bad_args, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_empty_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_symlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_random, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_sqlite, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_application_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_own_id_wrong_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_words, setup, teardown),
		cmocka_unit_test_setup_teardown(test_removed_under_handle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_meta, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vault_crud, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vault_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vault_delete_not_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vault_foreach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_object_crud, setup, teardown),
		cmocka_unit_test_setup_teardown(test_object_purge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_object_ids_never_reused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_purge_in_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_purge_failure_atomic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secure_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_object_foreach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version_insert_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version_update_attrs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version_max, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version_foreach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version_get_meta, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_from_v1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_from_v4, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_from_v5, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_from_v6, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry_foreach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notice_mark, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry_uses_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_object_page, setup, teardown),
		cmocka_unit_test_setup_teardown(test_page_tampered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vault_page, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version_page, setup, teardown),
		cmocka_unit_test_setup_teardown(test_page_uses_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampered_vault, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampered_object, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampered_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampered_meta, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mark, setup, teardown),
		cmocka_unit_test_setup_teardown(test_generation, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
