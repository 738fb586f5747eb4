/* store.c: the SQLite backend of store.h. It keeps vaults, objects and versions as rows of
 * opaque bytes in one WAL database file (created 0600, recognised by its application_id, its
 * schema brought up to date by numbered migrations), prepares every statement once per handle
 * and turns every SQLite result code into -errno in one function, errno_from_sqlite(). It checks
 * the exact length and type of every column it reads, so a tampered or corrupt row is -EBADMSG
 * and never an overflow. It must never know about crypto (kv.c seals and MACs the rows), never
 * build SQL from input, never scan a whole table to find a row, and never log or print. */
#include <assert.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <sys/stat.h>

#include "core/secbuf.h"
#include "core/store.h"
#include "core/util.h"

/* "VFS1": PRAGMA application_id of every vaultfs store. */
#define STORE_APPLICATION_ID 0x56465331
#define STORE_BUSY_TIMEOUT_MS 5000
/* Caps of what a row may hold, from limits.h: tags as kv.h formats them ("k=v\n" lines), a
 * sealed value (nonce || ct || tag), and a meta value. */
#define STORE_CIPHERTEXT_MAX (VAULTFS_VALUE_MAX + CRYPTO_AEAD_OVERHEAD)
#define STORE_META_VALUE_MAX VAULTFS_SEALED_MAX
#define STORE_META_KEY_MAX VAULTFS_NAME_MAX

/* Migration i (1-based) brings the schema from version i - 1 to i; it is migrations[i - 1].
 * Each runs in one transaction together with the user_version bump. Never edit one that has
 * shipped: add a new one. */
static const char *const migrations[] = {
	/* 1: the first schema. STRICT tables reject a value of the wrong type; AUTOINCREMENT
	 * keeps ids from being reused after a purge. versions is a rowid table (its rows carry
	 * ciphertexts of up to 64 KiB, too large for WITHOUT ROWID), ciphertext is its last
	 * column so listing versions does not read it. */
	"CREATE TABLE meta ("
	"  key TEXT PRIMARY KEY NOT NULL,"
	"  value BLOB NOT NULL"
	") STRICT;"
	"CREATE TABLE vaults ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE,"
	"  wrapped_key BLOB NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  retention_days INTEGER NOT NULL,"
	"  purge_protection INTEGER NOT NULL,"
	"  mac BLOB NOT NULL"
	") STRICT;"
	"CREATE TABLE objects ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  vault_id INTEGER NOT NULL REFERENCES vaults(id),"
	"  name TEXT NOT NULL,"
	"  type INTEGER NOT NULL,"
	"  current_version INTEGER NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  deleted_at INTEGER NOT NULL,"
	"  mac BLOB NOT NULL,"
	"  UNIQUE (vault_id, name)"
	") STRICT;"
	"CREATE TABLE versions ("
	"  object_id INTEGER NOT NULL REFERENCES objects(id) ON DELETE CASCADE,"
	"  version INTEGER NOT NULL,"
	"  enabled INTEGER NOT NULL,"
	"  not_before INTEGER NOT NULL,"
	"  expires INTEGER NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  updated INTEGER NOT NULL,"
	"  content_type TEXT NOT NULL,"
	"  tags TEXT NOT NULL,"
	"  wrapped_dek BLOB NOT NULL,"
	"  mac BLOB NOT NULL,"
	"  ciphertext BLOB NOT NULL,"
	"  PRIMARY KEY (object_id, version)"
	") STRICT;"
	"PRAGMA application_id = 1447449393;", /* STORE_APPLICATION_ID */
	/* 2: expiry notices. A partial index holds only the versions that expire, ordered as the
	 * expiry scan walks them, so a scan where nothing is due reads no version row at all.
	 * expiry_notices records each notice given (per version, event and expiry date, so a
	 * changed date arms it again); a version's notices go with it. */
	"CREATE INDEX versions_expiry ON versions (expires, object_id, version) "
	"  WHERE expires > 0;"
	"CREATE TABLE expiry_notices ("
	"  object_id INTEGER NOT NULL,"
	"  version INTEGER NOT NULL,"
	"  event INTEGER NOT NULL,"
	"  expires INTEGER NOT NULL,"
	"  PRIMARY KEY (object_id, version, event),"
	"  FOREIGN KEY (object_id, version) REFERENCES versions (object_id, version)"
	"    ON DELETE CASCADE"
	") STRICT, WITHOUT ROWID;",
	/* 3: soft-deleted objects by deletion time, for the purge when retention has passed: a
	 * scan reads only deleted rows (the partial index), oldest first. */
	"CREATE INDEX objects_deleted ON objects (deleted_at, id) WHERE deleted_at != 0;",
};
#define STORE_SCHEMA_VERSION ((int)ELEMENTSOF(migrations))

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
	STMT_VERSION_MAX,
	STMT_VERSION_PAGE,
	STMT_VERSION_GET_META,
	STMT_EXPIRY_FOREACH,
	STMT_NOTICE_MARK,
	STMT_DATA_VERSION,
	_STMT_MAX,
};

/* Column lists shared by the statements that read a row, in the order the row readers take. */
#define VAULT_COLS "id, name, wrapped_key, created, retention_days, purge_protection, mac"
#define OBJECT_COLS "id, vault_id, name, type, current_version, created, deleted_at, mac"
#define VERSION_COLS                                                                               \
	"object_id, version, enabled, not_before, expires, created, updated, content_type, "      \
	"tags, wrapped_dek, mac"

/* Every statement the store runs. The *_PAGE, *_DELETED and *_EXPIRY statements are used by
 * nothing else, so their callbacks may call any other store function. Every lookup goes through
 * a PRIMARY KEY or UNIQUE index, the expiry scan through versions_expiry. A page is a range of
 * one of those indexes in its order, LIMIT -1 for no limit: the rows >= the cursor but the
 * cursor itself (`>= ?a AND IS NOT ?a`), or from the first every row (`>= '' AND IS NOT NULL`,
 * so that a row no cursor could pass, an empty name or a version 0, is read and refused). It
 * reads the rows it returns, the cursor's row at most besides, and no other. */
