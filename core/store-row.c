/* store-row.c: statements and rows of the SQLite store: binding a row's fields as parameters,
 * reading a result row back into its struct through the row tables of store-int.h, lookups and
 * walks over prepared statements. It must never accept a column of another type, range or size
 * than its table says (a tampered row is -EBADMSG), and never build SQL. */
#include <assert.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/secbuf.h"
#include "core/store-int.h"

void stmt_resetp(sqlite3_stmt **st)
{
	if (*st) {
		sqlite3_reset(*st);
		sqlite3_clear_bindings(*st);
	}
}

int stmt_take(struct store *s, enum stmt_id id, sqlite3_stmt **ret)
{
	if (sqlite3_stmt_busy(s->stmt[id]))
		return -EBUSY;
	*ret = s->stmt[id];
	return 0;
}

int stmt_run(struct store *s, enum stmt_id id)
{
	_cleanup_stmt_ sqlite3_stmt *st = s->stmt[id];
	int rc;

	do
		rc = sqlite3_step(st);
	while (rc == SQLITE_ROW);
	return rc == SQLITE_DONE ? 0 : store_errno(s->db, rc);
}

int stmt_write(struct store *s, sqlite3_stmt *st, bool must_change)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE)
		return store_errno(s->db, rc);
	return !must_change || sqlite3_changes(s->db) > 0 ? 0 : -ENOENT;
}

int stmt_write_key(struct store *s, enum stmt_id id, int64_t key, bool must_change)
{
	_cleanup_stmt_ sqlite3_stmt *st = s->stmt[id];
	int r = bind_int64s(st, 1, &key);

	return r < 0 ? r : stmt_write(s, st, must_change);
}

int bind_rc(sqlite3_stmt *st, int rc)
{
	return rc == SQLITE_OK ? 0 : store_errno(sqlite3_db_handle(st), rc);
}

int bind_int64s(sqlite3_stmt *st, size_t n, const int64_t *v)
{
	for (size_t i = 0; i < n; i++) {
		int r = bind_rc(st, sqlite3_bind_int64(st, (int)i + 1, v[i]));

		if (r < 0)
			return r;
	}
	return 0;
}

/* A string of at most size - 1 bytes (the array it sits in). */
static int bind_text(sqlite3_stmt *st, int i, const char *str, size_t size)
{
	return bind_rc(st,
		       sqlite3_bind_text(st, i, str, (int)strnlen(str, size - 1), SQLITE_STATIC));
}

int bind_str(sqlite3_stmt *st, int i, const char *str)
{
	return bind_text(st, i, str, INT_MAX);
}

int bind_bytes(sqlite3_stmt *st, int i, const void *p, size_t n)
{
	int rc;

	if (n > INT_MAX)
		return -EMSGSIZE;
	if (n == 0)
		rc = sqlite3_bind_zeroblob(st, i, 0);
	else
		rc = sqlite3_bind_blob(st, i, p, (int)n, SQLITE_STATIC);
	return bind_rc(st, rc);
}

int bind_page(sqlite3_stmt *st, int i, const char *after, int64_t limit)
{
	bool from_first = !after || !*after;
	int r = bind_str(st, i, from_first ? "" : after);

	if (r >= 0)
		r = from_first ? bind_rc(st, sqlite3_bind_null(st, i + 1)) :
				 bind_str(st, i + 1, after);
	if (r >= 0)
		r = bind_rc(st, sqlite3_bind_int64(st, i + 2, limit));
	return r;
}

int col_int(sqlite3_stmt *st, int i, int64_t min, int64_t max, int64_t *ret)
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

int col_bytes(sqlite3_stmt *st, int i, size_t max, uint8_t **ret, size_t *ret_len)
{
	const void *p;
	uint8_t *buf;
	size_t n;

	if (sqlite3_column_type(st, i) != SQLITE_BLOB)
		return -EBADMSG;
	p = sqlite3_column_blob(st, i);
	n = (size_t)sqlite3_column_bytes(st, i);
	if (n > max || (n > 0 && !p))
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

/* Text of min..max bytes without a NUL inside: its bytes and length. */
static int col_text(sqlite3_stmt *st, int i, size_t min, size_t max, const char **ret,
		    size_t *ret_len)
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
	*ret = (const char *)p;
	*ret_len = n;
	return 0;
}

