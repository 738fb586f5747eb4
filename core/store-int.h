/* store-int.h: what the files of the SQLite store share and nothing outside core/store*.c may
 * include: the handle, the statements it prepares, SQLite's codes made -errno (store_errno), and
 * the row tables that bind and read every row of vaults, objects and versions. */
#pragma once

#include <sqlite3.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/store.h"
#include "core/util.h"

/* Caps of what a row may hold, from limits.h: a sealed value (nonce || ct || tag) and a meta
 * entry. */
#define STORE_CIPHERTEXT_MAX (VAULTFS_VALUE_MAX + CRYPTO_AEAD_OVERHEAD)
#define STORE_META_VALUE_MAX VAULTFS_SEALED_MAX
#define STORE_META_KEY_MAX VAULTFS_NAME_MAX

/* Every statement the store runs; the SQL of each is in store-schema.c. */
enum stmt_id {
	STMT_BEGIN,
	STMT_BEGIN_READ,
	STMT_COMMIT,
	STMT_ROLLBACK,
	STMT_SAVEPOINT,
	STMT_RELEASE,
	STMT_ROLLBACK_TO,
	STMT_META_GET,
	STMT_META_SET,
	STMT_VAULT_INSERT,
	STMT_VAULT_GET,
	STMT_VAULT_GET_BY_ID,
	STMT_VAULT_UPDATE,
	STMT_VAULT_HAS_OBJECTS,
	STMT_VAULT_DELETE,
	STMT_VAULT_PAGE,
	STMT_OBJECT_INSERT,
	STMT_OBJECT_GET,
	STMT_OBJECT_GET_BY_ID,
	STMT_OBJECT_UPDATE,
	STMT_OBJECT_PURGE_VERSIONS,
	STMT_OBJECT_PURGE,
	STMT_OBJECT_PAGE,
	STMT_OBJECT_DELETED,
	STMT_VERSION_INSERT,
	STMT_VERSION_GET,
	STMT_VERSION_UPDATE,
	STMT_VERSION_DELETE,
	STMT_VERSION_MAX,
	STMT_VERSION_PAGE,
	STMT_VERSION_GET_META,
	STMT_EXPIRY_FOREACH,
	STMT_NOTICE_MARK,
	STMT_DATA_VERSION,
	STMT_ROTATION_GET,
	STMT_ROTATION_SET,
	STMT_ROTATION_DELETE,
	STMT_ROTATION_PAGE,
	STMT_CERT_STATE_GET,
	STMT_CERT_STATE_SET,
	STMT_FLEET_GET,
	STMT_FLEET_SET,
	STMT_ROWS_MACS,
	_STMT_MAX,
};

struct store {
	sqlite3 *db;
	char *path; /* as opened: a write transaction checks that it still names the file */
	dev_t dev;  /* the file SQLite opened */
	ino_t ino;
	/* the connection's wal-index region 0 (store-wal.c), or NULL, and its file (xShmBarrier
	 * between the header's two copies) */
	const volatile uint8_t *shm;
	sqlite3_file *shm_file;
	sqlite3_stmt *stmt[_STMT_MAX];
	int schema_version;
	uint64_t writes; /* write transactions begun on this handle (store_generation) */
};

/* store.c: the one place where SQLite's result codes become -errno; SQLite's own words go to
 * log_foreign(). db may be NULL. */
int store_errno(sqlite3 *db, int rc);
/* Runs multi-statement writes atomically: in a transaction of their own when the caller has
 * none open, else inside a savepoint of the caller's transaction. store_op_end commits or
 * undoes by r and returns r (or the commit's error). */
int store_op_begin(struct store *s, bool *ret_own);
int store_op_end(struct store *s, bool own, int r);

/* store-schema.c */
int store_schema_latest(void);
int store_recognise(sqlite3 *db, off_t size, bool *ret_empty, int64_t *ret_version);
int store_migrate(sqlite3 *db, int64_t version_seen);
int store_prepare_all(struct store *s);
int store_pragma_int(sqlite3 *db, const char *sql, int64_t *ret);
int store_exec(sqlite3 *db, const char *sql);