static const char *const stmt_sql[_STMT_MAX] = {
	[STMT_BEGIN] = "BEGIN IMMEDIATE",
	[STMT_BEGIN_READ] = "BEGIN DEFERRED",
	[STMT_COMMIT] = "COMMIT",
	[STMT_ROLLBACK] = "ROLLBACK",
	[STMT_SAVEPOINT] = "SAVEPOINT store_op",
	[STMT_RELEASE] = "RELEASE store_op",
	[STMT_ROLLBACK_TO] = "ROLLBACK TO store_op",
	[STMT_META_GET] = "SELECT value FROM meta WHERE key = ?1",
	[STMT_META_SET] = "INSERT INTO meta (key, value) VALUES (?1, ?2) "
			  "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
	[STMT_VAULT_INSERT] = "INSERT INTO vaults (name, wrapped_key, created, retention_days, "
			      "purge_protection, mac) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[STMT_VAULT_GET] = "SELECT " VAULT_COLS " FROM vaults WHERE name = ?1",
	[STMT_VAULT_GET_BY_ID] = "SELECT " VAULT_COLS " FROM vaults WHERE id = ?1",
	[STMT_VAULT_UPDATE] = "UPDATE vaults SET wrapped_key = ?2, created = ?3, "
			      "retention_days = ?4, purge_protection = ?5, mac = ?6 WHERE id = ?1",
	[STMT_VAULT_HAS_OBJECTS] = "SELECT 1 FROM objects WHERE vault_id = ?1 LIMIT 1",
	[STMT_VAULT_DELETE] = "DELETE FROM vaults WHERE id = ?1",
	[STMT_VAULT_PAGE] = "SELECT " VAULT_COLS " FROM vaults WHERE name >= ?1 "
			    "AND name IS NOT ?2 ORDER BY name LIMIT ?3",
	[STMT_OBJECT_INSERT] = "INSERT INTO objects (vault_id, name, type, current_version, "
			       "created, deleted_at, mac) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[STMT_OBJECT_GET] = "SELECT " OBJECT_COLS " FROM objects WHERE vault_id = ?1 AND name = ?2",
	[STMT_OBJECT_GET_BY_ID] = "SELECT " OBJECT_COLS " FROM objects WHERE id = ?1",
	[STMT_OBJECT_UPDATE] = "UPDATE objects SET current_version = ?2, deleted_at = ?3, "
			       "mac = ?4 WHERE id = ?1",
	[STMT_OBJECT_PURGE_VERSIONS] = "DELETE FROM versions WHERE object_id = ?1",
	[STMT_OBJECT_PURGE] = "DELETE FROM objects WHERE id = ?1",
	[STMT_OBJECT_PAGE] = "SELECT " OBJECT_COLS " FROM objects WHERE vault_id = ?1 "
			     "AND name >= ?2 AND name IS NOT ?3 ORDER BY name LIMIT ?4",
	[STMT_OBJECT_DELETED] = "SELECT " OBJECT_COLS " FROM objects WHERE deleted_at != 0 "
				"AND deleted_at + 86400 * (SELECT retention_days FROM vaults "
				"WHERE vaults.id = objects.vault_id) <= ?1 "
				"ORDER BY deleted_at, id LIMIT ?2",
	[STMT_VERSION_INSERT] = "INSERT INTO versions (" VERSION_COLS ", ciphertext) VALUES "
				"(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
	[STMT_VERSION_GET] = "SELECT " VERSION_COLS ", ciphertext FROM versions "
			     "WHERE object_id = ?1 AND version = ?2",
	[STMT_VERSION_UPDATE] = "UPDATE versions SET enabled = ?3, not_before = ?4, expires = ?5, "
				"updated = ?6, content_type = ?7, tags = ?8, mac = ?9 "
				"WHERE object_id = ?1 AND version = ?2",
	[STMT_VERSION_MAX] = "SELECT version FROM versions WHERE object_id = ?1 "
			     "ORDER BY version DESC LIMIT 1",
	/* length() of a blob comes from the record header: the ciphertext itself is not read. */
	[STMT_VERSION_PAGE] = "SELECT " VERSION_COLS ", length(ciphertext) FROM versions "
			      "WHERE object_id = ?1 AND version >= ?2 AND version IS NOT ?3 "
			      "ORDER BY version LIMIT ?4",
	[STMT_VERSION_GET_META] = "SELECT " VERSION_COLS ", length(ciphertext) FROM versions "
				  "WHERE object_id = ?1 AND version = ?2",
	/* Walks versions_expiry from the cursor (a range of the index, never the table): versions
	 * before objects (CROSS JOIN fixes that order), each object by its primary key, each
	 * notice by its primary key. ?1 now, ?2 until, ?3..?5 the cursor, ?6 the limit. */
	[STMT_EXPIRY_FOREACH] =
		"SELECT v.object_id, v.version, v.enabled, v.not_before, v.expires, v.created, "
		"v.updated, v.content_type, v.tags, v.wrapped_dek, v.mac, length(v.ciphertext) "
		"FROM versions AS v CROSS JOIN objects AS o ON o.id = v.object_id "
		"WHERE v.expires > 0 AND v.expires <= ?2 "
		"AND (v.expires, v.object_id, v.version) > (?3, ?4, ?5) "
		"AND o.deleted_at = 0 "
		"AND NOT EXISTS (SELECT 1 FROM expiry_notices AS n "
		"WHERE n.object_id = v.object_id AND n.version = v.version "
		"AND n.event >= (CASE WHEN v.expires <= ?1 THEN 2 ELSE 1 END) "
		"AND n.expires = v.expires) "
		"ORDER BY v.expires, v.object_id, v.version LIMIT ?6",
	[STMT_NOTICE_MARK] = "INSERT INTO expiry_notices (object_id, version, event, expires) "
			     "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (object_id, version, event) "
			     "DO UPDATE SET expires = excluded.expires",
	/* changes when another connection commits; in a read transaction, the snapshot's */
	[STMT_DATA_VERSION] = "PRAGMA data_version",
};

/* The WAL-index header: two copies, written second then first by a commit (walformat 2.1). */
#define WAL_HEADER_SIZE 48u
#define WAL_HEADER_ISINIT 12u /* its isInit byte */
/* The size of a wal-index region (walformat 2): the first holds both copies. */
#define SHM_REGION_SIZE 32768

struct store {
	sqlite3 *db;
	const volatile uint8_t *shm; /* the connection's wal-index region 0 (map_shm), or NULL */
	sqlite3_file *shm_file;      /* its file: xShmBarrier between the header's two copies */
	sqlite3_stmt *stmt[_STMT_MAX];
	int schema_version;
	uint64_t writes; /* write transactions begun on this handle (store_generation) */
};

/* The one place where SQLite's result codes become -errno. */
static int errno_from_sqlite(sqlite3 *db, int rc)
{
	int e;

	switch (rc) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY:
		return -EEXIST;
	case SQLITE_CONSTRAINT_FOREIGNKEY: /* the parent row is missing */
		return -ENOENT;
	case SQLITE_CANTOPEN_SYMLINK:
		return -ELOOP;
	case SQLITE_IOERR_NOMEM:
		return -ENOMEM;
	}
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EBADMSG;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_CANTOPEN:
		e = db ? sqlite3_system_errno(db) : 0;
		return e == EACCES || e == EPERM ? -EACCES : -ENOENT;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_TOOBIG:
		return -EMSGSIZE;
	default:
		return -EIO;
	}
}

/* Cleanup for a borrowed statement: reset it and drop its bindings (and with them any pointer
 * to the caller's bytes). */
static void stmt_resetp(sqlite3_stmt **st)
{
	if (*st) {
		sqlite3_reset(*st);
		sqlite3_clear_bindings(*st);
	}
}
#define _cleanup_stmt_ _cleanup_(stmt_resetp)

/* Run a statement that returns no rows (or whose rows do not matter) to completion. */
static int stmt_run(struct store *s, enum stmt_id id)
{
	_cleanup_stmt_ sqlite3_stmt *st = s->stmt[id];
	int rc;

	do
		rc = sqlite3_step(st);
	while (rc == SQLITE_ROW);
	return rc == SQLITE_DONE ? 0 : errno_from_sqlite(s->db, rc);
}

/* Step a statement that changes rows; -ENOENT when it changed none. */
static int stmt_change(struct store *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE)
		return errno_from_sqlite(s->db, rc);
	return sqlite3_changes(s->db) > 0 ? 0 : -ENOENT;
}

/* Bind n bytes; a zero-length value is an empty BLOB, never NULL. The bytes must stay valid
 * until the statement is reset. */
static int bind_bytes(sqlite3_stmt *st, int i, const void *p, size_t n)
{
	if (n == 0)
		return sqlite3_bind_zeroblob(st, i, 0);
	if (n > INT_MAX)
		return SQLITE_TOOBIG;
	return sqlite3_bind_blob(st, i, p, (int)n, SQLITE_STATIC);
}

static int bind_str(sqlite3_stmt *st, int i, const char *str)
{
	return sqlite3_bind_text(st, i, str, (int)strlen(str), SQLITE_STATIC);
}