int check_str(const char *str, size_t size, size_t min, size_t max)
{
	size_t n;

	if (!str)
		return -EINVAL;
	n = strnlen(str, size);
	if (n >= size || n < min || n > max)
		return -EINVAL;
	return 0;
}

int check_name(const char *name)
{
	return check_str(name, VAULTFS_NAME_MAX + 1, 1, VAULTFS_NAME_MAX);
}

int check_after(const char *after)
{
	if (after && check_str(after, VAULTFS_NAME_MAX + 1, 0, VAULTFS_NAME_MAX) < 0)
		return -EINVAL;
	return 0;
}

int check_limit(unsigned limit)
{
	return limit == 0 || limit > INT_MAX ? -EINVAL : 0;
}

static int bind_col(sqlite3_stmt *st, int i, const struct row_col *c, const uint8_t *f,
		    const uint8_t *row)
{
	const char *str;
	int rc;

	switch (c->type) {
	case ROW_I64:
		rc = sqlite3_bind_int64(st, i, *(const int64_t *)f);
		break;
	case ROW_U32:
		rc = sqlite3_bind_int64(st, i, *(const uint32_t *)f);
		break;
	case ROW_INT:
		rc = sqlite3_bind_int(st, i, *(const int *)f);
		break;
	case ROW_BOOL:
		rc = sqlite3_bind_int(st, i, *(const bool *)f ? 1 : 0);
		break;
	case ROW_TEXT:
		return bind_text(st, i, (const char *)f, c->size);
	case ROW_STR:
		str = *(char *const *)f;
		return bind_str(st, i, str ? str : "");
	case ROW_BLOB:
		return bind_bytes(st, i, f, c->size);
	case ROW_LEN:
		rc = sqlite3_bind_int64(st, i, (int64_t)(*(const size_t *)f));
		break;
	case ROW_BYTES:
		return bind_bytes(st, i, *(uint8_t *const *)f, *(const size_t *)(row + c->len_off));
	default:
		assert(!"unknown row column type");
		return -EINVAL;
	}
	return bind_rc(st, rc);
}

static int row_bind(sqlite3_stmt *st, const struct row_table *t, size_t n, const void *row)
{
	assert(n <= t->n);
	for (size_t i = 0; i < n; i++) {
		const struct row_col *c = &t->cols[i];
		int r = bind_col(st, (int)i + 1, c, (const uint8_t *)row + c->off, row);

		if (r < 0)
			return r;
	}
	return 0;
}

int row_write(struct store *s, enum stmt_id id, const struct row_table *t, size_t n,
	      const void *row, bool must_change)
{
	_cleanup_stmt_ sqlite3_stmt *st = s->stmt[id];
	int r = row_bind(st, t, n, row);

	return r < 0 ? r : stmt_write(s, st, must_change);
}

static int read_col(sqlite3_stmt *st, int i, const struct row_col *c, uint8_t *f, uint8_t *row)
{
	const char *str;
	int64_t v;
	size_t n;
	int r;

	switch (c->type) {
	case ROW_I64:
	case ROW_U32:
	case ROW_INT:
	case ROW_BOOL:
	case ROW_LEN:
		r = col_int(st, i, c->min, c->max, &v);
		if (r < 0)
			return r;
		if (c->type == ROW_I64)
			*(int64_t *)f = v;
		else if (c->type == ROW_U32)
			*(uint32_t *)f = (uint32_t)v;
		else if (c->type == ROW_INT)
			*(int *)f = (int)v;
		else if (c->type == ROW_BOOL)
			*(bool *)f = v == 1;
		else
			*(size_t *)f = (size_t)v;
		return 0;
	case ROW_TEXT:
		r = col_text(st, i, (size_t)c->min, c->size - 1, &str, &n);
		if (r < 0)
			return r;
		memcpy(f, str, n);
		f[n] = '\0';
		return 0;
	case ROW_STR:
		r = col_text(st, i, 0, (size_t)c->max, &str, &n);
		if (r < 0)
			return r;
		*(char **)f = strndup(str, n);
		return *(char **)f ? 0 : -ENOMEM;
	case ROW_BLOB:
		return col_blob_exact(st, i, f, c->size);
	case ROW_BYTES:
		return col_bytes(st, i, (size_t)c->max, (uint8_t **)f,
				 (size_t *)(row + c->len_off));
	default:
		assert(!"unknown row column type");
		return -EINVAL;
	}
}

