/* store-version.c: the versions table of the SQLite store and the expiry notices: a version's
 * row as its row table maps it (the ciphertext last, so that listing versions never reads it),
 * insert, lookups with or without the ciphertext, the rewrite of its attributes, the removal of a
 * pruned version (kv-prune.c decides which), the walks of an object's versions and of the versions whose expiry is due, and the notices given. It must
 * never change a version's material (wrapped key, ciphertext) once inserted, and never leave a
 * ciphertext it read unwiped. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/secbuf.h"
#include "core/store-int.h"

/* The columns of VERSION_COLS (store-schema.c), in order; the ciphertext or its length is
 * column 11. */
/* clang-format off */
#define VERSION_ROW_COLS                                                                           \
	ROW_I64(struct store_version, object_id, 1, INT64_MAX),                                    \
	ROW_U32(struct store_version, version, 1),                                                 \
	ROW_BOOL(struct store_version, enabled),                                                   \
	ROW_I64(struct store_version, not_before, INT64_MIN, INT64_MAX),                           \
	ROW_I64(struct store_version, expires, INT64_MIN, INT64_MAX),                              \
	ROW_I64(struct store_version, created, INT64_MIN, INT64_MAX),                              \
	ROW_I64(struct store_version, updated, INT64_MIN, INT64_MAX),                              \
	ROW_TEXT(struct store_version, content_type, 0),                                           \
	ROW_STR(struct store_version, tags, VAULTFS_TAGS_LEN_MAX),                                 \
	ROW_BLOB(struct store_version, wrapped_dek),                                               \
	ROW_BLOB(struct store_version, mac)
/* clang-format on */
#define VERSION_ATTR_COLS 11

static void version_row_done(void *row)
{
	store_version_done(row);
}

/* A whole version, the ciphertext too. */
static const struct row_col version_cols[] = {
	VERSION_ROW_COLS,
	ROW_BYTES(struct store_version, ciphertext, ciphertext_len, STORE_CIPHERTEXT_MAX),
};
static const struct row_table version_row = { version_cols, ELEMENTSOF(version_cols),
					      version_row_done };

/* A version's attributes and the length of its ciphertext (length(ciphertext)), not the
 * ciphertext itself. */
static const struct row_col version_meta_cols[] = {
	VERSION_ROW_COLS,
	ROW_LEN(struct store_version, ciphertext_len, STORE_CIPHERTEXT_MAX),
};
static const struct row_table version_meta_row = { version_meta_cols, ELEMENTSOF(version_meta_cols),
						   version_row_done };

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

int store_version_insert(struct store *s, const struct store_version *v)
{
	int r;

	assert(s && v);
	r = check_version_attrs(v);
	if (r < 0)
		return r;
	if (v->ciphertext_len > 0 && !v->ciphertext)
		return -EINVAL;
	if (v->ciphertext_len > STORE_CIPHERTEXT_MAX)
		return -EMSGSIZE;
	return row_write(s, STMT_VERSION_INSERT, &version_row, version_row.n, v, false);
}

int store_version_update_attrs(struct store *s, const struct store_version *v)
{
	int r;

	assert(s && v);
	r = check_version_attrs(v);
	if (r < 0)
		return r;
	return row_write(s, STMT_VERSION_UPDATE, &version_row, VERSION_ATTR_COLS, v, true);
}

int store_version_get(struct store *s, int64_t object_id, uint32_t version,
		      struct store_version *ret)
{
	int64_t key[] = { object_id, version };

	assert(s && ret);
	return row_get_by(s, STMT_VERSION_GET, &version_row, 2, key, ret, sizeof(*ret));
}

/* As store_version_get, through the row table without the ciphertext. */
int store_version_get_meta(struct store *s, int64_t object_id, uint32_t version,
			   struct store_version *ret)
{
	int64_t key[] = { object_id, version };

	assert(s && ret);
	return row_get_by(s, STMT_VERSION_GET_META, &version_meta_row, 2, key, ret, sizeof(*ret));
}

int store_version_delete(struct store *s, int64_t object_id, uint32_t version)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int64_t key[] = { object_id, version };
	int r;

	assert(s);
	st = s->stmt[STMT_VERSION_DELETE];
	r = bind_int64s(st, ELEMENTSOF(key), key);
	return r < 0 ? r : stmt_write(s, st, true);
}

int store_version_max(struct store *s, int64_t object_id, uint32_t *ret)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int64_t max = 0;
	int rc, r;

	assert(s && ret);
	st = s->stmt[STMT_VERSION_MAX];
	r = bind_int64s(st, 1, &object_id);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		r = col_int(st, 0, 0, UINT32_MAX, &max);
	else if (rc != SQLITE_DONE)
		r = store_errno(s->db, rc);
	if (r < 0)
		return r;
	*ret = (uint32_t)max;
	return 0;
}

/* Versions of the object after `after` in ascending order, at most limit (-1: all): the count,
 * or -errno. */
static int version_page(struct store *s, int64_t object_id, uint32_t after, int64_t limit,
			int (*cb)(const struct store_version *v, void *userdata), void *userdata)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct row_walk w = { .version = cb, .userdata = userdata };
	/* the cursor as bind_page binds a name: from the first, every row */
	int64_t args[] = { object_id, after ? after : INT64_MIN, after, limit };
	int r;

	assert(s && cb);
	r = stmt_take(s, STMT_VERSION_PAGE, &st);
	if (r >= 0)
		r = bind_int64s(st, ELEMENTSOF(args), args);
	if (r >= 0 && !after)
		r = bind_rc(st, sqlite3_bind_null(st, 3));
	return r < 0 ? r : row_each(s, st, &version_meta_row, &w);
}

int store_version_foreach(struct store *s, int64_t object_id,
			  int (*cb)(const struct store_version *v, void *userdata), void *userdata)
{
	int r = version_page(s, object_id, 0, -1, cb, userdata);

	return r < 0 ? r : 0;
}

int store_version_page(struct store *s, int64_t object_id, uint32_t after, unsigned limit,
		       int (*cb)(const struct store_version *v, void *userdata), void *userdata)
{
	int r = check_limit(limit);

	return r < 0 ? r : version_page(s, object_id, after, limit, cb, userdata);
}

/* Expiry notices */

int store_expiry_foreach(struct store *s, const struct store_expiry_scan *q,
			 int (*cb)(const struct store_version *v, void *userdata), void *userdata)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct row_walk w = { .version = cb, .userdata = userdata };
	int r;

	assert(s && q && cb);
	if (q->limit == 0)
		return -EINVAL;
	r = stmt_take(s, STMT_EXPIRY_FOREACH, &st);
	if (r >= 0) {
		/* ?1 now, ?2 until, ?3..?5 the cursor, ?6 the limit (store-schema.c) */
		int64_t args[] = { q->now,	    q->until,	      q->after_expires,
				   q->after_object, q->after_version, q->limit };

		r = bind_int64s(st, ELEMENTSOF(args), args);
	}
	if (r >= 0)
		r = row_each(s, st, &version_meta_row, &w);
	return r < 0 ? r : 0;
}

int store_notice_mark(struct store *s, int64_t object_id, uint32_t version, int event,
		      int64_t expires)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int64_t args[] = { object_id, version, event, expires };
	int r;

	assert(s);
	if (event != STORE_NOTICE_NEAR && event != STORE_NOTICE_EXPIRED)
		return -EINVAL;
	st = s->stmt[STMT_NOTICE_MARK];
	r = bind_int64s(st, ELEMENTSOF(args), args);
	return r < 0 ? r : stmt_write(s, st, false);
}