/* Column readers: the value must have exactly the expected type and size, else -EBADMSG. */
static int col_int(sqlite3_stmt *st, int i, int64_t min, int64_t max, int64_t *ret)
{
	int64_t v;

	if (sqlite3_column_type(st, i) != SQLITE_INTEGER)
		return -EBADMSG;
	v = sqlite3_column_int64(st, i);
	if (v < min || v > max)
		return -EBADMSG;
	*ret = v;
	return 0;
}

static int col_u32(sqlite3_stmt *st, int i, uint32_t *ret)
{
	int64_t v;
	int r = col_int(st, i, 0, UINT32_MAX, &v);

	if (r < 0)
		return r;
	*ret = (uint32_t)v;
	return 0;
}

static int col_bool(sqlite3_stmt *st, int i, bool *ret)
{
	int64_t v;
	int r = col_int(st, i, 0, 1, &v);

	if (r < 0)
		return r;
	*ret = v == 1;
	return 0;
}

static int col_blob_exact(sqlite3_stmt *st, int i, void *out, size_t len)
{
	const void *p;

	if (sqlite3_column_type(st, i) != SQLITE_BLOB)
		return -EBADMSG;
	p = sqlite3_column_blob(st, i);
	if ((size_t)sqlite3_column_bytes(st, i) != len || !p)
		return -EBADMSG;
	memcpy(out, p, len);
	return 0;
}

/* Text of min..max bytes without a NUL inside, copied NUL-terminated into out[max + 1]. */
static int col_text(sqlite3_stmt *st, int i, size_t min, size_t max, char *out)
{
	const unsigned char *p;
	size_t n;

	if (sqlite3_column_type(st, i) != SQLITE_TEXT)
		return -EBADMSG;
	p = sqlite3_column_text(st, i);
	if (!p)
		return -ENOMEM;
	n = (size_t)sqlite3_column_bytes(st, i);
	if (n < min || n > max || memchr(p, '\0', n))
		return -EBADMSG;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

/* The length of a NUL-terminated name in a fixed array: -EINVAL when empty, unterminated or
 * longer than max. */
static int check_str(const char *str, size_t size, size_t min, size_t max)
{
	size_t n;

	if (!str)
		return -EINVAL;
	n = strnlen(str, size);
	if (n >= size || n < min || n > max)
		return -EINVAL;
	return 0;
}

static int check_name(const char *name)
{
	return check_str(name, VAULTFS_NAME_MAX + 1, 1, VAULTFS_NAME_MAX);
}

/* Runs multi-statement writes atomically: in a transaction of their own when the caller has
 * none open, else inside a savepoint of the caller's transaction. */
static int op_begin(struct store *s, bool *ret_own)
{
	bool own = sqlite3_get_autocommit(s->db);
	int r;

	if (own && sqlite3_db_readonly(s->db, "main") > 0)
		return -EROFS; /* BEGIN IMMEDIATE would succeed on a read-only handle */

	s->writes++;
	r = stmt_run(s, own ? STMT_BEGIN : STMT_SAVEPOINT);
	if (r < 0)
		return r;
	*ret_own = own;
	return 0;
}

static int op_end(struct store *s, bool own, int r)
{
	if (r >= 0) {
		r = stmt_run(s, own ? STMT_COMMIT : STMT_RELEASE);
		if (r >= 0)
			return 0;
	}
	if (own) {
		if (!sqlite3_get_autocommit(s->db))
			(void)stmt_run(s, STMT_ROLLBACK);
	} else if (!sqlite3_get_autocommit(s->db)) {
		/* On a hard error SQLite may have rolled the whole transaction back already,
		 * savepoint included; then these fail and there is nothing left to undo. */
		(void)stmt_run(s, STMT_ROLLBACK_TO);
		(void)stmt_run(s, STMT_RELEASE);
	}
	return r;
}

void store_version_done(struct store_version *v)
{
	if (!v)
		return;
	if (v->ciphertext) {
		secure_wipe(v->ciphertext, v->ciphertext_len);
		free(v->ciphertext);
	}
	free(v->tags);
	secure_wipe(v, sizeof(*v));
}

static int exec(sqlite3 *db, const char *sql)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : errno_from_sqlite(db, rc);
}

/* The single integer a pragma query returns. */
static int pragma_int(sqlite3 *db, const char *sql, int64_t *ret)
{
	sqlite3_stmt *st = NULL;
	int rc, r = 0;

	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return errno_from_sqlite(db, rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*ret = sqlite3_column_int64(st, 0);
	else
		r = rc == SQLITE_DONE ? -EIO : errno_from_sqlite(db, rc);
	sqlite3_finalize(st);
	return r;
}

static int set_wal(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *mode;
	int rc, r = -EIO;

	rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return errno_from_sqlite(db, rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		mode = sqlite3_column_text(st, 0);
		if (mode && streq((const char *)mode, "wal"))
			r = 0;
	} else
		r = errno_from_sqlite(db, rc);
	sqlite3_finalize(st);
	return r;
}

/* Hardening that holds for the whole life of the handle, before it reads anything. */
static int configure(sqlite3 *db)
{
	static const struct {
		int op, value;
	} cfg[] = {
		{ SQLITE_DBCONFIG_DEFENSIVE, 1 },
		{ SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0 },
		{ SQLITE_DBCONFIG_ENABLE_TRIGGER, 0 },
		{ SQLITE_DBCONFIG_ENABLE_VIEW, 0 },
		{ SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0 },
		{ SQLITE_DBCONFIG_DQS_DML, 0 },
		{ SQLITE_DBCONFIG_DQS_DDL, 0 },
		{ SQLITE_DBCONFIG_ENABLE_FKEY, 1 },
	};
	int rc;

	for (size_t i = 0; i < ELEMENTSOF(cfg); i++) {
		int now = -1;

		rc = sqlite3_db_config(db, cfg[i].op, cfg[i].value, &now);
		if (rc != SQLITE_OK)
			return errno_from_sqlite(db, rc);
		if (now != cfg[i].value)
			return -EIO;
	}
	rc = sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
	if (rc != SQLITE_OK)
		return errno_from_sqlite(db, rc);
	return 0;
}

/* Is this a vaultfs store? Reading the header and the schema of a file that is not a database
 * fails here with -EBADMSG. Sets *ret_empty for a database with nothing in it yet: a file of
 * zero bytes, or a header page with no schema, no application_id and no user_version. */
static int recognise(sqlite3 *db, off_t size, bool *ret_empty, int64_t *ret_version)
{
	int64_t app_id, version, n_schema, pages;
	int r;

	/* SQLite takes a file shorter than one page for an empty database: it is not. */
	r = pragma_int(db, "PRAGMA page_count", &pages);
	if (r < 0)
		return r;
	if (pages == 0 && size != 0)
		return -EBADMSG;
	r = pragma_int(db, "PRAGMA application_id", &app_id);
	if (r < 0)
		return r;
	r = pragma_int(db, "SELECT count(*) FROM sqlite_schema", &n_schema);
	if (r < 0)
		return r;
	r = pragma_int(db, "PRAGMA user_version", &version);
	if (r < 0)
		return r;
	if (app_id == 0 && n_schema == 0 && version == 0) {
		*ret_empty = true;
		*ret_version = 0;
		return 0;
	}
	if (app_id != STORE_APPLICATION_ID || version < 1)
		return -EBADMSG;
	if (version > STORE_SCHEMA_VERSION)
		return -EPROTONOSUPPORT;
	*ret_empty = false;
	*ret_version = version;
	return 0;
}

/* Apply each migration past version (as read before) in a transaction of its own. The version
 * is read again under the write lock, so two processes opening the same new store do not both
 * migrate it; a store already current takes no lock. */
static int migrate(sqlite3 *db, int64_t version_seen)
{
	for (int i = (int)version_seen + 1; i <= STORE_SCHEMA_VERSION; i++) {
		char bump[64];
		int64_t version;
		int r;

		r = exec(db, "BEGIN IMMEDIATE");
		if (r < 0)
			return r;
		r = pragma_int(db, "PRAGMA user_version", &version);
		if (r >= 0 && version > STORE_SCHEMA_VERSION)
			r = -EPROTONOSUPPORT;
		if (r >= 0 && version < i) {
			int rc = sqlite3_exec(db, migrations[i - 1], NULL, NULL, NULL);

			/* A plain SQL error is a table or column the migration expects and does
			 * not find: this is not our schema at version i - 1. */
			if (rc != SQLITE_OK)
				r = rc == SQLITE_ERROR ? -EBADMSG : errno_from_sqlite(db, rc);
			/* i is our own constant, never input. */
			(void)snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", i);
			if (r >= 0)
				r = exec(db, bump);
		}
		if (r >= 0)
			r = exec(db, "COMMIT");
		if (r < 0) {
			if (!sqlite3_get_autocommit(db))
				(void)exec(db, "ROLLBACK");
			return r;
		}
	}
	return 0;
}

/* Make the file ourselves so that it is 0600 from its first moment (SQLite would use the
 * umask). An existing file is left alone. */
static int create_file(const char *path)
{
	_cleanup_close_ int fd = -1;

	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == EEXIST ? 0 : negative_errno();
	if (fchmod(fd, 0600) < 0)
		return negative_errno();
	return 0;
}

/* Look at the file before SQLite does: it must be a regular file, not a symlink (SQLite
 * opens it with SQLITE_OPEN_NOFOLLOW too). lstat, never open(): closing any descriptor of the
 * database file drops every POSIX lock this process holds on it, including those of another
 * store handle of ours (the audit writer has one), and another process could then checkpoint
 * and remove the WAL under that handle's feet and corrupt the store. Gives its size. */
static int probe_file(const char *path, off_t *ret_size)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return negative_errno();
	if (S_ISLNK(st.st_mode))
		return -ELOOP;
	if (!S_ISREG(st.st_mode))
		return -EBADMSG;
	/* Whoever can read the file can try the sealed key against the TPM: it must be ours
	 * alone, as the host key file must be. */
	if (st.st_uid != geteuid() || (st.st_mode & 077))
		return -EPERM;
	*ret_size = st.st_size;
	return 0;
}