/* store-wal.c: map the wal-index for store_mark (best effort). */
void store_map_shm(struct store *s);

/* store-row.c: statements and rows. */

/* Cleanup for a borrowed statement: reset it and drop its bindings (and with them any pointer
 * to the caller's bytes). */
void stmt_resetp(sqlite3_stmt **st);
#define _cleanup_stmt_ _cleanup_(stmt_resetp)
/* s->stmt[id], unless it is stepping now (a callback of a page or foreach calling the same
 * walk again): -EBUSY. */
int stmt_take(struct store *s, enum stmt_id id, sqlite3_stmt **ret);
/* Run a statement that returns no rows (or whose rows do not matter) to completion. */
int stmt_run(struct store *s, enum stmt_id id);
/* Step a bound write: -ENOENT when must_change and it changed no row. */
int stmt_write(struct store *s, sqlite3_stmt *st, bool must_change);
/* An SQLite result of a bind as -errno (0 for SQLITE_OK). */
int bind_rc(sqlite3_stmt *st, int rc);
/* Run the write statement id with ?1 = key: -ENOENT when must_change and it changed no row. */
int stmt_write_key(struct store *s, enum stmt_id id, int64_t key, bool must_change);
/* Bind v[0..n) as ?1..?n. */
int bind_int64s(sqlite3_stmt *st, size_t n, const int64_t *v);
int bind_str(sqlite3_stmt *st, int i, const char *str);
/* Bind n bytes; a zero-length value is an empty BLOB, never NULL. The bytes must stay valid
 * until the statement is reset. */
int bind_bytes(sqlite3_stmt *st, int i, const void *p, size_t n);
/* A name cursor (check_after) and a limit (-1: none) at ?i .. ?i + 2 (store-schema.c says how
 * a page reads). */
int bind_page(sqlite3_stmt *st, int i, const char *after, int64_t limit);
/* Column i as an integer in min..max, else -EBADMSG. */
int col_int(sqlite3_stmt *st, int i, int64_t min, int64_t max, int64_t *ret);
/* Column i as a BLOB of at most max bytes, copied to a new heap buffer (one byte at least). */
int col_bytes(sqlite3_stmt *st, int i, size_t max, uint8_t **ret, size_t *ret_len);

/* Checks of input: -EINVAL for a string in char[size] that is unterminated or outside
 * min..max bytes; a name (1..VAULTFS_NAME_MAX); a page cursor (NULL, or 0..VAULTFS_NAME_MAX);
 * a page limit (1..INT_MAX, so that the count fits the int a page returns). */
int check_str(const char *str, size_t size, size_t min, size_t max);
int check_name(const char *name);
int check_after(const char *after);
int check_limit(unsigned limit);

/* A row table: how each column of a row maps to a field of its struct, in the order of the
 * statement's columns. Column i is read from result column i and bound as parameter ?i+1, so
 * that an INSERT or UPDATE names the parameters of the columns it writes and leaves the others
 * unread. Every read checks the exact type, range and size (a tampered row is -EBADMSG, never
 * an overflow). */
enum row_type {
	ROW_I64,  /* int64_t in min..max */
	ROW_U32,  /* uint32_t in min..max */
	ROW_INT,  /* int in min..max */
	ROW_BOOL, /* bool, stored 0 or 1 */
	ROW_TEXT, /* char[size]: min..size - 1 bytes, no NUL inside */
	ROW_STR,  /* char * on the heap ("" bound for NULL): at most max bytes, no NUL inside */
	ROW_BLOB, /* uint8_t[size], exactly */
	ROW_LEN,  /* size_t from an integer column (a length() the statement computed), 0..max */
	ROW_BYTES, /* uint8_t * on the heap, at most max bytes, its length in the size_t at len_off */
};

struct row_col {
	enum row_type type;
	size_t off, size, len_off;
	int64_t min, max;
};

