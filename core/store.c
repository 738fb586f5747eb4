/* store.c: the SQLite backend of store.h, its handle: opening a store (a WAL database file,
 * created 0600, hardened before it reads anything, its schema brought up to date by
 * store-schema.c), transactions and the generation that names what they saw, store-wide meta
 * entries, and store_errno(), the one place where SQLite's result codes become -errno. The rows
 * themselves are in store-vault.c, store-object.c and store-version.c, the WAL-index peek in
 * store-wal.c. It must never know about crypto (kv.c seals and MACs the rows), never build SQL
 * from input, and never log above debug (SQLite's words go to log_foreign for the edge). */
#include <assert.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/store-int.h"

#define STORE_BUSY_TIMEOUT_MS 5000

/* The -errno of an SQLite result code. */
static int errno_of(sqlite3 *db, int rc)
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

/* The one place where SQLite's result codes become -errno. SQLite's own words for the failure
 * (the handle's message when it is about this code, else the code's) go to log_foreign, for
 * the edge's log line: "file is not a database", "database disk image is malformed". Not for a
 * constraint that is the store's answer (the name exists, the parent row is missing): the
 * caller reports that, and stale words must not ride on a later line. Table and column names
 * at most: the store binds every value, so no value is ever in SQLite's text. */
int store_errno(sqlite3 *db, int rc)
{
	int r = errno_of(db, rc);

	if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY ||
	    rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		return r;
	if (db && sqlite3_extended_errcode(db) == rc)
		return log_foreign(r, "sqlite", "%s", sqlite3_errmsg(db));
	return log_foreign(r, "sqlite", "%s", sqlite3_errstr(rc));
}

/* The store's path no longer names the file this handle opened. */
static int file_gone(struct store *s)
{
	return log_foreign(-EIDRM, "store",
			   "the store file '%s' was removed or replaced since it was opened",
			   s->path);
}

/* Does the path still name the file SQLite has open? A store unlinked, or replaced by a rename,
 * under a running daemon would take writes into a file that no later open finds: they would
 * vanish at the restart. The file stays open (SQLite's descriptor keeps its inode alive, so no
 * new file can take its number): lstat of the path names that same dev and inode, or it is
 * gone. Cheap enough for every write transaction; reads go on from the open file. */
static int check_file(struct store *s)
{
	struct stat st;

	if (lstat(s->path, &st) < 0)
		return errno == ENOENT || errno == ENOTDIR ? file_gone(s) : negative_errno();
	return st.st_dev == s->dev && st.st_ino == s->ino ? 0 : file_gone(s);
}

/* Remember the file SQLite opened: the path's dev and inode now, after which SQLite confirms
 * that the path names its file (SQLITE_FCNTL_HAS_MOVED compares the path with its descriptor). */
static int note_file(struct store *s)
{
	struct stat st;
	int moved = 0, rc;

	if (lstat(s->path, &st) < 0)
		return negative_errno();
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	rc = sqlite3_file_control(s->db, "main", SQLITE_FCNTL_HAS_MOVED, &moved);
	if (rc != SQLITE_OK && rc != SQLITE_NOTFOUND)
		return store_errno(s->db, rc);
	return moved ? file_gone(s) : 0;
}

int store_op_begin(struct store *s, bool *ret_own)
{
	bool own = sqlite3_get_autocommit(s->db);
	int r;

	if (own && sqlite3_db_readonly(s->db, "main") > 0)
		return -EROFS; /* BEGIN IMMEDIATE would succeed on a read-only handle */
	if (own) {
		r = check_file(s);
		if (r < 0)
			return r;
	}

	s->writes++;
	r = stmt_run(s, own ? STMT_BEGIN : STMT_SAVEPOINT);
	if (r < 0)
		return r;
	*ret_own = own;
	return 0;
}

int store_op_end(struct store *s, bool own, int r)
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