static int prepare_all(struct store *s)
{
	for (size_t i = 0; i < _STMT_MAX; i++) {
		int rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
					    &s->stmt[i], NULL);
		if (rc != SQLITE_OK) {
			int r = errno_from_sqlite(s->db, rc);

			/* A plain SQL error here is a missing table or column: not our schema. */
			return r == -EIO ? -EBADMSG : r;
		}
	}
	return 0;
}

/* The connection's own mapping of the wal-index's first region (store_mark), through the VFS
 * method SQLite itself uses (xShmMap, without extending): no descriptor of ours on the -shm
 * file, whose close would drop the process's POSIX locks on it, SQLite's included. Valid
 * while the connection is open in WAL mode. Best effort: without it every read takes its
 * transaction. */
static void map_shm(struct store *s)
{
	sqlite3_file *f = NULL;
	volatile void *p = NULL;

	if (sqlite3_file_control(s->db, "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK ||
	    !f || !f->pMethods || f->pMethods->iVersion < 2 || !f->pMethods->xShmMap)
		return;
	if (!f->pMethods->xShmBarrier ||
	    f->pMethods->xShmMap(f, 0, SHM_REGION_SIZE, 0, &p) != SQLITE_OK || !p)
		return;
	s->shm = (const volatile uint8_t *)p;
	s->shm_file = f;
}

int store_open(const char *path, int flags, struct store **ret)
{
	struct store *s = NULL;
	int64_t version;
	off_t size;
	bool readonly = flags & STORE_READONLY, empty;
	int oflags, rc, r;

	assert(ret);
	if (!path || !*path || strlen(path) > VAULTFS_PATH_MAX)
		return -EINVAL;
	if ((flags & ~(STORE_CREATE | STORE_READONLY)) ||
	    (flags & (STORE_CREATE | STORE_READONLY)) == (STORE_CREATE | STORE_READONLY))
		return -EINVAL;

	if (flags & STORE_CREATE) {
		r = create_file(path);
		if (r < 0)
			return r;
	}
	r = probe_file(path, &size);
	if (r < 0)
		return r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;

	/* Never SQLITE_OPEN_CREATE: the file exists by now or the store is missing. */
	oflags = (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) | SQLITE_OPEN_NOFOLLOW |
		 SQLITE_OPEN_EXRESCODE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE;
	rc = sqlite3_open_v2(path, &s->db, oflags, NULL);
	if (rc != SQLITE_OK) {
		r = errno_from_sqlite(s->db, rc);
		goto fail;
	}

	r = configure(s->db);
	if (r < 0)
		goto fail;
	r = recognise(s->db, size, &empty, &version);
	if (r < 0)
		goto fail;
	if (empty && !(flags & STORE_CREATE)) {
		r = -ENOENT; /* a file with no store in it yet */
		goto fail;
	}
	if (version < STORE_SCHEMA_VERSION && readonly) {
		r = -EROFS; /* needs a migration we may not write */
		goto fail;
	}

	if (!readonly) {
		r = set_wal(s->db);
		if (r < 0)
			goto fail;
	}
	/* no mmap of the file: vaultfsd runs mlockall(MCL_ONFAULT), so every page of a mapping it
	 * ever touched would stay locked and resident (a listing of a million secrets: 350 MB);
	 * reads go through SQLite's own bounded page cache instead */
	r = exec(s->db, "PRAGMA synchronous = FULL;"
			"PRAGMA secure_delete = ON;"
			"PRAGMA foreign_keys = ON;"
			"PRAGMA trusted_schema = OFF;"
			"PRAGMA mmap_size = 0;");
	if (r < 0)
		goto fail;

	if (!readonly) {
		r = migrate(s->db, version);
		if (r < 0)
			goto fail;
	}
	r = pragma_int(s->db, "PRAGMA user_version", &version);
	if (r < 0)
		goto fail;
	if (version != STORE_SCHEMA_VERSION) {
		r = version > STORE_SCHEMA_VERSION ? -EPROTONOSUPPORT : -EBADMSG;
		goto fail;
	}
	s->schema_version = (int)version;

	r = prepare_all(s);
	if (r < 0)
		goto fail;
	if (!readonly)
		map_shm(s);

	*ret = s;
	return 0;
fail:
	store_free(s);
	return r;
}

void store_free(struct store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < _STMT_MAX; i++)
		sqlite3_finalize(s->stmt[i]);
	/* Rolls back an open transaction; with every statement finalized it cannot be busy. */
	sqlite3_close(s->db);
	free(s);
}

int store_schema_version(struct store *s)
{
	assert(s);
	return s->schema_version;
}

int store_begin(struct store *s)
{
	assert(s);
	if (!sqlite3_get_autocommit(s->db))
		return -EBUSY;
	if (sqlite3_db_readonly(s->db, "main") > 0)
		return -EROFS; /* SQLite would grant BEGIN IMMEDIATE and refuse only the writes */
	s->writes++;
	return stmt_run(s, STMT_BEGIN);
}

int store_begin_read(struct store *s)
{
	assert(s);
	if (!sqlite3_get_autocommit(s->db))
		return -EBUSY;
	return stmt_run(s, STMT_BEGIN_READ);
}

