/* store-vault.c: the vaults table of the SQLite store: a vault's row as its row table maps it,
 * lookups by name and id, update, delete of an empty vault, and the pages of vaults in name
 * order. It must never delete a vault that still holds objects, live or soft-deleted. */
#include <assert.h>

#include "core/store-int.h"

/* The columns of VAULT_COLS (store-schema.c), in order. */
static const struct row_col vault_cols[] = {
	ROW_I64(struct store_vault, id, 1, INT64_MAX),
	ROW_TEXT(struct store_vault, name, 1),
	ROW_BLOB(struct store_vault, wrapped_key),
	ROW_I64(struct store_vault, created, INT64_MIN, INT64_MAX),
	ROW_U32(struct store_vault, retention_days, 0),
	ROW_BOOL(struct store_vault, purge_protection),
	ROW_BLOB(struct store_vault, mac),
	ROW_U32(struct store_vault, max_versions, 0),
	ROW_BOOL(struct store_vault, prunes),
};
static const struct row_table vault_row = { vault_cols, ELEMENTSOF(vault_cols), NULL };

int store_vault_insert(struct store *s, struct store_vault *v)
{
	int r;

	assert(s && v);
	r = check_name(v->name);
	return r < 0 ? r : row_insert(s, STMT_VAULT_INSERT, &vault_row, v, &v->id);
}

int store_vault_get(struct store *s, const char *name, struct store_vault *ret)
{
	assert(s && ret);
	return row_get_named(s, STMT_VAULT_GET, &vault_row, NULL, name, ret, sizeof(*ret));
}

int store_vault_get_by_id(struct store *s, int64_t id, struct store_vault *ret)
{
	assert(s && ret);
	return row_get_by(s, STMT_VAULT_GET_BY_ID, &vault_row, 1, &id, ret, sizeof(*ret));
}

int store_vault_update(struct store *s, const struct store_vault *v)
{
	assert(s && v);
	return row_write(s, STMT_VAULT_UPDATE, &vault_row, vault_row.n, v, true);
}

/* Is there any object, live or soft-deleted, in the vault? 1 yes, 0 no. */
static int vault_has_objects(struct store *s, int64_t id)
{
	_cleanup_stmt_ sqlite3_stmt *st = s->stmt[STMT_VAULT_HAS_OBJECTS];
	int r = bind_int64s(st, 1, &id);
	int rc;

	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc == SQLITE_ROW;
	return store_errno(s->db, rc);
}

int store_vault_delete(struct store *s, int64_t id)
{
	bool own;
	int r;

	assert(s);
	r = store_op_begin(s, &own);
	if (r < 0)
		return r;
	r = vault_has_objects(s, id);
	if (r > 0)
		r = -ENOTEMPTY;
	else if (r == 0)
		r = stmt_write_key(s, STMT_VAULT_DELETE, id, true);
	return store_op_end(s, own, r);
}

int store_vault_foreach(struct store *s, int (*cb)(const struct store_vault *v, void *userdata),
			void *userdata)
{
	struct row_walk w = { .vault = cb, .userdata = userdata };
	int r;

	assert(s && cb);
	r = row_name_page(s, STMT_VAULT_PAGE, &vault_row, NULL, NULL, -1, &w);
	return r < 0 ? r : 0;
}

int store_vault_page(struct store *s, const char *after, unsigned limit,
		     int (*cb)(const struct store_vault *v, void *userdata), void *userdata)
{
	struct row_walk w = { .vault = cb, .userdata = userdata };
	int r;

	assert(s && cb);
	r = check_limit(limit);
	return r < 0 ? r : row_name_page(s, STMT_VAULT_PAGE, &vault_row, NULL, after, limit, &w);
}