/* Read the current row into row (zeroed first); on failure what the read put on the heap is
 * freed and the row wiped. */
static int row_read(sqlite3_stmt *st, const struct row_table *t, void *row, size_t size)
{
	memset(row, 0, size);
	for (size_t i = 0; i < t->n; i++) {
		const struct row_col *c = &t->cols[i];
		int r = read_col(st, (int)i, c, (uint8_t *)row + c->off, row);

		if (r < 0) {
			if (t->done)
				t->done(row);
			secure_wipe(row, size);
			return r;
		}
	}
	return 0;
}

int row_insert(struct store *s, enum stmt_id id, const struct row_table *t, const void *row,
	       int64_t *ret_id)
{
	int r = row_write(s, id, t, t->n, row, false);

	if (r < 0)
		return r;
	*ret_id = sqlite3_last_insert_rowid(s->db);
	return 0;
}

int row_get(struct store *s, sqlite3_stmt *st, const struct row_table *t, void *ret, size_t size)
{
	union store_row row;
	int rc, r;

	assert(size <= sizeof(row));
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return store_errno(s->db, rc);
	r = row_read(st, t, &row, size);
	if (r < 0)
		return r;
	memcpy(ret, &row, size);
	secure_wipe(&row, size);
	return 0;
}

int row_get_by(struct store *s, enum stmt_id id, const struct row_table *t, size_t n,
	       const int64_t *key, void *ret, size_t size)
{
	_cleanup_stmt_ sqlite3_stmt *st = s->stmt[id];
	int r = bind_int64s(st, n, key);

	return r < 0 ? r : row_get(s, st, t, ret, size);
}

int row_get_named(struct store *s, enum stmt_id id, const struct row_table *t,
		  const int64_t *parent, const char *name, void *ret, size_t size)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	r = check_name(name);
	if (r < 0)
		return r;
	st = s->stmt[id];
	if (parent)
		r = bind_int64s(st, 1, parent);
	if (r >= 0)
		r = bind_str(st, parent ? 2 : 1, name);
	return r < 0 ? r : row_get(s, st, t, ret, size);
}

static int walk_call(const struct row_walk *w, const union store_row *row)
{
	if (w->vault)
		return w->vault(&row->vault, w->userdata);
	if (w->object)
		return w->object(&row->object, w->userdata);
	return w->version(&row->version, w->userdata);
}

int row_each(struct store *s, sqlite3_stmt *st, const struct row_table *t, const struct row_walk *w)
{
	size_t n = 0;
	int rc, r;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		union store_row row;

		r = row_read(st, t, &row, sizeof(row));
		if (r < 0)
			return r;
		n++;
		r = walk_call(w, &row);
		if (t->done)
			t->done(&row);
		if (r < 0)
			return r;
	}
	if (rc != SQLITE_DONE)
		return store_errno(s->db, rc);
	return n > INT_MAX ? INT_MAX : (int)n;
}

int row_name_page(struct store *s, enum stmt_id id, const struct row_table *t,
		  const int64_t *parent, const char *after, int64_t limit, const struct row_walk *w)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	r = check_after(after);
	if (r >= 0)
		r = stmt_take(s, id, &st);
	if (r >= 0 && parent)
		r = bind_int64s(st, 1, parent);
	if (r >= 0)
		r = bind_page(st, parent ? 2 : 1, after, limit);
	return r < 0 ? r : row_each(s, st, t, w);
}
