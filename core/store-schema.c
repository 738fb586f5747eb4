/* store-schema.c: the schema of the SQLite store and every statement it runs: the numbered
 * migrations that bring a store of any earlier version up to date, recognising a vaultfs
 * database, and preparing the statements once per handle. SQL lives here only. It must never
 * edit a migration that has shipped (add one), and never build SQL from input. */
#include <stdio.h>

#include "core/store-int.h"

/* "VFS1": PRAGMA application_id of every vaultfs store. */
#define STORE_APPLICATION_ID 0x56465331

/* Migration i (1-based) brings the schema from version i - 1 to i; it is migrations[i - 1].
 * Each runs in one transaction together with the user_version bump. Never edit one that has
 * shipped: add a new one. */
static const char *const migrations[] = {
	/* 1: the first schema. STRICT tables reject a value of the wrong type; AUTOINCREMENT
	 * keeps ids from being reused after a purge. versions is a rowid table (its rows carry
	 * ciphertexts of up to 1 MiB, too large for WITHOUT ROWID), ciphertext is its last
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
	/* 4: a key's rotation policy (kv-key.c), one row per key object, MAC'd like the rows it
	 * governs and gone with its object. */
	"CREATE TABLE key_rotation ("
	"  object_id INTEGER PRIMARY KEY NOT NULL REFERENCES objects(id) ON DELETE CASCADE,"
	"  rotate_after INTEGER NOT NULL,"
	"  notify_before INTEGER NOT NULL,"
	"  expires_after INTEGER NOT NULL,"
	"  notified_version INTEGER NOT NULL,"
	"  updated INTEGER NOT NULL,"
	"  mac BLOB NOT NULL"
	") STRICT;",
	/* 5: a certificate's state (kv-cert-state.c), one row per certificate object: the policy
	 * its next version is made by (empty: its newest version's), the failed renewals in a row
	 * and when to try again, the versions whose expiry notices were given; MAC'd like
	 * key_rotation and gone with its object. */
	"CREATE TABLE cert_state ("
	"  object_id INTEGER PRIMARY KEY NOT NULL REFERENCES objects(id) ON DELETE CASCADE,"
	"  failures INTEGER NOT NULL,"
	"  last_attempt INTEGER NOT NULL,"
	"  next_try INTEGER NOT NULL,"
	"  last_err INTEGER NOT NULL,"
	"  last_error TEXT NOT NULL,"
	"  notified_version INTEGER NOT NULL,"
	"  expired_version INTEGER NOT NULL,"
	"  updated INTEGER NOT NULL,"
	"  policy BLOB NOT NULL,"
	"  mac BLOB NOT NULL"
	") STRICT;",
	/* 6: a vault's max-versions (kv-prune.c): how many versions of a secret it keeps (0: all)
	 * and whether it has ever pruned (prunes: once set, never cleared, so a secret whose
	 * oldest versions were pruned still reads as whole after max-versions is turned off).
	 * Both default to 0: an old vault's row, and its MAC, stay as they were. */
	("ALTER TABLE vaults ADD COLUMN max_versions INTEGER NOT NULL DEFAULT 0;"
	 "ALTER TABLE vaults ADD COLUMN prunes INTEGER NOT NULL DEFAULT 0;"),
	/* 7: a fleet vault (core/fleet.h, kv-fleet.c): one row per vault that is in a fleet, the
	 * row itself the mark, holding the seq, key epoch and chain MAC of the last change row
	 * applied (0, 0, zeros before the first). MAC'd and summed like every row, so the
	 * rollback guard covers what a host applied; gone with its vault. */
	"CREATE TABLE fleet_applied ("
	"  vault_id INTEGER PRIMARY KEY NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,"
	"  seq INTEGER NOT NULL,"
	"  epoch INTEGER NOT NULL,"
	"  last_mac BLOB NOT NULL,"
	"  updated INTEGER NOT NULL,"
	"  mac BLOB NOT NULL"
	") STRICT;",
};
#define STORE_SCHEMA_VERSION ((int)ELEMENTSOF(migrations))

/* Column lists shared by the statements that read a row, in the order of the row tables
 * (store-vault.c, store-object.c, store-version.c). Column i of a row is parameter ?i+1 of the
 * statements that write it: an INSERT or UPDATE names the parameters of the columns it writes. */