/* On failure the transaction is rolled back: the handle never stays in a half-open state. */
int store_commit(struct store *s)
{
	int r;

	assert(s);
	if (sqlite3_get_autocommit(s->db))
		return -EINVAL;
	r = stmt_run(s, STMT_COMMIT);
	if (r < 0)
		store_rollback(s);
	return r;
}

int store_generation(struct store *s, struct store_generation *ret)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int64_t v;
	int rc, r;

	assert(s);
	st = s->stmt[STMT_DATA_VERSION];
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return errno_from_sqlite(s->db, rc);
	r = col_int(st, 0, INT64_MIN, INT64_MAX, &v);
	if (r < 0)
		return r;
	/* rows changed through this handle (in any transaction, rolled back ones too: a change
	 * counted for nothing only costs a cache), and every write transaction begun */
	*ret = (struct store_generation){
		.data_version = v,
		.local = (uint64_t)sqlite3_total_changes64(s->db) + s->writes,
	};
	return 0;
}

int store_mark(struct store *s, struct store_mark *ret)
{
	uint8_t first[WAL_HEADER_SIZE], second[WAL_HEADER_SIZE];

	assert(s);
	if (!s->shm)
		return -EOPNOTSUPP;
	/* as SQLite reads it: the first copy, a barrier, the second; equal copies are a header
	 * no commit is writing (it writes the second copy, a barrier, then the first) */
	memcpy(first, (const void *)s->shm, WAL_HEADER_SIZE);
	s->shm_file->pMethods->xShmBarrier(s->shm_file); /* SQLite's own barrier for it */
	memcpy(second, (const void *)(s->shm + WAL_HEADER_SIZE), WAL_HEADER_SIZE);
	if (memcmp(first, second, WAL_HEADER_SIZE) != 0 || !first[WAL_HEADER_ISINIT])
		return -EAGAIN;
	memcpy(ret->header, first, WAL_HEADER_SIZE);
	ret->local = (uint64_t)sqlite3_total_changes64(s->db) + s->writes;
	return 0;
}

bool store_unchanged(struct store *s, const struct store_mark *m)
{
	struct store_mark now;

	return store_mark(s, &now) >= 0 && now.local == m->local &&
	       memcmp(now.header, m->header, WAL_HEADER_SIZE) == 0;
}

void store_rollback(struct store *s)
{
	assert(s);
	if (!sqlite3_get_autocommit(s->db))
		(void)stmt_run(s, STMT_ROLLBACK);
}

static int check_meta_key(const char *key)
{
	if (!key || !*key || strnlen(key, STORE_META_KEY_MAX + 1) > STORE_META_KEY_MAX)
		return -EINVAL;
	return 0;
}

int store_meta_get(struct store *s, const char *key, uint8_t **ret, size_t *ret_len)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	uint8_t *buf;
	const void *p;
	size_t n;
	int rc, r;

	assert(s && ret && ret_len);
	r = check_meta_key(key);
	if (r < 0)
		return r;

	st = s->stmt[STMT_META_GET];
	rc = bind_str(st, 1, key);
	if (rc != SQLITE_OK)
		return errno_from_sqlite(s->db, rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return errno_from_sqlite(s->db, rc);
	if (sqlite3_column_type(st, 0) != SQLITE_BLOB)
		return -EBADMSG;
	p = sqlite3_column_blob(st, 0);
	n = (size_t)sqlite3_column_bytes(st, 0);
	if (n > STORE_META_VALUE_MAX || (n > 0 && !p))
		return -EBADMSG;
	buf = malloc(n > 0 ? n : 1);
	if (!buf)
		return -ENOMEM;
	if (n > 0)
		memcpy(buf, p, n);
	*ret = buf;
	*ret_len = n;
	return 0;
}

int store_meta_set(struct store *s, const char *key, const void *value, size_t len)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc, r;

	assert(s);
	r = check_meta_key(key);
	if (r < 0)
		return r;
	if (len > 0 && !value)
		return -EINVAL;
	if (len > STORE_META_VALUE_MAX)
		return -EMSGSIZE;

	st = s->stmt[STMT_META_SET];
	rc = bind_str(st, 1, key);
	if (rc == SQLITE_OK)
		rc = bind_bytes(st, 2, value, len);
	if (rc != SQLITE_OK)
		return errno_from_sqlite(s->db, rc);
	rc = sqlite3_step(st);
	return rc == SQLITE_DONE ? 0 : errno_from_sqlite(s->db, rc);
}

/* Vaults */

static int read_vault(sqlite3_stmt *st, struct store_vault *ret)
{
	struct store_vault v = {};
	int64_t retention;
	int r;

	if ((r = col_int(st, 0, 1, INT64_MAX, &v.id)) < 0 ||
	    (r = col_text(st, 1, 1, VAULTFS_NAME_MAX, v.name)) < 0 ||
	    (r = col_blob_exact(st, 2, v.wrapped_key, sizeof(v.wrapped_key))) < 0 ||
	    (r = col_int(st, 3, INT64_MIN, INT64_MAX, &v.created)) < 0 ||
	    (r = col_int(st, 4, 0, UINT32_MAX, &retention)) < 0 ||
	    (r = col_bool(st, 5, &v.purge_protection)) < 0 ||
	    (r = col_blob_exact(st, 6, v.mac, sizeof(v.mac))) < 0)
		return r;
	v.retention_days = (uint32_t)retention;
	*ret = v;
	return 0;
}

/* Step a lookup that yields at most one vault row. */
static int vault_lookup(struct store *s, sqlite3_stmt *st, struct store_vault *ret)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return errno_from_sqlite(s->db, rc);
	return read_vault(st, ret);
}

/* Binds ?2..?6, the fields insert and update both write. */
static int bind_vault_fields(sqlite3_stmt *st, const struct store_vault *v)
{
	int rc = bind_bytes(st, 2, v->wrapped_key, sizeof(v->wrapped_key));

	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 3, v->created);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 4, v->retention_days);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 5, v->purge_protection ? 1 : 0);
	if (rc == SQLITE_OK)
		rc = bind_bytes(st, 6, v->mac, sizeof(v->mac));
	return rc;
}

int store_vault_insert(struct store *s, struct store_vault *v)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc, r;

	assert(s && v);
	r = check_name(v->name);
	if (r < 0)
		return r;

	st = s->stmt[STMT_VAULT_INSERT];
	rc = bind_str(st, 1, v->name);
	if (rc == SQLITE_OK)
		rc = bind_vault_fields(st, v);
	if (rc != SQLITE_OK)
		return errno_from_sqlite(s->db, rc);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return errno_from_sqlite(s->db, rc);
	v->id = sqlite3_last_insert_rowid(s->db);
	return 0;
}

int store_vault_get(struct store *s, const char *name, struct store_vault *ret)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc, r;

	assert(s && ret);
	r = check_name(name);
	if (r < 0)
		return r;

	st = s->stmt[STMT_VAULT_GET];
	rc = bind_str(st, 1, name);
	if (rc != SQLITE_OK)
		return errno_from_sqlite(s->db, rc);
	return vault_lookup(s, st, ret);
}

int store_vault_get_by_id(struct store *s, int64_t id, struct store_vault *ret)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc;

	assert(s && ret);
	st = s->stmt[STMT_VAULT_GET_BY_ID];
	rc = sqlite3_bind_int64(st, 1, id);
	if (rc != SQLITE_OK)
		return errno_from_sqlite(s->db, rc);
	return vault_lookup(s, st, ret);
}