/* clang-format off */
#define ROW_FIELD_(T, f) .off = offsetof(T, f), .size = sizeof(((T *)0)->f)
#define ROW_I64(T, f, lo, hi) { .type = ROW_I64, ROW_FIELD_(T, f), .min = (lo), .max = (hi) }
#define ROW_U32(T, f, lo) { .type = ROW_U32, ROW_FIELD_(T, f), .min = (lo), .max = UINT32_MAX }
#define ROW_INT(T, f, lo, hi) { .type = ROW_INT, ROW_FIELD_(T, f), .min = (lo), .max = (hi) }
#define ROW_BOOL(T, f) { .type = ROW_BOOL, ROW_FIELD_(T, f), .min = 0, .max = 1 }
#define ROW_TEXT(T, f, lo) { .type = ROW_TEXT, ROW_FIELD_(T, f), .min = (lo) }
#define ROW_STR(T, f, hi) { .type = ROW_STR, ROW_FIELD_(T, f), .max = (hi) }
#define ROW_BLOB(T, f) { .type = ROW_BLOB, ROW_FIELD_(T, f) }
#define ROW_LEN(T, f, hi) { .type = ROW_LEN, ROW_FIELD_(T, f), .max = (hi) }
#define ROW_BYTES(T, f, len, hi) \
	{ .type = ROW_BYTES, ROW_FIELD_(T, f), .len_off = offsetof(T, len), .max = (hi) }
/* clang-format on */

struct row_table {
	const struct row_col *cols;
	size_t n;
	void (*done)(void *row); /* frees what a read put on the heap; NULL: nothing */
};

/* Each row struct fits here (row_get and row_each read into one). */
union store_row {
	struct store_vault vault;
	struct store_object object;
	struct store_version version;
};

/* What a walk calls for each row: the callback of the row's type, and its userdata. */
struct row_walk {
	int (*vault)(const struct store_vault *v, void *userdata);
	int (*object)(const struct store_object *o, void *userdata);
	int (*version)(const struct store_version *v, void *userdata);
	void *userdata;
};

/* Bind the first n columns of row (n <= t->n) and run the write statement id: -ENOENT when
 * must_change and it changed no row. */
int row_write(struct store *s, enum stmt_id id, const struct row_table *t, size_t n,
	      const void *row, bool must_change);
/* row_write of a new row; its rowid (the id the table assigns) in *ret_id. */
int row_insert(struct store *s, enum stmt_id id, const struct row_table *t, const void *row,
	       int64_t *ret_id);
/* Step a bound lookup of at most one row and read it into *ret (a struct of t's rows, written
 * only on success): -ENOENT when there is none. */
int row_get(struct store *s, sqlite3_stmt *st, const struct row_table *t, void *ret, size_t size);
/* The same for statement id with the integer key key[0..n) as ?1..?n. */
int row_get_by(struct store *s, enum stmt_id id, const struct row_table *t, size_t n,
	       const int64_t *key, void *ret, size_t size);
/* The same for statement id with the name `name` (check_name) as ?1, or with the parent
 * *parent as ?1 and the name as ?2. */
int row_get_named(struct store *s, enum stmt_id id, const struct row_table *t,
		  const int64_t *parent, const char *name, void *ret, size_t size);
/* Step a bound walk, calling w's callback for every row (the row lives during the call); a
 * negative return stops the walk and is returned. Else the count of rows (capped at INT_MAX). */
int row_each(struct store *s, sqlite3_stmt *st, const struct row_table *t,
	     const struct row_walk *w);
/* A page of a walk by name, statement id (store-schema.c): the rows named after `after`
 * (check_after) in name order, at most limit (-1: all), of the parent *parent (?1) or of no
 * parent (NULL). The count, or -errno. */
int row_name_page(struct store *s, enum stmt_id id, const struct row_table *t,
		  const int64_t *parent, const char *after, int64_t limit,
		  const struct row_walk *w);