static int set_wal(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *mode;
	int rc, r = -EIO;

	rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_errno(db, rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		mode = sqlite3_column_text(st, 0);
		if (mode && streq((const char *)mode, "wal"))
			r = 0;
	} else
		r = store_errno(db, rc);
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
			return store_errno(db, rc);
		if (now != cfg[i].value)
			return -EIO;
	}
	rc = sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
	if (rc != SQLITE_OK)
		return store_errno(db, rc);
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
	s->path = strdup(path);
	if (!s->path) {
		r = -ENOMEM;
		goto fail;
	}

	/* Never SQLITE_OPEN_CREATE: the file exists by now or the store is missing. */
	oflags = (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) | SQLITE_OPEN_NOFOLLOW |
		 SQLITE_OPEN_EXRESCODE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE;
	rc = sqlite3_open_v2(path, &s->db, oflags, NULL);
	if (rc != SQLITE_OK) {
		r = store_errno(s->db, rc);
		goto fail;
	}

	r = configure(s->db);
	if (r < 0)
		goto fail;
	r = store_recognise(s->db, size, &empty, &version);
	if (r >= 0)
		r = note_file(s);
	if (r < 0)
		goto fail;
	if (empty && !(flags & STORE_CREATE)) {
		r = -ENOENT; /* a file with no store in it yet */
		goto fail;
	}
	if (version < store_schema_latest() && readonly) {
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
	r = store_exec(s->db, "PRAGMA synchronous = FULL;"
			      "PRAGMA secure_delete = ON;"
			      "PRAGMA foreign_keys = ON;"
			      "PRAGMA trusted_schema = OFF;"
			      "PRAGMA mmap_size = 0;");
	if (r < 0)
		goto fail;

	if (!readonly) {
		r = store_migrate(s->db, version);
		if (r < 0)
			goto fail;
	}
	r = store_pragma_int(s->db, "PRAGMA user_version", &version);
	if (r < 0)
		goto fail;
	if (version != store_schema_latest()) {
		r = version > store_schema_latest() ? -EPROTONOSUPPORT : -EBADMSG;
		goto fail;
	}
	s->schema_version = (int)version;

	r = store_prepare_all(s);
	if (r < 0)
		goto fail;
	if (!readonly)
		store_map_shm(s);

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
	free(s->path);
	free(s);
}

int store_schema_version(struct store *s)
{
	assert(s);
	return s->schema_version;
}

int store_begin(struct store *s)
{
	int r;

	assert(s);
	if (!sqlite3_get_autocommit(s->db))
		return -EBUSY;
	if (sqlite3_db_readonly(s->db, "main") > 0)
		return -EROFS; /* SQLite would grant BEGIN IMMEDIATE and refuse only the writes */
	r = check_file(s);
	if (r < 0)
		return r;
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
		return store_errno(s->db, rc);
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
	int rc, r;

	assert(s && ret && ret_len);
	r = check_meta_key(key);
	if (r < 0)
		return r;

	st = s->stmt[STMT_META_GET];
	r = bind_str(st, 1, key);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return store_errno(s->db, rc);
	return col_bytes(st, 0, STORE_META_VALUE_MAX, ret, ret_len);
}

int store_meta_text(struct store *s, const char *key, char *buf, size_t size)
{
	_cleanup_free_ uint8_t *v = NULL;
	size_t n;
	int r;

	r = store_meta_get(s, key, &v, &n);
	if (r < 0)
		return r;
	if (n >= size || memchr(v, '\0', n))
		return -EBADMSG;
	memcpy(buf, v, n);
	buf[n] = '\0';
	return 0;
}

int store_meta_set(struct store *s, const char *key, const void *value, size_t len)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	assert(s);
	r = check_meta_key(key);
	if (r < 0)
		return r;
	if (len > 0 && !value)
		return -EINVAL;
	if (len > STORE_META_VALUE_MAX)
		return -EMSGSIZE;

	st = s->stmt[STMT_META_SET];
	r = bind_str(st, 1, key);
	if (r >= 0)
		r = bind_bytes(st, 2, value, len);
	return r < 0 ? r : stmt_write(s, st, false);
}