int store_vault_update(struct store *s, const struct store_vault *v)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc;

	assert(s && v);
	st = s->stmt[STMT_VAULT_UPDATE];
	rc = sqlite3_bind_int64(st, 1, v->id);
	if (rc == SQLITE_OK)
		rc = bind_vault_fields(st, v);
	if (rc != SQLITE_OK)
		return errno_from_sqlite(s->db, rc);
	return stmt_change(s, st);
}

static int vault_delete_locked(struct store *s, int64_t id)
{
	int rc;

	{
		_cleanup_stmt_ sqlite3_stmt *st = s->stmt[STMT_VAULT_HAS_OBJECTS];

		rc = sqlite3_bind_int64(st, 1, id);
		if (rc != SQLITE_OK)
			return errno_from_sqlite(s->db, rc);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			return -ENOTEMPTY;
		if (rc != SQLITE_DONE)
			return errno_from_sqlite(s->db, rc);
	}

	_cleanup_stmt_ sqlite3_stmt *st = s->stmt[STMT_VAULT_DELETE];

	rc = sqlite3_bind_int64(st, 1, id);
	if (rc != SQLITE_OK)
		return errno_from_sqlite(s->db, rc);
	return stmt_change(s, st);
}

int store_vault_delete(struct store *s, int64_t id)
{
	bool own;
	int r;

	assert(s);
	r = op_begin(s, &own);
	if (r < 0)
		return r;
	return op_end(s, own, vault_delete_locked(s, id));
}

/* The cursor of a page: NULL or a name of up to VAULTFS_NAME_MAX bytes ("": from the first). */
static int check_after(const char *after)
{
	if (after && check_str(after, VAULTFS_NAME_MAX + 1, 0, VAULTFS_NAME_MAX) < 0)
		return -EINVAL;
	return 0;
}

/* A name cursor (passed by check_after) and a limit, bound at ?i .. ?i + 2 (see stmt_sql).
 * limit -1: none. */
static int bind_page(sqlite3_stmt *st, int i, const char *after, int64_t limit)
{
	int rc;

	if (!after || !*after) {
		rc = bind_str(st, i, "");
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_null(st, i + 1);
	} else {
		rc = bind_str(st, i, after);
		if (rc == SQLITE_OK)
			rc = bind_str(st, i + 1, after);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, i + 2, limit);
	return rc;
}

/* The limit of a public page: 1..INT_MAX, so that the count of rows fits the int returned. */
static int check_limit(unsigned limit)
{
	return limit == 0 || limit > INT_MAX ? -EINVAL : 0;
}

/* Vaults after `after` in name order, at most limit (-1: all); the count in *ret_n. */
static int vault_page(struct store *s, const char *after, int64_t limit,
		      int (*cb)(const struct store_vault *v, void *userdata), void *userdata,
		      size_t *ret_n)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	size_t n = 0;
	int rc, r;

	assert(s && cb);
	r = check_after(after);
	if (r < 0)
		return r;
	/* Called again from its own callback: the statement is in use. */
	if (sqlite3_stmt_busy(s->stmt[STMT_VAULT_PAGE]))
		return -EBUSY;
	st = s->stmt[STMT_VAULT_PAGE];
	rc = bind_page(st, 1, after, limit);
	if (rc != SQLITE_OK)
		return errno_from_sqlite(s->db, rc);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_vault v;

		r = read_vault(st, &v);
		if (r < 0)
			return r;
		n++;
		r = cb(&v, userdata);
		if (r < 0)
			return r;
	}
	if (rc != SQLITE_DONE)
		return errno_from_sqlite(s->db, rc);
	*ret_n = n;
	return 0;
}

int store_vault_foreach(struct store *s, int (*cb)(const struct store_vault *v, void *userdata),
			void *userdata)
{
	size_t n;

	return vault_page(s, NULL, -1, cb, userdata, &n);
}

int store_vault_page(struct store *s, const char *after, unsigned limit,
		     int (*cb)(const struct store_vault *v, void *userdata), void *userdata)
{
	size_t n;
	int r;

	r = check_limit(limit);
	if (r >= 0)
		r = vault_page(s, after, limit, cb, userdata, &n);
	return r < 0 ? r : (int)n;
}

/* Objects */

static int read_object(sqlite3_stmt *st, struct store_object *ret)
{
	struct store_object o = {};
	int64_t type;
	int r;

	if ((r = col_int(st, 0, 1, INT64_MAX, &o.id)) < 0 ||
	    (r = col_int(st, 1, 1, INT64_MAX, &o.vault_id)) < 0 ||
	    (r = col_text(st, 2, 1, VAULTFS_NAME_MAX, o.name)) < 0 ||
	    (r = col_int(st, 3, OBJECT_SECRET, OBJECT_CERT, &type)) < 0 ||
	    (r = col_u32(st, 4, &o.current_version)) < 0 ||
	    (r = col_int(st, 5, INT64_MIN, INT64_MAX, &o.created)) < 0 ||
	    (r = col_int(st, 6, INT64_MIN, INT64_MAX, &o.deleted_at)) < 0 ||
	    (r = col_blob_exact(st, 7, o.mac, sizeof(o.mac))) < 0)
		return r;
	o.type = (int)type;
	*ret = o;
	return 0;
}

int store_object_insert(struct store *s, struct store_object *o)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc, r;

	assert(s && o);
	r = check_name(o->name);
	if (r < 0)
		return r;
	if (o->type < OBJECT_SECRET || o->type > OBJECT_CERT)
		return -EINVAL;

	st = s->stmt[STMT_OBJECT_INSERT];
	rc = sqlite3_bind_int64(st, 1, o->vault_id);
	if (rc == SQLITE_OK)
		rc = bind_str(st, 2, o->name);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 3, o->type);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 4, o->current_version);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 5, o->created);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 6, o->deleted_at);
	if (rc == SQLITE_OK)
		rc = bind_bytes(st, 7, o->mac, sizeof(o->mac));
	if (rc != SQLITE_OK)
		return errno_from_sqlite(s->db, rc);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return errno_from_sqlite(s->db, rc);
	o->id = sqlite3_last_insert_rowid(s->db);
	return 0;
}

/* Step a bound object query: its one row, or -ENOENT. */
static int object_lookup(struct store *s, sqlite3_stmt *st, struct store_object *ret)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return errno_from_sqlite(s->db, rc);
	return read_object(st, ret);
}

int store_object_get(struct store *s, int64_t vault_id, const char *name,
		     struct store_object *ret)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc, r;

	assert(s && ret);
	r = check_name(name);
	if (r < 0)
		return r;

	st = s->stmt[STMT_OBJECT_GET];
	rc = sqlite3_bind_int64(st, 1, vault_id);
	if (rc == SQLITE_OK)
		rc = bind_str(st, 2, name);
	if (rc != SQLITE_OK)
		return errno_from_sqlite(s->db, rc);
	return object_lookup(s, st, ret);
}

int store_object_get_by_id(struct store *s, int64_t id, struct store_object *ret)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc;

	assert(s && ret);
	st = s->stmt[STMT_OBJECT_GET_BY_ID];
	rc = sqlite3_bind_int64(st, 1, id);
	if (rc != SQLITE_OK)
		return errno_from_sqlite(s->db, rc);
	return object_lookup(s, st, ret);
}

int store_object_update(struct store *s, const struct store_object *o)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc;

	assert(s && o);
	st = s->stmt[STMT_OBJECT_UPDATE];
	rc = sqlite3_bind_int64(st, 1, o->id);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, o->current_version);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 3, o->deleted_at);
	if (rc == SQLITE_OK)
		rc = bind_bytes(st, 4, o->mac, sizeof(o->mac));
	if (rc != SQLITE_OK)
		return errno_from_sqlite(s->db, rc);
	return stmt_change(s, st);
}