#define VAULT_COLS                                                                                 \
	"id, name, wrapped_key, created, retention_days, purge_protection, mac, max_versions, "    \
	"prunes"
#define OBJECT_COLS "id, vault_id, name, type, current_version, created, deleted_at, mac"
#define ROTATION_COLS                                                                              \
	"object_id, rotate_after, notify_before, expires_after, notified_version, updated, mac"
#define CERT_STATE_COLS                                                                            \
	"object_id, failures, last_attempt, next_try, last_err, last_error, notified_version, "    \
	"expired_version, updated, policy, mac"
#define FLEET_COLS "vault_id, seq, epoch, last_mac, updated, mac"
#define VERSION_COLS                                                                               \
	"object_id, version, enabled, not_before, expires, created, updated, content_type, "       \
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
			      "purge_protection, mac, max_versions, prunes) "
			      "VALUES (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[STMT_VAULT_GET] = "SELECT " VAULT_COLS " FROM vaults WHERE name = ?1",
	[STMT_VAULT_GET_BY_ID] = "SELECT " VAULT_COLS " FROM vaults WHERE id = ?1",
	[STMT_VAULT_UPDATE] = "UPDATE vaults SET wrapped_key = ?3, created = ?4, "
			      "retention_days = ?5, purge_protection = ?6, mac = ?7, "
			      "max_versions = ?8, prunes = ?9 WHERE id = ?1",
	[STMT_VAULT_HAS_OBJECTS] = "SELECT 1 FROM objects WHERE vault_id = ?1 LIMIT 1",
	[STMT_VAULT_DELETE] = "DELETE FROM vaults WHERE id = ?1",
	[STMT_VAULT_PAGE] = "SELECT " VAULT_COLS " FROM vaults WHERE name >= ?1 "
			    "AND name IS NOT ?2 ORDER BY name LIMIT ?3",
	[STMT_OBJECT_INSERT] = "INSERT INTO objects (vault_id, name, type, current_version, "
			       "created, deleted_at, mac) VALUES (?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[STMT_OBJECT_GET] = "SELECT " OBJECT_COLS " FROM objects WHERE vault_id = ?1 AND name = ?2",
	[STMT_OBJECT_GET_BY_ID] = "SELECT " OBJECT_COLS " FROM objects WHERE id = ?1",
	[STMT_OBJECT_UPDATE] = "UPDATE objects SET current_version = ?5, deleted_at = ?7, "
			       "mac = ?8 WHERE id = ?1",
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
				"updated = ?7, content_type = ?8, tags = ?9, mac = ?11 "
				"WHERE object_id = ?1 AND version = ?2",
	/* a version pruned (kv-prune.c): its notices go with it (ON DELETE CASCADE) */
	[STMT_VERSION_DELETE] = "DELETE FROM versions WHERE object_id = ?1 AND version = ?2",
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
	[STMT_ROTATION_GET] = "SELECT " ROTATION_COLS " FROM key_rotation WHERE object_id = ?1",
	[STMT_ROTATION_SET] = "INSERT INTO key_rotation (" ROTATION_COLS ") VALUES (?1, ?2, ?3, "
			      "?4, ?5, ?6, ?7) ON CONFLICT (object_id) DO UPDATE SET "
			      "rotate_after = ?2, notify_before = ?3, expires_after = ?4, "
			      "notified_version = ?5, updated = ?6, mac = ?7",
	[STMT_ROTATION_DELETE] = "DELETE FROM key_rotation WHERE object_id = ?1",
	/* every policy, by object id from the cursor ?1 (exclusive), ?2 at most */
	[STMT_ROTATION_PAGE] = "SELECT " ROTATION_COLS " FROM key_rotation WHERE object_id > ?1 "
			       "ORDER BY object_id LIMIT ?2",
	[STMT_CERT_STATE_GET] = "SELECT " CERT_STATE_COLS " FROM cert_state WHERE object_id = ?1",
	[STMT_CERT_STATE_SET] =
		"INSERT INTO cert_state (" CERT_STATE_COLS ") VALUES (?1, ?2, ?3, "
		"?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT (object_id) DO UPDATE "
		"SET failures = ?2, last_attempt = ?3, next_try = ?4, last_err = ?5, "
		"last_error = ?6, notified_version = ?7, expired_version = ?8, "
		"updated = ?9, policy = ?10, mac = ?11",
	[STMT_FLEET_GET] = "SELECT " FLEET_COLS " FROM fleet_applied WHERE vault_id = ?1",
	[STMT_FLEET_SET] = "INSERT INTO fleet_applied (" FLEET_COLS ") VALUES (?1, ?2, ?3, ?4, "
			   "?5, ?6) ON CONFLICT (vault_id) DO UPDATE SET seq = ?2, epoch = ?3, "
			   "last_mac = ?4, updated = ?5, mac = ?6",
	/* every MAC'd row's MAC, for the row sum (store-sum.c) */
	[STMT_ROWS_MACS] =
		"SELECT mac FROM vaults UNION ALL SELECT mac FROM objects "
		"UNION ALL SELECT mac FROM versions UNION ALL SELECT mac FROM key_rotation "
		"UNION ALL SELECT mac FROM cert_state UNION ALL SELECT mac FROM fleet_applied",
};

