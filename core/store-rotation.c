/* store-rotation.c: the rows of key_rotation, a key's rotation policy (kv-key.c makes and
 * checks them): get, set (insert or replace), delete and a walk by object id. Opaque to the
 * store like every row: the MAC is kv's. */
#include <assert.h>

#include "core/store-int.h"

static int rotation_read(sqlite3_stmt *st, struct store_rotation *ret)
{
	struct store_rotation x = {};
	int64_t v[6];
	const void *mac;
	int r = 0;

	for (int i = 0; i < 6 && r >= 0; i++)
		r = col_int(st, i, i == 0 ? 1 : 0, INT64_MAX, &v[i]);
	if (r < 0)
		return r;
	mac = sqlite3_column_blob(st, 6);
	if (!mac || sqlite3_column_bytes(st, 6) != CRYPTO_MAC_LEN)
		return -EBADMSG;
	if (v[4] > UINT32_MAX)
		return -EBADMSG;
	x.object_id = v[0];
	x.rotate_after = v[1];
	x.notify_before = v[2];
	x.expires_after = v[3];
	x.notified_version = (uint32_t)v[4];
	x.updated = v[5];
	memcpy(x.mac, mac, CRYPTO_MAC_LEN);
	*ret = x;
	return 0;
}

int store_rotation_get(struct store *s, int64_t object_id, struct store_rotation *ret)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc, r;

	assert(s && ret);
	st = s->stmt[STMT_ROTATION_GET];
	r = bind_int64s(st, 1, &object_id);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return store_errno(s->db, rc);
	return rotation_read(st, ret);
}

int store_rotation_set(struct store *s, const struct store_rotation *p)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int64_t v[] = { p->object_id,	  p->rotate_after,     p->notify_before,
			p->expires_after, p->notified_version, p->updated };
	int r;

	assert(s);
	if (p->rotate_after < 0 || p->notify_before < 0 || p->expires_after < 0 || p->updated < 0)
		return -EINVAL;
	st = s->stmt[STMT_ROTATION_SET];
	r = bind_int64s(st, ELEMENTSOF(v), v);
	if (r >= 0)
		r = bind_bytes(st, 7, p->mac, CRYPTO_MAC_LEN);
	return r < 0 ? r : stmt_write(s, st, false);
}

int store_rotation_delete(struct store *s, int64_t object_id)
{
	assert(s);
	return stmt_write_key(s, STMT_ROTATION_DELETE, object_id, false);
}

int store_rotation_page(struct store *s, int64_t after, unsigned limit,
			int (*cb)(const struct store_rotation *p, void *ud), void *ud)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int64_t args[] = { after, limit };
	int rc, r, n = 0;

	assert(s && cb);
	r = check_limit(limit);
	if (r >= 0)
		r = stmt_take(s, STMT_ROTATION_PAGE, &st);
	if (r >= 0)
		r = bind_int64s(st, ELEMENTSOF(args), args);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_rotation p;

		r = rotation_read(st, &p);
		if (r >= 0)
			r = cb(&p, ud);
		if (r < 0)
			return r;
		n++;
	}
	return rc == SQLITE_DONE ? n : store_errno(s->db, rc);
}