static int object_purge_locked(struct store *s, int64_t id)
{
	int rc;

	{
		_cleanup_stmt_ sqlite3_stmt *st = s->stmt[STMT_OBJECT_PURGE_VERSIONS];

		rc = sqlite3_bind_int64(st, 1, id);
		if (rc != SQLITE_OK)
			return errno_from_sqlite(s->db, rc);
		rc = sqlite3_step(st);
		if (rc != SQLITE_DONE)
			return errno_from_sqlite(s->db, rc);
	}

	_cleanup_stmt_ sqlite3_stmt *st = s->stmt[STMT_OBJECT_PURGE];

	rc = sqlite3_bind_int64(st, 1, id);
	if (rc != SQLITE_OK)
		return errno_from_sqlite(s->db, rc);
	return stmt_change(s, st);
}

int store_object_purge(struct store *s, int64_t id)
{
	bool own;
	int r;

	assert(s);
	r = op_begin(s, &own);
	if (r < 0)
		return r;
	return op_end(s, own, object_purge_locked(s, id));
}

/* Step st over object rows (the columns of read_object), calling cb for each; the count of
 * rows in *ret_n. */
static int step_objects(struct store *s, sqlite3_stmt *st,
			int (*cb)(const struct store_object *o, void *userdata), void *userdata,
			size_t *ret_n)
{
	size_t n = 0;
	int rc, r;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_object o;

		r = read_object(st, &o);
		if (r < 0)
			return r;
		n++;
		r = cb(&o, userdata);
		if (r < 0)
			return r;
	}
	if (rc != SQLITE_DONE)
		return errno_from_sqlite(s->db, rc);
	*ret_n = n;
	return 0;
}

/* Objects of the vault after `after` in name order, at most limit (-1: all). */
static int object_page(struct store *s, int64_t vault_id, const char *after, int64_t limit,
		       int (*cb)(const struct store_object *o, void *userdata), void *userdata,
		       size_t *ret_n)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc, r;

	assert(s && cb);
	r = check_after(after);
	if (r < 0)
		return r;
	if (sqlite3_stmt_busy(s->stmt[STMT_OBJECT_PAGE]))
		return -EBUSY;
	st = s->stmt[STMT_OBJECT_PAGE];
	rc = sqlite3_bind_int64(st, 1, vault_id);
	if (rc == SQLITE_OK)
		rc = bind_page(st, 2, after, limit);
	if (rc != SQLITE_OK)
		return errno_from_sqlite(s->db, rc);
	return step_objects(s, st, cb, userdata, ret_n);
}

int store_object_foreach(struct store *s, int64_t vault_id,
			 int (*cb)(const struct store_object *o, void *userdata), void *userdata)
{
	size_t n;

	return object_page(s, vault_id, NULL, -1, cb, userdata, &n);
}

int store_object_page(struct store *s, int64_t vault_id, const char *after, unsigned limit,
		      int (*cb)(const struct store_object *o, void *userdata), void *userdata)
{
	size_t n;
	int r;

	r = check_limit(limit);
	if (r >= 0)
		r = object_page(s, vault_id, after, limit, cb, userdata, &n);
	return r < 0 ? r : (int)n;
}

int store_object_deleted_foreach(struct store *s, int64_t now, unsigned limit,
				 int (*cb)(const struct store_object *o, void *userdata),
				 void *userdata)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	size_t n;
	int rc;

	assert(s && cb);
	if (sqlite3_stmt_busy(s->stmt[STMT_OBJECT_DELETED]))
		return -EBUSY;
	st = s->stmt[STMT_OBJECT_DELETED];
	rc = sqlite3_bind_int64(st, 1, now);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, limit);
	if (rc != SQLITE_OK)
		return errno_from_sqlite(s->db, rc);
	return step_objects(s, st, cb, userdata, &n);
}

/* Versions */

static int check_version_attrs(const struct store_version *v)
{
	if (v->version < 1)
		return -EINVAL;
	if (check_str(v->content_type, sizeof(v->content_type), 0, VAULTFS_CONTENT_TYPE_MAX) < 0)
		return -EINVAL;
	if (v->tags && strnlen(v->tags, VAULTFS_TAGS_LEN_MAX + 1) > VAULTFS_TAGS_LEN_MAX)
		return -EMSGSIZE;
	return 0;
}

/* Binds ?1..?9 in update order: the key and every attribute update_attrs may rewrite. */
static int bind_version_attrs(sqlite3_stmt *st, const struct store_version *v)
{
	int rc = sqlite3_bind_int64(st, 1, v->object_id);

	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, v->version);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 3, v->enabled ? 1 : 0);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 4, v->not_before);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 5, v->expires);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 6, v->updated);
	if (rc == SQLITE_OK)
		rc = bind_str(st, 7, v->content_type);
	if (rc == SQLITE_OK)
		rc = bind_str(st, 8, v->tags ? v->tags : "");
	if (rc == SQLITE_OK)
		rc = bind_bytes(st, 9, v->mac, sizeof(v->mac));
	return rc;
}

/* Reads the VERSION_COLS of a row; tags into a new heap string. */
static int read_version(sqlite3_stmt *st, struct store_version *ret)
{
	struct store_version v = {};
	const unsigned char *tags;
	size_t n;
	int r;

	if ((r = col_int(st, 0, 1, INT64_MAX, &v.object_id)) < 0 ||
	    (r = col_u32(st, 1, &v.version)) < 0 ||
	    (r = col_bool(st, 2, &v.enabled)) < 0 ||
	    (r = col_int(st, 3, INT64_MIN, INT64_MAX, &v.not_before)) < 0 ||
	    (r = col_int(st, 4, INT64_MIN, INT64_MAX, &v.expires)) < 0 ||
	    (r = col_int(st, 5, INT64_MIN, INT64_MAX, &v.created)) < 0 ||
	    (r = col_int(st, 6, INT64_MIN, INT64_MAX, &v.updated)) < 0 ||
	    (r = col_text(st, 7, 0, VAULTFS_CONTENT_TYPE_MAX, v.content_type)) < 0 ||
	    (r = col_blob_exact(st, 9, v.wrapped_dek, sizeof(v.wrapped_dek))) < 0 ||
	    (r = col_blob_exact(st, 10, v.mac, sizeof(v.mac))) < 0)
		return r;
	if (v.version < 1)
		return -EBADMSG;

	if (sqlite3_column_type(st, 8) != SQLITE_TEXT)
		return -EBADMSG;
	tags = sqlite3_column_text(st, 8);
	if (!tags)
		return -ENOMEM;
	n = (size_t)sqlite3_column_bytes(st, 8);
	if (n > VAULTFS_TAGS_LEN_MAX || memchr(tags, '\0', n))
		return -EBADMSG;
	v.tags = strndup((const char *)tags, n);
	if (!v.tags)
		return -ENOMEM;

	*ret = v;
	return 0;
}

int store_version_insert(struct store *s, const struct store_version *v)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc, r;

	assert(s && v);
	r = check_version_attrs(v);
	if (r < 0)
		return r;
	if (v->ciphertext_len > 0 && !v->ciphertext)
		return -EINVAL;
	if (v->ciphertext_len > STORE_CIPHERTEXT_MAX)
		return -EMSGSIZE;

	st = s->stmt[STMT_VERSION_INSERT];
	/* ?1..?11 in the order of VERSION_COLS, ?12 the ciphertext. */
	rc = sqlite3_bind_int64(st, 1, v->object_id);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, v->version);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 3, v->enabled ? 1 : 0);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 4, v->not_before);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 5, v->expires);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 6, v->created);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 7, v->updated);
	if (rc == SQLITE_OK)
		rc = bind_str(st, 8, v->content_type);
	if (rc == SQLITE_OK)
		rc = bind_str(st, 9, v->tags ? v->tags : "");
	if (rc == SQLITE_OK)
		rc = bind_bytes(st, 10, v->wrapped_dek, sizeof(v->wrapped_dek));
	if (rc == SQLITE_OK)
		rc = bind_bytes(st, 11, v->mac, sizeof(v->mac));
	if (rc == SQLITE_OK)
		rc = bind_bytes(st, 12, v->ciphertext, v->ciphertext_len);
	if (rc != SQLITE_OK)
		return errno_from_sqlite(s->db, rc);
	rc = sqlite3_step(st);
	return rc == SQLITE_DONE ? 0 : errno_from_sqlite(s->db, rc);
}