int store_schema_latest(void)
{
	return STORE_SCHEMA_VERSION;
}

int store_exec(sqlite3 *db, const char *sql)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : store_errno(db, rc);
}

/* The single integer a pragma query returns. */
int store_pragma_int(sqlite3 *db, const char *sql, int64_t *ret)
{
	sqlite3_stmt *st = NULL;
	int rc, r = 0;

	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_errno(db, rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*ret = sqlite3_column_int64(st, 0);
	else
		r = rc == SQLITE_DONE ? -EIO : store_errno(db, rc);
	sqlite3_finalize(st);
	return r;
}

/* Is this a vaultfs store? Reading the header and the schema of a file that is not a database
 * fails here with -EBADMSG. Sets *ret_empty for a database with nothing in it yet: a file of
 * zero bytes, or a header page with no schema, no application_id and no user_version. */
int store_recognise(sqlite3 *db, off_t size, bool *ret_empty, int64_t *ret_version)
{
	int64_t app_id, version, n_schema, pages;
	int r;

	/* SQLite takes a file shorter than one page for an empty database: it is not. */
	r = store_pragma_int(db, "PRAGMA page_count", &pages);
	if (r < 0)
		return r;
	if (pages == 0 && size != 0)
		return -EBADMSG;
	r = store_pragma_int(db, "PRAGMA application_id", &app_id);
	if (r < 0)
		return r;
	r = store_pragma_int(db, "SELECT count(*) FROM sqlite_schema", &n_schema);
	if (r < 0)
		return r;
	r = store_pragma_int(db, "PRAGMA user_version", &version);
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
int store_migrate(sqlite3 *db, int64_t version_seen)
{
	for (int i = (int)version_seen + 1; i <= STORE_SCHEMA_VERSION; i++) {
		char bump[64];
		int64_t version;
		int r;

		r = store_exec(db, "BEGIN IMMEDIATE");
		if (r < 0)
			return r;
		r = store_pragma_int(db, "PRAGMA user_version", &version);
		if (r >= 0 && version > STORE_SCHEMA_VERSION)
			r = -EPROTONOSUPPORT;
		if (r >= 0 && version < i) {
			int rc = sqlite3_exec(db, migrations[i - 1], NULL, NULL, NULL);

			/* A plain SQL error is a table or column the migration expects and does
			 * not find: this is not our schema at version i - 1. */
			if (rc != SQLITE_OK) {
				r = store_errno(db, rc);
				if (rc == SQLITE_ERROR)
					r = -EBADMSG;
			}
			/* i is our own constant, never input. */
			(void)snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", i);
			if (r >= 0)
				r = store_exec(db, bump);
		}
		if (r >= 0)
			r = store_exec(db, "COMMIT");
		if (r < 0) {
			if (!sqlite3_get_autocommit(db))
				(void)store_exec(db, "ROLLBACK");
			return r;
		}
	}
	return 0;
}

int store_prepare_all(struct store *s)
{
	for (size_t i = 0; i < _STMT_MAX; i++) {
		int rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
					    &s->stmt[i], NULL);
		if (rc != SQLITE_OK) {
			int r = store_errno(s->db, rc);

			/* A plain SQL error here is a missing table or column: not our schema. */
			return r == -EIO ? -EBADMSG : r;
		}
	}
	return 0;
}
