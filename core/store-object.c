/* store-object.c: the objects table of the SQLite store (a secret now; keys and certificates
 * are the same rows of another type): an object's row as its row table maps it, lookups, the
 * update of its pointer, soft-delete time and MAC, purge with its versions, and the walks of a
 * vault's objects and of the soft-deleted ones past retention. It must never purge an object
 * without its versions in the same transaction. */
#include <assert.h>

#include "core/store-int.h"

/* The columns of OBJECT_COLS (store-schema.c), in order. */
static const struct row_col object_cols[] = {
	ROW_I64(struct store_object, id, 1, INT64_MAX),
	ROW_I64(struct store_object, vault_id, 1, INT64_MAX),
	ROW_TEXT(struct store_object, name, 1),
	ROW_INT(struct store_object, type, OBJECT_SECRET, OBJECT_CERT),
	ROW_U32(struct store_object, current_version, 0),
	ROW_I64(struct store_object, created, INT64_MIN, INT64_MAX),
	ROW_I64(struct store_object, deleted_at, INT64_MIN, INT64_MAX),
	ROW_BLOB(struct store_object, mac),
};
static const struct row_table object_row = { object_cols, ELEMENTSOF(object_cols), NULL };

int store_object_insert(struct store *s, struct store_object *o)
{
	int r;

	assert(s && o);
	r = check_name(o->name);
	if (r < 0)
		return r;
	if (o->type < OBJECT_SECRET || o->type > OBJECT_CERT)
		return -EINVAL;
	return row_insert(s, STMT_OBJECT_INSERT, &object_row, o, &o->id);
}

int store_object_get(struct store *s, int64_t vault_id, const char *name, struct store_object *ret)
{
	assert(s && ret);
	return row_get_named(s, STMT_OBJECT_GET, &object_row, &vault_id, name, ret, sizeof(*ret));
}

int store_object_get_by_id(struct store *s, int64_t id, struct store_object *ret)
{
	assert(s && ret);
	return row_get_by(s, STMT_OBJECT_GET_BY_ID, &object_row, 1, &id, ret, sizeof(*ret));
}

int store_object_update(struct store *s, const struct store_object *o)
{
	assert(s && o);
	return row_write(s, STMT_OBJECT_UPDATE, &object_row, object_row.n, o, true);
}

int store_object_purge(struct store *s, int64_t id)
{
	bool own;
	int r;

	assert(s);
	r = store_op_begin(s, &own);
	if (r < 0)
		return r;
	r = stmt_write_key(s, STMT_OBJECT_PURGE_VERSIONS, id, false);
	if (r >= 0)
		r = stmt_write_key(s, STMT_OBJECT_PURGE, id, true);
	return store_op_end(s, own, r);
}

int store_object_foreach(struct store *s, int64_t vault_id,
			 int (*cb)(const struct store_object *o, void *userdata), void *userdata)
{
	struct row_walk w = { .object = cb, .userdata = userdata };
	int r;

	assert(s && cb);
	r = row_name_page(s, STMT_OBJECT_PAGE, &object_row, &vault_id, NULL, -1, &w);
	return r < 0 ? r : 0;
}

int store_object_page(struct store *s, int64_t vault_id, const char *after, unsigned limit,
		      int (*cb)(const struct store_object *o, void *userdata), void *userdata)
{
	struct row_walk w = { .object = cb, .userdata = userdata };
	int r;

	assert(s && cb);
	r = check_limit(limit);
	if (r < 0)
		return r;
	return row_name_page(s, STMT_OBJECT_PAGE, &object_row, &vault_id, after, limit, &w);
}

int store_object_deleted_foreach(struct store *s, int64_t now, unsigned limit,
				 int (*cb)(const struct store_object *o, void *userdata),
				 void *userdata)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct row_walk w = { .object = cb, .userdata = userdata };
	int64_t args[] = { now, limit };
	int r;

	assert(s && cb);
	r = stmt_take(s, STMT_OBJECT_DELETED, &st);
	if (r >= 0)
		r = bind_int64s(st, ELEMENTSOF(args), args);
	if (r >= 0)
		r = row_each(s, st, &object_row, &w);
	return r < 0 ? r : 0;
}