int store_version_get(struct store *s, int64_t object_id, uint32_t version,
		      struct store_version *ret)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct store_version v;
	const void *p;
	size_t n;
	int rc, r;

	assert(s && ret);
	st = s->stmt[STMT_VERSION_GET];
	rc = sqlite3_bind_int64(st, 1, object_id);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, version);
	if (rc != SQLITE_OK)
		return errno_from_sqlite(s->db, rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return errno_from_sqlite(s->db, rc);

	r = read_version(st, &v);
	if (r < 0)
		return r;
	if (sqlite3_column_type(st, 11) != SQLITE_BLOB) {
		store_version_done(&v);
		return -EBADMSG;
	}
	p = sqlite3_column_blob(st, 11);
	n = (size_t)sqlite3_column_bytes(st, 11);
	if (n > STORE_CIPHERTEXT_MAX || (n > 0 && !p)) {
		store_version_done(&v);
		return -EBADMSG;
	}
	v.ciphertext = malloc(n > 0 ? n : 1);
	if (!v.ciphertext) {
		store_version_done(&v);
		return -ENOMEM;
	}
	if (n > 0)
		memcpy(v.ciphertext, p, n);
	v.ciphertext_len = n;
	*ret = v;
	return 0;
}

int store_version_update_attrs(struct store *s, const struct store_version *v)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc, r;

	assert(s && v);
	r = check_version_attrs(v);
	if (r < 0)
		return r;

	st = s->stmt[STMT_VERSION_UPDATE];
	rc = bind_version_attrs(st, v);
	if (rc != SQLITE_OK)
		return errno_from_sqlite(s->db, rc);
	return stmt_change(s, st);
}

int store_version_max(struct store *s, int64_t object_id, uint32_t *ret)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	uint32_t max = 0;
	int rc, r;

	assert(s && ret);
	st = s->stmt[STMT_VERSION_MAX];
	rc = sqlite3_bind_int64(st, 1, object_id);
	if (rc != SQLITE_OK)
		return errno_from_sqlite(s->db, rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		r = col_u32(st, 0, &max);
		if (r < 0)
			return r;
	} else if (rc != SQLITE_DONE)
		return errno_from_sqlite(s->db, rc);
	*ret = max;
	return 0;
}

/* Step st over version rows (the columns of read_version, ciphertext length in column 11),
 * calling cb for each; the count of rows in *ret_n. */
static int step_versions(struct store *s, sqlite3_stmt *st,
			 int (*cb)(const struct store_version *v, void *userdata), void *userdata,
			 size_t *ret_n)
{
	size_t n = 0;
	int rc, r;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_version v;
		int64_t len;

		r = col_int(st, 11, 0, STORE_CIPHERTEXT_MAX, &len);
		if (r < 0)
			return r;
		r = read_version(st, &v);
		if (r < 0)
			return r;
		v.ciphertext_len = (size_t)len;
		n++;
		r = cb(&v, userdata);
		store_version_done(&v);
		if (r < 0)
			return r;
	}
	if (rc != SQLITE_DONE)
		return errno_from_sqlite(s->db, rc);
	*ret_n = n;
	return 0;
}

/* Versions of the object after `after` in ascending order, at most limit (-1: all). */
static int version_page(struct store *s, int64_t object_id, uint32_t after, int64_t limit,
			int (*cb)(const struct store_version *v, void *userdata), void *userdata,
			size_t *ret_n)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc;

	assert(s && cb);
	if (sqlite3_stmt_busy(s->stmt[STMT_VERSION_PAGE]))
		return -EBUSY;
	st = s->stmt[STMT_VERSION_PAGE];
	rc = sqlite3_bind_int64(st, 1, object_id);
	/* the cursor as bind_page binds a name: from the first, every row */
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, after ? after : INT64_MIN);
	if (rc == SQLITE_OK)
		rc = after ? sqlite3_bind_int64(st, 3, after) : sqlite3_bind_null(st, 3);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 4, limit);
	if (rc != SQLITE_OK)
		return errno_from_sqlite(s->db, rc);
	return step_versions(s, st, cb, userdata, ret_n);
}

int store_version_foreach(struct store *s, int64_t object_id,
			  int (*cb)(const struct store_version *v, void *userdata), void *userdata)
{
	size_t n;

	return version_page(s, object_id, 0, -1, cb, userdata, &n);
}

int store_version_page(struct store *s, int64_t object_id, uint32_t after, unsigned limit,
		       int (*cb)(const struct store_version *v, void *userdata), void *userdata)
{
	size_t n;
	int r;

	r = check_limit(limit);
	if (r >= 0)
		r = version_page(s, object_id, after, limit, cb, userdata, &n);
	return r < 0 ? r : (int)n;
}

int store_version_get_meta(struct store *s, int64_t object_id, uint32_t version,
			   struct store_version *ret)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct store_version v;
	int64_t len;
	int rc, r;

	assert(s && ret);
	st = s->stmt[STMT_VERSION_GET_META];
	rc = sqlite3_bind_int64(st, 1, object_id);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, version);
	if (rc != SQLITE_OK)
		return errno_from_sqlite(s->db, rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return errno_from_sqlite(s->db, rc);
	r = col_int(st, 11, 0, STORE_CIPHERTEXT_MAX, &len);
	if (r < 0)
		return r;
	r = read_version(st, &v);
	if (r < 0)
		return r;
	v.ciphertext_len = (size_t)len;
	*ret = v;
	return 0;
}

/* Expiry notices */

int store_expiry_foreach(struct store *s, const struct store_expiry_scan *q,
			 int (*cb)(const struct store_version *v, void *userdata), void *userdata)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	size_t n;
	int rc;

	assert(s && q && cb);
	if (q->limit == 0)
		return -EINVAL;
	if (sqlite3_stmt_busy(s->stmt[STMT_EXPIRY_FOREACH]))
		return -EBUSY;
	st = s->stmt[STMT_EXPIRY_FOREACH];
	rc = sqlite3_bind_int64(st, 1, q->now);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, q->until);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 3, q->after_expires);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 4, q->after_object);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 5, q->after_version);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 6, q->limit);
	if (rc != SQLITE_OK)
		return errno_from_sqlite(s->db, rc);
	return step_versions(s, st, cb, userdata, &n);
}

int store_notice_mark(struct store *s, int64_t object_id, uint32_t version, int event,
		      int64_t expires)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc;

	assert(s);
	if (event != STORE_NOTICE_NEAR && event != STORE_NOTICE_EXPIRED)
		return -EINVAL;
	st = s->stmt[STMT_NOTICE_MARK];
	rc = sqlite3_bind_int64(st, 1, object_id);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, version);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 3, event);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 4, expires);
	if (rc != SQLITE_OK)
		return errno_from_sqlite(s->db, rc);
	rc = sqlite3_step(st);
	return rc == SQLITE_DONE ? 0 : errno_from_sqlite(s->db, rc);
}
